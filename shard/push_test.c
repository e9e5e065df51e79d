/* shard_push_test — push notifications on the shard: RFC 8291 encryption against the
 * Appendix A test vector, the VAPID JWT (RFC 8292) verified with the public key, preview
 * cutting by code points, push_register storage (idempotent, at most 20 targets) and the
 * commit trigger (FWD push for a member without a connected device only). */
#include <czmq.h>
#include <jansson.h>
#include <openssl/ec.h>
#include <openssl/evp.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "pl_log.h"
#include "pl_text.h"
#include "push.h"
#include "shard.h"
#include "test_support.h"
#include "pl_webpush.h"

/* RFC 8291 Appendix A */
static const char *A_PLAIN = "When I grow up, I want to be a watermelon";
static const char *A_AS_PRIV = "yfWPiYE-n46HLnH0KqZOF1fJJU3MYrct3AELtAQ-oRw";
static const char *A_AS_PUB =
    "BP4z9KsN6nGRTbVYI_c7VJSPQTBtkgcy27mlmlMoZIIgDll6e3vCYLocInmYWAmS6TlzAC8wEqKK6PBru3jl7A8";
static const char *A_UA_PUB =
    "BCVxsr7N_eNgVRqvHtD0zTZsEc6-VV-JvLexhqUzORcxaOzi6-AYWXvTBHm4bjyPjs7Vd8pZGH6SRpkNtoIAiw4";
static const char *A_AUTH = "BTBZMqHH6r4Tts7J_aSIgg";
static const char *A_SALT = "DGv6ra1nlYgDCS1FRnbzlw";
static const char *A_BODY =
    "DGv6ra1nlYgDCS1FRnbzlwAAEABBBP4z9KsN6nGRTbVYI_c7VJSPQTBtkgcy27mlmlMoZIIgDll6e3vCYLocInmYWAm"
    "S6TlzAC8wEqKK6PBru3jl7A_yl95bQpu6cVPTpK4Mqgkf1CXztLVBSt2Ks3oZwbuwXPXLWyouBWLVWGNWQexSgSxsj_"
    "Qulcy4a-fN";

static void s_rfc8291(void)
{
    unsigned char as_priv[32], as_pub[65], ua_pub[65], auth[16], salt[16];
    CHECK(webpush_b64url_decode(A_AS_PRIV, as_priv, sizeof as_priv) == 32);
    CHECK(webpush_b64url_decode(A_AS_PUB, as_pub, sizeof as_pub) == 65);
    CHECK(webpush_b64url_decode(A_UA_PUB, ua_pub, sizeof ua_pub) == 65);
    CHECK(webpush_b64url_decode(A_AUTH, auth, sizeof auth) == 16);
    CHECK(webpush_b64url_decode(A_SALT, salt, sizeof salt) == 16);
    CHECK(webpush_point_valid(ua_pub));
    unsigned char bad[65];
    memcpy(bad, ua_pub, 65);
    bad[64] ^= 1;
    CHECK(!webpush_point_valid(bad));
    EVP_PKEY *as = webpush_key_from_raw(as_priv, as_pub);
    CHECK(as != NULL);
    unsigned char *out = NULL;
    size_t len = 0;
    CHECK(webpush_encrypt(ua_pub, auth, (const unsigned char *)A_PLAIN, strlen(A_PLAIN), as, salt,
                          &out, &len) == 0);
    char *b64 = out ? webpush_b64url(out, len) : NULL;
    CHECK(b64 && strcmp(b64, A_BODY) == 0);
    if (b64 && strcmp(b64, A_BODY) != 0)
        fprintf(stderr, "got      %s\nexpected %s\n", b64, A_BODY);
    free(b64);
    free(out);
    /* a fresh key and salt each time: never the same body twice */
    unsigned char *o1 = NULL, *o2 = NULL;
    size_t l1 = 0, l2 = 0;
    CHECK(webpush_encrypt(ua_pub, auth, (const unsigned char *)"x", 1, NULL, NULL, &o1, &l1) == 0);
    CHECK(webpush_encrypt(ua_pub, auth, (const unsigned char *)"x", 1, NULL, NULL, &o2, &l2) == 0);
    CHECK(l1 == 16 + 4 + 1 + 65 + 1 + 1 + 16 && l1 == l2 && memcmp(o1, o2, l1) != 0);
    free(o1);
    free(o2);
    unsigned char *big = calloc(1, WEBPUSH_PLAIN_MAX + 1);
    CHECK(webpush_encrypt(ua_pub, auth, big, WEBPUSH_PLAIN_MAX + 1, NULL, NULL, &o1, &l1) != 0);
    free(big);
    EVP_PKEY_free(as);
}

static void s_vapid(void)
{
    EVP_PKEY *key = EVP_EC_gen("prime256v1");
    CHECK(key != NULL);
    char *h = webpush_vapid(key, "https://push.example.net:8443/send/abc?x=1",
                            "mailto:ops@example.org", 1000);
    CHECK(h && strncmp(h, "vapid t=", 8) == 0);
    CHECK(webpush_vapid(key, "no-scheme", "mailto:a@b", 1000) == NULL);
    if (!h) {
        EVP_PKEY_free(key);
        return;
    }
    char *t = h + 8;
    char *comma = strstr(t, ", k=");
    CHECK(comma != NULL);
    *comma = 0;
    const char *k = comma + 4;
    unsigned char pub[65], mine[65];
    CHECK(webpush_b64url_decode(k, pub, sizeof pub) == 65);
    CHECK(webpush_key_public(key, mine) == 0 && memcmp(pub, mine, 65) == 0);
    char *dot1 = strchr(t, '.'), *dot2 = dot1 ? strchr(dot1 + 1, '.') : NULL;
    CHECK(dot1 && dot2);
    if (dot1 && dot2) {
        unsigned char claims[512], sig[80];
        *dot2 = 0;
        char c64[512];
        snprintf(c64, sizeof c64, "%s", dot1 + 1);
        long cl = webpush_b64url_decode(c64, claims, sizeof claims - 1);
        CHECK(cl > 0);
        claims[cl > 0 ? cl : 0] = 0;
        CHECK(strcmp((char *)claims, "{\"aud\":\"https://push.example.net:8443\",\"exp\":44200,"
                                     "\"sub\":\"mailto:ops@example.org\"}") == 0);
        CHECK(webpush_b64url_decode(dot2 + 1, sig, sizeof sig) == 64);
        /* verify: raw r||s back to DER, EVP_DigestVerify over "header.claims" */
        ECDSA_SIG *es = ECDSA_SIG_new();
        ECDSA_SIG_set0(es, BN_bin2bn(sig, 32, NULL), BN_bin2bn(sig + 32, 32, NULL));
        unsigned char *der = NULL;
        int dl = i2d_ECDSA_SIG(es, &der);
        EVP_MD_CTX *md = EVP_MD_CTX_new();
        CHECK(EVP_DigestVerifyInit(md, NULL, EVP_sha256(), NULL, key) == 1);
        CHECK(EVP_DigestVerify(md, der, (size_t)dl, (unsigned char *)t, strlen(t)) == 1);
        EVP_MD_CTX_free(md);
        OPENSSL_free(der);
        ECDSA_SIG_free(es);
    }
    free(h);
    EVP_PKEY_free(key);
}

static void s_preview(void)
{
    CHECK(shard_push_preview_len("abc", 3, 100) == 3);
    CHECK(shard_push_preview_len("abc", 3, 2) == 2);
    const char *s = "\xc3\xa9\xf0\x9f\x98\x80z"; /* é 😀 z */
    CHECK(shard_push_preview_len(s, strlen(s), 1) == 2);
    CHECK(shard_push_preview_len(s, strlen(s), 2) == 6);
    CHECK(shard_push_preview_len(s, strlen(s), 3) == 7);
}

/* Status of one REQ. */
static const char *s_req(shard_t *shard, const char *payload)
{
    static char status[64];
    tst_out_clear();
    tst_handle(shard, 4, "REQ", "g/gw", "q", payload);
    shard_flush(shard);
    snprintf(status, sizeof status, "(none)");
    for (zmsg_t *m = zlist_first(tst_out); m; m = zlist_next(tst_out)) {
        zframe_t *f = zmsg_first(m);
        if (!zframe_streq(f, "REP"))
            continue;
        zmsg_next(m);
        zmsg_next(m);
        char *st = zframe_strdup(zmsg_next(m));
        snprintf(status, sizeof status, "%s", st);
        free(st);
    }
    return status;
}

static size_t s_targets(shard_t *shard, const char *user)
{
    shard_key_t prefix;
    shard_key_push(&prefix, user, NULL);
    size_t n = 0;
    shard_iter_t *it = shard_iter_new(shard_store(shard), &prefix);
    for (shard_iter_seek_first(it); shard_iter_valid(it); shard_iter_next(it))
        n++;
    shard_iter_destroy(&it);
    return n;
}

/* FWD push messages in tst_out for user. */
static int s_fwd_push(const char *user, int expect_cp)
{
    int n = 0;
    char key[40];
    snprintf(key, sizeof key, "u:%s", user);
    for (zmsg_t *m = zlist_first(tst_out); m; m = zlist_next(tst_out)) {
        if (!zframe_streq(zmsg_first(m), "FWD") || !zframe_streq(zmsg_next(m), key))
            continue;
        char *p = zframe_strdup(zmsg_next(m));
        json_t *j = json_loads(p, 0, NULL);
        const char *op = json_string_value(json_object_get(j, "op"));
        const char *preview = json_string_value(json_object_get(j, "preview"));
        if (op && strcmp(op, "push") == 0 && preview &&
            pl_utf8_count(preview, strlen(preview)) == (size_t)expect_cp &&
            json_integer_value(json_object_get(j, "seq")) >= 1)
            n++;
        json_decref(j);
        free(p);
    }
    return n;
}

static void s_shard(const char *dir)
{
    shard_t *shard = tst_open(dir, 10000);
    CHECK(shard != NULL);
    if (!shard)
        return;
    const char *hook =
        "{\"op\":\"push_register\",\"user\":\"bob\",\"target\":{\"kind\":\"webhook\","
        "\"url\":\"http://127.0.0.1:1/h\"}}";
    CHECK(strcmp(s_req(shard, hook), "ok") == 0);
    CHECK(strcmp(s_req(shard, hook), "ok") == 0); /* idempotent */
    CHECK(s_targets(shard, "bob") == 1);
    for (int i = 0; i < 25; i++) {
        char p[256];
        snprintf(p, sizeof p,
                 "{\"op\":\"push_register\",\"user\":\"carol\",\"target\":{\"kind\":\"webhook\","
                 "\"url\":\"http://127.0.0.1:1/%d\"}}",
                 i);
        CHECK(strcmp(s_req(shard, p), "ok") == 0);
    }
    CHECK(s_targets(shard, "carol") == SHARD_PUSH_TARGETS_MAX);
    CHECK(strcmp(s_req(shard, "{\"op\":\"push_register\",\"user\":\"bob\"}"), "bad_request") == 0);

    /* a dm message from alice: bob has no gateway, so a FWD push goes to u:bob */
    char text[400] = "";
    for (int i = 0; i < 30; i++)
        strcat(text, "h\xc3\xa9llo ");
    char send[600];
    snprintf(send, sizeof send,
             "{\"op\":\"send\",\"user\":\"alice\",\"device\":\"d\",\"conv\":\"dm:alice:bob\","
             "\"client_msg_id\":\"1\",\"text\":\"%s\"}",
             text);
    CHECK(strcmp(s_req(shard, send), "ok") == 0);
    CHECK(s_fwd_push("bob", 100) == 1);
    CHECK(s_fwd_push("alice", 100) == 0); /* never the sender */
    /* bob connected through a gateway: no push */
    tst_handle(shard, 5, "LOC", "g/gw", "e1", "1", "{\"full\":[\"bob\"]}");
    snprintf(send, sizeof send,
             "{\"op\":\"send\",\"user\":\"alice\",\"device\":\"d\",\"conv\":\"dm:alice:bob\","
             "\"client_msg_id\":\"2\",\"text\":\"again\"}");
    CHECK(strcmp(s_req(shard, send), "ok") == 0);
    CHECK(s_fwd_push("bob", 5) == 0);
    /* a FWD push for a user without targets or malformed: nothing happens */
    tst_handle(shard, 2, "FWD", "{\"op\":\"push\",\"user\":\"dave\",\"conv\":\"dm:a:b\"}");
    tst_handle(shard, 2, "FWD",
               "{\"op\":\"push\",\"user\":\"dave\",\"conv\":\"dm:dave:eve\","
               "\"seq\":1,\"from\":\"eve\",\"preview\":\"x\"}");

    /* The push outbox entry <S>Q<conv>\0bob waits for bob's shard's push_ack, which is
     * addressed to the conversation's shard: taken there even when bob's slot is another
     * shard's (the table below gives only bob's slot to shard 1). */
    shard_key_t qkey;
    char *qval = NULL;
    CHECK(shard_key_push_outbox(&qkey, "dm:alice:bob", "bob") == 0);
    CHECK(shard_store_get(shard_store(shard), &qkey, &qval, NULL) == 1);
    json_t *qj = qval ? json_loads(qval, 0, NULL) : NULL;
    const char *nonce = json_string_value(json_object_get(qj, "nonce"));
    CHECK(nonce != NULL);
    int bs = shard_slot_user("bob");
    CHECK(bs != shard_slot_conv("dm:alice:bob"));
    char table[128], ack[256];
    if (bs > 0 && bs < PL_SLOTS - 1)
        snprintf(table, sizeof table, "2 0-%d=0 %d-%d=1 %d-%d=0", bs - 1, bs, bs, bs + 1,
                 PL_SLOTS - 1);
    else if (bs == 0)
        snprintf(table, sizeof table, "2 0-0=1 1-%d=0", PL_SLOTS - 1);
    else
        snprintf(table, sizeof table, "2 0-%d=0 %d-%d=1", bs - 1, bs, bs);
    tst_handle(shard, 2, "TABLE", table);
    CHECK(!shard_owns(shard, 'u', "bob") && shard_owns(shard, 'c', "dm:alice:bob"));
    snprintf(ack, sizeof ack,
             "{\"op\":\"push_ack\",\"user\":\"bob\",\"conv\":\"dm:alice:bob\","
             "\"nonce\":\"%s\"}",
             nonce ? nonce : "");
    tst_handle(shard, 2, "FWD", ack);
    free(qval);
    qval = NULL;
    CHECK(shard_store_get(shard_store(shard), &qkey, &qval, NULL) == 0); /* acknowledged: gone */
    free(qval);
    json_decref(qj);
    shard_destroy(&shard);
}

/* FWD push_ack messages in tst_out for (user, conv). */
static int s_fwd_ack(const char *user, const char *conv)
{
    int n = 0;
    char key[80];
    snprintf(key, sizeof key, "c:%s", conv);
    for (zmsg_t *m = zlist_first(tst_out); m; m = zlist_next(tst_out)) {
        if (!zframe_streq(zmsg_first(m), "FWD") || !zframe_streq(zmsg_next(m), key))
            continue;
        char *p = zframe_strdup(zmsg_next(m));
        json_t *j = json_loads(p, 0, NULL);
        const char *op = json_string_value(json_object_get(j, "op"));
        const char *u = json_string_value(json_object_get(j, "user"));
        if (op && strcmp(op, "push_ack") == 0 && u && strcmp(u, user) == 0)
            n++;
        json_decref(j);
        free(p);
    }
    return n;
}

/* The preview in bob's q record of dm:alice:bob for his one target ("" when none). */
static void s_pending_preview(shard_t *shard, char *out, size_t cap)
{
    snprintf(out, cap, "%s", "");
    shard_key_t prefix;
    shard_key_push(&prefix, "bob", NULL);
    shard_iter_t *it = shard_iter_new(shard_store(shard), &prefix);
    shard_iter_seek_first(it);
    if (shard_iter_valid(it)) {
        size_t kl;
        const char *k = shard_iter_key(it, &kl);
        char hash[SHARD_KEY_MAX];
        snprintf(hash, sizeof hash, "%.*s", (int)(kl - prefix.len), k + prefix.len);
        shard_key_t qkey;
        char *v = NULL;
        if (shard_key_push_pending(&qkey, "bob", hash, "dm:alice:bob") == 0 &&
            shard_store_get(shard_store(shard), &qkey, &v, NULL) == 1) {
            json_t *rec = json_loads(v, 0, NULL);
            json_t *pl = json_loads(json_string_value(json_object_get(rec, "payload")), 0, NULL);
            snprintf(out, cap, "%s", json_string_value(json_object_get(pl, "preview")));
            json_decref(pl);
            json_decref(rec);
        }
        free(v);
    }
    shard_iter_destroy(&it);
}

/* A FWD push the member's shard took (q record stored, ack sent) but whose ack was lost
 * in a crash is resent by the conversation's shard after the restart: it is acked again,
 * never delivered a second time (the collapse entry in memory is gone by then: the
 * durable "taken" mark decides). A newer seq still goes out. */
static void s_resent_after_restart(const char *base)
{
    char dir[512];
    snprintf(dir, sizeof dir, "%s/resent", base);
    shard_t *shard = tst_open(dir, 10000);
    CHECK(shard != NULL);
    if (!shard)
        return;
    CHECK(strcmp(s_req(shard, "{\"op\":\"push_register\",\"user\":\"bob\",\"target\":{"
                              "\"kind\":\"webhook\",\"url\":\"http://127.0.0.1:1/r\"}}"),
                 "ok") == 0);
    const char *fwd = "{\"op\":\"push\",\"user\":\"bob\",\"conv\":\"dm:alice:bob\","
                      "\"seq\":%d,\"from\":\"alice\",\"preview\":\"%s\",\"nonce\":\"n%d\"}";
    char p[256], preview[64];
    tst_out_clear();
    snprintf(p, sizeof p, fwd, 7, "first", 7);
    tst_handle(shard, 2, "FWD", p);
    CHECK(s_fwd_ack("bob", "dm:alice:bob") == 1);
    s_pending_preview(shard, preview, sizeof preview);
    CHECK(strcmp(preview, "first") == 0);
    shard_destroy(&shard); /* as after a crash: the ack never reached the other shard */
    shard = tst_open(dir, 10000);
    CHECK(shard != NULL);
    if (!shard)
        return;
    tst_out_clear();
    snprintf(p, sizeof p, fwd, 7, "resent", 7);
    tst_handle(shard, 2, "FWD", p);
    CHECK(s_fwd_ack("bob", "dm:alice:bob") == 1); /* acked again */
    s_pending_preview(shard, preview, sizeof preview);
    CHECK(strcmp(preview, "first") == 0); /* not taken (and so not delivered) twice */
    tst_out_clear();
    snprintf(p, sizeof p, fwd, 8, "newer", 8);
    tst_handle(shard, 2, "FWD", p);
    CHECK(s_fwd_ack("bob", "dm:alice:bob") == 1);
    s_pending_preview(shard, preview, sizeof preview);
    CHECK(strcmp(preview, "newer") == 0);
    shard_destroy(&shard);
}

int main(void)
{
    tst_init("shard_push_test");
    s_rfc8291();
    s_vapid();
    s_preview();
    s_shard(tst_dir());
    s_resent_after_restart(tst_dir());
    return tst_finish("shard_push_test");
}
