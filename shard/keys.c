/* keys — see keys.h. */
#include "keys.h"

#include <string.h>

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

/* tag, then up to three parts separated by NUL; a NULL part ends the list. */
static int s_build(shard_key_t *key, char tag, const char *a, const char *b, const char *c)
{
    key->len = 0;
    key->buf[key->len++] = tag;
    if (a && s_part(key, a, 0) != 0)
        return -1;
    if (a && b && s_part(key, b, 1) != 0)
        return -1;
    if (a && b && c && s_part(key, c, 1) != 0)
        return -1;
    return 0;
}

int shard_key_user(shard_key_t *key, const char *user)
{
    return s_build(key, 'u', user, NULL, NULL);
}

int shard_key_token(shard_key_t *key, const char *user, const char *device)
{
    return s_build(key, 't', user, device, NULL);
}

int shard_key_token_prefix(shard_key_t *key, const char *user)
{
    if (s_build(key, 't', user, NULL, NULL) != 0 || key->len + 1 > SHARD_KEY_MAX)
        return -1;
    key->buf[key->len++] = '\0';
    return 0;
}

int shard_key_index(shard_key_t *key, const char *user, const char *conv)
{
    return s_build(key, 'x', user, conv, NULL);
}

int shard_key_index_prefix(shard_key_t *key, const char *user)
{
    if (s_build(key, 'x', user, NULL, NULL) != 0 || key->len + 1 > SHARD_KEY_MAX)
        return -1;
    key->buf[key->len++] = '\0';
    return 0;
}

int shard_key_created(shard_key_t *key, const char *user)
{
    return s_build(key, 'C', user, NULL, NULL);
}

int shard_key_counter(shard_key_t *key, const char *conv)
{
    return s_build(key, 's', conv, NULL, NULL);
}

int shard_key_msg_prefix(shard_key_t *key, const char *conv)
{
    if (s_build(key, 'm', conv, NULL, NULL) != 0 || key->len + 1 > SHARD_KEY_MAX)
        return -1;
    key->buf[key->len++] = '\0';
    return 0;
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
    return s_build(key, 'i', conv, sender, client_msg_id);
}

int shard_key_outbox(shard_key_t *key, const char *conv, const char *user)
{
    return s_build(key, 'o', conv, user, NULL);
}

int shard_key_outbox_prefix(shard_key_t *key)
{
    return s_build(key, 'o', NULL, NULL, NULL);
}

int shard_key_push_outbox(shard_key_t *key, const char *conv, const char *user)
{
    return s_build(key, 'Q', conv, user, NULL);
}

int shard_key_push_outbox_prefix(shard_key_t *key)
{
    return s_build(key, 'Q', NULL, NULL, NULL);
}

int shard_key_push_pending(shard_key_t *key, const char *user, const char *target, const char *conv)
{
    return s_build(key, 'q', user, target, conv);
}

int shard_key_push_pending_prefix(shard_key_t *key)
{
    return s_build(key, 'q', NULL, NULL, NULL);
}

int shard_key_read(shard_key_t *key, const char *conv, const char *user)
{
    return s_build(key, 'r', conv, user, NULL);
}

int shard_key_group(shard_key_t *key, const char *conv)
{
    return s_build(key, 'g', conv, NULL, NULL);
}

int shard_key_member(shard_key_t *key, const char *conv, const char *user)
{
    return s_build(key, 'n', conv, user, NULL);
}

int shard_key_member_prefix(shard_key_t *key, const char *conv)
{
    if (s_build(key, 'n', conv, NULL, NULL) != 0 || key->len + 1 > SHARD_KEY_MAX)
        return -1;
    key->buf[key->len++] = '\0';
    return 0;
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
