//! Personal API clients, roles, and token introspection.

use super::common::{self};
use crate::error::{ApiError, ApiResult};
use crate::extract::Body;
use crate::state::{Caller, Shared};
use axum::extract::{Path, State};
use axum::Json;
use chamberlain_auth::client_secret;
use chamberlain_model::principal::Role;
use chamberlain_model::user::PersonalClient;
use chamberlain_model::{new_id, Duration, Timestamp};
use chamberlain_store::repo::clients::ApiClient;
use chamberlain_store::{record, AuditCtx, Col, Filter, Store, StoreError};
use serde::Deserialize;
use serde_json::{json, Value};

/// `PersonalClientServiceCreateRequest`.
#[derive(Deserialize, Default)]
#[serde(rename_all = "camelCase", default, deny_unknown_fields)]
pub struct CreateClientRequest {
    allow_source_cidr: Vec<String>,
    display_name: String,
    expires: Option<Duration>,
    scoped_roles: Vec<String>,
}

/// What a new API client is for.
pub struct NewClient<'a> {
    /// The user the client acts as.
    pub user_id: &'a str,
    /// Shown in listings.
    pub display_name: &'a str,
    /// Created by the user for themselves (vs. by an administrator).
    pub personal: bool,
    /// When the client stops working, if ever.
    pub expires_at: Option<Timestamp>,
    /// Roles the client is narrowed to (empty: all of the user's roles).
    pub scoped_roles: Vec<String>,
    /// For a connector credential: the connector it may feed (and nothing else).
    pub connector: Option<chamberlain_model::principal::ConnectorScope>,
}

/// Mints a client and stores its public key. Returns the client and the secret, which is shown
/// once and never stored. `host` is the server's public host, embedded in the client id.
pub async fn mint_client(
    store: &Store,
    audit: &AuditCtx,
    host: &str,
    new: NewClient<'_>,
) -> Result<(ApiClient, String), StoreError> {
    let NewClient {
        user_id,
        display_name,
        personal,
        expires_at,
        scoped_roles,
        connector,
    } = new;
    let cred = client_secret::mint(host, if personal { "pcc" } else { "svc" });
    let now = Timestamp::now();
    let client = ApiClient {
        client: PersonalClient {
            id: new_id(),
            client_id: cred.client_id,
            user_id: user_id.to_string(),
            display_name: display_name.to_string(),
            scoped_roles,
            expires_time: expires_at,
            created_at: Some(now),
            updated_at: Some(now),
            ..Default::default()
        },
        public_key: cred.public_key,
        personal,
        connector,
    };
    chamberlain_store::write_tx!(store, audit, |tx| { tx.create(&client).await })?;
    Ok((client, cred.secret))
}

/// `POST /api/v1/iam/personal_clients`: a credential for the calling user.
pub async fn create_client(
    State(s): State<Shared>,
    caller: Caller,
    Body(r): Body<CreateClientRequest>,
) -> ApiResult<Json<Value>> {
    common::require_name("displayName", &r.display_name)?;
    if !r.allow_source_cidr.is_empty() {
        return Err(ApiError::new(
            crate::error::Code::Unimplemented,
            "allowSourceCidr is not supported yet; create the client without it",
        ));
    }
    for role in &r.scoped_roles {
        let parsed = Role::parse(role).ok_or_else(|| ApiError::invalid(format!("scopedRoles: `{role}` is not a role (use super-admin, app-admin, read-only-admin or basic-user)")))?;
        if !caller.principal.has(parsed) && parsed != Role::BasicUser {
            return Err(ApiError::denied(format!(
                "scopedRoles: you do not hold `{role}`, so a client of yours cannot either"
            )));
        }
    }
    let expires_at = match r.expires {
        Some(d) if d.seconds <= 0 => {
            return Err(ApiError::invalid(format!("expires `{d}` must be positive")))
        }
        Some(d) => Some(Timestamp::now().plus_seconds(d.seconds)),
        None => None,
    };
    let new = NewClient {
        user_id: caller.user_id(),
        display_name: r.display_name.trim(),
        personal: true,
        expires_at,
        scoped_roles: r.scoped_roles,
        connector: None,
    };
    let (client, secret) = mint_client(&s.store, &caller.audit(), &s.public_host(), new).await?;
    Ok(Json(
        json!({"client": client.client, "clientSecret": secret}),
    ))
}

async fn own_client(s: &crate::AppState, caller: &Caller, id: &str) -> ApiResult<ApiClient> {
    let c: ApiClient = common::load(s, "id", id).await?;
    if c.client.user_id != caller.user_id() {
        return Err(ApiError::not_found(format!(
            "personal client `{id}` was not found"
        )));
    }
    Ok(c)
}

/// `GET /api/v1/iam/personal_clients`: the caller's own clients.
pub async fn list_clients(State(s): State<Shared>, caller: Caller) -> ApiResult<Json<Value>> {
    let page = record::list::<ApiClient, _>(
        s.store.pool(),
        &[Filter::Eq(
            "user_id",
            Col::Text(caller.user_id().to_string()),
        )],
        false,
        &record::PageReq::first(100),
    )
    .await?;
    Ok(Json(
        json!({"list": page.items.into_iter().map(|c| c.client).collect::<Vec<_>>(), "nextPageToken": page.next_page_token}),
    ))
}

/// `GET /api/v1/iam/personal_clients/{id}`.
pub async fn get_client(
    State(s): State<Shared>,
    caller: Caller,
    Path(id): Path<String>,
) -> ApiResult<Json<Value>> {
    let c = own_client(&s, &caller, &id).await?;
    Ok(Json(json!({"client": c.client})))
}

/// `DELETE /api/v1/iam/personal_clients/{id}`: revokes at once; tokens it issued stop working
/// on their next use.
pub async fn delete_client(
    State(s): State<Shared>,
    caller: Caller,
    Path(id): Path<String>,
    Body(_): Body<Value>,
) -> ApiResult<Json<Value>> {
    own_client(&s, &caller, &id).await?;
    chamberlain_store::write_tx!(s.store, &caller.audit(), |tx| {
        tx.soft_delete::<ApiClient>(&id).await.map(|_| ())
    })?;
    Ok(Json(json!({})))
}

fn role_json(r: Role) -> Value {
    json!({"id": r.id(), "name": r.id(), "displayName": r.display_name(), "permissions": [], "serviceRoles": [], "systemBuiltin": true, "systemApiOnly": false, "createdAt": null, "updatedAt": null, "deletedAt": null})
}

/// `GET /api/v1/iam/roles`.
pub async fn list_roles(_caller: Caller) -> ApiResult<Json<Value>> {
    Ok(Json(
        json!({"list": Role::ALL.iter().map(|r| role_json(*r)).collect::<Vec<_>>(), "nextPageToken": ""}),
    ))
}

/// `GET /api/v1/auth/introspect`: who the token belongs to and their roles.
pub async fn introspect(caller: Caller) -> ApiResult<Json<Value>> {
    Ok(Json(json!({
        "userId": caller.principal.user_id,
        "principleId": caller.principal.client_id.clone().unwrap_or_default(),
        "roles": caller.principal.roles.iter().map(|r| r.id()).collect::<Vec<_>>(),
        "permissions": [],
        "features": [],
        "disabledModules": [],
        "tenantId": "",
        "deviceClientId": "",
    })))
}
