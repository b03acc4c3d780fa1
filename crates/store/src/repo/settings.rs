//! Per-app settings documents (usage controls, access request defaults).

use crate::record::Sql;
use crate::tx::{Activity, Tx};
use crate::{Store, StoreError};
use serde::de::DeserializeOwned;
use serde::Serialize;
use sqlx::Row;

/// Reads the settings document `kind` of an app, if one was saved.
/// The settings kind of an app's access-request defaults (`AppAccessRequestDefaults`).
pub const APP_REQUEST_DEFAULTS: &str = "app access request defaults";

pub async fn get<T: DeserializeOwned>(
    store: &Store,
    app_id: &str,
    kind: &str,
) -> Result<Option<T>, StoreError> {
    let mut sql = Sql::new("SELECT doc FROM app_settings WHERE app_id = ");
    sql.arg(app_id).push(" AND kind = ").arg(kind);
    let row = sql.query().fetch_optional(store.pool()).await?;
    row.map(|r| {
        serde_json::from_str(&r.try_get::<String, _>(0)?)
            .map_err(|e| StoreError::Corrupt("app settings", e.to_string()))
    })
    .transpose()
}

/// Saves the settings document `kind` of an app, recording the change.
pub async fn put<T: Serialize + DeserializeOwned>(
    tx: &mut Tx<'_>,
    app_id: &str,
    kind: &str,
    value: &T,
) -> Result<(), StoreError> {
    let mut sel = Sql::new("SELECT doc FROM app_settings WHERE app_id = ");
    sel.arg(app_id).push(" AND kind = ").arg(kind);
    let before: Option<serde_json::Value> = sel
        .query()
        .fetch_optional(tx.conn())
        .await?
        .and_then(|r| r.try_get::<String, _>(0).ok())
        .and_then(|s| serde_json::from_str(&s).ok());
    let doc = serde_json::to_string(value)
        .map_err(|e| StoreError::Corrupt("app settings", e.to_string()))?;
    let mut sql = Sql::new("INSERT INTO app_settings (app_id, kind, updated_at, doc) VALUES (");
    sql.arg(app_id)
        .push(", ")
        .arg(kind)
        .push(", ")
        .arg(tx.now().as_micros())
        .push(", ")
        .arg(doc)
        .push(") ON CONFLICT (app_id, kind) DO UPDATE SET updated_at = excluded.updated_at, doc = excluded.doc");
    tx.exec(&sql).await?;
    let activity = if before.is_some() {
        Activity::Update
    } else {
        Activity::Create
    };
    tx.audit(
        activity,
        kind,
        app_id,
        before,
        serde_json::to_value(value).ok(),
    )
    .await
}
