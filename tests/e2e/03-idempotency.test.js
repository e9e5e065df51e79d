'use strict';
// send is idempotent per (conv, sender, client_msg_id): also from another device and
// after a reconnect; nothing new is stored and no second event is pushed.
const assert = require('node:assert/strict');
const { setup, uid } = require('./lib/harness');
const { createUser, login, Client } = require('./lib/client');

const h = setup();
const DM = 'dm:alice:bob';
const tok = {};

h.before(async () => {
  const u = h.cluster.httpUrl(0);
  await createUser(u, 'alice');
  await createUser(u, 'bob');
  tok.phone = await login(u, 'alice', 'phone');
  tok.laptop = await login(u, 'alice', 'laptop');
  tok.bob = await login(u, 'bob', 'phone');
});

h.test('resending a client_msg_id returns the first seq and stores nothing new', async (t, c) => {
  const phone = await Client.open(c.wsUrl(0), tok.phone, { label: 'alice/phone' });
  const laptop = await Client.open(c.wsUrl(1), tok.laptop, { label: 'alice/laptop' });
  const bob = await Client.open(c.wsUrl(1), tok.bob, { label: 'bob' });

  await phone.ok('send', { conv: DM, client_msg_id: uid(), text: 'first' });
  const cmid = uid();
  const ok1 = await phone.ok('send', { conv: DM, client_msg_id: cmid, text: 'once only' });
  assert.equal(ok1.seq, 2);
  await bob.nextEvent((f) => f.type === 'msg' && f.client_msg_id === cmid, 5000, 'first delivery');
  await laptop.nextEvent((f) => f.type === 'msg' && f.client_msg_id === cmid, 5000, 'first delivery to laptop');

  // Same socket, again.
  const ok2 = await phone.ok('send', { conv: DM, client_msg_id: cmid, text: 'once only' });
  assert.equal(ok2.seq, ok1.seq, 'same seq on resend');
  assert.equal(ok2.conv, DM);
  // Another device of the same user.
  const ok3 = await laptop.ok('send', { conv: DM, client_msg_id: cmid, text: 'once only' });
  assert.equal(ok3.seq, ok1.seq, 'same seq from another device');
  // A reconnect.
  phone.close();
  const phone2 = await Client.open(c.wsUrl(1), tok.phone, { label: 'alice/phone (reconnected)' });
  const ok4 = await phone2.ok('send', { conv: DM, client_msg_id: cmid, text: 'once only' });
  assert.equal(ok4.seq, ok1.seq, 'same seq after a reconnect');

  await bob.expectNoEvent((f) => f.type === 'msg' && f.client_msg_id === cmid, 500, 'second msg event for a resend');

  // A new message after the resends takes the next seq: the resends used none.
  const ok5 = await phone2.ok('send', { conv: DM, client_msg_id: uid(), text: 'next' });
  assert.equal(ok5.seq, ok1.seq + 1, 'no seq consumed by resends');

  const s = await bob.ok('sync', { conv: DM });
  assert.deepEqual(s.msgs.map((m) => m.seq), [1, 2, 3]);
  assert.equal(s.msgs.filter((m) => m.client_msg_id === cmid).length, 1, 'stored once');
  assert.equal(s.msgs[1].text, 'once only');
  assert.equal(s.msgs[1].ts, ok1.ts, 'stored ts is the first ok\'s ts');
});

h.test('the same client_msg_id from another sender is a different message', async (t, c) => {
  const alice = await Client.open(c.wsUrl(0), tok.phone, { label: 'alice' });
  const bob = await Client.open(c.wsUrl(1), tok.bob, { label: 'bob' });
  const cmid = uid('shared');
  const a = await alice.ok('send', { conv: DM, client_msg_id: cmid, text: 'alice says' });
  const b = await bob.ok('send', { conv: DM, client_msg_id: cmid, text: 'bob says' });
  assert.equal(b.seq, a.seq + 1, 'bob\'s message is new');
  const again = await bob.ok('send', { conv: DM, client_msg_id: cmid, text: 'bob says' });
  assert.equal(again.seq, b.seq);
  const s = await alice.ok('sync', { conv: DM, after: a.seq - 1 });
  assert.deepEqual(s.msgs.map((m) => [m.seq, m.from, m.text]), [[a.seq, 'alice', 'alice says'], [b.seq, 'bob', 'bob says']]);
});

h.test('concurrent duplicates of one client_msg_id from two devices store it once', async (t, c) => {
  const phone = await Client.open(c.wsUrl(0), tok.phone, { label: 'alice/phone' });
  const laptop = await Client.open(c.wsUrl(1), tok.laptop, { label: 'alice/laptop' });
  const last = (await phone.ok('history', { conv: DM, limit: 1 })).msgs[0].seq;
  const cmids = Array.from({ length: 20 }, () => uid('dup'));
  const answers = await Promise.all(cmids.flatMap((cmid) => [
    phone.request('send', { conv: DM, client_msg_id: cmid, text: `dup ${cmid}` }),
    laptop.request('send', { conv: DM, client_msg_id: cmid, text: `dup ${cmid}` }),
  ]));
  for (const a of answers) assert.equal(a.type, 'ok', JSON.stringify(a));
  for (let i = 0; i < cmids.length; i++) {
    assert.equal(answers[2 * i].seq, answers[2 * i + 1].seq, `both devices got the same seq for ${cmids[i]}`);
  }
  const seqs = answers.filter((_, i) => i % 2 === 0).map((a) => a.seq).sort((x, y) => x - y);
  assert.deepEqual(seqs, Array.from({ length: 20 }, (_, i) => last + 1 + i));
  const s = await phone.ok('sync', { conv: DM, after: last });
  assert.equal(s.msgs.length, 20, 'exactly one stored message per client_msg_id');
  assert.equal(s.more, false);
});
