//! The write transaction handed to [`crate::Store::write`] closures.

use crate::record::{self, doc_of, Col, Record, Sql};
use crate::{Backend, StoreError};
use chamberlain_model::{new_id, Timestamp};
use serde_json::Value;
use sqlx::AnyConnection;

/// Who is making a change and under which request: written into every system-log event.
#[derive(Clone, Debug, Default)]
pub struct AuditCtx {
    /// The acting user (empty for the server itself, e.g. the admin CLI's bootstrap).
    pub actor_user_id: String,
    /// The API client used, if any.
    pub actor_client_id: String,
    /// The request id the change was made under.
    pub request_id: String,
}

impl AuditCtx {
    /// Context for changes the server or the local admin CLI makes on its own authority.
    pub fn system(what: &str) -> Self {
        AuditCtx {
            actor_user_id: String::new(),
            actor_client_id: format!("system:{what}"),
            request_id: new_id(),
        }
    }
}

const AUDIT_INSERT: &str = "INSERT INTO system_log (id, occurred_at, actor_user_id, actor_client_id, action, object_kind, object_id, request_id, doc) VALUES ";

/// Bound values per bulk statement (see [`Tx::create_many`]).
pub const BULK_PARAMS: usize = 240;

/// System-log rows per bulk statement (nine values each).
const AUDIT_ROWS: usize = BULK_PARAMS / AUDIT_COLS;

/// Values per system-log row.
const AUDIT_COLS: usize = 9;

const EVENT_INSERT: &str = "INSERT INTO change_events (id, occurred_at, kind, app_id, doc) VALUES ";

/// Values per change-event row.
const EVENT_COLS: usize = 5;

/// Change events per bulk statement.
const EVENT_ROWS: usize = BULK_PARAMS / EVENT_COLS;

/// How the pending rows of one table are written.
struct PendingTable {
    insert: &'static str,
    cols: usize,
    rows_per_statement: usize,
}

const AUDIT_TABLE: PendingTable = PendingTable {
    insert: AUDIT_INSERT,
    cols: AUDIT_COLS,
    rows_per_statement: AUDIT_ROWS,
};

const EVENT_TABLE: PendingTable = PendingTable {
    insert: EVENT_INSERT,
    cols: EVENT_COLS,
    rows_per_statement: EVENT_ROWS,
};

/// A write transaction. Every change made through it should be paired with [`Tx::audit`].
pub struct Tx<'a> {
    conn: &'a mut AnyConnection,
    ctx: &'a AuditCtx,
    backend: Backend,
    now: Timestamp,
    pending: Pending,
}

/// System-log rows and change events a write block has appended but not yet written. They are
/// written with one multi-row INSERT per table just before the transaction commits (for a
/// SQLite commit group, one for the whole group), instead of one statement each: on SQLite
/// every statement is a round trip to the connection's thread, and the typical change is one
/// row plus its event. Nothing reads these tables inside the transaction that wrote them.
#[derive(Default, Debug)]
pub struct Pending {
    /// [`AUDIT_COLS`] values per row.
    audit: Vec<Col>,
    /// [`EVENT_COLS`] values per row.
    events: Vec<Col>,
}

impl Pending {
    /// Whether nothing is waiting to be written.
    pub fn is_empty(&self) -> bool {
        self.audit.is_empty() && self.events.is_empty()
    }

    /// Adds another block's rows after these.
    pub(crate) fn append(&mut self, mut other: Pending) {
        self.audit.append(&mut other.audit);
        self.events.append(&mut other.events);
    }

    /// Writes every waiting row and empties the buffer.
    pub(crate) async fn write(
        &mut self,
        conn: &mut AnyConnection,
        backend: Backend,
    ) -> Result<(), StoreError> {
        write_rows(conn, backend, &AUDIT_TABLE, &mut self.audit).await?;
        write_rows(conn, backend, &EVENT_TABLE, &mut self.events).await
    }

    /// Writes the tables that hold at least a full statement's worth (bounding the buffer in
    /// a transaction that appends many rows one at a time).
    async fn write_full(
        &mut self,
        conn: &mut AnyConnection,
        backend: Backend,
    ) -> Result<(), StoreError> {
        if self.audit.len() >= AUDIT_COLS * AUDIT_ROWS {
            write_rows(conn, backend, &AUDIT_TABLE, &mut self.audit).await?;
        }
        if self.events.len() >= EVENT_COLS * EVENT_ROWS {
            write_rows(conn, backend, &EVENT_TABLE, &mut self.events).await?;
        }
        Ok(())
    }
}

/// Writes `values` (`table.cols` per row) in statements of at most `table.rows_per_statement`.
async fn write_rows(
    conn: &mut AnyConnection,
    backend: Backend,
    table: &PendingTable,
    values: &mut Vec<Col>,
) -> Result<(), StoreError> {
    let (cols, rows) = (table.cols, table.rows_per_statement);
    for part in values.chunks(cols * rows) {
        let mut sql = Sql::new(table.insert);
        for (i, row) in part.chunks(cols).enumerate() {
            sql.push(if i == 0 { "(" } else { ", (" });
            for (j, v) in row.iter().enumerate() {
                if j > 0 {
                    sql.push(", ");
                }
                sql.arg(v.clone());
            }
            sql.push(")");
        }
        let text = sql.text_for(backend);
        sql.query_text(&text).execute(&mut *conn).await?;
    }
    values.clear();
    Ok(())
}

/// The kind of change an event records (OCSF Entity Management activities).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Activity {
    /// Created.
    Create,
    /// Changed.
    Update,
    /// Deleted (soft).
    Delete,
}

impl Activity {
    fn ocsf(self) -> (i64, &'static str) {
        match self {
            Activity::Create => (1, "Create"),
            Activity::Update => (3, "Update"),
            Activity::Delete => (4, "Delete"),
        }
    }
}

impl<'a> Tx<'a> {
    /// Wraps an open transaction's connection (see [`crate::write_tx!`]).
    pub fn new(conn: &'a mut AnyConnection, ctx: &'a AuditCtx, backend: Backend) -> Self {
        Tx {
            conn,
            ctx,
            backend,
            now: Timestamp::now(),
            pending: Pending::default(),
        }
    }

    /// Ends the block: what it appended to the system log and change events, still to be
    /// written before the commit.
    pub fn into_pending(self) -> Pending {
        self.pending
    }

    /// Appends a change event (see `repo::jobs::append_event`); returns its id.
    pub(crate) async fn append_event(
        &mut self,
        kind: &str,
        app_id: &str,
        doc: String,
    ) -> Result<String, StoreError> {
        let id = new_id();
        self.pending.events.extend([
            Col::Text(id.clone()),
            Col::Int(self.now.as_micros()),
            Col::Text(kind.to_string()),
            Col::Text(app_id.to_string()),
            Col::Text(doc),
        ]);
        self.pending.write_full(self.conn, self.backend).await?;
        Ok(id)
    }

    /// The connection, for statements the generic helpers do not cover.
    pub fn conn(&mut self) -> &mut AnyConnection {
        self.conn
    }

    /// The engine.
    pub fn backend(&self) -> Backend {
        self.backend
    }

    /// The transaction's clock: every timestamp written in one transaction is the same.
    pub fn now(&self) -> Timestamp {
        self.now
    }

    /// The audit context.
    pub fn ctx(&self) -> &AuditCtx {
        self.ctx
    }

    /// Executes a statement built with [`Sql`], returning the number of rows affected.
    pub async fn exec(&mut self, sql: &Sql) -> Result<u64, StoreError> {
        let text = sql.text_for(self.backend);
        Ok(sql
            .query_text(&text)
            .execute(&mut *self.conn)
            .await?
            .rows_affected())
    }

    /// Inserts a new record.
    pub async fn insert<R: Record>(&mut self, r: &R) -> Result<(), StoreError> {
        let cols = r.columns();
        let mut sql = Sql::new(&format!("INSERT INTO {} (id, doc", R::TABLE));
        for (c, _) in &cols {
            sql.push(", ").push(c);
        }
        sql.push(") VALUES (")
            .arg(r.id())
            .push(", ")
            .arg(doc_of(r)?);
        for (_, v) in cols {
            sql.push(", ").arg(v);
        }
        sql.push(")");
        self.exec(&sql).await.map_err(|e| {
            if e.is_unique_violation() {
                StoreError::Conflict(format!("{} `{}` already exists", R::KIND, r.id()))
            } else {
                e
            }
        })?;
        Ok(())
    }

    /// Rewrites an existing record (document and index columns).
    pub async fn update<R: Record>(&mut self, r: &R) -> Result<(), StoreError> {
        let mut sql = Sql::new(&format!("UPDATE {} SET doc = ", R::TABLE));
        sql.arg(doc_of(r)?);
        for (c, v) in r.columns() {
            sql.push(", ").push(c).push(" = ").arg(v);
        }
        sql.push(" WHERE id = ").arg(r.id());
        if self.exec(&sql).await? == 0 {
            return Err(StoreError::not_found(R::KIND, r.id()));
        }
        Ok(())
    }

    /// Reads a live record inside the transaction.
    pub async fn get<R: Record>(&mut self, id: &str) -> Result<Option<R>, StoreError> {
        record::get::<R, _>(&mut *self.conn, id, false).await
    }

    /// Reads a live record or fails with NotFound.
    pub async fn must_get<R: Record>(&mut self, id: &str) -> Result<R, StoreError> {
        record::must_get::<R, _>(&mut *self.conn, id).await
    }

    /// Soft-deletes a record and records the event.
    pub async fn soft_delete<R: Record>(&mut self, id: &str) -> Result<R, StoreError> {
        let mut r: R = self.must_get(id).await?;
        let before = serde_json::to_value(&r).ok();
        r.set_deleted(self.now);
        self.update(&r).await?;
        self.audit(
            Activity::Delete,
            R::KIND,
            id,
            before,
            serde_json::to_value(&r).ok(),
        )
        .await?;
        Ok(r)
    }

    /// Creates a record and records the event.
    pub async fn create<R: Record>(&mut self, r: &R) -> Result<(), StoreError> {
        self.insert(r).await?;
        self.audit(
            Activity::Create,
            R::KIND,
            r.id(),
            None,
            serde_json::to_value(r).ok(),
        )
        .await
    }

    /// Replaces a record and records the event with both versions.
    pub async fn replace<R: Record>(&mut self, before: &R, after: &R) -> Result<(), StoreError> {
        self.update(after).await?;
        self.audit(
            Activity::Update,
            R::KIND,
            after.id(),
            serde_json::to_value(before).ok(),
            serde_json::to_value(after).ok(),
        )
        .await
    }

    /// Appends a system-log event (OCSF Entity Management, class 3004) for a change made in this
    /// transaction.
    pub async fn audit(
        &mut self,
        activity: Activity,
        kind: &str,
        object_id: &str,
        before: Option<Value>,
        after: Option<Value>,
    ) -> Result<(), StoreError> {
        let before = before.map(|v| v.to_string());
        let after = after.map(|v| v.to_string());
        self.audit_json(
            activity,
            kind,
            object_id,
            before.as_deref(),
            after.as_deref(),
        )
        .await
    }

    /// [`Tx::audit`] with the versions already serialized (JSON text). The row joins the
    /// pending ones (see [`Pending`]); a full statement's worth is written at once.
    pub async fn audit_json(
        &mut self,
        activity: Activity,
        kind: &str,
        object_id: &str,
        before: Option<&str>,
        after: Option<&str>,
    ) -> Result<(), StoreError> {
        let row = self.audit_row(activity, kind, object_id, before, after);
        self.pending.audit.extend(row);
        self.pending.write_full(self.conn, self.backend).await
    }

    /// Appends `(…)` values of one system-log row to an `INSERT INTO system_log … VALUES`.
    fn push_audit_row(
        &self,
        sql: &mut Sql,
        activity: Activity,
        kind: &str,
        object_id: &str,
        before: Option<Value>,
        after: Option<Value>,
    ) {
        let before = before.map(|v| v.to_string());
        let after = after.map(|v| v.to_string());
        self.push_audit_row_json(
            sql,
            activity,
            kind,
            object_id,
            before.as_deref(),
            after.as_deref(),
        );
    }

    /// [`Tx::push_audit_row`] with the versions already serialized (JSON text), so a caller
    /// that has an object's document spends no second serialization on its event.
    fn push_audit_row_json(
        &self,
        sql: &mut Sql,
        activity: Activity,
        kind: &str,
        object_id: &str,
        before: Option<&str>,
        after: Option<&str>,
    ) {
        sql.push("(");
        for (i, v) in self
            .audit_row(activity, kind, object_id, before, after)
            .into_iter()
            .enumerate()
        {
            if i > 0 {
                sql.push(", ");
            }
            sql.arg(v);
        }
        sql.push(")");
    }

    /// The values of one system-log row, in [`AUDIT_INSERT`]'s column order.
    fn audit_row(
        &self,
        activity: Activity,
        kind: &str,
        object_id: &str,
        before: Option<&str>,
        after: Option<&str>,
    ) -> [Col; AUDIT_COLS] {
        let id = new_id();
        let event = self.event_json(&id, activity, kind, object_id, before, after);
        [
            Col::Text(id),
            Col::Int(self.now.as_micros()),
            Col::Text(self.ctx.actor_user_id.clone()),
            Col::Text(self.ctx.actor_client_id.clone()),
            Col::Text(activity.ocsf().1.to_string()),
            Col::Text(kind.to_string()),
            Col::Text(object_id.to_string()),
            Col::Text(self.ctx.request_id.clone()),
            Col::Text(event),
        ]
    }

    /// The OCSF event (keys in the order `serde_json` writes a map: sorted), with `before` and
    /// `after` spliced in as they are (JSON text, or `null`).
    fn event_json(
        &self,
        id: &str,
        activity: Activity,
        kind: &str,
        object_id: &str,
        before: Option<&str>,
        after: Option<&str>,
    ) -> String {
        use std::fmt::Write;
        let (activity_id, activity_name) = activity.ocsf();
        let q = |s: &str| Value::from(s).to_string();
        let (kind_q, object_q) = (q(kind), q(object_id));
        let mut out = String::with_capacity(
            700 + before.map_or(4, str::len) + after.map_or(4, str::len) + object_id.len() * 3,
        );
        let _ = write!(
            out,
            concat!(
                r#"{{"activity_id":{},"activity_name":"{}","#,
                r#""actor":{{"app_uid":{},"user":{{"uid":{}}}}},"#,
                r#""category_name":"Identity & Access Management","category_uid":3,"#,
                r#""class_name":"Entity Management","class_uid":3004,"#,
                r#""entity":{{"data":{},"type":{},"uid":{}}},"#,
                r#""entity_result":{{"data":{},"type":{},"uid":{}}},"#,
                r#""message":{},"#,
                r#""metadata":{{"correlation_uid":{},"product":{{"name":"Chamberlain","vendor_name":"Chamberlain"}},"uid":{},"version":"1.1.0"}},"#,
                r#""severity_id":1,"time":{},"time_dt":{},"type_uid":{}}}"#
            ),
            activity_id,
            activity_name,
            q(&self.ctx.actor_client_id),
            q(&self.ctx.actor_user_id),
            before.unwrap_or("null"),
            kind_q,
            object_q,
            after.unwrap_or("null"),
            kind_q,
            object_q,
            q(&format!("{activity_name} {kind} {object_id}")),
            q(&self.ctx.request_id),
            q(id),
            self.now.as_micros() / 1000,
            q(&self.now.to_string()),
            300400 + activity_id,
        );
        out
    }

    /// Writes many changed records of one kind with multi-row upserts (`INSERT … ON CONFLICT (id)
    /// DO UPDATE`, which SQLite and PostgreSQL both speak), each change with its system-log
    /// event carrying both versions. Used by identity resolution, which updates users and
    /// accounts by the thousand.
    pub async fn replace_many<R: Record>(&mut self, changes: &[(R, R)]) -> Result<(), StoreError> {
        let afters: Vec<&R> = changes.iter().map(|(_, a)| a).collect();
        let docs = afters
            .iter()
            .map(|r| doc_of(*r))
            .collect::<Result<Vec<String>, _>>()?;
        self.upsert_docs(&afters, &docs, None).await?;
        for (part, docs) in changes.chunks(AUDIT_ROWS).zip(docs.chunks(AUDIT_ROWS)) {
            let mut sql = Sql::new(AUDIT_INSERT);
            for (i, ((before, after), doc)) in part.iter().zip(docs).enumerate() {
                if i > 0 {
                    sql.push(", ");
                }
                let before = doc_of(before)?;
                self.push_audit_row_json(
                    &mut sql,
                    Activity::Update,
                    R::KIND,
                    after.id(),
                    Some(&before),
                    Some(doc),
                );
            }
            self.exec(&sql).await?;
        }
        Ok(())
    }

    /// Writes records (new or existing) with multi-row upserts, without auditing: the caller
    /// audits (see [`Tx::audit_many`]).
    pub async fn upsert_rows<R: Record>(&mut self, records: &[&R]) -> Result<(), StoreError> {
        self.upsert_rows_with(records, None).await
    }

    /// [`Tx::upsert_rows`] that also sets a column the record does not derive (`extra`: its
    /// name and one value per record), in the same statement: SQLite rewrites a whole row per
    /// update, so a second `UPDATE` would write every document twice.
    pub async fn upsert_rows_with<R: Record>(
        &mut self,
        records: &[&R],
        extra: Option<(&'static str, &[Col])>,
    ) -> Result<(), StoreError> {
        let docs = records
            .iter()
            .map(|r| doc_of(*r))
            .collect::<Result<Vec<String>, _>>()?;
        self.upsert_docs(records, &docs, extra).await
    }

    /// [`Tx::upsert_rows_with`] with each record's document already serialized.
    async fn upsert_docs<R: Record>(
        &mut self,
        records: &[&R],
        docs: &[String],
        extra: Option<(&'static str, &[Col])>,
    ) -> Result<(), StoreError> {
        let Some(first) = records.first() else {
            return Ok(());
        };
        let mut names: Vec<&'static str> = first.columns().iter().map(|(c, _)| *c).collect();
        if let Some((name, values)) = extra {
            debug_assert_eq!(values.len(), records.len());
            names.push(name);
        }
        let per_row = names.len() + 2;
        let rows = (BULK_PARAMS / per_row).max(1);
        let mut set = String::from("doc = excluded.doc");
        for n in &names {
            set.push_str(&format!(", {n} = excluded.{n}"));
        }
        for (chunk, part) in records.chunks(rows).enumerate() {
            let mut sql = Sql::new(&format!(
                "INSERT INTO {} (id, doc, {}) VALUES ",
                R::TABLE,
                names.join(", ")
            ));
            for (i, r) in part.iter().enumerate() {
                sql.push(if i == 0 { "(" } else { ", (" })
                    .arg(r.id())
                    .push(", ")
                    .arg(docs[chunk * rows + i].as_str());
                for (_, v) in r.columns() {
                    sql.push(", ").arg(v);
                }
                if let Some((_, values)) = extra {
                    sql.push(", ").arg(values[chunk * rows + i].clone());
                }
                sql.push(")");
            }
            sql.push(" ON CONFLICT (id) DO UPDATE SET ").push(&set);
            self.exec(&sql).await?;
        }
        Ok(())
    }

    /// Appends many system-log events of one kind in bulk: `(object id, before, after)`.
    pub async fn audit_many(
        &mut self,
        activity: Activity,
        kind: &str,
        events: &[(&str, Option<Value>, Option<Value>)],
    ) -> Result<(), StoreError> {
        for part in events.chunks(AUDIT_ROWS) {
            let mut sql = Sql::new(AUDIT_INSERT);
            for (i, (id, before, after)) in part.iter().enumerate() {
                if i > 0 {
                    sql.push(", ");
                }
                self.push_audit_row(&mut sql, activity, kind, id, before.clone(), after.clone());
            }
            self.exec(&sql).await?;
        }
        Ok(())
    }

    /// Creates many records of one kind with multi-row INSERTs, each with its system-log event
    /// (also written in bulk). Used by syncs, which create objects by the hundred thousand.
    pub async fn create_many<R: Record>(&mut self, records: &[R]) -> Result<(), StoreError> {
        let Some(first) = records.first() else {
            return Ok(());
        };
        // Each document is serialized once, for its row and its event.
        let docs = records
            .iter()
            .map(doc_of)
            .collect::<Result<Vec<String>, _>>()?;
        let names: Vec<&'static str> = first.columns().iter().map(|(c, _)| *c).collect();
        // Rows per statement: few enough bound values that SQLite's per-statement parameter
        // lookups stay cheap, many enough to amortize each round trip.
        let per_row = names.len() + 2;
        let rows = (BULK_PARAMS / per_row).max(1);
        for (part, docs) in records.chunks(rows).zip(docs.chunks(rows)) {
            let mut sql = Sql::new(&format!(
                "INSERT INTO {} (id, doc, {}) VALUES ",
                R::TABLE,
                names.join(", ")
            ));
            for (i, (r, doc)) in part.iter().zip(docs).enumerate() {
                sql.push(if i == 0 { "(" } else { ", (" })
                    .arg(r.id())
                    .push(", ")
                    .arg(doc.as_str());
                for (_, v) in r.columns() {
                    sql.push(", ").arg(v);
                }
                sql.push(")");
            }
            self.exec(&sql).await?;
        }
        for (part, docs) in records.chunks(AUDIT_ROWS).zip(docs.chunks(AUDIT_ROWS)) {
            let mut sql = Sql::new(AUDIT_INSERT);
            for (i, (r, doc)) in part.iter().zip(docs).enumerate() {
                if i > 0 {
                    sql.push(", ");
                }
                self.push_audit_row_json(
                    &mut sql,
                    Activity::Create,
                    R::KIND,
                    r.id(),
                    None,
                    Some(doc),
                );
            }
            self.exec(&sql).await?;
        }
        Ok(())
    }
}
