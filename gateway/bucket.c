/* bucket — the token bucket of gw_bucket.h. */
#include "gw_bucket.h"

bool gw_bucket_take(gw_bucket_t *b, int burst, int per_sec, uint64_t now_ms)
{
    if (burst <= 0 || per_sec <= 0)
        return true; /* 0: off */
    if (!b->init) {
        b->init = true;
        b->tokens = burst;
        b->at_ms = now_ms;
    }
    if (now_ms > b->at_ms) {
        b->tokens += (double)(now_ms - b->at_ms) * per_sec / 1000.0;
        if (b->tokens > burst)
            b->tokens = burst;
        b->at_ms = now_ms;
    }
    if (b->tokens < 1.0)
        return false;
    b->tokens -= 1.0;
    return true;
}

bool gw_bucket_full(const gw_bucket_t *b, int burst, int per_sec, uint64_t now_ms)
{
    if (!b->init || burst <= 0 || per_sec <= 0)
        return true;
    double t = b->tokens + (double)(now_ms - b->at_ms) * per_sec / 1000.0;
    return t >= burst;
}
