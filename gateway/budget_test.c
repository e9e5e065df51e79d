/* budget_test — unit test of the gateway's memory accounting (budget.c) without the
 * network: an event blob queued for several sessions counts once in the gateway total
 * and fully in each session; held bytes count per session; over the budget the session
 * holding the most is dropped first, and only until the total is under; per-socket
 * admission and the worst cases. gw_session_kill is a stub that releases what the test
 * queued (in ws.c it frees the session's queues). */
#include "gw.h"
#include "gw_budget.h"
#include "gw_frames.h"
#include "gw_types.h"
#include "gw_ws.h"

#include <stdio.h>

#include "pl_check.h"

PL_CHECK_COUNTERS;

#define NBLOBS 4
static gw_blob_t *s_queued[3][NBLOBS]; /* what the test queued per session */
static gw_session_t s_sess[3];
static int s_kills[3];

void gw_session_kill(gw_session_t *s, const char *why)
{
    (void)why;
    int i = (int)(s - s_sess);
    s_kills[i]++;
    s->killed = true;
    for (int k = 0; k < NBLOBS; k++)
        if (s_queued[i][k]) {
            gw_budget_out_del(s, s_queued[i][k]);
            s_queued[i][k] = NULL;
        }
    gw_budget_held(s, 0, s->mem - s->obytes);
}

int main(void)
{
    gw_t gw;
    memset(&gw, 0, sizeof gw);
    gw.cfg.mem_budget = 1000;
    gw.cfg.socket_budget = 500;
    for (int i = 0; i < 3; i++) {
        s_sess[i].gw = &gw;
        s_sess[i].state = SS_AUTHED;
        gw_budget_session_add(&s_sess[i]);
    }
    gw_blob_t *ev = gw_blob_alloc(300); /* one event for all three */
    for (int i = 0; i < 3; i++) {
        gw_budget_out_add(&s_sess[i], ev);
        s_queued[i][0] = ev;
    }
    CHECK(gw.mem_used == 300); /* shared: once */
    CHECK(s_sess[0].mem == 300 && s_sess[1].obytes == 300);
    gw_budget_enforce(&gw);
    CHECK(s_kills[0] + s_kills[1] + s_kills[2] == 0); /* 900 per session, 300 real */

    /* session 1 also holds an answer of its own, session 2 a bigger one */
    gw_budget_held(&s_sess[1], 400, 0);
    s_sess[1].pbytes = 400; /* as ws.c does for an answer waiting in the FIFO */
    gw_budget_held(&s_sess[2], 600, 0);
    CHECK(gw.mem_used == 1300);
    gw_budget_enforce(&gw); /* over 1000: the biggest (2: 900) goes, then 1000 is not over */
    CHECK(s_kills[2] == 1 && s_kills[1] == 0 && s_kills[0] == 0);
    CHECK(gw.mem_used == 700 && s_sess[2].mem == 0);
    CHECK(ev->queued == 2);

    /* a killed session is never chosen again; the next biggest is */
    gw_budget_held(&s_sess[0], 700, 0); /* 0: 1000, 1: 700 → total 1400 */
    gw_budget_enforce(&gw);
    CHECK(s_kills[0] == 1 && s_kills[1] == 0 && s_kills[2] == 1);
    CHECK(gw.mem_used == 700); /* session 1 alone: the event and its answer */

    /* admission: bytes + worst cases against the socket budget and the gateway's */
    gw_session_t *s = &s_sess[1];
    CHECK(!gw_budget_admit(s)); /* 700 >= 500 */
    gw_budget_out_del(s, ev);
    gw_budget_held(s, 0, 400);
    s->pbytes = 0;
    CHECK(gw.mem_used == 0 && ev->queued == 0);
    CHECK(gw_budget_admit(s));
    gw_pending_t p1 = {0}, p2 = {0};
    gw_budget_reserve(s, &p1, 400);
    CHECK(gw_budget_admit(s)); /* 400 < 500 */
    gw_budget_reserve(s, &p2, 700);
    CHECK(!gw_budget_admit(s) && gw.reserved == 1100);
    gw_budget_release(s, &p2);
    gw_budget_release(s, &p2); /* idempotent */
    CHECK(gw.reserved == 400 && s->reserved == 400 && gw_budget_admit(s));
    gw.reserved += 1000;        /* others' requests in flight fill the gateway's budget */
    CHECK(!gw_budget_admit(s)); /* s has one in flight already */
    gw_budget_release(s, &p1);
    CHECK(gw_budget_admit(s)); /* nothing in flight: always one */

    json_t *req = json_pack("{s:i}", "limit", 1);
#define ROW(name) gw_type_find(name, strlen(name))
    CHECK(gw_budget_worst_case(ROW("sync"), req) == 640u * 1024);
    CHECK(gw_budget_worst_case(ROW("history"), NULL) ==
          9u * 1024 * 1024); /* 50 × 640 KiB, capped */
    CHECK(gw_budget_worst_case(ROW("convs"), NULL) == 4u * 1024 * 1024);
    CHECK(gw_budget_worst_case(ROW("send"), req) == 64u * 1024);
    CHECK(gw_budget_worst_case(NULL, req) == 64u * 1024); /* a type no row has */
    json_t *big = json_pack("{s:i}", "limit", 501);       /* refused later: the default counts */
    CHECK(gw_budget_worst_case(ROW("sync"), big) == 9u * 1024 * 1024);
    json_object_set_new(big, "limit", json_integer(14));
    CHECK(gw_budget_worst_case(ROW("history"), big) == 14u * 640 * 1024);
    json_decref(big);
#undef ROW
    json_decref(req);

    for (int i = 0; i < 3; i++)
        gw_budget_session_remove(&s_sess[i]);
    CHECK(gw.all == NULL);
    gw_blob_unref(&ev);
    printf("budget_test: %d passed, %d failed\n", s_passed, s_failed);
    return s_failed ? 1 : 0;
}
