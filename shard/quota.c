/* quota — per-user group caps. See quota.h. */
#include "quota.h"

#include <stdlib.h>
#include <string.h>

#include "pl_err.h"
#include "pl_log.h"
#include "pl_text.h"
#include "pl_time.h"

#define RESERVE_MS 10000 /* a reservation waits this long for its idx_add */
#define TABLE_MAX 100000 /* users kept in memory; above this the table is emptied */
#define CONV_MAX 72

typedef struct {
    int64_t members;        /* group index entries of the user */
    int64_t reserved;       /* memberships granted, index entry not yet seen */
    int64_t reserved_until; /* mono ms after which reserved drops to 0 */
} entry_t;

struct _shard_quota_t {
    shard_t *shard;
    int max_created, max_member;
    zhashx_t *users; /* user -> entry_t (owned) */
};

static void s_free(void **item)
{
    free(*item);
    *item = NULL;
}

shard_quota_t *shard_quota_new(shard_t *shard, int max_created, int max_member)
{
    shard_quota_t *self = calloc(1, sizeof(*self));
    if (!self)
        return NULL;
    self->shard = shard;
    self->max_created = max_created;
    self->max_member = max_member;
    self->users = zhashx_new();
    if (!self->users) {
        free(self);
        return NULL;
    }
    zhashx_set_destructor(self->users, s_free);
    return self;
}

void shard_quota_destroy(shard_quota_t **self_p)
{
    if (!self_p || !*self_p)
        return;
    zhashx_destroy(&(*self_p)->users);
    free(*self_p);
    *self_p = NULL;
}

/* The entry of user, counting its group index entries on a miss. NULL on a storage error
 * or OOM. */
static entry_t *s_entry(shard_quota_t *self, const char *user)
{
    entry_t *e = zhashx_lookup(self->users, user);
    if (e)
        return e;
    shard_key_t prefix;
    if (shard_key_index_prefix(&prefix, user) != 0 || prefix.len + 2 > SHARD_KEY_MAX)
        return NULL;
    memcpy(prefix.buf + prefix.len, "g:", 2); /* x<user>\0g: — group entries only */
    prefix.len += 2;
    shard_iter_t *it = shard_iter_new(shard_store(self->shard), &prefix);
    if (!it)
        return NULL;
    int64_t n = 0;
    for (shard_iter_seek_first(it); shard_iter_valid(it); shard_iter_next(it))
        n++;
    int rc = shard_iter_status(it);
    shard_iter_destroy(&it);
    if (rc != 0)
        return NULL;
    e = calloc(1, sizeof(*e));
    if (!e)
        return NULL;
    e->members = n;
    zhashx_insert(self->users, user, e);
    return e;
}

void shard_quota_indexed(shard_quota_t *self, const char *user, const char *conv, bool added)
{
    if (strncmp(conv, "g:", 2) != 0)
        return;
    entry_t *e = zhashx_lookup(self->users, user);
    if (!e)
        return; /* counted from the index at the next check */
    if (added) {
        e->members++;
        if (e->reserved > 0)
            e->reserved--;
    } else if (e->members > 0) {
        e->members--;
    }
}

void shard_op_group_quota(shard_t *shard, const char *gw, const char *reqid, json_t *req)
{
    shard_quota_t *self = shard_quota(shard);
    shard_key_t key;
    const char *user = shard_json_str(req, "user");
    const char *conv = shard_json_str(req, "conv");
    json_t *create = json_object_get(req, "create");
    if (!user || !pl_user_valid(user) || (create && !json_is_boolean(create)) ||
        (conv && (strlen(conv) >= CONV_MAX || !pl_group_id_valid(conv)))) {
        shard_reply(shard, gw, reqid, PL_E_BAD_REQUEST, "invalid user, conv or create");
        return;
    }
    char *val = NULL;
    shard_key_user(&key, user);
    int rc = shard_store_get(shard_store(shard), &key, &val, NULL);
    free(val);
    if (rc <= 0) {
        shard_reply(shard, gw, reqid, rc < 0 ? PL_E_UNAVAILABLE : PL_E_NOT_FOUND,
                    rc < 0 ? "storage error" : "no such user");
        return;
    }
    if (conv && shard_key_index(&key, user, conv) == 0) {
        rc = shard_store_get(shard_store(shard), &key, &val, NULL);
        free(val);
        if (rc == 1) { /* already in it: a group_add that changes nothing */
            shard_reply(shard, gw, reqid, "ok", "{}");
            return;
        }
    }
    entry_t *e = s_entry(self, user);
    uint64_t created = 0;
    bool creating = json_is_true(create);
    if (!e || (creating && (shard_key_created(&key, user) != 0 ||
                            shard_store_get_u64(shard_store(shard), &key, &created) < 0))) {
        shard_reply(shard, gw, reqid, PL_E_UNAVAILABLE, "storage error");
        return;
    }
    char msg[96];
    if (e->members + e->reserved >= self->max_member) {
        snprintf(msg, sizeof(msg), "%s is in %d groups, the most allowed", user, self->max_member);
        shard_reply(shard, gw, reqid, PL_E_TOO_MANY, msg);
        return;
    }
    if (creating && created >= (uint64_t)self->max_created) {
        snprintf(msg, sizeof(msg), "%s created %d groups, the most allowed", user,
                 self->max_created);
        shard_reply(shard, gw, reqid, PL_E_TOO_MANY, msg);
        return;
    }
    if (creating) {
        unsigned char be[8];
        shard_be64_put(be, created + 1);
        if (shard_store_put(shard_store(shard), &key, be, sizeof(be), shard_sync(shard)) != 0) {
            shard_reply(shard, gw, reqid, PL_E_UNAVAILABLE, "storage error");
            return;
        }
    }
    e->reserved++;
    e->reserved_until = pl_mono_ms() + RESERVE_MS;
    shard_reply(shard, gw, reqid, "ok", "{}");
}

void shard_quota_tick(shard_quota_t *self, int64_t now)
{
    if (zhashx_size(self->users) > TABLE_MAX) {
        zhashx_purge(self->users); /* recounted from the index; reservations are lost */
        return;
    }
    for (entry_t *e = zhashx_first(self->users); e; e = zhashx_next(self->users))
        if (e->reserved && now > e->reserved_until)
            e->reserved = 0;
}
