//! Host tests of `core::evidence`: the quantile sketch's error bound, counting per unit
//! (idempotent, arm of the first exposure, events only from exposed units), the isolate's
//! buffer, and the guards over simulated visitors who send clustered events.

mod buffer;
mod metric;
mod rng;
mod simulation;
mod sketch;
mod tally;
