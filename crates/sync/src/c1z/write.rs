//! Writing Baton `.c1z` files in format v1: the inverse of [`super::read`].
//!
//! A [`C1zWriter`] takes records one at a time and streams them into a SQLite database with
//! Baton's `v1_*` tables (the columns the reader reads, plus the other columns a current Baton
//! SDK file has), built in a temp file next to the output. Rows are buffered per table and
//! written in one transaction per batch with prepared multi-row `INSERT`s, so memory stays
//! bounded whatever the number of grants. [`C1zWriter::finish`] records one finished `full`
//! sync run, adds the unique `(external_id, sync_id)` indexes (which also refuse duplicate
//! ids), and compresses the database with zstd behind the `C1ZF\0` header into the output,
//! replacing it atomically. The temp files are removed on success, on error and on drop.
//!
//! ```no_run
//! # async fn demo() -> Result<(), chamberlain_sync::c1z::C1zWriteError> {
//! use chamberlain_sync::c1z::{proto, write::C1zWriter};
//! let mut w = C1zWriter::create("sync.c1z").await?;
//! w.add_resource_type(proto::ResourceType {
//!     id: "user".into(),
//!     display_name: "User".into(),
//!     traits: vec![1],
//!     ..Default::default()
//! })
//! .await?;
//! // … add_resource, add_entitlement, add_grant …
//! let summary = w.finish().await?;
//! println!("{} grants in sync {}", summary.grants, summary.sync_id);
//! # Ok(()) }
//! ```

use super::proto::{
    self, type_urls, Entitlement, Grant, GrantSource, GrantSources, Resource, ResourceId,
    ResourceType,
};
use super::MAGIC_V1;
use prost::Message;
use sqlx::sqlite::{
    SqliteArguments, SqliteConnectOptions, SqliteJournalMode, SqliteLockingMode, SqliteSynchronous,
};
use sqlx::{ConnectOptions, Connection, Sqlite, SqliteConnection};
use std::io::Write;
use std::path::{Path, PathBuf};

/// Rows buffered per table before they are written in one transaction.
pub const DEFAULT_BATCH_ROWS: usize = 50_000;

/// Bind parameters per statement (the project keeps SQLite statements under ~1,000).
const MAX_PARAMS: usize = 999;

/// zstd level of the output (zstd's default).
const ZSTD_LEVEL: i32 = 3;

/// Why a c1z could not be written.
#[derive(Debug, thiserror::Error)]
pub enum C1zWriteError {
    /// A record lacks something the format needs.
    #[error("cannot write {what}: {why}")]
    Invalid {
        /// The kind of record.
        what: &'static str,
        /// What is missing or wrong.
        why: String,
    },
    /// Two records of one kind share an id.
    #[error("two {what} share the id `{id}`; ids must be unique within a sync")]
    Duplicate {
        /// The kind of record.
        what: &'static str,
        /// The repeated id.
        id: String,
    },
    /// File I/O failed.
    #[error("could not write the c1z: {0}")]
    Io(#[from] std::io::Error),
    /// SQLite failed.
    #[error("could not write the c1z's database: {0}")]
    Sqlite(#[from] sqlx::Error),
}

/// Settings of a writer.
#[derive(Clone, Debug)]
pub struct WriterOptions {
    /// Baton sync id of the sync run written [default: a new 27-character id].
    pub sync_id: Option<String>,
    /// Rows buffered per table before a batch is written [default: [`DEFAULT_BATCH_ROWS`]].
    pub batch_rows: usize,
}

impl Default for WriterOptions {
    fn default() -> Self {
        WriterOptions {
            sync_id: None,
            batch_rows: DEFAULT_BATCH_ROWS,
        }
    }
}

/// What [`C1zWriter::finish`] wrote.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct WriteSummary {
    /// The c1z written.
    pub path: PathBuf,
    /// Its sync id.
    pub sync_id: String,
    /// Resource types written.
    pub resource_types: u64,
    /// Resources written.
    pub resources: u64,
    /// Entitlements written.
    pub entitlements: u64,
    /// Grants written.
    pub grants: u64,
    /// Size of the SQLite database.
    pub database_bytes: u64,
    /// Size of the c1z.
    pub file_bytes: u64,
}

/// One bound value.
enum Val {
    Text(String),
    OptText(Option<String>),
    Blob(Vec<u8>),
    OptBlob(Option<Vec<u8>>),
    Int(i64),
}

/// One `v1_*` table being filled: its buffered rows, flattened.
struct Table {
    name: &'static str,
    what: &'static str,
    columns: &'static [&'static str],
    unique_index: &'static str,
    values: Vec<Val>,
    rows: usize,
    written: u64,
    /// The `INSERT` of a full statement's worth of rows, built once.
    full_insert: Option<String>,
}

impl Table {
    fn new(
        name: &'static str,
        what: &'static str,
        columns: &'static [&'static str],
        unique_index: &'static str,
    ) -> Table {
        Table {
            name,
            what,
            columns,
            unique_index,
            values: Vec::new(),
            rows: 0,
            written: 0,
            full_insert: None,
        }
    }

    fn rows_per_statement(&self) -> usize {
        (MAX_PARAMS / self.columns.len()).max(1)
    }

    fn insert_sql(&self, rows: usize) -> String {
        let one = format!("({})", vec!["?"; self.columns.len()].join(", "));
        format!(
            "INSERT INTO {} ({}) VALUES {}",
            self.name,
            self.columns.join(", "),
            vec![one; rows].join(", ")
        )
    }

    fn push(&mut self, row: impl IntoIterator<Item = Val>) {
        let before = self.values.len();
        self.values.extend(row);
        debug_assert_eq!(self.values.len() - before, self.columns.len());
        self.rows += 1;
    }

    /// Writes the buffered rows in one transaction.
    async fn flush(&mut self, conn: &mut SqliteConnection) -> Result<(), sqlx::Error> {
        if self.rows == 0 {
            return Ok(());
        }
        let per = self.rows_per_statement();
        if self.full_insert.is_none() {
            self.full_insert = Some(self.insert_sql(per));
        }
        let cols = self.columns.len();
        let mut remaining = self.rows;
        let mut values = std::mem::take(&mut self.values).into_iter();
        let mut tx = conn.begin().await?;
        while remaining > 0 {
            let n = remaining.min(per);
            let tail;
            let sql: &str = if n == per {
                self.full_insert.as_deref().unwrap_or_default()
            } else {
                tail = self.insert_sql(n);
                &tail
            };
            let mut q = sqlx::query(sql);
            for v in values.by_ref().take(n * cols) {
                q = bind(q, v);
            }
            q.execute(&mut *tx).await?;
            remaining -= n;
        }
        tx.commit().await?;
        self.written += self.rows as u64;
        self.rows = 0;
        Ok(())
    }
}

type Query<'q> = sqlx::query::Query<'q, Sqlite, SqliteArguments<'q>>;

fn bind(q: Query<'_>, v: Val) -> Query<'_> {
    match v {
        Val::Text(s) => q.bind(s),
        Val::OptText(s) => q.bind(s),
        Val::Blob(b) => q.bind(b),
        Val::OptBlob(b) => q.bind(b),
        Val::Int(i) => q.bind(i),
    }
}

/// Baton's v1 schema (the columns of a current SDK's file; lookup indexes other than the unique
/// ones are left out, as Baton creates missing indexes itself when it opens a file).
const SCHEMA: &[&str] = &[
    "CREATE TABLE v1_resource_types (
        id integer primary key,
        external_id text not null,
        data blob not null,
        sync_id text not null,
        discovered_at datetime not null
    )",
    "CREATE TABLE v1_resources (
        id integer primary key,
        resource_type_id text not null,
        external_id text not null,
        parent_resource_type_id text,
        parent_resource_id text,
        data blob not null,
        sync_id text not null,
        discovered_at datetime not null
    )",
    "CREATE TABLE v1_entitlements (
        id integer primary key,
        resource_type_id text not null,
        resource_id text not null,
        external_id text not null,
        data blob not null,
        sync_id text not null,
        discovered_at datetime not null
    )",
    "CREATE TABLE v1_grants (
        id integer primary key,
        resource_type_id text not null,
        resource_id text not null,
        entitlement_id text not null,
        principal_resource_type_id text not null,
        principal_resource_id text not null,
        external_id text not null,
        expansion blob,
        needs_expansion integer not null default 0,
        data blob not null,
        sync_id text not null,
        discovered_at datetime not null
    )",
    "CREATE TABLE v1_assets (
        id integer primary key,
        external_id text not null,
        content_type text not null,
        data blob not null,
        sync_id text not null,
        discovered_at datetime not null
    )",
    "CREATE UNIQUE INDEX idx_assets_external_sync_v1 ON v1_assets (external_id, sync_id)",
    "CREATE TABLE v1_sync_runs (
        id integer primary key,
        sync_id text not null,
        started_at datetime not null,
        ended_at datetime,
        sync_token text not null,
        sync_type text not null default 'full',
        parent_sync_id text not null default '',
        linked_sync_id text not null default '',
        supports_diff integer not null default 0,
        grants_backfilled integer not null default 0
    )",
    "CREATE UNIQUE INDEX idx_sync_runs_sync_id_v1 ON v1_sync_runs (sync_id)",
    "CREATE TABLE v1_connector_sessions (
        id integer primary key,
        sync_id text not null,
        key text not null,
        value blob not null
    )",
    "CREATE UNIQUE INDEX idx_session_store_sync_key_v1 ON v1_connector_sessions (sync_id, key)",
];

const RESOURCE_TYPES: usize = 0;
const RESOURCES: usize = 1;
const ENTITLEMENTS: usize = 2;
const GRANTS: usize = 3;

/// Streams records into a new c1z (format v1). Add records in any order; nothing is visible
/// at the output path until [`finish`](C1zWriter::finish) succeeds. Dropping an unfinished
/// writer removes its temp files and leaves the output untouched.
pub struct C1zWriter {
    out: PathBuf,
    db: PathBuf,
    conn: Option<SqliteConnection>,
    sync_id: String,
    started_at: String,
    discovered_at: String,
    batch_rows: usize,
    tables: [Table; 4],
}

impl C1zWriter {
    /// Starts a c1z that [`finish`](C1zWriter::finish) will write to `out`.
    pub async fn create(out: impl AsRef<Path>) -> Result<C1zWriter, C1zWriteError> {
        C1zWriter::create_with(out, WriterOptions::default()).await
    }

    /// Starts a c1z with explicit settings.
    pub async fn create_with(
        out: impl AsRef<Path>,
        options: WriterOptions,
    ) -> Result<C1zWriter, C1zWriteError> {
        let out = out.as_ref().to_path_buf();
        let sync_id = options.sync_id.unwrap_or_else(chamberlain_model::new_id);
        if sync_id.is_empty() {
            return Err(C1zWriteError::Invalid {
                what: "the sync run",
                why: "the sync id is empty".into(),
            });
        }
        let db = sibling(&out, "building.db")?;
        let now = baton_time(time::OffsetDateTime::now_utc());
        let mut w = C1zWriter {
            out,
            db,
            conn: None,
            sync_id,
            started_at: now.clone(),
            discovered_at: now,
            batch_rows: options.batch_rows.max(1),
            tables: [
                Table::new(
                    "v1_resource_types",
                    "resource types",
                    &["external_id", "data", "sync_id", "discovered_at"],
                    "idx_resource_types_external_sync_v1",
                ),
                Table::new(
                    "v1_resources",
                    "resources",
                    &[
                        "resource_type_id",
                        "external_id",
                        "parent_resource_type_id",
                        "parent_resource_id",
                        "data",
                        "sync_id",
                        "discovered_at",
                    ],
                    // Baton's name for this index (its names for the resources indexes are
                    // swapped; kept so that Baton reopening the file does not add a twin).
                    "idx_resources_parent_resource_id_v1",
                ),
                Table::new(
                    "v1_entitlements",
                    "entitlements",
                    &[
                        "resource_type_id",
                        "resource_id",
                        "external_id",
                        "data",
                        "sync_id",
                        "discovered_at",
                    ],
                    "idx_entitlements_external_sync_v1",
                ),
                Table::new(
                    "v1_grants",
                    "grants",
                    &[
                        "resource_type_id",
                        "resource_id",
                        "entitlement_id",
                        "principal_resource_type_id",
                        "principal_resource_id",
                        "external_id",
                        "expansion",
                        "needs_expansion",
                        "data",
                        "sync_id",
                        "discovered_at",
                    ],
                    "idx_grants_external_sync_v1",
                ),
            ],
        };
        let opts = SqliteConnectOptions::new()
            .filename(&w.db)
            .create_if_missing(true)
            .journal_mode(SqliteJournalMode::Off)
            .synchronous(SqliteSynchronous::Off)
            .locking_mode(SqliteLockingMode::Exclusive)
            .pragma("cache_size", "-32768")
            .disable_statement_logging();
        let mut conn = opts.connect().await?;
        for ddl in SCHEMA {
            sqlx::query(ddl).execute(&mut conn).await?;
        }
        w.conn = Some(conn);
        Ok(w)
    }

    /// The sync id the file will carry.
    pub fn sync_id(&self) -> &str {
        &self.sync_id
    }

    /// Adds a resource type (`external_id` = its id).
    pub async fn add_resource_type(&mut self, rt: ResourceType) -> Result<(), C1zWriteError> {
        if rt.id.is_empty() {
            return Err(invalid("a resource type", "its id is empty"));
        }
        let row = [
            Val::Text(rt.id.clone()),
            Val::Blob(rt.encode_to_vec()),
            Val::Text(self.sync_id.clone()),
            Val::Text(self.discovered_at.clone()),
        ];
        self.push(RESOURCE_TYPES, row).await
    }

    /// Adds a resource (`external_id` = `<type>:<id>`), with its parent link if it has one.
    pub async fn add_resource(&mut self, r: Resource) -> Result<(), C1zWriteError> {
        let id = resource_id(r.id.as_ref(), "a resource", "its id")?;
        let parent = match &r.parent_resource_id {
            Some(p) if !(p.resource_type.is_empty() && p.resource.is_empty()) => {
                Some(resource_id(Some(p), "a resource", "its parent id")?.clone())
            }
            _ => None,
        };
        let row = [
            Val::Text(id.resource_type.clone()),
            Val::Text(format!("{}:{}", id.resource_type, id.resource)),
            Val::OptText(parent.as_ref().map(|p| p.resource_type.clone())),
            Val::OptText(parent.map(|p| p.resource)),
            Val::Blob(r.encode_to_vec()),
            Val::Text(self.sync_id.clone()),
            Val::Text(self.discovered_at.clone()),
        ];
        self.push(RESOURCES, row).await
    }

    /// Adds an entitlement (`external_id` = its id); it must name the resource it belongs to.
    pub async fn add_entitlement(&mut self, e: Entitlement) -> Result<(), C1zWriteError> {
        if e.id.is_empty() {
            return Err(invalid("an entitlement", "its id is empty"));
        }
        let res = resource_id(
            e.resource.as_ref().and_then(|r| r.id.as_ref()),
            "an entitlement",
            "the id of its resource",
        )?
        .clone();
        let row = [
            Val::Text(res.resource_type),
            Val::Text(res.resource),
            Val::Text(e.id.clone()),
            Val::Blob(e.encode_to_vec()),
            Val::Text(self.sync_id.clone()),
            Val::Text(self.discovered_at.clone()),
        ];
        self.push(ENTITLEMENTS, row).await
    }

    /// Adds a grant (`external_id` = its id). The entitlement needs its id and its resource's
    /// id, the principal its id. A `GrantExpandable` annotation is moved out of `data` into the
    /// `expansion` column, as current Baton writers store it (already expanded:
    /// `needs_expansion = 0`). An expansion-derived grant lists its source entitlements in
    /// `sources` (see [`derived_sources`]).
    pub async fn add_grant(&mut self, mut g: Grant) -> Result<(), C1zWriteError> {
        if g.id.is_empty() {
            return Err(invalid("a grant", "its id is empty"));
        }
        let ent = g
            .entitlement
            .as_ref()
            .filter(|e| !e.id.is_empty())
            .ok_or_else(|| {
                invalid(
                    "a grant",
                    &format!("grant `{}` has no entitlement id", g.id),
                )
            })?;
        let ent_id = ent.id.clone();
        let res = resource_id(
            ent.resource.as_ref().and_then(|r| r.id.as_ref()),
            "a grant",
            "the id of its entitlement's resource",
        )?
        .clone();
        let principal = resource_id(
            g.principal.as_ref().and_then(|p| p.id.as_ref()),
            "a grant",
            "its principal's id",
        )?
        .clone();
        let mut expansion = None;
        if let Some(i) = g
            .annotations
            .iter()
            .position(|a| a.type_url.ends_with(type_urls::GRANT_EXPANDABLE))
        {
            expansion = Some(g.annotations.remove(i).value);
        }
        let row = [
            Val::Text(res.resource_type),
            Val::Text(res.resource),
            Val::Text(ent_id),
            Val::Text(principal.resource_type),
            Val::Text(principal.resource),
            Val::Text(g.id.clone()),
            Val::OptBlob(expansion),
            Val::Int(0),
            Val::Blob(g.encode_to_vec()),
            Val::Text(self.sync_id.clone()),
            Val::Text(self.discovered_at.clone()),
        ];
        self.push(GRANTS, row).await
    }

    async fn push<const N: usize>(
        &mut self,
        table: usize,
        row: [Val; N],
    ) -> Result<(), C1zWriteError> {
        let conn = self.conn.as_mut().ok_or_else(closed)?;
        let t = &mut self.tables[table];
        t.push(row);
        if t.rows >= self.batch_rows {
            if let Err(e) = t.flush(conn).await {
                // The batch is half written: refuse everything after this.
                self.conn = None;
                return Err(e.into());
            }
        }
        Ok(())
    }

    /// Writes what is buffered, records the finished `full` sync run, indexes, and compresses
    /// the database into the output path (replacing any file there).
    pub async fn finish(mut self) -> Result<WriteSummary, C1zWriteError> {
        let mut conn = self.conn.take().ok_or_else(closed)?;
        for t in &mut self.tables {
            t.flush(&mut conn).await?;
        }
        let ended_at = baton_time(time::OffsetDateTime::now_utc());
        sqlx::query(
            "INSERT INTO v1_sync_runs (sync_id, started_at, ended_at, sync_token, sync_type) \
             VALUES (?, ?, ?, '', 'full')",
        )
        .bind(&self.sync_id)
        .bind(&self.started_at)
        .bind(ended_at)
        .execute(&mut conn)
        .await?;
        for t in &self.tables {
            let ddl = format!(
                "CREATE UNIQUE INDEX {} ON {} (external_id, sync_id)",
                t.unique_index, t.name
            );
            if let Err(e) = sqlx::query(&ddl).execute(&mut conn).await {
                let dup: Option<String> = sqlx::query_scalar(&format!(
                    "SELECT external_id FROM {} GROUP BY external_id, sync_id \
                     HAVING count(*) > 1 LIMIT 1",
                    t.name
                ))
                .fetch_optional(&mut conn)
                .await?;
                return Err(match dup {
                    Some(id) => C1zWriteError::Duplicate { what: t.what, id },
                    None => e.into(),
                });
            }
        }
        conn.close().await?;

        let db = self.db.clone();
        let out = self.out.clone();
        let (database_bytes, file_bytes) = tokio::task::spawn_blocking(move || compress(&db, &out))
            .await
            .map_err(|e| std::io::Error::other(e.to_string()))??;
        Ok(WriteSummary {
            path: self.out.clone(),
            sync_id: self.sync_id.clone(),
            resource_types: self.tables[RESOURCE_TYPES].written,
            resources: self.tables[RESOURCES].written,
            entitlements: self.tables[ENTITLEMENTS].written,
            grants: self.tables[GRANTS].written,
            database_bytes,
            file_bytes,
        })
    }
}

impl Drop for C1zWriter {
    fn drop(&mut self) {
        // The connection (if still open) is closed by sqlx when dropped; on Unix the file can
        // go first.
        let _ = std::fs::remove_file(&self.db);
        let _ = std::fs::remove_file(format!("{}-journal", self.db.display()));
    }
}

/// `GrantSources` of a grant derived through expansion from the given entitlements.
pub fn derived_sources<I, S>(entitlement_ids: I) -> GrantSources
where
    I: IntoIterator<Item = S>,
    S: Into<String>,
{
    GrantSources {
        sources: entitlement_ids
            .into_iter()
            .map(|id| (id.into(), GrantSource { is_direct: false }))
            .collect(),
    }
}

/// A `ResourceId`.
pub fn rid(resource_type: impl Into<String>, resource: impl Into<String>) -> ResourceId {
    ResourceId {
        resource_type: resource_type.into(),
        resource: resource.into(),
    }
}

/// The stub Baton embeds for a resource referenced from a grant or entitlement: only its id.
pub fn resource_stub(id: ResourceId) -> Resource {
    Resource {
        id: Some(id),
        ..Default::default()
    }
}

/// The annotation carrying a user trait.
pub fn user_trait_annotation(t: &proto::UserTrait) -> prost_types::Any {
    proto::annotation(type_urls::USER_TRAIT, t)
}

/// The annotation marking a grant to a group as expandable through `entitlement_ids`.
pub fn grant_expandable_annotation(entitlement_ids: Vec<String>) -> prost_types::Any {
    proto::annotation(
        type_urls::GRANT_EXPANDABLE,
        &proto::GrantExpandable {
            entitlement_ids,
            ..Default::default()
        },
    )
}

fn invalid(what: &'static str, why: &str) -> C1zWriteError {
    C1zWriteError::Invalid {
        what,
        why: why.to_string(),
    }
}

fn closed() -> C1zWriteError {
    invalid("a record", "the writer failed earlier and is closed")
}

fn resource_id<'a>(
    id: Option<&'a ResourceId>,
    what: &'static str,
    field: &str,
) -> Result<&'a ResourceId, C1zWriteError> {
    match id {
        Some(id) if !id.resource_type.is_empty() && !id.resource.is_empty() => Ok(id),
        Some(id) => Err(invalid(
            what,
            &format!(
                "{field} needs both a resource type and a resource id (got `{}:{}`)",
                id.resource_type, id.resource
            ),
        )),
        None => Err(invalid(what, &format!("{field} is missing"))),
    }
}

/// Baton's `datetime` text form: `2006-01-02 15:04:05.999999999` (UTC).
fn baton_time(t: time::OffsetDateTime) -> String {
    let f = time::macros::format_description!(
        "[year]-[month]-[day] [hour]:[minute]:[second].[subsecond digits:6]"
    );
    t.format(&f).unwrap_or_default()
}

/// A fresh path next to `out` for a temp file.
fn sibling(out: &Path, suffix: &str) -> Result<PathBuf, C1zWriteError> {
    let name = out.file_name().ok_or_else(|| {
        invalid(
            "the c1z",
            &format!("`{}` is not a file path", out.display()),
        )
    })?;
    Ok(out.with_file_name(format!(
        ".{}.{}.{suffix}",
        name.to_string_lossy(),
        chamberlain_model::new_id()
    )))
}

/// Compresses `db` behind the v1 header into a temp file next to `out`, then renames it over
/// `out`. Returns (database size, c1z size).
fn compress(db: &Path, out: &Path) -> Result<(u64, u64), C1zWriteError> {
    struct Remove(PathBuf, bool);
    impl Drop for Remove {
        fn drop(&mut self) {
            if self.1 {
                let _ = std::fs::remove_file(&self.0);
            }
        }
    }
    let part = Remove(sibling(out, "part")?, true);
    let src = std::fs::File::open(db)?;
    let size = src.metadata()?.len();
    let mut src = std::io::BufReader::with_capacity(1 << 20, src);
    let mut file = std::io::BufWriter::with_capacity(1 << 20, std::fs::File::create(&part.0)?);
    file.write_all(MAGIC_V1)?;
    let mut enc = zstd::stream::write::Encoder::new(file, ZSTD_LEVEL)?;
    enc.include_contentsize(true)?;
    enc.set_pledged_src_size(Some(size))?;
    std::io::copy(&mut src, &mut enc)?;
    let file = enc.finish()?;
    let file = file.into_inner().map_err(|e| e.into_error())?;
    file.sync_all()?;
    let written = file.metadata()?.len();
    drop(file);
    std::fs::rename(&part.0, out)?;
    let mut part = part;
    part.1 = false;
    Ok((size, written))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::c1z::{read, DEFAULT_MAX_DECOMPRESSED};
    use sqlx::Row;

    fn temp_dir() -> PathBuf {
        let dir = std::env::temp_dir().join(format!("c1z-write-{}", chamberlain_model::new_id()));
        std::fs::create_dir_all(&dir).unwrap();
        dir
    }

    fn entitlement(resource: ResourceId, slug: &str, name: &str) -> Entitlement {
        Entitlement {
            id: format!("{}:{}:{slug}", resource.resource_type, resource.resource),
            resource: Some(resource_stub(resource)),
            display_name: name.into(),
            slug: slug.into(),
            purpose: 1,
            ..Default::default()
        }
    }

    fn grant(ent: &Entitlement, principal: ResourceId) -> Grant {
        Grant {
            id: format!(
                "{}:{}:{}",
                ent.id, principal.resource_type, principal.resource
            ),
            entitlement: Some(Entitlement {
                id: ent.id.clone(),
                resource: ent.resource.clone(),
                ..Default::default()
            }),
            principal: Some(resource_stub(principal)),
            ..Default::default()
        }
    }

    fn user(id: &str, name: &str, t: proto::UserTrait) -> Resource {
        Resource {
            id: Some(rid("user", id)),
            display_name: name.into(),
            annotations: vec![user_trait_annotation(&t)],
            ..Default::default()
        }
    }

    /// Writes a small but complete sync: an org with two groups under it, two users (one with
    /// two emails and every user-trait field), nested groups and an expanded grant.
    async fn write_sample(out: &Path, batch_rows: usize) -> WriteSummary {
        let mut w = C1zWriter::create_with(
            out,
            WriterOptions {
                sync_id: Some("2abcdefghijklmnopqrstuvwxyz".into()),
                batch_rows,
            },
        )
        .await
        .unwrap();
        for (id, name, t) in [
            ("org", "Org", 0),
            ("group", "Group", 2),
            ("user", "User", 1),
        ] {
            w.add_resource_type(ResourceType {
                id: id.into(),
                display_name: name.into(),
                traits: if t == 0 { vec![] } else { vec![t] },
                ..Default::default()
            })
            .await
            .unwrap();
        }
        w.add_resource(Resource {
            id: Some(rid("org", "acme")),
            display_name: "Acme".into(),
            ..Default::default()
        })
        .await
        .unwrap();
        for (g, name) in [("eng", "Engineering"), ("all", "Everyone")] {
            w.add_resource(Resource {
                id: Some(rid("group", g)),
                parent_resource_id: Some(rid("org", "acme")),
                display_name: name.into(),
                description: format!("{name} group"),
                ..Default::default()
            })
            .await
            .unwrap();
        }
        let mut profile = serde_json::Map::new();
        profile.insert("department".into(), "R&D".into());
        profile.insert("level".into(), 3.into());
        w.add_resource(user(
            "u1",
            "Alice Smith",
            proto::UserTrait {
                emails: vec![
                    proto::Email {
                        address: "alice@example.com".into(),
                        is_primary: true,
                    },
                    proto::Email {
                        address: "asmith@corp.example.org".into(),
                        is_primary: false,
                    },
                ],
                status: Some(proto::Status {
                    status: 1,
                    details: "active".into(),
                }),
                profile: Some(proto::json_to_struct(&profile)),
                account_type: 1,
                login: "alice".into(),
                login_aliases: vec!["asmith".into()],
                employee_ids: vec!["E001".into(), "X-9".into()],
            },
        ))
        .await
        .unwrap();
        w.add_resource(user(
            "svc1",
            "Backup robot",
            proto::UserTrait {
                status: Some(proto::Status {
                    status: 2,
                    details: String::new(),
                }),
                account_type: 2,
                login: "backup".into(),
                ..Default::default()
            },
        ))
        .await
        .unwrap();
        let eng = entitlement(rid("group", "eng"), "member", "Engineering Member");
        let all = entitlement(rid("group", "all"), "member", "Everyone Member");
        w.add_entitlement(eng.clone()).await.unwrap();
        w.add_entitlement(all.clone()).await.unwrap();
        w.add_grant(grant(&eng, rid("user", "u1"))).await.unwrap();
        w.add_grant(grant(&all, rid("user", "svc1"))).await.unwrap();
        // Engineering is a member of Everyone: an expandable grant to the group …
        let mut nested = grant(&all, rid("group", "eng"));
        nested.annotations = vec![grant_expandable_annotation(vec![eng.id.clone()])];
        w.add_grant(nested).await.unwrap();
        // … and the grant it implies, derived from Engineering's membership.
        let mut derived = grant(&all, rid("user", "u1"));
        derived.sources = Some(derived_sources([eng.id.clone()]));
        w.add_grant(derived).await.unwrap();
        w.finish().await.unwrap()
    }

    #[tokio::test]
    async fn round_trip_keeps_every_field() {
        let dir = temp_dir();
        let out = dir.join("sync.c1z");
        let summary = write_sample(&out, DEFAULT_BATCH_ROWS).await;
        assert_eq!(
            (
                summary.resource_types,
                summary.resources,
                summary.entitlements,
                summary.grants
            ),
            (3, 5, 2, 4)
        );
        assert!(summary.file_bytes > 5 && summary.file_bytes < summary.database_bytes);
        // Only the c1z is left in the directory.
        let names: Vec<_> = std::fs::read_dir(&dir)
            .unwrap()
            .map(|e| e.unwrap().file_name().into_string().unwrap())
            .collect();
        assert_eq!(names, vec!["sync.c1z".to_string()]);
        assert!(std::fs::read(&out).unwrap().starts_with(b"C1ZF\0"));

        let snap = read(&out, DEFAULT_MAX_DECOMPRESSED).await.unwrap();
        assert_eq!(snap.sync_id, "2abcdefghijklmnopqrstuvwxyz");
        assert_eq!(snap.sync_type, "full");
        assert_eq!(
            snap.resource_types
                .iter()
                .map(|t| (t.id.as_str(), t.traits.clone()))
                .collect::<Vec<_>>(),
            vec![("org", vec![]), ("group", vec![2]), ("user", vec![1])]
        );
        assert_eq!(snap.resources.len(), 5);
        let eng = &snap.resources[1];
        assert_eq!(eng.display_name, "Engineering");
        assert_eq!(eng.description, "Engineering group");
        assert_eq!(eng.parent_resource_id, Some(rid("org", "acme")));
        assert_eq!(snap.resources[0].parent_resource_id, None);

        let alice = &snap.resources[3];
        assert_eq!(alice.id, Some(rid("user", "u1")));
        assert_eq!(alice.display_name, "Alice Smith");
        let t = alice
            .annotations
            .iter()
            .find(|a| a.type_url == "type.googleapis.com/c1.connector.v2.UserTrait")
            .map(|a| proto::UserTrait::decode(a.value.as_slice()).unwrap())
            .unwrap();
        assert_eq!(
            t.emails
                .iter()
                .map(|e| (e.address.as_str(), e.is_primary))
                .collect::<Vec<_>>(),
            vec![
                ("alice@example.com", true),
                ("asmith@corp.example.org", false)
            ]
        );
        assert_eq!(t.login, "alice");
        assert_eq!(t.login_aliases, vec!["asmith"]);
        assert_eq!(t.employee_ids, vec!["E001", "X-9"]);
        assert_eq!(t.account_type, 1);
        assert_eq!(t.status.as_ref().map(|s| s.status), Some(1));
        let profile = proto::struct_to_json(t.profile.as_ref().unwrap());
        assert_eq!(profile["department"], "R&D");
        assert_eq!(profile["level"], 3.0);

        assert_eq!(
            snap.entitlements
                .iter()
                .map(|e| (
                    e.id.as_str(),
                    e.display_name.as_str(),
                    e.slug.as_str(),
                    e.purpose
                ))
                .collect::<Vec<_>>(),
            vec![
                ("group:eng:member", "Engineering Member", "member", 1),
                ("group:all:member", "Everyone Member", "member", 1)
            ]
        );
        assert_eq!(
            snap.entitlements[0]
                .resource
                .as_ref()
                .and_then(|r| r.id.clone()),
            Some(rid("group", "eng"))
        );

        let grants: Vec<_> = snap
            .grants
            .iter()
            .map(|g| {
                (
                    g.id.as_str(),
                    g.entitlement_id.as_str(),
                    format!("{}:{}", g.principal.resource_type, g.principal.resource),
                    g.sources.clone(),
                )
            })
            .collect();
        assert_eq!(
            grants,
            vec![
                (
                    "group:eng:member:user:u1",
                    "group:eng:member",
                    "user:u1".to_string(),
                    vec![]
                ),
                (
                    "group:all:member:user:svc1",
                    "group:all:member",
                    "user:svc1".to_string(),
                    vec![]
                ),
                (
                    "group:all:member:group:eng",
                    "group:all:member",
                    "group:eng".to_string(),
                    vec![]
                ),
                (
                    "group:all:member:user:u1",
                    "group:all:member",
                    "user:u1".to_string(),
                    vec!["group:eng:member".to_string()]
                ),
            ]
        );
        std::fs::remove_dir_all(&dir).unwrap();
    }

    #[tokio::test]
    async fn database_has_batons_columns_and_a_finished_sync_run() {
        let dir = temp_dir();
        let out = dir.join("sync.c1z");
        write_sample(&out, 2).await;
        let db = crate::c1z::decompress(&out, DEFAULT_MAX_DECOMPRESSED).unwrap();
        let pool = sqlx::SqlitePool::connect_with(SqliteConnectOptions::new().filename(&db.0))
            .await
            .unwrap();
        let run = sqlx::query("SELECT sync_id, sync_type, started_at, ended_at FROM v1_sync_runs")
            .fetch_all(&pool)
            .await
            .unwrap();
        assert_eq!(run.len(), 1);
        assert_eq!(run[0].get::<String, _>(0), "2abcdefghijklmnopqrstuvwxyz");
        assert_eq!(run[0].get::<String, _>(1), "full");
        let ended: String = run[0].get(3);
        assert!(ended.len() == 26 && ended.as_bytes()[10] == b' ', "{ended}");
        assert!(ended >= run[0].get::<String, _>(2));
        let parents: Vec<(String, Option<String>, Option<String>)> = sqlx::query_as(
            "SELECT external_id, parent_resource_type_id, parent_resource_id FROM v1_resources ORDER BY id",
        )
        .fetch_all(&pool)
        .await
        .unwrap();
        assert_eq!(
            parents[..2],
            [
                ("org:acme".to_string(), None, None),
                (
                    "group:eng".to_string(),
                    Some("org".to_string()),
                    Some("acme".to_string())
                )
            ]
        );
        // The expandable annotation lives in its own column, not in the grant blob.
        let row = sqlx::query(
            "SELECT expansion, needs_expansion, data, resource_type_id, resource_id FROM v1_grants \
             WHERE external_id = 'group:all:member:group:eng'",
        )
        .fetch_one(&pool)
        .await
        .unwrap();
        let exp = proto::GrantExpandable::decode(row.get::<&[u8], _>(0)).unwrap();
        assert_eq!(exp.entitlement_ids, vec!["group:eng:member"]);
        assert_eq!(row.get::<i64, _>(1), 0);
        assert!(Grant::decode(row.get::<&[u8], _>(2))
            .unwrap()
            .annotations
            .is_empty());
        assert_eq!(
            (row.get::<String, _>(3), row.get::<String, _>(4)),
            ("group".to_string(), "all".to_string())
        );
        let plain: i64 =
            sqlx::query_scalar("SELECT count(*) FROM v1_grants WHERE expansion IS NULL")
                .fetch_one(&pool)
                .await
                .unwrap();
        assert_eq!(plain, 3);
        for table in ["v1_assets", "v1_connector_sessions"] {
            let n: i64 = sqlx::query_scalar(&format!("SELECT count(*) FROM {table}"))
                .fetch_one(&pool)
                .await
                .unwrap();
            assert_eq!(n, 0);
        }
        pool.close().await;
        std::fs::remove_dir_all(&dir).unwrap();
    }

    #[tokio::test]
    async fn many_batches_and_partial_statements_keep_every_row_in_order() {
        let dir = temp_dir();
        let out = dir.join("big.c1z");
        let mut w = C1zWriter::create_with(
            &out,
            WriterOptions {
                batch_rows: 1_000,
                ..Default::default()
            },
        )
        .await
        .unwrap();
        let group = rid("group", "g");
        let ent = entitlement(group.clone(), "member", "G Member");
        w.add_entitlement(ent.clone()).await.unwrap();
        // 2,345 grants: two full batches plus a partial one; within each, 90-row statements
        // and a shorter last one.
        for i in 0..2_345 {
            w.add_grant(grant(&ent, rid("user", format!("u{i}"))))
                .await
                .unwrap();
        }
        let s = w.finish().await.unwrap();
        assert_eq!(s.grants, 2_345);
        let snap = read(&out, DEFAULT_MAX_DECOMPRESSED).await.unwrap();
        assert_eq!(snap.grants.len(), 2_345);
        for (i, g) in snap.grants.iter().enumerate() {
            assert_eq!(g.principal.resource, format!("u{i}"));
        }
        assert_eq!(snap.sync_id, s.sync_id);
        assert_eq!(snap.sync_id.len(), 27);
        std::fs::remove_dir_all(&dir).unwrap();
    }

    #[tokio::test]
    async fn duplicates_and_incomplete_records_are_refused_and_leave_nothing() {
        let dir = temp_dir();
        let out = dir.join("dup.c1z");
        let mut w = C1zWriter::create(&out).await.unwrap();
        let ent = entitlement(rid("group", "g"), "member", "G Member");
        let err = w
            .add_grant(Grant {
                id: "x".into(),
                entitlement: Some(ent.clone()),
                ..Default::default()
            })
            .await
            .unwrap_err();
        assert!(err.to_string().contains("principal"), "{err}");
        let err = w
            .add_resource(Resource {
                id: Some(rid("user", "")),
                ..Default::default()
            })
            .await
            .unwrap_err();
        assert!(err.to_string().contains("resource id"), "{err}");
        w.add_grant(grant(&ent, rid("user", "u1"))).await.unwrap();
        w.add_grant(grant(&ent, rid("user", "u1"))).await.unwrap();
        let err = w.finish().await.unwrap_err();
        assert!(
            matches!(&err, C1zWriteError::Duplicate { what: "grants", id } if id == "group:g:member:user:u1"),
            "{err}"
        );
        assert_eq!(std::fs::read_dir(&dir).unwrap().count(), 0);

        // An abandoned writer leaves nothing either.
        let mut w = C1zWriter::create(&out).await.unwrap();
        w.add_entitlement(ent).await.unwrap();
        drop(w);
        assert_eq!(std::fs::read_dir(&dir).unwrap().count(), 0);
        std::fs::remove_dir_all(&dir).unwrap();
    }
}
