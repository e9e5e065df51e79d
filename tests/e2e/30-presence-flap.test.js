'use strict';
// Presence flap coalescing at the shard's default window (PROTOCOL.md "Presence",
// docs/protocol.md: a user back within 2 s shows no offline blip; offline is pushed within
// 5 s of closing). Its own cluster: the other e2e files run with a 300 ms window
// (cluster.js presenceFlapMs) so that their waits for an offline are short; this one
// passes none, so the shard runs its default (--presence-flap-ms 2000). The rest of
// presence is 12-presence.
const assert = require('node:assert/strict');
const { setup, uid } = require('./lib/harness');
const { createUser, login, Client } = require('./lib/client');
const { waitFor } = require('./lib/cluster');
const presence = require('./lib/presence');
const { closeAfterPing } = presence;

const h = setup({ shards: 2, gateways: 2, presenceFlapMs: null });

const tok = {};
const name = (u) => `p${u}user`; // valid names of 3+ characters
const SKEW = 50; // ms: a server last_seen against a local clock reading (same machine)
const pres = (user, online, after = 0) => (f) => f.type === 'presence' && f.user === name(user) &&
  f.online === online && (f.last_seen ?? 0) >= after - SKEW;
const dm = (x, y) => {
  const [p, q] = [name(x), name(y)].sort();
  return `dm:${p}:${q}`;
};
const open = (c, gw, user, label = `${user}@gw${gw}`) => Client.open(c.wsUrl(gw), tok[user], { label });
// The asker's `presence` answer for names (plain user ids, mapped here).
const query = (client, users) => presence.query(client, users, name);

h.before(async (c) => {
  for (const x of ['a5', 'b5']) {
    await createUser(c.httpUrl(0), name(x));
    tok[x] = await login(c.httpUrl(0), name(x), 'dev1');
  }
  // one message makes the dm that makes them contacts; then b5 offline for good (its
  // setup socket's offline announced), so the test sees fresh events only
  const a = await open(c, 0, 'a5', 'setup a5');
  await a.ok('send', { conv: dm('a5', 'b5'), client_msg_id: uid(), text: 'hello' });
  await waitFor('b5 visible to a5', async () => (await query(a, ['b5'])).length === 1, { timeoutMs: 10000, intervalMs: 100 });
  const b = await open(c, 0, 'b5', 'setup b5');
  await waitFor('a5 visible to b5', async () => (await query(b, ['a5'])).length === 1, { timeoutMs: 10000, intervalMs: 100 });
  b.close();
  await waitFor('b5 offline after the setup', async () => (await query(a, ['b5']))[0]?.online === false,
    { timeoutMs: 10000, intervalMs: 100 });
  a.close();
});

h.test('a reconnect within 2 s shows no offline blip', async (t, c) => {
  const a = await open(c, 1, 'a5');
  const t0 = Date.now();
  const b = await open(c, 0, 'b5');
  await a.nextEvent(pres('b5', true, t0), 5000, 'b5 online event');
  const t1 = await closeAfterPing(b);
  await b.closed;
  const b2 = await open(c, 1, 'b5'); // the other gateway, as a phone changing networks would
  const [p] = await query(a, ['b5']);
  assert.equal(p.online, true);
  // a slower reconnect, about a second after the close (a scenario timing, not a wait)
  const t2 = await closeAfterPing(b2);
  await b2.closed;
  await new Promise((r) => setTimeout(r, 1000));
  const b3 = await open(c, 0, 'b5');
  const t3 = await closeAfterPing(b3);
  // The positive marker: b5's shard announces an offline FLAP + REPORT after the close it
  // describes, in the order of the closes, on one path to a's socket. A blip of either
  // flap (an offline of t1 or t2, an online after it) would have reached a before the
  // offline of the final close, t3 > t2 + 1 s > t1: it would be waiting in a's queue now.
  // (Every change of b5's state reaches its contact a as an event, so none means b5 stayed
  // online from its first open to t3.)
  const off = await a.nextEvent(pres('b5', false, t3), 5000, 'b5 offline after the final close');
  await a.expectNoEvent((f) => f.type === 'presence' && f.user === name('b5') && (f.last_seen ?? 0) >= t1 - SKEW,
    1, 'b5 presence event during a flap (before the final offline)');
  assert.ok(off.last_seen >= t3 - SKEW, `one offline, of the final close: ${JSON.stringify(off)}`);
});
