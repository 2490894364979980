// End-to-end tests of the evidence against `wrangler dev`: exposures that the edge records
// itself (gated decisions, OFREP, /api/config) with no browser event at all; an origin that
// fails the pilot's requests rolls the pilot back on server errors alone; identities that post
// floods of errors are counted as the few visitors they are and roll nothing back; a kill
// answers as fast while the beacon is flooded.
import assert from 'node:assert/strict';
import { after, before, describe, test } from 'node:test';

import { OFREP_TOKEN, admin, ev, pool, postEvents, sleep, startOrigin, startWorker, storedEvents, toHalf, total, units, until, visit, visitor, visitorHeaders } from './harness.mjs';

describe('exposures come from the edge', () => {
  let w;
  before(async () => {
    w = await startWorker({ state: `evidence-exposures-${process.pid}`, vars: { FLAGS_CACHE_S: '1' }, flags: 'flags/demo.json' });
    await toHalf(w.url, 'pilot');
    await sleep(1500);
  });
  after(async () => { await w?.stop(); });

  test('gated decisions, OFREP answers and /api/config expose their visitors, with no browser event at all', async (t) => {
    // 40 visitors on /try (pilot's gated route), 15 OFREP evaluations of e1_cta_copy, 10
    // /api/config reads (every flag): each a fresh visitor, and not one event sent.
    await pool(Array.from({ length: 40 }), 8, () => visit(`${w.url}/try`, visitor()));
    await pool(Array.from({ length: 15 }), 8, async () => {
      const res = await fetch(`${w.url}/ofrep/v1/evaluate/flags/e1_cta_copy`, { method: 'POST', headers: { 'content-type': 'application/json' }, body: '{"context":{}}' });
      assert.equal(res.status, 200);
      await res.arrayBuffer();
    });
    await pool(Array.from({ length: 10 }), 8, async () => {
      const res = await fetch(`${w.url}/api/config`);
      assert.equal(res.status, 200);
      await res.arrayBuffer();
    });
    // The isolate sends its buffer when it is 5 s old, on a later request: the polls are those.
    const want = { pilot: 50, e1_cta_copy: 25, e2_primer: 10 };
    const got = await until(async () => {
      const g = {};
      for (const flag of Object.keys(want)) g[flag] = await units(w.url, flag);
      return Object.entries(want).every(([f, n]) => total(g[f]) >= n) ? g : null;
    }, 'every exposure counted');
    await sleep(6000); // nothing more arrives
    for (const [flag, n] of Object.entries(want)) {
      const again = await units(w.url, flag);
      t.diagnostic(`${flag}: ${JSON.stringify(again)} visitors`);
      assert.equal(total(again), n, `${flag} exposed units`);
      assert.deepEqual(again, got[flag]);
    }
    assert.ok(got.pilot.on > 5 && got.pilot.off > 5, 'both arms of pilot at 50 %');
    assert.equal(await storedEvents(w.url), 0, 'no browser event was sent');
  });

  test('visitors the allowlist placed are counted apart, outside the arms', async () => {
    const before = await units(w.url, 'pilot');
    // A server-side SDK (the OFREP token) evaluates pilot for the two allowlisted QA keys.
    for (const targetingKey of ['qa-internal-1', 'qa-internal-2']) {
      const res = await fetch(`${w.url}/ofrep/v1/evaluate/flags/pilot`, {
        method: 'POST',
        headers: { 'content-type': 'application/json', authorization: `Bearer ${OFREP_TOKEN}` },
        body: JSON.stringify({ context: { targetingKey } }),
      });
      assert.deepEqual([res.status, (await res.json()).value], [200, true]);
    }
    const stats = await until(async () => {
      const s = (await admin(w.url, 'GET', '/stats/pilot')).body;
      return s.outside >= 2 ? s : null;
    }, 'the allowlisted visitors counted');
    assert.equal(stats.outside, 2);
    assert.deepEqual(await units(w.url, 'pilot'), before, 'the arms are unchanged');
  });
});

describe('server errors from the origin, seen by the edge', () => {
  let w;
  let origin;
  before(async () => {
    // Every request that reaches the origin fails: only the pilot's do (control is redirected).
    origin = await startOrigin({ fail: (req) => req.url.startsWith('/try') });
    w = await startWorker({
      state: `evidence-origin-${process.pid}`,
      vars: { FLAGS_CACHE_S: '1', PASS_THROUGH: 'origin' },
      args: ['--local-upstream', origin.host],
      flags: 'flags/demo.json',
    });
    await toHalf(w.url, 'pilot');
    await sleep(1500);
  });
  after(async () => { await w?.stop(); await origin?.stop(); });

  test('an origin that fails only the pilot arm rolls the pilot back, no browser sending anything', async (t) => {
    const started = Date.now();
    const statuses = { 302: 0, 503: 0, 500: 0, other: 0 };
    let rolledBack = null;
    // Fresh visitors until the guards act: pilot visitors get the origin's 500. Two at a time:
    // an exposure whose answer is still in flight when the isolate sends its buffer travels
    // without its error (the error follows in the next send), so fewer requests in flight keep
    // the figures the breaker acts on close to "every pilot visitor failed".
    while (!rolledBack && Date.now() - started < 180_000) {
      const batch = await pool(Array.from({ length: 20 }), 2, () => visit(`${w.url}/try`, visitor()));
      for (const r of batch) statuses[r.status in statuses ? r.status : 'other'] += 1;
      const f = (await admin(w.url, 'GET', '/flags/pilot')).body;
      if (f.plan.status === 'rolled_back') rolledBack = Date.now() - started;
      await sleep(200);
    }
    t.diagnostic(`statuses ${JSON.stringify(statuses)}; origin saw ${origin.stats.requests} requests, failed ${origin.stats.failed}; rolled back after ${rolledBack} ms`);
    assert.ok(rolledBack, 'the pilot was rolled back');
    assert.ok(statuses[500] > 0 && statuses[302] > 0, 'pilot visitors got the 500, control was redirected');
    const [entry] = (await admin(w.url, 'GET', '/audit?flag=pilot&limit=1')).body.entries;
    assert.deepEqual([entry.actor, entry.action, entry.evidence.guard], ['guard', 'rollback', 'breaker']);
    const f = entry.evidence.figures;
    // Every pilot visitor's request failed; the last few answers may still be in a buffer.
    assert.ok(f.pilotErrors >= 0.95 * f.pilotExposures, `${f.pilotErrors} of ${f.pilotExposures}`);
    assert.ok(f.lnE >= f.threshold, 'the likelihood ratio of 2θ against θ reached its threshold');
    assert.ok(f.pilotExposures >= f.minExposures);
    assert.equal(await storedEvents(w.url), 0, 'no browser event was sent');
  });
});

describe('hostile identities', () => {
  let w;
  before(async () => {
    w = await startWorker({ state: `evidence-hostile-${process.pid}`, vars: { FLAGS_CACHE_S: '1' }, flags: 'flags/demo.json' });
    await toHalf(w.url, 'pilot');
    await toHalf(w.url, 'e2_primer');
    await sleep(1500);
  });
  after(async () => { await w?.stop(); });

  /** A fresh identity in pilot's on arm (by /api/config, as the hostile script did). */
  async function pilotIdentity() {
    for (let i = 0; i < 200; i++) {
      const jar = visitor();
      const res = await fetch(`${w.url}/api/config`, { headers: visitorHeaders(jar) });
      jar.store(res);
      if ((await res.json()).pilot === true) return jar;
    }
    throw new Error('no identity landed in pilot');
  }

  test('one identity, then five, posting page views and errors for three minutes roll nothing back', async (t) => {
    // Honest traffic first: 240 visitors on /try, no errors, so the breaker has its 100 pilot
    // visitors and the comparative test its denominators.
    await pool(Array.from({ length: 240 }), 8, () => visit(`${w.url}/try`, visitor()));
    const phases = [{ identities: 1, seconds: 90 }, { identities: 5, seconds: 90 }];
    const hostile = [];
    let posted = 0;
    for (const phase of phases) {
      while (hostile.length < phase.identities) hostile.push(await pilotIdentity());
      const end = Date.now() + phase.seconds * 1000;
      while (Date.now() < end) {
        // Every 20 s each identity sends 50 page views and 50 errors with fresh ids.
        for (const jar of hostile) {
          const batch = [...Array.from({ length: 50 }, () => ev('page_view')), ...Array.from({ length: 50 }, () => ev('error', { message: 'forged' }))];
          assert.equal(await postEvents(w.url, jar, batch), 202);
          posted += 50;
        }
        await sleep(Math.min(20_000, Math.max(0, end - Date.now())));
      }
      const stats = await until(async () => {
        const s = (await admin(w.url, 'GET', '/stats/pilot')).body;
        return s.arms?.on?.errors >= hostile.length ? s : null;
      }, 'the hostile errors counted');
      const verdicts = Object.fromEntries(stats.guards.map((g) => [g.guard, g.state]));
      t.diagnostic(`${hostile.length} identities, ${posted} error events so far: pilot ${stats.arms.on.errors} of ${stats.arms.on.exposures} visitors with an error, control ${stats.arms.off.errors} of ${stats.arms.off.exposures}; ${JSON.stringify(verdicts)}`);
      assert.equal(stats.arms.on.errors, hostile.length, 'each identity is one visitor with an error');
      assert.ok(stats.arms.on.exposures >= 100, 'the breaker has its visitors');
      for (const flag of ['pilot', 'e2_primer']) {
        const f = (await admin(w.url, 'GET', `/flags/${flag}`)).body;
        assert.notEqual(f.plan.status, 'rolled_back', `${flag} was not rolled back`);
      }
      assert.notEqual(verdicts.comparative, 'tripped');
      assert.notEqual(verdicts.breaker, 'tripped');
    }
    const auto = (await admin(w.url, 'GET', '/audit')).body.entries.filter((e) => e.actor === 'guard');
    assert.deepEqual(auto, [], 'no automatic decision');
  });
});

describe('a kill while the beacon is flooded', () => {
  let w;
  before(async () => {
    w = await startWorker({ state: `evidence-kill-${process.pid}`, vars: { FLAGS_CACHE_S: '1' }, flags: 'flags/demo.json' });
    await toHalf(w.url, 'pilot');
  });
  after(async () => { await w?.stop(); });

  /** The answer times of `n` kill + unkill pairs, in ms, sorted. */
  async function killTimes(n) {
    const times = [];
    for (let i = 0; i < n; i++) {
      for (const what of ['kill', 'unkill']) {
        const t0 = performance.now();
        const r = await admin(w.url, 'POST', `/${what}`, { body: { reason: 'evidence test' } });
        times.push(performance.now() - t0);
        assert.equal(r.status, 200, JSON.stringify(r.body));
      }
    }
    return times.sort((a, b) => a - b);
  }
  const median = (xs) => xs[Math.floor(xs.length / 2)];

  test('answers in about the time it takes idle (printed; goal: within 2x)', async (t) => {
    const idle = await killTimes(10);
    // 20 identities exposed to every flag, each posting batches of counted events as fast as
    // its rate limit allows: every event goes to the evidence of all ten flags.
    const senders = await pool(Array.from({ length: 20 }), 8, async () => {
      const jar = visitor();
      const res = await fetch(`${w.url}/api/config`, { headers: visitorHeaders(jar) });
      jar.store(res);
      await res.arrayBuffer();
      return jar;
    });
    let flooding = true;
    let sent = 0;
    const flood = Promise.all(senders.map(async (jar) => {
      while (flooding) {
        const batch = Array.from({ length: 100 }, (_, i) => ev(['error', 'ttv', 'mic_prompt', 'activated'][i % 4], { ms: 1000 + i }));
        if ((await postEvents(w.url, jar, batch)) === 202) sent += 100;
        await sleep(500);
      }
    }));
    await sleep(3000);
    const busy = await killTimes(10);
    flooding = false;
    await flood;
    const ratio = median(busy) / median(idle);
    const met = ratio <= 2 ? 'met' : 'NOT MET';
    t.diagnostic(`kill/unkill answer: idle median ${median(idle).toFixed(1)} ms (max ${idle.at(-1).toFixed(1)}), under a flood of ${sent} events median ${median(busy).toFixed(1)} ms (max ${busy.at(-1).toFixed(1)}): ${ratio.toFixed(2)}x (goal within 2x: ${met})`);
    assert.ok(sent > 10_000, `the flood sent ${sent} events`);
    // The goal is 2x; on this 2-core machine the flood shares the CPU with the object, so the
    // test fails only far beyond it, where traffic would be queuing in front of the kill.
    assert.ok(ratio < 10, `${ratio.toFixed(2)}x`);
  });
});

describe('autoAdvance', () => {
  let w;
  before(async () => {
    w = await startWorker({ state: `evidence-auto-${process.pid}`, vars: { FLAGS_CACHE_S: '1' }, flags: 'flags/demo.json' });
  });
  after(async () => { await w?.stop(); });

  test('climbs a tier by itself once the dwell time is met and every guard is healthy, never onto a manual tier', async (t) => {
    // pilot at tier 1 (10 %) watched by the breaker alone (healthy from 10 pilot visitors on:
    // never on no evidence), 2 s of dwell, tier 3 manual.
    const flag = (await admin(w.url, 'GET', '/flags/pilot')).body;
    const guards = { comparative: null, sampleRatio: null, noData: null, guardrails: [], breaker: { minExposures: 10 } };
    const plan = { ...flag.plan, minDwellS: 2, autoAdvance: { manualTiers: [3] }, guards };
    const put = await admin(w.url, 'PUT', '/flags/pilot', { body: { definition: flag.definition, plan } });
    assert.equal(put.status, 200, JSON.stringify(put.body));
    assert.equal(put.body.plan.tier, 1);
    await sleep(2500);
    // Visitors make deltas; each delta checks the guards.
    const climbed = await until(async () => {
      await pool(Array.from({ length: 10 }), 5, () => visit(`${w.url}/try`, visitor()));
      const f = (await admin(w.url, 'GET', '/flags/pilot')).body;
      return f.plan.tier === 2 ? f : null;
    }, 'the climb to tier 2');
    const [entry] = (await admin(w.url, 'GET', '/audit?flag=pilot&limit=1')).body.entries;
    t.diagnostic(`${entry.actor} ${entry.action}: ${entry.reason}`);
    assert.deepEqual([entry.actor, entry.action, entry.from.tier, entry.to.tier], ['system', 'advance', 1, 2]);
    assert.ok(entry.evidence.verdicts.every((v) => ['healthy', 'not_applicable'].includes(v.state)));
    assert.equal(climbed.pct, 20);
    // Tier 3 is manual: more dwell and traffic leave it at tier 2.
    await sleep(2500);
    await pool(Array.from({ length: 30 }), 5, () => visit(`${w.url}/try`, visitor()));
    await sleep(6000);
    await pool(Array.from({ length: 10 }), 5, () => visit(`${w.url}/try`, visitor()));
    assert.equal((await admin(w.url, 'GET', '/flags/pilot')).body.plan.tier, 2);
  });
});
