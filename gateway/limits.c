/* limits — the gateway's protective limits (docs/protocol.md "Limits").
 *
 * - Request rate per authenticated socket: a token bucket (--rate-burst, --rate-per-sec).
 *   A request without a token is answered `rate_limited` in its place in the answer
 *   order and goes no further; a `typing` without a token gets `ok` and is dropped, as
 *   the shard does with typing excess.
 * - Per client IP: at most --max-conns-per-ip concurrent connections (HTTP and WebSocket
 *   alike; the connection over it is closed at accept, before lws reads anything), and a
 *   token bucket for POST /v1/users and /v1/sessions (--login-burst, --login-per-sec):
 *   HTTP 429 `rate_limited` without it.
 * - A WebSocket not authenticated within --auth-timeout gets an `unauthenticated` error
 *   (without id) and close 4401. HTTP idleness (--http-timeout) is lws's business: main.c
 *   sets timeout_secs and timeout_secs_ah_idle (a connection that sends no request).
 *
 * - Any of these limits set to 0 is off (a bucket with burst or refill 0 never refuses).
 *
 * The client address (--trusted-proxies): a connection's address is its TCP peer, or the
 * source of the PROXY protocol header a trusted peer sent (proxy.c). If that address is
 * a trusted proxy, a request's X-Forwarded-For is read from the right: the first entry
 * that is not a trusted proxy is the client (all trusted: the leftmost; an entry that is
 * not an address stops the walk at the last good one). From anyone else the header is
 * ignored. Per-address limits apply to that client address. A connection from a trusted
 * proxy is not counted against the cap at accept (it carries many clients); its WebSocket
 * upgrade is counted against the forwarded client address.
 *
 * Per-IP state is a table ip -> ip_entry_t. Each connection has a gw_conn_t as its lws
 * opaque user data, set at SERVER_NEW_CLIENT_INSTANTIATED and freed at WSI_DESTROY (the
 * same wsi survives the HTTP -> WebSocket upgrade); it holds the entry it is counted in.
 * An entry without connections stays until its login bucket is full again (the
 * once-a-second sweep drops it), so closing the connection does not reset the bucket.
 *
 * Everything here runs on the loop thread. Time is uv_now (ms). */
#include "gw.h"
#include "gw_bucket.h"
#include "gw_frames.h"
#include "gw_http_req.h"
#include "gw_limits.h"
#include "gw_ws.h"

#include <arpa/inet.h>
#include <netinet/in.h>
#include <sys/socket.h>

#define GW_IP_TABLE_MAX 1000000 /* tracked IPs; above it new IPs are refused */

typedef struct ip_entry {
    char ip[INET6_ADDRSTRLEN];
    int conns; /* connections holding this entry */
    gw_bucket_t login;
} ip_entry_t;

/* One warn line per second at most for a kind of event; the rest is counted. */
typedef struct {
    uint64_t last_ms;
    uint64_t suppressed;
} log_gate_t;

/* dm: existence answers of one user ("u:<user>") or client address ("a:<ip>")
 * (limits_dm_probe_*): kept while the bucket is not full; a user's confirmed holds the
 * other users it was told exist meanwhile (answered freely). */
typedef struct dm_entry {
    char key[2 + INET6_ADDRSTRLEN + 33];
    double tokens; /* may be negative: answers that were in flight when it ran out */
    uint64_t at_ms;
    zhashx_t *confirmed; /* name -> (void *)1, at most GW_DM_CONFIRMED_MAX */
} dm_entry_t;

#define GW_DM_TABLE_MAX 1000000  /* users with a partly used dm budget */
#define GW_DM_CONFIRMED_MAX 1000 /* confirmed names per user (then forgotten at once) */
#define GW_DM_DEBT_MAX 1e6       /* lowest the dm budget goes */

struct gw_limits {
    zhashx_t *ips;   /* ip -> ip_entry_t (owned) */
    zhashx_t *users; /* "u:<user>" or "a:<ip>" -> dm_entry_t (owned) */
    log_gate_t conn_log, login_log, rate_log, dm_log;
};

/* One accepted connection (the lws opaque user data of its wsi). */
struct gw_conn {
    char addr[INET6_ADDRSTRLEN]; /* TCP peer, or the PROXY header's source */
    bool trusted;                /* addr is a trusted proxy: X-Forwarded-For counts */
    ip_entry_t *e;               /* the entry whose connection count holds this one, or NULL */
    uint64_t start_ms;           /* accepted, or the previous answer written (keep-alive) */
};

/* ---- logging gate ------------------------------------------------------------------- */

/* True if a line may be logged now; *suppressed_out gets the lines dropped before it. */
static bool s_log_gate(log_gate_t *g, uint64_t now_ms, uint64_t *suppressed_out)
{
    if (g->last_ms && now_ms - g->last_ms < 1000) {
        g->suppressed++;
        return false;
    }
    g->last_ms = now_ms ? now_ms : 1;
    *suppressed_out = g->suppressed;
    g->suppressed = 0;
    return true;
}

/* A dm budget's size and refill: per user ("u:") or per address ("a:"). */
static int s_dm_burst(gw_t *gw, const dm_entry_t *e)
{
    return e->key[0] == 'a' ? gw->cfg.dm_probe_ip_burst : gw->cfg.dm_probe_burst;
}

/* Tokens of a dm budget at now_ms (refilled, at most the burst). */
static double s_dm_tokens(gw_t *gw, dm_entry_t *e, uint64_t now_ms)
{
    int per_sec = e->key[0] == 'a' ? gw->cfg.dm_probe_ip_per_sec : gw->cfg.dm_probe_per_sec;
    if (now_ms > e->at_ms) {
        e->tokens += (double)(now_ms - e->at_ms) * per_sec / 1000.0;
        if (e->tokens > s_dm_burst(gw, e))
            e->tokens = s_dm_burst(gw, e);
        e->at_ms = now_ms;
    }
    return e->tokens;
}

/* ---- lifecycle ---------------------------------------------------------------------- */

static void s_entry_free(void **item)
{
    free(*item);
    *item = NULL;
}

static void s_dm_entry_free(void **item)
{
    dm_entry_t *e = *item;
    if (e)
        zhashx_destroy(&e->confirmed);
    free(e);
    *item = NULL;
}

int gw_limits_init(gw_t *gw)
{
    gw->limits = calloc(1, sizeof *gw->limits);
    if (!gw->limits)
        return -1;
    gw->limits->ips = zhashx_new();
    gw->limits->users = zhashx_new();
    if (!gw->limits->ips || !gw->limits->users) {
        zhashx_destroy(&gw->limits->ips);
        zhashx_destroy(&gw->limits->users);
        free(gw->limits);
        gw->limits = NULL;
        return -1;
    }
    zhashx_set_destructor(gw->limits->ips, s_entry_free);
    zhashx_set_destructor(gw->limits->users, s_dm_entry_free);
    return 0;
}

void gw_limits_fini(gw_t *gw)
{
    if (!gw->limits)
        return;
    zhashx_destroy(&gw->limits->ips);
    zhashx_destroy(&gw->limits->users);
    free(gw->limits);
    gw->limits = NULL;
}

void gw_limits_tick(gw_t *gw)
{
    gw_limits_t *lim = gw->limits;
    if (!lim)
        return;
    uint64_t now = uv_now(&gw->loop);
    zlist_t *drop = NULL;
    for (ip_entry_t *e = zhashx_first(lim->ips); e; e = zhashx_next(lim->ips)) {
        if (e->conns == 0 &&
            gw_bucket_full(&e->login, gw->cfg.login_burst, gw->cfg.login_per_sec, now)) {
            if (!drop && !(drop = zlist_new()))
                return;
            zlist_append(drop, e->ip);
        }
    }
    if (drop) {
        /* the keys live in the entries: delete one at a time, reading the key first */
        for (char *ip = zlist_first(drop); ip; ip = zlist_next(drop)) {
            char key[INET6_ADDRSTRLEN];
            snprintf(key, sizeof key, "%s", ip);
            zhashx_delete(lim->ips, key);
        }
        zlist_destroy(&drop);
    }
    /* dm budgets that are full again: nothing to remember */
    for (dm_entry_t *e = zhashx_first(lim->users); e; e = zhashx_next(lim->users)) {
        if (s_dm_tokens(gw, e, now) >= s_dm_burst(gw, e)) {
            if (!drop && !(drop = zlist_new()))
                return;
            zlist_append(drop, e->key);
        }
    }
    if (!drop)
        return;
    for (char *u = zlist_first(drop); u; u = zlist_next(drop)) {
        char key[sizeof((dm_entry_t *)0)->key];
        snprintf(key, sizeof key, "%s", u);
        zhashx_delete(lim->users, key);
    }
    zlist_destroy(&drop);
}

/* ---- addresses and trusted proxies ------------------------------------------------- */

/* Parse a numeric IPv4/IPv6 address (an IPv4-mapped IPv6 one becomes IPv4). */
static bool s_addr_parse(const char *s, int *family, unsigned char out[16])
{
    if (inet_pton(AF_INET, s, out) == 1) {
        *family = AF_INET;
        return true;
    }
    if (inet_pton(AF_INET6, s, out) == 1) {
        static const unsigned char mapped[12] = {0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0xff, 0xff};
        if (!memcmp(out, mapped, 12)) {
            memmove(out, out + 12, 4);
            *family = AF_INET;
        } else {
            *family = AF_INET6;
        }
        return true;
    }
    return false;
}

int gw_cidr_parse(const char *text, gw_cidr_t **arr, int *n)
{
    char buf[INET6_ADDRSTRLEN + 8];
    if (strlen(text) >= sizeof buf)
        return -1;
    snprintf(buf, sizeof buf, "%s", text);
    gw_cidr_t c = {0};
    int max;
    char *slash = strchr(buf, '/');
    if (slash)
        *slash = '\0';
    if (!s_addr_parse(buf, &c.family, c.addr))
        return -1;
    max = c.family == AF_INET ? 32 : 128;
    c.bits = max;
    if (slash) {
        char *end;
        long b = strtol(slash + 1, &end, 10);
        if (!slash[1] || *end || b < 0 || b > max)
            return -1;
        c.bits = (int)b;
    }
    gw_cidr_t *a = realloc(*arr, (size_t)(*n + 1) * sizeof *a);
    if (!a)
        return -1;
    *arr = a;
    a[(*n)++] = c;
    return 0;
}

bool gw_limits_trusted(const gw_t *gw, const char *ip)
{
    int fam;
    unsigned char a[16];
    if (!gw->cfg.ntrusted || !s_addr_parse(ip, &fam, a))
        return false;
    for (int i = 0; i < gw->cfg.ntrusted; i++) {
        const gw_cidr_t *c = &gw->cfg.trusted[i];
        if (c->family != fam)
            continue;
        int full = c->bits / 8, rest = c->bits % 8;
        if (memcmp(a, c->addr, (size_t)full) != 0)
            continue;
        if (rest && ((a[full] ^ c->addr[full]) & (0xff << (8 - rest)) & 0xff))
            continue;
        return true;
    }
    return false;
}

/* The canonical text of a numeric address (e.g. "::ffff:1.2.3.4" -> "1.2.3.4"); an
 * X-Forwarded-For entry may be "[v6]", "[v6]:port" or "v4:port". false if not one. */
static bool s_addr_canon(const char *in, size_t len, char *out, size_t size)
{
    char buf[INET6_ADDRSTRLEN + 16];
    while (len && (*in == ' ' || *in == '\t'))
        in++, len--;
    while (len && (in[len - 1] == ' ' || in[len - 1] == '\t'))
        len--;
    if (!len || len >= sizeof buf)
        return false;
    memcpy(buf, in, len);
    buf[len] = '\0';
    char *a = buf;
    if (*a == '[') {
        char *close = strchr(a, ']');
        if (!close || (close[1] && close[1] != ':'))
            return false;
        *close = '\0';
        a++;
    } else {
        char *colon = strchr(a, ':');
        if (colon && !strchr(colon + 1, ':'))
            *colon = '\0'; /* v4:port */
    }
    int fam;
    unsigned char bin[16];
    if (!s_addr_parse(a, &fam, bin))
        return false;
    return inet_ntop(fam, bin, out, (socklen_t)size) != NULL;
}

/* Numeric peer address of fd into buf; false if unknown. */
static bool s_peer_ip(int fd, char *buf, size_t size)
{
    struct sockaddr_storage ss;
    socklen_t sl = sizeof ss;
    if (fd < 0 || getpeername(fd, (struct sockaddr *)&ss, &sl) != 0)
        return false;
    char tmp[INET6_ADDRSTRLEN];
    const void *a;
    if (ss.ss_family == AF_INET)
        a = &((struct sockaddr_in *)&ss)->sin_addr;
    else if (ss.ss_family == AF_INET6)
        a = &((struct sockaddr_in6 *)&ss)->sin6_addr;
    else
        return false;
    if (!inet_ntop(ss.ss_family, a, tmp, sizeof tmp))
        return false;
    return s_addr_canon(tmp, strlen(tmp), buf, size);
}

/* The client address of the current HTTP request on wsi (see the top of the file). */
static void s_client_addr(gw_t *gw, struct lws *wsi, const gw_conn_t *c, char *out, size_t size)
{
    snprintf(out, size, "%s", c->addr);
    if (!c->trusted)
        return;
    int len = lws_hdr_total_length(wsi, WSI_TOKEN_X_FORWARDED_FOR);
    if (len <= 0)
        return;
    char *xff = malloc((size_t)len + 1);
    if (!xff)
        return;
    if (lws_hdr_copy(wsi, xff, len + 1, WSI_TOKEN_X_FORWARDED_FOR) < 0) {
        free(xff);
        return;
    }
    size_t end = strlen(xff);
    while (end > 0) {
        size_t start = end;
        while (start > 0 && xff[start - 1] != ',')
            start--;
        char hop[INET6_ADDRSTRLEN];
        if (!s_addr_canon(xff + start, end - start, hop, sizeof hop))
            break; /* not an address: the last good hop stands */
        snprintf(out, size, "%s", hop);
        if (!gw_limits_trusted(gw, hop))
            break;
        end = start ? start - 1 : 0;
    }
    free(xff);
}

/* The entry of ip, created if absent (NULL when the table is full or OOM). */
static ip_entry_t *s_entry(gw_limits_t *lim, const char *ip)
{
    ip_entry_t *e = zhashx_lookup(lim->ips, ip);
    if (e)
        return e;
    if (zhashx_size(lim->ips) >= GW_IP_TABLE_MAX)
        return NULL;
    e = calloc(1, sizeof *e);
    if (!e)
        return NULL;
    snprintf(e->ip, sizeof e->ip, "%s", ip);
    if (zhashx_insert(lim->ips, e->ip, e) != 0) {
        free(e);
        return NULL;
    }
    return e;
}

static void s_refuse_log(gw_t *gw, const char *ip, const char *why)
{
    uint64_t sup;
    if (s_log_gate(&gw->limits->conn_log, uv_now(&gw->loop), &sup))
        pl_warn("connection from %s refused: %s (%llu more refusals not logged)", ip, why,
                (unsigned long long)sup);
}

gw_conn_t *gw_limits_conn_new(const char *addr)
{
    gw_conn_t *c = calloc(1, sizeof *c);
    if (c) {
        snprintf(c->addr, sizeof c->addr, "%s", addr);
        c->start_ms = pl_mono_ms();
    }
    return c;
}

void gw_limits_conn_free(gw_conn_t **c_p)
{
    if (!c_p || !*c_p)
        return;
    gw_conn_t *c = *c_p;
    if (c->e && c->e->conns > 0)
        c->e->conns--;
    free(c);
    *c_p = NULL;
}

/* Count c against the entry of ip (it holds no entry yet). 0, or -1 when over the cap. */
static int s_conn_count(gw_t *gw, gw_conn_t *c, const char *ip)
{
    gw_limits_t *lim = gw->limits;
    ip_entry_t *e = s_entry(lim, ip);
    if (!e) {
        s_refuse_log(gw, ip, "too many client addresses tracked");
        return -1;
    }
    int max = gw->cfg.max_conns_per_ip;
    if (max > 0 && e->conns >= max) {
        char why[64];
        snprintf(why, sizeof why, "%d connections from this address", e->conns);
        s_refuse_log(gw, ip, why);
        return -1;
    }
    e->conns++;
    c->e = e;
    return 0;
}

bool gw_limits_proxy_peer(gw_t *gw, int fd, char *ip, size_t size)
{
    return gw->limits && s_peer_ip(fd, ip, size) && gw_limits_trusted(gw, ip);
}

int gw_limits_conn_callback(struct lws *wsi, enum lws_callback_reasons reason, void *in)
{
    gw_t *gw = lws_context_user(lws_get_context(wsi));
    gw_limits_t *lim = gw->limits;
    if (!lim)
        return 0;
    char ip[INET6_ADDRSTRLEN];
    switch (reason) {
    case LWS_CALLBACK_FILTER_NETWORK_CONNECTION: {
        /* wsi is the listener, in the accepted fd: refusing here closes the fd at once */
        int fd = (int)(intptr_t)in;
        if (!s_peer_ip(fd, ip, sizeof ip))
            return 0; /* counted (or not) at instantiation */
        if (gw_limits_trusted(gw, ip))
            return 0; /* main.c hands it to proxy.c (gw_limits_proxy_peer) */
        ip_entry_t *e = zhashx_lookup(lim->ips, ip);
        int max = gw->cfg.max_conns_per_ip;
        if (e && max > 0 && e->conns >= max) {
            char why[64];
            snprintf(why, sizeof why, "%d connections from this address", e->conns);
            s_refuse_log(gw, ip, why);
            return 1;
        }
        return 0;
    }
    case LWS_CALLBACK_SERVER_NEW_CLIENT_INSTANTIATED: {
        gw_conn_t *c = gw->adopting; /* proxy.c: a connection whose PROXY header was read */
        gw->adopting = NULL;
        if (!c) {
            if (!s_peer_ip(lws_get_socket_fd(wsi), ip, sizeof ip))
                return 0; /* not a socket we can attribute: not counted */
            if (!(c = gw_limits_conn_new(ip)))
                return -1;
        }
        c->trusted = gw_limits_trusted(gw, c->addr);
        /* a trusted proxy's connection is counted at its WebSocket upgrade */
        if (!c->trusted && s_conn_count(gw, c, c->addr) != 0) {
            gw_limits_conn_free(&c);
            return -1;
        }
        lws_set_opaque_user_data(wsi, c);
        return 0;
    }
    case LWS_CALLBACK_FILTER_PROTOCOL_CONNECTION: {
        /* the WebSocket upgrade of a trusted proxy's connection: count its client */
        gw_conn_t *c = lws_get_opaque_user_data(wsi);
        if (!c || !c->trusted || c->e)
            return 0;
        s_client_addr(gw, wsi, c, ip, sizeof ip);
        return s_conn_count(gw, c, ip) != 0;
    }
    case LWS_CALLBACK_WSI_DESTROY: {
        gw_conn_t *c = lws_get_opaque_user_data(wsi);
        if (c) {
            lws_set_opaque_user_data(wsi, NULL);
            gw_limits_conn_free(&c);
        }
        return 0;
    }
    default:
        return 0;
    }
}

/* ---- login attempts ------------------------------------------------------------------- */

bool gw_limits_login_allowed(gw_http_req_t *r)
{
    gw_t *gw = r->gw;
    if (!gw->limits || !r->wsi)
        return true;
    gw_conn_t *c = lws_get_opaque_user_data(r->wsi);
    if (!c)
        return true; /* not attributed to an address (see SERVER_NEW_CLIENT_INSTANTIATED) */
    if (gw->cfg.login_burst <= 0 || gw->cfg.login_per_sec <= 0)
        return true; /* off */
    char ip[INET6_ADDRSTRLEN];
    s_client_addr(gw, r->wsi, c, ip, sizeof ip);
    ip_entry_t *e = s_entry(gw->limits, ip);
    if (!e)
        return false; /* the table is full: refuse, as for connections */
    uint64_t now = uv_now(&gw->loop);
    if (gw_bucket_take(&e->login, gw->cfg.login_burst, gw->cfg.login_per_sec, now))
        return true;
    uint64_t sup;
    if (s_log_gate(&gw->limits->login_log, now, &sup))
        pl_warn("%s from %s: rate limited (%llu more not logged)", r->path, e->ip,
                (unsigned long long)sup);
    return false;
}

/* ---- dm: user-existence answers --------------------------------------------------- */

/* The entry of prefix+name (NULL if absent and !create, or the table is full, or OOM). */
static dm_entry_t *s_dm_entry(gw_t *gw, char prefix, const char *name, bool create)
{
    gw_limits_t *lim = gw->limits;
    char key[sizeof((dm_entry_t *)0)->key];
    size_t nl = strnlen(name, sizeof key - 3); /* "%c:%s", truncated like snprintf */
    key[0] = prefix;
    key[1] = ':';
    memcpy(key + 2, name, nl);
    key[2 + nl] = '\0';
    dm_entry_t *e = zhashx_lookup(lim->users, key);
    if (e || !create)
        return e;
    if (zhashx_size(lim->users) >= GW_DM_TABLE_MAX || !(e = calloc(1, sizeof *e)))
        return NULL;
    snprintf(e->key, sizeof e->key, "%s", key);
    e->tokens = s_dm_burst(gw, e);
    e->at_ms = uv_now(&gw->loop);
    if (!(e->confirmed = zhashx_new()) || zhashx_insert(lim->users, e->key, e) != 0) {
        zhashx_destroy(&e->confirmed);
        free(e);
        return NULL;
    }
    return e;
}

/* A token left in e (absent: a full budget; at the table's bound: none). */
/* A budget set to 0 (burst or refill) is off, like every other limit. */
static bool s_dm_off(gw_t *gw, char prefix)
{
    return prefix == 'a' ? gw->cfg.dm_probe_ip_burst <= 0 || gw->cfg.dm_probe_ip_per_sec <= 0
                         : gw->cfg.dm_probe_burst <= 0 || gw->cfg.dm_probe_per_sec <= 0;
}

static bool s_dm_has_token(gw_t *gw, dm_entry_t *e, uint64_t now)
{
    if (e && s_dm_off(gw, e->key[0]))
        return true;
    if (!e)
        return zhashx_size(gw->limits->users) < GW_DM_TABLE_MAX;
    return s_dm_tokens(gw, e, now) >= 1.0;
}

bool gw_limits_dm_probe_allowed(gw_t *gw, const char *user, const char *ip, const char *other,
                                bool *confirmed)
{
    *confirmed = false;
    /* both budgets off (--dm-probe-burst 0 and --dm-probe-ip-burst 0 or their rates):
     * everything is allowed, and what is confirmed is never asked */
    if (!gw->limits || (s_dm_off(gw, 'u') && s_dm_off(gw, 'a')))
        return true;
    dm_entry_t *u = s_dm_entry(gw, 'u', user, false);
    if (u && zhashx_lookup(u->confirmed, other)) {
        *confirmed = true;
        return true;
    }
    uint64_t now = uv_now(&gw->loop);
    if ((s_dm_off(gw, 'u') || s_dm_has_token(gw, u, now)) &&
        (s_dm_off(gw, 'a') || s_dm_has_token(gw, s_dm_entry(gw, 'a', ip, false), now)))
        return true;
    uint64_t sup;
    if (s_log_gate(&gw->limits->dm_log, now, &sup))
        pl_info("%s from %s: dm user-existence answers rate limited (%llu more not logged)", user,
                ip, (unsigned long long)sup);
    return false;
}

void gw_limits_dm_probe_answer(gw_t *gw, const char *user, const char *ip, const char *other,
                               bool exists)
{
    if (!gw->limits)
        return;
    if (exists) {
        if (s_dm_off(gw, 'u') && s_dm_off(gw, 'a'))
            return; /* nothing is asked of it (gw_limits_dm_probe_allowed) */
        dm_entry_t *u = s_dm_entry(gw, 'u', user, false);
        if (!u) /* a full budget: everything is answered anyway */
            return;
        if (zhashx_size(u->confirmed) >= GW_DM_CONFIRMED_MAX)
            zhashx_purge(u->confirmed);
        zhashx_insert(u->confirmed, other, (void *)1);
        return;
    }
    uint64_t now = uv_now(&gw->loop);
    dm_entry_t *es[2] = {s_dm_entry(gw, 'u', user, true), s_dm_entry(gw, 'a', ip, true)};
    for (int i = 0; i < 2; i++) {
        if (!es[i] || s_dm_off(gw, es[i]->key[0]))
            continue; /* the next probe is refused (table full) or answered (out of memory) */
        s_dm_tokens(gw, es[i], now);
        if (es[i]->tokens > -GW_DM_DEBT_MAX)
            es[i]->tokens -= 1.0;
    }
}

/* ---- WebSocket sessions --------------------------------------------------------------- */

bool gw_limits_request_allowed(gw_session_t *s)
{
    gw_t *gw = s->gw;
    uint64_t now = uv_now(&gw->loop);
    if (gw_bucket_take(&s->rate, gw->cfg.rate_burst, gw->cfg.rate_per_sec, now))
        return true;
    uint64_t sup;
    if (gw->limits && s_log_gate(&gw->limits->rate_log, now, &sup))
        pl_info("session %llu (%s/%s): requests rate limited (%llu more not logged)",
                (unsigned long long)s->sid, s->user, s->device, (unsigned long long)sup);
    return false;
}

void gw_limits_session_start(gw_session_t *s)
{
    if (s->wsi && s->gw->cfg.auth_timeout_ms > 0)
        lws_set_timer_usecs(s->wsi, (lws_usec_t)s->gw->cfg.auth_timeout_ms * 1000);
}

void gw_limits_session_timer(gw_session_t *s)
{
    if (!s->wsi)
        return;
    if (s->state == SS_AUTHING) {
        /* an auth is in flight: its answer (bounded by --timeout) decides */
        lws_set_timer_usecs(s->wsi, 500 * 1000);
        return;
    }
    if (s->state != SS_NEW)
        return;
    pl_info("session %llu: no auth within %d ms from %s, closing 4401", (unsigned long long)s->sid,
            s->gw->cfg.auth_timeout_ms, s->peer);
    gw_pending_t *p = gw_session_pending_push(s);
    if (p) {
        static const char msg[] = "no auth within the deadline";
        gw_session_answer(s, p, gw_frame_error(NULL, PL_E_UNAUTHENTICATED, msg, sizeof msg - 1));
    }
    gw_session_close(s, 4401);
}

void gw_limits_request_restart(struct lws *wsi)
{
    gw_conn_t *c = lws_get_opaque_user_data(wsi);
    if (c)
        c->start_ms = pl_mono_ms();
}

void gw_limits_body_deadline(gw_t *gw, struct lws *wsi)
{
    gw_conn_t *c = lws_get_opaque_user_data(wsi);
    if (!c)
        return;
    int64_t spent = pl_mono_ms() - (int64_t)c->start_ms;
    int64_t left = ((int64_t)gw->cfg.http_timeout_s * 1000 - spent) / 1000; /* rounded down */
    lws_set_timeout(wsi, PENDING_TIMEOUT_HTTP_CONTENT, left > 1 ? (int)left : 1);
}
