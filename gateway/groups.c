/* groups — group_create, group_add, group_remove (PROTOCOL.md §3 "Conversations",
 * docs/internals.md "Groups, read receipts, typing").
 *
 * The gateway validates types, lengths and counts, then asks each user the change would
 * put into a group for room under its group caps (`group_quota` on that user's shard, in
 * parallel; it also answers not_found for a user that does not exist, and reserves one
 * membership). For group_create, once every member passed, the creator's shard is asked
 * with `create` (the creator's created-groups cap and its own membership). Only then does
 * it send the op to the conversation's shard, which checks membership, the creator rule
 * and group_full. Nothing is sent to the conversation's shard when a check fails, so a
 * refused request changes no group (a reservation granted to another user of the same
 * request only lapses, docs/internals.md "Budgets"). A group_create naming more than 99 others (all
 * well-formed) is group_full at once, without looking the names up. group_add and group_remove go
 * to the shard in order with the socket's other requests into the group (order.c), so a
 * group_remove or send cannot overtake a group_add still checking its target. */
#include "gw.h"
#include "gw_frames.h"
#include "gw_groups.h"
#include "gw_order.h"
#include "gw_req.h"
#include "gw_types.h"
#include "gw_validate.h"
#include "gw_ws.h"
#include "gw_zlink.h"
#include "pl_text.h"

#define GW_GROUP_OTHERS_MAX 99 /* members besides the creator */
#define GW_GROUP_LIST_MAX 1000 /* entries of a group_create's members list */
#define GW_TITLE_MAX_CP 200

/* A group request is a gw_req_t (gw_req.h: session, pending, id, the op for the
 * conversation's shard in key/payload/op, its order ticket); its checks' state is its ctx. */
typedef struct {
    int outstanding;  /* group_quota in flight (+1 while they are being sent) */
    bool creator_due; /* group_create: the creator's quota is asked after the members' */
    char conv[80];    /* group_add: the group (a member already in it needs no room) */
    char err_code[32];
    char *err_msg;
} group_ctx_t;

static void s_ctx_free(void *ctx)
{
    free(((group_ctx_t *)ctx)->err_msg);
}

/* gw_order_go_fn (and group_create directly): send the op to the conversation's shard. */
static void s_go(void *arg)
{
    gw_req_t *o = arg;
    if (!o->s->wsi) { /* closed meanwhile: change nothing nobody will hear of */
        gw_req_destroy(&o);
        return;
    }
    gw_req_send(o);
}

/* Every check passed (or failed): send the op in its turn, or answer the first error
 * (which cancels its ticket: the socket's later requests into conv need not wait). */
static void s_check_user(gw_req_t *o, const char *user, bool create);

static void s_checks_done(gw_req_t *o)
{
    group_ctx_t *g = o->ctx;
    if (!g->err_code[0] && g->creator_due && o->s->wsi) {
        g->creator_due = false;
        g->outstanding = 1;
        s_check_user(o, o->s->user, true);
        if (--g->outstanding > 0)
            return;
    }
    if (g->err_code[0]) {
        const char *m = g->err_msg ? g->err_msg : g->err_code;
        gw_req_finish(o, g->err_code, m, strlen(m));
        return;
    }
    if (!o->ticket) { /* group_create: a new conversation nothing else can name yet */
        s_go(o);
        return;
    }
    gw_order_ready(&o->ticket);
}

static void s_note_error(gw_req_t *o, const char *code, const char *msg, size_t len)
{
    group_ctx_t *g = o->ctx;
    if (g->err_code[0] && strcmp(g->err_code, PL_E_NOT_FOUND) == 0)
        return; /* a missing user is the answer, whatever else failed */
    if (g->err_code[0] && strcmp(code, PL_E_NOT_FOUND) != 0)
        return;
    snprintf(g->err_code, sizeof g->err_code, "%s", code);
    free(g->err_msg);
    g->err_msg = strndup(msg ? msg : code, msg ? len : strlen(code));
}

typedef struct exists_arg {
    gw_req_t *o;
    char user[PL_USER_MAX + 1];
} exists_arg_t;

static void s_on_exists(void *arg, const char *status, const char *body, size_t len)
{
    exists_arg_t *a = arg;
    gw_req_t *o = a->o;
    group_ctx_t *g = o->ctx;
    if (strcmp(status, "ok") == 0) {
        gw_t *gw = o->s->gw;
        if (zhashx_size(gw->known_users) >= GW_KNOWN_USERS_MAX)
            zhashx_purge(gw->known_users);
        zhashx_insert(gw->known_users, a->user, (void *)1); /* requests.c's dm check */
    } else if (strcmp(status, PL_E_NOT_FOUND) == 0) {
        char msg[80];
        snprintf(msg, sizeof msg, "no such user: %s", a->user);
        s_note_error(o, PL_E_NOT_FOUND, msg, strlen(msg));
    } else {
        s_note_error(o, status, body, len);
    }
    free(a);
    if (--g->outstanding == 0)
        s_checks_done(o);
}

/* Start a group_quota for user (with create: the creator of a new group). */
static void s_check_user(gw_req_t *o, const char *user, bool create)
{
    group_ctx_t *g = o->ctx;
    gw_t *gw = o->s->gw;
    exists_arg_t *a = calloc(1, sizeof *a);
    if (!a) {
        s_note_error(o, PL_E_INTERNAL, "out of memory", 13);
        return;
    }
    a->o = o;
    snprintf(a->user, sizeof a->user, "%s", user);
    char key[40], body[200];
    snprintf(key, sizeof key, "u:%s", user);
    /* names and group ids are [A-Za-z0-9_:-]: nothing to escape */
    snprintf(body, sizeof body, "{\"op\":\"group_quota\",\"user\":\"%s\",\"create\":%s%s%s%s}",
             user, create ? "true" : "false", g->conv[0] ? ",\"conv\":\"" : "", g->conv,
             g->conv[0] ? "\"" : "");
    g->outstanding++;
    gw_zlink_request(gw->zl, PL_OP_GROUP_QUOTA, key, body, strlen(body), s_on_exists, a);
}

/* ---- validation ------------------------------------------------------------------------ */

/* A string member without U+0000; NULL (and *msg set) if absent or of another type. */
static const char *s_str(json_t *req, const char *name, const char **msg)
{
    json_t *v = json_object_get(req, name);
    if (!v) {
        *msg = "a required field is missing";
        return NULL;
    }
    if (!json_is_string(v)) {
        *msg = "a field has the wrong type";
        return NULL;
    }
    const char *s = json_string_value(v);
    if (strlen(s) != json_string_length(v)) {
        *msg = "a string holds U+0000";
        return NULL;
    }
    return s;
}

/* Fill pl for group_create; NULL, or the message of the error *code (bad_request for a
 * malformed request, whatever its size; else group_full for more than 99 other members).
 * members receives the other members (unique, valid, without the creator). */
static const char *s_build_create(gw_session_t *s, json_t *req, json_t *pl, json_t *members,
                                  const char **code)
{
    *code = PL_E_BAD_REQUEST;
    const char *msg = NULL;
    const char *title = s_str(req, "title", &msg);
    if (!title)
        return msg;
    size_t ncp = pl_utf8_count(title, strlen(title));
    if (ncp < 1 || ncp > GW_TITLE_MAX_CP)
        return "title must be 1 to 200 characters";
    json_t *mv = json_object_get(req, "members");
    if (mv && !json_is_array(mv))
        return "a field has the wrong type";
    if (json_array_size(mv) > GW_GROUP_LIST_MAX)
        return "members holds more than 1000 names";
    zhashx_t *seen = zhashx_new();
    if (!seen) {
        *code = PL_E_INTERNAL;
        return "out of memory";
    }
    size_t i;
    json_t *m;
    const char *bad = NULL;
    json_array_foreach(mv, i, m)
    {
        const char *u = json_string_value(m);
        if (!json_is_string(m) || strlen(u) != json_string_length(m) || !pl_user_valid(u)) {
            bad = "members must be valid user names";
            break;
        }
        if (strcmp(u, s->user) == 0 || zhashx_lookup(seen, u))
            continue;
        zhashx_insert(seen, u, (void *)1);
        json_array_append_new(members, json_string(u));
    }
    size_t others = zhashx_size(seen);
    zhashx_destroy(&seen);
    if (bad)
        return bad;
    if (others > GW_GROUP_OTHERS_MAX) { /* every name is well-formed: the size is the error */
        *code = PL_E_GROUP_FULL;
        return "a group has at most 100 members";
    }
    json_object_set_new(pl, "title", json_string(title));
    json_object_set(pl, "members", members);
    return NULL;
}

/* A new group id: "g:" + base64url of 16 random bytes, no padding (22 chars). */
static void s_new_group_id(char *out, size_t size)
{
    unsigned char raw[16];
    char b64[sodium_base64_ENCODED_LEN(16, sodium_base64_VARIANT_URLSAFE_NO_PADDING)];
    randombytes_buf(raw, sizeof raw);
    sodium_bin2base64(b64, sizeof b64, raw, sizeof raw, sodium_base64_VARIANT_URLSAFE_NO_PADDING);
    snprintf(out, size, "g:%s", b64);
}

void gw_groups_request(gw_session_t *s, gw_pending_t *p, const char *id_json,
                       const gw_type_def_t *t, gw_frame_head_t *h)
{
    json_t *req = h->req;
    json_t *pl =
        json_pack("{s:s,s:s,s:s}", "op", pl_op_name(t->op), "user", s->user, "device", s->device);
    json_t *members = json_array();
    gw_req_t *o = gw_req_new_ctx(s, p, id_json, sizeof(group_ctx_t), s_ctx_free);
    const char *bad = NULL, *bad_code = PL_E_BAD_REQUEST, *target = NULL;
    char conv[80];
    if (!pl || !members || !o)
        goto oom;
    if (t->id == GW_TYPE_GROUP_CREATE) {
        bad = s_build_create(s, req, pl, members, &bad_code);
        s_new_group_id(conv, sizeof conv);
    } else {
        const char *c = s_str(req, "conv", &bad);
        if (c && !pl_group_id_valid(c))
            bad = "conv is not a valid group id";
        if (c && !bad) {
            target = s_str(req, "user", &bad);
            if (target && !pl_user_valid(target))
                bad = "user is not a valid user name";
        }
        if (!bad) {
            snprintf(conv, sizeof conv, "%s", c);
            json_object_set_new(pl, "target", json_string(target));
        }
    }
    if (bad) {
        gw_session_answer(s, p, gw_frame_error(id_json, bad_code, bad, strlen(bad)));
        json_decref(pl);
        json_decref(members);
        gw_req_destroy(&o);
        return;
    }
    json_object_set_new(pl, "conv", json_string(conv));
    snprintf(o->key, sizeof o->key, "c:%s", conv);
    o->op = t->op;
    o->payload = gw_json_text(pl, &o->payload_len);
    if (!o->payload)
        goto oom;
    if ((t->flags & GW_TF_CONV) && !(o->ticket = gw_order_wait(s, conv, s_go, o)))
        goto oom;
    group_ctx_t *g = o->ctx;
    /* hold one count so no answer can finish o while the checks are being sent */
    g->outstanding = 1;
    if (t->id == GW_TYPE_GROUP_CREATE) {
        size_t i;
        json_t *m;
        json_array_foreach(members, i, m) s_check_user(o, json_string_value(m), false);
        g->creator_due = true;
    } else if (t->id == GW_TYPE_GROUP_ADD) {
        snprintf(g->conv, sizeof g->conv, "%s", conv);
        s_check_user(o, target, false);
    }
    json_decref(pl);
    json_decref(members);
    if (--g->outstanding == 0)
        s_checks_done(o);
    return;
oom:
    json_decref(pl);
    json_decref(members);
    gw_req_destroy(&o);
    gw_session_answer(s, p, gw_frame_error(id_json, PL_E_INTERNAL, "out of memory", 13));
}
