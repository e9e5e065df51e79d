'use strict';
// Issue 7.1 and 7.3: a socket's requests into one conversation reach it in the order they
// were sent (sends get increasing seqs, also when pipelined into a dm the gateway has
// never checked; a group_add or a read is not overtaken either), and a group_create
// that would make more than 100 members gets group_full.
const assert = require('node:assert/strict');
const { setup } = require('./lib/harness');
const { createUser, login, Client } = require('./lib/client');
const { waitFor } = require('./lib/cluster');

const h = setup();
const tok = {};
const USERS = ['alice', 'bob', 'carol', 'dave', 'erin', 'frank', 'gina', 'hank', 'ivan', 'jack', 'kate'];
const N = 200;

h.before(async () => {
  const u = h.cluster.httpUrl(0);
  await Promise.all(USERS.map((n) => createUser(u, n)));
  for (const n of USERS) tok[n] = await login(u, n, 'phone');
});

const isMember = (conv, user, change) => (f) => f.type === 'member' && f.conv === conv && f.user === user && f.change === change;

// Fire n sends of `who` into conv without waiting, ids and client_msg_ids `${who}-${i}`.
function fire(ws, conv, who, n) {
  return Array.from({ length: n }, (_, i) =>
    ws.request('send', { conv, client_msg_id: `${who}-${i}`, text: `${who} #${i}` }, { id: `${who}-${i}`, timeoutMs: 30000 }));
}

function assertIncreasing(answers, what) {
  const bad = answers.filter((a) => a.type !== 'ok');
  assert.deepEqual(bad.slice(0, 3), [], `${what}: every send got ok`);
  for (let i = 1; i < answers.length; i++) {
    assert.ok(answers[i].seq > answers[i - 1].seq,
      `${what}: send #${i} got seq ${answers[i].seq}, not above send #${i - 1}'s seq ${answers[i - 1].seq} ` +
      `(seqs: ${answers.map((a) => a.seq).join(',')})`);
  }
}

h.test('2 users x 200 pipelined sends into a fresh dm from 2 gateways: each socket\'s seqs increase in send order', async (t, c) => {
  // Two fresh dms, so both gateways meet each other user for the first time.
  for (const [x, y] of [['alice', 'bob'], ['carol', 'dave']]) {
    const dm = `dm:${x}:${y}`;
    const a = await Client.open(c.wsUrl(0), tok[x], { label: x });
    const b = await Client.open(c.wsUrl(1), tok[y], { label: y });
    const [aAns, bAns] = await Promise.all([Promise.all(fire(a, dm, x, N)), Promise.all(fire(b, dm, y, N))]);
    assertIncreasing(aAns, `${x} on gateway 0`);
    assertIncreasing(bAns, `${y} on gateway 1`);
    const seqs = [...aAns, ...bAns].map((r) => r.seq).sort((p, q) => p - q);
    assert.deepEqual(seqs, Array.from({ length: 2 * N }, (_, i) => i + 1), `${dm}: seqs 1..${2 * N}`);
    // the stored order agrees: each sender's messages in its send order
    const s = await a.ok('sync', { conv: dm, limit: 500 });
    for (const who of [x, y]) {
      const mine = s.msgs.filter((m) => m.from === who).map((m) => m.client_msg_id);
      assert.deepEqual(mine, Array.from({ length: N }, (_, i) => `${who}-${i}`), `${dm}: stored order of ${who}`);
    }
    a.close();
    b.close();
  }
});

h.test('reads pipelined between sends into a fresh dm are not overtaken by them', async (t, c) => {
  // erin and ivan both write to someone for the first time through gateway 0: whichever
  // user_exists answer comes first tells the gateway that this user exists (3 rounds: the
  // old gateway let a later read or send overtake in most rounds, not in every one)
  const erin = await Client.open(c.wsUrl(0), tok.erin, { label: 'erin' });
  const ivan = await Client.open(c.wsUrl(0), tok.ivan, { label: 'ivan' });
  for (const peer of ['frank', 'jack', 'kate']) {
    const dm = `dm:erin:${peer}`;
    const n = 100;
    // send #i, then at once a read of seq i+1: the seq that send gets, once stored in order
    const sends = [];
    const reads = [];
    const other = fire(ivan, `dm:${[peer, 'ivan'].sort().join(':')}`, `i-${peer}`, n);
    for (let i = 0; i < n; i++) {
      sends.push(erin.request('send', { conv: dm, client_msg_id: `e-${i}`, text: `e #${i}` }, { timeoutMs: 30000 }));
      reads.push(erin.request('read', { conv: dm, seq: i + 1 }, { timeoutMs: 30000 }));
      // a stream rather than one burst: let the socket write between groups of frames, so
      // some reach the gateway after it learnt that the peer exists (not a wait for anything)
      if (i % 4 === 3) await new Promise((r) => setImmediate(r));
    }
    const sAns = await Promise.all(sends);
    const bad = (await Promise.all(reads)).map((r, i) => [i + 1, r]).filter(([, r]) => r.type !== 'ok');
    assert.deepEqual(bad.slice(0, 3), [], `${dm}: every read of the seq just sent is ok`);
    assertIncreasing(sAns, `erin in ${dm}`);
    assert.deepEqual(sAns.map((a) => a.seq), Array.from({ length: n }, (_, i) => i + 1));
    assertIncreasing(await Promise.all(other), `ivan to ${peer}`);
    const cv = await waitFor(`${dm} in erin's convs`, async () => (await erin.ok('convs')).convs.find((x) => x.conv === dm),
      { timeoutMs: 5000 });
    assert.equal(cv.last_seq, n);
    assert.equal(cv.read_seq, n);
  }
});

h.test('group ops pipelined into one group keep their order: add then remove, add then send', async (t, c) => {
  // gateway 0 has never checked gina or hank: group_add waits for its user_exists there
  const alice = await Client.open(c.wsUrl(0), tok.alice, { label: 'alice' });
  const gina = await Client.open(c.wsUrl(1), tok.gina, { label: 'gina' });
  const hank = await Client.open(c.wsUrl(1), tok.hank, { label: 'hank' });
  const g = (await alice.ok('group_create', { title: 'order', members: [] })).conv;

  // add then remove, no waiting in between: the remove finds gina a member
  const add = alice.request('group_add', { conv: g, user: 'gina' });
  const rem = alice.request('group_remove', { conv: g, user: 'gina' });
  const [ra, rr] = await Promise.all([add, rem]);
  assert.equal(ra.type, 'ok', `group_add: ${JSON.stringify(ra)}`);
  assert.equal(rr.type, 'ok', `group_remove pipelined after group_add: ${JSON.stringify(rr)}`);
  await gina.nextEvent(isMember(g, 'gina', 'added'), 5000, 'gina added');
  await gina.nextEvent(isMember(g, 'gina', 'removed'), 5000, 'gina removed');
  await gina.err('forbidden', 'sync', { conv: g });

  // add then send: the message is stored after hank joined, so hank gets it
  const add2 = alice.request('group_add', { conv: g, user: 'hank' });
  const send = alice.request('send', { conv: g, client_msg_id: 'after-add', text: 'welcome' });
  const [a2, s2] = await Promise.all([add2, send]);
  assert.equal(a2.type, 'ok', `group_add: ${JSON.stringify(a2)}`);
  assert.equal(s2.type, 'ok', `send: ${JSON.stringify(s2)}`);
  await hank.nextEvent(isMember(g, 'hank', 'added'), 5000, 'hank added');
  const ev = await hank.nextEvent((f) => f.type === 'msg' && f.conv === g, 5000, 'the msg sent after hank was added');
  assert.equal(ev.client_msg_id, 'after-add');
  assert.equal(ev.seq, s2.seq);
});

h.test('group_create naming more than 99 others gets group_full; malformed lists stay bad_request', async (t, c) => {
  const ivan = await Client.open(c.wsUrl(0), tok.ivan, { label: 'ivan' });
  const names = (n, p = 'y') => Array.from({ length: n }, (_, i) => `${p}${String(i).padStart(4, '0')}`);
  // 100 distinct others (with the creator and repeats, which are ignored): 101 members
  await ivan.err('group_full', 'group_create', { title: 'full', members: [...names(100), 'ivan', 'y0000', 'y0099'] });
  await ivan.err('group_full', 'group_create', { title: 'full', members: ['alice', 'bob', ...names(98), 'carol'] });
  await ivan.err('group_full', 'group_create', { title: 'full', members: names(1000) });
  // malformed lists: bad_request, also when they name more than 99 others
  await ivan.err('bad_request', 'group_create', { title: 'full', members: [...names(100), 'Bad'] });
  await ivan.err('bad_request', 'group_create', { title: 'full', members: [...names(100), 7] });
  await ivan.err('bad_request', 'group_create', { title: 'full', members: names(1001) });
  await ivan.err('bad_request', 'group_create', { title: 'full', members: Array(1001).fill('alice') });
  // 1,000 entries naming one other user is a group of two
  const ok = await ivan.ok('group_create', { title: 'pair', members: Array(1000).fill('alice') });
  const e = await waitFor('the pair group in ivan\'s convs', async () => (await ivan.ok('convs')).convs.find((x) => x.conv === ok.conv),
    { timeoutMs: 5000 });
  assert.deepEqual([...e.members].sort(), ['alice', 'ivan']);
  // nothing of the refused ones was created
  const titles = (await ivan.ok('convs')).convs.map((x) => x.title);
  assert.equal(titles.filter((x) => x === 'full').length, 0, 'no refused group was created');
});
