/* shard_guard_test — the per-user limits of guard.c without a shard: the guessing bucket
 * (burst, refusal with a retry time, successes given back, per user), the send bucket,
 * limits of 0 being off, device recency, and the tick forgetting full buckets. */
#include <stdio.h>
#include <stdlib.h>

#include "guard.h"
#include "test_support.h"

int main(void)
{
    shard_guard_cfg_t cfg = {.max_devices = 3,
                             .guess_burst = 3,
                             .guess_per_min = 1,
                             .user_send_burst = 5,
                             .user_send_per_sec = 1};
    shard_guard_t *g = shard_guard_new(&cfg);
    CHECK(g != NULL);
    int retry = 0;
    /* guessing: 3 attempts, then refused with a retry time of about a minute */
    for (int i = 0; i < 3; i++)
        CHECK(shard_guard_login(g, "alice", &retry));
    CHECK(!shard_guard_login(g, "alice", &retry));
    CHECK(retry >= 1 && retry <= 61);
    /* another account has its own budget */
    CHECK(shard_guard_login(g, "bob", &retry));
    /* a success gives its attempt back: logins that succeed never drain it */
    shard_guard_login_ok(g, "alice");
    CHECK(shard_guard_login(g, "alice", &retry));
    CHECK(!shard_guard_login(g, "alice", &retry));
    for (int i = 0; i < 10; i++) {
        CHECK(shard_guard_login(g, "carol", &retry));
        shard_guard_login_ok(g, "carol");
    }
    /* sends: the burst, then refused; per user */
    for (int i = 0; i < 5; i++)
        CHECK(shard_guard_send(g, "alice"));
    CHECK(!shard_guard_send(g, "alice"));
    CHECK(shard_guard_send(g, "bob"));
    /* device recency */
    CHECK(shard_guard_device_last(g, "alice", "phone") == 0);
    shard_guard_device_used(g, "alice", "phone");
    CHECK(shard_guard_device_last(g, "alice", "phone") > 0);
    CHECK(shard_guard_device_last(g, "alice", "laptop") == 0);
    shard_guard_device_gone(g, "alice", "phone");
    CHECK(shard_guard_device_last(g, "alice", "phone") == 0);
    CHECK(shard_guard_max_devices(g) == 3);
    /* the tick keeps buckets that are not full */
    shard_guard_tick(g, 0);
    CHECK(!shard_guard_send(g, "alice"));
    shard_guard_destroy(&g);
    CHECK(g == NULL);
    shard_guard_destroy(&g); /* idempotent */

    /* 0 turns every limit off */
    shard_guard_cfg_t off = {0};
    g = shard_guard_new(&off);
    CHECK(g != NULL);
    for (int i = 0; i < 10000; i++) {
        CHECK(shard_guard_login(g, "alice", &retry));
        CHECK(shard_guard_send(g, "alice"));
    }
    CHECK(shard_guard_max_devices(g) == 0);
    shard_guard_destroy(&g);
    printf("shard_guard_test: %d checks, %d failed\n", tst_checks, tst_failures);
    return tst_failures ? 1 : 0;
}
