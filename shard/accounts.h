/* accounts — the user shard's keys: accounts (`u`), device tokens (`t`) and the
 * conversation index (`x`). Each handler answers at once through shard_reply*; writes
 * are single atomic puts, fsynced with --sync.
 *
 * Thread: the shard's loop thread. */
#ifndef SHARD_ACCOUNTS_H
#define SHARD_ACCOUNTS_H
#include <jansson.h>

#include "shard.h"

/* Request handlers (payload fields per internals.md "Request payloads"); req stays the
 * caller's. */
void shard_op_user_create(shard_t *shard, const char *gw, const char *reqid, json_t *req);
void shard_op_user_get(shard_t *shard, const char *gw, const char *reqid, json_t *req);
void shard_op_user_exists(shard_t *shard, const char *gw, const char *reqid, json_t *req);
void shard_op_token_set(shard_t *shard, const char *gw, const char *reqid, json_t *req);
void shard_op_token_check(shard_t *shard, const char *gw, const char *reqid, json_t *req);
/* token_revoke {"user","device","th","all"?}: when th is the device's current token,
 * delete it (all: every token of the user, one WriteBatch), tell every gateway to close
 * the sockets using the deleted tokens, answer {}. Otherwise unauthenticated, nothing
 * changes. token_set likewise tells the gateways about the token it replaces. */
void shard_op_token_revoke(shard_t *shard, const char *gw, const char *reqid, json_t *req);
/* conv_list {"user","limit"?,"after"?}: the user's index entries in byte order of the
 * conv ids, at most limit (1..SHARD_CONVS_MAX, default the max) strictly after `after`;
 * {"convs":[{"conv","kind"}],"more":bool}. */
#define SHARD_CONVS_MAX 1000
void shard_op_conv_list(shard_t *shard, const char *gw, const char *reqid, json_t *req);

/* FWD idx_add {"op":"idx_add","user","conv","kind","from"}: put the index entry, then
 * answer ["FWD", from, {"op":"idx_ack","user","conv"}]. Malformed input is logged and
 * dropped. */
void shard_op_idx_add(shard_t *shard, const char *gw, const char *reqid, json_t *req);
/* FWD idx_del {"op":"idx_del","user","conv","kind","from","nonce"}: delete the index entry
 * (idempotent), then acknowledge like idx_add. The ack echoes `nonce` when present. */
void shard_op_idx_del(shard_t *shard, const char *gw, const char *reqid, json_t *req);
/* FWD idx_ack {"op":"idx_ack","user","conv","nonce"}: the outbox entry is done. */
void shard_op_idx_ack(shard_t *shard, const char *gw, const char *reqid, json_t *req);

#endif
