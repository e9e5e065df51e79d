'use strict';
// WebSocket framing (PROTOCOL.md §1, §3): malformed frames, binary frames, invalid
// UTF-8 (1007), the 1 MiB frame limit, fragments, answers in request order.
const assert = require('node:assert/strict');
const { setup, uid } = require('./lib/harness');
const { createUser, login, Client } = require('./lib/client');
const { shardOfConv, pickNames, dmId } = require('./lib/slots');

const h = setup();
const tok = {};
// alice with two peers whose dms live on different shards (for the ordering test).
const [alice, p0, p1] = pickNames(['alice', 'peera', 'peerb'],
  (a, x, y) => shardOfConv(dmId(a, x)) === 0 && shardOfConv(dmId(a, y)) === 1);
const DM0 = dmId(alice, p0);
const DM1 = dmId(alice, p1);

h.before(async () => {
  const u = h.cluster.httpUrl(0);
  for (const n of [alice, p0, p1]) await createUser(u, n);
  tok.alice = await login(u, alice, 'phone');
});

const errNoId = (f) => f.type === 'error' && f.id === undefined;

async function stillWorks(ws) {
  const a = await ws.ok('ping', {}, { id: uid('alive') });
  assert.equal(a.type, 'ok');
}

h.test('malformed frames get bad_request (without id when unreadable) and the socket stays open', async (t, c) => {
  const ws = await Client.open(c.wsUrl(0), tok.alice, { label: alice });
  for (const raw of ['not json', '{', '{"type":"ping","id":"x"', '[1,2,3]', '"ping"', '42', 'null', '']) {
    ws.sendRaw(raw);
    const e = await ws.nextEvent(errNoId, 5000, `error without id for ${JSON.stringify(raw)}`);
    assert.equal(e.code, 'bad_request', `${JSON.stringify(raw)} -> ${JSON.stringify(e)}`);
    assert.equal(typeof e.message, 'string');
    await stillWorks(ws);
  }
  // Readable id, bad frame: the error carries the id.
  const withId = [
    [{ id: 'm1' }, 'missing type'],
    [{ type: 5, id: 'm2' }, 'type not a string'],
    [{ type: null, id: 'm3' }, 'type null'],
    [{ type: 'frobnicate', id: 'm4' }, 'unknown type'],
    [{ type: 'send', id: 'm5', conv: 5, client_msg_id: 'a', text: 'x' }, 'conv not a string'],
    [{ type: 'send', id: 'm6', conv: DM0, client_msg_id: 7, text: 'x' }, 'client_msg_id not a string'],
    [{ type: 'send', id: 'm7', conv: DM0, client_msg_id: 'a', text: { t: 'x' } }, 'text not a string'],
    [{ type: 'send', id: 'm8', client_msg_id: 'a', text: 'x' }, 'missing conv'],
    [{ type: 'sync', id: 'm9', conv: DM0, after: '0' }, 'after not a number'],
    [{ type: 'sync', id: 'm10', conv: DM0, limit: '10' }, 'limit not a number'],
    [{ type: 'history', id: 'm11', conv: DM0, before: 'x' }, 'before not a number'],
    [{ type: 'sync', id: 'm12', conv: [DM0] }, 'conv an array'],
  ];
  for (const [frame, what] of withId) {
    ws.sendJson(frame);
    const e = await ws.waitAnswer(frame.id);
    assert.equal(e.type, 'error', `${what}: ${JSON.stringify(e)}`);
    assert.equal(e.code, 'bad_request', `${what}: ${JSON.stringify(e)}`);
  }
  // An id of the wrong type cannot be read: error bad_request, without a string id.
  ws.sendJson({ type: 'ping', id: 17 });
  const e = await ws.nextEvent((f) => f.type === 'error' && typeof f.id !== 'string', 5000, 'error for a numeric id');
  assert.equal(e.code, 'bad_request');
  await stillWorks(ws);
  assert.ok(ws.isOpen, 'socket still open');
  // None of the send attempts stored anything.
  const s = await ws.ok('sync', { conv: DM0 });
  assert.deepEqual(s.msgs, []);
});

h.test('JSON edge cases: refused as invalid JSON exactly as before, accepted frames read whole', async (t, c) => {
  // The gateway parses frames with yajl plus checks that keep jansson's json_loadb verdicts
  // (docs/internals.md "The client frame parser"); each of these is one of those checks.
  const ws = await Client.open(c.wsUrl(0), tok.alice, { label: alice });
  const deep = (n) => `{"type":"ping","id":"deep${n}","a":${'['.repeat(n)}1${']'.repeat(n)}}`;
  const refused = [
    '{"type":"ping","id":"r1"} "', // a value, then an unterminated string
    '{"type":"ping","id":"r2"}"}',
    '{"type":"ping","id":"r3","a":16\u0000}', // a raw NUL byte after a number
    '{"type":"ping","id":"r4"}\v', // \v is not JSON whitespace
    '{"type":"ping","id":"r5","a":01}',
    '{"type":"ping","id":"r6","a":9223372036854775808}', // beyond a 64-bit integer
    '{"type":"ping","id":"r7","a":1e400}',
    '{"type":"ping","id":"r8","type":"ping"}', // a duplicate key
    '{"type":"ping","id":"r9","a":{"b":1,"b":2}}', // a duplicate key, nested
    '{"type":"ping","id":"\\ud800"}', // a lone surrogate escape
    deep(2047), // 2047 arrays around a number: one level beyond jansson's 2048
  ];
  for (const raw of refused) {
    ws.sendRaw(raw);
    const e = await ws.nextEvent(errNoId, 5000, `error without id for ${JSON.stringify(raw.slice(0, 60))}`);
    assert.equal(e.code, 'bad_request', `${JSON.stringify(raw.slice(0, 60))} -> ${JSON.stringify(e)}`);
  }
  await stillWorks(ws);
  const accepted = [
    ['{"type":"ping","id":"a1","x":{"y":[1,2.5,-0,true,null,{}]}}', 'a1'],
    ['{"type":"ping","id":"a2\\n\\u00e9\\ud83d\\ude00"}', 'a2\n\u00e9\ud83d\ude00'],
    ['{"type":"ping","id":"a3","a":-9223372036854775808,"b":1e308} \r\n\t', 'a3'],
    [`{"type":"ping","id":"a4",${Array.from({ length: 14 }, (_, i) => `"k${i}":${i}`).join(',')}}`, 'a4'],
    [deep(2046).replace('deep2046', 'a5'), 'a5'],
  ];
  for (const [raw, id] of accepted) {
    ws.sendRaw(raw);
    const a = await ws.waitAnswer(id);
    assert.equal(a.type, 'ok', `${JSON.stringify(raw.slice(0, 60))} -> ${JSON.stringify(a)}`);
  }
  // A send with escapes (a frame that goes to jansson, one that yajl decodes) stores the
  // text as sent (in a dm of its own: the other tests expect DM0 and DM1 empty).
  const peer = `${p0}esc`;
  await createUser(c.httpUrl(0), peer);
  const conv = dmId(alice, peer);
  const texts = ['line\nbreak "quoted" \\ back\tslash', 'caf\u00e9 \ud83d\ude00 \u0001'];
  for (const [i, text] of texts.entries()) {
    const r = await ws.ok('send', { conv, client_msg_id: `esc${i}`, text });
    assert.equal(typeof r.seq, 'number');
  }
  const msgs = (await ws.ok('sync', { conv })).msgs;
  assert.deepEqual(msgs.map((m) => m.text), texts);
});

h.test('a binary frame gets bad_request without id, also when it holds valid JSON', async (t, c) => {
  const ws = await Client.open(c.wsUrl(1), tok.alice, { label: alice });
  ws.sendRaw(Buffer.from(JSON.stringify({ type: 'ping', id: 'bin1' })), { binary: true });
  const e = await ws.nextEvent((f) => f.type === 'error', 5000, 'error for a binary frame');
  assert.equal(e.code, 'bad_request', JSON.stringify(e));
  assert.equal(e.id, undefined, 'no id: a binary frame\'s id cannot be read');
  ws.sendRaw(Buffer.from([0, 1, 2, 255]), { binary: true });
  const e2 = await ws.nextEvent((f) => f.type === 'error', 5000, 'error for a binary frame');
  assert.equal(e2.code, 'bad_request');
  await stillWorks(ws);
  assert.deepEqual(ws.unmatched, [], 'no answer with id bin1');
});

h.test('a text frame that is not valid UTF-8 closes the connection with 1007', async (t, c) => {
  const cases = [
    ['lone continuation byte', Buffer.from([0x7b, 0x80, 0x7d])],
    ['truncated sequence', Buffer.from('{"type":"ping","id":"\xc3"}', 'latin1')],
    ['overlong encoding of /', Buffer.from([0x22, 0xc0, 0xaf, 0x22])],
    ['UTF-8 encoded surrogate', Buffer.concat([Buffer.from('{"type":"ping","id":"'), Buffer.from([0xed, 0xa0, 0x80]), Buffer.from('"}')])],
    ['code point above U+10FFFF', Buffer.concat([Buffer.from('{"type":"ping","id":"'), Buffer.from([0xf4, 0x90, 0x80, 0x80]), Buffer.from('"}')])],
    ['0xFF byte', Buffer.from([0xff])],
  ];
  for (const [what, bytes] of cases) {
    const ws = await Client.open(c.wsUrl(0), tok.alice, { label: `${alice} (${what})` });
    ws.sendRaw(bytes, { binary: false });
    const cl = await ws.waitClosed(5000);
    assert.equal(cl.code, 1007, `${what}: close code`);
  }
  // Invalid UTF-8 inside a string of otherwise valid JSON in a send: closed, nothing stored.
  const ws = await Client.open(c.wsUrl(0), tok.alice, { label: alice });
  ws.sendRaw(Buffer.concat([Buffer.from(`{"type":"send","id":"u1","conv":"${DM0}","client_msg_id":"u1","text":"a`), Buffer.from([0xfe]), Buffer.from('"}')]));
  assert.equal((await ws.waitClosed(5000)).code, 1007);
  const ws2 = await Client.open(c.wsUrl(0), tok.alice, { label: alice });
  assert.deepEqual((await ws2.ok('sync', { conv: DM0 })).msgs, []);
});

h.test('a fragmented text message is reassembled, also with a character split across fragments', async (t, c) => {
  const ws = await Client.open(c.wsUrl(1), tok.alice, { label: alice });
  const full = Buffer.from(JSON.stringify({ type: 'send', id: 'frag1', conv: DM0, client_msg_id: 'frag1', text: 'split 😀 here' }));
  const cut = full.indexOf(Buffer.from('😀')) + 2; // in the middle of the 4 bytes
  ws.sendRaw(full.subarray(0, cut), { fin: false });
  ws.sendRaw(full.subarray(cut, cut + 3), { fin: false });
  ws.sendRaw(full.subarray(cut + 3), { fin: true });
  const a = await ws.waitAnswer('frag1');
  assert.equal(a.type, 'ok', JSON.stringify(a));
  const s = await ws.ok('sync', { conv: DM0, after: a.seq - 1 });
  assert.equal(s.msgs[0].text, 'split 😀 here');
});

h.test('a frame of exactly 1 MiB is accepted; a larger one gets too_large or close 1009', async (t, c) => {
  const MiB = 1024 * 1024;
  const ws = await Client.open(c.wsUrl(0), tok.alice, { label: alice });
  const head = '{"type":"ping","id":"big1"';
  const exact = head + ' '.repeat(MiB - head.length - 1) + '}';
  assert.equal(Buffer.byteLength(exact), MiB);
  ws.sendRaw(exact);
  const a = await ws.waitAnswer('big1', 10000);
  assert.equal(a.type, 'ok', `1 MiB frame: ${JSON.stringify(a)}`);

  async function expectTooLarge(label, sendIt) {
    const w = await Client.open(c.wsUrl(0), tok.alice, { label: `${alice} (${label})` });
    sendIt(w);
    const first = await Promise.race([
      w.nextEvent((f) => f.type === 'error' && f.code === 'too_large', 10000, 'too_large').then((f) => ({ f })),
      w.closed.then((cl) => ({ cl })),
    ]);
    if (first.cl) {
      assert.equal(first.cl.code, 1009, `${label}: closed with ${first.cl.code}, expected 1009 (or error too_large)`);
      return;
    }
    // too_large without a close: the socket must stay usable (1009 is the only close allowed).
    const next = await Promise.race([
      w.request('ping', {}, { id: `after-${label}` }).then((r) => ({ r }), () => w.closed.then((cl) => ({ cl }))),
      w.closed.then((cl) => ({ cl })),
    ]);
    if (next.cl) assert.equal(next.cl.code, 1009, `${label}: closed after too_large with ${next.cl.code}`);
    else assert.equal(next.r.type, 'ok', `${label}: ping after too_large: ${JSON.stringify(next.r)}`);
  }
  await expectTooLarge('1 MiB + 1 byte', (w) => w.sendRaw(head + ' '.repeat(MiB - head.length) + '}'));
  await expectTooLarge('1.1 MiB send', (w) => w.sendJson({ type: 'send', id: 'big2', conv: DM0, client_msg_id: 'big2', text: 'x'.repeat(MiB + MiB / 10) }));
  await expectTooLarge('1 MiB + 64 KiB in 64 KiB fragments', (w) => {
    const body = Buffer.from(head + ' '.repeat(MiB + 65536 - head.length) + '}');
    for (let off = 0; off < body.length; off += 65536) {
      w.sendRaw(body.subarray(off, Math.min(off + 65536, body.length)), { fin: off + 65536 >= body.length });
    }
  });
  const w = await Client.open(c.wsUrl(0), tok.alice, { label: alice });
  assert.deepEqual((await w.ok('sync', { conv: DM0, after: 1 })).msgs, [], 'the oversized send stored nothing');
});

h.test('answers come in request order on one connection, across shards and error paths', async (t, c) => {
  const ws = await Client.open(c.wsUrl(0), tok.alice, { label: alice });
  // Warm up both dms (the gateway checks the peer exists the first time).
  await ws.ok('send', { conv: DM0, client_msg_id: uid(), text: 'warm 0' });
  await ws.ok('send', { conv: DM1, client_msg_id: uid(), text: 'warm 1' });
  const ids = [];
  const kinds = [
    () => ['send', { conv: DM1, client_msg_id: uid(), text: 'on shard 1' }],
    () => ['ping', {}],
    () => ['sync', { conv: DM0, limit: 500 }],
    () => ['send', { conv: 'dm:bad', client_msg_id: uid(), text: 'x' }], // gateway-side error
    () => ['history', { conv: DM1 }],
    () => ['send', { conv: DM0, client_msg_id: uid(), text: 'on shard 0' }],
    () => ['convs', {}],
    () => ['sync', { conv: DM1, limit: 0 }], // bad_request
    () => ['frobnicate', {}],
  ];
  const promises = [];
  for (let i = 0; i < 120; i++) {
    const [type, fields] = kinds[i % kinds.length]();
    const id = `o${i}`;
    ids.push(id);
    promises.push(ws.request(type, fields, { id }));
  }
  const answers = await Promise.all(promises);
  assert.deepEqual(ws.answerOrder.slice(-ids.length), ids, 'answers in the order of the requests');
  answers.forEach((a, i) => {
    const kind = i % kinds.length;
    if ([3, 7, 8].includes(kind)) assert.equal(a.type, 'error', `o${i}: ${JSON.stringify(a).slice(0, 200)}`);
    else assert.equal(a.type, 'ok', `o${i}: ${JSON.stringify(a).slice(0, 200)}`);
  });
});

h.test('WebSocket control frames: ping gets a pong, a client close gets a close 1000 back', async (t, c) => {
  const ws = await Client.open(c.wsUrl(0), tok.alice, { label: alice });
  const pong = new Promise((resolve) => ws.ws.once('pong', (d) => resolve(d.toString())));
  ws.ws.ping('hello-pong');
  let timer;
  const got = await Promise.race([pong, new Promise((_, rej) => { timer = setTimeout(() => rej(new Error('no pong within 5 s')), 5000); })]);
  clearTimeout(timer);
  assert.equal(got, 'hello-pong', 'the pong echoes the ping payload');
  await stillWorks(ws);
  ws.ws.close(1000, 'bye');
  const cl = await ws.waitClosed(5000);
  assert.equal(cl.code, 1000, 'the server answers the close handshake with 1000');
});

h.test('hostile JSON (deep nesting, huge numbers, many keys) gets bad_request or an answer, never a crash', async (t, c) => {
  const ws = await Client.open(c.wsUrl(1), tok.alice, { label: alice });
  const hostile = [
    '['.repeat(200000),
    '{"a":'.repeat(100000) + '1' + '}'.repeat(100000),
    `{"type":"ping","id":"n","x":${'9'.repeat(5000)}}`,
    `{"type":"sync","id":"n2","conv":"${DM0}","after":1e999}`,
    `{"type":"sync","id":"n3","conv":"${DM0}","limit":18446744073709551617}`,
    '{' + Array.from({ length: 20000 }, (_, i) => `"k${i}":${i}`).join(',') + ',"type":"ping","id":"n4"}',
  ];
  for (const raw of hostile) {
    ws.sendRaw(raw);
    // Whatever the answer, the gateway must stay up and the socket usable.
    await stillWorks(ws);
  }
  for (const f of ws.frames.filter((x) => x.type === 'error')) assert.equal(f.code, 'bad_request', JSON.stringify(f).slice(0, 200));
});
