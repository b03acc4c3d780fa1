//! Who may request what: an entitlement is requestable through a published access profile the
//! requester can see, or, when it is in no profile at all, by everyone (C1's default audience).

use crate::error::{ApiError, ApiResult};
use crate::state::Shared;
use chamberlain_store::repo::catalogs::{self, Requestability};

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

/// `c1.api.requestcatalog.v1.RequestCatalogSearchServiceSearchEntitlementsRequest`.
#[derive(serde::Deserialize, Default)]
#[serde(rename_all = "camelCase", default, deny_unknown_fields)]
pub struct SearchRequest {
    app_display_name: String,
    entitlement_alias: String,
    expand_mask: Option<crate::expand::ExpandMaskBody>,
    granted_status: String,
    include_deleted: bool,
    page_size: Option<i64>,
    page_token: String,
    query: String,
}

/// `POST /api/v1/search/request_catalog/entitlements`: the entitlements the caller may request
/// (as [`check`] decides: listed in a published access profile they can see, in no profile at
/// all, or the enrollment entitlement of a visible profile requestable as a bundle), each with
/// the caller's own current grants of it. Open to every user: it shows only what the caller
/// could request anyway.
pub async fn search(
    axum::extract::State(s): axum::extract::State<Shared>,
    caller: crate::state::Caller,
    crate::extract::Body(r): crate::extract::Body<SearchRequest>,
) -> ApiResult<axum::Json<serde_json::Value>> {
    use chamberlain_model::app::AppEntitlement;
    use chamberlain_store::repo::grants::{self, GrantQuery, GrantState};
    use chamberlain_store::{record, Col, Filter};
    if r.include_deleted {
        return Err(ApiError::new(
            crate::error::Code::Unimplemented,
            "includeDeleted is not supported here: deleted entitlements cannot be requested",
        ));
    }
    let user_id = caller.user_id().to_string();
    let now = chamberlain_model::Timestamp::now().as_micros();
    let visible = {
        let mut conn = s
            .store
            .pool()
            .acquire()
            .await
            .map_err(chamberlain_store::StoreError::from)?;
        catalogs::visible_catalog_ids(&mut conn, &user_id).await?
    };
    let marks = |n: usize| vec!["?"; n].join(", ");
    let mut text = String::from(
        "((id NOT IN (SELECT ce.entitlement_id FROM catalog_entries ce JOIN request_catalogs c ON c.id = ce.catalog_id WHERE c.deleted_at IS NULL) \
         AND id NOT IN (SELECT enrollment_entitlement_id FROM request_catalogs))",
    );
    let mut args: Vec<Col> = Vec::new();
    if !visible.is_empty() {
        text.push_str(&format!(
            " OR id IN (SELECT entitlement_id FROM catalog_entries WHERE catalog_id IN ({}))",
            marks(visible.len())
        ));
        args.extend(visible.iter().map(|c| Col::Text(c.clone())));
        text.push_str(&format!(
            " OR (app_id = ? AND id IN (SELECT enrollment_entitlement_id FROM request_catalogs WHERE deleted_at IS NULL AND request_bundle = 1 AND id IN ({}))))",
            marks(visible.len())
        ));
        args.push(Col::Text(catalogs::BUILTIN_APP_ID.to_string()));
        args.extend(visible.iter().map(|c| Col::Text(c.clone())));
    } else {
        text.push(')');
    }
    let mut f = vec![Filter::Sql(text, args)];
    if !r.query.is_empty() {
        f.push(Filter::Contains(
            vec!["display_name_lc", "slug", "alias"],
            r.query.to_lowercase(),
        ));
    }
    if !r.entitlement_alias.is_empty() {
        f.push(Filter::Eq("alias", Col::Text(r.entitlement_alias.clone())));
    }
    if !r.app_display_name.is_empty() {
        f.push(Filter::Sql(
            "app_id IN (SELECT id FROM apps WHERE deleted_at IS NULL AND display_name_lc = ?)"
                .into(),
            vec![Col::Text(r.app_display_name.to_lowercase())],
        ));
    }
    let held = "id IN (SELECT g.entitlement_id FROM grants g JOIN app_users u ON u.id = g.app_user_id \
                WHERE g.deleted_at IS NULL AND g.principal_kind = 'app_user' AND u.deleted_at IS NULL \
                AND u.identity_user_id = ? AND (g.deprovision_at IS NULL OR g.deprovision_at > ?))";
    match r.granted_status.as_str() {
        "" | "UNSPECIFIED" | "ALL" => {}
        "GRANTED" => f.push(Filter::Sql(
            held.into(),
            vec![Col::Text(user_id.clone()), Col::Int(now)],
        )),
        "NOT_GRANTED" => f.push(Filter::Sql(
            format!("NOT ({held})"),
            vec![Col::Text(user_id.clone()), Col::Int(now)],
        )),
        other => {
            return Err(ApiError::invalid(format!(
                "grantedStatus `{other}` is not ALL, GRANTED or NOT_GRANTED"
            )))
        }
    }
    let page = record::list::<AppEntitlement, _>(
        s.store.pool(),
        &f,
        false,
        &super::common::body_page(r.page_size, &r.page_token)?,
    )
    .await?;
    let ids: Vec<String> = page.items.iter().map(|e| e.id.clone()).collect();
    let mine = grants::search(
        &s.store,
        &GrantQuery {
            entitlement_ids: ids,
            identity_user_id: Some(user_id),
            ..Default::default()
        },
        GrantState::Current,
        &record::PageReq::first(1000),
    )
    .await?;
    let mask = crate::expand::ExpandMask::new(&r.expand_mask.map(|m| m.paths).unwrap_or_default());
    let (views, expanded) = super::entitlements::views(&s, page.items, Some(&mask)).await?;
    let list: Vec<serde_json::Value> = views
        .into_iter()
        .map(|v| {
            let bindings: Vec<_> = mine
                .items
                .iter()
                .filter(|g| g.grant.app_entitlement_id == v.app_entitlement.id)
                .map(|g| g.grant.clone())
                .collect();
            serde_json::json!({"entitlement": v, "appEntitlementUserBindings": bindings})
        })
        .collect();
    Ok(axum::Json(
        serde_json::json!({"list": list, "nextPageToken": page.next_page_token, "expanded": expanded}),
    ))
}
