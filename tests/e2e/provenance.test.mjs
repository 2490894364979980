// Guards no forger can drive, end to end under `scripts/dev` with the demo set: cookies are free
// to mint, so a hostile visitor mints identities and posts client errors from them. From one
// address, however many identities, nothing happens: client-reported evidence counts one visitor
// per network. Spread over 40 claimed networks (`CF-Connecting-IP`), it may at most pause the
// pilot, never roll it back, and the audit reason says that client-reported evidence decided.
import assert from 'node:assert/strict';
import { after, before, describe, test } from 'node:test';

import { ADMIN_TOKEN, CookieJar, admin, ev, postEvents, sleep, startDev, toHalf, until, visit } from './harness.mjs';

let forged = 0;
/** A fresh identity minted on `/try` from `ip`; resolves to it and its arm. */
async function mint(url, ip) {
  const jar = new CookieJar();
  jar.ua = `forger-${process.pid}-${forged++}`;
  jar.ip = ip;
  const res = await visit(`${url}/try`, jar);
  return { jar, arm: res.status === 200 ? 'on' : 'off' };
}

/** The audit entries of `pilot` by the guards. */
async function guardEntries(url) {
  return (await admin(url, 'GET', '/audit?flag=pilot&limit=50')).body.entries.filter((e) => e.actor === 'guard');
}

describe('forged client errors under scripts/dev', () => {
  let dev;
  before(async () => {
    dev = await startDev(['--var', 'FLAGS_CACHE_S:1', '--var', `ADMIN_TOKEN:${ADMIN_TOKEN}`]);
    await dev.waitFor(/dev: ready: open /);
    await toHalf(dev.url, 'pilot');
    await sleep(1500);
  });
  after(async () => { await dev?.stop(); });

  test('100 identities minted from one address, each posting an error: no action', async (t) => {
    const minted = [];
    for (let i = 0; i < 100; i++) minted.push(await mint(dev.url, '198.51.100.7'));
    for (const { jar } of minted) assert.equal(await postEvents(dev.url, jar, [ev('error', { message: 'forged' })]), 202);
    const inPilot = minted.filter((m) => m.arm === 'on').length;
    const stats = await until(async () => {
      const s = (await admin(dev.url, 'GET', '/stats/pilot')).body;
      return (s.arms.on?.clientErrors ?? 0) >= inPilot ? s : null;
    }, 'the forged errors counted');
    t.diagnostic(`${inPilot} forged pilot identities with an error; one speaks for the net: ${stats.arms.on.clientErrorNets}`);
    assert.equal(stats.arms.on.clientErrorNets, 1);
    await sleep(5000);
    assert.deepEqual(await guardEntries(dev.url), []);
    assert.equal((await admin(dev.url, 'GET', '/flags/pilot')).body.plan.status, 'active');
  });

  test('the same spread over 40 claimed networks: at most a pause, on client-reported evidence', async (t) => {
    for (let net = 0; net < 40; net++) {
      const ip = `203.0.${net}.9`;
      for (;;) {
        const { jar, arm } = await mint(dev.url, ip);
        if (arm !== 'on') continue;
        assert.equal(await postEvents(dev.url, jar, [ev('error', { message: 'forged' })]), 202);
        break;
      }
    }
    const flag = await until(async () => {
      const f = (await admin(dev.url, 'GET', '/flags/pilot')).body;
      return f.plan.status !== 'active' ? f : null;
    }, 'the guards to act', 60_000);
    assert.equal(flag.plan.status, 'paused', 'a pause, never a rollback');
    assert.notEqual(flag.plan.tier, 0);
    const [entry] = await guardEntries(dev.url);
    t.diagnostic(`${entry.action}: ${entry.reason}`);
    assert.equal(entry.action, 'pause');
    assert.equal(entry.evidence.provenance, 'client');
    assert.match(entry.reason, /client-reported/);
    assert.match(entry.reason, /client-reported only: paused, not rolled back/);
  });
});
