//! Outbound webhooks (`c1.api.webhooks.v1.Webhook`) and what one delivery of them looks like on
//! the wire (`c1.api.webhooks.v1.WebhookInstance`).

use crate::protojson::{Duration, Timestamp};
use crate::wire_enum;
use serde::{Deserialize, Serialize};

/// Shortest callback timeout C1 accepts (1 day).
pub const MIN_CALLBACK_TIMEOUT_SECS: i64 = 86_400;
/// Longest callback timeout C1 accepts (30 days).
pub const MAX_CALLBACK_TIMEOUT_SECS: i64 = 30 * 86_400;
/// Callback timeout when none is given (8 days).
pub const DEFAULT_CALLBACK_TIMEOUT_SECS: i64 = 8 * 86_400;

/// `c1.api.webhooks.v1.Webhook`.
#[derive(Clone, Debug, Default, Serialize, Deserialize, PartialEq)]
#[serde(rename_all = "camelCase", default, deny_unknown_fields)]
pub struct Webhook {
    pub id: String,
    pub display_name: String,
    pub description: String,
    pub url: String,
    pub callback_timeout: Option<Duration>,
    pub created_at: Option<Timestamp>,
    pub updated_at: Option<Timestamp>,
    pub deleted_at: Option<Timestamp>,
}

impl Webhook {
    /// The callback timeout in seconds (the default when unset).
    pub fn callback_timeout_secs(&self) -> i64 {
        self.callback_timeout
            .map(|d| d.seconds)
            .unwrap_or(DEFAULT_CALLBACK_TIMEOUT_SECS)
    }
}

wire_enum!(
    /// `c1.api.webhooks.v1.WebhookInstance.state`.
    WebhookState {
        Unspecified = "WEBHOOK_STATE_UNSPECIFIED",
        Pending = "WEBHOOK_STATE_PENDING",
        Running = "WEBHOOK_STATE_RUNNING",
        Error = "WEBHOOK_STATE_ERROR",
        WaitingCallback = "WEBHOOK_STATE_WAITING_CALLBACK",
        ProcessResponse = "WEBHOOK_STATE_PROCESS_RESPONSE",
        Success = "WEBHOOK_STATE_SUCCESS",
        FatalError = "WEBHOOK_STATE_FATAL_ERROR",
    }
);

/// `c1.api.webhooks.v1.WebhookSpec`.
#[derive(Clone, Debug, Default, Serialize, Deserialize, PartialEq)]
#[serde(rename_all = "camelCase", default)]
pub struct WebhookSpec {
    pub destination: String,
}

/// `c1.api.webhooks.v1.WebhookInstance`: one delivery of a webhook. `lastError` and `reply`
/// are Chamberlain extensions (the outcome the test button reports).
#[derive(Clone, Debug, Default, Serialize, Deserialize, PartialEq)]
#[serde(rename_all = "camelCase", default)]
pub struct WebhookInstance {
    pub id: String,
    pub webhook_id: String,
    pub state: WebhookState,
    pub attempts: i32,
    pub spec: Option<WebhookSpec>,
    pub source: Option<serde_json::Value>,
    pub created_at: Option<Timestamp>,
    pub updated_at: Option<Timestamp>,
    pub last_attempted_at: Option<Timestamp>,
    pub completed_at: Option<Timestamp>,
    pub expires_at: Option<Timestamp>,
    pub last_error: String,
    pub reply: Option<serde_json::Value>,
}
