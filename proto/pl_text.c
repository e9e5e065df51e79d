/* pl_text — see pl_text.h. */
#include "pl_text.h"

#include <stdint.h>
#include <stdio.h>
#include <string.h>

#define HIGH_BITS 0x8080808080808080ull

bool pl_utf8_valid(const char *buf, size_t len)
{
    const unsigned char *s = (const unsigned char *)buf;
    size_t i = 0;
    while (i < len) {
        uint64_t w;
        if (len - i >= 8 && (memcpy(&w, s + i, 8), (w & HIGH_BITS) == 0)) {
            i += 8; /* eight ASCII bytes at once */
            continue;
        }
        unsigned char c = s[i];
        if (c < 0x80) {
            i++;
            continue;
        }
        size_t n;
        unsigned int cp;
        if (c >= 0xC2 && c <= 0xDF) {
            n = 1;
            cp = c & 0x1F;
        } else if (c >= 0xE0 && c <= 0xEF) {
            n = 2;
            cp = c & 0x0F;
        } else if (c >= 0xF0 && c <= 0xF4) {
            n = 3;
            cp = c & 0x07;
        } else {
            return false; /* continuation byte, overlong lead C0/C1, or > F4 */
        }
        if (len - i <= n)
            return false;
        for (size_t k = 1; k <= n; k++) {
            if ((s[i + k] & 0xC0) != 0x80)
                return false;
            cp = (cp << 6) | (s[i + k] & 0x3F);
        }
        if ((n == 2 && cp < 0x800) || (n == 3 && cp < 0x10000) || cp > 0x10FFFF ||
            (cp >= 0xD800 && cp <= 0xDFFF))
            return false;
        i += n + 1;
    }
    return true;
}

size_t pl_utf8_count(const char *buf, size_t len)
{
    size_t n = 0, i = 0;
    /* eight bytes at once: a continuation byte is 10xxxxxx, i.e. its bit 7 set and bit 6
     * clear (w << 1 moves each byte's bit 6 to its bit 7; what crosses into the next
     * byte's bit 0 is masked off). The eight 0/1 flags are summed by a multiply into the
     * top byte, not __builtin_popcountll: baseline x86-64 has no POPCNT, so that is a
     * libgcc call of ~20 instructions per word. */
    for (; len - i >= 8; i += 8) {
        uint64_t w;
        memcpy(&w, buf + i, 8);
        uint64_t cont = (w & ~(w << 1) & HIGH_BITS) >> 7; /* 1 in each continuation byte */
        n += 8 - (size_t)((cont * 0x0101010101010101ULL) >> 56);
    }
    for (; i < len; i++)
        if (((unsigned char)buf[i] & 0xC0) != 0x80)
            n++;
    return n;
}

/* Which bytes may appear in a user name (C_USER: [a-z0-9_]) and in a device id
 * (C_DEVICE: [A-Za-z0-9_.-]): one table lookup per byte. */
enum { C_USER = 1, C_DEVICE = 2 };
static const unsigned char s_class[256] = {
    ['a' ... 'z'] = C_USER | C_DEVICE,
    ['0' ... '9'] = C_USER | C_DEVICE,
    ['_'] = C_USER | C_DEVICE,
    ['A' ... 'Z'] = C_DEVICE,
    ['.'] = C_DEVICE,
    ['-'] = C_DEVICE,
};

/* s is min..max bytes of class cls. */
static bool s_chars(const char *s, size_t min, size_t max, unsigned cls)
{
    const unsigned char *p = (const unsigned char *)s;
    size_t n = 0;
    while (n <= max && (s_class[p[n]] & cls))
        n++;
    return p[n] == '\0' && n >= min && n <= max;
}

bool pl_user_valid(const char *s)
{
    return s && s_chars(s, 3, PL_USER_MAX, C_USER);
}

bool pl_device_valid(const char *s)
{
    return s && s_chars(s, 1, PL_DEVICE_MAX, C_DEVICE);
}

bool pl_password_valid(const char *s, size_t len)
{
    (void)s;
    return len >= 8 && len <= 1024;
}

bool pl_dm_parse(const char *conv, char *a, char *b)
{
    if (!conv || strncmp(conv, "dm:", 3) != 0)
        return false;
    const char *p = conv + 3;
    const char *colon = strchr(p, ':');
    if (!colon || colon - p > PL_USER_MAX)
        return false;
    char ua[PL_USER_MAX + 1], ub[PL_USER_MAX + 1];
    memcpy(ua, p, (size_t)(colon - p));
    ua[colon - p] = '\0';
    const char *q = colon + 1;
    if (strlen(q) > PL_USER_MAX)
        return false;
    strcpy(ub, q);
    if (!pl_user_valid(ua) || !pl_user_valid(ub) || strcmp(ua, ub) >= 0)
        return false;
    if (a)
        strcpy(a, ua);
    if (b)
        strcpy(b, ub);
    return true;
}

void pl_dm_make(const char *u1, const char *u2, char *out)
{
    if (strcmp(u1, u2) <= 0)
        sprintf(out, "dm:%s:%s", u1, u2);
    else
        sprintf(out, "dm:%s:%s", u2, u1);
}

bool pl_group_id_valid(const char *conv)
{
    if (!conv || strncmp(conv, "g:", 2) != 0)
        return false;
    const char *p = conv + 2;
    size_t n = strlen(p);
    if (n < 1 || n > PL_GROUP_ID_MAX - 2)
        return false;
    for (size_t i = 0; i < n; i++) {
        char c = p[i];
        if (!((c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') ||
              c == '_' || c == '-'))
            return false;
    }
    return true;
}
