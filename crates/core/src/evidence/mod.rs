//! Evidence the guards can trust: what the edge itself observed (exposures and upstream
//! outcomes), client events only from exposed units, all counted per visitor (unit), with
//! quantiles from a mergeable sketch. Pure: the edge buffers and sends, the evidence store
//! applies.

pub mod metric;
pub mod provenance;
pub mod record;
pub mod sketch;
pub mod tally;
pub mod unit;
