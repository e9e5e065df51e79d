/* loc — the location table: which gateways hold an authenticated socket of which users
 * (docs/internals.md "Where devices are"). In memory only.
 *
 * Per gateway identity: the epoch of its process, the last locseq applied, its set of
 * users, the time of its last heartbeat. Per user: the set of gateways holding it.
 * A LOC with a gap in locseq, an unknown epoch (gateway restart) or from a gateway this
 * shard does not know (its own restart) makes the shard ask for a snapshot (`SNAP`); the
 * `full` answer replaces the gateway's set. A gateway without GWHB for gw_timeout_ms is
 * dropped with its users.
 *
 * Thread: the shard's loop thread. Owned by shard_t. */
#ifndef SHARD_LOC_H
#define SHARD_LOC_H
#include <jansson.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "shard.h"

shard_loc_t *shard_loc_new(shard_t *shard);
void shard_loc_destroy(shard_loc_t **self_p);

/* ["LOC", gw, epoch, locseq, payload]: payload {"add":[..],"del":[..]} or {"full":[..]}.
 * payload stays the caller's. now is pl_mono_ms(). */
void shard_loc_on_loc(shard_loc_t *self, const char *gw, const char *epoch, uint64_t locseq,
                      json_t *payload, int64_t now);
/* ["GWHB", gw, epoch, locseq]. */
void shard_loc_on_gwhb(shard_loc_t *self, const char *gw, const char *epoch, uint64_t locseq,
                       int64_t now);
/* Drop gateways silent for longer than the shard's gw_timeout_ms; re-ask snapshots that
 * went unanswered. */
void shard_loc_tick(shard_loc_t *self, int64_t now);

/* Push event (JSON text) to the n users: one EVT per gateway holding any of them, `to`
 * being those of the users on that gateway, `skip` as given ("" for none). Returns how
 * many of the users are held by some gateway (shard_loc_present): n when all are. */
size_t shard_loc_push(shard_loc_t *self, const char *const *users, size_t n, const char *skip,
                      const char *event);

/* Send EVT[to=[user], skip "", event] to every gateway this shard knows (heard a GWHB or
 * LOC from and not dropped), whoever it holds: for control events that must not depend
 * on the location table being complete (a revoked token, internals.md "Logout"). */
void shard_loc_push_all(shard_loc_t *self, const char *user, const char *event);

/* True when some gateway holds an authenticated socket of user (push: skip it). */
bool shard_loc_present(shard_loc_t *self, const char *user);

/* Introspection (tests, logs). */
size_t shard_loc_gateways(shard_loc_t *self);
bool shard_loc_has(shard_loc_t *self, const char *gw, const char *user);

#endif
