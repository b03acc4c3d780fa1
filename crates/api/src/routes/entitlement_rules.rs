//! Entitlement configuration rules (`c1.api.app.v1.AppEntitlementRoutingRuleService`): request
//! settings (policy, maximum duration, emergency policy) for an app's entitlements that match a
//! CEL condition over `entitlement`. The request path applies them where an entitlement sets
//! nothing itself: entitlement, then the first matching rule, then the app's defaults.

use crate::authz;
use crate::error::{ApiError, ApiResult};
use crate::extract::{Body, Paging};
use crate::routes::common;
use crate::state::{Caller, Shared};
use axum::extract::{Path, State};
use axum::Json;
use chamberlain_cel::{Expression, Purpose};
use chamberlain_model::app::{AppEntitlementRoutingRule, RoutingRuleSettings};
use chamberlain_model::policy::Policy;
use chamberlain_model::{new_id, Timestamp};
use chamberlain_store::repo::policies;
use chamberlain_store::StoreError;
use serde::Deserialize;
use serde_json::{json, Value};

/// `CreateAppEntitlementRoutingRuleRequestInput` / `UpdateAppEntitlementRoutingRuleRequestInput`.
#[derive(Deserialize, Default)]
#[serde(rename_all = "camelCase", default, deny_unknown_fields)]
pub struct RuleRequest {
    display_name: Option<String>,
    description: Option<String>,
    condition: Option<String>,
    enabled: Option<bool>,
    priority: Option<i32>,
    settings: Option<RoutingRuleSettings>,
}

/// `ReorderAppEntitlementRoutingRulesRequestInput`.
#[derive(Deserialize, Default)]
#[serde(rename_all = "camelCase", default, deny_unknown_fields)]
pub struct ReorderRequest {
    rule_ids: Vec<String>,
}

async fn check(s: &Shared, r: &AppEntitlementRoutingRule) -> ApiResult<()> {
    common::require_name("displayName", &r.display_name)?;
    if !r.condition.trim().is_empty() {
        if let Err(markers) = Expression::compile(Purpose::EntitlementRule, &r.condition) {
            let m = &markers[0];
            return Err(ApiError::invalid(format!(
                "condition: {} (line {}, column {})",
                m.message, m.start_line_number, m.start_column
            )));
        }
    }
    if let Some(st) = &r.settings {
        for (field, id) in [
            ("settings.requestPolicyId", &st.request_policy_id),
            (
                "settings.emergencyGrantPolicyId",
                &st.emergency_grant_policy_id,
            ),
        ] {
            if !id.is_empty() {
                common::load::<Policy>(s, "policy", id)
                    .await
                    .map_err(|e| ApiError::invalid(format!("{field}: {}", e.message)))?;
            }
        }
        if st.max_grant_duration.is_some_and(|d| d.seconds <= 0) {
            return Err(ApiError::invalid(
                "settings.maxGrantDuration must be positive",
            ));
        }
    }
    Ok(())
}

async fn live(s: &Shared, app_id: &str, id: &str) -> ApiResult<AppEntitlementRoutingRule> {
    let r: AppEntitlementRoutingRule =
        common::load(s, "entitlement configuration rule", id).await?;
    if r.app_id != app_id {
        return Err(ApiError::not_found(format!(
            "entitlement configuration rule `{id}` was not found in app `{app_id}`"
        )));
    }
    Ok(r)
}

/// `GET /api/v1/apps/{app_id}/entitlement_configuration_rules`.
pub async fn list(
    State(s): State<Shared>,
    caller: Caller,
    Path(app_id): Path<String>,
    _paging: Paging,
) -> ApiResult<Json<Value>> {
    authz::require_read(&caller)?;
    common::app(&s, &app_id).await?;
    let rules = policies::routing_rules(s.store.pool(), &app_id).await?;
    Ok(Json(json!({"list": rules, "nextPageToken": ""})))
}

/// `POST /api/v1/apps/{app_id}/entitlement_configuration_rules`.
pub async fn create(
    State(s): State<Shared>,
    caller: Caller,
    Path(app_id): Path<String>,
    Body(r): Body<RuleRequest>,
) -> ApiResult<Json<Value>> {
    authz::require_app_write(&s, &caller, &app_id).await?;
    common::app(&s, &app_id).await?;
    let now = Timestamp::now();
    let existing = policies::routing_rules(s.store.pool(), &app_id).await?;
    let rule = AppEntitlementRoutingRule {
        id: new_id(),
        app_id: app_id.clone(),
        display_name: r.display_name.unwrap_or_default(),
        description: r.description.unwrap_or_default(),
        condition: r.condition.unwrap_or_default(),
        enabled: r.enabled.unwrap_or(true),
        priority: r
            .priority
            .unwrap_or_else(|| existing.iter().map(|x| x.priority).max().unwrap_or(0) + 1),
        settings: r.settings,
        created_at: Some(now),
        updated_at: Some(now),
        deleted_at: None,
    };
    check(&s, &rule).await?;
    chamberlain_store::write_tx!(s.store, &caller.audit(), |tx| { tx.create(&rule).await })?;
    Ok(Json(json!({ "routingRule": rule })))
}

/// `GET /api/v1/apps/{app_id}/entitlement_configuration_rules/{id}`.
pub async fn get(
    State(s): State<Shared>,
    caller: Caller,
    Path((app_id, id)): Path<(String, String)>,
) -> ApiResult<Json<Value>> {
    authz::require_read(&caller)?;
    Ok(Json(
        json!({ "routingRule": live(&s, &app_id, &id).await? }),
    ))
}

/// `POST /api/v1/apps/{app_id}/entitlement_configuration_rules/{id}`: sets the fields sent.
pub async fn update(
    State(s): State<Shared>,
    caller: Caller,
    Path((app_id, id)): Path<(String, String)>,
    Body(r): Body<RuleRequest>,
) -> ApiResult<Json<Value>> {
    authz::require_app_write(&s, &caller, &app_id).await?;
    let before = live(&s, &app_id, &id).await?;
    if r.priority.is_some() {
        return Err(ApiError::invalid(
            "priority is changed with POST …/entitlement_configuration_rules/reorder",
        ));
    }
    let mut after = before.clone();
    if let Some(v) = r.display_name {
        after.display_name = v;
    }
    if let Some(v) = r.description {
        after.description = v;
    }
    if let Some(v) = r.condition {
        after.condition = v;
    }
    if let Some(v) = r.enabled {
        after.enabled = v;
    }
    if r.settings.is_some() {
        after.settings = r.settings;
    }
    after.updated_at = Some(Timestamp::now());
    check(&s, &after).await?;
    chamberlain_store::write_tx!(s.store, &caller.audit(), |tx| {
        let current: AppEntitlementRoutingRule = tx.must_get(&id).await?;
        tx.replace(&current, &after).await
    })?;
    Ok(Json(json!({ "routingRule": after })))
}

/// `DELETE /api/v1/apps/{app_id}/entitlement_configuration_rules/{id}`.
pub async fn delete(
    State(s): State<Shared>,
    caller: Caller,
    Path((app_id, id)): Path<(String, String)>,
) -> ApiResult<Json<Value>> {
    authz::require_app_write(&s, &caller, &app_id).await?;
    live(&s, &app_id, &id).await?;
    chamberlain_store::write_tx!(s.store, &caller.audit(), |tx| {
        tx.soft_delete::<AppEntitlementRoutingRule>(&id)
            .await
            .map(|_| ())
    })?;
    Ok(Json(json!({})))
}

/// `POST /api/v1/apps/{app_id}/entitlement_configuration_rules/reorder`: `ruleIds` must name
/// every rule of the app once; they get priorities 1, 2, … in that order.
pub async fn reorder(
    State(s): State<Shared>,
    caller: Caller,
    Path(app_id): Path<String>,
    Body(r): Body<ReorderRequest>,
) -> ApiResult<Json<Value>> {
    authz::require_app_write(&s, &caller, &app_id).await?;
    common::app(&s, &app_id).await?;
    let rules = policies::routing_rules(s.store.pool(), &app_id).await?;
    let mut want: Vec<&str> = rules.iter().map(|x| x.id.as_str()).collect();
    let mut got: Vec<&str> = r.rule_ids.iter().map(String::as_str).collect();
    want.sort();
    got.sort();
    if want != got {
        return Err(ApiError::invalid(format!(
            "ruleIds must name each of the app's {} rules exactly once",
            rules.len()
        )));
    }
    let ordered = chamberlain_store::write_tx!(s.store, &caller.audit(), |tx| {
        let mut out = Vec::new();
        for (i, rid) in r.rule_ids.iter().enumerate() {
            let before: AppEntitlementRoutingRule = tx.must_get(rid).await?;
            let mut after = before.clone();
            after.priority = i as i32 + 1;
            after.updated_at = Some(tx.now());
            if after != before {
                tx.replace(&before, &after).await?;
            }
            out.push(after);
        }
        Ok::<_, StoreError>(out)
    })?;
    Ok(Json(json!({ "list": ordered })))
}
