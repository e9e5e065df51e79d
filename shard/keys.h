/* keys — the shard's RocksDB key layout (docs/internals.md "RocksDB key layout").
 *
 * Every key starts with the big-endian 16-bit slot (pl_hash.h) of the routing key its
 * data belongs to — "u:<user>" for per-user data, "c:<conv>" for conversation data — so
 * one slot's data is one contiguous key range [be16(slot), be16(slot + 1)) that can be
 * scanned, copied or deleted alone (moving a slot). Then a one-byte tag, then parts
 * separated by a NUL byte; sequence numbers are big-endian u64 so the keys of one
 * conversation sort by seq. Slots are < 0x4000, so a key's first byte is < 0x40: the
 * old layout's keys (a letter first) and the meta keys (0xff first) never collide.
 * Keys live in a fixed buffer on the caller's stack: no allocation. Pure functions, any
 * thread (the slot of the last name asked for is remembered per thread). */
#ifndef SHARD_KEYS_H
#define SHARD_KEYS_H
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

/* Enough for the longest key: slot + tag + conv (<= 70) + sender (<= 32) + client_msg_id
 * (64 code points, <= 256 bytes) + separators. Builders refuse anything longer. */
#define SHARD_KEY_MAX 514

typedef struct {
    size_t len;
    char buf[SHARD_KEY_MAX];
} shard_key_t;

/* A zhashx key hasher (zhashx_set_key_hasher) for the shard's in-memory tables keyed by
 * a NUL-terminated name (user, conversation, gateway id): eight bytes per step, where
 * czmq's default (Bernstein) takes one; ~100 instructions less per lookup of a
 * conversation id. */
size_t shard_hash_name(const void *name);

/* Slot of the data of a user ("u:<user>") / a conversation ("c:<conv>"). */
int shard_slot_user(const char *user);
int shard_slot_conv(const char *conv);
/* Slot a stored key belongs to (its first two bytes), or -1 for a key shorter than 2
 * bytes or not in the slot layout (meta keys). */
int shard_key_slot_of(const void *key, size_t len);

/* Each builder fills *key and returns 0, or returns -1 when the parts do not fit or
 * contain a NUL byte (the key is then unusable). <S> below is be16(slot); user keys take
 * the user's slot, conversation keys the conversation's. */
int shard_key_slot(shard_key_t *key, int slot);                              /* <S>: the range */
int shard_key_user(shard_key_t *key, const char *user);                      /* <S>u<user> */
int shard_key_token(shard_key_t *key, const char *user, const char *device); /* <S>t<u>\0<dev> */
int shard_key_token_prefix(shard_key_t *key, const char *user);              /* <S>t<user>\0 */
int shard_key_index(shard_key_t *key, const char *user, const char *conv);   /* <S>x<u>\0<conv> */
int shard_key_index_prefix(shard_key_t *key, const char *user);              /* <S>x<user>\0 */
int shard_key_msg(shard_key_t *key, const char *conv, uint64_t seq);         /* <S>m<c>\0be64 */
int shard_key_msg_prefix(shard_key_t *key, const char *conv);                /* <S>m<conv>\0 */
int shard_key_idem(shard_key_t *key, const char *conv, const char *sender,
                   const char *client_msg_id);                              /* <S>i<c>\0<s>\0<id> */
int shard_key_outbox(shard_key_t *key, const char *conv, const char *user); /* <S>o<c>\0<user> */
int shard_key_outbox_prefix(shard_key_t *key, int slot);                    /* <S>o */
/* <S>Q<conv>\0<user> (the conversation's slot): a push notification not yet taken over by
 * the member's shard */
int shard_key_push_outbox(shard_key_t *key, const char *conv, const char *user);
int shard_key_push_outbox_prefix(shard_key_t *key, int slot); /* <S>Q */
/* <S>q<user>\0<target hash>\0<conv> (the user's slot): the newest notification of conv
 * due to one target */
int shard_key_push_pending(shard_key_t *key, const char *user, const char *target,
                           const char *conv);
int shard_key_push_pending_prefix(shard_key_t *key, int slot); /* <S>q */
/* <S>k<user>\0<conv> (the user's slot): be64, the newest seq of conv whose notification
 * this user's shard took over (acked); a FWD push resent after a crash lost the ack is
 * recognised by it even when the in-memory collapse entry is gone */
int shard_key_push_taken(shard_key_t *key, const char *user, const char *conv);
/* <S><tag>: the keys of one kind in one slot (startup scans go slot by slot). */
int shard_key_tag_prefix(shard_key_t *key, int slot, char tag);
int shard_key_read(shard_key_t *key, const char *conv, const char *user);   /* <S>r<c>\0<user> */
int shard_key_group(shard_key_t *key, const char *conv);                    /* <S>g<conv> */
int shard_key_member(shard_key_t *key, const char *conv, const char *user); /* <S>n<c>\0<user> */
int shard_key_member_prefix(shard_key_t *key, const char *conv);            /* <S>n<conv>\0 */
int shard_key_created(shard_key_t *key, const char *user);                  /* <S>C<user> */
int shard_key_last_seen(shard_key_t *key, const char *user);                /* <S>p<user> */
/* <S>P<user>\0<hash>; with hash NULL the prefix <S>P<user>\0. */
int shard_key_push(shard_key_t *key, const char *user, const char *hash);
/* A meta key (not in any slot): 0xff <name>. */
int shard_key_meta(shard_key_t *key, const char *name);

/* Whether the stored key buf/len is an idempotency key (<S>i...): the store keeps those
 * in a column family of their own (store.h). Meta keys and keys of layout 1 are not. */
bool shard_key_is_idem(const void *buf, size_t len);

/* Big-endian codecs. */
void shard_be64_put(void *out, uint64_t value);
uint64_t shard_be64_get(const void *in);

#endif
