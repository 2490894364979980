// scripts/deploy: staging and production environments through wrangler (see scripts/deploy for
// the usage). Every subcommand prints its plan, the wrangler commands it runs, before it runs
// them; --dry-run prints the plan and runs only what changes nothing (a `wrangler deploy
// --dry-run` build). Production deploys only from a v* tag on a clean tree, after the smoke
// test and the load-test gate pass against staging.
import { execFileSync, spawnSync } from 'node:child_process';
import { readFileSync, writeFileSync } from 'node:fs';
import path from 'node:path';
import { createInterface } from 'node:readline/promises';

import { ROOT } from './local.mjs';

const ENVS = ['staging', 'production'];
const WRANGLER = path.join(ROOT, 'node_modules/.bin/wrangler');
const CONFIG = path.join(ROOT, 'wrangler.toml');
/** The KV namespaces and queues each environment has (wrangler.toml). */
const KV = ['EVENTS_KV', 'CONFIG_KV'];
const QUEUES = ['pilot-gate-events', 'pilot-gate-evidence', 'pilot-gate-events-dlq', 'pilot-gate-notify'];
const SECRETS = ['COOKIE_SECRET', 'ADMIN_TOKENS', 'METRICS_TOKEN', 'OFREP_TOKEN', 'INGEST_HMAC_SECRET', 'NOTIFY_SECRET'];
/** The load-test gate that production waits for (the launch documents' numbers). */
const LOADTEST = ['--total', '1000', '--unique', '200', '--concurrency', '50'];

const USAGE = `usage:
  scripts/deploy staging [--dry-run]
  scripts/deploy production [--dry-run] [--yes]
  scripts/deploy rollback ENV --reason TEXT [--version ID] [--yes] [--dry-run]
  scripts/deploy gradual ENV PERCENT [--dry-run]
  scripts/deploy init ENV [--dry-run]
ENV is staging or production. Deploys and rollbacks need \`wrangler login\` (or
CLOUDFLARE_API_TOKEN); the smoke test and the load-test gate read PILOT_STAGING_URL and
PILOT_PRODUCTION_URL, and ADMIN_TOKEN and INGEST_HMAC_SECRET as scripts/smoke does.`;

class UsageError extends Error {}

/** Parses argv into { cmd, env, percent, flags }. */
export function parse(argv) {
  const flags = { dryRun: false, yes: false, reason: null, version: null };
  const rest = [];
  for (let i = 0; i < argv.length; i++) {
    const a = argv[i];
    if (a === '--dry-run') flags.dryRun = true;
    else if (a === '--yes' || a === '-y') flags.yes = true;
    else if (a === '--reason' || a === '--version') {
      const v = argv[++i];
      if (!v) throw new UsageError(`${a} needs a value`);
      flags[a.slice(2)] = v;
    } else if (a.startsWith('--')) throw new UsageError(`unknown option ${a}`);
    else rest.push(a);
  }
  const [cmd, ...args] = rest;
  const env = ENVS.includes(cmd) ? cmd : args[0];
  if (!['staging', 'production', 'rollback', 'gradual', 'init'].includes(cmd)) throw new UsageError(`unknown command ${cmd ?? '(none)'}`);
  if (!ENVS.includes(env)) throw new UsageError(`ENV must be staging or production, not ${env ?? '(none)'}`);
  let percent = null;
  if (cmd === 'gradual') {
    percent = Number(args[1]);
    if (!Number.isInteger(percent) || percent < 1 || percent > 99) throw new UsageError('PERCENT must be a whole number, 1 to 99');
  }
  if (cmd === 'rollback' && !flags.reason) throw new UsageError('a rollback needs --reason');
  return { cmd, env, percent, flags };
}

/** The placeholder ids of `env` still in wrangler.toml (scripts/deploy init writes real ones). */
export function placeholders(toml, env) {
  return [...toml.matchAll(new RegExp(`id = "(<${env} [A-Z_]+: scripts/deploy init ${env}>)"`, 'g'))].map((m) => m[1]);
}

/** wrangler.toml with the placeholder of `env`'s `binding` replaced by `id`. */
export function withId(toml, env, binding, id) {
  const placeholder = `<${env} ${binding}: scripts/deploy init ${env}>`;
  if (!toml.includes(placeholder)) throw new Error(`wrangler.toml has no placeholder for ${env}'s ${binding}: already set?`);
  return toml.replace(`id = "${placeholder}"`, `id = "${id}"`);
}

const say = (line) => console.log(line);
const quote = (a) => (/^[\w@%<>.:/=+-]+$/.test(a) ? a : JSON.stringify(a));
const show = (args) => `wrangler ${args.map(quote).join(' ')}`;

function run(args, { capture = false } = {}) {
  say(`  $ ${show(args)}`);
  const r = spawnSync(WRANGLER, args, { cwd: ROOT, stdio: capture ? ['inherit', 'pipe', 'inherit'] : 'inherit', encoding: 'utf8' });
  if (r.status !== 0) throw new Error(`${show(args)} failed (exit ${r.status})`);
  if (capture) process.stdout.write(r.stdout);
  return r.stdout;
}

function script(name, args) {
  say(`  $ scripts/${name} ${args.join(' ')}`);
  const r = spawnSync(path.join(ROOT, 'scripts', name), args, { cwd: ROOT, stdio: 'inherit' });
  if (r.status !== 0) throw new Error(`scripts/${name} failed (exit ${r.status})`);
}

async function confirm(question, yes) {
  if (yes) return;
  if (!process.stdin.isTTY) throw new UsageError(`${question}: pass --yes to confirm without a terminal`);
  const rl = createInterface({ input: process.stdin, output: process.stdout });
  const answer = await rl.question(`${question} [y/N] `);
  rl.close();
  if (!/^y(es)?$/i.test(answer.trim())) throw new UsageError('not confirmed: nothing done');
}

function urlOf(env) {
  const name = `PILOT_${env.toUpperCase()}_URL`;
  const url = process.env[name];
  if (!url) throw new UsageError(`${name} is not set: the smoke test and the gate need ${env}'s URL`);
  return url;
}

/** Refuses to deploy an environment whose KV namespaces are still placeholders. */
function needIds(env, dryRun) {
  const left = placeholders(readFileSync(CONFIG, 'utf8'), env);
  if (!left.length) return;
  const what = `wrangler.toml still has placeholder ids for ${env} (${left.length}): run scripts/deploy init ${env}`;
  if (!dryRun) throw new UsageError(what);
  say(`  note: ${what}`);
}

function git(args) {
  return execFileSync('git', args, { cwd: ROOT, encoding: 'utf8' }).trim();
}

/** Why HEAD may not go to production (no v* tag, a dirty tree); empty when it may. */
export function productionRefusals({ tags, dirty }) {
  const out = [];
  if (!tags.some((t) => /^v\d/.test(t))) out.push('HEAD has no v* tag (git tag v1.2.3 first)');
  if (dirty) out.push('the tree has uncommitted changes');
  return out;
}

async function deploy(env, flags) {
  const deployArgs = ['deploy', '--env', env];
  say(`deploy ${env}${flags.dryRun ? ' (dry run)' : ''}:`);
  if (env === 'production') {
    const tags = git(['tag', '--points-at', 'HEAD']).split('\n').filter(Boolean);
    const dirty = git(['status', '--porcelain']) !== '';
    const refusals = productionRefusals({ tags, dirty });
    for (const r of refusals) say(`  refused: ${r}`);
    if (refusals.length) throw new UsageError('production deploys only from a v* tag on a clean tree');
    say(`  1. the smoke test and the load-test gate (${LOADTEST.join(' ')}) against staging`);
    say(`  2. ${show(deployArgs)}`);
    say('  3. the smoke test against production');
  } else {
    say(`  1. ${show(deployArgs)} (builds first)`);
    say('  2. the smoke test against staging');
  }
  needIds(env, flags.dryRun);
  if (flags.dryRun) {
    run([...deployArgs, '--dry-run', '--outdir', path.join(ROOT, 'tests/.tmp', `deploy-${env}`)]);
    say('dry run: nothing deployed');
    return;
  }
  if (env === 'production') {
    const staging = urlOf('staging');
    const production = urlOf('production');
    script('smoke', [staging]);
    script('loadtest', ['--url', staging, ...LOADTEST]);
    await confirm(`deploy ${git(['describe', '--tags'])} to production`, flags.yes);
    run(deployArgs);
    script('smoke', [production]);
  } else {
    const staging = urlOf('staging');
    run(deployArgs);
    script('smoke', [staging]);
  }
  say(`deployed ${env}`);
}

async function rollback(env, flags) {
  const args = ['rollback', ...(flags.version ? [flags.version] : []), '--env', env, '--message', flags.reason, '--yes'];
  say(`rollback ${env} to ${flags.version ?? 'the previous version'}, because: ${flags.reason}`);
  say(`  1. ${show(args)}`);
  if (flags.dryRun) return say('dry run: nothing rolled back');
  await confirm(`roll ${env} back`, flags.yes);
  run(args);
}

async function gradual(env, percent, flags) {
  const upload = ['versions', 'upload', '--env', env];
  say(`gradual deploy to ${env}: the new version gets ${percent} % of requests, the current one the rest`);
  say(`  1. ${show(upload)} (a new version, serving nothing yet)`);
  say(`  2. wrangler versions deploy <new>@${percent}% <current>@${100 - percent}% --env ${env} --yes`);
  say(`  then: scripts/deploy gradual ${env} <more>, or scripts/deploy rollback ${env} --reason …`);
  needIds(env, flags.dryRun);
  if (flags.dryRun) return say('dry run: nothing uploaded');
  const status = run(['deployments', 'status', '--env', env], { capture: true });
  const current = /\(100%\)\s*([0-9a-f-]{36})|([0-9a-f-]{36})\s*\(100%\)/.exec(status);
  const currentId = current?.[1] ?? current?.[2];
  if (!currentId) throw new Error(`no single version serves all of ${env} now: finish that rollout first`);
  const out = run(upload, { capture: true });
  const newId = /Worker Version ID:\s*([0-9a-f-]{36})/.exec(out)?.[1];
  if (!newId) throw new Error('wrangler versions upload printed no version id');
  run(['versions', 'deploy', `${newId}@${percent}%`, `${currentId}@${100 - percent}%`, '--env', env, '--yes']);
}

async function init(env, flags) {
  say(`init ${env}: its KV namespaces and queues, their ids into wrangler.toml, then its secrets`);
  const steps = [
    ...KV.map((b) => ['kv', 'namespace', 'create', b, '--env', env]),
    ...QUEUES.map((q) => ['queues', 'create', `${q}-${env}`]),
    ...SECRETS.map((s) => ['secret', 'put', s, '--env', env]),
  ];
  steps.forEach((s, i) => say(`  ${i + 1}. ${show(s)}`));
  const toml = readFileSync(CONFIG, 'utf8');
  const left = placeholders(toml, env);
  say(`  wrangler.toml: ${left.length} placeholder id(s) of ${env} to replace`);
  if (flags.dryRun) return say('dry run: nothing created');
  let next = toml;
  for (const b of KV) {
    const out = run(['kv', 'namespace', 'create', b, '--env', env], { capture: true });
    const id = /id = "([0-9a-f]{32})"|"id":\s*"([0-9a-f]{32})"/.exec(out);
    if (!id) throw new Error(`no id in the answer to kv namespace create ${b}`);
    next = withId(next, env, b, id[1] ?? id[2]);
    writeFileSync(CONFIG, next);
  }
  for (const q of QUEUES) run(['queues', 'create', `${q}-${env}`]);
  say('wrangler.toml has the ids (commit it); now the secrets (at least 32 random bytes each):');
  for (const s of SECRETS) run(['secret', 'put', s, '--env', env]);
  say(`${env} is ready: scripts/deploy ${env}`);
}

async function main() {
  let parsed;
  try {
    parsed = parse(process.argv.slice(2));
  } catch (e) {
    console.error(`deploy: ${e.message}\n${USAGE}`);
    process.exit(2);
  }
  const { cmd, env, percent, flags } = parsed;
  try {
    if (cmd === 'rollback') await rollback(env, flags);
    else if (cmd === 'gradual') await gradual(env, percent, flags);
    else if (cmd === 'init') await init(env, flags);
    else await deploy(env, flags);
  } catch (e) {
    console.error(`deploy: ${e.message}`);
    process.exit(e instanceof UsageError ? 2 : 1);
  }
}

if (import.meta.url === `file://${process.argv[1]}`) await main();
