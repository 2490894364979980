// The edge worker's entry: the wasm's handlers, exported as they are. No per-request object
// stands between the runtime and the Rust code (worker-build's shim made a WorkerEntrypoint and
// two Proxy objects per request). What that shim was for stays: after a trap (a panic aborts,
// which traps), wasm-bindgen's abort handler schedules a fresh instance, and the next call of
// any handler gets it (`--experimental-reset-state-function --force-enable-abort-handler` in
// scripts/build; the e2e test `tests/e2e/entry.test.mjs` traps a test build and asks again).
import { fetch, queue, scheduled } from '../../build/edge/index.js';

export default { fetch, queue, scheduled };
