'use strict';
// Which shard owns a key — the same mapping as proto/pl_hash.h: CRC16-CCITT (XMODEM,
// as Redis Cluster, no hash tags) of the key mod 16,384 slots, slots split into
// contiguous near-equal ranges over the shards (2 shards: 0..8191 -> 0, 8192..16383 -> 1).

const SLOTS = 16384;

function crc16(buf) {
  if (typeof buf === 'string') buf = Buffer.from(buf, 'utf8');
  let crc = 0;
  for (const byte of buf) {
    crc ^= byte << 8;
    for (let i = 0; i < 8; i++) {
      crc = crc & 0x8000 ? ((crc << 1) ^ 0x1021) & 0xffff : (crc << 1) & 0xffff;
    }
  }
  return crc;
}

function slotOf(key) {
  return crc16(key) % SLOTS;
}

// Shard id owning a slot when nshards shards split the slots evenly.
function shardOfSlot(slot, nshards = 2) {
  for (let s = nshards - 1; s >= 0; s--) {
    if (slot >= Math.floor((s * SLOTS) / nshards)) return s;
  }
  return 0;
}

function shardOfKey(key, nshards = 2) {
  return shardOfSlot(slotOf(key), nshards);
}

// Shard owning a conversation ("c:<conv>") / a user's account ("u:<user>").
const shardOfConv = (conv, nshards = 2) => shardOfKey(`c:${conv}`, nshards);
const shardOfUser = (user, nshards = 2) => shardOfKey(`u:${user}`, nshards);

// "dm:<a>:<b>" with the two names in byte order.
function dmId(u1, u2) {
  return Buffer.compare(Buffer.from(u1), Buffer.from(u2)) < 0 ? `dm:${u1}:${u2}` : `dm:${u2}:${u1}`;
}

// Find a numeric suffix n such that pred(names with suffix n) holds; names is an array
// of prefixes. Deterministic: the same constraints give the same names.
function pickNames(prefixes, pred, limit = 100000) {
  for (let n = 0; n < limit; n++) {
    const names = prefixes.map((p) => `${p}${n}`);
    if (pred(...names)) return names;
  }
  throw new Error(`pickNames: no names found for ${prefixes.join(',')}`);
}

module.exports = { SLOTS, crc16, slotOf, shardOfSlot, shardOfKey, shardOfConv, shardOfUser, dmId, pickNames };

if (require.main === module) {
  // Self-check: the XMODEM check value and the Redis Cluster reference value.
  const assert = require('node:assert');
  assert.strictEqual(crc16('123456789'), 0x31c3);
  assert.strictEqual(slotOf('foo'), 12182); // redis-cli CLUSTER KEYSLOT foo
  assert.strictEqual(shardOfSlot(8191), 0);
  assert.strictEqual(shardOfSlot(8192), 1);
  assert.strictEqual(dmId('bob', 'alice'), 'dm:alice:bob');
  console.log('slots.js ok');
}
