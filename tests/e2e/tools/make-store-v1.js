'use strict';
// Writes tests/e2e/fixtures/store-v1 (or store-vN with the argument vN): the data folders
// of a 2-shard cluster run by the binaries of an older key layout (docs/internals.md
// "Conversion"), and meta.json with what a client saw (tokens, messages, convs), for
// 25-store.test.js.
// Run once with the old binaries: PARLEY_BIN_DIR=<old build> node tests/e2e/tools/make-store-v1.js [vN]
// (store-v2, key layout 2, was written by a build of main from 2026-12-07 before the
// idempotency keys had a column family of their own: layout 3, issue 10.)
// (the fixture of today was written by main at 2003d2e, the last layout-1 code, so it
// also holds the durable push keys: yuri, never online, has a webhook target that
// refuses connections, so the q record of his pending delivery stays.)
const fs = require('node:fs');
const path = require('node:path');
const { Cluster } = require('../lib/cluster');
const { createUser, login, Client, closeAllClients } = require('../lib/client');

(async () => {
  const c = await Cluster.start({ shards: 2, gateways: 1, gatewayArgs: ['--push-allow', 'http://127.0.0.1:9/'] });
  const u = c.httpUrl(0);
  const users = ['vera', 'walt', 'xena', 'yuri'];
  const tokens = {};
  for (const n of users) {
    await createUser(u, n);
    tokens[n] = await login(u, n, 'phone');
  }
  const yuri = await Client.open(c.wsUrl(0), tokens.yuri, { label: 'yuri' });
  await yuri.ok('push_register', { kind: 'webhook', url: 'http://127.0.0.1:9/parley-fixture' });
  yuri.close();
  await new Promise((r) => setTimeout(r, 4000)); // past the presence flap window: offline
  const vera = await Client.open(c.wsUrl(0), tokens.vera, { label: 'vera' });
  const walt = await Client.open(c.wsUrl(0), tokens.walt, { label: 'walt' });
  const dms = ['dm:vera:walt', 'dm:vera:xena', 'dm:vera:yuri'];
  for (const conv of dms) {
    for (let i = 1; i <= 7; i++) await vera.ok('send', { conv, client_msg_id: `${conv}/${i}`, text: `old ${conv} ${i} 😀` });
  }
  const g = await vera.ok('group_create', { title: 'old group', members: ['walt', 'xena'] });
  for (let i = 1; i <= 4; i++) await walt.ok('send', { conv: g.conv, client_msg_id: `g${i}`, text: `group ${i}` });
  await walt.ok('read', { conv: 'dm:vera:walt', seq: 5 });
  const msgs = {};
  for (const conv of [...dms, g.conv]) msgs[conv] = (await vera.ok('sync', { conv, limit: 500 })).msgs;
  const convs = (await vera.ok('convs')).convs;
  // yuri's shard stores the q record before it acks the push: give the FWDs a moment
  await new Promise((r) => setTimeout(r, 1500));
  closeAllClients();
  await c.stopAll();
  const out = path.resolve(__dirname, '..', 'fixtures', `store-${process.argv[2] || 'v1'}`);
  fs.rmSync(out, { recursive: true, force: true });
  for (let i = 0; i < 2; i++) {
    const src = path.join(c.dir, `shard-${i}`);
    const dst = path.join(out, `shard-${i}`);
    fs.mkdirSync(dst, { recursive: true });
    for (const f of fs.readdirSync(src)) {
      if (f.startsWith('LOG') || f === 'LOCK') continue; // RocksDB's info log and lock: not data
      if (f === 'parley-reserve') continue; // the disk reserve's spare file (64 MiB of nothing)
      fs.copyFileSync(path.join(src, f), path.join(dst, f));
    }
  }
  fs.writeFileSync(path.join(out, 'meta.json'), JSON.stringify({ users, password: 'password123', tokens, group: g.conv, msgs, convs }, null, 1) + '\n');
  await c.destroy();
  console.log(`written ${out}`);
})().catch((e) => { console.error(e); process.exit(1); });
