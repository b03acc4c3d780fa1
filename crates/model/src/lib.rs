//! Chamberlain's domain model.
//!
//! The types here are C1's public objects (`c1.api.*` messages) as Chamberlain stores and serves
//! them. They serialize to C1's protojson form: camelCase names, every field present (empty
//! strings, `[]`, `{}`, `null` for unset messages and timestamps), int64 as strings, RFC 3339
//! timestamps and protobuf duration strings. No I/O happens in this crate.

pub mod ai_governance;
pub mod app;
pub mod catalog;
pub mod directory;
pub mod ids;
pub mod mask;
pub mod mcp;
pub mod notification;
pub mod policy;
pub mod principal;
pub mod protojson;
pub mod task;
pub mod user;
pub mod webhook;

pub use ids::new_id;
pub use protojson::{Duration, Timestamp};
