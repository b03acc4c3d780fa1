//! Authentication primitives: C1-format client credentials (Ed25519 JWK secrets), compact EdDSA
//! JWS, access tokens and their JWKS, client assertions, and AES-256-GCM encryption of secrets
//! at rest.

pub mod assertion;
pub mod client_secret;
pub mod crypto;
pub mod jws;
pub mod password;
pub mod tokens;

/// Errors from this crate, worded for the client that caused them.
#[derive(Debug, thiserror::Error, PartialEq)]
pub enum AuthError {
    /// The credential or token is malformed.
    #[error("{0}")]
    Malformed(String),
    /// The signature does not verify.
    #[error("{0}")]
    BadSignature(String),
    /// The token or assertion is outside its validity window.
    #[error("{0}")]
    Expired(String),
    /// A claim has the wrong value.
    #[error("{0}")]
    BadClaim(String),
    /// Encryption or decryption failed (wrong key, tampered data).
    #[error("{0}")]
    Crypto(String),
}
