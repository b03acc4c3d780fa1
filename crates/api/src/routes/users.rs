//! `c1.api.user.v1.UserService`: users are read-only over the API, as in C1 (they come from
//! directories; the admin CLI can create local ones).

use super::common::{self, page_req};
use crate::authz;
use crate::error::ApiResult;
use crate::extract::Paging;
use crate::state::{Caller, Shared};
use axum::extract::{Path, State};
use axum::Json;
use chamberlain_model::user::User;
use chamberlain_store::record;
use serde_json::{json, Value};

/// A `UserView` without expansions.
pub fn view(u: User) -> Value {
    let id = u.id.clone();
    json!({"user": u, "userId": id, "managersPath": "", "delegatedUserPath": "", "directoriesPath": "", "rolesPath": "", "objectPermissions": null})
}

/// `GET /api/v1/users`.
pub async fn list(
    State(s): State<Shared>,
    caller: Caller,
    paging: Paging,
) -> ApiResult<Json<Value>> {
    authz::require_read(&caller)?;
    let page = record::list::<User, _>(s.store.pool(), &[], false, &page_req(&paging)).await?;
    Ok(Json(
        json!({"list": page.items.into_iter().map(view).collect::<Vec<_>>(), "nextPageToken": page.next_page_token, "expanded": []}),
    ))
}

/// `GET /api/v1/users/{id}`: admins, or the user themselves.
pub async fn get(
    State(s): State<Shared>,
    caller: Caller,
    Path(id): Path<String>,
) -> ApiResult<Json<Value>> {
    authz::require_self_or_read(&caller, &id)?;
    let u = common::user(&s, &id).await?;
    Ok(Json(json!({"userView": view(u), "expanded": []})))
}
