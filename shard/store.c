/* store — see store.h. */
#include "store.h"

#include <rocksdb/c.h>
#include <stdlib.h>
#include <string.h>

#include "pl_log.h"
#include "pl_time.h"

/* After a failed write, the next write tries to reopen the database at most this often. */
#define REOPEN_BACKOFF_MS 200

struct _shard_store_t {
    rocksdb_t *db;
    rocksdb_options_t *options;
    rocksdb_readoptions_t *ropts;
    rocksdb_writeoptions_t *wopts;      /* sync=false, WAL on */
    rocksdb_writeoptions_t *wopts_sync; /* sync=true, WAL on */
    int fail_writes;                    /* test hook */
    char *path;
    /* A write failed (ENOSPC, EIO): RocksDB holds a background error and refuses every
     * further write until it is reopened. Writes fail fast until then; reads go on. */
    bool broken;
    bool read_only;   /* reopened read-only because a read-write open failed */
    int64_t retry_at; /* pl_mono_ms() of the next reopen attempt */
    int iters;        /* live iterators: the database is not reopened under them */
};

struct _shard_batch_t {
    rocksdb_writebatch_t *wb;
};

struct _shard_iter_t {
    rocksdb_iterator_t *it;
    shard_key_t prefix;
    shard_store_t *store;
};

shard_store_t *shard_store_new(const char *path)
{
    shard_store_t *self = calloc(1, sizeof(*self));
    char *err = NULL;
    if (!self)
        return NULL;
    self->options = rocksdb_options_create();
    rocksdb_options_set_create_if_missing(self->options, 1);
    rocksdb_options_increase_parallelism(self->options, 2);
    rocksdb_options_set_compression(self->options, rocksdb_lz4_compression);
    int levels[7];
    for (int i = 0; i < 7; i++)
        levels[i] = rocksdb_lz4_compression;
    rocksdb_options_set_num_levels(self->options, 7);
    rocksdb_options_set_compression_per_level(self->options, levels, 7);
    rocksdb_options_set_keep_log_file_num(self->options, 4);
    self->path = strdup(path);
    if (!self->path)
        goto fail;
    /* Bloom filters (10 bits per key, ~1% false positives) on every table file: the
     * point lookups that usually miss (idempotency keys of new sends, tokens, index
     * entries of a first message) skip the data blocks. The factory copies the table
     * options, so they are freed at once. */
    rocksdb_block_based_table_options_t *table = rocksdb_block_based_options_create();
    rocksdb_block_based_options_set_filter_policy(table,
                                                  rocksdb_filterpolicy_create_bloom_full(10));
    rocksdb_options_set_block_based_table_factory(self->options, table);
    rocksdb_block_based_options_destroy(table);
    self->db = rocksdb_open(self->options, path, &err);
    if (!self->db) {
        pl_error("store: cannot open %s: %s", path, err ? err : "?");
        goto fail;
    }
    self->ropts = rocksdb_readoptions_create();
    self->wopts = rocksdb_writeoptions_create();
    rocksdb_writeoptions_set_sync(self->wopts, 0);
    rocksdb_writeoptions_disable_WAL(self->wopts, 0);
    self->wopts_sync = rocksdb_writeoptions_create();
    rocksdb_writeoptions_set_sync(self->wopts_sync, 1);
    rocksdb_writeoptions_disable_WAL(self->wopts_sync, 0);
    pl_info("store: opened %s", path);
    return self;
fail:
    rocksdb_free(err);
    shard_store_destroy(&self);
    return NULL;
}

void shard_store_destroy(shard_store_t **self_p)
{
    if (!self_p || !*self_p)
        return;
    shard_store_t *self = *self_p;
    if (self->db)
        rocksdb_close(self->db);
    if (self->ropts)
        rocksdb_readoptions_destroy(self->ropts);
    if (self->wopts)
        rocksdb_writeoptions_destroy(self->wopts);
    if (self->wopts_sync)
        rocksdb_writeoptions_destroy(self->wopts_sync);
    if (self->options)
        rocksdb_options_destroy(self->options);
    free(self->path);
    free(self);
    *self_p = NULL;
}

int shard_store_get(shard_store_t *self, const shard_key_t *key, char **val, size_t *len)
{
    char *err = NULL;
    size_t n = 0;
    if (!self->db) {
        pl_error("store: get failed: database closed after a failed reopen");
        *val = NULL;
        return -1;
    }
    char *v = rocksdb_get(self->db, self->ropts, key->buf, key->len, &n, &err);
    *val = NULL;
    if (err) {
        pl_error("store: get failed: %s", err);
        rocksdb_free(err);
        return -1;
    }
    if (!v)
        return 0;
    char *copy = malloc(n + 1);
    if (!copy) {
        rocksdb_free(v);
        return -1;
    }
    memcpy(copy, v, n);
    copy[n] = '\0';
    rocksdb_free(v);
    *val = copy;
    if (len)
        *len = n;
    return 1;
}

int shard_store_get_u64(shard_store_t *self, const shard_key_t *key, uint64_t *out)
{
    char *val = NULL;
    size_t len = 0;
    int rc = shard_store_get(self, key, &val, &len);
    if (rc == 1) {
        if (len != 8) {
            pl_error("store: value of %zu bytes where a be64 was expected", len);
            rc = -1;
        } else
            *out = shard_be64_get(val);
    }
    free(val);
    return rc;
}

static bool s_fail_injected(shard_store_t *self)
{
    if (self->fail_writes > 0) {
        self->fail_writes--;
        pl_error("store: write failed: injected failure (test)");
        return true;
    }
    return false;
}

static int s_check(const char *what, char *err)
{
    if (!err)
        return 0;
    pl_error("store: %s failed: %s", what, err);
    rocksdb_free(err);
    return -1;
}

/* Close and open the database again: this clears RocksDB's background error, replays
 * the WAL (every acknowledged write) and, once the disk has room again, accepts writes.
 * When the read-write open fails (the disk is still full) it opens read-only so that
 * reads keep working. */
static void s_reopen(shard_store_t *self)
{
    char *err = NULL;
    if (self->db)
        rocksdb_close(self->db);
    self->db = rocksdb_open(self->options, self->path, &err);
    if (self->db) {
        pl_info("store: reopened %s read-write after a failed write: writes resume", self->path);
        self->broken = self->read_only = false;
        return;
    }
    pl_warn("store: reopen of %s failed: %s: still refusing writes", self->path, err ? err : "?");
    rocksdb_free(err);
    err = NULL;
    self->db = rocksdb_open_for_read_only(self->options, self->path, 0, &err);
    self->read_only = self->db != NULL;
    if (!self->db) {
        pl_error("store: read-only open of %s failed too: %s", self->path, err ? err : "?");
        rocksdb_free(err);
    }
}

/* Before a write: false (and the caller fails the write) while the database refuses
 * writes and a reopen is not due or did not help. */
static bool s_writable(shard_store_t *self)
{
    if (s_fail_injected(self))
        return false;
    if (!self->broken)
        return true;
    int64_t now = pl_mono_ms();
    if (self->iters == 0 && now >= self->retry_at) {
        self->retry_at = now + REOPEN_BACKOFF_MS;
        s_reopen(self);
    }
    return !self->broken;
}

/* After a write: a failure marks the store broken (RocksDB now refuses writes). */
static int s_wrote(shard_store_t *self, const char *what, char *err)
{
    if (!err)
        return 0;
    if (!self->broken)
        self->retry_at = pl_mono_ms() + REOPEN_BACKOFF_MS;
    self->broken = true;
    return s_check(what, err);
}

int shard_store_put(shard_store_t *self, const shard_key_t *key, const void *val, size_t len,
                    bool sync)
{
    char *err = NULL;
    if (!s_writable(self))
        return -1;
    rocksdb_put(self->db, sync ? self->wopts_sync : self->wopts, key->buf, key->len, val, len,
                &err);
    return s_wrote(self, "put", err);
}

int shard_store_del(shard_store_t *self, const shard_key_t *key, bool sync)
{
    char *err = NULL;
    if (!s_writable(self))
        return -1;
    rocksdb_delete(self->db, sync ? self->wopts_sync : self->wopts, key->buf, key->len, &err);
    return s_wrote(self, "delete", err);
}

int shard_store_write(shard_store_t *self, shard_batch_t *batch, bool sync)
{
    char *err = NULL;
    if (!s_writable(self))
        return -1;
    rocksdb_write(self->db, sync ? self->wopts_sync : self->wopts, batch->wb, &err);
    return s_wrote(self, "batch write", err);
}

bool shard_store_broken(shard_store_t *self)
{
    return self->broken;
}

void shard_store_fail_writes(shard_store_t *self, int n)
{
    self->fail_writes = n;
}

shard_batch_t *shard_batch_new(void)
{
    shard_batch_t *self = calloc(1, sizeof(*self));
    if (!self)
        return NULL;
    self->wb = rocksdb_writebatch_create();
    return self;
}

void shard_batch_destroy(shard_batch_t **self_p)
{
    if (!self_p || !*self_p)
        return;
    rocksdb_writebatch_destroy((*self_p)->wb);
    free(*self_p);
    *self_p = NULL;
}

void shard_batch_put(shard_batch_t *self, const shard_key_t *key, const void *val, size_t len)
{
    rocksdb_writebatch_put(self->wb, key->buf, key->len, val, len);
}

void shard_batch_put_u64(shard_batch_t *self, const shard_key_t *key, uint64_t value)
{
    char be[8];
    shard_be64_put(be, value);
    rocksdb_writebatch_put(self->wb, key->buf, key->len, be, sizeof(be));
}

void shard_batch_del(shard_batch_t *self, const shard_key_t *key)
{
    rocksdb_writebatch_delete(self->wb, key->buf, key->len);
}

int shard_batch_count(shard_batch_t *self)
{
    return rocksdb_writebatch_count(self->wb);
}

void shard_batch_clear(shard_batch_t *self)
{
    rocksdb_writebatch_clear(self->wb);
}

shard_iter_t *shard_iter_new(shard_store_t *store, const shard_key_t *prefix)
{
    if (!store->db)
        return NULL; /* a reopen failed altogether */
    shard_iter_t *self = calloc(1, sizeof(*self));
    if (!self)
        return NULL;
    self->prefix = *prefix;
    self->store = store;
    self->it = rocksdb_create_iterator(store->db, store->ropts);
    store->iters++;
    return self;
}

void shard_iter_destroy(shard_iter_t **self_p)
{
    if (!self_p || !*self_p)
        return;
    rocksdb_iter_destroy((*self_p)->it);
    (*self_p)->store->iters--;
    free(*self_p);
    *self_p = NULL;
}

void shard_iter_seek(shard_iter_t *self, const shard_key_t *key)
{
    rocksdb_iter_seek(self->it, key->buf, key->len);
}

void shard_iter_seek_for_prev(shard_iter_t *self, const shard_key_t *key)
{
    rocksdb_iter_seek_for_prev(self->it, key->buf, key->len);
}

void shard_iter_seek_first(shard_iter_t *self)
{
    rocksdb_iter_seek(self->it, self->prefix.buf, self->prefix.len);
}

bool shard_iter_valid(shard_iter_t *self)
{
    if (!rocksdb_iter_valid(self->it))
        return false;
    size_t len = 0;
    const char *key = rocksdb_iter_key(self->it, &len);
    return len >= self->prefix.len && memcmp(key, self->prefix.buf, self->prefix.len) == 0;
}

void shard_iter_next(shard_iter_t *self)
{
    rocksdb_iter_next(self->it);
}

void shard_iter_prev(shard_iter_t *self)
{
    rocksdb_iter_prev(self->it);
}

const char *shard_iter_key(shard_iter_t *self, size_t *len)
{
    return rocksdb_iter_key(self->it, len);
}

const char *shard_iter_value(shard_iter_t *self, size_t *len)
{
    return rocksdb_iter_value(self->it, len);
}

int shard_iter_status(shard_iter_t *self)
{
    char *err = NULL;
    rocksdb_iter_get_error(self->it, &err);
    return s_check("iteration", err);
}
