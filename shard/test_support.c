/* test_support — see test_support.h. */
#include "test_support.h"

#include <stdarg.h>
#include <stdlib.h>

#include "pl_log.h"

int tst_failures, tst_checks;
zlist_t *tst_out;
static char s_dir[64];

static int s_capture(void *arg, int count, const void *const *parts, const size_t *lens)
{
    (void)arg;
    zmsg_t *msg = zmsg_new();
    for (int i = 0; i < count; i++)
        zmsg_addmem(msg, parts[i], lens[i]);
    zlist_append(tst_out, msg);
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
    shard_t *shard = shard_new(&cfg);
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
    char cmd[128];
    snprintf(cmd, sizeof cmd, "rm -rf '%s'", s_dir);
    if (s_dir[0] && system(cmd) != 0)
        fprintf(stderr, "could not remove %s\n", s_dir);
    return tst_failures ? 1 : 0;
}
