//! `POST /api/v1/search/*`: apps, entitlements, grants, app users and users.
//!
//! Each request type lists every field of C1's request so unknown fields are refused; filters
//! Chamberlain does not implement yet are refused by name when set, never silently ignored.

use super::common::{self, body_page};
use crate::authz;
use crate::error::{ApiError, ApiResult};
use crate::expand::{ExpandMask, ExpandMaskBody};
use crate::extract::Body;
use crate::state::{Caller, Shared};
use axum::extract::State;
use axum::response::IntoResponse;
use axum::Json;
use chamberlain_model::app::{App, AppEntitlement, AppUser};
use chamberlain_model::user::User;
use chamberlain_store::repo::grants::{self, GrantQuery, GrantState};
use chamberlain_store::{record, Col, Filter};
use serde::Deserialize;
use serde_json::{json, Value};

fn unsupported(set: &[(&str, bool)]) -> ApiResult<()> {
    match set.iter().find(|(_, on)| *on) {
        Some((name, _)) => Err(ApiError::new(
            crate::error::Code::Unimplemented,
            format!("search filter `{name}` is not supported yet; remove it"),
        )),
        None => Ok(()),
    }
}

fn in_filter(col: &'static str, v: &[String]) -> Option<Filter> {
    (!v.is_empty()).then(|| Filter::In(col, v.to_vec()))
}

/// `SearchAppsRequest`.
#[derive(Deserialize, Default)]
#[serde(rename_all = "camelCase", default, deny_unknown_fields)]
pub struct SearchAppsRequest {
    app_ids: Vec<String>,
    display_name: String,
    exclude_app_ids: Vec<String>,
    only_directories: bool,
    page_size: Option<i64>,
    page_token: String,
    policy_refs: Vec<Value>,
    query: String,
}

/// `POST /api/v1/search/apps`.
pub async fn apps(
    State(s): State<Shared>,
    caller: Caller,
    Body(r): Body<SearchAppsRequest>,
) -> ApiResult<Json<Value>> {
    authz::require_read(&caller)?;
    unsupported(&[("policyRefs", !r.policy_refs.is_empty())])?;
    let mut f: Vec<Filter> = in_filter("id", &r.app_ids).into_iter().collect();
    f.push(Filter::NotIn("id", r.exclude_app_ids));
    if r.only_directories {
        f.push(Filter::Eq("is_directory", Col::Int(1)));
    }
    if !r.display_name.is_empty() {
        f.push(Filter::Eq(
            "display_name_lc",
            Col::Text(r.display_name.to_lowercase()),
        ));
    }
    if !r.query.is_empty() {
        f.push(Filter::Contains(vec!["display_name_lc"], r.query));
    }
    let mut page = record::list::<App, _>(
        s.store.pool(),
        &f,
        false,
        &body_page(r.page_size, &r.page_token)?,
    )
    .await?;
    super::apps::decorate(&s, &mut page.items).await?;
    Ok(Json(common::list_json(page)))
}

/// `AppEntitlementSearchServiceSearchRequest`.
#[derive(Deserialize, Default)]
#[serde(rename_all = "camelCase", default, deny_unknown_fields)]
pub struct SearchEntitlementsRequest {
    access_review_id: String,
    alias: String,
    app_ids: Vec<String>,
    app_user_ids: Vec<String>,
    compliance_framework_ids: Vec<String>,
    display_name: String,
    exclude_app_ids: Vec<String>,
    exclude_app_user_ids: Vec<String>,
    exclude_immutable: bool,
    exclude_resource_type_ids: Vec<String>,
    excluded_entitlement_refs: Vec<Value>,
    expand_mask: Option<ExpandMaskBody>,
    include_deleted: bool,
    is_automated: bool,
    membership_type: Vec<String>,
    only_get_expiring: bool,
    page_size: Option<i64>,
    page_token: String,
    policy_refs: Vec<Value>,
    query: String,
    refs: Vec<chamberlain_model::app::AppEntitlementRef>,
    request_schema_ids: Vec<String>,
    resource_ids: Vec<String>,
    resource_trait_ids: Vec<String>,
    resource_type_ids: Vec<String>,
    risk_level_ids: Vec<String>,
    source_connector_id: String,
}

/// `POST /api/v1/search/entitlements`.
pub async fn entitlements(
    State(s): State<Shared>,
    caller: Caller,
    Body(r): Body<SearchEntitlementsRequest>,
) -> ApiResult<Json<Value>> {
    authz::require_read(&caller)?;
    unsupported(&[
        ("accessReviewId", !r.access_review_id.is_empty()),
        (
            "complianceFrameworkIds",
            !r.compliance_framework_ids.is_empty(),
        ),
        ("excludeAppUserIds", !r.exclude_app_user_ids.is_empty()),
        ("excludeImmutable", r.exclude_immutable),
        (
            "excludedEntitlementRefs",
            !r.excluded_entitlement_refs.is_empty(),
        ),
        ("isAutomated", r.is_automated),
        ("membershipType", !r.membership_type.is_empty()),
        ("onlyGetExpiring", r.only_get_expiring),
        ("policyRefs", !r.policy_refs.is_empty()),
        ("requestSchemaIds", !r.request_schema_ids.is_empty()),
        ("resourceTraitIds", !r.resource_trait_ids.is_empty()),
        ("riskLevelIds", !r.risk_level_ids.is_empty()),
        ("sourceConnectorId", !r.source_connector_id.is_empty()),
    ])?;
    let mut f: Vec<Filter> = [
        in_filter("app_id", &r.app_ids),
        in_filter("resource_id", &r.resource_ids),
        in_filter("resource_type_id", &r.resource_type_ids),
    ]
    .into_iter()
    .flatten()
    .collect();
    f.push(Filter::NotIn("app_id", r.exclude_app_ids));
    f.push(Filter::NotIn(
        "resource_type_id",
        r.exclude_resource_type_ids,
    ));
    if !r.refs.is_empty() {
        f.push(Filter::In(
            "id",
            r.refs.iter().map(|x| x.id.clone()).collect(),
        ));
    }
    if !r.alias.is_empty() {
        f.push(Filter::Eq("alias", Col::Text(r.alias)));
    }
    if !r.display_name.is_empty() {
        f.push(Filter::Eq(
            "display_name_lc",
            Col::Text(r.display_name.to_lowercase()),
        ));
    }
    if !r.query.is_empty() {
        f.push(Filter::Contains(
            vec!["display_name_lc", "slug", "alias"],
            r.query,
        ));
    }
    if !r.app_user_ids.is_empty() {
        let marks = vec!["?"; r.app_user_ids.len()].join(", ");
        let text = format!("id IN (SELECT entitlement_id FROM grants WHERE deleted_at IS NULL AND app_user_id IN ({marks}))");
        f.push(Filter::Sql(
            text,
            r.app_user_ids
                .iter()
                .map(|x| Col::Text(x.clone()))
                .collect(),
        ));
    }
    let page = record::list::<AppEntitlement, _>(
        s.store.pool(),
        &f,
        r.include_deleted,
        &body_page(r.page_size, &r.page_token)?,
    )
    .await?;
    let mask = ExpandMask::new(&r.expand_mask.map(|m| m.paths).unwrap_or_default());
    let (list, expanded) = super::entitlements::views(&s, page.items, Some(&mask)).await?;
    Ok(Json(
        json!({"list": list, "nextPageToken": page.next_page_token, "expanded": expanded, "facets": null}),
    ))
}

/// `AppEntitlementSearchServiceSearchGrantsRequest`.
#[derive(Deserialize, Default)]
#[serde(rename_all = "camelCase", default, deny_unknown_fields)]
pub struct SearchGrantsRequest {
    app_ids: Vec<String>,
    app_user_ids: Vec<String>,
    entitlement_refs: Vec<chamberlain_model::app::AppEntitlementRef>,
    entitlement_slugs: Vec<String>,
    expand_mask: Option<ExpandMaskBody>,
    page_size: Option<i64>,
    page_token: String,
    purpose: Vec<chamberlain_model::app::EntitlementPurpose>,
    resource_ids: Vec<String>,
    resource_type_ids: Vec<String>,
    user_id: String,
}

/// `POST /api/v1/search/grants`: current grants, each with its entitlement. A basic user may
/// search only their own grants (`userId` = themselves).
pub async fn grants(
    State(s): State<Shared>,
    caller: Caller,
    Body(r): Body<SearchGrantsRequest>,
) -> ApiResult<axum::response::Response> {
    if r.user_id.is_empty() || r.user_id != caller.user_id() {
        authz::require_read(&caller)?;
    }
    if !r.user_id.is_empty() {
        common::check_id("userId", &r.user_id)?;
    }
    let q = GrantQuery {
        entitlement_ids: r.entitlement_refs.iter().map(|x| x.id.clone()).collect(),
        app_ids: r.app_ids,
        app_user_ids: r.app_user_ids,
        identity_user_id: (!r.user_id.is_empty()).then_some(r.user_id),
        resource_ids: r.resource_ids,
        resource_type_ids: r.resource_type_ids,
        slugs: r.entitlement_slugs,
        purposes: r.purpose.iter().map(|p| p.as_str().to_string()).collect(),
    };
    let page = grants::search(
        &s.store,
        &q,
        GrantState::Current,
        &body_page(r.page_size, &r.page_token)?,
    )
    .await?;
    let ids: Vec<String> = page
        .items
        .iter()
        .map(|g| g.grant.app_entitlement_id.clone())
        .collect();
    let ents = record::list::<AppEntitlement, _>(
        s.store.pool(),
        &[Filter::In("id", ids)],
        true,
        &record::PageReq::first(1000),
    )
    .await?;
    let mask = ExpandMask::new(&r.expand_mask.map(|m| m.paths).unwrap_or_default());
    let (views, expanded) = super::entitlements::views(&s, ents.items, Some(&mask)).await?;
    let by_id: std::collections::HashMap<String, super::entitlements::EntitlementView> = views
        .into_iter()
        .map(|v| (v.app_entitlement.id.clone(), v))
        .collect();
    let list: Vec<GrantHit> = page
        .items
        .iter()
        .map(|g| GrantHit {
            app_entitlement_user_binding: &g.grant,
            entitlement: by_id.get(&g.grant.app_entitlement_id),
        })
        .collect();
    Ok(Json(common::ListPage {
        list,
        next_page_token: page.next_page_token,
        expanded,
    })
    .into_response())
}

/// One `c1.api.app.v1.SearchGrantsResponse` item.
#[derive(serde::Serialize)]
#[serde(rename_all = "camelCase")]
struct GrantHit<'a> {
    app_entitlement_user_binding: &'a chamberlain_model::app::Grant,
    entitlement: Option<&'a super::entitlements::EntitlementView>,
}

/// `AppUserServiceSearchRequest`.
#[derive(Deserialize, Default)]
#[serde(rename_all = "camelCase", default, deny_unknown_fields)]
pub struct SearchAppUsersRequest {
    agent_statuses: Vec<String>,
    app_id: String,
    app_ids: Vec<String>,
    app_user_domains: Vec<String>,
    app_user_ids: Vec<String>,
    app_user_status_details: Vec<String>,
    app_user_statuses: Vec<chamberlain_model::app::AppUserStatusValue>,
    app_user_types: Vec<chamberlain_model::app::AppUserType>,
    exclude_app_user_ids: Vec<String>,
    exclude_deleted_apps: bool,
    expand_mask: Option<ExpandMaskBody>,
    nhi_types: Vec<String>,
    page_size: Option<i64>,
    page_token: String,
    query: String,
    refs: Vec<Value>,
    sort_by: Option<String>,
    user_ids: Vec<String>,
    with_open_findings: bool,
    without_responsible_party: bool,
}

/// `POST /api/v1/search/app_users`.
pub async fn app_users(
    State(s): State<Shared>,
    caller: Caller,
    Body(r): Body<SearchAppUsersRequest>,
) -> ApiResult<Json<Value>> {
    authz::require_read(&caller)?;
    unsupported(&[
        ("agentStatuses", !r.agent_statuses.is_empty()),
        ("appUserDomains", !r.app_user_domains.is_empty()),
        (
            "appUserStatusDetails",
            !r.app_user_status_details.is_empty(),
        ),
        ("nhiTypes", !r.nhi_types.is_empty()),
        ("refs", !r.refs.is_empty()),
        ("withOpenFindings", r.with_open_findings),
        ("withoutResponsibleParty", r.without_responsible_party),
    ])?;
    let _ = (r.exclude_deleted_apps, r.sort_by);
    let mut app_ids = r.app_ids;
    if !r.app_id.is_empty() {
        app_ids.push(r.app_id);
    }
    let mut f: Vec<Filter> = [
        in_filter("app_id", &app_ids),
        in_filter("id", &r.app_user_ids),
        in_filter("identity_user_id", &r.user_ids),
    ]
    .into_iter()
    .flatten()
    .collect();
    f.push(Filter::NotIn("id", r.exclude_app_user_ids));
    if !r.app_user_statuses.is_empty() {
        f.push(Filter::In(
            "status",
            r.app_user_statuses
                .iter()
                .map(|x| x.as_str().to_string())
                .collect(),
        ));
    }
    if !r.app_user_types.is_empty() {
        f.push(Filter::In(
            "user_type",
            r.app_user_types
                .iter()
                .map(|x| x.as_str().to_string())
                .collect(),
        ));
    }
    if !r.query.is_empty() {
        f.push(Filter::Contains(
            vec!["email_lc", "display_name_lc"],
            r.query,
        ));
    }
    let page = record::list::<AppUser, _>(
        s.store.pool(),
        &f,
        false,
        &body_page(r.page_size, &r.page_token)?,
    )
    .await?;
    let mask = ExpandMask::new(&r.expand_mask.map(|m| m.paths).unwrap_or_default());
    let (list, expanded) = super::app_users::views(&s, page.items, Some(&mask)).await?;
    Ok(Json(
        json!({"list": list, "nextPageToken": page.next_page_token, "expanded": expanded}),
    ))
}

/// `SearchUsersRequest`.
#[derive(Deserialize, Default)]
#[serde(rename_all = "camelCase", default, deny_unknown_fields)]
pub struct SearchUsersRequest {
    delegate_status: Option<String>,
    delegated_user_ids: Vec<String>,
    departments: Vec<String>,
    email: String,
    exclude_ids: Vec<String>,
    exclude_origins: Vec<chamberlain_model::user::UserOrigin>,
    exclude_types: Vec<chamberlain_model::user::UserType>,
    expand_mask: Option<ExpandMaskBody>,
    ids: Vec<String>,
    is_delegate: bool,
    job_titles: Vec<String>,
    manager_ids: Vec<String>,
    origins: Vec<chamberlain_model::user::UserOrigin>,
    page_size: Option<i64>,
    page_token: String,
    query: String,
    refs: Vec<Value>,
    role_ids: Vec<String>,
    source_app_ids: Vec<String>,
    user_statuses: Vec<chamberlain_model::user::UserStatus>,
}

/// `POST /api/v1/search/users`.
pub async fn users(
    State(s): State<Shared>,
    caller: Caller,
    Body(r): Body<SearchUsersRequest>,
) -> ApiResult<Json<Value>> {
    authz::require_read(&caller)?;
    unsupported(&[
        (
            "delegateStatus",
            r.delegate_status
                .as_deref()
                .is_some_and(|d| d != "DELEGATE_STATUS_UNSPECIFIED"),
        ),
        ("delegatedUserIds", !r.delegated_user_ids.is_empty()),
        ("departments", !r.departments.is_empty()),
        ("isDelegate", r.is_delegate),
        ("jobTitles", !r.job_titles.is_empty()),
        ("managerIds", !r.manager_ids.is_empty()),
        ("refs", !r.refs.is_empty()),
        ("sourceAppIds", !r.source_app_ids.is_empty()),
    ])?;
    let _ = r.expand_mask;
    let mut f: Vec<Filter> = in_filter("id", &r.ids).into_iter().collect();
    f.push(Filter::NotIn("id", r.exclude_ids));
    if !r.email.is_empty() {
        f.push(Filter::Eq("email_lc", Col::Text(r.email.to_lowercase())));
    }
    if !r.origins.is_empty() {
        f.push(Filter::In(
            "origin",
            r.origins.iter().map(|o| o.as_str().to_string()).collect(),
        ));
    }
    f.push(Filter::NotIn(
        "origin",
        r.exclude_origins
            .iter()
            .map(|o| o.as_str().to_string())
            .collect(),
    ));
    f.push(Filter::NotIn(
        "user_type",
        r.exclude_types
            .iter()
            .map(|o| o.as_str().to_string())
            .collect(),
    ));
    if !r.user_statuses.is_empty() {
        f.push(Filter::In(
            "status",
            r.user_statuses
                .iter()
                .map(|o| o.as_str().to_string())
                .collect(),
        ));
    }
    for role in &r.role_ids {
        f.push(Filter::Sql(
            "roles LIKE ?".into(),
            vec![Col::Text(format!("%,{role},%"))],
        ));
    }
    if !r.query.is_empty() {
        f.push(Filter::Contains(
            vec!["email_lc", "display_name_lc"],
            r.query,
        ));
    }
    let page = record::list::<User, _>(
        s.store.pool(),
        &f,
        false,
        &body_page(r.page_size, &r.page_token)?,
    )
    .await?;
    Ok(Json(
        json!({"list": page.items.into_iter().map(super::users::view).collect::<Vec<_>>(), "nextPageToken": page.next_page_token, "expanded": []}),
    ))
}
