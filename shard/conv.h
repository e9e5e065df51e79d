/* conv — conversations: send (group commit), sync, history, conv_info.
 *
 * Keeps an in-memory cache of conversation counters (last committed seq, plus the last
 * seq handed out to a pending send; loaded from the conversation's last message key) and
 * the pending group commit: ONE WriteBatch holding every send of the current drain
 * (message + idempotency key: two keys, plus outbox entries for a dm's first message).
 * shard_conv_commit() writes it and only then answers the sends and pushes their events. If the
 * write fails, the counter cache is dropped (reloaded from disk on next use) and every pending send
 * is answered `unavailable`. Reads see committed data only; a read of a conversation with pending
 * sends commits them first so that anything the shard already accepted is visible to it.
 *
 * Thread: the shard's loop thread. Owned by shard_t. */
#ifndef SHARD_CONV_H
#define SHARD_CONV_H
#include <jansson.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "shard.h"

/* Largest amount of message text in one sync/history answer before it stops early. */
#define SHARD_PAGE_BYTES (8 * 1024 * 1024)
/* Counter cache entries kept at most; above this the cache is emptied when idle. */
#define SHARD_COUNTER_CACHE_MAX 100000

shard_conv_t *shard_conv_new(shard_t *shard);
/* Pending sends are answered `unavailable` (nothing was written). Idempotent. */
void shard_conv_destroy(shard_conv_t **self_p);

/* A send's fields (its binary body, pl_ops.def): NUL-terminated copies, but the text,
 * which points into the received message (valid during shard_conv_send; no NUL, valid
 * UTF-8, checked by the caller). Longer fields than these buffers are refused. */
typedef struct {
    char user[64], device[72], conv[512], cmid[1024];
    const char *text;
    size_t text_len;
} shard_send_t;

/* Request handlers (payload fields per internals.md). req/s stay the caller's. Each
 * answers through shard_reply*, at once or (send) after the commit. send renders the
 * stored `msg` event itself (no JSON library): the text is escaped once into it. */
void shard_conv_send(shard_conv_t *self, const char *gw, const char *reqid, const shard_send_t *s);
void shard_conv_sync(shard_conv_t *self, const char *gw, const char *reqid, json_t *req);
void shard_conv_history(shard_conv_t *self, const char *gw, const char *reqid, json_t *req);
void shard_conv_info(shard_conv_t *self, const char *gw, const char *reqid, json_t *req);

/* Write the pending batch, then answer and push (or answer all `unavailable`). Returns
 * 0 (also when nothing was pending) or -1 when the write failed. */
int shard_conv_commit(shard_conv_t *self);
/* Number of sends waiting for the commit. */
size_t shard_conv_pending(shard_conv_t *self);

/* A change other than a send staged into the pending batch (group membership, read
 * receipts): called exactly once, after the batch was written (err NULL) or when it failed
 * or the shard stops (err is the status to answer, e.g. unavailable). The callback owns
 * arg. Called in arrival order, interleaved with the answers to sends. */
typedef void(shard_conv_done_fn)(shard_t *shard, void *arg, const char *err);
/* The pending batch, to stage such a change into; then call shard_conv_defer. */
shard_batch_t *shard_conv_batch(shard_conv_t *self);
/* Queue fn(arg) after the pending batch. Reads of any conversation commit first while one
 * is queued. 0, or -1 (OOM: fn is not called, the caller still owns arg). */
int shard_conv_defer(shard_conv_t *self, shard_conv_done_fn *fn, void *arg);
/* The last committed seq and the last seq handed out (pending included) of conv. 0, or -1
 * on a storage error. */
int shard_conv_seq(shard_conv_t *self, const char *conv, uint64_t *last, uint64_t *next);
/* A human message for an error code of shard_group_check. */
const char *shard_conv_why(const char *err);

/* Members of a dm. For "dm:a:b" fills a and b (each >= 33 bytes) and returns NULL;
 * otherwise returns the error code: bad_request for a malformed id, not_found for any
 * group id (this pure helper does not look groups up: use shard_group_check). */
const char *shard_conv_members(const char *conv, char *a, char *b);

#endif
