/* commit — the group commit: the loop turn's ONE WriteBatch and everything that waits for
 * it (docs/internals.md "Why a send is crash-safe", "Module map").
 *
 * Every change the shard acknowledges only once it is durable (sends, group membership,
 * read receipts, the conversation index's outbox entries) is staged here: its keys go
 * into the batch (shard_commit_put/_put_u64/_del) and its answer, events and follow-ups
 * into an after-commit action (shard_commit_after). shard_commit_flush(), at the end of
 * the drain, writes the batch (fsynced with --sync) and ONLY THEN runs the actions with
 * status NULL, in the order they were queued; if the write fails, every action runs with
 * status `unavailable` (nothing of the batch was applied: RocksDB writes a batch
 * atomically). Nothing else writes what a staged change promises. Modules that keep
 * state for the staged changes (counters, caches) register an end hook
 * (shard_commit_on_end) that runs once after each flush's actions, with the same status.
 *
 * Thread: the shard's loop thread. Owned by shard_t; it must outlive the modules whose
 * actions it holds, and be destroyed before them (shard_destroy does). */
#ifndef SHARD_COMMIT_H
#define SHARD_COMMIT_H
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "store.h"

/* A pending batch this large is written at once, between two requests of a drain
 * (shard_commit_full), to bound memory. */
#define SHARD_COMMIT_MAX_BYTES (16 * 1024 * 1024)

typedef struct _shard_commit_t shard_commit_t;

/* What runs after the batch: status NULL when it is durable; otherwise the error status
 * to answer (PL_E_UNAVAILABLE) and why, a human message ("storage write failed", "shard
 * is stopping"). Called exactly once per queued action; arg stays the caller's. An action
 * may answer, push and send, but must not stage into the group commit (a change staged
 * from an action goes into the next batch, and its own action runs at the next flush). */
typedef void(shard_commit_fn)(void *arg, const char *status, const char *why);

/* The group commit over store (borrowed, outlives it); sync: fsync every write (--sync).
 * NULL when out of memory. */
shard_commit_t *shard_commit_new(shard_store_t *store, bool sync);
/* Commits nothing: every queued action runs with `unavailable` ("shard is stopping"),
 * then the end hooks. Idempotent; nulls *self_p. */
void shard_commit_destroy(shard_commit_t **self_p);

/* Stage a put or delete into the pending batch (copied). Staged keys are read by nobody
 * until the flush: a module that needs its staged state keeps it in memory itself. */
void shard_commit_put(shard_commit_t *self, const shard_key_t *key, const void *val, size_t len);
void shard_commit_put_u64(shard_commit_t *self, const shard_key_t *key, uint64_t value);
void shard_commit_del(shard_commit_t *self, const shard_key_t *key);

/* Queue fn(arg) after the pending batch. Queue it BEFORE staging the change's keys, so
 * that a failure here leaves the batch untouched. 0, or -1 (out of memory: fn is never
 * called for it) — never -1 right after a successful shard_commit_reserve. */
int shard_commit_after(shard_commit_t *self, shard_commit_fn *fn, void *arg);
/* Make room for one more action: 0 or -1 (out of memory). */
int shard_commit_reserve(shard_commit_t *self);
/* Run fn(arg, status, why) once after every flush (and at destroy), after all its
 * actions. For modules' bookkeeping, registered for good as the last fallible step of
 * their creation (arg must outlive the commit's last flush or destroy). 0 or -1. */
int shard_commit_on_end(shard_commit_t *self, shard_commit_fn *fn, void *arg);

/* Actions waiting for the batch. */
size_t shard_commit_pending(shard_commit_t *self);
/* Whether the batch holds SHARD_COMMIT_MAX_BYTES or more (then flush between requests). */
bool shard_commit_full(shard_commit_t *self);
/* Write the batch, then run the actions and end hooks (see above). Nothing pending: 0
 * at once. 0, or -1 when the write failed (the actions were told). */
int shard_commit_flush(shard_commit_t *self);

#endif
