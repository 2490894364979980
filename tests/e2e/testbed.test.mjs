// flagd's own testbed through the user's path: flagd-testbed 3.9.0's flag sets (vendored in
// tests/flagd-testbed/) are each loaded with `scripts/dev --flags FILE`, as a flagd user would
// bring theirs, and every row of its gherkin suites that needs no flagd-specific launchpad
// (the evaluator suite; the provider suite's evaluation, targeting, metadata and disabled
// features) is evaluated through OpenFeature's server SDK with an OFREP provider against it.
// Every row must pass; the test prints the count per feature file, and what it leaves out and why.
import assert from 'node:assert/strict';
import { readFileSync, readdirSync, writeFileSync } from 'node:fs';
import path from 'node:path';
import { describe, test } from 'node:test';

import { AstBuilder, GherkinClassicTokenMatcher, Parser, compile } from '@cucumber/gherkin';
import { IdGenerator } from '@cucumber/messages';
import { OpenFeature } from '@openfeature/server-sdk';

import { ROOT, startDev } from './harness.mjs';
import { OfrepProvider } from './ofrep-provider.mjs';

const TESTBED = path.join(ROOT, 'tests/flagd-testbed');
const TMP = path.join(ROOT, 'tests/.tmp');
const OFREP = 'testbed-ofrep-token-0123456789abcdef';

/** Every pickle (a scenario, or one Examples row of an outline) of a feature file. */
function pickles(file) {
  const newId = IdGenerator.incrementing();
  const doc = new Parser(new AstBuilder(newId), new GherkinClassicTokenMatcher())
    .parse(readFileSync(file, 'utf8'));
  return compile(doc, path.relative(TESTBED, file), newId).map((p) => ({
    file: path.relative(TESTBED, file),
    name: p.name,
    tags: p.tags.map((t) => t.name),
    steps: p.steps,
  }));
}

/** The features of a suite folder. */
const features = (dir) => readdirSync(path.join(TESTBED, dir)).filter((f) => f.endsWith('.feature'))
  .map((f) => path.join(TESTBED, dir, f));

/** flagd-testbed's launchpad merges flags/*.json (all but selector-*) into allFlags.json. */
function merge(a, b) {
  const out = { ...a };
  for (const [k, v] of Object.entries(b)) {
    out[k] = v && typeof v === 'object' && !Array.isArray(v) && out[k] && typeof out[k] === 'object' ? merge(out[k], v) : v;
  }
  return out;
}

/** `doc` with flag-set metadata `fractional: v3`: the rows of flagd's v3 bucketing. */
const v3 = (doc) => ({ ...doc, metadata: { ...(doc.metadata ?? {}), fractional: 'v3' } });

/** Writes `doc` to a file of its own and returns the path. */
function written(name, doc) {
  const file = path.join(TMP, `testbed-${name}-${process.pid}.json`);
  writeFileSync(file, JSON.stringify(doc));
  return file;
}

/** Why a row is left out, or null: rows whose flagd behaviour is not one this product offers. */
function leftOut(p) {
  if (p.tags.includes('@fractional-v1')) return 'fractional v1 (legacy float bucketing, replaced by v2 in flagd)';
  if (p.tags.includes('@deprecated')) return '@deprecated (@no-default: superseded by @no-default-variant, which runs)';
  return null;
}

/** A gherkin string as the value of OpenFeature type `type`. */
function typed(type, raw) {
  const text = raw.replace(/\\"/g, '"');
  switch (type) {
    case 'Boolean': return text === 'true';
    case 'Integer': return Number.parseInt(text, 10);
    case 'Float': return Number.parseFloat(text);
    case 'Object': return JSON.parse(text);
    default: return text;
  }
}

/** Runs one pickle's steps against `client`; throws with the row's name when one fails. */
async function runRow(client, p) {
  let flag = null;
  const ctx = {};
  let details = null;
  for (const step of p.steps) {
    const s = step.text;
    let m;
    if (/^(an evaluator|a (stable|metadata) flagd provider|an option ".*" of type ".*" with value ".*")$/.test(s)) continue;
    if ((m = /^a (\w+)-flag with key "(.*)" and a (?:default|fallback) value "(.*)"$/.exec(s))) {
      flag = { type: m[1], key: m[2], default: typed(m[1], m[3]) };
    } else if ((m = /^a context containing a key "(.*)", with type "(\w+)" and with value "(.*)"$/.exec(s))) {
      ctx[m[1]] = typed(m[2], m[3]);
    } else if ((m = /^a context containing a targeting key with value "(.*)"$/.exec(s))) {
      ctx.targetingKey = m[1];
    } else if ((m = /^a context containing a nested property with outer key "(.*)" and inner key "(.*)", with value "(.*)"$/.exec(s))) {
      ctx[m[1]] = { ...(ctx[m[1]] ?? {}), [m[2]]: m[3] };
    } else if (s === 'the flag was evaluated with details') {
      const how = { Boolean: 'getBooleanDetails', String: 'getStringDetails', Integer: 'getNumberDetails', Float: 'getNumberDetails', Object: 'getObjectDetails' }[flag.type];
      details = await client[how](flag.key, flag.default, ctx);
    } else if ((m = /^the resolved details value should be "(.*)"$/.exec(s))) {
      assert.deepEqual(details.value, typed(flag.type, m[1]), `value (${details.reason} ${details.errorCode ?? ''} ${details.errorMessage ?? ''})`);
    } else if ((m = /^the reason should be "(.*)"$/.exec(s))) {
      assert.equal(details.reason, m[1], `reason (${details.errorCode ?? ''} ${details.errorMessage ?? ''})`);
    } else if ((m = /^the error-code should be "(.*)"$/.exec(s))) {
      assert.equal(details.errorCode ?? '', m[1], 'error code');
    } else if (s === 'the resolved metadata is empty') {
      assert.deepEqual(details.flagMetadata, {}, 'metadata');
    } else if (s === 'the resolved metadata should contain') {
      const [, ...rows] = step.argument.dataTable.rows.map((r) => r.cells.map((c) => c.value));
      for (const [key, type, value] of rows) assert.deepEqual(details.flagMetadata[key], typed(type, value), `metadata ${key}`);
    } else {
      throw new Error(`no step definition for "${s}"`);
    }
  }
}

// The sets, and the rows each one answers: the evaluator suite runs against its own
// testkit-flags.json; the provider suite against the launchpad's merged flags/*.json, or the
// file its "selector" option names (rawflags/X.json is flags/X.json here). Rows of flagd's v3
// bucketing run against the same set with flag-set metadata `fractional: v3` (pilot-gate's
// v2/v3 switch, per set or per flag).
const read = (rel) => JSON.parse(readFileSync(path.join(TESTBED, rel), 'utf8'));
const providerSet = readdirSync(path.join(TESTBED, 'flags')).sort()
  .filter((f) => f.endsWith('.json') && !f.startsWith('selector-'))
  .reduce((acc, f) => merge(acc, read(`flags/${f}`)), {});
const evaluatorRows = features('evaluator/gherkin').flatMap(pickles);
const providerRows = features('gherkin').flatMap(pickles);

/** The set a row runs against: { name, doc }. */
function setOf(p) {
  if (p.file.startsWith('evaluator/')) return { name: 'testkit-flags', doc: () => read('evaluator/flags/testkit-flags.json') };
  const selector = p.steps.map((s) => /^an option "selector" of type "String" with value "(.*)"$/.exec(s.text)?.[1]).find(Boolean);
  if (!selector || selector === 'flags/allFlags.json') return { name: 'allFlags', doc: () => providerSet };
  const m = /^rawflags\/([\w-]+\.json)$/.exec(selector);
  assert.ok(m, `selector ${selector}`);
  return { name: m[1].replace(/\.json$/, ''), doc: () => read(`flags/${m[1]}`) };
}

const RUNS = [];
for (const p of [...evaluatorRows, ...providerRows]) {
  const set = setOf(p);
  const name = p.tags.includes('@fractional-v3') ? `${set.name}-v3` : set.name;
  let group = RUNS.find((r) => r.name === name);
  if (!group) {
    const doc = name.endsWith('-v3') ? () => v3(set.doc()) : set.doc;
    group = { name, file: () => written(name, doc()), rows: [] };
    RUNS.push(group);
  }
  group.rows.push(p);
}

describe('flagd-testbed 3.9.0 through scripts/dev --flags and OpenFeature (OFREP)', () => {
  const counts = {};
  const skipped = {};

  for (const { name, file, rows } of RUNS) {
    test(`${name}: every row passes`, async (t) => {
      const runs = rows.filter((p) => !leftOut(p));
      for (const p of rows.filter(leftOut)) skipped[leftOut(p)] = (skipped[leftOut(p)] ?? 0) + 1;
      assert.ok(runs.length > 0, `${name}: no rows`);
      const dev = await startDev(['--flags', file(), '--var', `OFREP_TOKEN:${OFREP}`]);
      try {
        await dev.waitFor(/dev: imported \d+ flags from /);
        const [kept] = /imported[^\n]*/.exec(dev.output());
        t.diagnostic(kept);
        await OpenFeature.setProviderAndWait(name, new OfrepProvider({ baseUrl: dev.url, headers: [['Authorization', `Bearer ${OFREP}`]] }));
        const client = OpenFeature.getClient(name);
        const failures = [];
        for (const p of runs) {
          try {
            await runRow(client, p);
            counts[p.file] = (counts[p.file] ?? 0) + 1;
          } catch (e) {
            failures.push(`${p.file}: ${p.name} [${p.tags.join(' ')}]: ${e.message.split('\n')[0]}`);
          }
        }
        t.diagnostic(`${runs.length - failures.length} of ${runs.length} rows pass`);
        assert.deepEqual(failures, []);
      } finally {
        await dev.stop();
      }
    });
  }

  test('the count per feature file', (t) => {
    for (const [file, n] of Object.entries(counts).sort()) t.diagnostic(`${file}: ${n} rows pass`);
    for (const [why, n] of Object.entries(skipped)) t.diagnostic(`left out: ${n} rows, ${why}`);
    const total = Object.values(counts).reduce((a, b) => a + b, 0);
    t.diagnostic(`${total} rows pass in all`);
    // Every feature file the runs read has rows that passed (the runs above fail on any row).
    const files = [...new Set([...evaluatorRows, ...providerRows].filter((p) => !leftOut(p)).map((p) => p.file))];
    assert.deepEqual(Object.keys(counts).sort(), files.sort());
  });
});
