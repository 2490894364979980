// End-to-end tests of what survives failures, against `wrangler dev` with faults enabled
// (PILOT_GATE_FAULTS=true, `POST /api/admin/faults`): a flag's evidence object that answers
// nothing for a minute loses no count (the queue redelivers with growing delays); dead letters
// are counted on /metrics, listed, replayed to their queue and discarded with `scripts/pilot dlq`.
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import path from 'node:path';
import { after, before, describe, test } from 'node:test';

import {
  OPERATORS, ROOT, admin, ev, metrics, pool, postEvents, sample, sleep, startWorker, toHalf, total, units, until, visit, visitor,
} from './harness.mjs';

/** Runs the operator CLI against the worker; resolves to { status, stdout, stderr }. */
function pilot(url, ...args) {
  const r = spawnSync(process.execPath, [path.join(ROOT, 'scripts/pilot'), '--url', url, ...args], {
    encoding: 'utf8', env: { ...process.env, PILOT_ADMIN_TOKEN: OPERATORS.ada.token },
  });
  return { status: r.status, stdout: r.stdout, stderr: r.stderr };
}

const fault = (url, body) => admin(url, 'POST', '/faults', { body });

describe('an outage of the evidence, and the dead letters', () => {
  let w;
  before(async () => {
    w = await startWorker({ state: `outage-${process.pid}`, vars: { FLAGS_CACHE_S: '1', PILOT_GATE_FAULTS: 'true' }, flags: 'flags/demo.json' });
    await toHalf(w.url, 'pilot');
    await sleep(1500);
  });
  after(async () => { await w?.stop(); });

  test("a minute without the pilot's evidence object loses no exposure and no error", async (t) => {
    const down = await fault(w.url, { fault: 'evidence_down', flag: 'pilot', seconds: 60 });
    assert.equal(down.status, 200, JSON.stringify(down.body));
    const t0 = Date.now();
    // 40 fresh visitors on /try; every fourth sends an error event (a signed identity).
    const errors = { on: 0, off: 0 };
    const arms = await pool(Array.from({ length: 40 }, (_, i) => i), 8, async (i) => {
      const jar = visitor();
      await visit(`${w.url}/try`, jar);
      const arm = jar.get('pilot_cohort') === 'pilot' ? 'on' : 'off';
      if (i % 4 === 0) {
        assert.equal(await postEvents(w.url, jar, [ev('error', { message: 'boom' })]), 202);
        errors[arm] += 1;
      }
      return arm;
    });
    const exposed = { on: arms.filter((a) => a === 'on').length, off: arms.filter((a) => a === 'off').length };
    // While it is down, the stats (which it answers) fail as a whole: the outage is real.
    await sleep(6000);
    await visit(`${w.url}/`); // a later request sends the isolate's buffer (5 s old)
    const during = await admin(w.url, 'GET', '/stats/pilot');
    assert.equal(during.status, 503, JSON.stringify(during.body));
    // After the minute, redeliveries (5, 10, 20, 40 s ... after each failure) bring it all.
    const got = await until(async () => {
      const r = await admin(w.url, 'GET', '/stats/pilot');
      if (r.status !== 200) return null;
      const a = r.body.arms ?? {};
      const n = total(await units(w.url, 'pilot'));
      const e = (a.on?.errors ?? 0) + (a.off?.errors ?? 0);
      return n >= 40 && e >= errors.on + errors.off ? a : null;
    }, 'every count after the outage', 300_000);
    const afterMs = Date.now() - t0;
    await sleep(6000); // nothing counted twice arrives later
    const again = (await admin(w.url, 'GET', '/stats/pilot')).body.arms;
    t.diagnostic(`sent ${JSON.stringify(exposed)} visitors, errors ${JSON.stringify(errors)}; all counted ${(afterMs / 1000).toFixed(0)} s after the outage began (60 s long)`);
    assert.ok(afterMs >= 60_000, 'nothing was counted while the object was down');
    assert.deepEqual(again, got);
    for (const arm of ['on', 'off']) {
      assert.equal(got[arm]?.exposures ?? 0, exposed[arm], `${arm} exposures`);
      assert.equal(got[arm]?.errors ?? 0, errors[arm], `${arm} errors`);
    }
    const f = await metrics(w.url);
    assert.equal(sample(f, 'pilot_gate_dead_letters_total', { kind: 'sightings' }), 0, 'no sighting was dead-lettered');
    assert.equal(sample(f, 'pilot_gate_dead_letters_total', { kind: 'events' }), 0, 'no request was dead-lettered');
  });

  test('dead letters are counted on /metrics, listed, replayed and discarded with scripts/pilot dlq', async (t) => {
    const before = total(await units(w.url, 'e1_cta_copy'));
    const { revision } = (await admin(w.url, 'GET', '/status')).body;
    const minute = Math.floor(Date.now() / 60_000);
    // A poison message on the evidence queue: the consumer dead-letters it at once.
    assert.equal((await fault(w.url, { fault: 'enqueue', queue: 'evidence', body: 'not json' })).status, 200);
    // Sightings as the platform moves them after their retries: three units of e1_cta_copy.
    const sightings = [1001, 1002, 1003].map((u) => ({ k: { f: 'e1_cta_copy', v: 'control', u, m: minute, r: revision } }));
    assert.equal((await fault(w.url, { fault: 'enqueue', queue: 'dead_letters', body: JSON.stringify(sightings) })).status, 200);
    const f = await until(async () => {
      const m = await metrics(w.url);
      const stored = ['sightings', 'unreadable'].map((kind) => sample(m, 'pilot_gate_dead_letters_stored', { kind }));
      return stored.every((n) => n === 1) ? m : null;
    }, 'both dead letters stored', 60_000);
    assert.equal(sample(f, 'pilot_gate_dead_letters_total', { kind: 'unreadable' }), 1);
    assert.equal(sample(f, 'pilot_gate_dead_letters_total', { kind: 'sightings' }), 1);
    assert.equal(total(await units(w.url, 'e1_cta_copy')), before, 'a dead letter counts nothing');

    const list = pilot(w.url, 'dlq');
    t.diagnostic(`scripts/pilot dlq:\n${list.stdout}`);
    assert.equal(list.status, 0, list.stderr);
    assert.match(list.stdout, /sightings: 1 kept, 1 received, 0 replayed/);
    assert.match(list.stdout, /unreadable: 1 kept, 1 received/);
    const letters = JSON.parse(pilot(w.url, '--json', 'dlq').stdout).letters;
    assert.deepEqual(letters.map((l) => l.kind).sort(), ['sightings', 'unreadable']);

    // --all replays every readable letter and leaves the unreadable one; named, it is refused.
    const replay = pilot(w.url, 'dlq', 'replay', '--all');
    t.diagnostic(`scripts/pilot dlq replay --all:\n${replay.stdout}${replay.stderr}`);
    assert.equal(replay.status, 0, replay.stderr);
    assert.equal(replay.stdout, 'replayed 1; 1 left\n');
    await until(async () => total(await units(w.url, 'e1_cta_copy')) === before + 3, 'the replayed sightings counted');
    const unreadable = letters.find((l) => l.kind === 'unreadable').id;
    const named = pilot(w.url, 'dlq', 'replay', unreadable);
    assert.equal(named.status, 0, named.stderr);
    assert.match(named.stdout, new RegExp(`replayed 0; 1 left\n  refused ${unreadable}: unreadable: discard it`));

    // Discarding asks to confirm; --yes does it.
    const refused = pilot(w.url, 'dlq', 'discard', unreadable);
    assert.equal(refused.status, 2, 'not confirmed without a terminal');
    const discard = pilot(w.url, '--yes', 'dlq', 'discard', unreadable);
    assert.equal(discard.status, 0, discard.stderr);
    assert.match(discard.stdout, /discarded 1; 0 left/);
    const end = await metrics(w.url);
    for (const [name, kind, n] of [
      ['pilot_gate_dead_letters_stored', 'sightings', 0], ['pilot_gate_dead_letters_stored', 'unreadable', 0],
      ['pilot_gate_dead_letters_replayed_total', 'sightings', 1], ['pilot_gate_dead_letters_discarded_total', 'unreadable', 1],
    ]) assert.equal(sample(end, name, { kind }), n, `${name}{kind=${kind}}`);
    const audit = (await admin(w.url, 'GET', '/audit?limit=2')).body.entries;
    assert.deepEqual(audit.map((e) => [e.action, e.actor]), [['dlq_discard', 'ada'], ['dlq_replay', 'ada']]);
  });

  test('faults are refused unless PILOT_GATE_FAULTS is true, and bad ones get a clear error', async () => {
    const bad = await fault(w.url, { fault: 'evidence_down', flag: 'pilot', seconds: 6000 });
    assert.deepEqual([bad.status, bad.body.error], [400, 'bad_request']);
    const other = await startWorker({ state: `outage-off-${process.pid}`, flags: 'flags/demo.json' });
    try {
      const r = await fault(other.url, { fault: 'evidence_down', flag: 'pilot', seconds: 60 });
      assert.deepEqual([r.status, r.body.error], [404, 'not_found']);
    } finally {
      await other.stop();
    }
  });
});
