//! The job table, per-app sync locks and the change-event outbox: how replicas share background
//! work through rows alone (see migration 0005).
//!
//! A job is claimed with a conditional `UPDATE … WHERE <still due>`: on PostgreSQL the second of
//! two concurrent claimers re-reads the row after the first commits, finds it no longer due and
//! updates nothing; on SQLite writers are serialized. Either way exactly one worker wins.

use crate::record::Sql;
use crate::{Store, StoreError, Tx};
use chamberlain_model::{new_id, Timestamp};
use serde_json::Value;
use sqlx::Row;
use std::time::Duration;

/// Queued: waiting for `run_at`. Running: leased to a worker.
pub const QUEUED: &str = "queued";
/// Leased to a worker (or to a dead one, until the lease expires).
pub const RUNNING: &str = "running";
/// Finished successfully.
pub const DONE: &str = "done";
/// Gave up after `max_attempts`, or failed for good.
pub const FAILED: &str = "failed";

/// What to enqueue.
#[derive(Clone, Debug)]
pub struct NewJob {
    /// Handler name (e.g. `connector_sync`).
    pub kind: String,
    /// The object the job acts on, for listing jobs per object.
    pub subject_id: String,
    /// At most one live (queued or running) job per key; `None` for no limit.
    pub active_key: Option<String>,
    /// Handler input.
    pub payload: Value,
    /// Earliest start.
    pub run_at: Timestamp,
    /// Attempts before the job is marked failed.
    pub max_attempts: i64,
}

/// A job row.
#[derive(Clone, Debug)]
pub struct Job {
    /// Row id.
    pub id: String,
    /// Handler name.
    pub kind: String,
    /// The object acted on.
    pub subject_id: String,
    /// Handler input.
    pub payload: Value,
    /// `queued`, `running`, `done` or `failed`.
    pub state: String,
    /// Earliest start.
    pub run_at: Timestamp,
    /// Attempts so far, counting the current one.
    pub attempts: i64,
    /// Attempts allowed.
    pub max_attempts: i64,
    /// Error of the last failed attempt.
    pub last_error: String,
}

const JOB_COLUMNS: &str =
    "id, kind, subject_id, payload, state, run_at, attempts, max_attempts, last_error";

fn job_from_row(r: &sqlx::any::AnyRow) -> Result<Job, StoreError> {
    let payload: String = r.try_get(3)?;
    Ok(Job {
        id: r.try_get(0)?,
        kind: r.try_get(1)?,
        subject_id: r.try_get(2)?,
        payload: serde_json::from_str(&payload)
            .map_err(|e| StoreError::Corrupt("job", e.to_string()))?,
        state: r.try_get(4)?,
        run_at: Timestamp::from_micros(r.try_get(5)?),
        attempts: r.try_get(6)?,
        max_attempts: r.try_get(7)?,
        last_error: r.try_get(8)?,
    })
}

fn micros(d: Duration) -> i64 {
    i64::try_from(d.as_micros()).unwrap_or(i64::MAX)
}

/// Enqueues `job` in the caller's transaction (so it lands with the change that asked for it).
/// When a live job already holds the same `active_key`, nothing is inserted and that job's id
/// is returned with `false`.
pub async fn enqueue(tx: &mut Tx<'_>, job: &NewJob) -> Result<(String, bool), StoreError> {
    let id = new_id();
    let now = tx.now().as_micros();
    let payload =
        serde_json::to_string(&job.payload).map_err(|e| StoreError::Invalid(e.to_string()))?;
    let mut sql = Sql::new("INSERT INTO jobs (id, kind, subject_id, active_key, payload, state, run_at, attempts, max_attempts, lease_owner, lease_expires_at, last_error, created_at, updated_at) VALUES (");
    sql.arg(id.as_str())
        .push(", ")
        .arg(job.kind.as_str())
        .push(", ");
    sql.arg(job.subject_id.as_str()).push(", ");
    match &job.active_key {
        Some(k) => sql.arg(k.as_str()),
        None => sql.push("NULL"),
    };
    sql.push(", ")
        .arg(payload)
        .push(", ")
        .arg(QUEUED)
        .push(", ")
        .arg(job.run_at.as_micros())
        .push(", 0, ")
        .arg(job.max_attempts.max(1))
        .push(", NULL, NULL, '', ")
        .arg(now)
        .push(", ")
        .arg(now)
        .push(") ON CONFLICT (active_key) DO NOTHING");
    if tx.exec(&sql).await? == 1 {
        return Ok((id, true));
    }
    let key = job.active_key.as_deref().unwrap_or_default();
    let mut find = Sql::new("SELECT id FROM jobs WHERE active_key = ");
    find.arg(key);
    let row = find.query().fetch_one(tx.conn()).await?;
    Ok((row.try_get(0)?, false))
}

/// Whether a live (queued or running) job holds `active_key`; a cheap read before enqueueing.
pub async fn has_live(store: &Store, active_key: &str) -> Result<bool, StoreError> {
    let mut sql = Sql::new("SELECT 1 FROM jobs WHERE active_key = ");
    sql.arg(active_key);
    Ok(sql.query().fetch_optional(store.pool()).await?.is_some())
}

/// Whether a job of `kind` for `subject_id` failed for good within the last `within`: a
/// scheduler that re-queues work on its own uses it to wait instead of failing in a loop.
pub async fn failed_recently(
    store: &Store,
    kind: &str,
    subject_id: &str,
    within: Duration,
) -> Result<bool, StoreError> {
    let since = Timestamp::now().as_micros() - micros(within);
    let mut sql = Sql::new("SELECT 1 FROM jobs WHERE subject_id = ");
    sql.arg(subject_id)
        .push(" AND kind = ")
        .arg(kind)
        .push(" AND state = ")
        .arg(FAILED)
        .push(" AND updated_at > ")
        .arg(since);
    Ok(sql.query().fetch_optional(store.pool()).await?.is_some())
}

/// Moves a queued job's start to now (a "run now" request). Returns whether a queued job moved.
pub async fn run_now(tx: &mut Tx<'_>, active_key: &str) -> Result<bool, StoreError> {
    let now = tx.now().as_micros();
    let mut sql = Sql::new("UPDATE jobs SET run_at = ");
    sql.arg(now)
        .push(", updated_at = ")
        .arg(now)
        .push(" WHERE active_key = ")
        .arg(active_key)
        .push(" AND state = ")
        .arg(QUEUED);
    Ok(tx.exec(&sql).await? == 1)
}

/// Drops the queued (not running) job holding `active_key`, e.g. when its schedule changed.
pub async fn cancel_queued(tx: &mut Tx<'_>, active_key: &str) -> Result<bool, StoreError> {
    let mut sql = Sql::new("DELETE FROM jobs WHERE active_key = ");
    sql.arg(active_key).push(" AND state = ").arg(QUEUED);
    Ok(tx.exec(&sql).await? == 1)
}

fn due_condition(sql: &mut Sql, now: i64) {
    sql.push("((state = ")
        .arg(QUEUED)
        .push(" AND run_at <= ")
        .arg(now)
        .push(") OR (state = ")
        .arg(RUNNING)
        .push(" AND lease_expires_at < ")
        .arg(now)
        .push("))");
}

/// Claims up to `limit` due jobs of `kinds` for `owner`, leasing each for `lease`. A job whose
/// previous worker died (lease expired) is due again and counts a new attempt.
pub async fn claim(
    store: &Store,
    owner: &str,
    kinds: &[&str],
    lease: Duration,
    limit: i64,
) -> Result<Vec<Job>, StoreError> {
    let now = Timestamp::now().as_micros();
    let mut find = Sql::new("SELECT id FROM jobs WHERE ");
    due_condition(&mut find, now);
    find.push(" AND kind IN (");
    for (i, k) in kinds.iter().enumerate() {
        if i > 0 {
            find.push(", ");
        }
        find.arg(*k);
    }
    find.push(") ORDER BY run_at LIMIT ").arg(limit);
    let ids: Vec<String> = find
        .query()
        .fetch_all(store.pool())
        .await?
        .iter()
        .map(|r| r.try_get(0))
        .collect::<Result<_, _>>()?;
    let mut claimed = Vec::new();
    for id in ids {
        let mut sql = Sql::new("UPDATE jobs SET state = ");
        sql.arg(RUNNING)
            .push(", lease_owner = ")
            .arg(owner)
            .push(", lease_expires_at = ")
            .arg(now + micros(lease))
            .push(", attempts = attempts + 1, updated_at = ")
            .arg(now)
            .push(" WHERE id = ")
            .arg(id.as_str())
            .push(" AND ");
        due_condition(&mut sql, now);
        if sql.query().execute(store.pool()).await?.rows_affected() == 1 {
            let mut get = Sql::new(&format!("SELECT {JOB_COLUMNS} FROM jobs WHERE id = "));
            get.arg(id.as_str());
            claimed.push(job_from_row(&get.query().fetch_one(store.pool()).await?)?);
        }
    }
    Ok(claimed)
}

/// Extends `owner`'s lease on job `id`. `false` means the lease was lost (it expired and another
/// worker took the job): the caller must stop.
pub async fn renew(
    store: &Store,
    id: &str,
    owner: &str,
    lease: Duration,
) -> Result<bool, StoreError> {
    let now = Timestamp::now().as_micros();
    let mut sql = Sql::new("UPDATE jobs SET lease_expires_at = ");
    sql.arg(now + micros(lease))
        .push(" WHERE id = ")
        .arg(id)
        .push(" AND state = ")
        .arg(RUNNING)
        .push(" AND lease_owner = ")
        .arg(owner);
    Ok(sql.query().execute(store.pool()).await?.rows_affected() == 1)
}

/// How an attempt ended.
#[derive(Clone, Debug)]
pub enum Outcome {
    /// Done; the job's key is freed.
    Done,
    /// Failed; tried again after `delay` unless attempts are used up.
    Retry {
        /// What went wrong.
        error: String,
        /// Wait before the next attempt.
        delay: Duration,
    },
    /// Failed for good (retrying cannot help); the key is freed.
    Failed {
        /// What went wrong.
        error: String,
    },
    /// Could not start (e.g. the app is busy); back to the queue after `delay` without
    /// counting the attempt.
    Postpone {
        /// Wait before trying again.
        delay: Duration,
    },
}

/// Records the end of `owner`'s attempt at job `id`. Returns false when the lease had been lost.
pub async fn finish(
    store: &Store,
    id: &str,
    owner: &str,
    outcome: &Outcome,
) -> Result<bool, StoreError> {
    let now = Timestamp::now().as_micros();
    let mut sql = Sql::new("UPDATE jobs SET updated_at = ");
    sql.arg(now)
        .push(", lease_owner = NULL, lease_expires_at = NULL, ");
    match outcome {
        Outcome::Done => {
            sql.push("state = ")
                .arg(DONE)
                .push(", active_key = NULL, last_error = ''");
        }
        Outcome::Failed { error } => {
            sql.push("state = ")
                .arg(FAILED)
                .push(", active_key = NULL, last_error = ")
                .arg(error.as_str());
        }
        Outcome::Retry { error, delay } => {
            // Out of attempts: failed for good and the key is freed; else queued again.
            sql.push("last_error = ")
                .arg(error.as_str())
                .push(", state = CASE WHEN attempts >= max_attempts THEN ")
                .arg(FAILED)
                .push(" ELSE ")
                .arg(QUEUED)
                .push(" END, active_key = CASE WHEN attempts >= max_attempts THEN NULL ELSE active_key END, run_at = ")
                .arg(now + micros(*delay));
        }
        Outcome::Postpone { delay } => {
            sql.push("state = ")
                .arg(QUEUED)
                .push(", attempts = attempts - 1, run_at = ")
                .arg(now + micros(*delay));
        }
    }
    sql.push(" WHERE id = ")
        .arg(id)
        .push(" AND state = ")
        .arg(RUNNING)
        .push(" AND lease_owner = ")
        .arg(owner);
    Ok(sql.query().execute(store.pool()).await?.rows_affected() == 1)
}

/// Jobs acting on `subject_id`, newest first.
pub async fn for_subject(
    store: &Store,
    subject_id: &str,
    limit: i64,
) -> Result<Vec<Job>, StoreError> {
    let mut sql = Sql::new(&format!(
        "SELECT {JOB_COLUMNS} FROM jobs WHERE subject_id = "
    ));
    sql.arg(subject_id)
        .push(" ORDER BY id DESC LIMIT ")
        .arg(limit);
    sql.query()
        .fetch_all(store.pool())
        .await?
        .iter()
        .map(job_from_row)
        .collect()
}

/// Takes the sync lock of `app_id` for `owner` if it is free or its holder's lease expired.
pub async fn acquire_sync_lock(
    store: &Store,
    app_id: &str,
    owner: &str,
    ttl: Duration,
) -> Result<bool, StoreError> {
    let now = Timestamp::now().as_micros();
    let mut sql = Sql::new("INSERT INTO sync_locks (app_id, owner, expires_at) VALUES (");
    sql.arg(app_id)
        .push(", ")
        .arg(owner)
        .push(", ")
        .arg(now + micros(ttl))
        .push(") ON CONFLICT (app_id) DO UPDATE SET owner = excluded.owner, expires_at = excluded.expires_at WHERE sync_locks.expires_at < ")
        .arg(now);
    Ok(sql.query().execute(store.pool()).await?.rows_affected() == 1)
}

/// Extends `owner`'s sync lock; false if it was lost.
pub async fn renew_sync_lock(
    store: &Store,
    app_id: &str,
    owner: &str,
    ttl: Duration,
) -> Result<bool, StoreError> {
    let mut sql = Sql::new("UPDATE sync_locks SET expires_at = ");
    sql.arg(Timestamp::now().as_micros() + micros(ttl))
        .push(" WHERE app_id = ")
        .arg(app_id)
        .push(" AND owner = ")
        .arg(owner);
    Ok(sql.query().execute(store.pool()).await?.rows_affected() == 1)
}

/// Releases `owner`'s sync lock (no-op if it was lost).
pub async fn release_sync_lock(store: &Store, app_id: &str, owner: &str) -> Result<(), StoreError> {
    let mut sql = Sql::new("DELETE FROM sync_locks WHERE app_id = ");
    sql.arg(app_id).push(" AND owner = ").arg(owner);
    sql.query().execute(store.pool()).await?;
    Ok(())
}

/// Inside a sync's final transaction: fails unless `owner` still holds the app's lock, so a
/// worker that lost its lease cannot commit over a newer sync.
pub async fn check_sync_lock(tx: &mut Tx<'_>, app_id: &str, owner: &str) -> Result<(), StoreError> {
    let mut sql = Sql::new("UPDATE sync_locks SET owner = owner WHERE app_id = ");
    sql.arg(app_id).push(" AND owner = ").arg(owner);
    if tx.exec(&sql).await? == 1 {
        Ok(())
    } else {
        Err(StoreError::Precondition(format!(
            "this sync of app `{app_id}` lost its lock (it ran past its lease and another sync took over); nothing was applied"
        )))
    }
}

/// Deletes finished jobs of `kind` that ended before `older_than` ago (recurring housekeeping
/// jobs would otherwise pile up). Returns how many.
pub async fn prune_finished(
    store: &Store,
    kind: &str,
    older_than: Duration,
) -> Result<u64, StoreError> {
    let before = Timestamp::now().as_micros() - micros(older_than);
    let mut sql = Sql::new("DELETE FROM jobs WHERE kind = ");
    sql.arg(kind)
        .push(" AND state IN ('done', 'failed') AND updated_at < ")
        .arg(before);
    Ok(sql.query().execute(store.pool()).await?.rows_affected())
}

/// The newest change event's id ("" when there is none).
pub async fn latest_event_id(store: &Store) -> Result<String, StoreError> {
    let row = Sql::new("SELECT MAX(id) FROM change_events")
        .query()
        .fetch_one(store.pool())
        .await?;
    Ok(row.try_get::<Option<String>, _>(0)?.unwrap_or_default())
}

/// A change event as stored.
#[derive(Clone, Debug, PartialEq)]
pub struct ChangeEvent {
    /// Time-ordered id; the cursor for readers.
    pub id: String,
    /// When the change committed (microseconds).
    pub occurred_at: Timestamp,
    /// Event kind, e.g. `app.synced`.
    pub kind: String,
    /// App the change belongs to.
    pub app_id: String,
    /// Event body.
    pub doc: Value,
}

/// Appends a change event in the transaction that made the change. Call it last in the
/// transaction so the time between the id being taken and the commit stays short.
pub async fn append_event(
    tx: &mut Tx<'_>,
    kind: &str,
    app_id: &str,
    doc: &Value,
) -> Result<String, StoreError> {
    tx.append_event(kind, app_id, doc.to_string()).await
}

/// Appends many change events of one kind in bulk: `(app id, body)` each (see
/// [`append_event`]).
pub async fn append_events(
    tx: &mut Tx<'_>,
    kind: &str,
    events: &[(String, Value)],
) -> Result<(), StoreError> {
    let events: Vec<(&str, String)> = events
        .iter()
        .map(|(app_id, doc)| (app_id.as_str(), doc.to_string()))
        .collect();
    append_events_json(tx, kind, &events).await
}

/// [`append_events`] with each body already serialized (JSON text).
pub async fn append_events_json(
    tx: &mut Tx<'_>,
    kind: &str,
    events: &[(&str, String)],
) -> Result<(), StoreError> {
    let now = tx.now().as_micros();
    for part in events.chunks(crate::BULK_PARAMS / 5) {
        let mut sql =
            Sql::new("INSERT INTO change_events (id, occurred_at, kind, app_id, doc) VALUES ");
        for (i, (app_id, doc)) in part.iter().enumerate() {
            sql.push(if i == 0 { "(" } else { ", (" })
                .arg(new_id())
                .push(", ")
                .arg(now)
                .push(", ")
                .arg(kind)
                .push(", ")
                .arg(*app_id)
                .push(", ")
                .arg(doc.as_str())
                .push(")");
        }
        tx.exec(&sql).await?;
    }
    Ok(())
}

/// Change events after `cursor` (an event id, or "" for the start), oldest first. Events newer
/// than `settle` are held back: ids are taken inside transactions on several replicas, so a
/// just-committed event may carry an id a little older than one already read.
pub async fn events_after(
    store: &Store,
    cursor: &str,
    settle: Duration,
    limit: i64,
) -> Result<Vec<ChangeEvent>, StoreError> {
    let horizon = Timestamp::now().as_micros() - micros(settle);
    let mut sql =
        Sql::new("SELECT id, occurred_at, kind, app_id, doc FROM change_events WHERE id > ");
    sql.arg(cursor)
        .push(" AND occurred_at <= ")
        .arg(horizon)
        .push(" ORDER BY id LIMIT ")
        .arg(limit);
    sql.query()
        .fetch_all(store.pool())
        .await?
        .iter()
        .map(|r| {
            let doc: String = r.try_get(4)?;
            Ok(ChangeEvent {
                id: r.try_get(0)?,
                occurred_at: Timestamp::from_micros(r.try_get(1)?),
                kind: r.try_get(2)?,
                app_id: r.try_get(3)?,
                doc: serde_json::from_str(&doc)
                    .map_err(|e| StoreError::Corrupt("change event", e.to_string()))?,
            })
        })
        .collect()
}
