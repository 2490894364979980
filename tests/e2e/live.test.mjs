// End-to-end tests of the live updates against `wrangler dev`: OFREP's event stream (ADR-0008)
// served by the FlagEvents objects (framing, ids, heartbeats, Last-Event-ID resume, the tag in
// the event and in the bulk answer, the re-fetch that sees a change before the isolate's cache
// would, CORS, the token rule, many connections and a slow reader) and the operators' stream.
import assert from 'node:assert/strict';
import net from 'node:net';
import { after, before, describe, test } from 'node:test';

import { openStream } from '../../scripts/lib/sse.mjs';
import { CookieJar, OFREP_TOKEN, OPERATORS, admin, pool, startWorker } from './harness.mjs';

const DEMO = 'flags/demo.json';
const ALLOWED = 'https://app.example';
const INACTIVITY_S = 4;

async function bulk(url, { jar = new CookieJar(), query = '', headers = {} } = {}) {
  const res = await fetch(`${url}/ofrep/v1/evaluate/flags${query}`, {
    method: 'POST',
    headers: { 'content-type': 'application/json', cookie: jar.header(), ...headers },
    body: JSON.stringify({ context: {} }),
  });
  jar.store(res);
  const text = await res.text();
  return { status: res.status, headers: res.headers, body: text ? JSON.parse(text) : null };
}

const value = (answer, key) => answer.body.flags.find((f) => f.key === key)?.value;
/** Flips syncEnabled (as the admin page's quick action does): one flag's value, published. */
async function flip(url, on) {
  const r = await admin(url, 'GET', '/flags/syncEnabled');
  const variant = on ? 'on' : 'off';
  const definition = { ...r.body.definition, defaultVariant: variant };
  const plan = { ...r.body.plan, on: variant };
  const put = await admin(url, 'PUT', '/flags/syncEnabled', { body: { definition, plan }, headers: { 'if-match': r.body.etag } });
  assert.equal(put.status, 200, JSON.stringify(put.body));
  return put;
}

describe('OFREP event streams', () => {
  let w;
  let streamUrl;
  before(async () => {
    w = await startWorker({
      state: 'live',
      flags: DEMO,
      // A long cache: only the stream's re-fetch can see a change at once.
      vars: { ALLOWED_ORIGINS: ALLOWED, FLAGS_CACHE_S: '60', STREAM_INACTIVITY_S: String(INACTIVITY_S), STREAM_SHARDS: '2' },
    });
    const first = await bulk(w.url);
    streamUrl = `${w.url}${first.body.eventStreams[0].endpoint.requestUri}`;
  });
  after(async () => { await w?.stop(); });

  test('the bulk answer names its stream and the flag configuration tag', async () => {
    const a = await bulk(w.url);
    assert.equal(a.status, 200);
    assert.deepEqual(a.body.eventStreams.length, 1);
    const [s] = a.body.eventStreams;
    assert.equal(s.type, 'sse');
    assert.match(s.endpoint.requestUri, /^\/ofrep\/v1\/events\?s=[01]$/);
    assert.equal(s.inactivityDelaySec, INACTIVITY_S);
    assert.match(a.headers.get('flag-config-etag'), /^"\d+-[0-9a-f]{16}"$/);
  });

  test('SSE framing: retry, then one refetchEvaluation per publish with the revision as id and the bulk answer\'s tag', async () => {
    const s = await openStream(streamUrl);
    try {
      assert.equal(s.status, 200);
      assert.match(s.headers.get('content-type'), /^text\/event-stream/);
      assert.equal(s.headers.get('cache-control'), 'no-store');
      await flip(w.url, false);
      const ev = await s.next((e) => e.data?.type === 'refetchEvaluation');
      assert.equal(s.retry, 1000);
      assert.equal(ev.event, 'message');
      assert.match(ev.id, /^\d+$/);
      assert.equal(typeof ev.data.lastModified, 'number');
      assert.ok(Math.abs(ev.data.lastModified - Date.now() / 1000) < 30, `lastModified ${ev.data.lastModified}`);
      const status = await admin(w.url, 'GET', '/status');
      assert.equal(String(status.body.revision), ev.id);
      // The re-fetch with the event's hints sees the change although the isolate caches 60 s.
      const q = `?flagConfigEtag=${encodeURIComponent(ev.data.etag)}&flagConfigLastModified=${ev.data.lastModified}`;
      const a = await bulk(w.url, { query: q });
      assert.equal(a.status, 200);
      assert.equal(value(a, 'syncEnabled'), false);
      assert.equal(a.headers.get('flag-config-etag'), ev.data.etag);
    } finally {
      s.close();
      await flip(w.url, true);
    }
  });

  test('heartbeats arrive within the inactivity delay', async () => {
    const s = await openStream(streamUrl);
    try {
      const started = performance.now();
      await new Promise((r) => setTimeout(r, INACTIVITY_S * 1000));
      const beats = s.comments.filter((c) => c.text === 'heartbeat');
      assert.ok(beats.length >= 2, `${beats.length} heartbeats in ${INACTIVITY_S} s`);
      assert.ok(beats[0].at - started < INACTIVITY_S * 1000, 'the first heartbeat within the delay');
    } finally { s.close(); }
  });

  test('Last-Event-ID resumes a dropped connection: every missed event once, none repeated', async () => {
    const s1 = await openStream(streamUrl);
    await flip(w.url, false);
    const seen = await s1.next((e) => e.data?.type === 'refetchEvaluation');
    s1.close();
    await flip(w.url, true);
    await flip(w.url, false);
    const s2 = await openStream(streamUrl, { headers: { 'last-event-id': seen.id } });
    try {
      await new Promise((r) => setTimeout(r, 500)); // the replay arrives first, then nothing
      const ids = s2.events.map((e) => Number(e.id));
      assert.equal(ids.length, 2, `replayed ${JSON.stringify(ids)}`);
      assert.ok(ids[0] > Number(seen.id) && ids[1] > ids[0], `ids ${ids} after ${seen.id}`);
      await flip(w.url, true);
      const live = await s2.next((e) => Number(e.id) > ids[1]);
      assert.equal(s2.events.length, 3);
      assert.ok(Number(live.id) > ids[1]);
    } finally { s2.close(); }
  });

  test('an unknown or malformed Last-Event-ID gets one refetchEvaluation of the latest set', async () => {
    const status = await admin(w.url, 'GET', '/status');
    for (const id of ['999999999', 'evt-1', '12345678901234567890123']) {
      const s = await openStream(streamUrl, { headers: { 'last-event-id': id } });
      try {
        const ev = await s.next();
        await new Promise((r) => setTimeout(r, 300));
        assert.equal(s.events.length, 1, `Last-Event-ID ${id}`);
        assert.equal(ev.data.type, 'refetchEvaluation');
        assert.equal(ev.id, String(status.body.revision));
      } finally { s.close(); }
    }
  });

  test('CORS as for OFREP: an allowed origin streams, a preflight allows Last-Event-ID, another origin is refused', async () => {
    const pre = await fetch(streamUrl, { method: 'OPTIONS', headers: { origin: ALLOWED, 'access-control-request-method': 'GET', 'access-control-request-headers': 'last-event-id' } });
    assert.equal(pre.status, 204);
    assert.equal(pre.headers.get('access-control-allow-origin'), ALLOWED);
    assert.match(pre.headers.get('access-control-allow-headers'), /Last-Event-ID/);
    const s = await openStream(streamUrl, { headers: { origin: ALLOWED } });
    try {
      assert.equal(s.status, 200);
      assert.equal(s.headers.get('access-control-allow-origin'), ALLOWED);
    } finally { s.close(); }
    const other = await fetch(streamUrl, { headers: { origin: 'https://evil.example' } });
    assert.equal(other.status, 403);
  });

  test('the token rule: a wrong token is 401, the right one streams; a shard that does not exist is 400', async () => {
    const wrong = await fetch(streamUrl, { headers: { authorization: 'Bearer nope' } });
    assert.equal(wrong.status, 401);
    const s = await openStream(streamUrl, { headers: { authorization: `Bearer ${OFREP_TOKEN}` } });
    assert.equal(s.status, 200);
    s.close();
    for (const q of ['?s=2', '?s=x', '']) {
      const r = await fetch(`${w.url}/ofrep/v1/events${q}`);
      assert.equal(r.status, 400, q);
      assert.equal((await r.json()).errorCode, 'GENERAL');
    }
  });

  test('re-fetch hints: a tag of no publish is ignored, a malformed one is 400', async () => {
    const forged = await bulk(w.url, { query: `?flagConfigEtag=${encodeURIComponent('"999999-0123456789abcdef"')}` });
    assert.equal(forged.status, 200);
    const bad = await bulk(w.url, { query: '?flagConfigEtag=nonsense' });
    assert.equal(bad.status, 400);
    assert.equal(bad.body.errorCode, 'GENERAL');
  });

  test('10,000 idle connections opened and dropped, and a client that never reads, delay no one', async (t) => {
    const started = performance.now();
    let opened = 0;
    await pool(Array.from({ length: 10_000 }, (_, i) => i), 200, async () => {
      const ctrl = new AbortController();
      const res = await fetch(streamUrl, { signal: ctrl.signal });
      if (res.status === 200) opened += 1;
      ctrl.abort();
    });
    t.diagnostic(`10,000 connections opened and dropped in ${((performance.now() - started) / 1000).toFixed(1)} s`);
    assert.equal(opened, 10_000);
    // A client that sends its request and never reads its socket.
    const { port } = new URL(streamUrl);
    const slow = net.connect(Number(port), '127.0.0.1');
    slow.pause();
    slow.write(`GET ${new URL(streamUrl).pathname}${new URL(streamUrl).search} HTTP/1.1\r\nHost: 127.0.0.1\r\n\r\n`);
    const s = await openStream(streamUrl);
    try {
      const delays = [];
      for (let i = 0; i < 10; i += 1) {
        const from = s.events.length;
        const t0 = performance.now();
        await flip(w.url, i % 2 === 1);
        const ev = await s.next(() => true, 5_000, from);
        delays.push(ev.at - t0);
      }
      delays.sort((a, b) => a - b);
      t.diagnostic(`with a slow reader, command -> event at a live client: median ${delays[5].toFixed(0)} ms, max ${delays[9].toFixed(0)} ms`);
      assert.ok(delays[9] < 1000, `max ${delays[9]} ms`);
    } finally {
      s.close();
      slow.destroy();
    }
  });
});

describe('the operators\' event stream', () => {
  let w;
  before(async () => { w = await startWorker({ state: 'live-admin', flags: DEMO }); });
  after(async () => { await w?.stop(); });

  test('a viewer hears of an appended audit entry and a changed plan; no token is 401', async () => {
    const none = await fetch(`${w.url}/api/admin/events`);
    assert.equal(none.status, 401);
    const s = await openStream(`${w.url}/api/admin/events`, { headers: { authorization: `Bearer ${OPERATORS.vera.token}` } });
    try {
      assert.equal(s.status, 200);
      const r = await admin(w.url, 'POST', '/flags/pilot/pause', { as: 'olga', body: { reason: 'live test' } });
      assert.ok(r.status < 300, JSON.stringify(r.body));
      const audit = await s.next((e) => e.data?.type === 'audit');
      assert.deepEqual(audit.data.flags, ['pilot']);
      const plan = await s.next((e) => e.data?.type === 'plan');
      assert.ok(plan.data.revision > 0);
      assert.ok(Number(plan.id) > 0);
    } finally { s.close(); }
  });
});
