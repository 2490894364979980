// The kill-switch drill: gathers N pilot visitors (returning visitors with their own cookies,
// served the gated route), throws the kill switch, and measures how long until every one of
// them is redirected; then unkills and measures how long until every one is back, in the same
// cohort as before. Used by `scripts/drill kill` and by the end-to-end tests.

const UA = 'Mozilla/5.0 (X11; Linux x86_64) pilot-gate-drill';

/** GET `path` as the visitor with `cookies` (name -> value); stores what the answer sets. */
async function visit(url, path, cookies) {
  const headers = { 'user-agent': UA };
  if (cookies.size) headers.cookie = [...cookies].map(([k, v]) => `${k}=${v}`).join('; ');
  const res = await fetch(`${url}${path}`, { redirect: 'manual', headers });
  for (const sc of res.headers.getSetCookie()) {
    const [pair] = sc.split(';');
    const i = pair.indexOf('=');
    cookies.set(pair.slice(0, i).trim(), pair.slice(i + 1).trim());
  }
  await res.arrayBuffer();
  return res.status;
}

/** Runs `fn` over `items`, at most `limit` at once; resolves to the results in order. */
async function pool(items, limit, fn) {
  const out = new Array(items.length);
  let next = 0;
  const worker = async () => {
    while (next < items.length) {
      const i = next++;
      out[i] = await fn(items[i], i);
    }
  };
  await Promise.all(Array.from({ length: Math.min(limit, items.length) }, worker));
  return out;
}

async function command(url, token, route, reason) {
  const res = await fetch(`${url}/api/admin${route}`, {
    method: 'POST',
    headers: { authorization: `Bearer ${token}`, 'content-type': 'application/json', 'x-pilot-actor': 'scripts/drill' },
    body: JSON.stringify({ reason }),
  });
  const body = await res.json().catch(() => ({}));
  if (res.status !== 200) throw new Error(`${route}: ${res.status} ${JSON.stringify(body)}`);
  return body;
}

/** Polls every visitor until `done(status)` holds for all; resolves to the ms it took. */
async function until(url, path, visitors, done, { timeoutMs, intervalMs = 100, concurrency }) {
  const t0 = performance.now();
  let pending = visitors;
  while (pending.length) {
    const statuses = await pool(pending, concurrency, (v) => visit(url, path, v.cookies));
    pending = pending.filter((_, i) => !done(statuses[i]));
    const elapsed = performance.now() - t0;
    if (pending.length && elapsed > timeoutMs) {
      throw new Error(`${pending.length} of ${visitors.length} visitors still not switched after ${Math.round(elapsed)} ms`);
    }
    if (pending.length) await new Promise((r) => setTimeout(r, intervalMs));
  }
  return performance.now() - t0;
}

/**
 * The drill against a running worker whose `gatedPath` is gated by `pilot`.
 * Returns { visitors, visits, killMs, unkillMs, sameCohorts }.
 */
export async function killDrill({ url, token, visitors: want = 200, gatedPath = '/try', timeoutMs = 120_000, concurrency = 16, log = () => {} }) {
  const pilots = [];
  let visits = 0;
  while (pilots.length < want) {
    const batch = Array.from({ length: Math.max(50, want - pilots.length) }, () => ({ cookies: new Map() }));
    const statuses = await pool(batch, concurrency, (v) => visit(url, gatedPath, v.cookies));
    visits += batch.length;
    batch.forEach((v, i) => { if (statuses[i] === 200 && pilots.length < want) pilots.push(v); });
    if (visits >= 100 * want) throw new Error(`only ${pilots.length} pilot visitors in ${visits} visits: is pilot rolled out?`);
  }
  for (const v of pilots) v.cohort = v.cookies.get('pilot_cohort');
  log(`${pilots.length} pilot visitors found in ${visits} fresh visits`);
  await command(url, token, '/kill', 'scripts/drill kill: kill-switch drill');
  const killMs = await until(url, gatedPath, pilots, (s) => s === 302, { timeoutMs, concurrency });
  log(`kill: every one of the ${pilots.length} visitors redirected after ${Math.round(killMs)} ms`);
  await command(url, token, '/unkill', 'scripts/drill kill: drill over');
  const unkillMs = await until(url, gatedPath, pilots, (s) => s === 200, { timeoutMs, concurrency });
  const sameCohorts = pilots.every((v) => v.cookies.get('pilot_cohort') === v.cohort);
  log(`unkill: every one served again after ${Math.round(unkillMs)} ms; same cohorts: ${sameCohorts}`);
  return { visitors: pilots.length, visits, killMs, unkillMs, sameCohorts };
}
