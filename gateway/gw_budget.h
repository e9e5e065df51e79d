/* gw_budget — the gateway memory budget and the per-socket byte budget (budget.c). Loop thread only
 * unless a comment says otherwise. */
#ifndef GW_BUDGET_H
#define GW_BUDGET_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <jansson.h>

typedef struct gw gw_t;
typedef struct gw_blob gw_blob_t;
typedef struct gw_session gw_session_t;
typedef struct gw_pending gw_pending_t;
typedef struct gw_type_def gw_type_def_t;

/* WebSocket established: s joins gw->all. */
void gw_budget_session_add(gw_session_t *s);
/* Closed: s leaves gw->all (its bytes must be released already). Idempotent. */
void gw_budget_session_remove(gw_session_t *s);
/* b joins / leaves the out queue of s: s->obytes and s->mem change by its length; the
 * gateway total only when b enters its first / leaves its last queue (shared events count
 * once). */
void gw_budget_out_add(gw_session_t *s, gw_blob_t *b);
void gw_budget_out_del(gw_session_t *s, gw_blob_t *b);
/* Bytes held by s alone (answers waiting in the FIFO, frames held unread): s->mem and the
 * gateway total += add - sub. */
void gw_budget_held(gw_session_t *s, size_t add, size_t sub);
/* While the total is over --mem-budget, drop the session holding the most (its queues
 * are freed at once). */
void gw_budget_enforce(gw_t *gw);
/* p (a request of s) may produce an answer of up to worst bytes: count it in s->reserved
 * and gw->reserved until gw_budget_release (gw_session_answer). */
void gw_budget_reserve(gw_session_t *s, gw_pending_t *p, size_t worst);
void gw_budget_release(gw_session_t *s, gw_pending_t *p);
/* True while s may dispatch one more request: its bytes under --socket-budget, and, if it
 * has requests in flight already, the gateway's reservations under --mem-budget. */
bool gw_budget_admit(const gw_session_t *s);
/* Worst-case answer size of a request of row t's type (gw_types.def's budget column; NULL:
 * a type no row has, SMALL), req: the parsed frame (read for a PAGE row's limit; may be
 * NULL). */
size_t gw_budget_worst_case(const gw_type_def_t *t, json_t *req);

#endif
