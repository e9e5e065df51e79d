#!/usr/bin/env node
// bench/ws-idle.js — open N authenticated, idle WebSocket connections to one gateway and
// hold them, to measure the gateway's memory per connection (read its RSS with ps
// before and while they are open). All sockets share one user and token (one Argon2id
// login), like one account with many devices.
//
//   node bench/ws-idle.js --gateway http://127.0.0.1:18100 --conns 5000 --hold 10
//
// Bounded: N connections, released after --hold seconds. The gateway needs
// --max-conns-per-ip >= N (all connections come from 127.0.0.1).
'use strict';
const path = require('path');
const WebSocket = require(require.resolve('ws', {
  paths: [path.join(__dirname, '..', 'tests', 'e2e', 'node_modules')],
}));
const arg = (n, d) => { const i = process.argv.indexOf('--' + n); return i > 0 ? process.argv[i + 1] : d; };
const base = arg('gateway', 'http://127.0.0.1:8080');
const conns = +arg('conns', 1000);
const holdS = +arg('hold', 10);

async function post(p, body) {
  const r = await fetch(base + p, {method: 'POST', headers: {'content-type': 'application/json'},
    body: JSON.stringify(body)});
  return r.json();
}
function open(token) {
  return new Promise((resolve, reject) => {
    const ws = new WebSocket(base.replace(/^http/, 'ws') + '/v1/ws');
    ws.on('error', reject);
    ws.on('open', () => ws.send(JSON.stringify({type: 'auth', id: '1', token})));
    ws.once('message', (d) => (JSON.parse(d).type === 'ok' ? resolve(ws) : reject(new Error(String(d)))));
  });
}
(async () => {
  const user = 'idle' + Date.now().toString(36).slice(-8);
  await post('/v1/users', {user, password: 'idle-benchmark'});
  const {token} = await post('/v1/sessions', {user, password: 'idle-benchmark', device: 'bench'});
  const socks = [];
  const t0 = Date.now();
  for (let i = 0; i < conns; i += 100) {
    const batch = [];
    for (let k = i; k < Math.min(conns, i + 100); k++) batch.push(open(token));
    socks.push(...(await Promise.all(batch)));
  }
  console.log(JSON.stringify({conns: socks.length, open_s: (Date.now() - t0) / 1000, hold_s: holdS}));
  await new Promise((r) => setTimeout(r, holdS * 1000));
  socks.forEach((s) => s.terminate());
})().catch((e) => { console.error(e); process.exit(1); });
