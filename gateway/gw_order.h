/* gw_order — requests of one socket into one conversation go in order (order.c). Loop thread only
 * unless a comment says otherwise. */
#ifndef GW_ORDER_H
#define GW_ORDER_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

typedef struct gw_session gw_session_t;
typedef struct gw_order_ticket gw_order_ticket_t;

/* Called when a waiting request's turn has come (its ticket is gone by then): send it to
 * the conversation's shard, or drop it if the socket closed meanwhile. */
typedef void(gw_order_go_fn)(void *arg);
/* True when no request of s into conv is waiting to go: one that needs no pre-check may be
 * sent at once. */
bool gw_order_idle(gw_session_t *s, const char *conv);
/* Queue a request of s into conv behind the earlier waiting ones. The request must hold a
 * reference on s until its ticket is ready or cancelled. go(arg) is called exactly once,
 * after gw_order_ready, when every earlier ticket of s into conv went or was cancelled (maybe
 * from inside gw_order_ready / gw_order_cancel of another ticket). NULL on OOM. */
gw_order_ticket_t *gw_order_wait(gw_session_t *s, const char *conv, gw_order_go_fn *go, void *arg);
/* The request's pre-checks passed: it goes in its turn (maybe now). Takes the ticket and
 * nulls *t_p; no-op on NULL. */
void gw_order_ready(gw_order_ticket_t **t_p);
/* The request will not go (a failed pre-check): later ones need not wait for it. go is
 * never called for it. Nulls *t_p; no-op on NULL. */
void gw_order_cancel(gw_order_ticket_t **t_p);
/* From the session's free: drop what is left (nothing, by the reference rule above) without
 * calling go; returns the number of tickets dropped. */
int gw_order_session_free(gw_session_t *s);

#endif
