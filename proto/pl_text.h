/* pl_text — validation of client-supplied strings (PROTOCOL.md §2–3). Pure functions,
 * any thread. Lengths are in bytes unless named _cp (Unicode code points). */
#ifndef PL_TEXT_H
#define PL_TEXT_H
#include <stdbool.h>
#include <stddef.h>

#define PL_TEXT_MAX_CP 100000
#define PL_FRAME_MAX (1024 * 1024)

/* True if buf[0..len) is well-formed UTF-8 (no overlongs, no surrogates, <= U+10FFFF). */
bool pl_utf8_valid(const char *buf, size_t len);
/* Number of code points in well-formed UTF-8. */
size_t pl_utf8_count(const char *buf, size_t len);

/* 3–32 chars of [a-z0-9_] */
bool pl_user_valid(const char *s);
/* 1–64 chars of [A-Za-z0-9_.-] */
bool pl_device_valid(const char *s);
/* 8–1024 bytes */
bool pl_password_valid(const char *s, size_t len);

/* Parse a direct conversation id "dm:<a>:<b>". Returns true when it is well-formed:
 * both valid user names, a < b in byte order (so a != b). a and b receive copies
 * (NUL-terminated, each buffer at least 33 bytes). */
bool pl_dm_parse(const char *conv, char *a, char *b);
/* Build "dm:<lo>:<hi>" for two users into out (at least 70 bytes). */
void pl_dm_make(const char *u1, const char *u2, char *out);
/* True for "g:" followed by 1–64 chars of [A-Za-z0-9_-]. */
bool pl_group_id_valid(const char *conv);

#endif
