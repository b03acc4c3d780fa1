//! One MCP server: the page with its tabs, Overview (settings, credentials write-only,
//! discovery, the server kill switch, service-mode authorization) and Connections (per-user
//! OAuth identities, revoke). The Tools tab is in `tools.rs`, Toolsets in `toolsets.rs`.

use super::register::{self, auth_fields, auth_json, DISCOVERY_NOTE};
use super::{done, query, refused, server_href, tabs, user_labels};
use crate::api::{at, enc, list, text, Refusal};
use crate::ui::{self, esc, Page, Section};
use crate::viewer::{Form, Viewer};
use crate::Web;
use axum::extract::{Path, RawQuery, State};
use axum::http::Method;
use axum::response::Response;
use serde_json::{json, Value};

const TABS: &[(&str, &str)] = &[
    ("overview", "Overview"),
    ("tools", "Tools"),
    ("toolsets", "Toolsets"),
    ("connections", "Connections"),
];

pub(super) fn api_base(app: &str, conn: &str) -> String {
    format!("/api/v1/apps/{}/mcp_servers/{}", enc(app), enc(conn))
}

pub(super) fn tools_base(app: &str, conn: &str) -> String {
    format!("/api/v1/apps/{}/connectors/{}", enc(app), enc(conn))
}

pub(super) async fn load(w: &Web, v: &Viewer, app: &str, conn: &str) -> Result<Value, Refusal> {
    let r = w.api.get(v, &api_base(app, conn)).await?;
    Ok(r.get("mcpServer").cloned().unwrap_or(Value::Null))
}

pub(super) fn killed(x: &Value) -> bool {
    x.get("chamberlainKilled").and_then(Value::as_bool) == Some(true)
}

pub(super) fn flag(x: &Value, k: &str) -> bool {
    x.get(k).and_then(Value::as_bool) == Some(true)
}

/// `GET /admin/ai/servers/{app}/{conn}[?tab=…]`.
pub async fn page(
    State(w): State<Web>,
    v: Viewer,
    Path((app, conn)): Path<(String, String)>,
    RawQuery(raw): RawQuery,
) -> Response {
    if let Some(r) = super::admins_only(&v, Section::Ai) {
        return r;
    }
    let server = match load(&w, &v, &app, &conn).await {
        Ok(s) => s,
        Err(e) => return refused(&v, &e, "/admin/ai"),
    };
    let tab = match query(&raw, "tab").as_str() {
        "tools" => "tools",
        "toolsets" => "toolsets",
        "connections" => "connections",
        _ => "overview",
    };
    let href = server_href(&app, &conn);
    let state = if killed(&server) {
        ui::badge("bad", "Switched off")
    } else {
        ui::badge("ok", "On")
    };
    let mut body = format!(
        "<p><a href=\"/admin/ai\">← MCP servers</a> <span id=\"server-state\">{state}</span></p>{}{}",
        ui::done_notice(&query(&raw, "done")),
        tabs(&href, TABS, tab, "MCP server")
    );
    let html = match tab {
        "tools" => super::tools::tools_tab(&w, &v, &app, &conn, &raw).await,
        "toolsets" => super::toolsets::toolsets_tab(&w, &v, &app, &conn).await,
        "connections" => connections_tab(&w, &v, &app, &conn, &server).await,
        _ => overview(&w, &v, &app, &conn, &server),
    };
    body.push_str(&html);
    Page::new(Section::Ai, text(&server, "displayName"), body).render(&v)
}

fn set_word(b: bool) -> String {
    if b {
        ui::badge("ok", "set")
    } else {
        ui::badge("warn", "not set")
    }
}

/// What is stored of the credentials, in words (never the values).
fn configured(s: &Value) -> String {
    match text(s, "authMethod") {
        "MCP_SERVER_AUTH_METHOD_BEARER_TOKEN" => format!(
            "Bearer token: {}",
            set_word(flag(s, "bearerTokenConfigured"))
        ),
        "MCP_SERVER_AUTH_METHOD_CUSTOM_HEADER" => format!(
            "Header <code>{}</code>: value {}",
            esc(text(s, "customHeaderName")),
            set_word(flag(s, "customHeaderValueConfigured"))
        ),
        "MCP_SERVER_AUTH_METHOD_BASIC_AUTH" => format!(
            "User <code>{}</code>: password {}",
            esc(text(s, "basicAuthUsername")),
            set_word(flag(s, "basicAuthPasswordConfigured"))
        ),
        "MCP_SERVER_AUTH_METHOD_OAUTH2" => format!(
            "Client ID <code>{}</code>{}: client secret {}; scopes {}",
            esc(text(s, "oauth2ClientId")),
            if flag(s, "chamberlainOauth2DynamicClient") {
                " (registered automatically)"
            } else {
                ""
            },
            set_word(flag(s, "oauth2CredentialsConfigured")),
            esc(&list(s, "oauth2Scopes")
                .iter()
                .filter_map(Value::as_str)
                .collect::<Vec<_>>()
                .join(" "))
        ),
        _ => "No credentials".into(),
    }
}

fn overview(w: &Web, v: &Viewer, app: &str, conn: &str, s: &Value) -> String {
    let href = server_href(app, conn);
    let hosted = text(s, "serverType") == "MCP_SERVER_TYPE_HOSTED";
    let mut facts = vec![(
        "Type",
        if hosted {
            "Hosted (a command Chamberlain runs)".to_string()
        } else {
            "Remote (Streamable HTTP)".into()
        },
    )];
    if hosted {
        let argv: Vec<&str> = list(s, "chamberlainCommand")
            .iter()
            .filter_map(Value::as_str)
            .collect();
        facts.push(("Command", format!("<code>{}</code>", esc(&argv.join(" ")))));
        if let Some(cfg) = at(s, "configFieldValues").and_then(Value::as_object) {
            for (k, val) in cfg {
                facts.push((
                    "Setting",
                    format!(
                        "{} = <code>{}</code>",
                        esc(k),
                        esc(val.as_str().unwrap_or(""))
                    ),
                ));
            }
        }
    } else {
        facts.push((
            "URL",
            format!("<code>{}</code>", esc(text(s, "endpointUrl"))),
        ));
    }
    facts.push(("Authentication", esc(super::auth_words(s))));
    facts.push(("Credentials", configured(s)));
    let prefix = if text(s, "toolPrefix").is_empty() {
        text(s, "defaultToolPrefix")
    } else {
        text(s, "toolPrefix")
    };
    facts.push((
        "Tool prefix",
        if prefix.is_empty() {
            "<span class=\"muted\">none</span>".into()
        } else {
            format!("<code>{}</code>", esc(prefix))
        },
    ));
    facts.push((
        "New tools",
        match text(s, "requireToolApproval") {
            "OPTIONAL_BOOL_TRUE" => "Start pending review".into(),
            "OPTIONAL_BOOL_FALSE" => "Start approved".into(),
            _ => "Tenant default (<a href=\"/admin/settings#ai-connections\">Settings › AI Connections</a>)".into(),
        },
    ));
    if let Some(d) = at(s, "chamberlainLastDiscovery") {
        let outcome = if flag(d, "ok") {
            format!(
                "{} {}: {} added, {} changed, {} removed, {} unchanged",
                ui::badge("ok", "Discovered"),
                ui::when(text(d, "at")),
                d.get("added").and_then(Value::as_u64).unwrap_or(0),
                d.get("changed").and_then(Value::as_u64).unwrap_or(0),
                d.get("removed").and_then(Value::as_u64).unwrap_or(0),
                d.get("unchanged").and_then(Value::as_u64).unwrap_or(0),
            )
        } else {
            format!(
                "{} {} {}",
                ui::badge("bad", "Failed"),
                ui::when(text(d, "at")),
                esc(text(d, "error"))
            )
        };
        facts.push((
            "Last discovery",
            format!("<span id=\"last-discovery\">{outcome}</span>"),
        ));
    }
    let mut out = format!(
        "<dl class=\"facts card\" id=\"server-facts\">{}</dl><p class=\"muted\" id=\"discovery-note\">{}</p>",
        facts.iter().map(|(k, val)| format!("<dt>{}</dt><dd>{val}</dd>", esc(k))).collect::<String>(),
        esc(DISCOVERY_NOTE)
    );
    if text(s, "oauth2Mode") == "MCP_SERVER_AUTH_OAUTH2_MODE_SERVICE" {
        let status = if flag(s, "oauth2ServiceAuthorized") {
            format!(
                "{} {}",
                ui::badge("ok", "Authorized"),
                ui::when(text(s, "oauth2ServiceAuthorizedAt"))
            )
        } else {
            ui::badge("warn", "Not authorized yet: no call can reach the service")
        };
        out.push_str(&format!(
            "<div class=\"card\" id=\"service-mode\"><h2>Service mode</h2><p>{status}</p><p>An administrator authorizes once; every user's calls use that identity (the audit still names each user). Authorize from a dedicated service account.</p><a class=\"button\" href=\"/auth/v1/mcp/connect/{}\">Authorize as administrator</a></div>",
            enc(conn)
        ));
    }
    let name = text(s, "displayName");
    let switch = if killed(s) {
        ui::action_button(v, &format!("{href}/switch?on=1"), "Switch back on", "", &format!("Switch MCP server \"{name}\" back on? Its approved tools become callable again for users who hold them."))
    } else {
        ui::action_button(v, &format!("{href}/switch?on=0"), "Kill switch: stop this server", "danger", &format!("Stop MCP server \"{name}\"? Every call to its tools is refused for every user and AI client until you switch it back on."))
    };
    out.push_str(&format!(
        "<div class=\"actions\">{}{switch}{}</div>",
        ui::action_button(v, &format!("{href}/resync"), "Resync tools", "secondary", ""),
        ui::action_button(v, &format!("{href}/delete"), "Delete server", "secondary", &format!("Delete MCP server \"{name}\"? Its tools and toolsets and every grant of them are removed."))
    ));
    // Edit.
    let approval = match text(s, "requireToolApproval") {
        "OPTIONAL_BOOL_TRUE" => "true",
        "OPTIONAL_BOOL_FALSE" => "false",
        _ => "inherit",
    };
    out.push_str(&format!(
        "<form method=\"post\" action=\"{href}/edit\" class=\"card\" id=\"edit-server\"><h2>Settings</h2>{}{}{}{}{}{}<div class=\"actions\"><button type=\"submit\">Save</button></div></form>",
        ui::csrf(v),
        ui::text_field("Display name", "display_name", name, "required maxlength=\"200\""),
        ui::text_field("Description", "description", text(s, "description"), ""),
        ui::text_field("Tool prefix", "tool_prefix", text(s, "toolPrefix"), "pattern=\"[A-Za-z0-9_-]*\" maxlength=\"32\""),
        ui::select(
            "New tools",
            "approval",
            &[
                ("inherit".into(), "Tenant default".into()),
                ("true".into(), "Start pending review (require tool approval)".into()),
                ("false".into(), "Start approved".into()),
            ],
            approval,
        ),
        ui::select(
            "Data sensitivity",
            "sensitivity",
            &[
                ("MCP_SERVER_DATA_SENSITIVITY_UNSPECIFIED".into(), "Not set".into()),
                ("MCP_SERVER_DATA_SENSITIVITY_PUBLIC".into(), "Public".into()),
                ("MCP_SERVER_DATA_SENSITIVITY_INTERNAL".into(), "Internal".into()),
                ("MCP_SERVER_DATA_SENSITIVITY_CONFIDENTIAL".into(), "Confidential".into()),
                ("MCP_SERVER_DATA_SENSITIVITY_RESTRICTED".into(), "Restricted".into()),
            ],
            text(s, "dataSensitivity"),
        ),
    ));
    // Credentials (write-only).
    let vals = |k: &str| -> String {
        match k {
            "header_name" => text(s, "customHeaderName").into(),
            "username" => text(s, "basicAuthUsername").into(),
            "client_id" => text(s, "oauth2ClientId").into(),
            "scopes" => list(s, "oauth2Scopes")
                .iter()
                .filter_map(Value::as_str)
                .collect::<Vec<_>>()
                .join(" "),
            "authorize_url" => text(s, "oauth2AuthorizeUrl").into(),
            "token_url" => text(s, "oauth2TokenUrl").into(),
            _ => String::new(),
        }
    };
    out.push_str(&format!(
        "<form method=\"post\" action=\"{href}/credentials\" class=\"card\" id=\"credentials\"><h2>Authentication</h2><p class=\"muted\">Secrets are write-only: they are never shown again. Enter them again to change the method or to rotate them (for example after rotating the OAuth client secret at the provider). A different OAuth client or provider disconnects every user's connection.</p>{}{}<div class=\"actions\"><button type=\"submit\">Save authentication</button></div></form>",
        ui::csrf(v),
        auth_fields(&register::all_auth_choices(), register::current_choice(s), &vals, &format!("Stored now: {}", strip_tags(&configured(s)))),
    ));
    let _ = w;
    out
}

fn strip_tags(html: &str) -> String {
    let mut out = String::new();
    let mut inside = false;
    for c in html.chars() {
        match c {
            '<' => inside = true,
            '>' => inside = false,
            c if !inside => out.push(c),
            _ => {}
        }
    }
    out.replace("&amp;", "&")
        .replace("&lt;", "<")
        .replace("&gt;", ">")
        .replace("&quot;", "\"")
        .replace("&#39;", "'")
}

/// `POST …/edit`.
pub async fn edit(
    State(w): State<Web>,
    v: Viewer,
    Path((app, conn)): Path<(String, String)>,
    f: Form,
) -> Response {
    let approval = match f.get("approval") {
        "true" => "OPTIONAL_BOOL_TRUE",
        "false" => "OPTIONAL_BOOL_FALSE",
        _ => "OPTIONAL_BOOL_UNSPECIFIED",
    };
    let body = json!({
        "mcpServer": {
            "displayName": f.get("display_name"),
            "description": f.get("description"),
            "toolPrefix": f.get("tool_prefix"),
            "requireToolApproval": approval,
            "dataSensitivity": f.get("sensitivity"),
        },
        "updateMask": "displayName,description,toolPrefix,requireToolApproval,dataSensitivity",
    });
    let href = server_href(&app, &conn);
    match w.api.post(&v, &api_base(&app, &conn), body).await {
        Ok(_) => done(&format!("{href}?done=saved")),
        Err(e) => refused(&v, &e, &href),
    }
}

/// `POST …/credentials`.
pub async fn credentials(
    State(w): State<Web>,
    v: Viewer,
    Path((app, conn)): Path<(String, String)>,
    f: Form,
) -> Response {
    let href = server_href(&app, &conn);
    let server = match load(&w, &v, &app, &conn).await {
        Ok(s) => s,
        Err(e) => return refused(&v, &e, &href),
    };
    let (key, auth) = auth_json(&f);
    let member = if text(&server, "serverType") == "MCP_SERVER_TYPE_HOSTED" {
        "hostedConfig"
    } else {
        "externalConfig"
    };
    let body = json!({ member: { key: auth } });
    match w
        .api
        .post(&v, &format!("{}/credentials", api_base(&app, &conn)), body)
        .await
    {
        Ok(_) => done(&format!("{href}?done=saved")),
        Err(e) => refused(&v, &e, &href),
    }
}

/// `POST …/resync`.
pub async fn resync(
    State(w): State<Web>,
    v: Viewer,
    Path((app, conn)): Path<(String, String)>,
    _f: Form,
) -> Response {
    let href = server_href(&app, &conn);
    match w
        .api
        .post(
            &v,
            &format!("{}/resync_tools", api_base(&app, &conn)),
            json!({}),
        )
        .await
    {
        Ok(_) => done(&format!("{href}?done=resynced")),
        Err(e) => refused(&v, &e, &href),
    }
}

/// `POST …/switch?on=0|1`: the server kill switch.
pub async fn switch(
    State(w): State<Web>,
    v: Viewer,
    Path((app, conn)): Path<(String, String)>,
    RawQuery(raw): RawQuery,
    _f: Form,
) -> Response {
    let href = server_href(&app, &conn);
    let on = query(&raw, "on") == "1";
    let body = json!({"mcpServer": {"chamberlainKilled": !on}, "updateMask": "chamberlainKilled"});
    match w.api.post(&v, &api_base(&app, &conn), body).await {
        Ok(_) => done(&format!(
            "{href}?done={}",
            if on { "reopened" } else { "killed" }
        )),
        Err(e) => refused(&v, &e, &href),
    }
}

/// `POST …/delete`.
pub async fn delete(
    State(w): State<Web>,
    v: Viewer,
    Path((app, conn)): Path<(String, String)>,
    _f: Form,
) -> Response {
    match w
        .api
        .call(&v, Method::DELETE, &api_base(&app, &conn), Some(json!({})))
        .await
    {
        Ok(_) => done("/admin/ai?done=deleted"),
        Err(e) => refused(&v, &e, &server_href(&app, &conn)),
    }
}

async fn connections_tab(w: &Web, v: &Viewer, app: &str, conn: &str, s: &Value) -> String {
    let href = server_href(app, conn);
    let mut out = String::new();
    if text(s, "authMethod") != "MCP_SERVER_AUTH_METHOD_OAUTH2"
        || text(s, "oauth2Mode") == "MCP_SERVER_AUTH_OAUTH2_MODE_CLIENT_CREDENTIALS"
    {
        out.push_str("<p class=\"muted\">This server uses shared credentials, so users do not connect their own accounts.</p>");
    } else {
        out.push_str("<p>Downstream OAuth identities: each user's own connection (per-user OAuth) or the service identity (service mode). Revoking one makes that user (or everyone, for the service identity) connect again before the next call.</p>");
    }
    match w
        .api
        .get(v, &format!("{}/connections", api_base(app, conn)))
        .await
    {
        Err(e) => out.push_str(&ui::notice("error", &e.message)),
        Ok(found) => {
            let ids: Vec<&str> = list(&found, "list")
                .iter()
                .map(|c| text(c, "userId"))
                .collect();
            let names = user_labels(w, v, &ids).await;
            let rows: Vec<Vec<String>> = list(&found, "list")
                .iter()
                .map(|c| {
                    let uid = text(c, "userId");
                    let who = if uid.is_empty() {
                        "Service identity".to_string()
                    } else {
                        names.get(uid).cloned().unwrap_or_else(|| uid.to_string())
                    };
                    let status = match text(c, "status") {
                        "MCP_CONNECTION_STATUS_CONNECTED" => ui::badge("ok", "Connected"),
                        "" => String::new(),
                        s => ui::badge("warn", &s.rsplit('_').next().unwrap_or(s).to_lowercase()),
                    };
                    let target = if uid.is_empty() { "service" } else { uid };
                    vec![
                        esc(&who),
                        status,
                        esc([text(c, "authorizedAsEmail"), text(c, "authorizedAsName")].into_iter().find(|x| !x.is_empty()).unwrap_or("")),
                        esc(&list(c, "scopes").iter().filter_map(Value::as_str).collect::<Vec<_>>().join(" ")),
                        ui::when(text(c, "connectedAt")),
                        esc(text(c, "lastError")),
                        ui::action_button(
                            v,
                            &format!("{href}/connections/{}/revoke", enc(target)),
                            "Revoke",
                            "secondary",
                            &format!("Revoke the connection of {who}? Their tool calls to this server stop until they connect again."),
                        ),
                    ]
                })
                .collect();
            out.push_str(&ui::table(
                "connections",
                &[
                    "User",
                    "Status",
                    "Connected as",
                    "Scopes",
                    "Connected",
                    "Last error",
                    "",
                ],
                &rows,
                "Nobody has connected an account to this server yet.",
            ));
        }
    }
    out
}

/// `POST …/connections/{user}/revoke` (`service` for the service identity).
pub async fn revoke_connection(
    State(w): State<Web>,
    v: Viewer,
    Path((app, conn, user)): Path<(String, String, String)>,
    _f: Form,
) -> Response {
    let href = server_href(&app, &conn);
    let path = format!("{}/connections/{}", api_base(&app, &conn), enc(&user));
    match w.api.call(&v, Method::DELETE, &path, None).await {
        Ok(_) => done(&format!("{href}?tab=connections&done=revoked")),
        Err(e) => refused(&v, &e, &format!("{href}?tab=connections")),
    }
}
