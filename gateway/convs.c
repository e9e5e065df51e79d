/* convs — the `convs` request: conv_list on the user's shard, then conv_info on the
 * shards owning those conversations (gather.c: one request per shard), merged in
 * conv_list order into {"type":"ok","id":..,"convs":[...]}. Loop thread only. */
#include "gw.h"

static const gather_spec_t s_conv_info = {.op = "conv_info",
                                          .prefix = "c:",
                                          .list_field = "convs",
                                          .answer_field = "convs",
                                          .entry_key = "conv"};

typedef struct {
    session_t *s; /* one reference */
    pending_t *p;
    char *id_json;
} convs_op_t;

static void s_destroy(convs_op_t **o_p)
{
    convs_op_t *o = *o_p;
    if (!o)
        return;
    session_unref(&o->s);
    free(o->id_json);
    free(o);
    *o_p = NULL;
}

static void s_on_list(void *arg, const char *status, const char *body, size_t len)
{
    convs_op_t *o = arg;
    json_t *b = NULL, *ids = NULL;
    if (strcmp(status, "ok") != 0) {
        session_answer(o->s, o->p, frame_error(o->id_json, status, body, len));
        goto done;
    }
    b = json_loadb(body, len, 0, NULL);
    json_t *list = json_object_get(b, "convs");
    ids = json_array();
    if (!json_is_array(list) || !ids) {
        session_answer(o->s, o->p,
                       frame_error(o->id_json, PL_E_INTERNAL, "malformed conv_list answer", 26));
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
    gather_start(o->s, o->p, o->id_json, &s_conv_info, ids);
done:
    json_decref(ids);
    json_decref(b);
    s_destroy(&o);
}

void convs_start(session_t *s, pending_t *p, const char *id_json)
{
    convs_op_t *o = calloc(1, sizeof *o);
    if (!o || !(o->id_json = strdup(id_json))) {
        free(o);
        session_answer(s, p, frame_error(id_json, PL_E_INTERNAL, "out of memory", 13));
        return;
    }
    o->s = session_ref(s);
    o->p = p;
    char key[40];
    snprintf(key, sizeof key, "u:%s", s->user);
    json_t *pl = json_pack("{s:s,s:s}", "op", "conv_list", "user", s->user);
    size_t len;
    char *text = pl ? json_text(pl, &len) : NULL;
    json_decref(pl);
    if (!text || zlink_request(s->gw->zl, key, text, len, s_on_list, o) != 0) {
        session_answer(s, p, frame_error(id_json, PL_E_UNAVAILABLE, "the router link is down", 23));
        s_destroy(&o);
    }
    free(text);
}
