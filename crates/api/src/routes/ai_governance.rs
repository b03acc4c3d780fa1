//! `/api/v1/settings/ai-governance`: the tenant's AI governance settings
//! (`c1.api.ai_governance.v1.AIGovernanceSettingsService`). Admins read them; only Super Admins
//! change them. `enabled: false` is the tenant-wide "disable MCP traffic" switch: the
//! authorization endpoint, token refresh and the gateway's authentication refuse while it is off.

use super::common;
use crate::authz;
use crate::error::{ApiError, ApiResult};
use crate::extract::Body;
use crate::state::{Caller, Shared};
use axum::extract::{Query, State};
use axum::Json;
use chamberlain_model::ai_governance::AiGovernanceSettings;
use chamberlain_model::mask;
use chamberlain_store::repo::ai_governance as repo;
use serde::Deserialize;
use serde_json::{json, Value};

/// `GET /api/v1/settings/ai-governance`.
pub async fn get(State(s): State<Shared>, caller: Caller) -> ApiResult<Json<Value>> {
    authz::require_read(&caller)?;
    let settings = repo::load(&s.store).await?;
    Ok(Json(json!({ "aiGovernanceSettings": settings })))
}

/// `UpdateAIGovernanceSettingsRequest`.
#[derive(Deserialize, Default)]
#[serde(rename_all = "camelCase", default, deny_unknown_fields)]
pub struct UpdateRequest {
    ai_governance_settings: Option<Value>,
    update_mask: Option<String>,
}

/// `POST /api/v1/settings/ai-governance`.
pub async fn update(
    State(s): State<Shared>,
    caller: Caller,
    Body(req): Body<UpdateRequest>,
) -> ApiResult<Json<Value>> {
    authz::require_super_admin(&caller)?;
    let patch = req
        .ai_governance_settings
        .ok_or_else(|| ApiError::invalid("`aiGovernanceSettings` is required"))?;
    // Refuses unknown fields, unknown enum names and malformed durations, naming the field.
    let _: AiGovernanceSettings = crate::extract::parse_json(patch.to_string().as_bytes())
        .map_err(|e| ApiError::invalid(format!("aiGovernanceSettings: {}", e.message)))?;
    let current = repo::load(&s.store).await?;
    let mut doc = serde_json::to_value(&current).map_err(|e| ApiError::invalid(e.to_string()))?;
    mask::apply(
        &mut doc,
        &patch,
        req.update_mask.as_deref(),
        AiGovernanceSettings::WRITABLE,
    )?;
    let mut next: AiGovernanceSettings =
        serde_json::from_value(doc).map_err(|e| ApiError::invalid(e.to_string()))?;
    next.validate().map_err(ApiError::invalid)?;
    let now = chamberlain_model::Timestamp::now();
    next.created_at = current.created_at.or(Some(now));
    next.updated_at = Some(now);
    chamberlain_store::write_tx!(s.store, &caller.audit(), |tx| {
        repo::save(tx, &next).await
    })?;
    crate::oauth::settings_changed(&s, &next);
    s.gateway
        .set_tool_defaults(chamberlain_gateway::registry::ToolDefaults {
            require_tool_approval: next.require_tool_approval,
            default_classification: next.default_tool_classification,
        });
    Ok(Json(json!({ "aiGovernanceSettings": next })))
}

/// Paging of the history.
#[derive(Deserialize, Default)]
#[serde(default)]
pub struct HistoryQuery {
    page_size: Option<String>,
    page_token: String,
}

/// `GET /api/v1/settings/ai-governance/history`: snapshots after each change, newest first,
/// read from the system log.
pub async fn history(
    State(s): State<Shared>,
    caller: Caller,
    Query(q): Query<HistoryQuery>,
) -> ApiResult<Json<Value>> {
    authz::require_read(&caller)?;
    let size = match q.page_size.as_deref() {
        Some(v) => Some(crate::extract::parse_page_size(v)?),
        None => None,
    };
    let page = common::body_page(size, &q.page_token)?;
    let events = repo::history(&s.store, &page).await?;
    let list: Vec<Value> = events
        .items
        .iter()
        .map(|e| {
            let kind = if e["activity_name"] == "Create" {
                "CHANGE_KIND_CREATE"
            } else {
                "CHANGE_KIND_PUT"
            };
            let actor = e["actor"]["user"]["uid"].as_str().unwrap_or("");
            json!({
                "metadata": {
                    "id": e["metadata"]["uid"],
                    "createdAt": e["time_dt"],
                    "changeKind": kind,
                    "syslogEventId": e["metadata"]["uid"],
                    "traceId": "",
                    "annotations": [],
                    "actor": {"kind": if actor.is_empty() { "ACTOR_KIND_UNSPECIFIED" } else { "ACTOR_KIND_API" }, "userId": actor},
                },
                "snapshot": e["entity_result"]["data"],
            })
        })
        .collect();
    Ok(Json(
        json!({"list": list, "nextPageToken": events.next_page_token}),
    ))
}

/// `GET /api/v1/settings/ai-governance/tenant-defaults`.
pub async fn tenant_defaults(State(s): State<Shared>, caller: Caller) -> ApiResult<Json<Value>> {
    authz::require_read(&caller)?;
    let settings = repo::load(&s.store).await?;
    Ok(Json(
        json!({ "requireToolApproval": settings.require_tool_approval }),
    ))
}
