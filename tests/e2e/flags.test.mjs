// End-to-end tests of flags at the edge against `wrangler dev`: the flag set (imported through
// the control plane, which publishes it to KV) deciding
// gated routes, OFREP through the real OpenFeature server SDK, /api/config, and a KV value that
// is not a flag set.
import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import path from 'node:path';
import { after, before, describe, test } from 'node:test';

import { OpenFeature } from '@openfeature/server-sdk';

import { CookieJar, OFREP_TOKEN, ROOT, admin, pool, startWorker, visit } from './harness.mjs';
import { inRollout } from './murmur3.mjs';
import { OfrepProvider } from './ofrep-provider.mjs';

const DEMO = 'flags/demo.json';
const ALLOWED = 'https://app.example';
const uidOf = (jar) => jar.get('pg_uid').split('.')[1];

async function ofrep(url, path, { body = {}, headers = {} } = {}) {
  const res = await fetch(`${url}/ofrep/v1/evaluate/flags${path}`, {
    method: 'POST',
    headers: { 'content-type': 'application/json', ...headers },
    body: typeof body === 'string' ? body : JSON.stringify(body),
  });
  const text = await res.text();
  return { status: res.status, headers: res.headers, text, body: text ? JSON.parse(text) : null };
}

describe('flags from KV decide gated routes', () => {
  let w;
  before(async () => {
    w = await startWorker({
      state: 'flags-demo',
      flags: DEMO,
      vars: { GATED_ROUTES: '/try/beta*=beta_ui,/try*', ALLOWED_ORIGINS: ALLOWED, FLAGS_CACHE_S: '1' },
    });
  });
  after(async () => { await w?.stop(); });

  test('healthz names the version that the control plane published', async () => {
    const body = await (await fetch(`${w.url}/api/healthz`)).json();
    assert.equal(body.rollout.source, 'flag_set');
    const status = (await admin(w.url, 'GET', '/status')).body;
    assert.equal(body.rollout.version, String(status.published));
  });

  test('2,000 visitors at 10 % get the cohorts of the previous release (in_rollout at 1,000 bp)', async () => {
    const visitors = await pool(Array.from({ length: 2000 }), 16, async () => {
      const jar = new CookieJar();
      const res = await visit(`${w.url}/try`, jar);
      return { jar, res };
    });
    let pilots = 0;
    for (const { jar, res } of visitors) {
      const want = inRollout('pilot', uidOf(jar), 1000) ? 'pilot' : 'control';
      assert.equal(jar.get('pilot_cohort'), want);
      assert.equal(res.status, want === 'pilot' ? 200 : 302);
      if (want === 'pilot') pilots += 1;
    }
    assert.ok(pilots > 100 && pilots < 320, `${pilots} pilots of 2000 at 10 %`);
  });

  test('a second gated route follows its own flag', async () => {
    const visitors = await pool(Array.from({ length: 200 }), 8, async () => {
      const jar = new CookieJar();
      const beta = await visit(`${w.url}/try/beta`, jar);
      return { jar, beta };
    });
    const seen = new Set();
    for (const { jar, beta } of visitors) {
      const on = inRollout('beta_ui', uidOf(jar), 5000);
      seen.add(on);
      assert.equal(jar.get('pilot_cohort'), on ? 'pilot' : 'control');
      if (!on) assert.equal(beta.status, 302);
    }
    assert.deepEqual([...seen].sort(), [false, true]);
  });

  test('the OpenFeature server SDK evaluates every flag type, reasons and errors', async () => {
    OpenFeature.setProvider(new OfrepProvider({ baseUrl: w.url, headers: [['Authorization', `Bearer ${OFREP_TOKEN}`]] }));
    const client = OpenFeature.getClient();
    const ctx = { targetingKey: 'qa-internal-1', email: 'a@pilot-gate.dev', appVersion: '2.5.0', country: 'NZ' };
    const pilot = await client.getBooleanDetails('pilot', false, ctx);
    assert.deepEqual([pilot.value, pilot.variant, pilot.reason], [true, 'on', 'TARGETING_MATCH']);
    assert.equal(pilot.flagMetadata.owner, 'pilot-team');
    assert.equal(pilot.flagMetadata.flagSetId, 'pilot-gate-demo');
    const copy = await client.getStringDetails('e1_cta_copy', 'x', ctx);
    assert.ok(['Start practising', 'Try it now'].includes(copy.value));
    assert.equal((await client.getNumberDetails('minIntervalSec', 0, ctx)).value, 60);
    assert.equal((await client.getNumberDetails('retryCap', 0, ctx)).value, 5);
    const sync = await client.getBooleanDetails('syncEnabled', false, ctx);
    assert.deepEqual([sync.value, sync.reason], [true, 'STATIC']);
    const banner = await client.getObjectDetails('staffBanner', {}, ctx);
    assert.deepEqual(banner.value, { text: 'Staff build', tone: 'info' });
    const fallback = await client.getNumberDetails('retryCap', 0, { targetingKey: 'x' });
    assert.deepEqual([fallback.value, fallback.reason], [3, 'DEFAULT']);
    const disabled = await client.getBooleanDetails('legacyExport', true, ctx);
    assert.deepEqual([disabled.value, disabled.reason], [true, 'DISABLED']);
    const missing = await client.getBooleanDetails('no-such-flag', true, ctx);
    assert.deepEqual([missing.value, missing.errorCode], [true, 'FLAG_NOT_FOUND']);
    const mismatch = await client.getNumberDetails('pilot', 7, ctx);
    assert.deepEqual([mismatch.value, mismatch.errorCode], [7, 'TYPE_MISMATCH']);
  });

  test('without the token the targeting key is the caller\'s own; a wrong token is 401', async () => {
    const asAllowlisted = { context: { targetingKey: 'qa-internal-1' } };
    const trusted = await ofrep(w.url, '/pilot', { body: asAllowlisted, headers: { authorization: `Bearer ${OFREP_TOKEN}` } });
    assert.equal(trusted.body.variant, 'on');
    const jar = new CookieJar();
    await visit(`${w.url}/`, jar); // no cookie yet: the OFREP answer sets one
    const first = await ofrep(w.url, '/pilot', { body: asAllowlisted });
    assert.equal(first.status, 200);
    jar.store({ headers: first.headers });
    const uid = uidOf(jar);
    const again = await ofrep(w.url, '/pilot', { body: asAllowlisted, headers: { cookie: jar.header() } });
    assert.equal(again.body.value, inRollout('pilot', uid, 1000), 'the caller\'s own key decides, not the one it sent');
    const wrong = await ofrep(w.url, '/pilot', { body: asAllowlisted, headers: { authorization: 'Bearer nope' } });
    assert.equal(wrong.status, 401);
    assert.equal(wrong.text, '');
  });

  test('without the token country, path and bot are the edge\'s: a caller cannot claim them', async () => {
    const probe = (attr, value) => ({
      state: 'ENABLED', variants: { on: true, off: false }, defaultVariant: 'off',
      targeting: { if: [{ '==': [{ var: attr }, value] }, 'on', 'off'] },
    });
    // Imported without plans, the probes are complete: their own rules decide.
    const demo = JSON.parse(readFileSync(path.join(ROOT, DEMO), 'utf8'));
    const withProbes = structuredClone(demo);
    Object.assign(withProbes.flags, {
      probe_country: probe('country', 'ZZ'), probe_bot: probe('bot', true), probe_path: probe('path', '/spoofed'),
      probe_edge_path: probe('path', '/ofrep/v1/evaluate/flags/probe_edge_path'),
    });
    assert.equal((await admin(w.url, 'PUT', '/flagset', { body: withProbes })).status, 200);
    await new Promise((r) => setTimeout(r, 1500)); // the edge's flag cache
    const claims = { context: { country: 'ZZ', bot: true, path: '/spoofed' } };
    const token = { authorization: `Bearer ${OFREP_TOKEN}` };
    for (const key of ['probe_country', 'probe_bot', 'probe_path']) {
      const visitor = await ofrep(w.url, `/${key}`, { body: claims });
      assert.deepEqual([visitor.status, visitor.body.value], [200, false], `${key}: a visitor's claim is ignored`);
      const server = await ofrep(w.url, `/${key}`, { body: claims, headers: token });
      assert.deepEqual([server.status, server.body.value], [200, true], `${key}: a server SDK with the token is trusted`);
    }
    // The path a visitor is evaluated with is the request's own.
    assert.equal((await ofrep(w.url, '/probe_edge_path', { body: claims })).body.value, true);
    assert.equal((await admin(w.url, 'PUT', '/flagset', { body: demo })).status, 200);
  });

  test('bulk answers carry an ETag, and If-None-Match gets 304', async () => {
    const headers = { authorization: `Bearer ${OFREP_TOKEN}` };
    const body = { context: { targetingKey: 'bulk-visitor' } };
    const bulk = await ofrep(w.url, '', { body, headers });
    assert.equal(bulk.status, 200);
    const keys = bulk.body.flags.map((f) => f.key);
    assert.ok(keys.includes('pilot') && keys.includes('e2_primer'));
    assert.equal(bulk.body.metadata.flagSetId, 'pilot-gate-demo');
    const etag = bulk.headers.get('etag');
    assert.match(etag, /^"[0-9a-f]{32}"$/);
    const same = await ofrep(w.url, '', { body, headers: { ...headers, 'if-none-match': etag } });
    assert.equal(same.status, 304);
    assert.equal(same.headers.get('etag'), etag);
    // qa-internal-1 is staff (staffBanner: show), bulk-visitor is not: the answer, and its tag, differ.
    const other = await ofrep(w.url, '', { body: { context: { targetingKey: 'qa-internal-1' } }, headers: { ...headers, 'if-none-match': etag } });
    assert.equal(other.status, 200);
    assert.notEqual(other.headers.get('etag'), etag);
  });

  test('bad requests: 413 over 16 KB, 400 PARSE_ERROR for a body that is not JSON, CORS', async () => {
    const big = await ofrep(w.url, '/pilot', { body: JSON.stringify({ context: { pad: 'x'.repeat(17 * 1024) } }) });
    assert.equal(big.status, 413);
    const notJson = await ofrep(w.url, '/pilot', { body: 'not json' });
    assert.equal(notJson.status, 400);
    assert.deepEqual([notJson.body.key, notJson.body.errorCode], ['pilot', 'PARSE_ERROR']);
    const pre = await fetch(`${w.url}/ofrep/v1/evaluate/flags`, { method: 'OPTIONS', headers: { origin: ALLOWED } });
    assert.equal(pre.status, 204);
    assert.match(pre.headers.get('access-control-allow-headers'), /If-None-Match/);
    assert.match(pre.headers.get('access-control-allow-headers'), /Authorization/);
    const cors = await ofrep(w.url, '', { headers: { origin: ALLOWED } });
    assert.equal(cors.headers.get('access-control-allow-origin'), ALLOWED);
    assert.equal(cors.headers.get('access-control-expose-headers'), 'ETag, Flag-Config-ETag');
    const denied = await ofrep(w.url, '', { headers: { origin: 'https://evil.example' } });
    assert.equal(denied.status, 403);
  });

  test('/api/config gives the caller\'s own values, privately cacheable', async () => {
    const jar = new CookieJar();
    await visit(`${w.url}/try`, jar);
    const res = await fetch(`${w.url}/api/config`, { headers: { cookie: jar.header() } });
    assert.equal(res.status, 200);
    assert.equal(res.headers.get('cache-control'), 'private, max-age=30');
    const values = await res.json();
    assert.equal(values.pilot, inRollout('pilot', uidOf(jar), 1000));
    assert.deepEqual([values.syncEnabled, values.minIntervalSec, values.retryCap], [true, 900, 3]);
    assert.ok(['custom', 'native'].includes(values.e2_primer));
  });
});

describe('a KV value that is not a flag set', () => {
  let w;
  before(async () => { w = await startWorker({ state: 'flags-bad', flags: { raw: 'this is not json' } }); });
  after(async () => { await w?.stop(); });

  test('pages stay up and the built-in default (pilot off) decides', async () => {
    const home = await visit(`${w.url}/`);
    assert.equal(home.status, 200);
    for (let i = 0; i < 20; i++) {
      const res = await visit(`${w.url}/try`);
      assert.equal(res.status, 302);
    }
    const health = await (await fetch(`${w.url}/api/healthz`)).json();
    assert.equal(health.rollout.source, 'default');
    const missing = await ofrep(w.url, '/pilot', { headers: { authorization: `Bearer ${OFREP_TOKEN}` } });
    assert.equal(missing.status, 404);
  });
});

describe('a flagd document with a rule that does not compile', () => {
  let w;
  before(async () => { w = await startWorker({ state: 'flags-parse-error', flags: 'crates/core/tests/flags/sets/parse-error.json', vars: { FLAGS_CACHE_S: '1' } }); });
  after(async () => { await w?.stop(); });

  test('is imported as flagd loads it: that flag answers PARSE_ERROR, alone', async () => {
    const doc = JSON.parse(readFileSync(path.join(ROOT, 'crates/core/tests/flags/sets/parse-error.json'), 'utf8'));
    const imported = await admin(w.url, 'PUT', '/flagset', { body: doc });
    assert.equal(imported.status, 200, JSON.stringify(imported.body));
    assert.deepEqual(imported.body.parseErrors.map((e) => [e.flag, e.path.startsWith('/flags/bad-rule/targeting')]), [['bad-rule', true]]);
    await new Promise((r) => setTimeout(r, 1500));
    const auth = { authorization: `Bearer ${OFREP_TOKEN}` };
    const bad = await ofrep(w.url, '/bad-rule', { body: { context: { targetingKey: 'k' } }, headers: auth });
    assert.deepEqual([bad.status, bad.body.errorCode], [400, 'PARSE_ERROR']);
    const fine = await ofrep(w.url, '/fine', { body: { context: { targetingKey: 'k' } }, headers: auth });
    assert.deepEqual([fine.status, fine.body.value], [200, true]);
    // A PUT of one flag with the same rule is refused with the path of the rule.
    const put = await admin(w.url, 'PUT', '/flags/bad_rule_2', { body: { definition: doc.flags['bad-rule'] } });
    assert.equal(put.status, 422);
    assert.match(put.body.path, /^\/definition\/targeting/);
  });
});
