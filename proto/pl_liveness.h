/* pl_liveness — "is the router still there?" for the peers' DEALER links (gateway/zlink.c,
 * shard/link.c; docs/internals.md "Heartbeats both ways"). The router sends HB every
 * 500 ms; a peer that hears nothing for PL_ROUTER_SILENT_MS replaces its socket by a new
 * connection (a dead or half-open one, or no longer the one the router sends to).
 * A plain value type; the thread of the link that owns it. */
#ifndef PL_LIVENESS_H
#define PL_LIVENESS_H
#include <stdbool.h>
#include <stdint.h>

/* ms without any message from the router before a peer reconnects (3 missed HBs). */
#define PL_ROUTER_SILENT_MS 1500

typedef struct {
    int64_t last_rx;    /* pl_mono_ms of the last message from the router */
    bool silent_logged; /* the warning for this silence was logged */
} pl_liveness_t;

/* Start counting at now (a new link). */
void pl_liveness_start(pl_liveness_t *l, int64_t now);
/* A message from the router arrived at now (logs once when a silence ends). */
void pl_liveness_heard(pl_liveness_t *l, int64_t now);
/* From the link's periodic timer: input_waiting when messages wait unread (a busy loop,
 * not a silent router: counts as heard). True when the router has been silent for more
 * than PL_ROUTER_SILENT_MS: the caller replaces its socket; the count restarts at now
 * and the silence is logged (a warning the first time, then at debug). */
bool pl_liveness_silent(pl_liveness_t *l, int64_t now, bool input_waiting);

#endif
