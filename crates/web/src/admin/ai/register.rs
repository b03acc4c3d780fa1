//! "Register an MCP server": pick an entry of the catalog (`/api/v1/mcp_server_catalog`), fill
//! its form and register it under an app (an existing one, or a new one named after the
//! server). Three kinds of form:
//!
//! - a template with configuration fields and OAuth (Okta: instance URL, per-user OAuth or
//!   "OAuth2 — service mode", client ID, client secret, scopes);
//! - a remote server (URL and any authentication method), with "Test connection";
//! - a hosted command (command, arguments, environment, secret environment).
//!
//! Secrets typed into a form are sent to the API and never written back into a page.

use super::{done, query, refused, server_href};
use crate::api::{enc, list, text, Refusal};
use crate::ui::{self, esc, Page, Section};
use crate::viewer::{Form, Viewer};
use crate::Web;
use axum::extract::{RawQuery, State};
use axum::http::{Method, StatusCode};
use axum::response::Response;
use serde_json::{json, Map, Value};

/// What the form shows next to the discovery results, always (C1's warning).
pub(super) const DISCOVERY_NOTE: &str = "Tool discovery runs even if the credentials are wrong, so seeing discovered tools does not confirm that authentication works. You confirm the credentials when an approved user successfully calls a tool.";

/// Authentication choices of a remote server (value, label).
const AUTH_CHOICES: &[(&str, &str)] = &[
    ("none", "None"),
    ("bearer", "Bearer token"),
    ("header", "Custom header"),
    ("basic", "Basic auth"),
    ("client_credentials", "OAuth2 — client credentials"),
    (
        "per_user",
        "Per-user OAuth (each user connects their own account)",
    ),
    (
        "service",
        "OAuth2 — service mode (an administrator authorizes once)",
    ),
];

/// A field value of the form being re-shown (secrets are never given back).
type Values<'a> = &'a dyn Fn(&str) -> String;

/// The authentication fields for `choices`; `selected` is the current choice.
pub(super) fn auth_fields(
    choices: &[&str],
    selected: &str,
    val: Values,
    configured: &str,
) -> String {
    let opts: Vec<(String, String)> = AUTH_CHOICES
        .iter()
        .filter(|(k, _)| choices.contains(k))
        .map(|(k, l)| (k.to_string(), l.to_string()))
        .collect();
    let mut out = format!(
        "<div data-auth-select>{}</div>",
        ui::select("Authentication", "auth", &opts, selected)
    );
    if !configured.is_empty() {
        out.push_str(&format!(
            "<p class=\"muted\" id=\"configured-secrets\">{}</p>",
            esc(configured)
        ));
    }
    let secret = |label: &str, name: &str| {
        ui::text_field(
            label,
            name,
            "",
            "type=\"password\" autocomplete=\"new-password\"",
        )
    };
    if choices.contains(&"bearer") {
        out.push_str(&format!(
            "<fieldset data-auth=\"bearer\"><legend>Bearer token</legend>{}</fieldset>",
            secret("Token", "token")
        ));
    }
    if choices.contains(&"header") {
        out.push_str(&format!(
            "<fieldset data-auth=\"header\"><legend>Custom header</legend>{}{}</fieldset>",
            ui::text_field(
                "Header name",
                "header_name",
                &val("header_name"),
                "placeholder=\"X-Api-Key\""
            ),
            secret("Header value", "header_value")
        ));
    }
    if choices.contains(&"basic") {
        out.push_str(&format!(
            "<fieldset data-auth=\"basic\"><legend>Basic auth</legend>{}{}</fieldset>",
            ui::text_field(
                "Username",
                "username",
                &val("username"),
                "autocomplete=\"off\""
            ),
            secret("Password", "password")
        ));
    }
    let oauth: Vec<&str> = ["client_credentials", "per_user", "service"]
        .into_iter()
        .filter(|c| choices.contains(c))
        .collect();
    if !oauth.is_empty() {
        out.push_str(&format!(
            "<fieldset data-auth=\"{}\"><legend>OAuth2</legend>{}{}{}{}{}\
<p class=\"muted\">Per-user OAuth and service mode: leave the authorization and token URLs empty to discover them from the server's OAuth metadata (and, without a client ID, to register Chamberlain as a client there). Client credentials needs the token URL.</p></fieldset>",
            oauth.join(" "),
            ui::text_field("Client ID", "client_id", &val("client_id"), "autocomplete=\"off\""),
            secret("Client secret", "client_secret"),
            ui::text_field("Scopes (separated by spaces)", "scopes", &val("scopes"), ""),
            ui::text_field("Authorization URL", "authorize_url", &val("authorize_url"), "type=\"url\""),
            ui::text_field("Token URL", "token_url", &val("token_url"), "type=\"url\""),
        ));
    }
    out
}

fn scopes(raw: &str) -> Vec<String> {
    raw.split(|c: char| c.is_whitespace() || c == ',')
        .filter(|s| !s.is_empty())
        .map(str::to_string)
        .collect()
}

/// The API's authentication member (`none`, `bearerToken`, …) for the posted choice.
pub(super) fn auth_json(f: &Form) -> (&'static str, Value) {
    let oauth = |mode: &str| {
        json!({
            "mode": mode,
            "clientId": f.get("client_id"),
            "clientSecret": f.get("client_secret"),
            "scopes": scopes(f.get("scopes")),
            "authorizeUrl": f.get("authorize_url"),
            "tokenUrl": f.get("token_url"),
        })
    };
    match f.get("auth") {
        "bearer" => ("bearerToken", json!({"token": f.get("token")})),
        "header" => (
            "customHeader",
            json!({"headerName": f.get("header_name"), "headerValue": f.get("header_value")}),
        ),
        "basic" => (
            "basicAuth",
            json!({"username": f.get("username"), "password": f.get("password")}),
        ),
        "client_credentials" => (
            "oauth2",
            oauth("MCP_SERVER_AUTH_OAUTH2_MODE_CLIENT_CREDENTIALS"),
        ),
        "per_user" => ("oauth2", oauth("MCP_SERVER_AUTH_OAUTH2_MODE_PASSTHROUGH")),
        "service" => ("oauth2", oauth("MCP_SERVER_AUTH_OAUTH2_MODE_SERVICE")),
        _ => ("none", json!({})),
    }
}

fn approval(f: &Form) -> &'static str {
    match f.get("approval") {
        "true" => "OPTIONAL_BOOL_TRUE",
        "false" => "OPTIONAL_BOOL_FALSE",
        _ => "OPTIONAL_BOOL_UNSPECIFIED",
    }
}

/// Which form a catalog entry gets.
#[derive(PartialEq, Clone, Copy)]
enum Kind {
    Remote,
    Hosted,
    Template,
}

fn kind_of(entry: &Value) -> Kind {
    if text(entry, "chamberlainServerType") == "MCP_SERVER_TYPE_EXTERNAL" {
        Kind::Remote
    } else if text(entry, "id") == "generic-hosted" {
        Kind::Hosted
    } else {
        Kind::Template
    }
}

/// Replaces `${field}` in a template URL with the posted configuration values.
fn fill(template: &str, f: &Form, entry: &Value) -> String {
    let mut out = template.to_string();
    for field in list(entry, "configSchema.fields") {
        let name = text(field, "name");
        let value = f.get(&format!("cf_{name}")).trim_end_matches('/');
        out = out.replace(&format!("${{{name}}}"), value);
    }
    out
}

async fn catalog_entry(w: &Web, v: &Viewer, id: &str) -> Result<Value, Refusal> {
    let found = w
        .api
        .get(v, &format!("/api/v1/mcp_server_catalog/{}", enc(id)))
        .await?;
    Ok(found.get("catalogEntry").cloned().unwrap_or(Value::Null))
}

/// `GET /admin/ai/servers/new[?catalog=ID]`.
pub async fn form(State(w): State<Web>, v: Viewer, RawQuery(raw): RawQuery) -> Response {
    if let Some(r) = super::admins_only(&v, Section::Ai) {
        return r;
    }
    let id = query(&raw, "catalog");
    if id.is_empty() {
        return catalog_page(&w, &v).await;
    }
    match catalog_entry(&w, &v, &id).await {
        Ok(entry) => render_form(&w, &v, &entry, None, None, StatusCode::OK).await,
        Err(e) => refused(&v, &e, "/admin/ai/servers/new"),
    }
}

async fn catalog_page(w: &Web, v: &Viewer) -> Response {
    let mut body = String::from("<p>Select a server from the catalog. Its tools are discovered when you register it and start pending review or approved, depending on the server's setting or the tenant's default in <a href=\"/admin/settings#ai-connections\">Settings › AI Connections</a>.</p>");
    match w.api.get(v, "/api/v1/mcp_server_catalog").await {
        Err(e) => body.push_str(&ui::notice("error", &e.message)),
        Ok(found) => {
            let cards: String = list(&found, "list")
                .iter()
                .map(|e| {
                    let id = text(e, "id");
                    format!(
                        "<article class=\"card\" data-catalog=\"{}\"><h2>{}</h2><p>{}</p><a class=\"button\" href=\"/admin/ai/servers/new?catalog={}\" aria-label=\"Select {}\">Select</a></article>",
                        esc(id),
                        esc(text(e, "displayName")),
                        esc(text(e, "description")),
                        enc(id),
                        esc(text(e, "displayName"))
                    )
                })
                .collect();
            if cards.is_empty() {
                body.push_str("<p class=\"empty\">The catalog is empty.</p>");
            } else {
                body.push_str(&format!(
                    "<div class=\"cards\" id=\"catalog\">{cards}</div>"
                ));
            }
        }
    }
    Page::new(Section::Ai, "Register an MCP server", body).render(v)
}

/// The registration form of `entry`, re-shown with `posted` values and a notice.
async fn render_form(
    w: &Web,
    v: &Viewer,
    entry: &Value,
    posted: Option<&Form>,
    notice: Option<String>,
    status: StatusCode,
) -> Response {
    let kind = kind_of(entry);
    let cat_id = text(entry, "id");
    let val = |k: &str| -> String { posted.map(|f| f.get(k).to_string()).unwrap_or_default() };
    let first = posted.is_none();
    let or = |k: &str, d: &str| -> String {
        if first {
            d.to_string()
        } else {
            val(k)
        }
    };
    let mut body = notice.unwrap_or_default();
    body.push_str(&format!(
        "<p><a href=\"/admin/ai/servers/new\">← Catalog</a></p><p class=\"muted\">{}</p>",
        esc(text(entry, "description"))
    ));
    // Apps to register under.
    let mut apps: Vec<(String, String)> =
        vec![("new".into(), "A new app named after the server".into())];
    if let Ok(found) = w.api.get(v, "/api/v1/apps?page_size=100").await {
        for a in list(&found, "list") {
            let a = a.get("app").unwrap_or(a);
            apps.push((text(a, "id").into(), text(a, "displayName").into()));
        }
    }
    let mut f = format!(
        "<form method=\"post\" action=\"/admin/ai/servers/new\" class=\"card\" id=\"register-form\">{}{}",
        ui::csrf(v),
        ui::hidden("catalog", cat_id)
    );
    f.push_str(&ui::text_field(
        "Display name",
        "display_name",
        &or("display_name", text(entry, "displayName")),
        "required maxlength=\"200\"",
    ));
    f.push_str(&ui::text_field(
        "Description",
        "description",
        &val("description"),
        "",
    ));
    f.push_str(&ui::select("App", "app", &apps, &or("app", "new")));
    match kind {
        Kind::Template => {
            for field in list(entry, "configSchema.fields") {
                let name = format!("cf_{}", text(field, "name"));
                let required = if field.get("required").and_then(Value::as_bool) == Some(true) {
                    "required"
                } else {
                    ""
                };
                f.push_str(&ui::text_field(
                    text(field, "displayName"),
                    &name,
                    &val(&name),
                    &format!(
                        "{required} placeholder=\"{}\"",
                        esc(text(field, "placeholder"))
                    ),
                ));
            }
            let modes = list(entry, "supportedOauth2Modes");
            let has = |m: &str| modes.iter().any(|x| x.as_str() == Some(m));
            let default_scopes: Vec<&str> = list(entry, "authModes")
                .first()
                .map(|m| list(m, "scopes").iter().filter_map(Value::as_str).collect())
                .unwrap_or_default();
            let mode = or("mode", "per_user");
            let radio = |value: &str, label: &str, hint: &str| {
                let checked = if mode == value { " checked" } else { "" };
                format!(
                    "<label class=\"check\"><input type=\"radio\" name=\"mode\" value=\"{value}\" id=\"mode-{value}\"{checked}> {}</label><p class=\"muted\">{}</p>",
                    esc(label),
                    esc(hint)
                )
            };
            if modes.is_empty() {
                // A template without OAuth (an admin's own hosted entry): nothing to choose.
                f.push_str("<p class=\"muted\">This server needs no downstream sign-in.</p>");
            } else {
                f.push_str("<fieldset id=\"auth-mode\"><legend>Authentication</legend>");
                if has("MCP_SERVER_AUTH_OAUTH2_MODE_PASSTHROUGH") {
                    f.push_str(&radio("per_user", "Per-user OAuth (recommended)", "Each user authorizes with their own account, so every tool call runs under that user's identity and permissions. Users connect under AI & API › MCP connections, or when their AI client first calls a tool."));
                }
                if has("MCP_SERVER_AUTH_OAUTH2_MODE_SERVICE") {
                    f.push_str(&radio("service", "OAuth2 — service mode", "An administrator authorizes once (after saving, use Authorize on the server's page); every user's calls reach the service as that one identity, and the audit still names each user. Authorize from a dedicated service account."));
                }
                f.push_str(&ui::text_field(
                    "Client ID",
                    "client_id",
                    &val("client_id"),
                    "required autocomplete=\"off\"",
                ));
                f.push_str(&ui::text_field(
                    "Client secret",
                    "client_secret",
                    "",
                    "type=\"password\" autocomplete=\"new-password\"",
                ));
                f.push_str(&ui::text_field(
                    "Scopes (separated by spaces)",
                    "scopes",
                    &or("scopes", &default_scopes.join(" ")),
                    "",
                ));
                f.push_str(&format!(
                "<p class=\"muted\">Redirect URI to register with the provider: <code>{}/auth/v1/mcp/callback</code></p></fieldset>",
                esc(w.shared.public_url.trim_end_matches('/'))
            ));
            }
        }
        Kind::Remote => {
            f.push_str(&ui::text_field(
                "Server URL (Streamable HTTP)",
                "url",
                &val("url"),
                "type=\"url\" required placeholder=\"https://mcp.example.com/mcp\"",
            ));
            f.push_str(&auth_fields(
                &AUTH_CHOICES.iter().map(|(k, _)| *k).collect::<Vec<_>>(),
                &or("auth", "none"),
                &val,
                "",
            ));
        }
        Kind::Hosted => {
            f.push_str(&ui::text_field(
                "Command",
                "command",
                &val("command"),
                "required placeholder=\"npx\"",
            ));
            f.push_str(&ui::text_area(
                "Arguments (one per line)",
                "args",
                &val("args"),
                "placeholder=\"-y&#10;@modelcontextprotocol/server-everything\"",
            ));
            f.push_str(&ui::text_area(
                "Environment (NAME=value, one per line)",
                "env",
                &val("env"),
                "",
            ));
            f.push_str(&ui::text_area(
                "Secret environment (NAME=value, one per line; sealed and never shown again)",
                "secret_env",
                "",
                "",
            ));
        }
    }
    f.push_str(&ui::text_field(
        "Tool prefix",
        "tool_prefix",
        &or("tool_prefix", text(entry, "defaultToolPrefix")),
        "pattern=\"[A-Za-z0-9_-]*\" maxlength=\"32\"",
    ));
    f.push_str("<p class=\"muted\">AI clients see each tool as <code>prefix_tool</code>.</p>");
    f.push_str(&ui::select(
        "New tools",
        "approval",
        &[
            (
                "inherit".into(),
                "Tenant default (Settings › AI Connections)".into(),
            ),
            (
                "true".into(),
                "Start pending review (require tool approval)".into(),
            ),
            ("false".into(), "Start approved".into()),
        ],
        &or("approval", "inherit"),
    ));
    f.push_str(&format!(
        "<p class=\"muted\" id=\"discovery-note\">{}</p>",
        esc(DISCOVERY_NOTE)
    ));
    f.push_str("<div class=\"actions\"><button type=\"submit\">Register</button>");
    if kind == Kind::Remote {
        f.push_str("<button type=\"submit\" class=\"secondary\" formaction=\"/admin/ai/servers/test\" formnovalidate>Test connection</button>");
    }
    f.push_str("</div></form>");
    body.push_str(&f);
    let title = format!("Register an MCP server: {}", text(entry, "displayName"));
    Page::new(Section::Ai, title, body).status(status).render(v)
}

/// `KEY=value` lines as a JSON object string (empty when there are none).
fn env_json(raw: &str) -> Result<String, String> {
    let mut m = Map::new();
    for line in raw.lines().map(str::trim).filter(|l| !l.is_empty()) {
        let Some((k, val)) = line.split_once('=') else {
            return Err(format!("`{line}` is not NAME=value"));
        };
        m.insert(k.trim().to_string(), Value::String(val.to_string()));
    }
    Ok(if m.is_empty() {
        String::new()
    } else {
        Value::Object(m).to_string()
    })
}

/// The register request for the posted form.
fn register_body(f: &Form, entry: &Value) -> Result<Value, String> {
    let mut body = json!({
        "displayName": f.get("display_name"),
        "description": f.get("description"),
        "toolPrefix": f.get("tool_prefix"),
    });
    match kind_of(entry) {
        Kind::Remote => {
            let (key, auth) = auth_json(f);
            let mut cfg = json!({
                "url": f.get("url"),
                "transportType": "MCP_SERVER_TRANSPORT_TYPE_STREAMABLE_HTTP",
                "requireToolApproval": approval(f),
            });
            cfg[key] = auth;
            body["serverType"] = json!("MCP_SERVER_TYPE_EXTERNAL");
            body["externalConfig"] = cfg;
        }
        Kind::Hosted => {
            let args: Vec<&str> = f
                .get("args")
                .lines()
                .map(str::trim)
                .filter(|l| !l.is_empty())
                .collect();
            let mut fields = Map::new();
            fields.insert("command".into(), json!(f.get("command")));
            if !args.is_empty() {
                fields.insert("args".into(), json!(json!(args).to_string()));
            }
            let env = env_json(f.get("env")).map_err(|e| format!("Environment: {e}"))?;
            if !env.is_empty() {
                fields.insert("env".into(), json!(env));
            }
            let secret =
                env_json(f.get("secret_env")).map_err(|e| format!("Secret environment: {e}"))?;
            if !secret.is_empty() {
                fields.insert("secretEnv".into(), json!(secret));
            }
            body["serverType"] = json!("MCP_SERVER_TYPE_HOSTED");
            body["hostedConfig"] = json!({
                "mcpServerCatalogId": text(entry, "id"),
                "configFields": fields,
                "requireToolApproval": approval(f),
                "none": {},
            });
        }
        Kind::Template => {
            let mut fields = Map::new();
            for field in list(entry, "configSchema.fields") {
                let name = text(field, "name");
                let value = f.get(&format!("cf_{name}"));
                if !value.is_empty() {
                    fields.insert(name.into(), json!(value.trim_end_matches('/')));
                }
            }
            let service = f.get("mode") == "service";
            let template = list(entry, "authModes")
                .iter()
                .find(|m| (m.get("passthrough").and_then(Value::as_bool) == Some(true)) != service)
                .or_else(|| list(entry, "authModes").first())
                .cloned()
                .unwrap_or(Value::Null);
            let mut cfg = json!({
                "mcpServerCatalogId": text(entry, "id"),
                "configFields": fields,
                "requireToolApproval": approval(f),
            });
            let oauth = !list(entry, "supportedOauth2Modes").is_empty()
                && (text(&template, "authMethod") == "MCP_SERVER_AUTH_METHOD_OAUTH2"
                    || template.is_null());
            if oauth {
                cfg["oauth2"] = json!({
                    "mode": if service { "MCP_SERVER_AUTH_OAUTH2_MODE_SERVICE" } else { "MCP_SERVER_AUTH_OAUTH2_MODE_PASSTHROUGH" },
                    "clientId": f.get("client_id"),
                    "clientSecret": f.get("client_secret"),
                    "scopes": scopes(f.get("scopes")),
                    "authorizeUrl": fill(text(&template, "authorizeUrl"), f, entry),
                    "tokenUrl": fill(text(&template, "tokenUrl"), f, entry),
                    "issuerUrl": fill(text(&template, "issuerUrl"), f, entry),
                });
                if !service {
                    cfg["tokenSharing"] = json!("MCP_SERVER_TOKEN_SHARING_PER_USER");
                }
            } else {
                cfg["none"] = json!({});
            }
            body["serverType"] = json!("MCP_SERVER_TYPE_HOSTED");
            body["hostedConfig"] = cfg;
        }
    }
    Ok(body)
}

/// `POST /admin/ai/servers/new`.
pub async fn submit(State(w): State<Web>, v: Viewer, f: Form) -> Response {
    let entry = match catalog_entry(&w, &v, f.get("catalog")).await {
        Ok(e) => e,
        Err(e) => return refused(&v, &e, "/admin/ai/servers/new"),
    };
    let again = |msg: &str, status: u16| {
        let w = w.clone();
        let v = v.clone();
        let entry = entry.clone();
        let msg = msg.to_string();
        let f = &f;
        async move {
            render_form(
                &w,
                &v,
                &entry,
                Some(f),
                Some(ui::notice(
                    "error",
                    &format!("{msg} (secrets were not kept: enter them again)"),
                )),
                StatusCode::from_u16(status).unwrap_or(StatusCode::BAD_REQUEST),
            )
            .await
        }
    };
    let body = match register_body(&f, &entry) {
        Ok(b) => b,
        Err(m) => return again(&m, 400).await,
    };
    // The app: an existing one, or a new one named after the server (removed again when the
    // registration is refused).
    let (app, created) = match f.get("app") {
        "" | "new" => {
            match w
                .api
                .post(
                    &v,
                    "/api/v1/apps",
                    json!({"displayName": f.get("display_name")}),
                )
                .await
            {
                Ok(a) => (text(&a, "app.id").to_string(), true),
                Err(e) => return again(&e.message, e.status).await,
            }
        }
        id => (id.to_string(), false),
    };
    let path = format!("/api/v1/apps/{}/mcp_servers", enc(&app));
    match w.api.post(&v, &path, body).await {
        Ok(r) => done(&format!(
            "{}?done=registered",
            server_href(&app, text(&r, "mcpServer.connectorId"))
        )),
        Err(e) => {
            if created {
                let _ = w
                    .api
                    .call(
                        &v,
                        Method::DELETE,
                        &format!("/api/v1/apps/{}", enc(&app)),
                        Some(json!({})),
                    )
                    .await;
            }
            again(&e.message, e.status).await
        }
    }
}

/// `POST /admin/ai/servers/test`: tries the remote server with the posted configuration
/// (initialize and tools/list) and shows the form again with the outcome.
pub async fn test(State(w): State<Web>, v: Viewer, f: Form) -> Response {
    let entry = match catalog_entry(&w, &v, f.get("catalog")).await {
        Ok(e) => e,
        Err(e) => return refused(&v, &e, "/admin/ai/servers/new"),
    };
    let (key, auth) = auth_json(&f);
    let mut cfg =
        json!({"url": f.get("url"), "transportType": "MCP_SERVER_TRANSPORT_TYPE_STREAMABLE_HTTP"});
    cfg[key] = auth;
    let (notice, status) = match w
        .api
        .post(&v, "/api/v1/mcp_servers/test_connection", json!({"externalConfig": cfg}))
        .await
    {
        Ok(r) if r.get("reachable").and_then(Value::as_bool) == Some(true) => (
            format!(
                "<p class=\"notice ok\" role=\"status\" id=\"notice\">The server answered and listed {} tools. {} Enter the secrets again to register.</p>",
                esc(&r.get("toolCount").map(|c| c.as_str().map(str::to_string).unwrap_or_else(|| c.to_string())).unwrap_or_default()),
                esc(DISCOVERY_NOTE)
            ),
            StatusCode::OK,
        ),
        Ok(r) => (
            ui::notice(
                "error",
                &format!("The server could not be reached: {}", text(&r, "failureReason")),
            ),
            StatusCode::OK,
        ),
        Err(e) => (
            ui::notice("error", &e.message),
            StatusCode::from_u16(e.status).unwrap_or(StatusCode::BAD_REQUEST),
        ),
    };
    render_form(&w, &v, &entry, Some(&f), Some(notice), status).await
}

/// Used by the credentials form of a registered server.
pub(super) fn all_auth_choices() -> Vec<&'static str> {
    AUTH_CHOICES.iter().map(|(k, _)| *k).collect()
}

/// The auth choice key of a registered server.
pub(super) fn current_choice(s: &Value) -> &'static str {
    match text(s, "authMethod") {
        "MCP_SERVER_AUTH_METHOD_BEARER_TOKEN" => "bearer",
        "MCP_SERVER_AUTH_METHOD_CUSTOM_HEADER" => "header",
        "MCP_SERVER_AUTH_METHOD_BASIC_AUTH" => "basic",
        "MCP_SERVER_AUTH_METHOD_OAUTH2" => match text(s, "oauth2Mode") {
            "MCP_SERVER_AUTH_OAUTH2_MODE_SERVICE" => "service",
            "MCP_SERVER_AUTH_OAUTH2_MODE_CLIENT_CREDENTIALS" => "client_credentials",
            _ => "per_user",
        },
        _ => "none",
    }
}
