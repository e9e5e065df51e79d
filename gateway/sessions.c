/* sessions — which users hold authenticated sockets here, the location table updates we
 * owe the shards (docs/internals.md "Where devices are"), and EVT delivery.
 *
 * A user's first session sends LOC add at once, before its auth ok is written, so every
 * later request of that socket reaches a shard after the shard learned the location.
 * A user's last session going away only queues a del; dels go out batched once a second
 * (a user back within the second is simply taken off the batch). */
#include "gw.h"
#include "gw_frames.h"
#include "gw_presence.h"
#include "gw_sessions.h"
#include "gw_ws.h"
#include "gw_zlink.h"
#include "pl_text.h"

typedef struct user_entry {
    gw_session_t *head; /* this user's authenticated sessions */
    int count;
} user_entry_t;

static void s_entry_destroy(void **item)
{
    free(*item);
    *item = NULL;
}

int gw_sessions_init(gw_t *gw)
{
    gw->users = zhashx_new();
    gw->loc_del = zhashx_new();
    if (!gw->users || !gw->loc_del)
        return -1;
    zhashx_set_destructor(gw->users, s_entry_destroy);
    return 0;
}

void gw_sessions_fini(gw_t *gw)
{
    zhashx_destroy(&gw->users);
    zhashx_destroy(&gw->loc_del);
}

/* Send one LOC with key ("add", "del" or "full") and the given names. */
static void s_send_loc(gw_t *gw, const char *key, zlistx_t *names)
{
    json_t *arr = json_array();
    json_t *obj = json_object();
    if (!arr || !obj)
        goto done;
    for (const char *u = zlistx_first(names); u; u = zlistx_next(names))
        json_array_append_new(arr, json_string(u));
    if (json_object_set(obj, key, arr) != 0)
        goto done;
    size_t len;
    char *text = gw_json_text(obj, &len);
    if (text) {
        gw_zlink_loc(gw->zl, strcmp(key, "full") == 0, text, len);
        free(text);
    }
done:
    json_decref(arr);
    json_decref(obj);
}

int gw_sessions_register(gw_t *gw, gw_session_t *s)
{
    if (s->registered)
        return 0;
    user_entry_t *e = zhashx_lookup(gw->users, s->user);
    if (!e) {
        e = calloc(1, sizeof *e);
        if (!e || zhashx_insert(gw->users, s->user, e) != 0) {
            free(e);
            return -1;
        }
        zhashx_delete(gw->loc_del, s->user);
        zlistx_t *one = zlistx_new();
        if (one) {
            zlistx_add_end(one, s->user);
            s_send_loc(gw, "add", one);
            zlistx_destroy(&one);
        }
        pl_info("user %s online here", s->user);
    }
    s->uprev = NULL;
    s->unext = e->head;
    if (e->head)
        e->head->uprev = s;
    e->head = s;
    e->count++;
    s->registered = true;
    gw_presence_session_live(s);
    return 0;
}

void gw_sessions_announce(gw_t *gw, const char *user)
{
    if (zhashx_lookup(gw->users, user))
        return; /* held here already: the shards know */
    zlistx_t *one = zlistx_new();
    if (!one)
        return;
    zlistx_add_end(one, (void *)user);
    s_send_loc(gw, "add", one);
    zlistx_destroy(&one);
    /* taken back at the next tick unless gw_sessions_register takes it off the batch */
    zhashx_insert(gw->loc_del, user, (void *)1);
}

void gw_sessions_unregister(gw_t *gw, gw_session_t *s)
{
    if (!s->registered)
        return;
    s->registered = false;
    gw_presence_session_gone(s);
    user_entry_t *e = zhashx_lookup(gw->users, s->user);
    if (!e)
        return;
    if (s->uprev)
        s->uprev->unext = s->unext;
    else
        e->head = s->unext;
    if (s->unext)
        s->unext->uprev = s->uprev;
    s->uprev = s->unext = NULL;
    if (--e->count > 0)
        return;
    zhashx_delete(gw->users, s->user);
    zhashx_insert(gw->loc_del, s->user, (void *)1);
    pl_info("user %s offline here", s->user);
}

gw_session_t *gw_sessions_of(gw_t *gw, const char *user)
{
    user_entry_t *e = zhashx_lookup(gw->users, user);
    return e ? e->head : NULL;
}

void gw_sessions_tick(gw_t *gw)
{
    if (zhashx_size(gw->loc_del) == 0)
        return;
    zlistx_t *names = zhashx_keys(gw->loc_del);
    if (!names)
        return;
    s_send_loc(gw, "del", names);
    zlistx_destroy(&names);
    zhashx_purge(gw->loc_del);
}

void gw_sessions_snapshot(gw_t *gw)
{
    zlistx_t *names = zhashx_keys(gw->users);
    if (!names)
        return;
    s_send_loc(gw, "full", names);
    zlistx_destroy(&names);
    zhashx_purge(gw->loc_del); /* the snapshot says it all */
}

/* For a tagged {"type":"member",...,"change":"removed"} event, the removed user into
 * out (33 bytes); out stays "" for any other frame. Only member events are parsed. */
static void s_removed_user(const gw_blob_t *b, char *out)
{
    static const char head[] = "{\"type\":\"member\",";
    out[0] = 0;
    if (!b->conv_len || b->len < sizeof head - 1 || memcmp(b->data, head, sizeof head - 1) != 0)
        return;
    json_error_t err;
    json_t *ev = json_loadb(b->data, b->len, 0, &err);
    const char *change = json_string_value(json_object_get(ev, "change"));
    const char *user = json_string_value(json_object_get(ev, "user"));
    if (change && user && strcmp(change, "removed") == 0 && strlen(user) < 33)
        snprintf(out, 33, "%s", user);
    json_decref(ev);
}

void gw_sessions_deliver(gw_t *gw, const void *to, size_t to_len, const char *skip,
                         const char *event, size_t event_len)
{
    gw_blob_t *b = NULL;
    char removed[PL_USER_MAX + 1] = ""; /* a member "removed" event: the user who lost access */
    pl_list_it_t it;
    pl_slice_t name;
    char u[64];
    int rc;
    pl_list_iter(&it, (pl_slice_t){to, to_len});
    while ((rc = pl_list_next(&it, &name)) == 1) {
        if (!pl_slice_cstr(name, u, sizeof u))
            continue; /* no user name is that long or holds a NUL */
        user_entry_t *e = zhashx_lookup(gw->users, u);
        if (!e)
            continue; /* gone: the device catches up with sync */
        if (!b) {
            if (!(b = gw_blob_new(event, event_len)))
                break;
            gw_blob_tag_conv(b);
            s_removed_user(b, removed);
        }
        size_t ul = strlen(u);
        bool cut = removed[0] && strcmp(u, removed) == 0;
        for (gw_session_t *s = e->head; s; s = s->unext) {
            if (cut) /* nothing of this conv may reach it after the removal */
                gw_session_drop_conv(s, b->data + b->conv_off, b->conv_len);
            if (skip[0] && strncmp(skip, u, ul) == 0 && skip[ul] == '/' &&
                strcmp(skip + ul + 1, s->device) == 0)
                continue;
            gw_session_push_event(s, b);
        }
    }
    gw_blob_unref(&b);
    if (rc < 0)
        pl_warn("EVT with a malformed recipient list: delivered up to the error");
}
