/* shard_store_test — the shard's store and conversation logic against a real RocksDB in
 * a temporary folder, driven through shard_handle() with a capturing sender (no
 * sockets): keys and their order, seq assignment, group commit, idempotency, sync and
 * history paging with `more`, counters across reopen, failed writes, conv_info, the
 * conversation index outbox, accounts and the location table. */
#include <czmq.h>
#include <rocksdb/c.h>
#include <jansson.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "accounts.h"
#include "conv.h"
#include "convert.h"
#include "keys.h"
#include "pl_hash.h"
#include "loc.h"
#include "msgval.h"
#include "outbox.h"
#include "pl_log.h"
#include "pl_msg.h"
#include "pl_msgtext.h"
#include "shard.h"
#include "test_support.h"
#include "store.h"

static void s_req(shard_t *shard, const char *reqid, const char *payload)
{
    tst_handle(shard, 4, "REQ", "g/gw1", reqid, payload);
}

/* Next captured message with frame 0 == cmd (others before it are discarded); NULL if
 * none. Caller destroys. */
static zmsg_t *s_next(const char *cmd)
{
    zmsg_t *m;
    while ((m = zlist_pop(tst_out))) {
        char *c = zmsg_popstr(m);
        bool match = c && strcmp(c, cmd) == 0;
        free(c);
        /* FWD push (push notifications, tested in push_test.c) is not this test's business */
        if (match && strcmp(cmd, "FWD") == 0 && zmsg_last(m)) {
            char *pl = zframe_strdup(zmsg_last(m));
            match = !pl || !strstr(pl, "\"op\":\"push\"");
            free(pl);
        }
        if (match)
            return m;
        zmsg_destroy(&m);
    }
    return NULL;
}

/* Pop the next REP; returns its status (static buffer) and the parsed body in *body
 * (JSON for ok, NULL otherwise); reqid checked when given. */
static const char *s_rep(const char *reqid, json_t **body)
{
    static char status[64];
    *body = NULL;
    zmsg_t *m = s_next("REP");
    if (!m)
        return "(none)";
    char *gw = zmsg_popstr(m), *rid = zmsg_popstr(m), *st = zmsg_popstr(m), *text = zmsg_popstr(m);
    /* A reply carrying another request's id is a failure (the order check rests on it). */
    if (reqid) {
        CHECK(rid && strcmp(rid, reqid) == 0);
        if (!rid || strcmp(rid, reqid) != 0)
            fprintf(stderr, "  reply to %s where %s was expected\n", rid ? rid : "(none)", reqid);
    }
    CHECK(gw && strcmp(gw, "g/gw1") == 0);
    snprintf(status, sizeof(status), "%s", st ? st : "(no status)");
    if (st && strcmp(st, "ok") == 0)
        *body = text ? json_loads(text, 0, NULL) : NULL;
    free(gw);
    free(rid);
    free(st);
    free(text);
    zmsg_destroy(&m);
    return status;
}

static json_int_t s_int(json_t *obj, const char *name)
{
    return json_integer_value(json_object_get(obj, name));
}

static void s_send(shard_t *shard, const char *reqid, const char *user, const char *conv,
                   const char *cmid, const char *text)
{
    json_t *j = json_pack("{s:s,s:s,s:s,s:s,s:s,s:s}", "op", "send", "user", user, "device",
                          "phone", "conv", conv, "client_msg_id", cmid, "text", text);
    char *p = json_dumps(j, JSON_COMPACT);
    s_req(shard, reqid, p);
    free(p);
    json_decref(j);
}

/* Send and commit one message; returns its seq (or -1 with the status logged). */
static json_int_t s_send1(shard_t *shard, const char *user, const char *conv, const char *cmid,
                          const char *text, json_int_t *ts)
{
    json_t *body;
    s_send(shard, "r", user, conv, cmid, text);
    shard_flush(shard);
    const char *st = s_rep("r", &body);
    if (strcmp(st, "ok") != 0) {
        fprintf(stderr, "  send: %s\n", st);
        return -1;
    }
    json_int_t seq = s_int(body, "seq");
    if (ts)
        *ts = s_int(body, "ts");
    json_decref(body);
    tst_out_clear();
    return seq;
}

/* sync/history: returns the msgs seqs into seqs[] (count), and more. */
static int s_page(shard_t *shard, const char *payload, json_int_t *seqs, int max, bool *more)
{
    json_t *body;
    s_req(shard, "p", payload);
    const char *st = s_rep("p", &body);
    if (strcmp(st, "ok") != 0) {
        fprintf(stderr, "  page: %s\n", st);
        return -1;
    }
    json_t *msgs = json_object_get(body, "msgs");
    int n = (int)json_array_size(msgs);
    for (int i = 0; i < n && i < max; i++)
        seqs[i] = s_int(json_array_get(msgs, i), "seq");
    *more = json_is_true(json_object_get(body, "more"));
    json_decref(body);
    return n;
}

/* The raw body of the next REP (ok or not); NULL when none. Caller frees. */
static char *s_rep_text(void)
{
    zmsg_t *m = s_next("REP");
    if (!m)
        return NULL;
    for (int i = 0; i < 3; i++) /* gw, reqid, status */
        free(zmsg_popstr(m));
    char *text = zmsg_popstr(m);
    zmsg_destroy(&m);
    return text;
}

/* Message values of both formats in one conversation (msgval.h): a JSON value of the
 * older versions stored at seq 1 is served verbatim; a new send is stored as version 2
 * (0x02 first, smaller than its event) and served as exactly the event its EVT carried; repeats
 * of both answer their first seq and ts; a corrupt value is left out of a page. */
static void test_msgval(const char *dir)
{
    shard_t *shard = tst_open(dir, 10000);
    CHECK(shard != NULL);
    if (!shard)
        return;
    const char *conv = "dm:alice:bob";
    static const char old[] = "{\"type\":\"msg\",\"conv\":\"dm:alice:bob\",\"seq\":1,"
                              "\"from\":\"alice\",\"device\":\"d0\",\"text\":\"from v3\","
                              "\"ts\":1700000000000,\"client_msg_id\":\"old1\"}";
    shard_key_t k;
    shard_key_msg(&k, conv, 1);
    CHECK(shard_store_put(shard_store(shard), &k, old, sizeof old - 1, false) == 0);
    shard_key_idem(&k, conv, "alice", "old1");
    char be[8];
    shard_be64_put(be, 1);
    CHECK(shard_store_put(shard_store(shard), &k, be, 8, false) == 0);
    tst_handle(shard, 5, "LOC", "g/a", "e1", "1", "{\"full\":[\"alice\",\"bob\"]}");
    s_send(shard, "n", "bob", conv, "new1", "from \"v4\" \xc3\xa9");
    shard_flush(shard);
    char *event = NULL;
    json_int_t ts = 0;
    zmsg_t *msg;
    while ((msg = zlist_pop(tst_out))) {
        char *cmd = zmsg_popstr(msg);
        if (strcmp(cmd, "EVT") == 0) {
            for (int i = 0; i < 3; i++) /* gw, to, skip */
                free(zmsg_popstr(msg));
            free(event);
            event = zmsg_popstr(msg);
        } else if (strcmp(cmd, "REP") == 0) {
            free(zmsg_popstr(msg));
            char *rid = zmsg_popstr(msg), *st = zmsg_popstr(msg), *text = zmsg_popstr(msg);
            json_t *b = json_loads(text, 0, NULL);
            CHECK(strcmp(rid, "n") == 0 && strcmp(st, "ok") == 0 && s_int(b, "seq") == 2);
            ts = s_int(b, "ts");
            json_decref(b);
            free(rid);
            free(st);
            free(text);
        }
        free(cmd);
        zmsg_destroy(&msg);
    }
    CHECK(event != NULL && ts > 0);
    if (!event) {
        shard_destroy(&shard);
        return;
    }
    /* stored as version 2: version byte and ts, then the event after its seq (the head,
     * conv and seq are not stored: smaller than the event) */
    char *val = NULL;
    size_t vlen = 0;
    shard_key_msg(&k, conv, 2);
    CHECK(shard_store_get(shard_store(shard), &k, &val, &vlen) == 1);
    CHECK(val && val[0] == SHARD_MSGVAL_V2 && vlen + 30 < strlen(event));
    free(val);
    /* sync and history: the old value verbatim, the new one as its event */
    char want[1024];
    snprintf(want, sizeof want, "{\"msgs\":[%s,%s],\"more\":false}", old, event);
    s_req(shard, "s", "{\"op\":\"sync\",\"user\":\"bob\",\"conv\":\"dm:alice:bob\"}");
    char *text = s_rep_text();
    CHECK(text && strcmp(text, want) == 0);
    free(text);
    s_req(shard, "h", "{\"op\":\"history\",\"user\":\"bob\",\"conv\":\"dm:alice:bob\"}");
    text = s_rep_text();
    CHECK(text && strcmp(text, want) == 0);
    free(text);
    /* repeats of both: their first seq and ts */
    json_int_t rts = 0;
    CHECK(s_send1(shard, "alice", conv, "old1", "again", &rts) == 1 && rts == 1700000000000);
    CHECK(s_send1(shard, "bob", conv, "new1", "again", &rts) == 2 && rts == ts);
    /* a corrupt value (an unknown version) is left out; the rest is served */
    shard_key_msg(&k, conv, 3);
    CHECK(shard_store_put(shard_store(shard), &k, "\x07junk", 5, false) == 0);
    s_req(shard, "s2", "{\"op\":\"sync\",\"user\":\"bob\",\"conv\":\"dm:alice:bob\"}");
    text = s_rep_text();
    CHECK(text && strcmp(text, want) == 0);
    free(text);
    free(event);
    /* a conversation whose last key is at the highest seq (2^53 - 1: only a corrupt key
     * gets there) takes no new message: internal, nothing stored */
    shard_key_msg(&k, "dm:alice:zed", (UINT64_C(1) << 53) - 1);
    CHECK(shard_store_put(shard_store(shard), &k, "\x07", 1, false) == 0);
    json_t *body = NULL;
    s_send(shard, "x", "alice", "dm:alice:zed", "x1", "no seq left");
    shard_flush(shard);
    CHECK(strcmp(s_rep("x", &body), "internal") == 0);
    shard_destroy(&shard);
}

/* ---- tests ------------------------------------------------------------------------- */

static void test_keys(void)
{
    shard_key_t k1, k2;
    CHECK(shard_key_msg(&k1, "dm:alice:bob", 255) == 0);
    CHECK(shard_key_msg(&k2, "dm:alice:bob", 256) == 0);
    CHECK(k1.len == 2 + 1 + 12 + 1 + 8);
    CHECK(memcmp(k1.buf, k2.buf, k1.len) < 0);
    CHECK(shard_be64_get(k2.buf + k2.len - 8) == 256);
    /* be16 slot of "c:<conv>" first, then the tag */
    int slot = pl_slot("c:dm:alice:bob", 14);
    CHECK(shard_key_slot_of(k1.buf, k1.len) == slot);
    CHECK((unsigned char)k1.buf[0] == (slot >> 8) && (unsigned char)k1.buf[1] == (slot & 0xff));
    CHECK(k1.buf[2] == 'm' && k1.buf[15] == '\0');
    CHECK(shard_key_idem(&k1, "dm:a:b", "alice", "x") == 0 && k1.len == 2 + 1 + 6 + 1 + 5 + 1 + 1);
    CHECK(shard_key_slot_of(k1.buf, k1.len) == pl_slot("c:dm:a:b", 8));
    /* user data takes the slot of "u:<user>" */
    CHECK(shard_key_token(&k1, "alice", "phone") == 0 && k1.buf[2] == 't');
    CHECK(shard_key_slot_of(k1.buf, k1.len) == pl_slot("u:alice", 7));
    CHECK(shard_key_last_seen(&k1, "alice") == 0 && k1.buf[2] == 'p');
    CHECK(shard_key_slot_of(k1.buf, k1.len) == pl_slot("u:alice", 7));
    CHECK(shard_key_meta(&k1, "layout") == 0 && shard_key_slot_of(k1.buf, k1.len) == -1);
    char big[600];
    memset(big, 'a', sizeof(big) - 1);
    big[sizeof(big) - 1] = '\0';
    CHECK(shard_key_idem(&k1, "dm:a:b", "alice", big) == -1);
}

static void test_store(const char *dir)
{
    shard_store_t *st = shard_store_new(dir);
    CHECK(st != NULL);
    if (!st)
        return;
    shard_key_t k;
    /* puts in scrambled order; iteration yields ascending seq (big-endian keys) */
    shard_batch_t *b = shard_batch_new(st);
    for (uint64_t i = 0; i < 600; i++) {
        uint64_t seq = (i * 7919) % 600 + 1;
        char v[32];
        int n = snprintf(v, sizeof(v), "%llu", (unsigned long long)seq);
        shard_key_msg(&k, "c1", seq);
        shard_batch_put(b, &k, v, (size_t)n);
    }
    shard_key_msg(&k, "c0", 1); /* neighbours that must not leak into the prefix */
    shard_batch_put(b, &k, "x", 1);
    shard_key_msg(&k, "c10", 1);
    shard_batch_put(b, &k, "x", 1);
    CHECK(shard_batch_count(b) == 602);
    CHECK(shard_store_write(st, b, true) == 0);
    shard_batch_destroy(&b);
    shard_key_t prefix;
    shard_key_msg_prefix(&prefix, "c1");
    shard_iter_t *it = shard_iter_new(st, &prefix);
    uint64_t expect = 1;
    bool ordered = true;
    for (shard_iter_seek_first(it); shard_iter_valid(it); shard_iter_next(it), expect++) {
        size_t len;
        const char *key = shard_iter_key(it, &len);
        if (len != prefix.len + 8 || shard_be64_get(key + prefix.len) != expect)
            ordered = false;
    }
    CHECK(ordered && expect == 601);
    shard_key_msg(&k, "c1", 300);
    shard_iter_seek_for_prev(it, &k);
    CHECK(shard_iter_valid(it));
    shard_iter_destroy(&it);
    /* point ops */
    char *val = NULL;
    uint64_t u = 0;
    shard_key_user(&k, "alice");
    CHECK(shard_store_get(st, &k, &val, NULL) == 0 && val == NULL);
    CHECK(shard_store_put(st, &k, "hello", 5, false) == 0);
    size_t len = 0;
    CHECK(shard_store_get(st, &k, &val, &len) == 1 && len == 5 && strcmp(val, "hello") == 0);
    free(val);
    CHECK(shard_store_get_u64(st, &k, &u) == -1); /* not 8 bytes */
    CHECK(shard_store_del(st, &k, true) == 0);
    CHECK(shard_store_get(st, &k, &val, NULL) == 0);
    shard_store_fail_writes(st, 1);
    CHECK(shard_store_put(st, &k, "x", 1, false) == -1);
    CHECK(shard_store_put(st, &k, "x", 1, false) == 0);
    shard_store_destroy(&st);
    CHECK(st == NULL);
    shard_store_destroy(&st); /* idempotent */
    /* reopen: data survived */
    st = shard_store_new(dir);
    CHECK(st != NULL);
    shard_key_msg(&k, "c1", 600);
    CHECK(shard_store_get(st, &k, &val, &len) == 1 && strcmp(val, "600") == 0);
    free(val);
    shard_store_destroy(&st);
}

static void test_send(const char *dir)
{
    shard_t *shard = tst_open(dir, 10000);
    CHECK(shard != NULL);
    if (!shard)
        return;
    json_t *body;
    const char *conv = "dm:alice:bob";
    /* one drain: 5 sends, one repeat of the 2nd; nothing answered before the flush */
    s_send(shard, "1", "alice", conv, "m1", "hello");
    s_send(shard, "2", "bob", conv, "m2", "hi \xc3\xa9\xf0\x9f\x98\x80 \"q\"");
    s_send(shard, "3", "alice", conv, "m3", "three");
    s_send(shard, "4", "bob", conv, "m2", "hi again (repeat)");
    s_send(shard, "5", "bob", conv, "m5", "five");
    CHECK(zlist_size(tst_out) == 0);
    CHECK(shard_conv_pending(shard_conv(shard)) == 5);
    shard_flush(shard);
    json_int_t seqs[5], ts2 = 0;
    const char *ids[] = {"1", "2", "3", "4", "5"};
    for (int i = 0; i < 5; i++) {
        CHECK(strcmp(s_rep(ids[i], &body), "ok") == 0);
        seqs[i] = s_int(body, "seq");
        if (i == 1)
            ts2 = s_int(body, "ts");
        if (i == 3)
            CHECK(s_int(body, "ts") == ts2);
        CHECK(strcmp(json_string_value(json_object_get(body, "conv")), conv) == 0);
        json_decref(body);
    }
    CHECK(seqs[0] == 1 && seqs[1] == 2 && seqs[2] == 3 && seqs[3] == 2 && seqs[4] == 4);
    tst_out_clear();
    /* repeat after commit, from another device: first seq and ts, nothing new */
    json_int_t ts = 0;
    CHECK(s_send1(shard, "bob", conv, "m2", "other text", &ts) == 2 && ts == ts2);
    CHECK(s_send1(shard, "alice", conv, "m2", "alice's own m2", NULL) == 5);
    /* errors */
    s_send(shard, "e1", "carol", conv, "x", "intruder");
    CHECK(strcmp(s_rep("e1", &body), "forbidden") == 0);
    s_send(shard, "e2", "bob", "dm:bob:alice", "x", "wrong order");
    CHECK(strcmp(s_rep("e2", &body), "bad_request") == 0);
    s_send(shard, "e3", "bob", conv, "x", "");
    CHECK(strcmp(s_rep("e3", &body), "bad_request") == 0);
    s_send(shard, "e4", "bob", conv, "", "no id");
    CHECK(strcmp(s_rep("e4", &body), "bad_request") == 0);
    char *big = malloc(100002);
    memset(big, 'z', 100001);
    big[100001] = '\0';
    s_send(shard, "e5", "bob", conv, "big", big);
    CHECK(strcmp(s_rep("e5", &body), "too_large") == 0);
    big[100000] = '\0'; /* exactly 100,000: fine */
    CHECK(s_send1(shard, "bob", conv, "big", big, NULL) == 6);
    free(big);
    s_send(shard, "e6", "bob", "g:team", "x", "group");
    CHECK(strcmp(s_rep("e6", &body), "not_found") == 0);
    s_req(shard, "e7", "{\"op\":\"send\",\"user\":\"bob\"}");
    CHECK(strcmp(s_rep("e7", &body), "bad_request") == 0);
    shard_flush(shard);
    CHECK(zlist_size(tst_out) == 0); /* errors stored nothing, nothing pending */
    /* stored event JSON is the msg event, text byte-exact */
    s_req(shard, "s",
          "{\"op\":\"sync\",\"user\":\"alice\",\"conv\":\"dm:alice:bob\",\"after\":1,"
          "\"limit\":1}");
    CHECK(strcmp(s_rep("s", &body), "ok") == 0);
    json_t *m = json_array_get(json_object_get(body, "msgs"), 0);
    CHECK(strcmp(json_string_value(json_object_get(m, "type")), "msg") == 0);
    CHECK(strcmp(json_string_value(json_object_get(m, "from")), "bob") == 0);
    CHECK(strcmp(json_string_value(json_object_get(m, "device")), "phone") == 0);
    CHECK(strcmp(json_string_value(json_object_get(m, "client_msg_id")), "m2") == 0);
    CHECK(strcmp(json_string_value(json_object_get(m, "text")),
                 "hi \xc3\xa9\xf0\x9f\x98\x80 \"q\"") == 0);
    CHECK(s_int(m, "ts") == ts2 && s_int(m, "seq") == 2);
    json_decref(body);
    shard_destroy(&shard);
    /* counters survive reopen */
    shard = tst_open(dir, 10000);
    CHECK(shard != NULL);
    CHECK(s_send1(shard, "alice", conv, "after-reopen", "seven", NULL) == 7);
    CHECK(s_send1(shard, "bob", conv, "m2", "still a repeat", NULL) == 2);
    /* a failed write: everything pending is unavailable, no gap afterwards */
    shard_store_fail_writes(shard_store(shard), 1);
    s_send(shard, "f1", "alice", conv, "f1", "lost");
    s_send(shard, "f2", "alice", conv, "f2", "lost too");
    s_send(shard, "f3", "alice", conv, "f1", "lost repeat");
    shard_flush(shard);
    CHECK(strcmp(s_rep("f1", &body), "unavailable") == 0);
    CHECK(strcmp(s_rep("f2", &body), "unavailable") == 0);
    CHECK(strcmp(s_rep("f3", &body), "unavailable") == 0);
    CHECK(s_send1(shard, "alice", conv, "f2", "retried", NULL) == 8);
    CHECK(s_send1(shard, "alice", conv, "f1", "retried", NULL) == 9);
    shard_destroy(&shard);
}

/* One drain of 300 new sends (more than the pending table's first size), each then
 * repeated in the same drain: 600 answers, the repeats with the first seqs, 300 stored. */
static void test_send_many(const char *dir)
{
    shard_t *shard = tst_open(dir, 10000);
    CHECK(shard != NULL);
    if (!shard)
        return;
    const char *conv = "dm:carol:dave";
    char rid[16], cmid[16];
    for (int round = 0; round < 2; round++)
        for (int i = 0; i < 300; i++) {
            snprintf(rid, sizeof rid, "%d", round * 300 + i);
            snprintf(cmid, sizeof cmid, "c%d", i);
            s_send(shard, rid, i % 2 ? "carol" : "dave", conv, cmid, round ? "again" : "first");
        }
    CHECK(shard_conv_pending(shard_conv(shard)) == 600);
    shard_flush(shard);
    int bad = 0; /* answered in arrival order: the 300 firsts, then the 300 repeats */
    for (int i = 0; i < 600; i++) {
        json_t *b;
        snprintf(rid, sizeof rid, "%d", i);
        const char *st = s_rep(rid, &b);
        if (strcmp(st, "ok") != 0 || s_int(b, "seq") != i % 300 + 1)
            bad++;
        json_decref(b);
    }
    CHECK(bad == 0);
    tst_out_clear();
    uint64_t last = 0;
    CHECK(shard_conv_seq(shard_conv(shard), conv, &last, NULL) == 0 && last == 300);
    shard_destroy(&shard);
}

/* Append the text request ["REQ", gw, reqid, payload] in its binary form to batch b. */
static void s_batch_req(pl_buf_t *b, const char *reqid, const char *payload)
{
    const char *f[4] = {"REQ", "g/gw1", reqid, payload};
    zmsg_t *m = pl_msgtext_to_binv(PL_HOP_ROUTER_SHARD, 4, f);
    CHECK(m && zmsg_size(m) == 2);
    if (m)
        CHECK(pl_batch_add(b, zframe_data(zmsg_last(m)), zframe_size(zmsg_last(m))) == 0);
    zmsg_destroy(&m);
}

/* A BATCH of one gateway's requests (the router's per-shard batch): each entry handled
 * in order as if alone; a malformed batch, a batch of answers, or one without the
 * gateway's address frame changes nothing. */
static void test_batch(const char *dir)
{
    shard_t *shard = tst_open(dir, 10000);
    CHECK(shard != NULL);
    if (!shard)
        return;
    const char *conv = "dm:erin:fay";
    char p[3][200];
    for (int i = 0; i < 3; i++)
        snprintf(p[i], sizeof p[i],
                 "{\"op\":\"send\",\"user\":\"erin\",\"device\":\"phone\",\"conv\":\"%s\","
                 "\"client_msg_id\":\"b%d\",\"text\":\"t%d\"}",
                 conv, i, i);
    pl_buf_t b = {0};
    CHECK(pl_batch_begin_reqs(&b) == 0);
    s_batch_req(&b, "b0", p[0]);
    s_batch_req(&b, "b1", p[1]);
    s_batch_req(&b, "b2", p[2]);
    /* malformed first: a wrong count, then a batch of answers, then no address frame */
    b.data[8] = 4;
    shard_handle(shard, "g/gw1", 5, b.data, b.len);
    b.data[8] = 3;
    b.data[2] = 0; /* the answers family */
    shard_handle(shard, "g/gw1", 5, b.data, b.len);
    b.data[2] = PL_MF_REQS;
    shard_handle(shard, NULL, 0, b.data, b.len);
    shard_flush(shard);
    uint64_t last = 0;
    CHECK(zlist_size(tst_out) == 0 && shard_conv_pending(shard_conv(shard)) == 0);
    CHECK(shard_conv_seq(shard_conv(shard), conv, &last, NULL) != 0 || last == 0);
    /* the batch: three sends answered in order; it counts as three messages against a
     * drain's bound */
    CHECK(shard_handle(shard, "g/gw1", 5, b.data, b.len) == 3);
    CHECK(shard_conv_pending(shard_conv(shard)) == 3);
    shard_flush(shard);
    const char *ids[] = {"b0", "b1", "b2"};
    for (int i = 0; i < 3; i++) {
        json_t *body;
        CHECK(strcmp(s_rep(ids[i], &body), "ok") == 0 && s_int(body, "seq") == i + 1);
        json_decref(body);
    }
    tst_out_clear();
    CHECK(shard_conv_seq(shard_conv(shard), conv, &last, NULL) == 0 && last == 3);
    pl_buf_free(&b);
    shard_destroy(&shard);
}

static void test_paging(const char *dir)
{
    shard_t *shard = tst_open(dir, 10000);
    CHECK(shard != NULL);
    if (!shard)
        return;
    const char *conv = "dm:carol:dave";
    char cmid[16];
    for (int i = 1; i <= 10; i++) {
        snprintf(cmid, sizeof(cmid), "c%d", i);
        s_send(shard, cmid, i % 2 ? "carol" : "dave", conv, cmid, "text");
    }
    shard_flush(shard);
    tst_out_clear();
    json_int_t s[600];
    bool more = false;
#define P(json) "{\"user\":\"dave\",\"conv\":\"dm:carol:dave\"," json "}"
    CHECK(s_page(shard, P("\"op\":\"sync\""), s, 600, &more) == 10 && !more);
    CHECK(s[0] == 1 && s[9] == 10);
    CHECK(s_page(shard, P("\"op\":\"sync\",\"limit\":3"), s, 600, &more) == 3 && more);
    CHECK(s[0] == 1 && s[2] == 3);
    CHECK(s_page(shard, P("\"op\":\"sync\",\"after\":7,\"limit\":3"), s, 600, &more) == 3 && !more);
    CHECK(s[0] == 8 && s[2] == 10);
    CHECK(s_page(shard, P("\"op\":\"sync\",\"after\":9,\"limit\":3"), s, 600, &more) == 1 &&
          !more && s[0] == 10);
    CHECK(s_page(shard, P("\"op\":\"sync\",\"after\":10"), s, 600, &more) == 0 && !more);
    CHECK(s_page(shard, P("\"op\":\"sync\",\"after\":50"), s, 600, &more) == 0 && !more);
    /* the gateway passes any after up to INT64_MAX: nothing lies beyond, not bad_request */
    CHECK(s_page(shard, P("\"op\":\"sync\",\"after\":9223372036854775807"), s, 600, &more) == 0 &&
          !more);
    CHECK(s_page(shard, P("\"op\":\"history\",\"limit\":3"), s, 600, &more) == 3 && more);
    CHECK(s[0] == 8 && s[1] == 9 && s[2] == 10);
    CHECK(s_page(shard, P("\"op\":\"history\",\"before\":4,\"limit\":3"), s, 600, &more) == 3 &&
          !more);
    CHECK(s[0] == 1 && s[2] == 3);
    CHECK(s_page(shard, P("\"op\":\"history\",\"before\":5,\"limit\":3"), s, 600, &more) == 3 &&
          more);
    CHECK(s[0] == 2 && s[2] == 4);
    CHECK(s_page(shard, P("\"op\":\"history\",\"before\":1"), s, 600, &more) == 0 && !more);
    CHECK(s_page(shard, P("\"op\":\"history\",\"before\":99"), s, 600, &more) == 10 && !more);
    CHECK(s_page(shard, P("\"op\":\"history\""), s, 600, &more) == 10 && !more);
    /* bad arguments and strangers */
    json_t *body;
    s_req(shard, "b1", P("\"op\":\"sync\",\"limit\":501"));
    CHECK(strcmp(s_rep("b1", &body), "bad_request") == 0);
    s_req(shard, "b2", P("\"op\":\"sync\",\"limit\":0"));
    CHECK(strcmp(s_rep("b2", &body), "bad_request") == 0);
    s_req(shard, "b3", P("\"op\":\"history\",\"before\":-1"));
    CHECK(strcmp(s_rep("b3", &body), "bad_request") == 0);
    s_req(shard, "b4", P("\"op\":\"sync\",\"after\":\"3\""));
    CHECK(strcmp(s_rep("b4", &body), "bad_request") == 0);
    s_req(shard, "b5", "{\"op\":\"sync\",\"user\":\"alice\",\"conv\":\"dm:carol:dave\"}");
    CHECK(strcmp(s_rep("b5", &body), "forbidden") == 0);
    s_req(shard, "b6", "{\"op\":\"history\",\"user\":\"alice\",\"conv\":\"dm:carol:dave\"}");
    CHECK(strcmp(s_rep("b6", &body), "forbidden") == 0);
    /* a read of a conversation with pending sends sees them */
    s_send(shard, "p11", "carol", conv, "c11", "eleven");
    s_req(shard, "p", P("\"op\":\"sync\",\"after\":10"));
    CHECK(shard_conv_pending(shard_conv(shard)) == 0);
    CHECK(strcmp(s_rep("p11", &body), "ok") == 0 && s_int(body, "seq") == 11);
    json_decref(body);
    CHECK(strcmp(s_rep("p", &body), "ok") == 0);
    CHECK(json_array_size(json_object_get(body, "msgs")) == 1);
    json_decref(body);
    tst_out_clear();
    /* 8 MiB stop: 100 messages of ~100 KB each */
    char *text = malloc(100001);
    memset(text, 'y', 100000);
    text[100000] = '\0';
    for (int i = 0; i < 100; i++) {
        snprintf(cmid, sizeof(cmid), "big%d", i);
        s_send(shard, cmid, "carol", conv, cmid, text);
        if (i % 20 == 19)
            shard_flush(shard);
    }
    shard_flush(shard);
    tst_out_clear();
    free(text);
    int n = s_page(shard, P("\"op\":\"sync\",\"after\":11,\"limit\":500"), s, 600, &more);
    CHECK(n >= 80 && n < 100 && more);
    CHECK(s[0] == 12 && s[n - 1] == 11 + n);
    int h = s_page(shard, P("\"op\":\"history\",\"limit\":500"), s, 600, &more);
    CHECK(h >= 80 && h < 100 && more && s[h - 1] == 111);
    n = s_page(shard, P("\"op\":\"sync\",\"after\":110,\"limit\":500"), s, 600, &more);
    CHECK(n == 1 && !more);
    /* conv_info */
    s_req(shard, "i",
          "{\"op\":\"conv_info\",\"user\":\"dave\",\"convs\":[\"dm:carol:dave\","
          "\"dm:alice:bob\",\"dm:dave:zed\",\"nonsense\",7]}");
    CHECK(strcmp(s_rep("i", &body), "ok") == 0);
    json_t *convs = json_object_get(body, "convs");
    CHECK(json_array_size(convs) == 2);
    json_t *c0 = json_array_get(convs, 0), *c1 = json_array_get(convs, 1);
    CHECK(strcmp(json_string_value(json_object_get(c0, "title")), "carol") == 0);
    CHECK(strcmp(json_string_value(json_object_get(c0, "kind")), "dm") == 0);
    CHECK(s_int(c0, "last_seq") == 111 && s_int(c0, "read_seq") == 0);
    CHECK(json_array_size(json_object_get(c0, "members")) == 2);
    CHECK(strcmp(json_string_value(json_object_get(c1, "title")), "zed") == 0);
    CHECK(s_int(c1, "last_seq") == 0);
    json_decref(body);
#undef P
    shard_destroy(&shard);
}

static void test_outbox(const char *dir)
{
    shard_t *shard = tst_open(dir, 10000);
    CHECK(shard != NULL);
    if (!shard)
        return;
    const char *conv = "dm:erin:frank";
    size_t base = shard_outbox_size(shard_outbox(shard)); /* earlier tests' entries, never acked */
    CHECK(base == 4);
    s_send(shard, "1", "erin", conv, "x1", "first");
    s_send(shard, "2", "frank", conv, "x2", "second");
    shard_flush(shard);
    CHECK(shard_outbox_size(shard_outbox(shard)) == base + 2);
    /* REP, REP then one FWD per member, for the first message only */
    zmsg_t *m = s_next("FWD");
    CHECK(m != NULL);
    char *key = zmsg_popstr(m), *payload = zmsg_popstr(m);
    CHECK(strcmp(key, "u:erin") == 0);
    CHECK(strstr(payload, "\"op\":\"idx_add\"") && strstr(payload, "\"from\":\"c:dm:erin:frank\""));
    /* the user's shard (here the same one) indexes it and acknowledges */
    tst_handle(shard, 2, "FWD", payload);
    zmsg_destroy(&m);
    free(key);
    free(payload);
    m = s_next("FWD");
    CHECK(m && zmsg_size(m) == 2); /* frank's idx_add */
    zmsg_destroy(&m);
    m = s_next("FWD");
    CHECK(m != NULL);
    key = zmsg_popstr(m);
    payload = zmsg_popstr(m);
    CHECK(strcmp(key, "c:dm:erin:frank") == 0 && strstr(payload, "idx_ack"));
    tst_handle(shard, 2, "FWD", payload);
    CHECK(shard_outbox_size(shard_outbox(shard)) == base + 1);
    zmsg_destroy(&m);
    free(key);
    free(payload);
    json_t *body;
    s_req(shard, "l", "{\"op\":\"conv_list\",\"user\":\"erin\"}");
    CHECK(strcmp(s_rep("l", &body), "ok") == 0);
    json_t *convs = json_object_get(body, "convs");
    CHECK(json_array_size(convs) == 1 &&
          strcmp(json_string_value(json_object_get(json_array_get(convs, 0), "conv")), conv) == 0);
    json_decref(body);
    tst_out_clear();
    shard_destroy(&shard);
    /* frank's entry survives a restart and is resent at the first tick */
    shard = tst_open(dir, 10000);
    CHECK(shard_outbox_size(shard_outbox(shard)) == base + 1);
    shard_tick(shard);
    int frank = 0, fwds = 0;
    char nonce[64] = "";
    while ((m = s_next("FWD"))) {
        key = zmsg_popstr(m);
        payload = zmsg_popstr(m);
        fwds++;
        if (strcmp(key, "u:frank") == 0) {
            json_t *j = json_loads(payload, 0, NULL);
            snprintf(nonce, sizeof(nonce), "%s",
                     json_string_value(json_object_get(j, "nonce")) ?: "");
            json_decref(j);
            frank++;
        }
        free(key);
        free(payload);
        zmsg_destroy(&m);
    }
    CHECK(frank == 1 && fwds == (int)base + 1);
    CHECK(strlen(nonce) == 16);
    /* an ack without the nonce (or with another one) does not delete the entry */
    tst_handle(shard, 2, "FWD",
               "{\"op\":\"idx_ack\",\"user\":\"frank\",\"conv\":\"dm:erin:frank\"}");
    CHECK(shard_outbox_size(shard_outbox(shard)) == base + 1);
    char ack[256];
    snprintf(ack, sizeof(ack),
             "{\"op\":\"idx_ack\",\"user\":\"frank\",\"conv\":\"dm:erin:frank\",\"nonce\":\"%s\"}",
             nonce);
    tst_handle(shard, 2, "FWD", ack);
    CHECK(shard_outbox_size(shard_outbox(shard)) == base);
    tst_out_clear();
    shard_destroy(&shard);
    shard = tst_open(dir, 10000);
    CHECK(shard_outbox_size(shard_outbox(shard)) == base);
    shard_destroy(&shard);
}

static void test_accounts(const char *dir)
{
    shard_t *shard = tst_open(dir, 10000);
    CHECK(shard != NULL);
    if (!shard)
        return;
    json_t *body;
    s_req(shard, "1", "{\"op\":\"user_create\",\"user\":\"alice\",\"hash\":\"$argon2id$x\"}");
    CHECK(strcmp(s_rep("1", &body), "ok") == 0);
    json_decref(body);
    s_req(shard, "2", "{\"op\":\"user_create\",\"user\":\"alice\",\"hash\":\"$argon2id$y\"}");
    CHECK(strcmp(s_rep("2", &body), "conflict") == 0);
    s_req(shard, "3", "{\"op\":\"user_get\",\"user\":\"alice\"}");
    CHECK(strcmp(s_rep("3", &body), "ok") == 0);
    CHECK(strcmp(json_string_value(json_object_get(body, "hash")), "$argon2id$x") == 0);
    json_decref(body);
    s_req(shard, "4", "{\"op\":\"user_get\",\"user\":\"nobody\"}");
    CHECK(strcmp(s_rep("4", &body), "not_found") == 0);
    s_req(shard, "5", "{\"op\":\"user_exists\",\"user\":\"alice\"}");
    CHECK(strcmp(s_rep("5", &body), "ok") == 0);
    json_decref(body);
    s_req(shard, "6", "{\"op\":\"user_exists\",\"user\":\"Bad Name\"}");
    CHECK(strcmp(s_rep("6", &body), "bad_request") == 0);
    const char *th1 = "00112233445566778899aabbccddeeff00112233445566778899aabbccddeeff";
    const char *th2 = "ffeeddccbbaa99887766554433221100ffeeddccbbaa99887766554433221100";
    char p[256];
    snprintf(p, sizeof(p),
             "{\"op\":\"token_set\",\"user\":\"alice\",\"device\":\"phone\",\"th\":\"%s\"}", th1);
    s_req(shard, "7", p);
    CHECK(strcmp(s_rep("7", &body), "ok") == 0);
    json_decref(body);
    snprintf(p, sizeof(p),
             "{\"op\":\"token_check\",\"user\":\"alice\",\"device\":\"phone\",\"th\":\"%s\"}", th1);
    s_req(shard, "8", p);
    CHECK(strcmp(s_rep("8", &body), "ok") == 0);
    json_decref(body);
    snprintf(p, sizeof(p),
             "{\"op\":\"token_set\",\"user\":\"alice\",\"device\":\"phone\",\"th\":\"%s\"}", th2);
    s_req(shard, "9", p);
    CHECK(strcmp(s_rep("9", &body), "ok") == 0);
    json_decref(body);
    snprintf(p, sizeof(p),
             "{\"op\":\"token_check\",\"user\":\"alice\",\"device\":\"phone\",\"th\":\"%s\"}", th1);
    s_req(shard, "10", p);
    CHECK(strcmp(s_rep("10", &body), "unauthenticated") == 0);
    snprintf(p, sizeof(p),
             "{\"op\":\"token_check\",\"user\":\"alice\",\"device\":\"laptop\",\"th\":\"%s\"}",
             th2);
    s_req(shard, "11", p);
    CHECK(strcmp(s_rep("11", &body), "unauthenticated") == 0);
    /* malformed input never crashes */
    s_req(shard, "12", "not json");
    CHECK(strcmp(s_rep("12", &body), "bad_request") == 0);
    s_req(shard, "13", "{\"op\":\"nope\"}");
    CHECK(strcmp(s_rep("13", &body), "bad_request") == 0);
    s_req(shard, "14", "[1,2]");
    CHECK(strcmp(s_rep("14", &body), "bad_request") == 0);
    tst_handle(shard, 3, "REQ", "g/gw1", "15");
    CHECK(strcmp(s_rep("15", &body), "bad_request") == 0);
    tst_handle(shard, 1, "WHAT");
    tst_handle(shard, 2, "FWD", "{{{");
    /* binary junk: a LOC without its payload field, a GWHB without its address frame, a
     * header cut short, an address frame with a NUL */
    uint8_t junk[PL_MSG_HDR] = {PL_MSG_MAGIC, PL_K_LOC};
    shard_handle(shard, "g/gw1", 5, junk, sizeof junk);
    junk[1] = PL_K_GWHB;
    shard_handle(shard, NULL, 0, junk, sizeof junk);
    shard_handle(shard, "g/gw1", 5, junk, 10);
    shard_handle(shard, "g/\0w1", 5, junk, sizeof junk);
    CHECK(zlist_size(tst_out) == 0);
    shard_destroy(&shard);
}

static void test_loc(const char *dir)
{
    shard_t *shard = tst_open(dir, 10000);
    CHECK(shard != NULL);
    if (!shard)
        return;
    /* unknown gateway heartbeat: SNAP */
    tst_handle(shard, 4, "GWHB", "g/a", "e1", "3");
    zmsg_t *m = s_next("SNAP");
    CHECK(m != NULL);
    zmsg_destroy(&m);
    tst_handle(shard, 5, "LOC", "g/a", "e1", "4", "{\"full\":[\"alice\",\"bob\"]}");
    tst_handle(shard, 5, "LOC", "g/b", "e9", "1", "{\"full\":[\"bob\"]}");
    CHECK(zlist_size(tst_out) == 0);
    CHECK(shard_loc_has(shard_loc(shard), "g/a", "alice") &&
          shard_loc_has(shard_loc(shard), "g/b", "bob"));
    /* a send pushes one EVT per gateway, with that gateway's members */
    s_send(shard, "1", "alice", "dm:alice:bob", "e1", "to both");
    shard_flush(shard);
    int evts = 0;
    zmsg_t *msg;
    while ((msg = zlist_pop(tst_out))) {
        char *cmd = zmsg_popstr(msg);
        if (strcmp(cmd, "EVT") == 0) {
            char *gw = zmsg_popstr(msg), *to = zmsg_popstr(msg), *skip = zmsg_popstr(msg),
                 *ev = zmsg_popstr(msg);
            evts++;
            CHECK(strcmp(skip, "alice/phone") == 0);
            CHECK(strstr(ev, "\"type\":\"msg\"") == ev + 1);
            if (strcmp(gw, "g/a") == 0)
                CHECK(strstr(to, "alice") && strstr(to, "bob"));
            else
                CHECK(strcmp(gw, "g/b") == 0 && strcmp(to, "[\"bob\"]") == 0);
            free(gw);
            free(to);
            free(skip);
            free(ev);
        }
        free(cmd);
        zmsg_destroy(&msg);
    }
    CHECK(evts == 2);
    /* deltas in order apply; a gap asks for a snapshot; an old one is ignored */
    tst_handle(shard, 5, "LOC", "g/a", "e1", "5", "{\"del\":[\"alice\"],\"add\":[\"carol\"]}");
    CHECK(!shard_loc_has(shard_loc(shard), "g/a", "alice") &&
          shard_loc_has(shard_loc(shard), "g/a", "carol"));
    CHECK(zlist_size(tst_out) == 0);
    tst_handle(shard, 5, "LOC", "g/a", "e1", "4", "{\"add\":[\"alice\"]}");
    CHECK(!shard_loc_has(shard_loc(shard), "g/a", "alice"));
    tst_handle(shard, 5, "LOC", "g/a", "e1", "7", "{\"add\":[\"dave\"]}");
    CHECK(shard_loc_has(shard_loc(shard), "g/a", "dave"));
    m = s_next("SNAP");
    CHECK(m != NULL);
    zmsg_destroy(&m);
    tst_handle(shard, 5, "LOC", "g/a", "e1", "8", "{\"full\":[\"erin\"]}");
    CHECK(!shard_loc_has(shard_loc(shard), "g/a", "dave") &&
          shard_loc_has(shard_loc(shard), "g/a", "erin"));
    /* a restarted gateway (new epoch) */
    tst_handle(shard, 4, "GWHB", "g/a", "e2", "0");
    CHECK(!shard_loc_has(shard_loc(shard), "g/a", "erin"));
    m = s_next("SNAP");
    CHECK(m != NULL);
    zmsg_destroy(&m);
    /* silence drops the gateway */
    shard_loc_tick(shard_loc(shard), zclock_mono() + 10001); /* past --gw-timeout 10000 */
    CHECK(shard_loc_gateways(shard_loc(shard)) == 0);
    tst_out_clear();
    shard_destroy(&shard);
}

/* The EVT messages in tst_out up to the next REP, checked to be `_revoke` events for user
 * to every gateway in gws (n of them), each listing exactly the tokens "device:th" in
 * want (nwant). Consumes them. */
static void s_check_revoke(const char *user, const char *const *gws, int n, const char *const *want,
                           int nwant)
{
    int seen = 0;
    zmsg_t *m;
    while ((m = zlist_first(tst_out))) {
        char *cmd = zframe_strdup(zmsg_first(m));
        bool evt = cmd && strcmp(cmd, "EVT") == 0;
        free(cmd);
        if (!evt)
            break;
        m = zlist_pop(tst_out);
        free(zmsg_popstr(m)); /* "EVT" */
        char *gw = zmsg_popstr(m), *to = zmsg_popstr(m), *skip = zmsg_popstr(m),
             *ev = zmsg_popstr(m);
        bool known = false;
        for (int i = 0; i < n; i++)
            known = known || (gw && strcmp(gw, gws[i]) == 0);
        CHECK(known);
        char want_to[64];
        snprintf(want_to, sizeof(want_to), "[\"%s\"]", user);
        CHECK(to && strcmp(to, want_to) == 0);
        CHECK(skip && !*skip);
        CHECK(ev && strncmp(ev, "{\"type\":\"_revoke\",", 18) == 0);
        json_t *j = ev ? json_loads(ev, 0, NULL) : NULL;
        json_t *toks = json_object_get(j, "tokens");
        CHECK(strcmp(json_string_value(json_object_get(j, "user")) ?: "", user) == 0);
        CHECK(json_array_size(toks) == (size_t)nwant);
        for (int w = 0; w < nwant; w++) {
            bool found = false;
            size_t i;
            json_t *t;
            json_array_foreach(toks, i, t)
            {
                char dt[160];
                snprintf(dt, sizeof(dt), "%s:%s",
                         json_string_value(json_object_get(t, "device")) ?: "",
                         json_string_value(json_object_get(t, "th")) ?: "");
                found = found || strcmp(dt, want[w]) == 0;
            }
            CHECK(found);
        }
        json_decref(j);
        free(gw);
        free(to);
        free(skip);
        free(ev);
        zmsg_destroy(&m);
        seen++;
    }
    CHECK(seen == n);
}

/* token_revoke (logout) and token_set replacing a token: the deleted tokens are announced
 * to every known gateway before the answer; a wrong token changes nothing. */
static void test_revoke(const char *path)
{
    shard_t *shard = tst_open(path, 10000);
    CHECK(shard != NULL);
    if (!shard)
        return;
    json_t *body = NULL;
    const char *gws[] = {"g/a", "g/b"};
    tst_handle(shard, 4, "GWHB", "g/a", "e1", "0");
    tst_handle(shard, 4, "GWHB", "g/b", "e2", "0");
    tst_out_clear();
    const char *th1 = "1111111111111111111111111111111111111111111111111111111111111111";
    const char *th2 = "2222222222222222222222222222222222222222222222222222222222222222";
    const char *th3 = "3333333333333333333333333333333333333333333333333333333333333333";
    const char *th4 = "4444444444444444444444444444444444444444444444444444444444444444";
    char p[256], w1[160], w2[160];
#define TOK(op, dev, th, extra)                                                                    \
    snprintf(p, sizeof(p),                                                                         \
             "{\"op\":\"" op "\",\"user\":\"rev\",\"device\":\"" dev "\",\"th\":\"%s\"" extra "}", \
             th)
    TOK("token_set", "phone", th1, "");
    s_req(shard, "1", p);
    CHECK(strcmp(s_rep("1", &body), "ok") == 0);
    json_decref(body);
    TOK("token_set", "laptop", th2, "");
    s_req(shard, "2", p);
    CHECK(strcmp(s_rep("2", &body), "ok") == 0); /* new devices: no EVT before the REP */
    json_decref(body);
    /* wrong th, unknown device, bad all: refused, no event, nothing deleted */
    TOK("token_revoke", "phone", th2, "");
    s_req(shard, "3", p);
    CHECK(strcmp(s_rep("3", &body), "unauthenticated") == 0);
    TOK("token_revoke", "tablet", th1, ",\"all\":true");
    s_req(shard, "4", p);
    CHECK(strcmp(s_rep("4", &body), "unauthenticated") == 0);
    TOK("token_revoke", "phone", th1, ",\"all\":1");
    s_req(shard, "5", p);
    CHECK(strcmp(s_rep("5", &body), "bad_request") == 0);
    CHECK(zlist_size(tst_out) == 0);
    TOK("token_check", "phone", th1, "");
    s_req(shard, "6", p);
    CHECK(strcmp(s_rep("6", &body), "ok") == 0);
    json_decref(body);
    /* revoke the phone: EVT to both gateways, then ok; the token is gone, laptop stays */
    TOK("token_revoke", "phone", th1, ",\"all\":false");
    s_req(shard, "7", p);
    snprintf(w1, sizeof(w1), "phone:%s", th1);
    s_check_revoke("rev", gws, 2, (const char *[]){w1}, 1);
    CHECK(strcmp(s_rep("7", &body), "ok") == 0);
    json_decref(body);
    TOK("token_check", "phone", th1, "");
    s_req(shard, "8", p);
    CHECK(strcmp(s_rep("8", &body), "unauthenticated") == 0);
    TOK("token_revoke", "phone", th1, "");
    s_req(shard, "9", p);
    CHECK(strcmp(s_rep("9", &body), "unauthenticated") == 0);
    TOK("token_check", "laptop", th2, "");
    s_req(shard, "10", p);
    CHECK(strcmp(s_rep("10", &body), "ok") == 0);
    json_decref(body);
    /* a re-login of the phone after its logout replaces nothing; a second one does */
    TOK("token_set", "phone", th3, "");
    s_req(shard, "11", p);
    CHECK(strcmp(s_rep("11", &body), "ok") == 0);
    json_decref(body);
    CHECK(zlist_size(tst_out) == 0);
    TOK("token_set", "phone", th4, "");
    s_req(shard, "12", p);
    snprintf(w1, sizeof(w1), "phone:%s", th3);
    s_check_revoke("rev", gws, 2, (const char *[]){w1}, 1);
    CHECK(strcmp(s_rep("12", &body), "ok") == 0);
    json_decref(body);
    /* all: every device's token, announced in one event per gateway */
    TOK("token_revoke", "laptop", th2, ",\"all\":true");
    s_req(shard, "13", p);
    snprintf(w1, sizeof(w1), "phone:%s", th4);
    snprintf(w2, sizeof(w2), "laptop:%s", th2);
    s_check_revoke("rev", gws, 2, (const char *[]){w1, w2}, 2);
    CHECK(strcmp(s_rep("13", &body), "ok") == 0);
    json_decref(body);
    TOK("token_check", "phone", th4, "");
    s_req(shard, "14", p);
    CHECK(strcmp(s_rep("14", &body), "unauthenticated") == 0);
    TOK("token_check", "laptop", th2, "");
    s_req(shard, "15", p);
    CHECK(strcmp(s_rep("15", &body), "unauthenticated") == 0);
    /* other users' tokens are untouched (the prefix t<user>\0 does not match "revx") */
    TOK("token_set", "phone", th1, "");
    s_req(shard, "16", p);
    CHECK(strcmp(s_rep("16", &body), "ok") == 0);
    json_decref(body);
#undef TOK
    snprintf(p, sizeof(p),
             "{\"op\":\"token_set\",\"user\":\"revx\",\"device\":\"phone\",\"th\":\"%s\"}", th2);
    s_req(shard, "17", p);
    CHECK(strcmp(s_rep("17", &body), "ok") == 0);
    json_decref(body);
    snprintf(p, sizeof(p),
             "{\"op\":\"token_revoke\",\"user\":\"rev\",\"device\":\"phone\",\"th\":\"%s\","
             "\"all\":true}",
             th1);
    s_req(shard, "18", p);
    snprintf(w1, sizeof(w1), "phone:%s", th1);
    s_check_revoke("rev", gws, 2, (const char *[]){w1}, 1);
    CHECK(strcmp(s_rep("18", &body), "ok") == 0);
    json_decref(body);
    snprintf(p, sizeof(p),
             "{\"op\":\"token_check\",\"user\":\"revx\",\"device\":\"phone\",\"th\":\"%s\"}", th2);
    s_req(shard, "19", p);
    CHECK(strcmp(s_rep("19", &body), "ok") == 0);
    json_decref(body);
    tst_out_clear();
    shard_destroy(&shard);
}

/* A name of the form <prefix><n> whose routing key ("u:"/"c:" + name) falls in
 * [lo, hi] (slots), written into out. */
static void s_name_in(char *out, size_t size, const char *prefix, char kind, int lo, int hi)
{
    for (int n = 0;; n++) {
        snprintf(out, size, "%s%d", prefix, n);
        int slot = kind == 'c' ? shard_slot_conv(out) : shard_slot_user(out);
        if (slot >= lo && slot <= hi)
            return;
    }
}

/* Keys in the slot's range; *foreign counts those whose slot is not slot. */
/* Every key of a slot: its range in the default family, then its idempotency keys (their
 * own family). *in_main counts idempotency keys found in the default family (none
 * belong there). */
static int s_slot_keys(shard_t *shard, int slot, int *foreign, int tags[256], int *in_main)
{
    shard_key_t prefix;
    int n = 0;
    *foreign = 0;
    memset(tags, 0, 256 * sizeof *tags);
    for (int fam = 0; fam < 2; fam++) {
        if (fam == 0)
            shard_key_slot(&prefix, slot);
        else
            shard_key_tag_prefix(&prefix, slot, 'i');
        shard_iter_t *it = shard_iter_new(shard_store(shard), &prefix);
        for (shard_iter_seek_first(it); shard_iter_valid(it); shard_iter_next(it)) {
            size_t len;
            const char *k = shard_iter_key(it, &len);
            n++;
            *foreign += shard_key_slot_of(k, len) != slot;
            if (len > 2)
                tags[(unsigned char)k[2]]++;
        }
        shard_iter_destroy(&it);
        if (fam == 0)
            *in_main = tags['i'];
    }
    return n;
}

/* Issue 9.3: a slot's data is one key range, two keys per message, the counter comes
 * back from the last message key, and a shard serves no slot it does not own. */
static void test_slots(const char *dir)
{
    shard_t *shard = tst_open(dir, 10000);
    CHECK(shard != NULL);
    if (!shard)
        return;
    json_t *body;
    char payload[256], conv[64], other[64], mine_u[32], theirs_u[32];
    /* dm ids of users "sa<n>"/"sb<n>": pick conversations by their slot */
    s_name_in(mine_u, sizeof mine_u, "sa", 'u', 0, 8191);
    s_name_in(theirs_u, sizeof theirs_u, "sb", 'u', 8192, PL_SLOTS - 1);
    for (int n = 0;; n++) {
        snprintf(conv, sizeof conv, "dm:sa%d:szz", n);
        if (shard_slot_conv(conv) < 8192)
            break;
    }
    for (int n = 0;; n++) {
        snprintf(other, sizeof other, "dm:sa%d:szz", n);
        if (shard_slot_conv(other) >= 8192)
            break;
    }
    const char *a = conv + 3; /* "sa<n>:sz": sender is the part before ':' */
    char sender[32];
    snprintf(sender, sizeof sender, "%.*s", (int)(strchr(a, ':') - a), a);
    for (int i = 1; i <= 5; i++) {
        char cmid[16];
        snprintf(cmid, sizeof cmid, "s%d", i);
        CHECK(s_send1(shard, sender, conv, cmid, "hi", NULL) == i);
    }
    /* the conversation's slot range holds exactly its 5 messages and 5 idempotency keys
     * (no counter key) and the outbox entries of its first message; nothing else */
    int foreign = 0, tags[256], in_main = -1;
    int nkeys = s_slot_keys(shard, shard_slot_conv(conv), &foreign, tags, &in_main);
    CHECK(foreign == 0);
    CHECK(tags['m'] == 5 && tags['i'] == 5 && tags['s'] == 0);
    CHECK(in_main == 0); /* the idempotency keys are all in their own family (layout 3) */
    /* + the index outbox of the first message and the push outbox of the absent member
     * (one entry per member: the latest notification), until acknowledged */
    CHECK(tags['o'] <= 2 && tags['Q'] <= 1);
    CHECK(nkeys == 5 * 2 + tags['o'] + tags['Q']);
    shard_destroy(&shard);

    /* reopened: the counter is derived from the last message key; a retry still finds
     * its first seq */
    shard = tst_open(dir, 10000);
    CHECK(shard != NULL);
    if (!shard)
        return;
    CHECK(s_send1(shard, sender, conv, "s6", "again", NULL) == 6);
    CHECK(s_send1(shard, sender, conv, "s2", "hi", NULL) == 2);

    /* half the slots are shard 1's now: their requests are answered unavailable */
    tst_handle(shard, 2, "TABLE", "2 0-8191=0 8192-16383=1");
    snprintf(payload, sizeof payload, "{\"op\":\"user_exists\",\"user\":\"%s\"}", theirs_u);
    s_req(shard, "o1", payload);
    CHECK(strcmp(s_rep("o1", &body), "unavailable") == 0);
    snprintf(payload, sizeof payload, "{\"op\":\"user_exists\",\"user\":\"%s\"}", mine_u);
    s_req(shard, "o2", payload);
    CHECK(strcmp(s_rep("o2", &body), "not_found") == 0); /* served: ours, and unknown */
    const char *b = other + 3;
    char sender2[32];
    snprintf(sender2, sizeof sender2, "%.*s", (int)(strchr(b, ':') - b), b);
    s_send(shard, "o3", sender2, other, "x1", "not here");
    shard_flush(shard);
    CHECK(strcmp(s_rep("o3", &body), "unavailable") == 0);
    CHECK(s_slot_keys(shard, shard_slot_conv(other), &foreign, tags, &in_main) ==
          0); /* nothing written */
    snprintf(payload, sizeof payload,
             "{\"op\":\"sync\",\"user\":\"%s\",\"conv\":\"%s\",\"after\":0}", sender2, other);
    s_req(shard, "o4", payload);
    CHECK(strcmp(s_rep("o4", &body), "unavailable") == 0);
    snprintf(payload, sizeof payload,
             "{\"op\":\"conv_info\",\"user\":\"%s\",\"convs\":[\"%s\",\"%s\"]}", sender, conv,
             other);
    s_req(shard, "o5", payload);
    CHECK(strcmp(s_rep("o5", &body), "unavailable") == 0);
    snprintf(payload, sizeof payload,
             "{\"op\":\"presence_get\",\"user\":\"%s\",\"users\":[\"%s\"]}", mine_u, theirs_u);
    s_req(shard, "o6", payload);
    CHECK(strcmp(s_rep("o6", &body), "unavailable") == 0);
    /* its own conversation is still served */
    CHECK(s_send1(shard, sender, conv, "s7", "still mine", NULL) == 7);
    /* FWD for a foreign user changes nothing (the sender's outbox resends elsewhere) */
    snprintf(
        payload, sizeof payload,
        "{\"op\":\"idx_add\",\"user\":\"%s\",\"conv\":\"%s\",\"kind\":\"dm\",\"from\":\"c:%s\"}",
        theirs_u, other, other);
    tst_handle(shard, 2, "FWD", payload);
    CHECK(s_slot_keys(shard, shard_slot_user(theirs_u), &foreign, tags, &in_main) == 0);
    /* the table is kept: a reopened shard knows it before any TABLE */
    shard_destroy(&shard);
    shard_config_t cfg = {.id = 0, .data = dir, .gw_timeout_ms = 10000};
    shard = shard_new(&cfg);
    CHECK(shard && shard_slots(shard) && pl_slots_version(shard_slots(shard)) == 2 &&
          pl_slots_owner(shard_slots(shard), 8192) == 1);
    shard_destroy(&shard);
    tst_out_clear();
}

/* A folder of the layout before slots (tag first, a counter key) is converted at open
 * and serves the same data. */
static void test_convert(const char *dir)
{
    shard_store_t *st = shard_store_new(dir);
    CHECK(st != NULL);
    if (!st)
        return;
    const char *conv = "dm:carol:dave";
    shard_key_t k;
    char raw[128];
    shard_batch_t *b = shard_batch_new(st);
    /* old keys: tag + parts */
#define OLD(str, n) (memcpy(k.buf, str, n), k.len = n, &k)
    shard_batch_put(b, OLD("ucarol", 6), "{\"hash\":\"h\",\"created\":1}", 25);
    shard_batch_put(b, OLD("tcarol\0phone", 12),
                    "aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa", 64);
    shard_batch_put(b, OLD("xcarol\0dm:carol:dave", 20), "dm", 2);
    shard_batch_put_u64(b, OLD("sdm:carol:dave", 14), 2);
    for (uint64_t seq = 1; seq <= 2; seq++) {
        memcpy(raw, "mdm:carol:dave\0", 15);
        shard_be64_put(raw + 15, seq);
        char ev[96];
        int n = snprintf(ev, sizeof ev, "{\"type\":\"msg\",\"conv\":\"%s\",\"seq\":%d,\"ts\":%d}",
                         conv, (int)seq, (int)seq);
        shard_batch_put(b, OLD(raw, 23), ev, (size_t)n);
    }
    shard_batch_put_u64(b, OLD("idm:carol:dave\0carol\0c1", 23), 1);
    shard_batch_put_u64(b, OLD("idm:carol:dave\0carol\0c2", 23), 2);
    /* main's durable push keys: Q (push outbox, the conversation's), P (a target) and q
     * (a pending delivery to it, the user's) */
#define HASH "00112233445566778899aabbccddeeff00112233445566778899aabbccddeeff"
    static const char qpay[] = "{\"op\":\"push\",\"user\":\"dave\",\"conv\":\"dm:carol:dave\","
                               "\"seq\":2,\"nonce\":\"0011223344556677\"}";
    static const char target[] =
        "{\"target\":{\"kind\":\"webhook\",\"url\":\"http://127.0.0.1:1/h\"},\"at\":1}";
    char pending[160];
    int plen = snprintf(pending, sizeof pending,
                        "{\"payload\":\"{}\",\"seq\":2,\"first\":%lld,\"due\":%lld}",
                        (long long)time(NULL) * 1000, (long long)time(NULL) * 1000 + 3600000);
    shard_batch_put(b, OLD("Qdm:carol:dave\0dave", 19), qpay, sizeof qpay - 1);
    shard_batch_put(b, OLD("Pdave\0" HASH, 70), target, sizeof target - 1);
    shard_batch_put(b, OLD("qdave\0" HASH "\0dm:carol:dave", 84), pending, (size_t)plen);
#undef OLD
    CHECK(shard_store_write(st, b, true) == 0);
    shard_batch_destroy(&b);
    shard_store_destroy(&st);

    shard_t *shard = tst_open(dir, 10000);
    CHECK(shard != NULL);
    if (!shard)
        return;
    json_t *body;
    json_int_t seqs[8];
    bool more;
    CHECK(s_page(shard,
                 "{\"op\":\"sync\",\"user\":\"carol\",\"conv\":\"dm:carol:dave\",\"after\":0}",
                 seqs, 8, &more) == 2 &&
          seqs[0] == 1 && seqs[1] == 2);
    CHECK(s_send1(shard, "carol", conv, "c2", "retry", NULL) == 2);
    CHECK(s_send1(shard, "carol", conv, "c3", "new", NULL) == 3);
    s_req(shard, "t",
          "{\"op\":\"token_check\",\"user\":\"carol\",\"device\":\"phone\",\"th\":"
          "\"aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa\"}");
    CHECK(strcmp(s_rep("t", &body), "ok") == 0);
    json_decref(body);
    s_req(shard, "u", "{\"op\":\"user_get\",\"user\":\"carol\"}");
    CHECK(strcmp(s_rep("u", &body), "ok") == 0 &&
          strcmp(json_string_value(json_object_get(body, "hash")), "h") == 0);
    json_decref(body);
    s_req(shard, "l", "{\"op\":\"conv_list\",\"user\":\"carol\"}");
    CHECK(strcmp(s_rep("l", &body), "ok") == 0 &&
          json_array_size(json_object_get(body, "convs")) == 1);
    json_decref(body);
    /* no key of the old layout is left: everything is below 0x40 or a meta key */
    shard_key_t all = {.len = 0};
    shard_iter_t *it = shard_iter_new(shard_store(shard), &all);
    int old = 0, total = 0;
    for (shard_iter_seek_first(it); shard_iter_valid(it); shard_iter_next(it)) {
        size_t len;
        const unsigned char *key = (const unsigned char *)shard_iter_key(it, &len);
        total++;
        old += key[0] >= 0x40 && key[0] != 0xff;
    }
    shard_iter_destroy(&it);
    CHECK(old == 0 && total > 0);
    /* the push keys are behind their slots: Q in the conversation's, P and q in the
     * user's; the pending delivery was resumed at start (its target found: kept) */
    char *v = NULL;
    CHECK(shard_key_push_outbox(&k, conv, "dave") == 0 && k.buf[2] == 'Q' &&
          shard_key_slot_of(k.buf, k.len) == shard_slot_conv(conv));
    CHECK(shard_store_get(shard_store(shard), &k, &v, NULL) == 1); /* c3's notification by now */
    free(v);
    CHECK(shard_key_push(&k, "dave", HASH) == 0 &&
          shard_key_slot_of(k.buf, k.len) == shard_slot_user("dave"));
    CHECK(shard_store_get(shard_store(shard), &k, &v, NULL) == 1 && strcmp(v, target) == 0);
    free(v);
    CHECK(shard_key_push_pending(&k, "dave", HASH, conv) == 0 &&
          shard_key_slot_of(k.buf, k.len) == shard_slot_user("dave"));
    CHECK(shard_store_get(shard_store(shard), &k, &v, NULL) == 1 && strcmp(v, pending) == 0);
    free(v);
#undef HASH
    CHECK(shard_convert(shard_store(shard)) == 0); /* already converted: nothing to do */
    shard_destroy(&shard);
    tst_out_clear();
}

/* Layout 3: the idempotency keys have a column family of their own. A data folder of
 * layout 2 (everything in the default family, meta layout = "2") is refused at open and
 * left as it was (no family added: the binaries that wrote it still open it); the store's
 * own routing puts, reads, deletes and iterates an idempotency key in its family. */
static void test_layout(const char *dir)
{
    char *err = NULL;
    rocksdb_options_t *o = rocksdb_options_create();
    rocksdb_options_set_create_if_missing(o, 1);
    rocksdb_t *db = rocksdb_open(o, dir, &err);
    CHECK(db != NULL && !err);
    if (!db) {
        rocksdb_free(err);
        rocksdb_options_destroy(o);
        return;
    }
    shard_key_t k;
    rocksdb_writeoptions_t *wo = rocksdb_writeoptions_create();
    shard_key_meta(&k, "layout");
    rocksdb_put(db, wo, k.buf, k.len, "2", 1, &err);
    CHECK(!err);
    shard_key_idem(&k, "dm:a:b", "a", "c1");
    rocksdb_put(db, wo, k.buf, k.len, "\0\0\0\0\0\0\0\1", 8, &err);
    CHECK(!err);
    shard_key_t m2;
    shard_key_msg(&m2, "dm:a:b", 1);
    rocksdb_put(db, wo, m2.buf, m2.len, "{}", 2, &err);
    CHECK(!err);
    rocksdb_writeoptions_destroy(wo);
    rocksdb_close(db);
    /* layout 2 (idempotency keys in the default family): converted at open, the key moved
     * to its family, the message key left where it was, the meta key says SHARD_LAYOUT */
    shard_store_t *st = shard_store_new(dir);
    CHECK(st != NULL);
    if (st) {
        CHECK(shard_convert(st) == 1);
        uint64_t v = 0;
        CHECK(shard_store_get_u64(st, &k, &v) == 1 && v == 1); /* read from its family */
        char *val = NULL;
        size_t vlen = 0;
        CHECK(shard_store_get(st, &m2, &val, &vlen) == 1 && vlen == 2);
        free(val);
        shard_key_t meta, none = {.len = 0};
        shard_key_meta(&meta, "layout");
        CHECK(shard_store_get(st, &meta, &val, &vlen) == 1 && vlen == 1 &&
              val[0] == '0' + SHARD_LAYOUT);
        free(val);
        /* the default family holds it no more */
        shard_iter_t *it = shard_iter_new(st, &none);
        shard_iter_seek(it, &k);
        size_t kl = 0;
        const char *kk = shard_iter_valid(it) ? shard_iter_key(it, &kl) : NULL;
        CHECK(!kk || kl != k.len || memcmp(kk, k.buf, kl) != 0);
        shard_iter_destroy(&it);
        CHECK(shard_convert(st) == 0); /* once */
        shard_store_destroy(&st);
    }
    st = shard_store_new(dir);
    CHECK(st != NULL && shard_convert(st) == 0);
    uint64_t again = 0;
    CHECK(st && shard_store_get_u64(st, &k, &again) == 1 && again == 1);
    /* layout 3 (the JSON message values): only the meta key changes, to 4 */
    shard_key_t meta;
    shard_key_meta(&meta, "layout");
    CHECK(st && shard_store_put(st, &meta, "3", 1, true) == 0);
    CHECK(st && shard_convert(st) == 0);
    char *lv = NULL, *mv = NULL;
    size_t lvn = 0, mvn = 0;
    CHECK(st && shard_store_get(st, &meta, &lv, &lvn) == 1 && lvn == 1 && lv[0] == '4');
    CHECK(st && shard_store_get(st, &m2, &mv, &mvn) == 1 && mvn == 2 && strcmp(mv, "{}") == 0);
    free(lv);
    free(mv);
    /* a layout this code does not know (a newer one) is refused */
    CHECK(st && shard_store_put(st, &meta, "5", 1, true) == 0);
    CHECK(st && shard_convert(st) == -1);
    CHECK(st && shard_store_put(st, &meta, "4", 1, true) == 0);
    shard_store_destroy(&st);
    size_t n = 0;
    char **fams = rocksdb_list_column_families(o, dir, &n, &err);
    CHECK(!err && n == 2 && fams);
    if (fams)
        rocksdb_list_column_families_destroy(fams, n);
    rocksdb_free(err);
    err = NULL;

    /* a new folder: the routing, through a reopen */
    char fresh[512];
    snprintf(fresh, sizeof fresh, "%s-new", dir);
    st = shard_store_new(fresh);
    CHECK(st != NULL);
    if (!st) {
        rocksdb_options_destroy(o);
        return;
    }
    shard_key_t m;
    shard_key_msg(&m, "dm:a:b", 1);
    shard_batch_t *b = shard_batch_new(st);
    shard_batch_put_u64(b, &k, 1); /* k: the idempotency key above */
    shard_batch_put(b, &m, "{}", 2);
    CHECK(shard_store_write(st, b, false) == 0);
    shard_batch_destroy(&b);
    uint64_t seq = 0;
    CHECK(shard_store_get_u64(st, &k, &seq) == 1 && seq == 1);
    shard_store_destroy(&st);
    st = shard_store_new(fresh);
    CHECK(st != NULL);
    if (!st) {
        rocksdb_options_destroy(o);
        return;
    }
    CHECK(shard_store_get_u64(st, &k, &seq) == 1 && seq == 1); /* from the WAL */
    shard_key_t prefix, all = {.len = 0};
    shard_key_tag_prefix(&prefix, shard_slot_conv("dm:a:b"), 'i');
    int in_idem = 0, in_main = 0, msgs = 0;
    shard_iter_t *it = shard_iter_new(st, &prefix);
    for (shard_iter_seek_first(it); shard_iter_valid(it); shard_iter_next(it))
        in_idem++;
    shard_iter_destroy(&it);
    it = shard_iter_new(st, &all);
    for (shard_iter_seek_first(it); shard_iter_valid(it); shard_iter_next(it)) {
        size_t len;
        const char *key = shard_iter_key(it, &len);
        in_main += shard_key_is_idem(key, len);
        msgs += len == m.len && memcmp(key, m.buf, len) == 0;
    }
    shard_iter_destroy(&it);
    CHECK(in_idem == 1 && in_main == 0 && msgs == 1);
    it = shard_iter_new_idem(st);
    int all_idem = 0;
    for (shard_iter_seek_first(it); shard_iter_valid(it); shard_iter_next(it))
        all_idem++;
    shard_iter_destroy(&it);
    CHECK(all_idem == 1);
    CHECK(shard_store_del(st, &k, false) == 0);
    CHECK(shard_store_get_u64(st, &k, &seq) == 0);
    CHECK(shard_key_is_idem(k.buf, k.len) && !shard_key_is_idem(m.buf, m.len));
    shard_key_meta(&m, "layout");
    CHECK(!shard_key_is_idem(m.buf, m.len) && !shard_key_is_idem("idm:a:b", 7));
    shard_store_destroy(&st);
    rocksdb_options_destroy(o);
}

/* Memtables filled faster than they flush (PARLEY_TEST_MEMTABLE_KIB: 64 KiB memtables).
 * RocksDB then stops writes until a flush ends: the layout conversion at open waits for
 * it (it failed on a store of a few million idempotency keys), and a burst of sends waits
 * out a short stop instead of being refused. */
static void test_full_memtables(const char *dir)
{
    enum { KEYS = 30000, BURST = 40, PER = 400 };
    char *err = NULL;
    rocksdb_options_t *o = rocksdb_options_create();
    rocksdb_options_set_create_if_missing(o, 1);
    rocksdb_t *db = rocksdb_open(o, dir, &err);
    CHECK(db != NULL && !err);
    rocksdb_options_destroy(o);
    if (!db) {
        rocksdb_free(err);
        return;
    }
    shard_key_t k;
    rocksdb_writebatch_t *wb = rocksdb_writebatch_create();
    shard_key_meta(&k, "layout");
    rocksdb_writebatch_put(wb, k.buf, k.len, "2", 1);
    char id[32];
    for (int i = 0; i < KEYS; i++) {
        snprintf(id, sizeof id, "c%d", i);
        shard_key_idem(&k, "dm:a:b", "a", id);
        uint64_t be = 0;
        for (int b = 0; b < 8; b++)
            ((unsigned char *)&be)[b] = (unsigned char)((uint64_t)(i + 1) >> (8 * (7 - b)));
        rocksdb_writebatch_put(wb, k.buf, k.len, (const char *)&be, 8);
    }
    rocksdb_writeoptions_t *wo = rocksdb_writeoptions_create();
    rocksdb_write(db, wo, wb, &err);
    CHECK(!err);
    rocksdb_free(err);
    rocksdb_writeoptions_destroy(wo);
    rocksdb_writebatch_destroy(wb);
    rocksdb_close(db);

    setenv("PARLEY_TEST_MEMTABLE_KIB", "64", 1);
    shard_store_t *st = shard_store_new(dir);
    unsetenv("PARLEY_TEST_MEMTABLE_KIB");
    CHECK(st != NULL);
    if (!st)
        return;
    CHECK(shard_convert(st) == KEYS);
    int found = 0;
    for (int i = 0; i < KEYS; i += 997) {
        snprintf(id, sizeof id, "c%d", i);
        shard_key_idem(&k, "dm:a:b", "a", id);
        uint64_t seq = 0;
        found += shard_store_get_u64(st, &k, &seq) == 1 && seq == (uint64_t)i + 1;
    }
    CHECK(found == (KEYS + 996) / 997);
    /* a burst: each batch about fills a memtable */
    shard_batch_t *b = shard_batch_new(st);
    char val[100];
    memset(val, 'x', sizeof val);
    int ok = 0;
    for (int i = 0; i < BURST; i++) {
        for (int j = 0; j < PER; j++) {
            shard_key_msg(&k, "dm:a:b", (uint64_t)(i * PER + j + 1));
            shard_batch_put(b, &k, val, sizeof val);
        }
        ok += shard_store_write(st, b, false) == 0;
        shard_batch_clear(b);
    }
    CHECK(ok == BURST);
    shard_batch_destroy(&b);
    shard_store_destroy(&st);
}

int main(void)
{
    tst_init("shard_store_test");
    char path[256];
    test_keys();
    snprintf(path, sizeof(path), "%s/store", tst_dir());
    test_store(path);
    snprintf(path, sizeof(path), "%s/nested/shard", tst_dir());
    test_send(path);
    snprintf(path, sizeof(path), "%s/many", tst_dir());
    test_send_many(path);
    snprintf(path, sizeof(path), "%s/batch", tst_dir());
    test_batch(path);
    snprintf(path, sizeof(path), "%s/nested/shard", tst_dir());
    test_paging(path);
    test_outbox(path);
    test_accounts(path);
    test_loc(path);
    test_revoke(path);
    snprintf(path, sizeof(path), "%s/slots", tst_dir());
    test_slots(path);
    snprintf(path, sizeof(path), "%s/convert", tst_dir());
    test_convert(path);
    snprintf(path, sizeof(path), "%s/layout2", tst_dir());
    test_layout(path);
    snprintf(path, sizeof(path), "%s/msgval", tst_dir());
    test_msgval(path);
    snprintf(path, sizeof(path), "%s/full", tst_dir());
    test_full_memtables(path);
    return tst_finish("shard_store_test");
}
