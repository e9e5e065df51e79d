/* commit — the group commit. See commit.h. */
#include "commit.h"

#include <stdlib.h>
#include <string.h>

#include "pl_err.h"
#include "pl_log.h"

/* The action array keeps its memory from batch to batch up to this many entries. */
#define ACTIONS_KEEP 4096
/* End hooks: one per module that keeps state for staged changes. */
#define HOOKS_MAX 8

typedef struct {
    shard_commit_fn *fn;
    void *arg;
} action_t;

struct _shard_commit_t {
    shard_store_t *store; /* borrowed */
    bool sync;
    shard_batch_t *batch; /* the pending batch (owned) */
    size_t bytes;         /* keys and values staged into it */
    action_t *acts;       /* the actions, in queue order */
    size_t nacts, cap;
    action_t hooks[HOOKS_MAX];
    size_t nhooks;
};

shard_commit_t *shard_commit_new(shard_store_t *store, bool sync)
{
    shard_commit_t *self = calloc(1, sizeof(*self));
    if (!self)
        return NULL;
    self->store = store;
    self->sync = sync;
    self->batch = shard_batch_new(store);
    if (!self->batch)
        shard_commit_destroy(&self);
    return self;
}

/* Run the first n actions, then the end hooks, with status/why; forget those actions
 * (any queued by them move to the front: they belong to the next batch). */
static void s_run(shard_commit_t *self, size_t n, const char *status, const char *why)
{
    /* by index: an action may queue another one (and move the array) */
    for (size_t i = 0; i < n; i++)
        self->acts[i].fn(self->acts[i].arg, status, why);
    for (size_t i = 0; i < self->nhooks; i++)
        self->hooks[i].fn(self->hooks[i].arg, status, why);
    if (self->nacts > n)
        memmove(self->acts, self->acts + n, (self->nacts - n) * sizeof(*self->acts));
    self->nacts -= n;
    if (self->nacts == 0 && self->cap > ACTIONS_KEEP) {
        free(self->acts);
        self->acts = NULL;
        self->cap = 0;
    }
}

void shard_commit_destroy(shard_commit_t **self_p)
{
    if (!self_p || !*self_p)
        return;
    shard_commit_t *self = *self_p;
    if (self->batch)
        s_run(self, self->nacts, PL_E_UNAVAILABLE, "shard is stopping");
    shard_batch_destroy(&self->batch);
    free(self->acts);
    free(self);
    *self_p = NULL;
}

void shard_commit_put(shard_commit_t *self, const shard_key_t *key, const void *val, size_t len)
{
    shard_batch_put(self->batch, key, val, len);
    self->bytes += key->len + len;
}

void shard_commit_put_u64(shard_commit_t *self, const shard_key_t *key, uint64_t value)
{
    shard_batch_put_u64(self->batch, key, value);
    self->bytes += key->len + 8;
}

void shard_commit_del(shard_commit_t *self, const shard_key_t *key)
{
    shard_batch_del(self->batch, key);
    self->bytes += key->len;
}

int shard_commit_reserve(shard_commit_t *self)
{
    if (self->nacts < self->cap)
        return 0;
    size_t cap = self->cap ? self->cap * 2 : 64;
    action_t *na = realloc(self->acts, cap * sizeof(*na));
    if (!na)
        return -1;
    self->acts = na;
    self->cap = cap;
    return 0;
}

int shard_commit_after(shard_commit_t *self, shard_commit_fn *fn, void *arg)
{
    if (shard_commit_reserve(self) != 0)
        return -1;
    self->acts[self->nacts++] = (action_t){fn, arg};
    return 0;
}

int shard_commit_on_end(shard_commit_t *self, shard_commit_fn *fn, void *arg)
{
    if (self->nhooks == HOOKS_MAX)
        return -1;
    self->hooks[self->nhooks++] = (action_t){fn, arg};
    return 0;
}

size_t shard_commit_pending(shard_commit_t *self)
{
    return self->nacts;
}

bool shard_commit_full(shard_commit_t *self)
{
    return self->bytes >= SHARD_COMMIT_MAX_BYTES;
}

int shard_commit_flush(shard_commit_t *self)
{
    size_t n = self->nacts;
    int writes = shard_batch_count(self->batch);
    if (n == 0 && writes == 0)
        return 0;
    /* The one write of the turn; every answer below comes after it returned. */
    int rc = writes ? shard_store_write(self->store, self->batch, self->sync) : 0;
    shard_batch_clear(self->batch);
    self->bytes = 0;
    if (rc != 0) {
        pl_error("group commit of %zu changes failed: answering unavailable", n);
        s_run(self, n, PL_E_UNAVAILABLE, "storage write failed");
        return -1;
    }
    pl_debug("group commit: %zu changes, %d writes%s", n, writes, self->sync ? ", fsync" : "");
    s_run(self, n, NULL, NULL);
    return 0;
}
