/* link — DEALER socket to the router and the loop. See link.h. */
#include "link.h"

#include <errno.h>
#include <string.h>

#include "pl_log.h"
#include "pl_turn.h"
#include "pl_wire.h"

typedef struct {
    shard_t *shard;
    zsock_t *sock;
    volatile sig_atomic_t *stop;
} link_t;

static int s_send(void *arg, int count, const void *const *parts, const size_t *lens)
{
    link_t *self = arg;
    return pl_wire_send(self->sock, count, parts, lens);
}

/* Drain (bounded), then group-commit and answer. The socket has RCVTIMEO 0, so a
 * receive with nothing queued returns NULL at once. zmq_poll is level-triggered for
 * ZeroMQ sockets: what is left after SHARD_DRAIN_MAX wakes the loop again. */
static int s_on_socket(zloop_t *loop, zsock_t *sock, void *arg)
{
    link_t *self = arg;
    int n = 0;
    pl_turn_begin();
    for (; n < SHARD_DRAIN_MAX && !*self->stop; n++) {
        zmsg_t *msg = zmsg_recv(sock);
        if (!msg)
            break;
        shard_handle(self->shard, msg);
        zmsg_destroy(&msg);
    }
    pl_turn_note("handle", n);
    shard_flush(self->shard);
    pl_turn_note("flush", 1);
    pl_turn_end();
    return *self->stop ? -1 : 0;
}

static int s_on_timer(zloop_t *loop, int timer_id, void *arg)
{
    link_t *self = arg;
    if (*self->stop)
        return -1;
    pl_turn_begin();
    shard_tick(self->shard);
    pl_turn_note("tick", 1);
    pl_turn_end();
    return 0;
}

int shard_link_run(shard_t *shard, const char *endpoint, volatile sig_atomic_t *stop)
{
    link_t self = {.shard = shard, .stop = stop};
    zloop_t *loop = NULL;
    int rc = -1;
    self.sock = zsock_new(ZMQ_DEALER);
    if (!self.sock) {
        pl_error("cannot create the router socket: %s", strerror(errno));
        goto done;
    }
    char identity[32];
    snprintf(identity, sizeof(identity), "s/%d", shard->id);
    zsock_set_identity(self.sock, identity);
    zsock_set_rcvtimeo(self.sock, 0);
    if (pl_wire_setup(self.sock, false) != 0 || zsock_connect(self.sock, "%s", endpoint) != 0) {
        pl_error("cannot connect to the router at %s: %s", endpoint, strerror(errno));
        goto done;
    }
    pl_turn_init();
    loop = zloop_new();
    if (!loop || zloop_reader(loop, self.sock, s_on_socket, &self) != 0 ||
        zloop_timer(loop, SHARD_HB_MS, 0, s_on_timer, &self) < 0) {
        pl_error("cannot set up the loop");
        goto done;
    }
    shard_set_sender(shard, s_send, &self);
    pl_info("shard %d (%s) connected to %s%s", shard->id, identity, endpoint,
            shard->sync ? ", fsync per group commit" : "");
    shard_hello(shard);
    shard_tick(shard); /* at start: resend the stored outbox */
    while (!*stop) {
        zloop_start(loop); /* returns on a signal (EINTR) or a handler's -1 */
    }
    pl_info("stopping");
    rc = 0;
done:
    shard_flush(shard); /* nothing is pending between wakes; kept for safety */
    shard_set_sender(shard, NULL, NULL);
    zloop_destroy(&loop);
    zsock_destroy(&self.sock);
    return rc;
}
