//! `chamberlain-web-bench`: times the web app's pages against a database that already holds
//! the identity-graph benchmark's data set (load it with `chamberlain-bench --database-url …`
//! first). Signs in an employee and a super admin through the sign-in form, opens open
//! requests for the employee that the admin must approve, then requests every page
//! sequentially and prints p50 / p99 / max per page. Figures go in docs/BENCHMARKS.md.

use anyhow::{bail, Context, Result};
use chamberlain_model::user::User;
use chamberlain_store::repo::web_auth;
use chamberlain_store::{AuditCtx, Store};
use clap::Parser;
use serde_json::{json, Value};
use std::time::Instant;

#[derive(Parser, Debug)]
#[command(about = "Web page timings on the identity-graph benchmark data")]
struct Args {
    /// The database `chamberlain-bench` loaded (sqlite://PATH or postgres://…/DB).
    #[arg(long)]
    database_url: String,
    /// Timed requests per page (after 3 warm-up requests).
    #[arg(long, default_value_t = 50)]
    requests: usize,
    /// Open requests to create for the employee (approvals waiting for the admin).
    #[arg(long, default_value_t = 30)]
    open_requests: usize,
}

const PASSWORD: &str = "benchmark password 1";

#[tokio::main(flavor = "multi_thread")]
async fn main() -> Result<()> {
    let args = Args::parse();
    let store = Store::connect(&args.database_url).await?;
    store.migrate().await?;
    let employee = user(&store, "user0@example.com").await?;
    let admin = user(&store, "user1@example.com").await?;
    let phc = chamberlain_auth::password::hash(PASSWORD).map_err(anyhow::Error::msg)?;
    let audit = AuditCtx::system("web bench");
    let (e_id, a_id) = (employee.id.clone(), admin.id.clone());
    let mut promoted = admin.clone();
    promoted.role_ids = vec!["super-admin".into()];
    chamberlain_store::write_tx!(store, &audit, |tx| {
        web_auth::set_password(tx, &e_id, &phc).await?;
        web_auth::set_password(tx, &a_id, &phc).await?;
        tx.update(&promoted).await
    })?;
    let (base, token) = chamberlain_benchmarks::serve(&store).await?;
    let http = reqwest::Client::builder()
        .redirect(reqwest::redirect::Policy::none())
        .build()?;
    open_requests(&http, &base, &token, &employee, &admin, args.open_requests).await?;
    let employee_cookie = sign_in(&http, &base, &employee.email).await?;
    let admin_cookie = sign_in(&http, &base, &admin.email).await?;
    let first_request = first_task(&http, &base, &token, &employee.id).await?;
    let app0 = first_app(&http, &base, &token).await?;
    let pages: Vec<(&str, String, &str)> = vec![
        (
            "employee",
            "/requests".into(),
            "Requests (catalog, 20 items with policy previews)",
        ),
        (
            "employee",
            "/requests?q=Entitlement%2012".into(),
            "Requests, searched",
        ),
        ("employee", "/requests/mine".into(), "My requests"),
        (
            "employee",
            format!("/requests/{first_request}"),
            "One request with history",
        ),
        ("employee", "/access".into(), "My access"),
        ("employee", "/ai-api".into(), "AI & API"),
        ("employee", "/profile".into(), "Profile"),
        ("admin", "/tasks".into(), "Tasks (approvals waiting)"),
        (
            "admin",
            "/admin/apps".into(),
            "Admin: apps (page of a 1,000)",
        ),
        (
            "admin",
            "/admin/apps?q=App%2042".into(),
            "Admin: apps, searched",
        ),
        ("admin", format!("/admin/apps/{app0}"), "Admin: an app"),
        (
            "admin",
            format!("/admin/apps/{app0}/entitlements"),
            "Admin: an app's entitlements",
        ),
        (
            "admin",
            format!("/admin/apps/{app0}/accounts"),
            "Admin: an app's accounts",
        ),
        (
            "admin",
            format!("/admin/apps/{app0}/connectors"),
            "Admin: an app's connectors",
        ),
        ("admin", "/admin/users".into(), "Admin: users (of 50,000)"),
        (
            "admin",
            "/admin/users?q=user4242".into(),
            "Admin: users, searched",
        ),
        (
            "admin",
            format!("/admin/users/{}", employee.id),
            "Admin: a user",
        ),
        ("admin", "/admin/directory".into(), "Admin: directory"),
        ("admin", "/admin/profiles".into(), "Admin: access profiles"),
        ("admin", "/admin/policies".into(), "Admin: policies"),
        ("admin", "/admin/ai".into(), "Admin: AI"),
        ("admin", "/admin/system-log".into(), "Admin: system log"),
        ("admin", "/admin/settings".into(), "Admin: settings"),
    ];
    println!("\n| page | path | requests | p50 ms | p99 ms | max ms |\n|---|---|---|---|---|---|");
    for (who, path, label) in pages {
        let cookie = if who == "admin" {
            &admin_cookie
        } else {
            &employee_cookie
        };
        let mut times = Vec::with_capacity(args.requests);
        for i in 0..args.requests + 3 {
            let t = Instant::now();
            let resp = http
                .get(format!("{base}{path}"))
                .header("cookie", cookie)
                .send()
                .await?;
            let status = resp.status();
            let body = resp.text().await?;
            if status != 200 {
                bail!("{path}: {status} {}", &body[..body.len().min(300)]);
            }
            if i >= 3 {
                times.push(t.elapsed().as_secs_f64() * 1000.0);
            }
        }
        times.sort_by(f64::total_cmp);
        let pct = |p: f64| times[((times.len() as f64 * p) as usize).min(times.len() - 1)];
        println!(
            "| {label} | `{path}` | {} | {:.1} | {:.1} | {:.1} |",
            times.len(),
            pct(0.50),
            pct(0.99),
            times[times.len() - 1]
        );
    }
    store.close().await;
    Ok(())
}

async fn user(store: &Store, email: &str) -> Result<User> {
    web_auth::user_by_email(store, email)
        .await?
        .with_context(|| format!("no user {email}: load the data set with chamberlain-bench first"))
}

/// Requests for the employee whose approval waits for the admin: a policy naming the admin on
/// the first app the employee has an account in.
async fn open_requests(
    http: &reqwest::Client,
    base: &str,
    token: &str,
    employee: &User,
    admin: &User,
    n: usize,
) -> Result<()> {
    let call = |method: reqwest::Method, path: String, body: Value| {
        http.request(method, format!("{base}{path}"))
            .bearer_auth(token)
            .json(&body)
            .send()
    };
    let accounts: Value = call(
        reqwest::Method::POST,
        "/api/v1/search/app_users".into(),
        json!({"userIds": [employee.id], "pageSize": 1}),
    )
    .await?
    .json()
    .await?;
    let app = accounts["list"][0]["appUser"]["appId"]
        .as_str()
        .context("the employee has no account")?
        .to_string();
    // The data set gives a user several accounts in one app: name the account.
    let account = accounts["list"][0]["appUser"]["id"]
        .as_str()
        .unwrap_or_default()
        .to_string();
    let policy: Value = call(
        reqwest::Method::POST,
        "/api/v1/policies".into(),
        json!({"displayName": "Bench approval", "policyType": "POLICY_TYPE_GRANT",
               "policySteps": {"grant": {"steps": [{"approval": {"users": {"userIds": [admin.id]}}}]}}}),
    )
    .await?
    .json()
    .await?;
    call(
        reqwest::Method::POST,
        format!("/api/v1/apps/{app}"),
        json!({"app": {"grantPolicyId": policy["policy"]["id"]}, "updateMask": "grantPolicyId"}),
    )
    .await?
    .error_for_status()?;
    let ents: Value = call(
        reqwest::Method::GET,
        format!("/api/v1/apps/{app}/entitlements?page_size=100"),
        json!({}),
    )
    .await?
    .json()
    .await?;
    let mut made = 0;
    for e in ents["list"].as_array().into_iter().flatten() {
        if made == n {
            break;
        }
        let id = e["appEntitlement"]["id"].as_str().unwrap_or_default();
        let r = call(
            reqwest::Method::POST,
            "/api/v1/task/grant".into(),
            json!({"appId": app, "appEntitlementId": id, "appUserId": account,
                   "description": "web bench"}),
        )
        .await?;
        if r.status().is_success() {
            made += 1;
        } else if made == 0 {
            println!("request refused: {}", r.text().await?);
        }
    }
    println!("opened {made} requests waiting for the admin's approval");
    Ok(())
}

async fn first_app(http: &reqwest::Client, base: &str, token: &str) -> Result<String> {
    let v: Value = http
        .get(format!("{base}/api/v1/apps?page_size=1"))
        .bearer_auth(token)
        .send()
        .await?
        .json()
        .await?;
    Ok(v["list"][0]["app"]["id"]
        .as_str()
        .or_else(|| v["list"][0]["id"].as_str())
        .context("no app")?
        .to_string())
}

async fn first_task(http: &reqwest::Client, base: &str, token: &str, user: &str) -> Result<String> {
    let v: Value = http
        .post(format!("{base}/api/v1/search/tasks"))
        .bearer_auth(token)
        .json(&json!({"subjectIds": [user], "pageSize": 1}))
        .send()
        .await?
        .json()
        .await?;
    Ok(v["list"][0]["task"]["id"]
        .as_str()
        .context("no task")?
        .to_string())
}

/// Signs in through the form; returns the `Cookie` header value for later requests.
async fn sign_in(http: &reqwest::Client, base: &str, email: &str) -> Result<String> {
    let page = http.get(format!("{base}/auth/v1/signin")).send().await?;
    let csrf_cookie = cookie_of(&page, "chamberlain_csrf").context("no CSRF cookie")?;
    let resp = http
        .post(format!("{base}/auth/v1/signin"))
        .header("cookie", format!("chamberlain_csrf={csrf_cookie}"))
        .form(&[
            ("csrf", csrf_cookie.as_str()),
            ("email", email),
            ("password", PASSWORD),
            ("return_to", "/"),
        ])
        .send()
        .await?;
    let session = cookie_of(&resp, "chamberlain_session")
        .with_context(|| format!("sign-in of {email} failed: {}", resp.status()))?;
    Ok(format!(
        "chamberlain_session={session}; chamberlain_csrf={csrf_cookie}"
    ))
}

fn cookie_of(resp: &reqwest::Response, name: &str) -> Option<String> {
    resp.headers()
        .get_all("set-cookie")
        .iter()
        .filter_map(|v| v.to_str().ok())
        .find_map(|v| {
            v.split(';')
                .next()?
                .strip_prefix(&format!("{name}="))
                .map(str::to_string)
        })
        .filter(|v| !v.is_empty())
}
