//! Slack (migration 0020): links between Slack users and Chamberlain users, the DMs that carry
//! a task's buttons, and the replay guard of signed requests from Slack.

use crate::record::Sql;
use crate::tx::Activity;
use crate::{Store, StoreError, Tx};
use chamberlain_model::Timestamp;
use serde_json::json;
use sqlx::Row;

/// A Slack user linked to a Chamberlain user.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct SlackLink {
    pub team_id: String,
    pub slack_user_id: String,
    pub user_id: String,
    /// The confirmed email the link was made from.
    pub email: String,
}

fn link_of(r: &sqlx::any::AnyRow) -> Result<SlackLink, StoreError> {
    Ok(SlackLink {
        team_id: r.try_get("team_id")?,
        slack_user_id: r.try_get("slack_user_id")?,
        user_id: r.try_get("user_id")?,
        email: r.try_get("email")?,
    })
}

/// The link of a Chamberlain user (the most recent, if they have several Slack accounts).
pub async fn link_of_user(store: &Store, user_id: &str) -> Result<Option<SlackLink>, StoreError> {
    let mut sql = Sql::new(
        "SELECT team_id, slack_user_id, user_id, email FROM slack_user_links WHERE user_id = ",
    );
    sql.arg(user_id)
        .push(" ORDER BY linked_at DESC, slack_user_id LIMIT 1");
    match sql.query().fetch_optional(store.pool()).await? {
        Some(r) => Ok(Some(link_of(&r)?)),
        None => Ok(None),
    }
}

/// The link of a Slack user, if any.
pub async fn link_of_slack_user(
    store: &Store,
    team_id: &str,
    slack_user_id: &str,
) -> Result<Option<SlackLink>, StoreError> {
    let mut sql = Sql::new(
        "SELECT team_id, slack_user_id, user_id, email FROM slack_user_links WHERE team_id = ",
    );
    sql.arg(team_id)
        .push(" AND slack_user_id = ")
        .arg(slack_user_id);
    match sql.query().fetch_optional(store.pool()).await? {
        Some(r) => Ok(Some(link_of(&r)?)),
        None => Ok(None),
    }
}

/// Records (or moves) the link of a Slack user, in the system log.
pub async fn save_link(tx: &mut Tx<'_>, link: &SlackLink) -> Result<(), StoreError> {
    let mut sel = Sql::new(
        "SELECT team_id, slack_user_id, user_id, email FROM slack_user_links WHERE team_id = ",
    );
    sel.arg(link.team_id.as_str())
        .push(" AND slack_user_id = ")
        .arg(link.slack_user_id.as_str());
    let before = match sel.query().fetch_optional(tx.conn()).await? {
        Some(r) => Some(link_of(&r)?),
        None => None,
    };
    if before.as_ref() == Some(link) {
        return Ok(());
    }
    let mut sql = Sql::new(
        "INSERT INTO slack_user_links (team_id, slack_user_id, user_id, email, linked_at) VALUES (",
    );
    sql.arg(link.team_id.as_str())
        .push(", ")
        .arg(link.slack_user_id.as_str())
        .push(", ")
        .arg(link.user_id.as_str())
        .push(", ")
        .arg(link.email.as_str())
        .push(", ")
        .arg(tx.now().as_micros())
        .push(
            ") ON CONFLICT (team_id, slack_user_id) DO UPDATE SET user_id = excluded.user_id, \
             email = excluded.email, linked_at = excluded.linked_at",
        );
    tx.exec(&sql).await?;
    let doc = |l: &SlackLink| json!({"teamId": l.team_id, "slackUserId": l.slack_user_id, "userId": l.user_id, "email": l.email});
    let activity = if before.is_some() {
        Activity::Update
    } else {
        Activity::Create
    };
    tx.audit(
        activity,
        "slack user link",
        &format!("{}:{}", link.team_id, link.slack_user_id),
        before.as_ref().map(doc),
        Some(doc(link)),
    )
    .await
}

/// Remembers a signed request's digest. Returns false when it was seen before (a replay).
/// Digests older than `forget_before` are deleted on the way.
pub async fn first_sighting(
    store: &Store,
    digest: &str,
    now: Timestamp,
    forget_before: Timestamp,
) -> Result<bool, StoreError> {
    let mut prune = Sql::new("DELETE FROM slack_request_digests WHERE seen_at < ");
    prune.arg(forget_before.as_micros());
    prune.query().execute(store.pool()).await?;
    let mut sql = Sql::new("INSERT INTO slack_request_digests (digest, seen_at) VALUES (");
    sql.arg(digest)
        .push(", ")
        .arg(now.as_micros())
        .push(") ON CONFLICT (digest) DO NOTHING");
    let done = sql.query().execute(store.pool()).await?;
    Ok(done.rows_affected() == 1)
}

/// Remembers a DM that carries a task's buttons.
pub async fn record_task_message(
    store: &Store,
    channel: &str,
    ts: &str,
    task_id: &str,
    user_id: &str,
) -> Result<(), StoreError> {
    let mut sql = Sql::new(
        "INSERT INTO slack_task_messages (channel, ts, task_id, user_id, created_at) VALUES (",
    );
    sql.arg(channel)
        .push(", ")
        .arg(ts)
        .push(", ")
        .arg(task_id)
        .push(", ")
        .arg(user_id)
        .push(", ")
        .arg(Timestamp::now().as_micros())
        .push(") ON CONFLICT (channel, ts) DO NOTHING");
    sql.query().execute(store.pool()).await?;
    Ok(())
}

/// The DMs (channel, ts) that carry a task's buttons.
pub async fn task_messages(
    store: &Store,
    task_id: &str,
) -> Result<Vec<(String, String)>, StoreError> {
    let mut sql = Sql::new("SELECT channel, ts FROM slack_task_messages WHERE task_id = ");
    sql.arg(task_id).push(" ORDER BY created_at, channel, ts");
    sql.query()
        .fetch_all(store.pool())
        .await?
        .iter()
        .map(|r| Ok((r.try_get(0)?, r.try_get(1)?)))
        .collect()
}

/// Forgets a DM once it no longer offers buttons.
pub async fn forget_task_message(store: &Store, channel: &str, ts: &str) -> Result<(), StoreError> {
    let mut sql = Sql::new("DELETE FROM slack_task_messages WHERE channel = ");
    sql.arg(channel).push(" AND ts = ").arg(ts);
    sql.query().execute(store.pool()).await?;
    Ok(())
}
