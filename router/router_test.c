/* router_test — self test of parley-router: a router (liveness timeout 1 s) runs in an
 * actor thread on loopback TCP; fake gateway and shard DEALERs, each with its own CURVE
 * key from a temporary allow folder, speak the internal protocol to it and check every
 * message of docs/internals.md, the "unavailable" answers, relays, that malformed input
 * is dropped without harm, and that peers without an admitted key, or with another
 * role's key, get nothing. */
#include "pl_check.h"
#include "router.h"

#include "pl_hash.h"
#include "pl_log.h"
#include "pl_msgtext.h"
#include "pl_ops.h"

#include <dirent.h>
#include <stdarg.h>
#include <stdio.h>
#include <string.h>
#include <unistd.h>

#define DEAD_MS 1000

PL_CHECK_COUNTERS;
static bool s_verbose;
#undef CHECK
#define CHECK(cond, ...) PL_CHECK_MSG(cond, __VA_ARGS__)

static int s_on_pipe(pl_loop_t *loop, zsock_t *pipe, void *arg)
{
    if (!(zsock_events(pipe) & ZMQ_POLLIN))
        return 1;
    zmsg_t *msg = zmsg_recv(pipe);
    bool term = !msg || zframe_streq(zmsg_first(msg), "$TERM");
    zmsg_destroy(&msg);
    return term ? -1 : 0;
}

/* The router's thread: its loop plus the actor pipe. */
static void s_router_actor(zsock_t *pipe, void *args)
{
    router_t *router = args;
    pl_loop_t *loop = pl_loop_new();
    router_attach(router, loop);
    pl_loop_reader(loop, pipe, s_on_pipe, NULL, 0);
    zsock_signal(pipe, 0);
    pl_loop_run(loop, NULL);
    pl_loop_destroy(&loop);
}

/* Keys: the router's, and one per fake peer name, saved (public) in s_allow. */
static char s_allow[64];
static zcert_t *s_router_cert;
static zhashx_t *s_certs; /* peer name -> zcert_t* */

static zcert_t *s_cert_for(const char *name)
{
    zcert_t *c = zhashx_lookup(s_certs, name);
    if (c)
        return c;
    c = zcert_new();
    if (name[0] == 'g') {
        zcert_set_meta(c, "role", "gateway");
        zcert_set_meta(c, "name", "%s", name + 2);
    } else {
        zcert_set_meta(c, "role", "shard");
        zcert_set_meta(c, "id", "%s", name + 2);
    }
    char path[128];
    snprintf(path, sizeof path, "%s/%c-%s", s_allow, name[0], name + 2);
    zcert_save_public(c, path);
    zhashx_insert(s_certs, name, c);
    return c;
}

static void s_cert_free(void **item)
{
    zcert_destroy((zcert_t **)item);
}

static void s_role(zsock_t *s, char role);

/* A DEALER with the key of peer name (NULL: no CURVE at all; "?": a key the router does
 * not know), claiming routing id ident (NULL: none), connected to endpoint. */
static zsock_t *s_peer_as(const char *name, const char *ident, const char *endpoint)
{
    zsock_t *s = zsock_new(ZMQ_DEALER);
    if (!s) {
        fprintf(stderr, "router_test: cannot create a DEALER\n");
        exit(1);
    }
    if (name && !strcmp(name, "?")) {
        zcert_t *stranger = zcert_new();
        zcert_apply(stranger, zsock_resolve(s));
        zsock_set_curve_serverkey(s, zcert_public_txt(s_router_cert));
        zcert_destroy(&stranger);
    } else if (name) {
        zcert_apply(s_cert_for(name), zsock_resolve(s));
        zsock_set_curve_serverkey(s, zcert_public_txt(s_router_cert));
    }
    if (ident)
        zsock_set_identity(s, ident);
    zsock_set_linger(s, 0);
    zsock_set_rcvtimeo(s, 2000);
    zsock_set_sndtimeo(s, 200); /* a refused peer has no pipe: its sends must not block */
    if (zsock_connect(s, "%s", endpoint) != 0) {
        fprintf(stderr, "router_test: cannot connect to %s\n", endpoint);
        exit(1);
    }
    s_role(s, name && name[0] == 's' ? 's' : 'g');
    return s;
}

/* The peers' roles: the test writes messages in the text form (pl_msgtext.h), which
 * depends on the hop; every peer socket is registered here with its role. */
static struct {
    zsock_t *s;
    char role; /* 'g' or 's' */
} s_roles[32];

static void s_role(zsock_t *s, char role)
{
    for (int i = 0; i < 32; i++)
        if (!s_roles[i].s || s_roles[i].s == s) {
            s_roles[i].s = s;
            s_roles[i].role = role;
            return;
        }
}

static char s_role_of(zsock_t *s)
{
    for (int i = 0; i < 32; i++)
        if (s_roles[i].s == s)
            return s_roles[i].role;
    return 'g';
}

/* Send the text message (string frames, NULL-terminated) as its binary form for the
 * peer's hop; a text that is no message of the hop goes as it is (junk the router must
 * drop). */
static void s_tx(zsock_t *s, const char *first, ...)
{
    const char *f[16];
    int n = 0;
    va_list ap;
    va_start(ap, first);
    for (const char *x = first; x && n < 16; x = va_arg(ap, const char *))
        f[n++] = x;
    va_end(ap);
    zmsg_t *m =
        pl_msgtext_to_binv(s_role_of(s) == 'g' ? PL_HOP_GW_ROUTER : PL_HOP_SHARD_ROUTER, n, f);
    if (!m) {
        m = zmsg_new();
        for (int i = 0; i < n; i++)
            zmsg_addstr(m, f[i]);
    }
    if (zmsg_send(&m, s) != 0) /* a hostile peer's socket may refuse it; czmq keeps m */
        zmsg_destroy(&m);
}

/* Send raw bytes as one frame. */
static void s_raw(zsock_t *s, const void *data, size_t len)
{
    zmsg_t *m = zmsg_new();
    zmsg_addmem(m, data, len);
    zmsg_send(&m, s);
}

/* Receive one message (blocking up to the socket's timeout), in the text form when it
 * decodes (else as it came). */
static zmsg_t *s_rx(zsock_t *s)
{
    zmsg_t *m = zmsg_recv(s);
    if (!m)
        return NULL;
    zmsg_t *t =
        pl_msgtext_from_bin(s_role_of(s) == 'g' ? PL_HOP_ROUTER_GW : PL_HOP_ROUTER_SHARD, m);
    if (!t)
        return m;
    zmsg_destroy(&m);
    return t;
}

/* The peer with the key of name, claiming no routing id (like the real roles). */
static zsock_t *s_peer(const char *name, const char *endpoint)
{
    return s_peer_as(name, NULL, endpoint);
}

/* Next message that is not the router's ["HB"] (sent every 500 ms), or NULL. */
static zmsg_t *s_recv(zsock_t *s)
{
    int64_t end = zclock_mono() + 2000;
    zpoller_t *p = zpoller_new(s, NULL);
    zmsg_t *msg = NULL;
    for (int64_t left = 2000; left > 0 && !msg; left = end - zclock_mono()) {
        if (!zpoller_wait(p, (int)left))
            break;
        msg = s_rx(s);
        if (msg && zmsg_size(msg) == 1 && zframe_streq(zmsg_first(msg), "HB"))
            zmsg_destroy(&msg);
    }
    zpoller_destroy(&p);
    return msg;
}

/* Receive one message and compare it with the n expected frames (strings). */
static bool s_expect(zsock_t *s, int n, ...)
{
    zmsg_t *msg = s_recv(s);
    if (!msg) {
        fprintf(stderr, "  (no message)\n");
        return false;
    }
    bool ok = (int)zmsg_size(msg) == n;
    va_list ap;
    va_start(ap, n);
    zframe_t *f = zmsg_first(msg);
    for (int i = 0; i < n && ok; i++, f = zmsg_next(msg))
        ok = zframe_streq(f, va_arg(ap, const char *));
    va_end(ap);
    if (!ok) {
        fprintf(stderr, "  got:\n");
        zmsg_print(msg);
    }
    zmsg_destroy(&msg);
    return ok;
}

/* Show what came instead when !ok (or that nothing came), destroy it, return ok. */
static bool s_verdict(zmsg_t **msg, bool ok)
{
    if (!ok && *msg) {
        fprintf(stderr, "  got:\n");
        zmsg_print(*msg);
    } else if (!*msg)
        fprintf(stderr, "  (no message)\n");
    zmsg_destroy(msg);
    return ok;
}

/* Receive the next message that is not the router's HB and check that it is the one
 * frame data[0..len), byte for byte. */
static bool s_expect_raw(zsock_t *s, const void *data, size_t len)
{
    int64_t end = zclock_mono() + 2000;
    zpoller_t *p = zpoller_new(s, NULL);
    zmsg_t *msg = NULL;
    for (int64_t left = 2000; left > 0 && !msg; left = end - zclock_mono()) {
        if (!zpoller_wait(p, (int)left))
            break;
        msg = zmsg_recv(s);
        zframe_t *f = msg ? zmsg_first(msg) : NULL;
        if (f && zmsg_size(msg) == 1 && zframe_size(f) == PL_MSG_HDR &&
            zframe_data(f)[1] == PL_K_HB)
            zmsg_destroy(&msg);
    }
    zpoller_destroy(&p);
    zframe_t *f = msg ? zmsg_first(msg) : NULL;
    bool ok =
        f && zmsg_size(msg) == 1 && zframe_size(f) == len && memcmp(zframe_data(f), data, len) == 0;
    return s_verdict(&msg, ok);
}

/* True if nothing arrives within ms. */
static bool s_nothing(zsock_t *s, int ms)
{
    zpoller_t *p = zpoller_new(s, NULL);
    int64_t end = zclock_mono() + ms;
    bool quiet = true;
    for (int64_t left = ms; quiet && left > 0; left = end - zclock_mono()) {
        if (!zpoller_wait(p, (int)left))
            break;
        zmsg_t *msg = s_rx(s);
        if (msg && zmsg_size(msg) == 1 && zframe_streq(zmsg_first(msg), "HB")) {
            zmsg_destroy(&msg);
            continue;
        }
        fprintf(stderr, "  unexpected:\n");
        zmsg_print(msg);
        zmsg_destroy(&msg);
        quiet = false;
    }
    zpoller_destroy(&p);
    return quiet;
}

/* True if nothing at all (not even a heartbeat) arrives within ms. */
static bool s_silent(zsock_t *s, int ms)
{
    zpoller_t *p = zpoller_new(s, NULL);
    void *which = zpoller_wait(p, ms);
    zpoller_destroy(&p);
    if (which) {
        zmsg_t *msg = zmsg_recv(s);
        fprintf(stderr, "  unexpected:\n");
        zmsg_print(msg);
        zmsg_destroy(&msg);
    }
    return which == NULL;
}

static void s_drain(zsock_t *s)
{
    zpoller_t *p = zpoller_new(s, NULL);
    while (zpoller_wait(p, 50)) {
        zmsg_t *msg = zmsg_recv(s);
        zmsg_destroy(&msg);
    }
    zpoller_destroy(&p);
}

/* Append REQ{op 1, id}[key, "{}"] (REQN{shard} when key is NULL) to the batch in b. */
static void s_batch_req(pl_buf_t *b, const char *key, int shard, uint64_t id)
{
    pl_buf_t one = {0};
    pl_hdr_t h = {.kind = key ? PL_K_REQ : PL_K_REQN, .op = 1, .shard = (uint16_t)shard, .id = id};
    pl_msg_begin(&one, &h);
    if (key)
        pl_msg_field_str(&one, key);
    pl_msg_field_str(&one, "{}");
    pl_batch_add(b, one.data, one.len);
    pl_buf_free(&one);
}

/* Receive the next message that is not the router's HB on shard socket s and check that
 * it holds the requests ids[0..n) of gateway gw in that order: [gw, BATCH of requests],
 * or [gw, REQ/REQN] when n is 1. With got (the flexible form), the message may hold the
 * first *got <= n of them (a lone one plain); *got says how many it held. */
static bool s_expect_reqs_some(zsock_t *s, const char *gw, int n, const uint64_t *ids, int *got)
{
    zpoller_t *p = zpoller_new(s, NULL);
    zmsg_t *msg = NULL;
    for (int64_t end = zclock_mono() + 2000, left = 2000; left > 0 && !msg;
         left = end - zclock_mono()) {
        if (!zpoller_wait(p, (int)left))
            break;
        msg = zmsg_recv(s);
        zframe_t *f = msg ? zmsg_last(msg) : NULL;
        if (f && zframe_size(f) >= PL_MSG_HDR && zframe_data(f)[1] == PL_K_HB)
            zmsg_destroy(&msg);
    }
    zpoller_destroy(&p);
    bool ok = msg && zmsg_size(msg) == 2 && zframe_streq(zmsg_first(msg), gw);
    pl_msg_t m, in;
    zframe_t *f = ok ? zmsg_last(msg) : NULL;
    ok = ok && pl_msg_decode(zframe_data(f), zframe_size(f), &m) == 0;
    bool lone = ok && (m.h.kind == PL_K_REQ || m.h.kind == PL_K_REQN);
    if (got)
        *got = !ok ? 0 : lone ? 1 : (int)m.h.id;
    if (ok && got && *got > n)
        ok = false;
    else if (ok && got)
        n = *got;
    if (ok && n == 1)
        ok = lone && m.h.id == ids[0];
    else if (ok) {
        ok = pl_batch_is_reqs(&m) && pl_batch_check(&m) == 0 && m.h.id == (uint64_t)n;
        pl_batch_it_t it;
        pl_batch_iter(&it, &m);
        for (int i = 0; ok && i < n; i++)
            ok = pl_batch_next(&it, &in) == 1 && in.h.id == ids[i];
    }
    return s_verdict(&msg, ok);
}

static bool s_expect_reqs(zsock_t *s, const char *gw, int n, const uint64_t *ids)
{
    return s_expect_reqs_some(s, gw, n, ids, NULL);
}

/* The requests ids[0..n) of gateway gw arrive at shard socket s in that order, in one
 * message or several (the router batches what one drain brings). */
static bool s_expect_reqs_in_order(zsock_t *s, const char *gw, int n, const uint64_t *ids)
{
    for (int at = 0, got = 0; at < n; at += got)
        if (!s_expect_reqs_some(s, gw, n - at, ids + at, &got) || got == 0)
            return false;
    return true;
}

/* A key owned by shard id in the even table of nshards. */
static void s_key_for(int nshards, int id, const char *prefix, char *out, size_t size)
{
    pl_slots_t *t = pl_slots_new_even(nshards, 1);
    for (int i = 0;; i++) {
        snprintf(out, size, "%s%d", prefix, i);
        if (pl_slots_owner_of_key(t, out) == id)
            break;
    }
    pl_slots_destroy(&t);
}

int router_test(bool verbose)
{
    s_verbose = verbose;
    snprintf(s_allow, sizeof s_allow, "/tmp/router_test-XXXXXX");
    if (!mkdtemp(s_allow)) {
        fprintf(stderr, "router_test: cannot make a temporary folder\n");
        return 1;
    }
    s_certs = zhashx_new();
    zhashx_set_destructor(s_certs, s_cert_free);
    s_router_cert = zcert_new();
    zcert_set_meta(s_router_cert, "role", "router");
    /* Keys the router must admit exist before it starts (others are found by a re-read). */
    s_cert_for("g/test");
    s_cert_for("s/0");
    s_cert_for("s/1");
    s_cert_for("s/9");
    s_cert_for("g/two");
    s_cert_for("g/evil");
    s_cert_for("g/probe");

    CHECK(router_new("tcp://127.0.0.1:*", "tcp://127.0.0.1:*", 2, 0, NULL, s_allow) == NULL,
          "no key pair refused");
    CHECK(router_new("tcp://127.0.0.1:*", "tcp://127.0.0.1:*", 2, 0, s_router_cert,
                     "/nonexistent/keys") == NULL,
          "a missing allow folder refused");
    CHECK(router_new("tcp://127.0.0.1:*", "tcp://127.0.0.1:*", 0, 0, s_router_cert, s_allow) ==
              NULL,
          "0 shards refused");

    router_t *router =
        router_new("tcp://127.0.0.1:*", "tcp://127.0.0.1:*", 2, DEAD_MS, s_router_cert, s_allow);
    CHECK(router, "router_new on wildcard ports");
    if (!router)
        return 1;
    router_t *clash =
        router_new("tcp://127.0.0.1:*", "tcp://127.0.0.1:*", 2, 0, s_router_cert, s_allow);
    CHECK(clash == NULL, "a second router in one process refused (one ZAP handler per process)");
    router_destroy(&clash);
    router_destroy(&clash); /* idempotent */

    pl_slots_t *slots = pl_slots_new_even(2, 1);
    char *table = pl_slots_encode(slots);
    pl_slots_destroy(&slots);
    char key0[32], key1[32];
    s_key_for(2, 0, "c:dm:a:b", key0, sizeof key0);
    s_key_for(2, 1, "u:user", key1, sizeof key1);

    const char *fe = router_front_endpoint(router), *be = router_back_endpoint(router);
    zactor_t *actor = zactor_new(s_router_actor, router);
    zsock_t *gw = s_peer("g/test", fe);
    zsock_t *s0 = s_peer("s/0", be);
    zsock_t *s1 = s_peer("s/1", be);
    zclock_sleep(200);

    /* Shard HB; gateway HB gets TABLE once per epoch and is relayed as GWHB. */
    s_tx(s0, "HB", "0", NULL);
    zclock_sleep(100);
    s_tx(gw, "HB", "e1", "0", NULL);
    CHECK(s_expect(gw, 2, "TABLE", table), "TABLE on the first HB of an epoch");
    CHECK(s_expect(s0, 4, "GWHB", "g/test", "e1", "0"), "GWHB relayed to a live shard");
    s_drain(s1);
    s_tx(gw, "HB", "e1", "1", NULL);
    CHECK(s_expect(s0, 4, "GWHB", "g/test", "e1", "1"), "GWHB relayed again");
    CHECK(s_nothing(gw, 200), "no TABLE for an epoch already seen");
    s_drain(s1);

    /* HEALTH: shard 1 never sent HB. */
    s_tx(gw, "HEALTH", "h1", NULL);
    CHECK(s_expect(gw, 3, "HEALTH", "h1", "0"), "HEALTH 0 while a shard is missing");

    /* REQ to a live shard and its REP back. */
    s_tx(gw, "REQ", key0, "7", "{\"op\":\"sync\"}", NULL);
    CHECK(s_expect(s0, 4, "REQ", "g/test", "7", "{\"op\":\"sync\"}"), "REQ routed to owner 0");
    s_tx(s0, "REP", "g/test", "7", "ok", "{\"msgs\":[]}", NULL);
    CHECK(s_expect(gw, 4, "REP", "7", "ok", "{\"msgs\":[]}"), "REP relayed to the gateway");

    /* BATCH (several REP/EVT of one shard turn): relayed to the named gateway as the
     * frame came, its entries unread; only a shard may send one, and only behind an
     * address frame. */
    {
        pl_buf_t b = {0}, one = {0};
        pl_batch_begin(&b);
        pl_hdr_t h = {.kind = PL_K_REP, .id = 71};
        pl_msg_encode(&one, &h, 1, (pl_slice_t[]){{(const uint8_t *)"{}", 2}});
        pl_batch_add(&b, one.data, one.len);
        h = (pl_hdr_t){.kind = PL_K_EVT};
        pl_slice_t ef[3] = {{(const uint8_t *)"\3\0bob", 5}, {NULL, 0}, {(const uint8_t *)"{}", 2}};
        pl_msg_encode(&one, &h, 3, ef);
        pl_batch_add(&b, one.data, one.len);
        zmsg_t *m = zmsg_new();
        zmsg_addstr(m, "g/test");
        zmsg_addmem(m, b.data, b.len);
        zmsg_send(&m, s0);
        CHECK(s_expect_raw(gw, b.data, b.len), "BATCH relayed to the gateway untouched");
        /* entries the router does not look at: relayed all the same (the gateway checks) */
        b.data[PL_BATCH_OVERHEAD + 4] = 0xB2;
        m = zmsg_new();
        zmsg_addstr(m, "g/test");
        zmsg_addmem(m, b.data, b.len);
        zmsg_send(&m, s0);
        CHECK(s_expect_raw(gw, b.data, b.len), "BATCH relayed without reading its entries");
        s_raw(gw, b.data, b.len); /* from a gateway: not its role's kind */
        s_raw(s0, b.data, b.len); /* from a shard without an address frame */
        CHECK(s_nothing(s0, 100), "BATCH from a gateway not relayed to a shard");
        CHECK(s_nothing(gw, 100), "BATCH without an address frame dropped");
        pl_buf_free(&one);
        pl_buf_free(&b);
    }

    /* REQ to a shard without heartbeat: unavailable at once. */
    s_tx(gw, "REQ", key1, "8", "{}", NULL);
    CHECK(s_expect(gw, 4, "REP", "8", "unavailable", "shard 1 is unavailable"),
          "REQ to a silent shard answered unavailable");
    CHECK(s_nothing(s1, 100), "silent shard got no REQ");

    /* A BATCH of requests from the gateway while shard 1 is silent: the entry for shard 0
     * reaches it (alone: plain), the one for shard 1 is answered unavailable. */
    {
        pl_buf_t b = {0};
        pl_batch_begin_reqs(&b);
        s_batch_req(&b, key0, 0, 20);
        s_batch_req(&b, key1, 0, 21);
        s_raw(gw, b.data, b.len);
        CHECK(s_expect_reqs(s0, "g/test", 1, (uint64_t[]){20}),
              "a lone request of a gateway's BATCH goes to its shard plain");
        CHECK(s_expect(gw, 4, "REP", "21", "unavailable", "shard 1 is unavailable"),
              "a request of a BATCH for a silent shard answered unavailable");
        CHECK(s_nothing(s1, 100), "silent shard got no request of the BATCH");
        pl_buf_free(&b);
    }

    /* Shard 1 comes up. */
    s_tx(s1, "HB", "1", NULL);
    s_tx(s0, "HB", "0", NULL);
    zclock_sleep(100);
    CHECK(s_expect(s1, 4, "GWHB", "g/test", "e1", "1"),
          "a shard coming up is told about known gateways at once");
    s_tx(gw, "HEALTH", "h2", NULL);
    CHECK(s_expect(gw, 3, "HEALTH", "h2", "1"), "HEALTH 1 with every shard live");
    s_tx(gw, "REQ", key1, "9", "{}", NULL);
    CHECK(s_expect(s1, 4, "REQ", "g/test", "9", "{}"), "REQ routed to owner 1");

    /* A BATCH of requests (issue 10: one frame per gateway turn): re-batched per shard,
     * each shard's entries in the gateway's order, behind the gateway's address; a
     * malformed batch, or one of answers, changes nothing. */
    {
        pl_buf_t b = {0};
        pl_batch_begin_reqs(&b);
        s_batch_req(&b, key0, 0, 30);
        s_batch_req(&b, key1, 0, 31);
        s_batch_req(&b, key0, 0, 32);
        s_batch_req(&b, NULL, 1, 33);
        s_batch_req(&b, NULL, 0, 34);
        s_raw(gw, b.data, b.len);
        CHECK(s_expect_reqs(s0, "g/test", 3, (uint64_t[]){30, 32, 34}),
              "shard 0 gets its requests of the BATCH in order, as one BATCH");
        CHECK(s_expect_reqs(s1, "g/test", 2, (uint64_t[]){31, 33}),
              "shard 1 gets its requests of the BATCH in order, as one BATCH");
        /* a lone REQ after a BATCH, in one drain or not: after it (order kept) */
        s_raw(gw, b.data, b.len);
        s_tx(gw, "REQ", key0, "35", "{}", NULL);
        CHECK(s_expect_reqs_in_order(s0, "g/test", 4, (uint64_t[]){30, 32, 34, 35}),
              "a lone REQ after a BATCH reaches the shard after the BATCH's requests");
        s_drain(s1);
        /* an answer inside: the whole batch is dropped */
        pl_buf_t one = {0};
        pl_hdr_t h = {.kind = PL_K_REP, .id = 36};
        pl_msg_encode(&one, &h, 1, (pl_slice_t[]){{(const uint8_t *)"{}", 2}});
        pl_batch_add(&b, one.data, one.len);
        s_raw(gw, b.data, b.len);
        /* a wrong count */
        pl_batch_begin_reqs(&b);
        s_batch_req(&b, key0, 0, 37);
        b.data[8] = 2;
        s_raw(gw, b.data, b.len);
        CHECK(s_nothing(s0, 150) && s_nothing(s1, 50), "a malformed BATCH relays nothing");
        pl_buf_free(&one);
        pl_buf_free(&b);
    }

    /* A peer that is not s/1 cannot speak for shard 1. */
    {
        zsock_t *impostor = s_peer("s/9", be);
        s_tx(impostor, "HB", "1", NULL);
        zclock_sleep(100);
        s_tx(gw, "REQ", key1, "9b", "{}", NULL);
        CHECK(s_expect(s1, 4, "REQ", "g/test", "9b", "{}"),
              "HB naming shard 1 from the key of s/9 is ignored");
        CHECK(s_silent(impostor, 100), "the impostor got nothing");
        zsock_destroy(&impostor);
    }

    /* Hostile peers (docs/internals.md "Security between roles"): no CURVE, an unknown
     * key, a gateway key on the shard socket, a shard key on the gateway socket, and a
     * gateway key claiming another gateway's or a shard's routing id. None of them gets
     * anything, none of their messages is relayed, and the real peers keep their traffic. */
    {
        zsock_t *bad[] = {
            s_peer_as(NULL, "g/test", fe),  s_peer_as("?", "g/test", fe),
            s_peer_as(NULL, "s/0", be),     s_peer_as("?", "s/0", be),
            s_peer_as("g/evil", "s/0", be), s_peer_as("s/0", "g/test", fe),
        };
        size_t nbad = sizeof bad / sizeof bad[0];
        zclock_sleep(300);
        for (size_t i = 0; i < nbad; i++) {
            s_tx(bad[i], "HB", "0", NULL);
            s_tx(bad[i], "HELLO", "0", NULL);
            s_tx(bad[i], "HB", "eX", "0", NULL);
            s_tx(bad[i], "REQ", key0, "x", "{\"op\":\"user_get\"}", NULL);
            s_tx(bad[i], "LOC", "eX", "1", "{\"full\":[\"alice\"]}", NULL);
            s_tx(bad[i], "EVT", "g/test", "[\"alice\"]", "", "{\"type\":\"msg\"}", NULL);
            s_tx(bad[i], "FWD", key0, "{\"op\":\"idx_del\"}", NULL);
        }
        zsock_t *spoof = s_peer_as("g/evil", "g/test", fe);
        zclock_sleep(300);
        s_tx(spoof, "EVT", "g/test", "[\"alice\"]", "", "{\"type\":\"msg\"}", NULL);
        s_tx(spoof, "REP", "g/test", "1", "ok", "{}", NULL);
        s_tx(spoof, "FWD", key0, "{\"op\":\"idx_del\"}", NULL);
        s_tx(spoof, "SNAP", "g/test", NULL);
        s_tx(spoof, "HB", "0", NULL);
        s_tx(spoof, "HELLO", "0", NULL);
        for (size_t i = 0; i < nbad; i++)
            CHECK(s_silent(bad[i], i == 0 ? 300 : 50), "hostile peer %zu got nothing", i);
        CHECK(s_silent(spoof, 50), "a gateway key claiming g/test's routing id got nothing");
        CHECK(s_nothing(s0, 100) && s_nothing(s1, 50), "nothing relayed to the shards");
        CHECK(s_nothing(gw, 50), "nothing relayed to the gateway");
        /* That took longer than the liveness timeout: heartbeat again. */
        s_tx(s0, "HB", "0", NULL);
        s_tx(s1, "HB", "1", NULL);
        zclock_sleep(50);
        s_tx(gw, "HB", "e1", "1", NULL);
        zclock_sleep(100);
        s_drain(s0);
        s_drain(s1);
        s_drain(gw);
        s_tx(gw, "REQ", key0, "9c", "{}", NULL);
        CHECK(s_expect(s0, 4, "REQ", "g/test", "9c", "{}"), "shard 0 still gets its requests");
        s_tx(s0, "REP", "g/test", "9c", "ok", "{}", NULL);
        CHECK(s_expect(gw, 4, "REP", "9c", "ok", "{}"), "g/test still gets its answers");
        CHECK(s_silent(spoof, 50), "and the spoofing gateway does not");
        for (size_t i = 0; i < nbad; i++)
            zsock_destroy(&bad[i]);
        zsock_destroy(&spoof);
    }

    /* Binary-safe frames (NUL inside a payload). */
    {
        pl_buf_t b = {0};
        pl_hdr_t h = {.kind = PL_K_REQ, .op = PL_OP_USER_GET, .id = 10};
        pl_msg_begin(&b, &h);
        pl_msg_field_str(&b, key0);
        pl_msg_field(&b, "a\0b", 3);
        s_raw(gw, b.data, b.len);
        pl_buf_free(&b);
        zmsg_t *got = s_recv(s0);
        zframe_t *last = got ? zmsg_last(got) : NULL;
        CHECK(got && zmsg_size(got) == 4 && zframe_size(last) == 3 &&
                  memcmp(zframe_data(last), "a\0b", 3) == 0,
              "payload with NUL bytes relayed intact");
        zmsg_destroy(&got);
    }

    /* LOC to every shard. */
    s_tx(gw, "LOC", "e1", "1", "{\"add\":[\"alice\"]}", NULL);
    CHECK(s_expect(s0, 5, "LOC", "g/test", "e1", "1", "{\"add\":[\"alice\"]}"), "LOC to shard 0");
    CHECK(s_expect(s1, 5, "LOC", "g/test", "e1", "1", "{\"add\":[\"alice\"]}"), "LOC to shard 1");

    /* EVT and SNAP from a shard to the named gateway. */
    s_tx(s1, "EVT", "g/test", "[\"alice\"]", "alice/phone", "{\"type\":\"msg\"}", NULL);
    CHECK(s_expect(gw, 4, "EVT", "[\"alice\"]", "alice/phone", "{\"type\":\"msg\"}"),
          "EVT relayed");
    s_tx(s0, "SNAP", "g/test", NULL);
    CHECK(s_expect(gw, 1, "SNAP"), "SNAP relayed");

    /* FWD shard to shard, by key. */
    s_tx(s1, "FWD", key0, "{\"op\":\"idx_add\"}", NULL);
    CHECK(s_expect(s0, 2, "FWD", "{\"op\":\"idx_add\"}"), "FWD routed to the key's owner");

    /* REQN: to shard number 1, whatever the key (the gateway's presence probe). */
    {
        pl_buf_t b = {0};
        pl_hdr_t h = {.kind = PL_K_REQN, .op = PL_OP_PRESENCE_REPORT, .shard = 1, .id = 77};
        pl_msg_begin(&b, &h);
        pl_msg_field_str(&b, "{}");
        s_raw(gw, b.data, b.len);
        CHECK(s_expect(s1, 5, "REQN", "g/test", "1", "77", "{}"), "REQN routed to shard 1");
        h.shard = 9; /* no such shard */
        h.id = 78;
        pl_msg_begin(&b, &h);
        pl_msg_field_str(&b, "{}");
        s_raw(gw, b.data, b.len);
        CHECK(s_expect(gw, 4, "REP", "78", "unavailable", "shard 9 is unavailable"),
              "REQN to a shard out of the table: unavailable");
        pl_buf_free(&b);
    }

    /* A second gateway: answers go to the one named. */
    zsock_t *gw2 = s_peer("g/two", fe);
    s_tx(gw2, "REQ", key0, "1", "{}", NULL);
    CHECK(s_expect(s0, 4, "REQ", "g/two", "1", "{}"), "REQ from a second gateway");
    s_tx(s0, "REP", "g/two", "1", "not_found", "no such user", NULL);
    CHECK(s_expect(gw2, 4, "REP", "1", "not_found", "no such user"), "REP to the second gateway");
    CHECK(s_nothing(gw, 100), "first gateway got nothing");

    /* Malformed input is dropped; the router goes on. */
    s_tx(gw, "REQ", key0, NULL);
    s_tx(gw, "BOGUS", NULL);
    s_tx(gw, "", NULL);
    s_tx(gw, "HEALTH", NULL);
    {
        /* binary junk: a header cut short, another version, an unknown kind, a field
         * running past the end, a REQ without its body, a shard's kind from a gateway */
        uint8_t j[PL_MSG_HDR + 6] = {PL_MSG_MAGIC, PL_K_REQ};
        s_raw(gw, j, 10);
        j[0] = 0xB2;
        s_raw(gw, j, PL_MSG_HDR);
        j[0] = PL_MSG_MAGIC;
        j[1] = 200;
        s_raw(gw, j, PL_MSG_HDR);
        j[1] = PL_K_REQ;
        j[PL_MSG_HDR] = 9; /* a 9-byte key in 2 bytes */
        s_raw(gw, j, PL_MSG_HDR + 6);
        j[PL_MSG_HDR] = 2;
        s_raw(gw, j, PL_MSG_HDR + 6);
        j[1] = PL_K_EVT;
        s_raw(gw, j, PL_MSG_HDR);
        j[1] = PL_K_REP;
        s_raw(s0, j, PL_MSG_HDR); /* REP without an address frame or its field */
    }
    s_tx(gw, "LOC", "a", "b", "c", "d", "e", "f", "g", "h", NULL);
    s_tx(gw, "REQ", "", "1", "{}", NULL);
    s_tx(s0, "REP", "g/nobody", "1", "ok", "{}", NULL);
    s_tx(s0, "EVT", "g/test", NULL);
    s_tx(s0, "HB", "7", NULL);
    s_tx(s0, "HB", "abc", NULL);
    s_tx(s0, "HB", "00", NULL);
    s_tx(s0, "WHAT", NULL);
    s_tx(s0, "FWD", "", "x", NULL);
    CHECK(s_nothing(s1, 200), "nothing relayed for malformed input");
    s_tx(s0, "HB", "0", NULL);
    s_tx(s1, "HB", "1", NULL);
    zclock_sleep(50);
    s_tx(gw, "HEALTH", "h3", NULL);
    CHECK(s_expect(gw, 3, "HEALTH", "h3", "1"), "router still answers after malformed input");
    s_drain(s0);
    s_drain(gw);

    /* A restarted gateway (new epoch) gets TABLE again. */
    s_tx(gw, "HB", "e2", "0", NULL);
    CHECK(s_expect(gw, 2, "TABLE", table), "TABLE on a new epoch");
    s_drain(s1);
    s_tx(gw, "LOC", "e2", "1", "{\"full\":[]}", NULL);
    CHECK(s_expect(s1, 5, "LOC", "g/test", "e2", "1", "{\"full\":[]}"), "LOC after a new epoch");
    s_tx(s1, "HELLO", "1", "0", NULL);
    CHECK(s_expect(s1, 2, "TABLE", table), "HELLO gets the slot table first");
    CHECK(s_expect(s1, 4, "GWHB", "g/test", "e2", "1"),
          "HELLO from a restarted shard replays the gateways' latest epoch and locseq");
    s_tx(s1, "HB", "1", "1", NULL);
    CHECK(s_nothing(s1, 200), "no TABLE for a shard that knows the router's version");
    s_tx(s1, "HB", "1", "7", NULL);
    CHECK(s_expect(s1, 2, "TABLE", table), "TABLE again when the shard's version differs");

    /* A shard silent for longer than the timeout is down. */
    s_tx(s1, "HB", "1", NULL);
    zclock_sleep(DEAD_MS + 300);
    s_tx(s1, "HB", "1", NULL);
    zclock_sleep(50);
    s_drain(s0);
    s_drain(s1);
    s_tx(gw, "REQ", key0, "11", "{}", NULL);
    CHECK(s_expect(gw, 4, "REP", "11", "unavailable", "shard 0 is unavailable"),
          "REQ to a shard silent for the timeout answered unavailable");
    CHECK(s_nothing(s0, 100), "dead shard got no REQ");
    s_tx(s1, "FWD", key0, "{}", NULL);
    CHECK(s_nothing(s0, 100), "FWD to a dead shard dropped");
    s_tx(gw, "HEALTH", "h4", NULL);
    CHECK(s_expect(gw, 3, "HEALTH", "h4", "0"), "HEALTH 0 with a dead shard");

    /* A disconnected shard (heartbeat still fresh): EHOSTUNREACH, unavailable at once. */
    s_tx(s0, "HB", "0", NULL);
    zclock_sleep(50);
    zsock_destroy(&s0);
    zclock_sleep(200);
    s_tx(gw, "REQ", key0, "12", "{}", NULL);
    CHECK(s_expect(gw, 4, "REP", "12", "unavailable", "shard 0 is unavailable"),
          "REQ to a disconnected shard answered unavailable");

    /* The shard comes back (new process, same identity). */
    s0 = s_peer("s/0", be);
    s_tx(s0, "HB", "0", NULL);
    zclock_sleep(100);
    s_drain(s0);
    s_tx(gw, "REQ", key0, "13", "{}", NULL);
    CHECK(s_expect(s0, 4, "REQ", "g/test", "13", "{}"), "REQ reaches a restarted shard");

    /* A second connection with the same key takes over at its first HB, while the old
     * one is still connected (a stuck old process, a half-open TCP link). */
    zsock_t *s0b = s_peer("s/0", be);
    s_tx(s0b, "HB", "0", NULL);
    zclock_sleep(200);
    s_drain(s0b);
    s_tx(gw, "REQ", key0, "14", "{}", NULL);
    CHECK(s_expect(s0b, 4, "REQ", "g/test", "14", "{}"),
          "a new connection with the same key takes over");
    CHECK(s_nothing(s0, 100), "the old connection gets nothing");
    zsock_destroy(&s0);
    s0 = s0b;

    /* The gateway goes away: a REP to it is dropped, the router survives. */
    zsock_destroy(&gw2);
    zclock_sleep(100);
    s_tx(s0, "REP", "g/two", "2", "ok", "{}", NULL);
    s_tx(s0, "HB", "0", NULL);
    s_tx(s1, "HB", "1", NULL);
    zclock_sleep(200);
    s_tx(gw, "HEALTH", "h5", NULL);
    CHECK(s_expect(gw, 3, "HEALTH", "h5", "1"), "router alive after REP to a gone gateway");

    /* ZMQ_PROBE_ROUTER: a gateway that has only connected (libzmq's empty probe message)
     * already gets what a shard sends to it (e.g. right after a router restart). */
    {
        zsock_t *gp = zsock_new(ZMQ_DEALER);
        zcert_apply(s_cert_for("g/probe"), zsock_resolve(gp));
        zsock_set_curve_serverkey(gp, zcert_public_txt(s_router_cert));
        zsock_set_probe_router(gp, 1);
        s_role(gp, 'g');
        zsock_set_rcvtimeo(gp, 2000);
        zsock_set_linger(gp, 0);
        zsock_connect(gp, "%s", fe);
        zclock_sleep(300);
        s_tx(s0, "EVT", "g/probe", "[\"alice\"]", "", "{}", NULL);
        CHECK(s_expect(gp, 4, "EVT", "[\"alice\"]", "", "{}"),
              "EVT reaches a gateway known only from its connection probe");
        zsock_destroy(&gp);
    }

    /* The router heartbeats every live peer (they reconnect when it falls silent). */
    {
        s_tx(gw, "HB", "e2", "1", NULL);
        bool ghb = false;
        for (zmsg_t *x; !ghb && (x = s_rx(gw));) {
            ghb = zmsg_size(x) == 1 && zframe_streq(zmsg_first(x), "HB");
            zmsg_destroy(&x);
        }
        CHECK(ghb, "the router sends HB to a gateway");
        s_drain(s1);
        s_tx(s1, "HB", "1", NULL);
        zclock_sleep(600);
        bool hb = false;
        for (zmsg_t *x; !hb && (x = s_rx(s1));) {
            hb = zmsg_size(x) == 1 && zframe_streq(zmsg_first(x), "HB");
            zmsg_destroy(&x);
        }
        CHECK(hb, "the router sends HB to a shard");
    }

    zsock_destroy(&gw);
    zsock_destroy(&s0);
    zsock_destroy(&s1);
    zactor_destroy(&actor);
    router_destroy(&router);
    CHECK(router == NULL, "router_destroy nulls the pointer");

    /* ipc:// endpoints (co-located roles, README "Keys between the processes"): the same
     * CURVE and ZAP, the same messages. */
    {
        char dir[64] = "/tmp/router_test_ipc-XXXXXX", ife[128], ibe[128];
        CHECK(mkdtemp(dir) != NULL, "a folder for the ipc endpoints");
        snprintf(ife, sizeof ife, "ipc://%s/front", dir);
        snprintf(ibe, sizeof ibe, "ipc://%s/back", dir);
        /* the first router's ZAP endpoint is released by libzmq's reaper thread, a
         * moment after router_destroy: wait for it (bounded) */
        router_t *ir = NULL;
        for (int i = 0; !ir && i < 100; i++) {
            if (i)
                zclock_sleep(20);
            ir = router_new(ife, ibe, 2, DEAD_MS, s_router_cert, s_allow);
        }
        CHECK(ir && !strcmp(router_front_endpoint(ir), ife), "router_new on ipc endpoints");
        if (ir) {
            zactor_t *ia = zactor_new(s_router_actor, ir);
            zsock_t *igw = s_peer("g/test", ife), *is0 = s_peer("s/0", ibe),
                    *is1 = s_peer("s/1", ibe), *istranger = s_peer("?", ife);
            zclock_sleep(200);
            s_tx(is0, "HB", "0", NULL);
            s_tx(is1, "HB", "1", NULL);
            zclock_sleep(100);
            s_tx(igw, "HB", "e9", "0", NULL);
            CHECK(s_expect(igw, 2, "TABLE", table), "ipc: TABLE to the gateway");
            s_drain(is0);
            s_tx(igw, "REQ", key0, "5", "{}", NULL);
            CHECK(s_expect(is0, 4, "REQ", "g/test", "5", "{}"), "ipc: REQ routed to owner 0");
            s_tx(is0, "REP", "g/test", "5", "ok", "{}", NULL);
            CHECK(s_expect(igw, 4, "REP", "5", "ok", "{}"), "ipc: REP relayed");
            s_tx(istranger, "HEALTH", "h9", NULL);
            CHECK(s_nothing(istranger, 300), "ipc: an unknown key gets nothing (ZAP)");
            zsock_destroy(&igw);
            zsock_destroy(&is0);
            zsock_destroy(&is1);
            zsock_destroy(&istranger);
            zactor_destroy(&ia);
            router_destroy(&ir);
        }
        char path[160];
        snprintf(path, sizeof path, "%s/front", dir);
        unlink(path);
        snprintf(path, sizeof path, "%s/back", dir);
        unlink(path);
        rmdir(dir);
    }
    free(table);
    zcert_destroy(&s_router_cert);
    zhashx_destroy(&s_certs);
    DIR *d = opendir(s_allow);
    for (struct dirent *e; d && (e = readdir(d));) {
        if (e->d_name[0] == '.')
            continue;
        char path[512];
        snprintf(path, sizeof path, "%s/%s", s_allow, e->d_name);
        unlink(path);
    }
    if (d)
        closedir(d);
    rmdir(s_allow);
    printf("router_test: %d passed, %d failed\n", s_passed, s_failed);
    return s_failed ? 1 : 0;
}

int main(int argc, char **argv)
{
    zsys_handler_set(NULL);
    bool verbose = argc > 1 && !strcmp(argv[1], "-v");
    pl_log_init("router", verbose ? PL_DEBUG : PL_ERROR);
    return router_test(verbose);
}
