// Headless Chromium (Debian's /usr/bin/chromium) through playwright-core, as the browser tests
// and the benchmark launch it: no sandbox (root), no background networking (closed network), fake microphone.
import { spawnSync } from 'node:child_process';
import { mkdirSync, readFileSync, writeFileSync } from 'node:fs';
import path from 'node:path';

import { chromium } from 'playwright-core';

import { ROOT } from './local.mjs';

const CHROMIUM = process.env.CHROMIUM_PATH || '/usr/bin/chromium';

export function launchChromium() {
  return chromium.launch({
    executablePath: CHROMIUM,
    args: [
      '--no-sandbox', '--disable-gpu', '--disable-quic', '--no-first-run',
      '--disable-background-networking', '--disable-component-update', '--disable-sync',
      '--use-fake-ui-for-media-stream', '--use-fake-device-for-media-stream',
    ],
  });
}

/** OpenFeature's web SDK and OFREP web provider, bundled for a plain page (window.OF). */
export function bundleSdk() {
  const entry = path.join(ROOT, 'tests/.tmp/of-entry.mjs');
  const out = path.join(ROOT, 'tests/.tmp/of-bundle.js');
  const src = "export { OpenFeature, ProviderEvents } from '@openfeature/web-sdk';\nexport { OFREPWebProvider } from '@openfeature/ofrep-web-provider';\n";
  mkdirSync(path.dirname(entry), { recursive: true });
  writeFileSync(entry, src);
  const r = spawnSync(path.join(ROOT, 'node_modules/.bin/esbuild'), [entry, '--bundle', '--format=iife', '--global-name=OF', `--outfile=${out}`, '--log-level=error'], { cwd: ROOT, encoding: 'utf8' });
  if (r.status !== 0) throw new Error(`esbuild failed: ${r.stderr}`);
  return readFileSync(out, 'utf8');
}

/**
 * Counts the page's event-stream connections as they open, in `window.sseOpen`: a change
 * published before the OFREP provider's stream is open reaches the page only on its next
 * re-fetch (see the README), so the live test and benchmark wait for one. Call it before the
 * provider is set.
 */
export function countStreamOpens(page) {
  return page.evaluate(() => {
    const Native = window.EventSource;
    window.sseOpen = 0;
    window.EventSource = class extends Native {
      constructor(...args) {
        super(...args);
        this.addEventListener('open', () => { window.sseOpen += 1; });
      }
    };
  });
}
