#!/usr/bin/env node
// bench/ws-bench.js — WebSocket load generator for a running Parley cluster.
//
// Creates P pairs of users (a_i, b_i), logs each in on its own socket (spread over the
// given gateways), then every a_i sends M messages to dm:a_i:b_i keeping W sends in
// flight. Measures, per message: send→ok (stored durably) and send→msg event at b_i
// (end-to-end delivery). Prints throughput and latency percentiles as one JSON line.
//
//   node bench/ws-bench.js --gateways http://127.0.0.1:8080,http://127.0.0.1:8081 \
//        --pairs 50 --messages 200 --window 8 --size 100
//
// Bounded in count and time: it stops after P*M messages or --deadline seconds.
'use strict';
const path = require('path');
const WebSocket = require(require.resolve('ws', {
  paths: [path.join(__dirname, '..', 'tests', 'e2e', 'node_modules')],
}));

function arg(name, dflt) {
  const i = process.argv.indexOf('--' + name);
  return i > 0 ? process.argv[i + 1] : dflt;
}
const gateways = arg('gateways', 'http://127.0.0.1:8080').split(',');
const pairs = +arg('pairs', 20);
const perSender = +arg('messages', 100);
const windowSize = +arg('window', 4);
const size = +arg('size', 100);
const deadlineS = +arg('deadline', 120);
const tag = arg('tag', Date.now().toString(36));

async function http(base, p, body) {
  const r = await fetch(base + p, {
    method: 'POST',
    headers: {'content-type': 'application/json'},
    body: JSON.stringify(body),
  });
  return {status: r.status, body: await r.json()};
}

function open(base, token) {
  return new Promise((resolve, reject) => {
    const ws = new WebSocket(base.replace(/^http/, 'ws') + '/v1/ws');
    const waiters = new Map();
    let n = 0;
    ws.onevent = null;
    ws.on('message', (data) => {
      const f = JSON.parse(data);
      if (f.id !== undefined && waiters.has(f.id)) {
        waiters.get(f.id)(f);
        waiters.delete(f.id);
      } else if (ws.onevent) ws.onevent(f);
    });
    ws.req = (type, fields) => new Promise((res) => {
      const id = String(++n);
      waiters.set(id, res);
      ws.send(JSON.stringify({type, id, ...fields}));
    });
    ws.on('error', reject);
    ws.on('open', async () => {
      const a = await ws.req('auth', {token});
      if (a.type !== 'ok') return reject(new Error('auth failed ' + JSON.stringify(a)));
      resolve(ws);
    });
  });
}

function pct(xs, p) {
  if (!xs.length) return null;
  const s = [...xs].sort((a, b) => a - b);
  return +s[Math.min(s.length - 1, Math.floor(p * s.length))].toFixed(2);
}

async function main() {
  const users = [];
  for (let i = 0; i < pairs; i++) {
    const a = `ba${tag}_${i}`.slice(0, 32), b = `bb${tag}_${i}`.slice(0, 32);
    users.push([a, b]);
  }
  const pw = 'benchmark-password';
  const gw = (i) => gateways[i % gateways.length];
  // Account creation and login cost Argon2id each: done before the clock starts.
  await Promise.all(users.flat().map((u, i) => http(gw(i), '/v1/users', {user: u, password: pw})));
  const tokens = await Promise.all(users.flat().map((u, i) =>
    http(gw(i), '/v1/sessions', {user: u, password: pw, device: 'bench'}).then((r) => r.body.token)));
  const socks = await Promise.all(tokens.map((t, i) => open(gw(i), t)));

  const okLat = [], deliverLat = [];
  const sentAt = new Map();
  let delivered = 0, errors = 0;
  const total = pairs * perSender;
  const text = 'x'.repeat(size);
  let doneResolve;
  const allDelivered = new Promise((r) => (doneResolve = r));
  for (let i = 0; i < pairs; i++) {
    socks[2 * i + 1].onevent = (f) => {
      if (f.type !== 'msg') return;
      const t0 = sentAt.get(f.conv + '/' + f.client_msg_id);
      if (t0 !== undefined) deliverLat.push(performance.now() - t0);
      if (++delivered === total) doneResolve();
    };
  }
  const t0 = performance.now();
  const senders = users.map(async ([a, b], i) => {
    const ws = socks[2 * i];
    const conv = `dm:${a}:${b}`;
    let next = 0;
    async function lane() {
      while (next < perSender) {
        const k = next++;
        const cmid = 'm' + k;
        const s = performance.now();
        sentAt.set(conv + '/' + cmid, s);
        const r = await ws.req('send', {conv, client_msg_id: cmid, text});
        if (r.type === 'ok') okLat.push(performance.now() - s);
        else errors++;
      }
    }
    await Promise.all(Array.from({length: windowSize}, lane));
  });
  await Promise.all(senders);
  const sendS = (performance.now() - t0) / 1000;
  await Promise.race([allDelivered, new Promise((r) => setTimeout(r, deadlineS * 1000))]);
  const wallS = (performance.now() - t0) / 1000;
  console.log(JSON.stringify({
    pairs, messages_per_sender: perSender, window: windowSize, text_bytes: size,
    gateways: gateways.length, sent: total, errors, delivered,
    send_per_s: Math.round(total / sendS), wall_s: +wallS.toFixed(2),
    ok_ms: {p50: pct(okLat, 0.5), p95: pct(okLat, 0.95), p99: pct(okLat, 0.99)},
    deliver_ms: {p50: pct(deliverLat, 0.5), p95: pct(deliverLat, 0.95), p99: pct(deliverLat, 0.99)},
  }));
  socks.forEach((s) => s.close());
}
main().catch((e) => { console.error(e); process.exit(1); });
