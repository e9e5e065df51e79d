/* store-dump — list the keys of a shard's RocksDB folder, for 25-store.test.js.
 *
 *   store-dump <folder>
 *
 * Opens the folder read-only (the shard must be stopped, or at least not mid-write) and
 * prints one line per key in key order: the key in hex, a space, the value's length.
 * Exit 0, or 1 (message on stderr) when the folder cannot be opened or read. */
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
    rocksdb_options_t *opts = rocksdb_options_create();
    rocksdb_t *db = rocksdb_open_for_read_only(opts, argv[1], 0, &err);
    if (!db) {
        fprintf(stderr, "store-dump: %s: %s\n", argv[1], err ? err : "?");
        free(err);
        rocksdb_options_destroy(opts);
        return 1;
    }
    rocksdb_readoptions_t *ro = rocksdb_readoptions_create();
    rocksdb_iterator_t *it = rocksdb_create_iterator(db, ro);
    for (rocksdb_iter_seek_to_first(it); rocksdb_iter_valid(it); rocksdb_iter_next(it)) {
        size_t klen = 0, vlen = 0;
        const unsigned char *k = (const unsigned char *)rocksdb_iter_key(it, &klen);
        (void)rocksdb_iter_value(it, &vlen);
        for (size_t i = 0; i < klen; i++)
            printf("%02x", k[i]);
        printf(" %zu\n", vlen);
    }
    rocksdb_iter_get_error(it, &err);
    int rc = 0;
    if (err) {
        fprintf(stderr, "store-dump: %s: %s\n", argv[1], err);
        free(err);
        rc = 1;
    }
    rocksdb_iter_destroy(it);
    rocksdb_readoptions_destroy(ro);
    rocksdb_close(db);
    rocksdb_options_destroy(opts);
    return rc;
}
