//! Compact JWS with EdDSA (Ed25519), the only algorithm C1 clients use.

use crate::AuthError;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use base64::Engine;
use ed25519_dalek::{Signature, Signer, SigningKey, Verifier, VerifyingKey};
use serde_json::Value;

/// Base64url without padding.
pub fn b64(bytes: &[u8]) -> String {
    URL_SAFE_NO_PAD.encode(bytes)
}

/// Decodes base64url, tolerating padding.
pub fn unb64(s: &str) -> Result<Vec<u8>, AuthError> {
    URL_SAFE_NO_PAD
        .decode(s.trim_end_matches('='))
        .map_err(|_| AuthError::Malformed("value is not base64url".into()))
}

/// Signs `claims` with `key`, putting `kid` in the header when given.
pub fn sign(key: &SigningKey, kid: Option<&str>, claims: &Value) -> String {
    let mut header = serde_json::json!({"alg": "EdDSA", "typ": "JWT"});
    if let Some(k) = kid {
        header["kid"] = Value::String(k.to_string());
    }
    let signing_input = format!(
        "{}.{}",
        b64(header.to_string().as_bytes()),
        b64(claims.to_string().as_bytes())
    );
    let sig = key.sign(signing_input.as_bytes());
    format!("{signing_input}.{}", b64(&sig.to_bytes()))
}

/// A JWS split into its parts, not yet verified.
pub struct Parsed {
    /// Decoded header.
    pub header: Value,
    /// Decoded claims.
    pub claims: Value,
    signing_input: String,
    signature: Vec<u8>,
}

/// Splits and decodes a compact JWS.
pub fn parse(token: &str) -> Result<Parsed, AuthError> {
    let malformed =
        || AuthError::Malformed("token is not a compact JWS (header.payload.signature)".into());
    let mut parts = token.trim().split('.');
    let (Some(h), Some(p), Some(s), None) =
        (parts.next(), parts.next(), parts.next(), parts.next())
    else {
        return Err(malformed());
    };
    let header: Value = serde_json::from_slice(&unb64(h)?).map_err(|_| malformed())?;
    let claims: Value = serde_json::from_slice(&unb64(p)?).map_err(|_| malformed())?;
    if header.get("alg").and_then(Value::as_str) != Some("EdDSA") {
        return Err(AuthError::Malformed(
            "only EdDSA (Ed25519) signatures are accepted".into(),
        ));
    }
    Ok(Parsed {
        header,
        claims,
        signing_input: format!("{h}.{p}"),
        signature: unb64(s)?,
    })
}

impl Parsed {
    /// Verifies the signature with `key`.
    pub fn verify(&self, key: &VerifyingKey) -> Result<(), AuthError> {
        let sig = Signature::from_slice(&self.signature)
            .map_err(|_| AuthError::BadSignature("signature has the wrong length".into()))?;
        key.verify(self.signing_input.as_bytes(), &sig)
            .map_err(|_| {
                AuthError::BadSignature("signature does not verify with the expected key".into())
            })
    }
    /// The `kid` header, if any.
    pub fn kid(&self) -> Option<&str> {
        self.header.get("kid").and_then(Value::as_str)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn sign_then_verify_and_reject_other_key() {
        let k1 = SigningKey::from_bytes(&[7u8; 32]);
        let k2 = SigningKey::from_bytes(&[8u8; 32]);
        let t = sign(&k1, Some("a"), &serde_json::json!({"sub": "x"}));
        let p = parse(&t).unwrap();
        assert!(p.verify(&k1.verifying_key()).is_ok());
        assert!(p.verify(&k2.verifying_key()).is_err());
        assert_eq!(p.kid(), Some("a"));
        assert!(parse("a.b").is_err());
    }
}
