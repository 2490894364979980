// The end-to-end tests' harness: a local `wrangler dev` per test (its own process group, stopped
// by its id) and synthetic visitors. It lives with the operator tools that drive a local worker
// too (scripts/lib/local.mjs), which never import test code; the tests import it from there.
export * from '../../scripts/lib/local.mjs';
