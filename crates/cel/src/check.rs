//! The checker: parses, type-checks against the purpose's environment, estimates the worst-case
//! cost, and rewrites the AST for evaluation.
//!
//! Rewrites (all invisible to the expression's meaning):
//! - snake_case field aliases become the canonical camelCase name (`display_name` →
//!   `displayName`), so values carry each field once;
//! - constants (`UserStatus.ENABLED`, `TimeFormat.DATE`, ...) become literals;
//! - qualified calls (`c1.user.v1.HasApp(...)`, `time.parse(...)`) become direct calls;
//! - every comprehension step is wrapped in [`TICK`], which checks the evaluation's deadline.
//!
//! It also records which variables the expression reads and which of their fields
//! ([`Proj`]), so evaluation converts only those.

use crate::purpose::{Purpose, ResultRule, IMPORT_DECISIONS};
use crate::types::{edit_distance, Obj, Ty};
use crate::values::Proj;
use crate::{Budget, Marker};
use cel::common::ast::{
    operators as op, CallExpr, ComprehensionExpr, EntryExpr, Expr, IdedExpr, LiteralValue,
    SourceInfo,
};
use cel::common::types::CelString;
use std::collections::BTreeMap;

/// The internal per-step function (a name no source can spell).
pub(crate) const TICK: &str = "@chamberlain.tick";

/// Constant namespaces and their members, as the strings they stand for.
pub(crate) const CONSTANTS: &[(&str, &[(&str, &str)])] = &[
    (
        "UserStatus",
        &[
            ("ENABLED", "ENABLED"),
            ("DISABLED", "DISABLED"),
            ("DELETED", "DELETED"),
            ("UNKNOWN", "UNKNOWN"),
        ],
    ),
    (
        "UserType",
        &[
            ("HUMAN", "USER_TYPE_HUMAN"),
            ("AGENT", "USER_TYPE_AGENT"),
            ("SERVICE", "USER_TYPE_SERVICE"),
            ("SYSTEM", "USER_TYPE_SYSTEM"),
            ("UNSPECIFIED", "USER_TYPE_UNSPECIFIED"),
        ],
    ),
    (
        "AppUserType",
        &[
            ("USER", "APP_USER_TYPE_USER"),
            ("SERVICE_ACCOUNT", "APP_USER_TYPE_SERVICE_ACCOUNT"),
            ("SYSTEM_ACCOUNT", "APP_USER_TYPE_SYSTEM_ACCOUNT"),
            ("UNSPECIFIED", "APP_USER_TYPE_UNSPECIFIED"),
        ],
    ),
    (
        "AppUserStatus",
        &[
            ("ENABLED", "APP_USER_STATUS_ENABLED"),
            ("DISABLED", "APP_USER_STATUS_DISABLED"),
            ("DELETED", "APP_USER_STATUS_DELETED"),
            ("UNSPECIFIED", "APP_USER_STATUS_UNSPECIFIED"),
        ],
    ),
    (
        "TaskOrigin",
        &[
            ("WEBAPP", "TASK_ORIGIN_WEBAPP"),
            ("SLACK", "TASK_ORIGIN_SLACK"),
            ("API", "TASK_ORIGIN_API"),
            ("JIRA", "TASK_ORIGIN_JIRA"),
            ("COPILOT", "TASK_ORIGIN_COPILOT"),
            (
                "PROFILE_MEMBERSHIP_AUTOMATION",
                "TASK_ORIGIN_PROFILE_MEMBERSHIP_AUTOMATION",
            ),
            ("TIME_REVOKE", "TASK_ORIGIN_TIME_REVOKE"),
        ],
    ),
    (
        "TimeFormat",
        &[
            ("RFC3339", "2006-01-02T15:04:05Z07:00"),
            ("DATE", "2006-01-02"),
            ("DATETIME", "2006-01-02 15:04:05"),
            ("TIME", "15:04:05"),
        ],
    ),
];

/// What a successful check hands to evaluation.
pub(crate) struct Checked {
    pub expr: IdedExpr,
    /// The purpose variables the expression reads, and which parts of them.
    pub vars: Vec<(&'static str, Proj)>,
    /// Whether any `manager` field is read (it costs a lookup per user).
    pub need_manager: bool,
}

/// Static facts about a subexpression.
#[derive(Clone, Debug)]
struct Info {
    ty: Ty,
    /// Upper bound: elements of a list/map, bytes of a string.
    n: u64,
    /// Upper bound on an element's `n` (lists and maps).
    elem: u64,
    /// Worst-case evaluation steps.
    cost: u64,
    /// Set while the value is exactly `variable.path` (the select chain continues it).
    path: Option<(&'static str, Vec<String>)>,
    /// The string literal values the expression can have (through `?:`), if all are literals.
    literals: Option<Vec<String>>,
}

impl Info {
    fn of(ty: Ty) -> Info {
        Info {
            ty,
            n: 1,
            elem: 1,
            cost: 1,
            path: None,
            literals: None,
        }
    }
    fn with_cost(mut self, c: u64) -> Info {
        self.cost = self.cost.saturating_add(c);
        self
    }
}

#[derive(Clone, Copy, PartialEq, Eq)]
enum Kind {
    /// `f(x)`
    Global,
    /// `x.f()`
    Member,
}

/// A function's static signature.
struct Sig {
    args: std::ops::RangeInclusive<usize>,
    /// Directory-backed (refused where the purpose forbids).
    directory: bool,
}

/// Source positions: byte offsets (as the parser reports them) → 1-based line and column,
/// columns counted in characters.
pub(crate) struct Lines {
    src: String,
    /// Byte offset of every line start.
    starts: Vec<usize>,
    len: usize,
}

impl Lines {
    pub(crate) fn new(src: &str) -> Lines {
        let mut starts = vec![0];
        starts.extend(src.match_indices('\n').map(|(i, _)| i + 1));
        Lines {
            src: src.to_owned(),
            starts,
            len: src.len(),
        }
    }

    /// (line, column) of a byte offset.
    pub(crate) fn pos(&self, offset: usize) -> (u32, u32) {
        let mut b = offset.min(self.len);
        while !self.src.is_char_boundary(b) {
            b -= 1;
        }
        let line = match self.starts.binary_search(&b) {
            Ok(i) => i,
            Err(i) => i - 1,
        };
        let col = self.src[self.starts[line]..b].chars().count() + 1;
        ((line + 1) as u32, col as u32)
    }

    /// A marker from byte `start` to byte `end` (exclusive); at least one column wide.
    pub(crate) fn marker(&self, start: usize, end: usize, message: String) -> Marker {
        let (sl, sc) = self.pos(start);
        let (mut el, mut ec) = self.pos(end);
        if (el, ec) <= (sl, sc) {
            (el, ec) = (sl, sc + 1);
        }
        Marker {
            start_line_number: sl,
            start_column: sc,
            end_line_number: el,
            end_column: ec,
            message,
        }
    }

    pub(crate) fn whole(&self, message: String) -> Marker {
        self.marker(0, self.len, message)
    }
}

struct Checker<'a> {
    purpose: Purpose,
    budget: &'a Budget,
    info: &'a SourceInfo,
    lines: &'a Lines,
    markers: Vec<Marker>,
    vars: BTreeMap<&'static str, Proj>,
    need_manager: bool,
    next_id: u64,
    /// Comprehension variables in scope (innermost last).
    locals: Vec<(String, Info)>,
    comprehension_depth: usize,
    /// Spans of nodes as written, kept for nodes the checker rewrites (a qualified call loses
    /// its target).
    saved_spans: std::collections::HashMap<u64, (usize, usize)>,
}

/// Stack for the thread that parses and checks: the parser recurses once per nesting level of
/// the source (and a few dozen frames per level in debug builds), so it gets room of its own
/// rather than whatever stack the caller runs on (a tokio worker has 2 MiB).
const CHECK_STACK: usize = 64 * 1024 * 1024;

/// Parses and checks `source` for `purpose`, on a thread with a large stack.
pub(crate) fn check(
    purpose: Purpose,
    source: &str,
    budget: &Budget,
) -> Result<Checked, Vec<Marker>> {
    let lines = Lines::new(source);
    if source.len() > budget.max_source_len {
        return Err(vec![lines.whole(format!(
            "the expression is {} bytes long; the limit is {}",
            source.len(),
            budget.max_source_len
        ))]);
    }
    if let Some(m) = nesting(source, budget.max_depth, &lines) {
        return Err(vec![m]);
    }
    std::thread::scope(|scope| {
        std::thread::Builder::new()
            .name("cel-check".to_owned())
            .stack_size(CHECK_STACK)
            .spawn_scoped(scope, || check_here(purpose, source, budget))
            .map_err(|e| vec![lines.whole(format!("cannot check the expression now: {e}"))])?
            .join()
            .unwrap_or_else(|_| {
                Err(vec![lines.whole(
                    "the expression could not be checked (internal error in the CEL parser)"
                        .to_owned(),
                )])
            })
    })
}

/// Refuses sources nesting brackets or unary operators deeper than `max` before the parser
/// sees them: a marker where the limit is crossed.
fn nesting(source: &str, max: usize, lines: &Lines) -> Option<Marker> {
    let indexed: Vec<(usize, char)> = source.char_indices().collect();
    let chars: Vec<char> = indexed.iter().map(|(_, c)| *c).collect();
    let mut depth = 0usize;
    let mut unary = 0usize;
    let mut i = 0;
    while i < chars.len() {
        let c = chars[i];
        match c {
            '"' | '\'' => {
                // skip a string literal ('...', "...", triple-quoted, raw)
                let triple = i + 2 < chars.len() && chars[i + 1] == c && chars[i + 2] == c;
                let raw = i > 0 && matches!(chars[i - 1], 'r' | 'R');
                let q = if triple { 3 } else { 1 };
                i += q;
                while i < chars.len() {
                    if chars[i] == '\\' && !raw {
                        i += 2;
                        continue;
                    }
                    let closes = chars[i] == c
                        && (!triple
                            || (i + 2 < chars.len() && chars[i + 1] == c && chars[i + 2] == c));
                    if closes {
                        i += q;
                        break;
                    }
                    i += 1;
                }
                unary = 0;
                continue;
            }
            '(' | '[' | '{' => depth += 1,
            ')' | ']' | '}' => depth = depth.saturating_sub(1),
            '!' | '-' if !(i + 1 < chars.len() && chars[i + 1] == '=') => unary += 1,
            c if c.is_whitespace() => {}
            _ => unary = 0,
        }
        if depth + unary > max {
            let at = indexed[i].0;
            return Some(lines.marker(
                at,
                at + c.len_utf8(),
                format!("the expression nests more than {max} levels deep here"),
            ));
        }
        i += 1;
    }
    None
}

fn check_here(purpose: Purpose, source: &str, budget: &Budget) -> Result<Checked, Vec<Marker>> {
    let lines = Lines::new(source);
    if source.trim().is_empty() {
        return Err(vec![lines.whole("the expression is empty".to_owned())]);
    }
    let parser = crate::runtime::env()
        .parser()
        .max_recursion_depth(budget.max_depth.min(u16::MAX as usize - 1) as u16);
    let (mut expr, info) = match parser.parse_with_source_info(source) {
        Ok(x) => x,
        Err(errors) => return Err(parse_markers(&lines, errors)),
    };

    // Size limits before anything walks the tree recursively.
    let (nodes, depth, max_id) = measure(&expr);
    if nodes > budget.max_ast_nodes {
        return Err(vec![lines.whole(format!(
            "the expression has {nodes} nodes; the limit is {}",
            budget.max_ast_nodes
        ))]);
    }
    if depth > budget.max_depth {
        return Err(vec![lines.whole(format!(
            "the expression nests {depth} levels deep; the limit is {}",
            budget.max_depth
        ))]);
    }

    let mut c = Checker {
        purpose,
        budget,
        info: &info,
        lines: &lines,
        markers: Vec::new(),
        vars: BTreeMap::new(),
        need_manager: false,
        next_id: max_id + 1,
        locals: Vec::new(),
        comprehension_depth: 0,
        saved_spans: std::collections::HashMap::new(),
    };
    let root = c.value(&mut expr);
    if c.markers.is_empty() {
        c.check_result(&expr, &root);
    }
    if c.markers.is_empty() && root.cost > budget.max_cost {
        let m = lines.whole(format!(
            "the expression could take up to {} steps to evaluate (estimated from the sizes of \
             the lists it iterates); the limit is {}. Iterate smaller lists or nest fewer \
             comprehensions",
            root.cost, budget.max_cost
        ));
        c.markers.push(m);
    }
    if !c.markers.is_empty() {
        let mut m = c.markers;
        m.sort_by_key(|m| (m.start_line_number, m.start_column));
        m.dedup();
        return Err(m);
    }
    Ok(Checked {
        expr,
        vars: c.vars.into_iter().collect(),
        need_manager: c.need_manager,
    })
}

fn parse_markers(lines: &Lines, errors: cel::ParseErrors) -> Vec<Marker> {
    let mut out = Vec::new();
    for e in errors.errors {
        let msg = e
            .msg
            .strip_prefix("Syntax error: ")
            .map(|m| format!("syntax error: {m}"))
            .unwrap_or(e.msg.clone());
        let (line, col) = e.pos;
        if line >= 1 && col >= 1 {
            out.push(Marker {
                start_line_number: line as u32,
                start_column: col as u32,
                end_line_number: line as u32,
                end_column: col as u32 + 1,
                message: msg,
            });
        } else if let Some((s, t)) = e.source_info.as_ref().and_then(|i| i.offset_for(e.expr_id)) {
            out.push(lines.marker(s as usize, t as usize + 1, msg));
        } else {
            out.push(lines.whole(msg));
        }
    }
    out.dedup();
    out
}

/// (node count, depth, max id), iteratively (the tree may be deep).
fn measure(root: &IdedExpr) -> (usize, usize, u64) {
    let mut stack = vec![(root, 1usize)];
    let (mut n, mut depth, mut max_id) = (0, 0, 0);
    while let Some((e, d)) = stack.pop() {
        n += 1;
        depth = depth.max(d);
        max_id = max_id.max(e.id);
        for child in children(e) {
            stack.push((child, d + 1));
        }
    }
    (n, depth, max_id)
}

fn children(e: &IdedExpr) -> Vec<&IdedExpr> {
    match &e.expr {
        Expr::Call(c) => c.target.iter().map(|t| &**t).chain(c.args.iter()).collect(),
        Expr::Comprehension(c) => vec![
            &c.iter_range,
            &c.accu_init,
            &c.loop_cond,
            &c.loop_step,
            &c.result,
        ],
        Expr::List(l) => l.elements.iter().collect(),
        Expr::Map(m) => m
            .entries
            .iter()
            .flat_map(|en| match &en.expr {
                EntryExpr::MapEntry(me) => vec![&me.key, &me.value],
                EntryExpr::StructField(f) => vec![&f.value],
            })
            .collect(),
        Expr::Struct(s) => s
            .entries
            .iter()
            .flat_map(|en| match &en.expr {
                EntryExpr::MapEntry(me) => vec![&me.key, &me.value],
                EntryExpr::StructField(f) => vec![&f.value],
            })
            .collect(),
        Expr::Select(s) => vec![&s.operand],
        _ => vec![],
    }
}

/// The dotted name an expression spells (`c1.user.v1`), if it is one.
fn qualified(e: &IdedExpr) -> Option<String> {
    match &e.expr {
        Expr::Ident(n) => Some(n.clone()),
        Expr::Select(s) if !s.test => Some(format!("{}.{}", qualified(&s.operand)?, s.field)),
        _ => None,
    }
}

const DIRECTORY_FUNCTIONS: &[(&str, usize, usize)] = &[
    ("c1.user.v1.HasApp", 2, 2),
    ("c1.user.v1.HasEntitlement", 3, 3),
    ("c1.user.v1.GetAppUserStatus", 2, 2),
    ("c1.user.v1.ListAppUsersForUser", 2, 2),
    ("c1.user.v1.GetAppUsersForUser", 2, 2),
    ("c1.directory.users.v1.FindByEmail", 1, 1),
    ("c1.directory.users.v1.GetByID", 1, 1),
    ("c1.directory.users.v1.GetManagers", 1, 1),
    ("c1.directory.users.v1.DirectReports", 1, 1),
    ("c1.directory.apps.v1.GetEntitlementMembers", 2, 2),
];

const QUALIFIED_FUNCTIONS: &[(&str, usize, usize)] = &[
    ("time.parse", 2, 3),
    ("time.format", 2, 3),
    ("time.start_of", 2, 3),
    ("time.end_of", 2, 3),
    ("strings.quote", 1, 1),
    ("optional.of", 1, 1),
    ("optional.ofNonZeroValue", 1, 1),
    ("optional.none", 0, 0),
];

fn known_qualified(name: &str) -> Option<(usize, usize, bool)> {
    DIRECTORY_FUNCTIONS
        .iter()
        .map(|(n, a, b)| (n, a, b, true))
        .chain(QUALIFIED_FUNCTIONS.iter().map(|(n, a, b)| (n, a, b, false)))
        .find(|(n, ..)| **n == name)
        .map(|(_, a, b, d)| (*a, *b, d))
}

fn all_function_names() -> Vec<&'static str> {
    let mut v: Vec<&str> = DIRECTORY_FUNCTIONS
        .iter()
        .chain(QUALIFIED_FUNCTIONS.iter())
        .map(|(n, ..)| *n)
        .collect();
    v.extend(GLOBALS.iter().map(|(n, ..)| *n));
    v
}

/// Global functions: name, min args, max args.
const GLOBALS: &[(&str, usize, usize)] = &[
    ("size", 1, 1),
    ("int", 1, 1),
    ("uint", 1, 1),
    ("double", 1, 1),
    ("string", 1, 1),
    ("bytes", 1, 1),
    ("bool", 1, 1),
    ("timestamp", 1, 1),
    ("duration", 1, 1),
    ("type", 1, 1),
    ("dyn", 1, 1),
    ("matches", 2, 2),
    ("now", 0, 0),
    ("ip", 1, 1),
    ("cidr", 1, 1),
    ("removePlusSuffix", 1, 1),
];

/// Member functions: name, min args, max args (the receiver not counted).
const MEMBERS: &[(&str, usize, usize)] = &[
    ("contains", 1, 1),
    ("startsWith", 1, 1),
    ("endsWith", 1, 1),
    ("matches", 1, 1),
    ("size", 0, 0),
    ("charAt", 1, 1),
    ("indexOf", 1, 2),
    ("lastIndexOf", 1, 2),
    ("join", 0, 1),
    ("lowerAscii", 0, 0),
    ("upperAscii", 0, 0),
    ("trim", 0, 0),
    ("reverse", 0, 0),
    ("replace", 2, 3),
    ("split", 1, 2),
    ("substring", 1, 2),
    ("format", 1, 1),
    ("ifEmpty", 1, 1),
    ("removePlusSuffix", 0, 0),
    ("is4", 0, 0),
    ("is6", 0, 0),
    ("isPrivate", 0, 0),
    ("isLoopback", 0, 0),
    ("isGlobalUnicast", 0, 0),
    ("isMulticast", 0, 0),
    ("isUnspecified", 0, 0),
    ("isLinkLocalUnicast", 0, 0),
    ("within", 1, 1),
    ("getFullYear", 0, 1),
    ("getMonth", 0, 1),
    ("getDate", 0, 1),
    ("getDayOfMonth", 0, 1),
    ("getDayOfWeek", 0, 1),
    ("getDayOfYear", 0, 1),
    ("getHours", 0, 1),
    ("getMinutes", 0, 1),
    ("getSeconds", 0, 1),
    ("getMilliseconds", 0, 1),
    ("hasValue", 0, 0),
    ("value", 0, 0),
    ("orValue", 1, 1),
    ("or", 1, 1),
];

fn suggest<'n>(written: &str, names: impl IntoIterator<Item = &'n str>) -> Option<&'n str> {
    let w = written.to_ascii_lowercase();
    names
        .into_iter()
        .map(|n| (edit_distance(&w, &n.to_ascii_lowercase()), n))
        .filter(|(d, n)| close_enough(*d, &w, n))
        .min_by_key(|(d, _)| *d)
        .map(|(_, n)| n)
}

/// Whether an edit distance makes `name` a plausible correction of `written`.
pub(crate) fn close_enough(d: usize, written: &str, name: &str) -> bool {
    let shorter = written.chars().count().min(name.chars().count());
    d < shorter && d <= 1.max(shorter / 4)
}

fn did_you_mean(s: Option<&str>) -> String {
    s.map(|s| format!("; did you mean `{s}`?"))
        .unwrap_or_default()
}

impl<'a> Checker<'a> {
    // ---- positions and errors

    fn span(&self, e: &IdedExpr) -> (usize, usize) {
        if let Some(sp) = self.saved_spans.get(&e.id) {
            return *sp;
        }
        let mut lo = usize::MAX;
        let mut hi = 0;
        let mut stack = vec![e];
        while let Some(n) = stack.pop() {
            if let Some((s, t)) = self.info.offset_for(n.id) {
                lo = lo.min(s as usize);
                hi = hi.max(t as usize + 1);
            }
            stack.extend(children(n));
        }
        if lo == usize::MAX {
            (0, self.lines.len)
        } else {
            (lo, hi.max(lo + 1))
        }
    }

    fn error(&mut self, e: &IdedExpr, msg: String) {
        let (s, t) = self.span(e);
        let m = self.lines.marker(s, t, msg);
        self.markers.push(m);
    }

    /// An error on the field name of a select (`x.field`): the name.
    fn error_at_field(&mut self, e: &IdedExpr, field: &str, msg: String) {
        let (_, t) = self.span(e);
        let m = match self.info.offset_for(e.id) {
            // the select's own token is its `.`
            Some((o, _)) => {
                let o = o as usize;
                self.lines.marker(o + 1, o + 1 + field.len(), msg)
            }
            None => self.lines.marker(t.saturating_sub(field.len()), t, msg),
        };
        self.markers.push(m);
    }

    // ---- variables and projections

    fn use_path(&mut self, path: Option<(&'static str, Vec<String>)>) {
        if let Some((var, p)) = path {
            self.vars.entry(var).or_default().add_path(&p);
        }
    }

    /// Visits a subexpression whose value is used as a whole.
    fn value(&mut self, e: &mut IdedExpr) -> Info {
        let mut i = self.visit(e);
        self.use_path(i.path.take());
        i
    }

    fn local(&self, name: &str) -> Option<&Info> {
        self.locals
            .iter()
            .rev()
            .find(|(n, _)| n == name)
            .map(|(_, i)| i)
    }

    fn data_bounds(&self, ty: &Ty) -> (u64, u64) {
        let b = self.budget;
        match ty {
            Ty::String => (b.assumed_field_len, 1),
            Ty::List(e) => (
                b.assumed_list_len,
                if **e == Ty::String {
                    b.assumed_field_len
                } else {
                    b.assumed_value_len
                },
            ),
            Ty::Map(..) => (b.assumed_list_len, b.assumed_value_len),
            Ty::Dyn => (b.assumed_value_len, b.assumed_value_len),
            _ => (1, 1),
        }
    }

    fn typed(&self, ty: Ty) -> Info {
        let (n, elem) = self.data_bounds(&ty);
        Info {
            n,
            elem,
            ..Info::of(ty)
        }
    }

    // ---- the walk

    fn visit(&mut self, e: &mut IdedExpr) -> Info {
        match &mut e.expr {
            Expr::Unspecified => {
                self.error(e, "incomplete expression".to_owned());
                Info::of(Ty::Dyn)
            }
            Expr::Literal(l) => {
                let mut i = Info::of(match l {
                    LiteralValue::Boolean(_) => Ty::Bool,
                    LiteralValue::Bytes(_) => Ty::Bytes,
                    LiteralValue::Double(_) => Ty::Double,
                    LiteralValue::Int(_) => Ty::Int,
                    LiteralValue::Null => Ty::Null,
                    LiteralValue::String(_) => Ty::String,
                    LiteralValue::UInt(_) => Ty::Uint,
                });
                if let LiteralValue::String(s) = l {
                    i.n = s.inner().len() as u64;
                    i.literals = Some(vec![s.inner().to_owned()]);
                }
                i
            }
            Expr::Ident(name) => {
                let name = name.clone();
                self.ident(e, &name)
            }
            Expr::Select(_) => self.select(e),
            Expr::Call(_) => self.call(e),
            Expr::List(l) => {
                let mut ty: Option<Ty> = None;
                let mut cost = 1u64;
                let mut elem = 0u64;
                let n = l.elements.len() as u64;
                for el in l.elements.iter_mut() {
                    let i = self.value(el);
                    cost = cost.saturating_add(i.cost);
                    elem = elem.max(i.n);
                    ty = Some(match ty {
                        None => i.ty,
                        Some(t) => t.join(&i.ty),
                    });
                }
                Info {
                    ty: Ty::list(ty.unwrap_or(Ty::Dyn)),
                    n,
                    elem: elem.max(1),
                    cost,
                    path: None,
                    literals: None,
                }
            }
            Expr::Map(m) => {
                let mut kt: Option<Ty> = None;
                let mut vt: Option<Ty> = None;
                let mut cost = 1u64;
                let mut elem = 1u64;
                let n = m.entries.len() as u64;
                for en in m.entries.iter_mut() {
                    if let EntryExpr::MapEntry(me) = &mut en.expr {
                        let k = self.value(&mut me.key);
                        let v = self.value(&mut me.value);
                        cost = cost.saturating_add(k.cost).saturating_add(v.cost);
                        elem = elem.max(v.n);
                        kt = Some(kt.map_or(k.ty.clone(), |t| t.join(&k.ty)));
                        vt = Some(vt.map_or(v.ty.clone(), |t| t.join(&v.ty)));
                    }
                }
                Info {
                    ty: Ty::map(kt.unwrap_or(Ty::Dyn), vt.unwrap_or(Ty::Dyn)),
                    n,
                    elem,
                    cost,
                    path: None,
                    literals: None,
                }
            }
            Expr::Struct(s) => {
                let name = s.type_name.clone();
                self.error(
                    e,
                    format!(
                        "creating objects (`{name}{{...}}`) is not supported; use a map literal"
                    ),
                );
                Info::of(Ty::Dyn)
            }
            Expr::Comprehension(_) => self.comprehension(e),
        }
    }

    fn ident(&mut self, e: &mut IdedExpr, name: &str) -> Info {
        if let Some(i) = self.local(name) {
            let mut i = i.clone();
            i.cost = 1;
            i.path = None;
            i.literals = None;
            return i;
        }
        if let Some(ty) = self.purpose.variable(name) {
            let var = self
                .purpose
                .variables()
                .into_iter()
                .find(|(n, _)| *n == name)
                .map(|(n, _)| n)
                .expect("declared");
            let mut i = self.typed(ty);
            if let Ty::List(_) = i.ty {
                // appOwners
                i.n = self.budget.max_list_len as u64;
            }
            i.path = Some((var, Vec::new()));
            return i;
        }
        if CONSTANTS.iter().any(|(n, _)| *n == name) {
            let members: Vec<&str> = CONSTANTS
                .iter()
                .find(|(n, _)| *n == name)
                .map(|(_, m)| m.iter().map(|(k, _)| *k).collect())
                .unwrap_or_default();
            self.error(
                e,
                format!(
                    "`{name}` is a set of constants; use one of them, e.g. `{name}.{}`",
                    members[0]
                ),
            );
            return Info::of(Ty::Dyn);
        }
        let vars: Vec<&str> = self.purpose.variables().iter().map(|(n, _)| *n).collect();
        let hint = did_you_mean(suggest(name, vars.iter().copied()));
        let msg = if vars.is_empty() {
            format!("unknown variable `{name}`{hint}")
        } else {
            format!(
                "unknown variable `{name}`{hint} ({} expressions have: {})",
                self.purpose.name(),
                vars.join(", ")
            )
        };
        self.error(e, msg);
        Info::of(Ty::Dyn)
    }

    fn select(&mut self, e: &mut IdedExpr) -> Info {
        // Constants: `UserStatus.ENABLED`.
        if let Some(name) = qualified(e) {
            if let Some((ns, member)) = name.split_once('.') {
                if self.local(ns).is_none() && self.purpose.variable(ns).is_none() {
                    if let Some((_, members)) = CONSTANTS.iter().find(|(n, _)| *n == ns) {
                        return match members.iter().find(|(k, _)| *k == member) {
                            Some((_, v)) => {
                                e.expr = Expr::Literal(LiteralValue::String(CelString::from(
                                    v.to_string(),
                                )));
                                Info {
                                    n: v.len() as u64,
                                    literals: Some(vec![v.to_string()]),
                                    ..Info::of(Ty::String)
                                }
                            }
                            None => {
                                let names: Vec<&str> = members.iter().map(|(k, _)| *k).collect();
                                self.error(
                                    e,
                                    format!(
                                        "unknown constant `{name}`{} (valid: {})",
                                        did_you_mean(suggest(member, names.iter().copied())),
                                        names
                                            .iter()
                                            .map(|k| format!("{ns}.{k}"))
                                            .collect::<Vec<_>>()
                                            .join(", ")
                                    ),
                                );
                                Info::of(Ty::Dyn)
                            }
                        };
                    }
                }
            }
        }
        let Expr::Select(sel) = &mut e.expr else {
            unreachable!("select")
        };
        let test = sel.test;
        let written = sel.field.clone();
        let operand = self.visit(&mut sel.operand);
        let mut path = operand.path.clone();
        let (ty, canonical): (Ty, Option<&'static str>) = match &operand.ty {
            Ty::Obj(o) => match o.field(&written) {
                Some((canonical, ty)) => (ty, Some(canonical)),
                None => {
                    let o = *o;
                    let msg = format!(
                        "unknown field `{written}` on {}{}",
                        o.name(),
                        did_you_mean(o.suggest(&written))
                    );
                    self.error_at_field(e, &written, msg);
                    self.use_path(path);
                    return Info::of(Ty::Dyn);
                }
            },
            Ty::Map(_, v) => ((**v).clone(), None),
            Ty::Dyn => (Ty::Dyn, None),
            other => {
                let msg = format!("cannot read field `{written}` of a {other}");
                let other_null = *other == Ty::Null;
                self.error_at_field(e, &written, msg);
                if other_null {
                    return Info::of(Ty::Dyn);
                }
                self.use_path(path);
                return Info::of(Ty::Dyn);
            }
        };
        if let (Some(c), Expr::Select(sel)) = (canonical, &mut e.expr) {
            sel.field = c.to_owned();
        }
        let field = canonical.map(str::to_owned).unwrap_or(written);
        if field == "manager" && operand.ty == Ty::Obj(Obj::User) {
            self.need_manager = true;
        }
        let cost = operand.cost.saturating_add(1);
        if test {
            // has(x.f): reads whether `f` is there
            if let Some((_, p)) = path.as_mut() {
                p.push(field);
            }
            self.use_path(path);
            return Info {
                cost,
                ..Info::of(Ty::Bool)
            };
        }
        let mut i = self.typed(ty);
        i.cost = cost;
        i.path = path.map(|(v, mut p)| {
            p.push(field);
            (v, p)
        });
        i
    }

    fn comprehension(&mut self, e: &mut IdedExpr) -> Info {
        let Expr::Comprehension(c) = &mut e.expr else {
            unreachable!("comprehension")
        };
        let range = self.value(&mut c.iter_range);
        let (iter_ty, iter2_ty) = match &range.ty {
            Ty::List(t) => ((**t).clone(), Ty::Dyn),
            Ty::Map(k, v) => ((**k).clone(), (**v).clone()),
            Ty::Dyn => (Ty::Dyn, Ty::Dyn),
            other => {
                let other = other.clone();
                let range_expr = c.iter_range.clone();
                self.error(
                    &range_expr,
                    format!("cannot iterate over a {other}; expected a list or a map"),
                );
                (Ty::Dyn, Ty::Dyn)
            }
        };
        self.comprehension_depth += 1;
        if self.comprehension_depth > self.budget.max_comprehension_nesting {
            let max = self.budget.max_comprehension_nesting;
            let whole = e.clone();
            self.error(
                &whole,
                format!("comprehensions (all, exists, map, filter, ...) nest more than {max} deep"),
            );
            self.comprehension_depth -= 1;
            return Info::of(Ty::Dyn);
        }
        let Expr::Comprehension(c) = &mut e.expr else {
            unreachable!("comprehension")
        };
        let init = self.value(&mut c.accu_init);
        let n = range.n.max(1);
        let elem_info = Info {
            n: range.elem,
            elem: self.budget.assumed_value_len,
            ..self.typed(iter_ty)
        };
        let pushed = 3;
        self.locals.push((c.iter_var.clone(), elem_info));
        self.locals.push((
            c.iter_var2.clone().unwrap_or_default(),
            self.typed(iter2_ty),
        ));
        // the accumulator: a list as long as the range at most, for map/filter
        let accu_len = n.max(init.n);
        self.locals.push((
            c.accu_var.clone(),
            Info {
                n: accu_len,
                elem: range.elem.max(init.elem),
                ..Info::of(init.ty.clone())
            },
        ));
        let cond = self.value(&mut c.loop_cond);
        let step = self.value(&mut c.loop_step);
        let accu_ty = match (&init.ty, &step.ty) {
            (Ty::List(a), Ty::List(b)) if a.is_dyn() => Ty::List(b.clone()),
            (a, _) => a.clone(),
        };
        if let Some(last) = self.locals.last_mut() {
            last.1.ty = accu_ty.clone();
            last.1.elem = last.1.elem.max(step.elem);
        }
        let result = self.value(&mut c.result);
        for _ in 0..pushed {
            self.locals.pop();
        }
        self.comprehension_depth -= 1;
        inject_tick(c, self.next_id + 1);
        self.next_id += 2;
        let per_step = cond.cost.saturating_add(step.cost).saturating_add(2);
        Info {
            ty: result.ty.clone(),
            n: if matches!(result.ty, Ty::List(_)) {
                accu_len
            } else {
                result.n
            },
            elem: result.elem.max(step.elem),
            cost: range
                .cost
                .saturating_add(init.cost)
                .saturating_add(n.saturating_mul(per_step))
                .saturating_add(result.cost),
            path: None,
            literals: None,
        }
    }

    fn call(&mut self, e: &mut IdedExpr) -> Info {
        // Qualified functions: `c1.user.v1.HasApp(x, y)` is a call of `HasApp` on the name
        // `c1.user.v1`; make it a direct call of the full name.
        let written_span = self.span(e);
        {
            let id = e.id;
            let Expr::Call(call) = &mut e.expr else {
                unreachable!("call")
            };
            if let Some(target) = &call.target {
                if let Some(ns) = qualified(target) {
                    let root = ns.split('.').next().unwrap_or_default().to_owned();
                    let shadowed =
                        self.local(&root).is_some() || self.purpose.variable(&root).is_some();
                    let full = format!("{ns}.{}", call.func_name);
                    if !shadowed && known_qualified(&full).is_some() {
                        self.saved_spans.insert(id, written_span);
                        call.target = None;
                        call.func_name = full;
                    } else if !shadowed
                        && matches!(root.as_str(), "c1" | "time" | "strings" | "optional")
                    {
                        let hint = did_you_mean(suggest(&full, all_function_names()));
                        let whole = e.clone();
                        self.error(&whole, format!("unknown function `{full}`{hint}"));
                        return Info::of(Ty::Dyn);
                    }
                }
            }
        }
        let Expr::Call(call) = &mut e.expr else {
            unreachable!("call")
        };
        let name = call.func_name.clone();
        let member = call.target.is_some();

        // Operators and macros' internal calls.
        if !member {
            if let Some(i) = self.operator(e, &name) {
                return i;
            }
        }
        let Expr::Call(call) = &mut e.expr else {
            unreachable!("call")
        };
        let target = call.target.as_mut().map(|t| self.value(t));
        // The user functions read only a user's `id` (and `managerIds`): an input user passed
        // to them need not be converted whole.
        let reads_user_ids = !member && DIRECTORY_FUNCTIONS.iter().any(|(n, ..)| *n == name);
        let mut args: Vec<Info> = Vec::with_capacity(call.args.len());
        for (k, a) in call.args.iter_mut().enumerate() {
            let mut i = self.visit(a);
            if reads_user_ids && k == 0 && i.ty == Ty::Obj(Obj::User) {
                if let Some((var, p)) = i.path.take() {
                    for f in ["id", "managerIds"] {
                        let mut q = p.clone();
                        q.push(f.to_owned());
                        self.use_path(Some((var, q)));
                    }
                }
            }
            self.use_path(i.path.take());
            args.push(i);
        }
        let argc = args.len();
        let kind = if member { Kind::Member } else { Kind::Global };
        let sig = match self.signature(&name, kind) {
            Some(s) => s,
            None => {
                let whole = e.clone();
                let msg = match kind {
                    Kind::Global => {
                        let hint = did_you_mean(suggest(&name, all_function_names()));
                        if MEMBERS.iter().any(|(n, ..)| *n == name) {
                            format!("`{name}` is called on a value: `x.{name}(...)`")
                        } else {
                            format!("unknown function `{name}`{hint}")
                        }
                    }
                    Kind::Member => {
                        let hint = did_you_mean(suggest(&name, MEMBERS.iter().map(|(n, ..)| *n)));
                        let on = target
                            .as_ref()
                            .map(|t| t.ty.to_string())
                            .unwrap_or_default();
                        if GLOBALS.iter().any(|(n, ..)| *n == name) && name != "size" {
                            format!("`{name}` is not a method; call it as `{name}(x)`")
                        } else {
                            format!("unknown function `{name}` on {on}{hint}")
                        }
                    }
                };
                self.error(&whole, msg);
                return Info::of(Ty::Dyn);
            }
        };
        if sig.directory && !self.purpose.allows_directory() {
            let whole = e.clone();
            self.error(
                &whole,
                format!(
                    "`{name}` is not available in {} expressions (they cannot call the \
                     c1.user / c1.directory functions)",
                    self.purpose.name()
                ),
            );
            return Info::of(Ty::Dyn);
        }
        if !sig.args.contains(&argc) {
            let (lo, hi) = (*sig.args.start(), *sig.args.end());
            let want = if lo == hi {
                format!("{lo} argument{}", if lo == 1 { "" } else { "s" })
            } else {
                format!("{lo} to {hi} arguments")
            };
            let whole = e.clone();
            self.error(&whole, format!("`{name}` takes {want}, got {argc}"));
            return Info::of(Ty::Dyn);
        }
        let cost: u64 = target
            .as_ref()
            .map_or(0, |t| t.cost)
            .saturating_add(args.iter().map(|a| a.cost).fold(0u64, u64::saturating_add))
            .saturating_add(if sig.directory { 10 } else { 1 });
        match self.result(e, &name, kind, target.as_ref(), &args) {
            Some(mut i) => {
                i.cost = i.cost.saturating_add(cost);
                if i.n > self.budget.max_string_len as u64 && i.ty == Ty::String {
                    let whole = e.clone();
                    self.error(
                        &whole,
                        format!(
                            "this can build a string of up to {} bytes; the limit is {}",
                            i.n, self.budget.max_string_len
                        ),
                    );
                }
                i
            }
            None => Info::of(Ty::Dyn),
        }
    }

    fn signature(&self, name: &str, kind: Kind) -> Option<Sig> {
        if kind == Kind::Global {
            if let Some((lo, hi, directory)) = known_qualified(name) {
                return Some(Sig {
                    args: lo..=hi,
                    directory,
                });
            }
            return GLOBALS
                .iter()
                .find(|(n, ..)| *n == name)
                .map(|(_, lo, hi)| Sig {
                    args: *lo..=*hi,
                    directory: false,
                });
        }
        MEMBERS
            .iter()
            .find(|(n, ..)| *n == name)
            .map(|(_, lo, hi)| Sig {
                args: *lo..=*hi,
                directory: false,
            })
    }

    /// Wrong argument type: an error naming the function, the argument and both types.
    fn want(&mut self, e: &IdedExpr, f: &str, what: &str, got: &Ty, want: &Ty) -> bool {
        if got.fits(want) || (*want == Ty::Ip && *got == Ty::String) {
            return true;
        }
        let whole = e.clone();
        self.error(
            &whole,
            format!("`{f}` expects {what} to be a {want}, got {got}"),
        );
        false
    }

    /// The result of a known function, after checking its argument types.
    fn result(
        &mut self,
        e: &IdedExpr,
        name: &str,
        kind: Kind,
        target: Option<&Info>,
        args: &[Info],
    ) -> Option<Info> {
        let user = Ty::Obj(Obj::User);
        let s = Ty::String;
        let max_list = self.budget.max_list_len as u64;
        let users = |elem| Info {
            n: max_list,
            elem,
            ..Info::of(Ty::list(Ty::Obj(Obj::User)))
        };
        let vlen = self.budget.assumed_value_len;
        let flen = self.budget.assumed_field_len;
        if kind == Kind::Global {
            let ok = match name {
                "c1.user.v1.HasApp"
                | "c1.user.v1.GetAppUserStatus"
                | "c1.user.v1.ListAppUsersForUser"
                | "c1.user.v1.GetAppUsersForUser" => {
                    self.want(e, name, "the first argument", &args[0].ty, &user)
                        && self.want(e, name, "the app id", &args[1].ty, &s)
                }
                "c1.user.v1.HasEntitlement" => {
                    self.want(e, name, "the first argument", &args[0].ty, &user)
                        && self.want(e, name, "the app id", &args[1].ty, &s)
                        && self.want(e, name, "the entitlement id", &args[2].ty, &s)
                }
                "c1.directory.users.v1.FindByEmail" => {
                    self.want(e, name, "the email", &args[0].ty, &s)
                }
                "c1.directory.users.v1.GetByID" => self.want(e, name, "the id", &args[0].ty, &s),
                "c1.directory.users.v1.GetManagers" => {
                    self.want(e, name, "the argument", &args[0].ty, &user)
                }
                "c1.directory.users.v1.DirectReports" => {
                    if args[0].ty.fits(&user) || args[0].ty.fits(&Ty::list(user.clone())) {
                        true
                    } else {
                        let whole = e.clone();
                        self.error(
                            &whole,
                            format!(
                                "`{name}` expects a User or a list<User>, got {}",
                                args[0].ty
                            ),
                        );
                        false
                    }
                }
                "c1.directory.apps.v1.GetEntitlementMembers" => {
                    self.want(e, name, "the app id", &args[0].ty, &s)
                        && self.want(e, name, "the entitlement id", &args[1].ty, &s)
                }
                "time.parse" => {
                    self.want(e, name, "the value", &args[0].ty, &s)
                        && self.want(e, name, "the layout", &args[1].ty, &s)
                        && args
                            .get(2)
                            .is_none_or(|a| self.want(e, name, "the time zone", &a.ty, &s))
                }
                "time.format" | "time.start_of" | "time.end_of" => {
                    let what = if name == "time.format" {
                        "the layout"
                    } else {
                        "the unit"
                    };
                    self.want(e, name, "the first argument", &args[0].ty, &Ty::Timestamp)
                        && self.want(e, name, what, &args[1].ty, &s)
                        && args
                            .get(2)
                            .is_none_or(|a| self.want(e, name, "the time zone", &a.ty, &s))
                }
                "ip" | "cidr" | "matches" | "strings.quote" => args
                    .iter()
                    .all(|a| self.want(e, name, "the argument", &a.ty, &s)),
                "removePlusSuffix" => {
                    if args[0].ty.fits(&s) || args[0].ty.fits(&Ty::list(s.clone())) {
                        true
                    } else {
                        let whole = e.clone();
                        self.error(
                            &whole,
                            format!(
                                "`{name}` expects a string or a list<string>, got {}",
                                args[0].ty
                            ),
                        );
                        false
                    }
                }
                _ => true,
            };
            if !ok {
                return None;
            }
            if name.starts_with("time.start_of") || name.starts_with("time.end_of") {
                if let Some(lits) = &args[1].literals {
                    for l in lits {
                        if !["day", "week", "month", "quarter", "year"]
                            .contains(&l.to_ascii_lowercase().as_str())
                        {
                            let whole = e.clone();
                            self.error(
                                &whole,
                                format!(
                                    "unknown unit \"{l}\" (use \"day\", \"week\", \"month\", \
                                     \"quarter\" or \"year\")"
                                ),
                            );
                            return None;
                        }
                    }
                }
            }
            return Some(match name {
                "c1.user.v1.HasApp" | "c1.user.v1.HasEntitlement" | "matches" => Info::of(Ty::Bool),
                "c1.user.v1.GetAppUserStatus" => Info {
                    n: 24,
                    ..Info::of(Ty::String)
                },
                "c1.user.v1.ListAppUsersForUser" | "c1.user.v1.GetAppUsersForUser" => Info {
                    n: max_list,
                    elem: vlen,
                    ..Info::of(Ty::list(Ty::Obj(Obj::AppUser)))
                },
                "c1.directory.users.v1.FindByEmail" | "c1.directory.users.v1.GetByID" => {
                    Info::of(user)
                }
                "c1.directory.users.v1.GetManagers"
                | "c1.directory.users.v1.DirectReports"
                | "c1.directory.apps.v1.GetEntitlementMembers" => users(vlen),
                "time.parse" | "time.start_of" | "time.end_of" | "now" | "timestamp" => {
                    Info::of(Ty::Timestamp)
                }
                "time.format" => Info {
                    n: 256,
                    ..Info::of(Ty::String)
                },
                "ip" => Info::of(Ty::Ip),
                "cidr" => Info::of(Ty::Cidr),
                "removePlusSuffix" => Info {
                    path: None,
                    literals: None,
                    cost: 1,
                    ..args[0].clone()
                },
                "strings.quote" => Info {
                    n: args[0].n.saturating_mul(2).saturating_add(2),
                    ..Info::of(Ty::String)
                },
                "size" => {
                    match &args[0].ty {
                        Ty::String | Ty::Bytes | Ty::List(_) | Ty::Map(..) | Ty::Dyn => {}
                        other => {
                            let other = other.clone();
                            let whole = e.clone();
                            self.error(
                                &whole,
                                format!("`size` expects a string, bytes, list or map, got {other}"),
                            );
                            return None;
                        }
                    }
                    Info::of(Ty::Int)
                }
                "int" => Info::of(Ty::Int),
                "uint" => Info::of(Ty::Uint),
                "double" => Info::of(Ty::Double),
                "string" => Info {
                    n: args[0].n.max(64),
                    ..Info::of(Ty::String)
                },
                "bytes" => Info {
                    n: args[0].n,
                    ..Info::of(Ty::Bytes)
                },
                "bool" => Info::of(Ty::Bool),
                "duration" => Info::of(Ty::Duration),
                "type" => Info::of(Ty::Type),
                "dyn" => Info {
                    ty: Ty::Dyn,
                    path: None,
                    literals: None,
                    cost: 1,
                    ..args[0].clone()
                },
                _ => Info::of(Ty::Dyn),
            });
        }

        // Member functions: check the receiver.
        let t = target.expect("member call has a target");
        let tt = t.ty.clone();
        let on = |ok: &[Ty]| tt.is_dyn() || ok.iter().any(|o| tt.fits(o) && !tt.is_dyn());
        let list_any = Ty::list(Ty::Dyn);
        let map_any = Ty::map(Ty::Dyn, Ty::Dyn);
        let receiver_ok = match name {
            "contains" => on(&[Ty::String, Ty::Cidr]),
            "startsWith" | "endsWith" | "matches" | "charAt" | "indexOf" | "lastIndexOf"
            | "lowerAscii" | "upperAscii" | "trim" | "reverse" | "replace" | "split"
            | "substring" | "format" => on(&[Ty::String]),
            "size" => on(&[Ty::String, Ty::Bytes, list_any.clone(), map_any.clone()]),
            "join" => on(std::slice::from_ref(&list_any)),
            "ifEmpty" => on(&[Ty::String, list_any.clone(), map_any.clone(), Ty::Null]),
            "removePlusSuffix" => on(&[Ty::String, Ty::list(Ty::String)]),
            "is4" | "is6" | "isPrivate" | "isLoopback" | "isGlobalUnicast" | "isMulticast"
            | "isUnspecified" | "isLinkLocalUnicast" | "within" => on(&[Ty::Ip]),
            "getHours" | "getMinutes" | "getSeconds" | "getMilliseconds" => {
                on(&[Ty::Timestamp, Ty::Duration])
            }
            "getFullYear" | "getMonth" | "getDate" | "getDayOfMonth" | "getDayOfWeek"
            | "getDayOfYear" => on(&[Ty::Timestamp]),
            _ => true,
        };
        if !receiver_ok {
            let whole = e.clone();
            self.error(&whole, format!("`{name}` cannot be called on a {tt}"));
            return None;
        }
        let arg_ok = match name {
            "contains" if tt == Ty::Cidr => {
                self.want(e, name, "the argument", &args[0].ty, &Ty::Ip)
            }
            "within" => self.want(e, name, "the argument", &args[0].ty, &Ty::Cidr),
            "contains" | "startsWith" | "endsWith" | "matches" | "split" => {
                self.want(e, name, "the argument", &args[0].ty, &s)
            }
            "indexOf" | "lastIndexOf" => self.want(e, name, "the argument", &args[0].ty, &s),
            "replace" => {
                self.want(e, name, "the first argument", &args[0].ty, &s)
                    && self.want(e, name, "the second argument", &args[1].ty, &s)
            }
            "charAt" | "substring" => self.want(e, name, "the argument", &args[0].ty, &Ty::Int),
            _ => true,
        };
        if !arg_ok {
            return None;
        }
        Some(match name {
            "contains" | "startsWith" | "endsWith" | "matches" | "hasValue" | "is4" | "is6"
            | "isPrivate" | "isLoopback" | "isGlobalUnicast" | "isMulticast" | "isUnspecified"
            | "isLinkLocalUnicast" | "within" => Info::of(Ty::Bool),
            "size" | "indexOf" | "lastIndexOf" | "getFullYear" | "getMonth" | "getDate"
            | "getDayOfMonth" | "getDayOfWeek" | "getDayOfYear" | "getHours" | "getMinutes"
            | "getSeconds" | "getMilliseconds" => Info::of(Ty::Int),
            "charAt" => Info {
                n: 4,
                ..Info::of(Ty::String)
            },
            "lowerAscii" | "upperAscii" | "trim" | "reverse" | "substring" => Info {
                n: t.n,
                ..Info::of(Ty::String)
            },
            "replace" => {
                // worst case: every byte replaced by the replacement
                let growth = args[1].n.max(1);
                Info {
                    n: t.n.saturating_mul(growth).max(t.n),
                    ..Info::of(Ty::String)
                }
            }
            "split" => Info {
                n: t.n.max(1),
                elem: t.n,
                ..Info::of(Ty::list(Ty::String))
            },
            "join" => Info {
                n: t.n
                    .saturating_mul(t.elem.saturating_add(args.first().map_or(0, |a| a.n))),
                ..Info::of(Ty::String)
            },
            "format" => Info {
                n: t.n
                    .saturating_add(args[0].n.saturating_mul(args[0].elem.max(flen))),
                ..Info::of(Ty::String)
            },
            "ifEmpty" => Info {
                ty: t.ty.join(&args[0].ty),
                n: t.n.max(args[0].n),
                elem: t.elem.max(args[0].elem),
                cost: 1,
                path: None,
                literals: None,
            },
            "removePlusSuffix" => Info {
                path: None,
                literals: None,
                cost: 1,
                ..t.clone()
            },
            _ => Info::of(Ty::Dyn),
        })
    }

    /// Operators (and the macros' internal calls). `None` when `name` is not one.
    fn operator(&mut self, e: &mut IdedExpr, name: &str) -> Option<Info> {
        let Expr::Call(call) = &mut e.expr else {
            unreachable!("call")
        };
        let n_args = call.args.len();
        let is_op = matches!(
            name,
            op::CONDITIONAL
                | op::LOGICAL_AND
                | op::LOGICAL_OR
                | op::LOGICAL_NOT
                | op::SUBSTRACT
                | op::ADD
                | op::MULTIPLY
                | op::DIVIDE
                | op::MODULO
                | op::EQUALS
                | op::NOT_EQUALS
                | op::GREATER_EQUALS
                | op::LESS_EQUALS
                | op::GREATER
                | op::LESS
                | op::NEGATE
                | op::INDEX
                | op::OPT_INDEX
                | op::OPT_SELECT
                | op::NOT_STRICTLY_FALSE
                | op::IN
        );
        if !is_op {
            return None;
        }
        if name == op::OPT_SELECT {
            // `x.?field`: the field operand is a string literal
            let i = self.value(&mut call.args[0]);
            return Some(Info::of(Ty::Dyn).with_cost(i.cost));
        }
        let infos: Vec<Info> = call.args.iter_mut().map(|a| self.value(a)).collect();
        let cost = infos.iter().map(|i| i.cost).fold(1u64, u64::saturating_add);
        let whole = e.clone();
        let t = |i: usize| infos[i].ty.clone();
        let info = match name {
            op::LOGICAL_AND | op::LOGICAL_OR => {
                for (k, i) in infos.iter().enumerate() {
                    if !i.ty.fits(&Ty::Bool) {
                        let arg = match &whole.expr {
                            Expr::Call(c) => c.args[k].clone(),
                            _ => whole.clone(),
                        };
                        let o = if name == op::LOGICAL_AND { "&&" } else { "||" };
                        self.error(
                            &arg,
                            format!("`{o}` needs bool operands; this is a {}", i.ty),
                        );
                    }
                }
                Info::of(Ty::Bool)
            }
            op::LOGICAL_NOT => {
                if !t(0).fits(&Ty::Bool) {
                    self.error(&whole, format!("`!` needs a bool, got {}", t(0)));
                }
                Info::of(Ty::Bool)
            }
            op::NOT_STRICTLY_FALSE => Info::of(Ty::Bool),
            op::NEGATE => {
                if !(t(0).is_numeric() || t(0).is_dyn() || t(0) == Ty::Duration) {
                    self.error(&whole, format!("cannot negate a {}", t(0)));
                }
                Info::of(t(0))
            }
            op::EQUALS | op::NOT_EQUALS => {
                let (a, b) = (t(0), t(1));
                if !comparable(&a, &b) {
                    self.error(
                        &whole,
                        format!("comparing a {a} with a {b} is never true; convert one side (e.g. string(x))"),
                    );
                }
                Info::of(Ty::Bool)
            }
            op::LESS | op::LESS_EQUALS | op::GREATER | op::GREATER_EQUALS => {
                let (a, b) = (t(0), t(1));
                let orderable = |x: &Ty| {
                    x.is_numeric()
                        || matches!(
                            x,
                            Ty::String
                                | Ty::Bytes
                                | Ty::Bool
                                | Ty::Timestamp
                                | Ty::Duration
                                | Ty::Dyn
                        )
                };
                let same = a.is_dyn() || b.is_dyn() || a == b || (a.is_numeric() && b.is_numeric());
                if !orderable(&a) || !orderable(&b) || !same {
                    self.error(&whole, format!("cannot order a {a} against a {b}"));
                }
                Info::of(Ty::Bool)
            }
            op::ADD => {
                let (a, b) = (t(0), t(1));
                let ty = match (&a, &b) {
                    (Ty::Dyn, x) | (x, Ty::Dyn) => {
                        if matches!(x, Ty::List(_)) {
                            x.clone()
                        } else {
                            Ty::Dyn
                        }
                    }
                    (Ty::String, Ty::String) => Ty::String,
                    (Ty::Bytes, Ty::Bytes) => Ty::Bytes,
                    (Ty::List(x), Ty::List(y)) => Ty::list(x.join(y)),
                    (Ty::Timestamp, Ty::Duration) | (Ty::Duration, Ty::Timestamp) => Ty::Timestamp,
                    (Ty::Duration, Ty::Duration) => Ty::Duration,
                    (x, y) if x == y && x.is_numeric() => x.clone(),
                    _ => {
                        self.error(&whole, format!("cannot add a {a} and a {b}"));
                        Ty::Dyn
                    }
                };
                let n = infos[0].n.saturating_add(infos[1].n);
                if matches!(ty, Ty::String | Ty::Dyn) && n > self.budget.max_string_len as u64 {
                    self.error(
                        &whole,
                        format!(
                            "this can build a string of up to {n} bytes; the limit is {}",
                            self.budget.max_string_len
                        ),
                    );
                }
                Info {
                    n,
                    elem: infos[0].elem.max(infos[1].elem),
                    ..Info::of(ty)
                }
            }
            op::SUBSTRACT | op::MULTIPLY | op::DIVIDE | op::MODULO => {
                let (a, b) = (t(0), t(1));
                let ty = match (&a, &b) {
                    (Ty::Dyn, _) | (_, Ty::Dyn) => Ty::Dyn,
                    (Ty::Timestamp, Ty::Timestamp) if name == op::SUBSTRACT => Ty::Duration,
                    (Ty::Timestamp, Ty::Duration) if name == op::SUBSTRACT => Ty::Timestamp,
                    (Ty::Duration, Ty::Duration) if name == op::SUBSTRACT => Ty::Duration,
                    (x, y)
                        if x == y
                            && x.is_numeric()
                            && !(name == op::MODULO && *x == Ty::Double) =>
                    {
                        x.clone()
                    }
                    _ => {
                        let o = match name {
                            op::SUBSTRACT => "-",
                            op::MULTIPLY => "*",
                            op::DIVIDE => "/",
                            _ => "%",
                        };
                        self.error(&whole, format!("cannot apply `{o}` to a {a} and a {b}"));
                        Ty::Dyn
                    }
                };
                Info::of(ty)
            }
            op::INDEX | op::OPT_INDEX => {
                let (c, k) = (t(0), t(1));
                let ty = match &c {
                    Ty::List(el) => {
                        if !(k.fits(&Ty::Int) || k == Ty::Uint) {
                            self.error(&whole, format!("a list is indexed by an int, not a {k}"));
                        }
                        (**el).clone()
                    }
                    Ty::Map(kt, v) => {
                        if !k.fits(kt) {
                            self.error(&whole, format!("this map's keys are {kt}, not {k}"));
                        }
                        (**v).clone()
                    }
                    Ty::Dyn => Ty::Dyn,
                    Ty::Obj(o) => {
                        self.error(
                            &whole,
                            format!(
                                "index a {} by field: `x.field`, not `x[\"field\"]`",
                                o.name()
                            ),
                        );
                        Ty::Dyn
                    }
                    other => {
                        self.error(&whole, format!("cannot index a {other}"));
                        Ty::Dyn
                    }
                };
                if name == op::OPT_INDEX {
                    Info::of(Ty::Dyn)
                } else {
                    Info {
                        n: infos[0].elem,
                        ..self.typed(ty)
                    }
                }
            }
            op::IN => {
                let c = t(1);
                match &c {
                    Ty::List(el) => {
                        if !comparable(&t(0), el) {
                            self.error(&whole, format!("a {} is never in a list<{el}>", t(0)));
                        }
                    }
                    Ty::Map(..) | Ty::Dyn => {}
                    other => self.error(&whole, format!("`in` needs a list or a map, got {other}")),
                }
                Info::of(Ty::Bool).with_cost(infos[1].n)
            }
            op::CONDITIONAL => {
                if !t(0).fits(&Ty::Bool) {
                    self.error(
                        &whole,
                        format!("the condition of `?:` must be a bool, got {}", t(0)),
                    );
                }
                let lits = match (&infos[1].literals, &infos[2].literals) {
                    (Some(a), Some(b)) => Some(a.iter().chain(b.iter()).cloned().collect()),
                    _ => None,
                };
                Info {
                    n: infos[1].n.max(infos[2].n),
                    elem: infos[1].elem.max(infos[2].elem),
                    literals: lits,
                    ..Info::of(t(1).join(&t(2)))
                }
            }
            _ => Info::of(Ty::Dyn),
        };
        let _ = n_args;
        Some(Info {
            cost: cost.saturating_add(info.cost),
            ..info
        })
    }

    fn check_result(&mut self, e: &IdedExpr, root: &Info) {
        let rule = self.purpose.result_rule();
        if !rule.accepts(&root.ty) {
            self.error(
                e,
                format!(
                    "{} expressions must return {}; this returns {}",
                    self.purpose.name(),
                    rule.describe(),
                    root.ty
                ),
            );
            return;
        }
        if rule == ResultRule::BoolOrImportDecision {
            if let Some(lits) = &root.literals {
                for l in lits {
                    if !IMPORT_DECISIONS.contains(&l.as_str()) {
                        self.error(
                            e,
                            format!(
                                "\"{l}\" is not an import decision; return true/false or one of \
                                 \"CREATE\", \"MATCH_ONLY\", \"IGNORE\""
                            ),
                        );
                        return;
                    }
                }
            }
        }
    }
}

/// Whether `==` between the two types can ever be true.
fn comparable(a: &Ty, b: &Ty) -> bool {
    match (a, b) {
        (Ty::Dyn, _) | (_, Ty::Dyn) | (Ty::Null, _) | (_, Ty::Null) => true,
        (x, y) if x.is_numeric() && y.is_numeric() => true,
        (Ty::Ip, Ty::String) | (Ty::String, Ty::Ip) => true,
        (Ty::List(x), Ty::List(y)) => comparable(x, y),
        (Ty::Map(..), Ty::Map(..)) => true,
        (Ty::Obj(_), Ty::Map(..)) | (Ty::Map(..), Ty::Obj(_)) => true,
        (x, y) => x == y,
    }
}

/// Wraps the user part of a comprehension's step in [`TICK`] without changing the shapes the
/// interpreter optimizes (`@result + [x]`, `cond ? @result + [x] : @result`, `@result && p`).
fn inject_tick(c: &mut ComprehensionExpr, id: u64) {
    let accu = c.accu_var.clone();
    let is_accu = |e: &IdedExpr| matches!(&e.expr, Expr::Ident(n) if *n == accu);
    fn wrap(e: &mut IdedExpr, id: u64) {
        let inner = std::mem::take(e);
        *e = IdedExpr {
            id,
            expr: Expr::Call(CallExpr {
                func_name: TICK.to_owned(),
                target: None,
                args: vec![inner],
            }),
        };
    }
    let step = &mut c.loop_step;
    if let Expr::Call(call) = &mut step.expr {
        if call.target.is_none() {
            match (call.func_name.as_str(), call.args.len()) {
                (op::CONDITIONAL, 3) if is_accu(&call.args[2]) => {
                    wrap(&mut call.args[0], id);
                    return;
                }
                (op::ADD, 2) if is_accu(&call.args[0]) => {
                    if let Expr::List(l) = &mut call.args[1].expr {
                        if let Some(first) = l.elements.first_mut() {
                            wrap(first, id);
                            return;
                        }
                    }
                }
                (op::LOGICAL_AND | op::LOGICAL_OR, 2) if is_accu(&call.args[0]) => {
                    wrap(&mut call.args[1], id);
                    return;
                }
                _ => {}
            }
        }
    }
    wrap(step, id);
}
