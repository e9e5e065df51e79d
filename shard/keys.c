/* keys — see keys.h. */
#include "keys.h"

#include <string.h>

#include "pl_hash.h"

/* Slot of "<prefix><name>" without building the string elsewhere. The last one asked
 * for is remembered per thread: a send asks for its conversation's slot three times (the
 * slot check, the idempotency key, the message key), and a CRC16 of the name costs more
 * than comparing it. */
static int s_slot(const char *prefix, const char *name)
{
    static _Thread_local char last[2 + 80]; /* "<prefix><name>", NUL-terminated */
    static _Thread_local int last_slot = -1;
    char buf[SHARD_KEY_MAX];
    size_t n = strlen(name);
    if (last_slot >= 0 && n + 2 < sizeof last && memcmp(last, prefix, 2) == 0 &&
        memcmp(last + 2, name, n + 1) == 0)
        return last_slot;
    if (n > sizeof buf - 2)
        n = sizeof buf - 2; /* too long for any key: the builder refuses it anyway */
    memcpy(buf, prefix, 2);
    memcpy(buf + 2, name, n);
    int slot = pl_slot(buf, n + 2);
    if (n + 2 < sizeof last) {
        memcpy(last, buf, n + 2);
        last[n + 2] = '\0';
        last_slot = slot;
    }
    return slot;
}

size_t shard_hash_name(const void *name)
{
    const unsigned char *p = name;
    size_t n = strlen(name);
    uint64_t h = 0x9e3779b97f4a7c15ull ^ n, w;
    for (; n >= 8; p += 8, n -= 8) {
        memcpy(&w, p, 8);
        h = (h ^ w) * 0x9e3779b97f4a7c15ull;
        h ^= h >> 32;
    }
    for (w = 0; n; n--)
        w = w << 8 | p[n - 1];
    h = (h ^ w) * 0xbf58476d1ce4e5b9ull;
    return (size_t)(h ^ (h >> 31));
}

int shard_slot_user(const char *user)
{
    return s_slot("u:", user);
}

int shard_slot_conv(const char *conv)
{
    return s_slot("c:", conv);
}

int shard_key_slot_of(const void *key, size_t len)
{
    const unsigned char *p = key;
    if (len < 2)
        return -1;
    int slot = (p[0] << 8) | p[1];
    return slot < PL_SLOTS ? slot : -1;
}

int shard_key_slot(shard_key_t *key, int slot)
{
    if (slot < 0 || slot >= PL_SLOTS)
        return -1;
    key->buf[0] = (char)((slot >> 8) & 0xff);
    key->buf[1] = (char)(slot & 0xff);
    key->len = 2;
    return 0;
}

/* Append one part (a NUL-terminated string, no NUL inside by construction) to the key,
 * preceded by a NUL separator when sep is set. */
static int s_part(shard_key_t *key, const char *part, int sep)
{
    size_t n = strlen(part);
    if (key->len + (sep ? 1 : 0) + n > SHARD_KEY_MAX)
        return -1;
    if (sep)
        key->buf[key->len++] = '\0';
    memcpy(key->buf + key->len, part, n);
    key->len += n;
    return 0;
}

/* be16(slot), tag, then up to three parts separated by NUL; a NULL part ends the list.
 * The slot is that of a (the user or the conversation, per conv). */
static int s_build(shard_key_t *key, int conv, char tag, const char *a, const char *b,
                   const char *c)
{
    if (shard_key_slot(key, conv ? shard_slot_conv(a) : shard_slot_user(a)) != 0)
        return -1;
    key->buf[key->len++] = tag;
    if (s_part(key, a, 0) != 0)
        return -1;
    if (b && s_part(key, b, 1) != 0)
        return -1;
    if (b && c && s_part(key, c, 1) != 0)
        return -1;
    return 0;
}

/* The key and a trailing NUL separator: the prefix of every key with more parts. */
static int s_sep(shard_key_t *key, int rc)
{
    if (rc != 0 || key->len + 1 > SHARD_KEY_MAX)
        return -1;
    key->buf[key->len++] = '\0';
    return 0;
}

int shard_key_user(shard_key_t *key, const char *user)
{
    return s_build(key, 0, 'u', user, NULL, NULL);
}

int shard_key_token(shard_key_t *key, const char *user, const char *device)
{
    return s_build(key, 0, 't', user, device, NULL);
}

int shard_key_token_prefix(shard_key_t *key, const char *user)
{
    return s_sep(key, s_build(key, 0, 't', user, NULL, NULL));
}

int shard_key_index(shard_key_t *key, const char *user, const char *conv)
{
    return s_build(key, 0, 'x', user, conv, NULL);
}

int shard_key_index_prefix(shard_key_t *key, const char *user)
{
    return s_sep(key, s_build(key, 0, 'x', user, NULL, NULL));
}

int shard_key_created(shard_key_t *key, const char *user)
{
    return s_build(key, 0, 'C', user, NULL, NULL);
}

int shard_key_last_seen(shard_key_t *key, const char *user)
{
    return s_build(key, 0, 'p', user, NULL, NULL);
}

int shard_key_push(shard_key_t *key, const char *user, const char *hash)
{
    if (s_sep(key, s_build(key, 0, 'P', user, NULL, NULL)) != 0)
        return -1;
    return hash ? s_part(key, hash, 0) : 0;
}

int shard_key_msg_prefix(shard_key_t *key, const char *conv)
{
    return s_sep(key, s_build(key, 1, 'm', conv, NULL, NULL));
}

int shard_key_msg(shard_key_t *key, const char *conv, uint64_t seq)
{
    if (shard_key_msg_prefix(key, conv) != 0 || key->len + 8 > SHARD_KEY_MAX)
        return -1;
    shard_be64_put(key->buf + key->len, seq);
    key->len += 8;
    return 0;
}

int shard_key_idem(shard_key_t *key, const char *conv, const char *sender,
                   const char *client_msg_id)
{
    return s_build(key, 1, 'i', conv, sender, client_msg_id);
}

bool shard_key_is_idem(const void *buf, size_t len)
{
    const unsigned char *p = buf;
    return len >= 3 && p[0] < 0x40 && p[2] == 'i'; /* a slot key (< 0x4000) with tag i */
}

int shard_key_outbox(shard_key_t *key, const char *conv, const char *user)
{
    return s_build(key, 1, 'o', conv, user, NULL);
}

int shard_key_tag_prefix(shard_key_t *key, int slot, char tag)
{
    if (shard_key_slot(key, slot) != 0)
        return -1;
    key->buf[key->len++] = tag;
    return 0;
}

int shard_key_outbox_prefix(shard_key_t *key, int slot)
{
    return shard_key_tag_prefix(key, slot, 'o');
}

int shard_key_push_outbox(shard_key_t *key, const char *conv, const char *user)
{
    return s_build(key, 1, 'Q', conv, user, NULL);
}

int shard_key_push_outbox_prefix(shard_key_t *key, int slot)
{
    return shard_key_tag_prefix(key, slot, 'Q');
}

int shard_key_push_pending(shard_key_t *key, const char *user, const char *target, const char *conv)
{
    return s_build(key, 0, 'q', user, target, conv);
}

int shard_key_push_pending_prefix(shard_key_t *key, int slot)
{
    return shard_key_tag_prefix(key, slot, 'q');
}

int shard_key_push_taken(shard_key_t *key, const char *user, const char *conv)
{
    return s_build(key, 0, 'k', user, conv, NULL);
}

int shard_key_read(shard_key_t *key, const char *conv, const char *user)
{
    return s_build(key, 1, 'r', conv, user, NULL);
}

int shard_key_group(shard_key_t *key, const char *conv)
{
    return s_build(key, 1, 'g', conv, NULL, NULL);
}

int shard_key_member(shard_key_t *key, const char *conv, const char *user)
{
    return s_build(key, 1, 'n', conv, user, NULL);
}

int shard_key_member_prefix(shard_key_t *key, const char *conv)
{
    return s_sep(key, s_build(key, 1, 'n', conv, NULL, NULL));
}

int shard_key_meta(shard_key_t *key, const char *name)
{
    key->len = 0;
    key->buf[key->len++] = (char)0xff;
    return s_part(key, name, 0);
}

void shard_be64_put(void *out, uint64_t value)
{
    unsigned char *p = out;
    for (int i = 7; i >= 0; i--) {
        p[i] = (unsigned char)(value & 0xff);
        value >>= 8;
    }
}

uint64_t shard_be64_get(const void *in)
{
    const unsigned char *p = in;
    uint64_t v = 0;
    for (int i = 0; i < 8; i++)
        v = (v << 8) | p[i];
    return v;
}
