/* msgval — see msgval.h. */
#include "msgval.h"

#include <jansson.h>
#include <string.h>

/* The event's head; conv, as a JSON string, follows it. */
#define EV_HEAD "{\"type\":\"msg\",\"conv\":"

int shard_msgval_json(pl_buf_t *b, const shard_msgval_t *m, shard_msgval_spots_t *spots)
{
    size_t off = b->len, seq_at, seq_n, ts_at, ts_n;
    bool failed = b->failed;
    PL_BUF_LIT(b, EV_HEAD);
    pl_json_str(b, m->conv, m->conv_len);
    size_t conv_n = b->len - off - (sizeof EV_HEAD - 1);
    PL_BUF_LIT(b, ",\"seq\":");
    seq_at = b->len - off;
    pl_json_u64(b, m->seq);
    seq_n = b->len - off - seq_at;
    PL_BUF_LIT(b, ",\"from\":");
    pl_json_str(b, m->from, m->from_len);
    PL_BUF_LIT(b, ",\"device\":");
    pl_json_str(b, m->device, m->device_len);
    PL_BUF_LIT(b, ",\"text\":");
    pl_json_str(b, m->text, m->text_len);
    PL_BUF_LIT(b, ",\"ts\":");
    ts_at = b->len - off;
    pl_json_u64(b, (uint64_t)(m->ts < 0 ? 0 : m->ts));
    ts_n = b->len - off - ts_at;
    PL_BUF_LIT(b, ",\"client_msg_id\":");
    pl_json_str(b, m->cmid, m->cmid_len);
    PL_BUF_LIT(b, "}");
    if (b->failed) { /* drop the partial event; what was before stays */
        b->failed = failed;
        b->len = off;
        return -1;
    }
    if (spots)
        *spots = (shard_msgval_spots_t){sizeof EV_HEAD - 1, conv_n, seq_at, seq_n, ts_at, ts_n};
    return 0;
}

int shard_msgval_encode(pl_buf_t *b, const shard_msgval_t *m)
{
    if (m->from_len > 255 || m->device_len > 255 || m->cmid_len > 65535)
        return -1;
    size_t off = b->len;
    bool failed = b->failed;
    uint8_t head[1 + 8 + 1];
    uint64_t ts = (uint64_t)(m->ts < 0 ? 0 : m->ts);
    head[0] = SHARD_MSGVAL_V1;
    for (int i = 0; i < 8; i++)
        head[1 + i] = (uint8_t)(ts >> (56 - 8 * i));
    head[9] = (uint8_t)m->from_len;
    pl_buf_add(b, (const char *)head, sizeof head);
    pl_buf_add(b, m->from, m->from_len);
    head[0] = (uint8_t)m->device_len;
    pl_buf_add(b, (const char *)head, 1);
    pl_buf_add(b, m->device, m->device_len);
    head[0] = (uint8_t)(m->cmid_len >> 8);
    head[1] = (uint8_t)(m->cmid_len & 0xff);
    pl_buf_add(b, (const char *)head, 2);
    pl_buf_add(b, m->cmid, m->cmid_len);
    pl_buf_add(b, m->text, m->text_len);
    if (b->failed) {
        b->failed = failed;
        b->len = off;
        return -1;
    }
    return 0;
}

int shard_msgval_encode_tail(pl_buf_t *b, int64_t ts, const char *tail, size_t tail_len)
{
    size_t off = b->len;
    bool failed = b->failed;
    uint8_t head[1 + 8];
    uint64_t t = (uint64_t)(ts < 0 ? 0 : ts);
    head[0] = SHARD_MSGVAL_V2;
    for (int i = 0; i < 8; i++)
        head[1 + i] = (uint8_t)(t >> (56 - 8 * i));
    pl_buf_add(b, head, sizeof head);
    pl_buf_add(b, tail, tail_len);
    if (b->failed) {
        b->failed = failed;
        b->len = off;
        return -1;
    }
    return 0;
}

/* The tail of a version-2 value starts with the from member and ends the object. */
#define V2_TAIL_HEAD ",\"from\":"

int shard_msgval_decode(const void *val, size_t len, shard_msgval_t *m)
{
    const uint8_t *p = val, *end = p + len;
    if (len >= 1 && p[0] == '{')
        return 0;
    if (len >= 9 + sizeof V2_TAIL_HEAD && p[0] == SHARD_MSGVAL_V2) {
        if (memcmp(p + 9, V2_TAIL_HEAD, sizeof V2_TAIL_HEAD - 1) != 0 || end[-1] != '}')
            return -1;
        uint64_t ts = 0;
        for (int i = 0; i < 8; i++)
            ts = ts << 8 | p[1 + i];
        m->ts = ts > INT64_MAX ? INT64_MAX : (int64_t)ts;
        m->text = (const char *)p + 9;
        m->text_len = len - 9;
        return 2;
    }
    if (len < 1 + 8 + 1 || p[0] != SHARD_MSGVAL_V1)
        return -1;
    uint64_t ts = 0;
    for (int i = 0; i < 8; i++)
        ts = ts << 8 | p[1 + i];
    p += 9;
    size_t n = *p++;
    if ((size_t)(end - p) < n + 1)
        return -1;
    const char *from = (const char *)p;
    size_t from_len = n;
    p += n;
    n = *p++;
    if ((size_t)(end - p) < n + 2)
        return -1;
    const char *device = (const char *)p;
    size_t device_len = n;
    p += n;
    n = (size_t)p[0] << 8 | p[1];
    p += 2;
    if ((size_t)(end - p) < n)
        return -1;
    m->from = from;
    m->from_len = from_len;
    m->device = device;
    m->device_len = device_len;
    m->cmid = (const char *)p;
    m->cmid_len = n;
    p += n;
    m->text = (const char *)p;
    m->text_len = (size_t)(end - p);
    m->ts = ts > INT64_MAX ? INT64_MAX : (int64_t)ts;
    return 1;
}

int shard_msgval_render(pl_buf_t *out, const char *conv, size_t conv_len, uint64_t seq,
                        const void *val, size_t len)
{
    shard_msgval_t m;
    int rc = shard_msgval_decode(val, len, &m);
    if (rc < 0)
        return -1;
    if (rc == 0) { /* the JSON of the older versions, as stored */
        size_t off = out->len;
        bool failed = out->failed;
        if (pl_buf_put(out, val, len) != 0) {
            out->failed = failed;
            out->len = off;
            return -1;
        }
        return 0;
    }
    if (rc == 2) { /* the head, conv and seq, then the stored tail as it is */
        size_t off = out->len;
        bool failed = out->failed;
        PL_BUF_LIT(out, EV_HEAD);
        pl_json_str(out, conv, conv_len);
        PL_BUF_LIT(out, ",\"seq\":");
        pl_json_u64(out, seq);
        pl_buf_add(out, m.text, m.text_len);
        if (out->failed) {
            out->failed = failed;
            out->len = off;
            return -1;
        }
        return 0;
    }
    m.conv = conv;
    m.conv_len = conv_len;
    m.seq = seq;
    return shard_msgval_json(out, &m, NULL);
}

int shard_msgval_ts(const void *val, size_t len, int64_t *ts)
{
    shard_msgval_t m;
    int rc = shard_msgval_decode(val, len, &m);
    if (rc == 1 || rc == 2) {
        *ts = m.ts;
        return 0;
    }
    if (rc < 0)
        return -1;
    json_t *j = json_loadb(val, len, 0, NULL);
    json_t *t = json_object_get(j, "ts");
    rc = json_is_integer(t) ? 0 : -1;
    if (rc == 0)
        *ts = json_integer_value(t);
    json_decref(j);
    return rc;
}
