/* gw.h — the gateway process: its limits, its configuration and its context gw_t (main.c
 * owns it; docs/internals.md "Module map"). Each module's interface is in its own
 * gw_<module>.h; this header includes none of them.
 *
 * One process, one libuv loop, one thread: every function here runs on the loop thread
 * unless its comment says otherwise (only the Argon2id work in accounts.c runs on libuv's
 * thread pool, and it touches nothing but its own work item).
 *
 * Lifetimes: sessions (WebSocket connections) and HTTP requests are reference counted,
 * because answers from the router and the thread pool may arrive after the client went
 * away. The lws connection holds one reference until LWS_CALLBACK_CLOSED*; every
 * outstanding operation holds one more. After close, `wsi` is NULL and the object is only
 * kept alive for those operations, which then drop their results. */
#ifndef GW_H
#define GW_H

#include <uv.h> /* before libwebsockets.h */
#include <libwebsockets.h>
#include <czmq.h>
#include <jansson.h>
#include <sodium.h>
#include <stdbool.h>
#include <stdint.h>

#include "pl_config.h"
#include "pl_err.h"
#include "pl_hash.h"
#include "pl_msg.h"
#include "pl_ops.h"
#include "pl_log.h"
#include "pl_text.h"
#include "pl_time.h"

/* Limits. */
#define GW_HTTP_BODY_MAX (64 * 1024)         /* POST bodies (a password is at most 1024 bytes) */
#define GW_MAX_PENDING 256                   /* unanswered requests per socket before rx pauses */
#define GW_OUT_PAUSE (8 * 1024 * 1024)       /* queued output bytes per socket before rx pauses */
#define GW_OUT_CULL_BYTES (64 * 1024 * 1024) /* ... before the socket is dropped as too slow */
#define GW_OUT_CULL_COUNT 20000              /* queued frames before it is dropped */
#define GW_STALL_MS                                                                                \
    2000 /* no write progress this long: a reader over --event-queue-kib is stalled */
#define GW_DEFER_MAX 64               /* frames held while auth is in flight */
#define GW_REVOKE_WAIT_MS 500         /* a revoked socket waits this long for answers */
#define GW_KNOWN_USERS_MAX 100000     /* bounded cache of users known to exist */
#define GW_LWS_READ_SIZE (256 * 1024) /* lws's read size (pt_serv_buf_size) */
#define GW_LWS_RX_BUF 4096            /* lws's per-WebSocket rx buffer (its default) */
/* lws 4.1 expects this many body bytes for a POST without Content-Length (server.c,
 * lws_http_action); netio.c relies on it for requests with a chunked body */
#define GW_LWS_POST_BODY ((uint64_t)100 * 1024 * 1024)
#define GW_HTTP_CHUNKED_MAX (64 * 1024 * 1024) /* raw bytes of a chunked body (framing too) */

typedef struct gw gw_t;
typedef struct gw_session gw_session_t;
typedef struct gw_http_req gw_http_req_t;
typedef struct gw_presence gw_presence_t;
typedef struct gw_limits gw_limits_t;
typedef struct gw_conn gw_conn_t;
typedef struct gw_proxy gw_proxy_t;
typedef struct gw_static gw_static_t;
typedef struct gw_zlink gw_zlink_t;

/* A block of --trusted-proxies. */
typedef struct gw_cidr {
    int family; /* AF_INET or AF_INET6 */
    unsigned char addr[16];
    int bits;
} gw_cidr_t;

/* Per-connection data lws allocates for our one protocol (HTTP and WebSocket). */
struct gw_pss {
    gw_session_t *s;  /* WebSocket: the session (one reference) */
    gw_http_req_t *r; /* HTTP: the current transaction (one reference) */
};

struct gw_config {
    int port;
    const char *bind;
    const char *router;
    char name[128];
    int timeout_ms;
    int presence_timeout_ms; /* --presence-timeout */
    int idle_close_ms;       /* --idle-close: close a socket silent this long (0: never) */
    int ping_interval_ms;    /* --ping-interval */
    int rate_burst;          /* --rate-burst: requests per socket at once */
    int rate_per_sec;        /* --rate-per-sec: refill of that bucket */
    int max_conns_per_ip;    /* --max-conns-per-ip */
    int login_burst;         /* --login-burst: POST /v1/users|sessions per IP at once */
    int login_per_sec;       /* --login-per-sec */
    int dm_probe_burst;      /* --dm-probe-burst: dm: not_found answers per user at once */
    int dm_probe_per_sec;    /* --dm-probe-per-sec */
    int dm_probe_ip_burst;   /* --dm-probe-ip-burst: the same per client address */
    int dm_probe_ip_per_sec; /* --dm-probe-ip-per-sec */
    int auth_timeout_ms;     /* --auth-timeout */
    int http_timeout_s;      /* --http-timeout: lws timeout_secs (idle HTTP, handshakes) */
    const char **push_allow; /* --push-allow (repeatable): URL prefixes for push targets */
    int npush_allow;
    const char *vapid_key; /* --vapid-key: PEM file, or NULL */
    gw_cidr_t *trusted;    /* --trusted-proxies */
    int ntrusted;
    size_t mem_budget;        /* --mem-budget (MiB): queued output + pending answers, all sockets */
    size_t socket_budget;     /* --socket-budget (MiB): the same per socket, before rx pauses */
    const char *web_root;     /* --web-root: folder of the web client; "" serves none */
    const char *curve_secret; /* --curve-secret: this gateway's key pair (required) */
    const char *router_key;   /* --router-key: the router's public key file (required) */
    const char **origins;     /* --allowed-origins (comma list, repeatable); none: any Origin */
    size_t event_queue;       /* --event-queue-kib (bytes): events queued per socket; 0: off */
    int norigins;
};

struct gw {
    uv_loop_t loop;
    struct lws_context *lws;
    gw_zlink_t *zl;
    struct gw_config cfg;
    /* sessions.c */
    zhashx_t *users;   /* user -> struct user_entry */
    zhashx_t *loc_del; /* users gone since the last tick */
    uint64_t next_sid;
    int nsessions;
    /* budget.c: every WebSocket session not yet closed; bytes held for all of them */
    gw_session_t *all;
    size_t mem_used;
    size_t reserved; /* worst-case sizes of every request in flight (all sessions) */
    /* requests.c */
    zhashx_t *known_users; /* set of users known to exist */
    /* presence.c */
    gw_presence_t *pres;
    /* limits.c */
    gw_limits_t *limits;
    gw_conn_t *adopting; /* proxy.c -> limits.c: the connection being adopted now */
    /* proxy.c: sockets waiting for their PROXY header */
    gw_proxy_t *proxies;
    /* push.c: base64url of the VAPID public key; empty without --vapid-key */
    char vapid_public[96];
    /* static.c: the web client, NULL when not served */
    gw_static_t *st;
    /* accounts.c */
    char dummy_hash[crypto_pwhash_STRBYTES];
    bool dummy_ready;
    /* main.c: the parsed command line and config file (cfg's strings point into them) */
    pl_args_t *args;
    uv_signal_t sigterm, sigint;
    uv_prepare_t flush;       /* ws.c: end-of-turn writes */
    gw_session_t *flush_head; /* ws.c: sessions with frames to write this turn */
    uv_timer_t tick;
    bool stopping;
};

#endif
