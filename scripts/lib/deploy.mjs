// scripts/deploy: staging and production environments through wrangler (see scripts/deploy for
// the usage), for both workers: the control worker first (the edge binds its objects and its
// service), then the edge. Every subcommand prints its plan, the wrangler commands it runs,
// before it runs them; --dry-run prints the plan and runs only what changes nothing (a `wrangler deploy
// --dry-run` build). Production deploys only from a v* tag on a clean tree, after the smoke
// test and the load-test gate pass against staging.
import { execFileSync, spawnSync } from 'node:child_process';
import { readFileSync, writeFileSync } from 'node:fs';
import path from 'node:path';
import { createInterface } from 'node:readline/promises';

import { ROOT } from './local.mjs';

const ENVS = ['staging', 'production'];
const WRANGLER = path.join(ROOT, 'node_modules/.bin/wrangler');
/**
 * The two workers in the order they deploy (the control worker first: the edge binds its
 * objects and its service), each with its config and the secrets it reads.
 */
export const WORKERS = [
  { name: 'control', config: 'wrangler.control.toml', secrets: ['COOKIE_SECRET', 'ADMIN_TOKENS', 'METRICS_TOKEN', 'NOTIFY_SECRET'] },
  { name: 'edge', config: 'wrangler.toml', secrets: ['COOKIE_SECRET', 'OFREP_TOKEN', 'INGEST_HMAC_SECRET'] },
];
const configOf = (w) => path.join(ROOT, w.config);
/** The KV namespaces and queues each environment has (both workers' configs). */
const KV = ['EVENTS_KV', 'CONFIG_KV'];
const QUEUES = ['pilot-gate-events', 'pilot-gate-evidence', 'pilot-gate-events-dlq', 'pilot-gate-notify'];
/** The load-test gate that production waits for (the launch documents' numbers). */
const LOADTEST = ['--total', '1000', '--unique', '200', '--concurrency', '50'];

const USAGE = `usage:
  scripts/deploy staging [--dry-run]
  scripts/deploy production [--dry-run] [--yes]
  scripts/deploy rollback ENV --reason TEXT [--worker edge|control] [--version ID] [--yes] [--dry-run]
  scripts/deploy gradual ENV PERCENT [--dry-run]
  scripts/deploy init ENV [--dry-run]
ENV is staging or production. Deploys go to both workers, the control worker first; a rollback
rolls back both (the edge first) unless --worker names one (--version needs --worker); a gradual
deploy is the edge's (the control worker's objects take one version at a time). Deploys and rollbacks need \`wrangler login\` (or
CLOUDFLARE_API_TOKEN); the smoke test and the load-test gate read PILOT_STAGING_URL and
PILOT_PRODUCTION_URL, and ADMIN_TOKEN and INGEST_HMAC_SECRET as scripts/smoke does.`;

class UsageError extends Error {}

/** Parses argv into { cmd, env, percent, flags }. */
export function parse(argv) {
  const flags = { dryRun: false, yes: false, reason: null, version: null, worker: null };
  const rest = [];
  for (let i = 0; i < argv.length; i++) {
    const a = argv[i];
    if (a === '--dry-run') flags.dryRun = true;
    else if (a === '--yes' || a === '-y') flags.yes = true;
    else if (a === '--reason' || a === '--version' || a === '--worker') {
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
  if (flags.worker !== null && !WORKERS.some((w) => w.name === flags.worker)) throw new UsageError(`--worker must be edge or control, not ${flags.worker}`);
  if (flags.version !== null && flags.worker === null) throw new UsageError('--version names one worker\'s version: add --worker edge or --worker control');
  return { cmd, env, percent, flags };
}

/** The placeholder ids of `env` still in a config (scripts/deploy init writes real ones). */
export function placeholders(toml, env) {
  return [...toml.matchAll(new RegExp(`id = "(<${env} [A-Z_]+: scripts/deploy init ${env}>)"`, 'g'))].map((m) => m[1]);
}

/** A config with the placeholder of `env`'s `binding` replaced by `id`. */
export function withId(toml, env, binding, id) {
  const placeholder = `<${env} ${binding}: scripts/deploy init ${env}>`;
  if (!toml.includes(placeholder)) throw new Error(`the config has no placeholder for ${env}'s ${binding}: already set?`);
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
  for (const w of WORKERS) {
    const left = placeholders(readFileSync(configOf(w), 'utf8'), env);
    if (!left.length) continue;
    const what = `${w.config} still has placeholder ids for ${env} (${left.length}): run scripts/deploy init ${env}`;
    if (!dryRun) throw new UsageError(what);
    say(`  note: ${what}`);
  }
}

/** Builds both workers (each `wrangler deploy` then bundles what the build made). */
function build() {
  script('build', []);
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

/** `wrangler deploy` of each worker, the control worker first. */
const deploysOf = (env) => WORKERS.map((w) => ['deploy', '-c', w.config, '--env', env]);

async function deploy(env, flags) {
  const deploys = deploysOf(env);
  const deployArgs = deploys.map(show).join(', then ');
  say(`deploy ${env}${flags.dryRun ? ' (dry run)' : ''}:`);
  if (env === 'production') {
    const tags = git(['tag', '--points-at', 'HEAD']).split('\n').filter(Boolean);
    const dirty = git(['status', '--porcelain']) !== '';
    const refusals = productionRefusals({ tags, dirty });
    for (const r of refusals) say(`  refused: ${r}`);
    if (refusals.length) throw new UsageError('production deploys only from a v* tag on a clean tree');
    say(`  1. the smoke test and the load-test gate (${LOADTEST.join(' ')}) against staging`);
    say(`  2. scripts/build (both workers), then ${deployArgs}`);
    say('  3. the smoke test against production');
  } else {
    say(`  1. scripts/build (both workers), then ${deployArgs}`);
    say('  2. the smoke test against staging');
  }
  needIds(env, flags.dryRun);
  if (flags.dryRun) {
    build();
    for (const args of deploys) run([...args, '--dry-run', '--outdir', path.join(ROOT, 'tests/.tmp', `deploy-${env}-${args[2].replace(/\W/g, '-')}`)]);
    say('dry run: nothing deployed');
    return;
  }
  if (env === 'production') {
    const staging = urlOf('staging');
    const production = urlOf('production');
    script('smoke', [staging]);
    script('loadtest', ['--url', staging, ...LOADTEST]);
    await confirm(`deploy ${git(['describe', '--tags'])} to production`, flags.yes);
    build();
    deploys.forEach((args) => run(args));
    script('smoke', [production]);
  } else {
    const staging = urlOf('staging');
    build();
    deploys.forEach((args) => run(args));
    script('smoke', [staging]);
  }
  say(`deployed ${env}`);
}

async function rollback(env, flags) {
  // The edge first: it is what visitors reach, and an older edge speaks to a newer control.
  const workers = [...WORKERS].reverse().filter((w) => flags.worker === null || w.name === flags.worker);
  const steps = workers.map((w) => ['rollback', ...(flags.version ? [flags.version] : []), '-c', w.config, '--env', env, '--message', flags.reason, '--yes']);
  say(`rollback ${env} (${workers.map((w) => w.name).join(', then ')}) to ${flags.version ?? 'the previous version'}, because: ${flags.reason}`);
  steps.forEach((args, i) => say(`  ${i + 1}. ${show(args)}`));
  if (flags.dryRun) return say('dry run: nothing rolled back');
  await confirm(`roll ${env} back`, flags.yes);
  steps.forEach((args) => run(args));
}

async function gradual(env, percent, flags) {
  const upload = ['versions', 'upload', '-c', 'wrangler.toml', '--env', env];
  say(`gradual deploy of the edge to ${env}: the new version gets ${percent} % of requests, the current one the rest`);
  say(`  1. ${show(upload)} (a new version, serving nothing yet)`);
  say(`  2. wrangler versions deploy <new>@${percent}% <current>@${100 - percent}% -c wrangler.toml --env ${env} --yes`);
  say(`  then: scripts/deploy gradual ${env} <more>, or scripts/deploy rollback ${env} --reason …`);
  needIds(env, flags.dryRun);
  if (flags.dryRun) return say('dry run: nothing uploaded');
  const status = run(['deployments', 'status', '-c', 'wrangler.toml', '--env', env], { capture: true });
  const current = /\(100%\)\s*([0-9a-f-]{36})|([0-9a-f-]{36})\s*\(100%\)/.exec(status);
  const currentId = current?.[1] ?? current?.[2];
  if (!currentId) throw new Error(`no single version serves all of ${env} now: finish that rollout first`);
  const out = run(upload, { capture: true });
  const newId = /Worker Version ID:\s*([0-9a-f-]{36})/.exec(out)?.[1];
  if (!newId) throw new Error('wrangler versions upload printed no version id');
  run(['versions', 'deploy', `${newId}@${percent}%`, `${currentId}@${100 - percent}%`, '-c', 'wrangler.toml', '--env', env, '--yes']);
}

async function init(env, flags) {
  say(`init ${env}: its KV namespaces and queues, their ids into both workers' configs, then each worker's secrets`);
  const secrets = WORKERS.flatMap((w) => w.secrets.map((s) => ['secret', 'put', s, '-c', w.config, '--env', env]));
  const steps = [
    ...KV.map((b) => ['kv', 'namespace', 'create', b, '--env', env]),
    ...QUEUES.map((q) => ['queues', 'create', `${q}-${env}`]),
    ...secrets,
  ];
  steps.forEach((s, i) => say(`  ${i + 1}. ${show(s)}`));
  for (const w of WORKERS) say(`  ${w.config}: ${placeholders(readFileSync(configOf(w), 'utf8'), env).length} placeholder id(s) of ${env} to replace`);
  if (flags.dryRun) return say('dry run: nothing created');
  for (const b of KV) {
    const out = run(['kv', 'namespace', 'create', b, '--env', env], { capture: true });
    const id = /id = "([0-9a-f]{32})"|"id":\s*"([0-9a-f]{32})"/.exec(out);
    if (!id) throw new Error(`no id in the answer to kv namespace create ${b}`);
    for (const w of WORKERS) writeFileSync(configOf(w), withId(readFileSync(configOf(w), 'utf8'), env, b, id[1] ?? id[2]));
  }
  for (const q of QUEUES) run(['queues', 'create', `${q}-${env}`]);
  say('both configs have the ids (commit them); now the secrets (at least 32 random bytes each; COOKIE_SECRET the same for both):');
  for (const s of secrets) run(s);
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
