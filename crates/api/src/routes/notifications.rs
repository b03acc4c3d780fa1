//! Notification settings and deliveries:
//! - `/api/v1/settings/notifications/org` (C1 `OrgNotificationSettingsService`): the tenant's
//!   defaults per channel and type, with locks. Admins read, Super Admins change.
//! - `/api/v1/settings/notifications/user` (C1 `UserNotificationSettingsService`): the caller's
//!   own choices, shown merged over the tenant's; locked types cannot be changed.
//! - `/api/v1/settings/email-provider[/test|/audit-events]` (C1 `TenantEmailProviderService`):
//!   SMTP through the extension field `chamberlainSmtp`; the password is write-only.
//! - `GET /api/v1/notifications`, `POST /api/v1/notifications/{id}/retry` (extensions): the
//!   deliveries with their state and last error, so admins see failures and can retry them.

use super::common;
use crate::authz;
use crate::error::{ApiError, ApiResult};
use crate::extract::Body;
use crate::state::{Caller, Shared};
use axum::extract::{Path, Query, State};
use axum::Json;
use chamberlain_model::notification::{Channel, ChannelPreferences, ChannelSettings};
use chamberlain_model::Timestamp;
use chamberlain_notify::email::SmtpSettings;
use chamberlain_notify::pipeline::{org_settings, ORG_SETTINGS};
use chamberlain_notify::provider::{self, SmtpProviderConfig};
use chamberlain_notify::{NotificationKind, Outgoing};
use chamberlain_store::repo::ai_governance::TENANT;
use chamberlain_store::repo::notifications as repo;
use serde::Deserialize;
use serde_json::{json, Value};

/// Marks which channels can deliver (`isConfigured`, read-only) on a settings view.
async fn with_configured(s: &Shared, mut c: ChannelSettings) -> ChannelSettings {
    let env = crate::notify::environment(s).await;
    if let Some(slack) = c.slack.as_mut() {
        slack.is_configured = Some(env.slack);
    }
    if let Some(teams) = c.teams.as_mut() {
        teams.is_configured = Some(false);
    }
    if let Some(email) = c.email.as_mut() {
        email.is_configured = None;
    }
    c
}

fn parse_channels(v: Option<Value>) -> ApiResult<ChannelSettings> {
    let v = v.ok_or_else(|| ApiError::invalid("`channelSettings` is required"))?;
    let mut c: ChannelSettings = crate::extract::parse_json(v.to_string().as_bytes())
        .map_err(|e| ApiError::invalid(format!("channelSettings: {}", e.message)))?;
    // `isConfigured` is read-only: what the server can deliver, not a choice.
    for ch in [&mut c.email, &mut c.slack, &mut c.teams]
        .into_iter()
        .flatten()
    {
        ch.is_configured = None;
    }
    Ok(c)
}

/// `UpdateOrgNotificationSettingsRequest` / `UpdateUserNotificationSettingsRequest`.
#[derive(Deserialize, Default)]
#[serde(rename_all = "camelCase", default, deny_unknown_fields)]
pub struct UpdateSettingsRequest {
    channel_settings: Option<Value>,
}

/// `GET /api/v1/settings/notifications/org`.
pub async fn get_org(State(s): State<Shared>, caller: Caller) -> ApiResult<Json<Value>> {
    authz::require_read(&caller)?;
    let org = with_configured(&s, org_settings(&s.store).await?).await;
    Ok(Json(
        json!({"orgNotificationSettings": {"channelSettings": org}}),
    ))
}

/// `POST /api/v1/settings/notifications/org`: channels given replace the stored ones; types a
/// channel leaves out keep the defaults.
pub async fn update_org(
    State(s): State<Shared>,
    caller: Caller,
    Body(req): Body<UpdateSettingsRequest>,
) -> ApiResult<Json<Value>> {
    authz::require_super_admin(&caller)?;
    let patch = parse_channels(req.channel_settings)?;
    if patch.teams.as_ref().is_some_and(|t| t.enabled) {
        return Err(ApiError::invalid(
            "channelSettings.teams.enabled: Microsoft Teams notifications are not supported; use email or Slack",
        ));
    }
    let current = org_settings(&s.store).await?;
    let next = ChannelSettings {
        email: patch.email.or(current.email),
        slack: patch.slack.or(current.slack),
        teams: patch.teams.or(current.teams),
    }
    .filled_from(&ChannelSettings::tenant_default());
    chamberlain_store::write_tx!(s.store, &caller.audit(), |tx| {
        chamberlain_store::repo::settings::put(tx, TENANT, ORG_SETTINGS, &next).await
    })?;
    let view = with_configured(&s, next).await;
    Ok(Json(
        json!({"orgNotificationSettings": {"channelSettings": view}}),
    ))
}

/// The caller's settings as they apply: the tenant's, overlaid with the user's own choices
/// where the tenant has not locked the type.
fn merged(org: &ChannelSettings, own: Option<&ChannelSettings>) -> ChannelSettings {
    let mut out = org.clone();
    for channel in [Channel::Email, Channel::Slack] {
        let slot = match channel {
            Channel::Email => &mut out.email,
            Channel::Slack => &mut out.slack,
        };
        let (Some(view), Some(mine)) = (slot.as_mut(), own.and_then(|o| o.channel(channel))) else {
            continue;
        };
        view.enabled = view.enabled && mine.enabled;
        for name in chamberlain_model::notification::PREFERENCE_NAMES {
            let (Some(o), Some(m)) = (view.get(name), mine.get(name)) else {
                continue;
            };
            if !o.locked {
                view.set(
                    name,
                    chamberlain_model::notification::Preference {
                        enabled: m.enabled,
                        locked: false,
                    },
                );
            }
        }
        if mine.digest.is_some() {
            view.digest = mine.digest;
        }
    }
    out
}

/// `GET /api/v1/settings/notifications/user`.
pub async fn get_user(State(s): State<Shared>, caller: Caller) -> ApiResult<Json<Value>> {
    let org = org_settings(&s.store).await?;
    let own = repo::user_settings(&s.store, caller.user_id()).await?;
    let view = with_configured(&s, merged(&org, own.as_ref())).await;
    Ok(Json(
        json!({"userNotificationSettings": {"channelSettings": view}}),
    ))
}

/// `POST /api/v1/settings/notifications/user`: the caller's own choices. Changing a type the
/// tenant locked is refused, naming it; `locked` itself is the tenant's and is ignored.
pub async fn update_user(
    State(s): State<Shared>,
    caller: Caller,
    Body(req): Body<UpdateSettingsRequest>,
) -> ApiResult<Json<Value>> {
    let mut patch = parse_channels(req.channel_settings)?;
    if patch.teams.as_ref().is_some_and(|t| t.enabled) {
        return Err(ApiError::invalid(
            "channelSettings.teams.enabled: Microsoft Teams notifications are not supported; use email or Slack",
        ));
    }
    let org = org_settings(&s.store).await?;
    let locked = org.locked_changes(&patch);
    if !locked.is_empty() {
        return Err(ApiError::precondition(format!(
            "your organization locked these notification settings, so they cannot be changed: {}",
            locked.join(", ")
        )));
    }
    let current = repo::user_settings(&s.store, caller.user_id()).await?;
    for ch in [&mut patch.email, &mut patch.slack, &mut patch.teams]
        .into_iter()
        .flatten()
    {
        for name in chamberlain_model::notification::PREFERENCE_NAMES {
            if let Some(mut p) = ch.get(name) {
                p.locked = false;
                ch.set(name, p);
            }
        }
    }
    let keep = |mine: Option<ChannelPreferences>, old: Option<&ChannelPreferences>| {
        mine.or_else(|| old.cloned())
    };
    let next = ChannelSettings {
        email: keep(patch.email, current.as_ref().and_then(|c| c.email.as_ref())),
        slack: keep(patch.slack, current.as_ref().and_then(|c| c.slack.as_ref())),
        teams: keep(patch.teams, current.as_ref().and_then(|c| c.teams.as_ref())),
    };
    let user_id = caller.user_id().to_string();
    chamberlain_store::write_tx!(s.store, &caller.audit(), |tx| {
        repo::save_user_settings(tx, &user_id, &next).await
    })?;
    let view = with_configured(&s, merged(&org, Some(&next))).await;
    Ok(Json(
        json!({"userNotificationSettings": {"channelSettings": view}}),
    ))
}

/// `GET /api/v1/settings/email-provider`.
pub async fn get_email_provider(State(s): State<Shared>, caller: Caller) -> ApiResult<Json<Value>> {
    authz::require_read(&caller)?;
    let p = provider::load(&s.store).await?;
    Ok(Json(json!({"emailProvider": p.map(|p| p.to_wire())})))
}

/// `TenantEmailProvider` as a client sends it.
#[derive(Deserialize, Default)]
#[serde(rename_all = "camelCase", default, deny_unknown_fields)]
pub struct ProviderInput {
    from_address: Option<String>,
    from_name: Option<String>,
    reply_to_address: Option<String>,
    chamberlain_smtp: Option<SmtpProviderConfig>,
    c1_builtin: Option<Value>,
    aws_ses: Option<Value>,
    sendgrid: Option<Value>,
    microsoft_graph: Option<Value>,
    google_workspace: Option<Value>,
    created_at: Option<Value>,
    updated_at: Option<Value>,
}

/// `UpdateTenantEmailProviderRequest`.
#[derive(Deserialize, Default)]
#[serde(rename_all = "camelCase", default, deny_unknown_fields)]
pub struct UpdateProviderRequest {
    email_provider: Option<Value>,
    update_mask: Option<String>,
}

/// `POST /api/v1/settings/email-provider`: saves the SMTP server and sender after checking them
/// (nothing is saved when anything is wrong). An empty password keeps the stored one.
pub async fn update_email_provider(
    State(s): State<Shared>,
    caller: Caller,
    Body(req): Body<UpdateProviderRequest>,
) -> ApiResult<Json<Value>> {
    authz::require_super_admin(&caller)?;
    let raw = req
        .email_provider
        .ok_or_else(|| ApiError::invalid("`emailProvider` is required"))?;
    let input: ProviderInput = crate::extract::parse_json(raw.to_string().as_bytes())
        .map_err(|e| ApiError::invalid(format!("emailProvider: {}", e.message)))?;
    for (name, v) in [
        ("c1Builtin", &input.c1_builtin),
        ("awsSes", &input.aws_ses),
        ("sendgrid", &input.sendgrid),
        ("microsoftGraph", &input.microsoft_graph),
        ("googleWorkspace", &input.google_workspace),
    ] {
        if v.as_ref().is_some_and(|v| !v.is_null()) {
            return Err(ApiError::invalid(format!(
                "emailProvider.{name}: Chamberlain sends email through an SMTP server; configure `chamberlainSmtp` (host, port, security, username, password) instead"
            )));
        }
    }
    if input.created_at.as_ref().is_some_and(|v| !v.is_null())
        || input.updated_at.as_ref().is_some_and(|v| !v.is_null())
    {
        return Err(ApiError::invalid(
            "emailProvider: createdAt and updatedAt are read-only",
        ));
    }
    let current = provider::load(&s.store).await?.unwrap_or_default();
    let fields: Vec<String> = match req.update_mask.as_deref().filter(|m| !m.trim().is_empty()) {
        Some(m) => m.split(',').map(|f| f.trim().to_string()).collect(),
        None => Vec::new(),
    };
    let wants = |name: &str, present: bool| {
        if fields.is_empty() {
            present
        } else {
            fields.iter().any(|f| f == name || f == &snake(name))
        }
    };
    for f in &fields {
        let known = [
            "fromAddress",
            "fromName",
            "replyToAddress",
            "chamberlainSmtp",
        ];
        if !known.iter().any(|k| f == k || *f == snake(k)) {
            return Err(ApiError::invalid(format!(
                "updateMask: `{f}` is not a writable field of the email provider (use {})",
                known.join(", ")
            )));
        }
    }
    let mut next = current.clone();
    if wants("fromAddress", input.from_address.is_some()) {
        next.from_address = input.from_address.clone().unwrap_or_default();
    }
    if wants("fromName", input.from_name.is_some()) {
        next.from_name = input.from_name.clone().unwrap_or_default();
    }
    if wants("replyToAddress", input.reply_to_address.is_some()) {
        next.reply_to_address = input.reply_to_address.clone().unwrap_or_default();
    }
    if wants("chamberlainSmtp", input.chamberlain_smtp.is_some()) {
        match &input.chamberlain_smtp {
            Some(c) => {
                if c.password_set {
                    return Err(ApiError::invalid(
                        "emailProvider.chamberlainSmtp.passwordSet is read-only; send `password` to set one",
                    ));
                }
                let same_server = current
                    .chamberlain_smtp
                    .as_ref()
                    .is_some_and(|old| old.host == c.host && old.username == c.username);
                if !same_server && c.password.is_empty() {
                    // A stored password only follows the server and user it was given for.
                    next.sealed_password.clear();
                }
                next.set_password(&s.secrets, &c.password);
                next.chamberlain_smtp = Some(SmtpProviderConfig {
                    password: String::new(),
                    password_set: false,
                    ..c.clone()
                });
            }
            None => {
                next.chamberlain_smtp = None;
                next.sealed_password.clear();
            }
        }
    }
    if next.chamberlain_smtp.is_some() {
        let checked = next
            .smtp(&s.secrets)
            .map_err(|e| ApiError::invalid(format!("emailProvider: {e}")))?;
        if checked.is_none() {
            return Err(ApiError::invalid(
                "emailProvider.chamberlainSmtp is required",
            ));
        }
        if next.from_address.is_empty() {
            return Err(ApiError::invalid("emailProvider.fromAddress is required"));
        }
    }
    let now = Timestamp::now();
    next.created_at = current.created_at.or(Some(now));
    next.updated_at = Some(now);
    chamberlain_store::write_tx!(s.store, &caller.audit(), |tx| {
        provider::save(tx, &next).await
    })?;
    Ok(Json(json!({"emailProvider": next.to_wire()})))
}

fn snake(camel: &str) -> String {
    let mut out = String::new();
    for c in camel.chars() {
        if c.is_ascii_uppercase() {
            out.push('_');
            out.push(c.to_ascii_lowercase());
        } else {
            out.push(c);
        }
    }
    out
}

/// `TestTenantEmailProviderRequest`.
#[derive(Deserialize, Default)]
#[serde(rename_all = "camelCase", default, deny_unknown_fields)]
pub struct TestRequest {
    test_recipient_email: String,
}

/// `POST /api/v1/settings/email-provider/test`: sends a test message now with the settings in
/// force and reports the outcome (the SMTP server's answer on failure).
pub async fn test_email_provider(
    State(s): State<Shared>,
    caller: Caller,
    Body(req): Body<TestRequest>,
) -> ApiResult<Json<Value>> {
    authz::require_super_admin(&caller)?;
    let to = req.test_recipient_email.trim().to_string();
    if to.is_empty() {
        return Err(ApiError::invalid("testRecipientEmail is required"));
    }
    if to.parse::<chamberlain_notify::email::Address>().is_err() {
        return Err(ApiError::invalid(format!(
            "testRecipientEmail `{to}` is not an email address"
        )));
    }
    let settings: Option<SmtpSettings> = crate::notify::smtp(&s)
        .await
        .map_err(|e| ApiError::precondition(format!("the email settings are unusable: {e}")))?;
    let Some(settings) = settings else {
        return Err(ApiError::precondition(
            "email is not configured: save `chamberlainSmtp` first (or set smtp_url in the config file)",
        ));
    };
    let msg = Outgoing {
        id: chamberlain_model::new_id(),
        kind: NotificationKind::Completion,
        user_id: caller.user_id().to_string(),
        email: to.clone(),
        display_name: String::new(),
        subject: "Chamberlain test email".into(),
        text: "This is a test message from Chamberlain. Email notifications are set up correctly."
            .into(),
        link: s.public_url.clone(),
        task_id: None,
        task_actions: false,
    };
    Ok(Json(
        match chamberlain_notify::email::send(&settings, &msg).await {
            Ok(()) => {
                json!({"success": true, "message": format!("a test message was sent to {to}")})
            }
            Err(e) => json!({"success": false, "message": e.to_string()}),
        },
    ))
}

/// `SearchEmailAuditEventsRequest`.
#[derive(Deserialize, Default)]
#[serde(rename_all = "camelCase", default, deny_unknown_fields)]
pub struct AuditEventsRequest {
    page_size: Option<i64>,
    page_token: String,
}

/// `POST /api/v1/settings/email-provider/audit-events`: email deliveries, newest first, as
/// OCSF Email Activity events (class 4009).
pub async fn email_audit_events(
    State(s): State<Shared>,
    caller: Caller,
    Body(req): Body<AuditEventsRequest>,
) -> ApiResult<Json<Value>> {
    authz::require_read(&caller)?;
    let page = common::body_page(req.page_size, &req.page_token)?;
    let filter = repo::Filter {
        channel: Some("email".into()),
        ..Default::default()
    };
    let rows = repo::list(&s.store, &filter, &page).await?;
    let list: Vec<Value> = rows
        .items
        .iter()
        .map(|n| {
            let (status_id, status) = match n.state.as_str() {
                repo::SENT => (1, "Success"),
                repo::FAILED => (2, "Failure"),
                _ => (0, "Unknown"),
            };
            let at = n.sent_at.unwrap_or(n.updated_at);
            json!({
                "class_uid": 4009,
                "class_name": "Email Activity",
                "activity_id": 1,
                "activity_name": "Send",
                "time": at.as_micros() / 1000,
                "time_dt": at.to_string(),
                "status_id": status_id,
                "status": status,
                "status_detail": n.last_error,
                "metadata": {"uid": n.id, "product": {"name": "Chamberlain"}},
                "email": {
                    "uid": n.id,
                    "to": [n.doc["email"]],
                    "subject": n.doc["subject"],
                },
                "unmapped": {"userId": n.user_id, "notificationType": n.kind, "attempts": n.attempts, "state": n.state},
            })
        })
        .collect();
    Ok(Json(
        json!({"list": list, "nextPageToken": rows.next_page_token}),
    ))
}

/// Query of `GET /api/v1/notifications`.
#[derive(Deserialize, Default)]
#[serde(default, deny_unknown_fields)]
pub struct ListQuery {
    state: Option<String>,
    channel: Option<String>,
    user_id: Option<String>,
    page_size: Option<String>,
    page_token: String,
}

fn view(n: &repo::Notification) -> Value {
    json!({
        "id": n.id,
        "userId": n.user_id,
        "type": n.kind,
        "channel": n.channel,
        "state": n.state,
        "attempts": n.attempts,
        "lastError": n.last_error,
        "subject": n.doc["subject"],
        "taskId": n.doc["taskId"],
        "createdAt": n.created_at,
        "updatedAt": n.updated_at,
        "sentAt": n.sent_at,
    })
}

/// `GET /api/v1/notifications` (extension): notifications newest first, filtered by `state`
/// (`pending`, `sent`, `failed`), `channel` and `user_id`. Admins see everyone's; other users
/// their own.
pub async fn list(
    State(s): State<Shared>,
    caller: Caller,
    Query(q): Query<ListQuery>,
) -> ApiResult<Json<Value>> {
    if let Some(state) = &q.state {
        if ![repo::PENDING, repo::SENT, repo::FAILED].contains(&state.as_str()) {
            return Err(ApiError::invalid(format!(
                "state `{state}` is unknown: use pending, sent or failed"
            )));
        }
    }
    if let Some(c) = &q.channel {
        if Channel::parse(c).is_none() {
            return Err(ApiError::invalid(format!(
                "channel `{c}` is unknown: use email or slack"
            )));
        }
    }
    let user_id = if authz::require_read(&caller).is_ok() {
        q.user_id.clone().filter(|u| !u.is_empty())
    } else {
        if q.user_id
            .as_deref()
            .is_some_and(|u| !u.is_empty() && u != caller.user_id())
        {
            return Err(ApiError::denied(
                "only admins can see other users' notifications",
            ));
        }
        Some(caller.user_id().to_string())
    };
    let size = match q.page_size.as_deref() {
        Some(v) => Some(crate::extract::parse_page_size(v)?),
        None => None,
    };
    let page = common::body_page(size, &q.page_token)?;
    let filter = repo::Filter {
        state: q.state.clone(),
        channel: q.channel.clone(),
        user_id,
    };
    let rows = repo::list(&s.store, &filter, &page).await?;
    let list: Vec<Value> = rows.items.iter().map(view).collect();
    Ok(Json(
        json!({"list": list, "nextPageToken": rows.next_page_token}),
    ))
}

/// `POST /api/v1/notifications/{id}/retry` (extension, Super Admin): queues a failed
/// notification again with fresh attempts.
pub async fn retry(
    State(s): State<Shared>,
    caller: Caller,
    Path(id): Path<String>,
) -> ApiResult<Json<Value>> {
    authz::require_super_admin(&caller)?;
    common::check_id("id", &id)?;
    let Some(n) = repo::get(&s.store, &id).await? else {
        return Err(ApiError::not_found(format!(
            "notification `{id}` was not found"
        )));
    };
    let done = chamberlain_store::write_tx!(s.store, &caller.audit(), |tx| {
        repo::retry(tx, &id).await
    })?;
    if !done {
        return Err(ApiError::precondition(format!(
            "notification `{id}` is {}, not failed: only failed notifications can be retried",
            n.state
        )));
    }
    let n = repo::get(&s.store, &id).await?.unwrap_or(n);
    Ok(Json(json!({"notification": view(&n)})))
}
