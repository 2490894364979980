//! The shared HTTP vocabulary of every domain: request facts, the route table, outcomes and
//! actions, the header policy, errors as problems (and the one function that answers them),
//! CORS, operators' credentials and Cloudflare Access, and query parsing.

pub mod access;
pub mod answers;
pub mod auth;
pub mod cors;
pub mod outcome;
pub mod policy;
pub mod problem;
pub mod query;
pub mod request;
pub mod route;
pub mod sse;
