/* push — targets, the commit trigger and the FWD `push` handler. See push.h. */
#include "push.h"

#include <sodium.h>
#include <stdlib.h>
#include <string.h>

#include "keys.h"
#include "loc.h"
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
    int64_t sent_ms; /* pl_mono_ms */
    char *payload;   /* held notification, or NULL */
    int64_t seq;     /* its seq */
} collapse_t;

struct _shard_push_t {
    shard_t *shard;
    shard_pusher_t *pusher;
    zhashx_t *collapse; /* "<user> <conv>" -> collapse_t */
};

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
    return self;
}

void shard_push_destroy(shard_push_t **self_p)
{
    if (!self_p || !*self_p)
        return;
    shard_pusher_destroy(&(*self_p)->pusher);
    zhashx_destroy(&(*self_p)->collapse);
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

void shard_push_register(shard_t *shard, const char *gw, const char *reqid, json_t *req)
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
    if (!shard_pusher_accepts(shard->push->pusher, kind)) {
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
    shard_iter_t *it = shard_iter_new(shard->store, &prefix);
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
    shard_batch_t *b = shard_batch_new();
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
    int rc = shard_store_write(shard->store, b, shard->sync);
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

void shard_push_list(shard_t *shard, const char *gw, const char *reqid, json_t *req)
{
    const char *user = shard_json_str(req, "user");
    shard_key_t prefix;
    if (!user || !pl_user_valid(user) || s_key(&prefix, user, NULL) != 0) {
        shard_reply(shard, gw, reqid, PL_E_BAD_REQUEST, "missing or invalid push_list fields");
        return;
    }
    json_t *targets = json_array();
    shard_iter_t *it = targets ? shard_iter_new(shard->store, &prefix) : NULL;
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

void shard_push_unregister(shard_t *shard, const char *gw, const char *reqid, json_t *req)
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
                    ? shard_store_get(shard->store, &key, &old, NULL)
                    : 0;
    free(old);
    if (found < 0)
        shard_reply(shard, gw, reqid, PL_E_UNAVAILABLE, "storage error");
    else if (found == 0)
        shard_reply(shard, gw, reqid, PL_E_NOT_FOUND, "no such push target");
    else if (shard_store_del(shard->store, &key, shard->sync) != 0)
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
    shard_iter_t *it = shard_iter_new(shard->store, &prefix);
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

/* Queue payload (JSON text) for every stored target of user. Returns how many. */
static size_t s_deliver(shard_t *shard, const char *user, const char *conv, const char *payload)
{
    shard_key_t prefix;
    if (s_key(&prefix, user, NULL) != 0)
        return 0;
    /* Web Push Topic: 32 base64url characters naming the conversation, so the push
     * service (and the phone) keeps one notification per conversation */
    unsigned char h[crypto_hash_sha256_BYTES];
    char topic[48];
    crypto_hash_sha256(h, (const unsigned char *)conv, strlen(conv));
    sodium_bin2base64(topic, sizeof topic, h, 24, sodium_base64_VARIANT_URLSAFE_NO_PADDING);
    shard_iter_t *it = shard_iter_new(shard->store, &prefix);
    size_t n = 0;
    if (it)
        shard_iter_seek_first(it);
    for (; it && shard_iter_valid(it); shard_iter_next(it)) {
        size_t kl, vl;
        const char *k = shard_iter_key(it, &kl);
        const char *v = shard_iter_value(it, &vl);
        json_t *stored = json_loadb(v, vl, 0, NULL);
        char *target = json_dumps(json_object_get(stored, "target"), JSON_COMPACT);
        json_decref(stored);
        if (target && shard_pusher_queue(shard->push->pusher, target, payload, topic, k, kl) == 0)
            n++;
        free(target);
    }
    shard_iter_destroy(&it);
    return n;
}

/* The collapse entry of (user, conv): "<user> <conv>" (neither holds a space). */
static void s_collapse_key(char *buf, size_t cap, const char *user, const char *conv)
{
    snprintf(buf, cap, "%s %s", user, conv);
}

void shard_push_fwd(shard_t *shard, json_t *req)
{
    shard_push_t *self = shard->push;
    const char *user = shard_json_str(req, "user");
    const char *conv = shard_json_str(req, "conv");
    const char *from = shard_json_str(req, "from");
    const char *preview = shard_json_str(req, "preview");
    json_t *seq = json_object_get(req, "seq");
    json_t *unread = json_object_get(req, "unread"); /* absent from older shards */
    if (!user || !pl_user_valid(user) || !conv || strlen(conv) > PUSH_CONV_MAX || !from ||
        !preview || !json_is_integer(seq) || (unread && !json_is_integer(unread))) {
        pl_warn("FWD push: malformed");
        return;
    }
    /* a device went online since the conversation's shard looked: it gets the event */
    if (shard_presence_online(shard->presence, user) == 1) {
        pl_debug("push: %s is online, skipped", user);
        return;
    }
    json_t *pl = json_pack("{s:s, s:O, s:s, s:s, s:O?}", "conv", conv, "seq", seq, "from", from,
                           "preview", preview, "unread", unread);
    char *payload = pl ? json_dumps(pl, JSON_COMPACT | JSON_PRESERVE_ORDER) : NULL;
    json_decref(pl);
    if (!payload)
        return;
    char ckey[PUSH_CONV_MAX + 40];
    s_collapse_key(ckey, sizeof ckey, user, conv);
    int64_t now = pl_mono_ms();
    collapse_t *c = zhashx_lookup(self->collapse, ckey);
    if (c && now - c->sent_ms < SHARD_PUSH_COLLAPSE_MS) {
        /* notified less than 5 s ago: hold the newest until the window ends */
        if (!c->seq || json_integer_value(seq) > c->seq) {
            free(c->payload);
            c->payload = payload;
            c->seq = json_integer_value(seq);
        } else
            free(payload);
        return;
    }
    if (!c) {
        c = calloc(1, sizeof *c);
        if (!c || zhashx_insert(self->collapse, ckey, c) != 0) {
            free(c);
            c = NULL; /* out of memory: deliver without collapsing */
        }
    }
    if (c)
        c->sent_ms = now;
    size_t n = s_deliver(shard, user, conv, payload);
    if (n)
        pl_debug("push: %s %s#%lld to %zu targets of %s", conv, from,
                 (long long)json_integer_value(seq), n, user);
    free(payload);
}

void shard_push_committed(shard_t *shard, const char *const *users, size_t n, const char *skip,
                          const char *event)
{
    char from[33];
    size_t fl = strcspn(skip, "/");
    if (fl >= sizeof from)
        return;
    memcpy(from, skip, fl);
    from[fl] = 0;
    json_t *ev = NULL;
    char *fwd = NULL;
    for (size_t i = 0; i < n; i++) {
        if (strcmp(users[i], from) == 0 || shard_loc_present(shard->loc, users[i]))
            continue;
        if (!ev) { /* parsed once, only when some member has no connected device */
            ev = json_loads(event, 0, NULL);
            const char *text = json_string_value(json_object_get(ev, "text"));
            if (!text)
                break;
            size_t tl = json_string_length(json_object_get(ev, "text"));
            size_t pl = shard_push_preview_len(text, tl, SHARD_PUSH_PREVIEW_CP);
            json_t *p = json_pack("{s:s, s:s, s:O, s:O, s:s, s:s%}", "op", "push", "user", "",
                                  "conv", json_object_get(ev, "conv"), "seq",
                                  json_object_get(ev, "seq"), "from", from, "preview", text, pl);
            if (!p)
                break;
            json_decref(ev);
            ev = p; /* from here on: the FWD payload, user set per member */
        }
        /* unread: the member's messages after its read position, this one included */
        shard_key_t rkey;
        uint64_t read_seq = 0;
        json_int_t seq = json_integer_value(json_object_get(ev, "seq"));
        if (shard_key_read(&rkey, json_string_value(json_object_get(ev, "conv")), users[i]) != 0 ||
            shard_store_get_u64(shard->store, &rkey, &read_seq) < 0)
            read_seq = 0; /* unknown: count from the start rather than drop the push */
        json_object_set_new(ev, "user", json_string(users[i]));
        json_object_set_new(
            ev, "unread",
            json_integer(seq > (json_int_t)read_seq ? seq - (json_int_t)read_seq : 0));
        fwd = json_dumps(ev, JSON_COMPACT);
        char key[40];
        snprintf(key, sizeof key, "u:%s", users[i]);
        if (fwd)
            shard_fwd(shard, key, fwd);
        free(fwd);
    }
    json_decref(ev);
}

void shard_push_tick(shard_push_t *self)
{
    /* held notifications whose window ended go out (unless the user came back: its
     * devices get the messages); idle entries are dropped */
    int64_t now = pl_mono_ms();
    zlistx_t *done = zlistx_new();
    for (collapse_t *c = zhashx_first(self->collapse); c; c = zhashx_next(self->collapse)) {
        if (now - c->sent_ms < SHARD_PUSH_COLLAPSE_MS)
            continue;
        const char *ckey = zhashx_cursor(self->collapse);
        if (c->payload) {
            char user[33]; /* user names are at most 32 bytes */
            size_t ul = strcspn(ckey, " ");
            if (ul < sizeof user) {
                memcpy(user, ckey, ul);
                user[ul] = 0;
                if (shard_presence_online(self->shard->presence, user) != 1)
                    s_deliver(self->shard, user, ckey + ul + 1, c->payload);
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

    size_t len;
    void *k;
    while ((k = shard_pusher_gone(self->pusher, &len))) {
        shard_key_t key;
        if (len <= sizeof key.buf) {
            memcpy(key.buf, k, len);
            key.len = len;
            shard_store_del(self->shard->store, &key, self->shard->sync);
        }
        free(k);
    }
}
