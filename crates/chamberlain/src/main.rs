//! `chamberlain`: the server (`serve`), schema migrations (`migrate`), local administration
//! (`admin …`, acting on the database directly), and client commands that go through the API.

mod admin;
mod client;
mod config;
mod grants_cmd;
mod server;
mod sync_cmd;
mod tasks_cmd;

use anyhow::Result;
use clap::{Parser, Subcommand};
use config::{DbArgs, ServeArgs};

#[derive(Parser)]
#[command(
    name = "chamberlain",
    version,
    about = "Identity governance and AI access, C1-compatible"
)]
struct Cli {
    #[command(flatten)]
    db: DbArgs,
    #[command(subcommand)]
    command: Command,
}

#[derive(Subcommand)]
enum Command {
    /// Run the server.
    Serve(ServeArgs),
    /// Apply database migrations and exit.
    Migrate,
    /// Administer the database directly (first admin, local users).
    #[command(subcommand)]
    Admin(admin::AdminCommand),
    /// Sync apps from connectors (through a running server).
    #[command(subcommand)]
    Sync(sync_cmd::SyncCommand),
    /// Grant and revoke entitlements (through a running server; provisioned by the app's
    /// connector when it provisions).
    #[command(subcommand)]
    Grants(grants_cmd::GrantsCommand),
    /// Request access and act on tasks through a running server.
    #[command(subcommand)]
    Tasks(tasks_cmd::TasksCommand),
}

/// mimalloc instead of glibc's allocator: bulk work (syncs, identity resolution) allocates and
/// frees millions of small objects, where glibc's consolidation passes cost ~15% (BENCHMARKS.md).
#[global_allocator]
static ALLOC: mimalloc::MiMalloc = mimalloc::MiMalloc;

fn main() -> Result<()> {
    let cli = Cli::parse();
    let rt = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()?;
    let outcome = rt.block_on(async move {
        match cli.command {
            Command::Serve(s) => server::serve(&cli.db, &s).await,
            Command::Migrate => server::migrate_only(&cli.db).await,
            Command::Admin(a) => admin::run(&cli.db, a).await,
            Command::Sync(c) => sync_cmd::run(c).await,
            Command::Grants(c) => grants_cmd::run(c).await,
            Command::Tasks(c) => tasks_cmd::run(c).await,
        }
    });
    if let Err(e) = &outcome {
        eprintln!("error: {e:#}");
        std::process::exit(1);
    }
    Ok(())
}
