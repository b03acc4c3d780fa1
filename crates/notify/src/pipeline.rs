//! The fan-out: change events → one notification per recipient, type and channel.
//!
//! It reads `change_events` after the `notifications` cursor, works out who is told what
//! ([`notices_for`]), filters by the tenant's and each user's preferences, and in one
//! transaction inserts the notifications (with their delivery jobs) and moves the cursor. Two
//! runs at once cannot both apply a batch: the cursor moves conditionally, and the loser rolls
//! back and reads again; the unique de-duplication key makes a repeated insert a no-op anyway.

use crate::message::{NotificationKind, Outgoing};
use chamberlain_model::app::{App, AppEntitlement, AppUser};
use chamberlain_model::notification::{Channel, ChannelSettings};
use chamberlain_model::user::{User, UserStatus};
use chamberlain_store::record::{self, Sql};
use chamberlain_store::repo::jobs::{self, ChangeEvent};
use chamberlain_store::repo::notifications::{self as repo, NewNotification, CURSOR};
use chamberlain_store::{AuditCtx, Store, StoreError};
use serde_json::Value;
use std::collections::HashMap;
use std::time::Duration;

/// Events younger than this are left for the next run: ids are taken inside transactions on
/// several replicas, so a just-committed event may sort before one already read.
pub const SETTLE: Duration = Duration::from_millis(1000);
/// Events read per transaction.
const BATCH: i64 = 500;
/// The settings kind of the tenant's notification settings (`app_settings`, tenant row).
pub const ORG_SETTINGS: &str = "notification settings";

/// What the fan-out needs to know about the installation.
#[derive(Clone, Debug)]
pub struct Environment {
    /// The server's public URL (links in messages).
    pub public_url: String,
    /// Whether email can be delivered (SMTP configured).
    pub email: bool,
    /// Whether Slack can be delivered (the Slack integration configured and enabled).
    pub slack: bool,
}

impl Environment {
    fn channels(&self) -> Vec<Channel> {
        let mut out = Vec::new();
        if self.email {
            out.push(Channel::Email);
        }
        if self.slack {
            out.push(Channel::Slack);
        }
        out
    }

    /// The web app page of a task.
    pub fn task_link(&self, task_id: &str) -> String {
        format!(
            "{}/app/tasks/{task_id}",
            self.public_url.trim_end_matches('/')
        )
    }

    /// The web app page of the user's access.
    pub fn access_link(&self) -> String {
        format!("{}/app/access", self.public_url.trim_end_matches('/'))
    }

    /// The web app page of the user's tasks.
    pub fn tasks_link(&self) -> String {
        format!("{}/app/tasks", self.public_url.trim_end_matches('/'))
    }
}

/// The tenant's notification settings, complete (defaults filled in).
pub async fn org_settings(store: &Store) -> Result<ChannelSettings, StoreError> {
    let saved: Option<ChannelSettings> = chamberlain_store::repo::settings::get(
        store,
        chamberlain_store::repo::ai_governance::TENANT,
        ORG_SETTINGS,
    )
    .await?;
    Ok(saved
        .unwrap_or_default()
        .filled_from(&ChannelSettings::tenant_default()))
}

/// One thing to tell one person, before channels.
#[derive(Clone, Debug)]
pub struct Notice {
    pub user_id: String,
    pub kind: NotificationKind,
    pub subject: String,
    pub text: String,
    pub link: String,
    pub task_id: Option<String>,
    pub task_actions: bool,
}

/// The wire name of a kind (the preference it is governed by).
pub fn preference_name(kind: NotificationKind) -> &'static str {
    match kind {
        NotificationKind::ApprovalNeeded => "approvalNeeded",
        NotificationKind::ProvisioningRequest => "provisioningRequest",
        NotificationKind::RequestCreated => "requestCreated",
        NotificationKind::Completion => "completion",
        NotificationKind::CommentOnRequest => "commentOnRequest",
        NotificationKind::AccessProvisioned => "accessProvisioned",
        NotificationKind::ExpiringAccess => "expiringAccess",
        NotificationKind::Digest => "digest",
        NotificationKind::TaskClosed => "taskClosed",
    }
}

/// Applies every settled event after the cursor. Returns the notifications created.
pub async fn fan_out(store: &Store, env: &Environment) -> Result<usize, StoreError> {
    let mut created = 0;
    loop {
        let from = repo::cursor(store, CURSOR).await?;
        let events = jobs::events_after(store, &from, SETTLE, BATCH).await?;
        let Some(last) = events.last() else {
            return Ok(created);
        };
        let to = last.id.clone();
        let items = if env.email || env.slack {
            plan(store, env, &events).await?
        } else {
            Vec::new()
        };
        let ctx = AuditCtx::system("notifications");
        let result = chamberlain_store::write_tx!(store, &ctx, |tx| {
            repo::advance_cursor(tx, CURSOR, &from, &to).await?;
            repo::insert_new(tx, &items).await
        });
        match result {
            Ok(ids) => created += ids.len(),
            // Another replica applied this batch first: read again from its cursor.
            Err(StoreError::Stale(_)) => continue,
            Err(e) => return Err(e),
        }
        if (events.len() as i64) < BATCH {
            return Ok(created);
        }
    }
}

/// The notifications a batch of events asks for, after preferences.
async fn plan(
    store: &Store,
    env: &Environment,
    events: &[ChangeEvent],
) -> Result<Vec<NewNotification>, StoreError> {
    let mut names = Names::new(store);
    let mut per_event = Vec::new();
    for e in events {
        let notices = notices_for(&mut names, env, e).await?;
        if !notices.is_empty() {
            per_event.push((e.id.clone(), notices));
        }
    }
    if per_event.is_empty() {
        return Ok(Vec::new());
    }
    let org = org_settings(store).await?;
    let mut ids: Vec<String> = per_event
        .iter()
        .flat_map(|(_, ns)| ns.iter().map(|n| n.user_id.clone()))
        .collect();
    ids.sort();
    ids.dedup();
    let own = repo::users_settings(store, &ids).await?;
    let mut out = Vec::new();
    for (event_id, notices) in per_event {
        for n in notices {
            let Some(user) = names.user(&n.user_id).await? else {
                continue;
            };
            for channel in env.channels() {
                if channel == Channel::Email && user.email.is_empty() {
                    continue;
                }
                let pref = preference_name(n.kind);
                if n.kind == NotificationKind::TaskClosed {
                    // Updates messages already sent; only Slack's carry buttons.
                    if channel != Channel::Slack {
                        continue;
                    }
                } else if !org.wants(own.get(&n.user_id), channel, pref) {
                    continue;
                }
                out.push(new_notification(
                    format!("{event_id}:{}:{pref}:{}", n.user_id, channel.as_str()),
                    &user,
                    channel,
                    &n,
                ));
            }
        }
    }
    Ok(out)
}

/// The row for one notice on one channel.
pub fn new_notification(
    dedupe_key: String,
    user: &User,
    channel: Channel,
    n: &Notice,
) -> NewNotification {
    let msg = Outgoing {
        id: String::new(),
        kind: n.kind,
        user_id: user.id.clone(),
        email: user.email.clone(),
        display_name: user.display_name.clone(),
        subject: n.subject.clone(),
        text: n.text.clone(),
        link: n.link.clone(),
        task_id: n.task_id.clone(),
        task_actions: n.task_actions,
    };
    NewNotification {
        dedupe_key,
        user_id: user.id.clone(),
        kind: preference_name(n.kind).into(),
        channel: channel.as_str().into(),
        doc: serde_json::to_value(&msg).unwrap_or(Value::Null),
    }
}

/// Display names looked up once per batch.
pub struct Names<'a> {
    store: &'a Store,
    users: HashMap<String, Option<User>>,
    apps: HashMap<String, String>,
    entitlements: HashMap<String, String>,
    gateway_apps: HashMap<String, bool>,
}

impl<'a> Names<'a> {
    pub fn new(store: &'a Store) -> Self {
        Names {
            store,
            users: HashMap::new(),
            apps: HashMap::new(),
            entitlements: HashMap::new(),
            gateway_apps: HashMap::new(),
        }
    }

    /// An active user (None for unknown, disabled or deleted users: they are not notified).
    pub async fn user(&mut self, id: &str) -> Result<Option<User>, StoreError> {
        if id.is_empty() {
            return Ok(None);
        }
        if !self.users.contains_key(id) {
            let u: Option<User> = record::get(self.store.pool(), id, false).await?;
            let u = u.filter(|u| !matches!(u.status, UserStatus::Disabled | UserStatus::Deleted));
            self.users.insert(id.to_string(), u);
        }
        Ok(self.users[id].clone())
    }

    async fn user_name(&mut self, id: &str) -> Result<String, StoreError> {
        Ok(match self.user(id).await? {
            Some(u) if !u.display_name.is_empty() => u.display_name,
            Some(u) => u.email,
            None => "someone".into(),
        })
    }

    /// An app's display name.
    pub async fn app_name(&mut self, id: &str) -> Result<String, StoreError> {
        if !self.apps.contains_key(id) {
            let a: Option<App> = record::get(self.store.pool(), id, true).await?;
            let name = a.map(|a| a.display_name).unwrap_or_else(|| id.to_string());
            self.apps.insert(id.to_string(), name);
        }
        Ok(self.apps[id].clone())
    }

    /// An entitlement's display name (its slug when it has none).
    pub async fn entitlement_name(&mut self, id: &str) -> Result<String, StoreError> {
        if !self.entitlements.contains_key(id) {
            let e: Option<AppEntitlement> = record::get(self.store.pool(), id, true).await?;
            let name = e
                .map(|e| {
                    if e.display_name.is_empty() {
                        e.slug
                    } else {
                        e.display_name
                    }
                })
                .unwrap_or_else(|| id.to_string());
            self.entitlements.insert(id.to_string(), name);
        }
        Ok(self.entitlements[id].clone())
    }

    /// Whether the app is an MCP gateway app (its entitlements are tools and toolsets).
    async fn is_gateway_app(&mut self, id: &str) -> Result<bool, StoreError> {
        if !self.gateway_apps.contains_key(id) {
            let mut sql = Sql::new("SELECT 1 FROM mcp_servers WHERE app_id = ");
            sql.arg(id).push(" LIMIT 1");
            let hit = sql
                .query()
                .fetch_optional(self.store.pool())
                .await?
                .is_some();
            self.gateway_apps.insert(id.to_string(), hit);
        }
        Ok(self.gateway_apps[id])
    }
}

fn s<'v>(doc: &'v Value, key: &str) -> &'v str {
    doc[key].as_str().unwrap_or("")
}

/// What an event tells whom (before preferences and channels).
pub async fn notices_for(
    names: &mut Names<'_>,
    env: &Environment,
    e: &ChangeEvent,
) -> Result<Vec<Notice>, StoreError> {
    let d = &e.doc;
    match e.kind.as_str() {
        chamberlain_store::repo::tasks::CHANGED_EVENT => task_changed(names, env, d).await,
        chamberlain_store::repo::tasks::COMMENTED_EVENT => task_commented(names, env, d).await,
        "grant.expiring" => {
            let what = names.entitlement_name(s(d, "appEntitlementId")).await?;
            let app = names.app_name(s(d, "appId")).await?;
            let at = s(d, "deprovisionAt");
            Ok(vec![Notice {
                user_id: s(d, "userId").to_string(),
                kind: NotificationKind::ExpiringAccess,
                subject: format!("Your access to {what} in {app} ends soon"),
                text: format!(
                    "Your access to {what} in {app} ends at {at}.\n\nIf you still need it, request it again or ask for an extension before then."
                ),
                link: env.access_link(),
                task_id: None,
                task_actions: false,
            }])
        }
        "grant.changed" => grant_changed(names, env, e).await,
        _ => Ok(Vec::new()),
    }
}

/// A task's "what": `Admin in GitHub`.
async fn task_target(names: &mut Names<'_>, d: &Value) -> Result<String, StoreError> {
    let what = names.entitlement_name(s(d, "appEntitlementId")).await?;
    let app = names.app_name(s(d, "appId")).await?;
    Ok(format!("{what} in {app}"))
}

async fn task_changed(
    names: &mut Names<'_>,
    env: &Environment,
    d: &Value,
) -> Result<Vec<Notice>, StoreError> {
    let kind = s(d, "kind");
    if kind != "grant" && kind != "revoke" {
        return Ok(Vec::new());
    }
    let task_id = s(d, "taskId").to_string();
    let number = s(d, "numericId");
    let target = task_target(names, d).await?;
    let requester = s(d, "requesterId").to_string();
    let subject_user = s(d, "subjectUserId").to_string();
    let closed = s(d, "state") == "TASK_STATE_CLOSED";
    let link = env.task_link(&task_id);
    let verb = if kind == "grant" {
        "access to"
    } else {
        "removal of"
    };
    let mut out = Vec::new();
    let for_whom = if subject_user.is_empty() || subject_user == requester {
        String::new()
    } else {
        format!(" for {}", names.user_name(&subject_user).await?)
    };
    if d["created"].as_bool() == Some(true) && !closed && names.user(&requester).await?.is_some() {
        out.push(Notice {
            user_id: requester.clone(),
            kind: NotificationKind::RequestCreated,
            subject: format!("Request #{number} submitted: {verb} {target}"),
            text: format!(
                "Your request #{number} for {verb} {target}{for_whom} was submitted.\n\nYou will be told when it is decided."
            ),
            link: link.clone(),
            task_id: Some(task_id.clone()),
            task_actions: false,
        });
    }
    // Tasks the system opened (expiry, automation) are not anyone's request: the access
    // change itself is announced from the grant event.
    if closed && names.user(&requester).await?.is_some() {
        let outcome = s(d, "outcome");
        let (headline, detail) = match outcome {
            "GRANT_OUTCOME_GRANTED" => (
                "approved",
                format!("was approved: you now have access to {target}"),
            ),
            "REVOKE_OUTCOME_REVOKED" => (
                "completed",
                format!("was completed: access to {target} was removed"),
            ),
            "GRANT_OUTCOME_DENIED" | "REVOKE_OUTCOME_DENIED" => {
                ("denied", "was denied".to_string())
            }
            "GRANT_OUTCOME_CANCELLED" | "REVOKE_OUTCOME_CANCELLED" => {
                ("cancelled", "was cancelled".to_string())
            }
            "GRANT_OUTCOME_WAIT_TIMED_OUT" | "REVOKE_OUTCOME_WAIT_TIMED_OUT" => {
                ("timed out", "timed out before it was decided".to_string())
            }
            _ => ("closed", "was closed with an error".to_string()),
        };
        out.push(Notice {
            user_id: requester.clone(),
            kind: NotificationKind::TaskClosed,
            subject: format!("Request #{number} {headline}: {verb} {target}"),
            text: String::new(),
            link: link.clone(),
            task_id: Some(task_id.clone()),
            task_actions: false,
        });
        let mut told = Vec::new();
        for u in [&requester, &subject_user] {
            if told.contains(u) || names.user(u).await?.is_none() {
                continue;
            }
            told.push(u.clone());
            out.push(Notice {
                user_id: u.clone(),
                kind: NotificationKind::Completion,
                subject: format!("Request #{number} {headline}: {verb} {target}"),
                text: format!("Request #{number} for {verb} {target}{for_whom} {detail}."),
                link: link.clone(),
                task_id: Some(task_id.clone()),
                task_actions: false,
            });
        }
        return Ok(out);
    }
    if closed {
        return Ok(out);
    }
    let step = s(d, "step");
    let requester_name = names.user_name(&requester).await?;
    for a in d["newAssignees"].as_array().into_iter().flatten() {
        let Some(a) = a.as_str() else { continue };
        let (kind, subject, text) = if step == "provision" {
            (
                NotificationKind::ProvisioningRequest,
                format!("Provisioning needed for request #{number}: {target}"),
                format!(
                    "Request #{number} from {requester_name} for {verb} {target}{for_whom} was approved and needs you to carry it out.\n\nMark the step done once the change is made."
                ),
            )
        } else {
            (
                NotificationKind::ApprovalNeeded,
                format!("Approval needed for request #{number}: {target}"),
                format!(
                    "{requester_name} requests {verb} {target}{for_whom} (request #{number}).\n\nReview the request and approve or deny it."
                ),
            )
        };
        out.push(Notice {
            user_id: a.to_string(),
            kind,
            subject,
            text,
            link: link.clone(),
            task_id: Some(task_id.clone()),
            task_actions: kind == NotificationKind::ApprovalNeeded,
        });
    }
    Ok(out)
}

async fn task_commented(
    names: &mut Names<'_>,
    env: &Environment,
    d: &Value,
) -> Result<Vec<Notice>, StoreError> {
    if s(d, "state") == "TASK_STATE_CLOSED" {
        return Ok(Vec::new());
    }
    let author = s(d, "authorId");
    let author_name = names.user_name(author).await?;
    let number = s(d, "numericId");
    let task_id = s(d, "taskId").to_string();
    let mut out = Vec::new();
    let mut told: Vec<String> = Vec::new();
    for u in [s(d, "requesterId"), s(d, "subjectUserId")] {
        if u == author || told.iter().any(|t| t == u) || names.user(u).await?.is_none() {
            continue;
        }
        told.push(u.to_string());
        out.push(Notice {
            user_id: u.to_string(),
            kind: NotificationKind::CommentOnRequest,
            subject: format!("More information needed on request #{number}"),
            text: format!(
                "{author_name} commented on request #{number}:\n\n{}\n\nReply on the request so it can be decided.",
                s(d, "comment")
            ),
            link: env.task_link(&task_id),
            task_id: Some(task_id.clone()),
            task_actions: false,
        });
    }
    Ok(out)
}

async fn grant_changed(
    names: &mut Names<'_>,
    env: &Environment,
    e: &ChangeEvent,
) -> Result<Vec<Notice>, StoreError> {
    let d = &e.doc;
    let account: Option<AppUser> = record::get(names.store.pool(), s(d, "appUserId"), true).await?;
    let Some(user_id) = account
        .map(|a| a.identity_user_id)
        .filter(|u| !u.is_empty())
    else {
        return Ok(Vec::new());
    };
    let granted = d["granted"].as_bool() == Some(true);
    let what = names.entitlement_name(s(d, "appEntitlementId")).await?;
    let app = names.app_name(&e.app_id).await?;
    let (subject, text) = if e.app_id == chamberlain_store::repo::catalogs::BUILTIN_APP_ID {
        if granted {
            (
                    format!("You joined the access profile {what}"),
                    format!("You are now a member of the access profile {what}; its access is being set up for you."),
                )
        } else {
            (
                    format!("You left the access profile {what}"),
                    format!("You are no longer a member of the access profile {what}; the access it gave you is being removed."),
                )
        }
    } else if names.is_gateway_app(&e.app_id).await? {
        if granted {
            (
                    format!("Tool access granted: {what}"),
                    format!("You can now use {what} ({app}) from your AI client. Refresh its tool list to see the new tools."),
                )
        } else {
            (
                format!("Tool access removed: {what}"),
                format!("You can no longer use {what} ({app}) from your AI client."),
            )
        }
    } else if granted {
        (
            format!("Access granted: {what} in {app}"),
            format!("You now have {what} in {app}."),
        )
    } else {
        (
            format!("Access removed: {what} in {app}"),
            format!("You no longer have {what} in {app}."),
        )
    };
    Ok(vec![Notice {
        user_id,
        kind: NotificationKind::AccessProvisioned,
        subject,
        text,
        link: env.access_link(),
        task_id: None,
        task_actions: false,
    }])
}
