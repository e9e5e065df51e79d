/* test_support — see test_support.h. */
#include "test_support.h"

#include <stdarg.h>
#include <stdlib.h>
#include <string.h>

#include "pl_log.h"
#include "pl_msgtext.h"

int tst_failures, tst_checks;
zlist_t *tst_out;
static char s_dir[64];

/* What the shard sends, in the text form (pl_msgtext.h), so tests read frames. */
static int s_capture(void *arg, int count, const void *const *parts, const size_t *lens)
{
    (void)arg;
    zmsg_t *msg = zmsg_new();
    for (int i = 0; i < count; i++)
        zmsg_addmem(msg, parts[i], lens[i]);
    zmsg_t *text = pl_msgtext_from_bin(PL_HOP_SHARD_ROUTER, msg);
    zmsg_destroy(&msg);
    if (!text) {
        fprintf(stderr, "test_support: the shard sent a message that does not decode\n");
        tst_failures++;
        return 0;
    }
    zlist_append(tst_out, text);
    return 0;
}

void tst_init(const char *name)
{
    zsys_handler_set(NULL);
    pl_log_init(name, PL_WARN);
    tst_out = zlist_new();
    snprintf(s_dir, sizeof s_dir, "/tmp/%s.XXXXXX", name);
    if (!tst_out || !mkdtemp(s_dir)) {
        perror("tst_init");
        exit(1);
    }
}

const char *tst_dir(void)
{
    return s_dir;
}

void tst_out_clear(void)
{
    zmsg_t *m;
    while ((m = zlist_pop(tst_out)))
        zmsg_destroy(&m);
}

shard_t *tst_open(const char *dir, int gw_timeout_ms)
{
    shard_config_t cfg = {.id = 0, .data = dir, .sync = false, .gw_timeout_ms = gw_timeout_ms};
    return tst_open_cfg(&cfg);
}

shard_t *tst_open_cfg(const shard_config_t *cfg)
{
    shard_t *shard = shard_new(cfg);
    if (shard) {
        shard_set_sender(shard, s_capture, NULL);
        tst_handle(shard, 2, "TABLE", "1 0-16383=0"); /* every slot is shard 0's */
    }
    return shard;
}

void tst_handle(shard_t *shard, int nframes, ...)
{
    va_list ap;
    va_start(ap, nframes);
    const char *f[8];
    for (int i = 0; i < nframes && i < 8; i++)
        f[i] = va_arg(ap, const char *);
    va_end(ap);
    zmsg_t *msg = pl_msgtext_to_binv(PL_HOP_ROUTER_SHARD, nframes, f);
    if (!msg && nframes == 3 && strcmp(f[0], "REQ") == 0) {
        /* ["REQ", gw, reqid]: a request without its fields (decodes to an error) */
        pl_buf_t b = {0};
        pl_hdr_t h = {.kind = PL_K_REQ, .id = pl_msgtext_id(f[2])};
        pl_msg_begin(&b, &h);
        pl_msg_field_str(&b, "u:x");
        shard_handle(shard, f[1], strlen(f[1]), b.data, b.len);
        pl_buf_free(&b);
        return;
    }
    if (!msg) { /* not a message of the protocol: fed as its verb's bytes */
        shard_handle(shard, NULL, 0, f[0], strlen(f[0]));
        return;
    }
    zframe_t *a = zmsg_size(msg) == 2 ? zmsg_first(msg) : NULL;
    zframe_t *m = zmsg_last(msg);
    shard_handle(shard, a ? zframe_data(a) : NULL, a ? zframe_size(a) : 0, zframe_data(m),
                 zframe_size(m));
    zmsg_destroy(&msg);
}

int tst_finish(const char *name)
{
    printf("%s: %d checks, %d failures\n", name, tst_checks, tst_failures);
    tst_out_clear();
    zlist_destroy(&tst_out);
    char cmd[128];
    snprintf(cmd, sizeof cmd, "rm -rf '%s'", s_dir);
    if (s_dir[0] && system(cmd) != 0)
        fprintf(stderr, "could not remove %s\n", s_dir);
    return tst_failures ? 1 : 0;
}
