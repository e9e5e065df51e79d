/* gw_env — see gw_env.h. */
#include "gw_budget.h"
#include "gw_frames.h"
#include "gw_http_req.h"
#include "gw_limits.h"
#include "gw_order.h"
#include "gw_presence.h"
#include "gw_proxy.h"
#include "gw_sessions.h"
#include "gw_ws.h"
#include "gw_zlink.h"
#include "gw_env.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

size_t fuzz_gw_out;
bool fuzz_gw_check_events = true;
static gw_t s_gw;
static bool s_ready;
static pl_slots_t *s_table;
static int s_fake_wsi; /* s->wsi of an open session points here; lws never sees it */

/* ---- checks ----------------------------------------------------------------------- */

static void s_must_be_object(const char *what, const char *text, size_t len)
{
    json_error_t err;
    json_t *j = json_loadb(text, len, JSON_ALLOW_NUL, &err);
    if (!json_is_object(j)) {
        fprintf(stderr, "%s is not a JSON object (%s): %.*s\n", what, err.text,
                (int)(len > 400 ? 400 : len), text);
        abort();
    }
    json_decref(j);
}

/* ---- ws.c ------------------------------------------------------------------------- */

gw_session_t *gw_session_ref(gw_session_t *s)
{
    s->refs++;
    return s;
}

void gw_session_unref(gw_session_t **s_p)
{
    if (!s_p || !*s_p)
        return;
    gw_session_t *s = *s_p;
    *s_p = NULL;
    if (--s->refs > 0)
        return;
    while (s->phead) {
        gw_pending_t *p = s->phead;
        s->phead = p->next;
        gw_blob_unref(&p->frame);
        free(p);
    }
    if (gw_order_session_free(s) != 0)
        abort(); /* a request still held a ticket: the reference rule was broken */
    free(s);
}

gw_pending_t *gw_session_pending_push(gw_session_t *s)
{
    gw_pending_t *p = calloc(1, sizeof *p);
    if (!p)
        return NULL;
    if (s->ptail)
        s->ptail->next = p;
    else
        s->phead = p;
    s->ptail = p;
    s->npending++;
    return p;
}

void gw_session_answer(gw_session_t *s, gw_pending_t *p, gw_blob_t *frame)
{
    if (p->done) {
        fprintf(stderr, "a request was answered twice\n");
        abort();
    }
    if (!frame) {
        static const char msg[] = "internal error";
        frame = gw_frame_error(NULL, PL_E_INTERNAL, msg, sizeof msg - 1);
    }
    p->done = true;
    gw_budget_release(s, p);
    if (!s->wsi) {
        gw_blob_unref(&frame);
        return;
    }
    if (frame)
        s_must_be_object("a frame for a client", frame->data, frame->len);
    p->frame = frame;
    while (s->phead && s->phead->done) { /* written in request order */
        gw_pending_t *h = s->phead;
        s->phead = h->next;
        if (!s->phead)
            s->ptail = NULL;
        s->npending--;
        if (h->frame)
            fuzz_gw_out += h->frame->len;
        gw_blob_unref(&h->frame);
        free(h);
    }
}

/* p is done with nothing to write (a hold in the answer order, presence.c): as ws.c. */
void gw_session_pass(gw_session_t *s, gw_pending_t *p)
{
    if (p->done) {
        fprintf(stderr, "a request was answered twice\n");
        abort();
    }
    p->done = true;
    gw_budget_release(s, p);
    while (s->phead && s->phead->done) {
        gw_pending_t *h = s->phead;
        s->phead = h->next;
        if (!s->phead)
            s->ptail = NULL;
        s->npending--;
        if (h->frame)
            fuzz_gw_out += h->frame->len;
        gw_blob_unref(&h->frame);
        free(h);
    }
}

void gw_session_push_event(gw_session_t *s, gw_blob_t *b)
{
    (void)s;
    if (fuzz_gw_check_events)
        s_must_be_object("an event for a client", b->data, b->len);
}

void gw_session_drop_conv(gw_session_t *s, const char *conv, size_t conv_len)
{
    (void)s;
    (void)conv;
    (void)conv_len;
}

void gw_session_kill(gw_session_t *s, const char *why)
{
    (void)why;
    s->state = SS_CLOSING;
    s->killed = true;
}

void gw_session_ping(gw_session_t *s)
{
    s->ping_due = true; /* nothing is written here */
}

void gw_session_close(gw_session_t *s, int code)
{
    if (s->state != SS_CLOSING)
        s->close_code = code;
    s->state = SS_CLOSING;
}

void gw_session_auth_finished(gw_session_t *s)
{
    (void)s;
}

gw_session_t *fuzz_session_new(void)
{
    gw_t *gw = fuzz_gw();
    gw_session_t *s = calloc(1, sizeof *s);
    if (!s)
        abort();
    s->refs = 1;
    s->gw = gw;
    s->wsi = (struct lws *)&s_fake_wsi;
    s->sid = ++gw->next_sid;
    s->state = SS_NEW;
    snprintf(s->peer, sizeof s->peer, "127.0.0.1");
    gw_budget_session_add(s);
    return s;
}

void fuzz_session_close(gw_session_t **s_p)
{
    gw_session_t *s = *s_p;
    if (!s)
        return;
    gw_presence_session_gone(s);
    gw_sessions_unregister(s->gw, s);
    s->wsi = NULL;
    s->state = SS_CLOSING;
    gw_budget_session_remove(s);
    gw_session_unref(s_p);
}

/* ---- zlink.c ---------------------------------------------------------------------- */

typedef struct zreq {
    struct zreq *next;
    gw_zlink_cb *cb;
    void *arg;
} zreq_t;
static zreq_t *s_qhead, *s_qtail;

/* zlink answers through the callback only, never from inside the call: queue it (out of
 * memory aborts, as zlink.c does). */
static void s_queue(gw_zlink_cb *cb, void *arg)
{
    zreq_t *q = calloc(1, sizeof *q);
    if (!q)
        abort();
    q->cb = cb;
    q->arg = arg;
    if (s_qtail)
        s_qtail->next = q;
    else
        s_qhead = q;
    s_qtail = q;
}

void gw_zlink_request(gw_zlink_t *self, pl_op_t op, const char *key, const char *payload,
                      size_t len, gw_zlink_cb *cb, void *arg)
{
    (void)self;
    if (!pl_op_key_ok(op, key, strlen(key)) || (pl_op_def(op)->flags & PL_OPF_FWD)) {
        fprintf(stderr, "a request %s with routing key %s\n", pl_op_name(op), key);
        abort();
    }
    pl_slice_t f[8];
    int nf = 1;
    for (const char *p = pl_op_def(op)->fields; *p; p++)
        nf += *p == ' ';
    if (pl_op_def(op)->flags & PL_OPF_BIN) {
        if (nf > 8 || pl_body_fields((pl_slice_t){(const uint8_t *)payload, len}, f, nf) != 0) {
            fprintf(stderr, "a binary %s body that does not split into its fields\n",
                    pl_op_name(op));
            abort();
        }
    } else
        s_must_be_object("a payload for a shard", payload, len);
    s_queue(cb, arg);
}

void gw_zlink_request_fields(gw_zlink_t *self, pl_op_t op, const char *key,
                             const pl_slice_t *fields, int nfields, gw_zlink_cb *cb, void *arg)
{
    /* the body zlink would write: checked as gw_zlink_request checks a binary body */
    pl_buf_t b = {0};
    if (pl_msg_fields(&b, fields, nfields) != 0 || !(pl_op_def(op)->flags & PL_OPF_BIN)) {
        fprintf(stderr, "a binary %s body that cannot be built\n", pl_op_name(op));
        abort();
    }
    gw_zlink_request(self, op, key, b.data ? (const char *)b.data : "", b.len, cb, arg);
    pl_buf_free(&b);
}

void gw_zlink_health(gw_zlink_t *self, gw_zlink_cb *cb, void *arg)
{
    (void)self;
    s_queue(cb, arg);
}

void gw_zlink_request_shard(gw_zlink_t *self, pl_op_t op, int shard, const char *payload,
                            size_t len, gw_zlink_cb *cb, void *arg)
{
    (void)self;
    if (!pl_op_def(op) || shard < 0) {
        fprintf(stderr, "a request to shard %d with op %d\n", shard, (int)op);
        abort();
    }
    s_must_be_object("a payload for a shard", payload, len);
    s_queue(cb, arg);
}

void gw_zlink_loc(gw_zlink_t *self, bool full, const char *payload, size_t len)
{
    (void)self;
    (void)full;
    s_must_be_object("a LOC payload", payload, len);
}

const pl_slots_t *gw_zlink_table(gw_zlink_t *self)
{
    (void)self;
    return s_table;
}

/* ---- http.c ----------------------------------------------------------------------- */

gw_http_req_t *gw_http_req_ref(gw_http_req_t *r)
{
    r->refs++;
    return r;
}

void gw_http_req_unref(gw_http_req_t **r_p)
{
    if (!r_p || !*r_p)
        return;
    gw_http_req_t *r = *r_p;
    *r_p = NULL;
    if (--r->refs > 0)
        return;
    free(r->body);
    free(r->resp);
    free(r);
}

void gw_http_respond(gw_http_req_t *r, int status, const char *body)
{
    if (r->resp_ready) {
        fprintf(stderr, "an HTTP request was answered twice\n");
        abort();
    }
    s_must_be_object("an HTTP response body", body, strlen(body));
    r->resp_ready = true;
    r->status = status;
    fuzz_gw_out += strlen(body);
}

void gw_http_respond_error(gw_http_req_t *r, int status, const char *code, const char *msg)
{
    json_t *j = json_pack("{s:s,s:s}", "error", code, "message", msg);
    char *t = j ? json_dumps(j, JSON_COMPACT) : NULL;
    json_decref(j);
    gw_http_respond(r, status, t ? t : "{}");
    free(t);
}

/* ---- thread pool: Argon2id is not run -------------------------------------------- */

typedef struct work {
    struct work *next;
    uv_work_t *req;
    uv_after_work_cb after;
} work_t;
static work_t *s_work;

/* accounts.c's uv_queue_work (the linker wraps it: -Wl,--wrap=uv_queue_work) */
int __wrap_uv_queue_work(uv_loop_t *loop, uv_work_t *req, uv_work_cb work_cb,
                         uv_after_work_cb after)
{
    (void)loop;
    (void)work_cb;
    work_t *w = calloc(1, sizeof *w);
    if (!w)
        return UV_ENOMEM;
    w->req = req;
    w->after = after;
    w->next = s_work;
    s_work = w;
    return 0;
}

size_t fuzz_answer_all(const char *answers, size_t len)
{
    const char *p = answers, *end = answers ? answers + len : NULL;
    for (;;) {
        zreq_t *q = s_qhead;
        if (!q) {
            work_t *w = s_work;
            if (!w)
                return answers ? (size_t)(p - answers) : 0;
            s_work = w->next;
            w->after(w->req, UV_ECANCELED);
            free(w);
            continue;
        }
        s_qhead = q->next;
        if (!s_qhead)
            s_qtail = NULL;
        char status[32] = "ok";
        const char *body = "{}";
        size_t blen = 2;
        char *copy = NULL;
        if (p && p < end) {
            const char *nl = memchr(p, '\n', (size_t)(end - p));
            const char *stop = nl ? nl : end;
            const char *sp = memchr(p, ' ', (size_t)(stop - p));
            size_t sl = (size_t)((sp ? sp : stop) - p);
            if (sl >= sizeof status)
                sl = sizeof status - 1;
            memcpy(status, p, sl);
            status[sl] = 0;
            const char *b = sp ? sp + 1 : stop;
            blen = (size_t)(stop - b);
            copy = malloc(blen + 1); /* body[len] is readable and 0 (gw_zlink_cb) */
            if (!copy)
                abort();
            memcpy(copy, b, blen);
            copy[blen] = 0;
            body = copy;
            p = nl ? nl + 1 : end;
            /* a shard answers ok with a JSON object (fuzz_shard checks that contract), and
             * the gateway splices it unparsed (frames.c): model a correct shard */
            json_error_t err;
            json_t *j = strcmp(status, "ok") == 0 ? json_loadb(body, blen, 0, &err) : NULL;
            if (strcmp(status, "ok") == 0 && !json_is_object(j)) {
                body = "{}";
                blen = 2;
            }
            json_decref(j);
        }
        q->cb(q->arg, status, body, blen);
        free(copy);
        free(q);
    }
}

/* ---- the gateway ------------------------------------------------------------------ */

gw_t *fuzz_gw(void)
{
    if (s_ready)
        return &s_gw;
    gw_t *gw = &s_gw;
    zsys_handler_set(NULL);
    pl_log_init("fuzz-gateway", PL_ERROR);
    if (sodium_init() < 0 || uv_loop_init(&gw->loop) != 0)
        abort();
    struct gw_config *c = &gw->cfg;
    c->timeout_ms = 5000;
    c->presence_timeout_ms = 30000;
    c->ping_interval_ms = 10000;
    c->rate_burst = 1000000;
    c->rate_per_sec = 1000000;
    c->dm_probe_burst = 1000000;
    c->dm_probe_per_sec = 1000000;
    c->dm_probe_ip_burst = 1000000;
    c->dm_probe_ip_per_sec = 1000000;
    c->login_burst = 1000000;
    c->login_per_sec = 1000000;
    c->mem_budget = (size_t)1024 << 20;
    c->socket_budget = (size_t)32 << 20;
    static const char *allow[] = {"https://push.example/"};
    c->push_allow = allow;
    c->npush_allow = 1;
    snprintf(c->name, sizeof c->name, "fuzz");
    s_table = pl_slots_new_even(2, 1);
    if (!s_table || gw_sessions_init(gw) != 0 || !(gw->known_users = zhashx_new()) ||
        gw_presence_init(gw) != 0 || gw_limits_init(gw) != 0)
        abort();
    /* the dummy hash of accounts.c is "computed" (cancelled work never sets it): an
     * unknown user's login then takes the verify path too */
    snprintf(gw->dummy_hash, sizeof gw->dummy_hash, "$argon2id$v=19$m=65536,t=2,p=1$x$y");
    gw->dummy_ready = true;
    s_ready = true;
    return gw;
}

/* ---- lws calls on a session's wsi (the linker wraps them: -Wl,--wrap=...) ----------- */

void __real_lws_set_timer_usecs(struct lws *wsi, lws_usec_t us);
void __wrap_lws_set_timer_usecs(struct lws *wsi, lws_usec_t us)
{
    if (wsi != (struct lws *)&s_fake_wsi)
        __real_lws_set_timer_usecs(wsi, us);
}

int __real_lws_callback_on_writable(struct lws *wsi);
int __wrap_lws_callback_on_writable(struct lws *wsi)
{
    return wsi == (struct lws *)&s_fake_wsi ? 1 : __real_lws_callback_on_writable(wsi);
}

/* ---- proxy.c (limits.c's accept path, never reached without sockets) -------------- */

int gw_proxy_accept(gw_t *gw, struct lws_vhost *vhost, int fd, const char *ip)
{
    (void)gw;
    (void)vhost;
    (void)fd;
    (void)ip;
    return -1;
}
