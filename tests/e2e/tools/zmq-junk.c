/* zmq-junk — sends malformed multipart messages to a running router, for
 * tests/e2e/13-robustness.test.js (bad input between roles must be answered or dropped
 * with a log line, never crash a process, never change stored data).
 *
 *   zmq-junk [--gw-key SECRET --shard-key SECRET --router-key PUB]
 *            <front endpoint> <back endpoint> <gateway identity> <user a> <user b>
 *            <device of a> <conv of a and b>
 *
 * The router admits only CURVE clients with an admitted key (docs/internals.md "Security
 * between roles"). Without keys every socket speaks plain ZeroMQ and must receive nothing
 * (the handshake fails; the test checks "received 0"). With keys (a gateway key, and a
 * shard key whose id is not in the slot table, e.g. s/99) the junk reaches the router's
 * decoders as a fake gateway and a fake shard would.
 *
 * Connects to the router's front as a fake gateway (identity g/junk, then no identity)
 * and to its back as a fake shard (identity s/99, then no identity: never a real
 * shard's identity, and never a HB naming a real shard id, which would take its place).
 * Every request payload is a valid template with one field made wrong (type, empty,
 * over-long, NUL inside) or missing, so none of them may change anything. Prints how
 * many messages it sent and received; exits 0 unless it could not set up.
 *
 * Messages are written in the text form of proto/pl_msgtext.h and sent as their binary
 * messages (pl_msg.h), so the malformed payloads reach the shards' handlers; a text that
 * is no message of the protocol goes as its raw frames, and every few messages a binary
 * one also goes cut short, with an unknown kind and with a field length past its end, so
 * the decoders of the router and the shards get junk too. */
#include <czmq.h>
#include <errno.h>
#include <jansson.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <zmq.h>

#include "pl_msg.h"
#include "pl_msgtext.h"

#define MAXP 12

static long s_sent, s_failed;
static void *s_back[2]; /* the fake shard's sockets (the others are the fake gateway's) */

static void s_raw(void *sock, int count, const char *const *parts, const size_t *lens)
{
    for (int i = 0; i < count; i++) {
        int flags = i + 1 < count ? ZMQ_SNDMORE : 0;
        if (zmq_send(sock, parts[i], lens[i], flags) < 0) {
            if (!s_failed++ || zmq_errno() != EAGAIN)
                fprintf(stderr, "zmq-junk: send failed: %s\n", zmq_strerror(zmq_errno()));
            return;
        }
    }
    s_sent++;
}

/* The binary form of the text message, then (every 5th) binary junk made from it: cut
 * short, an unknown kind, the first field's length past the end. Frames with a NUL (no
 * text form) or texts that are no message go as they are. */
static void s_sendn(void *sock, int count, const char *const *parts, const size_t *lens)
{
    static long k;
    bool back = sock == s_back[0] || sock == s_back[1];
    /* frames with explicit lengths need not be NUL-terminated: the text form gets copies;
     * a frame with a NUL or over 64 KiB goes raw with its message */
    char *f[MAXP] = {0};
    int nf = 0;
    for (; nf < count && nf < MAXP; nf++) {
        if (lens[nf] > 65536 || memchr(parts[nf], '\0', lens[nf]) ||
            !(f[nf] = malloc(lens[nf] + 1)))
            break;
        memcpy(f[nf], parts[nf], lens[nf]);
        f[nf][lens[nf]] = '\0';
    }
    zmsg_t *m = nf == count ? pl_msgtext_to_binv(back ? PL_HOP_SHARD_ROUTER : PL_HOP_GW_ROUTER,
                                                 count, (const char *const *)f)
                            : NULL;
    for (int i = 0; i < nf; i++)
        free(f[i]);
    if (!m) {
        s_raw(sock, count, parts, lens);
        return;
    }
    const char *bp[2];
    size_t bl[2];
    int n = 0;
    for (zframe_t *fr = zmsg_first(m); fr && n < 2; fr = zmsg_next(m), n++) {
        bp[n] = (const char *)zframe_data(fr);
        bl[n] = zframe_size(fr);
    }
    s_raw(sock, n, bp, bl);
    if (k++ % 5 == 0 && bl[n - 1] > PL_MSG_HDR) {
        char *copy = malloc(bl[n - 1]);
        if (copy) {
            size_t full = bl[n - 1];
            memcpy(copy, bp[n - 1], full);
            bp[n - 1] = copy;
            bl[n - 1] = full - 1; /* cut short */
            s_raw(sock, n, bp, bl);
            bl[n - 1] = PL_MSG_HDR - 1;
            s_raw(sock, n, bp, bl);
            bl[n - 1] = full;
            copy[1] = (char)0xEE; /* unknown kind */
            s_raw(sock, n, bp, bl);
            copy[1] = ((const char *)zframe_data(zmsg_last(m)))[1];
            memset(copy + PL_MSG_HDR, 0xff, 4); /* first field past the end */
            s_raw(sock, n, bp, bl);
            free(copy);
        }
    }
    zmsg_destroy(&m);
}

/* Send NUL-terminated frames; the list ends with NULL. */
static void s_send(void *sock, ...)
{
    const char *parts[MAXP];
    size_t lens[MAXP];
    int n = 0;
    va_list ap;
    va_start(ap, sock);
    for (const char *s = va_arg(ap, const char *); s && n < MAXP; s = va_arg(ap, const char *)) {
        parts[n] = s;
        lens[n] = strlen(s);
        n++;
    }
    va_end(ap);
    s_sendn(sock, n, parts, lens);
}

static void *s_sock(void *ctx, const char *endpoint, const char *ident, zcert_t *cert,
                    const char *server_key)
{
    void *s = zmq_socket(ctx, ZMQ_DEALER);
    int linger = 3000, tmo = 3000;
    if (!s)
        return NULL;
    if (cert) {
        zcert_apply(cert, s);
        zmq_setsockopt(s, ZMQ_CURVE_SERVERKEY, server_key, 40);
    } else {
        /* a plain socket never gets past the router's handshake: nothing to wait for */
        linger = 0;
        tmo = 0;
    }
    zmq_setsockopt(s, ZMQ_LINGER, &linger, sizeof linger);
    zmq_setsockopt(s, ZMQ_SNDTIMEO, &tmo, sizeof tmo);
    if (ident)
        zmq_setsockopt(s, ZMQ_ROUTING_ID, ident, strlen(ident));
    if (zmq_connect(s, endpoint) != 0) {
        zmq_close(s);
        return NULL;
    }
    return s;
}

/* Values that are wrong for every field of every op (raw JSON text). */
static const char *const s_bad[] = {
    "123",
    "null",
    "{}",
    "true",
    "\"\"",
    "-1",
    "1.5",
    "9223372036854775807",
    "-9223372036854775808",
    "1e300",
    "\"a\\u0000b\"",
    "[1,null,{}]",
    "[[[[[\"x\"]]]]]",
    NULL,
};

static char *s_long_string(size_t n, char c)
{
    char *s = malloc(n + 3);
    if (!s)
        return NULL;
    s[0] = '"';
    memset(s + 1, c, n);
    s[n + 1] = '"';
    s[n + 2] = 0;
    return s;
}

/* For every field of tmpl but "op": each bad value, then the field missing. */
static void s_mutants(void *sock, const char *verb, const char *key, const char *tmpl_text,
                      bool fwd)
{
    json_t *tmpl = json_loads(tmpl_text, 0, NULL);
    if (!tmpl) {
        fprintf(stderr, "zmq-junk: bad template %s\n", tmpl_text);
        return;
    }
    char *longs = s_long_string(200000, 'a');
    const char *k;
    json_t *v;
    static int reqid = 1000000;
    json_object_foreach(tmpl, k, v)
    {
        if (strcmp(k, "op") == 0)
            continue;
        for (int i = -2; s_bad[i < 0 ? 0 : i]; i++) {
            json_t *m = json_deep_copy(tmpl);
            const char *bad = i == -2 ? longs : i == -1 ? NULL : s_bad[i];
            if (bad) {
                json_t *bv = json_loads(bad, JSON_DECODE_ANY | JSON_ALLOW_NUL, NULL);
                if (!bv || json_equal(bv, v) ||
                    (json_is_array(v) && json_is_array(bv) && json_array_size(bv) == 0)) {
                    json_decref(bv);
                    json_decref(m);
                    continue;
                }
                json_object_set_new(m, k, bv);
            } else {
                json_object_del(m, k);
            }
            char *text = json_dumps(m, JSON_COMPACT | JSON_ENCODE_ANY);
            char rid[24];
            snprintf(rid, sizeof rid, "%d", reqid++);
            if (text) {
                if (fwd)
                    s_send(sock, verb, key, text, (char *)NULL);
                else
                    s_send(sock, verb, key, rid, text, (char *)NULL);
            }
            free(text);
            json_decref(m);
        }
    }
    free(longs);
    json_decref(tmpl);
}

/* Raw payloads that are not a JSON object (or not one a shard can use). */
static void s_raw_payloads(void *sock, const char *key, bool fwd)
{
    static const char *const raw[] = {
        "",
        "not json",
        "[1]",
        "null",
        "\"op\"",
        "42",
        "{\"op\":5}",
        "{\"op\":\"send\"",
        "{\"op\":null}",
        "{\"op\":\"frobnicate\"}",
        "{\"op\":\"send\",\"op\":\"sync\"}",
        "{\"op\":\"\\ud800\"}",
        "{\"op\":\"sync\",\"conv\":\"\\udc00\\ud800\"}",
        "\xff\xfe\xfd",
        "{\"op\":\"send\",\"text\":\"\xc3\"}",
        "{\"op\":[\"send\"]}",
        "{}",
        NULL,
    };
    for (int i = 0; raw[i]; i++) {
        if (fwd)
            s_send(sock, "FWD", key, raw[i], (char *)NULL);
        else
            s_send(sock, "REQ", key, "77", raw[i], (char *)NULL);
    }
    /* 100k '[' and a NUL inside a payload */
    size_t n = 100000;
    char *deep = malloc(n + 1);
    if (deep) {
        memset(deep, '[', n);
        deep[n] = 0;
        if (fwd)
            s_send(sock, "FWD", key, deep, (char *)NULL);
        else
            s_send(sock, "REQ", key, "78", deep, (char *)NULL);
        free(deep);
    }
    const char nul[] = "{\"op\":\"sync\"}\0{\"op\":\"send\"}";
    const char *p[] = {"REQ", key, "79", nul};
    size_t l[] = {3, strlen(key), 2, sizeof nul - 1};
    if (fwd) {
        p[2] = nul;
        l[2] = sizeof nul - 1;
        s_sendn(sock, 3, (const char *const[]){"FWD", key, nul},
                (size_t[]){3, strlen(key), sizeof nul - 1});
    } else
        s_sendn(sock, 4, p, l);
}

/* Bad frame counts, unknown verbs, empty frames, NULs, a huge frame. */
static void s_framing(void *sock, bool back, const char *gw)
{
    static const char z[] = "\0\0\0";
    s_send(sock, "", (char *)NULL);
    s_send(sock, "", "", "", (char *)NULL);
    s_send(sock, "FROB", "x", (char *)NULL);
    s_send(sock, "hb", "1", (char *)NULL);
    s_send(sock, "REQ", (char *)NULL);
    s_send(sock, "REQ", "u:x", (char *)NULL);
    s_send(sock, "REQ", "", "1", "{}", (char *)NULL);
    s_send(sock, "REQ", "u:x", "1", "{}", "extra", (char *)NULL);
    s_send(sock, "REQ", "u:x", "1", "{}", "a", "b", "c", "d", "e", "f", (char *)NULL);
    s_send(sock, "LOC", (char *)NULL);
    s_send(sock, "LOC", "1", "2", (char *)NULL);
    s_send(sock, "HEALTH", (char *)NULL);
    s_send(sock, "HEALTH", "1", "2", (char *)NULL);
    s_send(sock, "HB", (char *)NULL);
    s_send(sock, "HB", "", "", (char *)NULL);
    s_send(sock, "HELLO", (char *)NULL);
    s_send(sock, "REP", (char *)NULL);
    s_send(sock, "EVT", gw, (char *)NULL);
    s_send(sock, "SNAP", (char *)NULL);
    s_send(sock, "FWD", (char *)NULL);
    s_send(sock, "FWD", "", "{}", (char *)NULL);
    s_send(sock, "TABLE", "garbage", (char *)NULL);
    s_sendn(sock, 2, (const char *const[]){"HB", z}, (size_t[]){2, 3});
    s_sendn(sock, 3, (const char *const[]){z, z, z}, (size_t[]){3, 3, 3});
    s_sendn(sock, 4, (const char *const[]){"REQ", z, "1", "{}"}, (size_t[]){3, 3, 1, 2});
    s_sendn(sock, 4, (const char *const[]){"REQ", "u:x", z, "{}"}, (size_t[]){3, 3, 3, 2});
    /* an 8 MiB frame */
    size_t big = 8u << 20;
    char *b = malloc(big);
    if (b) {
        memset(b, 'x', big);
        s_sendn(sock, 4, (const char *const[]){"REQ", "u:x", "2", b}, (size_t[]){3, 3, 1, big});
        s_sendn(sock, 4, (const char *const[]){"REQ", b, "3", "{}"}, (size_t[]){3, big, 1, 2});
        s_sendn(sock, 3, (const char *const[]){"HEALTH", b, "x"}, (size_t[]){6, big, 1});
        s_sendn(sock, 4, (const char *const[]){"HB", b, "1", "x"}, (size_t[]){2, big, 1, 1});
        if (back) {
            s_sendn(sock, 5, (const char *const[]){"REP", b, "1", "ok", "{}"},
                    (size_t[]){3, big, 1, 2, 2});
            s_sendn(sock, 5, (const char *const[]){"REP", gw, b, "ok", "{}"},
                    (size_t[]){3, strlen(gw), big, 2, 2});
            s_sendn(sock, 5, (const char *const[]){"EVT", gw, b, "", "{}"},
                    (size_t[]){3, strlen(gw), big, 0, 2});
            s_sendn(sock, 3, (const char *const[]){"FWD", "u:x", b}, (size_t[]){3, 3, big});
            s_sendn(sock, 2, (const char *const[]){"HB", b}, (size_t[]){2, big});
        }
        free(b);
    }
}

/* Fake-shard messages the router relays to a real gateway or shard. */
static void s_back_specific(void *sock, const char *gw, const char *a)
{
    static const char *const ids[] = {"99", "-1", "00", "0x1", "1e0", " 1", "99999", "", NULL};
    for (int i = 0; ids[i]; i++) {
        s_send(sock, "HB", ids[i], (char *)NULL);
        s_send(sock, "HELLO", ids[i], (char *)NULL);
    }
    /* answers to requests nobody made, with odd reqids, statuses and bodies */
    static const char *const reqids[] = {
        "999999999", "abc", "", "-1", "18446744073709551616", "123456789012345678901234567890",
        NULL};
    static const char *const statuses[] = {
        "ok", "bad_request", "", "a_status_that_is_longer_than_32_bytes_xx", "\"", NULL};
    static const char *const bodies[] = {"{", "{}", "", "not json", "\xff\xfe", "{\"x\":1", NULL};
    for (int i = 0; reqids[i]; i++)
        for (int j = 0; statuses[j]; j++)
            for (int k = 0; bodies[k]; k++)
                s_send(sock, "REP", gw, reqids[i], statuses[j], bodies[k], (char *)NULL);
    s_send(sock, "REP", "g/nobody", "1", "ok", "{}", (char *)NULL);
    s_send(sock, "REP", "", "1", "ok", "{}", (char *)NULL);
    s_send(sock, "REP", gw, "1", (char *)NULL);
    s_send(sock, "REP", gw, "1", "ok", (char *)NULL);
    /* events with malformed recipient lists and skips, for users nobody holds */
    static const char *const tos[] = {"",
                                      "not json",
                                      "{}",
                                      "[1,null,{},[]]",
                                      "[\"nobody_x\"]",
                                      "\"nobody_x\"",
                                      "[\"\\u0000\"]",
                                      "[[[[[[[[[[[[",
                                      NULL};
    static const char *const skips[] = {"", "/", "nobody_x", "nobody_x/", "a/b/c", NULL};
    for (int i = 0; tos[i]; i++)
        for (int j = 0; skips[j]; j++)
            s_send(sock, "EVT", gw, tos[i], skips[j], "{\"type\":\"junk\"}", (char *)NULL);
    s_send(sock, "EVT", "g/nobody", "[]", "", "{}", (char *)NULL);
    s_send(sock, "EVT", gw, "[]", (char *)NULL);
    s_send(sock, "SNAP", "g/nobody", (char *)NULL);
    s_send(sock, "SNAP", "", (char *)NULL);
    s_send(sock, "SNAP", gw, "extra", (char *)NULL);
    /* shard-to-shard: FWD payloads to a's shard */
    char key[64];
    snprintf(key, sizeof key, "u:%s", a);
    s_raw_payloads(sock, key, true);
}

/* Fake-gateway LOC and HB payloads. */
static void s_front_specific(void *sock)
{
    static const char *const seqs[] = {
        "1", "0", "",  "-1", "abc", "18446744073709551616", "99999999999999999999999",
        "2", "1", NULL};
    static const char *const locs[] = {"{\"add\":5}",
                                       "{\"add\":[1,null,{}]}",
                                       "{\"full\":\"x\"}",
                                       "{\"del\":[[]]}",
                                       "{\"add\":[\"\"]}",
                                       "not json",
                                       "[]",
                                       "{\"full\":[\"nobody_x\",\"nobody_x\"]}",
                                       "{}",
                                       "",
                                       "{\"add\":[\"a\\u0000b\"],\"del\":{}}",
                                       NULL};
    for (int i = 0; seqs[i]; i++) {
        s_send(sock, "HB", "junkepoch", seqs[i], (char *)NULL);
        for (int j = 0; locs[j]; j++)
            s_send(sock, "LOC", "junkepoch", seqs[i], locs[j], (char *)NULL);
    }
    s_send(sock, "LOC", "", "", "", (char *)NULL);
    s_send(sock, "HB", "other-epoch", "5", (char *)NULL);
    s_send(sock, "HEALTH", "", (char *)NULL);
    s_send(sock, "HEALTH", "1", (char *)NULL);
}

static void s_requests(void *sock, const char *a, const char *b, const char *dev, const char *conv)
{
    char t[16][512];
    int n = 0;
    static const char hash[] =
        "$argon2id$v=19$m=65536,t=2,p=1$c29tZXNhbHRzb21lc2FsdA$RdescudvJCsgt3ub+b+dWRWJTmaaJObG";
    static const char th[] = "0000000000000000000000000000000000000000000000000000000000000000";
    snprintf(t[n++], 512, "{\"op\":\"user_create\",\"user\":\"%s\",\"hash\":\"%s\"}", a, hash);
    snprintf(t[n++], 512, "{\"op\":\"user_get\",\"user\":\"%s\"}", a);
    snprintf(t[n++], 512, "{\"op\":\"user_exists\",\"user\":\"%s\"}", a);
    snprintf(t[n++], 512,
             "{\"op\":\"token_check\",\"user\":\"%s\",\"device\":\"%s\",\"th\":\"%s\"}", a, dev,
             th);
    snprintf(t[n++], 512, "{\"op\":\"conv_list\",\"user\":\"%s\"}", a);
    snprintf(t[n++], 512,
             "{\"op\":\"send\",\"user\":\"%s\",\"device\":\"%s\",\"conv\":\"%s\","
             "\"client_msg_id\":\"junk-1\",\"text\":\"junk\"}",
             a, dev, conv);
    snprintf(t[n++], 512,
             "{\"op\":\"sync\",\"user\":\"%s\",\"conv\":\"%s\",\"after\":0,\"limit\":10}", a, conv);
    snprintf(t[n++], 512,
             "{\"op\":\"history\",\"user\":\"%s\",\"conv\":\"%s\",\"before\":5,\"limit\":10}", a,
             conv);
    snprintf(t[n++], 512, "{\"op\":\"conv_info\",\"user\":\"%s\",\"convs\":[\"%s\"]}", a, conv);
    snprintf(t[n++], 512,
             "{\"op\":\"group_create\",\"user\":\"%s\",\"device\":\"%s\","
             "\"conv\":\"g:AAAAAAAAAAAAAAAAAAAAAA\",\"title\":\"t\",\"members\":[\"%s\"]}",
             a, dev, b);
    snprintf(t[n++], 512,
             "{\"op\":\"group_add\",\"user\":\"%s\",\"device\":\"%s\","
             "\"conv\":\"g:BBBBBBBBBBBBBBBBBBBBBB\",\"target\":\"%s\"}",
             a, dev, b);
    snprintf(t[n++], 512,
             "{\"op\":\"group_remove\",\"user\":\"%s\",\"device\":\"%s\","
             "\"conv\":\"g:BBBBBBBBBBBBBBBBBBBBBB\",\"target\":\"%s\"}",
             a, dev, b);
    snprintf(t[n++], 512,
             "{\"op\":\"read\",\"user\":\"%s\",\"device\":\"%s\",\"conv\":\"%s\",\"seq\":1}", a,
             dev, conv);
    snprintf(t[n++], 512, "{\"op\":\"typing\",\"user\":\"%s\",\"device\":\"%s\",\"conv\":\"%s\"}",
             a, dev, conv);
    snprintf(t[n++], 512, "{\"op\":\"presence_get\",\"user\":\"%s\",\"users\":[\"%s\"]}", a, b);
    snprintf(t[n++], 512,
             "{\"op\":\"presence_report\",\"online\":[\"nobody_x\"],"
             "\"offline\":[[\"nobody_y\",1,1]],\"full\":[\"nobody_x\"]}");
    char ukey[64], ckey[600];
    snprintf(ukey, sizeof ukey, "u:%s", a);
    snprintf(ckey, sizeof ckey, "c:%s", conv);
    for (int i = 0; i < n; i++) {
        bool is_conv = strstr(t[i], "\"conv\"") && !strstr(t[i], "conv_info");
        s_mutants(sock, "REQ", is_conv ? ckey : ukey, t[i], false);
    }
    /* the same ops at keys of every shard (the shard only sees the payload) */
    for (int i = 0; i < 64; i++) {
        char key[32];
        snprintf(key, sizeof key, "u:k%d", i);
        s_send(sock, "REQ", key, "5", "{\"op\":\"sync\",\"user\":1}", (char *)NULL);
        s_send(sock, "REQ", key, "6", "{\"op\":\"presence_report\",\"online\":{}}", (char *)NULL);
        s_send(sock, "REQ", key, "7", "{\"op\":\"conv_info\",\"convs\":[1]}", (char *)NULL);
        s_send(sock, "REQ", key, "8", "[]", (char *)NULL);
    }
    s_raw_payloads(sock, ukey, false);
    s_raw_payloads(sock, ckey, false);
}

static void s_fwd_mutants(void *sock, const char *a, const char *conv)
{
    char t[3][512], key[64];
    snprintf(key, sizeof key, "u:%s", a);
    snprintf(t[0], 512,
             "{\"op\":\"idx_add\",\"user\":\"%s\",\"conv\":\"%s\",\"kind\":\"dm\","
             "\"from\":\"c:%s\",\"nonce\":\"0123456789abcdef\"}",
             a, conv, conv);
    snprintf(t[1], 512,
             "{\"op\":\"idx_del\",\"user\":\"%s\",\"conv\":\"dm:%s:zzzz_nobody\",\"kind\":\"dm\","
             "\"from\":\"c:dm:%s:zzzz_nobody\",\"nonce\":\"0123456789abcdef\"}",
             a, a, a);
    snprintf(t[2], 512,
             "{\"op\":\"idx_ack\",\"user\":\"%s\",\"conv\":\"%s\",\"nonce\":\"0123456789abcdef\"}",
             a, conv);
    for (int i = 0; i < 3; i++)
        s_mutants(sock, "FWD", i == 2 ? "c:x" : key, t[i], true);
}

static long s_drain(void *sock, int ms)
{
    long n = 0;
    zmq_pollitem_t it = {sock, 0, ZMQ_POLLIN, 0};
    while (zmq_poll(&it, 1, ms) > 0) {
        zmq_msg_t m;
        zmq_msg_init(&m);
        if (zmq_msg_recv(&m, sock, ZMQ_DONTWAIT) >= 0 && !zmq_msg_more(&m))
            n++;
        zmq_msg_close(&m);
    }
    return n;
}

int main(int argc, char **argv)
{
    zsys_handler_set(NULL);
    zcert_t *gk = NULL, *sk = NULL;
    char server_key[41] = "";
    int i = 1;
    for (; i + 1 < argc && !strncmp(argv[i], "--", 2); i += 2) {
        if (!strcmp(argv[i], "--gw-key"))
            gk = zcert_load(argv[i + 1]);
        else if (!strcmp(argv[i], "--shard-key"))
            sk = zcert_load(argv[i + 1]);
        else if (!strcmp(argv[i], "--router-key")) {
            zcert_t *rk = zcert_load(argv[i + 1]);
            if (rk)
                snprintf(server_key, sizeof server_key, "%s", zcert_public_txt(rk));
            zcert_destroy(&rk);
        } else
            break;
    }
    if (argc - i != 7 || ((gk || sk) && strlen(server_key) != 40)) {
        fprintf(stderr, "usage: zmq-junk [--gw-key SECRET --shard-key SECRET --router-key PUB] "
                        "<front> <back> <gw identity> <user a> <user b> <device of a> "
                        "<conv of a and b>\n");
        return 2;
    }
    argv += i - 1;
    const char *front = argv[1], *back = argv[2], *gw = argv[3], *a = argv[4], *b = argv[5],
               *dev = argv[6], *conv = argv[7];
    void *ctx = zmq_ctx_new();
    void *fg = ctx ? s_sock(ctx, front, "g/junk", gk, server_key) : NULL;
    void *fn = ctx ? s_sock(ctx, front, NULL, gk, server_key) : NULL;
    void *bs = ctx ? s_sock(ctx, back, "s/99", sk, server_key) : NULL;
    void *bn = ctx ? s_sock(ctx, back, NULL, sk, server_key) : NULL;
    s_back[0] = bs;
    s_back[1] = bn;
    if (!fg || !fn || !bs || !bn) {
        fprintf(stderr, "zmq-junk: cannot set up sockets\n");
        return 1;
    }
    /* fake gateway, with and without identity */
    s_framing(fg, false, gw);
    s_front_specific(fg);
    s_requests(fg, a, b, dev, conv);
    s_framing(fn, false, gw);
    s_front_specific(fn);
    s_send(fn, "REQ", "u:x", "1", "{\"op\":\"user_get\",\"user\":5}", (char *)NULL);
    /* fake shard, with and without identity */
    s_framing(bs, true, gw);
    s_back_specific(bs, gw, a);
    s_fwd_mutants(bs, a, conv);
    s_framing(bn, true, gw);
    s_back_specific(bn, gw, a);
    long got = s_drain(fg, 1500) + s_drain(fn, 200) + s_drain(bs, 200) + s_drain(bn, 200);
    printf("zmq-junk: sent %ld messages (%ld not sent), received %ld\n", s_sent, s_failed, got);
    zmq_close(fg);
    zmq_close(fn);
    zmq_close(bs);
    zmq_close(bn);
    zmq_ctx_term(ctx);
    zcert_destroy(&gk);
    zcert_destroy(&sk);
    return 0;
}
