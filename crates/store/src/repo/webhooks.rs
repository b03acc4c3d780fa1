//! Outbound webhooks (`c1.api.webhooks.v1.Webhook`) and their deliveries (migration 0010).
//!
//! A delivery is a row in `webhook_deliveries` plus a `webhook_delivery` job (one live job per
//! delivery, `active_key = webhook_delivery:<id>`) that makes the attempts. Features that call
//! webhooks (the task engine) enqueue a delivery inside their own transaction with
//! [`enqueue_delivery`], read its outcome with [`delivery`], and can follow completions through
//! the `webhook.delivered` change events written by the transaction that records the outcome.

use crate::record::{Col, Record, Sql};
use crate::repo::jobs::{self, NewJob};
use crate::tx::Activity;
use crate::{AuditCtx, Store, StoreError, Tx};
use chamberlain_model::webhook::Webhook;
use chamberlain_model::{new_id, Timestamp};
use serde_json::{json, Value};
use sqlx::Row;

/// Job kind that makes a delivery's attempts; the job's subject is the delivery id.
pub const DELIVERY_JOB: &str = "webhook_delivery";
/// Change-event kind written when a delivery ends (done, failed or gone).
pub const DELIVERED_EVENT: &str = "webhook.delivered";

/// Not finished; an attempt is due or running.
pub const PENDING: &str = "pending";
/// The receiver answered 202 and has not called the callback URL yet.
pub const WAITING_CALLBACK: &str = "waiting_callback";
/// Finished with a reply (synchronous or by callback).
pub const DONE: &str = "done";
/// Finished without a reply: attempts used up, a reply that cannot be used, no callback in
/// time, or the webhook was deleted.
pub const FAILED: &str = "failed";
/// The receiver answered 410 Gone: stopped without retrying.
pub const GONE: &str = "gone";

/// Attempts allowed on a delivery job's row; the worker enforces the configured limit itself
/// (so a changed setting applies to deliveries already queued).
const JOB_ATTEMPTS: i64 = 1_000_000;

impl Record for Webhook {
    const TABLE: &'static str = "webhooks";
    const KIND: &'static str = "webhook";
    fn id(&self) -> &str {
        &self.id
    }
    fn columns(&self) -> Vec<(&'static str, Col)> {
        vec![
            ("name_lc", self.display_name.to_lowercase().into()),
            ("description_lc", self.description.to_lowercase().into()),
            (
                "created_at",
                Col::Int(self.created_at.map(|t| t.as_micros()).unwrap_or(0)),
            ),
            (
                "deleted_at",
                Col::OptInt(self.deleted_at.map(|t| t.as_micros())),
            ),
        ]
    }
    fn set_deleted(&mut self, at: Timestamp) {
        self.deleted_at = Some(at);
        self.updated_at = Some(at);
    }
}

/// One delivery of a webhook, as stored.
#[derive(Clone, Debug, PartialEq)]
pub struct Delivery {
    /// Delivery id (the `Webhook-Id` header and the envelope's `webhookId`).
    pub id: String,
    /// The webhook delivered to.
    pub webhook_id: String,
    /// Event name, e.g. `c1.webhooks.v1.PayloadProvisionStep`.
    pub event: String,
    /// What the delivery is about (a task id; the webhook id for tests).
    pub subject_id: String,
    /// The envelope's `payload`.
    pub payload: Value,
    /// [`PENDING`], [`WAITING_CALLBACK`], [`DONE`], [`FAILED`] or [`GONE`].
    pub state: String,
    /// Attempts made so far.
    pub attempts: i64,
    /// When the next attempt is due, while one is planned.
    pub next_attempt_at: Option<Timestamp>,
    /// When the last attempt started.
    pub last_attempt_at: Option<Timestamp>,
    /// What went wrong last ("" when nothing did).
    pub last_error: String,
    /// The receiver's reply document (synchronous or by callback), once done.
    pub reply: Option<Value>,
    /// Until when the latest attempt's callback URL may be used.
    pub callback_expires_at: Option<Timestamp>,
    /// The URL the latest attempt was sent to.
    pub destination: String,
    /// Created.
    pub created_at: Timestamp,
    /// Last changed.
    pub updated_at: Timestamp,
    /// Finished (done, failed or gone).
    pub completed_at: Option<Timestamp>,
}

impl Delivery {
    /// Whether the delivery has ended (no attempt or callback can change it any more).
    pub fn is_finished(&self) -> bool {
        matches!(self.state.as_str(), DONE | FAILED | GONE)
    }
}

const COLUMNS: &str = "id, webhook_id, event, subject_id, payload, state, attempts, next_attempt_at, last_attempt_at, last_error, reply, callback_expires_at, destination, created_at, updated_at, completed_at";

fn opt_ts(r: &sqlx::any::AnyRow, i: usize) -> Result<Option<Timestamp>, StoreError> {
    Ok(r.try_get::<Option<i64>, _>(i)?.map(Timestamp::from_micros))
}

fn from_row(r: &sqlx::any::AnyRow) -> Result<Delivery, StoreError> {
    let corrupt = |e: serde_json::Error| StoreError::Corrupt("webhook delivery", e.to_string());
    let payload: String = r.try_get(4)?;
    let reply: Option<String> = r.try_get(10)?;
    Ok(Delivery {
        id: r.try_get(0)?,
        webhook_id: r.try_get(1)?,
        event: r.try_get(2)?,
        subject_id: r.try_get(3)?,
        payload: serde_json::from_str(&payload).map_err(corrupt)?,
        state: r.try_get(5)?,
        attempts: r.try_get(6)?,
        next_attempt_at: opt_ts(r, 7)?,
        last_attempt_at: opt_ts(r, 8)?,
        last_error: r.try_get(9)?,
        reply: match reply {
            Some(s) => Some(serde_json::from_str(&s).map_err(corrupt)?),
            None => None,
        },
        callback_expires_at: opt_ts(r, 11)?,
        destination: r.try_get(12)?,
        created_at: Timestamp::from_micros(r.try_get(13)?),
        updated_at: Timestamp::from_micros(r.try_get(14)?),
        completed_at: opt_ts(r, 15)?,
    })
}

/// Writes a new pending delivery of the live webhook `webhook_id` (no job), audited. Used by
/// [`enqueue_delivery`] and by the test button, which makes its one attempt in the request.
pub async fn insert_delivery(
    tx: &mut Tx<'_>,
    webhook_id: &str,
    event: &str,
    subject_id: &str,
    payload: &Value,
) -> Result<Delivery, StoreError> {
    let webhook: Webhook = tx.must_get(webhook_id).await?;
    let now = tx.now();
    let d = Delivery {
        id: new_id(),
        webhook_id: webhook.id.clone(),
        event: event.to_string(),
        subject_id: subject_id.to_string(),
        payload: payload.clone(),
        state: PENDING.into(),
        attempts: 0,
        next_attempt_at: Some(now),
        last_attempt_at: None,
        last_error: String::new(),
        reply: None,
        callback_expires_at: None,
        destination: webhook.url.clone(),
        created_at: now,
        updated_at: now,
        completed_at: None,
    };
    let mut sql = Sql::new("INSERT INTO webhook_deliveries (id, webhook_id, event, subject_id, payload, state, attempts, next_attempt_at, last_attempt_at, last_error, reply, callback_token_hash, callback_expires_at, callback_used_at, destination, created_at, updated_at, completed_at) VALUES (");
    sql.arg(d.id.as_str())
        .push(", ")
        .arg(d.webhook_id.as_str())
        .push(", ")
        .arg(event)
        .push(", ")
        .arg(subject_id)
        .push(", ")
        .arg(payload.to_string())
        .push(", ")
        .arg(PENDING)
        .push(", 0, ")
        .arg(now.as_micros())
        .push(", NULL, '', NULL, NULL, NULL, NULL, ")
        .arg(d.destination.as_str())
        .push(", ")
        .arg(now.as_micros())
        .push(", ")
        .arg(now.as_micros())
        .push(", NULL)");
    tx.exec(&sql).await?;
    tx.audit(
        Activity::Create,
        "webhook delivery",
        &d.id,
        None,
        Some(json!({"id": d.id, "webhookId": d.webhook_id, "event": event, "subject": subject_id, "destination": d.destination})),
    )
    .await?;
    Ok(d)
}

/// Queues a delivery of `event` with `payload` to the live webhook `webhook_id`, about
/// `subject_id` (e.g. a task id), inside the caller's transaction: it is sent only if that
/// transaction commits. Returns the delivery id; read the outcome with [`delivery`] or follow
/// the `webhook.delivered` change events.
pub async fn enqueue_delivery(
    tx: &mut Tx<'_>,
    webhook_id: &str,
    event: &str,
    subject_id: &str,
    payload: &Value,
) -> Result<String, StoreError> {
    let d = insert_delivery(tx, webhook_id, event, subject_id, payload).await?;
    let now = tx.now();
    enqueue_job(tx, &d.id, now).await?;
    Ok(d.id)
}

/// Queues the `webhook_delivery` job of delivery `id` at `run_at` (one live job per delivery):
/// it makes the due attempt, or ends a delivery whose callback did not come in time.
pub async fn enqueue_job(tx: &mut Tx<'_>, id: &str, run_at: Timestamp) -> Result<(), StoreError> {
    let job = NewJob {
        kind: DELIVERY_JOB.into(),
        subject_id: id.to_string(),
        active_key: Some(format!("{DELIVERY_JOB}:{id}")),
        payload: json!({ "deliveryId": id }),
        run_at,
        max_attempts: JOB_ATTEMPTS,
    };
    jobs::enqueue(tx, &job).await.map(|_| ())
}

/// A delivery by id (NotFound when there is none).
pub async fn delivery(store: &Store, id: &str) -> Result<Delivery, StoreError> {
    let mut sql = Sql::new(&format!(
        "SELECT {COLUMNS} FROM webhook_deliveries WHERE id = "
    ));
    sql.arg(id);
    match sql.query().fetch_optional(store.pool()).await? {
        Some(r) => from_row(&r),
        None => Err(StoreError::not_found("webhook delivery", id)),
    }
}

/// Deliveries about `subject_id`, oldest first.
pub async fn deliveries_for_subject(
    store: &Store,
    subject_id: &str,
) -> Result<Vec<Delivery>, StoreError> {
    let mut sql = Sql::new(&format!(
        "SELECT {COLUMNS} FROM webhook_deliveries WHERE subject_id = "
    ));
    sql.arg(subject_id).push(" ORDER BY id");
    sql.query()
        .fetch_all(store.pool())
        .await?
        .iter()
        .map(from_row)
        .collect()
}

/// Starts an attempt of a pending delivery: counts it, records the destination and the new
/// callback token's hash and expiry (the previous attempt's callback URL stops working).
/// Returns the updated delivery, or `None` when it is no longer pending.
pub async fn begin_attempt(
    store: &Store,
    id: &str,
    destination: &str,
    token_hash: &str,
    callback_expires_at: Timestamp,
) -> Result<Option<Delivery>, StoreError> {
    let now = Timestamp::now().as_micros();
    let mut sql =
        Sql::new("UPDATE webhook_deliveries SET attempts = attempts + 1, last_attempt_at = ");
    sql.arg(now)
        .push(", updated_at = ")
        .arg(now)
        .push(", next_attempt_at = NULL, destination = ")
        .arg(destination)
        .push(", callback_token_hash = ")
        .arg(token_hash)
        .push(", callback_expires_at = ")
        .arg(callback_expires_at.as_micros())
        .push(" WHERE id = ")
        .arg(id)
        .push(" AND state = ")
        .arg(PENDING);
    if sql.query().execute(store.pool()).await?.rows_affected() == 0 {
        return Ok(None);
    }
    delivery(store, id).await.map(Some)
}

/// How an attempt (or the wait for a callback) ended, to record on the delivery.
#[derive(Clone, Debug)]
pub enum Outcome {
    /// A reply document: the delivery is done.
    Reply(Value),
    /// 202: waiting for the callback.
    Accepted,
    /// Will be retried at `at`.
    RetryAt {
        /// What went wrong.
        error: String,
        /// When the next attempt is due.
        at: Timestamp,
    },
    /// Ended without a reply.
    Failed(String),
    /// The receiver answered 410.
    Gone(String),
}

fn completion_doc(d: &Delivery) -> Value {
    json!({
        "deliveryId": d.id,
        "webhookId": d.webhook_id,
        "event": d.event,
        "subject": d.subject_id,
        "state": d.state,
        "reply": d.reply,
        "error": d.last_error,
    })
}

async fn get_in_tx(tx: &mut Tx<'_>, id: &str) -> Result<Delivery, StoreError> {
    let mut sql = Sql::new(&format!(
        "SELECT {COLUMNS} FROM webhook_deliveries WHERE id = "
    ));
    sql.arg(id);
    match sql.query().fetch_optional(tx.conn()).await? {
        Some(r) => from_row(&r),
        None => Err(StoreError::not_found("webhook delivery", id)),
    }
}

/// Ends a delivery in `tx` (from `pending` or `waiting_callback`) with `state`, and appends its
/// `webhook.delivered` change event in the same transaction. Returns the delivery as recorded,
/// or `None` when it had already ended (e.g. the callback arrived before the 202 was recorded).
async fn finish_in_tx(
    tx: &mut Tx<'_>,
    id: &str,
    state: &str,
    reply: Option<&Value>,
    error: &str,
    extra: &str,
) -> Result<Option<Delivery>, StoreError> {
    let now = tx.now().as_micros();
    let mut sql = Sql::new("UPDATE webhook_deliveries SET state = ");
    sql.arg(state)
        .push(", updated_at = ")
        .arg(now)
        .push(", completed_at = ")
        .arg(now)
        .push(", next_attempt_at = NULL, last_error = ")
        .arg(error);
    if let Some(r) = reply {
        sql.push(", reply = ").arg(r.to_string());
    }
    sql.push(extra)
        .push(" WHERE id = ")
        .arg(id)
        .push(" AND state IN (")
        .arg(PENDING)
        .push(", ")
        .arg(WAITING_CALLBACK)
        .push(")");
    if tx.exec(&sql).await? == 0 {
        return Ok(None);
    }
    let d = get_in_tx(tx, id).await?;
    jobs::append_event(tx, DELIVERED_EVENT, "", &completion_doc(&d)).await?;
    Ok(Some(d))
}

/// Records how an attempt ended. Terminal outcomes append the `webhook.delivered` event in the
/// same transaction. Returns false when the delivery had already ended.
pub async fn record_outcome(
    store: &Store,
    ctx: &AuditCtx,
    id: &str,
    outcome: &Outcome,
) -> Result<bool, StoreError> {
    let now = Timestamp::now().as_micros();
    match outcome {
        Outcome::Accepted => {
            let mut sql = Sql::new("UPDATE webhook_deliveries SET state = ");
            sql.arg(WAITING_CALLBACK)
                .push(", last_error = '', updated_at = ")
                .arg(now)
                .push(" WHERE id = ")
                .arg(id)
                .push(" AND state = ")
                .arg(PENDING);
            Ok(sql.query().execute(store.pool()).await?.rows_affected() == 1)
        }
        Outcome::RetryAt { error, at } => {
            let mut sql = Sql::new("UPDATE webhook_deliveries SET last_error = ");
            sql.arg(error.as_str())
                .push(", next_attempt_at = ")
                .arg(at.as_micros())
                .push(", updated_at = ")
                .arg(now)
                .push(" WHERE id = ")
                .arg(id)
                .push(" AND state = ")
                .arg(PENDING);
            Ok(sql.query().execute(store.pool()).await?.rows_affected() == 1)
        }
        Outcome::Reply(v) => {
            let r = crate::write_tx!(store, ctx, |tx| {
                finish_in_tx(tx, id, DONE, Some(v), "", "").await
            })?;
            Ok(r.is_some())
        }
        Outcome::Failed(e) | Outcome::Gone(e) => {
            let state = if matches!(outcome, Outcome::Gone(_)) {
                GONE
            } else {
                FAILED
            };
            let r = crate::write_tx!(store, ctx, |tx| {
                finish_in_tx(tx, id, state, None, e, "").await
            })?;
            Ok(r.is_some())
        }
    }
}

/// Why a callback was refused.
#[derive(Clone, Debug, PartialEq)]
pub enum CallbackRefusal {
    /// No delivery has this token (or a later attempt replaced it).
    Unknown,
    /// The callback URL was used already, or the delivery ended.
    Used,
    /// The callback timeout passed.
    Expired,
}

/// Completes the delivery whose latest callback token hashes to `token_hash` with `reply`, once:
/// the delivery becomes done and its `webhook.delivered` event is appended in the same
/// transaction.
pub async fn complete_callback(
    store: &Store,
    ctx: &AuditCtx,
    token_hash: &str,
    reply: &Value,
) -> Result<Result<Delivery, CallbackRefusal>, StoreError> {
    crate::write_tx!(store, ctx, |tx| {
        let mut sql = Sql::new(
            "SELECT id, state, callback_expires_at, callback_used_at FROM webhook_deliveries WHERE callback_token_hash = ",
        );
        sql.arg(token_hash);
        let Some(row) = sql.query().fetch_optional(tx.conn()).await? else {
            return Ok(Err(CallbackRefusal::Unknown));
        };
        let id: String = row.try_get(0)?;
        let state: String = row.try_get(1)?;
        let expires: Option<i64> = row.try_get(2)?;
        let used: Option<i64> = row.try_get(3)?;
        if used.is_some() || !matches!(state.as_str(), PENDING | WAITING_CALLBACK) {
            return Ok(Err(CallbackRefusal::Used));
        }
        if expires.is_none_or(|e| e < tx.now().as_micros()) {
            return Ok(Err(CallbackRefusal::Expired));
        }
        let used_at = format!(", callback_used_at = {}", tx.now().as_micros());
        match finish_in_tx(tx, &id, DONE, Some(reply), "", &used_at).await? {
            Some(d) => Ok(Ok(d)),
            None => Ok(Err(CallbackRefusal::Used)),
        }
    })
}

/// Ends a delivery still waiting for its callback once the callback timeout has passed.
/// Returns whether it was ended now.
pub async fn expire_callback(store: &Store, ctx: &AuditCtx, id: &str) -> Result<bool, StoreError> {
    let r = crate::write_tx!(store, ctx, |tx| {
        let d = get_in_tx(tx, id).await?;
        if d.state != WAITING_CALLBACK
            || d.callback_expires_at
                .is_some_and(|e| e.as_micros() > tx.now().as_micros())
        {
            return Ok(None);
        }
        finish_in_tx(
            tx,
            id,
            FAILED,
            None,
            "the receiver answered 202 but did not call the callback URL before the callback timeout",
            "",
        )
        .await
    })?;
    Ok(r.is_some())
}
