/* rocks-keys — RocksDB's cost per stored message for the shard's key layouts, alone (no
 * Parley process): docs/benchmarks.md "The shard's send path under 20 k?".
 *
 *   valgrind --tool=callgrind --callgrind-out-file=cg rocks-keys MODE [N]
 *   callgrind_annotate --inclusive=yes cg.1 | grep -E 'rocksdb_(write|get_cf) \['
 *
 * N sends (default 20,000) over 50 dm conversations, one slot each, as the shard does
 * them: the idempotency Get, then the message key (a ~270-byte value) and the
 * idempotency key put in one WriteBatch, written every 36 sends (a shard turn's group
 * commit under zmq-bench --window 64). The options are the shard's (store.c): insert hints
 * per slot + tag, perf counters off. Under callgrind the counters are zeroed after N/2
 * sends and dumped at the end (cg.1): divide by N/2. MODE:
 *   layout2   both keys in one skiplist family, memtable whole-key bloom (layout 2)
 *   nocc      layout2 with allow_concurrent_memtable_write and adaptive yield off
 *   seqidem   nocc with the idempotency key monotonic in its prefix (conv + seq)
 *   msgonly   nocc without the idempotency key (the floor of one key per message)
 *   layout3   the idempotency key in a hash-linked-list family (layout 3, store.c)
 *   hashskip  layout3 with a hash-skiplist family instead */
#include <rocksdb/c.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <valgrind/callgrind.h>

#define CONVS 50
#define TURN 36

static void s_be64(char *p, uint64_t v)
{
    for (int i = 7; i >= 0; i--, v >>= 8)
        p[i] = (char)(v & 0xff);
}

int main(int argc, char **argv)
{
    const char *mode = argc > 1 ? argv[1] : "";
    long n = argc > 2 ? atol(argv[2]) : 20000;
    int layout2 = !strcmp(mode, "layout2"), nocc = !strcmp(mode, "nocc");
    int seqidem = !strcmp(mode, "seqidem"), msgonly = !strcmp(mode, "msgonly");
    int layout3 = !strcmp(mode, "layout3"), hashskip = !strcmp(mode, "hashskip");
    int multiget = !strcmp(mode, "multiget");
    if (!(layout2 || nocc || seqidem || msgonly || layout3 || hashskip || multiget) || n < 2) {
        fprintf(stderr,
                "usage: rocks-keys layout2|nocc|seqidem|msgonly|layout3|hashskip|multiget [N]\n");
        return 2;
    }
    int hashed = layout3 || hashskip || multiget;
    char *err = NULL, dir[] = "/tmp/rocks-keys.XXXXXX";
    if (!mkdtemp(dir))
        return 1;
    rocksdb_options_t *base = rocksdb_options_create(), *o = rocksdb_options_create();
    rocksdb_get_options_from_string(
        base, "memtable_insert_with_hint_prefix_extractor=rocksdb.FixedPrefix.3", o, &err);
    rocksdb_options_destroy(base);
    rocksdb_options_set_create_if_missing(o, 1);
    rocksdb_options_set_create_missing_column_families(o, 1);
    if (!layout2) {
        rocksdb_options_set_allow_concurrent_memtable_write(o, 0);
        rocksdb_options_set_enable_write_thread_adaptive_yield(o, 0);
    }
    rocksdb_options_t *io = rocksdb_options_create_copy(o);
    if (hashed) {
        rocksdb_options_set_prefix_extractor(io, rocksdb_slicetransform_create_noop());
        if (hashskip)
            rocksdb_options_set_hash_skip_list_rep(io, 1 << 17, 4, 4);
        else
            rocksdb_options_set_hash_link_list_rep(io, 1 << 17);
        rocksdb_options_set_memtable_prefix_bloom_size_ratio(io, 0.02);
    } else {
        rocksdb_options_set_memtable_prefix_bloom_size_ratio(o, 0.02);
        rocksdb_options_set_memtable_whole_key_filtering(o, 1);
    }
    rocksdb_set_perf_level(1);
    const char *names[2] = {"default", "idem"};
    const rocksdb_options_t *opts[2] = {o, io};
    rocksdb_column_family_handle_t *cf[2];
    rocksdb_t *db = rocksdb_open_column_families(o, dir, 2, names, opts, cf, &err);
    if (!db) {
        fprintf(stderr, "rocks-keys: %s\n", err ? err : "?");
        return 1;
    }
    rocksdb_column_family_handle_t *icf = cf[hashed ? 1 : 0];
    rocksdb_writeoptions_t *wo = rocksdb_writeoptions_create();
    rocksdb_readoptions_t *ro = rocksdb_readoptions_create();
    rocksdb_writebatch_t *wb = rocksdb_writebatch_create();
    char key[256], val[270], conv[80];
    uint64_t seqs[CONVS] = {0};
    memset(val, 'x', sizeof val);
    for (long k = 0; k < n; k++) {
        if (k == n / 2)
            CALLGRIND_ZERO_STATS;
        int c = (int)(k % CONVS), slot = (c * 331) % 16384;
        int cl = snprintf(conv, sizeof conv, "dm:bench-1234-%03d-a:bench-1234-%03d-b", c, c);
        size_t kl = 0, vl = 0;
        key[kl++] = (char)(slot >> 8);
        key[kl++] = (char)(slot & 0xff);
        key[kl++] = 'i';
        memcpy(key + kl, conv, (size_t)cl);
        kl += (size_t)cl;
        key[kl++] = 0;
        if (seqidem) {
            s_be64(key + kl, seqs[c] + 1);
            kl += 8;
        } else
            kl += (size_t)sprintf(key + kl, "bench-1234-%03d-a%cm%ld", c, 0, k);
        if (multiget) { /* the idempotency keys of a turn in one MultiGet at its start */
            if (k % TURN == 0) {
                char mk[TURN][256];
                const char *mkp[TURN];
                size_t mkl[TURN];
                rocksdb_pinnableslice_t *mv[TURN];
                char *merr[TURN];
                long m = 0;
                for (long j = k; j < n && m < TURN; j++, m++) {
                    int cj = (int)(j % CONVS), sj = (cj * 331) % 16384;
                    size_t l = 0;
                    mk[m][l++] = (char)(sj >> 8);
                    mk[m][l++] = (char)(sj & 0xff);
                    mk[m][l++] = 'i';
                    l += (size_t)sprintf(mk[m] + l, "dm:bench-1234-%03d-a:bench-1234-%03d-b", cj,
                                         cj);
                    mk[m][l++] = 0;
                    l += (size_t)sprintf(mk[m] + l, "bench-1234-%03d-a%cm%ld", cj, 0, j);
                    mkp[m] = mk[m];
                    mkl[m] = l;
                }
                rocksdb_batched_multi_get_cf(db, ro, icf, (size_t)m, mkp, mkl, mv, merr, false);
                for (long j = 0; j < m; j++)
                    if (mv[j] || merr[j]) {
                        fprintf(stderr, "rocks-keys: unexpected multiget hit\n");
                        return 1;
                    }
            }
        } else {
            char *v = rocksdb_get_cf(db, ro, icf, key, kl, &vl, &err);
            if (v || err) {
                fprintf(stderr, "rocks-keys: unexpected %s\n", err ? err : "hit");
                return 1;
            }
        }
        char sv[8];
        s_be64(sv, ++seqs[c]);
        if (!msgonly)
            rocksdb_writebatch_put_cf(wb, icf, key, kl, sv, 8);
        key[2] = 'm';
        kl = 3 + (size_t)cl + 1;
        s_be64(key + kl, seqs[c]);
        rocksdb_writebatch_put_cf(wb, cf[0], key, kl + 8, val, sizeof val);
        if (k % TURN == TURN - 1 || k == n - 1) {
            rocksdb_write(db, wo, wb, &err);
            if (err) {
                fprintf(stderr, "rocks-keys: %s\n", err);
                return 1;
            }
            rocksdb_writebatch_clear(wb);
        }
    }
    CALLGRIND_DUMP_STATS;
    rocksdb_writebatch_destroy(wb);
    rocksdb_readoptions_destroy(ro);
    rocksdb_writeoptions_destroy(wo);
    rocksdb_column_family_handle_destroy(cf[0]);
    rocksdb_column_family_handle_destroy(cf[1]);
    rocksdb_close(db);
    rocksdb_destroy_db(o, dir, &err); /* removes the folder's files and the folder */
    rocksdb_free(err);
    rocksdb_options_destroy(io);
    rocksdb_options_destroy(o);
    printf("rocks-keys %s: %ld sends\n", mode, n);
    return 0;
}
