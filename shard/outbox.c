/* outbox — pending idx_add messages to users' shards. See outbox.h. */
#include "outbox.h"

#include <sodium.h>
#include <stdlib.h>
#include <string.h>

#include "commit.h"
#include "pl_log.h"
#include "pl_text.h"
#include "pl_time.h"

#define RESEND_AFTER_MS 2000
#define SCAN_EVERY_MS 1000

typedef struct {
    char *conv, *user, *payload;
    char nonce[17];  /* 16 hex digits; "" for an entry stored before nonces existed */
    int64_t sent_at; /* pl_mono_ms of the last FWD; 0 = never sent */
} entry_t;

typedef int(key_fn)(shard_key_t *key, const char *conv, const char *user);

struct _shard_outbox_t {
    shard_t *shard;
    shard_commit_t *commit; /* the index outbox: staged into the group commit; else NULL */
    key_fn *key;            /* where an entry is stored: <S>o<conv>\0<user> or <S>Q<conv>\0<user> */
    char tag;               /* 'o' or 'Q': the tag of all of them (in their conversation's slot) */
    const char *what;       /* for logs: "index" or "push" */
    zhashx_t *entries;      /* "<conv> <user>" -> entry_t (owned) */
    zhashx_t *staged;       /* "<conv> <user>" -> entry_t (owned, freed by hand): in the pending
                               batch, not yet written */
    int64_t last_scan;
};

static void s_entry_free(void **item)
{
    entry_t *e = *item;
    if (!e)
        return;
    free(e->conv);
    free(e->user);
    free(e->payload);
    free(e);
    *item = NULL;
}

/* The idx_add/idx_del payload for (conv, user, kind, nonce), with "members" when members
 * is not NULL (borrowed); caller frees. */
static char *s_payload(const char *op, const char *conv, const char *user, const char *kind,
                       const char *nonce, json_t *members)
{
    char from[SHARD_KEY_MAX];
    snprintf(from, sizeof(from), "c:%s", conv);
    json_t *j = json_pack("{s:s, s:s, s:s, s:s, s:s, s:s}", "op", op, "user", user, "conv", conv,
                          "kind", kind, "from", from, "nonce", nonce);
    if (j && members && json_object_set(j, "members", members) != 0) {
        json_decref(j);
        return NULL;
    }
    char *text = j ? json_dumps(j, JSON_COMPACT) : NULL;
    json_decref(j);
    return text;
}

/* The nonce of a stored payload ("" when it has none). */
static void s_nonce_of(const char *payload, char *nonce)
{
    json_t *j = json_loads(payload, 0, NULL);
    const char *n = j ? shard_json_str(j, "nonce") : NULL;
    snprintf(nonce, 17, "%s", n ? n : "");
    json_decref(j);
}

/* A new entry (conv, user, payload copied; nonce, or with NULL the payload's own); NULL
 * on OOM. */
static entry_t *s_entry_new(const char *conv, size_t conv_len, const char *user,
                            const char *payload, const char *nonce)
{
    entry_t *e = calloc(1, sizeof(*e));
    if (!e)
        return NULL;
    e->conv = strndup(conv, conv_len);
    e->user = strdup(user);
    e->payload = strdup(payload);
    if (!e->conv || !e->user || !e->payload) {
        s_entry_free((void **)&e);
        return NULL;
    }
    if (nonce) /* the stager's: not parsed back out of the JSON it just wrote */
        snprintf(e->nonce, sizeof e->nonce, "%s", nonce);
    else
        s_nonce_of(payload, e->nonce);
    return e;
}

/* Remember an entry (conv, user, payload copied); returns it, or the one already known. */
static entry_t *s_remember(shard_outbox_t *self, const char *conv, size_t conv_len,
                           const char *user, const char *payload)
{
    char name[SHARD_KEY_MAX + 2];
    snprintf(name, sizeof(name), "%.*s %s", (int)conv_len, conv, user);
    entry_t *e = zhashx_lookup(self->entries, name);
    if (e)
        return e;
    e = s_entry_new(conv, conv_len, user, payload, NULL);
    if (e)
        zhashx_insert(self->entries, name, e);
    return e;
}

/* The op of a stored payload: its "op" member, which the writers (idx_add/idx_del here,
 * push in push.c) put in as jansson writes it ("op":"name", no spaces). */
static pl_op_t s_op(const char *payload)
{
    const char *p = strstr(payload, "\"op\":\"");
    if (!p)
        return PL_OP_NONE;
    p += 6;
    const char *q = strchr(p, '"');
    return q ? pl_op_by_name(p, (size_t)(q - p)) : PL_OP_NONE;
}

static void s_send(shard_outbox_t *self, entry_t *e, int64_t now)
{
    char key[64];
    snprintf(key, sizeof(key), "u:%s", e->user);
    shard_fwd(self->shard, s_op(e->payload), key, e->payload);
    e->sent_at = now;
}

/* One stored entry <S><tag><conv>\0<user> of the start-up scan. */
static void s_load(void *arg, const char *k, size_t klen, const char *v, size_t vlen)
{
    shard_outbox_t *self = arg;
    const char *sep = klen > 3 ? memchr(k + 3, '\0', klen - 3) : NULL;
    char user[PL_USER_MAX + 1], *payload = strndup(v, vlen);
    size_t ulen = sep ? klen - (size_t)(sep + 1 - k) : 0;
    if (sep && ulen < sizeof(user) && payload) {
        memcpy(user, sep + 1, ulen);
        user[ulen] = '\0';
        s_remember(self, k + 3, (size_t)(sep - k - 3), user, payload);
    } else
        pl_warn("outbox: malformed stored entry skipped");
    free(payload);
}

static void s_end(void *arg, const char *status, const char *why);

static shard_outbox_t *s_new(shard_t *shard, key_fn *key, char tag, const char *what,
                             shard_commit_t *commit)
{
    shard_outbox_t *self = calloc(1, sizeof(*self));
    if (!self)
        return NULL;
    self->shard = shard;
    self->key = key;
    self->tag = tag;
    self->what = what;
    self->entries = zhashx_new();
    self->staged = zhashx_new();
    if (!self->entries || !self->staged)
        goto fail;
    zhashx_set_destructor(self->entries, s_entry_free);
    /* Entries live in their conversation's slot: the scan goes slot by slot. */
    if (shard_scan(shard, tag, s_load, self) != 0)
        goto fail;
    /* the end hook last: a failure before it must not leave the commit calling a freed
     * outbox */
    if (commit && shard_commit_on_end(commit, s_end, self) != 0)
        goto fail;
    self->commit = commit;
    if (zhashx_size(self->entries))
        pl_info("outbox: %zu %s entries to resend", zhashx_size(self->entries), self->what);
    return self;
fail:
    shard_outbox_destroy(&self);
    return NULL;
}

shard_outbox_t *shard_outbox_new(shard_t *shard)
{
    return s_new(shard, shard_key_outbox, 'o', "index", shard_commit(shard));
}

shard_outbox_t *shard_outbox_new_push(shard_t *shard)
{
    return s_new(shard, shard_key_push_outbox, 'Q', "push", NULL);
}

void shard_outbox_destroy(shard_outbox_t **self_p)
{
    if (!self_p || !*self_p)
        return;
    zhashx_destroy(&(*self_p)->entries);
    zhashx_t *staged = (*self_p)->staged;
    for (entry_t *e = staged ? zhashx_first(staged) : NULL; e; e = zhashx_next(staged))
        s_entry_free((void **)&e);
    zhashx_destroy(&(*self_p)->staged);
    free(*self_p);
    *self_p = NULL;
}

/* Stage op for (conv, user) with a fresh random nonce: put into batch, keep a copy in
 * staged (replacing an earlier staged one) until shard_outbox_committed. */
static void s_nonce(char nonce[17])
{
    unsigned char raw[8];
    randombytes_buf(raw, sizeof(raw));
    for (int i = 0; i < 8; i++)
        snprintf(nonce + 2 * i, 3, "%02x", raw[i]);
}

/* Put payload (taken; NULL: out of memory) for (conv, user) into batch (NULL: the group
 * commit) and keep a copy in staged (replacing an earlier staged one) until
 * shard_outbox_committed or the end of the group commit. */
static int s_stage_text(shard_outbox_t *self, shard_batch_t *batch, const char *conv,
                        const char *user, char *payload, const char *nonce)
{
    shard_key_t key;
    char name[SHARD_KEY_MAX + 2];
    if (!payload || self->key(&key, conv, user) != 0) {
        free(payload);
        return -1;
    }
    entry_t *e = s_entry_new(conv, strlen(conv), user, payload, nonce);
    if (!e) {
        free(payload);
        return -1;
    }
    if (batch)
        shard_batch_put(batch, &key, payload, strlen(payload));
    else
        shard_commit_put(self->commit, &key, payload, strlen(payload));
    free(payload);
    snprintf(name, sizeof(name), "%s %s", conv, user);
    entry_t *old = zhashx_lookup(self->staged, name);
    s_entry_free((void **)&old);
    zhashx_update(self->staged, name, e);
    return 0;
}

/* Stage op for (conv, user) with a fresh random nonce. */
static int s_stage(shard_outbox_t *self, shard_batch_t *batch, const char *op, const char *conv,
                   const char *user, const char *kind, json_t *members)
{
    char nonce[17];
    s_nonce(nonce);
    return s_stage_text(self, batch, conv, user, s_payload(op, conv, user, kind, nonce, members),
                        nonce);
}

int shard_outbox_stage_payload(shard_outbox_t *self, shard_batch_t *batch, const char *conv,
                               const char *user, json_t *payload)
{
    char nonce[17];
    s_nonce(nonce);
    if (json_object_set_new(payload, "nonce", json_string(nonce)) != 0)
        return -1;
    return s_stage_text(self, batch, conv, user, json_dumps(payload, JSON_COMPACT), nonce);
}

int shard_outbox_stage(shard_outbox_t *self, const char *conv, const char *user, const char *kind)
{
    return s_stage(self, NULL, "idx_add", conv, user, kind, NULL);
}

int shard_outbox_stage_group(shard_outbox_t *self, const char *conv, const char *user,
                             const char *const *members, size_t n)
{
    json_t *list = json_array();
    for (size_t i = 0; list && i < n; i++)
        if (json_array_append_new(list, json_string(members[i])) != 0) {
            json_decref(list);
            list = NULL;
        }
    int rc = list ? s_stage(self, NULL, "idx_add", conv, user, "group", list) : -1;
    json_decref(list);
    return rc;
}

int shard_outbox_stage_del(shard_outbox_t *self, const char *conv, const char *user,
                           const char *kind)
{
    return s_stage(self, NULL, "idx_del", conv, user, kind, NULL);
}

void shard_outbox_committed(shard_outbox_t *self, const char *conv, const char *user,
                            const char *kind, int64_t now)
{
    char name[SHARD_KEY_MAX + 2];
    (void)kind;
    snprintf(name, sizeof(name), "%s %s", conv, user);
    entry_t *e = zhashx_lookup(self->staged, name);
    if (!e)
        return;                            /* already taken by an earlier call for the same batch */
    zhashx_delete(self->staged, name);     /* no destructor: e is now ours */
    zhashx_update(self->entries, name, e); /* the latest desired state replaces any older */
    s_send(self, e, now);
}

void shard_outbox_discard(shard_outbox_t *self)
{
    for (entry_t *e = zhashx_first(self->staged); e; e = zhashx_next(self->staged))
        s_entry_free((void **)&e);
    zhashx_purge(self->staged);
}

/* The end of a group commit (the index outbox): the staged entries are stored (remember
 * and send each, the latest replacing any older entry of its pair), or were not (forget
 * them). */
static void s_end(void *arg, const char *status, const char *why)
{
    shard_outbox_t *self = arg;
    (void)why;
    if (status || zhashx_size(self->staged) == 0) {
        shard_outbox_discard(self);
        return;
    }
    int64_t now = pl_mono_ms();
    for (entry_t *e = zhashx_first(self->staged); e; e = zhashx_next(self->staged)) {
        zhashx_update(self->entries, zhashx_cursor(self->staged), e);
        s_send(self, e, now);
    }
    zhashx_purge(self->staged); /* no destructor: the entries are in entries now */
}

void shard_outbox_ack(shard_outbox_t *self, json_t *req)
{
    char name[SHARD_KEY_MAX + 2];
    shard_key_t key;
    const char *user = shard_json_str(req, "user");
    const char *conv = shard_json_str(req, "conv");
    if (!user || !conv || self->key(&key, conv, user) != 0) {
        pl_warn("FWD %s ack: malformed payload dropped", self->what);
        return;
    }
    snprintf(name, sizeof(name), "%s %s", conv, user);
    entry_t *e = zhashx_lookup(self->entries, name);
    if (!e)
        return; /* a repeated ack */
    const char *nonce = shard_json_str(req, "nonce");
    if (strcmp(e->nonce, nonce ? nonce : "") != 0) {
        pl_debug("outbox: stale %s ack for %s in %s ignored", self->what, user, conv);
        return; /* acknowledges an older payload: the newer one stays */
    }
    /* A lost delete only means one more idx_add after a restart: no fsync needed. */
    if (shard_store_del(shard_store(self->shard), &key, false) != 0)
        return;
    zhashx_delete(self->entries, name);
    pl_debug("outbox: %s %s taken by %s's shard", self->what, conv, user);
}

void shard_outbox_tick(shard_outbox_t *self, int64_t now)
{
    if (self->last_scan && now - self->last_scan < SCAN_EVERY_MS)
        return;
    self->last_scan = now;
    size_t resent = 0;
    for (entry_t *e = zhashx_first(self->entries); e; e = zhashx_next(self->entries)) {
        if (e->sent_at == 0 || now - e->sent_at >= RESEND_AFTER_MS) {
            s_send(self, e, now);
            resent++;
        }
    }
    if (resent)
        pl_debug("outbox: resent %zu %s entries", resent, self->what);
}

size_t shard_outbox_size(shard_outbox_t *self)
{
    return zhashx_size(self->entries);
}
