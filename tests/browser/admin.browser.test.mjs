// The admin page in headless Chromium: an operator signs in, advances `pilot`, steps it back and
// advances it again, rolls it back with a reason; a pilot visitor in another browser context ends
// on / after the edge's flag cache time; the audit log shows every entry. Saves a screenshot
// (tests/.tmp/admin.png). A viewer's page follows other operators' commands through the
// operators' event stream, and polls every 5 s when the stream fails.
import assert from 'node:assert/strict';
import path from 'node:path';
import { after, before, describe, test } from 'node:test';

import { OPERATORS, ROOT, admin, startWorker } from '../e2e/harness.mjs';
import { launchChromium } from './chromium.mjs';

const CACHE_S = 2;

describe('admin page', () => {
  let w;
  let browser;
  before(async () => {
    w = await startWorker({ state: `browser-admin-${process.pid}`, vars: { FLAGS_CACHE_S: String(CACHE_S) }, flags: 'flags/demo.json' });
    browser = await launchChromium();
  });
  after(async () => {
    await browser?.close();
    await w?.stop();
  });

  /** Fresh browser contexts (new visitors) until one is served /try (10 % + allowlist). */
  async function pilotVisitor() {
    for (let i = 0; i < 80; i++) {
      const context = await browser.newContext();
      const page = await context.newPage();
      await page.goto(`${w.url}/try`);
      if (new URL(page.url()).pathname === '/try') return { context, page };
      await context.close();
    }
    throw new Error('no pilot visitor in 80 tries at 10 %');
  }

  /** Clicks a command of `flag`, types the reason into the confirmation and confirms. */
  async function command(page, flag, label, reason) {
    await page.getByRole('button', { name: `${label} ${flag}`, exact: true }).click();
    const dialog = page.getByRole('dialog');
    await dialog.waitFor();
    assert.equal(await page.evaluate(() => document.activeElement?.id), 'reason', 'focus is on the reason');
    if (reason) await page.keyboard.type(reason);
    await dialog.getByRole('button', { name: 'Confirm' }).click();
    await dialog.waitFor({ state: 'hidden' });
  }

  test('sign in, advance pilot, roll it back with a reason; the visitor is redirected; the audit log shows both', async () => {
    const visitor = await pilotVisitor();
    const operator = await browser.newContext({ viewport: { width: 1360, height: 1000 } });
    try {
      const page = await operator.newPage();
      await page.goto(`${w.url}/admin/`);
      // A wrong token is refused by the API, and says so.
      await page.getByLabel('Operator token').fill('wrong');
      await page.getByRole('button', { name: 'Sign in' }).click();
      await page.getByText('That token names no operator.').waitFor();
      await page.getByLabel('Operator token').fill(OPERATORS.olga.token);
      await page.keyboard.press('Enter');
      await page.getByText('Signed in as olga (operator).').waitFor();
      const row = page.locator('tr[data-flag="pilot"]');
      await row.waitFor();
      assert.match(await row.innerText(), /active\s+1 of 4 \(10 %\)/);

      // Nobody has visited the tier yet: the guards have no evidence, so the advance is an
      // override, and the dialog says why.
      assert.match(await row.innerText(), /guard comparative: undecided/);
      await page.getByRole('button', { name: 'Advance pilot', exact: true }).click();
      const dialog = page.getByRole('dialog');
      await dialog.getByText('Advance pilot anyway?').waitFor();
      assert.match(await dialog.innerText(), /It may not advance now: .*guard breaker: undecided \(too little traffic/);
      await dialog.getByRole('button', { name: 'Confirm' }).click();
      await dialog.getByText('A reason is required.').waitFor();
      await page.keyboard.type('dashboards green for a day');
      await dialog.getByRole('button', { name: 'Confirm' }).click();
      await dialog.waitFor({ state: 'hidden' });
      await page.getByText('Advance: pilot done.').waitFor();
      assert.match(await row.innerText(), /active\s+2 of 4 \(20 %\)/);

      // Step back: the dialog offers the tiers below (here only tier 1) and wants a reason.
      await page.getByRole('button', { name: 'Step back pilot', exact: true }).click();
      const choices = await page.getByLabel('Step back to').locator('option').allInnerTexts();
      assert.deepEqual(choices, ['tier 1 (10 %)']);
      await page.getByRole('dialog').getByRole('button', { name: 'Cancel' }).click();
      await command(page, 'pilot', 'Step back', 'TTV p90 above 5 s for 10 minutes');
      await page.getByText('Step back: pilot done.').waitFor();
      assert.match(await row.innerText(), /active\s+1 of 4 \(10 %\)/);
      assert.ok(await page.getByRole('button', { name: 'Step back pilot', exact: true }).isDisabled(), 'nothing below tier 1');
      await command(page, 'pilot', 'Advance', 'cause fixed');
      await page.getByText('Advance: pilot done.').waitFor();

      // Rollback refuses an empty reason in the dialog itself.
      await page.getByRole('button', { name: 'Roll back pilot', exact: true }).click();
      await page.getByRole('dialog').getByRole('button', { name: 'Confirm' }).click();
      await page.getByText('A reason is required.').waitFor();
      await page.getByRole('dialog').getByRole('button', { name: 'Cancel' }).click();
      await command(page, 'pilot', 'Roll back', 'mic permission errors on Safari');
      await page.getByText('Roll back: pilot done.').waitFor();
      assert.match(await row.innerText(), /rolled back\s+0 of 4 \(0 %\)/);

      const audit = await page.locator('#audit tbody tr').allInnerTexts();
      assert.match(audit[0], /olga \(operator\)\s+rollback\s+pilot\s+active t2 \(20 %\) → rolled_back t0 \(0 %\)\s+mic permission errors on Safari/);
      assert.match(audit[2], /olga \(operator\)\s+back\s+pilot\s+active t2 \(20 %\) → active t1 \(10 %\)\s+TTV p90 above 5 s for 10 minutes/);
      assert.match(audit[3], /olga \(operator\)\s+advance\s+pilot\s+active t1 \(10 %\) → active t2 \(20 %\)\s+dashboards green for a day/);
      await page.screenshot({ path: path.join(ROOT, 'tests/.tmp/admin.png'), fullPage: true });

      // The visitor, a pilot a moment ago, ends on / once the edge's cache has expired.
      await new Promise((r) => setTimeout(r, CACHE_S * 1000 + 500));
      await visitor.page.goto(`${w.url}/try`);
      assert.equal(new URL(visitor.page.url()).pathname, '/');
    } finally {
      await operator.close();
      await visitor.context.close();
    }
  });

  test('the kill switch is set apart, asks for a reason and can be undone', async () => {
    const operator = await browser.newContext();
    try {
      const page = await operator.newPage();
      await page.goto(`${w.url}/admin/`);
      await page.getByLabel('Operator token').fill(OPERATORS.olga.token);
      await page.getByRole('button', { name: 'Sign in' }).click();
      const kill = page.getByRole('button', { name: 'Kill every flag' });
      assert.equal(await kill.evaluate((b) => getComputedStyle(b).backgroundColor), 'rgb(179, 38, 30)');
      await kill.click();
      await page.keyboard.type('drill');
      await page.keyboard.press('Enter');
      await page.locator('#message', { hasText: 'Kill switch ON.' }).waitFor();
      assert.match(await page.locator('#kill-state').innerText(), /^ON since .* by olga: drill/);
      // The token is per tab: a reload keeps the session, a new context does not.
      await page.reload();
      await page.locator('tr[data-flag="pilot"]').waitFor();
      await page.getByRole('button', { name: 'Unkill: every flag back as planned' }).click();
      await page.getByRole('dialog').getByRole('button', { name: 'Confirm' }).click();
      await page.locator('#message', { hasText: 'Kill switch off.' }).waitFor();
      const fresh = await browser.newContext();
      const other = await fresh.newPage();
      await other.goto(`${w.url}/admin/`);
      assert.equal(await other.getByLabel('Operator token').isVisible(), true);
      await fresh.close();
    } finally {
      await operator.close();
    }
  });
  /** A viewer's admin page, signed in; `block` makes every connection to its event stream fail. */
  async function viewerPage({ block = false } = {}) {
    const context = await browser.newContext();
    const page = await context.newPage();
    if (block) await page.route('**/api/admin/events', (route) => route.abort());
    await page.goto(`${w.url}/admin/`);
    await page.getByLabel('Operator token').fill(OPERATORS.vera.token);
    await page.keyboard.press('Enter');
    await page.getByText('Signed in as vera (viewer): read only.').waitFor();
    return { context, page };
  }
  const statusOf = (page, flag) => page.locator(`#flags tr[data-flag="${flag}"] td`).first().innerText();

  test('the page follows another operator\'s commands at once, through the operators\' event stream', async (t) => {
    const { context, page } = await viewerPage();
    try {
      await page.locator('#status', { hasText: '· live' }).waitFor();
      assert.equal(await statusOf(page, 'pilot'), 'rolled back', 'as the test before left it');
      const started = await admin(w.url, 'POST', '/flags/pilot/start', { as: 'otto', body: { reason: 'stream test' } });
      assert.equal(started.status, 200, JSON.stringify(started.body));
      await page.locator('#flags tr[data-flag="pilot"] td', { hasText: 'active' }).first().waitFor({ timeout: 3_000 });
      const r = await admin(w.url, 'POST', '/flags/pilot/pause', { as: 'otto', body: { reason: 'stream test' } });
      assert.equal(r.status, 200, JSON.stringify(r.body));
      const answered = Date.now();
      await page.locator('#flags tr[data-flag="pilot"] td', { hasText: 'paused' }).first().waitFor({ timeout: 3_000 });
      t.diagnostic(`another operator's pause shown on the viewer's page ${Date.now() - answered} ms after its answer (no reload, no poll)`);
    } finally { await context.close(); }
  });

  test('when the stream fails, the page says so and polls every 5 s instead', async () => {
    const { context, page } = await viewerPage({ block: true });
    try {
      await page.locator('#status', { hasText: '· polling every 5 s' }).waitFor();
      assert.equal(await statusOf(page, 'pilot'), 'paused');
      const r = await admin(w.url, 'POST', '/flags/pilot/resume', { as: 'otto', body: { reason: 'fallback test' } });
      assert.equal(r.status, 200, JSON.stringify(r.body));
      await page.locator('#flags tr[data-flag="pilot"] td', { hasText: 'active' }).first().waitFor({ timeout: 8_000 });
    } finally { await context.close(); }
  });
});
