//! Reading (and writing) Baton `.c1z` files.
//!
//! Format v1 is `C1ZF\0` followed by one zstd stream holding a SQLite database with `v1_*`
//! tables whose `data` columns are protobuf messages. Format v3 (`C1Z3\0`, a Pebble store) has
//! no Rust reader; it is refused with the manifest's sync summary and the fix.
//!
//! [`write`] produces v1 files (used by tests, the Baton stand-in and the benchmarks).

pub mod proto;
pub mod write;

pub use write::{C1zWriteError, C1zWriter, WriteSummary, WriterOptions};

use futures::TryStreamExt;
use prost::Message;
use proto::{ManifestV3, Resource, ResourceId, ResourceType};
use sqlx::sqlite::{SqliteConnectOptions, SqlitePoolOptions};
use sqlx::{Row, SqlitePool};
use std::io::{Read, Write};
use std::path::{Path, PathBuf};

const MAGIC_V1: &[u8; 5] = b"C1ZF\0";
const MAGIC_V3: &[u8; 5] = b"C1Z3\0";
const SQLITE_MAGIC: &[u8; 16] = b"SQLite format 3\0";

/// Default cap on the decompressed size of a c1z (4 GiB).
pub const DEFAULT_MAX_DECOMPRESSED: u64 = 4 << 30;

/// Why a file cannot be imported. Every message says what is wrong and, where there is one,
/// what to do about it.
#[derive(Debug, thiserror::Error)]
pub enum C1zError {
    /// Not a c1z at all.
    #[error("the file is not a Baton c1z (it does not start with C1ZF or C1Z3); upload the .c1z file the connector wrote")]
    NotC1z,
    /// Format v3 (Pebble).
    #[error("the file is a c1z format v3 (Pebble storage engine `{engine}`), which Chamberlain cannot read; run the connector with `--storage-engine sqlite` (or BATON_STORAGE_ENGINE=sqlite) to write format v1. The file holds: {summary}")]
    V3 {
        /// Engine named by the manifest.
        engine: String,
        /// Human summary of the manifest's sync runs.
        summary: String,
    },
    /// zstd failed.
    #[error(
        "the c1z's compressed data is truncated or corrupt ({0}); upload the complete file again"
    )]
    Corrupt(String),
    /// Decompressed size over the cap.
    #[error("the c1z decompresses to more than {limit} bytes, the configured limit; raise the limit or sync fewer resources")]
    TooLarge {
        /// The cap in bytes.
        limit: u64,
    },
    /// The payload is not SQLite.
    #[error("the c1z's payload is not a SQLite database; the file is damaged or was not written by Baton")]
    NotSqlite,
    /// No finished sync.
    #[error("the c1z holds no finished sync ({0}); let the connector finish its sync and upload the result")]
    NoFinishedSync(String),
    /// A table the format requires is missing.
    #[error("the c1z is missing table `{0}`")]
    MissingTable(String),
    /// A protobuf row does not decode.
    #[error("row {row} of table `{table}` does not decode as {message}: {error}")]
    BadRow {
        /// Table name.
        table: &'static str,
        /// SQLite row id.
        row: i64,
        /// Expected message.
        message: &'static str,
        /// Decoder error.
        error: String,
    },
    /// I/O on the temp file.
    #[error("could not read the c1z: {0}")]
    Io(#[from] std::io::Error),
    /// SQLite failed.
    #[error("could not read the c1z's database: {0}")]
    Sqlite(#[from] sqlx::Error),
}

/// A grant as read from the file, with ids resolved from its row where the blob is slim.
#[derive(Debug, Clone)]
pub struct GrantRecord {
    /// Baton grant id.
    pub id: String,
    /// Baton entitlement id.
    pub entitlement_id: String,
    /// Principal resource.
    pub principal: ResourceId,
    /// Source entitlement ids of an expansion-derived grant (empty for direct grants).
    pub sources: Vec<String>,
}

/// One finished sync read from a c1z.
#[derive(Debug, Clone, Default)]
pub struct Snapshot {
    /// Baton sync id.
    pub sync_id: String,
    /// `full`, `partial`, …
    pub sync_type: String,
    /// Resource types.
    pub resource_types: Vec<ResourceType>,
    /// Resources.
    pub resources: Vec<Resource>,
    /// Entitlements.
    pub entitlements: Vec<proto::Entitlement>,
    /// Grants.
    pub grants: Vec<GrantRecord>,
}

/// Reads a c1z file into the snapshot of its latest finished sync (a full one if any).
pub async fn read(path: &Path, max_decompressed: u64) -> Result<Snapshot, C1zError> {
    let path = path.to_path_buf();
    let db = tokio::task::spawn_blocking(move || decompress(&path, max_decompressed))
        .await
        .map_err(|e| C1zError::Io(std::io::Error::other(e.to_string())))??;
    let result = read_sqlite(&db.0).await;
    drop(db);
    result
}

/// A decompressed database file, deleted on drop.
struct TempDb(PathBuf);
impl Drop for TempDb {
    fn drop(&mut self) {
        let _ = std::fs::remove_file(&self.0);
    }
}

fn decompress(path: &Path, max: u64) -> Result<TempDb, C1zError> {
    let mut f = std::fs::File::open(path)?;
    let mut magic = [0u8; 5];
    if f.read_exact(&mut magic).is_err() {
        return Err(C1zError::NotC1z);
    }
    if &magic == MAGIC_V3 {
        return Err(v3_error(&mut f));
    }
    if &magic != MAGIC_V1 {
        return Err(C1zError::NotC1z);
    }
    let out_path = std::env::temp_dir().join(format!(
        "chamberlain-c1z-{}.db",
        chamberlain_model::new_id()
    ));
    let guard = TempDb(out_path.clone());
    let mut out = std::fs::File::create(&out_path)?;
    let mut decoder =
        zstd::stream::read::Decoder::new(f).map_err(|e| C1zError::Corrupt(e.to_string()))?;
    let mut buf = vec![0u8; 1 << 20];
    let mut total: u64 = 0;
    loop {
        let n = match decoder.read(&mut buf) {
            Ok(0) => break,
            Ok(n) => n,
            Err(e) => return Err(C1zError::Corrupt(e.to_string())),
        };
        total += n as u64;
        if total > max {
            return Err(C1zError::TooLarge { limit: max });
        }
        out.write_all(&buf[..n])?;
    }
    out.flush()?;
    drop(out);
    let mut head = [0u8; 16];
    let mut check = std::fs::File::open(&out_path)?;
    if check.read_exact(&mut head).is_err() || &head != SQLITE_MAGIC {
        return Err(if total == 0 {
            C1zError::Corrupt("the compressed stream is empty".into())
        } else {
            C1zError::NotSqlite
        });
    }
    // A truncated zstd stream can end without an error from the reader; SQLite's own header
    // records the database size, so compare.
    let page_size = u32::from(u16::from_be_bytes([
        head_byte(&out_path, 16)?,
        head_byte(&out_path, 17)?,
    ]));
    let page_size = if page_size == 1 { 65536 } else { page_size };
    let pages = u32::from_be_bytes(read4(&out_path, 28)?);
    if pages > 0 && u64::from(pages) * u64::from(page_size) > total {
        return Err(C1zError::Corrupt(format!(
            "the database should be {} bytes but only {total} arrived",
            u64::from(pages) * u64::from(page_size)
        )));
    }
    Ok(guard)
}

fn head_byte(path: &Path, at: u64) -> Result<u8, C1zError> {
    Ok(read_at(path, at, 1)?[0])
}
fn read4(path: &Path, at: u64) -> Result<[u8; 4], C1zError> {
    let v = read_at(path, at, 4)?;
    Ok([v[0], v[1], v[2], v[3]])
}
fn read_at(path: &Path, at: u64, len: usize) -> Result<Vec<u8>, C1zError> {
    use std::io::{Seek, SeekFrom};
    let mut f = std::fs::File::open(path)?;
    f.seek(SeekFrom::Start(at))?;
    let mut v = vec![0u8; len];
    f.read_exact(&mut v)?;
    Ok(v)
}

fn v3_error(f: &mut std::fs::File) -> C1zError {
    let mut len = [0u8; 4];
    let manifest = f.read_exact(&mut len).ok().and_then(|_| {
        let n = u32::from_be_bytes(len) as usize;
        if n > 16 << 20 {
            return None;
        }
        let mut m = vec![0u8; n];
        f.read_exact(&mut m).ok()?;
        ManifestV3::decode(m.as_slice()).ok()
    });
    match manifest {
        None => C1zError::V3 {
            engine: "unknown".into(),
            summary: "an unreadable manifest".into(),
        },
        Some(m) => {
            let runs: Vec<String> = m
                .sync_runs
                .iter()
                .map(|r| {
                    let kind = if r.sync_type == 1 { "full" } else { "partial" };
                    let state = if r.ended_at.is_some() {
                        "finished"
                    } else {
                        "unfinished"
                    };
                    let counts = r
                        .stats
                        .as_ref()
                        .map(|s| {
                            format!(
                                ", {} resource types, {} resources, {} entitlements, {} grants",
                                s.resource_types, s.resources, s.entitlements, s.grants
                            )
                        })
                        .unwrap_or_default();
                    format!("{state} {kind} sync {}{counts}", r.sync_id)
                })
                .collect();
            let summary = if runs.is_empty() {
                "no sync runs".to_string()
            } else {
                runs.join("; ")
            };
            C1zError::V3 {
                engine: m.engine,
                summary,
            }
        }
    }
}

async fn columns(pool: &SqlitePool, table: &str) -> Result<Vec<String>, C1zError> {
    let rows = sqlx::query("SELECT name FROM pragma_table_info(?)")
        .bind(table)
        .fetch_all(pool)
        .await?;
    if rows.is_empty() {
        return Err(C1zError::MissingTable(table.to_string()));
    }
    Ok(rows.iter().map(|r| r.get::<String, _>(0)).collect())
}

fn decode<M: Message + Default>(
    table: &'static str,
    row: i64,
    message: &'static str,
    data: &[u8],
) -> Result<M, C1zError> {
    M::decode(data).map_err(|e| C1zError::BadRow {
        table,
        row,
        message,
        error: e.to_string(),
    })
}

async fn read_sqlite(path: &Path) -> Result<Snapshot, C1zError> {
    let opts = SqliteConnectOptions::new()
        .filename(path)
        .read_only(true)
        .immutable(true);
    let pool = SqlitePoolOptions::new()
        .max_connections(GRANT_RANGES as u32)
        .connect_with(opts)
        .await
        .map_err(|_| C1zError::NotSqlite)?;
    let result = read_tables(&pool).await;
    pool.close().await;
    result
}

async fn read_tables(pool: &SqlitePool) -> Result<Snapshot, C1zError> {
    let run_cols = columns(pool, "v1_sync_runs").await?;
    let has_type = run_cols.iter().any(|c| c == "sync_type");
    let type_expr = if has_type { "sync_type" } else { "'full'" };
    let chosen = sqlx::query(&format!(
        "SELECT sync_id, {type_expr} FROM v1_sync_runs WHERE ended_at IS NOT NULL \
         ORDER BY CASE WHEN {type_expr} = 'full' THEN 0 ELSE 1 END, ended_at DESC, sync_id DESC LIMIT 1"
    ))
    .fetch_optional(pool)
    .await?;
    let Some(chosen) = chosen else {
        let all = sqlx::query(&format!("SELECT sync_id, {type_expr} FROM v1_sync_runs"))
            .fetch_all(pool)
            .await?;
        let desc = if all.is_empty() {
            "it has no sync runs".to_string()
        } else {
            all.iter()
                .map(|r| {
                    format!(
                        "{} sync {} is unfinished",
                        r.get::<String, _>(1),
                        r.get::<String, _>(0)
                    )
                })
                .collect::<Vec<_>>()
                .join("; ")
        };
        return Err(C1zError::NoFinishedSync(desc));
    };
    let sync_id: String = chosen.get(0);
    let mut snap = Snapshot {
        sync_id: sync_id.clone(),
        sync_type: chosen.get(1),
        ..Default::default()
    };

    for table in [
        "v1_resource_types",
        "v1_resources",
        "v1_entitlements",
        "v1_grants",
    ] {
        columns(pool, table).await?;
    }
    for row in sqlx::query("SELECT id, data FROM v1_resource_types WHERE sync_id = ? ORDER BY id")
        .bind(&sync_id)
        .fetch_all(pool)
        .await?
    {
        snap.resource_types.push(decode(
            "v1_resource_types",
            row.get(0),
            "c1.connector.v2.ResourceType",
            row.get::<&[u8], _>(1),
        )?);
    }
    for row in sqlx::query("SELECT id, data FROM v1_resources WHERE sync_id = ? ORDER BY id")
        .bind(&sync_id)
        .fetch_all(pool)
        .await?
    {
        snap.resources.push(decode(
            "v1_resources",
            row.get(0),
            "c1.connector.v2.Resource",
            row.get::<&[u8], _>(1),
        )?);
    }
    for row in sqlx::query("SELECT id, data FROM v1_entitlements WHERE sync_id = ? ORDER BY id")
        .bind(&sync_id)
        .fetch_all(pool)
        .await?
    {
        snap.entitlements.push(decode(
            "v1_entitlements",
            row.get(0),
            "c1.connector.v2.Entitlement",
            row.get::<&[u8], _>(1),
        )?);
    }
    snap.grants = read_grants(pool, &sync_id).await?;
    Ok(snap)
}

/// Grants per range below which one stream reads them all.
const GRANTS_PER_RANGE: i64 = 100_000;
/// Most id ranges read at once: decoding a million grants is CPU work, spread over the cores.
const GRANT_RANGES: i64 = 4;

/// Reads the sync's grants in id order: large syncs in a few id ranges at once (each on its
/// own connection and task), concatenated in order so the result does not depend on timing.
async fn read_grants(pool: &SqlitePool, sync_id: &str) -> Result<Vec<GrantRecord>, C1zError> {
    let bounds = sqlx::query("SELECT min(id), max(id), count(*) FROM v1_grants WHERE sync_id = ?")
        .bind(sync_id)
        .fetch_one(pool)
        .await?;
    let (Some(min), Some(max)) = (
        bounds.get::<Option<i64>, _>(0),
        bounds.get::<Option<i64>, _>(1),
    ) else {
        return Ok(Vec::new());
    };
    let count: i64 = bounds.get(2);
    let ranges = (count / GRANTS_PER_RANGE).clamp(1, GRANT_RANGES);
    let step = (max - min) / ranges + 1;
    let mut tasks = Vec::new();
    for i in 0..ranges {
        let (pool, sync_id) = (pool.clone(), sync_id.to_string());
        let (from, to) = (min + i * step, (min + (i + 1) * step - 1).min(max));
        tasks.push(tokio::spawn(async move {
            read_grant_range(&pool, &sync_id, from, to).await
        }));
    }
    let mut grants = Vec::with_capacity(usize::try_from(count).unwrap_or(0));
    for task in tasks {
        let part = task
            .await
            .map_err(|e| C1zError::Io(std::io::Error::other(e.to_string())))??;
        grants.extend(part);
    }
    Ok(grants)
}

/// Reads and decodes the grants whose row id is in `from..=to`, streamed (the rows and their
/// blobs are never all held at once).
async fn read_grant_range(
    pool: &SqlitePool,
    sync_id: &str,
    from: i64,
    to: i64,
) -> Result<Vec<GrantRecord>, C1zError> {
    let sql = "SELECT id, entitlement_id, principal_resource_type_id, principal_resource_id, external_id, data FROM v1_grants WHERE sync_id = ? AND id BETWEEN ? AND ? ORDER BY id";
    let mut rows = sqlx::query(sql)
        .bind(sync_id)
        .bind(from)
        .bind(to)
        .fetch(pool);
    let mut grants = Vec::new();
    while let Some(row) = rows.try_next().await? {
        let g: proto::GrantIds = decode(
            "v1_grants",
            row.get(0),
            "c1.connector.v2.Grant",
            row.get::<&[u8], _>(5),
        )?;
        // Slim grant blobs leave entitlement and principal unset: rebuild them from the row.
        let entitlement_id = g
            .entitlement
            .map(|e| e.id)
            .filter(|s| !s.is_empty())
            .unwrap_or_else(|| row.get(1));
        let principal = g
            .principal
            .and_then(|p| p.id)
            .filter(|id| !id.resource.is_empty())
            .unwrap_or_else(|| ResourceId {
                resource_type: row.get(2),
                resource: row.get(3),
            });
        let id = if g.id.is_empty() { row.get(4) } else { g.id };
        let mut sources: Vec<String> = g
            .sources
            .map(|s| {
                s.sources
                    .into_iter()
                    .filter(|(_, v)| !v.is_direct)
                    .map(|(k, _)| k)
                    .collect()
            })
            .unwrap_or_default();
        sources.sort();
        sources.retain(|s| s != &entitlement_id);
        grants.push(GrantRecord {
            id,
            entitlement_id,
            principal,
            sources,
        });
    }
    Ok(grants)
}
