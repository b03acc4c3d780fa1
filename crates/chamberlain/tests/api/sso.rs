//! Single sign-on against a real OpenID provider run offline: `tests/browser/oidc-provider.mjs`
//! (the `oidc-provider` npm package; `scripts/test` installs it with `npm ci`, and these tests
//! run `npm ci` themselves when it is missing). Each scenario drives the whole flow like a
//! browser with a cookie jar: Chamberlain's start URL, the provider's login form, the
//! callback, and the session it opens.

use crate::harness::TestServer;
use crate::notifications::system_log;
use crate::oauth::browser;
use serde_json::{json, Value};
use std::path::{Path, PathBuf};
use std::time::Duration;
use tokio::io::AsyncBufReadExt;

const CLIENT_ID: &str = "chamberlain-test";
const SECRET: &str = "sso-client-secret-6f1d2c9a0b7e";

fn root() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../..")
}

/// Installs the npm packages of tests/browser once per test process if they are missing.
fn npm_packages() {
    static ONCE: std::sync::Once = std::sync::Once::new();
    ONCE.call_once(|| {
        let dir = root().join("tests/browser");
        if dir.join("node_modules/oidc-provider/package.json").exists() {
            return;
        }
        let out = std::process::Command::new("npm")
            .args(["ci", "--no-audit", "--no-fund"])
            .current_dir(&dir)
            .output()
            .expect("npm runs (Node.js is required for the SSO tests)");
        assert!(
            out.status.success(),
            "npm ci in tests/browser failed: {}",
            String::from_utf8_lossy(&out.stderr)
        );
    });
}

/// The OpenID provider, stopped on drop.
pub struct Provider {
    _child: tokio::process::Child,
    pub issuer: String,
}

impl Provider {
    /// Starts the provider for the server's callback, with `env` (OIDC_ID_TOKEN_ALG, …).
    pub async fn start(s: &TestServer, env: &[(&str, &str)]) -> Provider {
        Self::start_for(&s.base, env).await
    }

    /// Starts the provider for a Chamberlain server at `base`.
    pub async fn start_for(base: &str, env: &[(&str, &str)]) -> Provider {
        npm_packages();
        let port = std::net::TcpListener::bind("127.0.0.1:0")
            .unwrap()
            .local_addr()
            .unwrap()
            .port();
        let mut cmd = tokio::process::Command::new("node");
        cmd.arg(root().join("tests/browser/oidc-provider.mjs"))
            .arg(port.to_string())
            .arg(CLIENT_ID)
            .arg(SECRET)
            .arg(format!("{base}/auth/v1/sso/callback"))
            .stdout(std::process::Stdio::piped())
            .stderr(std::process::Stdio::null())
            .kill_on_drop(true);
        for (k, v) in env {
            cmd.env(k, v);
        }
        let mut child = cmd.spawn().expect("node starts (Node.js is required)");
        let mut lines = tokio::io::BufReader::new(child.stdout.take().unwrap()).lines();
        // Generous: on a 2-core machine running the whole suite, Node's start of the provider
        // has taken over 20 s (the test then failed before testing anything).
        let ready = tokio::time::timeout(Duration::from_secs(90), async {
            while let Some(l) = lines.next_line().await.unwrap() {
                if let Some(issuer) = l.strip_prefix("oidc-provider ready ") {
                    return issuer.trim().to_string();
                }
            }
            panic!("the OpenID provider exited before it was ready");
        })
        .await
        .expect("the OpenID provider did not start within 90 s");
        // Keep reading: the provider prints notices later, and a closed pipe would kill it.
        tokio::spawn(async move { while let Ok(Some(_)) = lines.next_line().await {} });
        Provider {
            _child: child,
            issuer: ready,
        }
    }
}

fn location(base: &str, resp: &reqwest::Response) -> String {
    let l = resp
        .headers()
        .get("location")
        .map(|v| v.to_str().unwrap().to_string())
        .unwrap_or_else(|| panic!("no Location on a {} answer", resp.status()));
    reqwest::Url::parse(base)
        .unwrap()
        .join(&l)
        .unwrap()
        .to_string()
}

async fn get(b: &reqwest::Client, url: &str) -> reqwest::Response {
    b.get(url).send().await.unwrap()
}

/// Configures single sign-on through the API (as the super admin).
async fn configure(s: &TestServer, p: &Provider, extra: Value) -> Value {
    let mut sso = json!({
        "enabled": true,
        "issuerUrl": p.issuer,
        "clientId": CLIENT_ID,
        "clientSecret": SECRET,
        "displayName": "Test ID",
    });
    for (k, v) in extra.as_object().unwrap() {
        sso[k] = v.clone();
    }
    let (st, v) = s
        .call(
            &s.admin,
            "POST",
            "/api/v1/settings/sso",
            Some(json!({"sso": sso})),
        )
        .await;
    assert_eq!(st, 200, "{v}");
    v
}

/// Starts single sign-on on Chamberlain and follows it to the provider's login form; returns
/// the form's URL (`…/interaction/<uid>`).
async fn to_provider_login(s: &TestServer, b: &reqwest::Client, return_to: &str) -> String {
    let mut start = reqwest::Url::parse(&format!("{}/auth/v1/sso/start", s.base)).unwrap();
    if !return_to.is_empty() {
        start.query_pairs_mut().append_pair("return_to", return_to);
    }
    let r = get(b, start.as_str()).await;
    assert_eq!(r.status(), 303, "{}", r.text().await.unwrap());
    let authorize = location(&s.base, &r);
    let q: std::collections::HashMap<String, String> = reqwest::Url::parse(&authorize)
        .unwrap()
        .query_pairs()
        .into_owned()
        .collect();
    assert_eq!(q["code_challenge_method"], "S256");
    assert_eq!(q["client_id"], CLIENT_ID);
    assert_eq!(q["scope"], "openid email profile");
    assert_eq!(
        q["redirect_uri"],
        format!("{}/auth/v1/sso/callback", s.base)
    );
    assert!(q["state"].len() >= 32 && q["nonce"].len() >= 32);
    let r = get(b, &authorize).await;
    assert!(r.status().is_redirection(), "{}", r.status());
    let login = location(&authorize, &r);
    assert!(login.contains("/interaction/"), "{login}");
    login
}

/// Completes the provider's login form as `account`; returns the callback URL the provider
/// sends the browser to.
async fn provider_login(b: &reqwest::Client, login: &str, account: &str) -> String {
    let r = b
        .post(format!("{login}/login"))
        .form(&[("login", account)])
        .send()
        .await
        .unwrap();
    assert!(r.status().is_redirection(), "{}", r.text().await.unwrap());
    let resume = location(login, &r);
    let r = get(b, &resume).await;
    assert!(r.status().is_redirection(), "{}", r.text().await.unwrap());
    location(&resume, &r)
}

/// The whole sign-in as `account`: Chamberlain's answer to the callback.
async fn sso_sign_in(
    s: &TestServer,
    b: &reqwest::Client,
    account: &str,
    return_to: &str,
) -> reqwest::Response {
    let login = to_provider_login(s, b, return_to).await;
    let callback = provider_login(b, &login, account).await;
    assert!(
        callback.starts_with(&format!("{}/auth/v1/sso/callback?", s.base)),
        "{callback}"
    );
    get(b, &callback).await
}

fn sets_session(resp: &reqwest::Response) -> bool {
    resp.headers().get_all("set-cookie").iter().any(|c| {
        let c = c.to_str().unwrap();
        c.starts_with("chamberlain_session=") && !c.contains("Max-Age=0")
    })
}

/// Who the browser is signed in as, from the sign-in page.
async fn signed_in_as(s: &TestServer, b: &reqwest::Client) -> Option<String> {
    let html = get(b, &format!("{}/auth/v1/signin", s.base))
        .await
        .text()
        .await
        .unwrap();
    html.split("You are signed in as ")
        .nth(1)
        .map(|r| r.split(".</p>").next().unwrap().to_string())
}

/// Settings API, the sign-in button, and successful sign-ins of users matched by verified email.
pub async fn sso_signs_in_verified_users_by_email(s: &TestServer) {
    let p = Provider::start(s, &[]).await;
    let v = s.ok("GET", "/api/v1/settings/sso", None).await;
    assert_eq!(v["sso"]["enabled"], false);
    assert_eq!(v["sso"]["source"], "none");
    assert_eq!(v["sso"]["scopes"], json!(["openid", "email", "profile"]));
    // No button while single sign-on is off.
    let page = get(&browser(), &format!("{}/auth/v1/signin", s.base))
        .await
        .text()
        .await
        .unwrap();
    assert!(!page.contains("Sign in with"), "{page}");

    // Refusals change nothing and name the field.
    let (_, reader) = s
        .user_with_token("reader@example.com", &["read-only-admin"])
        .await;
    let before = s.event_count().await;
    for (body, wanted) in [
        (
            json!({"sso": {"enabled": true, "clientSecretSet": true}}),
            "clientSecretSet",
        ),
        (json!({"sso": {"redirectUri": "http://x"}}), "redirectUri"),
        (json!({"sso": {"issuer": "x"}}), "issuer"),
        (
            json!({"sso": {"enabled": true, "issuerUrl": p.issuer}}),
            "clientSecret",
        ),
        (json!({"sso": {"issuerUrl": "ftp://x"}}), "issuerUrl"),
        (
            json!({"sso": {"allowedEmailDomains": ["not a domain"]}}),
            "allowedEmailDomains",
        ),
        (
            json!({"sso": {"tokenEndpointAuthMethod": "private_key_jwt"}}),
            "tokenEndpointAuthMethod",
        ),
        (json!({"other": 1}), "other"),
    ] {
        let (st, v) = s
            .call(&s.admin, "POST", "/api/v1/settings/sso", Some(body.clone()))
            .await;
        assert_eq!(st, 400, "{body}: {v}");
        assert!(
            v["message"].as_str().unwrap().contains(wanted),
            "{body}: {v}"
        );
    }
    let (st, _) = s
        .call(
            &reader,
            "POST",
            "/api/v1/settings/sso",
            Some(json!({"sso": {"enabled": false}})),
        )
        .await;
    assert_eq!(st, 403, "only super admins change single sign-on");
    let (st, v) = s.call(&reader, "GET", "/api/v1/settings/sso", None).await;
    assert_eq!(st, 200, "{v}");
    assert_eq!(s.event_count().await, before, "refusals change nothing");

    let saved = configure(s, &p, json!({})).await;
    assert_eq!(saved["sso"]["clientSecretSet"], true);
    assert_eq!(saved["sso"]["source"], "api");
    assert!(saved["sso"].get("clientSecret").is_none(), "{saved}");
    assert_eq!(
        saved["sso"]["redirectUri"],
        format!("{}/auth/v1/sso/callback", s.base)
    );
    assert_eq!(s.event_count().await, before + 1, "the change is audited");
    // Saving again without the secret keeps it.
    let v = configure(s, &p, json!({"clientSecret": ""})).await;
    assert_eq!(v["sso"]["clientSecretSet"], true);
    let got = s.ok("GET", "/api/v1/settings/sso", None).await;
    assert_eq!(got["sso"]["issuerUrl"], p.issuer);
    assert!(!got.to_string().contains(SECRET));

    // The sign-in page offers the button (and keeps the password form).
    let page = get(
        &browser(),
        &format!("{}/auth/v1/signin?return_to=%2Fauth%2Fv1%2Fdevice", s.base),
    )
    .await
    .text()
    .await
    .unwrap();
    assert!(page.contains("Sign in with Test ID"), "{page}");
    assert!(page.contains("action=\"/auth/v1/sso/start\""), "{page}");
    assert!(page.contains("name=\"password\""), "{page}");

    let alice = s.local_user("alice@example.com", "Alice", &[]).await;
    s.local_user("bob@example.com", "Bob", &[]).await;
    // Alice signs in and comes back where she started.
    let b = browser();
    let done = sso_sign_in(s, &b, "alice", "/auth/v1/device").await;
    assert_eq!(done.status(), 303, "{}", done.text().await.unwrap());
    assert!(sets_session(&done));
    assert_eq!(
        location(&s.base, &done),
        format!("{}/auth/v1/device", s.base)
    );
    assert_eq!(
        signed_in_as(s, &b).await.as_deref(),
        Some("alice@example.com")
    );
    // A destination that is not this server's is dropped: the web app's home instead.
    let b = browser();
    let done = sso_sign_in(s, &b, "alice", "https://evil.example/").await;
    assert_eq!(location(&s.base, &done), format!("{}/", s.base));
    // The provider's `Bob@Example.COM` is Chamberlain's bob@example.com.
    let b = browser();
    let done = sso_sign_in(s, &b, "bob", "").await;
    assert_eq!(done.status(), 303);
    assert_eq!(
        signed_in_as(s, &b).await.as_deref(),
        Some("bob@example.com")
    );

    // The sign-in is in the system log (with how it happened); the secret is nowhere.
    let log = system_log(s).await;
    assert!(log.contains("\"method\":\"sso\""), "{log}");
    assert!(log.contains(&alice));
    assert!(!log.contains(SECRET), "the client secret is never logged");
    use sqlx::Row;
    let actors: Vec<String> =
        sqlx::query("SELECT actor_client_id FROM system_log WHERE object_kind = 'web sign-in'")
            .fetch_all(s.store.pool())
            .await
            .unwrap()
            .iter()
            .map(|r| r.get(0))
            .collect();
    assert_eq!(actors.len(), 3);
    assert!(actors.iter().all(|a| a == "web:sso"), "{actors:?}");
}

/// Every way single sign-on can fail says so on a page and signs nobody in.
pub async fn sso_refusals_are_clear(s: &TestServer) {
    let p = Provider::start(s, &[]).await;
    // Not set up yet.
    let r = get(&browser(), &format!("{}/auth/v1/sso/start", s.base)).await;
    assert_eq!(r.status(), 404);
    assert!(r.text().await.unwrap().contains("not set up"));
    configure(s, &p, json!({})).await;
    s.local_user("carol@example.com", "Carol", &[]).await;
    s.local_user("alice@example.com", "Alice", &[]).await;
    let sessions = || async {
        use sqlx::Row;
        sqlx::query("SELECT COUNT(*) FROM web_sessions")
            .fetch_one(s.store.pool())
            .await
            .unwrap()
            .get::<i64, _>(0)
    };
    let before = sessions().await;
    let expect = |resp: reqwest::Response, status: u16, wanted: &'static str| async move {
        assert_eq!(resp.status(), status);
        assert!(!sets_session(&resp));
        let html = resp.text().await.unwrap();
        assert!(html.contains(wanted), "wanted `{wanted}` in {html}");
        assert!(html.contains("Back to sign-in"), "{html}");
        html
    };

    // An unverified email is refused, even though a user has it.
    let b = browser();
    let r = sso_sign_in(s, &b, "carol", "").await;
    expect(r, 403, "does not report carol@example.com as verified").await;
    assert_eq!(signed_in_as(s, &b).await, None);
    // A verified email no user has: the page names it.
    let r = sso_sign_in(s, &browser(), "dave", "").await;
    let html = expect(r, 403, "dave@elsewhere.test").await;
    assert!(html.contains("no enabled Chamberlain user"), "{html}");

    // A tampered state is refused, and the attempt is over: the genuine answer then finds none.
    let b = browser();
    let login = to_provider_login(s, &b, "").await;
    let callback = provider_login(&b, &login, "alice").await;
    let mut url = reqwest::Url::parse(&callback).unwrap();
    let pairs: Vec<(String, String)> = url
        .query_pairs()
        .map(|(k, v)| {
            let v = if k == "state" {
                format!("{v}x")
            } else {
                v.to_string()
            };
            (k.to_string(), v)
        })
        .collect();
    url.query_pairs_mut().clear().extend_pairs(pairs);
    let r = get(&b, url.as_str()).await;
    expect(r, 400, "state does not match").await;
    let r = get(&b, &callback).await;
    expect(r, 400, "no single sign-on attempt in progress").await;
    // A callback without any attempt.
    let r = get(
        &browser(),
        &format!("{}/auth/v1/sso/callback?code=x&state=y", s.base),
    )
    .await;
    expect(r, 400, "no single sign-on attempt in progress").await;

    // An attempt older than 10 minutes, and a cookie the server did not seal.
    let now = chamberlain_model::Timestamp::now().unix_seconds();
    let old = json!({"state": "st", "nonce": "n", "verifier": "v", "return_to": "",
        "issuer": p.issuer, "client_id": CLIENT_ID, "expires": now - 1});
    let sealed = s
        .state
        .secrets
        .seal(old.to_string().as_bytes(), "sso:attempt");
    for (cookie, wanted) in [
        (sealed, "took longer than 10 minutes"),
        (
            old.to_string().replace([' ', ',', ';', '"'], ""),
            "no single sign-on attempt in progress",
        ),
    ] {
        let r = s
            .http
            .get(format!("{}/auth/v1/sso/callback?code=x&state=st", s.base))
            .header("cookie", format!("chamberlain_sso={cookie}"))
            .send()
            .await
            .unwrap();
        expect(r, 400, wanted).await;
    }

    // The user cancels at the provider.
    let b = browser();
    let login = to_provider_login(s, &b, "").await;
    let r = b.post(format!("{login}/abort")).send().await.unwrap();
    let resume = location(&login, &r);
    let r = get(&b, &resume).await;
    let back = location(&resume, &r);
    assert!(back.contains("error=access_denied"), "{back}");
    let r = get(&b, &back).await;
    expect(r, 403, "you cancelled the sign-in").await;

    // A wrong client secret: the provider refuses the code exchange; the page says what to fix.
    configure(s, &p, json!({"clientSecret": "not-the-secret"})).await;
    let r = sso_sign_in(s, &browser(), "alice", "").await;
    let html = expect(r, 502, "invalid_client").await;
    assert!(html.contains("client id and client secret"), "{html}");

    // The provider is down.
    let dead = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let dead_issuer = format!("http://127.0.0.1:{}", dead.local_addr().unwrap().port());
    drop(dead);
    let (st, v) = s
        .call(
            &s.admin,
            "POST",
            "/api/v1/settings/sso",
            Some(json!({"sso": {"enabled": true, "issuerUrl": dead_issuer, "clientId": CLIENT_ID, "clientSecret": SECRET}})),
        )
        .await;
    assert_eq!(st, 200, "{v}");
    let r = get(&browser(), &format!("{}/auth/v1/sso/start", s.base)).await;
    expect(r, 502, "could not reach the identity provider").await;

    // Switched off: the button disappears and the flow refuses to start.
    let (st, _) = s
        .call(
            &s.admin,
            "POST",
            "/api/v1/settings/sso",
            Some(json!({"sso": {"enabled": false, "issuerUrl": p.issuer, "clientId": CLIENT_ID}})),
        )
        .await;
    assert_eq!(st, 200);
    let r = get(&browser(), &format!("{}/auth/v1/sso/start", s.base)).await;
    expect(r, 404, "not set up").await;

    assert_eq!(sessions().await, before, "no session was created");
    assert!(!system_log(s).await.contains(SECRET));
    assert!(!system_log(s).await.contains("not-the-secret"));
}

/// ES256 and EdDSA ID tokens, email claims in the ID token itself, `client_secret_post`, and an
/// allowed-domains list.
pub async fn sso_other_algorithms_and_client_auth(s: &TestServer) {
    s.local_user("alice@example.com", "Alice", &[]).await;
    s.local_user("dave@elsewhere.test", "Dave", &[]).await;
    for env in [
        vec![
            ("OIDC_ID_TOKEN_ALG", "ES256"),
            ("OIDC_CLAIMS_IN_ID_TOKEN", "1"),
        ],
        vec![
            ("OIDC_ID_TOKEN_ALG", "EdDSA"),
            ("OIDC_AUTH_METHOD", "client_secret_post"),
        ],
    ] {
        let p = Provider::start(s, &env).await;
        let post = env.iter().any(|(_, v)| *v == "client_secret_post");
        configure(
            s,
            &p,
            json!({"tokenEndpointAuthMethod": if post { "client_secret_post" } else { "" }, "allowedEmailDomains": ["Example.com"]}),
        )
        .await;
        let b = browser();
        let done = sso_sign_in(s, &b, "alice", "").await;
        assert_eq!(
            done.status(),
            303,
            "{env:?}: {}",
            done.text().await.unwrap()
        );
        assert_eq!(
            signed_in_as(s, &b).await.as_deref(),
            Some("alice@example.com")
        );
        // Dave is a user, but outside the allowed domains.
        let r = sso_sign_in(s, &browser(), "dave", "").await;
        assert_eq!(r.status(), 403);
        assert!(r.text().await.unwrap().contains("limited to example.com"));
    }
}

/// Single sign-on from the config file: in force until settings are saved through the API,
/// which then win (starting from the file's values, so the file's secret is kept).
async fn config_file_settings_are_defaults(db: crate::harness::Db) {
    // Only the start of the flow is exercised here: the provider's redirect URI is not this
    // server's (the server takes the provider's issuer before it has a port).
    let p = Provider::start_for("http://127.0.0.1:9", &[]).await;
    let issuer = p.issuer.clone();
    let s = TestServer::start_with(db, |jobs| {
        jobs.sso = Some(chamberlain_api::sso::SsoConfig {
            issuer_url: issuer.clone(),
            client_id: CLIENT_ID.into(),
            client_secret: SECRET.into(),
            display_name: "File ID".into(),
            ..Default::default()
        });
    })
    .await;
    let v = s.ok("GET", "/api/v1/settings/sso", None).await;
    assert_eq!(v["sso"]["source"], "config", "{v}");
    assert_eq!(v["sso"]["enabled"], true);
    assert_eq!(v["sso"]["issuerUrl"], issuer);
    assert_eq!(v["sso"]["clientSecretSet"], true);
    assert!(!v.to_string().contains(SECRET));
    let page = get(&browser(), &format!("{}/auth/v1/signin", s.base))
        .await
        .text()
        .await
        .unwrap();
    assert!(page.contains("Sign in with File ID"), "{page}");
    // The flow starts against the file's provider.
    let r = get(&browser(), &format!("{}/auth/v1/sso/start", s.base)).await;
    assert_eq!(r.status(), 303);
    assert!(location(&s.base, &r).starts_with(&format!("{issuer}/auth?")));
    // Saved through the API (no secret given): the API's settings win, the secret is kept.
    let (st, v) = s
        .call(
            &s.admin,
            "POST",
            "/api/v1/settings/sso",
            Some(json!({"sso": {"enabled": true, "issuerUrl": issuer, "clientId": CLIENT_ID, "displayName": "API ID"}})),
        )
        .await;
    assert_eq!(st, 200, "{v}");
    assert_eq!(v["sso"]["source"], "api");
    assert_eq!(v["sso"]["clientSecretSet"], true);
    let page = get(&browser(), &format!("{}/auth/v1/signin", s.base))
        .await
        .text()
        .await
        .unwrap();
    assert!(page.contains("Sign in with API ID"), "{page}");
    // Switched off through the API although the file sets it up.
    let (st, _) = s
        .call(
            &s.admin,
            "POST",
            "/api/v1/settings/sso",
            Some(json!({"sso": {"enabled": false, "issuerUrl": issuer, "clientId": CLIENT_ID}})),
        )
        .await;
    assert_eq!(st, 200);
    let r = get(&browser(), &format!("{}/auth/v1/sso/start", s.base)).await;
    assert_eq!(r.status(), 404);
    assert!(!system_log(&s).await.contains(SECRET));
    s.finish().await;
}

mod sso_config_file_settings_are_defaults {
    use crate::harness::Db;
    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn sqlite() {
        super::config_file_settings_are_defaults(Db::Sqlite).await;
    }
    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn postgres() {
        super::config_file_settings_are_defaults(Db::Postgres).await;
    }
}
