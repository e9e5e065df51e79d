/* shard — context, dispatch of router messages, output frames. See shard.h. */
#include "shard.h"

#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include "accounts.h"
#include "conv.h"
#include "convert.h"
#include "group.h"
#include "loc.h"
#include "outbox.h"
#include "presence.h"
#include "push.h"
#include "quota.h"
#include "pl_err.h"
#include "pl_hash.h"
#include "pl_log.h"
#include "pl_time.h"

#define MAX_FRAMES 6

typedef void(req_fn)(shard_t *self, const char *gw, const char *reqid, json_t *req);

static void s_send(shard_t *self, const char *gw, const char *reqid, json_t *req);
static void s_sync(shard_t *self, const char *gw, const char *reqid, json_t *req);
static void s_history(shard_t *self, const char *gw, const char *reqid, json_t *req);
static void s_conv_info(shard_t *self, const char *gw, const char *reqid, json_t *req);

/* The request ops (internals.md "Request payloads") and whose slot each serves: 'u' the
 * slot of "u:<payload user>", 'c' that of "c:<payload conv>", '-' the handler checks the
 * names it serves itself (lists: conv_info, presence_*). Groups, read, typing, presence
 * add their rows here. */
static const struct {
    const char *op;
    req_fn *fn;
    char route;
} s_ops[] = {
    {"user_create", shard_user_create, 'u'},
    {"user_get", shard_user_get, 'u'},
    {"user_exists", shard_user_exists, 'u'},
    {"token_set", shard_token_set, 'u'},
    {"token_check", shard_token_check, 'u'},
    {"token_revoke", shard_token_revoke, 'u'},
    {"conv_list", shard_conv_list, 'u'},
    {"send", s_send, 'c'},
    {"sync", s_sync, 'c'},
    {"history", s_history, 'c'},
    {"conv_info", s_conv_info, '-'},
    {"group_create", shard_group_create, 'c'},
    {"group_add", shard_group_add, 'c'},
    {"group_remove", shard_group_remove, 'c'},
    {"read", shard_group_read, 'c'},
    {"typing", shard_group_typing, 'c'},
    {"presence_report", shard_presence_report, '-'},
    {"presence_get", shard_presence_get, '-'},
    {"push_register", shard_push_register, 'u'},
    {"push_list", shard_push_list, 'u'},
    {"push_unregister", shard_push_unregister, 'u'},
    {"group_quota", shard_group_quota, 'u'},
};

static void s_send(shard_t *self, const char *gw, const char *reqid, json_t *req)
{
    shard_conv_send(self->conv, gw, reqid, req);
}

static void s_sync(shard_t *self, const char *gw, const char *reqid, json_t *req)
{
    shard_conv_sync(self->conv, gw, reqid, req);
}

static void s_history(shard_t *self, const char *gw, const char *reqid, json_t *req)
{
    shard_conv_history(self->conv, gw, reqid, req);
}

static void s_conv_info(shard_t *self, const char *gw, const char *reqid, json_t *req)
{
    shard_conv_info(self->conv, gw, reqid, req);
}

/* The slot table last received, kept in the store (meta key "table"), so a restarted
 * shard knows its slots before the router's TABLE answers its HELLO. */
static void s_load_table(shard_t *self)
{
    shard_key_t key;
    char *text = NULL;
    shard_key_meta(&key, "table");
    if (shard_store_get(self->store, &key, &text, NULL) == 1) {
        self->slots = pl_slots_decode(text);
        if (self->slots)
            snprintf(self->table_version, sizeof self->table_version, "%u",
                     pl_slots_version(self->slots));
        else
            pl_warn("stored slot table is malformed: waiting for the router's");
    }
    free(text);
}

shard_t *shard_new(const shard_config_t *cfg)
{
    shard_t *self = calloc(1, sizeof(*self));
    if (!self)
        return NULL;
    self->id = cfg->id;
    snprintf(self->id_text, sizeof(self->id_text), "%d", cfg->id);
    snprintf(self->table_version, sizeof(self->table_version), "0");
    self->sync = cfg->sync;
    self->gw_timeout_ms = cfg->gw_timeout_ms;
    if (zsys_dir_create("%s", cfg->data) != 0) {
        pl_error("cannot create data folder %s: %s", cfg->data, strerror(errno));
        goto fail;
    }
    /* Before the store: on a disk that is already short of space this gives the reserve
     * file back, so that RocksDB can open (it writes a MANIFEST and replays its WAL). */
    self->disk = shard_disk_new(cfg->data, cfg->disk_reserve_mib);
    if (!self->disk)
        goto fail;
    self->store = shard_store_new(cfg->data);
    if (!self->store)
        goto fail;
    shard_store_set_disk(self->store, self->disk);
    if (shard_convert(self->store) < 0)
        goto fail;
    s_load_table(self);
    self->conv = shard_conv_new(self);
    self->loc = shard_loc_new(self);
    self->outbox = shard_outbox_new(self);
    self->group = shard_group_new(self);
    self->presence = shard_presence_new(self);
    self->push = shard_push_new(self, cfg->vapid_key, cfg->vapid_subject, &cfg->providers);
    self->quota = shard_quota_new(
        self, cfg->max_groups_created > 0 ? cfg->max_groups_created : SHARD_QUOTA_CREATED_DEFAULT,
        cfg->max_groups_member > 0 ? cfg->max_groups_member : SHARD_QUOTA_MEMBER_DEFAULT);
    self->guard = shard_guard_new(&cfg->guard);
    if (!self->conv || !self->loc || !self->outbox || !self->group || !self->presence ||
        !self->push || !self->quota || !self->guard)
        goto fail;
    return self;
fail:
    shard_destroy(&self);
    return NULL;
}

void shard_destroy(shard_t **self_p)
{
    if (!self_p || !*self_p)
        return;
    shard_t *self = *self_p;
    shard_conv_destroy(&self->conv); /* answers pending changes: before group and outbox */
    shard_group_destroy(&self->group);
    shard_presence_destroy(&self->presence); /* stores last_seen: before the store */
    shard_push_destroy(&self->push);
    shard_quota_destroy(&self->quota);
    shard_guard_destroy(&self->guard);
    shard_loc_destroy(&self->loc);
    shard_outbox_destroy(&self->outbox);
    shard_store_destroy(&self->store);
    shard_disk_destroy(&self->disk);
    pl_slots_destroy(&self->slots);
    free(self);
    *self_p = NULL;
}

void shard_set_sender(shard_t *self, shard_send_fn *fn, void *arg)
{
    self->send = fn;
    self->send_arg = arg;
}

/* ---- output ---------------------------------------------------------------------- */

static int s_out(shard_t *self, int count, const char *const *frames)
{
    size_t lens[MAX_FRAMES];
    if (!self->send)
        return -1;
    for (int i = 0; i < count; i++)
        lens[i] = strlen(frames[i]);
    if (self->send(self->send_arg, count, (const void *const *)frames, lens) != 0) {
        pl_debug("send %s failed: %s", frames[0], strerror(errno));
        return -1;
    }
    return 0;
}

int shard_reply(shard_t *self, const char *gw, const char *reqid, const char *status,
                const char *body)
{
    const char *f[] = {"REP", gw, reqid, status, body ? body : ""};
    if (strcmp(status, "ok") != 0)
        pl_debug("req %s from %s: %s (%s)", reqid, gw, status, body ? body : "");
    return s_out(self, 5, f);
}

int shard_reply_json(shard_t *self, const char *gw, const char *reqid, json_t *body)
{
    char *text = body ? json_dumps(body, JSON_COMPACT) : NULL;
    json_decref(body);
    if (!text) {
        pl_error("req %s: cannot encode answer", reqid);
        return shard_reply(self, gw, reqid, PL_E_INTERNAL, "cannot encode answer");
    }
    int rc = shard_reply(self, gw, reqid, "ok", text);
    free(text);
    return rc;
}

int shard_event(shard_t *self, const char *gw, const char *to, const char *skip, const char *event)
{
    const char *f[] = {"EVT", gw, to, skip, event};
    return s_out(self, 5, f);
}

int shard_fwd(shard_t *self, const char *key, const char *payload)
{
    const char *f[] = {"FWD", key, payload};
    return s_out(self, 3, f);
}

int shard_snap(shard_t *self, const char *gw)
{
    const char *f[] = {"SNAP", gw};
    return s_out(self, 2, f);
}

int shard_heartbeat(shard_t *self)
{
    const char *f[] = {"HB", self->id_text, self->table_version};
    return s_out(self, 3, f);
}

int shard_hello(shard_t *self)
{
    /* Like HB, and asks the router to replay every gateway's latest GWHB at once, so a
     * restarted shard relearns the gateways (and requests SNAPs) without waiting. */
    const char *f[] = {"HELLO", self->id_text, self->table_version};
    return s_out(self, 3, f);
}

const char *shard_json_str(json_t *req, const char *name)
{
    json_t *v = json_object_get(req, name);
    if (!json_is_string(v))
        return NULL;
    const char *s = json_string_value(v);
    if (strlen(s) != json_string_length(v))
        return NULL; /* embedded NUL: never a valid id or text */
    return s;
}

/* ---- input ----------------------------------------------------------------------- */

/* Parse a JSON object; NULL (logged) when it is not one. */
static json_t *s_parse(const char *text, const char *what)
{
    json_error_t err;
    json_t *j = json_loads(text, 0, &err);
    if (!j || !json_is_object(j)) {
        pl_warn("malformed %s payload: %s", what, j ? "not an object" : err.text);
        json_decref(j);
        return NULL;
    }
    return j;
}

static int s_parse_u64(const char *s, uint64_t *out)
{
    char *end = NULL;
    if (!*s || *s < '0' || *s > '9')
        return -1;
    errno = 0;
    unsigned long long v = strtoull(s, &end, 10);
    if (errno || *end)
        return -1;
    *out = v;
    return 0;
}

bool shard_owns(shard_t *self, char kind, const char *name)
{
    if (!self->slots || !name)
        return false;
    int slot = kind == 'c' ? shard_slot_conv(name) : shard_slot_user(name);
    return pl_slots_owner(self->slots, slot) == self->id;
}

int shard_scan(shard_t *self, char tag, shard_scan_fn *fn, void *arg)
{
    shard_key_t all = {.len = 0};
    shard_iter_t *it = shard_iter_new(self->store, &all);
    if (!it)
        return -1;
    for (int slot = 0; slot < PL_SLOTS; slot++) {
        if (self->slots && pl_slots_owner(self->slots, slot) != self->id)
            continue;
        shard_key_t start;
        shard_key_tag_prefix(&start, slot, tag);
        shard_iter_seek(it, &start);
        for (; shard_iter_valid(it); shard_iter_next(it)) {
            size_t klen = 0, vlen = 0;
            const char *k = shard_iter_key(it, &klen);
            if (klen < start.len || memcmp(k, start.buf, start.len) != 0) {
                /* past this slot's keys of tag: the next slot with any key is this one's */
                int next = shard_key_slot_of(k, klen);
                slot = next < 0 ? PL_SLOTS : next > slot ? next - 1 : slot;
                break;
            }
            const char *v = shard_iter_value(it, &vlen);
            fn(arg, k, klen, v, vlen);
        }
        if (!shard_iter_valid(it))
            break; /* the end of the store (or an error, reported below) */
    }
    int rc = shard_iter_status(it);
    shard_iter_destroy(&it);
    return rc;
}

int shard_not_mine(shard_t *self, const char *gw, const char *reqid, char kind, const char *name)
{
    char text[96];
    if (!self->slots || !name)
        snprintf(text, sizeof text, "shard %d has no slot table yet", self->id);
    else
        snprintf(text, sizeof text, "slot %d is not on shard %d",
                 kind == 'c' ? shard_slot_conv(name) : shard_slot_user(name), self->id);
    pl_warn("REQ %s from %s: %s: unavailable", reqid, gw, text);
    return shard_reply(self, gw, reqid, PL_E_UNAVAILABLE, text);
}

/* ["TABLE", table]: the router's slot table; replaces ours (and the stored copy) when it
 * differs. */
static void s_on_table(shard_t *self, const char *text)
{
    char *old = self->slots ? pl_slots_encode(self->slots) : NULL;
    bool same = old && strcmp(old, text) == 0;
    free(old);
    if (same) {
        pl_debug("slot table version %s: unchanged", self->table_version);
        return;
    }
    pl_slots_t *t = pl_slots_decode(text);
    if (!t) {
        pl_warn("malformed TABLE dropped");
        return;
    }
    int mine = 0;
    for (int s = 0; s < PL_SLOTS; s++)
        mine += pl_slots_owner(t, s) == self->id;
    pl_info("slot table version %u: %d slots on shard %d%s", pl_slots_version(t), mine, self->id,
            self->slots ? " (replaced)" : "");
    shard_key_t key;
    shard_key_meta(&key, "table");
    if (shard_store_put(self->store, &key, text, strlen(text), true) != 0)
        pl_warn("slot table not stored: a restart waits for the router's");
    pl_slots_destroy(&self->slots);
    self->slots = t;
    snprintf(self->table_version, sizeof self->table_version, "%u", pl_slots_version(t));
}

static void s_on_req(shard_t *self, const char *gw, const char *reqid, const char *payload)
{
    json_t *req = s_parse(payload, "REQ");
    if (!req) {
        shard_reply(self, gw, reqid, PL_E_BAD_REQUEST, "malformed request payload");
        return;
    }
    const char *op = shard_json_str(req, "op");
    for (size_t i = 0; op && i < sizeof(s_ops) / sizeof(s_ops[0]); i++) {
        if (strcmp(op, s_ops[i].op) == 0) {
            char route = s_ops[i].route;
            const char *name = route == 'u'   ? shard_json_str(req, "user")
                               : route == 'c' ? shard_json_str(req, "conv")
                                              : NULL;
            /* never serve a slot of another shard (a name absent: the handler's
             * bad_request); no table yet: nothing is known to be ours */
            if (!self->slots || (name && !shard_owns(self, route, name))) {
                shard_not_mine(self, gw, reqid, route, name);
                json_decref(req);
                return;
            }
            s_ops[i].fn(self, gw, reqid, req);
            json_decref(req);
            return;
        }
    }
    pl_warn("REQ %s from %s: unknown op %s", reqid, gw, op ? op : "(none)");
    shard_reply(self, gw, reqid, PL_E_BAD_REQUEST, "unknown op");
    json_decref(req);
}

static void s_on_fwd(shard_t *self, const char *payload)
{
    json_t *req = s_parse(payload, "FWD");
    if (!req)
        return;
    const char *op = shard_json_str(req, "op");
    /* the acks (idx_ack, push_ack) go to the conversation's shard, the others to the
     * user's */
    bool conv = op && (strcmp(op, "idx_ack") == 0 || strcmp(op, "push_ack") == 0);
    const char *name = shard_json_str(req, conv ? "conv" : "user");
    if (name && !shard_owns(self, conv ? 'c' : 'u', name)) {
        pl_warn("FWD %s for %s: not a slot of shard %d: dropped (the sender retries)",
                op ? op : "(none)", name, self->id);
        json_decref(req);
        return;
    }
    if (op && strcmp(op, "idx_add") == 0)
        shard_idx_add(self, req);
    else if (op && strcmp(op, "idx_del") == 0)
        shard_idx_del(self, req);
    else if (op && strcmp(op, "idx_ack") == 0)
        shard_outbox_ack(self->outbox, req);
    else if (op && strcmp(op, "push") == 0)
        shard_push_fwd(self, req);
    else if (op && strcmp(op, "push_ack") == 0)
        shard_push_ack(self, req);
    else
        pl_warn("FWD: unknown op %s", op ? op : "(none)");
    json_decref(req);
}

void shard_handle(shard_t *self, zmsg_t *msg)
{
    char *f[MAX_FRAMES] = {0};
    int n = 0;
    size_t count = zmsg_size(msg);
    if (count < 1 || count > MAX_FRAMES) {
        pl_warn("dropped a message of %zu frames", count);
        return;
    }
    for (zframe_t *fr = zmsg_first(msg); fr; fr = zmsg_next(msg)) {
        size_t len = zframe_size(fr);
        if (memchr(zframe_data(fr), '\0', len)) {
            pl_warn("dropped a message with a NUL byte in frame %d", n);
            goto done;
        }
        f[n++] = zframe_strdup(fr);
    }
    const char *cmd = f[0];
    uint64_t locseq = 0;
    if (strcmp(cmd, "REQ") == 0 && n == 4)
        s_on_req(self, f[1], f[2], f[3]);
    else if (strcmp(cmd, "LOC") == 0 && n == 5 && s_parse_u64(f[3], &locseq) == 0) {
        json_t *payload = s_parse(f[4], "LOC");
        if (payload)
            shard_loc_on_loc(self->loc, f[1], f[2], locseq, payload, pl_mono_ms());
        json_decref(payload);
    } else if (strcmp(cmd, "GWHB") == 0 && n == 4 && s_parse_u64(f[3], &locseq) == 0)
        shard_loc_on_gwhb(self->loc, f[1], f[2], locseq, pl_mono_ms());
    else if (strcmp(cmd, "FWD") == 0 && n == 2)
        s_on_fwd(self, f[1]);
    else if (strcmp(cmd, "TABLE") == 0 && n == 2)
        s_on_table(self, f[1]);
    else if (strcmp(cmd, "REQ") == 0 && n >= 3) {
        pl_warn("REQ %s from %s: %d frames", f[2], f[1], n);
        shard_reply(self, f[1], f[2], PL_E_BAD_REQUEST, "malformed request");
    } else
        pl_warn("dropped a malformed %.16s message of %d frames", cmd, n);
done:
    for (int i = 0; i < n; i++)
        free(f[i]);
}

void shard_flush(shard_t *self)
{
    shard_conv_commit(self->conv);
}

void shard_tick(shard_t *self)
{
    int64_t now = pl_mono_ms();
    shard_heartbeat(self);
    shard_loc_tick(self->loc, now);
    shard_outbox_tick(self->outbox, now);
    shard_group_tick(self->group, now);
    shard_presence_tick(self->presence, now);
    shard_push_tick(self->push);
    shard_quota_tick(self->quota, now);
    shard_guard_tick(self->guard, now);
    shard_disk_tick(self->disk);
}
