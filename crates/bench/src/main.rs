//! `chamberlain-bench`: loads a large identity graph into a scratch database, serves it with the
//! real HTTP application in-process and measures API operations under concurrent load. The
//! figures it prints are the ones recorded in docs/BENCHMARKS.md.

mod database;
mod dataset;
mod drive;
mod report;

use anyhow::{bail, Result};
use chamberlain_store::Store;
use clap::Parser;
use dataset::Sizes;
use std::sync::Arc;
use std::time::Duration;

/// Command line.
#[derive(Parser, Debug)]
#[command(
    name = "chamberlain-bench",
    about = "Loads a large identity graph and measures the Chamberlain HTTP API under load"
)]
struct Args {
    /// Where to load the data: `sqlite:` (a temporary file, removed afterwards),
    /// `sqlite://PATH?mode=rwc` (an empty or new file, kept), a PostgreSQL server URL without a
    /// database such as `postgres://postgres@127.0.0.1:5432/` (a scratch database
    /// `chamberlain_bench_<random>` is created and dropped afterwards), or the URL of an empty
    /// PostgreSQL database (kept).
    #[arg(long)]
    database_url: String,
    /// Apps.
    #[arg(long, default_value_t = 1_000)]
    apps: usize,
    /// Entitlements, spread evenly over the apps.
    #[arg(long, default_value_t = 100_000)]
    entitlements: usize,
    /// App users (accounts), spread evenly over the apps, each linked to a user.
    #[arg(long, default_value_t = 200_000)]
    app_users: usize,
    /// Grants: distinct (entitlement, account) pairs within an app, spread evenly over the
    /// entitlements.
    #[arg(long, default_value_t = 1_000_000)]
    grants: usize,
    /// Users.
    #[arg(long, default_value_t = 50_000)]
    users: usize,
    /// Seconds each operation is measured.
    #[arg(long, default_value_t = 20)]
    duration_secs: u64,
    /// Seconds each operation runs unmeasured before measuring starts.
    #[arg(long, default_value_t = 2)]
    warmup_secs: u64,
    /// Concurrent client tasks per operation.
    #[arg(long, default_value_t = 16)]
    concurrency: usize,
    /// Seed of the random choices (data shape and request targets).
    #[arg(long, default_value_t = 1)]
    seed: u64,
}

impl Args {
    fn sizes(&self) -> Sizes {
        Sizes {
            apps: self.apps,
            entitlements: self.entitlements,
            app_users: self.app_users,
            grants: self.grants,
            users: self.users,
        }
    }
}

#[tokio::main]
async fn main() -> Result<()> {
    let args = Args::parse();
    args.sizes().validate()?;
    if args.concurrency == 0 || args.duration_secs == 0 {
        bail!("--concurrency and --duration-secs must be at least 1");
    }
    let target = database::Target::prepare(&args.database_url).await?;
    println!("database: {}", target.describe());
    // The target is removed even when the run fails or is interrupted.
    let outcome = tokio::select! {
        r = run(&args, &target.url) => r,
        _ = tokio::signal::ctrl_c() => Err(anyhow::anyhow!("interrupted")),
    };
    let removed = target.remove().await;
    let report = outcome?;
    removed?;
    println!("\n{}", report.markdown());
    Ok(())
}

/// Loads the data set and measures every operation.
async fn run(args: &Args, url: &str) -> Result<report::Report> {
    let store = Store::connect(url).await?;
    store.migrate().await?;
    let machine = report::Machine::detect(&store).await?;
    println!("{}", machine.describe());
    let (data, load) = dataset::load(&store, &args.sizes(), args.seed).await?;
    let settings = drive::Settings {
        concurrency: args.concurrency,
        warmup: Duration::from_secs(args.warmup_secs),
        duration: Duration::from_secs(args.duration_secs),
        seed: args.seed,
    };
    let measured = drive::measure(&store, Arc::new(data), &settings).await;
    store.close().await;
    Ok(report::Report {
        machine,
        sizes: args.sizes(),
        settings,
        load,
        operations: measured?,
    })
}
