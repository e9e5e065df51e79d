'use strict';
// The web client (web/, served at / by every gateway) in a real browser: Debian's chromium
// driven by playwright-core (nothing downloaded at run time), against a real cluster
// (tests/e2e/lib/cluster.js: 1 router, 2 shards, 2 gateways on loopback ports it picks).
// alice uses a desktop-sized context on gateway 0, bob a phone-sized one on gateway 1;
// carol speaks the protocol directly (tests/e2e/lib/client.js) to check what the browser
// really sent. Everything is found by its accessible role and name (issue 11 §4).
//
// The tests run in order and share the two browser users (each step builds on the last).
// Screenshots go to $PARLEY_E2E_TMP/web-shots (or the OS temp folder); with
// PARLEY_WEB_SCREENSHOTS=<dir> the desktop and phone ones are also written there
// (docs/ keeps the copies the README shows).
const assert = require('node:assert/strict');
const fs = require('node:fs');
const os = require('node:os');
const path = require('node:path');
const zlib = require('node:zlib');
const { chromium } = require('playwright-core');
const { setup } = require('../e2e/lib/harness');
const { createUser, login, Client, httpRequest } = require('../e2e/lib/client');

const CHROMIUM = process.env.PARLEY_CHROMIUM || '/usr/bin/chromium';
const PASSWORD = 'correct horse battery';
const SHOTS = path.join(process.env.PARLEY_E2E_TMP || os.tmpdir(), 'web-shots');
const EXPORT = process.env.PARLEY_WEB_SCREENSHOTS;

// push targets: only the stand-in endpoint of the notifications test
const h = setup({ shards: 2, gateways: 2, gatewayArgs: ['--push-allow', 'http://127.0.0.1:9/push/'] });
const B = {}; // browser, contexts, pages

h.before(async (c) => {
  fs.mkdirSync(SHOTS, { recursive: true });
  B.browser = await chromium.launch({
    executablePath: CHROMIUM,
    headless: true,
    args: ['--headless', '--no-sandbox', '--disable-gpu', '--disable-quic', '--no-first-run',
      '--disable-background-networking', '--disable-component-update', '--disable-sync',
      '--disable-dev-shm-usage'],
  });
  B.aliceCtx = await B.browser.newContext({ viewport: { width: 1280, height: 800 } });
  B.bobCtx = await B.browser.newContext({ viewport: { width: 390, height: 844 }, deviceScaleFactor: 2,
    isMobile: true, hasTouch: true });
  B.alice = await B.aliceCtx.newPage();
  B.bob = await B.bobCtx.newPage();
  for (const p of [B.alice, B.bob]) p.setDefaultTimeout(15000);
  B.pageErrors = [];
  for (const p of [B.alice, B.bob]) p.on('pageerror', (e) => B.pageErrors.push(e.message));
  // carol: a protocol client (opened per test: the harness closes clients after each),
  // to check what the browsers sent and to send to them
  await createUser(c.httpUrl(0), 'carol', PASSWORD);
  B.carolToken = await login(c.httpUrl(0), 'carol', 'probe', PASSWORD);
});

require('node:test').after(async () => {
  await B.browser?.close().catch(() => {});
});

async function shot(page, name, exportAs) {
  const file = path.join(SHOTS, `${name}.png`);
  await page.screenshot({ path: file });
  if (EXPORT && exportAs) fs.copyFileSync(file, path.join(EXPORT, exportAs));
}

const log = (page) => page.getByRole('log', { name: 'Messages' });
const item = (page, text) => log(page).getByRole('listitem').filter({ hasText: text });
const convItem = (page, title) => page.getByRole('list', { name: 'Conversations' })
  .getByRole('listitem', { name: title, exact: true });

async function signUp(page, base, user) {
  await page.goto(`${base}/`);
  await page.getByLabel('User name', { exact: true }).fill(user);
  await page.getByLabel('Password', { exact: true }).fill(PASSWORD);
  const dev = await page.getByLabel('Device name', { exact: true }).inputValue();
  assert.match(dev, /^[A-Za-z0-9_.-]{1,64}$/, `a sensible default device name: ${dev}`);
  await page.getByRole('button', { name: 'Sign up' }).click();
  await page.getByRole('list', { name: 'Conversations' }).waitFor();
  return dev;
}

async function send(page, text) {
  const box = page.getByRole('textbox', { name: 'Message' });
  await box.fill(text);
  await box.press('Enter');
}

// Put a long text in the message box the way a paste does (one input event): typing
// 100,000 characters through the keyboard takes Chromium ~10 s.
async function paste(page, text) {
  await page.getByRole('textbox', { name: 'Message' }).evaluate((el, v) => {
    el.focus();
    el.value = v;
    el.dispatchEvent(new Event('input', { bubbles: true }));
  }, text);
}

// WCAG 2 contrast of every visible piece of text on the page against the first opaque
// background behind it. Returns the failures: [{text, ratio, need}], need 4.5 (3 for
// large text: 24 px, or 18.66 px bold).
function contrastFailures(page) {
  return page.evaluate(() => {
    const rgb = (s) => (s.match(/[\d.]+/g) || []).map(Number);
    const lum = ([r, g, b]) => {
      const f = (v) => { v /= 255; return v <= 0.03928 ? v / 12.92 : ((v + 0.055) / 1.055) ** 2.4; };
      return 0.2126 * f(r) + 0.7152 * f(g) + 0.0722 * f(b);
    };
    const bgOf = (el) => {
      for (let e = el; e; e = e.parentElement) {
        const c = rgb(getComputedStyle(e).backgroundColor);
        if (c.length >= 3 && (c.length < 4 || c[3] === 1)) return c;
      }
      return [255, 255, 255];
    };
    const out = [];
    const walker = document.createTreeWalker(document.body, NodeFilter.SHOW_TEXT);
    for (let n = walker.nextNode(); n; n = walker.nextNode()) {
      const el = n.parentElement;
      if (!n.textContent.trim() || !el || !el.checkVisibility() || el.closest('.sr-only')) continue;
      const st = getComputedStyle(el);
      const fg = lum(rgb(st.color));
      const bg = lum(bgOf(el));
      const ratio = (Math.max(fg, bg) + 0.05) / (Math.min(fg, bg) + 0.05);
      const px = parseFloat(st.fontSize);
      const large = px >= 24 || (px >= 18.66 && Number(st.fontWeight) >= 700);
      const need = large ? 3 : 4.5;
      if (ratio < need) out.push({ text: n.textContent.trim().slice(0, 40), ratio: Math.round(ratio * 100) / 100, need });
    }
    return out;
  });
}

// Wait until cond() is true (polling a page), with a deadline.
async function until(what, cond, timeoutMs = 15000) {
  const end = Date.now() + timeoutMs;
  for (;;) {
    if (await cond()) return;
    if (Date.now() > end) throw new Error(`timed out after ${timeoutMs} ms waiting for ${what}`);
    await new Promise((r) => setTimeout(r, 100));
  }
}

h.test('GET / serves the web client: content types, ETag/304, gzip, cache headers, 404 elsewhere', async (t, c) => {
  const u = c.httpUrl(0);
  const root = await httpRequest(u, 'GET', '/');
  assert.equal(root.status, 200, `GET / -> ${root.status} ${root.text.slice(0, 100)}`);
  assert.match(root.headers['content-type'], /^text\/html; charset=utf-8$/);
  assert.equal(root.headers['cache-control'], 'no-cache');
  assert.match(root.headers.etag, /^"[0-9a-f]{16}"$/);
  assert.match(root.headers['content-security-policy'], /script-src 'self'/);
  assert.match(root.text, /<script type="module" src="\/app.js">/);
  const again = await httpRequest(u, 'GET', '/index.html', undefined, { headers: { 'if-none-match': root.headers.etag } });
  assert.equal(again.status, 304);
  assert.equal(again.text, '');
  const other = await httpRequest(u, 'GET', '/', undefined, { headers: { 'if-none-match': '"0000000000000000"' } });
  assert.equal(other.status, 200, 'a stale ETag gets the file');

  for (const [p, type] of [['/app.js', 'text/javascript; charset=utf-8'], ['/style.css', 'text/css; charset=utf-8'],
    ['/manifest.webmanifest', 'application/manifest+json'], ['/sw.js', 'text/javascript; charset=utf-8'],
    ['/icons/icon-192.png', 'image/png'], ['/icons/icon.svg', 'image/svg+xml']]) {
    const plain = await httpRequest(u, 'GET', p);
    assert.equal(plain.status, 200, `${p} -> ${plain.status}`);
    assert.equal(plain.headers['content-type'], type, `${p} content-type`);
    assert.equal(plain.headers['content-encoding'], undefined, `${p} not compressed without Accept-Encoding`);
    assert.equal(plain.headers['x-content-type-options'], 'nosniff');
  }
  // gzip when the browser accepts it; the bytes unzip to the file
  const raw = await new Promise((resolve, reject) => {
    require('node:http').get(`${u}/app.js`, { headers: { 'accept-encoding': 'gzip, deflate, br' }, agent: false }, (res) => {
      const chunks = [];
      res.on('data', (d) => chunks.push(d));
      res.on('end', () => resolve({ headers: res.headers, body: Buffer.concat(chunks) }));
      res.on('error', reject);
    }).on('error', reject);
  });
  assert.equal(raw.headers['content-encoding'], 'gzip');
  assert.equal(raw.headers.vary, 'Accept-Encoding');
  const file = fs.readFileSync(path.join(__dirname, '..', '..', 'web', 'app.js'));
  assert.ok(raw.body.length < file.length, 'compressed is smaller');
  assert.deepEqual(zlib.gunzipSync(raw.body), file);
  const manifest = JSON.parse((await httpRequest(u, 'GET', '/manifest.webmanifest')).text);
  assert.equal(manifest.start_url, '/');
  assert.ok(manifest.icons.some((i) => i.sizes === '512x512'), 'a 512 px icon');

  assert.equal((await httpRequest(u, 'GET', '/nope.js')).status, 404);
  assert.equal((await httpRequest(u, 'GET', '/v1/nope')).status, 404);
  assert.equal((await httpRequest(u, 'GET', '/../CMakeLists.txt')).status, 404);
  const health = await httpRequest(u, 'GET', '/v1/health');
  assert.equal(health.status, 200);
  assert.deepEqual(health.json, { ok: true });
});

h.test('two people sign up in the browser and chat in a DM both ways, with unread, typing and "seen by"', async (t, c) => {
  B.devA = await signUp(B.alice, c.httpUrl(0), 'alice');
  await signUp(B.bob, c.httpUrl(1), 'bob');
  // installable: a manifest link and an active service worker controlling / (scope)
  const pwa = await B.alice.evaluate(async () => {
    const reg = await navigator.serviceWorker.ready;
    const link = document.querySelector('link[rel="manifest"]');
    return { scope: reg.scope, active: !!reg.active, manifest: link && link.href };
  });
  assert.ok(pwa.active, 'service worker active');
  assert.equal(new URL(pwa.scope).pathname, '/');
  assert.equal(new URL(pwa.manifest).pathname, '/manifest.webmanifest');

  // alice starts a DM by user name; an unknown name gets a human error
  await B.alice.getByRole('button', { name: 'New chat' }).click();
  await B.alice.getByLabel('Chat with').fill('nobody_here');
  await B.alice.getByRole('button', { name: 'Start chat' }).click();
  await B.alice.getByRole('alert').filter({ hasText: 'There is no user with that name.' }).waitFor();
  await B.alice.getByLabel('Chat with').fill('bob');
  await B.alice.getByRole('button', { name: 'Start chat' }).click();
  await B.alice.getByRole('heading', { name: 'bob' }).waitFor();
  await send(B.alice, 'hello bob');
  const sent = item(B.alice, 'hello bob');
  await sent.and(B.alice.locator('[data-state="sent"]')).waitFor();
  assert.equal(await sent.getAttribute('data-seq'), '1', 'confirmed with its seq');
  assert.equal(await B.alice.getByRole('textbox', { name: 'Message' }).inputValue(), '', 'the box is cleared');

  // bob (phone): the DM appears with 1 unread and alice's presence
  const bobsDm = convItem(B.bob, 'alice');
  await bobsDm.locator('.badge', { hasText: '1' }).waitFor();
  await bobsDm.getByRole('img', { name: 'online' }).waitFor();
  await bobsDm.getByText('hello bob').waitFor();
  await bobsDm.click();
  await item(B.bob, 'hello bob').waitFor();
  // reading it shows "Seen by bob" to alice
  await item(B.alice, 'hello bob').getByText('Seen by bob').waitFor();

  // typing indicator, then a multi-line reply with Shift+Enter
  await B.bob.getByRole('textbox', { name: 'Message' }).pressSequentially('hi al');
  await B.alice.getByText('bob is typing…').waitFor();
  const box = B.bob.getByRole('textbox', { name: 'Message' });
  await box.press('Shift+Enter');
  await box.pressSequentially('second line');
  await box.press('Enter');
  await item(B.bob, 'second line').and(B.bob.locator('[data-state="sent"]')).waitFor();
  const reply = item(B.alice, 'second line');
  await reply.waitFor();
  assert.equal(await reply.locator('.text').textContent(), 'hi al\nsecond line');
  await shot(B.bob, 'phone-dm', 'screenshot-phone.png');
  // WCAG AA contrast of every text on both screens (desktop list + DM, phone DM)
  assert.deepEqual(await contrastFailures(B.alice), [], 'desktop: text contrast below AA');
  assert.deepEqual(await contrastFailures(B.bob), [], 'phone: text contrast below AA');
});

h.test('markup in a message is shown as text, never run', async (t, c) => {
  const evil = '<script>window.__pwned = 1</script><img src=x onerror="window.__pwned = 2"> & <b>bold</b>';
  await send(B.alice, evil);
  const got = item(B.bob, 'window.__pwned = 2');
  await got.waitFor();
  assert.equal(await got.locator('.text').textContent(), evil);
  assert.equal(await log(B.bob).locator('img, script, b').count(), 0, 'no element made from the text');
  assert.equal(await B.bob.evaluate(() => window.__pwned), undefined);
  assert.equal(await B.alice.evaluate(() => window.__pwned), undefined);
});

h.test('a group of three: create, talk, remove and add a member, errors in words, leave', async (t, c) => {
  B.carol = await Client.open(c.wsUrl(0), B.carolToken, { label: 'carol' });
  await B.alice.getByRole('button', { name: 'New group' }).click();
  await B.alice.getByLabel('Group title').fill('Trio');
  await B.alice.getByLabel('Members').fill('bob, carol');
  await B.alice.getByRole('button', { name: 'Create group' }).click();
  await B.alice.getByRole('heading', { name: 'Trio' }).waitFor();
  const added = await B.carol.nextEvent((f) => f.type === 'member' && f.user === 'carol' && f.change === 'added', 10000);
  const gid = added.conv;
  assert.match(gid, /^g:/);

  await send(B.alice, 'hello trio');
  const m = await B.carol.nextEvent((f) => f.type === 'msg' && f.conv === gid, 10000);
  assert.equal(m.text, 'hello trio');
  assert.equal(m.from, 'alice');
  // bob's phone: back to the list, the group is there, newest first
  await B.bob.getByRole('button', { name: 'Back' }).click();
  await convItem(B.bob, 'Trio').getByText('hello trio').waitFor();
  const titles = await B.bob.getByRole('list', { name: 'Conversations' }).getByRole('listitem').evaluateAll(
    (els) => els.map((e) => e.getAttribute('aria-label')));
  assert.deepEqual(titles, ['Trio', 'alice'], 'newest first');
  await convItem(B.bob, 'Trio').click();
  await item(B.bob, 'hello trio').waitFor();
  await B.carol.ok('send', { conv: gid, client_msg_id: 'c1', text: 'carol here' });
  await item(B.bob, 'carol here').waitFor();
  await item(B.alice, 'carol here').waitFor();
  await shot(B.alice, 'desktop-group', 'screenshot-desktop.png');
  assert.deepEqual(await contrastFailures(B.alice), [], 'group: text contrast below AA');

  // only the creator may remove others: bob gets words, not a code
  await B.bob.getByRole('button', { name: 'Members' }).click();
  await B.bob.getByRole('button', { name: 'Remove carol' }).click();
  await B.bob.getByRole('dialog').getByRole('alert').filter({ hasText: 'Only the group’s creator can remove other members.' }).waitFor();
  await B.bob.getByRole('button', { name: 'Close' }).click();

  // alice removes carol, then adds her back
  await B.alice.getByRole('button', { name: 'Members' }).click();
  await B.alice.getByRole('button', { name: 'Remove carol' }).click();
  await B.carol.nextEvent((f) => f.type === 'member' && f.conv === gid && f.user === 'carol' && f.change === 'removed', 10000);
  await B.alice.getByLabel('Add member').fill('carol');
  await B.alice.getByRole('button', { name: 'Add', exact: true }).click();
  await B.carol.nextEvent((f) => f.type === 'member' && f.conv === gid && f.user === 'carol' && f.change === 'added', 10000);
  await B.alice.getByLabel('Add member').fill('no_such_user');
  await B.alice.getByRole('button', { name: 'Add', exact: true }).click();
  await B.alice.getByRole('dialog').getByRole('alert').filter({ hasText: 'There is no user with that name.' }).waitFor();
  await B.alice.getByRole('button', { name: 'Close' }).click();

  // bob leaves: the group goes from his list, alice and carol see him go
  B.bob.once('dialog', (d) => d.accept());
  await B.bob.getByRole('button', { name: 'Leave group' }).click();
  await B.carol.nextEvent((f) => f.type === 'member' && f.conv === gid && f.user === 'bob' && f.change === 'removed', 10000);
  await convItem(B.bob, 'Trio').waitFor({ state: 'detached' });
  await B.alice.getByText('2 members: alice, carol').waitFor();
});

h.test('100,000 characters are sent and shown (folded, then whole); 100,001 get a clear error', async (t, c) => {
  await convItem(B.alice, 'bob').click();
  await B.alice.getByRole('heading', { name: 'bob' }).waitFor();
  // 100,000 code points, some of them two bytes and some newlines
  const text = `${'é'.repeat(10)}${'x'.repeat(89)}\n`.repeat(1000);
  assert.equal([...text].length, 100000);
  const box = B.alice.getByRole('textbox', { name: 'Message' });
  await paste(B.alice, `${text}!`);
  await B.alice.getByText('100,001 / 100,000 characters').waitFor();
  await box.press('Enter');
  await B.alice.getByRole('alert').filter({ hasText: 'at most 100,000 characters' }).waitFor();
  assert.equal(await log(B.alice).locator('[data-state="pending"]').count(), 0, 'nothing sent');
  await paste(B.alice, text);
  await B.alice.getByText('100,000 / 100,000 characters').waitFor();
  await box.press('Enter');
  await log(B.alice).locator('[data-state="sent"]', { hasText: 'Show more (100,000 characters)' }).waitFor();

  await convItem(B.bob, 'alice').click();
  const big = item(B.bob, 'Show more (100,000 characters)');
  await big.waitFor();
  assert.ok((await big.locator('.text').textContent()).length < 2000, 'folded');
  await big.getByRole('button', { name: /Show more/ }).click();
  const whole = item(B.bob, 'Show less');
  await whole.waitFor();
  assert.equal(await whole.locator('.text').textContent(), text, 'every character shown');
});

h.test('older history loads as the reader scrolls up', async (t, c) => {
  const carol = await Client.open(c.wsUrl(1), B.carolToken, { label: 'carol' });
  // written before alice joins, so her browser holds none of it
  const g = await carol.ok('group_create', { title: 'Long story', members: [] });
  const N = 130;
  const answers = [];
  for (let i = 1; i <= N; i++) answers.push(carol.ok('send', { conv: g.conv, client_msg_id: `h${i}`, text: `line ${i} of the story` }));
  await Promise.all(answers);
  await carol.ok('group_add', { conv: g.conv, user: 'alice' });
  await convItem(B.alice, 'Long story').click();
  await item(B.alice, `line ${N} of the story`).waitFor();
  const count = () => log(B.alice).getByRole('listitem').filter({ hasText: 'of the story' }).count();
  assert.equal(await count(), 50, 'the newest page only');
  assert.equal(await item(B.alice, 'line 1 of the story').count(), 0);
  // scroll to the top until the first line is there
  await until('line 1 after scrolling up', async () => {
    await log(B.alice).evaluate((el) => { el.scrollTop = 0; el.dispatchEvent(new Event('scroll')); });
    return (await item(B.alice, 'line 1 of the story').count()) === 1;
  });
  assert.equal(await count(), N, 'every line once');
  const seqs = await log(B.alice).getByRole('listitem').filter({ hasText: 'of the story' })
    .evaluateAll((els) => els.map((e) => Number(e.dataset.seq)));
  assert.deepEqual(seqs, Array.from({ length: N }, (_, i) => i + 1), 'in order');
});

h.test('a reload keeps the session and the history', async (t, c) => {
  await B.bob.reload();
  await B.bob.getByRole('list', { name: 'Conversations' }).waitFor();
  assert.equal(await B.bob.getByLabel('Password', { exact: true }).count(), 0, 'no password asked');
  await convItem(B.bob, 'alice').click();
  await item(B.bob, 'hello bob').waitFor();
  await item(B.bob, 'second line').waitFor();
});

h.test('the gateway killed mid-conversation: the pending message arrives exactly once after it is back', async (t, c) => {
  await convItem(B.alice, 'bob').click();
  await item(B.alice, 'second line').waitFor();
  await c.kill('gateway', 0, 'SIGKILL');
  await B.alice.getByText('Offline — reconnecting…').waitFor();
  await send(B.alice, 'sent while the gateway was down');
  const mine = item(B.alice, 'sent while the gateway was down');
  await mine.and(B.alice.locator('[data-state="pending"]')).waitFor();
  await mine.getByText('Sending…').waitFor();
  // meanwhile bob (other gateway) writes: alice catches up with convs + sync when back
  await send(B.bob, 'written while alice was cut off');
  await item(B.bob, 'written while alice was cut off').and(B.bob.locator('[data-state="sent"]')).waitFor();
  await c.restart('gateway', 0);
  await mine.and(B.alice.locator('[data-state="sent"]')).waitFor({ timeout: 30000 });
  await item(B.bob, 'sent while the gateway was down').waitFor();
  assert.equal(await item(B.bob, 'sent while the gateway was down').count(), 1, 'once on bob’s screen');
  assert.equal(await item(B.alice, 'sent while the gateway was down').count(), 1, 'once on alice’s screen');
  await item(B.alice, 'written while alice was cut off').waitFor();
  assert.equal(await item(B.alice, 'written while alice was cut off').count(), 1, 'caught up once');
  // what is stored: exactly one such message in the dm
  const probe = await Client.open(c.wsUrl(1), await login(c.httpUrl(1), 'bob', 'probe', PASSWORD), { label: 'bob-probe' });
  const s = await probe.ok('sync', { conv: 'dm:alice:bob', after: 0, limit: 500 });
  const copies = s.msgs.filter((x) => x.text === 'sent while the gateway was down');
  assert.equal(copies.length, 1, `stored once: ${JSON.stringify(s.msgs.map((x) => x.text.slice(0, 30)))}`);
  assert.deepEqual(s.msgs.map((x) => x.seq), s.msgs.map((_, i) => i + 1), 'no gaps');
});

h.test('shards frozen: the send gets unavailable, is retried with the same client_msg_id and stored once', async (t, c) => {
  await item(B.alice, 'sent while the gateway was down').waitFor();
  c.signal('shard', 0, 'SIGSTOP');
  c.signal('shard', 1, 'SIGSTOP');
  try {
    await send(B.alice, 'sent while the shards were frozen');
    // the gateway answers unavailable within its 5 s deadline; the client says so in words
    await B.alice.getByText('The server is unreachable right now').waitFor({ timeout: 12000 });
    await item(B.alice, 'sent while the shards were frozen').and(B.alice.locator('[data-state="pending"]')).waitFor();
  } finally {
    c.signal('shard', 0, 'SIGCONT');
    c.signal('shard', 1, 'SIGCONT');
  }
  const mine = item(B.alice, 'sent while the shards were frozen');
  await mine.and(B.alice.locator('[data-state="sent"]')).waitFor({ timeout: 30000 });
  await item(B.bob, 'sent while the shards were frozen').waitFor({ timeout: 30000 });
  const probe = await Client.open(c.wsUrl(1), await login(c.httpUrl(1), 'bob', 'probe', PASSWORD), { label: 'bob-probe' });
  const s = await probe.ok('sync', { conv: 'dm:alice:bob', after: 0, limit: 500 });
  assert.equal(s.msgs.filter((x) => x.text === 'sent while the shards were frozen').length, 1, 'stored once');
  assert.equal(await item(B.bob, 'sent while the shards were frozen').count(), 1, 'shown once');
});

h.test('presence: the dot goes off when bob closes the app', async (t, c) => {
  const dot = convItem(B.alice, 'bob');
  await dot.getByRole('img', { name: 'online' }).waitFor();
  await B.bob.close();
  await dot.getByRole('img', { name: 'offline' }).waitFor({ timeout: 15000 });
  await B.alice.getByText(/^last seen/).waitFor();
});

h.test('notifications: "Enable notifications" registers a webpush target; the service worker shows a push', async (t, c) => {
  const origin = c.httpUrl(0);
  await B.aliceCtx.grantPermissions(['notifications'], { origin });
  // Headless chromium has no push service to subscribe with: stand in for the browser's
  // PushManager with a subscription made of a real P-256 key and auth secret, so the
  // page's own code asks the permission, reads the VAPID key and sends push_register.
  await B.alice.evaluate(async () => {
    const kp = await crypto.subtle.generateKey({ name: 'ECDH', namedCurve: 'P-256' }, true, ['deriveBits']);
    const raw = await crypto.subtle.exportKey('raw', kp.publicKey);
    const auth = crypto.getRandomValues(new Uint8Array(16)).buffer;
    PushManager.prototype.subscribe = async function subscribe(opts) {
      window.__vapidKeyLen = new Uint8Array(opts.applicationServerKey).length;
      return { endpoint: 'http://127.0.0.1:9/push/browser-test', getKey: (n) => (n === 'p256dh' ? raw : auth) };
    };
  });
  await B.alice.getByRole('button', { name: 'Enable notifications' }).click();
  await B.alice.getByRole('button', { name: 'Notifications on' }).waitFor();
  assert.equal(await B.alice.evaluate(() => window.__vapidKeyLen), 65, 'the VAPID key handed to subscribe');
  const probe = await Client.open(c.wsUrl(0), await login(c.httpUrl(0), 'alice', 'probe', PASSWORD), { label: 'alice-probe' });
  const list = await probe.ok('push_list');
  const mine = list.targets.filter((x) => x.kind === 'webpush' && x.device === B.devA);
  assert.equal(mine.length, 1, `one webpush target of the browser's device: ${JSON.stringify(list.targets)}`);
  assert.equal(mine[0].label, 'http://127.0.0.1:9');

  // the service worker turns a push (the protocol's payload) into a notification
  const cdp = await B.aliceCtx.newCDPSession(B.alice);
  const regs = new Promise((resolve) => cdp.on('ServiceWorker.workerRegistrationUpdated', (e) => {
    const r = e.registrations.find((x) => x.scopeURL === `${origin}/` && !x.isDeleted);
    if (r) resolve(r);
  }));
  await cdp.send('ServiceWorker.enable');
  const reg = await regs;
  await cdp.send('ServiceWorker.deliverPushMessage', { origin, registrationId: reg.registrationId,
    data: JSON.stringify({ conv: 'dm:alice:bob', seq: 42, from: 'bob', preview: '<b>see you</b>', unread: 3 }) });
  let shown = [];
  await until('the notification', async () => {
    shown = await B.alice.evaluate(async () => (await (await navigator.serviceWorker.ready).getNotifications())
      .map((n) => ({ title: n.title, body: n.body, tag: n.tag })));
    return shown.length > 0;
  });
  assert.deepEqual(shown, [{ title: 'bob', body: '<b>see you</b> (3 unread)', tag: 'dm:alice:bob' }]);
  await cdp.detach();
});

h.test('log out, and a revoked or unknown token returns to the login screen', async (t, c) => {
  // a token the server does not know (revoked/expired): back to login, with words
  const ctx = await B.browser.newContext({ viewport: { width: 800, height: 700 } });
  const p = await ctx.newPage();
  await p.goto(`${c.httpUrl(1)}/`);
  await p.evaluate(() => localStorage.setItem('parley.session',
    JSON.stringify({ token: 'bob.gone.0000000000000000', user: 'bob', device: 'gone' })));
  await p.reload();
  await p.getByText('Your session has ended').waitFor();
  await p.getByLabel('Password', { exact: true }).waitFor();
  assert.deepEqual(await contrastFailures(p), [], 'login screen: text contrast below AA');
  await ctx.close();

  await B.alice.getByRole('button', { name: 'Log out' }).click();
  await B.alice.getByLabel('Password', { exact: true }).waitFor();
  assert.equal(await B.alice.getByLabel('User name', { exact: true }).inputValue(), 'alice', 'the name is remembered');
  assert.equal(await B.alice.getByLabel('Device name', { exact: true }).inputValue(), B.devA, 'the device name is remembered');
  await B.alice.reload();
  await B.alice.getByLabel('Password', { exact: true }).waitFor();
  assert.equal(await B.alice.evaluate(() => localStorage.getItem('parley.session')), null);
  // logging in again with the keyboard only (the focus starts in Password, Enter logs
  // in; Tab reaches the conversation, Enter opens it) shows the history
  assert.equal(await B.alice.evaluate(() => document.activeElement.id), 'login-pass');
  await B.alice.keyboard.type(PASSWORD);
  await B.alice.keyboard.press('Enter');
  await convItem(B.alice, 'bob').waitFor();
  for (let i = 0; i < 12; i++) {
    const label = await B.alice.evaluate(() => document.activeElement.closest('li')?.getAttribute('aria-label'));
    if (label === 'bob') break;
    await B.alice.keyboard.press('Tab');
  }
  await B.alice.keyboard.press('Enter');
  await item(B.alice, 'sent while the gateway was down').waitFor();
  assert.equal(await B.alice.evaluate(() => document.activeElement.getAttribute('aria-label')), 'Message',
    'the message box has the focus after opening');
  assert.deepEqual(B.pageErrors, [], 'no script errors in the pages');
});
