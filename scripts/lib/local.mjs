// Starts and stops a local `wrangler dev` (workerd, local KV/Queue/DO state) and drives it with
// synthetic visitors: for the drills, the benchmark and the end-to-end tests (which import it).
// Each server runs in its own process group on 127.0.0.1 and is stopped by its group id.
import { spawn, spawnSync } from 'node:child_process';
import { mkdirSync, openSync, readFileSync, writeFileSync } from 'node:fs';
import http from 'node:http';
import net from 'node:net';
import path from 'node:path';
import { fileURLToPath } from 'node:url';

export const ROOT = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '../..');
export const TEST_SECRET = 'e2e-cookie-secret-0123456789abcdef0123456789';
export const ADMIN_TOKEN = 'e2e-admin-token-0123456789abcdefghij';
/** Named operators of the local worker (`ADMIN_TOKENS`), besides `ADMIN_TOKEN`'s `admin`. */
export const OPERATORS = {
  vera: { role: 'viewer', token: 'e2e-viewer-vera-0123456789abcdefghij' },
  olga: { role: 'operator', token: 'e2e-operator-olga-0123456789abcdefgh' },
  otto: { role: 'operator', token: 'e2e-operator-otto-0123456789abcdefgh' },
  ada: { role: 'admin', token: 'e2e-admin-ada-0123456789abcdefghijkl' },
};
/** `ADMIN_TOKENS` of {@link OPERATORS}. */
export const ADMIN_TOKENS = Object.entries(OPERATORS).map(([name, o]) => `${name}:${o.role}:${o.token}`).join(',');
export const OFREP_TOKEN = 'e2e-ofrep-token-0123456789';
export const METRICS_TOKEN = 'e2e-metrics-token-0123456789';

/**
 * Writes `raw` (a string stored as given) as the flag set envelope into the local KV of
 * `state`, to test what the worker does with a value that the control plane would never write.
 */
export function putRawFlagSet(state, raw) {
  const tmp = path.join(ROOT, 'tests/.tmp');
  mkdirSync(tmp, { recursive: true });
  const file = path.join(tmp, `flagset-${state}.raw`);
  writeFileSync(file, raw);
  const put = spawnSync(path.join(ROOT, 'node_modules/.bin/wrangler'), [
    'kv', 'key', 'put', '--binding', 'CONFIG_KV', '--local', '--persist-to', path.join(tmp, `state-${state}`), 'flagset', '--path', file,
  ], { cwd: ROOT, encoding: 'utf8', env: { ...process.env, PILOT_GATE_SKIP_BUILD: '1' } });
  if (put.status !== 0) throw new Error(`wrangler kv key put failed: ${put.stderr}`);
}

/**
 * Calls the admin API as `admin` (`ADMIN_TOKEN`), as the operator named `as` (one of
 * {@link OPERATORS}) or with `token`: resolves to { status, headers, body } (body parsed when JSON).
 */
export async function admin(url, method, route, { body, headers = {}, as, token = as ? OPERATORS[as].token : ADMIN_TOKEN } = {}) {
  const h = { ...headers };
  if (token) h.authorization = `Bearer ${token}`;
  const res = await fetch(`${url}/api/admin${route}`, {
    method,
    headers: h,
    body: body === undefined ? undefined : typeof body === 'string' ? body : JSON.stringify(body),
  });
  const text = await res.text();
  let parsed = text;
  try { parsed = JSON.parse(text); } catch { /* not JSON */ }
  return { status: res.status, headers: res.headers, body: parsed };
}

/** Imports a flag set file (flagd, plus optional plans) through the control plane. */
export async function importFlagSet(url, file) {
  const r = await admin(url, 'PUT', '/flagset', { body: readFileSync(path.join(ROOT, file), 'utf8') });
  if (r.status !== 200) throw new Error(`import of ${file} failed: ${r.status} ${JSON.stringify(r.body)}`);
  return r.body;
}

/** A free TCP port on 127.0.0.1. */
export function freePort() {
  return new Promise((resolve, reject) => {
    const srv = net.createServer();
    srv.unref();
    srv.on('error', reject);
    srv.listen(0, '127.0.0.1', () => {
      const { port } = srv.address();
      srv.close(() => resolve(port));
    });
  });
}

/** The control worker's wrangler config, which `wrangler dev` runs beside the edge's. */
export const CONTROL_CONFIG = path.join(ROOT, 'wrangler.control.toml');

/**
 * A copy of the wrangler config `source` in `dir`, for one `wrangler dev`: its `main` is `main`
 * (an entry in the repo or a test build's), its assets directory the repo's, and it has no
 * [build] (the harness builds once, up front). With `vars`, they go into the `.dev.vars` beside
 * it: `wrangler dev`'s `--var` reaches only the first config's worker. Returns the copy's path.
 */
export function configCopy(source, dir, { main, vars } = {}) {
  mkdirSync(dir, { recursive: true });
  const text = readFileSync(source, 'utf8')
    .replace(/^main = ".*"$/m, `main = ${JSON.stringify(main)}`)
    .replace(/^directory = "\.\/www"$/m, `directory = ${JSON.stringify(path.join(ROOT, 'www'))}`)
    .replace(/^\[build\]\n(?:.+\n)+/m, '');
  const file = path.join(dir, path.basename(source));
  writeFileSync(file, text);
  if (vars) {
    const lines = Object.entries(vars).map(([k, v]) => {
      // Single-quoted .dev.vars values are taken as they are; none of ours holds a quote.
      if (String(v).includes("'")) throw new Error(`var ${k}: a value with ' cannot go into .dev.vars`);
      return `${k}='${v}'`;
    });
    writeFileSync(path.join(dir, '.dev.vars'), `${lines.join('\n')}\n`);
  }
  return file;
}

/**
 * Starts `wrangler dev` with both workers (the edge's config first, so its port is the URL,
 * then the control worker's) and `vars` (name -> value) for both, resolves once the edge and
 * the control plane answer, then imports `flags` (a flag set file) through the admin API;
 * `{raw}` is written to CONFIG_KV before the start instead. `edge` is the edge's config and
 * `controlEntry` the control worker's entry (a test build's; see configCopy); `config` runs that one wrangler
 * config alone instead (the benchmark's comparison workers). `args` are more `wrangler dev`
 * arguments (those of the edge, such as `--local-upstream`). Returns { url, stop }. `state`
 * names the local persistence dir, so a restart keeps state.
 */
export async function startWorker({ vars = {}, state = 'default', config, edge = path.join(ROOT, 'wrangler.toml'), controlEntry = path.join(ROOT, 'crates/control/entry.js'), flags, args: extra = [], timeoutMs = 120_000 } = {}) {
  if (flags?.raw !== undefined) putRawFlagSet(state, flags.raw);
  const port = await freePort();
  const inspector = await freePort();
  const tmp = path.join(ROOT, 'tests/.tmp');
  mkdirSync(tmp, { recursive: true });
  const allVars = { COOKIE_SECRET: TEST_SECRET, ADMIN_TOKEN, ADMIN_TOKENS, OFREP_TOKEN, METRICS_TOKEN, ...vars };
  const args = [
    'dev', '--local', '--ip', '127.0.0.1', '--port', String(port),
    '--inspector-port', String(inspector), '--persist-to', path.join(tmp, `state-${state}`),
    '--show-interactive-dev-session=false', '--log-level', 'warn',
  ];
  for (const [k, v] of Object.entries(allVars)) args.push('--var', `${k}:${v}`);
  if (config) args.push('--config', config);
  else {
    const control = configCopy(CONTROL_CONFIG, path.join(tmp, `control-${state}-${port}`), { main: controlEntry, vars: allVars });
    args.push('-c', edge, '-c', control);
  }
  args.push(...extra);
  const log = path.join(tmp, `wrangler-${state}-${port}.log`);
  const fd = openSync(log, 'w');
  const child = spawn(path.join(ROOT, 'node_modules/.bin/wrangler'), args, {
    cwd: ROOT,
    detached: true, // own process group, stopped by its id
    stdio: ['ignore', fd, fd],
    env: { ...process.env, PILOT_GATE_SKIP_BUILD: '1' },
  });
  let exited = null;
  child.on('exit', (code) => { exited = code; });
  const url = `http://127.0.0.1:${port}`;
  const stop = () => stopGroup(child);
  const deadline = Date.now() + timeoutMs;
  while (Date.now() < deadline) {
    if (exited !== null) throw new Error(`wrangler dev exited with ${exited}; see ${log}`);
    try {
      // Any HTTP answer means the worker is up (a misconfigured one answers 503). The status
      // of the control plane reads no flag set, so no isolate caches "none" before the import.
      await (await fetch(`${url}/api/admin/status`, { headers: { authorization: `Bearer ${allVars.ADMIN_TOKEN}` } })).arrayBuffer();
      if (typeof flags === 'string') await importFlagSet(url, flags);
      return { url, stop, log, pid: child.pid };
    } catch (e) {
      if (String(e.message).startsWith('import of')) { await stop(); throw e; }
    }
    await new Promise((r) => setTimeout(r, 250));
  }
  await stop();
  throw new Error(`wrangler dev not ready after ${timeoutMs} ms; see ${log}`);
}

/** Stops a child started with `detached: true` by its process group: SIGTERM, then SIGKILL
 * after 5 s. Resolves once it has exited. */
export function stopGroup(child) {
  return new Promise((resolve) => {
    if (child.exitCode !== null || child.signalCode !== null) return resolve();
    const kill = (sig) => { try { process.kill(-child.pid, sig); } catch { /* gone */ } };
    const hard = setTimeout(() => kill('SIGKILL'), 5_000);
    child.once('exit', () => { clearTimeout(hard); resolve(); });
    kill('SIGTERM');
  });
}

/** A minimal cookie jar: name -> value, fed from Set-Cookie headers. */
export class CookieJar {
  constructor(init = {}) { this.cookies = new Map(Object.entries(init)); }
  header() { return [...this.cookies].map(([k, v]) => `${k}=${v}`).join('; '); }
  store(response) {
    for (const sc of response.headers.getSetCookie()) {
      const [pair] = sc.split(';');
      const i = pair.indexOf('=');
      this.cookies.set(pair.slice(0, i).trim(), pair.slice(i + 1).trim());
    }
  }
  get(name) { return this.cookies.get(name); }
}

/**
 * The address a jar's requests claim (`jar.ip`, as `CF-Connecting-IP`, which `wrangler dev`
 * passes on as Cloudflare sets it): the edge counts client evidence one visitor per network.
 */
function netOf(jar) {
  return jar.ip ? { 'cf-connecting-ip': jar.ip } : {};
}

/** The headers that make a request the jar's visitor's: its User-Agent and claimed address. */
export function visitorHeaders(jar) {
  return { 'user-agent': jar.ua, ...netOf(jar) };
}

/** An address on a /24 of its own for the `n`-th of many visitors (10.0.0.0/8). */
export function addressOf(n) {
  return `10.${(n >> 8) & 255}.${n & 255}.7`;
}

/** GET without following redirects, sending and then storing the jar's cookies (and its
 * claimed address, `jar.ip`). */
export async function visit(url, jar = new CookieJar(), headers = {}) {
  const h = { 'user-agent': 'Mozilla/5.0 (X11; Linux x86_64) pilot-gate-e2e', ...netOf(jar), ...headers };
  if (jar.cookies.size) h.cookie = jar.header();
  const res = await fetch(url, { redirect: 'manual', headers: h });
  jar.store(res);
  await res.arrayBuffer();
  return res;
}

/**
 * POSTs `events` to the beacon as the visitor with `jar`, under the jar's own User-Agent
 * (`jar.ua`, so the rate limit is its own); resolves to the status.
 */
export async function postEvents(url, jar, events) {
  const res = await fetch(`${url}/api/events`, {
    method: 'POST',
    headers: { 'content-type': 'application/json', cookie: jar.header(), 'user-agent': jar.ua, ...netOf(jar) },
    body: JSON.stringify(events),
  });
  jar.store(res);
  await res.arrayBuffer();
  return res.status;
}

/** Runs `fn` over `items` with at most `limit` in flight; resolves to the results in order. */
export async function pool(items, limit, fn) {
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

/**
 * A small origin on 127.0.0.1 for a worker that passes gated routes through to its origin
 * (`PASS_THROUGH=origin`, `wrangler dev --local-upstream <host>`): it answers 500 to a request
 * with `x-drill-fail: 1` (or for which `fail(req)` says so), else 200 with a small page.
 * Returns { host, requests, stop }.
 */
export async function startOrigin({ fail = (req) => req.headers['x-drill-fail'] === '1' } = {}) {
  const port = await freePort();
  const stats = { requests: 0, failed: 0 };
  const server = http.createServer((req, res) => {
    stats.requests += 1;
    if (fail(req)) {
      stats.failed += 1;
      res.writeHead(500, { 'content-type': 'text/plain' }).end('origin failure');
      return;
    }
    res.writeHead(200, { 'content-type': 'text/html' }).end('<!doctype html><title>origin</title><p>origin');
  });
  await new Promise((resolve) => server.listen(port, '127.0.0.1', resolve));
  return {
    host: `127.0.0.1:${port}`,
    stats,
    stop: () => new Promise((resolve) => { server.closeAllConnections(); server.close(() => resolve()); }),
  };
}
