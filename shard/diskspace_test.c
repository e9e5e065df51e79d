/* diskspace_test — the free-space reserve (diskspace.h) on a real folder and a real
 * RocksDB, with the file system's free space faked through the test hook: the reserve
 * file is allocated at start, a write below the reserve is refused before RocksDB sees it
 * and the file is deleted, writes resume (file re-created) only at twice the reserve, by
 * the timer as well as by a write; a send on a low disk is answered `unavailable` and
 * its retry is stored once; reserve 0 is off and removes an old file; a start on a low
 * disk gives the old file back. */
#include <czmq.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include "diskspace.h"
#include "shard.h"
#include "store.h"
#include "test_support.h"

#define MIB (1024 * 1024)

/* Size in bytes of the allocated blocks of dir's reserve file, or -1 if absent. */
static long long s_reserve_blocks(const char *dir)
{
    char path[256];
    struct stat st;
    snprintf(path, sizeof path, "%s/%s", dir, SHARD_DISK_RESERVE_FILE);
    if (stat(path, &st) != 0)
        return -1;
    return (long long)st.st_blocks * 512;
}

static void test_states(const char *dir)
{
    shard_disk_t *d = shard_disk_new(dir, 1);
    CHECK(d != NULL);
    CHECK(!shard_disk_low(d));
    CHECK(s_reserve_blocks(dir) >= MIB); /* allocated, not sparse */
    shard_store_t *st = shard_store_new(dir);
    CHECK(st != NULL);
    shard_store_set_disk(st, d);
    shard_key_t k;
    shard_key_user(&k, "alice");
    CHECK(shard_store_put(st, &k, "a", 1, false) == 0);

    /* below the reserve: refused, file deleted, nothing written */
    shard_disk_set_free(d, MIB - 1);
    CHECK(shard_store_put(st, &k, "b", 1, false) == -1);
    CHECK(shard_disk_low(d));
    CHECK(s_reserve_blocks(dir) == -1);
    CHECK(!shard_store_broken(st)); /* RocksDB saw no error */
    char *val = NULL;
    CHECK(shard_store_get(st, &k, &val, NULL) == 1 && strcmp(val, "a") == 0); /* reads work */
    free(val);
    CHECK(shard_store_del(st, &k, false) == -1);
    shard_batch_t *b = shard_batch_new(st);
    shard_batch_put(b, &k, "c", 1);
    CHECK(shard_store_write(st, b, true) == -1);

    /* between R and 2R: still refused (hysteresis) */
    shard_disk_set_free(d, 2 * MIB - 1);
    shard_disk_tick(d);
    CHECK(shard_disk_low(d));
    CHECK(shard_store_write(st, b, false) == -1);
    CHECK(s_reserve_blocks(dir) == -1);

    /* 2R free: the timer re-creates the file and writes resume */
    shard_disk_set_free(d, 2 * MIB);
    shard_disk_tick(d);
    CHECK(!shard_disk_low(d));
    CHECK(s_reserve_blocks(dir) >= MIB);
    CHECK(shard_store_write(st, b, false) == 0);
    CHECK(shard_store_get(st, &k, &val, NULL) == 1 && strcmp(val, "c") == 0);
    free(val);

    /* a write notices by itself too (no tick) */
    shard_disk_set_free(d, 0);
    CHECK(shard_store_write(st, b, false) == -1);
    shard_disk_set_free(d, 3 * MIB);
    CHECK(shard_store_write(st, b, false) == 0);
    shard_batch_destroy(&b);
    shard_store_destroy(&st);
    shard_disk_destroy(&d);
    CHECK(d == NULL);
    shard_disk_destroy(&d);              /* idempotent */
    CHECK(s_reserve_blocks(dir) >= MIB); /* kept for the next run */

    /* a later start keeps the file; short of space, it is given back at the first check */
    d = shard_disk_new(dir, 1);
    shard_disk_set_free(d, 0);
    CHECK(shard_disk_writable(d) == false);
    CHECK(s_reserve_blocks(dir) == -1);
    shard_disk_destroy(&d);

    /* 0: off, and an old file is removed */
    d = shard_disk_new(dir, 1);
    CHECK(s_reserve_blocks(dir) >= MIB);
    shard_disk_destroy(&d);
    d = shard_disk_new(dir, 0);
    CHECK(s_reserve_blocks(dir) == -1);
    shard_disk_set_free(d, 0);
    CHECK(shard_disk_writable(d));
    CHECK(!shard_disk_low(d));
    shard_disk_destroy(&d);
}

/* The status of the one answer in tst_out ("(none)" if none). */
static const char *s_status(void)
{
    static char status[64];
    snprintf(status, sizeof status, "(none)");
    zmsg_t *m;
    while ((m = zlist_pop(tst_out))) {
        char *cmd = zmsg_popstr(m);
        if (strcmp(cmd, "REP") == 0) {
            free(zmsg_popstr(m));
            free(zmsg_popstr(m));
            char *st = zmsg_popstr(m);
            snprintf(status, sizeof status, "%s", st);
            free(st);
        }
        free(cmd);
        zmsg_destroy(&m);
    }
    return status;
}

static void test_send(const char *dir)
{
    shard_t *shard = tst_open(dir, 10000);
    CHECK(shard != NULL);
    if (!shard)
        return;
    shard_disk_t *d = shard_disk_new(dir, 1);
    shard_store_set_disk(shard_store(shard), d);
    const char *send =
        "{\"op\":\"send\",\"user\":\"alice\",\"device\":\"phone\",\"conv\":\"dm:alice:bob\","
        "\"client_msg_id\":\"m1\",\"text\":\"hi\"}";
    shard_disk_set_free(d, 0);
    tst_handle(shard, 4, "REQ", "g/gw1", "r1", send);
    shard_flush(shard);
    CHECK(strcmp(s_status(), "unavailable") == 0);
    shard_disk_set_free(d, 4 * MIB);
    tst_handle(shard, 4, "REQ", "g/gw1", "r2", send);
    shard_flush(shard);
    CHECK(strcmp(s_status(), "ok") == 0);
    tst_handle(shard, 4, "REQ", "g/gw1", "r3",
               "{\"op\":\"sync\",\"user\":\"alice\",\"conv\":\"dm:alice:bob\",\"after\":0}");
    shard_flush(shard);
    zmsg_t *m = zlist_pop(tst_out);
    CHECK(m != NULL);
    if (m) {
        zframe_t *body = zmsg_last(m);
        char *text = zframe_strdup(body);
        CHECK(strstr(text, "\"seq\":1") && !strstr(text, "\"seq\":2"));
        free(text);
        zmsg_destroy(&m);
    }
    tst_out_clear();
    shard_store_set_disk(shard_store(shard), NULL);
    shard_disk_destroy(&d);
    shard_destroy(&shard);
}

int main(void)
{
    tst_init("shard_diskspace_test");
    char dir[256];
    snprintf(dir, sizeof dir, "%s/a", tst_dir());
    zsys_dir_create("%s", dir);
    test_states(dir);
    snprintf(dir, sizeof dir, "%s/b", tst_dir());
    test_send(dir);
    return tst_finish("shard_diskspace_test");
}
