/* shard_env — see shard_env.h. */
#include "shard_env.h"

#include "pl_msg.h"
#include "pl_msgtext.h"

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
    /* every message the shard sends must decode; an ok REP's body must be an object */
    pl_msg_t m;
    if (count < 1 || count > 2 || pl_msg_decode(parts[count - 1], lens[count - 1], &m) != 0) {
        fprintf(stderr, "the shard sent a message that does not decode\n");
        abort();
    }
    if (fuzz_shard_check_ok && m.h.kind == PL_K_REP && m.h.status == PL_ST_OK) {
        json_error_t err;
        json_t *body = json_loadb((const char *)m.f[0].p, m.f[0].n, JSON_ALLOW_NUL, &err);
        if (!json_is_object(body)) {
            fprintf(stderr, "shard answered ok with a body that is no JSON object: %.*s\n",
                    (int)(m.f[0].n > 400 ? 400 : m.f[0].n), (const char *)m.f[0].p);
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
    zmsg_t *bin = pl_msgtext_to_bin(PL_HOP_ROUTER_SHARD, table);
    zmsg_destroy(&table);
    if (!bin)
        abort();
    zframe_t *tf = zmsg_last(bin);
    shard_handle(s_shard, NULL, 0, zframe_data(tf), zframe_size(tf));
    zmsg_destroy(&bin);
    atexit(s_cleanup);
    return s_shard;
}

void fuzz_shard_text(zmsg_t *text)
{
    zmsg_t *bin = pl_msgtext_to_bin(PL_HOP_ROUTER_SHARD, text);
    if (bin) {
        zframe_t *a = zmsg_size(bin) == 2 ? zmsg_first(bin) : NULL;
        zframe_t *m = zmsg_last(bin);
        shard_handle(fuzz_shard(), a ? zframe_data(a) : NULL, a ? zframe_size(a) : 0,
                     zframe_data(m), zframe_size(m));
        zmsg_destroy(&bin);
        return;
    }
    /* no message of the protocol: its last frame as a binary message, the one before it
     * (if any) as the address frame */
    zframe_t *m = zmsg_last(text);
    zframe_t *a = NULL;
    if (zmsg_size(text) >= 2) {
        zframe_t *f = zmsg_first(text);
        for (size_t i = 0; i + 2 < zmsg_size(text); i++)
            f = zmsg_next(text);
        a = f;
    }
    if (m)
        shard_handle(fuzz_shard(), a ? zframe_data(a) : NULL, a ? zframe_size(a) : 0,
                     zframe_data(m), zframe_size(m));
}

void fuzz_shard_req(const char *payload)
{
    zmsg_t *msg = zmsg_new();
    zmsg_addstr(msg, "REQ");
    zmsg_addstr(msg, "g/fuzz");
    zmsg_addstr(msg, "1");
    zmsg_addstr(msg, payload);
    fuzz_shard_text(msg);
    zmsg_destroy(&msg);
    shard_flush(fuzz_shard());
}

void fuzz_shard_wipe(void)
{
    shard_t *sh = fuzz_shard();
    shard_key_t all = {.len = 0};
    shard_batch_t *b = shard_batch_new(shard_store(sh));
    if (!b)
        abort();
    for (int fam = 0; fam < 2; fam++) { /* the default family, then the idempotency keys */
        shard_iter_t *it =
            fam ? shard_iter_new_idem(shard_store(sh)) : shard_iter_new(shard_store(sh), &all);
        if (!it)
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
    }
    if (shard_batch_count(b) && shard_store_write(shard_store(sh), b, false) != 0)
        abort();
    shard_batch_destroy(&b);
}
