/* store — see store.h. */
#include "store.h"

#include <rocksdb/c.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "diskspace.h"
#include "pl_log.h"
#include "pl_msg.h"
#include "pl_time.h"

/* After a failed write, the next write tries to reopen the database at most this often. */
#define REOPEN_BACKOFF_MS 200
/* A write RocksDB would delay longer than this is refused rather than block the loop. */
#define STALL_WAIT_MAX_MS 100

/* The column families: the default one holds every key but the idempotency keys, which
 * have their own (keys.h shard_key_is_idem; see shard_store_new for why). */
enum { CF_MAIN, CF_IDEM, CF_N };
static const char *const s_cf_names[CF_N] = {"default", "idem"};

struct _shard_store_t {
    rocksdb_t *db;
    rocksdb_options_t *options;               /* the database and its default family */
    rocksdb_options_t *idem_options;          /* the idempotency keys' family */
    rocksdb_column_family_handle_t *cf[CF_N]; /* NULL while the database is closed */
    uint32_t cf_id[CF_N];                     /* their ids (the same across a reopen) */
    rocksdb_readoptions_t *ropts_total;       /* total-order iteration of the hashed family */
    rocksdb_readoptions_t *ropts;
    rocksdb_writeoptions_t *wopts;      /* sync=false, WAL on */
    rocksdb_writeoptions_t *wopts_sync; /* sync=true, WAL on */
    int fail_writes;                    /* test hook */
    char *path;
    /* A write failed (ENOSPC, EIO): RocksDB holds a background error and refuses every
     * further write until it is reopened. Writes fail fast until then; reads go on. */
    bool broken;
    bool read_only;     /* reopened read-only because a read-write open failed */
    int64_t retry_at;   /* pl_mono_ms() of the next reopen attempt */
    int iters;          /* live iterators: the database is not reopened under them */
    shard_disk_t *disk; /* not owned; NULL: no free-space check */
    bool stopped;       /* a write was refused for a RocksDB stall: logged once */
};

/* A batch is RocksDB's own serialised WriteBatch ("rep", write_batch.cc: fixed64
 * sequence, fixed32 count, then the records), written here and handed to RocksDB once
 * per write (rocksdb_writebatch_create_from). Through the C API each put cost ~680
 * instructions (a family lookup, std::string appends, per-record bookkeeping); a record
 * appended here costs a few dozen. The format is the WAL's own, so RocksDB keeps reading
 * it across versions. Records (dbformat.h ValueType): a put in the default family is
 * 0x01 key value, in another 0x05 varint32(family id) key value; a delete 0x00 key or
 * 0x04 varint32(id) key; key and value each varint32(length) bytes. */
#define REP_HEADER 12
#define REP_KEEP (4 * 1024 * 1024) /* a larger rep, after a burst, is freed at the clear */
enum { REC_DEL = 0x00, REC_PUT = 0x01, REC_CF_DEL = 0x04, REC_CF_PUT = 0x05 };

struct _shard_batch_t {
    pl_buf_t rep;         /* REP_HEADER bytes, then the records (empty until the first) */
    uint32_t count;       /* records */
    shard_store_t *store; /* borrowed: its family ids */
    bool stale;           /* staged while the database was closed: never written */
    bool failed;          /* a record too long for the format: the write fails (as does
                           * rep.failed: out of memory while staging) */
};

struct _shard_iter_t {
    rocksdb_iterator_t *it;
    shard_key_t prefix;
    shard_store_t *store;
};

/* What both families share: LZ4 on every level and a full-key bloom filter (10 bits per
 * key, ~1% false positives) in every table file, so the point lookups that usually miss
 * (idempotency keys of new sends, tokens, index entries of a first message) skip the data
 * blocks. The factory copies the table options, so they are freed at once. */
static void s_family(rocksdb_options_t *o)
{
    /* RocksDB stops writes while the family's memtables all wait for their flush (2 by
     * default: one being written, one being flushed): a burst, or a flush slowed by a busy
     * machine, would refuse sends. Four let three wait; a memtable's memory is taken as
     * it fills, so the idle cost is nil. */
    rocksdb_options_set_max_write_buffer_number(o, 4);
    rocksdb_options_set_compression(o, rocksdb_lz4_compression);
    int levels[7];
    for (int i = 0; i < 7; i++)
        levels[i] = rocksdb_lz4_compression;
    rocksdb_options_set_num_levels(o, 7);
    rocksdb_options_set_compression_per_level(o, levels, 7);
    rocksdb_block_based_table_options_t *table = rocksdb_block_based_options_create();
    rocksdb_block_based_options_set_filter_policy(table,
                                                  rocksdb_filterpolicy_create_bloom_full(10));
    rocksdb_options_set_block_based_table_factory(o, table);
    rocksdb_block_based_options_destroy(table);
}

static void s_close(shard_store_t *self)
{
    for (int i = 0; i < CF_N; i++)
        if (self->cf[i]) {
            rocksdb_column_family_handle_destroy(self->cf[i]);
            self->cf[i] = NULL;
        }
    if (self->db)
        rocksdb_close(self->db);
    self->db = NULL;
}

/* Open both families (read-write, creating what is missing, or read-only). 0, or -1
 * with *err set. */
static int s_open(shard_store_t *self, bool read_only, char **err)
{
    const rocksdb_options_t *opts[CF_N] = {self->options, self->idem_options};
    if (read_only)
        self->db = rocksdb_open_for_read_only_column_families(self->options, self->path, CF_N,
                                                              s_cf_names, opts, self->cf, 0, err);
    else
        self->db = rocksdb_open_column_families(self->options, self->path, CF_N, s_cf_names, opts,
                                                self->cf, err);
    if (!self->db) {
        self->cf[CF_MAIN] = self->cf[CF_IDEM] = NULL;
        return -1;
    }
    for (int i = 0; i < CF_N; i++)
        self->cf_id[i] = rocksdb_column_family_handle_get_id(self->cf[i]);
    return 0;
}

shard_store_t *shard_store_new(const char *path)
{
    shard_store_t *self = calloc(1, sizeof(*self));
    char *err = NULL;
    if (!self)
        return NULL;
    /* Inserts into the memtable skiplist start from a remembered position per key prefix
     * of 3 bytes (slot + tag: the keys of one slot and kind), not from the top of the
     * list: a conversation's message keys go in in ascending order, so an insert costs a
     * few key comparisons instead of a full descent (~100 comparisons at 10,000 keys). No
     * C setter exists for it; the option string is RocksDB's own. */
    rocksdb_options_t *base = rocksdb_options_create(); /* C++ new: never NULL */
    self->options = rocksdb_options_create();
    self->idem_options = rocksdb_options_create();
    rocksdb_get_options_from_string(
        base, "memtable_insert_with_hint_prefix_extractor=rocksdb.FixedPrefix.3", self->options,
        &err);
    rocksdb_options_destroy(base);
    if (err) {
        pl_error("store: RocksDB options: %s", err);
        goto fail;
    }
    rocksdb_options_set_create_if_missing(self->options, 1);
    rocksdb_options_set_create_missing_column_families(self->options, 1);
    rocksdb_options_increase_parallelism(self->options, 2);
    /* One thread writes (the loop): no concurrent memtable inserts (the hashed family
     * below requires that) and no spinning for a write group that never forms. Writes
     * stay in one queue, so a read after a write sees it. */
    rocksdb_options_set_allow_concurrent_memtable_write(self->options, 0);
    rocksdb_options_set_enable_write_thread_adaptive_yield(self->options, 0);
    rocksdb_options_set_keep_log_file_num(self->options, 4);
    /* RocksDB's own LOG file (in the data folder) keeps only its header: Debian's
     * librocksdb 7.8.3 is built with assertions and aborts on the next LOG line once a
     * LOG write failed for lack of space (writable_file_writer.h:312), and its error
     * handler logs right then. Our own log says what happened. */
    rocksdb_options_set_info_log_level(self->options, 5 /* HEADER_LEVEL */);
    rocksdb_options_set_stats_dump_period_sec(self->options, 0);
    self->path = strdup(path);
    if (!self->path)
        goto fail;
    s_family(self->options);
    /* No memtable bloom filter in the default family: the lookup that misses on every
     * send (the idempotency key) goes to the other family, which has one; here it would
     * cost every message key's insert a hash and a filter update for the benefit of rare
     * lookups (tokens, index entries). */
    /* The idempotency keys' family: only point reads and writes (a send's lookup and its
     * put), so its memtable is a hash table of linked lists keyed by the whole key (a
     * "prefix" that is the key itself) instead of a skiplist. Debian's librocksdb is built
     * with assertions, and the skiplist checks its whole splice after every insert (about
     * 4 key comparisons per level, ~30 per key): a hashed insert skips that and the
     * descent. Table files are the same sorted block-based files as the default family's;
     * iterating this family needs total-order reads (ropts_total), which sort the
     * memtable: nothing on the send path does. 16 MiB memtables (~150,000 keys) over
     * 131,072 buckets. */
    s_family(self->idem_options);
    rocksdb_options_set_prefix_extractor(self->idem_options, rocksdb_slicetransform_create_noop());
    rocksdb_options_set_hash_link_list_rep(self->idem_options, 1 << 17);
    rocksdb_options_set_write_buffer_size(self->idem_options, 16 << 20);
    /* Test knob: small memtables (KiB), so that a test fills them faster than they flush. */
    const char *test_kib = getenv("PARLEY_TEST_MEMTABLE_KIB");
    if (test_kib && atoi(test_kib) > 0) {
        rocksdb_options_set_write_buffer_size(self->options, (size_t)atoi(test_kib) << 10);
        rocksdb_options_set_write_buffer_size(self->idem_options, (size_t)atoi(test_kib) << 10);
        /* the buckets are in the memtable's arena: 1 MiB of them would fill it at once */
        rocksdb_options_set_hash_link_list_rep(self->idem_options, 1 << 10);
    }
    /* The memtable bloom filter (2 % of the write buffer, ~330 KiB) on the "prefix", i.e.
     * the key: the lookup of a new send's key, which misses, is answered by it. */
    rocksdb_options_set_memtable_prefix_bloom_size_ratio(self->idem_options, 0.02);
    /* RocksDB's perf counters (a thread-local, bumped on every key comparison) are off in
     * the calling thread, the shard's loop: we never read them. */
    rocksdb_set_perf_level(1 /* kDisable */);
    self->ropts = rocksdb_readoptions_create();
    self->ropts_total = rocksdb_readoptions_create();
    rocksdb_readoptions_set_total_order_seek(self->ropts_total, 1);
    if (s_open(self, false, &err) != 0) {
        pl_error("store: cannot open %s: %s", path, err ? err : "?");
        goto fail;
    }
    self->wopts = rocksdb_writeoptions_create();
    rocksdb_writeoptions_set_sync(self->wopts, 0);
    rocksdb_writeoptions_disable_WAL(self->wopts, 0);
    rocksdb_writeoptions_set_no_slowdown(self->wopts, 1); /* s_write */
    self->wopts_sync = rocksdb_writeoptions_create();
    rocksdb_writeoptions_set_sync(self->wopts_sync, 1);
    rocksdb_writeoptions_disable_WAL(self->wopts_sync, 0);
    rocksdb_writeoptions_set_no_slowdown(self->wopts_sync, 1);
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
    s_close(self);
    if (self->ropts)
        rocksdb_readoptions_destroy(self->ropts);
    if (self->ropts_total)
        rocksdb_readoptions_destroy(self->ropts_total);
    if (self->wopts)
        rocksdb_writeoptions_destroy(self->wopts);
    if (self->wopts_sync)
        rocksdb_writeoptions_destroy(self->wopts_sync);
    if (self->options)
        rocksdb_options_destroy(self->options);
    if (self->idem_options)
        rocksdb_options_destroy(self->idem_options);
    free(self->path);
    free(self);
    *self_p = NULL;
}

/* The family a key lives in. */
static rocksdb_column_family_handle_t *s_cf(shard_store_t *self, const shard_key_t *key)
{
    return self->cf[shard_key_is_idem(key->buf, key->len) ? CF_IDEM : CF_MAIN];
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
    char *v = rocksdb_get_cf(self->db, self->ropts, s_cf(self, key), key->buf, key->len, &n, &err);
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
    s_close(self);
    if (s_open(self, false, &err) == 0) {
        pl_info("store: reopened %s read-write after a failed write: writes resume", self->path);
        self->broken = self->read_only = false;
        return;
    }
    pl_warn("store: reopen of %s failed: %s: still refusing writes", self->path, err ? err : "?");
    rocksdb_free(err);
    err = NULL;
    self->read_only = s_open(self, true, &err) == 0;
    if (!self->db) {
        pl_error("store: read-only open of %s failed too: %s", self->path, err ? err : "?");
        rocksdb_free(err);
    }
}

/* Before a write: false (and the caller fails the write) while the disk is below its
 * reserve (diskspace.h), or while the database refuses writes and a reopen is not due or
 * did not help. */
static bool s_writable(shard_store_t *self)
{
    if (s_fail_injected(self))
        return false;
    if (!shard_disk_writable(self->disk))
        return false; /* below the reserve: RocksDB must not see a full disk */
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

/* True when RocksDB answered a write with no_slowdown "Incomplete": it would have made
 * the write wait (a write stall). */
static bool s_stalled(const char *err)
{
    return strncmp(err, "Result incomplete", 17) == 0;
}

/* What to do with a write RocksDB would stall. */
enum { STALL_PACE, STALL_STOP, STALL_REFUSE };

/* STALL_STOP while writes are stopped (memtables waiting for their flush after a burst, or
 * compaction far behind or failing, e.g. out of space); STALL_PACE when the delay RocksDB
 * would impose on this batch at its current pace is at most STALL_WAIT_MAX_MS;
 * STALL_REFUSE when it is longer (the pace drops to 16 KiB/s while compaction keeps
 * failing). */
static int s_stall_kind(shard_store_t *self, rocksdb_writebatch_t *wb)
{
    uint64_t stopped = 0, rate = 0;
    size_t bytes = 0;
    if (rocksdb_property_int(self->db, "rocksdb.is-write-stopped", &stopped) != 0)
        return STALL_REFUSE;
    if (stopped)
        return STALL_STOP;
    if (rocksdb_property_int(self->db, "rocksdb.actual-delayed-write-rate", &rate) != 0)
        return STALL_REFUSE;
    rocksdb_writebatch_data(wb, &bytes);
    return rate == 0 || (uint64_t)bytes * 1000 / rate <= STALL_WAIT_MAX_MS ? STALL_PACE
                                                                           : STALL_REFUSE;
}

/* Write one batch. Writes go with no_slowdown, because a RocksDB write stall blocks the
 * calling thread, which is the shard's only loop: a short slowdown (RocksDB pacing writes
 * while compaction catches up) is waited for inside RocksDB; a stop is waited out for at
 * most STALL_WAIT_MAX_MS (a stop for memtables waiting for their flush ends within a
 * flush's time), retrying every millisecond; a longer stop or delay fails the write
 * (`unavailable`) instead of freezing the shard. A stall is no error of the database:
 * nothing to reopen, the next write tries again.
 * offline: no client waits and nothing is served yet (the conversion at open): the write
 * waits for as long as RocksDB holds it (it ends a stop's wait with the background error
 * if its flush or compaction fails). */
static int s_write(shard_store_t *self, rocksdb_writebatch_t *wb, bool sync, bool offline,
                   const char *what)
{
    char *err = NULL;
    rocksdb_writeoptions_t *wo = sync ? self->wopts_sync : self->wopts;
    int64_t until = 0;
    for (;;) {
        rocksdb_write(self->db, wo, wb, &err);
        if (!err || !s_stalled(err))
            break;
        rocksdb_free(err);
        err = NULL;
        int kind = offline ? STALL_PACE : s_stall_kind(self, wb);
        if (kind == STALL_STOP) {
            int64_t now = pl_mono_ms();
            if (!until)
                until = now + STALL_WAIT_MAX_MS;
            if (now < until) {
                struct timespec ms = {0, 1000 * 1000};
                nanosleep(&ms, NULL);
                continue;
            }
        }
        if (kind != STALL_PACE) {
            if (!self->stopped)
                pl_warn("store: RocksDB stalls writes (compaction failing or far behind): "
                        "writes refused until it catches up");
            self->stopped = true;
            return -1;
        }
        rocksdb_writeoptions_set_no_slowdown(wo, 0);
        rocksdb_write(self->db, wo, wb, &err);
        rocksdb_writeoptions_set_no_slowdown(wo, 1);
        break;
    }
    if (!err && self->stopped) {
        pl_info("store: RocksDB accepts writes again");
        self->stopped = false;
    }
    return s_wrote(self, what, err);
}

static void s_put32le(char *p, uint32_t v)
{
    for (int i = 0; i < 4; i++)
        p[i] = (char)(v >> (8 * i) & 0xff);
}

int shard_store_put(shard_store_t *self, const shard_key_t *key, const void *val, size_t len,
                    bool sync)
{
    if (!s_writable(self)) /* after it the database is open: the family handles exist */
        return -1;
    rocksdb_writebatch_t *wb = rocksdb_writebatch_create();
    rocksdb_writebatch_put_cf(wb, s_cf(self, key), key->buf, key->len, val, len);
    int rc = s_write(self, wb, sync, false, "put");
    rocksdb_writebatch_destroy(wb);
    return rc;
}

int shard_store_del(shard_store_t *self, const shard_key_t *key, bool sync)
{
    if (!s_writable(self))
        return -1;
    rocksdb_writebatch_t *wb = rocksdb_writebatch_create();
    rocksdb_writebatch_delete_cf(wb, s_cf(self, key), key->buf, key->len);
    int rc = s_write(self, wb, sync, false, "delete");
    rocksdb_writebatch_destroy(wb);
    return rc;
}

static int s_write_batch(shard_store_t *self, shard_batch_t *batch, bool sync, bool offline)
{
    if (!s_writable(self))
        return -1;
    if (batch->stale) {
        pl_error("store: batch write failed: staged while the database was closed");
        return -1;
    }
    if (batch->failed || batch->rep.failed) {
        pl_error("store: batch write failed: out of memory while staging");
        return -1;
    }
    if (batch->count == 0)
        return 0;
    s_put32le((char *)batch->rep.data + 8, batch->count);
    rocksdb_writebatch_t *wb =
        rocksdb_writebatch_create_from((const char *)batch->rep.data, batch->rep.len);
    int rc = s_write(self, wb, sync, offline, "batch write");
    rocksdb_writebatch_destroy(wb);
    return rc;
}

int shard_store_write(shard_store_t *self, shard_batch_t *batch, bool sync)
{
    return s_write_batch(self, batch, sync, false);
}

int shard_store_write_offline(shard_store_t *self, shard_batch_t *batch)
{
    return s_write_batch(self, batch, true, true);
}

void shard_store_set_disk(shard_store_t *self, shard_disk_t *disk)
{
    self->disk = disk;
}

bool shard_store_broken(shard_store_t *self)
{
    return self->broken;
}

void shard_store_fail_writes(shard_store_t *self, int n)
{
    self->fail_writes = n;
}

shard_batch_t *shard_batch_new(shard_store_t *store)
{
    shard_batch_t *self = calloc(1, sizeof(*self));
    if (!self)
        return NULL;
    self->store = store;
    return self;
}

void shard_batch_destroy(shard_batch_t **self_p)
{
    if (!self_p || !*self_p)
        return;
    pl_buf_free(&(*self_p)->rep);
    free(*self_p);
    *self_p = NULL;
}

static void s_rep_varint(pl_buf_t *rep, uint32_t v)
{
    uint8_t b[5];
    size_t n = 0;
    while (v >= 0x80) {
        b[n++] = (uint8_t)(v | 0x80);
        v >>= 7;
    }
    b[n++] = (uint8_t)v;
    pl_buf_add(rep, b, n);
}

/* One record: kind (REC_PUT / REC_DEL; the family variant for another family), the key,
 * and for a put the value. The family is the key's (by its tag), or the default one with
 * main. With the database closed after a failed reopen no family exists: the batch is
 * marked stale (its write fails: the store was unavailable when the change was staged),
 * the record still counted so that the caller writes and sees it fail. */
static void s_rep_add(shard_batch_t *self, int kind, const shard_key_t *key, const void *val,
                      size_t len, bool main)
{
    shard_store_t *store = self->store;
    int fam = !main && shard_key_is_idem(key->buf, key->len) ? CF_IDEM : CF_MAIN;
    uint32_t id = 0;
    if (!store->cf[fam])
        self->stale = true;
    else
        id = store->cf_id[fam];
    if (key->len > UINT32_MAX || len > UINT32_MAX)
        return (void)(self->failed = true);
    pl_buf_t *rep = &self->rep;
    if (rep->len == 0) { /* sequence 0 (RocksDB assigns it), count written at the write */
        static const uint8_t header[REP_HEADER];
        pl_buf_add(rep, header, REP_HEADER);
    }
    if (id) /* the default family has id 0 and records without one */
        kind = kind == REC_PUT ? REC_CF_PUT : REC_CF_DEL;
    uint8_t k = (uint8_t)kind;
    pl_buf_add(rep, &k, 1);
    if (id)
        s_rep_varint(rep, id);
    s_rep_varint(rep, (uint32_t)key->len);
    pl_buf_add(rep, key->buf, key->len);
    if (kind == REC_PUT || kind == REC_CF_PUT) {
        s_rep_varint(rep, (uint32_t)len);
        if (len)
            pl_buf_add(rep, val, len);
    }
    self->count++;
}

void shard_batch_put(shard_batch_t *self, const shard_key_t *key, const void *val, size_t len)
{
    s_rep_add(self, REC_PUT, key, val, len, false);
}

void shard_batch_put_u64(shard_batch_t *self, const shard_key_t *key, uint64_t value)
{
    char be[8];
    shard_be64_put(be, value);
    shard_batch_put(self, key, be, sizeof(be));
}

void shard_batch_del(shard_batch_t *self, const shard_key_t *key)
{
    s_rep_add(self, REC_DEL, key, NULL, 0, false);
}

void shard_batch_del_main(shard_batch_t *self, const shard_key_t *key)
{
    s_rep_add(self, REC_DEL, key, NULL, 0, true);
}

int shard_batch_count(shard_batch_t *self)
{
    return (int)self->count;
}

void shard_batch_clear(shard_batch_t *self)
{
    if (self->rep.cap > REP_KEEP)
        pl_buf_free(&self->rep);
    pl_buf_reset(&self->rep);
    self->count = 0;
    self->stale = false;
    self->failed = false;
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
    if (shard_key_is_idem(prefix->buf, prefix->len))
        self->it = rocksdb_create_iterator_cf(store->db, store->ropts_total, store->cf[CF_IDEM]);
    else
        self->it = rocksdb_create_iterator_cf(store->db, store->ropts, store->cf[CF_MAIN]);
    store->iters++;
    return self;
}

shard_iter_t *shard_iter_new_idem(shard_store_t *store)
{
    if (!store->db)
        return NULL;
    shard_iter_t *self = calloc(1, sizeof(*self));
    if (!self)
        return NULL;
    self->store = store; /* prefix: empty */
    self->it = rocksdb_create_iterator_cf(store->db, store->ropts_total, store->cf[CF_IDEM]);
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
