// The dedup load test: POST `total` single-event requests drawn from `unique` events (so each
// is re-sent several times), `concurrency` at a time, then check through the admin GET that
// exactly `unique` events are stored, with 0 duplicates and 0 × 5xx. Exit 1 when a check fails.
import { writeFileSync } from 'node:fs';

import { flags, secret } from './secrets.mjs';

const opt = flags(process.argv.slice(2), {
  url: 'http://127.0.0.1:8787', total: '1000', unique: '200', concurrency: '50', out: '', 'drain-timeout-s': '30',
});
const total = Number(opt.total);
const unique = Number(opt.unique);
const concurrency = Number(opt.concurrency);
const token = secret('ADMIN_TOKEN');
const run = `lt_${Date.now().toString(36)}`;
const now = Date.now();
const events = Array.from({ length: unique }, (_, i) => ({ v: 1, id: `${run}-${String(i).padStart(6, '0')}`, name: run, ts: now, props: { i } }));

const statuses = {};
const latenciesMs = [];
let next = 0;
console.log(`loadtest: ${total} POSTs of ${unique} unique events, ${concurrency} at a time -> ${opt.url}/api/events`);
const started = performance.now();
await Promise.all(Array.from({ length: concurrency }, async (_, client) => {
  // One User-Agent per virtual client: the rate limit is per client (IP + UA).
  const headers = { 'content-type': 'application/json', 'user-agent': `pilot-gate-loadtest/${run}/${client}` };
  while (next < total) {
    const i = next++;
    const body = JSON.stringify(events[i % unique]);
    const t0 = performance.now();
    let status;
    try {
      const res = await fetch(`${opt.url}/api/events`, { method: 'POST', headers, body });
      await res.arrayBuffer();
      status = res.status;
    } catch {
      status = 'network_error';
    }
    latenciesMs.push(performance.now() - t0);
    statuses[status] = (statuses[status] || 0) + 1;
  }
}));
const elapsedS = (performance.now() - started) / 1000;
latenciesMs.sort((a, b) => a - b);
const pct = (p) => latenciesMs[Math.min(latenciesMs.length - 1, Math.floor((p / 100) * latenciesMs.length))];
const result = {
  url: opt.url, run, total, unique, concurrency, statuses,
  post_rps: Math.round(total / elapsedS),
  latency_ms: { p50: +pct(50).toFixed(2), p95: +pct(95).toFixed(2), p99: +pct(99).toFixed(2) },
};
console.log(`loadtest: ${result.post_rps} POST/s; latency p50 ${result.latency_ms.p50} ms, p95 ${result.latency_ms.p95} ms, p99 ${result.latency_ms.p99} ms; statuses ${JSON.stringify(statuses)}`);

// Checker: wait for the queue to drain into KV, then count through the admin GET.
const failures = [];
const fivexx = Object.entries(statuses).filter(([s]) => Number(s) >= 500 || s === 'network_error').reduce((n, [, c]) => n + c, 0);
if (!token) {
  failures.push('no ADMIN_TOKEN (environment or .dev.vars): cannot check storage');
} else {
  const deadline = Date.now() + Number(opt['drain-timeout-s']) * 1000;
  let stored = [];
  for (;;) {
    const res = await fetch(`${opt.url}/api/events?limit=1000&name=${run}`, { headers: { authorization: `Bearer ${token}` } });
    if (res.status !== 200) { failures.push(`admin GET answered ${res.status}`); break; }
    stored = (await res.json()).events;
    if (stored.length >= unique || Date.now() > deadline) break;
    await new Promise((r) => setTimeout(r, 250));
  }
  const ids = new Set(stored.map((e) => e.id));
  result.stored = stored.length;
  result.stored_unique = ids.size;
  result.duplicates = stored.length - ids.size;
  result.drain_s = +((performance.now() - started) / 1000 - elapsedS).toFixed(2);
  console.log(`check: stored ${stored.length} (${ids.size} unique, ${result.duplicates} duplicates) of ${unique} sent, after ${result.drain_s} s`);
  if (ids.size !== unique) failures.push(`stored ${ids.size} unique events, sent ${unique}`);
  if (result.duplicates !== 0) failures.push(`${result.duplicates} duplicates`);
}
result.errors_5xx = fivexx;
if (fivexx) failures.push(`${fivexx} responses were 5xx or network errors`);
if ((statuses[202] || 0) !== total) failures.push(`${total - (statuses[202] || 0)} POSTs were not accepted (202)`);
result.ok = failures.length === 0;
result.failures = failures;
if (opt.out) writeFileSync(opt.out, `${JSON.stringify(result, null, 2)}\n`);
console.log(result.ok ? 'loadtest: ok' : `loadtest: FAIL\n  ${failures.join('\n  ')}`);
process.exit(result.ok ? 0 : 1);
