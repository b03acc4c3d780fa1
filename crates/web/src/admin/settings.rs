//! Admin › Settings: AI Connections (the tenant's AI governance defaults: require tool
//! approval, default tool classification, discovery, audit detail, client lifecycle, token
//! lifetime) with their history, the notification channels (email through SMTP, Slack) and
//! single sign-on (OpenID Connect). Each section is a form over its API; secrets are
//! write-only ("set" / "not set"), and a read-only admin sees the forms and gets the API's
//! refusal when saving.

use crate::api::{at, list, text, Refusal};
use crate::employee::query;
use crate::ui::{self, esc, Page, Section};
use crate::viewer::{Form, Viewer};
use crate::Web;
use axum::extract::{RawQuery, State};
use axum::http::StatusCode;
use axum::response::{IntoResponse, Redirect, Response};
use axum::routing::{get, post};
use axum::Router;
use serde_json::{json, Value};

pub(crate) fn routes() -> Router<Web> {
    Router::new()
        .route("/admin/settings", get(page))
        .route("/admin/settings/ai", post(save_ai))
        .route("/admin/settings/email", post(save_email))
        .route("/admin/settings/email/test", post(test_email))
        .route("/admin/settings/slack", post(save_slack))
        .route("/admin/settings/slack/test", post(test_slack))
        .route("/admin/settings/sso", post(save_sso))
}

fn refused(v: &Viewer, e: &Refusal, anchor: &str) -> Response {
    Page::new(
        Section::Settings,
        "Settings",
        format!(
            "{}<p><a href=\"/admin/settings#{}\">Back</a></p>",
            ui::notice("error", &e.message),
            esc(anchor)
        ),
    )
    .status(StatusCode::from_u16(e.status).unwrap_or(StatusCode::BAD_REQUEST))
    .render(v)
}

fn back(anchor: &str, done: &str) -> Response {
    Redirect::to(&format!("/admin/settings?done={done}#{anchor}")).into_response()
}

fn checkbox(label: &str, name: &str, on: bool) -> String {
    format!(
        "<label class=\"check\"><input type=\"checkbox\" name=\"{name}\" id=\"f-{name}\"{}> {}</label>",
        if on { " checked" } else { "" },
        esc(label)
    )
}

fn number(label: &str, name: &str, value: &str, attrs: &str) -> String {
    ui::text_field(
        label,
        name,
        value,
        &format!("type=\"number\" min=\"0\" step=\"1\" {attrs}"),
    )
}

/// Seconds of a protojson duration (`"86400s"`).
fn secs(d: &str) -> i64 {
    d.trim_end_matches('s')
        .split('.')
        .next()
        .and_then(|s| s.parse().ok())
        .unwrap_or(0)
}

fn set_badge(on: bool) -> String {
    if on {
        ui::badge("ok", "set")
    } else {
        ui::badge("warn", "not set")
    }
}

/// `GET /admin/settings`.
pub async fn page(State(w): State<Web>, v: Viewer, RawQuery(raw): RawQuery) -> Response {
    render(&w, &v, &query(&raw, "done"), None).await
}

/// The whole Settings page; `refused` is a single sign-on form the API refused, shown again
/// with its input and the API's message.
async fn render(w: &Web, v: &Viewer, done: &str, refused: Option<(SsoDraft, Refusal)>) -> Response {
    if let Some(r) = super::ai::admins_only(v, Section::Settings) {
        return r;
    }
    let status = refused
        .as_ref()
        .map(|(_, e)| StatusCode::from_u16(e.status).unwrap_or(StatusCode::BAD_REQUEST))
        .unwrap_or(StatusCode::OK);
    let mut body = ui::done_notice(done);
    body.push_str("<nav class=\"tabs\" aria-label=\"Settings\"><a href=\"#ai-connections\">AI Connections</a><a href=\"#notifications\">Notifications</a><a href=\"#sso\">Single sign-on</a></nav>");
    body.push_str(&ai_section(w, v).await);
    body.push_str(&notifications_section(w, v).await);
    body.push_str(&sso_section(w, v, refused).await);
    Page::new(Section::Settings, "Settings", body)
        .status(status)
        .render(v)
}

const CLIENT_TYPES: &[(&str, &str)] = &[
    ("MCP_CLIENT_TYPE_PERSONAL", "Personal"),
    ("MCP_CLIENT_TYPE_SHARED", "Shared"),
    ("MCP_CLIENT_TYPE_SERVICE", "Service"),
    ("MCP_CLIENT_TYPE_EPHEMERAL", "Ephemeral"),
];

async fn ai_section(w: &Web, v: &Viewer) -> String {
    let mut out = String::from("<section id=\"ai-connections\"><h2>AI Connections</h2>");
    let s = match w.api.get(v, "/api/v1/settings/ai-governance").await {
        Ok(r) => r
            .get("aiGovernanceSettings")
            .cloned()
            .unwrap_or(Value::Null),
        Err(e) => return out + &ui::notice("error", &e.message) + "</section>",
    };
    let flag = |k: &str| s.get(k).and_then(Value::as_bool).unwrap_or(false);
    let enabled = s.get("enabled").and_then(Value::as_bool).unwrap_or(true);
    out.push_str(&format!(
        "<p id=\"traffic-state\">{} <a href=\"/admin/ai?tab=kill\">Kill switches</a></p>",
        if enabled {
            ui::badge("ok", "MCP traffic is on")
        } else {
            ui::badge("bad", "MCP traffic is disabled for the whole tenant")
        }
    ));
    let days = |k: &str| -> String {
        let n = secs(text(&s, &format!("defaultClientLifecycle.{k}")));
        if n % 86_400 == 0 {
            (n / 86_400).to_string()
        } else {
            format!("{:.2}", n as f64 / 86_400.0)
        }
    };
    let mut class_opts: Vec<(String, String)> = vec![(
        "TOOL_CLASSIFICATION_UNSPECIFIED".into(),
        "From each tool's annotations".into(),
    )];
    class_opts.extend(super::ai::classifications());
    let allowed: Vec<&str> = list(&s, "allowedClientTypes")
        .iter()
        .filter_map(Value::as_str)
        .collect();
    let types: String = CLIENT_TYPES
        .iter()
        .map(|(k, l)| {
            format!(
                "<label class=\"check\"><input type=\"checkbox\" name=\"client_type\" value=\"{k}\"{}> {l}</label>",
                if allowed.contains(k) { " checked" } else { "" }
            )
        })
        .collect();
    let token_minutes = at(&s, "chamberlainAccessTokenLifetime")
        .and_then(Value::as_str)
        .map(|d| (secs(d) / 60).to_string())
        .unwrap_or_default();
    out.push_str(&format!(
        "<form method=\"post\" action=\"/admin/settings/ai\" class=\"card\" id=\"ai-settings\">{}\
<h3>Default tool settings</h3><p class=\"muted\">Apply to tools discovered from now on, on servers that do not set their own.</p>{}{}\
<h3>Discovery</h3>{}{}\
<h3>AI clients</h3>{}{}{}{}<fieldset><legend>Allowed client types (none ticked: all)</legend>{types}</fieldset>\
<h3>Audit</h3>{}{}\
<div class=\"actions\"><button type=\"submit\">Save AI Connections</button></div></form>",
        ui::csrf(v),
        checkbox("Require tool approval (new tools start pending review)", "require_tool_approval", flag("requireToolApproval")),
        ui::select("Default tool classification", "default_classification", &class_opts, text(&s, "defaultToolClassification")),
        checkbox("Rediscover tools on a schedule", "auto_discovery", flag("autoDiscoveryEnabled")),
        number("Discovery interval (hours)", "discovery_hours", &(secs(text(&s, "discoveryInterval")) / 3600).to_string(), ""),
        number("Hide an AI client after this many days without use (0: never)", "hide_days", &days("inactivityHideAfter"), "step=\"any\""),
        number("Close it (its tokens stop working) after days (0: never)", "close_days", &days("inactivityCloseAfter"), "step=\"any\""),
        number("Delete it after days (0: never)", "delete_days", &days("retentionDeleteAfter"), "step=\"any\""),
        number("Access token lifetime (minutes, 1 to 1440; empty: 60)", "token_minutes", &token_minutes, "max=\"1440\""),
        ui::select(
            "Audit detail",
            "audit_verbosity",
            &[
                ("AUDIT_VERBOSITY_MINIMAL".into(), "Minimal".into()),
                ("AUDIT_VERBOSITY_STANDARD".into(), "Standard".into()),
                ("AUDIT_VERBOSITY_FULL".into(), "Full".into()),
            ],
            text(&s, "auditVerbosity"),
        ),
        checkbox("Show users the tools they could request", "surface_requestable", flag("surfaceRequestableTools")),
    ));
    out.push_str("<h3>History</h3>");
    match w
        .api
        .get(v, "/api/v1/settings/ai-governance/history?page_size=10")
        .await
    {
        Err(e) => out.push_str(&ui::notice("error", &e.message)),
        Ok(h) => {
            let actors: Vec<&str> = list(&h, "list")
                .iter()
                .map(|e| text(e, "metadata.actor.userId"))
                .collect();
            let names = super::ai::user_labels(w, v, &actors).await;
            let rows: Vec<Vec<String>> = list(&h, "list")
                .iter()
                .map(|e| {
                    let snap = e.get("snapshot").unwrap_or(&Value::Null);
                    let yes = |k: &str| {
                        if snap.get(k).and_then(Value::as_bool) == Some(true) {
                            "yes"
                        } else {
                            "no"
                        }
                    };
                    vec![
                        ui::when(text(e, "metadata.createdAt")),
                        esc(names
                            .get(text(e, "metadata.actor.userId"))
                            .map(String::as_str)
                            .unwrap_or(text(e, "metadata.actor.userId"))),
                        yes("enabled").into(),
                        yes("requireToolApproval").into(),
                        esc(&super_class(text(snap, "defaultToolClassification"))),
                    ]
                })
                .collect();
            out.push_str(&ui::table(
                "ai-settings-history",
                &[
                    "When",
                    "Changed by",
                    "MCP traffic on",
                    "Require tool approval",
                    "Default classification",
                ],
                &rows,
                "The defaults were never changed.",
            ));
        }
    }
    out.push_str("</section>");
    out
}

fn super_class(c: &str) -> String {
    super::ai::classifications()
        .into_iter()
        .find(|(k, _)| k == c)
        .map(|(_, l)| l)
        .unwrap_or_else(|| "From annotations".into())
}

/// Whole seconds as a protojson duration.
fn dur(secs: f64) -> String {
    format!("{}s", secs.max(0.0).round() as i64)
}

fn parse_num(f: &Form, k: &str, label: &str) -> Result<f64, Refusal> {
    let raw = f.get(k);
    if raw.is_empty() {
        return Ok(0.0);
    }
    raw.parse::<f64>()
        .ok()
        .filter(|n| *n >= 0.0)
        .ok_or_else(|| Refusal {
            status: 400,
            message: format!("{label}: `{raw}` is not a number of zero or more"),
        })
}

/// `POST /admin/settings/ai`.
pub async fn save_ai(State(w): State<Web>, v: Viewer, f: Form) -> Response {
    let nums = (|| -> Result<_, Refusal> {
        Ok((
            parse_num(&f, "discovery_hours", "Discovery interval")?,
            parse_num(&f, "hide_days", "Hide after")?,
            parse_num(&f, "close_days", "Close after")?,
            parse_num(&f, "delete_days", "Delete after")?,
        ))
    })();
    let (hours, hide, close, delete) = match nums {
        Ok(n) => n,
        Err(e) => return refused(&v, &e, "ai-connections"),
    };
    let mut patch = json!({
        "requireToolApproval": f.checked("require_tool_approval"),
        "defaultToolClassification": f.get("default_classification"),
        "autoDiscoveryEnabled": f.checked("auto_discovery"),
        "discoveryInterval": dur(hours * 3600.0),
        "auditVerbosity": f.get("audit_verbosity"),
        "surfaceRequestableTools": f.checked("surface_requestable"),
        "allowedClientTypes": f.all("client_type"),
        "defaultClientLifecycle": {
            "inactivityHideAfter": dur(hide * 86_400.0),
            "inactivityCloseAfter": dur(close * 86_400.0),
            "retentionDeleteAfter": dur(delete * 86_400.0),
        },
    });
    let mut mask = "requireToolApproval,defaultToolClassification,autoDiscoveryEnabled,discoveryInterval,auditVerbosity,surfaceRequestableTools,allowedClientTypes,defaultClientLifecycle".to_string();
    if !f.get("token_minutes").is_empty() {
        match parse_num(&f, "token_minutes", "Access token lifetime") {
            Ok(m) => {
                patch["chamberlainAccessTokenLifetime"] = json!(dur(m * 60.0));
                mask.push_str(",chamberlainAccessTokenLifetime");
            }
            Err(e) => return refused(&v, &e, "ai-connections"),
        }
    }
    match w
        .api
        .post(
            &v,
            "/api/v1/settings/ai-governance",
            json!({"aiGovernanceSettings": patch, "updateMask": mask}),
        )
        .await
    {
        Ok(_) => back("ai-connections", "saved"),
        Err(e) => refused(&v, &e, "ai-connections"),
    }
}

async fn notifications_section(w: &Web, v: &Viewer) -> String {
    let mut out = String::from("<section id=\"notifications\"><h2>Notifications</h2>");
    // Email.
    match w.api.get(v, "/api/v1/settings/email-provider").await {
        Err(e) => out.push_str(&ui::notice("error", &e.message)),
        Ok(r) => {
            let p = r.get("emailProvider").cloned().unwrap_or(Value::Null);
            let smtp = p.get("chamberlainSmtp").cloned().unwrap_or(Value::Null);
            let port = smtp.get("port").and_then(Value::as_u64).unwrap_or(0);
            let timeout = smtp
                .get("timeoutSeconds")
                .and_then(Value::as_u64)
                .unwrap_or(0);
            let pw_set = smtp.get("passwordSet").and_then(Value::as_bool) == Some(true);
            out.push_str(&format!(
                "<form method=\"post\" action=\"/admin/settings/email\" class=\"card\" id=\"email-settings\"><h3>Email (SMTP)</h3>{}{}{}{}{}{}{}{}<p>Password: <span id=\"smtp-password-state\">{}</span> <span class=\"muted\">(write-only: leave empty to keep it)</span></p>{}{}{}<div class=\"actions\"><button type=\"submit\">Save email settings</button></div></form>",
                ui::csrf(v),
                ui::text_field("From address", "from_address", text(&p, "fromAddress"), "type=\"email\""),
                ui::text_field("From name", "from_name", text(&p, "fromName"), ""),
                ui::text_field("Reply-to address", "reply_to", text(&p, "replyToAddress"), "type=\"email\""),
                ui::text_field("SMTP host", "host", text(&smtp, "host"), ""),
                number("Port (0: the usual port for the security mode)", "port", &port.to_string(), "max=\"65535\""),
                ui::select(
                    "Security",
                    "security",
                    &[
                        ("STARTTLS".into(), "STARTTLS (port 587)".into()),
                        ("TLS".into(), "TLS (port 465)".into()),
                        ("NONE".into(), "None (local relay only)".into()),
                    ],
                    text(&smtp, "security"),
                ),
                ui::text_field("Username", "username", text(&smtp, "username"), "autocomplete=\"off\""),
                set_badge(pw_set),
                ui::text_field("Password", "password", "", "type=\"password\" autocomplete=\"new-password\""),
                number("Timeout per command (seconds, 0: 30)", "timeout", &timeout.to_string(), ""),
                ui::text_area("CA certificate (PEM, for a relay with a private CA)", "ca_pem", text(&smtp, "caCertificatePem"), ""),
            ));
            out.push_str(&format!(
                "<form method=\"post\" action=\"/admin/settings/email/test\" class=\"card\" id=\"email-test\">{}{}<div class=\"actions\"><button type=\"submit\" class=\"secondary\">Send a test email</button></div></form>",
                ui::csrf(v),
                ui::text_field("Test recipient", "to", &v.user.email, "type=\"email\" required"),
            ));
        }
    }
    // Slack.
    match w.api.get(v, "/api/v1/settings/slack").await {
        Err(e) => out.push_str(&ui::notice("error", &e.message)),
        Ok(r) => {
            let s = r.get("slack").cloned().unwrap_or(Value::Null);
            let flag = |k: &str| s.get(k).and_then(Value::as_bool) == Some(true);
            out.push_str(&format!(
                "<form method=\"post\" action=\"/admin/settings/slack\" class=\"card\" id=\"slack-settings\"><h3>Slack</h3>{}{}{}{}{}\
<p>Bot token: <span id=\"slack-bot-state\">{}</span> · Signing secret: <span id=\"slack-secret-state\">{}</span> <span class=\"muted\">(write-only: leave empty to keep them)</span></p>{}{}\
<p class=\"muted\">In the Slack app, set the slash command's Request URL to <code>{}</code> and Interactivity's to <code>{}</code>.</p>\
<div class=\"actions\"><button type=\"submit\">Save Slack settings</button></div></form>",
                ui::csrf(v),
                checkbox("Send notifications to Slack and answer its commands", "enabled", flag("enabled")),
                ui::text_field("Slash command", "command_name", text(&s, "commandName"), "placeholder=\"/chamberlain\""),
                ui::text_field("Workspace (team) ID (empty: any)", "team_id", text(&s, "teamId"), ""),
                ui::text_field("Web API base URL (empty: https://slack.com/api)", "api_base_url", text(&s, "apiBaseUrl"), "type=\"url\""),
                set_badge(flag("botTokenSet")),
                set_badge(flag("signingSecretSet")),
                ui::text_field("Bot token (xoxb-…)", "bot_token", "", "type=\"password\" autocomplete=\"new-password\""),
                ui::text_field("Signing secret", "signing_secret", "", "type=\"password\" autocomplete=\"new-password\""),
                esc(text(&s, "slashCommandUrl")),
                esc(text(&s, "interactivityUrl")),
            ));
            out.push_str(&format!(
                "<div class=\"actions\">{}</div>",
                ui::action_button(
                    v,
                    "/admin/settings/slack/test",
                    "Test the Slack bot token",
                    "secondary",
                    ""
                )
            ));
        }
    }
    out.push_str("</section>");
    out
}

/// `POST /admin/settings/email`.
pub async fn save_email(State(w): State<Web>, v: Viewer, f: Form) -> Response {
    let num = |k: &str| f.get(k).parse::<u32>().unwrap_or(0);
    let smtp = if f.get("host").is_empty() {
        Value::Null
    } else {
        json!({
            "host": f.get("host"),
            "port": num("port"),
            "security": f.get("security"),
            "username": f.get("username"),
            "password": f.get("password"),
            "timeoutSeconds": num("timeout"),
            "caCertificatePem": f.get("ca_pem"),
        })
    };
    let body = json!({
        "emailProvider": {
            "fromAddress": f.get("from_address"),
            "fromName": f.get("from_name"),
            "replyToAddress": f.get("reply_to"),
            "chamberlainSmtp": smtp,
        },
        "updateMask": "fromAddress,fromName,replyToAddress,chamberlainSmtp",
    });
    match w
        .api
        .post(&v, "/api/v1/settings/email-provider", body)
        .await
    {
        Ok(_) => back("notifications", "saved"),
        Err(e) => refused(&v, &e, "notifications"),
    }
}

/// `POST /admin/settings/email/test`.
pub async fn test_email(State(w): State<Web>, v: Viewer, f: Form) -> Response {
    match w
        .api
        .post(
            &v,
            "/api/v1/settings/email-provider/test",
            json!({"testRecipientEmail": f.get("to")}),
        )
        .await
    {
        Ok(_) => back("notifications", "tested"),
        Err(e) => refused(&v, &e, "notifications"),
    }
}

/// `POST /admin/settings/slack`.
pub async fn save_slack(State(w): State<Web>, v: Viewer, f: Form) -> Response {
    let body = json!({"slack": {
        "enabled": f.checked("enabled"),
        "commandName": f.get("command_name"),
        "teamId": f.get("team_id"),
        "apiBaseUrl": f.get("api_base_url"),
        "botToken": f.get("bot_token"),
        "signingSecret": f.get("signing_secret"),
    }});
    match w.api.post(&v, "/api/v1/settings/slack", body).await {
        Ok(_) => back("notifications", "saved"),
        Err(e) => refused(&v, &e, "notifications"),
    }
}

/// `POST /admin/settings/slack/test`.
pub async fn test_slack(State(w): State<Web>, v: Viewer, _f: Form) -> Response {
    match w
        .api
        .post(&v, "/api/v1/settings/slack/test", json!({}))
        .await
    {
        Ok(r) => Page::new(
            Section::Settings,
            "Settings",
            format!(
                "{}<p><a href=\"/admin/settings#notifications\">Back</a></p>",
                ui::notice(
                    "ok",
                    &format!(
                        "The bot token works: workspace {} ({}).",
                        text(&r, "team"),
                        text(&r, "teamId")
                    )
                )
            ),
        )
        .render(&v),
        Err(e) => refused(&v, &e, "notifications"),
    }
}

/// The single sign-on form's values: the API's settings, or a post it refused (the client
/// secret is never kept).
#[derive(Default)]
struct SsoDraft {
    enabled: bool,
    issuer_url: String,
    client_id: String,
    /// Space-separated.
    scopes: String,
    display_name: String,
    /// Comma-separated.
    domains: String,
    token_auth_method: String,
}

impl SsoDraft {
    fn from_api(s: &Value) -> Self {
        let joined = |k: &str, sep: &str| {
            list(s, k)
                .iter()
                .filter_map(Value::as_str)
                .collect::<Vec<_>>()
                .join(sep)
        };
        Self {
            enabled: s.get("enabled").and_then(Value::as_bool) == Some(true),
            issuer_url: text(s, "issuerUrl").into(),
            client_id: text(s, "clientId").into(),
            scopes: joined("scopes", " "),
            display_name: text(s, "displayName").into(),
            domains: joined("allowedEmailDomains", ", "),
            token_auth_method: text(s, "tokenEndpointAuthMethod").into(),
        }
    }

    fn from_form(f: &Form) -> Self {
        Self {
            enabled: f.checked("sso_enabled"),
            issuer_url: f.get("sso_issuer_url").into(),
            client_id: f.get("sso_client_id").into(),
            scopes: f.get("sso_scopes").into(),
            display_name: f.get("sso_display_name").into(),
            domains: f.get("sso_domains").into(),
            token_auth_method: f.get("sso_token_auth_method").into(),
        }
    }
}

/// Words of a list typed with commas, spaces or new lines.
fn words(s: &str) -> Vec<&str> {
    s.split(|c: char| c == ',' || c.is_whitespace())
        .filter(|w| !w.is_empty())
        .collect()
}

/// Single sign-on (`/api/v1/settings/sso`): the redirect URI to register at the provider, where
/// the settings in force come from, and the form (the client secret write-only).
async fn sso_section(w: &Web, v: &Viewer, refused: Option<(SsoDraft, Refusal)>) -> String {
    let mut out = String::from("<section id=\"sso\"><h2>Single sign-on</h2>");
    let s = match w.api.get(v, "/api/v1/settings/sso").await {
        Ok(r) => r.get("sso").cloned().unwrap_or(Value::Null),
        Err(e) => return out + &ui::notice("error", &e.message) + "</section>",
    };
    let (d, problem) = match refused {
        Some((d, e)) => (d, ui::notice("error", &e.message)),
        None => (SsoDraft::from_api(&s), String::new()),
    };
    let source = match text(&s, "source") {
        "api" => format!(
            "Saved here (or through <code>/api/v1/settings/sso</code>){}; the config file's <code>sso_*</code> settings are not used.",
            match text(&s, "updatedAt") {
                "" => String::new(),
                t => format!(" on {}", ui::when(t)),
            }
        ),
        "config" => "From the config file (<code>sso_*</code> keys, <code>--sso-*</code> flags or <code>CHAMBERLAIN_SSO_*</code> variables). Saving here takes over from it for good; a client secret given only in the file is kept when you leave the field empty.".into(),
        _ => "Not set up: people sign in with their email address and password only.".into(),
    };
    let methods = [
        (
            "".to_string(),
            "As the provider advertises (basic first)".to_string(),
        ),
        (
            "client_secret_basic".into(),
            "client_secret_basic (HTTP Basic)".into(),
        ),
        (
            "client_secret_post".into(),
            "client_secret_post (in the form)".into(),
        ),
    ];
    out.push_str(&format!(
        "<form method=\"post\" action=\"/admin/settings/sso#sso\" class=\"card\" id=\"sso-settings\">{problem}{}\
<p class=\"muted\">Sign-in with any OpenID Connect provider (Okta, Microsoft Entra ID, Google, Keycloak, …): the sign-in page then offers <strong>Sign in with</strong> the button name below. People are matched to Chamberlain users by their verified email address; single sign-on creates no users.</p>\
<p id=\"sso-source\">Settings in force: {} {source}</p>\
<label for=\"sso-redirect-uri\">Redirect URI to register at the provider</label><div class=\"copy\"><input id=\"sso-redirect-uri\" value=\"{}\" readonly><button type=\"button\" data-copy=\"sso-redirect-uri\">Copy</button></div>\
{}{}{}\
<p>Client secret: <span id=\"sso-secret-state\">{}</span> <span class=\"muted\">(write-only: leave empty to keep it)</span></p>{}\
{}{}{}{}{}\
<div class=\"actions\"><button type=\"submit\">Save single sign-on</button></div></form>",
        ui::csrf(v),
        ui::badge(
            if text(&s, "source") == "none" { "warn" } else { "ok" },
            match text(&s, "source") {
                "api" => "saved here",
                "config" => "config file",
                _ => "none",
            }
        ),
        esc(text(&s, "redirectUri")),
        checkbox("Offer single sign-on on the sign-in page", "sso_enabled", d.enabled),
        ui::text_field("Issuer URL", "sso_issuer_url", &d.issuer_url, "type=\"url\" placeholder=\"https://id.example.com\""),
        ui::text_field("Client ID", "sso_client_id", &d.client_id, "autocomplete=\"off\""),
        set_badge(s.get("clientSecretSet").and_then(Value::as_bool) == Some(true)),
        ui::text_field("Client secret", "sso_client_secret", "", "type=\"password\" autocomplete=\"new-password\""),
        ui::text_field("Scopes (space-separated; empty: openid email profile)", "sso_scopes", &d.scopes, ""),
        ui::text_field("Button name (\"Sign in with …\")", "sso_display_name", &d.display_name, "maxlength=\"64\""),
        ui::text_field("Allowed email domains (comma-separated; empty: any)", "sso_domains", &d.domains, "placeholder=\"example.com\""),
        ui::select("Token endpoint authentication", "sso_token_auth_method", &methods, &d.token_auth_method),
        if v.is_super_admin() {
            ""
        } else {
            "<p class=\"muted\">Only a Super Admin can change these settings.</p>"
        },
    ));
    out.push_str("</section>");
    out
}

/// `POST /admin/settings/sso`: replaces the settings (an empty client secret keeps the stored
/// one); a refusal shows the form again with the input, except the secret.
pub async fn save_sso(State(w): State<Web>, v: Viewer, f: Form) -> Response {
    let d = SsoDraft::from_form(&f);
    let body = json!({"sso": {
        "enabled": d.enabled,
        "issuerUrl": d.issuer_url,
        "clientId": d.client_id,
        "clientSecret": f.get("sso_client_secret"),
        "scopes": words(&d.scopes),
        "displayName": d.display_name,
        "allowedEmailDomains": words(&d.domains),
        "tokenEndpointAuthMethod": d.token_auth_method,
    }});
    match w.api.post(&v, "/api/v1/settings/sso", body).await {
        Ok(_) => back("sso", "saved"),
        Err(e) => render(&w, &v, "", Some((d, e))).await,
    }
}
