//! `chamberlain-identity-bench`: identity resolution at scale (issue: directories and identity
//! resolution).
//!
//! Loads a directory app with `--directory-accounts` accounts (a CEL import condition that
//! skips contractors, default merge rules) and `--apps` other apps with `--accounts-per-app`
//! accounts each (most belong to directory people, some are service accounts or strangers)
//! straight into a fresh database, then times:
//!
//! 1. the full run (users created from the directory, every other app's accounts linked);
//! 2. a re-run after `--change-percent` of the directory accounts changed (department and
//!    title), as a sync would leave them;
//!
//! and reports the process's peak RSS.

use anyhow::Result;
use chamberlain_benchmarks::db::prepare_database;
use chamberlain_benchmarks::peak_rss_kib;
use chamberlain_model::app::{App, AppUser, AppUserStatus, AppUserStatusValue, AppUserType};
use chamberlain_model::directory::{CelFilter, Directory};
use chamberlain_model::{new_id, Timestamp};
use chamberlain_store::record::{self, Sql};
use chamberlain_store::repo::identity::{self, DIRECTORIES};
use chamberlain_store::{AuditCtx, Store};
use clap::Parser;
use serde_json::{json, Map, Value};
use std::time::Instant;

#[derive(Parser, Debug)]
#[command(
    name = "chamberlain-identity-bench",
    about = "Times directory resolution and account linking"
)]
struct Args {
    /// Accounts in the directory app.
    #[arg(long, default_value_t = 100_000)]
    directory_accounts: usize,
    /// Other (non-directory) apps.
    #[arg(long, default_value_t = 5)]
    apps: usize,
    /// Accounts in each other app.
    #[arg(long, default_value_t = 100_000)]
    accounts_per_app: usize,
    /// Share of directory accounts changed before the re-run.
    #[arg(long, default_value_t = 1.0)]
    change_percent: f64,
    /// Database (default: a temp SQLite file; a PostgreSQL server URL ending in `/` gets a
    /// fresh database that is dropped afterwards).
    #[arg(long)]
    database_url: Option<String>,
}

const DEPARTMENTS: &[&str] = &["Eng", "Sales", "Support", "Finance", "Contractors"];

fn profile(department: &str, title: &str, manager: Option<usize>) -> Map<String, Value> {
    let mut p = Map::new();
    p.insert("department".into(), json!(department));
    p.insert("title".into(), json!(title));
    if let Some(m) = manager {
        p.insert(
            "manager_email".into(),
            json!(format!("person{m}@acme.example")),
        );
    }
    p
}

fn account(app_id: &str, i: usize, email: String, kind: AppUserType) -> AppUser {
    let now = Timestamp::now();
    AppUser {
        id: new_id(),
        app_id: app_id.into(),
        display_name: format!("Person {i}"),
        email: email.clone(),
        emails: vec![email],
        username: format!("person{i}"),
        usernames: vec![format!("person{i}")],
        app_user_type: kind,
        status: Some(AppUserStatus {
            status: AppUserStatusValue::Enabled,
            details: String::new(),
        }),
        created_at: Some(now),
        updated_at: Some(now),
        ..Default::default()
    }
}

async fn insert_app(store: &Store, audit: &AuditCtx, name: &str) -> Result<String> {
    let now = Timestamp::now();
    let app = App {
        id: new_id(),
        display_name: name.into(),
        created_at: Some(now),
        updated_at: Some(now),
        ..Default::default()
    };
    let a = app.clone();
    chamberlain_store::write_tx!(store, audit, |tx| { tx.create(&a).await })?;
    Ok(app.id)
}

async fn insert_accounts(store: &Store, accounts: &[AppUser]) -> Result<()> {
    let mut tx = store.pool().begin().await?;
    record::bulk_insert(&mut tx, accounts).await?;
    tx.commit().await?;
    Ok(())
}

#[tokio::main]
async fn main() -> Result<()> {
    chamberlain_benchmarks::tune_allocator();
    let args = Args::parse();
    // RUST_LOG=chamberlain_identity=debug shows the phases of each run.
    tracing_subscriber::fmt()
        .with_env_filter(tracing_subscriber::EnvFilter::from_default_env())
        .with_writer(std::io::stderr)
        .init();
    let (url, cleanup) = prepare_database(args.database_url.as_deref()).await?;
    let result = run(&args, &url).await;
    cleanup.await?;
    result
}

async fn run(args: &Args, url: &str) -> Result<()> {
    let store = Store::connect(url).await?;
    store.migrate().await?;
    let audit = AuditCtx::system("identity-bench");
    let t = Instant::now();
    let dir_app = insert_app(&store, &audit, "HR directory").await?;
    let n = args.directory_accounts;
    let mut dir_accounts = Vec::with_capacity(n);
    for i in 0..n {
        let mut a = account(
            &dir_app,
            i,
            format!("person{i}@acme.example"),
            AppUserType::User,
        );
        a.employee_ids = vec![format!("E{i:07}")];
        a.profile = Some(profile(
            DEPARTMENTS[i % DEPARTMENTS.len()],
            "Engineer",
            (i > 0).then_some(i / 10),
        ));
        dir_accounts.push(a);
    }
    insert_accounts(&store, &dir_accounts).await?;
    let mut other_total = 0;
    for k in 0..args.apps {
        let app = insert_app(&store, &audit, &format!("App {k}")).await?;
        let mut accounts = Vec::with_capacity(args.accounts_per_app);
        for j in 0..args.accounts_per_app {
            // 90% people from the directory (their emails, in other case), 5% service
            // accounts, 5% strangers.
            let a = match j % 20 {
                0 => account(
                    &app,
                    j,
                    format!("svc{j}@acme.example"),
                    AppUserType::ServiceAccount,
                ),
                1 => account(
                    &app,
                    j,
                    format!("stranger{j}@else.example"),
                    AppUserType::User,
                ),
                _ => {
                    let p = (j * 7 + k) % n.max(1);
                    account(
                        &app,
                        p,
                        format!("Person{p}@ACME.example"),
                        AppUserType::User,
                    )
                }
            };
            accounts.push(a);
        }
        other_total += accounts.len();
        insert_accounts(&store, &accounts).await?;
    }
    let directory = Directory {
        app_id: dir_app.clone(),
        cel_expression: Some(CelFilter {
            expression: r#"subject.profile.department == "Contractors" ? "MATCH_ONLY" : "CREATE""#
                .into(),
        }),
        priority: 1,
        created_at: Some(Timestamp::now()),
        updated_at: Some(Timestamp::now()),
        ..Default::default()
    };
    chamberlain_store::write_tx!(store, &audit, |tx| {
        tx.create(&directory).await?;
        identity::mark_dirty(tx, DIRECTORIES).await
    })?;
    let load_secs = t.elapsed().as_secs_f64();
    eprintln!(
        "loaded {n} directory accounts and {other_total} accounts in {} apps in {load_secs:.1} s",
        args.apps
    );

    let t = Instant::now();
    let full = chamberlain_identity::run_scope(&store, DIRECTORIES, &audit).await?;
    let full_secs = t.elapsed().as_secs_f64();
    let full_rss = peak_rss_kib();
    let linked = count(
        &store,
        "SELECT COUNT(*) FROM app_users WHERE identity_user_id <> ''",
    )
    .await?;
    eprintln!(
        "full run: {full_secs:.2} s; users created {}, matched {}, ignored {}; {linked} accounts linked in all; peak RSS {:.0} MiB",
        full.counts.users_created,
        full.counts.accounts_matched,
        full.counts.accounts_ignored,
        full_rss as f64 / 1024.0
    );

    // Change a share of the directory accounts the way a sync would.
    let changes = ((n as f64) * args.change_percent / 100.0).round() as usize;
    let step = (n / changes.max(1)).max(1);
    let mut changed = Vec::with_capacity(changes);
    for a in dir_accounts.iter().step_by(step).take(changes) {
        let mut b: AppUser = record::get(store.pool(), &a.id, false)
            .await?
            .expect("account exists");
        b.profile = Some(profile("Platform", "Staff Engineer", None));
        b.updated_at = Some(Timestamp::now());
        changed.push(b);
    }
    chamberlain_store::write_tx!(store, &audit, |tx| {
        let refs: Vec<&AppUser> = changed.iter().collect();
        tx.upsert_rows(&refs).await?;
        identity::mark_dirty(tx, DIRECTORIES).await
    })?;
    let t = Instant::now();
    let again = chamberlain_identity::run_scope(&store, DIRECTORIES, &audit).await?;
    let again_secs = t.elapsed().as_secs_f64();
    eprintln!(
        "re-run after {changes} accounts changed: {again_secs:.2} s; users updated {}",
        again.counts.users_updated
    );
    let peak = peak_rss_kib().max(full_rss);
    println!(
        "{}",
        json!({
            "backend": format!("{:?}", store.backend()),
            "directoryAccounts": n,
            "otherApps": args.apps,
            "otherAccounts": other_total,
            "loadSecs": load_secs,
            "fullSecs": full_secs,
            "fullCounts": full.counts,
            "accountsLinked": linked,
            "changedAccounts": changes,
            "rerunSecs": again_secs,
            "rerunCounts": again.counts,
            "peakRssMib": peak / 1024,
        })
    );
    store.close().await;
    Ok(())
}

async fn count(store: &Store, sql: &str) -> Result<i64> {
    use sqlx::Row;
    Ok(Sql::new(sql)
        .query()
        .fetch_one(store.pool())
        .await?
        .try_get(0)?)
}
