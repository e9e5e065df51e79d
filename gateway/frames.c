/* frames — reference-counted output blobs and the client frames built from them
 * (PROTOCOL.md §3: ok and error frames). Loop thread only. */
#include "gw.h"

gw_blob_t *gw_blob_alloc(size_t len)
{
    gw_blob_t *b = malloc(sizeof *b + len + 1);
    if (!b)
        return NULL;
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
    if (--(*self_p)->refs == 0)
        free(*self_p);
    *self_p = NULL;
}

void gw_blob_tag_conv(gw_blob_t *self)
{
    static const char t[] = "{\"type\":\"", c[] = "\",\"conv\":\"";
    const char *d = self->data, *end = d + self->len;
    self->conv_off = self->conv_len = 0;
    if (self->len < sizeof t - 1 || memcmp(d, t, sizeof t - 1) != 0)
        return;
    const char *q = d + sizeof t - 1; /* the type: no quote or backslash inside */
    while (q < end && *q != '"' && *q != '\\')
        q++;
    if ((size_t)(end - q) < sizeof c - 1 || memcmp(q, c, sizeof c - 1) != 0)
        return;
    const char *v = q + sizeof c - 1, *w = v;
    while (w < end && *w != '"' && *w != '\\')
        w++;
    if (w == end || *w != '"' || w == v || w - v > 128)
        return;
    self->conv_off = (uint32_t)(v - d);
    self->conv_len = (uint32_t)(w - v);
}

static bool s_ws(char c)
{
    return c == ' ' || c == '\t' || c == '\n' || c == '\r';
}

gw_blob_t *frame_ok_splice(const char *id_json, const char *body, size_t body_len)
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

char *json_text(const json_t *obj, size_t *len_out)
{
    char *t = json_dumps(obj, JSON_COMPACT | JSON_ENCODE_ANY);
    if (t && len_out)
        *len_out = strlen(t);
    return t;
}

gw_blob_t *frame_dump(const json_t *obj)
{
    size_t len;
    char *t = json_text(obj, &len);
    if (!t)
        return NULL;
    gw_blob_t *b = gw_blob_new(t, len);
    free(t);
    return b;
}

gw_blob_t *frame_error(const char *id_json, const char *code, const char *msg, size_t msg_len)
{
    json_t *m = json_stringn(msg ? msg : code, msg ? msg_len : strlen(code));
    if (!m)
        m = json_string(code); /* not UTF-8 (or NUL inside): fall back to the code */
    char *mt = m ? json_text(m, NULL) : NULL;
    json_decref(m);
    if (!mt)
        return NULL;
    /* code is one of ours (plain ASCII) or came from the router: encode it too */
    json_t *c = json_string(code);
    char *ct = c ? json_text(c, NULL) : NULL;
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
