'use strict';
// Direct conversations: delivery across gateways, several devices, membership, dm ids.
const assert = require('node:assert/strict');
const { setup, uid } = require('./lib/harness');
const { createUser, login, Client } = require('./lib/client');

const h = setup();
const DM = 'dm:alice:bob';
const tok = {};

h.before(async () => {
  const u = h.cluster.httpUrl(0);
  for (const name of ['alice', 'bob', 'carol']) await createUser(u, name);
  tok.alicePhone = await login(u, 'alice', 'phone');
  tok.aliceLaptop = await login(h.cluster.httpUrl(1), 'alice', 'laptop');
  tok.bob = await login(u, 'bob', 'phone');
  tok.carol = await login(u, 'carol', 'phone');
});

const isMsg = (cmid) => (f) => f.type === 'msg' && f.client_msg_id === cmid;

function assertMsgEvent(ev, want) {
  assert.equal(ev.type, 'msg');
  assert.equal(ev.id, undefined, 'events carry no id');
  for (const k of ['conv', 'seq', 'from', 'device', 'text', 'ts', 'client_msg_id']) {
    assert.ok(k in ev, `msg event has ${k}: ${JSON.stringify(ev)}`);
  }
  for (const [k, v] of Object.entries(want)) assert.deepEqual(ev[k], v, `msg.${k}`);
}

h.test('ping answers ok with the server time in ms', async (t, c) => {
  const ws = await Client.open(c.wsUrl(0), tok.alicePhone);
  const t0 = Date.now();
  const a = await ws.ok('ping', {}, { id: 'p1' });
  assert.equal(a.id, 'p1');
  assert.ok(Number.isInteger(a.ts), `ts is an integer: ${a.ts}`);
  assert.ok(Math.abs(a.ts - t0) < 60000, `ts ${a.ts} is near now ${t0}`);
});

h.test('alice on gateway 0 and bob on gateway 1 exchange messages', async (t, c) => {
  const alice = await Client.open(c.wsUrl(0), tok.alicePhone, { label: 'alice' });
  const bob = await Client.open(c.wsUrl(1), tok.bob, { label: 'bob' });
  const t0 = Date.now();
  const cmid = uid();
  const ok = await alice.ok('send', { conv: DM, client_msg_id: cmid, text: 'hello bob' });
  assert.equal(ok.conv, DM);
  assert.equal(ok.seq, 1, 'the first message of a conversation is seq 1');
  assert.ok(Number.isInteger(ok.ts) && Math.abs(ok.ts - t0) < 60000, `ts ${ok.ts}`);
  const ev = await bob.nextEvent(isMsg(cmid), 5000, 'msg for bob');
  assertMsgEvent(ev, { conv: DM, seq: 1, from: 'alice', device: 'phone', text: 'hello bob', ts: ok.ts, client_msg_id: cmid });

  const cmid2 = uid();
  const ok2 = await bob.ok('send', { conv: DM, client_msg_id: cmid2, text: 'hi alice' });
  assert.equal(ok2.seq, 2);
  const ev2 = await alice.nextEvent(isMsg(cmid2), 5000, 'msg for alice');
  assertMsgEvent(ev2, { conv: DM, seq: 2, from: 'bob', device: 'phone', text: 'hi alice', ts: ok2.ts, client_msg_id: cmid2 });
  await alice.expectNoEvent(isMsg(cmid), 300, 'echo of her own message');
  await bob.expectNoEvent(isMsg(cmid2), 300, 'echo of his own message');

  // sync gives the same messages with the same fields as the events.
  const s = await bob.ok('sync', { conv: DM });
  assert.equal(s.more, false);
  assert.deepEqual(s.msgs.map((m) => m.seq), [1, 2]);
  const fields = ({ type, ...rest }) => rest; // same fields as the event, "type" aside
  assert.deepEqual(fields(s.msgs[0]), fields(ev));
  assert.deepEqual(fields(s.msgs[1]), fields(ev2));
});

h.test('the sender\'s other devices get the msg, the sending device does not', async (t, c) => {
  const phone = await Client.open(c.wsUrl(0), tok.alicePhone, { label: 'alice/phone' });
  const laptop = await Client.open(c.wsUrl(1), tok.aliceLaptop, { label: 'alice/laptop' });
  const bob = await Client.open(c.wsUrl(0), tok.bob, { label: 'bob' });
  const bob2 = await Client.open(c.wsUrl(1), tok.bob, { label: 'bob (second socket, same device)' });

  const cmid = uid();
  const ok = await phone.ok('send', { conv: DM, client_msg_id: cmid, text: 'from my phone' });
  const want = { conv: DM, seq: ok.seq, from: 'alice', device: 'phone', text: 'from my phone', ts: ok.ts, client_msg_id: cmid };
  assertMsgEvent(await laptop.nextEvent(isMsg(cmid), 5000, 'msg on the laptop'), want);
  assertMsgEvent(await bob.nextEvent(isMsg(cmid), 5000, 'msg for bob on gw0'), want);
  assertMsgEvent(await bob2.nextEvent(isMsg(cmid), 5000, 'msg for bob on gw1'), want);
  await phone.expectNoEvent(isMsg(cmid), 500, 'msg on the sending device');

  const cmid2 = uid();
  const ok2 = await laptop.ok('send', { conv: DM, client_msg_id: cmid2, text: 'from my laptop' });
  assert.equal(ok2.seq, ok.seq + 1);
  const want2 = { conv: DM, seq: ok2.seq, from: 'alice', device: 'laptop', text: 'from my laptop', ts: ok2.ts, client_msg_id: cmid2 };
  assertMsgEvent(await phone.nextEvent(isMsg(cmid2), 5000, 'msg on the phone'), want2);
  assertMsgEvent(await bob.nextEvent(isMsg(cmid2), 5000, 'msg for bob'), want2);
  await laptop.expectNoEvent(isMsg(cmid2), 500, 'msg on the sending device');
});

h.test('a user outside a dm gets forbidden on send, sync and history, and sees no events', async (t, c) => {
  const carol = await Client.open(c.wsUrl(0), tok.carol, { label: 'carol' });
  const alice = await Client.open(c.wsUrl(1), tok.alicePhone, { label: 'alice' });
  const countBefore = (await alice.ok('sync', { conv: DM, limit: 500 })).msgs.length;
  for (const [type, f] of [
    ['send', { conv: DM, client_msg_id: uid(), text: 'let me in' }],
    ['sync', { conv: DM }],
    ['sync', { conv: DM, after: 0, limit: 10 }],
    ['history', { conv: DM }],
    ['history', { conv: DM, limit: 10 }],
  ]) {
    const e = await carol.err('forbidden', type, f);
    assert.equal(e.msgs, undefined, 'a forbidden answer carries no messages');
  }
  const cmid = uid();
  await alice.ok('send', { conv: DM, client_msg_id: cmid, text: 'secret' });
  await carol.expectNoEvent((f) => f.type === 'msg', 500, 'msg of a dm she is not in');
  const after = (await alice.ok('sync', { conv: DM, limit: 500 })).msgs;
  assert.equal(after.length, countBefore + 1, 'only alice\'s message was stored');
  assert.ok(!after.some((m) => m.from === 'carol'));
});

h.test('dm ids: malformed, self or wrong order -> bad_request; unknown user -> not_found', async (t, c) => {
  const alice = await Client.open(c.wsUrl(0), tok.alicePhone, { label: 'alice' });
  const last = (await alice.ok('history', { conv: DM, limit: 1 })).msgs[0].seq;
  const badRequest = [
    'dm:alice:alice', // self
    'dm:bob:alice', // wrong order
    'dm:alice', 'dm:alice:', 'dm::alice', 'dm:alice:bob:carol', 'dm:Alice:bob', 'dm:al:bob',
    'DM:alice:bob', 'dm:alice:bob ', ' dm:alice:bob', 'dm:alice:b-b', '', 'alice', 'dm',
  ];
  for (const conv of badRequest) {
    await alice.err('bad_request', 'send', { conv, client_msg_id: uid(), text: 'x' });
    await alice.err('bad_request', 'sync', { conv });
    await alice.err('bad_request', 'history', { conv });
  }
  for (const conv of ['dm:alice:nosuchuser', 'dm:aaa_nobody:alice']) {
    await alice.err('not_found', 'send', { conv, client_msg_id: uid(), text: 'x' });
    await alice.err('not_found', 'sync', { conv });
    await alice.err('not_found', 'history', { conv });
  }
  // Nothing was stored by any of these.
  const h2 = await alice.ok('history', { conv: DM, limit: 1 });
  assert.equal(h2.msgs[0].seq, last);
  // A dm with an existing user that never had a message is empty, not an error.
  const e = await alice.ok('sync', { conv: 'dm:alice:carol' });
  assert.deepEqual(e.msgs, []);
  assert.equal(e.more, false);
});

h.test('a message sent right after a device authenticates is pushed to it (no window)', async (t, c) => {
  const alice = await Client.open(c.wsUrl(0), tok.alicePhone, { label: 'alice' });
  for (let i = 0; i < 15; i++) {
    const gw = i % 2;
    const bob = await Client.open(c.wsUrl(gw), tok.bob, { label: `bob #${i} on gw${gw}` });
    const cmid = uid('race');
    const ok = await alice.ok('send', { conv: DM, client_msg_id: cmid, text: `race ${i}` });
    const ev = await bob.nextEvent(isMsg(cmid), 5000, `msg sent right after auth #${i}`);
    assert.equal(ev.seq, ok.seq);
    bob.close();
  }
});

h.test('a second socket of the sending device gets no msg event (the skip is per device)', async (t, c) => {
  const phoneA = await Client.open(c.wsUrl(0), tok.alicePhone, { label: 'alice/phone socket A' });
  const phoneB = await Client.open(c.wsUrl(1), tok.alicePhone, { label: 'alice/phone socket B' });
  const bob = await Client.open(c.wsUrl(1), tok.bob, { label: 'bob' });
  const cmid = uid();
  await phoneA.ok('send', { conv: DM, client_msg_id: cmid, text: 'one device, two sockets' });
  await bob.nextEvent(isMsg(cmid), 5000, 'msg for bob');
  await phoneB.expectNoEvent(isMsg(cmid), 500, 'msg on another socket of the sending device');
});
