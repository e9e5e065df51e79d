/* accounts — accounts, device tokens and the conversation index. See accounts.h. */
#include "accounts.h"

#include <stdint.h>
#include <sodium.h>
#include <stdlib.h>
#include <string.h>

#include "pl_err.h"
#include "pl_log.h"
#include "pl_text.h"
#include "pl_time.h"
#include "loc.h"
#include "outbox.h"
#include "guard.h"
#include "push.h"
#include "quota.h"

#define HASH_MAX 1024 /* an Argon2id string is ~100 bytes */
#define TH_LEN 64     /* hex SHA-256 */

/* The request's "user" when it is a valid name; otherwise answers bad_request. */
static const char *s_user(shard_t *shard, const char *gw, const char *reqid, json_t *req)
{
    const char *user = shard_json_str(req, "user");
    if (!user || !pl_user_valid(user)) {
        shard_reply(shard, gw, reqid, PL_E_BAD_REQUEST, "invalid user");
        return NULL;
    }
    return user;
}

static bool s_hex64(const char *s)
{
    if (!s || strlen(s) != TH_LEN)
        return false;
    for (const char *p = s; *p; p++)
        if (!((*p >= '0' && *p <= '9') || (*p >= 'a' && *p <= 'f') || (*p >= 'A' && *p <= 'F')))
            return false;
    return true;
}

void shard_op_user_create(shard_t *shard, const char *gw, const char *reqid, json_t *req)
{
    shard_key_t key;
    char *old = NULL;
    const char *user = s_user(shard, gw, reqid, req);
    if (!user)
        return;
    const char *hash = shard_json_str(req, "hash");
    if (!hash || !*hash || strlen(hash) > HASH_MAX) {
        shard_reply(shard, gw, reqid, PL_E_BAD_REQUEST, "invalid hash");
        return;
    }
    shard_key_user(&key, user);
    int rc = shard_store_get(shard_store(shard), &key, &old, NULL);
    free(old);
    if (rc < 0) {
        shard_reply(shard, gw, reqid, PL_E_UNAVAILABLE, "storage error");
        return;
    }
    if (rc == 1) {
        shard_reply(shard, gw, reqid, PL_E_CONFLICT, "user name is taken");
        return;
    }
    json_t *acct = json_pack("{s:s, s:I}", "hash", hash, "created", (json_int_t)pl_now_ms());
    char *text = acct ? json_dumps(acct, JSON_COMPACT) : NULL;
    json_decref(acct);
    if (!text) {
        shard_reply(shard, gw, reqid, PL_E_INTERNAL, "cannot encode account");
        return;
    }
    rc = shard_store_put(shard_store(shard), &key, text, strlen(text), shard_sync(shard));
    free(text);
    if (rc != 0) {
        shard_reply(shard, gw, reqid, PL_E_UNAVAILABLE, "storage error");
        return;
    }
    pl_info("user %s created", user);
    shard_reply(shard, gw, reqid, "ok", "{}");
}

/* The stored account of the request's user into *val (caller frees). Returns 1 when
 * found; otherwise 0 after answering (bad_request, not_found or unavailable). */
static int s_account(shard_t *shard, const char *gw, const char *reqid, json_t *req,
                     const char **user_out, char **val)
{
    shard_key_t key;
    *val = NULL;
    const char *user = s_user(shard, gw, reqid, req);
    if (!user)
        return 0;
    shard_key_user(&key, user);
    int rc = shard_store_get(shard_store(shard), &key, val, NULL);
    if (rc <= 0) {
        free(*val);
        *val = NULL;
        shard_reply(shard, gw, reqid, rc < 0 ? PL_E_UNAVAILABLE : PL_E_NOT_FOUND,
                    rc < 0 ? "storage error" : "no such user");
        return 0;
    }
    *user_out = user;
    return 1;
}

void shard_op_user_get(shard_t *shard, const char *gw, const char *reqid, json_t *req)
{
    const char *user = NULL;
    char *val = NULL;
    if (!s_account(shard, gw, reqid, req, &user, &val))
        return;
    int retry_s = 0;
    if (json_is_true(json_object_get(req, "login")) &&
        !shard_guard_login(shard_guard(shard), user, &retry_s)) {
        /* per-account guessing budget (guard.h): refused before any password is checked */
        free(val);
        char why[96];
        snprintf(why, sizeof why, "too many login attempts for this account: retry after %d s",
                 retry_s);
        pl_warn("login of %s refused: account guessing budget empty", user);
        shard_reply(shard, gw, reqid, PL_E_RATE_LIMITED, why);
        return;
    }
    json_t *acct = json_loads(val, 0, NULL);
    free(val);
    const char *hash = acct ? shard_json_str(acct, "hash") : NULL;
    if (!hash) {
        pl_error("user %s: stored account is corrupt", user);
        json_decref(acct);
        shard_reply(shard, gw, reqid, PL_E_INTERNAL, "stored account is corrupt");
        return;
    }
    shard_reply_json(shard, gw, reqid, json_pack("{s:s}", "hash", hash));
    json_decref(acct);
}

void shard_op_user_exists(shard_t *shard, const char *gw, const char *reqid, json_t *req)
{
    const char *user = NULL;
    char *val = NULL;
    if (!s_account(shard, gw, reqid, req, &user, &val))
        return;
    free(val);
    shard_reply(shard, gw, reqid, "ok", "{}");
}

/* The request's user, device and th, validated; NULL user after answering bad_request. */
static const char *s_token_args(shard_t *shard, const char *gw, const char *reqid, json_t *req,
                                shard_key_t *key, const char **th)
{
    const char *user = s_user(shard, gw, reqid, req);
    if (!user)
        return NULL;
    const char *device = shard_json_str(req, "device");
    *th = shard_json_str(req, "th");
    if (!device || !pl_device_valid(device) || !s_hex64(*th)) {
        shard_reply(shard, gw, reqid, PL_E_BAD_REQUEST, "invalid device or token hash");
        return NULL;
    }
    shard_key_token(key, user, device);
    return user;
}

/* Tell every gateway that the tokens in `tokens` (array of {"device","th"}, taken) of user
 * are void: ["EVT", gw, [user], "", {"type":"_revoke","user","tokens":[...]}]. A gateway
 * closes (4401) each socket of user authenticated with one of them. Sent on the same
 * router path as every earlier answer to that gateway, so a token_check answered ok
 * before the revoke reaches the gateway before this event (internals.md "Logout"). */
static void s_revoked(shard_t *shard, const char *user, json_t *tokens)
{
    json_t *ev = json_pack("{s:s, s:s, s:o}", "type", "_revoke", "user", user, "tokens", tokens);
    char *ev_text = ev ? json_dumps(ev, JSON_COMPACT) : NULL;
    if (ev_text)
        shard_loc_push_all(shard_loc(shard), user, ev_text);
    else
        pl_error("token revoke of %s: out of memory, gateways not told", user);
    free(ev_text);
    json_decref(ev);
}

/* [{"device":device,"th":th (len bytes)}], or NULL on OOM. */
static json_t *s_one_token(const char *device, const char *th, size_t len)
{
    return json_pack("[{s:s, s:s%}]", "device", device, "th", th, len);
}

/* Before a new device's token is stored: when user holds --max-devices tokens already,
 * stage the deletion of the least recently used one (and its device's push targets) in
 * batch and return its [{"device","th"}] in *evicted (NULL when none). 0 or -1 (storage
 * error or OOM). */
static int s_device_cap(shard_t *shard, const char *user, shard_batch_t *batch, json_t **evicted)
{
    int max = shard_guard_max_devices(shard_guard(shard));
    *evicted = NULL;
    if (max <= 0)
        return 0;
    shard_key_t prefix, lru_key;
    char lru_dev[PL_DEVICE_MAX + 1] = "", lru_th[TH_LEN + 1] = "";
    int64_t lru_at = INT64_MAX;
    int n = 0;
    shard_iter_t *it = NULL;
    if (shard_key_token_prefix(&prefix, user) != 0 ||
        !(it = shard_iter_new(shard_store(shard), &prefix)))
        return -1;
    for (shard_iter_seek_first(it); shard_iter_valid(it); shard_iter_next(it)) {
        size_t klen = 0, vlen = 0;
        const char *k = shard_iter_key(it, &klen);
        const char *v = shard_iter_value(it, &vlen);
        size_t dlen = klen - prefix.len;
        if (dlen == 0 || dlen >= sizeof lru_dev || vlen != TH_LEN || klen > SHARD_KEY_MAX)
            continue; /* not a token this code wrote */
        n++;
        char dev[PL_DEVICE_MAX + 1];
        memcpy(dev, k + prefix.len, dlen);
        dev[dlen] = '\0';
        int64_t at = shard_guard_device_last(shard_guard(shard), user, dev);
        if (at < lru_at) { /* ties: the first in key order */
            lru_at = at;
            memcpy(lru_dev, dev, dlen + 1);
            memcpy(lru_th, v, TH_LEN);
            lru_th[TH_LEN] = '\0';
            lru_key.len = klen;
            memcpy(lru_key.buf, k, klen);
        }
    }
    int rc = shard_iter_status(it);
    shard_iter_destroy(&it);
    if (rc != 0 || n < max)
        return rc;
    shard_batch_del(batch, &lru_key);
    if (shard_push_forget_device(shard, batch, user, lru_dev) != 0 ||
        !(*evicted = s_one_token(lru_dev, lru_th, TH_LEN)))
        return -1;
    return 0;
}

void shard_op_token_set(shard_t *shard, const char *gw, const char *reqid, json_t *req)
{
    shard_key_t key;
    const char *th = NULL;
    char *old = NULL;
    size_t old_len = 0;
    const char *user = s_token_args(shard, gw, reqid, req, &key, &th);
    if (!user)
        return;
    const char *device = shard_json_str(req, "device");
    if (shard_store_get(shard_store(shard), &key, &old, &old_len) < 0) {
        shard_reply(shard, gw, reqid, PL_E_UNAVAILABLE, "storage error");
        return;
    }
    /* a new device over --max-devices: the least recently used token goes in the same
     * atomic write (with the push targets its device registered, like a logout) */
    json_t *evicted = NULL;
    shard_batch_t *batch = shard_batch_new(shard_store(shard));
    int rc = batch ? 0 : -1;
    if (rc == 0 && !old)
        rc = s_device_cap(shard, user, batch, &evicted);
    if (rc == 0) {
        shard_batch_put(batch, &key, th, TH_LEN);
        rc = shard_store_write(shard_store(shard), batch, shard_sync(shard));
    }
    shard_batch_destroy(&batch);
    if (rc != 0) {
        free(old);
        json_decref(evicted);
        shard_reply(shard, gw, reqid, PL_E_UNAVAILABLE, "storage error");
        return;
    }
    pl_info("token set for %s/%s", user, device);
    shard_guard_login_ok(shard_guard(shard), user);
    shard_guard_device_used(shard_guard(shard), user, device);
    if (evicted) {
        const char *gone = json_string_value(json_object_get(json_array_get(evicted, 0), "device"));
        pl_info("%s has more than %d devices: token of %s revoked (least recently used)", user,
                shard_guard_max_devices(shard_guard(shard)), gone ? gone : "?");
        if (gone)
            shard_guard_device_gone(shard_guard(shard), user, gone);
        s_revoked(shard, user, evicted);
    }
    /* the device's previous token is replaced: its sockets are closed everywhere */
    if (old && (old_len != TH_LEN || memcmp(old, th, TH_LEN) != 0))
        s_revoked(shard, user, s_one_token(device, old, old_len));
    free(old);
    shard_reply(shard, gw, reqid, "ok", "{}");
}

/* Delete every token of user in one WriteBatch; their {"device","th"} into *tokens (new
 * array). 0, or -1 (storage error, nothing deleted; *tokens NULL). */
static int s_revoke_all(shard_t *shard, const char *user, json_t **tokens)
{
    shard_key_t prefix, key;
    *tokens = json_array();
    shard_batch_t *batch = shard_batch_new(shard_store(shard));
    shard_iter_t *it = NULL;
    if (!*tokens || !batch || shard_key_token_prefix(&prefix, user) != 0 ||
        !(it = shard_iter_new(shard_store(shard), &prefix)))
        goto fail;
    for (shard_iter_seek_first(it); shard_iter_valid(it); shard_iter_next(it)) {
        size_t klen = 0, vlen = 0;
        const char *k = shard_iter_key(it, &klen);
        const char *v = shard_iter_value(it, &vlen);
        json_t *t =
            json_pack("{s:s%, s:s%}", "device", k + prefix.len, klen - prefix.len, "th", v, vlen);
        if (!t || json_array_append_new(*tokens, t) != 0 || klen > SHARD_KEY_MAX)
            goto fail;
        key.len = klen;
        memcpy(key.buf, k, klen);
        shard_batch_del(batch, &key);
    }
    /* logging every device out removes every push target, in the same atomic write */
    if (shard_iter_status(it) != 0 || shard_push_forget_device(shard, batch, user, NULL) != 0 ||
        shard_store_write(shard_store(shard), batch, shard_sync(shard)) != 0)
        goto fail;
    shard_iter_destroy(&it);
    shard_batch_destroy(&batch);
    return 0;
fail:
    shard_iter_destroy(&it);
    shard_batch_destroy(&batch);
    json_decref(*tokens);
    *tokens = NULL;
    return -1;
}

void shard_op_token_revoke(shard_t *shard, const char *gw, const char *reqid, json_t *req)
{
    shard_key_t key;
    const char *th = NULL;
    char *val = NULL;
    size_t len = 0;
    const char *user = s_token_args(shard, gw, reqid, req, &key, &th);
    if (!user)
        return;
    json_t *all = json_object_get(req, "all");
    if (all && !json_is_boolean(all)) {
        shard_reply(shard, gw, reqid, PL_E_BAD_REQUEST, "all must be a boolean");
        return;
    }
    const char *device = shard_json_str(req, "device");
    int rc = shard_store_get(shard_store(shard), &key, &val, &len);
    bool match = rc == 1 && len == TH_LEN && sodium_memcmp(val, th, TH_LEN) == 0;
    free(val);
    if (rc < 0) {
        shard_reply(shard, gw, reqid, PL_E_UNAVAILABLE, "storage error");
        return;
    }
    if (!match) {
        shard_reply(shard, gw, reqid, PL_E_UNAUTHENTICATED, "unknown or revoked token");
        return;
    }
    json_t *tokens = NULL;
    if (json_is_true(all)) {
        rc = s_revoke_all(shard, user, &tokens);
    } else {
        /* the token and the push targets this device registered go in one atomic write */
        shard_batch_t *batch = shard_batch_new(shard_store(shard));
        rc = -1;
        if (batch) {
            shard_batch_del(batch, &key);
            if (shard_push_forget_device(shard, batch, user, device) == 0)
                rc = shard_store_write(shard_store(shard), batch, shard_sync(shard));
        }
        shard_batch_destroy(&batch);
        if (rc == 0 && !(tokens = s_one_token(device, th, TH_LEN)))
            pl_error("token revoke of %s/%s: out of memory", user, device);
    }
    if (rc != 0) {
        shard_reply(shard, gw, reqid, PL_E_UNAVAILABLE, "storage error");
        return;
    }
    pl_info("token%s revoked for %s/%s", json_is_true(all) ? "s of every device" : "", user,
            device);
    if (tokens)
        s_revoked(shard, user, tokens);
    shard_reply(shard, gw, reqid, "ok", "{}");
}

void shard_op_token_check(shard_t *shard, const char *gw, const char *reqid, json_t *req)
{
    shard_key_t key;
    const char *th = NULL;
    char *val = NULL;
    size_t len = 0;
    const char *user = s_token_args(shard, gw, reqid, req, &key, &th);
    if (!user)
        return;
    int rc = shard_store_get(shard_store(shard), &key, &val, &len);
    bool match = rc == 1 && len == TH_LEN && sodium_memcmp(val, th, TH_LEN) == 0;
    free(val);
    if (rc < 0)
        shard_reply(shard, gw, reqid, PL_E_UNAVAILABLE, "storage error");
    else if (!match)
        shard_reply(shard, gw, reqid, PL_E_UNAUTHENTICATED, "invalid or replaced token");
    else {
        shard_guard_device_used(shard_guard(shard), user, shard_json_str(req, "device"));
        shard_reply(shard, gw, reqid, "ok", "{}");
    }
}

void shard_op_conv_list(shard_t *shard, const char *gw, const char *reqid, json_t *req)
{
    shard_key_t prefix;
    const char *user = s_user(shard, gw, reqid, req);
    if (!user)
        return;
    shard_key_index_prefix(&prefix, user);
    /* paging (internals.md "Budgets"): at most `limit` entries after the id `after`, in
     * byte order of the conv ids (the index's key order) */
    json_t *limitv = json_object_get(req, "limit");
    const char *after = shard_json_str(req, "after");
    json_int_t limit = json_is_integer(limitv) ? json_integer_value(limitv) : SHARD_CONVS_MAX;
    if ((limitv && !json_is_integer(limitv)) || limit < 1 || limit > SHARD_CONVS_MAX ||
        (json_object_get(req, "after") && !after)) {
        shard_reply(shard, gw, reqid, PL_E_BAD_REQUEST, "invalid limit or after");
        return;
    }
    shard_key_t from;
    if (after && shard_key_index(&from, user, after) != 0) {
        shard_reply(shard, gw, reqid, PL_E_BAD_REQUEST, "invalid after");
        return;
    }
    json_t *convs = json_array();
    shard_iter_t *it = shard_iter_new(shard_store(shard), &prefix);
    bool more = false;
    if (!convs || !it)
        goto fail;
    if (after)
        shard_iter_seek(it, &from);
    else
        shard_iter_seek_first(it);
    for (; shard_iter_valid(it); shard_iter_next(it)) {
        size_t klen = 0, vlen = 0;
        const char *k = shard_iter_key(it, &klen);
        if (after && klen == from.len && memcmp(k, from.buf, klen) == 0)
            continue; /* strictly after the cursor */
        if ((json_int_t)json_array_size(convs) >= limit) {
            more = true;
            break;
        }
        const char *v = shard_iter_value(it, &vlen);
        const char *sp = memchr(v, ' ', vlen); /* "group <members>": the kind ends there */
        if (sp)
            vlen = (size_t)(sp - v);
        json_t *entry =
            json_pack("{s:s%, s:s%}", "conv", k + prefix.len, klen - prefix.len, "kind", v, vlen);
        if (!entry || json_array_append_new(convs, entry) != 0)
            goto fail;
    }
    if (shard_iter_status(it) != 0) {
        shard_iter_destroy(&it);
        json_decref(convs);
        shard_reply(shard, gw, reqid, PL_E_UNAVAILABLE, "storage error");
        return;
    }
    shard_iter_destroy(&it);
    shard_reply_json(shard, gw, reqid, json_pack("{s:o,s:b}", "convs", convs, "more", more));
    return;
fail:
    shard_iter_destroy(&it);
    json_decref(convs);
    shard_reply(shard, gw, reqid, PL_E_INTERNAL, "cannot build answer");
}

/* Answer an idx_add/idx_del: ["FWD", from, {"op":"idx_ack","user","conv","nonce"}]. */
static void s_idx_ack(shard_t *shard, json_t *req, const char *user, const char *conv)
{
    char from_buf[80];
    const char *from = shard_json_str(req, "from");
    const char *nonce = shard_json_str(req, "nonce");
    if (!from) {
        snprintf(from_buf, sizeof(from_buf), "c:%s", conv);
        from = from_buf;
    }
    json_t *ack = json_pack("{s:s, s:s, s:s}", "op", "idx_ack", "user", user, "conv", conv);
    if (ack && nonce)
        json_object_set_new(ack, "nonce", json_string(nonce));
    char *text = ack ? json_dumps(ack, JSON_COMPACT) : NULL;
    json_decref(ack);
    if (text)
        shard_fwd(shard, PL_OP_IDX_ACK, from, text);
    free(text);
}

void shard_op_idx_del(shard_t *shard, const char *gw, const char *reqid, json_t *req)
{
    shard_key_t key;
    const char *user = shard_json_str(req, "user");
    const char *conv = shard_json_str(req, "conv");
    if (!user || !pl_user_valid(user) || !conv || shard_key_index(&key, user, conv) != 0) {
        pl_warn("FWD idx_del: malformed payload dropped");
        return;
    }
    char *old = NULL;
    int had = shard_store_get(shard_store(shard), &key, &old, NULL);
    free(old);
    if (had < 0 || shard_store_del(shard_store(shard), &key, shard_sync(shard)) != 0)
        return; /* not acknowledged: the conversation's shard resends */
    if (had == 1)
        shard_quota_indexed(shard_quota(shard), user, conv, false);
    s_idx_ack(shard, req, user, conv);
    pl_debug("index: %s left %s", user, conv);
}

void shard_op_idx_add(shard_t *shard, const char *gw, const char *reqid, json_t *req)
{
    shard_key_t key;
    const char *user = shard_json_str(req, "user");
    const char *conv = shard_json_str(req, "conv");
    const char *kind = shard_json_str(req, "kind");
    if (!user || !pl_user_valid(user) || !conv || !kind ||
        (strcmp(kind, "dm") != 0 && strcmp(kind, "group") != 0) ||
        shard_key_index(&key, user, conv) != 0) {
        pl_warn("FWD idx_add: malformed payload dropped");
        return;
    }
    /* a group entry keeps its member list after the kind: "group <JSON array>" (presence
     * contacts, internals.md "Presence") */
    json_t *members = strcmp(kind, "group") == 0 ? json_object_get(req, "members") : NULL;
    char *list = json_is_array(members) ? json_dumps(members, JSON_COMPACT) : NULL;
    char *value = list ? malloc(strlen(kind) + 1 + strlen(list) + 1) : NULL;
    if (value)
        sprintf(value, "%s %s", kind, list);
    const char *v = value ? value : kind;
    char *old = NULL;
    int had = shard_store_get(shard_store(shard), &key, &old, NULL);
    free(old);
    int rc =
        had < 0 ? -1 : shard_store_put(shard_store(shard), &key, v, strlen(v), shard_sync(shard));
    free(value);
    free(list);
    if (rc != 0)
        return; /* not acknowledged: the conversation's shard resends */
    if (had == 0)
        shard_quota_indexed(shard_quota(shard), user, conv, true); /* a new entry: count it */
    s_idx_ack(shard, req, user, conv);
    pl_debug("index: %s is in %s", user, conv);
}

void shard_op_idx_ack(shard_t *shard, const char *gw, const char *reqid, json_t *req)
{
    shard_outbox_ack(shard_outbox(shard), req);
}
