//! Identity resolution: who each account belongs to.
//!
//! - Directories (apps designated as sources of people) create, update and remove users and
//!   link their accounts (`resolve.rs`), under each directory's import condition and merge
//!   cases (`rules.rs`).
//! - Every other app's accounts are linked to those users by the app's identity matching
//!   (`link.rs`).
//! - `run.rs` loads the inputs, applies a plan in one transaction with its system-log and
//!   change events, and records the run and its conflicts; previews compute the same plan and
//!   write nothing.

pub mod link;
pub mod resolve;
pub mod rules;
pub mod run;

use chamberlain_model::app::AppUser;
use chamberlain_store::repo::identity::LinkSource;

/// An account with what resolution needs beside the document.
#[derive(Clone, Debug)]
pub struct Account {
    /// The account.
    pub app_user: AppUser,
    /// Who set its current owner.
    pub link: LinkSource,
    /// The id the source (connector or file) gives the account, e.g. `u-17`; managers are
    /// often named by it.
    pub source_id: String,
}

pub use run::{preview, run_scope, ResolveError};
