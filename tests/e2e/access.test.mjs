// End-to-end tests of Cloudflare Access against `wrangler dev`: the test serves its own team
// keys from a local certs URL, signs tokens with them (RS256, as Access does), and the worker
// verifies them with the runtime's WebCrypto: a valid token's email is the operator with the
// role ACCESS_ROLES gives it; an expired token, another audience, another key, `alg: none`, a
// tampered payload and an unknown kid are all 401.
import assert from 'node:assert/strict';
import { createSign, generateKeyPairSync } from 'node:crypto';
import { readFileSync } from 'node:fs';
import http from 'node:http';
import { after, before, describe, test } from 'node:test';

import { admin, freePort, startWorker, until } from './harness.mjs';

const TEAM = 'pilot-e2e.cloudflareaccess.com';
const ISS = `https://${TEAM}`;
const AUD = 'e2e-application-audience-tag-0123456789';
const b64url = (buf) => Buffer.from(buf).toString('base64url');

function keyPair() {
  const { publicKey, privateKey } = generateKeyPairSync('rsa', { modulusLength: 2048 });
  return { jwk: publicKey.export({ format: 'jwk' }), privateKey };
}

/** A token as Access makes it: RS256 over `header.payload`. */
function sign(claims, { privateKey, kid = 'e2e-key-1', header = { alg: 'RS256', kid, typ: 'JWT' } } = {}) {
  const input = `${b64url(JSON.stringify(header))}.${b64url(JSON.stringify(claims))}`;
  const signature = createSign('RSA-SHA256').update(input).sign(privateKey);
  return `${input}.${b64url(signature)}`;
}

const now = () => Math.floor(Date.now() / 1000);
const claims = (email, over = {}) => ({
  aud: [AUD], email, exp: now() + 300, iat: now() - 5, nbf: now() - 5, iss: ISS, type: 'app',
  sub: '7335d417-61da-459d-899c-0a01c76a2e38', ...over,
});

describe('Cloudflare Access', () => {
  const team = keyPair();
  const stranger = keyPair();
  let w;
  let certs;
  let fetches = 0;
  before(async () => {
    const port = await freePort();
    certs = http.createServer((req, res) => {
      fetches += 1;
      res.setHeader('content-type', 'application/json');
      res.end(JSON.stringify({ keys: [{ ...team.jwk, kid: 'e2e-key-1', alg: 'RS256', use: 'sig' }], public_cert: { kid: 'e2e-key-1', cert: '' } }));
    });
    await new Promise((r) => certs.listen(port, '127.0.0.1', r));
    w = await startWorker({
      state: `access-${process.pid}`,
      flags: 'flags/demo.json',
      vars: {
        ACCESS_TEAM_DOMAIN: TEAM,
        ACCESS_AUD: AUD,
        ACCESS_CERTS_URL: `http://127.0.0.1:${port}/cdn-cgi/access/certs`,
        ACCESS_ROLES: 'ana@example.com:admin,@ops.example.com:operator,@example.com:viewer',
      },
    });
  });
  after(async () => {
    await w?.stop();
    certs?.close();
  });

  const as = (token) => ({ token: null, headers: { 'cf-access-jwt-assertion': token } });

  test('a valid token names the operator by email, with the role ACCESS_ROLES gives', async () => {
    const ana = sign(claims('ana@example.com'), team);
    assert.deepEqual((await admin(w.url, 'GET', '/me', as(ana))).body, { name: 'ana@example.com', role: 'admin' });
    const bo = sign(claims('bo@ops.example.com'), team);
    assert.deepEqual((await admin(w.url, 'GET', '/me', as(bo))).body, { name: 'bo@ops.example.com', role: 'operator' });
    const r = await admin(w.url, 'POST', '/flags/pilot/pause', { ...as(bo), body: { reason: 'via access' } });
    assert.equal(r.status, 200, JSON.stringify(r.body));
    const [entry] = (await admin(w.url, 'GET', '/audit?limit=1', as(ana))).body.entries;
    assert.deepEqual([entry.actor, entry.role, entry.action], ['bo@ops.example.com', 'operator', 'pause']);
    const put = await admin(w.url, 'PUT', '/flags/access_probe', { ...as(bo), body: { definition: { state: 'ENABLED', variants: { on: true, off: false }, defaultVariant: 'off' } } });
    assert.deepEqual([put.status, put.body.detail], [403, 'needs admin']);
    // Known to Access but given no role here: forbidden.
    const zed = sign(claims('zed@elsewhere.net'), team);
    const none = await admin(w.url, 'GET', '/flags', as(zed));
    assert.deepEqual([none.status, none.body.detail], [403, 'needs viewer']);
  });

  test('expired, another audience, another key, alg none, a tampered payload, an unknown kid: all 401', async () => {
    const good = sign(claims('ana@example.com'), team);
    const [h, , s] = good.split('.');
    // Each with the reason the worker logs for it.
    const cases = {
      expired: [sign(claims('ana@example.com', { exp: now() - 1 }), team), 'expired'],
      'not yet valid': [sign(claims('ana@example.com', { nbf: now() + 120 }), team), 'not valid yet (nbf)'],
      'another audience': [sign(claims('ana@example.com', { aud: ['another-app'] }), team), 'another audience'],
      'another issuer': [sign(claims('ana@example.com', { iss: 'https://evil.cloudflareaccess.com' }), team), 'another issuer'],
      'another key': [sign(claims('ana@example.com'), { privateKey: stranger.privateKey }), 'the signature does not verify'],
      'alg none': [`${b64url(JSON.stringify({ alg: 'none', kid: 'e2e-key-1' }))}.${b64url(JSON.stringify(claims('ana@example.com')))}.`, 'algorithm "none": only RS256 with a kid'],
      'tampered payload': [`${h}.${b64url(JSON.stringify(claims('cy@example.com')))}.${s}`, 'the signature does not verify'],
      'unknown kid': [sign(claims('ana@example.com'), { privateKey: team.privateKey, kid: 'made-up' }), 'no team key has its kid'],
      garbage: ['not.a.token', 'not a JWT'],
    };
    for (const [what, [token, reason]] of Object.entries(cases)) {
      const r = await admin(w.url, 'GET', '/me', as(token));
      assert.deepEqual([r.status, r.body.error], [401, 'unauthorized'], what);
      const id = r.headers.get('x-request-id');
      await until(() => readFileSync(w.log, 'utf8').includes(`"request_id":"${id}","detail":${JSON.stringify(reason)}`), `${what}: logged as ${reason}`);
    }
    assert.equal((await admin(w.url, 'GET', '/me', as(good))).status, 200, 'the good one still passes');
  });

  test('made-up kids cannot make the worker fetch the keys more than once per 30 s', async () => {
    const before = fetches;
    for (let i = 0; i < 20; i++) {
      const r = await admin(w.url, 'GET', '/me', as(sign(claims('ana@example.com'), { privateKey: team.privateKey, kid: `forged-${i}` })));
      assert.equal(r.status, 401);
    }
    assert.ok(fetches - before <= 1, `${fetches - before} fetches`);
  });

  test('operators\' tokens still work beside Access', async () => {
    assert.deepEqual((await admin(w.url, 'GET', '/me', { as: 'olga' })).body, { name: 'olga', role: 'operator' });
  });
});
