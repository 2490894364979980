// End-to-end tests of the edge gate against `wrangler dev` (workerd), with real assets.
import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import { after, before, describe, test } from 'node:test';

import { CookieJar, pool, startWorker, visit } from './harness.mjs';
import { inRollout } from './murmur3.mjs';

const BOT_UA = 'Mozilla/5.0 (compatible; Googlebot/2.1; +http://www.google.com/bot.html)';

/** The visitor id inside a pg_uid cookie value (v1.<id>.<tag>). */
const uidOf = (jar) => jar.get('pg_uid').split('.')[1];

/** Fresh visitors hitting /try once each; returns their jars and responses. */
async function freshVisitors(url, n, concurrency = 16) {
  return pool(Array.from({ length: n }), concurrency, async () => {
    const jar = new CookieJar();
    const res = await visit(`${url}/try`, jar);
    return { jar, res };
  });
}

describe('gate at 30 %', () => {
  let w;
  before(async () => { w = await startWorker({ vars: { PILOT_ROLLOUT_PCT: '0.3' }, state: 'gate30' }); });
  after(async () => { await w?.stop(); });

  test('2,000 fresh visitors land in pilot within tolerance, each as flagd computes', async () => {
    const N = 2000;
    const p = 0.3;
    const visitors = await freshVisitors(w.url, N);
    let pilots = 0;
    for (const { jar, res } of visitors) {
      const cohort = jar.get('pilot_cohort');
      assert.ok(jar.get('pg_uid'), 'every fresh visitor gets a pg_uid');
      assert.equal(cohort, inRollout('pilot', uidOf(jar), 3000) ? 'pilot' : 'control');
      assert.equal(res.status, cohort === 'pilot' ? 200 : 302);
      if (cohort === 'pilot') pilots += 1;
    }
    const share = pilots / N;
    const tolerance = 5 * Math.sqrt((p * (1 - p)) / N); // 5 sigma: ~1 in 3.5M false failure
    assert.ok(Math.abs(share - p) <= tolerance, `share ${share} not within ${p} +- ${tolerance}`);
  });

  test('cookies keep a visitor in its cohort over repeated requests', async () => {
    const visitors = await freshVisitors(w.url, 40);
    for (const { jar } of visitors) {
      const uid = jar.get('pg_uid');
      const cohort = jar.get('pilot_cohort');
      for (let i = 0; i < 5; i++) {
        const res = await visit(`${w.url}/try`, jar);
        assert.equal(res.status, cohort === 'pilot' ? 200 : 302);
        assert.deepEqual(res.headers.getSetCookie(), [], 'a returning visitor gets no new cookies');
        assert.equal(jar.get('pg_uid'), uid);
        assert.equal(jar.get('pilot_cohort'), cohort);
      }
    }
  });

  test('a forged pg_uid is replaced', async () => {
    const forged = `v1.${'0'.repeat(32)}.${'f'.repeat(32)}`;
    const jar = new CookieJar({ pg_uid: forged });
    await visit(`${w.url}/try`, jar);
    assert.notEqual(jar.get('pg_uid'), forged);
    assert.match(jar.get('pg_uid'), /^v1\.[0-9a-f]{32}\.[0-9a-f]{32}$/);
    assert.equal(jar.get('pilot_cohort'), inRollout('pilot', uidOf(jar), 3000) ? 'pilot' : 'control');
  });

  test('a control visitor who sets pilot_cohort=pilot is still redirected', async () => {
    const visitors = await freshVisitors(w.url, 30);
    const controls = visitors.filter(({ jar }) => jar.get('pilot_cohort') === 'control');
    assert.ok(controls.length > 0);
    for (const { jar } of controls) {
      jar.cookies.set('pilot_cohort', 'pilot');
      const res = await visit(`${w.url}/try`, jar);
      assert.equal(res.status, 302);
      assert.equal(res.headers.get('location'), '/');
      assert.equal(jar.get('pilot_cohort'), 'control', 'the cookie is corrected');
    }
  });

  test('/try carries COOP, COEP, CORP, no-store and Vary for both cohorts', async () => {
    const visitors = await freshVisitors(w.url, 30);
    const seen = new Set();
    for (const { res, jar } of visitors) {
      seen.add(jar.get('pilot_cohort'));
      assert.equal(res.headers.get('cross-origin-opener-policy'), 'same-origin');
      assert.equal(res.headers.get('cross-origin-embedder-policy'), 'require-corp');
      assert.equal(res.headers.get('cross-origin-resource-policy'), 'same-origin');
      assert.equal(res.headers.get('cache-control'), 'private, no-store');
      assert.equal(res.headers.get('vary'), 'Cookie');
      assert.equal(res.headers.get('x-content-type-options'), 'nosniff');
      assert.match(res.headers.get('x-request-id'), /^[0-9a-f]{16}$/);
    }
    assert.deepEqual([...seen].sort(), ['control', 'pilot']);
  });

  test('no response that carries Set-Cookie is cacheable', async () => {
    const paths = ['/try', '/try/', '/try/deeper', '/api/healthz', '/api/nope', '/', '/js/practice.js'];
    const setting = new Set();
    for (const p of paths) {
      for (let i = 0; i < 10; i++) {
        const res = await visit(`${w.url}${p}`);
        if (res.headers.getSetCookie().length > 0) {
          setting.add(p);
          const cc = res.headers.get('cache-control') ?? '';
          assert.match(cc, /no-store/, `${p} sets a cookie with Cache-Control ${cc}`);
          assert.match(cc, /private/, `${p} sets a cookie with Cache-Control ${cc}`);
        }
      }
    }
    // The check above bites only where cookies are set: the gated routes, for fresh visitors.
    assert.deepEqual([...setting].sort(), ['/try', '/try/', '/try/deeper']);
  });

  test('a bot User-Agent gets control and no cookie', async () => {
    for (let i = 0; i < 20; i++) {
      const res = await visit(`${w.url}/try`, new CookieJar(), { 'user-agent': BOT_UA });
      assert.equal(res.status, 302);
      assert.deepEqual(res.headers.getSetCookie(), []);
    }
  });

  test('healthz reports the effective rollout with no-store', async () => {
    const res = await fetch(`${w.url}/api/healthz`);
    assert.equal(res.status, 200);
    assert.equal(res.headers.get('cache-control'), 'no-store');
    const body = await res.json();
    assert.equal(body.status, 'ok');
    assert.match(body.version, /^\d+\.\d+\.\d+/);
    assert.deepEqual(body.rollout, { flag: 'pilot', basis_points: 3000, percent: 30, source: 'vars' });
  });

  test('API errors are JSON with the right status', async () => {
    const nf = await fetch(`${w.url}/api/nope`);
    assert.equal(nf.status, 404);
    assert.equal((await nf.json()).error, 'not_found');
    const m = await fetch(`${w.url}/api/healthz`, { method: 'POST' });
    assert.equal(m.status, 405);
    assert.equal(m.headers.get('allow'), 'GET, HEAD');
    assert.equal((await m.json()).error, 'method_not_allowed');
  });
});

describe('rollout changes across restarts', () => {
  test('every visitor who was pilot at 10 % is still pilot after a restart at 20 %', async () => {
    const w10 = await startWorker({ vars: { PILOT_ROLLOUT_PCT: '0.1' }, state: 'mono' });
    let visitors;
    try {
      visitors = await freshVisitors(w10.url, 400);
    } finally {
      await w10.stop();
    }
    const pilots10 = visitors.filter(({ jar }) => jar.get('pilot_cohort') === 'pilot');
    assert.ok(pilots10.length > 10, `only ${pilots10.length} pilots at 10 %`);
    const w20 = await startWorker({ vars: { PILOT_ROLLOUT_PCT: '0.2' }, state: 'mono' });
    try {
      let pilots20 = 0;
      for (const { jar } of visitors) {
        const was = jar.get('pilot_cohort');
        const res = await visit(`${w20.url}/try`, jar);
        if (was === 'pilot') assert.equal(res.status, 200, 'a pilot at 10 % stays pilot at 20 %');
        if (jar.get('pilot_cohort') === 'pilot') pilots20 += 1;
        assert.equal(jar.get('pilot_cohort'), inRollout('pilot', uidOf(jar), 2000) ? 'pilot' : 'control');
      }
      assert.ok(pilots20 > pilots10.length, 'raising the rollout adds visitors');
    } finally {
      await w20.stop();
    }
  });

  test('PILOT_ROLLOUT_PCT=0 puts everyone in control', async () => {
    const w0 = await startWorker({ vars: { PILOT_ROLLOUT_PCT: '0' }, state: 'kill' });
    try {
      const visitors = await freshVisitors(w0.url, 200);
      for (const { jar, res } of visitors) {
        assert.equal(res.status, 302);
        assert.equal(jar.get('pilot_cohort'), 'control');
      }
      const body = await (await fetch(`${w0.url}/api/healthz`)).json();
      assert.equal(body.rollout.source, 'kill_switch');
    } finally {
      await w0.stop();
    }
  });

  test('an invalid config fails closed: pages still answer, healthz says 503', async () => {
    const wb = await startWorker({ vars: { PILOT_ROLLOUT_PCT: '1.5' }, state: 'bad' });
    try {
      const h = await fetch(`${wb.url}/api/healthz`);
      assert.equal(h.status, 503);
      assert.equal(h.headers.get('retry-after'), '30');
      const body = await h.json();
      assert.equal(body.error, 'unavailable');
      assert.doesNotMatch(JSON.stringify(body), /PILOT_ROLLOUT_PCT/, 'no internals in the body');
      const t = await visit(`${wb.url}/try`);
      assert.equal(t.status, 302);
      assert.deepEqual(t.headers.getSetCookie(), []);
      const home = await visit(`${wb.url}/`);
      assert.equal(home.status, 200);
    } finally {
      await wb.stop();
    }
  });
});

describe('an origin that is down', () => {
  test('a pilot page answers 503 with the problem JSON, its headers and cookies, and logs the cause', async () => {
    // Port 9 (discard) is closed on loopback: every fetch to the origin fails.
    const wd = await startWorker({
      vars: { PILOT_ROLLOUT_PCT: '1', PASS_THROUGH: 'origin' }, state: 'origin-down', args: ['--local-upstream', '127.0.0.1:9'],
    });
    try {
      const res = await fetch(`${wd.url}/try`, { redirect: 'manual' });
      const jar = new CookieJar();
      jar.store(res);
      assert.equal(res.status, 503);
      assert.equal(res.headers.get('content-type'), 'application/json; charset=utf-8');
      assert.equal(res.headers.get('retry-after'), '5');
      assert.deepEqual(await res.json(), { error: 'unavailable', detail: 'try again later' });
      assert.equal(res.headers.get('cache-control'), 'private, no-store');
      assert.equal(res.headers.get('cross-origin-opener-policy'), 'same-origin');
      assert.equal(jar.get('pilot_cohort'), 'pilot', 'the cohort cookie is still set');
      assert.ok(jar.get('pg_uid'));
      const id = res.headers.get('x-request-id');
      assert.ok(await logged(wd, `"event":"upstream_failed","request_id":"${id}"`), 'the cause is logged with the request id');
    } finally {
      await wd.stop();
    }
  });
});

/** Waits until the worker's log names `text` (log lines are flushed asynchronously). */
async function logged(w, text, timeoutMs = 5_000) {
  const deadline = Date.now() + timeoutMs;
  while (Date.now() < deadline) {
    if (readFileSync(w.log, 'utf8').includes(text)) return true;
    await new Promise((r) => setTimeout(r, 100));
  }
  return false;
}

describe('config sections fail alone', () => {
  test('a bad events variable disables the beacon and leaves gating as configured', async () => {
    // EVENTS_MAX_BODY_BYTES over the bound that one queue message sets (65536).
    const w = await startWorker({
      state: 'bad-events',
      vars: {
        GATED_ROUTES: '/try/beta*',
        GATE_REDIRECT: '/?from=gate',
        PILOT_ROLLOUT_PCT: '0.5',
        EVENTS_MAX_BODY_BYTES: '65537',
      },
    });
    try {
      const post = await fetch(`${w.url}/api/events`, {
        method: 'POST',
        headers: { 'content-type': 'application/json' },
        body: JSON.stringify({ name: 'page_view', ts: Date.now() }),
      });
      assert.equal(post.status, 503);
      assert.equal(post.headers.get('retry-after'), '30');
      const body = await post.json();
      assert.equal(body.error, 'unavailable');
      assert.doesNotMatch(JSON.stringify(body), /EVENTS_MAX_BODY_BYTES/, 'no internals in the body');
      assert.ok(await logged(w, '"var":"EVENTS_MAX_BODY_BYTES"'), 'the log names the variable');
      // /try is not gated under this config: the old all-or-nothing config gated it instead.
      const open = await visit(`${w.url}/try`);
      assert.equal(open.status, 200);
      assert.deepEqual(open.headers.getSetCookie(), []);
      // /try/beta is gated with the configured rollout and redirect.
      const visitors = await pool(Array.from({ length: 40 }), 8, async () => {
        const jar = new CookieJar();
        const res = await visit(`${w.url}/try/beta`, jar);
        return { jar, res };
      });
      const cohorts = new Set();
      for (const { jar, res } of visitors) {
        const cohort = inRollout('pilot', uidOf(jar), 5000) ? 'pilot' : 'control';
        cohorts.add(cohort);
        assert.equal(jar.get('pilot_cohort'), cohort);
        if (cohort === 'control') {
          assert.equal(res.status, 302);
          assert.equal(res.headers.get('location'), '/?from=gate');
        }
      }
      assert.deepEqual([...cohorts].sort(), ['control', 'pilot']);
    } finally {
      await w.stop();
    }
  });

  test('a bad gate variable fails closed only on the routes GATED_ROUTES names', async () => {
    const w = await startWorker({
      state: 'bad-gate',
      vars: { GATED_ROUTES: '/try/beta*', COEP: 'bogus' },
    });
    try {
      const closed = await visit(`${w.url}/try/beta/x`);
      assert.equal(closed.status, 302);
      assert.equal(closed.headers.get('location'), '/');
      assert.deepEqual(closed.headers.getSetCookie(), []);
      const open = await visit(`${w.url}/try`);
      assert.equal(open.status, 200, 'a route the operator did not gate stays open');
      assert.equal((await fetch(`${w.url}/api/healthz`)).status, 503);
      assert.ok(await logged(w, '"var":"COEP"'), 'the log names the variable');
    } finally {
      await w.stop();
    }
  });
});
