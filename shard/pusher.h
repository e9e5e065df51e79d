/* pusher — delivers push notifications off the shard's loop (docs/internals.md "Push
 * notifications"): one thread per shard running a libcurl multi handle.
 *
 * The loop thread hands deliveries over with shard_pusher_queue (a locked list plus
 * curl_multi_wakeup); the thread starts every due delivery at once, so a slow or failing
 * target never delays another. Kinds: webhook (POST JSON), Web Push (RFC 8291 encrypted,
 * RFC 8292 VAPID-signed), FCM HTTP v1 and APNs (providers.h: tokens and request shapes;
 * HTTP/2). A failure (connect error, timeout, 429, 5xx, other non-2xx) is retried after
 * 1, 2, 4, ... s (at most 10 min apart; a Retry-After answer sets the wait), until 24 h
 * after the first attempt: then the target counts as dead and is removed. An answer that
 * says the target is gone (404/410; FCM UNREGISTERED; APNs Unregistered, BadDeviceToken)
 * hands its store key back (shard_pusher_gone) and the loop thread deletes it.
 *
 * Thread: new/destroy/accepts/queue/gone on the loop thread; the rest is internal. */
#ifndef SHARD_PUSHER_H
#define SHARD_PUSHER_H
#include <stdbool.h>
#include <stddef.h>

#include "pl_webpush.h"
#include "providers.h"

typedef struct _shard_pusher_t shard_pusher_t;

#define SHARD_PUSHER_TRIES 1000                      /* attempts; the 24 h bound comes first */
#define SHARD_PUSHER_GIVE_UP_MS (24 * 3600 * 1000LL) /* failing this long: target removed */
#define SHARD_PUSHER_QUEUE_MAX 100000                /* deliveries waiting or in flight */

/* vapid_key (may be NULL: Web Push targets are then dropped) and providers (may be NULL:
 * no FCM/APNs) are taken over (freed at destroy, also on failure); subject is copied. The
 * thread starts at the first delivery. NULL on OOM. */
shard_pusher_t *shard_pusher_new(EVP_PKEY *vapid_key, const char *subject,
                                 shard_providers_t *providers);
/* Whether targets of kind ("webhook", "webpush", "fcm", "apns") can be delivered: FCM and
 * APNs need their credentials. */
bool shard_pusher_accepts(const shard_pusher_t *self, const char *kind);
/* Stop the thread (deliveries in flight are abandoned) and free. Idempotent. */
void shard_pusher_destroy(shard_pusher_t **self_p);

/* One delivery (everything is copied by shard_pusher_queue). */
typedef struct {
    const char *target;  /* the stored target JSON ({"kind":"webhook","url"}, {"kind":"webpush",
                            "endpoint","keys":{...}}, {"kind":"fcm","token"}, {"kind":"apns",...}) */
    const char *payload; /* JSON text */
    const char *topic;   /* collapse id (Web Push Topic, FCM collapse_key, apns-collapse-id;
                            at most 32 base64url characters), or NULL */
    const void *key;     /* the target's store key: handed back if the target is gone */
    size_t key_len;
    const void *pending; /* the delivery's own store key (durable delivery), or NULL: handed */
    size_t pending_len;  /* back with version once the delivery is over (done, gone, given up) */
    int64_t version;
    int64_t first_ms; /* wall clock ms of the first attempt, for the 24 h bound (0: now) */
    int64_t due_ms;   /* wall clock ms of the next attempt (0: now) */
} shard_pusher_job_t;

/* Queue one delivery. 0, or -1 (malformed target, provider not configured, queue full,
 * OOM: logged). */
int shard_pusher_queue(shard_pusher_t *self, const shard_pusher_job_t *job);
/* Take one pending key of a delivery that is over (malloc'd, caller frees; *version as
 * queued) or NULL when none. */
void *shard_pusher_finished(shard_pusher_t *self, size_t *len, int64_t *version);
/* Take one store key of a gone target (malloc'd, caller frees) or NULL when none. */
void *shard_pusher_gone(shard_pusher_t *self, size_t *len);
/* Introspection (tests): deliveries finished ok since start. */
size_t shard_pusher_delivered(shard_pusher_t *self);

#endif
