//! `/auth/v1/token` (OAuth 2.0 client credentials, as C1 issues them), `/auth/v1/jwks`, and the
//! authorization server metadata. Errors use OAuth's `{error, error_description}` shape.

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
            _ => {}
        }
    }
    Ok(req)
}

/// `POST /auth/v1/token`.
pub async fn token(State(s): State<Shared>, headers: HeaderMap, body: Bytes) -> Response {
    let req = match parse_request(&headers, &body) {
        Ok(r) => r,
        Err(resp) => return *resp,
    };
    if req.grant_type != "client_credentials" {
        return oauth_error(
            StatusCode::BAD_REQUEST,
            "unsupported_grant_type",
            format!(
                "grant_type `{}` is not supported; use client_credentials",
                req.grant_type
            ),
        );
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

/// `GET /.well-known/oauth-authorization-server` (RFC 8414).
pub async fn metadata(State(s): State<Shared>) -> Json<Value> {
    let base = s.public_url.trim_end_matches('/');
    Json(json!({
        "issuer": base,
        "token_endpoint": format!("{base}/auth/v1/token"),
        "jwks_uri": format!("{base}/auth/v1/jwks"),
        "grant_types_supported": ["client_credentials"],
        "token_endpoint_auth_methods_supported": ["client_secret_post", "private_key_jwt"],
        "token_endpoint_auth_signing_alg_values_supported": ["EdDSA"],
    }))
}
