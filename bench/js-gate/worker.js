// Benchmark baseline (b): the same gate in plain JS, as a user would write it instead of
// pilot-gate: signed pg_uid (HMAC-SHA256, 128-bit tag), murmur3 bucketing, cohort cookie,
// isolation and no-store headers, redirect for control, assets pass-through for pilot.
import { inRollout } from '../../tests/e2e/murmur3.mjs';

const enc = new TextEncoder();
let keyPromise;
const hmacKey = (secret) =>
  (keyPromise ??= crypto.subtle.importKey('raw', enc.encode(secret), { name: 'HMAC', hash: 'SHA-256' }, false, ['sign']));

const hex = (buf) => [...new Uint8Array(buf)].map((b) => b.toString(16).padStart(2, '0')).join('');

async function tag(secret, idHex) {
  const sig = await crypto.subtle.sign('HMAC', await hmacKey(secret), enc.encode(`pg_uid.v1.${idHex}`));
  return hex(sig.slice(0, 16));
}

function cookie(header, name) {
  for (const part of (header || '').split(';')) {
    const i = part.indexOf('=');
    if (i > 0 && part.slice(0, i).trim() === name) return part.slice(i + 1).trim();
  }
  return null;
}

async function identity(req, secret) {
  const raw = cookie(req.headers.get('cookie'), 'pg_uid');
  const m = raw && /^v1\.([0-9a-f]{32})\.([0-9a-f]{32})$/.exec(raw);
  if (m && (await tag(secret, m[1])) === m[2]) return { id: m[1], setUid: null };
  const id = hex(crypto.getRandomValues(new Uint8Array(16)));
  return { id, setUid: `v1.${id}.${await tag(secret, id)}` };
}

export default {
  async fetch(req, env) {
    const url = new URL(req.url);
    if (!url.pathname.startsWith('/try')) return env.ASSETS.fetch(req);
    const bp = Math.round(Number(env.PILOT_ROLLOUT_PCT) * 10000);
    const { id, setUid } = await identity(req, env.COOKIE_SECRET);
    const cohort = inRollout('pilot', id, bp) ? 'pilot' : 'control';
    const upstream = cohort === 'pilot'
      ? await env.ASSETS.fetch(req)
      : new Response(null, { status: 302, headers: { location: '/' } });
    const res = new Response(upstream.body, upstream);
    const h = res.headers;
    h.set('Cross-Origin-Opener-Policy', 'same-origin');
    h.set('Cross-Origin-Embedder-Policy', 'require-corp');
    h.set('Cross-Origin-Resource-Policy', 'same-origin');
    h.set('Cache-Control', 'private, no-store');
    h.set('Vary', 'Cookie');
    h.set('X-Content-Type-Options', 'nosniff');
    h.set('Referrer-Policy', 'strict-origin-when-cross-origin');
    h.set('X-Request-Id', hex(crypto.getRandomValues(new Uint8Array(8))));
    const attrs = '; Path=/; Max-Age=34560000; Secure; SameSite=Lax';
    if (setUid) h.append('Set-Cookie', `pg_uid=${setUid}${attrs}; HttpOnly`);
    if (cookie(req.headers.get('cookie'), 'pilot_cohort') !== cohort) {
      h.append('Set-Cookie', `pilot_cohort=${cohort}${attrs}`);
    }
    return res;
  },
};
