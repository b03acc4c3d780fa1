//! Notifications by email, through a real SMTP server run locally (`scripts/smtp-sink`:
//! Python's aiosmtpd from PyPI): the pipeline from task and grant changes, preferences and
//! locks, the email provider settings, retries and failures, STARTTLS with AUTH, digests.

use crate::harness::TestServer;
use crate::mcp::eventually;
use serde_json::{json, Value};
use std::path::PathBuf;
use std::process::Stdio;
use std::time::Duration;
use tokio::io::AsyncBufReadExt;

/// A local SMTP server (aiosmtpd) that stores what it accepts as JSON files.
pub(crate) struct SmtpSink {
    pub port: u16,
    dir: PathBuf,
    _child: tokio::process::Child,
}

impl SmtpSink {
    /// Starts a sink; `args` are extra flags (`--auth USER:PASS`, `--starttls CERT KEY`).
    pub(crate) async fn start(args: &[&str]) -> SmtpSink {
        let dir = std::env::temp_dir().join(format!("smtp-sink-{}", chamberlain_model::new_id()));
        std::fs::create_dir_all(&dir).unwrap();
        let port = std::net::TcpListener::bind("127.0.0.1:0")
            .unwrap()
            .local_addr()
            .unwrap()
            .port();
        let script = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../../scripts/smtp-sink");
        let mut child = tokio::process::Command::new(script)
            .arg(&dir)
            .arg(port.to_string())
            .args(args)
            .stdout(Stdio::piped())
            .kill_on_drop(true)
            .spawn()
            .expect("scripts/smtp-sink runs (needs python3 with venv and PyPI access)");
        let mut lines = tokio::io::BufReader::new(child.stdout.take().unwrap()).lines();
        let ready = tokio::time::timeout(Duration::from_secs(180), lines.next_line())
            .await
            .expect("the SMTP sink did not start in time")
            .unwrap()
            .unwrap_or_default();
        assert!(ready.starts_with("READY"), "smtp sink said: {ready}");
        SmtpSink {
            port,
            dir,
            _child: child,
        }
    }

    /// Messages accepted so far, in order.
    pub(crate) fn messages(&self) -> Vec<Value> {
        let mut out = Vec::new();
        for n in 1.. {
            let p = self.dir.join(format!("{n}.json"));
            let Ok(text) = std::fs::read_to_string(&p) else {
                break;
            };
            out.push(serde_json::from_str(&text).unwrap());
        }
        out
    }

    /// Messages to `to` whose raw text contains `needle`.
    pub(crate) fn find(&self, to: &str, needle: &str) -> Vec<Value> {
        self.messages()
            .into_iter()
            .filter(|m| m["to"].as_array().unwrap().iter().any(|t| t == to))
            .filter(|m| unfold(m["data"].as_str().unwrap()).contains(needle))
            .collect()
    }

    /// Waits until a message to `to` containing `needle` arrived; returns it.
    pub(crate) async fn wait_for(&self, to: &str, needle: &str) -> Value {
        for _ in 0..150 {
            if let Some(m) = self.find(to, needle).into_iter().next() {
                return m;
            }
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
        let seen: Vec<String> = self
            .messages()
            .iter()
            .map(|m| format!("{} {}", m["to"], subject(m)))
            .collect();
        panic!("no email to {to} containing {needle:?}; received: {seen:#?}");
    }

    /// `ok`, `tempfail`, `reject` or `hang` (see scripts/smtp_sink.py).
    pub(crate) fn set_mode(&self, mode: &str) {
        std::fs::write(self.dir.join("mode"), mode).unwrap();
    }
}

impl Drop for SmtpSink {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.dir);
    }
}

/// A message's text with quoted-printable soft line breaks and encodings undone enough to
/// search it.
fn unfold(data: &str) -> String {
    data.replace("=\r\n", "")
        .replace("=\n", "")
        .replace("=3D", "=")
        .replace("\r\n", "\n")
}

pub(crate) fn subject(m: &Value) -> String {
    let data = unfold(m["data"].as_str().unwrap());
    data.lines()
        .find_map(|l| l.strip_prefix("Subject: "))
        .unwrap_or_default()
        .to_string()
}

/// Points the tenant's email provider at a plain-text sink.
pub(crate) async fn use_sink(s: &TestServer, sink: &SmtpSink) {
    s.ok(
        "POST",
        "/api/v1/settings/email-provider",
        Some(json!({"emailProvider": {
            "fromAddress": "chamberlain@example.com",
            "fromName": "Chamberlain",
            "chamberlainSmtp": {"host": "127.0.0.1", "port": sink.port, "security": "NONE", "timeoutSeconds": 2}
        }})),
    )
    .await;
}

/// An app with an entitlement whose grants need `approver`'s approval (who may reassign it),
/// and an account for each of `users`.
pub(crate) async fn approval_entitlement(
    s: &TestServer,
    name: &str,
    approver: &str,
    users: &[&str],
) -> (String, String) {
    let app = s.create_app(name).await;
    let base = s.create_entitlement(&app, "base").await;
    s.ok(
        "POST",
        &format!("/api/v1/apps/{app}/entitlements/{base}/add-manual-user"),
        Some(json!({"userIds": users})),
    )
    .await;
    let ent = s.create_entitlement(&app, "admin").await;
    let policy = s
        .ok(
            "POST",
            "/api/v1/policies",
            Some(json!({
                "displayName": format!("{name} approval"),
                "policyType": "POLICY_TYPE_GRANT",
                "policySteps": {"grant": {"steps": [
                    {"approval": {"users": {"userIds": [approver]}, "allowReassignment": true}},
                    {"provision": {}}
                ]}}
            })),
        )
        .await;
    let pid = policy["policy"]["id"].as_str().unwrap();
    s.ok(
        "POST",
        &format!("/api/v1/apps/{app}/entitlements/{ent}"),
        Some(json!({"entitlement": {"grantPolicyId": pid}, "updateMask": "grantPolicyId"})),
    )
    .await;
    (app, ent)
}

async fn request(s: &TestServer, tok: &str, app: &str, ent: &str) -> (String, String) {
    let (st, v) = s
        .call(
            tok,
            "POST",
            "/api/v1/task/grant",
            Some(json!({"appId": app, "appEntitlementId": ent, "description": "month-end close"})),
        )
        .await;
    assert_eq!(st, 200, "{v}");
    let t = &v["taskView"]["task"];
    (
        t["id"].as_str().unwrap().to_string(),
        t["numericId"].as_str().unwrap().to_string(),
    )
}

/// Every system-log event, as one string.
pub(crate) async fn system_log(s: &TestServer) -> String {
    use sqlx::Row;
    sqlx::query("SELECT doc FROM system_log")
        .fetch_all(s.store.pool())
        .await
        .unwrap()
        .iter()
        .map(|r| r.get::<String, _>(0))
        .collect::<Vec<_>>()
        .join("\n")
}

/// Waits until the pipeline has handled every change event written so far.
async fn settled(s: &TestServer) {
    let latest = chamberlain_store::repo::jobs::latest_event_id(&s.store)
        .await
        .unwrap();
    eventually("the notification pipeline to catch up", || async {
        chamberlain_store::repo::notifications::cursor(&s.store, "notifications")
            .await
            .unwrap()
            >= latest
    })
    .await;
}

async fn notifications(s: &TestServer, query: &str) -> Vec<Value> {
    s.ok("GET", &format!("/api/v1/notifications?{query}"), None)
        .await["list"]
        .as_array()
        .unwrap()
        .clone()
}

pub async fn email_notifications_follow_requests(s: &TestServer) {
    let sink = SmtpSink::start(&[]).await;
    // No provider yet: the test button says what to do.
    let (st, v) = s
        .call(
            &s.admin,
            "POST",
            "/api/v1/settings/email-provider/test",
            Some(json!({"testRecipientEmail": "admin@example.com"})),
        )
        .await;
    assert_eq!(st, 400, "{v}");
    assert!(
        v["message"].as_str().unwrap().contains("chamberlainSmtp"),
        "{v}"
    );
    use_sink(s, &sink).await;
    let v = s.ok("GET", "/api/v1/settings/email-provider", None).await;
    assert_eq!(v["emailProvider"]["chamberlainSmtp"]["host"], "127.0.0.1");
    assert_eq!(v["emailProvider"]["sendgrid"], Value::Null);
    let v = s
        .ok(
            "POST",
            "/api/v1/settings/email-provider/test",
            Some(json!({"testRecipientEmail": "admin@example.com"})),
        )
        .await;
    assert_eq!(v["success"], true, "{v}");
    let m = sink
        .wait_for("admin@example.com", "Chamberlain test email")
        .await;
    assert_eq!(m["from"], "chamberlain@example.com");

    let (req_id, req_tok) = s.user_with_token("req@example.com", &["basic-user"]).await;
    let (appr_id, appr_tok) = s.user_with_token("appr@example.com", &["basic-user"]).await;
    let (app, ent) = approval_entitlement(s, "Ledger", &appr_id, &[&req_id]).await;
    let (tid, num) = request(s, &req_tok, &app, &ent).await;

    // The approver is asked, the requester is told it was submitted: text and HTML, a link.
    let m = sink
        .wait_for(
            "appr@example.com",
            &format!("Approval needed for request #{num}"),
        )
        .await;
    let data = unfold(m["data"].as_str().unwrap());
    assert!(data.contains("multipart/alternative"), "{data}");
    assert!(data.contains("text/html"), "{data}");
    assert!(
        data.contains(&format!("{}/app/tasks/{tid}", s.base)),
        "{data}"
    );
    assert!(
        data.contains("req requests access to admin in Ledger"),
        "{data}"
    );
    assert!(data.contains("Message-ID: <"), "{data}");
    sink.wait_for("req@example.com", &format!("Request #{num} submitted"))
        .await;

    // A question from the approver reaches the requester.
    s.call(
        &appr_tok,
        "POST",
        &format!("/api/v1/tasks/{tid}/action/comment"),
        Some(json!({"comment": "Which cost centre?"})),
    )
    .await;
    let m = sink
        .wait_for(
            "req@example.com",
            &format!("More information needed on request #{num}"),
        )
        .await;
    assert!(unfold(m["data"].as_str().unwrap()).contains("Which cost centre?"));

    // Approved: the requester hears the outcome and that access was granted.
    let (st, v) = s
        .call(
            &appr_tok,
            "POST",
            &format!("/api/v1/tasks/{tid}/action/approve"),
            Some(json!({"comment": "ok"})),
        )
        .await;
    assert_eq!(st, 200, "{v}");
    sink.wait_for("req@example.com", &format!("Request #{num} approved"))
        .await;
    sink.wait_for("req@example.com", "Access granted: admin in Ledger")
        .await;

    // Deliveries are listed with their state; a user sees only their own.
    let all = notifications(s, "state=sent&channel=email").await;
    assert!(all
        .iter()
        .any(|n| n["userId"] == appr_id.as_str() && n["type"] == "approvalNeeded"));
    let (st, mine) = s.call(&req_tok, "GET", "/api/v1/notifications", None).await;
    assert_eq!(st, 200);
    assert!(mine["list"]
        .as_array()
        .unwrap()
        .iter()
        .all(|n| n["userId"] == req_id.as_str()));
    let (st, _) = s
        .call(
            &req_tok,
            "GET",
            &format!("/api/v1/notifications?user_id={appr_id}"),
            None,
        )
        .await;
    assert_eq!(st, 403);
    let v = s
        .ok(
            "POST",
            "/api/v1/settings/email-provider/audit-events",
            Some(json!({})),
        )
        .await;
    assert!(v["list"]
        .as_array()
        .unwrap()
        .iter()
        .any(|e| e["class_uid"] == 4009 && e["status"] == "Success"));

    // Preferences: the requester turns off request updates by email; the tenant locks
    // approvals on, so the approver cannot turn those off.
    s.call(
        &req_tok,
        "POST",
        "/api/v1/settings/notifications/user",
        Some(json!({"channelSettings": {"email": {"enabled": true, "completion": {"enabled": false}, "requestCreated": {"enabled": false}}}})),
    )
    .await;
    let v = s
        .call(&req_tok, "GET", "/api/v1/settings/notifications/user", None)
        .await
        .1;
    let email = &v["userNotificationSettings"]["channelSettings"]["email"];
    assert_eq!(email["completion"]["enabled"], false, "{v}");
    assert_eq!(email["approvalNeeded"]["enabled"], true, "{v}");
    s.ok(
        "POST",
        "/api/v1/settings/notifications/org",
        Some(json!({"channelSettings": {"email": {"enabled": true, "approvalNeeded": {"enabled": true, "locked": true}}}})),
    )
    .await;
    let (st, v) = s
        .call(
            &appr_tok,
            "POST",
            "/api/v1/settings/notifications/user",
            Some(json!({"channelSettings": {"email": {"enabled": true, "approvalNeeded": {"enabled": false}}}})),
        )
        .await;
    assert_eq!(st, 400, "{v}");
    assert!(
        v["message"]
            .as_str()
            .unwrap()
            .contains("email.approvalNeeded"),
        "{v}"
    );
    // The approver turning email off entirely still gets the locked type.
    let (st, v) = s
        .call(
            &appr_tok,
            "POST",
            "/api/v1/settings/notifications/user",
            Some(json!({"channelSettings": {"email": {"enabled": false}}})),
        )
        .await;
    assert_eq!(st, 200, "{v}");
    let ent2 = s.create_entitlement(&app, "auditor").await;
    let policy_id = s
        .ok(
            "GET",
            &format!("/api/v1/apps/{app}/entitlements/{ent}"),
            None,
        )
        .await["appEntitlementView"]["appEntitlement"]["grantPolicyId"]
        .as_str()
        .unwrap()
        .to_string();
    s.ok(
        "POST",
        &format!("/api/v1/apps/{app}/entitlements/{ent2}"),
        Some(json!({"entitlement": {"grantPolicyId": policy_id}, "updateMask": "grantPolicyId"})),
    )
    .await;
    let (tid2, num2) = request(s, &req_tok, &app, &ent2).await;
    sink.wait_for(
        "appr@example.com",
        &format!("Approval needed for request #{num2}"),
    )
    .await;
    s.call(
        &appr_tok,
        "POST",
        &format!("/api/v1/tasks/{tid2}/action/deny"),
        Some(json!({"comment": "no"})),
    )
    .await;
    settled(s).await;
    assert!(sink
        .find("req@example.com", &format!("Request #{num2} denied"))
        .is_empty());
    assert!(sink
        .find("req@example.com", &format!("Request #{num2} submitted"))
        .is_empty());
}

pub async fn notification_settings_bad_input_is_refused(s: &TestServer) {
    let before = s.ok("GET", "/api/v1/settings/email-provider", None).await;
    for (body, wanted) in [
        (json!({}), "`emailProvider` is required"),
        (
            json!({"emailProvider": {"sendgrid": {"apiKey": "x"}}}),
            "chamberlainSmtp",
        ),
        (json!({"emailProvider": {"bogus": 1}}), "bogus"),
        (
            json!({"emailProvider": {"fromAddress": "not an address", "chamberlainSmtp": {"host": "smtp.example.com"}}}),
            "sender address",
        ),
        (
            json!({"emailProvider": {"fromAddress": "a@example.com", "chamberlainSmtp": {"host": "", "port": 25}}}),
            "host is required",
        ),
        (
            json!({"emailProvider": {"fromAddress": "a@example.com", "chamberlainSmtp": {"host": "smtp.example.com", "security": "MAYBE"}}}),
            "security",
        ),
        (
            json!({"emailProvider": {"fromAddress": "a@example.com", "chamberlainSmtp": {"host": "smtp.example.com", "port": 70000}}}),
            "port",
        ),
        (
            json!({"emailProvider": {"fromAddress": "a@example.com", "chamberlainSmtp": {"host": "smtp.example.com", "username": "u"}}}),
            "both an SMTP username and password",
        ),
        (
            json!({"emailProvider": {"fromAddress": "a@example.com", "chamberlainSmtp": {"host": "smtp.example.com", "passwordSet": true}}}),
            "passwordSet is read-only",
        ),
        (
            json!({"emailProvider": {"fromAddress": "a@example.com", "chamberlainSmtp": {"host": "smtp.example.com", "caCertificatePem": "nope"}}}),
            "PEM",
        ),
        (
            json!({"emailProvider": {"fromAddress": "a@example.com"}, "updateMask": "fromAddress,apiKey"}),
            "apiKey",
        ),
    ] {
        let (st, v) = s
            .call(
                &s.admin,
                "POST",
                "/api/v1/settings/email-provider",
                Some(body.clone()),
            )
            .await;
        assert_eq!(st, 400, "{body}: {v}");
        assert!(
            v["message"].as_str().unwrap().contains(wanted),
            "{body}: {v}"
        );
    }
    assert_eq!(
        s.ok("GET", "/api/v1/settings/email-provider", None).await,
        before,
        "nothing saved"
    );

    // The password is write-only and kept when an update leaves it out.
    let v = s
        .ok(
            "POST",
            "/api/v1/settings/email-provider",
            Some(json!({"emailProvider": {"fromAddress": "a@example.com", "chamberlainSmtp": {"host": "smtp.example.com", "username": "mailer", "password": "hunter2-secret"}}})),
        )
        .await;
    assert!(!v.to_string().contains("hunter2-secret"));
    assert_eq!(v["emailProvider"]["chamberlainSmtp"]["passwordSet"], true);
    let v = s
        .ok(
            "POST",
            "/api/v1/settings/email-provider",
            Some(json!({"emailProvider": {"chamberlainSmtp": {"host": "smtp.example.com", "username": "mailer", "timeoutSeconds": 5}}, "updateMask": "chamberlainSmtp"})),
        )
        .await;
    assert_eq!(
        v["emailProvider"]["chamberlainSmtp"]["passwordSet"], true,
        "{v}"
    );
    let log = system_log(s).await;
    assert!(
        log.contains("email provider"),
        "the change is in the system log"
    );
    assert!(
        !log.contains("hunter2-secret"),
        "the system log holds the sealed password only"
    );

    // Only Super Admins change settings; everyone may set their own preferences.
    let (_, user_tok) = s
        .user_with_token("plain@example.com", &["basic-user"])
        .await;
    let (st, _) = s
        .call(
            &user_tok,
            "POST",
            "/api/v1/settings/email-provider",
            Some(json!({"emailProvider": {}})),
        )
        .await;
    assert_eq!(st, 403);
    let (st, _) = s
        .call(
            &user_tok,
            "POST",
            "/api/v1/settings/notifications/org",
            Some(json!({"channelSettings": {}})),
        )
        .await;
    assert_eq!(st, 403);
    for (body, wanted) in [
        (json!({}), "`channelSettings` is required"),
        (
            json!({"channelSettings": {"email": {"approvalNeeded": {"enabled": "yes"}}}}),
            "approvalNeeded",
        ),
        (json!({"channelSettings": {"fax": {}}}), "fax"),
        (
            json!({"channelSettings": {"email": {"digest": {"enabled": true, "frequency": "HOURLY"}}}}),
            "HOURLY",
        ),
        (
            json!({"channelSettings": {"teams": {"enabled": true}}}),
            "Teams",
        ),
    ] {
        let (st, v) = s
            .call(
                &user_tok,
                "POST",
                "/api/v1/settings/notifications/user",
                Some(body.clone()),
            )
            .await;
        assert_eq!(st, 400, "{body}: {v}");
        assert!(
            v["message"].as_str().unwrap().contains(wanted),
            "{body}: {v}"
        );
    }
    for q in ["state=lost", "channel=fax"] {
        let (st, _) = s
            .call(&s.admin, "GET", &format!("/api/v1/notifications?{q}"), None)
            .await;
        assert_eq!(st, 400, "{q}");
    }
    let (st, _) = s
        .call(
            &s.admin,
            "POST",
            "/api/v1/notifications/0000000000000000000000000000/retry",
            None,
        )
        .await;
    assert_eq!(st, 404);
}

pub async fn email_failures_are_retried_or_marked_failed(s: &TestServer) {
    let sink = SmtpSink::start(&[]).await;
    use_sink(s, &sink).await;
    let (req_id, req_tok) = s.user_with_token("req@example.com", &["basic-user"]).await;
    let (appr_id, _) = s.user_with_token("appr@example.com", &["basic-user"]).await;
    let (app, ent) = approval_entitlement(s, "Billing", &appr_id, &[&req_id]).await;

    // A temporary refusal is retried; once the server recovers, the message arrives.
    sink.set_mode("tempfail");
    let (_, num) = request(s, &req_tok, &app, &ent).await;
    eventually("a retried delivery", || async {
        notifications(s, &format!("user_id={appr_id}&state=pending"))
            .await
            .iter()
            .any(|n| {
                n["attempts"].as_i64() >= Some(1)
                    && n["lastError"].as_str().unwrap().contains("451")
            })
    })
    .await;
    sink.set_mode("ok");
    sink.wait_for(
        "appr@example.com",
        &format!("Approval needed for request #{num}"),
    )
    .await;

    // A permanent refusal fails at once, is visible with the server's answer, and an admin can
    // retry it once the cause is fixed.
    sink.set_mode("reject");
    let ent2 = s.create_entitlement(&app, "viewer").await;
    let (_, num2) = request(s, &req_tok, &app, &ent2).await;
    // (Under load, the requester's notice from the temporary-failure phase above may have used
    // up its attempts too: pick the one the permanent refusal failed.)
    let rejected = || async {
        notifications(s, &format!("state=failed&user_id={req_id}"))
            .await
            .into_iter()
            .find(|n| n["lastError"].as_str().unwrap_or("").contains("550"))
    };
    eventually("a failed delivery", || async { rejected().await.is_some() }).await;
    let failed = rejected().await.unwrap();
    assert_eq!(failed["attempts"], 1, "{failed}");
    assert!(
        failed["lastError"].as_str().unwrap().contains("550"),
        "{failed}"
    );
    let log = system_log(s).await;
    assert!(
        log.contains(failed["id"].as_str().unwrap()),
        "failures are in the system log"
    );
    sink.set_mode("ok");
    let id = failed["id"].as_str().unwrap();
    let v = s
        .ok("POST", &format!("/api/v1/notifications/{id}/retry"), None)
        .await;
    assert_eq!(v["notification"]["state"], "pending");
    sink.wait_for("req@example.com", &format!("Request #{num2}"))
        .await;
    let (st, v) = s
        .call(
            &s.admin,
            "POST",
            &format!("/api/v1/notifications/{id}/retry"),
            None,
        )
        .await;
    assert_eq!(st, 400, "{v}");
    assert!(
        v["message"].as_str().unwrap().contains("only failed"),
        "{v}"
    );

    // A server that never answers: the attempt times out and is retried, then given up after
    // the configured attempts (3 in tests) with the timeout named.
    sink.set_mode("hang");
    s.ok(
        "POST",
        "/api/v1/settings/email-provider",
        Some(json!({"emailProvider": {"chamberlainSmtp": {"host": "127.0.0.1", "port": sink.port, "security": "NONE", "timeoutSeconds": 1}}, "updateMask": "chamberlainSmtp"})),
    )
    .await;
    let ent3 = s.create_entitlement(&app, "owner").await;
    request(s, &req_tok, &app, &ent3).await;
    let mut given_up = false;
    for _ in 0..60 {
        given_up = notifications(s, &format!("state=failed&user_id={req_id}"))
            .await
            .iter()
            .any(|n| n["attempts"] == 3 && n["lastError"].as_str().unwrap().contains("timed out"));
        if given_up {
            break;
        }
        tokio::time::sleep(Duration::from_millis(500)).await;
    }
    assert!(
        given_up,
        "a server that never answers is given up on after 3 timed-out attempts"
    );
}

/// A self-signed certificate for 127.0.0.1 (openssl), as (cert path, key path, PEM).
fn self_signed(dir: &std::path::Path) -> (String, String, String) {
    let cert = dir.join("cert.pem");
    let key = dir.join("key.pem");
    let ok = std::process::Command::new("openssl")
        .args([
            "req",
            "-x509",
            "-newkey",
            "rsa:2048",
            "-nodes",
            "-days",
            "1",
            "-subj",
            "/CN=127.0.0.1",
            "-addext",
            "subjectAltName=IP:127.0.0.1",
            "-addext",
            "basicConstraints=critical,CA:FALSE",
            "-keyout",
        ])
        .arg(&key)
        .arg("-out")
        .arg(&cert)
        .stderr(Stdio::null())
        .status()
        .expect("openssl is installed");
    assert!(ok.success());
    let pem = std::fs::read_to_string(&cert).unwrap();
    (cert.display().to_string(), key.display().to_string(), pem)
}

pub async fn starttls_auth_and_digests(s: &TestServer) {
    let dir = std::env::temp_dir().join(format!("smtp-tls-{}", chamberlain_model::new_id()));
    std::fs::create_dir_all(&dir).unwrap();
    let (cert, key, pem) = self_signed(&dir);
    let sink = SmtpSink::start(&["--auth", "mailer:s3cret", "--starttls", &cert, &key]).await;
    let provider = |password: &str, ca: &str| {
        json!({"emailProvider": {
            "fromAddress": "chamberlain@example.com",
            "chamberlainSmtp": {"host": "127.0.0.1", "port": sink.port, "security": "STARTTLS",
                "username": "mailer", "password": password, "caCertificatePem": ca, "timeoutSeconds": 5}
        }})
    };
    let test = || async {
        s.ok(
            "POST",
            "/api/v1/settings/email-provider/test",
            Some(json!({"testRecipientEmail": "admin@example.com"})),
        )
        .await
    };
    // Without trusting the relay's certificate, STARTTLS fails and says why.
    s.ok(
        "POST",
        "/api/v1/settings/email-provider",
        Some(provider("s3cret", "")),
    )
    .await;
    let v = test().await;
    assert_eq!(v["success"], false, "{v}");
    // Trusted, with the right password: sent over TLS, authenticated.
    s.ok(
        "POST",
        "/api/v1/settings/email-provider",
        Some(provider("s3cret", &pem)),
    )
    .await;
    let v = test().await;
    assert_eq!(v["success"], true, "{v}");
    let m = sink
        .wait_for("admin@example.com", "Chamberlain test email")
        .await;
    assert_eq!(m["tls"], true);
    assert_eq!(m["user"], "mailer");
    // A wrong password is a permanent failure naming the server's answer.
    s.ok(
        "POST",
        "/api/v1/settings/email-provider",
        Some(provider("wrong", &pem)),
    )
    .await;
    let v = test().await;
    assert_eq!(v["success"], false, "{v}");
    assert!(v["message"].as_str().unwrap().contains("535"), "{v}");
    s.ok(
        "POST",
        "/api/v1/settings/email-provider",
        Some(provider("s3cret", &pem)),
    )
    .await;

    // Digests: only for people with something waiting, once per period.
    let (req_id, req_tok) = s.user_with_token("req@example.com", &["basic-user"]).await;
    let (appr_id, appr_tok) = s.user_with_token("appr@example.com", &["basic-user"]).await;
    let (_, idle_tok) = s.user_with_token("idle@example.com", &["basic-user"]).await;
    let (app, ent) = approval_entitlement(s, "Vault", &appr_id, &[&req_id]).await;
    let (_, num) = request(s, &req_tok, &app, &ent).await;
    let today = jiff::Zoned::now()
        .with_time_zone(jiff::tz::TimeZone::UTC)
        .weekday();
    let day = [
        "WEEKDAY_MONDAY",
        "WEEKDAY_TUESDAY",
        "WEEKDAY_WEDNESDAY",
        "WEEKDAY_THURSDAY",
        "WEEKDAY_FRIDAY",
        "WEEKDAY_SATURDAY",
        "WEEKDAY_SUNDAY",
    ][today.to_monday_zero_offset() as usize];
    let weekly = json!({"channelSettings": {"email": {"enabled": true,
        "digest": {"enabled": true, "frequency": "DIGEST_FREQUENCY_WEEKLY", "dayOfWeek": day}}}});
    for tok in [&appr_tok, &idle_tok] {
        let (st, v) = s
            .call(
                tok,
                "POST",
                "/api/v1/settings/notifications/user",
                Some(weekly.clone()),
            )
            .await;
        assert_eq!(st, 200, "{v}");
    }
    let env = chamberlain_api::notify::environment(&s.state).await;
    let clock = chamberlain_notify::digest::DigestClock::default();
    // Weekly digests go out from 10:00 (UTC here): nothing at 01:00, one at 23:00 the same day.
    let at_hour = |h: i8| {
        jiff::Timestamp::now()
            .to_zoned(jiff::tz::TimeZone::UTC)
            .with()
            .hour(h)
            .build()
            .unwrap()
            .timestamp()
    };
    let digests = |t| {
        let env = env.clone();
        let clock = clock.clone();
        async move {
            chamberlain_notify::digest::queue_due(&s.store, &env, &clock, t)
                .await
                .unwrap()
        }
    };
    // The worker's housekeeping queues due digests too (after 10:00 UTC it may have done so
    // already), so count the digest rows rather than what this call queued.
    let digest_rows = || async {
        notifications(s, "channel=email")
            .await
            .iter()
            .filter(|n| n["type"] == "digest")
            .map(|n| n["userId"].as_str().unwrap().to_string())
            .collect::<Vec<_>>()
    };
    assert_eq!(digests(at_hour(1)).await, 0, "not before the hour");
    digests(at_hour(23)).await;
    assert_eq!(
        digest_rows().await,
        std::slice::from_ref(&appr_id),
        "the approver has a task waiting; the idle user gets nothing"
    );
    assert_eq!(digests(at_hour(23)).await, 0, "one digest per period");
    assert_eq!(digest_rows().await.len(), 1);
    let m = sink
        .wait_for("appr@example.com", "1 task is waiting for you")
        .await;
    assert!(unfold(m["data"].as_str().unwrap()).contains(&format!("#{num}: grant admin in Vault")));
    assert!(sink.find("idle@example.com", "waiting for you").is_empty());
    let _ = std::fs::remove_dir_all(&dir);
}
