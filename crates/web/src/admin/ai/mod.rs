//! Admin › AI: MCP servers (catalog registration, server detail with its Tools, Toolsets and
//! Connections tabs), AI clients with their lifecycle state, the kill switches (tenant, server,
//! tool, client) and the AI tool usage audit.
//!
//! - `mod.rs`: the `/admin/ai` page with its tabs, and the pieces the other files share;
//! - `register.rs`: "Register an MCP server" from the catalog (Okta, remote, hosted), test
//!   connection;
//! - `server.rs`: one server (its page, Overview, Connections) and its actions; `tools.rs`
//!   its Tools tab and tool pages; `toolsets.rs` its Toolsets tab and toolset pages;
//! - `clients.rs`: AI clients, kill switches and the audit.

mod clients;
mod register;
mod server;
mod tools;
mod toolsets;

use crate::api::{list, text, Refusal};
use crate::ui::{self, esc, Page, Section};
use crate::viewer::Viewer;
use crate::Web;
use axum::extract::{RawQuery, State};
use axum::http::StatusCode;
use axum::response::{IntoResponse, Redirect, Response};
use axum::routing::{get, post};
use axum::Router;
use serde_json::{json, Value};
use std::collections::{BTreeMap, HashMap};

pub(crate) fn routes() -> Router<Web> {
    let srv = "/admin/ai/servers/{app}/{conn}";
    Router::new()
        .route("/admin/ai", get(page))
        .route(
            "/admin/ai/servers/new",
            get(register::form).post(register::submit),
        )
        .route("/admin/ai/servers/test", post(register::test))
        .route(srv, get(server::page))
        .route(&format!("{srv}/edit"), post(server::edit))
        .route(&format!("{srv}/credentials"), post(server::credentials))
        .route(&format!("{srv}/resync"), post(server::resync))
        .route(&format!("{srv}/switch"), post(server::switch))
        .route(&format!("{srv}/delete"), post(server::delete))
        .route(&format!("{srv}/tools/review"), post(tools::review_many))
        .route(
            &format!("{srv}/tools/{{tool}}"),
            get(tools::tool_page).post(tools::tool_update),
        )
        .route(&format!("{srv}/toolsets"), post(toolsets::create_toolset))
        .route(
            &format!("{srv}/toolsets/{{set}}"),
            get(toolsets::toolset_page),
        )
        .route(
            &format!("{srv}/toolsets/{{set}}/bind"),
            post(toolsets::bind),
        )
        .route(
            &format!("{srv}/toolsets/{{set}}/unbind"),
            post(toolsets::unbind),
        )
        .route(
            &format!("{srv}/toolsets/{{set}}/delete"),
            post(toolsets::delete_toolset),
        )
        .route(
            &format!("{srv}/connections/{{user}}/revoke"),
            post(server::revoke_connection),
        )
        .route("/admin/ai/clients/{id}/kill", post(clients::kill))
        .route("/admin/ai/clients/{id}/reopen", post(clients::reopen))
        .route(
            "/admin/ai/clients/{id}/users/{user}/close",
            post(clients::close_user),
        )
        .route("/admin/ai/tenant-switch", post(clients::tenant_switch))
        .route("/admin/ai/audit/export", get(clients::export))
}

const TABS: &[(&str, &str)] = &[
    ("servers", "MCP servers"),
    ("clients", "AI clients"),
    ("kill", "Kill switches"),
    ("audit", "Tool usage audit"),
];

/// Rows per page of the lists paginated here.
pub(super) const PAGE: usize = 25;

/// The first value of `key` in a raw query string.
pub(super) fn query(raw: &Option<String>, key: &str) -> String {
    crate::employee::query(raw, key)
}

/// A row of tab links; `current` is the key of the tab shown.
pub(super) fn tabs(base: &str, items: &[(&str, &str)], current: &str, label: &str) -> String {
    let sep = if base.contains('?') { '&' } else { '?' };
    let links: String = items
        .iter()
        .map(|(k, l)| {
            let cur = if *k == current {
                " aria-current=\"page\""
            } else {
                ""
            };
            format!("<a href=\"{}{sep}tab={k}\"{cur}>{}</a>", esc(base), esc(l))
        })
        .collect();
    format!(
        "<nav class=\"tabs\" aria-label=\"{}\">{links}</nav>",
        esc(label)
    )
}

/// The API's refusal on a page of its own, with a way back.
pub(super) fn refused(v: &Viewer, e: &Refusal, back: &str) -> Response {
    Page::new(
        Section::Ai,
        "AI",
        format!(
            "{}<p><a href=\"{}\">Back</a></p>",
            ui::notice("error", &e.message),
            esc(back)
        ),
    )
    .status(StatusCode::from_u16(e.status).unwrap_or(StatusCode::BAD_REQUEST))
    .render(v)
}

/// Redirect after a form post.
pub(super) fn done(to: &str) -> Response {
    Redirect::to(to).into_response()
}

/// Words for a server's authentication method.
pub(super) fn auth_words(s: &Value) -> &'static str {
    match text(s, "authMethod") {
        "MCP_SERVER_AUTH_METHOD_NONE" => "None",
        "MCP_SERVER_AUTH_METHOD_BEARER_TOKEN" => "Bearer token",
        "MCP_SERVER_AUTH_METHOD_CUSTOM_HEADER" => "Custom header",
        "MCP_SERVER_AUTH_METHOD_BASIC_AUTH" => "Basic auth",
        "MCP_SERVER_AUTH_METHOD_OAUTH2" => match text(s, "oauth2Mode") {
            "MCP_SERVER_AUTH_OAUTH2_MODE_SERVICE" => "OAuth2 — service mode",
            "MCP_SERVER_AUTH_OAUTH2_MODE_CLIENT_CREDENTIALS" => "OAuth2 — client credentials",
            "" => "OAuth2",
            _ => "Per-user OAuth",
        },
        _ => "Not set",
    }
}

/// A tool state as a badge.
pub(super) fn state_badge(state: &str) -> String {
    match state {
        "MCP_TOOL_STATE_PENDING_REVIEW" => ui::badge("warn", "Pending review"),
        "MCP_TOOL_STATE_APPROVED" => ui::badge("ok", "Approved"),
        "MCP_TOOL_STATE_DISABLED" => ui::badge("bad", "Disabled"),
        "MCP_TOOL_STATE_REMOVED" => ui::badge("", "Removed"),
        _ => String::new(),
    }
}

/// Classification choices (value, label).
pub(super) fn classifications() -> Vec<(String, String)> {
    [
        ("TOOL_CLASSIFICATION_READ", "Read"),
        ("TOOL_CLASSIFICATION_WRITE", "Write"),
        ("TOOL_CLASSIFICATION_DESTRUCTIVE", "Destructive"),
        ("TOOL_CLASSIFICATION_SENSITIVE", "Sensitive"),
        ("TOOL_CLASSIFICATION_DANGEROUS", "Dangerous"),
    ]
    .iter()
    .map(|(v, l)| (v.to_string(), l.to_string()))
    .collect()
}

/// A classification in words.
pub(super) fn classification_word(c: &str) -> String {
    classifications()
        .into_iter()
        .find(|(v, _)| v == c)
        .map(|(_, l)| l)
        .unwrap_or_else(|| "Unclassified".into())
}

/// `/admin/ai/servers/{app}/{conn}`.
pub(super) fn server_href(app: &str, conn: &str) -> String {
    format!(
        "/admin/ai/servers/{}/{}",
        crate::api::enc(app),
        crate::api::enc(conn)
    )
}

/// Users' names for ids, read through the API (admins may read users); ids that cannot be
/// read are shown as they are.
pub(super) async fn user_labels(w: &Web, v: &Viewer, ids: &[&str]) -> HashMap<String, String> {
    let mut out = HashMap::new();
    for id in ids {
        if id.is_empty() || out.contains_key(*id) {
            continue;
        }
        let label = match w
            .api
            .get(v, &format!("/api/v1/users/{}", crate::api::enc(id)))
            .await
        {
            Ok(u) => {
                let name = text(&u, "userView.user.displayName");
                let email = text(&u, "userView.user.email");
                match (name.is_empty(), email.is_empty()) {
                    (false, false) => format!("{name} ({email})"),
                    (false, true) => name.to_string(),
                    (true, false) => email.to_string(),
                    _ => id.to_string(),
                }
            }
            Err(_) => id.to_string(),
        };
        out.insert(id.to_string(), label);
    }
    out
}

/// Every registered MCP server (the gateway's list), sorted by name.
pub(super) async fn all_servers(w: &Web, v: &Viewer) -> Result<Vec<Value>, Refusal> {
    let found = w.api.get(v, "/api/v1/mcp_server_connections").await?;
    Ok(list(&found, "list").to_vec())
}

/// `GET /admin/ai[?tab=servers|clients|kill|audit]`.
pub async fn page(State(w): State<Web>, v: Viewer, RawQuery(raw): RawQuery) -> Response {
    if let Some(r) = admins_only(&v, Section::Ai) {
        return r;
    }
    let tab = match query(&raw, "tab").as_str() {
        "clients" => "clients",
        "kill" => "kill",
        "audit" => "audit",
        _ => "servers",
    };
    let mut body = format!(
        "{}{}",
        ui::done_notice(&query(&raw, "done")),
        tabs("/admin/ai", TABS, tab, "AI")
    );
    let html = match tab {
        "clients" => clients::clients_tab(&w, &v, &raw).await,
        "kill" => clients::kill_tab(&w, &v).await,
        "audit" => clients::audit_tab(&w, &v, &raw).await,
        _ => servers_tab(&w, &v, &raw).await,
    };
    body.push_str(&html);
    Page::new(Section::Ai, "AI", body).render(&v)
}

async fn servers_tab(w: &Web, v: &Viewer, raw: &Option<String>) -> String {
    let mut out = String::from(
        "<div class=\"actions\"><a class=\"button\" id=\"register-server\" href=\"/admin/ai/servers/new\">Register an MCP server</a></div>",
    );
    let q = query(raw, "q");
    out.push_str(&ui::search_form(
        "/admin/ai",
        &q,
        "Search MCP servers by name",
        "<input type=\"hidden\" name=\"tab\" value=\"servers\">",
    ));
    let servers = match all_servers(w, v).await {
        Ok(s) => s,
        Err(e) => return out + &ui::notice("error", &e.message),
    };
    let needle = q.to_lowercase();
    let matching: Vec<&Value> = servers
        .iter()
        .filter(|s| needle.is_empty() || text(s, "displayName").to_lowercase().contains(&needle))
        .collect();
    let offset: usize = query(raw, "page").parse().unwrap_or(0);
    let shown: Vec<&Value> = matching.iter().skip(offset).take(PAGE).copied().collect();
    // One search per app on the page gives the full views with their pending-review counts.
    let mut apps: BTreeMap<&str, ()> = BTreeMap::new();
    for s in &shown {
        apps.insert(text(s, "appId"), ());
    }
    let mut views: HashMap<String, (Value, i64)> = HashMap::new();
    for app in apps.keys() {
        let path = format!("/api/v1/apps/{}/mcp_servers/search", crate::api::enc(app));
        if let Ok(found) = w
            .api
            .post(
                v,
                &path,
                json!({"toolState": "MCP_TOOL_STATE_PENDING_REVIEW", "pageSize": 100}),
            )
            .await
        {
            for r in list(&found, "list") {
                let count = match r.get("toolCount") {
                    Some(Value::String(s)) => s.parse().unwrap_or(0),
                    Some(n) => n.as_i64().unwrap_or(0),
                    None => 0,
                };
                if let Some(sv) = r.get("mcpServer") {
                    views.insert(text(sv, "connectorId").to_string(), (sv.clone(), count));
                }
            }
        }
    }
    let rows: Vec<Vec<String>> = shown
        .iter()
        .map(|s| {
            let id = text(s, "connectorId");
            let (full, pending) = views.get(id).cloned().unwrap_or_else(|| ((*s).clone(), 0));
            let kind = if text(&full, "serverType") == "MCP_SERVER_TYPE_HOSTED" {
                "Hosted"
            } else {
                "Remote"
            };
            let discovery = match full.get("chamberlainLastDiscovery") {
                Some(d) if d.get("ok").and_then(Value::as_bool) == Some(true) => {
                    format!(
                        "{} {}",
                        ui::badge("ok", "Discovered"),
                        ui::when(text(d, "at"))
                    )
                }
                Some(d) if !d.is_null() => ui::badge("bad", "Discovery failed"),
                _ => String::new(),
            };
            let state = if full.get("chamberlainKilled").and_then(Value::as_bool) == Some(true) {
                ui::badge("bad", "Switched off")
            } else {
                ui::badge("ok", "On")
            };
            let pending = if pending > 0 {
                ui::badge("warn", &format!("{pending} pending review"))
            } else {
                "<span class=\"muted\">None</span>".into()
            };
            vec![
                ui::link(&server_href(text(s, "appId"), id), text(s, "displayName")),
                kind.into(),
                esc(auth_words(&full)),
                pending,
                discovery,
                state,
            ]
        })
        .collect();
    let empty = if q.is_empty() {
        "No MCP server is registered yet. Register one from the catalog to govern its tools."
    } else {
        "No MCP server matches this search."
    };
    out.push_str(&ui::table(
        "mcp-servers",
        &[
            "MCP server",
            "Type",
            "Authentication",
            "Tools to review",
            "Last discovery",
            "State",
        ],
        &rows,
        empty,
    ));
    if offset + PAGE < matching.len() {
        out.push_str(&format!(
            "<nav class=\"pager\" aria-label=\"Pages\"><a rel=\"next\" href=\"/admin/ai?tab=servers&amp;q={}&amp;page={}\">Next page →</a></nav>",
            crate::api::enc(&q),
            offset + PAGE
        ));
    }
    out
}

/// The page a signed-in user without an admin role gets instead of an admin page (the API
/// would refuse what the page reads anyway; this says so plainly).
pub(super) fn admins_only(v: &Viewer, section: Section) -> Option<Response> {
    if v.is_admin() {
        return None;
    }
    Some(
        Page::new(
            section,
            "Administrators only",
            ui::notice(
                "error",
                "This page is for administrators. Ask a Super Admin if you need access.",
            ),
        )
        .status(StatusCode::FORBIDDEN)
        .render(v),
    )
}
