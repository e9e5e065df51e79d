'use strict';
// Logging out (PROTOCOL.md §2, issue 7.5): DELETE /v1/sessions revokes the bearer token's
// device, ?all=1 every device of the user; sockets authenticated with a revoked or
// replaced token are closed with 4401 within 1 s, on every gateway; a revoked token's
// next auth fails. Two gateways, two shards.
const assert = require('node:assert/strict');
const http = require('node:http');
const { setup } = require('./lib/harness');
const { httpRequest, createUser, login, Client } = require('./lib/client');
const { shardOfUser, shardOfConv, dmId, pickNames } = require('./lib/slots');

const h = setup();
const CLOSE_MS = 1000; // the contract's bound, measured from the 204 / the 200 of a re-login

function logout(baseUrl, token, query = '', headers = undefined) {
  return httpRequest(baseUrl, 'DELETE', `/v1/sessions${query}`, undefined, {
    headers: headers ?? { authorization: `Bearer ${token}` },
  });
}

function assert204(r, what) {
  assert.equal(r.status, 204, `${what}: expected 204, got ${r.status} ${r.text}`);
  assert.equal(r.text, '', `${what}: 204 has no body`);
  assert.equal(r.headers['content-length'], undefined, `${what}: 204 has no Content-Length`);
}

function assert401(r, what) {
  assert.equal(r.status, 401, `${what}: expected 401, got ${r.status} ${r.text}`);
  assert.equal(r.json?.error, 'unauthenticated', `${what}: body ${r.text}`);
  assert.equal(typeof r.json.message, 'string', `${what}: message`);
}

// Every socket in socks is closed by the server with 4401 within ms (all waited at once).
async function assertAllClosed4401(socks, ms, what) {
  const infos = await Promise.all(socks.map((s) => s.waitClosed(ms).catch((e) => {
    e.message = `${what}: ${e.message}`;
    throw e;
  })));
  for (const [i, ci] of infos.entries()) assert.equal(ci.code, 4401, `${what}: socket ${socks[i].label} closed with ${ci.code}`);
}

// The socket is open and answers requests.
async function assertAlive(ws, what) {
  assert.ok(ws.isOpen, `${what}: ${ws.label} is open (${JSON.stringify(ws.closeInfo)})`);
  const a = await ws.request('ping');
  assert.equal(a.type, 'ok', `${what}: ${ws.label} ping -> ${JSON.stringify(a)}`);
}

// A fresh socket on gateway gw: auth with token gets unauthenticated and close 4401.
async function assertAuthRefused(c, gw, token, what) {
  const ws = await Client.connect(c.wsUrl(gw), { label: `${what} gw${gw}` });
  const a = await ws.auth(token);
  assert.equal(a.type, 'error', `${what} gw${gw}: auth -> ${JSON.stringify(a)}`);
  assert.equal(a.code, 'unauthenticated', `${what} gw${gw}: auth -> ${JSON.stringify(a)}`);
  assert.equal((await ws.waitClosed()).code, 4401, `${what} gw${gw}: close code`);
}

const open = (c, gw, token, label) => Client.open(c.wsUrl(gw), token, { label: `${label}@gw${gw}` });

h.test('DELETE /v1/sessions: that device\'s sockets on both gateways close 4401 within 1 s; other devices stay', async (t, c) => {
  await createUser(c.httpUrl(0), 'lo_one');
  await createUser(c.httpUrl(0), 'lo_other');
  const phone = await login(c.httpUrl(0), 'lo_one', 'phone');
  const laptop = await login(c.httpUrl(1), 'lo_one', 'laptop');
  const other = await login(c.httpUrl(0), 'lo_other', 'phone');
  const phones = [await open(c, 0, phone, 'phone'), await open(c, 1, phone, 'phone'), await open(c, 1, phone, 'phone2')];
  const laptops = [await open(c, 0, laptop, 'laptop'), await open(c, 1, laptop, 'laptop')];
  const others = [await open(c, 0, other, 'other'), await open(c, 1, other, 'other')];

  const r = await logout(c.httpUrl(1), phone);
  assert204(r, 'logout of phone');
  await assertAllClosed4401(phones, CLOSE_MS, 'phone sockets after logout');
  for (const ws of [...laptops, ...others]) await assertAlive(ws, 'after the phone logout');
  // The revoked token no longer authenticates, on either gateway, nor logs out again.
  for (const gw of [0, 1]) await assertAuthRefused(c, gw, phone, 'revoked phone token');
  assert401(await logout(c.httpUrl(0), phone), 'second logout with the revoked token');
  // The laptop token is untouched; a new login of the phone works again.
  await assertAlive(await open(c, 0, laptop, 'laptop-new'), 'laptop token after phone logout');
  const phone2 = await login(c.httpUrl(0), 'lo_one', 'phone');
  await assertAlive(await open(c, 1, phone2, 'phone-new'), 'new phone token');
});

h.test('DELETE /v1/sessions?all=1: every device of the user closes 4401 within 1 s, everywhere', async (t, c) => {
  await createUser(c.httpUrl(0), 'lo_all');
  await createUser(c.httpUrl(0), 'lo_bystander');
  const toks = {};
  for (const d of ['phone', 'laptop', 'tablet.2']) toks[d] = await login(c.httpUrl(0), 'lo_all', d);
  const by = await login(c.httpUrl(1), 'lo_bystander', 'phone');
  const socks = [];
  for (const [d, tok] of Object.entries(toks)) for (const gw of [0, 1]) socks.push(await open(c, gw, tok, d));
  const bystander = [await open(c, 0, by, 'bystander'), await open(c, 1, by, 'bystander')];
  // A message between the two users, so they share a conversation (events flow both ways).
  await bystander[0].ok('send', { conv: 'dm:lo_all:lo_bystander', client_msg_id: 'x1', text: 'hi' });

  assert204(await logout(c.httpUrl(0), toks.laptop, '?all=1'), 'logout all');
  await assertAllClosed4401(socks, CLOSE_MS, 'every socket of lo_all');
  for (const ws of bystander) await assertAlive(ws, 'bystander after lo_all logged out everywhere');
  for (const [d, tok] of Object.entries(toks)) {
    for (const gw of [0, 1]) await assertAuthRefused(c, gw, tok, `${d} token after all=1`);
    assert401(await logout(c.httpUrl(1), tok), `logout with ${d} token after all=1`);
    assert401(await logout(c.httpUrl(1), tok, '?all=1'), `logout all with ${d} token after all=1`);
  }
  // The password still works: a fresh login gets a working token.
  const again = await login(c.httpUrl(1), 'lo_all', 'phone');
  await assertAlive(await open(c, 0, again, 'phone-again'), 'fresh login after all=1');
});

h.test('a new login with the same device name closes the old token\'s sockets within 1 s, on both gateways', async (t, c) => {
  await createUser(c.httpUrl(0), 'lo_relog');
  const old = await login(c.httpUrl(0), 'lo_relog', 'phone');
  const laptop = await login(c.httpUrl(0), 'lo_relog', 'laptop');
  const olds = [await open(c, 0, old, 'old'), await open(c, 1, old, 'old')];
  const laptops = [await open(c, 0, laptop, 'laptop'), await open(c, 1, laptop, 'laptop')];

  const fresh = await login(c.httpUrl(1), 'lo_relog', 'phone');
  assert.notEqual(fresh, old);
  await assertAllClosed4401(olds, CLOSE_MS, 'sockets of the replaced token');
  for (const ws of laptops) await assertAlive(ws, 'other device after the re-login');
  // Sockets of the new token are not hit by the replacement of the old one.
  const news = [await open(c, 0, fresh, 'fresh'), await open(c, 1, fresh, 'fresh')];
  for (const ws of news) await assertAlive(ws, 'new token');
  for (const gw of [0, 1]) await assertAuthRefused(c, gw, old, 'replaced token');
  assert401(await logout(c.httpUrl(0), old), 'logout with the replaced token');
  for (const ws of [...news, ...laptops]) await assertAlive(ws, 'after the refused logout');
});

h.test('DELETE /v1/sessions with a missing, malformed or unknown token: 401, nothing changes', async (t, c) => {
  await createUser(c.httpUrl(0), 'lo_bad');
  const tok = await login(c.httpUrl(0), 'lo_bad', 'phone');
  const socks = [await open(c, 0, tok, 'phone'), await open(c, 1, tok, 'phone')];
  const secret = tok.split('.').pop();
  const flipped = tok.slice(0, -1) + (tok.endsWith('A') ? 'B' : 'A');
  const cases = [
    [{}, 'no Authorization header'],
    [{ authorization: '' }, 'empty Authorization'],
    [{ authorization: `Basic ${Buffer.from('lo_bad:password123').toString('base64')}` }, 'Basic scheme'],
    [{ authorization: tok }, 'token without a scheme'],
    [{ authorization: 'Bearer' }, 'Bearer without a token'],
    [{ authorization: 'Bearer not-a-token' }, 'malformed token'],
    [{ authorization: `Bearer ${flipped}` }, 'one character changed'],
    [{ authorization: `Bearer ${tok}x` }, 'one character added'],
    [{ authorization: `Bearer lo_bad.laptop.${secret}` }, 'secret of another device name'],
    [{ authorization: `Bearer lo_ghost.phone.${secret}` }, 'unknown user'],
    [{ authorization: `Bearer ${'a'.repeat(300)}` }, 'long junk'],
  ];
  for (const [headers, what] of cases) {
    for (const q of ['', '?all=1']) {
      const r = await logout(c.httpUrl(1), null, q, headers);
      assert401(r, `${what}${q}`);
      assert.equal(r.headers['www-authenticate'], 'Bearer', `${what}${q}: WWW-Authenticate`);
    }
  }
  // A bad `all` value is a 400, also with a good token, and changes nothing either.
  for (const q of ['?all=yes', '?all=2', '?all', '?all=1&all=0']) {
    const r = await logout(c.httpUrl(0), tok, q);
    assert.equal(r.status, 400, `${q}: ${r.status} ${r.text}`);
    assert.equal(r.json?.error, 'bad_request', `${q}: ${r.text}`);
  }
  for (const ws of socks) await assertAlive(ws, 'after the refused logouts');
  await assertAlive(await open(c, 1, tok, 'phone-new'), 'token still authenticates');
  // The scheme is case-insensitive (RFC 9110 §11.1) and ?all=0 means this device only.
  assert204(await logout(c.httpUrl(0), null, '?all=0', { authorization: `bearer  ${tok}` }), 'lower-case scheme');
  await assertAllClosed4401(socks, CLOSE_MS, 'after the real logout');
});

h.test('HTTP: 204 keeps the connection alive; method handling of other paths is unchanged', async (t, c) => {
  await createUser(c.httpUrl(0), 'lo_http');
  const tok = await login(c.httpUrl(0), 'lo_http', 'phone');
  // DELETE then GET on one keep-alive connection.
  const agent = new http.Agent({ keepAlive: true, maxSockets: 1 });
  const sockets = new Set();
  const req = (method, path, headers = {}) => new Promise((resolve, reject) => {
    const r = http.request(new URL(path, c.httpUrl(1)), { method, agent, headers }, (res) => {
      sockets.add(res.socket);
      let text = '';
      res.on('data', (d) => { text += d; });
      res.on('end', () => resolve({ status: res.statusCode, text }));
    });
    r.on('error', reject);
    r.end();
  });
  try {
    const d = await req('DELETE', '/v1/sessions', { authorization: `Bearer ${tok}` });
    assert.equal(d.status, 204, d.text);
    assert.equal(d.text, '');
    const g = await req('GET', '/v1/health');
    assert.equal(g.status, 200, g.text);
    assert.equal(sockets.size, 1, 'both requests on one connection');
  } finally {
    agent.destroy();
  }
  // Other paths and methods answer as before.
  const expect = [
    ['DELETE', '/v1/users', 405], ['DELETE', '/v1/health', 405], ['DELETE', '/v1/ws', 405],
    ['DELETE', '/nope', 405], ['DELETE', '/v1/sessions/x', 405], ['PUT', '/v1/sessions', 405],
    ['GET', '/v1/sessions', 405], ['GET', '/nope', 404],
  ];
  for (const [method, path, status] of expect) {
    const r = await httpRequest(c.httpUrl(0), method, path, undefined, { headers: { authorization: `Bearer ${tok}` } });
    assert.equal(r.status, status, `${method} ${path}: ${r.status} ${r.text}`);
    assert.ok(r.json && typeof r.json.error === 'string', `${method} ${path}: error body ${r.text}`);
  }
  // POST /v1/sessions still logs in; a DELETE with a body ignores it.
  const tok2 = await login(c.httpUrl(0), 'lo_http', 'phone');
  const ws = await open(c, 0, tok2, 'phone');
  const r = await httpRequest(c.httpUrl(0), 'DELETE', '/v1/sessions', { user: 'lo_http', password: 'password123', device: 'phone' },
    { headers: { authorization: `Bearer ${tok2}` } });
  assert204(r, 'DELETE with a JSON body');
  assert.equal((await ws.waitClosed(CLOSE_MS)).code, 4401);
});

h.test('an auth in flight during the logout never leaves a socket open with the revoked token', async (t, c) => {
  await createUser(c.httpUrl(0), 'lo_race');
  for (let round = 0; round < 3; round++) {
    const tok = await login(c.httpUrl(round % 2), 'lo_race', 'phone');
    const socks = [];
    for (let i = 0; i < 8; i++) socks.push(await Client.connect(c.wsUrl(i % 2), { label: `race${round}.${i}@gw${i % 2}` }));
    // The auths go out, and the logout right behind them, without waiting for anything.
    const auths = socks.map((ws) => ws.auth(tok).catch((e) => ({ type: 'closed', message: e.message })));
    const r = await logout(c.httpUrl(round % 2 ? 0 : 1), tok);
    assert204(r, `round ${round}: logout`);
    const answers = await Promise.all(auths);
    for (const [i, a] of answers.entries()) {
      if (a.type === 'error') assert.equal(a.code, 'unauthenticated', `round ${round} socket ${i}: ${JSON.stringify(a)}`);
      else assert.ok(a.type === 'ok' || a.type === 'closed', `round ${round} socket ${i}: ${JSON.stringify(a)}`);
    }
    // Whatever its auth answer, every socket is closed 4401 within the bound.
    await assertAllClosed4401(socks, CLOSE_MS, `round ${round}`);
  }
});

h.test('?all=1 is found among other URL arguments; other arguments and names are ignored', async (t, c) => {
  await createUser(c.httpUrl(0), 'lo_args');
  // [query, every device logged out?]
  const cases = [['?&all=1', true], [`?foo=${'z'.repeat(100)}&all=1`, true], ['?all=%31', true],
    ['?a=1&b=2&all=1&c', true], ['?ALL=1', false], ['?x=all%3D1', false], ['?all=0&x=1', false]];
  for (const [q, everyDevice] of cases) {
    const a = await login(c.httpUrl(0), 'lo_args', 'a');
    const b = await login(c.httpUrl(0), 'lo_args', 'b');
    const wa = await open(c, 0, a, `a${q}`);
    const wb = await open(c, 1, b, `b${q}`);
    assert204(await logout(c.httpUrl(1), a, q), q);
    await assertAllClosed4401(everyDevice ? [wa, wb] : [wa], CLOSE_MS, q);
    if (!everyDevice) await assertAlive(wb, `${q}: the other device`);
    wb.close();
  }
});

h.test('a revoked socket still waiting for an answer (frozen shard) is closed 4401 within 1 s', async (t, c) => {
  // The user's shard (0) stays up; the dm's shard (1) is frozen, so a sync stays unanswered.
  const [a, b] = pickNames(['lo_fz', 'lo_fzb'], (x, y) => shardOfUser(x) === 0 && shardOfUser(y) === 0 &&
    shardOfConv(dmId(x, y)) === 1);
  await createUser(c.httpUrl(0), a);
  await createUser(c.httpUrl(0), b);
  const tok = await login(c.httpUrl(0), a, 'phone');
  const ws = await open(c, 0, tok, 'phone');
  const conv = dmId(a, b);
  await ws.ok('send', { conv, client_msg_id: 'f1', text: 'before the freeze' });
  c.signal('shard', 1, 'SIGSTOP');
  try {
    const due = ws.request('sync', { conv }).then((f) => f, (e) => e); // never answered
    assert204(await logout(c.httpUrl(1), tok), 'logout with an answer due');
    await assertAllClosed4401([ws], CLOSE_MS, 'revoked socket with an answer due');
    assert.ok((await due) instanceof Error, 'the sync got no answer');
  } finally {
    c.signal('shard', 1, 'SIGCONT');
  }
});
