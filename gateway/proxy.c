/* proxy — the PROXY protocol, v1 (text) and v2 (binary), as in haproxy's
 * proxy-protocol.txt, on connections from --trusted-proxies (docs/protocol.md "Client
 * address").
 *
 * lws 4.1 reads an accepted socket itself and knows no PROXY protocol. So limits.c hands
 * the fd of a trusted peer to gw_proxy_accept from FILTER_NETWORK_CONNECTION: we dup() it and
 * let the filter refuse (lws then closes only its own descriptor: compatible_close is
 * close(2)), watch our copy with a uv_poll and look at the first bytes with MSG_PEEK:
 * - the v2 signature (12 bytes): a 16-byte header and its length of addresses and TLVs;
 * - "PROXY ": a v1 line through CRLF, at most 107 bytes;
 * - anything else (an HTTP request straight from the proxy): no header.
 * Only header bytes are ever consumed; the socket is then adopted into the vhost with
 * lws_adopt_descriptor_vhost (what lws's own listener calls) and lws reads the request
 * itself. The client address reaches limits.c through gw->adopting. A header that is
 * present but malformed closes the connection (the specification says so); so does a
 * peer that sends no decidable first bytes within --http-timeout. While the bytes seen so
 * far are only a prefix of a header we look again every 10 ms (a level-triggered poll
 * would spin on the unread bytes).
 *
 * Everything here runs on the loop thread. */
#define _GNU_SOURCE /* memmem */
#include "gw.h"
#include "gw_limits.h"
#include "gw_proxy.h"

#include <arpa/inet.h>
#include <errno.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <sys/socket.h>
#include <unistd.h>

#define PROXY_V1_MAX 107  /* the longest v1 line, CRLF included */
#define PROXY_V2_MAX 4096 /* addresses + TLVs we accept after the 16-byte v2 header */
#define PROXY_RETRY_MS 10 /* look again when only part of a header has arrived */

static const unsigned char s_v2_sig[12] = {0x0D, 0x0A, 0x0D, 0x0A, 0x00, 0x0D,
                                           0x0A, 0x51, 0x55, 0x49, 0x54, 0x0A};
static const char s_v1_sig[6] = "PROXY ";

struct gw_proxy {
    gw_t *gw;
    gw_proxy_t *prev, *next; /* gw->proxies, until closing */
    struct lws_vhost *vh;
    int fd; /* ours (a dup); -1 once adopted or closed */
    char peer[INET6_ADDRSTRLEN];
    uv_poll_t poll;
    uv_timer_t timer;
    uint64_t deadline; /* uv_now ms */
    bool polling;
    int handles; /* open handles; freed at 0 after closing */
};

static void s_on_closed(uv_handle_t *h)
{
    gw_proxy_t *p = h->data;
    if (--p->handles == 0)
        free(p);
}

/* Unlink p, close its fd (unless adopted) and its handles; freed once they are closed. */
static void s_finish(gw_proxy_t *p)
{
    gw_t *gw = p->gw;
    if (p->prev)
        p->prev->next = p->next;
    else if (gw->proxies == p)
        gw->proxies = p->next;
    if (p->next)
        p->next->prev = p->prev;
    p->prev = p->next = NULL;
    uv_poll_stop(&p->poll);
    uv_timer_stop(&p->timer);
    if (p->fd >= 0) {
        close(p->fd);
        p->fd = -1;
    }
    uv_close((uv_handle_t *)&p->poll, s_on_closed);
    uv_close((uv_handle_t *)&p->timer, s_on_closed);
}

static void s_drop(gw_proxy_t *p, const char *why)
{
    pl_info("connection from trusted proxy %s closed: %s", p->peer, why);
    s_finish(p);
}

/* Hand the socket to lws with client address addr. */
static void s_adopt(gw_proxy_t *p, const char *addr)
{
    gw_t *gw = p->gw;
    uv_poll_stop(&p->poll); /* before lws starts its own poll on the fd */
    p->polling = false;
    gw->adopting = gw_limits_conn_new(addr);
    if (!gw->adopting) {
        s_drop(p, "out of memory");
        return;
    }
    lws_sock_file_fd_type sfd;
    sfd.sockfd = p->fd;
    p->fd = -1; /* lws's now, adopted or closed by it */
    if (!lws_adopt_descriptor_vhost(p->vh, LWS_ADOPT_SOCKET | LWS_ADOPT_HTTP, sfd, NULL, NULL))
        pl_debug("connection via %s for %s not adopted", p->peer, addr);
    gw_limits_conn_free(&gw->adopting); /* not taken: the adoption failed early */
    s_finish(p);
}

/* Wait for more bytes: poll for readability, or (unread bytes pending) retry soon. */
static void s_on_readable(uv_poll_t *h, int status, int events);
static void s_on_timer(uv_timer_t *t);
static void s_wait(gw_proxy_t *p, bool bytes_pending)
{
    uint64_t now = uv_now(&p->gw->loop);
    uint64_t left = p->deadline > now ? p->deadline - now : 0;
    if (bytes_pending) {
        if (p->polling)
            uv_poll_stop(&p->poll);
        p->polling = false;
        uv_timer_start(&p->timer, s_on_timer, left < PROXY_RETRY_MS ? left : PROXY_RETRY_MS, 0);
    } else {
        if (!p->polling)
            uv_poll_start(&p->poll, UV_READABLE | UV_DISCONNECT, s_on_readable);
        p->polling = true;
        uv_timer_start(&p->timer, s_on_timer, left, 0);
    }
}

/* Text of a v4 (4 bytes) or v6 (16 bytes) address; a v4-mapped v6 one as v4. */
static bool s_addr_text(const unsigned char *a, bool v6, char *out, size_t size)
{
    static const unsigned char mapped[12] = {0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0xff, 0xff};
    if (v6 && !memcmp(a, mapped, 12)) {
        a += 12;
        v6 = false;
    }
    return inet_ntop(v6 ? AF_INET6 : AF_INET, a, out, (socklen_t)size) != NULL;
}

/* A v1 port: 1-5 digits, at most 65535, no leading zero. */
static bool s_v1_port(const char *s)
{
    size_t n = strlen(s);
    if (n < 1 || n > 5 || (n > 1 && s[0] == '0') || strspn(s, "0123456789") != n)
        return false;
    return atoi(s) <= 65535;
}

/* Parse the v1 line (NUL-terminated, CRLF removed) into the client address; "" for
 * UNKNOWN. false if malformed. */
static bool s_parse_v1(char *line, char *out, size_t size)
{
    char *save = NULL;
    char *tok[7];
    int n = 0;
    for (char *t = strtok_r(line, " ", &save); t; t = strtok_r(NULL, " ", &save)) {
        if (n == 6)
            return false;
        tok[n++] = t;
    }
    if (n >= 2 && !strcmp(tok[1], "UNKNOWN")) {
        out[0] = '\0';
        return true;
    }
    if (n != 6 || strcmp(tok[0], "PROXY") != 0)
        return false;
    int fam;
    if (!strcmp(tok[1], "TCP4"))
        fam = AF_INET;
    else if (!strcmp(tok[1], "TCP6"))
        fam = AF_INET6;
    else
        return false;
    unsigned char src[16], dst[16];
    if (inet_pton(fam, tok[2], src) != 1 || inet_pton(fam, tok[3], dst) != 1 ||
        !s_v1_port(tok[4]) || !s_v1_port(tok[5]))
        return false;
    return s_addr_text(src, fam == AF_INET6, out, size);
}

/* Parse a whole v2 header (16 + len bytes) into the client address; "" for LOCAL or an
 * address family without one. false if malformed. */
static bool s_parse_v2(const unsigned char *b, size_t total, char *out, size_t size)
{
    size_t len = total - 16;
    int version = b[12] >> 4, cmd = b[12] & 0x0f;
    int fam = b[13] >> 4, proto = b[13] & 0x0f;
    if (version != 2 || cmd > 1 || fam > 3 || proto > 2)
        return false;
    out[0] = '\0';
    if (cmd == 0) /* LOCAL: the proxy's own connection (health checks) */
        return true;
    if (fam == 1) {
        if (len < 12)
            return false;
        return s_addr_text(b + 16, false, out, size);
    }
    if (fam == 2) {
        if (len < 36)
            return false;
        return s_addr_text(b + 16, true, out, size);
    }
    return true; /* UNSPEC or UNIX: no client address to take */
}

/* Consume exactly n bytes (already seen with MSG_PEEK). recvfrom, not recv: netio.c
 * interposes recv() for lws's reads, and this socket is not lws's yet. */
static bool s_consume(int fd, size_t n)
{
    unsigned char buf[PROXY_V1_MAX + 16 + PROXY_V2_MAX];
    ssize_t r = recvfrom(fd, buf, n, MSG_DONTWAIT, NULL, NULL);
    return r == (ssize_t)n;
}

static void s_try(gw_proxy_t *p)
{
    unsigned char buf[16 + PROXY_V2_MAX + 1];
    ssize_t n = recvfrom(p->fd, buf, 16, MSG_PEEK | MSG_DONTWAIT, NULL, NULL);
    if (n == 0) {
        s_drop(p, "closed before a request");
        return;
    }
    if (n < 0) {
        if (errno == EAGAIN || errno == EWOULDBLOCK || errno == EINTR)
            s_wait(p, false);
        else
            s_drop(p, strerror(errno));
        return;
    }
    size_t got = (size_t)n;
    bool v2 = !memcmp(buf, s_v2_sig, got < 12 ? got : 12);
    bool v1 = !memcmp(buf, s_v1_sig, got < 6 ? got : 6);
    if (!v1 && !v2) {
        s_adopt(p, p->peer); /* no header: the proxy speaks HTTP itself */
        return;
    }
    char addr[INET6_ADDRSTRLEN];
    if (v2 && got >= 12) {
        if (got < 16) {
            s_wait(p, true);
            return;
        }
        size_t total = 16 + (size_t)((buf[14] << 8) | buf[15]);
        if (total > 16 + PROXY_V2_MAX) {
            s_drop(p, "PROXY v2 header too long");
            return;
        }
        n = recvfrom(p->fd, buf, total, MSG_PEEK | MSG_DONTWAIT, NULL, NULL);
        if (n < (ssize_t)total) {
            s_wait(p, true);
            return;
        }
        if (!s_parse_v2(buf, total, addr, sizeof addr)) {
            s_drop(p, "malformed PROXY v2 header");
            return;
        }
        if (!s_consume(p->fd, total)) {
            s_drop(p, "cannot read the PROXY header");
            return;
        }
        s_adopt(p, addr[0] ? addr : p->peer);
        return;
    }
    if (v1 && got >= 6) {
        n = recvfrom(p->fd, buf, PROXY_V1_MAX, MSG_PEEK | MSG_DONTWAIT, NULL, NULL);
        if (n <= 0) {
            s_wait(p, true);
            return;
        }
        buf[n] = '\0';
        char *crlf = memmem(buf, (size_t)n, "\r\n", 2);
        if (!crlf) {
            if (n >= PROXY_V1_MAX)
                s_drop(p, "PROXY v1 line too long");
            else
                s_wait(p, true);
            return;
        }
        size_t total = (size_t)(crlf - (char *)buf) + 2;
        *crlf = '\0';
        if (memchr(buf, '\0', total - 2) || !s_parse_v1((char *)buf, addr, sizeof addr)) {
            s_drop(p, "malformed PROXY v1 header");
            return;
        }
        if (!s_consume(p->fd, total)) {
            s_drop(p, "cannot read the PROXY header");
            return;
        }
        s_adopt(p, addr[0] ? addr : p->peer);
        return;
    }
    s_wait(p, true); /* a prefix of a signature so far */
}

static void s_on_readable(uv_poll_t *h, int status, int events)
{
    gw_proxy_t *p = h->data;
    if (status < 0) {
        s_drop(p, uv_strerror(status));
        return;
    }
    s_try(p);
}

static void s_on_timer(uv_timer_t *t)
{
    gw_proxy_t *p = t->data;
    if (uv_now(&p->gw->loop) >= p->deadline) {
        s_drop(p, "no request within --http-timeout");
        return;
    }
    s_try(p);
}

int gw_proxy_accept(gw_t *gw, struct lws_vhost *vhost, int fd, const char *ip)
{
    if (gw->stopping || !vhost)
        return -1;
    gw_proxy_t *p = calloc(1, sizeof *p);
    if (!p)
        return -1;
    p->fd = fcntl(fd, F_DUPFD_CLOEXEC, 0);
    if (p->fd < 0) {
        free(p);
        return -1;
    }
    if (uv_poll_init_socket(&gw->loop, &p->poll, p->fd) != 0) {
        close(p->fd);
        free(p);
        return -1;
    }
    p->gw = gw;
    p->vh = vhost;
    snprintf(p->peer, sizeof p->peer, "%s", ip);
    p->poll.data = p;
    p->timer.data = p;
    uv_timer_init(&gw->loop, &p->timer);
    p->handles = 2;
    p->deadline = uv_now(&gw->loop) + (uint64_t)gw->cfg.http_timeout_s * 1000;
    p->next = gw->proxies;
    if (gw->proxies)
        gw->proxies->prev = p;
    gw->proxies = p;
    s_wait(p, false);
    return 0;
}

void gw_proxy_stop(gw_t *gw)
{
    while (gw->proxies)
        s_finish(gw->proxies);
}
