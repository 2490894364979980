//! The gate: who a visitor is (signed identity, consent, bots), which cohort they are in
//! (flagd `fractional` bucketing), and how gated, isolated and other pages are answered.

pub mod answer;
pub mod bucket;
pub mod cohort;
pub mod config;
pub mod cookie;
pub mod identity;
pub mod pattern;
