// ops/grafana/pilot-gate.json: a dashboard Grafana imports (its data source an input, current
// schema, unique panel ids) whose every PromQL expression promtool accepts (written out as a
// recording-rules file, with the dashboard's variables filled in) and names only series that
// /metrics serves (crates/core/src/metrics.rs).
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { mkdirSync, readFileSync, writeFileSync } from 'node:fs';
import path from 'node:path';
import { test } from 'node:test';

const ROOT = path.resolve(import.meta.dirname, '../..');
const dashboard = JSON.parse(readFileSync(path.join(ROOT, 'ops/grafana/pilot-gate.json'), 'utf8'));
const targets = dashboard.panels.flatMap((p) => (p.targets ?? []).map((t) => ({ panel: p.title, expr: t.expr })));

test('the dashboard imports: a data-source input, current schema, unique ids, every panel placed', () => {
  assert.ok(dashboard.schemaVersion >= 39, `schemaVersion ${dashboard.schemaVersion}`);
  assert.deepEqual(dashboard.__inputs.map((i) => [i.name, i.pluginId]), [['DS_PROMETHEUS', 'prometheus']]);
  const ids = dashboard.panels.map((p) => p.id);
  assert.equal(new Set(ids).size, ids.length, 'panel ids are unique');
  for (const p of dashboard.panels) {
    assert.ok(p.gridPos && p.gridPos.w > 0 && p.gridPos.h > 0, p.title);
    if (p.type !== 'row') assert.equal(p.datasource.uid, '${DS_PROMETHEUS}', p.title);
  }
  assert.ok(targets.length >= 20, `${targets.length} expressions`);
});

test('every expression is PromQL that promtool accepts, over series /metrics serves', () => {
  const fill = (e) => e.replaceAll('$__rate_interval', '5m').replaceAll('$flag', '.*').replaceAll('$metric', '.*');
  const rules = targets.map((t, i) => `      - record: pilot_gate:dashboard_${i}\n        expr: ${JSON.stringify(fill(t.expr))}`);
  const dir = path.join(ROOT, 'tests/.tmp');
  mkdirSync(dir, { recursive: true });
  const file = path.join(dir, 'grafana-rules.yml');
  writeFileSync(file, `groups:\n  - name: pilot-gate-dashboard\n    rules:\n${rules.join('\n')}\n`);
  const r = spawnSync('promtool', ['check', 'rules', file], { encoding: 'utf8' });
  assert.equal(r.status, 0, `${r.stdout}${r.stderr}`);
  assert.match(r.stdout, new RegExp(`SUCCESS: ${targets.length} rules found`));
  const served = readFileSync(path.join(ROOT, 'crates/core/src/metrics.rs'), 'utf8');
  for (const t of targets) {
    for (const name of t.expr.match(/pilot_gate_[a-z_]+/g) ?? []) {
      const family = name.replace(/_(bucket|sum|count)$/, '');
      assert.ok(served.includes(`"${family}"`) || served.includes(`"${name}"`), `${t.panel}: ${name} is not served`);
    }
  }
});
