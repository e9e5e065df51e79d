/* pl_turn — per-loop-turn timing for finding stalls (docs/benchmarks.md "Stalls").
 *
 * Off unless the environment sets PARLEY_TURN_LOG_MS=N (N > 0): then every loop turn
 * that took N ms or more is logged at WARN as
 *   "slow turn 12.3 ms: zmq 340 (3.1 ms), flush 1 (8.2 ms), ws_rx 12"
 * naming what ran in it, and every 10 s an INFO line gives the number of turns, the
 * longest turn and how many were slow. When off every call is one branch.
 *
 * A turn is what a role calls it: for the pl_loop roles (router, shard) one handler run, from
 * pl_turn_begin to pl_turn_end; for the gateway (libuv) the time between two uv_prepare
 * callbacks minus the time the loop slept (uv_metrics_idle_time), handed to
 * pl_turn_end_busy. Single-threaded: call only from the process's event-loop thread. */
#ifndef PL_TURN_H
#define PL_TURN_H

#include <stdbool.h>
#include <stdint.h>

/* Read PARLEY_TURN_LOG_MS; call once from main after pl_log_init. */
void pl_turn_init(void);

/* True when turn logging is on (the gateway configures its loop's idle-time metric). */
bool pl_turn_enabled(void);

/* A turn starts now. */
void pl_turn_begin(void);

/* `what` (a string literal: the pointer is kept) ran n times, taking the time since the
 * previous pl_turn_note or pl_turn_begin. */
void pl_turn_note(const char *what, long n);

/* Like pl_turn_note but counts only (no time is attributed). */
void pl_turn_count(const char *what, long n);

/* The turn ends now: logged when it took at least the threshold. */
void pl_turn_end(void);

/* The turn ends, having been busy busy_us µs (measured by the caller). */
void pl_turn_end_busy(int64_t busy_us);

#endif
