/* conv — send, sync, history, conv_info. See conv.h. */
#include "conv.h"

#include <assert.h>
#include <limits.h>
#include <stdlib.h>
#include <string.h>

#include "commit.h"
#include "guard.h"
#include "loc.h"
#include "msgval.h"
#include "outbox.h"
#include "pl_err.h"
#include "pl_log.h"
#include "pl_text.h"
#include "pl_time.h"
#include "push.h"
#include "roster.h"

#define SYNC_LIMIT_DEFAULT 100
#define HISTORY_LIMIT_DEFAULT 50
#define LIMIT_MAX 500
/* The highest seq handed out: 2^53 - 1, the largest integer every JSON client reads
 * exactly (and far below the u64 wrap). */
#define SEQ_MAX ((UINT64_C(1) << 53) - 1)

typedef struct {
    uint64_t seq;  /* last committed seq */
    uint64_t next; /* last seq handed out to a pending send (== seq when none pending) */
} counter_t;

/* The pending array and the event arena keep their memory from batch to batch up to
 * these sizes (a larger one, after a burst, is freed at the commit). */
#define PEND_KEEP 4096
#define EVENTS_KEEP (1024 * 1024)

/* One send waiting for the group commit: an element of shard_conv_t's pending array (no
 * allocation per send but a group's `to`). Each has one action queued in the group
 * commit (s_sent), which answers them in the array's order. */
typedef struct {
    char gw[PL_MSG_ADDR_MAX + 1], reqid[24], conv[PL_CONV_MAX + 1];
    bool has_event; /* false when this repeats a send of the same batch */
    size_t ev_off;  /* the stored msg JSON text: events.data + ev_off, NUL-terminated */
    size_t ev_len;  /* its length without the NUL */
    uint32_t conv_at, conv_json_len; /* conv as a JSON string, the decimal seq and ts in */
    uint32_t seq_at, seq_n;          /* the event (offsets from ev_off), which the `ok` */
    uint32_t ts_at, ts_n;            /* answer repeats */
    uint64_t idem_hash;              /* a new send: its idempotency key's hash, */
    size_t idem_off, idem_len;       /* and the key in idem_keys (idem_len 0: not a new send) */
    char skip[PL_USER_MAX + 1 + PL_DEVICE_MAX + 1]; /* "<user>/<device>" */
    char a[PL_USER_MAX + 1], b[PL_USER_MAX + 1];    /* dm members */
    bool group;                                     /* a group message: recipients in to */
    char (*to)[PL_USER_MAX + 1];                    /* group members when the message was staged */
    size_t nto;
    uint64_t seq;
    int64_t ts;
    /* a new send: its conversation's counter (entries of counters are freed only by a
     * purge, which happens only with nothing pending or after the batch is dropped) */
    counter_t *ctr;
} pend_t;

struct _shard_conv_t {
    shard_t *shard;
    shard_commit_t *commit; /* the group commit the sends are staged into */
    shard_roster_t *roster; /* conversation members */
    zhashx_t *counters;     /* conv -> counter_t (owned) */
    pend_t *pend;           /* the pending sends, in arrival order */
    size_t npend, cap_pend;
    size_t answered; /* pend[0..answered) were answered by their action (s_sent) */
    /* The idempotency keys of the pending new sends, to find a repeat within the batch:
     * open addressing (linear probing) over pend indexes + 1 (0: empty), never more than
     * half full; the key bytes in idem_keys. */
    uint32_t *idem_tab;
    size_t idem_cap, idem_n;
    pl_buf_t idem_keys;
    pl_buf_t events; /* the stored events of the pending sends, back to back */
    pl_buf_t text;   /* a stored event or an answer being written (reused) */
};

/* Forget every pending entry (their callbacks were called) and the batch's events. */
static void s_pend_purge(shard_conv_t *self)
{
    for (size_t i = 0; i < self->npend; i++)
        free(self->pend[i].to);
    self->npend = 0;
    self->answered = 0;
    if (self->cap_pend > PEND_KEEP) {
        free(self->pend);
        self->pend = NULL;
        self->cap_pend = 0;
    }
    if (self->events.cap > EVENTS_KEEP)
        pl_buf_free(&self->events);
    pl_buf_reset(&self->events);
    if (self->idem_cap > PEND_KEEP * 2) {
        free(self->idem_tab);
        self->idem_tab = NULL;
        self->idem_cap = 0;
    } else if (self->idem_n)
        memset(self->idem_tab, 0, self->idem_cap * sizeof(*self->idem_tab));
    self->idem_n = 0;
    if (self->idem_keys.cap > EVENTS_KEEP)
        pl_buf_free(&self->idem_keys);
    pl_buf_reset(&self->idem_keys);
}

/* A 64-bit hash of an idempotency key for the in-batch table, eight bytes per step (a
 * key is ~70 bytes: byte-wise FNV-1a cost ~300 instructions per send); the final mix
 * spreads every input bit into the low bits the table indexes by. */
static uint64_t s_hash(const void *data, size_t n)
{
    const unsigned char *p = data;
    uint64_t h = 14695981039346656037ull ^ n, w;
    for (; n >= 8; p += 8, n -= 8) {
        memcpy(&w, p, 8);
        h = (h ^ w) * 0x9e3779b97f4a7c15ull;
        h ^= h >> 32;
    }
    for (; n; n--, p++)
        h = (h ^ *p) * 1099511628211ull;
    h ^= h >> 29;
    h *= 0xbf58476d1ce4e5b9ull;
    return h ^ (h >> 32);
}

/* The index in pend of the pending new send with idempotency key key (hash h), or -1. */
static long s_idem_find(shard_conv_t *self, const shard_key_t *key, uint64_t h)
{
    if (!self->idem_cap)
        return -1;
    for (size_t i = h & (self->idem_cap - 1); self->idem_tab[i];
         i = (i + 1) & (self->idem_cap - 1)) {
        const pend_t *q = &self->pend[self->idem_tab[i] - 1];
        if (q->idem_hash == h && q->idem_len == key->len &&
            memcmp(self->idem_keys.data + q->idem_off, key->buf, key->len) == 0)
            return (long)self->idem_tab[i] - 1;
    }
    return -1;
}

static void s_idem_place(shard_conv_t *self, size_t index)
{
    size_t i = self->pend[index].idem_hash & (self->idem_cap - 1);
    while (self->idem_tab[i])
        i = (i + 1) & (self->idem_cap - 1);
    self->idem_tab[i] = (uint32_t)index + 1;
}

/* Record pend[index] as the pending new send of key (hash h). 0, or -1 when out of
 * memory (then nothing is recorded: the caller must not stage the send, or a repeat in
 * the same batch would be stored twice). */
static int s_idem_add(shard_conv_t *self, size_t index, const shard_key_t *key, uint64_t h)
{
    if ((self->idem_n + 1) * 2 > self->idem_cap) {
        size_t cap = self->idem_cap ? self->idem_cap * 2 : 256;
        uint32_t *tab = calloc(cap, sizeof(*tab));
        if (!tab)
            return -1;
        free(self->idem_tab);
        self->idem_tab = tab;
        self->idem_cap = cap;
        for (size_t j = 0; j < self->npend; j++)
            if (j != index && self->pend[j].idem_len)
                s_idem_place(self, j);
    }
    size_t off = self->idem_keys.len;
    if (pl_buf_put(&self->idem_keys, key->buf, key->len) != 0) {
        self->idem_keys.failed = false;
        self->idem_keys.len = off;
        return -1;
    }
    pend_t *p = &self->pend[index];
    p->idem_hash = h;
    p->idem_off = off;
    p->idem_len = key->len;
    s_idem_place(self, index);
    self->idem_n++;
    return 0;
}

/* A new zeroed entry at the end of the pending array (earlier pointers into it may move);
 * NULL when out of memory. */
static pend_t *s_pend_add(shard_conv_t *self)
{
    if (self->npend == self->cap_pend) {
        size_t cap = self->cap_pend ? self->cap_pend * 2 : 64;
        pend_t *np = realloc(self->pend, cap * sizeof(*np));
        if (!np)
            return NULL;
        self->pend = np;
        self->cap_pend = cap;
    }
    pend_t *p = &self->pend[self->npend++];
    memset(p, 0, sizeof(*p));
    return p;
}

static void s_free(void **item)
{
    free(*item);
    *item = NULL;
}

static void s_end(void *arg, const char *status, const char *why);

shard_conv_t *shard_conv_new(shard_t *shard)
{
    shard_conv_t *self = calloc(1, sizeof(*self));
    if (!self)
        return NULL;
    self->shard = shard;
    self->commit = shard_commit(shard);
    self->roster = shard_roster(shard);
    self->counters = zhashx_new();
    if (!self->counters || shard_commit_on_end(self->commit, s_end, self) != 0) {
        shard_conv_destroy(&self);
        return NULL;
    }
    zhashx_set_destructor(self->counters, s_free);
    zhashx_set_key_hasher(self->counters, shard_hash_name);
    return self;
}

void shard_conv_destroy(shard_conv_t **self_p)
{
    if (!self_p || !*self_p)
        return;
    shard_conv_t *self = *self_p;
    /* the group commit, destroyed first, answered every pending send (shard_destroy) */
    s_pend_purge(self);
    zhashx_destroy(&self->counters);
    free(self->pend);
    pl_buf_free(&self->events);
    free(self->idem_tab);
    pl_buf_free(&self->idem_keys);
    pl_buf_free(&self->text);
    free(self);
    *self_p = NULL;
}

/* The last stored seq of conv: the seq of its last message key (0 when none). There is
 * no separate counter key: messages are never deleted and a message, its idempotency
 * key and nothing else of the send are in one WriteBatch, so the last message key is
 * exactly the last seq ever acknowledged (see internals.md "Why a send is crash-safe").
 * 0, or -1 on a storage error. */
static int s_last_seq(shard_conv_t *self, const char *conv, uint64_t *out)
{
    shard_key_t prefix, last;
    if (shard_key_msg_prefix(&prefix, conv) != 0 || shard_key_msg(&last, conv, UINT64_MAX) != 0)
        return -1;
    shard_iter_t *it = shard_iter_new(shard_store(self->shard), &prefix);
    if (!it)
        return -1;
    *out = 0;
    shard_iter_seek_for_prev(it, &last);
    if (shard_iter_valid(it)) {
        size_t klen = 0;
        const char *k = shard_iter_key(it, &klen);
        if (klen == prefix.len + 8)
            *out = shard_be64_get(k + prefix.len);
    }
    int rc = shard_iter_status(it);
    shard_iter_destroy(&it);
    return rc;
}

/* The counter of conv, loaded from disk on a miss. NULL on a storage error. */
static counter_t *s_counter(shard_conv_t *self, const char *conv)
{
    counter_t *c = zhashx_lookup(self->counters, conv);
    if (c)
        return c;
    uint64_t seq = 0;
    if (s_last_seq(self, conv, &seq) != 0)
        return NULL;
    c = calloc(1, sizeof(*c));
    if (!c)
        return NULL;
    c->seq = c->next = seq;
    zhashx_insert(self->counters, conv, c);
    return c;
}

/* Common checks of conversation requests: user, conv, membership (dm or group). Returns
 * the conv and fills *m, or answers the error and returns NULL. */
static const char *s_member_of(shard_conv_t *self, const char *gw, const char *reqid,
                               const char *conv, const char *user, shard_members_t *m)
{
    if (!conv || !user || !pl_user_valid(user)) {
        shard_reply(self->shard, gw, reqid, PL_E_BAD_REQUEST, "missing user or conv");
        return NULL;
    }
    return shard_req_member(self->shard, gw, reqid, conv, user, m) ? conv : NULL;
}

static const char *s_member(shard_conv_t *self, const char *gw, const char *reqid, json_t *req,
                            const char **user, shard_members_t *m)
{
    const char *conv = shard_json_str(req, "conv");
    *user = shard_json_str(req, "user");
    if (!conv || !*user || !pl_user_valid(*user)) {
        shard_reply(self->shard, gw, reqid, PL_E_BAD_REQUEST, "missing user or conv");
        return NULL;
    }
    return shard_req_member(self->shard, gw, reqid, conv, *user, m) ? conv : NULL;
}

/* {"conv","seq","ts"}, written into the conv's reused buffer (no JSON library): the
 * answer of a repeat (a new send's is s_reply_event's, from its stored event). */
static void s_reply_sent(shard_conv_t *self, const char *gw, const char *reqid, const char *conv,
                         uint64_t seq, int64_t ts)
{
    pl_buf_t *b = &self->text;
    pl_buf_reset(b);
    PL_BUF_LIT(b, "{\"conv\":");
    pl_json_str(b, conv, strlen(conv));
    PL_BUF_LIT(b, ",\"seq\":");
    pl_json_u64(b, seq);
    PL_BUF_LIT(b, ",\"ts\":");
    pl_json_u64(b, (uint64_t)(ts < 0 ? 0 : ts));
    pl_buf_put(b, "}", 2); /* with the NUL */
    if (b->failed)
        shard_reply(self->shard, gw, reqid, PL_E_INTERNAL, "out of memory");
    else
        shard_reply(self->shard, gw, reqid, "ok", (const char *)b->data);
}

/* The `ok` answer of a new send, {"conv","seq","ts"} as s_reply_sent writes it, its
 * members copied from the stored event (conv escaped, seq and ts in decimal once). */
static void s_reply_event(shard_conv_t *self, const char *gw, const char *reqid, const char *event,
                          size_t conv_at, size_t conv_json_len, size_t seq_at, size_t seq_n,
                          size_t ts_at, size_t ts_n)
{
    pl_buf_t *b = &self->text;
    pl_buf_reset(b);
    PL_BUF_LIT(b, "{\"conv\":");
    pl_buf_add(b, event + conv_at, conv_json_len);
    PL_BUF_LIT(b, ",\"seq\":");
    pl_buf_add(b, event + seq_at, seq_n);
    PL_BUF_LIT(b, ",\"ts\":");
    pl_buf_add(b, event + ts_at, ts_n);
    PL_BUF_LIT(b, "}\0"); /* with the NUL */
    if (b->failed)
        shard_reply(self->shard, gw, reqid, PL_E_INTERNAL, "out of memory");
    else
        shard_reply(self->shard, gw, reqid, "ok", (const char *)b->data);
}

/* The send's `msg` event (msgval.h: the member order clients and the gateway's conv tag
 * rely on), appended to the batch's event arena with a NUL, the text escaped once; and
 * its stored value (version 2, msgval.h: ts and the event after its seq) into self->text. Sets p's
 * ev_off/ev_len and the spots its `ok` answer copies. 0, or -1 (out of memory: the arena is as
 * before). */
static int s_render_msg(shard_conv_t *self, pend_t *p, const shard_send_t *s, uint64_t seq,
                        int64_t ts)
{
    pl_buf_t *b = &self->events;
    size_t off = b->len;
    shard_msgval_spots_t at;
    shard_msgval_t m = {.conv = s->conv,
                        .conv_len = s->conv_len,
                        .from = s->user,
                        .from_len = s->user_len,
                        .device = s->device,
                        .device_len = s->device_len,
                        .cmid = s->cmid,
                        .cmid_len = s->cmid_len,
                        .text = s->text,
                        .text_len = s->text_len,
                        .seq = seq,
                        .ts = ts};
    pl_buf_reset(&self->text);
    if (shard_msgval_json(b, &m, &at) != 0)
        return -1;
    size_t tail = at.seq_at + at.seq_n; /* the event after its seq: the stored value's */
    if (pl_buf_put(b, "", 1) != 0 ||
        shard_msgval_encode_tail(&self->text, ts, (const char *)b->data + off + tail,
                                 b->len - 1 - off - tail) != 0) {
        b->failed = false; /* drop this event; the earlier ones stay */
        b->len = off;
        return -1;
    }
    p->ev_off = off;
    p->ev_len = b->len - off - 1;
    p->conv_at = (uint32_t)at.conv_at; /* an event is at most PL_MSG_MAX bytes: these fit */
    p->conv_json_len = (uint32_t)at.conv_n;
    p->seq_at = (uint32_t)at.seq_at;
    p->seq_n = (uint32_t)at.seq_n;
    p->ts_at = (uint32_t)at.ts_at;
    p->ts_n = (uint32_t)at.ts_n;
    p->has_event = true;
    return 0;
}

/* An idempotent repeat of a committed send: answer its seq and stored ts. */
static void s_reply_repeat(shard_conv_t *self, const char *gw, const char *reqid, const char *conv,
                           uint64_t seq)
{
    shard_key_t key;
    char *val = NULL;
    size_t len = 0;
    int64_t ts = 0;
    shard_key_msg(&key, conv, seq);
    int rc = shard_store_get(shard_store(self->shard), &key, &val, &len);
    if (rc < 0)
        shard_reply(self->shard, gw, reqid, PL_E_UNAVAILABLE, "storage error");
    else if (rc == 0 || shard_msgval_ts(val, len, &ts) != 0) {
        pl_error("%s: idempotency key points at a missing or corrupt seq %llu", conv,
                 (unsigned long long)seq);
        shard_reply(self->shard, gw, reqid, PL_E_INTERNAL, "stored message is missing");
    } else
        s_reply_sent(self, gw, reqid, conv, seq, ts);
    free(val);
}

/* Copy the NUL-terminated src into dst of cap bytes; false if it does not fit. */
static bool s_copy(char *dst, size_t cap, const char *src)
{
    size_t n = strlen(src);
    if (n >= cap)
        return false;
    memcpy(dst, src, n + 1);
    return true;
}

/* A new pending entry for the send gw/reqid into conv, with room for its action in the
 * group commit (queued by s_pend_keep once the send is staged); NULL when out of memory or
 * a name is longer than any valid one (the caller answers). */
static pend_t *s_pend_new(shard_conv_t *self, const char *gw, const char *reqid, const char *conv)
{
    if (shard_commit_reserve(self->commit) != 0)
        return NULL;
    pend_t *p = s_pend_add(self);
    if (!p)
        return NULL;
    if (!s_copy(p->gw, sizeof p->gw, gw) || !s_copy(p->reqid, sizeof p->reqid, reqid) ||
        !s_copy(p->conv, sizeof p->conv, conv)) {
        self->npend--;
        return NULL;
    }
    return p;
}

/* Drop the entry just added by s_pend_new (the last one). */
static void s_pend_drop(shard_conv_t *self)
{
    free(self->pend[self->npend - 1].to);
    self->npend--;
}

static void s_sent(void *arg, const char *status, const char *why);

/* Queue the action of the entry just added by s_pend_new: it cannot fail (s_pend_new
 * reserved its room). */
static void s_pend_keep(shard_conv_t *self)
{
    int rc = shard_commit_after(self->commit, s_sent, self);
    assert(rc == 0);
    (void)rc;
}

void shard_conv_send(shard_conv_t *self, const char *gw, const char *reqid, const shard_send_t *s)
{
    shard_t *shard = self->shard;
    const char *user = s->user;
    shard_members_t m;
    shard_key_t key;
    const char *device = s->device;
    const char *cmid = s->cmid;
    if (!pl_device_valid(device)) {
        shard_reply(shard, gw, reqid, PL_E_BAD_REQUEST, "missing or invalid send fields");
        return;
    }
    /* valid UTF-8 (the caller checked): at least one code point per 4 bytes and at most
     * one per byte, so the count is needed only when the byte length does not decide */
    size_t cmid_cp = s->cmid_len <= PL_CMID_MAX_CP ? s->cmid_len : pl_utf8_count(cmid, s->cmid_len);
    if (cmid_cp < 1 || cmid_cp > PL_CMID_MAX_CP) {
        shard_reply(shard, gw, reqid, PL_E_BAD_REQUEST, "client_msg_id must be 1-64 characters");
        return;
    }
    const char *conv = s_member_of(self, gw, reqid, s->conv, user, &m);
    if (!conv)
        return;
    size_t text_cp =
        s->text_len <= PL_TEXT_MAX_CP ? s->text_len : pl_utf8_count(s->text, s->text_len);
    if (text_cp == 0) {
        shard_reply(shard, gw, reqid, PL_E_BAD_REQUEST, "text is empty");
        return;
    }
    if (text_cp > PL_TEXT_MAX_CP) {
        shard_reply(shard, gw, reqid, PL_E_TOO_LARGE, "text is over 100000 characters");
        return;
    }
    /* the sender's budget over all sockets and gateways (guard.h): a valid send takes one */
    if (!shard_guard_send(shard_guard(shard), user)) {
        shard_reply(shard, gw, reqid, PL_E_RATE_LIMITED,
                    "too many sends from this user: slow down");
        return;
    }
    if (shard_key_idem(&key, conv, user, cmid) != 0) {
        shard_reply(shard, gw, reqid, PL_E_BAD_REQUEST, "client_msg_id too long");
        return;
    }
    /* 1. a repeat of a send in this very batch: same seq, answered after the commit
     * (same conv, sender and client_msg_id: the same idempotency key) */
    uint64_t idem_hash = s_hash(key.buf, key.len);
    long first = s_idem_find(self, &key, idem_hash);
    pend_t *p = s_pend_new(self, gw, reqid, conv);
    if (!p) {
        shard_reply(shard, gw, reqid, PL_E_INTERNAL, "out of memory");
        return;
    }
    if (first >= 0) {
        p->seq = self->pend[first].seq;
        p->ts = self->pend[first].ts;
        s_pend_keep(self);
        return;
    }
    /* 2. a repeat of a committed send */
    uint64_t seq = 0;
    int rc = shard_store_get_u64(shard_store(shard), &key, &seq);
    if (rc != 0) {
        s_pend_drop(self);
        if (rc < 0)
            shard_reply(shard, gw, reqid, PL_E_UNAVAILABLE, "storage error");
        else
            s_reply_repeat(self, gw, reqid, conv, seq);
        return;
    }
    /* 3. a new message */
    counter_t *ctr = s_counter(self, conv);
    if (!ctr) {
        s_pend_drop(self);
        shard_reply(shard, gw, reqid, PL_E_UNAVAILABLE, "storage error");
        return;
    }
    if (ctr->next >= SEQ_MAX) { /* only a corrupt last message key gets here */
        s_pend_drop(self);
        pl_error("%s: the last seq is %llu: no seq is left (a corrupt message key?)", conv,
                 (unsigned long long)ctr->next);
        shard_reply(shard, gw, reqid, PL_E_INTERNAL, "the conversation has no seq left");
        return;
    }
    p->seq = ctr->next + 1;
    p->ts = pl_now_ms();
    /* "<user>/<device>": both validated (<= 32 and <= 64 bytes) */
    size_t user_n = s->user_len, device_n = s->device_len;
    memcpy(p->skip, user, user_n);
    p->skip[user_n] = '/';
    memcpy(p->skip + user_n + 1, device, device_n + 1);
    if (m.group) { /* the recipients: the members at the moment the message is stored */
        p->group = true;
        p->to = malloc((m.n ? m.n : 1) * sizeof(*p->to));
        if (!p->to) {
            s_pend_drop(self);
            shard_reply(shard, gw, reqid, PL_E_INTERNAL, "out of memory");
            return;
        }
        for (size_t i = 0; i < m.n; i++)
            snprintf(p->to[i], sizeof(p->to[i]), "%s", m.list[i]);
        p->nto = m.n;
    } else {
        memcpy(p->a, m.a, sizeof(p->a));
        memcpy(p->b, m.b, sizeof(p->b));
    }
    /* rendered once and shipped to every gateway in EVT; stored in binary (msgval.h) */
    if (s_render_msg(self, p, s, p->seq, p->ts) != 0) {
        s_pend_drop(self);
        shard_reply(shard, gw, reqid, PL_E_INTERNAL, "cannot encode message");
        return;
    }
    if (s_idem_add(self, self->npend - 1, &key, idem_hash) != 0) {
        s_pend_drop(self);
        shard_reply(shard, gw, reqid, PL_E_INTERNAL, "out of memory");
        return;
    }
    /* staged: the action first (it cannot fail now), then the keys */
    s_pend_keep(self);
    shard_commit_put_u64(self->commit, &key, p->seq);
    shard_key_msg(&key, conv, p->seq);
    shard_commit_put(self->commit, &key, self->text.data, self->text.len);
    if (p->seq == 1 && !p->group) { /* the members' conversation index (outbox.h) */
        shard_outbox_stage(shard_outbox(shard), conv, p->a, "dm");
        shard_outbox_stage(shard_outbox(shard), conv, p->b, "dm");
    }
    ctr->next = p->seq;
    p->ctr = ctr;
}

size_t shard_conv_pending(shard_conv_t *self)
{
    return self->npend - self->answered;
}

/* The action of the next pending send (in arrival order): after the batch was written
 * (status NULL) answer its seq and push its event; else answer status. */
static void s_sent(void *arg, const char *status, const char *why)
{
    shard_conv_t *self = arg;
    shard_t *shard = self->shard;
    assert(self->answered < self->npend);
    pend_t *p = &self->pend[self->answered++];
    if (status) {
        shard_reply(shard, p->gw, p->reqid, status, why);
        return;
    }
    if (!p->has_event) { /* a repeat within the batch: nothing new to push */
        s_reply_sent(self, p->gw, p->reqid, p->conv, p->seq, p->ts);
        return;
    }
    const char *event = (const char *)self->events.data + p->ev_off;
    s_reply_event(self, p->gw, p->reqid, event, p->conv_at, p->conv_json_len, p->seq_at, p->seq_n,
                  p->ts_at, p->ts_n);
    counter_t *ctr = p->ctr;
    if (ctr && ctr->seq < p->seq)
        ctr->seq = p->seq;
    if (p->group) {
        const char *users[SHARD_GROUP_MAX];
        size_t n = p->nto < SHARD_GROUP_MAX ? p->nto : SHARD_GROUP_MAX;
        for (size_t i = 0; i < n; i++)
            users[i] = p->to[i];
        /* push notifications go to members without a connected device: none when all
         * have one (shard_push_committed would look each up again to find that) */
        if (shard_loc_push(shard_loc(shard), users, n, p->skip, event) < n)
            shard_push_committed(shard, users, n, p->skip, event);
        return;
    }
    const char *users[2] = {p->a, p->b};
    if (shard_loc_push(shard_loc(shard), users, 2, p->skip, event) < 2)
        shard_push_committed(shard, users, 2, p->skip, event);
    if (p->seq == 1)
        pl_info("%s: first message, indexing members", p->conv);
}

/* After every flush: the pending sends were all answered. A failed write drops the
 * counter cache (the counters of the lost sends ran ahead: reloaded from disk). */
static void s_end(void *arg, const char *status, const char *why)
{
    shard_conv_t *self = arg;
    (void)why;
    s_pend_purge(self);
    if (status || zhashx_size(self->counters) > SHARD_COUNTER_CACHE_MAX)
        zhashx_purge(self->counters);
}

void shard_conv_tick(shard_conv_t *self)
{
    if (self->npend == 0 && zhashx_size(self->counters) > SHARD_COUNTER_CACHE_MAX)
        zhashx_purge(self->counters); /* nothing pending: every entry is committed */
}

/* Whether a change other than a send waits in the group commit (membership, read
 * receipts: rare). */
static bool s_others_pending(shard_conv_t *self)
{
    return shard_commit_pending(self->commit) > self->npend - self->answered;
}

/* If conv has sends waiting, or another change is, write the batch so that the read
 * sees them (and they are answered before it). */
static void s_settle(shard_conv_t *self, const char *conv)
{
    counter_t *c = zhashx_lookup(self->counters, conv);
    if ((c && c->next != c->seq) || s_others_pending(self))
        shard_commit_flush(self->commit);
}

/* Read an optional non-negative integer member; def when absent. -1 when malformed. */
static int s_opt_uint(json_t *req, const char *name, int64_t def, int64_t max, int64_t *out)
{
    json_t *v = json_object_get(req, name);
    if (!v || json_is_null(v)) {
        *out = def;
        return 0;
    }
    if (!json_is_integer(v) || json_integer_value(v) < 0 || json_integer_value(v) > max)
        return -1;
    *out = json_integer_value(v);
    return 0;
}

/* ---- page answers: {"msgs":[<stored texts>],"more":bool}, built by concatenation --- */

typedef struct {
    char *buf;
    size_t len, cap;
    bool failed;
} sbuf_t;

static void s_cat(sbuf_t *s, const char *data, size_t len)
{
    if (s->failed)
        return;
    if (s->len + len + 1 > s->cap) {
        size_t cap = s->cap ? s->cap : 256;
        while (cap < s->len + len + 1)
            cap *= 2;
        char *nb = realloc(s->buf, cap);
        if (!nb) {
            s->failed = true;
            return;
        }
        s->buf = nb;
        s->cap = cap;
    }
    memcpy(s->buf + s->len, data, len);
    s->len += len;
    s->buf[s->len] = '\0';
}

/* The event JSON of the message the iterator is on (conv's, whose message keys have a
 * prefix of plen bytes), in self->text. 1; 0 when its key or value is corrupt (logged);
 * -1 when out of memory. */
static int s_event_at(shard_conv_t *self, shard_iter_t *it, const char *conv, size_t plen)
{
    size_t klen = 0, len = 0;
    const char *k = shard_iter_key(it, &klen);
    const char *v = shard_iter_value(it, &len);
    pl_buf_reset(&self->text);
    if (klen == plen + 8 &&
        shard_msgval_render(&self->text, conv, strlen(conv), shard_be64_get(k + plen), v, len) == 0)
        return 1;
    shard_msgval_t m;
    if (klen == plen + 8 && shard_msgval_decode(v, len, &m) >= 0)
        return -1; /* readable: the render ran out of memory */
    pl_error("%s: a corrupt stored message (key %zu bytes, value %zu bytes, first byte 0x%02x) "
             "left out of a page",
             conv, klen, len, len ? (unsigned char)v[0] : 0);
    return 0;
}

static void s_page_reply(shard_conv_t *self, const char *gw, const char *reqid, sbuf_t *s,
                         bool more, int iter_rc)
{
    const char *tail = more ? "],\"more\":true}" : "],\"more\":false}";
    s_cat(s, tail, strlen(tail));
    if (iter_rc != 0)
        shard_reply(self->shard, gw, reqid, PL_E_UNAVAILABLE, "storage error");
    else if (s->failed)
        shard_reply(self->shard, gw, reqid, PL_E_INTERNAL, "out of memory");
    else
        shard_reply(self->shard, gw, reqid, "ok", s->buf);
    free(s->buf);
}

void shard_conv_sync(shard_conv_t *self, const char *gw, const char *reqid, json_t *req)
{
    const char *user = NULL;
    shard_members_t m;
    int64_t after = 0, limit = 0;
    shard_key_t prefix, key;
    const char *conv = s_member(self, gw, reqid, req, &user, &m);
    if (!conv)
        return;
    if (s_opt_uint(req, "after", 0, INT64_MAX, &after) != 0 ||
        s_opt_uint(req, "limit", SYNC_LIMIT_DEFAULT, LIMIT_MAX, &limit) != 0 || limit < 1) {
        shard_reply(self->shard, gw, reqid, PL_E_BAD_REQUEST, "invalid after or limit");
        return;
    }
    s_settle(self, conv);
    shard_key_msg_prefix(&prefix, conv);
    shard_key_msg(&key, conv, (uint64_t)after + 1);
    shard_iter_t *it = shard_iter_new(shard_store(self->shard), &prefix);
    if (!it) {
        shard_reply(self->shard, gw, reqid, PL_E_INTERNAL, "out of memory");
        return;
    }
    sbuf_t s = {0};
    size_t bytes = 0;
    int64_t n = 0;
    s_cat(&s, "{\"msgs\":[", 9);
    for (shard_iter_seek(it, &key); shard_iter_valid(it) && n < limit && bytes < SHARD_PAGE_BYTES;
         shard_iter_next(it)) {
        int r = s_event_at(self, it, conv, prefix.len);
        if (r < 0) {
            s.failed = true;
            break;
        }
        if (r == 0)
            continue; /* corrupt (logged): left out */
        if (n++ > 0)
            s_cat(&s, ",", 1);
        s_cat(&s, (const char *)self->text.data, self->text.len);
        bytes += self->text.len;
    }
    bool more = shard_iter_valid(it);
    int rc = shard_iter_status(it);
    shard_iter_destroy(&it);
    s_page_reply(self, gw, reqid, &s, more, rc);
}

void shard_conv_history(shard_conv_t *self, const char *gw, const char *reqid, json_t *req)
{
    const char *user = NULL;
    shard_members_t m;
    int64_t before = 0, limit = 0;
    shard_key_t prefix, key;
    const char *conv = s_member(self, gw, reqid, req, &user, &m);
    if (!conv)
        return;
    if (s_opt_uint(req, "before", INT64_MAX, INT64_MAX, &before) != 0 ||
        s_opt_uint(req, "limit", HISTORY_LIMIT_DEFAULT, LIMIT_MAX, &limit) != 0 || limit < 1) {
        shard_reply(self->shard, gw, reqid, PL_E_BAD_REQUEST, "invalid before or limit");
        return;
    }
    s_settle(self, conv);
    sbuf_t s = {0};
    s_cat(&s, "{\"msgs\":[", 9);
    if (before <= 1) { /* nothing lies before seq 1 */
        s_page_reply(self, gw, reqid, &s, false, 0);
        return;
    }
    char **texts = calloc((size_t)limit, sizeof(char *));
    size_t *lens = calloc((size_t)limit, sizeof(size_t));
    shard_iter_t *it = NULL;
    if (!texts || !lens)
        goto oom;
    shard_key_msg_prefix(&prefix, conv);
    shard_key_msg(&key, conv, (uint64_t)before - 1);
    it = shard_iter_new(shard_store(self->shard), &prefix);
    if (!it)
        goto oom;
    size_t bytes = 0;
    int64_t n = 0;
    /* newest first, down to limit messages or 8 MiB */
    for (shard_iter_seek_for_prev(it, &key);
         shard_iter_valid(it) && n < limit && bytes < SHARD_PAGE_BYTES; shard_iter_prev(it)) {
        int r = s_event_at(self, it, conv, prefix.len);
        if (r == 0)
            continue; /* corrupt (logged): left out */
        lens[n] = self->text.len;
        texts[n] = r < 0 ? NULL : malloc(lens[n] + 1);
        if (!texts[n]) {
            s.failed = true;
            break;
        }
        memcpy(texts[n], self->text.data, lens[n]);
        bytes += lens[n++];
    }
    bool more = shard_iter_valid(it);
    int rc = shard_iter_status(it);
    shard_iter_destroy(&it);
    for (int64_t i = n - 1; i >= 0; i--) { /* answered in ascending seq */
        s_cat(&s, texts[i], lens[i]);
        if (i > 0)
            s_cat(&s, ",", 1);
        free(texts[i]);
    }
    free(texts);
    free(lens);
    s_page_reply(self, gw, reqid, &s, more, rc);
    return;
oom:
    free(texts);
    free(lens);
    free(s.buf);
    shard_reply(self->shard, gw, reqid, PL_E_INTERNAL, "out of memory");
}

/* A group's members as a JSON array, in byte order. */
static json_t *s_members_json(const shard_members_t *m)
{
    const char *sorted[SHARD_GROUP_MAX];
    size_t n = m->n < SHARD_GROUP_MAX ? m->n : SHARD_GROUP_MAX;
    memcpy(sorted, m->list, n * sizeof(sorted[0]));
    for (size_t i = 1; i < n; i++) /* insertion sort: at most 100 names */
        for (size_t j = i; j > 0 && strcmp(sorted[j - 1], sorted[j]) > 0; j--) {
            const char *t = sorted[j];
            sorted[j] = sorted[j - 1];
            sorted[j - 1] = t;
        }
    json_t *arr = json_array();
    for (size_t i = 0; arr && i < n; i++)
        json_array_append_new(arr, json_string(sorted[i]));
    return arr;
}

/* One conv_info entry, or NULL when the user is no member (or conv is unknown here). Sets
 * *failed on a storage error. */
static json_t *s_info_one(shard_conv_t *self, const char *user, const char *conv, bool *failed)
{
    shard_members_t m;
    shard_key_t key;
    uint64_t read_seq = 0;
    const char *err = shard_roster_check(self->roster, conv, user, &m);
    if (err) {
        if (strcmp(err, PL_E_UNAVAILABLE) == 0)
            *failed = true;
        return NULL;
    }
    counter_t *ctr = s_counter(self, conv);
    if (!ctr || shard_key_read(&key, conv, user) != 0 ||
        shard_store_get_u64(shard_store(self->shard), &key, &read_seq) < 0) {
        *failed = true;
        return NULL;
    }
    if (m.group)
        return json_pack("{s:s, s:s, s:s, s:o, s:I, s:I}", "conv", conv, "kind", "group", "title",
                         m.title ? m.title : "", "members", s_members_json(&m), "last_seq",
                         (json_int_t)ctr->seq, "read_seq", (json_int_t)read_seq);
    return json_pack("{s:s, s:s, s:s, s:[s,s], s:I, s:I}", "conv", conv, "kind", "dm", "title",
                     strcmp(user, m.a) == 0 ? m.b : m.a, "members", m.a, m.b, "last_seq",
                     (json_int_t)ctr->seq, "read_seq", (json_int_t)read_seq);
}

/* A conversation id from a JSON array entry; NULL unless a string without NUL. */
static const char *s_conv_id(json_t *v)
{
    const char *s = json_string_value(v);
    return s && strlen(s) == json_string_length(v) ? s : NULL;
}

void shard_conv_info(shard_conv_t *self, const char *gw, const char *reqid, json_t *req)
{
    const char *user = shard_json_str(req, "user");
    json_t *convs = json_object_get(req, "convs");
    size_t i;
    json_t *v;
    if (!user || !pl_user_valid(user) || !json_is_array(convs)) {
        shard_reply(self->shard, gw, reqid, PL_E_BAD_REQUEST, "missing user or convs");
        return;
    }
    json_array_foreach(convs, i, v)
    {
        const char *conv = s_conv_id(v);
        if (conv && !shard_owns(self->shard, 'c', conv)) {
            shard_not_mine(self->shard, gw, reqid, 'c', conv); /* a stale table: retry */
            return;
        }
    }
    json_array_foreach(convs, i, v)
    {
        const char *conv = s_conv_id(v);
        counter_t *c = conv ? zhashx_lookup(self->counters, conv) : NULL;
        if ((c && c->next != c->seq) || s_others_pending(self)) {
            shard_commit_flush(self->commit);
            break;
        }
    }
    json_t *out = json_array();
    bool failed = false;
    json_array_foreach(convs, i, v)
    {
        const char *conv = s_conv_id(v);
        json_t *entry = conv ? s_info_one(self, user, conv, &failed) : NULL;
        if (entry)
            json_array_append_new(out, entry);
        if (failed)
            break;
    }
    if (failed) {
        json_decref(out);
        shard_reply(self->shard, gw, reqid, PL_E_UNAVAILABLE, "storage error");
        return;
    }
    shard_reply_json(self->shard, gw, reqid, json_pack("{s:o}", "convs", out));
}

int shard_conv_seq(shard_conv_t *self, const char *conv, uint64_t *last, uint64_t *next)
{
    counter_t *c = s_counter(self, conv);
    if (!c)
        return -1;
    if (last)
        *last = c->seq;
    if (next)
        *next = c->next;
    return 0;
}
