//! Exit codes of the client commands, which scripts may rely on (docs/CLI.md):
//!
//! | code | meaning |
//! |---|---|
//! | 0 | success |
//! | 1 | any other error |
//! | 2 | bad usage (wrong flags or arguments) |
//! | 3 | not signed in, or the credentials were refused (expired or revoked): run `chamberlain login` |
//! | 4 | not found |
//! | 5 | denied (a request, or the device sign-in) |
//! | 6 | `has`: the entitlement is not held |
//! | 7 | timed out waiting (a request's decision, or the device sign-in) |

use std::fmt;

/// Generic failure.
pub const ERROR: i32 = 1;
/// Not signed in, or the credentials were refused.
pub const AUTH: i32 = 3;
/// Not found.
pub const NOT_FOUND: i32 = 4;
/// Denied.
pub const DENIED: i32 = 5;
/// `has`: not held.
pub const NOT_HELD: i32 = 6;
/// Timed out waiting.
pub const TIMEOUT: i32 = 7;

/// An error that ends the process with a particular exit code. An empty message prints
/// nothing (the command already said what happened).
#[derive(Debug)]
pub struct Exit {
    /// The process exit code.
    pub code: i32,
    /// What to print on standard error.
    pub message: String,
}

impl Exit {
    /// An error with `code`.
    pub fn with(code: i32, message: impl Into<String>) -> anyhow::Error {
        anyhow::Error::new(Exit {
            code,
            message: message.into(),
        })
    }

    /// Not signed in or refused credentials, with the hint to sign in again.
    pub fn auth(why: impl fmt::Display) -> anyhow::Error {
        Exit::with(AUTH, format!("{why}; run `chamberlain login`"))
    }
}

impl fmt::Display for Exit {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.message)
    }
}

impl std::error::Error for Exit {}

/// The exit code for an error (its [`Exit`] code, else [`ERROR`]), and whether to print it.
pub fn code_of(e: &anyhow::Error) -> (i32, bool) {
    match e.chain().find_map(|c| c.downcast_ref::<Exit>()) {
        Some(x) => (x.code, !x.message.is_empty()),
        None => (ERROR, true),
    }
}
