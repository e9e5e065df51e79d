'use strict';
// Push notifications (PROTOCOL.md "Push notifications"): GET /v1/push/vapid,
// push_register validation (bad_request, forbidden outside --push-allow), webhooks for
// a member without a connected device (and none for an online one), Web Push decrypted
// here per RFC 8291 with the VAPID JWT checked against the served key (RFC 8292),
// retries with backoff that do not hold back another target, and 410 removing a target.
//
// A local HTTP server plays webhook receiver and push service. A member is made offline
// by closing its socket and waiting for its `presence` offline event at a contact.
const assert = require('node:assert/strict');
const crypto = require('node:crypto');
const http = require('node:http');
const { setup, uid } = require('./lib/harness');
const { createUser, login, Client, httpRequest } = require('./lib/client');
const { waitFor } = require('./lib/cluster');
const { shardOfUser, shardOfConv } = require('./lib/slots');

// ---- the fake push service / webhook receiver ----------------------------------------
const received = []; // {path, headers, body (Buffer), at}
const plans = new Map(); // path -> statuses to answer, in order (then 201)
let port;
const server = http.createServer((req, res) => {
  const chunks = [];
  req.on('data', (d) => chunks.push(d));
  req.on('end', () => {
    const plan = plans.get(req.url);
    const status = plan && plan.length ? plan.shift() : 201;
    received.push({ path: req.url, method: req.method, headers: req.headers, body: Buffer.concat(chunks), at: Date.now(), status });
    res.writeHead(status, { 'content-type': 'text/plain' });
    res.end('');
  });
});
const base = () => `http://127.0.0.1:${port}`;
const at = (path) => received.filter((r) => r.path === path);
const waitReq = (path, n = 1, timeoutMs = 5000) =>
  waitFor(`${n} request(s) to ${path}`, () => at(path).length >= n && at(path), { timeoutMs, intervalMs: 20 });

const h = setup({
  shards: 2,
  gateways: 2,
  gatewayArgs: async () => {
    await new Promise((resolve) => server.listen(0, '127.0.0.1', resolve));
    port = server.address().port;
    server.unref();
    return ['--push-allow', `http://127.0.0.1:${port}/`, '--presence-timeout', '2000', '--idle-close', '60000'];
  },
});

const USERS = ['alice', 'bob', 'carol', 'dave', 'erin', 'frank', 'gina', 'hank', 'ivan', 'jack', 'kim', 'lena'];
const tok = {};
h.before(async (c) => {
  for (const u of USERS) {
    await createUser(c.httpUrl(0), u);
    tok[u] = await login(c.httpUrl(0), u, 'phone');
  }
});

const b64u = (buf) => Buffer.from(buf).toString('base64url');

// user registers targets on its own socket, alice writes the first message of their dm
// while user is online (no push), then user disconnects; resolves once alice saw user
// go offline. Returns alice's socket.
// beforeClose(ws, pushIds), if given, runs on user's socket before it closes.
async function offlineWithTargets(c, user, targets, beforeClose) {
  const ws = await Client.open(c.wsUrl(1), tok[user], { label: user });
  const ids = [];
  for (const t of targets) ids.push((await ws.ok('push_register', t)).push_id);
  if (beforeClose) await beforeClose(ws, ids);
  const alice = await Client.open(c.wsUrl(0), tok.alice, { label: 'alice' });
  const conv = `dm:alice:${user}`;
  await alice.ok('send', { conv, client_msg_id: uid(), text: 'first, while online' });
  await ws.nextEvent((e) => e.type === 'msg' && e.conv === conv, 5000, 'msg');
  // Offline is announced seconds after the location table dropped the user (reports are
  // batched per second, offline coalesced for 2-3 s): seen online, then offline.
  const online = async (want) => {
    const a = await alice.ok('presence', { users: [user] });
    return a.presence.length === 1 && a.presence[0].online === want;
  };
  await waitFor(`${user} online`, () => online(true), { timeoutMs: 10000, intervalMs: 100 });
  ws.close();
  await waitFor(`${user} offline`, () => online(false), { timeoutMs: 10000, intervalMs: 100 });
  return alice;
}

// RFC 8291 decryption of an aes128gcm body (one record).
function decrypt(body, ecdh, auth) {
  const salt = body.subarray(0, 16);
  const rs = body.readUInt32BE(16);
  const idlen = body[20];
  const asPub = body.subarray(21, 21 + idlen);
  const ct = body.subarray(21 + idlen);
  assert.equal(rs, 4096);
  assert.equal(idlen, 65);
  const secret = ecdh.computeSecret(asPub);
  const keyInfo = Buffer.concat([Buffer.from('WebPush: info\0'), ecdh.getPublicKey(), asPub]);
  const ikm = Buffer.from(crypto.hkdfSync('sha256', secret, auth, keyInfo, 32));
  const cek = Buffer.from(crypto.hkdfSync('sha256', ikm, salt, Buffer.from('Content-Encoding: aes128gcm\0'), 16));
  const nonce = Buffer.from(crypto.hkdfSync('sha256', ikm, salt, Buffer.from('Content-Encoding: nonce\0'), 12));
  const d = crypto.createDecipheriv('aes-128-gcm', cek, nonce);
  d.setAuthTag(ct.subarray(ct.length - 16));
  const pt = Buffer.concat([d.update(ct.subarray(0, ct.length - 16)), d.final()]);
  let i = pt.length - 1;
  while (i >= 0 && pt[i] === 0) i--;
  assert.equal(pt[i], 2, 'last record delimiter');
  return pt.subarray(0, i);
}

function verifyVapid(header, publicKeyB64, audience) {
  const m = /^vapid t=([^,\s]+),\s*k=([A-Za-z0-9_-]+)$/.exec(header || '');
  assert.ok(m, `Authorization: ${header}`);
  assert.equal(m[2], publicKeyB64, 'k= is the served VAPID key');
  const [h64, c64, s64] = m[1].split('.');
  assert.deepEqual(JSON.parse(Buffer.from(h64, 'base64url')), { typ: 'JWT', alg: 'ES256' });
  const claims = JSON.parse(Buffer.from(c64, 'base64url'));
  assert.equal(claims.aud, audience);
  const now = Date.now() / 1000;
  assert.ok(claims.exp > now && claims.exp <= now + 24 * 3600, `exp ${claims.exp}`);
  assert.match(claims.sub, /^(mailto:|https:)/);
  const pt = Buffer.from(publicKeyB64, 'base64url');
  const key = crypto.createPublicKey({
    key: { kty: 'EC', crv: 'P-256', x: b64u(pt.subarray(1, 33)), y: b64u(pt.subarray(33, 65)) },
    format: 'jwk',
  });
  const ok = crypto.verify('sha256', Buffer.from(`${h64}.${c64}`), { key, dsaEncoding: 'ieee-p1363' },
    Buffer.from(s64, 'base64url'));
  assert.ok(ok, 'the VAPID JWT signature verifies');
}

h.test('GET /v1/push/vapid serves the cluster key on every gateway', async (t, c) => {
  const a = await httpRequest(c.httpUrl(0), 'GET', '/v1/push/vapid');
  const b = await httpRequest(c.httpUrl(1), 'GET', '/v1/push/vapid');
  assert.equal(a.status, 200);
  const pt = Buffer.from(a.json.public_key, 'base64url');
  assert.equal(pt.length, 65);
  assert.equal(pt[0], 4);
  assert.equal(b.json.public_key, a.json.public_key);
});

h.test('push_register: bad_request for malformed targets, forbidden outside the allowed prefixes', async (t, c) => {
  const ws = await Client.open(c.wsUrl(0), tok.frank, { label: 'frank' });
  const ecdh = crypto.createECDH('prime256v1');
  ecdh.generateKeys();
  const keys = { p256dh: b64u(ecdh.getPublicKey()), auth: b64u(crypto.randomBytes(16)) };
  const bad = [
    {},
    { kind: 5, url: `${base()}/x` },
    { kind: 'sms', url: `${base()}/x` },
    { kind: 'webhook' },
    { kind: 'webhook', url: 7 },
    { kind: 'webhook', url: 'not a url' },
    { kind: 'webpush', endpoint: `${base()}/x` },
    { kind: 'webpush', endpoint: `${base()}/x`, keys: { p256dh: keys.p256dh } },
    { kind: 'webpush', endpoint: `${base()}/x`, keys: { ...keys, auth: b64u(crypto.randomBytes(15)) } },
    { kind: 'webpush', endpoint: `${base()}/x`, keys: { ...keys, p256dh: b64u(crypto.randomBytes(65)) } },
    { kind: 'webpush', endpoint: `${base()}/x`, keys: 'k' },
  ];
  for (const f of bad) await ws.err('bad_request', 'push_register', f);
  const forbidden = [
    { kind: 'webhook', url: 'http://127.0.0.1:1/hook' },
    { kind: 'webhook', url: `https://evil.example/${port}/` },
    // (`http://127.0.0.1:${port}` is allowed: normalised, it is the prefix's root "/")
    { kind: 'webhook', url: `http://localhost:${port}/x` },
    { kind: 'webpush', endpoint: 'https://push.example.net/x', keys },
  ];
  for (const f of forbidden) await ws.err('forbidden', 'push_register', f);
  await ws.ok('push_register', { kind: 'webhook', url: `${base()}/frank` });
  await ws.ok('push_register', { kind: 'webhook', url: `${base()}/frank` }); // idempotent
  await ws.ok('push_register', { kind: 'webpush', endpoint: `${base()}/wp/frank`, keys });
});

h.test('webhook: an offline member gets {conv,seq,from,preview} within 5 s; an online one nothing', async (t, c) => {
  const alice = await offlineWithTargets(c, 'bob', [{ kind: 'webhook', url: `${base()}/hook/bob` }]);
  const text = `${'é'.repeat(60)}${'😀'.repeat(30)}${'x'.repeat(60)}`; // 150 code points
  const sent = Date.now();
  const ok = await alice.ok('send', { conv: 'dm:alice:bob', client_msg_id: uid(), text });
  const [r] = await waitReq('/hook/bob', 1, 5000);
  assert.ok(r.at - sent < 5000);
  assert.equal(r.method, 'POST');
  assert.match(r.headers['content-type'], /^application\/json/);
  const body = JSON.parse(r.body.toString('utf8'));
  // unread: bob read nothing, so every message of the dm so far
  assert.deepEqual(body, { conv: 'dm:alice:bob', seq: ok.seq, from: 'alice', preview: [...text].slice(0, 100).join(''), unread: ok.seq });
  assert.equal(ok.seq, 2, 'the first message (bob online) was not pushed');
  assert.equal(at('/hook/bob').length, 1);

  // carol is online: no push
  const carol = await Client.open(c.wsUrl(1), tok.carol, { label: 'carol' });
  await carol.ok('push_register', { kind: 'webhook', url: `${base()}/hook/carol` });
  await alice.ok('send', { conv: 'dm:alice:carol', client_msg_id: uid(), text: 'hi carol' });
  await carol.nextEvent((e) => e.type === 'msg', 5000, 'msg');
  await carol.expectNoEvent(() => false, 1500); // a bounded negative wait
  assert.equal(at('/hook/carol').length, 0, 'no push for an online member');
});

h.test('webpush: RFC 8291 body decrypts to the payload, VAPID JWT verifies', async (t, c) => {
  const vapid = (await httpRequest(c.httpUrl(0), 'GET', '/v1/push/vapid')).json.public_key;
  const ecdh = crypto.createECDH('prime256v1');
  ecdh.generateKeys();
  const auth = crypto.randomBytes(16);
  const alice = await offlineWithTargets(c, 'dave', [{
    kind: 'webpush', endpoint: `${base()}/wp/dave?tok=1`, keys: { p256dh: b64u(ecdh.getPublicKey()), auth: b64u(auth) },
  }]);
  const ok = await alice.ok('send', { conv: 'dm:alice:dave', client_msg_id: uid(), text: 'secret hello' });
  const [r] = await waitReq('/wp/dave?tok=1', 1, 5000);
  assert.equal(r.method, 'POST');
  assert.equal(r.headers['content-encoding'], 'aes128gcm');
  assert.ok(Number(r.headers.ttl) > 0, `TTL ${r.headers.ttl}`);
  verifyVapid(r.headers.authorization, vapid, base());
  const payload = JSON.parse(decrypt(r.body, ecdh, auth).toString('utf8'));
  assert.deepEqual(payload, { conv: 'dm:alice:dave', seq: ok.seq, from: 'alice', preview: 'secret hello', unread: ok.seq });
  assert.match(r.headers.topic, /^[A-Za-z0-9_-]{32}$/, 'RFC 8030 Topic: one per conversation');
});

h.test('a failing target is retried with backoff; another target is not held back', async (t, c) => {
  plans.set('/flaky/erin', [500, 500]);
  const alice = await offlineWithTargets(c, 'erin', [
    { kind: 'webhook', url: `${base()}/flaky/erin` },
    { kind: 'webhook', url: `${base()}/hook/erin` },
  ]);
  const ok = await alice.ok('send', { conv: 'dm:alice:erin', client_msg_id: uid(), text: 'retry me' });
  const [good] = await waitReq('/hook/erin', 1, 5000);
  const flaky = await waitReq('/flaky/erin', 3, 15000);
  assert.deepEqual(flaky.map((r) => r.status), [500, 500, 201]);
  for (const r of flaky) assert.equal(JSON.parse(r.body).seq, ok.seq);
  assert.ok(good.at < flaky[1].at, 'the good target did not wait for the retries');
  assert.ok(flaky[1].at - flaky[0].at >= 800, 'backoff before the first retry');
  assert.ok(flaky[2].at - flaky[1].at >= 1600, 'longer backoff before the second');
  assert.equal(at('/flaky/erin').length, 3, 'no delivery after the success');
});

h.test('410 from a push service removes the target', async (t, c) => {
  const ecdh = crypto.createECDH('prime256v1');
  ecdh.generateKeys();
  const auth = crypto.randomBytes(16);
  plans.set('/gone/gina', Array(50).fill(410));
  const alice = await offlineWithTargets(c, 'gina', [
    { kind: 'webpush', endpoint: `${base()}/gone/gina`, keys: { p256dh: b64u(ecdh.getPublicKey()), auth: b64u(auth) } },
    { kind: 'webhook', url: `${base()}/hook/gina` },
  ]);
  await alice.ok('send', { conv: 'dm:alice:gina', client_msg_id: uid(), text: 'one' });
  await waitReq('/gone/gina', 1, 5000);
  // The removal happens on the shard's next tick: keep sending until a message reaches
  // the other target and the removed one stays quiet.
  await waitFor('the 410 target removed', async () => {
    const before = at('/gone/gina').length;
    const n = at('/hook/gina').length;
    await alice.ok('send', { conv: 'dm:alice:gina', client_msg_id: uid(), text: 'again' });
    // one notification per conversation per 5 s: a follow-up goes out when the window ends
    await waitReq('/hook/gina', n + 1, 8000);
    await alice.expectNoEvent(() => false, 700);
    return at('/gone/gina').length === before;
  }, { timeoutMs: 40000, intervalMs: 0 });
  // messages sent before the removal took effect may reach it once each: never a retry
  const seqs = at('/gone/gina').map((r) => JSON.parse(decrypt(r.body, ecdh, auth)).seq);
  assert.equal(new Set(seqs).size, seqs.length, `no retry after 410: ${seqs}`);
});

h.test('push_register answers a stable push_id; push_list shows targets without secrets', async (t, c) => {
  const phone = await Client.open(c.wsUrl(0), tok.hank, { label: 'hank phone' });
  const laptopTok = await login(c.httpUrl(1), 'hank', 'laptop');
  const laptop = await Client.open(c.wsUrl(1), laptopTok, { label: 'hank laptop' });
  const ecdh = crypto.createECDH('prime256v1');
  ecdh.generateKeys();
  const keys = { p256dh: b64u(ecdh.getPublicKey()), auth: b64u(crypto.randomBytes(16)) };
  const hook = { kind: 'webhook', url: `${base()}/hook/hank?secret=s3cr3t` };
  const a = await phone.ok('push_register', hook);
  assert.match(a.push_id, /^[0-9a-f]{64}$/);
  assert.equal((await phone.ok('push_register', hook)).push_id, a.push_id, 'same target, same id');
  const b = await laptop.ok('push_register', { kind: 'webpush', endpoint: `${base()}/wp/hank/tok123`, keys });
  assert.notEqual(b.push_id, a.push_id);

  for (const ws of [phone, laptop]) {
    const { targets } = await ws.ok('push_list');
    const byId = Object.fromEntries(targets.map((x) => [x.push_id, x]));
    assert.equal(targets.length, 2);
    assert.deepEqual(Object.keys(byId[a.push_id]).sort(), ['at', 'device', 'kind', 'label', 'push_id']);
    assert.equal(byId[a.push_id].kind, 'webhook');
    assert.equal(byId[a.push_id].device, 'phone');
    assert.equal(byId[a.push_id].label, base());
    assert.equal(byId[b.push_id].kind, 'webpush');
    assert.equal(byId[b.push_id].device, 'laptop');
    assert.equal(byId[b.push_id].label, base());
    assert.ok(Math.abs(byId[b.push_id].at - Date.now()) < 60000, `at ${byId[b.push_id].at}`);
    const text = JSON.stringify(targets);
    for (const secret of ['s3cr3t', 'tok123', keys.auth, keys.p256dh]) assert.ok(!text.includes(secret), `no ${secret}`);
  }
  // another user sees none of them and cannot remove them
  const ivan = await Client.open(c.wsUrl(0), tok.ivan, { label: 'ivan' });
  assert.deepEqual((await ivan.ok('push_list')).targets, []);
  await ivan.err('not_found', 'push_unregister', { push_id: a.push_id });
  assert.equal((await phone.ok('push_list')).targets.length, 2);
});

h.test('push_unregister: bad_request, not_found, and an unregistered target gets nothing more', async (t, c) => {
  await offlineWithTargets(c, 'ivan', [], async (ws) => {
    for (const f of [{}, { push_id: 7 }, { push_id: '' }, { push_id: 'x'.repeat(200) }]) {
      await ws.err('bad_request', 'push_unregister', f);
    }
    await ws.err('not_found', 'push_unregister', { push_id: '0'.repeat(64) });
    await ws.err('not_found', 'push_unregister', { push_id: 'nope' });
  });
  const alice = await offlineWithTargets(c, 'ivan', [
    { kind: 'webhook', url: `${base()}/hook/ivan-kept` },
    { kind: 'webhook', url: `${base()}/hook/ivan-gone` },
  ], async (ws, ids) => {
    await ws.ok('push_unregister', { push_id: ids[1] });
    await ws.err('not_found', 'push_unregister', { push_id: ids[1] });
    assert.deepEqual((await ws.ok('push_list')).targets.map((x) => x.push_id), [ids[0]]);
  });
  const ok = await alice.ok('send', { conv: 'dm:alice:ivan', client_msg_id: uid(), text: 'only one target' });
  const [r] = await waitReq('/hook/ivan-kept', 1, 5000);
  assert.equal(JSON.parse(r.body).seq, ok.seq);
  // the kept target's delivery came from the same fan-out as the removed one's would have
  await alice.expectNoEvent(() => false, 1000);
  assert.equal(at('/hook/ivan-gone').length, 0, 'the unregistered target got nothing');
});

h.test('push_register fcm/apns: malformed is bad_request, a well-formed one forbidden without provider credentials', async (t, c) => {
  const ws = await Client.open(c.wsUrl(0), tok.frank, { label: 'frank' });
  const bad = [
    { kind: 'fcm' },
    { kind: 'fcm', token: '' },
    { kind: 'fcm', token: 5 },
    { kind: 'apns', token: 'ab12' },
    { kind: 'apns', token: 'ab12', topic: 'com.example.app', sandbox: 'yes' },
    { kind: 'apns', topic: 'com.example.app', sandbox: false },
  ];
  for (const f of bad) await ws.err('bad_request', 'push_register', f);
  await ws.err('forbidden', 'push_register', { kind: 'fcm', token: 'fcm-device-token' });
  await ws.err('forbidden', 'push_register', { kind: 'apns', token: 'ab12', topic: 'com.example.app', sandbox: true });
});

h.test('a burst to an away member collapses: at most one notification per 5 s, the last with the newest message and unread', async (t, c) => {
  const alice = await offlineWithTargets(c, 'jack', [{ kind: 'webhook', url: `${base()}/hook/jack` }]);
  let last;
  for (let i = 0; i < 50; i++) {
    last = await alice.ok('send', { conv: 'dm:alice:jack', client_msg_id: uid(), text: `burst ${i}` });
  }
  const first = last.seq - 49;
  // the held one goes out when the 5 s window of the first ends
  await waitFor('the newest message notified', () => at('/hook/jack').some((r) => JSON.parse(r.body).seq === last.seq),
    { timeoutMs: 8000, intervalMs: 20 });
  await alice.expectNoEvent(() => false, 1500); // a bounded negative wait: nothing more follows
  const got = at('/hook/jack');
  const bodies = got.map((r) => JSON.parse(r.body));
  assert.ok(got.length >= 1 && got.length <= 2, `${got.length} notifications for a burst of 50`);
  assert.equal(bodies[0].seq, first, 'the first message of the burst goes out at once');
  assert.deepEqual(bodies[bodies.length - 1], { conv: 'dm:alice:jack', seq: last.seq, from: 'alice', preview: 'burst 49', unread: last.seq });
  for (let i = 1; i < got.length; i++) {
    assert.ok(got[i].at - got[i - 1].at >= 4800, `spacing ${got[i].at - got[i - 1].at} ms`);
  }
});

h.test('logging a device out removes the push targets it registered; ?all=1 removes all', async (t, c) => {
  const logout = (tk, query = '') => httpRequest(c.httpUrl(1), 'DELETE', `/v1/sessions${query}`, undefined,
    { headers: { authorization: `Bearer ${tk}` } });
  const tabletTok = await login(c.httpUrl(0), 'gina', 'tablet');
  const laptopTok = await login(c.httpUrl(0), 'gina', 'laptop');
  const tablet = await Client.open(c.wsUrl(0), tabletTok, { label: 'gina tablet' });
  const laptop = await Client.open(c.wsUrl(1), laptopTok, { label: 'gina laptop' });
  const tabletId = (await tablet.ok('push_register', { kind: 'webhook', url: `${base()}/hook/gina-tablet` })).push_id;
  const laptopId = (await laptop.ok('push_register', { kind: 'webhook', url: `${base()}/hook/gina-laptop` })).push_id;
  const ids = async (ws) => (await ws.ok('push_list')).targets.map((x) => x.push_id).sort();
  assert.ok((await ids(laptop)).includes(tabletId));
  assert.equal((await logout(tabletTok)).status, 204);
  const left = await ids(laptop);
  assert.ok(!left.includes(tabletId), 'the tablet\'s target went with its logout');
  assert.ok(left.includes(laptopId), 'the laptop\'s target stays');
  const phone = await Client.open(c.wsUrl(0), await login(c.httpUrl(0), 'gina', 'phone'), { label: 'gina phone' });
  assert.equal((await logout(laptopTok, '?all=1')).status, 204);
  const fresh = await Client.open(c.wsUrl(0), await login(c.httpUrl(0), 'gina', 'desk'), { label: 'gina desk' });
  assert.deepEqual(await ids(fresh), [], 'every target of the user is gone');
  phone.close();
});

h.test('a delivery still being retried survives a SIGKILL of the member\'s shard', async (t, c) => {
  plans.set('/flaky/kim', [500, 500, 500]);
  const alice = await offlineWithTargets(c, 'kim', [{ kind: 'webhook', url: `${base()}/flaky/kim` }]);
  const ok = await alice.ok('send', { conv: 'dm:alice:kim', client_msg_id: uid(), text: 'do not lose me' });
  await waitReq('/flaky/kim', 1, 5000); // the first attempt failed: now it waits to be retried
  const victim = shardOfUser('kim');
  await c.kill('shard', victim, 'SIGKILL');
  await c.restart('shard', victim);
  const done = await waitFor('kim notified after the restart',
    () => at('/flaky/kim').find((r) => r.status === 201), { timeoutMs: 20000, intervalMs: 50 });
  assert.equal(JSON.parse(done.body).seq, ok.seq);
  // delivered once it worked; the record is gone, so no further delivery follows
  await alice.expectNoEvent(() => false, 1500);
  assert.equal(at('/flaky/kim').filter((r) => r.status === 201).length, 1);
});

h.test('a notification for a member whose shard is down is delivered once it is back (push outbox)', async (t, c) => {
  const alice = await offlineWithTargets(c, 'lena', [{ kind: 'webhook', url: `${base()}/hook/lena` }]);
  const victim = shardOfUser('lena');
  assert.notEqual(shardOfConv('dm:alice:lena'), victim, 'the test needs the dm on the other shard');
  await c.kill('shard', victim, 'SIGKILL'); // the FWD push finds nobody: the outbox keeps it
  const ok = await alice.ok('send', { conv: 'dm:alice:lena', client_msg_id: uid(), text: 'while your shard was down' });
  await c.restart('shard', victim);
  const [r] = await waitReq('/hook/lena', 1, 15000);
  assert.equal(JSON.parse(r.body).seq, ok.seq);
});
