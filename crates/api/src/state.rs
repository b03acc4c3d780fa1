//! Shared server state, the authenticated caller, and the authentication middleware that
//! resolves every `/api/v1` request's bearer token against the current database state.

use crate::error::ApiError;
use crate::metrics::Metrics;
use axum::extract::{Request, State};
use axum::middleware::Next;
use axum::response::Response;
use chamberlain_auth::crypto::SecretBox;
use chamberlain_auth::tokens::TokenIssuer;
use chamberlain_model::principal::{Principal, Role};
use chamberlain_model::user::UserStatus;
use chamberlain_store::repo::clients;
use chamberlain_store::{AuditCtx, Store};
use std::sync::Arc;

/// Everything handlers need.
pub struct AppState {
    /// Storage.
    pub store: Store,
    /// Access token issuer and verifier.
    pub issuer: TokenIssuer,
    /// Encryption of secrets at rest.
    pub secrets: SecretBox,
    /// The server's public base URL (token issuer, client id host).
    pub public_url: String,
    /// Host names a client assertion's `aud` may name.
    pub audiences: Vec<String>,
    /// Request metrics.
    pub metrics: Metrics,
    /// Background work: connector files, leases, polling.
    pub jobs: crate::worker::JobSettings,
    /// The MCP gateway (registry index, downstream clients, audit).
    pub gateway: Arc<chamberlain_gateway::Gateway>,
}

/// Shared handle to [`AppState`].
pub type Shared = Arc<AppState>;

impl AppState {
    /// The host part of the public URL (with port), used in client ids.
    pub fn public_host(&self) -> String {
        let rest = self
            .public_url
            .split("://")
            .nth(1)
            .unwrap_or(&self.public_url);
        rest.split('/').next().unwrap_or(rest).to_string()
    }
}

/// A principal already authenticated in this process (the web pages' signed-in user, resolved
/// from their session cookie on this request). Only code in the process can attach it to a
/// request, so [`authenticate`] trusts it in place of a bearer token.
#[derive(Clone, Debug)]
pub struct InProcessPrincipal(pub Principal);

/// The authenticated caller of a request, with the request id for auditing.
#[derive(Clone, Debug)]
pub struct Caller {
    /// Who is calling and their current roles.
    pub principal: Principal,
    /// The request id.
    pub request_id: String,
}

impl Caller {
    /// Audit context for changes made by this caller.
    pub fn audit(&self) -> AuditCtx {
        AuditCtx {
            actor_user_id: self.principal.user_id.clone(),
            actor_client_id: self.principal.client_id.clone().unwrap_or_default(),
            request_id: self.request_id.clone(),
        }
    }
    /// The caller's user id.
    pub fn user_id(&self) -> &str {
        &self.principal.user_id
    }
}

/// Resolves the bearer token to a [`Caller`] or refuses the request with 401.
pub async fn authenticate(
    State(state): State<Shared>,
    mut req: Request,
    next: Next,
) -> Result<Response, ApiError> {
    if let Some(InProcessPrincipal(principal)) = req.extensions_mut().remove() {
        let request_id = crate::error::current_request_id();
        req.extensions_mut().insert(Caller {
            principal,
            request_id,
        });
        return Ok(next.run(req).await);
    }
    let header = req
        .headers()
        .get(axum::http::header::AUTHORIZATION)
        .and_then(|v| v.to_str().ok())
        .unwrap_or("");
    let token = header
        .strip_prefix("Bearer ")
        .or_else(|| header.strip_prefix("bearer "))
        .map(str::trim)
        .filter(|t| !t.is_empty())
        .ok_or_else(|| ApiError::unauthenticated("missing `Authorization: Bearer <token>` header; get a token from POST /auth/v1/token"))?;
    let now = chamberlain_model::Timestamp::now().unix_seconds();
    let claims = state
        .issuer
        .verify(token, now)
        .map_err(|e| ApiError::unauthenticated(format!("invalid access token: {e}")))?;
    if !claims.aud.is_empty() {
        return Err(ApiError::unauthenticated(format!(
            "this access token is bound to the resource `{}` and cannot call the API; get an API token from POST /auth/v1/token",
            claims.aud
        )));
    }
    let principal = resolve_principal(&state, &claims.sub, &claims.client_id).await?;
    if let Some(scope) = &principal.connector {
        if !crate::authz::connector_may_call(scope, req.method(), req.uri().path()) {
            return Err(ApiError::denied(format!(
                "this is a credential of connector `{}`; it may only upload that connector's syncs (POST /api/v1/apps/{}/connectors/{}/c1z or /file) and read its sync runs",
                scope.connector_id, scope.app_id, scope.connector_id
            )));
        }
    }
    let request_id = crate::error::current_request_id();
    req.extensions_mut().insert(Caller {
        principal,
        request_id,
    });
    Ok(next.run(req).await)
}

/// The principal of a token from the device authorization grant (`chamberlain login`): there
/// is no stored client, so the user alone decides (enabled, with their current roles).
async fn cli_principal(state: &AppState, user_id: &str) -> Result<Principal, ApiError> {
    let user: Option<chamberlain_model::user::User> =
        chamberlain_store::record::get(state.store.pool(), user_id, false).await?;
    let Some(user) = user else {
        return Err(ApiError::unauthenticated(
            "the user behind this token no longer exists",
        ));
    };
    if user.status == UserStatus::Disabled || user.status == UserStatus::Deleted {
        return Err(ApiError::unauthenticated("this user is disabled"));
    }
    let mut roles: Vec<Role> = user
        .role_ids
        .iter()
        .filter_map(|r| Role::parse(r))
        .collect();
    if roles.is_empty() {
        roles.push(Role::BasicUser);
    }
    Ok(Principal {
        user_id: user.id,
        client_id: Some(crate::oauth::device::CLI_CLIENT_ID.to_string()),
        roles,
        connector: None,
    })
}

/// Looks up the user and client behind a token now, so a revoked client, a disabled user or a
/// removed role takes effect on the very next request.
pub async fn resolve_principal(
    state: &AppState,
    user_id: &str,
    client_id: &str,
) -> Result<Principal, ApiError> {
    let revoked =
        || ApiError::unauthenticated("the credential behind this token was revoked or has expired");
    if client_id == crate::oauth::device::CLI_CLIENT_ID {
        return cli_principal(state, user_id).await;
    }
    let creds = clients::credentials(&state.store, client_id)
        .await?
        .ok_or_else(revoked)?;
    if creds.user_id != user_id {
        return Err(revoked());
    }
    if creds.user_status == UserStatus::Disabled.as_str()
        || creds.user_status == UserStatus::Deleted.as_str()
    {
        return Err(ApiError::unauthenticated("this user is disabled"));
    }
    let mut roles: Vec<Role> = creds.roles.iter().filter_map(|r| Role::parse(r)).collect();
    // A personal client may be narrowed to a subset of its owner's roles (`scopedRoles`).
    if !creds.scoped_roles.is_empty() {
        let scoped: Vec<Role> = creds
            .scoped_roles
            .iter()
            .filter_map(|r| Role::parse(r))
            .collect();
        roles.retain(|r| scoped.contains(r));
    }
    if roles.is_empty() {
        roles.push(Role::BasicUser);
    }
    Ok(Principal {
        user_id: creds.user_id,
        client_id: Some(client_id.to_string()),
        roles,
        connector: creds.connector,
    })
}
