//! A stand-in for Slack, written in this project for the tests (Slack itself cannot be reached
//! from CI). It serves the Web API methods Chamberlain calls, answering in Slack's documented
//! shapes (`{"ok": true, …}` / `{"ok": false, "error": "<code>"}`, HTTP 429 with
//! `Retry-After`), checks the bot token, and records every call. It also signs requests the way
//! Slack signs the slash command and interactivity requests it sends to an app.

use axum::extract::{Path, State};
use axum::http::HeaderMap;
use axum::Json;
use serde_json::{json, Value};
use std::collections::HashMap;
use std::sync::{Arc, Mutex};

pub const TEAM: &str = "T0TESTTEAM";
pub const BOT_TOKEN: &str = "xoxb-1111-2222-standin";
pub const SIGNING_SECRET: &str = "8f742231b10e8888abcd99aaabbb85a5";

/// A Slack user of the stand-in workspace.
#[derive(Clone, Debug)]
pub struct SlackUser {
    pub email: String,
    pub confirmed: bool,
}

#[derive(Default)]
struct Inner {
    users: HashMap<String, SlackUser>,
    /// Method, arguments, and whether the call succeeded.
    calls: Vec<(String, Value, bool)>,
    /// Method → answers to give before behaving normally (`429` or an error code).
    failures: HashMap<String, Vec<String>>,
    next_ts: u64,
}

/// The running stand-in.
#[derive(Clone)]
pub struct SlackStandIn {
    pub url: String,
    inner: Arc<Mutex<Inner>>,
    _server: Arc<tokio::task::JoinHandle<()>>,
}

impl SlackStandIn {
    pub async fn start() -> SlackStandIn {
        let inner = Arc::new(Mutex::new(Inner::default()));
        let app = axum::Router::new()
            .route("/api/{method}", axum::routing::post(method))
            .with_state(inner.clone());
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let url = format!("http://{}/api", listener.local_addr().unwrap());
        let server = tokio::spawn(async move {
            axum::serve(listener, app).await.unwrap();
        });
        SlackStandIn {
            url,
            inner,
            _server: Arc::new(server),
        }
    }

    pub fn add_user(&self, id: &str, email: &str, confirmed: bool) {
        self.inner.lock().unwrap().users.insert(
            id.into(),
            SlackUser {
                email: email.into(),
                confirmed,
            },
        );
    }

    /// The next `n` calls of `method` answer `answer` (`429`, or a Slack error code).
    pub fn fail_next(&self, method: &str, answer: &str, n: usize) {
        self.inner
            .lock()
            .unwrap()
            .failures
            .insert(method.into(), vec![answer.to_string(); n]);
    }

    /// The arguments of every call of `method` so far.
    pub fn calls(&self, method: &str) -> Vec<Value> {
        self.inner
            .lock()
            .unwrap()
            .calls
            .iter()
            .filter(|(m, _, _)| m == method)
            .map(|(_, v, _)| v.clone())
            .collect()
    }

    /// Every call's method, in order.
    pub fn all_calls(&self) -> Vec<String> {
        self.inner
            .lock()
            .unwrap()
            .calls
            .iter()
            .map(|(m, _, ok)| format!("{m}{}", if *ok { "" } else { " (failed)" }))
            .collect()
    }

    /// Messages posted (successfully) to a DM channel (`D` + the user id) whose text or
    /// blocks contain `needle`.
    pub fn dms(&self, user: &str, needle: &str) -> Vec<Value> {
        let posted: Vec<Value> = self
            .inner
            .lock()
            .unwrap()
            .calls
            .iter()
            .filter(|(m, _, ok)| m == "chat.postMessage" && *ok)
            .map(|(_, v, _)| v.clone())
            .collect();
        posted
            .into_iter()
            .filter(|m| m["channel"] == format!("D{user}"))
            .filter(|m| m.to_string().contains(needle))
            .collect()
    }

    /// Waits for a DM to `user` containing `needle`.
    pub async fn wait_dm(&self, user: &str, needle: &str) -> Value {
        for _ in 0..150 {
            if let Some(m) = self.dms(user, needle).into_iter().next() {
                return m;
            }
            tokio::time::sleep(std::time::Duration::from_millis(100)).await;
        }
        let seen: Vec<String> = self
            .calls("chat.postMessage")
            .iter()
            .map(|m| format!("{} {}", m["channel"], m["text"]))
            .collect();
        panic!("no Slack DM to {user} containing {needle:?}; posted: {seen:#?}");
    }
}

fn user_json(id: &str, u: &SlackUser) -> Value {
    json!({"id": id, "team_id": TEAM, "name": id.to_lowercase(), "deleted": false, "is_bot": false,
           "is_email_confirmed": u.confirmed, "profile": {"email": u.email, "real_name": id}})
}

async fn method(
    State(inner): State<Arc<Mutex<Inner>>>,
    Path(name): Path<String>,
    headers: HeaderMap,
    body: axum::body::Bytes,
) -> axum::response::Response {
    use axum::response::IntoResponse;
    let auth = headers
        .get("authorization")
        .and_then(|v| v.to_str().ok())
        .unwrap_or("");
    if auth != format!("Bearer {BOT_TOKEN}") {
        return Json(json!({"ok": false, "error": "invalid_auth"})).into_response();
    }
    let is_json = headers
        .get("content-type")
        .and_then(|v| v.to_str().ok())
        .is_some_and(|c| c.starts_with("application/json"));
    let mut args: Value = if is_json {
        serde_json::from_slice(&body).unwrap_or(Value::Null)
    } else {
        let text = String::from_utf8_lossy(&body).to_string();
        let pairs: serde_json::Map<String, Value> = chamberlain_api::extract::url_pairs(&text)
            .into_iter()
            .map(|(k, v)| (k, Value::String(v)))
            .collect();
        Value::Object(pairs)
    };
    let mut st = inner.lock().unwrap();
    if let Some(queue) = st.failures.get_mut(&name) {
        if !queue.is_empty() {
            let answer = queue.remove(0);
            st.calls.push((name.clone(), args.clone(), false));
            if answer == "429" {
                return (
                    axum::http::StatusCode::TOO_MANY_REQUESTS,
                    [("retry-after", "1")],
                    "",
                )
                    .into_response();
            }
            return Json(json!({"ok": false, "error": answer})).into_response();
        }
    }
    let arg = |k: &str| args[k].as_str().unwrap_or("").to_string();
    let answer = match name.as_str() {
        "auth.test" => json!({"ok": true, "team_id": TEAM, "team": "Stand-in", "user_id": "UBOT"}),
        "users.info" => match st.users.get(&arg("user")) {
            Some(u) => json!({"ok": true, "user": user_json(&arg("user"), u)}),
            None => json!({"ok": false, "error": "user_not_found"}),
        },
        // Like Slack: only a confirmed address finds its user.
        "users.lookupByEmail" => match st
            .users
            .iter()
            .find(|(_, u)| u.confirmed && u.email.eq_ignore_ascii_case(&arg("email")))
        {
            Some((id, u)) => json!({"ok": true, "user": user_json(id, u)}),
            None => json!({"ok": false, "error": "users_not_found"}),
        },
        "conversations.open" => {
            json!({"ok": true, "channel": {"id": format!("D{}", arg("users"))}})
        }
        "chat.postMessage" | "chat.update" => {
            if arg("channel").is_empty()
                || (args.get("text").is_none() && args.get("blocks").is_none())
            {
                json!({"ok": false, "error": "no_text"})
            } else {
                st.next_ts += 1;
                let ts = if name == "chat.update" {
                    arg("ts")
                } else {
                    format!("1700000000.{:06}", st.next_ts)
                };
                json!({"ok": true, "channel": arg("channel"), "ts": ts})
            }
        }
        "chat.postEphemeral" => json!({"ok": true, "message_ts": "1700000000.999999"}),
        "views.open" => {
            if arg("trigger_id").is_empty() {
                json!({"ok": false, "error": "invalid_trigger_id"})
            } else if args["view"]["blocks"]
                .as_array()
                .is_none_or(|b| b.is_empty())
            {
                json!({"ok": false, "error": "invalid_arguments"})
            } else {
                json!({"ok": true, "view": {"id": "V1"}})
            }
        }
        _ => json!({"ok": false, "error": "unknown_method"}),
    };
    // The message's ts is recorded with the call, so tests can find the message again.
    if let Some(ts) = answer.get("ts").cloned() {
        args["_ts"] = ts;
    }
    let ok = answer["ok"] == true;
    st.calls.push((name, args, ok));
    Json(answer).into_response()
}

/// Percent-encodes a form value.
pub fn encode(s: &str) -> String {
    let mut out = String::new();
    for b in s.bytes() {
        match b {
            b'A'..=b'Z' | b'a'..=b'z' | b'0'..=b'9' | b'-' | b'_' | b'.' | b'~' => {
                out.push(b as char)
            }
            b' ' => out.push('+'),
            _ => out.push_str(&format!("%{b:02X}")),
        }
    }
    out
}

/// Sends a request to Chamberlain the way Slack does: a form body signed with the app's
/// signing secret. `skew` moves the timestamp (seconds); `secret` overrides the secret.
pub async fn send_signed(
    base: &str,
    path: &str,
    body: &str,
    secret: &str,
    skew: i64,
) -> (u16, String) {
    let ts = (chamberlain_model::Timestamp::now().unix_seconds() + skew).to_string();
    let sig = chamberlain_notify::slack::sign(secret, &ts, body.as_bytes());
    let resp = reqwest::Client::new()
        .post(format!("{base}{path}"))
        .header("content-type", "application/x-www-form-urlencoded")
        .header("x-slack-request-timestamp", ts)
        .header("x-slack-signature", sig)
        .body(body.to_string())
        .send()
        .await
        .unwrap();
    (resp.status().as_u16(), resp.text().await.unwrap())
}

/// A slash command body as Slack sends it.
pub fn command_body(user: &str, command: &str, text: &str) -> String {
    [
        ("token", "deprecated-verification-token"),
        ("team_id", TEAM),
        ("team_domain", "standin"),
        ("channel_id", "C0GENERAL"),
        ("channel_name", "general"),
        ("user_id", user),
        ("user_name", &user.to_lowercase()),
        ("command", command),
        ("text", text),
        ("api_app_id", "A0CHAMBERLAIN"),
        ("response_url", "https://hooks.slack.invalid/commands/1"),
        ("trigger_id", &trigger_id()),
    ]
    .iter()
    .map(|(k, v)| format!("{k}={}", encode(v)))
    .collect::<Vec<_>>()
    .join("&")
}

/// A fresh trigger id (Slack issues one per command and interaction).
fn trigger_id() -> String {
    format!("13345224609.738474920.{}", chamberlain_model::new_id())
}

/// An interactivity body (`payload=<json>`) as Slack sends it.
pub fn payload_body(payload: &Value) -> String {
    format!("payload={}", encode(&payload.to_string()))
}

/// A click on a DM button.
pub fn button_click(user: &str, action_id: &str, value: &str, channel: &str, ts: &str) -> Value {
    json!({
        "type": "block_actions",
        "team": {"id": TEAM, "domain": "standin"},
        "user": {"id": user, "team_id": TEAM},
        "api_app_id": "A0CHAMBERLAIN",
        "trigger_id": trigger_id(),
        "container": {"type": "message", "message_ts": ts, "channel_id": channel, "is_ephemeral": false},
        "channel": {"id": channel},
        "actions": [{"action_id": action_id, "block_id": "chamberlain.actions", "value": value,
                     "type": "button", "action_ts": "1700000000.1"}]
    })
}

/// A modal submission: `view` as Chamberlain opened it, with `values` as the state.
pub fn submission(user: &str, view: &Value, values: Value) -> Value {
    json!({
        "type": "view_submission",
        "team": {"id": TEAM, "domain": "standin"},
        "user": {"id": user, "team_id": TEAM},
        "api_app_id": "A0CHAMBERLAIN",
        "trigger_id": trigger_id(),
        "view": {
            "id": "V1",
            "type": "modal",
            "callback_id": view["callback_id"],
            "private_metadata": view.get("private_metadata").cloned().unwrap_or(json!("")),
            "blocks": view["blocks"],
            "state": {"values": values}
        }
    })
}
