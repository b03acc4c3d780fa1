//! C1 client credentials.
//!
//! A client id reads `<random>@<host>/<use>`; the secret reads
//! `secret-token:conductorone.com:v1:<base64url(JWK)>`, the JWK holding an Ed25519 private key.
//! The server keeps only the public key: a plain-secret login proves possession by deriving the
//! public key from the secret, and an assertion login verifies a signature with it.

use crate::jws::{b64, unb64};
use crate::AuthError;
use ed25519_dalek::{SigningKey, VerifyingKey};
use rand::rngs::OsRng;
use rand::Rng;
use serde::{Deserialize, Serialize};

const PREFIX: &str = "secret-token:conductorone.com:v1:";

#[derive(Serialize, Deserialize)]
struct Jwk {
    kty: String,
    crv: String,
    x: String,
    #[serde(skip_serializing_if = "Option::is_none")]
    d: Option<String>,
}

/// A newly minted credential. `secret` is shown once and never stored.
pub struct NewCredential {
    /// `<random>@<host>/<use>`.
    pub client_id: String,
    /// The secret string to give to the client.
    pub secret: String,
    /// Base64url public key, to store.
    pub public_key: String,
}

fn random_name() -> String {
    const ADJ: &[&str] = &[
        "amber", "brisk", "calm", "deft", "eager", "fond", "gentle", "hardy", "keen", "lucid",
        "merry", "noble", "proud", "quiet", "rapid", "steady", "tidy", "vivid", "wise", "zesty",
    ];
    const NOUN: &[&str] = &[
        "badger", "comet", "dingo", "ember", "falcon", "gecko", "heron", "ibis", "jackal", "koala",
        "lynx", "marten", "newt", "otter", "puffin", "quail", "raven", "stoat", "tapir", "wombat",
    ];
    let mut rng = OsRng;
    format!(
        "{}-{}-{:05}",
        ADJ[rng.gen_range(0..ADJ.len())],
        NOUN[rng.gen_range(0..NOUN.len())],
        rng.gen_range(0..100_000)
    )
}

/// Mints a credential for `host` (the server's public host, e.g. `chamberlain.example.com`) and
/// a use-case tag (`pcc` for personal clients, `svc` for admin-created service clients).
pub fn mint(host: &str, use_case: &str) -> NewCredential {
    let key = SigningKey::generate(&mut OsRng);
    let public = key.verifying_key();
    let jwk = Jwk {
        kty: "OKP".into(),
        crv: "Ed25519".into(),
        x: b64(public.as_bytes()),
        d: Some(b64(key.as_bytes())),
    };
    let json = serde_json::to_vec(&jwk).unwrap_or_default();
    NewCredential {
        client_id: format!("{}@{}/{}", random_name(), host, use_case),
        secret: format!("{PREFIX}{}", b64(&json)),
        public_key: b64(public.as_bytes()),
    }
}

/// Parses a secret string into its signing key.
pub fn parse_secret(secret: &str) -> Result<SigningKey, AuthError> {
    let body = secret.trim().strip_prefix(PREFIX).ok_or_else(|| {
        AuthError::Malformed(
            "client_secret must start with `secret-token:conductorone.com:v1:`".into(),
        )
    })?;
    let jwk: Jwk = serde_json::from_slice(&unb64(body)?)
        .map_err(|_| AuthError::Malformed("client_secret does not hold a JSON Web Key".into()))?;
    if jwk.kty != "OKP" || jwk.crv != "Ed25519" {
        return Err(AuthError::Malformed(
            "client_secret key must be an Ed25519 (OKP) key".into(),
        ));
    }
    let d = unb64(jwk.d.as_deref().unwrap_or_default())?;
    let d: [u8; 32] = d
        .try_into()
        .map_err(|_| AuthError::Malformed("client_secret key has the wrong length".into()))?;
    let key = SigningKey::from_bytes(&d);
    if b64(key.verifying_key().as_bytes()) != jwk.x {
        return Err(AuthError::Malformed(
            "client_secret key's public part does not match its private part".into(),
        ));
    }
    Ok(key)
}

/// Decodes a stored public key.
pub fn public_key(b64_key: &str) -> Result<VerifyingKey, AuthError> {
    let bytes: [u8; 32] = unb64(b64_key)?
        .try_into()
        .map_err(|_| AuthError::Malformed("stored public key has the wrong length".into()))?;
    VerifyingKey::from_bytes(&bytes)
        .map_err(|_| AuthError::Malformed("stored public key is invalid".into()))
}

/// The host part of a client id (`…@host/use`), which is also the assertion audience.
pub fn client_host(client_id: &str) -> Option<&str> {
    let (_, rest) = client_id.split_once('@')?;
    Some(rest.split('/').next().unwrap_or(rest))
}

/// Checks that `secret` belongs to the client whose stored public key is `stored_public_key`.
/// Compares public keys, so the check reveals nothing about the stored value.
pub fn secret_matches(secret: &str, stored_public_key: &str) -> Result<bool, AuthError> {
    let key = parse_secret(secret)?;
    Ok(b64(key.verifying_key().as_bytes()) == stored_public_key)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn minted_secret_parses_and_matches() {
        let c = mint("localhost:8080", "pcc");
        assert!(c.client_id.ends_with("@localhost:8080/pcc"));
        assert_eq!(client_host(&c.client_id), Some("localhost:8080"));
        assert!(secret_matches(&c.secret, &c.public_key).unwrap());
        let other = mint("h", "pcc");
        assert!(!secret_matches(&other.secret, &c.public_key).unwrap());
        assert!(parse_secret("hunter2").is_err());
    }
}
