'use strict';
// A real Parley cluster for one test file: 1 router, N shards, M gateways, each a child
// process with its own log file, on free loopback ports, with fresh data folders.
//
//   const c = await Cluster.start({ shards: 2, gateways: 2, sync: false, gwTimeout: 5000,
//                                   config: { gateway: { 'login-burst': 5 } } });
//   (gateways hash passwords at Argon2id's minimum cost unless realPwhash: true)
//   c.httpUrl(0), c.wsUrl(1)
//   await c.kill('shard', 1, 'SIGKILL'); await c.restart('shard', 1);
//   c.signal('shard', 0, 'SIGSTOP'); c.signal('shard', 0, 'SIGCONT');
//   await c.stopAll();   // SIGTERM, asserts exit code 0 of every process still running
//   await c.startAll();  // same ports, same data folders
//   await c.destroy();   // stop (if needed) and remove the folder unless a test failed
//
// Binaries: PARLEY_ROUTER_BIN / PARLEY_SHARD_BIN / PARLEY_GATEWAY_BIN / PARLEY_KEYGEN_BIN,
// else PARLEY_BIN_DIR (flat or with router/ shard/ gateway/ keygen/ subfolders), else the
// newest build*/<role>/parley-<role> under the repository root.
//
// CURVE keys (docs/internals.md "Security between roles"): every cluster gets its own,
// made with parley-keygen in DIR/keys (router, shard-<i>, e2e-gw<i>; the router admits
// the folder). c.makeKey(...) issues more (e.g. for a hostile peer). Binaries from before
// CURVE (no --curve-secret in `parley-router --help`) run without keys: c.curve is false.

const { spawn, execFileSync } = require('node:child_process');
const crypto = require('node:crypto');
const fs = require('node:fs');
const fsp = require('node:fs/promises');
const net = require('node:net');
const os = require('node:os');
const path = require('node:path');
const { httpRequest } = require('./client');

const REPO = path.resolve(__dirname, '..', '..', '..');
const ROLES = ['router', 'shard', 'gateway'];

// Every process gets `--config <dir>/parley.conf` (README "Configuration"): the settings
// of the whole cluster live there, a test's `config` option is merged over these per
// section; the command line carries only what differs per process (ports, ids, folders).
// Every test runs from 127.0.0.1 and creates/logs in many users at once: the per-address
// limits are off (0) unless a test sets its own (14-limits).
const DEFAULT_CONFIG = {
  router: {},
  shard: {},
  // Every test runs from 127.0.0.1 and creates/logs in many users at once: the per-address
  // limits are off (0); tests that check them set their own (13, 14, 22).
  gateway: { 'max-conns-per-ip': 0, 'login-burst': 0, 'login-per-sec': 0, 'dm-probe-ip-burst': 0 },
};

// INI text of {section: {key: value}}; an array value repeats the key, undefined/null
// leaves it out.
function formatConfig(sections) {
  let out = '# written by tests/e2e/lib/cluster.js\n';
  for (const [section, keys] of Object.entries(sections)) {
    out += `[${section}]\n`;
    for (const [k, v] of Object.entries(keys)) {
      if (v === undefined || v === null) continue;
      for (const one of Array.isArray(v) ? v : [v]) out += `${k} = ${one}\n`;
    }
  }
  return out;
}

function findBinary(role) {
  const name = `parley-${role}`;
  const envVar = `PARLEY_${role.toUpperCase()}_BIN`;
  if (process.env[envVar]) return process.env[envVar];
  const candidates = [];
  if (process.env.PARLEY_BIN_DIR) {
    const d = process.env.PARLEY_BIN_DIR;
    candidates.push(path.join(d, name), path.join(d, role, name));
  } else {
    let dirs = [];
    try {
      dirs = fs.readdirSync(REPO).filter((d) => d.startsWith('build'));
    } catch { /* no repo root */ }
    for (const d of dirs) candidates.push(path.join(REPO, d, role, name), path.join(REPO, d, name));
  }
  const found = candidates
    .filter((p) => { try { fs.accessSync(p, fs.constants.X_OK); return fs.statSync(p).isFile(); } catch { return false; } })
    .sort((a, b) => fs.statSync(b).mtimeMs - fs.statSync(a).mtimeMs);
  if (!found.length) {
    throw new Error(`${name} not found: set ${envVar} or PARLEY_BIN_DIR (looked in ${candidates.join(', ') || REPO + '/build*'})`);
  }
  return found[0];
}

// A free TCP port on 127.0.0.1: listen on port 0, read it, close. Ports handed out in
// this process are remembered so one cluster never gets the same port twice.
const handedOut = new Set();
async function freePort() {
  for (let attempt = 0; attempt < 50; attempt++) {
    const port = await new Promise((resolve, reject) => {
      const srv = net.createServer();
      srv.unref();
      srv.on('error', reject);
      srv.listen(0, '127.0.0.1', () => {
        const p = srv.address().port;
        srv.close(() => resolve(p));
      });
    });
    if (!handedOut.has(port)) {
      handedOut.add(port);
      return port;
    }
  }
  throw new Error('freePort: no fresh port');
}

const delay = (ms) => new Promise((r) => setTimeout(r, ms));

// Poll fn() every intervalMs until it returns a truthy value or the deadline passes.
async function waitFor(what, fn, { timeoutMs = 20000, intervalMs = 50 } = {}) {
  const deadline = Date.now() + timeoutMs;
  let last;
  for (;;) {
    try {
      const v = await fn();
      if (v) return v;
      last = undefined;
    } catch (e) {
      last = e;
    }
    if (Date.now() >= deadline) {
      throw new Error(`timed out after ${timeoutMs} ms waiting for ${what}${last ? `: ${last.message}` : ''}`);
    }
    await delay(intervalMs);
  }
}

const all = new Set(); // every live cluster, killed on process exit
process.on('exit', () => {
  for (const c of all) c._killAllSync();
});
// The test runner stops a file that exceeds its timeout with SIGTERM: take the cluster along.
for (const sig of ['SIGTERM', 'SIGINT']) {
  process.once(sig, () => {
    for (const c of all) c._killAllSync();
    process.exit(128 + (sig === 'SIGTERM' ? 15 : 2));
  });
}

class Proc {
  constructor(cluster, role, index, bin, args, logPath) {
    Object.assign(this, { cluster, role, index, bin, args, logPath });
    this.child = null;
    this.exited = null; // {code, signal} after exit
    this.expectExit = false; // set when the harness stops/kills it on purpose
    this.starts = 0;
  }

  get name() {
    return this.role === 'router' ? 'router' : `${this.role}-${this.index}`;
  }

  get running() {
    return this.child !== null && this.exited === null;
  }

  start() {
    if (this.running) throw new Error(`${this.name} is already running`);
    this.starts++;
    const fd = fs.openSync(this.logPath, 'a');
    fs.writeSync(fd, `\n===== [${new Date().toISOString()}] start #${this.starts}: ${this.bin} ${this.args.join(' ')}\n`);
    const env = { ...process.env, PARLEY_LOG: process.env.PARLEY_E2E_LOG || process.env.PARLEY_LOG || 'info' };
    // Gateways hash passwords at Argon2id's minimum cost (gateway/accounts.c): a test's
    // hundred accounts cost milliseconds, not a minute of CPU on a loaded machine. Tests
    // about the hashing itself (01-accounts) start their cluster with realPwhash: true.
    if (this.role === 'gateway' && !this.cluster.opts.realPwhash) env.PARLEY_TEST_PWHASH_MIN = '1';
    else delete env.PARLEY_TEST_PWHASH_MIN;
    const child = spawn(this.bin, this.args, { stdio: ['ignore', fd, fd], env });
    fs.closeSync(fd);
    this.child = child;
    this.exited = null;
    this.expectExit = false;
    this.exitPromise = new Promise((resolve) => {
      child.on('exit', (code, signal) => {
        this.exited = { code, signal };
        try {
          fs.appendFileSync(this.logPath, `===== [${new Date().toISOString()}] exited code=${code} signal=${signal}\n`);
        } catch { /* folder removed */ }
        if (!this.expectExit) this.cluster._unexpected.push(`${this.name} exited unexpectedly (code ${code}, signal ${signal})`);
        resolve(this.exited);
      });
      child.on('error', (err) => {
        this.exited = { code: null, signal: null, error: err.message };
        this.cluster._unexpected.push(`${this.name} could not start: ${err.message}`);
        resolve(this.exited);
      });
    });
  }

  // Send a signal and wait for the exit (SIGKILL after timeoutMs). Returns {code, signal}.
  async stop(signal = 'SIGTERM', timeoutMs = 10000) {
    if (!this.running) return this.exited;
    this.expectExit = true;
    this.child.kill(signal);
    let timer;
    const res = await Promise.race([
      this.exitPromise,
      new Promise((r) => { timer = setTimeout(() => r(null), timeoutMs); }),
    ]);
    clearTimeout(timer);
    if (res) return res;
    this.child.kill('SIGKILL');
    const r = await this.exitPromise;
    return { ...r, timedOut: true };
  }

  log() {
    try {
      return fs.readFileSync(this.logPath, 'utf8');
    } catch {
      return '';
    }
  }
}

class Cluster {
  constructor(opts = {}) {
    this.opts = {
      shards: 2,
      gateways: 2,
      sync: false, // shard --sync
      gwTimeout: undefined, // gateway --timeout (ms)
      gwTimeoutShard: undefined, // shard --gw-timeout (ms)
      // shard --presence-flap-ms: a test cluster announces an offline ~1.3 s after the close
      // instead of ~3 s (the wait many tests make); null: the shard's default (2000 ms), which
      // 30-presence-flap keeps: it tests the documented "back within 2 s: no blip"
      presenceFlapMs: 300,
      config: {}, // {gateway: {...}, shard: {...}, router: {...}} merged over DEFAULT_CONFIG into
      // parley.conf; or an async function returning it, called once at start
      gatewayArgs: [], // extra flags for every gateway (e.g. ['--presence-timeout', '2000']);
      // or an async function returning them, called once at start (e.g. after a test server listens)
      shardArgs: [], // extra flags for every shard (e.g. ['--max-groups-created', '3']); or an
      // async function (dir) => flags, called once at start (e.g. after writing credentials)
      startTimeoutMs: 30000,
      realPwhash: false, // true: gateways hash at the real Argon2id cost (no PARLEY_TEST_PWHASH_MIN)
      ...opts,
    };
    this.procs = [];
    this._unexpected = [];
    this.failed = false; // set by the harness when a test failed: keep the folder
  }

  static async start(opts) {
    const c = new Cluster(opts);
    await c.init();
    try {
      await c.startAll();
    } catch (e) {
      c.failed = true;
      e.message += `\n${c.logReport()}`;
      await c.destroy().catch(() => {});
      throw e;
    }
    return c;
  }

  async init() {
    const base = process.env.PARLEY_E2E_TMP || os.tmpdir();
    await fsp.mkdir(base, { recursive: true });
    this.dir = await fsp.mkdtemp(path.join(base, 'parley-e2e-'));
    this.frontPort = await freePort();
    this.backPort = await freePort();
    this.gwPorts = [];
    for (let i = 0; i < this.opts.gateways; i++) this.gwPorts.push(await freePort());
    const bins = Object.fromEntries(ROLES.map((r) => [r, findBinary(r)]));
    this.bins = bins;
    this.curve = String(execFileSync(bins.router, ['--help'])).includes('--curve-secret');
    this.keysDir = path.join(this.dir, 'keys');
    const curveArgs = { router: [], shard: () => [], gateway: () => [] };
    if (this.curve) {
      bins.keygen = findBinary('keygen');
      await fsp.mkdir(this.keysDir);
      this.routerKey = this.makeKey('router', 'router').pub;
      curveArgs.router = ['--curve-secret', this.makeKey('router', 'router').secret, '--curve-allow', this.keysDir];
      curveArgs.shard = (i) => ['--curve-secret', this.makeKey(`shard-${i}`, 'shard', i).secret, '--router-key', this.routerKey];
      curveArgs.gateway = (i) => ['--curve-secret', this.makeKey(`e2e-gw${i}`, 'gateway', `e2e-gw${i}`).secret,
        '--router-key', this.routerKey];
    }
    const front = `tcp://127.0.0.1:${this.frontPort}`;
    const back = `tcp://127.0.0.1:${this.backPort}`;
    const log = (n) => path.join(this.dir, `${n}.log`);
    // One VAPID key (P-256, PEM) for the cluster, like `scripts/parley up`: gateways
    // publish it (GET /v1/push/vapid), shards sign Web Push requests with it.
    this.vapidKey = path.join(this.dir, 'vapid.pem');
    const { privateKey } = crypto.generateKeyPairSync('ec', { namedCurve: 'prime256v1' });
    fs.writeFileSync(this.vapidKey, privateKey.export({ type: 'sec1', format: 'pem' }), { mode: 0o600 });
    const gatewayArgs = typeof this.opts.gatewayArgs === 'function'
      ? await this.opts.gatewayArgs() : this.opts.gatewayArgs;
    const shardArgs = typeof this.opts.shardArgs === 'function'
      ? await this.opts.shardArgs(this.dir) : this.opts.shardArgs;
    const testConfig = typeof this.opts.config === 'function' ? await this.opts.config() : this.opts.config;
    const config = {};
    for (const section of ROLES) config[section] = { ...DEFAULT_CONFIG[section] };
    config.shard['vapid-key'] = this.vapidKey;
    config.gateway['vapid-key'] = this.vapidKey;
    if (this.opts.sync) config.shard.sync = true;
    if (this.opts.gwTimeoutShard !== undefined) config.shard['gw-timeout'] = this.opts.gwTimeoutShard;
    // (older shard binaries, e.g. /work/main/build for a regression check, lack the flag)
    if (this.opts.presenceFlapMs != null &&
        String(execFileSync(bins.shard, ['--help'])).includes('--presence-flap-ms')) {
      config.shard['presence-flap-ms'] = this.opts.presenceFlapMs;
    }
    if (this.opts.gwTimeout !== undefined) config.gateway.timeout = this.opts.gwTimeout;
    for (const [section, keys] of Object.entries(testConfig || {})) config[section] = { ...config[section], ...keys };
    this.config = config;
    this.configPath = path.join(this.dir, 'parley.conf');
    fs.writeFileSync(this.configPath, formatConfig(config));
    const conf = ['--config', this.configPath];
    this.procs.push(new Proc(this, 'router', 0, bins.router,
      [...conf, '--front', front, '--back', back, '--shards', String(this.opts.shards), ...curveArgs.router], log('router')));
    for (let i = 0; i < this.opts.shards; i++) {
      const args = [...conf, '--id', String(i), '--router', back, '--data', path.join(this.dir, `shard-${i}`),
        ...curveArgs.shard(i)];
      args.push(...shardArgs);
      this.procs.push(new Proc(this, 'shard', i, bins.shard, args, log(`shard-${i}`)));
    }
    for (let i = 0; i < this.opts.gateways; i++) {
      const args = [...conf, '--port', String(this.gwPorts[i]), '--bind', '127.0.0.1', '--router', front,
        '--name', `e2e-gw${i}`];
      args.push(...curveArgs.gateway(i));
      args.push(...gatewayArgs);
      this.procs.push(new Proc(this, 'gateway', i, bins.gateway, args, log(`gateway-${i}`)));
    }
    all.add(this);
  }

  // A CURVE key pair made with parley-keygen: file (public) and file_secret in the keys
  // folder the router admits, or with {allow:false} in a folder it does not know.
  // role 'gateway' takes a name, 'shard' an id, 'router' nothing. Returns {pub, secret}.
  // Issuing the same file again returns the existing pair.
  makeKey(file, role, nameOrId, { allow = true } = {}) {
    const dir = allow ? this.keysDir : path.join(this.dir, 'keys-not-admitted');
    fs.mkdirSync(dir, { recursive: true });
    const pub = path.join(dir, file);
    if (!fs.existsSync(pub)) {
      const args = ['--role', role, '--out', pub];
      if (role === 'gateway') args.push('--name', String(nameOrId));
      if (role === 'shard') args.push('--id', String(nameOrId));
      execFileSync(this.bins.keygen || findBinary('keygen'), args);
    }
    return { pub, secret: `${pub}_secret` };
  }

  proc(role, index = 0) {
    const p = this.procs.find((x) => x.role === role && x.index === index);
    if (!p) throw new Error(`no ${role} ${index}`);
    return p;
  }

  httpUrl(i = 0) {
    return `http://127.0.0.1:${this.gwPorts[i]}`;
  }

  wsUrl(i = 0) {
    return `ws://127.0.0.1:${this.gwPorts[i]}/v1/ws`;
  }

  async health(i = 0) {
    const r = await httpRequest(this.httpUrl(i), 'GET', '/v1/health', undefined, { timeoutMs: 3000 });
    return r.status;
  }

  // Fail fast when a process died while we wait for something.
  _checkDead() {
    if (this._unexpected.length) throw new Error(this._unexpected.join('; '));
  }

  // Wait until GET /v1/health answers `status` on every (running) gateway.
  async waitHealth(status = 200, timeoutMs = this.opts.startTimeoutMs) {
    const gws = this.procs.filter((p) => p.role === 'gateway' && p.running);
    await waitFor(`GET /v1/health == ${status} on ${gws.map((g) => g.name).join(', ')}`, async () => {
      this._checkDead();
      const st = await Promise.all(gws.map((g) => this.health(g.index).catch(() => 0)));
      return st.every((s) => s === status);
    }, { timeoutMs });
  }

  // Start every process that is not running (router, shards, gateways) and wait healthy.
  async startAll() {
    for (const role of ROLES) for (const p of this.procs.filter((x) => x.role === role)) if (!p.running) p.start();
    await this.waitHealth(200);
  }

  // Send `signal` to one process and wait for its exit. Returns {code, signal}.
  async kill(role, index = 0, signal = 'SIGKILL') {
    return this.proc(role, index).stop(signal);
  }

  // Send a signal without waiting (SIGSTOP/SIGCONT to freeze and thaw a process).
  signal(role, index = 0, sig = 'SIGSTOP') {
    const p = this.proc(role, index);
    if (!p.running) throw new Error(`${p.name} is not running`);
    p.child.kill(sig);
  }

  // Start a stopped process again with the same flags and data; waits until every
  // gateway reports health 200 (pass {wait:false} to skip).
  // A dead shard or router is first seen as down (health 503, within the router's 3 s
  // heartbeat timeout): a 200 right after a quick restart could still describe the old
  // process, and requests would meet a shard that is not connected yet.
  async restart(role, index = 0, { wait = true } = {}) {
    const p = this.proc(role, index);
    if (p.running) {
      const r = await p.stop('SIGTERM');
      if (r.timedOut || r.code !== 0) throw new Error(`${p.name} did not exit cleanly on SIGTERM: ${JSON.stringify(r)}`);
    }
    if (wait && role !== 'gateway') await this.waitHealth(503, 8000);
    p.start();
    if (wait) await this.waitHealth(200);
  }

  // SIGTERM to every running process (gateways first, router last); asserts each exits
  // with code 0 within 10 s. Processes killed earlier by the test are skipped. Throws an
  // Error listing every unclean exit.
  async stopAll() {
    const problems = [];
    for (const role of ['gateway', 'shard', 'router']) {
      const ps = this.procs.filter((p) => p.role === role && p.running);
      const res = await Promise.all(ps.map((p) => p.stop('SIGTERM', 10000)));
      ps.forEach((p, i) => {
        const r = res[i];
        if (r.timedOut) problems.push(`${p.name} did not exit within 10 s of SIGTERM (killed)`);
        else if (r.code !== 0) problems.push(`${p.name} exited with code ${r.code} signal ${r.signal} on SIGTERM`);
      });
    }
    if (problems.length) throw new Error(`unclean shutdown: ${problems.join('; ')}`);
  }

  // Problems seen since the last call (unexpected exits); clears the list.
  takeUnexpected() {
    const u = this._unexpected;
    this._unexpected = [];
    return u;
  }

  logReport(lines = Number(process.env.PARLEY_E2E_LOG_LINES || 80)) {
    let out = `----- cluster logs in ${this.dir} (last ${lines} lines each) -----\n`;
    for (const p of this.procs) {
      const text = p.log().split('\n');
      out += `--- ${p.name} (${p.logPath}) ---\n${text.slice(-lines).join('\n')}\n`;
    }
    return out;
  }

  _killAllSync() {
    for (const p of this.procs) {
      if (p.running) {
        p.expectExit = true;
        try { p.child.kill('SIGKILL'); } catch { /* gone */ }
      }
    }
  }

  // Stop everything (SIGKILL for what is left) and remove the folder unless a test
  // failed or PARLEY_E2E_KEEP=1.
  async destroy() {
    await Promise.all(this.procs.filter((p) => p.running).map((p) => p.stop('SIGKILL', 5000)));
    all.delete(this);
    if (this.dir && !this.failed && process.env.PARLEY_E2E_KEEP !== '1') {
      await fsp.rm(this.dir, { recursive: true, force: true });
    }
  }
}

module.exports = { Cluster, findBinary, freePort, waitFor, delay, formatConfig };
