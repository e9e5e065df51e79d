/* gw_validate — checks of client frames that need no state (PROTOCOL.md §3): the frame's
 * head (JSON object, string id, type) and the conversation requests (send, sync, history,
 * read, typing: field types, lengths, U+0000, the conversation id and the dm caller's
 * membership). requests.c answers with the verdict and builds the shard's payload from
 * what was validated; unit-tested in validate_test.c.
 *
 * Pure functions, loop thread or any other (no gateway state). UTF-8: a frame that is not
 * valid UTF-8 is refused (invalid JSON), so every string here is valid UTF-8. The frame is
 * parsed by yajl (validate.c: exactly what jansson's json_loadb accepted is accepted); a
 * flat frame (an object of strings, numbers, booleans and nulls) is kept as its list of
 * members, without a jansson object, until a reader asks for one (gw_frame_req). */
#ifndef GW_VALIDATE_H
#define GW_VALIDATE_H

#include <jansson.h>
#include <stdbool.h>
#include <stddef.h>

#include "pl_text.h"

/* A refusal: code (a PL_E_* of pl_err.h) and a human message (static); code NULL: valid. */
typedef struct {
    const char *code;
    const char *msg;
} gw_verdict_t;

#define GW_VERDICT_OK ((gw_verdict_t){NULL, NULL})

typedef struct gw_type_def gw_type_def_t; /* gw_types.h */

/* A member of a flat frame: a scalar. */
typedef enum { GW_M_STRING, GW_M_INTEGER, GW_M_REAL, GW_M_TRUE, GW_M_FALSE, GW_M_NULL } gw_mkind_t;

typedef struct {
    const char *key; /* NUL-terminated, in the head's scratch */
    size_t key_len;
    gw_mkind_t kind;
    const char *str; /* GW_M_STRING: NUL-terminated (holds no U+0000), in the scratch */
    size_t len;
    json_int_t i; /* GW_M_INTEGER */
    double d;     /* GW_M_REAL */
} gw_member_t;

/* Members of a flat frame kept as such (more: the frame gets a jansson object). */
#define GW_FLAT_MAX 12

/* The head of a client frame. */
typedef struct gw_frame_head {
    json_t *req;   /* the frame as a JSON object (owned: the caller decrefs), or NULL:
                    * a flat frame not (yet) built into one (gw_frame_req) */
    char *id_json; /* its id as JSON text, e.g. "\"7\"", or NULL: in id_small, or
                    * malloc'd (owned: gw_frame_head_clear frees it) */
    char id_small[40];
    bool ascii;       /* every byte of the frame is ASCII and it holds no "\u": so is every
                       * string in it (its characters are its bytes) */
    bool has_type;    /* a "type" member is present */
    const char *type; /* its string; "(holds U+0000)" if it holds U+0000 (no known type);
                       * NULL if absent or not a string */
    /* a flat frame (req NULL until gw_frame_req): its members, their strings and names
     * copied into scratch (the small buffer, or malloc'd for a large frame: owned) */
    size_t nflat;
    gw_member_t flat[GW_FLAT_MAX];
    char *scratch;
    char scratch_small[320];
} gw_frame_head_t;

/* Parse data (len bytes; binary: a binary WebSocket message) into h (zeroed first).
 * Valid: a text frame holding a JSON object (no duplicate keys) with a string "id". A
 * refusal has code bad_request (the caller answers unauthenticated instead on a first
 * frame) or internal (out of memory); its frame carries no id. h->req and h->id_json are
 * the caller's to free in every case (gw_frame_head_clear). */
gw_verdict_t gw_frame_head(const char *data, size_t len, bool binary, gw_frame_head_t *h);
/* Free what h owns; idempotent. */
void gw_frame_head_clear(gw_frame_head_t *h);
/* The frame of a valid head as a jansson object (h->req, built from the flat members the
 * first time: what json_loadb would have made of the frame); borrowed, h keeps it. NULL
 * when out of memory. */
json_t *gw_frame_req(gw_frame_head_t *h);

/* A string member `name` of req without U+0000 (its length in *len_out if not NULL);
 * *out NULL when absent (refused when required). */
gw_verdict_t gw_valid_str(json_t *req, const char *name, bool required, const char **out,
                          size_t *len_out);
/* An integer member in [min, max] into *out; *present false (and valid) when absent. */
gw_verdict_t gw_valid_int(json_t *req, const char *name, json_int_t min, json_int_t max,
                          json_int_t *out, bool *present);

/* conv is a well-formed group id (existence and membership are its shard's business), or
 * a dm "dm:<a>:<b>" that user belongs to: other (33 bytes) gets the dm's other user ("" for
 * a group). Refused: bad_request (not a conversation id), forbidden (not a member). */
gw_verdict_t gw_valid_conv(const char *user, const char *conv, char *other);

/* A validated conversation request; every pointer is borrowed from the frame. */
typedef struct {
    const char *conv;
    char other[PL_USER_MAX + 1]; /* a dm's other user, "" for a group */
    const char *cmid;            /* send: client_msg_id */
    const char *text;            /* send: the text (non-empty, no U+0000), text_len bytes */
    size_t text_len;
    json_int_t seq;    /* read */
    json_int_t after;  /* sync (0 when absent) */
    json_int_t before; /* history, when has_before */
    bool has_before;
    json_int_t limit; /* sync (default 100) and history (default 50): 1..500 */
} gw_conv_req_t;

/* Validate h (a valid head: gw_frame_head), a frame of row t (gw_types.h) send, sync,
 * history, read or typing from user (another row or NULL: "unknown request type", after
 * the conv check), into *out (zeroed first; its pointers borrow from h). Reads the flat
 * members, or h->req when the frame has one. Checks in this order: conv present and a string; then
 * the type's fields (send: client_msg_id 1..64 characters, text non-empty, without U+0000, at most
 * PL_TEXT_MAX_CP characters (too_large); read: seq >= 0; sync: after >= 0; history:
 * before >= 1; sync/history: limit 1..500); then gw_valid_conv, unless memo (may be NULL)
 * holds this conv: then its other is taken as the check's. */
typedef struct {
    char conv[PL_CONV_MAX + 1];  /* a conv that passed gw_valid_conv for this user; "": none */
    char other[PL_USER_MAX + 1]; /* what it gave */
} gw_conv_memo_t;
gw_verdict_t gw_valid_conv_request(const char *user, const gw_type_def_t *t,
                                   const gw_frame_head_t *h, gw_conv_req_t *out,
                                   const gw_conv_memo_t *memo);

#endif
