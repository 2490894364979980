// Benchmark baseline for the beacon (bench/cpu.mjs, "beacon x10"): what pilot-gate's POST
// /api/events checks, in plain JS, then one queue message per accepted request, and the
// consumer's KV write of it. No signed identity, no flags: the bench's senders have neither.
const MAX_BODY_BYTES = 51200;
const MAX_PROPS_BYTES = 10240;
const MAX_EVENTS = 100;
const MAX_PAST_MS = 7 * 24 * 3600 * 1000;
const MAX_FUTURE_MS = 5 * 60 * 1000;
const TTL_S = 2592000;
const NAME = /^[a-z0-9_.:-]{1,64}$/;
const ID = /^[A-Za-z0-9_-]{8,128}$/;
const enc = new TextEncoder();

const problem = (status, error, detail) =>
  new Response(JSON.stringify({ error, detail }), { status, headers: { 'content-type': 'application/json; charset=utf-8' } });

/** The event at `index`, checked and normalized, or a string saying what is wrong with it. */
function check(e, index, now) {
  if (e === null || typeof e !== 'object' || Array.isArray(e)) return `event ${index}: must be an object`;
  if (e.v !== undefined && e.v !== 1) return `event ${index}: only schema version 1 is accepted`;
  if (typeof e.name !== 'string' || !NAME.test(e.name)) return `event ${index}: name must be 1..64 characters of [a-z0-9_.:-]`;
  if (!Number.isInteger(e.ts) || e.ts < now - MAX_PAST_MS || e.ts > now + MAX_FUTURE_MS) return `event ${index}: ts out of range`;
  if (e.id !== undefined && (typeof e.id !== 'string' || !ID.test(e.id))) return `event ${index}: id must be 8..128 characters of [A-Za-z0-9_-]`;
  if (e.session !== undefined && (typeof e.session !== 'string' || e.session.length > 128)) return `event ${index}: session too long`;
  const props = e.props ?? {};
  if (typeof props !== 'object' || Array.isArray(props)) return `event ${index}: props must be an object`;
  if (enc.encode(JSON.stringify(props)).length > MAX_PROPS_BYTES) return `event ${index}: props too large`;
  return { v: 1, id: e.id ?? crypto.randomUUID(), name: e.name, ts: e.ts, session: e.session, props };
}

export default {
  async fetch(req, env) {
    if (new URL(req.url).pathname !== '/api/events' || req.method !== 'POST') return problem(404, 'not_found', 'no such route');
    const ip = req.headers.get('cf-connecting-ip') ?? '127.0.0.1';
    const { success } = await env.EVENTS_RATE_LIMITER.limit({ key: ip });
    if (!success) return problem(429, 'rate_limited', 'too many requests');
    const type = (req.headers.get('content-type') ?? '').split(';')[0].trim().toLowerCase();
    if (type !== 'application/json' && type !== 'text/plain') return problem(415, 'unsupported_media_type', 'send application/json');
    if (Number(req.headers.get('content-length') ?? 0) > MAX_BODY_BYTES) return problem(413, 'body_too_large', `at most ${MAX_BODY_BYTES} bytes`);
    const body = await req.arrayBuffer();
    if (body.byteLength > MAX_BODY_BYTES) return problem(413, 'body_too_large', `at most ${MAX_BODY_BYTES} bytes`);
    let parsed;
    try {
      parsed = JSON.parse(new TextDecoder('utf-8', { fatal: true }).decode(body));
    } catch (e) {
      return problem(400, 'invalid_json', String(e.message));
    }
    const raw = Array.isArray(parsed) ? parsed : Array.isArray(parsed?.events) ? parsed.events : [parsed];
    if (raw.length === 0) return problem(400, 'empty_batch', 'no event');
    if (raw.length > MAX_EVENTS) return problem(413, 'too_many_events', `at most ${MAX_EVENTS}`);
    const now = Date.now();
    const events = [];
    for (let i = 0; i < raw.length; i++) {
      const e = check(raw[i], i, now);
      if (typeof e === 'string') return problem(400, 'invalid_event', e);
      events.push(e);
    }
    const requestId = crypto.randomUUID().replaceAll('-', '');
    await env.EVENTS_QUEUE.send(JSON.stringify({ request_id: requestId, received_at: now, country: req.cf?.country ?? null, events }), { contentType: 'text' });
    return new Response(JSON.stringify({ accepted: events.length }), { status: 202, headers: { 'content-type': 'application/json; charset=utf-8' } });
  },

  async queue(batch, env) {
    await Promise.all(batch.messages.map(async (m) => {
      const msg = JSON.parse(m.body);
      const key = `req:${String(1e13 - msg.received_at).padStart(13, '0')}:${msg.request_id}`;
      await env.EVENTS_KV.put(key, m.body, { expirationTtl: TTL_S, metadata: { n: msg.events.length } });
      m.ack();
    }));
  },
};
