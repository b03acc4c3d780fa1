//! Policies: the list, and the rules and steps editor (CEL conditions validated live and on
//! save, the API's refusal shown on the form with the input kept). Also the small CEL
//! validation endpoint the script calls for every CEL field of the admin pages.
//!
//! Steps keep what the editor does not show (escalation, fallbacks, provisioning details): each
//! step row carries its stored JSON, and the form's values are applied on top of it.

use crate::api::{self, enc, list, text};
use crate::employee::query;
use crate::ui::{self, esc, Page, Section};
use crate::viewer::{Form, Viewer};
use crate::Web;
use axum::extract::{Path, RawQuery, State};
use axum::http::{Method, StatusCode};
use axum::response::{IntoResponse, Redirect, Response};
use axum::routing::{get, post};
use axum::{Json, Router};
use serde_json::{json, Map, Value};

pub(super) fn routes() -> Router<Web> {
    Router::new()
        .route("/admin/cel/validate", post(validate))
        .route("/admin/policies", get(page))
        .route("/admin/policies/new", get(new_form).post(new_submit))
        .route("/admin/policies/{id}", get(edit_form).post(edit_submit))
        .route("/admin/policies/{id}/delete", post(delete))
}

/// CEL purposes the pages validate (the API knows more; these are the ones with fields here).
const PURPOSES: &[&str] = &[
    "policy_condition",
    "directory_account_filter",
    "account_key",
    "user_key",
    "dynamic_group",
];

/// The API's markers for `text` as `Line L, column C: message` lines (empty when valid).
pub(super) async fn cel_problems(w: &Web, v: &Viewer, purpose: &str, text: &str) -> Vec<String> {
    match markers(w, v, purpose, text).await {
        Ok(m) => m
            .iter()
            .map(|m| {
                format!(
                    "Line {}, column {}: {}",
                    m["line"],
                    m["column"],
                    m["message"].as_str().unwrap_or("")
                )
            })
            .collect(),
        Err(e) => vec![e],
    }
}

async fn markers(w: &Web, v: &Viewer, purpose: &str, text: &str) -> Result<Vec<Value>, String> {
    let ans = w
        .api
        .post(
            v,
            "/api/v1/policies/validate/cel",
            json!({"text": text, "purpose": purpose}),
        )
        .await
        .map_err(|e| e.message)?;
    Ok(list(&ans, "markers")
        .iter()
        .map(|m| {
            json!({
                "line": m.get("startLineNumber").and_then(Value::as_i64).unwrap_or(1),
                "column": m.get("startColumn").and_then(Value::as_i64).unwrap_or(1),
                "message": api::text(m, "message"),
            })
        })
        .collect())
}

/// `POST /admin/cel/validate` (`purpose`, `text`; CSRF-checked): `{"markers": [{line, column,
/// message}]}` for the live validation of CEL fields.
async fn validate(State(w): State<Web>, v: Viewer, f: Form) -> Response {
    let purpose = f.get("purpose");
    if !PURPOSES.contains(&purpose) {
        return (
            StatusCode::BAD_REQUEST,
            Json(json!({"message": "unknown purpose"})),
        )
            .into_response();
    }
    // Not trimmed: positions must match the field as typed.
    let text =
        f.0.iter()
            .find(|(k, _)| k == "text")
            .map(|(_, t)| t.as_str())
            .unwrap_or("");
    match markers(&w, &v, purpose, text).await {
        Ok(m) => Json(json!({ "markers": m })).into_response(),
        Err(e) => (StatusCode::BAD_REQUEST, Json(json!({ "message": e }))).into_response(),
    }
}

/// A labelled CEL textarea, validated live by the script (`data-cel-purpose`), with the
/// problems found on save listed under it.
pub(super) fn cel_field(
    label: &str,
    name: &str,
    value: &str,
    purpose: &str,
    problems: &[String],
) -> String {
    let items: String = problems
        .iter()
        .map(|p| format!("<li>{}</li>", esc(p)))
        .collect();
    let (class, invalid) = if problems.is_empty() {
        ("", "")
    } else {
        (" error", " aria-invalid=\"true\"")
    };
    format!(
        "<label for=\"f-{name}\">{}</label><textarea id=\"f-{name}\" name=\"{name}\" rows=\"2\" class=\"cel\" spellcheck=\"false\" autocomplete=\"off\" data-cel-purpose=\"{purpose}\" aria-describedby=\"f-{name}-markers\"{invalid}>{}</textarea>\
<ul class=\"cel-markers{class}\" id=\"f-{name}-markers\" aria-live=\"polite\">{items}</ul>",
        esc(label),
        esc(value)
    )
}

const KINDS: &[(&str, &str)] = &[
    ("users", "Approval by specific users"),
    ("manager", "Approval by the manager"),
    ("app_owners", "Approval by app owners"),
    ("entitlement_owners", "Approval by entitlement owners"),
    ("self", "Approval by the requester (self)"),
    ("accept", "Accept (approve automatically)"),
    ("reject", "Reject (deny automatically)"),
    ("provision", "Provision"),
];

const TYPES: &[(&str, &str, &str)] = &[
    ("POLICY_TYPE_GRANT", "Grant (access requests)", "grant"),
    ("POLICY_TYPE_REVOKE", "Revoke", "revoke"),
    ("POLICY_TYPE_CERTIFY", "Certify (access reviews)", "certify"),
];

fn type_label(t: &str) -> &str {
    TYPES
        .iter()
        .find(|(v, _, _)| *v == t)
        .map(|(_, l, _)| *l)
        .unwrap_or(t)
}

fn baseline_key(t: &str) -> &'static str {
    TYPES
        .iter()
        .find(|(v, _, _)| *v == t)
        .map(|(_, _, k)| *k)
        .unwrap_or("grant")
}

/// `GET /admin/policies[?q=…&page=…]`.
async fn page(State(w): State<Web>, v: Viewer, RawQuery(raw): RawQuery) -> Response {
    let q = query(&raw, "q");
    let token = query(&raw, "page");
    let mut body = ui::done_notice(&query(&raw, "done"));
    body.push_str("<div class=\"actions\"><a class=\"button\" href=\"/admin/policies/new\">New policy</a></div>");
    body.push_str(&ui::search_form(
        "/admin/policies",
        &q,
        "Search policies",
        "",
    ));
    match w
        .api
        .post(
            &v,
            "/api/v1/search/policies",
            json!({"query": q, "pageSize": 25, "pageToken": token}),
        )
        .await
    {
        Err(e) => body.push_str(&ui::notice("error", &e.message)),
        Ok(found) => {
            let rows: Vec<Vec<String>> = list(&found, "list")
                .iter()
                .map(|p| {
                    let keys: Vec<&str> = p
                        .get("policySteps")
                        .and_then(Value::as_object)
                        .map(|m| m.keys().map(String::as_str).collect())
                        .unwrap_or_default();
                    let name = format!(
                        "<a href=\"/admin/policies/{}\">{}</a>{}",
                        enc(text(p, "id")),
                        esc(text(p, "displayName")),
                        if p.get("systemBuiltin").and_then(Value::as_bool) == Some(true) {
                            format!(" {}", ui::badge("", "Built in"))
                        } else {
                            String::new()
                        }
                    );
                    vec![
                        name,
                        esc(type_label(text(p, "policyType"))),
                        list(p, "rules").len().to_string(),
                        esc(&keys.join(", ")),
                        esc(text(p, "description")),
                    ]
                })
                .collect();
            let empty = if q.is_empty() {
                "No policy yet. Create one to decide who approves requests."
            } else {
                "No policy matches your search."
            };
            body.push_str(&ui::table(
                "policies",
                &["Name", "Type", "Rules", "Step sets", "Description"],
                &rows,
                empty,
            ));
            body.push_str(&ui::pager(
                &format!("/admin/policies?q={}", enc(&q)),
                text(&found, "nextPageToken"),
            ));
        }
    }
    Page::new(Section::Policies, "Policies", body).render(&v)
}

#[derive(Clone, Debug, Default)]
struct RuleRow {
    condition: String,
    key: String,
}

#[derive(Clone, Debug, Default)]
struct StepRow {
    key: String,
    kind: String,
    /// Approver emails or ids, comma separated (kind `users`).
    users: String,
    message: String,
    approval_reason: bool,
    denial_reason: bool,
    reassignment: bool,
    /// The stored step, kept under what the form changes.
    orig: String,
}

#[derive(Clone, Debug, Default)]
struct Draft {
    name: String,
    description: String,
    policy_type: String,
    delegates: bool,
    rules: Vec<RuleRow>,
    steps: Vec<StepRow>,
}

fn step_kind(s: &Value) -> &'static str {
    if let Some(a) = api::at(s, "approval") {
        for k in ["users", "manager", "appOwners", "entitlementOwners", "self"] {
            if api::at(a, k).is_some() {
                return match k {
                    "users" => "users",
                    "manager" => "manager",
                    "appOwners" => "app_owners",
                    "entitlementOwners" => "entitlement_owners",
                    _ => "self",
                };
            }
        }
        return "approval";
    }
    for k in ["accept", "reject", "provision"] {
        if api::at(s, k).is_some() {
            return k;
        }
    }
    "other"
}

impl Draft {
    async fn from_policy(w: &Web, v: &Viewer, p: &Value) -> Draft {
        let mut steps = Vec::new();
        let baseline = baseline_key(text(p, "policyType"));
        let mut keys: Vec<&String> = p
            .get("policySteps")
            .and_then(Value::as_object)
            .map(|m| m.keys().collect())
            .unwrap_or_default();
        keys.sort_by_key(|k| (k.as_str() != baseline, k.to_string()));
        for key in keys {
            for s in list(&p["policySteps"][key.as_str()], "steps") {
                let kind = step_kind(s);
                let a = &s["approval"];
                let mut users = Vec::new();
                for id in list(a, "users.userIds").iter().filter_map(Value::as_str) {
                    users.push(user_email(w, v, id).await);
                }
                steps.push(StepRow {
                    key: key.clone(),
                    kind: kind.into(),
                    users: users.join(", "),
                    message: match kind {
                        "accept" => text(s, "accept.acceptMessage").into(),
                        "reject" => text(s, "reject.rejectMessage").into(),
                        _ => String::new(),
                    },
                    approval_reason: a.get("requireApprovalReason").and_then(Value::as_bool)
                        == Some(true),
                    denial_reason: a.get("requireDenialReason").and_then(Value::as_bool)
                        == Some(true),
                    reassignment: a.get("allowReassignment").and_then(Value::as_bool) == Some(true),
                    orig: s.to_string(),
                });
            }
        }
        Draft {
            name: text(p, "displayName").into(),
            description: text(p, "description").into(),
            policy_type: text(p, "policyType").into(),
            delegates: p.get("reassignTasksToDelegates").and_then(Value::as_bool) == Some(true),
            rules: list(p, "rules")
                .iter()
                .map(|r| RuleRow {
                    condition: text(r, "condition").into(),
                    key: if text(r, "stepKey").is_empty() {
                        text(r, "policyKey").into()
                    } else {
                        text(r, "stepKey").into()
                    },
                })
                .collect(),
            steps,
        }
    }

    fn from_form(f: &Form) -> Draft {
        let n_rules: usize = f.get("rules").parse().unwrap_or(0).min(64);
        let n_steps: usize = f.get("steps").parse().unwrap_or(0).min(128);
        Draft {
            name: f.get("name").into(),
            description: f.get("description").into(),
            policy_type: f.get("policy_type").into(),
            delegates: f.checked("delegates"),
            rules: (0..n_rules)
                .map(|i| RuleRow {
                    condition: f.get(&format!("rule{i}_cond")).into(),
                    key: f.get(&format!("rule{i}_key")).into(),
                })
                .collect(),
            steps: (0..n_steps)
                .map(|i| {
                    let k = |s: &str| format!("step{i}_{s}");
                    StepRow {
                        key: f.get(&k("key")).into(),
                        kind: f.get(&k("kind")).into(),
                        users: f.get(&k("users")).into(),
                        message: f.get(&k("message")).into(),
                        approval_reason: f.checked(&k("areason")),
                        denial_reason: f.checked(&k("dreason")),
                        reassignment: f.checked(&k("reassign")),
                        orig: f.get(&k("orig")).into(),
                    }
                })
                .collect(),
        }
    }

    fn apply_op(&mut self, op: &str) -> bool {
        let (verb, i) = match op.split_once(':') {
            Some((v, i)) => (v, i.parse::<usize>().unwrap_or(usize::MAX)),
            None => (op, usize::MAX),
        };
        let (nr, ns) = (self.rules.len(), self.steps.len());
        match verb {
            "add-rule" => self.rules.push(RuleRow::default()),
            "rule-up" if i < nr && i > 0 => self.rules.swap(i, i - 1),
            "rule-down" if i + 1 < nr => self.rules.swap(i, i + 1),
            "rule-remove" if i < nr => {
                self.rules.remove(i);
            }
            "add-step" => self.steps.push(StepRow {
                key: baseline_key(&self.policy_type).into(),
                kind: "manager".into(),
                ..Default::default()
            }),
            "step-up" if i < ns && i > 0 => self.steps.swap(i, i - 1),
            "step-down" if i + 1 < ns => self.steps.swap(i, i + 1),
            "step-remove" if i < ns => {
                self.steps.remove(i);
            }
            "rule-up" | "rule-down" | "rule-remove" | "step-up" | "step-down" | "step-remove" => {}
            _ => return false,
        }
        true
    }
}

async fn user_email(w: &Web, v: &Viewer, id: &str) -> String {
    match w.api.get(v, &format!("/api/v1/users/{}", enc(id))).await {
        Ok(u) if !text(&u, "userView.user.email").is_empty() => {
            text(&u, "userView.user.email").into()
        }
        _ => id.into(),
    }
}

/// Approver user ids for a comma-separated list of emails or ids.
async fn user_ids(w: &Web, v: &Viewer, users: &str) -> Result<Vec<String>, String> {
    let mut out = Vec::new();
    for u in users
        .split([',', '\n'])
        .map(str::trim)
        .filter(|u| !u.is_empty())
    {
        if !u.contains('@') {
            out.push(u.to_string());
            continue;
        }
        let found = w
            .api
            .post(
                v,
                "/api/v1/search/users",
                json!({"email": u, "pageSize": 10}),
            )
            .await
            .map_err(|e| e.message)?;
        let id = list(&found, "list").iter().find_map(|x| {
            let id = text(x, "user.id");
            (!id.is_empty() && text(x, "user.email").eq_ignore_ascii_case(u))
                .then(|| id.to_string())
        });
        match id {
            Some(id) => out.push(id),
            None => return Err(format!("No user has the email {u}.")),
        }
    }
    Ok(out)
}

/// The step JSON for a row: the stored step when the kind is unchanged, with the form's values.
async fn step_json(w: &Web, v: &Viewer, s: &StepRow, n: usize) -> Result<Value, String> {
    let orig: Value = serde_json::from_str(&s.orig).unwrap_or(Value::Null);
    let same = step_kind(&orig) == s.kind;
    let mut step = if same { orig } else { json!({}) };
    let approval_kind = match s.kind.as_str() {
        "users" => Some("users"),
        "manager" => Some("manager"),
        "app_owners" => Some("appOwners"),
        "entitlement_owners" => Some("entitlementOwners"),
        "self" => Some("self"),
        _ => None,
    };
    match (approval_kind, s.kind.as_str()) {
        (Some(k), _) => {
            if !same {
                step = json!({"approval": {k: {}}});
            }
            let a = step["approval"].as_object_mut().ok_or("approval")?;
            if k == "users" {
                let ids = user_ids(w, v, &s.users).await?;
                if ids.is_empty() {
                    return Err(format!(
                        "Step {n}: name at least one approver (emails, comma separated)."
                    ));
                }
                a.insert("users".into(), json!({ "userIds": ids }));
            }
            a.insert("requireApprovalReason".into(), json!(s.approval_reason));
            a.insert("requireDenialReason".into(), json!(s.denial_reason));
            a.insert("allowReassignment".into(), json!(s.reassignment));
        }
        (None, "accept") => step = json!({"accept": {"acceptMessage": s.message}}),
        (None, "reject") => step = json!({"reject": {"rejectMessage": s.message}}),
        (None, "provision") => {
            if !same {
                step = json!({"provision": {}});
            }
        }
        _ if same && !step.is_null() => {}
        _ => return Err(format!("Step {n}: choose what the step does.")),
    }
    Ok(step)
}

async fn policy_body(w: &Web, v: &Viewer, d: &Draft) -> Result<Value, String> {
    let mut steps: Map<String, Value> = Map::new();
    for (i, s) in d.steps.iter().enumerate() {
        let key = if s.key.is_empty() {
            baseline_key(&d.policy_type).to_string()
        } else {
            s.key.clone()
        };
        let j = step_json(w, v, s, i + 1).await?;
        let seq = steps.entry(key).or_insert_with(|| json!({"steps": []}));
        if let Some(a) = seq["steps"].as_array_mut() {
            a.push(j);
        }
    }
    let rules: Vec<Value> = d
        .rules
        .iter()
        .map(|r| json!({"condition": r.condition, "stepKey": r.key}))
        .collect();
    Ok(json!({
        "displayName": d.name,
        "description": d.description,
        "policySteps": steps,
        "rules": rules,
        "reassignTasksToDelegates": d.delegates,
    }))
}

struct Ctx {
    id: Option<String>,
    builtin: bool,
    problem: Option<String>,
    problems: Vec<(usize, Vec<String>)>,
    /// A `?done=` key to show above the form.
    done: String,
}

fn render_form(v: &Viewer, d: &Draft, ctx: Ctx) -> Response {
    let action = match &ctx.id {
        Some(id) => format!("/admin/policies/{}", enc(id)),
        None => "/admin/policies/new".into(),
    };
    let mut body = ui::done_notice(&ctx.done);
    if let Some(p) = &ctx.problem {
        body.push_str(&ui::notice("error", p));
    }
    if ctx.builtin {
        body.push_str(&ui::notice(
            "ok",
            "This policy is built in and cannot be changed; create a new policy to use different steps.",
        ));
    }
    let types: Vec<(String, String)> = TYPES
        .iter()
        .map(|(v, l, _)| (v.to_string(), l.to_string()))
        .collect();
    let type_field = if ctx.id.is_some() {
        format!(
            "<p>Type: {}</p>{}",
            esc(type_label(&d.policy_type)),
            ui::hidden("policy_type", &d.policy_type)
        )
    } else {
        ui::select("Type", "policy_type", &types, &d.policy_type)
    };
    let btn = |op: String, label: &str, aria: String| {
        format!("<button type=\"submit\" name=\"op\" value=\"{op}\" class=\"small secondary\" aria-label=\"{}\">{label}</button>", esc(&aria))
    };
    let nr = d.rules.len();
    let rules: String = d
        .rules
        .iter()
        .enumerate()
        .map(|(i, r)| {
            let problems = ctx
                .problems
                .iter()
                .find(|(n, _)| *n == i)
                .map(|(_, p)| p.as_slice())
                .unwrap_or(&[]);
            let n = i + 1;
            format!(
                "<li class=\"rule card\"><h4>Rule {n}</h4>{}{}<div class=\"actions\">{}{}{}</div></li>",
                cel_field(
                    &format!("Condition (rule {n}, CEL)"),
                    &format!("rule{i}_cond"),
                    &r.condition,
                    "policy_condition",
                    problems
                ),
                ui::text_field(
                    &format!("Step set to use (rule {n})"),
                    &format!("rule{i}_key"),
                    &r.key,
                    "required"
                ),
                if i > 0 { btn(format!("rule-up:{i}"), "Move up", format!("Move rule {n} up")) } else { String::new() },
                if i + 1 < nr { btn(format!("rule-down:{i}"), "Move down", format!("Move rule {n} down")) } else { String::new() },
                btn(format!("rule-remove:{i}"), "Remove", format!("Remove rule {n}")),
            )
        })
        .collect();
    let kinds: Vec<(String, String)> = KINDS
        .iter()
        .map(|(v, l)| (v.to_string(), l.to_string()))
        .collect();
    let ns = d.steps.len();
    let steps: String = d
        .steps
        .iter()
        .enumerate()
        .map(|(i, s)| {
            let k = |x: &str| format!("step{i}_{x}");
            let n = i + 1;
            let check = |name: String, label: &str, on: bool| {
                format!(
                    "<label class=\"check\"><input type=\"checkbox\" name=\"{name}\" id=\"f-{name}\"{}> {}</label>",
                    if on { " checked" } else { "" },
                    esc(label)
                )
            };
            let mut kinds = kinds.clone();
            if !KINDS.iter().any(|(v, _)| *v == s.kind) {
                kinds.push((s.kind.clone(), "Other (kept as stored)".into()));
            }
            format!(
                "<li class=\"step card\"><h4>Step {n}</h4>{}{}<div class=\"only-users\">{}</div><div class=\"only-message\">{}</div><div class=\"only-approval\">{}{}{}</div>{}{}<div class=\"actions\">{}{}{}</div></li>",
                ui::text_field(&format!("Step set (step {n})"), &k("key"), &s.key, "required"),
                ui::select(&format!("What happens (step {n})"), &k("kind"), &kinds, &s.kind),
                ui::text_field(
                    &format!("Approvers, emails comma separated (step {n}, for approval by specific users)"),
                    &k("users"),
                    &s.users,
                    ""
                ),
                ui::text_field(
                    &format!("Message (step {n}, for accept or reject)"),
                    &k("message"),
                    &s.message,
                    ""
                ),
                check(k("areason"), "Approval reason required", s.approval_reason),
                check(k("dreason"), "Denial reason required", s.denial_reason),
                check(k("reassign"), "Allow reassignment", s.reassignment),
                ui::hidden(&k("orig"), &s.orig),
                String::new(),
                if i > 0 { btn(format!("step-up:{i}"), "Move up", format!("Move step {n} up")) } else { String::new() },
                if i + 1 < ns { btn(format!("step-down:{i}"), "Move down", format!("Move step {n} down")) } else { String::new() },
                btn(format!("step-remove:{i}"), "Remove", format!("Remove step {n}")),
            )
        })
        .collect();
    let save = if ctx.builtin {
        String::new()
    } else {
        "<button type=\"submit\" name=\"op\" value=\"save\">Save</button>".into()
    };
    body.push_str(&format!(
        "<form method=\"post\" action=\"{action}\" class=\"card policy-form\" id=\"policy-form\">{csrf}\
<button type=\"submit\" name=\"op\" value=\"save\" class=\"sr\" tabindex=\"-1\" aria-hidden=\"true\">Save</button>\
<fieldset><legend>Policy</legend>{name}{desc}{type_field}\
<label class=\"check\"><input type=\"checkbox\" name=\"delegates\" id=\"f-delegates\"{deleg}> Reassign tasks to approvers' delegates</label></fieldset>\
<fieldset><legend>Rules</legend><p class=\"muted\">Evaluated in order: the first rule whose condition is true picks the step set; when none is, the baseline set (<code>{base}</code>) runs. Conditions see <code>subject</code> (the requester), <code>entitlement</code> and <code>task</code>.</p>\
<input type=\"hidden\" name=\"rules\" value=\"{nr}\"><ol class=\"rules\" id=\"policy-rules\">{rules}</ol>\
<button type=\"submit\" name=\"op\" value=\"add-rule\" class=\"secondary\">Add rule</button></fieldset>\
<fieldset><legend>Steps</legend><p class=\"muted\">Steps run in order within their step set.</p>\
<input type=\"hidden\" name=\"steps\" value=\"{ns}\"><ol class=\"steps\" id=\"policy-steps\">{steps}</ol>\
<button type=\"submit\" name=\"op\" value=\"add-step\" class=\"secondary\">Add step</button></fieldset>\
<div class=\"actions\">{save}<a href=\"/admin/policies\">Cancel</a></div></form>",
        csrf = ui::csrf(v),
        name = ui::text_field("Name", "name", &d.name, "required maxlength=\"200\""),
        desc = ui::text_area("Description", "description", &d.description, ""),
        deleg = if d.delegates { " checked" } else { "" },
        base = esc(baseline_key(&d.policy_type)),
    ));
    if let Some(id) = &ctx.id {
        if !ctx.builtin {
            body.push_str(&format!(
                "<div class=\"actions danger-zone\">{}</div>",
                ui::action_button(
                    v,
                    &format!("/admin/policies/{}/delete", enc(id)),
                    "Delete policy",
                    "danger",
                    "Delete this policy? It is refused while an entitlement, app or policy uses it."
                )
            ));
        }
    }
    let title = if ctx.id.is_some() {
        format!("Policy: {}", d.name)
    } else {
        "New policy".into()
    };
    let status = if ctx.problem.is_some() {
        StatusCode::BAD_REQUEST
    } else {
        StatusCode::OK
    };
    Page::new(Section::Policies, title, body)
        .status(status)
        .render(v)
}

/// `GET /admin/policies/new`.
async fn new_form(v: Viewer) -> Response {
    let d = Draft {
        policy_type: "POLICY_TYPE_GRANT".into(),
        steps: vec![StepRow {
            key: "grant".into(),
            kind: "manager".into(),
            ..Default::default()
        }],
        ..Default::default()
    };
    render_form(
        &v,
        &d,
        Ctx {
            id: None,
            builtin: false,
            problem: None,
            problems: vec![],
            done: String::new(),
        },
    )
}

async fn submit(w: &Web, v: &Viewer, f: &Form, id: Option<String>) -> Response {
    let mut d = Draft::from_form(f);
    let ctx = |problem: Option<String>, problems| Ctx {
        id: id.clone(),
        builtin: false,
        problem,
        problems,
        done: String::new(),
    };
    if d.apply_op(f.get("op")) {
        return render_form(v, &d, ctx(None, vec![]));
    }
    let mut problems = Vec::new();
    for (i, r) in d.rules.iter().enumerate() {
        let p = if r.condition.trim().is_empty() {
            vec!["Write a condition, e.g. subject.department == \"Engineering\".".to_string()]
        } else {
            cel_problems(w, v, "policy_condition", &r.condition).await
        };
        if !p.is_empty() {
            problems.push((i, p));
        }
    }
    if !problems.is_empty() {
        return render_form(
            v,
            &d,
            ctx(Some("Fix the conditions marked below.".into()), problems),
        );
    }
    let body = match policy_body(w, v, &d).await {
        Ok(b) => b,
        Err(m) => return render_form(v, &d, ctx(Some(m), vec![])),
    };
    let saved = match &id {
        None => {
            let mut b = body;
            b["policyType"] = json!(d.policy_type);
            w.api.post(v, "/api/v1/policies", b).await
        }
        Some(id) => {
            w.api
                .post(
                    v,
                    &format!("/api/v1/policies/{}", enc(id)),
                    json!({"policy": body, "updateMask": "displayName,description,policySteps,rules,reassignTasksToDelegates"}),
                )
                .await
        }
    };
    match saved {
        Ok(p) => {
            let new_id = text(&p, "policy.id");
            let done = if id.is_some() { "saved" } else { "created" };
            Redirect::to(&format!("/admin/policies/{}?done={done}", enc(new_id))).into_response()
        }
        Err(e) => {
            d.policy_type = f.get("policy_type").into();
            render_form(v, &d, ctx(Some(e.message), vec![]))
        }
    }
}

/// `POST /admin/policies/new`.
async fn new_submit(State(w): State<Web>, v: Viewer, f: Form) -> Response {
    submit(&w, &v, &f, None).await
}

/// `GET /admin/policies/{id}`.
async fn edit_form(
    State(w): State<Web>,
    v: Viewer,
    Path(id): Path<String>,
    RawQuery(raw): RawQuery,
) -> Response {
    match w
        .api
        .get(&v, &format!("/api/v1/policies/{}", enc(&id)))
        .await
    {
        Ok(p) => {
            let p = &p["policy"];
            let d = Draft::from_policy(&w, &v, p).await;
            render_form(
                &v,
                &d,
                Ctx {
                    id: Some(id),
                    builtin: p.get("systemBuiltin").and_then(Value::as_bool) == Some(true),
                    problem: None,
                    problems: vec![],
                    done: query(&raw, "done"),
                },
            )
        }
        Err(e) => {
            let body = format!(
                "{}<p><a href=\"/admin/policies\">Back to policies</a></p>",
                ui::notice("error", &e.message)
            );
            Page::new(Section::Policies, "Policy", body)
                .status(StatusCode::from_u16(e.status).unwrap_or(StatusCode::NOT_FOUND))
                .render(&v)
        }
    }
}

/// `POST /admin/policies/{id}`.
async fn edit_submit(State(w): State<Web>, v: Viewer, Path(id): Path<String>, f: Form) -> Response {
    submit(&w, &v, &f, Some(id)).await
}

/// `POST /admin/policies/{id}/delete`.
async fn delete(State(w): State<Web>, v: Viewer, Path(id): Path<String>, _f: Form) -> Response {
    match w
        .api
        .call(
            &v,
            Method::DELETE,
            &format!("/api/v1/policies/{}", enc(&id)),
            Some(json!({})),
        )
        .await
    {
        Ok(_) => Redirect::to("/admin/policies?done=deleted").into_response(),
        Err(e) => {
            let body = format!(
                "{}<p><a href=\"/admin/policies/{}\">Back to the policy</a></p>",
                ui::notice("error", &e.message),
                enc(&id)
            );
            Page::new(Section::Policies, "Delete policy", body)
                .status(StatusCode::from_u16(e.status).unwrap_or(StatusCode::BAD_REQUEST))
                .render(&v)
        }
    }
}
