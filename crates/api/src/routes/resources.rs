//! `c1.api.app.v1.AppResourceTypeService` and `AppResourceService`: list and get everything;
//! create, update and delete manually managed types and resources.

use super::common::{self, list_json, page_req, require_name};
use crate::authz;
use crate::error::{ApiError, ApiResult};
use crate::expand::{types, Expander};
use crate::extract::{Body, Paging};
use crate::state::{Caller, Shared};
use axum::extract::{Path, State};
use axum::Json;
use chamberlain_model::app::{
    merge_annotations, validate_annotations, AppResource, AppResourceType, ManualResourceTypeKind,
};
use chamberlain_model::{new_id, Timestamp};
use chamberlain_store::repo::owners::{self, OwnedKind};
use chamberlain_store::{record, Col, Filter, StoreError};
use serde::Deserialize;
use serde_json::{json, Value};
use std::collections::BTreeMap;

/// `CreateManuallyManagedResourceTypeRequest`.
#[derive(Deserialize, Default)]
#[serde(rename_all = "camelCase", default, deny_unknown_fields)]
pub struct CreateTypeRequest {
    display_name: String,
    resource_type: Option<ManualResourceTypeKind>,
}

/// `UpdateManuallyManagedResourceTypeRequest`.
#[derive(Deserialize, Default)]
#[serde(rename_all = "camelCase", default, deny_unknown_fields)]
pub struct UpdateTypeRequest {
    app_resource_type: Option<Value>,
    update_mask: Option<String>,
}

/// `CreateManuallyManagedAppResourceRequest`.
#[derive(Deserialize, Default)]
#[serde(rename_all = "camelCase", default, deny_unknown_fields)]
pub struct CreateResourceRequest {
    annotations: BTreeMap<String, String>,
    description: String,
    display_name: String,
    match_baton_id: String,
    resource_owner_user_ids: Vec<String>,
}

/// `AppResourceServiceUpdateRequest`.
#[derive(Deserialize, Default)]
#[serde(rename_all = "camelCase", default, deny_unknown_fields)]
pub struct UpdateResourceRequest {
    app_resource: Option<Value>,
    update_mask: Option<String>,
    expand_mask: Option<crate::expand::ExpandMaskBody>,
}

fn type_view(t: AppResourceType) -> Value {
    json!({"appResourceType": t, "appPath": ""})
}

fn trait_for(kind: ManualResourceTypeKind) -> &'static str {
    match kind {
        ManualResourceTypeKind::Role => "TRAIT_ROLE",
        ManualResourceTypeKind::Group => "TRAIT_GROUP",
        ManualResourceTypeKind::License => "TRAIT_LICENSE",
        ManualResourceTypeKind::Project => "TRAIT_PROJECT",
        ManualResourceTypeKind::Catalog => "TRAIT_CATALOG",
        ManualResourceTypeKind::Vault => "TRAIT_VAULT",
        ManualResourceTypeKind::ProfileType => "TRAIT_PROFILE_TYPE",
        ManualResourceTypeKind::SessionPolicy => "TRAIT_SESSION_POLICY",
        ManualResourceTypeKind::ClawAgent => "TRAIT_AGENT",
        ManualResourceTypeKind::Custom => "TRAIT_CUSTOM",
    }
}

/// `GET /api/v1/apps/{app_id}/resource_types`.
pub async fn list_types(
    State(s): State<Shared>,
    caller: Caller,
    Path(app_id): Path<String>,
    paging: Paging,
) -> ApiResult<Json<Value>> {
    authz::require_read(&caller)?;
    common::app(&s, &app_id).await?;
    let page = record::list::<AppResourceType, _>(
        s.store.pool(),
        &[Filter::Eq("app_id", Col::Text(app_id))],
        false,
        &page_req(&paging),
    )
    .await?;
    Ok(Json(list_json(page.map(type_view))))
}

/// `POST /api/v1/apps/{app_id}/resource_types`.
pub async fn create_type(
    State(s): State<Shared>,
    caller: Caller,
    Path(app_id): Path<String>,
    Body(req): Body<CreateTypeRequest>,
) -> ApiResult<Json<Value>> {
    common::check_id("app_id", &app_id)?;
    authz::require_app_write(&s, &caller, &app_id).await?;
    common::app(&s, &app_id).await?;
    require_name("displayName", &req.display_name)?;
    let kind = req.resource_type.ok_or_else(|| ApiError::invalid("resourceType is required (one of ROLE, GROUP, LICENSE, PROJECT, CATALOG, CUSTOM, VAULT, PROFILE_TYPE, SESSION_POLICY, CLAW_AGENT)"))?;
    let now = Timestamp::now();
    let t = AppResourceType {
        id: new_id(),
        app_id,
        display_name: req.display_name.trim().to_string(),
        trait_ids: vec![trait_for(kind).to_string()],
        created_at: Some(now),
        updated_at: Some(now),
        deleted_at: None,
    };
    chamberlain_store::write_tx!(s.store, &caller.audit(), |tx| { tx.create(&t).await })?;
    Ok(Json(json!({ "appResourceType": t, "expanded": [] })))
}

/// `GET /api/v1/apps/{app_id}/resource_types/{id}`.
pub async fn get_type(
    State(s): State<Shared>,
    caller: Caller,
    Path((app_id, id)): Path<(String, String)>,
) -> ApiResult<Json<Value>> {
    authz::require_read(&caller)?;
    common::app(&s, &app_id).await?;
    let t = common::resource_type(&s, &app_id, &id).await?;
    Ok(Json(
        json!({ "appResourceTypeView": type_view(t), "expanded": [] }),
    ))
}

/// `POST /api/v1/apps/{app_id}/resource_types/{id}`.
pub async fn update_type(
    State(s): State<Shared>,
    caller: Caller,
    Path((app_id, id)): Path<(String, String)>,
    Body(req): Body<UpdateTypeRequest>,
) -> ApiResult<Json<Value>> {
    common::check_id("app_id", &app_id)?;
    authz::require_app_write(&s, &caller, &app_id).await?;
    common::resource_type(&s, &app_id, &id).await?;
    let patch = req
        .app_resource_type
        .ok_or_else(|| ApiError::invalid("`appResourceType` is required"))?;
    let _: AppResourceType = serde_json::from_value(patch.clone())
        .map_err(|e| ApiError::invalid(format!("field `appResourceType`: {e}")))?;
    let after = chamberlain_store::write_tx!(s.store, &caller.audit(), |tx| {
        let before: AppResourceType = tx.must_get(&id).await?;
        let (mut after, _) = chamberlain_model::mask::apply_typed(
            &before,
            &patch,
            req.update_mask.as_deref(),
            AppResourceType::WRITABLE,
        )
        .map_err(StoreError::Invalid)?;
        if after.display_name.trim().is_empty() {
            return Err(StoreError::Invalid("displayName must not be blank".into()));
        }
        after.updated_at = Some(tx.now());
        tx.replace(&before, &after).await?;
        Ok(after)
    })?;
    Ok(Json(json!({ "appResourceType": after, "expanded": [] })))
}

/// `DELETE /api/v1/apps/{app_id}/resource_types/{id}`: refuses while resources remain.
pub async fn delete_type(
    State(s): State<Shared>,
    caller: Caller,
    Path((app_id, id)): Path<(String, String)>,
    Body(_): Body<Value>,
) -> ApiResult<Json<Value>> {
    common::check_id("app_id", &app_id)?;
    authz::require_app_write(&s, &caller, &app_id).await?;
    common::resource_type(&s, &app_id, &id).await?;
    let remaining = record::list::<AppResource, _>(
        s.store.pool(),
        &[Filter::Eq("resource_type_id", Col::Text(id.clone()))],
        false,
        &record::PageReq::first(1),
    )
    .await?;
    if !remaining.items.is_empty() {
        return Err(ApiError::precondition(format!(
            "resource type `{id}` still has resources; delete them first"
        )));
    }
    chamberlain_store::write_tx!(s.store, &caller.audit(), |tx| {
        tx.soft_delete::<AppResourceType>(&id).await.map(|_| ())
    })?;
    Ok(Json(json!({})))
}

async fn resource_view(
    s: &crate::AppState,
    r: AppResource,
    ex: Option<&mut Expander>,
) -> ApiResult<Value> {
    let mut view = json!({"appResource": r, "appPath": "", "resourceTypePath": "", "parentResourcePath": "", "parentResourceTypePath": "", "objectPermissions": null});
    if let Some(ex) = ex {
        if let Ok(app) = common::app(s, &r.app_id).await {
            view["appPath"] = Value::String(ex.add(types::APP, &app.id, &app));
        }
        if let Ok(t) = common::resource_type(s, &r.app_id, &r.app_resource_type_id).await {
            view["resourceTypePath"] = Value::String(ex.add(types::RESOURCE_TYPE, &t.id, &t));
        }
    }
    Ok(view)
}

/// `GET /api/v1/apps/{app_id}/resource_types/{type_id}/resources`.
pub async fn list_resources(
    State(s): State<Shared>,
    caller: Caller,
    Path((app_id, type_id)): Path<(String, String)>,
    paging: Paging,
) -> ApiResult<Json<Value>> {
    authz::require_read(&caller)?;
    common::resource_type(&s, &app_id, &type_id).await?;
    let page = record::list::<AppResource, _>(
        s.store.pool(),
        &[
            Filter::Eq("app_id", Col::Text(app_id)),
            Filter::Eq("resource_type_id", Col::Text(type_id)),
        ],
        false,
        &page_req(&paging),
    )
    .await?;
    let mut list = Vec::with_capacity(page.items.len());
    for r in page.items {
        list.push(resource_view(&s, r, None).await?);
    }
    Ok(Json(
        json!({"list": list, "nextPageToken": page.next_page_token, "expanded": []}),
    ))
}

/// `POST /api/v1/apps/{app_id}/resource_types/{type_id}/resources`.
pub async fn create_resource(
    State(s): State<Shared>,
    caller: Caller,
    Path((app_id, type_id)): Path<(String, String)>,
    Body(req): Body<CreateResourceRequest>,
) -> ApiResult<Json<Value>> {
    common::check_id("app_id", &app_id)?;
    authz::require_app_write(&s, &caller, &app_id).await?;
    common::resource_type(&s, &app_id, &type_id).await?;
    require_name("displayName", &req.display_name)?;
    validate_annotations(&req.annotations).map_err(ApiError::invalid)?;
    common::users_exist(&s, &req.resource_owner_user_ids).await?;
    let now = Timestamp::now();
    let r = AppResource {
        id: new_id(),
        app_id,
        app_resource_type_id: type_id,
        display_name: req.display_name.trim().to_string(),
        description: req.description,
        annotations: req.annotations,
        match_baton_id: req.match_baton_id,
        created_at: Some(now),
        updated_at: Some(now),
        ..Default::default()
    };
    let owners_list = req.resource_owner_user_ids;
    chamberlain_store::write_tx!(s.store, &caller.audit(), |tx| {
        tx.create(&r).await?;
        if !owners_list.is_empty() {
            owners::set(tx, OwnedKind::Resource, &r.id, &owners_list).await?;
        }
        Ok(())
    })?;
    Ok(Json(json!({ "appResource": r })))
}

/// `GET /api/v1/apps/{app_id}/resource_types/{type_id}/resources/{id}`.
pub async fn get_resource(
    State(s): State<Shared>,
    caller: Caller,
    Path((app_id, type_id, id)): Path<(String, String, String)>,
) -> ApiResult<Json<Value>> {
    authz::require_read(&caller)?;
    let r = common::resource(&s, &app_id, &type_id, &id).await?;
    let mut ex = Expander::default();
    let view = resource_view(&s, r, Some(&mut ex)).await?;
    Ok(Json(
        json!({"appResourceView": view, "expanded": ex.finish()}),
    ))
}

/// `POST /api/v1/apps/{app_id}/resource_types/{type_id}/resources/{id}`.
pub async fn update_resource(
    State(s): State<Shared>,
    caller: Caller,
    Path((app_id, type_id, id)): Path<(String, String, String)>,
    Body(req): Body<UpdateResourceRequest>,
) -> ApiResult<Json<Value>> {
    common::check_id("app_id", &app_id)?;
    authz::require_app_write(&s, &caller, &app_id).await?;
    common::resource(&s, &app_id, &type_id, &id).await?;
    let _ = req.expand_mask;
    let patch = req
        .app_resource
        .ok_or_else(|| ApiError::invalid("`appResource` is required"))?;
    let typed: AppResource = serde_json::from_value(patch.clone())
        .map_err(|e| ApiError::invalid(format!("field `appResource`: {e}")))?;
    let after = chamberlain_store::write_tx!(s.store, &caller.audit(), |tx| {
        let before: AppResource = tx.must_get(&id).await?;
        let (mut after, paths) = chamberlain_model::mask::apply_typed(
            &before,
            &patch,
            req.update_mask.as_deref(),
            AppResource::WRITABLE,
        )
        .map_err(StoreError::Invalid)?;
        if paths.iter().any(|p| p == "annotations") {
            let mut merged = before.annotations.clone();
            merge_annotations(&mut merged, &typed.annotations);
            after.annotations = merged;
        }
        validate_annotations(&after.annotations).map_err(StoreError::Invalid)?;
        if after.display_name.trim().is_empty() {
            return Err(StoreError::Invalid("displayName must not be blank".into()));
        }
        after.updated_at = Some(tx.now());
        tx.replace(&before, &after).await?;
        Ok(after)
    })?;
    let mut ex = Expander::default();
    let view = resource_view(&s, after, Some(&mut ex)).await?;
    Ok(Json(
        json!({"appResourceView": view, "expanded": ex.finish()}),
    ))
}

/// `DELETE /api/v1/apps/{app_id}/resource_types/{type_id}/resources/{id}`: also removes the
/// resource's entitlements and their grants.
pub async fn delete_resource(
    State(s): State<Shared>,
    caller: Caller,
    Path((app_id, type_id, id)): Path<(String, String, String)>,
    Body(_): Body<Value>,
) -> ApiResult<Json<Value>> {
    common::check_id("app_id", &app_id)?;
    authz::require_app_write(&s, &caller, &app_id).await?;
    common::resource(&s, &app_id, &type_id, &id).await?;
    let ents = super::entitlements::entitlements_of_resource(&s, &id).await?;
    chamberlain_store::write_tx!(s.store, &caller.audit(), |tx| {
        for e in &ents {
            chamberlain_store::repo::grants::remove_all_holders(tx, e).await?;
            tx.soft_delete::<chamberlain_model::app::AppEntitlement>(&e.id)
                .await?;
        }
        tx.soft_delete::<AppResource>(&id).await.map(|_| ())
    })?;
    Ok(Json(json!({})))
}
