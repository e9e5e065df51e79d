'use strict';
// Robustness (PROTOCOL.md §1, docs/internals.md "Messages"): bad input anywhere — a
// client frame, an HTTP request, a malformed ZeroMQ message between roles — gets a clear
// error or is dropped with a log line; it never crashes a process (the harness fails a
// test when one dies) and never changes stored data (checked with convs/sync after each
// storm). Deterministic: the frame generator is a PRNG with a fixed seed (printed).
const assert = require('node:assert/strict');
const net = require('node:net');
const fs = require('node:fs');
const path = require('node:path');
const { spawn } = require('node:child_process');
const { setup, uid } = require('./lib/harness');
const { createUser, login, Client, httpRequest } = require('./lib/client');
const { dmId, pickNames, shardOfConv } = require('./lib/slots');
const { waitFor } = require('./lib/cluster');

const SEED = 0x13c0ffee;
console.log(`13-robustness: PRNG seed 0x${SEED.toString(16)}`);

// mulberry32: small, fast, deterministic.
function prng(seed) {
  let a = seed >>> 0;
  return () => {
    a = (a + 0x6d2b79f5) >>> 0;
    let t = a;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}

// The storms are far over the per-socket and per-address rate limits (14-limits tests
// those): turn them off (0) so every frame gets its real verdict.
const h = setup({
  config: { gateway: { 'rate-burst': 0, 'rate-per-sec': 0, 'max-conns-per-ip': 0, 'login-burst': 0, 'login-per-sec': 0 } },
});
const tok = {};
const [A, B] = pickNames(['rob_a', 'rob_b'], (a, b) => shardOfConv(dmId(a, b)) === 1);
const DM = dmId(A, B);
const baseline = {}; // what was legitimately stored before the storms

h.before(async (c) => {
  const u = c.httpUrl(0);
  for (const n of [A, B]) await createUser(u, n);
  tok.A = await login(u, A, 'phone');
  tok.B = await login(u, B, 'laptop');
  const ws = await Client.open(c.wsUrl(0), tok.A, { label: A });
  for (let i = 1; i <= 3; i++) await ws.ok('send', { conv: DM, client_msg_id: `legit-${i}`, text: `legit message ${i}` });
  await snapshot(ws);
  ws.close();
});

// convs + sync of A, stored as the baseline the first time, compared afterwards.
async function snapshot(ws) {
  const convs = (await ws.ok('convs')).convs.map(({ conv, kind, members, last_seq: ls }) => ({ conv, kind, members, ls }));
  const msgs = (await ws.ok('sync', { conv: DM, limit: 500 })).msgs;
  const snap = { convs, msgs };
  if (!baseline.snap) baseline.snap = snap;
  return snap;
}

async function assertUnchanged(c, what) {
  // A fresh socket with the old token: the token was not replaced either.
  const ws = await Client.open(c.wsUrl(1), tok.A, { label: `${A} (check after ${what})` });
  const now = await snapshot(ws);
  assert.deepEqual(now, baseline.snap, `stored data changed by ${what}`);
  ws.close();
}

const errNoId = (f) => f.type === 'error' && f.id === undefined;

async function alive(ws, what) {
  const a = await ws.request('ping', {}, { id: uid('alive') });
  assert.equal(a.type, 'ok', `socket does not work after ${what}: ${JSON.stringify(a)}`);
}

// ---- the frame generator --------------------------------------------------------------

const G = 'g:AAAAAAAAAAAAAAAAAAAAAA'; // well-formed, never created
const SPECS = {
  send: { fields: { conv: DM, client_msg_id: 'x1', text: 'hello' }, required: ['conv', 'client_msg_id', 'text'] },
  sync: { fields: { conv: DM, after: 0, limit: 10 }, required: ['conv'] },
  history: { fields: { conv: DM, before: 2, limit: 10 }, required: ['conv'] },
  group_create: { fields: { title: 't', members: [B] }, required: ['title'] },
  group_add: { fields: { conv: G, user: B }, required: ['conv', 'user'] },
  group_remove: { fields: { conv: G, user: B }, required: ['conv', 'user'] },
  read: { fields: { conv: DM, seq: 1 }, required: ['conv', 'seq'] },
  typing: { fields: { conv: DM }, required: ['conv'] },
  presence: { fields: { users: [B] }, required: ['users'] },
  push_register: { fields: { kind: 'webhook', url: 'http://127.0.0.1:1/x' }, required: [] },
};
const INT_FIELDS = new Set(['after', 'limit', 'before', 'seq']);
const jtype = (v) => (v === null ? 'null' : Array.isArray(v) ? 'array' : typeof v);
const WRONG = [123, -1, 0, 1.5, -0.5, 1e300, true, false, null, [], {}, [1, 'a', null], { a: { b: [] } }, 'str', '', 'x'.repeat(70000)];
// Integer fields: out of range or not integers (all bad_request).
const BAD_INTS = { after: [], limit: [0, 501], before: [0], seq: [501] };
for (const k of Object.keys(BAD_INTS)) BAD_INTS[k].push(-1, -9007199254740991, 1.5, 0.1, 1e300, -1e300, '1');
// Strings that are never a valid conv / user name (bad_request).
const ESCAPES = ['\u0000', 'a\u0000b', '\n\t\r\b\f"\\/', '\u0001\u001f\u007f', 'é😀\u2028\u2029', '\ufeff', 'dm:', 'dm:a:a', `dm:${B}:${A}`, 'g:', 'g:***', 'x'.repeat(100000)];

// Raw texts and whether jansson reads an id from them (false: error without id).
function rawCases() {
  return [
    ['[]', false], ['[1,2,3]', false], ['42', false], ['-1e309', false], ['"str"', false], ['null', false], ['true', false],
    ['{', false], ['}', false], ['', false], [' ', false], ['{"type":"ping"}', false], ['{"type":"ping","id":5}', false],
    ['{"type":"ping","id":null}', false], ['{"type":"ping","id":["x"]}', false], ['{"type":"ping","id":{}}', false],
    ['{"type":"ping","id":"d1","type":"sync"}', false], ['{"type":"ping","id":"d2","id":"d3"}', false],
    ['['.repeat(100000), false], [`{"type":"ping","id":"n1","x":${'['.repeat(100000)}`, false],
    [`{"type":"ping","id":"n2","x":${'['.repeat(1000)}${']'.repeat(1000)}}`, true],
    [`{"type":"ping","id":"n3","x":${'{"a":'.repeat(50000)}1${'}'.repeat(50000)}}`, false],
    ['{"type":"sync","id":"h1","conv":"' + DM + '","after":1e309}', false],
    ['{"type":"sync","id":"h2","conv":"' + DM + '","after":99999999999999999999999}', false],
    ['{"type":"sync","id":"h3","conv":"' + DM + '","limit":18446744073709551616}', false],
    ['{"type":"sync","id":"h4","conv":"' + DM + '","limit":-0}', true],
    ['{"type":"sync","id":"h5","conv":"' + DM + '","limit":1e2}', true],
    ['{"type":"read","id":"h6","conv":"' + DM + '","seq":-9223372036854775808}', true],
    ['{"type":"read","id":"h7","conv":"' + DM + '","seq":9223372036854775807}', true],
    ['{"type":"history","id":"h8","conv":"' + DM + '","before":-9223372036854775808}', true],
    ['{"type":"send","id":"s1","conv":"' + DM + '","client_msg_id":"s1","text":"\\ud800"}', false],
    ['{"type":"send","id":"s2","conv":"' + DM + '","client_msg_id":"s2","text":"\\udc00x"}', false],
    ['{"type":"send","id":"s3","conv":"' + DM + '","client_msg_id":"s3","text":"a\\u0000"}', true],
    ['{"type":"send","id":"s4","conv":"' + DM + '","client_msg_id":"\\u0000","text":"a"}', true],
    ['{"type":"send","id":"s5","conv":"' + DM + '\\u0000","client_msg_id":"s5","text":"a"}', true],
    ['{"type":"send","id":"s6","conv":"' + DM + '","client_msg_id":"' + 'c'.repeat(65) + '","text":"a"}', true],
    ['{"type":"send","id":"s7","conv":"' + DM + '","client_msg_id":"","text":"a"}', true],
    ['{"type":"send","id":"s8","conv":"' + DM + '","client_msg_id":"s8","text":""}', true],
    ['{"type":"send","id":"s9","conv":"' + DM + '","client_msg_id":"s9","text":"a","text":"b"}', false],
    ['{"type":"send","id":"s10","conv":"' + DM + '","client_msg_id":"s10","text":"\\uDBFF\\uDBFF"}', false],
    ['{"type":"ping","id":"\\ud800"}', false],
    ['{"type":"\\u0000ping","id":"t1"}', true], ['{"type":"ping\\u0000","id":"t2"}', true],
    ['{"type":"","id":"t3"}', true], ['{"type":"' + 'p'.repeat(200000) + '","id":"t4"}', true],
    ['{"\\u0000":1,"type":"sync","id":"k1"}', false],
  ];
}

// Expected answer for rawCases with an id: every one of them is a bad_request, except
// the ones below (valid pings / syncs, or a read of seq 2^63-1 above last_seq).
const RAW_OK = new Set(['n2']);
const RAW_ANY = new Set(['h5']); // limit 1e2: a JSON real, equal to 100

function buildStorm(rnd) {
  const frames = []; // {text, id (undefined: error without id), expect: code | 'ok' | 'any'}
  let n = 0;
  const nid = () => `z${++n}`;
  const push = (obj, expect = 'bad_request') => frames.push({ text: JSON.stringify(obj), id: obj.id, expect });
  for (const [type, spec] of Object.entries(SPECS)) {
    for (const [field, good] of Object.entries(spec.fields)) {
      for (const w of WRONG) {
        if (jtype(w) === jtype(good)) continue;
        if (INT_FIELDS.has(field) && typeof w === 'number') continue; // below
        push({ type, id: nid(), ...spec.fields, [field]: w });
      }
      if (INT_FIELDS.has(field)) for (const w of BAD_INTS[field]) push({ type, id: nid(), ...spec.fields, [field]: w });
      if (typeof good === 'string' && field !== 'kind' && field !== 'url' && field !== 'client_msg_id' && field !== 'text' && field !== 'title') {
        for (const w of ESCAPES) push({ type, id: nid(), ...spec.fields, [field]: w });
      }
      if (Array.isArray(good)) {
        for (const w of [[1], [null], [[B]], [{}], ['BAD NAME'], ['a\u0000'], ...(field === 'users' ? [Array(501).fill(B)] : [])]) push({ type, id: nid(), ...spec.fields, [field]: w });
      }
    }
    for (const field of spec.required) {
      const f = { ...spec.fields };
      delete f[field];
      push({ type, id: nid(), ...f });
    }
    for (const t of [5, null, [], {}, true, type.toUpperCase(), ` ${type}`, `${type}\u0000`]) push({ ...spec.fields, type: t, id: nid() });
  }
  // text with U+0000 and an over-long title/text.
  push({ type: 'send', id: nid(), conv: DM, client_msg_id: 'nul', text: 'a\u0000b' });
  push({ type: 'group_create', id: nid(), title: 't'.repeat(201), members: [B] });
  push({ type: 'group_create', id: nid(), title: '', members: [B] });
  push({ type: 'send', id: nid(), conv: DM, client_msg_id: 'long', text: 'x'.repeat(100001) }, 'too_large');
  // a second auth, and unknown types
  push({ type: 'auth', id: nid(), token: tok.A });
  for (let i = 0; i < 40; i++) push({ type: `unknown_${Math.floor(rnd() * 1e9).toString(36)}`, id: nid() });
  // pings with ids carrying every escape and long ids: answered ok with the same id
  for (const id of ['', '\u0000', '\n\t\r\b\f"\\/', '\u0001\u001f', 'é😀\u2028', 'i'.repeat(100000), '\ufffd']) {
    frames.push({ text: JSON.stringify({ type: 'ping', id }), id, expect: 'ok' });
  }
  for (const [text, hasId] of rawCases()) {
    let id;
    if (hasId) id = JSON.parse(text).id;
    const expect = !hasId ? 'bad_request' : RAW_OK.has(id) ? 'ok' : RAW_ANY.has(id) ? 'any' : 'bad_request';
    frames.push({ text, id, expect });
  }
  // random JSON shapes
  const pick = (arr) => arr[Math.floor(rnd() * arr.length)];
  const keys = ['type', 'id', 'conv', 'text', 'client_msg_id', 'after', 'limit', 'before', 'seq', 'users', 'members', 'title', 'user', 'token', 'kind', '', 'x'];
  const types = [...Object.keys(SPECS), 'ping', 'convs', 'auth', 'nope'];
  const randVal = (d) => {
    const r = rnd();
    if (d > 3 || r < 0.3) return pick([0, -1, 1.5, 2 ** 53, -(2 ** 53), 1e300, true, false, null, '', 'a', '\u0000', 'x'.repeat(Math.floor(rnd() * 300))]);
    if (r < 0.5) return pick(['dm:', `dm:${A}:zz`, 'g:', 'g:xyz', `${A}`, 'é😀', '\\', '"']);
    if (r < 0.75) return Array.from({ length: Math.floor(rnd() * 4) }, () => randVal(d + 1));
    const o = {};
    for (let i = Math.floor(rnd() * 4); i > 0; i--) o[pick(keys)] = randVal(d + 1);
    return o;
  };
  while (frames.length < 3000) {
    const r = rnd();
    if (r < 0.1) {
      frames.push({ text: JSON.stringify(randVal(2)), id: undefined, expect: 'bad_request' });
      const last = frames[frames.length - 1];
      const v = JSON.parse(last.text);
      if (v && typeof v === 'object' && !Array.isArray(v) && typeof v.id === 'string') {
        frames.pop(); // an object with a string id: not a no-id case; regenerate
      }
      continue;
    }
    const o = {};
    for (let i = Math.floor(rnd() * 5); i > 0; i--) o[pick(keys)] = randVal(1);
    o.type = pick(types);
    o.id = nid();
    // The generator never makes a valid send/group change: conv is never A's dm and
    // titles are never strings, so whatever is answered, nothing may be stored.
    if (o.conv === DM) o.conv = 'dm:';
    if (typeof o.title === 'string') o.title = 5;
    if (o.type === 'group_create' && o.title === undefined) o.title = 5;
    frames.push({ text: JSON.stringify(o), id: o.id, expect: 'any' });
  }
  return frames;
}

h.test('a storm of malformed and edge frames after auth: each answered, the socket keeps working, nothing stored', async (t, c) => {
  const rnd = prng(SEED);
  const frames = buildStorm(rnd);
  t.diagnostic(`seed 0x${SEED.toString(16)}: ${frames.length} frames`);
  const ws = await Client.open(c.wsUrl(0), tok.A, { label: `${A} (storm)` });
  const BATCH = 200;
  let noId = 0;
  for (let i = 0; i < frames.length; i += BATCH) {
    const batch = frames.slice(i, i + BATCH);
    const waits = [];
    let batchNoId = 0;
    for (const f of batch) {
      if (f.id !== undefined) waits.push(ws.waitAnswer(f.id, 20000).then((a) => [f, a]));
      else batchNoId++;
      ws.sendRaw(f.text);
    }
    const answers = await Promise.all(waits);
    await alive(ws, `frames ${i}..${i + batch.length}`); // answers keep order: every no-id error is in
    for (const [f, a] of answers) {
      const what = `frame ${f.text.slice(0, 160)} -> ${JSON.stringify(a).slice(0, 200)}`;
      assert.equal(a.id, f.id, what);
      if (f.expect === 'ok') assert.equal(a.type, 'ok', what);
      else if (f.expect !== 'any') {
        assert.equal(a.type, 'error', what);
        assert.equal(a.code, f.expect, what);
        assert.equal(typeof a.message, 'string', what);
      } else if (a.type === 'error') {
        assert.ok(['bad_request', 'forbidden', 'not_found', 'too_large'].includes(a.code), what);
      }
    }
    const errs = ws.events.filter(errNoId);
    assert.equal(errs.length, noId + batchNoId, `errors without id after frames ${i}..${i + batch.length}`);
    for (const e of errs) assert.equal(e.code, 'bad_request', JSON.stringify(e));
    noId += batchNoId;
    assert.deepEqual(ws.unmatched, [], 'no answer with an unexpected id');
  }
  assert.ok(ws.isOpen, 'socket still open after the storm');
  await alive(ws, 'the storm');
  ws.close();
  await assertUnchanged(c, 'the frame storm');
});

// ---- HTTP ------------------------------------------------------------------------------

// Write raw bytes on a TCP socket; resolve with what came back until the server closed
// (or waitMs passed: then we close). closeAfterWrite half-closes our side.
function rawTcp(port, chunks, { waitMs = 2000, endAfter = false, destroyAfterMs } = {}) {
  return new Promise((resolve) => {
    const s = net.connect(port, '127.0.0.1');
    const got = [];
    let done = false;
    const finish = (how) => {
      if (done) return;
      done = true;
      clearTimeout(timer);
      s.destroy();
      resolve({ how, text: Buffer.concat(got).toString('latin1') });
    };
    const timer = setTimeout(() => finish('timeout'), waitMs);
    s.on('data', (d) => got.push(d));
    s.on('close', () => finish('closed'));
    s.on('error', () => finish('error'));
    s.on('connect', () => {
      for (const ch of chunks) s.write(ch);
      if (endAfter) s.end();
      if (destroyAfterMs !== undefined) setTimeout(() => finish('destroyed'), destroyAfterMs);
    });
  });
}

async function healthOk(c, i, what) {
  const st = await c.health(i);
  assert.equal(st, 200, `/v1/health after ${what}`);
}

h.test('HTTP: malformed bodies, odd paths and methods, garbage on the socket, slowloris, abrupt closes', async (t, c) => {
  const u = c.httpUrl(0);
  const port = c.gwPorts[0];
  const bodies = ['not json', '', '[]', '"x"', 'null', '42', '{', '{"user":5,"password":"password123"}', '{"user":"okname","password":5}',
    '{"user":null}', '{"user":"okname","password":"password123","user":"other"}', '{"user":"a\\u0000b","password":"password123"}',
    '{"user":"\\ud800","password":"password123"}', '['.repeat(60000), '{"user":"okname","password":"' + 'p'.repeat(1025) + '"}',
    '{"user":"' + 'u'.repeat(33) + '","password":"password123"}', '{"user":["okname"],"password":"password123"}',
  ];
  const sessionBodies = ['{"user":"okname","password":"password123","device":5}', '{"user":"okname","password":"password123","device":"' + 'd'.repeat(65) + '"}',
    '{"user":"' + A + '","password":"password123","device":"a b"}', '{"user":"' + A + '","password":"password123","device":""}',
    '{"user":"' + A + '","password":"password123"}', '{"user":"' + A + '","password":"password123","device":null}'];
  for (const p of ['/v1/users', '/v1/sessions']) {
    for (const b of p === '/v1/sessions' ? [...bodies, ...sessionBodies] : bodies) {
      const r = await httpRequest(u, 'POST', p, b);
      assert.ok(r.status >= 400 && r.status < 500, `POST ${p} ${b.slice(0, 80)}: ${r.status} ${r.text.slice(0, 200)}`);
      if (r.status !== 413) assert.equal(typeof r.json?.error, 'string', `POST ${p} ${b.slice(0, 80)}: error body ${r.text.slice(0, 200)}`);
    }
  }
  const big = await httpRequest(u, 'POST', '/v1/users', 'x'.repeat(70000));
  assert.equal(big.status, 413);
  for (const [m, p] of [['GET', '/nope'], ['GET', '/v1'], ['HEAD', '/'], ['GET', '/v1/users'], ['DELETE', '/v1/users'], ['PUT', '/v1/sessions'], ['PATCH', '/v1/health'],
    ['POST', '/v1/health'], ['GET', '/v1/../v1/health/..'], ['GET', '/v1/ws'], ['POST', '/v1/ws'], ['GET', '/v1/%00'], ['GET', '/v1/users?x=%ff%fe'],
    ['OPTIONS', '*'], ['GET', `/${'a'.repeat(3000)}`], ['FOO', '/v1/users'], ['GET', '/v1/push/vapid/x']]) {
    let r;
    try {
      r = await httpRequest(u, m, p, undefined, { timeoutMs: 5000 });
    } catch (e) {
      r = { status: 0, text: e.message }; // the server may hang up on some of these
    }
    assert.ok(r.status === 0 || (r.status >= 400 && r.status < 500), `${m} ${p.slice(0, 60)}: ${r.status} ${r.text.slice(0, 200)}`);
  }
  await healthOk(c, 0, 'odd requests');
  const garbage = [
    'GARBAGE\r\n\r\n', '\x00\x01\x02\x03\xff\xfe\r\n\r\n', 'GET / HTTP/9.9\r\n\r\n', 'GET\r\n\r\n', ' / HTTP/1.1\r\n\r\n',
    `GET /${'a'.repeat(100000)} HTTP/1.1\r\nHost: x\r\n\r\n`, 'GET /v1/health HTTP/1.1\r\nno colon here\r\n\r\n',
    `GET /v1/health HTTP/1.1\r\n${'X-A: b\r\n'.repeat(5000)}\r\n`, `GET /v1/health HTTP/1.1\r\nX-Big: ${'b'.repeat(100000)}\r\n\r\n`,
    'POST /v1/users HTTP/1.1\r\nHost: x\r\nContent-Length: 99999999999\r\n\r\n{"us',
    'POST /v1/users HTTP/1.1\r\nHost: x\r\nContent-Length: 18446744073709551617\r\n\r\n{}',
    'POST /v1/users HTTP/1.1\r\nHost: x\r\nContent-Length: -1\r\n\r\n{}',
    'POST /v1/users HTTP/1.1\r\nHost: x\r\nContent-Length: abc\r\n\r\n{}',
    'POST /v1/users HTTP/1.1\r\nHost: x\r\nContent-Length: 2\r\nContent-Length: 3\r\n\r\n{}',
    'POST /v1/users HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: chunked\r\n\r\n5\r\n{"a":\r\n0\r\n\r\n',
    'POST /v1/sessions HTTP/1.1\r\nHost: x\r\nContent-Length: 1000\r\n\r\n{"user":"x"',
    'GET /v1/ws HTTP/1.1\r\nHost: x\r\nUpgrade: websocket\r\nConnection: Upgrade\r\nSec-WebSocket-Version: 99\r\nSec-WebSocket-Key: !!\r\n\r\n',
    'GET /v1/ws HTTP/1.1\r\nHost: x\r\nUpgrade: websocket\r\nConnection: Upgrade\r\nSec-WebSocket-Version: 13\r\n\r\n',
    'GET /v1/health HTTP/1.1\r\nHost: x\r\n\r\nGARBAGE AFTER\r\n\r\n\x00\x00',
  ];
  // half of them closed by us right after writing, half left for the server to answer
  for (let i = 0; i < garbage.length; i++) {
    const r = await rawTcp(port, [Buffer.from(garbage[i], 'latin1')], { waitMs: 1500, endAfter: i % 2 === 1 });
    assert.ok(!/^HTTP\/1\.[01] 50[0-2]/.test(r.text), `garbage ${i}: ${r.text.slice(0, 200)}`);
  }
  await healthOk(c, 0, 'garbage request lines');
  // Abrupt closes mid-body and mid-header.
  const partial = [
    'POST /v1/users HTTP/1.1\r\nHost: x\r\nContent-Length: 5000\r\n\r\n{"user":"abc',
    'POST /v1/sessions HTTP/1.1\r\nHost: x\r\nContent-Len',
    'GET /v1/hea',
    'POST /v1/users HTTP/1.1\r\nHost: x\r\nContent-Length: 30\r\n\r\n{"user":"abcdef","password":"pa',
  ];
  await Promise.all(partial.map((p) => rawTcp(port, [p], { waitMs: 3000, destroyAfterMs: 50 })));
  await healthOk(c, 0, 'abrupt closes');
  // Slowloris: a few sockets that dribble a header; health keeps answering meanwhile.
  const slow = [];
  for (let i = 0; i < 8; i++) {
    slow.push(new Promise((resolve) => {
      const s = net.connect(port, '127.0.0.1');
      let k = 0;
      const parts = ['GET /v1/health HTTP/1.1\r\n', 'Host: x\r\n', 'X-a: b\r\n', 'X-c: d\r\n', 'X-e: f\r\n'];
      const iv = setInterval(() => {
        if (k < parts.length && !s.destroyed) s.write(parts[k++]);
        else {
          clearInterval(iv);
          s.destroy();
          resolve();
        }
      }, 300);
      s.on('error', () => {});
      s.on('close', () => { clearInterval(iv); resolve(); });
    }));
  }
  for (let i = 0; i < 3; i++) await healthOk(c, 0, `slowloris (${i})`);
  await Promise.all(slow);
  await healthOk(c, 0, 'slowloris');
  // Nothing was created: okname is free, A's password still works.
  const r = await httpRequest(u, 'POST', '/v1/sessions', { user: 'okname', password: 'password123', device: 'd' });
  assert.equal(r.status, 401, `okname must not exist: ${r.status} ${r.text}`);
  await healthOk(c, 1, 'the HTTP attack (other gateway)');
  await assertUnchanged(c, 'the HTTP attack');
});

// ---- WebSocket framing -----------------------------------------------------------------

h.test('WebSocket: close mid-fragment, invalid UTF-8 across fragments, connection churn, junk before auth', async (t, c) => {
  // Close (and hang up) in the middle of a fragmented message.
  for (let i = 0; i < 10; i++) {
    const ws = await Client.open(c.wsUrl(i % 2), tok.A, { label: `${A} (mid-fragment ${i})` });
    ws.sendRaw(Buffer.from('{"type":"send","id":"mf","conv":"' + DM + '","client_msg_id":"mf'), { fin: false });
    ws.sendRaw(Buffer.from(`${i}","text":"never`), { fin: false });
    if (i % 2) ws.ws.terminate();
    else ws.ws.close(1000);
    await ws.waitClosed(5000).catch(() => {});
  }
  // Invalid UTF-8 split over fragments: 1007.
  const utfCases = [
    [[0x7b, 0xe2, 0x82], [0x28, 0x7d]], // E2 82 then a non-continuation
    [[0x22, 0xf0, 0x9f], [0x98], [0xff, 0x22]],
    [Buffer.from('{"type":"ping","id":"a'), [0xed], [0xa0, 0x80], Buffer.from('"}')], // surrogate
    [Buffer.from('{"type":"ping","id":"a'), [0xc3]], // ends inside a character (fin on the last)
  ];
  for (const [k, parts] of utfCases.entries()) {
    const ws = await Client.open(c.wsUrl(0), tok.A, { label: `${A} (utf8 ${k})` });
    parts.forEach((p, i) => ws.sendRaw(Buffer.from(p), { fin: i === parts.length - 1 }));
    const cl = await ws.waitClosed(5000);
    assert.equal(cl.code, 1007, `fragmented invalid UTF-8 case ${k}`);
  }
  // Unauthenticated sockets sending junk: 4401, and more junk after it is harmless.
  for (const junk of ['junk', '{}', '[]', '{"type":"auth","id":"a"}', '{"type":"auth","id":"a","token":5}',
    '{"type":"auth","id":"a","token":"x.y.z"}', `{"type":"auth","id":"a","token":"${A}.phone.${'A'.repeat(43)}"}`,
    '{"type":"auth","id":"a","token":"' + '.'.repeat(5000) + '"}', '{"type":"send","id":"s","conv":"' + DM + '","client_msg_id":"u","text":"x"}']) {
    const ws = await Client.connect(c.wsUrl(1), { label: 'unauth' });
    ws.sendRaw(junk);
    for (let i = 0; i < 5; i++) ws.sendRaw(`{"type":"send","id":"x${i}","conv":"${DM}","client_msg_id":"unauth${i}","text":"x"}`);
    const cl = await ws.waitClosed(5000);
    assert.equal(cl.code, 4401, `unauthenticated junk ${junk.slice(0, 60)}`);
  }
  {
    const ws = await Client.connect(c.wsUrl(1), { label: 'unauth binary' });
    ws.sendRaw(Buffer.from([0, 1, 2]), { binary: true });
    assert.equal((await ws.waitClosed(5000)).code, 4401);
  }
  // Churn: 200 connections opened and closed quickly, half authenticated, some mid-request.
  const churn = [];
  for (let i = 0; i < 200; i++) {
    churn.push((async () => {
      const ws = await Client.connect(c.wsUrl(i % 2), { label: `churn ${i}` });
      if (i % 2) {
        ws.sendRaw(JSON.stringify({ type: 'auth', id: 'a', token: tok.B }));
        if (i % 4 === 1) ws.sendRaw(JSON.stringify({ type: 'sync', id: 's', conv: DM }));
      }
      if (i % 3) ws.ws.terminate();
      else ws.close();
    })());
    if (churn.length % 50 === 0) await Promise.all(churn.splice(0));
  }
  await Promise.all(churn);
  await healthOk(c, 0, 'churn');
  await healthOk(c, 1, 'churn');
  const ws = await Client.open(c.wsUrl(0), tok.B, { label: B });
  await alive(ws, 'churn');
  ws.close();
  await assertUnchanged(c, 'the WebSocket attack');
});

// ---- ZeroMQ ----------------------------------------------------------------------------

function findJunk() {
  if (process.env.PARLEY_ZMQ_JUNK_BIN) return process.env.PARLEY_ZMQ_JUNK_BIN;
  const repo = path.resolve(__dirname, '..', '..');
  const cands = fs.readdirSync(repo).filter((d) => d.startsWith('build'))
    .map((d) => path.join(repo, d, 'tests', 'e2e', 'zmq-junk'))
    .filter((p) => fs.existsSync(p))
    .sort((a, b) => fs.statSync(b).mtimeMs - fs.statSync(a).mtimeMs);
  return cands[0];
}

h.test('ZeroMQ: malformed messages from a fake gateway and a fake shard are dropped; the cluster keeps working', async (t, c) => {
  const bin = findJunk();
  assert.ok(bin, 'zmq-junk not built (tests/e2e/tools/zmq-junk.c): set PARLEY_ZMQ_JUNK_BIN');
  const base = [`tcp://127.0.0.1:${c.frontPort}`, `tcp://127.0.0.1:${c.backPort}`, 'g/e2e-gw0', A, B, 'phone', DM];
  const runJunk = (args) => new Promise((resolve, reject) => {
    const p = spawn(bin, args, { stdio: ['ignore', 'pipe', 'pipe'] });
    let text = '';
    p.stdout.on('data', (d) => { text += d; });
    p.stderr.on('data', (d) => { text += d; });
    // With keys every frame (some of 8 MiB) is CURVE-encrypted twice on the way: slow under ASan.
    const timer = setTimeout(() => { p.kill('SIGKILL'); reject(new Error(`zmq-junk did not finish: ${text}`)); }, 60000);
    p.on('exit', (code) => {
      clearTimeout(timer);
      if (code === 0) resolve(text);
      else reject(new Error(`zmq-junk exited ${code}: ${text}`));
    });
  });
  // Without keys (plain ZeroMQ): the router's CURVE handshake refuses every socket, so
  // not one message is answered.
  const plain = await runJunk(base);
  t.diagnostic(plain.trim());
  assert.match(plain, /received 0$/m, 'junk without a CURVE key gets nothing');
  // ...and the router's monitor sockets (readers of its loop, proto/pl_loop.c) saw those
  // handshakes fail: the router logs them (docs/internals.md "Security between roles").
  if (c.curve) {
    await waitFor('the router logs the failed CURVE handshakes', () =>
      c.proc('router', 0).log().includes('failed the CURVE handshake'), { timeoutMs: 10000 });
  }
  // With an admitted gateway key and a shard key outside the slot table (s/99): the junk
  // reaches the router's decoders, as a misbehaving gateway or shard would send it.
  const keyed = c.curve ? ['--gw-key', c.makeKey('junk-gw', 'gateway', 'junk').secret,
    '--shard-key', c.makeKey('junk-shard', 'shard', 99).secret, '--router-key', c.routerKey] : [];
  const out = await runJunk([...keyed, ...base]);
  t.diagnostic(out.trim());
  // Every process still answers: health through both gateways, then a dm round trip.
  await healthOk(c, 0, 'ZeroMQ junk');
  await healthOk(c, 1, 'ZeroMQ junk');
  await assertUnchanged(c, 'the ZeroMQ junk');
  const a = await Client.open(c.wsUrl(0), tok.A, { label: A });
  const b = await Client.open(c.wsUrl(1), tok.B, { label: B });
  const s = await a.ok('send', { conv: DM, client_msg_id: uid('after-junk'), text: 'after the junk' });
  const ev = await b.nextEvent((f) => f.type === 'msg' && f.conv === DM, 5000, 'msg after the junk');
  assert.equal(ev.seq, s.seq);
  const sy = await b.ok('sync', { conv: DM, after: s.seq - 1 });
  assert.equal(sy.msgs.length, 1);
  assert.equal(sy.msgs[0].text, 'after the junk');
  assert.equal(s.seq, baseline.snap.msgs.length + 1, 'no message was stored by the junk');
});
