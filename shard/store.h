/* store — the shard's RocksDB: open/close, point reads and writes, atomic batches,
 * prefix iteration.
 *
 * The database is opened with create_if_missing, LZ4 compression on every level, a
 * full-key bloom filter in every table file (lookups that usually miss skip the data
 * blocks) and the write-ahead log on (never disabled). It has two column families: the
 * idempotency keys (keys.h shard_key_is_idem) live in their own, with a hashed memtable
 * (store.c says why); every function below routes a key to its family, and one batch
 * spans both atomically (one WAL record): a completed write survives a
 * process crash; with sync=true it also survives a power cut. A failed write is logged
 * and returns -1; RocksDB then refuses all further writes (background error), which
 * callers answer as `unavailable`. Recovery needs no restart: once a write failed, each
 * later write (at most every 200 ms, and never while an iterator is open) first closes
 * and reopens the database, which clears the error and replays the WAL; while the disk
 * is still full the read-write open fails and the database is opened read-only, so
 * reads keep working and writes keep failing until there is room again.
 *
 * Before that can happen, a store given a shard_disk_t (shard_store_set_disk) refuses
 * writes itself while the disk is below its reserve, so RocksDB does not meet a full
 * disk in the first place (diskspace.h). A write that RocksDB would stall (compaction
 * behind or failing) is waited for when it is a slowdown and refused when writes are
 * stopped: the loop never blocks on a stop. RocksDB's own LOG keeps only its header
 * (store.c says why).
 *
 * Thread: the shard's loop thread only (RocksDB itself is thread-safe, these wrappers
 * are not meant to be shared). */
#ifndef SHARD_STORE_H
#define SHARD_STORE_H
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "diskspace.h"
#include "keys.h"

typedef struct _shard_store_t shard_store_t;
typedef struct _shard_batch_t shard_batch_t;
typedef struct _shard_iter_t shard_iter_t;

/* Open (creating the folder's database if missing) the database in path; the folder's
 * parents must exist. NULL on failure (logged). Caller owns; shard_store_destroy closes. */
shard_store_t *shard_store_new(const char *path);
/* Close cleanly (flushes nothing extra: the WAL already holds every write). Idempotent;
 * nulls *self_p. Every iterator must be destroyed first. */
void shard_store_destroy(shard_store_t **self_p);

/* Point read. Returns 1 and a malloc'd copy (NUL-terminated for convenience; *len
 * excludes the NUL) in *val, which the caller frees; 0 when the key is missing; -1 on a
 * read error (logged). len may be NULL. */
int shard_store_get(shard_store_t *self, const shard_key_t *key, char **val, size_t *len);
/* Point read of a be64 value. 1 found, 0 missing, -1 error or a value that is not
 * 8 bytes. */
int shard_store_get_u64(shard_store_t *self, const shard_key_t *key, uint64_t *out);

/* Single writes, each atomic. 0 or -1 (logged). */
int shard_store_put(shard_store_t *self, const shard_key_t *key, const void *val, size_t len,
                    bool sync);
int shard_store_del(shard_store_t *self, const shard_key_t *key, bool sync);
/* Apply the batch atomically. 0 or -1 (logged). The batch is left as it is (clear it to
 * reuse). */
int shard_store_write(shard_store_t *self, shard_batch_t *batch, bool sync);
/* The same with fsync, for work done before the shard serves (the layout conversion):
 * where shard_store_write refuses a write RocksDB would hold for long (its stop, after
 * at most 100 ms), this one waits until RocksDB takes it or fails. */
int shard_store_write_offline(shard_store_t *self, shard_batch_t *batch);

/* Check free space (diskspace.h) before every write: refused below the reserve. disk is
 * not owned and must outlive the store (or be unset with NULL first). */
void shard_store_set_disk(shard_store_t *self, shard_disk_t *disk);

/* True while writes are refused after a failed write (until a reopen succeeds). */
bool shard_store_broken(shard_store_t *self);

/* Test hook: make the next n writes (put/del/write) fail as if the disk failed. */
void shard_store_fail_writes(shard_store_t *self, int n);

/* A batch of puts and deletes, applied by shard_store_write to store (borrowed: it must
 * outlive the batch). Caller owns. */
shard_batch_t *shard_batch_new(shard_store_t *store);
void shard_batch_destroy(shard_batch_t **self_p);
void shard_batch_put(shard_batch_t *self, const shard_key_t *key, const void *val, size_t len);
void shard_batch_put_u64(shard_batch_t *self, const shard_key_t *key, uint64_t value);
void shard_batch_del(shard_batch_t *self, const shard_key_t *key);
/* Delete key from the default family whatever its tag (key layout conversion only: layout
 * 2 kept the idempotency keys there, convert.c). */
void shard_batch_del_main(shard_batch_t *self, const shard_key_t *key);
int shard_batch_count(shard_batch_t *self);
void shard_batch_clear(shard_batch_t *self);

/* An iterator over the committed keys that start with prefix (copied). It starts
 * unpositioned: seek first. Caller owns; destroy before the store. A prefix that names
 * the idempotency tag (<S>i...) walks that family; any other prefix — also a shorter
 * one, a whole slot or the empty prefix — walks the default family only. */
shard_iter_t *shard_iter_new(shard_store_t *store, const shard_key_t *prefix);
/* An iterator over every idempotency key (the whole family, for tests and the fuzz
 * harness's wipe; sorts that family's memtable: not for the send path). */
shard_iter_t *shard_iter_new_idem(shard_store_t *store);
void shard_iter_destroy(shard_iter_t **self_p);
/* Position at the first key >= key / the last key <= key / the prefix's first key. */
void shard_iter_seek(shard_iter_t *self, const shard_key_t *key);
void shard_iter_seek_for_prev(shard_iter_t *self, const shard_key_t *key);
void shard_iter_seek_first(shard_iter_t *self);
/* True while positioned on a key that starts with the prefix. */
bool shard_iter_valid(shard_iter_t *self);
void shard_iter_next(shard_iter_t *self);
void shard_iter_prev(shard_iter_t *self);
/* Key/value of the current entry; valid until the iterator moves. */
const char *shard_iter_key(shard_iter_t *self, size_t *len);
const char *shard_iter_value(shard_iter_t *self, size_t *len);
/* 0, or -1 when the iteration stopped on an error (logged) rather than at its end. */
int shard_iter_status(shard_iter_t *self);

#endif
