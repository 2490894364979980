// `scripts/drill kill`: see scripts/drill. Prints the figures; exits 1 when the goal (every
// visitor redirected within FLAGS_CACHE_S + 1 s, all back in the same cohorts) is missed.
import { importFlagSet, startWorker, ADMIN_TOKEN } from '../../tests/e2e/harness.mjs';
import { killDrill } from './drill.mjs';
import { secret } from './secrets.mjs';

const args = process.argv.slice(2);
const opt = (name, fallback) => {
  const i = args.indexOf(name);
  return i >= 0 && i + 1 < args.length ? args[i + 1] : fallback;
};
const visitors = Number(opt('--visitors', '200'));
const cacheS = Number(opt('--cache-s', '30'));
const target = opt('--url');
if (!Number.isInteger(visitors) || visitors < 1 || !Number.isInteger(cacheS) || cacheS < 1) {
  console.error('drill: --visitors and --cache-s take whole numbers >= 1');
  process.exit(2);
}
if (target && !args.includes('--yes')) {
  console.error(`drill: this kills and then unkills every flag of ${target}; pass --yes to go on`);
  process.exit(2);
}
const log = (m) => console.log(`drill: ${m}`);
let worker;
try {
  if (!target) {
    log(`starting wrangler dev (FLAGS_CACHE_S=${cacheS}, fresh state, flags/demo.json)`);
    worker = await startWorker({ state: `drill-${process.pid}`, vars: { FLAGS_CACHE_S: String(cacheS) }, flags: 'flags/demo.json' });
  }
  const url = target ?? worker.url;
  const token = target ? secret('ADMIN_TOKEN') : ADMIN_TOKEN;
  const r = await killDrill({ url, token, visitors, log });
  const goalMs = cacheS * 1000 + 1000;
  console.log(`kill -> all ${r.visitors} redirected: ${Math.round(r.killMs)} ms (goal < ${goalMs} ms: ${r.killMs < goalMs ? 'met' : 'NOT MET'})`);
  console.log(`unkill -> all served again: ${Math.round(r.unkillMs)} ms; same cohorts: ${r.sameCohorts ? 'yes' : 'NO'}`);
  process.exitCode = r.killMs < goalMs && r.sameCohorts ? 0 : 1;
} catch (e) {
  console.error(`drill: ${e.message}`);
  process.exitCode = 1;
} finally {
  await worker?.stop();
}
