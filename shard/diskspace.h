/* diskspace — keeps the shard's writes away from a full disk (--disk-reserve-mib).
 *
 * Debian 12's RocksDB 7.8.3 is built with assertions and some of its paths abort the
 * process after a write failed for lack of space; and even without that, RocksDB needs
 * room to flush its memtable, compact and reopen. So the shard stops writing *before*
 * the disk is full, and keeps a spare file it can give back:
 *
 * - writable while the file system holding the data folder has at least R bytes free
 *   (statvfs f_bavail, R = --disk-reserve-mib), checked before every store write;
 * - the shard holds a file of R bytes, <data>/parley-reserve (allocated, not sparse).
 *   When free space drops below R, the store stops writing (callers answer
 *   `unavailable`) and the file is deleted, so RocksDB has R more bytes to finish what
 *   it is doing (flush, compaction, a reopen that replays the WAL);
 * - writes resume once 2R bytes are free: the file is allocated again, leaving R free.
 *   shard_disk_tick re-checks on the shard's timer, so this needs no traffic.
 *
 * R = 0 turns all of this off (always writable; a reserve file left from an earlier run
 * is deleted). Thread: the shard's loop thread only. */
#ifndef SHARD_DISKSPACE_H
#define SHARD_DISKSPACE_H
#include <stdbool.h>
#include <stdint.h>

typedef struct _shard_disk_t shard_disk_t;

#define SHARD_DISK_RESERVE_FILE "parley-reserve"
#define SHARD_DISK_RESERVE_MIB_DEFAULT 64

/* Watch the file system of dir (which must exist) with a reserve of reserve_mib MiB, and
 * check it once now: when space is already short, an existing reserve file is deleted
 * at once (call this before opening RocksDB, so a restart on a full disk can open it).
 * NULL only when out of memory. Caller owns. */
shard_disk_t *shard_disk_new(const char *dir, int reserve_mib);
/* Keeps the reserve file (it is the next run's spare). Idempotent; nulls *self_p. */
void shard_disk_destroy(shard_disk_t **self_p);

/* Before a write: true when the write may go to RocksDB. May delete or re-create the
 * reserve file and log the change of state (once per change). */
bool shard_disk_writable(shard_disk_t *self);
/* Timer: while writes are refused, re-check so they resume on their own. */
void shard_disk_tick(shard_disk_t *self);
/* True while writes are refused for lack of space. */
bool shard_disk_low(shard_disk_t *self);

/* Test hook: pretend the file system has free_bytes free (-1: ask statvfs again). */
void shard_disk_set_free(shard_disk_t *self, int64_t free_bytes);

#endif
