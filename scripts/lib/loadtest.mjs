// The ingest load test: POST `total` single-event requests drawn from `unique` events (so each
// is re-sent several times), `concurrency` at a time, each virtual client a visitor with its own
// signed identity (the beacon's rate limit is per identity, else per IP). Then check through the
// admin GET that every accepted request is stored exactly once (KV holds one value per request,
// so a queue redelivery overwrites: stored events == accepted POSTs), that every unique event is
// among them, and that no answer was a 5xx. Exit 1 when a check fails.
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
/** A fresh signed identity (`pg_uid=…`) from the worker, as a browser gets one. */
async function identity() {
  const res = await fetch(`${opt.url}/api/config`, { headers: { 'user-agent': `pilot-gate-loadtest/${run}` } });
  await res.arrayBuffer();
  const uid = res.headers.getSetCookie().map((c) => c.split(';')[0]).find((c) => c.startsWith('pg_uid='));
  if (!uid) throw new Error(`GET /api/config answered ${res.status} without a pg_uid cookie`);
  return uid;
}

await Promise.all(Array.from({ length: concurrency }, async (_, client) => {
  const headers = {
    'content-type': 'application/json',
    'user-agent': `pilot-gate-loadtest/${run}/${client}`,
    cookie: await identity(),
  };
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

/** Every stored event named `run`, following the listing's cursor (each answer is one bounded
 * KV invocation). */
async function storedEvents() {
  const out = [];
  let cursor = null;
  do {
    const q = `limit=1000&name=${run}${cursor ? `&cursor=${encodeURIComponent(cursor)}` : ''}`;
    const res = await fetch(`${opt.url}/api/events?${q}`, { headers: { authorization: `Bearer ${token}` } });
    if (res.status !== 200) throw new Error(`admin GET answered ${res.status}`);
    const page = await res.json();
    out.push(...page.events);
    cursor = page.cursor;
  } while (cursor);
  return out;
}

// Checker: wait for the queue to drain into KV, then read everything back.
const failures = [];
const fivexx = Object.entries(statuses).filter(([s]) => Number(s) >= 500 || s === 'network_error').reduce((n, [, c]) => n + c, 0);
const accepted = statuses[202] || 0;
if (!token) {
  failures.push('no ADMIN_TOKEN (environment or .dev.vars): cannot check storage');
} else {
  const deadline = Date.now() + Number(opt['drain-timeout-s']) * 1000;
  let stored = [];
  try {
    for (;;) {
      stored = await storedEvents();
      if (stored.length >= accepted || Date.now() > deadline) break;
      await new Promise((r) => setTimeout(r, 250));
    }
  } catch (e) {
    failures.push(String(e.message));
  }
  const ids = new Set(stored.map((e) => e.id));
  const requests = new Set(stored.map((e) => e.request_id));
  result.stored = stored.length;
  result.stored_unique = ids.size;
  result.stored_requests = requests.size;
  result.drain_s = +((performance.now() - started) / 1000 - elapsedS).toFixed(2);
  console.log(`check: stored ${stored.length} events of ${accepted} accepted requests (${ids.size} unique of ${unique} sent), after ${result.drain_s} s`);
  if (ids.size !== unique) failures.push(`stored ${ids.size} unique events, sent ${unique}`);
  if (stored.length !== accepted) failures.push(`stored ${stored.length} events of ${accepted} accepted single-event requests`);
  if (requests.size !== stored.length) failures.push(`${stored.length - requests.size} requests stored twice`);
}
result.errors_5xx = fivexx;
if (fivexx) failures.push(`${fivexx} responses were 5xx or network errors`);
if ((statuses[202] || 0) !== total) failures.push(`${total - (statuses[202] || 0)} POSTs were not accepted (202)`);
result.ok = failures.length === 0;
result.failures = failures;
if (opt.out) writeFileSync(opt.out, `${JSON.stringify(result, null, 2)}\n`);
console.log(result.ok ? 'loadtest: ok' : `loadtest: FAIL\n  ${failures.join('\n  ')}`);
process.exit(result.ok ? 0 : 1);
