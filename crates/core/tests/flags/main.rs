//! Host tests of `core::flags`: flagd-testbed vectors (rules written here, expected answers
//! transcribed from its gherkin tables), reasons and errors, loading, `fractional` v3's CBOR
//! input, and properties over arbitrary contexts.

mod engine;
mod ofrep;
mod stream;
mod testbed;
