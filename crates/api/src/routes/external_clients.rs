//! AI clients of the MCP gateway as C1 reports them (`ExternalClientInfo`, one per user and
//! client): `POST /api/v1/search/iam/external_clients` (C1), and Chamberlain's extensions for a
//! user's own connections (list, revoke) and an admin's per-client controls (close one user's
//! connection, switch a client off for everyone, switch it back on).

use super::common;
use crate::authz;
use crate::error::{ApiError, ApiResult};
use crate::extract::Body;
use crate::state::{Caller, Shared};
use axum::extract::{Path, State};
use axum::Json;
use chamberlain_model::ai_governance::{ExternalClientInfo, WellKnownClient};
use chamberlain_store::repo::oauth::{self as repo, ExternalClientQuery};
use serde::Deserialize;
use serde_json::{json, Value};

/// `c1.api.user.v1.UserRef`.
#[derive(Deserialize, Default)]
#[serde(default, deny_unknown_fields)]
pub struct UserRef {
    id: String,
}

/// `ExternalClientSearchServiceSearchRequest`.
#[derive(Deserialize, Default)]
#[serde(rename_all = "camelCase", default, deny_unknown_fields)]
pub struct SearchRequest {
    query: String,
    users: Option<Vec<UserRef>>,
    well_known_clients: Option<Vec<String>>,
    client_id_urls: Option<Vec<String>>,
    page_size: Option<i64>,
    page_token: String,
}

/// `POST /api/v1/search/iam/external_clients`: admins see every user's clients; anyone else
/// sees only their own.
pub async fn search(
    State(s): State<Shared>,
    caller: Caller,
    Body(req): Body<SearchRequest>,
) -> ApiResult<Json<Value>> {
    let mut user_ids: Vec<String> = req
        .users
        .unwrap_or_default()
        .into_iter()
        .map(|u| u.id)
        .collect();
    for id in &user_ids {
        common::check_id("users[].id", id)?;
    }
    if !caller.principal.can_read_all() {
        if user_ids.iter().any(|u| u != caller.user_id()) {
            return Err(ApiError::denied(
                "you may only search your own AI clients; leave `users` empty or name only yourself",
            ));
        }
        user_ids = vec![caller.user_id().to_string()];
    }
    let well_known = req.well_known_clients.unwrap_or_default();
    for w in &well_known {
        if WellKnownClient::parse(w).is_none() {
            return Err(ApiError::invalid(format!(
                "wellKnownClients: `{w}` is not a WELL_KNOWN_CLIENT_* value (e.g. WELL_KNOWN_CLIENT_CLAUDE_CODE)"
            )));
        }
    }
    let page = common::body_page(req.page_size, &req.page_token)?;
    let q = ExternalClientQuery {
        query: req.query,
        user_ids,
        well_known,
        client_ids: req.client_id_urls.unwrap_or_default(),
        include_deleted: false,
    };
    let found = repo::search_external(&s.store, &q, &page).await?;
    Ok(Json(common::list_json(found)))
}

async fn info(s: &Shared, user_id: &str, client_id: &str) -> ApiResult<ExternalClientInfo> {
    let q = ExternalClientQuery {
        user_ids: vec![user_id.to_string()],
        client_ids: vec![client_id.to_string()],
        include_deleted: true,
        ..Default::default()
    };
    repo::search_external(&s.store, &q, &chamberlain_store::record::PageReq::first(10))
        .await?
        .items
        .pop()
        .ok_or_else(|| ApiError::not_found("this AI client connection was not found"))
}

async fn client(s: &Shared, mcp_client_id: &str) -> ApiResult<repo::OAuthClient> {
    common::check_id("mcp_client_id", mcp_client_id)?;
    repo::client_by_id(&s.store, mcp_client_id)
        .await?
        .ok_or_else(|| ApiError::not_found(format!("AI client `{mcp_client_id}` was not found")))
}

/// `GET /api/v1/iam/external_clients/self` (extension): the caller's own AI connections.
pub async fn list_own(State(s): State<Shared>, caller: Caller) -> ApiResult<Json<Value>> {
    let q = ExternalClientQuery {
        user_ids: vec![caller.user_id().to_string()],
        ..Default::default()
    };
    let page = repo::search_external(
        &s.store,
        &q,
        &chamberlain_store::record::PageReq::first(100),
    )
    .await?;
    Ok(Json(common::list_json(page)))
}

async fn close_for(
    s: &Shared,
    caller: &Caller,
    user_id: &str,
    mcp_client_id: &str,
) -> ApiResult<Json<Value>> {
    let c = client(s, mcp_client_id).await?;
    let check = repo::mcp_check(&s.store, user_id, &c.client_id, &[])
        .await?
        .ok_or_else(|| {
            ApiError::not_found(format!(
                "user `{user_id}` has not authorized AI client `{mcp_client_id}`"
            ))
        })?;
    let a = check.authorization;
    if a.state != repo::CLOSED && a.state != repo::DELETED {
        chamberlain_store::write_tx!(s.store, &caller.audit(), |tx| {
            repo::set_state(tx, &a, repo::CLOSED).await.map(|_| ())
        })?;
    }
    let info = info(s, user_id, &c.client_id).await?;
    Ok(Json(json!({ "externalClientInfo": info })))
}

/// `POST /api/v1/iam/external_clients/self/{mcp_client_id}/revoke` (extension): closes the
/// caller's own connection of that client; its tokens stop working at once.
pub async fn revoke_own(
    State(s): State<Shared>,
    caller: Caller,
    Path(mcp_client_id): Path<String>,
    Body(_): Body<Value>,
) -> ApiResult<Json<Value>> {
    let user = caller.user_id().to_string();
    close_for(&s, &caller, &user, &mcp_client_id).await
}

/// `POST /api/v1/iam/external_clients/{mcp_client_id}/users/{user_id}/close` (extension,
/// Super Admin): closes one user's connection of the client.
pub async fn close_user(
    State(s): State<Shared>,
    caller: Caller,
    Path((mcp_client_id, user_id)): Path<(String, String)>,
    Body(_): Body<Value>,
) -> ApiResult<Json<Value>> {
    authz::require_super_admin(&caller)?;
    common::check_id("user_id", &user_id)?;
    close_for(&s, &caller, &user_id, &mcp_client_id).await
}

async fn set_killed(
    s: &Shared,
    caller: &Caller,
    mcp_client_id: &str,
    killed: bool,
) -> ApiResult<Json<Value>> {
    authz::require_super_admin(caller)?;
    let c = client(s, mcp_client_id).await?;
    if c.killed != killed {
        chamberlain_store::write_tx!(s.store, &caller.audit(), |tx| {
            repo::set_killed(tx, &c.id, killed).await.map(|_| ())
        })?;
    }
    Ok(Json(json!({
        "mcpClientId": c.id,
        "clientId": c.client_id,
        "clientName": c.meta.client_name,
        "killed": killed,
    })))
}

/// `POST /api/v1/iam/external_clients/{mcp_client_id}/kill` (extension, Super Admin): switches
/// the client off for everyone: every user's connection is closed and new authorizations are
/// refused until it is reopened.
pub async fn kill(
    State(s): State<Shared>,
    caller: Caller,
    Path(mcp_client_id): Path<String>,
    Body(_): Body<Value>,
) -> ApiResult<Json<Value>> {
    set_killed(&s, &caller, &mcp_client_id, true).await
}

/// `POST /api/v1/iam/external_clients/{mcp_client_id}/reopen` (extension, Super Admin): lifts
/// the switch; users authorize the client again to reconnect.
pub async fn reopen(
    State(s): State<Shared>,
    caller: Caller,
    Path(mcp_client_id): Path<String>,
    Body(_): Body<Value>,
) -> ApiResult<Json<Value>> {
    set_killed(&s, &caller, &mcp_client_id, false).await
}
