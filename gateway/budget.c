/* budget — the gateway's memory budget for queued output and pending answers
 * (docs/protocol.md "Limits", docs/internals.md "Budgets").
 *
 * Every WebSocket session accounts in s->mem the bytes it holds: frames queued for
 * writing (obytes), answers done but waiting for an earlier one (pbytes) and frames held
 * back unread (deferred). gw->mem_used is what all of them hold, an event frame queued for
 * several sockets counted once (it is one reference-counted blob). When it passes
 * --mem-budget, the sessions holding the most are dropped (close 1008, without waiting for
 * their queue, which is freed at once) until the total is back under the budget.
 *
 * Per socket, a request is only dispatched while obytes + pbytes + the worst-case sizes
 * of its requests in flight (s->reserved) stay below --socket-budget; otherwise the frame
 * is held and the socket's rx is paused until answers drain (ws.c). One request is always
 * admitted on an idle socket, so a socket holds at most about socket budget + one
 * worst-case answer (a sync or history answer is at most 8 MiB plus one message).
 * The worst cases in flight are also summed over the gateway (gw->reserved): past
 * --mem-budget a socket gets one request in flight at most, which bounds what the router
 * and the shards build and queue for this gateway's sockets.
 *
 * Loop thread only. */
#include "gw.h"
#include "gw_budget.h"
#include "gw_frames.h"
#include "gw_types.h"
#include "gw_ws.h"

#define GW_SYNC_WORST (9u * 1024 * 1024)  /* 8 MiB of messages + the last one, escaped */
#define GW_MSG_WORST (640u * 1024)        /* one stored msg event, 100,000 code points */
#define GW_CONVS_WORST (4u * 1024 * 1024) /* 1000 conversations of 100 members */
#define GW_SMALL_WORST (64u * 1024)       /* presence (500 names) and the rest */

void gw_budget_session_add(gw_session_t *s)
{
    gw_t *gw = s->gw;
    s->bnext = gw->all;
    s->bprev = NULL;
    if (gw->all)
        gw->all->bprev = s;
    gw->all = s;
    s->listed = true;
}

void gw_budget_session_remove(gw_session_t *s)
{
    gw_t *gw = s->gw;
    if (!s->listed)
        return;
    if (s->bprev)
        s->bprev->bnext = s->bnext;
    else
        gw->all = s->bnext;
    if (s->bnext)
        s->bnext->bprev = s->bprev;
    s->bprev = s->bnext = NULL;
    s->listed = false;
}

void gw_budget_out_add(gw_session_t *s, gw_blob_t *b)
{
    s->obytes += b->len;
    s->mem += b->len;
    if (b->queued++ == 0)
        s->gw->mem_used += b->len;
}

void gw_budget_out_del(gw_session_t *s, gw_blob_t *b)
{
    s->obytes -= b->len;
    s->mem -= b->len;
    if (--b->queued == 0)
        s->gw->mem_used -= b->len;
}

void gw_budget_held(gw_session_t *s, size_t add, size_t sub)
{
    s->mem += add;
    s->mem -= sub;
    s->gw->mem_used += add;
    s->gw->mem_used -= sub;
}

void gw_budget_enforce(gw_t *gw)
{
    while (gw->mem_used > gw->cfg.mem_budget) {
        gw_session_t *victim = NULL;
        for (gw_session_t *s = gw->all; s; s = s->bnext)
            if (!s->killed && (!victim || s->mem > victim->mem))
                victim = s;
        if (!victim || victim->mem == 0)
            return; /* nothing left to drop */
        pl_warn("gateway memory %zu bytes over the budget of %zu: dropping the session "
                "holding the most (%zu bytes)",
                gw->mem_used, gw->cfg.mem_budget, victim->mem);
        gw_session_kill(victim, "over the gateway's memory budget"); /* frees its queues */
    }
}

void gw_budget_reserve(gw_session_t *s, gw_pending_t *p, size_t worst)
{
    p->reserve += worst;
    s->reserved += worst;
    s->gw->reserved += worst;
}

void gw_budget_release(gw_session_t *s, gw_pending_t *p)
{
    s->reserved -= p->reserve < s->reserved ? p->reserve : s->reserved;
    s->gw->reserved -= p->reserve < s->gw->reserved ? p->reserve : s->gw->reserved;
    p->reserve = 0;
}

bool gw_budget_admit(const gw_session_t *s)
{
    const gw_t *gw = s->gw;
    if (s->obytes + s->pbytes + s->reserved >= gw->cfg.socket_budget)
        return false;
    /* a socket with nothing in flight always gets one request through (no starvation:
     * a socket held here has an answer coming, which dispatches its next frame) */
    return s->reserved == 0 || gw->reserved < gw->cfg.mem_budget;
}

size_t gw_budget_worst_case(const gw_type_def_t *t, json_t *req)
{
    switch (t ? t->budget : GW_TB_SMALL) {
    case GW_TB_PAGE: {
        json_t *lv = json_object_get(req, "limit");
        json_int_t limit = t->page; /* the default; an invalid limit is refused later */
        if (json_is_integer(lv) && json_integer_value(lv) >= 1 && json_integer_value(lv) <= 500)
            limit = json_integer_value(lv);
        size_t worst = (size_t)limit * GW_MSG_WORST;
        return worst < GW_SYNC_WORST ? worst : GW_SYNC_WORST;
    }
    case GW_TB_CONVS:
        return GW_CONVS_WORST;
    default:
        return GW_SMALL_WORST;
    }
}
