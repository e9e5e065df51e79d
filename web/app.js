// Parley web client — the app. Speaks only the public protocol (conn.js); every piece of
// text that comes from the server or a user is put in the page with textContent, never as
// HTML (the gateway's Content-Security-Policy also forbids inline script).
import { Connection, humanError } from './conn.js';

const MAX_CHARS = 100000;
const COUNTER_FROM = 90000; // show the live character counter from here on
const FOLD_CHARS = 1200; // longer messages are folded behind "Show more"
const FOLD_LINES = 16;
const PAGE = 50; // history page
const LS_SESSION = 'parley.session';
const LS_DEVICE = 'parley.device';
const LS_USER = 'parley.lastUser';
const outboxKey = (user) => `parley.outbox.${user}`;

// ---- tiny DOM helper: attributes, properties for on*/value, children as text or nodes ----
function h(tag, attrs = {}, ...kids) {
  const el = document.createElement(tag);
  for (const [k, v] of Object.entries(attrs)) {
    if (v === undefined || v === null || v === false) continue;
    if (k.startsWith('on')) el.addEventListener(k.slice(2), v);
    else if (k === 'value' || k === 'hidden' || k === 'disabled') el[k] = v;
    else el.setAttribute(k, v === true ? '' : String(v));
  }
  for (const kid of kids.flat(Infinity)) {
    if (kid === null || kid === undefined || kid === false) continue;
    el.append(kid instanceof Node ? kid : document.createTextNode(String(kid)));
  }
  return el;
}
const $ = (sel, root = document) => root.querySelector(sel);

function codePoints(s) {
  if (s.length <= COUNTER_FROM) return s.length > 0 ? [...s].length : 0;
  let n = 0;
  for (const _ of s) n++;
  return n;
}

function defaultDevice() {
  const ua = navigator.userAgent;
  const os = /Android/.test(ua) ? 'android' : /iPhone|iPad/.test(ua) ? 'ios' : /Mac/.test(ua) ? 'mac'
    : /Windows/.test(ua) ? 'windows' : /Linux/.test(ua) ? 'linux' : 'web';
  const br = /Firefox\//.test(ua) ? 'firefox' : /Edg\//.test(ua) ? 'edge' : /Chrom/.test(ua) ? 'chrome'
    : /Safari\//.test(ua) ? 'safari' : 'browser';
  const rnd = Math.random().toString(36).slice(2, 6);
  return `${os}-${br}-${rnd}`; // unique per browser: a second login elsewhere must not replace it
}

function fmtTime(ts) {
  const d = new Date(ts);
  const now = new Date();
  const t = d.toLocaleTimeString([], { hour: '2-digit', minute: '2-digit' });
  return d.toDateString() === now.toDateString() ? t : `${d.toLocaleDateString()} ${t}`;
}

function fmtLastSeen(p) {
  if (!p) return '';
  if (p.online) return 'online';
  if (!p.last_seen) return 'offline';
  const s = Math.max(0, Math.round((Date.now() - p.last_seen) / 1000));
  if (s < 60) return 'last seen just now';
  if (s < 3600) return `last seen ${Math.round(s / 60)} min ago`;
  return `last seen ${fmtTime(p.last_seen)}`;
}

async function httpJson(method, path, body, token) {
  const headers = { 'Content-Type': 'application/json' };
  if (token) headers.Authorization = `Bearer ${token}`;
  let res;
  try {
    res = await fetch(path, { method, headers, body: body ? JSON.stringify(body) : undefined });
  } catch {
    return { status: 0, body: {} };
  }
  let json = {};
  try { json = await res.json(); } catch { /* empty body */ }
  return { status: res.status, body: json, retryAfter: res.headers.get('Retry-After') };
}

// ====================================================================================
// Login screen
// ====================================================================================
function showLogin(notice = '') {
  const root = $('#root');
  root.replaceChildren();
  const err = h('p', { class: 'error', role: 'alert' }, notice);
  const user = h('input', { id: 'login-user', name: 'user', autocomplete: 'username', autocapitalize: 'none',
    spellcheck: 'false', required: true, value: localStorage.getItem(LS_USER) || '' });
  const pass = h('input', { id: 'login-pass', name: 'password', type: 'password', autocomplete: 'current-password', required: true });
  let dev = localStorage.getItem(LS_DEVICE);
  if (!dev) {
    dev = defaultDevice();
    localStorage.setItem(LS_DEVICE, dev);
  }
  const device = h('input', { id: 'login-device', name: 'device', autocapitalize: 'none', spellcheck: 'false', required: true, value: dev });
  let busy = false;
  async function go(signup) {
    if (busy) return;
    err.textContent = '';
    const u = user.value.trim();
    const p = pass.value;
    const d = device.value.trim();
    if (!/^[a-z0-9_]{3,32}$/.test(u)) {
      err.textContent = 'User names are 3–32 characters: lowercase letters, digits and _.';
      user.focus();
      return;
    }
    if (new TextEncoder().encode(p).length < 8) {
      err.textContent = 'Passwords have at least 8 characters.';
      pass.focus();
      return;
    }
    if (!/^[A-Za-z0-9_.-]{1,64}$/.test(d)) {
      err.textContent = 'Device names are 1–64 characters: letters, digits, _ . and -.';
      device.focus();
      return;
    }
    busy = true;
    form.setAttribute('aria-busy', 'true');
    try {
      if (signup) {
        const r = await httpJson('POST', '/v1/users', { user: u, password: p });
        if (r.status !== 201) {
          err.textContent = r.status === 409 ? 'That user name is taken. Pick another one, or log in.'
            : r.status === 429 ? `Too many attempts from here. Try again in ${r.retryAfter || 'a few'} seconds.`
              : r.status === 400 ? 'User names are 3–32 characters (a–z, 0–9, _); passwords 8–1024 bytes.'
                : r.status === 0 ? humanError('unavailable') : humanError(r.body.error || 'internal');
          return;
        }
      }
      const r = await httpJson('POST', '/v1/sessions', { user: u, password: p, device: d });
      if (r.status !== 200) {
        err.textContent = r.status === 401 ? 'Wrong user name or password.'
          : r.status === 429 ? `Too many attempts from here. Try again in ${r.retryAfter || 'a few'} seconds.`
            : r.status === 0 ? humanError('unavailable') : humanError(r.body.error || 'internal');
        return;
      }
      localStorage.setItem(LS_DEVICE, d);
      localStorage.setItem(LS_USER, u);
      const session = { token: r.body.token, user: r.body.user, device: r.body.device };
      localStorage.setItem(LS_SESSION, JSON.stringify(session));
      startApp(session);
    } finally {
      busy = false;
      form.removeAttribute('aria-busy');
    }
  }
  const form = h('form', { class: 'login-form', onsubmit: (e) => { e.preventDefault(); go(false); } },
    h('label', { for: 'login-user' }, 'User name'), user,
    h('label', { for: 'login-pass' }, 'Password'), pass,
    h('label', { for: 'login-device' }, 'Device name'), device,
    h('p', { class: 'hint' }, 'The device name tells your devices apart; it is remembered on this browser.'),
    err,
    h('div', { class: 'row' },
      h('button', { type: 'submit', class: 'primary' }, 'Log in'),
      h('button', { type: 'button', onclick: () => go(true) }, 'Sign up')));
  root.append(h('main', { class: 'login' },
    h('div', { class: 'brand' }, h('img', { src: '/icons/icon.svg', alt: '', width: 56, height: 56 }), h('h1', {}, 'Parley')),
    form));
  (user.value ? pass : user).focus();
}

// ====================================================================================
// The chat app
// ====================================================================================
let S = null; // the running app's state

function startApp(session) {
  const outbox = JSON.parse(localStorage.getItem(outboxKey(session.user)) || '[]');
  S = {
    me: session.user,
    device: session.device,
    token: session.token,
    convs: new Map(),
    presence: new Map(),
    open: null,
    outbox, // [{conv, client_msg_id, text, at, error?, inflight?}]
    expanded: new Set(), // message keys unfolded by "Show more"
    conn: null,
    lastTyping: 0,
    refreshing: null,
  };
  buildShell();
  S.conn = new Connection({
    token: session.token,
    onEvent,
    onReady: catchUp,
    onAuthLost: () => logout('Your session has ended (it expired or was logged out). Please log in again.', false),
    onState: setConnState,
  });
  S.conn.start();
  renderList();
  renderConv();
  // a subscription made earlier on this browser: say so on the button
  navigator.serviceWorker?.getRegistration().then((reg) => reg?.pushManager?.getSubscription()).then((sub) => {
    const b = $('#notif');
    if (sub && b) b.textContent = 'Notifications on';
  }).catch(() => {});
}

function saveOutbox() {
  if (!S) return;
  localStorage.setItem(outboxKey(S.me),
    JSON.stringify(S.outbox.map(({ conv, client_msg_id, text, at, error }) => ({ conv, client_msg_id, text, at, error }))));
}

function conv(id) {
  return S.convs.get(id);
}

function ensureConv(c) {
  let x = S.convs.get(c.conv);
  if (!x) {
    x = { conv: c.conv, kind: c.kind, title: c.title, members: c.members || [], last_seq: 0, read_seq: 0,
      last: null, msgs: new Map(), more: true, loaded: false, reads: new Map(), typing: new Map(), loadingOlder: false };
    S.convs.set(c.conv, x);
  }
  for (const k of ['kind', 'title', 'members']) if (c[k] !== undefined) x[k] = c[k];
  if (c.last_seq !== undefined) x.last_seq = Math.max(x.last_seq, c.last_seq);
  if (c.read_seq !== undefined) x.read_seq = Math.max(x.read_seq, c.read_seq);
  return x;
}

function addMsg(c, m) {
  if (!c.msgs.has(m.seq)) c.msgs.set(m.seq, m);
  c.last_seq = Math.max(c.last_seq, m.seq);
  if (!c.last || m.seq >= c.last.seq) c.last = m;
  if (m.from === S.me) {
    // a message of ours that was pending: it is stored, do not send it again
    const i = S.outbox.findIndex((o) => o.conv === c.conv && o.client_msg_id === m.client_msg_id);
    if (i >= 0) {
      S.outbox.splice(i, 1);
      saveOutbox();
    }
  }
}

function highestHeld(c) {
  let hi = 0;
  for (const s of c.msgs.keys()) if (s > hi) hi = s;
  return hi;
}

// After every (re)connect: conversations, what we missed, presence, then pending sends.
async function catchUp() {
  await refreshConvs();
  resendOutbox();
}

async function refreshConvs() {
  if (S.refreshing) return S.refreshing;
  const run = (async () => {
    let r;
    try {
      r = await S.conn.request('convs');
    } catch {
      return;
    }
    const seen = new Set();
    for (const c of r.convs) {
      seen.add(c.conv);
      ensureConv(c);
    }
    for (const id of [...S.convs.keys()]) {
      const c = S.convs.get(id);
      // a group we are no longer in; a dm without messages that we only opened stays
      if (!seen.has(id) && !(c.kind === 'dm' && c.last_seq === 0)) S.convs.delete(id);
    }
    if (S.open && !S.convs.has(S.open)) S.open = null;
    await Promise.all([...S.convs.values()].map(catchUpConv));
    await refreshPresence();
    renderList();
    renderConv();
    markRead();
  })();
  S.refreshing = run;
  try {
    await run;
  } finally {
    S.refreshing = null;
  }
}

// Fetch what a conversation misses: every message after the highest one held when its
// history is loaded (sync, paged), else only the newest one for the list's preview.
async function catchUpConv(c) {
  try {
    if (c.loaded) {
      let after = highestHeld(c);
      for (;;) {
        if (after >= c.last_seq && after > 0) break;
        const r = await S.conn.request('sync', { conv: c.conv, after, limit: 500 });
        for (const m of r.msgs) addMsg(c, m);
        if (!r.more || !r.msgs.length) break;
        after = r.msgs[r.msgs.length - 1].seq;
      }
    } else if (c.last_seq > 0 && (!c.last || c.last.seq < c.last_seq)) {
      const r = await S.conn.request('history', { conv: c.conv, limit: 1 });
      for (const m of r.msgs) {
        c.last = m;
        c.last_seq = Math.max(c.last_seq, m.seq);
      }
    }
  } catch { /* the next reconnect catches up */ }
}

async function refreshPresence() {
  const users = new Set();
  for (const c of S.convs.values()) for (const u of c.members) if (u !== S.me) users.add(u);
  const list = [...users].slice(0, 500);
  if (!list.length) return;
  try {
    const r = await S.conn.request('presence', { users: list });
    for (const p of r.presence) S.presence.set(p.user, p);
  } catch { /* later */ }
}

function resendOutbox() {
  for (const o of S.outbox) if (!o.error && !o.inflight) sendOne(o);
}

function newClientMsgId() {
  const b = new Uint8Array(12);
  crypto.getRandomValues(b);
  return `w-${Array.from(b, (x) => x.toString(16).padStart(2, '0')).join('')}`;
}

async function sendOne(o) {
  if (!S.conn.ready) return; // resent after the next auth
  o.inflight = true;
  const me = S;
  try {
    const r = await S.conn.request('send', { conv: o.conv, client_msg_id: o.client_msg_id, text: o.text });
    if (me !== S) return;
    const c = conv(o.conv) || ensureConv({ conv: o.conv, kind: o.conv.startsWith('dm:') ? 'dm' : 'group', title: o.conv });
    addMsg(c, { conv: o.conv, seq: r.seq, ts: r.ts, from: S.me, device: S.device, text: o.text, client_msg_id: o.client_msg_id });
    const i = S.outbox.indexOf(o);
    if (i >= 0) S.outbox.splice(i, 1);
    saveOutbox();
    if (S.open === o.conv) markRead();
  } catch (e) {
    if (me !== S) return;
    o.inflight = false;
    if (e.code === 'unavailable' || e.code === 'rate_limited' || e.code === 'internal') {
      // safe to repeat: same client_msg_id; after a drop the reconnect resends it
      setConnNotice(humanError(e.code));
      setTimeout(() => { if (me === S && S.outbox.includes(o) && !o.inflight && !o.error) sendOne(o); },
        e.code === 'rate_limited' ? 1500 : 2000);
    } else {
      o.error = humanError(e.code);
      saveOutbox();
      showConvError(o.error);
    }
  }
  if (me === S) {
    renderList();
    if (S.open === o.conv) renderConv();
  }
}

function onEvent(f) {
  const now = Date.now();
  switch (f.type) {
    case 'msg': {
      let c = conv(f.conv);
      if (!c) {
        c = ensureConv({ conv: f.conv, kind: f.conv.startsWith('dm:') ? 'dm' : 'group',
          title: f.conv.startsWith('dm:') ? f.from : f.conv, members: f.conv.startsWith('dm:') ? [S.me, f.from] : [] });
        refreshConvs();
      }
      const gap = c.loaded && f.seq > highestHeld(c) + 1;
      addMsg(c, f);
      c.typing.delete(f.from);
      if (gap) catchUpConv(c).then(() => { if (S.open === c.conv) renderConv(); });
      renderList();
      if (S.open === c.conv) {
        renderConv();
        markRead();
      }
      break;
    }
    case 'member': {
      if (f.user === S.me && f.change === 'removed') {
        const c = conv(f.conv);
        S.convs.delete(f.conv);
        if (S.open === f.conv) {
          S.open = null;
          setView('list');
        }
        announce(f.by === S.me ? `You left ${c ? c.title : 'the group'}.` : `You were removed from ${c ? c.title : 'a group'}.`);
        renderList();
        renderConv();
        break;
      }
      const c = conv(f.conv);
      if (!c) {
        refreshConvs();
        break;
      }
      if (f.change === 'added' && !c.members.includes(f.user)) c.members = [...c.members, f.user];
      if (f.change === 'removed') c.members = c.members.filter((u) => u !== f.user);
      if (f.change === 'added') refreshPresence().then(renderList);
      renderList();
      if (S.open === c.conv) renderConv();
      break;
    }
    case 'read': {
      const c = conv(f.conv);
      if (!c) break;
      if (f.user === S.me) c.read_seq = Math.max(c.read_seq, f.seq);
      else c.reads.set(f.user, Math.max(c.reads.get(f.user) || 0, f.seq));
      renderList();
      if (S.open === c.conv) renderConv();
      break;
    }
    case 'typing': {
      const c = conv(f.conv);
      if (!c || f.user === S.me) break;
      c.typing.set(f.user, now + 4000);
      if (S.open === c.conv) renderTyping();
      setTimeout(() => { if (S && S.open === c.conv) renderTyping(); }, 4100);
      break;
    }
    case 'presence':
      S.presence.set(f.user, { user: f.user, online: f.online, last_seen: f.last_seen });
      renderList();
      if (S.open) renderHeader();
      break;
    default:
      break;
  }
}

// Tell the server what the open conversation has shown (never above its last_seq).
function markRead() {
  if (!S || !S.open || document.visibilityState === 'hidden' || !S.conn.ready) return;
  const c = conv(S.open);
  if (!c) return;
  const hi = Math.min(highestHeld(c), c.last_seq);
  if (hi > c.read_seq) {
    c.read_seq = hi;
    S.conn.request('read', { conv: c.conv, seq: hi }).catch(() => { c.read_seq = Math.min(c.read_seq, hi - 1); });
    renderList();
  }
}

async function logout(notice = '', tellServer = true) {
  if (!S) return;
  const st = S;
  S = null;
  st.conn.stop();
  if (tellServer) {
    // best effort: revoke this device's token (and its push targets) on the server
    await httpJson('DELETE', '/v1/sessions', null, st.token);
    try {
      const reg = await navigator.serviceWorker?.getRegistration();
      const sub = await reg?.pushManager?.getSubscription();
      await sub?.unsubscribe();
    } catch { /* no push */ }
  }
  localStorage.removeItem(LS_SESSION);
  localStorage.removeItem(outboxKey(st.me));
  showLogin(notice);
}

// ---- the shell ------------------------------------------------------------------------

function buildShell() {
  const root = $('#root');
  root.replaceChildren();
  const notif = ('serviceWorker' in navigator && 'PushManager' in window && 'Notification' in window &&
    Notification.permission !== 'denied')
    ? h('button', { type: 'button', id: 'notif', onclick: enablePush }, 'Enable notifications') : null;
  root.append(h('div', { class: 'app', 'data-view': 'list', id: 'app' },
    h('header', { class: 'top' },
      h('img', { src: '/icons/icon.svg', alt: '', width: 28, height: 28 }),
      h('h1', {}, 'Parley'),
      h('span', { id: 'conn', role: 'status', class: 'conn' }),
      h('span', { class: 'spacer' }),
      h('span', { class: 'me', title: `device ${S.device}` }, S.me),
      notif,
      h('button', { type: 'button', onclick: () => logout() }, 'Log out')),
    h('nav', { class: 'side', 'aria-label': 'Conversation list' },
      h('div', { class: 'actions' },
        h('button', { type: 'button', class: 'primary', onclick: newChat }, 'New chat'),
        h('button', { type: 'button', onclick: newGroup }, 'New group')),
      h('ul', { id: 'convs', class: 'convs', 'aria-label': 'Conversations' })),
    h('section', { class: 'conv', id: 'conv', 'aria-label': 'Conversation' }),
    h('p', { id: 'announce', class: 'sr-only', role: 'status', 'aria-live': 'polite' })));
}

function announce(text) {
  const a = $('#announce');
  if (a) a.textContent = text;
}

function setConnState(state) {
  const el = $('#conn');
  if (!el) return;
  el.dataset.state = state;
  el.textContent = state === 'online' ? '' : state === 'connecting' ? 'Connecting…' : state === 'offline'
    ? 'Offline — reconnecting… (messages wait and are sent when back)' : '';
}

function setConnNotice(text) {
  const el = $('#conn');
  if (el && S.conn.ready) el.textContent = text;
  if (el && S.conn.ready) setTimeout(() => { if (S && S.conn.ready && el.textContent === text) el.textContent = ''; }, 4000);
}

function setView(v) {
  const app = $('#app');
  if (app) app.dataset.view = v;
}

function sortedConvs() {
  const key = (c) => (c.last ? c.last.ts : 0) || 0;
  return [...S.convs.values()].sort((a, b) => key(b) - key(a) || b.last_seq - a.last_seq || a.title.localeCompare(b.title));
}

function dmPeer(c) {
  return c.kind === 'dm' ? c.members.find((u) => u !== S.me) || c.title : null;
}

function unreadOf(c) {
  return Math.max(0, c.last_seq - c.read_seq);
}

function renderList() {
  if (!S) return;
  const ul = $('#convs');
  if (!ul) return;
  const items = sortedConvs().map((c) => {
    const unread = S.open === c.conv ? 0 : unreadOf(c);
    const peer = dmPeer(c);
    let dot = null;
    if (peer) {
      const on = !!S.presence.get(peer)?.online;
      dot = h('span', { class: `dot ${on ? 'on' : 'off'}`, role: 'img', 'aria-label': on ? 'online' : 'offline' });
    } else {
      const n = c.members.filter((u) => u !== S.me && S.presence.get(u)?.online).length;
      dot = h('span', { class: `dot ${n ? 'on' : 'off'}`, role: 'img', 'aria-label': n ? `${n} online` : 'offline' });
    }
    const pending = S.outbox.find((o) => o.conv === c.conv);
    const preview = pending ? `You: ${pending.text}` : c.last ? `${c.last.from === S.me ? 'You' : c.last.from}: ${c.last.text}` : c.kind === 'group' ? `${c.members.length} members` : 'No messages yet';
    return h('li', { 'aria-label': c.title, class: S.open === c.conv ? 'current' : '' },
      h('button', { type: 'button', class: 'conv-item', 'aria-current': S.open === c.conv ? 'true' : undefined,
        onclick: () => openConv(c.conv) },
      dot,
      h('span', { class: 'c-main' },
        h('span', { class: 'c-title' }, c.title),
        h('span', { class: 'c-preview' }, preview.slice(0, 120))),
      h('span', { class: 'c-side' },
        c.last ? h('time', {}, fmtTime(c.last.ts)) : null,
        unread ? h('span', { class: 'badge', 'aria-label': `${unread} unread` }, String(unread)) : null)));
  });
  ul.replaceChildren(...items);
  if (!items.length) ul.append(h('li', { class: 'empty', 'aria-label': 'No conversations' }, 'No conversations yet. Start one with “New chat”.'));
}

async function openConv(id) {
  S.open = id;
  S.expanded.clear();
  setView('conv');
  const c = conv(id);
  renderList();
  renderConv(true);
  if (c && !c.loaded) {
    try {
      const r = await S.conn.request('history', { conv: id, limit: PAGE });
      for (const m of r.msgs) addMsg(c, m);
      c.more = r.more;
      c.loaded = true;
      await catchUpConv(c);
    } catch (e) {
      showConvError(humanError(e.code));
    }
    if (S && S.open === id) renderConv(true);
  }
  markRead();
  $('#message')?.focus();
}

async function loadOlder(c) {
  if (c.loadingOlder || !c.more || !c.loaded) return;
  c.loadingOlder = true;
  const log = $('#log');
  const fromBottom = log ? log.scrollHeight - log.scrollTop : 0;
  let oldest = Infinity;
  for (const s of c.msgs.keys()) if (s < oldest) oldest = s;
  try {
    const r = await S.conn.request('history', { conv: c.conv, before: oldest === Infinity ? undefined : oldest, limit: PAGE });
    for (const m of r.msgs) addMsg(c, m);
    c.more = r.more;
  } catch { /* try again on the next scroll */ }
  c.loadingOlder = false;
  if (S && S.open === c.conv) {
    renderMessages();
    const l = $('#log');
    if (l) l.scrollTop = l.scrollHeight - fromBottom;
  }
}

function renderHeader() {
  const c = S.open && conv(S.open);
  const hd = $('#conv-header');
  if (!c || !hd) return;
  const peer = dmPeer(c);
  const sub = peer ? fmtLastSeen(S.presence.get(peer))
    : `${c.members.length} members: ${c.members.join(', ')}`;
  hd.replaceChildren(...[
    h('button', { type: 'button', class: 'back', onclick: () => { S.open = null; setView('list'); renderList(); $('#convs button')?.focus(); } }, 'Back'),
    h('div', { class: 'h-main' }, h('h2', { id: 'conv-title' }, c.title), h('p', { class: 'sub', id: 'conv-sub' }, sub)),
    c.kind === 'group' ? h('button', { type: 'button', onclick: () => manageMembers(c) }, 'Members') : null,
    c.kind === 'group' ? h('button', { type: 'button', onclick: () => leaveGroup(c) }, 'Leave group') : null,
  ].filter(Boolean));
}

function renderTyping() {
  const el = $('#typing');
  const c = S && S.open && conv(S.open);
  if (!el || !c) return;
  const now = Date.now();
  const who = [...c.typing].filter(([, until]) => until > now).map(([u]) => u);
  el.textContent = who.length === 0 ? '' : who.length === 1 ? `${who[0]} is typing…` : `${who.join(', ')} are typing…`;
}

function msgItem(c, m, state, seenBy) {
  const key = m.client_msg_id ? `${m.from}/${m.client_msg_id}` : `${m.seq}`;
  const mine = m.from === S.me;
  const cps = m.text.length > FOLD_CHARS ? codePoints(m.text) : m.text.length;
  const lines = m.text.split('\n', FOLD_LINES + 2).length;
  const foldable = cps > FOLD_CHARS || lines > FOLD_LINES;
  const open = S.expanded.has(key);
  let shown = m.text;
  if (foldable && !open) {
    shown = [...m.text.slice(0, FOLD_CHARS * 2)].slice(0, FOLD_CHARS).join('');
    shown = shown.split('\n').slice(0, FOLD_LINES).join('\n') + '…';
  }
  const status = state === 'pending' ? 'Sending…' : state === 'failed' ? m.error
    : mine ? `Sent · #${m.seq}${seenBy.length ? ` · Seen by ${seenBy.join(', ')}` : ''}` : `#${m.seq}`;
  return h('li', { class: `msg ${mine ? 'mine' : 'theirs'} ${state}`, 'data-state': state, 'data-seq': m.seq || undefined },
    h('div', { class: 'meta' }, h('span', { class: 'from' }, mine ? 'You' : m.from), ' ',
      m.ts ? h('time', { datetime: new Date(m.ts).toISOString() }, fmtTime(m.ts)) : null),
    h('div', { class: 'text' }, shown),
    foldable ? h('button', { type: 'button', class: 'more', 'aria-expanded': open ? 'true' : 'false',
      onclick: () => { if (open) S.expanded.delete(key); else S.expanded.add(key); renderMessages(); } },
    open ? 'Show less' : `Show more (${cps.toLocaleString('en-US')} characters)`) : null,
    h('div', { class: 'status' }, status,
      state === 'failed' ? h('button', { type: 'button', onclick: () => discard(m._o) }, 'Discard') : null));
}

function discard(o) {
  const i = S.outbox.indexOf(o);
  if (i >= 0) S.outbox.splice(i, 1);
  saveOutbox();
  renderConv();
  renderList();
}

function renderMessages() {
  const c = S && S.open && conv(S.open);
  const log = $('#log');
  if (!c || !log) return;
  const atBottom = log.scrollHeight - log.scrollTop - log.clientHeight < 80;
  const msgs = [...c.msgs.values()].sort((a, b) => a.seq - b.seq);
  let myLast = 0;
  for (const m of msgs) if (m.from === S.me) myLast = m.seq;
  const seenBy = [...c.reads].filter(([u, s]) => u !== S.me && s >= myLast).map(([u]) => u);
  const items = msgs.map((m) => msgItem(c, m, 'sent', m.seq === myLast ? seenBy : []));
  for (const o of S.outbox) {
    if (o.conv !== c.conv) continue;
    items.push(msgItem(c, { ...o, _o: o, from: S.me, ts: o.at }, o.error ? 'failed' : 'pending', []));
  }
  const ol = $('#msgs');
  const top = c.more && c.loaded ? h('li', { class: 'older', role: 'presentation' },
    h('button', { type: 'button', onclick: () => loadOlder(c) }, 'Load older messages')) : null;
  if (!c.loaded) items.unshift(h('li', { class: 'loading', role: 'presentation' }, 'Loading…'));
  else if (!items.length) items.push(h('li', { class: 'empty', role: 'presentation' }, 'No messages yet. Say hello!'));
  ol.replaceChildren(...(top ? [top] : []), ...items.filter(Boolean));
  if (atBottom || c._scrollToBottom) {
    log.scrollTop = log.scrollHeight;
    c._scrollToBottom = false;
  }
}

function renderConv(scrollDown = false) {
  if (!S) return;
  const sec = $('#conv');
  if (!sec) return;
  const c = S.open && conv(S.open);
  if (!c) {
    delete sec.dataset.conv; // reopening the same conversation rebuilds it
    sec.replaceChildren(h('div', { class: 'placeholder' }, h('p', {}, 'Pick a conversation, or start one with “New chat”.')));
    return;
  }
  if (sec.dataset.conv !== c.conv) {
    sec.dataset.conv = c.conv;
    const text = h('textarea', { id: 'message', 'aria-label': 'Message', rows: 1, placeholder: 'Write a message',
      'aria-describedby': 'counter' });
    const counter = h('span', { id: 'counter', class: 'counter', 'aria-live': 'polite' });
    const form = h('form', { class: 'composer', onsubmit: (e) => { e.preventDefault(); submit(); } },
      text, h('button', { type: 'submit', class: 'primary' }, 'Send'));
    text.addEventListener('keydown', (e) => {
      if (e.key === 'Enter' && !e.shiftKey && !e.isComposing) {
        e.preventDefault();
        submit();
      }
    });
    text.addEventListener('input', () => {
      updateCounter();
      autosize(text);
      const now = Date.now();
      if (text.value && now - S.lastTyping > 2500 && S.conn.ready) {
        S.lastTyping = now;
        S.conn.request('typing', { conv: c.conv }).catch(() => {});
      }
    });
    const log = h('div', { id: 'log', class: 'log', role: 'log', 'aria-label': 'Messages', tabindex: '0' },
      h('ol', { id: 'msgs', class: 'msgs' }));
    log.addEventListener('scroll', () => { if (log.scrollTop < 60) loadOlder(c); });
    sec.replaceChildren(
      h('header', { id: 'conv-header', class: 'conv-header' }),
      log,
      h('p', { id: 'typing', class: 'typing', 'aria-live': 'polite' }),
      h('p', { id: 'conv-error', class: 'error', role: 'alert' }),
      counter,
      form);
    scrollDown = true;
  }
  if (scrollDown) c._scrollToBottom = true;
  renderHeader();
  renderMessages();
  renderTyping();
}

function autosize(t) {
  t.style.height = 'auto';
  t.style.height = `${Math.min(t.scrollHeight, 200)}px`;
}

function updateCounter() {
  const t = $('#message');
  const el = $('#counter');
  if (!t || !el) return;
  const n = t.value.length > COUNTER_FROM ? codePoints(t.value) : t.value.length;
  if (n < COUNTER_FROM) {
    el.textContent = '';
    el.classList.remove('over');
    return;
  }
  el.textContent = `${n.toLocaleString('en-US')} / ${MAX_CHARS.toLocaleString('en-US')} characters`;
  el.classList.toggle('over', n > MAX_CHARS);
}

function showConvError(text) {
  const el = $('#conv-error');
  if (el) el.textContent = text;
}

function submit() {
  const t = $('#message');
  const c = S.open && conv(S.open);
  if (!t || !c) return;
  const text = t.value;
  showConvError('');
  if (!text.trim()) return;
  if (text.includes('\u0000')) {
    showConvError('Messages cannot contain the NUL character.');
    return;
  }
  if (codePoints(text) > MAX_CHARS) {
    showConvError(humanError('too_large'));
    return;
  }
  const o = { conv: c.conv, client_msg_id: newClientMsgId(), text, at: Date.now() };
  S.outbox.push(o); // kept first, so a reload or a crash loses nothing
  saveOutbox();
  t.value = '';
  autosize(t);
  updateCounter();
  c._scrollToBottom = true;
  renderConv();
  renderList();
  sendOne(o);
}

// ---- dialogs ---------------------------------------------------------------------------

function dialog(title, fields, okLabel, onOk) {
  const err = h('p', { class: 'error', role: 'alert' });
  const inputs = fields.map((f) => h('input', { id: `fld-${f.id}`, autocapitalize: 'none', spellcheck: 'false', ...(f.attrs || {}) }));
  const dlg = h('dialog', { 'aria-labelledby': 'dlg-title', class: 'dlg' });
  const close = () => { dlg.close(); dlg.remove(); };
  const form = h('form', { onsubmit: async (e) => {
    e.preventDefault();
    err.textContent = '';
    const msg = await onOk(inputs.map((i) => i.value));
    if (msg) err.textContent = msg;
    else close();
  } },
  h('h2', { id: 'dlg-title' }, title),
  fields.map((f, i) => [h('label', { for: `fld-${f.id}` }, f.label), inputs[i], f.hint ? h('p', { class: 'hint' }, f.hint) : null]),
  err,
  h('div', { class: 'row' }, h('button', { type: 'submit', class: 'primary' }, okLabel),
    h('button', { type: 'button', onclick: close }, 'Cancel')));
  dlg.append(form);
  dlg.addEventListener('cancel', () => dlg.remove());
  document.body.append(dlg);
  dlg.showModal();
  inputs[0]?.focus();
  return dlg;
}

function newChat() {
  dialog('New chat', [{ id: 'peer', label: 'Chat with (user name)' }], 'Start chat', async ([name]) => {
    const u = name.trim().toLowerCase();
    if (!/^[a-z0-9_]{3,32}$/.test(u)) return humanError('bad_request', 'user');
    if (u === S.me) return 'That is you — pick someone else.';
    const id = S.me < u ? `dm:${S.me}:${u}` : `dm:${u}:${S.me}`;
    try {
      await S.conn.request('sync', { conv: id, after: 0, limit: 1 }); // does the user exist?
    } catch (e) {
      return humanError(e.code, 'user');
    }
    ensureConv({ conv: id, kind: 'dm', title: u, members: [S.me, u] });
    refreshPresence().then(renderList);
    openConv(id);
    return null;
  });
}

function parseNames(s) {
  return [...new Set(s.split(/[\s,;]+/).map((x) => x.trim().toLowerCase()).filter(Boolean))];
}

function newGroup() {
  dialog('New group', [
    { id: 'title', label: 'Group title', attrs: { maxlength: 200 } },
    { id: 'members', label: 'Members', hint: 'User names separated by commas, e.g. bob, carol' },
  ], 'Create group', async ([title, members]) => {
    if (!title.trim()) return 'Give the group a title.';
    const names = parseNames(members).filter((u) => u !== S.me);
    const bad = names.find((u) => !/^[a-z0-9_]{3,32}$/.test(u));
    if (bad) return `“${bad}” is not a valid user name.`;
    if (names.length > 99) return humanError('group_full');
    try {
      const r = await S.conn.request('group_create', { title: title.trim(), members: names });
      ensureConv({ conv: r.conv, kind: 'group', title: title.trim(), members: [S.me, ...names] });
      refreshConvs();
      openConv(r.conv);
      return null;
    } catch (e) {
      return e.code === 'not_found' ? 'One of those users does not exist.' : humanError(e.code);
    }
  });
}

function manageMembers(c) {
  const err = h('p', { class: 'error', role: 'alert' });
  const list = h('ul', { class: 'members', 'aria-label': 'Members' });
  const dlg = h('dialog', { 'aria-labelledby': 'mem-title', class: 'dlg' });
  const close = () => { dlg.close(); dlg.remove(); };
  const draw = () => {
    list.replaceChildren(...c.members.map((u) => h('li', {},
      h('span', { class: `dot ${S.presence.get(u)?.online || u === S.me ? 'on' : 'off'}`, role: 'img',
        'aria-label': S.presence.get(u)?.online || u === S.me ? 'online' : 'offline' }),
      h('span', { class: 'grow' }, u === S.me ? `${u} (you)` : u),
      u === S.me ? null : h('button', { type: 'button', 'aria-label': `Remove ${u}`, onclick: async () => {
        err.textContent = '';
        try {
          await S.conn.request('group_remove', { conv: c.conv, user: u });
          c.members = c.members.filter((x) => x !== u);
          draw();
          renderConv();
        } catch (e) {
          err.textContent = humanError(e.code, 'remove');
        }
      } }, 'Remove'))));
  };
  const add = h('input', { id: 'mem-add', autocapitalize: 'none', spellcheck: 'false' });
  const form = h('form', { onsubmit: async (e) => {
    e.preventDefault();
    err.textContent = '';
    const u = add.value.trim().toLowerCase();
    if (!/^[a-z0-9_]{3,32}$/.test(u)) {
      err.textContent = humanError('bad_request', 'user');
      return;
    }
    try {
      await S.conn.request('group_add', { conv: c.conv, user: u });
      if (!c.members.includes(u)) c.members = [...c.members, u];
      add.value = '';
      draw();
      renderConv();
    } catch (e2) {
      err.textContent = humanError(e2.code, 'user');
    }
  } },
  h('label', { for: 'mem-add' }, 'Add member'), h('div', { class: 'row' }, add, h('button', { type: 'submit', class: 'primary' }, 'Add')));
  dlg.append(h('h2', { id: 'mem-title' }, `Members of ${c.title}`), list, form, err,
    h('div', { class: 'row' }, h('button', { type: 'button', onclick: close }, 'Close')));
  dlg.addEventListener('cancel', () => dlg.remove());
  draw();
  document.body.append(dlg);
  dlg.showModal();
  add.focus();
}

async function leaveGroup(c) {
  if (!window.confirm(`Leave “${c.title}”? You will no longer see its messages.`)) return;
  try {
    await S.conn.request('group_remove', { conv: c.conv, user: S.me });
    S.convs.delete(c.conv);
    S.open = null;
    setView('list');
    renderList();
    renderConv();
    announce(`You left ${c.title}.`);
  } catch (e) {
    showConvError(humanError(e.code));
  }
}

// ---- Web Push -------------------------------------------------------------------------

function b64urlToBytes(s) {
  const pad = '='.repeat((4 - (s.length % 4)) % 4);
  const bin = atob((s + pad).replace(/-/g, '+').replace(/_/g, '/'));
  return Uint8Array.from(bin, (ch) => ch.charCodeAt(0));
}
function bytesToB64url(buf) {
  return btoa(String.fromCharCode(...new Uint8Array(buf))).replace(/\+/g, '-').replace(/\//g, '_').replace(/=+$/, '');
}

async function enablePush() {
  const btn = $('#notif');
  const say = (t) => {
    announce(t);
    setConnNotice(t);
    if (btn) btn.title = t;
  };
  try {
    const perm = await Notification.requestPermission();
    if (perm !== 'granted') {
      say('Notifications are blocked for this site.');
      return;
    }
    const v = await httpJson('GET', '/v1/push/vapid');
    if (v.status !== 200) {
      say('This server does not send notifications.');
      return;
    }
    const reg = await navigator.serviceWorker.ready;
    const sub = await reg.pushManager.subscribe({ userVisibleOnly: true, applicationServerKey: b64urlToBytes(v.body.public_key) });
    await S.conn.request('push_register', { kind: 'webpush', endpoint: sub.endpoint,
      keys: { p256dh: bytesToB64url(sub.getKey('p256dh')), auth: bytesToB64url(sub.getKey('auth')) } });
    if (btn) btn.textContent = 'Notifications on';
    say('Notifications are on for this device.');
  } catch (e) {
    say(e.code === 'forbidden' ? 'This server does not accept notifications for this browser’s push service.'
      : e.code ? humanError(e.code) : 'Notifications could not be enabled in this browser.');
  }
}

// ---- boot -----------------------------------------------------------------------------

window.addEventListener('online', () => S?.conn.poke());
document.addEventListener('visibilitychange', () => {
  if (document.visibilityState === 'visible' && S) {
    S.conn.poke();
    markRead();
  }
});
if ('serviceWorker' in navigator) navigator.serviceWorker.register('/sw.js').catch(() => {});

const saved = (() => {
  try { return JSON.parse(localStorage.getItem(LS_SESSION) || 'null'); } catch { return null; }
})();
if (saved && saved.token && saved.user) startApp(saved);
else showLogin();
