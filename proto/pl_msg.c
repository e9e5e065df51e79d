/* pl_msg — see pl_msg.h. */
#include "pl_msg.h"

#include "pl_err.h"

#include <stdlib.h>
#include <string.h>

/* Fields per kind (index: kind). */
static const int8_t s_nfields[PL_K__MAX] = {
    [PL_K_HB] = 0,     [PL_K_HELLO] = 0, [PL_K_REQ] = 2,   [PL_K_REP] = 1,   [PL_K_EVT] = 3,
    [PL_K_LOC] = 1,    [PL_K_GWHB] = 0,  [PL_K_SNAP] = 0,  [PL_K_TABLE] = 1, [PL_K_FWD] = 2,
    [PL_K_HEALTH] = 0, [PL_K_REQN] = 1,  [PL_K_BATCH] = 1,
};

static const char *const s_kinds[PL_K__MAX] = {
    [PL_K_HB] = "HB",       [PL_K_HELLO] = "HELLO", [PL_K_REQ] = "REQ",       [PL_K_REP] = "REP",
    [PL_K_EVT] = "EVT",     [PL_K_LOC] = "LOC",     [PL_K_GWHB] = "GWHB",     [PL_K_SNAP] = "SNAP",
    [PL_K_TABLE] = "TABLE", [PL_K_FWD] = "FWD",     [PL_K_HEALTH] = "HEALTH", [PL_K_REQN] = "REQN",
    [PL_K_BATCH] = "BATCH",
};

static const char *const s_status[PL_ST__MAX] = {
    [PL_ST_OK] = "ok",
    [PL_ST_BAD_REQUEST] = PL_E_BAD_REQUEST,
    [PL_ST_UNAUTHENTICATED] = PL_E_UNAUTHENTICATED,
    [PL_ST_FORBIDDEN] = PL_E_FORBIDDEN,
    [PL_ST_NOT_FOUND] = PL_E_NOT_FOUND,
    [PL_ST_TOO_LARGE] = PL_E_TOO_LARGE,
    [PL_ST_GROUP_FULL] = PL_E_GROUP_FULL,
    [PL_ST_TOO_MANY] = PL_E_TOO_MANY,
    [PL_ST_RATE_LIMITED] = PL_E_RATE_LIMITED,
    [PL_ST_UNAVAILABLE] = PL_E_UNAVAILABLE,
    [PL_ST_INTERNAL] = PL_E_INTERNAL,
    [PL_ST_CONFLICT] = PL_E_CONFLICT,
};

const char *pl_status_name(unsigned status)
{
    return status < PL_ST__MAX ? s_status[status] : PL_E_INTERNAL;
}

pl_status_t pl_status_of(const char *name)
{
    for (int i = 0; i < PL_ST__MAX; i++)
        if (strcmp(name, s_status[i]) == 0)
            return (pl_status_t)i;
    return PL_ST_INTERNAL;
}

const char *pl_kind_name(unsigned kind)
{
    return kind < PL_K__MAX && s_kinds[kind] ? s_kinds[kind] : "?";
}

static uint16_t s_get16(const uint8_t *p)
{
    return (uint16_t)(p[0] | (unsigned)p[1] << 8);
}

static uint32_t s_get32(const uint8_t *p)
{
    return (uint32_t)p[0] | (uint32_t)p[1] << 8 | (uint32_t)p[2] << 16 | (uint32_t)p[3] << 24;
}

static uint64_t s_get64(const uint8_t *p)
{
    return (uint64_t)s_get32(p) | (uint64_t)s_get32(p + 4) << 32;
}

static void s_put16(uint8_t *p, uint16_t v)
{
    p[0] = (uint8_t)v;
    p[1] = (uint8_t)(v >> 8);
}

static void s_put32(uint8_t *p, uint32_t v)
{
    for (int i = 0; i < 4; i++)
        p[i] = (uint8_t)(v >> (8 * i));
}

static void s_put64(uint8_t *p, uint64_t v)
{
    s_put32(p, (uint32_t)v);
    s_put32(p + 4, (uint32_t)(v >> 32));
}

int pl_msg_decode(const void *data, size_t len, pl_msg_t *m)
{
    const uint8_t *p = data;
    if (len < PL_MSG_HDR)
        return PL_MSG_E_SHORT;
    if (p[0] != PL_MSG_MAGIC)
        return PL_MSG_E_MAGIC;
    if (p[1] == 0 || p[1] >= PL_K__MAX)
        return PL_MSG_E_KIND;
    m->h.kind = p[1];
    m->h.flags = p[2];
    m->h.op = p[3];
    m->h.status = s_get16(p + 4);
    m->h.shard = s_get16(p + 6);
    m->h.id = s_get64(p + 8);
    m->h.seq = s_get64(p + 16);
    int want = s_nfields[m->h.kind];
    size_t off = PL_MSG_HDR;
    m->nf = 0;
    while (off < len) {
        if (m->nf == want)
            return PL_MSG_E_COUNT; /* bytes after the last field */
        if (len - off < 4)
            return PL_MSG_E_FIELD;
        uint32_t n = s_get32(p + off);
        off += 4;
        if (n > len - off)
            return PL_MSG_E_FIELD;
        m->f[m->nf].p = p + off;
        m->f[m->nf].n = n;
        m->nf++;
        off += n;
    }
    return m->nf == want ? 0 : PL_MSG_E_COUNT;
}

const char *pl_msg_strerror(int err)
{
    switch (err) {
    case 0:
        return "no error";
    case PL_MSG_E_SHORT:
        return "shorter than the header";
    case PL_MSG_E_MAGIC:
        return "not a version 1 message";
    case PL_MSG_E_KIND:
        return "unknown message kind";
    case PL_MSG_E_FIELD:
        return "a field runs past the end";
    case PL_MSG_E_COUNT:
        return "wrong number of fields";
    case PL_MSG_E_BATCH:
        return "a batch entry runs past the end or the count is wrong";
    case PL_MSG_E_INNER:
        return "a batch entry does not decode or is not of the batch's kinds";
    default:
        return "unknown error";
    }
}

bool pl_slice_eq(pl_slice_t s, const char *z)
{
    size_t n = strlen(z);
    return s.n == n && (n == 0 || memcmp(s.p, z, n) == 0);
}

bool pl_slice_cstr(pl_slice_t s, char *buf, size_t cap)
{
    if (cap == 0)
        return false;
    buf[0] = '\0';
    if (s.n >= cap || (s.n && memchr(s.p, '\0', s.n)))
        return false;
    if (s.n)
        memcpy(buf, s.p, s.n);
    buf[s.n] = '\0';
    return true;
}

/* ---- encoding ------------------------------------------------------------------------ */

void pl_buf_reset(pl_buf_t *b)
{
    b->len = 0;
    b->failed = false;
}

void pl_buf_free(pl_buf_t *b)
{
    free(b->data);
    *b = (pl_buf_t){0};
}

/* s_reserve's growth: the rare path, kept out of line so that the check inlines. */
static __attribute__((noinline)) int s_grow(pl_buf_t *b, size_t n)
{
    if (b->failed)
        return -1;
    if (n > SIZE_MAX / 2 - b->len) {
        b->failed = true;
        return -1;
    }
    size_t cap = b->cap ? b->cap : 256;
    while (cap - b->len < n)
        cap *= 2;
    uint8_t *d = realloc(b->data, cap);
    if (!d) {
        b->failed = true;
        return -1;
    }
    b->data = d;
    b->cap = cap;
    return 0;
}

/* Room for n more bytes: 0, or -1 (failed set). Inlined in every writer (a call per
 * appended field cost ~10 instructions, ~60 of them per stored message). */
static inline int s_reserve(pl_buf_t *b, size_t n)
{
    if (__builtin_expect(!b->failed && n <= b->cap - b->len, 1))
        return 0;
    return s_grow(b, n);
}

int pl_buf_put(pl_buf_t *b, const void *p, size_t n)
{
    if (s_reserve(b, n) != 0)
        return -1;
    if (n)
        memcpy(b->data + b->len, p, n);
    b->len += n;
    return 0;
}

/* Write header h at p (PL_MSG_HDR bytes). */
static void s_put_hdr(uint8_t *p, const pl_hdr_t *h)
{
    p[0] = PL_MSG_MAGIC;
    p[1] = h->kind;
    p[2] = h->flags;
    p[3] = h->op;
    s_put16(p + 4, h->status);
    s_put16(p + 6, h->shard);
    s_put64(p + 8, h->id);
    s_put64(p + 16, h->seq);
}

int pl_msg_begin(pl_buf_t *b, const pl_hdr_t *h)
{
    pl_buf_reset(b);
    if (s_reserve(b, PL_MSG_HDR) != 0)
        return -1;
    s_put_hdr(b->data, h);
    b->len = PL_MSG_HDR;
    return 0;
}

int pl_msg_field(pl_buf_t *b, const void *p, size_t n)
{
    if (n > UINT32_MAX) {
        b->failed = true;
        return -1;
    }
    if (s_reserve(b, 4 + n) != 0)
        return -1;
    s_put32(b->data + b->len, (uint32_t)n);
    b->len += 4;
    return pl_buf_put(b, p, n);
}

int pl_msg_field_str(pl_buf_t *b, const char *s)
{
    return pl_msg_field(b, s, strlen(s));
}

int pl_msg_fields(pl_buf_t *b, const pl_slice_t *f, int n)
{
    size_t need = 0;
    for (int i = 0; i < n; i++) {
        if (f[i].n > UINT32_MAX) {
            b->failed = true;
            return -1;
        }
        need += 4 + f[i].n;
    }
    if (s_reserve(b, need) != 0)
        return -1;
    uint8_t *p = b->data + b->len;
    for (int i = 0; i < n; i++) {
        s_put32(p, (uint32_t)f[i].n);
        if (f[i].n)
            memcpy(p + 4, f[i].p, f[i].n);
        p += 4 + f[i].n;
    }
    b->len += need;
    return 0;
}

size_t pl_msg_field_begin(pl_buf_t *b)
{
    size_t at = b->len;
    static const uint8_t zero[4];
    pl_buf_put(b, zero, 4);
    return at;
}

int pl_msg_field_end(pl_buf_t *b, size_t at)
{
    if (b->failed || at + 4 > b->len || b->len - at - 4 > UINT32_MAX) {
        b->failed = true;
        return -1;
    }
    s_put32(b->data + at, (uint32_t)(b->len - at - 4));
    return 0;
}

int pl_msg_encode(pl_buf_t *b, const pl_hdr_t *h, int nf, const pl_slice_t *f)
{
    if (pl_msg_begin(b, h) != 0)
        return -1;
    for (int i = 0; i < nf; i++)
        if (pl_msg_field(b, f[i].p, f[i].n) != 0)
            return -1;
    return 0;
}

/* ---- batches ------------------------------------------------------------------------- */

static int s_batch_begin(pl_buf_t *b, uint8_t flags)
{
    pl_hdr_t h = {.kind = PL_K_BATCH, .flags = flags};
    if (pl_msg_begin(b, &h) != 0)
        return -1;
    return pl_msg_field(b, NULL, 0);
}

int pl_batch_begin(pl_buf_t *b)
{
    return s_batch_begin(b, 0);
}

int pl_batch_begin_reqs(pl_buf_t *b)
{
    return s_batch_begin(b, PL_MF_REQS);
}

bool pl_batch_is_reqs(const pl_msg_t *m)
{
    return m->h.kind == PL_K_BATCH && (m->h.flags & PL_MF_REQS);
}

int pl_batch_add(pl_buf_t *b, const void *msg, size_t n)
{
    if (b->failed || b->len < PL_BATCH_OVERHEAD || n > UINT32_MAX ||
        b->len - PL_BATCH_OVERHEAD + PL_BATCH_ENTRY + n > UINT32_MAX) {
        b->failed = true;
        return -1;
    }
    if (pl_msg_field(b, msg, n) != 0) /* an entry has a field's form: u32 length, bytes */
        return -1;
    s_put64(b->data + 8, s_get64(b->data + 8) + 1);
    s_put32(b->data + PL_MSG_HDR, (uint32_t)(b->len - PL_BATCH_OVERHEAD));
    return 0;
}

size_t pl_batch_entry_begin(pl_buf_t *b, const pl_hdr_t *h)
{
    size_t at = b->len;
    if (b->failed || b->len < PL_BATCH_OVERHEAD) {
        b->failed = true;
        return at;
    }
    if (s_reserve(b, PL_BATCH_ENTRY + PL_MSG_HDR) != 0)
        return at;
    s_put32(b->data + at, 0); /* the entry's length: pl_batch_entry_end */
    s_put_hdr(b->data + at + PL_BATCH_ENTRY, h);
    b->len += PL_BATCH_ENTRY + PL_MSG_HDR;
    return at;
}

int pl_batch_entry_end(pl_buf_t *b, size_t at)
{
    if (b->failed || at < PL_BATCH_OVERHEAD || at + PL_BATCH_ENTRY + PL_MSG_HDR > b->len ||
        b->len - PL_BATCH_OVERHEAD > UINT32_MAX) {
        b->failed = true;
        return -1;
    }
    s_put32(b->data + at, (uint32_t)(b->len - at - PL_BATCH_ENTRY));
    s_put64(b->data + 8, s_get64(b->data + 8) + 1);
    s_put32(b->data + PL_MSG_HDR, (uint32_t)(b->len - PL_BATCH_OVERHEAD));
    return 0;
}

void pl_batch_entry_abort(pl_buf_t *b, size_t at)
{
    if (at >= PL_BATCH_OVERHEAD && at <= b->len)
        b->len = at;
    b->failed = false;
}

uint64_t pl_batch_count(const pl_buf_t *b)
{
    return b->len >= PL_BATCH_OVERHEAD ? s_get64(b->data + 8) : 0;
}

bool pl_batch_fits(const pl_buf_t *b, size_t n)
{
    return b->len + PL_BATCH_ENTRY <= PL_BATCH_MAX && n <= PL_BATCH_MAX - PL_BATCH_ENTRY - b->len;
}

pl_slice_t pl_batch_frame(const pl_buf_t *b)
{
    if (pl_batch_count(b) == 1)
        return (pl_slice_t){b->data + PL_BATCH_OVERHEAD + PL_BATCH_ENTRY,
                            b->len - PL_BATCH_OVERHEAD - PL_BATCH_ENTRY};
    return (pl_slice_t){b->data, b->len};
}

int pl_batch_weight(const pl_msg_t *m)
{
    return m->h.id > 0 && m->h.id < (uint64_t)INT32_MAX ? (int)m->h.id : 1;
}

void pl_batch_iter(pl_batch_it_t *it, const pl_msg_t *batch)
{
    it->p = batch->f[0].p;
    it->end = batch->f[0].p ? batch->f[0].p + batch->f[0].n : NULL;
    it->reqs = (batch->h.flags & PL_MF_REQS) != 0;
}

int pl_batch_next(pl_batch_it_t *it, pl_msg_t *m)
{
    if (it->p == it->end)
        return 0;
    const uint8_t *p = it->p;
    it->p = it->end; /* on error nothing more is read */
    if (it->end - p < 4)
        return PL_MSG_E_BATCH;
    size_t n = s_get32(p);
    if (n > (size_t)(it->end - p) - 4)
        return PL_MSG_E_BATCH;
    p += 4;
    if (pl_msg_decode(p, n, m) != 0)
        return PL_MSG_E_INNER;
    if (it->reqs ? (m->h.kind != PL_K_REQ && m->h.kind != PL_K_REQN)
                 : (m->h.kind != PL_K_REP && m->h.kind != PL_K_EVT))
        return PL_MSG_E_INNER;
    it->p = p + n;
    return 1;
}

int pl_batch_check(const pl_msg_t *batch)
{
    if (batch->h.kind != PL_K_BATCH || batch->nf != 1)
        return PL_MSG_E_BATCH;
    pl_batch_it_t it;
    pl_msg_t m;
    uint64_t count = 0;
    int rc;
    pl_batch_iter(&it, batch);
    while ((rc = pl_batch_next(&it, &m)) == 1)
        count++;
    if (rc < 0)
        return rc;
    return count == batch->h.id ? 0 : PL_MSG_E_BATCH;
}

/* ---- binary bodies, JSON text ---------------------------------------------------------- */

int pl_body_fields(pl_slice_t body, pl_slice_t *out, int n)
{
    size_t off = 0;
    for (int i = 0; i < n; i++) {
        if (body.n - off < 4)
            return -1;
        uint32_t len = s_get32(body.p + off);
        off += 4;
        if (len > body.n - off)
            return -1;
        out[i].p = body.p + off;
        out[i].n = len;
        off += len;
    }
    return off == body.n ? 0 : -1;
}

int pl_json_str(pl_buf_t *b, const char *s, size_t n)
{
    static const char hex[] = "0123456789ABCDEF";
    /* worst case 6 bytes per input byte, plus quotes */
    if (n > (SIZE_MAX - 2) / 6 || s_reserve(b, n * 6 + 2) != 0)
        return -1;
    uint8_t *o = b->data + b->len;
    *o++ = '"';
    const uint64_t ones = 0x0101010101010101ull, high = 0x8080808080808080ull;
    size_t i = 0;
    for (; i < n; i++) {
        while (n - i >= 8) {
            /* eight bytes at once while none is below 0x20, '"' or '\\' (the word tests
             * "has a byte less than n" and "has a zero byte": exact about whether one
             * exists, whatever the other bytes) */
            uint64_t w, q, e;
            memcpy(&w, s + i, 8);
            q = w ^ (ones * '"');
            e = w ^ (ones * '\\');
            if ((((w - ones * 0x20) & ~w) | ((q - ones) & ~q) | ((e - ones) & ~e)) & high)
                break; /* this byte and maybe the next need a look of their own */
            memcpy(o, s + i, 8);
            o += 8;
            i += 8;
        }
        if (i == n)
            break;
        uint8_t c = (uint8_t)s[i];
        if (c >= 0x20 && c != '"' && c != '\\') {
            *o++ = c;
            continue;
        }
        *o++ = '\\';
        switch (c) {
        case '"':
        case '\\':
            *o++ = c;
            break;
        case '\b':
            *o++ = 'b';
            break;
        case '\f':
            *o++ = 'f';
            break;
        case '\n':
            *o++ = 'n';
            break;
        case '\r':
            *o++ = 'r';
            break;
        case '\t':
            *o++ = 't';
            break;
        default:
            *o++ = 'u';
            *o++ = '0';
            *o++ = '0';
            *o++ = (uint8_t)hex[c >> 4];
            *o++ = (uint8_t)hex[c & 15];
        }
    }
    *o++ = '"';
    b->len = (size_t)(o - b->data);
    return 0;
}

int pl_json_u64(pl_buf_t *b, uint64_t v)
{
    /* two digits per division, written from the end of d (a 13-digit timestamp is 7
     * steps instead of 13, and no reversal) */
    static const char pairs[] = "00010203040506070809101112131415161718192021222324"
                                "25262728293031323334353637383940414243444546474849"
                                "50515253545556575859606162636465666768697071727374"
                                "75767778798081828384858687888990919293949596979899";
    char d[20]; /* UINT64_MAX has 20 digits */
    size_t at = sizeof d;
    while (v >= 100) {
        unsigned r = (unsigned)(v % 100);
        v /= 100;
        at -= 2;
        memcpy(d + at, pairs + 2 * r, 2);
    }
    if (v >= 10) {
        at -= 2;
        memcpy(d + at, pairs + 2 * v, 2);
    } else
        d[--at] = (char)('0' + v);
    return pl_buf_put(b, d + at, sizeof d - at);
}

/* ---- name lists ---------------------------------------------------------------------- */

int pl_list_add(pl_buf_t *b, const char *s, size_t n)
{
    if (n > UINT16_MAX) {
        b->failed = true;
        return -1;
    }
    uint8_t len[2];
    s_put16(len, (uint16_t)n);
    if (pl_buf_put(b, len, 2) != 0)
        return -1;
    return pl_buf_put(b, s, n);
}

void pl_list_iter(pl_list_it_t *it, pl_slice_t list)
{
    it->p = list.p;
    it->end = list.p ? list.p + list.n : NULL;
}

int pl_list_next(pl_list_it_t *it, pl_slice_t *out)
{
    if (it->p == it->end)
        return 0;
    if (it->end - it->p < 2)
        return -1;
    size_t n = s_get16(it->p);
    if (n > (size_t)(it->end - it->p) - 2)
        return -1;
    out->p = it->p + 2;
    out->n = n;
    it->p += 2 + n;
    return 1;
}
