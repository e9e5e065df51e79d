/* fastjson_test — gw_fastjson.h against jansson: for fixed cases and for random mutations
 * of client frames, whatever the fast path accepts, json_loadb(REJECT_DUPLICATES |
 * ALLOW_NUL) accepts as an equal object with its members in the same order; and the
 * common frames do take the fast path. Exit status 1 on the first mismatch. */
#include "gw_fastjson.h"

#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static int s_fail, s_checks;

/* Same members in the same order (json_equal ignores the order). */
static bool s_same(json_t *a, json_t *b)
{
    if (!json_equal(a, b) || json_object_size(a) != json_object_size(b))
        return false;
    void *ia = json_object_iter(a), *ib = json_object_iter(b);
    for (; ia && ib; ia = json_object_iter_next(a, ia), ib = json_object_iter_next(b, ib))
        if (strcmp(json_object_iter_key(ia), json_object_iter_key(ib)) != 0 ||
            json_typeof(json_object_iter_value(ia)) != json_typeof(json_object_iter_value(ib)))
            return false;
    return !ia && !ib;
}

/* The contract on data; want_fast: 1 the fast path must take it, 0 it must not, -1 either. */
static void s_check(const char *data, size_t len, int want_fast, const char *what)
{
    s_checks++;
    json_error_t e;
    json_t *fast = gw_json_fast(data, len);
    json_t *ref = json_loadb(data, len, JSON_REJECT_DUPLICATES | JSON_ALLOW_NUL, &e);
    json_t *both = gw_json_load_frame(data, len, NULL);
    bool ok = true;
    if (fast && (!ref || !s_same(fast, ref)))
        ok = false; /* accepted something jansson refuses or reads differently */
    if (!!both != !!ref || (both && !s_same(both, ref)))
        ok = false;
    if (want_fast >= 0 && !!fast != (want_fast == 1))
        ok = false;
    if (!ok) {
        s_fail++;
        fprintf(stderr, "FAIL %s: fast=%s jansson=%s: %.*s\n", what, fast ? "object" : "NULL",
                ref ? "object" : e.text, (int)len, data);
    }
    json_decref(fast);
    json_decref(ref);
    json_decref(both);
}

#define CHECK(lit, want) s_check((lit), sizeof(lit) - 1, (want), #lit)

int main(void)
{
    /* the frames of the hot path take it */
    CHECK("{\"type\":\"send\",\"id\":\"7\",\"conv\":\"dm:a:b\",\"client_msg_id\":\"c1\","
          "\"text\":\"hello \\\"world\\\"\\n\\t\\\\ \\/ caf\xc3\xa9 \xf0\x9f\x98\x80\"}",
          1);
    CHECK(" {\"id\":\"1\", \"type\" : \"read\", \"seq\": 42 } \n", 1);
    CHECK("{\"id\":\"1\",\"type\":\"sync\",\"after\":0,\"limit\":-5}", 1);
    CHECK("{\"a\":true,\"b\":false,\"c\":null}", 1);
    CHECK("{}", 1);
    CHECK("{\"\":\"\"}", 1);
    /* left to jansson, with its verdict */
    CHECK("{\"a\":\"\\u00e9\"}", 0);
    CHECK("{\"a\":\"\\u0000\"}", 0);
    CHECK("{\"a\":1.5}", 0);
    CHECK("{\"a\":1e3}", 0);
    CHECK("{\"a\":01}", 0);
    CHECK("{\"a\":-}", 0);
    CHECK("{\"a\":12345678901234567890}", 0);
    CHECK("{\"a\":123456789012345678}", 1);
    CHECK("{\"a\":-0}", 1);
    CHECK("{\"a\":[1]}", 0);
    CHECK("{\"a\":{}}", 0);
    CHECK("{\"a\":1,\"a\":2}", 0);
    CHECK("{\"a\":1,}", 0);
    CHECK("{\"a\":1} x", 0);
    CHECK("{\"a\":truex}", 0);
    CHECK("{\"a\":\"\x01\"}", 0);
    CHECK("{\"a\":\"\xc0\xaf\"}", 0);         /* overlong */
    CHECK("{\"a\":\"\xed\xa0\x80\"}", 0);     /* a surrogate */
    CHECK("{\"a\":\"\xf4\x90\x80\x80\"}", 0); /* above U+10FFFF */
    CHECK("{\"a\":\"\xe2\x82\"}", 0);         /* truncated */
    CHECK("{\"a\":\"abc", 0);
    CHECK("[1,2]", 0);
    CHECK("\"s\"", 0);
    CHECK("", 0);
    CHECK("{\"a\":\"x\\q\"}", 0);
    s_check("{\"a\":\"x\0y\"}", 11, 0, "NUL byte in a string");
    s_check("{\"a\":1}\0", 8, 0, "NUL byte after the object");
    /* a string longer than the stack buffer */
    {
        size_t n = 10000;
        char *big = malloc(n + 32);
        int k = sprintf(big, "{\"text\":\"");
        memset(big + k, 'x', n);
        strcpy(big + k + n, "\"}");
        s_check(big, strlen(big), 0, "long text");
        free(big);
    }
    /* around the stack buffer's size, with an escape or a multi-byte character last */
    for (size_t n = 4080; n < 4100; n++) {
        for (int tail = 0; tail < 3; tail++) {
            char *b = malloc(n + 32);
            int k = sprintf(b, "{\"t\":\"");
            memset(b + k, 'y', n);
            strcpy(b + k + n, tail == 0 ? "\\n\"}" : tail == 1 ? "\xc3\xa9\"}" : "\"}");
            s_check(b, strlen(b), -1, "near the buffer size");
            free(b);
        }
    }
    /* random mutations of frames: bytes replaced, inserted, removed, truncated */
    static const char *seeds[] = {
        "{\"type\":\"send\",\"id\":\"42\",\"conv\":\"dm:alice:bob\",\"client_msg_id\":\"m-1\","
        "\"text\":\"hi \\\"there\\\" \xc3\xa9\xe2\x82\xac\\n\"}",
        "{\"id\":\"9\",\"type\":\"history\",\"conv\":\"g:0123\",\"before\":17,\"limit\":50}",
        "{\"id\":\"x\",\"type\":\"typing\",\"conv\":\"dm:a:b\",\"flag\":true,\"n\":null}",
    };
    static const char alphabet[] = "{}[]\":,\\ -0123456789.eEtrufalsn\x01\x7f\x80\xc3\xa9\xed\xf0";
    unsigned seed = 12345;
    char buf[512];
    for (int iter = 0; iter < 200000; iter++) {
        const char *s = seeds[iter % 3];
        size_t len = strlen(s);
        memcpy(buf, s, len);
        int edits = 1 + (int)(rand_r(&seed) % 3);
        for (int e = 0; e < edits; e++) {
            size_t at = len ? (size_t)rand_r(&seed) % len : 0;
            char c = alphabet[(size_t)rand_r(&seed) % (sizeof alphabet - 1)];
            switch (rand_r(&seed) % 4) {
            case 0:
                if (len)
                    buf[at] = c;
                break;
            case 1:
                if (len + 1 < sizeof buf) {
                    memmove(buf + at + 1, buf + at, len - at);
                    buf[at] = c;
                    len++;
                }
                break;
            case 2:
                if (len) {
                    memmove(buf + at, buf + at + 1, len - at - 1);
                    len--;
                }
                break;
            default:
                len = at;
            }
        }
        s_check(buf, len, -1, "mutation");
        if (s_fail > 20)
            break;
    }
    printf("fastjson_test: %d checks, %d failures\n", s_checks, s_fail);
    return s_fail ? 1 : 0;
}
