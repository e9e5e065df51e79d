/* accounts — POST /v1/users (create) and POST /v1/sessions (login), PROTOCOL.md §2.
 *
 * create: validate -> Argon2id hash on the thread pool -> user_create -> 201 / 409.
 * login:  validate -> user_get -> verify on the thread pool -> token_set -> 200 / 401.
 * The token is "<user>.<device>.<secret>", secret = 32 random bytes in base64url without
 * padding; the shard stores th = hex SHA-256 of the 32 raw secret bytes (requests.c
 * computes the same for token_check). An unknown user is verified against a dummy hash so
 * both 401 cases take about the same time.
 *
 * Thread: everything on the loop thread except s_work_*, which touch only their acct_t.
 *
 * Cost: Argon2id at libsodium's INTERACTIVE limits (2 passes, 64 MiB). The environment
 * variable PARLEY_TEST_PWHASH_MIN=1 lowers new hashes (and the dummy) to the MIN limits
 * (1 pass, 8 KiB): for the test suite only (tests/e2e/lib/cluster.js sets it, so hundreds
 * of accounts do not cost minutes of CPU), never for a real deployment; the gateway logs
 * a warning at start when it is set. Verification reads the cost from the stored hash. */
#include "gw.h"
#include "gw_accounts.h"
#include "gw_frames.h"
#include "gw_http_req.h"
#include "gw_zlink.h"
#include "pl_text.h"

/* Set once by gw_accounts_init on the loop thread, before any work is queued; read by the
 * thread-pool work after (uv_queue_work orders the two). */
static unsigned long long s_opslimit = crypto_pwhash_OPSLIMIT_INTERACTIVE;
static size_t s_memlimit = crypto_pwhash_MEMLIMIT_INTERACTIVE;

enum acct_kind { ACCT_CREATE, ACCT_LOGIN };

typedef struct acct {
    uv_work_t work;
    gw_t *gw;
    gw_http_req_t *r; /* one reference */
    enum acct_kind kind;
    char user[PL_USER_MAX + 1];
    char device[PL_DEVICE_MAX + 1];
    char *password;
    size_t pwlen;
    char hash[crypto_pwhash_STRBYTES];
    int rc;       /* result of the thread-pool work: 0 ok */
    bool unknown; /* login of a user that does not exist (verified against the dummy) */
} acct_t;

static void s_destroy(acct_t **a_p)
{
    acct_t *a = *a_p;
    if (!a)
        return;
    if (a->password) {
        sodium_memzero(a->password, a->pwlen);
        free(a->password);
    }
    sodium_memzero(a->hash, sizeof a->hash);
    gw_http_req_unref(&a->r);
    free(a);
    *a_p = NULL;
}

/* Answer an error status from the router as HTTP. */
static void s_router_error(acct_t *a, const char *status, const char *body, size_t len)
{
    if (strcmp(status, PL_E_RATE_LIMITED) == 0) {
        /* the account's guessing budget (shard guard.c): "... retry after N s" */
        const char *after = len < 200 ? strstr(body, "retry after ") : NULL;
        a->r->retry_after = after ? atoi(after + 12) : 0;
        gw_http_respond_error(a->r, 429, PL_E_RATE_LIMITED,
                              "too many login attempts for this account: retry later");
        pl_info("login of %s refused: the account's guessing budget is empty", a->user);
        return;
    }
    if (strcmp(status, PL_E_UNAVAILABLE) == 0)
        gw_http_respond_error(a->r, 503, PL_E_UNAVAILABLE, "a shard is unreachable, retry");
    else
        gw_http_respond_error(a->r, 500, PL_E_INTERNAL, "internal error");
    pl_warn("%s for %s: %s %.*s", a->kind == ACCT_CREATE ? "user_create" : "login", a->user, status,
            (int)(len > 200 ? 200 : len), body);
}

static void s_wrong(acct_t *a)
{
    gw_http_respond_error(a->r, 401, PL_E_UNAUTHENTICATED, "wrong user or password");
    pl_info("login of %s refused", a->user);
}

/* Send op payload (taken) for a->user; cb gets a as arg and answers. Returns 0, or -1
 * when out of memory (then answered 500 here and cb is not called). */
static int s_request(acct_t *a, pl_op_t op, json_t *pl, gw_zlink_cb *cb)
{
    char key[40];
    snprintf(key, sizeof key, "u:%s", a->user);
    size_t len;
    char *text = pl ? gw_json_text(pl, &len) : NULL;
    json_decref(pl);
    if (!text) {
        gw_http_respond_error(a->r, 500, PL_E_INTERNAL, "out of memory");
        return -1;
    }
    gw_zlink_request(a->gw->zl, op, key, text, len, cb, a);
    free(text);
    return 0;
}

/* ---- thread pool ---------------------------------------------------------------------- */

static void s_work_hash(uv_work_t *w)
{
    acct_t *a = w->data;
    a->rc = crypto_pwhash_str(a->hash, a->password, a->pwlen, s_opslimit, s_memlimit);
}

static void s_work_verify(uv_work_t *w)
{
    acct_t *a = w->data;
    a->rc = crypto_pwhash_str_verify(a->hash, a->password, a->pwlen);
}

static int s_queue(acct_t *a, uv_work_cb work, uv_after_work_cb after)
{
    a->work.data = a;
    if (uv_queue_work(&a->gw->loop, &a->work, work, after) != 0) {
        gw_http_respond_error(a->r, 500, PL_E_INTERNAL, "cannot queue work");
        return -1;
    }
    return 0;
}

/* ---- create --------------------------------------------------------------------------- */

static void s_on_created(void *arg, const char *status, const char *body, size_t len)
{
    acct_t *a = arg;
    if (strcmp(status, "ok") == 0) {
        json_t *o = json_pack("{s:s}", "user", a->user);
        char *t = o ? gw_json_text(o, NULL) : NULL;
        json_decref(o);
        if (t)
            gw_http_respond(a->r, 201, t);
        else
            gw_http_respond_error(a->r, 500, PL_E_INTERNAL, "out of memory");
        free(t);
        pl_info("user %s created", a->user);
    } else if (strcmp(status, PL_E_CONFLICT) == 0) {
        /* "conflict" is internal (pl_err.h): the client sees 409 with bad_request */
        gw_http_respond_error(a->r, 409, PL_E_BAD_REQUEST, "this user name is taken");
    } else {
        s_router_error(a, status, body, len);
    }
    s_destroy(&a);
}

static void s_after_hash(uv_work_t *w, int status)
{
    acct_t *a = w->data;
    if (status != 0 || a->rc != 0) {
        gw_http_respond_error(a->r, 500, PL_E_INTERNAL, "hashing failed");
        s_destroy(&a);
        return;
    }
    if (!a->r->wsi || a->gw->stopping) { /* client gone: do not create half a request */
        s_destroy(&a);
        return;
    }
    if (s_request(a, PL_OP_USER_CREATE,
                  json_pack("{s:s,s:s,s:s}", "op", "user_create", "user", a->user, "hash", a->hash),
                  s_on_created) != 0)
        s_destroy(&a);
}

/* ---- login ---------------------------------------------------------------------------- */

static void s_on_token_set(void *arg, const char *status, const char *body, size_t len)
{
    acct_t *a = arg;
    if (strcmp(status, "ok") != 0) {
        s_router_error(a, status, body, len);
        s_destroy(&a);
        return;
    }
    /* a->password now holds the token (see s_after_verify) */
    json_t *o =
        json_pack("{s:s,s:s,s:s}", "token", a->password, "user", a->user, "device", a->device);
    char *t = o ? gw_json_text(o, NULL) : NULL;
    json_decref(o);
    if (t) {
        gw_http_respond(a->r, 200, t);
        sodium_memzero(t, strlen(t));
    } else {
        gw_http_respond_error(a->r, 500, PL_E_INTERNAL, "out of memory");
    }
    free(t);
    pl_info("login of %s/%s", a->user, a->device);
    s_destroy(&a);
}

static void s_after_verify(uv_work_t *w, int status)
{
    acct_t *a = w->data;
    if (status != 0 || a->rc != 0 || a->unknown) {
        s_wrong(a);
        s_destroy(&a);
        return;
    }
    if (!a->r->wsi || a->gw->stopping) {
        s_destroy(&a);
        return;
    }
    unsigned char secret[32], digest[crypto_hash_sha256_BYTES];
    char b64[sodium_base64_ENCODED_LEN(32, sodium_base64_VARIANT_URLSAFE_NO_PADDING)];
    char th[2 * crypto_hash_sha256_BYTES + 1];
    randombytes_buf(secret, sizeof secret);
    sodium_bin2base64(b64, sizeof b64, secret, sizeof secret,
                      sodium_base64_VARIANT_URLSAFE_NO_PADDING);
    crypto_hash_sha256(digest, secret, sizeof secret);
    sodium_bin2hex(th, sizeof th, digest, sizeof digest);
    sodium_memzero(secret, sizeof secret);
    /* replace the password by the token: both are secrets wiped at destroy */
    sodium_memzero(a->password, a->pwlen);
    free(a->password);
    size_t tl = strlen(a->user) + strlen(a->device) + strlen(b64) + 3;
    a->password = malloc(tl);
    a->pwlen = tl;
    if (!a->password) {
        gw_http_respond_error(a->r, 500, PL_E_INTERNAL, "out of memory");
        s_destroy(&a);
        return;
    }
    snprintf(a->password, tl, "%s.%s.%s", a->user, a->device, b64);
    sodium_memzero(b64, sizeof b64);
    if (s_request(a, PL_OP_TOKEN_SET,
                  json_pack("{s:s,s:s,s:s,s:s}", "op", "token_set", "user", a->user, "device",
                            a->device, "th", th),
                  s_on_token_set) != 0)
        s_destroy(&a);
}

static void s_on_user(void *arg, const char *status, const char *body, size_t len)
{
    acct_t *a = arg;
    if (strcmp(status, PL_E_NOT_FOUND) == 0) {
        /* no such user: the same work as for a real one (against the dummy hash), then 401 */
        if (a->gw->dummy_ready) {
            memcpy(a->hash, a->gw->dummy_hash, sizeof a->hash);
            a->unknown = true;
            if (s_queue(a, s_work_verify, s_after_verify) == 0)
                return;
            s_destroy(&a);
            return;
        }
        s_wrong(a);
        s_destroy(&a);
        return;
    }
    if (strcmp(status, "ok") != 0) {
        s_router_error(a, status, body, len);
        s_destroy(&a);
        return;
    }
    json_error_t err;
    json_t *b = json_loadb(body, len, 0, &err);
    const char *h = json_string_value(json_object_get(b, "hash"));
    if (!h || strlen(h) >= sizeof a->hash) {
        json_decref(b);
        s_router_error(a, PL_E_INTERNAL, "account without a valid hash", 28);
        s_destroy(&a);
        return;
    }
    snprintf(a->hash, sizeof a->hash, "%s", h);
    json_decref(b);
    if (s_queue(a, s_work_verify, s_after_verify) != 0)
        s_destroy(&a);
}

/* ---- entry points --------------------------------------------------------------------- */

/* Parse the body of r; on success returns a new acct_t (with user, password and, for a
 * login, device), else answers 400 and returns NULL. */
static acct_t *s_parse(gw_http_req_t *r, enum acct_kind kind)
{
    json_error_t err;
    json_t *b = json_loadb(r->body ? r->body : "", r->body_len,
                           JSON_REJECT_DUPLICATES | JSON_ALLOW_NUL, &err);
    acct_t *a = NULL;
    const char *msg = NULL;
    if (!json_is_object(b)) {
        msg = "the body must be a JSON object";
        goto bad;
    }
    json_t *uv = json_object_get(b, "user"), *pv = json_object_get(b, "password");
    json_t *dv = json_object_get(b, "device");
    if (!json_is_string(uv) || !json_is_string(pv) || (kind == ACCT_LOGIN && !json_is_string(dv))) {
        msg = kind == ACCT_LOGIN ? "user, password and device must be strings"
                                 : "user and password must be strings";
        goto bad;
    }
    const char *user = json_string_value(uv), *pw = json_string_value(pv);
    size_t pwlen = json_string_length(pv);
    if (strlen(user) != json_string_length(uv) || !pl_user_valid(user)) {
        msg = "user must be 3 to 32 characters of [a-z0-9_]";
        goto bad;
    }
    if (!pl_password_valid(pw, pwlen)) {
        msg = "password must be 8 to 1024 bytes";
        goto bad;
    }
    const char *device = kind == ACCT_LOGIN ? json_string_value(dv) : "";
    if (kind == ACCT_LOGIN &&
        (strlen(device) != json_string_length(dv) || !pl_device_valid(device))) {
        msg = "device must be 1 to 64 characters of [A-Za-z0-9_.-]";
        goto bad;
    }
    a = calloc(1, sizeof *a);
    if (!a || !(a->password = malloc(pwlen + 1))) {
        free(a);
        json_decref(b);
        gw_http_respond_error(r, 500, PL_E_INTERNAL, "out of memory");
        return NULL;
    }
    memcpy(a->password, pw, pwlen + 1);
    a->pwlen = pwlen;
    snprintf(a->user, sizeof a->user, "%s", user);
    snprintf(a->device, sizeof a->device, "%s", device);
    a->kind = kind;
    a->gw = r->gw;
    a->r = gw_http_req_ref(r);
    json_decref(b);
    return a;
bad:
    json_decref(b);
    gw_http_respond_error(r, 400, PL_E_BAD_REQUEST, msg);
    return NULL;
}

void gw_accounts_create_user(gw_http_req_t *r)
{
    acct_t *a = s_parse(r, ACCT_CREATE);
    if (a && s_queue(a, s_work_hash, s_after_hash) != 0)
        s_destroy(&a);
}

void gw_accounts_login(gw_http_req_t *r)
{
    acct_t *a = s_parse(r, ACCT_LOGIN);
    if (!a)
        return;
    if (s_request(a, PL_OP_USER_GET,
                  json_pack("{s:s,s:s,s:b}", "op", "user_get", "user", a->user, "login", 1),
                  s_on_user) != 0)
        s_destroy(&a);
}

/* ---- the dummy hash ------------------------------------------------------------------- */

typedef struct {
    uv_work_t work;
    gw_t *gw;
    char hash[crypto_pwhash_STRBYTES];
    int rc;
} dummy_t;

static void s_dummy_work(uv_work_t *w)
{
    dummy_t *d = w->data;
    unsigned char pw[24];
    randombytes_buf(pw, sizeof pw);
    d->rc = crypto_pwhash_str(d->hash, (const char *)pw, sizeof pw, s_opslimit, s_memlimit);
}

static void s_dummy_after(uv_work_t *w, int status)
{
    dummy_t *d = w->data;
    if (status == 0 && d->rc == 0) {
        memcpy(d->gw->dummy_hash, d->hash, sizeof d->hash);
        d->gw->dummy_ready = true;
    }
    free(d);
}

void gw_accounts_init(gw_t *gw)
{
    const char *test_min = getenv("PARLEY_TEST_PWHASH_MIN");
    if (test_min && strcmp(test_min, "1") == 0) {
        s_opslimit = crypto_pwhash_OPSLIMIT_MIN;
        s_memlimit = crypto_pwhash_MEMLIMIT_MIN;
        pl_warn("PARLEY_TEST_PWHASH_MIN=1: passwords are hashed at Argon2id's minimum cost "
                "(for tests only, never in production)");
    }
    dummy_t *d = calloc(1, sizeof *d);
    if (!d)
        return;
    d->gw = gw;
    d->work.data = d;
    if (uv_queue_work(&gw->loop, &d->work, s_dummy_work, s_dummy_after) != 0)
        free(d);
}
