//! Digests: a daily (weekdays) or weekly summary of the tasks waiting for someone, sent only
//! when something is waiting. Each is keyed by its period (`digest:<date or week>:<user>:
//! <channel>`), so however often this runs, a person gets at most one per period.

use crate::message::NotificationKind;
use crate::pipeline::{new_notification, org_settings, Environment, Names, Notice};
use chamberlain_model::notification::{Channel, DigestFrequency};
use chamberlain_store::record::Sql;
use chamberlain_store::repo::notifications::{self as repo, NewNotification};
use chamberlain_store::{AuditCtx, Store, StoreError};
use jiff::civil::Weekday;
use sqlx::Row;
use std::collections::BTreeMap;

/// When digests go out, in the tenant's time zone.
#[derive(Clone, Debug)]
pub struct DigestClock {
    pub time_zone: jiff::tz::TimeZone,
    /// Daily digests go out on weekdays from this hour.
    pub daily_hour: i8,
    /// Weekly digests go out on the chosen day from this hour.
    pub weekly_hour: i8,
}

impl Default for DigestClock {
    fn default() -> Self {
        DigestClock {
            time_zone: jiff::tz::TimeZone::UTC,
            daily_hour: 9,
            weekly_hour: 10,
        }
    }
}

/// Tasks listed in one digest at most.
const LISTED: usize = 20;

/// A waiting task as a digest lists it.
struct Waiting {
    task_id: String,
    numeric_id: i64,
    app_id: String,
    entitlement_id: String,
    kind: String,
}

/// Queues the digests due at `now`. Returns how many were queued.
pub async fn queue_due(
    store: &Store,
    env: &Environment,
    clock: &DigestClock,
    now: jiff::Timestamp,
) -> Result<usize, StoreError> {
    if !env.email && !env.slack {
        return Ok(0);
    }
    let local = now.to_zoned(clock.time_zone.clone());
    let rows = Sql::new("SELECT a.user_id, t.id, t.numeric_id, t.app_id, t.entitlement_id, t.kind FROM task_assignees a JOIN tasks t ON t.id = a.task_id ORDER BY a.user_id, t.numeric_id")
        .query()
        .fetch_all(store.pool())
        .await?;
    let mut waiting: BTreeMap<String, Vec<Waiting>> = BTreeMap::new();
    for r in &rows {
        waiting.entry(r.try_get(0)?).or_default().push(Waiting {
            task_id: r.try_get(1)?,
            numeric_id: r.try_get(2)?,
            app_id: r.try_get(3)?,
            entitlement_id: r.try_get(4)?,
            kind: r.try_get(5)?,
        });
    }
    if waiting.is_empty() {
        return Ok(0);
    }
    let org = org_settings(store).await?;
    let ids: Vec<String> = waiting.keys().cloned().collect();
    let own = repo::users_settings(store, &ids).await?;
    let mut names = Names::new(store);
    let mut items: Vec<NewNotification> = Vec::new();
    for (user_id, tasks) in &waiting {
        for channel in [Channel::Email, Channel::Slack] {
            if (channel == Channel::Email && !env.email)
                || (channel == Channel::Slack && !env.slack)
            {
                continue;
            }
            let Some(pref) = org.digest(own.get(user_id), channel) else {
                continue;
            };
            let period = match pref.frequency {
                DigestFrequency::Weekly => {
                    let day = Weekday::from_monday_one_offset(pref.day_of_week.iso_number())
                        .unwrap_or(Weekday::Monday);
                    if local.weekday() != day || local.hour() < clock.weekly_hour {
                        continue;
                    }
                    let week = local.date().iso_week_date();
                    format!("{}-W{:02}", week.year(), week.week())
                }
                _ => {
                    if matches!(local.weekday(), Weekday::Saturday | Weekday::Sunday)
                        || local.hour() < clock.daily_hour
                    {
                        continue;
                    }
                    local.date().to_string()
                }
            };
            let Some(user) = names.user(user_id).await? else {
                continue;
            };
            let notice = render(&mut names, env, tasks).await?;
            items.push(new_notification(
                format!("digest:{period}:{user_id}:{}", channel.as_str()),
                &user,
                channel,
                &notice,
            ));
        }
    }
    if items.is_empty() {
        return Ok(0);
    }
    let ctx = AuditCtx::system("notification digests");
    let ids =
        chamberlain_store::write_tx!(store, &ctx, |tx| { repo::insert_new(tx, &items).await })?;
    Ok(ids.len())
}

async fn render(
    names: &mut Names<'_>,
    env: &Environment,
    tasks: &[Waiting],
) -> Result<Notice, StoreError> {
    let n = tasks.len();
    let mut lines = Vec::new();
    for t in tasks.iter().take(LISTED) {
        let what = names.entitlement_name(&t.entitlement_id).await?;
        let app = names.app_name(&t.app_id).await?;
        let verb = if t.kind == "revoke" {
            "remove"
        } else {
            "grant"
        };
        lines.push(format!(
            "- #{}: {verb} {what} in {app} ({})",
            t.numeric_id,
            env.task_link(&t.task_id)
        ));
    }
    if n > LISTED {
        lines.push(format!("- and {} more", n - LISTED));
    }
    let plural = if n == 1 { "task is" } else { "tasks are" };
    Ok(Notice {
        user_id: String::new(),
        kind: NotificationKind::Digest,
        subject: format!("{n} {plural} waiting for you in Chamberlain"),
        text: format!("{n} {plural} waiting for you:\n\n{}", lines.join("\n")),
        link: env.tasks_link(),
        task_id: None,
        task_actions: false,
    })
}
