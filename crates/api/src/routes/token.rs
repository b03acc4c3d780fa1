//! `/auth/v1/token` (OAuth 2.0 client credentials, as C1 issues them; and the
//! `authorization_code` / `refresh_token` grants of AI clients, handled in `crate::oauth`, and
//! the device code grant of the command-line client, in `crate::oauth::device`),
//! `/auth/v1/jwks`, and the authorization server metadata. Errors use OAuth's
//! `{error, error_description}` shape.

use crate::state::Shared;
use axum::body::Bytes;
use axum::extract::State;
use axum::http::{HeaderMap, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::Json;
use chamberlain_auth::{assertion, client_secret};
use chamberlain_model::Timestamp;
use chamberlain_store::repo::clients;
use serde::Deserialize;
use serde_json::{json, Value};

const ASSERTION_TYPE: &str = "urn:ietf:params:oauth:client-assertion-type:jwt-bearer";

#[derive(Deserialize, Default)]
#[serde(default)]
struct TokenRequest {
    grant_type: String,
    client_id: String,
    client_secret: String,
    client_assertion: String,
    client_assertion_type: String,
    code: String,
    redirect_uri: String,
    code_verifier: String,
    refresh_token: String,
    resource: String,
    device_code: String,
}

fn oauth_error(status: StatusCode, error: &str, description: impl Into<String>) -> Response {
    let description = format!(
        "{} (request-id: {})",
        description.into(),
        crate::error::current_request_id()
    );
    (
        status,
        Json(json!({"error": error, "error_description": description})),
    )
        .into_response()
}

fn parse_request(headers: &HeaderMap, body: &[u8]) -> Result<TokenRequest, Box<Response>> {
    let ctype = headers
        .get(axum::http::header::CONTENT_TYPE)
        .and_then(|v| v.to_str().ok())
        .unwrap_or("");
    if ctype.starts_with("application/json") {
        return serde_json::from_slice(body).map_err(|e| {
            Box::new(oauth_error(
                StatusCode::BAD_REQUEST,
                "invalid_request",
                format!("body is not valid JSON: {e}"),
            ))
        });
    }
    let text = std::str::from_utf8(body).map_err(|_| {
        Box::new(oauth_error(
            StatusCode::BAD_REQUEST,
            "invalid_request",
            "body is not UTF-8",
        ))
    })?;
    let mut req = TokenRequest::default();
    for pair in text.split('&').filter(|p| !p.is_empty()) {
        let (k, v) = pair.split_once('=').unwrap_or((pair, ""));
        let v = crate::extract::percent_decode(v);
        match crate::extract::percent_decode(k).as_str() {
            "grant_type" => req.grant_type = v,
            "client_id" => req.client_id = v,
            "client_secret" => req.client_secret = v,
            "client_assertion" => req.client_assertion = v,
            "client_assertion_type" => req.client_assertion_type = v,
            "code" => req.code = v,
            "redirect_uri" => req.redirect_uri = v,
            "code_verifier" => req.code_verifier = v,
            "refresh_token" => req.refresh_token = v,
            "resource" => req.resource = v,
            "device_code" => req.device_code = v,
            _ => {}
        }
    }
    Ok(req)
}

/// HTTP Basic client credentials (`client_secret_basic`, RFC 6749 §2.3.1: each part
/// form-urlencoded).
fn basic_credentials(headers: &HeaderMap) -> Option<(String, String)> {
    use base64::Engine;
    let v = headers
        .get(axum::http::header::AUTHORIZATION)?
        .to_str()
        .ok()?;
    let b64 = v
        .strip_prefix("Basic ")
        .or_else(|| v.strip_prefix("basic "))?;
    let raw = base64::engine::general_purpose::STANDARD
        .decode(b64.trim())
        .ok()?;
    let text = String::from_utf8(raw).ok()?;
    let (id, secret) = text.split_once(':')?;
    Some((
        crate::extract::percent_decode(id),
        crate::extract::percent_decode(secret),
    ))
}

/// `POST /auth/v1/token`.
pub async fn token(State(s): State<Shared>, headers: HeaderMap, body: Bytes) -> Response {
    let req = match parse_request(&headers, &body) {
        Ok(r) => r,
        Err(resp) => return *resp,
    };
    match req.grant_type.as_str() {
        "client_credentials" => {}
        crate::oauth::device::GRANT_TYPE => {
            return crate::oauth::device::device_code_grant(&s, &req.client_id, &req.device_code)
                .await;
        }
        "authorization_code" | "refresh_token" => {
            let p = crate::oauth::grants::TokenParams {
                client_id: req.client_id.clone(),
                client_secret: req.client_secret.clone(),
                basic: basic_credentials(&headers),
                code: req.code.clone(),
                redirect_uri: req.redirect_uri.clone(),
                code_verifier: req.code_verifier.clone(),
                refresh_token: req.refresh_token.clone(),
                resource: req.resource.clone(),
            };
            return if req.grant_type == "authorization_code" {
                crate::oauth::grants::authorization_code(&s, &p).await
            } else {
                crate::oauth::grants::refresh_token(&s, &p).await
            };
        }
        other => {
            return oauth_error(
                StatusCode::BAD_REQUEST,
                "unsupported_grant_type",
                format!(
                    "grant_type `{other}` is not supported; use client_credentials (API clients), authorization_code and refresh_token (AI clients), or {} (the command-line client)",
                    crate::oauth::device::GRANT_TYPE
                ),
            );
        }
    }
    if req.client_id.is_empty() {
        return oauth_error(
            StatusCode::BAD_REQUEST,
            "invalid_request",
            "client_id is required (send it in the form body)",
        );
    }
    let bad_client = || {
        oauth_error(
            StatusCode::UNAUTHORIZED,
            "invalid_client",
            "client authentication failed: unknown client, revoked client or wrong credential",
        )
    };
    let client = match clients::by_client_id(&s.store, &req.client_id).await {
        Ok(Some(c)) => c,
        Ok(None) => return bad_client(),
        Err(e) => {
            tracing::error!(error = %e, "token: client lookup failed");
            return oauth_error(
                StatusCode::SERVICE_UNAVAILABLE,
                "temporarily_unavailable",
                "could not check the client; retry",
            );
        }
    };
    let now = Timestamp::now().unix_seconds();
    if !req.client_assertion.is_empty() {
        if req.client_assertion_type != ASSERTION_TYPE {
            return oauth_error(
                StatusCode::BAD_REQUEST,
                "invalid_request",
                format!("client_assertion_type must be {ASSERTION_TYPE}"),
            );
        }
        let key = match client_secret::public_key(&client.public_key) {
            Ok(k) => k,
            Err(_) => return bad_client(),
        };
        let mut audiences = s.audiences.clone();
        if let Some(h) = client_secret::client_host(&req.client_id) {
            audiences.push(h.to_string());
        }
        if let Err(e) =
            assertion::verify(&req.client_assertion, &req.client_id, &key, &audiences, now)
        {
            return oauth_error(
                StatusCode::UNAUTHORIZED,
                "invalid_client",
                format!("client_assertion rejected: {e}"),
            );
        }
    } else if !req.client_secret.is_empty() {
        match client_secret::secret_matches(&req.client_secret, &client.public_key) {
            Ok(true) => {}
            Ok(false) => return bad_client(),
            Err(e) => {
                return oauth_error(
                    StatusCode::UNAUTHORIZED,
                    "invalid_client",
                    format!("client_secret rejected: {e}"),
                )
            }
        }
    } else {
        return oauth_error(
            StatusCode::BAD_REQUEST,
            "invalid_request",
            "send client_secret, or client_assertion with client_assertion_type, in the form body",
        );
    }
    // The user must still be active; resolving the principal checks that.
    if let Err(e) =
        crate::state::resolve_principal(&s, &client.client.user_id, &req.client_id).await
    {
        return oauth_error(StatusCode::UNAUTHORIZED, "invalid_client", e.message);
    }
    let (access_token, expires_in) = s.issuer.issue(&client.client.user_id, &req.client_id, now);
    Json(json!({"access_token": access_token, "token_type": "Bearer", "expires_in": expires_in}))
        .into_response()
}

/// `GET /auth/v1/jwks`.
pub async fn jwks(State(s): State<Shared>) -> Json<Value> {
    Json(s.issuer.jwks())
}

/// `GET /.well-known/oauth-authorization-server` (RFC 8414): see
/// `crate::oauth::metadata::authorization_server`.
pub async fn metadata(state: State<Shared>) -> Json<Value> {
    crate::oauth::metadata::authorization_server(state).await
}
