/* guard — per-user abuse limits the shard owns (docs/reliability.md "Abuse").
 *
 * - Password guessing, per account, on the account's shard: every login's user_get
 *   ({"login":true}) takes a token of the user's bucket (--guess-burst, refilled
 *   --guess-per-min a minute); a login that succeeds (token_set) gives it back, so only
 *   failed attempts drain it. While it is empty the attempt is refused (rate_limited,
 *   the gateway answers 429 with Retry-After) before any password is checked, whichever
 *   gateway and client address it comes from.
 * - Device cap, on the account's shard: a user holds at most --max-devices tokens; the
 *   login of one more device revokes the least recently used one (last login or auth
 *   seen by this shard process; devices not seen since it started count as oldest, in
 *   key order).
 * - Send budget per user, on each conversation's shard: the sends of one sender that a
 *   shard stores, from all of the user's sockets and gateways, take a token of the
 *   sender's bucket (--user-send-burst, refilled --user-send-per-sec a second); empty:
 *   rate_limited. Conversations on S shards allow at most S times the budget.
 *
 * State is in memory (bounded: full buckets and old recency entries are forgotten) and
 * lost on a restart, which only resets the limits. A value 0 turns a limit off. Loop
 * thread only. */
#ifndef SHARD_GUARD_H
#define SHARD_GUARD_H
#include <stdbool.h>
#include <stdint.h>

typedef struct _shard_guard_t shard_guard_t;

typedef struct {
    int max_devices;       /* --max-devices (default 32) */
    int guess_burst;       /* --guess-burst (default 10) */
    int guess_per_min;     /* --guess-per-min (default 6) */
    int user_send_burst;   /* --user-send-burst (default 1000) */
    int user_send_per_sec; /* --user-send-per-sec (default 300) */
} shard_guard_cfg_t;

#define SHARD_GUARD_DEFAULTS                                                                       \
    {                                                                                              \
        32, 10, 6, 1000, 300                                                                       \
    }

/* NULL on OOM. Caller owns. */
shard_guard_t *shard_guard_new(const shard_guard_cfg_t *cfg);
void shard_guard_destroy(shard_guard_t **self_p);
/* A login attempt of user: true when allowed (a token taken); false with the seconds to
 * wait in *retry_s. */
bool shard_guard_login(shard_guard_t *self, const char *user, int *retry_s);
/* The login of user succeeded: give its token back. */
void shard_guard_login_ok(shard_guard_t *self, const char *user);
/* A send of user: true when allowed (a token taken). */
bool shard_guard_send(shard_guard_t *self, const char *user);
/* user/device was used (login or auth) now. */
void shard_guard_device_used(shard_guard_t *self, const char *user, const char *device);
/* When user/device was last used (pl_mono_ms), 0 when not seen. */
int64_t shard_guard_device_last(shard_guard_t *self, const char *user, const char *device);
/* user/device's token is gone. */
void shard_guard_device_gone(shard_guard_t *self, const char *user, const char *device);
int shard_guard_max_devices(shard_guard_t *self);
/* Every 500 ms (shard_tick): forget full buckets. */
void shard_guard_tick(shard_guard_t *self, int64_t now);

#endif
