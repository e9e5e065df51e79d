/* group — group conversations: create, add, remove, on the conversation's shard
 * (docs/internals.md "Groups, read receipts, typing").
 *
 * Storage: g<conv> → {"title","creator","created"}; n<conv>\0<user> → be64 seq of the
 * conversation when the user joined. A change is staged into the group commit (commit.h:
 * the same WriteBatch as sends, so it is ordered with messages), with the members'
 * conversation index entries (outbox.h), and answered, with its events, by its action
 * after that batch is written. The member cache (roster.h) is updated at staging, like
 * the seq counter: a send staged after a change sees the new member set, and its
 * recipients are the member set at that moment. If the batch fails, the group is dropped
 * from the cache (reloaded from disk) and the request is answered `unavailable`.
 *
 * Calls roster, conv (shard_conv_seq), commit, outbox, loc; nothing calls it but its
 * ops. Thread: the shard's loop thread. Owned by shard_t. */
#ifndef SHARD_GROUP_H
#define SHARD_GROUP_H
#include <jansson.h>

#include "roster.h"
#include "shard.h"

#define SHARD_GROUP_LIST_MAX 1000 /* entries of a group_create's members list */

shard_group_t *shard_group_new(shard_t *shard);
void shard_group_destroy(shard_group_t **self_p);

/* Request handlers (internals.md issue-3 table); req stays the caller's. Each answers at
 * once on an error, otherwise after the pending batch is written. */
void shard_op_group_create(shard_t *shard, const char *gw, const char *reqid, json_t *req);
void shard_op_group_add(shard_t *shard, const char *gw, const char *reqid, json_t *req);
void shard_op_group_remove(shard_t *shard, const char *gw, const char *reqid, json_t *req);

#endif
