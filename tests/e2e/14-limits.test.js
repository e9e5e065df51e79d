'use strict';
// Protective limits of the gateway (docs/protocol.md "Limits"), with small values:
// per-socket request rate (rate_limited in order, works again after refill), per-IP
// connection cap, per-IP login bucket (429, then recovers), auth deadline of an
// unauthenticated WebSocket, idle HTTP connection timeout.
const assert = require('node:assert/strict');
const net = require('node:net');
const { setup } = require('./lib/harness');
const { delay, waitFor } = require('./lib/cluster');
const { createUser, login, httpRequest, Client } = require('./lib/client');

const RATE_BURST = 20;
const RATE_PER_SEC = 10;
const MAX_CONNS = 6;
const LOGIN_BURST = 5;
const LOGIN_PER_SEC = 1;
const AUTH_TIMEOUT_MS = 1000;
const HTTP_TIMEOUT_S = 2;

const h = setup({
  gateways: 2,
  config: {
    gateway: {
      'rate-burst': RATE_BURST, 'rate-per-sec': RATE_PER_SEC,
      'max-conns-per-ip': MAX_CONNS,
      'login-burst': LOGIN_BURST, 'login-per-sec': LOGIN_PER_SEC,
      'auth-timeout': AUTH_TIMEOUT_MS, 'http-timeout': HTTP_TIMEOUT_S,
    },
  },
});
const tok = {};

h.before(async (c) => {
  // 3 account requests on gateway 0 (within its login burst); gateway 1 keeps a full one
  const u = c.httpUrl(0);
  await createUser(u, 'alice');
  await createUser(u, 'bob');
  tok.alice = await login(u, 'alice', 'phone');
});

// Time for a bucket to refill n tokens, with a margin for scheduling.
const refillMs = (n, perSec) => Math.ceil((n * 1000) / perSec) + 300;

h.test('requests over the socket budget get rate_limited in order; the socket keeps working', async (t, c) => {
  const a = await Client.open(c.wsUrl(0), tok.alice, { label: 'alice' });
  const N = RATE_BURST * 3;
  const ids = Array.from({ length: N }, (_, i) => `burst-${i}`);
  const answers = await Promise.all(ids.map((id) => a.request('ping', {}, { id })));
  assert.deepEqual(a.answerOrder.slice(-N), ids, 'answers in request order');
  for (const [i, f] of answers.entries()) {
    if (f.type === 'error') {
      assert.equal(f.code, 'rate_limited', `answer ${i}: ${JSON.stringify(f)}`);
      assert.equal(typeof f.message, 'string');
    } else {
      assert.equal(f.type, 'ok', `answer ${i}: ${JSON.stringify(f)}`);
    }
  }
  for (let i = 0; i < RATE_BURST; i++) assert.equal(answers[i].type, 'ok', `the first ${RATE_BURST} fit the burst (${i})`);
  const limited = answers.filter((f) => f.type === 'error').length;
  // the sends take well under a second: at most a few tokens came back meanwhile
  assert.ok(limited >= N - RATE_BURST - RATE_PER_SEC, `${limited} of ${N} rate_limited`);
  // a typing over the budget is dropped quietly (ok), as the shard does with typing excess
  const more = await Promise.all(Array.from({ length: RATE_BURST }, (_, i) => a.request('typing', { conv: 'dm:alice:bob' }, { id: `ty-${i}` })));
  for (const f of more) assert.equal(f.type, 'ok', JSON.stringify(f));
  // after a refill computed from the configured rate, a whole burst passes again
  await delay(refillMs(RATE_BURST, RATE_PER_SEC));
  const again = await Promise.all(Array.from({ length: RATE_BURST }, (_, i) => a.request('ping', {}, { id: `again-${i}` })));
  for (const f of again) assert.equal(f.type, 'ok', JSON.stringify(f));
  assert.ok(a.isOpen, 'the socket stayed open');
  assert.equal(a.closeInfo, null);
});

// Resolves true when a WebSocket connects to url, false when the server refuses it.
async function tryConnect(url, label) {
  try {
    return await Client.connect(url, { label, timeoutMs: 5000 });
  } catch {
    return null;
  }
}

h.test('per-IP connection cap: the (N+1)th connection is refused, accepted again after one closes', async (t, c) => {
  // gateway 1 sees no other traffic in this file: every connection it counts is ours
  const socks = [];
  for (let i = 0; i < MAX_CONNS; i++) socks.push(await Client.open(c.wsUrl(1), tok.alice, { label: `ws ${i}` }));
  const extra = await tryConnect(c.wsUrl(1), 'ws over the cap');
  assert.equal(extra, null, `connection ${MAX_CONNS + 1} was accepted`);
  // HTTP counts as well
  await assert.rejects(httpRequest(c.httpUrl(1), 'GET', '/v1/health', undefined, { timeoutMs: 5000 }),
    'an HTTP request over the cap is refused');
  // the held sockets still work
  await socks[0].ok('ping');
  // one closes: a new connection is accepted (once the server has seen the close)
  socks[0].close();
  await socks[0].waitClosed();
  const again = await waitFor('a connection accepted after one closed', () => tryConnect(c.wsUrl(1), 'ws after close'), { timeoutMs: 5000 });
  const a = await again.auth(tok.alice);
  assert.equal(a.type, 'ok');
  assert.ok(c.proc('gateway', 1).log().includes('refused'), 'the refusal is logged');
  for (const s of [...socks.slice(1), again]) s.close();
  await Promise.all([...socks.slice(1), again].map((s) => s.waitClosed()));
});

h.test('login bucket per IP: 429 rate_limited when exhausted, then recovers', async (t, c) => {
  const u = c.httpUrl(1);
  // A body without fields is answered 400 at once (no Argon2id), but still takes a token.
  let got429 = null;
  let before429 = 0;
  for (let i = 0; i < LOGIN_BURST + 3 && !got429; i++) {
    const r = await httpRequest(u, 'POST', i % 2 ? '/v1/users' : '/v1/sessions', {});
    if (r.status === 429) got429 = r;
    else {
      assert.equal(r.status, 400, r.text);
      before429++;
    }
  }
  assert.ok(got429, `no 429 within ${LOGIN_BURST + 3} account requests`);
  assert.ok(before429 >= LOGIN_BURST, `${before429} requests passed before the 429`);
  assert.equal(got429.json.error, 'rate_limited');
  assert.equal(typeof got429.json.message, 'string');
  // other endpoints are not limited by it
  assert.equal((await httpRequest(u, 'GET', '/v1/health')).status, 200);
  // after one token's refill a real login works
  await delay(refillMs(1, LOGIN_PER_SEC));
  const token = await login(u, 'bob', 'laptop');
  assert.ok(token);
});

h.test('a WebSocket without auth is closed 4401 after the auth deadline; an authenticated one stays', async (t, c) => {
  const authed = await Client.open(c.wsUrl(0), tok.alice, { label: 'authed' });
  const idle = await Client.connect(c.wsUrl(0), { label: 'idle' });
  const t0 = Date.now();
  const ci = await idle.waitClosed(AUTH_TIMEOUT_MS + 5000);
  const took = Date.now() - t0;
  assert.equal(ci.code, 4401);
  assert.ok(took >= AUTH_TIMEOUT_MS - 200, `closed after ${took} ms, before the deadline`);
  const err = idle.frames.find((f) => f.type === 'error');
  assert.equal(err?.code, 'unauthenticated', JSON.stringify(idle.frames));
  assert.ok(authed.isOpen, 'the authenticated socket is still open');
  await authed.ok('ping');
});

h.test('an idle HTTP connection is closed after --http-timeout', async (t, c) => {
  const sock = net.connect(c.gwPorts[0], '127.0.0.1');
  await new Promise((resolve, reject) => { sock.once('connect', resolve); sock.once('error', reject); });
  const t0 = Date.now();
  await new Promise((resolve, reject) => {
    const timer = setTimeout(() => reject(new Error('idle HTTP connection not closed')), HTTP_TIMEOUT_S * 1000 + 5000);
    sock.once('close', () => { clearTimeout(timer); resolve(); });
    sock.on('error', () => {});
    sock.resume();
  });
  const took = Date.now() - t0;
  assert.ok(took >= HTTP_TIMEOUT_S * 1000 - 500, `closed after ${took} ms`);
});
