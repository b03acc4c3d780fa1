//! Chamberlain's CEL module: the one place every feature compiles and evaluates CEL.
//!
//! It owns C1's CEL environment (variables, fields, constants and functions, per
//! [`Purpose`]), the checker that refuses bad expressions on save with line and column
//! ([`Marker`]), the budgets that keep evaluation bounded, and evaluation itself. It is built on
//! the `cel` crate (cel-rust), which parses and interprets but has no type checker or cost
//! limits; those are here.
//!
//! # Use
//!
//! ```
//! use chamberlain_cel::{Expression, Input, Purpose, Subject};
//! use chamberlain_model::user::User;
//!
//! let x = Expression::compile(Purpose::DynamicGroup, r#"subject.department == "SRE""#).unwrap();
//! let user = User { department: "SRE".into(), ..Default::default() };
//! let input = Input { subject: Some(Subject::User(&user)), ..Default::default() };
//! assert!(x.evaluate(&input).unwrap().as_bool().unwrap());
//! ```
//!
//! Compile once (on save or load), evaluate many times: an [`Expression`] is cheap to clone
//! and `Send + Sync`. Evaluation converts only the fields of the input objects the expression
//! reads (known from its AST), borrowing their strings.
//!
//! # Purposes
//!
//! | purpose | variables | result |
//! |---|---|---|
//! | `policy_condition` | `subject: User`, `account: AppUser`, `entitlement`, `task`, `ip` | bool |
//! | `approver_expression` | `subject`, `entitlement`, `task`, `appOwners: list<User>` | User or list<User> |
//! | `directory_account_filter` | `subject: AppUser` (no directory functions) | bool or `"CREATE"`/`"MATCH_ONLY"`/`"IGNORE"` |
//! | `account_key` | `subject: AppUser` (no directory functions) | string or list<string> |
//! | `user_key` | `subject: User` (no directory functions) | string or list<string> |
//! | `access_review_user_filter` | `subject: User` | bool |
//! | `access_review_account_filter` | `subject: AppUser` | bool |
//! | `dynamic_group` | `subject: User` | bool |
//! | `automation_trigger` | `ctx` (no directory functions) | bool |
//! | `account_provisioning` | `subject: User`, `entitlement`, `task` | string |
//! | `user_attribute_mapping` | `subject: AppUser` (no directory functions) | string or list<string> |
//! | `entitlement_rule` | `entitlement` (no directory functions) | bool |
//! | `hook_filter` | `ctx` (no directory functions) | bool |
//!
//! Identity resolution evaluates directory filters, keys and attribute mappings over every
//! account and user at once, so they read only their subject (no per-account lookups).
//!
//! `task` and `ctx` are JSON maps (any key). Missing inputs are an evaluation error only when
//! the expression reads them.
//!
//! # Fields and constants
//!
//! User: `id email emails displayName username usernames department jobTitle employmentType
//! employmentStatus status directoryStatus type manager managerId managerIds employeeIds profile
//! attributes`; AppUser: `id appId displayName username usernames email emails employeeIds
//! appUserType status.status status.details identityUserId profile attributes`; Entitlement:
//! `id appId displayName description slug alias riskLevelValueId appResourceId
//! appResourceTypeId`. Every field also answers to its snake_case spelling (`display_name`,
//! `manager_id`, `app_user_type`, `risk_level_value_id`, ...). `manager` is the email of the
//! first manager (looked up in the [`Directory`]; `""` without one), `managerId` the first of
//! `managerIds`. `attributes` is the same map as `profile` (Chamberlain keeps custom attributes
//! there).
//!
//! Constants are strings, equal to what the fields hold: `UserStatus.ENABLED == "ENABLED"`
//! (also `DISABLED`, `DELETED`; `subject.status` and `subject.directoryStatus` hold these),
//! `UserType.HUMAN == "USER_TYPE_HUMAN"` (`AGENT`, `SERVICE`, `SYSTEM`), `AppUserType.USER ==
//! "APP_USER_TYPE_USER"` (`SERVICE_ACCOUNT`, `SYSTEM_ACCOUNT`), account statuses are
//! `"APP_USER_STATUS_ENABLED"` / `DISABLED` / `DELETED` / `UNSPECIFIED` (also as
//! `AppUserStatus.ENABLED`, ...), `TaskOrigin.WEBAPP == "TASK_ORIGIN_WEBAPP"` (`SLACK`, `API`,
//! `JIRA`, `COPILOT`, `PROFILE_MEMBERSHIP_AUTOMATION`, `TIME_REVOKE`), and `TimeFormat.RFC3339`
//! / `DATE` / `DATETIME` / `TIME` are the Go layouts `"2006-01-02T15:04:05Z07:00"`,
//! `"2006-01-02"`, `"2006-01-02 15:04:05"`, `"15:04:05"`.
//!
//! # Functions
//!
//! Standard CEL (with macros) plus the `strings` extension (`lowerAscii`, `upperAscii`, `trim`,
//! `replace`, `split`, `join`, `substring`, `indexOf`, `charAt`, `format`, ...), and:
//!
//! - `c1.user.v1.HasApp(user, appId)`, `HasEntitlement(user, appId, entitlementId)`,
//!   `GetAppUserStatus(user, appId)` (`"USER_STATUS_ENABLED"` if any of the user's accounts in
//!   the app is enabled, else the first account's `DISABLED`/`DELETED`, `UNSPECIFIED` without an
//!   account), `ListAppUsersForUser(user, appId)` (alias `GetAppUsersForUser`);
//! - `c1.directory.users.v1.FindByEmail(email)`, `GetByID(id)` (an error when no user
//!   matches), `GetManagers(user)` (from `managerIds`), `DirectReports(user | list<User>)`;
//!   `c1.directory.apps.v1.GetEntitlementMembers(appId, entitlementId)`;
//! - `now()` (constant within one evaluation; [`Input::now`] sets it), `time.parse(value,
//!   layout[, tz])`, `time.format(ts, layout[, tz])`, `time.start_of(ts, unit[, tz])`,
//!   `time.end_of(ts, unit[, tz])` with units `day`, `week` (weeks start on Monday), `month`,
//!   `quarter`, `year`; layouts are Go reference layouts (`TimeFormat.*`, `"2006-01-02"`,
//!   `"Jan _2 15:04"`, ...); `tz` is an IANA name or `"UTC"` (default: UTC for
//!   `time.parse`/`time.format`, the timestamp's own offset for `start_of`/`end_of`);
//! - `ip("1.2.3.4")` with `.is4() .is6() .isPrivate() .isLoopback() .isGlobalUnicast()
//!   .isMulticast() .isUnspecified() .isLinkLocalUnicast()`, `cidr("10.0.0.0/8")` with
//!   `.contains(ip)`, and `ip.within(cidr)`; an IP equals its string form (`ip == "10.0.0.1"`);
//! - `x.ifEmpty(default)` on strings and lists;
//! - **Chamberlain extension**: `removePlusSuffix(string | list<string>)` (also as a method)
//!   turns `user+tag@example.com` into `user@example.com`, for merge-match key presets.
//!
//! The directory functions read a [`Directory`] ([`Input::directory`]); every lookup is
//! memoized within one evaluation. They are refused at compile time for
//! `automation_trigger`, `hook_filter` and `entitlement_rule`.
//!
//! # Budgets
//!
//! [`Budget::default`]: source ≤ 16 KiB, ≤ 2,000 AST nodes, nesting ≤ 32 deep (evaluation
//! recurses once per level on the caller's stack, and must fit a 2 MiB one even in debug builds),
//! comprehensions nested ≤ 3 deep, estimated worst-case cost ≤ 1,000,000 steps (lists the
//! expression cannot know the size of are assumed to hold up to 1,000 items when read from
//! the input, 10,000 when returned by a directory function; strings up to 4 KiB for typed
//! fields and 64 KiB for JSON values), strings built ≤ 1 MiB. At run time: 100 ms per
//! evaluation (checked at every function call and comprehension step), ≤ 1,000,000 steps,
//! and directory functions return ≤ 10,000 items. Exceeding any of them is a [`Marker`] when
//! compiling or [`EvalError::Budget`] when evaluating.

mod check;
mod directory;
mod functions;
mod purpose;
mod runtime;
mod state;
mod timefns;
mod types;
mod values;

pub use directory::{Directory, IndexedDirectory, LookupError, MemoryDirectory};
/// What the `removePlusSuffix` extension does to one string, for callers that apply the same
/// normalization outside an expression (identity matching's presets).
pub use functions::remove_plus as remove_plus_suffix;
pub use purpose::Purpose;

use chamberlain_model::app::{AppEntitlement, AppUser};
use chamberlain_model::user::User;
use std::sync::Arc;
use std::time::Duration;

/// A problem in an expression at a place in its source (C1's `c1.api.editor.v1.EditorMarker`;
/// 1-based lines and columns, counted in characters; the end is exclusive).
#[derive(Clone, Debug, PartialEq, Eq, serde::Serialize)]
#[serde(rename_all = "camelCase")]
pub struct Marker {
    pub start_line_number: u32,
    pub start_column: u32,
    pub end_line_number: u32,
    pub end_column: u32,
    pub message: String,
}

impl std::fmt::Display for Marker {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(
            f,
            "line {}, column {}: {}",
            self.start_line_number, self.start_column, self.message
        )
    }
}

/// Limits on compiling and evaluating an expression. See the crate documentation for the
/// defaults and what they mean.
#[derive(Clone, Debug, PartialEq)]
pub struct Budget {
    /// Bytes of source.
    pub max_source_len: usize,
    /// Nodes of the parsed expression (macros expanded).
    pub max_ast_nodes: usize,
    /// Nesting depth of the parsed expression.
    pub max_depth: usize,
    /// Comprehensions (`all`, `exists`, `exists_one`, `map`, `filter`) inside one another.
    pub max_comprehension_nesting: usize,
    /// The checker's worst-case estimate of evaluation steps.
    pub max_cost: u64,
    /// Wall-clock time of one evaluation.
    pub max_eval_time: Duration,
    /// Function calls plus comprehension steps in one evaluation.
    pub max_steps: u64,
    /// Items a directory function may return; also the assumed size of such lists.
    pub max_list_len: usize,
    /// Bytes of a string the expression may build (checked statically).
    pub max_string_len: usize,
    /// Assumed upper bound on input lists (e.g. `emails`) and maps (e.g. `profile`).
    pub assumed_list_len: u64,
    /// Assumed upper bound on a typed string field, in bytes.
    pub assumed_field_len: u64,
    /// Assumed upper bound on a JSON value (profile, ctx, task): bytes of a string, items of a
    /// list.
    pub assumed_value_len: u64,
}

impl Default for Budget {
    fn default() -> Self {
        Budget {
            max_source_len: 16 * 1024,
            max_ast_nodes: 2_000,
            max_depth: 32,
            max_comprehension_nesting: 3,
            max_cost: 1_000_000,
            max_eval_time: Duration::from_millis(100),
            max_steps: 1_000_000,
            max_list_len: 10_000,
            max_string_len: 1024 * 1024,
            assumed_list_len: 1_000,
            assumed_field_len: 4 * 1024,
            assumed_value_len: 64 * 1024,
        }
    }
}

/// A compiled, checked expression. Compile once, evaluate many times. Cheap to clone.
#[derive(Clone)]
pub struct Expression {
    inner: Arc<Inner>,
}

struct Inner {
    purpose: Purpose,
    source: String,
    expr: cel::IdedExpr,
    vars: Vec<(&'static str, values::Proj)>,
    need_manager: bool,
    budget: Budget,
}

impl std::fmt::Debug for Expression {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Expression")
            .field("purpose", &self.inner.purpose)
            .field("source", &self.inner.source)
            .finish()
    }
}

impl Expression {
    /// Parses and checks `source` for `purpose` with the default [`Budget`].
    pub fn compile(purpose: Purpose, source: &str) -> Result<Expression, Vec<Marker>> {
        Self::compile_with_budget(purpose, source, Budget::default())
    }

    /// Parses and checks `source` for `purpose` with `budget` (used for compiling and for every
    /// evaluation of the expression).
    pub fn compile_with_budget(
        purpose: Purpose,
        source: &str,
        budget: Budget,
    ) -> Result<Expression, Vec<Marker>> {
        let checked = check::check(purpose, source, &budget)?;
        Ok(Expression {
            inner: Arc::new(Inner {
                purpose,
                source: source.to_owned(),
                expr: checked.expr,
                vars: checked.vars,
                need_manager: checked.need_manager,
                budget,
            }),
        })
    }

    /// The checker's markers for `source` (empty when it compiles).
    pub fn validate(purpose: Purpose, source: &str) -> Vec<Marker> {
        Self::compile(purpose, source).err().unwrap_or_default()
    }

    pub fn source(&self) -> &str {
        &self.inner.source
    }

    pub fn purpose(&self) -> Purpose {
        self.inner.purpose
    }

    pub fn budget(&self) -> &Budget {
        &self.inner.budget
    }

    /// The input variables the expression reads (e.g. `["subject"]`).
    pub fn variables(&self) -> Vec<&'static str> {
        self.inner.vars.iter().map(|(n, _)| *n).collect()
    }

    /// What the expression reads of its inputs, as dotted paths (`subject.email`,
    /// `subject.profile.department`; a bare `subject` when it reads the whole object), sorted.
    /// Evaluation converts only these; a caller can also use them to know which changes can
    /// change the result.
    pub fn reads(&self) -> Vec<String> {
        fn walk(prefix: &str, p: &values::Proj, out: &mut Vec<String>) {
            if p.whole || p.fields.is_empty() {
                out.push(prefix.to_owned());
                return;
            }
            for (k, sub) in &p.fields {
                walk(&format!("{prefix}.{k}"), sub, out);
            }
        }
        let mut out = Vec::new();
        for (name, p) in &self.inner.vars {
            walk(name, p, &mut out);
        }
        out.sort();
        out
    }

    /// Evaluates against `input`.
    pub fn evaluate(&self, input: &Input<'_>) -> Result<Outcome, EvalError> {
        runtime::evaluate(self, input)
    }
}

/// The expression's `subject`.
#[derive(Clone, Copy)]
pub enum Subject<'a> {
    User(&'a User),
    Account(&'a AppUser),
}

/// What an evaluation reads. Only what the expression uses needs to be there.
#[derive(Default)]
pub struct Input<'a> {
    pub subject: Option<Subject<'a>>,
    pub account: Option<&'a AppUser>,
    pub entitlement: Option<&'a AppEntitlement>,
    pub task: Option<&'a serde_json::Value>,
    pub ctx: Option<&'a serde_json::Value>,
    pub ip: Option<std::net::IpAddr>,
    pub app_owners: Option<&'a [User]>,
    /// Lookups for the c1.user.v1 / c1.directory.* functions; calling one without a directory
    /// is an [`EvalError::Lookup`].
    pub directory: Option<&'a dyn Directory>,
    /// Evaluation time for `now()`; `None` = the current time.
    pub now: Option<time::OffsetDateTime>,
}

/// Why an evaluation failed.
#[derive(Clone, Debug, PartialEq, thiserror::Error)]
pub enum EvalError {
    /// The expression failed (no such key, wrong type at run time, division by zero, ...).
    #[error("{0}")]
    Runtime(String),
    /// A time, step or size budget was exceeded.
    #[error("budget exceeded: {0}")]
    Budget(String),
    /// The directory could not answer, or there is none.
    #[error("lookup failed: {0}")]
    Lookup(String),
    /// The result is not of the kind the caller asked for.
    #[error("{0}")]
    Result(String),
}

/// How a directory account filter decides on an account.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum ImportDecision {
    Create,
    MatchOnly,
    Ignore,
}

/// What an expression returned.
#[derive(Clone, Debug, PartialEq)]
pub struct Outcome(cel::Value);

fn describe(v: &cel::Value) -> String {
    use cel::Value as V;
    match v {
        V::String(s) => format!("the string \"{s}\""),
        V::Bool(b) => format!("{b}"),
        V::Int(i) => format!("the int {i}"),
        V::UInt(i) => format!("the uint {i}"),
        V::Float(f) => format!("the double {f}"),
        V::Null => "null".to_owned(),
        V::List(l) => format!("a list of {} items", l.len()),
        V::Map(_) => "a map".to_owned(),
        other => format!("a {}", other.type_of()),
    }
}

impl Outcome {
    /// The raw value.
    pub fn value(&self) -> &cel::Value {
        &self.0
    }

    pub fn as_bool(&self) -> Result<bool, EvalError> {
        match &self.0 {
            cel::Value::Bool(b) => Ok(*b),
            other => Err(EvalError::Result(format!(
                "expected a bool, got {}",
                describe(other)
            ))),
        }
    }

    /// A string or a list of strings → keys; empty strings dropped. For key extractors.
    pub fn as_keys(&self) -> Result<Vec<String>, EvalError> {
        match &self.0 {
            cel::Value::String(s) => Ok(if s.is_empty() {
                vec![]
            } else {
                vec![s.to_string()]
            }),
            cel::Value::Null => Ok(vec![]),
            cel::Value::List(items) => {
                let mut out = Vec::with_capacity(items.len());
                for i in items.iter() {
                    match i {
                        cel::Value::String(s) if s.is_empty() => {}
                        cel::Value::String(s) => out.push(s.to_string()),
                        cel::Value::Null => {}
                        other => {
                            return Err(EvalError::Result(format!(
                                "expected a string or a list of strings; the list holds {}",
                                describe(other)
                            )))
                        }
                    }
                }
                Ok(out)
            }
            other => Err(EvalError::Result(format!(
                "expected a string or a list of strings, got {}",
                describe(other)
            ))),
        }
    }

    /// A User or a list of Users → their ids. For approver expressions.
    pub fn as_user_ids(&self) -> Result<Vec<String>, EvalError> {
        fn id(v: &cel::Value) -> Result<String, EvalError> {
            if let cel::Value::Map(m) = v {
                let key = cel::objects::Key::String(Arc::new("id".to_owned()));
                if let Some(cel::Value::String(s)) = m.map.get(&key) {
                    return Ok(s.to_string());
                }
            }
            Err(EvalError::Result(format!(
                "expected a User or a list of Users, got {}",
                describe(v)
            )))
        }
        match &self.0 {
            cel::Value::List(items) => {
                let mut out: Vec<String> = Vec::with_capacity(items.len());
                for i in items.iter() {
                    let i = id(i)?;
                    if !out.contains(&i) {
                        out.push(i);
                    }
                }
                Ok(out)
            }
            other => Ok(vec![id(other)?]),
        }
    }

    /// `true`/`"CREATE"` → Create, `"MATCH_ONLY"` → MatchOnly, `false`/`"IGNORE"` → Ignore.
    pub fn as_import_decision(&self) -> Result<ImportDecision, EvalError> {
        match &self.0 {
            cel::Value::Bool(true) => Ok(ImportDecision::Create),
            cel::Value::Bool(false) => Ok(ImportDecision::Ignore),
            cel::Value::String(s) if s.as_str() == "CREATE" => Ok(ImportDecision::Create),
            cel::Value::String(s) if s.as_str() == "MATCH_ONLY" => Ok(ImportDecision::MatchOnly),
            cel::Value::String(s) if s.as_str() == "IGNORE" => Ok(ImportDecision::Ignore),
            other => Err(EvalError::Result(format!(
                "a directory account filter returned {}; allowed: true, false, \"CREATE\", \
                 \"MATCH_ONLY\", \"IGNORE\"",
                describe(other)
            ))),
        }
    }

    /// The value as JSON (timestamps as RFC 3339, durations as `"1.5s"`, bytes as base64-less
    /// arrays of numbers).
    pub fn to_json(&self) -> serde_json::Value {
        to_json(&self.0)
    }
}

fn to_json(v: &cel::Value) -> serde_json::Value {
    use cel::Value as V;
    use serde_json::Value as J;
    match v {
        V::Null => J::Null,
        V::Bool(b) => J::Bool(*b),
        V::Int(i) => J::from(*i),
        V::UInt(u) => J::from(*u),
        V::Float(f) => serde_json::Number::from_f64(*f).map_or(J::Null, J::Number),
        V::String(s) => J::String(s.to_string()),
        V::Bytes(b) => J::Array(b.iter().map(|x| J::from(*x)).collect()),
        V::List(l) => J::Array(l.iter().map(to_json).collect()),
        V::Map(m) => {
            let mut out = serde_json::Map::new();
            let mut entries: Vec<_> = m.map.iter().collect();
            entries.sort_by_key(|(k, _)| k.to_string());
            for (k, v) in entries {
                let key = match k {
                    cel::objects::Key::String(s) => s.to_string(),
                    other => other.to_string(),
                };
                out.insert(key, to_json(v));
            }
            J::Object(out)
        }
        V::Timestamp(t) => J::String(t.to_rfc3339_opts(chrono::SecondsFormat::AutoSi, true)),
        V::Duration(d) => {
            let nanos = d.num_nanoseconds().unwrap_or(i64::MAX);
            J::String(format!("{}s", nanos as f64 / 1e9))
        }
        other => J::String(format!("{other:?}")),
    }
}
