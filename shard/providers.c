/* providers — FCM HTTP v1 and APNs request shapes and tokens. See providers.h. */
#include "providers.h"

#include <jansson.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "pl_log.h"
#include "pl_webpush.h"

#define FCM_SCOPE "https://www.googleapis.com/auth/firebase.messaging"
#define FCM_ASSERTION_TTL_S 3600
#define APNS_JWT_REFRESH_S (30 * 60) /* Apple: not more often than 20 min, not older than 60 */
#define APNS_EXPIRATION_S 86400

struct _shard_providers_t {
    /* FCM: set at new */
    EVP_PKEY *fcm_key;
    char *fcm_email, *fcm_kid, *fcm_token_uri, *fcm_send_url;
    /* FCM: pusher thread */
    char *fcm_bearer;
    int64_t fcm_bearer_until; /* wall clock s */
    /* APNs: set at new */
    EVP_PKEY *apns_key;
    char *apns_kid, *apns_team, *apns_url, *apns_sandbox_url;
    /* APNs: pusher thread */
    char *apns_jwt;
    int64_t apns_jwt_at; /* wall clock s of its iat */
};

static char *s_dup_trim(const char *s)
{
    size_t n = strlen(s);
    while (n && s[n - 1] == '/') /* base URLs: "https://host/" and "https://host" alike */
        n--;
    return strndup(s, n);
}

static int s_fcm_load(shard_providers_t *self, const shard_providers_cfg_t *cfg)
{
    json_error_t jerr;
    json_t *creds = json_load_file(cfg->fcm_credentials, 0, &jerr);
    const char *email = json_string_value(json_object_get(creds, "client_email"));
    const char *pem = json_string_value(json_object_get(creds, "private_key"));
    const char *kid = json_string_value(json_object_get(creds, "private_key_id"));
    const char *uri = json_string_value(json_object_get(creds, "token_uri"));
    const char *project = cfg->fcm_project
                              ? cfg->fcm_project
                              : json_string_value(json_object_get(creds, "project_id"));
    int rc = -1;
    if (!creds) {
        pl_error("push: cannot read the FCM credentials %s: %s", cfg->fcm_credentials, jerr.text);
        return -1;
    }
    if (!email || !pem || !kid || !uri || !project || !*project || strchr(project, '/')) {
        pl_error("push: %s needs client_email, private_key, private_key_id, token_uri (and a "
                 "project: fcm-project or project_id)",
                 cfg->fcm_credentials);
        goto done;
    }
    self->fcm_key = webpush_pem_private(pem);
    if (!self->fcm_key || !EVP_PKEY_is_a(self->fcm_key, "RSA")) {
        pl_error("push: the private_key of %s is not an RSA key in PEM", cfg->fcm_credentials);
        goto done;
    }
    char *base = s_dup_trim(cfg->fcm_url ? cfg->fcm_url : "https://fcm.googleapis.com");
    size_t n = (base ? strlen(base) : 0) + strlen(project) + 40;
    self->fcm_send_url = base ? malloc(n) : NULL;
    if (self->fcm_send_url)
        snprintf(self->fcm_send_url, n, "%s/v1/projects/%s/messages:send", base, project);
    free(base);
    self->fcm_email = strdup(email);
    self->fcm_kid = strdup(kid);
    self->fcm_token_uri = strdup(uri);
    if (self->fcm_send_url && self->fcm_email && self->fcm_kid && self->fcm_token_uri)
        rc = 0;
done:
    json_decref(creds);
    return rc;
}

static int s_apns_load(shard_providers_t *self, const shard_providers_cfg_t *cfg)
{
    if (!cfg->apns_key_id || !*cfg->apns_key_id || !cfg->apns_team_id || !*cfg->apns_team_id) {
        pl_error("push: apns-key needs apns-key-id and apns-team-id");
        return -1;
    }
    self->apns_key = webpush_key_load(cfg->apns_key); /* a P-256 key, logs its errors */
    if (!self->apns_key)
        return -1;
    self->apns_kid = strdup(cfg->apns_key_id);
    self->apns_team = strdup(cfg->apns_team_id);
    self->apns_url = s_dup_trim(cfg->apns_url ? cfg->apns_url : "https://api.push.apple.com");
    self->apns_sandbox_url = s_dup_trim(
        cfg->apns_sandbox_url ? cfg->apns_sandbox_url : "https://api.sandbox.push.apple.com");
    return self->apns_kid && self->apns_team && self->apns_url && self->apns_sandbox_url ? 0 : -1;
}

shard_providers_t *shard_providers_new(const shard_providers_cfg_t *cfg)
{
    shard_providers_t *self = calloc(1, sizeof *self);
    if (!self)
        return NULL;
    if (cfg && cfg->fcm_credentials && s_fcm_load(self, cfg) != 0)
        goto fail;
    if (cfg && cfg->apns_key && s_apns_load(self, cfg) != 0)
        goto fail;
    return self;
fail:
    shard_providers_destroy(&self);
    return NULL;
}

void shard_providers_destroy(shard_providers_t **self_p)
{
    if (!self_p || !*self_p)
        return;
    shard_providers_t *self = *self_p;
    EVP_PKEY_free(self->fcm_key);
    free(self->fcm_email);
    free(self->fcm_kid);
    free(self->fcm_token_uri);
    free(self->fcm_send_url);
    free(self->fcm_bearer);
    EVP_PKEY_free(self->apns_key);
    free(self->apns_kid);
    free(self->apns_team);
    free(self->apns_url);
    free(self->apns_sandbox_url);
    free(self->apns_jwt);
    free(self);
    *self_p = NULL;
}

bool shard_providers_fcm_configured(const shard_providers_t *self)
{
    return self && self->fcm_key;
}

bool shard_providers_apns_configured(const shard_providers_t *self)
{
    return self && self->apns_key;
}

void shard_provider_req_clear(shard_provider_req_t *r)
{
    free(r->url);
    free(r->body);
    curl_slist_free_all(r->hdrs);
    memset(r, 0, sizeof *r);
}

/* "name: value" appended to r's headers. */
static void s_hdr(shard_provider_req_t *r, const char *name, const char *value)
{
    size_t n = strlen(name) + strlen(value) + 3;
    char *line = malloc(n);
    if (!line)
        return;
    snprintf(line, n, "%s: %s", name, value);
    struct curl_slist *l = curl_slist_append(r->hdrs, line);
    if (l)
        r->hdrs = l;
    free(line);
}

/* Every header must have made it: a short list would send a wrong request. */
static int s_hdrs_ok(const shard_provider_req_t *r, int want)
{
    int n = 0;
    for (const struct curl_slist *l = r->hdrs; l; l = l->next)
        n++;
    return n == want ? 0 : -1;
}

/* A JWT of header h and claims c (both taken; NULL: out of memory) signed with key;
 * malloc'd, NULL on failure. */
static char *s_jwt(EVP_PKEY *key, json_t *h, json_t *c)
{
    char *ht = h ? json_dumps(h, JSON_COMPACT) : NULL;
    char *ct = c ? json_dumps(c, JSON_COMPACT) : NULL;
    char *jwt = ht && ct ? webpush_jwt(key, ht, ct) : NULL;
    json_decref(h);
    json_decref(c);
    free(ht);
    free(ct);
    return jwt;
}

int shard_providers_fcm_token_request(shard_providers_t *self, int64_t now_s,
                                      shard_provider_req_t *r)
{
    memset(r, 0, sizeof *r);
    json_t *h = json_pack("{s:s, s:s, s:s}", "alg", "RS256", "typ", "JWT", "kid", self->fcm_kid);
    json_t *c = json_pack("{s:s, s:s, s:s, s:I, s:I}", "iss", self->fcm_email, "scope", FCM_SCOPE,
                          "aud", self->fcm_token_uri, "iat", (json_int_t)now_s, "exp",
                          (json_int_t)(now_s + FCM_ASSERTION_TTL_S));
    char *jwt = s_jwt(self->fcm_key, h, c);
    if (!jwt)
        return -1;
    /* the JWT is base64url and dots: nothing to escape in a form body */
    static const char grant[] =
        "grant_type=urn%3Aietf%3Aparams%3Aoauth%3Agrant-type%3Ajwt-bearer&assertion=";
    size_t n = sizeof grant + strlen(jwt);
    r->body = malloc(n);
    if (r->body)
        snprintf(r->body, n, "%s%s", grant, jwt);
    free(jwt);
    r->url = strdup(self->fcm_token_uri);
    s_hdr(r, "Content-Type", "application/x-www-form-urlencoded");
    s_hdr(r, "Expect", "");
    if (!r->body || !r->url || s_hdrs_ok(r, 2) != 0) {
        shard_provider_req_clear(r);
        return -1;
    }
    return 0;
}

int shard_providers_fcm_token_done(shard_providers_t *self, long status, const char *resp,
                                   int64_t now_s)
{
    json_t *j = status >= 200 && status < 300 ? json_loads(resp, 0, NULL) : NULL;
    const char *tok = json_string_value(json_object_get(j, "access_token"));
    json_int_t ttl = json_integer_value(json_object_get(j, "expires_in"));
    int rc = -1;
    if (tok && *tok && !strpbrk(tok, "\r\n") && ttl > 0) {
        free(self->fcm_bearer);
        self->fcm_bearer = strdup(tok);
        /* renew a minute early so a request never leaves with a token about to expire */
        self->fcm_bearer_until = now_s + (ttl > 120 ? ttl - 60 : ttl / 2);
        rc = self->fcm_bearer ? 0 : -1;
    } else
        pl_warn("push: FCM token request answered %ld: no access token", status);
    json_decref(j);
    return rc;
}

void shard_providers_fcm_token_drop(shard_providers_t *self)
{
    free(self->fcm_bearer);
    self->fcm_bearer = NULL;
}

/* The payload's members as strings (FCM data values must be strings). */
static json_t *s_data_strings(json_t *p)
{
    json_t *d = json_object();
    const char *k;
    json_t *v;
    json_object_foreach(p, k, v)
    {
        char buf[32];
        if (json_is_string(v))
            json_object_set(d, k, v);
        else if (json_is_integer(v)) {
            snprintf(buf, sizeof buf, "%lld", (long long)json_integer_value(v));
            json_object_set_new(d, k, json_string(buf));
        }
    }
    return d;
}

int shard_providers_fcm_request(shard_providers_t *self, const char *token, const char *payload,
                                const char *collapse, int64_t now_s, shard_provider_req_t *r)
{
    memset(r, 0, sizeof *r);
    if (!self->fcm_bearer || now_s >= self->fcm_bearer_until)
        return 1;
    json_t *p = json_loads(payload, 0, NULL);
    if (!p)
        return -1;
    json_t *body = json_pack("{s:{s:s, s:o, s:{s:O?, s:O?}, s:{s:s, s:s}, s:{s:{s:s}}}}", "message",
                             "token", token, "data", s_data_strings(p), "notification", "title",
                             json_object_get(p, "from"), "body", json_object_get(p, "preview"),
                             "android", "collapse_key", collapse, "priority", "high", "apns",
                             "headers", "apns-collapse-id", collapse);
    json_decref(p);
    r->body = body ? json_dumps(body, JSON_COMPACT) : NULL;
    json_decref(body);
    r->url = strdup(self->fcm_send_url);
    r->http2 = true;
    size_t n = strlen(self->fcm_bearer) + 8;
    char *auth = malloc(n);
    if (auth) {
        snprintf(auth, n, "Bearer %s", self->fcm_bearer);
        s_hdr(r, "Authorization", auth);
        free(auth);
    }
    s_hdr(r, "Content-Type", "application/json; charset=UTF-8");
    if (!r->body || !r->url || s_hdrs_ok(r, 2) != 0) {
        shard_provider_req_clear(r);
        return -1;
    }
    return 0;
}

/* The provider JWT, made anew every APNS_JWT_REFRESH_S. NULL on failure. */
static const char *s_apns_jwt(shard_providers_t *self, int64_t now_s)
{
    if (self->apns_jwt && now_s - self->apns_jwt_at < APNS_JWT_REFRESH_S &&
        now_s >= self->apns_jwt_at)
        return self->apns_jwt;
    json_t *h = json_pack("{s:s, s:s}", "alg", "ES256", "kid", self->apns_kid);
    json_t *c = json_pack("{s:s, s:I}", "iss", self->apns_team, "iat", (json_int_t)now_s);
    char *jwt = s_jwt(self->apns_key, h, c);
    if (!jwt)
        return NULL;
    free(self->apns_jwt);
    self->apns_jwt = jwt;
    self->apns_jwt_at = now_s;
    return jwt;
}

void shard_providers_apns_token_drop(shard_providers_t *self)
{
    free(self->apns_jwt);
    self->apns_jwt = NULL;
}

int shard_providers_apns_request(shard_providers_t *self, const char *token, const char *topic,
                                 bool sandbox, const char *payload, const char *collapse,
                                 int64_t now_s, shard_provider_req_t *r)
{
    memset(r, 0, sizeof *r);
    const char *jwt = s_apns_jwt(self, now_s);
    json_t *p = jwt ? json_loads(payload, 0, NULL) : NULL;
    if (!p)
        return -1;
    json_t *body =
        json_pack("{s:{s:{s:O?, s:O?}, s:O?, s:s}, s:O?, s:O?, s:O?, s:O?}", "aps", "alert",
                  "title", json_object_get(p, "from"), "body", json_object_get(p, "preview"),
                  "thread-id", json_object_get(p, "conv"), "sound", "default", "conv",
                  json_object_get(p, "conv"), "seq", json_object_get(p, "seq"), "from",
                  json_object_get(p, "from"), "unread", json_object_get(p, "unread"));
    json_decref(p);
    r->body = body ? json_dumps(body, JSON_COMPACT) : NULL;
    json_decref(body);
    const char *base = sandbox ? self->apns_sandbox_url : self->apns_url;
    size_t n = strlen(base) + strlen(token) + 16;
    if ((r->url = malloc(n)))
        snprintf(r->url, n, "%s/3/device/%s", base, token);
    r->http2 = true;
    char auth[2048], exp[32];
    snprintf(auth, sizeof auth, "bearer %s", jwt);
    snprintf(exp, sizeof exp, "%lld", (long long)(now_s + APNS_EXPIRATION_S));
    s_hdr(r, "authorization", auth);
    s_hdr(r, "apns-topic", topic);
    s_hdr(r, "apns-push-type", "alert");
    s_hdr(r, "apns-priority", "10");
    s_hdr(r, "apns-expiration", exp);
    s_hdr(r, "apns-collapse-id", collapse);
    s_hdr(r, "content-type", "application/json");
    if (!r->body || !r->url || strlen(jwt) + 8 >= sizeof auth || s_hdrs_ok(r, 7) != 0) {
        shard_provider_req_clear(r);
        return -1;
    }
    return 0;
}

/* The value of a string member of resp's JSON object, searched at the top level and in
 * error.details[] (FCM puts "errorCode" there). Copied into buf; "" when absent. */
static const char *s_reason(const char *resp, const char *name, char *buf, size_t cap)
{
    buf[0] = 0;
    json_t *j = resp ? json_loads(resp, 0, NULL) : NULL;
    const char *v = json_string_value(json_object_get(j, name));
    json_t *details = json_object_get(json_object_get(j, "error"), "details");
    size_t i;
    json_t *d;
    json_array_foreach(details, i, d)
    {
        if (!v)
            v = json_string_value(json_object_get(d, name));
    }
    if (v)
        snprintf(buf, cap, "%s", v);
    json_decref(j);
    return buf;
}

shard_push_outcome_t shard_providers_outcome(const char *kind, long status, const char *resp)
{
    char reason[64];
    if (status >= 200 && status < 300)
        return SHARD_PUSH_OK;
    if (strcmp(kind, "fcm") == 0) {
        s_reason(resp, "errorCode", reason, sizeof reason);
        if (status == 404 || strcmp(reason, "UNREGISTERED") == 0)
            return SHARD_PUSH_GONE;
        if (status == 401)
            return SHARD_PUSH_REAUTH;
        return SHARD_PUSH_RETRY;
    }
    if (strcmp(kind, "apns") == 0) {
        s_reason(resp, "reason", reason, sizeof reason);
        if (status == 410 || strcmp(reason, "Unregistered") == 0 ||
            strcmp(reason, "BadDeviceToken") == 0)
            return SHARD_PUSH_GONE;
        if (status == 403 && strcmp(reason, "ExpiredProviderToken") == 0)
            return SHARD_PUSH_REAUTH;
        return SHARD_PUSH_RETRY;
    }
    return status == 404 || status == 410 ? SHARD_PUSH_GONE : SHARD_PUSH_RETRY;
}
