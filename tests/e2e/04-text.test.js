'use strict';
// Message text: 1..100,000 code points, U+0000 refused, everything else byte-exact.
const assert = require('node:assert/strict');
const { setup, uid } = require('./lib/harness');
const { createUser, login, Client } = require('./lib/client');

const h = setup();
const DM = 'dm:alice:bob';
const tok = {};

h.before(async () => {
  const u = h.cluster.httpUrl(0);
  for (const n of ['alice', 'bob', 'carol']) await createUser(u, n);
  tok.alice = await login(u, 'alice', 'phone');
  tok.bob = await login(u, 'bob', 'phone');
  tok.carol = await login(u, 'carol', 'phone');
});

const cps = (s) => [...s].length;
function assertSameBytes(got, want, what) {
  assert.equal(typeof got, 'string', `${what}: text is a string`);
  const g = Buffer.from(got, 'utf8');
  const w = Buffer.from(want, 'utf8');
  if (!g.equals(w)) {
    let i = 0;
    while (i < g.length && i < w.length && g[i] === w[i]) i++;
    assert.fail(`${what}: text differs (got ${g.length} bytes / ${cps(got)} code points, want ${w.length} bytes / ${cps(want)}; first difference at byte ${i}: got ${g.subarray(i, i + 8).toString('hex')} want ${w.subarray(i, i + 8).toString('hex')})`);
  }
}

async function lastSeq(ws, conv = DM) {
  const r = await ws.ok('history', { conv, limit: 1 });
  return r.msgs.length ? r.msgs[0].seq : 0;
}

h.test('100,000 four-byte characters round-trip byte-exact through event, sync and history', async (t, c) => {
  const alice = await Client.open(c.wsUrl(0), tok.alice, { label: 'alice' });
  const bob = await Client.open(c.wsUrl(1), tok.bob, { label: 'bob' });
  const text = '😀'.repeat(100000);
  assert.equal(cps(text), 100000);
  assert.equal(text.length, 200000, '200,000 UTF-16 code units: a server counting those would refuse it');
  const cmid = uid();
  const ok = await alice.ok('send', { conv: DM, client_msg_id: cmid, text });
  const ev = await bob.nextEvent((f) => f.type === 'msg' && f.client_msg_id === cmid, 10000, 'msg event');
  assertSameBytes(ev.text, text, 'event');
  const s = await bob.ok('sync', { conv: DM, after: ok.seq - 1, limit: 1 });
  assert.equal(s.msgs.length, 1);
  assert.equal(s.msgs[0].seq, ok.seq);
  assertSameBytes(s.msgs[0].text, text, 'sync');
  const hi = await alice.ok('history', { conv: DM, before: ok.seq + 1, limit: 1 });
  assertSameBytes(hi.msgs[0].text, text, 'history');

  // 99,999 ASCII + one emoji is 100,000 code points (100,001 UTF-16 units): accepted.
  const mixed = 'a'.repeat(99999) + '😀';
  const ok2 = await alice.ok('send', { conv: DM, client_msg_id: uid(), text: mixed });
  assert.equal(ok2.seq, ok.seq + 1);
  const ok3 = await alice.ok('send', { conv: DM, client_msg_id: uid(), text: 'z'.repeat(100000) });
  assert.equal(ok3.seq, ok.seq + 2);
  const s2 = await bob.ok('sync', { conv: DM, after: ok.seq });
  assertSameBytes(s2.msgs[0].text, mixed, 'sync of the mixed text');
  assertSameBytes(s2.msgs[1].text, 'z'.repeat(100000), 'sync of the ASCII text');
});

h.test('100,001 characters get too_large and store nothing', async (t, c) => {
  const alice = await Client.open(c.wsUrl(0), tok.alice, { label: 'alice' });
  const bob = await Client.open(c.wsUrl(1), tok.bob, { label: 'bob' });
  const last = await lastSeq(alice);
  for (const text of ['😀'.repeat(100001), 'a'.repeat(100001), 'a'.repeat(100000) + '😀']) {
    const cmid = uid();
    await alice.err('too_large', 'send', { conv: DM, client_msg_id: cmid, text });
    // The connection stays open and the same client_msg_id is still free.
    const ok = await alice.ok('send', { conv: DM, client_msg_id: cmid, text: 'short' });
    assert.equal(ok.seq, (await lastSeq(bob)));
  }
  assert.equal(await lastSeq(bob), last + 3, 'only the three short messages were stored');
});

h.test('U+0000 in text and empty or missing text get bad_request', async (t, c) => {
  const alice = await Client.open(c.wsUrl(0), tok.alice, { label: 'alice' });
  const bob = await Client.open(c.wsUrl(1), tok.bob, { label: 'bob' });
  const last = await lastSeq(alice);
  for (const text of ['\u0000', 'a\u0000b', 'trailing\u0000', '😀\u0000😀', '']) {
    await alice.err('bad_request', 'send', { conv: DM, client_msg_id: uid(), text });
  }
  // The same with U+0000 written as a JSON escape in a raw frame.
  alice.sendRaw(`{"type":"send","id":"raw0","conv":"${DM}","client_msg_id":"${uid()}","text":"a\\u0000b"}`);
  const r = await alice.waitAnswer('raw0');
  assert.equal(r.type, 'error', JSON.stringify(r));
  assert.equal(r.code, 'bad_request');
  await alice.err('bad_request', 'send', { conv: DM, client_msg_id: uid() });
  await alice.err('bad_request', 'send', { conv: DM, client_msg_id: uid(), text: null });
  await alice.err('bad_request', 'send', { conv: DM, client_msg_id: uid(), text: 42 });
  await alice.err('bad_request', 'send', { conv: DM, client_msg_id: uid(), text: ['a'] });
  await bob.expectNoEvent((f) => f.type === 'msg', 300, 'msg from a refused send');
  assert.equal(await lastSeq(bob), last, 'nothing stored');
});

h.test('every other character round-trips byte-exact', async (t, c) => {
  const alice = await Client.open(c.wsUrl(0), tok.alice, { label: 'alice' });
  const bob = await Client.open(c.wsUrl(1), tok.bob, { label: 'bob' });
  const texts = [
    '\u0001\u0007\u001f\u007f\u0080\u009f',
    '"quotes" \\backslash\\ /slash/ \b\f\n\r\t',
    'é € 中文 𝄞 😀 👩‍👩‍👧 e\u0301 مرحبا',
    '\u2028\u2029\ufeff\ufffe\uffff\ud7ff\ue000\u{10000}\u{10ffff}\u{fffff}',
    ' leading and trailing spaces ',
    '</script><script>alert(1)</script>',
    '{"type":"ping","id":"x"}',
    Array.from({ length: 0xd7ff }, (_, i) => String.fromCodePoint(i + 1)).join(''), // U+0001..U+D7FF
  ];
  const sent = [];
  for (const text of texts) {
    const cmid = uid();
    const ok = await alice.ok('send', { conv: DM, client_msg_id: cmid, text });
    const ev = await bob.nextEvent((f) => f.type === 'msg' && f.client_msg_id === cmid, 5000, 'msg event');
    assertSameBytes(ev.text, text, `event of ${JSON.stringify(text.slice(0, 20))}`);
    sent.push({ seq: ok.seq, text });
  }
  const s = await bob.ok('sync', { conv: DM, after: sent[0].seq - 1, limit: texts.length });
  assert.equal(s.msgs.length, texts.length);
  s.msgs.forEach((m, i) => assertSameBytes(m.text, sent[i].text, `sync #${i}`));

  // JSON escapes (\u00e9, a surrogate pair) are decoded: the text is é😀.
  alice.sendRaw(`{"type":"send","id":"esc1","conv":"${DM}","client_msg_id":"esc-${uid()}","text":"\\u00e9\\ud83d\\ude00\\n"}`);
  const ok = await alice.waitAnswer('esc1');
  assert.equal(ok.type, 'ok', JSON.stringify(ok));
  const s2 = await bob.ok('sync', { conv: DM, after: ok.seq - 1, limit: 1 });
  assertSameBytes(s2.msgs[0].text, 'é😀\n', 'decoded escapes');
});

h.test('client_msg_id is 1..64 code points', async (t, c) => {
  const alice = await Client.open(c.wsUrl(0), tok.alice, { label: 'alice' });
  const bob = await Client.open(c.wsUrl(1), tok.bob, { label: 'bob' });
  const last = await lastSeq(alice);
  for (const cmid of ['x'.repeat(64), '😀'.repeat(64), 'é'.repeat(64), 'a']) {
    const ok = await alice.ok('send', { conv: DM, client_msg_id: cmid, text: `id of ${cps(cmid)} chars` });
    const ev = await bob.nextEvent((f) => f.type === 'msg' && f.seq === ok.seq, 5000, 'msg event');
    assert.equal(ev.client_msg_id, cmid, 'client_msg_id round-trips');
  }
  for (const cmid of ['', 'x'.repeat(65), '😀'.repeat(65), 42, null]) {
    await alice.err('bad_request', 'send', { conv: DM, client_msg_id: cmid, text: 'bad id' });
  }
  await alice.err('bad_request', 'send', { conv: DM, text: 'no id' });
  assert.equal(await lastSeq(bob), last + 4);
});

h.test('sync and history of many large messages page with a correct more flag', async (t, c) => {
  // 24 messages of 400,000 bytes each: 9.6 MB, over the server's 8 MiB answer cap, so
  // an answer may stop early — but "more" must be true exactly when more remain.
  const alice = await Client.open(c.wsUrl(0), tok.alice, { label: 'alice' });
  const carol = await Client.open(c.wsUrl(1), tok.carol, { label: 'carol' });
  const conv = 'dm:alice:carol';
  const N = 24;
  const texts = Array.from({ length: N }, (_, i) => String.fromCodePoint(0x1f600 + i).repeat(100000));
  for (let i = 0; i < N; i++) {
    const ok = await alice.ok('send', { conv, client_msg_id: `big${i}`, text: texts[i] });
    assert.equal(ok.seq, i + 1);
  }
  let after = 0;
  const got = [];
  for (let round = 0; round < N + 1; round++) {
    const s = await carol.ok('sync', { conv, after, limit: 500 }, { timeoutMs: 30000 });
    assert.ok(s.msgs.length > 0 || !s.more, 'an answer with more=true carries messages');
    got.push(...s.msgs);
    if (s.msgs.length) after = s.msgs[s.msgs.length - 1].seq;
    assert.equal(s.more, after < N, `sync after ${after}: more must be ${after < N}`);
    if (!s.more) break;
  }
  assert.deepEqual(got.map((m) => m.seq), Array.from({ length: N }, (_, i) => i + 1));
  got.forEach((m, i) => assertSameBytes(m.text, texts[i], `sync seq ${i + 1}`));

  let beforeSeq;
  const back = [];
  for (let round = 0; round < N + 1; round++) {
    const f = { conv, limit: 500 };
    if (beforeSeq !== undefined) f.before = beforeSeq;
    const hi = await carol.ok('history', f, { timeoutMs: 30000 });
    const seqs = hi.msgs.map((m) => m.seq);
    assert.deepEqual(seqs, [...seqs].sort((a, b) => a - b), 'history msgs ascending');
    back.unshift(...hi.msgs);
    if (hi.msgs.length) beforeSeq = hi.msgs[0].seq;
    assert.equal(hi.more, beforeSeq > 1, `history before ${beforeSeq}: more must be ${beforeSeq > 1}`);
    if (!hi.more) break;
  }
  assert.deepEqual(back.map((m) => m.seq), Array.from({ length: N }, (_, i) => i + 1));
});

h.test('characters are counted after JSON decoding (escapes, escaped surrogate pairs)', async (t, c) => {
  const alice = await Client.open(c.wsUrl(0), tok.alice, { label: 'alice' });
  const bob = await Client.open(c.wsUrl(1), tok.bob, { label: 'bob' });
  const frame = (id, escaped) => `{"type":"send","id":"${id}","conv":"${DM}","client_msg_id":"${id}-${uid()}","text":"${escaped}"}`;
  // 80,000 emoji written as \\ud83d\\ude00 (12 bytes each) + 20,000 'a': 100,000 code points
  // in a 980 kB frame — accepted; one more 'a' is too_large.
  const esc = '\\ud83d\\ude00'.repeat(80000);
  const f1 = frame('esc-ok', esc + 'a'.repeat(20000));
  assert.ok(Buffer.byteLength(f1) < 1024 * 1024, 'fits in a frame');
  alice.sendRaw(f1);
  const ok = await alice.waitAnswer('esc-ok');
  assert.equal(ok.type, 'ok', JSON.stringify(ok).slice(0, 200));
  alice.sendRaw(frame('esc-big', esc + 'a'.repeat(20001)));
  const big = await alice.waitAnswer('esc-big');
  assert.equal(big.type, 'error', JSON.stringify(big).slice(0, 200));
  assert.equal(big.code, 'too_large');
  // 100,000 x \\u0041 (6 bytes each, 600 kB) is 100,000 characters: accepted.
  alice.sendRaw(frame('esc-a', '\\u0041'.repeat(100000)));
  const ok2 = await alice.waitAnswer('esc-a');
  assert.equal(ok2.type, 'ok', JSON.stringify(ok2).slice(0, 200));
  const s = await bob.ok('sync', { conv: DM, after: ok.seq - 1, limit: 2 });
  assert.equal(s.msgs.length, 2);
  assertSameBytes(s.msgs[0].text, '😀'.repeat(80000) + 'a'.repeat(20000), 'decoded escaped emoji');
  assertSameBytes(s.msgs[1].text, 'A'.repeat(100000), 'decoded \\u0041');
});
