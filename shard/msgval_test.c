/* shard_msgval_test — the stored message value of msgval.c without a shard: the event
 * JSON byte for byte (escapes, member order, the spots the `ok` answer copies), the binary
 * value's round trip, its rendering equal to the JSON the send ships, a JSON value of the
 * older versions read verbatim, the ts of both, and corrupt values (every truncation,
 * unknown versions, over-long fields) refused without a crash. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "msgval.h"
#include "test_support.h"

static shard_msgval_t s_msg(const char *text)
{
    shard_msgval_t m = {.conv = "dm:al\"ice:bob",
                        .from = "alice",
                        .device = "ph.one-1",
                        .cmid = "id \xc3\xa9\\",
                        .text = text,
                        .seq = 1234567,
                        .ts = 1765000000123};
    m.conv_len = strlen(m.conv);
    m.from_len = strlen(m.from);
    m.device_len = strlen(m.device);
    m.cmid_len = strlen(m.cmid);
    m.text_len = strlen(text);
    return m;
}

static bool s_is(const pl_buf_t *b, const char *want)
{
    return b->len == strlen(want) && memcmp(b->data, want, b->len) == 0;
}

int main(void)
{
    tst_init("shard_msgval_test");
    pl_buf_t json = {0}, val = {0}, out = {0};
    shard_msgval_t m = s_msg("hi \"you\"\n\x01 \xf0\x9f\x98\x80 and a longer tail of text");
    shard_msgval_spots_t at;
    /* the event JSON: member order, escapes, spots */
    CHECK(shard_msgval_json(&json, &m, &at) == 0);
    const char *want =
        "{\"type\":\"msg\",\"conv\":\"dm:al\\\"ice:bob\",\"seq\":1234567,\"from\":\"alice\","
        "\"device\":\"ph.one-1\",\"text\":\"hi \\\"you\\\"\\n\\u0001 \xf0\x9f\x98\x80 and a "
        "longer tail of text\",\"ts\":1765000000123,\"client_msg_id\":\"id \xc3\xa9\\\\\"}";
    CHECK(s_is(&json, want));
    CHECK(at.conv_n == strlen("\"dm:al\\\"ice:bob\"") &&
          memcmp(json.data + at.conv_at, "\"dm:al", 6) == 0);
    CHECK(at.seq_n == 7 && memcmp(json.data + at.seq_at, "1234567", 7) == 0);
    CHECK(at.ts_n == 13 && memcmp(json.data + at.ts_at, "1765000000123", 13) == 0);
    /* the binary value: smaller, version byte first, round trip */
    CHECK(shard_msgval_encode(&val, &m) == 0);
    CHECK(val.len < json.len && val.data[0] == SHARD_MSGVAL_V1);
    CHECK(val.len == 1 + 8 + 1 + m.from_len + 1 + m.device_len + 2 + m.cmid_len + m.text_len);
    shard_msgval_t d;
    memset(&d, 0, sizeof d);
    CHECK(shard_msgval_decode(val.data, val.len, &d) == 1);
    CHECK(d.ts == m.ts && d.from_len == m.from_len && memcmp(d.from, m.from, d.from_len) == 0);
    CHECK(d.device_len == m.device_len && memcmp(d.device, m.device, d.device_len) == 0);
    CHECK(d.cmid_len == m.cmid_len && memcmp(d.cmid, m.cmid, d.cmid_len) == 0);
    CHECK(d.text_len == m.text_len && memcmp(d.text, m.text, d.text_len) == 0);
    /* rendering it gives the JSON the send shipped, byte for byte, after what out held */
    pl_buf_put(&out, "x", 1);
    CHECK(shard_msgval_render(&out, m.conv, m.conv_len, m.seq, val.data, val.len) == 0);
    CHECK(out.len == 1 + json.len && memcmp(out.data + 1, json.data, json.len) == 0);
    int64_t ts = 0;
    CHECK(shard_msgval_ts(val.data, val.len, &ts) == 0 && ts == m.ts);
    /* version 2 (what a send stores): ts, then the event after its seq, rendered back to
     * the same bytes; every truncation and a tail that is not one refused */
    pl_buf_t v2 = {0};
    size_t tail = at.seq_at + at.seq_n;
    CHECK(shard_msgval_encode_tail(&v2, m.ts, (const char *)json.data + tail, json.len - tail) ==
          0);
    CHECK(v2.len == 9 + json.len - tail && v2.data[0] == SHARD_MSGVAL_V2);
    CHECK(shard_msgval_decode(v2.data, v2.len, &d) == 2 && d.ts == m.ts);
    pl_buf_reset(&out);
    CHECK(shard_msgval_render(&out, m.conv, m.conv_len, m.seq, v2.data, v2.len) == 0);
    CHECK(out.len == json.len && memcmp(out.data, json.data, json.len) == 0);
    CHECK(shard_msgval_ts(v2.data, v2.len, &ts) == 0 && ts == m.ts);
    for (size_t n = 0; n < v2.len; n++)
        CHECK(shard_msgval_decode(v2.data, n, &d) == -1);
    v2.data[9 + 1] = 'x'; /* not the from member */
    CHECK(shard_msgval_decode(v2.data, v2.len, &d) == -1 &&
          shard_msgval_render(&out, "c", 1, 1, v2.data, v2.len) == -1);
    pl_buf_free(&v2);
    /* a JSON value of the older versions: read verbatim, its ts from the JSON */
    pl_buf_reset(&out);
    CHECK(shard_msgval_decode(json.data, json.len, &d) == 0);
    CHECK(shard_msgval_render(&out, "ignored", 7, 1, json.data, json.len) == 0);
    CHECK(out.len == json.len && memcmp(out.data, json.data, json.len) == 0);
    CHECK(shard_msgval_ts(json.data, json.len, &ts) == 0 && ts == m.ts);
    CHECK(shard_msgval_ts("{\"seq\":1}", 9, &ts) == -1); /* no ts: corrupt */
    CHECK(shard_msgval_ts("{", 1, &ts) == -1);
    /* an empty text and empty fields round trip too; a negative ts is stored as 0 */
    shard_msgval_t e = s_msg("");
    e.cmid_len = e.device_len = 0;
    e.ts = -5;
    pl_buf_reset(&val);
    CHECK(shard_msgval_encode(&val, &e) == 0);
    CHECK(shard_msgval_decode(val.data, val.len, &d) == 1 && d.text_len == 0 && d.ts == 0 &&
          d.cmid_len == 0 && d.device_len == 0);
    /* every truncation of a value is refused or decodes within it (the text is its
     * rest); never a read past the end (ASan) */
    pl_buf_reset(&val);
    CHECK(shard_msgval_encode(&val, &m) == 0);
    size_t head = 1 + 8 + 1 + m.from_len + 1 + m.device_len + 2 + m.cmid_len;
    for (size_t n = 0; n < val.len; n++) {
        uint8_t *cut = malloc(n ? n : 1);
        memcpy(cut, val.data, n);
        int rc = shard_msgval_decode(cut, n, &d);
        CHECK(n < head ? rc == -1 : rc == 1 && d.text_len == n - head);
        pl_buf_reset(&out);
        CHECK((shard_msgval_render(&out, "c", 1, 1, cut, n) == 0) == (n >= head));
        CHECK((n >= head || out.len == 0) && !out.failed);
        free(cut);
    }
    /* unknown version bytes and junk are corrupt; the output is left as it was */
    static const uint8_t bad[][12] = {{0x02, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0},
                                      {0x00},
                                      {'[', '1', ']'},
                                      {0x01, 0, 0, 0, 0, 0, 0, 0, 0, 200, 'a', 'b'}};
    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
        pl_buf_reset(&out);
        CHECK(shard_msgval_decode(bad[i], sizeof bad[i], &d) == -1);
        CHECK(shard_msgval_render(&out, "c", 1, 1, bad[i], sizeof bad[i]) == -1 && out.len == 0);
        CHECK(shard_msgval_ts(bad[i], sizeof bad[i], &ts) == -1);
    }
    /* fields longer than the format holds are refused, nothing appended */
    char longname[300];
    memset(longname, 'a', sizeof longname);
    shard_msgval_t l = s_msg("t");
    l.from = longname;
    l.from_len = 256;
    pl_buf_reset(&val);
    CHECK(shard_msgval_encode(&val, &l) == -1 && val.len == 0);
    l = s_msg("t");
    l.device = longname;
    l.device_len = 256;
    CHECK(shard_msgval_encode(&val, &l) == -1 && val.len == 0);
    pl_buf_free(&json);
    pl_buf_free(&val);
    pl_buf_free(&out);
    return tst_finish("shard_msgval_test");
}
