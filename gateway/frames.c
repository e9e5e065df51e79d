/* frames — reference-counted output blobs and the client frames built from them
 * (PROTOCOL.md §3: ok and error frames). Loop thread only. */
#include "gw.h"
#include "pl_pool.h"
#include "gw_frames.h"

/* Small blobs (an `ok` answer, a `msg` event: two per DM message) come from free lists of
 * two sizes instead of a malloc and a free each. At most GW_BLOB_POOL_MAX of each size are
 * kept, so a burst's memory returns to malloc; gw_frames_pool_free releases them at exit.
 * Loop thread only, like every blob. */
#define GW_BLOB_POOL_MAX 512
static const uint32_t s_class_cap[2] = {128, 512}; /* data bytes, its NUL included */
static pl_pool_t s_pool[2] = {PL_POOL_INIT(sizeof(gw_blob_t) + 128, GW_BLOB_POOL_MAX),
                              PL_POOL_INIT(sizeof(gw_blob_t) + 512, GW_BLOB_POOL_MAX)};

void gw_frames_pool_free(void)
{
    for (int c = 0; c < 2; c++)
        pl_pool_drain(&s_pool[c]);
}

gw_blob_t *gw_blob_alloc(size_t len)
{
    int c = len < s_class_cap[0] ? 0 : len < s_class_cap[1] ? 1 : -1;
    gw_blob_t *b = c >= 0 ? pl_pool_take(&s_pool[c]) : malloc(sizeof *b + len + 1);
    if (!b)
        return NULL;
    b->cls = c;
    b->refs = 1;
    b->len = len;
    b->conv_off = b->conv_len = 0;
    b->queued = 0;
    b->data[len] = 0;
    return b;
}

gw_blob_t *gw_blob_new(const char *data, size_t len)
{
    gw_blob_t *b = gw_blob_alloc(len);
    if (b && len)
        memcpy(b->data, data, len);
    return b;
}

gw_blob_t *gw_blob_ref(gw_blob_t *self)
{
    if (self)
        self->refs++;
    return self;
}

void gw_blob_unref(gw_blob_t **self_p)
{
    if (!self_p || !*self_p)
        return;
    gw_blob_t *b = *self_p;
    *self_p = NULL;
    if (--b->refs > 0)
        return;
    if (b->cls < 0)
        free(b);
    else
        pl_pool_put(&s_pool[b->cls], b);
}

void gw_blob_tag_conv(gw_blob_t *self)
{
    static const char t[] = "{\"type\":\"", c[] = "\",\"conv\":\"";
    const char *d = self->data, *end = d + self->len;
    self->conv_off = self->conv_len = 0;
    if (self->len < sizeof t - 1 || memcmp(d, t, sizeof t - 1) != 0)
        return;
    /* the type, then the conv: each up to its first quote, without a backslash */
    const char *q = d + sizeof t - 1;
    const char *qe = memchr(q, '"', (size_t)(end - q));
    if (!qe || memchr(q, '\\', (size_t)(qe - q)))
        return;
    if ((size_t)(end - qe) < sizeof c - 1 || memcmp(qe, c, sizeof c - 1) != 0)
        return;
    const char *v = qe + sizeof c - 1;
    const char *w = memchr(v, '"', (size_t)(end - v) < 130 ? (size_t)(end - v) : 130);
    if (!w || w == v || w - v > 128 || memchr(v, '\\', (size_t)(w - v)))
        return;
    self->conv_off = (uint32_t)(v - d);
    self->conv_len = (uint32_t)(w - v);
}

static bool s_ws(char c)
{
    return c == ' ' || c == '\t' || c == '\n' || c == '\r';
}

gw_blob_t *gw_frame_ok_splice(const char *id_json, const char *body, size_t body_len)
{
    static const char head[] = "{\"type\":\"ok\",\"id\":";
    size_t i = 0;
    while (i < body_len && s_ws(body[i]))
        i++;
    if (i == body_len || body[i] != '{')
        return NULL;
    i++; /* past '{' */
    size_t j = i;
    while (j < body_len && s_ws(body[j]))
        j++;
    bool empty = j < body_len && body[j] == '}';
    if (j == body_len)
        return NULL;
    size_t hl = sizeof head - 1, il = strlen(id_json);
    size_t rest = empty ? 1 : body_len - i; /* "}" or the members and the closing brace */
    gw_blob_t *b = gw_blob_alloc(hl + il + 1 + rest);
    if (!b)
        return NULL;
    char *p = b->data;
    memcpy(p, head, hl);
    p += hl;
    memcpy(p, id_json, il);
    p += il;
    if (empty) {
        *p++ = '}';
        b->len = (size_t)(p - b->data);
        b->data[b->len] = 0;
    } else {
        *p++ = ',';
        memcpy(p, body + i, rest);
    }
    return b;
}

char *gw_json_text(const json_t *obj, size_t *len_out)
{
    char *t = json_dumps(obj, JSON_COMPACT | JSON_ENCODE_ANY);
    if (t && len_out)
        *len_out = strlen(t);
    return t;
}

gw_blob_t *gw_frame_error(const char *id_json, const char *code, const char *msg, size_t msg_len)
{
    json_t *m = json_stringn(msg ? msg : code, msg ? msg_len : strlen(code));
    if (!m)
        m = json_string(code); /* not UTF-8 (or NUL inside): fall back to the code */
    char *mt = m ? gw_json_text(m, NULL) : NULL;
    json_decref(m);
    if (!mt)
        return NULL;
    /* code is one of ours (plain ASCII) or came from the router: encode it too */
    json_t *c = json_string(code);
    char *ct = c ? gw_json_text(c, NULL) : NULL;
    json_decref(c);
    if (!ct) {
        free(mt);
        return NULL;
    }
    size_t need = 64 + (id_json ? strlen(id_json) : 0) + strlen(ct) + strlen(mt);
    gw_blob_t *b = gw_blob_alloc(need);
    if (b) {
        int n;
        if (id_json)
            n = snprintf(b->data, need + 1,
                         "{\"type\":\"error\",\"id\":%s,\"code\":%s,\"message\":%s}", id_json, ct,
                         mt);
        else
            n = snprintf(b->data, need + 1, "{\"type\":\"error\",\"code\":%s,\"message\":%s}", ct,
                         mt);
        b->len = n > 0 ? (size_t)n : 0;
    }
    free(mt);
    free(ct);
    return b;
}
