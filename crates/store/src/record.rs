//! Generic persistence of C1 objects: a [`Record`] is stored as its JSON document plus the
//! columns it is queried by, and listed with keyset pagination and simple [`Filter`]s.

use crate::page::{self, Page};
use crate::StoreError;
use serde::de::DeserializeOwned;
use serde::Serialize;
use sqlx::any::AnyArguments;
use sqlx::query::Query;
use sqlx::{Any, Executor, Row};

/// A value for an index column or a query parameter.
#[derive(Clone, Debug, PartialEq)]
pub enum Col {
    /// TEXT.
    Text(String),
    /// BIGINT (also booleans and timestamps in microseconds).
    Int(i64),
    /// Nullable BIGINT.
    OptInt(Option<i64>),
    /// Nullable TEXT.
    OptText(Option<String>),
}

impl From<&str> for Col {
    fn from(s: &str) -> Self {
        Col::Text(s.to_string())
    }
}
impl From<String> for Col {
    fn from(s: String) -> Self {
        Col::Text(s)
    }
}
impl From<i64> for Col {
    fn from(v: i64) -> Self {
        Col::Int(v)
    }
}
impl From<bool> for Col {
    fn from(v: bool) -> Self {
        Col::Int(i64::from(v))
    }
}

/// A C1 object kept in its own table.
pub trait Record: Serialize + DeserializeOwned + Send + Sync + Unpin + 'static {
    /// Table name.
    const TABLE: &'static str;
    /// Object kind as users read it in errors and the system log (e.g. "app entitlement").
    const KIND: &'static str;
    /// The primary key.
    fn id(&self) -> &str;
    /// Index columns other than `id` and `doc`, derived from the object.
    fn columns(&self) -> Vec<(&'static str, Col)>;
    /// Marks the object soft-deleted at `at` (microseconds).
    fn set_deleted(&mut self, at: chamberlain_model::Timestamp);
    /// The columns a read selects to rebuild the object: the document, plus any part of the
    /// object kept only in columns (see [`Record::from_row`]). Queries that read records write
    /// `SELECT {R::READ} FROM …`.
    const READ: &'static str = "doc";
    /// Rebuilds the object from a row holding the [`Record::READ`] columns.
    fn from_row(row: &sqlx::any::AnyRow) -> Result<Self, StoreError> {
        parse_doc::<Self>(&row.try_get::<String, _>("doc")?)
    }
}

/// A condition on a list query.
#[derive(Clone, Debug)]
pub enum Filter {
    /// `column = value`.
    Eq(&'static str, Col),
    /// `column IN (values)`; an empty list matches nothing.
    In(&'static str, Vec<String>),
    /// `column NOT IN (values)`; an empty list matches everything.
    NotIn(&'static str, Vec<String>),
    /// Case-insensitive substring match on any of the (lower-cased) columns.
    Contains(Vec<&'static str>, String),
    /// A raw SQL condition with `?` marking where each argument goes.
    Sql(String, Vec<Col>),
}

/// A small SQL builder that numbers `$n` placeholders as arguments are pushed.
#[derive(Default, Debug)]
pub struct Sql {
    /// The statement text.
    pub text: String,
    /// The arguments, in placeholder order.
    pub args: Vec<Col>,
    /// Where [`Sql::arg`] wrote each placeholder: (byte offset, length).
    marks: Vec<(usize, usize)>,
}

impl Sql {
    /// Starts a statement.
    pub fn new(text: &str) -> Self {
        Sql {
            text: text.to_string(),
            args: Vec::new(),
            marks: Vec::new(),
        }
    }

    /// The statement text for `backend`. SQLite gets anonymous `?` placeholders when every
    /// argument was pushed with [`Sql::arg`] (so placeholders and arguments are in the same
    /// order): SQLite looks a `$n` parameter's name up by a linear search on every bind (sqlx
    /// asks for each parameter's name), which made binding a statement with n parameters cost
    /// O(n²) each time it ran, not only when it was prepared.
    pub fn text_for(&self, backend: crate::Backend) -> std::borrow::Cow<'_, str> {
        if backend != crate::Backend::Sqlite
            || self.marks.is_empty()
            || self.marks.len() != self.args.len()
        {
            return std::borrow::Cow::Borrowed(&self.text);
        }
        let mut out = String::with_capacity(self.text.len());
        let mut at = 0;
        for &(start, len) in &self.marks {
            out.push_str(&self.text[at..start]);
            out.push('?');
            at = start + len;
        }
        out.push_str(&self.text[at..]);
        std::borrow::Cow::Owned(out)
    }
    /// Appends text.
    pub fn push(&mut self, s: &str) -> &mut Self {
        self.text.push_str(s);
        self
    }
    /// Appends a placeholder for `v`.
    pub fn arg(&mut self, v: impl Into<Col>) -> &mut Self {
        self.args.push(v.into());
        let start = self.text.len();
        self.text.push('$');
        self.text.push_str(&self.args.len().to_string());
        self.marks.push((start, self.text.len() - start));
        self
    }
    /// Appends `a, b, c` placeholders for a list.
    pub fn list(&mut self, vs: &[String]) -> &mut Self {
        for (i, v) in vs.iter().enumerate() {
            if i > 0 {
                self.push(", ");
            }
            self.arg(v.as_str());
        }
        self
    }
    /// Appends ` AND <filter>`.
    pub fn filter(&mut self, f: &Filter) -> &mut Self {
        match f {
            Filter::Eq(c, v) => {
                self.push(" AND ").push(c).push(" = ").arg(v.clone());
            }
            Filter::In(c, vs) if vs.is_empty() => {
                let _ = c;
                self.push(" AND 1 = 0");
            }
            Filter::In(c, vs) => {
                self.push(" AND ").push(c).push(" IN (").list(vs).push(")");
            }
            Filter::NotIn(_, vs) if vs.is_empty() => {}
            Filter::NotIn(c, vs) => {
                self.push(" AND ")
                    .push(c)
                    .push(" NOT IN (")
                    .list(vs)
                    .push(")");
            }
            Filter::Contains(cols, q) => {
                let pattern = format!("%{}%", escape_like(&q.to_lowercase()));
                self.push(" AND (");
                for (i, c) in cols.iter().enumerate() {
                    if i > 0 {
                        self.push(" OR ");
                    }
                    self.push(c)
                        .push(" LIKE ")
                        .arg(pattern.clone())
                        .push(" ESCAPE '\\'");
                }
                self.push(")");
            }
            Filter::Sql(text, args) => {
                self.push(" AND (");
                let mut args = args.iter();
                for (i, part) in text.split('?').enumerate() {
                    if i > 0 {
                        if let Some(a) = args.next() {
                            self.arg(a.clone());
                        }
                    }
                    self.push(part);
                }
                self.push(")");
            }
        }
        self
    }
    /// Builds the sqlx query with every argument bound.
    pub fn query(&self) -> Query<'_, Any, AnyArguments<'_>> {
        self.query_text(&self.text)
    }

    /// [`Sql::query`] on `text`, this statement's text as [`Sql::text_for`] gives it.
    pub fn query_text<'a>(&'a self, text: &'a str) -> Query<'a, Any, AnyArguments<'a>> {
        let mut q = sqlx::query(text);
        for a in &self.args {
            q = match a {
                // Borrowed: a bulk statement's documents are not copied once more here.
                Col::Text(s) => q.bind(s.as_str()),
                Col::Int(i) => q.bind(*i),
                Col::OptInt(o) => q.bind(*o),
                Col::OptText(o) => q.bind(o.as_deref()),
            };
        }
        q
    }
}

fn escape_like(s: &str) -> String {
    s.replace('\\', "\\\\")
        .replace('%', "\\%")
        .replace('_', "\\_")
}

/// Parses a stored document.
pub fn parse_doc<R: Record>(doc: &str) -> Result<R, StoreError> {
    serde_json::from_str(doc).map_err(|e| StoreError::Corrupt(R::KIND, e.to_string()))
}

/// Serializes a record for storage.
pub fn doc_of<R: Record>(r: &R) -> Result<String, StoreError> {
    serde_json::to_string(r).map_err(|e| StoreError::Corrupt(R::KIND, e.to_string()))
}

/// The records of every row `sql` returns (which selects [`Record::READ`]).
pub async fn fetch_docs<'c, R: Record, E: Executor<'c, Database = Any>>(
    e: E,
    sql: &Sql,
) -> Result<Vec<R>, StoreError> {
    let rows = sql.query().fetch_all(e).await?;
    rows.iter().map(R::from_row).collect()
}

/// Gets one record by id; soft-deleted ones only when `include_deleted`.
pub async fn get<'c, R: Record, E: Executor<'c, Database = Any>>(
    e: E,
    id: &str,
    include_deleted: bool,
) -> Result<Option<R>, StoreError> {
    let mut sql = Sql::new(&format!("SELECT {} FROM {} WHERE id = ", R::READ, R::TABLE));
    sql.arg(id);
    if !include_deleted {
        sql.push(" AND deleted_at IS NULL");
    }
    Ok(fetch_docs::<R, _>(e, &sql).await?.pop())
}

/// Gets one live record or a NotFound error.
pub async fn must_get<'c, R: Record, E: Executor<'c, Database = Any>>(
    e: E,
    id: &str,
) -> Result<R, StoreError> {
    get::<R, _>(e, id, false)
        .await?
        .ok_or_else(|| StoreError::not_found(R::KIND, id))
}

/// Request for one page of a list.
#[derive(Clone, Debug)]
pub struct PageReq {
    /// Page size, already clamped.
    pub size: i64,
    /// The raw page token the client sent (empty for the first page).
    pub token: String,
    /// Descending id order (newest first) instead of ascending.
    pub descending: bool,
}

impl PageReq {
    /// First page of `size` items in ascending order.
    pub fn first(size: i64) -> Self {
        PageReq {
            size,
            token: String::new(),
            descending: false,
        }
    }
}

/// Lists live records matching `filters`, one keyset page at a time, ordered by id.
pub async fn list<'c, R: Record, E: Executor<'c, Database = Any>>(
    e: E,
    filters: &[Filter],
    include_deleted: bool,
    page: &PageReq,
) -> Result<Page<R>, StoreError> {
    let mut sql = Sql::new(&format!(
        "SELECT id, {} FROM {} WHERE 1 = 1",
        R::READ,
        R::TABLE
    ));
    if !include_deleted {
        sql.push(" AND deleted_at IS NULL");
    }
    for f in filters {
        sql.filter(f);
    }
    list_page(e, sql, R::TABLE, page, "id", R::from_row).await
}

/// Completes `sql` (a SELECT with a WHERE clause) with keyset pagination on `id_col` and maps
/// each row; shared by every list in the store.
pub async fn list_page<'c, T, E: Executor<'c, Database = Any>>(
    e: E,
    mut sql: Sql,
    scope: &str,
    page: &PageReq,
    id_col: &str,
    map: impl Fn(&sqlx::any::AnyRow) -> Result<T, StoreError>,
) -> Result<Page<T>, StoreError> {
    if !page.token.is_empty() {
        let after = page::decode(scope, &page.token).map_err(StoreError::Invalid)?;
        sql.push(&format!(
            " AND {id_col} {} ",
            if page.descending { "<" } else { ">" }
        ))
        .arg(after);
    }
    sql.push(&format!(
        " ORDER BY {id_col} {} LIMIT ",
        if page.descending { "DESC" } else { "ASC" }
    ))
    .arg(page.size + 1);
    let rows = sql.query().fetch_all(e).await?;
    let more = rows.len() as i64 > page.size;
    let mut items = Vec::with_capacity(rows.len());
    let mut last_id = String::new();
    for row in rows.iter().take(page.size as usize) {
        last_id = row.try_get::<String, _>(0)?;
        items.push(map(row)?);
    }
    let next_page_token = if more {
        page::encode(scope, &last_id)
    } else {
        String::new()
    };
    Ok(Page {
        items,
        next_page_token,
    })
}

/// Bind parameters per bulk statement. SQLite resolves `$N` names by a linear search of the
/// names seen so far, so a statement with n named parameters costs O(n²) to prepare (30,000
/// took over a second) and, through sqlx, to bind each time it runs; bulk statements therefore
/// run with anonymous `?` placeholders on SQLite ([`Sql::text_for`]). Around a thousand keeps
/// round trips few on PostgreSQL.
pub const MAX_PARAMS_PER_STATEMENT: usize = 1_000;

/// Inserts many records of one kind with multi-row INSERTs inside the caller's transaction.
/// Used by bulk paths (large syncs, data loading), which audit a summary instead of each row.
pub async fn bulk_insert<R: Record>(
    conn: &mut sqlx::AnyConnection,
    rows: &[R],
) -> Result<u64, StoreError> {
    let Some(first) = rows.first() else {
        return Ok(0);
    };
    let names: Vec<&str> = first.columns().iter().map(|(c, _)| *c).collect();
    let per_row = names.len() + 2;
    let chunk = (MAX_PARAMS_PER_STATEMENT / per_row).max(1);
    let backend = if conn.backend_name().eq_ignore_ascii_case("sqlite") {
        crate::Backend::Sqlite
    } else {
        crate::Backend::Postgres
    };
    let mut written = 0;
    for part in rows.chunks(chunk) {
        let mut sql = Sql::new(&format!(
            "INSERT INTO {} (id, doc, {}) VALUES ",
            R::TABLE,
            names.join(", ")
        ));
        for (i, r) in part.iter().enumerate() {
            sql.push(if i == 0 { "(" } else { ", (" });
            sql.arg(r.id()).push(", ").arg(doc_of(r)?);
            for (_, v) in r.columns() {
                sql.push(", ").arg(v);
            }
            sql.push(")");
        }
        let text = sql.text_for(backend);
        written += sql
            .query_text(&text)
            .execute(&mut *conn)
            .await?
            .rows_affected();
    }
    Ok(written)
}
