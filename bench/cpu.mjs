// CPU per request, the figure Workers bill: the same fixed number of requests on each worker in
// turn, under the same workerd (wrangler dev), reading the CPU time (utime + stime from
// /proc/PID/stat) of the workerd process that runs the worker (not wrangler's proxy). One
// keep-alive connection, sequential requests; three runs after a warm-up; min and median per
// request. CPU seconds are far less disturbed by a busy machine than throughput. Loopback only,
// bounded in count. Run through scripts/bench; asserts nothing.
import { execFileSync } from 'node:child_process';
import { readFileSync, readdirSync } from 'node:fs';
import http from 'node:http';
import path from 'node:path';

import { CookieJar, ROOT, startWorker, visit } from '../tests/e2e/harness.mjs';

const REQUESTS = Number(process.env.BENCH_REQUESTS || 5000);
const RUNS = Number(process.env.BENCH_RUNS || 3);
const WARMUP = Math.min(1000, REQUESTS);
const VARS = { PILOT_ROLLOUT_PCT: '0.5' };
const TICK_US = 1e6 / Number(execFileSync('getconf', ['CLK_TCK'], { encoding: 'utf8' }).trim());

/** The workerd process of wrangler's process group that runs the worker (it has the inspector). */
function workerProcess(groupPid) {
  for (const pid of readdirSync('/proc').filter((d) => /^\d+$/.test(d))) {
    try {
      const stat = readFileSync(`/proc/${pid}/stat`, 'utf8');
      const fields = stat.slice(stat.lastIndexOf(')') + 2).split(' ');
      const comm = stat.slice(stat.indexOf('(') + 1, stat.lastIndexOf(')'));
      const pgid = Number(fields[2]);
      if (comm !== 'workerd' || pgid !== groupPid) continue;
      const cmd = readFileSync(`/proc/${pid}/cmdline`, 'utf8');
      if (cmd.includes('--inspector-addr')) return Number(pid);
    } catch { /* gone */ }
  }
  throw new Error(`no workerd with an inspector in process group ${groupPid}`);
}

/** utime + stime of `pid`, in µs. */
function cpuUs(pid) {
  const stat = readFileSync(`/proc/${pid}/stat`, 'utf8');
  const f = stat.slice(stat.lastIndexOf(')') + 2).split(' ');
  return (Number(f[11]) + Number(f[12])) * TICK_US;
}

const agent = new http.Agent({ keepAlive: true, maxSockets: 1 });

/** One request on the kept-alive connection; resolves to its status. */
function request(url, { method = 'GET', headers = {}, body } = {}) {
  return new Promise((resolve, reject) => {
    const req = http.request(url, { method, headers, agent }, (res) => {
      res.resume();
      res.on('end', () => resolve(res.statusCode));
    });
    req.on('error', reject);
    req.end(body);
  });
}

/** `n` sequential requests made by `make(i)`; the worker's CPU and the client's latencies. */
async function load(pid, n, make) {
  const lat = new Float64Array(n);
  const statuses = new Map();
  const cpu0 = cpuUs(pid);
  const t0 = performance.now();
  for (let i = 0; i < n; i++) {
    const { url, init } = make(i);
    const s = performance.now();
    const status = await request(url, init);
    lat[i] = performance.now() - s;
    statuses.set(status, (statuses.get(status) ?? 0) + 1);
  }
  const wallMs = performance.now() - t0;
  const cpu = cpuUs(pid) - cpu0;
  lat.sort();
  return { cpuPerReqUs: cpu / n, rps: (n * 1000) / wallMs, p50: lat[Math.floor(n / 2)], p99: lat[Math.floor(n * 0.99)], statuses };
}

const median = (xs) => [...xs].sort((a, b) => a - b)[Math.floor(xs.length / 2)];

async function cookiesOf(url, want) {
  for (let i = 0; i < 200; i++) {
    const jar = new CookieJar();
    const res = await visit(`${url}/try`, jar);
    if (res.status === want) return jar.header();
  }
  throw new Error(`no visitor answered ${want} in 200 tries at 50 %`);
}

const results = {};

/** Loads that run fewer requests (the beacon writes 10 events to KV per request). */
const SCALE = { 'beacon x10': 0.2 };

async function measure(name, config, loads) {
  const w = await startWorker({ vars: VARS, state: `bench-cpu-${name.split(' ')[0]}`, config });
  try {
    const pid = workerProcess(w.pid);
    for (const [label, setup] of Object.entries(loads)) {
      const make = await setup(w.url);
      const n = Math.round(REQUESTS * (SCALE[label] ?? 1));
      await load(pid, Math.min(WARMUP, n), make);
      const runs = [];
      for (let r = 0; r < RUNS; r++) runs.push(await load(pid, n, make));
      const cpu = runs.map((x) => x.cpuPerReqUs);
      const res = {
        min: Math.min(...cpu), median: median(cpu), spread: (Math.max(...cpu) - Math.min(...cpu)) / median(cpu),
        rps: median(runs.map((x) => x.rps)), p50: median(runs.map((x) => x.p50)), p99: median(runs.map((x) => x.p99)),
        statuses: [...runs[0].statuses].map(([s, n]) => `${s}x${n}`).join(' '),
      };
      results[`${name}/${label}`] = res;
      console.log(`  ${name.padEnd(12)} ${label.padEnd(16)} CPU ${res.median.toFixed(0).padStart(5)} µs/req (min ${res.min.toFixed(0)}, spread ${(res.spread * 100).toFixed(0)} %)  ${res.rps.toFixed(0).padStart(5)} req/s  p50 ${res.p50.toFixed(2)} ms  p99 ${res.p99.toFixed(2)} ms  [${res.statuses}]`);
    }
  } finally {
    await w.stop();
  }
}

const get = (url, headers = {}) => () => ({ url, init: { headers } });
const gated = {
  'returning pilot': async (url) => get(`${url}/try`, { cookie: await cookiesOf(url, 200) }),
  'fresh visitor': async (url) => get(`${url}/try`),
  'control redirect': async (url) => get(`${url}/try`, { cookie: await cookiesOf(url, 302) }),
};

console.log(`CPU of the workerd that runs each worker: ${RUNS} runs of ${REQUESTS} sequential requests on one connection after ${WARMUP} warm-up requests; rollout 50 %`);
await measure('a bare', path.join(ROOT, 'bench/bare/wrangler.toml'), { 'fixed response': async (url) => get(`${url}/`) });
await measure('a2 assets', path.join(ROOT, 'bench/bare-assets/wrangler.toml'), { 'try.html': async (url) => get(`${url}/try`) });
await measure('b js-gate', path.join(ROOT, 'bench/js-gate/wrangler.toml'), gated);
await measure('c pilot-gate', undefined, {
  ...gated,
  'beacon x10': async (url) => (i) => ({
    url: `${url}/api/events`,
    init: {
      method: 'POST',
      headers: { 'content-type': 'application/json', 'user-agent': `bench-${i % 1000}` },
      body: JSON.stringify(Array.from({ length: 10 }, (_, k) => ({ v: 1, id: `bench-${Date.now()}-${i}-${k}`, name: 'bench', ts: Date.now() }))),
    },
  }),
});

const floor = results['a2 assets/try.html'].median;
console.log('\nthe gate\'s own CPU over the assets floor (a2), median µs per request:');
for (const label of Object.keys(gated)) {
  const b = results[`b js-gate/${label}`].median - floor;
  const c = results[`c pilot-gate/${label}`].median - floor;
  const ratio = results[`c pilot-gate/${label}`].median / results[`b js-gate/${label}`].median;
  console.log(`  ${label.padEnd(16)} c - a2 ${c.toFixed(0).padStart(5)} µs   b - a2 ${b.toFixed(0).padStart(5)} µs   c / b ${ratio.toFixed(2)}`);
}
const beacon = results['c pilot-gate/beacon x10'];
console.log(`  beacon: ${(beacon.median / 10).toFixed(0)} µs CPU per accepted event (10-event requests; includes the queue consumer in the same workerd)`);

const wasm = readFileSync(path.join(ROOT, 'build/index_bg.wasm'));
const compile = [];
for (let i = 0; i < 5; i++) {
  const t = performance.now();
  await WebAssembly.compile(wasm);
  compile.push(performance.now() - t);
}
console.log(`\nrelease wasm ${wasm.length} bytes; WebAssembly.compile ${median(compile).toFixed(1)} ms (median of 5, min ${Math.min(...compile).toFixed(1)} ms, Node ${process.version})`);
agent.destroy();
