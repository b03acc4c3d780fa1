//! `chamberlain-sync-bench`: generates realistic Baton c1z files and measures importing them.
//!
//! ```text
//! chamberlain-sync-bench gen --users 100000 --groups 20000 --grants 1000000 --seed 1 --out base.c1z
//! chamberlain-sync-bench gen --users 100000 --groups 20000 --grants 1000000 --seed 1 \
//!     --change-pct 1 --out resync.c1z
//! chamberlain-sync-bench import --file base.c1z --then resync.c1z [--database-url URL] [--output json]
//! ```
//!
//! `import` reads the c1z (`chamberlain_sync::c1z::read`) and applies it to a new app with the
//! sync engine (`chamberlain_sync::apply::apply`), timing each step and reporting the counts
//! and the process's peak RSS (VmHWM). `--then` times a re-sync of a second file into the same
//! app.

use anyhow::{Context, Result};
use chamberlain_benchmarks::c1zgen::{self, Spec};
use chamberlain_benchmarks::db::{prepare_database, settle_wal};
use chamberlain_benchmarks::peak_rss_kib;
use chamberlain_model::app::{App, Connector};
use chamberlain_model::{new_id, Timestamp};
use chamberlain_store::record::Sql;
use chamberlain_store::{AuditCtx, Store};
use chamberlain_sync::apply::{self, SyncCounts};
use chamberlain_sync::c1z;
use clap::{Parser, Subcommand, ValueEnum};
use serde_json::{json, Value};
use std::path::{Path, PathBuf};
use std::time::Instant;

#[derive(Parser, Debug)]
#[command(
    name = "chamberlain-sync-bench",
    about = "Generate Baton c1z files and benchmark importing them"
)]
struct Args {
    #[command(subcommand)]
    command: Command,
}

#[derive(Subcommand, Debug)]
enum Command {
    /// Writes a generated data set as a c1z (format v1).
    Gen {
        #[arg(long, default_value_t = 100_000)]
        users: usize,
        #[arg(long, default_value_t = 20_000)]
        groups: usize,
        /// Grants, exactly.
        #[arg(long, default_value_t = 1_000_000)]
        grants: usize,
        #[arg(long, default_value_t = 1)]
        seed: u64,
        /// Percent of grants and users changed from the seed's data (for a re-sync file).
        #[arg(long, default_value_t = 0.0)]
        change_pct: f64,
        #[arg(long)]
        out: PathBuf,
        #[arg(long, value_enum, default_value_t = Output::Table)]
        output: Output,
    },
    /// Imports a c1z into a new app and reports timings, counts and peak memory.
    Import {
        #[arg(long)]
        file: PathBuf,
        /// A second c1z applied to the same app afterwards (a re-sync).
        #[arg(long)]
        then: Option<PathBuf>,
        /// sqlite://PATH?mode=rwc, or a PostgreSQL server URL ending in `/` (a database is
        /// created and dropped) [default: a temp SQLite file]
        #[arg(long)]
        database_url: Option<String>,
        /// Apply to this existing app (and its first connector) instead of a new one: with a
        /// copy of an imported database, times a re-sync alone. The database is kept.
        #[arg(long, requires = "database_url")]
        into_app: Option<String>,
        #[arg(long, value_enum, default_value_t = Output::Table)]
        output: Output,
    },
}

#[derive(Clone, Copy, Debug, PartialEq, Eq, ValueEnum)]
enum Output {
    Table,
    Json,
}

#[tokio::main(flavor = "multi_thread")]
async fn main() -> Result<()> {
    // RUST_LOG=chamberlain_sync=debug prints the sync engine's phase timings.
    tracing_subscriber::fmt()
        .with_env_filter(tracing_subscriber::EnvFilter::from_default_env())
        .with_writer(std::io::stderr)
        .init();
    match Args::parse().command {
        Command::Gen {
            users,
            groups,
            grants,
            seed,
            change_pct,
            out,
            output,
        } => {
            let spec = Spec {
                users,
                groups,
                grants,
                seed,
                change_pct,
            };
            let t = Instant::now();
            let g = c1zgen::generate(&spec, &out).await?;
            let secs = t.elapsed().as_secs_f64();
            let rss = peak_rss_kib();
            match output {
                Output::Json => println!(
                    "{}",
                    json!({
                        "file": out.display().to_string(),
                        "syncId": g.sync_id,
                        "users": g.users,
                        "groups": g.groups,
                        "entitlements": g.entitlements,
                        "grants": g.grants,
                        "memberGrants": g.member_grants,
                        "adminGrants": g.admin_grants,
                        "groupGrants": g.group_grants,
                        "derivedGrants": g.derived_grants,
                        "changedUsers": g.changed_users,
                        "removedGrants": g.removed_grants,
                        "replacedGrants": g.replaced_grants,
                        "addedGrants": g.added_grants,
                        "fileBytes": g.file_bytes,
                        "secs": secs,
                        "peakRssKib": rss,
                    })
                ),
                Output::Table => {
                    println!(
                        "wrote {} ({:.1} MiB) in {secs:.1} s, peak RSS {:.0} MiB",
                        out.display(),
                        g.file_bytes as f64 / 1048576.0,
                        rss as f64 / 1024.0
                    );
                    println!(
                        "  {} users, {} groups, {} entitlements, {} grants ({} member, {} admin, \
                         {} to groups, {} expanded)",
                        g.users,
                        g.groups,
                        g.entitlements,
                        g.grants,
                        g.member_grants,
                        g.admin_grants,
                        g.group_grants,
                        g.derived_grants
                    );
                    if change_pct > 0.0 {
                        println!(
                            "  changes: {} users, {} grants removed, {} moved, {} added",
                            g.changed_users, g.removed_grants, g.replaced_grants, g.added_grants
                        );
                    }
                }
            }
            Ok(())
        }
        Command::Import {
            file,
            then,
            database_url,
            into_app,
            output,
        } => {
            import(
                &file,
                then.as_deref(),
                database_url.as_deref(),
                into_app.as_deref(),
                output,
            )
            .await
        }
    }
}

/// One timed import of one file.
struct Run {
    file: PathBuf,
    sync_id: String,
    read_secs: f64,
    apply_secs: f64,
    source: [usize; 4],
    counts: SyncCounts,
    peak_rss_kib: u64,
}

async fn import(
    file: &Path,
    then: Option<&Path>,
    database_url: Option<&str>,
    into_app: Option<&str>,
    output: Output,
) -> Result<()> {
    let setup = Instant::now();
    let (url, cleanup) = prepare_database(database_url).await?;
    let result = async {
        let store = Store::connect(&url).await?;
        store.migrate().await?;
        let audit = AuditCtx::system("sync-bench");
        let (app_id, connector_id) = match into_app {
            Some(app_id) => (app_id.to_string(), first_connector(&store, app_id).await?),
            None => create_app(&store, &audit).await?,
        };
        eprintln!("app {app_id}, connector {connector_id}");
        let setup_secs = setup.elapsed().as_secs_f64();
        let mut runs = vec![import_one(&store, &audit, &app_id, &connector_id, file).await?];
        if let Some(next) = then {
            settle_wal(&store).await?;
            runs.push(import_one(&store, &audit, &app_id, &connector_id, next).await?);
        }
        let backend = format!("{:?}", store.backend());
        store.close().await;
        Ok::<_, anyhow::Error>((backend, setup_secs, runs))
    }
    .await;
    cleanup.await?;
    let (backend, setup_secs, runs) = result?;
    report(&backend, setup_secs, &runs, output)
}

async fn first_connector(store: &Store, app_id: &str) -> Result<String> {
    let mut sql = Sql::new("SELECT id FROM connectors WHERE app_id = ");
    sql.arg(app_id).push(" ORDER BY id LIMIT 1");
    let row = sql.query().fetch_optional(store.pool()).await?;
    let row = row.with_context(|| format!("app `{app_id}` has no connector"))?;
    Ok(sqlx::Row::try_get(&row, 0)?)
}

async fn create_app(store: &Store, audit: &AuditCtx) -> Result<(String, String)> {
    let now = Timestamp::now();
    let app = App {
        id: new_id(),
        display_name: "Sync benchmark".into(),
        description: "Fed from a generated c1z".into(),
        created_at: Some(now),
        updated_at: Some(now),
        ..Default::default()
    };
    let connector = Connector {
        id: new_id(),
        app_id: app.id.clone(),
        display_name: "Baton (generated c1z)".into(),
        created_at: Some(now),
        updated_at: Some(now),
        ..Default::default()
    };
    let (a, c) = (app.clone(), connector.clone());
    chamberlain_store::write_tx!(store, audit, |tx| {
        tx.create(&a).await?;
        tx.create(&c).await
    })?;
    Ok((app.id, connector.id))
}

async fn import_one(
    store: &Store,
    audit: &AuditCtx,
    app_id: &str,
    connector_id: &str,
    file: &Path,
) -> Result<Run> {
    eprintln!("reading {}", file.display());
    let t = Instant::now();
    let snap = c1z::read(file, c1z::DEFAULT_MAX_DECOMPRESSED)
        .await
        .with_context(|| format!("reading {}", file.display()))?;
    let read_secs = t.elapsed().as_secs_f64();
    let source = [
        snap.resource_types.len(),
        snap.resources.len(),
        snap.entitlements.len(),
        snap.grants.len(),
    ];
    eprintln!(
        "read in {read_secs:.2} s; applying {} resources, {} entitlements, {} grants",
        source[1], source[2], source[3]
    );
    let t = Instant::now();
    let run = apply::apply(store, audit, app_id, connector_id, snap)
        .await
        .with_context(|| format!("applying {}", file.display()))?;
    let apply_secs = t.elapsed().as_secs_f64();
    Ok(Run {
        file: file.to_path_buf(),
        sync_id: run.source_sync_id,
        read_secs,
        apply_secs,
        source,
        counts: run.counts,
        peak_rss_kib: peak_rss_kib(),
    })
}

fn report(backend: &str, setup_secs: f64, runs: &[Run], output: Output) -> Result<()> {
    // VmHWM is synced from per-thread counters lazily, so a later reading can be a little
    // lower than an earlier one: report the highest seen.
    let peak = runs
        .iter()
        .map(|r| r.peak_rss_kib)
        .fold(peak_rss_kib(), u64::max);
    if output == Output::Json {
        let runs: Vec<Value> = runs
            .iter()
            .map(|r| {
                Ok(json!({
                    "file": r.file.display().to_string(),
                    "syncId": r.sync_id,
                    "readSecs": r.read_secs,
                    "applySecs": r.apply_secs,
                    "totalSecs": r.read_secs + r.apply_secs,
                    "source": {
                        "resourceTypes": r.source[0],
                        "resources": r.source[1],
                        "entitlements": r.source[2],
                        "grants": r.source[3],
                    },
                    "counts": serde_json::to_value(&r.counts)?,
                    "peakRssKib": r.peak_rss_kib,
                }))
            })
            .collect::<Result<_, serde_json::Error>>()?;
        println!(
            "{}",
            json!({
                "backend": backend,
                "setupSecs": setup_secs,
                "runs": runs,
                "totalSecs": runs.iter().map(|r| r["totalSecs"].as_f64().unwrap_or(0.0)).sum::<f64>(),
                "peakRssKib": peak,
            })
        );
        return Ok(());
    }
    println!("backend: {backend}; setup (schema, app) {setup_secs:.2} s");
    println!(
        "\n| run | file | read s | apply s | total s | resources | accounts | entitlements | grants | peak RSS MiB |"
    );
    println!("|---|---|---|---|---|---|---|---|---|---|");
    for (i, r) in runs.iter().enumerate() {
        let c =
            |c: &apply::Counts| format!("{} (+{} ~{} -{})", c.total, c.added, c.changed, c.removed);
        println!(
            "| {} | {} | {:.2} | {:.2} | {:.2} | {} | {} | {} | {} | {:.0} |",
            if i == 0 { "import" } else { "re-sync" },
            r.file.file_name().unwrap_or_default().to_string_lossy(),
            r.read_secs,
            r.apply_secs,
            r.read_secs + r.apply_secs,
            c(&r.counts.resources),
            c(&r.counts.app_users),
            c(&r.counts.entitlements),
            c(&r.counts.grants),
            r.peak_rss_kib as f64 / 1024.0
        );
    }
    println!("\npeak RSS of the process: {:.0} MiB", peak as f64 / 1024.0);
    Ok(())
}
