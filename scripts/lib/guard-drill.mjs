// The guard drills: every second, fresh synthetic visitors of both arms of `pilot` arrive on
// `/try` (the edge records each one's exposure) and some of them hit an error: pilot visitors
// at `ratio` times control's rate (rollback drill) or at the same rate (A/A drill). An error is
// a client `error` event through the real beacon, or (`serverErrors`) nothing the browser sends
// at all: the origin answers the pilot's request with a 500, which the edge records. Each
// visitor comes from a network of its own (its `CF-Connecting-IP`), as real ones do: client
// evidence counts one visitor per network. Server errors roll the pilot back; client-reported
// errors may only pause it. The drill measures the time from the first bad minute to the
// automatic action (and, for a rollback, to every pilot visitor redirected), or shows that none
// happens. Used by `scripts/drill rollback|aa`.

import { CookieJar, addressOf, postEvents, visit } from './local.mjs';
import { adminOk as admin } from './drill.mjs';

const sleep = (ms) => new Promise((r) => setTimeout(r, ms));

let seq = 0;
/** A fresh synthetic visitor: its own cookies, User-Agent and network. */
function visitor() {
  const jar = new CookieJar();
  jar.ua = `drill-visitor-${process.pid}-${seq}`;
  jar.ip = addressOf(seq++);
  return jar;
}

/** GET `/try` as `jar` (with `headers`); resolves to the status. */
async function tryPage(url, jar, headers = {}) {
  return (await visit(`${url}/try`, jar, { 'user-agent': jar.ua, ...headers })).status;
}

/**
 * Runs a drill against a worker whose `/try` is gated by `pilot`. `ratio` is the pilot's error
 * share over control's (1 for A/A); each arm gets `visitorsPerS` new visitors a second, and
 * `baseErrorRate` of control's hit an error. With `serverErrors`, a pilot visitor's error is
 * its request of `/try` sent with `x-drill-fail: 1`, which the drill's origin answers with a
 * 500 (the worker must pass `/try` through to that origin); control visitors never reach the
 * origin. Stops at the automatic action, a rollback or a pause (after a rollback it measures
 * until every pilot visitor is redirected), or after `maxMinutes`.
 */
export async function guardDrill({
  url, token, ratio, visitorsPerS = 10, baseErrorRate = 0.02, maxMinutes = 5, cacheS = 30,
  serverErrors = false, log = () => {},
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
  const kind = serverErrors ? 'server errors (the origin answers 500)' : 'client error events';
  const pilotRate = Math.min(1, baseErrorRate * ratio);
  log(`${visitorsPerS} new visitors/s per arm; ${kind} for ${baseErrorRate} of control's and ${pilotRate} of the pilot's`);
  const t0 = Date.now();
  const counts = { on: 0, off: 0 };
  const errors = { on: 0, off: 0 };
  const served = [];
  let actedMs = null;
  let action = null;
  let entry = null;
  const deadline = t0 + maxMinutes * 60_000;
  const watch = (async () => {
    while (actedMs === null && Date.now() < deadline) {
      await sleep(500);
      const f = await admin(url, token, 'GET', '/flags/pilot');
      if (f.plan.status === 'rolled_back' || f.plan.status === 'paused') {
        actedMs = Date.now() - t0;
        action = f.plan.status === 'paused' ? 'pause' : 'rollback';
        [entry] = (await admin(url, token, 'GET', '/audit?flag=pilot&limit=1')).entries;
      }
    }
  })();
  // Errors come at exact shares, not random draws: each arm's (or, for the origin, every
  // visitor's) share accumulates and a visitor errs when it passes a whole one. The drill shows
  // how fast the guards act on a known difference; the host simulations measure their chance
  // behaviour.
  const rate = { on: pilotRate, off: baseErrorRate };
  const due = { on: 0, off: 0, origin: 0 };
  const errs = (key, share) => {
    due[key] += share;
    if (due[key] < 1) return false;
    due[key] -= 1;
    return true;
  };
  const arrive = async () => {
    const v = visitor();
    const failOrigin = serverErrors && errs('origin', pilotRate);
    const status = await tryPage(url, v, failOrigin ? { 'x-drill-fail': '1' } : {});
    const arm = status === 302 ? 'off' : 'on';
    counts[arm] += 1;
    if (arm === 'on') served.push(v);
    if (serverErrors) {
      if (failOrigin && arm === 'on') errors.on += 1; // the origin's 500 (control never reaches it)
      return;
    }
    if (!errs(arm, rate[arm])) return;
    errors[arm] += 1;
    await postEvents(url, v, [{ v: 1, id: crypto.randomUUID(), name: 'error', ts: Date.now(), props: { message: 'drill' } }]);
  };
  while (actedMs === null && Date.now() < deadline) {
    const second = Date.now();
    // About visitorsPerS of each arm at 50 %.
    await Promise.all(Array.from({ length: 2 * visitorsPerS }, arrive));
    await sleep(Math.max(0, 1000 - (Date.now() - second)));
  }
  await watch;
  const stats = await admin(url, token, 'GET', '/stats/pilot');
  const guard = (name) => stats.guards.find((g) => g.guard === name) ?? null;
  const result = {
    ratio, serverErrors, visitors: counts, errors, seconds: (Date.now() - t0) / 1000, actedMs, action, entry,
    redirectedMs: null, comparative: guard('comparative'), breaker: guard('breaker'),
  };
  if (action === 'rollback') {
    // Every pilot visitor redirected: the edge's cache decides how long after the rollback.
    const sample = served.slice(-100);
    for (;;) {
      const statuses = await Promise.all(sample.map((v) => tryPage(url, v)));
      if (statuses.every((s) => s === 302)) break;
      if (Date.now() - t0 > actedMs + (cacheS + 30) * 1000) throw new Error('pilot visitors still served after the rollback');
      await sleep(250);
    }
    result.redirectedMs = Date.now() - t0;
  }
  return result;
}
