//! `c1.api.app.v1.AppUserService`: accounts in apps, and linking them to users.

use super::common::{self, page_req};
use crate::authz;
use crate::error::{ApiError, ApiResult};
use crate::expand::{types, ExpandMask, ExpandMaskBody, Expander};
use crate::extract::{Body, Paging};
use crate::state::{AppState, Caller, Shared};
use axum::extract::{Path, State};
use axum::Json;
use chamberlain_model::app::{AppUser, AppUserType};
use chamberlain_model::user::User;
use chamberlain_model::Timestamp;
use chamberlain_store::repo::identity::{self, LinkSource};
use chamberlain_store::{record, Col, Filter, StoreError};
use serde::Deserialize;
use serde_json::{json, Value};

/// `AppUserServiceUpdateRequest`.
#[derive(Deserialize, Default)]
#[serde(rename_all = "camelCase", default, deny_unknown_fields)]
pub struct UpdateRequest {
    app_user: Option<Value>,
    expand_mask: Option<ExpandMaskBody>,
    update_mask: Option<String>,
}

/// Builds `AppUserView`s, expanding the app and the owning user when `mask` asks.
pub async fn views(
    s: &AppState,
    accounts: Vec<AppUser>,
    mask: Option<&ExpandMask>,
) -> ApiResult<(Vec<Value>, Vec<Value>)> {
    let mut ex = Expander::default();
    let mut out = Vec::with_capacity(accounts.len());
    for a in accounts {
        let mut view =
            json!({"appUser": a, "appPath": "", "identityUserPath": "", "lastUsagePath": ""});
        if let Some(m) = mask {
            if m.wants("appId") {
                if let Ok(app) = common::app(s, &a.app_id).await {
                    view["appPath"] = ex.add(types::APP, &app.id, &app).into();
                }
            }
            if m.wants("identityUserId") && !a.identity_user_id.is_empty() {
                if let Some(u) =
                    record::get::<User, _>(s.store.pool(), &a.identity_user_id, false).await?
                {
                    view["identityUserPath"] = ex.add(types::USER, &u.id, &u).into();
                }
            }
        }
        out.push(view);
    }
    Ok((out, ex.finish()))
}

/// `GET /api/v1/apps/{app_id}/app_users`.
pub async fn list(
    State(s): State<Shared>,
    caller: Caller,
    Path(app_id): Path<String>,
    paging: Paging,
) -> ApiResult<Json<Value>> {
    authz::require_read(&caller)?;
    common::app(&s, &app_id).await?;
    let page = record::list::<AppUser, _>(
        s.store.pool(),
        &[Filter::Eq("app_id", Col::Text(app_id))],
        false,
        &page_req(&paging),
    )
    .await?;
    let (list, expanded) = views(&s, page.items, None).await?;
    Ok(Json(
        json!({"list": list, "nextPageToken": page.next_page_token, "expanded": expanded}),
    ))
}

/// `GET /api/v1/apps/{app_id}/users/{user_id}/app_users`: a user's accounts in an app.
pub async fn list_for_user(
    State(s): State<Shared>,
    caller: Caller,
    Path((app_id, user_id)): Path<(String, String)>,
    paging: Paging,
) -> ApiResult<Json<Value>> {
    authz::require_self_or_read(&caller, &user_id)?;
    common::app(&s, &app_id).await?;
    common::user(&s, &user_id).await?;
    let page = record::list::<AppUser, _>(
        s.store.pool(),
        &[
            Filter::Eq("app_id", Col::Text(app_id)),
            Filter::Eq("identity_user_id", Col::Text(user_id)),
        ],
        false,
        &page_req(&paging),
    )
    .await?;
    let (list, expanded) = views(&s, page.items, None).await?;
    Ok(Json(
        json!({"list": list, "nextPageToken": page.next_page_token, "expanded": expanded}),
    ))
}

/// `POST /api/v1/apps/{app_id}/app_users/{app_user_id}`: change the account type or the user
/// it belongs to (`identityUserId`, empty to unlink).
pub async fn update(
    State(s): State<Shared>,
    caller: Caller,
    Path((app_id, id)): Path<(String, String)>,
    Body(req): Body<UpdateRequest>,
) -> ApiResult<Json<Value>> {
    common::check_id("app_user_app_id", &app_id)?;
    authz::require_app_write(&s, &caller, &app_id).await?;
    common::app_user(&s, &app_id, &id).await?;
    let patch = req.app_user.ok_or_else(|| {
        ApiError::invalid(
            "`appUser` is required: send {\"appUser\": {...}, \"updateMask\": \"identityUserId\"}",
        )
    })?;
    let typed: AppUser = serde_json::from_value(patch.clone())
        .map_err(|e| ApiError::invalid(format!("field `appUser`: {e}")))?;
    let touches_owner = match req.update_mask.as_deref() {
        Some(m) if !m.trim().is_empty() => m
            .split(',')
            .any(|p| chamberlain_model::mask::to_camel(p.trim()) == "identityUserId"),
        _ => patch.get("identityUserId").is_some(),
    };
    if touches_owner && !typed.identity_user_id.is_empty() {
        common::user(&s, &typed.identity_user_id).await?;
    }
    let after = chamberlain_store::write_tx!(s.store, &caller.audit(), |tx| {
        let before: AppUser = tx.must_get(&id).await?;
        let (mut after, _) = chamberlain_model::mask::apply_typed(
            &before,
            &patch,
            req.update_mask.as_deref(),
            AppUser::WRITABLE,
        )
        .map_err(StoreError::Invalid)?;
        if after.app_user_type == AppUserType::Unspecified
            && before.app_user_type != AppUserType::Unspecified
        {
            return Err(StoreError::Invalid(
                "appUserType cannot be set back to APP_USER_TYPE_UNSPECIFIED".into(),
            ));
        }
        after.updated_at = Some(Timestamp::now());
        tx.replace(&before, &after).await?;
        if touches_owner {
            // An admin's decision (a link or an unlink) is kept by automatic matching.
            identity::set_link_source(tx, std::slice::from_ref(&id), LinkSource::Manual).await?;
        }
        Ok(after)
    })?;
    let m = ExpandMask::new(&req.expand_mask.map(|m| m.paths).unwrap_or_default());
    let (mut list, expanded) = views(&s, vec![after], Some(&m)).await?;
    Ok(Json(
        json!({"appUserView": list.pop(), "expanded": expanded}),
    ))
}
