'use strict';
// Restarts: the whole cluster (SIGTERM, clean exit, same data) keeps all history,
// accounts, counters and idempotency keys; a router restart is survived live.
const assert = require('node:assert/strict');
const { setup, uid } = require('./lib/harness');
const { createUser, login, Client, httpRequest } = require('./lib/client');
const { waitFor } = require('./lib/cluster');

const h = setup();
const tok = {};
const AB = 'dm:alice:bob';
const AC = 'dm:alice:carol';
const snap = {};

h.before(async () => {
  const u = h.cluster.httpUrl(0);
  for (const n of ['alice', 'bob', 'carol']) await createUser(u, n);
  tok.alice = await login(u, 'alice', 'phone');
  tok.bob = await login(u, 'bob', 'phone');
});

h.test('a full cluster restart keeps every message, account, counter and idempotency key', async (t, c) => {
  const alice = await Client.open(c.wsUrl(0), tok.alice, { label: 'alice' });
  const oks = [];
  for (let i = 0; i < 30; i++) oks.push(alice.request('send', { conv: AB, client_msg_id: `ab${i}`, text: `before restart ${i} 😀` }));
  for (let i = 0; i < 5; i++) oks.push(alice.request('send', { conv: AC, client_msg_id: `ac${i}`, text: `carol ${i}` }));
  for (const a of await Promise.all(oks)) assert.equal(a.type, 'ok', JSON.stringify(a));
  snap.ab = (await alice.ok('sync', { conv: AB, limit: 500 })).msgs;
  snap.ac = (await alice.ok('sync', { conv: AC, limit: 500 })).msgs;
  assert.equal(snap.ab.length, 30);
  assert.equal(snap.ac.length, 5);
  // alice stays connected, with requests in flight: SIGTERM must still exit cleanly.
  for (let i = 0; i < 20; i++) alice.sendJson({ type: 'sync', id: `inflight${i}`, conv: AB });

  await c.stopAll(); // asserts every process exits 0 on SIGTERM
  await c.startAll(); // same ports and data folders; waits for health 200

  // Accounts survived: a fresh login works (and a wrong password still fails).
  const tokB = await login(c.httpUrl(1), 'bob', 'laptop');
  const r = await httpRequest(c.httpUrl(0), 'POST', '/v1/sessions', { user: 'carol', password: 'wrong-password', device: 'x' });
  assert.equal(r.status, 401);
  const tokC = await login(c.httpUrl(0), 'carol', 'phone');
  const bob = await Client.open(c.wsUrl(1), tokB, { label: 'bob' });
  const carol = await Client.open(c.wsUrl(0), tokC, { label: 'carol' });

  const ab = await bob.ok('sync', { conv: AB, limit: 500 });
  assert.deepEqual(ab.msgs, snap.ab, 'dm:alice:bob identical after restart');
  assert.equal(ab.more, false);
  const ac = await carol.ok('sync', { conv: AC, limit: 500 });
  assert.deepEqual(ac.msgs, snap.ac, 'dm:alice:carol identical after restart');
  const hi = await bob.ok('history', { conv: AB, limit: 10 });
  assert.deepEqual(hi.msgs, snap.ab.slice(-10));
  assert.equal(hi.more, true);

  const cv = await bob.ok('convs');
  const e = cv.convs.find((x) => x.conv === AB);
  assert.ok(e, 'dm:alice:bob in bob\'s convs after restart');
  assert.equal(e.last_seq, 30);

  // The counter continues, and idempotency keys survived.
  const n = await bob.ok('send', { conv: AB, client_msg_id: uid(), text: 'after restart' });
  assert.equal(n.seq, 31, 'the first new message after the restart is 31');
  const aliceTok2 = await login(c.httpUrl(0), 'alice', 'tablet');
  const alice2 = await Client.open(c.wsUrl(0), aliceTok2, { label: 'alice/tablet' });
  const again = await alice2.ok('send', { conv: AB, client_msg_id: 'ab7', text: 'before restart 7 😀' });
  assert.equal(again.seq, snap.ab.find((m) => m.client_msg_id === 'ab7').seq, 'resend after restart returns the first seq');
  const end = await bob.ok('sync', { conv: AB, after: 30 });
  assert.deepEqual(end.msgs.map((m) => m.seq), [31], 'the resend stored nothing');
});

h.test('tokens issued before a full restart still authenticate', async (t, c) => {
  // alice/phone's token was issued before the restart in the previous test.
  const ws = await Client.connect(c.wsUrl(1));
  const a = await ws.auth(tok.alice);
  assert.equal(a.type, 'ok', `old token after restart: ${JSON.stringify(a)}`);
  assert.equal(a.user, 'alice');
  assert.equal(a.device, 'phone');
});

h.test('a router restart is survived: health goes 503 then 200, open sockets keep working', async (t, c) => {
  const alice = await Client.open(c.wsUrl(0), tok.alice, { label: 'alice' });
  const bob = await Client.open(c.wsUrl(1), tok.bob, { label: 'bob' });
  await c.kill('router', 0, 'SIGKILL');
  await c.waitHealth(503, 10000);
  const t0 = Date.now();
  const u = await alice.request('send', { conv: AB, client_msg_id: 'during-router-down', text: 'x' });
  assert.equal(u.type, 'error', `send while the router is down: ${JSON.stringify(u)}`);
  assert.equal(u.code, 'unavailable');
  assert.ok(Date.now() - t0 <= 6000, `unavailable after ${Date.now() - t0} ms (max 5 s + slack)`);

  await c.restart('router', 0); // waits for health 200 on both gateways
  const ok = await waitFor('a send through the new router', async () => {
    const a = await alice.request('send', { conv: AB, client_msg_id: 'during-router-down', text: 'x' });
    return a.type === 'ok' ? a : null;
  }, { timeoutMs: 10000, intervalMs: 200 });
  const ev = await bob.nextEvent((f) => f.type === 'msg' && f.client_msg_id === 'during-router-down', 5000,
    'msg pushed to bob through the new router');
  assert.equal(ev.seq, ok.seq);
  const s = await bob.ok('sync', { conv: AB, after: ok.seq - 1 });
  assert.deepEqual(s.msgs.map((m) => m.client_msg_id), ['during-router-down'], 'stored once');
});

h.test('a gateway restart: devices reconnect and get events again', async (t, c) => {
  const alice = await Client.open(c.wsUrl(1), tok.alice, { label: 'alice on gw1' });
  let bob = await Client.open(c.wsUrl(0), tok.bob, { label: 'bob on gw0' });
  await c.kill('gateway', 0, 'SIGKILL');
  const cl = await bob.waitClosed(5000);
  assert.notEqual(cl.code, 1000, 'the socket died with the gateway');
  // While bob is away a message is stored; after the restart he syncs it and gets new ones live.
  const missed = await alice.ok('send', { conv: AB, client_msg_id: uid(), text: 'while gw0 was down' });
  await c.restart('gateway', 0);
  bob = await Client.open(c.wsUrl(0), tok.bob, { label: 'bob on gw0 (restarted)' });
  const s = await bob.ok('sync', { conv: AB, after: missed.seq - 1 });
  assert.deepEqual(s.msgs.map((m) => m.seq), [missed.seq]);
  const cmid = uid();
  const ok = await alice.ok('send', { conv: AB, client_msg_id: cmid, text: 'after gw0 restart' });
  const ev = await bob.nextEvent((f) => f.type === 'msg' && f.client_msg_id === cmid, 5000, 'msg through the restarted gateway');
  assert.equal(ev.seq, ok.seq);
});
