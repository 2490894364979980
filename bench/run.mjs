// Benchmark driver: the same wrk load on three workers under the same workerd (wrangler dev),
// in turn: (a) bare JS floor, (b) the gate in plain JS, (c) pilot-gate. Prints figures and
// ratios; asserts nothing. Loopback only, bounded in time. Run through scripts/bench.
import { execFileSync } from 'node:child_process';
import path from 'node:path';

import { CookieJar, ROOT, startWorker, visit } from '../tests/e2e/harness.mjs';

const DURATION_S = Number(process.env.BENCH_DURATION_S || 5);
const REPEATS = Number(process.env.BENCH_REPEATS || 3);
const CONNECTIONS = Number(process.env.BENCH_CONNECTIONS || 8);
const VARS = { PILOT_ROLLOUT_PCT: '0.5' };

/** Runs wrk and returns { rps, p50_ms, p99_ms, non2xx3xx }. */
function wrk(url, headers = {}, durationS = DURATION_S) {
  const args = ['-t1', `-c${CONNECTIONS}`, `-d${durationS}s`, '--latency', '--timeout', '5s'];
  for (const [k, v] of Object.entries(headers)) args.push('-H', `${k}: ${v}`);
  const out = execFileSync('wrk', [...args, url], { encoding: 'utf8' });
  const ms = (v, unit) => Number(v) * { us: 0.001, ms: 1, s: 1000 }[unit];
  const pct = (p) => {
    const m = new RegExp(`^\\s*${p}%\\s+([\\d.]+)(us|ms|s)`, 'm').exec(out);
    return m ? ms(m[1], m[2]) : NaN;
  };
  const bad = /Non-2xx or 3xx responses: (\d+)/.exec(out);
  return {
    rps: Number(/Requests\/sec:\s+([\d.]+)/.exec(out)?.[1] ?? NaN),
    p50_ms: pct(50),
    p99_ms: pct(99),
    non2xx3xx: bad ? Number(bad[1]) : 0,
  };
}

/** Cookies of a returning pilot visitor of the worker at `url`. */
async function pilotCookies(url) {
  for (let i = 0; i < 200; i++) {
    const jar = new CookieJar();
    const res = await visit(`${url}/try`, jar);
    if (res.status === 200) return jar.header();
  }
  throw new Error('no pilot visitor in 200 tries at 50 %');
}

async function measure(name, config, runs) {
  const w = await startWorker({ vars: VARS, state: `bench-${name}`, config });
  try {
    const out = {};
    for (const [label, makeReq] of Object.entries(runs)) {
      const { url, headers } = await makeReq(w.url);
      wrk(url, headers, 2); // warm-up, discarded
      // The machine is small and shared with wrk: take the run with the median req/s.
      const runs = Array.from({ length: REPEATS }, () => wrk(url, headers)).sort((x, y) => x.rps - y.rps);
      out[label] = runs[Math.floor(runs.length / 2)];
      const r = out[label];
      console.log(`  ${name.padEnd(11)} ${label.padEnd(15)} ${r.rps.toFixed(0).padStart(7)} req/s  p50 ${r.p50_ms.toFixed(2)} ms  p99 ${r.p99_ms.toFixed(2)} ms${r.non2xx3xx ? `  (${r.non2xx3xx} non-2xx/3xx!)` : ''}`);
    }
    return out;
  } finally {
    await w.stop();
  }
}

const gatedRuns = {
  'returning pilot': async (url) => ({ url: `${url}/try`, headers: { Cookie: await pilotCookies(url) } }),
  'fresh visitors': async (url) => ({ url: `${url}/try`, headers: {} }),
};

console.log(`wrk: 1 thread, ${CONNECTIONS} connections; median of ${REPEATS} runs of ${DURATION_S} s after a 2 s warm-up; rollout 50 %`);
const a = await measure('a bare', path.join(ROOT, 'bench/bare/wrangler.toml'), {
  'fixed response': async (url) => ({ url: `${url}/`, headers: {} }),
});
const b = await measure('b js-gate', path.join(ROOT, 'bench/js-gate/wrangler.toml'), gatedRuns);
const c = await measure('c pilot-gate', undefined, gatedRuns);

const floor = a['fixed response'].rps;
console.log('\nratios (req/s):');
for (const label of Object.keys(gatedRuns)) {
  const cr = c[label].rps;
  console.log(`  ${label.padEnd(15)} c/a ${(cr / floor).toFixed(2)}   c/b ${(cr / b[label].rps).toFixed(2)}`);
}
