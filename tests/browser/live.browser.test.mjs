// Browser tests of the live updates in headless Chromium: OpenFeature's web SDK with
// @openfeature/ofrep-web-provider and its event stream (ADR-0008). A kill from the admin API
// changes the value the page reads within a second, with no poll (the edge caches the set for
// 60 s, so only the stream's re-fetch can see it), and the page's PROVIDER_CONFIGURATION_CHANGED
// handler runs; after every stream is cut, the provider reconnects and catches up.
import assert from 'node:assert/strict';
import { after, before, describe, test } from 'node:test';

import { admin, startWorker } from '../e2e/harness.mjs';
import { bundleSdk, countStreamOpens, launchChromium } from './chromium.mjs';

describe('the OFREP web provider on the event stream', () => {
  let w;
  let browser;
  let context;
  let page;
  before(async () => {
    w = await startWorker({ state: 'browser-live', flags: 'flags/demo.json', vars: { FLAGS_CACHE_S: '60', PILOT_GATE_FAULTS: 'true' } });
    browser = await launchChromium();
    const bundle = bundleSdk();
    context = await browser.newContext();
    page = await context.newPage();
    await page.route(`${w.url}/live-test.html`, (route) => route.fulfill({
      contentType: 'text/html',
      body: `<!doctype html><script>${bundle}</script><p>live</p>`,
    }));
    await page.goto(`${w.url}/live-test.html`);
    await countStreamOpens(page);
    await page.evaluate(async () => {
      const { OpenFeature, OFREPWebProvider, ProviderEvents } = window.OF;
      window.changes = [];
      const client = OpenFeature.getClient();
      // syncEnabled as the page reads it (null when it does not resolve).
      window.sync = () => {
        const d = client.getBooleanDetails('syncEnabled', false);
        return d.errorCode ? null : d.value;
      };
      OpenFeature.addHandler(ProviderEvents.ConfigurationChanged, (d) => {
        window.changes.push({ at: Date.now(), flags: d.flagsChanged, sync: window.sync() });
      });
      await OpenFeature.setProviderAndWait(new OFREPWebProvider({ baseUrl: location.origin }));
    });
    await page.waitForFunction(() => window.sseOpen > 0);
  });
  after(async () => {
    await context?.close();
    await browser?.close();
    await w?.stop();
  });

  const sync = () => page.evaluate(() => window.sync());
  /** Waits until the page reads `value`; answers when its change handler saw it (ms since epoch). */
  async function seen(value, timeoutMs) {
    await page.waitForFunction((v) => window.sync() === v, value, { timeout: timeoutMs, polling: 10 });
    return page.evaluate((v) => window.changes.filter((c) => c.sync === v).at(-1), value);
  }

  test('a kill from the admin API reaches the page within a second, through its change handler', async (t) => {
    assert.equal(await sync(), true);
    const kill = await admin(w.url, 'POST', '/kill', { body: { reason: 'live browser test' } });
    assert.equal(kill.status, 200, JSON.stringify(kill.body));
    const answered = Date.now();
    const change = await seen(false, 5_000);
    const ms = change.at - answered;
    t.diagnostic(`kill answered -> syncEnabled false in the page: ${ms} ms (FLAGS_CACHE_S 60)`);
    assert.ok(change.flags.includes('syncEnabled'), JSON.stringify(change));
    assert.ok(ms < 1000, `${ms} ms`);
  });

  test('after every stream is cut, the provider reconnects and catches up with what it missed', async (t) => {
    const cut = await admin(w.url, 'POST', '/faults', { body: { fault: 'streams_cut' } });
    assert.equal(cut.status, 200, JSON.stringify(cut.body));
    // Published while the page is disconnected (its EventSource retries after 1 s).
    const unkill = await admin(w.url, 'POST', '/unkill', { body: { reason: 'live browser test' } });
    assert.equal(unkill.status, 200, JSON.stringify(unkill.body));
    const answered = Date.now();
    const change = await seen(true, 10_000);
    t.diagnostic(`streams cut, unkill answered -> syncEnabled true in the page: ${change.at - answered} ms (reconnect + Last-Event-ID replay)`);
    assert.equal(await sync(), true);
  });
});
