'use strict';
// Offline catch-up: convs (last_seq), paged sync and history with an exact `more`.
const assert = require('node:assert/strict');
const { setup, uid } = require('./lib/harness');
const { createUser, login, Client } = require('./lib/client');

const h = setup();
const tok = {};
const AB = 'dm:alice:bob';
const BC = 'dm:bob:carol';
const AC = 'dm:alice:carol';

h.before(async () => {
  const u = h.cluster.httpUrl(0);
  for (const n of ['alice', 'bob', 'carol']) await createUser(u, n);
  tok.alice = await login(u, 'alice', 'phone');
  tok.bob = await login(u, 'bob', 'phone');
  tok.carol = await login(u, 'carol', 'phone');
});

const range = (a, b) => Array.from({ length: b - a + 1 }, (_, i) => a + i);
const seqs = (r) => r.msgs.map((m) => m.seq);

function findConv(list, conv) {
  assert.ok(Array.isArray(list), `convs is an array: ${JSON.stringify(list)}`);
  return list.find((x) => x.conv === conv);
}

function assertConv(entry, conv, members, lastSeq) {
  assert.ok(entry, `${conv} listed in convs`);
  for (const k of ['conv', 'kind', 'title', 'members', 'last_seq', 'read_seq']) {
    assert.ok(k in entry, `convs entry has "${k}": ${JSON.stringify(entry)}`);
  }
  assert.equal(entry.kind, 'dm');
  assert.deepEqual([...entry.members].sort(), [...members].sort(), `${conv} members`);
  assert.equal(entry.last_seq, lastSeq, `${conv} last_seq`);
  assert.ok(Number.isInteger(entry.read_seq) && entry.read_seq >= 0 && entry.read_seq <= lastSeq, `read_seq ${entry.read_seq}`);
}

h.test('an offline device catches up through convs and sync, exactly once and in order', async (t, c) => {
  const alice = await Client.open(c.wsUrl(0), tok.alice, { label: 'alice' });
  const carol = await Client.open(c.wsUrl(0), tok.carol, { label: 'carol' });
  // bob is online for the first 3 messages.
  let bob = await Client.open(c.wsUrl(1), tok.bob, { label: 'bob' });
  const texts = {};
  for (let i = 1; i <= 3; i++) {
    const ok = await alice.ok('send', { conv: AB, client_msg_id: `ab${i}`, text: `ab message ${i}` });
    assert.equal(ok.seq, i);
    texts[i] = `ab message ${i}`;
  }
  const live = await bob.nextEvents(3, (f) => f.type === 'msg' && f.conv === AB, 5000, 'live msg');
  assert.deepEqual(live.map((m) => m.seq), [1, 2, 3], 'live events in seq order');
  bob.close();
  await bob.closed;

  // While bob is offline: 4 more from alice, 2 from carol, 1 between alice and carol.
  for (let i = 4; i <= 7; i++) {
    await alice.ok('send', { conv: AB, client_msg_id: `ab${i}`, text: `ab message ${i}` });
    texts[i] = `ab message ${i}`;
  }
  for (let i = 1; i <= 2; i++) await carol.ok('send', { conv: BC, client_msg_id: `bc${i}`, text: `bc message ${i}` });
  await alice.ok('send', { conv: AC, client_msg_id: 'ac1', text: 'not for bob' });

  bob = await Client.open(c.wsUrl(1), tok.bob, { label: 'bob (back)' });
  const cv = await bob.ok('convs');
  assertConv(findConv(cv.convs, AB), AB, ['alice', 'bob'], 7);
  assertConv(findConv(cv.convs, BC), BC, ['bob', 'carol'], 2);
  assert.equal(findConv(cv.convs, AC), undefined, 'a dm bob is not in is not listed');

  // bob holds 1..3 of AB: sync after 3 gives 4..7 exactly.
  const s = await bob.ok('sync', { conv: AB, after: 3 });
  assert.deepEqual(seqs(s), [4, 5, 6, 7]);
  assert.equal(s.more, false);
  s.msgs.forEach((m) => {
    assert.equal(m.text, texts[m.seq]);
    assert.equal(m.from, 'alice');
    assert.equal(m.conv, AB);
    assert.equal(m.client_msg_id, `ab${m.seq}`);
  });
  const s2 = await bob.ok('sync', { conv: BC });
  assert.deepEqual(seqs(s2), [1, 2]);
  assert.equal(s2.msgs[0].from, 'carol');

  const ca = await alice.ok('convs');
  assertConv(findConv(ca.convs, AB), AB, ['alice', 'bob'], 7);
  assertConv(findConv(ca.convs, AC), AC, ['alice', 'carol'], 1);
  assert.equal(findConv(ca.convs, BC), undefined);
});

h.test('sync pages forward with limit and an exact more flag', async (t, c) => {
  const bob = await Client.open(c.wsUrl(0), tok.bob, { label: 'bob' });
  // AB holds 1..7 from the previous test.
  const cases = [
    [{ after: 0, limit: 3 }, [1, 2, 3], true],
    [{ after: 3, limit: 3 }, [4, 5, 6], true],
    [{ after: 6, limit: 3 }, [7], false],
    [{ after: 4, limit: 3 }, [5, 6, 7], false], // ends exactly at the newest: more=false
    [{ after: 3, limit: 4 }, [4, 5, 6, 7], false],
    [{ after: 6, limit: 1 }, [7], false],
    [{ after: 5, limit: 1 }, [6], true],
    [{ after: 7, limit: 10 }, [], false],
    [{ after: 100, limit: 10 }, [], false],
    [{ after: 0, limit: 500 }, range(1, 7), false],
    [{}, range(1, 7), false], // defaults: after 0, limit 100
    [{ limit: 7 }, range(1, 7), false],
    [{ limit: 6 }, range(1, 6), true],
  ];
  for (const [f, want, more] of cases) {
    const r = await bob.ok('sync', { conv: AB, ...f });
    assert.deepEqual(seqs(r), want, `sync ${JSON.stringify(f)}`);
    assert.equal(r.more, more, `sync ${JSON.stringify(f)}: more`);
  }
  for (const limit of [0, 501, -1, 1000000]) await bob.err('bad_request', 'sync', { conv: AB, limit });
});

h.test('history pages backward with before, limit and an exact more flag', async (t, c) => {
  const bob = await Client.open(c.wsUrl(1), tok.bob, { label: 'bob' });
  const cases = [
    [{ limit: 3 }, [5, 6, 7], true], // before defaults to newest+1
    [{ before: 5, limit: 3 }, [2, 3, 4], true],
    [{ before: 4, limit: 3 }, [1, 2, 3], false], // ends exactly at seq 1: more=false
    [{ before: 2, limit: 3 }, [1], false],
    [{ before: 1, limit: 3 }, [], false],
    [{ before: 8, limit: 7 }, range(1, 7), false],
    [{ before: 8, limit: 6 }, range(2, 7), true],
    [{ before: 100, limit: 2 }, [6, 7], true],
    [{}, range(1, 7), false], // default limit 50
    [{ limit: 500 }, range(1, 7), false],
  ];
  for (const [f, want, more] of cases) {
    const r = await bob.ok('history', { conv: AB, ...f });
    assert.deepEqual(seqs(r), want, `history ${JSON.stringify(f)}`);
    assert.equal(r.more, more, `history ${JSON.stringify(f)}: more`);
  }
  for (const limit of [0, 501, -1]) await bob.err('bad_request', 'history', { conv: AB, limit });
  // Walking back page by page visits every message once.
  let before;
  const all = [];
  for (;;) {
    const r = await bob.ok('history', before ? { conv: AB, before, limit: 2 } : { conv: AB, limit: 2 });
    all.unshift(...seqs(r));
    if (!r.more) break;
    before = r.msgs[0].seq;
  }
  assert.deepEqual(all, range(1, 7));
});

h.test('sync and history answers carry the msg event fields', async (t, c) => {
  const alice = await Client.open(c.wsUrl(0), tok.alice, { label: 'alice' });
  const bob = await Client.open(c.wsUrl(1), tok.bob, { label: 'bob' });
  const cmid = uid();
  const ok = await alice.ok('send', { conv: AB, client_msg_id: cmid, text: 'fields' });
  const ev = await bob.nextEvent((f) => f.type === 'msg' && f.client_msg_id === cmid, 5000, 'msg');
  const s = await bob.ok('sync', { conv: AB, after: ok.seq - 1 });
  const hi = await bob.ok('history', { conv: AB, limit: 1 });
  // Same fields as the event ("type" aside: the event's frame type).
  const fields = ({ type, ...rest }) => rest;
  assert.deepEqual(fields(s.msgs[0]), fields(ev), 'sync message equals the event');
  assert.deepEqual(fields(hi.msgs[0]), fields(ev), 'history message equals the event');
  assert.equal(ev.ts, ok.ts);
  const cv = await bob.ok('convs');
  assert.equal(findConv(cv.convs, AB).last_seq, ok.seq, 'last_seq follows new messages');
});
