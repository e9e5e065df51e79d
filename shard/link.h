/* link — the shard's connection to the router: one DEALER socket (identity `s/<id>`)
 * in one zloop. Each wake drains up to SHARD_DRAIN_MAX messages without blocking, hands
 * each to shard_handle(), then calls shard_flush() (the group commit). A 500 ms timer
 * sends the heartbeat and runs shard_tick().
 *
 * Thread: runs on the calling thread until *stop becomes non-zero (set it from a signal
 * handler) or the loop fails. */
#ifndef SHARD_LINK_H
#define SHARD_LINK_H
#include <signal.h>

#include "shard.h"

#define SHARD_DRAIN_MAX 256
#define SHARD_HB_MS 500

/* Connect to the router endpoint and serve until stopped. Sets and clears the shard's
 * sender. Returns 0 when stopped, -1 when the socket could not be set up (logged). */
int shard_link_run(shard_t *shard, const char *endpoint, volatile sig_atomic_t *stop);

#endif
