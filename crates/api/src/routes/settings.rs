//! Per-app settings stored now and acted on by later features: usage controls and access
//! request defaults.

use super::common;
use crate::authz;
use crate::error::{ApiError, ApiResult};
use crate::extract::Body;
use crate::state::{Caller, Shared};
use axum::extract::{Path, State};
use axum::Json;
use chamberlain_model::app::{
    AccessRequestDefaultsState, AppAccessRequestDefaults, AppUsageControls,
};
use chamberlain_model::mask;
use chamberlain_store::repo::settings;
use serde::Deserialize;
use serde_json::{json, Value};

const USAGE: &str = "app usage controls";
const DEFAULTS: &str = chamberlain_store::repo::settings::APP_REQUEST_DEFAULTS;

/// `UpdateAppUsageControlsRequest`.
#[derive(Deserialize, Default)]
#[serde(rename_all = "camelCase", default, deny_unknown_fields)]
pub struct UpdateUsageRequest {
    app_usage_controls: Option<Value>,
    update_mask: Option<String>,
}

/// `GET /api/v1/apps/{app_id}/usage_controls`.
pub async fn get_usage_controls(
    State(s): State<Shared>,
    caller: Caller,
    Path(app_id): Path<String>,
) -> ApiResult<Json<Value>> {
    authz::require_read(&caller)?;
    common::app(&s, &app_id).await?;
    let c = settings::get::<AppUsageControls>(&s.store, &app_id, USAGE)
        .await?
        .unwrap_or(AppUsageControls {
            app_id,
            ..Default::default()
        });
    Ok(Json(json!({"appUsageControls": c, "hasUsageData": false})))
}

/// `POST /api/v1/apps/{app_id}/usage_controls`.
pub async fn update_usage_controls(
    State(s): State<Shared>,
    caller: Caller,
    Path(app_id): Path<String>,
    Body(req): Body<UpdateUsageRequest>,
) -> ApiResult<Json<Value>> {
    common::check_id("app_id", &app_id)?;
    authz::require_app_write(&s, &caller, &app_id).await?;
    common::app(&s, &app_id).await?;
    let patch = req
        .app_usage_controls
        .ok_or_else(|| ApiError::invalid("`appUsageControls` is required"))?;
    let _: AppUsageControls = serde_json::from_value(patch.clone())
        .map_err(|e| ApiError::invalid(format!("field `appUsageControls`: {e}")))?;
    let current = settings::get::<AppUsageControls>(&s.store, &app_id, USAGE)
        .await?
        .unwrap_or(AppUsageControls {
            app_id: app_id.clone(),
            ..Default::default()
        });
    let mut doc = serde_json::to_value(&current).map_err(|e| ApiError::invalid(e.to_string()))?;
    mask::apply(
        &mut doc,
        &patch,
        req.update_mask.as_deref(),
        AppUsageControls::WRITABLE,
    )?;
    let mut next: AppUsageControls =
        serde_json::from_value(doc).map_err(|e| ApiError::invalid(e.to_string()))?;
    next.app_id = app_id.clone();
    for (on, days, name) in [
        (next.notify, next.notify_after_days, "notifyAfterDays"),
        (next.revoke, next.revoke_after_days, "revokeAfterDays"),
    ] {
        if on && !(1..=3650).contains(&days) {
            return Err(ApiError::invalid(format!(
                "{name} must be between 1 and 3650 when enabled"
            )));
        }
    }
    if next.notify && next.revoke && next.revoke_after_days <= next.notify_after_days {
        return Err(ApiError::invalid("revokeAfterDays must be greater than notifyAfterDays, so users are warned before access is revoked"));
    }
    chamberlain_store::write_tx!(s.store, &caller.audit(), |tx| {
        settings::put(tx, &app_id, USAGE, &next).await
    })?;
    Ok(Json(json!({ "appUsageControls": next })))
}

/// `GET /api/v1/apps/{app_id}/access_request_defaults`.
pub async fn get_request_defaults(
    State(s): State<Shared>,
    caller: Caller,
    Path(app_id): Path<String>,
) -> ApiResult<Json<Value>> {
    authz::require_read(&caller)?;
    common::app(&s, &app_id).await?;
    let d = settings::get::<AppAccessRequestDefaults>(&s.store, &app_id, DEFAULTS)
        .await?
        .unwrap_or(AppAccessRequestDefaults {
            app_id,
            ..Default::default()
        });
    Ok(Json(serde_json::to_value(d).unwrap_or_default()))
}

/// `POST /api/v1/apps/{app_id}/access_request_defaults`: saves the defaults. Applying them to
/// entitlements is the access-request feature's job; until then the state reads SUCCESS.
pub async fn put_request_defaults(
    State(s): State<Shared>,
    caller: Caller,
    Path(app_id): Path<String>,
    Body(mut d): Body<AppAccessRequestDefaults>,
) -> ApiResult<Json<Value>> {
    common::check_id("app_id", &app_id)?;
    authz::require_app_write(&s, &caller, &app_id).await?;
    common::app(&s, &app_id).await?;
    if d.duration_grant.is_some() && d.duration_unset.is_some() {
        return Err(ApiError::invalid(
            "set either durationGrant or durationUnset, not both",
        ));
    }
    if let Some(g) = d.duration_grant {
        if g.seconds <= 0 {
            return Err(ApiError::invalid(format!(
                "durationGrant `{g}` must be positive"
            )));
        }
    }
    for rt in &d.resource_type_ids {
        common::resource_type(&s, &app_id, rt).await?;
    }
    d.app_id = app_id.clone();
    d.state = AccessRequestDefaultsState::Success;
    chamberlain_store::write_tx!(s.store, &caller.audit(), |tx| {
        settings::put(tx, &app_id, DEFAULTS, &d).await
    })?;
    Ok(Json(serde_json::to_value(d).unwrap_or_default()))
}

/// `POST /api/v1/apps/{app_id}/access_request_defaults/cancel`.
pub async fn cancel_request_defaults(
    State(s): State<Shared>,
    caller: Caller,
    Path(app_id): Path<String>,
    Body(_): Body<Value>,
) -> ApiResult<Json<Value>> {
    common::check_id("app_id", &app_id)?;
    authz::require_app_write(&s, &caller, &app_id).await?;
    common::app(&s, &app_id).await?;
    let mut d = settings::get::<AppAccessRequestDefaults>(&s.store, &app_id, DEFAULTS)
        .await?
        .ok_or_else(|| {
            ApiError::not_found(format!(
                "app `{app_id}` has no access request defaults to cancel"
            ))
        })?;
    d.state = AccessRequestDefaultsState::CancelSuccess;
    chamberlain_store::write_tx!(s.store, &caller.audit(), |tx| {
        settings::put(tx, &app_id, DEFAULTS, &d).await
    })?;
    Ok(Json(serde_json::to_value(d).unwrap_or_default()))
}
