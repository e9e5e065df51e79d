/* pl_msgtext — see pl_msgtext.h. */
#include "pl_msgtext.h"

#include "pl_ops.h"

#include <jansson.h>
#include <stdlib.h>
#include <string.h>

static char *s_str(zframe_t *f)
{
    return f ? zframe_strdup(f) : NULL;
}

/* Hashed ids and their texts (the last 256). */
static struct {
    uint64_t id;
    char text[32];
} s_names[256];
static unsigned s_next_name;

static uint64_t s_u64(const char *s)
{
    char *end;
    if (s && *s >= '0' && *s <= '9') {
        unsigned long long v = strtoull(s, &end, 10);
        if (!*end)
            return v;
    }
    uint64_t h = 1469598103934665603ull; /* FNV-1a: distinct words, distinct ids */
    for (const char *p = s; p && *p; p++)
        h = (h ^ (uint8_t)*p) * 1099511628211ull;
    if (s && strlen(s) < sizeof s_names[0].text) {
        for (unsigned i = 0; i < 256; i++)
            if (s_names[i].id == h && strcmp(s_names[i].text, s) == 0)
                return h;
        unsigned k = s_next_name++ % 256;
        s_names[k].id = h;
        snprintf(s_names[k].text, sizeof s_names[k].text, "%s", s);
    }
    return h;
}

uint64_t pl_msgtext_id(const char *text)
{
    return s_u64(text);
}

static pl_op_t s_op(const char *payload)
{
    json_t *j = json_loads(payload, 0, NULL);
    const char *op = json_string_value(json_object_get(j, "op"));
    pl_op_t r = op ? pl_op_by_name(op, strlen(op)) : PL_OP_NONE;
    json_decref(j);
    return r;
}

static bool s_has(const char *payload, const char *member)
{
    json_t *j = json_loads(payload, 0, NULL);
    bool r = json_object_get(j, member) != NULL;
    json_decref(j);
    return r;
}

/* The body field of a request of op: the payload text, or for a binary op (PL_OPF_BIN) its
 * fields from the JSON members named in the op's row (a member that is not a string
 * becomes a field with a NUL byte, which shards refuse; a missing one ends the body
 * early, which does not decode: both are a bad_request, as they were in JSON). */
static void s_body(pl_buf_t *b, pl_op_t op, const char *payload)
{
    const pl_opdef_t *def = pl_op_def(op);
    json_t *j = def && (def->flags & PL_OPF_BIN) ? json_loads(payload, 0, NULL) : NULL;
    if (!json_is_object(j)) {
        json_decref(j);
        pl_msg_field_str(b, payload);
        return;
    }
    size_t at = pl_msg_field_begin(b);
    char name[64];
    for (const char *p = def->fields; *p;) {
        size_t n = strcspn(p, " ");
        snprintf(name, sizeof name, "%.*s", (int)n, p);
        p += n;
        p += strspn(p, " ");
        json_t *v = json_object_get(j, name);
        if (!v)
            break;
        if (json_is_string(v))
            pl_msg_field(b, json_string_value(v), json_string_length(v));
        else
            pl_msg_field(b, "", 1);
    }
    pl_msg_field_end(b, at);
    json_decref(j);
}

static zmsg_t *s_out(const char *addr, pl_buf_t *b)
{
    zmsg_t *m = zmsg_new();
    if (addr)
        zmsg_addstr(m, addr);
    zmsg_addmem(m, b->data, b->len);
    pl_buf_free(b);
    return m;
}

static void s_list_of_json(pl_buf_t *b, const char *to)
{
    size_t at = pl_msg_field_begin(b);
    json_t *arr = json_loads(to, 0, NULL);
    size_t i;
    json_t *v;
    if (json_is_array(arr)) {
        json_array_foreach(arr, i, v)
        {
            const char *s = json_string_value(v);
            if (s)
                pl_list_add(b, s, strlen(s));
        }
    } else
        pl_buf_put(b, to, strlen(to)); /* not JSON: the bytes as they are */
    json_decref(arr);
    pl_msg_field_end(b, at);
}

zmsg_t *pl_msgtext_to_binv(pl_hop_t hop, int n, const char *const *f)
{
    if (n < 1)
        return NULL;
    pl_buf_t b = {0};
    pl_hdr_t h = {0};
    const char *v = f[0], *addr = NULL;
#define IS(word, count) (strcmp(v, word) == 0 && n == (count))
    switch (hop) {
    case PL_HOP_GW_ROUTER:
        if (IS("HB", 3)) {
            h = (pl_hdr_t){.kind = PL_K_HB, .id = s_u64(f[1]), .seq = s_u64(f[2])};
            pl_msg_begin(&b, &h);
        } else if (IS("REQ", 4)) {
            h = (pl_hdr_t){.kind = PL_K_REQ, .op = s_op(f[3]), .id = s_u64(f[2])};
            pl_msg_begin(&b, &h);
            pl_msg_field_str(&b, f[1]);
            s_body(&b, h.op, f[3]);
        } else if (IS("LOC", 4)) {
            h = (pl_hdr_t){.kind = PL_K_LOC,
                           .id = s_u64(f[1]),
                           .seq = s_u64(f[2]),
                           .flags = s_has(f[3], "full") ? PL_MF_FULL : 0};
            pl_msg_begin(&b, &h);
            pl_msg_field_str(&b, f[3]);
        } else if (IS("HEALTH", 2)) {
            h = (pl_hdr_t){.kind = PL_K_HEALTH, .id = s_u64(f[1])};
            pl_msg_begin(&b, &h);
        } else
            return NULL;
        break;
    case PL_HOP_ROUTER_SHARD:
        if (IS("HB", 1)) {
            h = (pl_hdr_t){.kind = PL_K_HB};
            pl_msg_begin(&b, &h);
        } else if (IS("REQ", 4)) {
            addr = f[1];
            h = (pl_hdr_t){.kind = PL_K_REQ, .op = s_op(f[3]), .id = s_u64(f[2])};
            pl_msg_begin(&b, &h);
            pl_msg_field_str(&b, "");
            s_body(&b, h.op, f[3]);
        } else if (IS("LOC", 5)) {
            addr = f[1];
            h = (pl_hdr_t){.kind = PL_K_LOC,
                           .id = s_u64(f[2]),
                           .seq = s_u64(f[3]),
                           .flags = s_has(f[4], "full") ? PL_MF_FULL : 0};
            pl_msg_begin(&b, &h);
            pl_msg_field_str(&b, f[4]);
        } else if (IS("GWHB", 4)) {
            addr = f[1];
            h = (pl_hdr_t){.kind = PL_K_GWHB, .id = s_u64(f[2]), .seq = s_u64(f[3])};
            pl_msg_begin(&b, &h);
        } else if (IS("FWD", 2)) {
            h = (pl_hdr_t){.kind = PL_K_FWD, .op = s_op(f[1])};
            pl_msg_begin(&b, &h);
            pl_msg_field_str(&b, "");
            pl_msg_field_str(&b, f[1]);
        } else if (IS("TABLE", 2)) {
            h = (pl_hdr_t){.kind = PL_K_TABLE};
            pl_msg_begin(&b, &h);
            pl_msg_field_str(&b, f[1]);
        } else
            return NULL;
        break;
    case PL_HOP_SHARD_ROUTER:
        if (IS("HB", 2) || IS("HELLO", 2) || IS("HB", 3) || IS("HELLO", 3)) {
            /* [HB|HELLO, shard, table version (optional, 0)] */
            h = (pl_hdr_t){.kind = v[1] == 'B' ? PL_K_HB : PL_K_HELLO,
                           .flags = n == 3 ? PL_MF_VERSION : 0,
                           .shard = (uint16_t)atoi(f[1]),
                           .seq = n == 3 ? s_u64(f[2]) : 0};
            pl_msg_begin(&b, &h);
        } else if (IS("REP", 5)) {
            addr = f[1];
            h = (pl_hdr_t){.kind = PL_K_REP, .id = s_u64(f[2]), .status = pl_status_of(f[3])};
            pl_msg_begin(&b, &h);
            pl_msg_field_str(&b, f[4]);
        } else if (IS("EVT", 5)) {
            addr = f[1];
            h = (pl_hdr_t){.kind = PL_K_EVT};
            pl_msg_begin(&b, &h);
            s_list_of_json(&b, f[2]);
            pl_msg_field_str(&b, f[3]);
            pl_msg_field_str(&b, f[4]);
        } else if (IS("SNAP", 2)) {
            addr = f[1];
            h = (pl_hdr_t){.kind = PL_K_SNAP};
            pl_msg_begin(&b, &h);
        } else if (IS("FWD", 3)) {
            h = (pl_hdr_t){.kind = PL_K_FWD, .op = s_op(f[2])};
            pl_msg_begin(&b, &h);
            pl_msg_field_str(&b, f[1]);
            pl_msg_field_str(&b, f[2]);
        } else
            return NULL;
        break;
    case PL_HOP_ROUTER_GW:
        if (IS("HB", 1) || IS("SNAP", 1)) {
            h = (pl_hdr_t){.kind = v[0] == 'H' ? PL_K_HB : PL_K_SNAP};
            pl_msg_begin(&b, &h);
        } else if (IS("REP", 4)) {
            h = (pl_hdr_t){.kind = PL_K_REP, .id = s_u64(f[1]), .status = pl_status_of(f[2])};
            pl_msg_begin(&b, &h);
            pl_msg_field_str(&b, f[3]);
        } else if (IS("EVT", 4)) {
            h = (pl_hdr_t){.kind = PL_K_EVT};
            pl_msg_begin(&b, &h);
            s_list_of_json(&b, f[1]);
            pl_msg_field_str(&b, f[2]);
            pl_msg_field_str(&b, f[3]);
        } else if (IS("TABLE", 2)) {
            h = (pl_hdr_t){.kind = PL_K_TABLE};
            pl_msg_begin(&b, &h);
            pl_msg_field_str(&b, f[1]);
        } else if (IS("HEALTH", 3)) {
            h = (pl_hdr_t){.kind = PL_K_HEALTH,
                           .id = s_u64(f[1]),
                           .flags = PL_MF_ANSWER | (strcmp(f[2], "1") ? PL_MF_DOWN : 0)};
            pl_msg_begin(&b, &h);
        } else
            return NULL;
        break;
    }
#undef IS
    if (b.failed) {
        pl_buf_free(&b);
        return NULL;
    }
    return s_out(addr, &b);
}

zmsg_t *pl_msgtext_to_bin(pl_hop_t hop, zmsg_t *text)
{
    int n = (int)zmsg_size(text);
    if (n < 1 || n > 8)
        return NULL;
    char *f[8] = {0};
    int k = 0;
    for (zframe_t *fr = zmsg_first(text); fr; fr = zmsg_next(text))
        f[k++] = s_str(fr);
    zmsg_t *r = pl_msgtext_to_binv(hop, n, (const char *const *)f);
    for (int i = 0; i < k; i++)
        free(f[i]);
    return r;
}

static void s_addslice(zmsg_t *m, pl_slice_t s)
{
    zmsg_addmem(m, s.p, s.n);
}

static void s_addu64(zmsg_t *m, uint64_t v)
{
    for (unsigned i = 0; i < 256; i++)
        if (s_names[i].text[0] && s_names[i].id == v) {
            zmsg_addstr(m, s_names[i].text);
            return;
        }
    zmsg_addstrf(m, "%llu", (unsigned long long)v);
}

static void s_add_list_json(zmsg_t *m, pl_slice_t list)
{
    json_t *arr = json_array();
    pl_list_it_t it;
    pl_slice_t e;
    pl_list_iter(&it, list);
    while (pl_list_next(&it, &e) == 1)
        json_array_append_new(arr, json_stringn((const char *)e.p, e.n));
    char *t = json_dumps(arr, JSON_COMPACT);
    zmsg_addstr(m, t ? t : "[]");
    free(t);
    json_decref(arr);
}

zmsg_t *pl_msgtext_from_bin(pl_hop_t hop, zmsg_t *bin)
{
    bool has_addr = zmsg_size(bin) == 2;
    zframe_t *a = has_addr ? zmsg_first(bin) : NULL;
    zframe_t *mf = has_addr ? zmsg_next(bin) : zmsg_first(bin);
    pl_msg_t m;
    if (!mf || zmsg_size(bin) > 2 || pl_msg_decode(zframe_data(mf), zframe_size(mf), &m) != 0)
        return NULL;
    zmsg_t *t = zmsg_new();
    zmsg_addstr(t, pl_kind_name(m.h.kind));
    bool to_router = hop == PL_HOP_GW_ROUTER || hop == PL_HOP_SHARD_ROUTER;
    switch (m.h.kind) {
    case PL_K_HB:
    case PL_K_HELLO:
        if (hop == PL_HOP_SHARD_ROUTER) {
            s_addu64(t, m.h.shard);
            if (m.h.flags & PL_MF_VERSION) /* the shard's slot table version */
                s_addu64(t, m.h.seq);
        } else if (hop == PL_HOP_GW_ROUTER) {
            s_addu64(t, m.h.id);
            s_addu64(t, m.h.seq);
        }
        break;
    case PL_K_REQ:
        if (a)
            zmsg_append(t, &(zframe_t *){zframe_dup(a)});
        else
            s_addslice(t, m.f[0]);
        s_addu64(t, m.h.id);
        s_addslice(t, m.f[1]);
        break;
    case PL_K_REP:
        if (a)
            zmsg_append(t, &(zframe_t *){zframe_dup(a)});
        s_addu64(t, m.h.id);
        zmsg_addstr(t, pl_status_name(m.h.status));
        s_addslice(t, m.f[0]);
        break;
    case PL_K_EVT:
        if (a)
            zmsg_append(t, &(zframe_t *){zframe_dup(a)});
        s_add_list_json(t, m.f[0]);
        s_addslice(t, m.f[1]);
        s_addslice(t, m.f[2]);
        break;
    case PL_K_LOC:
    case PL_K_GWHB:
        if (a)
            zmsg_append(t, &(zframe_t *){zframe_dup(a)});
        s_addu64(t, m.h.id);
        s_addu64(t, m.h.seq);
        if (m.h.kind == PL_K_LOC)
            s_addslice(t, m.f[0]);
        break;
    case PL_K_SNAP:
        if (a)
            zmsg_append(t, &(zframe_t *){zframe_dup(a)});
        break;
    case PL_K_FWD:
        if (to_router)
            s_addslice(t, m.f[0]);
        s_addslice(t, m.f[1]);
        break;
    case PL_K_TABLE:
        s_addslice(t, m.f[0]);
        break;
    case PL_K_HEALTH:
        s_addu64(t, m.h.id);
        if (m.h.flags & PL_MF_ANSWER)
            zmsg_addstr(t, m.h.flags & PL_MF_DOWN ? "0" : "1");
        break;
    case PL_K_REQN:
        if (a)
            zmsg_append(t, &(zframe_t *){zframe_dup(a)});
        s_addu64(t, m.h.shard);
        s_addu64(t, m.h.id);
        s_addslice(t, m.f[0]);
        break;
    }
    return t;
}
