//! The database a benchmark runs against: a temp SQLite file by default, or a fresh PostgreSQL
//! database created on a server and dropped afterwards.

use anyhow::Result;
use chamberlain_model::new_id;
use chamberlain_store::Store;

/// Resolves `--database-url` into the URL to connect to and a cleanup to await at the end.
///
/// - none: a new SQLite file in the temp dir (removed with its `-wal`/`-shm` afterwards);
/// - a PostgreSQL server URL ending in `/`: a database `chamberlain_bench_<id>` is created
///   there (through the `postgres` database) and dropped afterwards;
/// - anything else is used as is and left in place.
pub async fn prepare_database(
    url: Option<&str>,
) -> Result<(String, impl std::future::Future<Output = Result<()>>)> {
    // Only a database this run created is removed afterwards.
    let temporary = url.is_none();
    let (url, drop_db): (String, Option<(String, String)>) = match url {
        None => (
            format!(
                "sqlite://{}?mode=rwc",
                std::env::temp_dir()
                    .join(format!("chamberlain-bench-{}.db", new_id()))
                    .display()
            ),
            None,
        ),
        Some(u) if u.starts_with("postgres") && u.ends_with('/') => {
            let name = format!("chamberlain_bench_{}", new_id().to_lowercase());
            let admin = Store::connect(&format!("{u}postgres")).await?;
            sqlx::query(&format!("CREATE DATABASE {name}"))
                .execute(admin.pool())
                .await?;
            admin.close().await;
            (format!("{u}{name}"), Some((u.to_string(), name)))
        }
        Some(u) => (u.to_string(), None),
    };
    let file = url
        .strip_prefix("sqlite://")
        .filter(|_| temporary)
        .map(|p| p.split('?').next().unwrap_or(p).to_string());
    Ok((url, async move {
        if let Some((server, name)) = drop_db {
            let admin = Store::connect(&format!("{server}postgres")).await?;
            sqlx::query(&format!("DROP DATABASE IF EXISTS {name} WITH (FORCE)"))
                .execute(admin.pool())
                .await?;
        }
        if let Some(f) = file {
            for suffix in ["", "-wal", "-shm"] {
                let _ = std::fs::remove_file(format!("{f}{suffix}"));
            }
        }
        Ok(())
    }))
}

/// Copies SQLite's WAL into the database file and empties it, as happens in the background long
/// before the next operation: measured right after a bulk load, the checkpoint of a gigabyte of
/// WAL would compete with what is timed for the disk and the second core. No-op on PostgreSQL.
pub async fn settle_wal(store: &Store) -> Result<()> {
    if store.backend() == chamberlain_store::Backend::Sqlite {
        sqlx::query("PRAGMA wal_checkpoint(TRUNCATE)")
            .execute(store.pool())
            .await?;
    }
    Ok(())
}
