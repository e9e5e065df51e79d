'use strict';
// kill -9 of the shard owning a conversation in the middle of a stream of sends:
// no acknowledged message is lost, in-flight requests get `unavailable` within ~5 s,
// health is 503 while the shard is down, and retries after the restart store each
// message exactly once.
const assert = require('node:assert/strict');
const { setup } = require('./lib/harness');
const { createUser, login, Client } = require('./lib/client');
const { shardOfConv, shardOfUser, pickNames, dmId } = require('./lib/slots');
const { waitFor } = require('./lib/cluster');

const h = setup();
// The conversation lives on shard VICTIM; both users' accounts live on the other shard,
// so authentication keeps working while the victim is down.
const VICTIM = 1;
const [alice, bob] = pickNames(['alice', 'bob'], (a, b) =>
  shardOfConv(dmId(a, b)) === VICTIM && shardOfUser(a) !== VICTIM && shardOfUser(b) !== VICTIM);
const DM = dmId(alice, bob);
const tok = {};
const SLACK = 1500; // ms of scheduling slack on a loaded 2-core machine

h.before(async () => {
  const u = h.cluster.httpUrl(0);
  await createUser(u, alice);
  await createUser(u, bob);
  tok.alice = await login(u, alice, 'phone');
  tok.bob = await login(u, bob, 'phone');
});

h.test(`SIGKILL of the owning shard mid-stream loses no acknowledged message (${DM} on shard ${VICTIM})`, async (t, c) => {
  const ws = await Client.open(c.wsUrl(0), tok.alice, { label: alice });
  const reader = await Client.open(c.wsUrl(1), tok.bob, { label: bob });
  await ws.ok('send', { conv: DM, client_msg_id: 'm-first', text: 'first' });

  // A steady stream: W workers, each sends, awaits the answer, sends the next.
  const W = 16;
  const results = []; // {i, cmid, sentAt, answeredAt, answer}
  let next = 0;
  let stop = false;
  let killedAt = 0;
  let oks = 0;
  let unavailAfterKill = 0;
  const worker = async () => {
    while (!stop) {
      const i = next++;
      const r = { i, cmid: `m-${i}`, sentAt: Date.now() };
      results.push(r);
      r.answer = await ws.request('send', { conv: DM, client_msg_id: r.cmid, text: `stream ${i}` }, { timeoutMs: 20000 });
      r.answeredAt = Date.now();
      if (r.answer.type === 'ok') oks++;
      else if (killedAt && r.answer.code === 'unavailable') unavailAfterKill++;
    }
  };
  const workers = Array.from({ length: W }, worker);

  await waitFor('100 acknowledged sends', () => oks >= 100, { timeoutMs: 30000, intervalMs: 5 });
  killedAt = Date.now();
  const k = await c.kill('shard', VICTIM, 'SIGKILL');
  assert.equal(k.signal, 'SIGKILL');
  // Keep the stream going until requests sent after the kill come back unavailable.
  await waitFor('unavailable answers after the kill', () => unavailAfterKill >= 2 * W, { timeoutMs: 15000, intervalMs: 10 });
  stop = true;
  await Promise.all(workers);

  // Every answer is ok or unavailable; every request in flight at the kill, or sent
  // after it, was answered within 5 s (+ slack) of the kill or of its sending.
  const other = results.filter((r) => r.answer.type !== 'ok' && r.answer.code !== 'unavailable');
  assert.deepEqual(other.map((r) => r.answer), [], 'answers other than ok/unavailable');
  for (const r of results) {
    const start = Math.max(r.sentAt, killedAt);
    if (r.answeredAt >= killedAt) {
      assert.ok(r.answeredAt - start <= 5000 + SLACK,
        `${r.cmid} answered ${r.answeredAt - start} ms after ${r.sentAt < killedAt ? 'the kill' : 'it was sent'} (${JSON.stringify(r.answer)})`);
    }
  }
  const acked = results.filter((r) => r.answer.type === 'ok');
  const failed = results.filter((r) => r.answer.type !== 'ok');
  assert.ok(failed.length >= 2 * W, `${failed.length} requests got unavailable`);
  t.diagnostic(`${acked.length} acknowledged, ${failed.length} unavailable`);

  // While the shard is down: a new request answers unavailable within 5 s; health 503.
  const t1 = Date.now();
  const u = await ws.request('sync', { conv: DM }, { timeoutMs: 10000 });
  assert.equal(u.type, 'error', `sync while the shard is down: ${JSON.stringify(u).slice(0, 200)}`);
  assert.equal(u.code, 'unavailable');
  assert.ok(Date.now() - t1 <= 5000 + SLACK, `unavailable after ${Date.now() - t1} ms`);
  await c.waitHealth(503, 3000 + 5000);

  await c.restart('shard', VICTIM); // same data folder; waits for health 200
  await c.waitHealth(200, 10000);

  // Every acknowledged message is there with the same seq, text and ts; no gaps.
  const s = await reader.ok('sync', { conv: DM, limit: 500 });
  assert.equal(s.more, false);
  const bySeq = new Map(s.msgs.map((m) => [m.seq, m]));
  assert.deepEqual(s.msgs.map((m) => m.seq), Array.from({ length: s.msgs.length }, (_, i) => i + 1), 'seqs 1..n without gaps');
  for (const r of acked) {
    const m = bySeq.get(r.answer.seq);
    assert.ok(m, `acknowledged ${r.cmid} (seq ${r.answer.seq}) missing after restart`);
    assert.equal(m.client_msg_id, r.cmid, `seq ${r.answer.seq}`);
    assert.equal(m.text, `stream ${r.i}`);
    assert.equal(m.ts, r.answer.ts);
  }

  // Retry every failed request with its client_msg_id: each is stored exactly once.
  const retries = await Promise.all(failed.map((r) =>
    ws.request('send', { conv: DM, client_msg_id: r.cmid, text: `stream ${r.i}` }, { timeoutMs: 20000 })));
  retries.forEach((a, j) => assert.equal(a.type, 'ok', `retry of ${failed[j].cmid}: ${JSON.stringify(a)}`));
  // (the first acknowledged and the last ones before the kill: those were only in the WAL)
  const resent = [...acked.slice(0, 10), ...acked.slice(Math.max(10, acked.length - 10))];
  const again = await Promise.all(resent.map((r) =>
    ws.request('send', { conv: DM, client_msg_id: r.cmid, text: `stream ${r.i}` })));
  again.forEach((a, j) => assert.equal(a.seq, resent[j].answer.seq, `resend of acknowledged ${resent[j].cmid} returns its seq`));

  const fin = await reader.ok('sync', { conv: DM, limit: 500 });
  assert.equal(fin.more, false);
  const total = 1 + results.length;
  assert.equal(fin.msgs.length, total, `exactly one stored message per client_msg_id (${total})`);
  assert.deepEqual(fin.msgs.map((m) => m.seq), Array.from({ length: total }, (_, i) => i + 1));
  const cmids = fin.msgs.map((m) => m.client_msg_id);
  assert.equal(new Set(cmids).size, total, 'no client_msg_id stored twice');
  retries.forEach((a, j) => assert.equal(bySeqOf(fin, a.seq).client_msg_id, failed[j].cmid));

});

function bySeqOf(s, seq) {
  return s.msgs.find((m) => m.seq === seq);
}

h.test('a request while the owning shard is down answers unavailable within 5 s; health 503', async (t, c) => {
  const ws = await Client.open(c.wsUrl(1), tok.alice, { label: alice });
  await ws.ok('sync', { conv: DM, limit: 1 });
  await c.kill('shard', VICTIM, 'SIGKILL');
  for (const [type, f] of [
    ['send', { conv: DM, client_msg_id: 'down-1', text: 'x' }],
    ['sync', { conv: DM }],
    ['history', { conv: DM }],
  ]) {
    const t0 = Date.now();
    const a = await ws.request(type, f, { timeoutMs: 10000 });
    const dt = Date.now() - t0;
    assert.equal(a.type, 'error', `${type}: ${JSON.stringify(a).slice(0, 200)}`);
    assert.equal(a.code, 'unavailable', `${type}`);
    assert.ok(dt <= 5000 + SLACK, `${type}: unavailable after ${dt} ms`);
  }
  // Health: 503 on both gateways (a shard silent for 3 s counts as down).
  await c.waitHealth(503, 3000 + 5000);
  // What lives on the other shard still works: the users' accounts (a login) and ping.
  await login(c.httpUrl(0), alice, 'while-down');
  await ws.ok('ping');
  await c.restart('shard', VICTIM);
  const ok = await ws.ok('send', { conv: DM, client_msg_id: 'down-1', text: 'x' });
  const s = await ws.ok('sync', { conv: DM, after: ok.seq - 1 });
  assert.deepEqual(s.msgs.map((m) => m.client_msg_id), ['down-1']);
});

h.test('after a shard restart, devices connected throughout get msg events at once', async (t, c) => {
  const ws = await Client.open(c.wsUrl(0), tok.alice, { label: alice });
  const reader = await Client.open(c.wsUrl(1), tok.bob, { label: bob });
  const a = await ws.ok('send', { conv: DM, client_msg_id: 'live-0', text: 'before the crash' });
  await reader.nextEvent((f) => f.type === 'msg' && f.client_msg_id === 'live-0', 5000, 'msg before the crash');
  await c.kill('shard', VICTIM, 'SIGKILL');
  await c.restart('shard', VICTIM); // waits for health 503, then 200
  // The first message stored by the new shard process must reach bob, who never left.
  const ok = await ws.ok('send', { conv: DM, client_msg_id: 'live-1', text: 'right after the restart' });
  assert.equal(ok.seq, a.seq + 1);
  const ev = await reader.nextEvent((f) => f.type === 'msg' && f.client_msg_id === 'live-1', 5000,
    'msg event from the restarted shard to a socket connected since before the crash');
  assert.equal(ev.seq, ok.seq);
  // And every later one.
  const ok2 = await ws.ok('send', { conv: DM, client_msg_id: 'live-2', text: 'a bit later' });
  const ev2 = await reader.nextEvent((f) => f.type === 'msg' && f.client_msg_id === 'live-2', 5000, 'second msg after the restart');
  assert.equal(ev2.seq, ok2.seq);
});

h.test('a frozen shard (SIGSTOP): unavailable within 5 s, health 503; after SIGCONT a retry stores once', async (t, c) => {
  const ws = await Client.open(c.wsUrl(0), tok.alice, { label: alice });
  const reader = await Client.open(c.wsUrl(1), tok.bob, { label: bob });
  const base = (await ws.ok('history', { conv: DM, limit: 1 })).msgs[0].seq;
  c.signal('shard', VICTIM, 'SIGSTOP');
  try {
    // The shard's TCP connection stays up: only deadlines and heartbeats can tell.
    const t0 = Date.now();
    const sends = Array.from({ length: 5 }, (_, i) =>
      ws.request('send', { conv: DM, client_msg_id: `frozen-${i}`, text: `frozen ${i}` }, { timeoutMs: 15000 }));
    const answers = await Promise.all(sends);
    const dt = Date.now() - t0;
    answers.forEach((a, i) => {
      assert.equal(a.type, 'error', `frozen-${i}: ${JSON.stringify(a)}`);
      assert.equal(a.code, 'unavailable');
    });
    assert.ok(dt <= 5000 + SLACK, `answered after ${dt} ms`);
    await c.waitHealth(503, 3000 + 5000);
  } finally {
    c.signal('shard', VICTIM, 'SIGCONT');
  }
  await c.waitHealth(200, 10000);
  // The frozen shard may have stored the sends when it woke up (their answers were
  // dropped as late): the retries return those seqs or store them now — once each.
  const retries = await waitFor('sends accepted after SIGCONT', async () => {
    const rs = await Promise.all(Array.from({ length: 5 }, (_, i) =>
      ws.request('send', { conv: DM, client_msg_id: `frozen-${i}`, text: `frozen ${i}` })));
    return rs.every((r) => r.type === 'ok') ? rs : null;
  }, { timeoutMs: 10000, intervalMs: 200 });
  const s = await reader.ok('sync', { conv: DM, after: base });
  assert.deepEqual(s.msgs.map((m) => m.client_msg_id).sort(), ['frozen-0', 'frozen-1', 'frozen-2', 'frozen-3', 'frozen-4']);
  assert.deepEqual(s.msgs.map((m) => m.seq), [1, 2, 3, 4, 5].map((i) => base + i));
  retries.forEach((r, i) => assert.equal(s.msgs.find((m) => m.seq === r.seq).client_msg_id, `frozen-${i}`));
});

h.test('a frame over 1 MiB behind a request to a frozen shard: its answer, then too_large, then close 1009', async (t, c) => {
  const ws = await Client.open(c.wsUrl(0), tok.alice, { label: alice });
  await ws.ok('sync', { conv: DM, limit: 1 }); // the dm's peer is known: the send goes straight to the shard
  c.signal('shard', VICTIM, 'SIGSTOP');
  try {
    const sent = ws.waitAnswer('held', 15000).then((a) => ({ a }), (e) => ({ e }));
    ws.sendJson({ type: 'send', id: 'held', conv: DM, client_msg_id: 'held-1', text: 'held' });
    const MiB = 1024 * 1024;
    ws.sendRaw('{"type":"ping","id":"huge"' + ' '.repeat(MiB) + '}');
    const first = await sent;
    assert.ok(first.a, `the held send got no answer before the close: ${first.e && first.e.message}`);
    assert.equal(first.a.type, 'error');
    assert.equal(first.a.code, 'unavailable');
    const tl = await ws.nextEvent((f) => f.type === 'error' && f.code === 'too_large', 5000, 'too_large');
    assert.equal(tl.id, undefined);
    const iHeld = ws.frames.findIndex((f) => f.id === 'held');
    const iTl = ws.frames.findIndex((f) => f.type === 'error' && f.code === 'too_large');
    assert.ok(iHeld >= 0 && iHeld < iTl, 'the earlier request is answered first');
    assert.equal((await ws.waitClosed(5000)).code, 1009);
  } finally {
    c.signal('shard', VICTIM, 'SIGCONT');
  }
  await c.waitHealth(200, 10000);
});

h.test('auth, ping and a frame over 1 MiB while the auth waits on a frozen shard: answered in order, then close 1009', async (t, c) => {
  const [carol] = pickNames(['carol'], (u) => shardOfUser(u) === VICTIM);
  await c.waitHealth(200, 10000);
  await createUser(c.httpUrl(0), carol);
  const token = await login(c.httpUrl(0), carol, 'phone');
  const ws = await Client.connect(c.wsUrl(0), { label: carol });
  c.signal('shard', VICTIM, 'SIGSTOP');
  try {
    ws.sendJson({ type: 'auth', id: 'a1', token });
    ws.sendJson({ type: 'ping', id: 'p1' });
    ws.sendRaw('{"type":"ping","id":"huge"' + ' '.repeat(1024 * 1024) + '}');
    ws.sendJson({ type: 'ping', id: 'p2' }); // after the failing frame: never answered
    await new Promise((r) => setTimeout(r, 700)); // the gateway holds it all, the auth waits
  } finally {
    c.signal('shard', VICTIM, 'SIGCONT');
  }
  const cl = await ws.waitClosed(10000);
  assert.equal(cl.code, 1009);
  assert.deepEqual(ws.frames.map((f) => `${f.type}:${f.id ?? f.code}`), ['ok:a1', 'ok:p1', 'error:too_large']);
  await c.waitHealth(200, 10000);
});
