/* logout — DELETE /v1/sessions[?all=1] (PROTOCOL.md §2) and the closing of sockets whose
 * token was revoked or replaced (docs/internals.md "Logout").
 *
 * DELETE: the bearer token from `Authorization` is parsed like an auth token
 * (gw_token_parse), then ["REQ", "u:<user>", reqid, {"op":"token_revoke","user",
 * "device","th","all"}] goes to the user's shard, which deletes the token(s) only when th
 * is the device's current one. ok -> 204 (no body), unauthenticated -> 401, a shard or
 * router down -> 503. Before answering, the shard sends every gateway it knows the control
 * event ["EVT", ["<user>"], "", {"type":"_revoke","user","tokens":[{"device","th"}...]}]
 * (also when token_set replaced a device's token); gw_logout_revoke closes every socket of
 * that user here authenticated with one of those tokens, with 4401.
 *
 * Thread: the loop thread. */
#include "gw.h"
#include "gw_frames.h"
#include "gw_http_req.h"
#include "gw_logout.h"
#include "gw_sessions.h"
#include "gw_token.h"
#include "gw_ws.h"
#include "gw_zlink.h"
#include "pl_text.h"

#include <strings.h>

/* ---- DELETE /v1/sessions --------------------------------------------------------------- */

static void s_unauthenticated(gw_http_req_t *r, const char *msg)
{
    r->www_auth = true;
    gw_http_respond_error(r, 401, PL_E_UNAUTHENTICATED, msg);
}

static void s_on_revoked(void *arg, const char *status, const char *body, size_t len)
{
    gw_http_req_t *r = arg;
    if (strcmp(status, "ok") == 0) {
        gw_http_respond(r, 204, "");
    } else if (strcmp(status, PL_E_UNAUTHENTICATED) == 0) {
        s_unauthenticated(r, "unknown or revoked token");
    } else if (strcmp(status, PL_E_UNAVAILABLE) == 0) {
        gw_http_respond_error(r, 503, PL_E_UNAVAILABLE, "a shard is unreachable, retry");
    } else {
        pl_warn("token_revoke: %s %.*s", status, (int)(len > 200 ? 200 : len), body);
        gw_http_respond_error(r, 500, PL_E_INTERNAL, "internal error");
    }
    gw_http_req_unref(&r);
}

/* The `all` URL argument: 0 absent or all=0, 1 for all=1, -1 for anything else (also
 * out of memory). lws keeps each urldecoded argument as one fragment of URI_ARGS. */
static int s_all_arg(gw_http_req_t *r)
{
    int total = r->wsi ? lws_hdr_total_length(r->wsi, WSI_TOKEN_HTTP_URI_ARGS) : 0;
    if (total <= 0)
        return 0;
    char *frag = malloc((size_t)total + 1);
    if (!frag)
        return -1;
    bool one = false, zero = false, bad = false;
    /* total is the sum of the fragments' lengths; "?&all=1" holds an empty fragment */
    for (int i = 0, seen = 0; seen < total && i < 1024; i++) {
        int n = lws_hdr_copy_fragment(r->wsi, frag, total + 1, WSI_TOKEN_HTTP_URI_ARGS, i);
        if (n < 0)
            break;
        seen += n;
        if (strcmp(frag, "all=1") == 0)
            one = true;
        else if (strcmp(frag, "all=0") == 0)
            zero = true;
        else if (strncmp(frag, "all=", 4) == 0 || strcmp(frag, "all") == 0)
            bad = true; /* other arguments are ignored */
    }
    int all = bad || (one && zero) ? -1 : one;
    free(frag);
    return all;
}

void gw_logout_http(gw_http_req_t *r)
{
    char auth[256], user[PL_USER_MAX + 1], device[PL_DEVICE_MAX + 1],
        th[2 * crypto_hash_sha256_BYTES + 1];
    int all = s_all_arg(r);
    if (all < 0) {
        gw_http_respond_error(r, 400, PL_E_BAD_REQUEST, "all must be 1 or 0");
        return;
    }
    int n = r->wsi ? lws_hdr_copy(r->wsi, auth, sizeof auth, WSI_TOKEN_HTTP_AUTHORIZATION) : -1;
    if (n <= 0) {
        s_unauthenticated(r, n < 0 ? "the Authorization header is too long"
                                   : "an Authorization: Bearer <token> header is required");
        return;
    }
    /* RFC 6750 §2.1: "Bearer" (any case), one or more spaces, the token */
    const char *tok = auth;
    if (strncasecmp(tok, "Bearer ", 7) != 0) {
        s_unauthenticated(r, "the Authorization scheme must be Bearer");
        return;
    }
    tok += 7;
    while (*tok == ' ')
        tok++;
    size_t tlen = strlen(tok);
    while (tlen && (tok[tlen - 1] == ' ' || tok[tlen - 1] == '\t'))
        tlen--;
    if (!gw_token_parse(tok, tlen, user, device, th)) {
        s_unauthenticated(r, "invalid token");
        return;
    }
    json_t *pl = json_pack("{s:s,s:s,s:s,s:s,s:b}", "op", "token_revoke", "user", user, "device",
                           device, "th", th, "all", all);
    size_t len = 0;
    char *text = pl ? gw_json_text(pl, &len) : NULL;
    json_decref(pl);
    char key[40];
    snprintf(key, sizeof key, "u:%s", user);
    if (!text) {
        gw_http_respond_error(r, 500, PL_E_INTERNAL, "out of memory");
        return;
    }
    gw_zlink_request(r->gw->zl, PL_OP_TOKEN_REVOKE, key, text, len, s_on_revoked,
                     gw_http_req_ref(r));
    free(text);
    pl_debug("logout of %s/%s%s asked", user, device, all ? " (every device)" : "");
}

/* ---- the _revoke control event --------------------------------------------------------- */

bool gw_logout_is_control(const char *event, size_t len)
{
    static const char head[] = "{\"type\":\"_revoke\",";
    return len >= sizeof head - 1 && memcmp(event, head, sizeof head - 1) == 0;
}

/* True when s used one of tokens ({"device","th"} objects). */
static bool s_revoked(const gw_session_t *s, json_t *tokens)
{
    size_t i;
    json_t *t;
    json_array_foreach(tokens, i, t)
    {
        const char *d = json_string_value(json_object_get(t, "device"));
        const char *th = json_string_value(json_object_get(t, "th"));
        if (d && th && strcmp(d, s->device) == 0 && strlen(th) == strlen(s->th) &&
            sodium_memcmp(th, s->th, strlen(th)) == 0)
            return true;
    }
    return false;
}

void gw_logout_revoke(gw_t *gw, const char *event, size_t len)
{
    json_error_t err;
    json_t *ev = json_loadb(event, len, 0, &err);
    const char *user = json_string_value(json_object_get(ev, "user"));
    json_t *tokens = json_object_get(ev, "tokens");
    if (!user || !json_is_array(tokens)) {
        pl_warn("malformed _revoke event dropped");
        json_decref(ev);
        return;
    }
    /* only registered sessions: an auth whose token_check is still in flight is answered
     * by a shard that already deleted the token (the answer to a token_check made before
     * the revoke arrives before this event: one router, FIFO). A registered session still
     * SS_AUTHING (its ok waits for the online report, presence.c) is only marked: its auth
     * is answered unauthenticated and closed 4401 when the wait ends (requests.c). */
    gw_session_t *list = gw_sessions_of(gw, user);
    int closed = 0;
    for (gw_session_t *s = list; s; s = s->unext) {
        if (!s_revoked(s, tokens))
            continue;
        if (s->state == SS_AUTHING) {
            s->revoked = true;
            closed++;
            continue;
        }
        if (s->state != SS_AUTHED)
            continue;
        pl_info("session %llu: %s/%s token revoked, closing", (unsigned long long)s->sid, s->user,
                s->device);
        s->revoked = true;
        gw_session_close(s, 4401);
        /* the one lws timer of the wsi: the auth deadline's is of no use any more */
        lws_set_timer_usecs(s->wsi, (lws_usec_t)GW_REVOKE_WAIT_MS * 1000);
        closed++;
    }
    pl_debug("_revoke for %s: %d sockets closed here", user, closed);
    json_decref(ev);
}

void gw_logout_session_timer(gw_session_t *s)
{
    if (!s->revoked || !s->wsi || s->close_sent || !s->phead)
        return;
    int due = 0;
    for (gw_pending_t *p = s->phead; p; p = p->next)
        due += !p->done;
    pl_info("session %llu: %s/%s revoked, closing without %d answers still due",
            (unsigned long long)s->sid, s->user, s->device, due);
    s->close_force = true;
    lws_callback_on_writable(s->wsi);
}
