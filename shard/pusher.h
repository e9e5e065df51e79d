/* pusher — delivers push notifications off the shard's loop (docs/internals.md "Push
 * notifications"): one thread per shard running a libcurl multi handle.
 *
 * The loop thread hands deliveries over with shard_pusher_queue (a locked list plus
 * curl_multi_wakeup); the thread starts every due delivery at once, so a slow or failing
 * target never delays another. A failure (connect error, timeout, non-2xx other than
 * 404/410) is retried after 1, 2, 4, 8 s (5 tries in all), then dropped (logged). A 404 or
 * 410 means the target is gone: its store key is handed back (shard_pusher_gone), and the
 * loop thread deletes it. Web Push bodies are encrypted per RFC 8291 and signed with the
 * VAPID key (RFC 8292) on this thread.
 *
 * Thread: new/destroy/queue/gone on the loop thread; the rest is internal. */
#ifndef SHARD_PUSHER_H
#define SHARD_PUSHER_H
#include <stdbool.h>
#include <stddef.h>

#include "pl_webpush.h"

typedef struct _shard_pusher_t shard_pusher_t;

#define SHARD_PUSHER_TRIES 5
#define SHARD_PUSHER_QUEUE_MAX 100000 /* deliveries waiting or in flight */

/* vapid_key (may be NULL: Web Push targets are then dropped) is taken over (freed at
 * destroy); subject is copied. The thread starts at the first delivery. NULL on OOM. */
shard_pusher_t *shard_pusher_new(EVP_PKEY *vapid_key, const char *subject);
/* Stop the thread (deliveries in flight are abandoned) and free. Idempotent. */
void shard_pusher_destroy(shard_pusher_t **self_p);

/* Queue one delivery of payload (JSON text) to target, the stored target JSON
 * ({"kind":"webhook","url"} or {"kind":"webpush","endpoint","keys":{"p256dh","auth"}}).
 * topic (NULL: none; at most 32 base64url characters) is sent as Web Push's `Topic`
 * header, so a push service keeps only the newest of one topic. key/key_len is the
 * target's store key, handed back if the target is gone. 0, or -1 (malformed target,
 * queue full, OOM: logged). Everything is copied. */
int shard_pusher_queue(shard_pusher_t *self, const char *target, const char *payload,
                       const char *topic, const void *key, size_t key_len);
/* Take one store key of a gone target (malloc'd, caller frees) or NULL when none. */
void *shard_pusher_gone(shard_pusher_t *self, size_t *len);
/* Introspection (tests): deliveries finished ok since start. */
size_t shard_pusher_delivered(shard_pusher_t *self);

#endif
