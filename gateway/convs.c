/* convs — the `convs` request: conv_list on the user's shard, then one conv_info per
 * shard owning some of those conversations (grouped with the slot table from TABLE),
 * merged in conv_list order into {"type":"ok","id":..,"convs":[...]}.
 * Without a table yet, each conversation gets its own conv_info (keyed by itself, so it
 * still reaches the right shard). Any failing part fails the whole request. */
#include "gw.h"

typedef struct convs_op {
    session_t *s; /* one reference */
    pending_t *p;
    char *id_json;
    json_t *order; /* conv ids in conv_list order */
    json_t *info;  /* conv id -> object from conv_info */
    int outstanding;
    char err_code[32];
    char *err_msg;
} convs_op_t;

static void s_destroy(convs_op_t **o_p)
{
    convs_op_t *o = *o_p;
    if (!o)
        return;
    session_unref(&o->s);
    free(o->id_json);
    free(o->err_msg);
    json_decref(o->order);
    json_decref(o->info);
    free(o);
    *o_p = NULL;
}

static void s_fail(convs_op_t *o, const char *code, const char *msg, size_t len)
{
    session_answer(o->s, o->p, frame_error(o->id_json, code, msg, len));
    s_destroy(&o);
}

static void s_finish(convs_op_t *o)
{
    if (o->err_code[0]) {
        s_fail(o, o->err_code, o->err_msg ? o->err_msg : o->err_code,
               o->err_msg ? strlen(o->err_msg) : strlen(o->err_code));
        return;
    }
    json_t *arr = json_array();
    json_t *body = json_object();
    if (!arr || !body || json_object_set(body, "convs", arr) != 0)
        goto oom;
    size_t i;
    json_t *c;
    json_array_foreach(o->order, i, c)
    {
        json_t *obj = json_object_get(o->info, json_string_value(c));
        if (obj)
            json_array_append(arr, obj);
    }
    size_t len;
    char *text = json_text(body, &len);
    if (!text)
        goto oom;
    session_answer(o->s, o->p, frame_ok_splice(o->id_json, text, len));
    free(text);
    json_decref(arr);
    json_decref(body);
    s_destroy(&o);
    return;
oom:
    json_decref(arr);
    json_decref(body);
    s_fail(o, PL_E_INTERNAL, "out of memory", 13);
}

static void s_note_error(convs_op_t *o, const char *code, const char *msg, size_t len)
{
    if (o->err_code[0])
        return;
    snprintf(o->err_code, sizeof o->err_code, "%s", code);
    o->err_msg = strndup(msg ? msg : code, msg ? len : strlen(code));
}

static void s_on_info(void *arg, const char *status, const char *body, size_t len)
{
    convs_op_t *o = arg;
    if (strcmp(status, "ok") != 0) {
        s_note_error(o, status, body, len);
    } else {
        json_error_t err;
        json_t *b = json_loadb(body, len, 0, &err);
        json_t *arr = json_object_get(b, "convs");
        if (!json_is_array(arr)) {
            s_note_error(o, PL_E_INTERNAL, "malformed conv_info answer", 26);
        } else {
            size_t i;
            json_t *c;
            json_array_foreach(arr, i, c)
            {
                const char *id = json_string_value(json_object_get(c, "conv"));
                if (id)
                    json_object_set(o->info, id, c);
            }
        }
        json_decref(b);
    }
    if (--o->outstanding == 0)
        s_finish(o);
}

/* Send one conv_info for the ids in group (a JSON array, borrowed). */
static void s_send_info(convs_op_t *o, json_t *group)
{
    const char *first = json_string_value(json_array_get(group, 0));
    json_t *pl = json_pack("{s:s,s:s,s:O}", "op", "conv_info", "user", o->s->user, "convs", group);
    size_t len;
    char *text = pl ? json_text(pl, &len) : NULL;
    json_decref(pl);
    char key[80];
    snprintf(key, sizeof key, "c:%s", first ? first : "");
    o->outstanding++;
    if (!text || zlink_request(o->s->gw->zl, key, text, len, s_on_info, o) != 0) {
        o->outstanding--;
        s_note_error(o, PL_E_UNAVAILABLE, "the router link is down", 23);
    }
    free(text);
}

static void s_on_list(void *arg, const char *status, const char *body, size_t len)
{
    convs_op_t *o = arg;
    if (strcmp(status, "ok") != 0) {
        s_fail(o, status, body, len);
        return;
    }
    json_error_t err;
    json_t *b = json_loadb(body, len, 0, &err);
    json_t *list = json_object_get(b, "convs");
    if (!json_is_array(list)) {
        json_decref(b);
        s_fail(o, PL_E_INTERNAL, "malformed conv_list answer", 26);
        return;
    }
    const pl_slots_t *table = zlink_table(o->s->gw->zl);
    int nshards = table ? pl_slots_nshards(table) : 0;
    json_t **groups = nshards ? calloc((size_t)nshards, sizeof *groups) : NULL;
    size_t i;
    json_t *c;
    /* hold a reference so callbacks cannot finish o while groups are being sent */
    o->outstanding++;
    json_array_foreach(list, i, c)
    {
        const char *id = json_string_value(json_object_get(c, "conv"));
        if (!id)
            continue;
        json_array_append_new(o->order, json_string(id));
        char key[80];
        snprintf(key, sizeof key, "c:%s", id);
        int shard = groups ? pl_slots_owner_of_key(table, key) : -1;
        if (shard >= 0 && shard < nshards) {
            if (!groups[shard])
                groups[shard] = json_array();
            json_array_append_new(groups[shard], json_string(id));
        } else {
            json_t *one = json_pack("[s]", id);
            if (one)
                s_send_info(o, one);
            json_decref(one);
        }
    }
    for (int k = 0; k < nshards; k++) {
        if (groups[k] && json_array_size(groups[k]) > 0)
            s_send_info(o, groups[k]);
        json_decref(groups[k]);
    }
    free(groups);
    json_decref(b);
    if (--o->outstanding == 0)
        s_finish(o);
}

void convs_start(session_t *s, pending_t *p, const char *id_json)
{
    convs_op_t *o = calloc(1, sizeof *o);
    if (!o || !(o->id_json = strdup(id_json)) || !(o->order = json_array()) ||
        !(o->info = json_object())) {
        if (o) {
            free(o->id_json);
            json_decref(o->order);
            json_decref(o->info);
            free(o);
        }
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
    if (!text || zlink_request(s->gw->zl, key, text, len, s_on_list, o) != 0)
        s_fail(o, PL_E_UNAVAILABLE, "the router link is down", 23);
    free(text);
}
