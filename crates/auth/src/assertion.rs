//! Client assertions (RFC 7523 `private_key_jwt`) as C1's SDKs send them: an EdDSA JWT signed
//! with the client secret's key, `iss = sub = client_id`, `aud` = the server host, and a short
//! expiry.

use crate::jws;
use crate::AuthError;
use ed25519_dalek::VerifyingKey;
use serde_json::Value;

/// The longest validity window an assertion may claim (C1: exp within 5 minutes).
pub const MAX_LIFETIME_SECS: i64 = 5 * 60;
/// Clock skew tolerated on `nbf`, `iat` and `exp`.
pub const SKEW_SECS: i64 = 120;

/// Verifies an assertion for `client_id` against the client's public key. `audiences` are the
/// host names the server answers to; the `aud` claim must name one of them (port ignored).
pub fn verify(
    assertion: &str,
    client_id: &str,
    key: &VerifyingKey,
    audiences: &[String],
    now: i64,
) -> Result<(), AuthError> {
    let parsed = jws::parse(assertion)?;
    parsed.verify(key)?;
    let c = &parsed.claims;
    let s = |k: &str| c.get(k).and_then(Value::as_str);
    if s("iss") != Some(client_id) || s("sub") != Some(client_id) {
        return Err(AuthError::BadClaim(
            "client_assertion `iss` and `sub` must both equal client_id".into(),
        ));
    }
    let strip_port = |h: &str| {
        h.rsplit_once(':')
            .map(|(a, _)| a.to_string())
            .unwrap_or_else(|| h.to_string())
    };
    let auds: Vec<String> = match c.get("aud") {
        Some(Value::String(a)) => vec![a.clone()],
        Some(Value::Array(a)) => a
            .iter()
            .filter_map(Value::as_str)
            .map(str::to_string)
            .collect(),
        _ => vec![],
    };
    let wanted: Vec<String> = audiences.iter().map(|a| strip_port(a)).collect();
    if !auds.iter().any(|a| wanted.contains(&strip_port(a))) {
        return Err(AuthError::BadClaim(format!(
            "client_assertion `aud` must be this server's host ({})",
            wanted.join(" or ")
        )));
    }
    let num = |k: &str| c.get(k).and_then(Value::as_i64);
    let exp = num("exp")
        .ok_or_else(|| AuthError::BadClaim("client_assertion must carry `exp`".into()))?;
    if exp <= now - SKEW_SECS {
        return Err(AuthError::Expired("client_assertion has expired".into()));
    }
    if exp > now + MAX_LIFETIME_SECS + SKEW_SECS {
        return Err(AuthError::BadClaim(
            "client_assertion `exp` must be at most 5 minutes ahead".into(),
        ));
    }
    if let Some(nbf) = num("nbf") {
        if nbf > now + SKEW_SECS {
            return Err(AuthError::Expired(
                "client_assertion is not valid yet (`nbf` is in the future)".into(),
            ));
        }
    }
    Ok(())
}
