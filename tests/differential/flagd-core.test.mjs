// Differential test: pilot-gate's flag engine against flagd's JavaScript reference evaluator
// (@openfeature/flagd-core on json-logic-engine) over the same flag sets and thousands of
// generated contexts. Every value, variant, reason and error code must agree.
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { mkdirSync, readFileSync, writeFileSync } from 'node:fs';
import path from 'node:path';
import { test } from 'node:test';
import { fileURLToPath } from 'node:url';

import { FlagdCore } from '@openfeature/flagd-core';

const ROOT = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '../..');
const CONTEXTS = 3000;
// The demo has rollout plans: both engines evaluate what the control plane publishes from it.
const SETS = ['flags/demo.json', 'crates/core/tests/control/sets/plans.json', 'crates/core/tests/flags/sets/operators.json'];
const TMP = path.join(ROOT, 'tests/.tmp');

/** The flagd document of `set`: compiled by the control plane when it has plans. */
function flagdDocument(set) {
  const text = readFileSync(path.join(ROOT, set), 'utf8');
  if (!('plans' in JSON.parse(text))) return { file: set, text, compiled: false };
  const run = spawnSync('cargo', ['run', '--quiet', '--example', 'compile_plans', '--', set], { cwd: ROOT, encoding: 'utf8' });
  assert.equal(run.status, 0, run.stderr);
  mkdirSync(TMP, { recursive: true });
  const file = path.join(TMP, `compiled-${path.basename(set)}`);
  writeFileSync(file, run.stdout);
  return { file, text: run.stdout, compiled: true };
}

/** A small seeded generator (mulberry32), so a failure can be reproduced. */
function rng(seed) {
  return () => {
    seed = (seed + 0x6d2b79f5) | 0;
    let t = Math.imul(seed ^ (seed >>> 15), 1 | seed);
    t = (t + Math.imul(t ^ (t >>> 7), 61 | t)) ^ t;
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}

/** Contexts with ASCII keys (imurmurhash hashes UTF-16 code units; flagd's Go and this engine hash UTF-8). */
function contexts(n, seed) {
  const r = rng(seed);
  const pick = (xs) => xs[Math.floor(r() * xs.length)];
  const word = () => Math.floor(r() * 36 ** 6).toString(36);
  const out = [];
  for (let i = 0; i < n; i++) {
    const c = {};
    if (r() < 0.9) c.targetingKey = pick([word(), `qa-${word()}`, 'qa-internal-1', 'qa-internal-2', `${word()}-${word()}`]);
    if (r() < 0.6) c.email = pick([`${word()}@pilot-gate.dev`, `${word()}@example.com`, '', 'nobody']);
    if (r() < 0.6) c.appVersion = pick(['2.4.0', 'v2.4.1', '2.3.9', '2.4', '3', 2, 2.5, '2.4.0-beta.1', '2.4.0+build.7', 'garbage', '1.2.3.4', null]);
    if (r() < 0.6) c.country = pick(['NZ', 'DE', 'US', 'BZ', '', 7]);
    if (r() < 0.5) c.age = pick([17, 18, 30, 65, '21', 'x', null, true]);
    if (r() < 0.5) c.user = { name: pick(['jack', 'queen', 'ten', 'nine', '3', word()]), tier: pick(['gold', 'silver', 1]) };
    if (r() < 0.3) c.tags = pick([['beta'], ['beta', 'staff'], [], ['x']]);
    out.push(c);
  }
  return out;
}

/** flagd-core's answer for every flag of the set, and for a key that is not in it. */
function reference(core, keys, ctx) {
  const answers = {};
  for (const key of [...keys, 'no-such-flag']) {
    const flag = core.getFlag(key);
    let r;
    if (!flag) r = { reason: 'ERROR', errorCode: 'FLAG_NOT_FOUND' };
    else if (flag.state === 'DISABLED') r = { reason: 'DISABLED' };
    else r = flag.evaluate(ctx);
    answers[key] = {
      value: r.value ?? null,
      variant: r.variant ?? null,
      reason: r.reason,
      errorCode: r.errorCode ?? null,
    };
  }
  return answers;
}

for (const [i, set] of SETS.entries()) {
  test(`${set}: pilot-gate agrees with flagd-core on ${CONTEXTS} contexts`, (t) => {
    const { file, text, compiled } = flagdDocument(set);
    const warnings = [];
    const logger = { warn: (m) => warnings.push(m), error: (m) => warnings.push(m), info() {}, debug() {} };
    const core = new FlagdCore(undefined, logger);
    // What the control plane publishes must pass flagd's own schema (strict validation throws)
    // and compile every rule in flagd-core without a warning.
    core.setConfigurations(text, compiled);
    if (compiled) assert.deepEqual(warnings, []);
    const keys = Object.keys(JSON.parse(text).flags).sort();
    const ctxs = contexts(CONTEXTS, 1234 + i);
    const run = spawnSync('cargo', ['run', '--quiet', '--example', 'flags_eval', '--', file], {
      cwd: ROOT,
      input: ctxs.map((c) => JSON.stringify(c)).join('\n'),
      encoding: 'utf8',
      maxBuffer: 1 << 28,
    });
    assert.equal(run.status, 0, run.stderr);
    const ours = run.stdout.trim().split('\n').map((l) => JSON.parse(l));
    assert.equal(ours.length, ctxs.length);
    const disagreements = [];
    const reasons = {};
    for (let n = 0; n < ctxs.length; n++) {
      const want = reference(core, keys, ctxs[n]);
      for (const key of Object.keys(want)) {
        reasons[want[key].reason] = (reasons[want[key].reason] ?? 0) + 1;
        try {
          assert.deepEqual(ours[n][key], want[key]);
        } catch {
          disagreements.push({ ctx: ctxs[n], key, ours: ours[n][key], flagdCore: want[key] });
        }
      }
    }
    t.diagnostic(`${ctxs.length} contexts x ${keys.length + 1} flags; reasons: ${JSON.stringify(reasons)}`);
    const byKey = {};
    for (const d of disagreements) byKey[d.key] = (byKey[d.key] ?? 0) + 1;
    if (disagreements.length) t.diagnostic(`disagreements by flag: ${JSON.stringify(byKey)}`);
    for (const k of Object.keys(byKey)) t.diagnostic(JSON.stringify(disagreements.find((d) => d.key === k)));
    assert.deepEqual(disagreements.slice(0, 3), [], `${disagreements.length} disagreements`);
  });
}
