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
 * Per-IP state is a table ip -> ip_entry_t. A connection holds its entry through the lws
 * opaque user data, set at SERVER_NEW_CLIENT_INSTANTIATED and released at WSI_DESTROY
 * (the same wsi survives the HTTP -> WebSocket upgrade). An entry without connections
 * stays until its login bucket is full again (the once-a-second sweep drops it), so
 * closing the connection does not reset the bucket.
 *
 * Everything here runs on the loop thread. Time is uv_now (ms). */
#include "gw.h"

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

/* ---- token bucket ------------------------------------------------------------------- */

bool gw_bucket_take(gw_bucket_t *b, int burst, int per_sec, uint64_t now_ms)
{
    if (!b->init) {
        b->init = true;
        b->tokens = burst;
        b->at_ms = now_ms;
    }
    if (now_ms > b->at_ms) {
        b->tokens += (double)(now_ms - b->at_ms) * per_sec / 1000.0;
        if (b->tokens > burst)
            b->tokens = burst;
        b->at_ms = now_ms;
    }
    if (b->tokens < 1.0)
        return false;
    b->tokens -= 1.0;
    return true;
}

/* True if the bucket would be full at now_ms (nothing to remember). */
static bool s_bucket_full(const gw_bucket_t *b, int burst, int per_sec, uint64_t now_ms)
{
    if (!b->init)
        return true;
    double t = b->tokens + (double)(now_ms - b->at_ms) * per_sec / 1000.0;
    return t >= burst;
}

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

int limits_init(gw_t *gw)
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

void limits_fini(gw_t *gw)
{
    if (!gw->limits)
        return;
    zhashx_destroy(&gw->limits->ips);
    zhashx_destroy(&gw->limits->users);
    free(gw->limits);
    gw->limits = NULL;
}

void limits_tick(gw_t *gw)
{
    gw_limits_t *lim = gw->limits;
    if (!lim)
        return;
    uint64_t now = uv_now(&gw->loop);
    zlist_t *drop = NULL;
    for (ip_entry_t *e = zhashx_first(lim->ips); e; e = zhashx_next(lim->ips)) {
        if (e->conns == 0 &&
            s_bucket_full(&e->login, gw->cfg.login_burst, gw->cfg.login_per_sec, now)) {
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

/* ---- per-IP connections ------------------------------------------------------------- */

/* Numeric peer address of fd into buf; false if unknown. */
static bool s_peer_ip(int fd, char *buf, size_t size)
{
    struct sockaddr_storage ss;
    socklen_t sl = sizeof ss;
    if (fd < 0 || getpeername(fd, (struct sockaddr *)&ss, &sl) != 0)
        return false;
    const void *a;
    if (ss.ss_family == AF_INET)
        a = &((struct sockaddr_in *)&ss)->sin_addr;
    else if (ss.ss_family == AF_INET6)
        a = &((struct sockaddr_in6 *)&ss)->sin6_addr;
    else
        return false;
    return inet_ntop(ss.ss_family, a, buf, (socklen_t)size) != NULL;
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

int limits_conn_callback(struct lws *wsi, enum lws_callback_reasons reason, void *in)
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
        ip_entry_t *e = zhashx_lookup(lim->ips, ip);
        if (e && e->conns >= gw->cfg.max_conns_per_ip) {
            char why[64];
            snprintf(why, sizeof why, "%d connections from this address", e->conns);
            s_refuse_log(gw, ip, why);
            return 1;
        }
        return 0;
    }
    case LWS_CALLBACK_SERVER_NEW_CLIENT_INSTANTIATED: {
        if (!s_peer_ip(lws_get_socket_fd(wsi), ip, sizeof ip))
            return 0; /* not a socket we can attribute: not counted */
        ip_entry_t *e = s_entry(lim, ip);
        if (!e) {
            s_refuse_log(gw, ip, "too many client addresses tracked");
            return -1;
        }
        if (e->conns >= gw->cfg.max_conns_per_ip) { /* a second check, if the filter missed */
            s_refuse_log(gw, ip, "connection limit of the address");
            return -1;
        }
        e->conns++;
        lws_set_opaque_user_data(wsi, e);
        return 0;
    }
    case LWS_CALLBACK_WSI_DESTROY: {
        ip_entry_t *e = lws_get_opaque_user_data(wsi);
        if (e) {
            lws_set_opaque_user_data(wsi, NULL);
            if (e->conns > 0)
                e->conns--;
        }
        return 0;
    }
    default:
        return 0;
    }
}

/* ---- login attempts ------------------------------------------------------------------- */

bool limits_login_allowed(http_req_t *r)
{
    gw_t *gw = r->gw;
    if (!gw->limits || !r->wsi)
        return true;
    ip_entry_t *e = lws_get_opaque_user_data(r->wsi);
    if (!e)
        return true; /* not attributed to an address (see SERVER_NEW_CLIENT_INSTANTIATED) */
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
    snprintf(key, sizeof key, "%c:%s", prefix, name);
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
static bool s_dm_has_token(gw_t *gw, dm_entry_t *e, uint64_t now)
{
    if (!e)
        return zhashx_size(gw->limits->users) < GW_DM_TABLE_MAX;
    return s_dm_tokens(gw, e, now) >= 1.0;
}

bool limits_dm_probe_allowed(gw_t *gw, const char *user, const char *ip, const char *other)
{
    if (!gw->limits)
        return true;
    dm_entry_t *u = s_dm_entry(gw, 'u', user, false);
    if (u && zhashx_lookup(u->confirmed, other))
        return true;
    uint64_t now = uv_now(&gw->loop);
    if (s_dm_has_token(gw, u, now) && s_dm_has_token(gw, s_dm_entry(gw, 'a', ip, false), now))
        return true;
    uint64_t sup;
    if (s_log_gate(&gw->limits->dm_log, now, &sup))
        pl_info("%s from %s: dm user-existence answers rate limited (%llu more not logged)", user,
                ip, (unsigned long long)sup);
    return false;
}

void limits_dm_probe_answer(gw_t *gw, const char *user, const char *ip, const char *other,
                            bool exists)
{
    if (!gw->limits)
        return;
    if (exists) {
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
        if (!es[i])
            continue; /* the next probe is refused (table full) or answered (out of memory) */
        s_dm_tokens(gw, es[i], now);
        if (es[i]->tokens > -GW_DM_DEBT_MAX)
            es[i]->tokens -= 1.0;
    }
}

/* ---- WebSocket sessions --------------------------------------------------------------- */

bool limits_request_allowed(session_t *s)
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

void limits_session_start(session_t *s)
{
    if (s->wsi)
        lws_set_timer_usecs(s->wsi, (lws_usec_t)s->gw->cfg.auth_timeout_ms * 1000);
}

void limits_session_timer(session_t *s)
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
    pending_t *p = session_pending_push(s);
    if (p) {
        static const char msg[] = "no auth within the deadline";
        session_answer(s, p, frame_error(NULL, PL_E_UNAUTHENTICATED, msg, sizeof msg - 1));
    }
    session_close(s, 4401);
}
