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

/* Send every known gateway's latest GWHB to shard id. */
static void s_replay_gateways(router_t *self, int id)
{
    router_shard_t *s = &self->shards[id];
    int sent = 0;
    for (router_gw_t *gw = zhashx_first(self->gws); gw; gw = zhashx_next(self->gws)) {
        if (!gw->cur_epoch || !gw->cur_locseq)
            continue;
        const void *p[] = {s->rid, "GWHB", gw->name, zframe_data(gw->cur_epoch),
                           zframe_data(gw->cur_locseq)};
        size_t l[] = {s->rid_len, 4, strlen(gw->name), zframe_size(gw->cur_epoch),
                      zframe_size(gw->cur_locseq)};
        if (pl_wire_send(self->back, 5, p, l) == 0)
            sent++;
    }
    if (sent)
        pl_debug("told shard %d about %d gateway(s)", id, sent);
}

/* Send ["TABLE", table] to shard id over its latest connection. */
static void s_send_table(router_t *self, int id)
{
    router_shard_t *s = &self->shards[id];
    const void *parts[] = {s->rid, "TABLE", self->table};
    size_t lens[] = {s->rid_len, 5, strlen(self->table)};
    if (pl_wire_send(self->back, 3, parts, lens) == 0)
        pl_debug("TABLE sent to shard %d", id);
    else /* the next HB still reports the old version: tried again then */
        pl_warn("cannot send TABLE to shard %d: %s", id, strerror(errno));
}

void peers__shard_connected(router_t *self, int id, zframe_t *rid)
{
    router_shard_t *s = &self->shards[id];
    size_t n = zframe_size(rid);
    if (n == 0 || n > sizeof s->rid)
        return; /* libzmq routing ids are 1..255 bytes */
    if (s->rid_len && (n != s->rid_len || memcmp(s->rid, zframe_data(rid), n) != 0))
        pl_info("shard %d speaks over a new connection", id);
    memcpy(s->rid, zframe_data(rid), n);
    s->rid_len = n;
}

void peers__shard_hb(router_t *self, int id, zframe_t *rid, zframe_t *version, bool hello,
                     int64_t now)
{
    router_shard_t *s = &self->shards[id];
    peers__shard_connected(self, id, rid);
    int64_t gap = s->last_hb ? now - s->last_hb : -1;
    if (s->alive && gap > self->shard_dead_ms) {
        /* Silent past the timeout, but the tick has not noticed yet. */
        s->alive = false;
        pl_warn("shard %d down (no heartbeat for %lld ms)", id, (long long)gap);
    }
    /* First the table (ZeroMQ keeps order per pipe: it reaches the shard before any
     * request routed after this HB), when the shard says HELLO, comes up (this router may
     * be new, with another table under the same version) or knows another version than
     * ours. A shard that sends no version is left alone. */
    char mine[16];
    int ml = snprintf(mine, sizeof mine, "%u", pl_slots_version(self->slots));
    if (version && s->rid_len &&
        (hello || !s->alive || zframe_size(version) != (size_t)ml ||
         memcmp(zframe_data(version), mine, (size_t)ml) != 0))
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
    free(gw->epoch);
    zframe_destroy(&gw->cur_epoch);
    zframe_destroy(&gw->cur_locseq);
    free(gw);
    *item = NULL;
}

/* Remember (epoch, locseq) as the gateway's latest. */
static void s_gw_seq(router_gw_t *gw, zframe_t *epoch, zframe_t *locseq)
{
    zframe_t *e = zframe_dup(epoch), *l = zframe_dup(locseq);
    if (!e || !l) {
        zframe_destroy(&e);
        zframe_destroy(&l);
        return;
    }
    zframe_destroy(&gw->cur_epoch);
    zframe_destroy(&gw->cur_locseq);
    gw->cur_epoch = e;
    gw->cur_locseq = l;
}

router_gw_t *peers__gw_find(router_t *self, const char *name)
{
    return zhashx_lookup(self->gws, name);
}

router_gw_t *peers__gw_touch(router_t *self, const char *name, zframe_t *rid)
{
    router_gw_t *gw = zhashx_lookup(self->gws, name);
    if (!gw) {
        gw = calloc(1, sizeof *gw);
        if (!gw)
            return NULL;
        gw->ident = zframe_dup(rid);
        gw->name = strdup(name);

        if (!gw->ident || !gw->name || zhashx_insert(self->gws, name, gw) != 0) {
            peers__gw_free((void **)&gw);
            return NULL;
        }
        pl_info("gateway %s up", gw->name);
    } else if (!zframe_eq(gw->ident, rid)) {
        zframe_t *f = zframe_dup(rid);
        if (!f)
            return NULL;
        zframe_destroy(&gw->ident);
        gw->ident = f;
        pl_info("gateway %s speaks over a new connection", gw->name);
    }
    gw->last_hb = pl_mono_ms(); /* any message is a sign of life */
    return gw;
}

void peers__gw_loc(router_t *self, router_gw_t *gw, zframe_t *epoch, zframe_t *locseq)
{
    s_gw_seq(gw, epoch, locseq);
}

void peers__gw_hb(router_t *self, router_gw_t *gw, zframe_t *epoch, zframe_t *locseq, int64_t now)
{
    gw->last_hb = now;
    s_gw_seq(gw, epoch, locseq);
    if (!gw->epoch || !zframe_streq(epoch, gw->epoch)) {
        char *ep = zframe_strdup(epoch);
        if (!ep)
            return;
        if (gw->epoch)
            pl_info("gateway %s restarted (epoch %s, was %s)", gw->name, ep, gw->epoch);
        const void *parts[] = {zframe_data(gw->ident), "TABLE", self->table};
        size_t lens[] = {zframe_size(gw->ident), 5, strlen(self->table)};
        if (pl_wire_send(self->front, 3, parts, lens) == 0) {
            free(gw->epoch);
            gw->epoch = ep;
            pl_debug("TABLE sent to gateway %s (epoch %s)", gw->name, ep);
        } else {
            /* Keep the old epoch: the next HB tries again. */
            pl_warn("cannot send TABLE to gateway %s: %s", gw->name, strerror(errno));
            free(ep);
        }
    }
}

static void s_free_str(void **item)
{
    free(*item);
    *item = NULL;
}

/* ["HB"] to every shard that is up and every known gateway: they reconnect when the
 * router falls silent (internals.md "Heartbeats"). A failed send is harmless. */
static void s_ping(router_t *self)
{
    for (int i = 0; i < self->nshards; i++) {
        router_shard_t *s = &self->shards[i];
        if (!s->alive || !s->rid_len)
            continue;
        const void *p[] = {s->rid, "HB"};
        size_t l[] = {s->rid_len, 2};
        (void)pl_wire_send(self->back, 2, p, l);
    }
    for (router_gw_t *gw = zhashx_first(self->gws); gw; gw = zhashx_next(self->gws)) {
        const void *p[] = {zframe_data(gw->ident), "HB"};
        size_t l[] = {zframe_size(gw->ident), 2};
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
