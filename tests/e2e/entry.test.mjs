// The workers' own entries (crates/*/entry.js) keep what worker-build's shim was for: after a
// wasm trap, the next request gets a fresh instance. A test build of the edge (`scripts/build
// --trap`, the cargo feature `trap`) has a route, GET /api/__trap, that panics while it holds
// the isolate's exposure buffer; a panic aborts, which traps. On the old instance the buffer
// stays borrowed, so every later gated page (each records an exposure) would fail with 500;
// on a fresh one they are answered as usual. The control worker's test build traps inside the
// RolloutControl object on GET /api/admin/status?trap, after the object was made: its wasm
// object then points into the old instance's memory, and only the entry's wrapper, which makes it again on the new
// instance, lets the object answer (without it: "Invalid stale object from previous Wasm
// instance", a 500).
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { mkdirSync, readFileSync, writeFileSync } from 'node:fs';
import path from 'node:path';
import { after, before, describe, test } from 'node:test';

import { ADMIN_TOKEN, admin, configCopy, CookieJar, ROOT, startWorker, visit } from '../../scripts/lib/local.mjs';

/** `worker`'s entry over its trap build (build/<worker>-trap/), written into `dir`. */
function trapEntry(worker, dir) {
  mkdirSync(dir, { recursive: true });
  const entry = readFileSync(path.join(ROOT, `crates/${worker}/entry.js`), 'utf8')
    .replace(`'../../build/${worker}/index.js'`, JSON.stringify(path.join(ROOT, `build/${worker}-trap/index.js`)));
  assert.ok(entry.includes(`build/${worker}-trap/index.js`), `${worker}'s entry imports its build`);
  const file = path.join(dir, 'entry.js');
  writeFileSync(file, entry);
  return file;
}

/** The edge's config and entry over build/edge-trap/ (in tests/.tmp). */
function trapConfig() {
  const dir = path.join(ROOT, 'tests/.tmp/edge-trap');
  const file = configCopy(path.join(ROOT, 'wrangler.toml'), dir, { main: trapEntry('edge', dir) });
  assert.doesNotMatch(readFileSync(file, 'utf8'), /scripts\/build/);
  return file;
}

describe('a wasm trap', () => {
  let w;
  before(async () => {
    const build = spawnSync(path.join(ROOT, 'scripts/build'), ['--trap'], { cwd: ROOT, encoding: 'utf8' });
    assert.equal(build.status, 0, build.stderr);
    const controlEntry = trapEntry('control', path.join(ROOT, 'tests/.tmp/control-trap'));
    w = await startWorker({ state: `entry-trap-${process.pid}`, edge: trapConfig(), controlEntry, flags: 'flags/demo.json' });
  });
  after(async () => { await w?.stop(); });

  test('the request after a trap is answered by a fresh instance, and so is every later one', async () => {
    const jar = new CookieJar();
    const before = await visit(`${w.url}/try`, jar);
    assert.ok([200, 302].includes(before.status), `a page before the trap: ${before.status}`);
    const trapped = await fetch(`${w.url}/api/__trap`);
    await trapped.arrayBuffer();
    assert.equal(trapped.status, 500, 'the trapping request fails');
    const log = readFileSync(w.log, 'utf8');
    assert.match(log, /the trap route of a test build/, 'the panic is logged');
    const health = await fetch(`${w.url}/api/healthz`);
    assert.equal(health.status, 200, 'the next request is answered normally');
    assert.equal((await health.json()).status, 'ok');
    // Each records an exposure in the buffer that the trap left borrowed on the old instance.
    for (let i = 0; i < 5; i++) {
      const page = await visit(`${w.url}/try`, new CookieJar());
      assert.ok([200, 302].includes(page.status), `page ${i} after the trap: ${page.status}`);
    }
    const status = await admin(w.url, 'GET', '/status');
    assert.equal(status.status, 200, 'the control worker, relayed by the fresh edge instance');
    // A second trap, and the instance after it, too.
    assert.equal((await fetch(`${w.url}/api/__trap`)).status, 500);
    const after2 = await visit(`${w.url}/try`, jar);
    assert.ok([200, 302].includes(after2.status), `a page after the second trap: ${after2.status}`);
  });

  test('the control worker\'s objects made before a trap answer after it', async () => {
    const status = async () => admin(w.url, 'GET', '/status');
    const before = await status();
    assert.equal(before.status, 200, 'the control plane\'s object is made and answers');
    // The panic happens while the object's future is polled (in a microtask), so that request
    // gets no answer at all: it is given up after 5 s here (a 500 would do as well).
    const trapped = await fetch(`${w.url}/api/admin/status?trap`, { headers: { authorization: `Bearer ${ADMIN_TOKEN}` }, signal: AbortSignal.timeout(5_000) })
      .then((r) => r.status, (e) => e.name);
    assert.ok([500, 'TimeoutError'].includes(trapped), `the trapping request fails: ${trapped}`);
    assert.match(readFileSync(w.log, 'utf8'), /the trap route of a test build \(control\)/);
    const after = await status();
    assert.equal(after.status, 200, `the object answers on the new instance: ${JSON.stringify(after.body)}`);
    assert.equal(after.body.revision, before.body.revision, 'with the state it keeps in storage');
    const flags = await admin(w.url, 'GET', '/flags');
    assert.equal(flags.status, 200);
  });
});
