/* presence — who is online, on the user's shard. See presence.h. */
#include "presence.h"

#include <stdlib.h>
#include <string.h>

#include "loc.h"
#include "pl_err.h"
#include "pl_log.h"
#include "pl_text.h"
#include "pl_time.h"

#define PRES_GET_MAX 500 /* names per presence_get (the gateway splits by shard) */
#define PRES_GW_MAX 64   /* gateways one user can be live on at once (more are ignored) */

typedef struct {
    char user[PL_USER_MAX + 1];
    char *gws[PRES_GW_MAX]; /* gateways where the user is live (owned strings) */
    int ngws;
    int64_t last_seen; /* wall ms; 0: never */
    bool announced;    /* online, as last told to the contacts */
    int64_t off_at;    /* pl_mono_ms when the pending offline is due (0: none pending) */
} pres_t;

struct _shard_presence_t {
    shard_t *shard;
    zhashx_t *users; /* user -> pres_t (owned): online, or an offline still to announce */
};

static void s_pres_free(void **item)
{
    pres_t *p = *item;
    if (!p)
        return;
    for (int i = 0; i < p->ngws; i++)
        free(p->gws[i]);
    free(p);
    *item = NULL;
}

/* <S>p<user> */
static int s_key(shard_key_t *key, const char *user)
{
    return shard_key_last_seen(key, user);
}

/* Stored last_seen of user: >0, 0 when never seen (or on a read error, logged). */
static int64_t s_load(shard_presence_t *self, const char *user)
{
    shard_key_t key;
    uint64_t v = 0;
    if (s_key(&key, user) != 0 || shard_store_get_u64(shard_store(self->shard), &key, &v) != 1)
        return 0;
    return (int64_t)v;
}

static void s_save(shard_presence_t *self, const char *user, int64_t ms)
{
    shard_key_t key;
    unsigned char v[8];
    if (ms <= 0 || s_key(&key, user) != 0)
        return;
    shard_be64_put(v, (uint64_t)ms);
    if (shard_store_put(shard_store(self->shard), &key, v, sizeof v, shard_sync(self->shard)) != 0)
        pl_warn("presence: last_seen of %s not stored", user);
}

shard_presence_t *shard_presence_new(shard_t *shard)
{
    shard_presence_t *self = calloc(1, sizeof(*self));
    if (!self)
        return NULL;
    self->shard = shard;
    self->users = zhashx_new();
    if (!self->users) {
        free(self);
        return NULL;
    }
    zhashx_set_destructor(self->users, s_pres_free);
    return self;
}

void shard_presence_destroy(shard_presence_t **self_p)
{
    if (!self_p || !*self_p)
        return;
    shard_presence_t *self = *self_p;
    int64_t now = pl_now_ms();
    if (shard_store(self->shard))
        for (pres_t *p = zhashx_first(self->users); p; p = zhashx_next(self->users))
            if (p->ngws > 0)
                s_save(self, p->user, now);
    zhashx_destroy(&self->users);
    free(self);
    *self_p = NULL;
}

/* ---- contacts ----------------------------------------------------------------------- */

/* The member names of a group index value "group <json array>" into set (minus self). */
static void s_group_members(const char *v, size_t vlen, const char *self_name, zhashx_t *set)
{
    static const char head[] = "group ";
    if (vlen <= sizeof head - 1 || memcmp(v, head, sizeof head - 1) != 0)
        return;
    json_error_t err;
    json_t *arr = json_loadb(v + sizeof head - 1, vlen - (sizeof head - 1), 0, &err);
    size_t i;
    json_t *m;
    json_array_foreach(arr, i, m)
    {
        const char *u = json_string_value(m);
        if (u && pl_user_valid(u) && strcmp(u, self_name) != 0)
            zhashx_insert(set, u, (void *)1);
    }
    json_decref(arr);
}

/* Everyone who shares a conversation with user, from user's `x` index entries: dm
 * partners and group co-members. A set (keys only); NULL on OOM or a storage error. */
static zhashx_t *s_contacts(shard_presence_t *self, const char *user)
{
    shard_key_t prefix;
    zhashx_t *set = zhashx_new();
    if (!set || shard_key_index_prefix(&prefix, user) != 0) {
        zhashx_destroy(&set);
        return NULL;
    }
    shard_iter_t *it = shard_iter_new(shard_store(self->shard), &prefix);
    if (!it) {
        zhashx_destroy(&set);
        return NULL;
    }
    for (shard_iter_seek_first(it); shard_iter_valid(it); shard_iter_next(it)) {
        size_t klen = 0, vlen = 0;
        const char *k = shard_iter_key(it, &klen);
        const char *v = shard_iter_value(it, &vlen);
        char conv[128], a[PL_USER_MAX + 1], b[PL_USER_MAX + 1];
        size_t clen = klen - prefix.len;
        if (clen >= sizeof conv)
            continue;
        memcpy(conv, k + prefix.len, clen);
        conv[clen] = 0;
        if (strncmp(conv, "dm:", 3) == 0 && pl_dm_parse(conv, a, b))
            zhashx_insert(set, strcmp(a, user) == 0 ? b : a, (void *)1);
        else
            s_group_members(v, vlen, user, set);
    }
    if (shard_iter_status(it) != 0)
        zhashx_destroy(&set);
    shard_iter_destroy(&it);
    return set;
}

/* Whether target (a user of this shard) shares a conversation with asker. */
static bool s_shares(shard_presence_t *self, const char *target, const char *asker)
{
    shard_key_t key;
    char conv[80];
    if (strcmp(target, asker) == 0)
        return true;
    bool lt = strcmp(asker, target) < 0;
    snprintf(conv, sizeof conv, "dm:%s:%s", lt ? asker : target, lt ? target : asker);
    char *val = NULL;
    if (shard_key_index(&key, target, conv) == 0 &&
        shard_store_get(shard_store(self->shard), &key, &val, NULL) == 1) {
        free(val);
        return true;
    }
    /* groups: the member lists carried by target's group index entries */
    if (shard_key_index(&key, target, "g:") != 0)
        return false;
    shard_iter_t *it = shard_iter_new(shard_store(self->shard), &key);
    bool found = false;
    zhashx_t *set = zhashx_new();
    if (it)
        shard_iter_seek_first(it);
    for (; it && set && !found && shard_iter_valid(it); shard_iter_next(it)) {
        size_t vlen = 0;
        const char *v = shard_iter_value(it, &vlen);
        s_group_members(v, vlen, target, set);
        found = zhashx_lookup(set, asker) != NULL;
    }
    zhashx_destroy(&set);
    shard_iter_destroy(&it);
    return found;
}

/* ---- state changes ------------------------------------------------------------------ */

static char *s_event(const char *user, bool online, int64_t last_seen)
{
    json_t *ev =
        json_pack("{s:s, s:s, s:b, s:o}", "type", "presence", "user", user, "online", online,
                  "last_seen", last_seen > 0 ? json_integer(last_seen) : json_null());
    char *text = ev ? json_dumps(ev, JSON_COMPACT) : NULL;
    json_decref(ev);
    return text;
}

/* Push p's announced state to its online contacts (one EVT per gateway). */
static void s_announce(shard_presence_t *self, pres_t *p)
{
    int64_t ls = p->announced ? pl_now_ms() : p->last_seen;
    char *ev = s_event(p->user, p->announced, ls);
    zhashx_t *set = ev ? s_contacts(self, p->user) : NULL;
    size_t n = set ? zhashx_size(set) : 0;
    pl_debug("presence: %s %s, %zu contacts", p->user, p->announced ? "online" : "offline", n);
    if (n) {
        const char **names = calloc(n, sizeof(*names));
        zlistx_t *keys = names ? zhashx_keys(set) : NULL;
        size_t i = 0;
        for (const char *u = keys ? zlistx_first(keys) : NULL; u && i < n; u = zlistx_next(keys))
            names[i++] = u;
        if (keys)
            shard_loc_push(shard_loc(self->shard), names, i, "", ev);
        zlistx_destroy(&keys);
        free(names);
    }
    zhashx_destroy(&set);
    free(ev);
}

static pres_t *s_get(shard_presence_t *self, const char *user, bool create)
{
    pres_t *p = zhashx_lookup(self->users, user);
    if (p || !create || !pl_user_valid(user))
        return p;
    p = calloc(1, sizeof(*p));
    if (!p)
        return NULL;
    snprintf(p->user, sizeof p->user, "%s", user);
    p->last_seen = s_load(self, user);
    zhashx_insert(self->users, user, p);
    return p;
}

static int s_gw_index(pres_t *p, const char *gw)
{
    for (int i = 0; i < p->ngws; i++)
        if (strcmp(p->gws[i], gw) == 0)
            return i;
    return -1;
}

static void s_online(shard_presence_t *self, const char *user, const char *gw)
{
    pres_t *p = s_get(self, user, true);
    if (!p || s_gw_index(p, gw) >= 0 || p->ngws >= PRES_GW_MAX)
        return;
    char *g = strdup(gw);
    if (!g)
        return;
    p->gws[p->ngws++] = g;
    if (p->ngws > 1)
        return;
    pl_debug("presence: %s live at %s", user, gw);
    if (p->off_at) { /* back within the flap window: nobody was told it left */
        p->off_at = 0;
        return;
    }
    if (!p->announced) {
        p->announced = true;
        s_save(self, user, pl_now_ms()); /* a crash while online keeps a recent value */
        s_announce(self, p);
    }
}

/* Take gw off user's set; ts (wall ms) is the user's last sign of life there. If that
 * empties the set, the offline is due in delay ms. */
static void s_offline(shard_presence_t *self, pres_t *p, const char *gw, int64_t ts, int64_t delay)
{
    int i = s_gw_index(p, gw);
    if (i < 0)
        return;
    free(p->gws[i]);
    p->gws[i] = p->gws[--p->ngws];
    if (ts > p->last_seen)
        p->last_seen = ts;
    if (p->ngws > 0)
        return;
    pl_debug("presence: %s no longer live (last at %s)", p->user, gw);
    s_save(self, p->user, p->last_seen);
    p->off_at = pl_mono_ms() + delay;
}

/* The flap window of an offline the gateway saw at gone (wall ms; 0: unknown): until
 * gone + flap + REPORT, so that a reconnect within flap ms (--presence-flap-ms, default
 * SHARD_PRESENCE_FLAP_MS), reported up to REPORT ms later (maybe by another gateway),
 * still arrives in time. Clamped against clock skew. */
static int64_t s_delay(int64_t flap, int64_t gone, int64_t now)
{
    if (gone <= 0)
        return flap;
    int64_t d = gone + flap + SHARD_PRESENCE_REPORT_MS - now;
    if (d < SHARD_PRESENCE_REPORT_MS)
        d = SHARD_PRESENCE_REPORT_MS;
    if (d > flap + SHARD_PRESENCE_REPORT_MS)
        d = flap + SHARD_PRESENCE_REPORT_MS;
    return d;
}

/* Remove from arr (user names, or with pairs [user, ...] entries) the users whose slot
 * is not this shard's: a report sent with a stale table changes nothing here. */
static void s_drop_foreign(shard_t *shard, json_t *arr, bool pairs)
{
    for (size_t i = json_array_size(arr); i-- > 0;) {
        json_t *v = json_array_get(arr, i);
        const char *u = json_string_value(pairs ? json_array_get(v, 0) : v);
        if (u && !shard_owns(shard, 'u', u)) {
            pl_warn("presence_report: %s is not on shard %d: ignored", u, shard_id(shard));
            json_array_remove(arr, i);
        }
    }
}

void shard_op_presence_report(shard_t *shard, const char *gw, const char *reqid, json_t *req)
{
    shard_presence_t *self = shard_presence(shard);
    json_t *online = json_object_get(req, "online");
    json_t *offline = json_object_get(req, "offline");
    json_t *full = json_object_get(req, "full");
    if ((online && !json_is_array(online)) || (offline && !json_is_array(offline)) ||
        (full && !json_is_array(full))) {
        shard_reply(shard, gw, reqid, PL_E_BAD_REQUEST, "malformed presence_report");
        return;
    }
    s_drop_foreign(shard, online, false);
    s_drop_foreign(shard, offline, true);
    s_drop_foreign(shard, full, false);
    size_t i;
    json_t *v;
    int64_t now = pl_now_ms();
    json_array_foreach(offline, i, v)
    {
        const char *u = json_string_value(json_array_get(v, 0));
        json_t *t = json_array_get(v, 1), *g = json_array_get(v, 2);
        pres_t *p = u ? s_get(self, u, false) : NULL;
        if (p) {
            int64_t ts = json_is_integer(t) ? json_integer_value(t) : now;
            int64_t gone = json_is_integer(g) ? json_integer_value(g) : 0;
            s_offline(self, p, gw, ts > 0 && ts <= now + 60000 ? ts : now,
                      s_delay(shard_presence_flap_ms(shard), gone, now));
        }
    }
    if (full) {
        zhashx_t *keep = zhashx_new();
        zlistx_t *gone = zlistx_new();
        if (keep && gone) {
            json_array_foreach(full, i, v)
            {
                const char *u = json_string_value(v);
                if (u)
                    zhashx_insert(keep, u, (void *)1);
            }
            for (pres_t *p = zhashx_first(self->users); p; p = zhashx_next(self->users))
                if (s_gw_index(p, gw) >= 0 && !zhashx_lookup(keep, p->user))
                    zlistx_add_end(gone, p);
            for (pres_t *p = zlistx_first(gone); p; p = zlistx_next(gone))
                s_offline(self, p, gw, now, shard_presence_flap_ms(shard));
        }
        zhashx_destroy(&keep);
        zlistx_destroy(&gone);
        json_array_foreach(full, i, v)
        {
            const char *u = json_string_value(v);
            if (u)
                s_online(self, u, gw);
        }
    }
    json_array_foreach(online, i, v)
    {
        const char *u = json_string_value(v);
        if (u)
            s_online(self, u, gw);
    }
    shard_reply(shard, gw, reqid, "ok", "{}");
}

void shard_presence_gw_gone(shard_presence_t *self, const char *gw, int64_t last_seen)
{
    if (!self)
        return;
    zlistx_t *gone = zlistx_new();
    if (!gone)
        return;
    for (pres_t *p = zhashx_first(self->users); p; p = zhashx_next(self->users))
        if (s_gw_index(p, gw) >= 0)
            zlistx_add_end(gone, p);
    if (zlistx_size(gone))
        pl_info("presence: gateway %s gone, %zu users leave it", gw, zlistx_size(gone));
    for (pres_t *p = zlistx_first(gone); p; p = zlistx_next(gone))
        s_offline(self, p, gw, last_seen, shard_presence_flap_ms(self->shard));
    zlistx_destroy(&gone);
}

void shard_presence_tick(shard_presence_t *self, int64_t now)
{
    zlistx_t *done = zlistx_new();
    if (!done)
        return;
    for (pres_t *p = zhashx_first(self->users); p; p = zhashx_next(self->users)) {
        if (p->ngws > 0)
            continue;
        if (p->off_at && now < p->off_at)
            continue;
        p->off_at = 0;
        if (p->announced) {
            p->announced = false;
            s_announce(self, p);
        }
        zlistx_add_end(done, p->user);
    }
    /* offline and announced: nothing left to remember in memory */
    for (const char *u = zlistx_first(done); u; u = zlistx_next(done))
        zhashx_delete(self->users, u);
    zlistx_destroy(&done);
}

/* ---- query -------------------------------------------------------------------------- */

void shard_op_presence_get(shard_t *shard, const char *gw, const char *reqid, json_t *req)
{
    shard_presence_t *self = shard_presence(shard);
    const char *asker = shard_json_str(req, "user");
    json_t *users = json_object_get(req, "users");
    if (!asker || !pl_user_valid(asker) || !json_is_array(users) ||
        json_array_size(users) > PRES_GET_MAX) {
        shard_reply(shard, gw, reqid, PL_E_BAD_REQUEST, "malformed presence_get");
        return;
    }
    size_t i;
    json_t *v;
    json_array_foreach(users, i, v)
    {
        const char *u = json_string_value(v);
        if (u && !shard_owns(shard, 'u', u)) {
            shard_not_mine(shard, gw, reqid, 'u', u); /* a stale table: the asker retries */
            return;
        }
    }
    json_t *out = json_array();
    if (!out) {
        shard_reply(shard, gw, reqid, PL_E_INTERNAL, "out of memory");
        return;
    }
    int64_t now = pl_now_ms();
    json_array_foreach(users, i, v)
    {
        const char *u = json_string_value(v);
        if (!u || !pl_user_valid(u) || !s_shares(self, u, asker))
            continue; /* unknown users share nothing either */
        pres_t *p = s_get(self, u, false);
        /* online while live somewhere or while its offline is not yet announced */
        bool online = p && (p->ngws > 0 || p->off_at);
        int64_t ls = online ? now : p ? p->last_seen : s_load(self, u);
        json_array_append_new(out, json_pack("{s:s, s:b, s:o}", "user", u, "online", online,
                                             "last_seen", ls > 0 ? json_integer(ls) : json_null()));
    }
    shard_reply_json(shard, gw, reqid, json_pack("{s:o}", "presence", out));
}

int shard_presence_online(shard_presence_t *self, const char *user)
{
    pres_t *p = zhashx_lookup(self->users, user);
    return p && (p->ngws > 0 || p->off_at) ? 1 : 0;
}
