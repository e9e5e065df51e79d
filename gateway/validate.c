/* validate — stateless checks of client frames (gw_validate.h). */
#include "gw_validate.h"

#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "pl_err.h"
#include "pl_text.h"

#define BAD(m) ((gw_verdict_t){PL_E_BAD_REQUEST, (m)})

void gw_frame_head_clear(gw_frame_head_t *h)
{
    json_decref(h->req);
    free(h->id_json);
    memset(h, 0, sizeof *h);
}

/* v quoted as JSON when it needs no escape (what json_dumps gives then: jansson escapes
 * only '"', '\\', control characters and, without flags, nothing else); NULL otherwise
 * or on OOM. Caller frees. */
static char *s_quote(const char *v, size_t n)
{
    for (size_t i = 0; i < n; i++) {
        unsigned char c = (unsigned char)v[i];
        if (c < 0x20 || c == '"' || c == '\\' || c == 0x7f)
            return NULL;
    }
    char *q = malloc(n + 3);
    if (!q)
        return NULL;
    q[0] = '"';
    memcpy(q + 1, v, n);
    q[n + 1] = '"';
    q[n + 2] = '\0';
    return q;
}

gw_verdict_t gw_frame_head(const char *data, size_t len, bool binary, gw_frame_head_t *h)
{
    memset(h, 0, sizeof *h);
    if (binary)
        return BAD("binary frames are not accepted");
    json_error_t err;
    h->req = json_loadb(data, len, JSON_REJECT_DUPLICATES | JSON_ALLOW_NUL, &err);
    if (!json_is_object(h->req))
        return BAD(h->req ? "a frame must be a JSON object" : "invalid JSON");
    json_t *idv = json_object_get(h->req, "id");
    if (!json_is_string(idv))
        return BAD("id is missing or not a string");
    h->id_json = s_quote(json_string_value(idv), json_string_length(idv));
    if (!h->id_json) /* escapes needed, or out of memory */
        h->id_json = json_dumps(idv, JSON_COMPACT | JSON_ENCODE_ANY);
    if (!h->id_json)
        return (gw_verdict_t){PL_E_INTERNAL, "out of memory"};
    h->type_v = json_object_get(h->req, "type");
    h->type = json_string_value(h->type_v);
    /* "send\u0000x" must not pass for "send" in the caller's strcmps: a type holding
     * U+0000 is no known type (JSON_ALLOW_NUL lets it through the parser) */
    if (h->type && strlen(h->type) != json_string_length(h->type_v))
        h->type = "(holds U+0000)";
    return GW_VERDICT_OK;
}

gw_verdict_t gw_valid_str(json_t *req, const char *name, bool required, const char **out,
                          size_t *len_out)
{
    json_t *v = json_object_get(req, name);
    *out = NULL;
    if (!v)
        return required ? BAD("a required field is missing") : GW_VERDICT_OK;
    if (!json_is_string(v))
        return BAD("a field has the wrong type");
    *out = json_string_value(v);
    size_t len = json_string_length(v);
    if (len_out)
        *len_out = len;
    if (strlen(*out) != len)
        return BAD("a string holds U+0000");
    return GW_VERDICT_OK;
}

gw_verdict_t gw_valid_int(json_t *req, const char *name, json_int_t min, json_int_t max,
                          json_int_t *out, bool *present)
{
    json_t *v = json_object_get(req, name);
    *present = v != NULL;
    if (!v)
        return GW_VERDICT_OK;
    if (!json_is_integer(v))
        return BAD("a field has the wrong type");
    json_int_t n = json_integer_value(v);
    if (n < min || n > max)
        return BAD("a number is out of range");
    *out = n;
    return GW_VERDICT_OK;
}

gw_verdict_t gw_valid_conv(const char *user, const char *conv, char *other)
{
    char a[33], b[33];
    other[0] = 0;
    if (pl_group_id_valid(conv))
        return GW_VERDICT_OK; /* a group: the shard checks existence and membership */
    if (strncmp(conv, "dm:", 3) != 0 || !pl_dm_parse(conv, a, b))
        return BAD("conv is not a valid conversation id");
    if (strcmp(a, user) == 0)
        memcpy(other, b, strlen(b) + 1); /* pl_dm_parse: both at most 32 bytes */
    else if (strcmp(b, user) == 0)
        memcpy(other, a, strlen(a) + 1);
    else
        return (gw_verdict_t){PL_E_FORBIDDEN, "not a member of this conversation"};
    return GW_VERDICT_OK;
}

static gw_verdict_t s_send(json_t *req, gw_conv_req_t *out)
{
    gw_verdict_t v = gw_valid_str(req, "client_msg_id", true, &out->cmid, NULL);
    if (v.code)
        return v;
    size_t ncp = pl_utf8_count(out->cmid, strlen(out->cmid));
    if (ncp < 1 || ncp > 64)
        return BAD("client_msg_id must be 1 to 64 characters");
    json_t *tv = json_object_get(req, "text");
    if (!tv)
        return BAD("a required field is missing");
    if (!json_is_string(tv))
        return BAD("a field has the wrong type");
    const char *text = json_string_value(tv);
    size_t tlen = json_string_length(tv);
    if (tlen == 0)
        return BAD("text is empty");
    if (memchr(text, 0, tlen))
        return BAD("text holds U+0000");
    if (pl_utf8_count(text, tlen) > PL_TEXT_MAX_CP)
        return (gw_verdict_t){PL_E_TOO_LARGE, "text is longer than 100000 characters"};
    out->text = tv;
    return GW_VERDICT_OK;
}

static gw_verdict_t s_page(const char *type, json_t *req, gw_conv_req_t *out)
{
    gw_verdict_t v;
    bool present;
    if (strcmp(type, "sync") == 0) {
        if ((v = gw_valid_int(req, "after", 0, INT64_MAX, &out->after, &present)).code)
            return v;
        if (!present)
            out->after = 0;
    } else if ((v = gw_valid_int(req, "before", 1, INT64_MAX, &out->before, &out->has_before))
                   .code) {
        return v;
    }
    if ((v = gw_valid_int(req, "limit", 1, 500, &out->limit, &present)).code)
        return v;
    if (!present)
        out->limit = strcmp(type, "sync") == 0 ? 100 : 50;
    return GW_VERDICT_OK;
}

gw_verdict_t gw_valid_conv_request(const char *user, const char *type, json_t *req,
                                   gw_conv_req_t *out)
{
    memset(out, 0, sizeof *out);
    gw_verdict_t v = gw_valid_str(req, "conv", true, &out->conv, NULL);
    if (v.code)
        return v;
    if (strcmp(type, "send") == 0) {
        v = s_send(req, out);
    } else if (strcmp(type, "read") == 0) {
        json_t *sv = json_object_get(req, "seq");
        if (!sv)
            return BAD("a required field is missing");
        if (!json_is_integer(sv))
            return BAD("a field has the wrong type");
        if (json_integer_value(sv) < 0)
            return BAD("seq must not be negative");
        out->seq = json_integer_value(sv);
    } else if (strcmp(type, "sync") == 0 || strcmp(type, "history") == 0) {
        v = s_page(type, req, out);
    } else if (strcmp(type, "typing") != 0) {
        return BAD("unknown request type");
    }
    if (v.code)
        return v;
    return gw_valid_conv(user, out->conv, out->other);
}
