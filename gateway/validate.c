/* validate — stateless checks of client frames (gw_validate.h). */
#define _GNU_SOURCE /* memmem */
#include "gw_validate.h"
#include "gw_types.h"

#include <errno.h>
#include <math.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "pl_err.h"
#include "pl_text.h"
#include <yajl/yajl_parse.h>
#if defined(__SSE2__)
#include <emmintrin.h>
#endif

#define BAD(m) ((gw_verdict_t){PL_E_BAD_REQUEST, (m)})

void gw_frame_head_clear(gw_frame_head_t *h)
{
    json_decref(h->req);
    h->req = NULL;
    if (h->id_json != h->id_small)
        free(h->id_json);
    h->id_json = NULL;
    if (h->scratch != h->scratch_small)
        free(h->scratch);
    h->scratch = NULL;
    h->nflat = 0;
    h->has_type = false;
    h->type = NULL;
}

/* v quoted as JSON when it needs no escape (what json_dumps gives then: jansson escapes
 * only '"', '\\', control characters and, without flags, nothing else), into small
 * (small_cap bytes) when it fits, else malloc'd (the caller frees what is not small); NULL
 * otherwise or on OOM. */
static char *s_quote(const char *v, size_t n, char *small, size_t small_cap)
{
    for (size_t i = 0; i < n; i++) {
        unsigned char c = (unsigned char)v[i];
        if (c < 0x20 || c == '"' || c == '\\' || c == 0x7f)
            return NULL;
    }
    char *q = n + 3 <= small_cap ? small : malloc(n + 3);
    if (!q)
        return NULL;
    q[0] = '"';
    memcpy(q + 1, v, n);
    q[n + 1] = '"';
    q[n + 2] = '\0';
    return q;
}

/* ---- the client frame's JSON: yajl's callback parser builds the jansson tree ---------- *
 *
 * jansson's own json_loadb costs ~150 instructions per byte (a get-char callback and a
 * string buffer per character: docs/benchmarks.md "Client frame JSON"); yajl's lexer a few,
 * without a tree of its own. The contract is json_loadb's with JSON_REJECT_DUPLICATES |
 * JSON_ALLOW_NUL, exactly (fuzz_frame checks it against json_loadb on every input): what
 * yajl accepts and jansson does not is refused here before or while yajl parses:
 *  - strict UTF-8 (yajl lets overlong forms, surrogates and > U+10FFFF through):
 *    pl_utf8_valid over the whole frame (outside strings only ASCII is valid JSON anyway);
 *  - control bytes: yajl takes \v and \f as whitespace; every byte < 0x20 but tab, LF and
 *    CR is refused (inside a string no raw control byte is valid JSON either);
 *  - duplicate keys (yajl keeps both), nesting deeper than jansson's JSON_PARSER_MAX_DEPTH
 *    (counted as jansson counts: every value one level), a top-level scalar (jansson
 *    without JSON_DECODE_ANY wants an object or an array);
 *  - numbers: yajl hands over their text (yajl_number) and they are converted as jansson
 *    does (an integer unless '.', 'e' or 'E'; strtoll; strtod; refused on overflow);
 *  - \uXXXX escapes: yajl turns a lone surrogate into '?' instead of refusing it, so a
 *    frame holding "\u" anywhere goes to json_loadb itself (rare: clients escape only
 *    control characters and lone surrogates that way);
 *  - a value followed by an unterminated string (s_top_t below).
 * One deliberate difference: jansson 2.14 skips a raw NUL byte that follows a number or a
 * literal ({"a":1<NUL>} parses: its stream's unget leaves a NUL that reads as "fetch the
 * next byte"); a raw NUL byte is never JSON and is refused here like every control byte
 * (the differential checks allow exactly that case). */

/* Where the top-level value ended. yajl 2.1 accepts a value followed by the start of a
 * string it never sees the end of ({"id":"1"} "x: its lexer waits for more input, and
 * yajl_complete_parse's flush with one space still leaves the string open), which
 * json_loadb refuses: the callback that closes the top level notes the offset
 * (yajl_get_bytes_consumed, just past the bracket), and only whitespace may follow it.
 * That also makes yajl_complete_parse needless (s_yajl). */
typedef struct {
    yajl_handle y;
    size_t end; /* 0: the top level is not closed */
} s_top_t;

static void s_top_closed(s_top_t *t)
{
    if (t->y) /* NULL: closing what a failed parse left open, after yajl_free */
        t->end = yajl_get_bytes_consumed(t->y);
}

/* One frame being built. Thread: the caller's; no state outlives s_parse_frame. */
typedef struct {
    s_top_t top; /* first: s_yajl's view of the context */
    json_t *root;
    json_t **stack; /* the open containers, stack[depth - 1] innermost */
    size_t depth, cap;
    json_t *small[16]; /* the stack while shallow (no allocation) */
    char *key;         /* the pending member name (an object's next value), key_len bytes */
    size_t key_len, key_cap;
    char key_small[64];
} s_build_t;

/* Add v (owned; NULL: out of memory) where the parse is. 0 on success (yajl: 1). */
static int s_add(s_build_t *b, json_t *v)
{
    if (!v)
        return 0;
    /* jansson counts every value a level deeper than its container */
    if (b->depth + 1 > JSON_PARSER_MAX_DEPTH) {
        json_decref(v);
        return 0;
    }
    if (b->depth == 0) {
        if (!json_is_object(v) && !json_is_array(v)) { /* a top-level scalar */
            json_decref(v);
            return 0;
        }
        b->root = v;
        return 1;
    }
    json_t *parent = b->stack[b->depth - 1];
    if (json_is_array(parent))
        return json_array_append_new(parent, v) == 0;
    return json_object_setn_new_nocheck(parent, b->key, b->key_len, v) == 0;
}

static int s_cb_null(void *ctx)
{
    return s_add(ctx, json_null());
}

static int s_cb_bool(void *ctx, int v)
{
    return s_add(ctx, json_boolean(v));
}

/* A number's text (n bytes at s) converted as jansson's lexer does into m (kind, i or d):
 * an integer unless it holds '.', 'e' or 'E'. 0, or -1: out of range (an integer beyond
 * json_int_t, a real that overflows) or out of memory. */
static int s_number(const char *s, size_t n, gw_member_t *m)
{
    char small[64], *t = n < sizeof small ? small : malloc(n + 1);
    if (!t)
        return -1;
    memcpy(t, s, n);
    t[n] = '\0';
    int rc = 0;
    errno = 0;
    if (strpbrk(t, ".eE")) {
        m->kind = GW_M_REAL;
        m->d = strtod(t, NULL);
        if ((m->d == HUGE_VAL || m->d == -HUGE_VAL) && errno == ERANGE)
            rc = -1;
    } else {
        m->kind = GW_M_INTEGER;
        m->i = strtoll(t, NULL, 10);
        if (errno == ERANGE)
            rc = -1;
    }
    if (t != small)
        free(t);
    return rc;
}

static int s_cb_number(void *ctx, const char *s, size_t n)
{
    gw_member_t m;
    if (s_number(s, n, &m) != 0)
        return 0;
    return s_add(ctx, m.kind == GW_M_REAL ? json_real(m.d) : json_integer(m.i));
}

static int s_cb_string(void *ctx, const unsigned char *s, size_t n)
{
    /* UTF-8 checked over the whole frame, and no "\u": no U+0000 and no surrogate */
    return s_add(ctx, json_stringn_nocheck((const char *)s, n));
}

/* Open a container v: added to its parent, then the innermost. */
static int s_open(s_build_t *b, json_t *v)
{
    if (!v)
        return 0;
    if (b->depth == b->cap) {
        size_t cap = b->cap * 2;
        json_t **st =
            b->stack == b->small ? malloc(cap * sizeof *st) : realloc(b->stack, cap * sizeof *st);
        if (!st) {
            json_decref(v);
            return 0;
        }
        if (b->stack == b->small)
            memcpy(st, b->small, sizeof b->small);
        b->stack = st;
        b->cap = cap;
    }
    json_incref(v); /* one reference for the parent (s_add), one while it is open */
    if (!s_add(b, v)) {
        json_decref(v);
        return 0;
    }
    b->stack[b->depth++] = v;
    return 1;
}

static int s_close(void *ctx)
{
    s_build_t *b = ctx;
    json_decref(b->stack[--b->depth]);
    if (b->depth == 0)
        s_top_closed(&b->top);
    return 1;
}

static int s_cb_start_map(void *ctx)
{
    return s_open(ctx, json_object());
}

static int s_cb_start_array(void *ctx)
{
    return s_open(ctx, json_array());
}

/* A member name: refused if the object has it already; kept for its value (yajl's buffer
 * is reused by the value). */
static int s_cb_key(void *ctx, const unsigned char *s, size_t n)
{
    s_build_t *b = ctx;
    if (json_object_getn(b->stack[b->depth - 1], (const char *)s, n))
        return 0; /* a duplicate key */
    if (n > b->key_cap) {
        char *k = b->key == b->key_small ? malloc(n) : realloc(b->key, n);
        if (!k)
            return 0;
        b->key = k;
        b->key_cap = n;
    }
    memcpy(b->key, s, n);
    b->key_len = n;
    return 1;
}

static const yajl_callbacks s_callbacks = {
    .yajl_null = s_cb_null,
    .yajl_boolean = s_cb_bool,
    .yajl_number = s_cb_number,
    .yajl_string = s_cb_string,
    .yajl_start_map = s_cb_start_map,
    .yajl_map_key = s_cb_key,
    .yajl_end_map = s_close,
    .yajl_start_array = s_cb_start_array,
    .yajl_end_array = s_close,
};

/* The bytes yajl must not see: -1 when data holds a control byte other than tab, LF and CR
 * (not JSON: see above), 1 when it holds "\\u" (or a backslash before a 'u' at all: an
 * escaped backslash then 'u' goes to jansson too, which is only slower), 0 otherwise.
 * Eight bytes at a time while they hold neither a byte < 0x20 nor a backslash (the
 * has-less-than and has-zero-byte bit tricks: exact about whether such a byte exists). */
/* s_prescan's byte by byte check of p[i..end) (len: the frame's length): -1 on a control
 * byte; sets *ret to 1 on a "\\u", ORs the bytes into *any. */
static int s_prescan_bytes(const unsigned char *p, size_t i, size_t end, size_t len, int *ret,
                           uint64_t *any)
{
    for (; i < end; i++) {
        unsigned char c = p[i];
        *any |= c;
        if (c < 0x20 && c != '\t' && c != '\n' && c != '\r')
            return -1;
        if (c == '\\' && i + 1 < len && p[i + 1] == 'u')
            *ret = 1;
    }
    return 0;
}

static int s_prescan(const char *data, size_t len, bool *ascii)
{
#define ONES 0x0101010101010101ULL
#define HIGHS 0x8080808080808080ULL
    const unsigned char *p = (const unsigned char *)data;
    size_t i = 0;
    int ret = 0;
    uint64_t any = 0; /* the bytes ORed together: its high bits tell a non-ASCII byte */
#if defined(__SSE2__)
    /* sixteen bytes at a time (x86-64 always has SSE2): a byte <= 0x1F (unsigned: its max
     * with 0x1F is 0x1F) or a backslash sends those sixteen to the byte by byte check */
    const __m128i c1f = _mm_set1_epi8(0x1f), cbs = _mm_set1_epi8('\\');
    __m128i anyv = _mm_setzero_si128();
    while (len - i >= 16) {
        __m128i v = _mm_loadu_si128((const __m128i *)(const void *)(p + i));
        anyv = _mm_or_si128(anyv, v);
        __m128i hit =
            _mm_or_si128(_mm_cmpeq_epi8(_mm_max_epu8(v, c1f), c1f), _mm_cmpeq_epi8(v, cbs));
        if (_mm_movemask_epi8(hit) && s_prescan_bytes(p, i, i + 16, len, &ret, &any) != 0)
            return -1;
        i += 16;
    }
    if (_mm_movemask_epi8(anyv))
        any |= HIGHS;
#endif
    while (i < len) {
        if (len - i >= 8) {
            uint64_t w, b;
            memcpy(&w, p + i, 8);
            any |= w;
            b = w ^ (ONES * '\\');
            if (!(((w - ONES * 0x20) & ~w & HIGHS) | ((b - ONES) & ~b & HIGHS))) {
                i += 8;
                continue;
            }
        }
        size_t end = len - i >= 8 ? i + 8 : len;
        if (s_prescan_bytes(p, i, end, len, &ret, &any) != 0)
            return -1;
        i = end;
    }
    *ascii = (any & HIGHS) == 0;
    return ret;
#undef ONES
#undef HIGHS
}

/* yajl's allocations for one parse (its handle, lexer, state stack, decode buffer: a few
 * hundred bytes) from a buffer on s_parse_frame's stack; past its end, and for whatever
 * grows, from malloc. A block is preceded by its size (realloc must copy it). */
typedef struct {
    unsigned char *buf;
    size_t used, cap;
    bool heap; /* a block was taken from malloc: yajl_free must run */
} s_arena_t;

#define ARENA_ALIGN 16

static void *s_arena_malloc(void *ctx, size_t n)
{
    s_arena_t *a = ctx;
    size_t need = (n + 2 * ARENA_ALIGN - 1) & ~(size_t)(ARENA_ALIGN - 1); /* + the size */
    if (n < a->cap && need <= a->cap - a->used) {
        unsigned char *blk = a->buf + a->used;
        memcpy(blk, &n, sizeof n);
        a->used += need;
        return blk + ARENA_ALIGN;
    }
    a->heap = true;
    return malloc(n);
}

static bool s_in_arena(const s_arena_t *a, const void *p)
{
    return (const unsigned char *)p >= a->buf && (const unsigned char *)p < a->buf + a->cap;
}

static void s_arena_free(void *ctx, void *p)
{
    if (!s_in_arena(ctx, p))
        free(p);
}

static void *s_arena_realloc(void *ctx, void *p, size_t n)
{
    s_arena_t *a = ctx;
    if (!p)
        return s_arena_malloc(a, n);
    if (!s_in_arena(a, p))
        return realloc(p, n);
    size_t old;
    memcpy(&old, (unsigned char *)p - ARENA_ALIGN, sizeof old);
    if (n <= old)
        return p;
    a->heap = true;
    void *q = malloc(n); /* what grows once grows again: to the heap */
    if (q)
        memcpy(q, p, old);
    return q;
}

/* ---- flat frames: an object of scalars, kept as its members (no jansson object) ------- */

/* One flat parse into h (its nflat, flat[] and scratch, which holds len bytes: every
 * string and name copied there with its NUL takes no more than its quoted JSON text). */
typedef struct {
    s_top_t top; /* first: s_yajl's view of the context */
    gw_frame_head_t *h;
    int depth;
    size_t used;   /* of h->scratch */
    bool not_flat; /* a container inside, or too many members: the frame needs a tree */
} s_flat_t;

/* Copy n bytes at s into the scratch, NUL-terminated. */
static const char *s_flat_copy(s_flat_t *f, const unsigned char *s, size_t n)
{
    char *d = f->h->scratch + f->used;
    memcpy(d, s, n);
    d[n] = '\0';
    f->used += n + 1;
    return d;
}

/* The member whose name the last key callback set (nflat counts it already). */
static int s_flat_value(s_flat_t *f, gw_member_t *m)
{
    if (f->depth != 1)
        return 0; /* a top-level scalar: not JSON for json_loadb */
    gw_member_t *slot = &f->h->flat[f->h->nflat - 1];
    slot->kind = m->kind;
    slot->str = m->str;
    slot->len = m->len;
    slot->i = m->i;
    slot->d = m->d;
    return 1;
}

static int s_flat_null(void *ctx)
{
    return s_flat_value(ctx, &(gw_member_t){.kind = GW_M_NULL});
}

static int s_flat_bool(void *ctx, int v)
{
    return s_flat_value(ctx, &(gw_member_t){.kind = v ? GW_M_TRUE : GW_M_FALSE});
}

static int s_flat_number(void *ctx, const char *s, size_t n)
{
    gw_member_t m = {0};
    if (s_number(s, n, &m) != 0)
        return 0;
    return s_flat_value(ctx, &m);
}

static int s_flat_string(void *ctx, const unsigned char *s, size_t n)
{
    s_flat_t *f = ctx;
    if (f->depth != 1)
        return 0;
    gw_member_t m = {.kind = GW_M_STRING, .len = n};
    m.str = s_flat_copy(f, s, n);
    return s_flat_value(f, &m);
}

static int s_flat_start_map(void *ctx)
{
    s_flat_t *f = ctx;
    if (f->depth++ == 0)
        return 1;
    f->not_flat = true;
    return 0;
}

static int s_flat_start_array(void *ctx)
{
    ((s_flat_t *)ctx)->not_flat = true;
    return 0;
}

static int s_flat_end_map(void *ctx)
{
    s_flat_t *f = ctx;
    if (--f->depth == 0)
        s_top_closed(&f->top);
    return 1;
}

static int s_flat_key(void *ctx, const unsigned char *s, size_t n)
{
    s_flat_t *f = ctx;
    gw_frame_head_t *h = f->h;
    for (size_t i = 0; i < h->nflat; i++)
        if (h->flat[i].key_len == n && (n == 0 || h->flat[i].key[0] == (char)s[0]) &&
            memcmp(h->flat[i].key, s, n) == 0)
            return 0; /* a duplicate key */
    if (h->nflat == GW_FLAT_MAX) {
        f->not_flat = true;
        return 0;
    }
    gw_member_t *m = &h->flat[h->nflat++];
    m->key = s_flat_copy(f, s, n);
    m->key_len = n;
    return 1;
}

static const yajl_callbacks s_flat_callbacks = {
    .yajl_null = s_flat_null,
    .yajl_boolean = s_flat_bool,
    .yajl_number = s_flat_number,
    .yajl_string = s_flat_string,
    .yajl_start_map = s_flat_start_map,
    .yajl_map_key = s_flat_key,
    .yajl_end_map = s_flat_end_map,
    .yajl_start_array = s_flat_start_array,
};

/* One yajl parse of data with these callbacks and context (an s_build_t or s_flat_t,
 * whose s_top_t comes first). True when it succeeded: one value, then only whitespace. */
static bool s_yajl(const char *data, size_t len, const yajl_callbacks *cb, void *ctx)
{
    s_top_t *top = ctx;
    /* yajl's handle, lexer and stacks ≈ 450 B; its 2 KiB buffer for a string with escapes */
    _Alignas(ARENA_ALIGN) unsigned char arena[3072];
    s_arena_t a = {arena, 0, sizeof arena, false};
    yajl_alloc_funcs af = {s_arena_malloc, s_arena_realloc, s_arena_free, &a};
    yajl_handle y = yajl_alloc(cb, &af, ctx);
    /* its UTF-8 check is laxer than pl_utf8_valid's, which the frame has passed */
    if (y)
        yajl_config(y, yajl_dont_validate_strings, 1);
    top->y = y;
    top->end = 0;
    /* No yajl_complete_parse: it flushes a top-level number or reports a value cut short,
     * but a frame is complete exactly when its top-level container closed (top->end) with
     * only whitespace after it; its flush (one space through the lexer's buffer) cost
     * ≈ 1 k instructions per frame. */
    bool ok = y && yajl_parse(y, (const unsigned char *)data, len) == yajl_status_ok &&
              top->end > 0 && top->end <= len;
    for (size_t i = top->end; ok && i < len; i++)
        ok = data[i] == ' ' || data[i] == '\t' || data[i] == '\n' || data[i] == '\r';
    /* yajl_free only frees (its stacks, buffers, lexer, handle): nothing to do when every
     * block is in the arena, which goes with this stack frame */
    if (y && a.heap)
        yajl_free(y);
    top->y = NULL;
    return ok;
}

/* data (len bytes, its bytes checked by the caller) as json_loadb(data, len,
 * JSON_REJECT_DUPLICATES | JSON_ALLOW_NUL) returns it: an object or an array (the
 * caller's), or NULL (invalid JSON or out of memory). */
static json_t *s_parse_tree(const char *data, size_t len)
{
    s_build_t b = {.stack = NULL, .cap = 16};
    b.stack = b.small;
    b.key = b.key_small;
    b.key_cap = sizeof b.key_small;
    bool ok = s_yajl(data, len, &s_callbacks, &b) && b.depth == 0;
    while (b.depth > 0) /* stopped inside containers */
        s_close(&b);
    if (b.stack != b.small)
        free(b.stack);
    if (b.key != b.key_small)
        free(b.key);
    if (!ok) {
        json_decref(b.root);
        return NULL;
    }
    return b.root;
}

/* Parse data (len bytes) into h: a flat frame's members (h->nflat > 0 or an empty object;
 * h->req NULL), else h->req as json_loadb would return it. 0; -1: invalid JSON (or out of
 * memory building a tree); -2: out of memory. */
static int s_parse_frame(const char *data, size_t len, gw_frame_head_t *h)
{
    bool ascii = false;
    int pre = s_prescan(data, len, &ascii);
    if (pre > 0) { /* "\u": jansson itself */
        h->req = json_loadb(data, len, JSON_REJECT_DUPLICATES | JSON_ALLOW_NUL, NULL);
        return h->req ? 0 : -1;
    }
    /* ASCII is valid UTF-8; without "\u" every string of the frame is ASCII too */
    h->ascii = ascii;
    if (pre < 0 || (!ascii && !pl_utf8_valid(data, len)))
        return -1;
    h->scratch = len <= sizeof h->scratch_small ? h->scratch_small : malloc(len);
    if (!h->scratch)
        return -2;
    s_flat_t f = {.h = h};
    if (s_yajl(data, len, &s_flat_callbacks, &f))
        return 0;
    if (!f.not_flat)
        return -1;
    /* a container inside, or many members: the frame as a tree */
    h->nflat = 0;
    h->req = s_parse_tree(data, len);
    return h->req ? 0 : -1;
}

json_t *gw_frame_req(gw_frame_head_t *h)
{
    if (h->req)
        return h->req;
    json_t *o = json_object();
    for (size_t i = 0; o && i < h->nflat; i++) {
        const gw_member_t *m = &h->flat[i];
        json_t *v;
        switch (m->kind) {
        case GW_M_STRING:
            v = json_stringn_nocheck(m->str, m->len);
            break;
        case GW_M_INTEGER:
            v = json_integer(m->i);
            break;
        case GW_M_REAL:
            v = json_real(m->d);
            break;
        case GW_M_TRUE:
            v = json_true();
            break;
        case GW_M_FALSE:
            v = json_false();
            break;
        default:
            v = json_null();
            break;
        }
        if (!v || json_object_setn_new_nocheck(o, m->key, m->key_len, v) != 0) {
            json_decref(o);
            o = NULL;
        }
    }
    h->req = o;
    return o;
}

/* ---- members, from the flat list or the jansson object -------------------------------- */

/* A member's value as the checks see it. */
typedef struct {
    bool present;
    bool is_str, is_int;
    const char *s; /* is_str: its bytes (NUL-terminated), n of them */
    size_t n;
    json_int_t i; /* is_int */
} s_val_t;

static s_val_t s_val_json(json_t *v)
{
    s_val_t r = {.present = v != NULL};
    if (json_is_string(v)) {
        r.is_str = true;
        r.s = json_string_value(v);
        r.n = json_string_length(v);
    } else if (json_is_integer(v)) {
        r.is_int = true;
        r.i = json_integer_value(v);
    }
    return r;
}

/* The member name (n bytes: s_get's callers pass a literal, so no strlen per lookup). */
static inline __attribute__((always_inline)) s_val_t s_get_n(const gw_frame_head_t *h,
                                                             const char *name, size_t n)
{
    if (h->req)
        return s_val_json(json_object_get(h->req, name));
    for (size_t i = 0; i < h->nflat; i++) {
        const gw_member_t *m = &h->flat[i];
        if (m->key_len == n && m->key[0] == name[0] && memcmp(m->key, name, n) == 0)
            return (s_val_t){.present = true,
                             .is_str = m->kind == GW_M_STRING,
                             .is_int = m->kind == GW_M_INTEGER,
                             .s = m->str,
                             .n = m->len,
                             .i = m->i};
    }
    return (s_val_t){0};
}

#define s_get(h, lit) s_get_n((h), "" lit, sizeof(lit) - 1)

gw_verdict_t gw_frame_head(const char *data, size_t len, bool binary, gw_frame_head_t *h)
{
    h->req = NULL;
    h->id_json = NULL;
    h->ascii = false;
    h->has_type = false;
    h->type = NULL;
    h->nflat = 0;
    h->scratch = NULL;
    if (binary)
        return BAD("binary frames are not accepted");
    int rc = s_parse_frame(data, len, h);
    if (rc == -2)
        return (gw_verdict_t){PL_E_INTERNAL, "out of memory"};
    if (rc != 0)
        return BAD("invalid JSON");
    if (h->req && !json_is_object(h->req))
        return BAD("a frame must be a JSON object");
    s_val_t id = s_get(h, "id");
    if (!id.is_str)
        return BAD("id is missing or not a string");
    h->id_json = s_quote(id.s, id.n, h->id_small, sizeof h->id_small);
    if (!h->id_json) { /* escapes needed, or out of memory */
        json_t *idv = json_stringn_nocheck(id.s, id.n);
        h->id_json = idv ? json_dumps(idv, JSON_COMPACT | JSON_ENCODE_ANY) : NULL;
        json_decref(idv);
    }
    if (!h->id_json)
        return (gw_verdict_t){PL_E_INTERNAL, "out of memory"};
    s_val_t t = s_get(h, "type");
    h->has_type = t.present;
    h->type = t.is_str ? t.s : NULL;
    /* "send\u0000x" must not pass for "send" in the caller's lookup (gw_type_find of the
     * type's strlen): a type holding U+0000 is no known type (JSON_ALLOW_NUL lets it
     * through the parser) */
    if (h->type && strlen(h->type) != t.n)
        h->type = "(holds U+0000)";
    return GW_VERDICT_OK;
}

/* The checks of gw_valid_str on v. */
static gw_verdict_t s_str(s_val_t v, bool required, const char **out, size_t *len_out)
{
    *out = NULL;
    if (!v.present)
        return required ? BAD("a required field is missing") : GW_VERDICT_OK;
    if (!v.is_str)
        return BAD("a field has the wrong type");
    *out = v.s;
    if (len_out)
        *len_out = v.n;
    if (strlen(v.s) != v.n)
        return BAD("a string holds U+0000");
    return GW_VERDICT_OK;
}

/* The checks of gw_valid_int on v. */
static gw_verdict_t s_int(s_val_t v, json_int_t min, json_int_t max, json_int_t *out, bool *present)
{
    *present = v.present;
    if (!v.present)
        return GW_VERDICT_OK;
    if (!v.is_int)
        return BAD("a field has the wrong type");
    if (v.i < min || v.i > max)
        return BAD("a number is out of range");
    *out = v.i;
    return GW_VERDICT_OK;
}

gw_verdict_t gw_valid_str(json_t *req, const char *name, bool required, const char **out,
                          size_t *len_out)
{
    return s_str(s_val_json(json_object_get(req, name)), required, out, len_out);
}

gw_verdict_t gw_valid_int(json_t *req, const char *name, json_int_t min, json_int_t max,
                          json_int_t *out, bool *present)
{
    return s_int(s_val_json(json_object_get(req, name)), min, max, out, present);
}

gw_verdict_t gw_valid_conv(const char *user, const char *conv, char *other)
{
    char a[PL_USER_MAX + 1], b[PL_USER_MAX + 1];
    other[0] = 0;
    if (pl_group_id_valid(conv))
        return GW_VERDICT_OK; /* a group: the shard checks existence and membership */
    if (strncmp(conv, "dm:", 3) != 0 || !pl_dm_parse(conv, a, b))
        return BAD("conv is not a valid conversation id");
    if (strcmp(a, user) == 0)
        memcpy(other, b, strlen(b) + 1); /* pl_dm_parse: both at most 32 bytes */
    else if (strcmp(b, user) == 0)
        memcpy(other, a, strlen(a) + 1);
    else
        return (gw_verdict_t){PL_E_FORBIDDEN, "not a member of this conversation"};
    return GW_VERDICT_OK;
}

static gw_verdict_t s_send(const gw_frame_head_t *h, gw_conv_req_t *out)
{
    gw_verdict_t v = s_str(s_get(h, "client_msg_id"), true, &out->cmid, NULL);
    if (v.code)
        return v;
    /* characters <= bytes, and a non-empty string has one: counted only when it matters */
    size_t cl = strlen(out->cmid);
    size_t ncp = cl <= 64 || h->ascii ? cl : pl_utf8_count(out->cmid, cl);
    if (ncp < 1 || ncp > 64)
        return BAD("client_msg_id must be 1 to 64 characters");
    s_val_t tv = s_get(h, "text");
    if (!tv.present)
        return BAD("a required field is missing");
    if (!tv.is_str)
        return BAD("a field has the wrong type");
    if (tv.n == 0)
        return BAD("text is empty");
    if (memchr(tv.s, 0, tv.n))
        return BAD("text holds U+0000");
    if (tv.n > PL_TEXT_MAX_CP && (h->ascii || pl_utf8_count(tv.s, tv.n) > PL_TEXT_MAX_CP))
        return (gw_verdict_t){PL_E_TOO_LARGE, "text is longer than 100000 characters"};
    out->text = tv.s;
    out->text_len = tv.n;
    return GW_VERDICT_OK;
}

static gw_verdict_t s_page(const gw_type_def_t *t, const gw_frame_head_t *h, gw_conv_req_t *out)
{
    gw_verdict_t v;
    bool present;
    if (t->id == GW_TYPE_SYNC) {
        if ((v = s_int(s_get(h, "after"), 0, INT64_MAX, &out->after, &present)).code)
            return v;
        if (!present)
            out->after = 0;
    } else if ((v = s_int(s_get(h, "before"), 1, INT64_MAX, &out->before, &out->has_before)).code) {
        return v;
    }
    if ((v = s_int(s_get(h, "limit"), 1, 500, &out->limit, &present)).code)
        return v;
    if (!present)
        out->limit = t->page; /* gw_types.def: sync 100, history 50 */
    return GW_VERDICT_OK;
}

gw_verdict_t gw_valid_conv_request(const char *user, const gw_type_def_t *t,
                                   const gw_frame_head_t *h, gw_conv_req_t *out,
                                   const gw_conv_memo_t *memo)
{
    memset(out, 0, sizeof *out);
    gw_verdict_t v = s_str(s_get(h, "conv"), true, &out->conv, NULL);
    if (v.code)
        return v;
    switch (t ? t->id : GW_TYPE_NONE) {
    case GW_TYPE_SEND:
        v = s_send(h, out);
        break;
    case GW_TYPE_READ: {
        s_val_t sv = s_get(h, "seq");
        if (!sv.present)
            return BAD("a required field is missing");
        if (!sv.is_int)
            return BAD("a field has the wrong type");
        if (sv.i < 0)
            return BAD("seq must not be negative");
        out->seq = sv.i;
        break;
    }
    case GW_TYPE_SYNC:
    case GW_TYPE_HISTORY:
        v = s_page(t, h, out);
        break;
    case GW_TYPE_TYPING:
        break;
    default:
        return BAD("unknown request type");
    }
    if (v.code)
        return v;
    if (memo && memo->conv[0] && strcmp(memo->conv, out->conv) == 0) {
        memcpy(out->other, memo->other, strlen(memo->other) + 1);
        return GW_VERDICT_OK;
    }
    return gw_valid_conv(user, out->conv, out->other);
}
