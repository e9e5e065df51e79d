/* pl_text — validation of client-supplied strings (PROTOCOL.md §2–3). Pure functions,
 * any thread. Lengths are in bytes unless named _cp (Unicode code points). */
#ifndef PL_TEXT_H
#define PL_TEXT_H
#include <stdbool.h>
#include <stddef.h>

#define PL_TEXT_MAX_CP 100000
#define PL_FRAME_MAX (1024 * 1024)

/* The sizes of the client's names (PROTOCOL.md), in bytes without a NUL: a buffer for
 * one is declared [PL_X_MAX + 1]. */
#define PL_USER_MAX 32      /* a user name: 3-32 of [a-z0-9_] */
#define PL_DEVICE_MAX 64    /* a device id: 1-64 of [A-Za-z0-9_.-] */
#define PL_GROUP_ID_MAX 66  /* "g:" + 1-64 of [A-Za-z0-9_-] */
#define PL_DM_ID_MAX 68     /* "dm:" + user + ":" + user */
#define PL_CONV_MAX 68      /* any conversation id: the longer of the two above */
#define PL_CMID_MAX_CP 64   /* a client_msg_id: 1-64 code points */
#define PL_TITLE_MAX_CP 200 /* a group title: 1-200 code points */

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
 * (NUL-terminated, each buffer at least PL_USER_MAX + 1 bytes). */
bool pl_dm_parse(const char *conv, char *a, char *b);
/* Build "dm:<lo>:<hi>" for two users into out (at least PL_DM_ID_MAX + 1 bytes). */
void pl_dm_make(const char *u1, const char *u2, char *out);
/* True for "g:" followed by 1–64 chars of [A-Za-z0-9_-]. */
bool pl_group_id_valid(const char *conv);

#endif
