'use strict';
// Edge hardening (issue 8, "the smaller ones"): HTTP message framing (RFC 9112 §6.1,
// §6.3: Transfer-Encoding over Content-Length, both together refused, unknown codings
// 501, requests pipelined after a chunked body answered), push URLs normalised before
// the --push-allow prefix check, a WebSocket frame declaring more than 1 MiB refused as
// soon as its header arrives, unmasked client frames closed with 1002 (RFC 6455 §5.1),
// and user-existence answers on dm: conversations rate-limited.
//
// HTTP and WebSocket framing are spoken on raw TCP sockets so that nothing in between
// fixes or rejects the bytes first.
const assert = require('node:assert/strict');
const crypto = require('node:crypto');
const http = require('node:http');
const net = require('node:net');
const { setup, uid } = require('./lib/harness');
const { createUser, login, Client } = require('./lib/client');
const { waitFor } = require('./lib/cluster');

// ---- a webhook receiver (push URL normalisation) -------------------------------------
const received = []; // {path}
let hookPort;
const hookServer = http.createServer((req, res) => {
  req.resume();
  req.on('end', () => {
    received.push({ path: req.url });
    res.writeHead(200);
    res.end('');
  });
});

const DM_BURST = 5;
const DM_IP_BURST = 10;
const h = setup({
  shards: 2,
  gateways: 1,
  gatewayArgs: async () => {
    await new Promise((resolve) => hookServer.listen(0, '127.0.0.1', resolve));
    hookPort = hookServer.address().port;
    hookServer.unref();
    return ['--push-allow', `http://127.0.0.1:${hookPort}/hook/`, '--presence-timeout', '2000', '--idle-close', '60000',
      '--dm-probe-burst', String(DM_BURST), '--dm-probe-per-sec', '1',
      '--dm-probe-ip-burst', String(DM_IP_BURST), '--dm-probe-ip-per-sec', '1'];
  },
});

const tok = {};
h.before(async (c) => {
  for (const u of ['alice', 'bob', 'carol', 'dave', 'erin']) {
    await createUser(c.httpUrl(0), u);
    tok[u] = await login(c.httpUrl(0), u, 'phone');
  }
});

// ---- raw HTTP ------------------------------------------------------------------------

// Parse as many complete HTTP/1.1 responses (Content-Length bodies) as buf holds.
function parseResponses(buf) {
  const out = [];
  let s = buf.toString('latin1');
  for (;;) {
    const at = s.indexOf('\r\n\r\n');
    if (at < 0) break;
    const head = s.slice(0, at);
    const m = /\r\ncontent-length:\s*(\d+)/i.exec(head);
    const blen = m ? Number(m[1]) : 0;
    if (s.length < at + 4 + blen) break;
    const status = Number(/^HTTP\/1\.1 (\d{3})/.exec(head)?.[1]);
    out.push({ status, head, body: s.slice(at + 4, at + 4 + blen) });
    s = s.slice(at + 4 + blen);
  }
  return out;
}

// Write text on a new connection; resolve once `want` responses arrived or the server
// closed (then with what came and closed: true), or after timeoutMs (closed: false).
function rawHttp(c, text, { want = 1, timeoutMs = 5000 } = {}) {
  return new Promise((resolve) => {
    const s = net.connect(c.gwPorts[0], '127.0.0.1');
    const got = [];
    let done = false;
    const finish = (closed) => {
      if (done) return;
      done = true;
      clearTimeout(timer);
      s.destroy();
      resolve({ closed, responses: parseResponses(Buffer.concat(got)), raw: Buffer.concat(got).toString('latin1') });
    };
    const timer = setTimeout(() => finish(false), timeoutMs);
    s.on('data', (d) => {
      got.push(d);
      if (want && parseResponses(Buffer.concat(got)).length >= want) finish(false);
    });
    s.on('close', () => finish(true));
    s.on('error', () => finish(true));
    s.write(text);
  });
}

const userBody = (name) => JSON.stringify({ user: name, password: 'password123' });
const chunk = (str) => `${Buffer.byteLength(str).toString(16)}\r\n${str}\r\n`;

h.test('HTTP: Transfer-Encoding with Content-Length is refused with 400 and the connection closed', async (t, c) => {
  const name = `te_cl_${process.pid % 10000}`;
  const body = userBody(name);
  // A proxy that honours Content-Length sees one request; a proxy that honours TE sees
  // the chunked body end early and "GET /smuggled" next. Either way: 400 and close.
  const smuggle = `0\r\n\r\nGET /v1/health HTTP/1.1\r\nHost: x\r\n\r\n`;
  const text = `POST /v1/users HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\n` +
    `Content-Length: ${smuggle.length}\r\nTransfer-Encoding: chunked\r\n\r\n${smuggle}`;
  const r = await rawHttp(c, text, { want: 0, timeoutMs: 5000 });
  assert.ok(r.closed, `the connection stays open after TE + CL: ${r.raw}`);
  assert.equal(r.responses.length, 1, `exactly one answer: ${r.raw}`);
  assert.equal(r.responses[0].status, 400, r.raw);
  assert.match(r.responses[0].body, /"error":"bad_request"/);
  // A body that is valid when framed by Content-Length (which lws alone would use):
  // refused all the same, and nothing is created.
  const r2 = await rawHttp(c, `POST /v1/users HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\n` +
    `Transfer-Encoding: chunked\r\nContent-Length: ${body.length}\r\n\r\n${body}`, { want: 0 });
  assert.equal(r2.responses[0]?.status, 400, r2.raw);
  assert.ok(r2.closed, 'closed after 400');
  const again = await rawHttp(c, `POST /v1/users HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\n` +
    `Content-Length: ${body.length}\r\nConnection: close\r\n\r\n${body}`);
  assert.equal(again.responses[0]?.status, 201, `the refused request created the user: ${again.raw}`);
});

h.test('HTTP: unknown transfer codings get 501, a malformed Transfer-Encoding 400, both close', async (t, c) => {
  for (const te of ['xchunked', 'gzip, chunked', 'chunked, identity', 'identity', 'chunked;x=1']) {
    const r = await rawHttp(c, `POST /v1/users HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: ${te}\r\n\r\n` +
      `${chunk(userBody('tecoding'))}0\r\n\r\n`, { want: 0 });
    assert.equal(r.responses.length, 1, `TE ${te}: ${r.raw}`);
    assert.equal(r.responses[0].status, 501, `TE ${te}: ${r.raw}`);
    assert.ok(r.closed, `TE ${te}: connection left open`);
  }
  for (const te of ['chunked, chunked', ',', ' , ']) {
    const r = await rawHttp(c, `POST /v1/users HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: ${te}\r\n\r\n`, { want: 0 });
    assert.equal(r.responses[0]?.status, 400, `TE "${te}": ${r.raw}`);
    assert.ok(r.closed, `TE "${te}": connection left open`);
  }
  // GET with a body framing is refused as well: its bytes would be read as a request.
  const g = await rawHttp(c, 'GET /v1/health HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: chunked\r\n\r\n' +
    '0\r\n\r\n', { want: 0 });
  assert.equal(g.responses[0]?.status, 400, g.raw);
  assert.ok(g.closed);
  // Upper case is the same coding.
  const ok = await rawHttp(c, `POST /v1/users HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: CHUNKED\r\nConnection: close\r\n\r\n` +
    `${chunk(userBody(`teup_${process.pid % 10000}`))}0\r\n\r\n`);
  assert.equal(ok.responses[0]?.status, 201, ok.raw);
});

h.test('HTTP: requests pipelined after a chunked body are answered, in order', async (t, c) => {
  const n1 = `pipe1_${process.pid % 10000}`;
  const n2 = `pipe2_${process.pid % 10000}`;
  const body2 = userBody(n2);
  const text =
    `POST /v1/users HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: chunked\r\n\r\n${chunk(userBody(n1))}0\r\n\r\n` +
    'GET /v1/health HTTP/1.1\r\nHost: x\r\n\r\n' +
    `POST /v1/users HTTP/1.1\r\nHost: x\r\nContent-Length: ${body2.length}\r\n\r\n${body2}` +
    `POST /v1/users HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: chunked\r\n\r\n${chunk(userBody(n1))}0\r\nX-T: 1\r\n\r\n` +
    'GET /v1/nowhere HTTP/1.1\r\nHost: x\r\n\r\n';
  const r = await rawHttp(c, text, { want: 5, timeoutMs: 8000 });
  assert.deepEqual(r.responses.map((x) => x.status), [201, 200, 201, 409, 404], r.raw);
  // Also when the pipelined request comes in the same TCP segment as the last chunk,
  // split at every position of the terminating chunk.
  const tail = '0\r\n\r\nGET /v1/health HTTP/1.1\r\nHost: x\r\n\r\n';
  for (let cut = 0; cut <= 5; cut++) {
    const s = net.connect(c.gwPorts[0], '127.0.0.1');
    const got = [];
    s.on('data', (d) => got.push(d));
    s.on('error', () => {});
    await new Promise((res) => s.on('connect', res));
    s.write(`POST /v1/users HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: chunked\r\n\r\n${chunk(userBody(n1))}` + tail.slice(0, cut));
    await new Promise((res) => setTimeout(res, 20));
    s.write(tail.slice(cut));
    await waitFor(`two answers (cut ${cut})`, () => parseResponses(Buffer.concat(got)).length >= 2, { timeoutMs: 5000, intervalMs: 20 });
    s.destroy();
    assert.deepEqual(parseResponses(Buffer.concat(got)).map((x) => x.status), [409, 200], `cut ${cut}`);
  }
});

// ---- raw WebSocket -------------------------------------------------------------------

class RawWs {
  static open(c) {
    return new Promise((resolve, reject) => {
      const s = net.connect(c.gwPorts[0], '127.0.0.1');
      const ws = new RawWs(s);
      let head = Buffer.alloc(0);
      const onData = (d) => {
        head = Buffer.concat([head, d]);
        const at = head.indexOf('\r\n\r\n');
        if (at < 0) return;
        s.removeListener('data', onData);
        if (!/^HTTP\/1\.1 101/.test(head.toString('latin1'))) {
          reject(new Error(`no upgrade: ${head}`));
          return;
        }
        s.on('data', (x) => ws._data(x));
        ws._data(head.subarray(at + 4));
        resolve(ws);
      };
      s.on('data', onData);
      s.on('error', () => {});
      s.on('close', () => { ws.closed = true; for (const w of ws.waiters.splice(0)) w(); });
      s.write(`GET /v1/ws HTTP/1.1\r\nHost: x\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n` +
        `Sec-WebSocket-Key: ${crypto.randomBytes(16).toString('base64')}\r\nSec-WebSocket-Version: 13\r\n\r\n`);
    });
  }

  constructor(s) {
    this.s = s;
    this.buf = Buffer.alloc(0);
    this.frames = []; // {opcode, payload}
    this.closed = false;
    this.waiters = [];
  }

  _data(d) {
    this.buf = Buffer.concat([this.buf, d]);
    for (;;) {
      const b = this.buf;
      if (b.length < 2) break;
      let len = b[1] & 0x7f;
      let off = 2;
      if (len === 126) { if (b.length < 4) break; len = b.readUInt16BE(2); off = 4; }
      else if (len === 127) { if (b.length < 10) break; len = Number(b.readBigUInt64BE(2)); off = 10; }
      if (b.length < off + len) break;
      this.frames.push({ opcode: b[0] & 0x0f, payload: b.subarray(off, off + len) });
      this.buf = b.subarray(off + len);
    }
    for (const w of this.waiters.splice(0)) w();
  }

  // A frame header (client side); declared length may exceed the payload that follows.
  static header(opcode, declared, { fin = true, mask = true } = {}) {
    const parts = [Buffer.from([(fin ? 0x80 : 0) | opcode])];
    const m = mask ? 0x80 : 0;
    if (declared < 126) parts.push(Buffer.from([m | declared]));
    else if (declared < 65536) { const x = Buffer.alloc(3); x[0] = m | 126; x.writeUInt16BE(declared, 1); parts.push(x); }
    else { const x = Buffer.alloc(9); x[0] = m | 127; x.writeBigUInt64BE(BigInt(declared), 1); parts.push(x); }
    return Buffer.concat(parts);
  }

  // Send one whole frame; masked with a random key unless mask is false.
  send(opcode, payload, { fin = true, mask = true } = {}) {
    const p = Buffer.from(payload);
    const parts = [RawWs.header(opcode, p.length, { fin, mask })];
    if (mask) {
      const key = crypto.randomBytes(4);
      parts.push(key, Buffer.from(p.map((x, i) => x ^ key[i & 3])));
    } else {
      parts.push(p);
    }
    this.s.write(Buffer.concat(parts));
  }

  sendJson(obj, opts) { this.send(1, JSON.stringify(obj), opts); }

  // The first frame (after `from`) matching pred, or null once the socket closed.
  async next(pred, timeoutMs, what) {
    const deadline = Date.now() + timeoutMs;
    for (;;) {
      const f = this.frames.find(pred);
      if (f) return f;
      if (this.closed) return null;
      const left = deadline - Date.now();
      if (left <= 0) throw new Error(`timed out after ${timeoutMs} ms waiting for ${what}`);
      await new Promise((res) => { const t = setTimeout(res, left); this.waiters.push(() => { clearTimeout(t); res(); }); });
    }
  }

  json() {
    return this.frames.filter((f) => f.opcode === 1).map((f) => JSON.parse(f.payload.toString('utf8')));
  }

  closeCode() {
    const f = this.frames.find((x) => x.opcode === 8);
    return f && f.payload.length >= 2 ? f.payload.readUInt16BE(0) : undefined;
  }

  async waitTcpClosed(timeoutMs, what) {
    await waitFor(what, () => this.closed, { timeoutMs, intervalMs: 20 });
  }

  destroy() { this.s.destroy(); }
}

async function authed(c, user) {
  const ws = await RawWs.open(c);
  ws.sendJson({ type: 'auth', id: 'a', token: tok[user] });
  const a = await ws.next((f) => f.opcode === 1, 5000, 'auth answer');
  assert.ok(a, 'closed before the auth answer');
  assert.equal(JSON.parse(a.payload).type, 'ok', `auth: ${a.payload}`);
  return ws;
}

h.test('WebSocket: a frame declaring more than 1 MiB gets too_large and close 1009 at its header', async (t, c) => {
  for (const declared of [2 ** 62, 1048577]) {
    const ws = await authed(c, 'alice');
    ws.sendJson({ type: 'ping', id: 'before' });
    // The header and a little payload; the rest never comes.
    ws.s.write(Buffer.concat([RawWs.header(1, declared), Buffer.alloc(4), Buffer.alloc(1000, 0x20)]));
    const close = await ws.next((f) => f.opcode === 8, 3000, `close after a ${declared}-byte header`);
    assert.ok(close, `${declared}: the socket was dropped without a close frame`);
    assert.equal(ws.closeCode(), 1009, `${declared}: close code`);
    const msgs = ws.json();
    assert.deepEqual(msgs.map((m) => m.id ?? m.code), ['a', 'before', 'too_large'], JSON.stringify(msgs));
    // It may keep streaming: the server ends the connection anyway.
    const junk = Buffer.alloc(65536, 0x41);
    const pump = setInterval(() => { if (!ws.closed) ws.s.write(junk); }, 10);
    try {
      await ws.waitTcpClosed(6000, 'the server to drop a socket that streams on after 1009');
    } finally {
      clearInterval(pump);
    }
  }
  // A fragmented message is judged by its total: 600 KiB + a fragment declaring 600 KiB.
  const ws = await authed(c, 'alice');
  ws.send(1, Buffer.alloc(600 * 1024, 0x20), { fin: false });
  ws.s.write(Buffer.concat([RawWs.header(0, 600 * 1024), Buffer.alloc(4), Buffer.alloc(10, 0x20)]));
  assert.ok(await ws.next((f) => f.opcode === 8, 3000, 'close for a too large fragmented message'));
  assert.equal(ws.closeCode(), 1009);
  assert.deepEqual(ws.json().map((m) => m.id ?? m.code), ['a', 'too_large']);
  // Exactly 1 MiB in two fragments is fine.
  const ok = await authed(c, 'alice');
  const body = Buffer.from(JSON.stringify({ type: 'ping', id: 'big', pad: 'x'.repeat(1048576 - 40) }));
  const whole = Buffer.concat([body, Buffer.alloc(1048576 - body.length, 0x20)]);
  ok.send(1, whole.subarray(0, 500000), { fin: false });
  ok.send(0, whole.subarray(500000), { fin: true });
  const pong = await ok.next((f) => f.opcode === 1 && JSON.parse(f.payload).id === 'big', 10000, 'ok to a 1 MiB ping');
  assert.equal(JSON.parse(pong.payload).type, 'ok');
  ok.destroy();
});

h.test('WebSocket: an unmasked client frame closes the connection with 1002 and is not processed', async (t, c) => {
  const bob = await Client.open(c.wsUrl(0), tok.bob, { label: 'bob' });
  // Before auth.
  const w0 = await RawWs.open(c);
  w0.sendJson({ type: 'auth', id: 'a', token: tok.alice }, { mask: false });
  assert.ok(await w0.next((f) => f.opcode === 8, 3000, 'close after an unmasked auth'));
  assert.equal(w0.closeCode(), 1002);
  assert.deepEqual(w0.json(), [], 'the unmasked auth was answered');
  w0.destroy();
  // After auth: a masked ping is answered, the unmasked send is not stored.
  const ws = await authed(c, 'alice');
  ws.sendJson({ type: 'ping', id: 'p1' });
  await ws.next((f) => f.opcode === 1 && JSON.parse(f.payload).id === 'p1', 5000, 'ping answer');
  const cmid = uid();
  ws.sendJson({ type: 'send', id: 's1', conv: 'dm:alice:bob', client_msg_id: cmid, text: 'unmasked' }, { mask: false });
  ws.sendJson({ type: 'ping', id: 'p2' });
  assert.ok(await ws.next((f) => f.opcode === 8, 3000, 'close after an unmasked frame'));
  assert.equal(ws.closeCode(), 1002);
  assert.deepEqual(ws.json().map((m) => m.id), ['a', 'p1'], 'a frame at or after the unmasked one was answered');
  await bob.expectNoEvent((e) => e.type === 'msg', 500, 'msg from an unmasked frame');
  const sync = await bob.ok('sync', { conv: 'dm:alice:bob' });
  assert.ok(!sync.msgs.some((m) => m.client_msg_id === cmid), 'the unmasked send was stored');
  // An unmasked control frame (ping) too.
  const w2 = await authed(c, 'alice');
  w2.send(9, 'x', { mask: false });
  assert.ok(await w2.next((f) => f.opcode === 8, 3000, 'close after an unmasked ping'));
  assert.equal(w2.closeCode(), 1002);
  // Frames sent before the handshake answer (RFC 6455 §4.1 forbids it) are followed
  // exactly: this masked one is the first frame, not auth: unauthenticated, 4401.
  const early = await new Promise((resolve) => {
    const s = net.connect(c.gwPorts[0], '127.0.0.1');
    const got = [];
    s.on('data', (d) => got.push(d));
    s.on('error', () => {});
    s.on('close', () => resolve(Buffer.concat(got).toString('latin1')));
    const f = Buffer.concat([RawWs.header(1, 2), Buffer.alloc(4), Buffer.from('{}')]);
    s.write(Buffer.concat([Buffer.from(`GET /v1/ws HTTP/1.1\r\nHost: x\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n` +
      `Sec-WebSocket-Key: ${crypto.randomBytes(16).toString('base64')}\r\nSec-WebSocket-Version: 13\r\n\r\n`), f]));
    setTimeout(() => s.destroy(), 5000);
  });
  assert.match(early, /^HTTP\/1\.1 101/, early);
  assert.match(early, /"code":"unauthenticated"/, early);
  assert.ok(early.includes('\x88\x02\x11\x31'), `no close 4401 for a frame before the 101: ${JSON.stringify(early)}`);
});

// ---- push URL normalisation ------------------------------------------------------------

h.test('push_register: URLs are normalised before the prefix check and delivered normalised', async (t, c) => {
  const ws = await Client.open(c.wsUrl(0), tok.carol, { label: 'carol' });
  const base = `http://127.0.0.1:${hookPort}`;
  const forbidden = [
    `${base}/hook/../../evil`,
    `${base}/hook/../evil`,
    `${base}/hook/./../evil`,
    `${base}/hook/%2e%2e/evil`,
    `${base}/hook/%2E%2e/%2e%2E/evil`,
    `${base}/hook/.%2e/evil`,
    `${base}/evil?/hook/`,
    `${base}/hook`,
    `http://127.0.0.1:${hookPort + 1}/hook/x`,
  ];
  for (const url of forbidden) {
    const e = await ws.err('forbidden', 'push_register', { kind: 'webhook', url });
    assert.equal(e.code, 'forbidden', url);
  }
  const bad = [
    `${base}/hook/%2fx`, // an encoded '/' would change the path's segments downstream
    `${base}/hook/%5cx`,
    `${base}/hook/x%`,
    `${base}/hook/x%zz`,
    `${base}/hook/%00`,
    `http://user@127.0.0.1:${hookPort}/hook/x`,
    `http://127.0.0.1:${hookPort}@evil.example/hook/x`,
    'http://bücher.example/hook/x',
    `${base}/hook/é`,
    `${base}/hook/x#frag`,
    'http://127.0.0.1:99999/hook/x',
    'http:///hook/x',
    `${base}\\hook\\x`,
  ];
  for (const url of bad) {
    const e = await ws.err('bad_request', 'push_register', { kind: 'webhook', url });
    assert.equal(e.code, 'bad_request', url);
  }
  // Allowed after normalisation: case of scheme and host, dot segments inside the
  // prefix, encoded unreserved characters. Delivered to the normalised URL.
  const id = uid('n');
  await ws.ok('push_register', { kind: 'webhook', url: `HTTP://127.0.0.1:${hookPort}/hook/a/../b/./%7E${id}` });
  // carol goes offline (seen by alice, who shares the dm with her), then gets a message.
  const alice = await Client.open(c.wsUrl(0), tok.alice, { label: 'alice' });
  await alice.ok('send', { conv: 'dm:alice:carol', client_msg_id: uid(), text: 'while online' });
  const online = async (want) => {
    const a = await alice.ok('presence', { users: ['carol'] });
    return a.presence.length === 1 && a.presence[0].online === want;
  };
  await waitFor('carol online', () => online(true), { timeoutMs: 10000, intervalMs: 100 });
  ws.close();
  await waitFor('carol offline', () => online(false), { timeoutMs: 10000, intervalMs: 100 });
  await alice.ok('send', { conv: 'dm:alice:carol', client_msg_id: uid(), text: 'to the normalised hook' });
  const want = `/hook/b/~${id}`;
  await waitFor(`a webhook POST to ${want}`, () => received.some((r) => r.path === want), { timeoutMs: 8000, intervalMs: 20 });
  assert.ok(!received.some((r) => !r.path.startsWith('/hook/')), `delivered outside /hook/: ${JSON.stringify(received)}`);
});

// ---- dm: user-existence answers --------------------------------------------------------

h.test('dm: answers about whether a user exists are rate-limited per user (enumeration)', async (t, c) => {
  const ws = await Client.open(c.wsUrl(0), tok.dave, { label: 'dave' });
  const ghost = (i) => `zz_${process.pid % 1000}_${i}`;
  // The budget: DM_BURST unknown names answered not_found, then rate_limited.
  const codes = [];
  for (let i = 0; i < DM_BURST + 3; i++) {
    const other = ghost(i);
    const conv = other < 'dave' ? `dm:${other}:dave` : `dm:dave:${other}`;
    const r = await ws.request('sync', { conv });
    codes.push(r.code);
  }
  assert.deepEqual(codes, [...Array(DM_BURST).fill('not_found'), 'rate_limited', 'rate_limited', 'rate_limited'], codes.join());
  // While over budget an existing user not yet confirmed to this user's sockets is no
  // different from a missing one: existence is not revealed either way.
  const e = await ws.request('sync', { conv: 'dm:dave:erin' });
  assert.equal(e.code, 'rate_limited', JSON.stringify(e));
  // The budget is per user, not per socket: a second socket shares it.
  const ws2 = await Client.open(c.wsUrl(0), tok.dave, { label: 'dave2' });
  const e2 = await ws2.request('sync', { conv: 'dm:dave:zzz_other' });
  assert.equal(e2.code, 'rate_limited');
  // Other users are not affected.
  const erin = await Client.open(c.wsUrl(0), tok.erin, { label: 'erin' });
  assert.equal((await erin.request('sync', { conv: 'dm:erin:zzz_none' })).code, 'not_found');
  await erin.ok('sync', { conv: 'dm:bob:erin' });
  // It refills (1/s here): a known user answers ok again, and confirmed users stay free.
  await waitFor('dave\'s budget to refill', async () => (await ws.request('sync', { conv: 'dm:dave:erin' })).type === 'ok',
    { timeoutMs: 5000, intervalMs: 300 });
  for (let i = 0; i < 3; i++) {
    await ws.request('sync', { conv: `dm:dave:zzzz${i}` });
  }
  await ws.ok('sync', { conv: 'dm:dave:erin' });
  await ws.ok('send', { conv: 'dm:dave:erin', client_msg_id: uid(), text: 'still fine' });
  // Many accounts from one address share its budget (10, 1/s here): three users with
  // untouched budgets of 5 each get fewer than 15 not_found answers between them.
  const counts = { not_found: 0, rate_limited: 0 };
  for (const u of ['alice', 'bob', 'carol']) {
    const w = await Client.open(c.wsUrl(0), tok[u], { label: `${u}-probe` });
    for (let i = 0; i < DM_BURST; i++) {
      const r = await w.request('sync', { conv: `dm:${u}:zzzzz_${process.pid % 1000}_${i}` });
      assert.ok(r.code in counts, JSON.stringify(r));
      counts[r.code]++;
    }
    w.close();
  }
  assert.ok(counts.not_found <= DM_IP_BURST + 2 && counts.rate_limited >= 3, JSON.stringify(counts));
});
