/* loc — the location table. See loc.h. */
#include "loc.h"

#include <stdlib.h>
#include <string.h>

#include "pl_log.h"
#include "pl_text.h"
#include "pl_time.h"
#include "presence.h"

/* An unanswered SNAP is asked again after this long. */
#define SNAP_RETRY_MS 2000

typedef struct {
    char *id;
    char *epoch;
    uint64_t locseq; /* last LOC applied (or announced by GWHB when first seen) */
    zhashx_t *users; /* user -> this gateway_t (a set; items not owned) */
    int64_t last_hb; /* pl_mono_ms of the last GWHB or LOC */
    bool need_full;  /* SNAP sent, waiting for {"full":...} */
    int64_t snap_at;
} gateway_t;

/* One recipient of a push on one gateway (shard_loc_push's work list). */
typedef struct {
    gateway_t *g; /* NULL once its gateway's EVT is built */
    const char *user;
} push_pair_t;

struct _shard_loc_t {
    shard_t *shard;
    zhashx_t *gateways; /* gateway id -> gateway_t (owned) */
    zhashx_t *users;    /* user -> zhashx_t of gateway id -> gateway_t (owned sets) */
    /* shard_loc_push's buffers, reused from push to push (no allocation per message) */
    push_pair_t *pairs;
    size_t npairs, cap_pairs;
    pl_buf_t to;
};

static void s_gateway_free(void **item)
{
    gateway_t *g = *item;
    if (!g)
        return;
    zhashx_destroy(&g->users);
    free(g->id);
    free(g->epoch);
    free(g);
    *item = NULL;
}

static void s_set_free(void **item)
{
    zhashx_destroy((zhashx_t **)item);
}

shard_loc_t *shard_loc_new(shard_t *shard)
{
    shard_loc_t *self = calloc(1, sizeof(*self));
    if (!self)
        return NULL;
    self->shard = shard;
    self->gateways = zhashx_new();
    self->users = zhashx_new();
    if (!self->gateways || !self->users) {
        shard_loc_destroy(&self);
        return NULL;
    }
    zhashx_set_destructor(self->gateways, s_gateway_free);
    zhashx_set_destructor(self->users, s_set_free);
    zhashx_set_key_hasher(self->gateways, shard_hash_name);
    zhashx_set_key_hasher(self->users, shard_hash_name);
    return self;
}

void shard_loc_destroy(shard_loc_t **self_p)
{
    if (!self_p || !*self_p)
        return;
    zhashx_destroy(&(*self_p)->users);
    zhashx_destroy(&(*self_p)->gateways);
    free((*self_p)->pairs);
    pl_buf_free(&(*self_p)->to);
    free(*self_p);
    *self_p = NULL;
}

static void s_user_add(shard_loc_t *self, gateway_t *g, const char *user)
{
    if (!pl_user_valid(user) || zhashx_lookup(g->users, user))
        return;
    zhashx_t *set = zhashx_lookup(self->users, user);
    if (!set) {
        set = zhashx_new();
        if (!set)
            return;
        zhashx_insert(self->users, user, set);
    }
    zhashx_insert(g->users, user, g);
    zhashx_insert(set, g->id, g);
}

static void s_user_del(shard_loc_t *self, gateway_t *g, const char *user)
{
    zhashx_t *set = zhashx_lookup(self->users, user);
    zhashx_delete(g->users, user);
    if (set) {
        zhashx_delete(set, g->id);
        if (zhashx_size(set) == 0)
            zhashx_delete(self->users, user);
    }
}

/* Forget every user of g. */
static void s_clear(shard_loc_t *self, gateway_t *g)
{
    zlistx_t *names = zhashx_keys(g->users);
    for (const char *u = zlistx_first(names); u; u = zlistx_next(names))
        s_user_del(self, g, u);
    zlistx_destroy(&names);
}

static gateway_t *s_gateway_new(shard_loc_t *self, const char *id, const char *epoch, int64_t now)
{
    gateway_t *g = calloc(1, sizeof(*g));
    if (!g)
        return NULL;
    g->id = strdup(id);
    g->epoch = strdup(epoch);
    g->users = zhashx_new();
    g->last_hb = now;
    if (!g->id || !g->epoch || !g->users) {
        s_gateway_free((void **)&g);
        return NULL;
    }
    zhashx_insert(self->gateways, id, g);
    pl_info("location: gateway %s (epoch %s) seen", id, epoch);
    return g;
}

/* A new epoch of a known gateway: it restarted and holds nobody we knew of. */
static int s_reset(shard_loc_t *self, gateway_t *g, const char *epoch)
{
    char *e = strdup(epoch);
    if (!e)
        return -1;
    pl_info("location: gateway %s restarted (epoch %s -> %s)", g->id, g->epoch, epoch);
    s_clear(self, g);
    shard_presence_gw_gone(shard_presence(self->shard), g->id, pl_now_ms());
    free(g->epoch);
    g->epoch = e;
    g->locseq = 0;
    return 0;
}

static void s_snap(shard_loc_t *self, gateway_t *g, int64_t now, const char *why)
{
    pl_info("location: asking gateway %s for a snapshot (%s)", g->id, why);
    g->need_full = true;
    g->snap_at = now;
    shard_snap(self->shard, g->id);
}

static void s_apply(shard_loc_t *self, gateway_t *g, json_t *list, bool add)
{
    size_t i;
    json_t *v;
    json_array_foreach(list, i, v)
    {
        const char *user = json_string_value(v);
        if (!user)
            continue;
        if (add)
            s_user_add(self, g, user);
        else
            s_user_del(self, g, user);
    }
}

void shard_loc_on_loc(shard_loc_t *self, const char *gw, const char *epoch, uint64_t locseq,
                      json_t *payload, int64_t now)
{
    bool fresh = false;
    gateway_t *g = zhashx_lookup(self->gateways, gw);
    if (!g) {
        if (!(g = s_gateway_new(self, gw, epoch, now)))
            return;
        fresh = true;
    } else if (strcmp(g->epoch, epoch) != 0) {
        if (s_reset(self, g, epoch) != 0)
            return;
        fresh = true;
    }
    g->last_hb = now;
    json_t *full = json_object_get(payload, "full");
    json_t *add = json_object_get(payload, "add");
    json_t *del = json_object_get(payload, "del");
    if (json_is_array(full)) {
        if (!fresh && locseq < g->locseq) {
            pl_debug("location: stale snapshot %llu from %s ignored", (unsigned long long)locseq,
                     gw);
            return;
        }
        s_clear(self, g);
        s_apply(self, g, full, true);
        g->locseq = locseq;
        g->need_full = false;
        pl_info("location: gateway %s snapshot at %llu: %zu users", gw, (unsigned long long)locseq,
                zhashx_size(g->users));
        return;
    }
    if ((add && !json_is_array(add)) || (del && !json_is_array(del))) {
        pl_warn("location: malformed LOC %llu from %s", (unsigned long long)locseq, gw);
        s_snap(self, g, now, "malformed LOC");
        return;
    }
    if (!fresh && locseq <= g->locseq) {
        pl_debug("location: old LOC %llu from %s ignored", (unsigned long long)locseq, gw);
        return;
    }
    /* Apply even across a gap: what it says is true now; the snapshot fixes the rest. */
    s_apply(self, g, del, false);
    s_apply(self, g, add, true);
    if (fresh)
        s_snap(self, g, now, "unknown epoch");
    else if (locseq != g->locseq + 1 && !g->need_full)
        s_snap(self, g, now, "gap in locseq");
    g->locseq = locseq;
}

void shard_loc_on_gwhb(shard_loc_t *self, const char *gw, const char *epoch, uint64_t locseq,
                       int64_t now)
{
    gateway_t *g = zhashx_lookup(self->gateways, gw);
    if (!g) {
        if (!(g = s_gateway_new(self, gw, epoch, now)))
            return;
        g->locseq = locseq;
        s_snap(self, g, now, "unknown gateway");
        return;
    }
    g->last_hb = now;
    if (strcmp(g->epoch, epoch) != 0) {
        if (s_reset(self, g, epoch) != 0)
            return;
        g->locseq = locseq;
        s_snap(self, g, now, "new epoch");
    } else if (locseq > g->locseq && !g->need_full)
        s_snap(self, g, now, "missed a LOC");
}

void shard_loc_tick(shard_loc_t *self, int64_t now)
{
    zlistx_t *dead = zlistx_new();
    if (!dead)
        return;
    for (gateway_t *g = zhashx_first(self->gateways); g; g = zhashx_next(self->gateways)) {
        if (now - g->last_hb > shard_gw_timeout_ms(self->shard))
            zlistx_add_end(dead, g);
        else if (g->need_full && now - g->snap_at >= SNAP_RETRY_MS)
            s_snap(self, g, now, "snapshot not answered");
    }
    for (gateway_t *g = zlistx_first(dead); g; g = zlistx_next(dead)) {
        pl_info("location: gateway %s silent for %lld ms, dropping its %zu users", g->id,
                (long long)(now - g->last_hb), zhashx_size(g->users));
        s_clear(self, g);
        shard_presence_gw_gone(shard_presence(self->shard), g->id,
                               pl_now_ms() - (now - g->last_hb));
        zhashx_delete(self->gateways, g->id);
    }
    zlistx_destroy(&dead);
}

size_t shard_loc_push(shard_loc_t *self, const char *const *users, size_t n, const char *skip,
                      const char *event)
{
    size_t present = 0;
    /* (gateway, user) pairs of every recipient held somewhere, then one EVT per gateway
     * with its recipients' list: the pairs and the list live in reused buffers. Groups
     * have at most 100 members, so the pairing pass stays small. */
    self->npairs = 0;
    for (size_t i = 0; i < n; i++) {
        zhashx_t *set = zhashx_lookup(self->users, users[i]);
        if (!set)
            continue;
        present++; /* a user's set is deleted with its last gateway: never empty */
        for (gateway_t *g = zhashx_first(set); g; g = zhashx_next(set)) {
            if (self->npairs == self->cap_pairs) {
                size_t cap = self->cap_pairs ? self->cap_pairs * 2 : 16;
                push_pair_t *p = realloc(self->pairs, cap * sizeof *p);
                if (!p)
                    break; /* out of memory: those recipients catch up with sync */
                self->pairs = p;
                self->cap_pairs = cap;
            }
            self->pairs[self->npairs++] = (push_pair_t){g, users[i]};
        }
    }
    for (size_t i = 0; i < self->npairs; i++) {
        gateway_t *g = self->pairs[i].g;
        if (!g)
            continue;
        pl_buf_reset(&self->to);
        for (size_t j = i; j < self->npairs; j++)
            if (self->pairs[j].g == g) {
                pl_list_add(&self->to, self->pairs[j].user, strlen(self->pairs[j].user));
                self->pairs[j].g = NULL;
            }
        if (!self->to.failed)
            shard_event(self->shard, g->id, self->to.data, self->to.len, skip, event);
    }
    return present;
}

void shard_loc_push_all(shard_loc_t *self, const char *user, const char *event)
{
    pl_buf_t to = {0};
    if (pl_list_add(&to, user, strlen(user)) == 0)
        for (gateway_t *g = zhashx_first(self->gateways); g; g = zhashx_next(self->gateways))
            shard_event(self->shard, g->id, to.data, to.len, "", event);
    pl_buf_free(&to);
}

size_t shard_loc_gateways(shard_loc_t *self)
{
    return zhashx_size(self->gateways);
}

bool shard_loc_has(shard_loc_t *self, const char *gw, const char *user)
{
    gateway_t *g = zhashx_lookup(self->gateways, gw);
    return g && zhashx_lookup(g->users, user) != NULL;
}

bool shard_loc_present(shard_loc_t *self, const char *user)
{
    return zhashx_lookup(self->users, user) != NULL;
}
