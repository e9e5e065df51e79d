/* fuzz_records — the decoders of what a shard reads back from RocksDB, fed a corrupt or
 * hostile stored value (docs/internals.md "RocksDB key layout"), and pl_slots_decode.
 *
 * An input is a kind byte and the value. Each input starts from an empty store and
 * freshly built modules (no cache holds an older record): the value is written under the
 * kind's key, then the requests that read that record run through shard_handle, as from
 * a gateway. A stored value may be anything; the shard must answer (an error is fine)
 * without a crash, a leak or undefined behaviour, and every ok answer must be a JSON
 * object, except sync/history, which splice stored messages of the JSON format verbatim
 * by design (a message record is only ever written by the shard itself; a binary one,
 * msgval.h, is rendered or, corrupt, left out). */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "keys.h"
#include "outbox.h"
#include "pl_hash.h"
#include "shard_env.h"

/* Keys in the slot layout (<S> = be16 slot of the user's or the conversation's routing
 * key, built by keys.c). */
enum {
    K_ACCOUNT,  /* <S>u<user>: {"hash","created"} */
    K_TOKEN,    /* <S>t<user>\0<device>: hex th */
    K_MESSAGE,  /* <S>m<conv>\0be64: the stored message, JSON or binary (msgval.h) */
    K_LASTKEY,  /* <S>m<conv>\0<the value>: a last message key with any seq part (the
                   conversation's counter is derived from it; was the counter record) */
    K_IDEM,     /* <S>i<conv>\0<sender>\0<cmid>: be64 seq */
    K_GROUP,    /* <S>g<conv>: group meta */
    K_INDEX,    /* <S>x<user>\0<conv>: conv index entry */
    K_OUTBOX,   /* <S>o<conv>\0<user>: pending idx_add */
    K_READ,     /* <S>r<conv>\0<user>: be64 read seq */
    K_PRESENCE, /* <S>p<user>: be64 last_seen */
    K_PUSH,     /* <S>P<user>\0<hex>: push target */
    K_CREATED,  /* <S>C<user>: groups created (quota) */
    K_SLOTS,    /* pl_slots_decode */
    K_COUNT
};

static const char DM[] = "dm:alice:bob", GROUP[] = "g:fuzz";
#define PUSH_ID "00112233445566778899aabbccddeeff00112233445566778899aabbccddeeff"

static void s_put(const shard_key_t *k, const uint8_t *v, size_t len)
{
    if (shard_store_put(shard_store(fuzz_shard()), k, v, len, false) != 0)
        abort();
}

static void s_put_u64(const shard_key_t *k, uint64_t v)
{
    unsigned char b[8];
    shard_be64_put(b, v);
    s_put(k, b, sizeof b);
}

static void s_slots(const uint8_t *v, size_t len)
{
    char *text = strndup((const char *)v, len);
    if (!text)
        return;
    pl_slots_t *t = pl_slots_decode(text);
    if (t) {
        /* a table that decodes encodes to a text that decodes to the same table */
        char *enc = pl_slots_encode(t);
        pl_slots_t *t2 = enc ? pl_slots_decode(enc) : NULL;
        char *enc2 = t2 ? pl_slots_encode(t2) : NULL;
        if (!enc2 || strcmp(enc, enc2) != 0) {
            fprintf(stderr, "slot table round trip differs: %s\n", text);
            abort();
        }
        for (int slot = 0; slot < PL_SLOTS; slot += 997)
            if (pl_slots_owner(t, slot) < 0 || pl_slots_owner(t, slot) >= pl_slots_nshards(t))
                abort();
        free(enc);
        free(enc2);
        pl_slots_destroy(&t2);
        pl_slots_destroy(&t);
    }
    free(text);
}

int LLVMFuzzerInitialize(int *argc, char ***argv)
{
    (void)argc;
    (void)argv;
    fuzz_shard();
    return 0;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    if (size < 1)
        return 0;
    int kind = data[0] % K_COUNT;
    const uint8_t *v = data + 1;
    size_t len = size - 1;
    if (kind == K_SLOTS) {
        s_slots(v, len);
        return 0;
    }
    shard_t *sh = fuzz_shard();
    shard_key_t k;
    /* the modules that cache records are rebuilt after the store changed beneath them;
     * the first reload lets the old ones write what they keep (presence's last_seen)
     * before the wipe */
    static const shard_config_t cfg = {.gw_timeout_ms = 5000};
    if (shard_reload(sh, &cfg) != 0)
        abort();
    fuzz_shard_wipe();
    /* alice is a member of GROUP and of DM, whose last message is seq 1 */
    shard_key_member(&k, GROUP, "alice");
    s_put_u64(&k, 0);
    shard_key_member(&k, GROUP, "bob");
    s_put_u64(&k, 0);
    if (kind != K_GROUP) {
        static const char meta[] = "{\"title\":\"t\",\"creator\":\"alice\",\"created\":1}";
        shard_key_group(&k, GROUP);
        s_put(&k, (const uint8_t *)meta, sizeof meta - 1);
    }
    if (kind != K_MESSAGE) {
        static const char msg[] = "{\"type\":\"msg\",\"conv\":\"dm:alice:bob\",\"seq\":1,"
                                  "\"from\":\"alice\",\"text\":\"hi\",\"ts\":1}";
        shard_key_msg(&k, DM, 1);
        s_put(&k, (const uint8_t *)msg, sizeof msg - 1);
    }
    if (kind != K_IDEM) {
        shard_key_idem(&k, DM, "alice", "c1");
        s_put_u64(&k, 1);
    }
    switch (kind) {
    case K_ACCOUNT:
        shard_key_user(&k, "alice");
        break;
    case K_TOKEN:
        shard_key_token(&k, "alice", "d1");
        break;
    case K_MESSAGE:
        shard_key_msg(&k, DM, 1);
        break;
    case K_LASTKEY: {
        static const char msg[] = "{\"type\":\"msg\",\"conv\":\"dm:alice:bob\",\"seq\":2,"
                                  "\"from\":\"bob\",\"text\":\"x\",\"ts\":2}";
        shard_key_msg_prefix(&k, DM);
        size_t n = len < 16 ? len : 16; /* the seq part: 8 bytes when well formed */
        memcpy(k.buf + k.len, v, n);
        k.len += n;
        v = (const uint8_t *)msg;
        len = sizeof msg - 1;
        break;
    }
    case K_IDEM:
        shard_key_idem(&k, DM, "alice", "c1");
        break;
    case K_GROUP:
        shard_key_group(&k, GROUP);
        break;
    case K_INDEX:
        shard_key_index(&k, "alice", len && v[0] & 1 ? GROUP : DM);
        break;
    case K_OUTBOX:
        shard_key_outbox(&k, DM, "bob");
        break;
    case K_READ:
        shard_key_read(&k, GROUP, "alice");
        break;
    case K_PRESENCE:
        shard_key_last_seen(&k, "bob");
        break;
    case K_PUSH:
        shard_key_push(&k, "alice", PUSH_ID);
        break;
    case K_CREATED:
        shard_key_created(&k, "alice");
        break;
    }
    s_put(&k, v, len);
    if (shard_reload(sh, &cfg) != 0)
        abort();

    fuzz_shard_check_ok = true;
    switch (kind) {
    case K_ACCOUNT:
        fuzz_shard_req("{\"op\":\"user_get\",\"user\":\"alice\"}");
        fuzz_shard_req("{\"op\":\"user_exists\",\"user\":\"alice\"}");
        fuzz_shard_req("{\"op\":\"user_create\",\"user\":\"alice\",\"hash\":\"$argon2id$x\"}");
        break;
    case K_TOKEN:
        fuzz_shard_req(
            "{\"op\":\"token_check\",\"user\":\"alice\",\"device\":\"d1\",\"th\":\"" PUSH_ID "\"}");
        fuzz_shard_req(
            "{\"op\":\"token_revoke\",\"user\":\"alice\",\"device\":\"d1\",\"th\":\"" PUSH_ID
            "\",\"all\":true}");
        break;
    case K_OUTBOX:
        shard_outbox_tick(shard_outbox(sh), INT64_MAX / 4); /* every entry is due: resent */
        /* fall through */
    case K_MESSAGE:
    case K_LASTKEY:
    case K_IDEM:
        fuzz_shard_req(
            "{\"op\":\"send\",\"user\":\"alice\",\"device\":\"d1\",\"conv\":\"dm:alice:bob\","
            "\"client_msg_id\":\"c1\",\"text\":\"again\"}");
        fuzz_shard_req(
            "{\"op\":\"send\",\"user\":\"alice\",\"device\":\"d1\",\"conv\":\"dm:alice:bob\","
            "\"client_msg_id\":\"c2\",\"text\":\"new\"}");
        fuzz_shard_req("{\"op\":\"conv_info\",\"user\":\"alice\",\"convs\":[\"dm:alice:bob\"]}");
        fuzz_shard_check_ok = false; /* stored messages go out verbatim */
        fuzz_shard_req("{\"op\":\"sync\",\"user\":\"alice\",\"conv\":\"dm:alice:bob\",\"after\":0,"
                       "\"limit\":100}");
        fuzz_shard_req(
            "{\"op\":\"history\",\"user\":\"alice\",\"conv\":\"dm:alice:bob\",\"limit\":50}");
        break;
    case K_GROUP:
    case K_READ:
    case K_CREATED:
        fuzz_shard_req("{\"op\":\"conv_info\",\"user\":\"alice\",\"convs\":[\"g:fuzz\"]}");
        fuzz_shard_req("{\"op\":\"read\",\"user\":\"alice\",\"device\":\"d1\",\"conv\":\"g:fuzz\","
                       "\"seq\":0}");
        fuzz_shard_req(
            "{\"op\":\"typing\",\"user\":\"alice\",\"device\":\"d1\",\"conv\":\"g:fuzz\"}");
        fuzz_shard_req("{\"op\":\"send\",\"user\":\"alice\",\"device\":\"d1\",\"conv\":\"g:fuzz\","
                       "\"client_msg_id\":\"c1\",\"text\":\"hi\"}");
        fuzz_shard_req(
            "{\"op\":\"group_add\",\"user\":\"alice\",\"device\":\"d1\",\"conv\":\"g:fuzz\","
            "\"target\":\"carol\"}");
        fuzz_shard_req(
            "{\"op\":\"group_remove\",\"user\":\"alice\",\"device\":\"d1\",\"conv\":\"g:fuzz\","
            "\"target\":\"bob\"}");
        fuzz_shard_req(
            "{\"op\":\"group_create\",\"user\":\"alice\",\"device\":\"d1\",\"conv\":\"g:new\","
            "\"title\":\"n\",\"members\":[\"bob\"]}");
        break;
    case K_INDEX:
    case K_PRESENCE:
        fuzz_shard_req("{\"op\":\"conv_list\",\"user\":\"alice\"}");
        fuzz_shard_req("{\"op\":\"presence_report\",\"online\":[\"alice\"],\"offline\":[\"bob\"]}");
        fuzz_shard_req(
            "{\"op\":\"presence_get\",\"user\":\"alice\",\"users\":[\"alice\",\"bob\"]}");
        fuzz_shard_req("{\"op\":\"presence_report\",\"offline\":[\"alice\"]}");
        break;
    case K_PUSH:
        fuzz_shard_req("{\"op\":\"push_list\",\"user\":\"alice\"}");
        fuzz_shard_req("{\"op\":\"push_unregister\",\"user\":\"alice\",\"push_id\":\"" PUSH_ID
                       "\"}");
        break;
    }
    fuzz_shard_check_ok = true;
    shard_flush(sh);
    return 0;
}
