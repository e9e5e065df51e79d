/* guard — per-user abuse limits. See guard.h. */
#include "guard.h"

#include <czmq.h>
#include <stdlib.h>

#include "keys.h"
#include "pl_time.h"

#define RECENT_MAX 200000 /* device recency entries before the oldest are forgotten */

typedef struct {
    double tokens;
    int64_t at; /* pl_mono_ms of the last refill */
} bucket_t;

struct _shard_guard_t {
    shard_guard_cfg_t cfg;
    zhashx_t *guess;  /* user -> bucket_t */
    zhashx_t *send;   /* user -> bucket_t */
    zhashx_t *recent; /* "user/device" -> int64_t last use */
    unsigned turn;    /* shard_guard_tick calls */
};

static void s_free(void **item)
{
    free(*item);
    *item = NULL;
}

shard_guard_t *shard_guard_new(const shard_guard_cfg_t *cfg)
{
    shard_guard_t *self = calloc(1, sizeof(*self));
    if (!self)
        return NULL;
    self->cfg = *cfg;
    self->guess = zhashx_new();
    self->send = zhashx_new();
    self->recent = zhashx_new();
    if (!self->guess || !self->send || !self->recent) {
        shard_guard_destroy(&self);
        return NULL;
    }
    zhashx_set_destructor(self->guess, s_free);
    zhashx_set_destructor(self->send, s_free);
    zhashx_set_destructor(self->recent, s_free);
    zhashx_set_key_hasher(self->guess, shard_hash_name);
    zhashx_set_key_hasher(self->send, shard_hash_name);
    zhashx_set_key_hasher(self->recent, shard_hash_name);
    return self;
}

void shard_guard_destroy(shard_guard_t **self_p)
{
    if (!self_p || !*self_p)
        return;
    shard_guard_t *self = *self_p;
    zhashx_destroy(&self->guess);
    zhashx_destroy(&self->send);
    zhashx_destroy(&self->recent);
    free(self);
    *self_p = NULL;
}

/* Refill b (burst, rate tokens per period_ms) up to now. */
static void s_refill(bucket_t *b, int burst, int rate, int64_t period_ms, int64_t now)
{
    if (now <= b->at)
        return; /* time does not run backwards for a bucket */
    b->tokens += (double)(now - b->at) * rate / (double)period_ms;
    if (b->tokens > burst)
        b->tokens = burst;
    b->at = now;
}

/* The bucket of user in h, created full; NULL on OOM. */
static bucket_t *s_bucket(zhashx_t *h, const char *user, int burst, int64_t now)
{
    bucket_t *b = zhashx_lookup(h, user);
    if (b)
        return b;
    b = calloc(1, sizeof(*b));
    if (!b)
        return NULL;
    b->tokens = burst;
    b->at = now;
    zhashx_insert(h, user, b);
    return b;
}

bool shard_guard_login(shard_guard_t *self, const char *user, int *retry_s)
{
    int burst = self->cfg.guess_burst, rate = self->cfg.guess_per_min;
    if (burst <= 0 || rate <= 0)
        return true;
    int64_t now = pl_mono_ms();
    bucket_t *b = s_bucket(self->guess, user, burst, now);
    if (!b)
        return true; /* OOM: do not lock the user out */
    s_refill(b, burst, rate, 60000, now);
    if (b->tokens >= 1) {
        b->tokens -= 1;
        return true;
    }
    *retry_s = (int)((1 - b->tokens) * 60.0 / rate) + 1;
    return false;
}

void shard_guard_login_ok(shard_guard_t *self, const char *user)
{
    bucket_t *b = zhashx_lookup(self->guess, user);
    if (b && (b->tokens += 1) > self->cfg.guess_burst)
        b->tokens = self->cfg.guess_burst;
}

bool shard_guard_send(shard_guard_t *self, const char *user)
{
    int burst = self->cfg.user_send_burst, rate = self->cfg.user_send_per_sec;
    if (burst <= 0 || rate <= 0)
        return true;
    int64_t now = pl_mono_ms();
    bucket_t *b = s_bucket(self->send, user, burst, now);
    if (!b)
        return true;
    s_refill(b, burst, rate, 1000, now);
    if (b->tokens >= 1) {
        b->tokens -= 1;
        return true;
    }
    return false;
}

static void s_device_key(char *out, size_t size, const char *user, const char *device)
{
    snprintf(out, size, "%s/%s", user, device);
}

void shard_guard_device_used(shard_guard_t *self, const char *user, const char *device)
{
    char key[33 + 1 + 65];
    s_device_key(key, sizeof key, user, device);
    int64_t *t = zhashx_lookup(self->recent, key);
    if (!t) {
        if (zhashx_size(self->recent) >= RECENT_MAX)
            zhashx_purge(self->recent); /* degrade to key order rather than grow */
        if (!(t = malloc(sizeof *t)))
            return;
        zhashx_insert(self->recent, key, t);
    }
    *t = pl_mono_ms();
}

int64_t shard_guard_device_last(shard_guard_t *self, const char *user, const char *device)
{
    char key[33 + 1 + 65];
    s_device_key(key, sizeof key, user, device);
    int64_t *t = zhashx_lookup(self->recent, key);
    return t ? *t : 0;
}

void shard_guard_device_gone(shard_guard_t *self, const char *user, const char *device)
{
    char key[33 + 1 + 65];
    s_device_key(key, sizeof key, user, device);
    zhashx_delete(self->recent, key);
}

int shard_guard_max_devices(shard_guard_t *self)
{
    return self->cfg.max_devices;
}

/* Forget the buckets of h that are full again (they are created full on demand). */
static void s_forget_full(zhashx_t *h, int burst, int rate, int64_t period_ms, int64_t now)
{
    zlistx_t *keys = zhashx_keys(h);
    if (!keys)
        return;
    for (const char *k = zlistx_first(keys); k; k = zlistx_next(keys)) {
        bucket_t *b = zhashx_lookup(h, k);
        s_refill(b, burst, rate, period_ms, now);
        if (b->tokens >= burst)
            zhashx_delete(h, k);
    }
    zlistx_destroy(&keys);
}

void shard_guard_tick(shard_guard_t *self, int64_t now)
{
    /* cheap enough every tick while small; otherwise every ~10 s */
    if (++self->turn % 20 != 0 && zhashx_size(self->guess) + zhashx_size(self->send) > 10000)
        return;
    s_forget_full(self->guess, self->cfg.guess_burst, self->cfg.guess_per_min, 60000, now);
    s_forget_full(self->send, self->cfg.user_send_burst, self->cfg.user_send_per_sec, 1000, now);
}
