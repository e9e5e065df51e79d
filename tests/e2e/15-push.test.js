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
    return ['--push-allow', `http://127.0.0.1:${port}/`, '--presence-timeout', '2000'];
  },
});

const USERS = ['alice', 'bob', 'carol', 'dave', 'erin', 'frank', 'gina'];
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
async function offlineWithTargets(c, user, targets) {
  const ws = await Client.open(c.wsUrl(1), tok[user], { label: user });
  for (const t of targets) await ws.ok('push_register', t);
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
  assert.deepEqual(body, { conv: 'dm:alice:bob', seq: ok.seq, from: 'alice', preview: [...text].slice(0, 100).join('') });
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
  assert.deepEqual(payload, { conv: 'dm:alice:dave', seq: ok.seq, from: 'alice', preview: 'secret hello' });
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
    await waitReq('/hook/gina', n + 1, 5000);
    await alice.expectNoEvent(() => false, 700);
    return at('/gone/gina').length === before;
  }, { timeoutMs: 20000, intervalMs: 0 });
  // messages sent before the removal took effect may reach it once each: never a retry
  const seqs = at('/gone/gina').map((r) => JSON.parse(decrypt(r.body, ecdh, auth)).seq);
  assert.equal(new Set(seqs).size, seqs.length, `no retry after 410: ${seqs}`);
});
