// Browser tests in headless Chromium (Debian's /usr/bin/chromium via playwright-core):
// cookies across reloads, crossOriginIsolated, the client-side gate and the mic primer.
import assert from 'node:assert/strict';
import { after, before, describe, test } from 'node:test';


import { ADMIN_TOKEN, startWorker } from '../e2e/harness.mjs';
import { launchChromium } from './chromium.mjs';

describe('browser at 50 %', () => {
  let w;
  let browser;
  before(async () => {
    w = await startWorker({ vars: { PILOT_ROLLOUT_PCT: '0.5' }, state: 'browser' });
    browser = await launchChromium();
  });
  after(async () => {
    await browser?.close();
    await w?.stop();
  });

  /** Fresh browser contexts (new visitors) until one lands in `cohort`. */
  async function visitorIn(cohort) {
    for (let i = 0; i < 40; i++) {
      const context = await browser.newContext();
      const page = await context.newPage();
      await page.goto(`${w.url}/try`);
      const cookies = await context.cookies();
      if (cookies.find((c) => c.name === 'pilot_cohort')?.value === cohort) return { context, page };
      await context.close();
    }
    throw new Error(`no ${cohort} visitor in 40 tries at 50 %`);
  }

  test('a pilot visitor on /try is cross-origin isolated and keeps its cohort across a reload', async () => {
    const { context, page } = await visitorIn('pilot');
    try {
      assert.equal(new URL(page.url()).pathname, '/try');
      assert.equal(await page.evaluate(() => window.crossOriginIsolated), true);
      assert.equal(await page.textContent('#isolated'), 'true');
      assert.equal(await page.textContent('#cohort'), 'pilot');
      const uid = (await context.cookies()).find((c) => c.name === 'pg_uid');
      assert.ok(uid?.httpOnly, 'pg_uid is HttpOnly');
      assert.equal(await page.evaluate(() => document.cookie.includes('pg_uid')), false);
      for (let i = 0; i < 3; i++) {
        await page.reload();
        assert.equal(new URL(page.url()).pathname, '/try');
        assert.equal(await page.evaluate(() => window.crossOriginIsolated), true);
        const again = await context.cookies();
        assert.equal(again.find((c) => c.name === 'pg_uid')?.value, uid.value);
        assert.equal(again.find((c) => c.name === 'pilot_cohort')?.value, 'pilot');
      }
    } finally {
      await context.close();
    }
  });

  test('Start opens a labelled primer, uses shared memory and gets the microphone', async () => {
    const { context, page } = await visitorIn('pilot');
    try {
      await context.grantPermissions(['microphone'], { origin: w.url });
      await page.click('#start');
      const dialog = page.getByRole('dialog', { name: 'Allow the microphone?' });
      await dialog.waitFor({ state: 'visible' });
      assert.match(await page.textContent('#shared-memory'), /^SharedArrayBuffer 192000 bytes$/);
      await dialog.getByRole('button', { name: 'Continue' }).click();
      await page.waitForFunction(() => document.getElementById('mic').textContent !== 'asking...');
      assert.equal(await page.textContent('#mic'), 'granted');
    } finally {
      await context.close();
    }
  });

  test('a control visitor ends on /', async () => {
    const { context, page } = await visitorIn('control');
    try {
      assert.equal(new URL(page.url()).pathname, '/');
      assert.equal(await page.textContent('#cohort'), 'control');
      assert.equal(await page.isVisible('#sent-home'), true);
      await page.goto(`${w.url}/try`);
      assert.equal(new URL(page.url()).pathname, '/');
    } finally {
      await context.close();
    }
  });

  test("the /try page's page_view reaches storage through sendBeacon on pagehide", async () => {
    const context = await browser.newContext();
    // Count sendBeacon calls in localStorage, which outlives the page that unloads.
    await context.addInitScript(() => {
      const send = navigator.sendBeacon.bind(navigator);
      navigator.sendBeacon = (url, data) => {
        localStorage.setItem('pg_beacons', String(Number(localStorage.getItem('pg_beacons') || 0) + 1));
        return send(url, data);
      };
    });
    const page = await context.newPage();
    try {
      let cohort;
      for (let i = 0; i < 40 && cohort !== 'pilot'; i++) {
        await context.clearCookies();
        await page.goto(`${w.url}/try`);
        cohort = (await context.cookies()).find((c) => c.name === 'pilot_cohort')?.value;
      }
      assert.equal(cohort, 'pilot');
      await page.evaluate(() => localStorage.setItem('pg_beacons', '0'));
      const since = Date.now();
      await page.goto(`${w.url}/`); // pagehide: the client flushes with sendBeacon
      assert.equal(await page.evaluate(() => localStorage.getItem('pg_beacons')), '1', 'one sendBeacon call');
      let stored;
      const deadline = Date.now() + 15_000;
      while (!stored && Date.now() < deadline) {
        const res = await fetch(`${w.url}/api/events?limit=100&name=page_view`, { headers: { authorization: `Bearer ${ADMIN_TOKEN}` } });
        stored = (await res.json()).events.find((e) => e.received_at >= since);
        if (!stored) await new Promise((r) => setTimeout(r, 200));
      }
      assert.ok(stored, 'the page_view was stored');
      assert.equal(stored.props.path, '/try');
      assert.equal(stored.props.isolated, true);
      assert.deepEqual(stored.flags, { pilot: 'on' }, "the sender's variants, evaluated from its pg_uid");
    } finally {
      await context.close();
    }
  });

  test('the beacon client retries after Retry-After with the same id and ts, stored once', async () => {
    const { context, page } = await visitorIn('pilot');
    try {
      const seen = [];
      await page.route('**/api/events', async (route) => {
        const body = JSON.parse(route.request().postData());
        const probe = body.find((e) => e.name === 'retry_probe');
        if (!probe) return route.continue();
        seen.push({ at: Date.now(), id: probe.id, ts: probe.ts });
        if (seen.length === 1) {
          return route.fulfill({ status: 503, headers: { 'Retry-After': '1', 'Content-Type': 'application/json' }, body: '{"error":"unavailable"}' });
        }
        return route.continue();
      });
      const id = await page.evaluate(() => {
        const eventId = window.PilotBeacon.track('retry_probe', { n: 1 });
        window.PilotBeacon.flush();
        return eventId;
      });
      const deadline = Date.now() + 10_000;
      while (seen.length < 2 && Date.now() < deadline) await new Promise((r) => setTimeout(r, 100));
      assert.equal(seen.length, 2, 'one retry after the 503');
      assert.equal(seen[0].id, id);
      assert.deepEqual([seen[1].id, seen[1].ts], [seen[0].id, seen[0].ts], 'id and ts are stamped once');
      assert.ok(seen[1].at - seen[0].at >= 900, `retried after ${seen[1].at - seen[0].at} ms, Retry-After is 1 s`);
      let stored = [];
      while (stored.length === 0 && Date.now() < deadline + 5_000) {
        const res = await fetch(`${w.url}/api/events?name=retry_probe`, { headers: { authorization: `Bearer ${ADMIN_TOKEN}` } });
        stored = (await res.json()).events.filter((e) => e.id === id);
        if (!stored.length) await new Promise((r) => setTimeout(r, 200));
      }
      assert.equal(stored.length, 1);
      assert.equal(await page.evaluate(() => { window.PilotBeacon.track(null, 42); return 'no throw'; }), 'no throw');
    } finally {
      await context.close();
    }
  });
});
