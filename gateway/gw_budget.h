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
typedef struct session session_t;
typedef struct pending pending_t;

/* WebSocket established: s joins gw->all. */
void budget_session_add(session_t *s);
/* Closed: s leaves gw->all (its bytes must be released already). Idempotent. */
void budget_session_remove(session_t *s);
/* b joins / leaves the out queue of s: s->obytes and s->mem change by its length; the
 * gateway total only when b enters its first / leaves its last queue (shared events count
 * once). */
void budget_out_add(session_t *s, gw_blob_t *b);
void budget_out_del(session_t *s, gw_blob_t *b);
/* Bytes held by s alone (answers waiting in the FIFO, frames held unread): s->mem and the
 * gateway total += add - sub. */
void budget_held(session_t *s, size_t add, size_t sub);
/* While the total is over --mem-budget, drop the session holding the most (its queues
 * are freed at once). */
void budget_enforce(gw_t *gw);
/* p (a request of s) may produce an answer of up to worst bytes: count it in s->reserved
 * and gw->reserved until budget_release (session_answer). */
void budget_reserve(session_t *s, pending_t *p, size_t worst);
void budget_release(session_t *s, pending_t *p);
/* True while s may dispatch one more request: its bytes under --socket-budget, and, if it
 * has requests in flight already, the gateway's reservations under --mem-budget. */
bool budget_admit(const session_t *s);
/* Worst-case answer size of a request of this type (req: the parsed frame). */
size_t budget_worst_case(const char *type, json_t *req);

#endif
