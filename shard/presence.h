/* presence — who is online, on the user's shard (docs/internals.md "Presence").
 *
 * Gateways decide liveness and report, batched once a second per shard, which of their
 * users became live or stopped being live (`presence_report`). Per user this module keeps
 * the set of gateways where the user is live (memory only) and `last_seen` (key
 * `p<user>` → be64 wall-clock ms, written when the user goes offline or comes online). A
 * user is online while the set is non-empty. The location table tells this module when a
 * gateway is gone (silent for --gw-timeout, or a new epoch): its users leave.
 *
 * Changes are pushed as {"type":"presence","user","online","last_seen"} to the online
 * contacts (DM partners and group co-members, read from the user's `x` index entries),
 * one EVT per gateway. Going offline is announced 2-3 s late unless the user is back by
 * then (flap coalescing, see SHARD_PRESENCE_FLAP_MS); going online at once.
 *
 * Thread: the shard's loop thread. Owned by shard_t. */
#ifndef SHARD_PRESENCE_H
#define SHARD_PRESENCE_H
#include <jansson.h>
#include <stdint.h>

#include "shard.h"

/* A reconnect within FLAP ms of going offline shows no blip. Gateways report once a
 * second, so an offline the gateway saw at time T (the third element of an `offline`
 * entry) is announced at T + FLAP + REPORT (at least REPORT ms after it arrives); one
 * without that time (a full report, a lost gateway) FLAP ms after it arrives. */
#define SHARD_PRESENCE_FLAP_MS 2000
#define SHARD_PRESENCE_REPORT_MS 1000

shard_presence_t *shard_presence_new(shard_t *shard);
/* Stores now as last_seen of every user still online (a clean stop), then frees.
 * Idempotent; nulls *self_p. */
void shard_presence_destroy(shard_presence_t **self_p);

/* REQ presence_report {"online":[users],"offline":[[user,last_seen,gone]...],"full":[..]?} from
 * gateway gw: offline first, then online; "full" (when present) is every user live at gw
 * among this shard's users, so any other user is taken off gw. Answers ok {}. */
void shard_op_presence_report(shard_t *shard, const char *gw, const char *reqid, json_t *req);
/* REQ presence_get {"user":asker,"users":[names]}: answers {"presence":[{"user","online",
 * "last_seen"}]} in request order, leaving out names that share no conversation with the
 * asker (the asker itself is kept) and invalid names. */
void shard_op_presence_get(shard_t *shard, const char *gw, const char *reqid, json_t *req);

/* The location table dropped gateway gw: every user live there leaves it, with
 * last_seen (wall ms) as the time of its last sign of life. */
void shard_presence_gw_gone(shard_presence_t *self, const char *gw, int64_t last_seen);
/* Announce the offlines whose 2 s have passed. now is pl_mono_ms(). */
void shard_presence_tick(shard_presence_t *self, int64_t now);

/* Introspection (tests): 1 online, 0 offline. */
int shard_presence_online(shard_presence_t *self, const char *user);

#endif
