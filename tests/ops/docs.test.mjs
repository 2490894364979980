// The repository's docs stand alone: the README, the RUNBOOK, docs/ and the code's comments
// point only at files inside the repository (never at a design document beside it), and every
// relative link of the Markdown files leads to a file that exists.
import assert from 'node:assert/strict';
import { execFileSync } from 'node:child_process';
import { existsSync, readFileSync } from 'node:fs';
import path from 'node:path';
import { test } from 'node:test';

import { ROOT } from '../../scripts/lib/local.mjs';

/** Every tracked file (git ls-files), as paths relative to the root. */
const tracked = execFileSync('git', ['ls-files'], { cwd: ROOT, encoding: 'utf8' }).split('\n').filter(Boolean);

test('no file points outside the repository (../shared, DESIGN.md)', () => {
  const texts = tracked.filter((f) => /\.(md|rs|mjs|js|toml|sh|yml|json)$/.test(f) || f.startsWith('scripts/'));
  assert.ok(texts.length > 100, `${texts.length} files read`);
  const found = [];
  for (const f of texts) {
    if (f === 'tests/ops/docs.test.mjs') continue;
    const text = readFileSync(path.join(ROOT, f), 'utf8');
    text.split('\n').forEach((line, i) => {
      if (/\.\.\/shared\b|\bDESIGN\.md\b/.test(line)) found.push(`${f}:${i + 1}: ${line.trim()}`);
    });
  }
  assert.deepEqual(found, []);
});

test('every relative link of the Markdown files leads to a file of the repository', () => {
  const docs = tracked.filter((f) => f.endsWith('.md'));
  assert.ok(docs.includes('docs/architecture.md'));
  const broken = [];
  let links = 0;
  for (const f of docs) {
    const text = readFileSync(path.join(ROOT, f), 'utf8');
    for (const [, target] of text.matchAll(/\]\(([^)\s]+)\)/g)) {
      if (/^(https?:|mailto:|#)/.test(target)) continue;
      links += 1;
      const file = path.resolve(path.dirname(path.join(ROOT, f)), target.split('#')[0]);
      if (!file.startsWith(ROOT + path.sep) || !existsSync(file)) broken.push(`${f}: ${target}`);
    }
  }
  assert.ok(links >= 2, `${links} relative links`);
  assert.deepEqual(broken, []);
});
