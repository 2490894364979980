// The end-to-end tests' harness: a local `wrangler dev` per test (its own process group, stopped
// by its id) and synthetic visitors, which live with the operator tools that drive a local worker
// too (scripts/lib/local.mjs: they never import test code); and the tests' own small helpers.
import { randomUUID } from 'node:crypto';

export * from '../../scripts/lib/local.mjs';

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
