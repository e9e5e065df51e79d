/* pl_hash — routing keys to slots, slots to shards.
 *
 * Every routed request carries a key: "u:<user>" for accounts and per-user data,
 * "c:<conv>" for a conversation. pl_slot() maps a key to one of PL_SLOTS slots with
 * CRC16-CCITT (XMODEM, as Redis Cluster) mod PL_SLOTS. A versioned slot table maps each
 * slot to a shard id; adding a shard later means moving whole slots (a new table with a
 * higher version), never rehashing keys. */
#ifndef PL_HASH_H
#define PL_HASH_H
#include <stddef.h>
#include <stdint.h>

#define PL_SLOTS 16384

uint16_t pl_crc16(const void *buf, size_t len);
/* Slot of a key, 0..PL_SLOTS-1. */
int pl_slot(const char *key, size_t len);

typedef struct _pl_slots_t pl_slots_t;

/* Table with nshards shards (ids 0..nshards-1), each owning one contiguous, near-equal
 * range of slots. Returns NULL if nshards is not in 1..PL_SLOTS. Caller owns. */
pl_slots_t *pl_slots_new_even(int nshards, uint32_t version);
/* Parse the wire form (see pl_slots_encode); NULL on any malformed input. Caller owns. */
pl_slots_t *pl_slots_decode(const char *text);
void pl_slots_destroy(pl_slots_t **self_p);
uint32_t pl_slots_version(const pl_slots_t *self);
int pl_slots_nshards(const pl_slots_t *self); /* highest shard id + 1 */
/* Shard id owning the slot / key. */
int pl_slots_owner(const pl_slots_t *self, int slot);
int pl_slots_owner_of_key(const pl_slots_t *self, const char *key);
/* Wire form: "<version> <start>-<end>=<shard> ..." with inclusive ranges covering
 * 0..PL_SLOTS-1 in order. Returns a malloc'd string the caller frees. */
char *pl_slots_encode(const pl_slots_t *self);

#endif
