/* fastjson — the fast path of json_loadb for flat client frames (gw_fastjson.h).
 *
 * Contract kept: whatever this scanner accepts, jansson accepts with the same value; it
 * gives up (NULL: jansson decides) on anything it does not handle or that is invalid. */
#include "gw_fastjson.h"

#include <stdbool.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

/* Longest string member decoded on the stack; longer ones go to jansson's path. Frames
 * beyond it are rare (texts > 4 KiB) and cost the lexer anyway. */
#define FJ_STR_MAX 4096

typedef struct {
    const unsigned char *p, *end;
} fj_t;

static void s_ws(fj_t *f)
{
    while (f->p < f->end && (*f->p == ' ' || *f->p == '\t' || *f->p == '\n' || *f->p == '\r'))
        f->p++;
}

/* Length of the valid UTF-8 sequence at p (lead byte >= 0x80), 0 if invalid: no overlong
 * forms, no surrogates, nothing above U+10FFFF (what jansson's utf.c accepts). */
static size_t s_utf8(const unsigned char *p, const unsigned char *end)
{
    unsigned c = p[0];
    size_t n;
    uint32_t cp;
    if (c >= 0xC2 && c <= 0xDF)
        n = 2, cp = c & 0x1F;
    else if (c >= 0xE0 && c <= 0xEF)
        n = 3, cp = c & 0x0F;
    else if (c >= 0xF0 && c <= 0xF4)
        n = 4, cp = c & 0x07;
    else
        return 0;
    if ((size_t)(end - p) < n)
        return 0;
    for (size_t i = 1; i < n; i++) {
        if ((p[i] & 0xC0) != 0x80)
            return 0;
        cp = cp << 6 | (p[i] & 0x3F);
    }
    if ((n == 3 && cp < 0x800) || (n == 4 && (cp < 0x10000 || cp > 0x10FFFF)) ||
        (cp >= 0xD800 && cp <= 0xDFFF))
        return 0;
    return n;
}

/* A string at f->p (past its opening quote) into buf (FJ_STR_MAX); its length in *len.
 * False: give up. */
static bool s_string(fj_t *f, char *buf, size_t *len)
{
    size_t n = 0;
    while (f->p < f->end) {
        if (n + 4 > FJ_STR_MAX)
            return false; /* room for one more character of up to 4 bytes, always */
        /* a run of plain ASCII in one go: the bulk of a text */
        const unsigned char *q = f->p, *lim = f->end;
        if ((size_t)(lim - q) > FJ_STR_MAX - 4 - n)
            lim = q + (FJ_STR_MAX - 4 - n);
        while (q < lim && *q >= 0x20 && *q < 0x80 && *q != '"' && *q != '\\')
            q++;
        if (q > f->p) {
            memcpy(buf + n, f->p, (size_t)(q - f->p));
            n += (size_t)(q - f->p);
            f->p = q;
            if (f->p >= f->end)
                break;
        }
        unsigned c = *f->p;
        if (c == '"') {
            f->p++;
            *len = n;
            return true;
        }
        if (c < 0x20)
            return false; /* a control character: jansson refuses it */
        if (c == '\\') {
            if (f->end - f->p < 2)
                return false;
            char e;
            switch (f->p[1]) {
            case '"':
                e = '"';
                break;
            case '\\':
                e = '\\';
                break;
            case '/':
                e = '/';
                break;
            case 'b':
                e = '\b';
                break;
            case 'f':
                e = '\f';
                break;
            case 'n':
                e = '\n';
                break;
            case 'r':
                e = '\r';
                break;
            case 't':
                e = '\t';
                break;
            default:
                return false; /* \u (surrogates, U+0000) and errors: jansson's */
            }
            buf[n++] = e;
            f->p += 2;
            continue;
        }
        if (c < 0x80) {
            buf[n++] = (char)c;
            f->p++;
            continue;
        }
        size_t k = s_utf8(f->p, f->end);
        if (!k)
            return false;
        memcpy(buf + n, f->p, k);
        n += k;
        f->p += k;
    }
    return false;
}

/* A member's value at f->p; NULL: give up. */
static json_t *s_value(fj_t *f, char *buf)
{
    if (f->p >= f->end)
        return NULL;
    unsigned c = *f->p;
    if (c == '"') {
        f->p++;
        size_t n;
        if (!s_string(f, buf, &n))
            return NULL;
        return json_stringn_nocheck(buf, n);
    }
    if (c == '-' || (c >= '0' && c <= '9')) {
        bool neg = c == '-';
        if (neg)
            f->p++;
        const unsigned char *d = f->p;
        json_int_t v = 0;
        while (f->p < f->end && *f->p >= '0' && *f->p <= '9') {
            if (f->p - d < 18) /* past 18 digits it goes to jansson: no overflow here */
                v = v * 10 + (*f->p - '0');
            f->p++;
        }
        size_t nd = (size_t)(f->p - d);
        /* 1..18 digits, no leading zero, not followed by a fraction or exponent */
        if (nd == 0 || nd > 18 || (nd > 1 && *d == '0'))
            return NULL;
        if (f->p < f->end && (*f->p == '.' || *f->p == 'e' || *f->p == 'E'))
            return NULL;
        return json_integer(neg ? -v : v);
    }
    static const struct {
        const char *word;
        size_t len;
    } words[] = {{"true", 4}, {"false", 5}, {"null", 4}};
    for (int i = 0; i < 3; i++) {
        if ((size_t)(f->end - f->p) >= words[i].len &&
            memcmp(f->p, words[i].word, words[i].len) == 0) {
            f->p += words[i].len;
            /* "truex" and the like: jansson's error */
            if (f->p < f->end &&
                ((*f->p >= 'a' && *f->p <= 'z') || (*f->p >= 'A' && *f->p <= 'Z') ||
                 (*f->p >= '0' && *f->p <= '9') || *f->p == '_'))
                return NULL;
            return i == 0 ? json_true() : i == 1 ? json_false() : json_null();
        }
    }
    return NULL; /* nested values, and errors */
}

json_t *gw_json_fast(const char *data, size_t len)
{
    char buf[FJ_STR_MAX];
    fj_t f = {(const unsigned char *)data, (const unsigned char *)data + len};
    json_t *obj = NULL, *v = NULL;
    s_ws(&f);
    if (f.p >= f.end || *f.p != '{')
        return NULL;
    f.p++;
    if (!(obj = json_object()))
        return NULL;
    s_ws(&f);
    if (f.p < f.end && *f.p == '}') {
        f.p++;
        goto end;
    }
    for (;;) {
        s_ws(&f);
        if (f.p >= f.end || *f.p != '"')
            goto giveup;
        f.p++;
        size_t klen;
        if (!s_string(&f, buf, &klen))
            goto giveup;
        /* keys are NUL-terminated in jansson; an escaped key was decoded into buf */
        char key[FJ_STR_MAX + 1];
        memcpy(key, buf, klen);
        key[klen] = '\0';
        if (json_object_getn(obj, key, klen))
            goto giveup; /* a duplicate: jansson's error */
        s_ws(&f);
        if (f.p >= f.end || *f.p != ':')
            goto giveup;
        f.p++;
        s_ws(&f);
        if (!(v = s_value(&f, buf)))
            goto giveup;
        if (json_object_setn_new_nocheck(obj, key, klen, v) != 0)
            goto giveup; /* v is freed by jansson on failure */
        v = NULL;
        s_ws(&f);
        if (f.p < f.end && *f.p == ',') {
            f.p++;
            continue;
        }
        if (f.p < f.end && *f.p == '}') {
            f.p++;
            break;
        }
        goto giveup;
    }
end:
    s_ws(&f);
    if (f.p != f.end)
        goto giveup; /* trailing bytes: jansson's error */
    return obj;
giveup:
    json_decref(obj);
    return NULL;
}

json_t *gw_json_load_frame(const char *data, size_t len, json_error_t *err)
{
    json_t *o = gw_json_fast(data, len);
    if (o)
        return o;
    json_error_t e;
    return json_loadb(data, len, JSON_REJECT_DUPLICATES | JSON_ALLOW_NUL, err ? err : &e);
}
