/* zlink_test — unit test of zlink.c alone: request deadlines, late answers, a link that is
 * down, requests after gw_zlink_stop. A real ROUTER socket (a CURVE server on a loopback port
 * the test picks) stands in for the router; the test drives it by hand: answer a request
 * now, hold it, or answer it after its deadline.
 *
 * What must hold (gw_zlink.h): every gw_zlink_request / gw_zlink_health gets exactly one
 * callback, never from inside the call; an answer after the deadline is dropped; a send
 * that fails or a stopped link answers "unavailable" through the callback. */
#include "gw_zlink.h"

#include <stdio.h>
#include <string.h>
#include <zmq.h>

#include "pl_check.h"
#include "pl_curve.h"
#include "pl_err.h"
#include "pl_log.h"
#include "pl_msg.h"
#include "pl_time.h"
#include "pl_wire.h"

PL_CHECK_COUNTERS;

#define TIMEOUT_MS 300

/* One request's callbacks. */
typedef struct {
    int calls;
    char status[32];
    char body[64];
    int64_t at;   /* pl_mono_ms of the (last) callback */
    bool in_call; /* set around gw_zlink_request: a callback now would be re-entrant */
    bool reentered;
} probe_t;

static void s_cb(void *arg, const char *status, const char *body, size_t len)
{
    probe_t *p = arg;
    p->calls++;
    if (p->in_call)
        p->reentered = true;
    snprintf(p->status, sizeof p->status, "%s", status);
    snprintf(p->body, sizeof p->body, "%.*s", (int)(len < 63 ? len : 63), body);
    p->at = pl_mono_ms();
}

/* The stand-in router: a ROUTER socket, the gateway's routing id once heard, requests held. */
typedef struct {
    zsock_t *sock;
    void *raw;
    char endpoint[64];
    zmq_msg_t peer; /* routing id of the zlink's connection */
    bool have_peer;
    uint64_t held[16]; /* request ids received, not answered */
    uint8_t held_kind[16];
    int nheld;
    int nreq;    /* REQ / HEALTH received (each entry of a BATCH counts) */
    int nframes; /* frames holding requests: a BATCH counts once */
    int nbatch;  /* of which BATCH of requests */
} router_t;

static uv_loop_t loop;
static zcert_t *gw_cert, *router_cert;

static void s_router_new(router_t *r)
{
    memset(r, 0, sizeof *r);
    r->sock = zsock_new(ZMQ_ROUTER);
    CHECK(r->sock && pl_wire_setup(r->sock, true) == 0);
    CHECK(pl_curve_server(r->sock, router_cert, "parley") == 0);
    int port = zsock_bind(r->sock, "tcp://127.0.0.1:*");
    CHECK(port > 0);
    snprintf(r->endpoint, sizeof r->endpoint, "tcp://127.0.0.1:%d", port);
    r->raw = zsock_resolve(r->sock);
    zmq_msg_init(&r->peer);
}

static void s_router_destroy(router_t *r)
{
    zmq_msg_close(&r->peer);
    zsock_destroy(&r->sock);
}

/* A request received: held for the test to answer. */
static void s_router_hold(router_t *r, const pl_msg_t *d)
{
    r->nreq++;
    if (r->nheld < 16) {
        r->held_kind[r->nheld] = d->h.kind;
        r->held[r->nheld++] = d->h.id;
    }
}

/* Receive what is waiting; requests are held (the test answers them). */
static void s_router_pump(router_t *r)
{
    for (;;) {
        zmq_msg_t id, m;
        zmq_msg_init(&id);
        zmq_msg_init(&m);
        if (zmq_msg_recv(&id, r->raw, ZMQ_DONTWAIT) < 0) {
            zmq_msg_close(&id);
            zmq_msg_close(&m);
            return;
        }
        CHECK(zmq_msg_more(&id));
        CHECK(zmq_msg_recv(&m, r->raw, 0) >= 0);
        if (!r->have_peer) {
            zmq_msg_copy(&r->peer, &id);
            r->have_peer = true;
        }
        pl_msg_t d, in;
        pl_batch_it_t it;
        if (zmq_msg_size(&m) > 0 && pl_msg_decode(zmq_msg_data(&m), zmq_msg_size(&m), &d) == 0) {
            if (pl_batch_is_reqs(&d)) {
                CHECK(pl_batch_check(&d) == 0);
                r->nframes++;
                r->nbatch++;
                pl_batch_iter(&it, &d);
                while (pl_batch_next(&it, &in) == 1)
                    s_router_hold(r, &in);
            } else if (d.h.kind == PL_K_REQ || d.h.kind == PL_K_REQN || d.h.kind == PL_K_HEALTH) {
                r->nframes++;
                s_router_hold(r, &d);
            }
        }
        zmq_msg_close(&id);
        zmq_msg_close(&m);
    }
}

/* Answer request id (REP with status and body, or a HEALTH answer). */
static void s_router_answer(router_t *r, uint64_t id, uint8_t kind, pl_status_t st,
                            const char *body)
{
    CHECK(r->have_peer);
    pl_buf_t b = {0};
    if (kind == PL_K_HEALTH) {
        pl_hdr_t h = {.kind = PL_K_HEALTH, .flags = PL_MF_ANSWER, .id = id};
        pl_msg_begin(&b, &h);
    } else {
        pl_hdr_t h = {.kind = PL_K_REP, .status = (uint16_t)st, .id = id};
        pl_msg_begin(&b, &h);
        pl_msg_field(&b, body, strlen(body));
    }
    zmq_msg_t peer;
    zmq_msg_init(&peer);
    zmq_msg_copy(&peer, &r->peer);
    CHECK(zmq_msg_send(&peer, r->raw, ZMQ_SNDMORE) >= 0);
    CHECK(zmq_send(r->raw, b.data, b.len, 0) == (int)b.len);
    pl_buf_free(&b);
}

/* Send one raw frame to the zlink's connection. */
static void s_router_raw(router_t *r, const void *data, size_t len)
{
    CHECK(r->have_peer);
    zmq_msg_t peer;
    zmq_msg_init(&peer);
    zmq_msg_copy(&peer, &r->peer);
    CHECK(zmq_msg_send(&peer, r->raw, ZMQ_SNDMORE) >= 0);
    CHECK(zmq_send(r->raw, data, len, 0) == (int)len);
}

/* Answer the oldest held request and forget it. */
static uint64_t s_router_answer_first(router_t *r, pl_status_t st, const char *body)
{
    CHECK(r->nheld > 0);
    if (r->nheld == 0)
        return 0;
    uint64_t id = r->held[0];
    s_router_answer(r, id, r->held_kind[0], st, body);
    memmove(r->held, r->held + 1, (size_t)(r->nheld - 1) * sizeof r->held[0]);
    memmove(r->held_kind, r->held_kind + 1, (size_t)(r->nheld - 1));
    r->nheld--;
    return id;
}

/* Run the loop (and pump r, if any) until *flag is true or ms pass. True if it became so. */
static bool s_wait(router_t *r, const bool *flag, const int *count, int want, int64_t ms)
{
    int64_t end = pl_mono_ms() + ms;
    while (pl_mono_ms() < end) {
        if (r)
            s_router_pump(r);
        uv_run(&loop, UV_RUN_NOWAIT);
        if ((flag && *flag) || (count && *count >= want))
            return true;
        if (r) {
            zmq_pollitem_t it = {.socket = r->raw, .events = ZMQ_POLLIN};
            zmq_poll(&it, 1, 1);
        } else {
            zmq_poll(NULL, 0, 1);
        }
    }
    return (flag && *flag) || (count && *count >= want);
}

static gw_zlink_t *s_link(const char *endpoint, int timeout_ms)
{
    gw_zlink_handlers_t h = {NULL, NULL};
    gw_zlink_t *zl = gw_zlink_new(NULL, &loop, endpoint, "t1", timeout_ms, h, gw_cert,
                                  zcert_public_txt(router_cert));
    CHECK(zl != NULL);
    return zl;
}

static void s_request(gw_zlink_t *zl, probe_t *p, const char *payload)
{
    p->in_call = true;
    gw_zlink_request(zl, PL_OP_USER_EXISTS, "u:alice", payload, strlen(payload), s_cb, p);
    p->in_call = false;
    CHECK(p->calls == 0); /* never from inside the call */
}

static void s_stop(gw_zlink_t **zl)
{
    gw_zlink_stop(*zl);
    uv_run(&loop, UV_RUN_DEFAULT); /* the handles close */
    gw_zlink_destroy(zl);
    CHECK(*zl == NULL);
}

/* An answer in time reaches the callback once; an answer after the deadline is dropped:
 * the callback already ran, with unavailable, and runs no more. */
static void test_deadline_and_late_answer(void)
{
    router_t r;
    s_router_new(&r);
    gw_zlink_t *zl = s_link(r.endpoint, TIMEOUT_MS);
    /* the first HB or the probe tells the router our routing id; wait for the link */
    CHECK(s_wait(&r, &r.have_peer, NULL, 0, 5000));

    probe_t a = {0};
    s_request(zl, &a, "{\"op\":\"user_exists\"}");
    CHECK(s_wait(&r, NULL, &r.nreq, 1, 5000));
    s_router_answer_first(&r, PL_ST_OK, "{\"x\":1}");
    CHECK(s_wait(&r, NULL, &a.calls, 1, 5000));
    CHECK(a.calls == 1 && strcmp(a.status, "ok") == 0 && strcmp(a.body, "{\"x\":1}") == 0);
    CHECK(!a.reentered);

    /* an error status comes through as its code */
    probe_t e = {0};
    s_request(zl, &e, "{}");
    CHECK(s_wait(&r, NULL, &r.nreq, 2, 5000));
    s_router_answer_first(&r, PL_ST_NOT_FOUND, "no such user");
    CHECK(s_wait(&r, NULL, &e.calls, 1, 5000));
    CHECK(e.calls == 1 && strcmp(e.status, PL_E_NOT_FOUND) == 0 &&
          strcmp(e.body, "no such user") == 0);

    /* held past its deadline: unavailable at the deadline, not before */
    probe_t late = {0};
    int64_t t0 = pl_mono_ms();
    s_request(zl, &late, "{}");
    CHECK(s_wait(&r, NULL, &r.nreq, 3, 5000));
    CHECK(s_wait(&r, NULL, &late.calls, 1, 5000));
    CHECK(late.calls == 1 && strcmp(late.status, PL_E_UNAVAILABLE) == 0);
    CHECK(late.at - t0 >= TIMEOUT_MS - 5); /* the deadline, give or take the clock's ms */
    CHECK(late.at - t0 < TIMEOUT_MS + 2000);

    /* the late answer, then a fresh request answered in time: once the fresh one's
     * answer arrived, the late one (sent before it on the same connection) was seen and
     * dropped */
    s_router_answer_first(&r, PL_ST_OK, "{\"late\":true}");
    probe_t next = {0};
    s_request(zl, &next, "{}");
    CHECK(s_wait(&r, NULL, &r.nreq, 4, 5000));
    s_router_answer_first(&r, PL_ST_OK, "{\"next\":true}");
    CHECK(s_wait(&r, NULL, &next.calls, 1, 5000));
    CHECK(next.calls == 1 && strcmp(next.body, "{\"next\":true}") == 0);
    CHECK(late.calls == 1 && strcmp(late.status, PL_E_UNAVAILABLE) == 0);

    /* an answer to an id never asked is dropped too */
    s_router_answer(&r, 999999, PL_K_REP, PL_ST_OK, "{}");
    probe_t h = {0};
    h.in_call = true;
    gw_zlink_health(zl, s_cb, &h);
    h.in_call = false;
    CHECK(h.calls == 0);
    CHECK(s_wait(&r, NULL, &r.nreq, 5, 5000));
    s_router_answer_first(&r, PL_ST_OK, "");
    CHECK(s_wait(&r, NULL, &h.calls, 1, 5000));
    CHECK(h.calls == 1 && strcmp(h.status, "ok") == 0 && strcmp(h.body, "1") == 0);

    /* a request outstanding at stop: unavailable once, from gw_zlink_stop */
    probe_t held = {0};
    s_request(zl, &held, "{}");
    CHECK(s_wait(&r, NULL, &r.nreq, 6, 5000));
    gw_zlink_stop(zl);
    CHECK(held.calls == 1 && strcmp(held.status, PL_E_UNAVAILABLE) == 0);
    uv_run(&loop, UV_RUN_DEFAULT);
    gw_zlink_destroy(&zl);
    CHECK(held.calls == 1 && a.calls == 1 && e.calls == 1 && next.calls == 1);
    s_router_destroy(&r);
}

/* Requests made in one loop turn leave as one frame, a BATCH of requests in the order made
 * (issue 10), each answered to its own callback; a lone one goes plain. A request made
 * after the turn's flush (by a later uv_prepare, as the WebSocket flush's replay does)
 * keeps the loop from blocking until it is out. */
static probe_t late_probe;
static gw_zlink_t *late_zl;
static bool late_armed;
static void s_late_prepare(uv_prepare_t *h)
{
    if (!late_armed)
        return;
    late_armed = false;
    s_request(late_zl, &late_probe, "{\"late\":1}");
}

static void test_batch_per_turn(void)
{
    router_t r;
    s_router_new(&r);
    /* started before the link: libuv runs the last started prepare first, so this one
     * runs after the link's flush in every turn */
    uv_prepare_t late;
    CHECK(uv_prepare_init(&loop, &late) == 0 && uv_prepare_start(&late, s_late_prepare) == 0);
    gw_zlink_t *zl = s_link(r.endpoint, 5000);
    late_zl = zl;
    CHECK(s_wait(&r, &r.have_peer, NULL, 0, 5000));
    probe_t p[3] = {{0}};
    for (int i = 0; i < 3; i++)
        s_request(zl, &p[i], "{}");
    CHECK(s_wait(&r, NULL, &r.nreq, 3, 5000));
    CHECK(r.nframes == 1 && r.nbatch == 1); /* one frame for the turn's three */
    uint64_t first = r.held[0];
    CHECK(r.nheld == 3 && r.held[1] == first + 1 && r.held[2] == first + 2);
    s_router_answer_first(&r, PL_ST_OK, "{\"i\":0}");
    s_router_answer_first(&r, PL_ST_NOT_FOUND, "no");
    s_router_answer_first(&r, PL_ST_OK, "{\"i\":2}");
    CHECK(s_wait(&r, NULL, &p[2].calls, 1, 5000));
    CHECK(p[0].calls == 1 && strcmp(p[0].body, "{\"i\":0}") == 0);
    CHECK(p[1].calls == 1 && strcmp(p[1].status, PL_E_NOT_FOUND) == 0);
    CHECK(p[2].calls == 1 && strcmp(p[2].body, "{\"i\":2}") == 0);
    /* a lone request: plain */
    probe_t one = {0};
    s_request(zl, &one, "{}");
    CHECK(s_wait(&r, NULL, &r.nreq, 4, 5000));
    CHECK(r.nframes == 2 && r.nbatch == 1);
    s_router_answer_first(&r, PL_ST_OK, "{}");
    CHECK(s_wait(&r, NULL, &one.calls, 1, 5000));
    /* made in a prepare after the flush: the loop must not block with it staged */
    memset(&late_probe, 0, sizeof late_probe);
    late_armed = true;
    uv_run(&loop, UV_RUN_NOWAIT);
    CHECK(!late_armed);
    CHECK(uv_backend_timeout(&loop) == 0);
    CHECK(s_wait(&r, NULL, &r.nreq, 5, 5000));
    s_router_answer_first(&r, PL_ST_OK, "{}");
    CHECK(s_wait(&r, NULL, &late_probe.calls, 1, 5000));
    CHECK(late_probe.calls == 1 && strcmp(late_probe.status, "ok") == 0);
    /* bad input from the router changes nothing: a BATCH of the requests family (even one
     * holding an answer), or a BATCH of answers holding a request, is dropped whole */
    probe_t held = {0};
    s_request(zl, &held, "{}");
    CHECK(s_wait(&r, NULL, &r.nreq, 6, 5000));
    pl_buf_t rep = {0}, req = {0}, b = {0};
    pl_hdr_t h = {.kind = PL_K_REP, .id = r.held[0]};
    pl_msg_encode(&rep, &h, 1, (pl_slice_t[]){{(const uint8_t *)"{}", 2}});
    h = (pl_hdr_t){.kind = PL_K_REQ, .id = r.held[0]};
    pl_msg_encode(&req, &h, 2,
                  (pl_slice_t[]){{(const uint8_t *)"u:a", 3}, {(const uint8_t *)"{}", 2}});
    pl_batch_begin_reqs(&b);
    pl_batch_add(&b, rep.data, rep.len);
    s_router_raw(&r, b.data, b.len);
    pl_batch_begin(&b);
    pl_batch_add(&b, rep.data, rep.len);
    pl_batch_add(&b, req.data, req.len);
    s_router_raw(&r, b.data, b.len);
    /* a BATCH of answers whose count says more entries than it holds, or fewer */
    pl_batch_begin(&b);
    pl_batch_add(&b, rep.data, rep.len);
    b.data[8] = 2;
    s_router_raw(&r, b.data, b.len);
    pl_batch_begin(&b);
    pl_batch_add(&b, rep.data, rep.len);
    pl_batch_add(&b, rep.data, rep.len);
    b.data[8] = 1;
    s_router_raw(&r, b.data, b.len);
    int64_t until = pl_mono_ms() + 200;
    CHECK(!s_wait(&r, NULL, &held.calls, 1, until - pl_mono_ms()));
    s_router_answer_first(&r, PL_ST_OK, "{\"after\":1}");
    CHECK(s_wait(&r, NULL, &held.calls, 1, 5000));
    CHECK(held.calls == 1 && strcmp(held.body, "{\"after\":1}") == 0);
    /* a BATCH of 40 answers (past the ones zlink decodes on its stack): each answered, in
     * order (ids are consecutive from the first held) */
    probe_t many[40];
    memset(many, 0, sizeof many);
    r.nheld = 0;
    int before = r.nreq;
    for (int i = 0; i < 40; i++)
        s_request(zl, &many[i], "{}");
    CHECK(s_wait(&r, NULL, &r.nreq, before + 40, 5000));
    uint64_t id0 = r.held[0];
    pl_batch_begin(&b);
    for (int i = 0; i < 40; i++) {
        h = (pl_hdr_t){.kind = PL_K_REP, .id = id0 + (uint64_t)i};
        char body[32];
        snprintf(body, sizeof body, "{\"n\":%d}", i);
        pl_msg_encode(&rep, &h, 1, (pl_slice_t[]){{(const uint8_t *)body, strlen(body)}});
        pl_batch_add(&b, rep.data, rep.len);
    }
    s_router_raw(&r, b.data, b.len);
    CHECK(s_wait(&r, NULL, &many[39].calls, 1, 5000));
    for (int i = 0; i < 40; i++) {
        char body[32];
        snprintf(body, sizeof body, "{\"n\":%d}", i);
        CHECK(many[i].calls == 1 && strcmp(many[i].body, body) == 0);
        CHECK(i == 0 || many[i].at >= many[i - 1].at);
    }
    r.nheld = 0;
    pl_buf_free(&rep);
    pl_buf_free(&req);
    pl_buf_free(&b);
    uv_prepare_stop(&late);
    uv_close((uv_handle_t *)&late, NULL);
    s_stop(&zl);
    s_router_destroy(&r);
}

/* Nobody listens: the send fails (ZMQ_IMMEDIATE), and the callback says unavailable on a
 * later loop turn, long before the deadline. */
static void test_link_down(void)
{
    /* a loopback port nobody listens on: bind one, then let it go */
    router_t gone;
    s_router_new(&gone);
    char endpoint[64];
    snprintf(endpoint, sizeof endpoint, "%s", gone.endpoint);
    s_router_destroy(&gone);

    gw_zlink_t *zl = s_link(endpoint, 10000);
    probe_t p[3] = {{0}};
    int64_t t0 = pl_mono_ms();
    for (int i = 0; i < 3; i++)
        s_request(zl, &p[i], "{}");
    probe_t h = {0};
    h.in_call = true;
    gw_zlink_health(zl, s_cb, &h);
    h.in_call = false;
    CHECK(h.calls == 0);
    CHECK(s_wait(NULL, NULL, &p[2].calls, 1, 5000));
    CHECK(s_wait(NULL, NULL, &h.calls, 1, 5000));
    for (int i = 0; i < 3; i++) {
        CHECK(p[i].calls == 1 && strcmp(p[i].status, PL_E_UNAVAILABLE) == 0);
        CHECK(!p[i].reentered);
        CHECK(p[i].at - t0 < 5000); /* not the 10 s deadline */
    }
    CHECK(h.calls == 1 && strcmp(h.status, PL_E_UNAVAILABLE) == 0);
    s_stop(&zl);
    for (int i = 0; i < 3; i++)
        CHECK(p[i].calls == 1);
}

/* A callback that asks again (what an order queue does when a request's turn comes):
 * the new request is answered too, later, once. */
static probe_t chain_second;
static gw_zlink_t *chain_zl;
static void s_chain_cb(void *arg, const char *status, const char *body, size_t len)
{
    s_cb(arg, status, body, len);
    s_request(chain_zl, &chain_second, "{}");
}

/* After gw_zlink_stop: requests are answered unavailable once the handles closed (or at
 * gw_zlink_destroy), never from inside the call. */
static void test_after_stop(void)
{
    router_t r;
    s_router_new(&r);
    gw_zlink_t *zl = s_link(r.endpoint, TIMEOUT_MS);
    gw_zlink_stop(zl);
    probe_t p = {0};
    s_request(zl, &p, "{}");
    probe_t h = {0};
    h.in_call = true;
    gw_zlink_health(zl, s_cb, &h);
    h.in_call = false;
    CHECK(p.calls == 0 && h.calls == 0);
    uv_run(&loop, UV_RUN_DEFAULT);
    CHECK(p.calls == 1 && strcmp(p.status, PL_E_UNAVAILABLE) == 0);
    CHECK(h.calls == 1 && strcmp(h.status, PL_E_UNAVAILABLE) == 0);

    /* made after the handles closed: answered by gw_zlink_destroy */
    probe_t q = {0};
    memset(&chain_second, 0, sizeof chain_second);
    chain_zl = zl;
    q.in_call = true;
    gw_zlink_request(zl, PL_OP_USER_EXISTS, "u:a", "{}", 2, s_chain_cb, &q);
    q.in_call = false;
    CHECK(q.calls == 0);
    gw_zlink_destroy(&zl);
    CHECK(q.calls == 1 && strcmp(q.status, PL_E_UNAVAILABLE) == 0 && !q.reentered);
    CHECK(chain_second.calls == 1 && !chain_second.reentered);
    s_router_destroy(&r);
}

/* A callback that makes a new request while the link is down: that one is answered on a
 * later turn too. */
static void test_chain_down(void)
{
    router_t gone;
    s_router_new(&gone);
    char endpoint[64];
    snprintf(endpoint, sizeof endpoint, "%s", gone.endpoint);
    s_router_destroy(&gone);
    gw_zlink_t *zl = s_link(endpoint, 10000);
    chain_zl = zl;
    memset(&chain_second, 0, sizeof chain_second);
    probe_t first = {0};
    first.in_call = true;
    gw_zlink_request(zl, PL_OP_USER_EXISTS, "u:a", "{}", 2, s_chain_cb, &first);
    first.in_call = false;
    CHECK(first.calls == 0);
    CHECK(s_wait(NULL, NULL, &chain_second.calls, 1, 5000));
    CHECK(first.calls == 1 && chain_second.calls == 1 && !chain_second.reentered);
    CHECK(strcmp(chain_second.status, PL_E_UNAVAILABLE) == 0);
    s_stop(&zl);
    CHECK(first.calls == 1 && chain_second.calls == 1);
}

int main(void)
{
    zsys_handler_set(NULL);
    pl_log_init("zlink_test", PL_ERROR);
    CHECK(uv_loop_init(&loop) == 0);
    gw_cert = zcert_new();
    router_cert = zcert_new();
    zcert_set_meta(gw_cert, "role", "gateway");
    zcert_set_meta(gw_cert, "name", "t1");
    zcert_set_meta(router_cert, "role", "router");

    test_deadline_and_late_answer();
    test_batch_per_turn();
    test_link_down();
    test_after_stop();
    test_chain_down();

    zcert_destroy(&gw_cert);
    zcert_destroy(&router_cert);
    CHECK(uv_loop_close(&loop) == 0);
    zsys_shutdown();
    printf("zlink_test: %d passed, %d failed\n", s_passed, s_failed);
    return s_failed != 0;
}
