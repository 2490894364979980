// The kill-switch drill: gathers N pilot visitors (returning visitors with their own cookies,
// served the gated route), throws the kill switch, and measures how long until every one of
// them is redirected; then unkills and measures how long until every one is back, in the same
// cohort as before. Used by `scripts/drill kill` and by the end-to-end tests.

import { CookieJar, admin, pool, visit } from './local.mjs';

const UA = { 'user-agent': 'Mozilla/5.0 (X11; Linux x86_64) pilot-gate-drill' };

/** GET `path` as the visitor with cookie jar `jar`; resolves to the status. */
async function status(url, path, jar) {
  return (await visit(`${url}${path}`, jar, UA)).status;
}

/** An admin call as `scripts/drill` that must succeed; resolves to the answer's body. */
export async function adminOk(url, token, method, route, body) {
  const r = await admin(url, method, route, { body, token });
  if (r.status >= 400) throw new Error(`${method} ${route}: ${r.status} ${JSON.stringify(r.body)}`);
  return r.body;
}

/** Polls every visitor until `done(status)` holds for all; resolves to the ms it took. */
async function until(url, path, visitors, done, { timeoutMs, intervalMs = 100, concurrency }) {
  const t0 = performance.now();
  let pending = visitors;
  while (pending.length) {
    const statuses = await pool(pending, concurrency, (v) => status(url, path, v.jar));
    pending = pending.filter((_, i) => !done(statuses[i]));
    const elapsed = performance.now() - t0;
    if (pending.length && elapsed > timeoutMs) {
      throw new Error(`${pending.length} of ${visitors.length} visitors still not switched after ${Math.round(elapsed)} ms`);
    }
    if (pending.length) await new Promise((r) => setTimeout(r, intervalMs));
  }
  return performance.now() - t0;
}

/**
 * The drill against a running worker whose `gatedPath` is gated by `pilot`.
 * Returns { visitors, visits, killMs, unkillMs, sameCohorts }.
 */
export async function killDrill({ url, token, visitors: want = 200, gatedPath = '/try', timeoutMs = 120_000, concurrency = 16, log = () => {} }) {
  const pilots = [];
  let visits = 0;
  while (pilots.length < want) {
    const batch = Array.from({ length: Math.max(50, want - pilots.length) }, () => ({ jar: new CookieJar() }));
    const statuses = await pool(batch, concurrency, (v) => status(url, gatedPath, v.jar));
    visits += batch.length;
    batch.forEach((v, i) => { if (statuses[i] === 200 && pilots.length < want) pilots.push(v); });
    if (visits >= 100 * want) throw new Error(`only ${pilots.length} pilot visitors in ${visits} visits: is pilot rolled out?`);
  }
  for (const v of pilots) v.cohort = v.jar.get('pilot_cohort');
  log(`${pilots.length} pilot visitors found in ${visits} fresh visits`);
  await adminOk(url, token, 'POST', '/kill', { reason: 'scripts/drill kill: kill-switch drill' });
  const killMs = await until(url, gatedPath, pilots, (s) => s === 302, { timeoutMs, concurrency });
  log(`kill: every one of the ${pilots.length} visitors redirected after ${Math.round(killMs)} ms`);
  await adminOk(url, token, 'POST', '/unkill', { reason: 'scripts/drill kill: drill over' });
  const unkillMs = await until(url, gatedPath, pilots, (s) => s === 200, { timeoutMs, concurrency });
  const sameCohorts = pilots.every((v) => v.jar.get('pilot_cohort') === v.cohort);
  log(`unkill: every one served again after ${Math.round(unkillMs)} ms; same cohorts: ${sameCohorts}`);
  return { visitors: pilots.length, visits, killMs, unkillMs, sameCohorts };
}
