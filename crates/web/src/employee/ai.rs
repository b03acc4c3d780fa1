//! AI & API (profile menu): the MCP server URL and how to add it to each AI client, my
//! authorized AI clients, my per-user MCP connections, and my personal API clients.

use super::query;
use crate::api::{enc, list, text};
use crate::ui::{self, esc, Page, Section};
use crate::viewer::{Form, Viewer};
use crate::Web;
use axum::extract::{Path, RawQuery, State};
use axum::http::{Method, StatusCode};
use axum::response::{IntoResponse, Redirect, Response};
use serde_json::{json, Value};

const TABS: &[(&str, &str)] = &[
    ("connections", "AI connections"),
    ("mcp", "MCP connections"),
    ("api", "API clients"),
];

fn setup_instructions(url: &str) -> String {
    let url = esc(url);
    format!(
        "<h2>Add Chamberlain to your AI client</h2><div class=\"cards\" id=\"client-setup\">\
<article class=\"card\"><h3>Claude Desktop</h3><p>Settings → Connectors → Add custom connector, then paste the URL above. Claude opens Chamberlain to sign you in.</p></article>\
<article class=\"card\"><h3>Claude Code</h3><p>Run <code>claude mcp add --transport http chamberlain {url}</code>, or add it under <code>mcpServers</code> in <code>.claude/settings.json</code>. The first tool use opens the sign-in.</p></article>\
<article class=\"card\"><h3>ChatGPT</h3><p>Settings → Connectors → Create (developer mode), choose OAuth, and paste the URL above.</p></article>\
<article class=\"card\"><h3>Cursor</h3><p>Settings → MCP → Add new MCP server, type <em>streamable HTTP</em>, and paste the URL above; or add <code>{{\"mcpServers\":{{\"chamberlain\":{{\"url\":\"{url}\"}}}}}}</code> to <code>~/.cursor/mcp.json</code>.</p></article>\
<article class=\"card\"><h3>GitHub Copilot (VS Code)</h3><p>Run <em>MCP: Add Server</em> from the command palette, choose HTTP, and paste the URL above; or add it under <code>servers</code> in <code>.vscode/mcp.json</code>.</p></article>\
<article class=\"card\"><h3>Command line</h3><p><code>chamberlain mcp install</code> writes the entry for the clients installed on your computer.</p></article></div>\
<p class=\"muted\">After you sign in, your client sees only the tools your access grants you. Ask for more under Requests; once approved, refresh the client's tool list.</p>"
    )
}

fn refused(v: &Viewer, e: &crate::api::Refusal) -> Response {
    Page::new(
        Section::Profile,
        "AI & API",
        format!(
            "{}<p><a href=\"/ai-api\">Back</a></p>",
            ui::notice("error", &e.message)
        ),
    )
    .status(StatusCode::from_u16(e.status).unwrap_or(StatusCode::BAD_REQUEST))
    .render(v)
}

/// `GET /ai-api[?tab=connections|mcp|api]`.
pub async fn page(State(w): State<Web>, v: Viewer, RawQuery(raw): RawQuery) -> Response {
    let tab = match query(&raw, "tab").as_str() {
        "mcp" => "mcp",
        "api" => "api",
        _ => "connections",
    };
    let tabs: String = TABS
        .iter()
        .map(|(k, label)| {
            let cur = if *k == tab {
                " aria-current=\"page\""
            } else {
                ""
            };
            format!("<a href=\"/ai-api?tab={k}\"{cur}>{label}</a>")
        })
        .collect();
    let mut body = format!(
        "{}<nav class=\"tabs\" aria-label=\"AI and API\">{tabs}</nav>",
        ui::done_notice(&query(&raw, "done"))
    );
    match tab {
        "mcp" => body.push_str(&mcp_tab(&w, &v).await),
        "api" => body.push_str(&api_tab(&w, &v, None).await),
        _ => body.push_str(&connections_tab(&w, &v).await),
    }
    Page::new(Section::Profile, "AI & API", body).render(&v)
}

async fn connections_tab(w: &Web, v: &Viewer) -> String {
    let url = format!("{}/mcp", w.shared.public_url.trim_end_matches('/'));
    let mut out = format!(
        "<div class=\"card\"><label for=\"mcp-url\">MCP server URL</label><div class=\"copy\">\
<input id=\"mcp-url\" value=\"{}\" readonly><button type=\"button\" data-copy=\"mcp-url\">Copy</button></div></div>{}",
        esc(&url),
        setup_instructions(&url)
    );
    out.push_str("<h2>Your AI connections</h2>");
    match w.api.get(v, "/api/v1/iam/external_clients/self").await {
        Err(e) => out.push_str(&ui::notice("error", &e.message)),
        Ok(found) => {
            let rows: Vec<Vec<String>> = list(&found, "list")
                .iter()
                .map(|c| {
                    let state = text(c, "chamberlainState");
                    let id = text(c, "mcpClientId");
                    let name = [text(c, "displayName"), text(c, "clientName")]
                        .into_iter()
                        .find(|n| !n.is_empty())
                        .unwrap_or(id);
                    let revoke = if matches!(state, "CLOSED" | "DELETED") {
                        String::new()
                    } else {
                        ui::action_button(
                            v,
                            &format!("/ai-api/clients/{}/revoke", enc(id)),
                            "Revoke",
                            "secondary",
                            "Revoke this AI client's access? It must sign in again to call tools.",
                        )
                    };
                    let badge = match state {
                        "ACTIVE" => ui::badge("ok", "Active"),
                        "HIDDEN" => ui::badge("warn", "Inactive"),
                        "" => String::new(),
                        s => ui::badge(
                            "",
                            &s[..1]
                                .to_uppercase()
                                .chars()
                                .chain(s[1..].to_lowercase().chars())
                                .collect::<String>(),
                        ),
                    };
                    let killed =
                        if c.get("chamberlainKilled").and_then(Value::as_bool) == Some(true) {
                            format!(" {}", ui::badge("bad", "Blocked by an admin"))
                        } else {
                            String::new()
                        };
                    vec![
                        esc(name),
                        format!("{badge}{killed}"),
                        esc(text(c, "verifiedDomain")),
                        ui::when(text(c, "lastUsedAt")),
                        revoke,
                    ]
                })
                .collect();
            out.push_str(&ui::table(
                "ai-connections",
                &["AI client", "State", "Verified domain", "Last used", ""],
                &rows,
                "No AI client is connected yet. Add the URL above to your AI client and sign in when it asks.",
            ));
        }
    }
    out
}

async fn mcp_tab(w: &Web, v: &Viewer) -> String {
    let mut out = "<p>Some MCP servers act with your own account at the service (per-user OAuth). Connect your account here before using their tools; disconnect to revoke Chamberlain's access to it.</p>".to_string();
    match w.api.get(v, "/api/v1/mcp_server_connections").await {
        Err(e) => out.push_str(&ui::notice("error", &e.message)),
        Ok(found) => {
            let rows: Vec<Vec<String>> = list(&found, "list")
                .iter()
                .map(|c| {
                    let connected = c.get("connected").and_then(Value::as_bool) == Some(true);
                    let connect_url = text(c, "chamberlainConnectUrl");
                    let who = [text(c, "authorizedAsEmail"), text(c, "authorizedAsName")]
                        .into_iter()
                        .find(|n| !n.is_empty())
                        .unwrap_or("");
                    let status = match (connected, text(c, "chamberlainStatus")) {
                        (true, _) if !who.is_empty() => {
                            ui::badge("ok", &format!("Connected as {who}"))
                        }
                        (true, _) => ui::badge("ok", "Connected"),
                        (false, s)
                            if s.contains("ERROR")
                                || !text(c, "chamberlainLastError").is_empty() =>
                        {
                            ui::badge("bad", "Needs reconnecting")
                        }
                        _ => ui::badge("warn", "Not connected"),
                    };
                    let mut actions = String::new();
                    if !connect_url.is_empty() {
                        actions.push_str(&format!(
                            "<a class=\"button\" href=\"{}\">{}</a> ",
                            esc(connect_url),
                            if connected { "Reconnect" } else { "Connect" }
                        ));
                        if connected {
                            actions.push_str(&ui::action_button(
                                v,
                                &format!(
                                    "/ai-api/connections/{}/disconnect",
                                    enc(text(c, "connectorId"))
                                ),
                                "Disconnect",
                                "secondary",
                                "Disconnect your account from this server?",
                            ));
                        }
                    } else {
                        actions.push_str(
                            "<span class=\"muted\">Shared credentials; nothing to connect</span>",
                        );
                    }
                    vec![
                        esc(text(c, "displayName")),
                        status,
                        esc(text(c, "chamberlainLastError")),
                        actions,
                    ]
                })
                .collect();
            out.push_str(&ui::table(
                "mcp-connections",
                &["MCP server", "Status", "Last error", ""],
                &rows,
                "No MCP server is available to you yet.",
            ));
        }
    }
    out
}

async fn api_tab(w: &Web, v: &Viewer, new_secret: Option<(&str, &str)>) -> String {
    let mut out = String::new();
    if let Some((id, secret)) = new_secret {
        out.push_str(&format!(
            "<div class=\"card\" id=\"new-client\"><p class=\"notice ok\" role=\"status\">Copy the secret now: it is shown only once.</p>\
<label for=\"new-client-id\">Client ID</label><div class=\"copy\"><input id=\"new-client-id\" value=\"{}\" readonly><button type=\"button\" data-copy=\"new-client-id\">Copy</button></div>\
<label for=\"new-client-secret\">Client secret</label><div class=\"copy\"><input id=\"new-client-secret\" value=\"{}\" readonly><button type=\"button\" data-copy=\"new-client-secret\">Copy</button></div></div>",
            esc(id),
            esc(secret)
        ));
    }
    out.push_str("<p>Personal API clients act as you, with your roles, for scripts and the C1 SDKs, Terraform provider and CLI.</p>");
    match w.api.get(v, "/api/v1/iam/personal_clients").await {
        Err(e) => out.push_str(&ui::notice("error", &e.message)),
        Ok(found) => {
            let rows: Vec<Vec<String>> = list(&found, "list")
                .iter()
                .map(|c| {
                    vec![
                        esc(text(c, "displayName")),
                        format!("<code>{}</code>", esc(text(c, "clientId"))),
                        ui::when(text(c, "createdAt")),
                        ui::when(text(c, "lastUsedAt")),
                        ui::action_button(
                            v,
                            &format!("/ai-api/api-clients/{}/delete", enc(text(c, "id"))),
                            "Delete",
                            "secondary",
                            "Delete this API client? Scripts using it stop working.",
                        ),
                    ]
                })
                .collect();
            out.push_str(&ui::table(
                "api-clients",
                &["Name", "Client ID", "Created", "Last used", ""],
                &rows,
                "You have no personal API clients.",
            ));
        }
    }
    out.push_str(&format!(
        "<form method=\"post\" action=\"/ai-api/api-clients\" class=\"card\"><h2>New API client</h2>{}{}<div class=\"actions\"><button type=\"submit\">Create</button></div></form>",
        ui::csrf(v),
        ui::text_field("Name", "display_name", "", "required maxlength=\"100\""),
    ));
    out
}

/// `POST /ai-api/clients/{id}/revoke`.
pub async fn revoke_client(
    State(w): State<Web>,
    v: Viewer,
    Path(id): Path<String>,
    _f: Form,
) -> Response {
    let path = format!("/api/v1/iam/external_clients/self/{}/revoke", enc(&id));
    match w.api.post(&v, &path, json!({})).await {
        Ok(_) => Redirect::to("/ai-api?done=revoked").into_response(),
        Err(e) => refused(&v, &e),
    }
}

/// `POST /ai-api/connections/{connector_id}/disconnect`.
pub async fn disconnect(
    State(w): State<Web>,
    v: Viewer,
    Path(id): Path<String>,
    _f: Form,
) -> Response {
    let path = format!("/api/v1/mcp_server_connections/{}", enc(&id));
    match w.api.call(&v, Method::DELETE, &path, Some(json!({}))).await {
        Ok(_) => Redirect::to("/ai-api?tab=mcp&done=revoked").into_response(),
        Err(e) => refused(&v, &e),
    }
}

/// `POST /ai-api/api-clients` (form: display_name): creates a personal client and shows its
/// secret once, on this response only (never stored in a page URL).
pub async fn create_api_client(State(w): State<Web>, v: Viewer, f: Form) -> Response {
    match w
        .api
        .post(
            &v,
            "/api/v1/iam/personal_clients",
            json!({"displayName": f.get("display_name")}),
        )
        .await
    {
        Ok(created) => {
            let body = format!(
                "<nav class=\"tabs\" aria-label=\"AI and API\"><a href=\"/ai-api\">AI connections</a><a href=\"/ai-api?tab=mcp\">MCP connections</a><a href=\"/ai-api?tab=api\" aria-current=\"page\">API clients</a></nav>{}",
                api_tab(&w, &v, Some((text(&created, "client.clientId"), text(&created, "clientSecret")))).await
            );
            Page::new(Section::Profile, "AI & API", body).render(&v)
        }
        Err(e) => refused(&v, &e),
    }
}

/// `POST /ai-api/api-clients/{id}/delete`.
pub async fn delete_api_client(
    State(w): State<Web>,
    v: Viewer,
    Path(id): Path<String>,
    _f: Form,
) -> Response {
    let path = format!("/api/v1/iam/personal_clients/{}", enc(&id));
    match w.api.call(&v, Method::DELETE, &path, Some(json!({}))).await {
        Ok(_) => Redirect::to("/ai-api?tab=api&done=deleted").into_response(),
        Err(e) => refused(&v, &e),
    }
}
