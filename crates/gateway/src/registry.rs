//! Registry writes: servers with their two self-maintaining toolsets, custom toolsets, and
//! applying a tool discovery. Every tool and toolset is backed by an entitlement of the
//! server's app, created and removed with it. All functions run inside the caller's write
//! transaction and end with the `mcp.changed` change event so every replica reloads.

use crate::names;
use chamberlain_model::app::{AppEntitlement, EntitlementPurpose};
use chamberlain_model::mcp::{
    builtin_toolset, DiscoveryReport, McpServer, McpTool, McpToolState, McpToolset,
    ToolClassification, ToolVisibility,
};
use chamberlain_model::{new_id, Timestamp};
use chamberlain_store::repo::{grants, jobs, mcp};
use chamberlain_store::{StoreError, Tx};
use serde_json::{json, Value};
use sha2::{Digest, Sha256};
use std::collections::HashMap;

/// Tenant defaults that decide how new tools start (AI-governance settings).
#[derive(Clone, Debug)]
pub struct ToolDefaults {
    /// New tools start pending review unless the server overrides it.
    pub require_tool_approval: bool,
    /// Classification for tools that carry no annotations (UNSPECIFIED: follow the MCP spec's
    /// annotation defaults).
    pub default_classification: ToolClassification,
}

impl Default for ToolDefaults {
    fn default() -> Self {
        ToolDefaults {
            require_tool_approval: true,
            default_classification: ToolClassification::Unspecified,
        }
    }
}

/// Announces a registry change to every replica (same transaction).
pub async fn changed(tx: &mut Tx<'_>, app_id: &str) -> Result<(), StoreError> {
    jobs::append_event(tx, mcp::CHANGED_EVENT, app_id, &json!({}))
        .await
        .map(|_| ())
}

async fn entitlement(
    tx: &mut Tx<'_>,
    app_id: &str,
    display_name: String,
    description: String,
    slug: &str,
) -> Result<AppEntitlement, StoreError> {
    let now = tx.now();
    let ent = AppEntitlement {
        id: new_id(),
        app_id: app_id.to_string(),
        display_name,
        description,
        slug: slug.to_string(),
        purpose: EntitlementPurpose::Assignment,
        is_manually_managed: true,
        system_builtin: true,
        created_at: Some(now),
        updated_at: Some(now),
        ..Default::default()
    };
    tx.create(&ent).await?;
    Ok(ent)
}

async fn drop_entitlement(tx: &mut Tx<'_>, id: &str) -> Result<(), StoreError> {
    if let Some(ent) = tx.get::<AppEntitlement>(id).await? {
        if ent.deleted_at.is_none() {
            grants::remove_all_holders(tx, &ent).await?;
            tx.soft_delete::<AppEntitlement>(id).await?;
        }
    }
    Ok(())
}

/// Creates a toolset with its entitlement.
pub async fn create_toolset(
    tx: &mut Tx<'_>,
    server: &McpServer,
    display_name: &str,
    description: &str,
    built_in: &str,
) -> Result<McpToolset, StoreError> {
    let ent = entitlement(
        tx,
        &server.app_id,
        format!("{} — {display_name}", server.display_name),
        if description.is_empty() {
            format!(
                "Tools of MCP server \"{}\" in toolset \"{display_name}\"",
                server.display_name
            )
        } else {
            description.to_string()
        },
        "mcp-toolset",
    )
    .await?;
    let now = tx.now();
    let set = McpToolset {
        id: new_id(),
        app_id: server.app_id.clone(),
        connector_id: server.connector_id.clone(),
        connector_display_name: server.display_name.clone(),
        display_name: display_name.to_string(),
        description: description.to_string(),
        app_entitlement_id: ent.id,
        chamberlain_built_in: built_in.to_string(),
        created_at: Some(now),
        updated_at: Some(now),
        ..Default::default()
    };
    tx.create(&set).await?;
    Ok(set)
}

/// Deletes a toolset: its entitlement (and so every grant of it) and its bindings.
pub async fn delete_toolset(tx: &mut Tx<'_>, set: &McpToolset) -> Result<(), StoreError> {
    tx.soft_delete::<McpToolset>(&set.id).await?;
    mcp::unbind_all(tx, "toolset_id", &set.id).await?;
    drop_entitlement(tx, &set.app_entitlement_id).await
}

/// Stores a new server with its sealed credentials and its two built-in toolsets.
pub async fn create_server(
    tx: &mut Tx<'_>,
    server: &McpServer,
    sealed: &str,
) -> Result<Vec<McpToolset>, StoreError> {
    tx.create(server).await?;
    mcp::set_sealed_auth(tx, &server.connector_id, sealed).await?;
    let all = create_toolset(
        tx,
        server,
        "All approved",
        "Every approved tool of the server (maintained automatically)",
        builtin_toolset::ALL_APPROVED,
    )
    .await?;
    let ro = create_toolset(
        tx,
        server,
        "Read-only",
        "Every approved tool of the server classified READ (maintained automatically)",
        builtin_toolset::READ_ONLY,
    )
    .await?;
    changed(tx, &server.app_id).await?;
    Ok(vec![all, ro])
}

/// Deletes a server with its tools, toolsets and their entitlements (grants go with them).
pub async fn delete_server(tx: &mut Tx<'_>, server: &McpServer) -> Result<(), StoreError> {
    tx.soft_delete::<McpServer>(&server.connector_id).await?;
    for set in mcp::toolsets_of(&mut *tx.conn(), &server.connector_id).await? {
        delete_toolset(tx, &set).await?;
    }
    for tool in mcp::tools_of(&mut *tx.conn(), &server.connector_id).await? {
        mcp::unbind_all(tx, "tool_id", &tool.id).await?;
        tx.soft_delete::<McpTool>(&tool.id).await?;
        drop_entitlement(tx, &tool.app_entitlement_id).await?;
    }
    rename_all(tx).await?;
    changed(tx, &server.app_id).await
}

/// A stable hash of a tool definition (key order does not matter: serde_json maps are sorted).
pub fn definition_hash(def: &Value) -> String {
    let d = Sha256::digest(def.to_string().as_bytes());
    d.iter().take(16).map(|b| format!("{b:02x}")).collect()
}

/// The definition fields that matter for review, taken from a `tools/list` entry.
pub fn definition_of(tool: &Value) -> Value {
    let mut out = serde_json::Map::new();
    for k in [
        "name",
        "title",
        "description",
        "inputSchema",
        "outputSchema",
        "annotations",
    ] {
        if let Some(v) = tool.get(k).filter(|v| !v.is_null()) {
            out.insert(k.to_string(), v.clone());
        }
    }
    Value::Object(out)
}

/// Default classification from MCP annotations. Without annotations the tenant default
/// applies when set; otherwise the spec's defaults (not read-only, destructive) do.
pub fn classify(def: &Value, defaults: &ToolDefaults) -> ToolClassification {
    let ann = def.get("annotations").filter(|a| a.is_object());
    if ann.is_none() && defaults.default_classification != ToolClassification::Unspecified {
        return defaults.default_classification;
    }
    let flag = |k: &str| ann.and_then(|a| a.get(k)).and_then(Value::as_bool);
    if flag("readOnlyHint") == Some(true) {
        ToolClassification::Read
    } else if flag("destructiveHint") == Some(false) {
        ToolClassification::Write
    } else {
        ToolClassification::Destructive
    }
}

/// Applies a discovery (the server's current `tools/list`) to the stored tools: new tools are
/// created (pending or approved per the settings) with an entitlement each; a changed
/// definition keeps its state but is flagged for re-review with the old one kept; a vanished
/// tool becomes REMOVED; a removed tool that reappears starts over like a new one.
pub async fn apply_discovery(
    tx: &mut Tx<'_>,
    server: &McpServer,
    listed: &[Value],
    defaults: &ToolDefaults,
) -> Result<DiscoveryReport, StoreError> {
    let now = tx.now();
    let approve = !server
        .require_tool_approval
        .or(defaults.require_tool_approval);
    let start_state = if approve {
        McpToolState::Approved
    } else {
        McpToolState::PendingReview
    };
    let existing: HashMap<String, McpTool> = mcp::tools_of(&mut *tx.conn(), &server.connector_id)
        .await?
        .into_iter()
        .map(|t| (t.tool_name.clone(), t))
        .collect();
    let mut report = DiscoveryReport {
        at: Some(now),
        ok: true,
        note: "Tools were listed; this does not prove the configured credentials work for calls (some servers list tools without authentication)".into(),
        ..Default::default()
    };
    let mut seen = std::collections::HashSet::new();
    for t in listed {
        let Some(name) = t
            .get("name")
            .and_then(Value::as_str)
            .filter(|n| !n.is_empty())
        else {
            continue;
        };
        if !seen.insert(name.to_string()) {
            continue;
        }
        let def = definition_of(t);
        let hash = definition_hash(&def);
        let title = def
            .get("title")
            .and_then(Value::as_str)
            .unwrap_or(name)
            .to_string();
        let description = def
            .get("description")
            .and_then(Value::as_str)
            .unwrap_or("")
            .to_string();
        let schema = def
            .get("inputSchema")
            .map(Value::to_string)
            .unwrap_or_default();
        match existing.get(name) {
            Some(old) if old.state != McpToolState::Removed && old.discovery_hash == hash => {
                report.unchanged += 1;
            }
            Some(old) if old.state != McpToolState::Removed => {
                let mut new = old.clone();
                if !old.chamberlain_needs_review {
                    new.chamberlain_reviewed_definition = old.chamberlain_definition.clone();
                }
                new.chamberlain_needs_review = true;
                new.chamberlain_definition = def;
                new.discovery_hash = hash;
                new.default_display_name = title;
                new.description = description;
                new.input_schema_json = schema;
                new.default_classification = classify(&new.chamberlain_definition, defaults);
                new.updated_at = Some(now);
                tx.replace(old, &new).await?;
                mcp::history(
                    tx,
                    &new.id,
                    "",
                    "tool.changed",
                    &serde_json::to_value(&new).unwrap_or_default(),
                )
                .await?;
                report.changed += 1;
            }
            other => {
                let class = classify(&def, defaults);
                let ent = match other {
                    Some(old) if !old.app_entitlement_id.is_empty() => {
                        old.app_entitlement_id.clone()
                    }
                    _ => {
                        entitlement(
                            tx,
                            &server.app_id,
                            format!("{} — tool {name}", server.display_name),
                            format!(
                                "Use of the tool `{name}` of MCP server \"{}\"",
                                server.display_name
                            ),
                            "mcp-tool",
                        )
                        .await?
                        .id
                    }
                };
                let tool = McpTool {
                    id: other.map(|o| o.id.clone()).unwrap_or_else(new_id),
                    app_id: server.app_id.clone(),
                    connector_id: server.connector_id.clone(),
                    tool_name: name.to_string(),
                    default_display_name: title,
                    description,
                    input_schema_json: schema,
                    state: start_state,
                    classification: class,
                    default_classification: class,
                    visibility: ToolVisibility::Available,
                    default_visibility: ToolVisibility::Available,
                    app_entitlement_id: ent,
                    discovery_hash: hash,
                    created_at: other.and_then(|o| o.created_at).or(Some(now)),
                    updated_at: Some(now),
                    chamberlain_definition: def,
                    ..Default::default()
                };
                match other {
                    Some(old) => tx.replace(old, &tool).await?,
                    None => tx.create(&tool).await?,
                }
                mcp::history(
                    tx,
                    &tool.id,
                    "",
                    "tool.discovered",
                    &serde_json::to_value(&tool).unwrap_or_default(),
                )
                .await?;
                report.added += 1;
            }
        }
    }
    for (name, old) in &existing {
        if seen.contains(name) || old.state == McpToolState::Removed {
            continue;
        }
        let mut new = old.clone();
        new.state = McpToolState::Removed;
        new.updated_at = Some(now);
        tx.replace(old, &new).await?;
        mcp::history(
            tx,
            &new.id,
            "",
            "tool.removed",
            &serde_json::to_value(&new).unwrap_or_default(),
        )
        .await?;
        report.removed += 1;
    }
    let mut s = server.clone();
    s.chamberlain_last_discovery = Some(report.clone());
    s.updated_at = Some(now);
    tx.update(&s).await?;
    rename_all(tx).await?;
    changed(tx, &server.app_id).await?;
    Ok(report)
}

/// Records a failed discovery on the server.
pub async fn discovery_failed(
    tx: &mut Tx<'_>,
    server: &McpServer,
    error: &str,
) -> Result<DiscoveryReport, StoreError> {
    let report = DiscoveryReport {
        at: Some(tx.now()),
        ok: false,
        error: error.to_string(),
        ..Default::default()
    };
    let mut s = server.clone();
    s.chamberlain_last_discovery = Some(report.clone());
    s.updated_at = Some(tx.now());
    tx.update(&s).await?;
    Ok(report)
}

/// Recomputes every tool's exposed name (names are unique across servers, so a change on one
/// server can rename a tool of another) and stores the ones that changed.
pub async fn rename_all(tx: &mut Tx<'_>) -> Result<(), StoreError> {
    let snap_servers: Vec<McpServer> = chamberlain_store::record::fetch_docs(
        &mut *tx.conn(),
        &chamberlain_store::record::Sql::new(
            "SELECT doc FROM mcp_servers WHERE deleted_at IS NULL",
        ),
    )
    .await?;
    let servers: HashMap<String, &McpServer> = snap_servers
        .iter()
        .map(|s| (s.connector_id.clone(), s))
        .collect();
    let tools: Vec<McpTool> = chamberlain_store::record::fetch_docs(
        &mut *tx.conn(),
        &chamberlain_store::record::Sql::new(
            "SELECT doc FROM mcp_tools WHERE deleted_at IS NULL ORDER BY id",
        ),
    )
    .await?;
    let live: Vec<&McpTool> = tools
        .iter()
        .filter(|t| t.state != McpToolState::Removed && servers.contains_key(&t.connector_id))
        .collect();
    let candidates: Vec<names::Candidate> = live
        .iter()
        .map(|t| {
            let s = servers[&t.connector_id];
            names::Candidate {
                tool_id: t.id.clone(),
                server_id: s.connector_id.clone(),
                server_name: s.display_name.clone(),
                server_created: s.created_at.map(|c| c.as_micros()).unwrap_or(0),
                prefix: s.effective_prefix().to_string(),
                tool_name: t.tool_name.clone(),
            }
        })
        .collect();
    let assigned = names::assign(&candidates);
    let now: Timestamp = tx.now();
    for t in live {
        if let Some((name, note)) = assigned.get(&t.id) {
            if *name != t.chamberlain_exposed_name || *note != t.chamberlain_name_note {
                let mut new = t.clone();
                new.chamberlain_exposed_name = name.clone();
                new.chamberlain_name_note = note.clone();
                new.updated_at = Some(now);
                tx.replace(t, &new).await?;
            }
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn classification_follows_annotations() {
        let d = ToolDefaults::default();
        assert_eq!(
            classify(&json!({"annotations": {"readOnlyHint": true}}), &d),
            ToolClassification::Read
        );
        assert_eq!(
            classify(&json!({"annotations": {"destructiveHint": false}}), &d),
            ToolClassification::Write
        );
        assert_eq!(
            classify(&json!({"annotations": {}}), &d),
            ToolClassification::Destructive
        );
        assert_eq!(classify(&json!({}), &d), ToolClassification::Destructive);
        let d = ToolDefaults {
            default_classification: ToolClassification::Sensitive,
            ..Default::default()
        };
        assert_eq!(classify(&json!({}), &d), ToolClassification::Sensitive);
    }

    #[test]
    fn hashes_ignore_key_order_and_see_changes() {
        let a = definition_of(
            &json!({"name": "x", "description": "d", "inputSchema": {"type": "object", "a": 1}, "extra": 1}),
        );
        let b = definition_of(
            &json!({"inputSchema": {"a": 1, "type": "object"}, "description": "d", "name": "x"}),
        );
        assert_eq!(definition_hash(&a), definition_hash(&b));
        let c = definition_of(&json!({"name": "x", "description": "changed"}));
        assert_ne!(definition_hash(&a), definition_hash(&c));
    }
}
