// Smoke test of a running pilot-gate (local or deployed): healthz, a signed ingest that must
// then be readable through the admin GET, and a gated request that must get its cookies.
import { createHmac, randomBytes } from 'node:crypto';

import { secret } from './secrets.mjs';

const base = (process.argv[2] || 'http://127.0.0.1:8787').replace(/\/$/, '');
const token = secret('ADMIN_TOKEN');
const hmac = secret('INGEST_HMAC_SECRET');
let failed = 0;
const check = (ok, what) => {
  console.log(`${ok ? 'ok  ' : 'FAIL'} ${what}`);
  if (!ok) failed += 1;
};

const health = await fetch(`${base}/api/healthz`);
const h = await health.json().catch(() => ({}));
check(health.status === 200 && h.status === 'ok', `healthz: ${health.status} ${JSON.stringify(h.rollout ?? h)}`);

const id = `smoke-${randomBytes(8).toString('hex')}`;
const body = JSON.stringify({ v: 1, id, name: 'smoke_test', ts: Date.now(), props: { via: 'scripts/smoke' } });
const headers = { 'content-type': 'application/json', 'user-agent': 'pilot-gate-smoke' };
if (hmac) headers['x-pilot-signature'] = `sha256=${createHmac('sha256', hmac).update(body).digest('hex')}`;
const ingest = await fetch(`${base}/api/events`, { method: 'POST', headers, body });
check(ingest.status === 202, `ingest${hmac ? ' (signed)' : ' (unsigned: no INGEST_HMAC_SECRET)'}: ${ingest.status} ${await ingest.text()}`);

if (!token) {
  check(false, 'readback: no ADMIN_TOKEN in the environment or .dev.vars');
} else {
  let found = false;
  const deadline = Date.now() + 20_000;
  while (!found && Date.now() < deadline) {
    const res = await fetch(`${base}/api/events?limit=50&name=smoke_test`, { headers: { authorization: `Bearer ${token}` } });
    found = res.status === 200 && (await res.json()).events.some((e) => e.id === id);
    if (!found) await new Promise((r) => setTimeout(r, 250));
  }
  check(found, `readback: event ${id} ${found ? 'stored' : 'not stored within 20 s'}`);
}

const gated = await fetch(`${base}/try`, { redirect: 'manual', headers: { 'user-agent': 'Mozilla/5.0 pilot-gate-smoke' } });
const cookies = gated.headers.getSetCookie().map((c) => c.split('=')[0]);
check([200, 302].includes(gated.status) && cookies.includes('pg_uid') && cookies.includes('pilot_cohort'),
  `gated /try: ${gated.status}, cookies ${cookies.join(', ') || 'none'}, Cache-Control ${gated.headers.get('cache-control')}`);

console.log(failed ? `smoke: ${failed} check(s) failed` : 'smoke: ok');
process.exit(failed ? 1 : 0);
