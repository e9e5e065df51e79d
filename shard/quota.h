/* quota — per-user group caps, kept on the user's shard (docs/internals.md "Budgets").
 *
 * Two caps per user: groups created (`C<user>` → be64, persisted, only ever grows: groups
 * are never deleted) and groups the user is a member of (the user's `x<user>\0g:…`
 * index entries, counted once by a prefix scan and then kept in memory in step with
 * idx_add/idx_del). The gateway asks `group_quota` for every user a group_create or
 * group_add would put into a group (and, with `create`, for the creator) before it sends
 * the change to the conversation's shard. An ok answer reserves one membership in memory
 * for GW-timeout-ish 10 s or until the index entry arrives; so concurrent changes see
 * each other. Precision: the index follows membership through the outbox (normally at
 * once), so a user may end up above the member cap by the changes in flight whose
 * reservation expired before their idx_add arrived (a shard or the router down for more
 * than 10 s), and a created-count is consumed by a group_create that passed the quota
 * but then failed on the conversation's shard (unavailable).
 *
 * Thread: the shard's loop thread. Owned by shard_t. */
#ifndef SHARD_QUOTA_H
#define SHARD_QUOTA_H
#include <jansson.h>
#include <stdbool.h>

#include "shard.h"

#define SHARD_QUOTA_CREATED_DEFAULT 1000
#define SHARD_QUOTA_MEMBER_DEFAULT 5000

typedef struct _shard_quota_t shard_quota_t;

/* max_created / max_member: the caps (>= 1). NULL on OOM. */
shard_quota_t *shard_quota_new(shard_t *shard, int max_created, int max_member);
void shard_quota_destroy(shard_quota_t **self_p);

/* REQ group_quota {"user","create":bool,"conv"?}: not_found (no such user), `too_many`
 * (a cap reached), else {} and one membership reserved (and, with create, the created
 * count grown by one, persisted). With `conv` naming a group the user is already indexed
 * in, {} without reserving anything (group_add of a member changes nothing). */
void shard_op_group_quota(shard_t *shard, const char *gw, const char *reqid, json_t *req);

/* The index of user gained (added true) or lost a group entry conv that it did not /
 * did hold: keep the in-memory count in step. Call only for real changes. */
void shard_quota_indexed(shard_quota_t *self, const char *user, const char *conv, bool added);

/* Timers: forget expired reservations; empty the table when it grows too large. */
void shard_quota_tick(shard_quota_t *self, int64_t now);

#endif
