//! Downstream OAuth identities of MCP servers: users' own connections (per-user mode) and a
//! server's service identity (service mode, stored with user id ""). Tokens are stored sealed
//! by the caller; this layer never sees them in the clear. Every change is written to the
//! system log in the same transaction (the view only: never the sealed tokens).

use crate::record::Sql;
use crate::tx::{Activity, Tx};
use crate::StoreError;
use chamberlain_model::mcp::McpConnection;
use sqlx::Row;

const KIND: &str = "MCP connection";

/// A stored connection: its view and its sealed tokens.
#[derive(Clone, Debug, PartialEq)]
pub struct StoredConnection {
    /// The served view.
    pub view: McpConnection,
    /// The sealed token set.
    pub sealed_tokens: String,
}

fn object_id(server_id: &str, user_id: &str) -> String {
    if user_id.is_empty() {
        format!("{server_id}/service")
    } else {
        format!("{server_id}/{user_id}")
    }
}

fn parse(row: &sqlx::any::AnyRow) -> Result<StoredConnection, StoreError> {
    let doc: String = row.try_get("doc")?;
    Ok(StoredConnection {
        view: serde_json::from_str(&doc)
            .map_err(|e| StoreError::Corrupt("MCP connection", e.to_string()))?,
        sealed_tokens: row.try_get("sealed_tokens")?,
    })
}

/// The connection of `user_id` ("" = service identity) to a server.
pub async fn get<'c, E: sqlx::Executor<'c, Database = sqlx::Any>>(
    e: E,
    server_id: &str,
    user_id: &str,
) -> Result<Option<StoredConnection>, StoreError> {
    let mut sql = Sql::new("SELECT doc, sealed_tokens FROM mcp_connections WHERE server_id = ");
    sql.arg(server_id).push(" AND user_id = ").arg(user_id);
    sql.query()
        .fetch_optional(e)
        .await?
        .as_ref()
        .map(parse)
        .transpose()
}

/// The identity tool discovery uses for servers without shared credentials: the service
/// identity when there is one, else the most recently refreshed working user connection.
pub async fn for_discovery<'c, E: sqlx::Executor<'c, Database = sqlx::Any>>(
    e: E,
    server_id: &str,
) -> Result<Option<StoredConnection>, StoreError> {
    let mut sql = Sql::new("SELECT doc, sealed_tokens FROM mcp_connections WHERE server_id = ");
    sql.arg(server_id)
        .push(" ORDER BY CASE WHEN user_id = '' THEN 0 ELSE 1 END, updated_at DESC LIMIT 20");
    let rows = sql.query().fetch_all(e).await?;
    for r in &rows {
        let c = parse(r)?;
        if c.view.status == chamberlain_model::mcp::McpConnectionStatus::Connected {
            return Ok(Some(c));
        }
    }
    Ok(None)
}

/// Every connection of a server (admins' view), users first by id, service identity first.
pub async fn of_server<'c, E: sqlx::Executor<'c, Database = sqlx::Any>>(
    e: E,
    server_id: &str,
) -> Result<Vec<StoredConnection>, StoreError> {
    let mut sql = Sql::new("SELECT doc, sealed_tokens FROM mcp_connections WHERE server_id = ");
    sql.arg(server_id).push(" ORDER BY user_id");
    sql.query().fetch_all(e).await?.iter().map(parse).collect()
}

/// Every connection a user made.
pub async fn of_user<'c, E: sqlx::Executor<'c, Database = sqlx::Any>>(
    e: E,
    user_id: &str,
) -> Result<Vec<StoredConnection>, StoreError> {
    let mut sql = Sql::new("SELECT doc, sealed_tokens FROM mcp_connections WHERE user_id = ");
    sql.arg(user_id).push(" ORDER BY server_id");
    sql.query().fetch_all(e).await?.iter().map(parse).collect()
}

/// Creates or replaces a connection (a new authorization, a refresh, a status change).
pub async fn put(
    tx: &mut Tx<'_>,
    view: &McpConnection,
    sealed_tokens: &str,
) -> Result<(), StoreError> {
    let before = get(&mut *tx.conn(), &view.connector_id, &view.user_id).await?;
    let now = tx.now().as_micros();
    let doc = serde_json::to_string(view).unwrap_or_default();
    if before.is_some() {
        let mut sql = Sql::new("UPDATE mcp_connections SET updated_at = ");
        sql.arg(now)
            .push(", sealed_tokens = ")
            .arg(sealed_tokens)
            .push(", doc = ")
            .arg(doc.as_str())
            .push(" WHERE server_id = ")
            .arg(view.connector_id.as_str())
            .push(" AND user_id = ")
            .arg(view.user_id.as_str());
        tx.exec(&sql).await?;
    } else {
        let mut sql = Sql::new(
            "INSERT INTO mcp_connections (server_id, user_id, created_at, updated_at, sealed_tokens, doc) VALUES (",
        );
        sql.arg(view.connector_id.as_str())
            .push(", ")
            .arg(view.user_id.as_str())
            .push(", ")
            .arg(now)
            .push(", ")
            .arg(now)
            .push(", ")
            .arg(sealed_tokens)
            .push(", ")
            .arg(doc.as_str())
            .push(")");
        tx.exec(&sql).await?;
    }
    // Token refreshes only move times; the system log records connects, reconnects and
    // status changes.
    let significant = before.as_ref().is_none_or(|b| {
        b.view.status != view.status
            || b.view.connected_at != view.connected_at
            || b.view.authorized_as_email != view.authorized_as_email
    });
    if significant {
        tx.audit(
            if before.is_some() {
                Activity::Update
            } else {
                Activity::Create
            },
            KIND,
            &object_id(&view.connector_id, &view.user_id),
            before.map(|b| serde_json::to_value(b.view).unwrap_or_default()),
            serde_json::to_value(view).ok(),
        )
        .await?;
    }
    Ok(())
}

/// Removes a connection (disconnect by the user, revocation by an admin, server deleted).
/// Returns what was removed.
pub async fn delete(
    tx: &mut Tx<'_>,
    server_id: &str,
    user_id: &str,
) -> Result<Option<StoredConnection>, StoreError> {
    let Some(before) = get(&mut *tx.conn(), server_id, user_id).await? else {
        return Ok(None);
    };
    let mut sql = Sql::new("DELETE FROM mcp_connections WHERE server_id = ");
    sql.arg(server_id).push(" AND user_id = ").arg(user_id);
    tx.exec(&sql).await?;
    tx.audit(
        Activity::Delete,
        KIND,
        &object_id(server_id, user_id),
        serde_json::to_value(&before.view).ok(),
        None,
    )
    .await?;
    Ok(Some(before))
}

/// Removes every connection of a server (the server was deleted or its OAuth configuration
/// changed, which invalidates tokens issued to the old client).
pub async fn delete_all(
    tx: &mut Tx<'_>,
    server_id: &str,
) -> Result<Vec<StoredConnection>, StoreError> {
    let all = of_server(&mut *tx.conn(), server_id).await?;
    for c in &all {
        delete(tx, server_id, &c.view.user_id).await?;
    }
    Ok(all)
}
