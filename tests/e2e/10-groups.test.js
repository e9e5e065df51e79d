'use strict';
// Groups: group_create / group_add / group_remove, member events, the 100-member limit,
// removal rules, removed members cut off at once, fan-out across gateways and devices,
// non-members and unknown groups refused, convs after a full cluster restart.
const assert = require('node:assert/strict');
const { setup, uid } = require('./lib/harness');
const { createUser, login, Client } = require('./lib/client');
const { waitFor } = require('./lib/cluster');

const h = setup();
const tok = {};
const MANY = Array.from({ length: 100 }, (_, i) => `m${String(i).padStart(3, '0')}`);
const GROUP_ID = /^g:[A-Za-z0-9_-]{22}$/;
const UNKNOWN = 'g:AAAAAAAAAAAAAAAAAAAAAA';

h.before(async () => {
  const u = h.cluster.httpUrl(0);
  const names = ['alice', 'bob', 'carol', 'dave', 'eve', ...MANY];
  // In batches of 4 (the gateway's hashing pool is 4 threads). The harness's gateways hash
  // at Argon2id's test-only minimum (lib/cluster.js): at the real cost (64 MiB, ~0.2 s a
  // user, over 1 s on a loaded machine) these 105 accounts were what made this file time
  // out under load.
  for (let i = 0; i < names.length; i += 4) {
    await Promise.all(names.slice(i, i + 4).map((n) => createUser(u, n)));
  }
  tok.alicePhone = await login(u, 'alice', 'phone');
  tok.aliceLaptop = await login(h.cluster.httpUrl(1), 'alice', 'laptop');
  tok.bobPhone = await login(u, 'bob', 'phone');
  tok.bobLaptop = await login(u, 'bob', 'laptop');
  tok.carol = await login(u, 'carol', 'phone');
  tok.dave = await login(u, 'dave', 'phone');
  tok.eve = await login(u, 'eve', 'phone');
});

const isMember = (conv, user, change) => (f) => f.type === 'member' && f.conv === conv && f.user === user && f.change === change;
const isMsg = (cmid) => (f) => f.type === 'msg' && f.client_msg_id === cmid;
const sorted = (a) => [...a].sort();

function assertMemberEvent(ev, want) {
  assert.equal(ev.id, undefined, 'events carry no id');
  assert.deepEqual({ type: ev.type, conv: ev.conv, user: ev.user, change: ev.change, by: ev.by }, { type: 'member', ...want });
}

// The conversation index is updated shard-to-shard after the group's own write: poll
// (with a deadline) until the entry shows up.
function groupEntry(client, conv) {
  return waitFor(`${conv} in ${client.label}'s convs`, async () => {
    const cv = await client.ok('convs');
    return cv.convs.find((x) => x.conv === conv);
  }, { timeoutMs: 5000, intervalMs: 50 });
}

h.test('group_create: an id g:<22 chars>, member events by the creator, convs entry', async (t, c) => {
  const alice = await Client.open(c.wsUrl(0), tok.alicePhone, { label: 'alice' });
  const bob = await Client.open(c.wsUrl(1), tok.bobPhone, { label: 'bob' });
  const carol = await Client.open(c.wsUrl(0), tok.carol, { label: 'carol' });
  // duplicates and the creator are dropped from members
  const ok = await alice.ok('group_create', { title: 'Team 😀', members: ['bob', 'carol', 'bob', 'alice'] });
  assert.match(ok.conv, GROUP_ID);
  for (const [who, cl] of [['bob', bob], ['carol', carol]]) {
    for (const u of ['bob', 'carol']) {
      const ev = await cl.nextEvent(isMember(ok.conv, u, 'added'), 5000, `member added ${u} on ${who}`);
      assertMemberEvent(ev, { conv: ok.conv, user: u, change: 'added', by: 'alice' });
    }
  }
  await bob.expectNoEvent(isMember(ok.conv, 'alice', 'added'), 300, 'member event for the creator');
  const e = await groupEntry(bob, ok.conv);
  assert.ok(e, 'the group is in bob\'s convs');
  assert.equal(e.kind, 'group');
  assert.equal(e.title, 'Team 😀');
  assert.deepEqual(sorted(e.members), ['alice', 'bob', 'carol']);
  assert.equal(e.last_seq, 0);
  // a second group with the same members is a new conversation
  const ok2 = await alice.ok('group_create', { title: 'Team 😀', members: ['bob'] });
  assert.match(ok2.conv, GROUP_ID);
  assert.notEqual(ok2.conv, ok.conv);
  // a group of one
  const solo = await alice.ok('group_create', { title: 'notes', members: [] });
  assert.deepEqual((await groupEntry(alice, solo.conv)).members, ['alice']);
});

h.test('group_create validation: bad_request and not_found create nothing', async (t, c) => {
  const alice = await Client.open(c.wsUrl(0), tok.alicePhone, { label: 'alice' });
  const bob = await Client.open(c.wsUrl(1), tok.bobPhone, { label: 'bob' });
  const bad = [
    { members: ['bob'] }, // no title
    { title: '', members: ['bob'] },
    { title: 'x'.repeat(201), members: ['bob'] },
    { title: '😀'.repeat(201), members: ['bob'] },
    { title: 5, members: ['bob'] },
    { title: 'a\u0000b', members: ['bob'] },
    { title: 't', members: 'bob' },
    { title: 't', members: [5] },
    { title: 't', members: ['Bob'] },
    { title: 't', members: ['bo'] },
    { title: 't', members: ['bob', null] },
    { title: 't', members: [...MANY, 'Bad'] }, // malformed beats too many
  ];
  for (const f of bad) await alice.err('bad_request', 'group_create', f);
  // 100 others would make 101 members: group_full, like group_add (issue 7.3)
  await alice.err('group_full', 'group_create', { title: 't', members: MANY });
  await alice.err('not_found', 'group_create', { title: 't', members: ['bob', 'nosuchuser'] });
  await alice.err('not_found', 'group_create', { title: 't', members: ['zzz_nobody'] });
  await bob.expectNoEvent((f) => f.type === 'member', 300, 'member event of a refused group_create');
  // a later group is listed; none of the refused ones is
  const later = await alice.ok('group_create', { title: 'later', members: ['bob'] });
  await groupEntry(alice, later.conv);
  const titles = (await alice.ok('convs')).convs.map((x) => x.title);
  assert.equal(titles.filter((x) => x === 't').length, 0, 'nothing was created');
  // 200 characters (code points, not bytes) is fine
  const ok = await alice.ok('group_create', { title: '😀'.repeat(200), members: [] });
  assert.equal((await groupEntry(alice, ok.conv)).title, '😀'.repeat(200));
});

h.test('100 members at most: create with 99 others, the 101st add gets group_full', async (t, c) => {
  const alice = await Client.open(c.wsUrl(0), tok.alicePhone, { label: 'alice' });
  const m0 = await Client.open(c.wsUrl(1), await login(c.httpUrl(1), MANY[0], 'phone'), { label: MANY[0] });
  const g = await alice.ok('group_create', { title: 'big', members: MANY.slice(0, 50) });
  // add the next 49 in parallel: 100 members
  const adds = await Promise.all(MANY.slice(50, 99).map((u) => alice.request('group_add', { conv: g.conv, user: u })));
  for (const a of adds) assert.equal(a.type, 'ok', JSON.stringify(a));
  await m0.nextEvent(isMember(g.conv, MANY[98], 'added'), 5000, 'member event of the last add');
  assert.equal((await groupEntry(alice, g.conv)).members.length, 100);
  await alice.err('group_full', 'group_add', { conv: g.conv, user: MANY[99] });
  await m0.err('group_full', 'group_add', { conv: g.conv, user: 'bob' });
  // adding an existing member is ok and changes nothing
  await m0.nextEvent(isMember(g.conv, MANY[10], 'added'), 5000, 'the first add of m010');
  await alice.ok('group_add', { conv: g.conv, user: MANY[10] });
  await m0.expectNoEvent(isMember(g.conv, MANY[10], 'added'), 300, 'member event for a re-add');
  assert.equal((await groupEntry(alice, g.conv)).members.length, 100);
  // room again after a removal
  await alice.ok('group_remove', { conv: g.conv, user: MANY[5] });
  await alice.ok('group_add', { conv: g.conv, user: MANY[99] });
  const e = await groupEntry(alice, g.conv);
  assert.equal(e.members.length, 100);
  assert.ok(e.members.includes(MANY[99]) && !e.members.includes(MANY[5]));
  // created full (99 others) -> the next add is refused too
  const full = await alice.ok('group_create', { title: 'full', members: MANY.slice(0, 99) });
  await alice.err('group_full', 'group_add', { conv: full.conv, user: 'bob' });
});

h.test('group_add / group_remove validation', async (t, c) => {
  const alice = await Client.open(c.wsUrl(0), tok.alicePhone, { label: 'alice' });
  const g = await alice.ok('group_create', { title: 'v', members: ['bob'] });
  for (const type of ['group_add', 'group_remove']) {
    for (const f of [
      { conv: 'dm:alice:bob', user: 'carol' },
      { conv: 'g:', user: 'carol' },
      { conv: 'g:a b', user: 'carol' },
      { conv: 'x', user: 'carol' },
      { conv: 5, user: 'carol' },
      { user: 'carol' },
      { conv: g.conv },
      { conv: g.conv, user: 'Carol' },
      { conv: g.conv, user: 7 },
    ]) await alice.err('bad_request', type, f);
  }
  await alice.err('not_found', 'group_add', { conv: g.conv, user: 'nosuchuser' });
  await alice.err('not_found', 'group_remove', { conv: g.conv, user: 'carol' }); // not a member
  assert.deepEqual(sorted((await groupEntry(alice, g.conv)).members), ['alice', 'bob']);
});

h.test('removal rules: self ok, creator removes others, others may not', async (t, c) => {
  const alice = await Client.open(c.wsUrl(0), tok.alicePhone, { label: 'alice' });
  const bob = await Client.open(c.wsUrl(1), tok.bobPhone, { label: 'bob' });
  const carol = await Client.open(c.wsUrl(0), tok.carol, { label: 'carol' });
  const dave = await Client.open(c.wsUrl(1), tok.dave, { label: 'dave' });
  const g = await alice.ok('group_create', { title: 'rules', members: ['bob', 'carol', 'dave'] });
  await dave.nextEvent(isMember(g.conv, 'dave', 'added'), 5000, 'dave added');
  await bob.err('forbidden', 'group_remove', { conv: g.conv, user: 'carol' });
  await bob.err('forbidden', 'group_remove', { conv: g.conv, user: 'alice' });
  await carol.expectNoEvent(isMember(g.conv, 'carol', 'removed'), 300, 'removal by a non-creator');
  // a member removes itself; every member before the removal is told, bob included
  await bob.ok('group_remove', { conv: g.conv, user: 'bob' });
  for (const [who, cl] of [['alice', alice], ['bob', bob], ['carol', carol], ['dave', dave]]) {
    assertMemberEvent(await cl.nextEvent(isMember(g.conv, 'bob', 'removed'), 5000, `bob removed, on ${who}`),
      { conv: g.conv, user: 'bob', change: 'removed', by: 'bob' });
  }
  // the creator removes another member
  await alice.ok('group_remove', { conv: g.conv, user: 'carol' });
  assertMemberEvent(await carol.nextEvent(isMember(g.conv, 'carol', 'removed'), 5000, 'carol removed'),
    { conv: g.conv, user: 'carol', change: 'removed', by: 'alice' });
  await dave.nextEvent(isMember(g.conv, 'carol', 'removed'), 5000, 'carol removed, on dave');
  await bob.expectNoEvent(isMember(g.conv, 'carol', 'removed'), 300, 'event for a former member');
  assert.deepEqual(sorted((await groupEntry(alice, g.conv)).members), ['alice', 'dave']);
  // any member may add, a removed one may come back
  await dave.ok('group_add', { conv: g.conv, user: 'bob' });
  const readded = (f) => isMember(g.conv, 'bob', 'added')(f) && f.by === 'dave';
  assertMemberEvent(await bob.nextEvent(readded, 5000, 'bob added again'),
    { conv: g.conv, user: 'bob', change: 'added', by: 'dave' });
});

h.test('a removed member is cut off at once: no later message, forbidden everywhere', async (t, c) => {
  const alice = await Client.open(c.wsUrl(0), tok.alicePhone, { label: 'alice' });
  const bob = await Client.open(c.wsUrl(1), tok.bobPhone, { label: 'bob/phone' });
  const bob2 = await Client.open(c.wsUrl(0), tok.bobLaptop, { label: 'bob/laptop' });
  const g = await alice.ok('group_create', { title: 'cut', members: ['bob', 'carol'] });
  await bob.nextEvent(isMember(g.conv, 'bob', 'added'), 5000, 'bob added');
  await bob2.nextEvent(isMember(g.conv, 'bob', 'added'), 5000, 'bob added (laptop)');
  // a burst of messages, then the removal without waiting: nothing of the group may
  // reach bob after the removal event
  const sends = [];
  for (let i = 0; i < 200; i++) sends.push(alice.request('send', { conv: g.conv, client_msg_id: `burst${i}`, text: `burst ${i} ${'x'.repeat(2000)}` }));
  const rm = alice.request('group_remove', { conv: g.conv, user: 'bob' });
  for (const a of await Promise.all(sends)) assert.equal(a.type, 'ok', JSON.stringify(a));
  assert.equal((await rm).type, 'ok');
  const late = await alice.ok('send', { conv: g.conv, client_msg_id: 'after-removal', text: 'not for bob' });
  for (const cl of [bob, bob2]) {
    await cl.nextEvent(isMember(g.conv, 'bob', 'removed'), 10000, 'bob removed');
    await cl.expectNoEvent(isMsg('after-removal'), 500, 'a message sent after the removal');
    const i = cl.frames.findIndex((f) => f.type === 'member' && f.conv === g.conv && f.change === 'removed');
    const after = cl.frames.slice(i + 1).filter((f) => f.conv === g.conv);
    assert.deepEqual(after.map((f) => `${f.type} ${f.seq}`), [], `${cl.label}: nothing of the group after the removal`);
  }
  assert.equal(late.seq, 201);
  await bob.err('forbidden', 'sync', { conv: g.conv });
  await bob.err('forbidden', 'history', { conv: g.conv });
  await bob.err('forbidden', 'send', { conv: g.conv, client_msg_id: uid(), text: 'let me back' });
  await bob.err('forbidden', 'group_add', { conv: g.conv, user: 'bob' });
});

h.test('a removal drops the group\'s events still queued for a slow device of the removed user', async (t, c) => {
  const alice = await Client.open(c.wsUrl(0), tok.alicePhone, { label: 'alice' });
  const bob = await Client.open(c.wsUrl(1), tok.bobPhone, { label: 'bob/phone (paused)' });
  const g = await alice.ok('group_create', { title: 'slow', members: ['bob'] });
  await bob.nextEvent(isMember(g.conv, 'bob', 'added'), 5000, 'bob added');
  // bob stops reading: the gateway queues his events (beyond the kernel's buffers)
  bob.ws._socket.pause();
  const N = 120;
  const big = 'y'.repeat(60000);
  for (let i = 0; i < N; i += 20) {
    const batch = [];
    for (let k = i; k < i + 20; k++) batch.push(alice.request('send', { conv: g.conv, client_msg_id: `slow${k}`, text: `${k} ${big}` }));
    for (const a of await Promise.all(batch)) assert.equal(a.type, 'ok', JSON.stringify(a).slice(0, 200));
  }
  await alice.ok('group_remove', { conv: g.conv, user: 'bob' });
  await alice.nextEvent(isMember(g.conv, 'bob', 'removed'), 5000, 'removal event on alice');
  bob.ws._socket.resume();
  await bob.nextEvent(isMember(g.conv, 'bob', 'removed'), 10000, 'bob removed');
  const i = bob.frames.findIndex((f) => f.type === 'member' && f.conv === g.conv && f.change === 'removed');
  const got = bob.frames.slice(0, i).filter((f) => f.type === 'msg' && f.conv === g.conv).length;
  assert.ok(got < N, `the queued messages were dropped (got ${got} of ${N} before the removal)`);
  assert.deepEqual(bob.frames.slice(i + 1).filter((f) => f.conv === g.conv), []);
  await bob.err('forbidden', 'sync', { conv: g.conv });
});

h.test('fan-out: every device of every member on both gateways, not the sending device', async (t, c) => {
  const alicePhone = await Client.open(c.wsUrl(0), tok.alicePhone, { label: 'alice/phone gw0' });
  const aliceLaptop = await Client.open(c.wsUrl(1), tok.aliceLaptop, { label: 'alice/laptop gw1' });
  const bobPhone = await Client.open(c.wsUrl(0), tok.bobPhone, { label: 'bob/phone gw0' });
  const bobLaptop = await Client.open(c.wsUrl(1), tok.bobLaptop, { label: 'bob/laptop gw1' });
  const carol = await Client.open(c.wsUrl(1), tok.carol, { label: 'carol gw1' });
  const eve = await Client.open(c.wsUrl(0), tok.eve, { label: 'eve (outsider)' });
  const g = await alicePhone.ok('group_create', { title: 'fan', members: ['bob', 'carol'] });
  const cmid = uid();
  const ok = await alicePhone.ok('send', { conv: g.conv, client_msg_id: cmid, text: 'hello all' });
  assert.equal(ok.conv, g.conv);
  assert.equal(ok.seq, 1);
  const want = { type: 'msg', conv: g.conv, seq: 1, from: 'alice', device: 'phone', text: 'hello all', ts: ok.ts, client_msg_id: cmid };
  for (const cl of [aliceLaptop, bobPhone, bobLaptop, carol]) {
    assert.deepEqual(await cl.nextEvent(isMsg(cmid), 5000, `msg on ${cl.label}`), want);
  }
  await alicePhone.expectNoEvent(isMsg(cmid), 300, 'msg on the sending device');
  await eve.expectNoEvent((f) => f.conv === g.conv, 300, 'group events for an outsider');
  const cmid2 = uid();
  const ok2 = await bobLaptop.ok('send', { conv: g.conv, client_msg_id: cmid2, text: 'reply' });
  assert.equal(ok2.seq, 2);
  for (const cl of [alicePhone, aliceLaptop, bobPhone, carol]) await cl.nextEvent(isMsg(cmid2), 5000, `reply on ${cl.label}`);
  const s = await carol.ok('sync', { conv: g.conv });
  assert.deepEqual(s.msgs.map((m) => m.seq), [1, 2]);
  const hi = await carol.ok('history', { conv: g.conv, limit: 1 });
  assert.deepEqual(hi.msgs.map((m) => m.client_msg_id), [cmid2]);
  assert.equal(hi.more, true);
});

h.test('non-members get forbidden on every request, unknown groups not_found', async (t, c) => {
  const alice = await Client.open(c.wsUrl(0), tok.alicePhone, { label: 'alice' });
  const eve = await Client.open(c.wsUrl(1), tok.eve, { label: 'eve' });
  const g = await alice.ok('group_create', { title: 'private', members: ['bob'] });
  await alice.ok('send', { conv: g.conv, client_msg_id: uid(), text: 'secret' });
  const reqs = (conv) => [
    ['send', { conv, client_msg_id: uid(), text: 'let me in' }],
    ['sync', { conv }],
    ['history', { conv }],
    ['read', { conv, seq: 1 }],
    ['typing', { conv }],
    ['group_add', { conv, user: 'eve' }],
    ['group_add', { conv, user: 'carol' }],
    ['group_remove', { conv, user: 'bob' }],
  ];
  for (const [type, f] of reqs(g.conv)) {
    const e = await eve.err('forbidden', type, f);
    assert.equal(e.msgs, undefined);
  }
  for (const [type, f] of reqs(UNKNOWN)) await eve.err('not_found', type, f);
  for (const [type, f] of reqs(UNKNOWN)) await alice.err('not_found', type, f);
  await alice.ok('send', { conv: g.conv, client_msg_id: uid(), text: 'still secret' });
  await eve.expectNoEvent((f) => f.conv === g.conv, 300, 'events of a group eve is not in');
  const e = await groupEntry(alice, g.conv);
  assert.deepEqual(sorted(e.members), ['alice', 'bob'], 'nothing changed');
  assert.equal(e.last_seq, 2);
});

h.test('convs lists groups and dms after a full cluster restart', async (t, c) => {
  let alice = await Client.open(c.wsUrl(0), tok.alicePhone, { label: 'alice' });
  const g = await alice.ok('group_create', { title: 'survivors', members: ['bob', 'dave'] });
  for (let i = 0; i < 3; i++) await alice.ok('send', { conv: g.conv, client_msg_id: uid(), text: `g${i}` });
  await alice.ok('send', { conv: 'dm:alice:dave', client_msg_id: uid(), text: 'hi dave' });
  await groupEntry(alice, 'dm:alice:dave');
  await groupEntry(alice, g.conv);
  await groupEntry(await Client.open(c.wsUrl(0), tok.dave, { label: 'dave' }), g.conv);
  const before = (await alice.ok('convs')).convs;
  alice.close();
  await c.stopAll();
  await c.startAll();
  alice = await Client.open(c.wsUrl(1), tok.alicePhone, { label: 'alice after restart' });
  const dave = await Client.open(c.wsUrl(0), tok.dave, { label: 'dave after restart' });
  const after = (await alice.ok('convs')).convs;
  const norm = (l) => l.map((x) => ({ ...x, members: sorted(x.members) })).sort((a, b) => (a.conv < b.conv ? -1 : 1));
  assert.deepEqual(norm(after), norm(before), 'convs identical after the restart');
  const ge = after.find((x) => x.conv === g.conv);
  assert.deepEqual({ kind: ge.kind, title: ge.title, members: sorted(ge.members), last_seq: ge.last_seq },
    { kind: 'group', title: 'survivors', members: ['alice', 'bob', 'dave'], last_seq: 3 });
  const de = after.find((x) => x.conv === 'dm:alice:dave');
  assert.equal(de.kind, 'dm');
  assert.equal(de.last_seq, 1);
  const dv = (await dave.ok('convs')).convs.map((x) => x.conv);
  assert.ok(dv.includes(g.conv) && dv.includes('dm:alice:dave'), JSON.stringify(dv));
  // membership survived: still enforced and still delivered
  const cmid = uid();
  await alice.ok('send', { conv: g.conv, client_msg_id: cmid, text: 'after restart' });
  assert.equal((await dave.nextEvent(isMsg(cmid), 5000, 'msg after restart')).seq, 4);
  const eve = await Client.open(c.wsUrl(0), tok.eve, { label: 'eve' });
  await eve.err('forbidden', 'sync', { conv: g.conv });
});
