//! Policies: CEL validation (`c1.api.policy.v1.PolicyValidate`).

use crate::error::{ApiError, ApiResult};
use crate::extract::Body;
use crate::state::Caller;
use axum::Json;
use chamberlain_cel::{Expression, Purpose};
use serde::Deserialize;
use serde_json::{json, Value};

/// `c1.api.policy.v1.EditorValidateRequest`, plus the Chamberlain extension `purpose` (a
/// `chamberlain_cel::Purpose` name; default `policy_condition`).
#[derive(Deserialize, Default)]
#[serde(rename_all = "camelCase", default, deny_unknown_fields)]
pub struct ValidateRequest {
    text: String,
    purpose: Option<String>,
}

/// `POST /api/v1/policies/validate/cel`: the checker's markers for the expression (empty when
/// it is valid). Any authenticated caller may validate; nothing is stored.
pub async fn validate_cel(
    _caller: Caller,
    Body(req): Body<ValidateRequest>,
) -> ApiResult<Json<Value>> {
    let purpose = match req.purpose.as_deref() {
        None | Some("") => Purpose::PolicyCondition,
        Some(name) => Purpose::from_name(name).ok_or_else(|| {
            ApiError::invalid(format!(
                "unknown purpose `{name}`; valid: {}",
                Purpose::ALL
                    .iter()
                    .map(|p| p.name())
                    .collect::<Vec<_>>()
                    .join(", ")
            ))
        })?,
    };
    let markers: Vec<Value> = Expression::validate(purpose, &req.text)
        .into_iter()
        .map(|m| {
            json!({
                "startLineNumber": m.start_line_number,
                "startColumn": m.start_column,
                "endLineNumber": m.end_line_number,
                "endColumn": m.end_column,
                "message": m.message,
                "severity": "ERROR",
            })
        })
        .collect();
    Ok(Json(json!({ "markers": markers })))
}

// ---- Policies CRUD (`c1.api.policy.v1.Policies`) ----

use crate::authz;
use crate::routes::common;
use crate::state::Shared;
use axum::extract::{Path, State};
use chamberlain_access::policy as rules;
use chamberlain_model::policy::{Policy, PolicySteps, PolicyType, Rule};
use chamberlain_model::{new_id, Timestamp};
use chamberlain_store::record;
use chamberlain_store::repo::policies;
use chamberlain_store::StoreError;
use std::collections::{BTreeMap, HashMap};

/// Fields a client may set on a policy.
const WRITABLE: &[&str] = &[
    "displayName",
    "description",
    "policySteps",
    "rules",
    "baselinePolicyId",
    "postActions",
    "reassignTasksToDelegates",
    "annotations",
    "scope",
];

/// `c1.api.policy.v1.CreatePolicyRequest`.
#[derive(Deserialize, Default)]
#[serde(rename_all = "camelCase", default, deny_unknown_fields)]
pub struct CreatePolicyRequest {
    display_name: String,
    description: String,
    policy_type: PolicyType,
    policy_steps: BTreeMap<String, PolicySteps>,
    rules: Vec<Rule>,
    baseline_policy_id: String,
    post_actions: Vec<Value>,
    reassign_tasks_to_delegates: bool,
    annotations: BTreeMap<String, String>,
    scope: Option<Value>,
}

/// `c1.api.policy.v1.UpdatePolicyRequestInput`.
#[derive(Deserialize, Default)]
#[serde(rename_all = "camelCase", default, deny_unknown_fields)]
pub struct UpdatePolicyRequest {
    policy: Option<Value>,
    update_mask: Option<String>,
}

/// `c1.api.policy.v1.SearchPoliciesRequest` (the filters Chamberlain applies).
#[derive(Deserialize, Default)]
#[serde(rename_all = "camelCase", default, deny_unknown_fields)]
pub struct SearchPoliciesRequest {
    display_name: String,
    query: String,
    policy_types: Vec<String>,
    exclude_policy_ids: Vec<String>,
    include_deleted: bool,
    page_size: Option<i64>,
    page_token: String,
    refs: Vec<Value>,
    scope_app_entitlement_id: String,
    scope_app_id: String,
    scope_object_type: String,
    scope_slot: String,
    scope_view: String,
}

async fn others(s: &Shared, except: &str) -> ApiResult<HashMap<String, Policy>> {
    Ok(policies::all_live(s.store.pool())
        .await?
        .into_iter()
        .filter(|p| p.id != except)
        .map(|p| (p.id.clone(), p))
        .collect())
}

async fn check_users(s: &Shared, p: &Policy) -> ApiResult<()> {
    let mut ids: Vec<String> = Vec::new();
    for seq in p.policy_steps.values() {
        for step in &seq.steps {
            if let Some(a) = &step.approval {
                if let Some(u) = &a.users {
                    ids.extend(u.user_ids.iter().cloned());
                }
                ids.extend(a.fallback_user_ids().iter().cloned());
                ids.extend(a.allowed_reassignees.iter().cloned());
                if let Some(r) = a
                    .escalation
                    .as_ref()
                    .and_then(|e| e.reassign_to_approvers.as_ref())
                {
                    ids.extend(r.approver_ids.iter().cloned());
                }
            }
            if let Some(m) = step
                .provision
                .as_ref()
                .and_then(|p| p.provision_policy.as_ref())
                .and_then(|pp| pp.manual.as_ref())
            {
                ids.extend(m.user_ids.iter().cloned());
            }
        }
    }
    ids.sort();
    ids.dedup();
    common::users_exist(s, &ids).await?;
    for seq in p.policy_steps.values() {
        for step in &seq.steps {
            let hook = step
                .provision
                .as_ref()
                .and_then(|p| p.provision_policy.as_ref())
                .and_then(|pp| pp.webhook.as_ref());
            if let Some(w) = hook {
                common::load::<chamberlain_model::webhook::Webhook>(s, "webhook", &w.webhook_id)
                    .await?;
            }
        }
    }
    Ok(())
}

/// `POST /api/v1/policies`.
pub async fn create(
    State(s): State<Shared>,
    caller: Caller,
    Body(r): Body<CreatePolicyRequest>,
) -> ApiResult<Json<Value>> {
    authz::require_super_admin(&caller)?;
    let now = Timestamp::now();
    let p = Policy {
        id: new_id(),
        display_name: r.display_name,
        description: r.description,
        policy_type: r.policy_type,
        policy_steps: r.policy_steps,
        rules: r.rules,
        baseline_policy_id: r.baseline_policy_id,
        post_actions: r.post_actions,
        reassign_tasks_to_delegates: r.reassign_tasks_to_delegates,
        annotations: r.annotations,
        scope: r.scope,
        created_at: Some(now),
        updated_at: Some(now),
        ..Default::default()
    };
    rules::validate(&p, &others(&s, &p.id).await?).map_err(ApiError::invalid)?;
    check_users(&s, &p).await?;
    chamberlain_store::write_tx!(s.store, &caller.audit(), |tx| {
        tx.create(&p).await?;
        Ok(())
    })?;
    Ok(Json(json!({ "policy": p })))
}

/// `GET /api/v1/policies/{id}`.
pub async fn get(
    State(s): State<Shared>,
    caller: Caller,
    Path(id): Path<String>,
) -> ApiResult<Json<Value>> {
    authz::require_read(&caller)?;
    let p: Policy = common::load(&s, "policy", &id).await?;
    Ok(Json(json!({ "policy": p })))
}

/// `GET /api/v1/policies`.
pub async fn list(
    State(s): State<Shared>,
    caller: Caller,
    paging: crate::extract::Paging,
) -> ApiResult<Json<Value>> {
    authz::require_read(&caller)?;
    let page =
        record::list::<Policy, _>(s.store.pool(), &[], false, &common::page_req(&paging)).await?;
    Ok(Json(
        json!({"list": page.items, "nextPageToken": page.next_page_token}),
    ))
}

/// `POST /api/v1/search/policies`.
pub async fn search(
    State(s): State<Shared>,
    caller: Caller,
    Body(r): Body<SearchPoliciesRequest>,
) -> ApiResult<Json<Value>> {
    authz::require_read(&caller)?;
    let mut filters = Vec::new();
    for t in &r.policy_types {
        if PolicyType::parse(t).is_none() {
            return Err(ApiError::invalid(format!(
                "policyTypes: `{t}` is not a policy type (POLICY_TYPE_GRANT, POLICY_TYPE_REVOKE, POLICY_TYPE_CERTIFY)"
            )));
        }
    }
    if !r.policy_types.is_empty() {
        filters.push(chamberlain_store::Filter::In(
            "policy_type",
            r.policy_types.clone(),
        ));
    }
    if !r.exclude_policy_ids.is_empty() {
        filters.push(chamberlain_store::Filter::NotIn(
            "id",
            r.exclude_policy_ids.clone(),
        ));
    }
    let q = if r.query.is_empty() {
        &r.display_name
    } else {
        &r.query
    };
    if !q.is_empty() {
        filters.push(chamberlain_store::Filter::Contains(
            vec!["name_lc"],
            q.to_lowercase(),
        ));
    }
    let page = common::body_page(r.page_size, &r.page_token)?;
    let page =
        record::list::<Policy, _>(s.store.pool(), &filters, r.include_deleted, &page).await?;
    Ok(Json(
        json!({"list": page.items, "nextPageToken": page.next_page_token}),
    ))
}

/// `POST /api/v1/policies/{id}`: updates the fields in `updateMask` (all writable fields when
/// absent) and validates the result as a whole.
pub async fn update(
    State(s): State<Shared>,
    caller: Caller,
    Path(id): Path<String>,
    Body(r): Body<UpdatePolicyRequest>,
) -> ApiResult<Json<Value>> {
    authz::require_super_admin(&caller)?;
    common::check_id("id", &id)?;
    let patch = r.policy.ok_or_else(|| {
        ApiError::invalid(
            "`policy` is required: send {\"policy\": {...}, \"updateMask\": \"displayName,rules\"}",
        )
    })?;
    let typed: Policy = serde_json::from_value(patch.clone())
        .map_err(|e| ApiError::invalid(format!("field `policy`: {e}")))?;
    if !typed.id.is_empty() && typed.id != id {
        return Err(ApiError::invalid(format!(
            "policy.id `{}` does not match the id in the path `{id}`",
            typed.id
        )));
    }
    let before: Policy = common::load(&s, "policy", &id).await?;
    if before.system_builtin {
        return Err(ApiError::precondition(format!(
            "policy `{id}` is built in and cannot be changed; copy it into a new policy"
        )));
    }
    let (mut after, _) =
        chamberlain_model::mask::apply_typed(&before, &patch, r.update_mask.as_deref(), WRITABLE)
            .map_err(ApiError::invalid)?;
    after.updated_at = Some(Timestamp::now());
    rules::validate(&after, &others(&s, &id).await?).map_err(ApiError::invalid)?;
    check_users(&s, &after).await?;
    let after = chamberlain_store::write_tx!(s.store, &caller.audit(), |tx| {
        let current: Policy = tx.must_get(&id).await?;
        if current.updated_at != before.updated_at {
            return Err(StoreError::Stale(format!("policy {id} changed meanwhile")));
        }
        tx.replace(&current, &after).await?;
        Ok(after.clone())
    })?;
    Ok(Json(json!({ "policy": after })))
}

/// `DELETE /api/v1/policies/{id}`: refused while another policy, an entitlement or an app
/// refers to it.
pub async fn delete(
    State(s): State<Shared>,
    caller: Caller,
    Path(id): Path<String>,
) -> ApiResult<Json<Value>> {
    authz::require_super_admin(&caller)?;
    let p: Policy = common::load(&s, "policy", &id).await?;
    if p.system_builtin {
        return Err(ApiError::precondition(format!(
            "policy `{id}` is built in and cannot be deleted"
        )));
    }
    let referrers: Vec<String> = others(&s, &id)
        .await?
        .values()
        .filter(|o| rules::references(o).contains(&id.as_str()))
        .map(|o| format!("policy \"{}\" ({})", o.display_name, o.id))
        .collect();
    if !referrers.is_empty() {
        return Err(ApiError::precondition(format!(
            "policy `{id}` is referenced by {}; remove those references first",
            referrers.join(", ")
        )));
    }
    let used = policy_users(&s, &id).await?;
    if !used.is_empty() {
        return Err(ApiError::precondition(format!(
            "policy `{id}` is in use by {}; choose another policy there first",
            used.join(", ")
        )));
    }
    chamberlain_store::write_tx!(s.store, &caller.audit(), |tx| {
        tx.soft_delete::<Policy>(&id).await?;
        Ok(())
    })?;
    Ok(Json(json!({})))
}

/// Entitlements and apps whose grant, revoke, certify or emergency policy is `id` (at most 5).
async fn policy_users(s: &Shared, id: &str) -> ApiResult<Vec<String>> {
    let needle = format!("%\"{}\"%", id.replace(['%', '_', '"'], ""));
    let mut out = Vec::new();
    for (table, what) in [("app_entitlements", "entitlement"), ("apps", "app")] {
        let mut sql = record::Sql::new(&format!(
            "SELECT doc FROM {table} WHERE deleted_at IS NULL AND doc LIKE "
        ));
        sql.arg(needle.clone()).push(" LIMIT 50");
        let rows = sql
            .query()
            .fetch_all(s.store.pool())
            .await
            .map_err(StoreError::from)?;
        for r in rows {
            let doc: Value = serde_json::from_str(
                &sqlx::Row::try_get::<String, _>(&r, 0).map_err(StoreError::from)?,
            )
            .unwrap_or_default();
            let uses = [
                "grantPolicyId",
                "revokePolicyId",
                "certifyPolicyId",
                "emergencyGrantPolicyId",
            ]
            .iter()
            .any(|k| doc.get(k).and_then(Value::as_str) == Some(id));
            if uses && out.len() < 5 {
                out.push(format!(
                    "{what} \"{}\" ({})",
                    doc.get("displayName").and_then(Value::as_str).unwrap_or(""),
                    doc.get("id").and_then(Value::as_str).unwrap_or("")
                ));
            }
        }
    }
    Ok(out)
}
