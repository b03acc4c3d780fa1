//! The access-request domain.
//!
//! - [`policy`]: policy validation and rule selection.
//! - [`engine`]: the task engine that moves grant and revoke tasks through their policy's steps
//!   and hands provisioning to an [`engine::Provisioner`] (connectors live in the API crate).
//! - [`profiles`]: what follows a profile membership change (enrollment grants, unenrollment
//!   revocations), as tasks.
//! - [`automation`]: membership automation of access profiles and of single entitlements: which
//!   users a rule selects, and the enroll/unenroll plan with C1's circuit breaker. Planning is
//!   pure; the store-side loaders gather its inputs.
//!
//! Nothing here speaks HTTP.

pub mod automation;
pub mod directory;
pub mod engine;
pub mod policy;
pub mod profiles;
