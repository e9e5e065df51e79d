'use strict';
// Push to phones (PROTOCOL.md "Push notifications"): FCM HTTP v1 and APNs against local
// fakes that check what the real services check — the OAuth2 service-account assertion
// (RS256) and the bearer token it buys, the APNs provider JWT (ES256), the request paths,
// headers and bodies — plus what their answers mean: UNREGISTERED / Unregistered /
// BadDeviceToken remove the target, 429 with Retry-After is retried no sooner than asked.
// Group messages notify every away member and never the sender.
//
// The fakes speak cleartext HTTP/2 with prior knowledge (h2c), as the shard uses for an
// http:// base URL; the OAuth2 token endpoint is plain HTTP/1.1.
const assert = require('node:assert/strict');
const crypto = require('node:crypto');
const fs = require('node:fs');
const http = require('node:http');
const http2 = require('node:http2');
const path = require('node:path');
const { setup, uid } = require('./lib/harness');
const { createUser, login, Client } = require('./lib/client');
const { waitFor } = require('./lib/cluster');

const PROJECT = 'parley-test';
const TEAM = 'TEAM123456';
const KEY_ID = 'KEYID12345';
const fcmKeys = crypto.generateKeyPairSync('rsa', { modulusLength: 2048 });
const apnsKeys = crypto.generateKeyPairSync('ec', { namedCurve: 'prime256v1' });

const listen = (srv) => new Promise((resolve) => srv.listen(0, '127.0.0.1', () => resolve(srv.address().port)));
const b64json = (s) => JSON.parse(Buffer.from(s, 'base64url').toString('utf8'));

// A compact JWS verified with key; returns [header, claims].
function verifyJwt(jwt, key, alg) {
  const [h, c, s] = jwt.split('.');
  const header = b64json(h);
  assert.equal(header.alg, alg);
  const ok = crypto.verify('sha256', Buffer.from(`${h}.${c}`),
    alg === 'ES256' ? { key, dsaEncoding: 'ieee-p1363' } : key, Buffer.from(s, 'base64url'));
  assert.ok(ok, `${alg} signature verifies`);
  return [header, b64json(c)];
}

// ---- the fakes ------------------------------------------------------------------------
const problems = []; // anything a fake refused: a test fails on it
const tokens = new Set(); // access tokens the OAuth fake issued
let tokenRequests = 0;
let oauthPort;
const oauth = http.createServer((req, res) => {
  let body = '';
  req.on('data', (d) => { body += d; });
  req.on('end', () => {
    try {
      assert.equal(req.method, 'POST');
      assert.equal(req.url, '/token');
      assert.match(req.headers['content-type'], /^application\/x-www-form-urlencoded/);
      const form = new URLSearchParams(body);
      assert.equal(form.get('grant_type'), 'urn:ietf:params:oauth:grant-type:jwt-bearer');
      const [header, claims] = verifyJwt(form.get('assertion'), fcmKeys.publicKey, 'RS256');
      assert.equal(header.kid, 'key-1');
      assert.equal(claims.iss, 'parley@parley-test.iam.gserviceaccount.com');
      assert.equal(claims.scope, 'https://www.googleapis.com/auth/firebase.messaging');
      assert.equal(claims.aud, `http://127.0.0.1:${oauthPort}/token`);
      const now = Date.now() / 1000;
      assert.ok(Math.abs(claims.iat - now) < 60 && claims.exp - claims.iat <= 3600 && claims.exp > now);
      const t = `ya29.${crypto.randomBytes(12).toString('hex')}`;
      tokens.add(t);
      tokenRequests++;
      res.writeHead(200, { 'content-type': 'application/json' });
      res.end(JSON.stringify({ access_token: t, expires_in: 3599, token_type: 'Bearer' }));
    } catch (e) {
      problems.push(`oauth: ${e.message}`);
      res.writeHead(400);
      res.end('{"error":"invalid_grant"}');
    }
  });
});

const received = []; // {service, path, headers, body (parsed), at, status}
const plans = new Map(); // device token -> [{status, headers, body}] answered in order
function serve(service, check) {
  return http2.createServer((req, res) => {
    let raw = '';
    req.on('data', (d) => { raw += d; });
    req.on('end', () => {
      let body = null;
      try {
        body = JSON.parse(raw);
        const token = check(req, body);
        const plan = plans.get(token);
        const step = plan && plan.length ? plan.shift() : { status: 200, body: service === 'fcm' ? { name: `projects/${PROJECT}/messages/1` } : null };
        received.push({ service, token, path: req.url, headers: req.headers, body, at: Date.now(), status: step.status });
        res.writeHead(step.status, { 'content-type': 'application/json', ...(step.headers || {}) });
        res.end(step.body ? JSON.stringify(step.body) : '');
      } catch (e) {
        problems.push(`${service}: ${e.message}`);
        received.push({ service, path: req.url, headers: req.headers, body, at: Date.now(), status: 400 });
        res.writeHead(400);
        res.end('{}');
      }
    });
  });
}
const fcm = serve('fcm', (req, body) => {
  assert.equal(req.method, 'POST');
  assert.equal(req.url, `/v1/projects/${PROJECT}/messages:send`);
  const m = /^Bearer (.+)$/.exec(req.headers.authorization || '');
  assert.ok(m && tokens.has(m[1]), 'a bearer token issued by the token endpoint');
  const msg = body.message;
  assert.equal(typeof msg.token, 'string');
  for (const [k, v] of Object.entries(msg.data)) assert.equal(typeof v, 'string', `data.${k} is a string`);
  assert.equal(msg.notification.title, msg.data.from);
  assert.equal(msg.notification.body, msg.data.preview);
  assert.equal(typeof msg.android.collapse_key, 'string');
  return msg.token;
});
const apns = serve('apns', (req, body) => {
  assert.equal(req.method, 'POST');
  const m = /^\/(prod|sandbox)\/3\/device\/([0-9a-f]+)$/.exec(req.url);
  assert.ok(m, `path ${req.url}`);
  const auth = /^bearer (.+)$/.exec(req.headers.authorization || '');
  assert.ok(auth, 'authorization: bearer <provider JWT>');
  const [header, claims] = verifyJwt(auth[1], apnsKeys.publicKey, 'ES256');
  assert.equal(header.kid, KEY_ID);
  assert.equal(claims.iss, TEAM);
  assert.ok(Math.abs(claims.iat - Date.now() / 1000) < 3600);
  assert.equal(req.headers['apns-topic'], 'com.example.parley');
  assert.equal(req.headers['apns-push-type'], 'alert');
  assert.ok(req.headers['apns-collapse-id'] && req.headers['apns-collapse-id'].length <= 64);
  assert.equal(typeof body.aps.alert.title, 'string');
  assert.equal(typeof body.aps.alert.body, 'string');
  return m[2];
});

const h = setup({
  shards: 2,
  gateways: 2,
  gatewayArgs: ['--presence-timeout', '2000', '--idle-close', '60000'],
  shardArgs: async (dir) => {
    oauthPort = await listen(oauth);
    const fcmPort = await listen(fcm);
    const apnsPort = await listen(apns);
    for (const s of [oauth, fcm, apns]) s.unref();
    const creds = path.join(dir, 'fcm.json');
    fs.writeFileSync(creds, JSON.stringify({
      type: 'service_account', project_id: PROJECT, private_key_id: 'key-1',
      private_key: fcmKeys.privateKey.export({ type: 'pkcs8', format: 'pem' }),
      client_email: 'parley@parley-test.iam.gserviceaccount.com',
      token_uri: `http://127.0.0.1:${oauthPort}/token`,
    }));
    const p8 = path.join(dir, 'apns.p8');
    fs.writeFileSync(p8, apnsKeys.privateKey.export({ type: 'pkcs8', format: 'pem' }));
    return ['--fcm-credentials', creds, '--fcm-url', `http://127.0.0.1:${fcmPort}`,
      '--apns-key', p8, '--apns-key-id', KEY_ID, '--apns-team-id', TEAM,
      '--apns-url', `http://127.0.0.1:${apnsPort}/prod`, '--apns-sandbox-url', `http://127.0.0.1:${apnsPort}/sandbox`];
  },
});

const USERS = ['alice', 'bob', 'carol', 'dave', 'erin', 'frank'];
const tok = {};
h.before(async (c) => {
  for (const u of USERS) {
    await createUser(c.httpUrl(0), u);
    tok[u] = await login(c.httpUrl(0), u, 'phone');
  }
});

const hex = () => crypto.randomBytes(32).toString('hex');
const to = (token) => received.filter((r) => r.token === token);
const waitTo = (token, n = 1, timeoutMs = 6000) =>
  waitFor(`${n} request(s) for ${token.slice(0, 12)}`, () => to(token).length >= n && to(token), { timeoutMs, intervalMs: 20 });

// user registers targets, then goes away (its socket closed, seen offline by alice).
async function away(c, user, targets) {
  const ws = await Client.open(c.wsUrl(1), tok[user], { label: user });
  const ids = [];
  for (const t of targets) ids.push((await ws.ok('push_register', t)).push_id);
  const alice = await Client.open(c.wsUrl(0), tok.alice, { label: 'alice' });
  const conv = `dm:alice:${user}`;
  await alice.ok('send', { conv, client_msg_id: uid(), text: 'hello while you are here' });
  await ws.nextEvent((e) => e.type === 'msg' && e.conv === conv, 5000, 'msg');
  const online = async (want) => (await alice.ok('presence', { users: [user] })).presence[0]?.online === want;
  await waitFor(`${user} online`, () => online(true), { timeoutMs: 10000, intervalMs: 100 });
  ws.close();
  await waitFor(`${user} offline`, () => online(false), { timeoutMs: 10000, intervalMs: 100 });
  return { alice, ids, conv, ws };
}

h.test('FCM: OAuth2 assertion, bearer token, HTTP v1 message with data and collapse key', async (t, c) => {
  const token = `fcm:${hex()}`;
  const { alice, conv } = await away(c, 'bob', [{ kind: 'fcm', token }]);
  const ok = await alice.ok('send', { conv, client_msg_id: uid(), text: 'to your phone' });
  const [r] = await waitTo(token);
  assert.deepEqual(problems, []);
  assert.equal(r.status, 200);
  assert.deepEqual(r.body.message.data, { conv, seq: String(ok.seq), from: 'alice', preview: 'to your phone', unread: String(ok.seq) });
  assert.equal(r.body.message.apns.headers['apns-collapse-id'], r.body.message.android.collapse_key);
  assert.ok(tokenRequests >= 1);
});

h.test('APNs: ES256 provider token, topic, push type, collapse id; sandbox targets go to the sandbox', async (t, c) => {
  const prod = hex();
  const sand = hex();
  const { alice, conv } = await away(c, 'carol', [
    { kind: 'apns', token: prod, topic: 'com.example.parley', sandbox: false },
    { kind: 'apns', token: sand, topic: 'com.example.parley', sandbox: true },
  ]);
  const ok = await alice.ok('send', { conv, client_msg_id: uid(), text: 'ding' });
  const [p] = await waitTo(prod);
  const [s] = await waitTo(sand);
  assert.deepEqual(problems, []);
  assert.equal(p.path, `/prod/3/device/${prod}`);
  assert.equal(s.path, `/sandbox/3/device/${sand}`);
  assert.deepEqual(p.body.aps.alert, { title: 'alice', body: 'ding' });
  assert.equal(p.body.seq, ok.seq);
  assert.equal(p.body.unread, ok.seq);
  assert.equal(p.headers['apns-collapse-id'], s.headers['apns-collapse-id']);
});

h.test('provider answers: UNREGISTERED, Unregistered and BadDeviceToken remove the target; 429 + Retry-After waits', async (t, c) => {
  const gone = `fcm:${hex()}`;
  const dead = hex();
  const bad = hex();
  const slow = `fcm:${hex()}`;
  plans.set(gone, [{ status: 404, body: { error: { code: 404, status: 'NOT_FOUND', details: [{ '@type': 'type.googleapis.com/google.firebase.fcm.v1.FcmError', errorCode: 'UNREGISTERED' }] } } }]);
  plans.set(dead, [{ status: 410, body: { reason: 'Unregistered', timestamp: Date.now() } }]);
  plans.set(bad, [{ status: 400, body: { reason: 'BadDeviceToken' } }]);
  plans.set(slow, [{ status: 429, headers: { 'retry-after': '2' }, body: { error: { code: 429, status: 'RESOURCE_EXHAUSTED' } } }]);
  const apnsT = (token) => ({ kind: 'apns', token, topic: 'com.example.parley', sandbox: false });
  const { alice, conv, ids } = await away(c, 'dave', [
    { kind: 'fcm', token: gone }, apnsT(dead), apnsT(bad), { kind: 'fcm', token: slow },
  ]);
  await alice.ok('send', { conv, client_msg_id: uid(), text: 'anyone there?' });
  await waitTo(gone);
  await waitTo(dead);
  await waitTo(bad);
  const tries = await waitTo(slow, 2, 10000);
  assert.deepEqual(tries.map((r) => r.status), [429, 200]);
  assert.ok(tries[1].at - tries[0].at >= 1900, `retried after ${tries[1].at - tries[0].at} ms, Retry-After: 2`);
  // the three dead targets are removed; the slow one stays
  const dave = await Client.open(c.wsUrl(0), tok.dave, { label: 'dave again' });
  await waitFor('dead targets removed', async () => {
    const left = (await dave.ok('push_list')).targets.map((x) => x.push_id);
    return left.length === 1 && left[0] === ids[3];
  }, { timeoutMs: 5000, intervalMs: 100 });
  const labels = (await dave.ok('push_list')).targets.map((x) => x.label);
  assert.deepEqual(labels, ['Firebase Cloud Messaging']);
  assert.deepEqual(problems, []);
});

h.test('a group message notifies every away member, never the sender', async (t, c) => {
  const te = `fcm:${hex()}`;
  const tf = hex();
  const ta = `fcm:${hex()}`;
  const erin = await Client.open(c.wsUrl(1), tok.erin, { label: 'erin' });
  const frank = await Client.open(c.wsUrl(1), tok.frank, { label: 'frank' });
  await erin.ok('push_register', { kind: 'fcm', token: te });
  await frank.ok('push_register', { kind: 'apns', token: tf, topic: 'com.example.parley', sandbox: false });
  // alice has a target too, on another device: she sends, so she must not be notified
  const aliceTab = await Client.open(c.wsUrl(0), await login(c.httpUrl(0), 'alice', 'tablet'), { label: 'alice tablet' });
  await aliceTab.ok('push_register', { kind: 'fcm', token: ta });
  aliceTab.close();
  const alice = await Client.open(c.wsUrl(0), tok.alice, { label: 'alice' });
  const { conv } = await alice.ok('group_create', { title: 'phones', members: ['erin', 'frank'] });
  const online = async (u) => (await alice.ok('presence', { users: [u] })).presence[0]?.online;
  await waitFor('erin and frank online', async () => (await online('erin')) && (await online('frank')), { timeoutMs: 10000, intervalMs: 100 });
  erin.close();
  frank.close();
  await waitFor('erin and frank away', async () => !(await online('erin')) && !(await online('frank')), { timeoutMs: 10000, intervalMs: 100 });
  // alice's phone socket is open but her tablet is not: still, she is the sender
  const ok = await alice.ok('send', { conv, client_msg_id: uid(), text: 'group hello' });
  const [e] = await waitTo(te);
  const [f] = await waitTo(tf);
  assert.equal(e.body.message.data.conv, conv);
  assert.equal(e.body.message.data.seq, String(ok.seq));
  assert.equal(f.body.conv, conv);
  await alice.expectNoEvent(() => false, 1000); // a bounded negative wait
  assert.equal(to(ta).length, 0, 'the sender is not notified');
  assert.deepEqual(problems, []);
});
