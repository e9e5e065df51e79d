/* convert — see convert.h. */
#include "convert.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "pl_hash.h"
#include "pl_log.h"

#define CONVERT_BATCH 1000

/* Slot of an old key (tag + first part up to a NUL), or -1 when its tag is unknown
 * (`q`/`Q`, the keys of main's durable push delivery, are a user/conv key). A
 * counter key (`s`) is not carried over: the counter is derived from the last message.
 * *drop is set for those. */
static int s_old_slot(const char *k, size_t len, bool *drop)
{
    *drop = false;
    if (len < 1)
        return -1;
    const char *first = k + 1;
    const char *nul = memchr(first, '\0', len - 1);
    size_t flen = nul ? (size_t)(nul - first) : len - 1;
    char route[SHARD_KEY_MAX + 2];
    if (flen + 2 > sizeof route)
        return -1;
    switch (k[0]) {
    case 'u':
    case 't':
    case 'x':
    case 'C':
    case 'p':
    case 'P':
    case 'q':
        memcpy(route, "u:", 2);
        break;
    case 'm':
    case 'i':
    case 'o':
    case 'r':
    case 'g':
    case 'n':
    case 'Q':
        memcpy(route, "c:", 2);
        break;
    case 's':
        *drop = true;
        return 0;
    default:
        return -1;
    }
    memcpy(route + 2, first, flen);
    return pl_slot(route, flen + 2);
}

/* Write the batch and empty it once it holds at least n operations. 0 or -1. */
static int s_write_from(shard_store_t *store, shard_batch_t *batch, int n)
{
    if (shard_batch_count(batch) < n)
        return 0;
    if (shard_store_write_offline(store, batch) != 0) /* nothing is served yet */
        return -1;
    shard_batch_clear(batch);
    return 0;
}

/* Layout 2 -> 3: every idempotency key (<S>i...) moves from the default family to its
 * own (shard_batch_put routes it there; shard_batch_del_main deletes the old copy), 1000
 * keys per WriteBatch with the WAL and fsync: one batch moves both copies at once, so a
 * crash leaves each key in exactly one family and the next start continues. One seek per
 * slot to its `i` range: the message keys are not read. Returns the keys moved, -1 on a
 * storage error. */
static long s_convert_2to3(shard_store_t *store)
{
    shard_key_t all = {.len = 0};
    shard_iter_t *it = shard_iter_new(store, &all); /* the empty prefix: the default family */
    shard_batch_t *batch = shard_batch_new(store);
    long done = 0;
    if (!it || !batch)
        goto fail;
    for (int slot = 0; slot < PL_SLOTS; slot++) {
        shard_key_t from;
        shard_key_tag_prefix(&from, slot, 'i');
        for (shard_iter_seek(it, &from); shard_iter_valid(it); shard_iter_next(it)) {
            size_t klen = 0, vlen = 0;
            const char *k = shard_iter_key(it, &klen);
            if (klen < 3 || memcmp(k, from.buf, 3) != 0 || klen > SHARD_KEY_MAX)
                break;
            const char *v = shard_iter_value(it, &vlen);
            shard_key_t key;
            memcpy(key.buf, k, klen);
            key.len = klen;
            shard_batch_del_main(batch, &key);
            shard_batch_put(batch, &key, v, vlen); /* routed to the idempotency family */
            done++;
            if (s_write_from(store, batch, 2 * CONVERT_BATCH) != 0) /* a del and a put each */
                goto fail;
        }
        if (shard_iter_status(it) != 0)
            goto fail;
    }
    if (s_write_from(store, batch, 1) != 0)
        goto fail;
    shard_iter_destroy(&it);
    shard_batch_destroy(&batch);
    return done;
fail:
    shard_iter_destroy(&it);
    shard_batch_destroy(&batch);
    return -1;
}

/* Write the meta key: the folder is of SHARD_LAYOUT from now on. 0 or -1. */
static int s_mark(shard_store_t *store, const shard_key_t *meta)
{
    char text[8];
    snprintf(text, sizeof text, "%d", SHARD_LAYOUT);
    return shard_store_put(store, meta, text, strlen(text), true);
}

long shard_convert(shard_store_t *store)
{
    shard_key_t meta, all;
    char *val = NULL;
    size_t vlen = 0;
    shard_key_meta(&meta, "layout");
    int rc = shard_store_get(store, &meta, &val, &vlen);
    if (rc < 0)
        return -1;
    if (rc == 1) {
        int layout = atoi(val);
        free(val);
        if (layout == SHARD_LAYOUT)
            return 0;
        if (layout == 3) { /* nothing to rewrite: message values tell their format apart */
            if (s_mark(store, &meta) != 0) {
                pl_error("store: key layout 3 -> %d: cannot write the layout", SHARD_LAYOUT);
                return -1;
            }
            pl_info("store: key layout 3 is now %d (new messages stored as version-2 values; "
                    "older ones read as they are)",
                    SHARD_LAYOUT);
            return 0;
        }
        if (layout == 2) {
            long moved = s_convert_2to3(store);
            if (moved < 0 || s_mark(store, &meta) != 0) {
                pl_error("store: key layout conversion 2 -> %d failed", SHARD_LAYOUT);
                return -1;
            }
            pl_info("store: converted key layout 2 to %d: %ld idempotency keys moved to their "
                    "own column family",
                    SHARD_LAYOUT, moved);
            return moved;
        }
        pl_error("store: data folder has key layout %d, this shard writes %d and converts "
                 "layouts 1 to 3",
                 layout, SHARD_LAYOUT);
        return -1;
    }
    /* Old keys start with a letter: seek past every slot key (< 0x40), stop at meta. */
    all.len = 0;
    shard_iter_t *it = shard_iter_new(store, &all);
    shard_batch_t *batch = shard_batch_new(store);
    long done = 0, skipped = 0;
    if (!it || !batch)
        goto fail;
    shard_key_t from = {.len = 1, .buf = {0x40}};
    for (shard_iter_seek(it, &from); shard_iter_valid(it); shard_iter_next(it)) {
        size_t klen = 0, len = 0;
        const char *k = shard_iter_key(it, &klen);
        if (klen == 0)
            continue;
        if ((unsigned char)k[0] == 0xff)
            break;
        bool drop = false;
        int slot = s_old_slot(k, klen, &drop);
        shard_key_t old, key;
        if (slot < 0 || klen > SHARD_KEY_MAX - 2) {
            if (skipped++ < 10)
                pl_warn("store: conversion leaves an unknown key (tag 0x%02x, %zu bytes)",
                        (unsigned char)k[0], klen);
            continue;
        }
        memcpy(old.buf, k, klen);
        old.len = klen;
        shard_batch_del(batch, &old);
        if (!drop) {
            const char *v = shard_iter_value(it, &len);
            shard_key_slot(&key, slot);
            memcpy(key.buf + 2, k, klen);
            key.len = klen + 2;
            shard_batch_put(batch, &key, v, len);
        }
        done++;
        if (s_write_from(store, batch, CONVERT_BATCH) != 0)
            goto fail;
    }
    if (shard_iter_status(it) != 0)
        goto fail;
    if (s_write_from(store, batch, 1) != 0)
        goto fail;
    if (s_mark(store, &meta) != 0)
        goto fail;
    if (done > 0 || skipped > 0)
        pl_info("store: converted %ld keys to key layout %d (%ld unknown keys left)", done,
                SHARD_LAYOUT, skipped);
    shard_iter_destroy(&it);
    shard_batch_destroy(&batch);
    return done;
fail:
    pl_error("store: key layout conversion failed");
    shard_iter_destroy(&it);
    shard_batch_destroy(&batch);
    return -1;
}
