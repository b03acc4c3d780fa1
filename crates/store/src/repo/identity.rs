//! Directories, account links and identity-resolution bookkeeping (migration 0007).
//!
//! Resolution runs in the background. Whatever changes its inputs (a sync, a directory's
//! configuration, an app's matching rules) calls [`mark_dirty`] in its own transaction; the
//! worker runs every scope whose `resolved` generation is behind `wanted`.

use crate::record::{self, Col, Record, Sql};
use crate::{Store, StoreError, Tx};
use chamberlain_model::directory::{Directory, IdentityRun};
use chamberlain_model::Timestamp;
use sqlx::Row;

/// The scope of the directories run: every directory, then every other app's accounts.
pub const DIRECTORIES: &str = "directories";

/// The scope of linking one non-directory app's accounts.
pub fn app_scope(app_id: &str) -> String {
    format!("app:{app_id}")
}

/// Who set an account's owner.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum LinkSource {
    /// Nobody.
    None,
    /// An admin, through the API: automatic matching leaves the link alone.
    Manual,
    /// Directory resolution.
    Directory,
    /// The app's identity matching.
    Matching,
}

impl LinkSource {
    /// Column value.
    pub fn as_str(self) -> &'static str {
        match self {
            LinkSource::None => "",
            LinkSource::Manual => "manual",
            LinkSource::Directory => "directory",
            LinkSource::Matching => "matching",
        }
    }
    /// Parses a column value (unknown values read as `None`).
    pub fn parse(s: &str) -> LinkSource {
        match s {
            "manual" => LinkSource::Manual,
            "directory" => LinkSource::Directory,
            "matching" => LinkSource::Matching,
            _ => LinkSource::None,
        }
    }
}

impl Record for Directory {
    const TABLE: &'static str = "directories";
    const KIND: &'static str = "directory";
    fn id(&self) -> &str {
        &self.app_id
    }
    fn columns(&self) -> Vec<(&'static str, Col)> {
        vec![
            ("priority", Col::Int(i64::from(self.priority))),
            (
                "created_at",
                Col::Int(self.created_at.map(|t| t.as_micros()).unwrap_or(0)),
            ),
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

/// Live directories in priority order (ties: oldest first).
pub async fn live_directories<'c, E: sqlx::Executor<'c, Database = sqlx::Any>>(
    e: E,
) -> Result<Vec<Directory>, StoreError> {
    record::fetch_docs(
        e,
        &Sql::new(
            "SELECT doc FROM directories WHERE deleted_at IS NULL ORDER BY priority, created_at, id",
        ),
    )
    .await
}

/// Whether `app_id` is a live directory (in a transaction: `&mut *tx.conn()`).
pub async fn is_directory<'c, E: sqlx::Executor<'c, Database = sqlx::Any>>(
    e: E,
    app_id: &str,
) -> Result<bool, StoreError> {
    let mut sql = Sql::new("SELECT 1 FROM directories WHERE deleted_at IS NULL AND id = ");
    sql.arg(app_id);
    Ok(sql.query().fetch_optional(e).await?.is_some())
}

/// Asks for `scope` to be resolved again, in the caller's transaction.
pub async fn mark_dirty(tx: &mut Tx<'_>, scope: &str) -> Result<(), StoreError> {
    let now = tx.now().as_micros();
    let mut sql =
        Sql::new("INSERT INTO identity_scopes (scope, wanted, resolved, updated_at) VALUES (");
    sql.arg(scope)
        .push(", 1, 0, ")
        .arg(now)
        .push(") ON CONFLICT (scope) DO UPDATE SET wanted = identity_scopes.wanted + 1, updated_at = ")
        .arg(now);
    tx.exec(&sql).await?;
    Ok(())
}

/// After a change to `app_id`'s accounts: the directories run if it is a directory, its own
/// linking otherwise.
pub async fn mark_app_changed(tx: &mut Tx<'_>, app_id: &str) -> Result<(), StoreError> {
    if is_directory(&mut *tx.conn(), app_id).await? {
        mark_dirty(tx, DIRECTORIES).await
    } else {
        mark_dirty(tx, &app_scope(app_id)).await
    }
}

/// Scopes waiting for a run, with the generation a run would settle.
pub async fn dirty_scopes(store: &Store) -> Result<Vec<(String, i64)>, StoreError> {
    let rows = Sql::new(
        "SELECT scope, wanted FROM identity_scopes WHERE resolved < wanted ORDER BY scope",
    )
    .query()
    .fetch_all(store.pool())
    .await?;
    rows.iter()
        .map(|r| Ok((r.try_get(0)?, r.try_get(1)?)))
        .collect()
}

/// The generation `scope` is wanted at now (read before a run starts).
pub async fn wanted(store: &Store, scope: &str) -> Result<i64, StoreError> {
    let mut sql = Sql::new("SELECT wanted FROM identity_scopes WHERE scope = ");
    sql.arg(scope);
    Ok(match sql.query().fetch_optional(store.pool()).await? {
        Some(r) => r.try_get(0)?,
        None => 0,
    })
}

/// Records that a run settled `scope` up to `generation` (in the run's last transaction).
pub async fn mark_resolved(
    tx: &mut Tx<'_>,
    scope: &str,
    generation: i64,
) -> Result<(), StoreError> {
    let mut sql = Sql::new("UPDATE identity_scopes SET resolved = ");
    sql.arg(generation)
        .push(", updated_at = ")
        .arg(tx.now().as_micros())
        .push(" WHERE scope = ")
        .arg(scope)
        .push(" AND resolved < ")
        .arg(generation);
    tx.exec(&sql).await?;
    Ok(())
}

/// Saves a run (insert or replace).
pub async fn save_run<'c, E: sqlx::Executor<'c, Database = sqlx::Any>>(
    e: E,
    run: &IdentityRun,
) -> Result<(), StoreError> {
    let doc = serde_json::to_string(run).map_err(|e| StoreError::Invalid(e.to_string()))?;
    let mut sql = Sql::new("INSERT INTO identity_runs (id, scope, started_at, doc) VALUES (");
    sql.arg(run.id.as_str())
        .push(", ")
        .arg(run.scope.as_str())
        .push(", ")
        .arg(run.started_at.map(|t| t.as_micros()).unwrap_or(0))
        .push(", ")
        .arg(doc)
        .push(") ON CONFLICT (id) DO UPDATE SET doc = excluded.doc");
    sql.query().execute(e).await?;
    Ok(())
}

/// Runs kept per scope: older ones are deleted when a run is recorded.
pub const RUNS_KEPT: i64 = 100;

/// Deletes all but the newest [`RUNS_KEPT`] runs of `scope`.
pub async fn prune_runs(store: &Store, scope: &str) -> Result<(), StoreError> {
    let mut sql = Sql::new("DELETE FROM identity_runs WHERE scope = ");
    sql.arg(scope)
        .push(" AND id NOT IN (SELECT id FROM identity_runs WHERE scope = ")
        .arg(scope)
        .push(" ORDER BY id DESC LIMIT ")
        .arg(RUNS_KEPT)
        .push(")");
    sql.query().execute(store.pool()).await?;
    Ok(())
}

/// Runs of `scope`, newest first, after the page token `before` (a run id).
pub async fn list_runs(
    store: &Store,
    scope: &str,
    before: Option<&str>,
    limit: i64,
) -> Result<Vec<IdentityRun>, StoreError> {
    let mut sql = Sql::new("SELECT doc FROM identity_runs WHERE scope = ");
    sql.arg(scope);
    if let Some(b) = before {
        sql.push(" AND id < ").arg(b);
    }
    sql.push(" ORDER BY id DESC LIMIT ").arg(limit);
    let rows = sql.query().fetch_all(store.pool()).await?;
    rows.iter()
        .map(|r| {
            let doc: String = r.try_get(0)?;
            serde_json::from_str(&doc)
                .map_err(|e| StoreError::Corrupt("identity run", e.to_string()))
        })
        .collect()
}

/// Sets `link_source` on accounts (the owner itself is in the account's document).
pub async fn set_link_source(
    tx: &mut Tx<'_>,
    app_user_ids: &[String],
    source: LinkSource,
) -> Result<(), StoreError> {
    for part in app_user_ids.chunks(crate::BULK_PARAMS) {
        let mut sql = Sql::new("UPDATE app_users SET link_source = ");
        sql.arg(source.as_str())
            .push(" WHERE id IN (")
            .list(part)
            .push(")");
        tx.exec(&sql).await?;
    }
    Ok(())
}

/// One account's new owner, as identity resolution sets it.
#[derive(Clone, Debug)]
pub struct OwnerChange<'a> {
    /// The account.
    pub app_user_id: &'a str,
    /// Its owner (empty: none).
    pub user_id: &'a str,
    /// Who set it.
    pub source: LinkSource,
}

/// Rows per owner-change statement (three values each).
const OWNERS_PER_STATEMENT: usize = 300;

/// Sets accounts' owners (`identity_user_id`, `link_source`, `linked_at` = the transaction's
/// time) without rewriting their documents: a few bytes per account instead of the whole row's
/// JSON. The caller audits. One multi-row `UPDATE … FROM (VALUES …)` per few hundred accounts
/// (SQLite ≥ 3.33 and PostgreSQL both speak it; VALUES columns are `column1`, `column2`, … in
/// both).
pub async fn set_owners(tx: &mut Tx<'_>, changes: &[OwnerChange<'_>]) -> Result<(), StoreError> {
    let now = tx.now().as_micros();
    for part in changes.chunks(OWNERS_PER_STATEMENT) {
        let mut sql = Sql::new("UPDATE app_users SET identity_user_id = v.column2, link_source = v.column3, linked_at = ");
        sql.arg(now).push(" FROM (VALUES ");
        for (i, c) in part.iter().enumerate() {
            sql.push(if i == 0 { "(" } else { ", (" })
                .arg(c.app_user_id)
                .push(", ")
                .arg(c.user_id)
                .push(", ")
                .arg(c.source.as_str())
                .push(")");
        }
        sql.push(") AS v WHERE app_users.id = v.column1");
        tx.exec(&sql).await?;
    }
    Ok(())
}

/// Whether `app_id` has completed at least one sync (only such apps can be directories).
pub async fn has_completed_sync(store: &Store, app_id: &str) -> Result<bool, StoreError> {
    let mut sql =
        Sql::new("SELECT 1 FROM sync_runs WHERE status = 'SYNC_STATUS_DONE' AND app_id = ");
    sql.arg(app_id);
    Ok(sql.query().fetch_optional(store.pool()).await?.is_some())
}
