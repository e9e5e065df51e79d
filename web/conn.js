// Parley web client — the connection: one WebSocket speaking the public protocol
// (shared/PROTOCOL.md v1 and docs/protocol.md), nothing else.
//
// What it guarantees to the UI:
//  * request(type, fields) resolves with the `ok` frame or rejects with an Error whose
//    .code is the protocol's error code ('unavailable' when the socket dropped before the
//    answer came);
//  * reconnects by itself with exponential backoff and jitter, authenticates with the
//    kept token, then calls onReady() so the UI catches up (convs + sync);
//  * an `unauthenticated` answer or close code 4401 means the token is dead (expired,
//    revoked or replaced): onAuthLost() is called and no reconnect follows.
// The outbox (pending sends, kept in localStorage so a reload or a crash loses nothing)
// lives in app.js; a send repeated with the same client_msg_id is idempotent on the server.

export const BACKOFF_MIN_MS = 250;
export const BACKOFF_MAX_MS = 8000;
// A request unanswered this long means the link is dead (a frozen gateway, a half-open
// TCP connection): the socket is abandoned and a new one made; the outbox resends.
export const ANSWER_TIMEOUT_MS = 15000;
// With nothing received for this long, a `ping` checks the link (and keeps presence).
export const IDLE_PING_MS = 25000;

export class Connection {
  constructor({ token, onEvent, onReady, onAuthLost, onState }) {
    this.token = token;
    this.onEvent = onEvent;
    this.onReady = onReady;
    this.onAuthLost = onAuthLost;
    this.onState = onState || (() => {});
    this.ws = null;
    this.nextId = 1;
    this.waiting = new Map(); // id -> {resolve, reject}
    this.ready = false; // authenticated
    this.stopped = false;
    this.attempt = 0;
    this.timer = null;
    this.user = null;
    this.device = null;
    this.lastRx = 0;
    this.watchdog = null;
  }

  start() {
    this.stopped = false;
    this._open();
  }

  // Close for good (logout, auth lost); pending requests fail with 'unavailable'.
  stop() {
    this.stopped = true;
    clearTimeout(this.timer);
    if (this.ws) {
      try { this.ws.close(1000); } catch { /* already closed */ }
    }
    this._dropped();
  }

  // Reconnect now (the browser says the network is back, or the page became visible).
  poke() {
    if (this.stopped || this.ws) return;
    clearTimeout(this.timer);
    this.attempt = 0;
    this._open();
  }

  _url() {
    const proto = location.protocol === 'https:' ? 'wss:' : 'ws:';
    return `${proto}//${location.host}/v1/ws`;
  }

  _open() {
    if (this.stopped) return;
    this.onState('connecting');
    let ws;
    try {
      ws = new WebSocket(this._url());
    } catch {
      this._schedule();
      return;
    }
    this.ws = ws;
    ws.onopen = () => {
      const id = 'auth';
      ws.send(JSON.stringify({ type: 'auth', id, token: this.token }));
    };
    ws.onmessage = (ev) => {
      this.lastRx = Date.now();
      let f;
      try {
        f = JSON.parse(ev.data);
      } catch {
        return;
      }
      if (f.id === 'auth' && !this.ready) {
        if (f.type === 'ok') {
          this.ready = true;
          this.attempt = 0;
          this.user = f.user;
          this.device = f.device;
          this.onState('online');
          this._watch(ws);
          Promise.resolve(this.onReady()).catch(() => {});
        } else if (f.code === 'unauthenticated') {
          this._authLost();
        } else {
          // unavailable: the user's shard is down; the socket stays open, try again soon
          setTimeout(() => {
            if (this.ws === ws && !this.ready) ws.send(JSON.stringify({ type: 'auth', id: 'auth', token: this.token }));
          }, 1000);
        }
        return;
      }
      if (f.id !== undefined && this.waiting.has(f.id)) {
        const w = this.waiting.get(f.id);
        this.waiting.delete(f.id);
        if (f.type === 'ok') w.resolve(f);
        else w.reject(protocolError(f.code, f.message));
        return;
      }
      if (f.type === 'error' && f.code === 'unauthenticated') {
        this._authLost();
        return;
      }
      if (f.id === undefined && f.type !== 'ok' && f.type !== 'error') this.onEvent(f);
    };
    ws.onclose = (ev) => {
      if (this.ws !== ws) return;
      this.ws = null;
      this._dropped();
      if (ev.code === 4401) {
        this._authLost();
        return;
      }
      this._schedule();
    };
    ws.onerror = () => { /* onclose follows */ };
  }

  // Every 5 s: abandon a link whose answers are overdue; ping an idle one.
  _watch(ws) {
    clearInterval(this.watchdog);
    this.watchdog = setInterval(() => {
      if (this.ws !== ws || !this.ready) {
        clearInterval(this.watchdog);
        return;
      }
      const now = Date.now();
      for (const w of this.waiting.values()) {
        if (now - w.at > ANSWER_TIMEOUT_MS) {
          this._abandon(ws);
          return;
        }
      }
      if (now - this.lastRx > IDLE_PING_MS) this.request('ping').catch(() => {});
    }, 5000);
  }

  _abandon(ws) {
    ws.onclose = ws.onmessage = ws.onerror = null;
    try { ws.close(); } catch { /* already closed */ }
    if (this.ws === ws) this.ws = null;
    this._dropped();
    this._schedule();
  }

  _authLost() {
    if (this.stopped) return;
    this.stop();
    this.onAuthLost();
  }

  _dropped() {
    clearInterval(this.watchdog);
    const was = this.ready;
    this.ready = false;
    for (const w of this.waiting.values()) w.reject(protocolError('unavailable', 'connection lost'));
    this.waiting.clear();
    if (was || this.stopped) this.onState(this.stopped ? 'stopped' : 'offline');
  }

  // Exponential backoff with full jitter: a crowd of clients does not come back in step.
  _schedule() {
    if (this.stopped) return;
    this.onState('offline');
    const cap = Math.min(BACKOFF_MAX_MS, BACKOFF_MIN_MS * 2 ** this.attempt);
    this.attempt = Math.min(this.attempt + 1, 10);
    const ms = cap / 2 + Math.random() * (cap / 2);
    clearTimeout(this.timer);
    this.timer = setTimeout(() => this._open(), ms);
  }

  request(type, fields = {}) {
    if (!this.ready || !this.ws) return Promise.reject(protocolError('unavailable', 'not connected'));
    const id = `r${this.nextId++}`;
    return new Promise((resolve, reject) => {
      this.waiting.set(id, { resolve, reject, at: Date.now() });
      try {
        this.ws.send(JSON.stringify({ ...fields, type, id }));
      } catch {
        this.waiting.delete(id);
        reject(protocolError('unavailable', 'not connected'));
      }
    });
  }
}

export function protocolError(code, message) {
  const e = new Error(message || code);
  e.code = code || 'internal';
  return e;
}

// A human sentence for every error code of the protocol (and the HTTP ones).
export function humanError(code, context = '') {
  switch (code) {
    case 'too_large':
      return 'That message is too long: a message can hold at most 100,000 characters.';
    case 'forbidden':
      return context === 'remove'
        ? 'Only the group’s creator can remove other members.'
        : 'You are not allowed to do that here (you may no longer be a member).';
    case 'group_full':
      return 'This group is full: a group can have at most 100 members.';
    case 'rate_limited':
      return 'You are going too fast. Wait a moment and try again.';
    case 'unavailable':
      return 'The server is unreachable right now. We will retry; nothing is lost.';
    case 'not_found':
      return context === 'user' ? 'There is no user with that name.' : 'That does not exist (any more).';
    case 'bad_request':
      return context === 'user'
        ? 'User names are 3–32 characters: lowercase letters, digits and _.'
        : 'The server could not accept that request.';
    case 'unauthenticated':
      return 'Your session has ended. Please log in again.';
    case 'internal':
      return 'Something went wrong on the server. Please try again.';
    default:
      return `Something went wrong (${code}).`;
  }
}
