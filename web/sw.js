// Parley service worker: the app shell works offline (network first, so a new version is
// picked up at once, the cache only when the network fails); the API (/v1/) is never
// cached. Web Push: shows a notification per push (payload {conv, seq, from, preview,
// unread}, docs/protocol.md) and focuses or opens the app when it is clicked.
const CACHE = 'parley-shell-v1';
const SHELL = ['/', '/index.html', '/app.js', '/conn.js', '/style.css', '/manifest.webmanifest',
  '/icons/icon.svg', '/icons/icon-192.png', '/icons/icon-512.png'];

self.addEventListener('install', (e) => {
  e.waitUntil(caches.open(CACHE).then((c) => c.addAll(SHELL)).catch(() => {}).then(() => self.skipWaiting()));
});

self.addEventListener('activate', (e) => {
  e.waitUntil(caches.keys()
    .then((keys) => Promise.all(keys.filter((k) => k !== CACHE).map((k) => caches.delete(k))))
    .then(() => self.clients.claim()));
});

self.addEventListener('fetch', (e) => {
  const url = new URL(e.request.url);
  if (e.request.method !== 'GET' || url.origin !== self.location.origin || url.pathname.startsWith('/v1/')) return;
  e.respondWith(fetch(e.request).then((res) => {
    if (res.ok) {
      const copy = res.clone();
      caches.open(CACHE).then((c) => c.put(e.request, copy)).catch(() => {});
    }
    return res;
  }).catch(() => caches.match(e.request).then((hit) => hit || caches.match('/index.html'))));
});

self.addEventListener('push', (e) => {
  let d = {};
  try { d = e.data ? e.data.json() : {}; } catch { d = {}; }
  const title = d.from ? `${d.from}${d.conv && d.conv.startsWith('g:') ? ' (group)' : ''}` : 'Parley';
  const more = d.unread > 1 ? ` (${d.unread} unread)` : '';
  e.waitUntil(self.registration.showNotification(title, {
    body: `${d.preview || 'New message'}${more}`,
    tag: d.conv || 'parley', // one notification per conversation, replaced by the newest
    renotify: true,
    icon: '/icons/icon-192.png',
    data: { conv: d.conv },
  }));
});

self.addEventListener('notificationclick', (e) => {
  e.notification.close();
  e.waitUntil(self.clients.matchAll({ type: 'window', includeUncontrolled: true }).then((list) => {
    for (const c of list) if ('focus' in c) return c.focus();
    return self.clients.openWindow('/');
  }));
});
