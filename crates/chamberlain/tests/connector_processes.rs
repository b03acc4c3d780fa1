//! Connectors as separate processes, through the real binary:
//! - several `chamberlain serve` processes on one database share background work through the
//!   job table: a replica killed mid-sync leaves the previous data intact and another replica
//!   retries the sync once the lease lapses; scheduled syncs run once per firing, never
//!   overlapping (on PostgreSQL and on a shared SQLite file);
//! - the CLI runs a connector's sync and provisions grants and revocations through it.
//!
//! The connector binary is `baton-standin`, a stand-in written for these tests that behaves
//! like a Baton connector (crates/baton-standin); it is not a real connector.

use serde_json::{json, Value};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

const BIN: &str = env!("CARGO_BIN_EXE_chamberlain");
const KEY: &str = "AAECAwQFBgcICQoLDA0ODxAREhMUFRYXGBkaGxwdHh8=";
const PUBLIC_URL: &str = "http://chamberlain.test";

fn standin() -> PathBuf {
    let exe = std::env::current_exe().unwrap();
    let path = exe
        .parent()
        .unwrap()
        .parent()
        .unwrap()
        .join("baton-standin");
    if !path.is_file() {
        let status = Command::new(env!("CARGO"))
            .args(["build", "-p", "baton-standin"])
            .status()
            .unwrap();
        assert!(status.success());
    }
    path
}

fn temp_dir() -> PathBuf {
    let d = std::env::temp_dir().join(format!(
        "chamberlain-replicas-{}",
        chamberlain_model::new_id()
    ));
    std::fs::create_dir_all(&d).unwrap();
    d
}

fn free_port() -> u16 {
    std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port()
}

struct Replica {
    child: Child,
    base: String,
}

impl Drop for Replica {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

async fn start_replica(db_url: &str, root: &Path, name: &str) -> Replica {
    let port = free_port();
    let data = root.join(name);
    std::fs::create_dir_all(&data).unwrap();
    let child = Command::new(BIN)
        .args(["serve", "--listen", &format!("127.0.0.1:{port}")])
        .args(["--public-url", PUBLIC_URL])
        .args(["--data-dir", data.to_str().unwrap()])
        .args(["--database-url", db_url])
        .args(["--job-lease-seconds", "2", "--worker-poll-ms", "100"])
        .args(["--sync-retry-seconds", "1"])
        .env("CHAMBERLAIN_ENCRYPTION_KEY", KEY)
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .unwrap();
    let replica = Replica {
        child,
        base: format!("http://127.0.0.1:{port}"),
    };
    let http = reqwest::Client::new();
    for _ in 0..200 {
        if let Ok(r) = http.get(format!("{}/readyz", replica.base)).send().await {
            if r.status().is_success() {
                return replica;
            }
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    panic!("replica {name} did not become ready");
}

struct Api {
    http: reqwest::Client,
    token: String,
}

impl Api {
    async fn call(&self, r: &Replica, method: &str, path: &str, body: Value) -> Value {
        let m = reqwest::Method::from_bytes(method.as_bytes()).unwrap();
        let resp = self
            .http
            .request(m, format!("{}{path}", r.base))
            .bearer_auth(&self.token)
            .json(&body)
            .send()
            .await
            .unwrap();
        let status = resp.status();
        let v: Value = resp.json().await.unwrap();
        assert!(status.is_success(), "{method} {path}: {status} {v}");
        v
    }
    async fn get(&self, r: &Replica, path: &str) -> Value {
        let resp = self
            .http
            .get(format!("{}{path}", r.base))
            .bearer_auth(&self.token)
            .send()
            .await
            .unwrap();
        let status = resp.status();
        let v: Value = resp.json().await.unwrap();
        assert!(status.is_success(), "GET {path}: {status} {v}");
        v
    }
}

/// A super-admin client created with `chamberlain admin create-client` on the database.
fn admin_client(db_url: &str, root: &Path) -> Value {
    client_with_role(db_url, root, "super-admin")
}

/// A client (and its user) with `role`, created with `chamberlain admin create-client`.
fn client_with_role(db_url: &str, root: &Path, role: &str) -> Value {
    let out = Command::new(BIN)
        .args(["admin", "create-client", "--role", role])
        .args(["--output", "json", "--public-url", PUBLIC_URL])
        .args(["--database-url", db_url])
        .args(["--data-dir", root.join("admin").to_str().unwrap()])
        .env("CHAMBERLAIN_ENCRYPTION_KEY", KEY)
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    serde_json::from_slice(&out.stdout).unwrap()
}

async fn login(r: &Replica, db_url: &str, root: &Path) -> Api {
    login_as(r, &admin_client(db_url, root)).await
}

async fn login_as(r: &Replica, creds: &Value) -> Api {
    let http = reqwest::Client::new();
    let tok: Value = http
        .post(format!("{}/auth/v1/token", r.base))
        .form(&[
            ("grant_type", "client_credentials"),
            ("client_id", creds["clientId"].as_str().unwrap()),
            ("client_secret", creds["clientSecret"].as_str().unwrap()),
        ])
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    Api {
        http,
        token: tok["access_token"]
            .as_str()
            .unwrap_or_else(|| panic!("{tok}"))
            .to_string(),
    }
}

fn config(state: &Path, sleep: Option<u64>) -> Value {
    let mut env = json!({"BATON_STANDIN_STATE": state.display().to_string()});
    if let Some(s) = sleep {
        env["BATON_STANDIN_SLEEP_SECS"] = json!(s.to_string());
    }
    json!({"command": standin().display().to_string(), "env": env, "timeoutSeconds": 120})
}

async fn runs(api: &Api, r: &Replica, app: &str, id: &str) -> Vec<Value> {
    api.get(r, &format!("/api/v1/apps/{app}/connectors/{id}/sync_runs"))
        .await["list"]
        .as_array()
        .unwrap()
        .clone()
}

async fn accounts(api: &Api, r: &Replica, app: &str) -> usize {
    api.call(
        r,
        "POST",
        "/api/v1/search/app_users",
        json!({"appId": app, "pageSize": 100}),
    )
    .await["list"]
        .as_array()
        .unwrap()
        .len()
}

async fn wait_until<F, Fut>(what: &str, limit: Duration, mut f: F)
where
    F: FnMut() -> Fut,
    Fut: std::future::Future<Output = bool>,
{
    let start = Instant::now();
    while start.elapsed() < limit {
        if f().await {
            return;
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    panic!("timed out waiting for {what}");
}

/// Whether a running process has `needle` in its command line.
fn processes_mentioning(needle: &str) -> bool {
    std::fs::read_dir("/proc").unwrap().flatten().any(|e| {
        std::fs::read(e.path().join("cmdline"))
            .map(|c| String::from_utf8_lossy(&c).contains(needle))
            .unwrap_or(false)
    })
}

fn sync_calls(state: &Path) -> usize {
    std::fs::read_to_string(format!("{}.calls.jsonl", state.display()))
        .unwrap_or_default()
        .lines()
        .filter(|l| !l.contains(r#""-p""#))
        .count()
}

async fn replicas_share_syncs(db_url: &str) {
    let root = temp_dir();
    let state = root.join("remote.json");
    let mut a = start_replica(db_url, &root, "a").await;
    let api = login(&a, db_url, &root).await;
    let app = api
        .call(
            &a,
            "POST",
            "/api/v1/apps",
            json!({"displayName": "Replicated"}),
        )
        .await["app"]["id"]
        .as_str()
        .unwrap()
        .to_string();
    let id = api
        .call(
            &a,
            "POST",
            &format!("/api/v1/apps/{app}/connectors/create"),
            json!({"config": config(&state, None)}),
        )
        .await["connectorView"]["connector"]["id"]
        .as_str()
        .unwrap()
        .to_string();
    let force = format!("/api/v1/apps/{app}/connectors/{id}/force_sync");
    api.call(&a, "POST", &force, json!({})).await;
    wait_until("the first sync", Duration::from_secs(20), || async {
        runs(&api, &a, &app, &id).await.len() == 1
    })
    .await;
    assert_eq!(accounts(&api, &a, &app).await, 3);

    // The remote system gains a user; the next sync hangs in the connector and its replica dies.
    let mut remote: Value =
        serde_json::from_str(&std::fs::read_to_string(&state).unwrap()).unwrap();
    remote["users"].as_array_mut().unwrap().push(
        json!({"id": "u4", "login": "dave", "email": "dave@example.com", "displayName": "Dave"}),
    );
    std::fs::write(&state, remote.to_string()).unwrap();
    api.call(
        &a,
        "POST",
        &format!("/api/v1/apps/{app}/connectors/{id}"),
        json!({"connector": {"config": config(&state, Some(30))}, "updateMask": "config"}),
    )
    .await;
    api.call(&a, "POST", &force, json!({})).await;
    wait_until(
        "the second sync to start",
        Duration::from_secs(20),
        || async {
            api.get(&a, &format!("/api/v1/apps/{app}/connectors/{id}"))
                .await["connectorView"]["connector"]["status"]["status"]
                == "SYNC_STATUS_RUNNING"
        },
    )
    .await;
    a.child.kill().unwrap();
    a.child.wait().unwrap();
    // Its connector process dies with it rather than running on unsupervised.
    let a_dir = root.join("a").display().to_string();
    wait_until(
        "the dead replica's connector to exit",
        Duration::from_secs(5),
        || {
            let a_dir = a_dir.clone();
            async move { !processes_mentioning(&a_dir) }
        },
    )
    .await;

    // Another replica sees the previous data, untouched by the dead sync.
    let b = start_replica(db_url, &root, "b").await;
    assert_eq!(accounts(&api, &b, &app).await, 3, "previous data intact");
    assert_eq!(runs(&api, &b, &app, &id).await.len(), 1);
    // The connector stops hanging; once the dead replica's lease lapses, b retries the sync.
    api.call(
        &b,
        "POST",
        &format!("/api/v1/apps/{app}/connectors/{id}"),
        json!({"connector": {"config": config(&state, None)}, "updateMask": "config"}),
    )
    .await;
    wait_until("the retried sync", Duration::from_secs(30), || async {
        runs(&api, &b, &app, &id).await.len() == 2
    })
    .await;
    let run = &runs(&api, &b, &app, &id).await[0];
    assert_eq!(run["status"], "SYNC_STATUS_DONE", "{run}");
    assert_eq!(run["counts"]["appUsers"]["added"], 1, "{run}");
    assert_eq!(accounts(&api, &b, &app).await, 4);

    // Two live replicas and a schedule firing every two seconds: each firing runs once, on
    // one replica, and runs never overlap.
    let c = start_replica(db_url, &root, "c").await;
    let calls_before = sync_calls(&state);
    let runs_before = runs(&api, &b, &app, &id).await.len();
    api.call(
        &c,
        "POST",
        &format!("/api/v1/apps/{app}/connectors/{id}/schedule"),
        json!({"cron": {"cronSpec": "*/2 * * * * *"}}),
    )
    .await;
    tokio::time::sleep(Duration::from_secs(9)).await;
    api.call(
        &b,
        "POST",
        &format!("/api/v1/apps/{app}/connectors/{id}/schedule"),
        json!({}),
    )
    .await;
    // Let a sync that already started finish.
    tokio::time::sleep(Duration::from_secs(2)).await;
    let all = runs(&api, &b, &app, &id).await;
    let new_runs = &all[..all.len() - runs_before];
    let new_calls = sync_calls(&state) - calls_before;
    assert!(
        (3..=6).contains(&new_runs.len()),
        "about one sync per firing in 9 s, got {}",
        new_runs.len()
    );
    assert_eq!(
        new_calls,
        new_runs.len(),
        "every connector run was applied once"
    );
    let mut spans: Vec<(String, String)> = new_runs
        .iter()
        .map(|r| {
            (
                r["startedAt"].as_str().unwrap().to_string(),
                r["completedAt"].as_str().unwrap().to_string(),
            )
        })
        .collect();
    spans.sort();
    for w in spans.windows(2) {
        assert!(w[0].1 <= w[1].0, "syncs overlapped: {w:?}");
    }
    drop((b, c));
    let _ = std::fs::remove_dir_all(&root);
}

#[tokio::test]
async fn replicas_share_syncs_on_postgres() {
    let admin = std::env::var("CHAMBERLAIN_TEST_POSTGRES")
        .unwrap_or_else(|_| "postgres://postgres@127.0.0.1:5432/postgres".into());
    let name = format!(
        "chamberlain_r_{}",
        chamberlain_model::new_id().to_lowercase()
    );
    let psql = |sql: String| {
        let out = Command::new("psql")
            .args([admin.as_str(), "-q", "-c", &sql])
            .output()
            .expect("psql is needed by this test");
        assert!(
            out.status.success(),
            "{}",
            String::from_utf8_lossy(&out.stderr)
        );
    };
    psql(format!("CREATE DATABASE {name}"));
    let url = format!("{}/{name}", admin.rsplit_once('/').unwrap().0);
    replicas_share_syncs(&url).await;
    psql(format!("DROP DATABASE {name} WITH (FORCE)"));
}

#[tokio::test]
async fn replicas_share_syncs_on_sqlite() {
    let dir = temp_dir();
    let url = format!("sqlite://{}?mode=rwc", dir.join("shared.db").display());
    replicas_share_syncs(&url).await;
    let _ = std::fs::remove_dir_all(&dir);
}

/// Runs the CLI against a server (off the async runtime's threads).
async fn cli(base: &str, creds: &Value, args: &[&str]) -> std::process::Output {
    let mut cmd = Command::new(BIN);
    cmd.args(args)
        .env("CHAMBERLAIN_SERVER", base)
        .env("CHAMBERLAIN_CLIENT_ID", creds["clientId"].as_str().unwrap())
        .env(
            "CHAMBERLAIN_CLIENT_SECRET",
            creds["clientSecret"].as_str().unwrap(),
        );
    tokio::task::spawn_blocking(move || cmd.output().unwrap())
        .await
        .unwrap()
}

#[tokio::test]
async fn cli_syncs_and_provisions_through_a_connector() {
    let root = temp_dir();
    let db_url = format!("sqlite://{}?mode=rwc", root.join("cli.db").display());
    let state = root.join("remote.json");
    let r = start_replica(&db_url, &root, "srv").await;
    let creds = admin_client(&db_url, &root);
    let api = login_as(&r, &creds).await;
    let app = api
        .call(&r, "POST", "/api/v1/apps", json!({"displayName": "CLI"}))
        .await["app"]["id"]
        .as_str()
        .unwrap()
        .to_string();
    let mut cfg = config(&state, None);
    cfg["provisioning"] = json!(true);
    let id = api
        .call(
            &r,
            "POST",
            &format!("/api/v1/apps/{app}/connectors/create"),
            json!({ "config": cfg }),
        )
        .await["connectorView"]["connector"]["id"]
        .as_str()
        .unwrap()
        .to_string();
    let out = cli(
        &r.base,
        &creds,
        &[
            "sync",
            "run",
            "--app",
            &app,
            "--connector",
            &id,
            "--output",
            "json",
        ],
    )
    .await;
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let run: Value = serde_json::from_slice(&out.stdout).unwrap();
    assert_eq!(run["status"], "SYNC_STATUS_DONE", "{run}");
    assert_eq!(run["counts"]["appUsers"]["total"], 3, "{run}");
    // Grant Bob the Admins membership and take it back, from the command line.
    let ents = api
        .get(
            &r,
            &format!("/api/v1/apps/{app}/entitlements?page_size=100"),
        )
        .await;
    let admins = ents["list"]
        .as_array()
        .unwrap()
        .iter()
        .find(|e| e["appEntitlement"]["displayName"] == "Admins Member")
        .unwrap()["appEntitlement"]["id"]
        .as_str()
        .unwrap()
        .to_string();
    let bob = api
        .call(
            &r,
            "POST",
            "/api/v1/search/app_users",
            json!({"appId": app, "query": "bob@example.com"}),
        )
        .await["list"][0]["appUser"]["id"]
        .as_str()
        .unwrap()
        .to_string();
    let member = |state: &Path| {
        let v: Value = serde_json::from_str(&std::fs::read_to_string(state).unwrap()).unwrap();
        v["memberships"]
            .as_array()
            .unwrap()
            .contains(&json!({"group": "g1", "user": "u2"}))
    };
    for (verb, want) in [("add", true), ("revoke", false)] {
        let out = cli(
            &r.base,
            &creds,
            &[
                "grants",
                verb,
                "--app",
                &app,
                "--entitlement",
                &admins,
                "--app-user",
                &bob,
                "--output",
                "json",
            ],
        )
        .await;
        assert!(
            out.status.success(),
            "{verb}: {}",
            String::from_utf8_lossy(&out.stderr)
        );
        assert_eq!(member(&state), want, "{verb}");
    }
    // A connector that fails makes the command fail with the connector's reason.
    cfg["env"]["BATON_STANDIN_FAIL"] = json!("token expired");
    api.call(
        &r,
        "POST",
        &format!("/api/v1/apps/{app}/connectors/{id}"),
        json!({"connector": {"config": cfg}, "updateMask": "config"}),
    )
    .await;
    let out = cli(
        &r.base,
        &creds,
        &[
            "grants",
            "add",
            "--app",
            &app,
            "--entitlement",
            &admins,
            "--app-user",
            &bob,
        ],
    )
    .await;
    assert!(!out.status.success());
    assert!(String::from_utf8_lossy(&out.stderr).contains("token expired"));
    assert!(!member(&state), "nothing was granted");
    drop(r);
    let _ = std::fs::remove_dir_all(&root);
}

/// Two replicas on one PostgreSQL database both run grant expiry and membership automation:
/// every expired grant is revoked by exactly one task, and every user is enrolled once.
#[tokio::test]
async fn replicas_share_expiry_and_membership_automation_on_postgres() {
    use chamberlain_model::app::{App, AppEntitlement, AppUser};
    use chamberlain_model::user::{User, UserStatus};
    use chamberlain_model::{new_id, Timestamp};
    use chamberlain_store::repo::grants;
    let admin = std::env::var("CHAMBERLAIN_TEST_POSTGRES")
        .unwrap_or_else(|_| "postgres://postgres@127.0.0.1:5432/postgres".into());
    let name = format!("chamberlain_x_{}", new_id().to_lowercase());
    let psql = |sql: String| {
        let out = Command::new("psql")
            .args([admin.as_str(), "-q", "-c", &sql])
            .output()
            .expect("psql is needed by this test");
        assert!(
            out.status.success(),
            "{}",
            String::from_utf8_lossy(&out.stderr)
        );
    };
    psql(format!("CREATE DATABASE {name}"));
    let url = format!("{}/{name}", admin.rsplit_once('/').unwrap().0);
    let root = temp_dir();
    let a = start_replica(&url, &root, "a").await;
    let b = start_replica(&url, &root, "b").await;
    let api = login(&a, &url, &root).await;

    // Seed: 150 accounts holding a grant that ends in three seconds, and 40 users of whom 25
    // hold an on-call schedule.
    let store = chamberlain_store::Store::connect(&url).await.unwrap();
    let audit = chamberlain_store::AuditCtx::system("test seed");
    let now = Timestamp::now();
    let app = App {
        id: new_id(),
        display_name: "Expiring".into(),
        created_at: Some(now),
        updated_at: Some(now),
        ..Default::default()
    };
    let ent = AppEntitlement {
        id: new_id(),
        app_id: app.id.clone(),
        display_name: "temp".into(),
        created_at: Some(now),
        updated_at: Some(now),
        ..Default::default()
    };
    let schedule = AppEntitlement {
        id: new_id(),
        app_id: app.id.clone(),
        display_name: "Schedule".into(),
        created_at: Some(now),
        updated_at: Some(now),
        ..Default::default()
    };
    let accounts: Vec<AppUser> = (0..150)
        .map(|i| AppUser {
            id: new_id(),
            app_id: app.id.clone(),
            display_name: format!("acct{i}"),
            created_at: Some(now),
            updated_at: Some(now),
            ..Default::default()
        })
        .collect();
    let users: Vec<User> = (0..40)
        .map(|i| User {
            id: new_id(),
            email: format!("u{i}@example.com"),
            display_name: format!("u{i}"),
            status: UserStatus::Enabled,
            created_at: Some(now),
            updated_at: Some(now),
            ..Default::default()
        })
        .collect();
    let linked: Vec<AppUser> = users
        .iter()
        .map(|u| AppUser {
            id: new_id(),
            app_id: app.id.clone(),
            identity_user_id: u.id.clone(),
            display_name: u.display_name.clone(),
            created_at: Some(now),
            updated_at: Some(now),
            ..Default::default()
        })
        .collect();
    let ends = now.plus_seconds(3);
    chamberlain_store::write_tx!(store, &audit, |tx| {
        tx.create(&app).await?;
        tx.create(&ent).await?;
        tx.create(&schedule).await?;
        for au in accounts.iter().chain(linked.iter()) {
            tx.create(au).await?;
        }
        for u in &users {
            tx.create(u).await?;
        }
        for au in &accounts {
            grants::grant_direct(tx, &ent, &au.id, Some(ends)).await?;
        }
        for au in linked.iter().take(25) {
            grants::grant_direct(tx, &schedule, &au.id, None).await?;
        }
        Ok(())
    })
    .unwrap();
    let c = api
        .call(
            &a,
            "POST",
            "/api/v1/catalogs",
            json!({"displayName": "On-call", "published": true}),
        )
        .await;
    let cid = c["requestCatalogView"]["requestCatalog"]["id"]
        .as_str()
        .unwrap()
        .to_string();
    let enroll = c["requestCatalogView"]["requestCatalog"]["enrollmentEntitlementId"]
        .as_str()
        .unwrap()
        .to_string();
    api.call(
        &a,
        "POST",
        &format!("/api/v1/catalogs/{cid}/bundle_automation"),
        json!({"entitlements": {"entitlementRefs": [{"appId": app.id, "id": schedule.id}]}, "enabled": true}),
    )
    .await;

    // `sql` holds one `?` where the argument goes.
    let count = |sql: &'static str, arg: String| {
        let store = store.clone();
        async move {
            let (before, after) = sql.split_once('?').unwrap();
            let mut q = chamberlain_store::record::Sql::new(before);
            q.arg(arg).push(after);
            let row = q.query().fetch_one(store.pool()).await.unwrap();
            sqlx::Row::try_get::<i64, _>(&row, 0).unwrap()
        }
    };
    wait_until(
        "every expired grant to be revoked",
        Duration::from_secs(60),
        || {
            let e = ent.id.clone();
            async move {
                count(
                    "SELECT COUNT(*) FROM grants WHERE deleted_at IS NULL AND entitlement_id = ?",
                    e,
                )
                .await
                    == 0
            }
        },
    )
    .await;
    wait_until(
        "the schedule's holders to be enrolled",
        Duration::from_secs(60),
        || {
            let e = enroll.clone();
            async move {
                count(
                    "SELECT COUNT(*) FROM grants WHERE deleted_at IS NULL AND entitlement_id = ?",
                    e,
                )
                .await
                    == 25
            }
        },
    )
    .await;
    // Exactly one revoke task per grant, and one enrollment task and account per user.
    let dup_revokes = count(
        "SELECT COUNT(*) FROM (SELECT app_user_id FROM tasks WHERE entitlement_id = ? AND kind = 'revoke' GROUP BY app_user_id HAVING COUNT(*) > 1) d",
        ent.id.clone(),
    )
    .await;
    assert_eq!(dup_revokes, 0);
    let revokes = count(
        "SELECT COUNT(*) FROM tasks WHERE entitlement_id = ? AND kind = 'revoke'",
        ent.id.clone(),
    )
    .await;
    assert_eq!(revokes, 150);
    let enrollments = count(
        "SELECT COUNT(*) FROM tasks WHERE entitlement_id = ? AND kind = 'grant'",
        enroll.clone(),
    )
    .await;
    assert_eq!(enrollments, 25);
    let accounts_in_builtin = count(
        "SELECT COUNT(*) FROM app_users WHERE deleted_at IS NULL AND app_id = ?",
        "0000000000000000Chamberlain".into(),
    )
    .await;
    assert_eq!(accounts_in_builtin, 25);
    drop((a, b));
    store.close().await;
    psql(format!("DROP DATABASE {name} WITH (FORCE)"));
    let _ = std::fs::remove_dir_all(&root);
}

/// The CLI requests access, shows the approver's inbox and approves, through the public API and
/// the entitlement's policy.
#[tokio::test]
async fn cli_requests_and_approves_access() {
    let root = temp_dir();
    let db_url = format!("sqlite://{}?mode=rwc", root.join("tasks.db").display());
    let r = start_replica(&db_url, &root, "srv").await;
    let admin = admin_client(&db_url, &root);
    let requester = client_with_role(&db_url, &root, "basic-user");
    let approver = client_with_role(&db_url, &root, "basic-user");
    let api = login_as(&r, &admin).await;
    let app = api
        .call(&r, "POST", "/api/v1/apps", json!({"displayName": "Wiki"}))
        .await["app"]["id"]
        .as_str()
        .unwrap()
        .to_string();
    let ent = |name: &str| json!({"displayName": name});
    let base_ent = api
        .call(
            &r,
            "POST",
            &format!("/api/v1/apps/{app}/entitlements"),
            ent("reader"),
        )
        .await["appEntitlementView"]["appEntitlement"]["id"]
        .as_str()
        .unwrap()
        .to_string();
    let editor = api
        .call(
            &r,
            "POST",
            &format!("/api/v1/apps/{app}/entitlements"),
            ent("editor"),
        )
        .await["appEntitlementView"]["appEntitlement"]["id"]
        .as_str()
        .unwrap()
        .to_string();
    // The requester gets an account in the app.
    api.call(
        &r,
        "POST",
        &format!("/api/v1/apps/{app}/entitlements/{base_ent}/add-manual-user"),
        json!({"userIds": [requester["userId"]]}),
    )
    .await;
    let p = api.call(&r, "POST", "/api/v1/policies", json!({
        "displayName": "Approver", "policyType": "POLICY_TYPE_GRANT",
        "policySteps": {"grant": {"steps": [{"approval": {"users": {"userIds": [approver["userId"]]}}}]}}
    })).await;
    api.call(
        &r,
        "POST",
        &format!("/api/v1/apps/{app}/entitlements/{editor}"),
        json!({"entitlement": {"grantPolicyId": p["policy"]["id"]}, "updateMask": "grantPolicyId"}),
    )
    .await;

    let out = cli(
        &r.base,
        &requester,
        &[
            "tasks",
            "request",
            "--app",
            &app,
            "--entitlement",
            &editor,
            "--justification",
            "docs sprint",
            "--duration",
            "3600s",
            "--output",
            "json",
        ],
    )
    .await;
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let task: Value = serde_json::from_slice(&out.stdout).unwrap();
    assert_eq!(task["state"], "TASK_STATE_OPEN", "{task}");
    let number = task["numericId"].as_str().unwrap().to_string();
    let out = cli(&r.base, &approver, &["tasks", "inbox"]).await;
    let text = String::from_utf8_lossy(&out.stdout).to_string();
    assert!(
        out.status.success() && text.contains(&format!("task {number} ")),
        "{text}"
    );
    // The requester cannot approve their own request; the error says why.
    let out = cli(&r.base, &requester, &["tasks", "act", "approve", &number]).await;
    assert!(!out.status.success());
    assert!(
        String::from_utf8_lossy(&out.stderr).contains("not an approver"),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let out = cli(
        &r.base,
        &approver,
        &["tasks", "act", "approve", &number, "--comment", "ok"],
    )
    .await;
    let text = String::from_utf8_lossy(&out.stdout).to_string();
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert!(text.contains("GRANT_OUTCOME_GRANTED"), "{text}");
    drop(r);
    let _ = std::fs::remove_dir_all(&root);
}
