//! The Slack app: its settings API, the slash command and the interactive components.
//!
//! Slack calls two URLs, both checked against the signing secret (timestamp window and HMAC,
//! then a replay guard) before anything else is read:
//! - `POST /slack/commands`: `/chamberlain request [search]` opens a modal listing what the
//!   user may request (the same catalog search as the web and the CLI); submitting it files the
//!   request through the same path and policy as the API, with origin `TASK_ORIGIN_SLACK`.
//! - `POST /slack/interactivity`: the approve / deny / reassign buttons on an approver's DM
//!   and the modals' submissions; each acts through the task engine as the linked user, which
//!   decides from the task's current step whether they may.
//!
//! A Slack user is a Chamberlain user only through an email Slack reports as confirmed that
//! equals the primary email of an enabled Chamberlain user; the link is checked on every
//! request, so a changed email or a disabled user stops working at once.

use crate::authz;
use crate::error::{ApiError, ApiResult};
use crate::extract::{url_pairs, Body};
use crate::routes::requestable::{self, CatalogQuery};
use crate::routes::tasks::{act_on, request_access, AccessRequest};
use crate::state::{Caller, Shared};
use axum::body::Bytes;
use axum::extract::State;
use axum::http::{HeaderMap, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::Json;
use chamberlain_access::engine::Action;
use chamberlain_model::app::{App, AppEntitlement};
use chamberlain_model::principal::{Principal, Role};
use chamberlain_model::task::{Task, TaskOrigin, TaskState};
use chamberlain_model::user::{User, UserStatus};
use chamberlain_model::{Duration, Timestamp};
use chamberlain_notify::slack::{self, SlackApi, SlackSettings, SlackSettingsWire};
use chamberlain_outbound::Guard;
use chamberlain_store::repo::{slack as links, web_auth};
use chamberlain_store::{record, Filter};
use serde_json::{json, Value};
use std::collections::HashMap;

/// Modal callback ids.
const VIEW_REQUEST: &str = "chamberlain.request";
const VIEW_DENY: &str = "chamberlain.task.deny";
const VIEW_REASSIGN: &str = "chamberlain.task.reassign";
/// Most options a Slack static select takes.
const MAX_OPTIONS: i64 = 100;
/// The grant lengths offered in the request modal (the policy's maximum still applies).
const DURATIONS: &[(&str, i64)] = &[
    ("1 hour", 3600),
    ("4 hours", 4 * 3600),
    ("1 day", 86400),
    ("7 days", 7 * 86400),
    ("30 days", 30 * 86400),
    ("90 days", 90 * 86400),
];

/// The outbound guard for calls to the Slack Web API.
pub fn guard(s: &Shared) -> Guard {
    Guard::new("Slack Web API calls", s.jobs.outbound_allow_hosts.clone())
}

/// A Web API client for the settings in force, or why there is none.
pub async fn api(s: &Shared, settings: &SlackSettings) -> Result<SlackApi, slack::SlackError> {
    SlackApi::new(settings, &guard(s)).await
}

// ---------------------------------------------------------------------------------------------
// Settings API (Chamberlain extension: C1 configures its own Slack app in its web app)

/// `GET /api/v1/settings/slack`.
pub async fn get_settings(State(s): State<Shared>, caller: Caller) -> ApiResult<Json<Value>> {
    authz::require_read(&caller)?;
    let stored = slack::load(&s.store).await?.unwrap_or_default();
    Ok(Json(json!({"slack": stored.to_wire(&s.public_url)})))
}

/// `UpdateSlackSettingsRequest`.
#[derive(serde::Deserialize, Default)]
#[serde(rename_all = "camelCase", default, deny_unknown_fields)]
pub struct UpdateSettings {
    slack: Option<Value>,
}

/// `POST /api/v1/settings/slack`: replaces the settings (secrets left empty are kept).
pub async fn update_settings(
    State(s): State<Shared>,
    caller: Caller,
    Body(r): Body<UpdateSettings>,
) -> ApiResult<Json<Value>> {
    authz::require_super_admin(&caller)?;
    let raw = r
        .slack
        .ok_or_else(|| ApiError::invalid("`slack` is required"))?;
    let wire: SlackSettingsWire = crate::extract::parse_json(raw.to_string().as_bytes())
        .map_err(|e| ApiError::invalid(format!("slack: {}", e.message)))?;
    if wire.bot_token_set
        || wire.signing_secret_set
        || !wire.slash_command_url.is_empty()
        || !wire.interactivity_url.is_empty()
        || wire.updated_at.is_some()
    {
        return Err(ApiError::invalid(
            "slack: botTokenSet, signingSecretSet, slashCommandUrl, interactivityUrl and updatedAt are read-only; leave them out",
        ));
    }
    let mut next = slack::load(&s.store).await?.unwrap_or_default();
    next.apply(&wire, &s.secrets)
        .map_err(|e| ApiError::invalid(format!("slack: {e}")))?;
    next.updated_at = Some(Timestamp::now());
    let saved = next.clone();
    chamberlain_store::write_tx!(s.store, &caller.audit(), |tx| {
        slack::save(tx, &saved).await
    })?;
    Ok(Json(json!({"slack": next.to_wire(&s.public_url)})))
}

/// `POST /api/v1/settings/slack/test`: calls `auth.test` with the stored bot token.
pub async fn test_settings(State(s): State<Shared>, caller: Caller) -> ApiResult<Json<Value>> {
    authz::require_super_admin(&caller)?;
    let settings = slack::effective(&s.store, &s.secrets)
        .await
        .map_err(ApiError::precondition)?
        .ok_or_else(|| {
            ApiError::precondition("the Slack integration is not enabled; save its settings first")
        })?;
    let api = api(&s, &settings)
        .await
        .map_err(|e| ApiError::precondition(e.to_string()))?;
    let v = api
        .call("auth.test", &json!({}))
        .await
        .map_err(|e| ApiError::precondition(format!("the bot token does not work: {e}")))?;
    Ok(Json(json!({
        "teamId": v.get("team_id").cloned().unwrap_or(Value::Null),
        "team": v.get("team").cloned().unwrap_or(Value::Null),
        "botUserId": v.get("user_id").cloned().unwrap_or(Value::Null),
    })))
}

// ---------------------------------------------------------------------------------------------
// Inbound requests

fn plain(status: StatusCode, text: impl Into<String>) -> Response {
    (status, text.into()).into_response()
}

/// A refusal of a request before it is read (boxed: responses are large).
fn refuse(status: StatusCode, text: impl Into<String>) -> Box<Response> {
    Box::new(plain(status, text))
}

/// An answer only the user who typed the command sees.
fn ephemeral(text: impl Into<String>) -> Response {
    Json(json!({"response_type": "ephemeral", "text": text.into()})).into_response()
}

/// Checks that the request comes from Slack, for the workspace the settings name, and was not
/// seen before. Returns the settings and the form fields.
async fn verified(
    s: &Shared,
    headers: &HeaderMap,
    body: &[u8],
) -> Result<(SlackSettings, HashMap<String, String>), Box<Response>> {
    let settings = match slack::effective(&s.store, &s.secrets).await {
        Ok(Some(v)) => v,
        Ok(None) => {
            return Err(refuse(
                StatusCode::NOT_FOUND,
                "the Slack integration is not enabled on this Chamberlain server",
            ))
        }
        Err(e) => {
            tracing::error!(error = %e, "the Slack settings are unusable");
            return Err(refuse(
                StatusCode::SERVICE_UNAVAILABLE,
                "the Slack settings of this server are unusable; an administrator must save them again",
            ));
        }
    };
    let header = |n: &str| headers.get(n).and_then(|v| v.to_str().ok());
    let signature = header("x-slack-signature");
    if let Err(e) = slack::verify(
        &settings.signing_secret,
        header("x-slack-request-timestamp"),
        signature,
        body,
        Timestamp::now().unix_seconds(),
    ) {
        tracing::warn!(error = %e, "refused a request claiming to come from Slack");
        return Err(refuse(StatusCode::UNAUTHORIZED, e.to_string()));
    }
    match slack::first_sighting(&s.store, signature.unwrap_or_default()).await {
        Ok(true) => {}
        Ok(false) => {
            tracing::warn!("refused a replayed Slack request");
            return Err(refuse(
                StatusCode::UNAUTHORIZED,
                "this signed request was already received; replays are refused",
            ));
        }
        Err(e) => return Err(refuse(StatusCode::SERVICE_UNAVAILABLE, e.to_string())),
    }
    let text = String::from_utf8_lossy(body);
    let form: HashMap<String, String> = url_pairs(&text).into_iter().collect();
    Ok((settings, form))
}

/// The refusal of a request from another workspace than the configured one.
fn foreign_team(settings: &SlackSettings, team_id: &str) -> Option<Response> {
    if !settings.team_id.is_empty() && settings.team_id != team_id {
        return Some(plain(
            StatusCode::FORBIDDEN,
            format!(
                "this Chamberlain server answers the Slack workspace {} only",
                settings.team_id
            ),
        ));
    }
    None
}

/// The enabled Chamberlain user behind a Slack user, by the email Slack has confirmed; the
/// link is recorded (and moved when the email now names someone else). The error is the
/// message to show the person.
async fn chamberlain_user(s: &Shared, api: &SlackApi, slack_user_id: &str) -> Result<User, String> {
    let who = api
        .user_info(slack_user_id)
        .await
        .map_err(|e| format!("Chamberlain could not look up your Slack account: {e}"))?;
    if who.deleted || who.is_bot {
        return Err("this Slack account is deactivated or a bot".into());
    }
    if who.email.is_empty() || !who.email_confirmed {
        return Err("your Slack account has no confirmed email, so Chamberlain cannot tell which user you are; confirm your email in Slack and try again".into());
    }
    let user = web_auth::user_by_email(&s.store, &who.email)
        .await
        .map_err(|e| e.to_string())?
        .filter(|u| u.status == UserStatus::Enabled)
        .ok_or_else(|| {
            format!(
                "Chamberlain has no active user with your Slack email ({}), so it cannot act for you. Ask an administrator to add this address to your Chamberlain user.",
                who.email
            )
        })?;
    let link = links::SlackLink {
        team_id: who.team_id.clone(),
        slack_user_id: who.id.clone(),
        user_id: user.id.clone(),
        email: who.email.to_lowercase(),
    };
    // Every request re-checks the link; it is written only when it is new or changed.
    let current = links::link_of_slack_user(&s.store, &who.team_id, &who.id)
        .await
        .map_err(|e| e.to_string())?;
    if current.as_ref() == Some(&link) {
        return Ok(user);
    }
    let ctx = chamberlain_store::AuditCtx {
        actor_user_id: user.id.clone(),
        actor_client_id: String::new(),
        request_id: crate::error::current_request_id(),
    };
    chamberlain_store::write_tx!(s.store, &ctx, |tx| { links::save_link(tx, &link).await })
        .map_err(|e| e.to_string())?;
    Ok(user)
}

/// The caller a linked Slack user acts as: the user with their current roles.
fn caller_for(user: &User) -> Caller {
    let mut roles: Vec<Role> = user
        .role_ids
        .iter()
        .filter_map(|r| Role::parse(r))
        .collect();
    if roles.is_empty() {
        roles.push(Role::BasicUser);
    }
    Caller {
        principal: Principal {
            user_id: user.id.clone(),
            client_id: None,
            roles,
            connector: None,
        },
        request_id: crate::error::current_request_id(),
    }
}

fn help(command: &str) -> String {
    format!(
        "*{command} request* opens a form listing everything you can request; *{command} request <words>* lists only what matches them. Approvals arrive here as direct messages with Approve, Deny and Reassign buttons."
    )
}

/// `POST /slack/commands`.
pub async fn command(State(s): State<Shared>, headers: HeaderMap, body: Bytes) -> Response {
    let (settings, form) = match verified(&s, &headers, &body).await {
        Ok(v) => v,
        Err(r) => return *r,
    };
    let field = |k: &str| form.get(k).map(String::as_str).unwrap_or("");
    if let Some(r) = foreign_team(&settings, field("team_id")) {
        return r;
    }
    if field("command") != settings.command_name {
        return ephemeral(format!(
            "This Chamberlain server answers {} (the command name in its Slack settings), not {}.",
            settings.command_name,
            field("command")
        ));
    }
    let text = field("text").trim();
    let (verb, rest) = text.split_once(char::is_whitespace).unwrap_or((text, ""));
    let query = match verb.to_ascii_lowercase().as_str() {
        "" | "help" => return ephemeral(help(&settings.command_name)),
        "request" => rest.trim().to_string(),
        _ => {
            return ephemeral(format!(
                "Unknown subcommand `{verb}`. {}",
                help(&settings.command_name)
            ))
        }
    };
    let api = match api(&s, &settings).await {
        Ok(a) => a,
        Err(e) => return ephemeral(format!("Chamberlain cannot reach Slack: {e}")),
    };
    let user = match chamberlain_user(&s, &api, field("user_id")).await {
        Ok(u) => u,
        Err(msg) => return ephemeral(msg),
    };
    let found = match requestable::search(
        &s,
        &user.id,
        &CatalogQuery {
            query: query.clone(),
            ..Default::default()
        },
        &record::PageReq::first(MAX_OPTIONS),
    )
    .await
    {
        Ok(p) => p,
        Err(e) => return ephemeral(format!("The search failed: {}", e.message)),
    };
    if found.items.is_empty() {
        return ephemeral(if query.is_empty() {
            "There is nothing you can request right now.".to_string()
        } else {
            format!("Nothing you can request matches “{query}”. Try other words, or `{} request` to see everything.", settings.command_name)
        });
    }
    let more = !found.next_page_token.is_empty();
    let view = match request_view(&s, &found.items, &query, more).await {
        Ok(v) => v,
        Err(e) => {
            return ephemeral(format!(
                "The request form could not be built: {}",
                e.message
            ))
        }
    };
    match api.open_view(field("trigger_id"), &view).await {
        Ok(()) => StatusCode::OK.into_response(),
        Err(e) => ephemeral(format!("Slack did not open the request form: {e}")),
    }
}

/// The request modal: pick one of `items`, justify, optionally a duration and emergency access.
async fn request_view(
    s: &Shared,
    items: &[AppEntitlement],
    query: &str,
    more: bool,
) -> ApiResult<Value> {
    let app_ids: Vec<String> = items.iter().map(|e| e.app_id.clone()).collect();
    let apps = record::list::<App, _>(
        s.store.pool(),
        &[Filter::In("id", app_ids)],
        true,
        &record::PageReq::first(MAX_OPTIONS),
    )
    .await?;
    let app_name: HashMap<&str, &str> = apps
        .items
        .iter()
        .map(|a| (a.id.as_str(), a.display_name.as_str()))
        .collect();
    let options: Vec<Value> = items
        .iter()
        .map(|e| {
            let label = format!(
                "{} — {}",
                app_name.get(e.app_id.as_str()).copied().unwrap_or("?"),
                e.display_name
            );
            json!({"text": {"type": "plain_text", "text": slack::clip(&label, 75)},
                   "value": format!("{}/{}", e.app_id, e.id)})
        })
        .collect();
    let durations: Vec<Value> = DURATIONS
        .iter()
        .map(|(label, secs)| json!({"text": {"type": "plain_text", "text": label}, "value": secs.to_string()}))
        .collect();
    let mut blocks = Vec::new();
    if more {
        blocks.push(json!({"type": "context", "elements": [{"type": "mrkdwn",
            "text": format!("Showing the first {MAX_OPTIONS} matches{}; add words to narrow the list.",
                if query.is_empty() { String::new() } else { format!(" for “{}”", slack::escape(query)) })}]}));
    }
    blocks.push(json!({"type": "input", "block_id": "entitlement", "label": {"type": "plain_text", "text": "Access"},
        "element": {"type": "static_select", "action_id": "pick", "options": options,
                    "placeholder": {"type": "plain_text", "text": "Choose what you need"}}}));
    blocks.push(json!({"type": "input", "block_id": "justification", "label": {"type": "plain_text", "text": "Justification"},
        "element": {"type": "plain_text_input", "action_id": "text", "multiline": true, "max_length": 2000}}));
    blocks.push(json!({"type": "input", "block_id": "duration", "optional": true, "label": {"type": "plain_text", "text": "For how long"},
        "hint": {"type": "plain_text", "text": "Leave empty for the policy's default. The access's maximum still applies."},
        "element": {"type": "static_select", "action_id": "pick", "options": durations}}));
    blocks.push(json!({"type": "input", "block_id": "emergency", "optional": true, "label": {"type": "plain_text", "text": "Emergency"},
        "element": {"type": "checkboxes", "action_id": "pick", "options": [
            {"text": {"type": "plain_text", "text": "Emergency access"}, "value": "yes",
             "description": {"type": "plain_text", "text": "Uses the emergency approval policy, where there is one"}}]}}));
    Ok(json!({
        "type": "modal",
        "callback_id": VIEW_REQUEST,
        "title": {"type": "plain_text", "text": "Request access"},
        "submit": {"type": "plain_text", "text": "Submit"},
        "close": {"type": "plain_text", "text": "Cancel"},
        "blocks": blocks,
    }))
}

/// `POST /slack/interactivity`.
pub async fn interactivity(State(s): State<Shared>, headers: HeaderMap, body: Bytes) -> Response {
    let (settings, form) = match verified(&s, &headers, &body).await {
        Ok(v) => v,
        Err(r) => return *r,
    };
    let Some(payload) = form
        .get("payload")
        .and_then(|p| serde_json::from_str::<Value>(p).ok())
    else {
        return plain(
            StatusCode::BAD_REQUEST,
            "the body must be a form with a `payload` field holding JSON",
        );
    };
    let text = |p: &str| payload.pointer(p).and_then(Value::as_str).unwrap_or("");
    if let Some(r) = foreign_team(&settings, text("/team/id")) {
        return r;
    }
    let api = match api(&s, &settings).await {
        Ok(a) => a,
        Err(e) => {
            tracing::warn!(error = %e, "cannot reach Slack to answer an interaction");
            return plain(StatusCode::SERVICE_UNAVAILABLE, e.to_string());
        }
    };
    let slack_user = text("/user/id").to_string();
    let user = match chamberlain_user(&s, &api, &slack_user).await {
        Ok(u) => u,
        Err(msg) => {
            return match text("/type") {
                "view_submission" => view_errors(first_input_block(&payload), &msg),
                _ => {
                    notify_user(&api, text("/container/channel_id"), &slack_user, &msg).await;
                    StatusCode::OK.into_response()
                }
            }
        }
    };
    let caller = caller_for(&user);
    match text("/type") {
        "block_actions" => {
            for action in payload["actions"].as_array().into_iter().flatten() {
                button(&s, &api, &caller, &payload, &slack_user, action).await;
            }
            StatusCode::OK.into_response()
        }
        "view_submission" => submission(&s, &api, &caller, &payload).await,
        _ => StatusCode::OK.into_response(),
    }
}

/// Tells the Slack user something in the conversation they acted in (or says it in the log
/// when there is no conversation to answer in).
async fn notify_user(api: &SlackApi, channel: &str, slack_user: &str, msg: &str) {
    if channel.is_empty() {
        tracing::info!(slack_user, message = msg, "a Slack interaction was refused");
        return;
    }
    if let Err(e) = api.post_ephemeral(channel, slack_user, msg).await {
        tracing::warn!(error = %e, "could not answer a Slack user");
    }
}

fn first_input_block(payload: &Value) -> &str {
    payload
        .pointer("/view/blocks")
        .and_then(Value::as_array)
        .and_then(|bs| bs.iter().find(|b| b["type"] == "input"))
        .and_then(|b| b["block_id"].as_str())
        .unwrap_or("entitlement")
}

/// `response_action: errors`: Slack shows `msg` under the input block.
fn view_errors(block_id: &str, msg: &str) -> Response {
    Json(json!({"response_action": "errors", "errors": {block_id: slack::clip(msg, 2000)}}))
        .into_response()
}

/// Replaces the DM's buttons with what happened (and forgets the DM, so the update made when
/// the task closes leaves it saying who did what).
async fn settle_message(
    s: &Shared,
    api: &SlackApi,
    channel: &str,
    ts: &str,
    task: &Task,
    outcome: &str,
) {
    if channel.is_empty() || ts.is_empty() {
        return;
    }
    let title = format!("*{}*", slack::escape(&task.display_name));
    if let Err(e) = api
        .update_message(
            channel,
            ts,
            outcome,
            &slack::decided_blocks(&title, outcome),
        )
        .await
    {
        tracing::warn!(error = %e, "could not update a Slack approval message");
        return;
    }
    if let Err(e) = links::forget_task_message(&s.store, channel, ts).await {
        tracing::warn!(error = %e, "could not forget a settled Slack message");
    }
}

/// One button click on a DM.
async fn button(
    s: &Shared,
    api: &SlackApi,
    caller: &Caller,
    payload: &Value,
    slack_user: &str,
    action: &Value,
) {
    let text = |p: &str| payload.pointer(p).and_then(Value::as_str).unwrap_or("");
    let task_id = action["value"].as_str().unwrap_or("");
    let channel = text("/container/channel_id");
    let ts = text("/container/message_ts");
    let trigger = text("/trigger_id");
    let metadata = json!({"task": task_id, "channel": channel, "ts": ts}).to_string();
    match action["action_id"].as_str().unwrap_or("") {
        slack::ACTION_APPROVE => {
            let outcome = act_on(
                s,
                caller,
                task_id,
                Action::Approve {
                    comment: String::new(),
                    step_id: String::new(),
                },
            )
            .await;
            match outcome {
                Ok(task) => {
                    settle_message(
                        s,
                        api,
                        channel,
                        ts,
                        &task,
                        &format!("✅ Approved by you ({})", state_line(&task)),
                    )
                    .await
                }
                Err(e) => {
                    notify_user(
                        api,
                        channel,
                        slack_user,
                        &format!("Not approved: {}", e.message),
                    )
                    .await
                }
            }
        }
        slack::ACTION_DENY => {
            let view = json!({
                "type": "modal", "callback_id": VIEW_DENY, "private_metadata": metadata,
                "title": {"type": "plain_text", "text": "Deny request"},
                "submit": {"type": "plain_text", "text": "Deny"},
                "close": {"type": "plain_text", "text": "Cancel"},
                "blocks": [{"type": "input", "block_id": "reason", "label": {"type": "plain_text", "text": "Reason"},
                    "element": {"type": "plain_text_input", "action_id": "text", "multiline": true, "max_length": 2000}}]
            });
            if let Err(e) = api.open_view(trigger, &view).await {
                notify_user(
                    api,
                    channel,
                    slack_user,
                    &format!("Slack did not open the form: {e}"),
                )
                .await;
            }
        }
        slack::ACTION_REASSIGN => {
            let view = json!({
                "type": "modal", "callback_id": VIEW_REASSIGN, "private_metadata": metadata,
                "title": {"type": "plain_text", "text": "Reassign"},
                "submit": {"type": "plain_text", "text": "Reassign"},
                "close": {"type": "plain_text", "text": "Cancel"},
                "blocks": [
                    {"type": "input", "block_id": "assignee", "label": {"type": "plain_text", "text": "New approver"},
                     "element": {"type": "users_select", "action_id": "pick"}},
                    {"type": "input", "block_id": "comment", "optional": true, "label": {"type": "plain_text", "text": "Comment"},
                     "element": {"type": "plain_text_input", "action_id": "text", "multiline": true, "max_length": 2000}}]
            });
            if let Err(e) = api.open_view(trigger, &view).await {
                notify_user(
                    api,
                    channel,
                    slack_user,
                    &format!("Slack did not open the form: {e}"),
                )
                .await;
            }
        }
        // The link button opens the web app in the browser; Slack reports the click as well.
        _ => {}
    }
}

/// Where a task stands, in words.
fn state_line(task: &Task) -> String {
    if task.state == TaskState::Closed {
        "the request is now closed".to_string()
    } else {
        "the request moves to its next step".to_string()
    }
}

fn input_text(payload: &Value, block: &str) -> String {
    payload
        .pointer(&format!("/view/state/values/{block}/text/value"))
        .and_then(Value::as_str)
        .unwrap_or("")
        .trim()
        .to_string()
}

fn picked(payload: &Value, block: &str) -> String {
    payload
        .pointer(&format!(
            "/view/state/values/{block}/pick/selected_option/value"
        ))
        .and_then(Value::as_str)
        .unwrap_or("")
        .to_string()
}

/// A modal was submitted.
async fn submission(s: &Shared, api: &SlackApi, caller: &Caller, payload: &Value) -> Response {
    let meta: Value = payload
        .pointer("/view/private_metadata")
        .and_then(Value::as_str)
        .and_then(|m| serde_json::from_str(m).ok())
        .unwrap_or(Value::Null);
    let meta_text = |k: &str| meta[k].as_str().unwrap_or("").to_string();
    match payload
        .pointer("/view/callback_id")
        .and_then(Value::as_str)
        .unwrap_or("")
    {
        VIEW_REQUEST => {
            let picked_value = picked(payload, "entitlement");
            let Some((app_id, entitlement_id)) = picked_value.split_once('/') else {
                return view_errors("entitlement", "Choose what you need.");
            };
            let justification = input_text(payload, "justification");
            if justification.is_empty() {
                return view_errors("justification", "Say why you need this access.");
            }
            let duration = match picked(payload, "duration").as_str() {
                "" => None,
                secs => match secs.parse::<i64>() {
                    Ok(n) if n > 0 => Some(Duration::from_secs(n)),
                    _ => return view_errors("duration", "Choose one of the lengths offered."),
                },
            };
            let emergency = payload
                .pointer("/view/state/values/emergency/pick/selected_options")
                .and_then(Value::as_array)
                .is_some_and(|o| o.iter().any(|x| x["value"] == "yes"));
            let result = request_access(
                s,
                caller,
                AccessRequest {
                    app_id: app_id.to_string(),
                    entitlement_id: entitlement_id.to_string(),
                    justification,
                    duration,
                    emergency,
                    ..Default::default()
                },
                TaskOrigin::Slack,
            )
            .await;
            match result {
                Ok(task) => {
                    let link = format!(
                        "{}/app/tasks/{}",
                        s.public_url.trim_end_matches('/'),
                        task.id
                    );
                    let status = if task.state == TaskState::Closed {
                        "It was decided at once; you will get a message with the outcome."
                    } else {
                        "You will get a message here when it is approved or denied, or when an approver needs more information."
                    };
                    Json(json!({"response_action": "update", "view": {
                        "type": "modal",
                        "title": {"type": "plain_text", "text": "Request submitted"},
                        "close": {"type": "plain_text", "text": "Done"},
                        "blocks": [{"type": "section", "text": {"type": "mrkdwn", "text": format!(
                            "Request *#{}* for *{}* is submitted. {status}\n<{link}|Open it in Chamberlain>",
                            task.numeric_id, slack::escape(&task.display_name))}}]
                    }}))
                    .into_response()
                }
                Err(e) => {
                    let block = if e.message.contains("uration") {
                        "duration"
                    } else if e.message.contains("emergency") {
                        "emergency"
                    } else if e.message.contains("ustification") {
                        "justification"
                    } else {
                        "entitlement"
                    };
                    view_errors(block, &e.message)
                }
            }
        }
        VIEW_DENY => {
            let reason = input_text(payload, "reason");
            if reason.is_empty() {
                return view_errors("reason", "Say why the request is denied.");
            }
            let task_id = meta_text("task");
            match act_on(
                s,
                caller,
                &task_id,
                Action::Deny {
                    comment: reason,
                    step_id: String::new(),
                },
            )
            .await
            {
                Ok(task) => {
                    settle_message(
                        s,
                        api,
                        &meta_text("channel"),
                        &meta_text("ts"),
                        &task,
                        "⛔ Denied by you",
                    )
                    .await;
                    Json(json!({"response_action": "clear"})).into_response()
                }
                Err(e) => view_errors("reason", &e.message),
            }
        }
        VIEW_REASSIGN => {
            let target = payload
                .pointer("/view/state/values/assignee/pick/selected_user")
                .and_then(Value::as_str)
                .unwrap_or("");
            if target.is_empty() {
                return view_errors("assignee", "Choose who should decide instead.");
            }
            let new_user = match chamberlain_user(s, api, target).await {
                Ok(u) => u,
                Err(msg) => {
                    return view_errors(
                        "assignee",
                        &format!("That person cannot be assigned: {msg}"),
                    )
                }
            };
            let task_id = meta_text("task");
            match act_on(
                s,
                caller,
                &task_id,
                Action::Reassign {
                    comment: input_text(payload, "comment"),
                    step_id: String::new(),
                    user_ids: vec![new_user.id.clone()],
                },
            )
            .await
            {
                Ok(task) => {
                    let who = if new_user.display_name.is_empty() {
                        new_user.email.clone()
                    } else {
                        new_user.display_name.clone()
                    };
                    settle_message(
                        s,
                        api,
                        &meta_text("channel"),
                        &meta_text("ts"),
                        &task,
                        &format!("↪️ Reassigned by you to {who}"),
                    )
                    .await;
                    Json(json!({"response_action": "clear"})).into_response()
                }
                Err(e) => view_errors("assignee", &e.message),
            }
        }
        _ => StatusCode::OK.into_response(),
    }
}
