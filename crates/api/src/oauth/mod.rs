//! The OAuth 2.1 authorization server for AI clients of the MCP gateway, and the gateway's
//! authentication entry point.
//!
//! - [`authenticate_mcp`]: what the gateway calls on every MCP request.
//! - `metadata`: protected resource metadata (RFC 9728) and authorization server metadata
//!   (RFC 8414).
//! - `register`: dynamic client registration (RFC 7591); `cimd`: client ID metadata documents.
//! - `authorize`: the authorization endpoint and the consent decision; `grants`: the
//!   `authorization_code` and `refresh_token` grants of `/auth/v1/token`.
//! - `session` and `pages`: local password sign-in, browser sessions, CSRF, and the
//!   server-rendered pages (sign-in, consent, errors).
//! - `device`: the device authorization grant (RFC 8628) of the command-line client and its
//!   approval page.
//! - `connect`: the gateway's "connect your account" pages for downstream OAuth (per-user
//!   connections, service-mode authorization) and their callback.
//! - `lifecycle`: the ACTIVE → HIDDEN → CLOSED → DELETED sweep and purging of expired
//!   credentials, run by the worker's access housekeeping.

// Refusals here are finished HTTP responses (pages, redirects, OAuth errors) returned on the
// error path of a request; boxing them would only add noise.
#![allow(clippy::result_large_err)]

pub mod authorize;
pub mod cimd;
pub mod connect;
pub mod device;
pub mod grants;
pub mod lifecycle;
pub mod metadata;
pub mod pages;
pub mod register;
pub mod session;

use crate::state::AppState;
use axum::http::{header, HeaderMap, HeaderValue, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::Json;
use chamberlain_model::ai_governance::AiGovernanceSettings;
use chamberlain_model::user::UserStatus;
use chamberlain_model::Timestamp;
use chamberlain_store::repo::oauth as repo;
use chamberlain_store::StoreError;
use serde_json::json;
use std::collections::HashMap;
use std::sync::Mutex;
use std::time::{Duration, Instant};

/// The only scope: calling the MCP gateway.
pub const SCOPE: &str = "mcp";
/// Refresh token lifetime (each rotation starts a new one).
pub const REFRESH_TOKEN_TTL_SECS: i64 = 30 * 86_400;
/// Authorization code lifetime.
pub const CODE_TTL_SECS: i64 = 60;
/// `last_used_at` is written at most this often per (user, client).
pub const LAST_USED_GAP_SECS: i64 = 60;
/// How long other replicas may serve a cached copy of the AI governance settings.
pub const SETTINGS_CACHE: Duration = Duration::from_secs(2);

/// Who is calling the MCP gateway.
#[derive(Clone, Debug)]
pub struct McpIdentity {
    /// The user the AI client acts for.
    pub user_id: String,
    /// The OAuth client id (DCR id or CIMD URL).
    pub client_id: String,
    /// Chamberlain's record id of the client (C1's `mcpClientId`).
    pub mcp_client_id: String,
    /// The client's name.
    pub client_name: String,
    /// The user's grants in the gateway's apps, when asked for ([`authenticate_mcp_call`]).
    pub prefetched: Option<chamberlain_gateway::protocol::Prefetched>,
}

/// The MCP resource (RFC 8707 audience of gateway tokens): `<public_url>/mcp`.
pub fn mcp_resource(state: &AppState) -> String {
    format!("{}/mcp", state.public_url.trim_end_matches('/'))
}

/// The issuer: the public URL without a trailing slash.
pub fn issuer(state: &AppState) -> String {
    state.public_url.trim_end_matches('/').to_string()
}

/// The protected resource metadata URL of the MCP resource.
pub fn resource_metadata_url(state: &AppState) -> String {
    format!(
        "{}/.well-known/oauth-protected-resource/mcp",
        state.public_url.trim_end_matches('/')
    )
}

/// Whether `resource` names the MCP resource (a trailing slash is tolerated).
pub fn is_mcp_resource(state: &AppState, resource: &str) -> bool {
    let want = mcp_resource(state);
    resource == want || resource.strip_suffix('/') == Some(want.as_str())
}

fn challenge(state: &AppState, error: Option<&str>, description: &str) -> Response {
    let mut value = format!(
        "Bearer resource_metadata=\"{}\", scope=\"{SCOPE}\"",
        resource_metadata_url(state)
    );
    if let Some(e) = error {
        // Quoted-string content: no quotes or backslashes from the description.
        let clean: String = description
            .chars()
            .filter(|c| *c != '"' && *c != '\\' && !c.is_control())
            .collect();
        value.push_str(&format!(", error=\"{e}\", error_description=\"{clean}\""));
    }
    let body = json!({
        "error": error.unwrap_or("unauthorized"),
        "error_description": description,
    });
    let mut resp = (StatusCode::UNAUTHORIZED, Json(body)).into_response();
    if let Ok(v) = HeaderValue::from_str(&value) {
        resp.headers_mut().insert(header::WWW_AUTHENTICATE, v);
    }
    resp
}

/// Authenticates an MCP request: a bearer access token issued by this server for the MCP
/// resource, whose user is active and whose (user, client) authorization is neither closed,
/// deleted nor switched off, while AI access is enabled for the tenant.
///
/// Cost: signature check, then one indexed lookup (authorization ⋈ user ⋈ client by keys); the
/// settings come from a cache of at most [`SETTINGS_CACHE`]. `last_used_at` is written at most
/// once a minute per (user, client).
///
/// On failure: 401 with `WWW-Authenticate: Bearer resource_metadata="…", scope="mcp"` (plus
/// `error="invalid_token"` and a description when a token was presented) and a JSON body.
pub async fn authenticate_mcp(
    state: &AppState,
    headers: &HeaderMap,
) -> Result<McpIdentity, Response> {
    authenticate(state, headers, false).await
}

/// [`authenticate_mcp`] for a request that may call tools: the same statement also reads the
/// user's grants in the gateway's apps (`McpIdentity::prefetched`), so the gateway's
/// authorization needs no second read.
pub async fn authenticate_mcp_call(
    state: &AppState,
    headers: &HeaderMap,
) -> Result<McpIdentity, Response> {
    authenticate(state, headers, true).await
}

async fn authenticate(
    state: &AppState,
    headers: &HeaderMap,
    with_grants: bool,
) -> Result<McpIdentity, Response> {
    let header = headers
        .get(header::AUTHORIZATION)
        .and_then(|v| v.to_str().ok())
        .unwrap_or("");
    let token = header
        .strip_prefix("Bearer ")
        .or_else(|| header.strip_prefix("bearer "))
        .map(str::trim)
        .filter(|t| !t.is_empty());
    let Some(token) = token else {
        return Err(challenge(
            state,
            None,
            "this MCP server requires an access token: send `Authorization: Bearer <token>`; get one through OAuth (see the resource_metadata URL)",
        ));
    };
    let invalid = |msg: String| challenge(state, Some("invalid_token"), &msg);
    let now = Timestamp::now();
    let claims = state
        .issuer
        .verify(token, now.unix_seconds())
        .map_err(|e| invalid(format!("invalid access token: {e}")))?;
    if claims.aud.is_empty() {
        return Err(invalid(
            "this is an API token (client credentials); the MCP gateway accepts only tokens issued to AI clients through OAuth for this resource".into(),
        ));
    }
    if claims.aud != mcp_resource(state) {
        return Err(invalid(format!(
            "this access token is for the resource `{}`, not `{}`",
            claims.aud,
            mcp_resource(state)
        )));
    }
    if !claims.scope.split(' ').any(|s| s == SCOPE) {
        return Err(invalid(format!(
            "this access token lacks the `{SCOPE}` scope"
        )));
    }
    let settings = cached_settings(state).await.map_err(|e| {
        tracing::error!(error = %e, "loading AI governance settings failed");
        unavailable()
    })?;
    if !settings.enabled {
        return Err(invalid(
            "AI access (MCP traffic) is disabled for this organization by an administrator".into(),
        ));
    }
    // Every AI client here is authorized by a user for themselves through OAuth: a personal
    // client in C1's terms.
    if !settings.allowed_client_types.is_empty()
        && !settings
            .allowed_client_types
            .contains(&chamberlain_model::ai_governance::McpClientType::Personal)
    {
        return Err(invalid(
            "personal AI clients (authorized by a user through OAuth) are not among this organization's allowed MCP client types".into(),
        ));
    }
    let index = with_grants.then(|| state.gateway.index());
    let grant_apps = index.as_ref().map_or(&[][..], |i| &i.app_ids[..]);
    let check = repo::mcp_check(&state.store, &claims.sub, &claims.client_id, grant_apps)
        .await
        .map_err(|e| {
            tracing::error!(error = %e, "MCP authentication lookup failed");
            unavailable()
        })?
        .ok_or_else(|| {
            invalid("this AI client is no longer authorized for this user; sign in again".into())
        })?;
    let a = &check.authorization;
    match a.state.as_str() {
        repo::ACTIVE | repo::HIDDEN => {}
        repo::CLOSED => {
            return Err(invalid(
                "this AI client's connection was closed (inactivity, the user or an administrator); authorize it again".into(),
            ))
        }
        _ => {
            return Err(invalid(
                "this AI client's connection was deleted; authorize it again".into(),
            ))
        }
    }
    if claims.iat <= a.revoked_before {
        return Err(invalid(
            "this access token was revoked (a reused authorization code or refresh token revoked the tokens issued before it); authorize again".into(),
        ));
    }
    if check.user_status != UserStatus::Enabled.as_str() {
        return Err(invalid("this user is disabled or deleted".into()));
    }
    if a.state == repo::HIDDEN
        || now.as_micros() - a.last_used_at.as_micros() >= LAST_USED_GAP_SECS * 1_000_000
    {
        if let Err(e) = repo::touch(&state.store, a, now, LAST_USED_GAP_SECS).await {
            tracing::warn!(error = %e, "recording an AI client's use failed");
        }
    }
    Ok(McpIdentity {
        user_id: a.user_id.clone(),
        client_id: a.client_id.clone(),
        mcp_client_id: a.mcp_client_id.clone(),
        client_name: check.client_name,
        prefetched: match (index, check.grants) {
            (Some(index), Some(grants)) => Some(chamberlain_gateway::protocol::Prefetched {
                index,
                grants: std::sync::Arc::new(grants),
            }),
            _ => None,
        },
    })
}

fn unavailable() -> Response {
    (
        StatusCode::SERVICE_UNAVAILABLE,
        Json(json!({"error": "temporarily_unavailable", "error_description": "could not check the access token; retry"})),
    )
        .into_response()
}

/// Per-server caches, keyed by public URL (a process may run several servers, as tests do).
type SettingsMap = HashMap<String, (Instant, AiGovernanceSettings)>;
static SETTINGS: Mutex<Option<SettingsMap>> = Mutex::new(None);

/// The AI governance settings, cached for at most [`SETTINGS_CACHE`]; a change made through
/// this server replaces the cached copy at once ([`settings_changed`]).
pub async fn cached_settings(state: &AppState) -> Result<AiGovernanceSettings, StoreError> {
    if let Ok(guard) = SETTINGS.lock() {
        if let Some((at, s)) = guard.as_ref().and_then(|m| m.get(&state.public_url)) {
            if at.elapsed() < SETTINGS_CACHE {
                return Ok(s.clone());
            }
        }
    }
    let s = chamberlain_store::repo::ai_governance::load(&state.store).await?;
    settings_changed(state, &s);
    Ok(s)
}

/// Replaces the cached settings after a change.
pub fn settings_changed(state: &AppState, s: &AiGovernanceSettings) {
    if let Ok(mut guard) = SETTINGS.lock() {
        guard
            .get_or_insert_with(HashMap::new)
            .insert(state.public_url.clone(), (Instant::now(), s.clone()));
    }
}

/// Failed sign-ins per (server, email) in the current window.
type FailureMap = HashMap<(String, String), (Instant, u32)>;
static FAILURES: Mutex<Option<FailureMap>> = Mutex::new(None);
/// Failed sign-ins allowed per email per window.
pub const SIGNIN_MAX_FAILURES: u32 = 5;
/// The window.
pub const SIGNIN_WINDOW: Duration = Duration::from_secs(300);

/// Whether `email` may try to sign in now (fewer than [`SIGNIN_MAX_FAILURES`] failures in the
/// last [`SIGNIN_WINDOW`] on this replica).
pub fn signin_allowed(state: &AppState, email: &str) -> bool {
    let key = (state.public_url.clone(), email.to_lowercase());
    let Ok(mut guard) = FAILURES.lock() else {
        return true;
    };
    let map = guard.get_or_insert_with(HashMap::new);
    map.retain(|_, (at, _)| at.elapsed() < SIGNIN_WINDOW);
    map.get(&key).is_none_or(|(_, n)| *n < SIGNIN_MAX_FAILURES)
}

/// Counts a failed sign-in (or clears the count after a success).
pub fn signin_result(state: &AppState, email: &str, ok: bool) {
    let key = (state.public_url.clone(), email.to_lowercase());
    if let Ok(mut guard) = FAILURES.lock() {
        let map = guard.get_or_insert_with(HashMap::new);
        if ok {
            map.remove(&key);
        } else {
            let e = map.entry(key).or_insert((Instant::now(), 0));
            e.1 += 1;
        }
    }
}

/// Whether two redirect URIs match: exactly, or — for `http` loopback URIs (RFC 8252 §7.3) —
/// in everything but the port.
pub fn redirect_matches(registered: &str, requested: &str) -> bool {
    if registered == requested {
        return true;
    }
    let (Ok(a), Ok(b)) = (
        reqwest::Url::parse(registered),
        reqwest::Url::parse(requested),
    ) else {
        return false;
    };
    a.scheme() == "http"
        && b.scheme() == "http"
        && is_loopback_host(a.host_str().unwrap_or(""))
        && a.host_str() == b.host_str()
        && a.path() == b.path()
        && a.query() == b.query()
        && a.fragment().is_none()
        && b.fragment().is_none()
        && a.username() == b.username()
        && b.password().is_none()
}

/// `127.0.0.1`, `[::1]` or `localhost`.
pub fn is_loopback_host(host: &str) -> bool {
    matches!(host, "127.0.0.1" | "[::1]" | "::1" | "localhost")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn loopback_redirects_may_change_port_only() {
        assert!(redirect_matches(
            "https://a.example/cb",
            "https://a.example/cb"
        ));
        assert!(!redirect_matches(
            "https://a.example/cb",
            "https://a.example/cb2"
        ));
        assert!(!redirect_matches(
            "https://a.example/cb",
            "https://a.example:8443/cb"
        ));
        assert!(redirect_matches(
            "http://127.0.0.1/cb",
            "http://127.0.0.1:53111/cb"
        ));
        assert!(redirect_matches(
            "http://localhost:3000/cb",
            "http://localhost:4000/cb"
        ));
        assert!(!redirect_matches(
            "http://127.0.0.1/cb",
            "http://127.0.0.1:5/other"
        ));
        assert!(!redirect_matches(
            "http://127.0.0.1/cb",
            "http://localhost:5/cb"
        ));
        assert!(!redirect_matches(
            "http://127.0.0.1/cb",
            "http://127.0.0.1:5/cb#x"
        ));
    }
}
