'use strict';
// Client side of the public protocol (PROTOCOL.md): HTTP account helpers and a
// WebSocket client that matches answers to requests by id and queues pushed events.

const http = require('node:http');
const assert = require('node:assert/strict');
const WebSocket = require('ws');

// One HTTP request without keep-alive. body: undefined, an object (sent as JSON) or a
// string/Buffer (sent as is). Resolves {status, headers, text, json} (json undefined
// when the body is not JSON).
function httpRequest(baseUrl, method, path, body, { timeoutMs = 10000, headers = {} } = {}) {
  return new Promise((resolve, reject) => {
    const url = new URL(path, baseUrl);
    let data;
    if (body !== undefined) data = typeof body === 'string' || Buffer.isBuffer(body) ? Buffer.from(body) : Buffer.from(JSON.stringify(body));
    const req = http.request(url, {
      method,
      agent: false,
      headers: { ...(data ? { 'content-type': 'application/json', 'content-length': data.length } : {}), ...headers },
      timeout: timeoutMs,
    }, (res) => {
      const chunks = [];
      res.on('data', (c) => chunks.push(c));
      res.on('end', () => {
        const text = Buffer.concat(chunks).toString('utf8');
        let json;
        try { json = JSON.parse(text); } catch { json = undefined; }
        resolve({ status: res.statusCode, headers: res.headers, text, json });
      });
      res.on('error', reject);
    });
    req.on('timeout', () => req.destroy(new Error(`${method} ${path}: no answer within ${timeoutMs} ms`)));
    req.on('error', reject);
    if (data) req.write(data);
    req.end();
  });
}

async function createUser(baseUrl, user, password = 'password123') {
  const r = await httpRequest(baseUrl, 'POST', '/v1/users', { user, password });
  assert.equal(r.status, 201, `POST /v1/users ${user}: expected 201, got ${r.status} ${r.text}`);
  assert.deepEqual(r.json, { user }, `POST /v1/users ${user}: body`);
  return r.json;
}

// Log in; returns the token.
async function login(baseUrl, user, device = 'dev1', password = 'password123') {
  const r = await httpRequest(baseUrl, 'POST', '/v1/sessions', { user, password, device });
  assert.equal(r.status, 200, `POST /v1/sessions ${user}/${device}: expected 200, got ${r.status} ${r.text}`);
  assert.equal(typeof r.json.token, 'string', 'token is a string');
  assert.ok(r.json.token.length > 0, 'token is not empty');
  assert.equal(r.json.user, user);
  assert.equal(r.json.device, device);
  return r.json.token;
}

const openClients = new Set();
let idCounter = 0;

class Client {
  constructor(ws, label) {
    this.ws = ws;
    this.label = label;
    this.frames = []; // every frame received, parsed (or {raw} when not JSON)
    this.answerOrder = []; // ids of answers in arrival order
    this.unmatched = []; // answers whose id no request is waiting for
    this.pending = new Map(); // id -> {resolve, reject, timer}
    this.events = []; // frames without id not yet taken by nextEvent
    this.waiters = []; // {pred, resolve, reject, timer}
    this.errors = []; // ws 'error' events
    this.closeInfo = null;
    this.closed = new Promise((resolve) => {
      ws.on('close', (code, reason) => {
        this.closeInfo = { code, reason: reason.toString() };
        openClients.delete(this);
        for (const [id, p] of this.pending) {
          clearTimeout(p.timer);
          p.reject(new Error(`${this.label}: socket closed (${code} ${this.closeInfo.reason}) before the answer to ${id}`));
        }
        this.pending.clear();
        // No event can arrive any more: fail the waiters now rather than at their deadline.
        for (const w of this.waiters.splice(0)) {
          clearTimeout(w.timer);
          w.reject(new Error(`${this.label}: socket closed (${code} ${this.closeInfo.reason}) while waiting for an event`));
        }
        resolve(this.closeInfo);
      });
    });
    ws.on('error', (e) => this.errors.push(e));
    ws.on('message', (data, isBinary) => this._onMessage(data, isBinary));
  }

  // Open a WebSocket to url (ws://host:port/v1/ws). Rejects if the handshake fails.
  static connect(url, { label = url, timeoutMs = 10000 } = {}) {
    return new Promise((resolve, reject) => {
      const ws = new WebSocket(url, { perMessageDeflate: false, handshakeTimeout: timeoutMs, maxPayload: 512 * 1024 * 1024 });
      const c = new Client(ws, label);
      const onError = (e) => reject(new Error(`${label}: connect ${url}: ${e.message}`));
      ws.once('error', onError);
      ws.once('open', () => {
        ws.off('error', onError);
        openClients.add(c);
        resolve(c);
      });
    });
  }

  // Connect and authenticate; asserts the ok. Returns the client.
  static async open(url, token, opts = {}) {
    const c = await Client.connect(url, opts);
    const a = await c.auth(token);
    assert.equal(a.type, 'ok', `${c.label}: auth failed: ${JSON.stringify(a)}`);
    return c;
  }

  _onMessage(data, isBinary) {
    let f;
    const text = data.toString('utf8');
    try {
      f = JSON.parse(text);
    } catch {
      f = { raw: text, binary: isBinary, unparsable: true };
    }
    if (isBinary) f = { ...f, _binary: true };
    this.frames.push(f);
    if (f && typeof f === 'object' && typeof f.id === 'string' && (f.type === 'ok' || f.type === 'error')) {
      this.answerOrder.push(f.id);
      const p = this.pending.get(f.id);
      if (p) {
        this.pending.delete(f.id);
        clearTimeout(p.timer);
        p.resolve(f);
      } else {
        this.unmatched.push(f);
      }
      return;
    }
    // A pushed event (or an error without id).
    const i = this.waiters.findIndex((w) => w.pred(f));
    if (i >= 0) {
      const [w] = this.waiters.splice(i, 1);
      clearTimeout(w.timer);
      w.resolve(f);
    } else {
      this.events.push(f);
    }
  }

  get isOpen() {
    return this.ws.readyState === WebSocket.OPEN;
  }

  // Send a JSON object as it is (a text frame).
  sendJson(obj) {
    this.ws.send(JSON.stringify(obj));
  }

  // Send raw data: a string or Buffer, as a text frame unless binary is set. A Buffer
  // with binary false is sent as a text frame without any UTF-8 check (ws does none on
  // its send side). fin false starts/continues a fragmented message.
  sendRaw(data, { binary = false, fin = true } = {}) {
    this.ws.send(data, { binary, fin, compress: false });
  }

  // Wait for the answer (ok or error) carrying `id`.
  waitAnswer(id, timeoutMs = 15000) {
    return new Promise((resolve, reject) => {
      const i = this.unmatched.findIndex((f) => f.id === id);
      if (i >= 0) {
        resolve(this.unmatched.splice(i, 1)[0]);
        return;
      }
      if (this.closeInfo) {
        reject(new Error(`${this.label}: socket already closed (${this.closeInfo.code}) waiting for ${id}`));
        return;
      }
      const timer = setTimeout(() => {
        this.pending.delete(id);
        reject(new Error(`${this.label}: no answer to request ${JSON.stringify(id)} within ${timeoutMs} ms`));
      }, timeoutMs);
      this.pending.set(id, { resolve, reject, timer });
    });
  }

  // Send {type, id, ...fields} and resolve with its answer frame (ok or error).
  // opts.id picks the id; opts.timeoutMs bounds the wait.
  request(type, fields = {}, { id, timeoutMs = 15000 } = {}) {
    id = id ?? `r${++idCounter}`;
    const p = this.waitAnswer(id, timeoutMs);
    this.sendJson({ type, id, ...fields });
    return p;
  }

  // Send a request and assert the answer is ok; returns it.
  async ok(type, fields = {}, opts = {}) {
    const a = await this.request(type, fields, opts);
    assert.equal(a.type, 'ok', `${this.label}: ${type} ${JSON.stringify(fields).slice(0, 200)} -> ${JSON.stringify(a).slice(0, 300)}`);
    return a;
  }

  // Send a request and assert the answer is error `code`; returns it.
  async err(code, type, fields = {}, opts = {}) {
    const a = await this.request(type, fields, opts);
    assert.equal(a.type, 'error', `${this.label}: ${type} ${JSON.stringify(fields).slice(0, 200)}: expected error ${code}, got ${JSON.stringify(a).slice(0, 300)}`);
    assert.equal(a.code, code, `${this.label}: ${type} ${JSON.stringify(fields).slice(0, 200)}: expected ${code}, got ${JSON.stringify(a).slice(0, 300)}`);
    assert.equal(typeof a.message, 'string', 'error carries a message string');
    return a;
  }

  auth(token, opts) {
    return this.request('auth', { token }, opts);
  }

  // Resolve with (and consume) the first pushed frame without id matching pred, already
  // received or arriving within timeoutMs.
  nextEvent(pred = () => true, timeoutMs = 5000, what = 'event') {
    return new Promise((resolve, reject) => {
      const i = this.events.findIndex((f) => pred(f));
      if (i >= 0) {
        resolve(this.events.splice(i, 1)[0]);
        return;
      }
      if (this.closeInfo) {
        reject(new Error(`${this.label}: no ${what}: socket closed (${this.closeInfo.code} ${this.closeInfo.reason})`));
        return;
      }
      const w = { pred, resolve, reject };
      w.timer = setTimeout(() => {
        this.waiters.splice(this.waiters.indexOf(w), 1);
        const seen = this.events.map((f) => JSON.stringify(f).slice(0, 150)).slice(-5);
        reject(new Error(`${this.label}: no ${what} within ${timeoutMs} ms (unconsumed: ${seen.join(' | ') || 'none'})${this.closeInfo ? ` (socket closed ${this.closeInfo.code})` : ''}`));
      }, timeoutMs);
      this.waiters.push(w);
    });
  }

  // Collect n events matching pred (consumed), in arrival order.
  async nextEvents(n, pred = () => true, timeoutMs = 10000, what = 'event') {
    const deadline = Date.now() + timeoutMs;
    const out = [];
    while (out.length < n) {
      const left = deadline - Date.now();
      try {
        out.push(await this.nextEvent(pred, Math.max(left, 1), what));
      } catch (e) {
        e.message = `${this.label}: got ${out.length} of ${n} ${what}s: ${e.message}`;
        throw e;
      }
    }
    return out;
  }

  // Assert that no pushed frame matching pred arrives within ms (including already
  // queued ones). The only bounded wait used as a check.
  async expectNoEvent(pred = () => true, ms = 500, what = 'event') {
    const already = this.events.find((f) => pred(f));
    assert.equal(already, undefined, `${this.label}: unexpected ${what}: ${JSON.stringify(already)?.slice(0, 300)}`);
    let got;
    try {
      got = await this.nextEvent(pred, ms);
    } catch {
      return;
    }
    assert.fail(`${this.label}: unexpected ${what}: ${JSON.stringify(got).slice(0, 300)}`);
  }

  // Wait for the close; returns {code, reason}.
  async waitClosed(timeoutMs = 5000) {
    let timer;
    const t = new Promise((_, reject) => {
      timer = setTimeout(() => reject(new Error(`${this.label}: socket not closed by the server within ${timeoutMs} ms`)), timeoutMs);
    });
    try {
      return await Promise.race([this.closed, t]);
    } finally {
      clearTimeout(timer);
    }
  }

  close() {
    if (this.ws.readyState === WebSocket.OPEN) {
      this.ws.close(1000);
      setTimeout(() => this.ws.terminate(), 1000).unref();
    } else if (this.ws.readyState === WebSocket.CONNECTING) {
      this.ws.terminate();
    }
    openClients.delete(this);
  }
}

function closeAllClients() {
  for (const c of [...openClients]) c.close();
}

module.exports = { httpRequest, createUser, login, Client, closeAllClients, WebSocket };
