// Operators in headless Chromium: a viewer sees everything and can change nothing; an admin
// edits `syncEnabled` on the admin page (a 422 shown at its field, a diff preview, If-Match) and
// the /try page's client reads `syncEnabled: false` from /api/config after the cache time, with
// no deploy; a second operator approves a pending advance; axe-core finds no serious or
// critical violation on /try (primer open), the admin page (editor open) and the dashboard; the
// primer and a command with its reason work from the keyboard alone.
import assert from 'node:assert/strict';
import { createRequire } from 'node:module';
import path from 'node:path';
import { after, before, describe, test } from 'node:test';

import { OPERATORS, ROOT, admin, startWorker } from '../e2e/harness.mjs';
import { launchChromium } from './chromium.mjs';

const CACHE_S = 2;
/** `/api/config`'s `max-age`: how long a page's client may keep its values. */
const CONFIG_MAX_AGE_S = 30;
const AXE = createRequire(import.meta.url).resolve('axe-core/axe.min.js');

describe('operators on the admin page', () => {
  let w;
  let browser;
  before(async () => {
    w = await startWorker({ state: `browser-operators-${process.pid}`, vars: { FLAGS_CACHE_S: String(CACHE_S) }, flags: 'flags/demo.json' });
    browser = await launchChromium();
  });
  after(async () => {
    await browser?.close();
    await w?.stop();
  });

  // axe-core is injected as an inline script: its contexts bypass the pages' CSP to let it in.
  async function signIn(as, where = '/admin/', { bypassCSP = false } = {}) {
    const context = await browser.newContext({ viewport: { width: 1360, height: 1000 }, bypassCSP });
    const page = await context.newPage();
    await page.goto(`${w.url}${where}`);
    await page.getByLabel('Operator token').fill(OPERATORS[as].token);
    await page.getByRole('button', { name: where === '/admin/' ? 'Sign in' : 'Show the dashboard' }).click();
    return { context, page };
  }

  /** Fresh browser contexts (new visitors) until one is served /try. */
  async function pilotVisitor({ bypassCSP = false } = {}) {
    for (let i = 0; i < 80; i++) {
      const context = await browser.newContext({ bypassCSP });
      const page = await context.newPage();
      await page.goto(`${w.url}/try`);
      if (new URL(page.url()).pathname === '/try') return { context, page };
      await context.close();
    }
    throw new Error('no pilot visitor in 80 tries');
  }

  /** axe-core's serious and critical violations on the page as it is now. */
  async function violations(page) {
    await page.addScriptTag({ path: AXE });
    const result = await page.evaluate(() => window.axe.run(document, { resultTypes: ['violations'] }));
    return result.violations
      .filter((v) => v.impact === 'serious' || v.impact === 'critical')
      .map((v) => `${v.id} (${v.impact}): ${v.nodes.map((n) => n.target.join(' ')).join(', ')}`);
  }

  /** Presses Tab until `selector` has the focus (at most 200 times). */
  async function tabTo(page, selector) {
    for (let i = 0; i < 200; i++) {
      if (await page.evaluate((s) => document.activeElement?.matches(s), selector)) return;
      await page.keyboard.press('Tab');
    }
    throw new Error(`Tab never reached ${selector}`);
  }

  test('a viewer sees every flag and the editor, and can change nothing', async () => {
    const { context, page } = await signIn('vera');
    try {
      await page.getByText('Signed in as vera (viewer): read only.').waitFor();
      const row = page.locator('tr[data-flag="pilot"]');
      await row.waitFor();
      for (const b of await row.locator('button[data-command]').all()) assert.ok(await b.isDisabled(), await b.innerText());
      assert.ok(await page.getByRole('button', { name: 'Kill every flag' }).isDisabled());
      await page.getByRole('button', { name: 'View syncEnabled', exact: true }).click();
      await page.getByText('Read only: your role (viewer) may not change definitions.').waitFor();
      assert.deepEqual(JSON.parse(await page.getByLabel('Variants').inputValue()), { on: true, off: false });
      assert.ok(await page.getByLabel('Variants').evaluate((t) => t.readOnly));
      assert.ok(await page.getByLabel('Default variant').isDisabled());
      assert.ok(await page.getByRole('button', { name: 'Save' }).isDisabled());
      assert.ok(await page.getByRole('button', { name: 'Preview changes' }).isDisabled());
    } finally {
      await context.close();
    }
  });

  test('an admin flips syncEnabled off with a diff preview; the /try client reads it after the cache time', async (t) => {
    const visitor = await pilotVisitor();
    const { context, page } = await signIn('ada');
    try {
      await visitor.page.locator('#sync', { hasText: 'on' }).waitFor();
      await page.getByText('Signed in as ada (admin).').waitFor();
      await page.getByRole('button', { name: 'Edit syncEnabled', exact: true }).click();
      // A field that is not JSON, then one the control plane refuses: each shown at its field.
      await page.getByLabel('Allowlist', { exact: true }).fill('["qa-1",');
      await page.getByRole('button', { name: 'Preview changes' }).click();
      await page.locator('#error-allow', { hasText: 'Not JSON' }).waitFor();
      await page.getByLabel('Allowlist', { exact: true }).fill('["qa-1", 5]');
      await page.getByRole('button', { name: 'Preview changes' }).click();
      await page.getByRole('button', { name: 'Save' }).click();
      await page.locator('#error-allow', { hasText: '/plan/allow/1' }).waitFor();
      assert.equal(await page.getByLabel('Allowlist', { exact: true }).getAttribute('aria-invalid'), 'true');
      await page.getByLabel('Allowlist', { exact: true }).fill('[]');
      // The quick action, its preview, the save.
      await page.getByLabel('Default variant').selectOption('off');
      const preview = await page.locator('#preview-list li').allInnerTexts();
      assert.deepEqual(preview, ['~ /definition/defaultVariant: "on" -> "off"', '~ /plan/on: "on" -> "off"']);
      await page.getByRole('button', { name: 'Save' }).click();
      await page.locator('#message', { hasText: 'Saved syncEnabled.' }).waitFor();
      const saved = Date.now();
      const [entry] = await page.locator('#audit tbody tr').allInnerTexts();
      assert.match(entry, /ada \(admin\)\s+put\s+syncEnabled/);
      await page.locator('#audit tbody tr').first().locator('summary').click();
      assert.match(await page.locator('#audit tbody tr').first().innerText(), /~ \/definition\/defaultVariant: "on" -> "off"/);
      // The visitor's page, opened again once its client's copy has expired: off, no deploy.
      await new Promise((r) => setTimeout(r, (CONFIG_MAX_AGE_S + CACHE_S) * 1000 + 500 - (Date.now() - saved)));
      await visitor.page.goto(`${w.url}/try`);
      await visitor.page.locator('#sync', { hasText: 'off' }).waitFor();
      const seen = await visitor.page.evaluate(() => fetch('/api/config').then((r) => r.json()));
      assert.equal(seen.syncEnabled, false);
      t.diagnostic(`syncEnabled off at the /try client ${((Date.now() - saved) / 1000).toFixed(1)} s after the save (max-age ${CONFIG_MAX_AGE_S} s + FLAGS_CACHE_S ${CACHE_S} s)`);
    } finally {
      await context.close();
      await visitor.context.close();
    }
  });

  test('a flag without a default variant: the editor says "(none)", and a save keeps it so', async () => {
    const definition = { state: 'ENABLED', variants: { short: 'Go', long: 'Get started' } };
    const put = await admin(w.url, 'PUT', '/flags/ctaCopy', { as: 'ada', body: { definition, plan: {} } });
    assert.equal(put.status, 201, JSON.stringify(put.body));
    const { context, page } = await signIn('ada');
    try {
      await page.getByText('Signed in as ada (admin).').waitFor();
      await page.getByRole('button', { name: 'Edit ctaCopy', exact: true }).click();
      const select = page.getByLabel('Default variant');
      assert.equal(await select.inputValue(), '');
      assert.equal(await select.locator('option:checked').innerText(), "(none: the caller's own default)");
      await page.getByLabel('Allowlist', { exact: true }).fill('["qa-9"]');
      await page.getByRole('button', { name: 'Preview changes' }).click();
      assert.deepEqual(await page.locator('#preview-list li').allInnerTexts(), ['~ /plan/allow: [] -> ["qa-9"]']);
      await page.getByRole('button', { name: 'Save' }).click();
      await page.locator('#message', { hasText: 'Saved ctaCopy.' }).waitFor();
      const saved = (await admin(w.url, 'GET', '/flags/ctaCopy', { as: 'vera' })).body;
      assert.deepEqual(saved.definition, definition);
      assert.deepEqual(saved.plan.allow, ['qa-9']);
    } finally {
      await context.close();
    }
  });

  test('a second operator approves a pending advance', async () => {
    const flag = (await admin(w.url, 'GET', '/flags/pilot')).body;
    const plan = { ...flag.plan, minDwellS: 0, approvals: { advance: 1 } };
    assert.equal((await admin(w.url, 'PUT', '/flags/pilot', { body: { definition: flag.definition, plan } })).status, 200);
    const olga = await signIn('olga');
    const otto = await signIn('otto');
    try {
      const row = olga.page.locator('tr[data-flag="pilot"]');
      await row.waitFor();
      await olga.page.getByRole('button', { name: 'Advance pilot', exact: true }).click();
      await olga.page.keyboard.type('ready for 20 %');
      await olga.page.keyboard.press('Enter');
      const waiting = olga.page.locator('#message', { hasText: /waiting for approval \(request \d+\)/ });
      await waiting.waitFor();
      const id = (await waiting.innerText()).match(/request (\d+)/)[1];
      assert.match(await row.innerText(), /1 of 4 \(10 %\)/);
      const own = olga.page.getByRole('button', { name: `Approve request ${id}: advance pilot` });
      assert.ok(await own.isDisabled(), 'nobody approves their own request');
      await otto.page.getByRole('button', { name: 'Refresh' }).click();
      await otto.page.getByRole('button', { name: `Approve request ${id}: advance pilot` }).click();
      await otto.page.locator('#message', { hasText: `Approve: request ${id} done.` }).waitFor();
      assert.match(await otto.page.locator('tr[data-flag="pilot"]').innerText(), /2 of 4 \(20 %\)/);
      const audit = await otto.page.locator('#audit tbody tr').allInnerTexts();
      assert.match(audit[0], /olga \(operator\)\s+advance\s+pilot/);
      assert.match(audit[1], /otto \(operator\)\s+approve\s+pilot/);
    } finally {
      await olga.context.close();
      await otto.context.close();
    }
  });

  test('axe-core: no serious or critical violation on /try (primer open), the admin page (editor open) and the dashboard', async () => {
    // A visitor with the custom primer (the E2 arm), so that the dialog is open for axe.
    let visitor;
    for (let i = 0; i < 20 && !visitor; i++) {
      const v = await pilotVisitor({ bypassCSP: true });
      const config = await v.page.evaluate(() => fetch('/api/config').then((r) => r.json()));
      if (config.e2_primer !== 'native') visitor = v;
      else await v.context.close();
    }
    assert.ok(visitor, 'a pilot visitor with the custom primer');
    const admin_ = await signIn('ada', '/admin/', { bypassCSP: true });
    const dash = await signIn('vera', '/dashboard/', { bypassCSP: true });
    try {
      await visitor.page.locator('#start').click();
      await visitor.page.locator('#primer[open]').waitFor();
      const tryViolations = await violations(visitor.page);
      await admin_.page.getByRole('button', { name: 'Edit pilot', exact: true }).click();
      await admin_.page.locator('#editor:not([hidden])').waitFor();
      const adminViolations = await violations(admin_.page);
      await dash.page.locator('#board:not([hidden])').waitFor();
      const dashViolations = await violations(dash.page);
      assert.deepEqual({ try: tryViolations, admin: adminViolations, dashboard: dashViolations }, { try: [], admin: [], dashboard: [] });
    } finally {
      await visitor.context.close();
      await admin_.context.close();
      await dash.context.close();
    }
  });

  test('the keyboard alone: the primer, and a command with its reason', async () => {
    let visitor;
    for (let i = 0; i < 20; i++) {
      visitor = await pilotVisitor();
      const config = await visitor.page.evaluate(() => fetch('/api/config').then((r) => r.json()));
      if (config.e2_primer !== 'native') break;
      await visitor.context.close();
      visitor = null;
    }
    assert.ok(visitor, 'a pilot visitor with the custom primer');
    const { context, page } = await signIn('olga');
    try {
      const p = visitor.page;
      await tabTo(p, '#start');
      await p.keyboard.press('Enter');
      await p.locator('#primer[open]').waitFor();
      assert.equal(await p.evaluate(() => document.activeElement?.textContent), 'Continue', 'focus moves into the primer');
      await p.keyboard.press('Escape');
      await p.locator('#mic', { hasText: 'not now' }).waitFor();
      assert.equal(await p.evaluate(() => document.activeElement?.id), 'start', 'focus returns to Start');

      await page.locator('tr[data-flag="pilot"]').waitFor();
      await tabTo(page, 'button[aria-label="Pause pilot"]');
      await page.keyboard.press('Enter');
      await page.getByRole('dialog').waitFor();
      await page.keyboard.type('paused from the keyboard');
      await page.keyboard.press('Enter');
      await page.locator('#message', { hasText: 'Pause: pilot done.' }).waitFor();
      const [entry] = await page.locator('#audit tbody tr').allInnerTexts();
      assert.match(entry, /olga \(operator\)\s+pause\s+pilot.*paused from the keyboard/s);
      await page.screenshot({ path: path.join(ROOT, 'tests/.tmp/admin-operators.png'), fullPage: true });
    } finally {
      await context.close();
      await visitor.context.close();
    }
  });
});
