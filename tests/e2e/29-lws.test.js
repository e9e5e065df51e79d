'use strict';
// libwebsockets' own bugs (issue 12 item 5; docs/reliability.md "libwebsockets 4.1.6"):
// the published advisories and upstream fixes whose trigger reaches code Parley runs
// (lws 4.1.6's h1 server and header parser), replayed against a live gateway. After each
// probe the gateway must answer GET /v1/health 200 and a canary's `ping`; run on the
// ASan build, a use-after-free or overflow inside lws aborts the gateway and the harness
// reports it as a dead process.
//
// Spoken on raw TCP sockets so that no client library fixes the bytes first.
const assert = require('node:assert/strict');
const net = require('node:net');
const { setup } = require('./lib/harness');
const { createUser, login, Client } = require('./lib/client');
const { waitFor } = require('./lib/cluster');

const h = setup({ shards: 1, gateways: 1 });

const tok = {};
h.before(async (c) => {
  await createUser(c.httpUrl(0), 'lws_canary');
  tok.canary = await login(c.httpUrl(0), 'lws_canary', 'phone');
});

// One keep-alive connection: sends each request of `reqs` after the previous answer's
// head (and Content-Length body) arrived. Resolves {statuses, heads, closed}: the status
// of each answer received, and whether the server closed the socket, once the server
// closed it or nothing more came for waitMs after the last request.
function keepAlive(port, reqs, waitMs = 1500) {
  return new Promise((resolve) => {
    const sock = net.connect({ port, host: '127.0.0.1' });
    let buf = '';
    let sent = 0;
    let closed = false;
    const statuses = [];
    const heads = [];
    let timer = null;
    const finish = () => {
      clearTimeout(timer);
      sock.destroy();
      resolve({ statuses, heads, closed });
    };
    const arm = () => { clearTimeout(timer); timer = setTimeout(finish, waitMs); };
    const next = () => {
      if (sent < reqs.length) sock.write(reqs[sent++]);
      arm();
    };
    sock.on('connect', next);
    sock.on('data', (d) => {
      buf += d.toString('latin1');
      for (;;) {
        const end = buf.indexOf('\r\n\r\n');
        if (end < 0) return;
        const head = buf.slice(0, end);
        const cl = /\r\ncontent-length:\s*(\d+)/i.exec(head);
        const bodyLen = cl ? Number(cl[1]) : 0;
        if (buf.length < end + 4 + bodyLen) return;
        buf = buf.slice(end + 4 + bodyLen);
        const m = /^HTTP\/1\.[01] (\d{3})/.exec(head);
        statuses.push(m ? Number(m[1]) : 0);
        heads.push(head);
        next();
      }
    });
    sock.on('error', () => {});
    sock.on('close', () => { closed = true; finish(); });
  });
}

const HEALTH = 'GET /v1/health HTTP/1.1\r\nHost: x\r\n\r\n';
const upgradeTo = (proto) => `GET /v1/ws HTTP/1.1\r\nHost: x\r\nUpgrade: ${proto}\r\nConnection: Upgrade\r\n` +
  'Sec-WebSocket-Version: 13\r\nSec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\n\r\n';

async function aliveCheck(c, canary, what) {
  await canary.ok('ping');
  assert.equal(await c.health(0), 200, `gateway healthy after ${what}`);
}

// CVE-2025-11677 (lws commit 2f082ec31, Nozomi NN-2025-0102): lws answers an unknown
// `Upgrade:` with 403 and completes the transaction, which on a keep-alive connection
// frees the header table, then still calls LWS_CALLBACK_HTTP_CONFIRM_UPGRADE with a
// pointer into it. Parley handles that callback: it must not read the pointer.
h.test('CVE-2025-11677: an unknown Upgrade after a keep-alive request gets 403 and a close, no use-after-free', async (t, c) => {
  const port = c.gwPorts[0];
  const canary = await Client.open(c.wsUrl(0), tok.canary, { label: 'canary' });
  // The freed-header-table path needs a connection lws already treats as keep-alive:
  // one answered request first. Several upgrade tokens, mixed case, long.
  for (const proto of ['foo', 'WebSocketX', 'h2', 'websocket2', 'x'.repeat(200)]) {
    const r = await keepAlive(port, [HEALTH, upgradeTo(proto)]);
    assert.equal(r.statuses[0], 200, `first request answered: ${r.heads[0]}`);
    assert.ok(r.statuses.length === 1 || r.statuses[1] === 403, `Upgrade: ${proto.slice(0, 20)}: ${r.heads[1]}`);
    assert.ok(r.closed, `Upgrade: ${proto.slice(0, 20)}: the connection is closed`);
    await aliveCheck(c, canary, `Upgrade: ${proto.slice(0, 20)} on a keep-alive connection`);
  }
  // The gateway saw the header table gone (before the fix it read the freed table: ASan
  // aborts there; a release build logged whatever bytes were left).
  await waitFor('the refusal logged as "header table gone"',
    () => c.proc('gateway', 0).log().includes('HTTP upgrade to (header table gone) refused'));
  // As the first request (lws closes before the callback) and after three answered ones.
  let r = await keepAlive(port, [upgradeTo('foo')]);
  assert.equal(r.statuses[0], 403, r.heads[0]);
  assert.ok(r.closed);
  r = await keepAlive(port, [HEALTH, HEALTH, HEALTH, upgradeTo('foo')]);
  assert.deepEqual(r.statuses.slice(0, 3), [200, 200, 200]);
  assert.ok(r.closed);
  // h2c on a keep-alive connection: the callback sees a live header and refuses it.
  r = await keepAlive(port, [HEALTH, 'GET /v1/health HTTP/1.1\r\nHost: x\r\nConnection: Upgrade, HTTP2-Settings\r\n' +
    'Upgrade: h2c\r\nHTTP2-Settings: AAMAAABkAAQAAP__\r\n\r\n']);
  assert.equal(r.statuses[0], 200);
  assert.ok(!r.statuses.includes(101), `h2c: ${r.heads[1]}`);
  assert.ok(r.closed);
  // A WebSocket upgrade after a keep-alive request still works (the check reads the
  // header table, not the callback's pointer).
  r = await keepAlive(port, [HEALTH, upgradeTo('websocket')]);
  assert.deepEqual(r.statuses, [200, 101], r.heads.join(' | '));
  await aliveCheck(c, canary, 'the upgrade probes');
  canary.close();
});

// CVE-2026-19773 (ZDI-CAN-31036, lws commit 824151862): HPACK :path written past the
// header table. Only HTTP/2 reaches it; Parley's port never speaks HTTP/2 (no TLS/ALPN,
// no prior knowledge, h2c refused): the preface followed by a HEADERS frame with a long
// literal :path gets no HTTP/2 answer.
h.test('CVE-2026-19773: an HTTP/2 HEADERS frame with an oversized :path never reaches HPACK', async (t, c) => {
  const port = c.gwPorts[0];
  const canary = await Client.open(c.wsUrl(0), tok.canary, { label: 'canary-h2' });
  const pathLen = 8000; // over lws's 4 KiB header table
  const block = Buffer.concat([
    Buffer.from([0x82, 0x86, 0x04]), // :method GET, :scheme http, :path literal (indexed name 4)
    Buffer.from([0x7f, ...hpackInt(pathLen - 127)]), // length, no Huffman, 7-bit prefix full
    Buffer.from('/' + 'a'.repeat(pathLen - 1)),
  ]);
  const frame = (type, flags, stream, payload) => {
    const hd = Buffer.alloc(9);
    hd.writeUIntBE(payload.length, 0, 3);
    hd[3] = type;
    hd[4] = flags;
    hd.writeUInt32BE(stream, 5);
    return Buffer.concat([hd, payload]);
  };
  const bytes = Buffer.concat([
    Buffer.from('PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n'),
    frame(4, 0, 0, Buffer.alloc(0)), // SETTINGS
    frame(1, 0x5, 1, block), // HEADERS, END_STREAM | END_HEADERS
  ]);
  const got = await new Promise((resolve) => {
    const sock = net.connect({ port, host: '127.0.0.1' });
    let buf = Buffer.alloc(0);
    const timer = setTimeout(() => { sock.destroy(); resolve(buf); }, 1500);
    sock.on('connect', () => sock.write(bytes));
    sock.on('data', (d) => { buf = Buffer.concat([buf, d]); });
    sock.on('error', () => {});
    sock.on('close', () => { clearTimeout(timer); resolve(buf); });
  });
  // An HTTP/2 server would answer with its SETTINGS frame (type 4 at byte 3).
  assert.ok(got.length < 9 || got[3] !== 4 || got.toString('latin1').startsWith('HTTP/1.1'),
    `no HTTP/2 answer: ${got.subarray(0, 40).toString('hex')}`);
  await aliveCheck(c, canary, 'an HTTP/2 HEADERS frame');
  canary.close();
});

// lws commit 0c6cef092 ("lws_parse_urldecode: check after bump", 2026): a URI argument
// delimiter (`?`, `&`) at the end of the header table moved the write position past it.
// In 4.1.6 issue_char() refuses any later write there (lws_pos_in_bounds); this sweeps
// the delimiter across the end of the 4 KiB table (measured: URIs up to ~4,040 bytes are
// answered, longer ones closed) to prove it on the live gateway (ASan build).
h.test('URI argument delimiters at the header table boundary are refused cleanly', async (t, c) => {
  const port = c.gwPorts[0];
  const canary = await Client.open(c.wsUrl(0), tok.canary, { label: 'canary-uri' });
  const seen = new Map(); // status (0: closed unanswered) -> count
  for (let n = 4010; n <= 4080; n++) {
    for (const uri of [
      '/v1/health?' + 'b'.repeat(n - 11) + '&c',
      '/v1/health?' + 'b'.repeat(n - 11) + '&&&',
      '/v1/health' + 'b'.repeat(n - 10) + '?c',
    ]) {
      const r = await keepAlive(port, [`GET ${uri} HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n`], 1000);
      const st = r.statuses[0] ?? 0;
      seen.set(st, (seen.get(st) || 0) + 1);
      assert.ok(st < 500, `URI of ${uri.length} bytes: ${r.heads[0]}`);
    }
    if (n % 10 === 0) await aliveCheck(c, canary, `URIs of ${n} bytes`);
  }
  t.diagnostic(`answers (status: count, 0 = closed unanswered): ${[...seen].map(([k, v]) => `${k}: ${v}`).join(', ')}`);
  // The sweep must straddle the boundary: some answered, some refused.
  assert.ok(seen.get(0) > 0 && [...seen.keys()].some((k) => k > 0), 'the sweep crosses the end of the header table');
  await aliveCheck(c, canary, 'the URI sweep');
  canary.close();
});

// Handshake inputs that later lws releases refuse outright, against 4.1.6 as Parley runs
// it: a NUL inside a header (cae06c63a "Audit fixes" rejects it in lws_parse; 4.1.6 keeps
// it and every reader stops at it, so `Upgrade: websocket\0h2c` was upgraded: netio.c
// now fails the connection) and an extension named twice (b0073c76d: overflow of the
// active-extension array when an extension is configured; Parley configures none).
h.test('handshakes later lws releases refuse: NUL in headers, an extension offered twice', async (t, c) => {
  const port = c.gwPorts[0];
  const canary = await Client.open(c.wsUrl(0), tok.canary, { label: 'canary-hs' });
  const KEY = 'Sec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\n';
  const base = 'GET /v1/ws HTTP/1.1\r\nHost: x\r\nConnection: Upgrade\r\nSec-WebSocket-Version: 13\r\n';
  for (const [what, req] of [
    ['NUL in the Upgrade value', `${base}${KEY}Upgrade: web\0socket\r\n\r\n`],
    ['NUL after the Upgrade value', `${base}${KEY}Upgrade: websocket\0h2c\r\n\r\n`],
    ['NUL in a header name', `${base}${KEY}Upgrade: websocket\r\nX-A\0B: v\r\n\r\n`],
    ['NUL in the key', `${base}Sec-WebSocket-Key: dGhlIHNh\0bXBsZSBub25jZQ==\r\nUpgrade: websocket\r\n\r\n`],
    ['NUL in the request line', `GET /v1/\0ws HTTP/1.1\r\nHost: x\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n` +
      `Sec-WebSocket-Version: 13\r\n${KEY}\r\n`],
  ]) {
    const r = await keepAlive(port, [req], 3000);
    // netio.c fails the connection at the NUL (before lws parses the block): no answer.
    assert.deepEqual(r.statuses, [], `${what}: ${r.heads[0]}`);
    assert.ok(r.closed, `${what}: the connection is closed`);
    await aliveCheck(c, canary, what);
  }
  for (const ext of ['permessage-deflate, permessage-deflate', 'permessage-deflate; a, permessage-deflate; b, x-webkit-deflate-frame, foo, foo']) {
    const r = await keepAlive(port, [`${base}${KEY}Upgrade: websocket\r\nSec-WebSocket-Extensions: ${ext}\r\n\r\n`], 500);
    assert.equal(r.statuses[0], 101, r.heads[0]);
    assert.doesNotMatch(r.heads[0], /sec-websocket-extensions/i, 'no extension is negotiated');
    await aliveCheck(c, canary, `extensions ${ext}`);
  }
  canary.close();
});

// HPACK integer continuation bytes (RFC 7541 §5.1) for a value already past the prefix.
function hpackInt(v) {
  const out = [];
  while (v >= 128) { out.push((v % 128) + 128); v = Math.floor(v / 128); }
  out.push(v);
  return out;
}
