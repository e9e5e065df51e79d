/* group — groups, member cache, read receipts, typing. See group.h. */
#include "group.h"

#include <stdlib.h>
#include <string.h>

#include "conv.h"
#include "loc.h"
#include "outbox.h"
#include "pl_err.h"
#include "pl_log.h"
#include "pl_text.h"
#include "pl_time.h"

#define TITLE_MAX_CP 200
#define TYPING_EVERY_MS 1000
#define TYPING_KEEP_MS 2000
#define CONV_MAX 72 /* "g:" + 64, or "dm:" + 32 + ":" + 32, plus NUL */

typedef char name_t[33];

typedef struct {
    char *title;
    name_t creator;
    size_t n;
    name_t members[SHARD_GROUP_MAX];
} group_t;

struct _shard_group_t {
    shard_t *shard;
    zhashx_t *groups; /* conv -> group_t (owned): committed state plus staged changes */
    zhashx_t *typing; /* "<conv> <user>" -> int64_t (owned): last typing event, mono ms */
    zhashx_t *reads;  /* "<conv> <user>" -> uint64_t (owned): read seq staged in the batch */
};

/* A change waiting for the batch (shard_conv_defer). */
typedef enum { OP_CREATE, OP_ADD, OP_REMOVE, OP_READ } op_kind_t;

typedef struct {
    op_kind_t kind;
    char *gw, *reqid;
    char conv[CONV_MAX];
    name_t user, target; /* caller; the added/removed user */
    uint64_t seq;        /* read */
    name_t *notify;      /* recipients of the events */
    size_t nnotify;
    name_t *indexed; /* users whose outbox entry is in the batch */
    size_t nindexed;
} op_t;

static void s_group_free(void **item)
{
    group_t *g = *item;
    if (g)
        free(g->title);
    free(g);
    *item = NULL;
}

static void s_free(void **item)
{
    free(*item);
    *item = NULL;
}

shard_group_t *shard_group_new(shard_t *shard)
{
    shard_group_t *self = calloc(1, sizeof(*self));
    if (!self)
        return NULL;
    self->shard = shard;
    self->groups = zhashx_new();
    self->typing = zhashx_new();
    self->reads = zhashx_new();
    if (!self->groups || !self->typing || !self->reads) {
        shard_group_destroy(&self);
        return NULL;
    }
    zhashx_set_destructor(self->groups, s_group_free);
    zhashx_set_destructor(self->typing, s_free);
    zhashx_set_destructor(self->reads, s_free);
    return self;
}

void shard_group_destroy(shard_group_t **self_p)
{
    if (!self_p || !*self_p)
        return;
    shard_group_t *self = *self_p;
    zhashx_destroy(&self->groups);
    zhashx_destroy(&self->typing);
    zhashx_destroy(&self->reads);
    free(self);
    *self_p = NULL;
}

size_t shard_group_cached(shard_group_t *self)
{
    return zhashx_size(self->groups);
}

static void s_op_free(op_t **op_p)
{
    op_t *op = *op_p;
    if (!op)
        return;
    free(op->gw);
    free(op->reqid);
    free(op->notify);
    free(op->indexed);
    free(op);
    *op_p = NULL;
}

static op_t *s_op_new(op_kind_t kind, const char *gw, const char *reqid, const char *conv,
                      const char *user)
{
    op_t *op = calloc(1, sizeof(*op));
    if (!op)
        return NULL;
    op->kind = kind;
    op->gw = strdup(gw);
    op->reqid = strdup(reqid);
    snprintf(op->conv, sizeof(op->conv), "%s", conv);
    snprintf(op->user, sizeof(op->user), "%s", user);
    if (!op->gw || !op->reqid)
        s_op_free(&op);
    return op;
}

/* Copy n names into a new array (*out); -1 on OOM. */
static int s_names(name_t **out, size_t *count, const char *const *names, size_t n)
{
    *out = malloc((n ? n : 1) * sizeof(name_t));
    if (!*out)
        return -1;
    for (size_t i = 0; i < n; i++)
        snprintf((*out)[i], sizeof(name_t), "%s", names[i]);
    *count = n;
    return 0;
}

/* ---- the member cache ------------------------------------------------------------ */

static bool s_has(const group_t *g, const char *user)
{
    for (size_t i = 0; i < g->n; i++)
        if (strcmp(g->members[i], user) == 0)
            return true;
    return false;
}

static void s_drop(group_t *g, const char *user)
{
    for (size_t i = 0; i < g->n; i++)
        if (strcmp(g->members[i], user) == 0) {
            memmove(g->members[i], g->members[i + 1], (g->n - i - 1) * sizeof(name_t));
            g->n--;
            return;
        }
}

/* The group conv (cache, else disk). 1 found (*out), 0 no such group, -1 storage error. */
static int s_load(shard_group_t *self, const char *conv, group_t **out)
{
    shard_key_t key;
    char *val = NULL;
    *out = zhashx_lookup(self->groups, conv);
    if (*out)
        return 1;
    if (shard_key_group(&key, conv) != 0)
        return 0;
    int rc = shard_store_get(self->shard->store, &key, &val, NULL);
    if (rc <= 0)
        return rc;
    json_t *meta = json_loads(val, 0, NULL);
    free(val);
    const char *title = meta ? shard_json_str(meta, "title") : NULL;
    const char *creator = meta ? shard_json_str(meta, "creator") : NULL;
    group_t *g = calloc(1, sizeof(*g));
    if (!g || !title || !creator || !(g->title = strdup(title))) {
        pl_error("%s: stored group is corrupt or out of memory", conv);
        json_decref(meta);
        s_group_free((void **)&g);
        return -1;
    }
    snprintf(g->creator, sizeof(g->creator), "%s", creator);
    json_decref(meta);
    shard_key_member_prefix(&key, conv);
    shard_iter_t *it = shard_iter_new(self->shard->store, &key);
    if (it)
        shard_iter_seek_first(it);
    for (; it && shard_iter_valid(it); shard_iter_next(it)) {
        size_t klen = 0;
        const char *k = shard_iter_key(it, &klen);
        size_t ulen = klen - key.len;
        if (g->n >= SHARD_GROUP_MAX || ulen >= sizeof(name_t)) {
            pl_error("%s: stored member list is corrupt", conv);
            break;
        }
        memcpy(g->members[g->n], k + key.len, ulen);
        g->members[g->n++][ulen] = '\0';
    }
    rc = it ? shard_iter_status(it) : -1;
    shard_iter_destroy(&it);
    if (rc != 0) {
        s_group_free((void **)&g);
        return -1;
    }
    zhashx_insert(self->groups, conv, g);
    *out = g;
    return 1;
}

static void s_fill(const group_t *g, shard_members_t *out)
{
    out->group = true;
    out->n = g->n;
    for (size_t i = 0; i < g->n; i++)
        out->list[i] = g->members[i];
    out->title = g->title;
    out->creator = g->creator;
    out->a[0] = out->b[0] = '\0';
}

const char *shard_group_check(shard_group_t *self, const char *conv, const char *user,
                              shard_members_t *out)
{
    group_t *g = NULL;
    memset(out, 0, sizeof(*out));
    if (strncmp(conv, "dm:", 3) == 0) {
        if (!pl_dm_parse(conv, out->a, out->b))
            return PL_E_BAD_REQUEST;
        out->n = 2;
        out->list[0] = out->a;
        out->list[1] = out->b;
        if (user && strcmp(user, out->a) != 0 && strcmp(user, out->b) != 0)
            return PL_E_FORBIDDEN;
        return NULL;
    }
    if (!pl_group_id_valid(conv))
        return PL_E_BAD_REQUEST;
    int rc = s_load(self, conv, &g);
    if (rc < 0)
        return PL_E_UNAVAILABLE;
    if (rc == 0)
        return PL_E_NOT_FOUND;
    s_fill(g, out);
    if (user && !s_has(g, user))
        return PL_E_FORBIDDEN;
    return NULL;
}

/* ---- events ---------------------------------------------------------------------- */

/* Compact JSON text of j (consumed), keys in insertion order: every event starts with
 * {"type":..,"conv":..,. NULL on failure. */
static char *s_dump(json_t *j)
{
    char *text = j ? json_dumps(j, JSON_COMPACT | JSON_PRESERVE_ORDER) : NULL;
    json_decref(j);
    return text;
}

static void s_push(shard_t *shard, name_t *to, size_t n, const char *skip, char *event)
{
    const char *users[SHARD_GROUP_MAX];
    size_t count = 0;
    for (size_t i = 0; i < n && count < SHARD_GROUP_MAX; i++)
        users[count++] = to[i];
    if (event && count)
        shard_loc_push(shard->loc, users, count, skip, event);
    free(event);
}

static char *s_member_event(const char *conv, const char *user, const char *change, const char *by)
{
    return s_dump(json_pack("{s:s, s:s, s:s, s:s, s:s}", "type", "member", "conv", conv, "user",
                            user, "change", change, "by", by));
}

/* After the batch: answer, push, send the index entries; or answer err and forget the
 * staged state. */
static void s_done(shard_t *shard, void *arg, const char *err)
{
    op_t *op = arg;
    shard_group_t *self = shard->group;
    char name[CONV_MAX + sizeof(name_t) + 1];
    snprintf(name, sizeof(name), "%s %s", op->conv, op->user);
    if (op->kind == OP_READ)
        zhashx_delete(self->reads, name);
    if (err) {
        if (op->kind != OP_READ)
            zhashx_delete(self->groups, op->conv); /* reloaded from disk on next use */
        shard_reply(shard, op->gw, op->reqid, err, "storage write failed");
        s_op_free(&op);
        return;
    }
    int64_t now = pl_mono_ms();
    switch (op->kind) {
    case OP_CREATE:
        shard_reply_json(shard, op->gw, op->reqid, json_pack("{s:s}", "conv", op->conv));
        for (size_t i = 0; i < op->nindexed; i++)
            if (strcmp(op->indexed[i], op->user) != 0)
                s_push(shard, op->notify, op->nnotify, "",
                       s_member_event(op->conv, op->indexed[i], "added", op->user));
        pl_info("%s: group created by %s with %zu members", op->conv, op->user, op->nindexed);
        break;
    case OP_ADD:
    case OP_REMOVE:
        shard_reply(shard, op->gw, op->reqid, "ok", "{}");
        s_push(shard, op->notify, op->nnotify, "",
               s_member_event(op->conv, op->target, op->kind == OP_ADD ? "added" : "removed",
                              op->user));
        break;
    case OP_READ:
        shard_reply(shard, op->gw, op->reqid, "ok", "{}");
        s_push(shard, op->notify, op->nnotify, "",
               s_dump(json_pack("{s:s, s:s, s:s, s:I}", "type", "read", "conv", op->conv, "user",
                                op->user, "seq", (json_int_t)op->seq)));
        break;
    }
    for (size_t i = 0; i < op->nindexed; i++)
        shard_outbox_committed(shard->outbox, op->conv, op->indexed[i], "group", now);
    s_op_free(&op);
}

/* Queue op after the pending batch (before anything is staged, so that a failure here
 * leaves the batch untouched). Answers `internal` and frees op on failure. */
static int s_defer(shard_t *shard, const char *gw, const char *reqid, op_t *op)
{
    if (shard_conv_defer(shard->conv, s_done, op) != 0) {
        s_op_free(&op);
        shard_reply(shard, gw, reqid, PL_E_INTERNAL, "out of memory");
        return -1;
    }
    return 0;
}

/* ---- requests -------------------------------------------------------------------- */

/* user (valid name) and conv of req; answers bad_request and returns NULL otherwise. */
static const char *s_args(shard_t *shard, const char *gw, const char *reqid, json_t *req,
                          const char **user)
{
    const char *conv = shard_json_str(req, "conv");
    *user = shard_json_str(req, "user");
    if (!conv || !*user || !pl_user_valid(*user) || strlen(conv) >= CONV_MAX) {
        shard_reply(shard, gw, reqid, PL_E_BAD_REQUEST, "missing user or conv");
        return NULL;
    }
    return conv;
}

/* Membership check with the error answered. NULL after answering. */
static const char *s_check(shard_t *shard, const char *gw, const char *reqid, const char *conv,
                           const char *user, shard_members_t *m)
{
    const char *err = shard_group_check(shard->group, conv, user, m);
    if (err) {
        shard_reply(shard, gw, reqid, err, shard_conv_why(err));
        return NULL;
    }
    return conv;
}

/* Stage the membership key of user (join seq = the conversation's last seq). */
static int s_stage_member(shard_t *shard, const char *conv, const char *user, uint64_t next)
{
    shard_key_t key;
    if (shard_key_member(&key, conv, user) != 0)
        return -1;
    shard_batch_put_u64(shard_conv_batch(shard->conv), &key, next);
    return 0;
}

/* Stage, for every member of g (as changed), an idx_add carrying g's member list: each
 * member's index entry knows the co-members (presence contacts, internals.md
 * "Presence"). */
static void s_stage_index(shard_t *shard, const char *conv, const group_t *g)
{
    shard_members_t m;
    s_fill(g, &m);
    for (size_t i = 0; i < m.n; i++)
        shard_outbox_stage_group(shard->outbox, shard_conv_batch(shard->conv), conv, m.list[i],
                                 m.list, m.n);
}

void shard_op_group_create(shard_t *shard, const char *gw, const char *reqid, json_t *req)
{
    const char *user = NULL;
    const char *conv = s_args(shard, gw, reqid, req, &user);
    if (!conv)
        return;
    const char *title = shard_json_str(req, "title");
    json_t *members = json_object_get(req, "members");
    size_t title_cp = title ? pl_utf8_count(title, strlen(title)) : 0;
    if (!pl_group_id_valid(conv) || title_cp < 1 || title_cp > TITLE_MAX_CP ||
        !json_is_array(members)) {
        shard_reply(shard, gw, reqid, PL_E_BAD_REQUEST, "invalid conv, title or members");
        return;
    }
    /* malformed (more than 1,000 entries, a bad name anywhere) is bad_request; only a
     * well-formed list with more than 99 others is group_full (checked while filling g) */
    size_t i;
    json_t *v;
    if (json_array_size(members) > SHARD_GROUP_LIST_MAX) {
        shard_reply(shard, gw, reqid, PL_E_BAD_REQUEST, "more than 1000 member names");
        return;
    }
    json_array_foreach(members, i, v)
    {
        const char *m = json_string_value(v);
        if (!m || strlen(m) != json_string_length(v) || !pl_user_valid(m)) {
            shard_reply(shard, gw, reqid, PL_E_BAD_REQUEST, "invalid member name");
            return;
        }
    }
    group_t *g = NULL;
    int rc = s_load(shard->group, conv, &g);
    if (rc != 0) {
        shard_reply(shard, gw, reqid, rc < 0 ? PL_E_UNAVAILABLE : PL_E_BAD_REQUEST,
                    rc < 0 ? "storage error" : "conversation exists");
        return;
    }
    g = calloc(1, sizeof(*g));
    if (!g || !(g->title = strdup(title))) {
        s_group_free((void **)&g);
        shard_reply(shard, gw, reqid, PL_E_INTERNAL, "out of memory");
        return;
    }
    snprintf(g->creator, sizeof(g->creator), "%s", user);
    snprintf(g->members[g->n++], sizeof(name_t), "%s", user);
    json_array_foreach(members, i, v)
    {
        const char *m = json_string_value(v);
        if (s_has(g, m))
            continue; /* the creator, or a repeat */
        if (g->n >= SHARD_GROUP_MAX) {
            s_group_free((void **)&g);
            shard_reply(shard, gw, reqid, PL_E_GROUP_FULL, "a group has at most 100 members");
            return;
        }
        snprintf(g->members[g->n++], sizeof(name_t), "%s", m);
    }
    op_t *op = s_op_new(OP_CREATE, gw, reqid, conv, user);
    shard_members_t all;
    s_fill(g, &all);
    if (!op || s_names(&op->notify, &op->nnotify, all.list, all.n) != 0 ||
        s_names(&op->indexed, &op->nindexed, all.list, all.n) != 0) {
        s_op_free(&op);
        s_group_free((void **)&g);
        shard_reply(shard, gw, reqid, PL_E_INTERNAL, "out of memory");
        return;
    }
    uint64_t next = 0;
    json_t *meta = json_pack("{s:s, s:s, s:I}", "title", title, "creator", user, "created",
                             (json_int_t)pl_now_ms());
    char *text = s_dump(meta);
    shard_key_t key;
    if (!text || shard_key_group(&key, conv) != 0 ||
        shard_conv_seq(shard->conv, conv, NULL, &next) != 0) {
        free(text);
        s_op_free(&op);
        s_group_free((void **)&g);
        shard_reply(shard, gw, reqid, PL_E_UNAVAILABLE, "storage error");
        return;
    }
    if (s_defer(shard, gw, reqid, op) != 0) {
        free(text);
        s_group_free((void **)&g);
        return;
    }
    shard_batch_put(shard_conv_batch(shard->conv), &key, text, strlen(text));
    free(text);
    for (i = 0; i < g->n; i++)
        s_stage_member(shard, conv, g->members[i], next);
    s_stage_index(shard, conv, g);
    zhashx_insert(shard->group->groups, conv, g);
}

/* group_add / group_remove: common checks. Returns the group, or NULL after answering. */
static group_t *s_change_args(shard_t *shard, const char *gw, const char *reqid, json_t *req,
                              const char **conv, const char **user, const char **target)
{
    shard_members_t m;
    *conv = s_args(shard, gw, reqid, req, user);
    if (!*conv)
        return NULL;
    *target = shard_json_str(req, "target");
    if (!*target || !pl_user_valid(*target) || !pl_group_id_valid(*conv)) {
        shard_reply(shard, gw, reqid, PL_E_BAD_REQUEST, "invalid conv or target");
        return NULL;
    }
    if (!s_check(shard, gw, reqid, *conv, *user, &m))
        return NULL;
    return zhashx_lookup(shard->group->groups, *conv);
}

void shard_op_group_add(shard_t *shard, const char *gw, const char *reqid, json_t *req)
{
    const char *conv, *user, *target;
    uint64_t next = 0;
    group_t *g = s_change_args(shard, gw, reqid, req, &conv, &user, &target);
    if (!g)
        return;
    if (s_has(g, target)) {
        shard_reply(shard, gw, reqid, "ok", "{}"); /* already a member: nothing changes */
        return;
    }
    if (g->n >= SHARD_GROUP_MAX) {
        shard_reply(shard, gw, reqid, PL_E_GROUP_FULL, "the group has 100 members");
        return;
    }
    if (shard_conv_seq(shard->conv, conv, NULL, &next) != 0) {
        shard_reply(shard, gw, reqid, PL_E_UNAVAILABLE, "storage error");
        return;
    }
    shard_members_t after;
    s_fill(g, &after);
    after.list[after.n++] = target; /* the added user is told too */
    op_t *op = s_op_new(OP_ADD, gw, reqid, conv, user);
    if (!op || s_names(&op->notify, &op->nnotify, after.list, after.n) != 0 ||
        s_names(&op->indexed, &op->nindexed, after.list, after.n) != 0) {
        s_op_free(&op);
        shard_reply(shard, gw, reqid, PL_E_INTERNAL, "out of memory");
        return;
    }
    snprintf(op->target, sizeof(op->target), "%s", target);
    if (s_defer(shard, gw, reqid, op) != 0)
        return;
    s_stage_member(shard, conv, target, next);
    snprintf(g->members[g->n++], sizeof(name_t), "%s", target);
    s_stage_index(shard, conv, g); /* every member learns the new list */
}

void shard_op_group_remove(shard_t *shard, const char *gw, const char *reqid, json_t *req)
{
    const char *conv, *user, *target;
    shard_key_t key;
    group_t *g = s_change_args(shard, gw, reqid, req, &conv, &user, &target);
    if (!g)
        return;
    if (!s_has(g, target)) {
        shard_reply(shard, gw, reqid, PL_E_NOT_FOUND, "not a member of this group");
        return;
    }
    if (strcmp(user, target) != 0 && strcmp(user, g->creator) != 0) {
        shard_reply(shard, gw, reqid, PL_E_FORBIDDEN, "only the creator may remove others");
        return;
    }
    shard_members_t before; /* the removed user is told too */
    s_fill(g, &before);
    op_t *op = s_op_new(OP_REMOVE, gw, reqid, conv, user);
    if (!op || s_names(&op->notify, &op->nnotify, before.list, before.n) != 0 ||
        s_names(&op->indexed, &op->nindexed, before.list, before.n) != 0 ||
        shard_key_member(&key, conv, target) != 0) {
        s_op_free(&op);
        shard_reply(shard, gw, reqid, PL_E_INTERNAL, "out of memory");
        return;
    }
    snprintf(op->target, sizeof(op->target), "%s", target);
    if (s_defer(shard, gw, reqid, op) != 0)
        return;
    shard_batch_del(shard_conv_batch(shard->conv), &key);
    shard_outbox_stage_del(shard->outbox, shard_conv_batch(shard->conv), conv, target, "group");
    s_drop(g, target);
    s_stage_index(shard, conv, g); /* the others learn the new list */
}

void shard_op_read(shard_t *shard, const char *gw, const char *reqid, json_t *req)
{
    const char *user = NULL;
    shard_members_t m;
    shard_key_t key;
    char name[CONV_MAX + sizeof(name_t) + 1];
    uint64_t next = 0, stored = 0;
    const char *conv = s_args(shard, gw, reqid, req, &user);
    if (!conv)
        return;
    json_t *seqv = json_object_get(req, "seq");
    if (!json_is_integer(seqv) || json_integer_value(seqv) < 0) {
        shard_reply(shard, gw, reqid, PL_E_BAD_REQUEST, "invalid seq");
        return;
    }
    uint64_t seq = (uint64_t)json_integer_value(seqv);
    if (!s_check(shard, gw, reqid, conv, user, &m))
        return;
    if (shard_conv_seq(shard->conv, conv, NULL, &next) != 0 ||
        shard_key_read(&key, conv, user) != 0 ||
        shard_store_get_u64(shard->store, &key, &stored) < 0) {
        shard_reply(shard, gw, reqid, PL_E_UNAVAILABLE, "storage error");
        return;
    }
    if (seq > next) {
        shard_reply(shard, gw, reqid, PL_E_BAD_REQUEST, "seq is above the last message");
        return;
    }
    snprintf(name, sizeof(name), "%s %s", conv, user);
    uint64_t *staged = zhashx_lookup(shard->group->reads, name);
    if (staged && *staged > stored)
        stored = *staged;
    if (seq <= stored) {
        shard_reply(shard, gw, reqid, "ok", "{}"); /* not above the stored one: no change */
        return;
    }
    op_t *op = s_op_new(OP_READ, gw, reqid, conv, user);
    uint64_t *val = malloc(sizeof(*val));
    if (!op || !val || s_names(&op->notify, &op->nnotify, m.list, m.n) != 0) {
        free(val);
        s_op_free(&op);
        shard_reply(shard, gw, reqid, PL_E_INTERNAL, "out of memory");
        return;
    }
    op->seq = seq;
    if (s_defer(shard, gw, reqid, op) != 0) {
        free(val);
        return;
    }
    *val = seq;
    zhashx_update(shard->group->reads, name, val);
    shard_batch_put_u64(shard_conv_batch(shard->conv), &key, seq);
}

void shard_op_typing(shard_t *shard, const char *gw, const char *reqid, json_t *req)
{
    const char *user = NULL;
    shard_members_t m;
    char name[CONV_MAX + sizeof(name_t) + 1];
    const char *conv = s_args(shard, gw, reqid, req, &user);
    if (!conv || !s_check(shard, gw, reqid, conv, user, &m))
        return;
    int64_t now = pl_mono_ms();
    snprintf(name, sizeof(name), "%s %s", conv, user);
    int64_t *last = zhashx_lookup(shard->group->typing, name);
    if (last && now - *last < TYPING_EVERY_MS) {
        shard_reply(shard, gw, reqid, "ok", "{}"); /* rate-limited: dropped quietly */
        return;
    }
    if (!last) {
        last = malloc(sizeof(*last));
        if (last)
            zhashx_insert(shard->group->typing, name, last);
    }
    if (last)
        *last = now;
    const char *others[SHARD_GROUP_MAX];
    size_t n = 0;
    for (size_t i = 0; i < m.n; i++)
        if (strcmp(m.list[i], user) != 0)
            others[n++] = m.list[i];
    char *event =
        s_dump(json_pack("{s:s, s:s, s:s}", "type", "typing", "conv", conv, "user", user));
    if (event && n)
        shard_loc_push(shard->loc, others, n, "", event);
    free(event);
    shard_reply(shard, gw, reqid, "ok", "{}");
}

void shard_group_tick(shard_group_t *self, int64_t now)
{
    zlistx_t *old = zlistx_new();
    if (old) {
        for (int64_t *t = zhashx_first(self->typing); t; t = zhashx_next(self->typing))
            if (now - *t >= TYPING_KEEP_MS)
                zlistx_add_end(old, (void *)zhashx_cursor(self->typing));
        for (const char *k = zlistx_first(old); k; k = zlistx_next(old))
            zhashx_delete(self->typing, k);
        zlistx_destroy(&old);
    }
    if (zhashx_size(self->groups) > SHARD_GROUP_CACHE_MAX &&
        shard_conv_pending(self->shard->conv) == 0)
        zhashx_purge(self->groups); /* nothing staged: every entry is on disk */
}
