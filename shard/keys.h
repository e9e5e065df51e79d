/* keys — the shard's RocksDB key layout (docs/internals.md "RocksDB key layout").
 *
 * Every key is a one-byte tag followed by parts separated by a NUL byte; sequence numbers
 * are big-endian u64 so the keys of one conversation sort by seq. Keys live in a fixed
 * buffer on the caller's stack: no allocation. Pure functions, any thread. */
#ifndef SHARD_KEYS_H
#define SHARD_KEYS_H
#include <stddef.h>
#include <stdint.h>

/* Enough for the longest key: tag + conv (<= 70) + sender (<= 32) + client_msg_id
 * (64 code points, <= 256 bytes) + separators. Builders refuse anything longer. */
#define SHARD_KEY_MAX 512

typedef struct {
    size_t len;
    char buf[SHARD_KEY_MAX];
} shard_key_t;

/* Each builder fills *key and returns 0, or returns -1 when the parts do not fit or
 * contain a NUL byte (the key is then unusable). */
int shard_key_user(shard_key_t *key, const char *user);                      /* u<user> */
int shard_key_token(shard_key_t *key, const char *user, const char *device); /* t<user>\0<dev> */
int shard_key_token_prefix(shard_key_t *key, const char *user);              /* t<user>\0 */
int shard_key_index(shard_key_t *key, const char *user, const char *conv);   /* x<user>\0<conv> */
int shard_key_index_prefix(shard_key_t *key, const char *user);              /* x<user>\0 */
int shard_key_counter(shard_key_t *key, const char *conv);                   /* s<conv> */
int shard_key_msg(shard_key_t *key, const char *conv, uint64_t seq);         /* m<conv>\0be64 */
int shard_key_msg_prefix(shard_key_t *key, const char *conv);                /* m<conv>\0 */
int shard_key_idem(shard_key_t *key, const char *conv, const char *sender,
                   const char *client_msg_id);                              /* i<c>\0<s>\0<id> */
int shard_key_outbox(shard_key_t *key, const char *conv, const char *user); /* o<conv>\0<user> */
int shard_key_outbox_prefix(shard_key_t *key);                              /* o */
/* Q<conv>\0<user>: a push notification not yet taken over by the member's shard */
int shard_key_push_outbox(shard_key_t *key, const char *conv, const char *user);
int shard_key_push_outbox_prefix(shard_key_t *key); /* Q */
/* q<user>\0<target hash>\0<conv>: the newest notification of conv due to one target */
int shard_key_push_pending(shard_key_t *key, const char *user, const char *target,
                           const char *conv);
int shard_key_push_pending_prefix(shard_key_t *key);                        /* q */
int shard_key_read(shard_key_t *key, const char *conv, const char *user);   /* r<conv>\0<user> */
int shard_key_group(shard_key_t *key, const char *conv);                    /* g<conv> */
int shard_key_member(shard_key_t *key, const char *conv, const char *user); /* n<conv>\0<user> */
int shard_key_member_prefix(shard_key_t *key, const char *conv);            /* n<conv>\0 */
int shard_key_created(shard_key_t *key, const char *user);                  /* C<user> */

/* Big-endian u64 codec. */
void shard_be64_put(void *out, uint64_t value);
uint64_t shard_be64_get(const void *in);

#endif
