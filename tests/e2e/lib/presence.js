'use strict';
// Presence helpers shared by the presence e2e files (12-presence, 30-presence-flap).
const assert = require('node:assert/strict');

// The asker's `presence` answer for users (plain ids, mapped to names by name()).
async function query(client, users, name) {
  const a = await client.ok('presence', { users: users.map(name) });
  assert.ok(Array.isArray(a.presence), JSON.stringify(a));
  return a.presence;
}

// Close a client after one last request, returning the time just before that request: the
// user's last_seen can be no older.
async function closeAfterPing(client) {
  const t = Date.now();
  await client.ok('ping');
  client.close();
  return t;
}

module.exports = { query, closeAfterPing };
