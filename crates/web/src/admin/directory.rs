//! Directory > User data sources: the apps designated as directories (their order, import
//! condition, merge matching, last run and conflicts), "Add directory data source" and Edit
//! with an account import condition in CEL (validated live and on save), custom merge matching
//! rules (ordered, preset fields or CEL) and a data preview before saving.
//!
//! The rules editor works without the script: moving, adding, removing and switching a rule
//! to CEL are submit buttons (`op`) that re-render the form with the draft.

use super::policies::{cel_field, cel_problems};
use crate::api::{self, enc, list, text};
use crate::employee::query;
use crate::ui::{self, esc, Page, Section};
use crate::viewer::{Form, Viewer};
use crate::Web;
use axum::extract::{Path, RawQuery, State};
use axum::http::{Method, StatusCode};
use axum::response::{IntoResponse, Redirect, Response};
use axum::routing::{get, post};
use axum::Router;
use serde_json::{json, Value};

pub(super) fn routes() -> Router<Web> {
    Router::new()
        .route("/admin/directory", get(page))
        .route("/admin/directory/new", get(new_form).post(new_submit))
        .route(
            "/admin/directory/{app_id}/edit",
            get(edit_form).post(edit_submit),
        )
        .route("/admin/directory/{app_id}/delete", post(delete))
        .route("/admin/directory/{app_id}/move", post(move_directory))
}

/// The preset fields of the merge-matching editor: (form value, label, CEL field).
const FIELDS: &[(&str, &str, &str)] = &[
    ("email", "Primary email", "subject.email"),
    ("emails", "All emails", "subject.emails"),
    ("usernames", "Username", "subject.usernames"),
    ("displayName", "Display name", "subject.displayName"),
    ("employeeIds", "Employee ID", "subject.employeeIds"),
];

/// Most rules a draft keeps (the form is re-posted with all of them).
const MAX_RULES: usize = 20;

fn is_email(field: &str) -> bool {
    matches!(field, "email" | "emails")
}

/// The CEL a preset field stands for.
fn field_cel(field: &str, remove_plus: bool) -> String {
    let path = FIELDS
        .iter()
        .find(|(v, _, _)| *v == field)
        .map(|(_, _, p)| *p)
        .unwrap_or("subject.emails");
    if remove_plus && is_email(field) {
        format!("removePlusSuffix({path})")
    } else {
        path.to_string()
    }
}

/// Reads a preset form back from CEL (`subject.x` or `removePlusSuffix(subject.x)`).
fn parse_preset(source: &str) -> Option<(&'static str, bool)> {
    let s: String = source.chars().filter(|c| !c.is_whitespace()).collect();
    let (inner, plus) = match s
        .strip_prefix("removePlusSuffix(")
        .and_then(|r| r.strip_suffix(')'))
    {
        Some(i) => (i.to_string(), true),
        None => (s.clone(), false),
    };
    let name = inner.strip_prefix("subject.")?;
    let name = match name {
        "username" => "usernames",
        "display_name" => "displayName",
        "employee_ids" => "employeeIds",
        n => n,
    };
    let field = FIELDS.iter().find(|(v, _, _)| *v == name)?.0;
    if plus && !is_email(field) {
        return None;
    }
    Some((field, plus))
}

/// One merge rule as the form edits it.
#[derive(Clone, Debug)]
struct RuleDraft {
    /// Written in CEL rather than with the preset fields.
    cel: bool,
    dir_field: String,
    user_field: String,
    remove_plus: bool,
    dir_cel: String,
    user_cel: String,
}

impl RuleDraft {
    fn preset(dir: &str, user: &str, remove_plus: bool) -> Self {
        RuleDraft {
            cel: false,
            dir_field: dir.into(),
            user_field: user.into(),
            remove_plus,
            dir_cel: String::new(),
            user_cel: String::new(),
        }
    }

    fn from_case(app_key: &str, user_key: &str) -> Self {
        match (parse_preset(app_key), parse_preset(user_key)) {
            (Some((d, dp)), Some((u, up)))
                if field_cel(d, dp || up) == field_cel(d, dp)
                    && field_cel(u, dp || up) == field_cel(u, up) =>
            {
                RuleDraft::preset(d, u, dp || up)
            }
            _ => RuleDraft {
                cel: true,
                dir_field: "emails".into(),
                user_field: "emails".into(),
                remove_plus: false,
                dir_cel: app_key.into(),
                user_cel: user_key.into(),
            },
        }
    }

    /// `(appUserKeyCel, userKeyCel)`.
    fn keys(&self) -> (String, String) {
        if self.cel {
            (self.dir_cel.clone(), self.user_cel.clone())
        } else {
            (
                field_cel(&self.dir_field, self.remove_plus),
                field_cel(&self.user_field, self.remove_plus),
            )
        }
    }
}

fn default_rules() -> Vec<RuleDraft> {
    vec![
        RuleDraft::preset("emails", "emails", false),
        RuleDraft::preset("employeeIds", "employeeIds", false),
    ]
}

/// The directory form's state, from the stored directory or the posted form.
#[derive(Clone, Debug)]
struct Draft {
    app_id: String,
    /// Import condition is a CEL expression (else all accounts).
    use_cel: bool,
    cel: String,
    custom: bool,
    rules: Vec<RuleDraft>,
    priority: String,
}

impl Draft {
    fn empty(app_id: &str) -> Self {
        Draft {
            app_id: app_id.into(),
            use_cel: false,
            cel: String::new(),
            custom: false,
            rules: default_rules(),
            priority: String::new(),
        }
    }

    fn from_directory(d: &Value) -> Self {
        let cel = text(d, "celExpression.expression").to_string();
        let cases = list(d, "mergeConfig.matchCases");
        let rules: Vec<RuleDraft> = cases
            .iter()
            .map(|c| RuleDraft::from_case(text(c, "appUserKeyCel"), text(c, "userKeyCel")))
            .collect();
        Draft {
            app_id: text(d, "appId").into(),
            use_cel: api::at(d, "celExpression").is_some(),
            cel,
            custom: !rules.is_empty(),
            rules: if rules.is_empty() {
                default_rules()
            } else {
                rules
            },
            priority: d
                .get("priority")
                .and_then(Value::as_u64)
                .map(|p| p.to_string())
                .unwrap_or_default(),
        }
    }

    fn from_form(f: &Form, app_id: &str) -> Self {
        let n: usize = f.get("rules").parse().unwrap_or(0).min(MAX_RULES);
        let rules = (0..n)
            .map(|i| {
                let k = |s: &str| format!("r{i}_{s}");
                RuleDraft {
                    cel: f.get(&k("mode")) == "cel",
                    dir_field: f.get(&k("dir")).to_string(),
                    user_field: f.get(&k("user")).to_string(),
                    remove_plus: f.checked(&k("plus")),
                    dir_cel: f.get(&k("dcel")).to_string(),
                    user_cel: f.get(&k("ucel")).to_string(),
                }
            })
            .collect();
        Draft {
            app_id: app_id.to_string(),
            use_cel: f.get("filter") == "cel",
            cel: f.get("cel").to_string(),
            custom: f.get("matching") == "custom",
            rules,
            priority: f.get("priority").to_string(),
        }
    }

    /// Applies a rule-editing button; true when it was one.
    fn apply_op(&mut self, op: &str) -> bool {
        let (verb, i) = match op.split_once(':') {
            Some((v, i)) => (v, i.parse::<usize>().unwrap_or(usize::MAX)),
            None => (op, usize::MAX),
        };
        let n = self.rules.len();
        match verb {
            "add" => {
                if n < MAX_RULES {
                    self.rules
                        .push(RuleDraft::preset("emails", "emails", false));
                }
            }
            "up" if i < n && i > 0 => self.rules.swap(i, i - 1),
            "down" if i + 1 < n => self.rules.swap(i, i + 1),
            "remove" if i < n => {
                self.rules.remove(i);
            }
            "cel" if i < n => {
                let (d, u) = self.rules[i].keys();
                let r = &mut self.rules[i];
                r.cel = true;
                r.dir_cel = d;
                r.user_cel = u;
            }
            "preset" if i < n => {
                let r = &self.rules[i];
                self.rules[i] = RuleDraft::from_case(&r.dir_cel, &r.user_cel);
                self.rules[i].cel = false;
            }
            "up" | "down" | "remove" | "cel" | "preset" => {}
            _ => return false,
        }
        // Editing rules means custom matching.
        self.custom = true;
        true
    }

    /// The API body (create, preview and update share it).
    fn body(&self) -> Result<Value, String> {
        let mut b = json!({});
        if !self.app_id.is_empty() {
            b["appId"] = json!(self.app_id);
        }
        if self.use_cel {
            b["celExpression"] = json!({"expression": self.cel});
        } else {
            b["all"] = json!({});
        }
        b["mergeConfig"] = if self.custom {
            let cases: Vec<Value> = self
                .rules
                .iter()
                .map(|r| {
                    let (a, u) = r.keys();
                    json!({"appUserKeyCel": a, "userKeyCel": u})
                })
                .collect();
            json!({ "matchCases": cases })
        } else {
            json!({"matchCases": []})
        };
        if !self.priority.is_empty() {
            match self.priority.parse::<u32>() {
                Ok(p) if p >= 1 => b["priority"] = json!(p),
                _ => return Err("Order must be a whole number from 1 (1 wins over 2).".into()),
            }
        }
        Ok(b)
    }
}

/// CEL problems of a draft, per field name (`cel`, `r0_dcel`, …), checked with the API.
async fn draft_problems(w: &Web, v: &Viewer, d: &Draft) -> Vec<(String, Vec<String>)> {
    let mut out = Vec::new();
    if d.use_cel {
        if d.cel.trim().is_empty() {
            out.push((
                "cel".to_string(),
                vec!["Write an expression, or choose All accounts.".to_string()],
            ));
        } else {
            let p = cel_problems(w, v, "directory_account_filter", &d.cel).await;
            if !p.is_empty() {
                out.push(("cel".to_string(), p));
            }
        }
    }
    if d.custom {
        for (i, r) in d.rules.iter().enumerate().filter(|(_, r)| r.cel) {
            for (name, purpose, src) in [
                (format!("r{i}_dcel"), "account_key", &r.dir_cel),
                (format!("r{i}_ucel"), "user_key", &r.user_cel),
            ] {
                let p = if src.trim().is_empty() {
                    vec!["Write an expression for this key.".to_string()]
                } else {
                    cel_problems(w, v, purpose, src).await
                };
                if !p.is_empty() {
                    out.push((name, p));
                }
            }
        }
    }
    out
}

fn problems_for<'a>(all: &'a [(String, Vec<String>)], name: &str) -> &'a [String] {
    all.iter()
        .find(|(n, _)| n == name)
        .map(|(_, p)| p.as_slice())
        .unwrap_or(&[])
}

async fn app_name(w: &Web, v: &Viewer, app_id: &str) -> String {
    match w.api.get(v, &format!("/api/v1/apps/{}", enc(app_id))).await {
        Ok(a) if !text(&a, "app.displayName").is_empty() => text(&a, "app.displayName").into(),
        _ => app_id.to_string(),
    }
}

async fn user_label(w: &Web, v: &Viewer, id: &str) -> String {
    if id.starts_with('(') {
        return id.to_string();
    }
    match w.api.get(v, &format!("/api/v1/users/{}", enc(id))).await {
        Ok(u) => {
            let name = text(&u, "userView.user.displayName");
            let email = text(&u, "userView.user.email");
            match (name.is_empty(), email.is_empty()) {
                (false, false) => format!("{name} <{email}>"),
                (false, true) => name.into(),
                (true, false) => email.into(),
                _ => id.into(),
            }
        }
        Err(_) => id.to_string(),
    }
}

/// Live directories, in order (priority, then creation).
async fn directories(w: &Web, v: &Viewer) -> Result<Vec<Value>, api::Refusal> {
    let mut out = Vec::new();
    let mut token = String::new();
    loop {
        let page = w
            .api
            .get(
                v,
                &format!("/api/v1/directories?pageSize=100&pageToken={}", enc(&token)),
            )
            .await?;
        out.extend(list(&page, "list").iter().map(|d| d["directory"].clone()));
        token = text(&page, "nextPageToken").to_string();
        if token.is_empty() || out.len() >= 1000 {
            break;
        }
    }
    out.sort_by_key(|d| {
        (
            d.get("priority").and_then(Value::as_u64).unwrap_or(0),
            text(d, "createdAt").to_string(),
        )
    });
    Ok(out)
}

fn counts_list(c: &Value, id: &str, preview: bool) -> String {
    let n = |k: &str| c.get(k).and_then(Value::as_u64).unwrap_or(0);
    let (created, updated, removed) = if preview {
        ("Users to create", "Users to update", "Users to remove")
    } else {
        ("Users created", "Users updated", "Users removed")
    };
    let items = [
        (created, "usersCreated"),
        ("Accounts matched", "accountsMatched"),
        ("Accounts ignored", "accountsIgnored"),
        (updated, "usersUpdated"),
        (removed, "usersRemoved"),
        ("Conflicts", "conflicts"),
        ("Errors", "accountErrors"),
    ];
    let dl: String = items
        .iter()
        .map(|(label, k)| {
            format!(
                "<div data-count=\"{k}\"><dt>{}</dt><dd>{}</dd></div>",
                esc(label),
                n(k)
            )
        })
        .collect();
    format!("<dl class=\"counts\" id=\"{id}\">{dl}</dl>")
}

/// `GET /admin/directory`.
async fn page(State(w): State<Web>, v: Viewer, RawQuery(raw): RawQuery) -> Response {
    let mut body = ui::done_notice(&query(&raw, "done"));
    body.push_str(
        "<p class=\"muted\">Directory &gt; User data sources. Each directory's accounts become Chamberlain users; where several directories import the same person, the first in this order wins.</p>\
<div class=\"actions\"><a class=\"button\" href=\"/admin/directory/new\">Add directory data source</a></div>",
    );
    let dirs = match directories(&w, &v).await {
        Ok(d) => d,
        Err(e) => {
            body.push_str(&ui::notice("error", &e.message));
            return Page::new(Section::Directory, "User data sources", body).render(&v);
        }
    };
    let n = dirs.len();
    let mut rows = Vec::new();
    for (i, d) in dirs.iter().enumerate() {
        let app_id = text(d, "appId");
        let name = app_name(&w, &v, app_id).await;
        let condition = match api::at(d, "celExpression") {
            Some(c) => format!("<code>{}</code>", esc(text(c, "expression"))),
            None => "All accounts".to_string(),
        };
        let cases = list(d, "mergeConfig.matchCases").len();
        let matching = if cases == 0 {
            "Default (email, then employee ID)".to_string()
        } else {
            format!("Custom ({cases} rule{})", if cases == 1 { "" } else { "s" })
        };
        let mv = |dir: &str, label: &str, enabled: bool| {
            if !enabled {
                return String::new();
            }
            format!(
                "<form method=\"post\" action=\"/admin/directory/{}/move\" class=\"inline\">{}<button type=\"submit\" name=\"dir\" value=\"{dir}\" class=\"small secondary\" aria-label=\"{} {}\">{}</button></form>",
                enc(app_id),
                ui::csrf(&v),
                esc(label),
                esc(&name),
                esc(label)
            )
        };
        let order = format!(
            "{}{}{}",
            i + 1,
            mv("up", "Move up", i > 0),
            mv("down", "Move down", i + 1 < n)
        );
        let menu = format!(
            "<details class=\"more\"><summary aria-label=\"More actions for {name}\">⋯</summary><div class=\"menu-items\"><a href=\"/admin/directory/{id}/edit\">Edit</a>{del}</div></details>",
            name = esc(&name),
            id = enc(app_id),
            del = ui::action_button(
                &v,
                &format!("/admin/directory/{}/delete", enc(app_id)),
                "Delete",
                "link danger",
                &format!("Stop using {name} as a directory? Users only it imported are removed on the next run."),
            )
        );
        rows.push(vec![
            order,
            format!("<a href=\"/admin/apps/{}\">{}</a>", enc(app_id), esc(&name)),
            condition,
            esc(&matching),
            ui::when(text(d, "updatedAt")),
            menu,
        ]);
    }
    body.push_str(&ui::table(
        "directories",
        &[
            "Order",
            "App",
            "Account import condition",
            "Merge matching",
            "Updated",
            "Actions",
        ],
        &rows,
        "No directory yet. Add a directory data source: an app that holds a record for every person (your identity provider, HR system or a CSV), synced at least once.",
    ));
    body.push_str(&last_run(&w, &v).await);
    Page::new(Section::Directory, "User data sources", body).render(&v)
}

/// The newest directory run with its conflicts (both candidates shown).
async fn last_run(w: &Web, v: &Viewer) -> String {
    let runs = match w.api.get(v, "/api/v1/directories/runs?pageSize=10").await {
        Ok(r) => r,
        Err(e) => return ui::notice("error", &e.message),
    };
    let Some(run) = list(&runs, "list").first() else {
        return "<h2>Last run</h2><p class=\"empty\" id=\"last-run-empty\">No directory run yet; one starts after a directory is added or changed, and after each sync of a directory app.</p>".into();
    };
    let state = match text(run, "state") {
        "DONE" => ui::badge("ok", "Done"),
        "ERROR" => ui::badge("bad", "Failed"),
        s => ui::badge("warn", &s.to_lowercase()),
    };
    let mut out = format!(
        "<h2>Last run</h2><section class=\"card\" id=\"last-run\"><p>{state} {} {}</p>{}",
        ui::when(text(run, "completedAt")),
        if text(run, "error").is_empty() {
            String::new()
        } else {
            format!("<span class=\"muted\">{}</span>", esc(text(run, "error")))
        },
        counts_list(&run["counts"], "last-run-counts", false)
    );
    out.push_str(&conflicts(w, v, run, "conflicts").await);
    out.push_str("</section>");
    out
}

/// A run's conflicts: the account, the key, the rule and every candidate user.
async fn conflicts(w: &Web, v: &Viewer, run: &Value, id: &str) -> String {
    let mut rows = Vec::new();
    for c in list(run, "conflicts").iter().take(50) {
        let mut cands = Vec::new();
        for uid in list(c, "candidateUserIds").iter().filter_map(Value::as_str) {
            cands.push(format!("<li>{}</li>", esc(&user_label(w, v, uid).await)));
        }
        let acct = if text(c, "appUserDisplayName").is_empty() {
            text(c, "appUserId")
        } else {
            text(c, "appUserDisplayName")
        };
        rows.push(vec![
            esc(acct),
            format!("<code>{}</code>", esc(text(c, "key"))),
            format!(
                "Rule {}",
                c.get("matchCase").and_then(Value::as_u64).unwrap_or(0) + 1
            ),
            format!("<ul class=\"plain\">{}</ul>", cands.concat()),
        ]);
    }
    let mut out = format!(
        "<h3>Conflicts</h3><p class=\"muted\">An account that several users match is linked to none of them until the rules tell them apart.</p>{}",
        ui::table(
            id,
            &["Account", "Key", "Matched by", "Candidate users"],
            &rows,
            "No conflicts: every account matched at most one user.",
        )
    );
    let total = run
        .get("conflictTotal")
        .and_then(Value::as_u64)
        .unwrap_or(0);
    if total > rows.len() as u64 {
        out.push_str(&format!(
            "<p class=\"muted\">Showing {} of {total} conflicts.</p>",
            rows.len()
        ));
    }
    out
}

/// Apps that completed a sync, for the app dropdown (searchable with `q`).
async fn synced_apps(w: &Web, v: &Viewer, q: &str) -> Result<Vec<(String, String)>, api::Refusal> {
    let found = w
        .api
        .post(
            v,
            "/api/v1/search/apps",
            json!({"query": q.to_lowercase(), "pageSize": 50}),
        )
        .await?;
    let mut out = Vec::new();
    for a in list(&found, "list") {
        let id = text(a, "id");
        if id.is_empty() || a.get("isDirectory").and_then(Value::as_bool) == Some(true) {
            continue;
        }
        let Ok(conns) = w
            .api
            .get(v, &format!("/api/v1/apps/{}/connectors", enc(id)))
            .await
        else {
            continue;
        };
        let synced = list(&conns, "list").iter().any(|c| {
            !text(c, "connector.status.completedAt").is_empty()
                || text(c, "connector.status.status") == "SYNC_STATUS_DONE"
        });
        if synced {
            out.push((id.to_string(), text(a, "displayName").to_string()));
        }
    }
    Ok(out)
}

fn rule_row(i: usize, n: usize, r: &RuleDraft, problems: &[(String, Vec<String>)]) -> String {
    let k = |s: &str| format!("r{i}_{s}");
    let opts: Vec<(String, String)> = FIELDS
        .iter()
        .map(|(v, l, _)| (v.to_string(), l.to_string()))
        .collect();
    let editor = if r.cel {
        format!(
            "{}{}{}{}<button type=\"submit\" name=\"op\" value=\"preset:{i}\" class=\"small secondary\">Use preset fields</button>",
            ui::hidden(&k("mode"), "cel"),
            cel_field(
                &format!("Directory account key, CEL (rule {})", i + 1),
                &k("dcel"),
                &r.dir_cel,
                "account_key",
                problems_for(problems, &k("dcel")),
            ),
            cel_field(
                &format!("Chamberlain user key, CEL (rule {})", i + 1),
                &k("ucel"),
                &r.user_cel,
                "user_key",
                problems_for(problems, &k("ucel")),
            ),
            ui::hidden(&k("dir"), &r.dir_field) + &ui::hidden(&k("user"), &r.user_field),
        )
    } else {
        format!(
            "{}<div class=\"pair\"><div>{}</div><span aria-hidden=\"true\">↔</span><div>{}</div></div>\
<label class=\"check\"><input type=\"checkbox\" name=\"{plus}\" id=\"f-{plus}\"{checked}> Remove + suffix <span class=\"muted\">(email fields: user+tag@example.com matches user@example.com)</span></label>\
<button type=\"submit\" name=\"op\" value=\"cel:{i}\" class=\"small secondary\" title=\"Switch to CEL expression\">Switch to CEL expression</button>",
            ui::hidden(&k("mode"), "preset"),
            ui::select(
                &format!("Directory source account field (rule {})", i + 1),
                &k("dir"),
                &opts,
                &r.dir_field
            ),
            ui::select(
                &format!("Chamberlain user field (rule {})", i + 1),
                &k("user"),
                &opts,
                &r.user_field
            ),
            plus = k("plus"),
            checked = if r.remove_plus { " checked" } else { "" },
        )
    };
    let btn = |op: &str, label: &str, on: bool| {
        if on {
            format!("<button type=\"submit\" name=\"op\" value=\"{op}:{i}\" class=\"small secondary\" aria-label=\"{label} rule {}\">{label}</button>", i + 1)
        } else {
            String::new()
        }
    };
    format!(
        "<li class=\"rule card\" data-rule=\"{i}\" draggable=\"true\"><h4>Rule {}</h4>{editor}<div class=\"actions\">{}{}{}</div></li>",
        i + 1,
        btn("up", "Move up", i > 0),
        btn("down", "Move down", i + 1 < n),
        btn("remove", "Remove", n > 1),
    )
}

struct FormCtx<'a> {
    /// `None` for a new directory, else its app name.
    editing: Option<&'a str>,
    apps: Vec<(String, String)>,
    app_q: String,
    problem: Option<String>,
    problems: Vec<(String, Vec<String>)>,
    /// The dry run and its conflicts table.
    preview: Option<(Value, String)>,
}

fn samples(run: &Value, key: &str, title: &str) -> String {
    let rows: Vec<Vec<String>> = list(run, &format!("samples.{key}"))
        .iter()
        .map(|s| {
            vec![
                esc(text(s, "displayName")),
                esc(text(s, "email")),
                esc(text(s, "appUserId")),
            ]
        })
        .collect();
    if rows.is_empty() {
        return String::new();
    }
    format!(
        "<h4>{}</h4>{}",
        esc(title),
        ui::table(
            &format!("preview-{key}"),
            &["Name", "Email", "Account"],
            &rows,
            ""
        )
    )
}

fn render_form(v: &Viewer, d: &Draft, ctx: FormCtx<'_>) -> Response {
    let action = match ctx.editing {
        Some(_) => format!("/admin/directory/{}/edit", enc(&d.app_id)),
        None => "/admin/directory/new".to_string(),
    };
    let mut body = String::new();
    if let Some(p) = &ctx.problem {
        body.push_str(&ui::notice("error", p));
    }
    let app_section = match ctx.editing {
        Some(name) => format!(
            "<p>App: <strong id=\"directory-app\">{}</strong></p>",
            esc(name)
        ),
        None => {
            let search = format!(
                "<form class=\"search\" method=\"get\" action=\"/admin/directory/new\" role=\"search\"><label for=\"app-q\">Find an app</label><input id=\"app-q\" type=\"search\" name=\"app_q\" value=\"{}\"><button type=\"submit\" class=\"secondary\">Search</button></form>",
                esc(&ctx.app_q)
            );
            body.push_str(&search);
            if ctx.apps.is_empty() {
                "<p class=\"empty\" id=\"apps-empty\">No app has completed a sync yet. Only apps set up and synced at least once can be a directory: <a href=\"/admin/apps\">sync an app</a> first (upload a file or run its connector).</p>".to_string()
            } else {
                let mut opts = vec![(String::new(), "Select an application".to_string())];
                opts.extend(ctx.apps.iter().cloned());
                format!(
                    "{}<p class=\"muted\">Only apps that have been set up and synced at least once are available to select.</p>",
                    ui::select("Application", "app", &opts, &d.app_id)
                )
            }
        }
    };
    let radio = |name: &str, value: &str, label: &str, on: bool| {
        format!(
            "<label class=\"check\"><input type=\"radio\" name=\"{name}\" value=\"{value}\" id=\"f-{name}-{value}\"{}> {}</label>",
            if on { " checked" } else { "" },
            esc(label)
        )
    };
    let n = d.rules.len();
    let rules: String = d
        .rules
        .iter()
        .enumerate()
        .map(|(i, r)| rule_row(i, n, r, &ctx.problems))
        .collect();
    let preview = match &ctx.preview {
        None => String::new(),
        Some((p, conflicts)) => {
            let run = &p["run"];
            format!(
                "<section class=\"card\" id=\"preview\" aria-live=\"polite\"><h2>Data preview</h2><p class=\"muted\">What the next run would do with this configuration. Nothing has been changed yet.</p>{}{}{}{}{}{conflicts}</section>",
                counts_list(&run["counts"], "preview-counts", true),
                samples(run, "create", "Users to create (examples)"),
                samples(run, "matched", "Accounts matched to existing users (examples)"),
                samples(run, "ignore", "Accounts ignored (examples)"),
                samples(run, "remove", "Users to remove (examples)"),
            )
        }
    };
    let submit = if ctx.editing.is_some() {
        "Update"
    } else {
        "Create directory"
    };
    body.push_str(&format!(
        "<form method=\"post\" action=\"{action}\" class=\"card directory-form\" id=\"directory-form\">{csrf}\
<button type=\"submit\" name=\"op\" value=\"preview\" class=\"sr\" tabindex=\"-1\" aria-hidden=\"true\">Preview</button>\
<fieldset><legend>Directory</legend>{app_section}</fieldset>\
<fieldset class=\"choice\" id=\"import-condition\"><legend>Account import condition</legend>{all}{celr}\
<div class=\"when-cel\">{celf}<p class=\"muted\">Return true or \"CREATE\" to match or create a user, \"MATCH_ONLY\" to link to an existing user only, false or \"IGNORE\" to skip the account. <code>subject</code> is the account, e.g. <code>subject.email.endsWith(\"@example.com\")</code>.</p></div></fieldset>\
<fieldset class=\"choice\" id=\"merge-matching\"><legend>Custom merge matching</legend>{def}{cus}\
<div class=\"when-custom\"><p class=\"muted\">Rules are evaluated in order; the first rule that produces a match is used.</p><input type=\"hidden\" name=\"rules\" value=\"{n}\"><ol class=\"rules\" id=\"rules\">{rules}</ol>\
<button type=\"submit\" name=\"op\" value=\"add\" class=\"secondary\">Add rule</button></div></fieldset>\
<fieldset><legend>Order</legend>{prio}</fieldset>\
<div class=\"actions\"><button type=\"submit\" name=\"op\" value=\"preview\" class=\"secondary\">Preview data</button><button type=\"submit\" name=\"op\" value=\"save\">{submit}</button><a href=\"/admin/directory\">Cancel</a></div></form>{preview}",
        csrf = ui::csrf(v),
        all = radio("filter", "all", "All accounts", !d.use_cel),
        celr = radio("filter", "cel", "CEL expression", d.use_cel),
        celf = cel_field(
            "CEL expression (account import condition)",
            "cel",
            &d.cel,
            "directory_account_filter",
            problems_for(&ctx.problems, "cel"),
        ),
        def = radio("matching", "default", "Default - match on email and employee ID", !d.custom),
        cus = radio("matching", "custom", "Custom - define custom matching rules", d.custom),
        prio = ui::text_field(
            "Order among directories (1 wins over 2; empty keeps it last or unchanged)",
            "priority",
            &d.priority,
            "type=\"number\" min=\"1\" inputmode=\"numeric\""
        ),
    ));
    let title = match ctx.editing {
        Some(name) => format!("Edit directory: {name}"),
        None => "Add directory data source".to_string(),
    };
    let status = if ctx.problem.is_some() || !ctx.problems.is_empty() {
        StatusCode::BAD_REQUEST
    } else {
        StatusCode::OK
    };
    Page::new(Section::Directory, title, body)
        .status(status)
        .render(v)
}

/// `GET /admin/directory/new[?app_q=…]`.
async fn new_form(State(w): State<Web>, v: Viewer, RawQuery(raw): RawQuery) -> Response {
    let app_q = query(&raw, "app_q");
    let d = Draft::empty(&query(&raw, "app"));
    let (apps, problem) = match synced_apps(&w, &v, &app_q).await {
        Ok(a) => (a, None),
        Err(e) => (vec![], Some(e.message)),
    };
    render_form(
        &v,
        &d,
        FormCtx {
            editing: None,
            apps,
            app_q,
            problem,
            problems: vec![],
            preview: None,
        },
    )
}

/// Handles a posted directory form: rule buttons re-render, preview shows the dry run, save
/// creates or updates (after the CEL checks).
async fn submit(w: &Web, v: &Viewer, f: &Form, editing: Option<(&str, String)>) -> Response {
    let app_id = match &editing {
        Some((id, _)) => id.to_string(),
        None => f.get("app").to_string(),
    };
    let mut d = Draft::from_form(f, &app_id);
    let op = f.get("op").to_string();
    let mut apps = if editing.is_none() {
        synced_apps(w, v, "").await.unwrap_or_default()
    } else {
        vec![]
    };
    // An app found with the search may be beyond the first page of synced apps.
    if editing.is_none() && !app_id.is_empty() && !apps.iter().any(|(id, _)| *id == app_id) {
        apps.push((app_id.clone(), app_name(w, v, &app_id).await));
    }
    let name = editing.as_ref().map(|(_, n)| n.as_str());
    let ctx = |problem: Option<String>, problems, preview| FormCtx {
        editing: name,
        apps: apps.clone(),
        app_q: String::new(),
        problem,
        problems,
        preview,
    };
    if d.apply_op(&op) {
        return render_form(v, &d, ctx(None, vec![], None));
    }
    if d.app_id.is_empty() {
        return render_form(
            v,
            &d,
            ctx(
                Some("Select the application whose accounts become users.".into()),
                vec![],
                None,
            ),
        );
    }
    if d.custom && d.rules.is_empty() {
        return render_form(
            v,
            &d,
            ctx(
                Some(
                    "Custom merge matching needs at least one rule; add one or choose Default."
                        .into(),
                ),
                vec![],
                None,
            ),
        );
    }
    let problems = draft_problems(w, v, &d).await;
    if !problems.is_empty() {
        return render_form(
            v,
            &d,
            ctx(
                Some("Fix the expressions marked below.".into()),
                problems,
                None,
            ),
        );
    }
    let body = match d.body() {
        Ok(b) => b,
        Err(m) => return render_form(v, &d, ctx(Some(m), vec![], None)),
    };
    if op == "preview" {
        return match w.api.post(v, "/api/v1/directories/preview", body).await {
            Ok(p) => {
                let c = conflicts(w, v, &p["run"], "preview-conflicts").await;
                render_form(v, &d, ctx(None, vec![], Some((p, c))))
            }
            Err(e) => render_form(v, &d, ctx(Some(e.message), vec![], None)),
        };
    }
    let saved = match &editing {
        Some((id, _)) => {
            let mut b = body;
            if let Some(o) = b.as_object_mut() {
                o.remove("appId");
            }
            w.api
                .call(
                    v,
                    Method::PUT,
                    &format!("/api/v1/directories/{}", enc(id)),
                    Some(b),
                )
                .await
        }
        None => w.api.post(v, "/api/v1/directories", body).await,
    };
    match saved {
        Ok(_) => {
            let done = if editing.is_some() {
                "saved"
            } else {
                "created"
            };
            Redirect::to(&format!("/admin/directory?done={done}")).into_response()
        }
        Err(e) => {
            d.app_id = app_id;
            render_form(v, &d, ctx(Some(e.message), vec![], None))
        }
    }
}

/// `POST /admin/directory/new`.
async fn new_submit(State(w): State<Web>, v: Viewer, f: Form) -> Response {
    submit(&w, &v, &f, None).await
}

/// `GET /admin/directory/{app_id}/edit`.
async fn edit_form(State(w): State<Web>, v: Viewer, Path(app_id): Path<String>) -> Response {
    match w
        .api
        .get(&v, &format!("/api/v1/directories/{}", enc(&app_id)))
        .await
    {
        Ok(d) => {
            let dir = &d["directoryView"]["directory"];
            let draft = Draft::from_directory(dir);
            let name = app_name(&w, &v, &app_id).await;
            render_form(
                &v,
                &draft,
                FormCtx {
                    editing: Some(&name),
                    apps: vec![],
                    app_q: String::new(),
                    problem: None,
                    problems: vec![],
                    preview: None,
                },
            )
        }
        Err(e) => not_found(&v, &e),
    }
}

fn not_found(v: &Viewer, e: &api::Refusal) -> Response {
    let body = format!(
        "{}<p><a href=\"/admin/directory\">Back to user data sources</a></p>",
        ui::notice("error", &e.message)
    );
    Page::new(Section::Directory, "User data sources", body)
        .status(StatusCode::from_u16(e.status).unwrap_or(StatusCode::NOT_FOUND))
        .render(v)
}

/// `POST /admin/directory/{app_id}/edit`.
async fn edit_submit(
    State(w): State<Web>,
    v: Viewer,
    Path(app_id): Path<String>,
    f: Form,
) -> Response {
    let name = app_name(&w, &v, &app_id).await;
    submit(&w, &v, &f, Some((&app_id, name))).await
}

/// `POST /admin/directory/{app_id}/delete`.
async fn delete(State(w): State<Web>, v: Viewer, Path(app_id): Path<String>, _f: Form) -> Response {
    match w
        .api
        .call(
            &v,
            Method::DELETE,
            &format!("/api/v1/directories/{}", enc(&app_id)),
            None,
        )
        .await
    {
        Ok(_) => Redirect::to("/admin/directory?done=deleted").into_response(),
        Err(e) => not_found(&v, &e),
    }
}

/// `POST /admin/directory/{app_id}/move` with `dir=up|down`: swaps it with its neighbour, the
/// order renumbered 1, 2, 3….
async fn move_directory(
    State(w): State<Web>,
    v: Viewer,
    Path(app_id): Path<String>,
    f: Form,
) -> Response {
    let mut dirs = match directories(&w, &v).await {
        Ok(d) => d,
        Err(e) => return not_found(&v, &e),
    };
    let Some(i) = dirs.iter().position(|d| text(d, "appId") == app_id) else {
        return Redirect::to("/admin/directory").into_response();
    };
    match f.get("dir") {
        "up" if i > 0 => dirs.swap(i, i - 1),
        "down" if i + 1 < dirs.len() => dirs.swap(i, i + 1),
        _ => return Redirect::to("/admin/directory").into_response(),
    }
    for (n, d) in dirs.iter().enumerate() {
        let want = n as u64 + 1;
        if d.get("priority").and_then(Value::as_u64) == Some(want) {
            continue;
        }
        if let Err(e) = w
            .api
            .call(
                &v,
                Method::PUT,
                &format!("/api/v1/directories/{}", enc(text(d, "appId"))),
                Some(json!({ "priority": want })),
            )
            .await
        {
            return not_found(&v, &e);
        }
    }
    Redirect::to("/admin/directory?done=saved").into_response()
}
