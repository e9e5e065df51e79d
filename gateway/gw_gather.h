/* gw_gather — one request per owning shard for a list of keys, answers merged in key order
 * (gather.c). Loop thread only unless a comment says otherwise. */
#ifndef GW_GATHER_H
#define GW_GATHER_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <jansson.h>

typedef struct gw_req gw_req_t;

typedef struct {
    const char *op;           /* the op sent to each shard */
    const char *prefix;       /* routing key prefix of a key: "c:" or "u:" */
    const char *list_field;   /* payload field holding that shard's keys */
    const char *answer_field; /* array field of the shards' answers and of the ok frame */
    const char *entry_key;    /* field of an entry naming its key */
} gw_gather_spec_t;
/* Send spec->op with {"user": r->s->user, list_field: [keys of that shard]} to each shard
 * owning some of keys (a JSON array of strings, borrowed; a key repeated is asked once
 * and answered at every place), then answer r with {"type":"ok","id":..,answer_field:[the
 * entries in keys order; keys a shard left out are left out], ...members of extra (a JSON
 * object, borrowed; may be NULL)}, or with the first error. Takes r (which must have no
 * ctx: gather keeps its state there). spec must outlive the request (static). */
void gw_gather_start(gw_req_t *r, const gw_gather_spec_t *spec, json_t *keys, json_t *extra);

#endif
