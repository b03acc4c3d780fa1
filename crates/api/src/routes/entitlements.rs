//! `c1.api.app.v1.AppEntitlements` and the grant operations under an entitlement
//! (`AppEntitlementUserBindingService`, `SearchAppEntitlementsWithExpired`).

use super::common::{self, page_req, require_name};
use super::connectors;
use crate::authz;
use crate::error::{ApiError, ApiResult};
use crate::expand::{types, ExpandMask, ExpandMaskBody, Expander};
use crate::extract::{Body, Paging};
use crate::state::{AppState, Caller, Shared};
use axum::extract::{Path, State};
use axum::Json;
use chamberlain_model::app::{
    merge_annotations, validate_annotations, AppEntitlement, AppUser, EntitlementPurpose,
};
use chamberlain_model::user::User;
use chamberlain_model::{new_id, Duration, Timestamp};
use chamberlain_store::repo::grants::{self, GrantQuery, GrantRow, GrantState};
use chamberlain_store::repo::owners::{self, OwnedKind};
use chamberlain_store::{record, Col, Filter, StoreError};
use chamberlain_sync::baton::Provision;
use serde::Deserialize;
use serde_json::{json, Map, Value};
use std::collections::{BTreeMap, HashMap};

/// `CreateAppEntitlementRequest`.
#[derive(Deserialize, Default)]
#[serde(rename_all = "camelCase", default, deny_unknown_fields)]
pub struct CreateRequest {
    alias: String,
    annotations: BTreeMap<String, String>,
    app_entitlement_owner_ids: Vec<String>,
    app_resource_id: String,
    app_resource_type_id: String,
    certify_policy_id: String,
    compliance_framework_value_ids: Vec<String>,
    description: String,
    display_name: String,
    duration_grant: Option<Duration>,
    duration_unset: Option<Map<String, Value>>,
    emergency_grant_enabled: bool,
    emergency_grant_policy_id: String,
    expand_mask: Option<ExpandMaskBody>,
    grant_policy_id: String,
    match_baton_id: String,
    override_access_requests_defaults: bool,
    provision_policy: Option<Value>,
    purpose: EntitlementPurpose,
    revoke_policy_id: String,
    risk_level_value_id: String,
    slug: String,
}

/// `UpdateAppEntitlementRequest`.
#[derive(Deserialize, Default)]
#[serde(rename_all = "camelCase", default, deny_unknown_fields)]
pub struct UpdateRequest {
    entitlement: Option<Value>,
    expand_mask: Option<ExpandMaskBody>,
    override_access_requests_defaults: bool,
    update_mask: Option<String>,
}

/// `AddManuallyManagedUsersRequest`.
#[derive(Deserialize, Default)]
#[serde(rename_all = "camelCase", default, deny_unknown_fields)]
pub struct AddUsersRequest {
    user_ids: Vec<String>,
}

/// `RemoveEntitlementMembershipRequest`.
#[derive(Deserialize, Default)]
#[serde(rename_all = "camelCase", default, deny_unknown_fields)]
pub struct RemoveMembershipRequest {
    app_user_id: String,
}

/// `UpdateGrantDurationRequest`.
#[derive(Deserialize, Default)]
#[serde(rename_all = "camelCase", default, deny_unknown_fields)]
pub struct UpdateDurationRequest {
    new_deprovision_at: Option<Timestamp>,
}

fn check_duration(d: &Option<Duration>, unset: &Option<Map<String, Value>>) -> ApiResult<()> {
    if d.is_some() && unset.is_some() {
        return Err(ApiError::invalid(
            "set either durationGrant or durationUnset, not both",
        ));
    }
    if let Some(d) = d {
        if d.seconds <= 0 {
            return Err(ApiError::invalid(format!(
                "durationGrant `{d}` must be positive"
            )));
        }
    }
    Ok(())
}

/// Builds `AppEntitlementView`s (with `grantCount` filled) and, when `mask` asks, the
/// expanded app, resource type and resource.
/// `c1.api.app.v1.AppEntitlementView`, serialized directly (list pages are the hot path).
#[derive(serde::Serialize, Clone, Debug)]
#[serde(rename_all = "camelCase")]
pub struct EntitlementView {
    /// The entitlement, with `grantCount` filled.
    pub app_entitlement: AppEntitlement,
    /// `$.expanded[i]` of the app, when asked.
    pub app_path: String,
    /// `$.expanded[i]` of the resource, when asked.
    pub app_resource_path: String,
    /// `$.expanded[i]` of the resource type, when asked.
    pub app_resource_type_path: String,
    /// Not computed yet (null).
    pub object_permissions: Option<Value>,
}

pub async fn views(
    s: &AppState,
    mut ents: Vec<AppEntitlement>,
    mask: Option<&ExpandMask>,
) -> ApiResult<(Vec<EntitlementView>, Vec<Value>)> {
    let ids: Vec<String> = ents.iter().map(|e| e.id.clone()).collect();
    let counts = grants::count_by_entitlement(&s.store, &ids).await?;
    let mut ex = Expander::default();
    let mut out = Vec::with_capacity(ents.len());
    for mut e in ents.drain(..) {
        e.grant_count = counts.get(&e.id).copied().unwrap_or(0);
        let mut view = EntitlementView {
            app_entitlement: e,
            app_path: String::new(),
            app_resource_path: String::new(),
            app_resource_type_path: String::new(),
            object_permissions: None,
        };
        let e = &view.app_entitlement;
        if let Some(m) = mask {
            if m.wants("appId") {
                if let Ok(app) = common::app(s, &e.app_id).await {
                    view.app_path = ex.add(types::APP, &app.id, &app);
                }
            }
            if m.wants("appResourceTypeId") && !e.app_resource_type_id.is_empty() {
                if let Ok(t) = common::resource_type(s, &e.app_id, &e.app_resource_type_id).await {
                    view.app_resource_type_path = ex.add(types::RESOURCE_TYPE, &t.id, &t);
                }
            }
            if m.wants("appResourceId") && !e.app_resource_id.is_empty() {
                if let Ok(r) = common::load::<chamberlain_model::app::AppResource>(
                    s,
                    "app_resource_id",
                    &e.app_resource_id,
                )
                .await
                {
                    view.app_resource_path = ex.add(types::RESOURCE, &r.id, &r);
                }
            }
        }
        out.push(view);
    }
    Ok((out, ex.finish()))
}

async fn single(
    s: &AppState,
    e: AppEntitlement,
    mask: Option<ExpandMaskBody>,
) -> ApiResult<Json<Value>> {
    let m = ExpandMask::new(&mask.map(|m| m.paths).unwrap_or_else(|| vec!["*".into()]));
    let (mut v, expanded) = views(s, vec![e], Some(&m)).await?;
    Ok(Json(
        json!({"appEntitlementView": v.pop(), "expanded": expanded}),
    ))
}

async fn list_where(
    s: &AppState,
    filters: Vec<Filter>,
    paging: &Paging,
) -> ApiResult<Json<common::ListPage<EntitlementView>>> {
    let page =
        record::list::<AppEntitlement, _>(s.store.pool(), &filters, false, &page_req(paging))
            .await?;
    let (list, expanded) = views(s, page.items, None).await?;
    Ok(Json(common::ListPage {
        list,
        next_page_token: page.next_page_token,
        expanded,
    }))
}

/// Live entitlements on a resource (used by resource deletion).
pub async fn entitlements_of_resource(
    s: &AppState,
    resource_id: &str,
) -> ApiResult<Vec<AppEntitlement>> {
    let mut sql = record::Sql::new(
        "SELECT doc FROM app_entitlements WHERE deleted_at IS NULL AND resource_id = ",
    );
    sql.arg(resource_id);
    Ok(record::fetch_docs::<AppEntitlement, _>(s.store.pool(), &sql).await?)
}

/// `GET /api/v1/apps/{app_id}/entitlements`.
pub async fn list(
    State(s): State<Shared>,
    caller: Caller,
    Path(app_id): Path<String>,
    paging: Paging,
) -> ApiResult<Json<common::ListPage<EntitlementView>>> {
    authz::require_read(&caller)?;
    common::check_id("app_id", &app_id)?;
    let resp = list_where(
        &s,
        vec![Filter::Eq("app_id", Col::Text(app_id.clone()))],
        &paging,
    )
    .await?;
    // An empty first page may mean the app does not exist; only then look it up.
    if resp.0.list.is_empty() {
        common::app(&s, &app_id).await?;
    }
    Ok(resp)
}

/// `POST /api/v1/apps/{app_id}/entitlements`.
pub async fn create(
    State(s): State<Shared>,
    caller: Caller,
    Path(app_id): Path<String>,
    Body(req): Body<CreateRequest>,
) -> ApiResult<Json<Value>> {
    common::check_id("app_id", &app_id)?;
    authz::require_app_write(&s, &caller, &app_id).await?;
    common::app(&s, &app_id).await?;
    require_name("displayName", &req.display_name)?;
    validate_annotations(&req.annotations).map_err(ApiError::invalid)?;
    check_duration(&req.duration_grant, &req.duration_unset)?;
    if !req.app_resource_type_id.is_empty() {
        common::resource_type(&s, &app_id, &req.app_resource_type_id).await?;
    }
    if !req.app_resource_id.is_empty() {
        if req.app_resource_type_id.is_empty() {
            return Err(ApiError::invalid(
                "appResourceTypeId is required when appResourceId is set",
            ));
        }
        common::resource(&s, &app_id, &req.app_resource_type_id, &req.app_resource_id).await?;
    }
    common::users_exist(&s, &req.app_entitlement_owner_ids).await?;
    let now = Timestamp::now();
    let e = AppEntitlement {
        id: new_id(),
        app_id,
        app_resource_id: req.app_resource_id,
        app_resource_type_id: req.app_resource_type_id,
        alias: req.alias,
        annotations: req.annotations,
        certify_policy_id: req.certify_policy_id,
        compliance_framework_value_ids: req.compliance_framework_value_ids,
        description: req.description,
        display_name: req.display_name.trim().to_string(),
        duration_grant: req.duration_grant,
        duration_unset: req.duration_unset,
        emergency_grant_enabled: req.emergency_grant_enabled,
        emergency_grant_policy_id: req.emergency_grant_policy_id,
        grant_policy_id: req.grant_policy_id,
        is_manually_managed: true,
        match_baton_id: req.match_baton_id,
        override_access_requests_defaults: req.override_access_requests_defaults,
        provisioner_policy: req.provision_policy,
        purpose: req.purpose,
        revoke_policy_id: req.revoke_policy_id,
        risk_level_value_id: req.risk_level_value_id,
        slug: req.slug,
        created_at: Some(now),
        updated_at: Some(now),
        ..Default::default()
    };
    let owner_ids = req.app_entitlement_owner_ids;
    chamberlain_store::write_tx!(s.store, &caller.audit(), |tx| {
        tx.create(&e).await?;
        if !owner_ids.is_empty() {
            owners::set(tx, OwnedKind::Entitlement, &e.id, &owner_ids).await?;
        }
        Ok(())
    })?;
    single(&s, e, req.expand_mask).await
}

/// `GET /api/v1/apps/{app_id}/entitlements/{id}`.
pub async fn get(
    State(s): State<Shared>,
    caller: Caller,
    Path((app_id, id)): Path<(String, String)>,
) -> ApiResult<Json<Value>> {
    authz::require_read(&caller)?;
    common::app(&s, &app_id).await?;
    let e = common::entitlement(&s, &app_id, &id).await?;
    single(&s, e, None).await
}

/// `POST /api/v1/apps/{app_id}/entitlements/{id}` with `{entitlement, updateMask}`.
pub async fn update(
    State(s): State<Shared>,
    caller: Caller,
    Path((app_id, id)): Path<(String, String)>,
    Body(req): Body<UpdateRequest>,
) -> ApiResult<Json<Value>> {
    common::check_id("app_id", &app_id)?;
    authz::require_app_write(&s, &caller, &app_id).await?;
    common::entitlement(&s, &app_id, &id).await?;
    let patch = req.entitlement.ok_or_else(|| ApiError::invalid("`entitlement` is required: send {\"entitlement\": {...}, \"updateMask\": \"displayName\"}"))?;
    let typed: AppEntitlement = serde_json::from_value(patch.clone())
        .map_err(|e| ApiError::invalid(format!("field `entitlement`: {e}")))?;
    if !typed.id.is_empty() && typed.id != id {
        return Err(ApiError::invalid(format!(
            "entitlement.id `{}` does not match the id in the path `{id}`",
            typed.id
        )));
    }
    let override_defaults = req.override_access_requests_defaults;
    let after = chamberlain_store::write_tx!(s.store, &caller.audit(), |tx| {
        let before: AppEntitlement = tx.must_get(&id).await?;
        let (mut after, paths) = chamberlain_model::mask::apply_typed(
            &before,
            &patch,
            req.update_mask.as_deref(),
            AppEntitlement::WRITABLE,
        )
        .map_err(StoreError::Invalid)?;
        if paths.iter().any(|p| p == "annotations") {
            let mut merged = before.annotations.clone();
            merge_annotations(&mut merged, &typed.annotations);
            after.annotations = merged;
        }
        validate_annotations(&after.annotations).map_err(StoreError::Invalid)?;
        check_duration(&after.duration_grant, &after.duration_unset)
            .map_err(|e| StoreError::Invalid(e.message))?;
        if after.display_name.trim().is_empty() {
            return Err(StoreError::Invalid("displayName must not be blank".into()));
        }
        if override_defaults {
            after.override_access_requests_defaults = true;
        }
        after.updated_at = Some(tx.now());
        tx.replace(&before, &after).await?;
        Ok(after)
    })?;
    single(&s, after, req.expand_mask).await
}

/// `DELETE /api/v1/apps/{app_id}/entitlements/{id}`: removes its grants (and what they implied).
pub async fn delete(
    State(s): State<Shared>,
    caller: Caller,
    Path((app_id, id)): Path<(String, String)>,
    Body(_): Body<Value>,
) -> ApiResult<Json<Value>> {
    common::check_id("app_id", &app_id)?;
    authz::require_app_write(&s, &caller, &app_id).await?;
    let e = common::entitlement(&s, &app_id, &id).await?;
    let mut conn = s.store.pool().acquire().await.map_err(StoreError::from)?;
    if let Some(c) =
        chamberlain_store::repo::catalogs::catalog_for_enrollment(&mut conn, &e.id).await?
    {
        return Err(ApiError::precondition(format!(
            "entitlement `{}` is the enrollment entitlement of access profile `{}`; delete the catalog (DELETE /api/v1/catalogs/{}) instead",
            e.id, c.id, c.id
        )));
    }
    drop(conn);
    chamberlain_store::write_tx!(s.store, &caller.audit(), |tx| {
        grants::remove_all_holders(tx, &e).await?;
        tx.soft_delete::<AppEntitlement>(&e.id).await.map(|_| ())
    })?;
    Ok(Json(json!({})))
}

/// Resolves an id given to add-manual-user: an account of this app, or a user, whose account in
/// this app is found or (for manually managed apps) created.
enum Member {
    Account(Box<AppUser>),
    NewAccountFor(Box<User>),
}

async fn resolve_member(s: &AppState, app_id: &str, id: &str) -> ApiResult<Member> {
    common::check_id("userIds[]", id)?;
    if let Some(au) = record::get::<AppUser, _>(s.store.pool(), id, false).await? {
        if au.app_id == app_id {
            return Ok(Member::Account(Box::new(au)));
        }
        return Err(ApiError::not_found(format!(
            "app user `{id}` belongs to another app, not `{app_id}`"
        )));
    }
    let user = record::get::<User, _>(s.store.pool(), id, false)
        .await?
        .ok_or_else(|| {
            ApiError::not_found(format!(
                "userIds: `{id}` is neither a user nor an account of app `{app_id}`"
            ))
        })?;
    let mut sql = record::Sql::new(&format!(
        "SELECT {} FROM app_users WHERE deleted_at IS NULL AND app_id = ",
        <AppUser as chamberlain_store::Record>::READ
    ));
    sql.arg(app_id).push(" AND identity_user_id = ").arg(id);
    match record::fetch_docs::<AppUser, _>(s.store.pool(), &sql)
        .await?
        .into_iter()
        .next()
    {
        Some(au) => Ok(Member::Account(Box::new(au))),
        None => Ok(Member::NewAccountFor(Box::new(user))),
    }
}

/// `POST …/entitlements/{id}/add-manual-user`: grants the entitlement to users or accounts.
/// Every id is checked before anything is written, so a bad id changes nothing.
pub async fn add_manual_users(
    State(s): State<Shared>,
    caller: Caller,
    Path((app_id, ent_id)): Path<(String, String)>,
    Body(req): Body<AddUsersRequest>,
) -> ApiResult<Json<Value>> {
    common::check_id("app_id", &app_id)?;
    authz::require_app_write(&s, &caller, &app_id).await?;
    common::check_id("app_entitlement_id", &ent_id)?;
    // The entitlement, the first id's account and whether the app has connectors come in one
    // read (the common call grants one entitlement to one account). A first id that is not
    // well-formed is reported below, after the entitlement, as before.
    let first_account = req
        .user_ids
        .first()
        .filter(|id| common::check_id("userIds[]", id).is_ok())
        .map_or("", String::as_str);
    let target = grants::grant_target(&s.store, &app_id, &ent_id, first_account).await?;
    let ent = match target.entitlement {
        Some(e) if e.app_id == app_id => e,
        Some(_) => {
            return Err(ApiError::not_found(format!(
                "app entitlement `{ent_id}` was not found in app `{app_id}`"
            )))
        }
        None => {
            return Err(ApiError::not_found(format!(
                "app entitlement `{ent_id}` was not found (or was deleted)"
            )))
        }
    };
    if req.user_ids.is_empty() {
        return Err(ApiError::invalid(
            "userIds must name at least one user or app user",
        ));
    }
    if req.user_ids.len() > 1000 {
        return Err(ApiError::invalid(
            "userIds may name at most 1,000 users per call",
        ));
    }
    let mut members: Vec<Member> = Vec::with_capacity(req.user_ids.len());
    let mut first = target.account.filter(|au| au.app_id == app_id);
    for id in &req.user_ids {
        members.push(match first.take() {
            Some(au) if &au.id == id => Member::Account(Box::new(au)),
            _ => resolve_member(&s, &app_id, id).await?,
        });
    }
    // Provision first through the app's Baton connector (if it provisions): a failure there
    // leaves Chamberlain unchanged.
    let mut link_to_user: HashMap<String, String> = HashMap::new();
    let provisioner = if target.app_has_connectors {
        connectors::provisioning_connector(&s, &app_id).await?
    } else {
        None
    };
    if let Some((c, cfg)) = provisioner {
        for m in members.iter_mut() {
            if let Member::NewAccountFor(u) = m {
                // The user has no account here: the connector creates one, a sync brings it
                // in with its source id, and it is linked to the user.
                let au = connectors::create_account(&s, &caller, &app_id, &c, &cfg, u).await?;
                link_to_user.insert(au.id.clone(), u.id.clone());
                *m = Member::Account(Box::new(au));
            }
            let Member::Account(au) = m else {
                continue;
            };
            if let Some((ent_ext, user_ext)) =
                connectors::baton_ids(&s, &app_id, &ent.id, &au.id).await?
            {
                let (principal_type, principal) = connectors::principal_parts(&user_ext);
                let action = Provision::Grant {
                    entitlement: ent_ext,
                    principal,
                    principal_type,
                };
                connectors::provision(&s, &c, &cfg, &action).await?;
            }
        }
    }
    let deprovision_at = ent
        .duration_grant
        .map(|d| Timestamp::now().plus_seconds(d.seconds));
    chamberlain_store::write_tx!(s.store, &caller.audit(), |tx| {
        for m in &members {
            let account_id = match m {
                Member::Account(au) => {
                    if let Some(user_id) = link_to_user.get(&au.id) {
                        let before: AppUser = tx.must_get(&au.id).await?;
                        if before.identity_user_id.is_empty() {
                            let mut after = before.clone();
                            after.identity_user_id = user_id.clone();
                            after.updated_at = Some(tx.now());
                            tx.replace(&before, &after).await?;
                        }
                    }
                    au.id.clone()
                }
                Member::NewAccountFor(u) => {
                    let au = AppUser {
                        id: new_id(),
                        app_id: app_id.clone(),
                        app_user_type: chamberlain_model::app::AppUserType::User,
                        display_name: u.display_name.clone(),
                        email: u.email.clone(),
                        emails: u.emails.clone(),
                        identity_user_id: u.id.clone(),
                        username: u.username.clone(),
                        usernames: u.usernames.clone(),
                        status: Some(chamberlain_model::app::AppUserStatus {
                            status: chamberlain_model::app::AppUserStatusValue::Enabled,
                            details: String::new(),
                        }),
                        created_at: Some(tx.now()),
                        updated_at: Some(tx.now()),
                        ..Default::default()
                    };
                    tx.create(&au).await?;
                    au.id
                }
            };
            grants::grant_direct(tx, &ent, &account_id, deprovision_at).await?;
        }
        Ok(())
    })?;
    Ok(Json(json!({"bulkActionId": "", "failedUsersErrorMap": {}})))
}

/// `DELETE …/entitlements/{id}/remove-membership` with `{appUserId}`.
pub async fn remove_membership(
    State(s): State<Shared>,
    caller: Caller,
    Path((app_id, ent_id)): Path<(String, String)>,
    Body(req): Body<RemoveMembershipRequest>,
) -> ApiResult<Json<Value>> {
    common::check_id("app_id", &app_id)?;
    authz::require_app_write(&s, &caller, &app_id).await?;
    let ent = common::entitlement(&s, &app_id, &ent_id).await?;
    common::app_user(&s, &app_id, &req.app_user_id).await?;
    let au = req.app_user_id.clone();
    if let Some((c, cfg)) = connectors::provisioning_connector(&s, &app_id).await? {
        let held = grants::search(
            &s.store,
            &GrantQuery {
                entitlement_ids: vec![ent_id.clone()],
                app_user_ids: vec![au.clone()],
                ..Default::default()
            },
            GrantState::Current,
            &record::PageReq::first(1),
        )
        .await?;
        let direct = held.items.first().is_some_and(|g| g.direct);
        if direct {
            if let Some((ent_ext, user_ext)) =
                connectors::baton_ids(&s, &app_id, &ent.id, &au).await?
            {
                let action = Provision::Revoke {
                    grant: format!("{ent_ext}:{user_ext}"),
                };
                connectors::provision(&s, &c, &cfg, &action).await?;
            }
        }
    }
    let removed = chamberlain_store::write_tx!(s.store, &caller.audit(), |tx| {
        grants::revoke_direct(tx, &ent, &au).await
    })?;
    if !removed {
        let implied = grants::search(
            &s.store,
            &GrantQuery {
                entitlement_ids: vec![ent_id.clone()],
                app_user_ids: vec![au.clone()],
                ..Default::default()
            },
            GrantState::Current,
            &record::PageReq::first(1),
        )
        .await?;
        return Err(match implied.items.first() {
            Some(g) => ApiError::precondition(format!(
                "app user `{au}` holds `{ent_id}` only through entitlement bindings from {}; remove the source grant or binding instead",
                g.grant.grant_sources.iter().map(|r| r.id.as_str()).collect::<Vec<_>>().join(", ")
            )),
            None => ApiError::not_found(format!("app user `{au}` does not hold entitlement `{ent_id}`")),
        });
    }
    Ok(Json(json!({"revokeTaskId": ""})))
}

async fn accounts_by_id(s: &AppState, rows: &[GrantRow]) -> ApiResult<HashMap<String, AppUser>> {
    let ids: Vec<String> = rows.iter().map(|r| r.grant.app_user_id.clone()).collect();
    let page = record::list::<AppUser, _>(
        s.store.pool(),
        &[Filter::In("id", ids)],
        true,
        &record::PageReq::first(1000),
    )
    .await?;
    Ok(page.items.into_iter().map(|u| (u.id.clone(), u)).collect())
}

/// `GET …/entitlements/{id}/users`: current holders as `AppEntitlementUserView`s.
pub async fn list_users(
    State(s): State<Shared>,
    caller: Caller,
    Path((app_id, ent_id)): Path<(String, String)>,
    paging: Paging,
) -> ApiResult<Json<Value>> {
    authz::require_read(&caller)?;
    common::entitlement(&s, &app_id, &ent_id).await?;
    let q = GrantQuery {
        entitlement_ids: vec![ent_id],
        ..Default::default()
    };
    let page = grants::search(&s.store, &q, GrantState::Current, &page_req(&paging)).await?;
    let accounts = accounts_by_id(&s, &page.items).await?;
    let list: Vec<Value> = page
        .items
        .iter()
        .map(|r| {
            json!({
                "appEntitlementId": r.grant.app_entitlement_id,
                "appId": r.grant.app_id,
                "appUserId": r.grant.app_user_id,
                "appUser": accounts.get(&r.grant.app_user_id),
                "appEntitlementUserBindingCreatedAt": r.grant.created_at,
                "appEntitlementUserBindingDeprovisionAt": r.grant.deprovision_at,
                "grantSources": r.grant.grant_sources,
                "originatingTicketId": "",
            })
        })
        .collect();
    Ok(Json(
        json!({"list": list, "nextPageToken": page.next_page_token, "expanded": []}),
    ))
}

/// `GET …/entitlements/{id}/grants`: every grant, including expired and removed ones.
pub async fn list_grants_with_expired(
    State(s): State<Shared>,
    caller: Caller,
    Path((app_id, ent_id)): Path<(String, String)>,
    paging: Paging,
) -> ApiResult<Json<Value>> {
    authz::require_read(&caller)?;
    common::entitlement(&s, &app_id, &ent_id).await?;
    let q = GrantQuery {
        entitlement_ids: vec![ent_id],
        ..Default::default()
    };
    let page = grants::search(&s.store, &q, GrantState::All, &page_req(&paging)).await?;
    let accounts = accounts_by_id(&s, &page.items).await?;
    let now = Timestamp::now();
    let mut list = Vec::with_capacity(page.items.len());
    for r in &page.items {
        let account = accounts.get(&r.grant.app_user_id);
        let user = match account
            .map(|a| a.identity_user_id.as_str())
            .filter(|u| !u.is_empty())
        {
            Some(uid) => record::get::<User, _>(s.store.pool(), uid, true).await?,
            None => None,
        };
        let expired = match (r.grant.deleted_at, r.grant.deprovision_at) {
            (Some(d), _) => Some(d),
            (None, Some(dp)) if dp <= now => Some(dp),
            _ => None,
        };
        list.push(json!({
            "appEntitlementId": r.grant.app_entitlement_id,
            "appId": r.grant.app_id,
            "appUserId": r.grant.app_user_id,
            "appUser": account,
            "user": user,
            "discovered": r.grant.created_at,
            "expired": expired,
            "grantReasons": [],
            "grantSources": r.grant.grant_sources,
        }));
    }
    Ok(Json(
        json!({"list": list, "nextPageToken": page.next_page_token}),
    ))
}

/// `POST …/users/{app_user_id}/update-grant-duration`.
pub async fn update_grant_duration(
    State(s): State<Shared>,
    caller: Caller,
    Path((app_id, ent_id, au)): Path<(String, String, String)>,
    Body(req): Body<UpdateDurationRequest>,
) -> ApiResult<Json<Value>> {
    common::check_id("app_id", &app_id)?;
    authz::require_app_write(&s, &caller, &app_id).await?;
    common::entitlement(&s, &app_id, &ent_id).await?;
    common::app_user(&s, &app_id, &au).await?;
    let at = req.new_deprovision_at.ok_or_else(|| {
        ApiError::invalid("newDeprovisionAt is required (RFC 3339), or use remove-grant-duration")
    })?;
    if at <= Timestamp::now() {
        return Err(ApiError::invalid(format!(
            "newDeprovisionAt {at} is in the past; to end access now, remove the membership"
        )));
    }
    let binding = chamberlain_store::write_tx!(s.store, &caller.audit(), |tx| {
        grants::set_deprovision_at(tx, &ent_id, &au, Some(at)).await
    })?;
    Ok(Json(json!({ "binding": binding })))
}

/// `POST …/users/{app_user_id}/remove-grant-duration`.
pub async fn remove_grant_duration(
    State(s): State<Shared>,
    caller: Caller,
    Path((app_id, ent_id, au)): Path<(String, String, String)>,
    Body(_): Body<Value>,
) -> ApiResult<Json<Value>> {
    common::check_id("app_id", &app_id)?;
    authz::require_app_write(&s, &caller, &app_id).await?;
    common::entitlement(&s, &app_id, &ent_id).await?;
    common::app_user(&s, &app_id, &au).await?;
    let binding = chamberlain_store::write_tx!(s.store, &caller.audit(), |tx| {
        grants::set_deprovision_at(tx, &ent_id, &au, None).await
    })?;
    Ok(Json(json!({ "binding": binding })))
}

/// `GET /api/v1/apps/{app_id}/entitlements/users/{app_user_id}`: what an account holds now.
pub async fn list_for_app_user(
    State(s): State<Shared>,
    caller: Caller,
    Path((app_id, au)): Path<(String, String)>,
    paging: Paging,
) -> ApiResult<Json<common::ListPage<EntitlementView>>> {
    let account = common::app_user(&s, &app_id, &au).await?;
    if account.identity_user_id != caller.user_id() {
        authz::require_read(&caller)?;
    }
    let q = GrantQuery {
        app_user_ids: vec![au],
        ..Default::default()
    };
    let page = grants::search(&s.store, &q, GrantState::Current, &page_req(&paging)).await?;
    let mut ents = Vec::with_capacity(page.items.len());
    for r in &page.items {
        if let Some(e) =
            record::get::<AppEntitlement, _>(s.store.pool(), &r.grant.app_entitlement_id, false)
                .await?
        {
            ents.push(e);
        }
    }
    let (list, expanded) = views(&s, ents, None).await?;
    Ok(Json(common::ListPage {
        list,
        next_page_token: page.next_page_token,
        expanded,
    }))
}

/// `GET /api/v1/apps/{app_id}/entitlements/resource_types/{type}/resources/{resource}`.
pub async fn list_for_resource(
    State(s): State<Shared>,
    caller: Caller,
    Path((app_id, type_id, res_id)): Path<(String, String, String)>,
    paging: Paging,
) -> ApiResult<Json<common::ListPage<EntitlementView>>> {
    authz::require_read(&caller)?;
    common::resource(&s, &app_id, &type_id, &res_id).await?;
    list_where(
        &s,
        vec![
            Filter::Eq("app_id", Col::Text(app_id)),
            Filter::Eq("resource_id", Col::Text(res_id)),
        ],
        &paging,
    )
    .await
}
