//! Owners of apps, entitlements and resources (lists of user ids per object).

use crate::record::Sql;
use crate::tx::{Activity, Tx};
use crate::{Store, StoreError};
use sqlx::Row;

/// What kind of object an owner list belongs to.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum OwnedKind {
    /// An app.
    App,
    /// An app entitlement.
    Entitlement,
    /// An app resource.
    Resource,
}

impl OwnedKind {
    fn as_str(self) -> &'static str {
        match self {
            OwnedKind::App => "app",
            OwnedKind::Entitlement => "app entitlement",
            OwnedKind::Resource => "app resource",
        }
    }
}

/// The owner user ids of an object, oldest first.
pub async fn list(
    store: &Store,
    kind: OwnedKind,
    object_id: &str,
) -> Result<Vec<String>, StoreError> {
    let mut sql = Sql::new("SELECT user_id FROM owners WHERE object_kind = ");
    sql.arg(kind.as_str())
        .push(" AND object_id = ")
        .arg(object_id)
        .push(" ORDER BY created_at, user_id");
    let rows = sql.query().fetch_all(store.pool()).await?;
    rows.iter()
        .map(|r| r.try_get::<String, _>(0).map_err(StoreError::from))
        .collect()
}

async fn current(
    tx: &mut Tx<'_>,
    kind: OwnedKind,
    object_id: &str,
) -> Result<Vec<String>, StoreError> {
    let mut sql = Sql::new("SELECT user_id FROM owners WHERE object_kind = ");
    sql.arg(kind.as_str())
        .push(" AND object_id = ")
        .arg(object_id)
        .push(" ORDER BY created_at, user_id");
    let rows = sql.query().fetch_all(tx.conn()).await?;
    rows.iter()
        .map(|r| r.try_get::<String, _>(0).map_err(StoreError::from))
        .collect()
}

/// Replaces the owner list. The caller has checked that every user exists.
pub async fn set(
    tx: &mut Tx<'_>,
    kind: OwnedKind,
    object_id: &str,
    user_ids: &[String],
) -> Result<(), StoreError> {
    let before = current(tx, kind, object_id).await?;
    let mut del = Sql::new("DELETE FROM owners WHERE object_kind = ");
    del.arg(kind.as_str())
        .push(" AND object_id = ")
        .arg(object_id);
    tx.exec(&del).await?;
    let mut seen = std::collections::HashSet::new();
    for (i, u) in user_ids.iter().enumerate() {
        if !seen.insert(u) {
            continue;
        }
        let mut ins =
            Sql::new("INSERT INTO owners (object_kind, object_id, user_id, created_at) VALUES (");
        ins.arg(kind.as_str())
            .push(", ")
            .arg(object_id)
            .push(", ")
            .arg(u.as_str())
            .push(", ")
            .arg(tx.now().as_micros() + i as i64)
            .push(")");
        tx.exec(&ins).await?;
    }
    let after = current(tx, kind, object_id).await?;
    if before != after {
        tx.audit(
            Activity::Update,
            &format!("{} owners", kind.as_str()),
            object_id,
            Some(before.into()),
            Some(after.into()),
        )
        .await?;
    }
    Ok(())
}

/// Adds one owner (no-op if already an owner).
pub async fn add(
    tx: &mut Tx<'_>,
    kind: OwnedKind,
    object_id: &str,
    user_id: &str,
) -> Result<(), StoreError> {
    let mut owners = current(tx, kind, object_id).await?;
    if !owners.iter().any(|o| o == user_id) {
        owners.push(user_id.to_string());
        set(tx, kind, object_id, &owners).await?;
    }
    Ok(())
}

/// Removes some owners (ids that are not owners are ignored).
pub async fn remove(
    tx: &mut Tx<'_>,
    kind: OwnedKind,
    object_id: &str,
    user_ids: &[String],
) -> Result<(), StoreError> {
    let owners: Vec<String> = current(tx, kind, object_id)
        .await?
        .into_iter()
        .filter(|o| !user_ids.contains(o))
        .collect();
    set(tx, kind, object_id, &owners).await
}

/// Whether `user_id` owns the object (used by App Admin authorization).
pub async fn is_owner(
    store: &Store,
    kind: OwnedKind,
    object_id: &str,
    user_id: &str,
) -> Result<bool, StoreError> {
    let mut sql = Sql::new("SELECT 1 FROM owners WHERE object_kind = ");
    sql.arg(kind.as_str())
        .push(" AND object_id = ")
        .arg(object_id)
        .push(" AND user_id = ")
        .arg(user_id);
    Ok(sql.query().fetch_optional(store.pool()).await?.is_some())
}
