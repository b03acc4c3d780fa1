//! The command-line client against a real server: `chamberlain login` through the device
//! authorization grant approved in a browser session, the device flow's refusals (denied,
//! expired, reused, too fast), and the self-service commands (`search`, `get --wait`, `has`,
//! `drop`, `requests`, `tasks …`, `api`) with their exit codes.

use crate::harness::TestServer;
use crate::oauth::{browser, hidden_fields, location, sign_in, user_with_password, PASSWORD};
use serde_json::{json, Value};
use std::path::{Path, PathBuf};
use std::process::Stdio;
use std::time::Duration;
use tokio::io::{AsyncBufReadExt, BufReader};

const BIN: &str = env!("CARGO_BIN_EXE_chamberlain");
const DEVICE_GRANT: &str = "urn:ietf:params:oauth:grant-type:device_code";

fn temp_dir() -> PathBuf {
    let d = std::env::temp_dir().join(format!("chamberlain-cli-{}", chamberlain_model::new_id()));
    std::fs::create_dir_all(&d).unwrap();
    d
}

/// What a finished command did.
pub(crate) struct Out {
    pub code: i32,
    pub stdout: String,
    pub stderr: String,
}

impl Out {
    pub(crate) fn json(&self) -> Value {
        serde_json::from_str(&self.stdout)
            .unwrap_or_else(|e| panic!("not JSON ({e}): {}\n{}", self.stdout, self.stderr))
    }
}

impl std::fmt::Debug for Out {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(
            f,
            "exit {}\n--- stdout\n{}\n--- stderr\n{}",
            self.code, self.stdout, self.stderr
        )
    }
}

/// The binary with a private profile file and no credentials from the environment.
fn command(config: &Path, args: &[&str]) -> tokio::process::Command {
    let mut c = tokio::process::Command::new(BIN);
    c.args(args)
        .arg("--config")
        .arg(config)
        .env_remove("CHAMBERLAIN_CLIENT_ID")
        .env_remove("CHAMBERLAIN_CLIENT_SECRET")
        .env_remove("CHAMBERLAIN_SERVER")
        .env_remove("CHAMBERLAIN_PROFILE")
        .env_remove("CHAMBERLAIN_CONFIG")
        .stdin(Stdio::null())
        .kill_on_drop(true);
    c
}

async fn finish(c: &mut tokio::process::Command) -> Out {
    let o = tokio::time::timeout(Duration::from_secs(60), c.output())
        .await
        .expect("the command did not finish within 60 s")
        .unwrap();
    Out {
        code: o.status.code().unwrap_or(-1),
        stdout: String::from_utf8_lossy(&o.stdout).to_string(),
        stderr: String::from_utf8_lossy(&o.stderr).to_string(),
    }
}

/// Runs a command with a profile file.
async fn run(config: &Path, args: &[&str]) -> Out {
    finish(&mut command(config, args)).await
}

/// Runs a command with client credentials from the environment (no profile).
pub(crate) async fn run_as(s: &TestServer, creds: &(String, String), args: &[&str]) -> Out {
    let dir = std::env::temp_dir().join("chamberlain-cli-none");
    let mut c = command(&dir.join("absent.toml"), args);
    c.env("CHAMBERLAIN_SERVER", &s.base)
        .env("CHAMBERLAIN_CLIENT_ID", &creds.0)
        .env("CHAMBERLAIN_CLIENT_SECRET", &creds.1);
    finish(&mut c).await
}

/// Answers a device code in a browser session of `email`: signs in if needed, confirms the
/// code and presses `decision` (approve or deny). Returns the final page.
async fn decide(
    s: &TestServer,
    b: &reqwest::Client,
    code: &str,
    email: &str,
    decision: &str,
) -> String {
    let url = format!("{}/auth/v1/device?user_code={code}", s.base);
    let mut resp = b.get(&url).send().await.unwrap();
    if resp.status() == 303 {
        let signin = location(&resp);
        assert!(signin.starts_with("/auth/v1/signin?"), "{signin}");
        let signed = sign_in(s, b, &signin, email, PASSWORD).await;
        assert_eq!(signed.status(), 303);
        let back = location(&signed);
        assert!(back.starts_with("/auth/v1/device?user_code="), "{back}");
        resp = b.get(format!("{}{back}", s.base)).send().await.unwrap();
    }
    assert_eq!(resp.status(), 200);
    let html = resp.text().await.unwrap();
    assert!(html.contains("Chamberlain command-line client"), "{html}");
    assert!(html.contains(email), "the page says who approves: {html}");
    let mut form = hidden_fields(&html);
    form.push(("decision".into(), decision.into()));
    let done = b
        .post(format!("{}/auth/v1/device", s.base))
        .form(&form)
        .send()
        .await
        .unwrap();
    assert_eq!(done.status(), 200);
    done.text().await.unwrap()
}

/// `chamberlain login` answered in the browser with `decision`.
async fn login(s: &TestServer, config: &Path, email: &str, decision: &str, extra: &[&str]) -> Out {
    let mut args = vec!["login", "--server", s.base.as_str()];
    args.extend_from_slice(extra);
    let mut child = command(config, &args)
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    // With --output json the instructions are on stderr and stdout carries only the result.
    let json_output = extra.windows(2).any(|w| w == ["--output", "json"]);
    type Stream = Box<dyn tokio::io::AsyncRead + Unpin + Send>;
    let out_stream: Stream = Box::new(child.stdout.take().unwrap());
    let err_stream: Stream = Box::new(child.stderr.take().unwrap());
    let (shown_stream, mut other) = if json_output {
        (err_stream, out_stream)
    } else {
        (out_stream, err_stream)
    };
    let mut lines = BufReader::new(shown_stream).lines();
    let mut shown = String::new();
    let code = loop {
        let line = tokio::time::timeout(Duration::from_secs(20), lines.next_line())
            .await
            .expect("login printed no code")
            .unwrap()
            .expect("login ended before printing a code");
        shown.push_str(&line);
        shown.push('\n');
        if let Some(c) = line.split("enter the code: ").nth(1) {
            break c.trim().to_string();
        }
    };
    assert!(
        shown.contains(&format!("{}/auth/v1/device", s.base)),
        "{shown}"
    );
    assert_eq!(code.len(), 9, "XXXX-XXXX: {code}");
    assert_eq!(&code[4..5], "-");
    let b = browser();
    let page = decide(s, &b, &code, email, decision).await;
    let mut rest = String::new();
    while let Ok(Some(l)) = lines.next_line().await {
        rest.push_str(&l);
        rest.push('\n');
    }
    let mut other_text = String::new();
    tokio::time::timeout(
        Duration::from_secs(40),
        tokio::io::AsyncReadExt::read_to_string(&mut other, &mut other_text),
    )
    .await
    .expect("login did not finish")
    .unwrap();
    let status = tokio::time::timeout(Duration::from_secs(10), child.wait())
        .await
        .expect("login did not exit")
        .unwrap();
    if decision == "approve" {
        assert!(page.contains("device-approved"), "{page}");
    } else {
        assert!(page.contains("device-denied"), "{page}");
    }
    let (stdout, stderr) = if json_output {
        (other_text, format!("{shown}{rest}"))
    } else {
        (format!("{shown}{rest}"), other_text)
    };
    Out {
        code: status.code().unwrap_or(-1),
        stdout,
        stderr,
    }
}

/// `chamberlain login` whose code expires before anyone approves it (the row's expiry is moved
/// into the past once the code is shown).
async fn login_expiring(s: &TestServer, config: &Path) -> Out {
    let mut child = command(config, &["login", "--server", s.base.as_str()])
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    let mut lines = BufReader::new(child.stdout.take().unwrap()).lines();
    let code = loop {
        let line = tokio::time::timeout(Duration::from_secs(20), lines.next_line())
            .await
            .expect("login printed no code")
            .unwrap()
            .expect("login ended before printing a code");
        if let Some(c) = line.split("enter the code: ").nth(1) {
            break c.trim().replace('-', "");
        }
    };
    sqlx::query("UPDATE device_authorizations SET expires_at = $1 WHERE user_code = $2")
        .bind(chamberlain_model::Timestamp::now().as_micros() - 1)
        .bind(code)
        .execute(s.store.pool())
        .await
        .unwrap();
    while let Ok(Some(_)) = lines.next_line().await {}
    let o = tokio::time::timeout(Duration::from_secs(40), child.wait_with_output())
        .await
        .expect("login did not finish")
        .unwrap();
    Out {
        code: o.status.code().unwrap_or(-1),
        stdout: String::new(),
        stderr: String::from_utf8_lossy(&o.stderr).to_string(),
    }
}

async fn device_start(s: &TestServer) -> Value {
    let resp = s
        .http
        .post(format!("{}/auth/v1/device_authorization", s.base))
        .form(&[("client_id", "chamberlain-cli")])
        .send()
        .await
        .unwrap();
    assert_eq!(resp.status(), 200);
    assert_eq!(resp.headers()["cache-control"], "no-store");
    resp.json().await.unwrap()
}

async fn poll(s: &TestServer, device_code: &str) -> (u16, Value) {
    let resp = s
        .http
        .post(format!("{}/auth/v1/token", s.base))
        .form(&[
            ("grant_type", DEVICE_GRANT),
            ("device_code", device_code),
            ("client_id", "chamberlain-cli"),
        ])
        .send()
        .await
        .unwrap();
    (resp.status().as_u16(), resp.json().await.unwrap())
}

async fn device_events(s: &TestServer, user_id: &str) -> i64 {
    use sqlx::Row;
    sqlx::query("SELECT COUNT(*) FROM system_log WHERE object_kind = 'device authorization' AND actor_user_id = $1")
        .bind(user_id)
        .fetch_one(s.store.pool())
        .await
        .unwrap()
        .try_get::<i64, _>(0)
        .unwrap()
}

pub async fn cli_login_whoami_and_logout(s: &TestServer) {
    let dir = temp_dir();
    let config = dir.join("chamberlain").join("config.toml");
    let uid = user_with_password(s, "dev@example.com").await;
    let out = login(s, &config, "dev@example.com", "approve", &[]).await;
    assert_eq!(out.code, 0, "{out:?}");
    assert!(out.stdout.contains("Signed in to"), "{out:?}");
    assert_eq!(device_events(s, &uid).await, 1, "the approval is audited");
    #[cfg(unix)]
    {
        use std::os::unix::fs::PermissionsExt;
        let mode = std::fs::metadata(&config).unwrap().permissions().mode();
        assert_eq!(mode & 0o777, 0o600, "the profile file is private");
    }
    let text = std::fs::read_to_string(&config).unwrap();
    assert!(text.contains("[profiles.default]"), "{text}");
    assert!(text.contains(&s.base), "{text}");
    let file: toml::Table = toml::from_str(&text).unwrap();
    let secret = file["profiles"]["default"]["client_secret"]
        .as_str()
        .unwrap()
        .to_string();
    let client_id = file["profiles"]["default"]["client_id"]
        .as_str()
        .unwrap()
        .to_string();

    // The personal client works.
    let who = run(&config, &["whoami", "--output", "json"]).await;
    assert_eq!(who.code, 0, "{who:?}");
    let v = who.json();
    assert_eq!(v["email"], "dev@example.com");
    assert_eq!(v["userId"], uid);
    assert_eq!(v["profile"], "default");
    let who = run(&config, &["whoami"]).await;
    assert!(who.stdout.contains("dev@example.com"), "{who:?}");
    // The raw call.
    let raw = run(&config, &["api", "GET", "/api/v1/auth/introspect"]).await;
    assert_eq!(raw.code, 0, "{raw:?}");
    assert_eq!(raw.json()["userId"], uid);
    let missing = run(&config, &["api", "GET", "/api/v1/tasks/999999"]).await;
    assert_eq!(missing.code, 4, "{missing:?}");
    assert!(missing.stdout.contains("not found"), "{missing:?}");

    // A second profile on the same server; a different --server than a profile's is refused.
    let other = login(
        s,
        &config,
        "dev@example.com",
        "approve",
        &["--profile", "second", "--output", "json"],
    )
    .await;
    assert_eq!(other.code, 0, "{other:?}");
    assert_eq!(
        other.json()["email"],
        "dev@example.com",
        "stdout is only the JSON result"
    );
    assert_eq!(other.json()["profile"], "second");
    let who2 = run(
        &config,
        &["whoami", "--profile", "second", "--output", "json"],
    )
    .await;
    assert_eq!(who2.json()["profile"], "second");
    let wrong = run(&config, &["whoami", "--server", "http://127.0.0.1:1"]).await;
    assert_eq!(wrong.code, 3, "{wrong:?}");

    // Signing in again to a profile replaces its client: the old one is deleted.
    let token_status = |id: String, secret: String| async move {
        s.http
            .post(format!("{}/auth/v1/token", s.base))
            .form(&[
                ("grant_type", "client_credentials"),
                ("client_id", id.as_str()),
                ("client_secret", secret.as_str()),
            ])
            .send()
            .await
            .unwrap()
            .status()
            .as_u16()
    };
    assert_eq!(token_status(client_id.clone(), secret.clone()).await, 200);
    let again = login(s, &config, "dev@example.com", "approve", &[]).await;
    assert_eq!(again.code, 0, "{again:?}");
    assert_eq!(
        token_status(client_id.clone(), secret.clone()).await,
        401,
        "the replaced client no longer works"
    );
    let file: toml::Table = toml::from_str(&std::fs::read_to_string(&config).unwrap()).unwrap();
    let client_id = file["profiles"]["default"]["client_id"]
        .as_str()
        .unwrap()
        .to_string();
    let secret = file["profiles"]["default"]["client_secret"]
        .as_str()
        .unwrap()
        .to_string();

    // Logout deletes the client on the server and forgets the profile.
    let out = run(&config, &["logout"]).await;
    assert_eq!(out.code, 0, "{out:?}");
    assert!(out.stdout.contains("deleted on the server"), "{out:?}");
    assert_eq!(
        token_status(client_id, secret).await,
        401,
        "the logged-out client no longer works"
    );
    let after = run(&config, &["whoami"]).await;
    assert_eq!(after.code, 3, "{after:?}");
    assert!(after.stderr.contains("chamberlain login"), "{after:?}");
    let still = run(&config, &["whoami", "--profile", "second"]).await;
    assert_eq!(still.code, 0, "other profiles stay: {still:?}");

    // A denied sign-in: exit 5, "denied", nothing saved.
    let fresh = dir.join("denied.toml");
    let out = login(s, &fresh, "dev@example.com", "deny", &[]).await;
    assert_eq!(out.code, 5, "{out:?}");
    assert!(out.stderr.contains("denied"), "{out:?}");
    assert!(!fresh.exists(), "nothing was written");
    // A code that expires unapproved: exit 7, nothing saved.
    let out = login_expiring(s, &fresh).await;
    assert_eq!(out.code, 7, "{out:?}");
    assert!(out.stderr.contains("expired"), "{out:?}");
    assert!(!fresh.exists(), "nothing was written");
    let _ = std::fs::remove_dir_all(&dir);
}

pub async fn device_flow_rules_and_refusals(s: &TestServer) {
    let uid = user_with_password(s, "ops@example.com").await;
    let md: Value = s
        .http
        .get(format!("{}/.well-known/oauth-authorization-server", s.base))
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert_eq!(
        md["device_authorization_endpoint"],
        format!("{}/auth/v1/device_authorization", s.base)
    );
    assert!(md["grant_types_supported"]
        .as_array()
        .unwrap()
        .contains(&json!(DEVICE_GRANT)));

    // Unknown or missing client.
    for (form, status, error) in [
        (vec![("client_id", "someone-else")], 401, "invalid_client"),
        (vec![], 400, "invalid_request"),
        (
            vec![("client_id", "chamberlain-cli"), ("scope", "admin")],
            400,
            "invalid_scope",
        ),
    ] {
        let resp = s
            .http
            .post(format!("{}/auth/v1/device_authorization", s.base))
            .form(&form)
            .send()
            .await
            .unwrap();
        assert_eq!(resp.status(), status);
        let v: Value = resp.json().await.unwrap();
        assert_eq!(v["error"], error, "{v}");
    }

    // The code pair.
    let d = device_start(s).await;
    let code = d["user_code"].as_str().unwrap().to_string();
    let device_code = d["device_code"].as_str().unwrap().to_string();
    assert_eq!(d["expires_in"], 600);
    assert_eq!(d["interval"], 5);
    assert_eq!(d["verification_uri"], format!("{}/auth/v1/device", s.base));
    assert!(d["verification_uri_complete"]
        .as_str()
        .unwrap()
        .ends_with(&format!("user_code={code}")));
    assert!(code
        .chars()
        .all(|c| c == '-' || "BCDFGHJKLMNPQRSTVWXZ".contains(c)));

    // Pending, then too fast: slow_down, and the interval grows by 5 s each time.
    let (st, v) = poll(s, &device_code).await;
    assert_eq!(
        (st, v["error"].as_str()),
        (400, Some("authorization_pending")),
        "{v}"
    );
    let (_, v) = poll(s, &device_code).await;
    assert_eq!(v["error"], "slow_down", "{v}");
    assert!(
        v["error_description"].as_str().unwrap().contains("10 s"),
        "{v}"
    );
    let (_, v) = poll(s, &device_code).await;
    assert_eq!(v["error"], "slow_down");
    assert!(
        v["error_description"].as_str().unwrap().contains("15 s"),
        "{v}"
    );
    // Wrong client, unknown code, missing code.
    let resp = s
        .http
        .post(format!("{}/auth/v1/token", s.base))
        .form(&[
            ("grant_type", DEVICE_GRANT),
            ("device_code", device_code.as_str()),
            ("client_id", "x"),
        ])
        .send()
        .await
        .unwrap();
    assert_eq!(resp.status(), 401);
    let (st, v) = poll(s, "not-a-code").await;
    assert_eq!(
        (st, v["error"].as_str()),
        (400, Some("invalid_grant")),
        "{v}"
    );
    let (st, v) = poll(s, "").await;
    assert_eq!(
        (st, v["error"].as_str()),
        (400, Some("invalid_request")),
        "{v}"
    );

    // The page: not signed in → sign-in and back; malformed and unknown codes are explained.
    let b = browser();
    let resp = b
        .get(format!("{}/auth/v1/device?user_code={code}", s.base))
        .send()
        .await
        .unwrap();
    assert_eq!(resp.status(), 303);
    let signin = location(&resp);
    assert!(
        signin.contains("return_to=%2Fauth%2Fv1%2Fdevice"),
        "{signin}"
    );
    let signed = sign_in(s, &b, &signin, "ops@example.com", PASSWORD).await;
    assert_eq!(signed.status(), 303);
    let page = b
        .get(format!("{}/auth/v1/device", s.base))
        .send()
        .await
        .unwrap()
        .text()
        .await
        .unwrap();
    assert!(page.contains("name=\"user_code\""), "an entry form: {page}");
    let bad = b
        .get(format!("{}/auth/v1/device?user_code=AEIO-1234", s.base))
        .send()
        .await
        .unwrap();
    assert_eq!(bad.status(), 400);
    assert!(bad.text().await.unwrap().contains("not a device code"));
    let unknown = b
        .get(format!("{}/auth/v1/device?user_code=BBBB-BBBB", s.base))
        .send()
        .await
        .unwrap();
    assert_eq!(unknown.status(), 404);
    assert!(unknown.text().await.unwrap().contains("not valid"));
    // Lower case without the dash finds the code too; a post without the CSRF token is refused.
    let typed = code.replace('-', "").to_lowercase();
    let confirm = b
        .get(format!("{}/auth/v1/device?user_code={typed}", s.base))
        .send()
        .await
        .unwrap();
    assert_eq!(confirm.status(), 200);
    let html = confirm.text().await.unwrap();
    assert!(html.contains(&code), "{html}");
    let forged = b
        .post(format!("{}/auth/v1/device", s.base))
        .form(&[("user_code", code.as_str()), ("decision", "approve")])
        .send()
        .await
        .unwrap();
    assert_eq!(forged.status(), 403);
    let (_, v) = poll(s, &device_code).await;
    assert_ne!(v["error"], "access_denied", "nothing was decided: {v}");
    assert_eq!(device_events(s, &uid).await, 0);

    // Approved: redeemed once for a user token of the API; a second redemption is refused.
    let page = decide(s, &b, &code, "ops@example.com", "approve").await;
    assert!(page.contains("device-approved"));
    assert_eq!(device_events(s, &uid).await, 1);
    let (st, v) = poll(s, &device_code).await;
    assert_eq!(st, 200, "{v}");
    assert_eq!(v["token_type"], "Bearer");
    assert_eq!(v["expires_in"], 600);
    let token = v["access_token"].as_str().unwrap().to_string();
    let (st, me) = s.call(&token, "GET", "/api/v1/auth/introspect", None).await;
    assert_eq!(st, 200, "{me}");
    assert_eq!(me["userId"], uid);
    assert_eq!(me["principleId"], "chamberlain-cli");
    let (st, v) = poll(s, &device_code).await;
    assert_eq!(
        (st, v["error"].as_str()),
        (400, Some("invalid_grant")),
        "{v}"
    );
    assert!(v["error_description"]
        .as_str()
        .unwrap()
        .contains("already used"));
    // The decided code cannot be decided again.
    let again = b
        .get(format!("{}/auth/v1/device?user_code={code}", s.base))
        .send()
        .await
        .unwrap();
    assert_eq!(again.status(), 404);

    // Denied: access_denied, then still access_denied (no token ever).
    let d = device_start(s).await;
    let page = decide(
        s,
        &b,
        d["user_code"].as_str().unwrap(),
        "ops@example.com",
        "deny",
    )
    .await;
    assert!(page.contains("device-denied"));
    for _ in 0..2 {
        let (st, v) = poll(s, d["device_code"].as_str().unwrap()).await;
        assert_eq!(
            (st, v["error"].as_str()),
            (400, Some("access_denied")),
            "{v}"
        );
    }
    assert_eq!(device_events(s, &uid).await, 2, "the denial is audited too");

    // Expired: the token endpoint says expired_token, the page says the code is not valid.
    let d = device_start(s).await;
    sqlx::query("UPDATE device_authorizations SET expires_at = $1 WHERE user_code = $2")
        .bind(chamberlain_model::Timestamp::now().as_micros() - 1)
        .bind(d["user_code"].as_str().unwrap().replace('-', ""))
        .execute(s.store.pool())
        .await
        .unwrap();
    let (st, v) = poll(s, d["device_code"].as_str().unwrap()).await;
    assert_eq!(
        (st, v["error"].as_str()),
        (400, Some("expired_token")),
        "{v}"
    );
    let expired = b
        .get(format!(
            "{}/auth/v1/device?user_code={}",
            s.base,
            d["user_code"].as_str().unwrap()
        ))
        .send()
        .await
        .unwrap();
    assert_eq!(expired.status(), 404);
    assert!(expired.text().await.unwrap().contains("expired"));

    // Two polls racing for one approved code: exactly one gets the token.
    let d = device_start(s).await;
    decide(
        s,
        &b,
        d["user_code"].as_str().unwrap(),
        "ops@example.com",
        "approve",
    )
    .await;
    let dc = d["device_code"].as_str().unwrap();
    let (a, z) = tokio::join!(poll(s, dc), poll(s, dc));
    let mut statuses = [a.0, z.0];
    statuses.sort();
    assert_eq!(statuses, [200, 400], "{a:?} {z:?}");

    // A disabled user's approval yields no token.
    let d = device_start(s).await;
    decide(
        s,
        &b,
        d["user_code"].as_str().unwrap(),
        "ops@example.com",
        "approve",
    )
    .await;
    let mut user: chamberlain_model::user::User =
        chamberlain_store::record::get(s.store.pool(), &uid, false)
            .await
            .unwrap()
            .unwrap();
    user.status = chamberlain_model::user::UserStatus::Disabled;
    chamberlain_store::write_tx!(
        s.store,
        &chamberlain_store::AuditCtx::system("test"),
        |tx| { tx.update(&user).await }
    )
    .unwrap();
    let (st, v) = poll(s, d["device_code"].as_str().unwrap()).await;
    assert_eq!(st, 400, "{v}");
    assert_eq!(v["error"], "invalid_grant");
    // …and its earlier token stops working at once.
    let (st, _) = s.call(&token, "GET", "/api/v1/auth/introspect", None).await;
    assert_eq!(st, 401);
}

async fn task_count(s: &TestServer) -> usize {
    s.ok(
        "POST",
        "/api/v1/search/tasks",
        Some(json!({"pageSize": 100})),
    )
    .await["list"]
        .as_array()
        .unwrap()
        .len()
}

pub async fn cli_self_service_access(s: &TestServer) {
    let (req_id, req_client, req_secret) =
        s.user_with_client("req@example.com", &["basic-user"]).await;
    let (appr_id, appr_client, appr_secret) = s
        .user_with_client("appr@example.com", &["basic-user"])
        .await;
    let (other_id, other_client, other_secret) = s
        .user_with_client("other@example.com", &["basic-user"])
        .await;
    let req = (req_client, req_secret);
    let appr = (appr_client, appr_secret);
    let app = s.create_app("Warehouse").await;
    let base = s.create_entitlement(&app, "reader").await;
    s.ok(
        "POST",
        &format!("/api/v1/apps/{app}/entitlements/{base}/add-manual-user"),
        Some(json!({"userIds": [req_id]})),
    )
    .await;
    let ent = s
        .ok(
            "POST",
            &format!("/api/v1/apps/{app}/entitlements"),
            Some(json!({"displayName": "DB admin", "alias": "db-admin"})),
        )
        .await["appEntitlementView"]["appEntitlement"]["id"]
        .as_str()
        .unwrap()
        .to_string();
    let policy = s
        .ok(
            "POST",
            "/api/v1/policies",
            Some(json!({
                "displayName": "Approver",
                "policyType": "POLICY_TYPE_GRANT",
                "policySteps": {"grant": {"steps": [{"approval": {"users": {"userIds": [appr_id]}, "allowReassignment": true}}]}}
            })),
        )
        .await;
    s.ok(
        "POST",
        &format!("/api/v1/apps/{app}/entitlements/{ent}"),
        Some(json!({"entitlement": {"grantPolicyId": policy["policy"]["id"]}, "updateMask": "grantPolicyId"})),
    )
    .await;

    // search: what the requester can request, with aliases; held ones are marked.
    let found = run_as(s, &req, &["search", "db", "--output", "json"]).await;
    assert_eq!(found.code, 0, "{found:?}");
    let list = found.json();
    let hit = list
        .as_array()
        .unwrap()
        .iter()
        .find(|e| e["alias"] == "db-admin")
        .unwrap_or_else(|| panic!("{list}"));
    assert_eq!(hit["appName"], "Warehouse");
    assert_eq!(hit["held"], false);
    let table = run_as(s, &req, &["search"]).await;
    assert!(table.stdout.starts_with("APP"), "{table:?}");
    assert!(
        table.stdout.contains("db-admin") && table.stdout.contains("reader"),
        "{table:?}"
    );
    let held = run_as(
        s,
        &req,
        &["search", "--status", "granted", "--output", "json"],
    )
    .await;
    let held = held.json();
    assert_eq!(held.as_array().unwrap().len(), 1, "{held}");
    assert_eq!(held[0]["entitlementId"], base);

    // has: not yet (exit 6).
    let out = run_as(s, &req, &["has", "db-admin"]).await;
    assert_eq!(out.code, 6, "{out:?}");
    assert!(out.stdout.contains("no"), "{out:?}");
    let unknown = run_as(s, &req, &["has", "no-such-alias"]).await;
    assert_eq!(unknown.code, 4, "{unknown:?}");

    // --emergency-access reaches the server, which refuses it for this entitlement; a bad
    // duration is refused before anything is sent.
    let out = run_as(s, &req, &["get", "db-admin", "--emergency-access"]).await;
    assert_eq!(out.code, 1, "{out:?}");
    assert!(
        out.stderr.contains("does not offer emergency access"),
        "{out:?}"
    );
    let out = run_as(s, &req, &["get", "db-admin", "--duration", "2 fortnights"]).await;
    assert_eq!(out.code, 1, "{out:?}");
    assert!(out.stderr.contains("not understood"), "{out:?}");
    assert_eq!(task_count(s).await, 0);

    // get --wait, approved by the approver through `tasks`.
    let waiting = {
        let mut c = command(
            &std::env::temp_dir().join("chamberlain-cli-none/absent.toml"),
            &[
                "get",
                "db-admin",
                "--justification",
                "quarterly report",
                "--duration",
                "2h",
                "--wait",
                "--poll-seconds",
                "1",
                "--output",
                "json",
            ],
        );
        c.env("CHAMBERLAIN_SERVER", &s.base)
            .env("CHAMBERLAIN_CLIENT_ID", &req.0)
            .env("CHAMBERLAIN_CLIENT_SECRET", &req.1)
            .stdout(Stdio::piped())
            .stderr(Stdio::piped());
        c.spawn().unwrap()
    };
    let mut number = String::new();
    for _ in 0..100 {
        let inbox = run_as(s, &appr, &["tasks", "list", "--output", "json"]).await;
        assert_eq!(inbox.code, 0, "{inbox:?}");
        if let Some(t) = inbox.json().as_array().unwrap().first() {
            number = t["numericId"].as_str().unwrap().to_string();
            break;
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    assert!(!number.is_empty(), "the request reached the approver");
    let shown = run_as(s, &appr, &["tasks", "show", &number]).await;
    assert_eq!(shown.code, 0, "{shown:?}");
    assert!(shown.stdout.contains("quarterly report"), "{shown:?}");
    assert!(shown.stdout.contains(&format!("{app}/{ent}")), "{shown:?}");
    let task = run_as(s, &appr, &["tasks", "show", &number, "--output", "json"])
        .await
        .json();
    assert_eq!(
        task["type"]["grant"]["grantDuration"], "7200s",
        "2h became 7200s: {task}"
    );
    let c = run_as(s, &appr, &["tasks", "comment", &number, "-m", "looking"]).await;
    assert_eq!(c.code, 0, "{c:?}");
    let list = run_as(s, &appr, &["tasks", "list"]).await;
    assert!(list.stdout.starts_with("TASK"), "{list:?}");
    assert!(list.stdout.contains(&number), "{list:?}");
    let ok = run_as(s, &appr, &["tasks", "approve", &number, "-m", "fine"]).await;
    assert_eq!(ok.code, 0, "{ok:?}");
    let got = tokio::time::timeout(Duration::from_secs(30), waiting.wait_with_output())
        .await
        .expect("get --wait did not end")
        .unwrap();
    let stdout = String::from_utf8_lossy(&got.stdout).to_string();
    assert_eq!(
        got.status.code(),
        Some(0),
        "{stdout}\n{}",
        String::from_utf8_lossy(&got.stderr)
    );
    let final_task: Value = serde_json::from_str(stdout.trim()).unwrap();
    assert_eq!(
        final_task["type"]["grant"]["outcome"],
        "GRANT_OUTCOME_GRANTED"
    );
    let out = run_as(s, &req, &["has", "db-admin"]).await;
    assert_eq!(out.code, 0, "{out:?}");
    assert!(out.stdout.starts_with("yes"), "{out:?}");
    let out = run_as(
        s,
        &req,
        &["has", &format!("{app}/{ent}"), "--output", "json"],
    )
    .await;
    assert_eq!(out.json()["held"], true);

    // requests: mine.
    let mine = run_as(s, &req, &["requests", "--output", "json"]).await;
    let mine = mine.json();
    assert!(
        mine.as_array()
            .unwrap()
            .iter()
            .any(|t| t["numericId"] == json!(number)),
        "{mine}"
    );
    let none = run_as(s, &appr, &["requests"]).await;
    assert!(none.stdout.contains("no requests"), "{none:?}");

    // drop: gives it back.
    let out = run_as(s, &req, &["drop", "db-admin", "--justification", "done"]).await;
    assert_eq!(out.code, 0, "{out:?}");
    let mut gone = false;
    for _ in 0..50 {
        if run_as(s, &req, &["has", "db-admin"]).await.code == 6 {
            gone = true;
            break;
        }
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
    assert!(gone, "the grant was revoked");

    // A denied request: get --wait exits 5.
    let waiting = {
        let mut c = command(
            &std::env::temp_dir().join("chamberlain-cli-none/absent.toml"),
            &["get", &ent, "--app", &app, "--wait", "--poll-seconds", "1"],
        );
        c.env("CHAMBERLAIN_SERVER", &s.base)
            .env("CHAMBERLAIN_CLIENT_ID", &req.0)
            .env("CHAMBERLAIN_CLIENT_SECRET", &req.1)
            .stdout(Stdio::piped())
            .stderr(Stdio::piped());
        c.spawn().unwrap()
    };
    let mut number = String::new();
    for _ in 0..100 {
        let inbox = run_as(s, &appr, &["tasks", "list", "--output", "json"]).await;
        if let Some(t) = inbox.json().as_array().unwrap().first() {
            number = t["numericId"].as_str().unwrap().to_string();
            break;
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    // Reassigned to another approver, who denies. Looking users up by email needs an admin.
    let out = run_as(
        s,
        &appr,
        &["tasks", "reassign", &number, "--to", "other@example.com"],
    )
    .await;
    assert_eq!(out.code, 1, "{out:?}");
    assert!(out.stderr.contains("pass the user's id instead"), "{out:?}");
    let out = run_as(s, &appr, &["tasks", "reassign", &number, "--to", &other_id]).await;
    assert_eq!(out.code, 0, "{out:?}");
    let other_creds = (other_client, other_secret);
    let t = run_as(
        s,
        &other_creds,
        &["tasks", "show", &number, "--output", "json"],
    )
    .await;
    assert_eq!(t.json()["stepApproverIds"], json!([other_id]));
    let out = run_as(
        s,
        &other_creds,
        &["tasks", "deny", &number, "-m", "not now"],
    )
    .await;
    assert_eq!(out.code, 0, "{out:?}");
    let got = tokio::time::timeout(Duration::from_secs(30), waiting.wait_with_output())
        .await
        .expect("get --wait did not end")
        .unwrap();
    assert_eq!(
        got.status.code(),
        Some(5),
        "denied: {}",
        String::from_utf8_lossy(&got.stdout)
    );
    assert!(String::from_utf8_lossy(&got.stdout).contains("DENIED"));
    // Waiting runs out: exit 7, the request stays open.
    let out = run_as(
        s,
        &req,
        &[
            "get",
            "db-admin",
            "--wait",
            "--wait-timeout",
            "1s",
            "--poll-seconds",
            "1",
        ],
    )
    .await;
    assert_eq!(out.code, 7, "{out:?}");
    assert!(out.stderr.contains("stays open"), "{out:?}");

    // Revoked credentials: exit 3 with the hint, and no task is created.
    let before = task_count(s).await;
    let token = s.token_with_secret(&req.0, &req.1).await;
    let clients = s
        .call(&token, "GET", "/api/v1/iam/personal_clients", None)
        .await
        .1;
    let record = clients["list"]
        .as_array()
        .unwrap()
        .iter()
        .find(|c| c["clientId"] == json!(req.0))
        .unwrap()["id"]
        .as_str()
        .unwrap()
        .to_string();
    let (st, _) = s
        .call(
            &token,
            "DELETE",
            &format!("/api/v1/iam/personal_clients/{record}"),
            Some(json!({})),
        )
        .await;
    assert_eq!(st, 200);
    let out = run_as(s, &req, &["get", "db-admin", "--justification", "again"]).await;
    assert_eq!(out.code, 3, "{out:?}");
    assert!(out.stderr.contains("run `chamberlain login`"), "{out:?}");
    assert_eq!(task_count(s).await, before, "nothing was created");
    // Not signed in at all: exit 3 as well.
    let dir = temp_dir();
    let out = run(&dir.join("none.toml"), &["requests"]).await;
    assert_eq!(out.code, 3, "{out:?}");
    assert!(out.stderr.contains("not signed in"), "{out:?}");
    // A profile whose secret is wrong (expired or replaced): exit 3, nothing created.
    let file = dir.join("stale.toml");
    std::fs::write(
        &file,
        format!(
            "[profiles.default]\nserver = \"{}\"\nclient_id = \"{}\"\nclient_secret = \"wrong\"\n",
            s.base, appr.0
        ),
    )
    .unwrap();
    let out = run(&file, &["get", "db-admin"]).await;
    assert_eq!(out.code, 3, "{out:?}");
    assert!(out.stderr.contains("profile `default`"), "{out:?}");
    assert_eq!(task_count(s).await, before);
    // A server configuration file is never taken for (or overwritten as) a profile file.
    let server_cfg = dir.join("server.toml");
    std::fs::write(&server_cfg, "listen = \"127.0.0.1:9\"\n").unwrap();
    let out = run(&server_cfg, &["whoami"]).await;
    assert_eq!(out.code, 1, "{out:?}");
    assert!(out.stderr.contains("not a profile file"), "{out:?}");
    let _ = std::fs::remove_dir_all(&dir);
}

/// `POST /api/v1/search/request_catalog/entitlements` lists exactly what the caller may
/// request (the same rule the grant request enforces), for a basic user, with their own grants.
pub async fn request_catalog_search_follows_requestability(s: &TestServer) {
    let pager = s.create_app("PagerDuty").await;
    let oncall = s.create_entitlement(&pager, "Primary on-call").await;
    let aws = s.create_app("AWS").await;
    let admin = s.create_entitlement(&aws, "Admin").await;
    let _read = s.create_entitlement(&aws, "Read").await;
    let (ann, ann_tok) = s.user_with_token("ann@example.com", &["basic-user"]).await;
    let (bob, bob_tok) = s.user_with_token("bob@example.com", &["basic-user"]).await;
    s.ok(
        "POST",
        &format!("/api/v1/apps/{pager}/entitlements/{oncall}/add-manual-user"),
        Some(json!({"userIds": [ann]})),
    )
    .await;
    let c = s
        .ok(
            "POST",
            "/api/v1/catalogs",
            Some(json!({"displayName": "On-call", "published": true, "requestBundle": true})),
        )
        .await["requestCatalogView"]["requestCatalog"]
        .clone();
    let cid = c["id"].as_str().unwrap().to_string();
    let enroll = c["enrollmentEntitlementId"].as_str().unwrap().to_string();
    s.ok(
        "POST",
        &format!("/api/v1/catalogs/{cid}/requestable_entries"),
        Some(json!({"appEntitlements": [{"appId": aws, "id": admin}]})),
    )
    .await;
    s.ok(
        "POST",
        &format!("/api/v1/catalogs/{cid}/visibility_bindings"),
        Some(json!({"accessEntitlements": [{"appId": pager, "id": oncall}]})),
    )
    .await;
    // An unpublished catalog hides what it lists from everyone.
    let hidden = s
        .ok(
            "POST",
            "/api/v1/catalogs",
            Some(json!({"displayName": "Drafts", "published": false, "visibleToEveryone": true})),
        )
        .await["requestCatalogView"]["requestCatalog"]["id"]
        .as_str()
        .unwrap()
        .to_string();
    let secret = s.create_entitlement(&aws, "Root").await;
    s.ok(
        "PUT",
        &format!("/api/v1/catalogs/{hidden}/requestable_entries/{aws}/{secret}"),
        None,
    )
    .await;

    let all: Vec<(String, String)> = s
        .ok(
            "POST",
            "/api/v1/search/entitlements",
            Some(json!({"pageSize": 100})),
        )
        .await["list"]
        .as_array()
        .unwrap()
        .iter()
        .map(|v| {
            let e = &v["appEntitlement"];
            (
                e["appId"].as_str().unwrap().to_string(),
                e["id"].as_str().unwrap().to_string(),
            )
        })
        .collect();
    assert!(all.len() >= 6, "{all:?}");
    for (user, token) in [(&ann, &ann_tok), (&bob, &bob_tok)] {
        let (st, v) = s
            .call(
                token,
                "POST",
                "/api/v1/search/request_catalog/entitlements",
                Some(json!({"pageSize": 100})),
            )
            .await;
        assert_eq!(st, 200, "{v}");
        let mut listed: Vec<String> = v["list"]
            .as_array()
            .unwrap()
            .iter()
            .map(|x| {
                x["entitlement"]["appEntitlement"]["id"]
                    .as_str()
                    .unwrap()
                    .to_string()
            })
            .collect();
        listed.sort();
        let mut expected = Vec::new();
        for (app, ent) in &all {
            let r = s
                .ok(
                    "GET",
                    &format!("/api/v1/catalogs/requestability/{app}/{ent}?user_id={user}"),
                    None,
                )
                .await;
            if r["requestability"] != "HIDDEN" {
                expected.push(ent.clone());
            }
        }
        expected.sort();
        assert_eq!(listed, expected, "for {user}");
    }
    // Ann (on call) sees the profile's entitlement and the profile itself; Bob sees neither.
    let search = |token: String, body: Value| async move {
        s.call(
            &token,
            "POST",
            "/api/v1/search/request_catalog/entitlements",
            Some(body),
        )
        .await
    };
    let ids = |v: &Value| -> Vec<String> {
        v["list"]
            .as_array()
            .unwrap()
            .iter()
            .map(|x| {
                x["entitlement"]["appEntitlement"]["id"]
                    .as_str()
                    .unwrap()
                    .to_string()
            })
            .collect()
    };
    let (_, a) = search(ann_tok.clone(), json!({})).await;
    assert!(ids(&a).contains(&admin) && ids(&a).contains(&enroll), "{a}");
    assert!(!ids(&a).contains(&secret));
    let (_, b) = search(bob_tok.clone(), json!({})).await;
    assert!(
        !ids(&b).contains(&admin) && !ids(&b).contains(&enroll),
        "{b}"
    );
    // Granted status, with the caller's own grants; filters by text and app name.
    let (_, g) = search(ann_tok.clone(), json!({"grantedStatus": "GRANTED"})).await;
    assert_eq!(ids(&g), vec![oncall.clone()]);
    assert_eq!(
        g["list"][0]["appEntitlementUserBindings"][0]["appEntitlementId"],
        json!(oncall)
    );
    let (_, n) = search(ann_tok.clone(), json!({"grantedStatus": "NOT_GRANTED"})).await;
    assert!(!ids(&n).contains(&oncall));
    let (_, q) = search(bob_tok.clone(), json!({"query": "READ"})).await;
    assert_eq!(q["list"].as_array().unwrap().len(), 1, "{q}");
    let (_, q) = search(ann_tok.clone(), json!({"appDisplayName": "pagerduty"})).await;
    assert_eq!(ids(&q), vec![oncall.clone()]);
    let (_, q) = search(
        ann_tok.clone(),
        json!({"appDisplayName": "AWS", "expandMask": {"paths": ["app_id"]}}),
    )
    .await;
    assert_eq!(q["list"][0]["entitlement"]["appPath"], "$.expanded[0]");
    assert_eq!(q["expanded"][0]["displayName"], "AWS");
    // Bad input is refused.
    let (st, e) = search(bob_tok.clone(), json!({"grantedStatus": "SOMETIMES"})).await;
    assert_eq!(st, 400, "{e}");
    let (st, e) = search(bob_tok.clone(), json!({"includeDeleted": true})).await;
    assert_eq!(st, 400, "{e}");
    assert!(
        e["message"]
            .as_str()
            .unwrap()
            .contains("cannot be requested"),
        "{e}"
    );
    let (st, _) = search(bob_tok.clone(), json!({"nope": 1})).await;
    assert_eq!(st, 400);
}

/// The unauthenticated device authorization endpoint stores a bounded number of waiting
/// sign-ins (20 in tests, 1,000 by default); more are refused until some expire or are used.
pub async fn device_authorizations_are_capped(s: &TestServer) {
    for _ in 0..20 {
        device_start(s).await;
    }
    let resp = s
        .http
        .post(format!("{}/auth/v1/device_authorization", s.base))
        .form(&[("client_id", "chamberlain-cli")])
        .send()
        .await
        .unwrap();
    assert_eq!(resp.status(), 429);
    let v: Value = resp.json().await.unwrap();
    assert_eq!(v["error"], "temporarily_unavailable", "{v}");
    assert!(
        v["error_description"]
            .as_str()
            .unwrap()
            .contains("20 sign-ins are already waiting"),
        "{v}"
    );
    let n: i64 = sqlx::query_scalar("SELECT COUNT(*) FROM device_authorizations")
        .fetch_one(s.store.pool())
        .await
        .unwrap();
    assert_eq!(n, 20, "the refused request stored nothing");
}
