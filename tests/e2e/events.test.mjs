// End-to-end tests of the events beacon against `wrangler dev`: the hostile corpus, the flood,
// and the round trip through the real local Queue into KV.
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { createHmac } from 'node:crypto';
import net from 'node:net';
import { readFileSync } from 'node:fs';
import path from 'node:path';
import { after, before, describe, test } from 'node:test';

import { ADMIN_TOKEN, ROOT, startWorker } from './harness.mjs';

const HMAC_SECRET = 'e2e-ingest-secret-0123456789';
const ALLOWED = 'https://app.example';
const LIMIT = 50 * 1024;
const PROPS_LIMIT = 10 * 1024;
const enc = new TextEncoder();

let seq = 0;
/** A valid event; `over` replaces fields. */
const ev = (over = {}) => ({ v: 1, id: `e2e-${Date.now()}-${seq++}`, name: 'page_view', ts: Date.now(), ...over });
const json = (x) => JSON.stringify(x);
const sign = (body) => `sha256=${createHmac('sha256', HMAC_SECRET).update(body).digest('hex')}`;
/** Pads a JSON body with trailing spaces to exactly n bytes. */
const padTo = (body, n) => body + ' '.repeat(n - enc.encode(body).length);
/** A single event whose props serialize to exactly n bytes: {"k":"xxx..."}. */
const propsOf = (n) => ({ k: 'x'.repeat(n - 8) });

/**
 * A fresh client address. Locally, wrangler dev takes `CF-Connecting-IP` as the client sends it
 * (Cloudflare's edge sets it itself), so each test client gets its own rate-limit key.
 */
let ipSeq = 0;
const nextIp = () => { ipSeq++; return `10.${(ipSeq >> 16) & 255}.${(ipSeq >> 8) & 255}.${ipSeq & 255}`; };

async function post(url, body, headers = {}, init = {}) {
  const res = await fetch(`${url}/api/events`, {
    method: 'POST',
    body,
    headers: { 'content-type': 'application/json', 'user-agent': `corpus-${seq++}`, 'cf-connecting-ip': nextIp(), ...headers },
    ...init,
  });
  // A server may answer 413 before reading a large body and close the connection while the
  // client still uploads; the status has arrived by then, so a cut-off body read is tolerated.
  const text = await res.text().catch(() => '');
  let parsed = null;
  try { parsed = JSON.parse(text); } catch { /* empty or not JSON */ }
  return { status: res.status, headers: res.headers, body: parsed };
}

async function admin(url, query = '', method = 'GET', token = ADMIN_TOKEN) {
  const res = await fetch(`${url}/api/events${query}`, {
    method,
    headers: token ? { authorization: `Bearer ${token}` } : {},
  });
  return { status: res.status, headers: res.headers, body: await res.json() };
}

/**
 * 14 events whose props are 530 numbers written `1e15` (4 bytes each, stored as the 18 bytes
 * `1000000000000000.0`): about 38 KB sent, about 143 KB once stored, over one queue message.
 */
const growing = () => json(Array.from({ length: 14 }, () => ev())).replaceAll('"ts":', `"props":{"n":[${Array(530).fill('1e15').join(',')}]},"ts":`);

/**
 * POSTs a chunked body (no Content-Length) of `total` bytes in 4 KB chunks over a raw socket and
 * resolves with the status line's code. A server that rejects an upload early answers and
 * closes while the client still writes; fetch then fails with EPIPE before it reads the answer,
 * so this client keeps reading whatever happens to its writes.
 */
function chunkedPost(url, total) {
  const { hostname, port } = new URL(url);
  return new Promise((resolve, reject) => {
    const socket = net.connect(Number(port), hostname);
    let answer = '';
    socket.on('data', (d) => {
      answer += d.toString('latin1');
      const m = answer.match(/^HTTP\/1\.1 (\d{3})/);
      if (m) {
        socket.destroy();
        resolve({ status: Number(m[1]) });
      }
    });
    socket.on('error', () => { /* EPIPE/ECONNRESET while writing: the answer may still come */ });
    socket.on('close', () => reject(new Error(`no status line before close: ${JSON.stringify(answer.slice(0, 80))}`)));
    socket.on('connect', async () => {
      socket.write(`POST /api/events HTTP/1.1\r\nHost: ${hostname}:${port}\r\nContent-Type: application/json\r\nUser-Agent: corpus-${seq++}\r\nCF-Connecting-IP: ${nextIp()}\r\nTransfer-Encoding: chunked\r\n\r\n`);
      for (let sent = 0; sent < total && !socket.destroyed; sent += 4096) {
        const n = Math.min(4096, total - sent);
        const ok = socket.write(`${n.toString(16)}\r\n${' '.repeat(n)}\r\n`);
        if (!ok) await new Promise((r) => socket.once('drain', r).once('close', r));
      }
      if (!socket.destroyed) socket.write('0\r\n\r\n');
    });
  });
}

describe('events beacon', () => {
  let w;
  before(async () => {
    w = await startWorker({
      state: 'events',
      vars: { PILOT_ROLLOUT_PCT: '0.5', ALLOWED_ORIGINS: ALLOWED, INGEST_HMAC_SECRET: HMAC_SECRET },
    });
  });
  after(async () => { await w?.stop(); });

  test('hostile and boundary corpus: every case gets its status, never a 5xx', async (t) => {
    const one = json(ev());
    const deep = `{"name":"a","ts":${Date.now()},"props":${'{"a":'.repeat(300)}1${'}'.repeat(300)}}`;
    const hundred = json(Array.from({ length: 100 }, () => ev()));
    const cases = [
      // 1 method
      ['PUT is not allowed', () => fetch(`${w.url}/api/events`, { method: 'PUT', body: one }), 405],
      ['PATCH is not allowed', () => fetch(`${w.url}/api/events`, { method: 'PATCH', body: one }), 405],
      ['GET without a token', () => fetch(`${w.url}/api/events`), 401],
      ['GET with a wrong token', () => admin(w.url, '', 'GET', 'wrong'), 401],
      ['DELETE without a token', () => fetch(`${w.url}/api/events`, { method: 'DELETE' }), 401],
      ['GET limit=0', () => admin(w.url, '?limit=0'), 400],
      ['GET limit=1001', () => admin(w.url, '?limit=1001'), 400],
      ['GET limit=ten', () => admin(w.url, '?limit=ten'), 400],
      // 2 origin
      ['disallowed origin', () => post(w.url, one, { origin: 'https://evil.example' }), 403],
      ['allowed origin', () => post(w.url, json(ev()), { origin: ALLOWED }), 202],
      ['own origin', () => post(w.url, json(ev()), { origin: w.url }), 202],
      ['no origin (server to server)', () => post(w.url, json(ev())), 202],
      ['preflight from an allowed origin', () => fetch(`${w.url}/api/events`, { method: 'OPTIONS', headers: { origin: ALLOWED, 'access-control-request-method': 'POST' } }), 204],
      ['preflight from a disallowed origin', () => fetch(`${w.url}/api/events`, { method: 'OPTIONS', headers: { origin: 'https://evil.example', 'access-control-request-method': 'POST' } }), 403],
      // 4 content type
      ['missing Content-Type', () => post(w.url, enc.encode(json(ev())), { 'content-type': '' }), 415],
      ['application/xml', () => post(w.url, json(ev()), { 'content-type': 'application/xml' }), 415],
      ['multipart/form-data', () => post(w.url, json(ev()), { 'content-type': 'multipart/form-data; boundary=x' }), 415],
      ['text/plain carrying JSON', () => post(w.url, json(ev()), { 'content-type': 'text/plain;charset=UTF-8' }), 202],
      ['application/json; charset=utf-8', () => post(w.url, json(ev()), { 'content-type': 'application/json; charset=utf-8' }), 202],
      // 5 size
      ['body of exactly 50 KB', () => post(w.url, padTo(json(ev()), LIMIT)), 202],
      ['body of 50 KB + 1', () => post(w.url, padTo(json(ev()), LIMIT + 1)), 413],
      ['body of 1 MB', () => post(w.url, padTo(json(ev()), 1 << 20)), 413],
      ['chunked body over the limit, no Content-Length', () => chunkedPost(w.url, LIMIT + 4096), 413],
      ['chunked body of 200 KB, no Content-Length', () => chunkedPost(w.url, 200 * 1024), 413],
      // 6 signature
      ['wrong signature', () => { const b = json(ev()); return post(w.url, b, { 'x-pilot-signature': sign(b + ' ') }); }, 401],
      ['malformed signature', () => post(w.url, json(ev()), { 'x-pilot-signature': 'sha256=xyz' }), 401],
      ['signature of another scheme', () => post(w.url, json(ev()), { 'x-pilot-signature': 'md5=00' }), 401],
      ['right signature', () => { const b = json(ev()); return post(w.url, b, { 'x-pilot-signature': sign(b) }); }, 202],
      // 7 JSON and schema
      ['invalid UTF-8', () => post(w.url, new Uint8Array([0x7b, 0x22, 0x6e, 0xff, 0xfe, 0x22, 0x7d])), 400],
      ['deep nesting', () => post(w.url, deep), 400],
      ['huge number in ts', () => post(w.url, `{"name":"a","ts":1e400}`), 400],
      ['huge number in props', () => post(w.url, `{"name":"a","ts":${Date.now()},"props":{"n":1e999}}`), 400],
      ['duplicate keys', () => post(w.url, `{"name":"a","name":"b","ts":${Date.now()}}`), 400],
      ['wrong type of name', () => post(w.url, json(ev({ name: 7 }))), 400],
      ['wrong type of ts', () => post(w.url, json(ev({ ts: String(Date.now()) }))), 400],
      ['empty body', () => post(w.url, ''), 400],
      ['JSON null', () => post(w.url, 'null'), 400],
      ['a bare number', () => post(w.url, '42'), 400],
      ['truncated JSON', () => post(w.url, json(ev()).slice(0, -3)), 400],
      ['empty batch', () => post(w.url, '[]'), 400],
      ['empty envelope', () => post(w.url, '{"events":[]}'), 400],
      ['envelope of a string', () => post(w.url, '{"events":"x"}'), 400],
      ['envelope with an extra key', () => post(w.url, json({ events: [ev()], extra: 1 })), 400],
      ['101 events', () => post(w.url, json(Array.from({ length: 101 }, () => ev()))), 400],
      ['100 events', () => post(w.url, hundred), 202],
      ['envelope of 2 events', () => post(w.url, json({ events: [ev(), ev()] })), 202],
      ['ts 8 days old', () => post(w.url, json(ev({ ts: Date.now() - 8 * 86400e3 }))), 400],
      ['ts 10 minutes ahead', () => post(w.url, json(ev({ ts: Date.now() + 600e3 }))), 400],
      ['bad name', () => post(w.url, json(ev({ name: 'Page View!' }))), 400],
      ['name of 65 characters', () => post(w.url, json(ev({ name: 'a'.repeat(65) }))), 400],
      ['bad id', () => post(w.url, json(ev({ id: 'no spaces allowed' }))), 400],
      ['non-object props', () => post(w.url, json(ev({ props: [1, 2] }))), 400],
      ['string props', () => post(w.url, json(ev({ props: 'x' }))), 400],
      ['unknown field', () => post(w.url, json(ev({ ip: '1.2.3.4' }))), 400],
      ['schema v2', () => post(w.url, json(ev({ v: 2 }))), 400],
      // 8 props
      ['props of exactly 10 KB', () => post(w.url, json(ev({ props: propsOf(PROPS_LIMIT) }))), 202],
      ['props of 10 KB + 1', () => post(w.url, json(ev({ props: propsOf(PROPS_LIMIT + 1) }))), 413],
      // 9 one queue message
      ['numbers that grow past one queue message once stored', () => post(w.url, growing()), 413],
    ];
    assert.ok(cases.length >= 40, `${cases.length} cases`);
    t.diagnostic(`corpus: ${cases.length} cases`);
    const failures = [];
    for (const [name, run, want] of cases) {
      let res;
      try {
        res = await run();
      } catch (e) {
        failures.push(`${name}: ${e.message} (${e.cause?.code ?? e.cause?.message ?? 'no cause'})`);
        continue;
      }
      if (res.status !== want) failures.push(`${name}: got ${res.status}, want ${want}`);
      assert.ok(res.status < 500, `${name} returned ${res.status}`);
    }
    assert.deepEqual(failures, []);
    const health = await fetch(`${w.url}/api/healthz`);
    assert.equal(health.status, 200);
  });

  test('rejections are JSON that say which event and why', async () => {
    const r = await post(w.url, json([ev(), ev({ name: 'Bad!' })]));
    assert.equal(r.status, 400);
    assert.equal(r.body.error, 'invalid_event');
    assert.equal(r.body.index, 1);
    assert.match(r.body.detail, /^name: /);
    const big = await post(w.url, json([ev(), ev({ props: propsOf(PROPS_LIMIT + 1) })]));
    assert.equal(big.status, 413);
    assert.deepEqual([big.body.error, big.body.index], ['props_too_large', 1]);
    const grown = await post(w.url, growing());
    assert.equal(grown.status, 413);
    assert.equal(grown.body.error, 'batch_too_large');
    assert.match(grown.body.detail, /bytes as stored/);
    const m = await fetch(`${w.url}/api/events`, { method: 'PUT' });
    assert.equal(m.headers.get('allow'), 'POST, OPTIONS, GET, DELETE');
    for (const res of [r, big]) assert.equal(res.headers.get('cache-control'), 'no-store');
  });

  test('CORS: an allowed origin gets its headers and a preflight answer', async () => {
    const pre = await fetch(`${w.url}/api/events`, { method: 'OPTIONS', headers: { origin: ALLOWED } });
    assert.equal(pre.headers.get('access-control-allow-origin'), ALLOWED);
    assert.match(pre.headers.get('access-control-allow-headers'), /X-Pilot-Signature/);
    assert.match(pre.headers.get('access-control-allow-methods'), /POST/);
    const r = await post(w.url, json(ev()), { origin: ALLOWED });
    assert.equal(r.headers.get('access-control-allow-origin'), ALLOWED);
    const denied = await post(w.url, json(ev()), { origin: 'https://evil.example' });
    assert.equal(denied.headers.get('access-control-allow-origin'), null);
    assert.equal(denied.body.error, 'origin_not_allowed');
  });

  /**
   * Floods the beacon with `n` requests, `headers(i)` for the i-th, and returns the statuses.
   * The Rate Limiting binding counts per location and is eventually consistent, so callers
   * assert the bound (never more than 120 accepted, some 429s), not an exact cut-off. Local
   * windows are aligned to the wall clock (floor(now / 60 s)): a flood that straddles a minute
   * sees two windows, so it starts in the first 45 s of one.
   */
  async function flood(n, headers) {
    const intoMinute = Date.now() % 60_000;
    if (intoMinute > 45_000) await new Promise((r) => setTimeout(r, 60_000 - intoMinute + 100));
    const statuses = [];
    let limited = null;
    const started = Date.now();
    for (let i = 0; i < n; i++) {
      const r = await post(w.url, json(ev({ name: 'flood' })), headers(i));
      statuses.push(r.status);
      if (r.status === 429 && limited === null) limited = r;
    }
    assert.ok(Date.now() - started < 15_000, 'the flood fits in one rate-limit window');
    const count = (s) => statuses.filter((x) => x === s).length;
    return { accepted: count(202), limited: count(429), other: statuses.filter((x) => x !== 202 && x !== 429), first429: limited, ms: Date.now() - started };
  }

  test('flood: a client that rotates its User-Agent is still limited by its IP; another IP is not', async (t) => {
    const ip = nextIp();
    const f = await flood(150, (i) => ({ 'cf-connecting-ip': ip, 'user-agent': `rotating-${Date.now()}-${i}` }));
    t.diagnostic(`flood from one IP with 150 User-Agents: ${f.accepted} accepted, ${f.limited} limited in ${f.ms} ms`);
    assert.ok(f.limited > 0, 'some requests were limited');
    assert.ok(f.accepted <= 120, `${f.accepted} accepted`);
    assert.deepEqual(f.other, []);
    assert.ok(Number(f.first429.headers.get('retry-after')) > 0, 'Retry-After');
    assert.equal(f.first429.body.error, 'rate_limited');
    const other = await post(w.url, json(ev()), { 'cf-connecting-ip': nextIp() });
    assert.equal(other.status, 202, 'a different client is unaffected');
  });

  test('flood: a signed identity is limited wherever it comes from', async (t) => {
    const res = await fetch(`${w.url}/api/config`);
    const uid = res.headers.getSetCookie().map((c) => c.split(';')[0]).find((c) => c.startsWith('pg_uid='));
    assert.ok(uid, 'a fresh identity');
    const f = await flood(150, () => ({ cookie: uid, 'cf-connecting-ip': nextIp() }));
    t.diagnostic(`flood from one identity over 150 IPs: ${f.accepted} accepted, ${f.limited} limited`);
    assert.ok(f.limited > 0, 'some requests were limited');
    assert.ok(f.accepted <= 120, `${f.accepted} accepted`);
    assert.deepEqual(f.other, []);
  });

  test('round trip: each accepted request is stored once, as sent, newest first, and pages by cursor', async () => {
    const name = `rt_${Date.now()}`;
    const events = Array.from({ length: 20 }, () => ev({ name }));
    const noId = { name, ts: Date.now(), props: { via: 'derived id' } };
    const body = json([...events, noId]);
    const ip = nextIp();
    for (let i = 0; i < 3; i++) {
      const r = await post(w.url, body, { 'cf-connecting-ip': ip });
      assert.equal(r.status, 202);
      assert.deepEqual(r.body, { accepted: 21 });
    }
    // Re-send half of them alone, as a client retry would.
    const r = await post(w.url, json(events.slice(0, 10)), { 'cf-connecting-ip': ip });
    assert.equal(r.status, 202);
    const want = 3 * 21 + 10;
    const deadline = Date.now() + 15_000;
    let stored = [];
    while (Date.now() < deadline) {
      stored = (await admin(w.url, `?limit=1000&name=${name}`)).body.events;
      if (stored.length >= want) break;
      await new Promise((res) => setTimeout(res, 200));
    }
    await new Promise((res) => setTimeout(res, 1500)); // let any late redelivery land
    stored = (await admin(w.url, `?limit=1000&name=${name}`)).body.events;
    // One value per accepted request: a queue redelivery overwrites it, a client's re-send is a
    // request of its own (the evidence counts units, so re-sends inflate nothing).
    assert.equal(stored.length, want, 'every accepted request once');
    const requests = new Map();
    for (const e of stored) requests.set(e.request_id, (requests.get(e.request_id) || 0) + 1);
    assert.deepEqual([...requests.values()].sort((a, b) => a - b), [10, 21, 21, 21]);
    const ids = new Set(stored.map((e) => e.id));
    assert.equal(ids.size, 21);
    for (const e of events) assert.ok(ids.has(e.id), `missing ${e.id}`);
    const derived = stored.find((e) => e.id.startsWith('h-'));
    assert.deepEqual(derived.props, { via: 'derived id' });
    for (const e of stored) {
      assert.ok(e.received_at >= e.ts - 1000);
      assert.match(e.request_id, /^[0-9a-f]{16}$/);
      assert.equal(e.ip, undefined);
      assert.equal(e.user_agent, undefined);
    }
    // Newest request first.
    const received = stored.map((e) => e.received_at);
    assert.deepEqual(received, [...received].sort((a, b) => b - a));
    const count = await admin(w.url, `?count=true&name=${name}`);
    assert.deepEqual([count.body.count, count.body.complete], [want, true]);
    // A small limit never splits a request: one request of 10, then the next behind the cursor.
    const first = await admin(w.url, `?limit=5&name=${name}`);
    assert.equal(first.headers.get('cache-control'), 'no-store');
    assert.equal(first.body.events.length, 10, 'the newest request, whole');
    assert.equal(typeof first.body.cursor, 'string');
    const second = await admin(w.url, `?limit=5&name=${name}&cursor=${encodeURIComponent(first.body.cursor)}`);
    assert.equal(second.body.events.length, 21);
    assert.notEqual(second.body.events[0].request_id, first.body.events[0].request_id);
    const bad = await admin(w.url, `?cursor=nonsense`);
    assert.equal(bad.status, 400);
    assert.equal(bad.body.error, 'bad_query');
  });
});

describe('events at the largest body limit', () => {
  const MAX = 65536; // EVENTS_MAX_BODY_BYTES at most: one queue message must hold the batch
  let w;
  before(async () => {
    w = await startWorker({
      state: 'events-max',
      vars: { EVENTS_MAX_BODY_BYTES: String(MAX), EVENTS_MAX_PROPS_BYTES: String(MAX) },
    });
  });
  after(async () => { await w?.stop(); });

  /** `count` events named `name`, padded with props to a body of exactly `bytes`. */
  const atLimit = (name, count, bytes) => {
    const events = Array.from({ length: count }, () => ev({ name, props: { p: '' } }));
    const bare = enc.encode(json(events)).length;
    const each = Math.floor((bytes - bare) / count);
    for (const e of events) e.props.p = 'x'.repeat(each);
    return padTo(json(events), bytes);
  };

  async function storedCount(name, want) {
    const deadline = Date.now() + 20_000;
    let count = 0;
    while (Date.now() < deadline) {
      count = (await admin(w.url, `?count=true&name=${name}`)).body.count;
      if (count >= want) break;
      await new Promise((r) => setTimeout(r, 250));
    }
    return count;
  }

  test('100 events in a body of exactly 64 KiB are enqueued as one message and all stored', async () => {
    const name = `max_${Date.now()}`;
    const body = atLimit(name, 100, MAX);
    assert.equal(enc.encode(body).length, MAX);
    const r = await post(w.url, body);
    assert.equal(r.status, 202, JSON.stringify(r.body));
    assert.deepEqual(r.body, { accepted: 100 });
    assert.equal(await storedCount(name, 100), 100);
    const over = await post(w.url, padTo(body, MAX + 1));
    assert.equal(over.status, 413);
    assert.equal(over.body.error, 'body_too_large');
  });

  test('one event whose props fill 64 KiB is stored', async () => {
    const name = `maxprops_${Date.now()}`;
    const r = await post(w.url, atLimit(name, 1, MAX));
    assert.equal(r.status, 202, JSON.stringify(r.body));
    assert.equal(await storedCount(name, 1), 1);
  });
});

describe('signed ingest required', () => {
  let w;
  before(async () => {
    w = await startWorker({
      state: 'events-signed',
      vars: { INGEST_HMAC_SECRET: HMAC_SECRET, INGEST_HMAC_REQUIRED: 'true' },
    });
  });
  after(async () => { await w?.stop(); });

  test('a missing signature is 401, a right one is 202', async () => {
    const b = json(ev());
    const missing = await post(w.url, b);
    assert.equal(missing.status, 401);
    assert.equal(missing.body.error, 'signature_required');
    assert.equal((await post(w.url, b, { 'x-pilot-signature': sign(b) })).status, 202);
  });
});

describe('operator scripts against a live worker', () => {
  let w;
  before(async () => {
    w = await startWorker({ state: 'scripts', vars: { INGEST_HMAC_SECRET: HMAC_SECRET } });
  });
  after(async () => { await w?.stop(); });
  const env = () => ({ ...process.env, ADMIN_TOKEN, INGEST_HMAC_SECRET: HMAC_SECRET });

  test('scripts/loadtest: 1000 POSTs of 200 unique events: every request stored once, all 200 ids, 0 5xx', async () => {
    const out = path.join(ROOT, 'tests/.tmp/loadtest-result.json');
    const r = spawnSync(path.join(ROOT, 'scripts/loadtest'), ['--url', w.url, '--total', '1000', '--unique', '200', '--concurrency', '50', '--out', out], { env: env(), encoding: 'utf8' });
    assert.equal(r.status, 0, r.stdout + r.stderr);
    const result = JSON.parse(readFileSync(out, 'utf8'));
    assert.equal(result.stored_unique, 200);
    assert.equal(result.stored, 1000, 'one stored event per accepted single-event request');
    assert.equal(result.stored_requests, 1000, 'no request stored twice');
    assert.equal(result.errors_5xx, 0);
    assert.equal(result.statuses['202'], 1000);
  });

  test('scripts/smoke passes against the worker', async () => {
    const r = spawnSync(path.join(ROOT, 'scripts/smoke'), [w.url], { env: env(), encoding: 'utf8' });
    assert.equal(r.status, 0, r.stdout + r.stderr);
    assert.match(r.stdout, /ok {3}ingest \(signed\): 202/);
    assert.match(r.stdout, /smoke: ok/);
  });
});
