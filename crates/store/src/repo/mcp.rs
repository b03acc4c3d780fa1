//! AI access management storage: MCP servers, tools, toolsets and bindings, their history,
//! the gateway's per-request audit, and the grants the gateway authorizes calls from.

use crate::record::{self, Col, Record, Sql};
use crate::tx::Tx;
use crate::{Store, StoreError};
use chamberlain_model::mcp::{McpServer, McpTool, McpToolset};
use chamberlain_model::{new_id, Timestamp};
use serde_json::Value;
use sqlx::Row;

/// Change event kind written whenever servers, tools, toolsets or bindings change, so every
/// replica's gateway index reloads.
pub const CHANGED_EVENT: &str = "mcp.changed";

fn ts(t: Option<Timestamp>) -> i64 {
    t.map(|t| t.as_micros()).unwrap_or(0)
}

impl Record for McpServer {
    const TABLE: &'static str = "mcp_servers";
    const KIND: &'static str = "MCP server";
    fn id(&self) -> &str {
        &self.connector_id
    }
    fn columns(&self) -> Vec<(&'static str, Col)> {
        vec![
            ("app_id", Col::Text(self.app_id.clone())),
            ("name_lc", Col::Text(self.display_name.to_lowercase())),
            ("created_at", Col::Int(ts(self.created_at))),
            (
                "deleted_at",
                Col::OptInt(self.deleted_at.map(|t| t.as_micros())),
            ),
        ]
    }
    fn set_deleted(&mut self, at: Timestamp) {
        self.deleted_at = Some(at);
        self.updated_at = Some(at);
    }
}

impl Record for McpTool {
    const TABLE: &'static str = "mcp_tools";
    const KIND: &'static str = "MCP tool";
    fn id(&self) -> &str {
        &self.id
    }
    fn columns(&self) -> Vec<(&'static str, Col)> {
        vec![
            ("server_id", Col::Text(self.connector_id.clone())),
            ("app_id", Col::Text(self.app_id.clone())),
            ("tool_name", Col::Text(self.tool_name.clone())),
            (
                "name_lc",
                Col::Text(format!("{} {}", self.tool_name, self.shown_name()).to_lowercase()),
            ),
            ("state", Col::Text(self.state.as_str().into())),
            (
                "classification",
                Col::Text(self.classification.as_str().into()),
            ),
            ("visibility", Col::Text(self.visibility.as_str().into())),
            ("created_at", Col::Int(ts(self.created_at))),
            ("updated_at", Col::Int(ts(self.updated_at))),
            (
                "deleted_at",
                Col::OptInt(self.deleted_at.map(|t| t.as_micros())),
            ),
        ]
    }
    fn set_deleted(&mut self, at: Timestamp) {
        self.deleted_at = Some(at);
        self.updated_at = Some(at);
    }
}

impl Record for McpToolset {
    const TABLE: &'static str = "mcp_toolsets";
    const KIND: &'static str = "MCP toolset";
    fn id(&self) -> &str {
        &self.id
    }
    fn columns(&self) -> Vec<(&'static str, Col)> {
        vec![
            ("server_id", Col::Text(self.connector_id.clone())),
            ("app_id", Col::Text(self.app_id.clone())),
            ("built_in", Col::Text(self.chamberlain_built_in.clone())),
            ("entitlement_id", Col::Text(self.app_entitlement_id.clone())),
            ("name_lc", Col::Text(self.display_name.to_lowercase())),
            ("created_at", Col::Int(ts(self.created_at))),
            (
                "deleted_at",
                Col::OptInt(self.deleted_at.map(|t| t.as_micros())),
            ),
        ]
    }
    fn set_deleted(&mut self, at: Timestamp) {
        self.deleted_at = Some(at);
        self.updated_at = Some(at);
    }
}

/// Everything the gateway's index is built from, read in one go.
#[derive(Clone, Debug, Default)]
pub struct Snapshot {
    /// Live servers.
    pub servers: Vec<McpServer>,
    /// Tools of live servers (REMOVED ones included; the index skips them).
    pub tools: Vec<McpTool>,
    /// Live toolsets.
    pub toolsets: Vec<McpToolset>,
    /// Custom toolset bindings: (toolset id, tool id).
    pub bindings: Vec<(String, String)>,
}

/// Reads the whole registry (servers, tools, toolsets, bindings).
pub async fn snapshot(store: &Store) -> Result<Snapshot, StoreError> {
    let pool = store.pool();
    let servers: Vec<McpServer> = record::fetch_docs(
        pool,
        &Sql::new("SELECT doc FROM mcp_servers WHERE deleted_at IS NULL ORDER BY id"),
    )
    .await?;
    let tools: Vec<McpTool> = record::fetch_docs(
        pool,
        &Sql::new("SELECT doc FROM mcp_tools WHERE deleted_at IS NULL ORDER BY id"),
    )
    .await?;
    let toolsets: Vec<McpToolset> = record::fetch_docs(
        pool,
        &Sql::new("SELECT doc FROM mcp_toolsets WHERE deleted_at IS NULL ORDER BY id"),
    )
    .await?;
    let bindings =
        Sql::new("SELECT toolset_id, tool_id FROM mcp_toolset_tools ORDER BY toolset_id, tool_id")
            .query()
            .fetch_all(pool)
            .await?
            .iter()
            .map(|r| Ok((r.try_get(0)?, r.try_get(1)?)))
            .collect::<Result<Vec<(String, String)>, StoreError>>()?;
    Ok(Snapshot {
        servers,
        tools,
        toolsets,
        bindings,
    })
}

/// A live server of an app.
pub async fn server<'c, E: sqlx::Executor<'c, Database = sqlx::Any>>(
    e: E,
    app_id: &str,
    connector_id: &str,
) -> Result<Option<McpServer>, StoreError> {
    Ok(record::get::<McpServer, _>(e, connector_id, false)
        .await?
        .filter(|s| s.app_id == app_id && s.deleted_at.is_none()))
}

/// The sealed downstream credentials of a server ("" when none).
pub async fn sealed_auth<'c, E: sqlx::Executor<'c, Database = sqlx::Any>>(
    e: E,
    connector_id: &str,
) -> Result<String, StoreError> {
    let mut sql = Sql::new("SELECT sealed_auth FROM mcp_servers WHERE id = ");
    sql.arg(connector_id);
    Ok(sql
        .query()
        .fetch_optional(e)
        .await?
        .map(|r| r.try_get::<String, _>(0))
        .transpose()?
        .unwrap_or_default())
}

/// Replaces the sealed downstream credentials of a server.
pub async fn set_sealed_auth(
    tx: &mut Tx<'_>,
    connector_id: &str,
    sealed: &str,
) -> Result<(), StoreError> {
    let mut sql = Sql::new("UPDATE mcp_servers SET sealed_auth = ");
    sql.arg(sealed).push(" WHERE id = ").arg(connector_id);
    tx.exec(&sql).await.map(|_| ())
}

/// Tools of a server, by tool name (REMOVED included, soft-deleted excluded).
pub async fn tools_of<'c, E: sqlx::Executor<'c, Database = sqlx::Any>>(
    e: E,
    server_id: &str,
) -> Result<Vec<McpTool>, StoreError> {
    let mut sql = Sql::new("SELECT doc FROM mcp_tools WHERE deleted_at IS NULL AND server_id = ");
    sql.arg(server_id).push(" ORDER BY tool_name");
    record::fetch_docs(e, &sql).await
}

/// Live toolsets of a server.
pub async fn toolsets_of<'c, E: sqlx::Executor<'c, Database = sqlx::Any>>(
    e: E,
    server_id: &str,
) -> Result<Vec<McpToolset>, StoreError> {
    let mut sql =
        Sql::new("SELECT doc FROM mcp_toolsets WHERE deleted_at IS NULL AND server_id = ");
    sql.arg(server_id).push(" ORDER BY id");
    record::fetch_docs(e, &sql).await
}

/// Tool ids bound to a custom toolset.
pub async fn bound_tools<'c, E: sqlx::Executor<'c, Database = sqlx::Any>>(
    e: E,
    toolset_id: &str,
) -> Result<Vec<String>, StoreError> {
    let mut sql = Sql::new("SELECT tool_id FROM mcp_toolset_tools WHERE toolset_id = ");
    sql.arg(toolset_id).push(" ORDER BY tool_id");
    sql.query()
        .fetch_all(e)
        .await?
        .iter()
        .map(|r| Ok(r.try_get(0)?))
        .collect()
}

/// Binds tools to a toolset (already bound ones are skipped). Returns the ids newly bound.
pub async fn bind(
    tx: &mut Tx<'_>,
    toolset: &McpToolset,
    tool_ids: &[String],
) -> Result<Vec<String>, StoreError> {
    let existing = bound_tools(&mut *tx.conn(), &toolset.id).await?;
    let mut added = Vec::new();
    for id in tool_ids {
        if existing.contains(id) || added.contains(id) {
            continue;
        }
        let mut sql = Sql::new(
            "INSERT INTO mcp_toolset_tools (toolset_id, tool_id, server_id, created_at) VALUES (",
        );
        sql.arg(toolset.id.as_str())
            .push(", ")
            .arg(id.as_str())
            .push(", ")
            .arg(toolset.connector_id.as_str())
            .push(", ")
            .arg(tx.now().as_micros())
            .push(")");
        tx.exec(&sql).await?;
        history(tx, &toolset.id, id, "binding.added", &Value::Null).await?;
        added.push(id.clone());
    }
    Ok(added)
}

/// Unbinds tools from a toolset. Returns the ids that were bound.
pub async fn unbind(
    tx: &mut Tx<'_>,
    toolset_id: &str,
    tool_ids: &[String],
) -> Result<Vec<String>, StoreError> {
    let mut removed = Vec::new();
    for id in tool_ids {
        let mut sql = Sql::new("DELETE FROM mcp_toolset_tools WHERE toolset_id = ");
        sql.arg(toolset_id).push(" AND tool_id = ").arg(id.as_str());
        if tx.exec(&sql).await? > 0 {
            history(tx, toolset_id, id, "binding.removed", &Value::Null).await?;
            removed.push(id.clone());
        }
    }
    Ok(removed)
}

/// Removes every binding of a toolset or of a tool (when it is deleted).
pub async fn unbind_all(tx: &mut Tx<'_>, column: &str, id: &str) -> Result<(), StoreError> {
    let column = if column == "tool_id" {
        "tool_id"
    } else {
        "toolset_id"
    };
    let mut sql = Sql::new(&format!("DELETE FROM mcp_toolset_tools WHERE {column} = "));
    sql.arg(id);
    tx.exec(&sql).await.map(|_| ())
}

/// Appends a history entry: `subject` is a tool (kind `tool.*`, doc = snapshot) or a toolset
/// (kind `binding.*`, related = the tool).
pub async fn history(
    tx: &mut Tx<'_>,
    subject_id: &str,
    related_id: &str,
    kind: &str,
    doc: &Value,
) -> Result<(), StoreError> {
    let mut sql = Sql::new(
        "INSERT INTO mcp_history (id, subject_id, related_id, kind, at, actor_user_id, doc) VALUES (",
    );
    let actor = tx.ctx().actor_user_id.clone();
    sql.arg(new_id())
        .push(", ")
        .arg(subject_id)
        .push(", ")
        .arg(related_id)
        .push(", ")
        .arg(kind)
        .push(", ")
        .arg(tx.now().as_micros())
        .push(", ")
        .arg(actor)
        .push(", ")
        .arg(doc.to_string())
        .push(")");
    tx.exec(&sql).await.map(|_| ())
}

/// One history entry as stored.
#[derive(Clone, Debug)]
pub struct HistoryEntry {
    /// Entry id (page key).
    pub id: String,
    /// Tool or toolset.
    pub subject_id: String,
    /// The other side of a binding.
    pub related_id: String,
    /// `tool.discovered`, `tool.changed`, `tool.updated`, `tool.removed`, `binding.added`, …
    pub kind: String,
    /// When.
    pub at: Timestamp,
    /// Who (empty for the system).
    pub actor_user_id: String,
    /// Snapshot or details.
    pub doc: Value,
}

/// History of a subject (`column` = "subject_id") or of the bindings of a tool
/// (`column` = "related_id"), one keyset page at a time, newest first.
pub async fn history_page(
    store: &Store,
    column: &str,
    id: &str,
    page: &record::PageReq,
) -> Result<crate::page::Page<HistoryEntry>, StoreError> {
    let column = if column == "related_id" {
        "related_id"
    } else {
        "subject_id"
    };
    let mut sql = Sql::new(&format!(
        "SELECT id, subject_id, related_id, kind, at, actor_user_id, doc FROM mcp_history WHERE {column} = "
    ));
    sql.arg(id);
    record::list_page(store.pool(), sql, "mcp_history", page, "id", |r| {
        Ok(HistoryEntry {
            id: r.try_get(0)?,
            subject_id: r.try_get(1)?,
            related_id: r.try_get(2)?,
            kind: r.try_get(3)?,
            at: Timestamp::from_micros(r.try_get(4)?),
            actor_user_id: r.try_get(5)?,
            doc: serde_json::from_str(&r.try_get::<String, _>(6)?).unwrap_or(Value::Null),
        })
    })
    .await
}

/// Whether the app holds a live MCP server (its users get accounts on first use, like the
/// built-in app's).
pub async fn is_gateway_app<'c, E: sqlx::Executor<'c, Database = sqlx::Any>>(
    e: E,
    app_id: &str,
) -> Result<bool, StoreError> {
    let mut sql = Sql::new("SELECT 1 FROM mcp_servers WHERE deleted_at IS NULL AND app_id = ");
    sql.arg(app_id).push(" LIMIT 1");
    Ok(sql.query().fetch_optional(e).await?.is_some())
}

/// The id of a user's gateway account in an app: one per (app, user), so concurrent first
/// uses collide on the primary key and the retried loser finds the winner's.
pub fn gateway_account_id(app_id: &str, user_id: &str) -> String {
    format!("gw-{app_id}-{user_id}")
}

/// A user's live grants in the given apps, with their end times: what the gateway authorizes
/// from. One indexed lookup (the user's accounts, then their grants).
pub async fn user_grants(
    store: &Store,
    user_id: &str,
    app_ids: &[String],
) -> Result<Vec<(String, Option<Timestamp>)>, StoreError> {
    if app_ids.is_empty() {
        return Ok(Vec::new());
    }
    let mut sql = Sql::new(
        "SELECT g.entitlement_id, g.deprovision_at FROM app_users au JOIN grants g ON g.app_user_id = au.id \
         WHERE au.identity_user_id = ",
    );
    sql.arg(user_id)
        .push(" AND au.deleted_at IS NULL AND g.deleted_at IS NULL AND au.app_id IN (")
        .list(app_ids)
        .push(")");
    let text = sql.text_for(store.backend());
    sql.query_text(&text)
        .fetch_all(store.pool())
        .await?
        .iter()
        .map(|r| {
            Ok((
                r.try_get(0)?,
                r.try_get::<Option<i64>, _>(1)?.map(Timestamp::from_micros),
            ))
        })
        .collect()
}

/// The user behind an account (for telling connected sessions their tools changed).
pub async fn account_owner(store: &Store, app_user_id: &str) -> Result<Option<String>, StoreError> {
    let mut sql = Sql::new("SELECT identity_user_id FROM app_users WHERE id = ");
    sql.arg(app_user_id);
    Ok(sql
        .query()
        .fetch_optional(store.pool())
        .await?
        .map(|r| r.try_get::<String, _>(0))
        .transpose()?
        .filter(|u| !u.is_empty()))
}

/// One gateway audit record (one MCP request).
#[derive(Clone, Debug, PartialEq)]
pub struct AuditRecord {
    /// Record id (time-ordered).
    pub id: String,
    /// When the request arrived.
    pub at: Timestamp,
    /// The user.
    pub user_id: String,
    /// The AI client (OAuth client id).
    pub client_id: String,
    /// The MCP session, when the client uses one.
    pub session_id: String,
    /// JSON-RPC method.
    pub method: String,
    /// Server the call went to ("" when none).
    pub server_id: String,
    /// Tool record id ("" when none).
    pub tool_id: String,
    /// The tool name the client used.
    pub tool_name: String,
    /// SUCCESS, DENIED or ERROR.
    pub result: String,
    /// The precise reason for a denial or error (never shown to the AI client).
    pub reason: String,
    /// Time spent in the gateway and upstream, microseconds.
    pub latency_us: i64,
    /// More detail: protocol version, client name, upstream credential mode.
    pub doc: Value,
}

/// Writes audit records in bulk (the gateway batches them off the request path). Not part of
/// the system log: this is the AI tool usage log.
///
/// One write transaction through the store's writer queue (on SQLite an autocommit insert
/// beside it would wait on SQLite's sleeping busy handler), in statements of
/// [`crate::BULK_PARAMS`] values with `?` placeholders on SQLite (binding `$n` names costs
/// O(n²) per statement there).
pub async fn insert_audit(store: &Store, records: &[AuditRecord]) -> Result<(), StoreError> {
    let ctx = crate::AuditCtx::system("mcp-gateway-audit");
    crate::write_tx!(store, &ctx, |tx| { write_audit(tx, records).await })
}

async fn write_audit(tx: &mut Tx<'_>, records: &[AuditRecord]) -> Result<(), StoreError> {
    for part in records.chunks(crate::BULK_PARAMS / 13) {
        let mut sql = Sql::new(
            "INSERT INTO mcp_audit (id, at, user_id, client_id, session_id, method, server_id, tool_id, tool_name, result, reason, latency_us, doc) VALUES ",
        );
        for (i, r) in part.iter().enumerate() {
            sql.push(if i == 0 { "(" } else { ", (" })
                .arg(r.id.as_str())
                .push(", ")
                .arg(r.at.as_micros())
                .push(", ")
                .arg(r.user_id.as_str())
                .push(", ")
                .arg(r.client_id.as_str())
                .push(", ")
                .arg(r.session_id.as_str())
                .push(", ")
                .arg(r.method.as_str())
                .push(", ")
                .arg(r.server_id.as_str())
                .push(", ")
                .arg(r.tool_id.as_str())
                .push(", ")
                .arg(r.tool_name.as_str())
                .push(", ")
                .arg(r.result.as_str())
                .push(", ")
                .arg(r.reason.as_str())
                .push(", ")
                .arg(r.latency_us)
                .push(", ")
                .arg(r.doc.to_string())
                .push(")");
        }
        tx.exec(&sql).await?;
    }
    Ok(())
}

/// Filters of an audit search.
#[derive(Clone, Debug, Default)]
pub struct AuditQuery {
    /// Only these users.
    pub user_ids: Vec<String>,
    /// Only these servers.
    pub server_ids: Vec<String>,
    /// Only these exposed tool names.
    pub tool_names: Vec<String>,
    /// Only these results.
    pub results: Vec<String>,
    /// Only these AI clients.
    pub client_ids: Vec<String>,
    /// From this time (inclusive).
    pub since: Option<Timestamp>,
    /// Before this time.
    pub until: Option<Timestamp>,
}

/// Audit records matching `q`, newest first, one keyset page at a time.
pub async fn search_audit(
    store: &Store,
    q: &AuditQuery,
    page: &record::PageReq,
) -> Result<crate::page::Page<AuditRecord>, StoreError> {
    let mut sql = Sql::new(
        "SELECT id, at, user_id, client_id, session_id, method, server_id, tool_id, tool_name, result, reason, latency_us, doc FROM mcp_audit WHERE 1 = 1",
    );
    for (col, vals) in [
        ("user_id", &q.user_ids),
        ("server_id", &q.server_ids),
        ("tool_name", &q.tool_names),
        ("result", &q.results),
        ("client_id", &q.client_ids),
    ] {
        if !vals.is_empty() {
            sql.push(&format!(" AND {col} IN (")).list(vals).push(")");
        }
    }
    if let Some(t) = q.since {
        sql.push(" AND at >= ").arg(t.as_micros());
    }
    if let Some(t) = q.until {
        sql.push(" AND at < ").arg(t.as_micros());
    }
    record::list_page(store.pool(), sql, "mcp_audit", page, "id", |r| {
        Ok(AuditRecord {
            id: r.try_get(0)?,
            at: Timestamp::from_micros(r.try_get(1)?),
            user_id: r.try_get(2)?,
            client_id: r.try_get(3)?,
            session_id: r.try_get(4)?,
            method: r.try_get(5)?,
            server_id: r.try_get(6)?,
            tool_id: r.try_get(7)?,
            tool_name: r.try_get(8)?,
            result: r.try_get(9)?,
            reason: r.try_get(10)?,
            latency_us: r.try_get(11)?,
            doc: serde_json::from_str(&r.try_get::<String, _>(12)?).unwrap_or(Value::Null),
        })
    })
    .await
}

/// Which of `entitlement_ids` are requestable entries of at least one access profile (catalog).
pub async fn in_catalogs(
    store: &Store,
    entitlement_ids: &[String],
) -> Result<std::collections::HashSet<String>, StoreError> {
    if entitlement_ids.is_empty() {
        return Ok(Default::default());
    }
    let mut out = std::collections::HashSet::new();
    for part in entitlement_ids.chunks(500) {
        let mut sql = Sql::new(
            "SELECT DISTINCT e.entitlement_id FROM catalog_entries e JOIN request_catalogs c ON c.id = e.catalog_id \
             WHERE c.deleted_at IS NULL AND e.entitlement_id IN (",
        );
        sql.list(part).push(")");
        for r in sql.query().fetch_all(store.pool()).await? {
            out.insert(r.try_get(0)?);
        }
    }
    Ok(out)
}
