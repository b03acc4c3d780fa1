//! Local sign-in: users' Argon2id password hashes and browser sessions (migration 0014).
//! Session tokens are stored as SHA-256 digests; password hashes never leave this module's
//! callers (no API returns them, the system log records only that a password changed).

use crate::record::{fetch_docs, Sql};
use crate::tx::Activity;
use crate::{Store, StoreError, Tx};
use chamberlain_model::user::User;
use chamberlain_model::{new_id, Timestamp};
use serde_json::json;
use sqlx::Row;

/// Sets (or replaces) a user's password hash, recording that it changed.
pub async fn set_password(tx: &mut Tx<'_>, user_id: &str, phc: &str) -> Result<(), StoreError> {
    let now = tx.now().as_micros();
    let mut sel = Sql::new("SELECT user_id FROM user_passwords WHERE user_id = ");
    sel.arg(user_id);
    let existed = sel.query().fetch_optional(tx.conn()).await?.is_some();
    let mut sql = Sql::new("INSERT INTO user_passwords (user_id, hash, updated_at) VALUES (");
    sql.arg(user_id)
        .push(", ")
        .arg(phc)
        .push(", ")
        .arg(now)
        .push(") ON CONFLICT (user_id) DO UPDATE SET hash = excluded.hash, updated_at = excluded.updated_at");
    tx.exec(&sql).await?;
    tx.audit(
        if existed {
            Activity::Update
        } else {
            Activity::Create
        },
        "user password",
        user_id,
        None,
        Some(json!({"userId": user_id, "passwordSet": true})),
    )
    .await
}

/// A user's password hash, if they have one.
pub async fn password_hash(store: &Store, user_id: &str) -> Result<Option<String>, StoreError> {
    let mut sql = Sql::new("SELECT hash FROM user_passwords WHERE user_id = ");
    sql.arg(user_id);
    Ok(match sql.query().fetch_optional(store.pool()).await? {
        Some(r) => Some(r.try_get(0)?),
        None => None,
    })
}

/// The live user whose primary email is `email` (case-insensitive).
pub async fn user_by_email(store: &Store, email: &str) -> Result<Option<User>, StoreError> {
    let mut sql = Sql::new("SELECT doc FROM users WHERE deleted_at IS NULL AND email_lc = ");
    sql.arg(email.trim().to_lowercase())
        .push(" ORDER BY id LIMIT 1");
    Ok(fetch_docs::<User, _>(store.pool(), &sql).await?.pop())
}

/// A browser session as stored.
#[derive(Clone, Debug)]
pub struct WebSession {
    /// Record id (in the system log).
    pub id: String,
    /// Signed-in user.
    pub user_id: String,
    /// Created (microseconds).
    pub created_at: i64,
    /// Last request seen (microseconds), updated at most once a minute.
    pub last_seen_at: i64,
    /// Absolute end (microseconds).
    pub expires_at: i64,
}

/// Opens a session for `user_id` whose cookie token hashes to `token_hash`.
pub async fn create_session(
    tx: &mut Tx<'_>,
    user_id: &str,
    token_hash: &str,
    expires_at: Timestamp,
) -> Result<String, StoreError> {
    let id = new_id();
    let now = tx.now().as_micros();
    let mut sql = Sql::new("INSERT INTO web_sessions (id, token_hash, user_id, created_at, last_seen_at, expires_at) VALUES (");
    sql.arg(id.as_str())
        .push(", ")
        .arg(token_hash)
        .push(", ")
        .arg(user_id)
        .push(", ")
        .arg(now)
        .push(", ")
        .arg(now)
        .push(", ")
        .arg(expires_at.as_micros())
        .push(")");
    tx.exec(&sql).await?;
    tx.audit(
        Activity::Create,
        "web session",
        &id,
        None,
        Some(json!({"userId": user_id, "expiresAt": expires_at})),
    )
    .await?;
    Ok(id)
}

/// The session whose token hashes to `token_hash`.
pub async fn session(store: &Store, token_hash: &str) -> Result<Option<WebSession>, StoreError> {
    let mut sql = Sql::new(
        "SELECT id, user_id, created_at, last_seen_at, expires_at FROM web_sessions WHERE token_hash = ",
    );
    sql.arg(token_hash);
    Ok(match sql.query().fetch_optional(store.pool()).await? {
        Some(r) => Some(WebSession {
            id: r.try_get(0)?,
            user_id: r.try_get(1)?,
            created_at: r.try_get(2)?,
            last_seen_at: r.try_get(3)?,
            expires_at: r.try_get(4)?,
        }),
        None => None,
    })
}

/// Records activity on a session (idle timeout bookkeeping, not audited).
pub async fn touch_session(store: &Store, id: &str, now: Timestamp) -> Result<(), StoreError> {
    let mut sql = Sql::new("UPDATE web_sessions SET last_seen_at = ");
    sql.arg(now.as_micros()).push(" WHERE id = ").arg(id);
    sql.query().execute(store.pool()).await?;
    Ok(())
}

/// Ends a session (sign-out), recording it.
pub async fn delete_session(tx: &mut Tx<'_>, id: &str) -> Result<(), StoreError> {
    let mut sql = Sql::new("DELETE FROM web_sessions WHERE id = ");
    sql.arg(id);
    if tx.exec(&sql).await? > 0 {
        tx.audit(Activity::Delete, "web session", id, None, None)
            .await?;
    }
    Ok(())
}

/// Removes sessions past their absolute end or idle for longer than `idle_micros`; returns how
/// many (the caller records a summary event).
pub async fn purge_sessions(tx: &mut Tx<'_>, idle_micros: i64) -> Result<u64, StoreError> {
    let now = tx.now().as_micros();
    let mut sql = Sql::new("DELETE FROM web_sessions WHERE expires_at <= ");
    sql.arg(now)
        .push(" OR last_seen_at <= ")
        .arg(now - idle_micros);
    tx.exec(&sql).await
}

/// Ends every session of `user_id` except `keep` (sign out everywhere else), recording how
/// many; returns that number.
pub async fn delete_other_sessions(
    tx: &mut Tx<'_>,
    user_id: &str,
    keep: &str,
) -> Result<u64, StoreError> {
    let mut sql = Sql::new("DELETE FROM web_sessions WHERE user_id = ");
    sql.arg(user_id).push(" AND id <> ").arg(keep);
    let n = tx.exec(&sql).await?;
    if n > 0 {
        tx.audit(
            Activity::Delete,
            "web session",
            user_id,
            None,
            Some(json!({"userId": user_id, "signedOutSessions": n, "kept": keep})),
        )
        .await?;
    }
    Ok(n)
}

/// How many sessions `user_id` has open.
pub async fn session_count(store: &Store, user_id: &str) -> Result<i64, StoreError> {
    let mut sql = Sql::new("SELECT COUNT(*) FROM web_sessions WHERE user_id = ");
    sql.arg(user_id);
    let r = sql.query().fetch_one(store.pool()).await?;
    Ok(r.try_get::<i64, _>(0)?)
}
