'use strict';
// The configuration file (--config, README "Configuration") and the client address behind
// trusted proxies (docs/protocol.md "Client address"), through real processes: extra
// gateways started here with their own parley.conf join the cluster's router.
//
// Loopback has many addresses: a "proxy" connects from 127.0.0.2 (trusted in these
// gateways' files), an ordinary client from 127.0.0.3 (not trusted).
const assert = require('node:assert/strict');
const { after } = require('node:test');
const { spawn, spawnSync } = require('node:child_process');
const fs = require('node:fs');
const net = require('node:net');
const path = require('node:path');
const WebSocket = require('ws');
const { setup } = require('./lib/harness');
const { freePort, waitFor, formatConfig } = require('./lib/cluster');
const { createUser, httpRequest, login, Client } = require('./lib/client');

const REPO = path.resolve(__dirname, '..', '..');
const PROXY = '127.0.0.2';
const OTHER = '127.0.0.3';

// ---- helpers ---------------------------------------------------------------------------

// Extra gateways started by the tests: stopped with SIGTERM after the last test (registered
// before the harness's own hook), each must exit 0 (a sanitizer report would not); killed
// when this process exits whatever happens.
const spawned = [];
let gwCount = 0;
after(async () => {
  const codes = await Promise.all(spawned.map(async (s) => {
    if (s.proc.exitCode !== null || s.proc.signalCode !== null) return `already exited ${s.proc.exitCode}`;
    s.proc.kill('SIGTERM');
    let timer;
    const code = await Promise.race([s.exited, new Promise((r) => { timer = setTimeout(() => r('timeout'), 10000); })]);
    clearTimeout(timer);
    if (code === 'timeout') s.proc.kill('SIGKILL');
    return code;
  }));
  assert.deepEqual(codes.filter((c) => c !== 0), [], `extra gateways exit 0 on SIGTERM: ${codes}`);
});
process.on('exit', () => {
  for (const s of spawned) try { s.proc.kill('SIGKILL'); } catch { /* gone */ }
});

const h = setup({ shards: 2, gateways: 1 });

// Write `text` as a config file in the cluster folder; returns its path.
function writeConf(c, name, text) {
  const p = path.join(c.dir, name);
  fs.writeFileSync(p, text);
  return p;
}

// Start one more gateway with --config <file of sections> plus args; resolves
// {url, port, proc, log()} once its /v1/health answers 200.
async function startGateway(c, sections, args = []) {
  const n = ++gwCount;
  const port = await freePort();
  const conf = writeConf(c, `gw-extra-${n}.conf`, formatConfig(sections));
  const logPath = path.join(c.dir, `gw-extra-${n}.log`);
  const fd = fs.openSync(logPath, 'a');
  // its own CURVE key, in the folder the router admits (read again for an unknown key)
  const key = c.curve ? c.makeKey(`e2e-extra-${n}`, 'gateway', `e2e-extra-${n}`) : null;
  const curve = key ? ['--curve-secret', key.secret, '--router-key', c.routerKey] : [];
  const proc = spawn(c.bins.gateway, ['--config', conf, '--port', String(port), '--bind', '127.0.0.1',
    '--router', `tcp://127.0.0.1:${c.frontPort}`, '--name', `e2e-extra-${n}`, ...curve, ...args],
  // Argon2id at the test-only minimum, like the harness's gateways (lib/cluster.js)
  { stdio: ['ignore', fd, fd], env: { ...process.env, PARLEY_TEST_PWHASH_MIN: '1' } });
  fs.closeSync(fd);
  const exited = new Promise((resolve) => proc.on('exit', (code) => resolve(code)));
  spawned.push({ proc, exited });
  const url = `http://127.0.0.1:${port}`;
  let dead = null;
  exited.then((code) => { dead = code; });
  await waitFor(`extra gateway ${n} healthy`, async () => {
    if (dead !== null) throw new Error(`exited with ${dead}: ${fs.readFileSync(logPath, 'utf8')}`);
    return (await httpRequest(url, 'GET', '/v1/health', undefined, { timeoutMs: 2000 }).catch(() => ({}))).status === 200;
  }, { timeoutMs: 20000 });
  return { url, port, proc, log: () => fs.readFileSync(logPath, 'utf8') };
}

// One HTTP/1.1 request on a fresh TCP connection from localAddress, optionally preceded by
// raw bytes (a PROXY header). Resolves {status, body} or {status: null} when the server
// closed without an answer.
function rawRequest(port, { localAddress = '127.0.0.1', prefix, method = 'POST', target = '/v1/users', headers = {}, body = '{}' } = {}) {
  return new Promise((resolve, reject) => {
    const sock = net.connect({ port, host: '127.0.0.1', localAddress });
    const chunks = [];
    const timer = setTimeout(() => { sock.destroy(); reject(new Error('no answer within 5 s')); }, 5000);
    sock.on('connect', () => {
      const lines = [`${method} ${target} HTTP/1.1`, 'Host: 127.0.0.1', 'Connection: close',
        'Content-Type: application/json', `Content-Length: ${Buffer.byteLength(body)}`];
      for (const [k, v] of Object.entries(headers)) lines.push(`${k}: ${v}`);
      const req = Buffer.from(`${lines.join('\r\n')}\r\n\r\n${body}`);
      sock.write(prefix ? Buffer.concat([Buffer.from(prefix), req]) : req);
    });
    sock.on('data', (d) => chunks.push(d));
    sock.on('error', () => {});
    sock.on('close', () => {
      clearTimeout(timer);
      const text = Buffer.concat(chunks).toString('utf8');
      const m = /^HTTP\/1\.1 (\d{3})/.exec(text);
      resolve({ status: m ? Number(m[1]) : null, text });
    });
  });
}

// Account requests (an empty body: 400 at once, but it takes a token) until the first 429;
// returns how many passed before it (max+1 if none came).
async function passesBefore429(port, opts, max = 12) {
  for (let i = 0; i < max; i++) {
    const r = await rawRequest(port, opts);
    if (r.status === 429) {
      assert.match(r.text, /rate_limited/);
      return i;
    }
    assert.equal(r.status, 400, `request ${i}: ${r.text}`);
  }
  return max + 1;
}

// PROXY protocol v2 header, PROXY command, TCP over IPv4 or IPv6.
function proxyV2(src, dst = '127.0.0.1', { cmd = 1, v6 = false } = {}) {
  const sig = Buffer.from([0x0d, 0x0a, 0x0d, 0x0a, 0x00, 0x0d, 0x0a, 0x51, 0x55, 0x49, 0x54, 0x0a]);
  const ip = (a) => (v6 ? ipv6Bytes(a) : Buffer.from(a.split('.').map(Number)));
  const addrs = cmd === 0 ? Buffer.alloc(0)
    : Buffer.concat([ip(src), ip(dst), Buffer.from([0x30, 0x39, 0x00, 0x50])]);
  const head = Buffer.from([0x20 | cmd, cmd === 0 ? 0x00 : (v6 ? 0x21 : 0x11), addrs.length >> 8, addrs.length & 0xff]);
  return Buffer.concat([sig, head, addrs]);
}
function ipv6Bytes(a) {
  const [l, r] = a.split('::');
  const left = l ? l.split(':') : [];
  const right = r !== undefined && r ? r.split(':') : [];
  const groups = [...left, ...Array(8 - left.length - right.length).fill('0'), ...right];
  return Buffer.from(groups.flatMap((g) => { const v = parseInt(g, 16); return [v >> 8, v & 0xff]; }));
}

// A WebSocket upgrade from localAddress with headers: resolves 'open' or 'refused'.
function tryWs(port, localAddress, headers) {
  return new Promise((resolve) => {
    const ws = new WebSocket(`ws://127.0.0.1:${port}/v1/ws`, { localAddress, headers, handshakeTimeout: 5000 });
    ws.on('open', () => resolve({ state: 'open', ws }));
    ws.on('error', () => resolve({ state: 'refused' }));
  });
}

// ---- the file ----------------------------------------------------------------------------

h.test('every process of the harness runs from parley.conf (--config)', async (t, c) => {
  const text = fs.readFileSync(c.configPath, 'utf8');
  assert.match(text, /^\[gateway\]$/m);
  for (const p of c.procs) {
    assert.deepEqual(p.args.slice(0, 2), ['--config', c.configPath], `${p.name}: ${p.args.join(' ')}`);
  }
});

h.test('keys of the file apply and a flag on the command line overrides them', async (t, c) => {
  const sections = { gateway: { 'login-burst': 2, 'login-per-sec': 1 } };
  const fromFile = await startGateway(c, sections);
  const n1 = await passesBefore429(fromFile.port, {});
  assert.ok(n1 >= 2 && n1 <= 3, `login-burst = 2 from the file: ${n1} requests passed before the 429`);
  const overridden = await startGateway(c, sections, ['--login-burst', '6']);
  const n2 = await passesBefore429(overridden.port, {});
  assert.ok(n2 >= 6 && n2 <= 7, `--login-burst 6 over the file's 2: ${n2} requests passed before the 429`);
});

h.test('limits of 0 are off: account requests, connections and socket requests from one address', async (t, c) => {
  const gw = await startGateway(c, {
    gateway: { 'login-burst': 0, 'login-per-sec': 0, 'max-conns-per-ip': 0, 'rate-burst': 0, 'rate-per-sec': 0 },
  });
  // 22 real sign-ups at once (over the default burst of 20) ...
  const created = await Promise.all(Array.from({ length: 22 }, (_, i) =>
    httpRequest(gw.url, 'POST', '/v1/users', { user: `zero_${i}`, password: 'password123' }, { timeoutMs: 60000 })
      .then((r) => r.status)));
  assert.deepEqual(created.filter((s) => s !== 201), [], 'every sign-up is 201');
  // ... and 100 more account requests (answered 400 at once: no Argon2id), none 429
  const more = [];
  for (let i = 0; i < 100; i++) more.push((await rawRequest(gw.port, {})).status);
  assert.deepEqual(more.filter((s) => s !== 400), [], 'no request is rate limited');
  // 300 connections from one address (default cap 256)
  const socks = [];
  try {
    for (let i = 0; i < 300; i++) {
      const r = await tryWs(gw.port, '127.0.0.1', {});
      assert.equal(r.state, 'open', `connection ${i}`);
      socks.push(r.ws);
    }
  } finally {
    for (const ws of socks) ws.terminate();
  }
  // 1,500 requests at once on one socket (default burst 1000)
  const token = await login(gw.url, 'zero_0', 'phone');
  const a = await Client.open(c.wsUrl(0).replace(String(c.gwPorts[0]), String(gw.port)), token, { label: 'zero' });
  const answers = await Promise.all(Array.from({ length: 1500 }, (_, i) => a.request('ping', {}, { id: `p${i}` })));
  assert.deepEqual(answers.filter((f) => f.type !== 'ok'), [], 'no request is rate limited');
});

h.test('a bad config file: exit 2 with one clear line naming the file and line', async (t, c) => {
  const cases = [
    ['gateway', '[gateway]\nport = 1\nlogin-burts = 3\n', /bad-gateway\.conf:3: unknown key 'login-burts' in \[gateway\]/],
    ['gateway', '[gateway]\nlogin-burst = lots\n', /bad-gateway\.conf:2: bad value for login-burst: lots/],
    ['gateway', '[gateway]\ntrusted-proxies = 10.0.0.0/40\n', /bad-gateway\.conf:2: bad value for trusted-proxies/],
    ['shard', '[shard]\nsync = maybe\n', /bad-shard\.conf:2: sync = maybe: expected true or false/],
    ['shard', '[shard]\ngw-timeout = 0\n', /bad-shard\.conf:2: bad value for gw-timeout: 0/],
    ['router', '[routr]\nshards = 2\n', /bad-router\.conf:2: unknown section \[routr\]/],
    ['router', '[router]\nthis is not ini\n', /bad-router\.conf:2: syntax error/],
  ];
  for (const [role, text, re] of cases) {
    const conf = writeConf(c, `bad-${role}.conf`, text);
    const r = spawnSync(c.bins[role], ['--config', conf], { encoding: 'utf8', timeout: 10000 });
    assert.equal(r.status, 2, `${role} with ${JSON.stringify(text)}: exit ${r.status}, stderr ${r.stderr}`);
    assert.match(r.stderr, re);
  }
  const missing = spawnSync(c.bins.router, ['--config', path.join(c.dir, 'nope.conf')], { encoding: 'utf8' });
  assert.equal(missing.status, 2);
  assert.match(missing.stderr, /cannot read the config file .*nope\.conf/);
});

h.test('parley.conf.example names every long flag of every role and its values are valid', async (t, c) => {
  const example = fs.readFileSync(path.join(REPO, 'parley.conf.example'), 'utf8');
  // each section's keys as documented: "key = value" lines, commented out with ";"
  const keys = {};
  let section = null;
  for (const line of example.split('\n')) {
    const s = /^\[(\w+)\]/.exec(line);
    if (s) { section = s[1]; keys[section] = new Set(); continue; }
    const k = /^;?\s*([a-z][a-z0-9-]*)\s*=/.exec(line);
    if (k && section) keys[section].add(k[1]);
  }
  for (const role of ['router', 'shard', 'gateway']) {
    const help = spawnSync(c.bins[role], ['--help'], { encoding: 'utf8' }).stdout;
    const flags = [...help.matchAll(/^\s+--([a-z][a-z0-9-]*)/gm)].map((m) => m[1]).filter((f) => f !== 'help' && f !== 'config');
    assert.ok(flags.length > 2, `${role} --help lists its flags`);
    for (const f of flags) assert.ok(keys[role]?.has(f), `parley.conf.example [${role}] documents ${f}`);
  }
  // uncommented, every example value is accepted by its role (--help exits after parsing)
  const live = writeConf(c, 'example-live.conf', example.replace(/^;\s*([a-z][a-z0-9-]*\s*=)/gm, '$1'));
  for (const role of ['router', 'shard', 'gateway']) {
    const r = spawnSync(c.bins[role], ['--config', live, '--help'], { encoding: 'utf8' });
    assert.equal(r.status, 0, `${role}: ${r.stderr}`);
  }
});

h.test('list keys: a comma list or repeated lines; a list flag on the command line replaces the file\'s', async (t, c) => {
  const sections = { gateway: { 'push-allow': ['http://a.example/, http://b.example/', 'http://c.example/'] } };
  const fromFile = await startGateway(c, sections);
  const replaced = await startGateway(c, sections, ['--push-allow', 'http://d.example/,http://e.example/']);
  await createUser(fromFile.url, 'lister');
  const token = await login(fromFile.url, 'lister', 'phone');
  const verdicts = async (gw) => {
    const ws = await Client.open(`ws://127.0.0.1:${gw.port}/v1/ws`, token, { label: `lister@${gw.port}` });
    const out = {};
    for (const host of ['a', 'b', 'c', 'd', 'e', 'f']) {
      const r = await ws.request('push_register', { kind: 'webhook', url: `http://${host}.example/hook` });
      out[host] = r.type === 'ok' ? 'ok' : r.code;
    }
    ws.close();
    return out;
  };
  assert.deepEqual(await verdicts(fromFile), { a: 'ok', b: 'ok', c: 'ok', d: 'forbidden', e: 'forbidden', f: 'forbidden' });
  assert.deepEqual(await verdicts(replaced), { a: 'forbidden', b: 'forbidden', c: 'forbidden', d: 'ok', e: 'ok', f: 'forbidden' });
});

// ---- client address behind trusted proxies --------------------------------------------------

let proxied; // a gateway trusting 127.0.0.2, login burst 3
h.test('X-Forwarded-For from a trusted proxy: limits keyed on the rightmost untrusted hop', async (t, c) => {
  proxied = await startGateway(c, {
    gateway: {
      'trusted-proxies': `${PROXY}/32, 10.0.0.0/8`, 'login-burst': 3, 'login-per-sec': 1, 'max-conns-per-ip': 2, 'http-timeout': 2,
    },
  });
  const port = proxied.port;
  const via = (xff) => ({ localAddress: PROXY, headers: { 'X-Forwarded-For': xff } });
  // client A exhausts its own bucket...
  const a = await passesBefore429(port, via('203.0.113.7'));
  assert.ok(a >= 3 && a <= 4, `client A: ${a} passed before the 429`);
  // ...which is A's, not the proxy's: client B behind the same proxy still passes
  assert.equal((await rawRequest(port, via('203.0.113.8'))).status, 400);
  // a client cannot escape by prepending a forged hop: the rightmost untrusted hop counts
  assert.equal((await rawRequest(port, via('198.18.0.99, 203.0.113.7'))).status, 429);
  // trusted hops on the right are skipped (10.0.0.0/8 is trusted too)
  assert.equal((await rawRequest(port, via('203.0.113.7, 10.1.2.3'))).status, 429);
  assert.equal((await rawRequest(port, via('203.0.113.9, 10.1.2.3'))).status, 400);
  // the forwarded address names the client in the log of the refusal
  await waitFor('the refusal logged with the client address', () => proxied.log().includes('from 203.0.113.7: rate limited'));
});

h.test('X-Forwarded-For from an untrusted address is ignored: limits keyed on the peer', async (t, c) => {
  const port = proxied.port;
  let i = 0;
  const n = await passesBefore429(port, { localAddress: OTHER, headers: { 'X-Forwarded-For': `192.0.2.${++i}` } });
  // each request names another X-Forwarded-For address, and yet the 4th or 5th is refused
  assert.ok(n >= 3 && n <= 4, `${n} passed before the 429`);
});

h.test('PROXY protocol v1 and v2 from a trusted proxy name the client; ignored from others', async (t, c) => {
  const port = proxied.port;
  const v1 = (src) => ({ localAddress: PROXY, prefix: `PROXY TCP4 ${src} 127.0.0.1 40000 80\r\n` });
  const n = await passesBefore429(port, v1('198.51.100.1'));
  assert.ok(n >= 3 && n <= 4, `v1 client: ${n} passed before the 429`);
  assert.equal((await rawRequest(port, v1('198.51.100.2'))).status, 400, 'another v1 client has its own bucket');
  // v2, IPv4: the same client as the v1 one above is refused, another passes
  assert.equal((await rawRequest(port, { localAddress: PROXY, prefix: proxyV2('198.51.100.1') })).status, 429);
  const v2 = await passesBefore429(port, { localAddress: PROXY, prefix: proxyV2('198.51.100.3') });
  assert.ok(v2 >= 3 && v2 <= 4, `v2 client: ${v2} passed before the 429`);
  // v2 over IPv6, a header split over two TCP segments
  const head = proxyV2('2001:db8::1', '::1', { v6: true });
  const r6 = await new Promise((resolve) => {
    const sock = net.connect({ port, host: '127.0.0.1', localAddress: PROXY });
    let text = '';
    sock.on('connect', () => {
      sock.write(head.subarray(0, 7));
      setTimeout(() => sock.write(Buffer.concat([head.subarray(7),
        Buffer.from('GET /v1/health HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n')])), 50);
    });
    sock.on('data', (d) => { text += d; });
    sock.on('close', () => resolve(text));
  });
  assert.match(r6, /^HTTP\/1\.1 200/, r6);
  // a malformed header from a trusted proxy: closed without an answer
  const bad = await rawRequest(port, { localAddress: PROXY, prefix: 'PROXY TCP4 999.1.1.1 127.0.0.1 1 2\r\n' });
  assert.equal(bad.status, null, bad.text);
  // from an untrusted peer the header is not honoured: it is no valid HTTP
  const other = await rawRequest(port, { localAddress: OTHER, prefix: 'PROXY TCP4 198.51.100.9 127.0.0.1 40000 80\r\n' });
  assert.notEqual(other.status, 400, 'the request after a PROXY line from an untrusted peer is not served');
  assert.ok(other.status === null || other.status >= 400, other.text);
  // a trusted proxy without any header: the proxy's own address (fresh bucket)
  assert.equal((await rawRequest(port, { localAddress: PROXY })).status, 400);
  // a header that stops half-way is closed after --http-timeout (2 s), without an answer
  const t0 = Date.now();
  const stalled = await new Promise((resolve) => {
    const sock = net.connect({ port, host: '127.0.0.1', localAddress: PROXY });
    let text = '';
    sock.on('connect', () => sock.write('PROXY TCP4 198.51'));
    sock.on('data', (d) => { text += d; });
    sock.on('error', () => {});
    sock.on('close', () => resolve(text));
  });
  const took = Date.now() - t0;
  assert.equal(stalled, '');
  assert.ok(took >= 1500 && took < 6000, `closed after ${took} ms`);
});

h.test('WebSockets through a trusted proxy count against the forwarded client', async (t, c) => {
  const port = proxied.port;
  const open = [];
  try {
    // max-conns-per-ip 2: two sockets of one forwarded client, the third is refused
    for (let i = 0; i < 2; i++) {
      const r = await tryWs(port, PROXY, { 'X-Forwarded-For': '203.0.113.60' });
      assert.equal(r.state, 'open', `socket ${i}`);
      open.push(r.ws);
    }
    assert.equal((await tryWs(port, PROXY, { 'X-Forwarded-For': '203.0.113.60' })).state, 'refused');
    // another client through the same proxy connection source is not affected
    const other = await tryWs(port, PROXY, { 'X-Forwarded-For': '203.0.113.61' });
    assert.equal(other.state, 'open');
    open.push(other.ws);
  } finally {
    for (const ws of open) ws.terminate();
  }
});

h.test('the harness cluster itself runs with its per-address limits off', async (t, c) => {
  // DEFAULT_CONFIG of cluster.js: login-burst 0; 40 account requests from one address pass
  const st = [];
  for (let i = 0; i < 40; i++) st.push((await rawRequest(c.gwPorts[0], {})).status);
  assert.deepEqual(st.filter((s) => s !== 400), []);
});
