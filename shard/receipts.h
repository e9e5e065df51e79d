/* receipts — read receipts and typing, on the conversation's shard (docs/internals.md
 * "Groups, read receipts, typing").
 *
 * Storage: r<conv>\0<user> → be64 read seq. A `read` that raises it is staged into the
 * group commit (commit.h) and answered, with its `read` event to the members, by its
 * action after the batch is written; the staged seq is kept in memory until then, so
 * that a second `read` of the same turn compares with it. Typing is not stored: at most
 * one event per (conv, user) per second, an in-memory table pruned of entries older than
 * 2 s.
 *
 * Calls roster, conv (shard_conv_seq), commit, loc. Thread: the shard's loop thread.
 * Owned by shard_t. */
#ifndef SHARD_RECEIPTS_H
#define SHARD_RECEIPTS_H
#include <jansson.h>
#include <stdint.h>

#include "shard.h"

shard_receipts_t *shard_receipts_new(shard_t *shard);
void shard_receipts_destroy(shard_receipts_t **self_p);

/* Request handlers (internals.md issue-3 table); req stays the caller's. */
void shard_op_read(shard_t *shard, const char *gw, const char *reqid, json_t *req);
void shard_op_typing(shard_t *shard, const char *gw, const char *reqid, json_t *req);

/* Timers: prune the typing table. */
void shard_receipts_tick(shard_receipts_t *self, int64_t now);

#endif
