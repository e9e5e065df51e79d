/* gather — one request per owning shard for a list of keys, answers merged in list order.
 *
 * `convs` (conv_info for the user's conversations) and `presence` (presence_get for up to
 * 500 names) both fan one client request out to the shards that own its keys — grouped
 * with the slot table from TABLE, so it costs one round trip per shard, not per key — and
 * answer with the entries in the order the keys were given. Without a table yet every key
 * gets its own request (keyed by itself, so it still reaches the right shard). Any
 * failing part fails the whole request with the first error. Loop thread only. */
#include "gw.h"
#include "gw_frames.h"
#include "gw_gather.h"
#include "gw_req.h"
#include "gw_ws.h"
#include "gw_zlink.h"

/* The gather state of a request (its gw_req_t's ctx). */
typedef struct {
    const gw_gather_spec_t *spec; /* static */
    json_t *order;                /* the keys as given (duplicates kept) */
    json_t *extra;                /* members added to the ok frame, or NULL */
    json_t *found;                /* key -> entry object from a shard */
    int outstanding;
    char err_code[32];
    char *err_msg;
} gather_t;

static void s_ctx_free(void *ctx)
{
    gather_t *g = ctx;
    free(g->err_msg);
    json_decref(g->order);
    json_decref(g->extra);
    json_decref(g->found);
}

/* Keep the first error. An empty status (zlink passes what the frame holds) counts as
 * internal: err_code must be set by the first call, else a second one leaks err_msg. */
static void s_note_error(gather_t *g, const char *code, const char *msg, size_t len)
{
    if (g->err_code[0])
        return;
    snprintf(g->err_code, sizeof g->err_code, "%s", code[0] ? code : PL_E_INTERNAL);
    g->err_msg = strndup(msg ? msg : code, msg ? len : strlen(code));
}

static void s_finish(gw_req_t *r)
{
    gather_t *g = r->ctx;
    gw_blob_t *f = NULL;
    if (!g->err_code[0]) {
        json_t *arr = json_array();
        json_t *body = arr ? json_pack("{s:o}", g->spec->answer_field, arr) : NULL;
        if (body && g->extra)
            json_object_update(body, g->extra);
        size_t i, len;
        json_t *k;
        json_array_foreach(g->order, i, k)
        {
            json_t *e = json_object_get(g->found, json_string_value(k));
            if (e && body)
                json_array_append(arr, e);
        }
        char *text = body ? gw_json_text(body, &len) : NULL;
        if (text)
            f = gw_frame_ok_splice(r->id_json, text, len);
        free(text);
        json_decref(body);
        if (!f)
            s_note_error(g, PL_E_INTERNAL, "out of memory", 13);
    }
    if (g->err_code[0]) {
        const char *m = g->err_msg ? g->err_msg : g->err_code;
        f = gw_frame_error(r->id_json, g->err_code, m, strlen(m));
    }
    gw_req_answer(r, f);
}

static void s_on_answer(void *arg, const char *status, const char *body, size_t len)
{
    gw_req_t *r = arg;
    gather_t *g = r->ctx;
    if (strcmp(status, "ok") != 0) {
        s_note_error(g, status, body, len);
    } else {
        json_t *b = json_loadb(body, len, 0, NULL);
        json_t *arr = json_object_get(b, g->spec->answer_field);
        if (!json_is_array(arr))
            s_note_error(g, PL_E_INTERNAL, "malformed answer from a shard", 29);
        size_t i;
        json_t *e;
        json_array_foreach(arr, i, e)
        {
            const char *k = json_string_value(json_object_get(e, g->spec->entry_key));
            if (k)
                json_object_set(g->found, k, e);
        }
        json_decref(b);
    }
    if (--g->outstanding == 0)
        s_finish(r);
}

/* One request for the keys in group (a non-empty JSON array, borrowed). */
static void s_send(gw_req_t *r, json_t *group)
{
    gather_t *g = r->ctx;
    char key[80];
    snprintf(key, sizeof key, "%s%s", g->spec->prefix, json_string_value(json_array_get(group, 0)));
    json_t *pl = json_pack("{s:s,s:s,s:O}", "op", g->spec->op, "user", r->s->user,
                           g->spec->list_field, group);
    size_t len;
    char *text = pl ? gw_json_text(pl, &len) : NULL;
    json_decref(pl);
    if (!text) {
        s_note_error(g, PL_E_INTERNAL, "out of memory", 13);
        return;
    }
    g->outstanding++;
    gw_zlink_request(r->s->gw->zl, pl_op_by_name(g->spec->op, strlen(g->spec->op)), key, text, len,
                     s_on_answer, r);
    free(text);
}

void gw_gather_start(gw_req_t *r, const gw_gather_spec_t *spec, json_t *keys, json_t *extra)
{
    gather_t *g = NULL;
    if (!r->ctx) {
        r->ctx = g = calloc(1, sizeof *g);
        r->ctx_free = s_ctx_free;
    }
    if (!g || !(g->found = json_object())) {
        gw_req_error(r, PL_E_INTERNAL, "out of memory");
        return;
    }
    g->spec = spec;
    g->order = json_incref(keys);
    g->extra = json_incref(extra);
    const pl_slots_t *table = gw_zlink_table(r->s->gw->zl);
    int nshards = table ? pl_slots_nshards(table) : 0;
    json_t **groups = nshards ? calloc((size_t)nshards, sizeof *groups) : NULL;
    json_t *seen = json_object();
    if (!seen || (nshards && !groups))
        s_note_error(g, PL_E_INTERNAL, "out of memory", 13);
    g->outstanding++; /* held while sending, so no answer finishes g meanwhile */
    size_t i;
    json_t *k;
    json_array_foreach(keys, i, k)
    {
        const char *id = json_string_value(k);
        if (!id || !seen || json_object_get(seen, id))
            continue; /* each key is asked once */
        json_object_set_new(seen, id, json_true());
        char key[80];
        snprintf(key, sizeof key, "%s%s", spec->prefix, id);
        int shard = groups ? pl_slots_owner_of_key(table, key) : -1;
        if (shard >= 0 && shard < nshards) {
            if (!groups[shard])
                groups[shard] = json_array();
            json_array_append_new(groups[shard], json_string(id));
        } else {
            json_t *one = json_pack("[s]", id);
            if (one)
                s_send(r, one);
            json_decref(one);
        }
    }
    for (int sh = 0; groups && sh < nshards; sh++) {
        if (groups[sh] && json_array_size(groups[sh]) > 0)
            s_send(r, groups[sh]);
        json_decref(groups[sh]);
    }
    free(groups);
    json_decref(seen);
    if (--g->outstanding == 0)
        s_finish(r);
}
