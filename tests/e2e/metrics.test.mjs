// End-to-end tests of metrics that the flag set defines (crates/core/tests/flags/sets/metrics.json), against
// `wrangler dev`: a `checkout` proportion (checkout_completed among checkout_started) with a
// relative guardrail that rolls back, and a TTV quantile with the launch runbook's absolute
// guardrail ("p90 above 5 s: step back"). Many visitors whose pilot arm completes far less often
// trip the first; one visitor sending the same pattern many times is one unit and trips nothing;
// slow pilot TTVs step the second back to tier 1. /metrics is read by prometheus_client.
import assert from 'node:assert/strict';
import { after, before, describe, test } from 'node:test';

import { admin, ev, metrics, pool, postEvents, sample, sleep, startWorker, until, visitor, visitorHeaders } from './harness.mjs';

const FLAGS = 'crates/core/tests/flags/sets/metrics.json';

/** A visitor exposed to every flag through /api/config: its jar and its arm of `flag`. */
async function exposed(url, flag) {
  const jar = visitor();
  const res = await fetch(`${url}/api/config`, { headers: visitorHeaders(jar) });
  jar.store(res);
  const config = await res.json();
  return { jar, arm: config[flag] ? 'on' : 'off' };
}

/** Visitors until each arm of `flag` has `perArm`. */
async function arms(url, flag, perArm) {
  const out = { on: [], off: [] };
  for (let i = 0; out.on.length < perArm || out.off.length < perArm; i++) {
    if (i > 20 * perArm) throw new Error(`${flag} does not split`);
    const v = await exposed(url, flag);
    if (out[v.arm].length < perArm) out[v.arm].push(v.jar);
  }
  return out;
}

describe('metrics the flag set defines', () => {
  let w;
  before(async () => {
    w = await startWorker({ state: `metrics-${process.pid}`, vars: { FLAGS_CACHE_S: '1' }, flags: FLAGS });
  });
  after(async () => { await w?.stop(); });

  test('one visitor sending the drop pattern a hundred times is one unit: nothing acts', async () => {
    const { jar, arm } = await exposed(w.url, 'checkout_v2');
    for (let i = 0; i < 10; i++) {
      const batch = Array.from({ length: 10 }, () => ev('checkout_started'));
      assert.equal(await postEvents(w.url, jar, batch), 202);
    }
    const stats = await until(async () => {
      const r = await admin(w.url, 'GET', '/stats/checkout_v2');
      return r.body.arms?.[arm]?.metrics.checkout.units === 1 ? r.body : null;
    }, 'the visitor counted');
    await sleep(2000);
    const again = (await admin(w.url, 'GET', '/stats/checkout_v2')).body;
    assert.deepEqual(again.arms[arm].metrics.checkout, stats.arms[arm].metrics.checkout, 'counted once');
    assert.deepEqual([stats.arms[arm].metrics.checkout.hits, stats.arms[arm].metrics.checkout.standing], [0, 'red']);
    const rail = again.guards.find((g) => g.guard === 'guardrail:checkout');
    assert.equal(rail.state, 'undecided', JSON.stringify(rail));
    assert.equal((await admin(w.url, 'GET', '/flags/checkout_v2')).body.plan.status, 'active');
    // /metrics carries the configured metric, its units and its thresholds.
    const families = await metrics(w.url);
    const l = { flag: 'checkout_v2', variant: arm, metric: 'checkout' };
    assert.equal(sample(families, 'pilot_gate_metric_units', l), 1);
    assert.equal(sample(families, 'pilot_gate_metric_value', l), 0);
    assert.equal(sample(families, 'pilot_gate_metric_standing', { ...l, standing: 'red' }), 1);
    assert.equal(sample(families, 'pilot_gate_metric_goal', { metric: 'checkout', op: '>=' }), 0.6);
    assert.equal(sample(families, 'pilot_gate_event_units', { flag: 'checkout_v2', variant: arm, name: 'checkout_started' }), 1);
  });

  test('many visitors whose pilot arm completes far less often: the guardrail pauses (client-reported evidence may not roll back)', async () => {
    const perArm = 60;
    const visitors = await arms(w.url, 'checkout_v2', perArm);
    const rates = { on: 0.3, off: 0.9 };
    await pool([...visitors.on.map((j, n) => ['on', j, n]), ...visitors.off.map((j, n) => ['off', j, n])], 8, async ([arm, jar, n]) => {
      const batch = [ev('page_view'), ev('checkout_started')];
      if (n < rates[arm] * perArm) batch.push(ev('checkout_completed'));
      assert.equal(await postEvents(w.url, jar, batch), 202);
    });
    const flag = await until(async () => {
      const r = await admin(w.url, 'GET', '/flags/checkout_v2');
      return r.body.plan.status !== 'active' ? r.body : null;
    }, 'the pause');
    assert.equal(flag.plan.status, 'paused', 'its plan says rollback; the evidence is client-reported');
    assert.equal(flag.plan.tier, 2);
    const [entry] = (await admin(w.url, 'GET', '/audit?flag=checkout_v2&limit=1')).body.entries;
    assert.deepEqual([entry.actor, entry.action, entry.evidence.guard], ['guard', 'pause', 'guardrail:checkout']);
    assert.equal(entry.evidence.provenance, 'client');
    const { pilot, control, lnE, threshold } = entry.evidence.figures;
    assert.ok(pilot.trials >= 30 && control.trials >= 30 && lnE >= threshold, JSON.stringify(entry.evidence.figures));
    assert.ok(pilot.rate < 0.9 * control.rate);
    assert.match(entry.reason, /^guard guardrail:checkout tripped on client-reported evidence: checkout: pilot 0\.\d{4} \(\d+ of \d+\) vs control [01]\.\d{4} \(\d+ of \d+\), ln e = \d+\.\d{4} ≥ \d+\.\d{4} for more than 10 % below; client-reported only: paused, not rolled back$/);
  });

  test('pilot TTVs whose p90 is above 5 s from 30 networks: the guardrail steps back to tier 1 (its plan keeps the step back on client evidence)', async () => {
    // The guardrail reads the minute of each visitor's first exposure: start early in a minute
    // so that all 30 pilot visitors (30 networks, past the floor of 25) share one.
    const into = Date.now() % 60_000;
    if (into > 20_000) await sleep(60_000 - into + 500);
    const visitors = await arms(w.url, 'fast_path', 30);
    await pool([...visitors.on.map((j) => ['on', j]), ...visitors.off.map((j) => ['off', j])], 8, async ([arm, jar]) => {
      const ms = arm === 'on' ? 9_000 : 1_000;
      assert.equal(await postEvents(w.url, jar, [ev('ttv', { ms })]), 202);
    });
    const flag = await until(async () => {
      const r = await admin(w.url, 'GET', '/flags/fast_path');
      return r.body.plan.tier === 1 ? r.body : null;
    }, 'the step back', 90_000);
    assert.equal(flag.plan.status, 'active');
    const [entry] = (await admin(w.url, 'GET', '/audit?flag=fast_path&limit=1')).body.entries;
    assert.deepEqual([entry.actor, entry.action, entry.evidence.guard], ['guard', 'step_back', 'guardrail:ttv:p90']);
    assert.deepEqual(entry.evidence.action, { type: 'step_back', toTier: 1 });
    const { minutes, bound } = entry.evidence.figures;
    assert.equal(bound, 5000);
    assert.equal(minutes.length, 1);
    assert.ok(minutes[0].units >= 5 && Math.abs(minutes[0].value - 9000) <= 90, JSON.stringify(minutes));
    assert.match(entry.reason, /^guard guardrail:ttv:p90 tripped on client-reported evidence: ttv p90 above 5000 in each of the last 1 min: 9\d{3}\.\d{4} \(\d+ units\)$/);
  });
});
