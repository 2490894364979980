// scripts/deploy: its arguments, the production rule (a v* tag on a clean tree), the
// environments in wrangler.toml (each with every binding and var of the top level, its own KV
// namespaces and queues), and the plans it prints: `staging --dry-run` builds through
// `wrangler deploy --dry-run`, `init --dry-run` lists the wrangler commands, `rollback
// --dry-run` the rollback with its reason, and production is refused off a tag.
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { readFileSync } from 'node:fs';
import path from 'node:path';
import { test } from 'node:test';

import { parse, placeholders, productionRefusals, withId } from '../../scripts/lib/deploy.mjs';

const ROOT = path.resolve(import.meta.dirname, '../..');
const toml = readFileSync(path.join(ROOT, 'wrangler.toml'), 'utf8');
const config = JSON.parse(spawnSync('python3', ['-c', 'import json, sys, tomllib; print(json.dumps(tomllib.load(open(sys.argv[1], "rb"))))', path.join(ROOT, 'wrangler.toml')], { encoding: 'utf8' }).stdout);
const deploy = (...args) => spawnSync(path.join(ROOT, 'scripts/deploy'), args, { cwd: ROOT, encoding: 'utf8', env: { ...process.env, PILOT_STAGING_URL: '', PILOT_PRODUCTION_URL: '' } });

test('arguments: commands, environments, a percentage, a rollback\'s reason', () => {
  assert.deepEqual(parse(['staging', '--dry-run']), { cmd: 'staging', env: 'staging', percent: null, flags: { dryRun: true, yes: false, reason: null, version: null } });
  assert.equal(parse(['gradual', 'production', '25']).percent, 25);
  assert.equal(parse(['rollback', 'staging', '--reason', 'bad', '--version', 'abc']).flags.version, 'abc');
  for (const bad of [[], ['qa'], ['init'], ['init', 'qa'], ['gradual', 'staging', '100'], ['gradual', 'staging', '0'], ['rollback', 'staging'], ['staging', '--force'], ['rollback', 'staging', '--reason']]) {
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

test('each environment has every binding and var of the top level, with its own KV and queues', () => {
  const names = (list, key) => (list ?? []).map((x) => x[key]).sort();
  for (const env of ['staging', 'production']) {
    const e = config.env[env];
    assert.equal(e.name, `pilot-gate-${env}`);
    assert.deepEqual(Object.keys(e.vars).sort(), Object.keys(config.vars).sort(), `${env} vars`);
    assert.deepEqual(names(e.kv_namespaces, 'binding'), names(config.kv_namespaces, 'binding'));
    assert.deepEqual(names(e.durable_objects.bindings, 'class_name'), names(config.durable_objects.bindings, 'class_name'));
    assert.deepEqual(names(e.ratelimits, 'name'), names(config.ratelimits, 'name'));
    assert.deepEqual(names(e.queues.producers, 'queue'), names(config.queues.producers, 'queue').map((q) => `${q}-${env}`).sort());
    assert.deepEqual(names(e.queues.consumers, 'queue'), names(config.queues.consumers, 'queue').map((q) => `${q}-${env}`).sort());
    for (const c of e.queues.consumers) {
      if (c.dead_letter_queue) assert.equal(c.dead_letter_queue, `pilot-gate-events-dlq-${env}`);
    }
    const ids = e.kv_namespaces.map((k) => k.id);
    assert.equal(new Set(ids).size, ids.length);
    assert.ok(ids.every((id) => !config.kv_namespaces.some((k) => k.id === id)), `${env} shares no KV namespace with local`);
    // Until init writes real ids, each is a placeholder that init can find.
    assert.equal(placeholders(toml, env).length, ids.filter((id) => id.startsWith('<')).length);
  }
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

test('deploy staging --dry-run builds and bundles through wrangler deploy --dry-run', () => {
  const r = deploy('staging', '--dry-run');
  assert.equal(r.status, 0, r.stderr + r.stdout);
  assert.match(r.stdout, /1\. wrangler deploy --env staging/);
  assert.match(r.stdout, /env\.FLAG_EVENTS \(FlagEvents\)/);
  assert.match(r.stdout, /pilot-gate-events-staging/);
  assert.match(r.stdout, /dry run: nothing deployed/);
});

test('init, rollback and gradual --dry-run print their wrangler commands; production is refused off a tag', () => {
  const init = deploy('init', 'production', '--dry-run');
  assert.equal(init.status, 0, init.stderr);
  for (const line of ['wrangler kv namespace create EVENTS_KV --env production', 'wrangler kv namespace create CONFIG_KV --env production',
    'wrangler queues create pilot-gate-events-production', 'wrangler queues create pilot-gate-evidence-production',
    'wrangler queues create pilot-gate-events-dlq-production', 'wrangler secret put COOKIE_SECRET --env production',
    'wrangler secret put ADMIN_TOKENS --env production', 'dry run: nothing created']) {
    assert.ok(init.stdout.includes(line), `${line} in\n${init.stdout}`);
  }
  const back = deploy('rollback', 'production', '--reason', 'bad release', '--dry-run');
  assert.equal(back.status, 0, back.stderr);
  assert.match(back.stdout, /wrangler rollback --env production --message "bad release" --yes/);
  const gradual = deploy('gradual', 'staging', '10', '--dry-run');
  assert.equal(gradual.status, 0, gradual.stderr);
  assert.match(gradual.stdout, /wrangler versions deploy <new>@10% <current>@90% --env staging --yes/);
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
