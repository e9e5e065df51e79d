/* gw_token — the session token "<user>.<device>.<secret>" (PROTOCOL.md §2; made by
 * accounts.c at login, read by requests.c for `auth` and by logout.c).
 *
 * Pure functions, any thread. */
#ifndef GW_TOKEN_H
#define GW_TOKEN_H

#include <stdbool.h>
#include <stddef.h>

/* Parse a token of tlen bytes (not NUL-terminated, may hold anything): user (33 bytes) and
 * device (65) get the names (valid per pl_user_valid / pl_device_valid), th (65) the hex
 * SHA-256 of the 32-byte secret (base64url without padding), as the shard stores it. The
 * user is up to the first '.', the secret after the last one. False if malformed (then
 * the outputs hold nothing to rely on). */
bool gw_token_parse(const char *tok, size_t tlen, char *user, char *device, char *th);

#endif
