//! Host tests of `core::gate`: bucketing vectors, hostile cookies, and the gate as an app
//! function (routing of pages, identity, cookies, headers).

#[path = "../support/mod.rs"]
mod support;

mod app;
mod bucket_vectors;
mod cookie_hostile;
