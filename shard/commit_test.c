/* commit_test — the group commit (commit.h) on a real RocksDB folder: nothing staged is
 * in the store before the flush; after it the keys are there and the actions ran in
 * queue order with status NULL, then the end hooks; a failed write runs them all with
 * `unavailable` and stores nothing; an action queued by an action belongs to the next
 * batch; destroy runs the pending actions with `unavailable` and writes nothing; a
 * reservation makes the next shard_commit_after succeed; 16 MiB staged is "full". */
#include <stdlib.h>
#include <string.h>

#include "commit.h"
#include "keys.h"
#include "pl_err.h"
#include "store.h"
#include "test_support.h"

/* What the actions and hooks saw, in order: "<tag>:<status or ok>" joined by spaces. */
static char s_log[1024];

static void s_note(const char *tag, const char *status)
{
    size_t n = strlen(s_log);
    snprintf(s_log + n, sizeof s_log - n, "%s%s:%s", n ? " " : "", tag, status ? status : "ok");
}

static void s_action(void *arg, const char *status, const char *why)
{
    s_note((const char *)arg, status);
    if (status)
        CHECK(why && why[0]);
}

static void s_hook(void *arg, const char *status, const char *why)
{
    (void)why;
    s_note((const char *)arg, status);
}

/* An action that queues another one ("late") into the commit given as arg. */
static shard_commit_t *s_commit;
static void s_chain(void *arg, const char *status, const char *why)
{
    (void)why;
    s_note((const char *)arg, status);
    CHECK(shard_commit_after(s_commit, s_action, "late") == 0);
}

static bool s_has(shard_store_t *st, const char *name)
{
    shard_key_t k;
    char *v = NULL;
    shard_key_meta(&k, name);
    int rc = shard_store_get(st, &k, &v, NULL);
    free(v);
    return rc == 1;
}

static void s_put(shard_commit_t *c, const char *name)
{
    shard_key_t k;
    shard_key_meta(&k, name);
    shard_commit_put(c, &k, "v", 1);
}

int main(void)
{
    tst_init("commit_test");
    shard_store_t *st = shard_store_new(tst_dir());
    CHECK(st != NULL);
    if (!st)
        return tst_finish("commit_test");
    shard_commit_t *c = shard_commit_new(st, false);
    s_commit = c;
    CHECK(c != NULL && shard_commit_on_end(c, s_hook, "end") == 0);

    /* nothing pending: no write, no hook */
    CHECK(shard_commit_flush(c) == 0 && s_log[0] == '\0');

    /* staged, answered after the write, in order, then the hook */
    CHECK(shard_commit_after(c, s_action, "a") == 0);
    s_put(c, "k1");
    CHECK(shard_commit_after(c, s_action, "b") == 0);
    s_put(c, "k2");
    CHECK(shard_commit_pending(c) == 2 && !s_has(st, "k1") && strcmp(s_log, "") == 0);
    CHECK(shard_commit_flush(c) == 0);
    CHECK(strcmp(s_log, "a:ok b:ok end:ok") == 0);
    CHECK(s_has(st, "k1") && s_has(st, "k2") && shard_commit_pending(c) == 0);

    /* a failed write: every action and the hook told, nothing stored, the next batch
     * starts empty and is written */
    s_log[0] = '\0';
    CHECK(shard_commit_after(c, s_action, "c") == 0);
    s_put(c, "k3");
    shard_key_t del;
    shard_key_meta(&del, "k1");
    shard_commit_del(c, &del);
    shard_store_fail_writes(st, 1);
    CHECK(shard_commit_flush(c) == -1);
    CHECK(strcmp(s_log, "c:" PL_E_UNAVAILABLE " end:" PL_E_UNAVAILABLE) == 0);
    CHECK(!s_has(st, "k3") && s_has(st, "k1") && shard_commit_pending(c) == 0);
    s_log[0] = '\0';
    s_put(c, "k4");
    CHECK(shard_commit_flush(c) == 0 && s_has(st, "k4") && !s_has(st, "k3"));
    CHECK(strcmp(s_log, "end:ok") == 0); /* a batch without actions is still written */

    /* an action queued by an action runs at the next flush */
    s_log[0] = '\0';
    CHECK(shard_commit_after(c, s_chain, "first") == 0);
    CHECK(shard_commit_flush(c) == 0 && strcmp(s_log, "first:ok end:ok") == 0);
    CHECK(shard_commit_pending(c) == 1);
    s_log[0] = '\0';
    CHECK(shard_commit_flush(c) == 0 && strcmp(s_log, "late:ok end:ok") == 0);

    /* a reservation holds for many: fill past the initial capacity */
    for (int i = 0; i < 1000; i++)
        CHECK(shard_commit_reserve(c) == 0 && shard_commit_after(c, s_hook, "x") == 0);
    CHECK(shard_commit_pending(c) == 1000);
    CHECK(shard_commit_flush(c) == 0 && shard_commit_pending(c) == 0);

    /* full at 16 MiB of staged bytes */
    char *big = malloc(1024 * 1024);
    CHECK(big != NULL);
    if (big) {
        memset(big, 'x', 1024 * 1024);
        shard_key_t k;
        shard_key_meta(&k, "big");
        for (int i = 0; i < 15; i++)
            shard_commit_put(c, &k, big, 1024 * 1024);
        CHECK(!shard_commit_full(c));
        shard_commit_put(c, &k, big, 1024 * 1024);
        CHECK(shard_commit_full(c));
        CHECK(shard_commit_flush(c) == 0 && !shard_commit_full(c));
        free(big);
    }

    /* destroy: pending actions told the shard is stopping, nothing written */
    s_log[0] = '\0';
    CHECK(shard_commit_after(c, s_action, "d") == 0);
    s_put(c, "k5");
    shard_commit_destroy(&c);
    CHECK(c == NULL && strcmp(s_log, "d:" PL_E_UNAVAILABLE " end:" PL_E_UNAVAILABLE) == 0);
    CHECK(!s_has(st, "k5"));
    shard_commit_destroy(&c); /* idempotent */
    shard_store_destroy(&st);
    return tst_finish("commit_test");
}
