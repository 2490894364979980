// The browser tests' Chromium and OpenFeature bundle: the benchmark's own (scripts/lib).
export { bundleSdk, countStreamOpens, launchChromium } from '../../scripts/lib/chromium.mjs';
