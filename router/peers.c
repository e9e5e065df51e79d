/* peers — liveness of shards and gateways (internals.md: shard HB every 500 ms, down
 * after 3 s of silence; gateway HB every second, TABLE on a new epoch). */
#include "router_int.h"

#include "pl_wire.h"

#include <errno.h>
#include <stdlib.h>
#include <string.h>

/* Parse a decimal shard id frame strictly ("0".."nshards-1"); -1 when malformed. */
static int s_parse_id(zframe_t *f, int nshards)
{
    size_t n = zframe_size(f);
    const char *d = (const char *)zframe_data(f);
    if (n == 0 || n > 5)
        return -1;
    int v = 0;
    for (size_t i = 0; i < n; i++) {
        if (d[i] < '0' || d[i] > '9')
            return -1;
        v = v * 10 + (d[i] - '0');
    }
    if (n > 1 && d[0] == '0')
        return -1;
    return v < nshards ? v : -1;
}

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
        const void *p[] = {s->ident, "GWHB", zframe_data(gw->ident), zframe_data(gw->cur_epoch),
                           zframe_data(gw->cur_locseq)};
        size_t l[] = {s->ident_len, 4, zframe_size(gw->ident), zframe_size(gw->cur_epoch),
                      zframe_size(gw->cur_locseq)};
        if (pl_wire_send(self->back, 5, p, l) == 0)
            sent++;
    }
    if (sent)
        pl_debug("told shard %d about %d gateway(s)", id, sent);
}

/* Send ["TABLE", table] to shard id (its identity is known: it just heartbeated). */
static void s_send_table(router_t *self, int id)
{
    router_shard_t *s = &self->shards[id];
    const void *parts[] = {s->ident, "TABLE", self->table};
    size_t lens[] = {s->ident_len, 5, strlen(self->table)};
    if (pl_wire_send(self->back, 3, parts, lens) == 0)
        pl_debug("TABLE sent to shard %d", id);
    else /* the next HB still reports the old version: tried again then */
        pl_warn("cannot send TABLE to shard %d: %s", id, strerror(errno));
}

void peers__shard_hb(router_t *self, zframe_t *ident, zframe_t *idf, zframe_t *version, bool hello,
                     int64_t now)
{
    int id = s_parse_id(idf, self->nshards);
    if (id < 0) {
        char *who = router__printable(ident), *what = router__printable(idf);
        router__warn_rl(&self->rl_shard_bad,
                        "HB from %s names shard \"%s\", not one of 0..%d: ignored", who, what,
                        self->nshards - 1);
        free(who);
        free(what);
        return;
    }
    router_shard_t *s = &self->shards[id];
    size_t n = zframe_size(ident);
    /* Only the peer named s/<id> may speak for shard id: any other peer on the back socket
     * (a misconfigured shard, a stray tool) must not capture that shard's traffic. */
    char want[24];
    int wl = snprintf(want, sizeof want, "s/%d", id);
    if (n == 0 || n >= sizeof s->ident || n != (size_t)wl ||
        memcmp(zframe_data(ident), want, n) != 0) {
        char *who = router__printable(ident);
        router__warn_rl(&self->rl_shard_bad, "HB for shard %d from identity %s, not %s: ignored",
                        id, who, want);
        free(who);
        return;
    }
    if (n != s->ident_len || memcmp(s->ident, zframe_data(ident), n) != 0) {
        char *who = router__printable(ident);
        pl_warn("shard %d now heartbeats from identity %s (was %s)", id, who, s->ident);
        free(who);
        memcpy(s->ident, zframe_data(ident), n);
        s->ident[n] = '\0';
        s->ident_len = n;
    }
    int64_t gap = s->last_hb ? now - s->last_hb : -1;
    if (s->alive && gap > self->shard_dead_ms) {
        /* Silent past the timeout, but the tick has not noticed yet. */
        s->alive = false;
        pl_warn("shard %d down (no heartbeat for %lld ms)", id, (long long)gap);
    }
    /* First the table (ZeroMQ keeps order per pipe: it reaches the shard before any
     * request routed after this HB), when the shard says HELLO, comes up (this router may
     * be new, with another table under the same version) or knows another version than
     * ours. A shard that sends no version (older) is left alone. */
    char mine[16];
    int ml = snprintf(mine, sizeof mine, "%u", pl_slots_version(self->slots));
    if (version && (hello || !s->alive || zframe_size(version) != (size_t)ml ||
                    memcmp(zframe_data(version), mine, (size_t)ml) != 0))
        s_send_table(self, id);
    s->last_hb = now;
    if (!s->alive) {
        s->alive = true;
        pl_info("shard %d up (%s)", id, s->ident);
        s_replay_gateways(self, id);
    } else if (hello) {
        pl_info("shard %d restarted (%s)", id, s->ident);
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

void peers__gw_loc(router_t *self, zframe_t *ident, zframe_t *epoch, zframe_t *locseq)
{
    char *key = zframe_strhex(ident);
    router_gw_t *gw = key ? zhashx_lookup(self->gws, key) : NULL;
    if (gw)
        s_gw_seq(gw, epoch, locseq);
    free(key);
}

void peers__gw_hb(router_t *self, zframe_t *ident, zframe_t *epoch, zframe_t *locseq, int64_t now)
{
    char *key = zframe_strhex(ident);
    if (!key)
        return;
    router_gw_t *gw = zhashx_lookup(self->gws, key);
    if (!gw) {
        gw = calloc(1, sizeof *gw);
        if (!gw)
            goto done;
        gw->ident = zframe_dup(ident);
        gw->name = router__printable(ident);
        if (!gw->ident || !gw->name) {
            peers__gw_free((void **)&gw);
            goto done;
        }
        zhashx_insert(self->gws, key, gw);
        pl_info("gateway %s up", gw->name);
    }
    gw->last_hb = now;
    s_gw_seq(gw, epoch, locseq);
    if (!gw->epoch || !zframe_streq(epoch, gw->epoch)) {
        char *ep = zframe_strdup(epoch);
        if (!ep)
            goto done;
        if (gw->epoch)
            pl_info("gateway %s restarted (epoch %s, was %s)", gw->name, ep, gw->epoch);
        const void *parts[] = {zframe_data(ident), "TABLE", self->table};
        size_t lens[] = {zframe_size(ident), 5, strlen(self->table)};
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
done:
    free(key);
}

static void s_free_str(void **item)
{
    free(*item);
    *item = NULL;
}

void peers__tick(router_t *self, int64_t now)
{
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
