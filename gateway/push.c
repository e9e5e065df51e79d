/* push — `push_register` and GET /v1/push/vapid (PROTOCOL.md "Push notifications",
 * docs/internals.md "Push notifications").
 *
 * The gateway validates a target completely (types, URL form, the operator's allowed
 * prefixes, Web Push keys: a P-256 point and a 16-byte secret) and sends the user's shard
 * the canonical target JSON in `push_register`; delivery is the shards' business. Loop
 * thread only. */
#include "gw.h"
#include "gw_frames.h"
#include "gw_http_req.h"
#include "gw_push.h"
#include "gw_req.h"
#include "gw_types.h"
#include "gw_validate.h"
#include "gw_urlnorm.h"
#include "gw_ws.h"

#include "pl_webpush.h"

#define URL_MAX 2048

int gw_push_init(gw_t *gw)
{
    gw->vapid_public[0] = 0;
    if (!gw->cfg.vapid_key)
        return 0;
    EVP_PKEY *key = webpush_key_load(gw->cfg.vapid_key);
    unsigned char pub[WEBPUSH_POINT_LEN];
    char *b64 = NULL;
    if (!key || webpush_key_public(key, pub) != 0 || !(b64 = webpush_b64url(pub, sizeof pub)) ||
        strlen(b64) >= sizeof gw->vapid_public) {
        EVP_PKEY_free(key);
        free(b64);
        pl_error("cannot use the VAPID key %s", gw->cfg.vapid_key);
        return -1;
    }
    snprintf(gw->vapid_public, sizeof gw->vapid_public, "%s", b64);
    free(b64);
    EVP_PKEY_free(key); /* the gateway only publishes it; shards sign */
    return 0;
}

void gw_push_vapid_http(gw_http_req_t *r)
{
    if (!r->gw->vapid_public[0]) {
        gw_http_respond_error(r, 503, PL_E_UNAVAILABLE, "this server has no VAPID key");
        return;
    }
    char body[160];
    snprintf(body, sizeof body, "{\"public_key\":\"%s\"}", r->gw->vapid_public);
    gw_http_respond(r, 200, body);
}

static void s_error(gw_session_t *s, gw_pending_t *p, const char *id_json, const char *code,
                    const char *msg)
{
    gw_session_answer(s, p, gw_frame_error(id_json, code, msg, strlen(msg)));
}

/* A string member without NUL, or NULL (absent or wrong type: *bad set). */
static const char *s_str(json_t *obj, const char *name, bool *bad)
{
    json_t *v = json_object_get(obj, name);
    const char *s = json_string_value(v);
    if (!s || strlen(s) != json_string_length(v)) {
        *bad = true;
        return NULL;
    }
    return s;
}

/* url (may be NULL) as an absolute http(s) URL in canonical form (urlnorm.h) into out
 * (URL_MAX + 1 bytes); false if it is none. The canonical form is what is checked against
 * --push-allow, stored, and requested: "/hook/../evil" cannot pass for "/hook/". */
static bool s_url_norm(const char *url, char *out)
{
    return url && strlen(url) <= URL_MAX && gw_url_normalize(url, out, URL_MAX + 1) == 0;
}

/* url (canonical) is under one of the operator's prefixes (made canonical too when they
 * can be; none configured: nothing is allowed). */
static bool s_allowed(gw_t *gw, const char *url)
{
    char prefix[URL_MAX + 1];
    for (int i = 0; i < gw->cfg.npush_allow; i++) {
        const char *p = gw->cfg.push_allow[i];
        if (*p && gw_url_normalize(p, prefix, sizeof prefix) == 0) {
            /* normalising adds "/" to a bare authority: "http://h" must allow "http://h/x" */
            size_t n = strlen(prefix);
            if (p[strlen(p) - 1] != '/' && n && prefix[n - 1] == '/')
                prefix[n - 1] = 0;
            p = prefix;
        }
        if (gw_url_prefix_match(url, p))
            return true;
    }
    return false;
}

/* Send payload (taken; NULL: out of memory) to the caller's shard; the answer's body is
 * spliced into the client's ok. */
static void s_forward(gw_session_t *s, gw_pending_t *p, const char *id_json, pl_op_t op,
                      json_t *payload)
{
    size_t len = 0;
    char *text = payload ? gw_json_text(payload, &len) : NULL;
    json_decref(payload);
    gw_req_t *o = text ? gw_req_new(s, p, id_json) : NULL;
    if (!o) {
        free(text);
        s_error(s, p, id_json, PL_E_INTERNAL, "out of memory");
        return;
    }
    snprintf(o->key, sizeof o->key, "u:%s", s->user);
    o->op = op;
    o->payload = text; /* o's now */
    o->payload_len = len;
    gw_req_send(o);
}

void gw_push_register(gw_session_t *s, gw_pending_t *p, const char *id_json, const gw_type_def_t *t,
                      gw_frame_head_t *h)
{
    json_t *req = h->req;
    gw_t *gw = s->gw;
    bool bad = false;
    const char *kind = s_str(req, "kind", &bad);
    json_t *target = NULL;
    const char *url = NULL;
    char norm[URL_MAX + 1];
    if (bad) {
        s_error(s, p, id_json, PL_E_BAD_REQUEST, "kind is missing or not a string");
        return;
    }
    if (strcmp(kind, "webhook") == 0) {
        url = s_str(req, "url", &bad);
        if (bad || !s_url_norm(url, norm)) {
            s_error(s, p, id_json, PL_E_BAD_REQUEST,
                    "url must be an absolute http(s) URL (ASCII host, no userinfo, no "
                    "fragment, no encoded '/')");
            return;
        }
        url = norm;
        target = json_pack("{s:s, s:s}", "kind", "webhook", "url", url);
    } else if (strcmp(kind, "webpush") == 0) {
        url = s_str(req, "endpoint", &bad);
        json_t *keys = json_object_get(req, "keys");
        const char *p256dh = json_is_object(keys) ? s_str(keys, "p256dh", &bad) : NULL;
        const char *auth = json_is_object(keys) ? s_str(keys, "auth", &bad) : NULL;
        unsigned char point[WEBPUSH_POINT_LEN + 1], secret[WEBPUSH_AUTH_LEN + 1];
        if (bad || !p256dh || !auth || !s_url_norm(url, norm)) {
            s_error(s, p, id_json, PL_E_BAD_REQUEST,
                    "webpush needs an http(s) endpoint and keys {p256dh, auth}");
            return;
        }
        url = norm;
        if (webpush_b64url_decode(p256dh, point, sizeof point) != WEBPUSH_POINT_LEN ||
            !webpush_point_valid(point) ||
            webpush_b64url_decode(auth, secret, sizeof secret) != WEBPUSH_AUTH_LEN) {
            s_error(s, p, id_json, PL_E_BAD_REQUEST,
                    "keys.p256dh must be a base64url P-256 point (65 bytes), keys.auth 16 "
                    "base64url bytes");
            return;
        }
        if (!gw->vapid_public[0]) {
            s_error(s, p, id_json, PL_E_FORBIDDEN, "this server has no VAPID key for Web Push");
            return;
        }
        char *p64 = webpush_b64url(point, WEBPUSH_POINT_LEN);
        char *a64 = webpush_b64url(secret, WEBPUSH_AUTH_LEN);
        if (p64 && a64) /* canonical: base64url without padding */
            target = json_pack("{s:s, s:s, s:{s:s, s:s}}", "kind", "webpush", "endpoint", url,
                               "keys", "p256dh", p64, "auth", a64);
        free(p64);
        free(a64);
    } else if (strcmp(kind, "fcm") == 0 || strcmp(kind, "apns") == 0) {
        /* Device tokens: FCM's are base64url-ish with ':' (up to 4 KiB), APNs's hex; the
         * topic is the app's bundle id. Whether the cluster holds the provider's
         * credentials is the shard's to say (forbidden when it does not). */
        bool apns = kind[0] == 'a';
        const char *token = s_str(req, "token", &bad);
        const char *topic = apns ? s_str(req, "topic", &bad) : NULL;
        json_t *sandbox = json_object_get(req, "sandbox");
        static const char tok_chars[] =
            "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_:.";
        static const char topic_chars[] =
            "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_.";
        if (bad || !*token || strlen(token) > 4096 ||
            strspn(token, apns ? "0123456789abcdefABCDEF" : tok_chars) != strlen(token) ||
            (apns &&
             (!*topic || strlen(topic) > 255 || strspn(topic, topic_chars) != strlen(topic) ||
              (sandbox && !json_is_boolean(sandbox))))) {
            s_error(s, p, id_json, PL_E_BAD_REQUEST,
                    apns ? "apns needs a hex token, a topic (bundle id) and a boolean sandbox"
                         : "fcm needs a registration token");
            return;
        }
        target = apns ? json_pack("{s:s, s:s, s:s, s:b}", "kind", "apns", "token", token, "topic",
                                  topic, "sandbox", json_is_true(sandbox))
                      : json_pack("{s:s, s:s}", "kind", "fcm", "token", token);
    } else {
        s_error(s, p, id_json, PL_E_BAD_REQUEST,
                "kind must be \"webpush\", \"webhook\", \"fcm\" or \"apns\"");
        return;
    }
    if (url && !s_allowed(gw, url)) {
        json_decref(target);
        s_error(s, p, id_json, PL_E_FORBIDDEN, "this URL is not allowed for push targets");
        return;
    }
    s_forward(s, p, id_json, t->op,
              target ? json_pack("{s:s, s:s, s:s, s:o}", "op", pl_op_name(t->op), "user", s->user,
                                 "device", s->device, "target", target)
                     : NULL);
}

void gw_push_list(gw_session_t *s, gw_pending_t *p, const char *id_json, const gw_type_def_t *t,
                  gw_frame_head_t *h)
{
    (void)h;
    s_forward(s, p, id_json, t->op,
              json_pack("{s:s, s:s}", "op", pl_op_name(t->op), "user", s->user));
}

void gw_push_unregister(gw_session_t *s, gw_pending_t *p, const char *id_json,
                        const gw_type_def_t *t, gw_frame_head_t *h)
{
    json_t *req = h->req;
    bool bad = false;
    const char *id = s_str(req, "push_id", &bad);
    if (bad || !*id || strlen(id) > 128) {
        s_error(s, p, id_json, PL_E_BAD_REQUEST, "push_id must be a string from push_list");
        return;
    }
    s_forward(
        s, p, id_json, t->op,
        json_pack("{s:s, s:s, s:s}", "op", pl_op_name(t->op), "user", s->user, "push_id", id));
}
