/* bucket_test — unit test of the gateway's token bucket (gw_bucket.h): burst, refill per
 * second (fractional), the cap at burst, time going backwards, off when 0, and the
 * "full" test the per-IP table uses to forget an address. */
#include "gw_bucket.h"

#include <stdio.h>

#include "pl_check.h"

PL_CHECK_COUNTERS;

/* Take up to n tokens at now; returns how many were granted. */
static int s_take(gw_bucket_t *b, int n, int burst, int per_sec, uint64_t now)
{
    int got = 0;
    for (int i = 0; i < n; i++)
        got += gw_bucket_take(b, burst, per_sec, now);
    return got;
}

int main(void)
{
    gw_bucket_t b = {0};
    uint64_t t = 1000000;
    /* a fresh bucket is full: burst tokens at once, then none */
    CHECK(gw_bucket_full(&b, 5, 2, t));
    CHECK(s_take(&b, 10, 5, 2, t) == 5);
    CHECK(!gw_bucket_take(&b, 5, 2, t));
    CHECK(!gw_bucket_full(&b, 5, 2, t));
    /* 2 a second: one token after 500 ms, not after 499 */
    gw_bucket_t early = b; /* a copy: a refused take still moves the bucket's clock */
    CHECK(!gw_bucket_take(&early, 5, 2, t + 499));
    CHECK(gw_bucket_take(&b, 5, 2, t + 500));
    CHECK(!gw_bucket_take(&b, 5, 2, t + 500));
    /* fractions add up: 250 ms + 250 ms make one token */
    CHECK(!gw_bucket_take(&b, 5, 2, t + 750));
    CHECK(gw_bucket_take(&b, 5, 2, t + 1000));
    /* a long pause refills to burst, never above */
    CHECK(!gw_bucket_full(&b, 5, 2, t + 3000));
    CHECK(gw_bucket_full(&b, 5, 2, t + 3500));
    CHECK(s_take(&b, 100, 5, 2, t + 3600000) == 5);
    /* time going backwards grants nothing (and takes nothing back) */
    CHECK(!gw_bucket_take(&b, 5, 2, t));
    CHECK(gw_bucket_take(&b, 5, 2, t + 3600000 + 500));

    /* a high rate: 300/s after a burst of 1000 (the request budget's defaults) */
    gw_bucket_t r = {0};
    CHECK(s_take(&r, 2000, 1000, 300, t) == 1000);
    CHECK(s_take(&r, 2000, 1000, 300, t + 1000) == 300);
    CHECK(s_take(&r, 2000, 1000, 300, t + 1010) == 3);

    /* 0 turns the limit off: always granted, nothing remembered */
    gw_bucket_t o = {0};
    CHECK(s_take(&o, 100000, 0, 5, t) == 100000);
    CHECK(s_take(&o, 100000, 5, 0, t) == 100000);
    CHECK(s_take(&o, 1000, -1, -1, t) == 1000);
    CHECK(!o.init);
    CHECK(gw_bucket_full(&o, 0, 5, t));

    /* burst 1: one at a time */
    gw_bucket_t one = {0};
    CHECK(gw_bucket_take(&one, 1, 1, t));
    early = one;
    CHECK(!gw_bucket_take(&early, 1, 1, t + 999));
    CHECK(gw_bucket_take(&one, 1, 1, t + 1000) && !gw_bucket_take(&one, 1, 1, t + 1000));

    printf("gateway_bucket_test: %d passed, %d failed\n", s_passed, s_failed);
    return s_failed ? 1 : 0;
}
