/* presence — liveness of this gateway's sessions, the batched presence_report to the
 * users' shards, and the `presence` request (PROTOCOL.md "Presence", docs/internals.md
 * "Presence").
 *
 * A session is live from its auth ok while it sent a frame (any chunk of one) or a pong
 * within the last --presence-timeout ms. A session idle for --ping-interval ms gets a
 * WebSocket ping (written by ws.c at its next SERVER_WRITEABLE, between whole messages),
 * so a healthy idle client stays live by its automatic pong. A silent session stays
 * open but stops counting; any later frame makes it live again.
 *
 * Per user: how many authenticated sessions and how many live ones are here, and what
 * the user's shard was last told. A 25 ms timer looks at a slice of the sessions, so
 * each one is looked at once per round (s_round_ms: a quarter of the ping interval or
 * of the timeout, whichever is shorter): silence, idle close and pings are spread over
 * the round instead of landing in one turn — sessions that connected together (a
 * gateway restart, a load generator) would otherwise be pinged together in one turn
 * of thousands of writes, ahead of every message in it. Every second
 * the users whose state differs from what their shard was told go out, one
 * presence_report per shard (grouped with the TABLE, sent "to shard N": REQN),
 * {"online":[..],"offline":[[user,
 * last_seen_ms,gone_ms],..]} (gone_ms: when its last live session here ended, for the
 * shard's flap window), plus "full": every live user of that shard every 30 s, after a
 * SNAP and after a report failed (then to every shard, also those with nobody live).
 *
 * Going online is never batched: a user whose first live session here starts (auth ok,
 * or a silent session's next frame) while its shard does not hold it live here is
 * reported at once, alone, to its own key u:<user> (s_online_now). An auth answer waits
 * for that report's answer (gw_presence_wait_shard), so once a client reads its auth ok,
 * the shard has applied the online and every later request, through any gateway, sees
 * it. Reports of one gateway reach a shard in the order sent (one DEALER, one router),
 * so an immediate online and the batched offlines never overtake each other. */
#include "gw.h"
#include "gw_frames.h"
#include "gw_gather.h"
#include "gw_presence.h"
#include "gw_req.h"
#include "gw_types.h"
#include "gw_validate.h"
#include "gw_ws.h"
#include "gw_zlink.h"
#include "pl_text.h"

#include <inttypes.h>

#define PRES_TICK_MS 25
#define PRES_ROUND_MIN_MS 100
#define PRES_REPORT_MS 1000
#define PRES_FULL_MS 30000
#define PRES_USERS_MAX 500

typedef struct pres_user {
    char user[PL_USER_MAX + 1];
    int nsess;     /* authenticated sessions here referencing this entry */
    int nlive;     /* ... of which live */
    int64_t seen;  /* wall ms: latest sign of life of a session that stopped being live */
    int64_t gone;  /* wall ms: when the last live session stopped being live */
    bool reported; /* what the user's shard was last told: live here */
    bool dirty;    /* in the dirty set */
    struct pres_flight *flight; /* the latest immediate online report, while in flight */
} pres_user_t;

/* An immediate online report in flight and the auth answers waiting for it. Owned by
 * the zlink request (freed by its callback, which zlink always calls, also at stop). */
typedef struct pres_waiter {
    struct pres_waiter *next;
    gw_presence_done_fn *done;
    void *arg;
} pres_waiter_t;

typedef struct pres_flight {
    gw_presence_t *self;
    char user[PL_USER_MAX + 1];
    pres_waiter_t *waiters; /* in arrival order */
    pres_waiter_t **wtail;
} pres_flight_t;

struct gw_presence {
    gw_t *gw;
    uv_timer_t timer;
    bool timer_open;
    zhashx_t *users;      /* user -> pres_user_t (owned) */
    zhashx_t *dirty;      /* user -> pres_user_t (not owned) to compare at the next report */
    gw_session_t *head;   /* authenticated sessions (linked through pprev/pnext) */
    size_t nsessions;     /* ... how many */
    gw_session_t *cursor; /* the next one the timer looks at (NULL: from head) */
    uint64_t last_report, last_full;
    bool need_full;
};

static void s_user_free(void **item)
{
    free(*item);
    *item = NULL;
}

static int64_t s_wall(gw_t *gw, uint64_t mono)
{
    return pl_now_ms() - (int64_t)(uv_now(&gw->loop) - mono);
}

static void s_dirty(gw_presence_t *self, pres_user_t *pu)
{
    if (!pu->dirty && zhashx_insert(self->dirty, pu->user, pu) == 0)
        pu->dirty = true;
}

/* ---- the report --------------------------------------------------------------------- */

static void s_on_report(void *arg, const char *status, const char *body, size_t len)
{
    gw_presence_t *self = arg;
    (void)body;
    (void)len;
    if (strcmp(status, "ok") != 0) {
        pl_debug("presence_report failed (%s): a full report follows", status);
        self->need_full = true;
    }
}

/* Per shard: {"op":"presence_report","online":[],"offline":[]} (+ "full":[]). */
static json_t *s_report_for(json_t **reports, int k, bool full)
{
    if (!reports[k]) {
        reports[k] = json_pack("{s:s,s:[],s:[]}", "op", "presence_report", "online", "offline");
        if (reports[k] && full)
            json_object_set_new(reports[k], "full", json_array());
    }
    return reports[k];
}

static void s_report(gw_presence_t *self, uint64_t now)
{
    gw_t *gw = self->gw;
    const pl_slots_t *table = gw_zlink_table(gw->zl);
    if (!table)
        return; /* no TABLE yet: everything stays dirty */
    bool full = self->need_full || now - self->last_full >= PRES_FULL_MS;
    if (!full && zhashx_size(self->dirty) == 0)
        return;
    int n = pl_slots_nshards(table);
    json_t **reports = calloc((size_t)(n > 0 ? n : 1), sizeof *reports);
    if (!reports)
        return;
    zlistx_t *done = zlistx_new();
    for (pres_user_t *pu = zhashx_first(self->dirty); pu; pu = zhashx_next(self->dirty)) {
        pu->dirty = false;
        bool live = pu->nlive > 0;
        if (live != pu->reported) {
            char key[40];
            snprintf(key, sizeof key, "u:%s", pu->user);
            int k = pl_slots_owner_of_key(table, key);
            json_t *r = k >= 0 && k < n ? s_report_for(reports, k, full) : NULL;
            if (r && live)
                json_array_append_new(json_object_get(r, "online"), json_string(pu->user));
            else if (r)
                json_array_append_new(
                    json_object_get(r, "offline"),
                    json_pack("[s,I,I]", pu->user, (json_int_t)pu->seen, (json_int_t)pu->gone));
            pu->reported = live;
        }
        if (pu->nsess == 0 && !pu->reported && done)
            zlistx_add_end(done, pu->user);
    }
    zhashx_purge(self->dirty);
    if (full) {
        for (int k = 0; k < n; k++)
            s_report_for(reports, k, true);
        for (pres_user_t *pu = zhashx_first(self->users); pu; pu = zhashx_next(self->users)) {
            if (!pu->reported)
                continue;
            char key[40];
            snprintf(key, sizeof key, "u:%s", pu->user);
            int k = pl_slots_owner_of_key(table, key);
            if (k >= 0 && k < n && reports[k])
                json_array_append_new(json_object_get(reports[k], "full"), json_string(pu->user));
        }
        self->need_full = false;
        self->last_full = now;
    }
    for (int k = 0; k < n; k++) {
        if (!reports[k])
            continue;
        size_t len;
        char *text = gw_json_text(reports[k], &len);
        if (text)
            gw_zlink_request_shard(gw->zl, PL_OP_PRESENCE_REPORT, k, text, len, s_on_report, self);
        else
            self->need_full = true;
        free(text);
        json_decref(reports[k]);
    }
    free(reports);
    for (const char *u = done ? zlistx_first(done) : NULL; u; u = zlistx_next(done)) {
        pres_user_t *pu = zhashx_lookup(self->users, u);
        if (pu && pu->nsess == 0 && !pu->reported && !pu->dirty)
            zhashx_delete(self->users, u);
    }
    zlistx_destroy(&done);
}

/* ---- going online at once ---------------------------------------------------------- */

static void s_on_online_report(void *arg, const char *status, const char *body, size_t len)
{
    pres_flight_t *f = arg;
    gw_presence_t *self = f->self;
    bool ok = strcmp(status, "ok") == 0;
    (void)body;
    (void)len;
    if (!ok) {
        pl_debug("online report of %s failed (%s): a full report follows", f->user, status);
        self->need_full = true;
    }
    /* pu may have been freed (and even recreated) meanwhile: look it up by name */
    pres_user_t *pu = zhashx_lookup(self->users, f->user);
    if (pu && pu->flight == f)
        pu->flight = NULL;
    while (f->waiters) {
        pres_waiter_t *w = f->waiters;
        f->waiters = w->next;
        w->done(w->arg, ok);
        free(w);
    }
    free(f);
}

/* pu just got its first live session here. Unless its shard still holds it live here (an
 * offline not yet sent: nothing to tell), report the online now, alone, instead of at
 * the next batch; pu->reported is true from then on (a failed report marks the next
 * batch full, which lists pu). If the request cannot even be queued, pu stays dirty and
 * the next batch reports it. */
static void s_online_now(gw_presence_t *self, pres_user_t *pu)
{
    gw_t *gw = self->gw;
    if (pu->reported || !gw->zl)
        return;
    pres_flight_t *f = calloc(1, sizeof *f);
    json_t *r = json_pack("{s:s,s:[s]}", "op", "presence_report", "online", pu->user);
    size_t len;
    char *text = f && r ? gw_json_text(r, &len) : NULL;
    json_decref(r);
    char key[40];
    snprintf(key, sizeof key, "u:%s", pu->user);
    if (!text) {
        free(f);
        return;
    }
    f->self = self;
    snprintf(f->user, sizeof f->user, "%s", pu->user);
    f->wtail = &f->waiters;
    pu->flight = f;
    pu->reported = true;
    gw_zlink_request(gw->zl, PL_OP_PRESENCE_REPORT, key, text, len, s_on_online_report, f);
    free(text);
}

int gw_presence_wait_shard(gw_session_t *s, gw_presence_done_fn *done, void *arg)
{
    pres_user_t *pu = s->pu;
    if (!pu || !pu->flight)
        return 0;
    pres_waiter_t *w = calloc(1, sizeof *w);
    if (!w)
        return -1;
    pl_debug("session %llu: auth ok of %s waits for its online report", (unsigned long long)s->sid,
             s->user);
    w->done = done;
    w->arg = arg;
    *pu->flight->wtail = w;
    pu->flight->wtail = &w->next;
    return 1;
}

/* A frame that wakes a silent session of a user its shard holds offline starts an online
 * report (presence.c); the frame's answer, and every later one (answers go out in request
 * order), waits for that report's answer, as an auth ok does: PROTOCOL.md "Presence"
 * makes the user online from that frame on, so a `presence` answer read after it, through
 * any gateway, must say so. The hold is an empty entry in the answer queue. */
typedef struct {
    gw_session_t *s; /* a reference */
    gw_pending_t *p; /* valid while the reference is held */
} wake_hold_t;

static void s_wake_done(void *arg, bool ok)
{
    wake_hold_t *w = arg;
    (void)ok; /* failed: a full report follows (presence.c); nothing is held longer */
    gw_session_pass(w->s, w->p);
    gw_session_unref(&w->s);
    free(w);
}

void gw_presence_frame(gw_session_t *s)
{
    bool was_live = s->live;
    gw_presence_activity(s);
    if (was_live || !s->live || s->state != SS_AUTHED)
        return;
    wake_hold_t *w = calloc(1, sizeof *w);
    gw_pending_t *p = w ? gw_session_pending_push(s) : NULL;
    if (!p) {
        free(w);
        return; /* out of memory: the answer is not held (the report still goes) */
    }
    w->s = gw_session_ref(s);
    w->p = p;
    if (gw_presence_wait_shard(s, s_wake_done, w) != 1)
        s_wake_done(w, true); /* no report in flight (its shard holds it live here) */
}

/* ---- liveness ----------------------------------------------------------------------- */

/* s stops counting (silent or gone); ts_mono its last sign of life. */
static void s_not_live(gw_presence_t *self, gw_session_t *s)
{
    pres_user_t *pu = s->pu;
    if (!s->live || !pu)
        return;
    s->live = false;
    int64_t seen = s_wall(self->gw, s->last_active);
    if (seen > pu->seen)
        pu->seen = seen;
    if (--pu->nlive == 0) {
        pu->gone = pl_now_ms();
        s_dirty(self, pu);
    }
}

/* The round in which every session is looked at once: a quarter of the shorter of the
 * ping interval and the timeout, so a ping goes out at most a quarter interval late and
 * silence is noticed at most a quarter timeout late. */
static uint64_t s_round_ms(gw_t *gw)
{
    uint64_t ping = (uint64_t)gw->cfg.ping_interval_ms;
    uint64_t timeout = (uint64_t)gw->cfg.presence_timeout_ms;
    uint64_t r = (ping < timeout ? ping : timeout) / 4;
    return r < PRES_ROUND_MIN_MS ? PRES_ROUND_MIN_MS : r;
}

/* Silence, idle close and ping for one session. */
static void s_check(gw_presence_t *self, gw_session_t *s, uint64_t now)
{
    gw_t *gw = self->gw;
    uint64_t timeout = (uint64_t)gw->cfg.presence_timeout_ms;
    uint64_t ping = (uint64_t)gw->cfg.ping_interval_ms;
    if (s->live && now - s->last_active > timeout) {
        pl_info("session %llu (%s/%s): silent for %" PRIu64 " ms, not live",
                (unsigned long long)s->sid, s->user, s->device, now - s->last_active);
        s_not_live(self, s);
    }
    if (s->wsi && s->state == SS_AUTHED && gw->cfg.idle_close_ms > 0 &&
        now - s->last_active >= (uint64_t)gw->cfg.idle_close_ms) {
        /* pinged for --idle-close ms and never answered: the peer is gone (or stuck);
         * close 1001 and give the close frame 5 s before lws drops the socket */
        pl_info("session %llu (%s/%s): silent for %" PRIu64 " ms, closing",
                (unsigned long long)s->sid, s->user, s->device, now - s->last_active);
        s->close_force = true;
        gw_session_close(s, LWS_CLOSE_STATUS_GOINGAWAY);
        lws_set_timeout(s->wsi, PENDING_TIMEOUT_CLOSE_SEND, 5);
        return;
    }
    if (s->wsi && s->state == SS_AUTHED && now - s->last_active >= ping &&
        now - s->last_ping >= ping) {
        s->last_ping = now;
        gw_session_ping(s);
    }
}

static void s_timer_cb(uv_timer_t *t)
{
    gw_presence_t *self = t->data;
    uint64_t now = uv_now(&self->gw->loop);
    /* this tick's slice: the whole list once per round, at least one session */
    uint64_t round = s_round_ms(self->gw);
    size_t slice = (size_t)((self->nsessions * PRES_TICK_MS + round - 1) / round);
    for (size_t i = 0; i < slice && self->head; i++) {
        gw_session_t *s = self->cursor ? self->cursor : self->head;
        self->cursor = s->pnext; /* before s_check: a close may unlink s */
        s_check(self, s, now);
    }
    if (now - self->last_report >= PRES_REPORT_MS - PRES_TICK_MS / 2) {
        self->last_report = now;
        s_report(self, now);
    }
}

int gw_presence_init(gw_t *gw)
{
    gw_presence_t *self = calloc(1, sizeof *self);
    if (!self)
        return -1;
    self->gw = gw;
    self->users = zhashx_new();
    self->dirty = zhashx_new();
    gw->pres = self;
    if (!self->users || !self->dirty)
        return -1;
    zhashx_set_destructor(self->users, s_user_free);
    uv_timer_init(&gw->loop, &self->timer);
    self->timer.data = self;
    self->timer_open = true;
    self->last_full = uv_now(&gw->loop); /* the first full comes with a SNAP or in 30 s */
    return uv_timer_start(&self->timer, s_timer_cb, PRES_TICK_MS, PRES_TICK_MS) == 0 ? 0 : -1;
}

void gw_presence_stop(gw_t *gw)
{
    gw_presence_t *self = gw->pres;
    if (!self || !self->timer_open)
        return;
    self->timer_open = false;
    uv_close((uv_handle_t *)&self->timer, NULL);
    /* Leaving: tell the shards at once (best effort; a lost report is healed by the
     * shards' gateway timeout or by our next epoch). */
    for (gw_session_t *s = self->head; s; s = s->pnext)
        s_not_live(self, s);
    if (gw->zl)
        s_report(self, uv_now(&gw->loop));
}

void gw_presence_fini(gw_t *gw)
{
    gw_presence_t *self = gw->pres;
    if (!self)
        return;
    for (gw_session_t *s = self->head; s; s = s->pnext)
        s->pu = NULL;
    zhashx_destroy(&self->dirty);
    zhashx_destroy(&self->users);
    free(self);
    gw->pres = NULL;
}

void gw_presence_session_live(gw_session_t *s)
{
    gw_presence_t *self = s->gw->pres;
    if (!self || s->pu)
        return;
    pres_user_t *pu = zhashx_lookup(self->users, s->user);
    if (!pu) {
        pu = calloc(1, sizeof *pu);
        if (!pu || zhashx_insert(self->users, s->user, pu) != 0) {
            free(pu);
            return; /* out of memory: this session does not count */
        }
        snprintf(pu->user, sizeof pu->user, "%s", s->user);
    }
    s->pu = pu;
    pu->nsess++;
    s->pprev = NULL;
    s->pnext = self->head;
    if (self->head)
        self->head->pprev = s;
    self->head = s;
    self->nsessions++;
    s->last_active = uv_now(&s->gw->loop);
    s->live = true;
    if (++pu->nlive == 1) {
        s_dirty(self, pu);
        s_online_now(self, pu);
    }
}

void gw_presence_activity(gw_session_t *s)
{
    s->last_active = uv_now(&s->gw->loop);
    if (s->live || !s->pu || !s->gw->pres)
        return;
    s->live = true;
    if (++s->pu->nlive == 1) {
        s_dirty(s->gw->pres, s->pu);
        s_online_now(s->gw->pres, s->pu);
    }
}

void gw_presence_session_gone(gw_session_t *s)
{
    gw_presence_t *self = s->gw->pres;
    pres_user_t *pu = s->pu;
    if (!self || !pu)
        return;
    s_not_live(self, s);
    if (self->cursor == s)
        self->cursor = s->pnext;
    self->nsessions--;
    if (s->pprev)
        s->pprev->pnext = s->pnext;
    else
        self->head = s->pnext;
    if (s->pnext)
        s->pnext->pprev = s->pprev;
    s->pprev = s->pnext = NULL;
    s->pu = NULL;
    pu->nsess--;
    s_dirty(self, pu); /* freed at the next report once nothing refers to it */
}

void gw_presence_snapshot(gw_t *gw)
{
    if (gw->pres)
        gw->pres->need_full = true;
}

/* ---- the presence request ----------------------------------------------------------- */

static const gw_gather_spec_t s_presence_get = {.op = "presence_get",
                                                .prefix = "u:",
                                                .list_field = "users",
                                                .answer_field = "presence",
                                                .entry_key = "user"};

void gw_presence_request(gw_session_t *s, gw_pending_t *p, const char *id_json,
                         const gw_type_def_t *t, gw_frame_head_t *h)
{
    (void)t; /* its op, presence_get, is s_presence_get's (gather.c sends it) */
    json_t *req = h->req;
    json_t *users = json_object_get(req, "users");
    const char *bad = NULL;
    size_t i;
    json_t *u;
    if (!users)
        bad = "a required field is missing";
    else if (!json_is_array(users))
        bad = "a field has the wrong type";
    else if (json_array_size(users) > PRES_USERS_MAX)
        bad = "users holds more than 500 names";
    else
        json_array_foreach(users, i, u)
        {
            const char *n = json_string_value(u);
            if (!n || strlen(n) != json_string_length(u) || !pl_user_valid(n)) {
                bad = "users must be valid user names";
                break;
            }
        }
    if (bad) {
        gw_session_answer(s, p, gw_frame_error(id_json, PL_E_BAD_REQUEST, bad, strlen(bad)));
        return;
    }
    gw_req_t *r = gw_req_new(s, p, id_json);
    if (!r) {
        gw_session_answer(s, p, gw_frame_error(id_json, PL_E_INTERNAL, "out of memory", 13));
        return;
    }
    gw_gather_start(r, &s_presence_get, users, NULL);
}
