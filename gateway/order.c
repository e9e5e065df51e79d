/* order — per-(socket, conversation) dispatch order (PROTOCOL.md §3 "Messages, ordering
 * and delivery": sends of one socket into one conversation get increasing seqs in the
 * order they were sent; docs/internals.md "Request order per socket and conversation").
 *
 * Once the gateway hands requests to zlink they reach the conversation's shard in that
 * order (ZeroMQ keeps order per pipe, the router relays in order, the shard's loop stages
 * them in arrival order). What could reorder them is the gateway itself: a request that
 * first needs a pre-check (user_exists for a dm's other user or a group_add's target)
 * would be overtaken by a later request of the same socket into the same conversation
 * that needs none (the user cached meanwhile by any socket, a group_remove, ...). So such
 * a request takes a ticket in its socket's gate for the conversation, and a ticket goes
 * only once it is ready and every earlier ticket of that gate went or was cancelled.
 * A request that needs no pre-check while its gate is empty goes at once, ticketless.
 *
 * Invariant: every ticket belongs to a request that holds a reference on the session, so
 * a session with gates is alive; a gate is freed as soon as it holds no ticket. */
#include "gw.h"
#include "gw_order.h"
#include "gw_ws.h"

struct order_ticket {
    order_ticket_t *next;
    order_gate_t *gate;
    bool ready;
    order_go_fn *go;
    void *arg;
};

struct order_gate {
    order_gate_t *next; /* the session's other gates */
    session_t *s;       /* borrowed: the tickets' requests hold references */
    order_ticket_t *head, *tail;
    bool draining;
    char *conv;
};

static order_gate_t *s_find(session_t *s, const char *conv)
{
    for (order_gate_t *g = s->gates; g; g = g->next)
        if (strcmp(g->conv, conv) == 0)
            return g;
    return NULL;
}

static void s_gate_free(order_gate_t *g)
{
    order_gate_t **pp = &g->s->gates;
    while (*pp && *pp != g)
        pp = &(*pp)->next;
    if (*pp)
        *pp = g->next;
    free(g->conv);
    free(g);
}

/* Let every ready ticket at the head go, in order; free the gate once it is empty. Not
 * re-entered for one gate: a nested call (from a go callback) leaves the work to the
 * outer loop. */
static void s_drain(order_gate_t *g)
{
    if (g->draining)
        return;
    session_t *s = session_ref(g->s); /* a go may drop its request's last reference */
    g->draining = true;
    while (g->head && g->head->ready) {
        order_ticket_t *t = g->head;
        g->head = t->next;
        if (!g->head)
            g->tail = NULL;
        order_go_fn *go = t->go;
        void *arg = t->arg;
        free(t);
        go(arg);
    }
    g->draining = false;
    if (!g->head)
        s_gate_free(g);
    session_unref(&s);
}

bool order_idle(session_t *s, const char *conv)
{
    return s_find(s, conv) == NULL;
}

order_ticket_t *order_wait(session_t *s, const char *conv, order_go_fn *go, void *arg)
{
    order_ticket_t *t = calloc(1, sizeof *t);
    if (!t)
        return NULL;
    order_gate_t *g = s_find(s, conv);
    if (!g) {
        g = calloc(1, sizeof *g);
        if (!g || !(g->conv = strdup(conv))) {
            free(g);
            free(t);
            return NULL;
        }
        g->s = s;
        g->next = s->gates;
        s->gates = g;
    }
    t->gate = g;
    t->go = go;
    t->arg = arg;
    if (g->tail)
        g->tail->next = t;
    else
        g->head = t;
    g->tail = t;
    return t;
}

void order_ready(order_ticket_t **t_p)
{
    order_ticket_t *t = *t_p;
    if (!t)
        return;
    *t_p = NULL;
    t->ready = true;
    s_drain(t->gate);
}

void order_cancel(order_ticket_t **t_p)
{
    order_ticket_t *t = *t_p;
    if (!t)
        return;
    *t_p = NULL;
    order_gate_t *g = t->gate;
    order_ticket_t **pp = &g->head, *prev = NULL;
    while (*pp && *pp != t) {
        prev = *pp;
        pp = &(*pp)->next;
    }
    if (*pp) {
        *pp = t->next;
        if (g->tail == t)
            g->tail = prev;
    }
    free(t);
    s_drain(g);
}

int order_session_free(session_t *s)
{
    int dropped = 0;
    while (s->gates) {
        order_gate_t *g = s->gates;
        s->gates = g->next;
        while (g->head) {
            order_ticket_t *t = g->head;
            g->head = t->next;
            free(t);
            dropped++;
        }
        free(g->conv);
        free(g);
    }
    return dropped;
}
