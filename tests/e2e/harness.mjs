// The end-to-end tests' harness: a local `wrangler dev` per test (its own process group, stopped
// by its id) and synthetic visitors, which live with the operator tools that drive a local worker
// too (scripts/lib/local.mjs: they never import test code); and the tests' own small helpers.
import assert from 'node:assert/strict';
import { spawn, spawnSync } from 'node:child_process';
import { randomUUID } from 'node:crypto';
import { mkdirSync } from 'node:fs';
import path from 'node:path';

import { ADMIN_TOKEN, CookieJar, METRICS_TOKEN, ROOT, addressOf, admin, freePort, stopGroup } from '../../scripts/lib/local.mjs';

export * from '../../scripts/lib/local.mjs';

const PYTHON = process.env.PG_PYTHON || path.join(process.env.HOME, '.cache/pilot-gate/py/bin/python');

/**
 * Fires the worker's hourly Cron Trigger as if it ran at `atMs` (`wrangler dev
 * --test-scheduled`); resolves once the handler has finished, and fails if it failed.
 */
export async function fireCron(url, atMs) {
  const r = await fetch(`${url}/cdn-cgi/local/scheduled?cron=${encodeURIComponent('0 * * * *')}&time=${atMs}`);
  assert.equal(r.status, 200, await r.text());
}

/**
 * The `sh` blocks of a Markdown text (of its section `## heading` only, when given), each as
 * its command lines: trimmed, without blank lines and comments.
 */
export function shBlocks(text, heading) {
  let part = text;
  if (heading !== undefined) {
    const start = text.indexOf(`\n## ${heading}\n`);
    assert.ok(start >= 0, `no section "${heading}"`);
    const end = text.indexOf('\n## ', start + 1);
    part = text.slice(start, end < 0 ? undefined : end);
  }
  const blocks = [];
  let block = null;
  for (const line of part.split('\n')) {
    if (line.startsWith('```')) {
      if (block) { blocks.push(block); block = null; } else if (line.trim() === '```sh') block = [];
      continue;
    }
    if (block && line.trim() && !line.trim().startsWith('#')) block.push(line.trim());
  }
  return blocks;
}

/** Resolves after `ms`. */
export const sleep = (ms) => new Promise((r) => setTimeout(r, ms));

/** A valid beacon event named `name` with a fresh id. */
export const ev = (name, props = {}) => ({ v: 1, id: randomUUID(), name, ts: Date.now(), props });

/** Polls `check` (resolving to a value or null) every 250 ms until it gives a value. */
export async function until(check, what, timeoutMs = 30_000) {
  const t0 = Date.now();
  for (;;) {
    const v = await check();
    if (v) return v;
    if (Date.now() - t0 > timeoutMs) throw new Error(`timed out waiting for ${what}`);
    await sleep(250);
  }
}

/** Prometheus text parsed by prometheus_client's own parser: its families as JSON. */
export function parseMetrics(text) {
  const r = spawnSync(PYTHON, [path.join(ROOT, 'tests/e2e/parse_metrics.py')], { input: text, encoding: 'utf8' });
  assert.equal(r.status, 0, r.stderr);
  return JSON.parse(r.stdout);
}

/** The value of the sample `name` whose labels include `labels`, from parsed families. */
export function sample(families, name, labels) {
  for (const f of families) {
    for (const s of f.samples) {
      if (s.name === name && Object.entries(labels).every(([k, v]) => s.labels[k] === v)) return s.value;
    }
  }
  return undefined;
}

/** `/metrics` of the worker at `url`, parsed. */
export async function metrics(url) {
  const res = await fetch(`${url}/metrics`, { headers: { authorization: `Bearer ${METRICS_TOKEN}` } });
  assert.equal(res.status, 200);
  return parseMetrics(await res.text());
}

let visitors = 0;
/** A fresh visitor (its own cookie jar and User-Agent, and a network of its own, as most
 * visitors have). */
export function visitor() {
  const jar = new CookieJar();
  jar.ua = `e2e-visitor-${process.pid}-${visitors}`;
  jar.ip = addressOf(visitors++);
  return jar;
}

/** Exposed units per arm of `flag` over its tier. */
export async function units(url, flag) {
  const arms = (await admin(url, 'GET', `/stats/${flag}`)).body.arms ?? {};
  return Object.fromEntries(Object.entries(arms).map(([v, a]) => [v, a.exposures]));
}

/** The sum of an object's values. */
export const total = (counts) => Object.values(counts).reduce((a, b) => a + b, 0);

/** The number of events the beacon stored. */
export async function storedEvents(url) {
  const res = await fetch(`${url}/api/events?count=true`, { headers: { authorization: `Bearer ${ADMIN_TOKEN}` } });
  return (await res.json()).count;
}

/** Puts `flag` at 50 % or more (forced advances, a fresh tier). */
export async function toHalf(url, flag) {
  for (;;) {
    const f = (await admin(url, 'GET', `/flags/${flag}`)).body;
    if (f.pct >= 50) return f;
    const r = await admin(url, 'POST', `/flags/${flag}/advance`, { body: { force: true, reason: 'e2e test' } });
    assert.equal(r.status, 200, JSON.stringify(r.body));
  }
}

/**
 * Runs `scripts/dev` with `args` exactly as a user would (the repository's `.dev.vars`, its set-up
 * and build steps), in its own process group, on a free port and in a state directory of its
 * own (`--port` and `--persist-to` added). Returns { url, port, output(), exited, waitFor, stop }:
 * `exited` resolves to the exit code, `waitFor(re)` to the output once it matches `re` (and
 * rejects, with the output, when scripts/dev exits first or after `timeoutMs`).
 */
export async function startDev(args = [], { state = `dev-${process.pid}-${Date.now()}`, env = {} } = {}) {
  const port = await freePort();
  const tmp = path.join(ROOT, 'tests/.tmp');
  mkdirSync(tmp, { recursive: true });
  const child = spawn(path.join(ROOT, 'scripts/dev'), [...args, '--port', String(port), '--persist-to', path.join(tmp, `state-${state}`)], {
    cwd: ROOT,
    detached: true, // own process group, stopped by its id
    stdio: ['ignore', 'pipe', 'pipe'],
    env: { ...process.env, ...env },
  });
  let text = '';
  const waiting = new Set();
  const feed = (chunk) => {
    text += chunk;
    for (const w of waiting) w();
  };
  child.stdout.on('data', feed);
  child.stderr.on('data', feed);
  const exited = new Promise((resolve) => child.on('exit', (code, signal) => { resolve(code ?? signal); for (const w of waiting) w(); }));
  const output = () => text.replace(/\x1b\[[0-9;]*m/g, '');
  const waitFor = (re, timeoutMs = 300_000) => new Promise((resolve, reject) => {
    const timer = setTimeout(() => { waiting.delete(check); reject(new Error(`scripts/dev: no ${re} within ${timeoutMs} ms:\n${output()}`)); }, timeoutMs);
    timer.unref();
    const check = () => {
      const m = re.exec(output());
      if (m) { clearTimeout(timer); waiting.delete(check); resolve(m); return; }
      if (child.exitCode !== null || child.signalCode !== null) {
        clearTimeout(timer); waiting.delete(check);
        reject(new Error(`scripts/dev exited (${child.exitCode ?? child.signalCode}) before ${re}:\n${output()}`));
      }
    };
    waiting.add(check);
    check();
  });
  return { url: `http://127.0.0.1:${port}`, port, output, exited, waitFor, stop: () => stopGroup(child) };
}
