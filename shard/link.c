/* link — DEALER socket to the router and the loop. See link.h. */
#include "link.h"

#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include "pl_curve.h"
#include "pl_liveness.h"
#include "pl_loop.h"
#include "pl_log.h"
#include "pl_msg.h"
#include "pl_time.h"
#include "pl_turn.h"
#include "pl_wire.h"

/* Gateways a turn batches for at once; a turn's REP/EVT to more gateways than this go
 * out plain for the ones past it (a cluster has a few gateways, not dozens). */
#define LINK_BATCH_GWS 32

/* The REP/EVT to one gateway staged during a turn (see s_send). */
typedef struct {
    char gw[PL_MSG_ADDR_MAX + 1]; /* its address frame, "" when the slot is free */
    size_t gw_len;
    pl_buf_t buf; /* a BATCH (pl_batch_begin) holding the staged messages; memory kept */
} link_batch_t;

typedef struct {
    shard_t *shard;
    zsock_t *sock;
    pl_loop_t *loop;
    const char *endpoint;
    zcert_t *cert;
    const char *server_key;
    pl_liveness_t live; /* when the router last spoke */
    bool fresh;         /* new connection, nothing heard yet: HELLO at every tick */
    volatile sig_atomic_t *stop;
    /* Batching (issue 9 item 2): during a turn (s_turn_begin .. s_turn_end) the REP and
     * EVT messages for a gateway are appended to its batch in the order they are sent
     * and go out at the end of the turn as one BATCH frame (a lone one plain), so the
     * router relays and CURVE-boxes one frame per gateway per turn instead of one per
     * message. The turn ends after shard_flush(): the group commit has written and then
     * staged its answers, so an `ok` still leaves only after its batch is durable. */
    bool in_turn;
    link_batch_t batch[LINK_BATCH_GWS];
    int nbatch; /* slots in use this turn: batch[0..nbatch) */
} link_t;

/* Send count frames at once. 0, or -1 with errno. */
static int s_send_now(link_t *self, int count, const void *const *parts, const size_t *lens)
{
    if (!self->sock) {
        errno = EAGAIN;
        return -1;
    }
    return pl_wire_send(self->sock, count, parts, lens);
}

/* Send the staged messages of b behind its gateway's address and empty it: a BATCH
 * frame, or the message itself when there is one. A failure (router gone, high-water
 * mark) is logged at debug: the same as for a single message (the gateway times out and
 * retries; devices recover events with sync). */
/* A frame at least this large is handed to libzmq without a copy (s_batch_send). */
#define LINK_ZEROCOPY_MIN 1024

/* libzmq's free function of a frame handed over by s_batch_send (its I/O thread or ours):
 * hint is the buffer's allocation. */
static void s_frame_free(void *data, void *hint)
{
    (void)data;
    free(hint);
}

/* Send [gw, the frame f] where f lies in b->buf, handing b->buf's memory to libzmq instead
 * of having zmq_send copy it (a turn's batch is kilobytes: the copy was ~0.4 k instructions
 * per message); b->buf gets a fresh allocation of the same size. 0, or -1 with errno
 * (nothing sent; b->buf then still holds the frame). */
static int s_send_owned(link_t *self, link_batch_t *b, pl_slice_t f)
{
    if (!self->sock) {
        errno = EAGAIN;
        return -1;
    }
    void *h = zsock_resolve(self->sock);
    /* the address first: a failure there (EHOSTUNREACH/EAGAIN) queues nothing, and the
     * data part of an accepted message cannot fail with those (pl_wire.c) */
    if (zmq_send(h, b->gw, b->gw_len, ZMQ_DONTWAIT | ZMQ_SNDMORE) < 0)
        return -1;
    uint8_t *next = malloc(b->buf.cap);
    zmq_msg_t msg;
    if (!next || zmq_msg_init_data(&msg, (void *)f.p, f.n, s_frame_free, b->buf.data) != 0) {
        free(next); /* out of memory: the data part copied, as zmq_send does */
        return zmq_send(h, f.p, f.n, ZMQ_DONTWAIT) < 0 ? -1 : 0;
    }
    b->buf.data = next; /* from here on the old memory is libzmq's (msg's) */
    b->buf.len = 0;
    if (zmq_msg_send(&msg, h, ZMQ_DONTWAIT) < 0) {
        int e = errno;
        zmq_msg_close(&msg); /* frees the old memory */
        errno = e;
        return -1;
    }
    return 0;
}

static void s_batch_send(link_t *self, link_batch_t *b)
{
    uint64_t count = pl_batch_count(&b->buf);
    if (count == 0)
        return;
    pl_slice_t f = pl_batch_frame(&b->buf); /* the lone case: the message, no batch overhead */
    const void *parts[2] = {b->gw, f.p};
    size_t lens[2] = {b->gw_len, f.n};
    int rc = f.n >= LINK_ZEROCOPY_MIN ? s_send_owned(self, b, f) : s_send_now(self, 2, parts, lens);
    if (rc != 0)
        pl_debug("send of %llu message(s) to %s failed: %s", (unsigned long long)count, b->gw,
                 strerror(errno));
    pl_batch_begin(&b->buf); /* fails only on a fresh buffer out of memory (then unused) */
}

/* The batch of gateway gw (len bytes), or a free slot for it; NULL when every slot is
 * taken by another gateway this turn. */
static link_batch_t *s_batch_of(link_t *self, const char *gw, size_t len)
{
    for (int i = 0; i < self->nbatch; i++)
        if (self->batch[i].gw_len == len && memcmp(self->batch[i].gw, gw, len) == 0)
            return &self->batch[i];
    if (self->nbatch == LINK_BATCH_GWS || len > PL_MSG_ADDR_MAX)
        return NULL;
    link_batch_t *b = &self->batch[self->nbatch];
    if (pl_batch_begin(&b->buf) != 0)
        return NULL;
    memcpy(b->gw, gw, len);
    b->gw[len] = '\0';
    b->gw_len = len;
    self->nbatch++;
    return b;
}

static void s_turn_begin(link_t *self)
{
    self->in_turn = true;
}

/* End of a turn: every gateway's staged messages go out, one frame each. */
static void s_turn_end(link_t *self)
{
    for (int i = 0; i < self->nbatch; i++)
        s_batch_send(self, &self->batch[i]);
    self->nbatch = 0;
    self->in_turn = false;
}

/* The shard's sender (shard_set_sender): [gw, REP|EVT] during a turn is staged in gw's
 * batch (0: staged; a failure to send it shows only in the debug log, as a dropped
 * message would); anything else goes at once, after what is staged for the same gateway
 * (its order to that gateway kept). A message that would take the batch past
 * PL_BATCH_MAX sends the batch first; one that alone exceeds it goes plain. */
static int s_send(void *arg, int count, const void *const *parts, const size_t *lens)
{
    link_t *self = arg;
    if (!self->in_turn || count != 2)
        return s_send_now(self, count, parts, lens);
    const uint8_t *m = parts[1];
    bool batchable = lens[1] >= PL_MSG_HDR && (m[1] == PL_K_REP || m[1] == PL_K_EVT);
    link_batch_t *b = s_batch_of(self, parts[0], lens[0]);
    if (!b)
        return s_send_now(self, count, parts, lens);
    if (batchable && !pl_batch_fits(&b->buf, lens[1])) /* full: out with it first */
        s_batch_send(self, b);
    if (!batchable || lens[1] > PL_BATCH_ENTRY_MAX) {
        s_batch_send(self, b);
        return s_send_now(self, count, parts, lens);
    }
    if (pl_batch_add(&b->buf, m, lens[1]) != 0) {
        /* out of memory: the add wrote nothing, so what is staged is intact: it goes now,
         * then this message alone */
        b->buf.failed = false;
        s_batch_send(self, b);
        return s_send_now(self, count, parts, lens);
    }
    return 0;
}

/* Notes that the router spoke. */
static void s_heard(link_t *self)
{
    pl_liveness_heard(&self->live, pl_mono_ms());
    self->fresh = false;
}

/* Receive one message without blocking into parts (address frame, message frame; extra
 * parts are closed and counted). Returns the number of parts, 0 if nothing waits. */
static int s_recv(void *h, zmq_msg_t *parts)
{
    int n = 0, more = 1;
    while (more) {
        zmq_msg_t *m = &parts[n < 2 ? n : 1];
        if (n >= 2)
            zmq_msg_close(m);
        zmq_msg_init(m);
        if (zmq_msg_recv(m, h, n == 0 ? ZMQ_DONTWAIT : 0) < 0) {
            zmq_msg_close(m);
            for (int k = 0; k < n && k < 2; k++)
                zmq_msg_close(&parts[k]);
            return 0;
        }
        more = zmq_msg_more(m);
        n++;
    }
    return n;
}

/* Drain (bounded), then group-commit and answer. The answers are sent on this socket
 * after the drain, so this returns 0: pl_loop asks ZMQ_EVENTS once before it sleeps (a
 * send may have taken the fd's signal), and calls again at once for what is left after
 * SHARD_DRAIN_MAX messages (a BATCH counts its entries: a turn's work, and so the delay
 * of the timers and of the turn's answers, stays bounded whatever the batch sizes). Messages are
 * received into zmq_msg_t and decoded in place (no czmq zmsg_t, no copy). */
static int s_on_socket(pl_loop_t *loop, zsock_t *sock, void *arg)
{
    link_t *self = arg;
    int n = 0; /* messages handled, a BATCH's entries each (the bound is on requests) */
    void *h = zsock_resolve(sock);
    pl_turn_begin();
    s_turn_begin(self);
    while (n < SHARD_DRAIN_MAX && !*self->stop) {
        zmq_msg_t parts[2];
        int k = s_recv(h, parts);
        if (k == 0)
            break;
        s_heard(self);
        int used = 1;
        if (k > 2)
            pl_warn("dropped a message of %d frames", k);
        else if (k == 2)
            used = shard_handle(self->shard, zmq_msg_data(&parts[0]), zmq_msg_size(&parts[0]),
                                zmq_msg_data(&parts[1]), zmq_msg_size(&parts[1]));
        else if (!(zmq_msg_size(&parts[0]) >= 2 &&
                   ((uint8_t *)zmq_msg_data(&parts[0]))[0] == PL_MSG_MAGIC &&
                   ((uint8_t *)zmq_msg_data(&parts[0]))[1] == PL_K_HB))
            /* the router's HB only shows it is there (s_heard) */
            used = shard_handle(self->shard, NULL, 0, zmq_msg_data(&parts[0]),
                                zmq_msg_size(&parts[0]));
        n += used > 0 ? used : 1;
        for (int i = 0; i < k && i < 2; i++)
            zmq_msg_close(&parts[i]);
    }
    pl_turn_note("handle", n);
    shard_flush(self->shard); /* answers staged only once the commit is durable */
    pl_turn_note("flush", 1);
    s_turn_end(self); /* then sent: one frame per gateway */
    pl_turn_note("send", 1);
    pl_turn_end();
    return *self->stop ? -1 : 0;
}

/* A new DEALER (CURVE client, no identity: the router knows the shard by its key),
 * connected and registered with the loop. Returns 0 or -1 (logged). */
static int s_connect(link_t *self)
{
    zsock_t *sock = zsock_new(ZMQ_DEALER);
    if (!sock) {
        pl_error("cannot create the router socket: %s", strerror(errno));
        return -1;
    }
    zsock_set_rcvtimeo(sock, 0);
    if (pl_wire_setup(sock, false) != 0 ||
        pl_curve_client(sock, self->cert, self->server_key) != 0 ||
        zsock_connect(sock, "%s", self->endpoint) != 0) {
        pl_error("cannot connect to the router at %s: %s", self->endpoint, strerror(errno));
        zsock_destroy(&sock);
        return -1;
    }
    /* SHARED: the timer sends on it too (HB, tick) */
    if (pl_loop_reader(self->loop, sock, s_on_socket, self, PL_LOOP_SHARED) != 0) {
        pl_error("cannot watch the router socket");
        zsock_destroy(&sock);
        return -1;
    }
    self->sock = sock;
    self->fresh = true;
    return 0;
}

static void s_disconnect(link_t *self)
{
    if (self->sock)
        pl_loop_reader_end(self->loop, self->sock);
    zsock_destroy(&self->sock);
}

static int s_on_timer(pl_loop_t *loop, void *arg)
{
    link_t *self = arg;
    if (*self->stop)
        return -1;
    pl_turn_begin();
    s_turn_begin(self);
    int64_t now = pl_mono_ms();
    bool waiting = self->sock && (zsock_events(self->sock) & ZMQ_POLLIN);
    if (pl_liveness_silent(&self->live, now, waiting)) {
        /* Nothing from the router, not even its HB (every 500 ms): the connection may be
         * dead, half-open or no longer the one the router sends to. A new one. */
        s_disconnect(self);
        if (s_connect(self) != 0)
            pl_warn("cannot make a new router socket; trying again");
    }
    if (self->fresh)
        shard_hello(self->shard); /* until the router answers: it learns the connection */
    shard_tick(self->shard);
    pl_turn_note("tick", 1);
    s_turn_end(self);
    pl_turn_end();
    return 0;
}

int shard_link_run(shard_t *shard, const char *endpoint, zcert_t *cert, const char *server_key,
                   volatile sig_atomic_t *stop)
{
    link_t self = {
        .shard = shard, .stop = stop, .endpoint = endpoint, .cert = cert, .server_key = server_key};
    pl_liveness_start(&self.live, pl_mono_ms());
    int rc = -1;
    pl_turn_init();
    self.loop = pl_loop_new();
    if (!self.loop || pl_loop_timer(self.loop, SHARD_HB_MS, s_on_timer, &self) != 0) {
        pl_error("cannot set up the loop");
        goto done;
    }
    if (s_connect(&self) != 0)
        goto done;
    shard_set_sender(shard, s_send, &self);
    pl_info("shard %d connected to %s%s", shard_id(shard), endpoint,
            shard_sync(shard) ? ", fsync per group commit" : "");
    shard_hello(shard);
    shard_tick(shard); /* at start: resend the stored outbox */
    /* returns once *stop is set (seen at the next wake: a signal caught on this thread
     * interrupts poll(); the 500 ms timer bounds the wait otherwise) or poll() fails */
    if (pl_loop_run(self.loop, stop) != 0) {
        pl_error("the event loop failed: %s", strerror(errno));
        goto done;
    }
    pl_loop_stats_t st = pl_loop_stats(self.loop);
    pl_info("stopping (loop: %llu wakes, %llu handler runs, %llu ZMQ_EVENTS checks)",
            (unsigned long long)st.wakes, (unsigned long long)st.runs,
            (unsigned long long)st.checks);
    rc = 0;
done:
    shard_flush(shard); /* nothing is pending between wakes; kept for safety */
    shard_set_sender(shard, NULL, NULL);
    s_disconnect(&self);
    for (int i = 0; i < LINK_BATCH_GWS; i++)
        pl_buf_free(&self.batch[i].buf);
    pl_loop_destroy(&self.loop);
    return rc;
}
