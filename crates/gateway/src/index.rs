//! The gateway's in-memory authorization index: every tool by exposed name with its state,
//! kill switches and the entitlements that grant it (its own, its custom toolsets', and the
//! server's "All approved" / "Read-only" toolsets when it qualifies). Rebuilt from the store
//! whenever the registry changes (on this replica at once, on others from the change event),
//! so a call never scans the database: it needs the index plus the caller's current grants.

use chamberlain_model::mcp::{
    builtin_toolset, McpServer, McpTool, McpToolState, McpToolset, ToolClassification,
};
use chamberlain_model::Timestamp;
use chamberlain_store::repo::mcp::Snapshot;
use serde_json::{json, Value};
use std::collections::{HashMap, HashSet};
use std::sync::Arc;

/// One tool as the gateway serves it.
#[derive(Debug)]
pub struct ToolEntry {
    /// The tool record.
    pub tool: McpTool,
    /// Entitlements any of which lets a user call it.
    pub granted_by: Vec<String>,
    /// The tool as `tools/list` shows it (exposed name).
    pub listing: Value,
    /// `listing` serialized (tools/list joins these).
    pub listing_json: String,
    /// The `x-mcp-header` annotations of its input schema: the `Mcp-Param-*` headers a
    /// 2026-07-28 call must carry (and the gateway sends downstream).
    pub param_headers: Vec<crate::param_headers::ParamHeader>,
}

/// Why a call or listing was refused (the precise reason, for the audit; the AI client only
/// ever sees the one denial text).
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Denial {
    /// No tool has that name.
    UnknownTool,
    /// The user holds none of the entitlements that grant it (or they expired).
    NotGranted,
    /// The tool is not approved (pending review, disabled or removed).
    NotApproved(McpToolState),
    /// The tool's kill switch is on.
    ToolKilled,
    /// The server's kill switch is on.
    ServerKilled,
    /// The tool needs the user's own downstream connection, which is missing or revoked.
    ConnectionMissing,
    /// The user's (or the service) connection stopped working and must be made again.
    ConnectionNeedsReconnect(String),
    /// The server's service-mode OAuth identity was never authorized by an admin.
    ServiceNotAuthorized,
    /// The user sees none of the server's tools, so none of its resources, templates and
    /// prompts either.
    NoVisibleTool,
}

impl Denial {
    /// The reason as the audit records it.
    pub fn reason(&self) -> String {
        match self {
            Denial::UnknownTool => "unknown tool".into(),
            Denial::NotGranted => "not granted: the user holds no toolset or tool entitlement that includes this tool (or it expired)".into(),
            Denial::NotApproved(s) => format!("tool not approved ({})", s.as_str()),
            Denial::ToolKilled => "tool kill switch on".into(),
            Denial::ServerKilled => "server kill switch on".into(),
            Denial::ConnectionMissing => "per-user connection missing or revoked".into(),
            Denial::ConnectionNeedsReconnect(why) => {
                format!("connection needs reconnecting: {why}")
            }
            Denial::ServiceNotAuthorized => "service-mode OAuth not authorized by an admin".into(),
            Denial::NoVisibleTool => "not granted: the user holds no toolset or tool entitlement that gives them a visible tool of this server (its resources and prompts follow tool access)".into(),
        }
    }
}

/// The index at one point in time (immutable; replaced whole on change).
#[derive(Debug, Default)]
pub struct Index {
    /// Tools in exposed-name order (deterministic `tools/list`).
    pub tools: Vec<Arc<ToolEntry>>,
    /// Tools by exposed name.
    pub by_name: HashMap<String, Arc<ToolEntry>>,
    /// Live servers by id.
    pub servers: HashMap<String, McpServer>,
    /// Apps that hold servers (where gateway grants live).
    pub app_ids: Vec<String>,
    /// Entitlements of tools and toolsets (grants of anything else do not matter here).
    pub entitlements: HashSet<String>,
    /// Members of each toolset (computed for built-in ones).
    pub toolset_members: HashMap<String, Vec<String>>,
    /// Each toolset's entitlement.
    pub toolset_entitlements: HashMap<String, String>,
}

/// Whether a tool belongs in a built-in toolset.
pub fn qualifies(built_in: &str, tool: &McpTool) -> bool {
    let approved = tool.state == McpToolState::Approved;
    match built_in {
        builtin_toolset::ALL_APPROVED => approved,
        builtin_toolset::READ_ONLY => approved && tool.classification == ToolClassification::Read,
        _ => false,
    }
}

/// The tool as `tools/list` shows it: its definition under the exposed name.
pub fn listing(tool: &McpTool) -> Value {
    let def = &tool.chamberlain_definition;
    let mut out = json!({
        "name": tool.chamberlain_exposed_name,
        "description": def.get("description").cloned().unwrap_or_else(|| json!(tool.description)),
        "inputSchema": def.get("inputSchema").cloned().unwrap_or_else(|| json!({"type": "object"})),
    });
    let title = if tool.display_name.is_empty() {
        def.get("title").cloned()
    } else {
        Some(json!(tool.display_name))
    };
    for (k, v) in [
        ("title", title),
        ("outputSchema", def.get("outputSchema").cloned()),
        ("annotations", def.get("annotations").cloned()),
        ("icons", def.get("icons").cloned()),
    ] {
        if let Some(v) = v.filter(|v| !v.is_null()) {
            out[k] = v;
        }
    }
    out
}

impl Index {
    /// Builds the index from a registry snapshot.
    pub fn build(snap: Snapshot) -> Index {
        let servers: HashMap<String, McpServer> = snap
            .servers
            .into_iter()
            .map(|s| (s.connector_id.clone(), s))
            .collect();
        let mut app_ids: Vec<String> = servers.values().map(|s| s.app_id.clone()).collect();
        app_ids.sort();
        app_ids.dedup();
        let tools: Vec<McpTool> = snap
            .tools
            .into_iter()
            .filter(|t| servers.contains_key(&t.connector_id))
            .collect();
        let toolsets: Vec<McpToolset> = snap
            .toolsets
            .into_iter()
            .filter(|t| servers.contains_key(&t.connector_id))
            .collect();
        let mut members: HashMap<String, Vec<String>> = HashMap::new();
        let mut granted_by: HashMap<String, Vec<String>> = HashMap::new();
        let toolset_by_id: HashMap<&str, &McpToolset> =
            toolsets.iter().map(|t| (t.id.as_str(), t)).collect();
        let tool_ids: HashSet<&str> = tools.iter().map(|t| t.id.as_str()).collect();
        for (ts, tool) in &snap.bindings {
            if let Some(set) = toolset_by_id.get(ts.as_str()) {
                if set.chamberlain_built_in.is_empty() && tool_ids.contains(tool.as_str()) {
                    members.entry(ts.clone()).or_default().push(tool.clone());
                    granted_by
                        .entry(tool.clone())
                        .or_default()
                        .push(set.app_entitlement_id.clone());
                }
            }
        }
        for set in toolsets
            .iter()
            .filter(|t| !t.chamberlain_built_in.is_empty())
        {
            let list = members.entry(set.id.clone()).or_default();
            for tool in tools.iter().filter(|t| t.connector_id == set.connector_id) {
                if qualifies(&set.chamberlain_built_in, tool) {
                    list.push(tool.id.clone());
                    granted_by
                        .entry(tool.id.clone())
                        .or_default()
                        .push(set.app_entitlement_id.clone());
                }
            }
        }
        let mut entitlements: HashSet<String> = toolsets
            .iter()
            .map(|t| t.app_entitlement_id.clone())
            .collect();
        let toolset_entitlements: HashMap<String, String> = toolsets
            .iter()
            .map(|t| (t.id.clone(), t.app_entitlement_id.clone()))
            .collect();
        let mut entries: Vec<Arc<ToolEntry>> = tools
            .into_iter()
            .filter(|t| t.state != McpToolState::Removed)
            .map(|t| {
                let mut by = granted_by.remove(&t.id).unwrap_or_default();
                if !t.app_entitlement_id.is_empty() {
                    entitlements.insert(t.app_entitlement_id.clone());
                    by.push(t.app_entitlement_id.clone());
                }
                let shown = listing(&t);
                Arc::new(ToolEntry {
                    param_headers: crate::param_headers::annotations(&shown["inputSchema"]),
                    listing_json: shown.to_string(),
                    listing: shown,
                    granted_by: by,
                    tool: t,
                })
            })
            .collect();
        entries.sort_by(|a, b| {
            a.tool
                .chamberlain_exposed_name
                .cmp(&b.tool.chamberlain_exposed_name)
        });
        let by_name = entries
            .iter()
            .map(|e| (e.tool.chamberlain_exposed_name.clone(), e.clone()))
            .collect();
        Index {
            tools: entries,
            by_name,
            servers,
            app_ids,
            entitlements,
            toolset_members: members,
            toolset_entitlements,
        }
    }

    /// The entitlements among `grants` that are in force at `now`.
    pub fn held(&self, grants: &[(String, Option<Timestamp>)], now: Timestamp) -> HashSet<String> {
        grants
            .iter()
            .filter(|(e, until)| {
                self.entitlements.contains(e)
                    && until.is_none_or(|t| t.as_micros() > now.as_micros())
            })
            .map(|(e, _)| e.clone())
            .collect()
    }

    /// Whether a tool may be used by a holder of `held`, and why not.
    pub fn check(&self, entry: &ToolEntry, held: &HashSet<String>) -> Result<(), Denial> {
        let server = self.servers.get(&entry.tool.connector_id);
        if server.is_none_or(|s| s.chamberlain_killed) {
            return Err(Denial::ServerKilled);
        }
        if entry.tool.chamberlain_killed {
            return Err(Denial::ToolKilled);
        }
        if entry.tool.state != McpToolState::Approved {
            return Err(Denial::NotApproved(entry.tool.state));
        }
        if !entry.granted_by.iter().any(|e| held.contains(e)) {
            return Err(Denial::NotGranted);
        }
        Ok(())
    }

    /// Looks a tool up by exposed name and checks it.
    pub fn decide(
        &self,
        name: &str,
        held: &HashSet<String>,
    ) -> Result<Arc<ToolEntry>, (Denial, Option<Arc<ToolEntry>>)> {
        let Some(entry) = self.by_name.get(name) else {
            return Err((Denial::UnknownTool, None));
        };
        match self.check(entry, held) {
            Ok(()) => Ok(entry.clone()),
            Err(d) => Err((d, Some(entry.clone()))),
        }
    }

    /// The servers whose resources, resource templates and prompts a holder of `held` may use:
    /// those of which they may use at least one tool right now. The rule reuses tool access
    /// (`check`) on purpose, so a server's kill switch, unapproved or killed tools, expired
    /// grants and revocations hide its other features exactly when they hide its tools; the
    /// tenant's MCP kill switch refuses every request before it gets here.
    ///
    /// Order: effective tool prefix, then registration time, then id. Lists merge in this
    /// order and a resource URI served by several servers routes to the first.
    pub fn servers_for(&self, held: &HashSet<String>) -> Vec<&McpServer> {
        let ids: HashSet<&str> = self
            .visible(held)
            .map(|e| e.tool.connector_id.as_str())
            .collect();
        let mut out: Vec<&McpServer> = ids.iter().filter_map(|id| self.servers.get(*id)).collect();
        out.sort_by(|a, b| server_order(a).cmp(&server_order(b)));
        out
    }

    /// Whether a holder of `held` may use the resources and prompts of server `id`, and why not.
    pub fn server_access(&self, id: &str, held: &HashSet<String>) -> Result<(), Denial> {
        if self.servers.get(id).is_none_or(|s| s.chamberlain_killed) {
            return Err(Denial::ServerKilled);
        }
        let visible = self
            .tools
            .iter()
            .any(|e| e.tool.connector_id == id && self.check(e, held).is_ok());
        if visible {
            Ok(())
        } else {
            Err(Denial::NoVisibleTool)
        }
    }

    /// Why a holder of `held` may use no server's resources and prompts (for the audit): each
    /// server they hold an entitlement of, with the reason it shows them nothing.
    pub fn no_server_reason(&self, held: &HashSet<String>) -> String {
        let mut ids: Vec<&str> = self
            .tools
            .iter()
            .filter(|e| e.granted_by.iter().any(|g| held.contains(g)))
            .map(|e| e.tool.connector_id.as_str())
            .collect();
        ids.sort();
        ids.dedup();
        let why: Vec<String> = ids
            .into_iter()
            .filter_map(|id| {
                let denial = self.server_access(id, held).err()?;
                let name = self.servers.get(id).map_or(id, |s| s.display_name.as_str());
                Some(format!("server \"{name}\": {}", denial.reason()))
            })
            .collect();
        if why.is_empty() {
            "not granted: the user holds no toolset or tool entitlement that gives them a visible tool of any server, so they may use no server's resources and prompts".into()
        } else {
            format!(
                "the user may use no server's resources and prompts; {}",
                why.join("; ")
            )
        }
    }

    /// The tools a holder of `held` may use, in name order.
    pub fn visible<'a>(
        &'a self,
        held: &'a HashSet<String>,
    ) -> impl Iterator<Item = &'a Arc<ToolEntry>> + 'a {
        self.tools
            .iter()
            .filter(move |e| self.check(e, held).is_ok())
    }
}

/// The deterministic order of servers (see [`Index::servers_for`]).
pub fn server_order(s: &McpServer) -> (&str, i64, &str) {
    (
        s.effective_prefix(),
        s.created_at.map(|c| c.as_micros()).unwrap_or(0),
        s.connector_id.as_str(),
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    fn tool(id: &str, name: &str, state: McpToolState, class: ToolClassification) -> McpTool {
        McpTool {
            id: id.into(),
            connector_id: "srv".into(),
            app_id: "app".into(),
            tool_name: name.into(),
            chamberlain_exposed_name: format!("p_{name}"),
            state,
            classification: class,
            app_entitlement_id: format!("ent-{id}"),
            ..Default::default()
        }
    }

    fn set(id: &str, built_in: &str) -> McpToolset {
        McpToolset {
            id: id.into(),
            connector_id: "srv".into(),
            app_id: "app".into(),
            app_entitlement_id: format!("ent-{id}"),
            chamberlain_built_in: built_in.into(),
            ..Default::default()
        }
    }

    #[test]
    fn toolsets_grant_their_tools() {
        use McpToolState::*;
        use ToolClassification::*;
        let snap = Snapshot {
            servers: vec![McpServer {
                connector_id: "srv".into(),
                app_id: "app".into(),
                ..Default::default()
            }],
            tools: vec![
                tool("t1", "read", Approved, Read),
                tool("t2", "write", Approved, Write),
                tool("t3", "pending", PendingReview, Read),
                tool("t4", "gone", Removed, Read),
            ],
            toolsets: vec![
                set("all", builtin_toolset::ALL_APPROVED),
                set("ro", builtin_toolset::READ_ONLY),
                set("custom", ""),
            ],
            bindings: vec![
                ("custom".into(), "t2".into()),
                ("custom".into(), "t3".into()),
            ],
        };
        let idx = Index::build(snap);
        let names = |held: &[&str]| -> Vec<String> {
            let h: HashSet<String> = held.iter().map(|s| s.to_string()).collect();
            idx.visible(&h).map(|e| e.tool.tool_name.clone()).collect()
        };
        assert_eq!(names(&["ent-all"]), ["read", "write"]);
        assert_eq!(names(&["ent-ro"]), ["read"]);
        assert_eq!(names(&["ent-custom"]), ["write"]);
        assert_eq!(names(&["ent-t3"]), Vec::<String>::new());
        assert_eq!(names(&["ent-t1"]), ["read"]);
        assert!(!idx.by_name.contains_key("p_gone"));
        let none = HashSet::new();
        assert_eq!(
            idx.decide("p_read", &none).unwrap_err().0,
            Denial::NotGranted
        );
        let all: HashSet<String> = ["ent-all".to_string()].into();
        assert_eq!(
            idx.decide("p_pending", &all).unwrap_err().0,
            Denial::NotApproved(PendingReview)
        );
        assert_eq!(idx.decide("nope", &all).unwrap_err().0, Denial::UnknownTool);
        // Resources and prompts follow tool access: a grant that shows no tool shows no server.
        let t3: HashSet<String> = ["ent-t3".to_string()].into();
        assert!(idx.servers_for(&t3).is_empty());
        assert_eq!(idx.server_access("srv", &t3), Err(Denial::NoVisibleTool));
        assert_eq!(idx.servers_for(&all).len(), 1);
        assert_eq!(idx.server_access("srv", &all), Ok(()));
        // Expired grants do not count.
        let now = Timestamp::now();
        let held = idx.held(
            &[
                (
                    "ent-all".into(),
                    Some(Timestamp::from_micros(now.as_micros() - 1)),
                ),
                ("other".into(), None),
            ],
            now,
        );
        assert!(held.is_empty());
    }
}
