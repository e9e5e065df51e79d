/* validate_test — unit test of the stateless checks of client frames (gw_validate.h): the
 * frame head (binary, JSON, UTF-8, object, id, type, U+0000) and every conversation
 * request type (send, sync, history, read, typing): field presence and types, lengths in
 * code points, U+0000, ranges and defaults, conversation ids and the dm caller's
 * membership. Each refusal is checked by its code and message, as the client sees them. */
#include "gw_types.h"
#include "gw_validate.h"

#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "pl_check.h"
#include "pl_err.h"
#include "pl_text.h"

PL_CHECK_COUNTERS;

/* v is a refusal with this code and message (NULL code: valid). */
static bool s_is(gw_verdict_t v, const char *code, const char *msg)
{
    if (!code)
        return v.code == NULL;
    return v.code && strcmp(v.code, code) == 0 && v.msg && strcmp(v.msg, msg) == 0;
}

#define BADREQ PL_E_BAD_REQUEST

/* ---- the frame head --------------------------------------------------------------------- */

static gw_verdict_t s_head(const char *text, size_t len, bool binary, gw_frame_head_t *h)
{
    return gw_frame_head(text, len, binary, h);
}

static void test_head(void)
{
    gw_frame_head_t h;
    const char ok[] = "{\"type\":\"ping\",\"id\":\"7\"}";
    /* the same bytes as a binary message: refused */
    CHECK(s_is(s_head(ok, strlen(ok), true, &h), BADREQ, "binary frames are not accepted"));
    CHECK(h.req == NULL && h.id_json == NULL);
    gw_frame_head_clear(&h);

    CHECK(s_is(s_head(ok, strlen(ok), false, &h), NULL, NULL));
    CHECK(h.req == NULL && h.nflat == 2); /* flat: no jansson object until asked */
    CHECK(gw_frame_req(&h) && json_is_object(h.req) && json_object_size(h.req) == 2);
    CHECK(h.id_json && strcmp(h.id_json, "\"7\"") == 0);
    CHECK(h.type && strcmp(h.type, "ping") == 0 && h.has_type);
    gw_frame_head_clear(&h);
    CHECK(h.req == NULL && h.id_json == NULL);
    gw_frame_head_clear(&h); /* idempotent */

    /* the id is kept as JSON text, escapes and non-ASCII included */
    const char esc[] = "{\"id\":\"a\\\"b\\u00e9\",\"type\":\"x\"}";
    CHECK(s_is(s_head(esc, strlen(esc), false, &h), NULL, NULL));
    CHECK(h.id_json && strcmp(h.id_json, "\"a\\\"b\xc3\xa9\"") == 0);
    gw_frame_head_clear(&h);
    /* ids needing no escape are quoted directly, the others as jansson dumps them */
    const char plain[] = "{\"id\":\"b\xc3\xa9 /x\",\"type\":\"x\"}";
    CHECK(s_is(s_head(plain, strlen(plain), false, &h), NULL, NULL));
    CHECK(h.id_json && strcmp(h.id_json, "\"b\xc3\xa9 /x\"") == 0);
    gw_frame_head_clear(&h);
    const char ctl[] = "{\"id\":\"a\\nb\\\\\",\"type\":\"x\"}";
    CHECK(s_is(s_head(ctl, strlen(ctl), false, &h), NULL, NULL));
    CHECK(h.id_json && strcmp(h.id_json, "\"a\\nb\\\\\"") == 0);
    gw_frame_head_clear(&h);

    /* not JSON, or JSON that is not one object */
    struct {
        const char *text;
        const char *msg;
    } bad[] = {
        {"", "invalid JSON"},
        {"{", "invalid JSON"},
        {"{\"id\":\"1\"} x", "invalid JSON"},
        {"{\"id\":\"1\",\"id\":\"2\"}", "invalid JSON"}, /* duplicate keys */
        {"{\"id\":\"\xff\"}", "invalid JSON"},           /* not UTF-8 */
        {"{\"id\":\"\xed\xa0\x80\"}", "invalid JSON"},   /* a surrogate in UTF-8 */
        {"{\"id\":\"\xc3\"}", "invalid JSON"},           /* a cut character */
        {"{\"id\":\"\\ud800\"}", "invalid JSON"},        /* a lone escaped surrogate */
        {"\"x\"", "invalid JSON"}, /* only an object or an array parses at the top */
        {"12", "invalid JSON"},
        {"null", "invalid JSON"},
        {"[1]", "a frame must be a JSON object"},
        {"[{\"id\":\"1\",\"type\":\"ping\"}]", "a frame must be a JSON object"},
        {"{}", "id is missing or not a string"},
        {"{\"type\":\"ping\"}", "id is missing or not a string"},
        {"{\"id\":7,\"type\":\"ping\"}", "id is missing or not a string"},
        {"{\"id\":null}", "id is missing or not a string"},
        {"{\"id\":[\"1\"]}", "id is missing or not a string"},
        {NULL, NULL},
    };
    for (int i = 0; bad[i].text; i++) {
        gw_verdict_t v = s_head(bad[i].text, strlen(bad[i].text), false, &h);
        CHECK(s_is(v, BADREQ, bad[i].msg));
        if (!s_is(v, BADREQ, bad[i].msg))
            fprintf(stderr, "  frame %d: got %s / %s\n", i, v.code ? v.code : "(valid)",
                    v.msg ? v.msg : "");
        CHECK(h.id_json == NULL);
        gw_frame_head_clear(&h);
    }
    /* a NUL byte in the middle of the frame's bytes: not JSON */
    const char nul[] = "{\"id\":\"1\"}\0{}";
    CHECK(s_is(s_head(nul, sizeof nul - 1, false, &h), BADREQ, "invalid JSON"));
    gw_frame_head_clear(&h);

    /* type: absent, not a string, holding U+0000 (no known type), U+0000 elsewhere */
    const char *t1 = "{\"id\":\"1\"}";
    CHECK(s_is(s_head(t1, strlen(t1), false, &h), NULL, NULL));
    CHECK(!h.has_type && h.type == NULL);
    gw_frame_head_clear(&h);
    const char *t2 = "{\"id\":\"1\",\"type\":5}";
    CHECK(s_is(s_head(t2, strlen(t2), false, &h), NULL, NULL));
    CHECK(h.has_type && h.type == NULL);
    gw_frame_head_clear(&h);
    const char *t3 = "{\"id\":\"1\",\"type\":\"send\\u0000x\"}";
    CHECK(s_is(s_head(t3, strlen(t3), false, &h), NULL, NULL));
    CHECK(h.type && strcmp(h.type, "(holds U+0000)") == 0);
    gw_frame_head_clear(&h);
    const char *t4 = "{\"id\":\"a\\u0000b\",\"type\":\"ping\"}";
    CHECK(s_is(s_head(t4, strlen(t4), false, &h), NULL, NULL));
    CHECK(h.id_json && strcmp(h.id_json, "\"a\\u0000b\"") == 0);
    gw_frame_head_clear(&h);
}

/* ---- the parser: yajl + checks accept exactly what json_loadb accepted ------------------ */

/* text (len bytes) through gw_frame_head and json_loadb (its flags of before): the same
 * verdict ("invalid JSON" exactly when json_loadb fails) and, when valid, the same object. */
static bool s_same_as_jansson(const char *text, size_t len)
{
    gw_frame_head_t h;
    gw_verdict_t v = gw_frame_head(text, len, false, &h);
    json_t *j = json_loadb(text, len, JSON_REJECT_DUPLICATES | JSON_ALLOW_NUL, NULL);
    bool j_ok = json_is_object(j) && json_is_string(json_object_get(j, "id"));
    bool same = !v.code == j_ok && (!j) == (v.code && strcmp(v.msg, "invalid JSON") == 0) &&
                (!j_ok || json_equal(j, gw_frame_req(&h)));
    /* the one difference: jansson 2.14 skips a raw NUL byte after a number or a literal,
     * the gateway refuses every raw NUL byte */
    if (!same && j && v.code && strcmp(v.msg, "invalid JSON") == 0 && memchr(text, 0, len))
        same = true;
    if (!same)
        fprintf(stderr, "  differs from jansson (%s): %.*s\n", v.msg ? v.msg : "valid",
                (int)(len < 80 ? len : 80), text);
    json_decref(j);
    gw_frame_head_clear(&h);
    return same;
}

/* [[[...{"id":"1","a":<inner>}...]]]: `arrays` arrays around an object, inner at depth
 * arrays + 2 when a scalar (jansson counts every value a level). */
static char *s_nested(int arrays, const char *inner, bool outer_object)
{
    size_t n = (size_t)arrays, il = strlen(inner);
    char *t = malloc(2 * n + il + 64);
    if (!t)
        return NULL;
    size_t o = 0;
    if (outer_object)
        o += (size_t)sprintf(t, "{\"id\":\"1\",\"a\":");
    memset(t + o, '[', n);
    o += n;
    memcpy(t + o, inner, il);
    o += il;
    memset(t + o, ']', n);
    o += n;
    if (outer_object)
        t[o++] = '}';
    t[o] = 0;
    return t;
}

static void test_parser(void)
{
    static const char *cases[] = {
        "{\"id\":\"1\",\"type\":\"send\",\"text\":\"h\xc3\xa9llo \\\"w\\\" \\n\\t\\/\\b\\f\\r\"}",
        "{\"id\":\"1\",\"a\":{\"b\":[1,2.5,-0,-0.0,1e3,1E-3,true,false,null,{},[]]}}",
        "{\"id\":\"1\",\"a\":{\"b\":1,\"b\":2}}",     /* duplicate key, nested */
        "{\"id\":\"1\",\"a\":[{\"b\":1},{\"b\":2}]}", /* not duplicates */
        "{\"id\":\"1\",\"\":1}",
        "{\"id\":\"1\",\"a\":9223372036854775807}",
        "{\"id\":\"1\",\"a\":9223372036854775808}",
        "{\"id\":\"1\",\"a\":-9223372036854775808}",
        "{\"id\":\"1\",\"a\":-9223372036854775809}",
        "{\"id\":\"1\",\"a\":99999999999999999999999}",
        "{\"id\":\"1\",\"a\":1e308}",
        "{\"id\":\"1\",\"a\":1e309}",
        "{\"id\":\"1\",\"a\":-1e309}",
        "{\"id\":\"1\",\"a\":1e-400}",
        "{\"id\":\"1\",\"a\":01}",
        "{\"id\":\"1\",\"a\":1.}",
        "{\"id\":\"1\",\"a\":.5}",
        "{\"id\":\"1\",\"a\":+1}",
        "{\"id\":\"1\",\"a\":-}",
        "{\"id\":\"1\",\"a\":1e}",
        "{\"id\":\"1\",\"a\":NaN}",
        "{\"id\":\"1\",\"a\":tru}",
        "{\"id\":\"1\",\"a\":1,}",
        "{\"id\":\"1\",\"a\":[1,]}",
        "{\"id\":\"1\" /* c */}",
        "{\"id\":\"1\"} // c",
        "{\"id\":\"1\"}\n\r\t ",
        " \t\r\n{\"id\":\"1\"}",
        "{\"id\":\"1\"}\v",
        "{\"id\":\"1\",\f\"a\":1}",
        "{\"id\":\"1\"}{}",
        "{\"id\":\"1\"}[]",
        "{'id':'1'}",
        "{\"id\":\"1\",\"a\":\"\\x\"}",
        "{\"id\":\"1\",\"a\":\"\\u00e9\\ud83d\\ude00\"}",
        "{\"id\":\"1\",\"a\":\"\\udc00\"}",
        "{\"id\":\"1\",\"a\\u0000b\":1}",
        "{\"id\":\"1\",\"a\":\"\\\\u\"}", /* a backslash, then u: no escape */
        "{\"id\":\"1\",\"a\":\"\x7f\"}",
        "{\"id\":\"1\",\"a\":\"\xc0\xaf\"}", /* overlong */
        "{\"id\":\"1\",\"a\":\"\xe0\x80\xaf\"}",
        "{\"id\":\"1\",\"a\":\"\xf4\x90\x80\x80\"}", /* > U+10FFFF */
        "{\"id\":\"1\",\"a\":\"\xf0\x9f\x98\x80\"}", /* U+1F600 */
        "{\"id\":\"1\",\"\xff\":1}",
        "{\"id\":\"1\"}\xc3\xa9",
        "{\"id\":\"1\",\"a\":\"\t\"}", /* a raw tab in a string */
        "{\"id\":\"1\"",
        "{\"id\"",
        "[",
        "]",
        "[]",
        "{\"id\":\"1\",\"a\":[[[[]]]]}",
        /* a value, then the start of a string yajl never sees the end of */
        "{\"type\":\"send\",\"id\":4}\"}",
        "{\"id\":\"1\"} \"",
        "{\"id\":\"1\"}\"abc",
        "{\"id\":\"1\"} \"a\\",
        "{\"id\":\"1\",\"a\":[1]} \"x",
        "[1]\"",
        "{\"id\":\"1\"} t",
        "{\"id\":\"1\"} 1",
        "{\"id\":\"1\"} -",
        "{\"id\":\"1\"} {",
        NULL,
    };
    for (int i = 0; cases[i]; i++)
        CHECK(s_same_as_jansson(cases[i], strlen(cases[i])));
    const char nul[] = "{\"id\":\"a\0b\"}";
    CHECK(s_same_as_jansson(nul, sizeof nul - 1));
    /* a raw NUL byte after a number or a literal: jansson 2.14 parses the frame (a bug of
     * its stream), the gateway refuses it (fuzz_frame's finding) */
    static const char *const nul_after[] = {
        "{\"id\":\"1\",\"a\":16\0}", "{\"id\":\"1\",\"a\":true\0}", "{\"id\":\"1\",\"a\":-1.5\0 }"};
    static const size_t nul_len[] = {18, 20, 21};
    for (int i = 0; i < 3; i++) {
        gw_frame_head_t h;
        json_t *j =
            json_loadb(nul_after[i], nul_len[i], JSON_REJECT_DUPLICATES | JSON_ALLOW_NUL, NULL);
        CHECK(j != NULL); /* the quirk this documents; if a new jansson fixes it, fine */
        json_decref(j);
        CHECK(s_is(s_head(nul_after[i], nul_len[i], false, &h), BADREQ, "invalid JSON"));
        gw_frame_head_clear(&h);
    }
    /* depth: around jansson's JSON_PARSER_MAX_DEPTH, for containers and for scalars */
    for (int d = JSON_PARSER_MAX_DEPTH - 4; d <= JSON_PARSER_MAX_DEPTH + 1; d++) {
        static const char *inner[] = {"1", "\"x\"", "[]", "{}", "{\"k\":null}"};
        for (size_t k = 0; k < sizeof inner / sizeof inner[0]; k++) {
            char *t = s_nested(d, inner[k], true);
            CHECK(t && s_same_as_jansson(t, strlen(t)));
            free(t);
            t = s_nested(d, inner[k], false);
            CHECK(t && s_same_as_jansson(t, strlen(t)));
            free(t);
        }
    }
    /* a control byte, a backslash-u, an escape, at every offset from the 8-byte words the
     * pre-scan reads (validate.c, s_prescan) */
    for (int at = 0; at < 24; at++) {
        static const char *ins[] = {"\x01", "\x1f", "\t", "\\u00e9", "\\n", "\\\\u", "\xc3\xa9"};
        for (size_t k = 0; k < sizeof ins / sizeof ins[0]; k++) {
            char t[96];
            int o = snprintf(t, sizeof t, "{\"id\":\"1\",\"text\":\"%.*s%s%.*s\"}", at,
                             "abcdefghijklmnopqrstuvwxyz", ins[k], 24 - at,
                             "ABCDEFGHIJKLMNOPQRSTUVWXYZ");
            CHECK(s_same_as_jansson(t, (size_t)o));
            o = snprintf(t, sizeof t, "{\"id\":\"1\",%.*s\"text\":\"%s\"}", at,
                         "                        ", ins[k]);
            CHECK(s_same_as_jansson(t, (size_t)o));
        }
    }
    /* strings with escapes longer than the parser's arena: yajl's buffer grows on the heap */
    char *esc = malloc(5000 * 5 + 64);
    CHECK(esc != NULL);
    if (esc) {
        int o = sprintf(esc, "{\"id\":\"1\",\"text\":\"");
        for (int i = 0; i < 5000; i++)
            o += sprintf(esc + o, "a\\n\\\"");
        strcpy(esc + o, "\"}");
        CHECK(s_same_as_jansson(esc, strlen(esc)));
        free(esc);
    }
    /* a long text, and a long key and number (past the parser's small buffers) */
    size_t n = 300000;
    char *big = malloc(n + 64);
    CHECK(big != NULL);
    if (big) {
        int o = sprintf(big, "{\"id\":\"1\",\"");
        memset(big + o, 'k', 100);
        o += 100;
        o += sprintf(big + o, "\":0.");
        memset(big + o, '1', 200);
        o += 200;
        o += sprintf(big + o, ",\"text\":\"");
        memset(big + o, 'x', n - (size_t)o);
        strcpy(big + n, "\"}");
        CHECK(s_same_as_jansson(big, strlen(big)));
        free(big);
    }
}

/* ---- field helpers ------------------------------------------------------------------------ */

static void test_fields(void)
{
    json_t *r = json_loads("{\"s\":\"abc\",\"z\":\"a\\u0000\",\"n\":5,\"f\":1.5,\"b\":true}",
                           JSON_ALLOW_NUL, NULL);
    CHECK(r != NULL);
    const char *out;
    size_t len = 0;
    CHECK(s_is(gw_valid_str(r, "s", true, &out, &len), NULL, NULL) && out &&
          strcmp(out, "abc") == 0 && len == 3);
    CHECK(s_is(gw_valid_str(r, "missing", false, &out, NULL), NULL, NULL) && out == NULL);
    CHECK(
        s_is(gw_valid_str(r, "missing", true, &out, NULL), BADREQ, "a required field is missing"));
    CHECK(s_is(gw_valid_str(r, "n", true, &out, NULL), BADREQ, "a field has the wrong type"));
    CHECK(s_is(gw_valid_str(r, "b", false, &out, NULL), BADREQ, "a field has the wrong type"));
    CHECK(s_is(gw_valid_str(r, "z", true, &out, NULL), BADREQ, "a string holds U+0000"));

    json_int_t n = -1;
    bool present = true;
    CHECK(s_is(gw_valid_int(r, "n", 1, 5, &n, &present), NULL, NULL) && present && n == 5);
    n = -1;
    CHECK(s_is(gw_valid_int(r, "missing", 1, 5, &n, &present), NULL, NULL) && !present && n == -1);
    CHECK(s_is(gw_valid_int(r, "n", 6, 9, &n, &present), BADREQ, "a number is out of range"));
    CHECK(s_is(gw_valid_int(r, "n", 0, 4, &n, &present), BADREQ, "a number is out of range"));
    CHECK(s_is(gw_valid_int(r, "f", 0, 9, &n, &present), BADREQ, "a field has the wrong type"));
    CHECK(s_is(gw_valid_int(r, "s", 0, 9, &n, &present), BADREQ, "a field has the wrong type"));
    json_decref(r);
}

/* ---- conversation ids ------------------------------------------------------------------- */

static void test_conv_ids(void)
{
    char other[33] = "x";
    CHECK(s_is(gw_valid_conv("alice", "dm:alice:bob", other), NULL, NULL) &&
          strcmp(other, "bob") == 0);
    CHECK(s_is(gw_valid_conv("bob", "dm:alice:bob", other), NULL, NULL) &&
          strcmp(other, "alice") == 0);
    /* a group: well-formed is enough here (the shard checks membership) */
    CHECK(s_is(gw_valid_conv("alice", "g:AbC_-09", other), NULL, NULL) && other[0] == 0);
    /* a dm of two others */
    CHECK(s_is(gw_valid_conv("carol", "dm:alice:bob", other), PL_E_FORBIDDEN,
               "not a member of this conversation"));
    /* a prefix of a member's name is not the member */
    CHECK(s_is(gw_valid_conv("ali", "dm:alice:bob", other), PL_E_FORBIDDEN,
               "not a member of this conversation"));
    const char *bad[] = {
        "",
        "dm:",
        "dm:alice",
        "dm:alice:",
        "dm:bob:alice",   /* not in byte order */
        "dm:alice:alice", /* with oneself */
        "dm:Alice:bob",   /* not a user name */
        "dm:al:bob",      /* too short */
        "dm:alice:bob:",
        "dm:alice:bob:carol",
        "dm:aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa:bob", /* 33 characters */
        "DM:alice:bob",
        "g:",
        "g:a/b",
        "g:aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa", /* 65 */
        "group:x",
        "alice",
        NULL};
    for (int i = 0; bad[i]; i++) {
        gw_verdict_t v = gw_valid_conv("alice", bad[i], other);
        CHECK(s_is(v, BADREQ, "conv is not a valid conversation id"));
        if (!v.code)
            fprintf(stderr, "  accepted conv '%s'\n", bad[i]);
    }
}

/* ---- conversation requests ---------------------------------------------------------------- */

/* The frame of the last s_req: *r borrows from it, so it lives until the next call. */
static gw_frame_head_t s_last;

static bool s_same_verdict(gw_verdict_t a, gw_verdict_t b)
{
    return a.code ? b.code && strcmp(a.code, b.code) == 0 && strcmp(a.msg, b.msg) == 0 : !b.code;
}

/* Validate the frame text (a JSON object, without id) as a request of type from alice:
 * through gw_frame_head (the flat members when the frame is flat), and also from the
 * frame's jansson object, which must give the same verdict. */
static gw_verdict_t s_req(const char *type, const char *text, gw_conv_req_t *r)
{
    size_t n = strlen(text) + 32;
    char *f = malloc(n);
    if (!f || text[0] != '{') {
        free(f);
        return (gw_verdict_t){"(test)", "(test)"};
    }
    snprintf(f, n, "{\"id\":\"t\"%s%s", text[1] == '}' ? "" : ",", text + 1);
    gw_frame_head_clear(&s_last);
    gw_verdict_t hv = gw_frame_head(f, strlen(f), false, &s_last);
    free(f);
    if (hv.code) {
        fprintf(stderr, "  test frame refused: %s (%s)\n", text, hv.msg);
        return (gw_verdict_t){"(test)", "(test)"};
    }
    gw_conv_req_t rj;
    gw_frame_head_t j = {.req = json_incref(gw_frame_req(&s_last))};
    const gw_type_def_t *t = gw_type_find(type, strlen(type));
    gw_verdict_t vj = gw_valid_conv_request("alice", t, &j, &rj, NULL);
    gw_verdict_t v = gw_valid_conv_request("alice", t, &s_last, r, NULL);
    if (!s_same_verdict(v, vj))
        v = (gw_verdict_t){"(flat and jansson differ)", "(test)"};
    json_decref(j.req);
    return v;
}

/* A send frame with this text member (already JSON-encoded). */
static gw_verdict_t s_send_text(const char *text_json, gw_conv_req_t *r)
{
    size_t n = strlen(text_json) + 100;
    char *f = malloc(n);
    if (!f)
        return (gw_verdict_t){"(test)", "(test)"};
    snprintf(f, n, "{\"conv\":\"dm:alice:bob\",\"client_msg_id\":\"c\",\"text\":%s}", text_json);
    gw_verdict_t v = s_req("send", f, r);
    free(f);
    return v;
}

/* "\"" + n copies of the UTF-8 character ch + "\"" (caller frees). */
static char *s_repeat(const char *ch, size_t n)
{
    size_t cl = strlen(ch);
    char *s = malloc(n * cl + 3);
    if (!s)
        return NULL;
    s[0] = '"';
    for (size_t i = 0; i < n; i++)
        memcpy(s + 1 + i * cl, ch, cl);
    s[1 + n * cl] = '"';
    s[2 + n * cl] = 0;
    return s;
}

static void test_send(void)
{
    gw_conv_req_t r;
    CHECK(s_is(
        s_req("send", "{\"conv\":\"dm:alice:bob\",\"client_msg_id\":\"c1\",\"text\":\"hi\"}", &r),
        NULL, NULL));
    CHECK(r.conv && strcmp(r.conv, "dm:alice:bob") == 0 && strcmp(r.other, "bob") == 0);
    CHECK(r.cmid && strcmp(r.cmid, "c1") == 0);
    CHECK(r.text && strcmp(r.text, "hi") == 0 && r.text_len == 2);
    /* into a group: no other user */
    CHECK(s_is(s_req("send", "{\"conv\":\"g:G1\",\"client_msg_id\":\"c\",\"text\":\"x\"}", &r),
               NULL, NULL) &&
          r.other[0] == 0);

    /* conv first: missing, wrong type, U+0000, malformed, not a member */
    CHECK(s_is(s_req("send", "{\"client_msg_id\":\"c\",\"text\":\"x\"}", &r), BADREQ,
               "a required field is missing"));
    CHECK(s_is(s_req("send", "{\"conv\":7,\"client_msg_id\":\"c\",\"text\":\"x\"}", &r), BADREQ,
               "a field has the wrong type"));
    CHECK(
        s_is(s_req("send",
                   "{\"conv\":\"dm:alice:bob\\u0000\",\"client_msg_id\":\"c\",\"text\":\"x\"}", &r),
             BADREQ, "a string holds U+0000"));
    CHECK(s_is(
        s_req("send", "{\"conv\":\"dm:bob:carol\",\"client_msg_id\":\"c\",\"text\":\"x\"}", &r),
        PL_E_FORBIDDEN, "not a member of this conversation"));
    CHECK(s_is(s_req("send", "{\"conv\":\"dm:x\",\"client_msg_id\":\"c\",\"text\":\"x\"}", &r),
               BADREQ, "conv is not a valid conversation id"));
    /* the fields are checked before the conversation: a bad text in a foreign dm is a
     * bad_request, not forbidden */
    CHECK(
        s_is(s_req("send", "{\"conv\":\"dm:bob:carol\",\"client_msg_id\":\"c\",\"text\":\"\"}", &r),
             BADREQ, "text is empty"));

    /* client_msg_id: present, a string, 1..64 code points, no U+0000 */
    CHECK(s_is(s_req("send", "{\"conv\":\"dm:alice:bob\",\"text\":\"x\"}", &r), BADREQ,
               "a required field is missing"));
    CHECK(s_is(s_req("send", "{\"conv\":\"dm:alice:bob\",\"client_msg_id\":1,\"text\":\"x\"}", &r),
               BADREQ, "a field has the wrong type"));
    CHECK(
        s_is(s_req("send", "{\"conv\":\"dm:alice:bob\",\"client_msg_id\":\"\",\"text\":\"x\"}", &r),
             BADREQ, "client_msg_id must be 1 to 64 characters"));
    CHECK(
        s_is(s_req("send",
                   "{\"conv\":\"dm:alice:bob\",\"client_msg_id\":\"a\\u0000\",\"text\":\"x\"}", &r),
             BADREQ, "a string holds U+0000"));
    char f[1024];
    char *c64 = s_repeat("\xf0\x9f\x98\x80", 64); /* 64 code points, 256 bytes */
    char *c65 = s_repeat("a", 65);
    snprintf(f, sizeof f, "{\"conv\":\"dm:alice:bob\",\"client_msg_id\":%s,\"text\":\"x\"}", c64);
    CHECK(s_is(s_req("send", f, &r), NULL, NULL));
    snprintf(f, sizeof f, "{\"conv\":\"dm:alice:bob\",\"client_msg_id\":%s,\"text\":\"x\"}", c65);
    CHECK(s_is(s_req("send", f, &r), BADREQ, "client_msg_id must be 1 to 64 characters"));
    free(c64);
    free(c65);

    /* text: present, a string, not empty, no U+0000, at most 100,000 code points */
    CHECK(s_is(s_req("send", "{\"conv\":\"dm:alice:bob\",\"client_msg_id\":\"c\"}", &r), BADREQ,
               "a required field is missing"));
    CHECK(s_is(s_send_text("5", &r), BADREQ, "a field has the wrong type"));
    CHECK(s_is(s_send_text("null", &r), BADREQ, "a field has the wrong type"));
    CHECK(s_is(s_send_text("[\"x\"]", &r), BADREQ, "a field has the wrong type"));
    CHECK(s_is(s_send_text("\"\"", &r), BADREQ, "text is empty"));
    CHECK(s_is(s_send_text("\"a\\u0000b\"", &r), BADREQ, "text holds U+0000"));
    CHECK(s_is(s_send_text("\"\\u0000\"", &r), BADREQ, "text holds U+0000"));
    char *t =
        s_repeat("\xf0\x9f\x98\x80", PL_TEXT_MAX_CP); /* 400,000 bytes: counted in code points */
    CHECK(t && s_is(s_send_text(t, &r), NULL, NULL));
    free(t);
    t = s_repeat("a", PL_TEXT_MAX_CP + 1);
    CHECK(t && s_is(s_send_text(t, &r), PL_E_TOO_LARGE, "text is longer than 100000 characters"));
    free(t);
    t = s_repeat("\xc3\xa9", PL_TEXT_MAX_CP + 1);
    CHECK(t && s_is(s_send_text(t, &r), PL_E_TOO_LARGE, "text is longer than 100000 characters"));
    free(t);
}

static void test_pages(void)
{
    gw_conv_req_t r;
    /* defaults */
    CHECK(s_is(s_req("sync", "{\"conv\":\"dm:alice:bob\"}", &r), NULL, NULL));
    CHECK(r.after == 0 && r.limit == 100 && strcmp(r.other, "bob") == 0);
    CHECK(s_is(s_req("history", "{\"conv\":\"g:x\"}", &r), NULL, NULL));
    CHECK(!r.has_before && r.limit == 50);
    /* values and bounds */
    CHECK(s_is(s_req("sync", "{\"conv\":\"g:x\",\"after\":0,\"limit\":1}", &r), NULL, NULL) &&
          r.after == 0 && r.limit == 1);
    CHECK(s_is(s_req("sync", "{\"conv\":\"g:x\",\"after\":9223372036854775807,\"limit\":500}", &r),
               NULL, NULL) &&
          r.after == INT64_MAX && r.limit == 500);
    CHECK(s_is(s_req("history", "{\"conv\":\"g:x\",\"before\":1}", &r), NULL, NULL) &&
          r.has_before && r.before == 1);
    const char *bad[][3] = {
        {"sync", "{\"conv\":\"g:x\",\"after\":-1}", "a number is out of range"},
        {"sync", "{\"conv\":\"g:x\",\"after\":\"1\"}", "a field has the wrong type"},
        {"sync", "{\"conv\":\"g:x\",\"after\":1.0}", "a field has the wrong type"},
        {"sync", "{\"conv\":\"g:x\",\"after\":null}", "a field has the wrong type"},
        {"sync", "{\"conv\":\"g:x\",\"limit\":0}", "a number is out of range"},
        {"sync", "{\"conv\":\"g:x\",\"limit\":501}", "a number is out of range"},
        {"sync", "{\"conv\":\"g:x\",\"limit\":\"5\"}", "a field has the wrong type"},
        {"history", "{\"conv\":\"g:x\",\"before\":0}", "a number is out of range"},
        {"history", "{\"conv\":\"g:x\",\"before\":-5}", "a number is out of range"},
        {"history", "{\"conv\":\"g:x\",\"before\":true}", "a field has the wrong type"},
        {"history", "{\"conv\":\"g:x\",\"limit\":-1}", "a number is out of range"},
        {"history", "{\"conv\":\"g:x\",\"limit\":2.5}", "a field has the wrong type"},
        {"history", "{\"conv\":[]}", "a field has the wrong type"},
        {"sync", "{}", "a required field is missing"},
        {"sync", "{\"conv\":\"dm:alice\"}", "conv is not a valid conversation id"},
        {NULL, NULL, NULL},
    };
    for (int i = 0; bad[i][0]; i++) {
        gw_verdict_t v = s_req(bad[i][0], bad[i][1], &r);
        CHECK(s_is(v, BADREQ, bad[i][2]));
        if (!s_is(v, BADREQ, bad[i][2]))
            fprintf(stderr, "  %s %s: got %s\n", bad[i][0], bad[i][1], v.msg ? v.msg : "(valid)");
    }
    CHECK(s_is(s_req("history", "{\"conv\":\"dm:bob:carol\"}", &r), PL_E_FORBIDDEN,
               "not a member of this conversation"));
}

static void test_read_typing(void)
{
    gw_conv_req_t r;
    CHECK(s_is(s_req("read", "{\"conv\":\"dm:alice:bob\",\"seq\":0}", &r), NULL, NULL) &&
          r.seq == 0);
    CHECK(s_is(s_req("read", "{\"conv\":\"g:x\",\"seq\":42}", &r), NULL, NULL) && r.seq == 42);
    CHECK(s_is(s_req("read", "{\"conv\":\"g:x\"}", &r), BADREQ, "a required field is missing"));
    CHECK(s_is(s_req("read", "{\"conv\":\"g:x\",\"seq\":\"1\"}", &r), BADREQ,
               "a field has the wrong type"));
    CHECK(s_is(s_req("read", "{\"conv\":\"g:x\",\"seq\":1.5}", &r), BADREQ,
               "a field has the wrong type"));
    CHECK(s_is(s_req("read", "{\"conv\":\"g:x\",\"seq\":-1}", &r), BADREQ,
               "seq must not be negative"));
    CHECK(s_is(s_req("read", "{\"conv\":\"dm:bob:carol\",\"seq\":1}", &r), PL_E_FORBIDDEN,
               "not a member of this conversation"));
    /* typing: only the conversation */
    CHECK(s_is(s_req("typing", "{\"conv\":\"dm:alice:bob\"}", &r), NULL, NULL) &&
          strcmp(r.other, "bob") == 0);
    CHECK(
        s_is(s_req("typing", "{\"conv\":\"dm:alice:bob\",\"text\":5,\"seq\":-1}", &r), NULL, NULL));
    CHECK(s_is(s_req("typing", "{}", &r), BADREQ, "a required field is missing"));
    CHECK(s_is(s_req("typing", "{\"conv\":\"dm:bob:carol\"}", &r), PL_E_FORBIDDEN,
               "not a member of this conversation"));
    /* no other type is a conversation request */
    CHECK(s_is(s_req("ping", "{\"conv\":\"g:x\"}", &r), BADREQ, "unknown request type"));
    CHECK(s_is(s_req("group_add", "{\"conv\":\"g:x\"}", &r), BADREQ, "unknown request type"));
    CHECK(s_is(s_req("nope", "{\"conv\":\"g:x\"}", &r), BADREQ, "unknown request type"));
}

/* The memo of the conversation last checked: a request into it takes its other user
 * without the check (so a memo says what it holds), one into another conv is checked as
 * without a memo; the checks before the conv's still run. */
static void test_memo(void)
{
    gw_conv_req_t r;
    const gw_type_def_t *t = gw_type_find("send", 4);
    gw_conv_memo_t memo = {"dm:alice:bob", "zed"}; /* "zed": tells the memo was used */
    gw_frame_head_t h;
    static const char f1[] = "{\"id\":\"1\",\"conv\":\"dm:alice:bob\",\"client_msg_id\":\"c\","
                             "\"text\":\"hi\"}";
    CHECK(gw_frame_head(f1, sizeof f1 - 1, false, &h).code == NULL);
    CHECK(s_is(gw_valid_conv_request("alice", t, &h, &r, &memo), NULL, NULL) &&
          strcmp(r.other, "zed") == 0);
    CHECK(s_is(gw_valid_conv_request("alice", t, &h, &r, NULL), NULL, NULL) &&
          strcmp(r.other, "bob") == 0);
    gw_frame_head_clear(&h);
    /* another conv: checked (carol is no member of dm:bob:dan) */
    static const char f2[] = "{\"id\":\"2\",\"conv\":\"dm:bob:dan\",\"client_msg_id\":\"c\","
                             "\"text\":\"hi\"}";
    CHECK(gw_frame_head(f2, sizeof f2 - 1, false, &h).code == NULL);
    CHECK(s_is(gw_valid_conv_request("carol", t, &h, &r, &memo), PL_E_FORBIDDEN,
               "not a member of this conversation"));
    gw_frame_head_clear(&h);
    /* the memo's conv, but an empty text: refused before the conv */
    static const char f3[] = "{\"id\":\"3\",\"conv\":\"dm:alice:bob\",\"client_msg_id\":\"c\","
                             "\"text\":\"\"}";
    CHECK(gw_frame_head(f3, sizeof f3 - 1, false, &h).code == NULL);
    CHECK(s_is(gw_valid_conv_request("alice", t, &h, &r, &memo), BADREQ, "text is empty"));
    gw_frame_head_clear(&h);
    /* an empty memo is none */
    gw_conv_memo_t none = {"", ""};
    CHECK(gw_frame_head(f1, sizeof f1 - 1, false, &h).code == NULL);
    CHECK(s_is(gw_valid_conv_request("alice", t, &h, &r, &none), NULL, NULL) &&
          strcmp(r.other, "bob") == 0);
    gw_frame_head_clear(&h);
}

int main(void)
{
    test_head();
    test_parser();
    test_fields();
    test_conv_ids();
    test_send();
    test_pages();
    test_read_typing();
    test_memo();
    gw_frame_head_clear(&s_last);
    printf("gateway_validate_test: %d passed, %d failed\n", s_passed, s_failed);
    return s_failed ? 1 : 0;
}
