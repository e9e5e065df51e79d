/* receipts — read receipts and typing. See receipts.h. */
#include "receipts.h"

#include <czmq.h>
#include <stdlib.h>
#include <string.h>

#include "commit.h"
#include "conv.h"
#include "loc.h"
#include "pl_err.h"
#include "pl_log.h"
#include "pl_text.h"
#include "pl_time.h"
#include "roster.h"

#define TYPING_EVERY_MS 1000
#define TYPING_KEEP_MS 2000

/* "<conv> <user>": the key of both tables */
#define PAIR_MAX (PL_CONV_MAX + 1 + PL_USER_MAX + 1)

struct _shard_receipts_t {
    shard_t *shard;
    shard_commit_t *commit;
    shard_roster_t *roster;
    shard_conv_t *conv;
    zhashx_t *typing; /* "<conv> <user>" -> int64_t (owned): last typing event, mono ms */
    zhashx_t *reads;  /* "<conv> <user>" -> uint64_t (owned): read seq staged in the batch */
};

/* A staged `read`: the argument of its action (s_done), which frees it. */
typedef struct {
    shard_receipts_t *receipts;
    char *gw, *reqid;
    char conv[PL_CONV_MAX + 1];
    char user[PL_USER_MAX + 1];
    uint64_t seq;
    char (*notify)[PL_USER_MAX + 1]; /* the members, told with a `read` event */
    size_t nnotify;
} op_t;

static void s_free(void **item)
{
    free(*item);
    *item = NULL;
}

shard_receipts_t *shard_receipts_new(shard_t *shard)
{
    shard_receipts_t *self = calloc(1, sizeof(*self));
    if (!self)
        return NULL;
    self->shard = shard;
    self->commit = shard_commit(shard);
    self->roster = shard_roster(shard);
    self->conv = shard_conv(shard);
    self->typing = zhashx_new();
    self->reads = zhashx_new();
    if (!self->typing || !self->reads) {
        shard_receipts_destroy(&self);
        return NULL;
    }
    zhashx_set_destructor(self->typing, s_free);
    zhashx_set_destructor(self->reads, s_free);
    return self;
}

void shard_receipts_destroy(shard_receipts_t **self_p)
{
    if (!self_p || !*self_p)
        return;
    shard_receipts_t *self = *self_p;
    zhashx_destroy(&self->typing);
    zhashx_destroy(&self->reads);
    free(self);
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

/* Compact JSON text of j (consumed), keys in insertion order: every event starts with
 * {"type":..,"conv":..,. NULL on failure. */
static char *s_dump(json_t *j)
{
    char *text = j ? json_dumps(j, JSON_COMPACT | JSON_PRESERVE_ORDER) : NULL;
    json_decref(j);
    return text;
}

/* The action of a staged read: the staged seq is forgotten (now stored, or not); answer
 * and push the `read` event, or answer status. */
static void s_done(void *arg, const char *status, const char *why)
{
    op_t *op = arg;
    shard_receipts_t *self = op->receipts;
    char pair[PAIR_MAX];
    snprintf(pair, sizeof(pair), "%s %s", op->conv, op->user);
    zhashx_delete(self->reads, pair);
    if (status) {
        shard_reply(self->shard, op->gw, op->reqid, status, why);
        s_op_free(&op);
        return;
    }
    shard_reply(self->shard, op->gw, op->reqid, "ok", "{}");
    const char *users[SHARD_GROUP_MAX];
    size_t n = 0;
    for (size_t i = 0; i < op->nnotify && n < SHARD_GROUP_MAX; i++)
        users[n++] = op->notify[i];
    char *event = s_dump(json_pack("{s:s, s:s, s:s, s:I}", "type", "read", "conv", op->conv, "user",
                                   op->user, "seq", (json_int_t)op->seq));
    if (event && n)
        shard_loc_push(shard_loc(self->shard), users, n, "", event);
    free(event);
    s_op_free(&op);
}

void shard_op_read(shard_t *shard, const char *gw, const char *reqid, json_t *req)
{
    shard_receipts_t *self = shard_receipts(shard);
    const char *user = NULL;
    shard_members_t m;
    shard_key_t key;
    char pair[PAIR_MAX];
    uint64_t next = 0, stored = 0;
    const char *conv = shard_req_user_conv(shard, gw, reqid, req, &user);
    if (!conv)
        return;
    json_t *seqv = json_object_get(req, "seq");
    if (!json_is_integer(seqv) || json_integer_value(seqv) < 0) {
        shard_reply(shard, gw, reqid, PL_E_BAD_REQUEST, "invalid seq");
        return;
    }
    uint64_t seq = (uint64_t)json_integer_value(seqv);
    if (!shard_req_member(shard, gw, reqid, conv, user, &m))
        return;
    if (shard_conv_seq(self->conv, conv, NULL, &next) != 0 ||
        shard_key_read(&key, conv, user) != 0 ||
        shard_store_get_u64(shard_store(shard), &key, &stored) < 0) {
        shard_reply(shard, gw, reqid, PL_E_UNAVAILABLE, "storage error");
        return;
    }
    if (seq > next) {
        shard_reply(shard, gw, reqid, PL_E_BAD_REQUEST, "seq is above the last message");
        return;
    }
    snprintf(pair, sizeof(pair), "%s %s", conv, user);
    uint64_t *staged = zhashx_lookup(self->reads, pair);
    if (staged && *staged > stored)
        stored = *staged;
    if (seq <= stored) {
        shard_reply(shard, gw, reqid, "ok", "{}"); /* not above the stored one: no change */
        return;
    }
    op_t *op = calloc(1, sizeof(*op));
    uint64_t *val = malloc(sizeof(*val));
    if (op) {
        op->receipts = self;
        op->gw = strdup(gw);
        op->reqid = strdup(reqid);
        op->notify = malloc((m.n ? m.n : 1) * sizeof(*op->notify));
    }
    if (!op || !val || !op->gw || !op->reqid || !op->notify) {
        free(val);
        s_op_free(&op);
        shard_reply(shard, gw, reqid, PL_E_INTERNAL, "out of memory");
        return;
    }
    snprintf(op->conv, sizeof(op->conv), "%s", conv);
    snprintf(op->user, sizeof(op->user), "%s", user);
    for (size_t i = 0; i < m.n; i++)
        snprintf(op->notify[i], sizeof(op->notify[i]), "%s", m.list[i]);
    op->nnotify = m.n;
    op->seq = seq;
    /* the action first (a failure leaves the batch untouched), then the key */
    if (shard_commit_after(self->commit, s_done, op) != 0) {
        free(val);
        s_op_free(&op);
        shard_reply(shard, gw, reqid, PL_E_INTERNAL, "out of memory");
        return;
    }
    *val = seq;
    zhashx_update(self->reads, pair, val);
    shard_commit_put_u64(self->commit, &key, seq);
}

void shard_op_typing(shard_t *shard, const char *gw, const char *reqid, json_t *req)
{
    shard_receipts_t *self = shard_receipts(shard);
    const char *user = NULL;
    shard_members_t m;
    char pair[PAIR_MAX];
    const char *conv = shard_req_user_conv(shard, gw, reqid, req, &user);
    if (!conv || !shard_req_member(shard, gw, reqid, conv, user, &m))
        return;
    int64_t now = pl_mono_ms();
    snprintf(pair, sizeof(pair), "%s %s", conv, user);
    int64_t *last = zhashx_lookup(self->typing, pair);
    if (last && now - *last < TYPING_EVERY_MS) {
        shard_reply(shard, gw, reqid, "ok", "{}"); /* rate-limited: dropped quietly */
        return;
    }
    if (!last) {
        last = malloc(sizeof(*last));
        if (last)
            zhashx_insert(self->typing, pair, last);
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
        shard_loc_push(shard_loc(shard), others, n, "", event);
    free(event);
    shard_reply(shard, gw, reqid, "ok", "{}");
}

void shard_receipts_tick(shard_receipts_t *self, int64_t now)
{
    zlistx_t *old = zlistx_new();
    if (!old)
        return;
    for (int64_t *t = zhashx_first(self->typing); t; t = zhashx_next(self->typing))
        if (now - *t >= TYPING_KEEP_MS)
            zlistx_add_end(old, (void *)zhashx_cursor(self->typing));
    for (const char *k = zlistx_first(old); k; k = zlistx_next(old))
        zhashx_delete(self->typing, k);
    zlistx_destroy(&old);
}
