//! Reading the system log.

use crate::page::Page;
use crate::record::{list_page, PageReq, Sql};
use crate::{Store, StoreError};
use sqlx::Row;

/// Filters for [`list`].
#[derive(Clone, Debug, Default)]
pub struct EventQuery {
    /// Only events at or after this time (microseconds).
    pub since: Option<i64>,
    /// Only events before this time (microseconds).
    pub until: Option<i64>,
    /// Only events about this object id.
    pub object_id: Option<String>,
    /// Only events about this kind of object.
    pub object_kind: Option<String>,
    /// Only events by this user.
    pub actor_user_id: Option<String>,
}

/// Lists events (OCSF JSON objects), oldest first or newest first per `page.descending`.
pub async fn list(
    store: &Store,
    q: &EventQuery,
    page: &PageReq,
) -> Result<Page<serde_json::Value>, StoreError> {
    let mut sql = Sql::new("SELECT id, doc FROM system_log WHERE 1 = 1");
    if let Some(s) = q.since {
        sql.push(" AND occurred_at >= ").arg(s);
    }
    if let Some(u) = q.until {
        sql.push(" AND occurred_at < ").arg(u);
    }
    if let Some(o) = &q.object_id {
        sql.push(" AND object_id = ").arg(o.as_str());
    }
    if let Some(k) = &q.object_kind {
        sql.push(" AND object_kind = ").arg(k.as_str());
    }
    if let Some(a) = &q.actor_user_id {
        sql.push(" AND actor_user_id = ").arg(a.as_str());
    }
    list_page(store.pool(), sql, "systemlog", page, "id", |r| {
        serde_json::from_str(&r.try_get::<String, _>("doc")?)
            .map_err(|e| StoreError::Corrupt("system log event", e.to_string()))
    })
    .await
}

/// Number of events recorded (used by tests to prove that refused requests wrote nothing).
pub async fn count(store: &Store) -> Result<i64, StoreError> {
    let row = sqlx::query("SELECT COUNT(*) FROM system_log")
        .fetch_one(store.pool())
        .await?;
    Ok(row.try_get::<i64, _>(0)?)
}
