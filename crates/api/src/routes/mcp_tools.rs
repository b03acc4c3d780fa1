//! MCP tools (`MCPToolService`: review state, classification, kill switch, history), toolsets
//! (`MCPAccessProfileService`, `MCPAccessProfileToolBindingService`) and the AI tool usage
//! audit (Chamberlain extension endpoints: search and NDJSON export).

use crate::authz;
use crate::error::{ApiError, ApiResult};
use crate::extract::{Body, Paging};
use crate::routes::common;
use crate::state::{Caller, Shared};
use axum::extract::{Path, Query, State};
use axum::response::{IntoResponse, Response};
use axum::Json;
use chamberlain_gateway::registry;
use chamberlain_model::mcp::*;
use chamberlain_model::Timestamp;
use chamberlain_store::record::{self, PageReq};
use chamberlain_store::repo::mcp::{self as repo, AuditQuery, AuditRecord, HistoryEntry};
use chamberlain_store::{Filter, StoreError};
use serde::Deserialize;
use serde_json::{json, Value};

/// Tool fields an update may set.
const TOOL_WRITABLE: &[&str] = &[
    "displayName",
    "description",
    "state",
    "classification",
    "visibility",
    "allowedClientTypes",
    "chamberlainKilled",
    "chamberlainNeedsReview",
];

/// Toolset fields an update may set.
const TOOLSET_WRITABLE: &[&str] = &["displayName", "description"];

async fn server(s: &Shared, app_id: &str, connector_id: &str) -> ApiResult<McpServer> {
    common::check_id("app_id", app_id)?;
    common::check_id("connector_id", connector_id)?;
    repo::server(s.store.pool(), app_id, connector_id)
        .await?
        .ok_or_else(|| {
            ApiError::not_found(format!(
                "MCP server `{connector_id}` was not found in app `{app_id}`"
            ))
        })
}

async fn tool(s: &Shared, app_id: &str, connector_id: &str, id: &str) -> ApiResult<McpTool> {
    server(s, app_id, connector_id).await?;
    let t: McpTool = common::load(s, "id", id).await?;
    if t.connector_id != connector_id {
        return Err(ApiError::not_found(format!(
            "MCP tool `{id}` was not found on server `{connector_id}`"
        )));
    }
    Ok(t)
}

/// Fills the computed fields of tools (requestable directly or through a toolset).
async fn with_requestable(s: &Shared, mut tools: Vec<McpTool>) -> ApiResult<Vec<McpTool>> {
    let index = s.gateway.index();
    let mut ents: Vec<String> = tools.iter().map(|t| t.app_entitlement_id.clone()).collect();
    let sets: Vec<(String, String)> = index
        .toolset_entitlements
        .iter()
        .map(|(set, ent)| (set.clone(), ent.clone()))
        .collect();
    ents.extend(sets.iter().map(|(_, e)| e.clone()));
    let requestable = repo::in_catalogs(&s.store, &ents).await?;
    for t in &mut tools {
        t.requestable = requestable.contains(&t.app_entitlement_id);
        t.requestable_via_toolset = sets.iter().any(|(set, ent)| {
            requestable.contains(ent)
                && index
                    .toolset_members
                    .get(set)
                    .is_some_and(|m| m.contains(&t.id))
        });
    }
    Ok(tools)
}

/// `GET /api/v1/apps/{app_id}/connectors/{connector_id}/mcp_tools`.
pub async fn list_tools(
    State(s): State<Shared>,
    caller: Caller,
    Path((app_id, connector_id)): Path<(String, String)>,
    paging: Paging,
) -> ApiResult<Json<Value>> {
    authz::require_read(&caller)?;
    server(&s, &app_id, &connector_id).await?;
    let page = record::list::<McpTool, _>(
        s.store.pool(),
        &[Filter::Eq("server_id", connector_id.as_str().into())],
        false,
        &common::page_req(&paging),
    )
    .await?;
    let tools = with_requestable(&s, page.items).await?;
    Ok(Json(
        json!({ "tools": tools, "nextPageToken": page.next_page_token }),
    ))
}

/// `GET /api/v1/apps/{app_id}/connectors/{connector_id}/mcp_tools/{id}`.
pub async fn get_tool(
    State(s): State<Shared>,
    caller: Caller,
    Path((app_id, connector_id, id)): Path<(String, String, String)>,
) -> ApiResult<Json<Value>> {
    authz::require_read(&caller)?;
    let t = tool(&s, &app_id, &connector_id, &id).await?;
    let t = with_requestable(&s, vec![t]).await?.remove(0);
    Ok(Json(json!({ "tool": t })))
}

/// `c1.api.ai_governance.v1.MCPToolServiceUpdateRequestInput`.
#[derive(Deserialize, Default)]
#[serde(rename_all = "camelCase", default, deny_unknown_fields)]
pub struct UpdateToolRequest {
    tool: Option<Value>,
    update_mask: Option<String>,
}

/// `POST /api/v1/apps/{app_id}/connectors/{connector_id}/mcp_tools/{id}`: review (state),
/// classification, visibility, display fields and the tool kill switch. Changing the state
/// (or clearing `chamberlainNeedsReview`) marks the current definition as reviewed.
pub async fn update_tool(
    State(s): State<Shared>,
    caller: Caller,
    Path((app_id, connector_id, id)): Path<(String, String, String)>,
    Body(r): Body<UpdateToolRequest>,
) -> ApiResult<Json<Value>> {
    authz::require_app_write(&s, &caller, &app_id).await?;
    let before = tool(&s, &app_id, &connector_id, &id).await?;
    let patch = r.tool.ok_or_else(|| {
        ApiError::invalid("`tool` is required: send {\"tool\": {\"state\": \"MCP_TOOL_STATE_APPROVED\"}, \"updateMask\": \"state\"}")
    })?;
    let (mut after, paths) = chamberlain_model::mask::apply_typed(
        &before,
        &patch,
        r.update_mask.as_deref(),
        TOOL_WRITABLE,
    )
    .map_err(ApiError::invalid)?;
    match after.state {
        McpToolState::Unspecified => {
            return Err(ApiError::invalid(
                "tool.state must be MCP_TOOL_STATE_PENDING_REVIEW, MCP_TOOL_STATE_APPROVED or MCP_TOOL_STATE_DISABLED",
            ))
        }
        McpToolState::Removed if before.state != McpToolState::Removed => {
            return Err(ApiError::invalid(
                "a tool becomes MCP_TOOL_STATE_REMOVED only when its server stops listing it; use MCP_TOOL_STATE_DISABLED to stop its use",
            ))
        }
        McpToolState::Approved if before.state == McpToolState::Removed => {
            return Err(ApiError::precondition(
                "the server no longer lists this tool; it cannot be approved until a discovery finds it again",
            ))
        }
        _ => {}
    }
    if after.classification == ToolClassification::Unspecified {
        after.classification = before.default_classification;
    }
    let reviewed = paths.iter().any(|p| p == "state")
        || (paths.iter().any(|p| p == "chamberlainNeedsReview") && !after.chamberlain_needs_review);
    if reviewed {
        after.chamberlain_needs_review = false;
        after.chamberlain_reviewed_definition = Value::Null;
    } else if after.chamberlain_needs_review && !before.chamberlain_needs_review {
        return Err(ApiError::invalid(
            "chamberlainNeedsReview is set by discovery when a definition changes; it can only be cleared",
        ));
    }
    after.updated_at = Some(Timestamp::now());
    let after = chamberlain_store::write_tx!(s.store, &caller.audit(), |tx| {
        let current: McpTool = tx.must_get(&id).await?;
        if current.updated_at != before.updated_at {
            return Err(StoreError::Stale(format!(
                "MCP tool {id} changed meanwhile"
            )));
        }
        tx.replace(&current, &after).await?;
        repo::history(
            tx,
            &id,
            "",
            "tool.updated",
            &serde_json::to_value(&after).unwrap_or_default(),
        )
        .await?;
        registry::changed(tx, &after.app_id).await?;
        Ok(after.clone())
    })?;
    s.gateway.reload().await?;
    Ok(Json(json!({ "tool": after })))
}

/// An empty request body.
#[derive(Deserialize, Default)]
#[serde(default, deny_unknown_fields)]
pub struct Empty {}

/// `DELETE /api/v1/apps/{app_id}/connectors/{connector_id}/mcp_tools/{id}`: the tool record
/// and its entitlement go (a later discovery that still finds it starts it over for review).
pub async fn delete_tool(
    State(s): State<Shared>,
    caller: Caller,
    Path((app_id, connector_id, id)): Path<(String, String, String)>,
    Body(_): Body<Empty>,
) -> ApiResult<Json<Value>> {
    authz::require_app_write(&s, &caller, &app_id).await?;
    let t = tool(&s, &app_id, &connector_id, &id).await?;
    chamberlain_store::write_tx!(s.store, &caller.audit(), |tx| {
        tx.soft_delete::<McpTool>(&t.id).await?;
        repo::unbind_all(tx, "tool_id", &t.id).await?;
        if let Some(ent) = tx
            .get::<chamberlain_model::app::AppEntitlement>(&t.app_entitlement_id)
            .await?
        {
            chamberlain_store::repo::grants::remove_all_holders(tx, &ent).await?;
            tx.soft_delete::<chamberlain_model::app::AppEntitlement>(&ent.id)
                .await?;
        }
        repo::history(tx, &t.id, "", "tool.deleted", &Value::Null).await?;
        registry::rename_all(tx).await?;
        registry::changed(tx, &t.app_id).await
    })?;
    s.gateway.reload().await?;
    Ok(Json(json!({})))
}

fn history_metadata(e: &HistoryEntry, kind: &str) -> Value {
    json!({
        "id": e.id,
        "createdAt": e.at,
        "actor": {"kind": if e.actor_user_id.is_empty() { "SYSTEM" } else { "USER" }, "userId": e.actor_user_id},
        "changeKind": kind,
        "annotations": [{"key": "chamberlain.kind", "value": e.kind}],
        "syslogEventId": "",
        "traceId": "",
    })
}

/// `GET …/mcp_tools/{id}/history`: snapshots of the tool, newest first (discovered, changed
/// with the new definition, reviewed, removed).
pub async fn tool_history(
    State(s): State<Shared>,
    caller: Caller,
    Path((app_id, connector_id, id)): Path<(String, String, String)>,
    paging: Paging,
) -> ApiResult<Json<Value>> {
    authz::require_read(&caller)?;
    tool(&s, &app_id, &connector_id, &id).await?;
    let mut page_req = common::page_req(&paging);
    page_req.descending = true;
    let page = repo::history_page(&s.store, "subject_id", &id, &page_req).await?;
    let list: Vec<Value> = page
        .items
        .iter()
        .map(|e| {
            json!({
                "metadata": history_metadata(e, if e.kind == "tool.discovered" { "CHANGE_KIND_CREATE" } else { "CHANGE_KIND_PUT" }),
                "snapshot": e.doc,
            })
        })
        .collect();
    Ok(Json(
        json!({ "list": list, "nextPageToken": page.next_page_token }),
    ))
}

/// `c1.api.ai_governance.v1.MCPToolServiceSearchRequestInput`.
#[derive(Deserialize, Default)]
#[serde(rename_all = "camelCase", default, deny_unknown_fields)]
pub struct SearchToolsRequest {
    query: String,
    state_filter: Vec<McpToolState>,
    classification_filter: Vec<ToolClassification>,
    visibility_filter: Vec<ToolVisibility>,
    access_profile_id: String,
    access_profile_ids: Vec<String>,
    exclude_access_profile_id: String,
    exclude_access_profile_ids: Vec<String>,
    refs: Vec<Value>,
    include_last_called_at: bool,
    include_requestable: bool,
    sort_by: String,
    sort_direction: String,
    page_size: Option<i64>,
    page_token: String,
}

/// `POST …/mcp_tools/search`.
pub async fn search_tools(
    State(s): State<Shared>,
    caller: Caller,
    Path((app_id, connector_id)): Path<(String, String)>,
    Body(r): Body<SearchToolsRequest>,
) -> ApiResult<Json<Value>> {
    authz::require_read(&caller)?;
    server(&s, &app_id, &connector_id).await?;
    let _ = (
        &r.refs,
        r.include_last_called_at,
        &r.sort_by,
        &r.sort_direction,
    );
    let mut filters = vec![Filter::Eq("server_id", connector_id.as_str().into())];
    if !r.query.trim().is_empty() {
        filters.push(Filter::Contains(
            vec!["name_lc"],
            r.query.trim().to_lowercase(),
        ));
    }
    let enum_filter = |col: &'static str, vals: Vec<&'static str>| -> Option<Filter> {
        let vals: Vec<String> = vals
            .into_iter()
            .filter(|v| !v.ends_with("_UNSPECIFIED"))
            .map(str::to_string)
            .collect();
        (!vals.is_empty()).then_some(Filter::In(col, vals))
    };
    filters.extend(enum_filter(
        "state",
        r.state_filter.iter().map(|v| v.as_str()).collect(),
    ));
    filters.extend(enum_filter(
        "classification",
        r.classification_filter.iter().map(|v| v.as_str()).collect(),
    ));
    filters.extend(enum_filter(
        "visibility",
        r.visibility_filter.iter().map(|v| v.as_str()).collect(),
    ));
    let index = s.gateway.index();
    let mut include: Vec<String> = r.access_profile_ids.clone();
    if !r.access_profile_id.is_empty() {
        include.push(r.access_profile_id.clone());
    }
    if !include.is_empty() {
        let ids: Vec<String> = include
            .iter()
            .flat_map(|p| index.toolset_members.get(p).cloned().unwrap_or_default())
            .collect();
        filters.push(Filter::In("id", ids));
    }
    let mut exclude: Vec<String> = r.exclude_access_profile_ids.clone();
    if !r.exclude_access_profile_id.is_empty() {
        exclude.push(r.exclude_access_profile_id.clone());
    }
    if !exclude.is_empty() {
        let ids: Vec<String> = exclude
            .iter()
            .flat_map(|p| index.toolset_members.get(p).cloned().unwrap_or_default())
            .collect();
        filters.push(Filter::NotIn("id", ids));
    }
    let page = record::list::<McpTool, _>(
        s.store.pool(),
        &filters,
        false,
        &common::body_page(r.page_size, &r.page_token)?,
    )
    .await?;
    let tools = if r.include_requestable {
        with_requestable(&s, page.items).await?
    } else {
        page.items
    };
    Ok(Json(
        json!({ "list": tools, "nextPageToken": page.next_page_token }),
    ))
}

// ---- Toolsets ----

async fn toolset(s: &Shared, app_id: &str, connector_id: &str, id: &str) -> ApiResult<McpToolset> {
    server(s, app_id, connector_id).await?;
    let t: McpToolset = common::load(s, "id", id).await?;
    if t.connector_id != connector_id {
        return Err(ApiError::not_found(format!(
            "MCP toolset `{id}` was not found on server `{connector_id}`"
        )));
    }
    Ok(t)
}

/// Fills a toolset's computed fields: tool count (now), requestable, server name.
async fn toolset_view(s: &Shared, mut sets: Vec<McpToolset>) -> ApiResult<Vec<McpToolset>> {
    let index = s.gateway.index();
    let ents: Vec<String> = sets.iter().map(|t| t.app_entitlement_id.clone()).collect();
    let requestable = repo::in_catalogs(&s.store, &ents).await?;
    for t in &mut sets {
        t.tool_count = index
            .toolset_members
            .get(&t.id)
            .map(|m| m.len())
            .unwrap_or(0) as i32;
        t.requestable = requestable.contains(&t.app_entitlement_id);
        if let Some(sv) = index.servers.get(&t.connector_id) {
            t.connector_display_name = sv.display_name.clone();
        }
    }
    Ok(sets)
}

/// `GET …/mcp_toolsets`.
pub async fn list_toolsets(
    State(s): State<Shared>,
    caller: Caller,
    Path((app_id, connector_id)): Path<(String, String)>,
    paging: Paging,
) -> ApiResult<Json<Value>> {
    authz::require_read(&caller)?;
    server(&s, &app_id, &connector_id).await?;
    let page = record::list::<McpToolset, _>(
        s.store.pool(),
        &[Filter::Eq("server_id", connector_id.as_str().into())],
        false,
        &common::page_req(&paging),
    )
    .await?;
    let sets = toolset_view(&s, page.items).await?;
    Ok(Json(
        json!({ "profiles": sets, "nextPageToken": page.next_page_token }),
    ))
}

/// `c1.api.ai_governance.v1.MCPAccessProfileServiceCreateRequestInput`.
#[derive(Deserialize, Default)]
#[serde(rename_all = "camelCase", default, deny_unknown_fields)]
pub struct CreateToolsetRequest {
    display_name: String,
    description: String,
}

/// `POST …/mcp_toolsets`: a custom toolset, backed by a new entitlement of the server's app.
pub async fn create_toolset(
    State(s): State<Shared>,
    caller: Caller,
    Path((app_id, connector_id)): Path<(String, String)>,
    Body(r): Body<CreateToolsetRequest>,
) -> ApiResult<Json<Value>> {
    authz::require_app_write(&s, &caller, &app_id).await?;
    let sv = server(&s, &app_id, &connector_id).await?;
    common::require_name("displayName", &r.display_name)?;
    let name = r.display_name.trim().to_string();
    let set = chamberlain_store::write_tx!(s.store, &caller.audit(), |tx| {
        let set = registry::create_toolset(tx, &sv, &name, &r.description, "").await?;
        registry::changed(tx, &sv.app_id).await?;
        Ok(set)
    })?;
    s.gateway.reload().await?;
    let set = toolset_view(&s, vec![set]).await?.remove(0);
    Ok(Json(json!({ "profile": set })))
}

/// `GET …/mcp_toolsets/{id}`.
pub async fn get_toolset(
    State(s): State<Shared>,
    caller: Caller,
    Path((app_id, connector_id, id)): Path<(String, String, String)>,
) -> ApiResult<Json<Value>> {
    authz::require_read(&caller)?;
    let set = toolset(&s, &app_id, &connector_id, &id).await?;
    let set = toolset_view(&s, vec![set]).await?.remove(0);
    Ok(Json(json!({ "profile": set })))
}

/// `c1.api.ai_governance.v1.MCPAccessProfileServiceUpdateRequestInput`.
#[derive(Deserialize, Default)]
#[serde(rename_all = "camelCase", default, deny_unknown_fields)]
pub struct UpdateToolsetRequest {
    profile: Option<Value>,
    update_mask: Option<String>,
}

fn refuse_builtin(set: &McpToolset) -> ApiResult<()> {
    if set.chamberlain_built_in.is_empty() {
        Ok(())
    } else {
        Err(ApiError::precondition(format!(
            "toolset \"{}\" maintains itself ({}) and cannot be edited; create a custom toolset instead",
            set.display_name, set.chamberlain_built_in
        )))
    }
}

/// `POST …/mcp_toolsets/{id}`.
pub async fn update_toolset(
    State(s): State<Shared>,
    caller: Caller,
    Path((app_id, connector_id, id)): Path<(String, String, String)>,
    Body(r): Body<UpdateToolsetRequest>,
) -> ApiResult<Json<Value>> {
    authz::require_app_write(&s, &caller, &app_id).await?;
    let before = toolset(&s, &app_id, &connector_id, &id).await?;
    refuse_builtin(&before)?;
    let patch = r.profile.ok_or_else(|| {
        ApiError::invalid("`profile` is required: send {\"profile\": {\"displayName\": \"…\"}, \"updateMask\": \"displayName\"}")
    })?;
    let (mut after, _) = chamberlain_model::mask::apply_typed(
        &before,
        &patch,
        r.update_mask.as_deref(),
        TOOLSET_WRITABLE,
    )
    .map_err(ApiError::invalid)?;
    common::require_name("displayName", &after.display_name)?;
    after.display_name = after.display_name.trim().to_string();
    after.updated_at = Some(Timestamp::now());
    let after = chamberlain_store::write_tx!(s.store, &caller.audit(), |tx| {
        let current: McpToolset = tx.must_get(&id).await?;
        tx.replace(&current, &after).await?;
        registry::changed(tx, &after.app_id).await?;
        Ok(after.clone())
    })?;
    s.gateway.reload().await?;
    let after = toolset_view(&s, vec![after]).await?.remove(0);
    Ok(Json(json!({ "profile": after })))
}

/// `DELETE …/mcp_toolsets/{id}`: the toolset and its entitlement (every grant of it ends).
pub async fn delete_toolset(
    State(s): State<Shared>,
    caller: Caller,
    Path((app_id, connector_id, id)): Path<(String, String, String)>,
    Body(_): Body<Empty>,
) -> ApiResult<Json<Value>> {
    authz::require_app_write(&s, &caller, &app_id).await?;
    let set = toolset(&s, &app_id, &connector_id, &id).await?;
    refuse_builtin(&set)?;
    chamberlain_store::write_tx!(s.store, &caller.audit(), |tx| {
        registry::delete_toolset(tx, &set).await?;
        registry::changed(tx, &set.app_id).await
    })?;
    s.gateway.reload().await?;
    Ok(Json(json!({})))
}

fn binding(set: &McpToolset, tool_id: &str) -> McpToolBinding {
    McpToolBinding {
        access_profile_id: set.id.clone(),
        app_id: set.app_id.clone(),
        connector_id: set.connector_id.clone(),
        mcp_tool_id: tool_id.to_string(),
        ..Default::default()
    }
}

/// `GET …/mcp_toolsets/{access_profile_id}/tool_bindings` (built-in toolsets list their
/// current members).
pub async fn list_bindings(
    State(s): State<Shared>,
    caller: Caller,
    Path((app_id, connector_id, id)): Path<(String, String, String)>,
    paging: Paging,
) -> ApiResult<Json<Value>> {
    authz::require_read(&caller)?;
    let set = toolset(&s, &app_id, &connector_id, &id).await?;
    let _ = paging;
    let members = s
        .gateway
        .index()
        .toolset_members
        .get(&set.id)
        .cloned()
        .unwrap_or_default();
    let bindings: Vec<McpToolBinding> = members.iter().map(|t| binding(&set, t)).collect();
    Ok(Json(json!({ "bindings": bindings, "nextPageToken": "" })))
}

/// `c1.api.ai_governance.v1.MCPAccessProfileToolBindingServiceCreateRequestInput` (and the
/// delete input, which has the same shape).
#[derive(Deserialize, Default)]
#[serde(rename_all = "camelCase", default, deny_unknown_fields)]
pub struct BindingsRequest {
    mcp_tool_ids: Vec<String>,
}

/// `POST …/tool_bindings`: binds tools of the same server to a custom toolset.
pub async fn create_bindings(
    State(s): State<Shared>,
    caller: Caller,
    Path((app_id, connector_id, id)): Path<(String, String, String)>,
    Body(r): Body<BindingsRequest>,
) -> ApiResult<Json<Value>> {
    authz::require_app_write(&s, &caller, &app_id).await?;
    let set = toolset(&s, &app_id, &connector_id, &id).await?;
    refuse_builtin(&set)?;
    if r.mcp_tool_ids.is_empty() {
        return Err(ApiError::invalid(
            "mcpToolIds is required (the tools to bind)",
        ));
    }
    let tools = repo::tools_of(s.store.pool(), &connector_id).await?;
    for tid in &r.mcp_tool_ids {
        match tools.iter().find(|t| &t.id == tid) {
            None => {
                return Err(ApiError::invalid(format!(
                    "tool `{tid}` is not a tool of server `{connector_id}`"
                )))
            }
            Some(t) if t.state == McpToolState::Removed => {
                return Err(ApiError::precondition(format!(
                    "tool `{}` was removed from its server and cannot be bound",
                    t.tool_name
                )))
            }
            _ => {}
        }
    }
    let ids = r.mcp_tool_ids.clone();
    chamberlain_store::write_tx!(s.store, &caller.audit(), |tx| {
        let added = repo::bind(tx, &set, &ids).await?;
        tx.audit(
            chamberlain_store::Activity::Update,
            "MCP toolset bindings",
            &set.id,
            None,
            Some(json!({"added": added})),
        )
        .await?;
        registry::changed(tx, &set.app_id).await
    })?;
    s.gateway.reload().await?;
    let bindings: Vec<McpToolBinding> = r.mcp_tool_ids.iter().map(|t| binding(&set, t)).collect();
    Ok(Json(json!({ "bindings": bindings })))
}

/// `POST …/tool_bindings/delete`.
pub async fn delete_bindings(
    State(s): State<Shared>,
    caller: Caller,
    Path((app_id, connector_id, id)): Path<(String, String, String)>,
    Body(r): Body<BindingsRequest>,
) -> ApiResult<Json<Value>> {
    authz::require_app_write(&s, &caller, &app_id).await?;
    let set = toolset(&s, &app_id, &connector_id, &id).await?;
    refuse_builtin(&set)?;
    if r.mcp_tool_ids.is_empty() {
        return Err(ApiError::invalid(
            "mcpToolIds is required (the tools to unbind)",
        ));
    }
    let ids = r.mcp_tool_ids.clone();
    chamberlain_store::write_tx!(s.store, &caller.audit(), |tx| {
        let removed = repo::unbind(tx, &set.id, &ids).await?;
        tx.audit(
            chamberlain_store::Activity::Update,
            "MCP toolset bindings",
            &set.id,
            None,
            Some(json!({"removed": removed})),
        )
        .await?;
        registry::changed(tx, &set.app_id).await
    })?;
    s.gateway.reload().await?;
    Ok(Json(json!({})))
}

fn binding_history(
    page: chamberlain_store::page::Page<HistoryEntry>,
    other_side: fn(&HistoryEntry) -> &str,
) -> Value {
    let list: Vec<Value> = page
        .items
        .iter()
        .map(|e| {
            json!({
                "metadata": history_metadata(e, ""),
                "items": [{
                    "changeKind": if e.kind == "binding.added" { "LIST_CHANGE_KIND_ADDED" } else { "LIST_CHANGE_KIND_REMOVED" },
                    "listIndex": other_side(e),
                }],
            })
        })
        .collect();
    json!({ "list": list, "nextPageToken": page.next_page_token })
}

/// `GET …/mcp_toolsets/{access_profile_id}/tool_bindings/history`.
pub async fn toolset_binding_history(
    State(s): State<Shared>,
    caller: Caller,
    Path((app_id, connector_id, id)): Path<(String, String, String)>,
    paging: Paging,
) -> ApiResult<Json<Value>> {
    authz::require_read(&caller)?;
    toolset(&s, &app_id, &connector_id, &id).await?;
    let mut page_req = common::page_req(&paging);
    page_req.descending = true;
    let page = repo::history_page(&s.store, "subject_id", &id, &page_req).await?;
    Ok(Json(binding_history(page, |e| &e.related_id)))
}

/// `GET …/tool_bindings/by_tool/{mcp_tool_id}/history`.
pub async fn tool_binding_history(
    State(s): State<Shared>,
    caller: Caller,
    Path((app_id, connector_id, tool_id)): Path<(String, String, String)>,
    paging: Paging,
) -> ApiResult<Json<Value>> {
    authz::require_read(&caller)?;
    tool(&s, &app_id, &connector_id, &tool_id).await?;
    let mut page_req = common::page_req(&paging);
    page_req.descending = true;
    let page = repo::history_page(&s.store, "related_id", &tool_id, &page_req).await?;
    Ok(Json(binding_history(page, |e| &e.subject_id)))
}

/// `GET /api/v1/apps/{app_id}/mcp_toolsets/by_app_entitlement_id/{app_entitlement_id}`.
pub async fn toolset_by_entitlement(
    State(s): State<Shared>,
    caller: Caller,
    Path((app_id, ent_id)): Path<(String, String)>,
) -> ApiResult<Json<Value>> {
    authz::require_read(&caller)?;
    common::check_id("app_id", &app_id)?;
    common::check_id("app_entitlement_id", &ent_id)?;
    let page = record::list::<McpToolset, _>(
        s.store.pool(),
        &[
            Filter::Eq("entitlement_id", ent_id.as_str().into()),
            Filter::Eq("app_id", app_id.as_str().into()),
        ],
        false,
        &PageReq::first(1),
    )
    .await?;
    let set = page.items.into_iter().next().ok_or_else(|| {
        ApiError::not_found(format!(
            "no MCP toolset is backed by entitlement `{ent_id}` in app `{app_id}`"
        ))
    })?;
    let set = toolset_view(&s, vec![set]).await?.remove(0);
    Ok(Json(json!({ "profile": set })))
}

/// Query of `GET /api/v1/mcp_toolsets/search`.
#[derive(Deserialize, Default)]
#[serde(default)]
pub struct ToolsetSearchQuery {
    query: String,
}

/// `GET /api/v1/mcp_toolsets/search`: toolsets across servers by name.
pub async fn search_toolsets(
    State(s): State<Shared>,
    caller: Caller,
    Query(q): Query<ToolsetSearchQuery>,
    paging: Paging,
) -> ApiResult<Json<Value>> {
    authz::require_read(&caller)?;
    let mut filters = Vec::new();
    if !q.query.trim().is_empty() {
        filters.push(Filter::Contains(
            vec!["name_lc"],
            q.query.trim().to_lowercase(),
        ));
    }
    let page =
        record::list::<McpToolset, _>(s.store.pool(), &filters, false, &common::page_req(&paging))
            .await?;
    let sets = toolset_view(&s, page.items).await?;
    Ok(Json(
        json!({ "profiles": sets, "nextPageToken": page.next_page_token }),
    ))
}

// ---- AI tool usage audit (extension) ----

/// Body of the audit search (Chamberlain extension).
#[derive(Deserialize, Default)]
#[serde(rename_all = "camelCase", default, deny_unknown_fields)]
pub struct AuditSearchRequest {
    user_ids: Vec<String>,
    server_ids: Vec<String>,
    tool_names: Vec<String>,
    client_ids: Vec<String>,
    results: Vec<String>,
    since: Option<Timestamp>,
    until: Option<Timestamp>,
    page_size: Option<i64>,
    page_token: String,
}

impl AuditSearchRequest {
    fn query(&self) -> ApiResult<AuditQuery> {
        for r in &self.results {
            if !["SUCCESS", "DENIED", "ERROR"].contains(&r.as_str()) {
                return Err(ApiError::invalid(format!(
                    "results: `{r}` is not one of SUCCESS, DENIED, ERROR"
                )));
            }
        }
        Ok(AuditQuery {
            user_ids: self.user_ids.clone(),
            server_ids: self.server_ids.clone(),
            tool_names: self.tool_names.clone(),
            results: self.results.clone(),
            client_ids: self.client_ids.clone(),
            since: self.since,
            until: self.until,
        })
    }
}

fn audit_json(r: &AuditRecord) -> Value {
    json!({
        "id": r.id,
        "occurredAt": r.at,
        "userId": r.user_id,
        "clientId": r.client_id,
        "sessionId": r.session_id,
        "method": r.method,
        "connectorId": r.server_id,
        "toolId": r.tool_id,
        "toolName": r.tool_name,
        "result": r.result,
        "reason": r.reason,
        "latencyMicros": r.latency_us.to_string(),
        "detail": r.doc,
    })
}

/// `POST /api/v1/ai-governance/audit/search` (extension): one record per MCP request, newest
/// first. Admins see everyone's; other users their own.
pub async fn search_audit(
    State(s): State<Shared>,
    caller: Caller,
    Body(r): Body<AuditSearchRequest>,
) -> ApiResult<Json<Value>> {
    let mut q = r.query()?;
    if !caller.principal.can_read_all() {
        q.user_ids = vec![caller.user_id().to_string()];
    }
    let mut page = common::body_page(r.page_size, &r.page_token)?;
    page.descending = true;
    let result = repo::search_audit(&s.store, &q, &page).await?;
    let list: Vec<Value> = result.items.iter().map(audit_json).collect();
    Ok(Json(
        json!({ "list": list, "nextPageToken": result.next_page_token }),
    ))
}

/// `POST /api/v1/ai-governance/audit/export` (extension): every matching record as NDJSON
/// (one JSON object per line), newest first.
pub async fn export_audit(
    State(s): State<Shared>,
    caller: Caller,
    Body(r): Body<AuditSearchRequest>,
) -> ApiResult<Response> {
    authz::require_read(&caller)?;
    let q = r.query()?;
    let mut out = String::new();
    let mut page = PageReq {
        size: 1000,
        token: String::new(),
        descending: true,
    };
    loop {
        let result = repo::search_audit(&s.store, &q, &page).await?;
        for rec in &result.items {
            out.push_str(&audit_json(rec).to_string());
            out.push('\n');
        }
        if result.next_page_token.is_empty() || out.len() > 256 * 1024 * 1024 {
            break;
        }
        page.token = result.next_page_token;
    }
    Ok((
        [(axum::http::header::CONTENT_TYPE, "application/x-ndjson")],
        out,
    )
        .into_response())
}
