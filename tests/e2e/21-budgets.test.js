'use strict';
// Abuse budgets (issue 8, item 3): per-user group caps (`too_many`, nothing changed),
// `convs` paging (every conversation exactly once), the gateway's memory budget and the
// per-socket byte budget (sockets that never read and pipeline big syncs are dropped or
// paused, a canary keeps working, the gateway's RSS stays bounded).
//
// Small caps and budgets via flags: shards --max-groups-created 3 --max-groups-member 5;
// the gateway --mem-budget 16 (MiB) --socket-budget 4 (MiB).
const assert = require('node:assert/strict');
const crypto = require('node:crypto');
const fs = require('node:fs');
const net = require('node:net');
const { setup } = require('./lib/harness');
const { createUser, login, Client } = require('./lib/client');
const { waitFor } = require('./lib/cluster');

// Sanitizer builds keep freed memory in a quarantine (256 MB by default), which would
// count as the gateway's RSS: keep it small for the processes of this file (ignored by
// normal builds).
process.env.ASAN_OPTIONS = [process.env.ASAN_OPTIONS, 'quarantine_size_mb=16'].filter(Boolean).join(':');

const CREATED_CAP = 3;
const MEMBER_CAP = 5;
const MEM_BUDGET_MIB = 16;
const h = setup({
  shards: 2,
  gateways: 1,
  shardArgs: ['--max-groups-created', String(CREATED_CAP), '--max-groups-member', String(MEMBER_CAP)],
  gatewayArgs: ['--mem-budget', String(MEM_BUDGET_MIB), '--socket-budget', '4'],
});
const tok = {};
const BULK_DEVICES = 8;

h.before(async (c) => {
  const u = c.httpUrl(0);
  const names = ['alice', 'bob', 'carol', 'dave', 'erin', 'frank', 'peer', 'bulk', 'canary'];
  await Promise.all(names.map((n) => createUser(u, n)));
  for (const n of names) tok[n] = await login(u, n, 'phone');
  for (let i = 0; i < BULK_DEVICES; i++) tok[`bulk${i}`] = await login(u, 'bulk', `d${i}`);
});

const isMember = (f) => f.type === 'member';
const groupsOf = (convs) => convs.filter((x) => x.kind === 'group').map((x) => x.conv).sort();

// The conversation index follows membership shard-to-shard: poll (with a deadline) until
// the user's convs show n groups.
function waitGroups(client, n) {
  return waitFor(`${client.label}'s convs to list ${n} groups`, async () => {
    const cv = await client.ok('convs');
    return groupsOf(cv.convs).length === n ? cv : null;
  }, { timeoutMs: 10000, intervalMs: 50 });
}

h.test('group_create past the created-groups cap: too_many, nothing created', async (t, c) => {
  const alice = await Client.open(c.wsUrl(0), tok.alice, { label: 'alice' });
  const bob = await Client.open(c.wsUrl(0), tok.bob, { label: 'bob' });
  // a create refused for another reason (an unknown member) does not use up the cap
  await alice.err('not_found', 'group_create', { title: 'nobody', members: ['nosuchuser'] });
  const made = [];
  for (let i = 0; i < CREATED_CAP; i++) made.push((await alice.ok('group_create', { title: `g${i}`, members: ['bob'] })).conv);
  await waitGroups(alice, CREATED_CAP);
  await bob.nextEvents(CREATED_CAP, isMember, 5000, 'member events of the allowed groups');
  const e = await alice.err('too_many', 'group_create', { title: 'one too many', members: ['bob'] });
  assert.match(e.message, /created/);
  // nothing changed: no member event, no new conversation for either user
  await bob.expectNoEvent(isMember, 500, 'member event of the refused group');
  assert.deepEqual(groupsOf((await alice.ok('convs')).convs), made.sort());
  assert.deepEqual(groupsOf((await bob.ok('convs')).convs), made.sort());
  // still refused (the count is kept on the creator's shard, not per socket)
  await alice.err('too_many', 'group_create', { title: 'again' });
});

h.test('membership cap: group_create and group_add naming a user at the cap get too_many', async (t, c) => {
  const carol = await Client.open(c.wsUrl(0), tok.carol, { label: 'carol' });
  const dave = await Client.open(c.wsUrl(0), tok.dave, { label: 'dave' });
  const erin = await Client.open(c.wsUrl(0), tok.erin, { label: 'erin' });
  const frank = await Client.open(c.wsUrl(0), tok.frank, { label: 'frank' });
  const withCarol = [];
  for (let i = 0; i < 3; i++) withCarol.push((await dave.ok('group_create', { title: `d${i}`, members: ['carol'] })).conv);
  for (let i = 0; i < 2; i++) withCarol.push((await erin.ok('group_create', { title: `e${i}`, members: ['carol'] })).conv);
  await waitGroups(carol, MEMBER_CAP);
  carol.events.length = 0;

  // a new group naming carol: refused, nothing created, and erin's created count unused
  const e1 = await erin.err('too_many', 'group_create', { title: 'e-more', members: ['carol'] });
  assert.match(e1.message, /carol/);
  await carol.expectNoEvent(isMember, 500, 'member event of the refused group');
  assert.equal(groupsOf((await erin.ok('convs')).convs).length, 2);
  const own = (await erin.ok('group_create', { title: 'e-alone' })).conv; // erin's 3rd: allowed

  // group_add of carol: refused, the group unchanged
  const g = (await frank.ok('group_create', { title: 'frank' })).conv;
  await frank.err('too_many', 'group_add', { conv: g, user: 'carol' });
  const info = (await waitGroups(frank, 1)).convs.find((x) => x.conv === g);
  assert.deepEqual(info.members, ['frank']);
  await carol.expectNoEvent(isMember, 300, 'member event of the refused add');

  // the user's own membership counts too: carol may not create a group
  await carol.err('too_many', 'group_create', { title: 'mine' });
  // adding a member again changes nothing and is ok, also at the cap
  await dave.ok('group_add', { conv: withCarol[0], user: 'carol' });

  // carol leaves one group: once the index follows, she may be added again
  await carol.ok('group_remove', { conv: withCarol[0], user: 'carol' });
  await waitFor('group_add of carol after she left a group', async () => {
    const r = await frank.request('group_add', { conv: g, user: 'carol' });
    if (r.type === 'ok') return true;
    assert.equal(r.code, 'too_many', JSON.stringify(r));
    return false;
  }, { timeoutMs: 10000, intervalMs: 100 });
  await waitGroups(carol, MEMBER_CAP);
  assert.ok(!groupsOf((await carol.ok('convs')).convs).includes(withCarol[0]));
  assert.ok(groupsOf((await erin.ok('convs')).convs).includes(own));
});

h.test('convs paging: limit/after return every conversation exactly once, in id order', async (t, c) => {
  const frank = await Client.open(c.wsUrl(0), tok.frank, { label: 'frank' });
  const peer = await Client.open(c.wsUrl(0), tok.peer, { label: 'peer' });
  for (const other of ['alice', 'bob', 'dave', 'erin', 'peer']) {
    const [a, b] = ['frank', other].sort();
    await frank.ok('send', { conv: `dm:${a}:${b}`, client_msg_id: `p-${other}`, text: 'hi' });
  }
  await peer.ok('group_create', { title: 'p1', members: ['frank'] });
  await peer.ok('group_create', { title: 'p2', members: ['frank'] });
  // frank: 5 dms + 3 groups (its own, carol's test made it, and two of peer's)
  const full = await waitFor('frank\'s 8 conversations', async () => {
    const cv = await frank.ok('convs');
    return cv.convs.length === 8 ? cv : null;
  }, { timeoutMs: 10000, intervalMs: 50 });
  assert.equal(full.more, false);
  assert.equal(full.next, undefined);
  const ids = full.convs.map((x) => x.conv);
  assert.deepEqual(ids, [...ids].sort((x, y) => Buffer.compare(Buffer.from(x), Buffer.from(y))), 'byte order of ids');

  const seen = [];
  let after;
  let pages = 0;
  for (;;) {
    const page = await frank.ok('convs', after === undefined ? { limit: 3 } : { limit: 3, after });
    pages++;
    assert.ok(page.convs.length <= 3);
    for (const e of page.convs) assert.deepEqual(e, full.convs.find((x) => x.conv === e.conv));
    seen.push(...page.convs.map((x) => x.conv));
    if (!page.more) {
      assert.equal(page.next, undefined);
      break;
    }
    assert.equal(page.next, page.convs[page.convs.length - 1].conv);
    after = page.next;
    assert.ok(pages < 10, 'paging ends');
  }
  assert.equal(pages, 3);
  assert.deepEqual(seen, ids, 'every conversation exactly once, in order');
  // a cursor that is no conversation of frank's still pages from there
  const tail = await frank.ok('convs', { after: ids[3].slice(0, -1) + '~', limit: 1000 });
  assert.deepEqual(tail.convs.map((x) => x.conv), ids.filter((x) => Buffer.compare(Buffer.from(x), Buffer.from(ids[3].slice(0, -1) + '~')) > 0));
  for (const bad of [{ limit: 0 }, { limit: 1001 }, { limit: '3' }, { limit: 1.5 }, { after: 5 }, { after: '' }, { after: null }]) {
    await frank.err('bad_request', 'convs', bad);
  }
});

// ---- the memory budget --------------------------------------------------------------

// A WebSocket client on a raw TCP socket, so that it can stop reading (socket.pause()).
function maskedFrame(text) {
  const payload = Buffer.from(text);
  const n = payload.length;
  const head = n < 126 ? Buffer.from([0x81, 0x80 | n]) : Buffer.from([0x81, 0x80 | 126, n >> 8, n & 0xff]);
  const mask = crypto.randomBytes(4);
  const body = Buffer.alloc(n);
  for (let i = 0; i < n; i++) body[i] = payload[i] ^ mask[i & 3];
  return Buffer.concat([head, mask, body]);
}

class RawWs {
  constructor(port) {
    this.sock = net.connect(port, '127.0.0.1');
    this.buf = Buffer.alloc(0);
    this.upgraded = false;
    this.frag = [];
    this.messages = [];
    this.closeCode = null;
    this.dead = false;
    this.onMessage = null;
    this.sock.on('error', () => { this.dead = true; });
    this.sock.on('close', () => { this.dead = true; });
    this.sock.on('data', (d) => this._data(d));
  }

  _data(d) {
    this.buf = Buffer.concat([this.buf, d]);
    if (!this.upgraded) {
      const end = this.buf.indexOf('\r\n\r\n');
      if (end < 0) return;
      assert.match(this.buf.subarray(0, end).toString(), /^HTTP\/1\.1 101/);
      this.upgraded = true;
      this.buf = this.buf.subarray(end + 4);
    }
    for (;;) {
      if (this.buf.length < 2) return;
      let len = this.buf[1] & 0x7f;
      let off = 2;
      if (len === 126) {
        if (this.buf.length < 4) return;
        len = this.buf.readUInt16BE(2);
        off = 4;
      } else if (len === 127) {
        if (this.buf.length < 10) return;
        len = Number(this.buf.readBigUInt64BE(2));
        off = 10;
      }
      if (this.buf.length < off + len) return;
      const fin = (this.buf[0] & 0x80) !== 0;
      const opcode = this.buf[0] & 0x0f;
      const payload = this.buf.subarray(off, off + len);
      this.buf = this.buf.subarray(off + len);
      if (opcode === 8) this.closeCode = payload.length >= 2 ? payload.readUInt16BE(0) : 1005;
      if (opcode === 0 || opcode === 1) {
        this.frag.push(Buffer.from(payload));
        if (fin) {
          const m = JSON.parse(Buffer.concat(this.frag).toString('utf8'));
          this.frag = [];
          this.messages.push(m);
          if (this.onMessage) this.onMessage(m);
        }
      }
    }
  }

  async open(token) {
    await new Promise((resolve, reject) => { this.sock.once('connect', resolve); this.sock.once('error', reject); });
    this.sock.write('GET /v1/ws HTTP/1.1\r\nHost: 127.0.0.1\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n' +
      `Sec-WebSocket-Version: 13\r\nSec-WebSocket-Key: ${crypto.randomBytes(16).toString('base64')}\r\n\r\n`);
    this.send({ type: 'auth', id: 'a', token });
    await waitFor('raw auth ok', () => this.messages.find((m) => m.id === 'a'), { timeoutMs: 10000, intervalMs: 20 });
    assert.equal(this.messages.find((m) => m.id === 'a').type, 'ok');
  }

  send(obj) {
    this.sock.write(maskedFrame(JSON.stringify(obj)));
  }
}

function vmRssBytes(pid) {
  const m = /VmRSS:\s+(\d+) kB/.exec(fs.readFileSync(`/proc/${pid}/status`, 'utf8'));
  return Number(m[1]) * 1024;
}

h.test('memory budget: sockets that never read are paused or dropped, a canary works, RSS bounded', { timeout: 180000 }, async (t, c) => {
  const pid = c.proc('gateway', 0).child.pid;
  const peer = await Client.open(c.wsUrl(0), tok.peer, { label: 'peer' });
  const canary = await Client.open(c.wsUrl(0), tok.canary, { label: 'canary' });
  // a ~3 MB conversation: 30 messages of 100,000 characters
  const conv = 'dm:bulk:peer';
  const text = 'x'.repeat(100000);
  for (let i = 0; i < 30; i++) await peer.ok('send', { conv, client_msg_id: `big${i}`, text });
  const rss0 = vmRssBytes(pid);

  // BULK_DEVICES sockets pipeline SYNCS syncs of the whole conversation each, never reading
  const SYNCS = 12;
  const raws = [];
  for (let i = 0; i < BULK_DEVICES; i++) {
    const r = new RawWs(c.gwPorts[0]);
    await r.open(tok[`bulk${i}`]);
    r.sock.pause();
    raws.push(r);
  }
  for (const r of raws) for (let k = 0; k < SYNCS; k++) r.send({ type: 'sync', id: `s${k}`, conv, limit: 500 });

  // wait (deadline) until the gateway dropped sockets: a dropped socket's writes fail;
  // meanwhile sample the gateway's RSS and check that the canary keeps working
  let maxRss = rss0;
  let n = 0;
  await waitFor('the gateway to drop sockets over its memory budget', async () => {
    maxRss = Math.max(maxRss, vmRssBytes(pid));
    for (const r of raws) if (!r.dead) r.sock.write(maskedFrame('{"type":"ping","id":"probe"}'));
    await canary.ok('ping', {}, { timeoutMs: 5000 });
    return raws.filter((r) => r.dead).length >= 1;
  }, { timeoutMs: 60000, intervalMs: 200 });
  for (let i = 0; i < 10; i++) { // a little longer under pressure: more samples, more canary
    maxRss = Math.max(maxRss, vmRssBytes(pid));
    await canary.ok('ping', {}, { timeoutMs: 5000 });
    // the shard serving the big syncs may be slow (sanitizer builds): `unavailable` is
    // retried, as the contract allows; any other answer fails
    const cmid = `c${n++}`;
    const ok = await waitFor('the canary\'s send', async () => {
      const r = await canary.request('send', { conv: 'dm:canary:peer', client_msg_id: cmid, text: 'still here' }, { timeoutMs: 10000 });
      if (r.type === 'error' && r.code === 'unavailable') return null;
      assert.equal(r.type, 'ok', JSON.stringify(r));
      return r;
    }, { timeoutMs: 30000, intervalMs: 100 });
    const s = await waitFor('the canary\'s sync', async () => {
      const r = await canary.request('sync', { conv: 'dm:canary:peer', after: ok.seq - 1 }, { timeoutMs: 10000 });
      if (r.type === 'error' && r.code === 'unavailable') return null;
      assert.equal(r.type, 'ok', JSON.stringify(r));
      return r;
    }, { timeoutMs: 30000, intervalMs: 100 });
    assert.equal(s.msgs[0].seq, ok.seq);
  }
  t.diagnostic(`RSS ${Math.round(rss0 / 2 ** 20)} MiB before, ${Math.round(maxRss / 2 ** 20)} MiB at most`);
  // without a budget each socket may hold 64 MiB (8 x 64 = 512 MiB); with it the queues
  // hold at most the budget plus one answer per socket in flight
  assert.ok(maxRss - rss0 < 120 * 2 ** 20, `gateway RSS grew by ${Math.round((maxRss - rss0) / 2 ** 20)} MiB`);

  // once they read, every socket either turns out dropped (its connection is gone) or
  // was only paused and gets every answer, in order
  const answersOf = (r) => r.messages.filter((m) => /^s\d+$/.test(m.id));
  for (const r of raws) if (!r.dead) r.sock.resume();
  await waitFor('every socket dropped or fully answered', () => raws.every((r) => r.dead || answersOf(r).length === SYNCS),
    { timeoutMs: 90000, intervalMs: 100 });
  const paused = raws.filter((r) => !r.dead);
  t.diagnostic(`dropped ${raws.length - paused.length} of ${raws.length}, ${paused.length} paused and answered`);
  assert.ok(paused.length >= 1, 'the budget fits at least one socket: not all were dropped');
  assert.ok(paused.length < raws.length, 'some were dropped');
  let oks = 0;
  for (const r of paused) {
    const answers = answersOf(r);
    assert.deepEqual(answers.map((m) => m.id), Array.from({ length: SYNCS }, (_, k) => `s${k}`));
    for (const m of answers) {
      // a shard slowed down by the big reads may have been declared down for a moment
      // (sanitizer builds under load): `unavailable` is the contract's retryable answer
      if (m.type === 'error' && m.code === 'unavailable') continue;
      assert.equal(m.type, 'ok', JSON.stringify(m).slice(0, 200));
      assert.equal(m.msgs.length, 30);
      oks++;
    }
    r.sock.destroy();
  }
  assert.ok(oks >= 1, 'the paused sockets got their syncs answered');
  await canary.ok('ping');
});

h.test('per-socket budget: 150 big syncs in one TCP write are held, then all answered in order', async (t, c) => {
  // each sync of limit 500 counts 9 MiB against the 4 MiB socket budget: one at a time
  const conv = 'dm:canary:peer';
  const r = new RawWs(c.gwPorts[0]);
  await r.open(tok.canary);
  const N = 150;
  r.sock.write(Buffer.concat(Array.from({ length: N }, (_, k) => maskedFrame(JSON.stringify({ type: 'sync', id: `q${k}`, conv, limit: 500 })))));
  const answersOf = () => r.messages.filter((m) => /^q\d+$/.test(m.id));
  await waitFor(`${N} answers`, () => r.dead || answersOf().length === N, { timeoutMs: 60000, intervalMs: 50 });
  assert.ok(!r.dead, 'the socket stays open');
  assert.deepEqual(answersOf().map((m) => m.id), Array.from({ length: N }, (_, k) => `q${k}`));
  for (const m of answersOf()) assert.equal(m.type, 'ok', JSON.stringify(m).slice(0, 200));
  r.sock.destroy();
});
