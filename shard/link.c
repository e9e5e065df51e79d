/* link — DEALER socket to the router and the loop. See link.h. */
#include "link.h"

#include <errno.h>
#include <string.h>

#include "pl_curve.h"
#include "pl_liveness.h"
#include "pl_log.h"
#include "pl_msg.h"
#include "pl_time.h"
#include "pl_turn.h"
#include "pl_wire.h"

typedef struct {
    shard_t *shard;
    zsock_t *sock;
    zloop_t *loop;
    const char *endpoint;
    zcert_t *cert;
    const char *server_key;
    pl_liveness_t live; /* when the router last spoke */
    bool fresh;         /* new connection, nothing heard yet: HELLO at every tick */
    volatile sig_atomic_t *stop;
} link_t;

static int s_send(void *arg, int count, const void *const *parts, const size_t *lens)
{
    link_t *self = arg;
    if (!self->sock) {
        errno = EAGAIN;
        return -1;
    }
    return pl_wire_send(self->sock, count, parts, lens);
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

/* Drain (bounded), then group-commit and answer. zmq_poll is level-triggered for
 * ZeroMQ sockets: what is left after SHARD_DRAIN_MAX wakes the loop again. Messages are
 * received into zmq_msg_t and decoded in place (no czmq zmsg_t, no copy). */
static int s_on_socket(zloop_t *loop, zsock_t *sock, void *arg)
{
    link_t *self = arg;
    int n = 0;
    void *h = zsock_resolve(sock);
    pl_turn_begin();
    for (; n < SHARD_DRAIN_MAX && !*self->stop; n++) {
        zmq_msg_t parts[2];
        int k = s_recv(h, parts);
        if (k == 0)
            break;
        s_heard(self);
        if (k > 2)
            pl_warn("dropped a message of %d frames", k);
        else if (k == 2)
            shard_handle(self->shard, zmq_msg_data(&parts[0]), zmq_msg_size(&parts[0]),
                         zmq_msg_data(&parts[1]), zmq_msg_size(&parts[1]));
        else if (!(zmq_msg_size(&parts[0]) >= 2 &&
                   ((uint8_t *)zmq_msg_data(&parts[0]))[0] == PL_MSG_MAGIC &&
                   ((uint8_t *)zmq_msg_data(&parts[0]))[1] == PL_K_HB))
            /* the router's HB only shows it is there (s_heard) */
            shard_handle(self->shard, NULL, 0, zmq_msg_data(&parts[0]), zmq_msg_size(&parts[0]));
        for (int i = 0; i < k && i < 2; i++)
            zmq_msg_close(&parts[i]);
    }
    pl_turn_note("handle", n);
    shard_flush(self->shard);
    pl_turn_note("flush", 1);
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
    if (zloop_reader(self->loop, sock, s_on_socket, self) != 0) {
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
        zloop_reader_end(self->loop, self->sock);
    zsock_destroy(&self->sock);
}

static int s_on_timer(zloop_t *loop, int timer_id, void *arg)
{
    link_t *self = arg;
    if (*self->stop)
        return -1;
    pl_turn_begin();
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
    self.loop = zloop_new();
    if (!self.loop || zloop_timer(self.loop, SHARD_HB_MS, 0, s_on_timer, &self) < 0) {
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
    while (!*stop) {
        zloop_start(self.loop); /* returns on a signal (EINTR) or a handler's -1 */
    }
    pl_info("stopping");
    rc = 0;
done:
    shard_flush(shard); /* nothing is pending between wakes; kept for safety */
    shard_set_sender(shard, NULL, NULL);
    s_disconnect(&self);
    zloop_destroy(&self.loop);
    return rc;
}
