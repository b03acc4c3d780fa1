//! Slack: the integration's settings, the Web API client, request signatures, and the DMs
//! notifications become.
//!
//! Everything follows Slack's public API: Web API methods are called at
//! `<apiBaseUrl>/<method>` with the bot token as a bearer token and answer
//! `{"ok": false, "error": "<code>"}` on failure (HTTP 429 with `Retry-After` when rate
//! limited); requests from Slack carry `X-Slack-Request-Timestamp` and
//! `X-Slack-Signature: v0=<hex HMAC-SHA256 of "v0:<timestamp>:<body>" keyed by the signing
//! secret>`. The base URL is configurable so tests (and proxies) can stand in for Slack.

use crate::message::{DeliveryError, NotificationKind, Outgoing};
use chamberlain_auth::crypto::SecretBox;
use chamberlain_model::Timestamp;
use chamberlain_outbound::{Guard, OutboundError};
use chamberlain_store::repo::ai_governance::TENANT;
use chamberlain_store::repo::{settings, slack as repo};
use chamberlain_store::{AuditCtx, Store, StoreError, Tx};
use hmac::{Hmac, Mac};
use serde::{Deserialize, Serialize};
use serde_json::{json, Value};
use sha2::Sha256;
use std::time::Duration;

/// The settings kind of the Slack integration (`app_settings`, tenant row).
pub const KIND: &str = "slack";
/// Slack's Web API.
pub const DEFAULT_API_BASE_URL: &str = "https://slack.com/api";
/// The slash command's default name.
pub const DEFAULT_COMMAND: &str = "/chamberlain";
/// How far a signed request's timestamp may be from now (Slack's recommendation).
pub const SIGNATURE_WINDOW_SECS: i64 = 5 * 60;
/// Action ids of the buttons on an approver's DM; the button's value is the task id.
pub const ACTION_APPROVE: &str = "chamberlain.task.approve";
pub const ACTION_DENY: &str = "chamberlain.task.deny";
pub const ACTION_REASSIGN: &str = "chamberlain.task.reassign";
/// Action id of the link button to the web app (Slack reports its clicks too; nothing to do).
pub const ACTION_OPEN: &str = "chamberlain.open";
/// Time budget of one Web API call.
const CALL_TIMEOUT: Duration = Duration::from_secs(10);
const BOT_TOKEN_CONTEXT: &str = "slack:bot-token";
const SIGNING_SECRET_CONTEXT: &str = "slack:signing-secret";

/// `chamberlain.settings.v1.SlackIntegration`: the Slack integration as the API shows it.
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase", default, deny_unknown_fields)]
pub struct SlackSettingsWire {
    /// Whether notifications go to Slack and Slack's requests are answered.
    pub enabled: bool,
    /// The Web API base URL (default `https://slack.com/api`).
    pub api_base_url: String,
    /// The slash command as configured in the Slack app (default `/chamberlain`).
    pub command_name: String,
    /// Only requests from this workspace are accepted (empty: any).
    pub team_id: String,
    /// Write-only: the bot token (`xoxb-…`); empty on update keeps the stored one.
    #[serde(skip_serializing_if = "String::is_empty")]
    pub bot_token: String,
    /// Read-only.
    pub bot_token_set: bool,
    /// Write-only: the app's signing secret; empty on update keeps the stored one.
    #[serde(skip_serializing_if = "String::is_empty")]
    pub signing_secret: String,
    /// Read-only.
    pub signing_secret_set: bool,
    /// Read-only: the Request URL to enter for the slash command in the Slack app.
    pub slash_command_url: String,
    /// Read-only: the Request URL to enter for Interactivity in the Slack app.
    pub interactivity_url: String,
    pub updated_at: Option<Timestamp>,
}

/// The integration as stored: the plain settings and the sealed secrets.
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase", default)]
pub struct StoredSlack {
    pub enabled: bool,
    pub api_base_url: String,
    pub command_name: String,
    pub team_id: String,
    pub sealed_bot_token: String,
    pub sealed_signing_secret: String,
    pub updated_at: Option<Timestamp>,
}

/// The integration, secrets opened, ready to use.
#[derive(Clone, Debug)]
pub struct SlackSettings {
    pub api_base_url: String,
    pub command_name: String,
    pub team_id: String,
    pub bot_token: String,
    pub signing_secret: String,
}

impl StoredSlack {
    /// What the API returns (secrets never).
    pub fn to_wire(&self, public_url: &str) -> SlackSettingsWire {
        let base = public_url.trim_end_matches('/');
        SlackSettingsWire {
            enabled: self.enabled,
            api_base_url: if self.api_base_url.is_empty() {
                DEFAULT_API_BASE_URL.into()
            } else {
                self.api_base_url.clone()
            },
            command_name: if self.command_name.is_empty() {
                DEFAULT_COMMAND.into()
            } else {
                self.command_name.clone()
            },
            team_id: self.team_id.clone(),
            bot_token: String::new(),
            bot_token_set: !self.sealed_bot_token.is_empty(),
            signing_secret: String::new(),
            signing_secret_set: !self.sealed_signing_secret.is_empty(),
            slash_command_url: format!("{base}/slack/commands"),
            interactivity_url: format!("{base}/slack/interactivity"),
            updated_at: self.updated_at,
        }
    }

    /// Applies an update from the API: checked, secrets sealed (empty ones keep the stored).
    pub fn apply(&mut self, w: &SlackSettingsWire, secrets: &SecretBox) -> Result<(), String> {
        let base = w.api_base_url.trim();
        if !base.is_empty() {
            let url = reqwest::Url::parse(base).map_err(|e| {
                format!("`apiBaseUrl` `{base}` is not a URL ({e}); use e.g. https://slack.com/api")
            })?;
            if !matches!(url.scheme(), "https" | "http")
                || url.query().is_some()
                || url.fragment().is_some()
                || !url.username().is_empty()
            {
                return Err(format!(
                    "`apiBaseUrl` `{base}` must be an http(s) URL without credentials, query or fragment, e.g. https://slack.com/api"
                ));
            }
        }
        let command = w.command_name.trim();
        if !command.is_empty() {
            let name = command.strip_prefix('/').unwrap_or("");
            if name.is_empty()
                || name.len() > 31
                || !name
                    .chars()
                    .all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || c == '-' || c == '_')
            {
                return Err(format!(
                    "`commandName` `{command}` must be a slash command such as /chamberlain: a slash and 1-31 lower-case letters, digits, - or _"
                ));
            }
        }
        let team = w.team_id.trim();
        let workspace_id = team.starts_with('T')
            && team.len() <= 20
            && team
                .chars()
                .all(|c| c.is_ascii_uppercase() || c.is_ascii_digit());
        if !team.is_empty() && !workspace_id {
            return Err(format!(
                "`teamId` `{team}` is not a Slack workspace id (T followed by upper-case letters and digits); leave it empty to accept any workspace"
            ));
        }
        if !w.bot_token.is_empty()
            && (!w.bot_token.starts_with("xoxb-") || w.bot_token.chars().any(char::is_whitespace))
        {
            return Err(
                "`botToken` must be the app's bot token (it starts with `xoxb-`; OAuth & Permissions page of the Slack app)"
                    .into(),
            );
        }
        if !w.signing_secret.is_empty()
            && (w.signing_secret.len() < 16 || w.signing_secret.chars().any(char::is_whitespace))
        {
            return Err(
                "`signingSecret` must be the app's signing secret (Basic Information page of the Slack app)"
                    .into(),
            );
        }
        self.enabled = w.enabled;
        self.api_base_url = base.trim_end_matches('/').to_string();
        self.command_name = command.to_string();
        self.team_id = team.to_string();
        if !w.bot_token.is_empty() {
            self.sealed_bot_token = secrets.seal(w.bot_token.as_bytes(), BOT_TOKEN_CONTEXT);
        }
        if !w.signing_secret.is_empty() {
            self.sealed_signing_secret =
                secrets.seal(w.signing_secret.as_bytes(), SIGNING_SECRET_CONTEXT);
        }
        if self.enabled
            && (self.sealed_bot_token.is_empty() || self.sealed_signing_secret.is_empty())
        {
            return Err(
                "the Slack integration cannot be enabled without `botToken` and `signingSecret`"
                    .into(),
            );
        }
        Ok(())
    }

    /// The settings with their secrets opened, when enabled.
    pub fn open(&self, secrets: &SecretBox) -> Result<Option<SlackSettings>, String> {
        if !self.enabled {
            return Ok(None);
        }
        let open = |sealed: &str, ctx: &str, what: &str| -> Result<String, String> {
            let plain = secrets
                .open(sealed, ctx)
                .map_err(|e| format!("the stored Slack {what} cannot be opened: {e}"))?;
            String::from_utf8(plain).map_err(|_| format!("the stored Slack {what} is not text"))
        };
        let w = self.to_wire("");
        Ok(Some(SlackSettings {
            api_base_url: w.api_base_url,
            command_name: w.command_name,
            team_id: self.team_id.clone(),
            bot_token: open(&self.sealed_bot_token, BOT_TOKEN_CONTEXT, "bot token")?,
            signing_secret: open(
                &self.sealed_signing_secret,
                SIGNING_SECRET_CONTEXT,
                "signing secret",
            )?,
        }))
    }
}

/// The saved integration, if any.
pub async fn load(store: &Store) -> Result<Option<StoredSlack>, StoreError> {
    settings::get(store, TENANT, KIND).await
}

/// Saves the integration (recorded in the system log with the secrets sealed).
pub async fn save(tx: &mut Tx<'_>, s: &StoredSlack) -> Result<(), StoreError> {
    settings::put(tx, TENANT, KIND, s).await
}

/// The settings in force: `None` when Slack is not set up or disabled.
pub async fn effective(
    store: &Store,
    secrets: &SecretBox,
) -> Result<Option<SlackSettings>, String> {
    match load(store).await.map_err(|e| e.to_string())? {
        Some(s) => s.open(secrets),
        None => Ok(None),
    }
}

// ---------------------------------------------------------------------------------------------
// Request signatures

type HmacSha256 = Hmac<Sha256>;

/// `v0=<hex>`: the signature Slack puts on a request with this timestamp and body.
pub fn sign(signing_secret: &str, timestamp: &str, body: &[u8]) -> String {
    let mut mac = HmacSha256::new_from_slice(signing_secret.as_bytes()).expect("any key length");
    mac.update(b"v0:");
    mac.update(timestamp.as_bytes());
    mac.update(b":");
    mac.update(body);
    format!("v0={}", hex::encode(mac.finalize().into_bytes()))
}

/// Why a request claiming to come from Slack was refused.
#[derive(Debug, PartialEq, Eq, thiserror::Error)]
pub enum SignatureError {
    #[error(
        "the request is not signed: X-Slack-Request-Timestamp and X-Slack-Signature are required"
    )]
    Missing,
    #[error("X-Slack-Request-Timestamp `{0}` is not a Unix time in seconds")]
    BadTimestamp(String),
    #[error("the request's timestamp is {0} seconds away from now; requests older (or newer) than 5 minutes are refused as possible replays")]
    Stale(i64),
    #[error(
        "the request's signature does not match: check the signing secret in the Slack settings"
    )]
    Mismatch,
}

/// Checks a request's signature and timestamp window (`now` in Unix seconds). Constant-time.
pub fn verify(
    signing_secret: &str,
    timestamp: Option<&str>,
    signature: Option<&str>,
    body: &[u8],
    now: i64,
) -> Result<(), SignatureError> {
    let (Some(ts), Some(sig)) = (timestamp, signature) else {
        return Err(SignatureError::Missing);
    };
    let at: i64 = ts
        .trim()
        .parse()
        .map_err(|_| SignatureError::BadTimestamp(ts.chars().take(40).collect()))?;
    let skew = (now - at).abs();
    if skew > SIGNATURE_WINDOW_SECS {
        return Err(SignatureError::Stale(now - at));
    }
    let Some(given) = sig
        .trim()
        .strip_prefix("v0=")
        .and_then(|h| hex::decode(h).ok())
    else {
        return Err(SignatureError::Mismatch);
    };
    let mut mac = HmacSha256::new_from_slice(signing_secret.as_bytes()).expect("any key length");
    mac.update(b"v0:");
    mac.update(ts.trim().as_bytes());
    mac.update(b":");
    mac.update(body);
    mac.verify_slice(&given)
        .map_err(|_| SignatureError::Mismatch)
}

/// Remembers a verified request's signature; false when the same signed request was already
/// received (a replay within the window).
pub async fn first_sighting(store: &Store, signature: &str) -> Result<bool, StoreError> {
    use sha2::Digest;
    let digest = hex::encode(Sha256::digest(signature.trim().as_bytes()));
    let now = Timestamp::now();
    let forget = Timestamp::from_micros(now.as_micros() - 2 * SIGNATURE_WINDOW_SECS * 1_000_000);
    repo::first_sighting(store, &digest, now, forget).await
}

// ---------------------------------------------------------------------------------------------
// The Web API client

/// A failed Web API call.
#[derive(Debug, Clone, thiserror::Error)]
pub enum SlackError {
    /// Slack answered `ok: false` with this error code.
    #[error("Slack refused `{method}`: {code}")]
    Api { method: String, code: String },
    /// Rate limited (HTTP 429), with the wait Slack asked for.
    #[error("Slack rate-limited `{method}`; retry after {retry_after:?}")]
    RateLimited {
        method: String,
        retry_after: Duration,
    },
    /// Network trouble, a timeout, a 5xx, an answer that is not Slack's.
    #[error("{0}")]
    Unavailable(String),
    /// The configured base URL is not allowed by the outbound rules.
    #[error("{0}")]
    Refused(String),
}

impl SlackError {
    /// The Slack error code, if Slack answered with one.
    pub fn code(&self) -> Option<&str> {
        match self {
            SlackError::Api { code, .. } => Some(code),
            _ => None,
        }
    }

    /// Whether trying later can help.
    pub fn retryable(&self) -> bool {
        match self {
            SlackError::Api { code, .. } => matches!(
                code.as_str(),
                "ratelimited"
                    | "internal_error"
                    | "fatal_error"
                    | "service_unavailable"
                    | "request_timeout"
            ),
            SlackError::RateLimited { .. } | SlackError::Unavailable(_) => true,
            SlackError::Refused(_) => false,
        }
    }
}

impl From<SlackError> for DeliveryError {
    fn from(e: SlackError) -> Self {
        if e.retryable() {
            DeliveryError::Retryable(e.to_string())
        } else {
            DeliveryError::Permanent(e.to_string())
        }
    }
}

/// A Slack user as `users.info` / `users.lookupByEmail` report it.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct SlackUser {
    pub id: String,
    pub team_id: String,
    pub email: String,
    /// Slack has confirmed the user owns the email.
    pub email_confirmed: bool,
    pub deleted: bool,
    pub is_bot: bool,
}

fn slack_user(v: &Value) -> SlackUser {
    let s = |p: &str| {
        v.pointer(p)
            .and_then(Value::as_str)
            .unwrap_or("")
            .to_string()
    };
    SlackUser {
        id: s("/id"),
        team_id: s("/team_id"),
        email: s("/profile/email"),
        // Absent on some plans' answers to lookupByEmail: that method matches confirmed
        // addresses only, so absence is not a refusal.
        email_confirmed: v
            .get("is_email_confirmed")
            .and_then(Value::as_bool)
            .unwrap_or(true),
        deleted: v.get("deleted").and_then(Value::as_bool).unwrap_or(false),
        is_bot: v.get("is_bot").and_then(Value::as_bool).unwrap_or(false),
    }
}

/// A Web API client for one bot token, through the outbound guard.
pub struct SlackApi {
    base: String,
    token: String,
    http: reqwest::Client,
}

impl SlackApi {
    /// Checks the base URL against the outbound rules and prepares the client.
    pub async fn new(settings: &SlackSettings, guard: &Guard) -> Result<SlackApi, SlackError> {
        let (url, http) = guard
            .client(&settings.api_base_url, CALL_TIMEOUT)
            .await
            .map_err(|e| match e {
                OutboundError::Refused(m) => SlackError::Refused(m),
                other => SlackError::Unavailable(other.to_string()),
            })?;
        Ok(SlackApi {
            base: url.as_str().trim_end_matches('/').to_string(),
            token: settings.bot_token.clone(),
            http,
        })
    }

    async fn finish(&self, method: &str, resp: reqwest::Response) -> Result<Value, SlackError> {
        let status = resp.status();
        if status.as_u16() == 429 {
            let secs = resp
                .headers()
                .get("retry-after")
                .and_then(|v| v.to_str().ok())
                .and_then(|v| v.trim().parse::<u64>().ok())
                .unwrap_or(30);
            return Err(SlackError::RateLimited {
                method: method.into(),
                retry_after: Duration::from_secs(secs),
            });
        }
        let body = chamberlain_outbound::read_capped(resp, 1 << 20, "Slack answer")
            .await
            .map_err(|e| {
                SlackError::Unavailable(format!("reading Slack's answer to `{method}`: {e}"))
            })?;
        let v: Value = serde_json::from_slice(&body).map_err(|_| {
            SlackError::Unavailable(format!(
                "Slack's answer to `{method}` (HTTP {status}) is not JSON; check apiBaseUrl"
            ))
        })?;
        if v.get("ok").and_then(Value::as_bool) == Some(true) {
            return Ok(v);
        }
        let code = v
            .get("error")
            .and_then(Value::as_str)
            .unwrap_or(if status.is_server_error() {
                "internal_error"
            } else {
                "unknown_error"
            })
            .to_string();
        Err(SlackError::Api {
            method: method.into(),
            code,
        })
    }

    /// Calls a method that takes a JSON body.
    pub async fn call(&self, method: &str, body: &Value) -> Result<Value, SlackError> {
        let resp = self
            .http
            .post(format!("{}/{method}", self.base))
            .bearer_auth(&self.token)
            .header("content-type", "application/json; charset=utf-8")
            .body(body.to_string())
            .send()
            .await
            .map_err(|e| {
                SlackError::Unavailable(format!(
                    "calling Slack `{method}`: {}",
                    chamberlain_outbound::error_chain(&e)
                ))
            })?;
        self.finish(method, resp).await
    }

    /// Calls a method that takes form arguments (the `users.*` readers).
    pub async fn call_form(
        &self,
        method: &str,
        args: &[(&str, &str)],
    ) -> Result<Value, SlackError> {
        let resp = self
            .http
            .post(format!("{}/{method}", self.base))
            .bearer_auth(&self.token)
            .form(args)
            .send()
            .await
            .map_err(|e| {
                SlackError::Unavailable(format!(
                    "calling Slack `{method}`: {}",
                    chamberlain_outbound::error_chain(&e)
                ))
            })?;
        self.finish(method, resp).await
    }

    /// `users.info`.
    pub async fn user_info(&self, user: &str) -> Result<SlackUser, SlackError> {
        let v = self.call_form("users.info", &[("user", user)]).await?;
        Ok(slack_user(&v["user"]))
    }

    /// `users.lookupByEmail`; `None` when no Slack user has the address.
    pub async fn lookup_by_email(&self, email: &str) -> Result<Option<SlackUser>, SlackError> {
        match self
            .call_form("users.lookupByEmail", &[("email", email)])
            .await
        {
            Ok(v) => Ok(Some(slack_user(&v["user"]))),
            Err(e) if e.code() == Some("users_not_found") => Ok(None),
            Err(e) => Err(e),
        }
    }

    /// `conversations.open` with one user: the DM channel id.
    pub async fn open_dm(&self, user: &str) -> Result<String, SlackError> {
        let v = self
            .call("conversations.open", &json!({"users": user}))
            .await?;
        v.pointer("/channel/id")
            .and_then(Value::as_str)
            .map(str::to_string)
            .ok_or_else(|| {
                SlackError::Unavailable(
                    "Slack's conversations.open answer has no channel id".into(),
                )
            })
    }

    /// `chat.postMessage`: the message's `ts`.
    pub async fn post_message(
        &self,
        channel: &str,
        text: &str,
        blocks: &Value,
    ) -> Result<String, SlackError> {
        let v = self
            .call(
                "chat.postMessage",
                &json!({"channel": channel, "text": text, "blocks": blocks, "unfurl_links": false}),
            )
            .await?;
        Ok(v.get("ts")
            .and_then(Value::as_str)
            .unwrap_or("")
            .to_string())
    }

    /// `chat.update`.
    pub async fn update_message(
        &self,
        channel: &str,
        ts: &str,
        text: &str,
        blocks: &Value,
    ) -> Result<(), SlackError> {
        self.call(
            "chat.update",
            &json!({"channel": channel, "ts": ts, "text": text, "blocks": blocks}),
        )
        .await
        .map(|_| ())
    }

    /// `chat.postEphemeral`: a message only `user` sees.
    pub async fn post_ephemeral(
        &self,
        channel: &str,
        user: &str,
        text: &str,
    ) -> Result<(), SlackError> {
        self.call(
            "chat.postEphemeral",
            &json!({"channel": channel, "user": user, "text": text}),
        )
        .await
        .map(|_| ())
    }

    /// `views.open`.
    pub async fn open_view(&self, trigger_id: &str, view: &Value) -> Result<(), SlackError> {
        self.call(
            "views.open",
            &json!({"trigger_id": trigger_id, "view": view}),
        )
        .await
        .map(|_| ())
    }
}

// ---------------------------------------------------------------------------------------------
// Messages

/// Escapes text for Slack's `mrkdwn` (the three characters Slack asks to escape).
pub fn escape(text: &str) -> String {
    text.replace('&', "&amp;")
        .replace('<', "&lt;")
        .replace('>', "&gt;")
}

/// At most `max` characters, with an ellipsis when cut (Slack refuses longer block texts).
pub fn clip(text: &str, max: usize) -> String {
    if text.chars().count() <= max {
        return text.to_string();
    }
    let mut out: String = text.chars().take(max.saturating_sub(1)).collect();
    out.push('…');
    out
}

/// The blocks of a notification DM: the message, and the approve / deny / reassign buttons
/// when the recipient can act on the task from Slack, and a link to the web app.
pub fn notification_blocks(msg: &Outgoing) -> Value {
    let body = format!("*{}*\n{}", escape(&msg.subject), escape(&msg.text));
    let mut buttons = Vec::new();
    if let (true, Some(task)) = (msg.task_actions, &msg.task_id) {
        buttons.push(
            json!({"type": "button", "action_id": ACTION_APPROVE, "style": "primary",
            "text": {"type": "plain_text", "text": "Approve"}, "value": task}),
        );
        buttons.push(
            json!({"type": "button", "action_id": ACTION_DENY, "style": "danger",
            "text": {"type": "plain_text", "text": "Deny"}, "value": task}),
        );
        buttons.push(json!({"type": "button", "action_id": ACTION_REASSIGN,
            "text": {"type": "plain_text", "text": "Reassign"}, "value": task}));
    }
    if !msg.link.is_empty() {
        buttons.push(json!({"type": "button", "action_id": ACTION_OPEN,
            "text": {"type": "plain_text", "text": "Open in Chamberlain"}, "url": msg.link}));
    }
    let mut blocks =
        vec![json!({"type": "section", "text": {"type": "mrkdwn", "text": clip(&body, 3000)}})];
    if !buttons.is_empty() {
        blocks.push(
            json!({"type": "actions", "block_id": "chamberlain.actions", "elements": buttons}),
        );
    }
    Value::Array(blocks)
}

/// The blocks that replace a DM's buttons once the task was acted on from Slack.
pub fn decided_blocks(original_text: &str, outcome: &str) -> Value {
    json!([
        {"type": "section", "text": {"type": "mrkdwn", "text": clip(original_text, 3000)}},
        {"type": "context", "elements": [{"type": "mrkdwn", "text": clip(&escape(outcome), 3000)}]}
    ])
}

/// The Slack user to DM for a Chamberlain user: their link when it was made from the email
/// they still have, else a lookup by that (confirmed) email, which is then linked.
pub async fn recipient(
    api: &SlackApi,
    store: &Store,
    user_id: &str,
    email: &str,
) -> Result<String, DeliveryError> {
    if let Some(link) = repo::link_of_user(store, user_id)
        .await
        .map_err(|e| DeliveryError::Retryable(e.to_string()))?
    {
        if !email.is_empty() && link.email.eq_ignore_ascii_case(email) {
            return Ok(link.slack_user_id);
        }
    }
    if email.is_empty() {
        return Err(DeliveryError::Permanent(
            "the user has no email, so no Slack account can be matched to them".into(),
        ));
    }
    let found = api.lookup_by_email(email).await?;
    let Some(u) = found.filter(|u| !u.deleted && !u.is_bot) else {
        return Err(DeliveryError::Permanent(format!(
            "no active Slack user has the email {email}"
        )));
    };
    if !u.email_confirmed || !u.email.eq_ignore_ascii_case(email) {
        return Err(DeliveryError::Permanent(format!(
            "the Slack user with the email {email} has not confirmed it, so it is not linked"
        )));
    }
    let link = repo::SlackLink {
        team_id: u.team_id.clone(),
        slack_user_id: u.id.clone(),
        user_id: user_id.to_string(),
        email: email.to_lowercase(),
    };
    let ctx = AuditCtx::system("slack");
    chamberlain_store::write_tx!(store, &ctx, |tx| { repo::save_link(tx, &link).await })
        .map_err(|e| DeliveryError::Retryable(e.to_string()))?;
    Ok(u.id)
}

/// Delivers one notification as a DM from the bot (remembering DMs with task buttons), or,
/// for a closed task, updates the DMs that offered its buttons.
pub async fn deliver(api: &SlackApi, store: &Store, msg: &Outgoing) -> Result<(), DeliveryError> {
    let store_error = |e: StoreError| DeliveryError::Retryable(e.to_string());
    if msg.kind == NotificationKind::TaskClosed {
        let Some(task) = &msg.task_id else {
            return Ok(());
        };
        for (channel, ts) in repo::task_messages(store, task)
            .await
            .map_err(store_error)?
        {
            let outcome = format!("{} — nothing more to do here.", msg.subject);
            let title = format!("*{}*", escape(&msg.subject));
            match api
                .update_message(&channel, &ts, &outcome, &decided_blocks(&title, &outcome))
                .await
            {
                Ok(()) => {}
                // Deleted, or no longer editable: nothing left to update.
                Err(e)
                    if matches!(
                        e.code(),
                        Some(
                            "message_not_found"
                                | "cant_update_message"
                                | "channel_not_found"
                                | "edit_window_closed"
                        )
                    ) => {}
                Err(e) => return Err(e.into()),
            }
            repo::forget_task_message(store, &channel, &ts)
                .await
                .map_err(store_error)?;
        }
        return Ok(());
    }
    let user = recipient(api, store, &msg.user_id, &msg.email).await?;
    let channel = api.open_dm(&user).await?;
    let ts = api
        .post_message(
            &channel,
            &clip(&msg.subject, 3000),
            &notification_blocks(msg),
        )
        .await?;
    if let (true, Some(task)) = (msg.task_actions, &msg.task_id) {
        if !ts.is_empty() {
            repo::record_task_message(store, &channel, &ts, task, &msg.user_id)
                .await
                .map_err(store_error)?;
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn signatures_follow_slacks_documented_example() {
        // The worked example in Slack's "Verifying requests from Slack" guide.
        let secret = "8f742231b10e8888abcd99yyyzzz85a5";
        let ts = "1531420618";
        let body = b"token=xyzz0WbapA4vBCDEFasx0q6G&team_id=T1DC2JH3J&team_domain=testteamnow&channel_id=G8PSS9T3V&channel_name=foobar&user_id=U2CERLKJA&user_name=roadrunner&command=%2Fwebhook-collect&text=&response_url=https%3A%2F%2Fhooks.slack.com%2Fcommands%2FT1DC2JH3J%2F397700885554%2F96rGlfmibIGlgcZRskXaIFfN&trigger_id=398738663015.47445629121.803a0bc887a14d10d2c447fce8b6703c";
        let sig = sign(secret, ts, body);
        assert_eq!(
            sig,
            "v0=a2114d57b48eac39b9ad189dd8316235a7b4a8d21a10bd27519666489c69b503"
        );
        assert_eq!(
            verify(secret, Some(ts), Some(&sig), body, 1531420618 + 10),
            Ok(())
        );
    }

    #[test]
    fn forged_stale_and_unsigned_requests_are_refused() {
        let now = 1_700_000_000;
        let ts = now.to_string();
        let sig = sign("secret-secret-secret", &ts, b"a=1");
        assert_eq!(
            verify("another-secret-xyz", Some(&ts), Some(&sig), b"a=1", now),
            Err(SignatureError::Mismatch)
        );
        assert_eq!(
            verify("secret-secret-secret", Some(&ts), Some(&sig), b"a=2", now),
            Err(SignatureError::Mismatch)
        );
        assert_eq!(
            verify(
                "secret-secret-secret",
                Some(&ts),
                Some(&sig),
                b"a=1",
                now + 301
            ),
            Err(SignatureError::Stale(301))
        );
        assert_eq!(
            verify("secret-secret-secret", None, Some(&sig), b"a=1", now),
            Err(SignatureError::Missing)
        );
        assert_eq!(
            verify(
                "secret-secret-secret",
                Some("soon"),
                Some(&sig),
                b"a=1",
                now
            ),
            Err(SignatureError::BadTimestamp("soon".into()))
        );
        assert_eq!(
            verify(
                "secret-secret-secret",
                Some(&ts),
                Some("v0=zz"),
                b"a=1",
                now
            ),
            Err(SignatureError::Mismatch)
        );
    }

    #[test]
    fn settings_are_checked_and_secrets_sealed() {
        let secrets = SecretBox::new(&[7u8; 32]);
        let mut s = StoredSlack::default();
        let mut w = SlackSettingsWire {
            enabled: true,
            ..Default::default()
        };
        assert!(s.apply(&w, &secrets).unwrap_err().contains("botToken"));
        w.bot_token = "xoxp-user-token".into();
        assert!(s.apply(&w, &secrets).unwrap_err().contains("xoxb-"));
        w.bot_token = "xoxb-1-2-abc".into();
        w.signing_secret = "0123456789abcdef0123".into();
        w.command_name = "chamberlain".into();
        assert!(s.apply(&w, &secrets).unwrap_err().contains("commandName"));
        w.command_name = "/access".into();
        w.api_base_url = "ftp://slack".into();
        assert!(s.apply(&w, &secrets).unwrap_err().contains("apiBaseUrl"));
        w.api_base_url = String::new();
        w.team_id = "acme".into();
        assert!(s.apply(&w, &secrets).unwrap_err().contains("teamId"));
        w.team_id = "T0123ABC".into();
        s.apply(&w, &secrets).unwrap();
        let shown = s.to_wire("https://c.example");
        assert!(shown.bot_token.is_empty() && shown.bot_token_set && shown.signing_secret_set);
        assert_eq!(shown.api_base_url, DEFAULT_API_BASE_URL);
        assert_eq!(shown.slash_command_url, "https://c.example/slack/commands");
        assert!(!serde_json::to_string(&s).unwrap().contains("xoxb-1-2-abc"));
        let opened = s.open(&secrets).unwrap().unwrap();
        assert_eq!(opened.bot_token, "xoxb-1-2-abc");
        assert_eq!(opened.command_name, "/access");
        // An update without secrets keeps them.
        w.bot_token.clear();
        w.signing_secret.clear();
        s.apply(&w, &secrets).unwrap();
        assert_eq!(
            s.open(&secrets).unwrap().unwrap().signing_secret,
            "0123456789abcdef0123"
        );
    }

    #[test]
    fn notification_blocks_escape_text_and_carry_task_buttons() {
        let msg = Outgoing {
            id: "n1".into(),
            kind: crate::NotificationKind::ApprovalNeeded,
            user_id: "u1".into(),
            email: "a@example.com".into(),
            display_name: "A".into(),
            subject: "Approve <Admin> & more".into(),
            text: "x".into(),
            link: "https://c.example/app/tasks/t1".into(),
            task_id: Some("t1".into()),
            task_actions: true,
        };
        let b = notification_blocks(&msg);
        let text = b[0]["text"]["text"].as_str().unwrap();
        assert!(text.contains("Approve &lt;Admin&gt; &amp; more"));
        let ids: Vec<&str> = b[1]["elements"]
            .as_array()
            .unwrap()
            .iter()
            .map(|e| e["action_id"].as_str().unwrap())
            .collect();
        assert_eq!(
            ids,
            [ACTION_APPROVE, ACTION_DENY, ACTION_REASSIGN, ACTION_OPEN]
        );
        assert_eq!(b[1]["elements"][0]["value"], "t1");
    }
}
