/* urlnorm — push target URLs in one canonical form (RFC 3986 §6.2.2), so that the
 * operator's allowed prefixes (--push-allow) are checked against what will be requested
 * (docs/protocol.md "Push notifications"). Pure functions, any thread. */
#include "gw_urlnorm.h"

#include <ctype.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

static bool s_unreserved(unsigned char c)
{
    return isalnum(c) || c == '-' || c == '.' || c == '_' || c == '~';
}

/* Characters allowed as they are in a path or query (RFC 3986 pchar, '/', '?', and '%'
 * which is checked separately). */
static bool s_plain(unsigned char c)
{
    return s_unreserved(c) || strchr("!$&'()*+,;=:@/?", c) != NULL;
}

static int s_hex(unsigned char c)
{
    if (c >= '0' && c <= '9')
        return c - '0';
    c = (unsigned char)tolower(c);
    return c >= 'a' && c <= 'f' ? c - 'a' + 10 : -1;
}

/* Growing output into a fixed buffer; overflow makes the result fail. */
typedef struct {
    char *p;
    size_t len, cap;
    bool over;
} sbuf_t;

static void s_put(sbuf_t *b, const char *s, size_t n)
{
    if (b->over || b->len + n >= b->cap) {
        b->over = true;
        return;
    }
    memcpy(b->p + b->len, s, n);
    b->len += n;
    b->p[b->len] = 0;
}

/* RFC 3986 §5.2.4 remove_dot_segments, in place on a path that starts with '/'. */
static void s_remove_dots(char *path)
{
    char *out = path; /* output end; input read from in */
    const char *in = path;
    size_t olen = 0;
    while (*in) {
        if (strncmp(in, "/./", 3) == 0) {
            in += 2;
        } else if (strcmp(in, "/.") == 0) {
            in += 1;
            /* leaves "/" */
            out[olen++] = '/';
            break;
        } else if (strncmp(in, "/../", 4) == 0 || strcmp(in, "/..") == 0) {
            bool last = in[3] == 0;
            in += 3;
            while (olen > 0 && out[olen - 1] != '/')
                olen--;
            if (olen > 0)
                olen--; /* the '/' before the removed segment */
            if (last) {
                out[olen++] = '/';
                break;
            }
        } else {
            /* move one segment: '/' and what follows up to the next '/' */
            out[olen++] = *in++;
            while (*in && *in != '/')
                out[olen++] = *in++;
        }
    }
    if (olen == 0)
        out[olen++] = '/';
    out[olen] = 0;
}

/* Copy in[0..n) into b with percent-encoding normalised: unreserved characters decoded,
 * other escapes kept with upper-case hex. -1: a malformed escape, an encoded '/', '\' or
 * control character, or a character that must not appear raw. */
static int s_pct(sbuf_t *b, const char *in, size_t n, bool query)
{
    for (size_t i = 0; i < n; i++) {
        unsigned char c = (unsigned char)in[i];
        if (c == '%') {
            if (i + 2 >= n)
                return -1;
            int hi = s_hex((unsigned char)in[i + 1]), lo = s_hex((unsigned char)in[i + 2]);
            if (hi < 0 || lo < 0)
                return -1;
            unsigned char d = (unsigned char)(hi * 16 + lo);
            if (d < 0x20 || d == 0x7f || d >= 0x80 || (!query && (d == '/' || d == '\\')))
                return -1;
            if (s_unreserved(d)) {
                char ch = (char)d;
                s_put(b, &ch, 1);
            } else {
                char esc[4];
                snprintf(esc, sizeof esc, "%%%02X", d);
                s_put(b, esc, 3);
            }
            i += 2;
        } else if (s_plain(c) && (query || c != '?')) {
            char ch = (char)c;
            s_put(b, &ch, 1);
        } else {
            return -1;
        }
    }
    return 0;
}

int gw_url_normalize(const char *in, char *out, size_t cap)
{
    sbuf_t b = {out, 0, cap, cap == 0};
    char *path = NULL;
    if (cap)
        out[0] = 0;
    for (const unsigned char *p = (const unsigned char *)in; *p; p++)
        if (*p <= 0x20 || *p >= 0x7f)
            return -1; /* controls, spaces, non-ASCII (IDNA is not done: refused) */
    const char *rest;
    bool https;
    if (strncasecmp(in, "https://", 8) == 0) {
        https = true;
        rest = in + 8;
    } else if (strncasecmp(in, "http://", 7) == 0) {
        https = false;
        rest = in + 7;
    } else {
        return -1;
    }
    s_put(&b, https ? "https://" : "http://", https ? 8 : 7);

    /* authority: host [":" port]; no userinfo, no escapes */
    size_t alen = strcspn(rest, "/?#\\");
    if (alen == 0 || memchr(rest, '@', alen) || memchr(rest, '%', alen))
        return -1;
    const char *host = rest, *port = NULL;
    size_t hlen;
    if (rest[0] == '[') { /* IPv6 literal */
        const char *close = memchr(rest, ']', alen);
        if (!close || close == rest + 1)
            return -1;
        for (const char *q = rest + 1; q < close; q++)
            if (!isxdigit((unsigned char)*q) && *q != ':' && *q != '.')
                return -1;
        hlen = (size_t)(close - rest) + 1;
        if (hlen < alen) {
            if (rest[hlen] != ':')
                return -1;
            port = rest + hlen + 1;
        }
    } else {
        const char *colon = memchr(rest, ':', alen);
        hlen = colon ? (size_t)(colon - rest) : alen;
        port = colon ? colon + 1 : NULL;
        if (hlen == 0)
            return -1;
        for (size_t i = 0; i < hlen; i++) {
            unsigned char c = (unsigned char)host[i];
            if (!isalnum(c) && c != '-' && c != '.')
                return -1;
        }
    }
    for (size_t i = 0; i < hlen; i++) {
        char c = (char)tolower((unsigned char)host[i]);
        s_put(&b, &c, 1);
    }
    if (port) {
        size_t plen = (size_t)(rest + alen - port);
        long v = 0;
        if (plen > 5)
            return -1;
        for (size_t i = 0; i < plen; i++) {
            if (!isdigit((unsigned char)port[i]))
                return -1;
            v = v * 10 + (port[i] - '0');
        }
        if (plen && (v < 1 || v > 65535))
            return -1;
        if (plen && v != (https ? 443 : 80)) { /* the scheme's default port is left out */
            char num[8];
            int k = snprintf(num, sizeof num, ":%ld", v);
            s_put(&b, num, (size_t)k);
        }
    }
    rest += alen;
    if (*rest == '\\' || strchr(rest, '#'))
        return -1; /* a backslash as separator, or a fragment (never sent to a server) */

    /* path: escapes normalised, then dot segments removed; empty is "/" */
    size_t plen = strcspn(rest, "?");
    size_t path_at = b.len;
    if (plen == 0) {
        s_put(&b, "/", 1);
    } else if (s_pct(&b, rest, plen, false) != 0) {
        return -1;
    }
    if (b.over)
        return -1;
    path = strdup(out + path_at);
    if (!path)
        return -1;
    s_remove_dots(path);
    b.len = path_at;
    out[b.len] = 0;
    s_put(&b, path, strlen(path));
    free(path);
    rest += plen;
    if (*rest == '?' && s_pct(&b, rest, strlen(rest), true) != 0)
        return -1;
    return b.over ? -1 : 0;
}

bool gw_url_prefix_match(const char *url, const char *prefix)
{
    size_t n = strlen(prefix);
    if (n == 0 || strncmp(url, prefix, n) != 0)
        return false;
    /* the prefix must end at a boundary: "http://h/hook" does not allow "/hookx", nor
     * "http://h" the host "h.evil.example" */
    char last = prefix[n - 1], next = url[n];
    return last == '/' || next == 0 || next == '/' || next == '?';
}
