/* push — targets, the commit trigger and the FWD `push` handler. See push.h. */
#include "push.h"

#include <sodium.h>
#include <stdlib.h>
#include <string.h>

#include "keys.h"
#include "loc.h"
#include "outbox.h"
#include "pl_err.h"
#include "pl_log.h"
#include "pl_text.h"
#include "pl_time.h"
#include "presence.h"
#include "pusher.h"

/* Longest conversation id (dm:<32>:<32>; g: ids are shorter). */
#define PUSH_CONV_MAX 80

/* Per (user, conv) with a notification in the last SHARD_PUSH_COLLAPSE_MS: when it went
 * out, and the newest message held back since (sent when the window ends). */
typedef struct {
    int64_t sent_ms;  /* pl_mono_ms */
    char *payload;    /* held notification, or NULL */
    int64_t seq;      /* its seq */
    int64_t seq_seen; /* the highest seq taken (a resent FWD of it changes nothing) */
} collapse_t;

struct _shard_push_t {
    shard_t *shard;
    shard_pusher_t *pusher;
    zhashx_t *collapse;     /* "<user> <conv>" -> collapse_t */
    shard_outbox_t *outbox; /* conversation side: FWD push until the member's shard acks */
};

static void s_requeue(shard_push_t *self);

static void s_collapse_free(void **item)
{
    collapse_t *c = *item;
    if (c) {
        free(c->payload);
        free(c);
        *item = NULL;
    }
}

shard_push_t *shard_push_new(shard_t *shard, const char *vapid_key, const char *subject,
                             const shard_providers_cfg_t *providers)
{
    EVP_PKEY *key = NULL;
    if (vapid_key && !(key = webpush_key_load(vapid_key)))
        return NULL;
    shard_providers_t *prov = shard_providers_new(providers);
    if (!prov) {
        EVP_PKEY_free(key);
        return NULL;
    }
    shard_push_t *self = calloc(1, sizeof *self);
    if (!self) {
        EVP_PKEY_free(key);
        shard_providers_destroy(&prov);
        return NULL;
    }
    self->shard = shard;
    self->pusher = shard_pusher_new(key, subject, prov); /* takes key and prov */
    self->collapse = zhashx_new();
    if (!self->pusher || !self->collapse) {
        shard_push_destroy(&self);
        return NULL;
    }
    zhashx_set_destructor(self->collapse, s_collapse_free);
    /* the notifications a crash or stop left behind: resent (outbox) and delivered (q) */
    self->outbox = shard_outbox_new_push(shard);
    if (!self->outbox) {
        shard_push_destroy(&self);
        return NULL;
    }
    s_requeue(self);
    return self;
}

void shard_push_destroy(shard_push_t **self_p)
{
    if (!self_p || !*self_p)
        return;
    shard_pusher_destroy(&(*self_p)->pusher);
    zhashx_destroy(&(*self_p)->collapse);
    shard_outbox_destroy(&(*self_p)->outbox);
    free(*self_p);
    *self_p = NULL;
}

/* <S>P<user>\0 and, with hash, <S>P<user>\0<hash>. */
static int s_key(shard_key_t *key, const char *user, const char *hash)
{
    return shard_key_push(key, user, hash);
}

size_t shard_push_preview_len(const char *text, size_t len, size_t max_cp)
{
    size_t i = 0, cp = 0;
    while (i < len && cp < max_cp) {
        i++; /* past the lead byte, then its continuation bytes */
        while (i < len && ((unsigned char)text[i] & 0xC0) == 0x80)
            i++;
        cp++;
    }
    return i;
}

void shard_op_push_register(shard_t *shard, const char *gw, const char *reqid, json_t *req)
{
    const char *user = shard_json_str(req, "user");
    const char *device = shard_json_str(req, "device"); /* absent from older gateways */
    json_t *target = json_object_get(req, "target");
    const char *kind = json_string_value(json_object_get(target, "kind"));
    if (!user || !pl_user_valid(user) || !json_is_object(target) || !kind ||
        (device && !pl_device_valid(device))) {
        shard_reply(shard, gw, reqid, PL_E_BAD_REQUEST, "missing or invalid push_register fields");
        return;
    }
    if (!shard_pusher_accepts(shard_push(shard)->pusher, kind)) {
        shard_reply(shard, gw, reqid, PL_E_FORBIDDEN,
                    strcmp(kind, "fcm") == 0 ? "this server is not configured for FCM"
                                             : "this server is not configured for APNs");
        return;
    }
    char *text = json_dumps(target, JSON_COMPACT | JSON_SORT_KEYS);
    if (!text) {
        shard_reply(shard, gw, reqid, PL_E_INTERNAL, "cannot encode the target");
        return;
    }
    unsigned char h[crypto_hash_sha256_BYTES];
    char hex[2 * sizeof h + 1];
    crypto_hash_sha256(h, (const unsigned char *)text, strlen(text));
    sodium_bin2hex(hex, sizeof hex, h, sizeof h);
    shard_key_t key, prefix, oldest;
    s_key(&key, user, hex);
    s_key(&prefix, user, NULL);
    /* the user's other targets: count them and find the least recently registered */
    size_t count = 0;
    bool exists = false;
    int64_t oldest_at = INT64_MAX;
    oldest.len = 0;
    shard_iter_t *it = shard_iter_new(shard_store(shard), &prefix);
    if (it)
        shard_iter_seek_first(it);
    for (; it && shard_iter_valid(it); shard_iter_next(it)) {
        size_t kl, vl;
        const char *k = shard_iter_key(it, &kl);
        const char *v = shard_iter_value(it, &vl);
        count++;
        if (kl == key.len && memcmp(k, key.buf, kl) == 0) {
            exists = true;
            continue;
        }
        json_t *stored = json_loadb(v, vl, 0, NULL);
        json_int_t at = json_integer_value(json_object_get(stored, "at"));
        json_decref(stored);
        if (at < oldest_at && kl <= sizeof oldest.buf) {
            oldest_at = at;
            memcpy(oldest.buf, k, kl);
            oldest.len = kl;
        }
    }
    int iter_rc = it ? shard_iter_status(it) : -1;
    shard_iter_destroy(&it);
    if (iter_rc != 0) {
        free(text);
        shard_reply(shard, gw, reqid, PL_E_UNAVAILABLE, "storage error");
        return;
    }
    json_t *value = json_pack("{s:O, s:I, s:s}", "target", target, "at", (json_int_t)pl_now_ms(),
                              "device", device ? device : "");
    char *vtext = value ? json_dumps(value, JSON_COMPACT) : NULL;
    json_decref(value);
    free(text);
    if (!vtext) {
        shard_reply(shard, gw, reqid, PL_E_INTERNAL, "cannot encode the target");
        return;
    }
    shard_batch_t *b = shard_batch_new(shard_store(shard));
    if (!b) {
        free(vtext);
        shard_reply(shard, gw, reqid, PL_E_INTERNAL, "out of memory");
        return;
    }
    if (!exists && count >= SHARD_PUSH_TARGETS_MAX && oldest.len) {
        pl_info("push: %s has %zu targets: replacing the oldest", user, count);
        shard_batch_del(b, &oldest);
    }
    shard_batch_put(b, &key, vtext, strlen(vtext));
    int rc = shard_store_write(shard_store(shard), b, shard_sync(shard));
    shard_batch_destroy(&b);
    free(vtext);
    if (rc != 0)
        shard_reply(shard, gw, reqid, PL_E_UNAVAILABLE, "storage write failed");
    else
        shard_reply_json(shard, gw, reqid, json_pack("{s:s}", "push_id", hex));
}

/* "scheme://host[:port]" of an http(s) URL: the label push_list shows (never the path,
 * which for Web Push endpoints and webhooks often holds a secret). */
static json_t *s_label(json_t *target)
{
    const char *url = json_string_value(json_object_get(target, "url"));
    if (!url)
        url = json_string_value(json_object_get(target, "endpoint"));
    const char *host = url ? strstr(url, "://") : NULL;
    const char *kind = json_string_value(json_object_get(target, "kind"));
    if (kind && strcmp(kind, "apns") == 0) /* the app, never the device token */
        return json_pack("s+", json_string_value(json_object_get(target, "topic")),
                         json_is_true(json_object_get(target, "sandbox")) ? " (sandbox)" : "");
    if (!host)
        return json_string(kind && strcmp(kind, "fcm") == 0 ? "Firebase Cloud Messaging" : kind);
    size_t n = (size_t)(host + 3 - url) + strcspn(host + 3, "/?#");
    return json_stringn(url, n);
}

void shard_op_push_list(shard_t *shard, const char *gw, const char *reqid, json_t *req)
{
    const char *user = shard_json_str(req, "user");
    shard_key_t prefix;
    if (!user || !pl_user_valid(user) || s_key(&prefix, user, NULL) != 0) {
        shard_reply(shard, gw, reqid, PL_E_BAD_REQUEST, "missing or invalid push_list fields");
        return;
    }
    json_t *targets = json_array();
    shard_iter_t *it = targets ? shard_iter_new(shard_store(shard), &prefix) : NULL;
    if (it)
        shard_iter_seek_first(it);
    for (; it && shard_iter_valid(it); shard_iter_next(it)) {
        size_t kl, vl;
        const char *k = shard_iter_key(it, &kl);
        const char *v = shard_iter_value(it, &vl);
        json_t *stored = json_loadb(v, vl, 0, NULL);
        json_t *target = json_object_get(stored, "target");
        const char *device = json_string_value(json_object_get(stored, "device"));
        json_t *e =
            json_pack("{s:s%, s:O?, s:o?, s:s?, s:O?}", "push_id", k + prefix.len, kl - prefix.len,
                      "kind", json_object_get(target, "kind"), "label", s_label(target), "device",
                      device && *device ? device : NULL, "at", json_object_get(stored, "at"));
        json_decref(stored);
        if (!e || json_array_append_new(targets, e) != 0)
            break; /* out of memory: reported below */
    }
    int rc = it && !shard_iter_status(it) && !shard_iter_valid(it) ? 0 : -1;
    shard_iter_destroy(&it);
    if (rc != 0) {
        json_decref(targets);
        shard_reply(shard, gw, reqid, PL_E_UNAVAILABLE, "storage error");
        return;
    }
    shard_reply_json(shard, gw, reqid, json_pack("{s:o}", "targets", targets));
}

void shard_op_push_unregister(shard_t *shard, const char *gw, const char *reqid, json_t *req)
{
    const char *user = shard_json_str(req, "user");
    const char *id = shard_json_str(req, "push_id");
    shard_key_t key;
    if (!user || !pl_user_valid(user) || !id || s_key(&key, user, id) != 0) {
        shard_reply(shard, gw, reqid, PL_E_BAD_REQUEST,
                    "missing or invalid push_unregister fields");
        return;
    }
    char *old = NULL;
    int found = strlen(id) == 64 && strspn(id, "0123456789abcdef") == 64
                    ? shard_store_get(shard_store(shard), &key, &old, NULL)
                    : 0;
    free(old);
    if (found < 0)
        shard_reply(shard, gw, reqid, PL_E_UNAVAILABLE, "storage error");
    else if (found == 0)
        shard_reply(shard, gw, reqid, PL_E_NOT_FOUND, "no such push target");
    else if (shard_store_del(shard_store(shard), &key, shard_sync(shard)) != 0)
        shard_reply(shard, gw, reqid, PL_E_UNAVAILABLE, "storage write failed");
    else
        shard_reply(shard, gw, reqid, "ok", "{}");
}

int shard_push_forget_device(shard_t *shard, shard_batch_t *batch, const char *user,
                             const char *device)
{
    shard_key_t prefix;
    if (s_key(&prefix, user, NULL) != 0)
        return -1;
    shard_iter_t *it = shard_iter_new(shard_store(shard), &prefix);
    if (!it)
        return -1;
    for (shard_iter_seek_first(it); shard_iter_valid(it); shard_iter_next(it)) {
        size_t kl, vl;
        const char *k = shard_iter_key(it, &kl);
        const char *v = shard_iter_value(it, &vl);
        json_t *stored = json_loadb(v, vl, 0, NULL);
        const char *d = json_string_value(json_object_get(stored, "device"));
        shard_key_t key;
        if ((!device || (d && strcmp(d, device) == 0)) && kl <= sizeof key.buf) {
            memcpy(key.buf, k, kl);
            key.len = kl;
            shard_batch_del(batch, &key);
        }
        json_decref(stored);
    }
    int rc = shard_iter_status(it);
    shard_iter_destroy(&it);
    return rc;
}

/* Web Push Topic (and FCM/APNs collapse id) of conv: 32 base64url characters naming the
 * conversation, so the push service (and the phone) keeps one notification per conversation. */
static void s_topic(const char *conv, char topic[48])
{
    unsigned char h[crypto_hash_sha256_BYTES];
    crypto_hash_sha256(h, (const unsigned char *)conv, strlen(conv));
    sodium_bin2base64(topic, 48, h, 24, sodium_base64_VARIANT_URLSAFE_NO_PADDING);
}

/* The q record of a delivery: {"payload","seq","first","due"} (wall clock ms). */
static char *s_pending_value(const char *payload, int64_t seq, int64_t first, int64_t due)
{
    json_t *v = json_pack("{s:s, s:I, s:I, s:I}", "payload", payload, "seq", (json_int_t)seq,
                          "first", (json_int_t)first, "due", (json_int_t)due);
    char *text = v ? json_dumps(v, JSON_COMPACT) : NULL;
    json_decref(v);
    return text;
}

/* For every stored target of user: with persist, put the delivery's q record into batch
 * (the newest notification of conv for that target; due: wall ms of its first attempt);
 * with queue, hand it to the pusher. Returns the number of targets, or -1 (read error). */
static int s_deliver(shard_t *shard, shard_batch_t *batch, const char *user, const char *conv,
                     const char *payload, int64_t seq, int64_t due, bool queue)
{
    shard_key_t prefix;
    if (s_key(&prefix, user, NULL) != 0)
        return -1;
    char topic[48];
    s_topic(conv, topic);
    int64_t now = pl_now_ms();
    shard_iter_t *it = shard_iter_new(shard_store(shard), &prefix);
    int n = 0;
    if (it)
        shard_iter_seek_first(it);
    for (; it && shard_iter_valid(it); shard_iter_next(it)) {
        size_t kl, vl;
        const char *k = shard_iter_key(it, &kl);
        const char *v = shard_iter_value(it, &vl);
        shard_key_t qkey;
        char hash[SHARD_KEY_MAX];
        size_t hl = kl - prefix.len;
        if (hl >= sizeof hash)
            continue;
        memcpy(hash, k + prefix.len, hl);
        hash[hl] = 0;
        if (shard_key_push_pending(&qkey, user, hash, conv) != 0)
            continue;
        if (batch) {
            char *rec = s_pending_value(payload, seq, now, due);
            if (rec)
                shard_batch_put(batch, &qkey, rec, strlen(rec));
            free(rec);
        }
        n++;
        if (!queue)
            continue;
        json_t *stored = json_loadb(v, vl, 0, NULL);
        char *target = json_dumps(json_object_get(stored, "target"), JSON_COMPACT);
        json_decref(stored);
        shard_pusher_job_t job = {.target = target,
                                  .payload = payload,
                                  .topic = topic,
                                  .key = k,
                                  .key_len = kl,
                                  .pending = qkey.buf,
                                  .pending_len = qkey.len,
                                  .version = seq,
                                  .first_ms = now,
                                  .due_ms = due};
        if (target)
            shard_pusher_queue(shard_push(shard)->pusher, &job);
        free(target);
    }
    int rc = it && shard_iter_status(it) == 0 ? n : -1;
    shard_iter_destroy(&it);
    return rc;
}

typedef struct {
    shard_push_t *self;
    size_t n, dropped;
} requeue_t;

/* One q record of the start-up scan: to the pusher again, or removed (target gone). */
static void s_requeue_one(void *arg, const char *k, size_t kl, const char *v, size_t vl)
{
    requeue_t *r = arg;
    shard_push_t *self = r->self;
    shard_t *shard = self->shard;
    /* <S>q<user>\0<hash>\0<conv> */
    const char *user = k + 3, *end = k + kl;
    const char *z1 = memchr(user, 0, (size_t)(end - user));
    const char *z2 = z1 ? memchr(z1 + 1, 0, (size_t)(end - z1 - 1)) : NULL;
    char u[PL_USER_MAX + 1], hash[80], conv[PUSH_CONV_MAX + 1];
    shard_key_t tkey, qkey;
    if (kl > sizeof qkey.buf || !z2 || z1 - user >= (long)sizeof u ||
        z2 - z1 - 1 >= (long)sizeof hash || end - z2 - 1 > PUSH_CONV_MAX)
        return;
    snprintf(u, sizeof u, "%.*s", (int)(z1 - user), user);
    snprintf(hash, sizeof hash, "%.*s", (int)(z2 - z1 - 1), z1 + 1);
    snprintf(conv, sizeof conv, "%.*s", (int)(end - z2 - 1), z2 + 1);
    char *target_rec = NULL;
    json_t *rec = json_loadb(v, vl, 0, NULL);
    const char *payload = json_string_value(json_object_get(rec, "payload"));
    int found = s_key(&tkey, u, hash) == 0
                    ? shard_store_get(shard_store(shard), &tkey, &target_rec, NULL)
                    : 0;
    json_t *stored = target_rec ? json_loads(target_rec, 0, NULL) : NULL;
    char *target = stored ? json_dumps(json_object_get(stored, "target"), JSON_COMPACT) : NULL;
    memcpy(qkey.buf, k, kl);
    qkey.len = kl;
    if (found == 0 || !payload) {
        shard_store_del(shard_store(shard), &qkey, false); /* its target is gone */
        r->dropped++;
    } else if (target) {
        char topic[48];
        s_topic(conv, topic);
        shard_pusher_job_t job = {
            .target = target,
            .payload = payload,
            .topic = topic,
            .key = tkey.buf,
            .key_len = tkey.len,
            .pending = qkey.buf,
            .pending_len = qkey.len,
            .version = json_integer_value(json_object_get(rec, "seq")),
            .first_ms = json_integer_value(json_object_get(rec, "first")),
            .due_ms = json_integer_value(json_object_get(rec, "due")),
        };
        if (shard_pusher_queue(self->pusher, &job) == 0)
            r->n++;
    }
    free(target);
    json_decref(stored);
    free(target_rec);
    json_decref(rec);
}

/* At start: every q record left by a crash or stop goes to the pusher again (its target
 * gone: the record goes), slot by slot over this shard's slots (q keys are in their
 * user's slot). Best effort: a read error leaves them for the next start. */
static void s_requeue(shard_push_t *self)
{
    requeue_t r = {.self = self};
    if (shard_scan(self->shard, 'q', s_requeue_one, &r) != 0)
        pl_warn("push: pending deliveries not all read (storage error): left for the next start");
    if (r.n || r.dropped)
        pl_info("push: %zu pending deliveries resumed (%zu of removed targets dropped)", r.n,
                r.dropped);
}

/* The collapse entry of (user, conv): "<user> <conv>" (neither holds a space). */
static void s_collapse_key(char *buf, size_t cap, const char *user, const char *conv)
{
    snprintf(buf, cap, "%s %s", user, conv);
}

/* Tell the conversation's shard that the push for (user, conv) with nonce is ours now. */
static void s_ack(shard_t *shard, const char *user, const char *conv, const char *nonce)
{
    if (!nonce)
        return; /* from a shard without the push outbox: nothing waits for an ack */
    json_t *ack = json_pack("{s:s, s:s, s:s, s:s}", "op", "push_ack", "user", user, "conv", conv,
                            "nonce", nonce);
    char *text = ack ? json_dumps(ack, JSON_COMPACT) : NULL;
    json_decref(ack);
    char key[PUSH_CONV_MAX + 8];
    snprintf(key, sizeof key, "c:%s", conv);
    if (text)
        shard_fwd(shard, PL_OP_PUSH_ACK, key, text);
    free(text);
}

void shard_op_push(shard_t *shard, const char *gw, const char *reqid, json_t *req)
{
    shard_push_t *self = shard_push(shard);
    const char *user = shard_json_str(req, "user");
    const char *conv = shard_json_str(req, "conv");
    const char *from = shard_json_str(req, "from");
    const char *preview = shard_json_str(req, "preview");
    const char *nonce = shard_json_str(req, "nonce");
    json_t *seqv = json_object_get(req, "seq");
    json_t *unread = json_object_get(req, "unread"); /* absent from older shards */
    if (!user || !pl_user_valid(user) || !conv || strlen(conv) > PUSH_CONV_MAX || !from ||
        !preview || !json_is_integer(seqv) || (unread && !json_is_integer(unread))) {
        pl_warn("FWD push: malformed");
        return;
    }
    int64_t seq = json_integer_value(seqv);
    /* a device went online since the conversation's shard looked: it gets the event */
    if (shard_presence_online(shard_presence(shard), user) == 1) {
        pl_debug("push: %s is online, skipped", user);
        s_ack(shard, user, conv, nonce);
        return;
    }
    char ckey[PUSH_CONV_MAX + 40];
    s_collapse_key(ckey, sizeof ckey, user, conv);
    int64_t now = pl_mono_ms();
    collapse_t *c = zhashx_lookup(self->collapse, ckey);
    if (c && seq <= c->seq_seen) { /* a resent FWD (our ack was lost): taken already */
        s_ack(shard, user, conv, nonce);
        return;
    }
    /* the same after a restart (or once the collapse entry went idle): the durable
     * "taken" mark, written with the q records, says so; a read error delivers it anyway
     * (a duplicate notification rather than a lost one) */
    shard_key_t tkey;
    uint64_t taken = 0;
    bool have_tkey = shard_key_push_taken(&tkey, user, conv) == 0;
    if (!c && have_tkey && shard_store_get_u64(shard_store(shard), &tkey, &taken) == 1 &&
        (uint64_t)seq <= taken) {
        s_ack(shard, user, conv, nonce);
        return;
    }
    json_t *pl = json_pack("{s:s, s:I, s:s, s:s, s:O?}", "conv", conv, "seq", (json_int_t)seq,
                           "from", from, "preview", preview, "unread", unread);
    char *payload = pl ? json_dumps(pl, JSON_COMPACT | JSON_PRESERVE_ORDER) : NULL;
    json_decref(pl);
    if (!payload)
        return; /* not acked: the conversation's shard sends it again */
    /* inside the 5 s window of the last notification: held until it ends, else now */
    bool hold = c && now - c->sent_ms < SHARD_PUSH_COLLAPSE_MS;
    int64_t due = hold ? pl_now_ms() + (SHARD_PUSH_COLLAPSE_MS - (now - c->sent_ms)) : 0;
    /* durable first: the q records of every target, then the ack, then the delivery */
    shard_batch_t *batch = shard_batch_new(shard_store(shard));
    int n = batch ? s_deliver(shard, batch, user, conv, payload, seq, due, false) : -1;
    if (n > 0 && have_tkey)
        shard_batch_put_u64(batch, &tkey, (uint64_t)seq);
    if (n < 0 || (n > 0 && shard_store_write(shard_store(shard), batch, shard_sync(shard)) != 0)) {
        pl_warn("push: cannot store the notification of %s#%lld for %s: resent later", conv,
                (long long)seq, user);
        shard_batch_destroy(&batch);
        free(payload);
        return; /* not acked: the conversation's shard sends it again */
    }
    shard_batch_destroy(&batch);
    s_ack(shard, user, conv, nonce);
    if (!c) {
        c = calloc(1, sizeof *c);
        if (!c || zhashx_insert(self->collapse, ckey, c) != 0) {
            free(c);
            c = NULL; /* out of memory: deliver without collapsing */
        }
    }
    if (c)
        c->seq_seen = seq;
    if (hold) {
        free(c->payload); /* the newest replaces the one held (its q records too) */
        c->payload = payload;
        c->seq = seq;
        return;
    }
    if (c)
        c->sent_ms = now;
    if (n > 0)
        s_deliver(shard, NULL, user, conv, payload, seq, 0, true);
    pl_debug("push: %s %s#%lld to %d targets of %s", conv, from, (long long)seq, n, user);
    free(payload);
}

void shard_push_committed(shard_t *shard, const char *const *users, size_t n, const char *skip,
                          const char *event)
{
    char from[PL_USER_MAX + 1];
    size_t fl = strcspn(skip, "/");
    if (fl >= sizeof from)
        return;
    memcpy(from, skip, fl);
    from[fl] = 0;
    json_t *ev = NULL;
    shard_batch_t *batch = NULL;
    const char *conv = NULL;
    /* members whose push was staged; made only when some member has no connected device
     * (the usual online send allocates nothing here) */
    zlistx_t *staged = NULL;
    for (size_t i = 0; i < n; i++) {
        if (strcmp(users[i], from) == 0 || shard_loc_present(shard_loc(shard), users[i]))
            continue;
        if (!ev) { /* parsed once, only when some member has no connected device */
            staged = zlistx_new();
            if (!staged)
                break;
            ev = json_loads(event, 0, NULL);
            const char *text = json_string_value(json_object_get(ev, "text"));
            if (!text)
                break;
            size_t tl = json_string_length(json_object_get(ev, "text"));
            size_t pl = shard_push_preview_len(text, tl, SHARD_PUSH_PREVIEW_CP);
            json_t *p = json_pack("{s:s, s:s, s:O, s:O, s:s, s:s%}", "op", "push", "user", "",
                                  "conv", json_object_get(ev, "conv"), "seq",
                                  json_object_get(ev, "seq"), "from", from, "preview", text, pl);
            json_decref(ev);
            ev = p; /* from here on: the FWD payload, user set per member */
            batch = shard_batch_new(shard_store(shard));
            if (!ev || !batch)
                break;
            conv = json_string_value(json_object_get(ev, "conv"));
        }
        /* unread: the member's messages after its read position, this one included */
        shard_key_t rkey;
        uint64_t read_seq = 0;
        json_int_t seq = json_integer_value(json_object_get(ev, "seq"));
        if (shard_key_read(&rkey, conv, users[i]) != 0 ||
            shard_store_get_u64(shard_store(shard), &rkey, &read_seq) < 0)
            read_seq = 0; /* unknown: count from the start rather than drop the push */
        json_t *one = json_deep_copy(ev);
        if (!one)
            break;
        json_object_set_new(one, "user", json_string(users[i]));
        json_object_set_new(
            one, "unread",
            json_integer(seq > (json_int_t)read_seq ? seq - (json_int_t)read_seq : 0));
        /* kept until the member's shard acks (push_ack): a crash of either side resends */
        if (shard_outbox_stage_payload(shard_push(shard)->outbox, batch, conv, users[i], one) == 0)
            zlistx_add_end(staged, (void *)users[i]);
        json_decref(one);
    }
    if (batch && staged && zlistx_size(staged)) {
        if (shard_store_write(shard_store(shard), batch, shard_sync(shard)) == 0) {
            int64_t now = pl_mono_ms();
            for (const char *u = zlistx_first(staged); u; u = zlistx_next(staged))
                shard_outbox_committed(shard_push(shard)->outbox, conv, u, NULL, now);
        } else {
            pl_warn("push: cannot store the notifications of %s: not sent", conv);
            shard_outbox_discard(shard_push(shard)->outbox);
        }
    }
    zlistx_destroy(&staged);
    shard_batch_destroy(&batch);
    json_decref(ev);
}

void shard_op_push_ack(shard_t *shard, const char *gw, const char *reqid, json_t *req)
{
    shard_outbox_ack(shard_push(shard)->outbox, req);
}

/* Delete the q records of (user, conv) for every target of user (the user came back
 * before a held notification went out: its devices get the messages). */
static void s_forget_pending(shard_t *shard, const char *user, const char *conv)
{
    shard_key_t prefix;
    shard_batch_t *batch = shard_batch_new(shard_store(shard));
    shard_iter_t *it = batch && s_key(&prefix, user, NULL) == 0
                           ? shard_iter_new(shard_store(shard), &prefix)
                           : NULL;
    for (it ? shard_iter_seek_first(it) : (void)0; it && shard_iter_valid(it);
         shard_iter_next(it)) {
        size_t kl;
        const char *k = shard_iter_key(it, &kl);
        char hash[SHARD_KEY_MAX];
        shard_key_t qkey;
        if (kl - prefix.len >= sizeof hash)
            continue;
        snprintf(hash, sizeof hash, "%.*s", (int)(kl - prefix.len), k + prefix.len);
        if (shard_key_push_pending(&qkey, user, hash, conv) == 0)
            shard_batch_del(batch, &qkey);
    }
    if (it && batch && shard_batch_count(batch))
        shard_store_write(shard_store(shard), batch, false); /* lost: one extra notification */
    shard_iter_destroy(&it);
    shard_batch_destroy(&batch);
}

void shard_push_tick(shard_push_t *self)
{
    shard_t *shard = self->shard;
    /* held notifications whose window ended go out (unless the user came back: its
     * devices get the messages); idle entries are dropped */
    int64_t now = pl_mono_ms();
    zlistx_t *done = zlistx_new();
    for (collapse_t *c = zhashx_first(self->collapse); c; c = zhashx_next(self->collapse)) {
        if (now - c->sent_ms < SHARD_PUSH_COLLAPSE_MS)
            continue;
        const char *ckey = zhashx_cursor(self->collapse);
        if (c->payload) {
            char user[PL_USER_MAX + 1];
            size_t ul = strcspn(ckey, " ");
            if (ul < sizeof user) {
                memcpy(user, ckey, ul);
                user[ul] = 0;
                const char *conv = ckey + ul + 1;
                if (shard_presence_online(shard_presence(shard), user) != 1) /* records stored */
                    s_deliver(shard, NULL, user, conv, c->payload, c->seq, 0, true);
                else
                    s_forget_pending(shard, user, conv);
            }
            free(c->payload);
            c->payload = NULL;
            c->sent_ms = now;
        } else if (done)
            zlistx_add_end(done, (void *)ckey);
    }
    for (const char *k = done ? zlistx_first(done) : NULL; k; k = zlistx_next(done))
        zhashx_delete(self->collapse, k);
    zlistx_destroy(&done);
    shard_outbox_tick(self->outbox, now);

    size_t len;
    void *k;
    int64_t version;
    shard_key_t key;
    while ((k = shard_pusher_gone(self->pusher, &len))) {
        if (len <= sizeof key.buf) {
            memcpy(key.buf, k, len);
            key.len = len;
            shard_store_del(shard_store(shard), &key, shard_sync(shard));
        }
        free(k);
    }
    /* deliveries that are over: their q record goes unless a newer notification of the
     * same conversation replaced it meanwhile (its seq differs). Not fsynced: a lost delete
     * only means the notification is sent once more after a restart. */
    while ((k = shard_pusher_finished(self->pusher, &len, &version))) {
        char *val = NULL;
        if (len <= sizeof key.buf) {
            memcpy(key.buf, k, len);
            key.len = len;
            if (shard_store_get(shard_store(shard), &key, &val, NULL) == 1) {
                json_t *rec = json_loads(val, 0, NULL);
                if (json_integer_value(json_object_get(rec, "seq")) == version)
                    shard_store_del(shard_store(shard), &key, false);
                json_decref(rec);
            }
        }
        free(val);
        free(k);
    }
}
