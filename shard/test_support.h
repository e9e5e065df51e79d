/* test_support — what the shard's unit tests share: a CHECK counter, a shard on a real
 * RocksDB folder whose output is captured instead of sent, and a way to feed it frames.
 * Test code only; single thread. */
#ifndef SHARD_TEST_SUPPORT_H
#define SHARD_TEST_SUPPORT_H

#include <czmq.h>
#include <stdio.h>

#include "shard.h"

extern int tst_failures, tst_checks;

#define CHECK(cond)                                                                                \
    do {                                                                                           \
        tst_checks++;                                                                              \
        if (!(cond)) {                                                                             \
            tst_failures++;                                                                        \
            fprintf(stderr, "FAIL %s:%d: %s\n", __FILE__, __LINE__, #cond);                        \
        }                                                                                          \
    } while (0)

/* zmsg_t of everything the shard sent since the last tst_out_clear (owned here). */
extern zlist_t *tst_out;

/* Call once first: signals stay default, logs at warn under role name, tst_out created,
 * and a fresh temporary folder made (tst_dir). Exits the process (1) if that fails. */
void tst_init(const char *name);
/* The temporary folder of this test run (removed with everything in it by tst_finish). */
const char *tst_dir(void);
/* Empty tst_out. */
void tst_out_clear(void);
/* Shard 0 on dir with a capturing sender, owning every slot (a TABLE was fed); NULL on
 * failure. Caller destroys. */
shard_t *tst_open(const char *dir, int gw_timeout_ms);
/* The same with the whole configuration (its id should be 0). */
shard_t *tst_open_cfg(const shard_config_t *cfg);
/* Feed one message of nframes string frames, in the text form of pl_msgtext.h (hop
 * router -> shard), to the shard (shard_handle) as its binary message. tst_out holds what
 * the shard sent in the text form too. */
void tst_handle(shard_t *shard, int nframes, ...);
/* Print "<name>: N checks, M failures", free tst_out, remove tst_dir; the exit code. */
int tst_finish(const char *name);

#endif
