/* gw_order — requests of one socket into one conversation go in order (order.c). Loop thread only
 * unless a comment says otherwise. */
#ifndef GW_ORDER_H
#define GW_ORDER_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

typedef struct session session_t;
typedef struct order_ticket order_ticket_t;

/* Called when a waiting request's turn has come (its ticket is gone by then): send it to
 * the conversation's shard, or drop it if the socket closed meanwhile. */
typedef void(order_go_fn)(void *arg);
/* True when no request of s into conv is waiting to go: one that needs no pre-check may be
 * sent at once. */
bool order_idle(session_t *s, const char *conv);
/* Queue a request of s into conv behind the earlier waiting ones. The request must hold a
 * reference on s until its ticket is ready or cancelled. go(arg) is called exactly once,
 * after order_ready, when every earlier ticket of s into conv went or was cancelled (maybe
 * from inside order_ready / order_cancel of another ticket). NULL on OOM. */
order_ticket_t *order_wait(session_t *s, const char *conv, order_go_fn *go, void *arg);
/* The request's pre-checks passed: it goes in its turn (maybe now). Takes the ticket and
 * nulls *t_p; no-op on NULL. */
void order_ready(order_ticket_t **t_p);
/* The request will not go (a failed pre-check): later ones need not wait for it. go is
 * never called for it. Nulls *t_p; no-op on NULL. */
void order_cancel(order_ticket_t **t_p);
/* From the session's free: drop what is left (nothing, by the reference rule above) without
 * calling go; returns the number of tickets dropped. */
int order_session_free(session_t *s);

#endif
