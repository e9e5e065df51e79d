/* group — group conversations (create, add, remove, the member cache), read receipts and
 * typing, on the conversation's shard (docs/internals.md "Groups, read receipts, typing").
 *
 * Storage: g<conv> → {"title","creator","created"}; n<conv>\0<user> → be64 seq of the
 * conversation when the user joined; r<conv>\0<user> → be64 read seq. Membership changes
 * and read receipts are staged into the conversation module's pending group commit (the
 * same WriteBatch as sends, so they are ordered with messages) and answered, with their
 * events, after that batch is written (shard_conv_defer). The member cache is updated at
 * staging, like the seq counter: a send staged after a change sees the new member set,
 * and its recipients are the member set at that moment. If the batch fails, the groups it
 * touched are dropped from the cache (reloaded from disk) and the requests are answered
 * `unavailable`.
 *
 * Typing is not stored: at most one event per (conv, user) per second, an in-memory table
 * pruned of entries older than 2 s.
 *
 * Thread: the shard's loop thread. Owned by shard_t. */
#ifndef SHARD_GROUP_H
#define SHARD_GROUP_H
#include <jansson.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "shard.h"

/* Most members a group may have at any time (creator included). */
#define SHARD_GROUP_MAX 100
#define SHARD_GROUP_LIST_MAX 1000 /* entries of a group_create's members list */
/* Groups kept in the member cache at most; above this the cache is emptied when idle. */
#define SHARD_GROUP_CACHE_MAX 20000

typedef struct _shard_group_t shard_group_t;

/* The members of a conversation, as found by shard_group_check. */
typedef struct {
    bool group;                        /* a g: conversation (else a dm) */
    size_t n;                          /* number of members */
    const char *list[SHARD_GROUP_MAX]; /* member names; valid until the next change */
    const char *title, *creator;       /* groups only; same lifetime */
    char a[33], b[33];                 /* dm: the two users (list points here) */
} shard_members_t;

shard_group_t *shard_group_new(shard_t *shard);
void shard_group_destroy(shard_group_t **self_p);

/* Members of conv (a dm or a group, loading the group into the cache on a miss), and,
 * when user is not NULL, check that user is one. Returns NULL and fills *out, or an error
 * code: bad_request (malformed id), not_found (no such group), forbidden (user is no
 * member), unavailable (storage error). */
const char *shard_group_check(shard_group_t *self, const char *conv, const char *user,
                              shard_members_t *out);

/* Request handlers (internals.md issue-3 table); req stays the caller's. Each answers at
 * once on an error, otherwise after the pending batch is written. */
void shard_op_group_create(shard_t *shard, const char *gw, const char *reqid, json_t *req);
void shard_op_group_add(shard_t *shard, const char *gw, const char *reqid, json_t *req);
void shard_op_group_remove(shard_t *shard, const char *gw, const char *reqid, json_t *req);
void shard_op_read(shard_t *shard, const char *gw, const char *reqid, json_t *req);
void shard_op_typing(shard_t *shard, const char *gw, const char *reqid, json_t *req);

/* Timers: prune the typing table; empty the member cache when it is too large and no
 * batch is pending. */
void shard_group_tick(shard_group_t *self, int64_t now);
/* Introspection (tests): groups in the cache. */
size_t shard_group_cached(shard_group_t *self);

#endif
