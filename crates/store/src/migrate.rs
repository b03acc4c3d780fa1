//! Embedded schema migrations.
//!
//! The SQL is the portable subset shared by both engines, so one list serves both; a migration
//! that must differ per engine can carry a second text in [`Migration::postgres`].

use crate::{Backend, Store, StoreError};
use sqlx::{Executor, Row};

struct Migration {
    version: i64,
    name: &'static str,
    sql: &'static str,
    postgres: Option<&'static str>,
}

const MIGRATIONS: &[Migration] = &[
    Migration {
        version: 1,
        name: "identity_graph",
        sql: include_str!("../migrations/0001_identity_graph.sql"),
        postgres: None,
    },
    Migration {
        version: 2,
        name: "sync",
        sql: include_str!("../migrations/0002_sync.sql"),
        postgres: None,
    },
    Migration {
        version: 3,
        name: "connectors",
        sql: include_str!("../migrations/0003_connectors.sql"),
        postgres: None,
    },
    Migration {
        version: 4,
        name: "grant_count_index",
        sql: include_str!("../migrations/0004_grant_count_index.sql"),
        postgres: None,
    },
    Migration {
        version: 5,
        name: "jobs",
        sql: include_str!("../migrations/0005_jobs.sql"),
        postgres: None,
    },
    Migration {
        version: 6,
        name: "source_hash",
        sql: include_str!("../migrations/0006_source_hash.sql"),
        postgres: None,
    },
    Migration {
        version: 7,
        name: "directories",
        sql: include_str!("../migrations/0007_directories.sql"),
        postgres: None,
    },
    Migration {
        version: 8,
        name: "access",
        sql: include_str!("../migrations/0008_access.sql"),
        postgres: None,
    },
    Migration {
        version: 9,
        name: "catalogs",
        sql: include_str!("../migrations/0009_catalogs.sql"),
        postgres: None,
    },
    Migration {
        version: 10,
        name: "webhooks",
        sql: include_str!("../migrations/0010_webhooks.sql"),
        postgres: None,
    },
    Migration {
        version: 11,
        name: "grant_expiry_notices",
        sql: include_str!("../migrations/0011_grant_expiry_notices.sql"),
        postgres: None,
    },
    Migration {
        version: 12,
        name: "entitlement_rules",
        sql: include_str!("../migrations/0012_entitlement_rules.sql"),
        postgres: None,
    },
    Migration {
        version: 13,
        name: "task_search_index",
        sql: include_str!("../migrations/0013_task_search_index.sql"),
        postgres: None,
    },
    Migration {
        version: 14,
        name: "oauth",
        sql: include_str!("../migrations/0014_oauth.sql"),
        postgres: None,
    },
    Migration {
        version: 15,
        name: "mcp",
        sql: include_str!("../migrations/0015_mcp.sql"),
        postgres: None,
    },
    Migration {
        version: 16,
        name: "mcp_connections",
        sql: include_str!("../migrations/0016_mcp_connections.sql"),
        postgres: None,
    },
    Migration {
        version: 18,
        name: "notifications",
        sql: include_str!("../migrations/0018_notifications.sql"),
        postgres: None,
    },
    Migration {
        version: 19,
        name: "device_authorizations",
        sql: include_str!("../migrations/0019_device_authorizations.sql"),
        postgres: None,
    },
    Migration {
        version: 20,
        name: "slack",
        sql: include_str!("../migrations/0020_slack.sql"),
        postgres: None,
    },
    Migration {
        version: 21,
        name: "grant_app_index",
        sql: include_str!("../migrations/0021_grant_app_index.sql"),
        postgres: None,
    },
    Migration {
        version: 22,
        name: "grant_sync_exceptions",
        sql: include_str!("../migrations/0022_grant_sync_exceptions.sql"),
        postgres: None,
    },
    Migration {
        version: 23,
        name: "account_owner_columns",
        sql: include_str!("../migrations/0023_account_owner_columns.sql"),
        postgres: None,
    },
];

const BOOKKEEPING: &str = "CREATE TABLE IF NOT EXISTS schema_migrations (version BIGINT PRIMARY KEY, name TEXT NOT NULL, applied_at BIGINT NOT NULL)";

async fn applied(store: &Store) -> Result<Vec<i64>, StoreError> {
    store.pool().execute(BOOKKEEPING).await?;
    let rows = sqlx::query("SELECT version FROM schema_migrations ORDER BY version")
        .fetch_all(store.pool())
        .await?;
    Ok(rows.iter().map(|r| r.get::<i64, _>(0)).collect())
}

pub(crate) async fn run(store: &Store) -> Result<Vec<i64>, StoreError> {
    let done = applied(store).await?;
    let mut newly = Vec::new();
    for m in MIGRATIONS.iter().filter(|m| !done.contains(&m.version)) {
        let sql = match (store.backend(), m.postgres) {
            (Backend::Postgres, Some(pg)) => pg,
            _ => m.sql,
        };
        let mut tx = store.pool().begin().await?;
        for stmt in split_statements(sql) {
            tx.execute(stmt.as_str()).await.map_err(|e| {
                StoreError::Config(format!("migration {} ({}) failed: {e}", m.version, m.name))
            })?;
        }
        let recorded = sqlx::query(
            "INSERT INTO schema_migrations (version, name, applied_at) VALUES ($1, $2, $3)",
        )
        .bind(m.version)
        .bind(m.name)
        .bind(chamberlain_model::Timestamp::now().as_micros())
        .execute(&mut *tx)
        .await
        .map_err(StoreError::from);
        match recorded {
            Ok(_) => {
                tx.commit().await?;
                newly.push(m.version);
            }
            // Another replica applied it first; its transaction won.
            Err(e) if e.is_unique_violation() => {
                let _ = tx.rollback().await;
            }
            Err(e) => return Err(e),
        }
    }
    Ok(newly)
}

pub(crate) async fn is_current(store: &Store) -> Result<bool, StoreError> {
    let done = applied(store).await?;
    Ok(MIGRATIONS.iter().all(|m| done.contains(&m.version)))
}

/// Splits a migration file into statements (no semicolons inside literals in our SQL).
fn split_statements(sql: &str) -> Vec<String> {
    let without_comments: String = sql
        .lines()
        .map(|l| match l.find("--") {
            Some(i) => &l[..i],
            None => l,
        })
        .collect::<Vec<_>>()
        .join("\n");
    without_comments
        .split(';')
        .map(str::trim)
        .filter(|s| !s.is_empty())
        .map(str::to_string)
        .collect()
}
