//! `c1.api.app.v1.Apps`: create, get, update, list, delete.

use super::common::{self, list_json, page_req, require_name};
use crate::authz;
use crate::error::{ApiError, ApiResult};
use crate::extract::{Body, Paging};
use crate::state::{Caller, Shared};
use axum::extract::{Path, State};
use axum::Json;
use chamberlain_model::app::{merge_annotations, validate_annotations, App, IdentityMatching};
use chamberlain_model::{new_id, Timestamp};
use chamberlain_store::record;
use chamberlain_store::repo::identity;
use chamberlain_store::repo::{grants, owners};
use serde::Deserialize;
use serde_json::{json, Value};
use std::collections::BTreeMap;

/// `c1.api.app.v1.CreateAppRequest`.
#[derive(Deserialize, Default)]
#[serde(rename_all = "camelCase", default, deny_unknown_fields)]
pub struct CreateAppRequest {
    annotations: BTreeMap<String, String>,
    app_entitlement_owner_refs: Vec<Value>,
    certify_policy_id: String,
    description: String,
    display_name: String,
    grant_policy_id: String,
    identity_matching: IdentityMatching,
    instructions: String,
    match_baton_ref: Option<Value>,
    monthly_cost_usd: i32,
    owners: Vec<String>,
    revoke_policy_id: String,
    strict_access_entitlement_provisioning: bool,
}

/// `c1.api.app.v1.UpdateAppRequest`.
#[derive(Deserialize, Default)]
#[serde(rename_all = "camelCase", default, deny_unknown_fields)]
pub struct UpdateAppRequest {
    app: Option<Value>,
    update_mask: Option<String>,
}

/// Fills the computed fields (`userCount`, `appOwners`) of apps about to be returned.
pub async fn decorate(state: &crate::AppState, apps: &mut [App]) -> ApiResult<()> {
    let ids: Vec<String> = apps.iter().map(|a| a.id.clone()).collect();
    let counts = grants::count_users_by_app(&state.store, &ids).await?;
    for a in apps.iter_mut() {
        a.user_count = counts.get(&a.id).copied().unwrap_or(0);
        let owner_ids = owners::list(&state.store, owners::OwnedKind::App, &a.id).await?;
        let mut owner_users = Vec::with_capacity(owner_ids.len());
        for id in owner_ids {
            if let Some(u) =
                record::get::<chamberlain_model::user::User, _>(state.store.pool(), &id, false)
                    .await?
            {
                owner_users.push(serde_json::to_value(u).unwrap_or(Value::Null));
            }
        }
        a.app_owners = owner_users;
    }
    Ok(())
}

async fn one(state: &crate::AppState, mut app: App) -> ApiResult<Json<Value>> {
    decorate(state, std::slice::from_mut(&mut app)).await?;
    Ok(Json(json!({ "app": app })))
}

/// `GET /api/v1/apps`.
pub async fn list(
    State(s): State<Shared>,
    caller: Caller,
    paging: Paging,
) -> ApiResult<Json<Value>> {
    authz::require_read(&caller)?;
    let mut page = record::list::<App, _>(s.store.pool(), &[], false, &page_req(&paging)).await?;
    decorate(&s, &mut page.items).await?;
    Ok(Json(list_json(page)))
}

/// `POST /api/v1/apps`.
pub async fn create(
    State(s): State<Shared>,
    caller: Caller,
    Body(req): Body<CreateAppRequest>,
) -> ApiResult<Json<Value>> {
    authz::require_super_admin(&caller)?;
    require_name("displayName", &req.display_name)?;
    validate_annotations(&req.annotations).map_err(ApiError::invalid)?;
    if !req.app_entitlement_owner_refs.is_empty() {
        return Err(ApiError::invalid("appEntitlementOwnerRefs is not supported yet; set entitlement owners after creating the app"));
    }
    common::users_exist(&s, &req.owners).await?;
    let now = Timestamp::now();
    let app = App {
        id: new_id(),
        display_name: req.display_name.trim().to_string(),
        description: req.description,
        annotations: req.annotations,
        certify_policy_id: req.certify_policy_id,
        grant_policy_id: req.grant_policy_id,
        revoke_policy_id: req.revoke_policy_id,
        identity_matching: req.identity_matching,
        instructions: req.instructions,
        match_baton_ref: req.match_baton_ref,
        monthly_cost_usd: req.monthly_cost_usd,
        strict_access_entitlement_provisioning: req.strict_access_entitlement_provisioning,
        is_manually_managed: true,
        created_at: Some(now),
        updated_at: Some(now),
        ..Default::default()
    };
    let owners_list = req.owners.clone();
    let created = app.clone();
    chamberlain_store::write_tx!(s.store, &caller.audit(), |tx| {
        tx.create(&created).await?;
        if !owners_list.is_empty() {
            owners::set(tx, owners::OwnedKind::App, &created.id, &owners_list).await?;
        }
        Ok(())
    })?;
    one(&s, app).await
}

/// `GET /api/v1/apps/{id}`.
pub async fn get(
    State(s): State<Shared>,
    caller: Caller,
    Path(id): Path<String>,
) -> ApiResult<Json<Value>> {
    authz::require_read(&caller)?;
    let app = common::app(&s, &id).await?;
    one(&s, app).await
}

/// `POST /api/v1/apps/{id}` with `{app, updateMask}`.
pub async fn update(
    State(s): State<Shared>,
    caller: Caller,
    Path(id): Path<String>,
    Body(req): Body<UpdateAppRequest>,
) -> ApiResult<Json<Value>> {
    common::check_id("id", &id)?;
    authz::require_app_write(&s, &caller, &id).await?;
    let patch = req.app.ok_or_else(|| {
        ApiError::invalid(
            "`app` is required: send {\"app\": {...}, \"updateMask\": \"displayName,description\"}",
        )
    })?;
    // Type-check the patch as an App first so unknown fields and bad values are named.
    let typed: App = serde_json::from_value(patch.clone())
        .map_err(|e| ApiError::invalid(format!("field `app`: {e}")))?;
    if !typed.id.is_empty() && typed.id != id {
        return Err(ApiError::invalid(format!(
            "app.id `{}` does not match the id in the path `{id}`",
            typed.id
        )));
    }
    let updated = chamberlain_store::write_tx!(s.store, &caller.audit(), |tx| {
        let before: App = tx.must_get(&id).await?;
        let (mut after, paths) = chamberlain_model::mask::apply_typed(
            &before,
            &patch,
            req.update_mask.as_deref(),
            App::WRITABLE,
        )
        .map_err(chamberlain_store::StoreError::Invalid)?;
        if paths.iter().any(|p| p == "annotations") {
            let mut merged = before.annotations.clone();
            merge_annotations(&mut merged, &typed.annotations);
            after.annotations = merged;
        }
        validate_annotations(&after.annotations).map_err(chamberlain_store::StoreError::Invalid)?;
        if after.display_name.trim().is_empty() {
            return Err(chamberlain_store::StoreError::Invalid(
                "displayName must not be blank".into(),
            ));
        }
        after.updated_at = Some(tx.now());
        let matching_changed = after.identity_matching != before.identity_matching
            || after.app_user_mapper != before.app_user_mapper;
        if matching_changed {
            // Refuse rules that cannot run, naming the field and the position in it.
            chamberlain_identity::rules::app_cases(&after)
                .map_err(|e| chamberlain_store::StoreError::Invalid(e.to_string()))?;
        }
        tx.replace(&before, &after).await?;
        if matching_changed {
            identity::mark_app_changed(tx, &id).await?;
        }
        Ok(after)
    })?;
    one(&s, updated).await
}

/// `DELETE /api/v1/apps/{id}`: soft-deletes the app and everything in it.
pub async fn delete(
    State(s): State<Shared>,
    caller: Caller,
    Path(id): Path<String>,
    Body(_): Body<Value>,
) -> ApiResult<Json<Value>> {
    common::check_id("id", &id)?;
    authz::require_super_admin(&caller)?;
    common::app(&s, &id).await?;
    if id == chamberlain_store::repo::catalogs::BUILTIN_APP_ID {
        return Err(ApiError::precondition(
            "the built-in app holds the access profiles and cannot be deleted; delete the catalogs (DELETE /api/v1/catalogs/{id}) instead",
        ));
    }
    chamberlain_store::write_tx!(s.store, &caller.audit(), |tx| {
        tx.soft_delete::<App>(&id).await?;
        let now = tx.now().as_micros();
        for table in [
            "app_resource_types",
            "app_resources",
            "app_entitlements",
            "app_users",
        ] {
            let mut sql =
                chamberlain_store::record::Sql::new(&format!("UPDATE {table} SET deleted_at = "));
            sql.arg(now)
                .push(" WHERE deleted_at IS NULL AND app_id = ")
                .arg(id.as_str());
            tx.exec(&sql).await?;
        }
        grants::delete_where(tx, "app_id", &id).await?;
        Ok(())
    })?;
    Ok(Json(json!({})))
}
