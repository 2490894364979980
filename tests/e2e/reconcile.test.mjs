// Reconciliation against `wrangler dev --test-scheduled`: the hourly Cron Trigger, fired by the
// test, finds the events KV holds equal to those the control plane counted (drift 0, on
// /metrics and in the stats API); after the test removes stored events behind the counts' back
// and fires it again, the drift shows.
import assert from 'node:assert/strict';
import { after, before, describe, test } from 'node:test';

import { ADMIN_TOKEN, admin, ev, fireCron, metrics, postEvents, sample, sleep, startWorker, until, visitor } from './harness.mjs';

describe('reconciliation', () => {
  let w;
  before(async () => {
    w = await startWorker({ state: `reconcile-${process.pid}`, flags: 'flags/demo.json', args: ['--test-scheduled'] });
  });
  after(async () => { await w?.stop(); });

  const health = async () => (await admin(w.url, 'GET', '/stats/pilot')).body.health.reconciled;

  test('fired after traffic, it finds what was counted; events removed behind its back show as drift', async (t) => {
    let sent = 0;
    for (let i = 0; i < 10; i++) {
      const jar = visitor();
      const batch = [ev('page_view'), ev('clicked_around'), ...(i % 2 ? [ev('ttv', { ms: 900 })] : [])];
      assert.equal(await postEvents(w.url, jar, batch), 202);
      sent += batch.length;
    }
    // Every event stored (the listing counts them).
    await until(async () => {
      const r = await fetch(`${w.url}/api/events?count=true`, { headers: { authorization: `Bearer ${ADMIN_TOKEN}` } });
      return (await r.json()).count === sent;
    }, 'every event stored', 30_000);
    await sleep(1_000);
    // As if the cron ran two minutes from now: the window holds everything sent.
    await fireCron(w.url, Date.now() + 120_000);
    const first = await until(health, 'a first reconciliation', 30_000);
    assert.equal(first.counted, sent);
    assert.equal(first.stored, sent);
    assert.equal(first.drift, 0);
    assert.equal(sample(await metrics(w.url), 'pilot_gate_reconcile_drift_ratio', {}), 0);
    // Delete the stored events (the admin route), leaving the counts as they are.
    const gone = await fetch(`${w.url}/api/events`, { method: 'DELETE', headers: { authorization: `Bearer ${ADMIN_TOKEN}` } });
    assert.equal(gone.status, 200);
    assert.equal((await gone.json()).complete, true);
    await fireCron(w.url, Date.now() + 120_000);
    const second = await until(async () => {
      const h = await health();
      return h.atMs > first.atMs ? h : null;
    }, 'a second reconciliation', 30_000);
    t.diagnostic(`after deleting the stored events: counted ${second.counted}, stored ${second.stored}, drift ${second.drift}`);
    assert.equal(second.counted, sent);
    assert.equal(second.stored, 0);
    assert.equal(second.drift, 1);
    const families = await metrics(w.url);
    assert.equal(sample(families, 'pilot_gate_reconcile_drift_ratio', {}), 1);
    assert.equal(sample(families, 'pilot_gate_reconcile_events', { side: 'counted' }), sent);
    assert.ok(sample(families, 'pilot_gate_reconcile_last_run_timestamp_seconds', {}) >= Math.floor(second.atMs / 1000) - 1);
  });
});
