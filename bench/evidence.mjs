// Evidence at scale: the admin reads and commands answered after 10^3 and after 10^6 exposed
// visitors of one flag, printed side by side, and the evidence object's storage per 10^6
// visitors. One `wrangler dev` with faults enabled (PILOT_GATE_FAULTS=true): the visitors' exposures are
// sent to the evidence queue as the edge would send them (256 sightings per message, through
// `POST /api/admin/faults` `enqueue`), so the real consumer and the flag's evidence object
// count them; pilot sits at 50 %, the arms alternate; each size is counted in a window of its
// own (the kills of the first measurement start a new one). Measured at each size, medians of
// BENCH_EVIDENCE_REPEATS (default 15) sequential calls:
//   - GET /metrics (the control plane reads every flag's figures from its evidence object)
//   - GET /api/admin/stats/pilot (the evidence object evaluates every guard over the window)
//   - pause + resume of pilot (each answer waits for the evidence's guard check of the new
//     watch: the guard check as a command sees it)
//   - kill + unkill (answered without waiting for any evidence)
// Loopback only, bounded in count. Run through scripts/bench (BENCH_EVIDENCE_UNITS changes
// the large size; default 1,000,000); asserts nothing.
import { METRICS_TOKEN, admin, startWorker } from '../scripts/lib/local.mjs';

const SMALL = 1_000;
const LARGE = Number(process.env.BENCH_EVIDENCE_UNITS || 1_000_000);
const REPEATS = Number(process.env.BENCH_EVIDENCE_REPEATS || 15);
const PER_MESSAGE = 256;
const CONCURRENCY = 8;

const median = (xs) => [...xs].sort((a, b) => a - b)[Math.floor(xs.length / 2)];
const ms = (x) => `${x.toFixed(1)} ms`;

async function timed(fn) {
  const t0 = performance.now();
  await fn();
  return performance.now() - t0;
}

async function must(promise, what) {
  const r = await promise;
  if (r.status !== 200) throw new Error(`${what}: ${r.status} ${JSON.stringify(r.body)}`);
  return r.body;
}

/** Exposed visitors of pilot, both arms, as its evidence counts them. */
async function exposed(url) {
  const arms = (await must(admin(url, 'GET', '/stats/pilot'), 'stats')).arms ?? {};
  return Object.values(arms).reduce((n, a) => n + a.exposures, 0);
}

/** Sends `count` new visitors of pilot (ids from `first`) to the evidence queue, under the
 *  flag set's current revision, then waits until pilot's window counts them. */
async function expose(url, first, count) {
  const t0 = Date.now();
  const { revision } = await must(admin(url, 'GET', '/status'), 'status');
  const minute = Math.floor(Date.now() / 60_000);
  const to = first + count;
  let next = first;
  let lastReport = Date.now();
  const sender = async () => {
    while (next < to) {
      const start = next;
      next = Math.min(to, next + PER_MESSAGE);
      const sightings = [];
      for (let u = start; u < next; u++) {
        sightings.push({ k: { f: 'pilot', v: u % 2 ? 'on' : 'off', u: u + 1, m: minute, r: revision } });
      }
      await must(admin(url, 'POST', '/faults', { body: { fault: 'enqueue', queue: 'evidence', body: JSON.stringify(sightings) } }), 'enqueue');
      if (Date.now() - lastReport > 10_000) {
        lastReport = Date.now();
        console.log(`    sent ${(next - first).toLocaleString('en')} of ${count.toLocaleString('en')} visitors`);
      }
    }
  };
  await Promise.all(Array.from({ length: CONCURRENCY }, sender));
  for (;;) {
    const n = await exposed(url);
    if (n >= count) break;
    if (Date.now() - lastReport > 10_000) {
      lastReport = Date.now();
      console.log(`    counted ${n.toLocaleString('en')} of ${count.toLocaleString('en')}`);
    }
    await new Promise((r) => setTimeout(r, 1000));
  }
  const s = (Date.now() - t0) / 1000;
  console.log(`    ${count.toLocaleString('en')} visitors counted in ${s.toFixed(0)} s (${Math.round(count / s).toLocaleString('en')} per second)`);
}

async function storageBytes(url) {
  const res = await fetch(`${url}/metrics`, { headers: { authorization: `Bearer ${METRICS_TOKEN}` } });
  const line = (await res.text()).split('\n').find((l) => l.startsWith('pilot_gate_evidence_storage_bytes{flag="pilot"}'));
  return Number(line?.split(' ')[1]);
}

/** The medians at the current size. The reads and the pause first: a kill (and the unkill
 *  after it) starts a new window, which the reads would then see empty. */
async function measure(url) {
  const runs = { metrics: [], stats: [], guardCheck: [], kill: [] };
  for (let i = 0; i < REPEATS; i++) {
    runs.metrics.push(await timed(async () => {
      const res = await fetch(`${url}/metrics`, { headers: { authorization: `Bearer ${METRICS_TOKEN}` } });
      if (res.status !== 200) throw new Error(`/metrics: ${res.status}`);
      await res.text();
    }));
    runs.stats.push(await timed(() => must(admin(url, 'GET', '/stats/pilot'), 'stats')));
    runs.guardCheck.push(await timed(() => must(admin(url, 'POST', '/flags/pilot/pause', { body: {} }), 'pause')));
    await must(admin(url, 'POST', '/flags/pilot/resume', { body: {} }), 'resume');
  }
  const storage = await storageBytes(url);
  for (let i = 0; i < REPEATS; i++) {
    runs.kill.push(await timed(() => must(admin(url, 'POST', '/kill', { body: { reason: 'bench' } }), 'kill')));
    await must(admin(url, 'POST', '/unkill', { body: {} }), 'unkill');
  }
  const out = Object.fromEntries(Object.entries(runs).map(([k, v]) => [k, median(v)]));
  return { ...out, storage };
}

const w = await startWorker({ state: `bench-evidence-${process.pid}`, vars: { FLAGS_CACHE_S: '1', PILOT_GATE_FAULTS: 'true' }, flags: 'flags/demo.json' });
// Interrupted (Ctrl-C, or a timeout's SIGTERM): the worker's process group goes too.
for (const signal of ['SIGINT', 'SIGTERM']) {
  process.once(signal, async () => {
    await w.stop();
    process.exit(130);
  });
}
try {
  for (;;) {
    const f = await must(admin(w.url, 'GET', '/flags/pilot'), 'flag');
    if (f.pct >= 50) break;
    await must(admin(w.url, 'POST', '/flags/pilot/advance', { body: { force: true, reason: 'bench' } }), 'advance');
  }
  console.log(`  ${SMALL.toLocaleString('en')} visitors:`);
  await expose(w.url, 0, SMALL);
  const small = await measure(w.url);
  // The kills started a new window: the large one is counted in it, from the start.
  console.log(`  ${LARGE.toLocaleString('en')} visitors:`);
  await expose(w.url, SMALL, LARGE);
  const large = await measure(w.url);
  const rows = [
    ['GET /metrics', small.metrics, large.metrics],
    ['GET /api/admin/stats/pilot (every guard)', small.stats, large.stats],
    ['pause (waits for the guard check)', small.guardCheck, large.guardCheck],
    ['kill', small.kill, large.kill],
  ];
  console.log(`\n  median of ${REPEATS}          after ${SMALL.toLocaleString('en')}   after ${LARGE.toLocaleString('en')}   ratio`);
  for (const [name, a, b] of rows) {
    console.log(`  ${name.padEnd(42)} ${ms(a).padStart(9)} ${ms(b).padStart(12)}   ${(b / a).toFixed(2)}x`);
  }
  const perUnit = (large.storage - small.storage) / LARGE;
  console.log(`  evidence storage: ${small.storage.toLocaleString('en')} bytes at ${SMALL.toLocaleString('en')}, ${large.storage.toLocaleString('en')} at ${LARGE.toLocaleString('en')}: ${perUnit.toFixed(0)} bytes per visitor, ${perUnit.toFixed(0)} MB per 10^6 visitors (an object holds 10 GB)`);
} finally {
  await w.stop();
}
