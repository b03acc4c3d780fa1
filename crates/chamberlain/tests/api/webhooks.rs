//! Outbound webhooks against a real receiver: CRUD, search and URL rules; the envelope, headers
//! and JWT (verified with the server's JWKS); synchronous replies, 202 + single-use callbacks,
//! 410, retries, oversized and malformed replies; and the test button.

use crate::harness::TestServer;
use axum::body::Bytes;
use axum::extract::State;
use axum::http::{HeaderMap, StatusCode, Uri};
use axum::response::IntoResponse;
use base64::engine::general_purpose::{STANDARD, URL_SAFE_NO_PAD};
use base64::Engine;
use chamberlain_store::repo::jobs;
use chamberlain_store::repo::webhooks::{self as repo, Delivery};
use chamberlain_store::AuditCtx;
use serde_json::{json, Value};
use sha2::{Digest, Sha256};
use std::collections::{HashMap, VecDeque};
use std::sync::{Arc, Mutex};
use std::time::Duration;

/// One request the receiver got.
#[derive(Clone, Debug)]
struct Seen {
    path: String,
    headers: HashMap<String, String>,
    body: Vec<u8>,
}

#[derive(Default)]
struct RxState {
    script: VecDeque<(u16, String)>,
    fallback: Option<(u16, String)>,
    seen: Vec<Seen>,
}

/// A small HTTP receiver on 127.0.0.1 that answers from a script and records requests.
#[derive(Clone, Default)]
struct Receiver {
    state: Arc<Mutex<RxState>>,
    base: String,
}

async fn hit(
    State(rx): State<Receiver>,
    uri: Uri,
    headers: HeaderMap,
    body: Bytes,
) -> axum::response::Response {
    let mut st = rx.state.lock().unwrap();
    st.seen.push(Seen {
        path: uri.path().to_string(),
        headers: headers
            .iter()
            .map(|(k, v)| (k.as_str().to_string(), v.to_str().unwrap_or("").to_string()))
            .collect(),
        body: body.to_vec(),
    });
    let (status, text) = st
        .script
        .pop_front()
        .or_else(|| st.fallback.clone())
        .unwrap_or((200, r#"{"version":"v1"}"#.into()));
    (StatusCode::from_u16(status).unwrap(), text).into_response()
}

impl Receiver {
    async fn start() -> Receiver {
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let rx = Receiver {
            base: format!("http://{}", listener.local_addr().unwrap()),
            ..Default::default()
        };
        let app = axum::Router::new()
            .fallback(axum::routing::any(hit))
            .with_state(rx.clone());
        tokio::spawn(async move {
            axum::serve(listener, app).await.unwrap();
        });
        rx
    }
    fn script(&self, replies: &[(u16, &str)]) {
        let mut st = self.state.lock().unwrap();
        st.script = replies.iter().map(|(c, b)| (*c, b.to_string())).collect();
    }
    fn fallback(&self, reply: Option<(u16, &str)>) {
        self.state.lock().unwrap().fallback = reply.map(|(c, b)| (c, b.to_string()));
    }
    fn seen(&self, path: &str) -> Vec<Seen> {
        self.state
            .lock()
            .unwrap()
            .seen
            .iter()
            .filter(|s| s.path == path)
            .cloned()
            .collect()
    }
    fn url(&self, path: &str) -> String {
        format!("{}{path}", self.base)
    }
}

async fn create_webhook(s: &TestServer, name: &str, url: &str) -> String {
    let v = s
        .ok(
            "POST",
            "/api/v1/webhooks",
            Some(json!({"displayName": name, "url": url})),
        )
        .await;
    v["webhook"]["id"].as_str().unwrap().to_string()
}

async fn enqueue(s: &TestServer, webhook: &str, subject: &str, payload: Value) -> String {
    let (w, subj) = (webhook.to_string(), subject.to_string());
    chamberlain_store::write_tx!(s.store, &AuditCtx::system("test"), |tx| {
        repo::enqueue_delivery(
            tx,
            &w,
            "c1.webhooks.v1.PayloadProvisionStep",
            &subj,
            &payload,
        )
        .await
    })
    .unwrap()
}

async fn wait_for(s: &TestServer, id: &str, states: &[&str]) -> Delivery {
    for _ in 0..300 {
        let d = repo::delivery(&s.store, id).await.unwrap();
        if states.contains(&d.state.as_str()) {
            return d;
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    panic!(
        "delivery {id} did not reach {states:?}: {:?}",
        repo::delivery(&s.store, id).await.unwrap()
    );
}

async fn delivered_events(s: &TestServer) -> Vec<Value> {
    jobs::events_after(&s.store, "", Duration::ZERO, 1000)
        .await
        .unwrap()
        .into_iter()
        .filter(|e| e.kind == repo::DELIVERED_EVENT)
        .map(|e| e.doc)
        .collect()
}

pub async fn webhooks_crud_search_and_url_rules(s: &TestServer) {
    // Create: the default callback timeout is 8 days.
    let v = s
        .ok(
            "POST",
            "/api/v1/webhooks",
            Some(json!({"displayName": "Provisioner", "description": "Tickets for IT", "url": "https://hooks.example.com/c1"})),
        )
        .await;
    let w = &v["webhook"];
    let id = w["id"].as_str().unwrap().to_string();
    assert_eq!(w["callbackTimeout"], "691200s");
    assert_eq!(w["url"], "https://hooks.example.com/c1");
    assert_eq!(w["deletedAt"], Value::Null);
    let other = s
        .ok(
            "POST",
            "/api/v1/webhooks",
            Some(json!({"displayName": "Approver", "url": "https://approve.example.org:443/x", "callbackTimeout": "86400s"})),
        )
        .await["webhook"]["id"]
        .as_str()
        .unwrap()
        .to_string();

    let got = s.ok("GET", &format!("/api/v1/webhooks/{id}"), None).await;
    assert_eq!(got["webhook"]["displayName"], "Provisioner");
    let list = s.ok("GET", "/api/v1/webhooks", None).await;
    assert_eq!(list["list"].as_array().unwrap().len(), 2);
    assert_eq!(list["nextPageToken"], "");
    let found = s
        .ok(
            "POST",
            "/api/v1/search/webhooks",
            Some(json!({"query": "tickets"})),
        )
        .await;
    assert_eq!(found["list"].as_array().unwrap().len(), 1);
    assert_eq!(found["list"][0]["id"], id.as_str());
    let found = s
        .ok(
            "POST",
            "/api/v1/search/webhooks",
            Some(json!({"refs": [{"id": other}]})),
        )
        .await;
    assert_eq!(found["list"][0]["displayName"], "Approver");

    // Update with a mask.
    let up = s
        .ok(
            "POST",
            &format!("/api/v1/webhooks/{id}"),
            Some(json!({"webhook": {"displayName": "Provisioning", "url": "ignored"}, "updateMask": "displayName"})),
        )
        .await;
    assert_eq!(up["webhook"]["displayName"], "Provisioning");
    assert_eq!(up["webhook"]["url"], "https://hooks.example.com/c1");

    // Refusals, on create and update, change nothing.
    let before = s.event_count().await;
    for (body, needle) in [
        (
            json!({"displayName": "", "url": "https://hooks.example.com/"}),
            "displayName is required",
        ),
        (
            json!({"displayName": "x", "url": "http://hooks.example.com/"}),
            "must use https://",
        ),
        (
            json!({"displayName": "x", "url": "https://hooks.example.com:8443/"}),
            "port 443",
        ),
        (
            json!({"displayName": "x", "url": "https://u:p@hooks.example.com/"}),
            "user name or password",
        ),
        (
            json!({"displayName": "x", "url": "https://10.0.0.5/"}),
            "private, loopback or link-local",
        ),
        (
            json!({"displayName": "x", "url": "https://192.168.1.1/"}),
            "private, loopback or link-local",
        ),
        (
            json!({"displayName": "x", "url": "https://169.254.169.254/latest"}),
            "private, loopback or link-local",
        ),
        (
            json!({"displayName": "x", "url": "https://127.0.0.2/"}),
            "private, loopback or link-local",
        ),
        (
            json!({"displayName": "x", "url": "https://[::1]/"}),
            "private, loopback or link-local",
        ),
        (
            json!({"displayName": "x", "url": "https://localhost/"}),
            "loopback",
        ),
        (json!({"displayName": "x", "url": ""}), "url is required"),
        (
            json!({"displayName": "x", "url": "https://hooks.example.com/", "callbackTimeout": "3600s"}),
            "between 1 day",
        ),
        (
            json!({"displayName": "x", "url": "https://hooks.example.com/", "callbackTimeout": "2678400s"}),
            "between 1 day",
        ),
        (
            json!({"displayName": "x", "url": "https://hooks.example.com/", "secret": "s"}),
            "unknown field",
        ),
    ] {
        let (st, v) = s
            .call(&s.admin, "POST", "/api/v1/webhooks", Some(body.clone()))
            .await;
        assert_eq!(st, 400, "{body} -> {v}");
        assert!(
            v["message"].as_str().unwrap().contains(needle),
            "{body} -> {v}"
        );
    }
    let (st, v) = s
        .call(
            &s.admin,
            "POST",
            &format!("/api/v1/webhooks/{id}"),
            Some(json!({"webhook": {"url": "http://hooks.example.com/"}, "updateMask": "url"})),
        )
        .await;
    assert_eq!(st, 400, "{v}");
    assert_eq!(s.event_count().await, before, "refusals change nothing");
    let got = s.ok("GET", &format!("/api/v1/webhooks/{id}"), None).await;
    assert_eq!(got["webhook"]["url"], "https://hooks.example.com/c1");
    assert_eq!(
        s.ok("GET", "/api/v1/webhooks", None).await["list"]
            .as_array()
            .unwrap()
            .len(),
        2
    );

    // Only super admins write; read-only admins read.
    let (_, ro) = s
        .user_with_token("ro-webhooks@example.com", &["read-only-admin"])
        .await;
    let (st, _) = s
        .call(
            &ro,
            "POST",
            "/api/v1/webhooks",
            Some(json!({"displayName": "x", "url": "https://hooks.example.com/"})),
        )
        .await;
    assert_eq!(st, 403);
    let (st, _) = s
        .call(&ro, "POST", &format!("/api/v1/webhooks/{id}/test"), None)
        .await;
    assert_eq!(st, 403);
    let (st, _) = s
        .call(&ro, "GET", &format!("/api/v1/webhooks/{id}"), None)
        .await;
    assert_eq!(st, 200);

    // Delete.
    s.ok("DELETE", &format!("/api/v1/webhooks/{id}"), None)
        .await;
    let (st, v) = s
        .call(&s.admin, "GET", &format!("/api/v1/webhooks/{id}"), None)
        .await;
    assert_eq!(st, 404, "{v}");
    assert_eq!(
        s.ok("GET", "/api/v1/webhooks", None).await["list"]
            .as_array()
            .unwrap()
            .len(),
        1
    );
}

pub async fn webhook_delivery_envelope_jwt_and_sync_reply(s: &TestServer) {
    let rx = Receiver::start().await;
    rx.script(&[(200, r#"{"version":"v1","complete":{"comment":"done"}}"#)]);
    let url = rx.url("/provision?tenant=acme");
    let webhook = create_webhook(s, "Provisioner", &url).await;
    let id = enqueue(
        s,
        &webhook,
        "task-123",
        json!({"taskView": {"task": {"id": "task-123"}}}),
    )
    .await;
    let d = wait_for(s, &id, &[repo::DONE]).await;
    assert_eq!(d.attempts, 1);
    assert_eq!(d.subject_id, "task-123");
    assert_eq!(
        d.reply,
        Some(json!({"version":"v1","complete":{"comment":"done"}}))
    );
    assert_eq!(d.last_error, "");

    let seen = rx.seen("/provision");
    assert_eq!(seen.len(), 1);
    let req = &seen[0];
    let h = &req.headers;
    let body: Value = serde_json::from_slice(&req.body).unwrap();
    // Envelope.
    assert_eq!(body["version"], "v1");
    assert_eq!(body["webhookId"], id.as_str());
    assert_eq!(body["event"], "c1.webhooks.v1.PayloadProvisionStep");
    assert_eq!(
        body["payload"]["@type"],
        "type.googleapis.com/c1.webhooks.v1.PayloadProvisionStep"
    );
    assert_eq!(body["payload"]["taskView"]["task"]["id"], "task-123");
    let callback = body["callbackUrl"].as_str().unwrap();
    assert!(
        callback.starts_with(&format!("{}/api/v1/webhooks/callback/", s.base)),
        "{callback}"
    );
    // Headers.
    assert_eq!(h["content-type"], "application/json");
    assert_eq!(h["webhook-version"], "v1");
    assert_eq!(h["webhook-id"], id.as_str());
    assert_eq!(h["webhook-event"], "c1.webhooks.v1.PayloadProvisionStep");
    assert_eq!(h["webhook-callback-url"], callback);
    assert_eq!(
        h["content-digest"],
        format!("sha-256=:{}:", STANDARD.encode(Sha256::digest(&req.body)))
    );
    // The JWT verifies against the server's JWKS and binds the request.
    let jwt = h["authorization"].strip_prefix("Bearer ").unwrap();
    let parsed = chamberlain_auth::jws::parse(jwt).unwrap();
    let kid = parsed.kid().unwrap().to_string();
    let jwks: Value = reqwest::get(format!("{}/auth/v1/jwks", s.base))
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    let jwk = jwks["keys"]
        .as_array()
        .unwrap()
        .iter()
        .find(|k| k["kid"] == kid.as_str())
        .expect("the JWT's kid is in the JWKS");
    let x: [u8; 32] = URL_SAFE_NO_PAD
        .decode(jwk["x"].as_str().unwrap())
        .unwrap()
        .try_into()
        .unwrap();
    parsed
        .verify(&ed25519_dalek::VerifyingKey::from_bytes(&x).unwrap())
        .unwrap();
    let c = &parsed.claims;
    assert_eq!(c["aud"], "127.0.0.1");
    assert_eq!(c["c1typ"], "wh");
    assert_eq!(c["htm"], "POST");
    assert_eq!(c["htu"], url.as_str());
    assert_eq!(c["iss"], s.base.as_str());
    assert_eq!(
        c["htb_s256"],
        URL_SAFE_NO_PAD.encode(Sha256::digest(&req.body))
    );
    let iat = c["iat"].as_i64().unwrap();
    assert_eq!(c["exp"].as_i64().unwrap() - iat, 120);
    assert_eq!(c["nbf"].as_i64().unwrap(), iat - 60);
    assert!(!c["jti"].as_str().unwrap().is_empty());

    // The outcome is a change event (the task engine's hook).
    let events = delivered_events(s).await;
    assert_eq!(events.len(), 1);
    assert_eq!(events[0]["deliveryId"], id.as_str());
    assert_eq!(events[0]["subject"], "task-123");
    assert_eq!(events[0]["state"], "done");
    assert_eq!(events[0]["reply"]["complete"]["comment"], "done");

    // The test button: one synchronous attempt, reported as a WebhookInstance.
    rx.script(&[(200, r#"{"version":"v1"}"#)]);
    let v = s
        .ok("POST", &format!("/api/v1/webhooks/{webhook}/test"), None)
        .await;
    let inst = &v["webhook"];
    assert_eq!(inst["state"], "WEBHOOK_STATE_SUCCESS", "{v}");
    assert_eq!(inst["webhookId"], webhook.as_str());
    assert_eq!(inst["attempts"], 1);
    assert_eq!(inst["spec"]["destination"], url.as_str());
    assert_eq!(inst["reply"], json!({"version": "v1"}));
    let seen = rx.seen("/provision");
    assert_eq!(seen.len(), 2);
    assert_eq!(
        seen[1].headers["webhook-event"],
        "c1.webhooks.v1.PayloadTest"
    );
    let body: Value = serde_json::from_slice(&seen[1].body).unwrap();
    assert_eq!(
        body["payload"],
        json!({"@type": "type.googleapis.com/c1.webhooks.v1.PayloadTest"})
    );
    // A failing test reports the error after one attempt.
    rx.script(&[(500, "boom")]);
    let v = s
        .ok("POST", &format!("/api/v1/webhooks/{webhook}/test"), None)
        .await;
    assert_eq!(v["webhook"]["state"], "WEBHOOK_STATE_FATAL_ERROR", "{v}");
    assert_eq!(v["webhook"]["attempts"], 1);
    assert!(v["webhook"]["lastError"]
        .as_str()
        .unwrap()
        .contains("HTTP 500"));
    assert_eq!(rx.seen("/provision").len(), 3);
}

pub async fn webhook_callbacks_are_single_use_and_expire(s: &TestServer) {
    let rx = Receiver::start().await;
    rx.fallback(Some((202, "")));
    let webhook = create_webhook(s, "Async approver", &rx.url("/approve")).await;
    let id = enqueue(s, &webhook, "task-9", json!({})).await;
    let d = wait_for(s, &id, &[repo::WAITING_CALLBACK]).await;
    assert_eq!(d.attempts, 1);
    let seen = rx.seen("/approve");
    assert_eq!(seen.len(), 1);
    let callback = seen[0].headers["webhook-callback-url"].clone();
    let path = callback.strip_prefix(&s.base).unwrap().to_string();

    // No bearer token needed, but the body must be a v1 document of at most 250 KB.
    let (st, v) = s
        .call("", "POST", &path, Some(json!({"approve": {}})))
        .await;
    assert_eq!(st, 400, "{v}");
    assert!(v["message"].as_str().unwrap().contains("version"), "{v}");
    let (st, v) = s
        .call(
            "",
            "POST",
            &path,
            Some(json!({"version": "v1", "x": "a".repeat(260 * 1024)})),
        )
        .await;
    assert_eq!(st, 413, "{v}");
    assert_eq!(
        repo::delivery(&s.store, &id).await.unwrap().state,
        repo::WAITING_CALLBACK
    );
    let reply = json!({"version": "v1", "approve": {"comment": "ok"}});
    let (st, v) = s.call("", "POST", &path, Some(reply.clone())).await;
    assert_eq!(st, 200, "{v}");
    assert_eq!(v["webhook"]["state"], "WEBHOOK_STATE_SUCCESS");
    let d = repo::delivery(&s.store, &id).await.unwrap();
    assert_eq!(d.state, repo::DONE);
    assert_eq!(d.reply, Some(reply.clone()));
    // Single use.
    let (st, v) = s.call("", "POST", &path, Some(reply.clone())).await;
    assert_eq!(st, 410, "{v}");
    assert!(
        v["message"].as_str().unwrap().contains("already used"),
        "{v}"
    );
    let events = delivered_events(s).await;
    assert_eq!(events.len(), 1);
    assert_eq!(events[0]["state"], "done");
    assert_eq!(events[0]["reply"], reply);
    // Unknown tokens.
    let (st, _) = s
        .call(
            "",
            "POST",
            "/api/v1/webhooks/callback/AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA",
            Some(reply.clone()),
        )
        .await;
    assert_eq!(st, 404);

    // An expired callback URL is refused; the delivery then fails on its timeout.
    let id2 = enqueue(s, &webhook, "task-10", json!({})).await;
    wait_for(s, &id2, &[repo::WAITING_CALLBACK]).await;
    let seen = rx.seen("/approve");
    let path2 = seen[1].headers["webhook-callback-url"]
        .strip_prefix(&s.base)
        .unwrap()
        .to_string();
    assert_ne!(path, path2);
    let mut sql = chamberlain_store::record::Sql::new(
        "UPDATE webhook_deliveries SET callback_expires_at = 1 WHERE id = ",
    );
    sql.arg(id2.as_str());
    sql.query().execute(s.store.pool()).await.unwrap();
    let (st, v) = s.call("", "POST", &path2, Some(reply.clone())).await;
    assert_eq!(st, 410, "{v}");
    assert!(v["message"].as_str().unwrap().contains("expired"), "{v}");
    assert!(
        repo::expire_callback(&s.store, &AuditCtx::system("test"), &id2)
            .await
            .unwrap()
    );
    let d2 = repo::delivery(&s.store, &id2).await.unwrap();
    assert_eq!(d2.state, repo::FAILED);
    assert!(
        d2.last_error.contains("callback timeout"),
        "{}",
        d2.last_error
    );
    let events = delivered_events(s).await;
    assert_eq!(events.len(), 2);
    assert_eq!(events[1]["state"], "failed");

    // The test button answered with 202 waits for its callback, with a job watching the timeout.
    let v = s
        .ok("POST", &format!("/api/v1/webhooks/{webhook}/test"), None)
        .await;
    assert_eq!(
        v["webhook"]["state"], "WEBHOOK_STATE_WAITING_CALLBACK",
        "{v}"
    );
    let test_id = v["webhook"]["id"].as_str().unwrap().to_string();
    assert!(
        jobs::has_live(&s.store, &format!("webhook_delivery:{test_id}"))
            .await
            .unwrap()
    );
    let seen = rx.seen("/approve");
    assert_eq!(seen.len(), 3);
    let path3 = seen[2].headers["webhook-callback-url"]
        .strip_prefix(&s.base)
        .unwrap()
        .to_string();
    let (st, v) = s.call("", "POST", &path3, Some(reply.clone())).await;
    assert_eq!(st, 200, "{v}");
    assert_eq!(v["webhook"]["state"], "WEBHOOK_STATE_SUCCESS");
    assert_eq!(v["webhook"]["reply"], reply);
}

pub async fn webhook_retries_gone_and_bad_replies(s: &TestServer) {
    let rx = Receiver::start().await;

    // 500 twice, then a reply: retried until it succeeds.
    rx.script(&[
        (500, "down"),
        (503, "still down"),
        (200, r#"{"version":"v1","complete":{}}"#),
    ]);
    let w = create_webhook(s, "Flaky", &rx.url("/flaky")).await;
    let id = enqueue(s, &w, "task-1", json!({})).await;
    let d = wait_for(s, &id, &[repo::DONE]).await;
    assert_eq!(d.attempts, 3);
    assert_eq!(rx.seen("/flaky").len(), 3);
    let ids: Vec<String> = rx
        .seen("/flaky")
        .iter()
        .map(|r| r.headers["webhook-id"].clone())
        .collect();
    assert!(
        ids.iter().all(|i| i == &id),
        "every attempt carries the delivery id"
    );

    // 410: stopped at once, never retried.
    rx.script(&[(410, "")]);
    let w = create_webhook(s, "Gone", &rx.url("/gone")).await;
    let id = enqueue(s, &w, "task-2", json!({})).await;
    let d = wait_for(s, &id, &[repo::GONE]).await;
    assert_eq!(d.attempts, 1);
    assert!(d.last_error.contains("410"), "{}", d.last_error);
    tokio::time::sleep(Duration::from_millis(800)).await;
    assert_eq!(rx.seen("/gone").len(), 1);

    // Always failing: gives up after the configured attempts (4 in the harness).
    rx.script(&[]);
    rx.fallback(Some((500, "nope")));
    let w = create_webhook(s, "Broken", &rx.url("/broken")).await;
    let id = enqueue(s, &w, "task-3", json!({})).await;
    let d = wait_for(s, &id, &[repo::FAILED]).await;
    assert_eq!(d.attempts, 4);
    assert!(
        d.last_error.contains("gave up after 4 attempts"),
        "{}",
        d.last_error
    );
    assert_eq!(rx.seen("/broken").len(), 4);
    rx.fallback(None);

    // An oversized reply is refused, not retried.
    let big = format!(r#"{{"version":"v1","x":"{}"}}"#, "a".repeat(300 * 1024));
    rx.script(&[(200, big.as_str())]);
    let w = create_webhook(s, "Chatty", &rx.url("/big")).await;
    let id = enqueue(s, &w, "task-4", json!({})).await;
    let d = wait_for(s, &id, &[repo::FAILED]).await;
    assert_eq!(d.last_error, "reply larger than 250 KB");
    assert_eq!(d.attempts, 1);

    // Malformed JSON on a 2xx is reported, not retried.
    rx.script(&[(200, "{oops")]);
    let w = create_webhook(s, "Sloppy", &rx.url("/bad")).await;
    let id = enqueue(s, &w, "task-5", json!({})).await;
    let d = wait_for(s, &id, &[repo::FAILED]).await;
    assert!(d.last_error.contains("not valid JSON"), "{}", d.last_error);
    assert_eq!(d.attempts, 1);

    // A delivery to a deleted webhook fails without sending; enqueueing to it is refused.
    let w = create_webhook(s, "Removed", &rx.url("/removed")).await;
    s.ok("DELETE", &format!("/api/v1/webhooks/{w}"), None).await;
    let w2 = w.clone();
    let r = chamberlain_store::write_tx!(s.store, &AuditCtx::system("test"), |tx| {
        repo::enqueue_delivery(tx, &w2, "c1.webhooks.v1.PayloadTest", "x", &json!({})).await
    });
    assert!(r.is_err());
    assert!(rx.seen("/removed").is_empty());

    let states: Vec<String> = delivered_events(s)
        .await
        .iter()
        .map(|e| e["state"].as_str().unwrap().to_string())
        .collect();
    assert_eq!(states, ["done", "gone", "failed", "failed", "failed"]);
}

/// Provisioning by webhook: a `complete` reply grants; an `errored` reply, a 410 and a
/// malformed reply each turn the step into a manual one with the reason on the task.
pub async fn tasks_provision_through_webhooks(s: &TestServer) {
    let rx = Receiver::start().await;
    let hook = create_webhook(s, "Provisioner", &rx.url("/provision")).await;
    let (user, token) = s
        .user_with_token("wh-req@example.com", &["basic-user"])
        .await;
    let app = s.create_app("Webhook app").await;
    let base = s.create_entitlement(&app, "base").await;
    s.ok(
        "POST",
        &format!("/api/v1/apps/{app}/entitlements/{base}/add-manual-user"),
        Some(json!({"userIds": [user]})),
    )
    .await;
    let p = s
        .ok(
            "POST",
            "/api/v1/policies",
            Some(json!({"displayName": "Auto, provisioned by webhook", "policyType": "POLICY_TYPE_GRANT",
                "policySteps": {"grant": {"steps": [{"accept": {}}, {"provision": {"provisionPolicy": {"webhook": {"webhookId": hook}}}}]}}})),
        )
        .await;
    // A policy naming a webhook that does not exist is refused.
    let (st, v) = s
        .call(&s.admin, "POST", "/api/v1/policies", Some(json!({"displayName": "x", "policyType": "POLICY_TYPE_GRANT",
            "policySteps": {"grant": {"steps": [{"provision": {"provisionPolicy": {"webhook": {"webhookId": "0000000000000000000000nope1"}}}}]}}})))
        .await;
    assert_eq!(st, 404, "{v}");
    let request = |name: &'static str| {
        let (app, p, token) = (app.clone(), p.clone(), token.clone());
        async move {
            let ent = s.create_entitlement(&app, name).await;
            s.ok(
                "POST",
                &format!("/api/v1/apps/{app}/entitlements/{ent}"),
                Some(json!({"entitlement": {"grantPolicyId": p["policy"]["id"]}, "updateMask": "grantPolicyId"})),
            )
            .await;
            let (st, v) = s
                .call(
                    &token,
                    "POST",
                    "/api/v1/task/grant",
                    Some(json!({"appId": app, "appEntitlementId": ent})),
                )
                .await;
            assert_eq!(st, 200, "{v}");
            let t = v["taskView"]["task"].clone();
            assert_eq!(
                t["policy"]["current"]["provision"]["method"], "webhook",
                "{t}"
            );
            (ent, t["id"].as_str().unwrap().to_string())
        }
    };
    let settled = |tid: String| async move {
        for _ in 0..150 {
            let v = s.ok("GET", &format!("/api/v1/tasks/{tid}"), None).await;
            let t = v["taskView"]["task"].clone();
            let p = &t["policy"]["current"]["provision"];
            if t["state"] == "TASK_STATE_CLOSED" || p["method"] == "manual" {
                return t;
            }
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
        panic!("task {tid} was not settled");
    };

    rx.script(&[(
        200,
        r#"{"version":"v1","complete":{"comment":"added to the group"}}"#,
    )]);
    let (_, tid) = request("granted").await;
    let t = settled(tid.clone()).await;
    assert_eq!(
        t["type"]["grant"]["outcome"], "GRANT_OUTCOME_GRANTED",
        "{t}"
    );
    let sent = rx.seen("/provision");
    let body: Value = serde_json::from_slice(&sent.last().unwrap().body).unwrap();
    assert_eq!(body["event"], "c1.webhooks.v1.PayloadProvisionStep");
    assert_eq!(body["payload"]["task"]["id"], tid.as_str());

    for (reply, needle) in [
        (
            (
                200,
                r#"{"version":"v1","errored":{"comment":"group is full"}}"#,
            ),
            "group is full",
        ),
        ((410, "gone"), "410"),
        ((200, "this is not json"), "JSON"),
        ((200, r#"{"version":"v1","maybe":{}}"#), "neither"),
    ] {
        rx.script(&[reply]);
        let (_, tid) = request("refused").await;
        let t = settled(tid).await;
        let p = &t["policy"]["current"]["provision"];
        assert_eq!(p["method"], "manual", "{t}");
        let why = p["errored"]["description"].as_str().unwrap_or("");
        assert!(why.contains(needle), "{needle}: {why}");
        assert_eq!(t["stepApproverIds"], json!([s.admin_user_id]));
    }
}
