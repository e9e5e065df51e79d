#!/usr/bin/env node
// bench/report.js — turn scripts/bench's results (one JSON line per run) into the
// markdown tables of docs/benchmarks.md: each Parley figure beside the limit of the part
// that bounds it, as a ratio. Prints the tables; with a third argument, replaces the text
// between "<!-- bench:begin -->" and "<!-- bench:end -->" in that file (appended when the
// marks are missing).
//
//   node bench/report.js RESULTS.jsonl "machine line" [docs/benchmarks.md]
'use strict';
const fs = require('fs');

const [resultsFile, machine, docsFile] = process.argv.slice(2);
const runs = {};
for (const line of fs.readFileSync(resultsFile, 'utf8').split('\n')) {
  if (!line.trim()) continue;
  const r = JSON.parse(line);
  runs[r.id] = r;
}
const n = (x) => (x === undefined || x === null || Number.isNaN(x) ? '—' : Math.round(x).toLocaleString('en-US'));
const ms = (x) => (x === undefined || x === null ? '—' : x.toFixed(2));
const ratio = (a, b) => (a && b ? `${(100 * a / b).toFixed(0)} %` : '—');
const cmd = (id) => (runs[id] ? '`' + runs[id].cmd.replace(/--pids \S+/, '--pids …').replace(/127\.0\.0\.1:\d+/g, 'GW').replace(/tcp:\/\/GW|tcp:\/\/127\.0\.0\.1:\d+/g, 'ROUTER') + '`' : '—');
const lat = (l) => (l ? `${ms(l.p50)} / ${ms(l.p90)} / ${ms(l.p99)} / ${ms(l.p999)} / ${ms(l.max)}` : '—');

const L = runs.L && runs.L.json, E = runs.LWS && runs.LWS.json;
const rows = [];
const limitRows = [];
if (L && L.kernel) {
  limitRows.push(['a system call (getpid in a loop)', cmd('L'), `${n(L.kernel.syscall_ns)} ns each`]);
  limitRows.push(['a thread wake-up round trip (two threads bouncing an eventfd: two wake-ups)', cmd('L'), `${L.kernel.wake_round_trip_us.toFixed(1)} µs each`]);
}
if (L) {
  limitRows.push(['zmq ROUTER relay over tcp, 100 B, window 64', cmd('L'), `${n(L.zmq_relay.round_trips_per_s)} round trips/s (${n(L.zmq_relay.relays_per_s)} relays/s)`]);
  limitRows.push(['RocksDB WriteBatch 3 × 100 B puts, WAL, no sync', cmd('L'), `${n(L.rocksdb.nosync_msgs_per_s)} batches/s`]);
  limitRows.push(['RocksDB 64 × (3 × 100 B) per batch, WAL, sync', cmd('L'), `${n(L.rocksdb.sync64_msgs_per_s)} msgs/s`]);
}
if (E) {
  const r = E.result;
  limitRows.push(['bare lws echo (bench/lws-echo) driven by parley-wsbench --echo, max rate (p99 < 50 ms, 0 lost)', cmd('LWS'),
    `${n(E.max_rate)} frames/s echoed (p50/p99 ${r ? ms(r.latency_ms.p50) + ' / ' + ms(r.latency_ms.p99) : '—'} ms)`]);
}
const echoMax = E && E.max_rate;

const t1 = runs.T1 && runs.T1.json;
if (t1) {
  const r = t1.result;
  rows.push(['T1', `${t1.conns} connections in ${t1.conns / 2} DM pairs, max rate with p99 < 50 ms, 0 lost`, cmd('T1'),
    `${n(t1.max_rate)} msgs/s (delivered ${n(r && r.delivered_per_s)}/s, p50/p99 ${r ? ms(r.latency_ms.p50) + ' / ' + ms(r.latency_ms.p99) : '—'} ms)`,
    `lws echo ${n(echoMax)}/s`, ratio(t1.max_rate, echoMax), '≥ 50,000 msgs/s']);
}
const t2 = runs.T2 && runs.T2.json;
if (t2) {
  const r = t2.result;
  rows.push(['T2', `${t2.conns} connections (+ ${n(t2.idle)} idle), ${n(r.rate)} msgs/s offered`, cmd('T2'),
    `p50/p90/p99/p999/max ${lat(r.latency_ms)} ms; ${n(r.lost)} lost, ${n(r.duplicated)} dup`,
    E && E.result ? `lws echo p99 ${ms(E.result.latency_ms.p99)} ms at ${n(E.max_rate)}/s` : '—', '—',
    'p50 ≤ 0.5, p99 ≤ 2, p999 ≤ 10 ms']);
  // T3: memory of every Parley process for the idle connections
  let before = 0, after = 0;
  const per = [];
  for (const [name, v] of Object.entries(t2.rss_kb || {})) {
    before += v.before; after += v.after_idle;
    per.push(`${name} ${n(v.before / 1024)}→${n(v.after_idle / 1024)} MiB`);
  }
  const kib = t2.idle ? (after - before) / t2.idle : null;
  rows.push(['T3', `${n(t2.idle)} idle authenticated connections, RSS of all Parley processes`, cmd('T2'),
    `${kib === null ? '—' : kib.toFixed(2)} KiB per connection (${per.join(', ')})`, 'target 8 KiB', kib ? ratio(kib, 8) : '—', '≤ 8 KiB']);
  const c = t2.connect;
  if (!(runs.T6 && runs.T6.json.connect_rate)) // results of a scripts/bench without its own T6 run
    rows.push(['T6 (closed loop)', `connect + token auth of ${n(c.n)} beside ${n(t2.connect_idle.n)} open connections, 256 in flight`, cmd('T2'),
      `${n(c.per_s)}/s, p50/p99 ${ms(c.latency_ms.p50)} / ${ms(c.latency_ms.p99)} ms (the ${n(t2.connect_idle.n)} idle ones: ${n(t2.connect_idle.per_s)}/s)`,
      '—', '—', '≥ 2,000/s, p99 ≤ 20 ms']);
}
const t6 = runs.T6 && runs.T6.json;
if (t6 && t6.connect_rate) {
  const c = t6.connect_rate;
  rows.push(['T6', `connect + token auth, ${n(c.offered_per_s)}/s offered open loop (${n(c.count)} sockets), beside ${n(c.beside)} open connections; latency from each socket's intended start`, cmd('T6'),
    `${n(c.per_s)}/s (${n(c.n)} authenticated, ${n(c.failed)} failed), p50/p90/p99/p999/max ${lat(c.latency_ms)} ms; generator start lag ≤ ${ms(c.start_lag_max_ms)} ms`,
    '—', '—', '≥ 2,000/s, p99 ≤ 20 ms']);
}
const t4 = runs.T4 && runs.T4.json;
if (t4) {
  const r = t4.result;
  rows.push(['T4', `a ${t4.group}-member group, all online, + ${n(t4.idle)} idle connections, ${n(r.rate)} msgs/s offered (${n(r.rate * (t4.group - 1))} deliveries/s)`, cmd('T4'),
    `${n(r.delivered_per_s)} deliveries/s, send → last recipient p99 ${ms(r.last_recipient_ms.p99)} ms; ${n(r.lost)} lost`,
    `lws echo ${n(echoMax)}/s`, ratio(r.delivered_per_s, echoMax), '≥ 100,000 deliveries/s, p99 ≤ 20 ms']);
}
const t5 = runs.T5 && runs.T5.json;
if (t5) {
  const r = t5.result;
  const target = r.messages >= 100000 ? '≤ 0.5 s (100,000)' : r.messages >= 10000 ? '≤ 50 ms (10,000)' : '—';
  rows.push(['T5', `one device catching up ${n(r.messages)} messages with \`sync\` (pages of ${r.page}), ${r.runs} runs`, cmd('T5'),
    `median ${ms(r.ms.median)} ms (min ${ms(r.ms.min)}, max ${ms(r.ms.max)}); ${n(r.messages * 1000 / r.ms.median)} msgs/s`,
    '—', '—', target]);
}
const t7 = runs.T7 && runs.T7.json;
if (t7) {
  const r = t7.result;
  rows.push(['T7', `T1 with --sync (fsync group commit)`, cmd('T7'),
    `${n(t7.max_rate)} msgs/s (p99 ${r ? ms(r.latency_ms.p99) : '—'} ms)`, `T1 ${n(t1 && t1.max_rate)}/s`,
    ratio(t7.max_rate, t1 && t1.max_rate), '≥ 30 % of T1']);
}
const z1 = runs.Z1 && runs.Z1.json;
if (z1) {
  const r = z1.result;
  // With BATCH of requests (zmq-bench's default, as a gateway does) a frame carries many
  // sends, so the per-frame relay no longer bounds the stored rate: the stores do.
  const batched = z1.batch !== false;
  const lim = L ? (batched ? 2 * L.rocksdb.nosync_msgs_per_s : Math.min(L.zmq_relay.round_trips_per_s, 2 * L.rocksdb.nosync_msgs_per_s)) : null;
  rows.push(['Z1', `zmq-bench, 2 shards, ${z1.pairs} DM pairs, max rate (p99 < 50 ms, 0 lost)${batched ? ', requests batched per turn' : ''}`, cmd('Z1'),
    `${n(z1.max_rate)} stored msgs/s (p50/p99 ${r ? ms(r.latency_ms.p50) + ' / ' + ms(r.latency_ms.p99) : '—'} ms)`,
    L ? (batched ? `2 × RocksDB ${n(L.rocksdb.nosync_msgs_per_s)} = ${n(lim)}/s` : `min(zmq relay ${n(L.zmq_relay.round_trips_per_s)}, 2 × RocksDB ${n(L.rocksdb.nosync_msgs_per_s)}) = ${n(lim)}/s`) : '—',
    ratio(z1.max_rate, lim), '≥ 150,000/s']);
}

let md = `<!-- bench:begin -->\n<!-- generated by scripts/bench (bench/report.js): do not edit by hand -->\n`;
md += `Machine: ${machine}.\n\n`;
md += `### Limits of the parts (bench/limits, bench/lws-echo)\n\n| limit | command | figure |\n|---|---|---|\n`;
for (const r of limitRows) md += `| ${r.join(' | ')} |\n`;
md += `\n### Parley against the limits (parley-wsbench, zmq-bench)\n\n`;
md += `Latencies are from the *intended* send time (open loop), in ms, to each recipient.\n\n`;
md += `| # | workload | command | figure | limit | ratio | target |\n|---|---|---|---|---|---|---|\n`;
for (const r of rows) md += `| ${r.join(' | ')} |\n`;
md += `<!-- bench:end -->\n`;
process.stdout.write(md);

if (docsFile) {
  let doc = fs.readFileSync(docsFile, 'utf8');
  const a = doc.indexOf('<!-- bench:begin -->'), b = doc.indexOf('<!-- bench:end -->');
  if (a >= 0 && b > a) doc = doc.slice(0, a) + md + doc.slice(b + '<!-- bench:end -->\n'.length);
  else doc += '\n' + md;
  fs.writeFileSync(docsFile, doc);
  process.stderr.write(`bench: rewrote the tables in ${docsFile}\n`);
}
