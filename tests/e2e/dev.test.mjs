// The README's commands as a user runs them: `scripts/dev` itself (its set-up, its build, both
// workers, the repository's .dev.vars), then every line of the README's five-minute walk, as it
// stands, with scripts/pilot and curl. Also `scripts/dev --flags FILE` with a set of this test's
// own, and a set that cannot be loaded: scripts/dev must say why, stop wrangler dev and exit 1.
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { readFileSync, writeFileSync } from 'node:fs';
import path from 'node:path';
import { describe, test } from 'node:test';

import { CookieJar, ROOT, admin as adminAs, pool, shBlocks, startDev, until, visit } from './harness.mjs';
import { secret } from '../../scripts/lib/secrets.mjs';
import { inRollout } from './murmur3.mjs';

/** `scripts/dev`'s own arguments on a README line (`scripts/dev --var A:1` -> ['--var', 'A:1']). */
function devArgs(line) {
  const r = spawnSync('bash', ['-c', `for a in ${line.replace(/^scripts\/dev\s*/, '').replace(/#.*$/, '')}; do printf '%s\\0' "$a"; done`], { encoding: 'utf8' });
  assert.equal(r.status, 0, r.stderr);
  return r.stdout.split('\0').filter(Boolean);
}

/** Runs a README line as it stands, against `url` instead of the README's port 8787; it must
 * exit with `status` (0 unless the README says the line is refused). */
function run(t, line, url, status = 0) {
  const command = line.replaceAll('http://127.0.0.1:8787', url);
  const r = spawnSync('bash', ['-c', command], { cwd: ROOT, env: { ...process.env, PILOT_URL: url }, encoding: 'utf8', timeout: 60_000 });
  t.diagnostic(`${line}\n  -> ${r.status}: ${(r.stdout + r.stderr).trim().split('\n').join('\n     ')}`);
  assert.equal(r.status, status, `${line}\n${r.stdout}\n${r.stderr}`);
  return r.stdout + r.stderr;
}

/** `scripts/pilot`'s exit code when the control plane refuses (4xx). */
const REFUSED_EXIT = 1;

const uidOf = (jar) => jar.get('pg_uid').split('.')[1];

/** The admin API as the user's own admin: `ADMIN_TOKEN` of the repository's .dev.vars. */
const admin = (url, method, route, opts = {}) => adminAs(url, method, route, { token: secret('ADMIN_TOKEN'), ...opts });

/** Fresh visitors of /try: each one's cohort checked against its bucket at `pct` percent. */
async function visitors(url, n, pct) {
  const seen = await pool(Array.from({ length: n }), 8, async () => {
    const jar = new CookieJar();
    const res = await visit(`${url}/try`, jar);
    const want = pct >= 100 || inRollout('pilot', uidOf(jar), pct * 100) ? 'pilot' : 'control';
    assert.equal(res.status, want === 'pilot' ? 200 : 302, `a ${want} visitor at ${pct} %`);
    if (want === 'control') assert.equal(res.headers.get('location'), '/');
    return want;
  });
  return seen.filter((c) => c === 'pilot').length;
}

describe('the README, as a new user runs it', () => {
  const readme = readFileSync(path.join(ROOT, 'README.md'), 'utf8');
  const [start, walk, restart, after] = shBlocks(readme, 'A five-minute walk');

  test('the walk: scripts/dev loads the demo set, /try answers by cohort, scripts/pilot advances, the pages load', async (t) => {
    assert.deepEqual(start, ['scripts/dev']);
    const dev = await startDev(devArgs(start[0]));
    try {
      await dev.waitFor(/dev: imported 10 flags from flags\/demo\.json/);
      await dev.waitFor(/dev: ready: open /);
      const pilot = (await admin(dev.url, 'GET', '/flags/pilot')).body;
      assert.equal(pilot.plan.tier, 1, 'the demo set is published: pilot at tier 1');
      assert.equal(pilot.plan.status, 'active');

      const [flags, curl, refused, advance, audit] = walk;
      assert.match(flags, /^scripts\/pilot flags/);
      assert.match(run(t, flags, dev.url), /pilot\s+active\s+1\/4\s+10%/);
      assert.match(curl, /^curl .*\/try/);
      assert.match(run(t, curl, dev.url).trim(), /^(200|302 http:\/\/127\.0\.0\.1:\d+\/)$/);
      const before = await visitors(dev.url, 200, 10);
      t.diagnostic(`tier 1: ${before} of 200 fresh visitors in the pilot`);
      assert.ok(before > 5 && before < 40, `${before} of 200 at 10 %`);

      // Tier 1 is guarded like any tier with a random share: no evidence, no advance.
      assert.match(refused, /^scripts\/pilot advance pilot .*# refused \(409\)/);
      const objections = run(t, refused, dev.url, REFUSED_EXIT);
      assert.match(objections, /409/);
      assert.match(objections, /guard comparative: undecided/);
      assert.match(advance, /^scripts\/pilot advance pilot --force/);
      assert.match(run(t, advance, dev.url), /pilot: active, tier 2 of 4 \(20%\)/);
      assert.equal((await admin(dev.url, 'GET', '/flags/pilot')).body.pct, 20);
      // The edge's isolates keep the set FLAGS_CACHE_S (30 s, as the README says): wait until a
      // visitor whose bucket is in 20 % but not in 10 % gets in.
      const t0 = Date.now();
      await until(async () => {
        const jar = new CookieJar();
        const res = await visit(`${dev.url}/try`, jar);
        const uid = uidOf(jar);
        return !inRollout('pilot', uid, 1000) && inRollout('pilot', uid, 2000) && res.status === 200;
      }, 'the advance to reach /try', 45_000);
      t.diagnostic(`the advance reached /try after ${((Date.now() - t0) / 1000).toFixed(1)} s`);
      const later = await visitors(dev.url, 200, 20);
      t.diagnostic(`tier 2: ${later} of 200 fresh visitors in the pilot`);
      assert.ok(later > 20 && later < 65, `${later} of 200 at 20 %`);
      assert.match(run(t, audit, dev.url), /advance\s+pilot/);

      for (const page of ['/dashboard/', '/admin/']) {
        const res = await fetch(`${dev.url}${page}`);
        assert.equal(res.status, 200, page);
        assert.match(res.headers.get('content-type'), /text\/html/);
        assert.match(await res.text(), /<title>[^<]*pilot-gate/i, page);
      }
    } finally {
      await dev.stop();
    }
  });

  test('the restart: --var reaches both workers (the edge lets everyone in, the control worker knows the viewer)', async (t) => {
    assert.equal(restart.length, 1);
    assert.match(restart[0], /^scripts\/dev --var PILOT_ROLLOUT_PCT:1 --var ADMIN_TOKENS:/);
    const dev = await startDev(devArgs(restart[0]));
    try {
      await dev.waitFor(/dev: ready: open /);
      const [whoami, curl] = after;
      assert.match(run(t, whoami, dev.url).trim(), /^ana \(viewer\)$/);
      assert.equal(run(t, curl, dev.url).trim(), '200');
      assert.equal(await visitors(dev.url, 50, 100), 50);
      // The viewer reads but does not command: the role came with the var.
      const token = /ADMIN_TOKENS:ana:viewer:(\S+)/.exec(restart[0])[1];
      const r = await admin(dev.url, 'POST', '/flags/pilot/pause', { token, body: {} });
      assert.equal(r.status, 403);
    } finally {
      await dev.stop();
    }
  });
});

describe('scripts/dev --flags FILE', () => {
  test('loads a set of its own and serves it over OFREP', async () => {
    const file = path.join(ROOT, 'tests/.tmp', `dev-flags-${process.pid}.json`);
    writeFileSync(file, JSON.stringify({
      flags: {
        banner: { state: 'ENABLED', variants: { blue: 'blue', red: 'red' }, defaultVariant: 'blue',
          targeting: { if: [{ '==': [{ var: 'country' }, 'NZ'] }, 'red', null] } },
        quiet: { state: 'ENABLED', variants: { on: true, off: false } },
      },
    }));
    const dev = await startDev(['--flags', file]);
    try {
      await dev.waitFor(/dev: imported 2 flags from /);
      const listed = (await admin(dev.url, 'GET', '/flags')).body.flags.map((f) => f.key).sort();
      assert.deepEqual(listed, ['banner', 'quiet']);
      const bulk = await (await fetch(`${dev.url}/ofrep/v1/evaluate/flags`, {
        method: 'POST', headers: { 'content-type': 'application/json' }, body: '{"context": {}}',
      })).json();
      const byKey = Object.fromEntries(bulk.flags.map((f) => [f.key, f]));
      assert.equal(byKey.banner.value, 'blue');
      assert.equal(byKey.banner.reason, 'DEFAULT');
      // No default variant: no value, reason DEFAULT (the caller's own default applies).
      assert.equal(byKey.quiet.reason, 'DEFAULT');
      assert.equal('value' in byKey.quiet, false);
    } finally {
      await dev.stop();
    }
  });

  test('a set that cannot be loaded: the cause is printed, wrangler dev is stopped, the exit code is 1', async () => {
    const file = path.join(ROOT, 'tests/.tmp', `dev-bad-${process.pid}.json`);
    writeFileSync(file, JSON.stringify({ flags: { broken: { state: 'SOMETIMES', variants: { a: 1 } } } }));
    const dev = await startDev(['--flags', file]);
    try {
      const code = await Promise.race([dev.exited, new Promise((r) => setTimeout(() => r('still running'), 300_000).unref())]);
      const out = dev.output();
      assert.equal(code, 1, out);
      assert.match(out, /dev: could not load .*dev-bad-\d+\.json: refused: 422 invalid_flag: \/flags\/broken\/state: must be ENABLED or DISABLED/);
      assert.match(out, /dev: stopping wrangler dev/);
      await assert.rejects(fetch(`${dev.url}/api/healthz`), 'nothing answers on the port any more');
    } finally {
      await dev.stop();
    }
  });
});
