/* requests — client frames on a WebSocket: parse, validate, orchestrate (PROTOCOL.md §3,
 * docs/internals.md "Request payloads").
 *
 * Every request gets a pending entry in its session's FIFO before anything else happens,
 * so its answer (local error or shard answer) leaves in request order. A request that
 * needs the router holds a reference on the session until its answer arrives; if the
 * socket closed meanwhile, the answer is dropped with the session. A request into a
 * conversation reaches the conversation's shard only after the socket's earlier requests
 * into it (order.c), also when it or an earlier one first checks that a dm's other user
 * exists. */
#include "gw.h"
#include "gw_budget.h"
#include "gw_convs.h"
#include "gw_frames.h"
#include "gw_groups.h"
#include "gw_limits.h"
#include "gw_order.h"
#include "gw_presence.h"
#include "gw_push.h"
#include "gw_req.h"
#include "gw_requests.h"
#include "gw_sessions.h"
#include "gw_token.h"
#include "gw_types.h"
#include "gw_validate.h"
#include "gw_ws.h"
#include "gw_zlink.h"
#include "pl_text.h"

#include <inttypes.h>

/* Requests in flight are gw_req_t (gw_req.h). A dm request whose other user is not yet
 * known to exist keeps that user's name in its ctx (a NUL-terminated string). */
static const char *s_other(const gw_req_t *o)
{
    return o->ctx ? o->ctx : "";
}

static void s_error(gw_session_t *s, gw_pending_t *p, const char *id_json, const char *code,
                    const char *msg)
{
    gw_session_answer(s, p, gw_frame_error(id_json, code, msg, strlen(msg)));
}

/* gw_order_go_fn: o's turn has come (order.c). */
static void s_op_go(void *arg)
{
    gw_req_t *o = arg;
    if (!o->s->wsi) { /* closed meanwhile: nothing to answer */
        gw_req_destroy(&o);
        return;
    }
    gw_req_send(o);
}

static void s_on_user_exists(void *arg, const char *status, const char *body, size_t len)
{
    gw_req_t *o = arg;
    if (strcmp(status, "ok") == 0) {
        gw_t *gw = o->s->gw;
        gw_limits_dm_probe_answer(gw, o->s->user, o->s->peer, s_other(o), true);
        if (zhashx_size(gw->known_users) >= GW_KNOWN_USERS_MAX)
            zhashx_purge(gw->known_users);
        zhashx_insert(gw->known_users, s_other(o), (void *)1);
        gw_order_ready(&o->ticket); /* o goes after the earlier requests into its conv */
        return;
    }
    /* o will not go: the requests after it need not wait (s_op_finish cancels the ticket) */
    if (strcmp(status, PL_E_NOT_FOUND) == 0) {
        gw_limits_dm_probe_answer(o->s->gw, o->s->user, o->s->peer, s_other(o), false);
        char msg[80];
        snprintf(msg, sizeof msg, "no such user: %s", s_other(o));
        gw_req_finish(o, PL_E_NOT_FOUND, msg, strlen(msg));
        return;
    }
    gw_req_finish(o, status, body, len);
}

/* ---- conversation requests ------------------------------------------------------------ */

/* Fill pl, the shard's payload of the validated request r (gw_validate.h) of row t. */
static void s_build_conv_op(gw_session_t *s, const gw_type_def_t *t, const gw_conv_req_t *r,
                            json_t *pl)
{
    json_object_set_new(pl, "op", json_string(pl_op_name(t->op)));
    json_object_set_new(pl, "user", json_string(s->user));
    switch (t->id) {
    case GW_TYPE_SEND:
        json_object_set_new(pl, "device", json_string(s->device));
        json_object_set_new(pl, "conv", json_string(r->conv));
        json_object_set_new(pl, "client_msg_id", json_string(r->cmid));
        json_object_set_new(pl, "text", json_stringn(r->text, r->text_len));
        break;
    case GW_TYPE_READ:
    case GW_TYPE_TYPING:
        json_object_set_new(pl, "device", json_string(s->device));
        json_object_set_new(pl, "conv", json_string(r->conv));
        if (t->id == GW_TYPE_READ)
            json_object_set_new(pl, "seq", json_integer(r->seq));
        break;
    default: /* sync, history */
        json_object_set_new(pl, "conv", json_string(r->conv));
        if (t->id == GW_TYPE_SYNC)
            json_object_set_new(pl, "after", json_integer(r->after));
        else if (r->has_before)
            json_object_set_new(pl, "before", json_integer(r->before));
        json_object_set_new(pl, "limit", json_integer(r->limit));
        break;
    }
}

/* The binary body of a PL_OPF_BIN op (pl_ops.def): the string members of pl named in the
 * op's row, in that order, each a u32 length and its bytes (the text as the client's JSON
 * decoded to, carried as it is). NULL on OOM or a member that is missing or not a string
 * (s_build_conv_op has put every one). Caller frees. */
static char *s_binary_body(pl_op_t op, json_t *pl, size_t *len)
{
    pl_buf_t b = {0};
    char name[64];
    for (const char *f = pl_op_def(op)->fields; *f;) {
        size_t n = strcspn(f, " ");
        snprintf(name, sizeof name, "%.*s", (int)n, f);
        f += n;
        f += strspn(f, " ");
        json_t *v = json_object_get(pl, name);
        if (!json_is_string(v)) {
            pl_buf_free(&b);
            return NULL;
        }
        pl_msg_field(&b, json_string_value(v), json_string_length(v));
    }
    if (b.failed || !b.data) {
        pl_buf_free(&b);
        return NULL;
    }
    *len = b.len;
    return (char *)b.data; /* the buffer is the caller's now */
}

/* The fields of a PL_OPF_BIN op's binary body (pl_ops.def's `fields`) the gateway fills
 * from a validated conversation request, each resolved once per op from the row's text
 * (s_bin_fields), not per request. */
enum { BF_USER, BF_DEVICE, BF_CONV, BF_CMID, BF_TEXT, BF_UNKNOWN };
#define BF_MAX 8

typedef struct {
    bool done; /* resolved */
    int n;     /* fields; -1: one the gateway cannot fill, or too many (the JSON path) */
    unsigned char id[BF_MAX];
} bin_fields_t;

/* The resolved fields of op (a PL_OPF_BIN op). Loop thread only (a static table). */
static const bin_fields_t *s_bin_fields(pl_op_t op)
{
    static bin_fields_t tab[PL_OP__COUNT];
    bin_fields_t *bf = &tab[op];
    if (bf->done)
        return bf;
    bf->done = true;
    bf->n = 0;
    for (const char *f = pl_op_def(op)->fields; *f;) {
        size_t n = strcspn(f, " ");
        int id = BF_UNKNOWN;
#define FIELD_IS(lit) (n == sizeof(lit) - 1 && memcmp(f, lit, n) == 0)
        if (FIELD_IS("user"))
            id = BF_USER;
        else if (FIELD_IS("device"))
            id = BF_DEVICE;
        else if (FIELD_IS("conv"))
            id = BF_CONV;
        else if (FIELD_IS("client_msg_id"))
            id = BF_CMID;
        else if (FIELD_IS("text"))
            id = BF_TEXT;
#undef FIELD_IS
        if (id == BF_UNKNOWN || bf->n == BF_MAX) {
            bf->n = -1;
            return bf;
        }
        bf->id[bf->n++] = (unsigned char)id;
        f += n;
        f += strspn(f, " ");
    }
    return bf;
}

/* The binary body of a PL_OPF_BIN op straight from the validated request (no JSON object
 * in between: this is the `send` hot path), as slices into s and r: out[0..n), n
 * returned; -1 when a field is not one of the request's (the caller takes the JSON path:
 * s_build_conv_op, s_binary_body). */
static int s_bin_slices(pl_op_t op, const gw_session_t *s, const gw_conv_req_t *r,
                        pl_slice_t out[BF_MAX])
{
    const bin_fields_t *bf = s_bin_fields(op);
    for (int i = 0; i < bf->n; i++) {
        const char *v = NULL;
        size_t vl = 0;
        switch (bf->id[i]) {
        case BF_USER:
            v = s->user;
            break;
        case BF_DEVICE:
            v = s->device;
            break;
        case BF_CONV:
            v = r->conv;
            break;
        case BF_CMID:
            v = r->cmid;
            break;
        default: /* BF_TEXT */
            v = r->text;
            vl = r->text_len;
            break;
        }
        if (!v)
            return -1;
        out[i] = (pl_slice_t){(const uint8_t *)v, vl ? vl : strlen(v)};
    }
    return bf->n;
}

/* The same body as one malloc'd buffer (a request that waits for its turn keeps it in
 * r->payload). NULL on OOM. */
static char *s_bin_body(const pl_slice_t *f, int n, size_t *len)
{
    pl_buf_t b = {0};
    pl_msg_fields(&b, f, n);
    if (b.failed || !b.data) {
        pl_buf_free(&b);
        return NULL;
    }
    *len = b.len;
    return (char *)b.data; /* the buffer is the caller's now */
}

/* gw_type_fn of the GW_TF_CONV rows send, sync, history, read, typing. */
static void s_conv_request(gw_session_t *s, gw_pending_t *p, const char *id_json,
                           const gw_type_def_t *t, gw_frame_head_t *h)
{
    json_t *pl = NULL;
    gw_req_t *o = NULL;
    gw_conv_req_t r;
    gw_verdict_t v = gw_valid_conv_request(s->user, t, h, &r, &s->conv_memo);
    if (v.code) {
        s_error(s, p, id_json, v.code, v.msg);
        return;
    }
    const char *conv = r.conv, *other = r.other;
    size_t cl = strlen(conv);
    if (strcmp(s->conv_memo.conv, conv) != 0) {
        /* a valid conv id fits (PL_CONV_MAX); the other user's existence is asked anew */
        if (cl < sizeof s->conv_memo.conv) {
            memcpy(s->conv_memo.conv, conv, cl + 1);
            memcpy(s->conv_memo.other, other, strlen(other) + 1);
        } else {
            s->conv_memo.conv[0] = 0;
        }
        s->conv_known = false;
    }
    o = gw_req_new(s, p, id_json);
    if (!o)
        goto oom;
    if (cl > sizeof o->key - 3)
        cl = sizeof o->key - 3; /* cannot happen: a valid conv id is shorter */
    memcpy(o->key, "c:", 2);
    memcpy(o->key + 2, conv, cl);
    o->key[2 + cl] = '\0';
    o->op = t->op;
    bool bin = pl_op_def(o->op) && (pl_op_def(o->op)->flags & PL_OPF_BIN);
    pl_slice_t bf[BF_MAX];
    int nbf = bin ? s_bin_slices(o->op, s, &r, bf) : -1;
    gw_t *gw = s->gw;
    /* Whatever the dm request, its answer tells whether `other` exists: such answers are
     * budgeted per user (limits.c), else `sync` on dm:<me>:<name> enumerates accounts. */
    bool confirmed = false;
    if (other[0] && !gw_limits_dm_probe_allowed(gw, s->user, s->peer, other, &confirmed)) {
        static const char msg[] = "too many requests on dm conversations with unknown users";
        gw_req_finish(o, PL_E_RATE_LIMITED, msg, sizeof msg - 1);
        return;
    }
    bool check = other[0] && !s->conv_known && !zhashx_lookup(gw->known_users, other);
    /* users are never deleted: once known, known for this socket's conv */
    s->conv_known = other[0] && !check;
    if (other[0] && !check && !confirmed)
        gw_limits_dm_probe_answer(gw, s->user, s->peer, other, true);
    bool now = !check && gw_order_idle(s, conv);
    if (now && nbf >= 0) {
        /* the hot path: the body written once, straight into zlink's batch */
        gw_zlink_request_fields(gw->zl, o->op, o->key, bf, nbf, gw_req_on_answer, o);
        return;
    }
    if (nbf >= 0) {
        o->payload = s_bin_body(bf, nbf, &o->payload_len);
    } else {
        if (!(pl = json_object()))
            goto oom;
        s_build_conv_op(s, t, &r, pl);
        if (bin)
            o->payload = s_binary_body(o->op, pl, &o->payload_len);
        else
            o->payload = gw_json_text(pl, &o->payload_len);
        json_decref(pl);
        pl = NULL;
    }
    if (!o->payload)
        goto oom;
    if (now) {
        gw_req_send(o);
        return;
    }
    /* o must not overtake an earlier request of s into conv still waiting, nor be
     * overtaken while it waits for its own check */
    o->ticket = gw_order_wait(s, conv, s_op_go, o);
    if (!o->ticket)
        goto oom;
    if (!check) {
        gw_order_ready(&o->ticket);
        return;
    }
    /* first time we see this dm's other user: check it exists */
    if (!(o->ctx = strdup(other)))
        goto oom;
    char key[40], body[80];
    snprintf(key, sizeof key, "u:%s", other);
    snprintf(body, sizeof body, "{\"op\":\"user_exists\",\"user\":\"%s\"}", other);
    gw_zlink_request(gw->zl, PL_OP_USER_EXISTS, key, body, strlen(body), s_on_user_exists, o);
    return;
oom:
    json_decref(pl);
    gw_req_destroy(&o);
    s_error(s, p, id_json, PL_E_INTERNAL, "out of memory");
}

/* ---- auth ----------------------------------------------------------------------------- */

/* An answer for o's auth arrived after its socket closed (o freed) or started closing
 * (dropped as a slow reader, or out of memory: o answered unavailable; the socket stays
 * closing, authenticates nobody and processes nothing more). True when o is taken. */
static bool s_auth_gone(gw_req_t *o)
{
    if (!o->s->wsi) {
        gw_req_destroy(&o);
        return true;
    }
    if (o->s->state == SS_CLOSING) {
        static const char msg[] = "the connection is closing";
        gw_req_finish(o, PL_E_UNAVAILABLE, msg, sizeof msg - 1);
        return true;
    }
    return false;
}

/* The token is unknown, revoked or replaced: unauthenticated, close 4401. */
static void s_auth_refuse(gw_req_t *o)
{
    static const char msg[] = "invalid or replaced token";
    gw_session_t *s = o->s; /* s_op_finish frees o */
    gw_req_finish(o, PL_E_UNAUTHENTICATED, msg, sizeof msg - 1);
    gw_session_close(s, 4401);
}

/* Finish the auth of o's registered session: ok, or (fail set) the error fail, which
 * unregisters the session so that the client may retry auth on this socket. */
static void s_auth_done(gw_req_t *o, const char *fail)
{
    gw_session_t *s = o->s;
    if (s_auth_gone(o))
        return;
    if (fail) {
        static const char unav[] = "presence could not be recorded: retry";
        static const char oom[] = "out of memory";
        bool u = strcmp(fail, PL_E_UNAVAILABLE) == 0;
        gw_sessions_unregister(s->gw, s);
        s->state = SS_NEW;
        s->user[0] = s->device[0] = 0;
        gw_req_finish(o, fail, u ? unav : oom, u ? sizeof unav - 1 : sizeof oom - 1);
        gw_session_auth_finished(s);
        return;
    }
    if (s->revoked) {
        /* the token was revoked or replaced while the ok waited for the online report
         * (logout.c): refused like a token the shard does not know */
        pl_info("session %llu: %s/%s token revoked during auth", (unsigned long long)s->sid,
                s->user, s->device);
        gw_sessions_unregister(s->gw, s);
        s_auth_refuse(o);
        return;
    }
    s->state = SS_AUTHED;
    /* The auth deadline is met: its lws timer goes now rather than after --auth-timeout.
     * lws 4.1 keeps every timer in one sorted list walked on each insert, so timers left
     * on 10,000 fresh sockets slow every later connect. (4.1.6 fires a "cancelled" timer
     * at once instead of removing it; gw_limits_session_timer ignores it for this state.) */
    if (s->wsi)
        lws_set_timer_usecs(s->wsi, LWS_SET_TIMER_USEC_CANCEL);
    pl_info("session %llu: %s/%s authenticated from %s", (unsigned long long)s->sid, s->user,
            s->device, s->peer);
    json_t *b = json_pack("{s:s,s:s}", "user", s->user, "device", s->device);
    char *text = b ? gw_json_text(b, NULL) : NULL;
    json_decref(b);
    if (text)
        gw_req_finish(o, "ok", text, strlen(text));
    else
        gw_req_finish(o, PL_E_INTERNAL, "out of memory", 13);
    free(text);
    gw_session_auth_finished(s);
}

/* The user's shard answered the online report an auth ok was waiting for. */
static void s_on_auth_presence(void *arg, bool ok)
{
    s_auth_done(arg, ok ? NULL : PL_E_UNAVAILABLE);
}

static void s_on_token_check(void *arg, const char *status, const char *body, size_t len)
{
    gw_req_t *o = arg;
    gw_session_t *s = o->s;
    if (s_auth_gone(o))
        return;
    if (strcmp(status, "ok") == 0) {
        if (gw_sessions_register(s->gw, s) != 0) {
            s->state = SS_NEW;
            gw_req_finish(o, PL_E_INTERNAL, "out of memory", 13);
            gw_session_auth_finished(s);
            return;
        }
        /* Online from the auth ok (PROTOCOL.md "Presence"): registering reported the user
         * to its shard at once if it was not live here; the ok waits for that answer. The
         * session stays SS_AUTHING meanwhile (no events, frames deferred). */
        int w = gw_presence_wait_shard(s, s_on_auth_presence, o);
        if (w == 1)
            return;
        s_auth_done(o, w == 0 ? NULL : PL_E_INTERNAL);
        return;
    }
    if (strcmp(status, PL_E_UNAUTHENTICATED) == 0 || strcmp(status, PL_E_NOT_FOUND) == 0) {
        pl_info("session %llu: token refused for %s/%s", (unsigned long long)s->sid, s->user,
                s->device);
        s_auth_refuse(o);
        return;
    }
    /* unavailable and the like: the client may retry auth on this socket */
    s->state = SS_NEW;
    s->user[0] = s->device[0] = s->th[0] = 0;
    gw_req_finish(o, status, body, len);
    gw_session_auth_finished(s);
}

/* gw_type_fn of the GW_TF_FIRST row (auth), on a socket's first frame only. */
static void s_auth(gw_session_t *s, gw_pending_t *p, const char *id_json, const gw_type_def_t *t,
                   gw_frame_head_t *h)
{
    json_t *req = h->req;
    const char *tok;
    size_t tlen = 0;
    char user[PL_USER_MAX + 1], device[PL_DEVICE_MAX + 1], th[2 * crypto_hash_sha256_BYTES + 1];
    gw_verdict_t v = gw_valid_str(req, "token", true, &tok, &tlen);
    if (v.code || !gw_token_parse(tok, tlen, user, device, th)) {
        s_error(s, p, id_json, PL_E_UNAUTHENTICATED, "invalid token");
        gw_session_close(s, 4401);
        return;
    }
    gw_req_t *o = gw_req_new(s, p, id_json);
    json_t *pl = json_pack("{s:s,s:s,s:s,s:s}", "op", pl_op_name(t->op), "user", user, "device",
                           device, "th", th);
    if (!o || !pl || !(o->payload = gw_json_text(pl, &o->payload_len))) {
        json_decref(pl);
        gw_req_destroy(&o);
        s_error(s, p, id_json, PL_E_INTERNAL, "out of memory");
        return;
    }
    json_decref(pl);
    snprintf(s->user, sizeof s->user, "%s", user);
    s->conv_memo.conv[0] = 0; /* the memo holds checks of one user's requests */
    s->conv_known = false;
    snprintf(s->device, sizeof s->device, "%s", device);
    snprintf(s->th, sizeof s->th, "%s", th);
    snprintf(o->key, sizeof o->key, "u:%s", user);
    s->state = SS_AUTHING;
    gw_sessions_announce(s->gw, user);
    gw_zlink_request(s->gw->zl, t->op, o->key, o->payload, o->payload_len, s_on_token_check, o);
}

/* ---- entry point ---------------------------------------------------------------------- */

static void s_ping(gw_session_t *s, gw_pending_t *p, const char *id_json, const gw_type_def_t *t,
                   gw_frame_head_t *h)
{
    (void)t;
    (void)h;
    char body[48];
    snprintf(body, sizeof body, "{\"ts\":%" PRId64 "}", pl_now_ms());
    gw_session_answer(s, p, gw_frame_ok_splice(id_json, body, strlen(body)));
}

/* The handler of each row of gw_types.def (indexed by its id). */
static gw_type_fn *const s_handlers[GW_TYPE__COUNT] = {
#define GW_TYPE(ID, name, handler, flags, budget, page, op, also) [GW_TYPE_##ID] = handler,
#include "gw_types.def"
#undef GW_TYPE
};

void gw_requests_frame(gw_session_t *s, const char *data, size_t len, bool binary)
{
    gw_pending_t *p = gw_session_pending_push(s);
    if (!p) {
        gw_session_close(s, LWS_CLOSE_STATUS_UNEXPECTED_CONDITION);
        return;
    }
    bool first = s->state == SS_NEW;
    /* the rate budget is taken per frame, whatever it holds; the verdict waits for the id */
    bool limited = !first && !gw_limits_request_allowed(s);
    const char *code = first ? PL_E_UNAUTHENTICATED : PL_E_BAD_REQUEST;
    gw_frame_head_t h;
    gw_verdict_t v = gw_frame_head(data, len, binary, &h);
    const char *id_json = h.id_json, *type = h.type;
    if (v.code) { /* no id to answer with */
        s_error(s, p, NULL, strcmp(v.code, PL_E_INTERNAL) == 0 ? v.code : code, v.msg);
        goto done;
    }
    /* its row (gw_types.def); NULL: no type, or no known one */
    const gw_type_def_t *t = type ? gw_type_find(type, strlen(type)) : NULL;
    /* The GW_TF_MEMBERS rows' handler reads the frame's members as parsed
     * (gw_valid_conv_request); every other reader gets the frame as a jansson object, built
     * now from a flat frame (the `send` path builds none). */
    if (!(t && (t->flags & GW_TF_MEMBERS)) && !gw_frame_req(&h)) {
        s_error(s, p, id_json, PL_E_INTERNAL, "out of memory");
        goto done;
    }
    if (first) {
        if (!t || !(t->flags & GW_TF_FIRST)) {
            s_error(s, p, id_json, PL_E_UNAUTHENTICATED, "the first frame must be auth");
            goto done;
        }
        s_handlers[t->id](s, p, id_json, t, &h);
        goto done;
    }
    if (limited) {
        if (t && (t->flags & GW_TF_LIMIT_OK)) /* like the shard's typing excess: ok, dropped */
            gw_session_answer(s, p, gw_frame_ok_splice(id_json, "{}", 2));
        else
            s_error(s, p, id_json, PL_E_RATE_LIMITED, "too many requests on this socket");
        goto done;
    }
    if (type) {
        /* budget.c: the worst case of its answer counts against the socket's byte budget
         * until it is answered (gw_session_answer releases it) */
        gw_budget_reserve(s, p, gw_budget_worst_case(t, h.req));
    }
    if (!h.has_type)
        s_error(s, p, id_json, PL_E_BAD_REQUEST, "type is missing");
    else if (!type)
        s_error(s, p, id_json, PL_E_BAD_REQUEST, "type is not a string");
    else if (!t)
        s_error(s, p, id_json, PL_E_BAD_REQUEST, "unknown request type");
    else if (t->flags & GW_TF_FIRST)
        s_error(s, p, id_json, PL_E_BAD_REQUEST, "already authenticated");
    else
        s_handlers[t->id](s, p, id_json, t, &h);
done:
    if (first && s->state == SS_NEW) {
        /* a first frame that did not start an auth: unauthenticated, close 4401
         * (p may be gone already: flushed by gw_session_answer) */
        gw_session_close(s, 4401);
    }
    gw_frame_head_clear(&h);
}
