//! The bookkeeping of one delivery attempt: sent, retried later with backoff, or failed for
//! good (visible to admins in the notification list and the system log).

use crate::message::DeliveryError;
use chamberlain_store::repo::notifications::{self as repo, Notification};
use chamberlain_store::{AuditCtx, Store, StoreError};
use std::time::Duration;

/// Attempts and backoff of deliveries.
#[derive(Clone, Copy, Debug)]
pub struct RetryPolicy {
    /// Attempts before a notification is marked failed.
    pub max_attempts: i64,
    /// Wait after the first failed attempt; doubled after each further one.
    pub min_delay: Duration,
    /// The longest wait between attempts.
    pub max_delay: Duration,
}

impl Default for RetryPolicy {
    /// Eight attempts over roughly two hours.
    fn default() -> Self {
        RetryPolicy {
            max_attempts: 8,
            min_delay: Duration::from_secs(60),
            max_delay: Duration::from_secs(3600),
        }
    }
}

impl RetryPolicy {
    /// The wait after `attempts` failed attempts.
    pub fn delay(&self, attempts: i64) -> Duration {
        let doublings = attempts.saturating_sub(1).clamp(0, 20) as u32;
        self.min_delay
            .saturating_mul(2u32.saturating_pow(doublings))
            .min(self.max_delay)
    }
}

/// What the delivery job does next.
#[derive(Debug, PartialEq)]
pub enum Step {
    /// Nothing more to do (sent, failed for good, or no longer pending).
    Finished,
    /// Try again after the delay; the error of this attempt.
    RetryIn(Duration, String),
}

/// Records the outcome of an attempt at `n` (whose `attempts` counts earlier attempts).
pub async fn record(
    store: &Store,
    n: &Notification,
    result: Result<(), DeliveryError>,
    policy: &RetryPolicy,
) -> Result<Step, StoreError> {
    let attempts = n.attempts + 1;
    let (error, permanent) = match result {
        Ok(()) => {
            repo::mark_sent(store, &n.id, attempts).await?;
            return Ok(Step::Finished);
        }
        Err(DeliveryError::Permanent(e)) => (e, true),
        Err(DeliveryError::Retryable(e)) => (e, false),
    };
    let give_up = permanent || attempts >= policy.max_attempts;
    let ctx = AuditCtx::system("notification delivery");
    chamberlain_store::write_tx!(store, &ctx, |tx| {
        repo::record_failure(tx, &n.id, attempts, &error, give_up).await
    })?;
    if give_up {
        tracing::warn!(notification = %n.id, channel = %n.channel, attempts, error = %error, "notification failed");
        Ok(Step::Finished)
    } else {
        Ok(Step::RetryIn(policy.delay(attempts), error))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn backoff_doubles_up_to_the_cap() {
        let p = RetryPolicy::default();
        assert_eq!(p.delay(1), Duration::from_secs(60));
        assert_eq!(p.delay(2), Duration::from_secs(120));
        assert_eq!(p.delay(4), Duration::from_secs(480));
        assert_eq!(p.delay(30), Duration::from_secs(3600));
    }
}
