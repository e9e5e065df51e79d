/* Unit tests for the binary internal protocol (proto/pl_msg, pl_ops, pl_msgtext): every
 * kind round-trips; decode is zero-copy and bounds-checked (every truncation of a valid
 * message is rejected, never read past its end: the buffers are exact-size heap copies
 * for ASan); wrong magic, kind and field counts are rejected; name lists; the op table;
 * the text form round-trips; batches (BATCH of REP/EVT) round-trip in order and every
 * malformed batch is rejected whole by pl_batch_check. Exit 0 when all pass. */
#include "pl_log.h"
#include "pl_msg.h"
#include "pl_msgtext.h"
#include "pl_ops.h"

#include <jansson.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "pl_check.h"

PL_CHECK_COUNTERS;

static pl_slice_t S(const char *s)
{
    return (pl_slice_t){(const uint8_t *)s, strlen(s)};
}

/* Decode an exact-size copy of b's first len bytes. */
static int s_decode(const pl_buf_t *b, size_t len, pl_msg_t *m, uint8_t **copy)
{
    *copy = malloc(len ? len : 1);
    memcpy(*copy, b->data, len);
    return pl_msg_decode(*copy, len, m);
}

static void test_roundtrip(void)
{
    static const int nf[PL_K__MAX] = {0, 0, 0, 2, 1, 3, 1, 0, 0, 1, 2, 0, 1, 1};
    for (int kind = 1; kind < PL_K__MAX; kind++) {
        pl_buf_t b = {0};
        pl_hdr_t h = {.kind = (uint8_t)kind,
                      .flags = 0x5a,
                      .op = PL_OP_SEND,
                      .status = PL_ST_NOT_FOUND,
                      .shard = 65535,
                      .id = 0x0102030405060708ull,
                      .seq = UINT64_MAX};
        pl_slice_t f[3] = {S("c:dm:ann:bob"), S(""), S("{\"text\":\"h\\u00e9\"}")};
        CHECK(pl_msg_encode(&b, &h, nf[kind], f) == 0);
        pl_msg_t m;
        uint8_t *copy;
        CHECK(s_decode(&b, b.len, &m, &copy) == 0);
        CHECK(m.h.kind == kind && m.h.flags == 0x5a && m.h.op == PL_OP_SEND);
        CHECK(m.h.status == PL_ST_NOT_FOUND && m.h.shard == 65535);
        CHECK(m.h.id == 0x0102030405060708ull && m.h.seq == UINT64_MAX);
        CHECK(m.nf == nf[kind]);
        for (int i = 0; i < m.nf; i++) {
            CHECK(m.f[i].n == f[i].n && memcmp(m.f[i].p, f[i].p, f[i].n) == 0);
            /* zero-copy: the field points into the buffer */
            CHECK(m.f[i].p >= copy && m.f[i].p + m.f[i].n <= copy + b.len);
        }
        free(copy);
        /* every truncation fails (the full length is the only valid one) */
        for (size_t len = 0; len < b.len; len++) {
            int rc = s_decode(&b, len, &m, &copy);
            CHECK(rc < 0);
            free(copy);
        }
        /* a trailing byte fails */
        pl_buf_put(&b, "x", 1);
        CHECK(s_decode(&b, b.len, &m, &copy) == PL_MSG_E_COUNT ||
              s_decode(&b, b.len, &m, &copy) == PL_MSG_E_FIELD);
        free(copy);
        pl_buf_free(&b);
    }
}

static void test_rejects(void)
{
    pl_buf_t b = {0};
    pl_msg_t m;
    uint8_t *copy;
    pl_hdr_t h = {.kind = PL_K_REP, .id = 7};
    pl_msg_begin(&b, &h);
    pl_msg_field(&b, "ok", 2);
    b.data[0] = 0xB2; /* another version */
    CHECK(s_decode(&b, b.len, &m, &copy) == PL_MSG_E_MAGIC);
    free(copy);
    b.data[0] = PL_MSG_MAGIC;
    b.data[1] = 0;
    CHECK(s_decode(&b, b.len, &m, &copy) == PL_MSG_E_KIND);
    free(copy);
    b.data[1] = PL_K__MAX;
    CHECK(s_decode(&b, b.len, &m, &copy) == PL_MSG_E_KIND);
    free(copy);
    b.data[1] = PL_K_REP;
    /* a field length past the end (huge u32) */
    b.data[PL_MSG_HDR + 3] = 0xff;
    CHECK(s_decode(&b, b.len, &m, &copy) == PL_MSG_E_FIELD);
    free(copy);
    b.data[PL_MSG_HDR + 3] = 0;
    CHECK(s_decode(&b, b.len, &m, &copy) == 0);
    free(copy);
    /* too few fields: REQ with one */
    h.kind = PL_K_REQ;
    pl_msg_begin(&b, &h);
    pl_msg_field(&b, "u:ann", 5);
    CHECK(s_decode(&b, b.len, &m, &copy) == PL_MSG_E_COUNT);
    free(copy);
    /* too many: HB with one */
    h.kind = PL_K_HB;
    pl_msg_begin(&b, &h);
    pl_msg_field(&b, "", 0);
    CHECK(s_decode(&b, b.len, &m, &copy) == PL_MSG_E_COUNT);
    free(copy);
    CHECK(pl_msg_decode("", 0, &m) == PL_MSG_E_SHORT);
    CHECK(strcmp(pl_msg_strerror(PL_MSG_E_FIELD), "a field runs past the end") == 0);
    pl_buf_free(&b);
}

static void test_fields_open(void)
{
    pl_buf_t b = {0};
    pl_hdr_t h = {.kind = PL_K_EVT};
    pl_msg_begin(&b, &h);
    size_t at = pl_msg_field_begin(&b);
    CHECK(pl_list_add(&b, "ann", 3) == 0);
    CHECK(pl_list_add(&b, "", 0) == 0);
    CHECK(pl_list_add(&b, "bob", 3) == 0);
    CHECK(pl_msg_field_end(&b, at) == 0);
    pl_msg_field(&b, "ann/phone", 9);
    pl_msg_field(&b, "{}", 2);
    pl_msg_t m;
    uint8_t *copy;
    CHECK(s_decode(&b, b.len, &m, &copy) == 0);
    pl_list_it_t it;
    pl_slice_t e;
    pl_list_iter(&it, m.f[0]);
    CHECK(pl_list_next(&it, &e) == 1 && pl_slice_eq(e, "ann"));
    CHECK(pl_list_next(&it, &e) == 1 && e.n == 0);
    CHECK(pl_list_next(&it, &e) == 1 && pl_slice_eq(e, "bob"));
    CHECK(pl_list_next(&it, &e) == 0);
    /* a list cut inside an entry, or inside a length */
    pl_list_iter(&it, (pl_slice_t){m.f[0].p, m.f[0].n - 1});
    CHECK(pl_list_next(&it, &e) == 1 && pl_list_next(&it, &e) == 1);
    CHECK(pl_list_next(&it, &e) == -1);
    pl_list_iter(&it, (pl_slice_t){m.f[0].p, 1});
    CHECK(pl_list_next(&it, &e) == -1);
    pl_list_iter(&it, (pl_slice_t){NULL, 0});
    CHECK(pl_list_next(&it, &e) == 0);
    free(copy);
    char buf[8];
    CHECK(pl_slice_cstr(S("abc"), buf, sizeof buf) && strcmp(buf, "abc") == 0);
    CHECK(!pl_slice_cstr(S("abcdefgh"), buf, sizeof buf) && buf[0] == 0);
    CHECK(!pl_slice_cstr((pl_slice_t){(const uint8_t *)"a\0b", 3}, buf, sizeof buf));
    /* reuse keeps the memory */
    uint8_t *mem = b.data;
    pl_msg_begin(&b, &h);
    CHECK(b.data == mem && b.len == PL_MSG_HDR);
    pl_buf_free(&b);
    CHECK(b.data == NULL && b.cap == 0);
}

static void test_ops(void)
{
    CHECK(PL_OP_USER_CREATE == 1); /* wire values: the table is append-only */
    CHECK(pl_op_by_name("send", 4) == PL_OP_SEND);
    CHECK(pl_op_by_name("sen", 3) == PL_OP_NONE);
    CHECK(pl_op_by_name("idx_ack", 7) == PL_OP_IDX_ACK);
    CHECK(strcmp(pl_op_name(PL_OP_PUSH_ACK), "push_ack") == 0);
    CHECK(strcmp(pl_op_name(0), "?") == 0 && strcmp(pl_op_name(PL_OP__COUNT), "?") == 0);
    CHECK(pl_op_def(PL_OP_SEND)->flags & PL_OPF_WRITE);
    CHECK(pl_op_def(PL_OP_IDX_ADD)->flags & PL_OPF_FWD);
    CHECK(!(pl_op_def(PL_OP_SEND)->flags & PL_OPF_FWD));
    CHECK(pl_op_key_ok(PL_OP_SEND, "c:dm:a:b", 8));
    CHECK(!pl_op_key_ok(PL_OP_SEND, "u:ann", 5));
    CHECK(pl_op_key_ok(PL_OP_PRESENCE_REPORT, "u:ann", 5));
    CHECK(!pl_op_key_ok(PL_OP_NONE, "u:ann", 5));
    for (int i = 1; i < PL_OP__COUNT; i++) /* names are unique */
        CHECK((int)pl_op_by_name(pl_op_name(i), strlen(pl_op_name(i))) == i);
    CHECK(strcmp(pl_status_name(PL_ST_UNAVAILABLE), "unavailable") == 0);
    CHECK(strcmp(pl_status_name(999), "internal") == 0);
    CHECK(pl_status_of("conflict") == PL_ST_CONFLICT && pl_status_of("ok") == PL_ST_OK);
    CHECK(pl_status_of("nonsense") == PL_ST_INTERNAL);
}

static void test_text(void)
{
    const char *req[] = {"REQ", "g/gw1", "42", "{\"op\":\"sync\",\"user\":\"ann\"}"};
    zmsg_t *bin = pl_msgtext_to_binv(PL_HOP_ROUTER_SHARD, 4, req);
    CHECK(bin && zmsg_size(bin) == 2);
    if (bin) {
        zframe_t *mf = zmsg_last(bin);
        pl_msg_t m;
        CHECK(pl_msg_decode(zframe_data(mf), zframe_size(mf), &m) == 0);
        CHECK(m.h.kind == PL_K_REQ && m.h.op == PL_OP_SYNC && m.h.id == 42);
        zmsg_t *t = pl_msgtext_from_bin(PL_HOP_ROUTER_SHARD, bin);
        char *s = t ? zmsg_popstr(t) : NULL;
        CHECK(s && strcmp(s, "REQ") == 0);
        free(s);
        s = t ? zmsg_popstr(t) : NULL;
        CHECK(s && strcmp(s, "g/gw1") == 0);
        free(s);
        zmsg_destroy(&t);
    }
    zmsg_destroy(&bin);
    const char *evt[] = {"EVT", "g/a", "[\"ann\",\"bob\"]", "", "{\"type\":\"msg\"}"};
    bin = pl_msgtext_to_binv(PL_HOP_SHARD_ROUTER, 5, evt);
    zmsg_t *t = bin ? pl_msgtext_from_bin(PL_HOP_SHARD_ROUTER, bin) : NULL;
    CHECK(t && zmsg_size(t) == 5);
    if (t) {
        free(zmsg_popstr(t));
        free(zmsg_popstr(t));
        char *to = zmsg_popstr(t);
        CHECK(to && strcmp(to, "[\"ann\",\"bob\"]") == 0);
        free(to);
    }
    zmsg_destroy(&t);
    zmsg_destroy(&bin);
    const char *bad[] = {"NOPE", "x"};
    CHECK(pl_msgtext_to_binv(PL_HOP_GW_ROUTER, 2, bad) == NULL);
}

/* pl_json_str writes what jansson writes (compact), for every byte below 0x80 and UTF-8. */
static void test_json(void)
{
    char all[200];
    size_t n = 0;
    for (int c = 1; c < 0x80; c++)
        all[n++] = (char)c;
    static const char utf8[] = "h\xc3\xa9 \xe2\x80\xa8 \xf0\x9f\x98\x80";
    memcpy(all + n, utf8, sizeof utf8 - 1);
    n += sizeof utf8 - 1;
    json_t *j = json_stringn(all, n);
    char *want = json_dumps(j, JSON_COMPACT | JSON_ENCODE_ANY);
    pl_buf_t b = {0};
    CHECK(pl_json_str(&b, all, n) == 0);
    CHECK(want && b.len == strlen(want) && memcmp(b.data, want, b.len) == 0);
    free(want);
    json_decref(j);
    pl_buf_reset(&b);
    CHECK(pl_json_str(&b, "", 0) == 0 && b.len == 2 && memcmp(b.data, "\"\"", 2) == 0);
    /* the eight-bytes-at-once path: every piece to escape at every offset of runs of
     * plain ASCII and UTF-8 around it, against jansson */
    static const char *piece[] = {
        "\"", "\\", "\n", "\x01", "\x1f", " ", "\x7f", "\xc3\xa9", "\xf0\x9f\x98\x80", "~"};
    for (size_t k = 0; k < sizeof piece / sizeof piece[0]; k++)
        for (size_t at = 0; at <= 20; at++)
            for (size_t tail = 0; tail <= 9; tail++) {
                char in[64];
                size_t m = 0;
                if (tail % 2) { /* some runs start with a 2-byte "é" */
                    in[m++] = '\xc3';
                    in[m++] = '\xa9';
                }
                for (size_t i = 0; i < at; i++)
                    in[m++] = (char)('a' + i);
                memcpy(in + m, piece[k], strlen(piece[k]));
                m += strlen(piece[k]);
                for (size_t i = 0; i < tail; i++)
                    in[m++] = (char)('A' + i);
                json_t *jj = json_stringn(in, m);
                char *w = jj ? json_dumps(jj, JSON_COMPACT | JSON_ENCODE_ANY) : NULL;
                pl_buf_reset(&b);
                CHECK(pl_json_str(&b, in, m) == 0);
                CHECK(w && b.len == strlen(w) && memcmp(b.data, w, b.len) == 0);
                free(w);
                json_decref(jj);
            }
    pl_buf_reset(&b);
    CHECK(pl_json_u64(&b, 0) == 0 && pl_json_u64(&b, UINT64_MAX) == 0);
    CHECK(b.len == 21 && memcmp(b.data, "018446744073709551615", 21) == 0);
    /* every digit count, both sides of each power of ten, and a spread: as printf has it */
    for (int k = 0; k < 2200; k++) {
        uint64_t v = k < 1000 ? (uint64_t)k : (uint64_t)k * 0x9E3779B97F4A7C15ull;
        for (int d = 0; k < 20 && d < 3; d++) { /* 10^k - 1, 10^k, 10^k + 1 */
            uint64_t p = 1;
            for (int i = 0; i < k; i++)
                p *= 10;
            char want[24];
            snprintf(want, sizeof want, "%llu", (unsigned long long)(p - 1 + (uint64_t)d));
            pl_buf_reset(&b);
            CHECK(pl_json_u64(&b, p - 1 + (uint64_t)d) == 0 && b.len == strlen(want) &&
                  memcmp(b.data, want, b.len) == 0);
        }
        char want[24];
        snprintf(want, sizeof want, "%llu", (unsigned long long)v);
        pl_buf_reset(&b);
        CHECK(pl_json_u64(&b, v) == 0 && b.len == strlen(want) && memcmp(b.data, want, b.len) == 0);
    }
    /* a binary body: exactly n fields */
    pl_buf_reset(&b);
    pl_msg_field(&b, "ann", 3);
    pl_msg_field(&b, "", 0);
    pl_slice_t f[3];
    pl_slice_t body = {b.data, b.len};
    CHECK(pl_body_fields(body, f, 2) == 0 && pl_slice_eq(f[0], "ann") && f[1].n == 0);
    CHECK(pl_body_fields(body, f, 1) == -1 && pl_body_fields(body, f, 3) == -1);
    body.n--;
    CHECK(pl_body_fields(body, f, 2) == -1);
    pl_buf_free(&b);
}

/* BATCH: messages added come back in order with their header and fields; a truncated
 * or corrupted batch is rejected by pl_batch_check (and the iterator stops). */
static void test_batch(void)
{
    pl_buf_t b = {0}, one = {0};
    CHECK(pl_batch_begin(&b) == 0 && pl_batch_count(&b) == 0 && b.len == PL_BATCH_OVERHEAD);
    pl_msg_t m;
    uint8_t *copy;
    /* an empty batch decodes and checks (count 0) */
    CHECK(s_decode(&b, b.len, &m, &copy) == 0 && m.h.kind == PL_K_BATCH && m.nf == 1);
    CHECK(pl_batch_check(&m) == 0);
    free(copy);
    for (int i = 0; i < 5; i++) {
        if (i % 2 == 0) {
            pl_hdr_t h = {.kind = PL_K_REP,
                          .id = 100 + (uint64_t)i,
                          .status = i == 2 ? PL_ST_NOT_FOUND : PL_ST_OK};
            pl_msg_begin(&one, &h);
            pl_msg_field_str(&one, i == 2 ? "no such user" : "{\"seq\":1}");
        } else {
            pl_hdr_t h = {.kind = PL_K_EVT};
            pl_msg_begin(&one, &h);
            size_t at = pl_msg_field_begin(&one);
            pl_list_add(&one, "bob", 3);
            pl_msg_field_end(&one, at);
            pl_msg_field_str(&one, i == 3 ? "ann/phone" : "");
            pl_msg_field_str(&one, "{\"type\":\"msg\"}");
        }
        CHECK(pl_batch_add(&b, one.data, one.len) == 0);
    }
    CHECK(pl_batch_count(&b) == 5);
    CHECK(s_decode(&b, b.len, &m, &copy) == 0 && m.h.kind == PL_K_BATCH && m.h.id == 5);
    CHECK(pl_batch_check(&m) == 0);
    pl_batch_it_t it;
    pl_msg_t in;
    pl_batch_iter(&it, &m);
    for (int i = 0; i < 5; i++) {
        CHECK(pl_batch_next(&it, &in) == 1);
        if (i % 2 == 0) {
            CHECK(in.h.kind == PL_K_REP && in.h.id == 100 + (uint64_t)i && in.nf == 1);
            CHECK(in.h.status == (i == 2 ? PL_ST_NOT_FOUND : PL_ST_OK));
        } else {
            CHECK(in.h.kind == PL_K_EVT && in.nf == 3 &&
                  pl_slice_eq(in.f[2], "{\"type\":\"msg\"}"));
            CHECK(pl_slice_eq(in.f[1], i == 3 ? "ann/phone" : ""));
        }
        /* zero-copy: inner fields point into the batch */
        CHECK(in.f[0].p >= copy && in.f[0].p + in.f[0].n <= copy + b.len);
    }
    CHECK(pl_batch_next(&it, &in) == 0);
    CHECK(pl_batch_next(&it, &in) == 0);
    free(copy);
    /* every truncation is rejected, by the decoder or the check */
    for (size_t len = 0; len < b.len; len++) {
        int rc = s_decode(&b, len, &m, &copy);
        if (rc == 0) /* cannot happen: the field length covers the whole rest */
            rc = pl_batch_check(&m);
        CHECK(rc < 0);
        free(copy);
    }
    /* a wrong count: one more, one less */
    uint8_t *d = b.data;
    d[8] = 6;
    CHECK(s_decode(&b, b.len, &m, &copy) == 0 && pl_batch_check(&m) == PL_MSG_E_BATCH);
    free(copy);
    d[8] = 4;
    CHECK(s_decode(&b, b.len, &m, &copy) == 0 && pl_batch_check(&m) == PL_MSG_E_BATCH);
    free(copy);
    d[8] = 5;
    /* an inner entry's length running past the batch */
    size_t e0 = PL_BATCH_OVERHEAD;
    d[e0 + 3] = 0x7f;
    CHECK(s_decode(&b, b.len, &m, &copy) == 0 && pl_batch_check(&m) == PL_MSG_E_BATCH);
    pl_batch_iter(&it, &m);
    CHECK(pl_batch_next(&it, &in) == PL_MSG_E_BATCH);
    CHECK(pl_batch_next(&it, &in) == 0); /* stops after an error */
    free(copy);
    d[e0 + 3] = 0;
    /* an inner message that does not decode (bad magic), or is not REP/EVT */
    d[e0 + 4] = 0xB2;
    CHECK(s_decode(&b, b.len, &m, &copy) == 0 && pl_batch_check(&m) == PL_MSG_E_INNER);
    pl_batch_iter(&it, &m);
    CHECK(pl_batch_next(&it, &in) == PL_MSG_E_INNER);
    CHECK(pl_batch_next(&it, &in) == 0); /* stops after an error */
    free(copy);
    d[e0 + 4] = PL_MSG_MAGIC;
    uint8_t kinds[] = {PL_K_BATCH, PL_K_SNAP, PL_K_HB, PL_K_TABLE};
    for (size_t k = 0; k < sizeof kinds; k++) {
        d[e0 + 5] = kinds[k];
        CHECK(s_decode(&b, b.len, &m, &copy) == 0 && pl_batch_check(&m) < 0);
        free(copy);
    }
    d[e0 + 5] = PL_K_REP;
    CHECK(s_decode(&b, b.len, &m, &copy) == 0 && pl_batch_check(&m) == 0);
    free(copy);
    /* pl_batch_check on something that is no batch */
    pl_hdr_t h = {.kind = PL_K_REP};
    pl_msg_encode(&one, &h, 1, (pl_slice_t[]){S("x")});
    CHECK(s_decode(&one, one.len, &m, &copy) == 0 && pl_batch_check(&m) == PL_MSG_E_BATCH);
    free(copy);
    /* pl_batch_add on a buffer that holds no batch fails */
    pl_buf_t none = {0};
    CHECK(pl_batch_add(&none, one.data, one.len) == -1 && none.failed);
    pl_buf_free(&none);
    CHECK(strcmp(pl_kind_name(PL_K_BATCH), "BATCH") == 0);
    CHECK(strcmp(pl_msg_strerror(PL_MSG_E_INNER),
                 "a batch entry does not decode or is not of the batch's kinds") == 0);
    pl_buf_free(&one);
    pl_buf_free(&b);
}

/* A BATCH of requests (PL_MF_REQS): REQ and REQN entries come back in order; an answer
 * (REP/EVT) in it, or a request in a batch of answers, is rejected whole; the family is
 * told by pl_batch_is_reqs. */
static void test_batch_reqs(void)
{
    pl_buf_t b = {0}, one = {0}, rep = {0};
    pl_msg_t m, in;
    uint8_t *copy;
    pl_batch_it_t it;
    CHECK(pl_batch_begin_reqs(&b) == 0 && pl_batch_count(&b) == 0);
    for (int i = 0; i < 4; i++) {
        pl_hdr_t h = {.kind = i == 2 ? PL_K_REQN : PL_K_REQ,
                      .op = 7,
                      .shard = i == 2 ? 1 : 0,
                      .id = 10 + (uint64_t)i};
        pl_msg_begin(&one, &h);
        if (i != 2)
            pl_msg_field_str(&one, i == 1 ? "c/ann:bob" : "u/ann");
        pl_msg_field_str(&one, "{}");
        CHECK(pl_batch_add(&b, one.data, one.len) == 0);
    }
    CHECK(s_decode(&b, b.len, &m, &copy) == 0 && m.h.kind == PL_K_BATCH && m.h.id == 4);
    CHECK(pl_batch_is_reqs(&m) && pl_batch_check(&m) == 0);
    pl_batch_iter(&it, &m);
    for (int i = 0; i < 4; i++) {
        CHECK(pl_batch_next(&it, &in) == 1 && in.h.id == 10 + (uint64_t)i);
        CHECK(in.h.kind == (i == 2 ? PL_K_REQN : PL_K_REQ) && in.nf == (i == 2 ? 1 : 2));
    }
    CHECK(pl_batch_next(&it, &in) == 0);
    free(copy);
    /* an answer in a batch of requests: rejected whole */
    pl_hdr_t h = {.kind = PL_K_REP, .id = 99};
    pl_msg_encode(&rep, &h, 1, (pl_slice_t[]){S("x")});
    CHECK(pl_batch_add(&b, rep.data, rep.len) == 0);
    CHECK(s_decode(&b, b.len, &m, &copy) == 0 && pl_batch_check(&m) == PL_MSG_E_INNER);
    free(copy);
    /* a request in a batch of answers: rejected whole; a batch of answers is no batch of
     * requests */
    CHECK(pl_batch_begin(&b) == 0 && pl_batch_add(&b, rep.data, rep.len) == 0 &&
          pl_batch_add(&b, one.data, one.len) == 0);
    CHECK(s_decode(&b, b.len, &m, &copy) == 0 && !pl_batch_is_reqs(&m) &&
          pl_batch_check(&m) == PL_MSG_E_INNER);
    free(copy);
    /* a lone REQ is no batch of requests */
    CHECK(pl_msg_decode(one.data, one.len, &m) == 0 && !pl_batch_is_reqs(&m));
    /* the wire form: a batch of one is its message, plain; of more, the batch */
    CHECK(pl_batch_begin_reqs(&b) == 0 && pl_batch_add(&b, one.data, one.len) == 0);
    pl_slice_t f = pl_batch_frame(&b);
    CHECK(f.n == one.len && memcmp(f.p, one.data, one.len) == 0);
    CHECK(pl_batch_add(&b, one.data, one.len) == 0);
    f = pl_batch_frame(&b);
    CHECK(f.p == b.data && f.n == b.len);
    CHECK(s_decode(&b, b.len, &m, &copy) == 0 && pl_batch_weight(&m) == 2);
    free(copy);
    /* room: up to PL_BATCH_MAX, and no more */
    CHECK(pl_batch_fits(&b, PL_BATCH_MAX - PL_BATCH_ENTRY - b.len));
    CHECK(!pl_batch_fits(&b, PL_BATCH_MAX - PL_BATCH_ENTRY - b.len + 1));
    CHECK(pl_batch_begin_reqs(&b) == 0 && pl_batch_fits(&b, PL_BATCH_ENTRY_MAX) &&
          !pl_batch_fits(&b, PL_BATCH_ENTRY_MAX + 1) && !pl_batch_fits(&b, SIZE_MAX));
    /* the weight of a header that claims nothing, or too much: 1 */
    pl_msg_t w = {.h = {.kind = PL_K_BATCH, .id = 0}};
    CHECK(pl_batch_weight(&w) == 1);
    w.h.id = UINT64_MAX;
    CHECK(pl_batch_weight(&w) == 1);
    pl_buf_free(&rep);
    pl_buf_free(&one);
    pl_buf_free(&b);
}

/* A message written in place into a batch (pl_batch_entry_begin/_end) gives the same bytes
 * as the message built alone and added (pl_batch_add); an aborted entry leaves the batch
 * as it was; an entry on a buffer that holds no batch fails. */
static void test_batch_entry(void)
{
    pl_buf_t a = {0}, b = {0}, one = {0};
    CHECK(pl_batch_begin_reqs(&a) == 0 && pl_batch_begin_reqs(&b) == 0);
    for (int i = 0; i < 3; i++) {
        pl_hdr_t h = {.kind = PL_K_REQ, .op = 5, .id = 40 + (uint64_t)i};
        pl_msg_begin(&one, &h);
        pl_msg_field_str(&one, "c:dm:ann:bob");
        size_t at = pl_msg_field_begin(&one);
        pl_msg_field(&one, "ann", 3);
        pl_msg_field(&one, "hello", 5);
        pl_msg_field_end(&one, at);
        CHECK(pl_batch_add(&a, one.data, one.len) == 0);
        size_t e = pl_batch_entry_begin(&b, &h);
        pl_msg_field_str(&b, "c:dm:ann:bob");
        at = pl_msg_field_begin(&b);
        pl_msg_field(&b, "ann", 3);
        pl_msg_field(&b, "hello", 5);
        pl_msg_field_end(&b, at);
        CHECK(pl_batch_entry_end(&b, e) == 0);
        CHECK(a.len == b.len && memcmp(a.data, b.data, a.len) == 0);
    }
    /* pl_msg_fields: the same bytes as one pl_msg_field per field */
    pl_buf_t x = {0}, y = {0};
    pl_slice_t fs[3] = {S("ann"), {NULL, 0}, S("hello")};
    CHECK(pl_msg_fields(&x, fs, 3) == 0 && pl_msg_fields(&x, fs, 0) == 0);
    for (int i = 0; i < 3; i++)
        pl_msg_field(&y, fs[i].p, fs[i].n);
    CHECK(x.len == y.len && x.len == 4 + 3 + 4 + 4 + 5 && memcmp(x.data, y.data, x.len) == 0);
    pl_buf_free(&x);
    pl_buf_free(&y);
    /* an entry given up half-written: the batch is as before, and takes more entries */
    size_t len = b.len;
    pl_hdr_t h = {.kind = PL_K_REQ, .id = 77};
    size_t e = pl_batch_entry_begin(&b, &h);
    pl_msg_field_str(&b, "half");
    b.failed = true; /* as after an allocation failure */
    CHECK(pl_batch_entry_end(&b, e) == -1);
    pl_batch_entry_abort(&b, e);
    CHECK(!b.failed && b.len == len && memcmp(a.data, b.data, len) == 0 && pl_batch_count(&b) == 3);
    pl_msg_t m, in;
    pl_batch_it_t it;
    CHECK(pl_msg_decode(b.data, b.len, &m) == 0 && pl_batch_check(&m) == 0);
    pl_batch_iter(&it, &m);
    CHECK(pl_batch_next(&it, &in) == 1 && in.h.id == 40 && in.nf == 2);
    /* no batch in the buffer: fails */
    pl_buf_t none = {0};
    e = pl_batch_entry_begin(&none, &h);
    CHECK(none.failed && pl_batch_entry_end(&none, e) == -1);
    pl_buf_free(&none);
    pl_buf_free(&one);
    pl_buf_free(&a);
    pl_buf_free(&b);
}

int main(void)
{
    zsys_handler_set(NULL);
    pl_log_init("test_msg", PL_ERROR);
    test_roundtrip();
    test_rejects();
    test_fields_open();
    test_ops();
    test_text();
    test_batch_reqs();
    test_json();
    test_batch();
    test_batch_entry();
    printf("%d passed, %d failed\n", s_passed, s_failed);
    return s_failed ? 1 : 0;
}
