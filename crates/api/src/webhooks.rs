//! Outbound webhook delivery, as C1 sends webhooks (product notes 1.10): the v1 envelope, the
//! `Webhook-*` headers, a JWT the receiver verifies against `/auth/v1/jwks`, the reply rules
//! (2xx with a JSON document, 202 then a callback, 410 stops, anything else is retried) and the
//! outbound guard (HTTPS on 443, no user info, public addresses only, no redirects, 30 s per
//! attempt, replies ≤ 250 KB).
//!
//! Deliveries are rows (`store::repo::webhooks`) attempted by `webhook_delivery` jobs; the test
//! button makes one attempt in the request.

use crate::state::AppState;
use base64::engine::general_purpose::{STANDARD, URL_SAFE_NO_PAD};
use base64::Engine;
use chamberlain_model::webhook::{Webhook, WebhookInstance, WebhookSpec, WebhookState};
use chamberlain_model::Timestamp;
use chamberlain_outbound::{error_chain, Guard, OutboundError};
use chamberlain_store::repo::webhooks::{self as repo, Delivery, Outcome};
use chamberlain_store::{AuditCtx, StoreError};
use rand::Rng;
use reqwest::Url;
use serde_json::{json, Value};
use sha2::{Digest, Sha256};
use std::net::SocketAddr;
use std::time::Duration;

/// Largest reply (synchronous or callback) accepted.
pub const MAX_REPLY_BYTES: usize = 250 * 1024;
/// Time limit of one attempt.
pub const ATTEMPT_TIMEOUT: Duration = Duration::from_secs(30);
/// Attempts of a delivery before it fails (C1 makes up to 50).
pub const DEFAULT_MAX_ATTEMPTS: i64 = 50;
/// Lifetime of the JWT on a delivery.
pub const JWT_TTL_SECS: i64 = 120;
/// Event name of the test button.
pub const TEST_EVENT: &str = "c1.webhooks.v1.PayloadTest";

/// The path of callback URLs; the token follows.
pub const CALLBACK_PATH: &str = "/api/v1/webhooks/callback/";

/// How an attempt was answered, when it was answered usefully.
#[derive(Clone, Debug, PartialEq)]
pub enum Reply {
    /// A 2xx other than 202 with the reply document.
    Sync(Value),
    /// 202: the receiver will POST its reply to the callback URL.
    Accepted,
}

/// Why an attempt produced no reply.
#[derive(Clone, Debug, PartialEq, thiserror::Error)]
pub enum DeliveryError {
    /// 410 Gone: stop, do not retry.
    #[error("the receiver answered 410 Gone; the delivery was stopped")]
    Gone,
    /// Worth trying again (5xx, other statuses, network errors, timeouts).
    #[error("{0}")]
    Retry(String),
    /// Retrying cannot help (a refused destination, an oversized or malformed reply).
    #[error("{0}")]
    Fatal(String),
}

/// What one delivery sends.
#[derive(Clone, Debug)]
pub struct Envelope {
    /// Delivery id (`Webhook-Id`, the envelope's `webhookId`).
    pub delivery_id: String,
    /// Single-use callback URL for a 202.
    pub callback_url: String,
    /// Event name, e.g. `c1.webhooks.v1.PayloadTest`.
    pub event: String,
    /// The payload; `@type` is added from the event when missing.
    pub payload: Value,
}

impl Envelope {
    /// The JSON body C1 sends (`c1.webhooks.v1.Body`).
    pub fn body(&self) -> Vec<u8> {
        let mut payload = match &self.payload {
            Value::Object(m) => m.clone(),
            Value::Null => serde_json::Map::new(),
            other => {
                let mut m = serde_json::Map::new();
                m.insert("value".into(), other.clone());
                m
            }
        };
        if !payload.contains_key("@type") {
            let ty = format!("type.googleapis.com/{}", self.event);
            let mut with_type = serde_json::Map::new();
            with_type.insert("@type".into(), Value::String(ty));
            with_type.extend(payload);
            payload = with_type;
        }
        json!({
            "version": "v1",
            "webhookId": self.delivery_id,
            "callbackUrl": self.callback_url,
            "event": self.event,
            "payload": payload,
        })
        .to_string()
        .into_bytes()
    }
}

// ---- Destination rules ----

/// The guard webhook deliveries go through: C1's rules (HTTPS on port 443, public addresses)
/// with the configured allow-list.
pub fn guard(allow: &[String]) -> Guard {
    Guard::new("webhooks", allow.to_vec()).only_port_443()
}

/// Checks a webhook URL against C1's rules (see [`guard`]). Returns the parsed URL or what is
/// wrong with it.
pub fn check_url(raw: &str, allow: &[String]) -> Result<Url, String> {
    guard(allow).check_url(raw)
}

// ---- Sending ----

fn b64url_sha256(bytes: &[u8]) -> String {
    URL_SAFE_NO_PAD.encode(Sha256::digest(bytes))
}

/// The JWT a delivery carries (EdDSA with the server's current key, `kid` set).
pub fn delivery_jwt(state: &AppState, url: &Url, body: &[u8], now: i64) -> String {
    let claims = json!({
        "aud": chamberlain_outbound::host_of(url),
        "c1typ": "wh",
        "exp": now + JWT_TTL_SECS,
        "htb_s256": b64url_sha256(body),
        "htm": "POST",
        "htu": url.as_str(),
        "iat": now,
        "iss": state.public_url,
        "jti": chamberlain_model::new_id(),
        "nbf": now - 60,
    });
    state.issuer.sign_claims(&claims)
}

/// Resolves the destination through the guard; a refused address is fatal, a failed lookup
/// is retried.
async fn resolve_destination(url: &Url, allow: &[String]) -> Result<SocketAddr, DeliveryError> {
    guard(allow).resolve(url).await.map_err(|e| match e {
        OutboundError::Refused(m) => DeliveryError::Fatal(m),
        other => DeliveryError::Retry(other.to_string()),
    })
}

/// Sends one attempt of `envelope` to `webhook` and classifies the answer.
pub async fn deliver(
    state: &AppState,
    webhook: &Webhook,
    envelope: &Envelope,
) -> Result<Reply, DeliveryError> {
    let allow = &state.jobs.webhook_allow_hosts;
    let url = check_url(&webhook.url, allow).map_err(DeliveryError::Fatal)?;
    let addr = resolve_destination(&url, allow).await?;
    let mut builder = reqwest::Client::builder()
        .redirect(reqwest::redirect::Policy::none())
        .timeout(ATTEMPT_TIMEOUT)
        .connect_timeout(Duration::from_secs(10))
        .no_proxy();
    if let Some(domain) = url.domain() {
        builder = builder.resolve(domain, addr);
    }
    let client = builder
        .build()
        .map_err(|e| DeliveryError::Retry(format!("cannot build the HTTP client: {e}")))?;
    let body = envelope.body();
    let jwt = delivery_jwt(state, &url, &body, Timestamp::now().unix_seconds());
    let digest = format!("sha-256=:{}:", STANDARD.encode(Sha256::digest(&body)));
    let resp = client
        .post(url.clone())
        .header("Authorization", format!("Bearer {jwt}"))
        .header("Content-Digest", digest)
        .header("Content-Type", "application/json")
        .header("Webhook-Version", "v1")
        .header("Webhook-Id", &envelope.delivery_id)
        .header("Webhook-Event", &envelope.event)
        .header("Webhook-Callback-Url", &envelope.callback_url)
        .body(body)
        .send()
        .await
        .map_err(|e| {
            if e.is_timeout() {
                DeliveryError::Retry(format!("no answer within {} s", ATTEMPT_TIMEOUT.as_secs()))
            } else {
                DeliveryError::Retry(format!("request failed: {}", error_chain(&e)))
            }
        })?;
    let status = resp.status();
    if status.as_u16() == 410 {
        return Err(DeliveryError::Gone);
    }
    if status.as_u16() == 202 {
        return Ok(Reply::Accepted);
    }
    if !status.is_success() {
        let hint = if status.is_redirection() {
            " (redirects are not followed)"
        } else {
            ""
        };
        return Err(DeliveryError::Retry(format!(
            "the receiver answered HTTP {}{hint}",
            status.as_u16()
        )));
    }
    let bytes = read_capped(resp).await?;
    parse_reply(&bytes).map(Reply::Sync)
}

async fn read_capped(resp: reqwest::Response) -> Result<Vec<u8>, DeliveryError> {
    chamberlain_outbound::read_capped(resp, MAX_REPLY_BYTES, "reply")
        .await
        .map_err(|e| match e {
            OutboundError::Unavailable(m) => DeliveryError::Retry(m),
            other => DeliveryError::Fatal(other.to_string()),
        })
}

/// Checks a reply document (synchronous or by callback): a JSON object with `"version":"v1"`.
pub fn parse_reply(bytes: &[u8]) -> Result<Value, DeliveryError> {
    if bytes.len() > MAX_REPLY_BYTES {
        return Err(DeliveryError::Fatal("reply larger than 250 KB".into()));
    }
    if bytes.iter().all(u8::is_ascii_whitespace) {
        return Err(DeliveryError::Fatal(
            "reply is not JSON: the body is empty (expected a document like {\"version\":\"v1\", …})".into(),
        ));
    }
    let v: Value = serde_json::from_slice(bytes)
        .map_err(|e| DeliveryError::Fatal(format!("reply is not valid JSON: {e}")))?;
    if !v.is_object() {
        return Err(DeliveryError::Fatal(
            "reply is not a JSON object (expected {\"version\":\"v1\", …})".into(),
        ));
    }
    match v.get("version").and_then(Value::as_str) {
        Some("v1") => Ok(v),
        Some(other) => Err(DeliveryError::Fatal(format!(
            "reply has \"version\":\"{other}\"; only \"v1\" is understood"
        ))),
        None => Err(DeliveryError::Fatal(
            "reply has no \"version\":\"v1\" field".into(),
        )),
    }
}

// ---- Attempts ----

/// The SHA-256 (base64url) under which a callback token is stored.
pub fn token_hash(token: &str) -> String {
    b64url_sha256(token.as_bytes())
}

fn new_token() -> String {
    URL_SAFE_NO_PAD.encode(rand::thread_rng().gen::<[u8; 32]>())
}

/// Wait before retry `attempt` (C1: 3–15 s with jitter; the bounds are settings).
pub fn retry_delay(state: &AppState) -> Duration {
    let (lo, hi) = (state.jobs.webhook_retry_min, state.jobs.webhook_retry_max);
    if hi <= lo {
        return lo;
    }
    let span = (hi - lo).as_millis() as u64;
    lo + Duration::from_millis(rand::thread_rng().gen_range(0..=span))
}

/// What the job should do after [`run_delivery`].
#[derive(Clone, Debug, PartialEq)]
pub enum Step {
    /// The delivery ended (or was already over).
    Finished,
    /// Try again after the delay.
    RetryIn(Duration, String),
    /// The receiver answered 202: come back when the callback timeout passes.
    WaitCallback(Duration),
}

fn audit() -> AuditCtx {
    AuditCtx::system("webhooks")
}

/// Makes one attempt of pending delivery `id` and records the outcome. With `last_chance`
/// (the test button) a retryable failure ends the delivery instead of planning a retry.
pub async fn attempt(state: &AppState, id: &str, last_chance: bool) -> Result<Step, StoreError> {
    let store = &state.store;
    let d = repo::delivery(store, id).await?;
    if d.state != repo::PENDING {
        return Ok(Step::Finished);
    }
    let webhook: Option<Webhook> =
        chamberlain_store::record::get(store.pool(), &d.webhook_id, false).await?;
    let Some(webhook) = webhook else {
        repo::record_outcome(
            store,
            &audit(),
            id,
            &Outcome::Failed(format!(
                "webhook `{}` was deleted before the delivery was sent",
                d.webhook_id
            )),
        )
        .await?;
        return Ok(Step::Finished);
    };
    let token = new_token();
    let expires = Timestamp::now().plus_seconds(webhook.callback_timeout_secs());
    let Some(d) =
        repo::begin_attempt(store, id, &webhook.url, &token_hash(&token), expires).await?
    else {
        return Ok(Step::Finished);
    };
    let envelope = Envelope {
        delivery_id: d.id.clone(),
        callback_url: format!("{}{CALLBACK_PATH}{token}", state.public_url),
        event: d.event.clone(),
        payload: d.payload.clone(),
    };
    let result = deliver(state, &webhook, &envelope).await;
    tracing::info!(delivery = %id, attempt = d.attempts, ?result, "webhook attempt");
    let (outcome, step) = match result {
        Ok(Reply::Sync(v)) => (Outcome::Reply(v), Step::Finished),
        Ok(Reply::Accepted) => (
            Outcome::Accepted,
            Step::WaitCallback(until(expires) + Duration::from_secs(1)),
        ),
        Err(DeliveryError::Gone) => (
            Outcome::Gone(DeliveryError::Gone.to_string()),
            Step::Finished,
        ),
        Err(DeliveryError::Fatal(e)) => (Outcome::Failed(e), Step::Finished),
        Err(DeliveryError::Retry(e)) => {
            let max = state.jobs.webhook_max_attempts.max(1);
            if last_chance || d.attempts >= max {
                let n = d.attempts;
                (
                    Outcome::Failed(format!(
                        "{e} (gave up after {n} attempt{})",
                        if n == 1 { "" } else { "s" }
                    )),
                    Step::Finished,
                )
            } else {
                let delay = retry_delay(state);
                (
                    Outcome::RetryAt {
                        error: e.clone(),
                        at: Timestamp::from_micros(
                            Timestamp::now().as_micros() + delay.as_micros() as i64,
                        ),
                    },
                    Step::RetryIn(delay, e),
                )
            }
        }
    };
    repo::record_outcome(store, &audit(), id, &outcome).await?;
    Ok(step)
}

fn until(t: Timestamp) -> Duration {
    let left = t.as_micros() - Timestamp::now().as_micros();
    Duration::from_micros(u64::try_from(left).unwrap_or(0))
}

/// The `webhook_delivery` job: attempts a pending delivery, or ends one whose callback did not
/// come in time.
pub async fn run_job(state: &AppState, id: &str) -> Result<Step, StoreError> {
    let d = match repo::delivery(&state.store, id).await {
        Ok(d) => d,
        Err(StoreError::NotFound { .. }) => return Ok(Step::Finished),
        Err(e) => return Err(e),
    };
    match d.state.as_str() {
        repo::PENDING => attempt(state, id, false).await,
        repo::WAITING_CALLBACK => {
            let left = d.callback_expires_at.map(until).unwrap_or_default();
            if left > Duration::ZERO {
                return Ok(Step::WaitCallback(left + Duration::from_secs(1)));
            }
            repo::expire_callback(&state.store, &audit(), id).await?;
            Ok(Step::Finished)
        }
        _ => Ok(Step::Finished),
    }
}

/// A delivery as C1's `WebhookInstance` (with the Chamberlain extensions `lastError` and
/// `reply`).
pub fn instance(d: &Delivery) -> WebhookInstance {
    let state = match d.state.as_str() {
        repo::PENDING if d.attempts > 0 && !d.last_error.is_empty() => WebhookState::Error,
        repo::PENDING => WebhookState::Pending,
        repo::WAITING_CALLBACK => WebhookState::WaitingCallback,
        repo::DONE => WebhookState::Success,
        _ => WebhookState::FatalError,
    };
    let source = if d.event == TEST_EVENT {
        json!({"test": {}})
    } else {
        json!({})
    };
    WebhookInstance {
        id: d.id.clone(),
        webhook_id: d.webhook_id.clone(),
        state,
        attempts: i32::try_from(d.attempts).unwrap_or(i32::MAX),
        spec: Some(WebhookSpec {
            destination: d.destination.clone(),
        }),
        source: Some(source),
        created_at: Some(d.created_at),
        updated_at: Some(d.updated_at),
        last_attempted_at: d.last_attempt_at,
        completed_at: d.completed_at,
        expires_at: d.callback_expires_at,
        last_error: d.last_error.clone(),
        reply: d.reply.clone(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn urls_follow_c1_rules() {
        let none: Vec<String> = vec![];
        assert!(check_url("https://hooks.example.com/x?y=1", &none).is_ok());
        assert!(check_url("https://hooks.example.com:443/x", &none).is_ok());
        for (bad, needle) in [
            ("http://hooks.example.com/", "https://"),
            ("https://hooks.example.com:8443/", "port 443"),
            ("https://u:p@hooks.example.com/", "user name"),
            ("https://10.1.2.3/", "private"),
            ("https://127.0.0.1/", "private"),
            ("https://169.254.169.254/", "private"),
            ("https://[::1]/", "private"),
            ("https://[fe80::1]/", "private"),
            ("https://[::ffff:192.168.0.1]/", "private"),
            ("https://localhost/", "loopback"),
            ("ftp://hooks.example.com/", "https://"),
            ("not a url", "not a valid URL"),
        ] {
            let e = check_url(bad, &none).unwrap_err();
            assert!(e.contains(needle), "{bad}: {e}");
        }
        let allow = vec!["127.0.0.1:8080".to_string()];
        assert!(check_url("http://127.0.0.1:8080/hook", &allow).is_ok());
        assert!(check_url("http://127.0.0.1:8081/hook", &allow).is_err());
        let allow = vec!["127.0.0.1".to_string()];
        assert!(check_url("http://127.0.0.1:9999/hook", &allow).is_ok());
        assert!(check_url("https://u@127.0.0.1:9999/hook", &allow).is_err());
    }

    #[test]
    fn replies_must_be_v1_documents() {
        assert!(parse_reply(br#"{"version":"v1","complete":{}}"#).is_ok());
        for (bad, needle) in [
            (&b""[..], "empty"),
            (b"{nope", "not valid JSON"),
            (b"[1]", "not a JSON object"),
            (br#"{"version":"v2"}"#, "only \"v1\""),
            (b"{}", "no \"version\""),
        ] {
            match parse_reply(bad) {
                Err(DeliveryError::Fatal(e)) => assert!(e.contains(needle), "{e}"),
                other => panic!("{other:?}"),
            }
        }
        let big = format!(
            r#"{{"version":"v1","x":"{}"}}"#,
            "a".repeat(MAX_REPLY_BYTES)
        );
        assert_eq!(
            parse_reply(big.as_bytes()),
            Err(DeliveryError::Fatal("reply larger than 250 KB".into()))
        );
    }

    #[tokio::test]
    async fn names_resolving_to_blocked_addresses_are_refused_at_send_time() {
        let url = Url::parse("https://localhost/hook").unwrap();
        match resolve_destination(&url, &[]).await {
            Err(DeliveryError::Fatal(e)) => assert!(e.contains("private, loopback"), "{e}"),
            other => panic!("{other:?}"),
        }
        let allow = vec!["localhost".to_string()];
        assert!(resolve_destination(&url, &allow).await.is_ok());
        let ip = Url::parse("https://10.9.8.7/").unwrap();
        assert!(matches!(
            resolve_destination(&ip, &[]).await,
            Err(DeliveryError::Fatal(_))
        ));
    }

    #[test]
    fn envelope_adds_the_payload_type() {
        let e = Envelope {
            delivery_id: "d".into(),
            callback_url: "https://c/x".into(),
            event: TEST_EVENT.into(),
            payload: json!({}),
        };
        let v: Value = serde_json::from_slice(&e.body()).unwrap();
        assert_eq!(
            v["payload"]["@type"],
            "type.googleapis.com/c1.webhooks.v1.PayloadTest"
        );
        assert_eq!(v["version"], "v1");
        assert_eq!(v["webhookId"], "d");
    }
}
