/* gw_urlnorm — canonical push target URLs (urlnorm.c). Pure functions, any thread. */
#ifndef GW_URLNORM_H
#define GW_URLNORM_H

#include <stdbool.h>
#include <stddef.h>

/* Normalise an absolute http(s) URL into out (cap bytes, NUL-terminated): scheme and host
 * lower-cased, the scheme's default port left out, percent-escapes of unreserved
 * characters decoded and the others upper-cased, dot segments removed (RFC 3986 §5.2.4),
 * an empty path made "/". Returns 0, or -1 (out unusable) for anything else: another
 * scheme, userinfo ('@' in the authority), an empty or non-ASCII host (no IDNA: refused),
 * a port outside 1-65535, a fragment, a backslash, a malformed escape, an encoded '/' or
 * '\' or control character in the path, raw characters outside RFC 3986's set, a result
 * longer than cap - 1. */
int gw_url_normalize(const char *in, char *out, size_t cap);
/* url (normalised) starts with prefix (normalised) at a boundary: the prefix ends with
 * '/', or url continues with '/', '?' or ends there. */
bool gw_url_prefix_match(const char *url, const char *prefix);

#endif
