//! Connector rows beyond the generic record: the sealed configuration column, the scheduler's
//! scan, and the source-id map that provisioning reads backwards.

use crate::record::{parse_doc, Sql};
use crate::{Store, StoreError, Tx};
use chamberlain_model::app::Connector;
use sqlx::Row;

/// The connector's sealed (encrypted) configuration; empty when it has none.
pub async fn sealed_config(store: &Store, id: &str) -> Result<String, StoreError> {
    let mut sql = Sql::new("SELECT config_sealed FROM connectors WHERE id = ");
    sql.arg(id);
    match sql.query().fetch_optional(store.pool()).await? {
        Some(row) => Ok(row.try_get(0)?),
        None => Ok(String::new()),
    }
}

/// Replaces the sealed configuration in the caller's transaction.
pub async fn set_sealed_config(tx: &mut Tx<'_>, id: &str, sealed: &str) -> Result<(), StoreError> {
    let mut sql = Sql::new("UPDATE connectors SET config_sealed = ");
    sql.arg(sealed).push(" WHERE id = ").arg(id);
    tx.exec(&sql).await?;
    Ok(())
}

/// Every live connector with whether it has a configuration.
pub async fn all_live(store: &Store) -> Result<Vec<(Connector, bool)>, StoreError> {
    let rows = Sql::new(
        "SELECT doc, CAST(CASE WHEN config_sealed = '' THEN 0 ELSE 1 END AS BIGINT) FROM connectors WHERE deleted_at IS NULL",
    )
    .query()
    .fetch_all(store.pool())
    .await?;
    rows.iter()
        .map(|r| {
            let c: Connector = parse_doc(&r.try_get::<String, _>(0)?)?;
            Ok((c, r.try_get::<i64, _>(1)? != 0))
        })
        .collect()
}

/// The id a source (Baton) uses for one of our objects of `kind` (`app_user`, `entitlement`,
/// `resource`, `resource_type`), if a sync created it.
pub async fn external_id(
    store: &Store,
    app_id: &str,
    kind: &str,
    object_id: &str,
) -> Result<Option<String>, StoreError> {
    let mut sql = Sql::new("SELECT external_id FROM external_ids WHERE app_id = ");
    sql.arg(app_id)
        .push(" AND kind = ")
        .arg(kind)
        .push(" AND object_id = ")
        .arg(object_id);
    match sql.query().fetch_optional(store.pool()).await? {
        Some(r) => Ok(Some(r.try_get(0)?)),
        None => Ok(None),
    }
}
