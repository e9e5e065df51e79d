/* conv — conversations: send, sync, history, conv_info.
 *
 * Keeps an in-memory cache of conversation counters (last committed seq, plus the last
 * seq handed out to a pending send; loaded from the conversation's last message key) and
 * the sends waiting for the group commit (commit.h): each send puts its message and
 * idempotency key (plus outbox entries for a dm's first message) into the turn's batch
 * and queues one action that, after the write, answers it and pushes its event. If the
 * write fails, the counter cache is dropped (reloaded from disk on next use) and every
 * pending send is answered `unavailable`. Reads see committed data only; a read of a
 * conversation with pending sends (or while any other change is pending) writes the
 * batch first, so that anything the shard already accepted is visible to it.
 *
 * Calls roster (members), commit, outbox, loc, push, guard; called by shard.c (its ops)
 * and group.c/receipts.c (shard_conv_seq). Thread: the shard's loop thread. Owned by
 * shard_t. */
#ifndef SHARD_CONV_H
#define SHARD_CONV_H
#include <jansson.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "pl_text.h"
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
    char user[64], device[72], conv[512], cmid[1024]; /* longer than any valid one */
    size_t user_len, device_len, conv_len, cmid_len;  /* their strlen */
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

/* Sends waiting for the group commit. */
size_t shard_conv_pending(shard_conv_t *self);
/* Timers: empty the counter cache when it is too large and nothing is pending. */
void shard_conv_tick(shard_conv_t *self);
/* The last committed seq and the last seq handed out (pending included) of conv. 0, or -1
 * on a storage error. */
int shard_conv_seq(shard_conv_t *self, const char *conv, uint64_t *last, uint64_t *next);

#endif
