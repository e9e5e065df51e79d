/* store-dump — list the keys of a shard's RocksDB folder, for 25-store.test.js.
 *
 *   store-dump <folder>
 *
 * Opens the folder read-only (the shard must be stopped, or at least not mid-write) and
 * prints one line per key: the key in hex, a space, the value's length, a space, the
 * column family's name ("default", or "idem" for the idempotency keys of layout 3:
 * docs/internals.md "RocksDB key layout"); family by family, each in key order. Exit 0,
 * or 1 (message on stderr) when the folder cannot be opened or read. */
#include <rocksdb/c.h>
#include <stdio.h>
#include <stdlib.h>

int main(int argc, char **argv)
{
    if (argc != 2) {
        fprintf(stderr, "usage: store-dump <rocksdb folder>\n");
        return 2;
    }
    char *err = NULL;
    size_t nfam = 0;
    rocksdb_options_t *opts = rocksdb_options_create();
    char **fams = rocksdb_list_column_families(opts, argv[1], &nfam, &err);
    if (err || nfam == 0) {
        fprintf(stderr, "store-dump: %s: %s\n", argv[1], err ? err : "no column family");
        free(err);
        if (fams)
            rocksdb_list_column_families_destroy(fams, nfam);
        rocksdb_options_destroy(opts);
        return 1;
    }
    const rocksdb_options_t **fopts = calloc(nfam, sizeof(*fopts));
    rocksdb_column_family_handle_t **cf = calloc(nfam, sizeof(*cf));
    if (!fopts || !cf)
        return 1;
    for (size_t i = 0; i < nfam; i++)
        fopts[i] = opts; /* reading needs no family's own options */
    rocksdb_t *db = rocksdb_open_for_read_only_column_families(
        opts, argv[1], (int)nfam, (const char *const *)fams, fopts, cf, 0, &err);
    if (!db) {
        fprintf(stderr, "store-dump: %s: %s\n", argv[1], err ? err : "?");
        free(err);
        rocksdb_list_column_families_destroy(fams, nfam);
        rocksdb_options_destroy(opts);
        return 1;
    }
    rocksdb_readoptions_t *ro = rocksdb_readoptions_create();
    rocksdb_readoptions_set_total_order_seek(ro, 1);
    int rc = 0;
    for (size_t f = 0; f < nfam && rc == 0; f++) {
        rocksdb_iterator_t *it = rocksdb_create_iterator_cf(db, ro, cf[f]);
        for (rocksdb_iter_seek_to_first(it); rocksdb_iter_valid(it); rocksdb_iter_next(it)) {
            size_t klen = 0, vlen = 0;
            const unsigned char *k = (const unsigned char *)rocksdb_iter_key(it, &klen);
            (void)rocksdb_iter_value(it, &vlen);
            for (size_t i = 0; i < klen; i++)
                printf("%02x", k[i]);
            printf(" %zu %s\n", vlen, fams[f]);
        }
        rocksdb_iter_get_error(it, &err);
        if (err) {
            fprintf(stderr, "store-dump: %s: %s\n", argv[1], err);
            free(err);
            rc = 1;
        }
        rocksdb_iter_destroy(it);
    }
    rocksdb_readoptions_destroy(ro);
    for (size_t i = 0; i < nfam; i++)
        rocksdb_column_family_handle_destroy(cf[i]);
    rocksdb_close(db);
    rocksdb_list_column_families_destroy(fams, nfam);
    free(cf);
    free(fopts);
    rocksdb_options_destroy(opts);
    return rc;
}
