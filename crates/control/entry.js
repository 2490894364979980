// The control worker's entry: the wasm's handlers as they are, and its Durable Object classes.
// After a trap (a panic aborts, which traps), wasm-bindgen's abort handler schedules a fresh
// instance, which the next call of any export gets (see scripts/build). An object made on the
// old instance would then hold a pointer into memory that no longer has it, so each object is
// made again on the new instance before its next call: `__worker_init_state()` (a guarded call,
// which makes the new instance when one is due) tells the instance's number.
import * as wasm from '../../build/control/index.js';

const { fetch, queue } = wasm;

/** A Durable Object class whose wasm object is made again after the instance is replaced. */
function durable(Inner) {
  return class {
    constructor(state, env) {
      this.args = [state, env];
      this.instance = wasm.__worker_init_state().instanceId;
      this.inner = new Inner(state, env);
    }

    current() {
      const instance = wasm.__worker_init_state().instanceId;
      if (instance !== this.instance) {
        this.inner = new Inner(...this.args);
        this.instance = instance;
      }
      return this.inner;
    }

    fetch(request) { return this.current().fetch(request); }
    alarm(info) { return this.current().alarm(info); }
  };
}

export const RolloutControl = durable(wasm.RolloutControl);
export const FlagEvidence = durable(wasm.FlagEvidence);
export const FlagEvents = durable(wasm.FlagEvents);

export default { fetch, queue };
