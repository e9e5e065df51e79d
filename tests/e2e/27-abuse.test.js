'use strict';
// Abuse limits (issue 12 item 4, docs/reliability.md "Abuse"): the Origin allow-list of
// WebSocket upgrades, the device cap per user, per-account password guessing, the
// per-user send budget across sockets and gateways. Slowloris: 28-slowloris.
const assert = require('node:assert/strict');
const http = require('node:http');
const { setup } = require('./lib/harness');
const { createUser, login, httpRequest, Client } = require('./lib/client');
const { waitFor } = require('./lib/cluster');
const { dmId } = require('./lib/slots');

const ORIGINS = 'https://chat.example, https://web.example:8443';
// Small limits so that the test is quick; the defaults (32 devices, 10 guesses + 6/min,
// 1000 sends + 300/s) are in parley.conf.example and `parley-shard --help`.
const MAX_DEVICES = 3;
const GUESS_BURST = 3;
const SEND_BURST = 20;
const SEND_PER_SEC = 5;
const h = setup({
  config: {
    gateway: { 'allowed-origins': ORIGINS },
    shard: {
      'max-devices': MAX_DEVICES, 'guess-burst': GUESS_BURST, 'guess-per-min': 12,
      'user-send-burst': SEND_BURST, 'user-send-per-sec': SEND_PER_SEC,
    },
  },
});

// A raw upgrade request: resolves the HTTP status (101 when upgraded).
function upgrade(baseUrl, headers) {
  return new Promise((resolve, reject) => {
    const req = http.request(new URL('/v1/ws', baseUrl), {
      agent: false,
      timeout: 10000,
      headers: {
        Connection: 'Upgrade', Upgrade: 'websocket', 'Sec-WebSocket-Version': '13',
        'Sec-WebSocket-Key': 'dGhlIHNhbXBsZSBub25jZQ==', ...headers,
      },
    });
    req.on('upgrade', (res, socket) => { socket.destroy(); resolve(res.statusCode); });
    req.on('response', (res) => { res.resume(); resolve(res.statusCode); });
    req.on('timeout', () => req.destroy(new Error('upgrade: no answer within 10 s')));
    req.on('error', reject);
    req.end();
  });
}

h.before(async (c) => {
  for (const u of ['ab_origin', 'ab_dev', 'ab_guess', 'ab_other', 'ab_send', 'ab_peer']) await createUser(c.httpUrl(0), u);
});

h.test('allowed-origins: a listed Origin or none upgrades, any other gets 403', async (t, c) => {
  for (const gw of [0, 1]) {
    const u = c.httpUrl(gw);
    assert.equal(await upgrade(u, {}), 101, 'no Origin (a native app) is always allowed');
    assert.equal(await upgrade(u, { Origin: 'https://chat.example' }), 101, 'a listed Origin');
    assert.equal(await upgrade(u, { Origin: 'HTTPS://Chat.Example' }), 101, 'scheme and host are case-insensitive');
    assert.equal(await upgrade(u, { Origin: 'https://web.example:8443' }), 101, 'a listed Origin with a port');
    assert.equal(await upgrade(u, { Origin: 'https://evil.example' }), 403, 'an unlisted Origin');
    assert.equal(await upgrade(u, { Origin: 'https://web.example' }), 403, 'the port is part of the Origin');
    assert.equal(await upgrade(u, { Origin: 'https://chat.example.evil.example' }), 403, 'no prefix match');
    assert.equal(await upgrade(u, { Origin: 'null' }), 403, 'an opaque origin');
    assert.equal(await upgrade(u, { Origin: 'x'.repeat(2000) }), 403, 'a huge Origin');
  }
  // A browser-like client from a listed origin works end to end.
  const token = await login(c.httpUrl(0), 'ab_origin', 'web');
  const ws = await Client.open(c.wsUrl(0), token, { label: 'ab_origin' });
  await ws.ok('ping');
  ws.close();
  // Plain HTTP requests are not affected by the WebSocket Origin list.
  const r = await httpRequest(c.httpUrl(0), 'GET', '/v1/health', undefined, { headers: { Origin: 'https://evil.example' } });
  assert.equal(r.status, 200);
});

h.test(`max-devices: login of device ${MAX_DEVICES + 1} revokes the least recently used token (4401 on its socket)`, async (t, c) => {
  const u = 'ab_dev';
  const tok = {};
  for (let i = 0; i < MAX_DEVICES; i++) tok[`d${i}`] = await login(c.httpUrl(i % 2), u, `d${i}`);
  // Use d0 and d2 now: d1 is the least recently used.
  const socks = {};
  for (const d of ['d1', 'd0', 'd2']) socks[d] = await Client.open(c.wsUrl(d === 'd2' ? 1 : 0), tok[d], { label: `${u}/${d}` });
  // Logging in again with a device that holds a token replaces it and evicts nothing.
  tok.d2 = await login(c.httpUrl(0), u, 'd2');
  const closed2 = await socks.d2.waitClosed(3000);
  assert.equal(closed2.code, 4401, 'the replaced token of d2 is closed');
  socks.d2 = await Client.open(c.wsUrl(1), tok.d2, { label: `${u}/d2'` });
  assert.equal(socks.d0.closeInfo, null, 'd0 still open');
  assert.equal(socks.d1.closeInfo, null, 'd1 still open');
  // One device more: d1 (least recently used) is revoked, its socket closed within 1 s.
  const t0 = Date.now();
  tok.d3 = await login(c.httpUrl(1), u, 'd3');
  const closed = await socks.d1.waitClosed(3000);
  assert.equal(closed.code, 4401, 'the evicted device is closed with 4401');
  assert.ok(Date.now() - t0 < 2500, `closed ${Date.now() - t0} ms after the login`);
  const again = await Client.connect(c.wsUrl(0), { label: `${u}/d1 again` });
  const a = await again.auth(tok.d1);
  assert.equal(a.code, 'unauthenticated', 'the evicted token is void');
  await again.waitClosed(3000);
  for (const d of ['d0', 'd2', 'd3']) {
    const ws = d === 'd3' ? await Client.open(c.wsUrl(0), tok.d3, { label: `${u}/d3` }) : socks[d];
    await ws.ok('ping');
    assert.equal(ws.closeInfo, null, `${d} still open`);
  }
});

h.test('password guessing is slowed per account, across gateways and addresses; other accounts unaffected', async (t, c) => {
  const u = 'ab_guess';
  const attempt = (gw, password, headers = {}) => httpRequest(c.httpUrl(gw), 'POST', '/v1/sessions',
    { user: u, password, device: 'x' }, { headers });
  // Successful logins give their token back: more than the burst in a row all succeed.
  for (let i = 0; i < GUESS_BURST + 2; i++) assert.equal((await attempt(i % 2, 'password123')).status, 200);
  for (let i = 0; i < GUESS_BURST; i++) {
    const r = await attempt(i % 2, `wrong-${i}-pass`);
    assert.equal(r.status, 401, `wrong password ${i}: ${r.status} ${r.text}`);
  }
  // The account's budget is empty: refused on either gateway, even with the right password.
  for (const gw of [0, 1]) {
    const r = await attempt(gw, 'password123');
    assert.equal(r.status, 429, `gateway ${gw}: ${r.status} ${r.text}`);
    assert.equal(r.json.error, 'rate_limited');
    assert.ok(Number(r.headers['retry-after']) >= 1, `Retry-After: ${r.headers['retry-after']}`);
  }
  // Another account is not affected.
  assert.equal((await httpRequest(c.httpUrl(0), 'POST', '/v1/sessions', { user: 'ab_other', password: 'password123', device: 'x' })).status, 200);
  // The budget refills (here 1 every 5 s): the right password works again.
  await waitFor('a login after the refill', async () => (await attempt(1, 'password123')).status === 200,
    { timeoutMs: 12000, intervalMs: 500 });
});

h.test('per-user send budget counts every socket and gateway of the user; others unaffected', async (t, c) => {
  const conv = dmId('ab_peer', 'ab_send');
  const tA = await login(c.httpUrl(0), 'ab_send', 'a');
  const tB = await login(c.httpUrl(1), 'ab_send', 'b');
  const tP = await login(c.httpUrl(0), 'ab_peer', 'p');
  const a = await Client.open(c.wsUrl(0), tA, { label: 'ab_send/a' });
  const b = await Client.open(c.wsUrl(1), tB, { label: 'ab_send/b' });
  const p = await Client.open(c.wsUrl(1), tP, { label: 'ab_peer/p' });
  // 2 sockets on 2 gateways, 2 x SEND_BURST sends at once: each socket alone is far under
  // the per-socket rate limit (1000), together they are over the user's budget.
  const t0 = Date.now();
  const answers = await Promise.all([a, b].flatMap((ws, k) => Array.from({ length: SEND_BURST },
    (_, i) => ws.request('send', { conv, client_msg_id: `s${k}-${i}`, text: `burst ${k} ${i}` }))));
  const elapsed = (Date.now() - t0) / 1000;
  const oks = answers.filter((x) => x.type === 'ok');
  const limited = answers.filter((x) => x.type === 'error');
  for (const x of limited) assert.equal(x.code, 'rate_limited', JSON.stringify(x));
  assert.ok(limited.length > 0, 'some sends over the budget are refused');
  assert.ok(oks.length >= SEND_BURST, `at least the burst goes through (${oks.length})`);
  assert.ok(oks.length <= SEND_BURST + Math.ceil(elapsed * SEND_PER_SEC) + 1,
    `${oks.length} oks in ${elapsed} s is over the budget`);
  // The other member is not limited by the sender's budget.
  await p.ok('send', { conv, client_msg_id: 'peer-1', text: 'from the peer' });
  // Refused sends stored nothing: the conversation holds the ok ones and the peer's.
  const s = await p.ok('sync', { conv, limit: 500 });
  assert.equal(s.msgs.length, oks.length + 1);
  // The budget refills.
  await waitFor('a send after the refill', async () =>
    (await a.request('send', { conv, client_msg_id: 'after', text: 'later' })).type === 'ok', { timeoutMs: 5000, intervalMs: 250 });
});
