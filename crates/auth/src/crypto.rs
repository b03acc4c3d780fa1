//! Encryption of secrets at rest: AES-256-GCM with a random 96-bit nonce; the key id travels
//! beside the ciphertext (`v1:<kid>:<base64url(nonce || ciphertext)>`) so keys can be rotated.

use crate::jws::{b64, unb64};
use crate::AuthError;
use aes_gcm::aead::{Aead, KeyInit};
use aes_gcm::{Aes256Gcm, Nonce};
use rand::RngCore;
use sha2::{Digest, Sha256};

/// Encrypts and decrypts secrets with the configured key.
#[derive(Clone)]
pub struct SecretBox {
    kid: String,
    cipher: Aes256Gcm,
}

impl SecretBox {
    /// Builds from a 32-byte key.
    pub fn new(key: &[u8; 32]) -> Self {
        let kid = hex8(&Sha256::digest(key));
        SecretBox {
            kid,
            cipher: Aes256Gcm::new(key.into()),
        }
    }

    /// Parses a key given as base64 (standard or url-safe) of 32 bytes.
    pub fn from_base64(s: &str) -> Result<Self, AuthError> {
        use base64::Engine;
        let bytes = base64::engine::general_purpose::STANDARD
            .decode(s.trim())
            .or_else(|_| unb64(s.trim()))
            .map_err(|_| AuthError::Crypto("encryption key must be base64 of 32 random bytes (e.g. `openssl rand -base64 32`)".into()))?;
        let key: [u8; 32] = bytes.try_into().map_err(|_| {
            AuthError::Crypto("encryption key must be exactly 32 bytes once base64-decoded".into())
        })?;
        Ok(Self::new(&key))
    }

    /// A fresh random key, base64-encoded, for first-run setup.
    pub fn generate_key_base64() -> String {
        use base64::Engine;
        let mut k = [0u8; 32];
        rand::rngs::OsRng.fill_bytes(&mut k);
        base64::engine::general_purpose::STANDARD.encode(k)
    }

    /// This key's id.
    pub fn kid(&self) -> &str {
        &self.kid
    }

    /// Encrypts `plain`, binding the ciphertext to `context` (e.g. the row it belongs to) so it
    /// cannot be moved to another row.
    pub fn seal(&self, plain: &[u8], context: &str) -> String {
        let mut nonce = [0u8; 12];
        rand::rngs::OsRng.fill_bytes(&mut nonce);
        let payload = aes_gcm::aead::Payload {
            msg: plain,
            aad: context.as_bytes(),
        };
        let ct = self
            .cipher
            .encrypt(Nonce::from_slice(&nonce), payload)
            .unwrap_or_default();
        let mut out = nonce.to_vec();
        out.extend(ct);
        format!("v1:{}:{}", self.kid, b64(&out))
    }

    /// Decrypts a value produced by [`SecretBox::seal`] with the same `context`.
    pub fn open(&self, sealed: &str, context: &str) -> Result<Vec<u8>, AuthError> {
        let mut parts = sealed.splitn(3, ':');
        let (Some("v1"), Some(kid), Some(body)) = (parts.next(), parts.next(), parts.next()) else {
            return Err(AuthError::Crypto(
                "stored secret is not in the v1 format".into(),
            ));
        };
        if kid != self.kid {
            return Err(AuthError::Crypto(format!(
                "stored secret was encrypted with key {kid}, but the configured encryption key is {}; configure the original key",
                self.kid
            )));
        }
        let raw = unb64(body)?;
        if raw.len() < 12 {
            return Err(AuthError::Crypto("stored secret is truncated".into()));
        }
        let (nonce, ct) = raw.split_at(12);
        self.cipher
            .decrypt(
                Nonce::from_slice(nonce),
                aes_gcm::aead::Payload {
                    msg: ct,
                    aad: context.as_bytes(),
                },
            )
            .map_err(|_| {
                AuthError::Crypto(
                    "stored secret failed authentication (wrong key or tampered data)".into(),
                )
            })
    }
}

fn hex8(d: &[u8]) -> String {
    d.iter().take(4).map(|b| format!("{b:02x}")).collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn seal_open_and_refuse_tampering() {
        let b = SecretBox::new(&[3; 32]);
        let s = b.seal(b"hello", "row1");
        assert_eq!(b.open(&s, "row1").unwrap(), b"hello");
        assert!(b.open(&s, "row2").is_err());
        assert!(SecretBox::new(&[4; 32]).open(&s, "row1").is_err());
        assert!(SecretBox::from_base64("short").is_err());
    }
}
