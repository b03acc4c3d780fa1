//! Chamberlain as an OpenID Connect relying party: discovery (cached), the token endpoint
//! (authorization code + PKCE, `client_secret_basic` or `client_secret_post`), the JWKS
//! (cached, refetched when a new key id appears), ID-token verification and the userinfo
//! endpoint. Every request goes through the outbound guard.
//!
//! ID tokens are JWS compact tokens signed with RS256/384/512, PS256/384/512, ES256/384 or
//! EdDSA (Ed25519), verified with `ring`; `none` and HMAC algorithms are refused. Claims:
//! `iss` equals the discovered issuer, `aud` contains the client id, `azp` (when present) is
//! the client id, `exp` and `iat` within [`LEEWAY_SECS`], `nonce` equals the attempt's.

use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use base64::Engine;
use chamberlain_outbound::{error_chain, read_capped, Guard, OutboundError};
use reqwest::header::{ACCEPT, AUTHORIZATION, CONTENT_TYPE};
use serde::de::DeserializeOwned;
use serde::Deserialize;
use serde_json::Value;
use std::collections::HashMap;
use std::sync::{Arc, Mutex, OnceLock};
use std::time::{Duration, Instant};

/// Clock skew tolerated on `exp` and `iat`.
pub const LEEWAY_SECS: i64 = 60;
/// How long a discovery document or key set is reused.
const CACHE_TTL: Duration = Duration::from_secs(3600);
/// A key set is refetched for an unknown key id at most this often.
const JWKS_REFETCH_MIN: Duration = Duration::from_secs(30);
/// Time budget of one call to the provider.
const CALL_TIMEOUT: Duration = Duration::from_secs(10);
/// Largest document read from the provider.
const MAX_BODY: usize = 256 * 1024;

/// What the provider's discovery document says (the fields Chamberlain uses).
#[derive(Clone, Debug, Deserialize)]
pub struct Discovery {
    pub issuer: String,
    pub authorization_endpoint: String,
    pub token_endpoint: String,
    pub jwks_uri: String,
    #[serde(default)]
    pub userinfo_endpoint: Option<String>,
    #[serde(default)]
    pub token_endpoint_auth_methods_supported: Option<Vec<String>>,
    #[serde(default)]
    pub code_challenge_methods_supported: Option<Vec<String>>,
}

/// Why talking to the provider failed.
#[derive(Clone, Debug, PartialEq, thiserror::Error)]
pub enum OidcError {
    /// The provider could not be reached or answered with a server error (try again later).
    #[error("{0}")]
    Unavailable(String),
    /// The provider's answer or its configuration is unusable (an administrator must act).
    #[error("{0}")]
    Provider(String),
    /// The token endpoint refused the code or the client (`error` of RFC 6749 §5.2).
    #[error("the token endpoint refused the sign-in: {error}{}", if .description.is_empty() { String::new() } else { format!(" ({})", .description) })]
    TokenRefused { error: String, description: String },
    /// The ID token failed a check.
    #[error("{0}")]
    Invalid(String),
}

fn outbound(what: &str, e: OutboundError) -> OidcError {
    match e {
        OutboundError::Refused(m) => OidcError::Provider(format!("the {what} is refused: {m}")),
        OutboundError::Unavailable(m) => {
            OidcError::Unavailable(format!("the {what} could not be reached: {m}"))
        }
        OutboundError::TooLarge(m) => OidcError::Provider(format!("the {what} is too large: {m}")),
    }
}

/// Sends a request built on a guarded client and reads a JSON answer.
async fn call<T: DeserializeOwned>(
    guard: &Guard,
    url: &str,
    what: &str,
    build: impl FnOnce(reqwest::Client, reqwest::Url) -> reqwest::RequestBuilder,
) -> Result<(reqwest::StatusCode, Result<T, String>), OidcError> {
    let (url, client) = guard
        .client(url, CALL_TIMEOUT)
        .await
        .map_err(|e| outbound(what, e))?;
    let resp = build(client, url)
        .header(ACCEPT, "application/json")
        .send()
        .await
        .map_err(|e| {
            OidcError::Unavailable(format!(
                "the {what} could not be reached: {}",
                error_chain(&e)
            ))
        })?;
    let status = resp.status();
    if status.is_server_error() {
        return Err(OidcError::Unavailable(format!(
            "the {what} answered HTTP {status}"
        )));
    }
    let body = read_capped(resp, MAX_BODY, what)
        .await
        .map_err(|e| outbound(what, e))?;
    Ok((
        status,
        serde_json::from_slice(&body)
            .map_err(|e| format!("the {what} is not the expected JSON: {e}")),
    ))
}

async fn get_json<T: DeserializeOwned>(
    guard: &Guard,
    url: &str,
    what: &str,
) -> Result<T, OidcError> {
    let (status, v) = call::<T>(guard, url, what, |c, u| c.get(u)).await?;
    if !status.is_success() {
        return Err(OidcError::Provider(format!(
            "the {what} answered HTTP {status}"
        )));
    }
    v.map_err(OidcError::Provider)
}

type Cache<T> = OnceLock<Mutex<HashMap<String, (Instant, Arc<T>)>>>;
static DISCOVERY: Cache<Discovery> = OnceLock::new();
static KEYS: Cache<Vec<Value>> = OnceLock::new();

fn cached<T>(cache: &'static Cache<T>, key: &str, max_age: Duration) -> Option<Arc<T>> {
    let map = cache.get_or_init(Default::default).lock().ok()?;
    map.get(key)
        .filter(|(at, _)| at.elapsed() < max_age)
        .map(|(_, v)| v.clone())
}

fn remember<T>(cache: &'static Cache<T>, key: &str, v: Arc<T>) {
    if let Ok(mut map) = cache.get_or_init(Default::default).lock() {
        if map.len() > 64 {
            map.clear();
        }
        map.insert(key.to_string(), (Instant::now(), v));
    }
}

/// `<issuer>/.well-known/openid-configuration`, checked (its `issuer` is the configured one,
/// its endpoints pass the guard) and cached for an hour.
pub async fn discover(guard: &Guard, issuer: &str) -> Result<Arc<Discovery>, OidcError> {
    let issuer = issuer.trim();
    if let Some(d) = cached(&DISCOVERY, issuer, CACHE_TTL) {
        return Ok(d);
    }
    let url = format!(
        "{}/.well-known/openid-configuration",
        issuer.trim_end_matches('/')
    );
    let d: Discovery = get_json(guard, &url, "provider's discovery document").await?;
    if d.issuer.trim_end_matches('/') != issuer.trim_end_matches('/') {
        return Err(OidcError::Provider(format!(
            "the discovery document at {url} names the issuer `{}`, not `{issuer}`; set the issuer URL exactly as the provider names itself",
            d.issuer
        )));
    }
    for (name, u) in [
        ("authorization_endpoint", Some(&d.authorization_endpoint)),
        ("token_endpoint", Some(&d.token_endpoint)),
        ("jwks_uri", Some(&d.jwks_uri)),
        ("userinfo_endpoint", d.userinfo_endpoint.as_ref()),
    ] {
        if let Some(u) = u {
            guard.check_url(u).map_err(|e| {
                OidcError::Provider(format!("the provider's {name} is refused: {e}"))
            })?;
        }
    }
    let d = Arc::new(d);
    remember(&DISCOVERY, issuer, d.clone());
    Ok(d)
}

/// How the client authenticates at the token endpoint.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum ClientAuth {
    Basic,
    Post,
}

/// The configured method, or the one the provider advertises (`client_secret_basic` first;
/// it is also the default when the provider advertises none).
pub fn client_auth(configured: &str, d: &Discovery) -> Result<ClientAuth, OidcError> {
    match configured {
        "client_secret_basic" => return Ok(ClientAuth::Basic),
        "client_secret_post" => return Ok(ClientAuth::Post),
        _ => {}
    }
    let Some(methods) = &d.token_endpoint_auth_methods_supported else {
        return Ok(ClientAuth::Basic);
    };
    if methods.iter().any(|m| m == "client_secret_basic") {
        Ok(ClientAuth::Basic)
    } else if methods.iter().any(|m| m == "client_secret_post") {
        Ok(ClientAuth::Post)
    } else {
        Err(OidcError::Provider(format!(
            "the provider's token endpoint supports neither client_secret_basic nor client_secret_post (it lists {})",
            methods.join(", ")
        )))
    }
}

/// `application/x-www-form-urlencoded` encoding of one value.
pub fn form_encode(s: &str) -> String {
    let mut out = String::with_capacity(s.len());
    for b in s.bytes() {
        if b.is_ascii_alphanumeric() || matches!(b, b'-' | b'.' | b'_' | b'~') {
            out.push(b as char);
        } else {
            out.push_str(&format!("%{b:02X}"));
        }
    }
    out
}

/// What the token endpoint returned.
pub struct Tokens {
    pub id_token: String,
    pub access_token: String,
}

/// The code exchange of the authorization code grant with PKCE.
#[allow(clippy::too_many_arguments)]
pub async fn exchange(
    guard: &Guard,
    d: &Discovery,
    auth: ClientAuth,
    client_id: &str,
    client_secret: &str,
    code: &str,
    redirect_uri: &str,
    verifier: &str,
) -> Result<Tokens, OidcError> {
    let mut body = format!(
        "grant_type=authorization_code&code={}&redirect_uri={}&code_verifier={}",
        form_encode(code),
        form_encode(redirect_uri),
        form_encode(verifier)
    );
    let basic = match auth {
        ClientAuth::Basic => Some(format!(
            "Basic {}",
            base64::engine::general_purpose::STANDARD.encode(format!(
                "{}:{}",
                form_encode(client_id),
                form_encode(client_secret)
            ))
        )),
        ClientAuth::Post => {
            body.push_str(&format!(
                "&client_id={}&client_secret={}",
                form_encode(client_id),
                form_encode(client_secret)
            ));
            None
        }
    };
    let (status, v) = call::<Value>(guard, &d.token_endpoint, "token endpoint", |c, u| {
        let mut r = c
            .post(u)
            .header(CONTENT_TYPE, "application/x-www-form-urlencoded")
            .body(body);
        if let Some(b) = basic {
            r = r.header(AUTHORIZATION, b);
        }
        r
    })
    .await?;
    let v = v.map_err(OidcError::Provider)?;
    let text = |k: &str| v.get(k).and_then(Value::as_str).unwrap_or("").to_string();
    if !status.is_success() {
        let error = text("error");
        if error.is_empty() {
            return Err(OidcError::Provider(format!(
                "the token endpoint answered HTTP {status}"
            )));
        }
        return Err(OidcError::TokenRefused {
            error,
            description: text("error_description"),
        });
    }
    let id_token = text("id_token");
    if id_token.is_empty() {
        return Err(OidcError::Provider(
            "the token endpoint returned no ID token (is `openid` among the scopes?)".into(),
        ));
    }
    Ok(Tokens {
        id_token,
        access_token: text("access_token"),
    })
}

/// The userinfo endpoint's claims (its `sub` must be the ID token's).
pub async fn userinfo(
    guard: &Guard,
    d: &Discovery,
    access_token: &str,
    sub: &str,
) -> Result<Value, OidcError> {
    let Some(url) = &d.userinfo_endpoint else {
        return Err(OidcError::Provider(
            "the ID token carries no email and the provider has no userinfo endpoint".into(),
        ));
    };
    if access_token.is_empty() {
        return Err(OidcError::Provider(
            "the ID token carries no email and the token endpoint returned no access token for the userinfo endpoint".into(),
        ));
    }
    let bearer = format!("Bearer {access_token}");
    let (status, v) = call::<Value>(guard, url, "userinfo endpoint", |c, u| {
        c.get(u).header(AUTHORIZATION, bearer)
    })
    .await?;
    if !status.is_success() {
        return Err(OidcError::Provider(format!(
            "the userinfo endpoint answered HTTP {status}"
        )));
    }
    let v = v.map_err(OidcError::Provider)?;
    if v.get("sub").and_then(Value::as_str) != Some(sub) {
        return Err(OidcError::Invalid(
            "the userinfo endpoint describes another subject than the ID token".into(),
        ));
    }
    Ok(v)
}

/// A decoded, not yet verified JWS.
struct Jws {
    header: Value,
    claims: Value,
    signing_input: Vec<u8>,
    signature: Vec<u8>,
}

fn decode(token: &str) -> Result<Jws, String> {
    let parts: Vec<&str> = token.trim().split('.').collect();
    if parts.len() != 3 {
        return Err("the ID token is not a signed JWT (three dot-separated parts)".into());
    }
    let b64 = |p: &str, what: &str| {
        URL_SAFE_NO_PAD
            .decode(p.trim_end_matches('='))
            .map_err(|_| format!("the ID token's {what} is not base64url"))
    };
    let json = |bytes: Vec<u8>, what: &str| -> Result<Value, String> {
        serde_json::from_slice::<Value>(&bytes)
            .ok()
            .filter(Value::is_object)
            .ok_or_else(|| format!("the ID token's {what} is not a JSON object"))
    };
    Ok(Jws {
        header: json(b64(parts[0], "header")?, "header")?,
        claims: json(b64(parts[1], "claims")?, "claims")?,
        signing_input: format!("{}.{}", parts[0], parts[1]).into_bytes(),
        signature: b64(parts[2], "signature")?,
    })
}

/// Whether `jwk` can verify `alg` signatures, and does for this one.
fn verify_with(jwk: &Value, alg: &str, msg: &[u8], sig: &[u8]) -> Result<bool, String> {
    use ring::signature as rs;
    let field = |k: &str| -> Result<Vec<u8>, String> {
        let v = jwk.get(k).and_then(Value::as_str).unwrap_or("");
        URL_SAFE_NO_PAD
            .decode(v.trim_end_matches('='))
            .map_err(|_| format!("the provider's key has a bad `{k}`"))
    };
    let kty = jwk.get("kty").and_then(Value::as_str).unwrap_or("");
    let crv = jwk.get("crv").and_then(Value::as_str).unwrap_or("");
    let rsa = |params: &'static rs::RsaParameters| -> Result<bool, String> {
        if kty != "RSA" {
            return Ok(false);
        }
        let key = rs::RsaPublicKeyComponents {
            n: field("n")?,
            e: field("e")?,
        };
        Ok(key.verify(params, msg, sig).is_ok())
    };
    let ec = |want: &str,
              len: usize,
              algo: &'static rs::EcdsaVerificationAlgorithm|
     -> Result<bool, String> {
        if kty != "EC" || crv != want {
            return Ok(false);
        }
        let (x, y) = (field("x")?, field("y")?);
        if x.len() != len || y.len() != len {
            return Err(format!(
                "the provider's {want} key has coordinates of the wrong size"
            ));
        }
        let mut point = vec![4u8];
        point.extend(x);
        point.extend(y);
        Ok(rs::UnparsedPublicKey::new(algo, point)
            .verify(msg, sig)
            .is_ok())
    };
    match alg {
        "RS256" => rsa(&rs::RSA_PKCS1_2048_8192_SHA256),
        "RS384" => rsa(&rs::RSA_PKCS1_2048_8192_SHA384),
        "RS512" => rsa(&rs::RSA_PKCS1_2048_8192_SHA512),
        "PS256" => rsa(&rs::RSA_PSS_2048_8192_SHA256),
        "PS384" => rsa(&rs::RSA_PSS_2048_8192_SHA384),
        "PS512" => rsa(&rs::RSA_PSS_2048_8192_SHA512),
        "ES256" => ec("P-256", 32, &rs::ECDSA_P256_SHA256_FIXED),
        "ES384" => ec("P-384", 48, &rs::ECDSA_P384_SHA384_FIXED),
        "EdDSA" | "Ed25519" => {
            if kty != "OKP" || crv != "Ed25519" {
                return Ok(false);
            }
            Ok(rs::UnparsedPublicKey::new(&rs::ED25519, field("x")?)
                .verify(msg, sig)
                .is_ok())
        }
        other => Err(format!(
            "the ID token is signed with `{other}`, which Chamberlain does not accept (RS256/384/512, PS256/384/512, ES256/384, EdDSA)"
        )),
    }
}

/// Checks the signature against the key set: the key named by `kid` (or, without `kid`, any
/// signing key of the right type). `Ok(false)`: no key in the set matches.
fn check_signature(jws: &Jws, keys: &[Value]) -> Result<bool, String> {
    let alg = jws.header.get("alg").and_then(Value::as_str).unwrap_or("");
    if jws.header.get("crit").is_some() {
        return Err("the ID token has critical header parameters Chamberlain does not know".into());
    }
    let kid = jws.header.get("kid").and_then(Value::as_str);
    let mut tried = false;
    for k in keys {
        let s = |n: &str| k.get(n).and_then(Value::as_str);
        if kid.is_some() && s("kid") != kid {
            continue;
        }
        if s("use").is_some_and(|u| u != "sig") || s("alg").is_some_and(|a| a != alg) {
            continue;
        }
        match verify_with(k, alg, &jws.signing_input, &jws.signature) {
            Ok(true) => return Ok(true),
            Ok(false) => {}
            Err(e) if kid.is_some() => return Err(e),
            Err(e) if e.contains("does not accept") => return Err(e),
            Err(_) => {}
        }
        tried = true;
    }
    if tried && kid.is_some() {
        return Err("the ID token's signature does not verify".into());
    }
    Ok(false)
}

/// Checks the claims of a verified ID token.
pub fn check_claims(
    claims: &Value,
    issuer: &str,
    client_id: &str,
    nonce: &str,
    now: i64,
) -> Result<(), String> {
    let s = |k: &str| claims.get(k).and_then(Value::as_str);
    if s("iss") != Some(issuer) {
        return Err(format!(
            "the ID token was issued by `{}`, not by `{issuer}`",
            s("iss").unwrap_or("")
        ));
    }
    let aud: Vec<&str> = match claims.get("aud") {
        Some(Value::String(a)) => vec![a.as_str()],
        Some(Value::Array(a)) => a.iter().filter_map(Value::as_str).collect(),
        _ => vec![],
    };
    if !aud.contains(&client_id) {
        return Err(format!(
            "the ID token is meant for `{}`, not for this client (`{client_id}`)",
            aud.join(" ")
        ));
    }
    if let Some(azp) = claims.get("azp") {
        if azp.as_str() != Some(client_id) {
            return Err(format!(
                "the ID token was issued to another client (azp `{}`)",
                azp.as_str().unwrap_or("")
            ));
        }
    }
    let exp = claims.get("exp").and_then(Value::as_i64);
    match exp {
        Some(exp) if exp + LEEWAY_SECS > now => {}
        Some(_) => return Err("the ID token has expired (check the server clocks)".into()),
        None => return Err("the ID token has no `exp`".into()),
    }
    match claims.get("iat").and_then(Value::as_i64) {
        Some(iat) if iat <= now + LEEWAY_SECS => {}
        Some(_) => {
            return Err("the ID token was issued in the future (check the server clocks)".into())
        }
        None => return Err("the ID token has no `iat`".into()),
    }
    if s("nonce") != Some(nonce) {
        return Err("the ID token's nonce does not match this sign-in attempt".into());
    }
    if s("sub").is_none_or(str::is_empty) {
        return Err("the ID token has no subject (`sub`)".into());
    }
    Ok(())
}

async fn key_set(guard: &Guard, uri: &str, fresh: bool) -> Result<Arc<Vec<Value>>, OidcError> {
    let max_age = if fresh { JWKS_REFETCH_MIN } else { CACHE_TTL };
    if let Some(k) = cached(&KEYS, uri, max_age) {
        return Ok(k);
    }
    let v: Value = get_json(guard, uri, "provider's key set (jwks_uri)").await?;
    let keys = v
        .get("keys")
        .and_then(Value::as_array)
        .cloned()
        .ok_or_else(|| OidcError::Provider("the provider's key set has no `keys`".into()))?;
    let keys = Arc::new(keys);
    remember(&KEYS, uri, keys.clone());
    Ok(keys)
}

/// Verifies an ID token (signature against the provider's key set, then the claims) and
/// returns its claims.
pub async fn verify_id_token(
    guard: &Guard,
    d: &Discovery,
    token: &str,
    client_id: &str,
    nonce: &str,
    now: i64,
) -> Result<Value, OidcError> {
    let jws = decode(token).map_err(OidcError::Invalid)?;
    let mut ok = check_signature(&jws, &key_set(guard, &d.jwks_uri, false).await?)
        .map_err(OidcError::Invalid)?;
    if !ok {
        // A key the cached set does not have yet: the provider may have rotated its keys.
        ok = check_signature(&jws, &key_set(guard, &d.jwks_uri, true).await?)
            .map_err(OidcError::Invalid)?;
    }
    if !ok {
        return Err(OidcError::Invalid(
            "the ID token's signature does not verify with any of the provider's keys".into(),
        ));
    }
    check_claims(&jws.claims, &d.issuer, client_id, nonce, now).map_err(OidcError::Invalid)?;
    Ok(jws.claims)
}

/// A claim that is true: JSON `true`, or the string "true" some providers send.
pub fn is_true(v: Option<&Value>) -> bool {
    match v {
        Some(Value::Bool(b)) => *b,
        Some(Value::String(s)) => s.eq_ignore_ascii_case("true"),
        _ => false,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use ring::signature::KeyPair;
    use serde_json::json;

    fn b64(b: &[u8]) -> String {
        URL_SAFE_NO_PAD.encode(b)
    }

    fn token(header: Value, claims: Value, sign: impl Fn(&[u8]) -> Vec<u8>) -> String {
        let input = format!(
            "{}.{}",
            b64(header.to_string().as_bytes()),
            b64(claims.to_string().as_bytes())
        );
        format!("{input}.{}", b64(&sign(input.as_bytes())))
    }

    fn claims(now: i64) -> Value {
        json!({"iss": "https://op.example", "aud": "c1", "sub": "u1", "nonce": "n", "iat": now, "exp": now + 300})
    }

    #[test]
    fn ed25519_and_es256_signatures_verify_and_tampering_fails() {
        let rng = ring::rand::SystemRandom::new();
        let now = 1_800_000_000;
        // Ed25519
        let pkcs8 = ring::signature::Ed25519KeyPair::generate_pkcs8(&rng).unwrap();
        let kp = ring::signature::Ed25519KeyPair::from_pkcs8(pkcs8.as_ref()).unwrap();
        let jwk =
            json!({"kty": "OKP", "crv": "Ed25519", "kid": "e", "x": b64(kp.public_key().as_ref())});
        let t = token(json!({"alg": "EdDSA", "kid": "e"}), claims(now), |m| {
            kp.sign(m).as_ref().to_vec()
        });
        let jws = decode(&t).unwrap();
        assert!(check_signature(&jws, std::slice::from_ref(&jwk)).unwrap());
        let mut bad = jws;
        bad.signing_input.push(b'x');
        assert!(check_signature(&bad, &[jwk]).is_err());
        // ES256
        let alg = &ring::signature::ECDSA_P256_SHA256_FIXED_SIGNING;
        let pkcs8 = ring::signature::EcdsaKeyPair::generate_pkcs8(alg, &rng).unwrap();
        let kp = ring::signature::EcdsaKeyPair::from_pkcs8(alg, pkcs8.as_ref(), &rng).unwrap();
        let point = kp.public_key().as_ref();
        let jwk =
            json!({"kty": "EC", "crv": "P-256", "x": b64(&point[1..33]), "y": b64(&point[33..])});
        let t = token(json!({"alg": "ES256"}), claims(now), |m| {
            kp.sign(&rng, m).unwrap().as_ref().to_vec()
        });
        assert!(check_signature(&decode(&t).unwrap(), &[jwk]).unwrap());
        // `none` and HMAC are refused.
        let t = token(json!({"alg": "none"}), claims(now), |_| vec![]);
        assert!(check_signature(&decode(&t).unwrap(), &[json!({"kty": "oct"})]).is_err());
    }

    #[test]
    fn claims_are_checked() {
        let now = 1_800_000_000;
        let ok = claims(now);
        assert!(check_claims(&ok, "https://op.example", "c1", "n", now).is_ok());
        let with = |k: &str, v: Value| {
            let mut c = ok.clone();
            c[k] = v;
            check_claims(&c, "https://op.example", "c1", "n", now).unwrap_err()
        };
        assert!(with("iss", json!("https://evil.example")).contains("issued by"));
        assert!(with("aud", json!(["other"])).contains("meant for"));
        assert!(with("azp", json!("other")).contains("another client"));
        assert!(with("exp", json!(now - LEEWAY_SECS - 1)).contains("expired"));
        assert!(with("iat", json!(now + LEEWAY_SECS + 10)).contains("future"));
        assert!(with("nonce", json!("m")).contains("nonce"));
        // Within the leeway, and an audience list containing the client.
        let mut c = ok.clone();
        c["exp"] = json!(now - 10);
        c["aud"] = json!(["x", "c1"]);
        assert!(check_claims(&c, "https://op.example", "c1", "n", now).is_ok());
    }

    #[test]
    fn encoding_and_auth_method_choice() {
        assert_eq!(form_encode("a b+c/é"), "a%20b%2Bc%2F%C3%A9");
        let d = |m: Option<Vec<&str>>| Discovery {
            issuer: String::new(),
            authorization_endpoint: String::new(),
            token_endpoint: String::new(),
            jwks_uri: String::new(),
            userinfo_endpoint: None,
            token_endpoint_auth_methods_supported: m
                .map(|v| v.into_iter().map(String::from).collect()),
            code_challenge_methods_supported: None,
        };
        assert_eq!(client_auth("", &d(None)).unwrap(), ClientAuth::Basic);
        assert_eq!(
            client_auth("", &d(Some(vec!["client_secret_post"]))).unwrap(),
            ClientAuth::Post
        );
        assert_eq!(
            client_auth("client_secret_post", &d(Some(vec!["client_secret_basic"]))).unwrap(),
            ClientAuth::Post
        );
        assert!(client_auth("", &d(Some(vec!["private_key_jwt"]))).is_err());
        assert!(is_true(Some(&json!(true))) && is_true(Some(&json!("true"))));
        assert!(!is_true(Some(&json!(false))) && !is_true(None));
    }
}
