/* order_test — unit test of order.c: tickets of one session into one conversation go in
 * the order they were taken, whatever order they become ready or are cancelled in.
 * The session is a bare gw_session_t; gw_session_ref/gw_session_unref are counted here. */
#include "gw.h"
#include "gw_order.h"
#include "gw_ws.h"

#include <stdio.h>

#include "pl_check.h"

PL_CHECK_COUNTERS;

/* ws.c's reference counting, reduced to a count (the session is never freed here). */
gw_session_t *gw_session_ref(gw_session_t *s)
{
    if (s)
        s->refs++;
    return s;
}

void gw_session_unref(gw_session_t **s_p)
{
    if (s_p && *s_p) {
        (*s_p)->refs--;
        *s_p = NULL;
    }
}

/* What went, in order. */
static char went[64];
static size_t nwent;

typedef struct req {
    char name;
    gw_order_ticket_t *ticket;
    /* done in go: ready / cancel another request's ticket (nesting) */
    struct req *ready_next, *cancel_next;
} req_t;

static void s_go(void *arg)
{
    req_t *r = arg;
    CHECK(r->ticket == NULL); /* taken by gw_order_ready */
    went[nwent++] = r->name;
    went[nwent] = 0;
    if (r->ready_next)
        gw_order_ready(&r->ready_next->ticket);
    if (r->cancel_next)
        gw_order_cancel(&r->cancel_next->ticket);
}

static void s_reset(void)
{
    nwent = 0;
    went[0] = 0;
}

static void s_take(gw_session_t *s, req_t *r, char name, const char *conv)
{
    memset(r, 0, sizeof *r);
    r->name = name;
    r->ticket = gw_order_wait(s, conv, s_go, r);
    CHECK(r->ticket != NULL);
}

int main(void)
{
    gw_session_t s;
    memset(&s, 0, sizeof s);
    s.refs = 1;
    req_t a, b, c, d;

    /* an empty gate: idle */
    CHECK(gw_order_idle(&s, "dm:a:b"));

    /* ready out of order: each goes only after the earlier ones */
    s_reset();
    s_take(&s, &a, 'a', "dm:a:b");
    s_take(&s, &b, 'b', "dm:a:b");
    s_take(&s, &c, 'c', "dm:a:b");
    CHECK(!gw_order_idle(&s, "dm:a:b"));
    CHECK(gw_order_idle(&s, "dm:a:c")); /* another conversation does not wait */
    gw_order_ready(&c.ticket);
    gw_order_ready(&b.ticket);
    CHECK(nwent == 0);
    gw_order_ready(&a.ticket);
    CHECK(strcmp(went, "abc") == 0);
    CHECK(gw_order_idle(&s, "dm:a:b")); /* the gate is gone once empty */
    CHECK(s.gates == NULL);

    /* a cancelled head lets the ready ones behind it go; a cancelled middle is skipped */
    s_reset();
    s_take(&s, &a, 'a', "g:x");
    s_take(&s, &b, 'b', "g:x");
    s_take(&s, &c, 'c', "g:x");
    s_take(&s, &d, 'd', "g:x");
    gw_order_ready(&b.ticket);
    gw_order_cancel(&c.ticket);
    CHECK(c.ticket == NULL);
    gw_order_ready(&d.ticket);
    CHECK(nwent == 0);
    gw_order_cancel(&a.ticket);
    CHECK(strcmp(went, "bd") == 0);
    CHECK(s.gates == NULL);

    /* cancelling the tail, then taking another: the tail pointer stays right */
    s_reset();
    s_take(&s, &a, 'a', "g:x");
    s_take(&s, &b, 'b', "g:x");
    gw_order_cancel(&b.ticket);
    s_take(&s, &c, 'c', "g:x");
    gw_order_ready(&c.ticket);
    CHECK(nwent == 0);
    gw_order_ready(&a.ticket);
    CHECK(strcmp(went, "ac") == 0);
    CHECK(s.gates == NULL);

    /* two conversations are independent */
    s_reset();
    s_take(&s, &a, 'a', "g:x");
    s_take(&s, &b, 'b', "g:y");
    gw_order_ready(&b.ticket);
    CHECK(strcmp(went, "b") == 0);
    CHECK(gw_order_idle(&s, "g:y") && !gw_order_idle(&s, "g:x"));
    gw_order_ready(&a.ticket);
    CHECK(strcmp(went, "ba") == 0);
    CHECK(s.gates == NULL);

    /* nesting: a go that readies the next waiting ticket or cancels one */
    s_reset();
    s_take(&s, &a, 'a', "g:x");
    s_take(&s, &b, 'b', "g:x");
    s_take(&s, &c, 'c', "g:x");
    s_take(&s, &d, 'd', "g:x");
    a.ready_next = &b;
    b.cancel_next = &c;
    gw_order_ready(&d.ticket);
    gw_order_ready(&a.ticket);
    CHECK(strcmp(went, "abd") == 0);
    CHECK(s.gates == NULL);

    /* NULL tickets are no-ops; the session's references are balanced */
    gw_order_ready(&a.ticket);
    gw_order_cancel(&a.ticket);
    CHECK(s.refs == 1);

    /* what is left when the session is freed is dropped without going */
    s_reset();
    s_take(&s, &a, 'a', "g:x");
    s_take(&s, &b, 'b', "g:y");
    s_take(&s, &c, 'c', "g:y");
    CHECK(gw_order_session_free(&s) == 3);
    CHECK(s.gates == NULL && nwent == 0);

    if (s_failed)
        fprintf(stderr, "order_test: %d failed checks\n", s_failed);
    else
        printf("order_test: ok\n");
    return s_failed ? 1 : 0;
}
