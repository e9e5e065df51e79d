/* msgval — the value stored under a message key (keys.h shard_key_msg), and the `msg`
 * event JSON that clients see (docs/internals.md "Stored message values").
 *
 A value written by this version (layout 4) has a version byte first:
 *
 *     0x02, be64 ts (ms), the event's JSON after its seq: ,"from":...,"client_msg_id":"..."}
 *
 * (conv and seq are in the key): what the send rendered for its event, so a page copies it
 * behind the head, conv and seq instead of escaping every string again (version 1, the
 * fields in binary, cost a page ≈ 1 k instructions per message to render; T5's run-to-run
 * spread on the test VM hid the difference, docs/benchmarks.md). Version 1 is
 * 0x01, be64 ts, u8 n + from, u8 n + device, be16 n + client_msg_id, text (the rest of
 * the value). A value written before layout 4 is the event's JSON text itself; it starts
 * with '{'. The first byte tells the three apart and all are read forever, without a
 * conversion. The JSON of
 * an event is {"type":"msg","conv","seq","from","device","text","ts","client_msg_id"} in
 * that order (clients and the gateway's conv tag rely on it), strings escaped once by
 * pl_json_str: the JSON rendered from a binary value is byte for byte what the old
 * versions stored.
 *
 * Pure functions, any thread; the fields of a decoded value point into it. */
#ifndef SHARD_MSGVAL_H
#define SHARD_MSGVAL_H
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "pl_msg.h"

#define SHARD_MSGVAL_V1 0x01
#define SHARD_MSGVAL_V2 0x02

/* One message's fields (pointers borrowed, not NUL-terminated; lengths in bytes). */
typedef struct {
    const char *conv, *from, *device, *cmid, *text;
    size_t conv_len, from_len, device_len, cmid_len, text_len;
    uint64_t seq;
    int64_t ts; /* ms; a negative one is written as 0 */
} shard_msgval_t;

/* Where shard_msgval_json put conv (as a JSON string), seq and ts (decimal): offsets from
 * the start of what it appended, and lengths. */
typedef struct {
    size_t conv_at, conv_n, seq_at, seq_n, ts_at, ts_n;
} shard_msgval_spots_t;

/* Append m's event JSON to b (no NUL). spots may be NULL. 0, or -1 (out of memory: b->len
 * is as before, b->failed cleared). */
int shard_msgval_json(pl_buf_t *b, const shard_msgval_t *m, shard_msgval_spots_t *spots);
/* Append m's binary value (version 1; conv and seq are not in it) to b. 0, or -1 when a
 * field is longer than the format holds (from, device > 255 bytes, client_msg_id >
 * 65,535: never for validated fields) or out of memory (b->len as before). */
int shard_msgval_encode(pl_buf_t *b, const shard_msgval_t *m);
/* Append the version-2 value of a message with ts whose event JSON after its seq is
 * tail (`,"from":` ... `}`) to b. 0, or -1 (out of memory: b->len as before). */
int shard_msgval_encode_tail(pl_buf_t *b, int64_t ts, const char *tail, size_t tail_len);
/* Read a stored value: 1 and m's from/device/cmid/text/ts set (pointing into val) for a
 * version-1 value; 2 and m's ts set, and text the JSON tail, for a version-2 value; 0 for
 * a JSON value of the older versions (m untouched); -1 for a value that is none of them
 * (corrupt). */
int shard_msgval_decode(const void *val, size_t len, shard_msgval_t *m);
/* Append the event JSON of a stored value of conv's message seq to out: a JSON value as
 * it is, a binary one rendered. 0, or -1 (corrupt value or out of memory: out->len as
 * before, out->failed cleared). */
int shard_msgval_render(pl_buf_t *out, const char *conv, size_t conv_len, uint64_t seq,
                        const void *val, size_t len);
/* The ts of a stored value (either version). 0, or -1 when it has none (corrupt). */
int shard_msgval_ts(const void *val, size_t len, int64_t *ts);

#endif
