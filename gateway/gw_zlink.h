/* gw_zlink — the gateway's ZeroMQ DEALER link to the router (zlink.c; docs/internals.md
 * "The binary protocol", "Module map").
 *
 * Owns the socket, the heartbeat clock, reconnects, the slot table from TABLE, and every
 * request in flight to the router with its deadline. Calls nothing of the gateway but the
 * handlers it is given (EVT, SNAP) and the callbacks of requests: it sits at the bottom of
 * the gateway's module graph. Loop thread only. */
#ifndef GW_ZLINK_H
#define GW_ZLINK_H

#include <uv.h>
#include <czmq.h>
#include <stdbool.h>
#include <stddef.h>

#include "pl_hash.h" /* pl_slots_t */
#include "pl_msg.h"  /* pl_slice_t */
#include "pl_ops.h"  /* pl_op_t */

typedef struct gw gw_t;
typedef struct gw_zlink gw_zlink_t;

/* Answer to a REQ or HEALTH. Called exactly once per request, on the loop thread, never
 * from inside gw_zlink_request / gw_zlink_request_shard / gw_zlink_health (always on a later
 * callback of the loop, or from gw_zlink_stop / gw_zlink_destroy). status is "ok" or an error
 * code ("unavailable" when the send failed, the link is down or stopped, or nothing came
 * back within the deadline); body/len the answer body (not NUL-terminated in general;
 * body[len] is readable and 0). */
typedef void(gw_zlink_cb)(void *arg, const char *status, const char *body, size_t len);

typedef struct {
    /* EVT[to, skip, event]: to the recipients as a pl_list (pl_msg.h), skip NUL-terminated,
     * event the bytes as received (borrowed: valid during the call) */
    void (*on_evt)(gw_t *gw, const void *to, size_t to_len, const char *skip, const char *event,
                   size_t event_len);
    /* SNAP */
    void (*on_snap)(gw_t *gw);
} gw_zlink_handlers_t;

/* Create the DEALER socket (a CURVE client with cert, a copy of which zlink keeps, of
 * the router's public key server_key; the router knows this gateway by the name in
 * cert), connect to endpoint, start the watchers, the heartbeat and the deadline timer
 * on loop. A router silent for PL_ROUTER_SILENT_MS (1.5 s; it sends HB every 500 ms) makes
 * zlink replace the socket by a new connection and ask for a LOC snapshot (on_snap).
 * NULL on failure. */
gw_zlink_t *gw_zlink_new(gw_t *gw, uv_loop_t *loop, const char *endpoint, const char *name,
                         int timeout_ms, gw_zlink_handlers_t handlers, zcert_t *cert,
                         const char *server_key);
/* Answer every outstanding request with "unavailable", stop and uv_close the handles.
 * Call from a loop callback before lws_context_destroy; gw_zlink_destroy after uv_run.
 * Requests made after it are answered "unavailable" once the handles have closed. */
void gw_zlink_stop(gw_zlink_t *self);
void gw_zlink_destroy(gw_zlink_t **self_p);
/* Send REQ{op, reqid}[key, payload] (op from proto/pl_ops.def; payload its JSON body, copied).
 * Cannot fail: cb(arg, ...) is called later exactly once, with the answer or with
 * "unavailable" (send failed, link down or stopped, no answer within --timeout). An answer
 * arriving after that is dropped. arg must stay valid until cb runs. */
void gw_zlink_request(gw_zlink_t *self, pl_op_t op, const char *key, const char *payload,
                      size_t len, gw_zlink_cb *cb, void *arg);
/* The same with a binary body (PL_OPF_BIN ops, pl_msg.h "binary bodies"): fields[0..nfields)
 * in that order, each written as a u32 length and its bytes straight into this turn's
 * batch (no copy of the body is built first). */
void gw_zlink_request_fields(gw_zlink_t *self, pl_op_t op, const char *key,
                             const pl_slice_t *fields, int nfields, gw_zlink_cb *cb, void *arg);
/* The same as REQN{op, shard, reqid}[payload]: to shard number shard, whatever it owns.
 * The shard serves only what its slots hold (a presence_report's users of other shards
 * are ignored there). */
void gw_zlink_request_shard(gw_zlink_t *self, pl_op_t op, int shard, const char *payload,
                            size_t len, gw_zlink_cb *cb, void *arg);
/* Send HEALTH{reqid} with a 1 s deadline; cb gets status "ok" and body "1"/"0" (all shards
 * up or not), or "unavailable" as for gw_zlink_request. */
void gw_zlink_health(gw_zlink_t *self, gw_zlink_cb *cb, void *arg);
/* Send LOC{epoch, ++locseq, FULL if full}[payload]. A failed send still consumes the
 * locseq (shards detect the gap from the next HB and ask for SNAP). */
void gw_zlink_loc(gw_zlink_t *self, bool full, const char *payload, size_t len);
/* Slot table from the last TABLE, or NULL if none yet. Owned by zlink. */
const pl_slots_t *gw_zlink_table(gw_zlink_t *self);

#endif
