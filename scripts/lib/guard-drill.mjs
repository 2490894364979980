// The guard drills: synthetic visitors of both arms of `pilot` send page views, and errors at
// `ratio` times control's rate in the pilot arm (rollback drill) or at the same rate (A/A
// drill), through the real beacon. They measure the time from the first bad minute to the
// automatic rollback and to every pilot visitor redirected, or show that no rollback happens.
// Used by `scripts/drill rollback|aa`.

import { CookieJar, postEvents, visit } from '../../tests/e2e/harness.mjs';
import { adminOk as admin } from './drill.mjs';

const sleep = (ms) => new Promise((r) => setTimeout(r, ms));

/** A synthetic visitor: its own cookies and its own User-Agent (so the rate limit is its own). */
function visitor(i) {
  const jar = new CookieJar();
  jar.ua = `drill-visitor-${i}`;
  return jar;
}

/** GET `/try` as `jar`; resolves to the status. */
async function tryPage(url, jar) {
  return (await visit(`${url}/try`, jar, { 'user-agent': jar.ua })).status;
}

/**
 * Runs a drill against a worker whose `/try` is gated by `pilot`. `ratio` is the pilot's error
 * rate over control's (1 for A/A). Each arm sends `viewsPerS` page views per second; control's
 * error rate is `baseErrorRate`. Stops at the automatic rollback (then measures until every
 * pilot visitor is redirected) or after `maxMinutes`.
 */
export async function guardDrill({
  url, token, ratio, viewsPerS = 10, baseErrorRate = 0.02, maxMinutes = 5, visitorsPerArm = 60,
  cacheS = 30, log = () => {},
}) {
  // pilot at 50 %, a fresh tier, so the comparative test starts from zero.
  const plan = await admin(url, token, 'GET', '/flags/pilot');
  if (plan.plan.status !== 'active' && plan.plan.status !== 'complete') {
    await admin(url, token, 'POST', '/flags/pilot/start', { reason: 'drill' });
  }
  let current = await admin(url, token, 'GET', '/flags/pilot');
  while (current.pct < 50) {
    current = await admin(url, token, 'POST', '/flags/pilot/advance', { force: true, reason: 'drill: to 50 %' });
  }
  log(`pilot at tier ${current.plan.tier} (${current.pct} %); waiting ${cacheS} s for the edge's flag cache`);
  await sleep(cacheS * 1000 + 500);
  const arms = { on: [], off: [] };
  for (let i = 0; arms.on.length < visitorsPerArm || arms.off.length < visitorsPerArm; i++) {
    if (i > 20 * visitorsPerArm) throw new Error('pilot does not split: is it at 50 %?');
    const v = visitor(i);
    const arm = (await tryPage(url, v)) === 200 ? 'on' : 'off';
    if (arms[arm].length < visitorsPerArm) arms[arm].push(v);
  }
  log(`${visitorsPerArm} visitors per arm; ${viewsPerS} page views/s per arm; errors ${baseErrorRate} (control) and ${baseErrorRate * ratio} (pilot)`);
  const t0 = Date.now();
  let sent = 0;
  let errors = { on: 0, off: 0 };
  let rolledBackMs = null;
  let entry = null;
  let next = 0;
  const deadline = t0 + maxMinutes * 60_000;
  const watch = (async () => {
    while (rolledBackMs === null && Date.now() < deadline) {
      await sleep(500);
      const f = await admin(url, token, 'GET', '/flags/pilot');
      if (f.plan.status === 'rolled_back') {
        rolledBackMs = Date.now() - t0;
        [entry] = (await admin(url, token, 'GET', '/audit?flag=pilot&limit=1')).entries;
      }
    }
  })();
  while (rolledBackMs === null && Date.now() < deadline) {
    const second = Date.now();
    const sends = [];
    for (const arm of ['on', 'off']) {
      const rate = arm === 'on' ? baseErrorRate * ratio : baseErrorRate;
      for (let k = 0; k < viewsPerS; k++) {
        const v = arms[arm][next++ % visitorsPerArm];
        const events = [{ v: 1, id: crypto.randomUUID(), name: 'page_view', ts: Date.now() }];
        if (Math.random() < rate) {
          events.push({ v: 1, id: crypto.randomUUID(), name: 'error', ts: Date.now(), props: { message: 'drill' } });
          errors[arm] += 1;
        }
        sends.push(postEvents(url, v, events));
      }
    }
    const statuses = await Promise.all(sends);
    sent += statuses.filter((s) => s === 202).length;
    await sleep(Math.max(0, 1000 - (Date.now() - second)));
  }
  await watch;
  const stats = await admin(url, token, 'GET', '/stats/pilot');
  const comparative = stats.guards.find((g) => g.guard === 'comparative') ?? null;
  const result = { ratio, sent, errors, seconds: (Date.now() - t0) / 1000, rolledBackMs, entry, redirectedMs: null, comparative };
  if (rolledBackMs !== null) {
    // Every pilot visitor redirected: the edge's cache decides how long after the rollback.
    for (;;) {
      const statuses = await Promise.all(arms.on.map((v) => tryPage(url, v)));
      if (statuses.every((s) => s === 302)) break;
      if (Date.now() - t0 > rolledBackMs + (cacheS + 30) * 1000) throw new Error('pilot visitors still served after the rollback');
      await sleep(250);
    }
    result.redirectedMs = Date.now() - t0;
  }
  return result;
}
