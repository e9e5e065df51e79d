/* gw_req — the one request-in-flight type of the gateway: a client's request on a
 * WebSocket session, from the moment it needs shards until its answer is in the session's
 * FIFO (req.c; docs/internals.md "Module map").
 *
 * Every module that answers a client request through the router (requests.c, groups.c,
 * convs.c, gather.c, presence.c, push.c) uses this type; none keeps its own copy of
 * session/pending/id/key/payload.
 *
 * Ownership and lifetime: the module handling the request creates it (gw_req_new) and owns
 * it. While a router request is out, the zlink callback's arg is the request and that
 * callback owns it; while it waits for its turn in order.c, the ticket's go function owns
 * it (the ticket belongs to the request and is cancelled when the request ends). One
 * module may hand it on to another (convs.c to gather.c): the receiver owns it then.
 * It ends exactly once, in gw_req_finish / gw_req_answer (the answer goes into the
 * session's FIFO, then it is freed) or gw_req_destroy (nothing to answer, e.g. the socket
 * closed). It holds one reference on its session, so the session outlives it; after the
 * socket closed an answer is dropped by gw_session_answer. Module state beyond the common
 * fields hangs off ctx and is freed by ctx_free. Loop thread only. */
#ifndef GW_REQ_H
#define GW_REQ_H

#include <stdbool.h>
#include <stddef.h>

#include "pl_ops.h" /* pl_op_t */

typedef struct gw_session gw_session_t;
typedef struct gw_pending gw_pending_t;
typedef struct gw_blob gw_blob_t;
typedef struct gw_order_ticket gw_order_ticket_t;

typedef struct gw_req {
    gw_session_t *s;   /* one reference */
    gw_pending_t *p;   /* its place in s's answer FIFO */
    char *id_json;     /* the client's "id" as JSON text (copied), or NULL: id_small or malloc'd */
    char id_small[40]; /* a short id is kept here (no strdup per request) */
    /* what goes to a shard (gw_req_send): op, routing key, body (owned) */
    pl_op_t op;
    char key[96];
    char *payload;
    size_t payload_len;
    /* its turn among the socket's requests into one conversation (order.c), or NULL */
    gw_order_ticket_t *ticket;
    /* the owning module's own state, freed with ctx_free (NULL: nothing to free) */
    void *ctx;
    void (*ctx_free)(void *ctx);
} gw_req_t;

typedef struct gw gw_t;

/* Free the request structs kept for reuse (req.c: up to 512). At exit, once no request
 * is left. */
void gw_req_pool_free(void);
/* A request of s answered into p (id_json copied; may be NULL). Takes a reference on s.
 * NULL when out of memory (the caller answers p itself). */
gw_req_t *gw_req_new(gw_session_t *s, gw_pending_t *p, const char *id_json);
/* The same with ctx_size zeroed bytes of module state in ctx (freed with the request;
 * ctx_free, if given, runs first on it). NULL when out of memory. */
gw_req_t *gw_req_new_ctx(gw_session_t *s, gw_pending_t *p, const char *id_json, size_t ctx_size,
                         void (*ctx_free)(void *ctx));
/* End it without an answer: cancel its ticket, free ctx and payload, drop the session
 * reference; nulls *r_p. Idempotent. */
void gw_req_destroy(gw_req_t **r_p);
/* Answer it from a router status and body (ok: the body's members spliced into
 * {"type":"ok","id":..}; else {"type":"error","code":status,"message":body}), then end it. */
void gw_req_finish(gw_req_t *r, const char *status, const char *body, size_t len);
/* Answer it with frame (taken; NULL = internal error), then end it. */
void gw_req_answer(gw_req_t *r, gw_blob_t *frame);
/* Answer it with an error code and a NUL-terminated message, then end it. */
void gw_req_error(gw_req_t *r, const char *code, const char *msg);
/* Send r->payload to r->key's shard as r->op; the answer (or "unavailable") finishes r
 * (gw_req_finish) on a later loop turn. r is zlink's callback's from here on. */
void gw_req_send(gw_req_t *r);
/* A gw_zlink_cb whose arg is a gw_req_t: gw_req_finish. */
void gw_req_on_answer(void *arg, const char *status, const char *body, size_t len);

#endif
