// The dashboard in headless Chromium: with events sent through the real beacon, it renders a
// card per arm with every metric the flag set configures (green, amber or red against its goal
// and warning sign), a uPlot chart per metric with its threshold lines, and the guards; and the
// health card with the hourly reconciliation. Saves screenshots (tests/.tmp/dashboard.png,
// tests/.tmp/health.png).
import assert from 'node:assert/strict';
import { randomUUID } from 'node:crypto';
import path from 'node:path';
import { after, before, describe, test } from 'node:test';

import { CookieJar, OPERATORS, ROOT, admin, fireCron, pool, postEvents, startWorker, visit } from '../e2e/harness.mjs';
import { launchChromium } from './chromium.mjs';

const ev = (name, props = {}) => ({ v: 1, id: randomUUID(), name, ts: Date.now(), props });

describe('dashboard', () => {
  let w;
  let browser;
  before(async () => {
    w = await startWorker({ state: `browser-dashboard-${process.pid}`, vars: { FLAGS_CACHE_S: '1' }, flags: 'flags/demo.json', args: ['--test-scheduled'] });
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

  /** The dashboard signed in as the viewer vera, in a new context `height` pixels tall. */
  async function board(height) {
    const context = await browser.newContext({ viewport: { width: 1360, height } });
    const page = await context.newPage();
    await page.goto(`${w.url}/dashboard/`);
    await page.getByLabel('Operator token').fill(OPERATORS.vera.token);
    await page.getByRole('button', { name: 'Show the dashboard' }).click();
    return { context, page };
  }

  test('cards per arm with the configured metrics, a chart per metric and the guards, from beacon data', async () => {
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
    const { context, page } = await board(1100);
    try {
      // The consumer counts within seconds and the page refreshes when the operators' stream
      // says the stats changed. Traffic goes on meanwhile (an isolate sends the exposures it
      // buffered on a later request, after 5 s).
      const exposures = async () => page.locator('#cards .arm h3').allInnerTexts();
      for (let i = 0; i < 40; i++) {
        const total = (await exposures()).map((t) => Number(/· (\d+) visitors/.exec(t)?.[1] ?? 0)).reduce((a, b) => a + b, 0);
        if (total === 80) break;
        await (await fetch(`${w.url}/api/healthz`)).arrayBuffer();
        await page.waitForTimeout(500);
      }
      assert.match(await page.locator('#updated').innerText(), /\(live\)$/, 'refreshed by the stream, not by polling');
      assert.deepEqual((await exposures()).map((t) => /^(\w+) \((\w+)\)/.exec(t).slice(1, 3)), [['on', 'pilot'], ['off', 'control']]);
      const metric = (arm, name) => page.locator(`.arm[data-arm="${arm}"] .kpi[data-metric="${name}"]`);
      // Every card row comes from the flag set's metrics, in their order.
      assert.deepEqual(
        await page.locator('.arm[data-arm="on"] .kpi').evaluateAll((rows) => rows.map((r) => r.dataset.metric)),
        ['activation', 'error_rate', 'mic_grant', 'ttfb', 'ttv'],
      );
      assert.equal(await metric('on', 'mic_grant').getAttribute('data-standing'), 'red', 'pilot 60 % < the 80 % warning sign');
      assert.match(await metric('on', 'mic_grant').getAttribute('class'), /\bbad\b/);
      assert.equal(await metric('off', 'mic_grant').getAttribute('data-standing'), 'green', 'control 90 % >= 85 %');
      assert.match(await metric('off', 'mic_grant').getAttribute('class'), /\bok\b/);
      assert.equal(await metric('off', 'ttv').getAttribute('data-standing'), 'green', 'control p50 and p90 within 2 s and 5 s');
      const rate = (arm) => `${((100 * granted[arm]) / seen[arm]).toFixed(1)} %`;
      for (const arm of ['on', 'off']) {
        const text = await metric(arm, 'mic_grant').innerText();
        assert.ok(text.includes(`${rate(arm)} (`) && text.endsWith(`of ${seen[arm]}`), text);
      }
      assert.match(await metric('on', 'mic_grant').getAttribute('title'), /goal >= 0\.85, warn >= 0\.80?/);
      for (const name of ['activation', 'error_rate', 'mic_grant', 'ttfb', 'ttv']) {
        assert.equal(await page.locator(`#chart-${name} canvas`).count(), 1, `${name} is drawn by uPlot`);
      }
      const ttvLegend = await page.locator('#chart-ttv .u-legend').innerText();
      assert.match(ttvLegend, /on p50/);
      assert.match(ttvLegend, /goal p50 <= 2000/);
      assert.match(ttvLegend, /warn p90 <= 8000/);
      assert.match(await page.locator('[data-chart="chart-mic_grant"] figcaption').innerText(), /^mic_grant \(%\); goal >= 0\.85, warn >= 0\.8/);
      const guards = await page.locator('#guards tbody th').allInnerTexts();
      assert.deepEqual(guards, ['comparative', 'breaker', 'sample_ratio', 'no_data', 'guardrail:ttv:p90']);
      // Each guard says why it is not healthy yet (healthy is evidence, never its absence).
      const whys = await page.locator('#guards tbody td:nth-child(4)').allInnerTexts();
      assert.ok(whys.some((w) => /too little traffic|no evidence yet|no units yet|cannot reach/.test(w)), JSON.stringify(whys));
      await page.screenshot({ path: path.join(ROOT, 'tests/.tmp/dashboard.png'), fullPage: true });
    } finally {
      await context.close();
    }
  });
  test('the health card shows the hourly reconciliation as the stream tells of it', async () => {
    const { context, page } = await board(900);
    try {
      await page.locator('#health', { hasText: 'not run yet' }).waitFor();
      await page.locator('#updated', { hasText: '(live)' }).waitFor();
      // The test fires the Cron Trigger as if it ran two minutes from now; the page hears of the
      // result on the operators' stream and redraws the card.
      await fireCron(w.url, Date.now() + 120_000);
      const card = page.locator('#health');
      await page.locator('#health[data-drift="ok"]').waitFor({ timeout: 10_000 });
      assert.match(await card.locator('[data-metric="drift"]').innerText(), /^drift\s+0\.00 %$/);
      assert.match(await card.locator('[data-metric="events"]').innerText(), /(\d+) stored of \1 counted/);
      assert.match(await card.locator('[data-metric="last run"]').innerText(), /UTC$/);
      await card.screenshot({ path: path.join(ROOT, 'tests/.tmp/health.png') });
    } finally {
      await context.close();
    }
  });
});
