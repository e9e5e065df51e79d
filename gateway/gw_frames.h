/* gw_frames — reference-counted output blobs and the client frames built from them (PROTOCOL.md §3:
 * ok and error frames) (frames.c). Loop thread only unless a comment says otherwise. */
#ifndef GW_FRAMES_H
#define GW_FRAMES_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <jansson.h>

typedef struct gw_blob gw_blob_t;

struct gw_blob {
    int refs;
    size_t len;
    /* event frames from shards: where the conversation id sits in data (conv_len 0: an
     * answer, or an event without conv); set by gw_sessions_deliver, see gw_blob_tag_conv */
    uint32_t conv_off, conv_len;
    int queued;  /* budget.c: out queues holding it (its bytes count once per gateway) */
    int cls;     /* frames.c: its size class in the free lists, -1: malloc'd to size */
    char data[]; /* len bytes plus a NUL */
};
/* New blob with room for len bytes (data[len] = 0), refs 1; NULL on OOM. */
gw_blob_t *gw_blob_alloc(size_t len);
/* New blob holding a copy of data; NULL on OOM. */
gw_blob_t *gw_blob_new(const char *data, size_t len);
gw_blob_t *gw_blob_ref(gw_blob_t *self);
/* Tag an event frame with its conversation, read from the prefix every shard event has:
 * {"type":"<type>","conv":"<conv>", (no parsing of the rest). Untagged if it does not
 * match. */
void gw_blob_tag_conv(gw_blob_t *self);
/* Free the blobs kept for reuse (frames.c keeps up to 512 of each of two small sizes).
 * At exit, once no blob is in use. */
void gw_frames_pool_free(void);
/* Drops one reference, frees at zero, nulls *self_p. Idempotent. */
void gw_blob_unref(gw_blob_t **self_p);

/* {"type":"ok","id":<id_json>, ...members of body...}. body is a JSON object from a shard
 * (not re-parsed: only checked to begin with '{'). NULL if body is not an object / OOM. */
gw_blob_t *gw_frame_ok_splice(const char *id_json, const char *body, size_t body_len);
/* {"type":"error"[,"id":<id_json>],"code":code,"message":msg}. id_json may be NULL;
 * msg need not be valid UTF-8 (then code is used as message). NULL on OOM. */
gw_blob_t *gw_frame_error(const char *id_json, const char *code, const char *msg, size_t msg_len);
/* Compact JSON text of obj, malloc'd (caller frees); NULL on failure. */
char *gw_json_text(const json_t *obj, size_t *len_out);

#endif
