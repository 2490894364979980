// End-to-end tests of the statistics against `wrangler dev`: exposures that the edge records
// and events through the real beacon, queue and consumer reach the flag's evidence counted per
// visitor (duplicates and re-sends change nothing); the e2_primer guardrail falls back on a
// constructed pattern and not on an even one; /metrics read by Prometheus' own Python parser.
import assert from 'node:assert/strict';
import { after, before, describe, test } from 'node:test';

import { CookieJar, METRICS_TOKEN, addressOf, admin, ev, parseMetrics, pool, postEvents, sample, sleep, startWorker, until, visit } from './harness.mjs';

/** The exact nearest-rank quantile (the evidence's sketch answers within 1 % of it). */
function quantile(values, q) {
  const s = [...values].sort((a, b) => a - b);
  return s.length ? s[Math.max(1, Math.ceil(q * s.length)) - 1] : null;
}

describe('stats: the beacon to the aggregates, exactly', () => {
  let w;
  const sent = { on: { exposures: 0, errors: 0, ttv: [] }, off: { exposures: 0, errors: 0, ttv: [] } };
  let accepted = 0;
  before(async () => {
    w = await startWorker({ state: `stats-${process.pid}`, vars: { FLAGS_CACHE_S: '1' }, flags: 'flags/demo.json' });
    // pilot at 50 %, so both arms fill quickly.
    for (let i = 0; i < 2; i++) {
      const r = await admin(w.url, 'POST', '/flags/pilot/advance', { body: { force: true, reason: 'stats test' } });
      assert.equal(r.status, 200);
    }
    await sleep(1500);
  });
  after(async () => { await w?.stop(); });

  test('visitors are counted once per arm, whatever their duplicates and re-sends', async (t) => {
    const visitors = await pool(Array.from({ length: 60 }, (_, i) => i), 8, async (i) => {
      const jar = new CookieJar();
      jar.ua = `stats-visitor-${i}`;
      await visit(`${w.url}/try`, jar, { 'user-agent': jar.ua });
      const arm = jar.get('pilot_cohort') === 'pilot' ? 'on' : 'off';
      const batch = [ev('page_view'), ev('ttv', { ms: 300 + ((i * 137) % 4000) })];
      if (i % 4 === 0) batch.push(ev('error', { message: 'boom' }));
      if (i % 5 === 0) batch.push(ev('clicked_around'));
      const statuses = [await postEvents(w.url, jar, batch), await postEvents(w.url, jar, batch)]; // a client retry
      statuses.push(await postEvents(w.url, jar, [batch[0]])); // one event re-sent alone
      assert.deepEqual(statuses, [202, 202, 202]);
      return { arm, batch };
    });
    for (const { arm, batch } of visitors) {
      accepted += 3;
      sent[arm].exposures += 1;
      sent[arm].errors += batch.filter((e) => e.name === 'error').length;
      sent[arm].ttv.push(batch[1].props.ms);
    }
    t.diagnostic(`sent: ${JSON.stringify({ on: sent.on.exposures, off: sent.off.exposures })} visitors, each batch twice and one event a third time`);
    assert.ok(sent.on.exposures > 10 && sent.off.exposures > 10);
    const stats = await until(async () => {
      const r = await admin(w.url, 'GET', '/stats/pilot?window=1h');
      const a = r.body.arms ?? {};
      const n = (a.on?.exposures ?? 0) + (a.off?.exposures ?? 0);
      return n >= 60 ? r.body : null;
    }, 'every exposure counted');
    await sleep(2000); // anything counted twice would have arrived by now
    const again = (await admin(w.url, 'GET', '/stats/pilot?window=1h')).body;
    assert.deepEqual(again.arms, stats.arms, 'nothing more arrives');
    for (const arm of ['on', 'off']) {
      const got = stats.arms[arm];
      assert.equal(got.exposures, sent[arm].exposures, `${arm} exposures`);
      assert.equal(got.errors, sent[arm].errors, `${arm} errors`);
      const ttv = got.metrics.ttv;
      assert.equal(ttv.units, sent[arm].ttv.length, `${arm} ttv units`);
      for (const [q, key] of [[0.5, 'p50'], [0.9, 'p90']]) {
        const exact = quantile(sent[arm].ttv, q);
        assert.ok(Math.abs(ttv.quantiles[key] - exact) <= 0.01 * exact, `${arm} ${key} ${ttv.quantiles[key]} vs exact ${exact}`);
      }
      // The metrics the flag set configures, each with where it stands.
      assert.deepEqual(Object.keys(got.metrics), ['activation', 'error_rate', 'mic_grant', 'ttfb', 'ttv']);
      assert.equal(got.metrics.error_rate.hits, sent[arm].errors);
      assert.equal(got.metrics.error_rate.standing, sent[arm].errors / sent[arm].exposures < 0.05 ? 'green' : 'red');
      assert.equal(got.metrics.mic_grant.standing, 'unknown', 'nobody was asked for the microphone');
      const [lo, hi] = got.errorRateWilson95;
      assert.ok(lo <= got.errorRate && got.errorRate <= hi);
    }
    assert.equal(stats.unit, 'visitor');
    assert.equal(stats.mixed, 0);
    assert.deepEqual(stats.guards.map((g) => g.guard), ['comparative', 'breaker', 'sample_ratio', 'no_data', 'guardrail:ttv:p90']);
    assert.equal(stats.metrics.ttv.goal.p90, '<= 5000', 'the definitions come with the figures');
    assert.ok(stats.series.points.length >= 1);
    const bad = await admin(w.url, 'GET', '/stats/pilot?window=7d');
    assert.deepEqual([bad.status, bad.body.error], [400, 'bad_request']);
    assert.equal((await admin(w.url, 'GET', '/stats/nope')).status, 404);
  });

  test('/metrics: bearer-protected, parsed by prometheus_client, the same figures', async () => {
    const anon = await fetch(`${w.url}/metrics`);
    assert.equal(anon.status, 401);
    // Two rejected beacon requests, then a later request that lets the isolate flush them.
    const jar = new CookieJar();
    jar.ua = 'stats-rejected';
    for (let i = 0; i < 2; i++) {
      const r = await fetch(`${w.url}/api/events`, { method: 'POST', headers: { 'content-type': 'application/json', 'user-agent': jar.ua }, body: '{not json' });
      assert.equal(r.status, 400);
    }
    await sleep(5500);
    await (await fetch(`${w.url}/api/healthz`)).arrayBuffer();
    const families = await until(async () => {
      const res = await fetch(`${w.url}/metrics`, { headers: { authorization: `Bearer ${METRICS_TOKEN}` } });
      assert.equal(res.status, 200);
      assert.match(res.headers.get('content-type'), /^text\/plain; version=0\.0\.4/);
      assert.equal(res.headers.get('cache-control'), 'no-store');
      const f = parseMetrics(await res.text());
      return sample(f, 'pilot_gate_beacon_requests_total', { outcome: 'invalid_json' }) === 2 ? f : null;
    }, 'the rejections flushed', 15_000);
    for (const arm of ['on', 'off']) {
      const l = { flag: 'pilot', variant: arm };
      assert.equal(sample(families, 'pilot_gate_exposed_units', l), sent[arm].exposures);
      assert.equal(sample(families, 'pilot_gate_error_units', { ...l, kind: 'any' }), sent[arm].errors);
      assert.equal(sample(families, 'pilot_gate_error_units', { ...l, kind: 'client' }), sent[arm].errors);
      assert.equal(sample(families, 'pilot_gate_error_units', { ...l, kind: 'server' }), 0);
      assert.equal(sample(families, 'pilot_gate_event_units', { ...l, name: 'ttv' }), sent[arm].ttv.length);
      // Only events a metric names are counted: page_view and clicked_around are stored, not counted.
      assert.equal(sample(families, 'pilot_gate_event_units', { ...l, name: 'clicked_around' }), undefined);
      assert.equal(sample(families, 'pilot_gate_event_units', { ...l, name: 'page_view' }), undefined);
      const m = { ...l, metric: 'ttv' };
      assert.equal(sample(families, 'pilot_gate_metric_units', m), sent[arm].ttv.length);
      for (const q of [0.5, 0.9]) {
        const exact = quantile(sent[arm].ttv, q);
        const got = sample(families, 'pilot_gate_metric_value', { ...m, quantile: String(q) });
        assert.ok(Math.abs(got - exact) <= 0.01 * exact, `${arm} ttv ${q}: ${got} vs ${exact}`);
      }
      const errorRate = sample(families, 'pilot_gate_metric_value', { ...l, metric: 'error_rate' });
      assert.ok(Math.abs(errorRate - sent[arm].errors / sent[arm].exposures) < 1e-9);
      const standing = sent[arm].errors / sent[arm].exposures < 0.05 ? 'green' : 'red';
      assert.equal(sample(families, 'pilot_gate_metric_standing', { ...l, metric: 'error_rate', standing }), 1);
    }
    assert.equal(sample(families, 'pilot_gate_metric_goal', { metric: 'ttv', op: '<=', quantile: '0.9' }), 5000);
    assert.equal(sample(families, 'pilot_gate_metric_warn', { metric: 'mic_grant', op: '>=' }), 0.8);
    assert.equal(sample(families, 'pilot_gate_beacon_requests_total', { outcome: 'accepted' }), accepted);
    // The worker's answers by route and status class, and the beacon's ingest latency.
    assert.ok(sample(families, 'pilot_gate_responses_total', { route: 'beacon', class: '4xx' }) >= 2);
    assert.ok(sample(families, 'pilot_gate_responses_total', { route: 'beacon', class: '2xx' }) >= accepted);
    assert.equal(sample(families, 'pilot_gate_responses_total', { route: 'beacon', class: '5xx' }), 0);
    const pages = ['2xx', '3xx'].map((c) => sample(families, 'pilot_gate_responses_total', { route: 'page', class: c }) ?? 0);
    assert.ok(pages[0] + pages[1] > 0, `page answers ${pages}`);
    const ingested = sample(families, 'pilot_gate_ingest_latency_seconds_count', {});
    assert.ok(ingested >= accepted, `${ingested} ingest latencies for ${accepted} accepted requests`);
    assert.equal(sample(families, 'pilot_gate_ingest_latency_seconds_bucket', { le: '+Inf' }), ingested);
    const buckets = families.flatMap((f) => f.samples).filter((x) => x.name === 'pilot_gate_ingest_latency_seconds_bucket').map((x) => x.value);
    assert.equal(buckets.length, 11);
    assert.ok(buckets.every((n, i) => i === 0 || n >= buckets[i - 1]), `cumulative: ${buckets}`);
    assert.equal(sample(families, 'pilot_gate_flag_tier', { flag: 'pilot' }), 3);
    assert.equal(sample(families, 'pilot_gate_flag_rollout_ratio', { flag: 'pilot' }), 0.5);
    assert.equal(sample(families, 'pilot_gate_kill_switch', {}), 0);
    const status = (await admin(w.url, 'GET', '/status')).body;
    assert.equal(sample(families, 'pilot_gate_flagset_published_revision', {}), status.published);
    assert.ok(sample(families, 'pilot_gate_flagset_published_age_seconds', {}) >= 0);
    // The breaker's state as the stats API gives it (a few visitors: undecided, too little
    // traffic to speak; healthy is evidence, never its absence).
    const breaker = (await admin(w.url, 'GET', '/stats/pilot')).body.guards.find((g) => g.guard === 'breaker');
    assert.equal(breaker.state, 'undecided');
    assert.equal(sample(families, 'pilot_gate_guard_state', { flag: 'pilot', guard: 'breaker', state: breaker.state }), 1);
    const types = Object.fromEntries(families.map((f) => [f.name, f.type]));
    assert.equal(types.pilot_gate_ttfb_seconds, 'histogram');
    assert.equal(types.pilot_gate_metric_value, 'gauge');
    assert.equal(types.pilot_gate_exposed_units, 'gauge');
  });
});

/**
 * Visitors of e2_primer's arms (read from /api/config) that answer the mic prompt at `rates`,
 * each on a network of its own, or all on `oneNet` (an address) when given.
 */
async function micPattern(url, rates, perArm = 50, oneNet = null) {
  const arms = { custom: [], native: [] };
  let i = 0;
  while (arms.custom.length < perArm || arms.native.length < perArm) {
    const jar = new CookieJar();
    jar.ip = oneNet ?? addressOf(1000 + i);
    jar.ua = `mic-visitor-${i++}`;
    const res = await fetch(`${url}/api/config`, { headers: { 'user-agent': jar.ua, 'cf-connecting-ip': jar.ip } });
    jar.store(res);
    const arm = (await res.json()).e2_primer;
    if (arms[arm].length < perArm) arms[arm].push(jar);
    if (i > 20 * perArm) throw new Error('e2_primer does not split');
  }
  await pool([...arms.custom.map((j, n) => ['custom', j, n]), ...arms.native.map((j, n) => ['native', j, n])], 8, async ([arm, jar, n]) => {
    const batch = [ev('page_view'), ev('mic_prompt')];
    if (n < rates[arm] * perArm) batch.push(ev('mic_granted'));
    assert.equal(await postEvents(url, jar, batch), 202);
  });
  return arms;
}

describe('the e2_primer guardrail (mic grant more than 10 % below native: fall back to native)', () => {
  for (const [name, rates, perArm] of [
    ['a realistic drop: custom at 60 %, native at 90 %, 200 visitors each', { custom: 0.6, native: 0.9 }, 200],
    ['the extreme drop: custom never grants, native always does, 40 visitors each', { custom: 0, native: 1 }, 40],
  ]) test(`fires on ${name}`, async () => {
    const w = await startWorker({ state: `guardrail-bad-${process.pid}-${perArm}`, vars: { FLAGS_CACHE_S: '1' }, flags: 'flags/demo.json' });
    try {
      const arms = await micPattern(w.url, rates, perArm);
      const flag = await until(async () => {
        const r = await admin(w.url, 'GET', '/flags/e2_primer');
        return r.body.plan.status === 'rolled_back' ? r.body : null;
      }, 'the fallback');
      assert.equal(flag.plan.fallback, 'native');
      const [entry] = (await admin(w.url, 'GET', '/audit?flag=e2_primer&limit=1')).body.entries;
      assert.deepEqual([entry.actor, entry.action], ['guard', 'fallback']);
      assert.equal(entry.evidence.guard, 'guardrail:mic_grant');
      // It acts as soon as the evidence suffices (on a delta, maybe before every event is in):
      // the figures it acted on must show the drop, each arm past its minimum.
      const { pilot, control, pValue, lnE, threshold, minTrials } = entry.evidence.figures;
      assert.ok(pilot.trials >= minTrials && control.trials >= minTrials, JSON.stringify(entry.evidence));
      assert.ok(pilot.trials <= perArm && control.trials <= perArm);
      assert.ok(pilot.rate < 0.9 * control.rate && pValue < 0.01 && lnE >= threshold, JSON.stringify(entry.evidence));
      assert.equal(entry.evidence.provenance, 'client');
      assert.match(entry.reason, /^guard guardrail:mic_grant tripped on client-reported evidence: mic_grant: pilot 0\.\d{4} \(\d+ of \d+\) vs control [01]\.\d{4} \(\d+ of \d+\), ln e = \d+\.\d{4} ≥ \d+\.\d{4} for more than 10 % below$/);
      // A custom visitor gets native once the edge has the new set.
      await sleep(1500);
      const res = await fetch(`${w.url}/api/config`, { headers: { cookie: arms.custom[0].header(), 'user-agent': arms.custom[0].ua } });
      assert.equal((await res.json()).e2_primer, 'native');
    } finally {
      await w.stop();
    }
  });

  test('does not fire on the same drop from one network (client-reported evidence, one visitor per net)', async () => {
    const w = await startWorker({ state: `guardrail-one-net-${process.pid}`, flags: 'flags/demo.json' });
    try {
      await micPattern(w.url, { custom: 0, native: 1 }, 40, '203.0.113.50');
      const stats = await until(async () => {
        const r = await admin(w.url, 'GET', '/stats/e2_primer?window=1h');
        const a = r.body.arms ?? {};
        return (a.custom?.metrics.mic_grant.units ?? 0) + (a.native?.metrics.mic_grant.units ?? 0) >= 80 ? r.body : null;
      }, 'every prompt counted');
      assert.equal(stats.arms.custom.nets, 1, 'one net: one visitor speaks for it');
      const rail = stats.guards.find((g) => g.guard === 'guardrail:mic_grant');
      assert.equal(rail.state, 'undecided', JSON.stringify(rail));
      assert.equal((await admin(w.url, 'GET', '/flags/e2_primer')).body.plan.status, 'complete');
      const auto = (await admin(w.url, 'GET', '/audit?flag=e2_primer')).body.entries.filter((e) => e.actor === 'guard');
      assert.deepEqual(auto, []);
    } finally {
      await w.stop();
    }
  });

  test('does not fire on an even pattern: both arms at 90 %', async () => {
    const w = await startWorker({ state: `guardrail-even-${process.pid}`, flags: 'flags/demo.json' });
    try {
      await micPattern(w.url, { custom: 0.9, native: 0.9 });
      const stats = await until(async () => {
        const r = await admin(w.url, 'GET', '/stats/e2_primer?window=1h');
        const a = r.body.arms ?? {};
        return (a.custom?.metrics.mic_grant.units ?? 0) + (a.native?.metrics.mic_grant.units ?? 0) >= 100 ? r.body : null;
      }, 'every prompt counted');
      const rail = stats.guards.find((g) => g.guard === 'guardrail:mic_grant');
      // 50 visitors an arm are too few to show the drop is inside the margin (healthy needs
      // that evidence), and nothing trips.
      assert.equal(rail.state, 'undecided', JSON.stringify(rail));
      assert.equal(rail.note.kind, 'not_shown_healthy');
      assert.equal((await admin(w.url, 'GET', '/flags/e2_primer')).body.plan.status, 'complete');
      const auto = (await admin(w.url, 'GET', '/audit?flag=e2_primer')).body.entries.filter((e) => e.actor === 'guard');
      assert.deepEqual(auto, []);
    } finally {
      await w.stop();
    }
  });
});
