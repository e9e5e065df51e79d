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

struct gw_order_ticket {
    gw_order_ticket_t *next;
    gw_order_gate_t *gate;
    bool ready;
    gw_order_go_fn *go;
    void *arg;
};

struct gw_order_gate {
    gw_order_gate_t *next; /* the session's other gates */
    gw_session_t *s;       /* borrowed: the tickets' requests hold references */
    gw_order_ticket_t *head, *tail;
    bool draining;
    char *conv;
};

static gw_order_gate_t *s_find(gw_session_t *s, const char *conv)
{
    for (gw_order_gate_t *g = s->gates; g; g = g->next)
        if (strcmp(g->conv, conv) == 0)
            return g;
    return NULL;
}

static void s_gate_free(gw_order_gate_t *g)
{
    gw_order_gate_t **pp = &g->s->gates;
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
static void s_drain(gw_order_gate_t *g)
{
    if (g->draining)
        return;
    gw_session_t *s = gw_session_ref(g->s); /* a go may drop its request's last reference */
    g->draining = true;
    while (g->head && g->head->ready) {
        gw_order_ticket_t *t = g->head;
        g->head = t->next;
        if (!g->head)
            g->tail = NULL;
        gw_order_go_fn *go = t->go;
        void *arg = t->arg;
        free(t);
        go(arg);
    }
    g->draining = false;
    if (!g->head)
        s_gate_free(g);
    gw_session_unref(&s);
}

bool gw_order_idle(gw_session_t *s, const char *conv)
{
    return s_find(s, conv) == NULL;
}

gw_order_ticket_t *gw_order_wait(gw_session_t *s, const char *conv, gw_order_go_fn *go, void *arg)
{
    gw_order_ticket_t *t = calloc(1, sizeof *t);
    if (!t)
        return NULL;
    gw_order_gate_t *g = s_find(s, conv);
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

void gw_order_ready(gw_order_ticket_t **t_p)
{
    gw_order_ticket_t *t = *t_p;
    if (!t)
        return;
    *t_p = NULL;
    t->ready = true;
    s_drain(t->gate);
}

void gw_order_cancel(gw_order_ticket_t **t_p)
{
    gw_order_ticket_t *t = *t_p;
    if (!t)
        return;
    *t_p = NULL;
    gw_order_gate_t *g = t->gate;
    gw_order_ticket_t **pp = &g->head, *prev = NULL;
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

int gw_order_session_free(gw_session_t *s)
{
    int dropped = 0;
    while (s->gates) {
        gw_order_gate_t *g = s->gates;
        s->gates = g->next;
        while (g->head) {
            gw_order_ticket_t *t = g->head;
            g->head = t->next;
            free(t);
            dropped++;
        }
        free(g->conv);
        free(g);
    }
    return dropped;
}
