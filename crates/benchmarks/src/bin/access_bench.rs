//! `chamberlain-access-bench`: the access-request figures of docs/BENCHMARKS.md.
//!
//! 1. request → auto-approve → grant visible, over HTTP (p50/p99, one and four clients);
//! 2. task search with `--tasks` tasks stored (p50/p99 of three common searches);
//! 3. membership automation of a `--members`-member profile: the first run, then a run after
//!    1% of the rule's holders changed;
//! 4. expiry of `--expiring` grants that end in the same minute: time from their end until
//!    every one is revoked, with the worker's expiry loop.

use anyhow::{ensure, Result};
use chamberlain_benchmarks::db::prepare_database;
use chamberlain_model::app::{App, AppEntitlement, AppUser, AppUserType};
use chamberlain_model::policy::{Accept, Policy, PolicyStep, PolicySteps, PolicyType};
use chamberlain_model::task::Task;
use chamberlain_model::user::{User, UserOrigin, UserStatus, UserType};
use chamberlain_model::{new_id, Timestamp};
use chamberlain_store::record::{bulk_insert, Sql};
use chamberlain_store::repo::grants::{self, NewGrant};
use chamberlain_store::{AuditCtx, Store};
use clap::Parser;
use serde_json::{json, Value};
use std::time::{Duration, Instant};

#[derive(Parser, Debug)]
#[command(about = "Access requests, task search, membership automation and expiry benchmark")]
struct Args {
    /// sqlite://PATH?mode=rwc, or a PostgreSQL server URL ending in `/` [default: temp SQLite]
    #[arg(long)]
    database_url: Option<String>,
    /// Requests measured per client count.
    #[arg(long, default_value_t = 1_000)]
    requests: usize,
    #[arg(long, default_value_t = 100_000)]
    tasks: usize,
    #[arg(long, default_value_t = 10_000)]
    members: usize,
    #[arg(long, default_value_t = 10_000)]
    expiring: usize,
}

#[tokio::main(flavor = "multi_thread")]
async fn main() -> Result<()> {
    let args = Args::parse();
    let (url, cleanup) = prepare_database(args.database_url.as_deref()).await?;
    let store = Store::connect(&url).await?;
    store.migrate().await?;
    println!(
        "backend: {:?}; cores: {}",
        store.backend(),
        std::thread::available_parallelism()
            .map(|n| n.get())
            .unwrap_or(0)
    );
    let result = run(&store, &args).await;
    store.close().await;
    cleanup.await?;
    result
}

struct Seed {
    app: String,
    auto_ent: String,
    schedule: String,
    temp: String,
    users: Vec<String>,
    accounts: Vec<String>,
}

async fn seed(store: &Store, n: usize) -> Result<Seed> {
    let now = Timestamp::now();
    let app = App {
        id: new_id(),
        display_name: "Bench app".into(),
        created_at: Some(now),
        updated_at: Some(now),
        ..Default::default()
    };
    let mut policy = Policy {
        id: new_id(),
        display_name: "Auto".into(),
        policy_type: PolicyType::Grant,
        created_at: Some(now),
        updated_at: Some(now),
        ..Default::default()
    };
    policy.policy_steps.insert(
        "grant".into(),
        PolicySteps {
            steps: vec![PolicyStep {
                accept: Some(Accept::default()),
                ..Default::default()
            }],
        },
    );
    let ent = |name: &str, policy: &str| AppEntitlement {
        id: new_id(),
        app_id: app.id.clone(),
        display_name: name.into(),
        grant_policy_id: policy.into(),
        created_at: Some(now),
        updated_at: Some(now),
        ..Default::default()
    };
    let auto_ent = ent("auto", &policy.id);
    let schedule = ent("schedule", "");
    let temp = ent("temp", "");
    let users: Vec<User> = (0..n)
        .map(|i| User {
            id: new_id(),
            email: format!("user{i}@example.com"),
            emails: vec![format!("user{i}@example.com")],
            display_name: format!("User {i}"),
            status: UserStatus::Enabled,
            origin: UserOrigin::Local,
            user_type: UserType::Human,
            created_at: Some(now),
            updated_at: Some(now),
            ..Default::default()
        })
        .collect();
    let accounts: Vec<AppUser> = users
        .iter()
        .map(|u| AppUser {
            id: new_id(),
            app_id: app.id.clone(),
            identity_user_id: u.id.clone(),
            display_name: u.display_name.clone(),
            email: u.email.clone(),
            app_user_type: AppUserType::User,
            created_at: Some(now),
            updated_at: Some(now),
            ..Default::default()
        })
        .collect();
    let audit = AuditCtx::system("bench seed");
    chamberlain_store::write_tx!(store, &audit, |tx| {
        tx.create(&app).await?;
        tx.create(&policy).await?;
        for e in [&auto_ent, &schedule, &temp] {
            tx.create(e).await?;
        }
        Ok(())
    })?;
    let mut tx = store.begin_write().await?;
    bulk_insert(tx.conn(), &users).await?;
    bulk_insert(tx.conn(), &accounts).await?;
    tx.commit().await?;
    Ok(Seed {
        app: app.id,
        auto_ent: auto_ent.id,
        schedule: schedule.id,
        temp: temp.id,
        users: users.into_iter().map(|u| u.id).collect(),
        accounts: accounts.into_iter().map(|a| a.id).collect(),
    })
}

fn pct(mut v: Vec<f64>, p: f64) -> f64 {
    v.sort_by(|a, b| a.partial_cmp(b).unwrap());
    if v.is_empty() {
        return 0.0;
    }
    v[((v.len() as f64 - 1.0) * p).round() as usize]
}

async fn post(
    http: &reqwest::Client,
    base: &str,
    token: &str,
    path: &str,
    body: Value,
) -> Result<Value> {
    let r = http
        .post(format!("{base}{path}"))
        .bearer_auth(token)
        .json(&body)
        .send()
        .await?;
    let status = r.status();
    let v: Value = r.json().await?;
    ensure!(status.is_success(), "{path}: {status} {v}");
    Ok(v)
}

async fn run(store: &Store, a: &Args) -> Result<()> {
    let users_needed = (a.requests * 5)
        .max(a.members + a.members / 50)
        .max(a.expiring);
    let t = Instant::now();
    let s = seed(store, users_needed).await?;
    println!(
        "seeded {} users with accounts in {:.1}s",
        users_needed,
        t.elapsed().as_secs_f64()
    );
    let (base, token) = chamberlain_benchmarks::serve(store).await?;
    let http = reqwest::Client::builder()
        .pool_max_idle_per_host(8)
        .build()?;

    // 1. Request → auto-approve → grant visible.
    let mut next_user = 0usize;
    for clients in [1usize, 4] {
        let per = a.requests / clients;
        let start = Instant::now();
        let mut handles = Vec::new();
        for c in 0..clients {
            let (http, base, token) = (http.clone(), base.clone(), token.clone());
            let users: Vec<String> =
                s.users[next_user + c * per..next_user + (c + 1) * per].to_vec();
            let (app, ent) = (s.app.clone(), s.auto_ent.clone());
            handles.push(tokio::spawn(async move {
                let mut lat = Vec::with_capacity(users.len());
                for u in users {
                    let t = Instant::now();
                    let v = post(
                        &http,
                        &base,
                        &token,
                        "/api/v1/task/grant",
                        json!({"appId": app, "appEntitlementId": ent, "identityUserId": u}),
                    )
                    .await?;
                    lat.push(t.elapsed().as_secs_f64() * 1000.0);
                    ensure!(
                        v["taskView"]["task"]["type"]["grant"]["outcome"]
                            == "GRANT_OUTCOME_GRANTED",
                        "not granted: {v}"
                    );
                }
                Ok::<_, anyhow::Error>(lat)
            }));
        }
        let mut lat = Vec::new();
        for h in handles {
            lat.extend(h.await??);
        }
        next_user += clients * per;
        let wall = start.elapsed().as_secs_f64();
        println!(
            "request→auto-approve→granted, {clients} client(s): n={} p50={:.1}ms p99={:.1}ms ({:.0} req/s)",
            lat.len(), pct(lat.clone(), 0.5), pct(lat, 0.99), a.requests as f64 / wall
        );
    }

    // 2. Task search with many tasks: copies of a real task, varied.
    let template: Task = {
        let v = post(
            &http,
            &base,
            &token,
            "/api/v1/search/tasks",
            json!({"pageSize": 10}),
        )
        .await?;
        serde_json::from_value(v["list"][0]["task"].clone())?
    };
    let existing = a.requests as i64;
    let to_add = a.tasks.saturating_sub(existing as usize);
    let t = Instant::now();
    let audit = AuditCtx::system("bench tasks");
    let mut made = 0usize;
    while made < to_add {
        let batch = (to_add - made).min(5_000);
        let base_n = existing + made as i64 + 1_000_000;
        let tpl = template.clone();
        let users = s.users.clone();
        chamberlain_store::write_tx!(store, &audit, |tx| {
            for i in 0..batch {
                let mut task = tpl.clone();
                let k = made + i;
                task.id = new_id();
                task.numeric_id = base_n + i as i64;
                task.user_id = users[k % users.len()].clone();
                task.created_by_user_id = task.user_id.clone();
                // A fifth open, assigned to one of 100 approvers.
                if k.is_multiple_of(5) {
                    task.state = chamberlain_model::task::TaskState::Open;
                    task.step_approver_ids = vec![users[k % 100].clone()];
                    if let Some(g) = task.task_type.grant.as_mut() {
                        g.app_user_id = format!("open-{k}");
                    }
                }
                chamberlain_store::repo::tasks::insert(tx, &task).await?;
            }
            Ok(())
        })?;
        made += batch;
    }
    println!(
        "stored {} more tasks in {:.1}s ({} in all)",
        to_add,
        t.elapsed().as_secs_f64(),
        a.tasks
    );
    if store.backend() == chamberlain_store::Backend::Postgres {
        // A server that has been running has statistics (autovacuum); a bulk load does not.
        sqlx::query("ANALYZE tasks").execute(store.pool()).await?;
    }
    let searches: Vec<(&str, SearchBody)> = vec![
        (
            "my open approvals",
            Box::new({
                let users = s.users.clone();
                move |i| json!({"myWorkUserIds": [users[i % 100]], "taskStates": ["TASK_STATE_OPEN"], "pageSize": 25})
            }),
        ),
        (
            "a subject's tasks",
            Box::new({
                let users = s.users.clone();
                move |i| json!({"subjectIds": [users[(i * 7919) % users.len()]], "pageSize": 25})
            }),
        ),
        (
            "open tasks of an entitlement",
            Box::new({
                let ent = s.auto_ent.clone();
                move |_| json!({"appEntitlementIds": [ent], "taskStates": ["TASK_STATE_OPEN"], "pageSize": 25})
            }),
        ),
    ];
    for (name, body) in searches {
        let mut lat = Vec::new();
        for i in 0..300 {
            let t = Instant::now();
            let v = post(&http, &base, &token, "/api/v1/search/tasks", body(i)).await?;
            lat.push(t.elapsed().as_secs_f64() * 1000.0);
            ensure!(v["list"].is_array());
        }
        println!(
            "task search \"{name}\" over {} tasks: p50={:.1}ms p99={:.1}ms",
            a.tasks,
            pct(lat.clone(), 0.5),
            pct(lat, 0.99)
        );
    }

    // 3. Membership automation over a large profile.
    let members = &s.accounts[..a.members];
    let mut tx = store.begin_write().await?;
    let grants_rows: Vec<NewGrant> = members
        .iter()
        .map(|au| NewGrant {
            app_id: s.app.clone(),
            entitlement_id: s.schedule.clone(),
            principal_id: au.clone(),
            principal_kind: "app_user",
            sources: vec![],
            synced: false,
        })
        .collect();
    grants::bulk_insert(tx.conn(), &grants_rows, Timestamp::now().as_micros()).await?;
    tx.commit().await?;
    let c = post(
        &http,
        &base,
        &token,
        "/api/v1/catalogs",
        json!({"displayName": "On-call", "published": true}),
    )
    .await?;
    let cid = c["requestCatalogView"]["requestCatalog"]["id"]
        .as_str()
        .unwrap_or_default()
        .to_string();
    post(&http, &base, &token, &format!("/api/v1/catalogs/{cid}/bundle_automation"),
        json!({"entitlements": {"entitlementRefs": [{"appId": s.app, "id": s.schedule}]}, "enabled": true})).await?;
    let t = Instant::now();
    let v = post(
        &http,
        &base,
        &token,
        &format!("/api/v1/catalogs/{cid}/bundle_automation/run"),
        json!({}),
    )
    .await?;
    println!(
        "membership automation, first run: {} enrolled in {:.1}s",
        v["applied"]["enrollmentTasks"]
            .as_array()
            .map(|l| l.len())
            .unwrap_or(0),
        t.elapsed().as_secs_f64()
    );
    // 1% of the holders change: 1% leave the schedule, as many join.
    let change = (a.members / 100).max(1);
    let leaving = &s.accounts[..change];
    let joining = &s.accounts[a.members..a.members + change];
    let mut del = Sql::new("UPDATE grants SET deleted_at = ");
    del.arg(Timestamp::now().as_micros())
        .push(" WHERE deleted_at IS NULL AND entitlement_id = ")
        .arg(s.schedule.as_str())
        .push(" AND app_user_id IN (")
        .list(leaving)
        .push(")");
    del.query().execute(store.pool()).await?;
    let mut tx = store.begin_write().await?;
    let rows: Vec<NewGrant> = joining
        .iter()
        .map(|au| NewGrant {
            app_id: s.app.clone(),
            entitlement_id: s.schedule.clone(),
            principal_id: au.clone(),
            principal_kind: "app_user",
            sources: vec![],
            synced: false,
        })
        .collect();
    grants::bulk_insert(tx.conn(), &rows, Timestamp::now().as_micros()).await?;
    tx.commit().await?;
    let t = Instant::now();
    let v = post(
        &http,
        &base,
        &token,
        &format!("/api/v1/catalogs/{cid}/bundle_automation/run"),
        json!({}),
    )
    .await?;
    let took = t.elapsed().as_secs_f64();
    println!(
        "membership automation after 1% changed ({} members): {} enrolled, {} unenrolled in {:.2}s",
        a.members,
        v["applied"]["enrollmentTasks"]
            .as_array()
            .map(|l| l.len())
            .unwrap_or(0),
        v["applied"]["unenrollmentTasks"]
            .as_array()
            .map(|l| l.len())
            .unwrap_or(0),
        took
    );

    // 4. Expiry of many grants ending in the same minute.
    let ends = Timestamp::now().plus_seconds(5);
    let mut tx = store.begin_write().await?;
    let rows: Vec<NewGrant> = s.accounts[..a.expiring]
        .iter()
        .map(|au| NewGrant {
            app_id: s.app.clone(),
            entitlement_id: s.temp.clone(),
            principal_id: au.clone(),
            principal_kind: "app_user",
            sources: vec![],
            synced: false,
        })
        .collect();
    grants::bulk_insert(tx.conn(), &rows, Timestamp::now().as_micros()).await?;
    tx.commit().await?;
    let mut set = Sql::new("UPDATE grants SET deprovision_at = ");
    set.arg(ends.as_micros())
        .push(" WHERE entitlement_id = ")
        .arg(s.temp.as_str());
    set.query().execute(store.pool()).await?;
    let engine =
        chamberlain_access::engine::Engine::new(store.clone(), std::sync::Arc::new(NoConnectors));
    tokio::time::sleep(Duration::from_secs(5)).await;
    let t = Instant::now();
    loop {
        let n = engine.expire_due(500).await?;
        if n == 0 {
            break;
        }
    }
    let mut left =
        Sql::new("SELECT COUNT(*) FROM grants WHERE deleted_at IS NULL AND entitlement_id = ");
    left.arg(s.temp.as_str());
    let row = left.query().fetch_one(store.pool()).await?;
    let remaining: i64 = sqlx::Row::try_get(&row, 0)?;
    println!(
        "expiry: {} grants ending at the same time revoked in {:.1}s (one worker; {} left)",
        a.expiring,
        t.elapsed().as_secs_f64(),
        remaining
    );
    Ok(())
}

/// Builds the n-th request body of a search.
type SearchBody = Box<dyn Fn(usize) -> Value>;

/// Apps here have no connectors: grants are recorded in Chamberlain.
struct NoConnectors;

impl chamberlain_access::engine::Provisioner for NoConnectors {
    fn automatic<'a>(
        &'a self,
        _app_id: &'a str,
    ) -> futures::future::BoxFuture<'a, Result<bool, String>> {
        Box::pin(async { Ok(false) })
    }
    fn apply<'a>(
        &'a self,
        _c: &'a chamberlain_access::engine::Change,
    ) -> futures::future::BoxFuture<'a, Result<(), String>> {
        Box::pin(async { Err("no connectors in this benchmark".into()) })
    }
}
