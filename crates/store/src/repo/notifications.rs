//! Notifications (migration 0018): the rows the pipeline writes, their delivery state, the
//! change-event cursor the pipeline reads from, and users' notification preferences.
//!
//! A notification is inserted with [`insert_new`] inside the fan-out transaction together with
//! its `notification_delivery` job (`active_key = notification:<id>`), so it is delivered iff the
//! fan-out committed. The unique `dedupe_key` makes inserting the same notice twice a no-op.

use crate::page::Page;
use crate::record::{list_page, PageReq, Sql};
use crate::repo::jobs::{self, NewJob};
use crate::tx::Activity;
use crate::{Store, StoreError, Tx};
use chamberlain_model::notification::ChannelSettings;
use chamberlain_model::{new_id, Timestamp};
use serde_json::Value;
use sqlx::Row;

/// Job kind delivering one notification; the job's subject is the notification id.
pub const DELIVERY_JOB: &str = "notification_delivery";
/// Not delivered yet; an attempt is due or running.
pub const PENDING: &str = "pending";
/// Delivered.
pub const SENT: &str = "sent";
/// Given up: a permanent error, or attempts used up.
pub const FAILED: &str = "failed";
/// The cursor name of the notification pipeline in `event_cursors`.
pub const CURSOR: &str = "notifications";

/// A notification to insert.
#[derive(Clone, Debug)]
pub struct NewNotification {
    pub dedupe_key: String,
    pub user_id: String,
    /// Notification type (wire name, e.g. `approvalNeeded`).
    pub kind: String,
    /// `email` or `slack`.
    pub channel: String,
    /// The rendered message (`chamberlain_notify::Outgoing` without its id).
    pub doc: Value,
}

/// A notification as stored.
#[derive(Clone, Debug)]
pub struct Notification {
    pub id: String,
    pub dedupe_key: String,
    pub user_id: String,
    pub kind: String,
    pub channel: String,
    pub state: String,
    pub attempts: i64,
    pub last_error: String,
    pub created_at: Timestamp,
    pub updated_at: Timestamp,
    pub sent_at: Option<Timestamp>,
    pub doc: Value,
}

const COLUMNS: &str = "id, dedupe_key, user_id, kind, channel, state, attempts, last_error, created_at, updated_at, sent_at, doc";

fn from_row(r: &sqlx::any::AnyRow) -> Result<Notification, StoreError> {
    let doc: String = r.try_get(11)?;
    Ok(Notification {
        id: r.try_get(0)?,
        dedupe_key: r.try_get(1)?,
        user_id: r.try_get(2)?,
        kind: r.try_get(3)?,
        channel: r.try_get(4)?,
        state: r.try_get(5)?,
        attempts: r.try_get(6)?,
        last_error: r.try_get(7)?,
        created_at: Timestamp::from_micros(r.try_get(8)?),
        updated_at: Timestamp::from_micros(r.try_get(9)?),
        sent_at: r.try_get::<Option<i64>, _>(10)?.map(Timestamp::from_micros),
        doc: serde_json::from_str(&doc)
            .map_err(|e| StoreError::Corrupt("notification", e.to_string()))?,
    })
}

/// Inserts the notifications that are not there yet (by `dedupe_key`) and queues a delivery
/// job for each one inserted. Returns the ids inserted.
pub async fn insert_new(
    tx: &mut Tx<'_>,
    items: &[NewNotification],
) -> Result<Vec<String>, StoreError> {
    let now = tx.now().as_micros();
    let mut inserted = Vec::new();
    for n in items {
        let id = new_id();
        let mut doc = n.doc.clone();
        if let Some(o) = doc.as_object_mut() {
            o.insert("id".into(), Value::String(id.clone()));
        }
        let mut sql = Sql::new(&format!("INSERT INTO notifications ({COLUMNS}) VALUES ("));
        sql.arg(id.as_str())
            .push(", ")
            .arg(n.dedupe_key.as_str())
            .push(", ")
            .arg(n.user_id.as_str())
            .push(", ")
            .arg(n.kind.as_str())
            .push(", ")
            .arg(n.channel.as_str())
            .push(", ")
            .arg(PENDING)
            .push(", 0, '', ")
            .arg(now)
            .push(", ")
            .arg(now)
            .push(", NULL, ")
            .arg(doc.to_string())
            .push(") ON CONFLICT (dedupe_key) DO NOTHING");
        if tx.exec(&sql).await? == 0 {
            continue;
        }
        enqueue_delivery(tx, &id, tx.now()).await?;
        inserted.push(id);
    }
    Ok(inserted)
}

async fn enqueue_delivery(tx: &mut Tx<'_>, id: &str, at: Timestamp) -> Result<(), StoreError> {
    let job = NewJob {
        kind: DELIVERY_JOB.into(),
        subject_id: id.to_string(),
        active_key: Some(format!("{DELIVERY_JOB}:{id}")),
        payload: serde_json::json!({}),
        run_at: at,
        // The worker enforces the configured attempt limit on the notification itself.
        max_attempts: 1_000_000,
    };
    jobs::enqueue(tx, &job).await.map(|_| ())
}

/// One notification.
pub async fn get(store: &Store, id: &str) -> Result<Option<Notification>, StoreError> {
    let mut sql = Sql::new(&format!("SELECT {COLUMNS} FROM notifications WHERE id = "));
    sql.arg(id);
    sql.query()
        .fetch_optional(store.pool())
        .await?
        .map(|r| from_row(&r))
        .transpose()
}

/// Marks a pending notification sent. False when it was not pending any more.
pub async fn mark_sent(store: &Store, id: &str, attempts: i64) -> Result<bool, StoreError> {
    let now = Timestamp::now().as_micros();
    let mut sql = Sql::new("UPDATE notifications SET state = ");
    sql.arg(SENT)
        .push(", attempts = ")
        .arg(attempts)
        .push(", last_error = '', sent_at = ")
        .arg(now)
        .push(", updated_at = ")
        .arg(now)
        .push(" WHERE id = ")
        .arg(id)
        .push(" AND state = ")
        .arg(PENDING);
    Ok(sql.query().execute(store.pool()).await?.rows_affected() == 1)
}

/// Records a failed attempt of a pending notification; `give_up` marks it failed (and writes
/// that to the system log, for admins). False when it was not pending any more.
pub async fn record_failure(
    tx: &mut Tx<'_>,
    id: &str,
    attempts: i64,
    error: &str,
    give_up: bool,
) -> Result<bool, StoreError> {
    let now = tx.now().as_micros();
    let mut sql = Sql::new("UPDATE notifications SET attempts = ");
    sql.arg(attempts)
        .push(", last_error = ")
        .arg(error)
        .push(", updated_at = ")
        .arg(now);
    if give_up {
        sql.push(", state = ").arg(FAILED);
    }
    sql.push(" WHERE id = ")
        .arg(id)
        .push(" AND state = ")
        .arg(PENDING);
    if tx.exec(&sql).await? == 0 {
        return Ok(false);
    }
    if give_up {
        tx.audit(
            Activity::Update,
            "notification",
            id,
            Some(serde_json::json!({"state": PENDING})),
            Some(serde_json::json!({"state": FAILED, "attempts": attempts, "lastError": error})),
        )
        .await?;
    }
    Ok(true)
}

/// Puts a failed notification back to pending with a fresh delivery job (an admin's retry).
/// False when it was not failed.
pub async fn retry(tx: &mut Tx<'_>, id: &str) -> Result<bool, StoreError> {
    let mut sql = Sql::new("UPDATE notifications SET state = ");
    sql.arg(PENDING)
        .push(", attempts = 0, updated_at = ")
        .arg(tx.now().as_micros())
        .push(" WHERE id = ")
        .arg(id)
        .push(" AND state = ")
        .arg(FAILED);
    if tx.exec(&sql).await? == 0 {
        return Ok(false);
    }
    enqueue_delivery(tx, id, tx.now()).await?;
    tx.audit(
        Activity::Update,
        "notification",
        id,
        Some(serde_json::json!({"state": FAILED})),
        Some(serde_json::json!({"state": PENDING})),
    )
    .await?;
    Ok(true)
}

/// Filters of [`list`].
#[derive(Clone, Debug, Default)]
pub struct Filter {
    pub state: Option<String>,
    pub channel: Option<String>,
    pub user_id: Option<String>,
}

/// Notifications, newest first.
pub async fn list(
    store: &Store,
    f: &Filter,
    page: &PageReq,
) -> Result<Page<Notification>, StoreError> {
    let mut sql = Sql::new(&format!("SELECT {COLUMNS} FROM notifications WHERE 1 = 1"));
    if let Some(s) = &f.state {
        sql.push(" AND state = ").arg(s.as_str());
    }
    if let Some(c) = &f.channel {
        sql.push(" AND channel = ").arg(c.as_str());
    }
    if let Some(u) = &f.user_id {
        sql.push(" AND user_id = ").arg(u.as_str());
    }
    let scope = format!(
        "notifications:{}:{}:{}",
        f.state.as_deref().unwrap_or(""),
        f.channel.as_deref().unwrap_or(""),
        f.user_id.as_deref().unwrap_or("")
    );
    let page = PageReq {
        descending: true,
        ..page.clone()
    };
    list_page(store.pool(), sql, &scope, &page, "id", from_row).await
}

/// The last change event a reader handled.
pub async fn cursor(store: &Store, name: &str) -> Result<String, StoreError> {
    let mut sql = Sql::new("SELECT last_id FROM event_cursors WHERE name = ");
    sql.arg(name);
    Ok(sql
        .query()
        .fetch_optional(store.pool())
        .await?
        .map(|r| r.try_get::<String, _>(0))
        .transpose()?
        .unwrap_or_default())
}

/// Moves a reader's cursor from `from` to `to` in the transaction that applied the events in
/// between; [`StoreError::Stale`] when another run moved it first (the transaction is rolled
/// back and the caller re-reads).
pub async fn advance_cursor(
    tx: &mut Tx<'_>,
    name: &str,
    from: &str,
    to: &str,
) -> Result<(), StoreError> {
    let mut sql = Sql::new("UPDATE event_cursors SET last_id = ");
    sql.arg(to)
        .push(", updated_at = ")
        .arg(tx.now().as_micros())
        .push(" WHERE name = ")
        .arg(name)
        .push(" AND last_id = ")
        .arg(from);
    if tx.exec(&sql).await? == 1 {
        return Ok(());
    }
    let mut ins = Sql::new("INSERT INTO event_cursors (name, last_id, updated_at) VALUES (");
    ins.arg(name)
        .push(", ")
        .arg(to)
        .push(", ")
        .arg(tx.now().as_micros())
        .push(") ON CONFLICT (name) DO NOTHING");
    if from.is_empty() && tx.exec(&ins).await? == 1 {
        return Ok(());
    }
    Err(StoreError::Stale(format!(
        "the `{name}` event cursor moved while events were applied"
    )))
}

/// A user's own notification preferences, if saved.
pub async fn user_settings(
    store: &Store,
    user_id: &str,
) -> Result<Option<ChannelSettings>, StoreError> {
    let mut sql = Sql::new("SELECT doc FROM user_notification_settings WHERE user_id = ");
    sql.arg(user_id);
    sql.query()
        .fetch_optional(store.pool())
        .await?
        .map(|r| {
            serde_json::from_str(&r.try_get::<String, _>(0)?)
                .map_err(|e| StoreError::Corrupt("notification settings", e.to_string()))
        })
        .transpose()
}

/// Many users' own preferences at once (users without saved preferences are absent).
pub async fn users_settings(
    store: &Store,
    user_ids: &[String],
) -> Result<std::collections::HashMap<String, ChannelSettings>, StoreError> {
    let mut out = std::collections::HashMap::new();
    for chunk in user_ids.chunks(500) {
        let mut sql =
            Sql::new("SELECT user_id, doc FROM user_notification_settings WHERE user_id IN (");
        for (i, u) in chunk.iter().enumerate() {
            if i > 0 {
                sql.push(", ");
            }
            sql.arg(u.as_str());
        }
        sql.push(")");
        for r in sql.query().fetch_all(store.pool()).await? {
            let doc: String = r.try_get(1)?;
            let v = serde_json::from_str(&doc)
                .map_err(|e| StoreError::Corrupt("notification settings", e.to_string()))?;
            out.insert(r.try_get(0)?, v);
        }
    }
    Ok(out)
}

/// Saves a user's own preferences, recording the change.
pub async fn save_user_settings(
    tx: &mut Tx<'_>,
    user_id: &str,
    value: &ChannelSettings,
) -> Result<(), StoreError> {
    let mut sel = Sql::new("SELECT doc FROM user_notification_settings WHERE user_id = ");
    sel.arg(user_id);
    let before: Option<Value> = sel
        .query()
        .fetch_optional(tx.conn())
        .await?
        .and_then(|r| r.try_get::<String, _>(0).ok())
        .and_then(|s| serde_json::from_str(&s).ok());
    let doc = serde_json::to_value(value)
        .map_err(|e| StoreError::Corrupt("notification settings", e.to_string()))?;
    let mut sql =
        Sql::new("INSERT INTO user_notification_settings (user_id, updated_at, doc) VALUES (");
    sql.arg(user_id)
        .push(", ")
        .arg(tx.now().as_micros())
        .push(", ")
        .arg(doc.to_string())
        .push(") ON CONFLICT (user_id) DO UPDATE SET updated_at = excluded.updated_at, doc = excluded.doc");
    tx.exec(&sql).await?;
    let activity = if before.is_some() {
        Activity::Update
    } else {
        Activity::Create
    };
    tx.audit(
        activity,
        "user notification settings",
        user_id,
        before,
        Some(doc),
    )
    .await
}
