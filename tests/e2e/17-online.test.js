'use strict';
// Online means online (issue 7.2, PROTOCOL.md "Presence"): a user is online from the
// moment its `auth` is answered `ok` — a `presence` request sent right after the ok,
// through another gateway, already says `online: true`, and contacts get the `presence`
// event within 1 s. The same for a silent socket that sends a frame again. Going offline
// stays batched (12-presence covers it).
//
// Every login here is of a user that is offline at its shard (never online before, or
// its offline already announced), so nothing (a flap window, an earlier report) can make
// a slow online look fast. Gateways run with --presence-timeout 2000 so that a silent
// socket goes offline within seconds, and --idle-close 60000 so that it stays open.
const assert = require('node:assert/strict');
const { setup, uid } = require('./lib/harness');
const { createUser, login, Client, WebSocket } = require('./lib/client');
const { waitFor } = require('./lib/cluster');

const PRESENCE_TIMEOUT = 2000;
const ROUNDS = 3; // every fresh user logs in once per round: 30 logins in a row
const h = setup({
  shards: 2,
  gateways: 2,
  gatewayArgs: ['--presence-timeout', String(PRESENCE_TIMEOUT), '--idle-close', '60000'],
});

const name = (u) => `on_${u}`;
const FRESH_USERS = Array.from({ length: 10 }, (_, i) => `b${i}`);
const FRESH = ROUNDS * FRESH_USERS.length;
const USERS = ['alice', ...FRESH_USERS, 'silent', 'replaced', 'multi'];
const tok = {};

const dm = (x, y) => {
  const [p, q] = [name(x), name(y)].sort();
  return `dm:${p}:${q}`;
};

const online = (user) => (f) => f.type === 'presence' && f.user === name(user) && f.online === true;
const offline = (user) => (f) => f.type === 'presence' && f.user === name(user) && f.online === false;

async function query(client, users) {
  const a = await client.ok('presence', { users: users.map(name) });
  assert.ok(Array.isArray(a.presence), JSON.stringify(a));
  return a.presence;
}

h.before(async (c) => {
  // Argon2id dominates the setup: two users at a time, one per gateway.
  await Promise.all([0, 1].map(async (gw) => {
    for (const x of USERS.filter((_, i) => i % 2 === gw)) {
      await createUser(c.httpUrl(gw), name(x));
      tok[x] = await login(c.httpUrl(gw), name(x), 'dev1');
    }
  }));
  // One dm message from alice to each: every user shares a conversation with alice.
  // Wait until each partner's shard indexed it (it shows in alice's presence answer).
  const a = await Client.open(c.wsUrl(0), tok.alice, { label: 'setup alice' });
  const others = USERS.filter((x) => x !== 'alice');
  for (const x of others) await a.ok('send', { conv: dm('alice', x), client_msg_id: uid(), text: 'hi' });
  await waitFor('every partner visible to alice', async () => (await query(a, others)).length === others.length,
    { timeoutMs: 10000, intervalMs: 100 });
  const ps = await query(a, others);
  assert.deepEqual(ps.filter((p) => p.online), [], 'nobody but alice was ever online');
  a.close();
});

h.test(`online at once after auth, across gateways: ${FRESH} logins in a row`, async (t, c) => {
  const alice = await Client.open(c.wsUrl(0), tok.alice, { label: 'alice@gw0' });
  const late = [];
  const slowEvents = [];
  for (let round = 0; round < ROUNDS; round++) {
    const open = [];
    for (const b of FRESH_USERS) {
      const bob = await Client.connect(c.wsUrl(1), { label: `${b}@gw1 round ${round}` });
      open.push(bob);
      const auth = await bob.auth(tok[b]);
      const okAt = Date.now();
      assert.equal(auth.type, 'ok', `${b}: auth ${JSON.stringify(auth)}`);
      // at once: nothing awaited between reading the auth ok and sending the request
      const [p] = await query(alice, [b]);
      assert.equal(p?.user, name(b), `${b} in alice's answer: ${JSON.stringify(p)}`);
      if (p.online !== true) late.push(`round ${round} ${b}: ${JSON.stringify(p)}`);
      else assert.equal(typeof p.last_seen, 'number', JSON.stringify(p));
      // the event reaches the contact within 1 s of the auth ok (often before it)
      try {
        const ev = await alice.nextEvent(online(b), Math.max(1, okAt + 1000 - Date.now()), `${b} online event`);
        assert.deepEqual(Object.keys(ev).sort(), ['last_seen', 'online', 'type', 'user']);
      } catch (e) {
        slowEvents.push(`round ${round}: ${e.message}`);
      }
    }
    if (round + 1 === ROUNDS) break;
    // all of them offline again, announced (so the shard holds nothing pending)
    for (const bob of open) bob.close();
    await Promise.all(FRESH_USERS.map((b) => alice.nextEvent(offline(b), 8000, `${b} offline event`)));
    const ps = await query(alice, FRESH_USERS);
    assert.deepEqual(ps.filter((p) => p.online), [], 'every fresh user offline before the next round');
  }
  assert.deepEqual(late, [], `presence said offline right after the auth ok for ${late.length} of ${FRESH} logins`);
  assert.deepEqual(slowEvents, [], `no online event within 1 s for ${slowEvents.length} of ${FRESH} logins`);
});

h.test('several sockets of a user authenticating at once, on both gateways, are each online from their ok', async (t, c) => {
  const alice = await Client.open(c.wsUrl(0), tok.alice, { label: 'alice@gw0' });
  const socks = await Promise.all(Array.from({ length: 6 }, (_, i) =>
    Client.connect(c.wsUrl(i % 2), { label: `multi#${i}@gw${i % 2}` })));
  // all auths in flight together: the later ones may find the first one's report in flight
  const answers = await Promise.all(socks.map(async (s) => {
    const a = await s.auth(tok.multi);
    return [a, (await query(alice, ['multi']))[0]];
  }));
  for (const [a, p] of answers) {
    assert.equal(a.type, 'ok', JSON.stringify(a));
    assert.equal(p?.online, true, `online right after an auth ok: ${JSON.stringify(p)}`);
  }
  await alice.nextEvent(online('multi'), 1000, 'multi online event');
  await alice.expectNoEvent(online('multi'), 300, 'a second online event for multi');
});

h.test('a silent socket that sends a frame again is online at once', async (t, c) => {
  const alice = await Client.open(c.wsUrl(0), tok.alice, { label: 'alice@gw0' });
  // a socket that answers no pings and sends nothing after its auth
  const ws = new WebSocket(c.wsUrl(1), { perMessageDeflate: false, autoPong: false });
  const silent = new Client(ws, 'silent@gw1 (no pongs)');
  await new Promise((resolve, reject) => {
    ws.once('open', resolve);
    ws.once('error', reject);
  });
  const a = await silent.auth(tok.silent);
  assert.equal(a.type, 'ok', JSON.stringify(a));
  await alice.nextEvent(online('silent'), 5000, 'silent online event');
  // silence: offline (timeout + report + flap window, within the contract's 35 s)
  await alice.nextEvent(offline('silent'), PRESENCE_TIMEOUT + 6000, 'silent offline after its silence');
  assert.equal((await query(alice, ['silent']))[0].online, false);
  assert.ok(silent.isOpen, 'a silent socket stays open');

  await silent.ok('ping');
  const okAt = Date.now();
  const [p1] = await query(alice, ['silent']);
  assert.equal(p1.online, true, `online right after its next frame: ${JSON.stringify(p1)}`);
  await alice.nextEvent(online('silent'), Math.max(1, okAt + 1000 - Date.now()), 'silent online event within 1 s of its frame');
  silent.close();
});

h.test('an auth with a replaced token makes nobody online', async (t, c) => {
  const alice = await Client.open(c.wsUrl(0), tok.alice, { label: 'alice@gw0' });
  const old = tok.replaced;
  tok.replaced = await login(c.httpUrl(0), name('replaced'), 'dev1'); // same device: replaces it
  for (const gw of [0, 1]) {
    const cl = await Client.connect(c.wsUrl(gw), { label: `replaced@gw${gw}` });
    const a = await cl.auth(old);
    assert.equal(a.type, 'error', JSON.stringify(a));
    assert.equal(a.code, 'unauthenticated');
    assert.equal((await cl.waitClosed()).code, 4401);
    const [p] = await query(alice, ['replaced']);
    assert.deepEqual(p, { user: name('replaced'), online: false, last_seen: null });
  }
  await alice.expectNoEvent(online('replaced'), 1200, 'online event for a refused auth');
  // the new token works, and is online at once
  const ok = await Client.open(c.wsUrl(1), tok.replaced, { label: 'replaced@gw1' });
  assert.equal((await query(alice, ['replaced']))[0].online, true);
  ok.close();
});
