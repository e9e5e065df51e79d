/* link_test — the shard's link (link.c) against a fake router: a ROUTER socket on a
 * loopback port the OS picks, CURVE on, the shard's link in a thread of its own. Checks
 * the batching of one drain turn (issue 9 item 2): a lone answer goes out as a plain
 * REP; a send's REP and EVT for the same gateway go out as one BATCH frame, the REP
 * first as the shard made them; REP/EVT for two gateways in one turn go out as one frame
 * per gateway; a message larger than PL_BATCH_MAX goes out plain, after what was staged
 * before it. */
#include "link.h"

#include <pthread.h>
#include <stdlib.h>
#include <string.h>

#include "pl_msg.h"
#include "pl_ops.h"
#include "test_support.h"

static volatile sig_atomic_t s_stop;

typedef struct {
    shard_t *shard;
    char endpoint[64];
    zcert_t *cert;
    const char *server_key;
    int rc;
} run_t;

static void *s_run(void *arg)
{
    run_t *r = arg;
    r->rc = shard_link_run(r->shard, r->endpoint, r->cert, r->server_key, &s_stop);
    return NULL;
}

/* The fake router's state: its socket and the routing id of the shard's connection. */
static zsock_t *s_router;
static zframe_t *s_rid;
static int64_t s_last_hb;

/* Send [rid, (addr), msg] to the shard. */
static void s_to_shard(const char *addr, const pl_buf_t *b)
{
    zmsg_t *m = zmsg_new();
    zmsg_append(m, &(zframe_t *){zframe_dup(s_rid)});
    if (addr)
        zmsg_addstr(m, addr);
    zmsg_addmem(m, b->data, b->len);
    zmsg_send(&m, s_router);
}

/* The router's HB every 400 ms, so the link does not give up on us. */
static void s_keepalive(void)
{
    if (!s_rid || zclock_mono() - s_last_hb < 400)
        return;
    pl_buf_t b = {0};
    pl_hdr_t h = {.kind = PL_K_HB};
    pl_msg_encode(&b, &h, 0, NULL);
    s_to_shard(NULL, &b);
    pl_buf_free(&b);
    s_last_hb = zclock_mono();
}

/* The next message from the shard that is addressed to a gateway (HB/HELLO are skipped,
 * remembering the connection), within 5 s: its address into addr, the message frame
 * (owned by the caller) returned; NULL when none came. */
static zframe_t *s_next(char *addr, size_t cap)
{
    int64_t end = zclock_mono() + 5000;
    zpoller_t *p = zpoller_new(s_router, NULL);
    zframe_t *out = NULL;
    while (!out && zclock_mono() < end) {
        s_keepalive();
        if (!zpoller_wait(p, 100))
            continue;
        zmsg_t *m = zmsg_recv(s_router);
        if (!m)
            continue;
        zframe_t *rid = zmsg_pop(m);
        if (zmsg_size(m) == 1 && zframe_size(zmsg_first(m)) == 0) { /* probe */
            zframe_destroy(&s_rid);
            s_rid = rid;
        } else if (zmsg_size(m) == 1) { /* HB, HELLO: the connection to send to */
            zframe_destroy(&s_rid);
            s_rid = rid;
        } else if (zmsg_size(m) == 2) {
            zframe_t *a = zmsg_pop(m);
            snprintf(addr, cap, "%.*s", (int)zframe_size(a), (const char *)zframe_data(a));
            zframe_destroy(&a);
            out = zmsg_pop(m);
            zframe_destroy(&rid);
        } else
            zframe_destroy(&rid);
        zmsg_destroy(&m);
    }
    zpoller_destroy(&p);
    return out;
}

/* Next gateway-addressed frame, checked to be for gw; decoded into *m (valid while the
 * returned frame lives). NULL (a failed check) otherwise. */
static zframe_t *s_expect_for(const char *gw, pl_msg_t *m)
{
    char addr[PL_MSG_ADDR_MAX + 1] = "";
    zframe_t *f = s_next(addr, sizeof addr);
    CHECK(f != NULL);
    if (!f)
        return NULL;
    CHECK(strcmp(addr, gw) == 0);
    int rc = pl_msg_decode(zframe_data(f), zframe_size(f), m);
    CHECK(rc == 0);
    if (strcmp(addr, gw) != 0 || rc != 0) {
        fprintf(stderr, "  got a frame for %s (%s)\n", addr, pl_msg_strerror(rc));
        zframe_destroy(&f);
    }
    return f;
}

static void s_req_json(const char *gw, uint64_t id, pl_op_t op, const char *key, const char *body)
{
    pl_buf_t b = {0};
    pl_hdr_t h = {.kind = PL_K_REQ, .op = (uint8_t)op, .id = id};
    pl_msg_begin(&b, &h);
    pl_msg_field_str(&b, key);
    pl_msg_field_str(&b, body);
    s_to_shard(gw, &b);
    pl_buf_free(&b);
}

/* send (binary body: user, device, conv, client_msg_id, text) from user/device on gw. */
static void s_send_msg(const char *gw, uint64_t id, const char *user, const char *conv,
                       const char *cmid, const char *text)
{
    char key[96];
    snprintf(key, sizeof key, "c:%s", conv);
    pl_buf_t b = {0};
    pl_hdr_t h = {.kind = PL_K_REQ, .op = PL_OP_SEND, .id = id};
    pl_msg_begin(&b, &h);
    pl_msg_field_str(&b, key);
    size_t at = pl_msg_field_begin(&b);
    pl_msg_field_str(&b, user);
    pl_msg_field_str(&b, "d1");
    pl_msg_field_str(&b, conv);
    pl_msg_field_str(&b, cmid);
    pl_msg_field_str(&b, text);
    pl_msg_field_end(&b, at);
    s_to_shard(gw, &b);
    pl_buf_free(&b);
}

static void s_loc(const char *gw, const char *users_json)
{
    char payload[256];
    snprintf(payload, sizeof payload, "{\"full\":%s}", users_json);
    pl_buf_t b = {0};
    pl_hdr_t h = {.kind = PL_K_LOC, .flags = PL_MF_FULL, .id = 42, .seq = 1};
    pl_msg_encode(&b, &h, 1, (pl_slice_t[]){{(const uint8_t *)payload, strlen(payload)}});
    s_to_shard(gw, &b);
    pl_buf_free(&b);
}

/* True if the EVT m is for exactly the one recipient user. */
static bool s_evt_to(const pl_msg_t *m, const char *user)
{
    pl_list_it_t it;
    pl_slice_t e;
    pl_list_iter(&it, m->f[0]);
    return pl_list_next(&it, &e) == 1 && pl_slice_eq(e, user) && pl_list_next(&it, &e) == 0;
}

int main(void)
{
    tst_init("link_test");
    shard_t *shard = tst_open(tst_dir(), 60000);
    CHECK(shard != NULL);
    zcert_t *rcert = zcert_new(), *scert = zcert_new();
    s_router = zsock_new(ZMQ_ROUTER);
    zcert_apply(rcert, s_router);
    zsock_set_curve_server(s_router, 1);
    zsock_set_rcvtimeo(s_router, 2000);
    int port = zsock_bind(s_router, "tcp://127.0.0.1:*");
    CHECK(port > 0);
    if (!shard || port <= 0)
        return tst_finish("link_test");
    run_t run = {.shard = shard, .cert = scert, .server_key = zcert_public_txt(rcert)};
    snprintf(run.endpoint, sizeof run.endpoint, "tcp://127.0.0.1:%d", port);
    pthread_t th;
    CHECK(pthread_create(&th, NULL, s_run, &run) == 0);

    /* the shard's probe and HELLO tell us its connection */
    for (int64_t end = zclock_mono() + 5000; !s_rid && zclock_mono() < end;) {
        zmsg_t *hello = zmsg_recv(s_router);
        if (hello)
            s_rid = zmsg_pop(hello);
        zmsg_destroy(&hello);
    }
    CHECK(s_rid != NULL);
    if (!s_rid)
        goto done;

    /* A lone answer: a plain REP (no batch of one). One request at a time. */
    pl_msg_t m, in;
    zframe_t *f;
    static const char *users[] = {"ann", "bob"};
    for (int i = 0; i < 2; i++) {
        char key[16], body[128];
        snprintf(key, sizeof key, "u:%s", users[i]);
        snprintf(body, sizeof body, "{\"op\":\"user_create\",\"user\":\"%s\",\"hash\":\"x\"}",
                 users[i]);
        s_req_json("g/one", 10 + (uint64_t)i, PL_OP_USER_CREATE, key, body);
        f = s_expect_for("g/one", &m);
        CHECK(f && m.h.kind == PL_K_REP && m.h.id == 10 + (uint64_t)i && m.h.status == PL_ST_OK);
        zframe_destroy(&f);
    }

    /* ann online on g/one, bob on g/two. */
    s_loc("g/one", "[\"ann\"]");
    s_loc("g/two", "[\"bob\"]");

    /* A send from ann on g/one: its REP and ann's EVT (her other devices) are one BATCH
     * to g/one, REP first; bob's EVT goes to g/two alone, plain. */
    s_send_msg("g/one", 20, "ann", "dm:ann:bob", "c1", "hello");
    for (int k = 0; k < 2; k++) {
        char a[PL_MSG_ADDR_MAX + 1] = "";
        f = s_next(a, sizeof a);
        CHECK(f != NULL);
        if (!f)
            break;
        CHECK(pl_msg_decode(zframe_data(f), zframe_size(f), &m) == 0);
        if (strcmp(a, "g/one") == 0) {
            CHECK(m.h.kind == PL_K_BATCH && m.h.id == 2 && pl_batch_check(&m) == 0);
            pl_batch_it_t it;
            pl_batch_iter(&it, &m);
            CHECK(pl_batch_next(&it, &in) == 1 && in.h.kind == PL_K_REP && in.h.id == 20 &&
                  in.h.status == PL_ST_OK);
            CHECK(pl_batch_next(&it, &in) == 1 && in.h.kind == PL_K_EVT && s_evt_to(&in, "ann") &&
                  pl_slice_eq(in.f[1], "ann/d1"));
            CHECK(pl_batch_next(&it, &in) == 0);
        } else {
            CHECK(strcmp(a, "g/two") == 0);
            CHECK(m.h.kind == PL_K_EVT && s_evt_to(&m, "bob"));
        }
        zframe_destroy(&f);
    }

    /* A message larger than PL_BATCH_MAX: nothing is batched with it; g/one gets its REP
     * and EVT as two plain frames in the shard's order, g/two its EVT plain. */
    size_t big = PL_BATCH_MAX + 1000;
    char *text = malloc(big + 1);
    memset(text, 'x', big);
    text[big] = '\0';
    s_send_msg("g/one", 21, "ann", "dm:ann:bob", "c2", text);
    free(text);
    int rep = 0, evt_one = 0, evt_two = 0;
    for (int k = 0; k < 3; k++) {
        char a[PL_MSG_ADDR_MAX + 1] = "";
        f = s_next(a, sizeof a);
        CHECK(f != NULL);
        if (!f)
            break;
        CHECK(pl_msg_decode(zframe_data(f), zframe_size(f), &m) == 0);
        CHECK(m.h.kind != PL_K_BATCH);
        if (strcmp(a, "g/one") == 0 && m.h.kind == PL_K_REP) {
            CHECK(m.h.id == 21 && m.h.status == PL_ST_OK && evt_one == 0); /* REP first */
            rep++;
        } else if (strcmp(a, "g/one") == 0 && m.h.kind == PL_K_EVT) {
            CHECK(s_evt_to(&m, "ann") && m.f[2].n > PL_BATCH_MAX);
            evt_one++;
        } else if (strcmp(a, "g/two") == 0 && m.h.kind == PL_K_EVT) {
            CHECK(s_evt_to(&m, "bob") && m.f[2].n > PL_BATCH_MAX);
            evt_two++;
        }
        zframe_destroy(&f);
    }
    CHECK(rep == 1 && evt_one == 1 && evt_two == 1);

done:
    s_stop = 1;
    pthread_join(th, NULL);
    CHECK(run.rc == 0);
    zframe_destroy(&s_rid);
    zsock_destroy(&s_router);
    zcert_destroy(&rcert);
    zcert_destroy(&scert);
    shard_destroy(&shard);
    return tst_finish("link_test");
}
