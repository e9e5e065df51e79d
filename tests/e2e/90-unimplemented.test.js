'use strict';
// Requests of the protocol that are not implemented yet answer bad_request for now.
// TEMPORARY: delete this file (or the cases) as push lands; its real tests replace it
// (presence: 12-presence.test.js).
const assert = require('node:assert/strict');
const { setup } = require('./lib/harness');
const { createUser, login, Client } = require('./lib/client');

const h = setup({ gateways: 1 });
const tok = {};

h.before(async () => {
  const u = h.cluster.httpUrl(0);
  await createUser(u, 'alice');
  await createUser(u, 'bob');
  tok.alice = await login(u, 'alice', 'phone');
});

h.test('not yet implemented requests answer bad_request and the socket stays open', async (t, c) => {
  const ws = await Client.open(c.wsUrl(0), tok.alice, { label: 'alice' });
  await ws.ok('send', { conv: 'dm:alice:bob', client_msg_id: 'x', text: 'hi' });
  const cases = [
    ['push_register', { kind: 'webhook', url: 'http://127.0.0.1:1/hook' }],
  ];
  for (const [type, f] of cases) {
    const a = await ws.request(type, f);
    assert.equal(a.type, 'error', `${type}: ${JSON.stringify(a)}`);
    assert.equal(a.code, 'bad_request', `${type}: ${JSON.stringify(a)}`);
  }
  assert.equal((await ws.ok('ping')).type, 'ok');
  const s = await ws.ok('sync', { conv: 'dm:alice:bob' });
  assert.equal(s.msgs.length, 1);
});
