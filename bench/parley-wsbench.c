/* parley-wsbench — WebSocket load generator for Parley, speaking only the public
 * protocol (docs/protocol.md), in C: one epoll loop, a minimal RFC 6455 client of its
 * own (client frames masked with a zero key, server frames read unmasked), pre-built send
 * frames patched in place.
 *
 *   parley-wsbench --gateways 127.0.0.1:18100,127.0.0.1:18101 --conns 1000 \
 *                  --rate 5000 --duration 10 [--group 0] [--idle 10000] [--max-rate]
 *
 * What it does, in order:
 *  1. accounts over HTTP (POST /v1/users, /v1/sessions; a thread pool, since each costs
 *     one Argon2id on the gateway): one user per active connection, one more user for
 *     the idle connections (they all share its token, like one user's many devices);
 *  2. opens --idle idle sockets, then the --conns active ones, each with `auth`;
 *     connect + auth rate and per-socket connect → auth-ok latency are measured;
 *     with --connect-rate R, between the two, --connect-count more sockets (the idle
 *     user's token) are opened open loop: socket j is *intended* to start at t0 + j / R,
 *     and its connect → auth-ok latency counts from that intended time (T6);
 *  3. with --group G > 1 the active users form groups of G (group_create by the first
 *     member); otherwise DM pairs (2i, 2i+1) on different gateways when two are given;
 *  4. open loop: message k is *intended* at t0 + k / rate and is sent by connection
 *     k % conns; the intended time (µs) and k travel in the text, so latency is measured
 *     from the intended send time (no coordinated omission) at every recipient;
 *  5. after the last send it waits --drain seconds for what is still in flight, then
 *     counts lost (expected deliveries that never came) and duplicated ones.
 * With --max-rate it repeats step 4–5 at rising rates (doubling, then bisecting; the first
 * failed step is run once more before it counts, bench_search.h) and
 * reports the highest rate with p99 < --p99-limit ms and nothing lost.
 * With --catchup N it replaces 4-5 by T5: connection 0 sends N messages into its DM, then
 * connection 1 (the other user) reads them back with `sync` pages of 500, timed, R times
 * (--catchup-repeat, default 5).
 * With --echo it skips 1 and 3 and the auth: each socket's frames come back on the same
 * socket (a bare echo server: bench/lws-echo), which gives the engine's ceiling.
 *
 * Output: progress on stderr every second, a human table on stdout, then one JSON line
 * (the last line of stdout). RSS of the processes named by --pids (name=pid,...) is read
 * from /proc/PID/smaps_rollup when idle (after connecting) and at its peak under load.
 * Exit status: 0 when the run completed (whatever the figures), 1 on a setup failure,
 * 2 on bad arguments. Bounded: every wait has a deadline. */
#define _GNU_SOURCE
#include <arpa/inet.h>
#include <errno.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <pthread.h>
#include <signal.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/epoll.h>
#include <sys/resource.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

#include "bench_hist.h"
#include "bench_search.h"

/* ---- options ---------------------------------------------------------------------- */

#define MAX_GW 16
#define MAX_PIDS 32

static struct {
    struct sockaddr_in gw[MAX_GW];
    char gw_host[MAX_GW][64];
    int ngw;
    long conns, idle, group, size, sources, connect_par, http_threads;
    double rate, duration, drain, p99_limit, step, max_s;
    double connect_rate; /* --connect-rate: open-loop connects per second (0: off) */
    long connect_count;  /* --connect-count: sockets opened at connect_rate */
    bool max_rate, echo, quiet;
    long catchup, catchup_repeat; /* --catchup N: T5 instead of the load steps */
    const char *tag, *password, *path, *accounts;
    char pid_name[MAX_PIDS][32];
    int pid[MAX_PIDS], npids;
} o = {
    .conns = 200,
    .size = 100,
    .sources = 1,
    .connect_par = 256,
    .http_threads = 8,
    .rate = 1000,
    .duration = 10,
    .drain = 2,
    .p99_limit = 50,
    .step = 5,
    .max_s = 120,
    .password = "benchmark-password",
    .path = "/v1/ws",
    .catchup_repeat = 5,
};

static int64_t s_now_us(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (int64_t)ts.tv_sec * 1000000 + ts.tv_nsec / 1000;
}

/* ---- connections -------------------------------------------------------------------- */

enum { C_CONNECTING, C_UPGRADING, C_AUTHING, C_READY, C_CLOSED };

typedef struct {
    char *p;
    size_t len, cap, off; /* bytes [off, len) are pending */
} buf_t;

typedef struct {
    int fd, state, gw;
    bool idle, ep_out; /* ep_out: EPOLLOUT is registered */
    buf_t in, out;
    int64_t t_start;
    const char *token;
    char user[33];
    char conv[96];      /* DM or group id this connection sends to */
    char *tmpl;         /* pre-built send frame (header + payload) */
    size_t tmpl_len;    /* bytes */
    size_t at_ts, at_k; /* offsets of the intended-time and k digits in tmpl */
    long group_id;      /* group index (group mode) */
} conn_t;

static int s_ep = -1;
static conn_t *s_c;   /* active, then idle, then the --connect-rate connections */
static long s_nc;     /* total */
static long s_ready;  /* connections that got auth ok (or the 101 in echo mode) */
static long s_failed; /* connections that failed to connect/upgrade/auth */
static bench_hist_t s_hconn;
static volatile sig_atomic_t s_stop;

/* Per-step counters. */
static struct {
    uint16_t *got; /* deliveries seen per message k */
    long cap;      /* messages this step may send */
    long sent, ok, errors, delivered, dup, bad;
    int expect;     /* deliveries each message should get */
    char nonce[13]; /* makes client_msg_id unique per step */
    bench_hist_t lat, last, sec;
    int64_t t0; /* intended time of message 0 */
} st;

static int s_buf_reserve(buf_t *b, size_t more)
{
    if (b->off && b->off == b->len)
        b->off = b->len = 0;
    if (b->len + more <= b->cap)
        return 0;
    if (b->off) {
        memmove(b->p, b->p + b->off, b->len - b->off);
        b->len -= b->off;
        b->off = 0;
        if (b->len + more <= b->cap)
            return 0;
    }
    size_t cap = b->cap ? b->cap * 2 : 1024;
    while (cap < b->len + more)
        cap *= 2;
    char *p = realloc(b->p, cap);
    if (!p)
        return -1;
    b->p = p;
    b->cap = cap;
    return 0;
}

/* Append a client frame (FIN, opcode, mask bit with a zero key) to c's output. */
static int s_frame(conn_t *c, int opcode, const char *payload, size_t len)
{
    if (s_buf_reserve(&c->out, len + 14))
        return -1;
    unsigned char *h = (unsigned char *)c->out.p + c->out.len;
    size_t n = 0;
    h[n++] = (unsigned char)(0x80 | opcode);
    if (len < 126) {
        h[n++] = (unsigned char)(0x80 | len);
    } else if (len < 65536) {
        h[n++] = 0x80 | 126;
        h[n++] = (unsigned char)(len >> 8);
        h[n++] = (unsigned char)len;
    } else {
        h[n++] = 0x80 | 127;
        for (int i = 7; i >= 0; i--)
            h[n++] = (unsigned char)((uint64_t)len >> (8 * i));
    }
    memset(h + n, 0, 4); /* masking key 0: the payload is sent as is */
    n += 4;
    memcpy(h + n, payload, len);
    c->out.len += n + len;
    return 0;
}

static void s_close(conn_t *c, bool failed)
{
    if (c->state == C_CLOSED)
        return;
    if (c->state != C_READY && failed)
        s_failed++;
    else if (c->state == C_READY)
        s_ready--;
    if (c->fd >= 0)
        close(c->fd);
    c->fd = -1;
    c->state = C_CLOSED;
}

static int s_flush(conn_t *c)
{
    while (c->out.off < c->out.len) {
        ssize_t w = send(c->fd, c->out.p + c->out.off, c->out.len - c->out.off, MSG_NOSIGNAL);
        if (w < 0) {
            if (errno == EAGAIN || errno == EWOULDBLOCK)
                break;
            if (errno == EINTR)
                continue;
            return -1;
        }
        c->out.off += (size_t)w;
    }
    bool more = c->out.off < c->out.len;
    struct epoll_event ev = {.events = EPOLLIN | (more ? EPOLLOUT : 0), .data.ptr = c};
    if (more != c->ep_out)
        epoll_ctl(s_ep, EPOLL_CTL_MOD, c->fd, &ev);
    c->ep_out = more;
    return 0;
}

static long s_connect_started;

static int s_start_connect(conn_t *c, long i)
{
    s_connect_started++;
    c->fd = socket(AF_INET, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
    if (c->fd < 0)
        return -1;
    int one = 1;
    setsockopt(c->fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof one);
    if (o.sources > 1) {
        /* 127.0.0.(1 + i % sources): one source address has ~28k ephemeral ports. */
        setsockopt(c->fd, IPPROTO_IP, IP_BIND_ADDRESS_NO_PORT, &one, sizeof one);
        struct sockaddr_in src = {.sin_family = AF_INET};
        src.sin_addr.s_addr = htonl(0x7f000001u + (uint32_t)(i % o.sources));
        if (bind(c->fd, (struct sockaddr *)&src, sizeof src))
            return -1;
    }
    c->t_start = s_now_us();
    c->state = C_CONNECTING;
    if (connect(c->fd, (struct sockaddr *)&o.gw[c->gw], sizeof o.gw[c->gw]) && errno != EINPROGRESS)
        return -1;
    char req[512];
    int n =
        snprintf(req, sizeof req,
                 "GET %s HTTP/1.1\r\nHost: %s\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n"
                 "Sec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\nSec-WebSocket-Version: 13\r\n\r\n",
                 o.path, o.gw_host[c->gw]);
    if (s_buf_reserve(&c->out, (size_t)n))
        return -1;
    memcpy(c->out.p + c->out.len, req, (size_t)n);
    c->out.len += (size_t)n;
    struct epoll_event ev = {.events = EPOLLIN | EPOLLOUT, .data.ptr = c};
    c->ep_out = true;
    return epoll_ctl(s_ep, EPOLL_CTL_ADD, c->fd, &ev);
}

/* ---- received frames ----------------------------------------------------------------- */

static long s_groups_pending;
static char (*s_group_conv)[96];

static void s_on_auth_ok(conn_t *c)
{
    c->state = C_READY;
    s_ready++;
    bench_hist_add(&s_hconn, s_now_us() - c->t_start);
}

/* A message carrying "@<16-digit intended µs> <10-digit k>" arrived. */
static void s_on_payload_msg(const char *at, const char *end)
{
    if (end - at < 28 || !st.got) {
        st.bad++;
        return;
    }
    int64_t ts = 0;
    long k = 0;
    for (int i = 1; i <= 16; i++)
        ts = ts * 10 + (at[i] - '0');
    for (int i = 18; i < 28; i++)
        k = k * 10 + (at[i] - '0');
    if (k < 0 || k >= st.cap || ts != st.t0 + (int64_t)((double)k * 1e6 / o.rate)) {
        st.bad++; /* another step's straggler, or garbage */
        return;
    }
    int64_t lat = s_now_us() - ts;
    if (st.got[k] >= st.expect) {
        st.dup++;
        return;
    }
    st.got[k]++;
    st.delivered++;
    bench_hist_add(&st.lat, lat);
    bench_hist_add(&st.sec, lat);
    if (st.got[k] == st.expect)
        bench_hist_add(&st.last, lat);
}

/* ---- catch-up (T5): one device syncing a long conversation ---------------------------- */

/* Connection 0 fills the DM of pair (0, 1) with --catchup messages (a window of CU_WINDOW
 * sends in flight); then connection 1, the other user's device, reads them all back with
 * `sync` pages of CU_PAGE from just before the first one, --catchup-repeat times, each
 * timed from the first request to the answer with more=false. */
#define CU_WINDOW 256
#define CU_PAGE 500
static struct {
    long sent, ok, errors;      /* fill */
    long first_seq, last_seq;   /* seqs of the fill (answers carry them) */
    long got, pages, after;     /* current catch-up */
    bool waiting, more, failed; /* a sync page is in flight / its answer said more */
} cu;

/* Last occurrence of needle in [p, p + len), or NULL. */
static const char *s_memrmem(const char *p, size_t len, const char *needle, size_t nlen)
{
    for (size_t i = len >= nlen ? len - nlen + 1 : 0; i-- > 0;)
        if (!memcmp(p + i, needle, nlen))
            return p + i;
    return NULL;
}

static long s_num_after(const char *at, const char *end)
{
    long v = 0;
    while (at < end && *at >= '0' && *at <= '9')
        v = v * 10 + (*at++ - '0');
    return v;
}

/* An answer to a fill send ("id":"f") or to a sync page ("id":"y"). */
static void s_cu_answer(char kind, const char *p, size_t len)
{
    const char *end = p + len;
    bool ok = memmem(p, len, "\"type\":\"ok\"", 11) != NULL;
    if (kind == 'f') {
        const char *q = ok ? memmem(p, len, "\"seq\":", 6) : NULL;
        if (!q) {
            cu.errors++;
            return;
        }
        long seq = s_num_after(q + 6, end);
        if (!cu.first_seq || seq < cu.first_seq)
            cu.first_seq = seq;
        if (seq > cu.last_seq)
            cu.last_seq = seq;
        cu.ok++;
        return;
    }
    cu.waiting = false;
    if (!ok) {
        cu.failed = true;
        return;
    }
    cu.pages++;
    for (const char *q = p; (q = memmem(q, (size_t)(end - q), "\"type\":\"msg\"", 12)); q += 12)
        cu.got++;
    const char *q = s_memrmem(p, len, "\"seq\":", 6);
    if (q)
        cu.after = s_num_after(q + 6, end);
    cu.more = memmem(p, len, "\"more\":true", 11) != NULL;
}

static void s_cu_sync(conn_t *c)
{
    char req[256];
    int n = snprintf(req, sizeof req,
                     "{\"type\":\"sync\",\"id\":\"y\",\"conv\":\"%s\",\"after\":%ld,\"limit\":%d}",
                     c->conv, cu.after, CU_PAGE);
    cu.waiting = true;
    s_frame(c, 1, req, (size_t)n);
    s_flush(c);
}

static void s_on_text(conn_t *c, const char *p, size_t len)
{
    const char *end = p + len;
    if (o.echo) {
        const char *at = memmem(p, len, "\"text\":\"@", 9);
        if (at)
            s_on_payload_msg(at + 8, end);
        return;
    }
    if (c->state == C_AUTHING) {
        if (memmem(p, len, "\"type\":\"ok\"", 11))
            s_on_auth_ok(c);
        else
            s_close(c, true);
        return;
    }
    if (o.catchup) {
        /* an answer's id comes before its msgs (a sync answer holds msg events) */
        const char *id = memmem(p, len < 64 ? len : 64, "\"id\":\"", 6);
        if (id && (id[6] == 'f' || id[6] == 'y') && id[7] == '"') {
            s_cu_answer(id[6], p, len);
            return;
        }
    }
    if (memmem(p, len, "\"type\":\"msg\"", 12)) {
        const char *at = memmem(p, len, "\"text\":\"@", 9);
        if (at)
            s_on_payload_msg(at + 8, end);
        return;
    }
    const char *id = memmem(p, len, "\"id\":\"", 6);
    if (!id)
        return; /* other events: presence, member, read */
    id += 6;
    if (id[0] == 's' && id[1] == '"') {
        if (memmem(p, len, "\"type\":\"ok\"", 11))
            st.ok++;
        else
            st.errors++;
    } else if (id[0] == 'g' && id[1] == 'c') {
        long g = atol(id + 2);
        const char *cv = memmem(p, len, "\"conv\":\"", 8);
        if (cv && g >= 0) {
            cv += 8;
            const char *q = memchr(cv, '"', (size_t)(end - cv));
            if (q && q - cv < 95) {
                memcpy(s_group_conv[g], cv, (size_t)(q - cv));
                s_group_conv[g][q - cv] = '\0';
            }
        }
        s_groups_pending--;
    }
}

/* Parse whole frames out of c->in; returns -1 to close. */
static int s_parse_frames(conn_t *c)
{
    for (;;) {
        const unsigned char *p = (const unsigned char *)c->in.p + c->in.off;
        size_t avail = c->in.len - c->in.off;
        if (avail < 2)
            return 0;
        int op = p[0] & 0x0f;
        uint64_t len = p[1] & 0x7f;
        size_t h = 2;
        if (p[1] & 0x80)
            return -1; /* servers do not mask */
        if (len == 126) {
            if (avail < 4)
                return 0;
            len = (uint64_t)p[2] << 8 | p[3];
            h = 4;
        } else if (len == 127) {
            if (avail < 10)
                return 0;
            len = 0;
            for (int i = 0; i < 8; i++)
                len = len << 8 | p[2 + i];
            h = 10;
        }
        if (len > (64u << 20))
            return -1;
        if (avail < h + len)
            return 0;
        const char *pl = (const char *)p + h;
        if (op == 1 || op == 0)
            s_on_text(c, pl, (size_t)len);
        else if (op == 9)
            s_frame(c, 10, pl, (size_t)len); /* pong */
        else if (op == 8)
            return -1;
        if (c->state == C_CLOSED)
            return -1;
        c->in.off += h + (size_t)len;
    }
}

static void s_on_readable(conn_t *c)
{
    for (;;) {
        if (s_buf_reserve(&c->in, 16384)) {
            s_close(c, true);
            return;
        }
        ssize_t r = recv(c->fd, c->in.p + c->in.len, c->in.cap - c->in.len, 0);
        if (r < 0 && (errno == EAGAIN || errno == EWOULDBLOCK))
            break;
        if (r < 0 && errno == EINTR)
            continue;
        if (r <= 0) {
            s_close(c, true);
            return;
        }
        c->in.len += (size_t)r;
        if (c->state == C_UPGRADING || c->state == C_CONNECTING) {
            char *e = memmem(c->in.p + c->in.off, c->in.len - c->in.off, "\r\n\r\n", 4);
            if (!e)
                continue;
            if (strncmp(c->in.p + c->in.off, "HTTP/1.1 101", 12)) {
                s_close(c, true);
                return;
            }
            c->in.off = (size_t)(e + 4 - c->in.p);
            if (o.echo) {
                s_on_auth_ok(c);
            } else {
                char a[600];
                int n = snprintf(a, sizeof a, "{\"type\":\"auth\",\"id\":\"a\",\"token\":\"%s\"}",
                                 c->token);
                c->state = C_AUTHING;
                s_frame(c, 1, a, (size_t)n);
            }
        }
        if (s_parse_frames(c)) {
            s_close(c, true);
            return;
        }
        if ((size_t)r < 16384)
            break;
    }
    if (c->out.off < c->out.len && !c->ep_out && c->state != C_CLOSED && s_flush(c))
        s_close(c, true);
}

static void s_on_event(struct epoll_event *ev)
{
    conn_t *c = ev->data.ptr;
    if (c->state == C_CLOSED)
        return;
    if (c->state == C_CONNECTING && (ev->events & (EPOLLOUT | EPOLLERR | EPOLLHUP))) {
        int err = 0;
        socklen_t l = sizeof err;
        getsockopt(c->fd, SOL_SOCKET, SO_ERROR, &err, &l);
        if (err) {
            s_close(c, true);
            return;
        }
        c->state = C_UPGRADING;
    }
    if (ev->events & (EPOLLIN | EPOLLERR | EPOLLHUP))
        s_on_readable(c);
    if (c->state != C_CLOSED && (ev->events & EPOLLOUT) && s_flush(c))
        s_close(c, true);
}

/* Run the loop until deadline (µs) or until done() says so. */
static void s_loop_until(int64_t deadline, bool (*done)(void))
{
    struct epoll_event evs[512];
    while (!s_stop && s_now_us() < deadline && !(done && done())) {
        int n = epoll_wait(s_ep, evs, 512, 5);
        for (int i = 0; i < n; i++)
            s_on_event(&evs[i]);
    }
}

/* ---- HTTP accounts (blocking, in a thread pool) ---------------------------------------- */

typedef struct {
    long next, n, *todo; /* indices into users/tokens still to create + log in */
    pthread_mutex_t mu;
    char (*users)[33];
    char **tokens;
    long errors;
} acct_job_t;

/* One HTTP/1.1 POST; returns the status (0 on a transport error), body into out. */
static int s_http_post(int gw, const char *path, const char *body, char *out, size_t outsz)
{
    int fd = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0), status = 0;
    if (fd < 0)
        return 0;
    struct timeval tv = {.tv_sec = 60};
    setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof tv);
    if (connect(fd, (struct sockaddr *)&o.gw[gw], sizeof o.gw[gw]))
        goto done;
    char req[1024];
    int n = snprintf(req, sizeof req,
                     "POST %s HTTP/1.1\r\nHost: %s\r\nContent-Type: application/json\r\n"
                     "Content-Length: %zu\r\nConnection: close\r\n\r\n%s",
                     path, o.gw_host[gw], strlen(body), body);
    if (send(fd, req, (size_t)n, MSG_NOSIGNAL) != n)
        goto done;
    size_t got = 0;
    for (;;) {
        ssize_t r = recv(fd, out + got, outsz - 1 - got, 0);
        if (r <= 0)
            break;
        got += (size_t)r;
        out[got] = '\0';
        char *e = strstr(out, "\r\n\r\n");
        if (e) {
            char *cl = strcasestr(out, "content-length:");
            if (cl && cl < e && (size_t)(e + 4 - out) + (size_t)atol(cl + 15) <= got)
                break;
        }
        if (got + 1 >= outsz)
            break;
    }
    out[got] = '\0';
    if (got > 12 && !strncmp(out, "HTTP/1.1 ", 9))
        status = atoi(out + 9);
done:
    close(fd);
    return status;
}

static void *s_acct_worker(void *arg)
{
    acct_job_t *j = arg;
    char body[512], out[4096];
    for (;;) {
        pthread_mutex_lock(&j->mu);
        long x = j->next++;
        pthread_mutex_unlock(&j->mu);
        if (x >= j->n || s_stop)
            return NULL;
        long i = j->todo[x];
        int gw = (int)(i % o.ngw);
        snprintf(body, sizeof body, "{\"user\":\"%s\",\"password\":\"%s\"}", j->users[i],
                 o.password);
        int s = s_http_post(gw, "/v1/users", body, out, sizeof out);
        snprintf(body, sizeof body, "{\"user\":\"%s\",\"password\":\"%s\",\"device\":\"bench\"}",
                 j->users[i], o.password);
        int s2 =
            (s == 201 || s == 409) ? s_http_post(gw, "/v1/sessions", body, out, sizeof out) : 0;
        char *t = s2 == 200 ? strstr(out, "\"token\":\"") : NULL;
        char *q = t ? strchr(t + 9, '"') : NULL;
        if (!q) {
            pthread_mutex_lock(&j->mu);
            if (j->errors++ < 3)
                fprintf(stderr, "wsbench: account %s: status %d/%d\n", j->users[i], s, s2);
            pthread_mutex_unlock(&j->mu);
            continue;
        }
        j->tokens[i] = strndup(t + 9, (size_t)(q - t - 9));
    }
}

/* --accounts FILE: "user token" lines of earlier runs (same --tag, same data), so that
 * a rerun skips the two Argon2id per user. Returns how many tokens were filled in. */
static long s_accounts_load(char (*users)[33], char **tokens, long n)
{
    FILE *f = o.accounts ? fopen(o.accounts, "r") : NULL;
    long got = 0;
    char u[64], t[512];
    while (f && fscanf(f, "%63s %511s", u, t) == 2)
        for (long i = 0; i < n; i++)
            if (!tokens[i] && !strcmp(users[i], u)) {
                tokens[i] = strdup(t);
                got++;
                break;
            }
    if (f)
        fclose(f);
    return got;
}

static void s_accounts_save(char (*users)[33], char **tokens, long n)
{
    FILE *f = o.accounts ? fopen(o.accounts, "w") : NULL;
    for (long i = 0; f && i < n; i++)
        if (tokens[i])
            fprintf(f, "%s %s\n", users[i], tokens[i]);
    if (f)
        fclose(f);
}

/* Open connections [from, to) open loop: connection from + j is intended to start at
 * t0 + j / rate, and c->t_start is that intended time, so that the connect -> auth-ok
 * latency (s_hconn) includes any time the generator itself started it late: a slow server
 * cannot hide behind a generator that waits for it (no coordinated omission). Waits up to
 * max_s for the last answers. Returns the seconds from t0 to the last auth ok (or
 * failure); *lag_us gets the largest (actual - intended) start. */
static double s_open_rate(long from, long to, double rate, int64_t *lag_us)
{
    int64_t t0 = s_now_us() + 1000, deadline = t0 + (int64_t)(o.max_s * 1e6), last = t0;
    long next = from, base_ready = s_ready, base_failed = s_failed;
    struct epoll_event evs[512];
    *lag_us = 0;
    while (!s_stop) {
        int64_t now = s_now_us();
        if (now >= deadline)
            break;
        while (next < to) {
            int64_t due = t0 + (int64_t)((double)(next - from) * 1e6 / rate);
            if (due > now)
                break;
            if (now - due > *lag_us)
                *lag_us = now - due;
            if (s_start_connect(&s_c[next], next))
                s_close(&s_c[next], true);
            s_c[next].t_start = due;
            next++;
        }
        long done = (s_ready - base_ready) + (s_failed - base_failed);
        if (next >= to && done >= to - from)
            break;
        int timeout = 5;
        if (next < to) { /* wake for the next intended start (ms granularity: starts
                          * due within the same ms go out together, counted late) */
            int64_t due = t0 + (int64_t)((double)(next - from) * 1e6 / rate);
            int64_t ms = (due - s_now_us() + 999) / 1000;
            timeout = ms < 0 ? 0 : ms < 5 ? (int)ms : 5;
        }
        int n = epoll_wait(s_ep, evs, 512, timeout);
        long before = (s_ready - base_ready) + (s_failed - base_failed);
        for (int i = 0; i < n; i++)
            s_on_event(&evs[i]);
        if ((s_ready - base_ready) + (s_failed - base_failed) != before)
            last = s_now_us();
    }
    return (double)(last - t0) / 1e6;
}

/* ---- steps ----------------------------------------------------------------------------- */

static long s_nactive;
static long s_cached; /* tokens read from --accounts */

static void s_rss(long *out)
{
    for (int i = 0; i < o.npids; i++) {
        char path[64], line[256];
        snprintf(path, sizeof path, "/proc/%d/smaps_rollup", o.pid[i]);
        FILE *f = fopen(path, "r");
        long kb = -1;
        while (f && fgets(line, sizeof line, f))
            if (!strncmp(line, "Rss:", 4)) {
                kb = atol(line + 4);
                break;
            }
        if (f)
            fclose(f);
        out[i] = kb;
    }
}

/* Open connections [from, to): at most connect_par in flight. Returns seconds taken. */
static double s_open(long from, long to)
{
    int64_t t0 = s_now_us(), deadline = t0 + (int64_t)(o.max_s * 1e6);
    long next = from;
    s_connect_started = 0;
    long base_ready = s_ready, base_failed = s_failed;
    struct epoll_event evs[512];
    while (!s_stop && s_now_us() < deadline) {
        long inflight = s_connect_started - (s_ready - base_ready) - (s_failed - base_failed);
        while (next < to && inflight < o.connect_par) {
            if (s_start_connect(&s_c[next], next)) {
                s_close(&s_c[next], true);
            }
            next++;
            inflight++;
        }
        if (next >= to && inflight <= 0)
            break;
        int n = epoll_wait(s_ep, evs, 512, 5);
        for (int i = 0; i < n; i++)
            s_on_event(&evs[i]);
    }
    return (double)(s_now_us() - t0) / 1e6;
}

typedef struct {
    double rate, secs;
    long sent, expected, delivered, lost, dup, errors, ok, bad;
    bench_hist_t lat, last;
    double delivered_per_s;
    long rss_peak[MAX_PIDS];
} step_t;

static void s_build_templates(void)
{
    for (long i = 0; i < s_nactive; i++) {
        conn_t *c = &s_c[i];
        if (o.echo)
            snprintf(c->conv, sizeof c->conv, "echo");
        char head[256];
        int hn = snprintf(head, sizeof head,
                          "{\"type\":\"send\",\"id\":\"s\",\"conv\":\"%s\",\"client_msg_id\":\"%s"
                          "%010ld_",
                          c->conv, st.nonce, i);
        /* client_msg_id = nonce + conn + k (10 digits); text = @ts k then padding */
        size_t plen = (size_t)hn + 10 + 10 + (size_t)o.size + 2;
        char *pl = malloc(plen + 1);
        if (!pl)
            exit(1);
        size_t n = (size_t)hn;
        memcpy(pl, head, n);
        size_t at_k1 = n;
        memset(pl + n, '0', 10);
        n += 10;
        memcpy(pl + n, "\",\"text\":\"", 10);
        n += 10;
        size_t at_ts = n + 1;
        pl[n] = '@';
        memset(pl + n + 1, '0', 16);
        pl[n + 17] = ' ';
        memset(pl + n + 18, '0', 10);
        size_t text_n = o.size < 28 ? 28 : (size_t)o.size;
        for (size_t k = 28; k < text_n; k++)
            pl[n + k] = 'x';
        n += text_n;
        memcpy(pl + n, "\"}", 2);
        n += 2;
        /* frame header for n bytes, zero mask */
        free(c->tmpl);
        c->tmpl = malloc(n + 14);
        if (!c->tmpl)
            exit(1);
        size_t h = 0;
        unsigned char *t = (unsigned char *)c->tmpl;
        t[h++] = 0x81;
        if (n < 126) {
            t[h++] = (unsigned char)(0x80 | n);
        } else {
            t[h++] = 0x80 | 126;
            t[h++] = (unsigned char)(n >> 8);
            t[h++] = (unsigned char)n;
        }
        memset(t + h, 0, 4);
        h += 4;
        memcpy(t + h, pl, n);
        c->tmpl_len = h + n;
        c->at_ts = h + at_ts;
        c->at_k = h + at_k1; /* the k in client_msg_id; the k in the text follows at_ts */
        free(pl);
    }
}

static void s_digits(char *p, int w, uint64_t v)
{
    for (int i = w - 1; i >= 0; i--) {
        p[i] = (char)('0' + v % 10);
        v /= 10;
    }
}

static void s_progress(double t, long sent, long deliv, const bench_hist_t *sec)
{
    if (o.quiet)
        return;
    fprintf(stderr,
            "wsbench: %5.1fs rate %.0f sent %ld delivered %ld open %ld  last 1 s: p50 %.2f p99 "
            "%.2f max %.2f ms\n",
            t, o.rate, sent, deliv, s_ready, bench_hist_pct(sec, 0.5) / 1000,
            bench_hist_pct(sec, 0.99) / 1000, (double)sec->max / 1000);
}

static void s_run_step(double rate, step_t *out)
{
    o.rate = rate;
    memset(out, 0, sizeof *out);
    out->rate = rate;
    long total = (long)(rate * o.duration);
    if (total < 1)
        total = 1;
    free(st.got);
    memset(&st, 0, offsetof(typeof(st), nonce));
    st.got = calloc((size_t)total, sizeof *st.got);
    st.cap = total;
    st.expect = o.echo ? 1 : o.group > 1 ? (int)o.group - 1 : 1;
    snprintf(st.nonce, sizeof st.nonce, "%012llx",
             (unsigned long long)(s_now_us() ^ ((int64_t)getpid() << 40)) & 0xffffffffffffull);
    bench_hist_reset(&st.lat);
    bench_hist_reset(&st.last);
    bench_hist_reset(&st.sec);
    s_build_templates();
    int64_t t0 = s_now_us() + 20000;
    st.t0 = t0;
    int64_t next_prog = t0 + 1000000, end_send = t0 + (int64_t)(o.duration * 1e6);
    long k = 0;
    struct epoll_event evs[512];
    for (;;) {
        int64_t now = s_now_us();
        if (s_stop)
            break;
        /* open loop: everything whose intended time has come */
        while (k < total) {
            int64_t ts = t0 + (int64_t)((double)k * 1e6 / rate);
            if (ts > now)
                break;
            conn_t *c = &s_c[k % s_nactive];
            if (c->state == C_READY) {
                s_digits(c->tmpl + c->at_k, 10, (uint64_t)k);
                s_digits(c->tmpl + c->at_ts, 16, (uint64_t)ts);
                s_digits(c->tmpl + c->at_ts + 17, 10, (uint64_t)k);
                if (!s_buf_reserve(&c->out, c->tmpl_len)) {
                    memcpy(c->out.p + c->out.len, c->tmpl, c->tmpl_len);
                    c->out.len += c->tmpl_len;
                    if (!c->ep_out && s_flush(c))
                        s_close(c, true);
                }
                st.sent++;
            }
            k++;
        }
        if (now >= next_prog) {
            s_progress((double)(now - t0) / 1e6, st.sent, st.delivered, &st.sec);
            bench_hist_reset(&st.sec);
            next_prog += 1000000;
            long r[MAX_PIDS];
            s_rss(r);
            for (int i = 0; i < o.npids; i++)
                if (r[i] > out->rss_peak[i])
                    out->rss_peak[i] = r[i];
        }
        if (k >= total &&
            (now >= end_send + (int64_t)(o.drain * 1e6) || st.delivered >= st.sent * st.expect))
            break;
        int wait_ms = 1;
        if (k >= total)
            wait_ms = 5;
        int n = epoll_wait(s_ep, evs, 512, wait_ms);
        for (int i = 0; i < n; i++)
            s_on_event(&evs[i]);
    }
    int64_t last = s_now_us();
    out->secs = (double)(last - t0) / 1e6;
    out->sent = st.sent;
    out->expected = st.sent * st.expect;
    out->delivered = st.delivered;
    out->dup = st.dup;
    out->lost = out->expected - out->delivered;
    out->errors = st.errors;
    out->ok = st.ok;
    out->bad = st.bad;
    out->lat = st.lat;
    out->last = st.last;
    double span = o.duration > 0 ? o.duration : out->secs;
    out->delivered_per_s = (double)st.delivered / (span > out->secs ? out->secs : span);
    /* a step's stragglers must not count in the next: wait out what remains (bounded) */
    s_loop_until(s_now_us() + 200000, NULL);
}

static bool s_step_pass(const step_t *s)
{
    return s->lost == 0 && s->errors == 0 && s->dup == 0 && s->sent > 0 &&
           bench_hist_pct(&s->lat, 0.99) / 1000 < o.p99_limit;
}

/* ---- main ------------------------------------------------------------------------------ */

static void s_on_signal(int sig)
{
    (void)sig;
    s_stop = 1;
}

static int s_usage(void)
{
    fprintf(stderr,
            "usage: parley-wsbench --gateways HOST:PORT[,HOST:PORT...] [--conns N] [--idle N]\n"
            "  [--group G] [--rate MSGS/S] [--duration S] [--size BYTES] [--drain S]\n"
            "  [--max-rate] [--step S] [--p99-limit MS] [--sources K] [--connect-par N]\n"
            "  [--pids name=PID,...] [--tag T] [--accounts FILE] [--password P] [--echo]\n"
            "  [--path P] [--http-threads N] [--max-seconds S] [--quiet]\n"
            "  [--connect-rate R [--connect-count N]]  (T6: N open-loop connects at R/s\n"
            "   after the idle ones, latency from the intended start; N defaults to 2 R)\n"
            "  [--catchup N [--catchup-repeat R]]  (T5: one device syncs N messages, R times)\n");
    return 2;
}

static int s_parse_gateways(char *list)
{
    for (char *save = NULL, *t = strtok_r(list, ",", &save); t; t = strtok_r(NULL, ",", &save)) {
        if (!strncmp(t, "http://", 7))
            t += 7;
        else if (!strncmp(t, "ws://", 5))
            t += 5;
        char *colon = strrchr(t, ':');
        if (!colon || o.ngw >= MAX_GW)
            return -1;
        *colon = '\0';
        struct sockaddr_in *a = &o.gw[o.ngw];
        a->sin_family = AF_INET;
        a->sin_port = htons((uint16_t)atoi(colon + 1));
        if (inet_pton(AF_INET, strcmp(t, "localhost") ? t : "127.0.0.1", &a->sin_addr) != 1)
            return -1;
        snprintf(o.gw_host[o.ngw], sizeof o.gw_host[0], "%s:%s", t, colon + 1);
        o.ngw++;
    }
    return o.ngw ? 0 : -1;
}

static int s_parse_pids(char *list)
{
    for (char *save = NULL, *t = strtok_r(list, ",", &save); t; t = strtok_r(NULL, ",", &save)) {
        char *eq = strchr(t, '=');
        if (!eq || o.npids >= MAX_PIDS)
            return -1;
        *eq = '\0';
        snprintf(o.pid_name[o.npids], sizeof o.pid_name[0], "%s", t);
        o.pid[o.npids++] = atoi(eq + 1);
    }
    return 0;
}

static void s_print_step_row(const step_t *s, bool pass)
{
    printf("%9.0f %8ld %9ld %6ld %4ld %5ld %10.0f ", s->rate, s->sent, s->delivered, s->lost,
           s->dup, s->errors, s->delivered_per_s);
    bench_hist_row(&s->lat, stdout);
    if (o.group > 1) {
        printf("  last ");
        bench_hist_row(&s->last, stdout);
    }
    printf("%s\n", o.max_rate ? (pass ? "  pass" : "  FAIL") : "");
}

static void s_step_json(const step_t *s)
{
    printf("{\"rate\":%.0f,\"secs\":%.2f,\"sent\":%ld,\"expected\":%ld,\"delivered\":%ld,"
           "\"lost\":%ld,\"duplicated\":%ld,\"errors\":%ld,\"ok\":%ld,\"stray\":%ld,"
           "\"delivered_per_s\":%.0f,\"latency_ms\":",
           s->rate, s->secs, s->sent, s->expected, s->delivered, s->lost, s->dup, s->errors, s->ok,
           s->bad, s->delivered_per_s);
    bench_hist_json(&s->lat, stdout);
    printf(",\"last_recipient_ms\":");
    bench_hist_json(&s->last, stdout);
    printf(",\"rss_kb_load\":{");
    for (int i = 0; i < o.npids; i++)
        printf("%s\"%s\":%ld", i ? "," : "", o.pid_name[i], s->rss_peak[i]);
    printf("}}");
}

/* T5: fill, then time --catchup-repeat catch-ups (ms into ms_out). Returns 0, or -1 when
 * the fill or a catch-up failed (a send or sync answered with an error, a count off). */
static bool s_cu_fill_done(void)
{
    return cu.ok + cu.errors >= o.catchup;
}
static bool s_cu_page_done(void)
{
    return !cu.waiting;
}
static int s_cu_run(double *ms_out, double *fill_s)
{
    conn_t *snd = &s_c[0], *rcv = &s_c[1];
    char *text = malloc((size_t)o.size + 1);
    if (!text)
        return -1;
    memset(text, 'x', (size_t)o.size);
    text[o.size] = '\0';
    unsigned long long nonce = (unsigned long long)s_now_us();
    int64_t t0 = s_now_us(), deadline = t0 + (int64_t)(o.max_s * 1e6);
    if (!o.quiet)
        fprintf(stderr, "wsbench: catch-up: sending %ld messages into %s\n", o.catchup, snd->conv);
    while (!s_stop && !s_cu_fill_done() && s_now_us() < deadline) {
        while (cu.sent < o.catchup && cu.sent - cu.ok - cu.errors < CU_WINDOW) {
            char head[384];
            int n = snprintf(head, sizeof head,
                             "{\"type\":\"send\",\"id\":\"f\",\"conv\":\"%s\",\"client_msg_id\":"
                             "\"cu-%s-%llx-%ld\",\"text\":\"",
                             snd->conv, o.tag, nonce, cu.sent);
            size_t len = (size_t)n + (size_t)o.size + 2;
            char *f = malloc(len);
            if (!f) {
                free(text);
                return -1;
            }
            memcpy(f, head, (size_t)n);
            memcpy(f + n, text, (size_t)o.size);
            memcpy(f + n + o.size, "\"}", 2);
            s_frame(snd, 1, f, len);
            free(f);
            cu.sent++;
        }
        s_flush(snd);
        s_loop_until(s_now_us() + 20000, s_cu_fill_done);
    }
    free(text);
    *fill_s = (double)(s_now_us() - t0) / 1e6;
    if (cu.ok != o.catchup || cu.last_seq - cu.first_seq + 1 != o.catchup) {
        fprintf(stderr, "wsbench: catch-up fill: %ld ok, %ld errors, seqs %ld..%ld\n", cu.ok,
                cu.errors, cu.first_seq, cu.last_seq);
        return -1;
    }
    for (long r = 0; r < o.catchup_repeat && !s_stop; r++) {
        cu.got = cu.pages = 0;
        cu.after = cu.first_seq - 1;
        cu.more = true;
        int64_t t = s_now_us();
        while (cu.more && !cu.failed && !s_stop && s_now_us() < deadline) {
            s_cu_sync(rcv);
            s_loop_until(deadline, s_cu_page_done);
            if (cu.waiting)
                break; /* deadline */
        }
        ms_out[r] = (double)(s_now_us() - t) / 1e3;
        if (cu.failed || cu.waiting || cu.got < o.catchup || cu.after < cu.last_seq) {
            fprintf(stderr, "wsbench: catch-up %ld: %ld of %ld messages in %ld pages%s\n", r,
                    cu.got, o.catchup, cu.pages, cu.failed ? " (an error answer)" : "");
            return -1;
        }
    }
    return 0;
}

int main(int argc, char **argv)
{
    char tagbuf[16];
    for (int i = 1; i < argc; i++) {
        const char *a = argv[i], *v = i + 1 < argc ? argv[i + 1] : NULL;
        bool flag = true;
        if (!strcmp(a, "--max-rate"))
            o.max_rate = true;
        else if (!strcmp(a, "--echo"))
            o.echo = true;
        else if (!strcmp(a, "--quiet"))
            o.quiet = true;
        else
            flag = false;
        if (flag)
            continue;
        if (!v)
            return s_usage();
        i++;
        if (!strcmp(a, "--gateways") || !strcmp(a, "--gateway")) {
            char *copy = strdup(v);
            int bad = !copy || s_parse_gateways(copy);
            free(copy);
            if (bad)
                return s_usage();
        } else if (!strcmp(a, "--conns"))
            o.conns = atol(v);
        else if (!strcmp(a, "--idle"))
            o.idle = atol(v);
        else if (!strcmp(a, "--catchup"))
            o.catchup = atol(v);
        else if (!strcmp(a, "--catchup-repeat"))
            o.catchup_repeat = atol(v);
        else if (!strcmp(a, "--group"))
            o.group = atol(v);
        else if (!strcmp(a, "--size"))
            o.size = atol(v);
        else if (!strcmp(a, "--sources"))
            o.sources = atol(v);
        else if (!strcmp(a, "--connect-par"))
            o.connect_par = atol(v);
        else if (!strcmp(a, "--connect-rate"))
            o.connect_rate = atof(v);
        else if (!strcmp(a, "--connect-count"))
            o.connect_count = atol(v);
        else if (!strcmp(a, "--http-threads"))
            o.http_threads = atol(v);
        else if (!strcmp(a, "--rate"))
            o.rate = atof(v);
        else if (!strcmp(a, "--duration"))
            o.duration = atof(v);
        else if (!strcmp(a, "--drain"))
            o.drain = atof(v);
        else if (!strcmp(a, "--p99-limit"))
            o.p99_limit = atof(v);
        else if (!strcmp(a, "--step"))
            o.step = atof(v);
        else if (!strcmp(a, "--max-seconds"))
            o.max_s = atof(v);
        else if (!strcmp(a, "--tag"))
            o.tag = v;
        else if (!strcmp(a, "--password"))
            o.password = v;
        else if (!strcmp(a, "--accounts"))
            o.accounts = v;
        else if (!strcmp(a, "--path"))
            o.path = v;
        else if (!strcmp(a, "--pids")) {
            char *copy = strdup(v);
            int bad = !copy || s_parse_pids(copy);
            free(copy);
            if (bad)
                return s_usage();
        } else
            return s_usage();
    }
    if (!o.ngw || o.conns < 2 || o.idle < 0 || o.size < 1 || o.size > 60000 || o.rate <= 0 ||
        o.duration <= 0 || o.sources < 1 || o.sources > 250 || o.connect_par < 1 ||
        o.http_threads < 1 || o.group == 1 || o.group > 100 || (o.group > 1 && o.conns < o.group) ||
        o.catchup < 0 || o.catchup_repeat < 1 || o.catchup_repeat > 100 ||
        (o.catchup && (o.group > 1 || o.echo)) || !(o.connect_rate >= 0) || o.connect_rate > 1e6 ||
        o.connect_count < 0 || o.connect_count > 1000000 || (o.connect_count && !o.connect_rate))
        return s_usage();
    if (o.connect_rate && !o.connect_count)
        o.connect_count = (long)(2 * o.connect_rate) > 0 ? (long)(2 * o.connect_rate) : 1;
    if (!o.tag) {
        snprintf(tagbuf, sizeof tagbuf, "%06llx",
                 (unsigned long long)(s_now_us() ^ getpid()) & 0xffffff);
        o.tag = tagbuf;
    }
    signal(SIGINT, s_on_signal);
    signal(SIGTERM, s_on_signal);
    signal(SIGPIPE, SIG_IGN);
    struct rlimit rl;
    if (!getrlimit(RLIMIT_NOFILE, &rl)) {
        rl.rlim_cur = rl.rlim_max;
        setrlimit(RLIMIT_NOFILE, &rl);
        if ((long)rl.rlim_cur < o.conns + o.idle + o.connect_count + 64)
            fprintf(stderr, "wsbench: warning: open-file limit %ld < %ld connections\n",
                    (long)rl.rlim_cur, o.conns + o.idle + o.connect_count);
    }

    int rc = 1;
    s_nactive = o.conns;
    if (o.group > 1)
        s_nactive = o.conns / o.group * o.group;
    else
        s_nactive = o.conns / 2 * 2;
    s_nc = s_nactive + o.idle + o.connect_count;
    s_c = calloc((size_t)s_nc, sizeof *s_c);
    /* the idle and the --connect-rate sockets share one more user */
    long nusers = o.echo ? 0 : s_nactive + (o.idle || o.connect_count ? 1 : 0);
    char(*users)[33] = calloc((size_t)nusers + 1, sizeof *users);
    char **tokens = calloc((size_t)nusers + 1, sizeof *tokens);
    long ngroups = o.group > 1 ? s_nactive / o.group : 0;
    s_group_conv = calloc((size_t)ngroups + 1, sizeof *s_group_conv);
    s_ep = epoll_create1(EPOLL_CLOEXEC);
    if (!s_c || !users || !tokens || !s_group_conv || s_ep < 0)
        goto done;
    for (long i = 0; i < s_nc; i++)
        s_c[i].fd = -1;

    /* 1. accounts */
    double acct_s = 0;
    if (nusers) {
        for (long i = 0; i < s_nactive; i++)
            snprintf(users[i], sizeof users[i], "wb%s_%ld", o.tag, i);
        if (o.idle || o.connect_count)
            snprintf(users[s_nactive], sizeof users[0], "wb%s_idle", o.tag);
        long cached = s_cached = s_accounts_load(users, tokens, nusers);
        acct_job_t j = {.users = users, .tokens = tokens};
        j.todo = calloc((size_t)nusers, sizeof *j.todo);
        if (!j.todo)
            goto done;
        for (long i = 0; i < nusers; i++)
            if (!tokens[i])
                j.todo[j.n++] = i;
        if (cached && !o.quiet)
            fprintf(stderr, "wsbench: %ld tokens from %s\n", cached, o.accounts);
        pthread_mutex_init(&j.mu, NULL);
        pthread_t th[64];
        long nt = o.http_threads > 64 ? 64 : o.http_threads;
        int64_t t0 = s_now_us();
        if (!o.quiet)
            fprintf(stderr, "wsbench: creating and logging in %ld users\n", j.n);
        for (long t = 0; t < nt; t++)
            pthread_create(&th[t], NULL, s_acct_worker, &j);
        for (long t = 0; t < nt; t++)
            pthread_join(th[t], NULL);
        acct_s = (double)(s_now_us() - t0) / 1e6;
        free(j.todo);
        if (j.n)
            s_accounts_save(users, tokens, nusers);
        if (j.errors) {
            fprintf(stderr, "wsbench: %ld accounts failed\n", j.errors);
            goto done;
        }
    }
    for (long i = 0; i < s_nactive; i++) {
        conn_t *c = &s_c[i];
        /* pairs (2j, 2j+1) / group members on different gateways where several */
        c->gw = (int)(i % o.ngw);
        c->token = o.echo ? "" : tokens[i];
        if (!o.echo)
            snprintf(c->user, sizeof c->user, "%s", users[i]);
    }
    for (long i = 0; i < s_nactive && !o.echo && o.group <= 1; i++) {
        conn_t *c = &s_c[i];
        const char *peer = users[i ^ 1];
        const char *lo = strcmp(c->user, peer) < 0 ? c->user : peer;
        const char *hi = lo == c->user ? peer : c->user;
        snprintf(c->conv, sizeof c->conv, "dm:%s:%s", lo, hi);
    }
    for (long i = s_nactive; i < s_nc; i++) {
        s_c[i].idle = true;
        s_c[i].gw = (int)(i % o.ngw);
        s_c[i].token = o.echo ? "" : tokens[s_nactive];
    }

    long rss_before[MAX_PIDS], rss_idle[MAX_PIDS], rss_after_idle[MAX_PIDS];
    s_rss(rss_before);
    memcpy(rss_after_idle, rss_before, sizeof rss_before);

    /* 2. idle, then active connections */
    double idle_s = 0, act_s;
    bench_hist_t h_idle;
    bench_hist_reset(&h_idle);
    long idle_ready = 0;
    if (o.idle) {
        if (!o.quiet)
            fprintf(stderr, "wsbench: opening %ld idle connections\n", o.idle);
        idle_s = s_open(s_nactive, s_nactive + o.idle);
        h_idle = s_hconn;
        idle_ready = s_ready;
        bench_hist_reset(&s_hconn);
        s_loop_until(s_now_us() + 300000, NULL); /* answers to pings, presence settle */
        s_rss(rss_after_idle);
    }
    /* 2b. T6: connect + auth at an offered rate beside the idle ones */
    double rate_s = 0;
    int64_t rate_lag = 0;
    bench_hist_t h_rate;
    bench_hist_reset(&h_rate);
    long rate_ready = 0, rate_failed = 0;
    if (o.connect_count) {
        if (!o.quiet)
            fprintf(stderr, "wsbench: opening %ld connections at %.0f/s (open loop)\n",
                    o.connect_count, o.connect_rate);
        long r0 = s_ready, f0 = s_failed;
        bench_hist_reset(&s_hconn);
        rate_s = s_open_rate(s_nactive + o.idle, s_nc, o.connect_rate, &rate_lag);
        h_rate = s_hconn;
        rate_ready = s_ready - r0;
        rate_failed = s_failed - f0;
        bench_hist_reset(&s_hconn);
    }
    if (!o.quiet)
        fprintf(stderr, "wsbench: opening %ld active connections\n", s_nactive);
    act_s = s_open(0, s_nactive);
    long act_ready = s_ready - idle_ready - rate_ready;
    if (act_ready < s_nactive) {
        fprintf(stderr, "wsbench: only %ld of %ld active connections authenticated%s\n", act_ready,
                s_nactive, o.accounts ? " (stale --accounts file? delete it)" : "");
        goto done;
    }

    /* 3. groups */
    if (ngroups) {
        s_groups_pending = ngroups;
        for (long g = 0; g < ngroups; g++) {
            char req[8192];
            int n = snprintf(req, sizeof req,
                             "{\"type\":\"group_create\",\"id\":\"gc%ld\",\"title\":\"bench %ld\","
                             "\"members\":[",
                             g, g);
            for (long m = 1; m < o.group && n < (int)sizeof req - 64; m++)
                n += snprintf(req + n, sizeof req - (size_t)n, "%s\"%s\"", m > 1 ? "," : "",
                              users[g * o.group + m]);
            n += snprintf(req + n, sizeof req - (size_t)n, "]}");
            conn_t *c = &s_c[g * o.group];
            s_frame(c, 1, req, (size_t)n);
            s_flush(c);
        }
        int64_t dl = s_now_us() + 30000000;
        while (s_groups_pending > 0 && s_now_us() < dl && !s_stop)
            s_loop_until(s_now_us() + 10000, NULL);
        for (long i = 0; i < s_nactive; i++) {
            long g = i / o.group;
            if (!s_group_conv[g][0]) {
                fprintf(stderr, "wsbench: group_create %ld failed\n", g);
                goto done;
            }
            snprintf(s_c[i].conv, sizeof s_c[i].conv, "%s", s_group_conv[g]);
        }
        /* let the member events pass before the clock starts */
        s_loop_until(s_now_us() + 300000, NULL);
    }
    s_loop_until(s_now_us() + 200000, NULL);
    s_rss(rss_idle);

    if (o.catchup) {
        double ms[100], fill_s = 0;
        if (s_cu_run(ms, &fill_s))
            goto done;
        double sorted[100];
        memcpy(sorted, ms, sizeof(double) * (size_t)o.catchup_repeat);
        for (long i = 1; i < o.catchup_repeat; i++) /* insertion sort: at most 100 */
            for (long j = i; j > 0 && sorted[j] < sorted[j - 1]; j--) {
                double t = sorted[j];
                sorted[j] = sorted[j - 1];
                sorted[j - 1] = t;
            }
        double med = sorted[o.catchup_repeat / 2], mx = sorted[o.catchup_repeat - 1];
        printf("parley-wsbench: catch-up of %ld messages (text %ld B) by one device, sync pages "
               "of %d: %ld runs, ms min/median/max %.2f / %.2f / %.2f (%.0f msgs/s at the "
               "median); filled in %.2f s\n",
               o.catchup, o.size, CU_PAGE, o.catchup_repeat, sorted[0], med, mx,
               med > 0 ? (double)o.catchup * 1e3 / med : 0.0, fill_s);
        printf("{\"tool\":\"parley-wsbench\",\"mode\":\"catchup\",\"size\":%ld,\"result\":{"
               "\"messages\":%ld,\"page\":%d,\"pages\":%ld,\"runs\":%ld,\"fill_s\":%.2f,"
               "\"ms\":{\"min\":%.3f,\"median\":%.3f,\"max\":%.3f},\"all_ms\":[",
               o.size, o.catchup, CU_PAGE, cu.pages, o.catchup_repeat, fill_s, sorted[0], med, mx);
        for (long i = 0; i < o.catchup_repeat; i++)
            printf("%s%.3f", i ? "," : "", ms[i]);
        printf("]}}\n");
        fflush(stdout);
        rc = 0;
        goto done;
    }

    /* 4-5. load */
    step_t steps[40];
    int nsteps = 0, best = -1;
    if (!o.max_rate) {
        s_run_step(o.rate, &steps[nsteps++]);
        best = 0;
    } else {
        double save_d = o.duration;
        bench_search_t bs;
        bench_search_init(&bs, o.rate);
        o.duration = o.step;
        while (nsteps < 40 && !s_stop) {
            s_run_step(bs.next, &steps[nsteps]);
            bool pass = s_step_pass(&steps[nsteps]);
            if (pass)
                best = nsteps;
            nsteps++;
            if (!bench_search_next(&bs, pass))
                break;
            s_loop_until(s_now_us() + 500000, NULL); /* settle */
        }
        o.duration = save_d;
    }

    /* table */
    printf("parley-wsbench: %ld active connections (%s), %ld idle, %d gateway(s), text %ld B\n",
           s_nactive,
           o.echo        ? "echo"
           : o.group > 1 ? "groups"
                         : "DM pairs",
           o.idle, o.ngw, o.size);
    if (o.group > 1)
        printf("groups of %ld: %ld groups, %ld deliveries per message\n", o.group, ngroups,
               o.group - 1);
    if (nusers)
        printf("accounts: %ld created + logged in in %.1f s, %ld tokens from --accounts\n",
               nusers - s_cached, acct_s, s_cached);
    if (o.idle)
        printf("connect+auth idle:   %ld in %.2f s = %.0f/s, latency ms p50/p90/p99/p999/max ",
               idle_ready, idle_s, idle_s > 0 ? (double)idle_ready / idle_s : 0.0);
    if (o.idle) {
        bench_hist_row(&h_idle, stdout);
        printf("\n");
    }
    if (o.connect_count) {
        printf("connect+auth at %.0f/s offered beside %ld idle: %ld of %ld in %.2f s = %.0f/s "
               "(%ld failed, start lag max %.2f ms), latency ms from the intended start "
               "p50/p90/p99/p999/max ",
               o.connect_rate, idle_ready, rate_ready, o.connect_count, rate_s,
               rate_s > 0 ? (double)rate_ready / rate_s : 0.0, rate_failed, (double)rate_lag / 1e3);
        bench_hist_row(&h_rate, stdout);
        printf("\n");
    }
    printf("connect+auth active: %ld in %.2f s = %.0f/s, latency ms p50/p90/p99/p999/max ",
           act_ready, act_s, act_s > 0 ? (double)act_ready / act_s : 0.0);
    bench_hist_row(&s_hconn, stdout);
    printf("\n%9s %8s %9s %6s %4s %5s %10s %9s %9s %9s %9s %9s\n", "offered/s", "sent", "delivered",
           "lost", "dup", "err", "deliv/s", "p50 ms", "p90", "p99", "p999", "max");
    for (int i = 0; i < nsteps; i++)
        s_print_step_row(&steps[i], s_step_pass(&steps[i]));
    if (o.max_rate)
        printf("max rate with p99 < %.0f ms and nothing lost: %.0f msgs/s offered\n", o.p99_limit,
               best >= 0 ? steps[best].rate : 0.0);
    for (int i = 0; i < o.npids; i++)
        printf("RSS %-10s before %7ld kB  with idle %7ld kB  all open %7ld kB  load %7ld kB\n",
               o.pid_name[i], rss_before[i], rss_after_idle[i], rss_idle[i],
               best >= 0 ? steps[best].rss_peak[i] : -1L);

    /* JSON */
    printf("{\"tool\":\"parley-wsbench\",\"mode\":\"%s\",\"conns\":%ld,\"idle\":%ld,\"group\":%ld,"
           "\"gateways\":%d,\"size\":%ld,\"accounts_s\":%.2f,\"accounts_cached\":%ld,",
           o.echo        ? "echo"
           : o.group > 1 ? "group"
                         : "dm",
           s_nactive, o.idle, o.group, o.ngw, o.size, acct_s, s_cached);
    printf("\"connect_idle\":{\"n\":%ld,\"secs\":%.3f,\"per_s\":%.0f,\"latency_ms\":", idle_ready,
           idle_s, idle_s > 0 ? (double)idle_ready / idle_s : 0.0);
    bench_hist_json(&h_idle, stdout);
    printf("},\"connect_rate\":");
    if (o.connect_count) {
        printf("{\"offered_per_s\":%.0f,\"count\":%ld,\"beside\":%ld,\"n\":%ld,\"failed\":%ld,"
               "\"secs\":%.3f,\"per_s\":%.0f,\"start_lag_max_ms\":%.3f,\"latency_ms\":",
               o.connect_rate, o.connect_count, idle_ready, rate_ready, rate_failed, rate_s,
               rate_s > 0 ? (double)rate_ready / rate_s : 0.0, (double)rate_lag / 1e3);
        bench_hist_json(&h_rate, stdout);
        printf("}");
    } else
        printf("null");
    printf(",\"connect\":{\"n\":%ld,\"secs\":%.3f,\"per_s\":%.0f,\"latency_ms\":", act_ready, act_s,
           act_s > 0 ? (double)act_ready / act_s : 0.0);
    bench_hist_json(&s_hconn, stdout);
    printf("},\"rss_kb\":{");
    for (int i = 0; i < o.npids; i++)
        printf("%s\"%s\":{\"before\":%ld,\"after_idle\":%ld,\"idle\":%ld}", i ? "," : "",
               o.pid_name[i], rss_before[i], rss_after_idle[i], rss_idle[i]);
    printf("},\"max_rate\":%s", o.max_rate ? "" : "null");
    if (o.max_rate)
        printf("%.0f", best >= 0 ? steps[best].rate : 0.0);
    printf(",\"result\":");
    if (best >= 0)
        s_step_json(&steps[best]);
    else
        printf("null");
    printf(",\"steps\":[");
    for (int i = 0; i < nsteps; i++) {
        printf(i ? "," : "");
        s_step_json(&steps[i]);
    }
    printf("]}\n");
    fflush(stdout);
    rc = 0;
done:
    for (long i = 0; s_c && i < s_nc; i++) {
        if (s_c[i].fd >= 0)
            close(s_c[i].fd);
        free(s_c[i].in.p);
        free(s_c[i].out.p);
        free(s_c[i].tmpl);
    }
    for (long i = 0; tokens && i < nusers; i++)
        free(tokens[i]);
    free(tokens);
    free(users);
    free(s_group_conv);
    free(s_c);
    free(st.got);
    if (s_ep >= 0)
        close(s_ep);
    return rc;
}
