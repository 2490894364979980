// CPU per request, the figure Workers bill. Each worker runs in its own `wrangler dev`, all at
// once: (a) bare JS with a fixed response, (a2) bare JS passing each request to ASSETS, (b) the
// gate in plain JS, (b2) the beacon in plain JS, (c) pilot-gate (its edge and control workers
// in one `wrangler dev`, as `scripts/dev` runs them) decided by PILOT_ROLLOUT_PCT, (c2)
// pilot-gate decided by a flag set. The CPU time (counted in ns per thread) of the workerd
// process that runs each worker is read around each batch of sequential requests on one
// keep-alive connection, and so is that of wrangler's proxy in front of it, which does the same
// work for every worker: each figure divided by its proxy's (normalized) cancels what is left
// of the machine's drift between the processes. The batches of one kind of request (a returning pilot, say) run at
// the same time on a2, b, c and c2, each in its own process, so they meet the same machine:
// this shared 2-core VM speeds up and slows down by tens of percent from one second to the
// next, which made batches run one after another differ by more than the workers do. Rounds
// repeat every kind in a rotating order; c - a2, b - a2, c / b and c2 / b are taken within each
// round, raw and normalized, and their medians over the rounds reported. Then: the beacon's CPU
// per accepted event next to the plain-JS beacon's, the CPU a flag set's decision adds (c2 - c),
// and the control worker's CPU per stats request and per evidence delta (c2 with faults on: one
// evidence message of 256 sightings through the control plane's `enqueue`, the consumer and the
// evidence object). What recording an exposure adds is in two parts: in the request, the native
// `sighting` bench (scripts/bench 1/5); after it, the evidence message's CPU over its 256
// sightings (an upper bound: it includes the enqueue through the admin API).
// wrangler's local trace collector (X_LOCAL_OBSERVABILITY), which would run in the same workerd
// and store every tail event in SQLite, is turned off: a deployed worker is not billed for it.
// Loopback only, bounded in count. Run through scripts/bench; asserts nothing.
import http from 'node:http';
import path from 'node:path';

import { ADMIN_TOKEN, CookieJar, ROOT, startWorker, visit } from '../scripts/lib/local.mjs';
import { cpuUs, workerProcess } from './proc.mjs';

const BATCH = Number(process.env.BENCH_BATCH || 200);
const ROUNDS = Number(process.env.BENCH_ROUNDS || 15);
const WARMUP = Number(process.env.BENCH_WARMUP || 500);
const VARS = { PILOT_ROLLOUT_PCT: '0.5' };
process.env.X_LOCAL_OBSERVABILITY = 'false';

/** One request on `agent`'s kept-alive connection; resolves to its status. */
function request(agent, url, { method = 'GET', headers = {}, body } = {}) {
  return new Promise((resolve, reject) => {
    const req = http.request(url, { method, headers, agent }, (res) => {
      res.resume();
      res.on('end', () => resolve(res.statusCode));
    });
    req.on('error', reject);
    req.end(body);
  });
}

/** `n` sequential requests made by `make(i)`: the worker's CPU per request and the latencies. */
async function batch(load, n) {
  const lat = [];
  const cpu0 = cpuUs(load.pid);
  const proxy0 = cpuUs(load.proxy);
  const t0 = performance.now();
  for (let i = 0; i < n; i++) {
    const { url, init } = load.make(load.sent++);
    const s = performance.now();
    const status = await request(load.agent, url, init);
    lat.push(performance.now() - s);
    load.statuses.set(status, (load.statuses.get(status) ?? 0) + 1);
  }
  const wallMs = performance.now() - t0;
  const cpuPerReqUs = (await settledCpuUs(load.pid) - cpu0) / n;
  return { cpuPerReqUs, proxyPerReqUs: (cpuUs(load.proxy) - proxy0) / n, rps: (n * 1000) / wallMs, lat };
}

/** The CPU of `pid` once it has gone idle (under 100 µs in 20 ms, at most 2 s), so work a
 * batch leaves behind (the beacon's queue consumer) is counted in that batch. */
async function settledCpuUs(pid) {
  let last = cpuUs(pid);
  for (let i = 0; i < 100; i++) {
    await new Promise((r) => setTimeout(r, 20));
    const now = cpuUs(pid);
    if (now - last < 100) return now;
    last = now;
  }
  return last;
}

const median = (xs) => {
  const s = [...xs].sort((a, b) => a - b);
  return s.length % 2 ? s[(s.length - 1) / 2] : (s[s.length / 2 - 1] + s[s.length / 2]) / 2;
};
const quantile = (xs, q) => [...xs].sort((a, b) => a - b)[Math.min(xs.length - 1, Math.floor(xs.length * q))];

async function cookiesOf(url, want) {
  for (let i = 0; i < 200; i++) {
    const jar = new CookieJar();
    const res = await visit(`${url}/try`, jar);
    if (res.status === want) return jar.header();
  }
  throw new Error(`no visitor answered ${want} in 200 tries at 50 %`);
}

const get = (url, headers = {}) => () => ({ url, init: { headers } });
const gated = {
  'returning pilot': async (url) => get(`${url}/try`, { cookie: await cookiesOf(url, 200) }),
  'fresh visitor': async (url) => get(`${url}/try`),
  'control redirect': async (url) => get(`${url}/try`, { cookie: await cookiesOf(url, 302) }),
};
const beacon = async (url) => (i) => ({
  url: `${url}/api/events`,
  init: {
    method: 'POST',
    // A sender per request (the rate limiter keys on the IP): every request is accepted.
    headers: { 'content-type': 'application/json', 'user-agent': `bench-${i % 1000}`, 'cf-connecting-ip': `10.${(i >> 16) & 255}.${(i >> 8) & 255}.${i & 255}` },
    body: JSON.stringify(Array.from({ length: 10 }, (_, k) => ({ v: 1, id: `bench-${Date.now()}-${i}-${k}`, name: 'bench', ts: Date.now() }))),
  },
});
const asAdmin = { authorization: `Bearer ${ADMIN_TOKEN}` };
// One evidence message of 256 new visitors of pilot (both arms), as the edge would send it.
let unit = 0;
const delta = async (url) => {
  const { revision } = await (await fetch(`${url}/api/admin/status`, { headers: asAdmin })).json();
  return () => {
    const minute = Math.floor(Date.now() / 60_000);
    const sightings = Array.from({ length: 256 }, () => { unit += 1; return { k: { f: 'pilot', v: unit % 2 ? 'on' : 'off', u: unit, m: minute, r: revision } }; });
    const body = JSON.stringify({ fault: 'enqueue', queue: 'evidence', body: JSON.stringify(sightings) });
    return { url: `${url}/api/admin/faults`, init: { method: 'POST', headers: { ...asAdmin, 'content-type': 'application/json' }, body } };
  };
};
// Name, wrangler.toml (pilot-gate's own when undefined), loads, startWorker options.
const WORKERS = [
  ['a bare', path.join(ROOT, 'bench/bare/wrangler.toml'), { 'fixed response': async (url) => get(`${url}/`) }],
  // The floor runs beside each gated load (the same page, /try, served from ASSETS).
  ['a2 assets', path.join(ROOT, 'bench/bare-assets/wrangler.toml'), Object.fromEntries(Object.keys(gated).map((l) => [l, async (url) => get(`${url}/try`)]))],
  ['b js-gate', path.join(ROOT, 'bench/js-gate/wrangler.toml'), gated],
  ['b2 js-beacon', path.join(ROOT, 'bench/js-beacon/wrangler.toml'), { 'beacon x10': beacon }],
  // The beacon writes 10 events per request to KV through the queue: a fifth of the batch.
  ['c pilot-gate', undefined, { ...gated, 'beacon x10': beacon }],
  // The same gate decided by the flag set (a control-plane plan at 50 %, evaluated by the flag
  // engine per request) rather than PILOT_ROLLOUT_PCT.
  ['c2 flag set', undefined, { ...gated, 'stats request': async (url) => get(`${url}/api/admin/stats/pilot`, asAdmin), 'evidence delta': delta },
    { vars: { PILOT_GATE_FAULTS: 'true' }, flags: 'bench/flags-pilot-50.json' }],
];
const SCALE = { 'beacon x10': 0.2, 'stats request': 0.1, 'evidence delta': 0.1 };
// BENCH_ONLY=returning,control keeps only the loads whose label contains one of the words (and
// the floor a2), for a quicker look at one path.
const ONLY = (process.env.BENCH_ONLY || '').split(',').filter(Boolean);
const wanted = (label) => !ONLY.length || ONLY.some((w) => label.includes(w));

console.log(`CPU of the workerd that runs each worker: ${ROUNDS} rounds of one batch of ${BATCH} sequential requests per load (one connection each; the same kind of request on every worker at once), after ${WARMUP} warm-up requests; rollout 50 %`);
const running = [];
const loads = [];
try {
  for (const [name, config, defs, opts = {}] of WORKERS) {
    if (!Object.keys(defs).some(wanted)) continue;
    const w = await startWorker({ vars: VARS, state: `bench-cpu-${name.split(' ')[0]}`, config, ...opts });
    running.push(w);
    const pid = workerProcess(w.pid);
    const proxy = workerProcess(w.pid, { proxy: true });
    for (const [label, setup] of Object.entries(defs)) {
      if (!wanted(label)) continue;
      const agent = new http.Agent({ keepAlive: true, maxSockets: 1 });
      const n = Math.max(1, Math.round(BATCH * (SCALE[label] ?? 1)));
      loads.push({ key: `${name}/${label}`, name, label, pid, proxy, agent, n, make: await setup(w.url), sent: 0, statuses: new Map(), runs: [] });
    }
  }
  for (const load of loads) await batch(load, Math.round(WARMUP * (SCALE[load.label] ?? 1)));
  for (const load of loads) load.statuses.clear();
  // A slot is one label: its loads (one per worker, in different processes) run at the same
  // time, so each comparison is made under the same machine conditions.
  const slots = [...new Set(loads.map((l) => l.label))].map((label) => loads.filter((l) => l.label === label));
  for (let r = 0; r < ROUNDS; r++) {
    // Rotate the order, so no slot always runs right after the same one.
    for (let i = 0; i < slots.length; i++) {
      const slot = slots[(i + r) % slots.length];
      const runs = await Promise.all(slot.map((load) => batch(load, load.n)));
      slot.forEach((load, k) => load.runs.push(runs[k]));
    }
    process.stderr.write(`  round ${r + 1}/${ROUNDS}${r + 1 === ROUNDS ? '\n' : '\r'}`);
  }
} finally {
  for (const load of loads) load.agent.destroy();
  await Promise.all(running.map((w) => w.stop()));
}

const by = Object.fromEntries(loads.map((l) => [l.key, l]));
for (const load of loads) {
  const cpu = load.runs.map((x) => x.cpuPerReqUs);
  const lat = load.runs.flatMap((x) => x.lat);
  const statuses = [...load.statuses].map(([s, n]) => `${s}x${n}`).join(' ');
  const proxy = median(load.runs.map((x) => x.proxyPerReqUs));
  console.log(`  ${load.name.padEnd(12)} ${load.label.padEnd(16)} CPU ${median(cpu).toFixed(0).padStart(5)} µs/req (rounds ${Math.min(...cpu).toFixed(0)}..${Math.max(...cpu).toFixed(0)}; proxy ${proxy.toFixed(0)})  ${median(load.runs.map((x) => x.rps)).toFixed(0).padStart(5)} req/s  p50 ${quantile(lat, 0.5).toFixed(2)} ms  p99 ${quantile(lat, 0.99).toFixed(2)} ms  [${statuses}]`);
}

/** The per-round values of `f(round)`, summarised as median and range. */
const paired = (f) => {
  const xs = Array.from({ length: ROUNDS }, (_, r) => f(r));
  return { med: median(xs), lo: Math.min(...xs), hi: Math.max(...xs) };
};
const cpuOf = (key, r) => by[key].runs[r].cpuPerReqUs;
/** CPU per request over the proxy's in the same round: the machine's speed divided out. */
const normOf = (key, r) => by[key].runs[r].cpuPerReqUs / by[key].runs[r].proxyPerReqUs;
const fmt = (x, digits = 0) => `${x.med.toFixed(digits).padStart(digits ? 4 : 5)} (${x.lo.toFixed(digits)}..${x.hi.toFixed(digits)})`;
const verdict = (x) => (x.med <= 1 ? 'met' : 'NOT MET');
console.log('\nthe gate\'s own CPU over the assets floor (a2), µs per request, and the ratios (goal: c / b at most 1.00, raw and normalized; stretch: c - a2 at most 50 µs), each the median of the per-round values (range):');
for (const label of Object.keys(gated).filter(wanted)) {
  const c = paired((r) => cpuOf(`c pilot-gate/${label}`, r) - cpuOf(`a2 assets/${label}`, r));
  const b = paired((r) => cpuOf(`b js-gate/${label}`, r) - cpuOf(`a2 assets/${label}`, r));
  const ratio = paired((r) => cpuOf(`c pilot-gate/${label}`, r) / cpuOf(`b js-gate/${label}`, r));
  const norm = paired((r) => normOf(`c pilot-gate/${label}`, r) / normOf(`b js-gate/${label}`, r));
  const c2 = paired((r) => cpuOf(`c2 flag set/${label}`, r) / cpuOf(`b js-gate/${label}`, r));
  console.log(`  ${label.padEnd(16)} c - a2 ${fmt(c)}   b - a2 ${fmt(b)}   c / b ${fmt(ratio, 2)} ${verdict(ratio)}   normalized ${fmt(norm, 2)} ${verdict(norm)}   c2 / b ${fmt(c2, 2)}`);
  const decide = paired((r) => cpuOf(`c2 flag set/${label}`, r) - cpuOf(`c pilot-gate/${label}`, r));
  console.log(`  ${''.padEnd(16)} c2 - c ${fmt(decide)} µs: the flag engine's decision over PILOT_ROLLOUT_PCT's (both record the exposure)`);
}
if (by['c pilot-gate/beacon x10'] && by['b2 js-beacon/beacon x10']) {
  const ev = paired((r) => cpuOf('c pilot-gate/beacon x10', r) / 10);
  const js = paired((r) => cpuOf('b2 js-beacon/beacon x10', r) / 10);
  const ratio = paired((r) => cpuOf('c pilot-gate/beacon x10', r) / cpuOf('b2 js-beacon/beacon x10', r));
  const norm = paired((r) => normOf('c pilot-gate/beacon x10', r) / normOf('b2 js-beacon/beacon x10', r));
  console.log(`  beacon: pilot-gate ${fmt(ev)} µs CPU per accepted event, the plain-JS beacon ${fmt(js)} (10-event requests; the queue consumer and KV writes included); ratio ${fmt(ratio, 2)} ${verdict(ratio)}, normalized ${fmt(norm, 2)} ${verdict(norm)} (goal: at most 1.00)`);
}
for (const [label, what] of [['stats request', 'per stats request (GET /api/admin/stats/pilot, relayed by the edge)'], ['evidence delta', 'per evidence message of 256 sightings (enqueue through the control plane, the consumer, the evidence object\'s delta)']]) {
  const key = `c2 flag set/${label}`;
  if (by[key]) console.log(`  control: ${fmt(paired((r) => cpuOf(key, r)))} µs CPU ${what}`);
}
if (by['c2 flag set/evidence delta']) {
  const per = paired((r) => cpuOf('c2 flag set/evidence delta', r) / 256);
  console.log(`  exposure recording after the request: at most ${fmt(per, 1)} µs CPU per exposure (the evidence message's CPU over its 256 sightings; in the request, see the native sighting bench)`);
}
