/* router — lifecycle, sockets and the loop hooks of parley-router (see router.h).
 * Message handling is in route.c, peer liveness in peers.c. */
#include "router_int.h"

#include "pl_curve.h"
#include "pl_loop.h"
#include "pl_time.h"
#include "pl_turn.h"
#include "pl_wire.h"

#include <stdarg.h>
#include <stdio.h>
#include <string.h>

/* Messages handled per reader callback before other sockets and timers get a turn. */
#define ROUTER_DRAIN_MAX 256

static zsock_t *s_bind(const char *what, const char *endpoint, zcert_t *cert, char **bound)
{
    zsock_t *sock = zsock_new(ZMQ_ROUTER);
    if (!sock) {
        pl_error("cannot create the %s socket", what);
        return NULL;
    }
    if (pl_wire_setup(sock, true) != 0) {
        pl_error("cannot set options on the %s socket: %s", what, zmq_strerror(zmq_errno()));
        goto fail;
    }
    /* CURVE server; the ZAP domain ("front"/"back") tells zap.c which roles to admit.
     * No ROUTER_HANDOVER: peers choose no routing id (each connection gets a fresh one),
     * so no connection can take another's place. ZMTP heartbeats close a connection whose
     * peer stopped answering, so a dead pipe does not linger. */
    if (pl_curve_server(sock, cert, what) != 0) {
        pl_error("cannot make the %s socket a CURVE server (libzmq without CURVE?)", what);
        goto fail;
    }
    zsock_set_heartbeat_ivl(sock, ROUTER_ZMTP_IVL_MS);
    zsock_set_heartbeat_timeout(sock, ROUTER_ZMTP_TIMEOUT_MS);
    if (zsock_bind(sock, "%s", endpoint) < 0) {
        pl_error("cannot bind %s %s: %s", what, endpoint, zmq_strerror(zmq_errno()));
        goto fail;
    }
    /* ZMQ_LAST_ENDPOINT resolves wildcards ("tcp://127.0.0.1:*"). */
    const char *last = zsock_endpoint(sock);
    *bound = strdup(last ? last : endpoint);
    if (!*bound)
        goto fail;
    return sock;
fail:
    zsock_destroy(&sock);
    return NULL;
}

/* A PAIR socket receiving sock's handshake failures that ZAP never sees (a peer without
 * CURVE, or with another server key): logged by s_on_monitor. NULL if it cannot be set. */
static zsock_t *s_monitor(zsock_t *sock, const char *what)
{
    char ep[64];
    snprintf(ep, sizeof ep, "inproc://parley-router-monitor-%s-%p", what, (void *)sock);
    int events = ZMQ_EVENT_HANDSHAKE_FAILED_NO_DETAIL | ZMQ_EVENT_HANDSHAKE_FAILED_PROTOCOL;
    if (zmq_socket_monitor(zsock_resolve(sock), ep, events) != 0)
        return NULL;
    zsock_t *pair = zsock_new(ZMQ_PAIR);
    if (pair && zsock_connect(pair, "%s", ep) != 0)
        zsock_destroy(&pair);
    return pair;
}

router_t *router_new(const char *front, const char *back, int nshards, int dead_ms, zcert_t *cert,
                     const char *allow_dir)
{
    router_t *self = calloc(1, sizeof *self);
    if (!self)
        return NULL;
    char ignored[8];
    if (!cert || pl_curve_role(cert, ignored, sizeof ignored) != PL_ROLE_ROUTER) {
        pl_error("the router needs its own key pair (role router): see --curve-secret");
        goto fail;
    }
    snprintf(self->public_key, sizeof self->public_key, "%s", zcert_public_txt(cert));
    self->nshards = nshards;
    self->shard_dead_ms = dead_ms > 0 ? dead_ms : ROUTER_SHARD_DEAD_MS;
    self->gw_dead_ms = dead_ms > 0 ? dead_ms : ROUTER_GW_DEAD_MS;
    self->slots = pl_slots_new_even(nshards, 1);
    if (!self->slots) {
        pl_error("--shards %d: must be 1..%d", nshards, PL_SLOTS);
        goto fail;
    }
    self->table = pl_slots_encode(self->slots);
    self->shards = calloc((size_t)nshards, sizeof *self->shards);
    self->gws = zhashx_new();
    if (!self->table || !self->shards || !self->gws)
        goto fail;
    zhashx_set_destructor(self->gws, peers__gw_free);
    /* The ZAP handler first: a CURVE handshake with no handler would admit any key. */
    self->zap = router_zap_new(allow_dir);
    if (!self->zap)
        goto fail;
    self->front = s_bind("front", front, cert, &self->front_ep);
    if (!self->front)
        goto fail;
    self->back = s_bind("back", back, cert, &self->back_ep);
    if (!self->back)
        goto fail;
    self->mon_front = s_monitor(self->front, "front");
    self->mon_back = s_monitor(self->back, "back");
    if (!self->mon_front || !self->mon_back)
        pl_warn("no socket monitor: failed handshakes of peers without CURVE are not logged");
    return self;
fail:
    router_destroy(&self);
    return NULL;
}

void router_destroy(router_t **self_p)
{
    if (!self_p || !*self_p)
        return;
    router_t *self = *self_p;
    zsock_destroy(&self->front);
    zsock_destroy(&self->back);
    zsock_destroy(&self->mon_front);
    zsock_destroy(&self->mon_back);
    router_zap_destroy(&self->zap);
    zhashx_destroy(&self->gws);
    for (int i = 0; self->shards && i < self->nshards; i++)
        pl_buf_free(&self->shards[i].staged);
    free(self->shards);
    free(self->table);
    pl_buf_free(&self->out);
    pl_slots_destroy(&self->slots);
    free(self->front_ep);
    free(self->back_ep);
    free(self);
    *self_p = NULL;
}

const char *router_public_key(router_t *self)
{
    return self->public_key;
}

const char *router_front_endpoint(router_t *self)
{
    return self->front_ep;
}

const char *router_back_endpoint(router_t *self)
{
    return self->back_ep;
}

/* The parts kept of one message: routing id, address, message. A message with more
 * parts is received whole (ZeroMQ delivers all or none) and handed over with the count,
 * its extra parts closed, so the handler drops it as malformed. */
#define ROUTER_PARTS 3

/* Drain up to ROUTER_DRAIN_MAX messages without blocking (a gateway's BATCH counts its
 * entries, so a drain's work stays bounded), straight into zmq_msg_t parts (no czmq
 * zmsg_t: the message frame is relayed as it came). Returns 1 when a receive met EAGAIN
 * (drained), 0 at the bound: pl_loop then checks the socket and calls again. */
static int s_drain(router_t *self, zsock_t *sock, int (*handle)(router_t *, zmq_msg_t *, int))
{
    void *h = zsock_resolve(sock);
    for (int i = 0; i < ROUTER_DRAIN_MAX;) {
        zmq_msg_t parts[ROUTER_PARTS];
        int n = 0, more = 1;
        while (more) {
            zmq_msg_t *m = &parts[n < ROUTER_PARTS ? n : ROUTER_PARTS - 1];
            if (n >= ROUTER_PARTS)
                zmq_msg_close(m); /* keep the last slot for the count only */
            zmq_msg_init(m);
            if (zmq_msg_recv(m, h, n == 0 ? ZMQ_DONTWAIT : 0) < 0) {
                zmq_msg_close(m);
                for (int k = 0; k < n && k < ROUTER_PARTS; k++)
                    zmq_msg_close(&parts[k]);
                return 1; /* EAGAIN: drained */
            }
            more = zmq_msg_more(m);
            n++;
        }
        int used = handle(self, parts, n);
        i += used > 0 ? used : 1;
        for (int k = 0; k < n && k < ROUTER_PARTS; k++)
            zmq_msg_close(&parts[k]);
    }
    return 0;
}

/* front: requests from gateways. The drain's result (1: it ended in EAGAIN, the fd can be
 * trusted) unless route__flush answered a gateway on front after it: then 0, so pl_loop
 * checks front's ZMQ_EVENTS before it sleeps (the send may have consumed the fd's signal). */
static int s_on_front(pl_loop_t *loop, zsock_t *sock, void *arg)
{
    pl_turn_begin();
    int drained = s_drain(arg, sock, route__front);
    /* End of a drain of front: the requests staged per shard go out, one frame per shard
     * (route.c). */
    bool sent_front = route__flush(arg);
    pl_turn_note("front", 1);
    pl_turn_end();
    return sent_front ? 0 : drained;
}

/* back: answers and events from shards. Nothing runs on back after its drain. */
static int s_on_back(pl_loop_t *loop, zsock_t *sock, void *arg)
{
    pl_turn_begin();
    int drained = s_drain(arg, sock, route__back);
    pl_turn_note("back", 1);
    pl_turn_end();
    return drained;
}

/* ZAP requests (a peer's handshake): rare, so asked with ZMQ_EVENTS; the last one shows
 * no input, which rearms the fd (returns 1). */
static int s_on_zap(pl_loop_t *loop, zsock_t *sock, void *arg)
{
    router_t *self = arg;
    for (int i = 0; i < ROUTER_DRAIN_MAX; i++)
        if (!(zsock_events(sock) & ZMQ_POLLIN))
            return 1;
        else
            router_zap_handle(self->zap);
    return 0;
}

/* A failed handshake on front or back (ZMTP mechanism mismatch: a peer without CURVE, or
 * a CURVE peer with the wrong server key). The monitor does not tell the peer's address,
 * so this is logged at warn the first time and then at most once a minute per socket,
 * with the count; ZAP refusals (keys) are logged by zap.c. */
static int s_on_monitor(pl_loop_t *loop, zsock_t *sock, void *arg)
{
    router_t *self = arg;
    int i = sock == self->mon_front ? 0 : 1;
    if (!(zsock_events(sock) & ZMQ_POLLIN))
        return 1; /* nothing (the fd rearmed): a blocking zmsg_recv would hang the loop */
    zmsg_t *msg = zmsg_recv(sock);
    zframe_t *f = msg ? zmsg_first(msg) : NULL;
    if (!f || zframe_size(f) != 6) {
        zmsg_destroy(&msg);
        return 0;
    }
    uint16_t event;
    uint32_t value;
    memcpy(&event, zframe_data(f), 2);
    memcpy(&value, zframe_data(f) + 2, 4);
    zmsg_destroy(&msg);
    self->mon_failed[i]++;
    int64_t now = pl_mono_ms();
    if (self->mon_logged_ms[i] && now - self->mon_logged_ms[i] < 60000)
        return 0;
    pl_warn("%s: refused %llu connection(s) that failed the CURVE handshake (a peer without "
            "CURVE or with another router key; last: event 0x%x, code 0x%x)",
            i ? "back" : "front", (unsigned long long)self->mon_failed[i], event, value);
    self->mon_logged_ms[i] = now;
    self->mon_failed[i] = 0;
    return 0;
}

static int s_on_tick(pl_loop_t *loop, void *arg)
{
    pl_turn_begin();
    peers__tick(arg, pl_mono_ms());
    pl_turn_note("tick", 1);
    pl_turn_end();
    return 0;
}

int router_attach(router_t *self, pl_loop_t *loop)
{
    pl_turn_init();
    /* front and back are sent on by each other's handlers and the tick: SHARED (pl_loop
     * asks their ZMQ_EVENTS once after such a turn, as their fds may miss a signal). */
    if (pl_loop_reader(loop, router_zap_sock(self->zap), s_on_zap, self, 0) != 0 ||
        pl_loop_reader(loop, self->front, s_on_front, self, PL_LOOP_SHARED) != 0 ||
        pl_loop_reader(loop, self->back, s_on_back, self, PL_LOOP_SHARED) != 0)
        return -1;
    for (int i = 0; i < 2; i++) {
        zsock_t *m = i ? self->mon_back : self->mon_front;
        if (m && pl_loop_reader(loop, m, s_on_monitor, self, 0) != 0)
            pl_warn("cannot watch a socket monitor: failed handshakes are not logged");
    }
    if (pl_loop_timer(loop, 250, s_on_tick, self) != 0)
        return -1;
    return 0;
}

void router__warn_rl(router_rl_t *rl, const char *fmt, ...)
{
    int64_t now = pl_mono_ms();
    if (rl->last_ms && now - rl->last_ms < 1000) {
        rl->suppressed++;
        return;
    }
    char buf[512];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(buf, sizeof buf, fmt, ap);
    va_end(ap);
    if (rl->suppressed)
        pl_warn("%s (and %llu similar in the last second)", buf,
                (unsigned long long)rl->suppressed);
    else
        pl_warn("%s", buf);
    rl->last_ms = now;
    rl->suppressed = 0;
}
