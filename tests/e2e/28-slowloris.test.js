'use strict';
// Slowloris (issue 12 item 4): half-open HTTP requests and WebSocket handshakes are
// dropped within --http-timeout (default 10 s), also when they trickle a byte a second;
// with 5,000 of them open a canary client's round trips stay fast. This cluster sets no
// --allowed-origins: any Origin upgrades.
const assert = require('node:assert/strict');
const net = require('node:net');
const { setup } = require('./lib/harness');
const { createUser, login, Client } = require('./lib/client');
const { dmId } = require('./lib/slots');

const SLOW = 5000;
const TIMEOUT_S = 10; // the default --http-timeout: the harness does not set it
const SLACK_MS = 4000; // scheduling slack on a loaded 2-core machine
const h = setup({ shards: 1, gateways: 1 });

const tok = {};
h.before(async (c) => {
  for (const u of ['sl_canary', 'sl_peer']) {
    await createUser(c.httpUrl(0), u);
    tok[u] = await login(c.httpUrl(0), u, 'phone');
  }
});

// Open a raw connection that sends `first` and then (if trickle) one more header byte a
// second; resolves {closedAfterMs} when the server closes it, or rejects at the deadline.
function slowConn(port, first, trickle, deadlineMs) {
  return new Promise((resolve, reject) => {
    let t0 = Date.now();
    const sock = net.connect({ port, host: '127.0.0.1' });
    let timer;
    const done = (fn) => { clearInterval(timer); clearTimeout(dl); fn(); };
    const dl = setTimeout(() => done(() => { sock.destroy(); reject(new Error(`still open after ${deadlineMs} ms`)); }), deadlineMs);
    sock.on('connect', () => {
      t0 = Date.now(); // the drop deadline counts from the established connection
      if (first) sock.write(first);
      if (trickle) timer = setInterval(() => { if (!sock.destroyed) sock.write('X'); }, 1000);
    });
    sock.on('data', () => {}); // lws may answer nothing or an error status
    sock.on('error', () => {});
    sock.on('close', () => done(() => resolve({ closedAfterMs: Date.now() - t0 })));
  });
}

function p99(xs) {
  const s = [...xs].sort((a, b) => a - b);
  return s[Math.min(s.length - 1, Math.floor(s.length * 0.99))];
}

async function roundTrips(ws, conv, n, tag) {
  const lat = [];
  for (let i = 0; i < n; i++) {
    const t0 = process.hrtime.bigint();
    await ws.ok('send', { conv, client_msg_id: `${tag}-${i}`, text: `canary ${i}` });
    lat.push(Number(process.hrtime.bigint() - t0) / 1e6);
  }
  return lat;
}

h.test(`${SLOW} half-open HTTP requests and WebSocket handshakes are dropped within ${TIMEOUT_S} s; a canary is unaffected`, { timeout: 90000 }, async (t, c) => {
  const port = c.gwPorts[0];
  const conv = dmId('sl_canary', 'sl_peer');
  const canary = await Client.open(c.wsUrl(0), tok.sl_canary, { label: 'canary' });
  const base = await roundTrips(canary, conv, 100, 'base');

  const deadline = TIMEOUT_S * 1000 + SLACK_MS;
  const kinds = [
    '', // connects and sends nothing
    'POST /v1/sessions HTTP/1.1\r\nHost: x\r\n', // headers never finished
    'GET /v1/ws HTTP/1.1\r\nHost: x\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n', // half a handshake
    'POST /v1/users HTTP/1.1\r\nHost: x\r\nContent-Length: 100\r\n\r\n{"user":', // body never finished
  ];
  const conns = [];
  for (let i = 0; i < SLOW; i++) {
    conns.push(slowConn(port, kinds[i % kinds.length], false, deadline));
    // paced (4,000 a second) so that the listen backlog does not overflow: the kernel would
    // complete connections lws has not accepted yet, and their clock would start early
    if (i % 200 === 199) await new Promise((r) => setTimeout(r, 50));
  }
  // A few that trickle one header byte a second: still cut at the timeout.
  for (let i = 0; i < 10; i++) conns.push(slowConn(port, kinds[1 + (i % 2)], true, deadline));
  const opened = Date.now();
  const loaded = await roundTrips(canary, conv, 200, 'load');
  const results = await Promise.allSettled(conns);
  const failed = results.filter((r) => r.status === 'rejected');
  assert.equal(failed.length, 0, `${failed.length} slow connections not dropped within ${deadline} ms: ${failed[0]?.reason?.message}`);
  const worst = Math.max(...results.map((r) => r.value.closedAfterMs));
  const perKind = kinds.map((_, k) => Math.max(...results.slice(0, SLOW).filter((_, i) => i % kinds.length === k).map((r) => r.value.closedAfterMs)));
  t.diagnostic(`slowest drop per kind (nothing, POST headers, WebSocket handshake, POST body): ${perKind.join(', ')} ms`);
  const worstTrickle = Math.max(...results.slice(SLOW).map((r) => r.value.closedAfterMs));
  const pb = p99(base), pl = p99(loaded);
  t.diagnostic(`canary send p99: ${pb.toFixed(1)} ms idle, ${pl.toFixed(1)} ms with ${SLOW} slow connections; ` +
    `slowest drop ${worst} ms (trickling: ${worstTrickle} ms); all dropped ${Date.now() - opened} ms after opening`);
  assert.ok(worst <= TIMEOUT_S * 1000 + 2000, `a slow connection lived ${worst} ms (lws checks timeouts once a second)`);
  assert.ok(pl < Math.max(10 * pb, 500), `canary p99 ${pl.toFixed(1)} ms under slowloris (idle ${pb.toFixed(1)} ms)`);
  // The canary socket itself (authenticated, active) was not cut.
  assert.equal(canary.closeInfo, null);
  await canary.ok('ping');
  // No --allowed-origins here: any Origin upgrades.
  const ws = await new Promise((resolve, reject) => {
    const { WebSocket } = require('./lib/client');
    const w = new WebSocket(c.wsUrl(0), { origin: 'https://anything.example' });
    w.once('open', () => resolve(w));
    w.once('error', reject);
  });
  ws.close();
});
