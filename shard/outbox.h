/* outbox — the conversation shard's side of the conversation index
 * (docs/internals.md "Shard-to-shard").
 *
 * The first message of a dm (and every group membership change) stages, into the group
 * commit (commit.h: the same WriteBatch), one `o<conv>\0<user>` entry per member whose
 * value is the idx_add payload. After the write (the group commit's end hook) the shard
 * sends ["FWD", "u:<user>", payload]; a failed write forgets them. The user's shard
 * answers idx_ack, which deletes the entry. Entries not acknowledged within 2 s are resent (checked
 * every second, and at start for every stored entry). The in-memory copy mirrors the stored
 * entries.
 *
 * Thread: the shard's loop thread. Owned by shard_t. */
#ifndef SHARD_OUTBOX_H
#define SHARD_OUTBOX_H
#include <jansson.h>
#include <stddef.h>
#include <stdint.h>

#include "shard.h"

/* Loads every stored outbox entry (they are resent at the first tick). NULL on failure.
 * shard_outbox_new: the conversation index (o keys, acked by idx_ack);
 * shard_outbox_new_push: push notifications for members' shards (Q keys, acked by
 * push_ack), the same machinery: latest payload per (conv, user), resent until acked. */
shard_outbox_t *shard_outbox_new(shard_t *shard);
shard_outbox_t *shard_outbox_new_push(shard_t *shard);
/* The push outbox (its own batch, written by push.c): stage payload (a JSON object; a
 * fresh "nonce" member is set in it) for (conv, user) into batch; after batch was
 * written, shard_outbox_committed for each staged pair, or shard_outbox_discard. */
int shard_outbox_stage_payload(shard_outbox_t *self, shard_batch_t *batch, const char *conv,
                               const char *user, json_t *payload);
void shard_outbox_destroy(shard_outbox_t **self_p);

/* The index outbox: stage the idx_add entry for (conv, user, kind) into the group
 * commit, with a fresh random `nonce` (16 hex digits); it is remembered and sent once the
 * batch is written. The key is o<conv>\0<user>: a later entry for the same pair replaces
 * an earlier one (the latest desired state wins). 0 or -1 (ids too long, OOM). */
int shard_outbox_stage(shard_outbox_t *self, const char *conv, const char *user, const char *kind);
/* A group's idx_add carrying its n members (after the change) as "members": the user's
 * shard keeps the list in the index entry, for presence contacts. 0 or -1. */
int shard_outbox_stage_group(shard_outbox_t *self, const char *conv, const char *user,
                             const char *const *members, size_t n);
/* The same for idx_del (a member left a group). */
int shard_outbox_stage_del(shard_outbox_t *self, const char *conv, const char *user,
                           const char *kind);
/* The push outbox: after the batch holding the staged entry was written: remember it
 * (replacing an older entry of the pair) and send it. kind is unused. */
void shard_outbox_committed(shard_outbox_t *self, const char *conv, const char *user,
                            const char *kind, int64_t now);
/* The push outbox: the batch failed: forget every staged entry. */
void shard_outbox_discard(shard_outbox_t *self);
/* FWD idx_ack {"op":"idx_ack","user","conv","nonce"}: delete the entry only if its nonce
 * matches (an entry stored without a nonce matches an ack without one). */
void shard_outbox_ack(shard_outbox_t *self, json_t *req);
/* Resend entries sent more than 2 s ago (at most once a second). */
void shard_outbox_tick(shard_outbox_t *self, int64_t now);
size_t shard_outbox_size(shard_outbox_t *self);

#endif
