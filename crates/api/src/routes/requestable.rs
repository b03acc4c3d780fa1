//! Who may request what: an entitlement is requestable through a published access profile the
//! requester can see, or, when it is in no profile at all, by everyone (C1's default audience).

use super::common::body_page;
use crate::error::{ApiError, ApiResult};
use crate::expand::{ExpandMask, ExpandMaskBody};
use crate::extract::Body;
use crate::state::{Caller, Shared};
use axum::extract::State;
use axum::Json;
use chamberlain_model::app::AppEntitlement;
use chamberlain_store::repo::catalogs::{self, Requestability};
use chamberlain_store::repo::grants::{self, GrantQuery, GrantState};
use chamberlain_store::{record, Col, Filter};
use serde::Deserialize;
use serde_json::{json, Value};

/// Refuses a request for an entitlement the user cannot see, naming why.
pub async fn check(s: &Shared, user_id: &str, app_id: &str, entitlement_id: &str) -> ApiResult<()> {
    let mut conn = s
        .store
        .pool()
        .acquire()
        .await
        .map_err(chamberlain_store::StoreError::from)?;
    match catalogs::requestable_via(&mut conn, user_id, app_id, entitlement_id).await? {
        Requestability::Catalog(_) | Requestability::Open => Ok(()),
        Requestability::Hidden => Err(ApiError::denied(format!(
            "entitlement `{entitlement_id}` is not requestable by user `{user_id}`: it is offered only in access profiles this user cannot see (unpublished, or visible only to holders of other entitlements)"
        ))),
    }
}

/// What a requester searches the catalog for.
#[derive(Clone, Debug, Default)]
pub struct CatalogQuery {
    /// Substring of the display name, slug or alias (case-insensitive).
    pub query: String,
    /// Only entitlements of the app with this display name (exact, case-insensitive).
    pub app_display_name: String,
    /// Only the entitlement with this alias.
    pub alias: String,
    /// `Some(true)`: only what the user holds now; `Some(false)`: only what they do not.
    pub held: Option<bool>,
}

/// The entitlements `user_id` may request that match `q`, one page, by the same rules as
/// [`check`] (the web, the API, Slack and the CLI all search through here).
pub async fn search(
    s: &Shared,
    user_id: &str,
    q: &CatalogQuery,
    page: &record::PageReq,
) -> ApiResult<chamberlain_store::page::Page<AppEntitlement>> {
    let mut conn = s
        .store
        .pool()
        .acquire()
        .await
        .map_err(chamberlain_store::StoreError::from)?;
    let mut f = vec![catalogs::requestable_filter(&mut conn, user_id).await?];
    drop(conn);
    if !q.query.trim().is_empty() {
        f.push(Filter::Contains(
            vec!["display_name_lc", "slug", "alias"],
            q.query.trim().to_string(),
        ));
    }
    if !q.alias.is_empty() {
        f.push(Filter::Eq("alias", Col::Text(q.alias.clone())));
    }
    if !q.app_display_name.is_empty() {
        f.push(Filter::Sql(
            "app_id IN (SELECT id FROM apps WHERE deleted_at IS NULL AND display_name_lc = ?)"
                .into(),
            vec![Col::Text(q.app_display_name.trim().to_lowercase())],
        ));
    }
    if let Some(held) = q.held {
        f.push(catalogs::held_filter(user_id, held));
    }
    Ok(record::list::<AppEntitlement, _>(s.store.pool(), &f, false, page).await?)
}

/// `RequestCatalogSearchServiceSearchEntitlementsRequest`.
#[derive(Deserialize, Default)]
#[serde(rename_all = "camelCase", default, deny_unknown_fields)]
pub struct SearchRequest {
    app_display_name: String,
    entitlement_alias: String,
    expand_mask: Option<ExpandMaskBody>,
    granted_status: String,
    include_deleted: bool,
    page_size: Option<i64>,
    page_token: String,
    query: String,
}

/// `POST /api/v1/search/request_catalog/entitlements`: what the caller may request, each with
/// the caller's current grants of it.
pub async fn search_entitlements(
    State(s): State<Shared>,
    caller: Caller,
    Body(r): Body<SearchRequest>,
) -> ApiResult<Json<Value>> {
    if r.include_deleted {
        return Err(ApiError::invalid(
            "`includeDeleted` cannot be set here: deleted entitlements cannot be requested",
        ));
    }
    let held = match r.granted_status.as_str() {
        "" | "UNSPECIFIED" | "ALL" => None,
        "GRANTED" => Some(true),
        "NOT_GRANTED" => Some(false),
        other => {
            return Err(ApiError::invalid(format!(
                "`grantedStatus` `{other}` is not one of UNSPECIFIED, ALL, GRANTED, NOT_GRANTED"
            )))
        }
    };
    let me = caller.user_id().to_string();
    let q = CatalogQuery {
        query: r.query,
        app_display_name: r.app_display_name,
        alias: r.entitlement_alias,
        held,
    };
    let page = search(&s, &me, &q, &body_page(r.page_size, &r.page_token)?).await?;
    let ids: Vec<String> = page.items.iter().map(|e| e.id.clone()).collect();
    let bindings = grants::search(
        &s.store,
        &GrantQuery {
            entitlement_ids: ids,
            identity_user_id: Some(me),
            ..Default::default()
        },
        GrantState::Current,
        &record::PageReq::first(1000),
    )
    .await?;
    let mask = ExpandMask::new(&r.expand_mask.map(|m| m.paths).unwrap_or_default());
    let (views, expanded) = super::entitlements::views(&s, page.items, Some(&mask)).await?;
    let list: Vec<Value> = views
        .into_iter()
        .map(|v| {
            let mine: Vec<Value> = bindings
                .items
                .iter()
                .filter(|g| g.grant.app_entitlement_id == v.app_entitlement.id)
                .map(|g| json!(g.grant))
                .collect();
            json!({"entitlement": v, "appEntitlementUserBindings": mine})
        })
        .collect();
    Ok(Json(
        json!({"list": list, "nextPageToken": page.next_page_token, "expanded": expanded}),
    ))
}
