/* shard_env — see shard_env.h. */
#include "shard_env.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "pl_log.h"

bool fuzz_shard_check_ok = true;
static shard_t *s_shard;
static char s_dir[64];

static int s_send(void *arg, int count, const void *const *parts, const size_t *lens)
{
    (void)arg;
    /* ["REP", gw, reqid, status, body] */
    if (fuzz_shard_check_ok && count == 5 && lens[0] == 3 && memcmp(parts[0], "REP", 3) == 0 &&
        lens[3] == 2 && memcmp(parts[3], "ok", 2) == 0) {
        json_error_t err;
        json_t *body = json_loadb(parts[4], lens[4], JSON_ALLOW_NUL, &err);
        if (!json_is_object(body)) {
            fprintf(stderr, "shard answered ok with a body that is no JSON object: %.*s\n",
                    (int)(lens[4] > 400 ? 400 : lens[4]), (const char *)parts[4]);
            abort();
        }
        json_decref(body);
    }
    return 0;
}

static void s_cleanup(void)
{
    shard_destroy(&s_shard);
    char cmd[128];
    snprintf(cmd, sizeof cmd, "rm -rf '%s'", s_dir);
    if (s_dir[0] && system(cmd) != 0)
        fprintf(stderr, "could not remove %s\n", s_dir);
}

shard_t *fuzz_shard(void)
{
    if (s_shard)
        return s_shard;
    zsys_handler_set(NULL);
    pl_log_init("fuzz-shard", PL_ERROR);
    /* push deliveries (pusher.c, libcurl) that fuzzed targets cause go nowhere: every
     * URL through a proxy on the discard port of loopback (connection refused) */
    static const char *const proxy_vars[] = {"http_proxy", "https_proxy", "HTTPS_PROXY",
                                             "ALL_PROXY", "all_proxy"};
    for (size_t i = 0; i < sizeof proxy_vars / sizeof proxy_vars[0]; i++)
        setenv(proxy_vars[i], "http://127.0.0.1:9", 1);
    unsetenv("no_proxy");
    unsetenv("NO_PROXY");
    snprintf(s_dir, sizeof s_dir, "/tmp/parley-fuzz.XXXXXX");
    if (!mkdtemp(s_dir)) {
        perror("mkdtemp");
        abort();
    }
    shard_config_t cfg = {.id = 0, .data = s_dir, .sync = false, .gw_timeout_ms = 5000};
    s_shard = shard_new(&cfg);
    if (!s_shard)
        abort();
    shard_set_sender(s_shard, s_send, NULL);
    /* every slot is this shard's: it serves only what its table gives it */
    zmsg_t *table = zmsg_new();
    zmsg_addstr(table, "TABLE");
    zmsg_addstr(table, "1 0-16383=0");
    shard_handle(s_shard, table);
    zmsg_destroy(&table);
    atexit(s_cleanup);
    return s_shard;
}

void fuzz_shard_req(const char *payload)
{
    zmsg_t *msg = zmsg_new();
    zmsg_addstr(msg, "REQ");
    zmsg_addstr(msg, "g/fuzz");
    zmsg_addstr(msg, "1");
    zmsg_addstr(msg, payload);
    shard_handle(fuzz_shard(), msg);
    zmsg_destroy(&msg);
    shard_flush(fuzz_shard());
}

void fuzz_shard_wipe(void)
{
    shard_t *sh = fuzz_shard();
    shard_key_t all = {.len = 0};
    shard_iter_t *it = shard_iter_new(sh->store, &all);
    shard_batch_t *b = shard_batch_new();
    if (!it || !b)
        abort();
    for (shard_iter_seek_first(it); shard_iter_valid(it); shard_iter_next(it)) {
        shard_key_t k;
        const char *kd = shard_iter_key(it, &k.len);
        if (k.len > sizeof k.buf)
            abort();
        memcpy(k.buf, kd, k.len);
        shard_batch_del(b, &k);
    }
    shard_iter_destroy(&it);
    if (shard_batch_count(b) && shard_store_write(sh->store, b, false) != 0)
        abort();
    shard_batch_destroy(&b);
}
