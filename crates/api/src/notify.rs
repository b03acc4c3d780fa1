//! The server side of notifications: the worker's fan-out, delivery and digest jobs, and which
//! channels can deliver right now (`chamberlain_notify` does the work).

use crate::state::Shared;
use chamberlain_notify::delivery::{self, Step};
use chamberlain_notify::pipeline::Environment;
use chamberlain_notify::{provider, DeliveryError, Outgoing};
use chamberlain_store::repo::jobs::{self, Job, Outcome};
use chamberlain_store::repo::notifications as repo;
use chamberlain_store::{Store, StoreError};

/// Job kind: turn new change events into notifications.
pub const FANOUT_JOB: &str = "notification_fanout";
/// Job kind: deliver one notification.
pub const DELIVERY_JOB: &str = repo::DELIVERY_JOB;

/// Whether change events exist past the pipeline's cursor.
pub async fn events_pending(store: &Store) -> Result<bool, StoreError> {
    let latest = jobs::latest_event_id(store).await?;
    Ok(latest > repo::cursor(store, repo::CURSOR).await?)
}

/// The SMTP settings in force (API settings, else the config file), or why there are none.
pub async fn smtp(s: &Shared) -> Result<Option<chamberlain_notify::email::SmtpSettings>, String> {
    provider::effective(&s.store, &s.secrets, s.jobs.smtp.as_ref()).await
}

/// Which channels can deliver now.
pub async fn environment(s: &Shared) -> Environment {
    // Unusable settings still count as configured: the notices are kept and their deliveries
    // fail visibly (and can be retried once the settings are fixed) instead of being dropped.
    let email = match smtp(s).await {
        Ok(v) => v.is_some(),
        Err(e) => {
            tracing::warn!(error = %e, "the SMTP settings are unusable; email deliveries will fail until they are fixed");
            true
        }
    };
    let slack = match chamberlain_notify::slack::effective(&s.store, &s.secrets).await {
        Ok(v) => v.is_some(),
        Err(e) => {
            tracing::warn!(error = %e, "the Slack settings are unusable; Slack deliveries will fail until they are fixed");
            true
        }
    };
    Environment {
        public_url: s.public_url.clone(),
        email,
        slack,
    }
}

/// The fan-out job.
pub async fn fan_out_job(s: &Shared) -> Outcome {
    let env = environment(s).await;
    match chamberlain_notify::pipeline::fan_out(&s.store, &env).await {
        Ok(n) => {
            if n > 0 {
                tracing::info!(created = n, "notifications created");
            }
            Outcome::Done
        }
        Err(e) => Outcome::Failed {
            error: format!("notification fan-out: {e}"),
        },
    }
}

/// Queues the digests that are due (run by the access housekeeping).
pub async fn queue_digests(s: &Shared) -> Result<usize, StoreError> {
    let env = environment(s).await;
    chamberlain_notify::digest::queue_due(&s.store, &env, &s.jobs.digest, jiff::Timestamp::now())
        .await
}

/// One delivery attempt of the notification the job names.
pub async fn delivery_job(s: &Shared, job: &Job) -> Outcome {
    let n = match repo::get(&s.store, &job.subject_id).await {
        Ok(Some(n)) => n,
        Ok(None) => return Outcome::Done,
        Err(e) => {
            return Outcome::Retry {
                error: e.to_string(),
                delay: s.jobs.notify_retry.min_delay,
            }
        }
    };
    if n.state != repo::PENDING {
        return Outcome::Done;
    }
    let result = send(s, &n).await;
    match delivery::record(&s.store, &n, result, &s.jobs.notify_retry).await {
        Ok(Step::Finished) => Outcome::Done,
        Ok(Step::RetryIn(delay, error)) => Outcome::Retry { error, delay },
        Err(e) => Outcome::Retry {
            error: e.to_string(),
            delay: s.jobs.notify_retry.min_delay,
        },
    }
}

async fn send(s: &Shared, n: &repo::Notification) -> Result<(), DeliveryError> {
    let msg: Outgoing = serde_json::from_value(n.doc.clone()).map_err(|e| {
        DeliveryError::Permanent(format!("the stored notification cannot be read: {e}"))
    })?;
    match n.channel.as_str() {
        "email" => {
            let settings = smtp(s)
                .await
                .map_err(DeliveryError::Retryable)?
                .ok_or_else(|| {
                    DeliveryError::Retryable("email is not configured (no SMTP server)".into())
                })?;
            chamberlain_notify::email::send(&settings, &msg).await
        }
        "slack" => {
            let settings = chamberlain_notify::slack::effective(&s.store, &s.secrets)
                .await
                .map_err(DeliveryError::Retryable)?
                .ok_or_else(|| {
                    DeliveryError::Retryable("the Slack integration is not enabled".into())
                })?;
            let api = crate::slack::api(s, &settings).await?;
            chamberlain_notify::slack::deliver(&api, &s.store, &msg).await
        }
        other => Err(DeliveryError::Permanent(format!(
            "the `{other}` channel is not available"
        ))),
    }
}
