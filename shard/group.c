/* group — group create, add, remove. See group.h. */
#include "group.h"

#include <stdlib.h>
#include <string.h>

#include "commit.h"
#include "conv.h"
#include "loc.h"
#include "outbox.h"
#include "pl_err.h"
#include "pl_log.h"
#include "pl_text.h"
#include "pl_time.h"

typedef char name_t[PL_USER_MAX + 1];

struct _shard_group_t {
    shard_t *shard;
    shard_commit_t *commit;
    shard_roster_t *roster;
    shard_conv_t *conv;
};

/* A change waiting for the batch: the argument of its action (s_done), which frees it. */
typedef enum { OP_CREATE, OP_ADD, OP_REMOVE } op_kind_t;

typedef struct {
    shard_group_t *group;
    op_kind_t kind;
    char *gw, *reqid;
    char conv[PL_CONV_MAX + 1];
    name_t user, target; /* caller; the added/removed user */
    name_t *notify;      /* recipients of the events (create: the members, all indexed) */
    size_t nnotify;
} op_t;

shard_group_t *shard_group_new(shard_t *shard)
{
    shard_group_t *self = calloc(1, sizeof(*self));
    if (!self)
        return NULL;
    self->shard = shard;
    self->commit = shard_commit(shard);
    self->roster = shard_roster(shard);
    self->conv = shard_conv(shard);
    return self;
}

void shard_group_destroy(shard_group_t **self_p)
{
    if (!self_p || !*self_p)
        return;
    free(*self_p);
    *self_p = NULL;
}

static void s_op_free(op_t **op_p)
{
    op_t *op = *op_p;
    if (!op)
        return;
    free(op->gw);
    free(op->reqid);
    free(op->notify);
    free(op);
    *op_p = NULL;
}

/* A new change of conv by user, to be told to the n members of list. NULL on OOM. */
static op_t *s_op_new(shard_group_t *group, op_kind_t kind, const char *gw, const char *reqid,
                      const char *conv, const char *user, const char *const *list, size_t n)
{
    op_t *op = calloc(1, sizeof(*op));
    if (!op)
        return NULL;
    op->group = group;
    op->kind = kind;
    op->gw = strdup(gw);
    op->reqid = strdup(reqid);
    op->notify = malloc((n ? n : 1) * sizeof(name_t));
    snprintf(op->conv, sizeof(op->conv), "%s", conv);
    snprintf(op->user, sizeof(op->user), "%s", user);
    if (!op->gw || !op->reqid || !op->notify) {
        s_op_free(&op);
        return NULL;
    }
    for (size_t i = 0; i < n; i++)
        snprintf(op->notify[i], sizeof(name_t), "%s", list[i]);
    op->nnotify = n;
    return op;
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

/* Push event (taken) to the op's members. */
static void s_push(op_t *op, char *event)
{
    const char *users[SHARD_GROUP_MAX];
    size_t count = 0;
    for (size_t i = 0; i < op->nnotify && count < SHARD_GROUP_MAX; i++)
        users[count++] = op->notify[i];
    if (event && count)
        shard_loc_push(shard_loc(op->group->shard), users, count, "", event);
    free(event);
}

static char *s_member_event(const char *conv, const char *user, const char *change, const char *by)
{
    return s_dump(json_pack("{s:s, s:s, s:s, s:s, s:s}", "type", "member", "conv", conv, "user",
                            user, "change", change, "by", by));
}

/* The action of a change: after the batch, answer and push (the index entries are sent
 * by the outbox); or answer status and drop the group from the cache. */
static void s_done(void *arg, const char *status, const char *why)
{
    op_t *op = arg;
    shard_t *shard = op->group->shard;
    if (status) {
        shard_roster_forget(op->group->roster, op->conv); /* reloaded from disk */
        shard_reply(shard, op->gw, op->reqid, status, why);
        s_op_free(&op);
        return;
    }
    switch (op->kind) {
    case OP_CREATE:
        shard_reply_json(shard, op->gw, op->reqid, json_pack("{s:s}", "conv", op->conv));
        for (size_t i = 0; i < op->nnotify; i++)
            if (strcmp(op->notify[i], op->user) != 0)
                s_push(op, s_member_event(op->conv, op->notify[i], "added", op->user));
        pl_info("%s: group created by %s with %zu members", op->conv, op->user, op->nnotify);
        break;
    case OP_ADD:
    case OP_REMOVE:
        shard_reply(shard, op->gw, op->reqid, "ok", "{}");
        s_push(op, s_member_event(op->conv, op->target, op->kind == OP_ADD ? "added" : "removed",
                                  op->user));
        break;
    }
    s_op_free(&op);
}

/* Queue op's action after the pending batch (before anything is staged, so that a
 * failure here leaves the batch untouched). Answers `internal` and frees op on failure. */
static int s_defer(shard_group_t *self, const char *gw, const char *reqid, op_t *op)
{
    if (shard_commit_after(self->commit, s_done, op) != 0) {
        s_op_free(&op);
        shard_reply(self->shard, gw, reqid, PL_E_INTERNAL, "out of memory");
        return -1;
    }
    return 0;
}

/* ---- requests -------------------------------------------------------------------- */

/* Stage the membership key of user (join seq = the conversation's last seq). */
static int s_stage_member(shard_group_t *self, const char *conv, const char *user, uint64_t next)
{
    shard_key_t key;
    if (shard_key_member(&key, conv, user) != 0)
        return -1;
    shard_commit_put_u64(self->commit, &key, next);
    return 0;
}

/* Stage, for every member of conv (as changed: the cache), an idx_add carrying the member
 * list: each member's index entry knows the co-members (presence contacts, internals.md
 * "Presence"). */
static void s_stage_index(shard_group_t *self, const char *conv)
{
    shard_members_t m;
    if (shard_roster_check(self->roster, conv, NULL, &m) != NULL)
        return; /* cached at staging: not reached */
    for (size_t i = 0; i < m.n; i++)
        shard_outbox_stage_group(shard_outbox(self->shard), conv, m.list[i], m.list, m.n);
}

static bool s_in(const char *const *list, size_t n, const char *user)
{
    for (size_t i = 0; i < n; i++)
        if (strcmp(list[i], user) == 0)
            return true;
    return false;
}

void shard_op_group_create(shard_t *shard, const char *gw, const char *reqid, json_t *req)
{
    shard_group_t *self = shard_group(shard);
    const char *user = NULL;
    const char *conv = shard_req_user_conv(shard, gw, reqid, req, &user);
    if (!conv)
        return;
    const char *title = shard_json_str(req, "title");
    json_t *members = json_object_get(req, "members");
    size_t title_cp = title ? pl_utf8_count(title, strlen(title)) : 0;
    if (!pl_group_id_valid(conv) || title_cp < 1 || title_cp > PL_TITLE_MAX_CP ||
        !json_is_array(members)) {
        shard_reply(shard, gw, reqid, PL_E_BAD_REQUEST, "invalid conv, title or members");
        return;
    }
    /* malformed (more than 1,000 entries, a bad name anywhere) is bad_request; only a
     * well-formed list with more than 99 others is group_full (checked while listing) */
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
    int rc = shard_roster_exists(self->roster, conv);
    if (rc != 0) {
        shard_reply(shard, gw, reqid, rc < 0 ? PL_E_UNAVAILABLE : PL_E_BAD_REQUEST,
                    rc < 0 ? "storage error" : "conversation exists");
        return;
    }
    const char *list[SHARD_GROUP_MAX]; /* the creator, then the others once each */
    size_t n = 0;
    list[n++] = user;
    json_array_foreach(members, i, v)
    {
        const char *m = json_string_value(v);
        if (s_in(list, n, m))
            continue; /* the creator, or a repeat */
        if (n >= SHARD_GROUP_MAX) {
            shard_reply(shard, gw, reqid, PL_E_GROUP_FULL, "a group has at most 100 members");
            return;
        }
        list[n++] = m;
    }
    uint64_t next = 0;
    shard_key_t key;
    char *text = s_dump(json_pack("{s:s, s:s, s:I}", "title", title, "creator", user, "created",
                                  (json_int_t)pl_now_ms()));
    if (!text || shard_key_group(&key, conv) != 0 ||
        shard_conv_seq(self->conv, conv, NULL, &next) != 0) {
        free(text);
        shard_reply(shard, gw, reqid, PL_E_UNAVAILABLE, "storage error");
        return;
    }
    op_t *op = s_op_new(self, OP_CREATE, gw, reqid, conv, user, list, n);
    if (!op || shard_roster_create(self->roster, conv, title, user, list, n) != 0) {
        free(text);
        s_op_free(&op);
        shard_reply(shard, gw, reqid, PL_E_INTERNAL, "out of memory");
        return;
    }
    if (s_defer(self, gw, reqid, op) != 0) {
        free(text);
        shard_roster_forget(self->roster, conv);
        return;
    }
    shard_commit_put(self->commit, &key, text, strlen(text));
    free(text);
    for (i = 0; i < n; i++)
        s_stage_member(self, conv, list[i], next);
    s_stage_index(self, conv);
}

/* group_add / group_remove: common checks. Fills *m with the group's members, or answers
 * and returns false. */
static bool s_change_args(shard_t *shard, const char *gw, const char *reqid, json_t *req,
                          const char **conv, const char **user, const char **target,
                          shard_members_t *m)
{
    *conv = shard_req_user_conv(shard, gw, reqid, req, user);
    if (!*conv)
        return false;
    *target = shard_json_str(req, "target");
    if (!*target || !pl_user_valid(*target) || !pl_group_id_valid(*conv)) {
        shard_reply(shard, gw, reqid, PL_E_BAD_REQUEST, "invalid conv or target");
        return false;
    }
    return shard_req_member(shard, gw, reqid, *conv, *user, m);
}

void shard_op_group_add(shard_t *shard, const char *gw, const char *reqid, json_t *req)
{
    shard_group_t *self = shard_group(shard);
    const char *conv, *user, *target;
    shard_members_t m;
    uint64_t next = 0;
    if (!s_change_args(shard, gw, reqid, req, &conv, &user, &target, &m))
        return;
    if (s_in(m.list, m.n, target)) {
        shard_reply(shard, gw, reqid, "ok", "{}"); /* already a member: nothing changes */
        return;
    }
    if (m.n >= SHARD_GROUP_MAX) {
        shard_reply(shard, gw, reqid, PL_E_GROUP_FULL, "the group has 100 members");
        return;
    }
    if (shard_conv_seq(self->conv, conv, NULL, &next) != 0) {
        shard_reply(shard, gw, reqid, PL_E_UNAVAILABLE, "storage error");
        return;
    }
    m.list[m.n++] = target; /* the added user is told too */
    op_t *op = s_op_new(self, OP_ADD, gw, reqid, conv, user, m.list, m.n);
    if (!op) {
        shard_reply(shard, gw, reqid, PL_E_INTERNAL, "out of memory");
        return;
    }
    snprintf(op->target, sizeof(op->target), "%s", target);
    if (s_defer(self, gw, reqid, op) != 0)
        return;
    s_stage_member(self, conv, target, next);
    shard_roster_add(self->roster, conv, target);
    s_stage_index(self, conv); /* every member learns the new list */
}

void shard_op_group_remove(shard_t *shard, const char *gw, const char *reqid, json_t *req)
{
    shard_group_t *self = shard_group(shard);
    const char *conv, *user, *target;
    shard_members_t m;
    shard_key_t key;
    if (!s_change_args(shard, gw, reqid, req, &conv, &user, &target, &m))
        return;
    if (!s_in(m.list, m.n, target)) {
        shard_reply(shard, gw, reqid, PL_E_NOT_FOUND, "not a member of this group");
        return;
    }
    if (strcmp(user, target) != 0 && strcmp(user, m.creator) != 0) {
        shard_reply(shard, gw, reqid, PL_E_FORBIDDEN, "only the creator may remove others");
        return;
    }
    /* the removed user is told too */
    op_t *op = s_op_new(self, OP_REMOVE, gw, reqid, conv, user, m.list, m.n);
    if (!op || shard_key_member(&key, conv, target) != 0) {
        s_op_free(&op);
        shard_reply(shard, gw, reqid, PL_E_INTERNAL, "out of memory");
        return;
    }
    snprintf(op->target, sizeof(op->target), "%s", target);
    if (s_defer(self, gw, reqid, op) != 0)
        return;
    shard_commit_del(self->commit, &key);
    shard_outbox_stage_del(shard_outbox(shard), conv, target, "group");
    shard_roster_remove(self->roster, conv, target);
    s_stage_index(self, conv); /* the others learn the new list */
}
