//! One MCP server: Overview (settings, credentials write-only, discovery, the server kill
//! switch, service-mode authorization), Tools (review by state, classification, definition
//! changes, per-tool kill switch, history), Toolsets (built-in and custom, tool bindings, the
//! access profiles a toolset is in) and Connections (per-user OAuth identities, revoke).

use super::register::{self, auth_fields, auth_json, DISCOVERY_NOTE};
use super::{
    classification_word, classifications, done, query, refused, server_href, state_badge, tabs,
    user_labels,
};
use crate::api::{at, enc, list, text, Refusal};
use crate::ui::{self, esc, Page, Section};
use crate::viewer::{Form, Viewer};
use crate::Web;
use axum::extract::{Path, RawQuery, State};
use axum::http::Method;
use axum::response::Response;
use serde_json::{json, Value};
use std::collections::{BTreeSet, HashMap};

const TABS: &[(&str, &str)] = &[
    ("overview", "Overview"),
    ("tools", "Tools"),
    ("toolsets", "Toolsets"),
    ("connections", "Connections"),
];

const STATES: &[(&str, &str, &str)] = &[
    ("pending", "Pending review", "MCP_TOOL_STATE_PENDING_REVIEW"),
    ("approved", "Approved", "MCP_TOOL_STATE_APPROVED"),
    ("disabled", "Disabled", "MCP_TOOL_STATE_DISABLED"),
    ("removed", "Removed", "MCP_TOOL_STATE_REMOVED"),
    ("all", "All", ""),
];

fn api_base(app: &str, conn: &str) -> String {
    format!("/api/v1/apps/{}/mcp_servers/{}", enc(app), enc(conn))
}

fn tools_base(app: &str, conn: &str) -> String {
    format!("/api/v1/apps/{}/connectors/{}", enc(app), enc(conn))
}

async fn load(w: &Web, v: &Viewer, app: &str, conn: &str) -> Result<Value, Refusal> {
    let r = w.api.get(v, &api_base(app, conn)).await?;
    Ok(r.get("mcpServer").cloned().unwrap_or(Value::Null))
}

fn killed(x: &Value) -> bool {
    x.get("chamberlainKilled").and_then(Value::as_bool) == Some(true)
}

fn flag(x: &Value, k: &str) -> bool {
    x.get(k).and_then(Value::as_bool) == Some(true)
}

/// `GET /admin/ai/servers/{app}/{conn}[?tab=…]`.
pub async fn page(
    State(w): State<Web>,
    v: Viewer,
    Path((app, conn)): Path<(String, String)>,
    RawQuery(raw): RawQuery,
) -> Response {
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
        "tools" => tools_tab(&w, &v, &app, &conn, &raw).await,
        "toolsets" => toolsets_tab(&w, &v, &app, &conn).await,
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
        "MCP_SERVER_AUTH_METHOD_BEARER_TOKEN" => format!("Bearer token: {}", set_word(flag(s, "bearerTokenConfigured"))),
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
            if flag(s, "chamberlainOauth2DynamicClient") { " (registered automatically)" } else { "" },
            set_word(flag(s, "oauth2CredentialsConfigured")),
            esc(&list(s, "oauth2Scopes").iter().filter_map(Value::as_str).collect::<Vec<_>>().join(" "))
        ),
        _ => "No credentials".into(),
    }
}

fn overview(w: &Web, v: &Viewer, app: &str, conn: &str, s: &Value) -> String {
    let href = server_href(app, conn);
    let hosted = text(s, "serverType") == "MCP_SERVER_TYPE_HOSTED";
    let mut facts = vec![
        ("Type", if hosted { "Hosted (a command Chamberlain runs)".to_string() } else { "Remote (Streamable HTTP)".into() }),
    ];
    if hosted {
        let argv: Vec<&str> = list(s, "chamberlainCommand").iter().filter_map(Value::as_str).collect();
        facts.push(("Command", format!("<code>{}</code>", esc(&argv.join(" ")))));
        if let Some(cfg) = at(s, "configFieldValues").and_then(Value::as_object) {
            for (k, val) in cfg {
                facts.push(("Setting", format!("{} = <code>{}</code>", esc(k), esc(val.as_str().unwrap_or("")))));
            }
        }
    } else {
        facts.push(("URL", format!("<code>{}</code>", esc(text(s, "endpointUrl")))));
    }
    facts.push(("Authentication", esc(super::auth_words(s))));
    facts.push(("Credentials", configured(s)));
    let prefix = if text(s, "toolPrefix").is_empty() { text(s, "defaultToolPrefix") } else { text(s, "toolPrefix") };
    facts.push(("Tool prefix", if prefix.is_empty() { "<span class=\"muted\">none</span>".into() } else { format!("<code>{}</code>", esc(prefix)) }));
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
            format!("{} {} {}", ui::badge("bad", "Failed"), ui::when(text(d, "at")), esc(text(d, "error")))
        };
        facts.push(("Last discovery", format!("<span id=\"last-discovery\">{outcome}</span>")));
    }
    let mut out = format!(
        "<dl class=\"facts card\" id=\"server-facts\">{}</dl><p class=\"muted\" id=\"discovery-note\">{}</p>",
        facts.iter().map(|(k, val)| format!("<dt>{}</dt><dd>{val}</dd>", esc(k))).collect::<String>(),
        esc(DISCOVERY_NOTE)
    );
    if text(s, "oauth2Mode") == "MCP_SERVER_AUTH_OAUTH2_MODE_SERVICE" {
        let status = if flag(s, "oauth2ServiceAuthorized") {
            format!("{} {}", ui::badge("ok", "Authorized"), ui::when(text(s, "oauth2ServiceAuthorizedAt")))
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
            "scopes" => list(s, "oauth2Scopes").iter().filter_map(Value::as_str).collect::<Vec<_>>().join(" "),
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
    out.replace("&amp;", "&").replace("&lt;", "<").replace("&gt;", ">").replace("&quot;", "\"").replace("&#39;", "'")
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
        .post(&v, &format!("{}/resync_tools", api_base(&app, &conn)), json!({}))
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
        Ok(_) => done(&format!("{href}?done={}", if on { "reopened" } else { "killed" })),
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

/// Top-level keys whose values differ between two definitions.
fn changed_keys(before: &Value, after: &Value) -> Vec<String> {
    let keys: BTreeSet<&String> = before
        .as_object()
        .into_iter()
        .chain(after.as_object())
        .flat_map(|m| m.keys())
        .collect();
    keys.into_iter()
        .filter(|k| before.get(k.as_str()) != after.get(k.as_str()))
        .cloned()
        .collect()
}

fn tool_flags(t: &Value, href: &str) -> String {
    let mut out = String::new();
    if flag(t, "chamberlainNeedsReview") {
        let keys = changed_keys(
            t.get("chamberlainReviewedDefinition").unwrap_or(&Value::Null),
            t.get("chamberlainDefinition").unwrap_or(&Value::Null),
        );
        out.push_str(&format!(
            " <a class=\"badge warn\" href=\"{href}/tools/{}#definition-change\">Definition changed{}</a>",
            enc(text(t, "id")),
            if keys.is_empty() { String::new() } else { esc(&format!(": {}", keys.join(", "))) }
        ));
    }
    if killed(t) {
        out.push_str(&format!(" {}", ui::badge("bad", "Switched off")));
    }
    out
}

async fn tools_tab(w: &Web, v: &Viewer, app: &str, conn: &str, raw: &Option<String>) -> String {
    let href = server_href(app, conn);
    let filter = query(raw, "state");
    let (fkey, _, fstate) = STATES
        .iter()
        .find(|(k, _, _)| *k == filter)
        .copied()
        .unwrap_or(STATES[4]);
    let q = query(raw, "q");
    let filters: String = STATES
        .iter()
        .map(|(k, l, _)| {
            let cur = if *k == fkey { " aria-current=\"page\"" } else { "" };
            format!("<a href=\"{href}?tab=tools&amp;state={k}\"{cur}>{l}</a>")
        })
        .collect();
    let mut out = format!("<nav class=\"tabs\" aria-label=\"Tool state\" id=\"tool-filters\">{filters}</nav>");
    out.push_str(&ui::search_form(
        &href,
        &q,
        "Search tools by name",
        &format!("{}{}", ui::hidden("tab", "tools"), ui::hidden("state", fkey)),
    ));
    let mut req = json!({"query": q, "pageSize": 50, "pageToken": query(raw, "page")});
    if !fstate.is_empty() {
        req["stateFilter"] = json!([fstate]);
    }
    let found = match w
        .api
        .post(v, &format!("{}/mcp_tools/search", tools_base(app, conn)), req)
        .await
    {
        Ok(f) => f,
        Err(e) => return out + &ui::notice("error", &e.message),
    };
    let back = format!("{href}?tab=tools&state={fkey}");
    let rows: Vec<Vec<String>> = list(&found, "list")
        .iter()
        .map(|t| {
            let id = text(t, "id");
            let name = text(t, "toolName");
            let exposed = text(t, "chamberlainExposedName");
            let state = text(t, "state");
            let mut desc: String = text(t, "description").chars().take(160).collect();
            if text(t, "description").chars().count() > 160 {
                desc.push('…');
            }
            let mut review = format!(
                "<form method=\"post\" action=\"{href}/tools/{}\" class=\"review\" data-tool=\"{}\">{}{}<label class=\"sr\" for=\"c-{}\">Classification of {}</label><select id=\"c-{}\" name=\"classification\">{}</select> <button type=\"submit\" name=\"action\" value=\"classify\" class=\"secondary\">Save</button>",
                enc(id),
                esc(name),
                ui::csrf(v),
                ui::hidden("back", &back),
                esc(id),
                esc(name),
                esc(id),
                classifications()
                    .iter()
                    .map(|(val, l)| format!(
                        "<option value=\"{}\"{}>{}</option>",
                        esc(val),
                        if val == text(t, "classification") { " selected" } else { "" },
                        esc(l)
                    ))
                    .collect::<String>()
            );
            if state != "MCP_TOOL_STATE_APPROVED" && state != "MCP_TOOL_STATE_REMOVED" {
                review.push_str(" <button type=\"submit\" name=\"action\" value=\"approve\">Approve</button>");
            }
            if state != "MCP_TOOL_STATE_DISABLED" && state != "MCP_TOOL_STATE_REMOVED" {
                review.push_str(" <button type=\"submit\" name=\"action\" value=\"disable\" class=\"secondary\">Disable</button>");
            }
            review.push_str("</form>");
            vec![
                format!(
                    "<input type=\"checkbox\" name=\"tool\" value=\"{}\" form=\"bulk-review\" aria-label=\"Select {}\">",
                    esc(id),
                    esc(name)
                ),
                format!(
                    "<a href=\"{href}/tools/{}\">{}</a><br><code class=\"muted\">{}</code>",
                    enc(id),
                    esc(name),
                    esc(exposed)
                ),
                esc(&desc),
                format!("{}{}", state_badge(state), tool_flags(t, &href)),
                review,
            ]
        })
        .collect();
    let empty = match fkey {
        "pending" => "No tool is waiting for review.",
        "approved" => "No tool is approved yet.",
        "disabled" => "No tool is disabled.",
        "removed" => "No tool was removed by its server.",
        _ => "No tools were discovered. Check the last discovery on the Overview tab, or resync.",
    };
    if !rows.is_empty() {
        out.push_str(&format!(
            "<form method=\"post\" action=\"{href}/tools/review\" id=\"bulk-review\" class=\"actions\">{}{}<span class=\"muted\">Selected tools:</span><button type=\"submit\" name=\"action\" value=\"approve\">Approve selected</button><button type=\"submit\" name=\"action\" value=\"disable\" class=\"secondary\">Disable selected</button></form>",
            ui::csrf(v),
            ui::hidden("back", &back)
        ));
    }
    out.push_str(&ui::table(
        "tools",
        &["", "Tool", "Description", "State", "Classification and review"],
        &rows,
        empty,
    ));
    out.push_str(&ui::pager(
        &format!("{href}?tab=tools&state={fkey}&q={}", enc(&q)),
        text(&found, "nextPageToken"),
    ));
    out
}

/// A safe place to go back to (a page of this server).
fn back_to(f: &Form, href: &str) -> String {
    let b = f.get("back");
    if b.starts_with(href) && !b.contains("//") {
        b.to_string()
    } else {
        format!("{href}?tab=tools")
    }
}

fn with_done(to: &str, key: &str) -> String {
    let sep = if to.contains('?') { '&' } else { '?' };
    format!("{to}{sep}done={key}")
}

/// The update a review action makes (tool patch, update mask).
fn tool_patch(action: &str, classification: &str) -> Option<(Value, &'static str)> {
    Some(match action {
        "approve" if !classification.is_empty() => (
            json!({"state": "MCP_TOOL_STATE_APPROVED", "classification": classification}),
            "state,classification",
        ),
        "approve" => (json!({"state": "MCP_TOOL_STATE_APPROVED"}), "state"),
        "disable" => (json!({"state": "MCP_TOOL_STATE_DISABLED"}), "state"),
        "pending" => (json!({"state": "MCP_TOOL_STATE_PENDING_REVIEW"}), "state"),
        "classify" => (json!({"classification": classification}), "classification"),
        "reviewed" => (json!({"chamberlainNeedsReview": false}), "chamberlainNeedsReview"),
        "kill" => (json!({"chamberlainKilled": true}), "chamberlainKilled"),
        "unkill" => (json!({"chamberlainKilled": false}), "chamberlainKilled"),
        _ => return None,
    })
}

/// `POST …/tools/{tool}` (form: action, classification, back).
pub async fn tool_update(
    State(w): State<Web>,
    v: Viewer,
    Path((app, conn, tool)): Path<(String, String, String)>,
    f: Form,
) -> Response {
    let href = server_href(&app, &conn);
    let back = back_to(&f, &href);
    let Some((patch, mask)) = tool_patch(f.get("action"), f.get("classification")) else {
        return refused(&v, &Refusal { status: 400, message: "unknown action".into() }, &back);
    };
    let path = format!("{}/mcp_tools/{}", tools_base(&app, &conn), enc(&tool));
    match w.api.post(&v, &path, json!({"tool": patch, "updateMask": mask})).await {
        Ok(_) => {
            let key = match f.get("action") {
                "approve" => "approved",
                "kill" => "killed",
                "unkill" => "reopened",
                _ => "saved",
            };
            done(&with_done(&back, key))
        }
        Err(e) => refused(&v, &e, &back),
    }
}

/// `POST …/tools/review` (form: action approve|disable, tool…): the same change for every
/// selected tool.
pub async fn review_many(
    State(w): State<Web>,
    v: Viewer,
    Path((app, conn)): Path<(String, String)>,
    f: Form,
) -> Response {
    let href = server_href(&app, &conn);
    let back = back_to(&f, &href);
    let Some((patch, mask)) = tool_patch(f.get("action"), "").filter(|_| matches!(f.get("action"), "approve" | "disable")) else {
        return refused(&v, &Refusal { status: 400, message: "unknown action".into() }, &back);
    };
    let tools = f.all("tool");
    if tools.is_empty() {
        return refused(&v, &Refusal { status: 400, message: "Select at least one tool.".into() }, &back);
    }
    for t in &tools {
        let path = format!("{}/mcp_tools/{}", tools_base(&app, &conn), enc(t));
        if let Err(e) = w.api.post(&v, &path, json!({"tool": patch, "updateMask": mask})).await {
            return refused(&v, &e, &back);
        }
    }
    done(&with_done(&back, if f.get("action") == "approve" { "approved" } else { "saved" }))
}

fn pretty(v: &Value) -> String {
    if v.is_null() {
        return "<p class=\"muted\">None recorded.</p>".into();
    }
    format!(
        "<pre class=\"def\">{}</pre>",
        esc(&serde_json::to_string_pretty(v).unwrap_or_default())
    )
}

/// `GET …/tools/{tool}`: the tool's definition (and what changed since review), its review
/// and kill switch, and its history.
pub async fn tool_page(
    State(w): State<Web>,
    v: Viewer,
    Path((app, conn, tool)): Path<(String, String, String)>,
    RawQuery(raw): RawQuery,
) -> Response {
    let href = server_href(&app, &conn);
    let base = format!("{}/mcp_tools/{}", tools_base(&app, &conn), enc(&tool));
    let t = match w.api.get(&v, &base).await {
        Ok(r) => r.get("tool").cloned().unwrap_or(Value::Null),
        Err(e) => return refused(&v, &e, &format!("{href}?tab=tools")),
    };
    let me = format!("{href}/tools/{}", enc(&tool));
    let name = text(&t, "toolName");
    let mut body = format!(
        "<p><a href=\"{href}?tab=tools\">← Tools</a></p>{}",
        ui::done_notice(&query(&raw, "done"))
    );
    let mut facts = vec![
        ("Name AI clients see", format!("<code>{}</code>", esc(text(&t, "chamberlainExposedName")))),
        ("State", format!("{}{}", state_badge(text(&t, "state")), tool_flags(&t, &href))),
        (
            "Classification",
            format!(
                "{} <span class=\"muted\">(from its annotations: {})</span>",
                esc(&classification_word(text(&t, "classification"))),
                esc(&classification_word(text(&t, "defaultClassification")))
            ),
        ),
        ("Description", esc(text(&t, "description"))),
        ("Entitlement", format!("<code>{}</code>", esc(text(&t, "appEntitlementId")))),
        ("Last called", ui::when(text(&t, "lastCalledAt"))),
    ];
    if !text(&t, "chamberlainNameNote").is_empty() {
        facts.push(("Name note", esc(text(&t, "chamberlainNameNote"))));
    }
    body.push_str(&format!(
        "<dl class=\"facts card\" id=\"tool-facts\">{}</dl>",
        facts.iter().map(|(k, val)| format!("<dt>{}</dt><dd>{val}</dd>", esc(k))).collect::<String>()
    ));
    let state = text(&t, "state");
    let mut review = format!(
        "<form method=\"post\" action=\"{me}\" class=\"card\" id=\"tool-review\"><h2>Review</h2>{}{}{}<div class=\"actions\"><button type=\"submit\" name=\"action\" value=\"classify\" class=\"secondary\">Save classification</button>",
        ui::csrf(&v),
        ui::hidden("back", &me),
        ui::select("Classification", "classification", &classifications(), text(&t, "classification")),
    );
    if state != "MCP_TOOL_STATE_REMOVED" {
        if state != "MCP_TOOL_STATE_APPROVED" {
            review.push_str("<button type=\"submit\" name=\"action\" value=\"approve\">Approve</button>");
        }
        if state != "MCP_TOOL_STATE_DISABLED" {
            review.push_str("<button type=\"submit\" name=\"action\" value=\"disable\" class=\"secondary\">Disable</button>");
        }
        if state != "MCP_TOOL_STATE_PENDING_REVIEW" {
            review.push_str("<button type=\"submit\" name=\"action\" value=\"pending\" class=\"secondary\">Back to pending review</button>");
        }
    }
    review.push_str("</div></form>");
    body.push_str(&review);
    let kill = if killed(&t) {
        format!(
            "<form method=\"post\" action=\"{me}\" class=\"inline\" data-confirm=\"{}\">{}{}<button type=\"submit\" name=\"action\" value=\"unkill\">Switch back on</button></form>",
            esc(&format!("Switch tool \"{name}\" back on? Users who hold it can call it again.")),
            ui::csrf(&v),
            ui::hidden("back", &me)
        )
    } else {
        format!(
            "<form method=\"post\" action=\"{me}\" class=\"inline\" data-confirm=\"{}\">{}{}<button type=\"submit\" name=\"action\" value=\"kill\" class=\"danger\">Kill switch: stop this tool</button></form>",
            esc(&format!("Stop tool \"{name}\"? Every call to it is refused for every user and AI client until you switch it back on.")),
            ui::csrf(&v),
            ui::hidden("back", &me)
        )
    };
    body.push_str(&format!("<div class=\"actions\" id=\"tool-kill\">{kill}</div>"));
    if flag(&t, "chamberlainNeedsReview") {
        let before = t.get("chamberlainReviewedDefinition").cloned().unwrap_or(Value::Null);
        let after = t.get("chamberlainDefinition").cloned().unwrap_or(Value::Null);
        let keys = changed_keys(&before, &after);
        body.push_str(&format!(
            "<section class=\"card\" id=\"definition-change\"><h2>Definition changed since it was reviewed</h2><p>Changed: <strong>{}</strong>. The tool keeps its state; review the change, then mark it reviewed (or change its state).</p><div class=\"cards\"><div><h3>As reviewed</h3>{}</div><div><h3>Now</h3>{}</div></div><form method=\"post\" action=\"{me}\">{}{}<button type=\"submit\" name=\"action\" value=\"reviewed\">Mark the change reviewed</button></form></section>",
            esc(&keys.join(", ")),
            pretty(&before),
            pretty(&after),
            ui::csrf(&v),
            ui::hidden("back", &me)
        ));
    }
    body.push_str(&format!("<h2>Definition</h2>{}", pretty(t.get("chamberlainDefinition").unwrap_or(&Value::Null))));
    body.push_str("<h2>History</h2>");
    match w
        .api
        .get(&v, &format!("{base}/history?page_size=25&page_token={}", enc(&query(&raw, "page"))))
        .await
    {
        Err(e) => body.push_str(&ui::notice("error", &e.message)),
        Ok(h) => {
            let actors: Vec<&str> = list(&h, "list").iter().map(|e| text(e, "metadata.actor.userId")).collect();
            let names = user_labels(&w, &v, &actors).await;
            let rows: Vec<Vec<String>> = list(&h, "list")
                .iter()
                .map(|e| {
                    let kind = list(e, "metadata.annotations")
                        .iter()
                        .find(|a| text(a, "key") == "chamberlain.kind")
                        .map(|a| text(a, "value").to_string())
                        .unwrap_or_default();
                    let actor = text(e, "metadata.actor.userId");
                    let snap = e.get("snapshot").unwrap_or(&Value::Null);
                    vec![
                        ui::when(text(e, "metadata.createdAt")),
                        esc(&kind.replace("tool.", "").replace('_', " ")),
                        if actor.is_empty() { "<span class=\"muted\">Discovery</span>".into() } else { esc(names.get(actor).map(String::as_str).unwrap_or(actor)) },
                        format!("{}{}", state_badge(text(snap, "state")), if flag(snap, "chamberlainKilled") { " ".to_string() + &ui::badge("bad", "Switched off") } else { String::new() }),
                        esc(&classification_word(text(snap, "classification"))),
                    ]
                })
                .collect();
            body.push_str(&ui::table("tool-history", &["When", "What", "Who", "State", "Classification"], &rows, "No history yet."));
            body.push_str(&ui::pager(&me, text(&h, "nextPageToken")));
        }
    }
    Page::new(Section::Ai, format!("Tool {name}"), body).render(&v)
}

async fn all_tools(w: &Web, v: &Viewer, app: &str, conn: &str) -> Result<Vec<Value>, Refusal> {
    let mut out = Vec::new();
    let mut token = String::new();
    for _ in 0..20 {
        let r = w
            .api
            .post(
                v,
                &format!("{}/mcp_tools/search", tools_base(app, conn)),
                json!({"pageSize": 100, "pageToken": token}),
            )
            .await?;
        out.extend(list(&r, "list").iter().cloned());
        token = text(&r, "nextPageToken").to_string();
        if token.is_empty() {
            break;
        }
    }
    Ok(out)
}

fn builtin_word(s: &Value) -> String {
    match text(s, "chamberlainBuiltIn") {
        "ALL_APPROVED" => ui::badge("", "Built-in: every approved tool"),
        "READ_ONLY" => ui::badge("", "Built-in: approved read tools"),
        _ => ui::badge("ok", "Custom"),
    }
}

fn in_profile(s: &Value) -> String {
    if flag(s, "requestable") {
        ui::badge("ok", "In an access profile")
    } else {
        ui::badge("", "Not in an access profile")
    }
}

async fn toolsets_tab(w: &Web, v: &Viewer, app: &str, conn: &str) -> String {
    let href = server_href(app, conn);
    let mut out = String::from("<p>A toolset is an entitlement of the server's app: put it in an access profile (Access profiles › the profile's entitlements) or grant it, and its holders' AI clients see its approved tools. Built-in toolsets keep themselves up to date.</p>");
    match w
        .api
        .get(v, &format!("{}/mcp_toolsets?page_size=100", tools_base(app, conn)))
        .await
    {
        Err(e) => out.push_str(&ui::notice("error", &e.message)),
        Ok(found) => {
            let rows: Vec<Vec<String>> = list(&found, "profiles")
                .iter()
                .map(|s| {
                    vec![
                        format!("<a href=\"{href}/toolsets/{}\">{}</a>", enc(text(s, "id")), esc(text(s, "displayName"))),
                        builtin_word(s),
                        s.get("toolCount").map(|c| c.to_string()).unwrap_or_else(|| "0".into()),
                        format!("<code>{}</code>", esc(text(s, "appEntitlementId"))),
                        in_profile(s),
                    ]
                })
                .collect();
            out.push_str(&ui::table("toolsets", &["Toolset", "Kind", "Tools", "Entitlement", "Access profiles"], &rows, "This server has no toolsets yet."));
        }
    }
    out.push_str(&format!(
        "<form method=\"post\" action=\"{href}/toolsets\" class=\"card\" id=\"new-toolset\"><h2>New toolset</h2>{}{}{}<div class=\"actions\"><button type=\"submit\">Create toolset</button></div></form>",
        ui::csrf(v),
        ui::text_field("Name", "display_name", "", "required maxlength=\"200\""),
        ui::text_field("Description", "description", "", ""),
    ));
    out
}

/// `POST …/toolsets`.
pub async fn create_toolset(
    State(w): State<Web>,
    v: Viewer,
    Path((app, conn)): Path<(String, String)>,
    f: Form,
) -> Response {
    let href = server_href(&app, &conn);
    match w
        .api
        .post(
            &v,
            &format!("{}/mcp_toolsets", tools_base(&app, &conn)),
            json!({"displayName": f.get("display_name"), "description": f.get("description")}),
        )
        .await
    {
        Ok(r) => done(&format!("{href}/toolsets/{}?done=created", enc(text(&r, "profile.id")))),
        Err(e) => refused(&v, &e, &format!("{href}?tab=toolsets")),
    }
}

/// Access profiles (request catalogs) that hold entitlement `ent` of `app`.
async fn profiles_with(w: &Web, v: &Viewer, app: &str, ent: &str) -> Vec<(String, String)> {
    let mut out = Vec::new();
    let Ok(found) = w.api.get(v, "/api/v1/catalogs?page_size=100").await else {
        return out;
    };
    for c in list(&found, "list") {
        let c = c.get("requestCatalog").unwrap_or(c);
        let id = text(c, "id");
        if let Ok(refs) = w
            .api
            .get(v, &format!("/api/v1/catalogs/{}/requestable_entitlementIDs", enc(id)))
            .await
        {
            if list(&refs, "refs").iter().any(|r| text(r, "appId") == app && text(r, "id") == ent) {
                out.push((id.to_string(), text(c, "displayName").to_string()));
            }
        }
    }
    out
}

/// `GET …/toolsets/{set}`.
pub async fn toolset_page(
    State(w): State<Web>,
    v: Viewer,
    Path((app, conn, set)): Path<(String, String, String)>,
    RawQuery(raw): RawQuery,
) -> Response {
    let href = server_href(&app, &conn);
    let base = format!("{}/mcp_toolsets/{}", tools_base(&app, &conn), enc(&set));
    let s = match w.api.get(&v, &base).await {
        Ok(r) => r.get("profile").cloned().unwrap_or(Value::Null),
        Err(e) => return refused(&v, &e, &format!("{href}?tab=toolsets")),
    };
    let tools = match all_tools(&w, &v, &app, &conn).await {
        Ok(t) => t,
        Err(e) => return refused(&v, &e, &format!("{href}?tab=toolsets")),
    };
    let bound: BTreeSet<String> = match w.api.get(&v, &format!("{base}/tool_bindings")).await {
        Ok(b) => list(&b, "bindings").iter().map(|b| text(b, "mcpToolId").to_string()).collect(),
        Err(e) => return refused(&v, &e, &format!("{href}?tab=toolsets")),
    };
    let by_id: HashMap<&str, &Value> = tools.iter().map(|t| (text(t, "id"), t)).collect();
    let custom = text(&s, "chamberlainBuiltIn").is_empty();
    let me = format!("{href}/toolsets/{}", enc(&set));
    let name = text(&s, "displayName");
    let profiles = profiles_with(&w, &v, &app, text(&s, "appEntitlementId")).await;
    let profile_list = if profiles.is_empty() {
        "<span class=\"muted\" id=\"toolset-profiles\">Not in any access profile yet: add its entitlement to an access profile so users can request it.</span>".to_string()
    } else {
        format!(
            "<span id=\"toolset-profiles\">{}</span>",
            profiles.iter().map(|(id, n)| ui::link(&format!("/admin/profiles/{}", enc(id)), n)).collect::<Vec<_>>().join(", ")
        )
    };
    let mut body = format!(
        "<p><a href=\"{href}?tab=toolsets\">← Toolsets</a></p>{}<dl class=\"facts card\" id=\"toolset-facts\"><dt>Kind</dt><dd>{}</dd><dt>Description</dt><dd>{}</dd><dt>Entitlement</dt><dd><code>{}</code></dd><dt>Access profiles</dt><dd>{profile_list}</dd></dl>",
        ui::done_notice(&query(&raw, "done")),
        builtin_word(&s),
        esc(text(&s, "description")),
        esc(text(&s, "appEntitlementId")),
    );
    let row = |t: &Value, form: &str| -> Vec<String> {
        let id = text(t, "id");
        let cb = if custom {
            format!("<input type=\"checkbox\" name=\"tool\" value=\"{}\" form=\"{form}\" aria-label=\"Select {}\">", esc(id), esc(text(t, "toolName")))
        } else {
            String::new()
        };
        vec![
            cb,
            format!("<a href=\"{href}/tools/{}\">{}</a>", enc(id), esc(text(t, "toolName"))),
            state_badge(text(t, "state")),
            esc(&classification_word(text(t, "classification"))),
        ]
    };
    let in_rows: Vec<Vec<String>> = bound.iter().filter_map(|id| by_id.get(id.as_str())).map(|t| row(t, "unbind")).collect();
    body.push_str("<h2>Tools in this toolset</h2><p class=\"muted\">Only approved tools that are not switched off reach AI clients.</p>");
    if custom && !in_rows.is_empty() {
        body.push_str(&format!(
            "<form method=\"post\" action=\"{me}/unbind\" id=\"unbind\" class=\"actions\">{}<button type=\"submit\" class=\"secondary\">Remove selected from the toolset</button></form>",
            ui::csrf(&v)
        ));
    }
    body.push_str(&ui::table("toolset-tools", &["", "Tool", "State", "Classification"], &in_rows, "No tools are in this toolset yet."));
    if custom {
        let out_rows: Vec<Vec<String>> = tools
            .iter()
            .filter(|t| !bound.contains(text(t, "id")) && text(t, "state") != "MCP_TOOL_STATE_REMOVED")
            .map(|t| row(t, "bind"))
            .collect();
        body.push_str("<h2>Add tools</h2>");
        if !out_rows.is_empty() {
            body.push_str(&format!(
                "<form method=\"post\" action=\"{me}/bind\" id=\"bind\" class=\"actions\">{}<button type=\"submit\">Add selected to the toolset</button></form>",
                ui::csrf(&v)
            ));
        }
        body.push_str(&ui::table("toolset-candidates", &["", "Tool", "State", "Classification"], &out_rows, "Every tool of this server is already in the toolset."));
        body.push_str(&format!(
            "<div class=\"actions\">{}</div>",
            ui::action_button(&v, &format!("{me}/delete"), "Delete toolset", "secondary", &format!("Delete toolset \"{name}\"? Its entitlement and every grant of it are removed."))
        ));
    } else {
        body.push_str("<p class=\"muted\">This toolset maintains itself and cannot be edited; create a custom toolset to choose tools.</p>");
    }
    Page::new(Section::Ai, format!("Toolset {name}"), body).render(&v)
}

async fn bindings(w: &Web, v: &Viewer, app: &str, conn: &str, set: &str, f: &Form, remove: bool) -> Response {
    let me = format!("{}/toolsets/{}", server_href(app, conn), enc(set));
    let tools = f.all("tool");
    if tools.is_empty() {
        return refused(v, &Refusal { status: 400, message: "Select at least one tool.".into() }, &me);
    }
    let path = format!(
        "{}/mcp_toolsets/{}/tool_bindings{}",
        tools_base(app, conn),
        enc(set),
        if remove { "/delete" } else { "" }
    );
    match w.api.post(v, &path, json!({"mcpToolIds": tools})).await {
        Ok(_) => done(&format!("{me}?done={}", if remove { "unbound" } else { "bound" })),
        Err(e) => refused(v, &e, &me),
    }
}

/// `POST …/toolsets/{set}/bind` (form: tool…).
pub async fn bind(
    State(w): State<Web>,
    v: Viewer,
    Path((app, conn, set)): Path<(String, String, String)>,
    f: Form,
) -> Response {
    bindings(&w, &v, &app, &conn, &set, &f, false).await
}

/// `POST …/toolsets/{set}/unbind` (form: tool…).
pub async fn unbind(
    State(w): State<Web>,
    v: Viewer,
    Path((app, conn, set)): Path<(String, String, String)>,
    f: Form,
) -> Response {
    bindings(&w, &v, &app, &conn, &set, &f, true).await
}

/// `POST …/toolsets/{set}/delete`.
pub async fn delete_toolset(
    State(w): State<Web>,
    v: Viewer,
    Path((app, conn, set)): Path<(String, String, String)>,
    _f: Form,
) -> Response {
    let href = server_href(&app, &conn);
    let path = format!("{}/mcp_toolsets/{}", tools_base(&app, &conn), enc(&set));
    match w.api.call(&v, Method::DELETE, &path, Some(json!({}))).await {
        Ok(_) => done(&format!("{href}?tab=toolsets&done=deleted")),
        Err(e) => refused(&v, &e, &format!("{href}/toolsets/{}", enc(&set))),
    }
}

async fn connections_tab(w: &Web, v: &Viewer, app: &str, conn: &str, s: &Value) -> String {
    let href = server_href(app, conn);
    let mut out = String::new();
    if text(s, "authMethod") != "MCP_SERVER_AUTH_METHOD_OAUTH2" || text(s, "oauth2Mode") == "MCP_SERVER_AUTH_OAUTH2_MODE_CLIENT_CREDENTIALS" {
        out.push_str("<p class=\"muted\">This server uses shared credentials, so users do not connect their own accounts.</p>");
    } else {
        out.push_str("<p>Downstream OAuth identities: each user's own connection (per-user OAuth) or the service identity (service mode). Revoking one makes that user (or everyone, for the service identity) connect again before the next call.</p>");
    }
    match w.api.get(v, &format!("{}/connections", api_base(app, conn))).await {
        Err(e) => out.push_str(&ui::notice("error", &e.message)),
        Ok(found) => {
            let ids: Vec<&str> = list(&found, "list").iter().map(|c| text(c, "userId")).collect();
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
                        esc(&[text(c, "authorizedAsEmail"), text(c, "authorizedAsName")].into_iter().find(|x| !x.is_empty()).unwrap_or("")),
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
                &["User", "Status", "Connected as", "Scopes", "Connected", "Last error", ""],
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
