/* convert — bring a data folder written by an older key layout to the current one
 * (docs/internals.md "RocksDB key layout", "Conversion").
 *
 * Layout 1 (before slots): every key was <tag><parts>, plus an `s<conv>` counter key.
 * Layout 2: the same key behind the be16 slot of its routing key, no counter keys, and
 * the meta key 0xff"layout" = "2". Layout 3: layout 2 with the idempotency keys in a
 * column family of their own (store.h), meta "layout" = "3". Layout 4: binary message
 * values (below). A layout-1 folder converts straight to 4 (the store routes the
 * converted `i` keys to their family); a layout-2
 * folder has its `i` keys moved to their family (one seek per slot; the family itself is
 * created when the store opens the folder). Conversion runs once, at open, before
 * anything reads:
 * each old key is rewritten (put new + delete old, in one WriteBatch per 1000 keys, with
 * the WAL and fsync), so a crash in the middle leaves every datum in exactly one of the
 * two forms and the next start simply continues; the meta key is written last.
 *
 * Thread: the shard's loop thread, before the modules are built. */
#ifndef SHARD_CONVERT_H
#define SHARD_CONVERT_H
#include "store.h"

/* The layout this code writes. Layout 4 is layout 3 whose new message values are binary
 * (msgval.h); the values of before tell themselves apart (their first byte), so a layout-3
 * folder is not rewritten: its meta key is set to 4, which keeps the binaries of layout 3
 * (which cannot read a binary message) from opening it afterwards. */
#define SHARD_LAYOUT 4

/* Convert the store to SHARD_LAYOUT if it is not already. Returns the number of keys
 * rewritten (0 for a new or already converted folder), or -1 on a storage error or a
 * folder of another layout (logged; the shard must not start). */
long shard_convert(shard_store_t *store);

#endif
