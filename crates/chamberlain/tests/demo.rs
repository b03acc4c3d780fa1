//! `chamberlain serve --demo` and the first-run bootstrap, through the real binary: what is
//! printed, that the printed sign-ins work at `/auth/v1/signin`, what the API then shows (the
//! company, the on-call profiles, the MCP tools in every review state, a pending approval), that
//! a second start adds nothing and prints no new password, and the refusals. The demo scenario
//! runs on SQLite and on PostgreSQL.

use serde_json::{json, Value};
use std::io::{BufRead, BufReader};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::sync::{Arc, Mutex};
use std::time::Duration;

const BIN: &str = env!("CARGO_BIN_EXE_chamberlain");
const KEY: &str = "MDEyMzQ1Njc4OWFiY2RlZjAxMjM0NTY3ODlhYmNkZWY=";

fn temp_dir() -> PathBuf {
    let d = std::env::temp_dir().join(format!("chamberlain-demo-{}", chamberlain_model::new_id()));
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

/// The fixture MCP server next to the `chamberlain` binary (where `--demo` looks for it),
/// built if this test run did not build it.
fn ensure_fixture() {
    let path = Path::new(BIN)
        .parent()
        .unwrap()
        .join("chamberlain-mcp-fixture");
    if !path.is_file() {
        let status = Command::new(env!("CARGO"))
            .args(["build", "-p", "chamberlain-mcp-fixture"])
            .status()
            .unwrap();
        assert!(status.success(), "building chamberlain-mcp-fixture failed");
    }
}

/// Where a server keeps its data: a SQLite data dir, or a fresh PostgreSQL database.
struct Db {
    dir: PathBuf,
    pg: Option<(String, String)>,
}

impl Db {
    fn sqlite() -> Db {
        Db {
            dir: temp_dir(),
            pg: None,
        }
    }
    fn postgres() -> Db {
        let admin = std::env::var("CHAMBERLAIN_TEST_POSTGRES")
            .unwrap_or_else(|_| "postgres://postgres@127.0.0.1:5432/postgres".into());
        let name = format!(
            "chamberlain_demo_{}",
            chamberlain_model::new_id().to_lowercase()
        );
        let status = Command::new("psql")
            .args([&admin, "-qc", &format!("CREATE DATABASE {name}")])
            .status()
            .expect("psql is needed by this test");
        assert!(status.success());
        let url = format!("{}/{name}", admin.rsplit_once('/').unwrap().0);
        Db {
            dir: temp_dir(),
            pg: Some((admin, url)),
        }
    }
    fn args(&self) -> Vec<String> {
        let mut a = vec!["--data-dir".to_string(), self.dir.display().to_string()];
        if let Some((_, url)) = &self.pg {
            a.push("--database-url".into());
            a.push(url.clone());
        }
        a
    }
}

impl Drop for Db {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.dir);
        if let Some((admin, url)) = &self.pg {
            let name = url.rsplit('/').next().unwrap();
            let _ = Command::new("psql")
                .args([
                    admin.as_str(),
                    "-qc",
                    &format!("DROP DATABASE IF EXISTS {name} WITH (FORCE)"),
                ])
                .status();
        }
    }
}

/// A running `chamberlain serve`, its standard output collected as it comes.
struct Server {
    child: Child,
    out: Arc<Mutex<String>>,
    base: String,
}

impl Drop for Server {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

impl Server {
    fn start(db: &Db, extra: &[&str]) -> Server {
        let port = free_port();
        let base = format!("http://127.0.0.1:{port}");
        let mut child = Command::new(BIN)
            .arg("serve")
            .args(db.args())
            .args(["--listen", &format!("127.0.0.1:{port}")])
            .args(extra)
            .env("CHAMBERLAIN_ENCRYPTION_KEY", KEY)
            .env("CHAMBERLAIN_LOG", "warn")
            .stdout(Stdio::piped())
            .stderr(Stdio::null())
            .spawn()
            .unwrap();
        let out = Arc::new(Mutex::new(String::new()));
        let stdout = child.stdout.take().unwrap();
        let sink = out.clone();
        std::thread::spawn(move || {
            for line in BufReader::new(stdout).lines().map_while(Result::ok) {
                let mut o = sink.lock().unwrap();
                o.push_str(&line);
                o.push('\n');
            }
        });
        Server { child, out, base }
    }

    fn output(&self) -> String {
        self.out.lock().unwrap().clone()
    }

    /// Waits until `/readyz` answers 200 (the demo is loaded before the server serves).
    async fn ready(&mut self) {
        let http = reqwest::Client::new();
        for _ in 0..1800 {
            if let Ok(r) = http.get(format!("{}/readyz", self.base)).send().await {
                if r.status().is_success() {
                    return;
                }
            }
            if let Ok(Some(st)) = self.child.try_wait() {
                panic!("the server exited ({st}) with output:\n{}", self.output());
            }
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
        panic!(
            "the server did not become ready; output:\n{}",
            self.output()
        );
    }
}

/// `email / password` pairs printed after `label`.
fn printed_signin(out: &str, label: &str) -> (String, String) {
    let line = out
        .lines()
        .find(|l| l.trim_start().starts_with(label))
        .unwrap_or_else(|| panic!("no `{label}` line in:\n{out}"));
    let creds = line.split_once(": ").unwrap().1;
    let (email, pw) = creds.split_once(" / ").unwrap();
    (email.trim().to_string(), pw.trim().to_string())
}

fn browser() -> reqwest::Client {
    reqwest::Client::builder()
        .cookie_store(true)
        .redirect(reqwest::redirect::Policy::none())
        .build()
        .unwrap()
}

/// The hidden fields of the page's form.
fn hidden_fields(html: &str) -> Vec<(String, String)> {
    html.split("<input type=\"hidden\" ")
        .skip(1)
        .map(|part| {
            let attr = |a: &str| {
                part.split(&format!("{a}=\""))
                    .nth(1)
                    .unwrap()
                    .split('"')
                    .next()
                    .unwrap()
                    .replace("&amp;", "&")
            };
            (attr("name"), attr("value"))
        })
        .collect()
}

/// Signs in through the password form (CSRF cookie and token from the page): the status.
async fn sign_in(base: &str, email: &str, password: &str) -> u16 {
    let b = browser();
    let page = b
        .get(format!("{base}/auth/v1/signin"))
        .send()
        .await
        .unwrap()
        .text()
        .await
        .unwrap();
    let mut form = hidden_fields(&page);
    assert!(form.iter().any(|(k, _)| k == "csrf"), "{page}");
    form.push(("email".into(), email.into()));
    form.push(("password".into(), password.into()));
    let resp = b
        .post(format!("{base}/auth/v1/signin"))
        .form(&form)
        .send()
        .await
        .unwrap();
    let status = resp.status().as_u16();
    if status == 303 {
        let page = b
            .get(format!("{base}/auth/v1/signin"))
            .send()
            .await
            .unwrap()
            .text()
            .await
            .unwrap();
        assert!(
            page.contains(email),
            "the signed-in page names {email}: {page}"
        );
    }
    status
}

/// An admin API client on the server's database: a bearer token.
async fn admin_token(db: &Db, base: &str) -> String {
    let out = Command::new(BIN)
        .args([
            "admin",
            "create-client",
            "--role",
            "super-admin",
            "--output",
            "json",
        ])
        .args(db.args())
        .args(["--public-url", base])
        .env("CHAMBERLAIN_ENCRYPTION_KEY", KEY)
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let creds: Value = serde_json::from_slice(&out.stdout).unwrap();
    let tok: Value = reqwest::Client::new()
        .post(format!("{base}/auth/v1/token"))
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
    tok["access_token"].as_str().unwrap().to_string()
}

async fn api(base: &str, token: &str, method: &str, path: &str, body: Value) -> Value {
    let http = reqwest::Client::new();
    let m = reqwest::Method::from_bytes(method.as_bytes()).unwrap();
    let mut req = http.request(m, format!("{base}{path}")).bearer_auth(token);
    if !body.is_null() {
        req = req.json(&body);
    }
    let resp = req.send().await.unwrap();
    let st = resp.status();
    let v: Value = resp.json().await.unwrap_or(Value::Null);
    assert!(st.is_success(), "{method} {path} -> {st}: {v}");
    v
}

/// Every item of a paginated POST search.
async fn search_all(base: &str, token: &str, path: &str, body: Value) -> Vec<Value> {
    let mut all = vec![];
    let mut page = String::new();
    loop {
        let mut b = body.clone();
        b["pageSize"] = json!(100);
        b["pageToken"] = json!(page);
        let v = api(base, token, "POST", path, b).await;
        all.extend(v["list"].as_array().unwrap().iter().cloned());
        match v["nextPageToken"].as_str() {
            Some(t) if !t.is_empty() => page = t.to_string(),
            _ => return all,
        }
    }
}

/// What a test compares between starts.
#[derive(Debug, PartialEq)]
struct Counts {
    users: usize,
    apps: usize,
    profiles: usize,
    tasks: usize,
    policies: usize,
}

async fn counts(base: &str, token: &str) -> Counts {
    let users = search_all(base, token, "/api/v1/search/users", json!({})).await;
    let apps = api(
        base,
        token,
        "GET",
        "/api/v1/apps?page_size=100",
        Value::Null,
    )
    .await;
    let profiles = api(
        base,
        token,
        "GET",
        "/api/v1/catalogs?page_size=100",
        Value::Null,
    )
    .await;
    let tasks = search_all(base, token, "/api/v1/search/tasks", json!({})).await;
    let policies = api(
        base,
        token,
        "GET",
        "/api/v1/policies?page_size=100",
        Value::Null,
    )
    .await;
    Counts {
        // People (the admin API clients used by the test add service users).
        users: users
            .iter()
            .filter(|u| u["user"]["type"] == "USER_TYPE_HUMAN")
            .count(),
        apps: apps["list"].as_array().unwrap().len(),
        profiles: profiles["list"].as_array().unwrap().len(),
        tasks: tasks.len(),
        policies: policies["list"].as_array().unwrap().len(),
    }
}

async fn demo_scenario(db: Db) {
    ensure_fixture();
    let mut srv = Server::start(&db, &["--demo"]);
    srv.ready().await;
    let out = srv.output();
    assert!(
        out.contains("DEMO MODE: loaded the sample company"),
        "{out}"
    );
    assert!(out.contains("Not for production"), "{out}");
    assert!(
        out.contains(&format!("Sign in at: {}/auth/v1/signin", srv.base)),
        "{out}"
    );
    assert!(
        !out.contains("First start: created the administrator"),
        "the demo's admin makes the bootstrap unnecessary: {out}"
    );
    assert!(!out.contains("Note:"), "nothing was left out: {out}");
    let admin = printed_signin(&out, "Admin");
    let employee = printed_signin(&out, "Employee");
    let manager = printed_signin(&out, "Manager");
    for (email, pw) in [&admin, &employee, &manager] {
        assert_eq!(sign_in(&srv.base, email, pw).await, 303, "{email} signs in");
    }
    assert_eq!(
        sign_in(&srv.base, &employee.0, "not the password").await,
        401
    );

    let base = srv.base.clone();
    let tok = admin_token(&db, &base).await;
    let before = counts(&base, &tok).await;
    // 200 people from the HR directory, plus the local admin (and the admin API client's
    // service user just created).
    assert!(
        (200..=205).contains(&before.users),
        "about 200 users: {before:?}"
    );
    assert_eq!(
        before.apps, 7,
        "built-in + HR, PagerDuty, GitHub, AWS, Salesforce, MCP"
    );

    // Users carry directory attributes with their sources, and Sam's manager is Jordan.
    let users = search_all(&base, &tok, "/api/v1/search/users", json!({})).await;
    let by_email = |e: &str| {
        users
            .iter()
            .map(|u| &u["user"])
            .find(|u| u["email"] == e)
            .unwrap_or_else(|| panic!("no user {e}"))
            .clone()
    };
    let sam = by_email(&employee.0);
    let jordan = by_email(&manager.0);
    assert_eq!(sam["department"], "Engineering");
    assert_eq!(sam["managerIds"], json!([jordan["id"]]));
    assert!(!sam["departmentSources"].as_array().unwrap().is_empty());
    let types: std::collections::HashSet<&str> = users
        .iter()
        .filter_map(|u| u["user"]["employmentType"].as_str())
        .collect();
    assert!(
        types.contains("Contractor") && types.contains("Full-time"),
        "{types:?}"
    );

    // The two on-call profiles: one requestable by rotation members, one automatic.
    let profiles = api(
        &base,
        &tok,
        "GET",
        "/api/v1/catalogs?page_size=100",
        Value::Null,
    )
    .await;
    let find = |name: &str| {
        profiles["list"]
            .as_array()
            .unwrap()
            .iter()
            .map(|c| &c["requestCatalog"])
            .find(|c| c["displayName"] == name)
            .unwrap_or_else(|| panic!("no profile {name}: {profiles}"))
            .clone()
    };
    for name in ["Engineering baseline", "AI tools for incident response"] {
        assert_eq!(find(name)["published"], true);
    }
    let self_service = find("On-call production access");
    assert_eq!(self_service["visibleToEveryone"], false);
    let vis = api(
        &base,
        &tok,
        "GET",
        &format!(
            "/api/v1/catalogs/{}/visibility_entitlements",
            self_service["id"].as_str().unwrap()
        ),
        Value::Null,
    )
    .await;
    assert!(
        vis.to_string().contains("Platform primary member"),
        "visible to rotation members: {vis}"
    );
    let automatic = find("On-call (automatic)");
    let automation = api(
        &base,
        &tok,
        "GET",
        &format!(
            "/api/v1/catalogs/{}/bundle_automation",
            automatic["id"].as_str().unwrap()
        ),
        Value::Null,
    )
    .await;
    assert_eq!(automation["enabled"], true, "{automation}");
    // Whoever is on call was enrolled through the automation.
    let tasks = search_all(&base, &tok, "/api/v1/search/tasks", json!({})).await;
    assert!(
        tasks.iter().any(
            |t| t["task"]["origin"] == "TASK_ORIGIN_PROFILE_MEMBERSHIP_AUTOMATION"
                && t.to_string().contains("Morgan Chen")
        ),
        "Morgan is on call and enrolled: {tasks:?}"
    );

    // A request waits for the manager; others are closed.
    let open: Vec<&Value> = tasks
        .iter()
        .map(|t| &t["task"])
        .filter(|t| t["state"] == "TASK_STATE_OPEN")
        .collect();
    assert!(
        open.iter()
            .any(|t| t["stepApproverIds"] == json!([jordan["id"]]) && t["userId"] == sam["id"]),
        "one approval waits for Jordan: {open:?}"
    );
    let outcomes: Vec<&str> = tasks
        .iter()
        .filter_map(|t| t["task"]["type"]["grant"]["outcome"].as_str())
        .collect();
    assert!(outcomes.contains(&"GRANT_OUTCOME_DENIED"), "{outcomes:?}");
    assert!(outcomes.contains(&"GRANT_OUTCOME_GRANTED"), "{outcomes:?}");

    // The MCP server's tools, in every review state, and a custom toolset.
    let apps = api(
        &base,
        &tok,
        "GET",
        "/api/v1/apps?page_size=100",
        Value::Null,
    )
    .await;
    let mcp_app = apps["list"]
        .as_array()
        .unwrap()
        .iter()
        .find(|a| a["displayName"] == "Ops Assistant (MCP)")
        .unwrap()["id"]
        .as_str()
        .unwrap()
        .to_string();
    let servers = api(
        &base,
        &tok,
        "GET",
        &format!("/api/v1/apps/{mcp_app}/mcp_servers"),
        Value::Null,
    )
    .await;
    let server = servers["list"][0]["connectorId"]
        .as_str()
        .unwrap()
        .to_string();
    let tools = api(
        &base,
        &tok,
        "GET",
        &format!("/api/v1/apps/{mcp_app}/connectors/{server}/mcp_tools?page_size=100"),
        Value::Null,
    )
    .await;
    let states: std::collections::HashSet<&str> = tools["tools"]
        .as_array()
        .unwrap()
        .iter()
        .filter_map(|t| t["state"].as_str())
        .collect();
    for s in [
        "MCP_TOOL_STATE_PENDING_REVIEW",
        "MCP_TOOL_STATE_APPROVED",
        "MCP_TOOL_STATE_DISABLED",
    ] {
        assert!(states.contains(s), "{s} missing: {tools}");
    }
    let classes: std::collections::HashSet<&str> = tools["tools"]
        .as_array()
        .unwrap()
        .iter()
        .filter_map(|t| t["classification"].as_str())
        .collect();
    assert!(classes.len() >= 3, "{classes:?}");
    let sets = api(
        &base,
        &tok,
        "GET",
        &format!("/api/v1/apps/{mcp_app}/connectors/{server}/mcp_toolsets"),
        Value::Null,
    )
    .await;
    let custom = sets["profiles"]
        .as_array()
        .unwrap()
        .iter()
        .find(|t| t["displayName"] == "Incident responder")
        .unwrap_or_else(|| panic!("{sets}"));
    assert_eq!(custom["toolCount"], 3);
    let ai = find("AI tools for incident response");
    let entries = api(
        &base,
        &tok,
        "GET",
        &format!(
            "/api/v1/catalogs/{}/requestable_entitlements",
            ai["id"].as_str().unwrap()
        ),
        Value::Null,
    )
    .await;
    assert!(
        entries
            .to_string()
            .contains(custom["appEntitlementId"].as_str().unwrap()),
        "the toolset is in the AI profile: {entries}"
    );
    drop(srv);

    // A second --demo start adds nothing and still prints the sign-ins.
    let mut again = Server::start(&db, &["--demo"]);
    again.ready().await;
    let out = again.output();
    assert!(out.contains("is already loaded"), "{out}");
    assert_eq!(printed_signin(&out, "Employee"), employee);
    let tok = admin_token(&db, &again.base).await;
    assert_eq!(counts(&again.base, &tok).await, before);
    assert_eq!(sign_in(&again.base, &manager.0, &manager.1).await, 303);
    drop(again);

    // A start without --demo: no bootstrap (the demo's admin can sign in), no demo text.
    let mut plain = Server::start(&db, &[]);
    plain.ready().await;
    let out = plain.output();
    assert!(!out.contains("Password"), "{out}");
    assert!(!out.contains("DEMO MODE"), "{out}");
    assert!(out.contains("holds the demo organization"), "{out}");
}

#[tokio::test]
async fn demo_organization_on_sqlite() {
    demo_scenario(Db::sqlite()).await;
}

#[tokio::test]
async fn demo_organization_on_postgres() {
    demo_scenario(Db::postgres()).await;
}

#[tokio::test]
async fn first_start_bootstraps_a_super_admin_once() {
    let db = Db::sqlite();
    let mut srv = Server::start(&db, &[]);
    srv.ready().await;
    let out = srv.output();
    assert!(
        out.contains(&format!("Sign in at: {}/auth/v1/signin", srv.base)),
        "{out}"
    );
    assert!(out.contains("chamberlain admin set-password"), "{out}");
    let email = out
        .lines()
        .find_map(|l| l.trim().strip_prefix("Email:"))
        .unwrap_or_else(|| panic!("{out}"))
        .trim()
        .to_string();
    let password = out
        .lines()
        .find_map(|l| l.trim().strip_prefix("Password:"))
        .unwrap()
        .trim()
        .to_string();
    assert_eq!(email, "admin@chamberlain.local");
    assert!(password.len() >= 20, "a strong password: {password}");
    assert_eq!(sign_in(&srv.base, &email, &password).await, 303);
    // The new user is a super admin, and its creation is in the system log.
    let tok = admin_token(&db, &srv.base).await;
    let log = api(
        &srv.base,
        &tok,
        "POST",
        "/api/v1/systemlog/events",
        json!({"pageSize": 100}),
    )
    .await;
    assert!(
        log.to_string().contains("system:bootstrap"),
        "the bootstrap is audited: {log}"
    );
    let users = search_all(&srv.base, &tok, "/api/v1/search/users", json!({})).await;
    let admin = users
        .iter()
        .map(|u| &u["user"])
        .find(|u| u["email"] == email.as_str())
        .unwrap();
    assert_eq!(admin["roleIds"], json!(["super-admin"]), "{admin}");
    drop(srv);

    // Later starts print no password and create no one.
    let mut again = Server::start(&db, &[]);
    again.ready().await;
    let out = again.output();
    assert!(!out.contains("Password"), "{out}");
    assert!(!out.contains("First start"), "{out}");
    let tok = admin_token(&db, &again.base).await;
    let users_after = search_all(&again.base, &tok, "/api/v1/search/users", json!({})).await;
    assert_eq!(
        users_after.len(),
        users.len() + 1,
        "only the test's second API client's service user was added"
    );
}

#[tokio::test]
async fn demo_is_refused_on_a_database_with_other_data() {
    let db = Db::sqlite();
    let mut srv = Server::start(&db, &[]);
    srv.ready().await;
    let tok = admin_token(&db, &srv.base).await;
    api(
        &srv.base,
        &tok,
        "POST",
        "/api/v1/apps",
        json!({"displayName": "Real app"}),
    )
    .await;
    drop(srv);
    let port = free_port();
    let out = Command::new(BIN)
        .arg("serve")
        .args(db.args())
        .args(["--listen", &format!("127.0.0.1:{port}"), "--demo"])
        .env("CHAMBERLAIN_ENCRYPTION_KEY", KEY)
        .output()
        .unwrap();
    assert!(!out.status.success());
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(
        err.contains("needs a database without apps") && err.contains("1 app"),
        "{err}"
    );
    assert!(!String::from_utf8_lossy(&out.stdout).contains("DEMO MODE"));
}

#[tokio::test]
async fn replicas_starting_together_bootstrap_one_admin_on_postgres() {
    let db = Db::postgres();
    // Migrated first: replicas migrating a fresh database at the same moment is another matter.
    let migrated = Command::new(BIN)
        .arg("migrate")
        .args(db.args())
        .output()
        .unwrap();
    assert!(migrated.status.success());
    let mut a = Server::start(&db, &[]);
    let mut b = Server::start(&db, &[]);
    a.ready().await;
    b.ready().await;
    let printed = [a.output(), b.output()]
        .iter()
        .filter(|o| o.contains("First start: created the administrator"))
        .count();
    assert_eq!(printed, 1, "{}\n---\n{}", a.output(), b.output());
    let tok = admin_token(&db, &a.base).await;
    let users = search_all(&a.base, &tok, "/api/v1/search/users", json!({})).await;
    let admins = users
        .iter()
        .filter(|u| {
            u["user"]["email"]
                .as_str()
                .is_some_and(|e| e.ends_with("@chamberlain.local"))
        })
        .count();
    assert_eq!(admins, 1);
}

#[tokio::test]
async fn demo_is_refused_after_an_unfinished_demo_start() {
    let db = Db::sqlite();
    let url = format!(
        "sqlite://{}?mode=rwc",
        db.dir.join("chamberlain.db").display()
    );
    let store = chamberlain_store::Store::connect(&url).await.unwrap();
    store.migrate().await.unwrap();
    let audit = chamberlain_store::AuditCtx::system("test");
    chamberlain_store::write_tx!(store, &audit, |tx| {
        chamberlain_store::repo::settings::put(
            tx,
            "tenant",
            "demo organization",
            &json!({"state": "seeding"}),
        )
        .await
    })
    .unwrap();
    store.close().await;
    let port = free_port();
    let out = Command::new(BIN)
        .arg("serve")
        .args(db.args())
        .args(["--listen", &format!("127.0.0.1:{port}"), "--demo"])
        .env("CHAMBERLAIN_ENCRYPTION_KEY", KEY)
        .output()
        .unwrap();
    assert!(!out.status.success());
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(err.contains("stopped before it was complete"), "{err}");
}
