/* peers — liveness of shards and gateways (internals.md: shard HB every 500 ms, down
 * after 3 s of silence; gateway HB every second, TABLE on a new epoch). */
#include "router_int.h"

#include "pl_time.h"
#include "pl_wire.h"

#include <errno.h>
#include <stdlib.h>
#include <string.h>

bool peers__shard_live(router_t *self, int id, int64_t now)
{
    if (id < 0 || id >= self->nshards)
        return false;
    const router_shard_t *s = &self->shards[id];
    return s->last_hb != 0 && now - s->last_hb <= self->shard_dead_ms;
}

bool peers__all_shards_live(router_t *self, int64_t now)
{
    for (int i = 0; i < self->nshards; i++)
        if (!peers__shard_live(self, i, now))
            return false;
    return true;
}

/* Send every known gateway's latest GWHB{epoch, locseq} to shard id, behind its name. */
static void s_replay_gateways(router_t *self, int id)
{
    router_shard_t *s = &self->shards[id];
    int sent = 0;
    for (router_gw_t *gw = zhashx_first(self->gws); gw; gw = zhashx_next(self->gws)) {
        if (!gw->has_seq)
            continue;
        pl_hdr_t h = {.kind = PL_K_GWHB, .id = gw->cur_epoch, .seq = gw->cur_locseq};
        if (pl_msg_begin(&self->out, &h) != 0)
            continue;
        const void *p[] = {s->rid, gw->name, self->out.data};
        size_t l[] = {s->rid_len, strlen(gw->name), self->out.len};
        if (pl_wire_send(self->back, 3, p, l) == 0)
            sent++;
    }
    if (sent)
        pl_debug("told shard %d about %d gateway(s)", id, sent);
}

/* Send TABLE{seq=version}[table] to shard id over its latest connection. */
static void s_send_table(router_t *self, int id)
{
    router_shard_t *s = &self->shards[id];
    pl_hdr_t h = {.kind = PL_K_TABLE, .seq = pl_slots_version(self->slots)};
    pl_slice_t f = {(const uint8_t *)self->table, strlen(self->table)};
    if (pl_msg_encode(&self->out, &h, 1, &f) != 0) {
        pl_warn("cannot encode TABLE for shard %d", id);
        return;
    }
    const void *parts[] = {s->rid, self->out.data};
    size_t lens[] = {s->rid_len, self->out.len};
    if (pl_wire_send(self->back, 2, parts, lens) == 0)
        pl_debug("TABLE sent to shard %d", id);
    else /* the next HB still reports the old version: tried again then */
        pl_warn("cannot send TABLE to shard %d: %s", id, strerror(errno));
}

void peers__shard_connected(router_t *self, int id, const void *rid, size_t n)
{
    router_shard_t *s = &self->shards[id];
    if (n == 0 || n > sizeof s->rid)
        return; /* libzmq routing ids are 1..255 bytes */
    if (s->rid_len && (n != s->rid_len || memcmp(s->rid, rid, n) != 0))
        pl_info("shard %d speaks over a new connection", id);
    memcpy(s->rid, rid, n);
    s->rid_len = n;
}

void peers__shard_hb(router_t *self, int id, const void *rid, size_t len, const uint64_t *version,
                     bool hello, int64_t now)
{
    router_shard_t *s = &self->shards[id];
    peers__shard_connected(self, id, rid, len);
    int64_t gap = s->last_hb ? now - s->last_hb : -1;
    if (s->alive && gap > self->shard_dead_ms) {
        /* Silent past the timeout, but the tick has not noticed yet. */
        s->alive = false;
        pl_warn("shard %d down (no heartbeat for %lld ms)", id, (long long)gap);
    }
    /* First the table (ZeroMQ keeps order per pipe: it reaches the shard before any
     * request routed after this HB), when the shard says HELLO, comes up (this router may
     * be new, with another table under the same version) or knows another version than
     * ours (0: it knows none). A shard that sends no version is left alone. */
    if (version && s->rid_len && (hello || !s->alive || *version != pl_slots_version(self->slots)))
        s_send_table(self, id);
    s->last_hb = now;
    if (!s->alive) {
        s->alive = true;
        pl_info("shard %d up", id);
        s_replay_gateways(self, id);
    } else if (hello) {
        pl_info("shard %d restarted or reconnected (HELLO)", id);
        s_replay_gateways(self, id);
    } else if (gap > ROUTER_SHARD_GAP_MS) {
        /* Two heartbeats missed: it may be a new process (restarted faster than the
         * timeout) that knows no gateway yet. A replay is harmless if it is not. */
        pl_debug("shard %d heartbeat after %lld ms", id, (long long)gap);
        s_replay_gateways(self, id);
    }
}

void peers__gw_free(void **item)
{
    if (!item || !*item)
        return;
    router_gw_t *gw = *item;
    zframe_destroy(&gw->ident);
    free(gw->name);
    free(gw);
    *item = NULL;
}

/* Remember (epoch, locseq) as the gateway's latest. */
static void s_gw_seq(router_gw_t *gw, uint64_t epoch, uint64_t locseq)
{
    gw->cur_epoch = epoch;
    gw->cur_locseq = locseq;
    gw->has_seq = true;
}

router_gw_t *peers__gw_find(router_t *self, const char *name)
{
    return zhashx_lookup(self->gws, name);
}

router_gw_t *peers__gw_touch(router_t *self, const char *name, const void *rid, size_t len)
{
    router_gw_t *gw = zhashx_lookup(self->gws, name);
    if (!gw) {
        gw = calloc(1, sizeof *gw);
        if (!gw)
            return NULL;
        gw->ident = zframe_new(rid, len);
        gw->name = strdup(name);
        if (!gw->ident || !gw->name || zhashx_insert(self->gws, name, gw) != 0) {
            peers__gw_free((void **)&gw);
            return NULL;
        }
        pl_info("gateway %s up", gw->name);
    } else if (zframe_size(gw->ident) != len || memcmp(zframe_data(gw->ident), rid, len) != 0) {
        zframe_t *f = zframe_new(rid, len);
        if (!f)
            return NULL;
        zframe_destroy(&gw->ident);
        gw->ident = f;
        pl_info("gateway %s speaks over a new connection", gw->name);
    }
    gw->last_hb = pl_mono_ms(); /* any message is a sign of life */
    return gw;
}

void peers__gw_loc(router_t *self, router_gw_t *gw, uint64_t epoch, uint64_t locseq)
{
    s_gw_seq(gw, epoch, locseq);
}

void peers__gw_hb(router_t *self, router_gw_t *gw, uint64_t epoch, uint64_t locseq, int64_t now)
{
    gw->last_hb = now;
    s_gw_seq(gw, epoch, locseq);
    if (gw->has_epoch && gw->epoch == epoch)
        return;
    if (gw->has_epoch)
        pl_info("gateway %s restarted (epoch %llu, was %llu)", gw->name, (unsigned long long)epoch,
                (unsigned long long)gw->epoch);
    /* TABLE{seq=version}[table]: the slot table in pl_slots_encode form */
    pl_hdr_t h = {.kind = PL_K_TABLE, .seq = pl_slots_version(self->slots)};
    pl_slice_t f = {(const uint8_t *)self->table, strlen(self->table)};
    const void *parts[2] = {zframe_data(gw->ident), NULL};
    size_t lens[2] = {zframe_size(gw->ident), 0};
    if (pl_msg_encode(&self->out, &h, 1, &f) == 0) {
        parts[1] = self->out.data;
        lens[1] = self->out.len;
    }
    if (parts[1] && pl_wire_send(self->front, 2, parts, lens) == 0) {
        gw->epoch = epoch;
        gw->has_epoch = true;
        pl_debug("TABLE sent to gateway %s (epoch %llu)", gw->name, (unsigned long long)epoch);
    } else {
        /* Keep the old epoch: the next HB tries again. */
        pl_warn("cannot send TABLE to gateway %s: %s", gw->name, strerror(errno));
    }
}

static void s_free_str(void **item)
{
    free(*item);
    *item = NULL;
}

/* HB to every shard that is up and every known gateway: they reconnect when the
 * router falls silent (internals.md "Heartbeats"). A failed send is harmless. */
static void s_ping(router_t *self)
{
    pl_hdr_t h = {.kind = PL_K_HB};
    if (pl_msg_begin(&self->out, &h) != 0)
        return;
    const void *hb = self->out.data;
    size_t hb_len = self->out.len;
    for (int i = 0; i < self->nshards; i++) {
        router_shard_t *s = &self->shards[i];
        if (!s->alive || !s->rid_len)
            continue;
        const void *p[] = {s->rid, hb};
        size_t l[] = {s->rid_len, hb_len};
        (void)pl_wire_send(self->back, 2, p, l);
    }
    for (router_gw_t *gw = zhashx_first(self->gws); gw; gw = zhashx_next(self->gws)) {
        const void *p[] = {zframe_data(gw->ident), hb};
        size_t l[] = {zframe_size(gw->ident), hb_len};
        (void)pl_wire_send(self->front, 2, p, l);
    }
}

void peers__tick(router_t *self, int64_t now)
{
    if (now - self->last_ping >= ROUTER_PING_MS) {
        self->last_ping = now;
        s_ping(self);
    }
    for (int i = 0; i < self->nshards; i++) {
        router_shard_t *s = &self->shards[i];
        if (s->alive && now - s->last_hb > self->shard_dead_ms) {
            s->alive = false;
            pl_warn("shard %d down (no heartbeat for %lld ms)", i, (long long)(now - s->last_hb));
        }
    }
    zlistx_t *gone = NULL;
    for (router_gw_t *gw = zhashx_first(self->gws); gw; gw = zhashx_next(self->gws)) {
        if (now - gw->last_hb <= self->gw_dead_ms)
            continue;
        pl_info("gateway %s down (no heartbeat for %lld ms)", gw->name,
                (long long)(now - gw->last_hb));
        if (!gone) {
            gone = zlistx_new();
            if (!gone)
                break;
            zlistx_set_destructor(gone, s_free_str);
        }
        char *k = strdup((const char *)zhashx_cursor(self->gws));
        if (k)
            zlistx_add_end(gone, k);
    }
    if (gone) {
        for (char *k = zlistx_first(gone); k; k = zlistx_next(gone))
            zhashx_delete(self->gws, k);
        zlistx_destroy(&gone);
    }
}
