/* parley-gateway — HTTP + WebSocket front of Parley (docs/internals.md "Processes").
 *
 * One libuv loop owns everything: libwebsockets runs on it as a foreign loop, the
 * ZeroMQ link (zlink.c) hooks into it with poll/check/prepare/idle watchers, Argon2id runs
 * on its thread pool. SIGTERM/SIGINT: stop the link (outstanding requests are answered
 * unavailable), destroy the lws context from inside the loop, close our handles, let
 * uv_run return, exit 0. */
#include "gw.h"
#include "gw_accounts.h"
#include "gw_frames.h"
#include "gw_http.h"
#include "gw_limits.h"
#include "gw_logout.h"
#include "gw_netio.h"
#include "gw_presence.h"
#include "gw_proxy.h"
#include "gw_push.h"
#include "gw_req.h"
#include "gw_sessions.h"
#include "gw_static.h"
#include "gw_ws.h"
#include "gw_zlink.h"
#include "pl_curve.h"
#include "pl_mem.h"
#include "pl_turn.h"

#include <errno.h>
#include <getopt.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>

static void s_usage(FILE *f)
{
    fprintf(f, "usage: parley-gateway [options]\n"
               "  --config FILE    read the [gateway] section of an INI file first (keys: these "
               "flags\n"
               "                   without --); flags given here override it\n"
               "  --port N         TCP port for HTTP and WebSocket (default 8080)\n"
               "  --bind ADDR      address to listen on (default 127.0.0.1)\n"
               "  --router EP      router front endpoint to connect (default "
               "tcp://127.0.0.1:7100)\n"
               "  --name NAME      gateway name for logs (default gw-<port>); the router knows\n"
               "                   the gateway by the name in its key\n"
               "  --curve-secret FILE  this gateway's CURVE key pair (parley-keygen --role "
               "gateway; FILE or FILE_secret). Required\n"
               "  --router-key FILE    the router's public key file. Required\n"
               "  --timeout MS     deadline of internal requests before `unavailable` "
               "(default 5000)\n"
               "  --presence-timeout MS  a session without frame or pong for MS is not live "
               "(default 30000)\n"
               "  --ping-interval MS     ping a session idle for MS (default: a third of the "
               "presence timeout, at most 10000)\n"
               "  --idle-close MS        close a socket silent (no frame, no pong) for MS "
               "(default: twice the presence timeout; 0: never)\n"
               "Limits (0 turns one off):\n"
               "  --rate-burst N         requests a WebSocket may send at once (default 1000)\n"
               "  --rate-per-sec N       refill of that budget per second (default 300)\n"
               "  --max-conns-per-ip N   concurrent HTTP+WebSocket connections per client "
               "address (default 256)\n"
               "  --login-burst N        POST /v1/users and /v1/sessions per client address at "
               "once (default 20)\n"
               "  --login-per-sec N      refill of that budget per second (default 5)\n"
               "  --dm-probe-burst N     dm: requests answered not_found (no such user) per "
               "user at once (default 20)\n"
               "  --dm-probe-per-sec N   refill of that budget per second (default 5)\n"
               "  --dm-probe-ip-burst N  the same per client address (default 20)\n"
               "  --dm-probe-ip-per-sec N refill of that budget per second (default 5; 0 turns a\n"
               "                         dm-probe budget off)\n"
               "  --auth-timeout MS      close a WebSocket without auth after MS (default "
               "10000)\n"
               "  --http-timeout S       close an HTTP connection idle for S seconds, 1.. (default "
               "10)\n"
               "  --trusted-proxies LIST CIDR blocks of reverse proxies (comma list, repeatable; "
               "default none):\n"
               "                         their X-Forwarded-For / PROXY header names the client\n"
               "  --push-allow PREFIX    URL prefix allowed for push targets (comma list, "
               "repeatable;\n"
               "                         none: push_register is forbidden)\n"
               "  --vapid-key FILE       P-256 private key (PEM) whose public key GET "
               "/v1/push/vapid serves\n"
               "  --mem-budget MIB       queued output + pending answers of all sockets before "
               "the biggest are dropped (default 1024)\n"
               "  --socket-budget MIB    the same per socket before its rx pauses (default 32)\n"
               "  --web-root DIR         folder of the web client served at / (default: the "
               "source tree's web/; \"\" serves none)\n"
               "  --help           this text\n"
               "Logs go to stderr; PARLEY_LOG=debug|info|warn|error (default info).\n");
    fprintf(f, "Abuse (docs/reliability.md):\n"
               "  --allowed-origins LIST Origin allow-list of WebSocket upgrades (comma list,\n"
               "                         repeatable; unset: any; no Origin: allowed; else 403)\n"
               "  (--http-timeout also bounds half-sent requests and handshakes: slowloris)\n"
               "  --event-queue-kib N    events queued for a socket that does not read before\n"
               "                         it is closed 1008 (default 2048; 0: off)\n");
}

static bool s_int_arg(const char *s, long min, long max, int *out)
{
    char *end;
    errno = 0;
    long v = strtol(s, &end, 10);
    if (errno || *end || end == s || v < min || v > max)
        return false;
    *out = (int)v;
    return true;
}

/* Free the strings of a list and empty it (the array stays). */
static void s_list_clear(const char ***arr, int *n)
{
    for (int i = 0; i < *n; i++)
        free((char *)(*arr)[i]);
    *n = 0;
}

/* Append the comma-separated items of list to *arr, each trimmed and copied (freed by
 * s_list_clear, the array by free). false on an empty item or OOM. */
static bool s_list_add(const char ***arr, int *n, const char *list)
{
    const char *p = list;
    for (;;) {
        const char *end = strchr(p, ',');
        size_t len = end ? (size_t)(end - p) : strlen(p);
        while (len && (*p == ' ' || *p == '\t'))
            p++, len--;
        while (len && (p[len - 1] == ' ' || p[len - 1] == '\t'))
            len--;
        if (!len)
            return false;
        const char **a = realloc(*arr, (size_t)(*n + 1) * sizeof *a);
        if (!a)
            return false;
        *arr = a;
        if (!(a[*n] = strndup(p, len)))
            return false;
        (*n)++;
        if (!end)
            return true;
        p = end + 1;
    }
}

/* Append the comma-separated addresses / CIDR blocks of list to cfg->trusted. */
static bool s_cidr_list_add(struct gw_config *cfg, const char *list)
{
    const char **items = NULL;
    int n = 0;
    bool ok = s_list_add(&items, &n, list);
    for (int i = 0; ok && i < n; i++)
        ok = gw_cidr_parse(items[i], &cfg->trusted, &cfg->ntrusted) == 0;
    s_list_clear(&items, &n);
    free(items);
    return ok;
}

/* What s_parse_args allocated (after the loop, or when it failed). */
static void s_free_config(gw_t *gw)
{
    s_list_clear(&gw->cfg.push_allow, &gw->cfg.npush_allow);
    free(gw->cfg.push_allow);
    gw->cfg.push_allow = NULL;
    s_list_clear(&gw->cfg.origins, &gw->cfg.norigins);
    free(gw->cfg.origins);
    gw->cfg.origins = NULL;
    free(gw->cfg.trusted);
    gw->cfg.trusted = NULL;
    gw->cfg.ntrusted = 0;
    pl_args_destroy(&gw->args);
}

/* Returns 0 to run, 1 to exit 0 (--help), -1 to exit 2. The command line and the
 * [gateway] section of --config (pl_config.h: keys = these long flags) are parsed
 * together; cfg's strings point into gw->args, kept until exit (s_free_config). */
static int s_parse_args(int argc, char **argv, gw_t *gw)
{
    struct gw_config *cfg = &gw->cfg;
    static const struct option opts[] = {{"port", required_argument, NULL, 'p'},
                                         {"bind", required_argument, NULL, 'b'},
                                         {"router", required_argument, NULL, 'r'},
                                         {"name", required_argument, NULL, 'n'},
                                         {"timeout", required_argument, NULL, 't'},
                                         {"presence-timeout", required_argument, NULL, 'P'},
                                         {"ping-interval", required_argument, NULL, 'I'},
                                         {"idle-close", required_argument, NULL, 'i'},
                                         {"rate-burst", required_argument, NULL, 'B'},
                                         {"rate-per-sec", required_argument, NULL, 'R'},
                                         {"max-conns-per-ip", required_argument, NULL, 'C'},
                                         {"login-burst", required_argument, NULL, 'L'},
                                         {"login-per-sec", required_argument, NULL, 'l'},
                                         {"dm-probe-burst", required_argument, NULL, 'D'},
                                         {"dm-probe-per-sec", required_argument, NULL, 'd'},
                                         {"dm-probe-ip-burst", required_argument, NULL, 'E'},
                                         {"dm-probe-ip-per-sec", required_argument, NULL, 'e'},
                                         {"auth-timeout", required_argument, NULL, 'A'},
                                         {"http-timeout", required_argument, NULL, 'H'},
                                         {"push-allow", required_argument, NULL, 'W'},
                                         {"vapid-key", required_argument, NULL, 'V'},
                                         {"trusted-proxies", required_argument, NULL, 'T'},
                                         {"config", required_argument, NULL, 'c'},
                                         {"mem-budget", required_argument, NULL, 'M'},
                                         {"socket-budget", required_argument, NULL, 'S'},
                                         {"web-root", required_argument, NULL, 'w'},
                                         {"curve-secret", required_argument, NULL, 'Z'},
                                         {"router-key", required_argument, NULL, 'k'},
                                         {"allowed-origins", required_argument, NULL, 'O'},
                                         {"event-queue-kib", required_argument, NULL, 'Q'},
                                         {"help", no_argument, NULL, 'h'},
                                         {NULL, 0, NULL, 0}};
    cfg->port = 8080;
    cfg->bind = "127.0.0.1";
    cfg->router = "tcp://127.0.0.1:7100";
    cfg->timeout_ms = 5000;
    cfg->presence_timeout_ms = 30000;
    cfg->ping_interval_ms = 0;
    cfg->idle_close_ms = -1; /* default: twice the presence timeout */
    cfg->rate_burst = 1000;
    cfg->rate_per_sec = 300;
    cfg->max_conns_per_ip = 256;
    cfg->login_burst = 20;
    cfg->login_per_sec = 5;
    cfg->dm_probe_burst = 20;
    cfg->dm_probe_per_sec = 5;
    cfg->dm_probe_ip_burst = 20;
    cfg->dm_probe_ip_per_sec = 5;
    cfg->auth_timeout_ms = 10000;
    cfg->http_timeout_s = 10;
    if (!(gw->args = pl_args_new("parley-gateway", "gateway", argc, argv, opts)))
        return -1; /* the reason is printed */
    argc = pl_args_argc(gw->args);
    argv = pl_args_argv(gw->args);
    /* a list flag given on the command line replaces the file's list */
    bool push_cmdline = false, proxies_cmdline = false, origins_cmdline = false;
    int mem_budget_mib = 1024, socket_budget_mib = 32, event_queue_kib = 2048;
    cfg->web_root = PARLEY_WEB_ROOT;
    const char *name = NULL;
    int c, li = -1;
    while ((c = getopt_long(argc, argv, "", opts, &li)) != -1) {
        switch (c) {
        case 'p':
            if (!s_int_arg(optarg, 0, 65535, &cfg->port))
                goto bad;
            break;
        case 'b':
            cfg->bind = optarg;
            break;
        case 'r':
            cfg->router = optarg;
            break;
        case 'n':
            name = optarg;
            break;
        case 't':
            if (!s_int_arg(optarg, 1, INT_MAX, &cfg->timeout_ms))
                goto bad;
            break;
        case 'P':
            if (!s_int_arg(optarg, 500, INT_MAX, &cfg->presence_timeout_ms))
                goto bad;
            break;
        case 'i':
            if (!s_int_arg(optarg, 0, INT_MAX, &cfg->idle_close_ms))
                goto bad;
            break;
        case 'I':
            if (!s_int_arg(optarg, 100, INT_MAX, &cfg->ping_interval_ms))
                goto bad;
            break;
        /* the limits: 0 turns one off */
        case 'B':
            if (!s_int_arg(optarg, 0, 1000000000, &cfg->rate_burst))
                goto bad;
            break;
        case 'R':
            if (!s_int_arg(optarg, 0, 1000000000, &cfg->rate_per_sec))
                goto bad;
            break;
        case 'C':
            if (!s_int_arg(optarg, 0, 1000000000, &cfg->max_conns_per_ip))
                goto bad;
            break;
        case 'L':
            if (!s_int_arg(optarg, 0, 1000000000, &cfg->login_burst))
                goto bad;
            break;
        case 'l':
            if (!s_int_arg(optarg, 0, 1000000000, &cfg->login_per_sec))
                goto bad;
            break;
        case 'D':
            if (!s_int_arg(optarg, 0, 1000000000, &cfg->dm_probe_burst))
                goto bad;
            break;
        case 'd':
            if (!s_int_arg(optarg, 0, 1000000000, &cfg->dm_probe_per_sec))
                goto bad;
            break;
        case 'E':
            if (!s_int_arg(optarg, 0, 1000000000, &cfg->dm_probe_ip_burst))
                goto bad;
            break;
        case 'e':
            if (!s_int_arg(optarg, 0, 1000000000, &cfg->dm_probe_ip_per_sec))
                goto bad;
            break;
        case 'A':
            if (!s_int_arg(optarg, 0, 86400000, &cfg->auth_timeout_ms) ||
                (cfg->auth_timeout_ms > 0 && cfg->auth_timeout_ms < 100))
                goto bad;
            break;
        case 'H':
            if (!s_int_arg(optarg, 1, 86400, &cfg->http_timeout_s))
                goto bad;
            break;
        case 'W':
            if (!push_cmdline && pl_args_from_cmdline(gw->args)) {
                push_cmdline = true;
                s_list_clear(&cfg->push_allow, &cfg->npush_allow);
            }
            if (!s_list_add(&cfg->push_allow, &cfg->npush_allow, optarg))
                goto bad;
            break;
        case 'T':
            if (!proxies_cmdline && pl_args_from_cmdline(gw->args)) {
                proxies_cmdline = true;
                cfg->ntrusted = 0;
            }
            if (!s_cidr_list_add(cfg, optarg))
                goto bad;
            break;
        case 'V':
            cfg->vapid_key = optarg;
            break;
        case 'Q':
            if (!s_int_arg(optarg, 0, 1024 * 1024, &event_queue_kib))
                goto bad;
            break;
        case 'O':
            if (!origins_cmdline && pl_args_from_cmdline(gw->args)) {
                origins_cmdline = true;
                s_list_clear(&cfg->origins, &cfg->norigins);
            }
            if (!s_list_add(&cfg->origins, &cfg->norigins, optarg))
                goto bad;
            break;
        case 'c':
            break; /* read by pl_args_new */
        case 'M':
            if (!s_int_arg(optarg, 1, 1024 * 1024, &mem_budget_mib))
                goto bad;
            break;
        case 'S':
            if (!s_int_arg(optarg, 1, 1024 * 1024, &socket_budget_mib))
                goto bad;
            break;
        case 'w':
            cfg->web_root = optarg;
            break;
        case 'Z':
            cfg->curve_secret = optarg;
            break;
        case 'k':
            cfg->router_key = optarg;
            break;
        case 'h':
            s_usage(stdout);
            return 1;
        default:
            li = -1; /* getopt_long printed what is wrong */
            goto bad;
        }
        li = -1;
    }
    if (optind < argc)
        goto bad;
    cfg->mem_budget = (size_t)mem_budget_mib << 20;
    cfg->socket_budget = (size_t)socket_budget_mib << 20;
    cfg->event_queue = (size_t)event_queue_kib << 10;
    if (!cfg->curve_secret || !*cfg->curve_secret || !cfg->router_key || !*cfg->router_key) {
        fprintf(stderr, "parley-gateway: --curve-secret and --router-key are required "
                        "(docs/internals.md \"Security between roles\")\n");
        goto bad;
    }
    if (!cfg->ping_interval_ms)
        cfg->ping_interval_ms =
            cfg->presence_timeout_ms / 3 < 10000 ? cfg->presence_timeout_ms / 3 : 10000;
    if (cfg->idle_close_ms < 0)
        cfg->idle_close_ms =
            cfg->presence_timeout_ms < INT_MAX / 2 ? 2 * cfg->presence_timeout_ms : INT_MAX;
    if (name) {
        if (!*name || strlen(name) >= sizeof cfg->name)
            goto bad;
        snprintf(cfg->name, sizeof cfg->name, "%s", name);
    } else {
        snprintf(cfg->name, sizeof cfg->name, "gw-%d", cfg->port);
    }
    return 0;
bad:
    /* a value the flag rejects: one line naming the flag (and the file line it came from) */
    if (li >= 0)
        pl_args_bad_value(gw->args, opts[li].name, optarg, "see parley-gateway --help");
    else
        s_usage(stderr);
    return -1;
}

/* ---- lws glue ------------------------------------------------------------------------- */

static int s_callback(struct lws *wsi, enum lws_callback_reasons reason, void *user, void *in,
                      size_t len)
{
    switch (reason) {
    case LWS_CALLBACK_SERVER_NEW_CLIENT_INSTANTIATED:
        gw_netio_http_start(lws_get_socket_fd(wsi));
        return gw_limits_conn_callback(wsi, reason, in);
    case LWS_CALLBACK_WSI_DESTROY:
        gw_netio_forget(lws_get_socket_fd(wsi));
        return gw_limits_conn_callback(wsi, reason, in);
    case LWS_CALLBACK_FILTER_NETWORK_CONNECTION: {
        /* wsi is the listener, in the accepted fd: a trusted proxy's goes to proxy.c
         * (refused here: lws closes its fd, proxy.c keeps a duplicate) */
        char ip[64];
        int fd = (int)(intptr_t)in;
        gw_t *gw = lws_context_user(lws_get_context(wsi));
        if (gw_limits_proxy_peer(gw, fd, ip, sizeof ip))
            return gw_proxy_accept(gw, lws_get_vhost(wsi), fd, ip) == 0 ? 1 : 0;
        return gw_limits_conn_callback(wsi, reason, in);
    }
    case LWS_CALLBACK_FILTER_PROTOCOL_CONNECTION:
        if (gw_limits_conn_callback(wsi, reason, in))
            return 1;
        return gw_ws_callback(wsi, reason, user, in, len);
    case LWS_CALLBACK_TIMER: { /* the auth deadline (limits.c), a revoked token (logout.c) */
        struct gw_pss *pss = user;
        if (pss && pss->s && pss->s->wsi) {
            gw_limits_session_timer(pss->s);
            gw_logout_session_timer(pss->s);
        }
        return 0;
    }
    case LWS_CALLBACK_ESTABLISHED: {
        /* ws.c makes the session; limits.c arms its auth deadline */
        struct gw_pss *pss = user;
        int rc = gw_ws_callback(wsi, reason, user, in, len);
        if (rc == 0 && pss && pss->s)
            gw_limits_session_start(pss->s);
        return rc;
    }
    case LWS_CALLBACK_CLOSED: {
        /* sessions.c forgets it (LOC del, presence gone) before ws.c releases it */
        struct gw_pss *pss = user;
        if (pss && pss->s)
            gw_sessions_unregister(pss->s->gw, pss->s);
        return gw_ws_callback(wsi, reason, user, in, len);
    }
    case LWS_CALLBACK_RECEIVE: {
        /* presence.c first: a frame that wakes the session holds its answers in order */
        struct gw_pss *pss = user;
        if (pss && pss->s && pss->s->wsi && pss->s->state != SS_CLOSING)
            gw_presence_frame(pss->s);
        return gw_ws_callback(wsi, reason, user, in, len);
    }
    case LWS_CALLBACK_RECEIVE_PONG: {
        struct gw_pss *pss = user;
        if (pss && pss->s && pss->s->wsi)
            gw_presence_activity(pss->s);
        return 0;
    }
    case LWS_CALLBACK_SERVER_WRITEABLE:
        return gw_ws_callback(wsi, reason, user, in, len);
    default:
        pl_turn_count("http", 1);
        return gw_http_callback(wsi, reason, user, in, len);
    }
}

/* One protocol for both HTTP and WebSocket, so a client without a subprotocol binds here.
 * 4.1 has no LWS_PROTOCOL_LIST_TERM: the list ends with a zeroed entry. */
static const struct lws_protocols s_protocols[] = {
    {"parley", s_callback, sizeof(struct gw_pss), GW_LWS_RX_BUF, 0, NULL, 0},
    {NULL, NULL, 0, 0, 0, NULL, 0}};

static void s_lws_log(int level, const char *line)
{
    size_t n = strlen(line);
    while (n && (line[n - 1] == '\n' || line[n - 1] == '\r'))
        n--;
    pl_log(level & LLL_ERR ? PL_WARN : PL_DEBUG, "lws: %.*s", (int)n, line);
}

/* ---- loop callbacks ------------------------------------------------------------------- */

static void s_tick_cb(uv_timer_t *t)
{
    gw_t *gw = t->data;
    gw_sessions_tick(gw);
    gw_limits_tick(gw);
}

static void s_on_evt(gw_t *gw, const void *to, size_t to_len, const char *skip, const char *event,
                     size_t event_len)
{
    /* the shard's _revoke control event goes to logout.c, never to a client */
    if (gw_logout_is_control(event, event_len))
        gw_logout_revoke(gw, event, event_len);
    else
        gw_sessions_deliver(gw, to, to_len, skip, event, event_len);
}

static void s_on_snap(gw_t *gw)
{
    gw_sessions_snapshot(gw);
    gw_presence_snapshot(gw);
}

static void s_shutdown(gw_t *gw)
{
    if (gw->stopping)
        return;
    gw->stopping = true;
    pl_info("shutting down (%d sessions)", gw->nsessions);
    gw_presence_stop(gw); /* reports everyone offline while the link still runs */
    gw_proxy_stop(gw);
    gw_zlink_stop(gw->zl); /* answers outstanding requests while sockets still exist */
    gw_ws_flush_stop(gw);  /* gw->stopping: later writes go through WRITEABLE */
    /* first stage; lws closes its handles asynchronously and, through info.pcontext,
     * nulls gw->lws once it is wholly gone (else main finishes it after uv_run) */
    if (gw->lws)
        lws_context_destroy(gw->lws);
    uv_close((uv_handle_t *)&gw->sigterm, NULL);
    uv_close((uv_handle_t *)&gw->sigint, NULL);
    uv_close((uv_handle_t *)&gw->tick, NULL);
    /* Closing the watchers restored the default dispositions: a second SIGTERM/SIGINT
     * during the shutdown must not kill us before the clean exit. */
    signal(SIGTERM, SIG_IGN);
    signal(SIGINT, SIG_IGN);
}

static void s_signal_cb(uv_signal_t *h, int signum)
{
    pl_info("signal %d", signum);
    s_shutdown(h->data);
}

int main(int argc, char **argv)
{
    zsys_handler_set(NULL); /* before any czmq call: signals are ours */
    pl_log_init("gateway", PL_INFO);
    if (pl_mem_tune() != 0)
        pl_warn("mallopt refused: the allocator keeps its defaults");

    static gw_t gw_storage;
    gw_t *gw = &gw_storage;
    int rc = s_parse_args(argc, argv, gw);
    if (rc) {
        s_free_config(gw);
        return rc > 0 ? 0 : 2;
    }
    if (sodium_init() < 0) {
        pl_error("libsodium init failed");
        return 1;
    }
    if (gw_push_init(gw) != 0)
        return 1;
    if (uv_loop_init(&gw->loop) != 0) {
        pl_error("uv_loop_init failed");
        return 1;
    }
    if (gw_sessions_init(gw) != 0 || !(gw->known_users = zhashx_new()) ||
        gw_presence_init(gw) != 0 || gw_limits_init(gw) != 0 || gw_netio_init() != 0 ||
        gw_static_init(gw) != 0) {
        pl_error("out of memory");
        return 1;
    }

    uv_signal_init(&gw->loop, &gw->sigterm);
    uv_signal_init(&gw->loop, &gw->sigint);
    uv_timer_init(&gw->loop, &gw->tick);
    if (gw_ws_flush_start(gw) != 0) {
        pl_error("cannot start the write flush");
        return 1;
    }
    gw->sigterm.data = gw->sigint.data = gw->tick.data = gw;
    uv_signal_start(&gw->sigterm, s_signal_cb, SIGTERM);
    uv_signal_start(&gw->sigint, s_signal_cb, SIGINT);
    uv_timer_start(&gw->tick, s_tick_cb, 1000, 1000);
    signal(SIGPIPE, SIG_IGN);

    gw_zlink_handlers_t h = {s_on_evt, s_on_snap};
    char router_key[41];
    zcert_t *cert = pl_curve_load_secret(gw->cfg.curve_secret);
    if (!cert || pl_curve_load_public(gw->cfg.router_key, router_key) != 0) {
        zcert_destroy(&cert);
        rc = 1;
        goto fail_loop;
    }
    gw->zl = gw_zlink_new(gw, &gw->loop, gw->cfg.router, gw->cfg.name, gw->cfg.timeout_ms, h, cert,
                          router_key);
    zcert_destroy(&cert);
    if (!gw->zl) {
        pl_error("cannot set up the router link to %s", gw->cfg.router);
        rc = 1;
        goto fail_loop;
    }

    lws_set_log_level(LLL_ERR | LLL_WARN, s_lws_log);
    struct lws_context_creation_info info;
    memset(&info, 0, sizeof info);
    void *foreign[1] = {&gw->loop};
    info.port = gw->cfg.port;
    info.iface = gw->cfg.bind;
    info.protocols = s_protocols;
    info.options = LWS_SERVER_OPTION_LIBUV | LWS_SERVER_OPTION_VALIDATE_UTF8 |
                   LWS_SERVER_OPTION_DISABLE_IPV6 | LWS_SERVER_OPTION_EXPLICIT_VHOSTS;
    info.foreign_loops = foreign;
    /* reads of up to 256 KiB (netio.c feeds lws a discarded body in reads of this size);
     * the per-WebSocket buffer stays at GW_LWS_RX_BUF (the protocol's rx_buffer_size) */
    info.pt_serv_buf_size = GW_LWS_READ_SIZE;
    info.user = gw;
    info.pcontext = &gw->lws;
    /* No lws "validity" timers: lws 4.1 re-inserts a per-socket timer into one sorted list
     * on every frame received (lws_validity_confirmed, a walk of the whole list), which
     * with 10,000 idle sockets took 40 % of the gateway's CPU. The gateway pings idle
     * sockets itself and closes dead ones (--ping-interval, --idle-close, presence.c). */
    static const lws_retry_bo_t no_validity = {.secs_since_valid_ping = 0,
                                               .secs_since_valid_hangup = 0};
    info.retry_and_idle_policy = &no_validity;
    info.timeout_secs = (unsigned int)gw->cfg.http_timeout_s;
    info.timeout_secs_ah_idle = (unsigned int)gw->cfg.http_timeout_s; /* no request yet */
    gw->lws = lws_create_context(&info);
    /* an explicit vhost, because a failed bind of the default one is not fatal in 4.1 */
    if (!gw->lws || !lws_create_vhost(gw->lws, &info)) {
        pl_error("cannot listen on %s:%d", gw->cfg.bind, gw->cfg.port);
        rc = 1;
        goto fail_zlink;
    }
    gw_accounts_init(gw);
    pl_info("listening on %s:%d, router %s, name %s", gw->cfg.bind, gw->cfg.port, gw->cfg.router,
            gw->cfg.name);

    uv_run(&gw->loop, UV_RUN_DEFAULT);
    rc = 0;
    goto done;

fail_zlink:
    gw_zlink_stop(gw->zl);
    if (gw->lws) {
        lws_context_destroy(gw->lws);
        gw->lws = NULL;
    }
fail_loop:
    gw->stopping = true;
    gw_presence_stop(gw);
    gw_proxy_stop(gw);
    gw_ws_flush_stop(gw);
    uv_close((uv_handle_t *)&gw->sigterm, NULL);
    uv_close((uv_handle_t *)&gw->sigint, NULL);
    uv_close((uv_handle_t *)&gw->tick, NULL);
    uv_run(&gw->loop, UV_RUN_DEFAULT);
done:
    if (gw->lws) {
        lws_context_destroy(gw->lws); /* second stage, after the loop stopped */
        gw->lws = NULL;
        uv_run(&gw->loop, UV_RUN_DEFAULT);
    }
    if (uv_loop_close(&gw->loop) != 0)
        pl_warn("the loop still had handles at exit");
    gw_zlink_destroy(&gw->zl);
    gw_netio_fini(); /* after libzmq's threads ended */
    gw_sessions_fini(gw);
    gw_presence_fini(gw);
    gw_limits_fini(gw);
    gw_static_fini(gw);
    zhashx_destroy(&gw->known_users);
    gw_req_pool_free(); /* the pools last: everything above may still end requests */
    gw_ws_pools_free();
    gw_frames_pool_free();
    s_free_config(gw);
    pl_info("bye");
    return rc;
}
