//! Owners of apps, entitlements and resources (`AppOwners`, `AppEntitlementOwners`,
//! `AppResourceOwners`).

use super::common;
use crate::authz;
use crate::error::{ApiError, ApiResult};
use crate::extract::{Body, Paging};
use crate::state::{AppState, Caller, Shared};
use axum::extract::{Path, State};
use axum::Json;
use chamberlain_model::user::User;
use chamberlain_store::page::{clamp_page_size, Page};
use chamberlain_store::record;
use chamberlain_store::repo::owners::{self, OwnedKind};
use serde::Deserialize;
use serde_json::{json, Value};

/// Bodies of the owner calls: `{userIds}` or `{userId}`, depending on the call.
#[derive(Deserialize, Default)]
#[serde(rename_all = "camelCase", default, deny_unknown_fields)]
pub struct OwnersBody {
    user_ids: Vec<String>,
    user_id: String,
}

async fn owner_users(s: &AppState, kind: OwnedKind, id: &str, paging: &Paging) -> ApiResult<Value> {
    let ids = owners::list(&s.store, kind, id).await?;
    let size = clamp_page_size(paging.page_size) as usize;
    let start = if paging.page_token.is_empty() {
        0
    } else {
        chamberlain_store::page::decode("owners", &paging.page_token)
            .map_err(ApiError::invalid)?
            .parse::<usize>()
            .map_err(|_| ApiError::invalid("page_token is not a token this list returned"))?
    };
    let mut users = Vec::new();
    for uid in ids.iter().skip(start).take(size) {
        if let Some(u) = record::get::<User, _>(s.store.pool(), uid, false).await? {
            users.push(u);
        }
    }
    let next = if start + size < ids.len() {
        chamberlain_store::page::encode("owners", &(start + size).to_string())
    } else {
        String::new()
    };
    Ok(common::list_json(Page {
        items: users,
        next_page_token: next,
    }))
}

async fn target(s: &AppState, kind: OwnedKind, ids: &[String]) -> ApiResult<String> {
    match kind {
        OwnedKind::App => Ok(common::app(s, &ids[0]).await?.id),
        OwnedKind::Entitlement => Ok(common::entitlement(s, &ids[0], &ids[1]).await?.id),
        OwnedKind::Resource => Ok(common::resource(s, &ids[0], &ids[1], &ids[2]).await?.id),
    }
}

async fn change(
    s: &AppState,
    caller: &Caller,
    kind: OwnedKind,
    path: &[String],
    op: Op,
) -> ApiResult<Json<Value>> {
    common::check_id("app_id", &path[0])?;
    authz::require_app_write(s, caller, &path[0]).await?;
    let object_id = target(s, kind, path).await?;
    match &op {
        Op::Set(ids) | Op::Add(ids) => common::users_exist(s, ids).await?,
        Op::Remove(ids) => {
            for id in ids {
                common::check_id("userId", id)?;
            }
        }
    }
    chamberlain_store::write_tx!(s.store, &caller.audit(), |tx| {
        match &op {
            Op::Set(ids) => owners::set(tx, kind, &object_id, ids).await,
            Op::Add(ids) => {
                for id in ids {
                    owners::add(tx, kind, &object_id, id).await?;
                }
                Ok(())
            }
            Op::Remove(ids) => owners::remove(tx, kind, &object_id, ids).await,
        }
    })?;
    Ok(Json(json!({})))
}

enum Op {
    Set(Vec<String>),
    Add(Vec<String>),
    Remove(Vec<String>),
}

fn one_user(b: &OwnersBody, from_path: Option<&String>) -> ApiResult<Vec<String>> {
    let id = from_path.cloned().unwrap_or_else(|| b.user_id.clone());
    if id.is_empty() {
        return Err(ApiError::invalid("userId is required"));
    }
    Ok(vec![id])
}

/// `GET /api/v1/apps/{app_id}/owners`.
pub async fn app_list(
    State(s): State<Shared>,
    caller: Caller,
    Path(app_id): Path<String>,
    paging: Paging,
) -> ApiResult<Json<Value>> {
    authz::require_read(&caller)?;
    let id = common::app(&s, &app_id).await?.id;
    Ok(Json(owner_users(&s, OwnedKind::App, &id, &paging).await?))
}
/// `GET /api/v1/apps/{app_id}/ownerids`.
pub async fn app_ids(
    State(s): State<Shared>,
    caller: Caller,
    Path(app_id): Path<String>,
) -> ApiResult<Json<Value>> {
    authz::require_read(&caller)?;
    let id = common::app(&s, &app_id).await?.id;
    Ok(Json(
        json!({"userIds": owners::list(&s.store, OwnedKind::App, &id).await?}),
    ))
}
/// `PUT /api/v1/apps/{app_id}/owners`.
pub async fn app_set(
    State(s): State<Shared>,
    caller: Caller,
    Path(app_id): Path<String>,
    Body(b): Body<OwnersBody>,
) -> ApiResult<Json<Value>> {
    change(&s, &caller, OwnedKind::App, &[app_id], Op::Set(b.user_ids)).await
}
/// `DELETE /api/v1/apps/{app_id}/owners` with `{userIds}`.
pub async fn app_delete(
    State(s): State<Shared>,
    caller: Caller,
    Path(app_id): Path<String>,
    Body(b): Body<OwnersBody>,
) -> ApiResult<Json<Value>> {
    change(
        &s,
        &caller,
        OwnedKind::App,
        &[app_id],
        Op::Remove(b.user_ids),
    )
    .await
}
/// `POST /api/v1/apps/{app_id}/owners/{user_id}`.
pub async fn app_add(
    State(s): State<Shared>,
    caller: Caller,
    Path((app_id, user_id)): Path<(String, String)>,
    Body(b): Body<OwnersBody>,
) -> ApiResult<Json<Value>> {
    change(
        &s,
        &caller,
        OwnedKind::App,
        &[app_id],
        Op::Add(one_user(&b, Some(&user_id))?),
    )
    .await
}
/// `DELETE /api/v1/apps/{app_id}/owners/{user_id}`.
pub async fn app_remove(
    State(s): State<Shared>,
    caller: Caller,
    Path((app_id, user_id)): Path<(String, String)>,
    Body(b): Body<OwnersBody>,
) -> ApiResult<Json<Value>> {
    change(
        &s,
        &caller,
        OwnedKind::App,
        &[app_id],
        Op::Remove(one_user(&b, Some(&user_id))?),
    )
    .await
}

/// `GET …/entitlements/{entitlement_id}/owners`.
pub async fn ent_list(
    State(s): State<Shared>,
    caller: Caller,
    Path((app_id, id)): Path<(String, String)>,
    paging: Paging,
) -> ApiResult<Json<Value>> {
    authz::require_read(&caller)?;
    let id = common::entitlement(&s, &app_id, &id).await?.id;
    Ok(Json(
        owner_users(&s, OwnedKind::Entitlement, &id, &paging).await?,
    ))
}
/// `GET …/entitlements/{entitlement_id}/ownerids`.
pub async fn ent_ids(
    State(s): State<Shared>,
    caller: Caller,
    Path((app_id, id)): Path<(String, String)>,
) -> ApiResult<Json<Value>> {
    authz::require_read(&caller)?;
    let id = common::entitlement(&s, &app_id, &id).await?.id;
    Ok(Json(
        json!({"userIds": owners::list(&s.store, OwnedKind::Entitlement, &id).await?}),
    ))
}
/// `POST …/entitlements/{entitlement_id}/owners` with `{userId}`.
pub async fn ent_add(
    State(s): State<Shared>,
    caller: Caller,
    Path((app_id, id)): Path<(String, String)>,
    Body(b): Body<OwnersBody>,
) -> ApiResult<Json<Value>> {
    change(
        &s,
        &caller,
        OwnedKind::Entitlement,
        &[app_id, id],
        Op::Add(one_user(&b, None)?),
    )
    .await
}
/// `PUT …/entitlements/{entitlement_id}/owners` with `{userIds}`.
pub async fn ent_set(
    State(s): State<Shared>,
    caller: Caller,
    Path((app_id, id)): Path<(String, String)>,
    Body(b): Body<OwnersBody>,
) -> ApiResult<Json<Value>> {
    change(
        &s,
        &caller,
        OwnedKind::Entitlement,
        &[app_id, id],
        Op::Set(b.user_ids),
    )
    .await
}
/// `DELETE …/entitlements/{entitlement_id}/owners`: removes every owner.
pub async fn ent_delete(
    State(s): State<Shared>,
    caller: Caller,
    Path((app_id, id)): Path<(String, String)>,
    Body(_): Body<OwnersBody>,
) -> ApiResult<Json<Value>> {
    change(
        &s,
        &caller,
        OwnedKind::Entitlement,
        &[app_id, id],
        Op::Set(vec![]),
    )
    .await
}
/// `DELETE …/entitlements/{entitlement_id}/owners/{user_id}`.
pub async fn ent_remove(
    State(s): State<Shared>,
    caller: Caller,
    Path((app_id, id, user_id)): Path<(String, String, String)>,
    Body(b): Body<OwnersBody>,
) -> ApiResult<Json<Value>> {
    change(
        &s,
        &caller,
        OwnedKind::Entitlement,
        &[app_id, id],
        Op::Remove(one_user(&b, Some(&user_id))?),
    )
    .await
}

/// `GET …/resource/{resource_id}/owners`.
pub async fn res_list(
    State(s): State<Shared>,
    caller: Caller,
    Path((a, t, r)): Path<(String, String, String)>,
    paging: Paging,
) -> ApiResult<Json<Value>> {
    authz::require_read(&caller)?;
    let id = common::resource(&s, &a, &t, &r).await?.id;
    Ok(Json(
        owner_users(&s, OwnedKind::Resource, &id, &paging).await?,
    ))
}
/// `GET …/resource/{resource_id}/ownerids`.
pub async fn res_ids(
    State(s): State<Shared>,
    caller: Caller,
    Path((a, t, r)): Path<(String, String, String)>,
) -> ApiResult<Json<Value>> {
    authz::require_read(&caller)?;
    let id = common::resource(&s, &a, &t, &r).await?.id;
    Ok(Json(
        json!({"userIds": owners::list(&s.store, OwnedKind::Resource, &id).await?}),
    ))
}
/// `POST …/resource/{resource_id}/owners` with `{userId}`.
pub async fn res_add(
    State(s): State<Shared>,
    caller: Caller,
    Path((a, t, r)): Path<(String, String, String)>,
    Body(b): Body<OwnersBody>,
) -> ApiResult<Json<Value>> {
    change(
        &s,
        &caller,
        OwnedKind::Resource,
        &[a, t, r],
        Op::Add(one_user(&b, None)?),
    )
    .await
}
/// `PUT …/resource/{resource_id}/owners` with `{userIds}`.
pub async fn res_set(
    State(s): State<Shared>,
    caller: Caller,
    Path((a, t, r)): Path<(String, String, String)>,
    Body(b): Body<OwnersBody>,
) -> ApiResult<Json<Value>> {
    change(
        &s,
        &caller,
        OwnedKind::Resource,
        &[a, t, r],
        Op::Set(b.user_ids),
    )
    .await
}
/// `DELETE …/resource/{resource_id}/owners` with `{userId}`.
pub async fn res_remove(
    State(s): State<Shared>,
    caller: Caller,
    Path((a, t, r)): Path<(String, String, String)>,
    Body(b): Body<OwnersBody>,
) -> ApiResult<Json<Value>> {
    change(
        &s,
        &caller,
        OwnedKind::Resource,
        &[a, t, r],
        Op::Remove(one_user(&b, None)?),
    )
    .await
}
/// `DELETE …/resource/{resource_id}/ownerids`: removes every owner.
pub async fn res_delete(
    State(s): State<Shared>,
    caller: Caller,
    Path((a, t, r)): Path<(String, String, String)>,
    Body(_): Body<OwnersBody>,
) -> ApiResult<Json<Value>> {
    change(
        &s,
        &caller,
        OwnedKind::Resource,
        &[a, t, r],
        Op::Set(vec![]),
    )
    .await
}
