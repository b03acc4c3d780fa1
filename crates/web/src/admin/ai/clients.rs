//! AI clients (every user's authorized clients with their lifecycle state; close one user's
//! connection; the per-client kill switch), the kill switches overview (the tenant switch and
//! what is switched off), and the AI tool usage audit with its filters and NDJSON export.

use super::{all_servers, done, query, refused, server_href, user_labels};
use crate::api::{enc, list, text};
use crate::ui::{self, esc};
use crate::viewer::{Form, Viewer};
use crate::Web;
use axum::extract::{Path, RawQuery, State};
use axum::http::{header, HeaderValue, Method, StatusCode};
use axum::response::{IntoResponse, Response};
use serde_json::{json, Value};

fn state_badge(state: &str) -> String {
    match state {
        "ACTIVE" => ui::badge("ok", "Active"),
        "HIDDEN" => ui::badge("warn", "Hidden (inactive)"),
        "CLOSED" => ui::badge("bad", "Closed"),
        "DELETED" => ui::badge("", "Deleted"),
        "" => String::new(),
        s => ui::badge("", s),
    }
}

pub(super) async fn clients_tab(w: &Web, v: &Viewer, raw: &Option<String>) -> String {
    let q = query(raw, "q");
    let mut out = String::from("<p>AI clients users have authorized, one row per user and client. Lifecycle: Active → Hidden → Closed (its tokens stop working) → Deleted after inactivity, as set in <a href=\"/admin/settings#ai-connections\">Settings › AI Connections</a>.</p>");
    out.push_str(&ui::search_form(
        "/admin/ai",
        &q,
        "Search AI clients by name",
        "<input type=\"hidden\" name=\"tab\" value=\"clients\">",
    ));
    let found = match w
        .api
        .post(
            v,
            "/api/v1/search/iam/external_clients",
            json!({"query": q, "pageSize": 50, "pageToken": query(raw, "page")}),
        )
        .await
    {
        Ok(f) => f,
        Err(e) => return out + &ui::notice("error", &e.message),
    };
    let ids: Vec<&str> = list(&found, "list")
        .iter()
        .map(|c| text(c, "userId"))
        .collect();
    let names = user_labels(w, v, &ids).await;
    let rows: Vec<Vec<String>> = list(&found, "list")
        .iter()
        .map(|c| {
            let id = text(c, "mcpClientId");
            let name = [text(c, "displayName"), text(c, "clientName"), text(c, "clientId")]
                .into_iter()
                .find(|n| !n.is_empty())
                .unwrap_or(id);
            let uid = text(c, "userId");
            let user = names.get(uid).cloned().unwrap_or_else(|| uid.to_string());
            let is_killed = c.get("chamberlainKilled").and_then(Value::as_bool) == Some(true);
            let state = text(c, "chamberlainState");
            let mut actions = String::new();
            if !matches!(state, "CLOSED" | "DELETED") {
                actions.push_str(&ui::action_button(
                    v,
                    &format!("/admin/ai/clients/{}/users/{}/close", enc(id), enc(uid)),
                    "Close for this user",
                    "secondary",
                    &format!("Close {name} for {user}? Its tokens for this user stop working; the user must sign in again from the client."),
                ));
                actions.push(' ');
            }
            if is_killed {
                actions.push_str(&ui::action_button(
                    v,
                    &format!("/admin/ai/clients/{}/reopen", enc(id)),
                    "Switch back on",
                    "",
                    &format!("Switch AI client {name} back on? Users can authorize it again."),
                ));
            } else {
                actions.push_str(&ui::action_button(
                    v,
                    &format!("/admin/ai/clients/{}/kill", enc(id)),
                    "Kill switch",
                    "danger",
                    &format!("Stop AI client {name} for everyone? Every user's connection of it is closed and new sign-ins from it are refused until you switch it back on."),
                ));
            }
            vec![
                esc(name),
                esc(&user),
                format!(
                    "{}{}",
                    state_badge(state),
                    if is_killed { format!(" {}", ui::badge("bad", "Switched off")) } else { String::new() }
                ),
                esc(text(c, "verifiedDomain")),
                ui::when(text(c, "lastUsedAt")),
                actions,
            ]
        })
        .collect();
    out.push_str(&ui::table(
        "ai-clients",
        &["AI client", "User", "State", "Verified domain", "Last used", ""],
        &rows,
        if q.is_empty() {
            "No AI client has been authorized yet. Users connect one from their profile menu › AI & API."
        } else {
            "No AI client matches this search."
        },
    ));
    out.push_str(&ui::pager(
        &format!("/admin/ai?tab=clients&q={}", enc(&q)),
        text(&found, "nextPageToken"),
    ));
    out
}

async fn client_action(w: &Web, v: &Viewer, path: &str, key: &str) -> Response {
    match w.api.post(v, path, json!({})).await {
        Ok(_) => done(&format!("/admin/ai?tab=clients&done={key}")),
        Err(e) => refused(v, &e, "/admin/ai?tab=clients"),
    }
}

/// `POST /admin/ai/clients/{id}/kill`.
pub async fn kill(State(w): State<Web>, v: Viewer, Path(id): Path<String>, _f: Form) -> Response {
    let path = format!("/api/v1/iam/external_clients/{}/kill", enc(&id));
    client_action(&w, &v, &path, "killed").await
}

/// `POST /admin/ai/clients/{id}/reopen`.
pub async fn reopen(State(w): State<Web>, v: Viewer, Path(id): Path<String>, _f: Form) -> Response {
    let path = format!("/api/v1/iam/external_clients/{}/reopen", enc(&id));
    client_action(&w, &v, &path, "reopened").await
}

/// `POST /admin/ai/clients/{id}/users/{user}/close`.
pub async fn close_user(
    State(w): State<Web>,
    v: Viewer,
    Path((id, user)): Path<(String, String)>,
    _f: Form,
) -> Response {
    let path = format!(
        "/api/v1/iam/external_clients/{}/users/{}/close",
        enc(&id),
        enc(&user)
    );
    client_action(&w, &v, &path, "closed").await
}

pub(super) async fn kill_tab(w: &Web, v: &Viewer) -> String {
    let mut out = String::new();
    match w.api.get(v, "/api/v1/settings/ai-governance").await {
        Err(e) => out.push_str(&ui::notice("error", &e.message)),
        Ok(s) => {
            let on = s
                .get("aiGovernanceSettings")
                .and_then(|x| x.get("enabled"))
                .and_then(Value::as_bool)
                .unwrap_or(true);
            let (status, button) = if on {
                (
                    ui::badge("ok", "MCP traffic is on"),
                    ui::action_button(
                        v,
                        "/admin/ai/tenant-switch?on=0",
                        "Disable MCP traffic for the whole tenant",
                        "danger",
                        "Stop all MCP traffic for the whole tenant? Every AI client's tool calls, new sign-ins and token refreshes are refused until you turn it back on.",
                    ),
                )
            } else {
                (
                    ui::badge("bad", "MCP traffic is disabled"),
                    ui::action_button(
                        v,
                        "/admin/ai/tenant-switch?on=1",
                        "Turn MCP traffic back on",
                        "",
                        "Turn MCP traffic back on for the whole tenant? AI clients can sign in and call the tools their users hold again.",
                    ),
                )
            };
            out.push_str(&format!(
                "<section class=\"card\" id=\"tenant-switch\"><h2>Tenant</h2><p id=\"tenant-state\">{status}</p><p>The tenant-wide switch refuses every MCP request, authorization and token refresh at once.</p><div class=\"actions\">{button}</div></section>"
            ));
        }
    }
    out.push_str("<section class=\"card\"><h2>Servers, tools and clients</h2><p>Each MCP server has a kill switch on its Overview tab, each tool on its page (from the server's Tools tab), and each AI client on the AI clients tab. What is switched off now:</p>");
    match all_servers(w, v).await {
        Err(e) => out.push_str(&ui::notice("error", &e.message)),
        Ok(servers) => {
            // The gateway's list carries no switch state: one search per app gives the full
            // views of its servers.
            let apps: std::collections::BTreeSet<&str> =
                servers.iter().map(|s| text(s, "appId")).collect();
            let mut rows = Vec::new();
            for app in apps {
                let path = format!("/api/v1/apps/{}/mcp_servers/search", enc(app));
                let Ok(found) = w.api.post(v, &path, json!({"pageSize": 100})).await else {
                    continue;
                };
                for r in list(&found, "list") {
                    let Some(sv) = r.get("mcpServer") else {
                        continue;
                    };
                    if sv.get("chamberlainKilled").and_then(Value::as_bool) == Some(true) {
                        rows.push(vec![
                            ui::link(
                                &server_href(app, text(sv, "connectorId")),
                                text(sv, "displayName"),
                            ),
                            ui::badge("bad", "Switched off"),
                        ]);
                    }
                }
            }
            out.push_str(&ui::table(
                "killed-servers",
                &["MCP server", "State"],
                &rows,
                "No MCP server is switched off.",
            ));
        }
    }
    out.push_str("</section>");
    out
}

/// `POST /admin/ai/tenant-switch?on=0|1`: the tenant kill switch (AI governance `enabled`).
pub async fn tenant_switch(
    State(w): State<Web>,
    v: Viewer,
    RawQuery(raw): RawQuery,
    _f: Form,
) -> Response {
    let on = query(&raw, "on") == "1";
    match w
        .api
        .post(
            &v,
            "/api/v1/settings/ai-governance",
            json!({"aiGovernanceSettings": {"enabled": on}, "updateMask": "enabled"}),
        )
        .await
    {
        Ok(_) => done(&format!(
            "/admin/ai?tab=kill&done={}",
            if on { "reopened" } else { "killed" }
        )),
        Err(e) => refused(&v, &e, "/admin/ai?tab=kill"),
    }
}

/// A `datetime-local` value (`YYYY-MM-DDTHH:MM`, UTC) as an RFC 3339 timestamp.
fn instant(s: &str) -> Option<String> {
    let s = s.trim();
    if s.is_empty() {
        return None;
    }
    let base = if s.len() == 16 {
        format!("{s}:00")
    } else {
        s.to_string()
    };
    Some(if base.ends_with('Z') {
        base
    } else {
        format!("{base}Z")
    })
}

/// The audit search request for the filters in the query string (user by email or id).
async fn audit_request(w: &Web, v: &Viewer, raw: &Option<String>) -> Result<Value, String> {
    let mut req = json!({});
    let user = query(raw, "user");
    if !user.is_empty() {
        let id = if user.contains('@') {
            let found = w
                .api
                .post(
                    v,
                    "/api/v1/search/users",
                    json!({"email": user, "pageSize": 1}),
                )
                .await
                .map_err(|e| e.message)?;
            let first = list(&found, "list").first().cloned().unwrap_or(Value::Null);
            let id = [text(&first, "user.id"), text(&first, "id")]
                .into_iter()
                .find(|x| !x.is_empty())
                .unwrap_or("")
                .to_string();
            if id.is_empty() {
                return Err(format!("No user has the email address {user}."));
            }
            id
        } else {
            user
        };
        req["userIds"] = json!([id]);
    }
    let server = query(raw, "server");
    if !server.is_empty() {
        req["serverIds"] = json!([server]);
    }
    let tool = query(raw, "tool");
    if !tool.is_empty() {
        req["toolNames"] = json!([tool]);
    }
    let outcome = query(raw, "outcome");
    if !outcome.is_empty() {
        req["results"] = json!([outcome]);
    }
    if let Some(t) = instant(&query(raw, "since")) {
        req["since"] = json!(t);
    }
    if let Some(t) = instant(&query(raw, "until")) {
        req["until"] = json!(t);
    }
    Ok(req)
}

pub(super) async fn audit_tab(w: &Web, v: &Viewer, raw: &Option<String>) -> String {
    let servers = all_servers(w, v).await.unwrap_or_default();
    let mut server_opts: Vec<(String, String)> = vec![(String::new(), "Any server".into())];
    server_opts.extend(servers.iter().map(|s| {
        (
            text(s, "connectorId").to_string(),
            text(s, "displayName").to_string(),
        )
    }));
    let keys = ["user", "server", "tool", "outcome", "since", "until"];
    let filter_qs: String = keys
        .iter()
        .map(|k| format!("&{k}={}", enc(&query(raw, k))))
        .collect();
    let mut out = format!(
        "<form method=\"get\" action=\"/admin/ai\" class=\"card\" id=\"audit-filters\"><input type=\"hidden\" name=\"tab\" value=\"audit\"><div class=\"cards\"><div>{}</div><div>{}</div><div>{}</div><div>{}</div><div>{}</div><div>{}</div></div><div class=\"actions\"><button type=\"submit\">Filter</button><a href=\"/admin/ai?tab=audit\">Clear</a><a id=\"audit-export\" href=\"/admin/ai/audit/export?{}\" download>Export as NDJSON</a></div></form>",
        ui::text_field("User (email or id)", "user", &query(raw, "user"), ""),
        ui::select("Server", "server", &server_opts, &query(raw, "server")),
        ui::text_field("Tool (name as AI clients see it)", "tool", &query(raw, "tool"), ""),
        ui::select(
            "Outcome",
            "outcome",
            &[
                (String::new(), "Any outcome".into()),
                ("SUCCESS".into(), "Success".into()),
                ("DENIED".into(), "Denied".into()),
                ("ERROR".into(), "Error".into()),
            ],
            &query(raw, "outcome"),
        ),
        ui::text_field("From (UTC)", "since", &query(raw, "since"), "type=\"datetime-local\""),
        ui::text_field("To (UTC)", "until", &query(raw, "until"), "type=\"datetime-local\""),
        esc(filter_qs.trim_start_matches('&')),
    );
    let mut req = match audit_request(w, v, raw).await {
        Ok(r) => r,
        Err(m) => return out + &ui::notice("error", &m),
    };
    req["pageSize"] = json!(50);
    req["pageToken"] = json!(query(raw, "page"));
    let found = match w
        .api
        .post(v, "/api/v1/ai-governance/audit/search", req)
        .await
    {
        Ok(f) => f,
        Err(e) => return out + &ui::notice("error", &e.message),
    };
    let ids: Vec<&str> = list(&found, "list")
        .iter()
        .map(|r| text(r, "userId"))
        .collect();
    let names = user_labels(w, v, &ids).await;
    // AI clients' names: one search for the clients on this page.
    let mut client_ids: Vec<&str> = list(&found, "list")
        .iter()
        .map(|r| text(r, "clientId"))
        .filter(|c| !c.is_empty())
        .collect();
    client_ids.sort_unstable();
    client_ids.dedup();
    let mut client_names: std::collections::HashMap<String, String> = Default::default();
    if !client_ids.is_empty() {
        if let Ok(cs) = w
            .api
            .post(
                v,
                "/api/v1/search/iam/external_clients",
                json!({"clientIdUrls": client_ids, "pageSize": 100}),
            )
            .await
        {
            for c in list(&cs, "list") {
                let name = [text(c, "displayName"), text(c, "clientName")]
                    .into_iter()
                    .find(|n| !n.is_empty())
                    .unwrap_or("");
                if !name.is_empty() {
                    client_names.insert(text(c, "clientId").to_string(), name.to_string());
                }
            }
        }
    }
    let server_names: std::collections::HashMap<&str, &str> = servers
        .iter()
        .map(|s| (text(s, "connectorId"), text(s, "displayName")))
        .collect();
    let rows: Vec<Vec<String>> = list(&found, "list")
        .iter()
        .map(|r| {
            let uid = text(r, "userId");
            let result = match text(r, "result") {
                "SUCCESS" => ui::badge("ok", "Success"),
                "DENIED" => ui::badge("bad", "Denied"),
                "ERROR" => ui::badge("warn", "Error"),
                o => ui::badge("", o),
            };
            let micros: f64 = text(r, "latencyMicros").parse().unwrap_or(0.0);
            let sid = text(r, "connectorId");
            vec![
                ui::when(text(r, "occurredAt")),
                esc(names.get(uid).map(String::as_str).unwrap_or(uid)),
                esc(client_names
                    .get(text(r, "clientId"))
                    .map(String::as_str)
                    .unwrap_or(text(r, "clientId"))),
                esc(server_names.get(sid).copied().unwrap_or(sid)),
                format!(
                    "<code>{}</code> <span class=\"muted\">{}</span>",
                    esc(text(r, "toolName")),
                    esc(text(r, "method"))
                ),
                result,
                esc(text(r, "reason")),
                format!("{:.1} ms", micros / 1000.0),
            ]
        })
        .collect();
    out.push_str(&ui::table(
        "audit",
        &[
            "When",
            "User",
            "AI client",
            "Server",
            "Tool",
            "Outcome",
            "Reason",
            "Latency",
        ],
        &rows,
        "No MCP requests match these filters.",
    ));
    out.push_str(&ui::pager(
        &format!("/admin/ai?tab=audit{filter_qs}"),
        text(&found, "nextPageToken"),
    ));
    out
}

/// `GET /admin/ai/audit/export?…filters`: every matching record as NDJSON (the API's export).
pub async fn export(State(w): State<Web>, v: Viewer, RawQuery(raw): RawQuery) -> Response {
    let req = match audit_request(&w, &v, &raw).await {
        Ok(r) => r,
        Err(m) => {
            return refused(
                &v,
                &crate::api::Refusal {
                    status: 400,
                    message: m,
                },
                "/admin/ai?tab=audit",
            )
        }
    };
    match w
        .api
        .raw(&v, Method::POST, "/api/v1/ai-governance/audit/export", req)
        .await
    {
        Ok((_, bytes)) => {
            let mut resp = (StatusCode::OK, bytes).into_response();
            let h = resp.headers_mut();
            h.insert(
                header::CONTENT_TYPE,
                HeaderValue::from_static("application/x-ndjson"),
            );
            h.insert(
                header::CONTENT_DISPOSITION,
                HeaderValue::from_static("attachment; filename=\"ai-tool-usage.ndjson\""),
            );
            h.insert(header::CACHE_CONTROL, HeaderValue::from_static("no-store"));
            h.insert(
                "x-content-type-options",
                HeaderValue::from_static("nosniff"),
            );
            resp
        }
        Err(e) => refused(&v, &e, "/admin/ai?tab=audit"),
    }
}
