/* gw_types — the client request types, built from gw_types.def (Redis's command table is
 * the model: one table of name, handler, flags that dispatch and checks are built from;
 * docs/internals.md "The op table"). requests.c looks a frame's type up here and calls
 * the row's handler; budget.c, validate.c and the handlers read the row instead of
 * comparing names. Pure data and lookups (types.c); any thread. */
#ifndef GW_TYPES_H
#define GW_TYPES_H

#include <stddef.h>
#include <stdint.h>

#include "pl_ops.h" /* pl_op_t */

typedef struct gw_session gw_session_t;
typedef struct gw_pending gw_pending_t;
typedef struct gw_frame_head gw_frame_head_t;

/* Row flags (gw_types.def explains each). */
#define GW_TF_FIRST 0x01    /* the auth frame: allowed first, refused after */
#define GW_TF_MEMBERS 0x02  /* the handler reads the parsed members: no jansson object */
#define GW_TF_CONV 0x04     /* a conversation request: c:<conv>, in the socket's order */
#define GW_TF_LIMIT_OK 0x08 /* over the rate: ok and dropped, not rate_limited */

/* The worst case of a row's answer (budget.c). */
typedef enum {
    GW_TB_SMALL, /* 64 KiB */
    GW_TB_PAGE,  /* `limit` stored messages (page: the default), 9 MiB at most */
    GW_TB_CONVS, /* 4 MiB */
} gw_tbudget_t;

/* An op of pl_ops.def as a bit of a row's `also` mask. */
#define GW_OPM(ID) (UINT64_C(1) << PL_OP_##ID)

/* Type ids: the gateway's own numbering (on no wire). 0 is no type. */
typedef enum {
    GW_TYPE_NONE = 0,
#define GW_TYPE(ID, name, handler, flags, budget, page, op, also) GW_TYPE_##ID,
#include "gw_types.def"
#undef GW_TYPE
    GW_TYPE__COUNT
} gw_type_t;

/* A row of the table. */
typedef struct gw_type_def {
    gw_type_t id;
    const char *name; /* the frame's "type", name_len bytes */
    size_t name_len;
    const char *handler; /* its handler's name (tests, logs) */
    unsigned flags;      /* GW_TF_* */
    gw_tbudget_t budget;
    unsigned page; /* GW_TB_PAGE: the default `limit`; else 0 */
    pl_op_t op;    /* the op whose answer is the client's; PL_OP_NONE: answered locally */
    uint64_t also; /* the other ops it may send: bit PL_OP_x set (GW_OPM) */
} gw_type_def_t;

/* The row whose name is the n bytes at name (no NUL needed), or NULL: unknown, a prefix or
 * an extension of a name, any byte more or less. Cost: a length and first-byte test per row
 * (15 rows), and one memcmp (two at most) for a known name. */
const gw_type_def_t *gw_type_find(const char *name, size_t n);
/* The row of id, or NULL for GW_TYPE_NONE and ids out of range. */
const gw_type_def_t *gw_type_def(unsigned id);

/* A row's handler: answer the request of s in p (id_json: its id as JSON text, borrowed
 * for the call; t: its row). h is the parsed frame, borrowed for the call; h->req is its
 * jansson object, built before the call for every row without GW_TF_MEMBERS (non-NULL
 * then), and NULL for a MEMBERS row unless the frame was too large to keep flat. The
 * handler answers p exactly once, now or later (gw_session_answer / gw_req_*). Loop
 * thread only. */
typedef void gw_type_fn(gw_session_t *s, gw_pending_t *p, const char *id_json,
                        const gw_type_def_t *t, gw_frame_head_t *h);

#endif
