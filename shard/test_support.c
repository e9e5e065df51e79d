/* test_support — see test_support.h. */
#include "test_support.h"

#include <stdarg.h>

int tst_failures, tst_checks;
zlist_t *tst_out;

static int s_capture(void *arg, int count, const void *const *parts, const size_t *lens)
{
    (void)arg;
    zmsg_t *msg = zmsg_new();
    for (int i = 0; i < count; i++)
        zmsg_addmem(msg, parts[i], lens[i]);
    zlist_append(tst_out, msg);
    return 0;
}

void tst_init(void)
{
    tst_out = zlist_new();
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
    shard_t *shard = shard_new(&cfg);
    if (shard)
        shard_set_sender(shard, s_capture, NULL);
    return shard;
}

void tst_handle(shard_t *shard, int nframes, ...)
{
    va_list ap;
    va_start(ap, nframes);
    zmsg_t *msg = zmsg_new();
    for (int i = 0; i < nframes; i++)
        zmsg_addstr(msg, va_arg(ap, const char *));
    va_end(ap);
    shard_handle(shard, msg);
    zmsg_destroy(&msg);
}

int tst_finish(const char *name)
{
    printf("%s: %d checks, %d failures\n", name, tst_checks, tst_failures);
    tst_out_clear();
    zlist_destroy(&tst_out);
    return tst_failures ? 1 : 0;
}
