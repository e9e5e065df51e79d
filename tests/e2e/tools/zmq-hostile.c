/* zmq-hostile — a hostile peer for tests/e2e/20-hostile-peer.test.js: replays the red-team
 * probe of issue 8 against a running router and reports what came back.
 *
 *   zmq-hostile [--key SECRET] [--router-key PUB] [--admitted] [--takeover MS]
 *               <front> <back> <gateway name> <alice> <bob> <dm of alice and bob>
 *
 * Without --key: plain ZeroMQ (no CURVE). With --key: a CURVE client with that key pair
 * (admitted by the router or not). On the front socket it claims the routing id of the
 * real gateway (<gateway name>, e.g. g/e2e-gw0) and, unless --admitted, sends what a
 * gateway sends: user_get of alice, token_set for bob (device "evil", secret 32 zero
 * bytes), a send as alice, user_create of "mallory", LOC full [alice, bob], HB, HEALTH;
 * then (always) what only shards may send: EVT forging a msg from bob to alice, FWD
 * idx_del of the dm from alice's index, REP, SNAP, HELLO for shard 0. On the back
 * socket it claims s/0 and sends HELLO/HB for shard 0, the forged EVT, the idx_del FWD,
 * REP and SNAP for the gateway. Everything twice, 400 ms apart; then it listens 1.5 s.
 *
 * --takeover MS: only the back socket, as shard 0 would speak (HELLO, then HB every
 * 250 ms) for MS ms — with a stolen shard key this is an identity takeover.
 *
 * --batch: only the back socket (a shard key, no HELLO/HB: no takeover), BATCH frames for
 * <gateway name> (docs/internals.md "Batches"), each an EVT of a msg to <alice> whose
 * client_msg_id says what it tests: three malformed batches the gateway must drop whole
 * ("batch-bad-entry": a good EVT then an entry of another version; "batch-bad-count": the
 * header counts 2 for 1 entry; "batch-nested": a BATCH inside a BATCH), then one good
 * batch of two EVTs ("batch-ok-1", "batch-ok-2"), which it must deliver in that order.
 *
 * Prints "zmq-hostile: sent N, received M [verbs of the first messages]"; exit 0 unless
 * it could not set up (1) or the command line is wrong (2).
 *
 * Messages are written in the text form of proto/pl_msgtext.h and sent as their binary
 * messages (pl_msg.h): as a gateway sends them on the front socket, as a shard on the
 * back (a shard's kinds on the front go in a shard's form too). Received messages are
 * noted by kind. */
#include <czmq.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "pl_msg.h"
#include "pl_msgtext.h"

static long s_sent, s_received;
static char s_verbs[256];
static zsock_t *s_back_sock;

static void s_send(zsock_t *s, const char *first, ...)
{
    const char *f[16];
    int n = 0;
    va_list ap;
    va_start(ap, first);
    for (const char *x = first; x && n < 16; x = va_arg(ap, const char *))
        f[n++] = x;
    va_end(ap);
    static const pl_hop_t front[] = {PL_HOP_GW_ROUTER, PL_HOP_SHARD_ROUTER, PL_HOP_ROUTER_GW};
    static const pl_hop_t back[] = {PL_HOP_SHARD_ROUTER, PL_HOP_ROUTER_GW, PL_HOP_GW_ROUTER};
    const pl_hop_t *hops = s == s_back_sock ? back : front;
    zmsg_t *m = NULL;
    for (int i = 0; i < 3 && !m; i++)
        m = pl_msgtext_to_binv(hops[i], n, f);
    if (!m) {
        fprintf(stderr, "zmq-hostile: %s has no binary form\n", first);
        return;
    }
    if (zmsg_send(&m, s) == 0)
        s_sent++;
    else
        zmsg_destroy(&m);
}

static zsock_t *s_sock(const char *ep, const char *ident, zcert_t *cert, const char *server_key)
{
    zsock_t *s = zsock_new(ZMQ_DEALER);
    if (!s)
        return NULL;
    zsock_set_linger(s, 0);
    zsock_set_sndtimeo(s, 0);
    zsock_set_sndhwm(s, 10000);
    if (cert) {
        zcert_apply(cert, zsock_resolve(s));
        zsock_set_curve_serverkey(s, server_key);
    }
    if (ident)
        zsock_set_identity(s, ident);
    if (zsock_connect(s, "%s", ep) != 0)
        zsock_destroy(&s);
    return s;
}

/* The EVT [to: alice, skip "", event: a msg from bob to alice in dm with client_msg_id
 * cmid] into one (reset first). */
static void s_evt(pl_buf_t *one, const char *alice, const char *bob, const char *dm,
                  const char *cmid)
{
    char evt[512];
    snprintf(evt, sizeof evt,
             "{\"type\":\"msg\",\"conv\":\"%s\",\"seq\":998,\"from\":\"%s\",\"device\":\"phone\","
             "\"text\":\"%s\",\"ts\":1,\"client_msg_id\":\"%s\"}",
             dm, bob, cmid, cmid);
    pl_hdr_t h = {.kind = PL_K_EVT};
    pl_msg_begin(one, &h);
    size_t at = pl_msg_field_begin(one);
    pl_list_add(one, alice, strlen(alice));
    pl_msg_field_end(one, at);
    pl_msg_field_str(one, "");
    pl_msg_field_str(one, evt);
}

/* Send [gw, b] on the back socket. */
static void s_send_raw(zsock_t *s, const char *gw, const pl_buf_t *b)
{
    zmsg_t *m = zmsg_new();
    zmsg_addstr(m, gw);
    zmsg_addmem(m, b->data, b->len);
    if (zmsg_send(&m, s) == 0)
        s_sent++;
    else
        zmsg_destroy(&m);
}

/* --batch: see the header. */
static void s_batches(zsock_t *bs, const char *gw, const char *alice, const char *bob,
                      const char *dm)
{
    pl_buf_t b = {0}, one = {0}, inner = {0};
    /* a good entry, then one of another version */
    pl_batch_begin(&b);
    s_evt(&one, alice, bob, dm, "batch-bad-entry");
    pl_batch_add(&b, one.data, one.len);
    one.data[0] = 0xB2;
    pl_batch_add(&b, one.data, one.len);
    s_send_raw(bs, gw, &b);
    /* the count says 2, there is 1 */
    pl_batch_begin(&b);
    s_evt(&one, alice, bob, dm, "batch-bad-count");
    pl_batch_add(&b, one.data, one.len);
    b.data[8] = 2;
    s_send_raw(bs, gw, &b);
    /* a batch in a batch */
    pl_batch_begin(&inner);
    s_evt(&one, alice, bob, dm, "batch-nested");
    pl_batch_add(&inner, one.data, one.len);
    pl_batch_add(&inner, one.data, one.len);
    pl_batch_begin(&b);
    pl_batch_add(&b, inner.data, inner.len);
    s_send_raw(bs, gw, &b);
    /* a good one */
    pl_batch_begin(&b);
    s_evt(&one, alice, bob, dm, "batch-ok-1");
    pl_batch_add(&b, one.data, one.len);
    s_evt(&one, alice, bob, dm, "batch-ok-2");
    pl_batch_add(&b, one.data, one.len);
    s_send_raw(bs, gw, &b);
    pl_buf_free(&b);
    pl_buf_free(&one);
    pl_buf_free(&inner);
}

/* Count (and note the verbs of) everything that arrives on a and b within ms. */
static void s_listen(zsock_t *a, zsock_t *b, int ms)
{
    zpoller_t *p = zpoller_new(a, NULL);
    if (b)
        zpoller_add(p, b);
    int64_t end = zclock_mono() + ms;
    for (int64_t left = ms; left > 0; left = end - zclock_mono()) {
        zsock_t *which = zpoller_wait(p, (int)left);
        if (!which)
            break;
        zmsg_t *m = zmsg_recv(which);
        if (!m)
            continue;
        s_received++;
        zframe_t *last = zmsg_last(m);
        pl_msg_t d;
        char *verb = strdup(pl_msg_decode(zframe_data(last), zframe_size(last), &d) == 0
                                ? pl_kind_name(d.h.kind)
                                : "(not a message)");
        if (verb && strlen(s_verbs) + strlen(verb) + 2 < sizeof s_verbs && s_received <= 8) {
            strcat(s_verbs, " ");
            strcat(s_verbs, verb);
        }
        free(verb);
        zmsg_destroy(&m);
    }
    zpoller_destroy(&p);
}

int main(int argc, char **argv)
{
    zsys_handler_set(NULL);
    zcert_t *cert = NULL;
    char server_key[41] = "";
    bool admitted = false, batch = false;
    long takeover = 0;
    int i = 1;
    for (; i < argc && !strncmp(argv[i], "--", 2); i++) {
        if (!strcmp(argv[i], "--admitted"))
            admitted = true;
        else if (!strcmp(argv[i], "--batch"))
            batch = true;
        else if (i + 1 < argc && !strcmp(argv[i], "--key"))
            cert = zcert_load(argv[++i]);
        else if (i + 1 < argc && !strcmp(argv[i], "--takeover"))
            takeover = atol(argv[++i]);
        else if (i + 1 < argc && !strcmp(argv[i], "--router-key")) {
            zcert_t *rk = zcert_load(argv[++i]);
            if (rk)
                snprintf(server_key, sizeof server_key, "%s", zcert_public_txt(rk));
            zcert_destroy(&rk);
        } else
            break;
    }
    if (argc - i != 6 || (cert && strlen(server_key) != 40)) {
        fprintf(stderr, "usage: zmq-hostile [--key SECRET --router-key PUB] [--admitted] "
                        "[--takeover MS] [--batch] <front> <back> <gateway name> <alice> <bob> "
                        "<dm>\n");
        return 2;
    }
    const char *front = argv[i], *back = argv[i + 1], *gw = argv[i + 2], *alice = argv[i + 3],
               *bob = argv[i + 4], *dm = argv[i + 5];

    if (batch) {
        zsock_t *bs = s_sock(back, NULL, cert, server_key);
        if (!bs)
            return 1;
        zclock_sleep(300); /* let the key finish its handshake */
        s_batches(bs, gw, alice, bob, dm);
        s_listen(bs, NULL, 300);
        printf("zmq-hostile: sent %ld, received %ld%s\n", s_sent, s_received, s_verbs);
        zsock_destroy(&bs);
        zcert_destroy(&cert);
        return 0;
    }
    if (takeover > 0) {
        zsock_t *bs = s_sock(back, NULL, cert, server_key);
        if (!bs)
            return 1;
        s_back_sock = bs;
        s_send(bs, "HELLO", "0", NULL);
        for (int64_t end = zclock_mono() + takeover; zclock_mono() < end;) {
            s_listen(bs, NULL, 250);
            s_send(bs, "HB", "0", NULL);
        }
        printf("zmq-hostile: sent %ld, received %ld%s\n", s_sent, s_received, s_verbs);
        zsock_destroy(&bs);
        zcert_destroy(&cert);
        return 0;
    }

    char evt[512], idx_del[512], send[512], user_get[128], token_set[256], create[256], loc[256],
        to[128];
    snprintf(evt, sizeof evt,
             "{\"type\":\"msg\",\"conv\":\"%s\",\"seq\":999,\"from\":\"%s\",\"device\":\"phone\","
             "\"text\":\"forged by zmq-hostile\",\"ts\":1,\"client_msg_id\":\"forged\"}",
             dm, bob);
    snprintf(
        idx_del, sizeof idx_del,
        "{\"op\":\"idx_del\",\"user\":\"%s\",\"conv\":\"%s\",\"kind\":\"dm\",\"from\":\"c:%s\","
        "\"nonce\":\"0000000000000000\"}",
        alice, dm, dm);
    snprintf(send, sizeof send,
             "{\"op\":\"send\",\"user\":\"%s\",\"device\":\"phone\",\"conv\":\"%s\","
             "\"client_msg_id\":\"hostile-1\",\"text\":\"stored by zmq-hostile\"}",
             alice, dm);
    snprintf(user_get, sizeof user_get, "{\"op\":\"user_get\",\"user\":\"%s\"}", alice);
    /* th: SHA-256 of 32 zero bytes, the secret of token "<bob>.evil.AAAA…A" (43 A) */
    snprintf(token_set, sizeof token_set,
             "{\"op\":\"token_set\",\"user\":\"%s\",\"device\":\"evil\",\"th\":"
             "\"66687aadf862bd776c8fc18b8e9f8e20089714856ee233b3902a591d0d5f2925\"}",
             bob);
    snprintf(create, sizeof create,
             "{\"op\":\"user_create\",\"user\":\"mallory\",\"hash\":\"$argon2id$v=19$m=65536,t=2,"
             "p=1$c2FsdHNhbHRzYWx0$aGFzaGhhc2hoYXNoaGFzaGhhc2hoYXNoaGFzaGhhc2g\"}");
    snprintf(loc, sizeof loc, "{\"full\":[\"%s\",\"%s\"]}", alice, bob);
    snprintf(to, sizeof to, "[\"%s\"]", alice);
    char ukey_a[96], ukey_b[96], ckey[160];
    snprintf(ukey_a, sizeof ukey_a, "u:%s", alice);
    snprintf(ukey_b, sizeof ukey_b, "u:%s", bob);
    snprintf(ckey, sizeof ckey, "c:%s", dm);

    zsock_t *fs = s_sock(front, gw, cert, server_key);
    zsock_t *bs = s_sock(back, "s/0", cert, server_key);
    s_back_sock = bs;
    if (!fs || !bs) {
        fprintf(stderr, "zmq-hostile: cannot set up sockets\n");
        return 1;
    }
    zclock_sleep(300); /* let an admitted key finish its handshake */
    for (int round = 0; round < 2; round++) {
        if (!admitted) {
            s_send(fs, "HB", "hostile-epoch", "0", NULL);
            s_send(fs, "REQ", ukey_a, "h1", user_get, NULL);
            s_send(fs, "REQ", ukey_b, "h2", token_set, NULL);
            s_send(fs, "REQ", ckey, "h3", send, NULL);
            s_send(fs, "REQ", "u:mallory", "h4", create, NULL);
            s_send(fs, "LOC", "hostile-epoch", "1", loc, NULL);
            s_send(fs, "HEALTH", "h5", NULL);
        }
        s_send(fs, "EVT", to, "", evt, NULL);
        s_send(fs, "EVT", gw, to, "", evt, NULL);
        s_send(fs, "FWD", ukey_a, idx_del, NULL);
        s_send(fs, "REP", gw, "1", "ok", "{}", NULL);
        s_send(fs, "SNAP", gw, NULL);
        /* HB is one kind for both roles: on the front it is a heartbeat of the key's own
         * gateway name (answered with TABLE, as to any admitted gateway), so only the
         * shard-only HELLO goes there */
        s_send(fs, "HELLO", "0", NULL);

        s_send(bs, "HELLO", "0", NULL);
        s_send(bs, "HB", "0", NULL);
        s_send(bs, "EVT", gw, to, "", evt, NULL);
        s_send(bs, "FWD", ukey_a, idx_del, NULL);
        s_send(bs, "REP", gw, "1", "ok", "{}", NULL);
        s_send(bs, "SNAP", gw, NULL);
        s_listen(fs, bs, 400);
    }
    s_listen(fs, bs, 1500);
    printf("zmq-hostile: sent %ld, received %ld%s\n", s_sent, s_received, s_verbs);
    zsock_destroy(&fs);
    zsock_destroy(&bs);
    zcert_destroy(&cert);
    return 0;
}
