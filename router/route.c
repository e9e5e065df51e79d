/* route — what the router does with each message (internals.md "Messages").
 * front: gateways send HB, REQ, REQN, LOC, HEALTH. back: shards send HB, REP, EVT, SNAP, FWD
 * (and optionally HELLO at start, see peers__shard_hb).
 * The sender is the peer name its CURVE key is bound to (the ZAP User-Id that libzmq
 * attaches to every message, see zap.c), never the routing id: a gateway is "g/<name>",
 * a shard "s/<id>", and each may send only its own role's verbs, as itself.
 * Every frame is treated as bytes; nothing a peer sends can crash the router: a message
 * with the wrong number of frames or an unknown verb is logged and dropped. */
#include "router_int.h"

#include "pl_err.h"
#include "pl_time.h"
#include "pl_wire.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* The longest message either side may send has 6 frames with the identity. */
#define ROUTE_MAX_FRAMES 6

/* Split msg into frames; returns the count, or -1 when there are more than max. */
static int s_frames(zmsg_t *msg, zframe_t **out, int max)
{
    int n = 0;
    for (zframe_t *f = zmsg_first(msg); f; f = zmsg_next(msg)) {
        if (n == max)
            return -1;
        out[n++] = f;
    }
    return n;
}

static void s_malformed(router_t *self, const char *side, zframe_t **f, int n)
{
    /* n < 0: too many frames, f holds the first ROUTE_MAX_FRAMES. */
    int k = n < 0 ? ROUTE_MAX_FRAMES : n;
    char *who = router__printable(k > 0 ? f[0] : NULL);
    char *verb = k > 1 ? router__printable(f[1]) : strdup("(none)");
    router__warn_rl(&self->rl_malformed,
                    "%s: malformed message from %s (verb %s, %s%d frames): dropped", side,
                    who ? who : "?", verb ? verb : "?", n < 0 ? "over " : "", k - 1);
    free(who);
    free(verb);
}

/* Send the frames, prefixed with the identity of shard id. Returns 0 or -1 (errno). */
static int s_to_shard(router_t *self, int id, int count, const void **parts, size_t *lens)
{
    if (!self->shards[id].rid_len) {
        errno = EHOSTUNREACH;
        return -1;
    }
    parts[0] = self->shards[id].rid;
    lens[0] = self->shards[id].rid_len;
    return pl_wire_send(self->back, count, parts, lens);
}

/* Relay to every shard of the table. A shard that is not connected or not keeping up
 * misses it (ROUTER_MANDATORY: EHOSTUNREACH/EAGAIN); shards recover through SNAP. */
static void s_to_all_shards(router_t *self, int count, const void **parts, size_t *lens)
{
    for (int i = 0; i < self->nshards; i++)
        if (s_to_shard(self, i, count, parts, lens) != 0)
            pl_debug("relay %.*s to shard %d failed: %s", (int)lens[1], (const char *)parts[1], i,
                     strerror(errno));
}

static void s_unavailable(router_t *self, zframe_t *gw, zframe_t *reqid, int shard, const char *why)
{
    char text[64];
    snprintf(text, sizeof text, "shard %d is unavailable", shard);
    router__warn_rl(&self->rl_unavail, "request for shard %d answered unavailable (%s)", shard,
                    why);
    const void *parts[] = {zframe_data(gw), "REP", zframe_data(reqid), PL_E_UNAVAILABLE, text};
    size_t lens[] = {zframe_size(gw), 3, zframe_size(reqid), strlen(PL_E_UNAVAILABLE),
                     strlen(text)};
    if (pl_wire_send(self->front, 5, parts, lens) != 0) {
        char *name = router__printable(gw);
        router__warn_rl(&self->rl_gw_gone, "gateway %s is gone (%s): REP dropped",
                        name ? name : "?", strerror(errno));
        free(name);
    }
}

/* The peer name of the key that sent msg (ZAP User-Id), if it has the role's prefix
 * ('g' or 's' then '/'); NULL otherwise. */
static const char *s_sender(router_t *self, const char *side, zframe_t *verb, char role)
{
    /* Not the routing id frame: the router makes it up and it carries no metadata. */
    const char *uid = zframe_meta(verb, "User-Id");
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

/* Shard id named by a "to shard N" frame (decimal, no sign or leading zero), or -1. */
static int s_shard_id(zframe_t *f, int nshards)
{
    const char *p = (const char *)zframe_data(f);
    size_t n = zframe_size(f);
    if (n == 0 || n > 5 || (n > 1 && p[0] == '0'))
        return -1;
    int id = 0;
    for (size_t i = 0; i < n; i++) {
        if (p[i] < '0' || p[i] > '9')
            return -1;
        id = id * 10 + (p[i] - '0');
    }
    return id < nshards ? id : -1;
}

/* ["REQ", key, reqid, payload] (to the owner of key) or ["REQN", shard, reqid, payload]
 * (to shard N) from gateway f[0] (named name). */
static void s_front_req(router_t *self, zframe_t **f, const char *name, bool to_shard, int64_t now)
{
    zframe_t *gw = f[0], *key = f[2], *reqid = f[3], *payload = f[4];
    int id = to_shard ? s_shard_id(key, self->nshards)
                      : pl_slots_owner(self->slots,
                                       pl_slot((const char *)zframe_data(key), zframe_size(key)));
    if (id < 0 || id >= self->nshards) {
        /* no owner cannot happen with an even table; REQN: no such shard */
        s_unavailable(self, gw, reqid, id, "no owner");
        return;
    }
    if (!peers__shard_live(self, id, now)) {
        s_unavailable(self, gw, reqid, id, "no heartbeat");
        return;
    }
    const void *parts[] = {NULL, "REQ", name, zframe_data(reqid), zframe_data(payload)};
    size_t lens[] = {0, 3, strlen(name), zframe_size(reqid), zframe_size(payload)};
    if (s_to_shard(self, id, 5, parts, lens) != 0)
        s_unavailable(self, gw, reqid, id, errno == EAGAIN ? "send queue full" : "not connected");
}

void route__front(router_t *self, zmsg_t *msg)
{
    zframe_t *f[ROUTE_MAX_FRAMES];
    int n = s_frames(msg, f, ROUTE_MAX_FRAMES);
    if (n < 2)
        goto bad;
    const char *name = s_sender(self, "front", f[1], 'g');
    if (!name)
        return;
    zframe_t *verb = f[1];
    int64_t now = pl_mono_ms();
    router_gw_t *gw;
    if (n == 2 && zframe_size(verb) == 0) {
        /* [""]: ZMQ_PROBE_ROUTER, sent by libzmq on every new connection of a gateway, so
         * answers and events reach it before its next HB (e.g. after a router restart). */
        peers__gw_touch(self, name, f[0]);
    } else if (zframe_streq(verb, "HB")) {
        /* ["HB", epoch, locseq] */
        if (n != 4 || zframe_size(f[2]) == 0 || zframe_size(f[2]) > 128)
            goto bad;
        if (!(gw = peers__gw_touch(self, name, f[0])))
            return;
        peers__gw_hb(self, gw, f[2], f[3], now);
        const void *p[] = {NULL, "GWHB", name, zframe_data(f[2]), zframe_data(f[3])};
        size_t l[] = {0, 4, strlen(name), zframe_size(f[2]), zframe_size(f[3])};
        s_to_all_shards(self, 5, p, l);
    } else if (zframe_streq(verb, "REQ")) {
        /* ["REQ", key, reqid, payload] */
        if (n != 5 || zframe_size(f[2]) == 0)
            goto bad;
        if (!peers__gw_touch(self, name, f[0]))
            return;
        s_front_req(self, f, name, false, now);
    } else if (zframe_streq(verb, "REQN")) {
        /* ["REQN", shard, reqid, payload]: to shard N itself (a per-shard report) */
        if (n != 5)
            goto bad;
        if (!peers__gw_touch(self, name, f[0]))
            return;
        s_front_req(self, f, name, true, now);
    } else if (zframe_streq(verb, "LOC")) {
        /* ["LOC", epoch, locseq, payload] -> ["LOC", gw, epoch, locseq, payload] */
        if (n != 5)
            goto bad;
        if (!(gw = peers__gw_touch(self, name, f[0])))
            return;
        peers__gw_loc(self, gw, f[2], f[3]);
        const void *p[] = {
            NULL, "LOC", name, zframe_data(f[2]), zframe_data(f[3]), zframe_data(f[4])};
        size_t l[] = {0, 3, strlen(name), zframe_size(f[2]), zframe_size(f[3]), zframe_size(f[4])};
        s_to_all_shards(self, 6, p, l);
    } else if (zframe_streq(verb, "HEALTH")) {
        /* ["HEALTH", reqid] -> ["HEALTH", reqid, "1"/"0"] */
        if (n != 3)
            goto bad;
        const char *ok = peers__all_shards_live(self, now) ? "1" : "0";
        const void *p[] = {zframe_data(f[0]), "HEALTH", zframe_data(f[2]), ok};
        size_t l[] = {zframe_size(f[0]), 6, zframe_size(f[2]), 1};
        if (pl_wire_send(self->front, 4, p, l) != 0)
            pl_debug("HEALTH answer lost: %s", strerror(errno));
    } else
        goto bad;
    return;
bad:
    s_malformed(self, "front", f, n);
}

/* Relay frames f[3..n) to gateway f[2] under verb: [gw, verb, f[3], ...]. */
static void s_to_gateway(router_t *self, const char *verb, zframe_t **f, int n)
{
    const void *p[ROUTE_MAX_FRAMES];
    size_t l[ROUTE_MAX_FRAMES];
    int k = 0;
    char name[128];
    size_t nl = zframe_size(f[2]);
    router_gw_t *gw = NULL;
    if (nl < sizeof name) {
        memcpy(name, zframe_data(f[2]), nl);
        name[nl] = '\0';
        if (strlen(name) == nl)
            gw = peers__gw_find(self, name);
    }
    if (!gw) {
        char *pr = router__printable(f[2]);
        router__warn_rl(&self->rl_gw_gone, "gateway %s is unknown or gone: %s dropped",
                        pr ? pr : "?", verb);
        free(pr);
        return;
    }
    p[k] = zframe_data(gw->ident);
    l[k++] = zframe_size(gw->ident);
    p[k] = verb;
    l[k++] = strlen(verb);
    for (int i = 3; i < n; i++) {
        p[k] = zframe_data(f[i]);
        l[k++] = zframe_size(f[i]);
    }
    if (pl_wire_send(self->front, k, p, l) != 0) {
        char *name = router__printable(f[2]);
        router__warn_rl(&self->rl_gw_gone, "gateway %s is %s: %s dropped", name ? name : "?",
                        errno == EAGAIN ? "not keeping up" : "gone", verb);
        free(name);
    }
}

void route__back(router_t *self, zmsg_t *msg)
{
    zframe_t *f[ROUTE_MAX_FRAMES];
    int n = s_frames(msg, f, ROUTE_MAX_FRAMES);
    if (n < 2)
        goto bad;
    const char *name = s_sender(self, "back", f[1], 's');
    if (!name)
        return;
    zframe_t *verb = f[1];
    if (n == 2 && zframe_size(verb) == 0) {
        /* [""]: ZMQ_PROBE_ROUTER on a new connection of the shard: send to it from now on
         * (it counts as up only with its HB/HELLO). */
        char *end;
        long v = strtol(name + 2, &end, 10);
        if (*end == '\0' && v >= 0 && v < self->nshards)
            peers__shard_connected(self, (int)v, f[0]);
    } else if (zframe_streq(verb, "HB") || zframe_streq(verb, "HELLO")) {
        /* ["HB", shardid, version] every 500 ms; ["HELLO", shardid, version] at start and
         * after a reconnect; version (of the slot table the shard knows, "0": none) may be
         * absent. Only the key of s/<id> may heartbeat for shard id, and only for an id of
         * the table. (Other shard keys, e.g. of a shard not in the table yet, may relay.) */
        if (n != 3 && n != 4)
            goto bad;
        int id = -1;
        if (zframe_size(f[2]) + 2 == strlen(name) &&
            memcmp(zframe_data(f[2]), name + 2, zframe_size(f[2])) == 0) {
            char *end;
            long v = strtol(name + 2, &end, 10);
            if (*end == '\0' && v >= 0 && v < self->nshards)
                id = (int)v;
        }
        if (id < 0) {
            char *what = router__printable(f[2]);
            router__warn_rl(&self->rl_shard_bad,
                            "HB naming shard \"%s\" from %s, not its own id of 0..%d: ignored",
                            what ? what : "?", name, self->nshards - 1);
            free(what);
            return;
        }
        peers__shard_hb(self, id, f[0], n == 4 ? f[3] : NULL, zframe_streq(verb, "HELLO"),
                        pl_mono_ms());
    } else if (zframe_streq(verb, "REP")) {
        /* ["REP", gw, reqid, status, body] -> gw: ["REP", reqid, status, body] */
        if (n != 6)
            goto bad;
        s_to_gateway(self, "REP", f, n);
    } else if (zframe_streq(verb, "EVT")) {
        /* ["EVT", gw, to, skip, event] -> gw: ["EVT", to, skip, event] */
        if (n != 6)
            goto bad;
        s_to_gateway(self, "EVT", f, n);
    } else if (zframe_streq(verb, "SNAP")) {
        /* ["SNAP", gw] -> gw: ["SNAP"] */
        if (n != 3)
            goto bad;
        s_to_gateway(self, "SNAP", f, n);
    } else if (zframe_streq(verb, "FWD")) {
        /* ["FWD", key, payload] -> owner of key: ["FWD", payload] */
        if (n != 4 || zframe_size(f[2]) == 0)
            goto bad;
        int id = pl_slots_owner(self->slots,
                                pl_slot((const char *)zframe_data(f[2]), zframe_size(f[2])));
        const char *why = NULL;
        if (id < 0 || id >= self->nshards)
            why = "no owner";
        else if (!peers__shard_live(self, id, pl_mono_ms()))
            why = "no heartbeat";
        else {
            const void *p[] = {NULL, "FWD", zframe_data(f[3])};
            size_t l[] = {0, 3, zframe_size(f[3])};
            if (s_to_shard(self, id, 3, p, l) != 0)
                why = errno == EAGAIN ? "send queue full" : "not connected";
        }
        if (why) {
            char *key = router__printable(f[2]);
            router__warn_rl(&self->rl_fwd_drop,
                            "FWD for %s dropped: shard %d is down (%s); the sender retries",
                            key ? key : "?", id, why);
            free(key);
        }
    } else
        goto bad;
    return;
bad:
    s_malformed(self, "back", f, n);
}
