//! Admin > Users: the directory's users with search, and a user's page: attributes with the
//! directory each value came from (the `*Sources` of C1's user), managers, accounts in apps and
//! current access.

use super::apps::{num, refused, status_words, type_words, with_q, PAGE_SIZE};
use crate::api::{self, enc, list, text};
use crate::employee::query;
use crate::ui::{self, esc, Page, Section};
use crate::viewer::Viewer;
use crate::Web;
use axum::extract::{Path, RawQuery, State};
use axum::response::Response;
use axum::routing::get;
use axum::Router;
use chamberlain_store::repo::catalogs::BUILTIN_APP_ID;
use serde_json::{json, Value};
use std::collections::{BTreeSet, HashMap};

pub(crate) fn routes() -> Router<Web> {
    Router::new()
        .route("/admin/users", get(index))
        .route("/admin/users/{id}", get(detail))
}

/// A user's name for lists (display name, else email).
fn name_of(u: &Value) -> &str {
    if text(u, "displayName").is_empty() {
        text(u, "email")
    } else {
        text(u, "displayName")
    }
}

/// A C1 enum value (`USER_ORIGIN_DIRECTORY`) in words ("Directory").
fn words(v: &str, prefix: &str) -> String {
    let rest = v.strip_prefix(prefix).unwrap_or(v);
    if rest.is_empty() || rest == "UNSPECIFIED" {
        return String::new();
    }
    let lower = rest.replace('_', " ").to_lowercase();
    let mut c = lower.chars();
    match c.next() {
        Some(f) => f.to_uppercase().chain(c).collect(),
        None => String::new(),
    }
}

fn status_badge(s: &str) -> String {
    match s {
        "ENABLED" => ui::badge("ok", "Enabled"),
        "DISABLED" => ui::badge("bad", "Disabled"),
        "DELETED" => ui::badge("bad", "Deleted"),
        "" => String::new(),
        other => ui::badge("", &words(other, "")),
    }
}

/// `GET /admin/users`.
pub async fn index(State(w): State<Web>, v: Viewer, RawQuery(raw): RawQuery) -> Response {
    let q = query(&raw, "q");
    let found = w
        .api
        .post(
            &v,
            "/api/v1/search/users",
            json!({"query": q, "pageSize": PAGE_SIZE, "pageToken": query(&raw, "page")}),
        )
        .await;
    let mut body = ui::search_form("/admin/users", &q, "Search by name or email", "");
    match found {
        Err(e) => return refused(&v, Section::Users, "Users", &e),
        Ok(found) => {
            let rows: Vec<Vec<String>> = list(&found, "list")
                .iter()
                .map(|x| x.get("user").unwrap_or(x))
                .map(|u| {
                    vec![
                        ui::link(&format!("/admin/users/{}", enc(text(u, "id"))), name_of(u)),
                        esc(text(u, "email")),
                        esc(text(u, "department")),
                        esc(text(u, "jobTitle")),
                        esc(&words(text(u, "origin"), "USER_ORIGIN_")),
                        status_badge(text(u, "status")),
                    ]
                })
                .collect();
            let empty = if q.is_empty() {
                "No users yet. Designate a directory under Directory to bring in your people."
            } else {
                "No user matches this search."
            };
            body.push_str(&ui::table(
                "users",
                &[
                    "Name",
                    "Email",
                    "Department",
                    "Job title",
                    "Origin",
                    "Status",
                ],
                &rows,
                empty,
            ));
            body.push_str(&ui::pager(
                &with_q("/admin/users", &q),
                text(&found, "nextPageToken"),
            ));
        }
    }
    Page::new(Section::Users, "Users", body).render(&v)
}

/// The attributes shown with their sources: (label, field(s), sources field).
const ATTRIBUTES: &[(&str, &str, &str)] = &[
    ("Email", "email", "emailSources"),
    ("Username", "username", "usernameSources"),
    ("Employee ID", "employeeIds", "employeeIdSources"),
    ("Department", "department", "departmentSources"),
    ("Job title", "jobTitle", "jobTitleSources"),
    ("Employment type", "employmentType", "employmentTypeSources"),
    (
        "Employment status",
        "employmentStatus",
        "employmentStatusSources",
    ),
    (
        "Directory status",
        "directoryStatus",
        "directoryStatusSources",
    ),
    ("Manager", "managerIds", "managerSources"),
];

/// A field as text: strings as they are, arrays joined.
fn value_text(u: &Value, field: &str) -> String {
    match api::at(u, field) {
        Some(Value::String(s)) => s.clone(),
        Some(Value::Array(a)) => a
            .iter()
            .filter_map(Value::as_str)
            .collect::<Vec<_>>()
            .join(", "),
        _ => String::new(),
    }
}

/// Display names of apps by id, through the API's app search (one bounded call).
async fn app_names(w: &Web, v: &Viewer, ids: &BTreeSet<String>) -> HashMap<String, String> {
    if ids.is_empty() {
        return HashMap::new();
    }
    let ids: Vec<&String> = ids.iter().take(100).collect();
    match w
        .api
        .post(
            v,
            "/api/v1/search/apps",
            json!({"appIds": ids, "pageSize": 100}),
        )
        .await
    {
        Ok(found) => list(&found, "list")
            .iter()
            .map(|a| {
                (
                    text(a, "id").to_string(),
                    text(a, "displayName").to_string(),
                )
            })
            .collect(),
        Err(_) => HashMap::new(),
    }
}

/// `GET /admin/users/{id}`.
pub async fn detail(
    State(w): State<Web>,
    v: Viewer,
    Path(id): Path<String>,
    RawQuery(raw): RawQuery,
) -> Response {
    let user = match w.api.get(&v, &format!("/api/v1/users/{}", enc(&id))).await {
        Ok(u) => u.pointer("/userView/user").cloned().unwrap_or(Value::Null),
        Err(e) => return refused(&v, Section::Users, "User", &e),
    };
    let u = &user;
    // Managers, accounts and access: bounded pages through the API.
    let manager_ids: Vec<&str> = list(u, "managerIds")
        .iter()
        .filter_map(Value::as_str)
        .take(20)
        .collect();
    let managers = if manager_ids.is_empty() {
        Ok(json!({"list": []}))
    } else {
        w.api
            .post(
                &v,
                "/api/v1/search/users",
                json!({"ids": manager_ids, "pageSize": 20}),
            )
            .await
    };
    let accounts = w
        .api
        .post(
            &v,
            "/api/v1/search/app_users",
            json!({"userIds": [id], "pageSize": 50}),
        )
        .await;
    let grants = w
        .api
        .post(
            &v,
            "/api/v1/search/grants",
            json!({"userId": id, "pageSize": PAGE_SIZE, "pageToken": query(&raw, "page"), "expandMask": {"paths": ["appId"]}}),
        )
        .await;
    // App names for sources, directories and accounts.
    let mut ids: BTreeSet<String> = BTreeSet::new();
    for (_, _, src) in ATTRIBUTES {
        for s in list(u, src) {
            ids.insert(text(s, "appId").to_string());
        }
    }
    for d in list(u, "directoryIds").iter().filter_map(Value::as_str) {
        ids.insert(d.to_string());
    }
    if let Ok(a) = &accounts {
        for x in list(a, "list") {
            ids.insert(text(x, "appUser.appId").to_string());
        }
    }
    ids.remove("");
    let apps = app_names(&w, &v, &ids).await;
    let app_name = |id: &str| apps.get(id).cloned().unwrap_or_else(|| id.to_string());
    let manager_names: HashMap<String, String> = managers
        .as_ref()
        .map(|m| {
            list(m, "list")
                .iter()
                .map(|x| x.get("user").unwrap_or(x))
                .map(|m| (text(m, "id").to_string(), name_of(m).to_string()))
                .collect()
        })
        .unwrap_or_default();

    let mut body = String::from("<p><a href=\"/admin/users\">← All users</a></p>");
    let roles: Vec<String> = list(u, "roleIds")
        .iter()
        .filter_map(Value::as_str)
        .map(esc)
        .collect();
    let directories: Vec<String> = list(u, "directoryIds")
        .iter()
        .filter_map(Value::as_str)
        .map(|d| ui::link(&format!("/admin/apps/{}", enc(d)), &app_name(d)))
        .collect();
    let managers_html: Vec<String> = manager_ids
        .iter()
        .map(|m| {
            ui::link(
                &format!("/admin/users/{}", enc(m)),
                manager_names.get(*m).map(String::as_str).unwrap_or(m),
            )
        })
        .collect();
    body.push_str(&format!(
        "<section class=\"card\" aria-label=\"About this user\"><dl class=\"facts\" id=\"user-facts\">\
<dt>Email</dt><dd>{email}</dd><dt>Status</dt><dd>{status}</dd><dt>Type</dt><dd>{kind}</dd><dt>Origin</dt><dd>{origin}</dd>\
<dt>Manager</dt><dd id=\"managers\">{managers}</dd><dt>Directories</dt><dd>{dirs}</dd><dt>Roles</dt><dd>{roles}</dd><dt>Created</dt><dd>{created}</dd><dt>ID</dt><dd class=\"mono\">{id}</dd></dl></section>",
        email = esc(text(u, "email")),
        status = status_badge(text(u, "status")),
        kind = esc(&words(text(u, "type"), "USER_TYPE_")),
        origin = esc(&words(text(u, "origin"), "USER_ORIGIN_")),
        managers = if managers_html.is_empty() { "<span class=\"muted\">None</span>".into() } else { managers_html.join(", ") },
        dirs = if directories.is_empty() { "<span class=\"muted\">None</span>".into() } else { directories.join(", ") },
        roles = if roles.is_empty() { "Basic user".into() } else { roles.join(", ") },
        created = ui::when(text(u, "createdAt")),
        id = esc(text(u, "id")),
    ));

    // Attributes and where each value came from.
    let rows: Vec<Vec<String>> = ATTRIBUTES
        .iter()
        .map(|(label, field, src)| {
            let value = if *field == "managerIds" {
                manager_ids
                    .iter()
                    .map(|m| esc(manager_names.get(*m).map(String::as_str).unwrap_or(m)))
                    .collect::<Vec<_>>()
                    .join(", ")
            } else if *field == "directoryStatus" {
                esc(&words(text(u, field), ""))
            } else {
                esc(&value_text(u, field))
            };
            let sources: Vec<String> = list(u, src)
                .iter()
                .map(|s| {
                    let app = text(s, "appId");
                    let key = text(s, "appUserProfileAttributeKey");
                    let mut out = ui::link(
                        &format!("/admin/apps/{}/accounts", enc(app)),
                        &app_name(app),
                    );
                    if !key.is_empty() {
                        out.push_str(&format!(" · field <code>{}</code>", esc(key)));
                    }
                    let val = text(s, "value");
                    if !val.is_empty() {
                        out.push_str(&format!(" · “{}”", esc(val)));
                    }
                    if num(s, "priority") == 0 {
                        out.push_str(&format!(" {}", ui::badge("ok", "Used")));
                    } else {
                        out.push_str(&format!(
                            " {}",
                            ui::badge("", &format!("Priority {}", num(s, "priority")))
                        ));
                    }
                    format!("<li>{out}</li>")
                })
                .collect();
            let sources = if sources.is_empty() {
                "<span class=\"muted\">Set in Chamberlain</span>".to_string()
            } else {
                format!("<ul class=\"sources\">{}</ul>", sources.concat())
            };
            vec![esc(label), value, sources]
        })
        .collect();
    body.push_str("<h2 id=\"attributes\">Attributes and their sources</h2>");
    body.push_str(&ui::table(
        "user-attributes",
        &["Attribute", "Value", "Came from"],
        &rows,
        "",
    ));

    // Accounts in apps.
    body.push_str("<h2 id=\"accounts\">Accounts</h2>");
    match accounts {
        Err(e) => body.push_str(&ui::notice("error", &e.message)),
        Ok(found) => {
            let rows: Vec<Vec<String>> = list(&found, "list")
                .iter()
                .map(|x| x.get("appUser").unwrap_or(x))
                .map(|a| {
                    let app = text(a, "appId");
                    vec![
                        ui::link(
                            &format!("/admin/apps/{}/accounts", enc(app)),
                            &app_name(app),
                        ),
                        esc(text(a, "displayName")),
                        esc(text(a, "email")),
                        esc(status_words(text(a, "status.status"))),
                        esc(type_words(text(a, "appUserType"))),
                    ]
                })
                .collect();
            body.push_str(&ui::table(
                "user-accounts",
                &["App", "Account", "Email", "Status", "Type"],
                &rows,
                "No accounts in any app are linked to this user.",
            ));
            if !text(&found, "nextPageToken").is_empty() {
                body.push_str("<p class=\"muted\">Showing the first 50 accounts.</p>");
            }
        }
    }

    // Current access.
    body.push_str("<h2 id=\"access\">Access</h2>");
    match grants {
        Err(e) => body.push_str(&ui::notice("error", &e.message)),
        Ok(found) => {
            let app_of: HashMap<&str, &str> = list(&found, "expanded")
                .iter()
                .map(|a| (text(a, "id"), text(a, "displayName")))
                .collect();
            let ent_names: HashMap<&str, &str> = list(&found, "list")
                .iter()
                .map(|i| {
                    (
                        text(i, "entitlement.appEntitlement.id"),
                        text(i, "entitlement.appEntitlement.displayName"),
                    )
                })
                .collect();
            let rows: Vec<Vec<String>> = list(&found, "list")
                .iter()
                .map(|i| {
                    let g = api::at(i, "appEntitlementUserBinding").unwrap_or(&Value::Null);
                    let (app, ent) = (text(g, "appId"), text(g, "appEntitlementId"));
                    let sources: Vec<String> = list(g, "grantSources")
                        .iter()
                        .map(|s| {
                            let n = ent_names
                                .get(text(s, "id"))
                                .copied()
                                .unwrap_or("another entitlement");
                            if text(s, "appId") == BUILTIN_APP_ID {
                                format!("Access profile “{n}”")
                            } else {
                                format!("Through “{n}”")
                            }
                        })
                        .collect();
                    let ends = text(g, "deprovisionAt");
                    vec![
                        ui::link(
                            &format!("/admin/apps/{}/entitlements/{}", enc(app), enc(ent)),
                            text(i, "entitlement.appEntitlement.displayName"),
                        ),
                        esc(if app == BUILTIN_APP_ID {
                            "Access profiles"
                        } else {
                            app_of.get(app).copied().unwrap_or(app)
                        }),
                        esc(&if sources.is_empty() {
                            "Direct".to_string()
                        } else {
                            sources.join("; ")
                        }),
                        if ends.is_empty() {
                            "Until removed".into()
                        } else {
                            ui::when(ends)
                        },
                    ]
                })
                .collect();
            body.push_str(&ui::table(
                "user-access",
                &["Access", "App", "Source", "Ends"],
                &rows,
                "This user holds no access.",
            ));
            body.push_str(&ui::pager(
                &format!("/admin/users/{}", enc(&id)),
                text(&found, "nextPageToken"),
            ));
        }
    }
    Page::new(Section::Users, name_of(u).to_string(), body).render(&v)
}
