//! Local passwords: Argon2id (the `argon2` crate's defaults: m = 19 MiB, t = 2, p = 1, as
//! OWASP recommends) in PHC string form, plus helpers shared by the OAuth server: random
//! tokens, their SHA-256 digests for storage, and constant-time comparison.

use crate::jws::b64;
use argon2::password_hash::{PasswordHash, PasswordHasher, PasswordVerifier, SaltString};
use argon2::Argon2;
use rand::RngCore;
use sha2::{Digest, Sha256};
use subtle::ConstantTimeEq;

/// Shortest password accepted.
pub const MIN_PASSWORD_LEN: usize = 12;
/// Longest password accepted (hashing cost is bounded by it).
pub const MAX_PASSWORD_LEN: usize = 1024;

/// Checks a new password against the length rules; the message says what is wrong.
pub fn check_new(password: &str) -> Result<(), String> {
    let n = password.chars().count();
    if n < MIN_PASSWORD_LEN {
        return Err(format!(
            "the password is too short: use at least {MIN_PASSWORD_LEN} characters"
        ));
    }
    if password.len() > MAX_PASSWORD_LEN {
        return Err(format!(
            "the password is too long: use at most {MAX_PASSWORD_LEN} bytes"
        ));
    }
    Ok(())
}

/// Hashes a password with Argon2id and a random salt; returns the PHC string.
pub fn hash(password: &str) -> Result<String, String> {
    let salt = SaltString::generate(&mut rand::rngs::OsRng);
    Argon2::default()
        .hash_password(password.as_bytes(), &salt)
        .map(|h| h.to_string())
        .map_err(|e| format!("hashing the password failed: {e}"))
}

/// Whether `password` matches the stored PHC string (false for an unreadable hash).
pub fn verify(password: &str, phc: &str) -> bool {
    if password.len() > MAX_PASSWORD_LEN {
        return false;
    }
    match PasswordHash::new(phc) {
        Ok(parsed) => Argon2::default()
            .verify_password(password.as_bytes(), &parsed)
            .is_ok(),
        Err(_) => false,
    }
}

/// Spends the time of one verification without a stored hash, so an unknown account answers
/// as slowly as a wrong password.
pub fn verify_dummy(password: &str) {
    static DUMMY: std::sync::OnceLock<String> = std::sync::OnceLock::new();
    let phc = DUMMY.get_or_init(|| hash("chamberlain-dummy-password").unwrap_or_default());
    let _ = verify(password, phc);
}

/// A random token of `bytes` random bytes, base64url without padding.
pub fn random_token(bytes: usize) -> String {
    let mut buf = vec![0u8; bytes];
    rand::rngs::OsRng.fill_bytes(&mut buf);
    b64(&buf)
}

/// SHA-256 of a high-entropy secret (codes, refresh tokens, session ids, client secrets),
/// hex-encoded: what is stored instead of the secret.
pub fn digest(secret: &str) -> String {
    Sha256::digest(secret.as_bytes())
        .iter()
        .map(|b| format!("{b:02x}"))
        .collect()
}

/// Constant-time equality of two strings (length is not hidden).
pub fn ct_eq(a: &str, b: &str) -> bool {
    a.len() == b.len() && bool::from(a.as_bytes().ct_eq(b.as_bytes()))
}

/// PKCE S256 (RFC 7636): the challenge of a verifier (for requests this server makes as a
/// client).
pub fn pkce_s256_challenge(verifier: &str) -> String {
    b64(&Sha256::digest(verifier.as_bytes()))
}

/// PKCE S256 (RFC 7636): whether `verifier` hashes to `challenge`. The verifier must be 43 to
/// 128 characters of `[A-Za-z0-9-._~]`.
pub fn pkce_s256_matches(verifier: &str, challenge: &str) -> bool {
    let well_formed = (43..=128).contains(&verifier.len())
        && verifier
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || b"-._~".contains(&b));
    if !well_formed {
        return false;
    }
    ct_eq(&pkce_s256_challenge(verifier), challenge)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn hashes_verify_and_differ() {
        let h = hash("correct horse battery").unwrap();
        assert!(h.starts_with("$argon2id$"));
        assert!(verify("correct horse battery", &h));
        assert!(!verify("wrong horse battery", &h));
        assert_ne!(h, hash("correct horse battery").unwrap());
        assert!(!verify("x", "not a hash"));
        assert!(check_new("short").is_err());
        assert!(check_new("long enough password").is_ok());
    }

    #[test]
    fn pkce_rfc7636_example() {
        // RFC 7636 appendix B.
        let v = "dBjftJeZ4CVP-mB92K27uhbUJU1p1r_wW1gFWFOEjXk";
        assert!(pkce_s256_matches(
            v,
            "E9Melhoa2OwvFrEMTJguCHaoeK1t8URWbuGJSstw-cM"
        ));
        assert!(!pkce_s256_matches(
            v,
            "E9Melhoa2OwvFrEMTJguCHaoeK1t8URWbuGJSstw-cX"
        ));
        assert!(!pkce_s256_matches("short", "x"));
        assert!(ct_eq("abc", "abc") && !ct_eq("abc", "abd") && !ct_eq("abc", "ab"));
    }
}
