//! `chamberlain-bench`: loads a large identity graph straight into a database (bulk paths),
//! serves it with the real HTTP application in-process, and drives it with concurrent clients,
//! printing p50/p99 latency and throughput per operation. Figures go in docs/BENCHMARKS.md.

use anyhow::Result;
use chamberlain_benchmarks::db::{prepare_database, settle_wal};
use chamberlain_model::app::{
    App, AppEntitlement, AppUser, AppUserStatus, AppUserStatusValue, AppUserType,
};
use chamberlain_model::user::{User, UserOrigin, UserStatus, UserType};
use chamberlain_model::{new_id, Timestamp};
use chamberlain_store::record::bulk_insert;
use chamberlain_store::repo::grants::{self, NewGrant};
use chamberlain_store::Store;
use clap::Parser;
use rand::Rng;
use serde_json::json;
use std::sync::Arc;
use std::time::{Duration, Instant};

#[derive(Parser, Debug)]
#[command(about = "Identity-graph API benchmark")]
struct Args {
    /// sqlite://PATH?mode=rwc, or a PostgreSQL server URL ending in `/` (a database is created
    /// and dropped) [default: a temp SQLite file]
    #[arg(long)]
    database_url: Option<String>,
    #[arg(long, default_value_t = 1_000)]
    apps: usize,
    #[arg(long, default_value_t = 100_000)]
    entitlements: usize,
    #[arg(long, default_value_t = 200_000)]
    app_users: usize,
    #[arg(long, default_value_t = 1_000_000)]
    grants: usize,
    #[arg(long, default_value_t = 50_000)]
    users: usize,
    /// Use the data already in `--database-url` (from an earlier run) instead of loading.
    #[arg(long)]
    reuse: bool,
    /// Seconds each operation is measured.
    #[arg(long, default_value_t = 15)]
    duration_secs: u64,
    #[arg(long, default_value_t = 16)]
    concurrency: usize,
    /// Measure only the operations whose name contains this (e.g. `list`, `search`, `add`).
    #[arg(long)]
    only: Option<String>,
}

/// What was loaded, for picking request targets.
struct Data {
    apps: Vec<String>,
    users: Vec<String>,
    /// Per app: its entitlement ids and account ids.
    ents_by_app: Vec<Vec<String>>,
    accounts_by_app: Vec<Vec<String>>,
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
    let data = if args.reuse {
        existing(&store).await?
    } else {
        load(&store, &args).await?
    };
    settle_wal(&store).await?;
    if std::env::var("MICRO").is_ok() {
        for conc in [1usize, 2, 4, 16] {
            let t = Instant::now();
            let mut hs = vec![];
            for w in 0..conc {
                let st = store.clone();
                let ids = data.apps.clone();
                hs.push(tokio::spawn(async move {
                    for i in 0..(20000 / conc) {
                        let _: Option<chamberlain_model::app::App> =
                            chamberlain_store::record::get(
                                st.pool(),
                                &ids[(i + w) % ids.len()],
                                false,
                            )
                            .await
                            .unwrap();
                    }
                }));
            }
            for h in hs {
                h.await?;
            }
            println!(
                "20000 point gets, {conc} tasks: {:.1} us each (wall/20000)",
                t.elapsed().as_secs_f64() * 1e6 / 20000.0
            );
        }
    }
    let result = drive(&store, &args, &data).await;
    store.close().await;
    cleanup.await?;
    result
}

/// Bulk-loads users, apps, entitlements, accounts and grants in large transactions.
async fn load(store: &Store, a: &Args) -> Result<Data> {
    println!(
        "loading {} apps, {} entitlements, {} accounts, {} grants, {} users",
        a.apps, a.entitlements, a.app_users, a.grants, a.users
    );
    let started = Instant::now();
    let now = Timestamp::now();
    let mut rng = rand::thread_rng();
    let users: Vec<User> = (0..a.users)
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
    let apps: Vec<App> = (0..a.apps)
        .map(|i| App {
            id: new_id(),
            display_name: format!("App {i}"),
            is_manually_managed: true,
            created_at: Some(now),
            updated_at: Some(now),
            ..Default::default()
        })
        .collect();
    // Objects are created app by app, as syncs and imports create them, so each app's rows
    // sit together in the table (round-robin creation spread a 25-row page over 25 pages).
    let app_of = |i: usize, n: usize| i * apps.len() / n.max(1);
    let ents: Vec<AppEntitlement> = (0..a.entitlements)
        .map(|i| AppEntitlement {
            id: new_id(),
            app_id: apps[app_of(i, a.entitlements)].id.clone(),
            display_name: format!("Entitlement {i}"),
            slug: format!("ent-{i}"),
            is_manually_managed: true,
            created_at: Some(now),
            updated_at: Some(now),
            ..Default::default()
        })
        .collect();
    let accounts: Vec<AppUser> = (0..a.app_users)
        .map(|i| {
            let u = &users[i % users.len()];
            AppUser {
                id: new_id(),
                app_id: apps[app_of(i, a.app_users)].id.clone(),
                identity_user_id: u.id.clone(),
                email: u.email.clone(),
                emails: u.emails.clone(),
                display_name: u.display_name.clone(),
                app_user_type: AppUserType::User,
                status: Some(AppUserStatus {
                    status: AppUserStatusValue::Enabled,
                    details: String::new(),
                }),
                created_at: Some(now),
                updated_at: Some(now),
                ..Default::default()
            }
        })
        .collect();
    let mut ents_by_app = vec![Vec::new(); apps.len()];
    for (i, e) in ents.iter().enumerate() {
        ents_by_app[app_of(i, a.entitlements)].push(e.id.clone());
    }
    let mut accounts_by_app = vec![Vec::new(); apps.len()];
    for (i, u) in accounts.iter().enumerate() {
        accounts_by_app[app_of(i, a.app_users)].push(u.id.clone());
    }
    // Distinct (entitlement, account) pairs within the same app.
    let mut pairs = std::collections::HashSet::with_capacity(a.grants);
    let mut new_grants = Vec::with_capacity(a.grants);
    while new_grants.len() < a.grants {
        let app = rng.gen_range(0..apps.len());
        let (e, u) = (
            rng.gen_range(0..ents_by_app[app].len()),
            rng.gen_range(0..accounts_by_app[app].len()),
        );
        if pairs.insert((app, e, u)) {
            new_grants.push(NewGrant {
                app_id: apps[app].id.clone(),
                entitlement_id: ents_by_app[app][e].clone(),
                principal_id: accounts_by_app[app][u].clone(),
                principal_kind: "app_user",
                sources: vec![],
                synced: false,
            });
        }
    }
    // One transaction per step (per 100,000 grants), multi-row INSERTs inside.
    macro_rules! step {
        ($label:literal, $n:expr, |$c:ident| $body:expr) => {{
            let t = Instant::now();
            let mut tx = store.begin_write().await?;
            {
                let $c: &mut sqlx::AnyConnection = tx.conn();
                $body.await?;
            }
            tx.commit().await?;
            println!(
                "  loaded {:>9} {:<14} in {:>6.2} s",
                $n,
                $label,
                t.elapsed().as_secs_f64()
            );
        }};
    }
    step!("users", users.len(), |c| bulk_insert(c, &users));
    step!("apps", apps.len(), |c| bulk_insert(c, &apps));
    step!("entitlements", ents.len(), |c| bulk_insert(c, &ents));
    step!("accounts", accounts.len(), |c| bulk_insert(c, &accounts));
    let ts = now.as_micros();
    let t = Instant::now();
    for part in new_grants.chunks(100_000) {
        let mut tx = store.begin_write().await?;
        grants::bulk_insert(tx.conn(), part, ts).await?;
        tx.commit().await?;
    }
    println!(
        "  loaded {:>9} {:<14} in {:>6.2} s",
        new_grants.len(),
        "grants",
        t.elapsed().as_secs_f64()
    );
    // Fresh planner statistics for PostgreSQL, as a long-running database would have. Not on
    // SQLite: with STAT4 statistics, SQLite re-prepares every statement whose bound values
    // might change the plan, which cost a quarter of the read throughput here.
    if store.backend() == chamberlain_store::Backend::Postgres {
        sqlx::query("ANALYZE").execute(store.pool()).await?;
    }
    println!("  total load time {:.1} s", started.elapsed().as_secs_f64());
    Ok(Data {
        apps: apps.into_iter().map(|a| a.id).collect(),
        users: users.into_iter().map(|u| u.id).collect(),
        ents_by_app,
        accounts_by_app,
    })
}

/// Reads the ids of data loaded by an earlier run.
async fn existing(store: &Store) -> Result<Data> {
    use sqlx::Row;
    let ids = |sql: &'static str| async move {
        let rows = sqlx::query(sql).fetch_all(store.pool()).await?;
        Ok::<Vec<(String, String)>, anyhow::Error>(
            rows.iter()
                .map(|r| (r.get::<String, _>(0), r.get::<String, _>(1)))
                .collect(),
        )
    };
    let apps: Vec<String> = ids("SELECT id, id FROM apps ORDER BY id")
        .await?
        .into_iter()
        .map(|(a, _)| a)
        .collect();
    let index: std::collections::HashMap<String, usize> = apps
        .iter()
        .enumerate()
        .map(|(i, a)| (a.clone(), i))
        .collect();
    let mut ents_by_app = vec![Vec::new(); apps.len()];
    for (id, app) in ids("SELECT id, app_id FROM app_entitlements").await? {
        ents_by_app[index[&app]].push(id);
    }
    let mut accounts_by_app = vec![Vec::new(); apps.len()];
    for (id, app) in ids("SELECT id, app_id FROM app_users").await? {
        accounts_by_app[index[&app]].push(id);
    }
    let users = ids("SELECT id, id FROM users WHERE user_type = 'USER_TYPE_HUMAN'")
        .await?
        .into_iter()
        .map(|(u, _)| u)
        .collect();
    Ok(Data {
        apps,
        users,
        ents_by_app,
        accounts_by_app,
    })
}

/// Serves the app in-process and measures each operation.
async fn drive(store: &Store, a: &Args, data: &Data) -> Result<()> {
    let (base, token) = chamberlain_benchmarks::serve(store).await?;
    let http = reqwest::Client::builder()
        .pool_max_idle_per_host(a.concurrency)
        .build()?;
    let data = Arc::new((
        data.apps.clone(),
        data.users.clone(),
        data.ents_by_app.clone(),
        data.accounts_by_app.clone(),
    ));
    let mut rows = Vec::new();
    for op in [
        "list entitlements (page of 25)",
        "search grants by user",
        "add a grant",
    ] {
        if a.only.as_deref().is_some_and(|o| !op.contains(o)) {
            continue;
        }
        let stats = run_op(
            op,
            &http,
            &base,
            &token,
            data.clone(),
            a.concurrency,
            Duration::from_secs(a.duration_secs),
        )
        .await?;
        rows.push((op, stats));
    }
    println!(
        "\n| operation | requests | req/s | p50 ms | p99 ms | errors |\n|---|---|---|---|---|---|"
    );
    for (op, s) in rows {
        println!(
            "| {op} | {} | {:.0} | {:.2} | {:.2} | {} |",
            s.n, s.rps, s.p50, s.p99, s.errors
        );
    }
    Ok(())
}

struct Stats {
    n: usize,
    rps: f64,
    p50: f64,
    p99: f64,
    errors: usize,
}

type Shared = Arc<(Vec<String>, Vec<String>, Vec<Vec<String>>, Vec<Vec<String>>)>;

async fn run_op(
    op: &'static str,
    http: &reqwest::Client,
    base: &str,
    token: &str,
    data: Shared,
    concurrency: usize,
    dur: Duration,
) -> Result<Stats> {
    let deadline = Instant::now() + dur;
    let started = Instant::now();
    let mut tasks = Vec::new();
    for worker in 0..concurrency {
        let (http, base, token, data) = (
            http.clone(),
            base.to_string(),
            token.to_string(),
            data.clone(),
        );
        tasks.push(tokio::spawn(async move {
            let mut lat = Vec::new();
            let mut errors = 0usize;
            let mut first_error: Option<String> = None;
            let mut i = worker;
            while Instant::now() < deadline {
                i += concurrency;
                let (apps, users, ents, accounts) = &*data;
                let req = match op {
                    "list entitlements (page of 25)" => {
                        let app = &apps[rand::thread_rng().gen_range(0..apps.len())];
                        http.get(format!(
                            "{base}/api/v1/apps/{app}/entitlements?page_size=25"
                        ))
                    }
                    "search grants by user" => {
                        let user = &users[rand::thread_rng().gen_range(0..users.len())];
                        http.post(format!("{base}/api/v1/search/grants"))
                            .json(&json!({"userId": user}))
                    }
                    _ => {
                        // Each request grants a fresh pair: app picked by the request counter,
                        // entitlement and account at random (repeats are idempotent adds).
                        let app = i % apps.len();
                        let mut rng = rand::thread_rng();
                        let e = &ents[app][rng.gen_range(0..ents[app].len())];
                        let u = &accounts[app][rng.gen_range(0..accounts[app].len())];
                        http.post(format!(
                            "{base}/api/v1/apps/{}/entitlements/{e}/add-manual-user",
                            apps[app]
                        ))
                        .json(&json!({"userIds": [u]}))
                    }
                };
                let t = Instant::now();
                match req.bearer_auth(&token).send().await {
                    Ok(r) if r.status().is_success() => {
                        let _ = r.bytes().await;
                        lat.push(t.elapsed().as_secs_f64() * 1000.0);
                    }
                    Ok(r) => {
                        errors += 1;
                        if first_error.is_none() {
                            first_error = Some(format!(
                                "{} {}",
                                r.status(),
                                r.text().await.unwrap_or_default()
                            ));
                        }
                    }
                    Err(e) => {
                        errors += 1;
                        first_error.get_or_insert(e.to_string());
                    }
                }
            }
            (lat, errors, first_error)
        }));
    }
    let mut all = Vec::new();
    let mut errors = 0;
    for t in tasks {
        let (lat, e, first) = t.await?;
        all.extend(lat);
        errors += e;
        if let Some(f) = first {
            eprintln!("{op}: first error: {f}");
        }
    }
    let secs = started.elapsed().as_secs_f64();
    all.sort_by(|a, b| a.total_cmp(b));
    let pct = |p: f64| {
        if all.is_empty() {
            0.0
        } else {
            all[((all.len() as f64 - 1.0) * p) as usize]
        }
    };
    let s = Stats {
        n: all.len(),
        rps: all.len() as f64 / secs,
        p50: pct(0.50),
        p99: pct(0.99),
        errors,
    };
    println!(
        "{op}: {} requests, {:.0} req/s, p50 {:.2} ms, p99 {:.2} ms, {} errors",
        s.n, s.rps, s.p50, s.p99, s.errors
    );
    Ok(s)
}
