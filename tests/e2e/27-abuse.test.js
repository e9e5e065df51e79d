'use strict';
// Abuse limits (issue 12 item 4, docs/reliability.md "Abuse"): the Origin allow-list of
// WebSocket upgrades, the device cap per user, per-account password guessing, the
// per-user send budget across sockets and gateways. Slowloris: 28-slowloris.
const assert = require('node:assert/strict');
const http = require('node:http');
const { setup } = require('./lib/harness');
const { createUser, login, httpRequest, Client } = require('./lib/client');

const ORIGINS = 'https://chat.example, https://web.example:8443';
const h = setup({ config: { gateway: { 'allowed-origins': ORIGINS } } });

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
  await createUser(c.httpUrl(0), 'ab_origin');
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
