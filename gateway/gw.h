/* gw.h — the gateway's internal interfaces (docs/internals.md, PROTOCOL.md §1–3).
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

#include "pl_err.h"
#include "pl_hash.h"
#include "pl_log.h"
#include "pl_text.h"
#include "pl_time.h"

/* Limits. */
#define GW_HTTP_BODY_MAX (64 * 1024)         /* POST bodies (a password is at most 1024 bytes) */
#define GW_MAX_PENDING 256                   /* unanswered requests per socket before rx pauses */
#define GW_OUT_PAUSE (8 * 1024 * 1024)       /* queued output bytes per socket before rx pauses */
#define GW_OUT_CULL_BYTES (64 * 1024 * 1024) /* ... before the socket is dropped as too slow */
#define GW_OUT_CULL_COUNT 20000              /* queued frames before it is dropped */
#define GW_DEFER_MAX 64                      /* frames held while auth is in flight */
#define GW_KNOWN_USERS_MAX 100000            /* bounded cache of users known to exist */

typedef struct gw gw_t;
typedef struct gw_blob gw_blob_t;
typedef struct session session_t;
typedef struct http_req http_req_t;
typedef struct zlink zlink_t;
typedef struct gw_presence gw_presence_t;
typedef struct gw_limits gw_limits_t;

/* A token bucket (limits.c); zeroed = not started (full at first use). */
typedef struct {
    bool init;
    double tokens;
    uint64_t at_ms;
} gw_bucket_t;

/* ---- blob: an immutable, reference-counted frame shared by several queues -------------- */
struct gw_blob {
    int refs;
    size_t len;
    /* event frames from shards: where the conversation id sits in data (conv_len 0: an
     * answer, or an event without conv); set by sessions_deliver, see gw_blob_tag_conv */
    uint32_t conv_off, conv_len;
    char data[]; /* len bytes plus a NUL */
};
/* New blob with room for len bytes (data[len] = 0), refs 1; NULL on OOM. */
gw_blob_t *gw_blob_alloc(size_t len);
/* New blob holding a copy of data; NULL on OOM. */
gw_blob_t *gw_blob_new(const char *data, size_t len);
gw_blob_t *gw_blob_ref(gw_blob_t *self);
/* Tag an event frame with its conversation, read from the prefix every shard event has:
 * {"type":"<type>","conv":"<conv>", (no parsing of the rest). Untagged if it does not
 * match. */
void gw_blob_tag_conv(gw_blob_t *self);
/* Drops one reference, frees at zero, nulls *self_p. Idempotent. */
void gw_blob_unref(gw_blob_t **self_p);

/* ---- frames.c: building client frames ------------------------------------------------- */
/* {"type":"ok","id":<id_json>, ...members of body...}. body is a JSON object from a shard
 * (not re-parsed: only checked to begin with '{'). NULL if body is not an object / OOM. */
gw_blob_t *frame_ok_splice(const char *id_json, const char *body, size_t body_len);
/* {"type":"error"[,"id":<id_json>],"code":code,"message":msg}. id_json may be NULL;
 * msg need not be valid UTF-8 (then code is used as message). NULL on OOM. */
gw_blob_t *frame_error(const char *id_json, const char *code, const char *msg, size_t msg_len);
/* Serialise obj (compact) into a blob; NULL on failure. Does not take ownership. */
gw_blob_t *frame_dump(const json_t *obj);
/* Compact JSON text of obj, malloc'd (caller frees); NULL on failure. */
char *json_text(const json_t *obj, size_t *len_out);

/* ---- zlink.c: the ZeroMQ DEALER link to the router ------------------------------------ */
/* Answer to a REQ or HEALTH. Called exactly once per accepted request, on the loop thread,
 * never from inside zlink_request. status is "ok" or an error code; body/len the answer
 * body (not NUL-terminated in general; body[len] is readable and 0). */
typedef void(zlink_cb)(void *arg, const char *status, const char *body, size_t len);

typedef struct {
    /* ["EVT", to, skip, event] */
    void (*on_evt)(gw_t *gw, const char *to, size_t to_len, const char *skip, const char *event,
                   size_t event_len);
    /* ["SNAP"] */
    void (*on_snap)(gw_t *gw);
} zlink_handlers_t;

/* Create the DEALER socket (a CURVE client with cert, a copy of which zlink keeps, of
 * the router's public key server_key; the router knows this gateway by the name in
 * cert), connect to endpoint, start the watchers, the heartbeat and the deadline timer
 * on loop. A router silent for ROUTER_SILENT_MS (1.5 s; it sends HB every 500 ms) makes
 * zlink replace the socket by a new connection and ask for a LOC snapshot (on_snap).
 * NULL on failure. */
zlink_t *zlink_new(gw_t *gw, uv_loop_t *loop, const char *endpoint, const char *name,
                   int timeout_ms, zlink_handlers_t handlers, zcert_t *cert,
                   const char *server_key);
/* Answer every outstanding request with "unavailable", stop and uv_close the handles.
 * Call from a loop callback before lws_context_destroy; zlink_destroy after uv_run. */
void zlink_stop(zlink_t *self);
void zlink_destroy(zlink_t **self_p);
/* Send ["REQ", key, reqid, payload]. cb is always called later exactly once (with
 * "unavailable" if the send failed or nothing came back within the timeout). Returns 0,
 * or -1 only when out of memory or stopped (then cb is never called). */
int zlink_request(zlink_t *self, const char *key, const char *payload, size_t len, zlink_cb *cb,
                  void *arg);
/* Send ["HEALTH", reqid] with a 1 s deadline; cb gets status "ok" and body "1"/"0". */
int zlink_health(zlink_t *self, zlink_cb *cb, void *arg);
/* Send ["LOC", epoch, ++locseq, payload]. A failed send still consumes the locseq (shards
 * detect the gap from the next HB and ask for SNAP). */
void zlink_loc(zlink_t *self, const char *payload, size_t len);
/* Slot table from the last TABLE, or NULL if none yet. Owned by zlink. */
const pl_slots_t *zlink_table(zlink_t *self);

/* ---- sessions.c: who is connected here, LOC, EVT delivery ----------------------------- */
int sessions_init(gw_t *gw);
void sessions_fini(gw_t *gw);
/* Register an authenticated session under its user; sends LOC add at once if it is the
 * user's first session here (before the caller writes the auth ok). Returns 0 or -1. */
int sessions_register(gw_t *gw, session_t *s);
/* Before an auth's token_check: LOC add for user unless held here already (a del follows
 * at the next tick unless a session registers). The router relays the LOC before the
 * token_check, so once the auth ok is written every shard knows the location, and a
 * request the client sends next through any gateway finds it there. */
void sessions_announce(gw_t *gw, const char *user);
/* Remove a session (no-op if not registered); a user's last session queues a LOC del. */
void sessions_unregister(gw_t *gw, session_t *s);
/* Once a second: send the batched LOC dels. */
void sessions_tick(gw_t *gw);
/* SNAP: send LOC full with every user held here. */
void sessions_snapshot(gw_t *gw);
/* EVT: push event to every authenticated session of the users in to (JSON array), except
 * the one whose "<user>/<device>" equals skip. */
void sessions_deliver(gw_t *gw, const char *to, size_t to_len, const char *skip, const char *event,
                      size_t event_len);

/* ---- ws.c: WebSocket sessions ---------------------------------------------------------- */
enum session_state { SS_NEW, SS_AUTHING, SS_AUTHED, SS_CLOSING };

typedef struct pending {
    struct pending *next;
    bool done;
    gw_blob_t *frame; /* the answer, once done */
} pending_t;

typedef struct outq_item {
    struct outq_item *next;
    gw_blob_t *blob;
} outq_item_t;

typedef struct deferred {
    struct deferred *next;
    bool binary;
    size_t len;
    char data[];
} deferred_t;

struct session {
    int refs;
    gw_t *gw;
    struct lws *wsi; /* NULL once closed */
    uint64_t sid;
    enum session_state state;
    char user[33];
    char device[65];
    char peer[64];
    /* sessions.c: list of this user's sessions */
    session_t *uprev, *unext;
    bool registered;
    /* rx reassembly */
    char *rx;
    size_t rx_len, rx_cap;
    bool rx_started, rx_binary, rx_oversize, rx_paused, in_rx;
    /* frames that arrived while auth was in flight */
    deferred_t *dhead, *dtail;
    int ndeferred;
    /* answers in request order */
    pending_t *phead, *ptail;
    int npending;
    /* frames to write; ooff: bytes of the head already written */
    outq_item_t *ohead, *otail;
    size_t obytes, ooff;
    int ocount;
    int close_code; /* close after the queue drains (0: no) */
    bool close_sent;
    /* presence.c: liveness (times are uv_now ms); list of authenticated sessions */
    struct pres_user *pu;
    session_t *pprev, *pnext;
    uint64_t last_active, last_ping;
    bool live, ping_due;
    /* limits.c: request rate of this socket */
    gw_bucket_t rate;
};

session_t *session_ref(session_t *s);
void session_unref(session_t **s_p);
/* Append an unanswered entry to the FIFO; NULL on OOM. */
pending_t *session_pending_push(session_t *s);
/* Fill p with frame (takes ownership; NULL frame = internal error) and write every
 * completed answer at the head of the FIFO. Safe after close (frame is dropped). */
void session_answer(session_t *s, pending_t *p, gw_blob_t *frame);
/* Queue an event frame (takes a new reference on b). Culls the session if too slow. */
void session_push_event(session_t *s, gw_blob_t *b);
/* Drop every queued, not yet started event frame tagged with conv (groups: a removed
 * member loses access at once). Answers and a frame already partly written stay. */
void session_drop_conv(session_t *s, const char *conv, size_t conv_len);
/* Write what is queued, then close with code (4401, 1009, ...). */
void session_close(session_t *s, int code);
/* Auth finished (state already set by the caller): resume rx, replay deferred frames. */
void session_auth_finished(session_t *s);
/* Per-connection data lws allocates for our one protocol (HTTP and WebSocket). */
struct gw_pss {
    session_t *s;  /* WebSocket: the session (one reference) */
    http_req_t *r; /* HTTP: the current transaction (one reference) */
};
/* lws callback for the WebSocket reasons. */
int ws_callback(struct lws *wsi, enum lws_callback_reasons reason, void *user, void *in,
                size_t len);

/* ---- requests.c / convs.c: client frames ----------------------------------------------- */
/* One complete client message (text or binary). s is alive and not closing. */
void requests_frame(session_t *s, const char *data, size_t len, bool binary);
/* convs.c: answer the `convs` request of s into p (id_json copied). */
void convs_start(session_t *s, pending_t *p, const char *id_json);

/* ---- gather.c: one request per owning shard, merged in key order --------------------- */
typedef struct {
    const char *op;           /* the op sent to each shard */
    const char *prefix;       /* routing key prefix of a key: "c:" or "u:" */
    const char *list_field;   /* payload field holding that shard's keys */
    const char *answer_field; /* array field of the shards' answers and of the ok frame */
    const char *entry_key;    /* field of an entry naming its key */
} gather_spec_t;
/* Send spec->op with {"user": s->user, list_field: [keys of that shard]} to each shard
 * owning some of keys (a JSON array of strings, borrowed; a key repeated is asked once
 * and answered at every place), then answer p with {"type":"ok","id":..,answer_field:[the
 * entries in keys order; keys a shard left out are left out]}, or with the first error.
 * spec must outlive the request (static). */
void gather_start(session_t *s, pending_t *p, const char *id_json, const gather_spec_t *spec,
                  json_t *keys);
/* groups.c: group_create, group_add, group_remove (type is one of these). */
void groups_request(session_t *s, pending_t *p, const char *id_json, const char *type, json_t *req);
/* requests.c: send a REQ on behalf of a session's request; answer lands in p. The splice
 * of the ok body with id is done by the generic answer path. */

/* ---- presence.c: liveness, presence_report, the presence request ------------------- */
/* Start the liveness/report timer on gw->loop. 0 or -1. */
int presence_init(gw_t *gw);
/* Shutdown, before zlink_stop: close the timer, report every user offline (best effort). */
void presence_stop(gw_t *gw);
/* After the loop ended: free everything. */
void presence_fini(gw_t *gw);
/* An authenticated session starts counting (sessions_register). */
void presence_session_live(session_t *s);
/* Any received frame chunk or pong of s: it is live now. */
void presence_activity(session_t *s);
/* s closed or unregistered. */
void presence_session_gone(session_t *s);
/* SNAP: the next report carries "full". */
void presence_snapshot(gw_t *gw);
/* The `presence` request of s into p. */
void presence_request(session_t *s, pending_t *p, const char *id_json, json_t *req);

/* ---- limits.c: request rate, per-IP caps, auth deadline ------------------------------ */
int limits_init(gw_t *gw);
/* After the lws context is wholly destroyed (no WSI_DESTROY may follow). */
void limits_fini(gw_t *gw);
/* Once a second: forget addresses without connections whose login bucket is full. */
void limits_tick(gw_t *gw);
/* Take one token from b (burst, per_sec tokens a second, now in ms); false if none. */
bool gw_bucket_take(gw_bucket_t *b, int burst, int per_sec, uint64_t now_ms);
/* lws reasons FILTER_NETWORK_CONNECTION (in: the accepted fd), SERVER_NEW_CLIENT_
 * INSTANTIATED and WSI_DESTROY: per-IP connection count. Nonzero: refuse the connection. */
int limits_conn_callback(struct lws *wsi, enum lws_callback_reasons reason, void *in);
/* POST /v1/users or /v1/sessions: take a token of the client address; false: answer 429. */
bool limits_login_allowed(http_req_t *r);
/* A request of the authenticated session s: take a token; false: over the rate. */
bool limits_request_allowed(session_t *s);
/* WebSocket established: arm the auth deadline (an lws timer on s->wsi). */
void limits_session_start(session_t *s);
/* LWS_CALLBACK_TIMER of s: close it 4401 if still not authenticated. */
void limits_session_timer(session_t *s);

/* ---- http.c / accounts.c ------------------------------------------------------------- */
int http_callback(struct lws *wsi, enum lws_callback_reasons reason, void *user, void *in,
                  size_t len);

struct http_req {
    int refs;
    gw_t *gw;
    struct lws *wsi; /* NULL once the connection closed */
    char path[64];
    bool is_post;
    char *body;
    size_t body_len;
    bool body_too_big;
    bool chunked; /* Transfer-Encoding: chunked (no Content-Length) */
    /* chunked decoder state (http.c s_unchunk) */
    int ck_state;   /* http.c's CK_ values (0: expecting a size line), -1 after bad framing */
    size_t ck_left; /* bytes left in the current chunk / size being parsed */
    int ck_digits, ck_line;
    bool ck_ext; /* inside a chunk extension */
    /* response */
    bool resp_ready, resp_written;
    int status;
    char *resp;
    size_t resp_len;
};
http_req_t *http_req_ref(http_req_t *r);
void http_req_unref(http_req_t **r_p);
/* Set the response (body is a JSON text, copied) and schedule its write. */
void http_respond(http_req_t *r, int status, const char *body);
/* {"error":code,"message":msg} */
void http_respond_error(http_req_t *r, int status, const char *code, const char *msg);

/* accounts.c: POST /v1/users and POST /v1/sessions with the body in r. */
void accounts_create_user(http_req_t *r);
void accounts_login(http_req_t *r);
/* Start the one-off computation of the dummy hash used to equalise login timing. */
void accounts_init(gw_t *gw);

/* ---- push.c: push_register and GET /v1/push/vapid -------------------------------------- */
/* Load --vapid-key (if given) and keep its public key. 0, or -1 (logged): exit. */
int push_init(gw_t *gw);
/* GET /v1/push/vapid: 200 {"public_key"} or 503 unavailable without a key. */
void push_vapid_http(http_req_t *r);
/* The `push_register` request of s into p. */
void push_register(session_t *s, pending_t *p, const char *id_json, json_t *req);

/* ---- the process ----------------------------------------------------------------------- */
struct gw_config {
    int port;
    const char *bind;
    const char *router;
    char name[128];
    int timeout_ms;
    int presence_timeout_ms; /* --presence-timeout */
    int ping_interval_ms;    /* --ping-interval */
    int rate_burst;          /* --rate-burst: requests per socket at once */
    int rate_per_sec;        /* --rate-per-sec: refill of that bucket */
    int max_conns_per_ip;    /* --max-conns-per-ip */
    int login_burst;         /* --login-burst: POST /v1/users|sessions per IP at once */
    int login_per_sec;       /* --login-per-sec */
    int auth_timeout_ms;     /* --auth-timeout */
    int http_timeout_s;      /* --http-timeout: lws timeout_secs (idle HTTP, handshakes) */
    const char **push_allow; /* --push-allow (repeatable): URL prefixes for push targets */
    int npush_allow;
    const char *vapid_key;    /* --vapid-key: PEM file, or NULL */
    const char *curve_secret; /* --curve-secret: this gateway's key pair (required) */
    const char *router_key;   /* --router-key: the router's public key file (required) */
};

struct gw {
    uv_loop_t loop;
    struct lws_context *lws;
    zlink_t *zl;
    struct gw_config cfg;
    /* sessions.c */
    zhashx_t *users;   /* user -> struct user_entry */
    zhashx_t *loc_del; /* users gone since the last tick */
    uint64_t next_sid;
    int nsessions;
    /* requests.c */
    zhashx_t *known_users; /* set of users known to exist */
    /* presence.c */
    gw_presence_t *pres;
    /* limits.c */
    gw_limits_t *limits;
    /* push.c: base64url of the VAPID public key; empty without --vapid-key */
    char vapid_public[96];
    /* accounts.c */
    char dummy_hash[crypto_pwhash_STRBYTES];
    bool dummy_ready;
    /* main.c */
    uv_signal_t sigterm, sigint;
    uv_timer_t tick;
    bool stopping;
};

#endif
