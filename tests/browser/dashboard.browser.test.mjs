// The dashboard in headless Chromium: with events sent through the real beacon, it renders a
// card per arm (green or red against the launch's thresholds), the uPlot charts, and the guards.
// Saves a screenshot (tests/.tmp/dashboard.png).
import assert from 'node:assert/strict';
import { randomUUID } from 'node:crypto';
import path from 'node:path';
import { after, before, describe, test } from 'node:test';

import { ADMIN_TOKEN, CookieJar, ROOT, admin, pool, postEvents, startWorker, visit } from '../e2e/harness.mjs';
import { launchChromium } from './chromium.mjs';

const ev = (name, props = {}) => ({ v: 1, id: randomUUID(), name, ts: Date.now(), props });

describe('dashboard', () => {
  let w;
  let browser;
  before(async () => {
    w = await startWorker({ state: `browser-dashboard-${process.pid}`, vars: { FLAGS_CACHE_S: '1' }, flags: 'flags/demo.json' });
    for (let i = 0; i < 2; i++) {
      assert.equal((await admin(w.url, 'POST', '/flags/pilot/advance', { body: { force: true, reason: 'dashboard test' } })).status, 200);
    }
    await new Promise((r) => setTimeout(r, 1500));
    browser = await launchChromium();
  });
  after(async () => {
    await browser?.close();
    await w?.stop();
  });

  test('cards per arm against the thresholds, charts and guards, from beacon data', async () => {
    // 80 visitors: the pilot arm grants the mic 6 times in 10 and is slower; control 9 in 10.
    const seen = { on: 0, off: 0 };
    const granted = { on: 0, off: 0 };
    await pool(Array.from({ length: 80 }, (_, i) => i), 8, async (i) => {
      const jar = new CookieJar();
      jar.ua = `dashboard-visitor-${i}`;
      await visit(`${w.url}/try`, jar, { 'user-agent': jar.ua });
      const pilot = jar.get('pilot_cohort') === 'pilot';
      const arm = pilot ? 'on' : 'off';
      const n = seen[arm]++ % 10;
      const batch = [ev('page_view'), ev('ttv', { ms: (pilot ? 1500 : 900) + n * 150 }), ev('mic_prompt')];
      if (n < (pilot ? 6 : 9)) {
        batch.push(ev('mic_granted'), ev('activated'));
        granted[arm] += 1;
      }
      if (n === 0 && pilot) batch.push(ev('error', { message: 'x' }));
      assert.equal(await postEvents(w.url, jar, batch), 202);
    });
    const context = await browser.newContext({ viewport: { width: 1360, height: 1100 } });
    try {
      const page = await context.newPage();
      await page.goto(`${w.url}/dashboard/`);
      await page.getByLabel('Admin token').fill(ADMIN_TOKEN);
      await page.getByRole('button', { name: 'Show the dashboard' }).click();
      // The consumer counts within seconds; the page refreshes every 5 s.
      const exposures = async () => page.locator('#cards .arm h3').allInnerTexts();
      for (let i = 0; i < 40; i++) {
        const total = (await exposures()).map((t) => Number(/· (\d+) visitors/.exec(t)?.[1] ?? 0)).reduce((a, b) => a + b, 0);
        if (total === 80) break;
        await page.waitForTimeout(500);
      }
      assert.deepEqual((await exposures()).map((t) => /^(\w+) \((\w+)\)/.exec(t).slice(1, 3)), [['on', 'pilot'], ['off', 'control']]);
      const kpi = (arm, name) => page.locator(`.arm[data-arm="${arm}"] .kpi[data-kpi="${name}"]`);
      assert.match(await kpi('on', 'Mic grant').getAttribute('class'), /\bbad\b/, 'pilot 60 % < 85 %');
      assert.match(await kpi('off', 'Mic grant').getAttribute('class'), /\bok\b/, 'control 90 % >= 85 %');
      assert.match(await kpi('off', 'TTV p50').getAttribute('class'), /\bok\b/);
      const rate = (arm) => `${((100 * granted[arm]) / seen[arm]).toFixed(1)} %`;
      assert.ok((await kpi('on', 'Mic grant').innerText()).endsWith(rate('on')));
      assert.ok((await kpi('off', 'Mic grant').innerText()).endsWith(rate('off')));
      for (const id of ['chart-ttv', 'chart-errors', 'chart-rates']) {
        assert.equal(await page.locator(`#${id} canvas`).count(), 1, `${id} is drawn by uPlot`);
      }
      const ttvLegend = await page.locator('#chart-ttv .u-legend').innerText();
      assert.match(ttvLegend, /on p50/);
      assert.match(ttvLegend, /2 s/);
      const guards = await page.locator('#guards tbody th').allInnerTexts();
      assert.deepEqual(guards, ['comparative', 'breaker', 'sample_ratio', 'no_data']);
      await page.screenshot({ path: path.join(ROOT, 'tests/.tmp/dashboard.png'), fullPage: true });
    } finally {
      await context.close();
    }
  });
});
