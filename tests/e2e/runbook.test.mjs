// RUNBOOK.md's commands exist and work: every line of every `sh` block runs, in order, against a
// local worker with the demo flag set (the drills start their own). A command that fails fails
// the test with its output.
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { readFileSync } from 'node:fs';
import path from 'node:path';
import { after, before, describe, test } from 'node:test';

import { ADMIN_TOKEN, METRICS_TOKEN, OPERATORS, ROOT, admin, shBlocks, startWorker } from './harness.mjs';

describe('RUNBOOK.md', () => {
  let w;
  before(async () => {
    w = await startWorker({ state: `runbook-${process.pid}`, vars: { FLAGS_CACHE_S: '2' }, flags: 'flags/demo.json' });
    // The runbook starts from a planned pilot that has not started (tier 0).
    const r = await admin(w.url, 'POST', '/flags/pilot/rollback', { body: { reason: 'runbook test: before the launch' } });
    assert.equal(r.status, 200);
  });
  after(async () => { await w?.stop(); });

  const commands = shBlocks(readFileSync(path.join(ROOT, 'RUNBOOK.md'), 'utf8')).flat();
  const drills = commands.filter((c) => c.startsWith('scripts/drill '));
  const operator = commands.filter((c) => !drills.includes(c));

  /** Runs a RUNBOOK line; one whose comment says it is refused must exit 1 (a 4xx). */
  function run(t, command) {
    const env = {
      ...process.env,
      PILOT_URL: w.url, PILOT_ADMIN_TOKEN: OPERATORS.ada.token, ADMIN_TOKEN, METRICS_TOKEN,
      PILOT_GATE_SKIP_BUILD: '1',
    };
    const t0 = Date.now();
    const r = spawnSync('bash', ['-c', command], { cwd: ROOT, env, encoding: 'utf8', timeout: 600_000 });
    const last = (r.stdout || '').trim().split('\n').slice(-1)[0];
    t.diagnostic(`${command}  -> ${r.status} in ${((Date.now() - t0) / 1000).toFixed(1)} s: ${last.slice(0, 160)}`);
    const want = /# refused \(exit 1\)/.test(command) ? 1 : 0;
    assert.equal(r.status, want, `${command}\n${r.stdout}\n${r.stderr}`);
  }

  test('every operator command runs and succeeds, in order; the audit log holds each step', async (t) => {
    assert.ok(operator.length >= 15, `${operator.length} commands`);
    for (const command of operator) run(t, command);
    const entries = (await admin(w.url, 'GET', '/audit?flag=pilot&limit=20')).body.entries.reverse();
    const steps = entries.filter((e) => e.actor === 'ada').map((e) => [e.action, e.reason]);
    assert.deepEqual(steps, [
      ['start', 'launch: tier 1'],
      ['advance', 'first hour green; ttv:p90 lacks the traffic at 10 %'],
      ['pause', 'errors at 6 %: investigating'],
      ['resume', 'cause found and fixed'],
      ['rollback', 'error rate 11 % on checkout'],
      ['start', 'fix deployed: back to tier 1'],
    ]);
  });

  test('every drill runs and meets its goal', (t) => {
    assert.deepEqual(drills.map((c) => c.split(' ')[1]), ['kill', 'rollback', 'rollback', 'aa']);
    assert.ok(drills.some((c) => c.includes('--server-errors')), 'a rollback on server errors alone');
    for (const command of drills) run(t, command);
  });
});
