'use strict';
// Accounts over HTTP (PROTOCOL.md §2) and WebSocket authentication (§3, first frame).
const assert = require('node:assert/strict');
const { setup } = require('./lib/harness');
const { httpRequest, createUser, login, Client } = require('./lib/client');

// Real Argon2id cost (not the suite's minimum, lib/cluster.js): this file is about accounts
// and checks that hashing does not block the gateway.
const h = setup({ realPwhash: true });
const CODES = ['bad_request', 'unauthenticated', 'forbidden', 'not_found', 'too_large',
  'group_full', 'rate_limited', 'unavailable', 'internal'];

// HTTP error: status and a body {"error":"<code>","message":"<human text>"}.
function assertHttpError(r, status, what) {
  assert.equal(r.status, status, `${what}: expected ${status}, got ${r.status} ${r.text}`);
  assert.ok(r.json && typeof r.json === 'object', `${what}: error body is JSON: ${r.text}`);
  assert.equal(typeof r.json.error, 'string', `${what}: body.error is a string: ${r.text}`);
  assert.ok(r.json.error.length > 0, `${what}: body.error not empty`);
  assert.equal(typeof r.json.message, 'string', `${what}: body.message is a string: ${r.text}`);
  if (status === 400) assert.equal(r.json.error, 'bad_request', `${what}: 400 carries bad_request`);
  if (status === 401) assert.equal(r.json.error, 'unauthenticated', `${what}: 401 carries unauthenticated`);
}

h.test('GET /v1/health answers 200 {"ok":true} on every gateway', async (t, c) => {
  for (const i of [0, 1]) {
    const r = await httpRequest(c.httpUrl(i), 'GET', '/v1/health');
    assert.equal(r.status, 200, `gateway ${i}: ${r.status} ${r.text}`);
    assert.deepEqual(r.json, { ok: true });
  }
});

h.test('POST /v1/users creates accounts at the name and password bounds', async (t, c) => {
  const u = c.httpUrl(0);
  // 3 and 32 characters of [a-z0-9_]; passwords of 8 and 1024 bytes (8 bytes = 4 'é').
  await createUser(u, 'abc', 'éééé');
  await createUser(u, 'a_b_c_0123456789_abcdefghijklmno', 'x'.repeat(1024));
  assert.equal('a_b_c_0123456789_abcdefghijklmno'.length, 32);
  // Both can log in with exactly those passwords (the other gateway, too).
  await login(c.httpUrl(1), 'abc', 'phone', 'éééé');
  await login(u, 'a_b_c_0123456789_abcdefghijklmno', 'phone', 'x'.repeat(1024));
});

h.test('POST /v1/users rejects bad names and passwords with 400', async (t, c) => {
  const u = c.httpUrl(0);
  const bad = [
    [{ user: 'ab', password: 'password123' }, 'name of 2 chars'],
    [{ user: 'a'.repeat(33), password: 'password123' }, 'name of 33 chars'],
    [{ user: 'Alice', password: 'password123' }, 'upper case'],
    [{ user: 'al-ice', password: 'password123' }, 'hyphen'],
    [{ user: 'al ice', password: 'password123' }, 'space'],
    [{ user: 'alicé', password: 'password123' }, 'non-ASCII'],
    [{ user: '', password: 'password123' }, 'empty name'],
    [{ password: 'password123' }, 'missing user'],
    [{ user: 12345, password: 'password123' }, 'user not a string'],
    [{ user: 'okname', password: 'short77' }, 'password of 7 bytes'],
    [{ user: 'okname', password: 'ééé' + 'a' }, 'password of 7 bytes (4 chars)'],
    [{ user: 'okname', password: 'x'.repeat(1025) }, 'password of 1025 bytes'],
    [{ user: 'okname' }, 'missing password'],
    [{ user: 'okname', password: 12345678 }, 'password not a string'],
  ];
  for (const [body, what] of bad) {
    const r = await httpRequest(u, 'POST', '/v1/users', body);
    assertHttpError(r, 400, what);
  }
  assertHttpError(await httpRequest(u, 'POST', '/v1/users', '{"user":"okname",'), 400, 'invalid JSON');
  assertHttpError(await httpRequest(u, 'POST', '/v1/users', '["okname"]'), 400, 'JSON array');
  // None of these created "okname": creating it now works.
  await createUser(u, 'okname');
});

h.test('POST /v1/users with a taken name answers 409, from either gateway', async (t, c) => {
  await createUser(c.httpUrl(0), 'taken1');
  assertHttpError(await httpRequest(c.httpUrl(0), 'POST', '/v1/users', { user: 'taken1', password: 'other-password' }), 409, 'taken (gw0)');
  assertHttpError(await httpRequest(c.httpUrl(1), 'POST', '/v1/users', { user: 'taken1', password: 'other-password' }), 409, 'taken (gw1)');
  // The first password still works, the second does not.
  await login(c.httpUrl(1), 'taken1', 'd');
  assertHttpError(await httpRequest(c.httpUrl(0), 'POST', '/v1/sessions', { user: 'taken1', password: 'other-password', device: 'd' }), 401, 'second password');
});

h.test('POST /v1/sessions: 401 for a wrong password or unknown user, 400 for bad input', async (t, c) => {
  const u = c.httpUrl(0);
  await createUser(u, 'sess1', 'correct-horse');
  assertHttpError(await httpRequest(u, 'POST', '/v1/sessions', { user: 'sess1', password: 'wrong-horse', device: 'phone' }), 401, 'wrong password');
  assertHttpError(await httpRequest(u, 'POST', '/v1/sessions', { user: 'nosuchuser', password: 'correct-horse', device: 'phone' }), 401, 'unknown user');
  const badDevices = [
    ['', 'empty device'],
    ['d'.repeat(65), 'device of 65 chars'],
    ['my phone', 'space'],
    ['phoné', 'non-ASCII'],
    ['a/b', 'slash'],
    [42, 'device not a string'],
  ];
  for (const [device, what] of badDevices) {
    assertHttpError(await httpRequest(u, 'POST', '/v1/sessions', { user: 'sess1', password: 'correct-horse', device }), 400, what);
  }
  assertHttpError(await httpRequest(u, 'POST', '/v1/sessions', { user: 'sess1', password: 'correct-horse' }), 400, 'missing device');
  assertHttpError(await httpRequest(u, 'POST', '/v1/sessions', '{"user":'), 400, 'invalid JSON');
  // The device name bounds: 64 chars of [A-Za-z0-9_.-], and 1 char.
  const dev64 = 'Az09_.-'.repeat(9) + 'h';
  assert.equal(dev64.length, 64);
  await login(u, 'sess1', dev64, 'correct-horse');
  await login(u, 'sess1', 'x', 'correct-horse');
});

h.test('WebSocket: a first frame other than auth gets unauthenticated and close 4401', async (t, c) => {
  const ws = await Client.connect(c.wsUrl(0));
  const a = await ws.request('ping', {}, { id: 'first' });
  assert.equal(a.type, 'error', JSON.stringify(a));
  assert.equal(a.id, 'first');
  assert.equal(a.code, 'unauthenticated');
  assert.equal((await ws.waitClosed()).code, 4401);

  const ws2 = await Client.connect(c.wsUrl(1));
  const b = await ws2.request('send', { conv: 'dm:abc:okname', client_msg_id: 'x', text: 'hi' }, { id: 'first2' });
  assert.equal(b.type, 'error', JSON.stringify(b));
  assert.equal(b.code, 'unauthenticated');
  assert.equal((await ws2.waitClosed()).code, 4401);
});

h.test('WebSocket: auth with a wrong token gets unauthenticated and close 4401', async (t, c) => {
  await createUser(c.httpUrl(0), 'wrongtok');
  const good = await login(c.httpUrl(0), 'wrongtok', 'phone');
  const forged = [
    'not-a-token',
    good.slice(0, -1) + (good.endsWith('A') ? 'B' : 'A'), // one character changed
    good + 'x',
  ];
  for (const tok of forged) {
    const ws = await Client.connect(c.wsUrl(1));
    const a = await ws.auth(tok);
    assert.equal(a.type, 'error', `token ${JSON.stringify(tok)} -> ${JSON.stringify(a)}`);
    assert.equal(a.code, 'unauthenticated');
    assert.equal((await ws.waitClosed()).code, 4401);
  }
  // The real token works and the ok carries user and device.
  const ws = await Client.connect(c.wsUrl(1));
  const a = await ws.auth(good);
  assert.equal(a.type, 'ok', JSON.stringify(a));
  assert.equal(a.user, 'wrongtok');
  assert.equal(a.device, 'phone');
  assert.equal((await ws.ok('ping')).type, 'ok');
});

h.test('WebSocket: logging in again with the same device replaces the old token (4401)', async (t, c) => {
  await createUser(c.httpUrl(0), 'relog');
  const old = await login(c.httpUrl(0), 'relog', 'phone');
  const laptop = await login(c.httpUrl(0), 'relog', 'laptop');
  // Both devices are valid at once.
  await Client.open(c.wsUrl(0), old);
  await Client.open(c.wsUrl(1), laptop);
  const fresh = await login(c.httpUrl(1), 'relog', 'phone');
  assert.notEqual(fresh, old, 'a new login gives a new token');
  for (const gw of [0, 1]) {
    const ws = await Client.connect(c.wsUrl(gw));
    const a = await ws.auth(old);
    assert.equal(a.type, 'error', `gw${gw}: old token after re-login: ${JSON.stringify(a)}`);
    assert.equal(a.code, 'unauthenticated');
    assert.equal((await ws.waitClosed()).code, 4401);
  }
  const ws = await Client.open(c.wsUrl(0), fresh);
  assert.equal((await ws.ok('ping')).type, 'ok');
  // Another device's token is untouched by the phone's re-login.
  const ws2 = await Client.connect(c.wsUrl(0));
  const a2 = await ws2.auth(laptop);
  assert.equal(a2.type, 'ok', `laptop token after phone re-login: ${JSON.stringify(a2)}`);
  assert.equal(a2.device, 'laptop');
});

h.test('HTTP/1.1: keep-alive connections serve several requests; a body may arrive in pieces', async (t, c) => {
  const http = require('node:http');
  const agent = new http.Agent({ keepAlive: true, maxSockets: 1 });
  const get = (path) => new Promise((resolve, reject) => {
    const req = http.request({ host: '127.0.0.1', port: c.gwPorts[0], method: 'GET', path, agent, timeout: 5000 }, (res) => {
      let b = '';
      res.on('data', (d) => { b += d; });
      res.on('end', () => resolve({ status: res.statusCode, body: b, socket: req.socket }));
    });
    req.on('timeout', () => req.destroy(new Error(`GET ${path}: no answer on a kept-alive connection`)));
    req.on('error', reject);
    req.end();
  });
  try {
    for (let i = 0; i < 3; i++) {
      const r = await get('/v1/health');
      assert.equal(r.status, 200, `request ${i} on one connection`);
      assert.deepEqual(JSON.parse(r.body), { ok: true });
    }
  } finally {
    agent.destroy();
  }
  // A Content-Length body written in two TCP segments.
  const body = '{"user":"piecewise","password":"password123"}';
  const r = await new Promise((resolve, reject) => {
    const req = http.request({ host: '127.0.0.1', port: c.gwPorts[1], method: 'POST', path: '/v1/users', agent: false,
      headers: { 'content-type': 'application/json', 'content-length': Buffer.byteLength(body) } }, (res) => {
      let b = '';
      res.on('data', (d) => { b += d; });
      res.on('end', () => resolve({ status: res.statusCode, body: b }));
    });
    req.on('error', reject);
    req.write(body.slice(0, 9));
    setImmediate(() => req.end(body.slice(9)));
  });
  assert.equal(r.status, 201, r.body);
});

h.test('HTTP/1.1: a chunked request body is accepted (RFC 9112 §7.1: recipients MUST parse chunked)', async (t, c) => {
  const http = require('node:http');
  const r = await new Promise((resolve, reject) => {
    const req = http.request({ host: '127.0.0.1', port: c.gwPorts[0], method: 'POST', path: '/v1/users', agent: false, timeout: 5000,
      headers: { 'content-type': 'application/json', 'transfer-encoding': 'chunked' } }, (res) => {
      let b = '';
      res.on('data', (d) => { b += d; });
      res.on('end', () => resolve({ status: res.statusCode, body: b }));
    });
    req.on('timeout', () => req.destroy(new Error('no answer to a chunked POST')));
    req.on('error', reject);
    req.write('{"user":"chunky",');
    setImmediate(() => req.end('"password":"password123"}'));
  });
  assert.equal(r.status, 201, `chunked POST /v1/users: ${r.status} ${r.body}`);
});

h.test('password hashing does not block the gateway: a ping is answered while logins run', async (t, c) => {
  await createUser(c.httpUrl(0), 'busy1');
  const tokB = await login(c.httpUrl(0), 'busy1', 'ws');
  const ws = await Client.open(c.wsUrl(0), tokB);
  const done = [];
  const logins = Array.from({ length: 4 }, (_, i) =>
    httpRequest(c.httpUrl(0), 'POST', '/v1/sessions', { user: 'busy1', password: 'password123', device: `d${i}` })
      .then((r) => { done.push(`login ${i}`); return r; }));
  // Let the login requests reach the gateway first.
  await new Promise((r) => setImmediate(r));
  const p = await ws.request('ping', {}, { id: 'during-logins' });
  done.push('ping');
  assert.equal(p.type, 'ok');
  for (const r of await Promise.all(logins)) assert.equal(r.status, 200);
  assert.equal(done[0], 'ping', `the ping waited for Argon2id (order of answers: ${done.join(', ')})`);
  // ... at the real cost: the test-only minimum (PARLEY_TEST_PWHASH_MIN) is not in force here
  for (const i of [0, 1]) assert.doesNotMatch(c.proc('gateway', i).log(), /PARLEY_TEST_PWHASH_MIN/);
});

h.test('HTTP/1.1: chunk extensions and trailers are accepted; malformed chunk framing gets 400', async (t, c) => {
  const net = require('node:net');
  const raw = (text) => new Promise((resolve, reject) => {
    const s = net.connect(c.gwPorts[0], '127.0.0.1');
    let b = '';
    s.setTimeout(5000, () => s.destroy(new Error('no answer to a raw chunked POST')));
    s.on('data', (d) => {
      b += d;
      // One response: headers plus a Content-Length body.
      const m = /content-length:\s*(\d+)/i.exec(b);
      const at = b.indexOf('\r\n\r\n');
      if (m && at >= 0 && b.length >= at + 4 + Number(m[1])) { s.destroy(); resolve(b); }
    });
    s.on('error', reject);
    s.write(text);
  });
  const ok = await raw('POST /v1/users HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: chunked\r\n\r\n' +
    '5;ext=1\r\n{"use\r\n' + (',"password":"password123"}'.length + 'r":"chunky2"'.length).toString(16) +
    '\r\nr":"chunky2","password":"password123"}\r\n0\r\nX-Trailer: 1\r\n\r\n');
  assert.match(ok, /^HTTP\/1\.1 201/, ok);
  const bad = await raw('POST /v1/users HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: chunked\r\n\r\nzz\r\n');
  assert.match(bad, /^HTTP\/1\.1 400/, bad);
  assert.match(bad, /"error":"bad_request"/);
});
