/* convs — the `convs` request: conv_list on the user's shard, then conv_info on the
 * shards owning those conversations (gather.c: one request per shard), merged in
 * conv_list order into {"type":"ok","id":..,"convs":[...],"more":bool[,"next":id]}.
 *
 * Paged (extension, docs/protocol.md "convs paging"): the user's conversations in byte
 * order of their ids, at most `limit` (1–1000, default 1000) strictly after the id
 * `after`; `more` says whether further ones exist, `next` (only with more) is the cursor
 * to pass as `after`. So no answer is unbounded. Loop thread only. */
#include "gw.h"
#include "gw_convs.h"
#include "gw_frames.h"
#include "gw_gather.h"
#include "gw_req.h"
#include "gw_types.h"
#include "gw_validate.h"
#include "gw_ws.h"
#include "gw_zlink.h"

#define GW_CONVS_PAGE_MAX 1000 /* = the shard's SHARD_CONVS_MAX */
#define GW_CONV_ID_MAX 72

static const gw_gather_spec_t s_conv_info = {.op = "conv_info",
                                             .prefix = "c:",
                                             .list_field = "convs",
                                             .answer_field = "convs",
                                             .entry_key = "conv"};

/* conv_list answered: hand the request on to gather.c (conv_info per shard), or answer its
 * error. o is a gw_req_t, taken either way. */
static void s_on_list(void *arg, const char *status, const char *body, size_t len)
{
    gw_req_t *o = arg;
    json_t *b = NULL, *ids = NULL, *extra = NULL;
    if (strcmp(status, "ok") != 0) {
        gw_req_finish(o, status, body, len);
        return;
    }
    b = json_loadb(body, len, 0, NULL);
    json_t *list = json_object_get(b, "convs");
    bool more = json_is_true(json_object_get(b, "more"));
    ids = json_array();
    extra = json_pack("{s:b}", "more", more);
    if (!json_is_array(list) || !ids || !extra) {
        gw_req_error(o, PL_E_INTERNAL, "malformed conv_list answer");
        goto done;
    }
    size_t i;
    json_t *c;
    json_array_foreach(list, i, c)
    {
        json_t *id = json_object_get(c, "conv");
        if (json_is_string(id))
            json_array_append(ids, id);
    }
    if (more && json_array_size(ids) > 0)
        json_object_set(extra, "next", json_array_get(ids, json_array_size(ids) - 1));
    gw_gather_start(o, &s_conv_info, ids, extra);
done:
    json_decref(extra);
    json_decref(ids);
    json_decref(b);
}

void gw_convs_start(gw_session_t *s, gw_pending_t *p, const char *id_json, const gw_type_def_t *t,
                    gw_frame_head_t *h)
{
    json_t *req = h->req;
    json_int_t limit = GW_CONVS_PAGE_MAX;
    const char *after = NULL;
    json_t *lv = json_object_get(req, "limit"), *av = json_object_get(req, "after");
    if (lv) {
        if (!json_is_integer(lv) || json_integer_value(lv) < 1 ||
            json_integer_value(lv) > GW_CONVS_PAGE_MAX) {
            static const char msg[] = "limit must be an integer from 1 to 1000";
            gw_session_answer(s, p, gw_frame_error(id_json, PL_E_BAD_REQUEST, msg, sizeof msg - 1));
            return;
        }
        limit = json_integer_value(lv);
    }
    if (av) {
        after = json_string_value(av);
        if (!json_is_string(av) || strlen(after) != json_string_length(av) || !*after ||
            strlen(after) >= GW_CONV_ID_MAX) {
            static const char msg[] = "after must be a conversation id";
            gw_session_answer(s, p, gw_frame_error(id_json, PL_E_BAD_REQUEST, msg, sizeof msg - 1));
            return;
        }
    }
    gw_req_t *o = gw_req_new(s, p, id_json);
    if (!o) {
        gw_session_answer(s, p, gw_frame_error(id_json, PL_E_INTERNAL, "out of memory", 13));
        return;
    }
    json_t *pl =
        json_pack("{s:s,s:s,s:I}", "op", pl_op_name(t->op), "user", s->user, "limit", limit);
    if (pl && after)
        json_object_set_new(pl, "after", json_string(after));
    o->payload = pl ? gw_json_text(pl, &o->payload_len) : NULL;
    json_decref(pl);
    if (!o->payload) {
        gw_req_error(o, PL_E_INTERNAL, "out of memory");
        return;
    }
    snprintf(o->key, sizeof o->key, "u:%s", s->user);
    gw_zlink_request(s->gw->zl, t->op, o->key, o->payload, o->payload_len, s_on_list, o);
    free(o->payload); /* zlink copied it; o is the callback's, but that runs later */
    o->payload = NULL;
}
