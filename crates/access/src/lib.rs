//! The access-request domain: policies (validation and rule selection), the task engine that
//! moves grant and revoke tasks through their policy's steps, and provisioning hand-off.
//!
//! Nothing here speaks HTTP: the API layer calls [`engine`] with the caller and an
//! implementation of [`engine::Provisioner`] (connectors live in the API crate).

pub mod directory;
pub mod engine;
pub mod policy;
pub mod profiles;
