/* zlink — the gateway's ZeroMQ link to the router (docs/internals.md "The binary
 * protocol": one pl_msg frame per message, encoded into one reused buffer).
 *
 * One DEALER socket (identity g/<name>) driven by the libuv loop as STYLE.md "Checked on
 * this machine" prescribes: ZMQ_FD is edge-triggered, so a uv_poll on it only wakes the
 * loop (empty callback); a uv_check drains up to 256 messages per turn, receiving with
 * ZMQ_DONTWAIT until EAGAIN (which processes the socket's commands, as a ZMQ_EVENTS check
 * would: no getsockopt per message — each one cost a getpid() and a poll() in libzmq's
 * signaler); a uv_prepare checks ZMQ_EVENTS once per turn and starts an empty uv_idle
 * when input (or an expired request) is still waiting, so the loop does not block with
 * messages unread (also after this turn's sends).
 *
 * Requests (REQ/REQN) made during a loop turn are written straight into one BATCH of
 * requests (PL_MF_REQS, pl_msg.h) and go out when the turn ends (the uv_prepare, before
 * the loop blocks): one frame, one CURVE box and one router wake-up per turn instead of
 * one per request; the router re-batches the entries per shard. What is staged also goes before
 * any other message (HB, LOC, HEALTH: the router sees everything in the order it was made)
 * and when the batch is full (PL_BATCH_MAX); a lone request goes plain.
 *
 * Requests carry a u64 reqid; outstanding ones sit in a table keyed by it (zl_ids_t) and in
 * a list sorted by deadline. An answer, a deadline (--timeout, 1 s for HEALTH) or a failed
 * send completes the entry exactly once; a late answer finds no entry and is dropped.
 * gw_zlink_request never answers from inside itself: a send that fails (router down, no
 * socket) makes the entry due at once (deadline 0), and the next uv_check answers it
 * `unavailable`; a request made after gw_zlink_stop waits in the `late` list for the last
 * handle's close callback (or gw_zlink_destroy). So callers have one answer path only.
 *
 * The socket is a CURVE client (docs/internals.md "Security between roles") and sets no
 * identity: the router knows this gateway by its key. The router sends ["HB"] every
 * 500 ms; after PL_ROUTER_SILENT_MS (pl_liveness.h) without any message from it the socket is
 * replaced by a new one (a new connection; the poll handle of the old one closes asynchronously),
 * an HB goes out at once and on_snap makes the gateway send its full LOC, since LOCs sent into the
 * dead connection are lost. Requests in flight keep their deadlines. */
#include "gw_zlink.h"
#include "pl_curve.h"
#include "pl_err.h"
#include "pl_liveness.h"
#include "pl_log.h"
#include "pl_msg.h"
#include "pl_pool.h"
#include "pl_time.h"
#include "pl_turn.h"
#include "pl_wire.h"

#include <errno.h>
#include <inttypes.h>
#include <sodium.h>
#include <stdlib.h>
#include <string.h>
#include <zmq.h>

#define ZL_DRAIN_MAX 256
/* A BATCH from the router of at most this many entries is decoded once (on the stack)
 * while it is checked; a larger one is checked, then decoded again entry by entry. */
#define ZL_BATCH_DECODED 32
#define ZL_HEALTH_TIMEOUT_MS 1000
#define ZL_TICK_MS 250
#define ZL_HB_MS 1000

/* A poll handle with the socket it watches; freed (socket and all) when uv closes it. */
typedef struct {
    uv_poll_t h;
    zsock_t *sock;
    struct gw_zlink *zl;
} zl_poll_t;

typedef struct zl_entry {
    struct zl_entry *prev, *next; /* deadline order */
    uint64_t id;
    int64_t deadline;
    gw_zlink_cb *cb;
    void *arg;
    bool unsent; /* the send failed: answered unavailable on the next loop turn */
} zl_entry_t;

/* The requests in flight by id: open addressing with linear probing, slots a power of two,
 * at most half full; deletion shifts the run back (no tombstones). Ids are consecutive,
 * so id & mask spreads them without a hash function. (It replaced a czmq hash keyed by the
 * id's decimal: a decimal per request and per answer, a string hash, a node allocation.) */
typedef struct {
    zl_entry_t **slot; /* NULL: empty */
    size_t mask;       /* slots - 1 */
    size_t count;
} zl_ids_t;

#define ZL_IDS_MIN 64
/* Entries kept for reuse (a burst's worth), instead of a calloc and a free per request. */
#define ZL_ENTRY_POOL_MAX 1024

struct gw_zlink {
    gw_t *gw;
    zsock_t *sock; /* owned by poll once it exists */
    void *raw;     /* zsock_resolve(sock) */
    zl_poll_t *poll;
    uv_loop_t *loop;
    char *endpoint;
    zcert_t *cert;
    char server_key[41];
    pl_liveness_t live; /* when the router last spoke */
    int64_t last_hb;
    bool reconnected; /* at least one reconnect since start */
    bool fresh;       /* new connection, nothing heard on it yet: HB every tick, then on_snap */
    /* The socket may hold input its edge-triggered ZMQ_FD will not announce: set when the
     * fd fired or we called into the socket (a send may process the commands that would
     * have woken us), cleared when a receive ended in EAGAIN or ZMQ_EVENTS showed no
     * input — after either, anything new signals the fd again. A turn with nothing from
     * or to the router then costs no ZeroMQ call (each one a getpid() and a poll()). */
    bool dirty;
    gw_zlink_handlers_t h;
    int timeout_ms;
    uint64_t next_reqid;
    uint64_t epoch;
    uint64_t locseq;
    pl_buf_t out;    /* the message being sent (reused) */
    pl_buf_t staged; /* this turn's requests, a BATCH of REQ/REQN (s_stage); memory kept */
    pl_slots_t *table;
    zl_ids_t ids;   /* reqid -> zl_entry_t (not owned by the table) */
    pl_pool_t pool; /* free entries (at most ZL_ENTRY_POOL_MAX) */
    zl_entry_t *head, *tail;
    zl_entry_t *late; /* made after gw_zlink_stop, not yet answered (s_late) */
    bool stopped;
    uv_check_t check;
    uv_prepare_t prepare;
    uv_idle_t idle;
    uv_timer_t hb;
    uv_timer_t deadlines;
    int open_handles;
    bool orphan; /* gw_zlink_new failed after starting handles: free on the last close */
};

static bool s_has_input(gw_zlink_t *self)
{
    int ev = 0;
    size_t sz = sizeof ev;
    if (!self->raw)
        return false;
    if (zmq_getsockopt(self->raw, ZMQ_EVENTS, &ev, &sz) != 0)
        return false;
    return (ev & ZMQ_POLLIN) != 0;
}

/* Room for one more id (grown to twice the slots at half full). 0 or -1 (out of memory). */
static int s_ids_reserve(zl_ids_t *t)
{
    size_t slots = t->slot ? t->mask + 1 : 0;
    if ((t->count + 1) * 2 <= slots)
        return 0;
    size_t n = slots ? slots * 2 : ZL_IDS_MIN;
    zl_entry_t **slot = calloc(n, sizeof *slot);
    if (!slot)
        return -1;
    for (size_t i = 0; i < slots; i++) {
        zl_entry_t *e = t->slot[i];
        if (!e)
            continue;
        size_t j = e->id & (n - 1);
        while (slot[j])
            j = (j + 1) & (n - 1);
        slot[j] = e;
    }
    free(t->slot);
    t->slot = slot;
    t->mask = n - 1;
    return 0;
}

/* Add e (its id not in t; s_ids_reserve made room). */
static void s_ids_insert(zl_ids_t *t, zl_entry_t *e)
{
    size_t i = e->id & t->mask;
    while (t->slot[i])
        i = (i + 1) & t->mask;
    t->slot[i] = e;
    t->count++;
}

/* The entry of id, removed from t; NULL if none. */
static zl_entry_t *s_ids_take(zl_ids_t *t, uint64_t id)
{
    if (!t->slot)
        return NULL;
    size_t i = id & t->mask;
    while (t->slot[i] && t->slot[i]->id != id)
        i = (i + 1) & t->mask;
    zl_entry_t *e = t->slot[i];
    if (!e)
        return NULL;
    t->slot[i] = NULL;
    t->count--;
    /* shift back the entries after i whose home slot is not in (i, j] */
    for (size_t j = (i + 1) & t->mask; t->slot[j]; j = (j + 1) & t->mask) {
        size_t home = t->slot[j]->id & t->mask;
        bool stays = i <= j ? (home > i && home <= j) : (home > i || home <= j);
        if (!stays) {
            t->slot[i] = t->slot[j];
            t->slot[j] = NULL;
            i = j;
        }
    }
    return e;
}

/* Free the table and the pooled entries (the entries in flight are the list's). */
static void s_ids_pool_free(gw_zlink_t *self)
{
    free(self->ids.slot);
    self->ids = (zl_ids_t){0};
    pl_pool_drain(&self->pool);
}

static void s_list_remove(gw_zlink_t *self, zl_entry_t *e)
{
    if (e->prev)
        e->prev->next = e->next;
    else
        self->head = e->next;
    if (e->next)
        e->next->prev = e->prev;
    else
        self->tail = e->prev;
    e->prev = e->next = NULL;
}

/* Insert keeping deadline order (almost always at the tail). */
static void s_list_insert(gw_zlink_t *self, zl_entry_t *e)
{
    zl_entry_t *at = self->tail;
    while (at && at->deadline > e->deadline)
        at = at->prev;
    e->prev = at;
    e->next = at ? at->next : self->head;
    if (e->next)
        e->next->prev = e;
    else
        self->tail = e;
    if (at)
        at->next = e;
    else
        self->head = e;
}

/* Complete e (already out of the table and the list) and keep it for reuse. */
static void s_complete(gw_zlink_t *self, zl_entry_t *e, const char *status, const char *body,
                       size_t len)
{
    gw_zlink_cb *cb = e->cb;
    void *arg = e->arg;
    /* back to the pool first: the callback may make new requests */
    pl_pool_put(&self->pool, e);
    cb(arg, status, body, len);
}

static void s_expire(gw_zlink_t *self, int64_t now)
{
    while (self->head && self->head->deadline <= now) {
        zl_entry_t *e = self->head;
        s_list_remove(self, e);
        s_ids_take(&self->ids, e->id);
        static const char late[] = "the request timed out";
        static const char down[] = "the router is unreachable";
        pl_debug("request %" PRIu64 " %s", e->id, e->unsent ? "not sent" : "expired");
        if (e->unsent)
            s_complete(self, e, PL_E_UNAVAILABLE, down, sizeof down - 1);
        else
            s_complete(self, e, PL_E_UNAVAILABLE, late, sizeof late - 1);
    }
}

static void s_idle_cb(uv_idle_t *h) {}

/* Send data[0..len) as one message now. 0 or -1 (errno). */
static int s_send_raw(gw_zlink_t *self, const void *data, size_t len)
{
    if (self->stopped || !self->sock) {
        errno = EAGAIN;
        return -1;
    }
    self->dirty = true;
    return zmq_send(self->raw, data, len, ZMQ_DONTWAIT) < 0 ? -1 : 0;
}

/* Track e; on a failed send make it due now so the next loop turn answers it. */
static void s_track(gw_zlink_t *self, zl_entry_t *e, int send_rc)
{
    if (send_rc != 0) {
        pl_debug("send of request %" PRIu64 " failed: %s", e->id, strerror(errno));
        e->deadline = 0;
        e->unsent = true;
    }
    s_list_insert(self, e);
    s_ids_insert(&self->ids, e);
}

/* The staged batch could not be sent: each of its requests (still in flight) is made due
 * now, so the next loop turn answers it `unavailable`. */
static void s_staged_failed(gw_zlink_t *self)
{
    pl_msg_t b, in;
    pl_batch_it_t it;
    if (pl_msg_decode(self->staged.data, self->staged.len, &b) != 0)
        return; /* not reached: staged always holds a batch we built */
    pl_batch_iter(&it, &b);
    while (pl_batch_next(&it, &in) == 1) {
        zl_entry_t *e = s_ids_take(&self->ids, in.h.id);
        if (!e)
            continue;
        s_list_remove(self, e);
        s_track(self, e, -1);
    }
}

/* Send this turn's staged requests: one BATCH frame (the router re-batches its entries
 * per shard), or the message itself when there is one. Called at the end of every loop
 * turn (s_prepare_cb), before any other message goes
 * (s_send: order kept), and when the batch is full. A failed send answers each request
 * `unavailable` on the next turn. */
static void s_flush(gw_zlink_t *self)
{
    uint64_t count = pl_batch_count(&self->staged);
    if (count == 0)
        return;
    pl_slice_t f = pl_batch_frame(&self->staged);
    pl_turn_count("zmq_out", 1);
    if (s_send_raw(self, f.p, f.n) != 0) {
        pl_debug("send of %" PRIu64 " request(s) failed: %s", count, strerror(errno));
        s_staged_failed(self);
    }
    pl_batch_begin_reqs(&self->staged); /* cannot fail: the buffer holds more than a header */
}

/* Send self->out as one message, after this turn's staged requests (order kept).
 * 0 or -1 (errno). */
static int s_send(gw_zlink_t *self)
{
    s_flush(self);
    if (self->out.failed) {
        errno = ENOMEM;
        return -1;
    }
    return s_send_raw(self, self->out.data, self->out.len);
}

/* Append REQ's fields after its header: the key (if any), then the body, made of parts
 * (fields: each part as a field of the body, a u32 length and its bytes, i.e. a binary
 * body; else the parts' bytes one after the other). -1 when b failed (out of memory). */
static int s_put_req(pl_buf_t *b, const char *key, size_t kl, const pl_slice_t *parts, int nparts,
                     bool fields)
{
    if (key)
        pl_msg_field(b, key, kl);
    size_t at = pl_msg_field_begin(b);
    if (fields)
        pl_msg_fields(b, parts, nparts);
    else
        for (int i = 0; i < nparts; i++)
            pl_buf_put(b, parts[i].p, parts[i].n);
    pl_msg_field_end(b, at);
    return b->failed ? -1 : 0;
}

/* The request (header h, then s_put_req's fields: n bytes in all) joins this turn's batch,
 * written straight into it (no copy of it built elsewhere; s_flush sends the batch). 0
 * when staged or sent, -1 (errno) when it could not go: then the caller tracks it as
 * unsent. A request too large for any batch goes alone at once, after what is staged. */
static int s_stage(gw_zlink_t *self, const pl_hdr_t *h, const char *key, size_t kl,
                   const pl_slice_t *parts, int nparts, bool fields, size_t n)
{
    if (self->stopped || !self->sock) {
        errno = EAGAIN;
        return -1;
    }
    if (n <= PL_BATCH_ENTRY_MAX) {
        if (!pl_batch_fits(&self->staged, n)) /* full: out with it first */
            s_flush(self);
        size_t at = pl_batch_entry_begin(&self->staged, h);
        if (s_put_req(&self->staged, key, kl, parts, nparts, fields) == 0 &&
            pl_batch_entry_end(&self->staged, at) == 0) {
            /* The batch goes at the next uv_prepare. A request made after
             * this turn's s_prepare_cb (e.g. by another prepare callback: the WebSocket
             * flush replays deferred frames) must not wait for the next wake-up: an active
             * idle handle keeps the loop from blocking, and s_prepare_cb stops it once
             * the batch is out. */
            if (pl_batch_count(&self->staged) == 1)
                uv_idle_start(&self->idle, s_idle_cb);
            return 0;
        }
        /* out of memory: the partial entry goes, what is staged goes now, then this */
        pl_batch_entry_abort(&self->staged, at);
    }
    pl_msg_begin(&self->out, h);
    s_put_req(&self->out, key, kl, parts, nparts, fields);
    return s_send(self);
}

/* A new entry (from the pool if it has one), its id taken and room for it in the table.
 * Out of memory for these few bytes aborts, as czmq does for its own allocations: a
 * request that could neither be tracked nor answered would hang its client. */
static zl_entry_t *s_entry_new(gw_zlink_t *self, gw_zlink_cb *cb, void *arg, int timeout_ms)
{
    if (s_ids_reserve(&self->ids) != 0) {
        pl_error("out of memory for a router request");
        abort();
    }
    zl_entry_t *e = pl_pool_get(&self->pool);
    if (!e) {
        pl_error("out of memory for a router request");
        abort();
    }
    e->id = ++self->next_reqid;
    e->cb = cb;
    e->arg = arg;
    e->deadline = pl_mono_ms() + timeout_ms;
    return e;
}

/* A request made after gw_zlink_stop: held in self->late (deadline order does not matter),
 * answered unavailable from the last handle's close callback or gw_zlink_destroy. */
static void s_late(gw_zlink_t *self, zl_entry_t *e)
{
    e->unsent = true;
    e->next = self->late;
    self->late = e;
}

/* Answer every request held in self->late (also those their callbacks make). */
static void s_answer_late(gw_zlink_t *self)
{
    static const char msg[] = "the gateway is shutting down";
    while (self->late) {
        zl_entry_t *e = self->late;
        self->late = e->next;
        e->next = NULL;
        s_complete(self, e, PL_E_UNAVAILABLE, msg, sizeof msg - 1);
    }
}

/* Encode and stage REQ (key) or REQN (shard) for a new entry; the body is parts (fields:
 * a binary body of them, s_put_req). */
static void s_request(gw_zlink_t *self, pl_op_t op, const char *key, int shard,
                      const pl_slice_t *parts, int nparts, bool fields, gw_zlink_cb *cb, void *arg)
{
    zl_entry_t *e = s_entry_new(self, cb, arg, self->timeout_ms);
    if (self->stopped) {
        s_late(self, e);
        return;
    }
    pl_hdr_t h = {.kind = key ? PL_K_REQ : PL_K_REQN,
                  .op = (uint8_t)op,
                  .shard = (uint16_t)shard,
                  .id = e->id};
    size_t kl = key ? strlen(key) : 0;
    size_t n = PL_MSG_HDR + (key ? 4 + kl : 0) + 4;
    for (int i = 0; i < nparts; i++)
        n += parts[i].n + (fields ? 4 : 0);
    s_track(self, e, s_stage(self, &h, key, kl, parts, nparts, fields, n));
}

void gw_zlink_request(gw_zlink_t *self, pl_op_t op, const char *key, const char *payload,
                      size_t len, gw_zlink_cb *cb, void *arg)
{
    pl_slice_t body = {(const uint8_t *)payload, len};
    s_request(self, op, key, 0, &body, 1, false, cb, arg);
}

void gw_zlink_request_fields(gw_zlink_t *self, pl_op_t op, const char *key,
                             const pl_slice_t *fields, int nfields, gw_zlink_cb *cb, void *arg)
{
    s_request(self, op, key, 0, fields, nfields, true, cb, arg);
}

void gw_zlink_request_shard(gw_zlink_t *self, pl_op_t op, int shard, const char *payload,
                            size_t len, gw_zlink_cb *cb, void *arg)
{
    pl_slice_t body = {(const uint8_t *)payload, len};
    s_request(self, op, NULL, shard, &body, 1, false, cb, arg);
}

void gw_zlink_health(gw_zlink_t *self, gw_zlink_cb *cb, void *arg)
{
    zl_entry_t *e = s_entry_new(self, cb, arg, ZL_HEALTH_TIMEOUT_MS);
    if (self->stopped) {
        s_late(self, e);
        return;
    }
    pl_hdr_t h = {.kind = PL_K_HEALTH, .id = e->id};
    pl_msg_begin(&self->out, &h);
    s_track(self, e, s_send(self));
}

void gw_zlink_loc(gw_zlink_t *self, bool full, const char *payload, size_t len)
{
    pl_hdr_t h = {
        .kind = PL_K_LOC, .flags = full ? PL_MF_FULL : 0, .id = self->epoch, .seq = ++self->locseq};
    pl_msg_begin(&self->out, &h);
    pl_msg_field(&self->out, payload, len);
    if (s_send(self) != 0)
        pl_warn("LOC %" PRIu64 " not sent (%s); shards will ask for a snapshot", self->locseq,
                strerror(errno));
    else
        pl_debug("LOC %" PRIu64 " %.*s", self->locseq, (int)(len > 200 ? 200 : len), payload);
}

static void s_heartbeat(gw_zlink_t *self)
{
    pl_hdr_t h = {.kind = PL_K_HB, .id = self->epoch, .seq = self->locseq};
    pl_msg_begin(&self->out, &h);
    (void)s_send(self); /* router down: EAGAIN, nothing to do */
}

const pl_slots_t *gw_zlink_table(gw_zlink_t *self)
{
    return self->table;
}

/* ---- receiving ------------------------------------------------------------------------ */

static void s_on_answer(gw_zlink_t *self, uint64_t id, const char *status, pl_slice_t body)
{
    zl_entry_t *e = s_ids_take(&self->ids, id);
    if (!e) {
        pl_debug("late or unknown answer %" PRIu64 " dropped", id);
        return;
    }
    s_list_remove(self, e);
    /* callbacks may read body[len]: a NUL-terminated copy (on the stack when small) */
    char small[512];
    char *text = body.n < sizeof small ? small : malloc(body.n + 1);
    if (!text) {
        static const char msg[] = "out of memory";
        s_complete(self, e, PL_E_INTERNAL, msg, sizeof msg - 1);
        return;
    }
    if (body.n)
        memcpy(text, body.p, body.n);
    text[body.n] = '\0';
    s_complete(self, e, status, text, body.n);
    if (text != small)
        free(text);
}

static void s_handle(gw_zlink_t *self, const pl_msg_t *m);

/* One frame from the router: a message, or a BATCH of REP/EVT. */
static void s_dispatch(gw_zlink_t *self, zmq_msg_t *frame)
{
    pl_liveness_heard(&self->live, pl_mono_ms());
    if (self->fresh) {
        /* first word over a new connection: LOCs sent into the old one may be lost */
        self->fresh = false;
        if (self->h.on_snap && self->reconnected)
            self->h.on_snap(self->gw);
    }
    pl_msg_t m;
    int rc = pl_msg_decode(zmq_msg_data(frame), zmq_msg_size(frame), &m);
    if (rc != 0) {
        pl_warn("malformed message from the router dropped: %s", pl_msg_strerror(rc));
        return;
    }
    if (m.h.kind != PL_K_BATCH) {
        s_handle(self, &m);
        return;
    }
    /* BATCH (a shard's REP/EVT for this gateway from one turn): checked whole first, so a
     * malformed one changes nothing, then each entry handled in order as if it had come
     * alone (the entries point into frame, which outlives the loop). */
    if (pl_batch_is_reqs(&m)) {
        pl_warn("a BATCH of requests from the router dropped");
        return;
    }
    pl_batch_it_t it;
    pl_msg_t in;
    if (m.h.id <= ZL_BATCH_DECODED) {
        /* a small batch: each entry decoded once, into ents, while it is checked */
        pl_msg_t ents[ZL_BATCH_DECODED];
        uint64_t n = 0;
        pl_batch_iter(&it, &m);
        /* as pl_batch_check: every entry read (past the count too), the first error */
        while ((rc = pl_batch_next(&it, n < ZL_BATCH_DECODED ? &ents[n] : &in)) == 1)
            n++;
        if (rc < 0 || n != m.h.id) {
            pl_warn("malformed BATCH from the router dropped: %s",
                    pl_msg_strerror(rc < 0 ? rc : PL_MSG_E_BATCH));
            return;
        }
        for (uint64_t i = 0; i < n && !self->stopped; i++)
            s_handle(self, &ents[i]);
        return;
    }
    if ((rc = pl_batch_check(&m)) != 0) {
        pl_warn("malformed BATCH from the router dropped: %s", pl_msg_strerror(rc));
        return;
    }
    pl_batch_iter(&it, &m);
    while (pl_batch_next(&it, &in) == 1 && !self->stopped)
        s_handle(self, &in);
}

/* Handle one decoded message from the router (alone, or an entry of a BATCH). */
static void s_handle(gw_zlink_t *self, const pl_msg_t *m)
{
    switch (m->h.kind) {
    case PL_K_HB:
        break; /* the router's heartbeat: only that it was heard matters */
    case PL_K_REP:
        s_on_answer(self, m->h.id, pl_status_name(m->h.status), m->f[0]);
        break;
    case PL_K_HEALTH: {
        pl_slice_t v = {(const uint8_t *)(m->h.flags & PL_MF_DOWN ? "0" : "1"), 1};
        s_on_answer(self, m->h.id, "ok", v);
        break;
    }
    case PL_K_EVT: {
        char skip[160];
        if (!pl_slice_cstr(m->f[1], skip, sizeof skip)) {
            pl_warn("EVT with a malformed skip dropped");
            break;
        }
        if (self->h.on_evt)
            self->h.on_evt(self->gw, m->f[0].p, m->f[0].n, skip, (const char *)m->f[2].p,
                           m->f[2].n);
        break;
    }
    case PL_K_TABLE: {
        char *text = malloc(m->f[0].n + 1);
        pl_slots_t *t = NULL;
        if (text && pl_slice_cstr(m->f[0], text, m->f[0].n + 1))
            t = pl_slots_decode(text);
        free(text);
        if (!t) {
            pl_warn("malformed TABLE from the router ignored");
            return;
        }
        if (self->table && pl_slots_version(t) < pl_slots_version(self->table)) {
            pl_slots_destroy(&t);
            return;
        }
        pl_info("slot table version %u, %d shards", (unsigned)pl_slots_version(t),
                pl_slots_nshards(t));
        pl_slots_destroy(&self->table);
        self->table = t;
        break;
    }
    case PL_K_SNAP:
        pl_info("router asks for a LOC snapshot");
        if (self->h.on_snap)
            self->h.on_snap(self->gw);
        break;
    default:
        pl_warn("unexpected %s from the router dropped", pl_kind_name(m->h.kind));
    }
}

static void s_drain(gw_zlink_t *self)
{
    for (int i = 0; i < ZL_DRAIN_MAX && !self->stopped && self->raw && self->dirty; i++) {
        zmq_msg_t m;
        zmq_msg_init(&m);
        if (zmq_msg_recv(&m, self->raw, ZMQ_DONTWAIT) < 0) {
            zmq_msg_close(&m);
            if (errno == EAGAIN)
                self->dirty = false; /* drained: the fd announces what comes next */
            break;
        }
        pl_turn_count("zmq_in", 1);
        if (zmq_msg_more(&m)) {
            /* not ours: one frame per message. Drop this message's parts. */
            int more = 1;
            while (more) {
                zmq_msg_close(&m);
                zmq_msg_init(&m);
                if (zmq_msg_recv(&m, self->raw, 0) < 0)
                    break;
                more = zmq_msg_more(&m);
            }
            pl_warn("a multipart message from the router dropped");
        } else
            s_dispatch(self, &m);
        zmq_msg_close(&m);
    }
}

/* ---- libuv watchers ------------------------------------------------------------------- */

static void s_poll_cb(uv_poll_t *h, int status, int events)
{
    /* Wakes the loop; the check watcher drains. */
    zl_poll_t *p = h->data;
    if (p->zl->poll == p)
        p->zl->dirty = true;
}

static void s_check_cb(uv_check_t *h)
{
    gw_zlink_t *self = h->data;
    /* (The turn's requests go out at its end, s_prepare_cb, followed by one ZMQ_EVENTS
     * check. Sending them here before the drain instead costs more: the drain's receive
     * that ends in EAGAIN is dearer in libzmq than that check, measured.) */
    s_drain(self);
    if (self->head && self->head->deadline <= pl_mono_ms())
        s_expire(self, pl_mono_ms());
}

/* Turn timing (pl_turn.h): the loop's work between two prepare callbacks, less the
 * time it slept in poll. */
static void s_turn(uv_loop_t *loop)
{
    static uint64_t last_ns, last_idle_ns;
    uint64_t now = uv_hrtime(), idle = uv_metrics_idle_time(loop);
    if (last_ns)
        pl_turn_end_busy((int64_t)((now - last_ns) - (idle - last_idle_ns)) / 1000);
    last_ns = now;
    last_idle_ns = idle;
}

static void s_prepare_cb(uv_prepare_t *h)
{
    gw_zlink_t *self = h->data;
    s_flush(self); /* the end of the turn: its requests go out, one frame */
    if (pl_turn_enabled())
        s_turn(h->loop);
    bool input = false;
    if (!self->stopped && self->dirty) {
        input = s_has_input(self); /* e.g. this turn's sends after the drain */
        if (!input && self->raw)
            self->dirty = false;
    }
    bool busy = !self->stopped && (input || (self->head && self->head->deadline == 0));
    if (busy)
        uv_idle_start(&self->idle, s_idle_cb);
    else
        uv_idle_stop(&self->idle);
}

static void s_poll_closed_cb(uv_handle_t *h)
{
    zl_poll_t *p = h->data;
    gw_zlink_t *self = p->zl;
    zsock_destroy(&p->sock);
    free(p);
    if (--self->open_handles > 0)
        return;
    if (self->stopped)
        s_answer_late(self);
    if (self->orphan)
        gw_zlink_destroy(&self);
}

/* Close the current socket's poll handle; the socket goes with it (s_poll_closed_cb).
 * uv_close takes the descriptor out of epoll at once, so a new socket may reuse it. */
static void s_drop_socket(gw_zlink_t *self)
{
    if (self->poll) {
        uv_poll_stop(&self->poll->h);
        uv_close((uv_handle_t *)&self->poll->h, s_poll_closed_cb);
        self->poll = NULL;
    } else
        zsock_destroy(&self->sock);
    self->sock = NULL;
    self->raw = NULL;
}

/* A new DEALER connected to the router, with its poll handle. Returns 0 or -1 (then
 * self->sock is NULL and sends fail until the next try). */
static int s_connect(gw_zlink_t *self)
{
    zsock_t *sock = zsock_new(ZMQ_DEALER);
    if (!sock)
        return -1;
    if (pl_wire_setup(sock, false) != 0 || pl_curve_client(sock, self->cert, self->server_key) != 0)
        goto fail;
    zsock_set_immediate(sock, 1);
    if (zsock_connect(sock, "%s", self->endpoint) != 0) {
        pl_error("cannot connect to router %s", self->endpoint);
        goto fail;
    }
    zl_poll_t *p = calloc(1, sizeof *p);
    if (!p)
        goto fail;
    if (uv_poll_init_socket(self->loop, &p->h, (uv_os_sock_t)zsock_fd(sock)) != 0) {
        free(p);
        goto fail;
    }
    p->h.data = p;
    p->zl = self;
    p->sock = sock;
    self->open_handles++;
    self->poll = p;
    self->sock = sock;
    self->raw = zsock_resolve(sock);
    self->dirty = true;
    if (uv_poll_start(&p->h, UV_READABLE, s_poll_cb) != 0) {
        s_drop_socket(self);
        return -1;
    }
    return 0;
fail:
    zsock_destroy(&sock);
    return -1;
}

static void s_hb_cb(uv_timer_t *h)
{
    gw_zlink_t *self = h->data;
    int64_t now = pl_mono_ms();
    bool waiting = s_has_input(self);
    if (waiting)
        self->dirty = true;
    if (pl_liveness_silent(&self->live, now, waiting)) {
        /* Nothing from the router (not even its HB): the connection may be dead or
         * half-open. A new one costs a handshake; the router answers on it at our HB. */
        s_drop_socket(self);
        if (s_connect(self) != 0)
            pl_warn("cannot make a new router socket; trying again");
        self->fresh = true;
        self->reconnected = true;
    }
    if (self->fresh || now - self->last_hb >= ZL_HB_MS) {
        self->last_hb = now;
        s_heartbeat(self);
    }
}

static void s_deadline_cb(uv_timer_t *h)
{
    s_expire(h->data, pl_mono_ms());
}

static void s_closed_cb(uv_handle_t *h)
{
    gw_zlink_t *self = h->data;
    if (--self->open_handles > 0)
        return;
    s_answer_late(self);
    if (self->orphan)
        gw_zlink_destroy(&self);
}

gw_zlink_t *gw_zlink_new(gw_t *gw, uv_loop_t *loop, const char *endpoint, const char *name,
                         int timeout_ms, gw_zlink_handlers_t handlers, zcert_t *cert,
                         const char *server_key)
{
    gw_zlink_t *self = calloc(1, sizeof *self);
    if (!self)
        return NULL;
    self->gw = gw;
    self->h = handlers;
    self->pool = (pl_pool_t)PL_POOL_INIT(sizeof(zl_entry_t), ZL_ENTRY_POOL_MAX);
    self->timeout_ms = timeout_ms;
    self->loop = loop;
    randombytes_buf(&self->epoch, sizeof self->epoch);
    self->epoch >>= 1;
    snprintf(self->server_key, sizeof self->server_key, "%s", server_key);
    self->endpoint = strdup(endpoint);
    self->cert = zcert_dup(cert);
    if (!self->endpoint || !self->cert)
        goto fail;
    char keyname[80];
    if (pl_curve_role(self->cert, keyname, sizeof keyname) != PL_ROLE_GATEWAY) {
        pl_error("--curve-secret: not a gateway key (role gateway, name NAME)");
        goto fail;
    }
    if (strcmp(keyname + 2, name) != 0)
        pl_info("the router knows this gateway as %s (the name in its key)", keyname);
    if (pl_batch_begin_reqs(&self->staged) != 0)
        goto fail;
    pl_turn_init();
    if (pl_turn_enabled())
        uv_loop_configure(loop, UV_METRICS_IDLE_TIME);
    if (s_connect(self) != 0)
        goto fail;
    pl_liveness_start(&self->live, pl_mono_ms());
    self->fresh = true;

    uv_check_init(loop, &self->check);
    uv_prepare_init(loop, &self->prepare);
    uv_idle_init(loop, &self->idle);
    uv_timer_init(loop, &self->hb);
    uv_timer_init(loop, &self->deadlines);
    self->open_handles += 5;
    self->check.data = self->prepare.data = self;
    self->idle.data = self->hb.data = self->deadlines.data = self;
    if (uv_check_start(&self->check, s_check_cb) != 0 ||
        uv_prepare_start(&self->prepare, s_prepare_cb) != 0 ||
        uv_timer_start(&self->hb, s_hb_cb, 0, ZL_TICK_MS) != 0 ||
        uv_timer_start(&self->deadlines, s_deadline_cb, 100, 100) != 0)
        goto fail_handles;
    pl_info("router link %s -> %s (epoch %" PRIu64 ")", keyname, endpoint, self->epoch);
    return self;

fail_handles:
    /* handles close asynchronously: the last close callback frees self */
    self->orphan = true;
    gw_zlink_stop(self);
    return NULL;
fail:
    if (self->poll) {
        /* only the poll handle is open: it frees self when closed */
        self->orphan = true;
        s_drop_socket(self);
        return NULL;
    }
    zsock_destroy(&self->sock);
    s_ids_pool_free(self);
    zcert_destroy(&self->cert);
    free(self->endpoint);
    pl_buf_free(&self->staged);
    free(self);
    return NULL;
}

void gw_zlink_stop(gw_zlink_t *self)
{
    if (!self || self->stopped)
        return;
    self->stopped = true;
    pl_batch_begin_reqs(&self->staged); /* its requests are in the list: answered below */
    while (self->head) {
        zl_entry_t *e = self->head;
        s_list_remove(self, e);
        s_ids_take(&self->ids, e->id);
        static const char msg[] = "the gateway is shutting down";
        s_complete(self, e, PL_E_UNAVAILABLE, msg, sizeof msg - 1);
    }
    s_drop_socket(self);
    uv_handle_t *hs[] = {(uv_handle_t *)&self->check, (uv_handle_t *)&self->prepare,
                         (uv_handle_t *)&self->idle, (uv_handle_t *)&self->hb,
                         (uv_handle_t *)&self->deadlines};
    for (size_t i = 0; i < sizeof hs / sizeof hs[0]; i++)
        if (!uv_is_closing(hs[i]))
            uv_close(hs[i], s_closed_cb);
}

void gw_zlink_destroy(gw_zlink_t **self_p)
{
    if (!self_p || !*self_p)
        return;
    gw_zlink_t *self = *self_p;
    /* gw_zlink_stop must have run and the loop must have closed the handles */
    s_answer_late(self);
    zsock_destroy(&self->sock);
    s_ids_pool_free(self);
    zcert_destroy(&self->cert);
    free(self->endpoint);
    pl_slots_destroy(&self->table);
    pl_buf_free(&self->out);
    pl_buf_free(&self->staged);
    free(self);
    *self_p = NULL;
}
