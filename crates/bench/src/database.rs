//! The database a run loads into: a temporary SQLite file or a scratch PostgreSQL database, both
//! removed afterwards, or a database the caller names, which is kept.

use anyhow::{bail, Context, Result};
use chamberlain_store::redact_url;
use sqlx::{Connection, Executor};
use std::path::PathBuf;

/// The database of one run.
pub struct Target {
    /// URL the store connects to.
    pub url: String,
    cleanup: Cleanup,
}

/// What to remove when the run ends.
enum Cleanup {
    /// A database the caller named: left as it is.
    Keep,
    /// A temporary SQLite file (and its `-wal` and `-shm` companions).
    SqliteFile(PathBuf),
    /// A scratch PostgreSQL database, dropped through the server's `postgres` database.
    PostgresDatabase { admin_url: String, name: String },
}

impl Target {
    /// Resolves `url` (see `--database-url`), creating the scratch PostgreSQL database if one is
    /// needed.
    pub async fn prepare(url: &str) -> Result<Target> {
        if let Some(rest) = url.strip_prefix("sqlite:") {
            let path = rest.trim_start_matches("//");
            let path = path.split('?').next().unwrap_or_default();
            if !path.is_empty() {
                return Ok(Target::keep(url));
            }
            let file = std::env::temp_dir().join(format!(
                "chamberlain-bench-{}.db",
                chamberlain_model::new_id()
            ));
            return Ok(Target {
                url: format!("sqlite://{}?mode=rwc", file.display()),
                cleanup: Cleanup::SqliteFile(file),
            });
        }
        let Some((scheme, rest)) = url.split_once("://") else {
            bail!("--database-url must start with sqlite: or postgres://");
        };
        if scheme != "postgres" && scheme != "postgresql" {
            bail!("--database-url must start with sqlite: or postgres://");
        }
        let (location, query) = match rest.split_once('?') {
            Some((l, q)) => (l, format!("?{q}")),
            None => (rest, String::new()),
        };
        let (authority, database) = location.split_once('/').unwrap_or((location, ""));
        if !database.is_empty() {
            return Ok(Target::keep(url));
        }
        let server = format!("{scheme}://{authority}/");
        let name = format!("chamberlain_bench_{}", random_suffix());
        let admin_url = format!("{server}postgres{query}");
        sqlx::any::install_default_drivers();
        let mut admin = sqlx::AnyConnection::connect(&admin_url)
            .await
            .with_context(|| format!("cannot connect to {}", redact_url(&admin_url)))?;
        admin
            .execute(format!("CREATE DATABASE {name}").as_str())
            .await
            .with_context(|| format!("cannot create database {name}"))?;
        admin.close().await?;
        Ok(Target {
            url: format!("{server}{name}{query}"),
            cleanup: Cleanup::PostgresDatabase { admin_url, name },
        })
    }

    fn keep(url: &str) -> Target {
        Target {
            url: url.to_string(),
            cleanup: Cleanup::Keep,
        }
    }

    /// One line for the log.
    pub fn describe(&self) -> String {
        match &self.cleanup {
            Cleanup::Keep => format!("{} (kept afterwards)", redact_url(&self.url)),
            Cleanup::SqliteFile(f) => format!("temporary SQLite file {}", f.display()),
            Cleanup::PostgresDatabase { name, .. } => {
                format!("scratch PostgreSQL database {name} (dropped afterwards)")
            }
        }
    }

    /// Removes a temporary database; call after the store is closed.
    pub async fn remove(self) -> Result<()> {
        match self.cleanup {
            Cleanup::Keep => Ok(()),
            Cleanup::SqliteFile(file) => {
                for suffix in ["", "-wal", "-shm"] {
                    let mut path = file.clone().into_os_string();
                    path.push(suffix);
                    match std::fs::remove_file(&path) {
                        Err(e) if e.kind() != std::io::ErrorKind::NotFound => {
                            return Err(e).with_context(|| format!("cannot remove {path:?}"))
                        }
                        _ => {}
                    }
                }
                Ok(())
            }
            Cleanup::PostgresDatabase { admin_url, name } => {
                let mut admin = sqlx::AnyConnection::connect(&admin_url).await?;
                // FORCE ends connections an interrupted run may have left open.
                admin
                    .execute(format!("DROP DATABASE IF EXISTS {name} WITH (FORCE)").as_str())
                    .await
                    .with_context(|| format!("cannot drop database {name}"))?;
                admin.close().await?;
                Ok(())
            }
        }
    }
}

/// Twelve random lower-case letters and digits (a valid unquoted identifier part).
fn random_suffix() -> String {
    use rand::Rng;
    const CHARS: &[u8] = b"abcdefghijklmnopqrstuvwxyz0123456789";
    let mut rng = rand::thread_rng();
    (0..12)
        .map(|_| char::from(CHARS[rng.gen_range(0..CHARS.len())]))
        .collect()
}
