//! What a channel is asked to deliver: one rendered notification for one person.

use serde::{Deserialize, Serialize};

/// The notification types, named as C1's notification preferences name them
/// (`c1.api.settings.v1.EmailChannelSettings` fields).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub enum NotificationKind {
    /// An approval step of a request is assigned to the recipient.
    ApprovalNeeded,
    /// A manual provisioning step is assigned to the recipient.
    ProvisioningRequest,
    /// The recipient's request was submitted.
    RequestCreated,
    /// The recipient's request was decided (approved, denied, cancelled, timed out).
    Completion,
    /// Someone else commented on the recipient's request (more information needed).
    CommentOnRequest,
    /// Access was provisioned to or removed from the recipient (entitlements, tools, profiles).
    AccessProvisioned,
    /// The recipient's time-bound access ends within three business days.
    ExpiringAccess,
    /// The daily or weekly summary of what is waiting for the recipient.
    Digest,
    /// Not a message: a request closed, so the Slack DMs that offered its approve / deny /
    /// reassign buttons are updated to say so (Slack only; no preference governs it).
    TaskClosed,
}

/// One notification, rendered, for one recipient on one channel.
#[derive(Clone, Debug, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct Outgoing {
    /// The notification row's id (stable across retries: channels may use it to de-duplicate).
    pub id: String,
    pub kind: NotificationKind,
    /// The Chamberlain user it is for.
    pub user_id: String,
    /// The recipient's primary email (empty when the user has none).
    pub email: String,
    pub display_name: String,
    /// One line: the email subject, the Slack notification text.
    pub subject: String,
    /// The body as plain text (paragraphs separated by blank lines).
    pub text: String,
    /// Where to see or act on the item in the web app (absolute URL).
    pub link: String,
    /// The task it is about, if any.
    pub task_id: Option<String>,
    /// Whether the recipient can act on the task from the message (approve / deny / reassign).
    pub task_actions: bool,
}

/// Why a delivery attempt did not succeed.
#[derive(Debug, thiserror::Error)]
pub enum DeliveryError {
    /// Worth trying again later (timeouts, refused connections, 4xx/5xx that are temporary,
    /// rate limits).
    #[error("{0}")]
    Retryable(String),
    /// Trying again cannot help (no such recipient, channel not configured, rejected
    /// credentials); the notification is marked failed at once.
    #[error("{0}")]
    Permanent(String),
}
