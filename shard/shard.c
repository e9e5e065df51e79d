/* shard — context, dispatch of router messages, output frames. See shard.h. */
#include "shard.h"

#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include "accounts.h"
#include "commit.h"
#include "conv.h"
#include "convert.h"
#include "group.h"
#include "loc.h"
#include "outbox.h"
#include "presence.h"
#include "push.h"
#include "quota.h"
#include "receipts.h"
#include "roster.h"
#include "ops.h"
#include "pl_err.h"
#include "pl_hash.h"
#include "pl_msg.h"
#include "pl_log.h"
#include "pl_text.h"
#include "pl_time.h"

struct _shard_t {
    int id;
    pl_slots_t *slots;      /* the router's slot table (TABLE); NULL until the first */
    char table_version[16]; /* its version in decimal, "0" without one: for logs */
    bool sync;
    int64_t gw_timeout_ms;
    int64_t presence_flap_ms; /* presence.c's flap window (--presence-flap-ms) */
    shard_store_t *store;
    shard_disk_t *disk;     /* free-space reserve of the data folder (diskspace.c) */
    shard_commit_t *commit; /* the group commit: the turn's batch and its answers */
    shard_roster_t *roster; /* conversation members, the group member cache */
    shard_conv_t *conv;
    shard_loc_t *loc;
    shard_outbox_t *outbox;
    shard_group_t *group;       /* groups: create, add, remove */
    shard_receipts_t *receipts; /* read receipts, typing */
    shard_presence_t *presence;
    shard_push_t *push;   /* push notifications (push.c) */
    shard_quota_t *quota; /* per-user group caps (quota.c) */
    shard_guard_t *guard; /* per-user abuse limits (guard.c) */
    shard_send_fn *send;  /* NULL: everything sent is dropped */
    void *send_arg;
    pl_buf_t out; /* the message being sent (reused) */
    /* The binary body of the request being handled (ops flagged PL_OPF_BIN, whose
     * handler gets req NULL): valid only during that handler's call. */
    pl_slice_t body;
    /* body's fields when s_on_req already split it (nfields of them; 0: not split) */
    pl_slice_t fields[8];
    int nfields;
};

/* The handler of every op (pl_ops.def), indexed by op id. */
static shard_op_fn *const s_ops[PL_OP__COUNT] = {
#define PL_OP(ID, name, key, flags, fields) [PL_OP_##ID] = shard_op_##name,
#include "pl_ops.def"
#undef PL_OP
};

/* The conversation ops live in conv.c (its own context, not shard_t). */
/* send's body is binary (pl_ops.def): user, device, conv, client_msg_id, text. The text
 * stays a slice of the received frame until the stored event is rendered. */
void shard_op_send(shard_t *self, const char *gw, const char *reqid, json_t *req)
{
    (void)req;
    pl_slice_t f[5];
    shard_send_t s;
    if (self->nfields == 5) /* split by s_on_req for the slot check */
        memcpy(f, self->fields, sizeof f);
    else if (pl_body_fields(self->body, f, 5) != 0)
        f[0].p = NULL;
    if (!f[0].p || !pl_slice_cstr(f[0], s.user, sizeof s.user) ||
        !pl_slice_cstr(f[1], s.device, sizeof s.device) ||
        !pl_slice_cstr(f[2], s.conv, sizeof s.conv) ||
        !pl_slice_cstr(f[3], s.cmid, sizeof s.cmid) || memchr(f[4].p, '\0', f[4].n) ||
        !pl_utf8_valid(s.cmid, f[3].n) || !pl_utf8_valid((const char *)f[4].p, f[4].n)) {
        shard_reply(self, gw, reqid, PL_E_BAD_REQUEST, "missing or invalid send fields");
        return;
    }
    s.user_len = f[0].n; /* pl_slice_cstr refused a NUL inside: these are the strlens */
    s.device_len = f[1].n;
    s.conv_len = f[2].n;
    s.cmid_len = f[3].n;
    s.text = (const char *)f[4].p;
    s.text_len = f[4].n;
    shard_conv_send(self->conv, gw, reqid, &s);
}

void shard_op_sync(shard_t *self, const char *gw, const char *reqid, json_t *req)
{
    shard_conv_sync(self->conv, gw, reqid, req);
}

void shard_op_history(shard_t *self, const char *gw, const char *reqid, json_t *req)
{
    shard_conv_history(self->conv, gw, reqid, req);
}

void shard_op_conv_info(shard_t *self, const char *gw, const char *reqid, json_t *req)
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

/* Build the modules that keep stored records in memory, in dependency order (shard.h):
 * each may use those before it at its creation. 0 or -1. The location table, push and
 * the guards are built once, by shard_new. */
static int s_modules_up(shard_t *self, const shard_config_t *cfg)
{
    self->commit = shard_commit_new(self->store, self->sync);
    self->roster = shard_roster_new(self->store);
    if (!self->commit || !self->roster)
        return -1;
    self->conv = shard_conv_new(self);
    self->outbox = shard_outbox_new(self);
    self->group = shard_group_new(self);
    self->receipts = shard_receipts_new(self);
    self->presence = shard_presence_new(self);
    self->quota = shard_quota_new(
        self, cfg->max_groups_created > 0 ? cfg->max_groups_created : SHARD_QUOTA_CREATED_DEFAULT,
        cfg->max_groups_member > 0 ? cfg->max_groups_member : SHARD_QUOTA_MEMBER_DEFAULT);
    if (!self->conv || !self->outbox || !self->group || !self->receipts || !self->presence ||
        !self->quota)
        return -1;
    return 0;
}

/* Destroy what s_modules_up built. The group commit first: it answers what is pending
 * (nothing is written), through the modules of its actions. */
static void s_modules_down(shard_t *self)
{
    shard_commit_destroy(&self->commit);
    shard_conv_destroy(&self->conv);
    shard_group_destroy(&self->group);
    shard_receipts_destroy(&self->receipts);
    shard_roster_destroy(&self->roster);
    shard_presence_destroy(&self->presence); /* stores last_seen: before the store */
    shard_quota_destroy(&self->quota);
    shard_outbox_destroy(&self->outbox);
}

int shard_reload(shard_t *self, const shard_config_t *cfg)
{
    shard_commit_flush(self->commit);
    s_modules_down(self);
    return s_modules_up(self, cfg);
}

shard_t *shard_new(const shard_config_t *cfg)
{
    shard_t *self = calloc(1, sizeof(*self));
    if (!self)
        return NULL;
    self->id = cfg->id;
    snprintf(self->table_version, sizeof(self->table_version), "0");
    self->sync = cfg->sync;
    self->gw_timeout_ms = cfg->gw_timeout_ms;
    self->presence_flap_ms =
        cfg->presence_flap_ms > 0 ? cfg->presence_flap_ms : SHARD_PRESENCE_FLAP_MS;
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
    self->loc = shard_loc_new(self);
    self->push = shard_push_new(self, cfg->vapid_key, cfg->vapid_subject, &cfg->providers);
    self->guard = shard_guard_new(&cfg->guard);
    if (!self->loc || !self->push || !self->guard || s_modules_up(self, cfg) != 0)
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
    s_modules_down(self);
    shard_push_destroy(&self->push);
    shard_loc_destroy(&self->loc);
    shard_guard_destroy(&self->guard);
    shard_store_destroy(&self->store);
    shard_disk_destroy(&self->disk);
    pl_slots_destroy(&self->slots);
    pl_buf_free(&self->out);
    free(self);
    *self_p = NULL;
}

int shard_id(const shard_t *self)
{
    return self->id;
}

bool shard_sync(const shard_t *self)
{
    return self->sync;
}

int64_t shard_gw_timeout_ms(const shard_t *self)
{
    return self->gw_timeout_ms;
}

int64_t shard_presence_flap_ms(const shard_t *self)
{
    return self->presence_flap_ms;
}

const pl_slots_t *shard_slots(const shard_t *self)
{
    return self->slots;
}

shard_store_t *shard_store(shard_t *self)
{
    return self->store;
}

shard_commit_t *shard_commit(shard_t *self)
{
    return self->commit;
}

shard_roster_t *shard_roster(shard_t *self)
{
    return self->roster;
}

shard_conv_t *shard_conv(shard_t *self)
{
    return self->conv;
}

shard_loc_t *shard_loc(shard_t *self)
{
    return self->loc;
}

shard_outbox_t *shard_outbox(shard_t *self)
{
    return self->outbox;
}

shard_group_t *shard_group(shard_t *self)
{
    return self->group;
}

shard_receipts_t *shard_receipts(shard_t *self)
{
    return self->receipts;
}

shard_presence_t *shard_presence(shard_t *self)
{
    return self->presence;
}

shard_push_t *shard_push(shard_t *self)
{
    return self->push;
}

shard_quota_t *shard_quota(shard_t *self)
{
    return self->quota;
}

shard_guard_t *shard_guard(shard_t *self)
{
    return self->guard;
}

void shard_set_sender(shard_t *self, shard_send_fn *fn, void *arg)
{
    self->send = fn;
    self->send_arg = arg;
}

/* ---- output ---------------------------------------------------------------------- */

/* Send self->out behind address addr (NULL: none). */
static int s_out(shard_t *self, const char *addr)
{
    if (!self->send || self->out.failed)
        return -1;
    const void *parts[2] = {addr, self->out.data};
    size_t lens[2] = {addr ? strlen(addr) : 0, self->out.len};
    int n = addr ? 2 : 1;
    if (self->send(self->send_arg, n, addr ? parts : parts + 1, addr ? lens : lens + 1) != 0) {
        pl_debug("send %s failed: %s", pl_kind_name(self->out.data[1]), strerror(errno));
        return -1;
    }
    return 0;
}

/* The request id of its decimal form (shard_handle made it from the header's u64): its
 * leading digits (strtoull's locale handling cost ≈ 300 instructions per answer). */
static uint64_t s_reqid(const char *reqid)
{
    uint64_t v = 0;
    for (; *reqid >= '0' && *reqid <= '9'; reqid++)
        v = v * 10 + (uint64_t)(*reqid - '0');
    return v;
}

int shard_reply(shard_t *self, const char *gw, const char *reqid, const char *status,
                const char *body)
{
    pl_hdr_t h = {.kind = PL_K_REP, .id = s_reqid(reqid)};
    if (strcmp(status, "ok") != 0) {
        h.status = pl_status_of(status);
        pl_debug("req %s from %s: %s (%s)", reqid, gw, status, body ? body : "");
    }
    pl_msg_begin(&self->out, &h);
    pl_msg_field_str(&self->out, body ? body : "");
    return s_out(self, gw);
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

int shard_event(shard_t *self, const char *gw, const void *to, size_t to_len, const char *skip,
                const char *event)
{
    pl_hdr_t h = {.kind = PL_K_EVT};
    pl_msg_begin(&self->out, &h);
    pl_msg_field(&self->out, to, to_len);
    pl_msg_field_str(&self->out, skip);
    pl_msg_field_str(&self->out, event);
    return s_out(self, gw);
}

int shard_fwd(shard_t *self, pl_op_t op, const char *key, const char *payload)
{
    pl_hdr_t h = {.kind = PL_K_FWD, .op = (uint8_t)op};
    pl_msg_begin(&self->out, &h);
    pl_msg_field_str(&self->out, key);
    pl_msg_field_str(&self->out, payload);
    return s_out(self, NULL);
}

int shard_snap(shard_t *self, const char *gw)
{
    pl_hdr_t h = {.kind = PL_K_SNAP};
    pl_msg_begin(&self->out, &h);
    return s_out(self, gw);
}

/* HB/HELLO{shard=id, seq=slot-table version (0 until the shard knows a table),
 * PL_MF_VERSION}. */
static int s_beat(shard_t *self, pl_kind_t kind)
{
    pl_hdr_t h = {.kind = (uint8_t)kind,
                  .flags = PL_MF_VERSION,
                  .shard = (uint16_t)self->id,
                  .seq = self->slots ? pl_slots_version(self->slots) : 0};
    pl_msg_begin(&self->out, &h);
    return s_out(self, NULL);
}

int shard_heartbeat(shard_t *self)
{
    return s_beat(self, PL_K_HB);
}

int shard_hello(shard_t *self)
{
    /* Like HB, and asks the router to replay every gateway's latest GWHB at once, so a
     * restarted shard relearns the gateways (and requests SNAPs) without waiting. */
    return s_beat(self, PL_K_HELLO);
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

const char *shard_req_user_conv(shard_t *self, const char *gw, const char *reqid, json_t *req,
                                const char **user)
{
    const char *conv = shard_json_str(req, "conv");
    *user = shard_json_str(req, "user");
    if (!conv || !*user || !pl_user_valid(*user) || strlen(conv) > PL_CONV_MAX) {
        shard_reply(self, gw, reqid, PL_E_BAD_REQUEST, "missing user or conv");
        return NULL;
    }
    return conv;
}

bool shard_req_member(shard_t *self, const char *gw, const char *reqid, const char *conv,
                      const char *user, shard_members_t *m)
{
    const char *err = shard_roster_check(self->roster, conv, user, m);
    if (err) {
        shard_reply(self, gw, reqid, err, shard_roster_why(err));
        return false;
    }
    return true;
}

/* ---- input ----------------------------------------------------------------------- */

/* Parse a JSON object body; NULL (logged) when it is not one. */
static json_t *s_parse(pl_slice_t body, const char *what)
{
    json_error_t err;
    json_t *j = json_loadb((const char *)body.p, body.n, 0, &err);
    if (!j || !json_is_object(j)) {
        pl_warn("malformed %s payload: %s", what, j ? "not an object" : err.text);
        json_decref(j);
        return NULL;
    }
    return j;
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

/* TABLE{seq=version}[table]: the router's slot table; replaces ours (and the stored copy)
 * when it differs. */
static void s_on_table(shard_t *self, pl_slice_t body)
{
    char text[PL_SLOTS * 6 + 64];
    if (!pl_slice_cstr(body, text, sizeof text)) {
        pl_warn("malformed TABLE dropped (%zu bytes)", body.n);
        return;
    }
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

/* The user or conv name a request with a binary body is about (route 'u' / 'c'): the body
 * field of that name in the op's table row. False when there is none or it is malformed
 * (the handler answers bad_request). */
static bool s_bin_name(shard_t *self, const pl_opdef_t *def, uint8_t op, pl_slice_t body,
                       char route, char *out, size_t cap)
{
    /* the field's index and the field count of each op (op's row is def), read from the
     * constant table once per process; the loop thread only */
    static struct {
        signed char idx, n;
        bool known;
    } memo[256][2];
    int r = route == 'u' ? 0 : 1;
    if (!memo[op][r].known) {
        const char *want = route == 'u' ? "user" : "conv";
        int idx = -1, n = 0;
        for (const char *f = def->fields; *f; n++) {
            size_t len = strcspn(f, " ");
            if (len == strlen(want) && memcmp(f, want, len) == 0)
                idx = n;
            f += len;
            f += strspn(f, " ");
        }
        memo[op][r].idx = (signed char)idx;
        memo[op][r].n = (signed char)(n > 100 ? 100 : n);
        memo[op][r].known = true;
    }
    int idx = memo[op][r].idx, n = memo[op][r].n;
    if (idx < 0 || n > 8 || pl_body_fields(body, self->fields, n) != 0)
        return false;
    self->nfields = n; /* the handler need not split body again */
    return pl_slice_cstr(self->fields[idx], out, cap);
}

/* The decimal of v into out (at least 21 bytes), NUL-terminated: the request ids and
 * epochs of every message, without snprintf's format parsing. */
static void s_dec(uint64_t v, char *out)
{
    char tmp[20];
    int n = 0;
    do {
        tmp[n++] = (char)('0' + v % 10);
        v /= 10;
    } while (v);
    for (int i = 0; i < n; i++)
        out[i] = tmp[n - 1 - i];
    out[n] = '\0';
}

/* REQ/REQN from gateway gw: the handler of the header's op, with the JSON body. A request
 * for a slot this shard does not hold (by its table: the user or conv the body names,
 * the op's key kind) is answered unavailable and never served; list ops (PL_OPF_LIST)
 * check each name themselves. */
static void s_on_req(shard_t *self, const char *gw, const pl_msg_t *m)
{
    char reqid[24];
    s_dec(m->h.id, reqid);
    const pl_opdef_t *def = pl_op_def(m->h.op);
    if (!def || (def->flags & PL_OPF_FWD)) {
        pl_warn("REQ %s from %s: unknown op %u", reqid, gw, (unsigned)m->h.op);
        shard_reply(self, gw, reqid, PL_E_BAD_REQUEST, "unknown op");
        return;
    }
    char route = (def->flags & PL_OPF_LIST) ? '-' : (char)def->key;
    if (route != 'u' && route != 'c')
        route = '-';
    if (!self->slots) { /* no table yet: nothing is known to be ours */
        shard_not_mine(self, gw, reqid, route, NULL);
        return;
    }
    if (def->flags & PL_OPF_BIN) { /* no JSON: the handler reads self->body */
        char name[PL_MSG_ADDR_MAX + 256];
        self->nfields = 0;
        if (route != '-' &&
            s_bin_name(self, def, m->h.op, m->f[m->nf - 1], route, name, sizeof name) &&
            !shard_owns(self, route, name)) {
            shard_not_mine(self, gw, reqid, route, name);
            return;
        }
        self->body = m->f[m->nf - 1];
        s_ops[m->h.op](self, gw, reqid, NULL);
        self->body = (pl_slice_t){0};
        self->nfields = 0;
        return;
    }
    json_t *req = s_parse(m->f[m->nf - 1], def->name);
    if (!req) {
        shard_reply(self, gw, reqid, PL_E_BAD_REQUEST, "malformed request payload");
        return;
    }
    const char *name = route == 'u'   ? shard_json_str(req, "user")
                       : route == 'c' ? shard_json_str(req, "conv")
                                      : NULL;
    /* a name absent: the handler's bad_request */
    if (name && !shard_owns(self, route, name)) {
        shard_not_mine(self, gw, reqid, route, name);
        json_decref(req);
        return;
    }
    s_ops[m->h.op](self, gw, reqid, req);
    json_decref(req);
}

static void s_on_fwd(shard_t *self, const pl_msg_t *m)
{
    const pl_opdef_t *def = pl_op_def(m->h.op);
    if (!def || !(def->flags & PL_OPF_FWD)) {
        pl_warn("FWD: unknown op %u", (unsigned)m->h.op);
        return;
    }
    json_t *req = s_parse(m->f[1], def->name);
    if (!req)
        return;
    /* the acks (idx_ack, push_ack) go to the conversation's shard, the others to the
     * user's: the op's key kind */
    char route = def->key == PL_KEY_CONV ? 'c' : 'u';
    const char *name = shard_json_str(req, route == 'c' ? "conv" : "user");
    if (name && !shard_owns(self, route, name)) {
        pl_warn("FWD %s for %s: not a slot of shard %d: dropped (the sender retries)", def->name,
                name, self->id);
        json_decref(req);
        return;
    }
    s_ops[m->h.op](self, NULL, NULL, req);
    json_decref(req);
}

/* A BATCH of one gateway's requests (the router's per-shard batch of a drain): checked
 * whole first, so a malformed one is dropped and changes nothing (its requests time out
 * at the gateway), then each entry handled in order as if it had come alone. */
static void s_on_batch(shard_t *self, const char *gw, const pl_msg_t *batch)
{
    int rc;
    if (!pl_batch_is_reqs(batch)) {
        pl_warn("dropped a BATCH of answers from %s: not for a shard", gw);
        return;
    }
    if ((rc = pl_batch_check(batch)) != 0) {
        pl_warn("dropped a malformed BATCH from %s: %s", gw, pl_msg_strerror(rc));
        return;
    }
    pl_batch_it_t it;
    pl_msg_t in;
    pl_batch_iter(&it, batch);
    while (pl_batch_next(&it, &in) == 1) {
        s_on_req(self, gw, &in);
        /* a group commit this large is written now, between two requests (shard_handle) */
        if (shard_commit_full(self->commit))
            shard_commit_flush(self->commit);
    }
}

static int s_handle(shard_t *self, const void *addr, size_t alen, const void *data, size_t len)
{
    pl_msg_t m;
    char gw[PL_MSG_ADDR_MAX + 1] = "";
    pl_slice_t a = {addr, alen};
    if (addr && (alen == 0 || !pl_slice_cstr(a, gw, sizeof gw))) {
        pl_warn("dropped a message with a malformed address frame");
        return 1;
    }
    int rc = pl_msg_decode(data, len, &m);
    if (rc != 0) {
        const uint8_t *p = data;
        if (gw[0] && len >= PL_MSG_HDR && p[0] == PL_MSG_MAGIC &&
            (p[1] == PL_K_REQ || p[1] == PL_K_REQN)) {
            /* a request we cannot read, from a gateway we can answer */
            uint64_t id = 0;
            for (int i = 7; i >= 0; i--)
                id = id << 8 | p[8 + i];
            char reqid[24];
            snprintf(reqid, sizeof reqid, "%llu", (unsigned long long)id);
            pl_warn("REQ %s from %s: %s", reqid, gw, pl_msg_strerror(rc));
            shard_reply(self, gw, reqid, PL_E_BAD_REQUEST, "malformed request");
        } else
            pl_warn("dropped a malformed message: %s", pl_msg_strerror(rc));
        return 1;
    }
    bool addressed = m.h.kind == PL_K_REQ || m.h.kind == PL_K_REQN || m.h.kind == PL_K_LOC ||
                     m.h.kind == PL_K_GWHB || m.h.kind == PL_K_BATCH;
    if (addressed != (gw[0] != '\0')) {
        pl_warn("dropped a %s message %s an address frame", pl_kind_name(m.h.kind),
                addressed ? "without" : "with");
        return 1;
    }
    char epoch[24]; /* LOC and GWHB: the gateway's epoch, in decimal */
    if (m.h.kind == PL_K_LOC || m.h.kind == PL_K_GWHB)
        s_dec(m.h.id, epoch);
    switch (m.h.kind) {
    case PL_K_REQ:
    case PL_K_REQN:
        s_on_req(self, gw, &m);
        break;
    case PL_K_BATCH:
        s_on_batch(self, gw, &m);
        return pl_batch_weight(&m);
    case PL_K_LOC: {
        json_t *payload = s_parse(m.f[0], "LOC");
        if (payload)
            shard_loc_on_loc(self->loc, gw, epoch, m.h.seq, payload, pl_mono_ms());
        json_decref(payload);
        break;
    }
    case PL_K_GWHB:
        shard_loc_on_gwhb(self->loc, gw, epoch, m.h.seq, pl_mono_ms());
        break;
    case PL_K_FWD:
        s_on_fwd(self, &m);
        break;
    case PL_K_TABLE:
        s_on_table(self, m.f[0]);
        break;
    default:
        pl_warn("dropped a %s message: not for a shard", pl_kind_name(m.h.kind));
    }
    return 1;
}

int shard_handle(shard_t *self, const void *addr, size_t alen, const void *data, size_t len)
{
    int n = s_handle(self, addr, alen, data, len);
    /* a batch this large is written now, between two requests, to bound memory */
    if (shard_commit_full(self->commit))
        shard_commit_flush(self->commit);
    return n;
}

void shard_flush(shard_t *self)
{
    shard_commit_flush(self->commit);
}

void shard_tick(shard_t *self)
{
    int64_t now = pl_mono_ms();
    shard_heartbeat(self);
    shard_loc_tick(self->loc, now);
    shard_outbox_tick(self->outbox, now);
    shard_receipts_tick(self->receipts, now);
    shard_roster_trim(self->roster, shard_commit_pending(self->commit) == 0);
    shard_conv_tick(self->conv);
    shard_presence_tick(self->presence, now);
    shard_push_tick(self->push);
    shard_quota_tick(self->quota, now);
    shard_guard_tick(self->guard, now);
    shard_disk_tick(self->disk);
}
