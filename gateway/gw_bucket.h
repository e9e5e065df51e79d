/* gw_bucket — a token bucket (the gateway's rate limits: limits.c).
 *
 * A plain value type: no allocation, no clock of its own (the caller passes now_ms, so
 * the unit test drives time). Any thread, but one bucket from one thread at a time. */
#ifndef GW_BUCKET_H
#define GW_BUCKET_H

#include <stdbool.h>
#include <stdint.h>

/* Zeroed = not started: full at its first use. */
typedef struct {
    bool init;
    double tokens;
    uint64_t at_ms;
} gw_bucket_t;

/* Take one token from b (at most burst tokens, refilled per_sec tokens a second, now in
 * ms); false if none is left. burst or per_sec <= 0: the limit is off (always true). A
 * now_ms earlier than the last use refills nothing. */
bool gw_bucket_take(gw_bucket_t *b, int burst, int per_sec, uint64_t now_ms);

/* True if b would be full at now_ms (nothing to remember): never used, or off. */
bool gw_bucket_full(const gw_bucket_t *b, int burst, int per_sec, uint64_t now_ms);

#endif
