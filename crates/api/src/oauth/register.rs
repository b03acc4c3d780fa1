//! Dynamic client registration (RFC 7591) at `POST /auth/v1/register`: open (as MCP clients
//! expect), validated strictly, answering `invalid_redirect_uri` / `invalid_client_metadata`
//! with what to fix. Confidential clients get a secret once; only its SHA-256 is kept.

use crate::state::Shared;
use axum::body::Bytes;
use axum::extract::State;
use axum::http::{header, HeaderValue, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::Json;
use chamberlain_auth::password;
use chamberlain_model::ai_governance::{ClientIdType, WellKnownClient};
use chamberlain_model::{new_id, Timestamp};
use chamberlain_store::repo::oauth::{self as repo, ClientMetadata, OAuthClient};
use chamberlain_store::AuditCtx;
use serde_json::{json, Map, Value};

/// Largest registration request accepted.
pub const MAX_BODY: usize = 16 * 1024;
/// Most redirect URIs one client may register.
pub const MAX_REDIRECT_URIS: usize = 20;

/// A registration error (`error`, `error_description`).
pub fn reg_error(error: &str, description: impl Into<String>) -> Response {
    let mut resp = (
        StatusCode::BAD_REQUEST,
        Json(json!({"error": error, "error_description": description.into()})),
    )
        .into_response();
    resp.headers_mut()
        .insert(header::CACHE_CONTROL, HeaderValue::from_static("no-store"));
    resp
}

/// Checks one redirect URI: an absolute `https` URL, or `http` on a loopback host (RFC 8252),
/// without a fragment or user info. The message says what to fix.
pub fn check_redirect_uri(r: &str) -> Result<(), String> {
    let u = reqwest::Url::parse(r)
        .map_err(|e| format!("redirect URI `{r}` is not an absolute URL ({e})"))?;
    if u.fragment().is_some() || r.contains('#') {
        return Err(format!(
            "redirect URI `{r}` must not contain a fragment (#…)"
        ));
    }
    if !u.username().is_empty() || u.password().is_some() {
        return Err(format!(
            "redirect URI `{r}` must not contain a user name or password"
        ));
    }
    let host = u.host_str().unwrap_or("");
    match u.scheme() {
        "https" if !host.is_empty() => Ok(()),
        "http" if super::is_loopback_host(host) => Ok(()),
        "http" => Err(format!(
            "redirect URI `{r}` uses http on `{host}`; use https, or http only on a loopback host (127.0.0.1, [::1] or localhost)"
        )),
        other => Err(format!(
            "redirect URI `{r}` uses the `{other}` scheme; use https, or http on a loopback host"
        )),
    }
}

fn strings(obj: &Map<String, Value>, name: &str) -> Result<Option<Vec<String>>, String> {
    match obj.get(name) {
        None | Some(Value::Null) => Ok(None),
        Some(Value::Array(a)) => a
            .iter()
            .map(|v| {
                v.as_str()
                    .map(str::to_string)
                    .ok_or_else(|| format!("`{name}` must be a list of strings"))
            })
            .collect::<Result<Vec<_>, _>>()
            .map(Some),
        Some(_) => Err(format!("`{name}` must be a list of strings")),
    }
}

fn string(obj: &Map<String, Value>, name: &str) -> Result<Option<String>, String> {
    match obj.get(name) {
        None | Some(Value::Null) => Ok(None),
        Some(Value::String(s)) => Ok(Some(s.clone())),
        Some(_) => Err(format!("`{name}` must be a string")),
    }
}

/// Validates registration metadata (pure): `Err((error code, description))`.
pub fn validate(body: &Value) -> Result<ClientMetadata, (&'static str, String)> {
    let meta = |m: String| ("invalid_client_metadata", m);
    let obj = body
        .as_object()
        .ok_or_else(|| meta("the registration request must be a JSON object".into()))?;
    let redirect_uris = strings(obj, "redirect_uris")
        .map_err(|m| ("invalid_redirect_uri", m))?
        .unwrap_or_default();
    if redirect_uris.is_empty() {
        return Err((
            "invalid_redirect_uri",
            "`redirect_uris` is required: list at least one redirect URI".into(),
        ));
    }
    if redirect_uris.len() > MAX_REDIRECT_URIS {
        return Err((
            "invalid_redirect_uri",
            format!("at most {MAX_REDIRECT_URIS} redirect URIs may be registered"),
        ));
    }
    for r in &redirect_uris {
        check_redirect_uri(r).map_err(|m| ("invalid_redirect_uri", m))?;
    }
    let method = string(obj, "token_endpoint_auth_method")
        .map_err(meta)?
        .unwrap_or_else(|| "none".into());
    if !matches!(
        method.as_str(),
        "none" | "client_secret_post" | "client_secret_basic"
    ) {
        return Err(meta(format!(
            "token_endpoint_auth_method `{method}` is not supported; use none (public clients, with PKCE), client_secret_post or client_secret_basic"
        )));
    }
    let grant_types = strings(obj, "grant_types")
        .map_err(meta)?
        .unwrap_or_else(|| vec!["authorization_code".into(), "refresh_token".into()]);
    for g in &grant_types {
        if !matches!(g.as_str(), "authorization_code" | "refresh_token") {
            return Err(meta(format!(
                "grant type `{g}` cannot be registered; AI clients use authorization_code and refresh_token"
            )));
        }
    }
    if !grant_types.iter().any(|g| g == "authorization_code") {
        return Err(meta("grant_types must include authorization_code".into()));
    }
    let response_types = strings(obj, "response_types")
        .map_err(meta)?
        .unwrap_or_else(|| vec!["code".into()]);
    if response_types.iter().any(|r| r != "code") || response_types.is_empty() {
        return Err(meta(format!(
            "response_types {response_types:?} is not supported; use [\"code\"]"
        )));
    }
    let all_loopback = redirect_uris.iter().all(|r| {
        reqwest::Url::parse(r)
            .map(|u| u.scheme() == "http")
            .unwrap_or(false)
    });
    let application_type = string(obj, "application_type")
        .map_err(meta)?
        .unwrap_or_else(|| if all_loopback { "native" } else { "web" }.into());
    if !matches!(application_type.as_str(), "web" | "native") {
        return Err(meta(format!(
            "application_type `{application_type}` is not valid; use web or native"
        )));
    }
    let client_name = string(obj, "client_name")
        .map_err(meta)?
        .unwrap_or_default();
    if client_name.chars().count() > 200 {
        return Err(meta("client_name is longer than 200 characters".into()));
    }
    if client_name.chars().any(char::is_control) {
        return Err(meta(
            "client_name must not contain control characters".into(),
        ));
    }
    let client_uri = string(obj, "client_uri").map_err(meta)?.unwrap_or_default();
    if !client_uri.is_empty() && !client_uri.starts_with("https://") {
        return Err(meta(format!(
            "client_uri `{client_uri}` must be an https URL"
        )));
    }
    Ok(ClientMetadata {
        client_name,
        redirect_uris,
        token_endpoint_auth_method: method,
        grant_types,
        response_types,
        application_type,
        client_uri,
    })
}

/// `POST /auth/v1/register`.
pub async fn register(State(s): State<Shared>, body: Bytes) -> Response {
    if body.len() > MAX_BODY {
        return reg_error(
            "invalid_client_metadata",
            format!(
                "the registration request is larger than {} KB",
                MAX_BODY / 1024
            ),
        );
    }
    let value: Value = match serde_json::from_slice(&body) {
        Ok(v) => v,
        Err(e) => {
            return reg_error(
                "invalid_client_metadata",
                format!("the registration request is not valid JSON ({e})"),
            )
        }
    };
    let meta = match validate(&value) {
        Ok(m) => m,
        Err((code, msg)) => return reg_error(code, msg),
    };
    let confidential = meta.token_endpoint_auth_method != "none";
    let secret = confidential.then(|| password::random_token(32));
    let now = Timestamp::now();
    let client = OAuthClient {
        id: new_id(),
        client_id: format!("dcr_{}", password::random_token(18)),
        client_id_type: ClientIdType::Dcr,
        well_known: WellKnownClient::guess(&meta.client_name, ""),
        meta: meta.clone(),
        secret_hash: secret.as_deref().map(password::digest),
        killed: false,
        created_at: now,
        updated_at: now,
    };
    let ctx = AuditCtx {
        actor_user_id: String::new(),
        actor_client_id: "oauth:register".into(),
        request_id: crate::error::current_request_id(),
    };
    if let Err(e) = chamberlain_store::write_tx!(s.store, &ctx, |tx| {
        repo::insert_client(tx, &client).await
    }) {
        tracing::error!(error = %e, "client registration failed");
        return (
            StatusCode::SERVICE_UNAVAILABLE,
            Json(json!({"error": "temporarily_unavailable", "error_description": "could not register the client; retry"})),
        )
            .into_response();
    }
    let mut out = json!({
        "client_id": client.client_id,
        "client_id_issued_at": now.unix_seconds(),
        "client_name": meta.client_name,
        "redirect_uris": meta.redirect_uris,
        "token_endpoint_auth_method": meta.token_endpoint_auth_method,
        "grant_types": meta.grant_types,
        "response_types": meta.response_types,
        "application_type": meta.application_type,
        "scope": super::SCOPE,
    });
    if let Some(secret) = secret {
        out["client_secret"] = json!(secret);
        out["client_secret_expires_at"] = json!(0);
    }
    let mut resp = (StatusCode::CREATED, Json(out)).into_response();
    resp.headers_mut()
        .insert(header::CACHE_CONTROL, HeaderValue::from_static("no-store"));
    resp
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn metadata_rules() {
        let ok = validate(&json!({"redirect_uris": ["https://a.example/cb", "http://127.0.0.1/cb"], "client_name": "Cursor"})).unwrap();
        assert_eq!(ok.token_endpoint_auth_method, "none");
        assert_eq!(ok.application_type, "web");
        let e = |v: Value| validate(&v).unwrap_err();
        assert_eq!(e(json!({})).0, "invalid_redirect_uri");
        assert_eq!(
            e(json!({"redirect_uris": ["http://a.example/cb"]})).0,
            "invalid_redirect_uri"
        );
        assert!(e(json!({"redirect_uris": ["https://a.example/cb#x"]}))
            .1
            .contains("fragment"));
        assert_eq!(e(json!({"redirect_uris": ["https://a/cb"], "token_endpoint_auth_method": "private_key_jwt"})).0, "invalid_client_metadata");
        assert!(e(
            json!({"redirect_uris": ["https://a/cb"], "grant_types": ["client_credentials"]})
        )
        .1
        .contains("client_credentials"));
        assert!(
            e(json!({"redirect_uris": ["https://a/cb"], "response_types": ["token"]}))
                .1
                .contains("code")
        );
        assert!(e(json!({"redirect_uris": "https://a/cb"}))
            .1
            .contains("list of strings"));
    }
}
