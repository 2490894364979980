// Browser tests of flags in headless Chromium: the /try page's experiments from /api/config,
// and OpenFeature's web SDK with its OFREP provider reading the visitor's values and polling
// with If-None-Match (its event stream: live.browser.test.mjs).
import assert from 'node:assert/strict';
import { after, before, describe, test } from 'node:test';


import { startWorker } from '../e2e/harness.mjs';
import { bundleSdk, launchChromium } from './chromium.mjs';
import { inRollout } from '../e2e/murmur3.mjs';

describe('browser with the demo flag set, everyone in the pilot', () => {
  let w;
  let browser;
  before(async () => {
    w = await startWorker({ state: 'browser-flags', flags: 'flags/demo.json', vars: { PILOT_ROLLOUT_PCT: '1' } });
    browser = await launchChromium();
  });
  after(async () => {
    await browser?.close();
    await w?.stop();
  });

  /** A fresh visitor on /try with its config applied; its id and E1/E2 arms as flagd computes them. */
  async function visitor() {
    const context = await browser.newContext();
    const page = await context.newPage();
    await page.goto(`${w.url}/try`);
    await page.waitForSelector('html[data-config-loaded="true"]');
    const uid = (await context.cookies()).find((c) => c.name === 'pg_uid').value.split('.')[1];
    return {
      context,
      page,
      copy: inRollout('e1_cta_copy', uid, 5000) ? 'Start practising' : 'Try it now',
      primer: inRollout('e2_primer', uid, 5000) ? 'custom' : 'native',
    };
  }

  test('/try shows the visitor\'s E1 copy, the same across reloads', async () => {
    for (let i = 0; i < 6; i++) {
      const { context, page, copy } = await visitor();
      try {
        assert.equal(await page.textContent('#start'), copy);
        await page.reload();
        await page.waitForSelector('html[data-config-loaded="true"]');
        assert.equal(await page.textContent('#start'), copy);
      } finally {
        await context.close();
      }
    }
  });

  test('with e2_primer=native, Start asks for the microphone without the primer dialog', async () => {
    for (let i = 0; i < 40; i++) {
      const { context, page, primer } = await visitor();
      try {
        if (primer !== 'native') continue;
        assert.match(await page.textContent('#e2'), /^native/);
        await page.click('#start');
        await page.waitForFunction(() => document.getElementById('mic').textContent === 'granted');
        assert.equal(await page.evaluate(() => document.getElementById('primer').open), false, 'no primer dialog');
        return;
      } finally {
        await context.close();
      }
    }
    assert.fail('no native-primer visitor in 40 tries at 50 %');
  });

  test('the web SDK with the OFREP provider gets the visitor\'s values and polls with If-None-Match', async () => {
    const bundle = bundleSdk();
    const context = await browser.newContext();
    const page = await context.newPage();
    // A same-origin page of the worker, so the visitor's pg_uid cookie travels with OFREP calls.
    await page.route(`${w.url}/sdk-test.html`, (route) => route.fulfill({
      contentType: 'text/html',
      body: `<!doctype html><script>${bundle}</script><p>sdk</p>`,
    }));
    const bulk = [];
    page.on('response', async (res) => {
      if (res.url().endsWith('/ofrep/v1/evaluate/flags')) {
        bulk.push({ status: res.status(), ifNoneMatch: (await res.request().allHeaders())['if-none-match'] ?? null });
      }
    });
    try {
      await page.goto(`${w.url}/sdk-test.html`);
      const values = await page.evaluate(async () => {
        const { OpenFeature, OFREPWebProvider } = window.OF;
        await OpenFeature.setProviderAndWait(new OFREPWebProvider({ baseUrl: location.origin, pollInterval: 300, changeDetection: 'polling' }));
        const client = OpenFeature.getClient();
        return {
          sync: client.getBooleanValue('syncEnabled', false),
          interval: client.getNumberValue('minIntervalSec', 0),
          cap: client.getNumberValue('retryCap', 0),
          copy: client.getStringValue('e1_cta_copy', 'fallback'),
          pilot: client.getBooleanDetails('pilot', false),
        };
      });
      assert.deepEqual([values.sync, values.interval, values.cap], [true, 900, 3]);
      assert.ok(['Start practising', 'Try it now'].includes(values.copy), values.copy);
      // The provider sends no targetingKey: the edge evaluated the visitor's own signed identity.
      const uid = (await context.cookies()).find((c) => c.name === 'pg_uid').value.split('.')[1];
      assert.equal(values.copy, inRollout('e1_cta_copy', uid, 5000) ? 'Start practising' : 'Try it now');
      const deadline = Date.now() + 10_000;
      while (Date.now() < deadline && !bulk.some((b) => b.status === 304)) {
        await new Promise((r) => setTimeout(r, 200));
      }
      const polled = bulk.find((b) => b.status === 304);
      assert.ok(polled, `a poll got 304: ${JSON.stringify(bulk)}`);
      assert.match(polled.ifNoneMatch, /^"[0-9a-f]{32}"$/);
    } finally {
      await context.close();
    }
  });
});
