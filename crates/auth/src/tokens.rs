//! Access tokens: short-lived EdDSA JWTs signed by the server, verifiable by anyone through
//! `/auth/v1/jwks`.

use crate::jws::{self, b64};
use crate::AuthError;
use ed25519_dalek::SigningKey;
use serde::{Deserialize, Serialize};
use serde_json::{json, Value};
use std::collections::HashMap;
use std::sync::{Arc, Mutex};

/// Lifetime of an access token (C1 issues 600 s tokens).
pub const ACCESS_TOKEN_TTL_SECS: i64 = 600;

/// What an access token says.
#[derive(Clone, Debug, Serialize, Deserialize, PartialEq)]
pub struct Claims {
    /// Issuer (the server's public URL).
    pub iss: String,
    /// The user the token acts for.
    pub sub: String,
    /// The API client that obtained it.
    pub client_id: String,
    /// Issued at (Unix seconds).
    pub iat: i64,
    /// Expiry (Unix seconds).
    pub exp: i64,
    /// Token id.
    pub jti: String,
    /// The resource (RFC 8707) the token is bound to, e.g. the MCP endpoint. Empty for tokens
    /// of the C1 API, which refuses tokens bound to any resource.
    #[serde(default, skip_serializing_if = "String::is_empty")]
    pub aud: String,
    /// Granted scopes (space-separated), for resource-bound tokens.
    #[serde(default, skip_serializing_if = "String::is_empty")]
    pub scope: String,
}

/// Signs and verifies access tokens with the server's keys.
#[derive(Clone)]
pub struct TokenIssuer {
    issuer: String,
    /// (kid, key), the first one signs, all verify.
    keys: Vec<(String, SigningKey)>,
    /// Claims of tokens whose signature and issuer were already checked, by SHA-256 of the
    /// token. An Ed25519 verification costs ~50 µs and every API and MCP request presents a
    /// token, usually one it presented seconds ago; expiry is still checked on every use.
    verified: Arc<Mutex<HashMap<[u8; 32], Claims>>>,
}

/// Entries kept in [`TokenIssuer::verified`] before it is emptied and refilled.
const VERIFIED_MAX: usize = 50_000;

impl TokenIssuer {
    /// An issuer with at least one key.
    pub fn new(issuer: String, keys: Vec<(String, SigningKey)>) -> Result<Self, AuthError> {
        if keys.is_empty() {
            return Err(AuthError::Crypto(
                "no token signing key is available".into(),
            ));
        }
        Ok(TokenIssuer {
            issuer,
            keys,
            verified: Arc::default(),
        })
    }

    /// Issues a token for `sub` via `client_id`.
    pub fn issue(&self, sub: &str, client_id: &str, now: i64) -> (String, i64) {
        let claims = Claims {
            iss: self.issuer.clone(),
            sub: sub.to_string(),
            client_id: client_id.to_string(),
            iat: now,
            exp: now + ACCESS_TOKEN_TTL_SECS,
            jti: chamberlain_model::new_id(),
            aud: String::new(),
            scope: String::new(),
        };
        let (kid, key) = &self.keys[0];
        let value = serde_json::to_value(&claims).unwrap_or(Value::Null);
        (jws::sign(key, Some(kid), &value), ACCESS_TOKEN_TTL_SECS)
    }

    /// Issues a token bound to `resource` (its `aud`), e.g. for an AI client of the MCP
    /// gateway, valid for `ttl_secs`.
    pub fn issue_for_resource(
        &self,
        sub: &str,
        client_id: &str,
        resource: &str,
        scope: &str,
        ttl_secs: i64,
        now: i64,
    ) -> String {
        let claims = Claims {
            iss: self.issuer.clone(),
            sub: sub.to_string(),
            client_id: client_id.to_string(),
            iat: now,
            exp: now + ttl_secs,
            jti: chamberlain_model::new_id(),
            aud: resource.to_string(),
            scope: scope.to_string(),
        };
        self.sign_claims(&serde_json::to_value(&claims).unwrap_or(Value::Null))
    }

    /// Signs arbitrary `claims` with the current signing key (its `kid` in the header), e.g. the
    /// JWT on outbound webhooks; receivers verify it against `/auth/v1/jwks`.
    pub fn sign_claims(&self, claims: &Value) -> String {
        let (kid, key) = &self.keys[0];
        jws::sign(key, Some(kid), claims)
    }

    /// The issuer (the server's public URL).
    pub fn issuer(&self) -> &str {
        &self.issuer
    }

    /// Verifies signature, issuer and expiry.
    pub fn verify(&self, token: &str, now: i64) -> Result<Claims, AuthError> {
        use sha2::Digest;
        let digest: [u8; 32] = sha2::Sha256::digest(token.as_bytes()).into();
        let known = self
            .verified
            .lock()
            .ok()
            .and_then(|m| m.get(&digest).cloned());
        let claims = match known {
            Some(claims) => claims,
            None => {
                let claims = self.verify_signed(token)?;
                if let Ok(mut m) = self.verified.lock() {
                    if m.len() >= VERIFIED_MAX {
                        m.clear();
                    }
                    m.insert(digest, claims.clone());
                }
                claims
            }
        };
        if claims.exp <= now {
            return Err(AuthError::Expired(
                "access token has expired; request a new one from /auth/v1/token".into(),
            ));
        }
        Ok(claims)
    }

    /// Checks signature and issuer (not expiry).
    fn verify_signed(&self, token: &str) -> Result<Claims, AuthError> {
        let parsed = jws::parse(token)?;
        let kid = parsed.kid().unwrap_or_default();
        let (_, key) = self.keys.iter().find(|(k, _)| k == kid).ok_or_else(|| {
            AuthError::BadSignature("access token was not signed by this server".into())
        })?;
        parsed.verify(&key.verifying_key())?;
        let claims: Claims = serde_json::from_value(parsed.claims)
            .map_err(|_| AuthError::Malformed("access token claims are incomplete".into()))?;
        if claims.iss != self.issuer {
            return Err(AuthError::BadClaim(
                "access token was issued for another server".into(),
            ));
        }
        Ok(claims)
    }

    /// The public keys as a JWK Set.
    pub fn jwks(&self) -> Value {
        let keys: Vec<Value> = self
            .keys
            .iter()
            .map(|(kid, k)| json!({"kty": "OKP", "crv": "Ed25519", "alg": "EdDSA", "use": "sig", "kid": kid, "x": b64(k.verifying_key().as_bytes())}))
            .collect();
        json!({ "keys": keys })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn tokens_verify_expire_and_reject_foreign_keys() {
        let issuer = TokenIssuer::new(
            "http://x".into(),
            vec![("k1".into(), SigningKey::from_bytes(&[1; 32]))],
        )
        .unwrap();
        let (t, ttl) = issuer.issue("u", "c", 1000);
        assert_eq!(ttl, 600);
        assert_eq!(issuer.verify(&t, 1001).unwrap().sub, "u");
        assert!(matches!(
            issuer.verify(&t, 1601),
            Err(AuthError::Expired(_))
        ));
        let other = TokenIssuer::new(
            "http://x".into(),
            vec![("k1".into(), SigningKey::from_bytes(&[2; 32]))],
        )
        .unwrap();
        assert!(other.verify(&t, 1001).is_err());
        assert_eq!(issuer.jwks()["keys"][0]["kid"], "k1");
    }
}
