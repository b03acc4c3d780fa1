//! Helpers shared by the route handlers.

use crate::error::{ApiError, ApiResult};
use crate::extract::Paging;
use crate::state::AppState;
use chamberlain_model::app::{App, AppEntitlement, AppResource, AppResourceType, AppUser};
use chamberlain_model::ids::is_plausible_id;
use chamberlain_model::user::User;
use chamberlain_store::page::{clamp_page_size, Page};
use chamberlain_store::record::{self, PageReq};
use chamberlain_store::Record;
use serde_json::{json, Value};

/// Refuses ids that cannot exist before any database work.
pub fn check_id(what: &str, id: &str) -> ApiResult<()> {
    if is_plausible_id(id) {
        Ok(())
    } else if id.is_empty() {
        Err(ApiError::invalid(format!("{what} is required")))
    } else {
        Err(ApiError::invalid(format!(
            "{what} `{id}` is not a valid id"
        )))
    }
}

/// A live record by id, or 404 naming what was missing.
pub async fn load<R: Record>(state: &AppState, what: &str, id: &str) -> ApiResult<R> {
    check_id(what, id)?;
    record::get::<R, _>(state.store.pool(), id, false)
        .await?
        .ok_or_else(|| {
            ApiError::not_found(format!("{} `{id}` was not found (or was deleted)", R::KIND))
        })
}

/// The live app `id`.
pub async fn app(state: &AppState, id: &str) -> ApiResult<App> {
    load::<App>(state, "app_id", id).await
}

/// A live resource type that belongs to `app_id` (a type of another app is "not found").
pub async fn resource_type(state: &AppState, app_id: &str, id: &str) -> ApiResult<AppResourceType> {
    let t: AppResourceType = load(state, "app_resource_type_id", id).await?;
    if t.app_id != app_id {
        return Err(ApiError::not_found(format!(
            "app resource type `{id}` was not found in app `{app_id}`"
        )));
    }
    Ok(t)
}

/// A live resource of `app_id` and type `type_id`.
pub async fn resource(
    state: &AppState,
    app_id: &str,
    type_id: &str,
    id: &str,
) -> ApiResult<AppResource> {
    let r: AppResource = load(state, "app_resource_id", id).await?;
    if r.app_id != app_id || r.app_resource_type_id != type_id {
        return Err(ApiError::not_found(format!(
            "app resource `{id}` was not found in app `{app_id}` under resource type `{type_id}`"
        )));
    }
    Ok(r)
}

/// A live entitlement of `app_id`.
pub async fn entitlement(state: &AppState, app_id: &str, id: &str) -> ApiResult<AppEntitlement> {
    let e: AppEntitlement = load(state, "app_entitlement_id", id).await?;
    if e.app_id != app_id {
        return Err(ApiError::not_found(format!(
            "app entitlement `{id}` was not found in app `{app_id}`"
        )));
    }
    Ok(e)
}

/// A live account of `app_id`.
pub async fn app_user(state: &AppState, app_id: &str, id: &str) -> ApiResult<AppUser> {
    let u: AppUser = load(state, "app_user_id", id).await?;
    if u.app_id != app_id {
        return Err(ApiError::not_found(format!(
            "app user `{id}` was not found in app `{app_id}`"
        )));
    }
    Ok(u)
}

/// A live user.
pub async fn user(state: &AppState, id: &str) -> ApiResult<User> {
    load::<User>(state, "user_id", id).await
}

/// Checks that every id names a live user, naming the first that does not.
pub async fn users_exist(state: &AppState, ids: &[String]) -> ApiResult<()> {
    for id in ids {
        load::<User>(state, "user id", id).await?;
    }
    Ok(())
}

/// A page request from GET query parameters.
pub fn page_req(p: &Paging) -> PageReq {
    PageReq {
        size: clamp_page_size(p.page_size),
        token: p.page_token.clone(),
        descending: false,
    }
}

/// A page request from a POST search body.
pub fn body_page(size: Option<i64>, token: &str) -> ApiResult<PageReq> {
    let size = crate::extract::body_page_size(size)?;
    Ok(PageReq {
        size: clamp_page_size(size),
        token: token.to_string(),
        descending: false,
    })
}

/// `{list, nextPageToken, expanded}` serialized straight from typed items, for hot lists:
/// building a `serde_json::Value` tree first costs a map insert and a drop per field.
#[derive(serde::Serialize)]
#[serde(rename_all = "camelCase")]
pub struct ListPage<T> {
    /// The items.
    pub list: Vec<T>,
    /// Token for the next page, or empty.
    pub next_page_token: String,
    /// Objects referenced by the items' `*Path` fields.
    pub expanded: Vec<Value>,
}

/// `{list, nextPageToken}`.
pub fn list_json<T: serde::Serialize>(page: Page<T>) -> Value {
    json!({"list": page.items, "nextPageToken": page.next_page_token})
}

/// `{list, nextPageToken, expanded}`.
pub fn list_json_expanded<T: serde::Serialize>(page: Page<T>, expanded: Vec<Value>) -> Value {
    json!({"list": page.items, "nextPageToken": page.next_page_token, "expanded": expanded})
}

/// Validates a required display name.
pub fn require_name(field: &str, v: &str) -> ApiResult<()> {
    let t = v.trim();
    if t.is_empty() {
        return Err(ApiError::invalid(format!(
            "{field} is required and must not be blank"
        )));
    }
    if t.chars().count() > 512 {
        return Err(ApiError::invalid(format!(
            "{field} must be at most 512 characters"
        )));
    }
    Ok(())
}
