//! Connectors and sync: reading Baton `.c1z` files and applying what a source says to an app.
//!
//! - [`c1z`] reads a c1z file (format v1: `C1ZF\0` + zstd SQLite) into a [`c1z::Snapshot`], and
//!   refuses everything else with a message that says what to do.
//! - [`apply`] turns a snapshot into app resource types, resources, accounts, entitlements and
//!   grants, and applies the difference to the app in one transaction, recording a sync run.

pub mod apply;
pub mod baton;
pub mod c1z;
pub mod file_app;
pub mod runner;
pub mod schedule;
