// End-to-end tests of the control plane against `wrangler dev`: the RolloutControl Durable
// Object behind the admin API (auth, 422, 412, 409, idempotency, the audit trail of a whole
// ladder), the kill switch reaching pilot visitors through the edge's flag cache, the operator
// CLI, and a restart that keeps the state.
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import path from 'node:path';
import { after, before, describe, test } from 'node:test';

import { killDrill } from '../../scripts/lib/drill.mjs';
import { ADMIN_TOKEN, OPERATORS, ROOT, admin, startWorker } from './harness.mjs';

const CACHE_S = 2;
const boolean = { state: 'ENABLED', variants: { on: true, off: false }, defaultVariant: 'off' };

/** Every admin route with a method and a body that it accepts. */
const ROUTES = [
  ['GET', '/status'], ['GET', '/flags'], ['GET', '/flags/pilot'],
  ['PUT', '/flags/auth_probe', { definition: boolean }], ['DELETE', '/flags/auth_probe'],
  ['POST', '/flags/pilot/start'], ['POST', '/flags/pilot/advance'], ['POST', '/flags/pilot/pause'],
  ['POST', '/flags/pilot/resume'], ['POST', '/flags/pilot/rollback', { reason: 'x' }],
  ['POST', '/flags/pilot/back', { to: 1, reason: 'x' }],
  ['POST', '/kill', { reason: 'x' }], ['POST', '/unkill'], ['GET', '/flagset'], ['PUT', '/flagset', { flags: {} }],
  ['GET', '/audit'],
];

describe('control plane', () => {
  let w;
  before(async () => {
    w = await startWorker({ state: `control-${process.pid}`, vars: { FLAGS_CACHE_S: String(CACHE_S) }, flags: 'flags/demo.json' });
  });
  after(async () => { await w?.stop(); });

  test('every admin route refuses a missing or wrong token with 401 and changes nothing', async () => {
    const before = await admin(w.url, 'GET', '/status');
    for (const [method, route, body] of ROUTES) {
      for (const token of [null, 'wrong-token']) {
        const r = await admin(w.url, method, route, { body, token });
        assert.equal(r.status, 401, `${method} ${route} with ${token}`);
        assert.equal(r.body.error, 'unauthorized');
      }
    }
    assert.deepEqual((await admin(w.url, 'GET', '/status')).body, before.body);
  });

  test('PUT answers 422 with the path of the bad field, 412 on a stale If-Match', async () => {
    const bad = await admin(w.url, 'PUT', '/flags/checkout', { body: { definition: boolean, plan: { ladderPct: [0, 50, 20, 100] } } });
    assert.equal(bad.status, 422);
    assert.deepEqual([bad.body.error, bad.body.path], ['invalid_flag', '/plan/ladderPct/2']);
    const notJson = await admin(w.url, 'PUT', '/flags/checkout', { body: '{nope' });
    assert.equal(notJson.status, 400);
    const created = await admin(w.url, 'PUT', '/flags/checkout', { body: { definition: boolean, plan: { minDwellS: 0 } } });
    assert.equal(created.status, 201);
    const etag = created.headers.get('etag');
    assert.equal(etag, created.body.etag);
    const changed = await admin(w.url, 'PUT', '/flags/checkout', { body: { definition: boolean, plan: { allow: ['qa-1'] } }, headers: { 'if-match': etag } });
    assert.equal(changed.status, 200);
    const stale = await admin(w.url, 'PUT', '/flags/checkout', { body: { definition: boolean }, headers: { 'if-match': etag } });
    assert.equal(stale.status, 412);
    assert.equal(stale.headers.get('etag'), changed.body.etag);
    assert.deepEqual((await admin(w.url, 'GET', '/flags/checkout')).body.plan.allow, ['qa-1']);
  });

  test('a whole ladder 0 -> 100 -> rollback leaves its audit trail with reasons', async () => {
    const key = 'ladder_probe';
    assert.equal((await admin(w.url, 'PUT', `/flags/${key}`, { body: { definition: boolean, plan: { minDwellS: 0 } } })).status, 201);
    const steps = [['start', 1], ['advance', 2], ['advance', 3], ['advance', 4]];
    for (const [command, tier] of steps) {
      const r = await admin(w.url, 'POST', `/flags/${key}/${command}`, { body: { reason: `${command} to ${tier}` } });
      assert.equal(r.status, 200, JSON.stringify(r.body));
      assert.equal(r.body.plan.tier, tier);
    }
    const top = await admin(w.url, 'POST', `/flags/${key}/advance`);
    assert.equal(top.status, 409);
    assert.deepEqual(top.body.reasons, ['already at the top tier (100 %)']);
    const noReason = await admin(w.url, 'POST', `/flags/${key}/rollback`);
    assert.equal(noReason.status, 400);
    const back = await admin(w.url, 'POST', `/flags/${key}/rollback`, { body: { reason: 'error rate 7 % on checkout' } });
    assert.equal(back.status, 200);
    assert.deepEqual([back.body.plan.status, back.body.plan.tier], ['rolled_back', 0]);
    const audit = await admin(w.url, 'GET', `/audit?flag=${key}`);
    const trail = audit.body.entries.reverse().map((e) => [e.action, e.from?.pct ?? null, e.to?.pct ?? null, e.reason, e.actor]);
    assert.deepEqual(trail, [
      ['put', null, 0, null, 'admin'],
      ['start', 0, 1, 'start to 1', 'admin'],
      ['advance', 1, 10, 'advance to 2', 'admin'],
      ['advance', 10, 50, 'advance to 3', 'admin'],
      ['advance', 50, 100, 'advance to 4', 'admin'],
      ['rollback', 100, 0, 'error rate 7 % on checkout', 'admin'],
    ]);
  });

  test('a command retried with the same Idempotency-Key is applied once and answered the same', async () => {
    const key = 'idem_probe';
    await admin(w.url, 'PUT', `/flags/${key}`, { body: { definition: boolean, plan: { minDwellS: 0 } } });
    await admin(w.url, 'POST', `/flags/${key}/start`);
    const headers = { 'idempotency-key': `idem-${process.pid}` };
    const first = await admin(w.url, 'POST', `/flags/${key}/advance`, { headers });
    const retry = await admin(w.url, 'POST', `/flags/${key}/advance`, { headers });
    assert.equal(first.status, 200);
    assert.deepEqual([retry.status, retry.body], [first.status, first.body]);
    assert.equal((await admin(w.url, 'GET', `/flags/${key}`)).body.plan.tier, 2, 'advanced once');
    const advances = (await admin(w.url, 'GET', `/audit?flag=${key}`)).body.entries.filter((e) => e.action === 'advance');
    assert.equal(advances.length, 1);
    const reused = await admin(w.url, 'POST', `/flags/${key}/pause`, { headers });
    assert.deepEqual([reused.status, reused.body.error], [422, 'idempotency_key_reused']);
  });

  test('two operators advancing the same flag at once: one advance happens, the other gets 409', async () => {
    const key = 'race_probe';
    await admin(w.url, 'PUT', `/flags/${key}`, { body: { definition: boolean, plan: { minDwellS: 0 } } });
    const started = await admin(w.url, 'POST', `/flags/${key}/start`);
    const etag = started.headers.get('etag');
    const [a, b] = await Promise.all(['olga', 'otto'].map((as) =>
      admin(w.url, 'POST', `/flags/${key}/advance`, { as, headers: { 'if-match': etag } })));
    assert.deepEqual([a.status, b.status].sort(), [200, 409]);
    const refused = a.status === 409 ? a : b;
    assert.match(refused.body.reasons[0], /the flag changed since you read it/);
    assert.equal((await admin(w.url, 'GET', `/flags/${key}`)).body.plan.tier, 2, 'exactly one advance');
    // Without If-Match the dwell time refuses the second.
    await admin(w.url, 'PUT', `/flags/${key}`, { body: { definition: boolean, plan: { minDwellS: 3600 } } });
    const [c, d] = await Promise.all([0, 1].map(() => admin(w.url, 'POST', `/flags/${key}/advance`, { body: { force: true, reason: 'race' } })));
    assert.deepEqual([c.status, d.status], [200, 200], 'forced advances both go, one tier each');
    assert.equal((await admin(w.url, 'GET', `/flags/${key}`)).body.plan.tier, 4);
  });

  test(`a kill reaches 200 pilot visitors within FLAGS_CACHE_S + 1 s; unkill brings them back to the same cohorts`, async (t) => {
    // Half the visitors are pilots, so 200 of them come quickly.
    const set = await admin(w.url, 'GET', '/flags/pilot');
    const spec = { definition: set.body.definition, plan: { ...set.body.plan, minDwellS: 0 } };
    assert.equal((await admin(w.url, 'PUT', '/flags/pilot', { body: spec })).status, 200);
    while ((await admin(w.url, 'GET', '/flags/pilot')).body.pct < 50) {
      // Forced: without traffic the guards are undecided.
      assert.equal((await admin(w.url, 'POST', '/flags/pilot/advance', { body: { force: true, reason: 'drill setup' } })).status, 200);
    }
    await new Promise((r) => setTimeout(r, CACHE_S * 1000 + 500)); // the edge sees 50 %
    const r = await killDrill({ url: w.url, token: ADMIN_TOKEN, visitors: 200 });
    t.diagnostic(`kill -> 200 redirected in ${Math.round(r.killMs)} ms, unkill -> back in ${Math.round(r.unkillMs)} ms (FLAGS_CACHE_S=${CACHE_S})`);
    assert.equal(r.visitors, 200);
    assert.ok(r.killMs < CACHE_S * 1000 + 1000, `kill took ${Math.round(r.killMs)} ms`);
    assert.ok(r.unkillMs < CACHE_S * 1000 + 1000, `unkill took ${Math.round(r.unkillMs)} ms`);
    assert.ok(r.sameCohorts);
    const trail = (await admin(w.url, 'GET', '/audit?limit=2')).body.entries.map((e) => e.action);
    assert.deepEqual(trail, ['unkill', 'kill']);
  });

  test('the CLI: tables, --json, refusals and exit codes', () => {
    const env = { ...process.env, PILOT_ADMIN_TOKEN: OPERATORS.olga.token };
    const pilot = (...args) => spawnSync(path.join(ROOT, 'scripts/pilot'), ['--url', w.url, ...args], { encoding: 'utf8', env, input: '' });
    assert.equal(pilot('whoami').stdout, 'olga (operator)\n');
    const status = pilot('status');
    assert.equal(status.status, 0, status.stderr);
    assert.match(status.stdout, /^revision +\d+ \(\d+ flags\)$/m);
    const flags = pilot('flags');
    assert.match(flags.stdout, /^pilot +active +3\/4 +50%/m);
    const json = JSON.parse(pilot('flags', '--json').stdout);
    assert.ok(json.flags.some((f) => f.key === 'pilot'));
    assert.equal(pilot('pause', 'pilot').status, 0);
    const paused = pilot('advance', 'pilot');
    assert.equal(paused.status, 1);
    assert.match(paused.stderr, /refused: 409 conflict\n {2}- paused; resume first/);
    assert.equal(pilot('resume', 'pilot').status, 0);
    assert.equal(pilot('back', 'pilot', '--to', '1').status, 2, 'back: no reason');
    assert.equal(pilot('back', 'pilot', '--to', '1', '--reason', 'ttv p90 over 5 s').status, 2, 'back: not confirmed');
    const back = pilot('back', 'pilot', '--to', '1', '--reason', 'ttv p90 over 5 s', '--yes');
    assert.equal(back.status, 0, back.stderr);
    assert.match(pilot('flags').stdout, /^pilot +active +1\/4 +10%/m);
    const notLower = pilot('back', 'pilot', '--to', '2', '--reason', 'x', '--yes');
    assert.equal(notLower.status, 1);
    assert.match(notLower.stderr, /tier 2 is not below the current tier 1/);
    assert.equal(pilot('rollback', 'pilot').status, 2, 'no reason');
    assert.equal(pilot('rollback', 'pilot', '--reason', 'cli drill').status, 2, 'not confirmed without a terminal');
    assert.equal(pilot('rollback', 'pilot', '--reason', 'cli drill', '--yes').status, 0);
    assert.equal(pilot('start', 'pilot').status, 0);
    assert.equal(pilot('advance', 'no_such_flag').status, 1);
    assert.equal(pilot('frobnicate').status, 2);
    const audit = pilot('audit', 'pilot', '--limit', '3');
    assert.equal(audit.status, 0);
    assert.match(audit.stdout, /olga \(operator\) +start +pilot +rolled_back t0 \(0%\) -> active t1 \(10%\)/);
    assert.match(audit.stdout, /olga \(operator\) +rollback +pilot .* cli drill$/m);
    assert.match(audit.stdout, /olga \(operator\) +back +pilot +active t3 \(50%\) -> active t1 \(10%\) .*ttv p90 over 5 s$/m);
    const down = spawnSync(path.join(ROOT, 'scripts/pilot'), ['--url', 'http://127.0.0.1:9', 'status'], { encoding: 'utf8', env });
    assert.equal(down.status, 3);
    const wrong = spawnSync(path.join(ROOT, 'scripts/pilot'), ['--url', w.url, 'status'], { encoding: 'utf8', env: { ...env, PILOT_ADMIN_TOKEN: 'nope' } });
    assert.equal(wrong.status, 1);
    assert.match(wrong.stderr, /401/);
    const viewer = spawnSync(path.join(ROOT, 'scripts/pilot'), ['--url', w.url, 'pause', 'pilot'], { encoding: 'utf8', env: { ...env, PILOT_ADMIN_TOKEN: OPERATORS.vera.token } });
    assert.equal(viewer.status, 1);
    assert.match(viewer.stderr, /refused: 403 forbidden: needs operator\n {2}your role may not do this/);
  });
});

describe('control plane state across a restart', () => {
  test('a restart of wrangler dev keeps the flags, the kill switch and the audit log', async () => {
    const state = `control-restart-${process.pid}`;
    let w = await startWorker({ state, flags: 'flags/demo.json' });
    let before;
    try {
      await admin(w.url, 'POST', '/kill', { body: { reason: 'kept across restart' } });
      before = {
        flags: (await admin(w.url, 'GET', '/flags')).body,
        audit: (await admin(w.url, 'GET', '/audit')).body,
        flagset: (await admin(w.url, 'GET', '/flagset')).body,
      };
    } finally {
      await w.stop();
    }
    w = await startWorker({ state });
    try {
      const flags = (await admin(w.url, 'GET', '/flags')).body;
      assert.equal(flags.kill.reason, 'kept across restart');
      assert.deepEqual(flags.flags.map((f) => f.etag), before.flags.flags.map((f) => f.etag));
      assert.deepEqual((await admin(w.url, 'GET', '/audit')).body, before.audit);
      assert.deepEqual((await admin(w.url, 'GET', '/flagset')).body, before.flagset);
      const health = await (await fetch(`${w.url}/api/healthz`)).json();
      assert.equal(health.rollout.version, String(flags.revision), 'the edge serves the published set');
    } finally {
      await w.stop();
    }
  });
});
