//! Device authorizations (RFC 8628, migration 0019): the command-line client's sign-in. A row
//! is created PENDING with the digest of its device code and a user code; a signed-in user
//! APPROVES or DENIES it (recorded in the system log in the same transaction); the device
//! redeems an approved one exactly once (REDEEMED).

use crate::record::Sql;
use crate::tx::Activity;
use crate::{Store, StoreError, Tx};
use chamberlain_model::{new_id, Timestamp};
use serde_json::json;
use sqlx::any::AnyRow;
use sqlx::Row;

/// Waiting for the user.
pub const PENDING: &str = "PENDING";
/// Approved by `user_id`; not redeemed yet.
pub const APPROVED: &str = "APPROVED";
/// Denied by `user_id`.
pub const DENIED: &str = "DENIED";
/// Approved and exchanged for a token (final).
pub const REDEEMED: &str = "REDEEMED";

/// A device authorization as stored.
#[derive(Clone, Debug)]
pub struct DeviceAuthorization {
    /// Record id (in the system log).
    pub id: String,
    /// The user code, normalized (upper case, no dash).
    pub user_code: String,
    /// The client that asked.
    pub client_id: String,
    /// Requested scope (may be empty).
    pub scope: String,
    /// PENDING, APPROVED, DENIED or REDEEMED.
    pub status: String,
    /// Who approved or denied.
    pub user_id: Option<String>,
    /// Current polling interval (seconds).
    pub interval_secs: i64,
    /// Last poll of the token endpoint (microseconds).
    pub last_polled_at: Option<i64>,
    /// Created (microseconds).
    pub created_at: i64,
    /// Expiry (microseconds).
    pub expires_at: i64,
}

const COLUMNS: &str = "SELECT id, user_code, client_id, scope, status, user_id, interval_secs, last_polled_at, created_at, expires_at FROM device_authorizations WHERE ";

fn parse(r: &AnyRow) -> Result<DeviceAuthorization, StoreError> {
    Ok(DeviceAuthorization {
        id: r.try_get(0)?,
        user_code: r.try_get(1)?,
        client_id: r.try_get(2)?,
        scope: r.try_get(3)?,
        status: r.try_get(4)?,
        user_id: r.try_get(5)?,
        interval_secs: r.try_get(6)?,
        last_polled_at: r.try_get(7)?,
        created_at: r.try_get(8)?,
        expires_at: r.try_get(9)?,
    })
}

/// Whether a live (unexpired) authorization already uses `user_code`.
pub async fn user_code_in_use(tx: &mut Tx<'_>, user_code: &str) -> Result<bool, StoreError> {
    let mut sql = Sql::new("SELECT id FROM device_authorizations WHERE user_code = ");
    sql.arg(user_code)
        .push(" AND expires_at > ")
        .arg(tx.now().as_micros());
    Ok(sql.query().fetch_optional(tx.conn()).await?.is_some())
}

/// How many authorizations are waiting for approval and not expired.
pub async fn live_pending(store: &Store) -> Result<i64, StoreError> {
    let mut sql = Sql::new("SELECT COUNT(*) FROM device_authorizations WHERE status = ");
    sql.arg(PENDING)
        .push(" AND expires_at > ")
        .arg(Timestamp::now().as_micros());
    Ok(sql.query().fetch_one(store.pool()).await?.try_get(0)?)
}

/// Stores a new PENDING authorization, recording its creation (not the device code).
pub async fn insert(
    tx: &mut Tx<'_>,
    device_code_hash: &str,
    user_code: &str,
    client_id: &str,
    scope: &str,
    interval_secs: i64,
    expires_at: Timestamp,
) -> Result<String, StoreError> {
    let id = new_id();
    let mut sql = Sql::new("INSERT INTO device_authorizations (id, device_code_hash, user_code, client_id, scope, status, user_id, interval_secs, last_polled_at, created_at, expires_at, decided_at, redeemed_at) VALUES (");
    sql.arg(id.as_str())
        .push(", ")
        .arg(device_code_hash)
        .push(", ")
        .arg(user_code)
        .push(", ")
        .arg(client_id)
        .push(", ")
        .arg(scope)
        .push(", ")
        .arg(PENDING)
        .push(", NULL, ")
        .arg(interval_secs)
        .push(", NULL, ")
        .arg(tx.now().as_micros())
        .push(", ")
        .arg(expires_at.as_micros())
        .push(", NULL, NULL)");
    tx.exec(&sql).await?;
    tx.audit(
        Activity::Create,
        "device authorization",
        &id,
        None,
        Some(json!({"clientId": client_id, "scope": scope, "status": PENDING, "expiresAt": expires_at})),
    )
    .await?;
    Ok(id)
}

/// The live PENDING authorization with this (normalized) user code.
pub async fn pending_by_user_code(
    store: &Store,
    user_code: &str,
) -> Result<Option<DeviceAuthorization>, StoreError> {
    let mut sql = Sql::new(COLUMNS);
    sql.push("user_code = ")
        .arg(user_code)
        .push(" AND status = ")
        .arg(PENDING)
        .push(" AND expires_at > ")
        .arg(Timestamp::now().as_micros())
        .push(" ORDER BY created_at DESC LIMIT 1");
    match sql.query().fetch_optional(store.pool()).await? {
        Some(r) => parse(&r).map(Some),
        None => Ok(None),
    }
}

/// The authorization whose device code hashes to `device_code_hash`.
pub async fn by_device_code(
    tx: &mut Tx<'_>,
    device_code_hash: &str,
) -> Result<Option<DeviceAuthorization>, StoreError> {
    let mut sql = Sql::new(COLUMNS);
    sql.push("device_code_hash = ").arg(device_code_hash);
    match sql.query().fetch_optional(tx.conn()).await? {
        Some(r) => parse(&r).map(Some),
        None => Ok(None),
    }
}

/// Records a poll of the token endpoint and, when `interval_secs` changed (slow_down), the new
/// interval. Bookkeeping, not audited.
pub async fn polled(tx: &mut Tx<'_>, id: &str, interval_secs: i64) -> Result<(), StoreError> {
    let mut sql = Sql::new("UPDATE device_authorizations SET last_polled_at = ");
    sql.arg(tx.now().as_micros())
        .push(", interval_secs = ")
        .arg(interval_secs)
        .push(" WHERE id = ")
        .arg(id);
    tx.exec(&sql).await?;
    Ok(())
}

/// Approves (`approve`) or denies a PENDING, unexpired authorization as `user_id`, recording
/// the decision. Returns the authorization as it was, or `None` when the user code names no
/// pending authorization any more (decided meanwhile, or expired).
pub async fn decide(
    tx: &mut Tx<'_>,
    user_code: &str,
    user_id: &str,
    approve: bool,
) -> Result<Option<DeviceAuthorization>, StoreError> {
    let now = tx.now().as_micros();
    let mut sql = Sql::new(COLUMNS);
    sql.push("user_code = ")
        .arg(user_code)
        .push(" AND status = ")
        .arg(PENDING)
        .push(" AND expires_at > ")
        .arg(now)
        .push(" ORDER BY created_at DESC LIMIT 1");
    let Some(found) = sql.query().fetch_optional(tx.conn()).await? else {
        return Ok(None);
    };
    let found = parse(&found)?;
    let status = if approve { APPROVED } else { DENIED };
    let mut up = Sql::new("UPDATE device_authorizations SET status = ");
    up.arg(status)
        .push(", user_id = ")
        .arg(user_id)
        .push(", decided_at = ")
        .arg(now)
        .push(" WHERE status = ")
        .arg(PENDING)
        .push(" AND id = ")
        .arg(found.id.as_str());
    if tx.exec(&up).await? != 1 {
        return Ok(None);
    }
    tx.audit(
        Activity::Update,
        "device authorization",
        &found.id,
        Some(json!({"status": PENDING, "clientId": found.client_id})),
        Some(json!({"status": status, "clientId": found.client_id, "userId": user_id})),
    )
    .await?;
    Ok(Some(found))
}

/// Marks an APPROVED authorization REDEEMED; false when it was not APPROVED any more (another
/// request redeemed it first).
pub async fn redeem(tx: &mut Tx<'_>, id: &str) -> Result<bool, StoreError> {
    let mut sql = Sql::new("UPDATE device_authorizations SET status = ");
    sql.arg(REDEEMED)
        .push(", redeemed_at = ")
        .arg(tx.now().as_micros())
        .push(", last_polled_at = ")
        .arg(tx.now().as_micros())
        .push(" WHERE status = ")
        .arg(APPROVED)
        .push(" AND id = ")
        .arg(id);
    let done = tx.exec(&sql).await? == 1;
    if done {
        tx.audit(
            Activity::Update,
            "device authorization",
            id,
            Some(json!({"status": APPROVED})),
            Some(json!({"status": REDEEMED})),
        )
        .await?;
    }
    Ok(done)
}

/// Deletes authorizations that expired more than `keep_micros` ago (kept that long so a late
/// poll still hears `expired_token` rather than `invalid_grant`). Returns how many.
pub async fn purge_expired(tx: &mut Tx<'_>, keep_micros: i64) -> Result<u64, StoreError> {
    let mut sql = Sql::new("DELETE FROM device_authorizations WHERE expires_at < ");
    sql.arg(tx.now().as_micros() - keep_micros);
    tx.exec(&sql).await
}
