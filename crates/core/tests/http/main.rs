//! Host tests of `core::http`: the route table (and the README's copy of it), problems and the
//! one reply function, the header policy, CORS, bearer auth, operators' credentials and query
//! parsing.

#[path = "../support/mod.rs"]
mod support;

mod access;
mod answers;
mod credentials;
mod problem;
mod routes;
mod sse;
mod vocabulary;
