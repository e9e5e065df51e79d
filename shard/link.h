/* link — the shard's connection to the router: one DEALER socket in one pl_loop, a CURVE
 * client whose key makes the router know it as `s/<id>` (docs/internals.md "Security
 * between roles"). Each wake drains up to SHARD_DRAIN_MAX messages without blocking,
 * hands each to shard_handle(), then calls shard_flush() (the group commit), then sends
 * the REP/EVT messages the turn staged: one frame per gateway, a BATCH when there are
 * several (pl_msg.h; a lone one plain), so answers still leave only after the commit is
 * durable. A 500 ms timer sends the heartbeat and runs shard_tick() (its REP/EVT batched
 * the same way). The router sends ["HB"] every 500 ms;
 * after PL_ROUTER_SILENT_MS (pl_liveness.h) without any message from it the socket is replaced by a
 * new connection that says HELLO (every tick until the router answers), so the router sends to it
 * and replays the gateways.
 *
 * Thread: runs on the calling thread until *stop becomes non-zero (set it from a signal
 * handler) or the loop fails. */
#ifndef SHARD_LINK_H
#define SHARD_LINK_H
#include <signal.h>

#include "shard.h"

#define SHARD_DRAIN_MAX 256
#define SHARD_HB_MS 500

/* Connect to the router endpoint as a CURVE client with cert (borrowed; must outlive the
 * call) of the router's public key server_key (Z85) and serve until stopped. Sets and
 * clears the shard's sender. Returns 0 when stopped, -1 when the socket could not be set
 * up (logged). */
int shard_link_run(shard_t *shard, const char *endpoint, zcert_t *cert, const char *server_key,
                   volatile sig_atomic_t *stop);

#endif
