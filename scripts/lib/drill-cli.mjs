// `scripts/drill kill|rollback|aa`: see scripts/drill. Prints the figures; exits 1 when a goal
// is missed (kill: every visitor redirected within FLAGS_CACHE_S + 1 s and all back in the same
// cohorts; rollback: the automatic rollback within 2 minutes; aa: no rollback).
import { startOrigin, startWorker, ADMIN_TOKEN } from './local.mjs';
import { killDrill } from './drill.mjs';
import { guardDrill } from './guard-drill.mjs';
import { secret } from './secrets.mjs';

const [kind, ...args] = process.argv.slice(2);
const opt = (name, fallback) => {
  const i = args.indexOf(name);
  return i >= 0 && i + 1 < args.length ? args[i + 1] : fallback;
};
const number = (name, fallback) => {
  const v = Number(opt(name, fallback));
  if (!(v > 0)) {
    console.error(`drill: ${name} takes a number above 0`);
    process.exit(2);
  }
  return v;
};
const cacheS = number('--cache-s', '30');
const target = opt('--url');
const serverErrors = args.includes('--server-errors');
if (serverErrors && (target || kind !== 'rollback')) {
  console.error('drill: --server-errors drills a local worker in front of its own origin: rollback only, without --url');
  process.exit(2);
}
if (target && !args.includes('--yes')) {
  console.error(`drill: this changes the flags of ${target}; pass --yes to go on`);
  process.exit(2);
}
const log = (m) => console.log(`drill: ${m}`);
const s = (ms) => `${(ms / 1000).toFixed(1)} s`;

async function kill(url, token) {
  const r = await killDrill({ url, token, visitors: number('--visitors', '200'), log });
  const goalMs = cacheS * 1000 + 1000;
  console.log(`kill -> all ${r.visitors} redirected: ${Math.round(r.killMs)} ms (goal < ${goalMs} ms: ${r.killMs < goalMs ? 'met' : 'NOT MET'})`);
  console.log(`unkill -> all served again: ${Math.round(r.unkillMs)} ms; same cohorts: ${r.sameCohorts ? 'yes' : 'NO'}`);
  return r.killMs < goalMs && r.sameCohorts;
}

async function guard(url, token, aa) {
  const r = await guardDrill({
    url, token, cacheS, log, serverErrors,
    ratio: aa ? 1 : number('--ratio', '3'),
    visitorsPerS: number('--visitors-per-s', '10'),
    maxMinutes: aa ? number('--minutes', '3') : 5,
  });
  console.log(`visitors in ${r.seconds.toFixed(0)} s: pilot ${r.visitors.on}, control ${r.visitors.off}; with an error: pilot ${r.errors.on}, control ${r.errors.off}`);
  const b = r.breaker;
  if (b) console.log(`breaker at the end: ${b.state}, ${b.figures.windowErrors} of ${b.figures.windowExposures} pilot visitors with an error (ln e = ${b.figures.lnE?.toFixed(3) ?? '-'}, rolls back at ${b.figures.threshold?.toFixed(3) ?? '-'})`);
  if (aa) {
    const c = r.comparative;
    if (c) console.log(`comparative guard at the end: ${c.state}, Λ = ${c.figures.lambda?.toFixed(3)} (acts at ${c.figures.upper.toFixed(3)}); over the window ${c.figures.windowLambda?.toFixed(3)}, the last ${c.figures.recentMin} min ${c.figures.recentLambda?.toFixed(3)} (healthy at ${c.figures.lower.toFixed(3)})`);
    console.log(`A/A: ${r.actedMs === null ? 'no action (goal: none): met' : `${r.action.toUpperCase()} after ${s(r.actedMs)}: NOT MET`}`);
    return r.actedMs === null;
  }
  // Server errors are edge-observed: a rollback. Client-reported errors may only pause.
  const want = serverErrors ? 'rollback' : 'pause';
  if (r.actedMs === null) {
    console.log(`${want}: none within 5 minutes: NOT MET`);
    return false;
  }
  console.log(`first bad minute -> automatic ${r.action}: ${s(r.actedMs)} (goal: a ${want} within 120 s: ${r.action === want && r.actedMs < 120_000 ? 'met' : 'NOT MET'})`);
  if (r.action === 'rollback') {
    console.log(`first bad minute -> every pilot visitor redirected: ${s(r.redirectedMs)} (FLAGS_CACHE_S = ${cacheS})`);
  }
  console.log(`evidence: ${r.entry?.reason}`);
  return r.action === want && r.actedMs < 120_000;
}

let worker;
let origin;
try {
  if (!target) {
    const vars = { FLAGS_CACHE_S: String(cacheS) };
    const extra = [];
    if (serverErrors) {
      origin = await startOrigin();
      vars.PASS_THROUGH = 'origin';
      extra.push('--local-upstream', origin.host);
      log(`origin on ${origin.host}: 500 for requests with x-drill-fail, else 200`);
    }
    log(`starting wrangler dev (FLAGS_CACHE_S=${cacheS}, fresh state, flags/demo.json)`);
    worker = await startWorker({ state: `drill-${kind}-${process.pid}`, vars, args: extra, flags: 'flags/demo.json' });
  }
  const url = target ?? worker.url;
  const token = target ? secret('ADMIN_TOKEN') : ADMIN_TOKEN;
  const ok = kind === 'kill' ? await kill(url, token) : await guard(url, token, kind === 'aa');
  process.exitCode = ok ? 0 : 1;
} catch (e) {
  console.error(`drill: ${e.message}`);
  process.exitCode = 1;
} finally {
  await worker?.stop();
  await origin?.stop();
}
