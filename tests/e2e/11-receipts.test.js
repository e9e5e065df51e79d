'use strict';
// Read receipts (`read`: event to every member's devices, read_seq in convs, never
// lowered) and typing (to the other members only, at most one per second per user).
const assert = require('node:assert/strict');
const { setup, uid } = require('./lib/harness');
const { createUser, login, Client } = require('./lib/client');
const { waitFor } = require('./lib/cluster');

const h = setup();
const tok = {};
const AB = 'dm:alice:bob';

h.before(async () => {
  const u = h.cluster.httpUrl(0);
  await Promise.all(['alice', 'bob', 'carol', 'eve'].map((n) => createUser(u, n)));
  tok.alicePhone = await login(u, 'alice', 'phone');
  tok.aliceLaptop = await login(h.cluster.httpUrl(1), 'alice', 'laptop');
  tok.bob = await login(u, 'bob', 'phone');
  tok.carol = await login(u, 'carol', 'phone');
  tok.eve = await login(u, 'eve', 'phone');
});

const isRead = (conv, user, seq) => (f) => f.type === 'read' && f.conv === conv && f.user === user && (seq === undefined || f.seq === seq);
const isTyping = (conv, user) => (f) => f.type === 'typing' && f.conv === conv && f.user === user;

function convEntry(client, conv, pred = () => true) {
  return waitFor(`${conv} in ${client.label}'s convs`, async () => {
    const e = (await client.ok('convs')).convs.find((x) => x.conv === conv);
    return e && pred(e) ? e : null;
  }, { timeoutMs: 5000, intervalMs: 50 });
}

async function readCase(c, conv, members) {
  const phone = await Client.open(c.wsUrl(0), tok.alicePhone, { label: 'alice/phone' });
  const laptop = await Client.open(c.wsUrl(1), tok.aliceLaptop, { label: 'alice/laptop' });
  const bob = await Client.open(c.wsUrl(1), tok.bob, { label: 'bob' });
  if (!conv) {
    conv = (await phone.ok('group_create', { title: 'readers', members })).conv;
  }
  const base = (await bob.ok('history', { conv, limit: 1 })).msgs[0]?.seq ?? 0;
  for (let i = 0; i < 3; i++) await bob.ok('send', { conv, client_msg_id: uid(), text: `m${i}` });
  await phone.ok('read', { conv, seq: base + 2 });
  const want = { type: 'read', conv, user: 'alice', seq: base + 2 };
  assert.deepEqual(await laptop.nextEvent(isRead(conv, 'alice'), 5000, 'read on the other device'), want);
  assert.deepEqual(await bob.nextEvent(isRead(conv, 'alice'), 5000, 'read for the other member'), want);
  const e = await convEntry(laptop, conv);
  assert.equal(e.read_seq, base + 2, 'read_seq on the other device');
  assert.equal(e.last_seq, base + 3);
  // a lower or equal seq: ok, nothing changes, no event
  await laptop.ok('read', { conv, seq: base + 1 });
  await laptop.ok('read', { conv, seq: base + 2 });
  await bob.expectNoEvent(isRead(conv, 'alice'), 400, 'read event for a lower seq');
  assert.equal((await convEntry(phone, conv)).read_seq, base + 2, 'read_seq never goes down');
  // to the end
  await laptop.ok('read', { conv, seq: base + 3 });
  await phone.nextEvent(isRead(conv, 'alice', base + 3), 5000, 'read on the phone');
  await bob.nextEvent(isRead(conv, 'alice', base + 3), 5000, 'read to the end for bob');
  assert.equal((await convEntry(phone, conv)).read_seq, base + 3);
  // bob's own read_seq is his own
  assert.notEqual((await convEntry(bob, conv)).read_seq, base + 3);
  // invalid
  for (const f of [{ conv }, { conv, seq: -1 }, { conv, seq: '2' }, { conv, seq: 1.5 }, { conv, seq: null }, { seq: 1 }]) {
    await phone.err('bad_request', 'read', f);
  }
  await phone.err('bad_request', 'read', { conv, seq: base + 100 }); // above last_seq
  await bob.expectNoEvent(isRead(conv, 'alice'), 300, 'read event for a refused read');
  assert.equal((await convEntry(phone, conv)).read_seq, base + 3);
  return conv;
}

h.test('read receipts in a dm: event to every device, read_seq in convs, never lowered', async (t, c) => {
  await readCase(c, AB);
});

h.test('read receipts in a group', async (t, c) => {
  const conv = await readCase(c, null, ['bob', 'carol']);
  const carol = await Client.open(c.wsUrl(0), tok.carol, { label: 'carol' });
  const phone = await Client.open(c.wsUrl(0), tok.alicePhone, { label: 'alice/phone' });
  await carol.ok('read', { conv, seq: 1 });
  await phone.nextEvent(isRead(conv, 'carol', 1), 5000, 'carol\'s read for alice');
});

h.test('read and typing: dm checks, non-members forbidden', async (t, c) => {
  const alice = await Client.open(c.wsUrl(0), tok.alicePhone, { label: 'alice' });
  const eve = await Client.open(c.wsUrl(1), tok.eve, { label: 'eve' });
  await eve.err('forbidden', 'read', { conv: AB, seq: 0 });
  await eve.err('forbidden', 'typing', { conv: AB });
  for (const conv of ['dm:bob:alice', 'dm:alice:alice', 'dm:alice', 'x', '', 'g:']) {
    await alice.err('bad_request', 'read', { conv, seq: 0 });
    await alice.err('bad_request', 'typing', { conv });
  }
  await alice.err('bad_request', 'typing', {});
  await alice.err('bad_request', 'typing', { conv: 5 });
  await alice.err('not_found', 'read', { conv: 'dm:alice:nosuchuser', seq: 0 });
  await alice.err('not_found', 'typing', { conv: 'dm:alice:nosuchuser' });
  await alice.ok('read', { conv: 'dm:alice:carol', seq: 0 }); // an empty dm: 0 is fine
});

h.test('typing reaches the other members only, at most once per second per user', async (t, c) => {
  const phone = await Client.open(c.wsUrl(0), tok.alicePhone, { label: 'alice/phone' });
  const laptop = await Client.open(c.wsUrl(1), tok.aliceLaptop, { label: 'alice/laptop' });
  const bob = await Client.open(c.wsUrl(1), tok.bob, { label: 'bob' });
  const carol = await Client.open(c.wsUrl(0), tok.carol, { label: 'carol' });
  const eve = await Client.open(c.wsUrl(0), tok.eve, { label: 'eve' });
  const g = (await phone.ok('group_create', { title: 'typists', members: ['bob', 'carol'] })).conv;
  await phone.ok('typing', { conv: g });
  const t0 = Date.now();
  for (const cl of [bob, carol]) {
    assert.deepEqual(await cl.nextEvent(isTyping(g, 'alice'), 5000, `typing on ${cl.label}`), { type: 'typing', conv: g, user: 'alice' });
  }
  // rate limit: more typing within the second is answered ok and dropped
  for (let i = 0; i < 5; i++) await phone.ok('typing', { conv: g });
  await laptop.ok('typing', { conv: g });
  const quiet = Math.max(1, 900 - (Date.now() - t0));
  await bob.expectNoEvent(isTyping(g, 'alice'), quiet, 'a second typing within 1 s');
  // the typist's own devices never get it
  await phone.expectNoEvent(isTyping(g, 'alice'), 1, 'typing on the typing device');
  await laptop.expectNoEvent(isTyping(g, 'alice'), 1, 'typing on another device of the typist');
  await eve.expectNoEvent((f) => f.type === 'typing', 1, 'typing for an outsider');
  // after the second, typing goes out again (retry until it shows, with a deadline)
  const ev = await waitFor('a typing event after the rate-limit window', async () => {
    await laptop.ok('typing', { conv: g });
    return bob.nextEvent(isTyping(g, 'alice'), 250, 'typing').catch(() => null);
  }, { timeoutMs: 4000, intervalMs: 1 });
  assert.deepEqual(ev, { type: 'typing', conv: g, user: 'alice' });
  assert.ok(Date.now() - t0 >= 900, `second typing event after ${Date.now() - t0} ms`);
  await carol.nextEvent(isTyping(g, 'alice'), 5000, 'second typing on carol');
  // another user's typing is its own budget; in a dm too
  await bob.ok('typing', { conv: g });
  await carol.nextEvent(isTyping(g, 'bob'), 5000, 'bob typing on carol');
  await phone.nextEvent(isTyping(g, 'bob'), 5000, 'bob typing on alice/phone');
  await laptop.nextEvent(isTyping(g, 'bob'), 5000, 'bob typing on alice/laptop');
  await bob.expectNoEvent(isTyping(g, 'bob'), 300, 'own typing');
  await bob.ok('typing', { conv: AB });
  await phone.nextEvent(isTyping(AB, 'bob'), 5000, 'typing in a dm');
  await carol.expectNoEvent(isTyping(AB, 'bob'), 300, 'dm typing for an outsider');
});
