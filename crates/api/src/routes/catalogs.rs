//! `c1.api.requestcatalog.v1.RequestCatalogManagementService` (access profiles, their
//! requestable entries, visibility bindings and bundle automation) and the per-entitlement
//! automation of `c1.api.app.v1.AppEntitlements` (`…/automation`, `…/automation/exclusions`).
//!
//! Chamberlain extensions (documented in the README):
//! - `enrollmentEntitlementId` on `RequestCatalog`: the catalog's enrollment entitlement in the
//!   built-in app;
//! - `plan` in the `…/bundle_automation/run` response: who the run would enroll and unenroll,
//!   or why the circuit breaker paused it (the run records its outcome; it grants nothing);
//! - `GET /api/v1/catalogs/visible?user_id=` and
//!   `GET /api/v1/catalogs/requestability/{app_id}/{entitlement_id}?user_id=`: which catalogs a
//!   user may see, and how they may request an entitlement.
//!
//! Writes need the Super Admin role; reads need admin read access.

use super::common::{self, page_req, require_name};
use super::entitlements::views;
use crate::authz;
use crate::error::{ApiError, ApiResult, Code};
use crate::expand::{types, ExpandMask, ExpandMaskBody, Expander};
use crate::extract::{Body, Paging};
use crate::state::{AppState, Caller, Shared};
use axum::extract::{Path, Query, State};
use axum::Json;
use chamberlain_access::automation::{self, LoadError};
use chamberlain_cel::{Expression, Purpose};
use chamberlain_model::app::{validate_annotations, AppEntitlement, AppEntitlementRef};
use chamberlain_model::catalog::{
    AppEntitlementAutomation, BundleAutomation, CelRule, CircuitBreakerState, EnrollmentBehavior,
    EntitlementRule, RequestCatalog, RequestableEntry, UnenrollmentBehavior,
    UnenrollmentEntitlementBehavior, DEFAULT_REMOVED_MEMBERS_THRESHOLD_PERCENT,
};
use chamberlain_model::protojson::int64_string;
use chamberlain_model::user::User;
use chamberlain_model::{new_id, Timestamp};
use chamberlain_store::record::{self, Sql};
use chamberlain_store::repo::catalogs::{self as repo, Link, Requestability};
use chamberlain_store::StoreError;
use serde::Deserialize;
use serde_json::{json, Map, Value};
use std::collections::{BTreeMap, BTreeSet, HashMap};

/// `RequestCatalogManagementServiceCreateRequest`.
#[derive(Deserialize, Default)]
#[serde(rename_all = "camelCase", default, deny_unknown_fields)]
pub struct CreateRequest {
    annotations: BTreeMap<String, String>,
    description: String,
    display_name: String,
    enrollment_behavior: EnrollmentBehavior,
    expand_mask: Option<ExpandMaskBody>,
    published: bool,
    request_bundle: bool,
    unenrollment_behavior: UnenrollmentBehavior,
    unenrollment_entitlement_behavior: UnenrollmentEntitlementBehavior,
    visible_to_everyone: bool,
}

/// `RequestCatalogManagementServiceUpdateRequest`.
#[derive(Deserialize, Default)]
#[serde(rename_all = "camelCase", default, deny_unknown_fields)]
pub struct UpdateRequest {
    catalog: Option<Value>,
    expand_mask: Option<ExpandMaskBody>,
    update_mask: Option<String>,
}

/// `…AddAppEntitlementsRequest`.
#[derive(Deserialize, Default)]
#[serde(rename_all = "camelCase", default, deny_unknown_fields)]
pub struct AddEntriesRequest {
    app_entitlements: Option<Vec<AppEntitlementRef>>,
    create_requests: bool,
}

/// `…RemoveAppEntitlementsRequest` / `…UpdateAppEntitlementsRequest`.
#[derive(Deserialize, Default)]
#[serde(rename_all = "camelCase", default, deny_unknown_fields)]
pub struct EntriesRequest {
    app_entitlements: Option<Vec<AppEntitlementRef>>,
}

/// `…AddAccessEntitlementsRequest` / `…RemoveAccessEntitlementsRequest`.
#[derive(Deserialize, Default)]
#[serde(rename_all = "camelCase", default, deny_unknown_fields)]
pub struct AccessRequest {
    access_entitlements: Option<Vec<AppEntitlementRef>>,
}

/// `…CreateRequestableEntryRequest`.
#[derive(Deserialize, Default)]
#[serde(rename_all = "camelCase", default, deny_unknown_fields)]
pub struct CreateEntryRequest {
    create_requests: bool,
}

/// Bodies without fields (delete, resume).
#[derive(Deserialize, Default)]
#[serde(default, deny_unknown_fields)]
pub struct Empty {}

/// `SetBundleAutomationRequest` / `CreateBundleAutomationRequest`.
#[derive(Deserialize, Default, Clone)]
#[serde(rename_all = "camelCase", default, deny_unknown_fields)]
pub struct BundleAutomationRequest {
    cel: Option<CelRule>,
    create_tasks: bool,
    disable_circuit_breaker: bool,
    enabled: bool,
    enforce_on_small_profiles: bool,
    entitlements: Option<EntitlementRule>,
    #[serde(with = "int64_string")]
    removed_members_threshold_percent: i64,
}

/// `ForceRunBundleAutomationRequest`.
#[derive(Deserialize, Default)]
#[serde(rename_all = "camelCase", default, deny_unknown_fields)]
pub struct ForceRunRequest {
    refs: Vec<AppEntitlementRef>,
}

/// `CreateAutomationRequest`.
#[derive(Deserialize, Default)]
#[serde(rename_all = "camelCase", default, deny_unknown_fields)]
pub struct CreateAutomationRequest {
    automation: Option<AppEntitlementAutomation>,
}

/// `AppEntitlementServiceUpdateAutomationRequest` (read for its checks; applied as JSON with
/// the mask): unknown fields and wrong types are refused by reading it.
#[derive(Deserialize, Default)]
#[allow(dead_code)]
#[serde(rename_all = "camelCase", default, deny_unknown_fields)]
pub struct UpdateAutomationRequest {
    basic: Option<CelRule>,
    cel: Option<CelRule>,
    description: Option<String>,
    display_name: Option<String>,
    entitlements: Option<EntitlementRule>,
    none: Option<Map<String, Value>>,
    update_mask: Option<String>,
}

/// `Add/RemoveAutomationExclusionRequest`.
#[derive(Deserialize, Default)]
#[serde(rename_all = "camelCase", default, deny_unknown_fields)]
pub struct ExclusionsRequest {
    user_ids: Option<Vec<String>>,
}

fn prefix(field: &str, e: ApiError) -> ApiError {
    ApiError {
        message: format!("{field}: {}", e.message),
        ..e
    }
}

/// A live catalog.
async fn catalog(s: &AppState, id: &str) -> ApiResult<RequestCatalog> {
    common::load::<RequestCatalog>(s, "catalog id", id).await
}

/// Checks a list of entitlement references: present, well formed, no duplicates, each a live
/// entitlement of a live app.
async fn check_refs(
    s: &AppState,
    field: &str,
    refs: Option<&Vec<AppEntitlementRef>>,
    allow_empty: bool,
) -> ApiResult<Vec<AppEntitlementRef>> {
    let refs = refs.cloned().unwrap_or_default();
    if refs.is_empty() && !allow_empty {
        return Err(ApiError::invalid(format!(
            "{field} must list at least one entitlement as {{\"appId\": \"…\", \"id\": \"…\"}}"
        )));
    }
    if refs.len() > 1000 {
        return Err(ApiError::invalid(format!(
            "{field} may list at most 1,000 entitlements per call"
        )));
    }
    let mut seen = BTreeSet::new();
    for (i, r) in refs.iter().enumerate() {
        let here = format!("{field}[{i}]");
        if r.app_id.is_empty() || r.id.is_empty() {
            return Err(ApiError::invalid(format!(
                "{here}: both `appId` and `id` are required"
            )));
        }
        if !seen.insert(r.id.clone()) {
            return Err(ApiError::invalid(format!(
                "{here}: entitlement `{}` is listed twice; list each entitlement once",
                r.id
            )));
        }
        common::app(s, &r.app_id)
            .await
            .map_err(|e| prefix(&here, e))?;
        common::entitlement(s, &r.app_id, &r.id)
            .await
            .map_err(|e| prefix(&here, e))?;
    }
    Ok(refs)
}

async fn entitlements_by_id(s: &AppState, ids: &[String]) -> ApiResult<Vec<AppEntitlement>> {
    if ids.is_empty() {
        return Ok(vec![]);
    }
    let mut sql = Sql::new("SELECT doc FROM app_entitlements WHERE deleted_at IS NULL AND id IN (");
    sql.list(ids).push(") ORDER BY id");
    Ok(record::fetch_docs::<AppEntitlement, _>(s.store.pool(), &sql).await?)
}

/// `RequestCatalogView`, with `accessEntitlements` and `memberCount` filled.
async fn view(
    s: &AppState,
    mut c: RequestCatalog,
    mask: &ExpandMask,
    ex: &mut Expander,
) -> ApiResult<Value> {
    let mut conn = s.store.pool().acquire().await.map_err(StoreError::from)?;
    let access: Vec<String> = repo::links(&mut conn, Link::Visibility, &c.id)
        .await?
        .into_iter()
        .map(|(_, e)| e)
        .collect();
    let members = if c.enrollment_entitlement_id.is_empty() {
        0
    } else {
        repo::holders(
            &mut conn,
            std::slice::from_ref(&c.enrollment_entitlement_id),
        )
        .await?
        .len()
    };
    drop(conn);
    c.access_entitlements = entitlements_by_id(s, &access).await?;
    let mut created_by_path = String::new();
    if mask.wants("createdByUserId") && !c.created_by_user_id.is_empty() {
        if let Some(u) =
            record::get::<User, _>(s.store.pool(), &c.created_by_user_id, false).await?
        {
            created_by_path = ex.add(types::USER, &u.id, &u);
        }
    }
    let mut access_path = String::new();
    if mask.wants("accessEntitlements") {
        for e in &c.access_entitlements {
            let p = ex.add(types::ENTITLEMENT, &e.id, e);
            if access_path.is_empty() {
                access_path = p;
            }
        }
    }
    Ok(json!({
        "requestCatalog": c,
        "accessEntitlementsPath": access_path,
        "createdByUserPath": created_by_path,
        "memberCount": members.to_string(),
    }))
}

async fn single(
    s: &AppState,
    c: RequestCatalog,
    mask: Option<ExpandMaskBody>,
) -> ApiResult<Json<Value>> {
    let mask = ExpandMask::new(&mask.map(|m| m.paths).unwrap_or_default());
    let mut ex = Expander::default();
    let v = view(s, c, &mask, &mut ex).await?;
    Ok(Json(
        json!({"requestCatalogView": v, "expanded": ex.finish()}),
    ))
}

/// `GET /api/v1/catalogs`.
pub async fn list(
    State(s): State<Shared>,
    caller: Caller,
    paging: Paging,
) -> ApiResult<Json<Value>> {
    authz::require_read(&caller)?;
    let page =
        record::list::<RequestCatalog, _>(s.store.pool(), &[], false, &page_req(&paging)).await?;
    let mut ex = Expander::default();
    let mut list = Vec::with_capacity(page.items.len());
    for c in page.items {
        list.push(view(&s, c, &ExpandMask::default(), &mut ex).await?);
    }
    Ok(Json(
        json!({"list": list, "nextPageToken": page.next_page_token, "expanded": ex.finish()}),
    ))
}

/// `POST /api/v1/catalogs`: the catalog, with its resource and enrollment entitlement in the
/// built-in app.
pub async fn create(
    State(s): State<Shared>,
    caller: Caller,
    Body(r): Body<CreateRequest>,
) -> ApiResult<Json<Value>> {
    authz::require_super_admin(&caller)?;
    require_name("displayName", &r.display_name)?;
    validate_annotations(&r.annotations).map_err(ApiError::invalid)?;
    let now = Timestamp::now();
    let c = RequestCatalog {
        id: new_id(),
        display_name: r.display_name.trim().to_string(),
        description: r.description,
        published: r.published,
        visible_to_everyone: r.visible_to_everyone,
        request_bundle: r.request_bundle,
        annotations: r.annotations,
        created_by_user_id: caller.user_id().to_string(),
        enrollment_behavior: r.enrollment_behavior,
        unenrollment_behavior: r.unenrollment_behavior,
        unenrollment_entitlement_behavior: r.unenrollment_entitlement_behavior,
        created_at: Some(now),
        updated_at: Some(now),
        ..Default::default()
    };
    let c = chamberlain_store::write_tx!(s.store, &caller.audit(), |tx| {
        repo::create_catalog(tx, c.clone()).await
    })?;
    single(&s, c, r.expand_mask).await
}

/// `GET /api/v1/catalogs/{id}`.
pub async fn get(
    State(s): State<Shared>,
    caller: Caller,
    Path(id): Path<String>,
) -> ApiResult<Json<Value>> {
    authz::require_read(&caller)?;
    let c = catalog(&s, &id).await?;
    single(&s, c, None).await
}

/// `POST /api/v1/catalogs/{id}` with `{catalog, updateMask}`. A new name renames the catalog's
/// resource and enrollment entitlement.
pub async fn update(
    State(s): State<Shared>,
    caller: Caller,
    Path(id): Path<String>,
    Body(r): Body<UpdateRequest>,
) -> ApiResult<Json<Value>> {
    authz::require_super_admin(&caller)?;
    let current = catalog(&s, &id).await?;
    let patch = r.catalog.ok_or_else(|| {
        ApiError::invalid(
            "`catalog` is required: send {\"catalog\": {...}, \"updateMask\": \"displayName\"}",
        )
    })?;
    let typed: RequestCatalog = serde_json::from_value(patch.clone())
        .map_err(|e| ApiError::invalid(format!("field `catalog`: {e}")))?;
    if !typed.id.is_empty() && typed.id != id {
        return Err(ApiError::invalid(format!(
            "catalog.id `{}` does not match the id in the path `{id}`",
            typed.id
        )));
    }
    // Checked before the transaction, so refused input never reaches it.
    let check = |after: &RequestCatalog| -> ApiResult<()> {
        if after.display_name.trim().is_empty() {
            return Err(ApiError::invalid(
                "catalog.displayName must not be blank; send a name or leave displayName out of the updateMask",
            ));
        }
        validate_annotations(&after.annotations).map_err(ApiError::invalid)
    };
    let (preview, _) = chamberlain_model::mask::apply_typed(
        &current,
        &patch,
        r.update_mask.as_deref(),
        RequestCatalog::WRITABLE,
    )
    .map_err(ApiError::invalid)?;
    check(&preview)?;
    let mask = r.update_mask.clone();
    let after = chamberlain_store::write_tx!(s.store, &caller.audit(), |tx| {
        let before: RequestCatalog = tx.must_get(&id).await?;
        let (mut after, _) = chamberlain_model::mask::apply_typed(
            &before,
            &patch,
            mask.as_deref(),
            RequestCatalog::WRITABLE,
        )
        .map_err(StoreError::Invalid)?;
        after.display_name = after.display_name.trim().to_string();
        after.access_entitlements.clear();
        if after != before {
            after.updated_at = Some(tx.now());
            repo::update_catalog(tx, &before, &after).await?;
        }
        Ok(after)
    })?;
    single(&s, after, r.expand_mask).await
}

/// `DELETE /api/v1/catalogs/{id}`: memberships end; the resource and enrollment entitlement
/// are deleted with it.
pub async fn delete(
    State(s): State<Shared>,
    caller: Caller,
    Path(id): Path<String>,
    Body(_): Body<Empty>,
) -> ApiResult<Json<Value>> {
    authz::require_super_admin(&caller)?;
    catalog(&s, &id).await?;
    chamberlain_store::write_tx!(s.store, &caller.audit(), |tx| {
        repo::delete_catalog(tx, &id).await.map(|_| ())
    })?;
    Ok(Json(json!({})))
}

fn refuse_own_enrollment(
    c: &RequestCatalog,
    field: &str,
    refs: &[AppEntitlementRef],
) -> ApiResult<()> {
    if let Some((i, _)) = refs
        .iter()
        .enumerate()
        .find(|(_, r)| r.id == c.enrollment_entitlement_id)
    {
        return Err(ApiError::invalid(format!(
            "{field}[{i}]: `{}` is this catalog's own enrollment entitlement; a catalog cannot list itself",
            c.enrollment_entitlement_id
        )));
    }
    Ok(())
}

/// Refuses refs the catalog already lists (adds) or does not list (removes), before writing.
async fn check_listed(
    s: &AppState,
    link: Link,
    c: &RequestCatalog,
    field: &str,
    refs: &[AppEntitlementRef],
    want_listed: bool,
) -> ApiResult<()> {
    let mut conn = s.store.pool().acquire().await.map_err(StoreError::from)?;
    for (i, r) in refs.iter().enumerate() {
        let listed = repo::has_link(&mut conn, link, &c.id, &r.id).await?;
        if listed && !want_listed {
            return Err(ApiError::new(
                Code::AlreadyExists,
                format!(
                    "{field}[{i}]: entitlement `{}` is already in catalog `{}`; leave it out of the request",
                    r.id, c.id
                ),
            ));
        }
        if !listed && want_listed {
            return Err(ApiError::not_found(format!(
                "{field}[{i}]: entitlement `{}` is not in catalog `{}`",
                r.id, c.id
            )));
        }
    }
    Ok(())
}

async fn change_links(
    s: &AppState,
    caller: &Caller,
    link: Link,
    catalog_id: &str,
    field: &str,
    refs: Option<&Vec<AppEntitlementRef>>,
    add: bool,
) -> ApiResult<Json<Value>> {
    authz::require_super_admin(caller)?;
    let c = catalog(s, catalog_id).await?;
    let refs = if add {
        check_refs(s, field, refs, false).await?
    } else {
        // Removal does not need the entitlement to be live any more.
        let refs = refs.cloned().unwrap_or_default();
        if refs.is_empty() {
            return Err(ApiError::invalid(format!(
                "{field} must list at least one entitlement as {{\"appId\": \"…\", \"id\": \"…\"}}"
            )));
        }
        refs
    };
    if add && link == Link::Entries {
        refuse_own_enrollment(&c, field, &refs)?;
    }
    check_listed(s, link, &c, field, &refs, !add).await?;
    chamberlain_store::write_tx!(s.store, &caller.audit(), |tx| {
        if add {
            repo::add_links(tx, link, &c.id, &refs).await
        } else {
            repo::remove_links(tx, link, &c.id, &refs).await
        }
    })?;
    Ok(Json(json!({})))
}

/// `POST /api/v1/catalogs/{catalog_id}/requestable_entries`.
pub async fn add_entries(
    State(s): State<Shared>,
    caller: Caller,
    Path(id): Path<String>,
    Body(r): Body<AddEntriesRequest>,
) -> ApiResult<Json<Value>> {
    if r.create_requests {
        return Err(ApiError::new(
            Code::Unimplemented,
            "createRequests is not supported yet; add the entitlements without it",
        ));
    }
    change_links(
        &s,
        &caller,
        Link::Entries,
        &id,
        "appEntitlements",
        r.app_entitlements.as_ref(),
        true,
    )
    .await
}

/// `DELETE /api/v1/catalogs/{catalog_id}/requestable_entries`.
pub async fn remove_entries(
    State(s): State<Shared>,
    caller: Caller,
    Path(id): Path<String>,
    Body(r): Body<EntriesRequest>,
) -> ApiResult<Json<Value>> {
    change_links(
        &s,
        &caller,
        Link::Entries,
        &id,
        "appEntitlements",
        r.app_entitlements.as_ref(),
        false,
    )
    .await
}

/// `POST /api/v1/catalogs/{catalog_id}/visibility_bindings`.
pub async fn add_access(
    State(s): State<Shared>,
    caller: Caller,
    Path(id): Path<String>,
    Body(r): Body<AccessRequest>,
) -> ApiResult<Json<Value>> {
    change_links(
        &s,
        &caller,
        Link::Visibility,
        &id,
        "accessEntitlements",
        r.access_entitlements.as_ref(),
        true,
    )
    .await
}

/// `DELETE /api/v1/catalogs/{catalog_id}/visibility_bindings`.
pub async fn remove_access(
    State(s): State<Shared>,
    caller: Caller,
    Path(id): Path<String>,
    Body(r): Body<AccessRequest>,
) -> ApiResult<Json<Value>> {
    change_links(
        &s,
        &caller,
        Link::Visibility,
        &id,
        "accessEntitlements",
        r.access_entitlements.as_ref(),
        false,
    )
    .await
}

/// `POST /api/v1/catalogs/{catalog_id}/requestable_entitlements/update`: the catalog lists
/// exactly these entitlements afterwards.
pub async fn set_entries(
    State(s): State<Shared>,
    caller: Caller,
    Path(id): Path<String>,
    Body(r): Body<EntriesRequest>,
) -> ApiResult<Json<Value>> {
    authz::require_super_admin(&caller)?;
    let c = catalog(&s, &id).await?;
    if r.app_entitlements.is_none() {
        return Err(ApiError::invalid(
            "appEntitlements is required: the complete list of entitlements the catalog should contain ([] empties it)",
        ));
    }
    let refs = check_refs(&s, "appEntitlements", r.app_entitlements.as_ref(), true).await?;
    refuse_own_enrollment(&c, "appEntitlements", &refs)?;
    chamberlain_store::write_tx!(s.store, &caller.audit(), |tx| {
        let current = repo::all_links(tx.conn(), Link::Entries, &c.id).await?;
        let wanted: BTreeSet<&str> = refs.iter().map(|r| r.id.as_str()).collect();
        let have: BTreeSet<&str> = current.iter().map(|r| r.id.as_str()).collect();
        let gone: Vec<AppEntitlementRef> = current
            .iter()
            .filter(|r| !wanted.contains(r.id.as_str()))
            .cloned()
            .collect();
        let new: Vec<AppEntitlementRef> = refs
            .iter()
            .filter(|r| !have.contains(r.id.as_str()))
            .cloned()
            .collect();
        repo::remove_links(tx, Link::Entries, &c.id, &gone).await?;
        repo::add_links(tx, Link::Entries, &c.id, &new).await
    })?;
    Ok(Json(json!({})))
}

async fn link_list(
    s: &AppState,
    link: Link,
    catalog_id: &str,
    paging: &Paging,
) -> ApiResult<Json<Value>> {
    catalog(s, catalog_id).await?;
    let page = repo::list_link_entitlements(&s.store, link, catalog_id, &page_req(paging)).await?;
    let (list, expanded) = views(s, page.items, None).await?;
    Ok(Json(
        json!({"list": list, "nextPageToken": page.next_page_token, "expanded": expanded}),
    ))
}

/// `GET /api/v1/catalogs/{catalog_id}/requestable_entitlements`.
pub async fn list_entries(
    State(s): State<Shared>,
    caller: Caller,
    Path(id): Path<String>,
    paging: Paging,
) -> ApiResult<Json<Value>> {
    authz::require_read(&caller)?;
    link_list(&s, Link::Entries, &id, &paging).await
}

/// `GET /api/v1/catalogs/{catalog_id}/visibility_entitlements`.
pub async fn list_access(
    State(s): State<Shared>,
    caller: Caller,
    Path(id): Path<String>,
    paging: Paging,
) -> ApiResult<Json<Value>> {
    authz::require_read(&caller)?;
    link_list(&s, Link::Visibility, &id, &paging).await
}

/// `GET /api/v1/catalogs/{catalog_id}/requestable_entitlementIDs`.
pub async fn entry_ids(
    State(s): State<Shared>,
    caller: Caller,
    Path(id): Path<String>,
) -> ApiResult<Json<Value>> {
    authz::require_read(&caller)?;
    catalog(&s, &id).await?;
    let mut conn = s.store.pool().acquire().await.map_err(StoreError::from)?;
    let refs: Vec<AppEntitlementRef> = repo::catalog_entitlements(&mut conn, &id)
        .await?
        .into_iter()
        .map(|(app_id, id)| AppEntitlementRef { app_id, id })
        .collect();
    Ok(Json(json!({ "refs": refs })))
}

fn entry_json(catalog_id: &str, app_id: &str, entitlement_id: &str) -> Value {
    json!({"requestableEntry": RequestableEntry {
        app_id: app_id.into(),
        catalog_id: catalog_id.into(),
        entitlement_id: entitlement_id.into(),
    }})
}

/// `GET /api/v1/catalogs/{catalog_id}/requestable_entries/{app_id}/{entitlement_id}`.
pub async fn get_entry(
    State(s): State<Shared>,
    caller: Caller,
    Path((id, app_id, ent_id)): Path<(String, String, String)>,
) -> ApiResult<Json<Value>> {
    authz::require_read(&caller)?;
    catalog(&s, &id).await?;
    common::entitlement(&s, &app_id, &ent_id).await?;
    let mut conn = s.store.pool().acquire().await.map_err(StoreError::from)?;
    if !repo::has_link(&mut conn, Link::Entries, &id, &ent_id).await? {
        return Err(ApiError::not_found(format!(
            "entitlement `{ent_id}` is not requestable in catalog `{id}`"
        )));
    }
    Ok(Json(entry_json(&id, &app_id, &ent_id)))
}

/// `PUT /api/v1/catalogs/{catalog_id}/requestable_entries/{app_id}/{entitlement_id}`.
pub async fn create_entry(
    State(s): State<Shared>,
    caller: Caller,
    Path((id, app_id, ent_id)): Path<(String, String, String)>,
    Body(r): Body<CreateEntryRequest>,
) -> ApiResult<Json<Value>> {
    if r.create_requests {
        return Err(ApiError::new(
            Code::Unimplemented,
            "createRequests is not supported yet; add the entitlement without it",
        ));
    }
    let refs = vec![AppEntitlementRef {
        app_id: app_id.clone(),
        id: ent_id.clone(),
    }];
    let _ = change_links(
        &s,
        &caller,
        Link::Entries,
        &id,
        "entitlement",
        Some(&refs),
        true,
    )
    .await?;
    Ok(Json(entry_json(&id, &app_id, &ent_id)))
}

/// `DELETE /api/v1/catalogs/{catalog_id}/requestable_entries/{app_id}/{entitlement_id}`.
pub async fn delete_entry(
    State(s): State<Shared>,
    caller: Caller,
    Path((id, app_id, ent_id)): Path<(String, String, String)>,
    Body(_): Body<Empty>,
) -> ApiResult<Json<Value>> {
    let refs = vec![AppEntitlementRef { app_id, id: ent_id }];
    change_links(
        &s,
        &caller,
        Link::Entries,
        &id,
        "entitlement",
        Some(&refs),
        false,
    )
    .await
}

// ---- Bundle automation ----

fn compile_rule(field: &str, source: &str) -> ApiResult<()> {
    if source.trim().is_empty() {
        return Err(ApiError::invalid(format!(
            "{field} is empty; write a CEL expression over `subject` (a User) that returns a bool, e.g. subject.department == \"SRE\""
        )));
    }
    Expression::compile(Purpose::DynamicGroup, source).map_err(|markers| {
        ApiError::invalid(format!(
            "{field} is not a valid expression: {}",
            markers
                .iter()
                .map(|m| m.to_string())
                .collect::<Vec<_>>()
                .join("; ")
        ))
    })?;
    Ok(())
}

async fn check_entitlement_rule(
    s: &AppState,
    rule: &EntitlementRule,
    field: &str,
) -> ApiResult<()> {
    check_refs(s, field, Some(&rule.entitlement_refs), false).await?;
    Ok(())
}

async fn bundle_from(
    s: &AppState,
    catalog_id: &str,
    r: &BundleAutomationRequest,
) -> ApiResult<BundleAutomation> {
    match (&r.entitlements, &r.cel) {
        (Some(_), Some(_)) => {
            return Err(ApiError::invalid(
                "set either `entitlements` or `cel` (the rule is one of them), not both",
            ))
        }
        (None, None) => {
            return Err(ApiError::invalid(
                "a bundle automation needs a rule: `entitlements` ({\"entitlementRefs\": [{\"appId\": …, \"id\": …}]}) or `cel` ({\"expression\": …})",
            ))
        }
        (Some(e), None) => check_entitlement_rule(s, e, "entitlements.entitlementRefs").await?,
        (None, Some(c)) => compile_rule("cel.expression", &c.expression)?,
    }
    let pct = r.removed_members_threshold_percent;
    if !(0..=100).contains(&pct) {
        return Err(ApiError::invalid(format!(
            "removedMembersThresholdPercent `{pct}` must be from 1 to 100 (0 means the default, {DEFAULT_REMOVED_MEMBERS_THRESHOLD_PERCENT})"
        )));
    }
    Ok(BundleAutomation {
        request_catalog_id: catalog_id.to_string(),
        entitlements: r.entitlements.clone(),
        cel: r.cel.clone(),
        create_tasks: r.create_tasks,
        enabled: r.enabled,
        disable_circuit_breaker: r.disable_circuit_breaker,
        enforce_on_small_profiles: r.enforce_on_small_profiles,
        removed_members_threshold_percent: if pct == 0 {
            DEFAULT_REMOVED_MEMBERS_THRESHOLD_PERCENT
        } else {
            pct
        },
        ..Default::default()
    })
}

async fn live_bundle(s: &AppState, catalog_id: &str) -> ApiResult<BundleAutomation> {
    catalog(s, catalog_id).await?;
    record::get::<BundleAutomation, _>(s.store.pool(), catalog_id, false)
        .await?
        .ok_or_else(|| {
            ApiError::not_found(format!(
                "catalog `{catalog_id}` has no bundle automation; create one with POST /api/v1/catalogs/{catalog_id}/bundle_automation/create"
            ))
        })
}

/// `GET /api/v1/catalogs/{request_catalog_id}/bundle_automation`.
pub async fn get_bundle(
    State(s): State<Shared>,
    caller: Caller,
    Path(id): Path<String>,
) -> ApiResult<Json<Value>> {
    authz::require_read(&caller)?;
    Ok(Json(json!(live_bundle(&s, &id).await?)))
}

async fn save_bundle(
    s: &AppState,
    caller: &Caller,
    id: &str,
    r: BundleAutomationRequest,
    create_only: bool,
) -> ApiResult<Json<Value>> {
    authz::require_super_admin(caller)?;
    catalog(s, id).await?;
    let proposed = bundle_from(s, id, &r).await?;
    let existing = record::get::<BundleAutomation, _>(s.store.pool(), id, false).await?;
    if create_only && existing.is_some() {
        return Err(ApiError::new(
            Code::AlreadyExists,
            format!("catalog `{id}` already has a bundle automation; change it with POST /api/v1/catalogs/{id}/bundle_automation"),
        ));
    }
    let saved = chamberlain_store::write_tx!(s.store, &caller.audit(), |tx| {
        let mut a = proposed.clone();
        let now = tx.now();
        let prior: Option<BundleAutomation> = record::get(&mut *tx.conn(), id, true).await?;
        a.updated_at = Some(now);
        match prior {
            Some(p) if p.deleted_at.is_none() => {
                if create_only {
                    return Err(StoreError::Conflict(format!(
                        "catalog `{id}` already has a bundle automation"
                    )));
                }
                a.created_at = p.created_at;
                a.state = p.state.clone();
                a.circuit_breaker = p.circuit_breaker.clone();
                tx.replace(&p, &a).await?;
            }
            Some(p) => {
                a.created_at = Some(now);
                tx.replace(&p, &a).await?;
            }
            None => {
                a.created_at = Some(now);
                tx.create(&a).await?;
            }
        }
        Ok(a)
    })?;
    Ok(Json(json!(saved)))
}

/// `POST /api/v1/catalogs/{request_catalog_id}/bundle_automation` (create or replace).
pub async fn set_bundle(
    State(s): State<Shared>,
    caller: Caller,
    Path(id): Path<String>,
    Body(r): Body<BundleAutomationRequest>,
) -> ApiResult<Json<Value>> {
    save_bundle(&s, &caller, &id, r, false).await
}

/// `POST /api/v1/catalogs/{request_catalog_id}/bundle_automation/create`.
pub async fn create_bundle(
    State(s): State<Shared>,
    caller: Caller,
    Path(id): Path<String>,
    Body(r): Body<BundleAutomationRequest>,
) -> ApiResult<Json<Value>> {
    save_bundle(&s, &caller, &id, r, true).await
}

/// `DELETE /api/v1/catalogs/{request_catalog_id}/bundle_automation`.
pub async fn delete_bundle(
    State(s): State<Shared>,
    caller: Caller,
    Path(id): Path<String>,
    Body(_): Body<Empty>,
) -> ApiResult<Json<Value>> {
    authz::require_super_admin(&caller)?;
    live_bundle(&s, &id).await?;
    chamberlain_store::write_tx!(s.store, &caller.audit(), |tx| {
        tx.soft_delete::<BundleAutomation>(&id).await.map(|_| ())
    })?;
    Ok(Json(json!({})))
}

/// `POST /api/v1/catalogs/{request_catalog_id}/bundle_automation/resume`: the next run applies
/// even if it would trip the circuit breaker.
pub async fn resume_bundle(
    State(s): State<Shared>,
    caller: Caller,
    Path(id): Path<String>,
    Body(_): Body<Empty>,
) -> ApiResult<Json<Value>> {
    authz::require_super_admin(&caller)?;
    let a = live_bundle(&s, &id).await?;
    if !a.is_paused() {
        return Err(ApiError::precondition(format!(
            "the bundle automation of catalog `{id}` is not paused by its circuit breaker; there is nothing to resume"
        )));
    }
    chamberlain_store::write_tx!(s.store, &caller.audit(), |tx| {
        let before: BundleAutomation = tx.must_get(&id).await?;
        let mut after = before.clone();
        let mut cb = before.circuit_breaker.clone().unwrap_or_default();
        cb.state = CircuitBreakerState::Bypass;
        cb.updated_at = Some(tx.now());
        cb.user_ref = Some(json!({"id": caller.user_id()}));
        after.circuit_breaker = Some(cb);
        after.updated_at = Some(tx.now());
        tx.replace(&before, &after).await
    })?;
    Ok(Json(json!({})))
}

/// `POST /api/v1/catalogs/{request_catalog_id}/bundle_automation/run`: plans a run now and
/// records its outcome on the automation; returns the plan in the extension field `plan`.
/// Memberships are not changed here.
pub async fn run_bundle(
    State(s): State<Shared>,
    caller: Caller,
    Path(id): Path<String>,
    Body(r): Body<ForceRunRequest>,
) -> ApiResult<Json<Value>> {
    authz::require_super_admin(&caller)?;
    if !r.refs.is_empty() {
        return Err(ApiError::new(
            Code::Unimplemented,
            "refs (scoping a run to some entitlements) is not supported yet; run without refs",
        ));
    }
    let bundle = live_bundle(&s, &id).await?;
    let (plan, _) = automation::run_bundle_automation(&s.store, &caller.audit(), &id)
        .await
        .map_err(|e| match e {
            LoadError::Store(e) => ApiError::from(e),
            LoadError::NotFound(m) => ApiError::not_found(m),
            LoadError::Cel(m) => ApiError::precondition(m),
        })?;
    // A disabled automation's "run now" is a preview: the plan, with nothing applied.
    let applied = if bundle.enabled {
        let cat = catalog(&s, &id).await?;
        Some(
            crate::routes::tasks::engine(&s)
                .apply_bundle_plan(&cat, &plan, bundle.create_tasks)
                .await?,
        )
    } else {
        None
    };
    Ok(Json(json!({ "plan": plan, "applied": applied })))
}

// ---- Per-entitlement automation ----

async fn check_automation(
    s: &AppState,
    a: &AppEntitlementAutomation,
    entitlement_id: &str,
) -> ApiResult<()> {
    match a.conditions_set() {
        0 => {
            return Err(ApiError::invalid(
                "an automation needs exactly one condition: `none` ({}), `entitlements` ({\"entitlementRefs\": [...]}), `cel` or `basic` ({\"expression\": …})",
            ))
        }
        1 => {}
        _ => {
            return Err(ApiError::invalid(
                "set only one of `none`, `entitlements`, `cel` and `basic` (the condition is one of them)",
            ))
        }
    }
    if let Some(e) = &a.entitlements {
        check_entitlement_rule(s, e, "entitlements.entitlementRefs").await?;
        if e.entitlement_refs.iter().any(|r| r.id == entitlement_id) {
            return Err(ApiError::invalid(format!(
                "entitlements.entitlementRefs: an automation cannot depend on its own entitlement `{entitlement_id}`"
            )));
        }
    }
    if let Some(c) = &a.cel {
        compile_rule("cel.expression", &c.expression)?;
    }
    if let Some(b) = &a.basic {
        compile_rule("basic.expression", &b.expression)?;
    }
    Ok(())
}

async fn live_automation(
    s: &AppState,
    app_id: &str,
    ent_id: &str,
) -> ApiResult<AppEntitlementAutomation> {
    common::app(s, app_id).await?;
    common::entitlement(s, app_id, ent_id).await?;
    record::get::<AppEntitlementAutomation, _>(s.store.pool(), ent_id, false)
        .await?
        .ok_or_else(|| {
            ApiError::not_found(format!(
                "app entitlement `{ent_id}` has no automation; create one with POST /api/v1/apps/{app_id}/entitlements/{ent_id}/automation/create"
            ))
        })
}

/// `GET /api/v1/apps/{app_id}/entitlements/{app_entitlement_id}/automation`.
pub async fn get_automation(
    State(s): State<Shared>,
    caller: Caller,
    Path((app_id, ent_id)): Path<(String, String)>,
) -> ApiResult<Json<Value>> {
    authz::require_read(&caller)?;
    let a = live_automation(&s, &app_id, &ent_id).await?;
    Ok(Json(json!({ "AppEntitlementAutomation": a })))
}

/// `POST /api/v1/apps/{app_id}/entitlements/{app_entitlement_id}/automation/create`.
pub async fn create_automation(
    State(s): State<Shared>,
    caller: Caller,
    Path((app_id, ent_id)): Path<(String, String)>,
    Body(r): Body<CreateAutomationRequest>,
) -> ApiResult<Json<Value>> {
    authz::require_super_admin(&caller)?;
    common::app(&s, &app_id).await?;
    let ent = common::entitlement(&s, &app_id, &ent_id).await?;
    let a = r.automation.ok_or_else(|| {
        ApiError::invalid("`automation` is required: send {\"automation\": {\"entitlements\": {\"entitlementRefs\": [...]}}}")
    })?;
    for (field, v) in [
        ("appId", &a.app_id),
        ("appEntitlementId", &a.app_entitlement_id),
    ] {
        let path_value = if field == "appId" { &app_id } else { &ent_id };
        if !v.is_empty() && v != path_value {
            return Err(ApiError::invalid(format!(
                "automation.{field} `{v}` does not match the path (`{path_value}`); leave it out"
            )));
        }
    }
    check_automation(&s, &a, &ent_id).await?;
    if record::get::<AppEntitlementAutomation, _>(s.store.pool(), &ent_id, false)
        .await?
        .is_some()
    {
        return Err(ApiError::new(
            Code::AlreadyExists,
            format!("app entitlement `{ent_id}` already has an automation; change it with POST …/automation/update"),
        ));
    }
    let now = Timestamp::now();
    let a = AppEntitlementAutomation {
        app_id: app_id.clone(),
        app_entitlement_id: ent.id.clone(),
        display_name: if a.display_name.trim().is_empty() {
            ent.display_name.clone()
        } else {
            a.display_name.trim().to_string()
        },
        last_run_status: None,
        managed_by_request_catalog_id: String::new(),
        created_at: Some(now),
        updated_at: Some(now),
        deleted_at: None,
        ..a
    };
    let a = chamberlain_store::write_tx!(s.store, &caller.audit(), |tx| {
        let a = a.clone();
        match record::get::<AppEntitlementAutomation, _>(&mut *tx.conn(), &ent_id, true).await? {
            Some(p) if p.deleted_at.is_none() => {
                return Err(StoreError::Conflict(format!(
                    "app entitlement `{ent_id}` already has an automation"
                )))
            }
            Some(p) => tx.replace(&p, &a).await?,
            None => tx.create(&a).await?,
        }
        Ok(a)
    })?;
    Ok(Json(json!({ "automation": a })))
}

/// `POST /api/v1/apps/{app_id}/entitlements/{app_entitlement_id}/automation/update`. Setting
/// one condition (by mask or, without a mask, by sending it) clears the others.
pub async fn update_automation(
    State(s): State<Shared>,
    caller: Caller,
    Path((app_id, ent_id)): Path<(String, String)>,
    Body(raw): Body<Value>,
) -> ApiResult<Json<Value>> {
    authz::require_super_admin(&caller)?;
    let r: UpdateAutomationRequest = serde_json::from_value(raw.clone())
        .map_err(|e| ApiError::invalid(format!("request body: {e}")))?;
    let current = live_automation(&s, &app_id, &ent_id).await?;
    let mut patch = raw.clone();
    if let Some(o) = patch.as_object_mut() {
        o.remove("updateMask");
    }
    let apply = |before: &AppEntitlementAutomation| -> Result<AppEntitlementAutomation, String> {
        let mut doc = serde_json::to_value(before).map_err(|e| e.to_string())?;
        let paths = chamberlain_model::mask::apply(
            &mut doc,
            &patch,
            r.update_mask.as_deref(),
            AppEntitlementAutomation::WRITABLE,
        )
        .map_err(|e| e.to_string())?;
        let set: Vec<&str> = paths
            .iter()
            .map(|p| p.split('.').next().unwrap_or(p))
            .filter(|p| AppEntitlementAutomation::CONDITIONS.contains(p))
            .collect();
        if set.len() > 1 {
            return Err(format!(
                "set only one of `none`, `entitlements`, `cel` and `basic`; this update sets {}",
                set.join(", ")
            ));
        }
        if let (Some(keep), Some(o)) = (set.first(), doc.as_object_mut()) {
            for c in AppEntitlementAutomation::CONDITIONS {
                if c != keep {
                    o.insert((*c).to_string(), Value::Null);
                }
            }
            // Setting a condition to null through the mask leaves none: refuse below.
        }
        serde_json::from_value(doc).map_err(|e| e.to_string())
    };
    let preview = apply(&current).map_err(ApiError::invalid)?;
    check_automation(&s, &preview, &ent_id).await?;
    let after = chamberlain_store::write_tx!(s.store, &caller.audit(), |tx| {
        let before: AppEntitlementAutomation = tx.must_get(&ent_id).await?;
        let mut after = apply(&before).map_err(StoreError::Invalid)?;
        if after.display_name.trim().is_empty() {
            after.display_name = before.display_name.clone();
        }
        if after != before {
            after.updated_at = Some(tx.now());
            tx.replace(&before, &after).await?;
        }
        Ok(after)
    })?;
    Ok(Json(json!({ "AppEntitlementAutomation": after })))
}

/// `DELETE /api/v1/apps/{app_id}/entitlements/{app_entitlement_id}/automation` (and its
/// exclusions).
pub async fn delete_automation(
    State(s): State<Shared>,
    caller: Caller,
    Path((app_id, ent_id)): Path<(String, String)>,
    Body(_): Body<Empty>,
) -> ApiResult<Json<Value>> {
    authz::require_super_admin(&caller)?;
    live_automation(&s, &app_id, &ent_id).await?;
    chamberlain_store::write_tx!(s.store, &caller.audit(), |tx| {
        tx.soft_delete::<AppEntitlementAutomation>(&ent_id).await?;
        repo::clear_exclusions(tx, &ent_id).await
    })?;
    Ok(Json(json!({})))
}

/// Exclusions exist for an entitlement with an automation, or for a catalog's enrollment
/// entitlement (its bundle automation's exclusions).
async fn exclusions_target(s: &AppState, app_id: &str, ent_id: &str) -> ApiResult<()> {
    common::app(s, app_id).await?;
    common::entitlement(s, app_id, ent_id).await?;
    if record::get::<AppEntitlementAutomation, _>(s.store.pool(), ent_id, false)
        .await?
        .is_some()
    {
        return Ok(());
    }
    let mut conn = s.store.pool().acquire().await.map_err(StoreError::from)?;
    if repo::catalog_for_enrollment(&mut conn, ent_id)
        .await?
        .is_some()
    {
        return Ok(());
    }
    Err(ApiError::precondition(format!(
        "app entitlement `{ent_id}` has no automation, so it has no exclusions; create one with POST /api/v1/apps/{app_id}/entitlements/{ent_id}/automation/create"
    )))
}

fn check_user_ids(ids: &Option<Vec<String>>) -> ApiResult<Vec<String>> {
    let ids = ids.clone().unwrap_or_default();
    if ids.is_empty() {
        return Err(ApiError::invalid("userIds must name at least one user"));
    }
    if ids.len() > 1000 {
        return Err(ApiError::invalid(
            "userIds may name at most 1,000 users per call",
        ));
    }
    for (i, id) in ids.iter().enumerate() {
        common::check_id(&format!("userIds[{i}]"), id)?;
    }
    Ok(ids)
}

/// `GET …/automation/exclusions`.
pub async fn list_exclusions(
    State(s): State<Shared>,
    caller: Caller,
    Path((app_id, ent_id)): Path<(String, String)>,
    paging: Paging,
) -> ApiResult<Json<Value>> {
    authz::require_read(&caller)?;
    exclusions_target(&s, &app_id, &ent_id).await?;
    let page = repo::exclusions_page(&s.store, &ent_id, &page_req(&paging)).await?;
    let mut users: HashMap<String, User> = HashMap::new();
    if !page.items.is_empty() {
        let mut sql = Sql::new("SELECT doc FROM users WHERE id IN (");
        sql.list(&page.items).push(")");
        for u in record::fetch_docs::<User, _>(s.store.pool(), &sql).await? {
            users.insert(u.id.clone(), u);
        }
    }
    let list: Vec<Value> = page
        .items
        .iter()
        .map(|id| {
            json!({
                "appEntitlementId": ent_id,
                "appId": app_id,
                "appUserId": "",
                "user": users.get(id).cloned().unwrap_or_else(|| User { id: id.clone(), ..Default::default() }),
            })
        })
        .collect();
    Ok(Json(
        json!({"list": list, "nextPageToken": page.next_page_token}),
    ))
}

/// `POST …/automation/exclusions`.
pub async fn add_exclusions(
    State(s): State<Shared>,
    caller: Caller,
    Path((app_id, ent_id)): Path<(String, String)>,
    Body(r): Body<ExclusionsRequest>,
) -> ApiResult<Json<Value>> {
    authz::require_super_admin(&caller)?;
    exclusions_target(&s, &app_id, &ent_id).await?;
    let ids = check_user_ids(&r.user_ids)?;
    for (i, id) in ids.iter().enumerate() {
        common::user(&s, id)
            .await
            .map_err(|e| prefix(&format!("userIds[{i}]"), e))?;
    }
    chamberlain_store::write_tx!(s.store, &caller.audit(), |tx| {
        repo::add_exclusions(tx, &ent_id, &ids).await
    })?;
    Ok(Json(json!({})))
}

/// `DELETE …/automation/exclusions`.
pub async fn remove_exclusions(
    State(s): State<Shared>,
    caller: Caller,
    Path((app_id, ent_id)): Path<(String, String)>,
    Body(r): Body<ExclusionsRequest>,
) -> ApiResult<Json<Value>> {
    authz::require_super_admin(&caller)?;
    exclusions_target(&s, &app_id, &ent_id).await?;
    let ids = check_user_ids(&r.user_ids)?;
    chamberlain_store::write_tx!(s.store, &caller.audit(), |tx| {
        repo::remove_exclusions(tx, &ent_id, &ids).await
    })?;
    Ok(Json(json!({})))
}

// ---- Extensions: what a user may see and request ----

fn target_user(caller: &Caller, q: &HashMap<String, String>) -> ApiResult<String> {
    let user_id = q
        .get("user_id")
        .or_else(|| q.get("userId"))
        .cloned()
        .unwrap_or_else(|| caller.user_id().to_string());
    common::check_id("user_id", &user_id)?;
    authz::require_self_or_read(caller, &user_id)?;
    Ok(user_id)
}

/// `GET /api/v1/catalogs/visible?user_id=` (extension): published catalogs the user may see.
pub async fn visible(
    State(s): State<Shared>,
    caller: Caller,
    Query(q): Query<HashMap<String, String>>,
) -> ApiResult<Json<Value>> {
    let user_id = target_user(&caller, &q)?;
    common::user(&s, &user_id).await?;
    let mut conn = s.store.pool().acquire().await.map_err(StoreError::from)?;
    let ids = repo::visible_catalog_ids(&mut conn, &user_id).await?;
    Ok(Json(json!({ "userId": user_id, "catalogIds": ids })))
}

/// `GET /api/v1/catalogs/requestability/{app_id}/{entitlement_id}?user_id=` (extension).
pub async fn requestability(
    State(s): State<Shared>,
    caller: Caller,
    Path((app_id, ent_id)): Path<(String, String)>,
    Query(q): Query<HashMap<String, String>>,
) -> ApiResult<Json<Value>> {
    let user_id = target_user(&caller, &q)?;
    common::user(&s, &user_id).await?;
    common::entitlement(&s, &app_id, &ent_id).await?;
    let mut conn = s.store.pool().acquire().await.map_err(StoreError::from)?;
    let r = repo::requestable_via(&mut conn, &user_id, &app_id, &ent_id).await?;
    let (kind, catalog_id) = match r {
        Requestability::Catalog(c) => ("CATALOG", c),
        Requestability::Open => ("OPEN", String::new()),
        Requestability::Hidden => ("HIDDEN", String::new()),
    };
    Ok(Json(
        json!({"requestability": kind, "catalogId": catalog_id}),
    ))
}
