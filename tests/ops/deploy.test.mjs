// scripts/deploy: its arguments, the production rule (a v* tag on a clean tree), the
// environments in both workers' configs (each with every binding and var of the top level, its
// own KV namespaces and queues; the control worker's vars the edge's, its objects the ones the
// edge binds across scripts), and the plans it prints: `staging --dry-run` builds both through
// `wrangler deploy --dry-run`, the control worker first, `init --dry-run` lists the wrangler
// commands, `rollback --dry-run` the rollbacks with their reason, and production is refused off
// a tag.
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { readFileSync } from 'node:fs';
import path from 'node:path';
import { test } from 'node:test';

import { parse, placeholders, productionRefusals, withId, WORKERS } from '../../scripts/lib/deploy.mjs';

const ROOT = path.resolve(import.meta.dirname, '../..');
const load = (file) => ({
  toml: readFileSync(path.join(ROOT, file), 'utf8'),
  config: JSON.parse(spawnSync('python3', ['-c', 'import json, sys, tomllib; print(json.dumps(tomllib.load(open(sys.argv[1], "rb"))))', path.join(ROOT, file)], { encoding: 'utf8' }).stdout),
});
const edge = load('wrangler.toml');
const control = load('wrangler.control.toml');
const deploy = (...args) => spawnSync(path.join(ROOT, 'scripts/deploy'), args, { cwd: ROOT, encoding: 'utf8', env: { ...process.env, PILOT_STAGING_URL: '', PILOT_PRODUCTION_URL: '' } });

test('arguments: commands, environments, a percentage, a rollback\'s reason', () => {
  assert.deepEqual(parse(['staging', '--dry-run']), { cmd: 'staging', env: 'staging', percent: null, flags: { dryRun: true, yes: false, reason: null, version: null, worker: null } });
  assert.equal(parse(['gradual', 'production', '25']).percent, 25);
  assert.equal(parse(['rollback', 'staging', '--reason', 'bad', '--worker', 'edge', '--version', 'abc']).flags.version, 'abc');
  for (const bad of [[], ['qa'], ['init'], ['init', 'qa'], ['gradual', 'staging', '100'], ['gradual', 'staging', '0'], ['rollback', 'staging'], ['staging', '--force'], ['rollback', 'staging', '--reason'],
    ['rollback', 'staging', '--reason', 'bad', '--version', 'abc'], ['rollback', 'staging', '--reason', 'bad', '--worker', 'both']]) {
    assert.throws(() => parse(bad), undefined, bad.join(' '));
  }
});

test('production only from a v* tag on a clean tree', () => {
  assert.deepEqual(productionRefusals({ tags: ['v1.2.3'], dirty: false }), []);
  assert.equal(productionRefusals({ tags: [], dirty: false }).length, 1);
  assert.equal(productionRefusals({ tags: ['release-1'], dirty: false }).length, 1);
  assert.equal(productionRefusals({ tags: ['v2.0.0'], dirty: true }).length, 1);
  assert.equal(productionRefusals({ tags: [], dirty: true }).length, 2);
});

test('each environment of each worker has every binding and var of the top level, with its own KV and queues', () => {
  const names = (list, key) => (list ?? []).map((x) => x[key]).sort();
  for (const [worker, { toml, config }] of [['edge', edge], ['control', control]]) {
    for (const env of ['staging', 'production']) {
      const e = config.env[env];
      const at = `${worker} ${env}`;
      assert.equal(e.name, `${config.name}-${env}`, at);
      assert.deepEqual(Object.keys(e.vars).sort(), Object.keys(config.vars).sort(), `${at} vars`);
      assert.deepEqual(names(e.kv_namespaces, 'binding'), names(config.kv_namespaces, 'binding'), at);
      assert.deepEqual(names(e.durable_objects.bindings, 'class_name'), names(config.durable_objects.bindings, 'class_name'), at);
      assert.deepEqual(names(e.ratelimits, 'name'), names(config.ratelimits, 'name'), at);
      assert.deepEqual(names(e.queues.producers, 'queue'), names(config.queues.producers, 'queue').map((q) => `${q}-${env}`).sort(), at);
      assert.deepEqual(names(e.queues.consumers, 'queue'), names(config.queues.consumers, 'queue').map((q) => `${q}-${env}`).sort(), at);
      for (const c of e.queues.consumers) {
        if (c.dead_letter_queue) assert.equal(c.dead_letter_queue, `pilot-gate-events-dlq-${env}`);
      }
      const ids = e.kv_namespaces.map((k) => k.id);
      assert.equal(new Set(ids).size, ids.length);
      assert.ok(ids.every((id) => !config.kv_namespaces.some((k) => k.id === id)), `${at} shares no KV namespace with local`);
      // Until init writes real ids, each is a placeholder that init can find.
      assert.equal(placeholders(toml, env).length, ids.filter((id) => id.startsWith('<')).length);
    }
  }
});

test('the edge binds the control worker\'s objects and service in every environment; the control worker has the edge\'s vars', () => {
  for (const env of [null, 'staging', 'production']) {
    const e = env ? edge.config.env[env] : edge.config;
    const c = env ? control.config.env[env] : control.config;
    const at = env ?? 'local';
    assert.deepEqual(e.vars, c.vars, `${at}: the same vars`);
    assert.deepEqual(e.services, [{ binding: 'CONTROL', service: c.name }], at);
    assert.deepEqual(e.durable_objects.bindings.map((b) => [b.name, b.class_name, b.script_name]),
      c.durable_objects.bindings.map((b) => [b.name, b.class_name, c.name]), at);
    assert.deepEqual(e.kv_namespaces.map((k) => [k.binding, k.id]), c.kv_namespaces.map((k) => [k.binding, k.id]), `${at}: the same KV namespaces`);
  }
  // The objects' storage and migrations are the control worker's alone.
  assert.equal(edge.config.migrations, undefined);
  assert.deepEqual(control.config.migrations.flatMap((m) => m.new_sqlite_classes), ['RolloutControl', 'FlagEvidence', 'FlagEvents']);
  assert.deepEqual(WORKERS.map((w) => w.name), ['control', 'edge'], 'the control worker deploys first');
});

test('init replaces each placeholder once, in its own environment', () => {
  const text = ['staging', 'production'].flatMap((env) => ['EVENTS_KV', 'CONFIG_KV'].map((b) => `id = "<${env} ${b}: scripts/deploy init ${env}>"`)).join('\n');
  assert.deepEqual(placeholders(text, 'staging').length, 2);
  const once = withId(text, 'staging', 'EVENTS_KV', '0123456789abcdef0123456789abcdef');
  assert.deepEqual(placeholders(once, 'staging'), ['<staging CONFIG_KV: scripts/deploy init staging>']);
  assert.equal(placeholders(once, 'production').length, 2);
  assert.match(once, /id = "0123456789abcdef0123456789abcdef"/);
  assert.throws(() => withId(once, 'staging', 'EVENTS_KV', 'x'), /already set/);
});

test('deploy staging --dry-run builds and bundles both workers through wrangler deploy --dry-run, the control worker first', () => {
  const r = deploy('staging', '--dry-run');
  assert.equal(r.status, 0, r.stderr + r.stdout);
  assert.match(r.stdout, /1\. scripts\/build \(both workers\), then wrangler deploy -c wrangler\.control\.toml --env staging, then wrangler deploy -c wrangler\.toml --env staging/);
  const controlAt = r.stdout.indexOf('$ wrangler deploy -c wrangler.control.toml --env staging --dry-run');
  const edgeAt = r.stdout.indexOf('$ wrangler deploy -c wrangler.toml --env staging --dry-run');
  assert.ok(controlAt > 0 && edgeAt > controlAt, r.stdout);
  assert.match(r.stdout, /env\.FLAG_EVENTS \(FlagEvents\)/);
  assert.match(r.stdout, /env\.CONTROL \(pilot-gate-control-staging\)/);
  assert.match(r.stdout, /pilot-gate-events-staging/);
  assert.match(r.stdout, /dry run: nothing deployed/);
});

test('init, rollback and gradual --dry-run print their wrangler commands; production is refused off a tag', () => {
  const init = deploy('init', 'production', '--dry-run');
  assert.equal(init.status, 0, init.stderr);
  for (const line of ['wrangler kv namespace create EVENTS_KV --env production', 'wrangler kv namespace create CONFIG_KV --env production',
    'wrangler queues create pilot-gate-events-production', 'wrangler queues create pilot-gate-evidence-production',
    'wrangler queues create pilot-gate-events-dlq-production', 'wrangler secret put COOKIE_SECRET -c wrangler.control.toml --env production',
    'wrangler secret put ADMIN_TOKENS -c wrangler.control.toml --env production', 'wrangler secret put COOKIE_SECRET -c wrangler.toml --env production',
    'wrangler secret put OFREP_TOKEN -c wrangler.toml --env production', 'dry run: nothing created']) {
    assert.ok(init.stdout.includes(line), `${line} in\n${init.stdout}`);
  }
  const back = deploy('rollback', 'production', '--reason', 'bad release', '--dry-run');
  assert.equal(back.status, 0, back.stderr);
  assert.match(back.stdout, /1\. wrangler rollback -c wrangler\.toml --env production --message "bad release" --yes/);
  assert.match(back.stdout, /2\. wrangler rollback -c wrangler\.control\.toml --env production --message "bad release" --yes/);
  const one = deploy('rollback', 'production', '--reason', 'bad release', '--worker', 'control', '--version', 'v-1', '--dry-run');
  assert.equal(one.status, 0, one.stderr);
  assert.match(one.stdout, /1\. wrangler rollback v-1 -c wrangler\.control\.toml --env production/);
  assert.doesNotMatch(one.stdout, /2\. /);
  const gradual = deploy('gradual', 'staging', '10', '--dry-run');
  assert.equal(gradual.status, 0, gradual.stderr);
  assert.match(gradual.stdout, /wrangler versions deploy <new>@10% <current>@90% -c wrangler\.toml --env staging --yes/);
  // This checkout's own HEAD: refused for each reason that holds (a release checkout, tagged and
  // clean, would build instead).
  const git = (...a) => spawnSync('git', a, { cwd: ROOT, encoding: 'utf8' }).stdout.trim();
  const refusals = productionRefusals({ tags: git('tag', '--points-at', 'HEAD').split('\n').filter(Boolean), dirty: git('status', '--porcelain') !== '' });
  const prod = deploy('production', '--dry-run');
  assert.equal(prod.status, refusals.length ? 2 : 0, prod.stdout + prod.stderr);
  for (const r of refusals) assert.ok(prod.stdout.includes(`refused: ${r}`), r);
  const usage = deploy('qa');
  assert.equal(usage.status, 2);
  assert.match(usage.stderr, /usage:/);
});
