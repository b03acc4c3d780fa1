//! Server keys (token signing). The store keeps them opaque: the secret half arrives already
//! encrypted by the caller.

use crate::record::Sql;
use crate::{Store, StoreError};
use sqlx::Row;

/// A stored key.
#[derive(Clone, Debug)]
pub struct StoredKey {
    /// Key id (`kid`).
    pub id: String,
    /// Public half, as the caller encoded it.
    pub public_key: String,
    /// Encrypted secret half.
    pub secret: String,
    /// When it was made (microseconds).
    pub created_at: i64,
}

/// Active (not retired) keys for `purpose`, newest first.
pub async fn active(store: &Store, purpose: &str) -> Result<Vec<StoredKey>, StoreError> {
    let mut sql = Sql::new("SELECT id, public_key, secret, created_at FROM server_keys WHERE retired_at IS NULL AND purpose = ");
    sql.arg(purpose).push(" ORDER BY created_at DESC, id DESC");
    let rows = sql.query().fetch_all(store.pool()).await?;
    rows.iter()
        .map(|r| {
            Ok(StoredKey {
                id: r.try_get("id")?,
                public_key: r.try_get("public_key")?,
                secret: r.try_get("secret")?,
                created_at: r.try_get("created_at")?,
            })
        })
        .collect()
}

/// Saves a new key. Not audited: keys are server state, not a change anyone made.
pub async fn insert(store: &Store, purpose: &str, key: &StoredKey) -> Result<(), StoreError> {
    let mut sql = Sql::new("INSERT INTO server_keys (id, purpose, created_at, retired_at, public_key, secret) VALUES (");
    sql.arg(key.id.as_str())
        .push(", ")
        .arg(purpose)
        .push(", ")
        .arg(key.created_at)
        .push(", NULL, ")
        .arg(key.public_key.as_str())
        .push(", ")
        .arg(key.secret.as_str())
        .push(")");
    sql.query().execute(store.pool()).await?;
    Ok(())
}
