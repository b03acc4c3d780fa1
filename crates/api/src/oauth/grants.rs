//! The `authorization_code` and `refresh_token` grants of `POST /auth/v1/token` for AI
//! clients. Codes are single use (a replay revokes what was issued from the code); refresh
//! tokens rotate on every use (a replay of a rotated one revokes its whole family). Access
//! tokens are EdDSA JWTs bound to the MCP resource (`aud`), valid for an hour.

use crate::state::AppState;
use axum::http::{header, HeaderValue, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::Json;
use chamberlain_auth::password;
use chamberlain_model::user::UserStatus;
use chamberlain_model::Timestamp;
use chamberlain_store::repo::oauth::{self as repo, Grant, OAuthClient};
use chamberlain_store::AuditCtx;
use serde_json::json;

/// The token request's fields that these grants read.
#[derive(Clone, Debug, Default)]
pub struct TokenParams {
    /// `client_id` from the form.
    pub client_id: String,
    /// `client_secret` from the form.
    pub client_secret: String,
    /// HTTP Basic credentials, if sent.
    pub basic: Option<(String, String)>,
    /// The authorization code.
    pub code: String,
    /// The redirect URI the code was issued for.
    pub redirect_uri: String,
    /// PKCE verifier.
    pub code_verifier: String,
    /// The refresh token.
    pub refresh_token: String,
    /// RFC 8707 resource (optional; must match when sent).
    pub resource: String,
}

/// An OAuth error response.
pub fn error(status: StatusCode, error: &str, description: impl Into<String>) -> Response {
    let mut resp = (
        status,
        Json(json!({"error": error, "error_description": description.into()})),
    )
        .into_response();
    resp.headers_mut()
        .insert(header::CACHE_CONTROL, HeaderValue::from_static("no-store"));
    resp
}

fn invalid_grant(description: impl Into<String>) -> Response {
    error(StatusCode::BAD_REQUEST, "invalid_grant", description)
}

fn invalid_request(description: impl Into<String>) -> Response {
    error(StatusCode::BAD_REQUEST, "invalid_request", description)
}

fn unavailable() -> Response {
    error(
        StatusCode::SERVICE_UNAVAILABLE,
        "temporarily_unavailable",
        "the token could not be issued; retry",
    )
}

/// Authenticates the client at the token endpoint: public clients by client_id alone,
/// confidential ones by their secret (form or HTTP Basic), compared by digest in constant time.
async fn client(state: &AppState, p: &TokenParams) -> Result<OAuthClient, Response> {
    let (id, secret) = match &p.basic {
        Some((id, secret)) => {
            if !p.client_id.is_empty() && p.client_id != *id {
                return Err(invalid_request(
                    "client_id in the form differs from the one in the Authorization header",
                ));
            }
            (id.clone(), secret.clone())
        }
        None => (p.client_id.clone(), p.client_secret.clone()),
    };
    if id.is_empty() {
        return Err(invalid_request(
            "client_id is required (in the form, or in HTTP Basic authentication)",
        ));
    }
    let bad = |m: &str| error(StatusCode::UNAUTHORIZED, "invalid_client", m);
    let c = repo::client_by_client_id(&state.store, &id)
        .await
        .map_err(|_| unavailable())?
        .ok_or_else(|| {
            bad("unknown client_id; register the client again (dynamic client registration) or authorize with its client metadata document URL")
        })?;
    match (c.meta.token_endpoint_auth_method.as_str(), &c.secret_hash) {
        ("none", _) => {
            if !secret.is_empty() {
                return Err(bad(
                    "this client is registered as public (token_endpoint_auth_method none) and must not send a client secret",
                ));
            }
        }
        (_, Some(hash)) => {
            if secret.is_empty() {
                return Err(bad(
                    "this client must authenticate with its client secret (client_secret_post or client_secret_basic)",
                ));
            }
            if !password::ct_eq(&password::digest(&secret), hash) {
                return Err(bad("client authentication failed: wrong client secret"));
            }
        }
        (_, None) => return Err(bad("client authentication failed")),
    }
    Ok(c)
}

fn resource_ok(state: &AppState, p: &TokenParams) -> Result<(), Response> {
    if !p.resource.is_empty() && !super::is_mcp_resource(state, &p.resource) {
        return Err(error(
            StatusCode::BAD_REQUEST,
            "invalid_target",
            format!(
                "resource `{}` does not match the resource this grant is for ({})",
                p.resource,
                super::mcp_resource(state)
            ),
        ));
    }
    Ok(())
}

enum Outcome {
    Issued(Grant, String),
    Refused(String),
    Replayed(String),
}

fn ctx(p_client: &str, user: &str) -> AuditCtx {
    AuditCtx {
        actor_user_id: user.to_string(),
        actor_client_id: p_client.to_string(),
        request_id: crate::error::current_request_id(),
    }
}

async fn issue(state: &AppState, grant: &Grant, refresh: &str) -> Response {
    let now = Timestamp::now().unix_seconds();
    let ttl = match super::cached_settings(state).await {
        Ok(s) => s.access_token_secs(),
        Err(e) => {
            tracing::error!(error = %e, "loading AI governance settings failed");
            chamberlain_model::ai_governance::AiGovernanceSettings::DEFAULT_ACCESS_TOKEN_SECS
        }
    };
    let access = state.issuer.issue_for_resource(
        &grant.user_id,
        &grant.client_id,
        &grant.resource,
        &grant.scope,
        ttl,
        now,
    );
    let mut resp = Json(json!({
        "access_token": access,
        "token_type": "Bearer",
        "expires_in": ttl,
        "refresh_token": refresh,
        "scope": grant.scope,
    }))
    .into_response();
    resp.headers_mut()
        .insert(header::CACHE_CONTROL, HeaderValue::from_static("no-store"));
    resp.headers_mut()
        .insert(header::PRAGMA, HeaderValue::from_static("no-cache"));
    resp
}

/// Whether the user's authorization of the client still allows tokens.
async fn still_authorized(
    state: &AppState,
    user_id: &str,
    client_id: &str,
) -> Result<(), Response> {
    let check = repo::mcp_check(&state.store, user_id, client_id, &[])
        .await
        .map_err(|_| unavailable())?;
    match check {
        Some(c) if c.user_status != UserStatus::Enabled.as_str() => {
            Err(invalid_grant("this user is disabled or deleted"))
        }
        Some(c) if c.authorization.state == repo::ACTIVE || c.authorization.state == repo::HIDDEN => {
            Ok(())
        }
        Some(_) => Err(invalid_grant(
            "this AI client's connection was closed (inactivity, the user or an administrator); authorize again",
        )),
        None => Err(invalid_grant("this AI client is not authorized for this user; authorize again")),
    }
}

/// `grant_type=authorization_code`.
pub async fn authorization_code(state: &AppState, p: &TokenParams) -> Response {
    let c = match client(state, p).await {
        Ok(c) => c,
        Err(r) => return r,
    };
    for (name, v) in [
        ("code", &p.code),
        ("redirect_uri", &p.redirect_uri),
        ("code_verifier", &p.code_verifier),
    ] {
        if v.is_empty() {
            return invalid_request(format!(
                "{name} is required for grant_type=authorization_code"
            ));
        }
    }
    if let Err(r) = resource_ok(state, p) {
        return r;
    }
    if c.killed {
        return invalid_grant("this AI client has been switched off by an administrator");
    }
    let code_hash = password::digest(&p.code);
    let refresh = password::random_token(32);
    let refresh_hash = password::digest(&refresh);
    let audit = ctx(&c.client_id, "");
    let now = Timestamp::now();
    let outcome = chamberlain_store::write_tx!(state.store, &audit, |tx| {
        let Some(code) = repo::code_by_hash(tx, &code_hash).await? else {
            return Ok(Outcome::Refused(
                "the authorization code is not valid (unknown or already removed); authorize again"
                    .into(),
            ));
        };
        if code.grant.client_id != c.client_id {
            return Ok(Outcome::Refused(
                "the authorization code was issued to another client".into(),
            ));
        }
        if code.used_at.is_some() {
            repo::revoke_family(
                tx,
                &code.grant.family_id,
                &code.grant.user_id,
                &code.grant.client_id,
                "authorization code reused",
            )
            .await?;
            return Ok(Outcome::Replayed(
                "the authorization code was already used; the tokens issued from it have been revoked".into(),
            ));
        }
        if code.expires_at <= now.as_micros() {
            return Ok(Outcome::Refused(format!(
                "the authorization code has expired (codes are valid for {} s); authorize again",
                super::CODE_TTL_SECS
            )));
        }
        if code.redirect_uri != p.redirect_uri {
            return Ok(Outcome::Refused(
                "redirect_uri does not match the one the authorization code was issued for".into(),
            ));
        }
        if !password::pkce_s256_matches(&p.code_verifier, &code.code_challenge) {
            return Ok(Outcome::Refused(
                "code_verifier does not match the code_challenge (PKCE S256): send the verifier this authorization request was made with".into(),
            ));
        }
        if !p.resource.is_empty() && !super::is_mcp_resource(state, &code.grant.resource) {
            return Ok(Outcome::Refused(
                "resource does not match the authorization code's resource".into(),
            ));
        }
        if !repo::use_code(tx, &code.id).await? {
            // Another request exchanged it meanwhile: a replay as well.
            repo::revoke_family(
                tx,
                &code.grant.family_id,
                &code.grant.user_id,
                &code.grant.client_id,
                "authorization code reused",
            )
            .await?;
            return Ok(Outcome::Replayed(
                "the authorization code was already used; the tokens issued from it have been revoked".into(),
            ));
        }
        let expires = tx.now().plus_seconds(super::REFRESH_TOKEN_TTL_SECS);
        repo::insert_refresh(tx, &refresh_hash, &code.grant, expires).await?;
        Ok(Outcome::Issued(code.grant.clone(), refresh.clone()))
    });
    finish(state, outcome).await
}

async fn finish(
    state: &AppState,
    outcome: Result<Outcome, chamberlain_store::StoreError>,
) -> Response {
    match outcome {
        Ok(Outcome::Issued(grant, refresh)) => {
            if let Err(r) = still_authorized(state, &grant.user_id, &grant.client_id).await {
                return r;
            }
            issue(state, &grant, &refresh).await
        }
        Ok(Outcome::Refused(m)) | Ok(Outcome::Replayed(m)) => invalid_grant(m),
        Err(e) => {
            tracing::error!(error = %e, "token grant failed");
            unavailable()
        }
    }
}

/// `grant_type=refresh_token`.
pub async fn refresh_token(state: &AppState, p: &TokenParams) -> Response {
    match super::cached_settings(state).await {
        Ok(s) if !s.enabled => {
            return invalid_grant(
                "AI access (MCP traffic) is disabled for this organization by an administrator",
            )
        }
        Ok(_) => {}
        Err(_) => return unavailable(),
    }
    let c = match client(state, p).await {
        Ok(c) => c,
        Err(r) => return r,
    };
    if p.refresh_token.is_empty() {
        return invalid_request("refresh_token is required for grant_type=refresh_token");
    }
    if let Err(r) = resource_ok(state, p) {
        return r;
    }
    let hash = password::digest(&p.refresh_token);
    let next = password::random_token(32);
    let next_hash = password::digest(&next);
    let audit = ctx(&c.client_id, "");
    let now = Timestamp::now();
    let outcome = chamberlain_store::write_tx!(state.store, &audit, |tx| {
        let Some(r) = repo::refresh_by_hash(tx, &hash).await? else {
            return Ok(Outcome::Refused(
                "the refresh token is not valid (unknown or expired); authorize again".into(),
            ));
        };
        if r.grant.client_id != c.client_id {
            return Ok(Outcome::Refused(
                "the refresh token was issued to another client".into(),
            ));
        }
        if r.revoked_at.is_some() {
            return Ok(Outcome::Refused(
                "the refresh token was revoked; authorize again".into(),
            ));
        }
        let replay = r.used_at.is_some() || !repo::use_refresh(tx, &r.id).await?;
        if replay {
            repo::revoke_family(
                tx,
                &r.grant.family_id,
                &r.grant.user_id,
                &r.grant.client_id,
                "refresh token reused",
            )
            .await?;
            return Ok(Outcome::Replayed(
                "the refresh token was already used (refresh tokens rotate on every use); all tokens of this authorization have been revoked, authorize again".into(),
            ));
        }
        if r.expires_at <= now.as_micros() {
            return Ok(Outcome::Refused(
                "the refresh token has expired; authorize again".into(),
            ));
        }
        let grant = Grant {
            family_id: r.grant.family_id.clone(),
            ..r.grant.clone()
        };
        let expires = tx.now().plus_seconds(super::REFRESH_TOKEN_TTL_SECS);
        repo::insert_refresh(tx, &next_hash, &grant, expires).await?;
        Ok(Outcome::Issued(grant, next.clone()))
    });
    finish(state, outcome).await
}
