/* pl_msg — the binary internal protocol between gateway, router and shard
 * (docs/internals.md "The binary protocol"). Pure functions, any thread; a pl_buf_t
 * belongs to one thread.
 *
 * One internal message is one ZeroMQ frame: a fixed 24-byte header (little-endian)
 *
 *   off size field
 *     0  u8  magic PL_MSG_MAGIC (0xB1: binary, version 1)
 *     1  u8  kind (pl_kind_t)
 *     2  u8  flags (PL_MF_*)
 *     3  u8  op (pl_op_t, pl_ops.h; 0 where the kind has none)
 *     4  u16 status (pl_status_t; 0 = ok)
 *     6  u16 shard (a shard id: HB/HELLO from a shard, REQN)
 *     8  u64 id (request id; a gateway's epoch in HB/LOC/GWHB)
 *    16  u64 seq (locseq in HB/LOC/GWHB; slot-table version in HB/HELLO/TABLE)
 *
 * followed by the kind's fields, each a u32 length and that many bytes (no padding), as
 * many as the kind has (pl_msg_decode checks the count). Text and stored events travel
 * in fields as opaque bytes. Messages the router relays for a third peer carry that
 * peer's name in a frame of its own before the message ("address frame"), so the router
 * moves the message frame untouched.
 *
 * Decoding is zero-copy: a pl_msg_t's fields point into the buffer given to
 * pl_msg_decode (e.g. a received zmq_msg_t), valid as long as that buffer is. */
#ifndef PL_MSG_H
#define PL_MSG_H
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <string.h>

#define PL_MSG_MAGIC 0xB1
#define PL_MSG_HDR 24
#define PL_MSG_FIELDS_MAX 4
/* Longest address frame (a peer name "g/<name>" or "s/<id>"). */
#define PL_MSG_ADDR_MAX 127

/* Message kinds. Values are wire values: never renumber. */
typedef enum {
    PL_K_HB = 1,      /* heartbeat (every direction); no fields */
    PL_K_HELLO = 2,   /* shard -> router at start / new connection; no fields */
    PL_K_REQ = 3,     /* request: [key, body]; router -> shard behind address gw */
    PL_K_REP = 4,     /* answer: [body]; shard -> router behind address gw */
    PL_K_EVT = 5,     /* event: [to (pl_list), skip, event]; shard -> router behind gw */
    PL_K_LOC = 6,     /* locations: [payload]; router -> shard behind address gw */
    PL_K_GWHB = 7,    /* a gateway's heartbeat relayed to shards behind address gw */
    PL_K_SNAP = 8,    /* "send a full LOC": shard -> router behind address gw */
    PL_K_TABLE = 9,   /* slot table: [table]; router -> gateway and shard */
    PL_K_FWD = 10,    /* shard to shard: [key, body] */
    PL_K_HEALTH = 11, /* gateway <-> router health probe; no fields */
    PL_K_REQN = 12,   /* request to shard number `shard`: [body]; router -> shard behind gw */
    PL_K_BATCH = 13,  /* id = count; [msgs]: several REP/EVT for one gateway (shard -> router
                         behind gw -> gateway), or with PL_MF_REQS several REQ/REQN of one
                         gateway (gateway -> router -> shard behind gw); pl_batch_* below */
    PL_K__MAX = 14
} pl_kind_t;

/* Header flags. */
#define PL_MF_FULL 0x01    /* LOC: payload is the full set, not a delta */
#define PL_MF_DOWN 0x02    /* HEALTH answer: some shard of the table is down */
#define PL_MF_ANSWER 0x04  /* HEALTH: the router's answer */
#define PL_MF_VERSION 0x08 /* HB/HELLO from a shard: seq is the slot table version it knows */
#define PL_MF_REQS 0x10    /* BATCH: the entries are REQ/REQN (else REP/EVT) */

/* Answer status (REP). Values are wire values: never renumber. */
typedef enum {
    PL_ST_OK = 0,
    PL_ST_BAD_REQUEST,
    PL_ST_UNAUTHENTICATED,
    PL_ST_FORBIDDEN,
    PL_ST_NOT_FOUND,
    PL_ST_TOO_LARGE,
    PL_ST_GROUP_FULL,
    PL_ST_TOO_MANY,
    PL_ST_RATE_LIMITED,
    PL_ST_UNAVAILABLE,
    PL_ST_INTERNAL,
    PL_ST_CONFLICT,
    PL_ST__MAX
} pl_status_t;

/* The error code string of status (pl_err.h; "ok" for 0); "internal" for unknown ones. */
const char *pl_status_name(unsigned status);
/* The status of an error code string (NUL-terminated); PL_ST_INTERNAL if unknown. */
pl_status_t pl_status_of(const char *name);

/* A borrowed byte range. */
typedef struct {
    const uint8_t *p;
    size_t n;
} pl_slice_t;

typedef struct {
    uint8_t kind, flags, op;
    uint16_t status, shard;
    uint64_t id, seq;
} pl_hdr_t;

typedef struct {
    pl_hdr_t h;
    int nf;
    pl_slice_t f[PL_MSG_FIELDS_MAX];
} pl_msg_t;

/* Decode errors (negative). */
enum {
    PL_MSG_E_SHORT = -1, /* shorter than the header */
    PL_MSG_E_MAGIC = -2, /* not PL_MSG_MAGIC: another version or not ours */
    PL_MSG_E_KIND = -3,  /* unknown kind */
    PL_MSG_E_FIELD = -4, /* a field's length runs past the end */
    PL_MSG_E_COUNT = -5, /* wrong number of fields for the kind */
    PL_MSG_E_BATCH = -6, /* BATCH: an entry runs past the end, or the count is wrong */
    PL_MSG_E_INNER = -7, /* BATCH: an entry does not decode, or is not of the batch's kinds */
};

/* Decode data[0..len) into m (fields point into data). Returns 0, or a PL_MSG_E_* code:
 * then m is unspecified. Never reads outside data[0..len). */
int pl_msg_decode(const void *data, size_t len, pl_msg_t *m);
/* A short English text for a PL_MSG_E_* code. */
const char *pl_msg_strerror(int err);
/* Name of a kind ("REQ"), "?" for unknown. */
const char *pl_kind_name(unsigned kind);
/* True if slice s equals the NUL-terminated string z. */
bool pl_slice_eq(pl_slice_t s, const char *z);
/* Copy s into buf (cap bytes) NUL-terminated; false (buf empty) if it does not fit or
 * holds a NUL byte. */
bool pl_slice_cstr(pl_slice_t s, char *buf, size_t cap);

/* ---- encoding ------------------------------------------------------------------------ */

/* A growable byte buffer, reused from message to message (pl_buf_reset keeps the
 * memory). Zero-initialise; pl_buf_free releases. After an allocation failure `failed`
 * stays set (and further appends do nothing) until pl_buf_reset. */
typedef struct {
    uint8_t *data;
    size_t len, cap;
    bool failed;
} pl_buf_t;

void pl_buf_reset(pl_buf_t *b);
void pl_buf_free(pl_buf_t *b);
/* Append n bytes. 0 or -1 (failed). */
int pl_buf_put(pl_buf_t *b, const void *p, size_t n);
/* pl_buf_put with the room check inlined: with a constant n (a literal: PL_BUF_LIT) the
 * copy is a few moves, not a call. Growth and failure as pl_buf_put (check b->failed). */
static inline void pl_buf_add(pl_buf_t *b, const void *p, size_t n)
{
    if (!b->failed && n <= b->cap - b->len) {
        memcpy(b->data + b->len, p, n);
        b->len += n;
    } else {
        pl_buf_put(b, p, n);
    }
}
/* Append a string literal without its NUL. */
#define PL_BUF_LIT(b, lit) pl_buf_add(b, lit, sizeof lit - 1)

/* Start a message in b (reset first): the header h. 0 or -1. */
int pl_msg_begin(pl_buf_t *b, const pl_hdr_t *h);
/* Append one field. 0 or -1. */
int pl_msg_field(pl_buf_t *b, const void *p, size_t n);
int pl_msg_field_str(pl_buf_t *b, const char *s);
/* Append n fields f[0..n) (one allocation check for all). 0 or -1. */
int pl_msg_fields(pl_buf_t *b, const pl_slice_t *f, int n);
/* Open a field whose bytes are appended next (pl_buf_put, pl_list_add); returns the
 * offset to give to pl_msg_field_end, which writes its length. */
size_t pl_msg_field_begin(pl_buf_t *b);
int pl_msg_field_end(pl_buf_t *b, size_t at);
/* Whole message in one call: header and nf fields. 0 or -1. */
int pl_msg_encode(pl_buf_t *b, const pl_hdr_t *h, int nf, const pl_slice_t *f);

/* ---- batches ------------------------------------------------------------------------- */
/* BATCH{id = count}[msgs]: several messages in one frame (one ZeroMQ message, one CURVE
 * box, one router relay instead of one each). msgs is a sequence of entries, each a u32
 * length and one complete message (header and fields), in the order they were added,
 * which is the order the receiver handles them in. Two families, told by the header's
 * flags, never mixed in one batch:
 *   - answers (no flag): REP and EVT for one gateway, shard -> router -> gateway;
 *   - requests (PL_MF_REQS): REQ and REQN of one gateway, gateway -> router (no address
 *     frame: the sender is the gateway) and router -> shard (behind the gateway's address).
 * The header's other fields are 0. A sender keeps a batch at most PL_BATCH_MAX bytes (a
 * message that does not fit goes after it; one larger than that goes alone, plain) and
 * sends a lone message plain, not as a batch of one. */
#define PL_BATCH_MAX (64 * 1024)
/* Bytes a batch adds: its header, the field length, and per entry a u32 length. */
#define PL_BATCH_OVERHEAD (PL_MSG_HDR + 4)
#define PL_BATCH_ENTRY 4

/* Start an empty batch of answers (REP/EVT) in b (reset first). 0 or -1. */
int pl_batch_begin(pl_buf_t *b);
/* Start an empty batch of requests (REQ/REQN, PL_MF_REQS) in b (reset first). 0 or -1. */
int pl_batch_begin_reqs(pl_buf_t *b);
/* Append the complete message msg[0..n) to the batch in b (started by pl_batch_begin*),
 * keeping b a valid BATCH (count and field length updated). 0 or -1. The caller checks
 * what it adds (a kind of the batch's family); a receiver rejects other kinds. */
int pl_batch_add(pl_buf_t *b, const void *msg, size_t n);
/* Write one message straight into the batch in b, without building it elsewhere first:
 * pl_batch_entry_begin opens an entry holding header h and returns where it starts; the
 * caller appends the message's fields (pl_msg_field, pl_msg_field_begin/_end, pl_buf_put);
 * pl_batch_entry_end closes it (its length, the batch's count and length): 0 or -1. After
 * a failure anywhere in between (b->failed), pl_batch_entry_abort(b, at) drops the partial
 * entry and clears `failed`: the batch is as it was before the begin. The caller keeps the
 * entry within PL_BATCH_ENTRY_MAX and the batch within PL_BATCH_MAX (pl_batch_fits). */
size_t pl_batch_entry_begin(pl_buf_t *b, const pl_hdr_t *h);
int pl_batch_entry_end(pl_buf_t *b, size_t at);
void pl_batch_entry_abort(pl_buf_t *b, size_t at);
/* The number of messages in the batch in b. */
uint64_t pl_batch_count(const pl_buf_t *b);
/* The largest message a batch can hold; a larger one goes alone, plain. */
#define PL_BATCH_ENTRY_MAX (PL_BATCH_MAX - PL_BATCH_OVERHEAD - PL_BATCH_ENTRY)
/* True if a message of n bytes can be added to the batch in b without taking it past
 * PL_BATCH_MAX (else the sender sends the batch first). */
bool pl_batch_fits(const pl_buf_t *b, size_t n);
/* What a sender puts on the wire for the batch in b (at least one entry): the batch, or,
 * when it holds one message, that message itself (the lone case goes plain). Points into
 * b. */
pl_slice_t pl_batch_frame(const pl_buf_t *b);
/* True if the decoded BATCH m is of the requests family (PL_MF_REQS). */
bool pl_batch_is_reqs(const pl_msg_t *m);

/* Reading: iterate over a decoded BATCH (m, from pl_msg_decode) with pl_batch_next.
 * pl_batch_check walks the whole batch first: 0 when every entry lies inside it and
 * decodes as a message of the batch's family (REP/EVT, or REQ/REQN with PL_MF_REQS) and
 * there are exactly m->h.id of them, else PL_MSG_E_BATCH or PL_MSG_E_INNER. A receiver
 * that must change nothing on bad input checks first, and checks the family it expects
 * (pl_batch_is_reqs). */
typedef struct {
    const uint8_t *p, *end;
    bool reqs; /* the batch's family: REQ/REQN (else REP/EVT) */
} pl_batch_it_t;
int pl_batch_check(const pl_msg_t *batch);
/* The number of messages the decoded BATCH m stands for (its header's count, 1 when that is
 * 0 or does not fit an int): what a receiver's drain counts against its bound. */
int pl_batch_weight(const pl_msg_t *m);
void pl_batch_iter(pl_batch_it_t *it, const pl_msg_t *batch);
/* The next message into *m (fields point into the batch): 1, 0 at the end, or a
 * PL_MSG_E_* code for a malformed entry (nothing more is read). */
int pl_batch_next(pl_batch_it_t *it, pl_msg_t *m);

/* ---- binary bodies (ops flagged PL_OPF_BIN) -------------------------------------------- */
/* A binary body is a sequence of fields, each a u32 length and that many bytes, in the
 * order of the op's `fields` in pl_ops.def; written with pl_msg_field into a pl_buf_t. */

/* Split body into exactly n fields (out[0..n)); 0, or -1 when it holds more or fewer or a
 * length runs past its end. */
int pl_body_fields(pl_slice_t body, pl_slice_t *out, int n);

/* ---- JSON text without a JSON library ------------------------------------------------- */

/* Append s[0..n) as a JSON string (quotes included), escaped as jansson writes it: \" \\
 * \b \f \n \r \t, other bytes below 0x20 as \u00XX, everything else (UTF-8) as is. The
 * caller has checked s is valid UTF-8. 0 or -1. */
int pl_json_str(pl_buf_t *b, const char *s, size_t n);
/* Append the decimal of v. 0 or -1. */
int pl_json_u64(pl_buf_t *b, uint64_t v);

/* ---- name lists (EVT recipients) ------------------------------------------------------ */
/* A list is a sequence of entries, each a u16 length and that many bytes. */

/* Append one entry (n <= 65535) to b (inside an open field). 0 or -1. */
int pl_list_add(pl_buf_t *b, const char *s, size_t n);
typedef struct {
    const uint8_t *p, *end;
} pl_list_it_t;
void pl_list_iter(pl_list_it_t *it, pl_slice_t list);
/* Next entry into *out: 1, 0 at the end, -1 if the list is malformed (an entry runs past
 * the end). */
int pl_list_next(pl_list_it_t *it, pl_slice_t *out);

#endif
