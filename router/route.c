/* route — what the router does with each message (internals.md "The binary protocol").
 * front: gateways send HB, REQ, REQN, BATCH (of REQ/REQN), LOC, HEALTH. back: shards send HB,
 * HELLO, REP, EVT, BATCH, SNAP, FWD. Each message is one frame (pl_msg.h) after the routing id; a
 * shard puts the name of the gateway it answers in an address frame before REP, EVT, BATCH and
 * SNAP, and the router puts the name of the asking gateway before what it relays to shards. The
 * sender is the peer name its CURVE key is bound to (the ZAP User-Id that libzmq attaches to every
 * message, see zap.c), never the routing id: a gateway is "g/<name>", a shard "s/<id>", and each
 * may send only its own role's kinds, as itself. The router decodes only the header and the field
 * offsets (pl_msg_decode: no copy) and relays the received message frame itself (zmq_msg_send moves
 * it); nothing a peer sends can crash it: a message that does not decode or has the wrong frames is
 * logged (rate limited) and dropped. */
#include "router_int.h"

#include "pl_err.h"
#include "pl_msg.h"
#include "pl_time.h"
#include "pl_wire.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* Log a message that was dropped: who sent it, how many frames, why. */
static void s_malformed(router_t *self, const char *side, const char *who, int n, const char *why)
{
    router__warn_rl(&self->rl_malformed, "%s: malformed message from %s (%d frames: %s): dropped",
                    side, who ? who : "?", n - 1, why);
}

/* Send the routing id of shard id, then [addr], then the frame m (moved on success; on
 * failure m stays the caller's). Returns 0 or -1 (errno). */
static int s_to_shard(router_t *self, int id, const char *addr, zmq_msg_t *m)
{
    router_shard_t *s = &self->shards[id];
    if (!s->rid_len) {
        errno = EHOSTUNREACH;
        return -1;
    }
    void *h = zsock_resolve(self->back);
    /* The first part decides (EHOSTUNREACH/EAGAIN): once it is queued, the rest of the
     * message cannot fail with those errors (ZeroMQ sends multipart atomically). */
    if (zmq_send(h, s->rid, s->rid_len, ZMQ_DONTWAIT | ZMQ_SNDMORE) < 0)
        return -1;
    if (addr && zmq_send(h, addr, strlen(addr), ZMQ_DONTWAIT | ZMQ_SNDMORE) < 0)
        return -1;
    return zmq_msg_send(m, h, ZMQ_DONTWAIT) < 0 ? -1 : 0;
}

/* Relay a copy of m to every shard of the table behind address addr. A shard that is not
 * connected or not keeping up misses it (ROUTER_MANDATORY: EHOSTUNREACH/EAGAIN); shards
 * recover through SNAP. zmq_msg_copy shares the bytes (no copy for long messages). */
static void s_to_all_shards(router_t *self, const char *addr, zmq_msg_t *m, const char *what)
{
    for (int i = 0; i < self->nshards; i++) {
        zmq_msg_t c;
        zmq_msg_init(&c);
        if (zmq_msg_copy(&c, m) != 0 || s_to_shard(self, i, addr, &c) != 0)
            pl_debug("relay %s to shard %d failed: %s", what, i, strerror(errno));
        zmq_msg_close(&c);
    }
}

/* Encode a header-only message (and fields) into the router's buffer and send it to the
 * connection rid/rid_len of sock, behind addr if not NULL. 0 or -1 (errno). */
static int s_send_new(router_t *self, zsock_t *sock, const void *rid, size_t rid_len,
                      const char *addr, const pl_hdr_t *h, int nf, const pl_slice_t *f)
{
    if (pl_msg_encode(&self->out, h, nf, f) != 0) {
        errno = ENOMEM;
        return -1;
    }
    const void *p[3] = {rid, addr, self->out.data};
    size_t l[3] = {rid_len, addr ? strlen(addr) : 0, self->out.len};
    if (!addr) {
        p[1] = p[2];
        l[1] = l[2];
    }
    return pl_wire_send(sock, addr ? 3 : 2, p, l);
}

static void s_unavailable(router_t *self, const void *rid, size_t rid_len, uint64_t reqid,
                          int shard, const char *why)
{
    char text[64];
    snprintf(text, sizeof text, "shard %d is unavailable", shard);
    router__warn_rl(&self->rl_unavail, "request for shard %d answered unavailable (%s)", shard,
                    why);
    pl_hdr_t h = {.kind = PL_K_REP, .status = PL_ST_UNAVAILABLE, .id = reqid};
    pl_slice_t f = {(const uint8_t *)text, strlen(text)};
    self->front_sent = true;
    if (s_send_new(self, self->front, rid, rid_len, NULL, &h, 1, &f) != 0)
        router__warn_rl(&self->rl_gw_gone, "a gateway is gone (%s): REP dropped", strerror(errno));
}

/* The peer name of the key that sent msg (ZAP User-Id), if it has the role's prefix
 * ('g' or 's' then '/'); NULL otherwise. */
static const char *s_sender(router_t *self, const char *side, zmq_msg_t *m, char role)
{
    /* Not the routing id frame: the router makes it up and it carries no metadata. */
    const char *uid = zmq_msg_gets(m, "User-Id");
#ifdef PARLEY_FUZZ
    if (!uid) /* the fuzz harness has no CURVE handshake: it names the sender itself */
        uid = router__fuzz_sender;
#endif
    if (uid && uid[0] == role && uid[1] == '/' && uid[2])
        return uid;
    router__warn_rl(&self->rl_noauth, "%s: message from a peer without a %s key: dropped", side,
                    role == 'g' ? "gateway" : "shard");
    return NULL;
}

/* The shard a request is for: the owner of its key (REQ) or h.shard (REQN). */
static int s_req_shard(router_t *self, const pl_msg_t *msg)
{
    if (msg->h.kind == PL_K_REQ)
        return pl_slots_owner(self->slots, pl_slot((const char *)msg->f[0].p, msg->f[0].n));
    return msg->h.shard;
}

/* Why shard id cannot take a request now, or NULL when it can. */
static const char *s_shard_down(router_t *self, int id, int64_t now)
{
    if (id < 0 || id >= self->nshards)
        return "no owner";
    if (!peers__shard_live(self, id, now))
        return "no heartbeat";
    return NULL;
}

/* Send what is staged for shard s (behind its gateway's address) and empty it: a BATCH,
 * or the message itself when there is one. When the send fails, each staged request is
 * answered `unavailable` to its gateway (it is still connected: it just sent them). */
static void s_flush_shard(router_t *self, int id)
{
    router_shard_t *s = &self->shards[id];
    if (pl_batch_count(&s->staged) == 0 || !s->staged_gw[0])
        return;
    pl_slice_t f = pl_batch_frame(&s->staged);
    zmq_msg_t m;
    if (zmq_msg_init_size(&m, f.n) != 0) {
        errno = ENOMEM;
    } else {
        memcpy(zmq_msg_data(&m), f.p, f.n);
        if (s_to_shard(self, id, s->staged_gw, &m) == 0)
            goto done;
        zmq_msg_close(&m);
    }
    const char *why = errno == EAGAIN ? "send queue full" : "not connected";
    router_gw_t *gw = peers__gw_find(self, s->staged_gw);
    pl_msg_t b, in;
    pl_batch_it_t it;
    if (gw && pl_msg_decode(s->staged.data, s->staged.len, &b) == 0) {
        pl_batch_iter(&it, &b);
        while (pl_batch_next(&it, &in) == 1)
            s_unavailable(self, zframe_data(gw->ident), zframe_size(gw->ident), in.h.id, id, why);
    }
done:
    pl_batch_begin_reqs(&s->staged); /* cannot fail once it has held a batch */
    s->staged_gw[0] = '\0';
}

bool route__flush(router_t *self)
{
    self->front_sent = false;
    if (self->staged_any) {
        for (int i = 0; i < self->nshards; i++)
            s_flush_shard(self, i);
        self->staged_any = false;
    }
    return self->front_sent;
}

/* Stage the request msg[0..len) of gateway name for shard id: appended to the shard's
 * batch (sent by route__flush at the end of the drain), after flushing it when it holds
 * another gateway's requests or has no room. 0, or -1 when it cannot be staged (too large
 * for a batch, or no memory): then the caller sends it alone. */
static int s_stage(router_t *self, int id, const char *name, const void *msg, size_t len)
{
    router_shard_t *s = &self->shards[id];
    if (len > PL_BATCH_ENTRY_MAX) {
        s_flush_shard(self, id);
        return -1;
    }
    if (s->staged_gw[0] && (strcmp(s->staged_gw, name) != 0 || !pl_batch_fits(&s->staged, len)))
        s_flush_shard(self, id);
    if (!s->staged_gw[0]) {
        size_t nl = strlen(name);
        if (nl > PL_MSG_ADDR_MAX || pl_batch_begin_reqs(&s->staged) != 0)
            return -1;
        memcpy(s->staged_gw, name, nl + 1);
    }
    if (pl_batch_add(&s->staged, msg, len) != 0) {
        s->staged.failed = false; /* the add wrote nothing: what is staged is intact */
        s_flush_shard(self, id);
        return -1;
    }
    self->staged_any = true;
    return 0;
}

/* REQ (owner of its key) or REQN (shard number h.shard) from gateway name over rid: staged
 * for its shard (the bytes of msg, raw[0..len)); m, when not NULL, is the message frame
 * holding it alone, relayed as it came when it cannot be staged. */
static void s_front_req(router_t *self, zmq_msg_t *rid, zmq_msg_t *m, const pl_msg_t *msg,
                        const void *raw, size_t len, const char *name, int64_t now)
{
    int id = s_req_shard(self, msg);
    const char *why = s_shard_down(self, id, now);
    if (why) {
        s_unavailable(self, zmq_msg_data(rid), zmq_msg_size(rid), msg->h.id, id, why);
        return;
    }
    if (s_stage(self, id, name, raw, len) == 0)
        return;
    /* alone, after what was staged for the shard (s_stage flushed it) */
    uint64_t reqid = msg->h.id; /* msg points into m, which the send consumes */
    zmq_msg_t c;
    int rc = -1;
    if (m)
        rc = s_to_shard(self, id, name, m);
    else if (zmq_msg_init_size(&c, len) == 0) {
        memcpy(zmq_msg_data(&c), raw, len);
        rc = s_to_shard(self, id, name, &c);
        zmq_msg_close(&c);
    }
    if (rc != 0)
        s_unavailable(self, zmq_msg_data(rid), zmq_msg_size(rid), reqid, id,
                      errno == EAGAIN ? "send queue full" : "not connected");
}

/* A BATCH of requests from gateway name: checked whole (a malformed one is dropped and
 * changes nothing), then each entry staged for its shard in order, as if it had come
 * alone. */
static void s_front_batch(router_t *self, zmq_msg_t *rid, const pl_msg_t *batch, const char *name,
                          int n, int64_t now)
{
    int rc;
    if (!pl_batch_is_reqs(batch)) {
        s_malformed(self, "front", name, n, "a BATCH of answers");
        return;
    }
    if ((rc = pl_batch_check(batch)) != 0) {
        s_malformed(self, "front", name, n, pl_msg_strerror(rc));
        return;
    }
    pl_batch_it_t it;
    pl_msg_t in;
    pl_batch_iter(&it, batch);
    const uint8_t *at = it.p;
    while (pl_batch_next(&it, &in) == 1) {
        /* the entry's bytes: after its u32 length, up to where the iterator now stands */
        const uint8_t *raw = at + PL_BATCH_ENTRY;
        size_t len = (size_t)(it.p - raw);
        at = it.p;
        if (in.h.kind == PL_K_REQ && in.f[0].n == 0) {
            s_malformed(self, "front", name, n, "REQ without a key (in a BATCH)");
            continue;
        }
        s_front_req(self, rid, NULL, &in, raw, len, name, now);
    }
}

int route__front(router_t *self, zmq_msg_t *parts, int n)
{
    if (n < 2) {
        s_malformed(self, "front", NULL, n, "no message");
        return 1;
    }
    const char *name = s_sender(self, "front", &parts[1], 'g');
    if (!name)
        return 1;
    zmq_msg_t *rid = &parts[0], *m = &parts[1];
    int64_t now = pl_mono_ms();
    router_gw_t *gw;
    if (n == 2 && zmq_msg_size(m) == 0) {
        /* [""]: ZMQ_PROBE_ROUTER, sent by libzmq on every new connection of a gateway, so
         * answers and events reach it before its next HB (e.g. after a router restart). */
        peers__gw_touch(self, name, zmq_msg_data(rid), zmq_msg_size(rid));
        return 1;
    }
    if (n != 2) {
        s_malformed(self, "front", name, n, "not one message frame");
        return 1;
    }
    pl_msg_t msg;
    int rc = pl_msg_decode(zmq_msg_data(m), zmq_msg_size(m), &msg);
    if (rc != 0) {
        s_malformed(self, "front", name, n, pl_msg_strerror(rc));
        return 1;
    }
    switch (msg.h.kind) {
    case PL_K_HB:
        /* HB{id=epoch, seq=locseq}: relayed to every shard as GWHB behind the gateway's
         * name; the first HB of an epoch gets TABLE. */
        if (!(gw = peers__gw_touch(self, name, zmq_msg_data(rid), zmq_msg_size(rid))))
            return 1;
        peers__gw_hb(self, gw, msg.h.id, msg.h.seq, now);
        route__flush(self); /* the gateway's staged requests first: its order kept */
        msg.h.kind = PL_K_GWHB;
        for (int i = 0; i < self->nshards; i++)
            if (self->shards[i].rid_len &&
                s_send_new(self, self->back, self->shards[i].rid, self->shards[i].rid_len, name,
                           &msg.h, 0, NULL) != 0)
                pl_debug("GWHB to shard %d failed: %s", i, strerror(errno));
        break;
    case PL_K_REQ:
    case PL_K_REQN:
        if (msg.h.kind == PL_K_REQ && msg.f[0].n == 0) {
            s_malformed(self, "front", name, n, "REQ without a key");
            return 1;
        }
        if (!peers__gw_touch(self, name, zmq_msg_data(rid), zmq_msg_size(rid)))
            return 1;
        s_front_req(self, rid, m, &msg, zmq_msg_data(m), zmq_msg_size(m), name, now);
        break;
    case PL_K_BATCH:
        if (!peers__gw_touch(self, name, zmq_msg_data(rid), zmq_msg_size(rid)))
            return 1;
        s_front_batch(self, rid, &msg, name, n, now);
        return pl_batch_weight(&msg);
    case PL_K_LOC:
        /* LOC{id=epoch, seq=locseq}[payload] -> every shard, behind the gateway's name */
        if (!(gw = peers__gw_touch(self, name, zmq_msg_data(rid), zmq_msg_size(rid))))
            return 1;
        peers__gw_loc(self, gw, msg.h.id, msg.h.seq);
        route__flush(self); /* the gateway's staged requests first: its order kept */
        s_to_all_shards(self, name, m, "LOC");
        break;
    case PL_K_HEALTH: {
        /* HEALTH{id} -> HEALTH{id, ANSWER, DOWN when a shard of the table is down} */
        pl_hdr_t h = {.kind = PL_K_HEALTH, .id = msg.h.id, .flags = PL_MF_ANSWER};
        if (!peers__all_shards_live(self, now))
            h.flags |= PL_MF_DOWN;
        if (s_send_new(self, self->front, zmq_msg_data(rid), zmq_msg_size(rid), NULL, &h, 0,
                       NULL) != 0)
            pl_debug("HEALTH answer lost: %s", strerror(errno));
        break;
    }
    default:
        s_malformed(self, "front", name, n, pl_kind_name(msg.h.kind));
    }
    return 1;
}

/* Relay m (moved) to the gateway named by the address frame a. */
static void s_to_gateway(router_t *self, zmq_msg_t *a, zmq_msg_t *m, unsigned kind)
{
    char name[PL_MSG_ADDR_MAX + 1];
    pl_slice_t s = {zmq_msg_data(a), zmq_msg_size(a)};
    router_gw_t *gw = pl_slice_cstr(s, name, sizeof name) ? peers__gw_find(self, name) : NULL;
    if (!gw) {
        router__warn_rl(&self->rl_gw_gone, "gateway %.*s is unknown or gone: %s dropped",
                        (int)(s.n > 64 ? 64 : s.n), (const char *)s.p, pl_kind_name(kind));
        return;
    }
    void *h = zsock_resolve(self->front);
    if (zmq_send(h, zframe_data(gw->ident), zframe_size(gw->ident), ZMQ_DONTWAIT | ZMQ_SNDMORE) <
            0 ||
        zmq_msg_send(m, h, ZMQ_DONTWAIT) < 0)
        router__warn_rl(&self->rl_gw_gone, "gateway %s is %s: %s dropped", name,
                        errno == EAGAIN ? "not keeping up" : "gone", pl_kind_name(kind));
}

/* The shard id of a peer name "s/<id>" if it is one of the table, else -1. */
static int s_shard_of(router_t *self, const char *name)
{
    char *end;
    long v = strtol(name + 2, &end, 10);
    return (*end == '\0' && name[2] >= '0' && name[2] <= '9' && v >= 0 && v < self->nshards)
               ? (int)v
               : -1;
}

int route__back(router_t *self, zmq_msg_t *parts, int n)
{
    if (n < 2 || n > 3) {
        s_malformed(self, "back", NULL, n, n < 2 ? "no message" : "too many frames");
        return 1;
    }
    zmq_msg_t *m = &parts[n - 1];
    const char *name = s_sender(self, "back", m, 's');
    if (!name)
        return 1;
    zmq_msg_t *rid = &parts[0];
    if (n == 2 && zmq_msg_size(m) == 0) {
        /* [""]: ZMQ_PROBE_ROUTER on a new connection of the shard: send to it from now on
         * (it counts as up only with its HB/HELLO). */
        int v = s_shard_of(self, name);
        if (v >= 0)
            peers__shard_connected(self, v, zmq_msg_data(rid), zmq_msg_size(rid));
        return 1;
    }
    pl_msg_t msg;
    int rc = pl_msg_decode(zmq_msg_data(m), zmq_msg_size(m), &msg);
    if (rc != 0) {
        s_malformed(self, "back", name, n, pl_msg_strerror(rc));
        return 1;
    }
    bool addressed = msg.h.kind == PL_K_REP || msg.h.kind == PL_K_EVT || msg.h.kind == PL_K_BATCH ||
                     msg.h.kind == PL_K_SNAP;
    if (addressed != (n == 3)) {
        s_malformed(self, "back", name, n, addressed ? "no address frame" : "an address frame");
        return 1;
    }
    switch (msg.h.kind) {
    case PL_K_HB:
    case PL_K_HELLO: {
        /* HB{shard} every 500 ms; HELLO{shard} at start and after a reconnect. Only the
         * key of s/<id> may heartbeat for shard id, and only for an id of the table.
         * (Other shard keys, e.g. of a shard not in the table yet, may relay.) */
        int id = s_shard_of(self, name);
        if (id < 0 || id != msg.h.shard) {
            router__warn_rl(&self->rl_shard_bad,
                            "HB naming shard %u from %s, not its own id of 0..%d: ignored",
                            (unsigned)msg.h.shard, name, self->nshards - 1);
            return 1;
        }
        /* seq: the slot table version the shard knows (0: none), see peers__shard_hb */
        peers__shard_hb(self, id, zmq_msg_data(rid), zmq_msg_size(rid),
                        msg.h.flags & PL_MF_VERSION ? &msg.h.seq : NULL, msg.h.kind == PL_K_HELLO,
                        pl_mono_ms());
        break;
    }
    case PL_K_REP:
    case PL_K_EVT:
    case PL_K_BATCH:
    case PL_K_SNAP:
        /* [gw, msg] -> gw: [msg], the frame as it came. A BATCH's entries are not looked
         * at (its header and one field decoded, as for any kind): the gateway checks
         * them, and trusts the router with nothing it could not check itself. */
        s_to_gateway(self, &parts[1], m, msg.h.kind);
        break;
    case PL_K_FWD: {
        /* FWD[key, body] -> the owner of key, as it came */
        if (msg.f[0].n == 0) {
            s_malformed(self, "back", name, n, "FWD without a key");
            return 1;
        }
        int id = pl_slots_owner(self->slots, pl_slot((const char *)msg.f[0].p, msg.f[0].n));
        const char *why = s_shard_down(self, id, pl_mono_ms());
        if (!why && s_to_shard(self, id, NULL, m) != 0)
            why = errno == EAGAIN ? "send queue full" : "not connected";
        if (why) /* m (and so msg) is still ours when the send failed */
            router__warn_rl(&self->rl_fwd_drop,
                            "FWD for %.*s dropped: shard %d is down (%s); the sender retries",
                            (int)(msg.f[0].n > 64 ? 64 : msg.f[0].n), (const char *)msg.f[0].p, id,
                            why);
        break;
    }
    default:
        s_malformed(self, "back", name, n, pl_kind_name(msg.h.kind));
    }
    return 1;
}
