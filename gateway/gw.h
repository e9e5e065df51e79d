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

#include "pl_config.h"
#include "pl_err.h"
#include "pl_hash.h"
#include "pl_msg.h"
#include "pl_ops.h"
#include "pl_log.h"
#include "pl_text.h"
#include "pl_time.h"

#include "gw_bucket.h" /* gw_bucket_t */
#include "gw_token.h"  /* gw_token_parse */
#include "gw_validate.h"

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
typedef struct gw_blob gw_blob_t;
typedef struct session session_t;
typedef struct http_req http_req_t;
typedef struct zlink zlink_t;
typedef struct gw_presence gw_presence_t;
typedef struct gw_limits gw_limits_t;
typedef struct order_gate order_gate_t;
typedef struct order_ticket order_ticket_t;
typedef struct gw_conn gw_conn_t;
typedef struct gw_proxy gw_proxy_t;
typedef struct gw_static gw_static_t;

/* ---- blob: an immutable, reference-counted frame shared by several queues -------------- */
struct gw_blob {
    int refs;
    size_t len;
    /* event frames from shards: where the conversation id sits in data (conv_len 0: an
     * answer, or an event without conv); set by sessions_deliver, see gw_blob_tag_conv */
    uint32_t conv_off, conv_len;
    int queued;  /* budget.c: out queues holding it (its bytes count once per gateway) */
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
    /* EVT[to, skip, event]: to the recipients as a pl_list (pl_msg.h), skip NUL-terminated,
     * event the bytes as received (borrowed: valid during the call) */
    void (*on_evt)(gw_t *gw, const void *to, size_t to_len, const char *skip, const char *event,
                   size_t event_len);
    /* SNAP */
    void (*on_snap)(gw_t *gw);
} zlink_handlers_t;

/* Create the DEALER socket (a CURVE client with cert, a copy of which zlink keeps, of
 * the router's public key server_key; the router knows this gateway by the name in
 * cert), connect to endpoint, start the watchers, the heartbeat and the deadline timer
 * on loop. A router silent for PL_ROUTER_SILENT_MS (1.5 s; it sends HB every 500 ms) makes
 * zlink replace the socket by a new connection and ask for a LOC snapshot (on_snap).
 * NULL on failure. */
zlink_t *zlink_new(gw_t *gw, uv_loop_t *loop, const char *endpoint, const char *name,
                   int timeout_ms, zlink_handlers_t handlers, zcert_t *cert,
                   const char *server_key);
/* Answer every outstanding request with "unavailable", stop and uv_close the handles.
 * Call from a loop callback before lws_context_destroy; zlink_destroy after uv_run. */
void zlink_stop(zlink_t *self);
void zlink_destroy(zlink_t **self_p);
/* Send REQ{op, reqid}[key, payload] (op from proto/pl_ops.def; payload its JSON body).
 * cb is always called later exactly once (with "unavailable" if the send failed or
 * nothing came back within the timeout). Returns 0, or -1 only when out of memory or
 * stopped (then cb is never called). */
int zlink_request(zlink_t *self, pl_op_t op, const char *key, const char *payload, size_t len,
                  zlink_cb *cb, void *arg);
/* The same as REQN{op, shard, reqid}[payload]: to shard number shard, whatever it owns.
 * The shard serves only what its slots hold (a presence_report's users of other shards
 * are ignored there). */
int zlink_request_shard(zlink_t *self, pl_op_t op, int shard, const char *payload, size_t len,
                        zlink_cb *cb, void *arg);
/* Send HEALTH{reqid} with a 1 s deadline; cb gets status "ok" and body "1"/"0". */
int zlink_health(zlink_t *self, zlink_cb *cb, void *arg);
/* Send LOC{epoch, ++locseq, FULL if full}[payload]. A failed send still consumes the
 * locseq (shards detect the gap from the next HB and ask for SNAP). */
void zlink_loc(zlink_t *self, bool full, const char *payload, size_t len);
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
/* The first of user's registered sessions here (follow s->unext), or NULL. */
session_t *sessions_of(gw_t *gw, const char *user);
/* Once a second: send the batched LOC dels. */
void sessions_tick(gw_t *gw);
/* SNAP: send LOC full with every user held here. */
void sessions_snapshot(gw_t *gw);
/* EVT: push event to every authenticated session of the users in to (a pl_list), except
 * the one whose "<user>/<device>" equals skip. A control event (logout_is_control) is
 * handed to logout_revoke instead and reaches no client. */
void sessions_deliver(gw_t *gw, const void *to, size_t to_len, const char *skip, const char *event,
                      size_t event_len);

/* ---- ws.c: WebSocket sessions ---------------------------------------------------------- */
enum session_state { SS_NEW, SS_AUTHING, SS_AUTHED, SS_CLOSING };

typedef struct pending {
    struct pending *next;
    bool done;
    size_t reserve;   /* budget.c: worst-case answer size counted in s->reserved until done */
    gw_blob_t *frame; /* the answer, once done */
} pending_t;

typedef struct outq_item {
    struct outq_item *next;
    gw_blob_t *blob;
    bool event; /* a pushed event (counted in ebytes), not an answer */
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
    char th[65]; /* hex SHA-256 of the token's secret (logout.c closes on revoke) */
    char peer[64];
    /* sessions.c: list of this user's sessions */
    session_t *uprev, *unext;
    bool registered;
    /* rx reassembly */
    char *rx;
    size_t rx_len, rx_cap;
    bool rx_started, rx_binary, rx_oversize, rx_paused, in_rx;
    bool rx_in_frame; /* inside a frame: lws_remaining_packet_payload() was > 0 */
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
    size_t ebytes;        /* bytes of events in the out queue (--event-queue-kib) */
    uint64_t progress_at; /* uv_now of the last write, or of the queue becoming non-empty */
    int close_code;       /* close after the queue drains (0: no) */
    bool close_sent;
    /* logout.c: the token was revoked; close_force: stop waiting for answers still due */
    bool revoked, close_force;
    /* presence.c: liveness (times are uv_now ms); list of authenticated sessions */
    struct pres_user *pu;
    session_t *pprev, *pnext;
    uint64_t last_active, last_ping;
    bool live, ping_due;
    /* limits.c: request rate of this socket */
    gw_bucket_t rate;
    /* order.c: conversations with requests of this socket waiting to go, in order */
    order_gate_t *gates;
    /* budget.c: bytes held (obytes + pbytes + deferred frames), worst cases in flight */
    size_t mem, pbytes, reserved;
    bool killed, listed, in_dispatch;
    session_t *bprev, *bnext; /* gw->all */
    /* ws.c: on gw->flush_head (one reference) until this turn's writes are made */
    session_t *fnext;
    bool flushq;
};

session_t *session_ref(session_t *s);
void session_unref(session_t **s_p);
/* Append an unanswered entry to the FIFO; NULL on OOM. */
pending_t *session_pending_push(session_t *s);
/* Fill p with frame (takes ownership; NULL frame = internal error) and write every
 * completed answer at the head of the FIFO. Safe after close (frame is dropped). */
void session_answer(session_t *s, pending_t *p, gw_blob_t *frame);
/* p is done with nothing to write (a hold in the answer order, see ws.c s_activity). */
void session_pass(session_t *s, pending_t *p);
/* Queue an event frame (takes a new reference on b). Culls the session if too slow. */
void session_push_event(session_t *s, gw_blob_t *b);
/* Drop every queued, not yet started event frame tagged with conv (groups: a removed
 * member loses access at once). Answers and a frame already partly written stay. */
void session_drop_conv(session_t *s, const char *conv, size_t conv_len);
/* Drop the socket at once (close reason 1008, nothing more is written): why is logged. */
void session_kill(session_t *s, const char *why);
/* Write what is queued, then close with code (4401, 1009, ...). */
void session_close(session_t *s, int code);
/* Auth finished (state already set by the caller): resume rx, replay deferred frames. */
void session_auth_finished(session_t *s);
/* Per-connection data lws allocates for our one protocol (HTTP and WebSocket). */
struct gw_pss {
    session_t *s;  /* WebSocket: the session (one reference) */
    http_req_t *r; /* HTTP: the current transaction (one reference) */
};
/* Writes at the end of the loop turn (ws.c): a uv_prepare (Redis's beforeSleep) writes
 * the queues of the sessions that got frames this turn straight away when their socket
 * takes data, instead of asking lws for a WRITEABLE callback each time (libuv's poll
 * start/stop behind it cost ≈ 5 epoll_ctl and a loop turn per write). ws_flush_start at
 * start-up (0 or -1); ws_flush_stop from a loop callback at shutdown (uv_close). */
int ws_flush_start(gw_t *gw);
void ws_flush_stop(gw_t *gw);
/* lws callback for the WebSocket reasons. */
int ws_callback(struct lws *wsi, enum lws_callback_reasons reason, void *user, void *in,
                size_t len);

/* ---- requests.c / convs.c: client frames ----------------------------------------------- */
/* One complete client message (text or binary). s is alive and not closing. */
void requests_frame(session_t *s, const char *data, size_t len, bool binary);
/* convs.c: answer the `convs` request req of s into p (id_json copied). */
void convs_start(session_t *s, pending_t *p, const char *id_json, json_t *req);

/* ---- order.c: requests of one socket into one conversation go in order ------------- */
/* Called when a waiting request's turn has come (its ticket is gone by then): send it to
 * the conversation's shard, or drop it if the socket closed meanwhile. */
typedef void(order_go_fn)(void *arg);
/* True when no request of s into conv is waiting to go: one that needs no pre-check may be
 * sent at once. */
bool order_idle(session_t *s, const char *conv);
/* Queue a request of s into conv behind the earlier waiting ones. The request must hold a
 * reference on s until its ticket is ready or cancelled. go(arg) is called exactly once,
 * after order_ready, when every earlier ticket of s into conv went or was cancelled (maybe
 * from inside order_ready / order_cancel of another ticket). NULL on OOM. */
order_ticket_t *order_wait(session_t *s, const char *conv, order_go_fn *go, void *arg);
/* The request's pre-checks passed: it goes in its turn (maybe now). Takes the ticket and
 * nulls *t_p; no-op on NULL. */
void order_ready(order_ticket_t **t_p);
/* The request will not go (a failed pre-check): later ones need not wait for it. go is
 * never called for it. Nulls *t_p; no-op on NULL. */
void order_cancel(order_ticket_t **t_p);
/* From the session's free: drop what is left (nothing, by the reference rule above) without
 * calling go; returns the number of tickets dropped. */
int order_session_free(session_t *s);

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
/* The same, with the members of extra (a JSON object, borrowed; may be NULL) added to the
 * ok frame after answer_field. */
void gather_start_extra(session_t *s, pending_t *p, const char *id_json, const gather_spec_t *spec,
                        json_t *keys, json_t *extra);
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
/* An authenticated session starts counting (sessions_register). If it is the user's first
 * live session here and the user's shard does not hold it live here, the online report
 * goes out at once (not batched). */
void presence_session_live(session_t *s);
/* Any received frame chunk or pong of s: it is live now (reported at once, as above, if
 * it was the user's only session here and silent). */
void presence_activity(session_t *s);
/* ok: the shard answered the online report (false: it failed or timed out). */
typedef void presence_done_fn(void *arg, bool ok);
/* After presence_session_live of an auth, before its ok is written: returns 0 if nothing
 * is to be waited for (done is not called); 1 if an online report of s's user is in
 * flight, and done(arg, ok) will be called once it is answered (always, also when the
 * link stops); -1 when out of memory (done is not called). Loop thread only. */
int presence_wait_shard(session_t *s, presence_done_fn *done, void *arg);
/* s closed or unregistered. */
void presence_session_gone(session_t *s);
/* SNAP: the next report carries "full". */
void presence_snapshot(gw_t *gw);
/* The `presence` request of s into p. */
void presence_request(session_t *s, pending_t *p, const char *id_json, json_t *req);

/* ---- limits.c: request rate, per-IP caps, auth deadline ------------------------------ */
/* A block of --trusted-proxies. */
typedef struct {
    int family; /* AF_INET or AF_INET6 */
    unsigned char addr[16];
    int bits;
} gw_cidr_t;
/* Parse "ADDR" or "ADDR/BITS" (IPv4 or IPv6) and append it to *arr (realloc'd, caller
 * frees). 0, or -1 if it is not one (or OOM). */
int gw_cidr_parse(const char *text, gw_cidr_t **arr, int *n);
/* True if the numeric address ip lies in one of --trusted-proxies. */
bool limits_trusted(const gw_t *gw, const char *ip);
/* The state of one accepted connection with client address addr; NULL on OOM. Owned by
 * whoever holds it: the wsi (opaque user data) from SERVER_NEW_CLIENT_INSTANTIATED on. */
gw_conn_t *limits_conn_new(const char *addr);
/* Releases its connection count; nulls *c_p. Idempotent. */
void limits_conn_free(gw_conn_t **c_p);
int limits_init(gw_t *gw);
/* After the lws context is wholly destroyed (no WSI_DESTROY may follow). */
void limits_fini(gw_t *gw);
/* Once a second: forget addresses without connections whose login bucket is full. */
void limits_tick(gw_t *gw);
/* lws reasons FILTER_NETWORK_CONNECTION (in: the accepted fd; a trusted proxy's goes to
 * proxy_accept), SERVER_NEW_CLIENT_INSTANTIATED (takes gw->adopting if set),
 * FILTER_PROTOCOL_CONNECTION (a trusted proxy's WebSocket upgrade is counted against the
 * forwarded client) and WSI_DESTROY: per-IP connection count. Nonzero: refuse. */
int limits_conn_callback(struct lws *wsi, enum lws_callback_reasons reason, void *in);
/* POST /v1/users or /v1/sessions: take a token of the client address; false: answer 429. */
bool limits_login_allowed(http_req_t *r);
/* A request of the authenticated session s: take a token; false: over the rate. */
bool limits_request_allowed(session_t *s);
/* dm: user-existence answers, per user and per client address of this gateway
 * (enumeration): may user (connected from ip) learn whether other exists now? True when
 * other was confirmed to user already, or both budgets (--dm-probe-burst,
 * --dm-probe-per-sec) have a token; false: answer rate_limited. Takes nothing:
 * limits_dm_probe_answer charges a not_found. */
bool limits_dm_probe_allowed(gw_t *gw, const char *user, const char *ip, const char *other);
/* The answer user got about other: exists (remembered as confirmed while user has an
 * entry), or not (a token of both budgets; they may go into debt when answers were in
 * flight). */
void limits_dm_probe_answer(gw_t *gw, const char *user, const char *ip, const char *other,
                            bool exists);
/* Slowloris: a request's headers and body together get --http-timeout from the accept
 * (or, on a keep-alive connection, from the previous answer). LWS_CALLBACK_HTTP of a
 * request with a body: lws would give the body a fresh timeout; cut it to what is left.
 * limits_request_restart: an answer was written, the next request's clock starts. */
void limits_body_deadline(gw_t *gw, struct lws *wsi);
void limits_request_restart(struct lws *wsi);
/* WebSocket established: arm the auth deadline (an lws timer on s->wsi). */
void limits_session_start(session_t *s);
/* LWS_CALLBACK_TIMER of s: close it 4401 if still not authenticated. */
void limits_session_timer(session_t *s);

/* ---- proxy.c: the PROXY protocol (v1 text, v2 binary) from trusted proxies ---------- */
/* fd was accepted from trusted peer ip on the listener of vhost: take a duplicate of it
 * (the caller then refuses the connection, and lws closes its fd), read a PROXY v1/v2
 * header if one comes first, and adopt the socket into vhost with the header's source as
 * the client address (or ip when there is none). 0 if taken; -1: let lws go on with fd. */
int proxy_accept(gw_t *gw, struct lws_vhost *vhost, int fd, const char *ip);
/* Shutdown: close every socket still waiting for its header. */
void proxy_stop(gw_t *gw);

/* ---- netio.c: framing checks below lws (it defines recv(); docs/internals.md) ---------- */
/* Called from inside lws's read of a WebSocket, on the loop thread, at its first unmasked
 * client frame; nothing of that frame or after it reaches lws. */
typedef void(netio_bad_fn)(void *arg);
/* Size the descriptor table, note the loop thread. Before zlink_new (libzmq's threads);
 * netio_fini after zlink_destroy. 0 or -1 (out of memory). */
int netio_init(void);
void netio_fini(void);
/* A connection lws accepted: HTTP mode (reads end at the end of a header block). */
void netio_http_start(int fd);
/* How the body of the request whose headers lws just parsed is framed (LWS_CALLBACK_HTTP):
 * chunked, or len bytes (Content-Length; 0 or not called: no body). Reads end at its end;
 * the socket is then held (EAGAIN) until netio_http_release (the answer is written). */
void netio_http_chunked(int fd);
void netio_http_body(int fd, uint64_t len);
void netio_http_release(int fd);
/* The connection became a WebSocket (ESTABLISHED): check client frames for the mask bit;
 * bad(arg) at the first unmasked one. */
void netio_ws_start(int fd, netio_bad_fn *bad, void *arg);
/* The connection is closing (CLOSED, WSI_DESTROY): plain reads, no callback. */
void netio_forget(int fd);
/* ---- budget.c: the gateway memory budget and the per-socket byte budget ------------ */
/* WebSocket established: s joins gw->all. */
void budget_session_add(session_t *s);
/* Closed: s leaves gw->all (its bytes must be released already). Idempotent. */
void budget_session_remove(session_t *s);
/* b joins / leaves the out queue of s: s->obytes and s->mem change by its length; the
 * gateway total only when b enters its first / leaves its last queue (shared events count
 * once). */
void budget_out_add(session_t *s, gw_blob_t *b);
void budget_out_del(session_t *s, gw_blob_t *b);
/* Bytes held by s alone (answers waiting in the FIFO, frames held unread): s->mem and the
 * gateway total += add - sub. */
void budget_held(session_t *s, size_t add, size_t sub);
/* While the total is over --mem-budget, drop the session holding the most (its queues
 * are freed at once). */
void budget_enforce(gw_t *gw);
/* p (a request of s) may produce an answer of up to worst bytes: count it in s->reserved
 * and gw->reserved until budget_release (session_answer). */
void budget_reserve(session_t *s, pending_t *p, size_t worst);
void budget_release(session_t *s, pending_t *p);
/* True while s may dispatch one more request: its bytes under --socket-budget, and, if it
 * has requests in flight already, the gateway's reservations under --mem-budget. */
bool budget_admit(const session_t *s);
/* Worst-case answer size of a request of this type (req: the parsed frame). */
size_t budget_worst_case(const char *type, json_t *req);

/* ---- http.c / accounts.c ------------------------------------------------------------- */
int http_callback(struct lws *wsi, enum lws_callback_reasons reason, void *user, void *in,
                  size_t len);

/* ---- static.c: the web client at / ------------------------------------------------- */
/* Read cfg.web_root into memory (nothing when it is ""). 0, or -1 out of memory; an
 * unreadable folder only logs a warning. Call once before the loop runs. */
int static_init(gw_t *gw);
/* Free what static_init loaded. Idempotent. */
void static_fini(gw_t *gw);
/* A GET outside /v1/: if r->path names a file of the web client, set r's answer (200,
 * 304) and return true; false: not ours (the caller answers 404). */
bool static_serve(http_req_t *r);
/* Internal, for static_test.c: the loaded file at URL path (its Content-Type, body, gzip
 * copy or NULL, ETag), NULL if none; does Accept-Encoding list name token without q=0;
 * does If-None-Match list name etag (or "*"). */
const char *static__find(const gw_t *gw, const char *path, const unsigned char **body, size_t *len,
                         const unsigned char **gz, size_t *gz_len, const char **etag);
bool static__accepts(const char *list, const char *token);
bool static__etag_match(const char *inm, const char *etag);

struct http_req {
    int refs;
    gw_t *gw;
    struct lws *wsi; /* NULL once the connection closed */
    char path[64];
    bool is_post;
    bool is_delete; /* DELETE (logout.c) */
    bool www_auth;  /* a 401 for a bearer token: add WWW-Authenticate: Bearer */
    char *body;
    size_t body_len;
    bool body_too_big;
    bool chunked;     /* Transfer-Encoding: chunked (no Content-Length) */
    bool close_after; /* close the connection after the answer (framing refused) */
    bool rx_held;     /* reading paused from the end of the request until the answer */
    bool completed;   /* s_body_complete ran (lws may signal a body's end twice) */
    bool expect_body; /* a Content-Length body is still to come */
    /* chunked decoder state (http.c s_unchunk) */
    int ck_state;   /* http.c's CK_ values (0: expecting a size line), -1 after bad framing */
    size_t ck_left; /* bytes left in the current chunk / size being parsed */
    int ck_digits, ck_line;
    size_t ck_raw; /* chunked bytes received, framing included */
    bool ck_ext;   /* inside a chunk extension */
    /* response */
    bool resp_ready, resp_written;
    int status;
    int retry_after; /* a 429's Retry-After in seconds (0: 1) */
    char *resp;
    size_t resp_len;
    /* static.c answers (ctype NULL: a JSON answer, Cache-Control no-store) */
    const char *ctype; /* static, not owned */
    const char *cache; /* Cache-Control value */
    char etag[24];
    bool gzip, vary, html;
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

/* ---- logout.c: DELETE /v1/sessions, revoked tokens ----------------------------------- */
/* DELETE /v1/sessions[?all=1] of r (its body, if any, ignored): 204 / 400 / 401 / 503. */
void logout_http(http_req_t *r);
/* True for the shard's {"type":"_revoke",...} control event (never sent to clients). */
bool logout_is_control(const char *event, size_t len);
/* Close (4401) every authenticated session here that used one of the event's tokens:
 * after the answers still due, but at most GW_REVOKE_WAIT_MS later (logout_session_timer). */
void logout_revoke(gw_t *gw, const char *event, size_t len);
/* LWS_CALLBACK_TIMER of s: a revoked session still waiting for answers closes now. */
void logout_session_timer(session_t *s);

/* ---- push.c: push_register and GET /v1/push/vapid -------------------------------------- */
/* Load --vapid-key (if given) and keep its public key. 0, or -1 (logged): exit. */
int push_init(gw_t *gw);
/* GET /v1/push/vapid: 200 {"public_key"} or 503 unavailable without a key. */
void push_vapid_http(http_req_t *r);
/* The `push_register` request of s into p. */
void push_register(session_t *s, pending_t *p, const char *id_json, json_t *req);
/* `push_list` (the caller's targets, no secrets) and `push_unregister` (by push_id). */
void push_list(session_t *s, pending_t *p, const char *id_json, json_t *req);
void push_unregister(session_t *s, pending_t *p, const char *id_json, json_t *req);

/* ---- the process ----------------------------------------------------------------------- */
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
    zlink_t *zl;
    struct gw_config cfg;
    /* sessions.c */
    zhashx_t *users;   /* user -> struct user_entry */
    zhashx_t *loc_del; /* users gone since the last tick */
    uint64_t next_sid;
    int nsessions;
    /* budget.c: every WebSocket session not yet closed; bytes held for all of them */
    session_t *all;
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
    uv_prepare_t flush;    /* ws.c: end-of-turn writes */
    session_t *flush_head; /* ws.c: sessions with frames to write this turn */
    uv_timer_t tick;
    bool stopping;
};

#endif
