/* netio — byte-exact framing checks at the socket read, where lws 4.1 does not make them
 * (docs/internals.md "Reads below lws").
 *
 * lws 4.1.6 reads every connection with recv(2) (lws_ssl_capable_read_no_ssl). This file
 * defines recv() in the gateway executable; the dynamic linker binds lws's calls (and
 * libzmq's) to it, since the executable comes first in the lookup scope. A call from
 * another thread than the loop's (libzmq's I/O threads), or on a descriptor not registered
 * here, goes straight to the kernel (recvfrom, same semantics). Registered descriptors are
 * lws's accepted connections. HTTP requests are read strictly one at a time:
 *
 * - NETIO_HTTP: a read ends at the latest at the end of a header block (an LF, an optional
 *   CR, an LF); what follows stays in the kernel (MSG_PEEK, then only that much is
 *   consumed). Then NETIO_HOLD, until http.c has seen the request (LWS_CALLBACK_HTTP) and
 *   says how its body is framed, or ws.c that it became a WebSocket (which then starts
 *   exactly at its first frame).
 * - NETIO_BODY (gw_netio_http_body, Content-Length n): reads end after n bytes, then HOLD.
 * - NETIO_CHUNKED (gw_netio_http_chunked): reads end at the end of the chunked body (last
 *   chunk and trailers), then HOLD. lws 4.1 knows nothing of chunked request bodies.
 * - NETIO_HOLD: reads return EAGAIN (a close is still seen) until gw_netio_http_release,
 *   once the answer is written. http.c pauses lws's rx meanwhile and resumes it just
 *   before the answer is written (lws 4.1 on libuv serves no WRITEABLE while rx is
 *   paused), so this does not spin; 64 held reads in a row (lws went on without us)
 *   release the hold. So lws never reads a pipelined request early: before, it read it
 *   as the rest of a chunked body, or completed the previous body twice.
 * - NETIO_DISCARD: after a chunked body lws still expects the rest of the body it assumed
 *   for a POST without Content-Length (GW_LWS_POST_BODY, 100 MiB in lws 4.1 server.c)
 *   and discards it (LRS_DISCARD_BODY): this feeds it that many bytes without touching
 *   the kernel, in reads of up to pt_serv_buf_size (main.c: GW_LWS_READ_SIZE, so a few
 *   hundred loop turns), after which lws reads the next request from the kernel. A
 *   chunked body longer than GW_HTTP_CHUNKED_MAX is refused (http.c).
 * - NETIO_WS (gw_netio_ws_start): frame headers are followed through the stream (plain
 *   reads, no MSG_PEEK); the first unmasked client frame (RFC 6455 §5.1: the server must
 *   fail the connection) ends the read before that frame, calls the handler (once, from
 *   inside this recv, on the loop thread) and puts the descriptor in NETIO_WS_BAD, where
 *   reads are consumed and dropped (EAGAIN to lws) until the peer closes. lws 4.1.6
 *   parses the mask bit and ignores it (ops-ws.c, this_frame_masked).
 *
 * Loop thread only (the registration calls and the recv() logic); state per descriptor,
 * set at accept and forgotten at CLOSED / WSI_DESTROY. */
#undef _FORTIFY_SOURCE /* a fortified recv() would be an inline wrapper of the same name */
#include "gw.h"
#include "gw_netio.h"

#include <ctype.h>
#include <errno.h>
#include <pthread.h>
#include <sys/resource.h>
#include <sys/socket.h>
#include <sys/types.h>

enum {
    NETIO_OFF = 0,
    NETIO_HTTP,
    NETIO_BODY,
    NETIO_CHUNKED,
    NETIO_HOLD,
    NETIO_DISCARD,
    NETIO_WS,
    NETIO_WS_BAD
};
#define NETIO_HOLD_SPINS 64
enum { CK_SIZE = 0, CK_EXT, CK_DATA, CK_DATA_CR, CK_TRAILER, CK_DONE };

typedef struct {
    int mode;
    /* NETIO_HTTP: bytes of the end-of-headers pattern seen (1: LF, 2: LF CR) */
    int eoh;
    /* NETIO_CHUNKED (chunked set), NETIO_HOLD after it: body bytes given to lws;
     * NETIO_BODY: bytes still to come; NETIO_DISCARD: bytes still to feed lws */
    int ck_state, ck_digits, ck_line;
    uint64_t ck_left, body;
    bool chunked;
    int spins; /* NETIO_HOLD: reads held in a row */
    /* NETIO_WS: the current frame header and the payload bytes still to come */
    unsigned char hdr[14];
    int hlen;
    uint64_t left;
    gw_netio_bad_fn *bad;
    void *arg;
} netio_fd_t;

static netio_fd_t *s_fds; /* indexed by descriptor, s_nfds entries */
static int s_nfds;
static pthread_t s_loop_thread;
static bool s_ready;

int gw_netio_init(void)
{
    struct rlimit rl;
    rlim_t n = 65536;
    if (getrlimit(RLIMIT_NOFILE, &rl) == 0 && rl.rlim_cur != RLIM_INFINITY)
        n = rl.rlim_cur;
    if (n > (1 << 20))
        n = 1 << 20;
    s_fds = calloc(n, sizeof *s_fds);
    if (!s_fds)
        return -1;
    s_nfds = (int)n;
    s_loop_thread = pthread_self();
    s_ready = true;
    return 0;
}

void gw_netio_fini(void)
{
    s_ready = false;
    free(s_fds);
    s_fds = NULL;
    s_nfds = 0;
}

static netio_fd_t *s_get(int fd)
{
    return s_ready && fd >= 0 && fd < s_nfds ? &s_fds[fd] : NULL;
}

void gw_netio_http_start(int fd)
{
    netio_fd_t *f = s_get(fd);
    if (f)
        *f = (netio_fd_t){.mode = NETIO_HTTP};
    else if (s_ready)
        pl_warn("netio: descriptor %d above the table (%d): framing checks off for it", fd, s_nfds);
}

void gw_netio_http_chunked(int fd)
{
    netio_fd_t *f = s_get(fd);
    if (f && f->mode == NETIO_HOLD)
        *f = (netio_fd_t){.mode = NETIO_CHUNKED, .ck_state = CK_SIZE, .chunked = true};
}

void gw_netio_http_body(int fd, uint64_t len)
{
    netio_fd_t *f = s_get(fd);
    if (f && f->mode == NETIO_HOLD && len > 0)
        *f = (netio_fd_t){.mode = NETIO_BODY, .body = len};
}

void gw_netio_http_release(int fd)
{
    netio_fd_t *f = s_get(fd);
    if (!f || f->mode != NETIO_HOLD)
        return;
    uint64_t body = f->body;
    bool chunked = f->chunked;
    *f = (netio_fd_t){.mode = NETIO_HTTP};
    if (chunked && body < GW_LWS_POST_BODY) {
        f->mode = NETIO_DISCARD;
        f->body = GW_LWS_POST_BODY - body;
    }
}

void gw_netio_ws_start(int fd, gw_netio_bad_fn *bad, void *arg)
{
    netio_fd_t *f = s_get(fd);
    if (f && f->mode != NETIO_OFF)
        *f = (netio_fd_t){.mode = NETIO_WS, .bad = bad, .arg = arg};
}

void gw_netio_forget(int fd)
{
    netio_fd_t *f = s_get(fd);
    if (f)
        *f = (netio_fd_t){.mode = NETIO_OFF};
}

/* NETIO_HTTP: how many of buf's n bytes to consume (up to the end of a header block);
 * SIZE_MAX for a NUL byte in the header block (RFC 9110 §5.5: the connection is failed).
 * lws 4.1.6 keeps a NUL and every reader of the header stops at it, so lws and a proxy in
 * front could see different values (`Upgrade: websocket\0h2c`, a truncated
 * Content-Length); lws refuses it since cae06c63a (docs/reliability.md "libwebsockets"). */
static size_t s_scan_http(netio_fd_t *f, const unsigned char *buf, size_t n)
{
    for (size_t i = 0; i < n; i++) {
        unsigned char c = buf[i];
        if (c == 0)
            return SIZE_MAX;
        if (c == '\n') {
            if (f->eoh) {
                *f = (netio_fd_t){.mode = NETIO_HOLD};
                return i + 1;
            }
            f->eoh = 1;
        } else if (c == '\r' && f->eoh == 1) {
            f->eoh = 2;
        } else {
            f->eoh = 0;
        }
    }
    return n;
}

/* NETIO_CHUNKED: as s_scan_http, up to the end of the chunked body (RFC 9112 §7.1, the
 * grammar http.c's decoder accepts). Malformed framing: back to NETIO_HTTP (http.c
 * answers 400 and closes the connection). */
static size_t s_scan_chunked(netio_fd_t *f, const unsigned char *buf, size_t n)
{
    for (size_t i = 0; i < n;) {
        unsigned char c = buf[i];
        switch (f->ck_state) {
        case CK_SIZE:
            i++;
            if (c == '\n') {
                if (!f->ck_digits)
                    goto bad;
                f->ck_state = f->ck_left ? CK_DATA : CK_TRAILER;
                f->ck_digits = f->ck_line = 0;
            } else if (c == '\r') {
            } else if (isxdigit(c)) {
                if (f->ck_left > ((uint64_t)1 << 24))
                    goto bad;
                f->ck_left =
                    f->ck_left * 16 + (uint64_t)(isdigit(c) ? c - '0' : tolower(c) - 'a' + 10);
                f->ck_digits++;
            } else if (c == ';' || c == ' ' || c == '\t') {
                f->ck_state = CK_EXT;
            } else {
                goto bad;
            }
            break;
        case CK_EXT: /* until the LF, as http.c */
            i++;
            if (c == '\n') {
                if (!f->ck_digits)
                    goto bad;
                f->ck_state = f->ck_left ? CK_DATA : CK_TRAILER;
                f->ck_digits = f->ck_line = 0;
            }
            break;
        case CK_DATA: {
            size_t k = n - i < f->ck_left ? n - i : (size_t)f->ck_left;
            i += k;
            f->ck_left -= k;
            if (!f->ck_left)
                f->ck_state = CK_DATA_CR;
            break;
        }
        case CK_DATA_CR:
            i++;
            if (c == '\n')
                f->ck_state = CK_SIZE;
            else if (c != '\r')
                goto bad;
            break;
        case CK_TRAILER:
            i++;
            if (c == '\n') {
                if (!f->ck_line) {
                    f->mode = NETIO_HOLD;
                    return i;
                }
                f->ck_line = 0;
            } else if (c != '\r') {
                f->ck_line++;
            }
            break;
        }
    }
    return n;
bad: /* http.c answers 400 and closes the connection */
    *f = (netio_fd_t){.mode = NETIO_HTTP};
    return n;
}

/* NETIO_WS: follow frame headers through buf; the offset of the first unmasked frame's
 * first byte in buf (0 when its header began in an earlier read), or -1 if none. */
static ssize_t s_scan_ws(netio_fd_t *f, const unsigned char *buf, size_t n)
{
    for (size_t i = 0; i < n;) {
        if (f->left) {
            size_t k = n - i < f->left ? n - i : (size_t)f->left;
            i += k;
            f->left -= k;
            continue;
        }
        f->hdr[f->hlen++] = buf[i++];
        if (f->hlen < 2)
            continue;
        if (!(f->hdr[1] & 0x80))
            return i >= 2 ? (ssize_t)(i - 2) : 0;
        int len7 = f->hdr[1] & 0x7f;
        int need = 2 + (len7 == 126 ? 2 : len7 == 127 ? 8 : 0) + 4;
        if (f->hlen < need)
            continue;
        uint64_t len = (uint64_t)len7;
        if (len7 == 126)
            len = (uint64_t)f->hdr[2] << 8 | f->hdr[3];
        else if (len7 == 127)
            for (int k = 0; k < 8; k++)
                len = len << 8 | f->hdr[2 + k];
        f->left = len;
        f->hlen = 0;
    }
    return -1;
}

static ssize_t s_recv_http(netio_fd_t *f, int fd, void *buf, size_t len, int flags)
{
    ssize_t n = recvfrom(fd, buf, len, flags | MSG_PEEK, NULL, NULL);
    if (n <= 0 || (flags & MSG_PEEK))
        return n;
    if (f->mode == NETIO_HOLD) {
        if (++f->spins < NETIO_HOLD_SPINS) {
            errno = EAGAIN; /* the next request waits in the kernel (a close is seen above) */
            return -1;
        }
        pl_debug("netio: descriptor %d read while held %d times: released", fd, f->spins);
        *f = (netio_fd_t){.mode = NETIO_HTTP};
    }
    if (f->mode == NETIO_DISCARD) {
        /* lws discards these as the rest of the body it assumed; the kernel's bytes (the
         * next request) stay for the read after the last of them */
        size_t k = f->body < len ? (size_t)f->body : len;
        f->body -= k;
        if (!f->body)
            *f = (netio_fd_t){.mode = NETIO_HTTP};
        return (ssize_t)k; /* contents unread by lws (no HTTP_BODY in DISCARD_BODY) */
    }
    size_t m;
    if (f->mode == NETIO_BODY) {
        m = (uint64_t)n < f->body ? (size_t)n : (size_t)f->body;
        f->body -= m;
        if (!f->body)
            *f = (netio_fd_t){.mode = NETIO_HOLD};
    } else if (f->mode == NETIO_CHUNKED) {
        m = s_scan_chunked(f, buf, (size_t)n);
        f->body += m;
    } else {
        m = s_scan_http(f, buf, (size_t)n);
        if (m == SIZE_MAX) {
            pl_info("netio: descriptor %d: NUL byte in an HTTP header block: closed", fd);
            errno = ECONNRESET; /* lws closes the connection on a failed read */
            return -1;
        }
    }
    /* the bytes are in the kernel's queue and only this thread reads it: this takes m */
    return recvfrom(fd, buf, m, flags, NULL, NULL);
}

static ssize_t s_recv_ws(netio_fd_t *f, int fd, void *buf, size_t len, int flags)
{
    ssize_t n = recvfrom(fd, buf, len, flags, NULL, NULL);
    if (n <= 0 || (flags & MSG_PEEK))
        return n;
    if (f->mode == NETIO_WS_BAD) {
        errno = EAGAIN; /* dropped: the connection is being failed */
        return -1;
    }
    ssize_t at = s_scan_ws(f, buf, (size_t)n);
    if (at < 0)
        return n;
    f->mode = NETIO_WS_BAD;
    if (f->bad)
        f->bad(f->arg);
    if (at > 0)
        return at;
    errno = EAGAIN;
    return -1;
}

ssize_t recv(int fd, void *buf, size_t len, int flags)
{
    /* the thread test first: other threads touch nothing here (s_ready is set before
     * libzmq starts its threads and cleared after they ended) */
    if (!s_ready || !pthread_equal(pthread_self(), s_loop_thread))
        return recvfrom(fd, buf, len, flags, NULL, NULL);
    netio_fd_t *f = s_get(fd);
    if (!f || f->mode == NETIO_OFF)
        return recvfrom(fd, buf, len, flags, NULL, NULL);
    if (f->mode == NETIO_WS || f->mode == NETIO_WS_BAD)
        return s_recv_ws(f, fd, buf, len, flags);
    return s_recv_http(f, fd, buf, len, flags);
}
