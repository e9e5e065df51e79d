/* json-parsers — the Debian 12 C JSON parsers on the gateway's client frames
 * (docs/benchmarks.md "Client frame JSON: the parsers compared").
 *
 *   json-parsers [--iters N]
 *
 * For each parser and frame (a `send` with a 100-byte text, an `auth`, a `sync`, a `send`
 * with a 100,000-character text) it parses the frame N times (the big frame N/100 times)
 * and prints the nanoseconds per frame (clock_gettime, CLOCK_MONOTONIC). Run under
 * `valgrind --tool=callgrind`, each (parser, frame) loop is dumped on its own
 * (CALLGRIND_DUMP_STATS_AT, named p<parser>-f<frame>-n<iterations>) so that the
 * instructions per frame are the dump's total / its iterations (docs/benchmarks.md has
 * the command).
 *
 * Then a correctness table: which inputs each parser accepts (strict UTF-8, duplicate
 * keys, depth, U+0000, lone surrogates, integer range, whitespace, top-level scalars).
 * "yajl" is yajl's callback parser with no callbacks (no tree, no allocation): what it
 * accepts, before the checks the gateway adds; "gateway" is gw_frame_head (validate.c):
 * yajl's callbacks building the jansson object, strict UTF-8, duplicates, depth, numbers
 * as jansson, a frame with "\u" parsed by jansson (its accepts/rejects count an array or
 * an object as accepted, whatever its head). jsmn is a tokenizer
 * (no unescaping, no UTF-8 check), listed for its speed only. */
#include <cjson/cJSON.h>
#include <jansson.h>
#define JSMN_STATIC
#include <jsmn.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <valgrind/callgrind.h>
#include <yajl/yajl_parse.h>

#include "gw_validate.h"

/* A parser: returns 1 when it accepts (len bytes at s), 0 otherwise; frees what it built. */
typedef int (*parse_fn)(const char *s, size_t len);

static int s_jansson(const char *s, size_t len)
{
    json_t *j = json_loadb(s, len, JSON_REJECT_DUPLICATES | JSON_ALLOW_NUL, NULL);
    json_decref(j);
    return j != NULL;
}

static int s_cjson(const char *s, size_t len)
{
    cJSON *j = cJSON_ParseWithLength(s, len);
    cJSON_Delete(j);
    return j != NULL;
}

/* json-parsers-jsonc.c (json-c's names clash with jansson's) */
int json_parsers_jsonc(const char *s, size_t len);
#define s_jsonc json_parsers_jsonc

static int s_yajl(const char *s, size_t len)
{
    yajl_handle h = yajl_alloc(NULL, NULL, NULL);
    if (!h)
        return 0;
    int ok = yajl_parse(h, (const unsigned char *)s, len) == yajl_status_ok &&
             yajl_complete_parse(h) == yajl_status_ok;
    yajl_free(h);
    return ok;
}

/* The gateway's parse (gateway/validate.c: yajl building a jansson tree, with the checks
 * that make it accept what json_loadb accepted) and its head checks. */
static int s_gateway(const char *s, size_t len)
{
    gw_frame_head_t h;
    gw_verdict_t v = gw_frame_head(s, len, false, &h);
    int ok = !v.code || strcmp(v.msg, "invalid JSON") != 0;
    gw_frame_head_clear(&h);
    return ok;
}

static int s_jsmn(const char *s, size_t len)
{
    jsmn_parser p;
    jsmntok_t tok[64];
    jsmn_init(&p);
    return jsmn_parse(&p, s, len, tok, 64) >= 0;
}

static const struct {
    const char *name;
    parse_fn fn;
} parsers[] = {{"jansson 2.14 (json_loadb)", s_jansson},
               {"cJSON 1.7.15 (cJSON_ParseWithLength)", s_cjson},
               {"json-c 0.16 (tokener, strict + UTF-8)", s_jsonc},
               {"yajl 2.1.0 (callback parser, no tree)", s_yajl},
               {"gateway (gw_frame_head: yajl + checks, flat frame: no tree)", s_gateway},
               {"jsmn 1.1.0 (tokenizer only)", s_jsmn}};
#define NPARSERS (sizeof parsers / sizeof parsers[0])

static char *s_send_frame(size_t nchars, size_t *len)
{
    /* the text: ASCII with some 2-byte characters, nchars code points */
    size_t cap = nchars * 2 + 256;
    char *f = malloc(cap);
    if (!f)
        exit(1);
    int n =
        snprintf(f, cap,
                 "{\"id\":\"4711\",\"type\":\"send\",\"conv\":\"dm:u000000000042:u000000000043\","
                 "\"client_msg_id\":\"c-42-000123\",\"text\":\"");
    size_t o = (size_t)n;
    for (size_t i = 0; i < nchars; i++) {
        if (i % 20 == 19) {
            f[o++] = (char)0xC3; /* é */
            f[o++] = (char)0xA9;
        } else {
            f[o++] = (char)('a' + i % 26);
        }
    }
    memcpy(f + o, "\"}", 3);
    *len = o + 2;
    return f;
}

static double s_now(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec * 1e9 + (double)ts.tv_nsec;
}

int main(int argc, char **argv)
{
    long iters = 20000;
    if (argc == 3 && strcmp(argv[1], "--iters") == 0)
        iters = atol(argv[2]);
    else if (argc != 1) {
        fprintf(stderr, "usage: json-parsers [--iters N]\n");
        return 2;
    }
    struct {
        const char *name;
        char *s;
        size_t len;
        long iters;
    } frames[4];
    frames[0].name = "send (100-byte text)";
    frames[0].s = s_send_frame(95, &frames[0].len); /* 95 chars, 100 bytes */
    frames[1].name = "auth";
    frames[1].s = strdup("{\"id\":\"1\",\"type\":\"auth\",\"token\":\"u000000000042.d-laptop-01."
                         "Zq3v8YH0m2LxP4sT9wB6nK1cR7fJ5aE0uG3iO8pD2hS4lQ6yX9zV1tN7bM5kW3jF\"}");
    frames[2].name = "sync";
    frames[2].s =
        strdup("{\"id\":\"17\",\"type\":\"sync\",\"conv\":\"dm:u000000000042:u000000000043\","
               "\"after\":12345,\"limit\":100}");
    frames[3].name = "send (100,000-character text)";
    frames[3].s = s_send_frame(100000, &frames[3].len);
    for (int i = 0; i < 4; i++) {
        if (i == 1 || i == 2)
            frames[i].len = strlen(frames[i].s);
        frames[i].iters = i == 3 ? (iters / 100 > 0 ? iters / 100 : 1) : iters;
    }

    printf("parser | frame | bytes | accepted | ns per frame | ns per byte\n");
    for (size_t p = 0; p < NPARSERS; p++) {
        for (int i = 0; i < 4; i++) {
            int ok = parsers[p].fn(frames[i].s, frames[i].len); /* warm-up */
            char mark[128];
            snprintf(mark, sizeof mark, "p%zu-f%d-n%ld", p, i, frames[i].iters);
            CALLGRIND_ZERO_STATS;
            double t0 = s_now();
            for (long k = 0; k < frames[i].iters; k++)
                parsers[p].fn(frames[i].s, frames[i].len);
            double ns = (s_now() - t0) / (double)frames[i].iters;
            CALLGRIND_DUMP_STATS_AT(mark);
            printf("%s | %s | %zu | %s | %.0f | %.2f\n", parsers[p].name, frames[i].name,
                   frames[i].len, ok ? "yes" : "NO", ns, ns / (double)frames[i].len);
        }
    }

    /* correctness: what each parser accepts; the gateway (jansson today) is the reference */
    static const struct {
        const char *what;
        const char *s;
        size_t len; /* 0: strlen */
    } cases[] = {
        {"a flat object", "{\"a\":\"b\"}", 0},
        {"duplicate key", "{\"a\":1,\"a\":2}", 0},
        {"invalid UTF-8 (FF)", "{\"a\":\"\xff\"}", 0},
        {"overlong UTF-8 (C0 AF)", "{\"a\":\"\xc0\xaf\"}", 0},
        {"UTF-8 surrogate (ED A0 80)", "{\"a\":\"\xed\xa0\x80\"}", 0},
        {"UTF-8 above U+10FFFF (F4 90 80 80)", "{\"a\":\"\xf4\x90\x80\x80\"}", 0},
        {"\\u0000 in a string", "{\"a\":\"x\\u0000y\"}", 0},
        {"raw NUL byte in a string", "{\"a\":\"x\0y\"}", 10},
        {"lone surrogate \\ud800", "{\"a\":\"\\ud800\"}", 0},
        {"lone low surrogate \\udc00", "{\"a\":\"\\udc00\"}", 0},
        {"surrogate pair \\ud83d\\ude00", "{\"a\":\"\\ud83d\\ude00\"}", 0},
        {"integer 2^63 (too big)", "{\"a\":9223372036854775808}", 0},
        {"integer -2^63", "{\"a\":-9223372036854775808}", 0},
        {"real 1e400 (overflow)", "{\"a\":1e400}", 0},
        {"leading zero 01", "{\"a\":01}", 0},
        {"\\v as whitespace", "{\"a\":\v1}", 0},
        {"comment /* */", "{\"a\":1 /* c */}", 0},
        {"trailing comma", "{\"a\":1,}", 0},
        {"trailing garbage", "{\"a\":1} x", 0},
        {"top-level string", "\"a\"", 0},
        {"2047 arrays around a 1 (depth 2048)", NULL, 2047},
        {"2048 arrays around a 1 (depth 2049)", NULL, 2048},
    };
    printf("\ninput");
    for (size_t p = 0; p < NPARSERS; p++)
        printf(" | %.*s", (int)strcspn(parsers[p].name, " "), parsers[p].name);
    printf("\n");
    for (size_t c = 0; c < sizeof cases / sizeof cases[0]; c++) {
        char *buf = NULL;
        const char *s = cases[c].s;
        size_t len = cases[c].len;
        if (!s) { /* [[[...1...]]] nested len deep */
            buf = malloc(2 * len + 2);
            if (!buf)
                return 1;
            memset(buf, '[', len);
            buf[len] = '1';
            memset(buf + len + 1, ']', len);
            s = buf;
            len = 2 * len + 1;
        } else if (!len) {
            len = strlen(s);
        }
        printf("%s", cases[c].what);
        for (size_t p = 0; p < NPARSERS; p++)
            printf(" | %s", parsers[p].fn(s, len) ? "accepts" : "rejects");
        printf("\n");
        free(buf);
    }
    for (int i = 0; i < 4; i++)
        free(frames[i].s);
    return 0;
}
