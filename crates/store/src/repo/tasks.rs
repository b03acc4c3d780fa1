//! Tasks (`c1.api.task.v1.Task`), their assignees and their audit trail.
//!
//! Tasks are not plain [`crate::record::Record`]s: every update is conditional on the version
//! read (so two approvers acting at once produce one outcome: the loser's transaction is retried
//! and sees the new state), and `open_key` makes a duplicate open request impossible.

use crate::page::Page;
use crate::record::{list_page, Col, PageReq, Sql};
use crate::tx::Tx;
use crate::StoreError;
use chamberlain_model::task::{Task, TaskState};
use chamberlain_model::{new_id, Timestamp};
use serde_json::Value;
use sqlx::Row;

/// A task as stored: the object plus the version its next update must match.
#[derive(Clone, Debug)]
pub struct StoredTask {
    /// The C1 object.
    pub task: Task,
    /// Optimistic-concurrency version.
    pub version: i64,
}

/// The key that is unique among open tasks: one open request per (kind, entitlement, account).
pub fn open_key(task: &Task) -> Option<String> {
    if task.state == TaskState::Closed {
        return None;
    }
    if let Some(g) = &task.task_type.grant {
        return Some(format!("grant:{}:{}", g.app_entitlement_id, g.app_user_id));
    }
    if let Some(r) = &task.task_type.revoke {
        return Some(format!("revoke:{}:{}", r.app_entitlement_id, r.app_user_id));
    }
    None
}

struct Cols {
    kind: &'static str,
    app_id: String,
    entitlement_id: String,
    app_user_id: String,
    outcome: String,
}

fn cols(task: &Task) -> Cols {
    if let Some(g) = &task.task_type.grant {
        Cols {
            kind: "grant",
            app_id: g.app_id.clone(),
            entitlement_id: g.app_entitlement_id.clone(),
            app_user_id: g.app_user_id.clone(),
            outcome: g.outcome.as_str().into(),
        }
    } else if let Some(r) = &task.task_type.revoke {
        Cols {
            kind: "revoke",
            app_id: r.app_id.clone(),
            entitlement_id: r.app_entitlement_id.clone(),
            app_user_id: r.app_user_id.clone(),
            outcome: r.outcome.as_str().into(),
        }
    } else {
        Cols {
            kind: "other",
            app_id: String::new(),
            entitlement_id: String::new(),
            app_user_id: String::new(),
            outcome: String::new(),
        }
    }
}

fn current_step(task: &Task) -> &'static str {
    match task.policy.as_ref().and_then(|p| p.current.as_ref()) {
        Some(s) if s.approval.is_some() => "approval",
        Some(s) if s.provision.is_some() => "provision",
        Some(s) if s.wait.is_some() => "wait",
        Some(_) => "other",
        None => "",
    }
}

fn doc(task: &Task) -> Result<String, StoreError> {
    serde_json::to_string(task).map_err(|e| StoreError::Corrupt("task", e.to_string()))
}

/// Takes the next task number (inside the caller's transaction).
pub async fn next_numeric_id(tx: &mut Tx<'_>) -> Result<i64, StoreError> {
    tx.exec(&Sql::new(
        "UPDATE counters SET value = value + 1 WHERE name = 'task_numeric_id'",
    ))
    .await?;
    let row = Sql::new("SELECT value FROM counters WHERE name = 'task_numeric_id'")
        .query()
        .fetch_one(tx.conn())
        .await?;
    Ok(row.try_get::<i64, _>(0)?)
}

/// The open task with the same open key, if any.
pub async fn find_open(tx: &mut Tx<'_>, key: &str) -> Result<Option<StoredTask>, StoreError> {
    let mut sql = Sql::new("SELECT doc, version FROM tasks WHERE open_key = ");
    sql.arg(key);
    let row = sql.query().fetch_optional(tx.conn()).await?;
    row.map(|r| stored(&r)).transpose()
}

fn stored(r: &sqlx::any::AnyRow) -> Result<StoredTask, StoreError> {
    Ok(StoredTask {
        task: serde_json::from_str(&r.try_get::<String, _>("doc")?)
            .map_err(|e| StoreError::Corrupt("task", e.to_string()))?,
        version: r.try_get("version")?,
    })
}

/// Inserts a new task (its `numericId` already taken).
pub async fn insert(tx: &mut Tx<'_>, task: &Task) -> Result<(), StoreError> {
    let c = cols(task);
    let created = task.created_at.map(|t| t.as_micros()).unwrap_or(0);
    let mut sql = Sql::new("INSERT INTO tasks (id, numeric_id, kind, state, origin, subject_user_id, requester_id, app_id, entitlement_id, app_user_id, outcome, current_step, emergency, open_key, version, created_at, updated_at, deleted_at, doc) VALUES (");
    sql.arg(task.id.as_str())
        .push(", ")
        .arg(task.numeric_id)
        .push(", ")
        .arg(c.kind)
        .push(", ")
        .arg(task.state.as_str())
        .push(", ")
        .arg(task.origin.as_str())
        .push(", ")
        .arg(task.user_id.as_str())
        .push(", ")
        .arg(task.created_by_user_id.as_str())
        .push(", ")
        .arg(c.app_id)
        .push(", ")
        .arg(c.entitlement_id)
        .push(", ")
        .arg(c.app_user_id)
        .push(", ")
        .arg(c.outcome)
        .push(", ")
        .arg(current_step(task))
        .push(", ")
        .arg(i64::from(task.emergency_access))
        .push(", ")
        .arg(Col::OptText(open_key(task)))
        .push(", 1, ")
        .arg(created)
        .push(", ")
        .arg(created)
        .push(", NULL, ")
        .arg(doc(task)?)
        .push(")");
    tx.exec(&sql).await?;
    set_assignees(tx, task).await?;
    let mut added = task.step_approver_ids.clone();
    added.sort();
    added.dedup();
    changed_event(tx, task, None, added).await
}

/// The change-event kind written when a task is created, changes state or gets new assignees
/// (read by the notification pipeline).
pub const CHANGED_EVENT: &str = "task.changed";
/// The change-event kind written when someone comments on a task (a question or an answer, not
/// the comment that goes with an approval or denial).
pub const COMMENTED_EVENT: &str = "task.commented";

/// Appends a [`COMMENTED_EVENT`] for a comment by `author_id` on `task`.
pub async fn commented_event(
    tx: &mut Tx<'_>,
    task: &Task,
    author_id: &str,
    comment: &str,
) -> Result<(), StoreError> {
    let event = serde_json::json!({
        "taskId": task.id,
        "numericId": task.numeric_id.to_string(),
        "authorId": author_id,
        "comment": comment.chars().take(2000).collect::<String>(),
        "state": task.state.as_str(),
        "subjectUserId": task.user_id,
        "requesterId": task.created_by_user_id,
    });
    let app = cols(task).app_id;
    crate::repo::jobs::append_event(tx, COMMENTED_EVENT, &app, &event)
        .await
        .map(|_| ())
}

/// Appends a [`CHANGED_EVENT`] when the task is new (`previous` is None), changed state, or has
/// assignees it did not have before.
async fn changed_event(
    tx: &mut Tx<'_>,
    task: &Task,
    previous: Option<&str>,
    added: Vec<String>,
) -> Result<(), StoreError> {
    let state_changed = previous.is_some_and(|state| state != task.state.as_str());
    if previous.is_some() && !state_changed && added.is_empty() {
        return Ok(());
    }
    let c = cols(task);
    let doc = serde_json::json!({
        "taskId": task.id,
        "numericId": task.numeric_id.to_string(),
        "created": previous.is_none(),
        "state": task.state.as_str(),
        "previousState": previous.unwrap_or(""),
        "kind": c.kind,
        "outcome": c.outcome,
        "origin": task.origin.as_str(),
        "subjectUserId": task.user_id,
        "requesterId": task.created_by_user_id,
        "appId": c.app_id,
        "appEntitlementId": c.entitlement_id,
        "step": current_step(task),
        "newAssignees": added,
    });
    crate::repo::jobs::append_event(tx, CHANGED_EVENT, &c.app_id, &doc)
        .await
        .map(|_| ())
}

/// Writes a changed task if nobody else changed it since `version` was read; otherwise
/// [`StoreError::Stale`] (the transaction is retried and re-reads the task).
pub async fn update(tx: &mut Tx<'_>, task: &Task, version: i64) -> Result<(), StoreError> {
    let c = cols(task);
    let mut sql = Sql::new("UPDATE tasks SET state = ");
    sql.arg(task.state.as_str())
        .push(", outcome = ")
        .arg(c.outcome)
        .push(", current_step = ")
        .arg(current_step(task))
        .push(", emergency = ")
        .arg(i64::from(task.emergency_access))
        .push(", open_key = ")
        .arg(Col::OptText(open_key(task)))
        .push(", version = version + 1, updated_at = ")
        .arg(task.updated_at.map(|t| t.as_micros()).unwrap_or(0))
        .push(", doc = ")
        .arg(doc(task)?)
        .push(" WHERE id = ")
        .arg(task.id.as_str())
        .push(" AND version = ")
        .arg(version);
    // What the task was, for the change event: its state and assignees before this write.
    let mut before = Sql::new("SELECT t.state, a.user_id FROM tasks t LEFT JOIN task_assignees a ON a.task_id = t.id WHERE t.id = ");
    before.arg(task.id.as_str());
    let rows = before.query().fetch_all(tx.conn()).await?;
    let previous_state: String = match rows.first() {
        Some(r) => r.try_get(0)?,
        None => String::new(),
    };
    let mut previous_assignees = Vec::new();
    for r in &rows {
        if let Some(u) = r.try_get::<Option<String>, _>(1)? {
            previous_assignees.push(u);
        }
    }
    if tx.exec(&sql).await? == 0 {
        return Err(StoreError::Stale(format!(
            "task {} changed while this action was applied",
            task.numeric_id
        )));
    }
    set_assignees(tx, task).await?;
    let mut added: Vec<String> = if task.state == TaskState::Closed {
        Vec::new()
    } else {
        task.step_approver_ids
            .iter()
            .filter(|u| !previous_assignees.contains(u))
            .cloned()
            .collect()
    };
    added.sort();
    added.dedup();
    changed_event(tx, task, Some(previous_state.as_str()), added).await
}

async fn set_assignees(tx: &mut Tx<'_>, task: &Task) -> Result<(), StoreError> {
    let mut del = Sql::new("DELETE FROM task_assignees WHERE task_id = ");
    del.arg(task.id.as_str());
    tx.exec(&del).await?;
    if task.state == TaskState::Closed {
        return Ok(());
    }
    let mut ids = task.step_approver_ids.clone();
    ids.sort();
    ids.dedup();
    for chunk in ids.chunks(400) {
        let mut sql = Sql::new("INSERT INTO task_assignees (task_id, user_id) VALUES ");
        for (i, u) in chunk.iter().enumerate() {
            if i > 0 {
                sql.push(", ");
            }
            sql.push("(")
                .arg(task.id.as_str())
                .push(", ")
                .arg(u.as_str())
                .push(")");
        }
        tx.exec(&sql).await?;
    }
    Ok(())
}

/// Reads a task by id or numeric id inside a transaction, locking its row first (a no-op
/// update), so a concurrent action on the same task waits for this transaction and then sees
/// its result instead of acting on the state both read.
pub async fn get_tx(tx: &mut Tx<'_>, id: &str) -> Result<Option<StoredTask>, StoreError> {
    let mut lock = Sql::new("UPDATE tasks SET version = version WHERE ");
    match id.parse::<i64>() {
        Ok(n) => lock.push("numeric_id = ").arg(n),
        Err(_) => lock.push("id = ").arg(id),
    };
    tx.exec(&lock).await?;
    let sql = by_id_sql(id);
    let row = sql.query().fetch_optional(tx.conn()).await?;
    row.map(|r| stored(&r)).transpose()
}

/// Reads a task by id or numeric id.
pub async fn get<'c, E: sqlx::Executor<'c, Database = sqlx::Any>>(
    e: E,
    id: &str,
) -> Result<Option<StoredTask>, StoreError> {
    let sql = by_id_sql(id);
    let row = sql.query().fetch_optional(e).await?;
    row.map(|r| stored(&r)).transpose()
}

fn by_id_sql(id: &str) -> Sql {
    let mut sql = Sql::new("SELECT doc, version FROM tasks WHERE deleted_at IS NULL AND ");
    match id.parse::<i64>() {
        Ok(n) => sql.push("numeric_id = ").arg(n),
        Err(_) => sql.push("id = ").arg(id),
    };
    sql
}

/// Filters for [`search`] (every set field must match; lists match any of their values).
#[derive(Clone, Debug, Default)]
pub struct TaskQuery {
    /// `grant`, `revoke`.
    pub kinds: Vec<String>,
    /// `TASK_STATE_OPEN`, `TASK_STATE_CLOSED`.
    pub states: Vec<String>,
    /// Users who may act on the current step.
    pub assignees: Vec<String>,
    /// Subjects (the users the access is for).
    pub subjects: Vec<String>,
    /// Requesters.
    pub requesters: Vec<String>,
    /// Apps.
    pub app_ids: Vec<String>,
    /// Entitlements.
    pub entitlement_ids: Vec<String>,
    /// Accounts.
    pub app_user_ids: Vec<String>,
    /// Outcomes (`GRANT_OUTCOME_*`, `REVOKE_OUTCOME_*`).
    pub outcomes: Vec<String>,
    /// Origins.
    pub origins: Vec<String>,
    /// `approval` or `provision`.
    pub current_step: Option<String>,
    /// Only emergency (true) or only non-emergency (false) tasks.
    pub emergency: Option<bool>,
    /// Ids to leave out.
    pub exclude_ids: Vec<String>,
    /// Created at or after (micros).
    pub created_after: Option<i64>,
    /// Created before (micros).
    pub created_before: Option<i64>,
    /// Only tasks this user is involved in (subject, requester or current assignee): what a
    /// caller without read-all access may see.
    pub involving: Option<String>,
}

/// Searches tasks, one keyset page at a time (newest first when `page.descending`).
pub async fn search<'c, E: sqlx::Executor<'c, Database = sqlx::Any>>(
    e: E,
    q: &TaskQuery,
    page: &PageReq,
) -> Result<Page<StoredTask>, StoreError> {
    let mut sql = Sql::new("SELECT t.id, t.doc, t.version FROM tasks t WHERE t.deleted_at IS NULL");
    let any_of = |sql: &mut Sql, col: &str, vals: &[String]| {
        if vals.is_empty() {
            return;
        }
        sql.push(&format!(" AND t.{col} IN ("));
        for (i, v) in vals.iter().enumerate() {
            if i > 0 {
                sql.push(", ");
            }
            sql.arg(v.as_str());
        }
        sql.push(")");
    };
    any_of(&mut sql, "kind", &q.kinds);
    any_of(&mut sql, "state", &q.states);
    any_of(&mut sql, "subject_user_id", &q.subjects);
    any_of(&mut sql, "requester_id", &q.requesters);
    any_of(&mut sql, "app_id", &q.app_ids);
    any_of(&mut sql, "entitlement_id", &q.entitlement_ids);
    any_of(&mut sql, "app_user_id", &q.app_user_ids);
    any_of(&mut sql, "outcome", &q.outcomes);
    any_of(&mut sql, "origin", &q.origins);
    if !q.assignees.is_empty() {
        sql.push(" AND t.id IN (SELECT task_id FROM task_assignees WHERE user_id IN (");
        for (i, v) in q.assignees.iter().enumerate() {
            if i > 0 {
                sql.push(", ");
            }
            sql.arg(v.as_str());
        }
        sql.push("))");
    }
    if !q.exclude_ids.is_empty() {
        sql.push(" AND t.id NOT IN (");
        for (i, v) in q.exclude_ids.iter().enumerate() {
            if i > 0 {
                sql.push(", ");
            }
            sql.arg(v.as_str());
        }
        sql.push(")");
    }
    if let Some(u) = &q.involving {
        sql.push(" AND (t.subject_user_id = ")
            .arg(u.as_str())
            .push(" OR t.requester_id = ")
            .arg(u.as_str())
            .push(" OR t.id IN (SELECT task_id FROM task_assignees WHERE user_id = ")
            .arg(u.as_str())
            .push("))");
    }
    if let Some(step) = &q.current_step {
        sql.push(" AND t.current_step = ").arg(step.as_str());
    }
    if let Some(em) = q.emergency {
        sql.push(" AND t.emergency = ").arg(i64::from(em));
    }
    if let Some(a) = q.created_after {
        sql.push(" AND t.created_at >= ").arg(a);
    }
    if let Some(b) = q.created_before {
        sql.push(" AND t.created_at < ").arg(b);
    }
    list_page(e, sql, "tasks", page, "t.id", stored).await
}

/// Open tasks whose current step is of `step` kind (the worker's queue of tasks to drive).
pub async fn open_ids_at_step<'c, E: sqlx::Executor<'c, Database = sqlx::Any>>(
    e: E,
    step: &str,
    limit: i64,
) -> Result<Vec<String>, StoreError> {
    let mut sql =
        Sql::new("SELECT id FROM tasks WHERE state = 'TASK_STATE_OPEN' AND current_step = ");
    sql.arg(step).push(" ORDER BY id LIMIT ").arg(limit);
    let rows = sql.query().fetch_all(e).await?;
    rows.iter()
        .map(|r| r.try_get::<String, _>(0).map_err(StoreError::from))
        .collect()
}

/// Appends an entry to a task's history (C1 `TaskAuditView`; `entry` holds the event's oneof
/// field and any extras). Returns the entry as stored.
pub async fn audit(
    tx: &mut Tx<'_>,
    task: &Task,
    actor_id: &str,
    entry: Value,
) -> Result<Value, StoreError> {
    let id = new_id();
    let now: Timestamp = tx.now();
    let is_comment = entry.get("comment").is_some();
    let mut doc = serde_json::json!({
        "id": id,
        "ticketId": task.id,
        "userId": actor_id,
        "created": now.to_string(),
        "currentState": task.state.as_str(),
        "eventType": "TASK_AUDIT_EVENT_TYPE_NEUTRAL",
        "source": "SOURCE_C1",
        "workflowStep": 0,
    });
    if let (Some(d), Value::Object(extra)) = (doc.as_object_mut(), entry) {
        for (k, v) in extra {
            d.insert(k, v);
        }
    }
    let mut sql =
        Sql::new("INSERT INTO task_audits (id, task_id, is_comment, created_at, doc) VALUES (");
    sql.arg(id.as_str())
        .push(", ")
        .arg(task.id.as_str())
        .push(", ")
        .arg(i64::from(is_comment))
        .push(", ")
        .arg(now.as_micros())
        .push(", ")
        .arg(doc.to_string())
        .push(")");
    tx.exec(&sql).await?;
    Ok(doc)
}

/// A task's history, oldest first (or newest first), optionally comments only.
pub async fn audits<'c, E: sqlx::Executor<'c, Database = sqlx::Any>>(
    e: E,
    task_id: &str,
    comments_only: bool,
    page: &PageReq,
) -> Result<Page<Value>, StoreError> {
    let mut sql = Sql::new("SELECT id, doc FROM task_audits WHERE task_id = ");
    sql.arg(task_id);
    if comments_only {
        sql.push(" AND is_comment = 1");
    }
    list_page(e, sql, &format!("task_audits:{task_id}"), page, "id", |r| {
        serde_json::from_str(&r.try_get::<String, _>("doc")?)
            .map_err(|e| StoreError::Corrupt("task audit", e.to_string()))
    })
    .await
}
