/* push — push notification targets and triggers on the shard (docs/internals.md "Push
 * notifications").
 *
 * On the user's shard: REQ `push_register` stores a target under
 * `P<user>\0<hex SHA-256 of the target JSON>` (at most SHARD_PUSH_TARGETS_MAX per user, the
 * least recently registered replaced); FWD `push` (a message for a user without a connected
 * device) queues one delivery per target on the pusher thread unless the user is online.
 * On the conversation's shard: shard_push_committed, after a message commit, forwards
 * `push` to the shard of every member other than the sender that no gateway holds.
 *
 * Thread: the shard's loop thread. Owned by shard_t. */
#ifndef SHARD_PUSH_H
#define SHARD_PUSH_H
#include <jansson.h>
#include <stddef.h>

#include "shard.h"

#define SHARD_PUSH_TARGETS_MAX 20
#define SHARD_PUSH_PREVIEW_CP 100
/* At most one notification per (user, conversation) in this window: the first goes out at
 * once, the newest of those that follow is held and sent when the window ends. */
#define SHARD_PUSH_COLLAPSE_MS 5000

/* vapid_key: PEM file or NULL; subject: VAPID `sub` (mailto: or https:) or NULL;
 * providers: FCM/APNs credentials (NULL or all-NULL: neither). NULL on failure (an
 * unreadable key or credentials file is logged). */
shard_push_t *shard_push_new(shard_t *shard, const char *vapid_key, const char *subject,
                             const shard_providers_cfg_t *providers);
/* Stops the delivery thread. Idempotent; nulls *self_p. */
void shard_push_destroy(shard_push_t **self_p);

/* REQ push_register {"user","device","target":{...}} (validated by the gateway): answers
 * {"push_id"}: the hex SHA-256 of the canonical target, stable across re-registration. */
void shard_op_push_register(shard_t *shard, const char *gw, const char *reqid, json_t *req);
/* REQ push_list {"user"}: answers {"targets":[{"push_id","kind","label","device","at"}]}
 * (label: the URL's scheme://host[:port]; never the path, token or keys). */
void shard_op_push_list(shard_t *shard, const char *gw, const char *reqid, json_t *req);
/* REQ push_unregister {"user","push_id"}: deletes the target, answers {}; not_found when
 * the user has no such target. */
void shard_op_push_unregister(shard_t *shard, const char *gw, const char *reqid, json_t *req);
/* Stage into batch the deletion of every target of user registered by device (NULL: every
 * target of the user): a device that logs out gets no more notifications. 0 or -1 (read
 * error; batch may hold part of the deletions). */
int shard_push_forget_device(shard_t *shard, shard_batch_t *batch, const char *user,
                             const char *device);
/* FWD push {"user","conv","seq","from","preview","unread","nonce"}: stores a q record per
 * target (the newest notification of conv for it), acks with FWD push_ack to the
 * conversation's shard, then delivers (or holds it for the collapse window). */
void shard_op_push(shard_t *shard, const char *gw, const char *reqid, json_t *req);
/* A message was committed: event is the stored msg JSON, skip "<sender>/<device>",
 * users the conversation's members at that moment. */
void shard_push_committed(shard_t *shard, const char *const *users, size_t n, const char *skip,
                          const char *event);
/* FWD push_ack {"user","conv","nonce"} (on the conversation's shard): the member's shard
 * took the notification; its Q entry goes. */
void shard_op_push_ack(shard_t *shard, const char *gw, const char *reqid, json_t *req);
/* Timer: held notifications whose window ended, the push outbox's resends, targets the
 * pusher found gone (deleted), deliveries that are over (their q record deleted). */
void shard_push_tick(shard_push_t *self);

/* The first max_cp code points of the UTF-8 text (len bytes): their byte length. */
size_t shard_push_preview_len(const char *text, size_t len, size_t max_cp);

#endif
