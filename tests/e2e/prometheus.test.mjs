// A real Prometheus (Debian's `prometheus`, as scripts/setup installs it) against `wrangler dev`:
// started by the test on a loopback port with its own data directory and stopped by its process
// group, it scrapes /metrics with the bearer token every second and loads
// ops/prometheus/alerts.yml. After some traffic its HTTP API answers the values the worker
// counted (a snapshot of /metrics is kept in tests/.tmp for CI), the rules load healthy, and
// turning the kill switch on fires PilotGateKillSwitch.
import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import { mkdirSync, openSync, rmSync, writeFileSync } from 'node:fs';
import path from 'node:path';
import { after, before, describe, test } from 'node:test';

import { CookieJar, METRICS_TOKEN, ROOT, admin, ev, freePort, postEvents, sleep, startWorker, stopGroup, until, visit } from './harness.mjs';

/** Starts Prometheus scraping `target` (host:port); resolves to { url, stop } once it is ready. */
async function startPrometheus(target) {
  const port = await freePort();
  const dir = path.join(ROOT, 'tests/.tmp', `prometheus-${port}`);
  rmSync(dir, { recursive: true, force: true });
  mkdirSync(path.join(dir, 'data'), { recursive: true });
  const config = path.join(dir, 'prometheus.yml');
  writeFileSync(config, [
    'global: {scrape_interval: 1s, evaluation_interval: 1s}',
    `rule_files: ['${path.join(ROOT, 'ops/prometheus/alerts.yml')}']`,
    'scrape_configs:',
    '  - job_name: pilot-gate',
    `    authorization: {type: Bearer, credentials: '${METRICS_TOKEN}'}`,
    `    static_configs: [{targets: ['${target}']}]`,
    '',
  ].join('\n'));
  const log = openSync(path.join(dir, 'prometheus.log'), 'w');
  const child = spawn('prometheus', [
    `--config.file=${config}`, `--storage.tsdb.path=${path.join(dir, 'data')}`,
    `--web.listen-address=127.0.0.1:${port}`, '--log.level=warn',
  ], { detached: true, stdio: ['ignore', log, log] });
  let exited = null;
  child.on('exit', (code) => { exited = code; });
  const url = `http://127.0.0.1:${port}`;
  const stop = () => stopGroup(child);
  await until(async () => {
    if (exited !== null) throw new Error(`prometheus exited with ${exited}; see ${dir}/prometheus.log`);
    try {
      return (await fetch(`${url}/-/ready`)).ok;
    } catch {
      return false;
    }
  }, 'prometheus ready', 30_000);
  return { url, stop };
}

/** An instant query's result vector. */
async function query(prom, expr) {
  const res = await fetch(`${prom.url}/api/v1/query?query=${encodeURIComponent(expr)}`);
  const body = await res.json();
  assert.equal(body.status, 'success', JSON.stringify(body));
  return body.data.result;
}
const scalar = async (prom, expr) => {
  const r = await query(prom, expr);
  return r.length ? Number(r[0].value[1]) : null;
};

describe('a real Prometheus scrapes the worker', () => {
  let w;
  let prom;
  before(async () => {
    w = await startWorker({ state: `prometheus-${process.pid}`, flags: 'flags/demo.json', vars: { FLAGS_CACHE_S: '1' } });
    prom = await startPrometheus(new URL(w.url).host);
  });
  after(async () => {
    await prom?.stop();
    await w?.stop();
  });

  test('the target is up with the bearer token, and the alert rules load healthy', async () => {
    const targets = await until(async () => {
      const t = (await (await fetch(`${prom.url}/api/v1/targets`)).json()).data.activeTargets;
      return t.length && t[0].health === 'up' ? t : null;
    }, 'the scrape target up', 30_000);
    assert.equal(targets[0].labels.job, 'pilot-gate');
    const rules = (await (await fetch(`${prom.url}/api/v1/rules`)).json()).data.groups;
    assert.deepEqual(rules.map((g) => g.name), ['pilot-gate']);
    assert.equal(rules[0].rules.length, 9);
    for (const r of rules[0].rules) assert.equal(r.health, 'ok', `${r.name}: ${r.lastError}`);
  });

  test('after traffic, Prometheus holds what the worker counted', async () => {
    const accepted = 6;
    for (let i = 0; i < accepted; i++) {
      const jar = new CookieJar();
      jar.ua = `prometheus-visitor-${i}`;
      await visit(`${w.url}/try`, jar, { 'user-agent': jar.ua });
      assert.equal(await postEvents(w.url, jar, [ev('page_view')]), 202);
    }
    const bad = await fetch(`${w.url}/api/events`, { method: 'POST', headers: { 'content-type': 'application/json' }, body: '{nope' });
    assert.equal(bad.status, 400);
    // The isolate sends its counts on a request at least 5 s after the last flush.
    await sleep(5_500);
    await (await fetch(`${w.url}/api/healthz`)).arrayBuffer();
    await until(async () => (await scalar(prom, 'sum(pilot_gate_beacon_requests_total{outcome="accepted"})')) === accepted, 'accepted requests in Prometheus', 30_000);
    assert.equal(await scalar(prom, 'sum(pilot_gate_beacon_requests_total{outcome="invalid_json"})'), 1);
    assert.ok(await scalar(prom, 'sum(pilot_gate_responses_total{route="beacon",class="2xx"})') >= accepted);
    assert.ok(await scalar(prom, 'sum(pilot_gate_responses_total{route="beacon",class="4xx"})') >= 1);
    await until(async () => (await scalar(prom, 'pilot_gate_ingest_latency_seconds_count')) >= accepted, 'ingest latencies in Prometheus', 30_000);
    const p95 = await scalar(prom, 'histogram_quantile(0.95, sum by (le) (pilot_gate_ingest_latency_seconds_bucket))');
    assert.ok(p95 > 0 && p95 <= 60, `ingest p95 ${p95} s`);
    assert.equal(await scalar(prom, 'pilot_gate_kill_switch'), 0);
    const status = (await admin(w.url, 'GET', '/status')).body;
    assert.equal(await scalar(prom, 'pilot_gate_flagset_published_revision'), status.published);
    // The snapshot CI keeps with the reports (.github/workflows/ci.yml).
    const snapshot = await fetch(`${w.url}/metrics`, { headers: { authorization: `Bearer ${METRICS_TOKEN}` } });
    writeFileSync(path.join(ROOT, 'tests/.tmp/metrics-snapshot.txt'), await snapshot.text());
  });

  test('the kill switch fires PilotGateKillSwitch, and unkill clears it', async () => {
    const firing = async () => (await (await fetch(`${prom.url}/api/v1/alerts`)).json()).data.alerts
      .filter((a) => a.labels.alertname === 'PilotGateKillSwitch' && a.state === 'firing');
    assert.deepEqual(await firing(), []);
    assert.equal((await admin(w.url, 'POST', '/kill', { body: { reason: 'prometheus test' } })).status, 200);
    const [alert] = await until(async () => {
      const f = await firing();
      return f.length ? f : null;
    }, 'PilotGateKillSwitch firing', 30_000);
    assert.equal(alert.labels.severity, 'warn');
    assert.equal(alert.annotations.runbook_url, 'RUNBOOK.md#pilotgatekillswitch');
    assert.equal((await admin(w.url, 'POST', '/unkill', { body: { reason: 'prometheus test' } })).status, 200);
    await until(async () => (await firing()).length === 0, 'PilotGateKillSwitch resolved', 30_000);
  });
});
