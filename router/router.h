/* router — the parley-router role (docs/internals.md "Messages"): two ROUTER sockets,
 * "front" for gateways and "back" for shards, the slot table from the command line, and
 * which peers are alive. Holds no durable state.
 *
 * Thread: every function here runs on the one thread that runs the router's loop
 * (pl_loop.h). */
#ifndef PL_ROUTER_H
#define PL_ROUTER_H
#include <czmq.h>
#include <stdbool.h>

#include "pl_loop.h"
#include <stdint.h>

/* A shard with no HB for this long counts as down (internals.md). */
#define ROUTER_SHARD_DEAD_MS 3000
/* A shard HB this long after the previous one (two missed) may come from a restarted
 * process: the router replays the known gateways to it (see peers.c). */
#define ROUTER_SHARD_GAP_MS 1000
/* A gateway with no HB for this long is logged as down and forgotten (it sends one a
 * second; relaying to it is still attempted, ROUTER_MANDATORY tells if it is gone). */
#define ROUTER_GW_DEAD_MS 3000
/* The router sends ["HB"] to every live gateway and shard this often; they reconnect
 * after ROUTER_SILENT_MS without any message from the router (internals.md). */
#define ROUTER_PING_MS 500
#define ROUTER_SILENT_MS 1500
/* ZMTP heartbeats on both ROUTER sockets: a connection whose peer answers no PING for
 * ROUTER_ZMTP_TIMEOUT_MS is closed (a dead pipe does not linger). Longer than the peers'
 * own 1.5 s: a peer that is merely busy (its process starved) must not lose its
 * connection and the messages queued in it; the peers reconnect on their own first. */
#define ROUTER_ZMTP_IVL_MS 1000
#define ROUTER_ZMTP_TIMEOUT_MS 5000

typedef struct _router_t router_t;

/* Bind front (gateways) and back (shards) as CURVE servers with cert (the router's key
 * pair; borrowed, only read here) and start the ZAP handler that admits the keys in the
 * folder allow_dir (zap.c), and build the even slot table for nshards shards (version 1).
 * dead_ms: shard/gateway liveness timeout (0 = the defaults above; tests pass less).
 * Returns NULL (after logging why) on a bad argument, a missing key or folder, a failed
 * bind, or when another router of this process holds the ZAP endpoint.
 * Caller owns; free with router_destroy. */
router_t *router_new(const char *front, const char *back, int nshards, int dead_ms, zcert_t *cert,
                     const char *allow_dir);
/* The router's public key (Z85). Owned by the router. */
const char *router_public_key(router_t *self);
/* Close both sockets and free everything. Idempotent; nulls *self_p. */
void router_destroy(router_t **self_p);
/* Register the socket readers (front, back, ZAP, the monitors) and the 250 ms liveness
 * tick on loop. Returns 0 or -1. The router must outlive the loop's use of it. */
int router_attach(router_t *self, pl_loop_t *loop);
/* The endpoints actually bound (resolves "tcp://127.0.0.1:*"). Owned by the router. */
const char *router_front_endpoint(router_t *self);
const char *router_back_endpoint(router_t *self);

/* Self test (router_test.c): runs a router in a thread and talks to it through fake
 * gateway and shard DEALERs. Returns 0 when every check passed. */
int router_test(bool verbose);

#endif
