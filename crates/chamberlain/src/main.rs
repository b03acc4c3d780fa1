//! `chamberlain`: the server (`serve`), schema migrations (`migrate`), local administration
//! (`admin …`, acting on the database directly), and the command-line client (`login`, `get`,
//! `tasks …` and the rest), which acts on a server through the public API. The client's exit
//! codes are in `exit`; docs/CLI.md describes every command.

mod access_cmd;
mod admin;
mod api_cmd;
mod bootstrap;
mod client;
mod config;
mod demo;
mod exit;
mod grants_cmd;
mod login_cmd;
mod mcp_cmd;
mod out;
mod profiles;
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
    /// Sign in to a server in the browser (device authorization) and save a profile.
    Login(login_cmd::LoginArgs),
    /// Delete the profile's API client on the server and forget the profile.
    Logout(login_cmd::LogoutArgs),
    /// Show who you are signed in as.
    Whoami(login_cmd::WhoamiArgs),
    /// Find entitlements and access profiles you can request.
    Search(access_cmd::SearchArgs),
    /// Request an entitlement for yourself.
    Get(access_cmd::GetArgs),
    /// Give back an entitlement you hold.
    Drop(access_cmd::DropArgs),
    /// Check whether you hold an entitlement (exit 0 yes, 6 no).
    Has(access_cmd::HasArgs),
    /// List your access requests.
    Requests(access_cmd::RequestsArgs),
    /// Set up AI clients to use this server's MCP gateway.
    #[command(subcommand)]
    Mcp(mcp_cmd::McpCommand),
    /// Make a raw authenticated call to the API and print the JSON answer.
    Api(api_cmd::ApiArgs),
}

/// mimalloc instead of glibc's allocator: bulk work (syncs, identity resolution) allocates and
/// frees millions of small objects, where glibc's consolidation passes cost ~15% (BENCHMARKS.md).
#[global_allocator]
static ALLOC: mimalloc::MiMalloc = mimalloc::MiMalloc;

extern "C" {
    /// mimalloc's option setter (linked with the allocator above).
    fn mi_option_set(option: std::os::raw::c_int, value: std::os::raw::c_long);
}

/// Lets mimalloc keep freed memory for a second before returning it to the OS (its default is
/// 10 ms). Identity resolution frees and re-allocates hundreds of megabytes between its load,
/// plan and write phases; returned memory came back as fresh pages the kernel had to zero,
/// ~15% of a run's CPU (BENCHMARKS.md, identity resolution, 2026-12-06). The same setting is
/// in crates/benchmarks/src/lib.rs.
fn tune_allocator() {
    /// `mi_option_purge_delay` in mimalloc's `mi_option_t` (v2 and v3).
    const MI_OPTION_PURGE_DELAY: std::os::raw::c_int = 15;
    // SAFETY: sets a plain integer option; mimalloc reads options atomically.
    unsafe { mi_option_set(MI_OPTION_PURGE_DELAY, 1_000) }
}

fn main() -> Result<()> {
    tune_allocator();
    let cli = Cli::parse();
    let _ = profiles::CONFIG_FLAG.set(cli.db.config.clone());
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
            Command::Login(a) => login_cmd::login(a).await,
            Command::Logout(a) => login_cmd::logout(a).await,
            Command::Whoami(a) => login_cmd::whoami(a).await,
            Command::Search(a) => access_cmd::search(a).await,
            Command::Get(a) => access_cmd::get(a).await,
            Command::Drop(a) => access_cmd::drop_access(a).await,
            Command::Has(a) => access_cmd::has(a).await,
            Command::Requests(a) => access_cmd::requests(a).await,
            Command::Mcp(c) => mcp_cmd::run(c).await,
            Command::Api(a) => api_cmd::run(a).await,
        }
    });
    if let Err(e) = &outcome {
        let (code, show) = exit::code_of(e);
        if show {
            eprintln!("error: {e:#}");
        }
        std::process::exit(code);
    }
    Ok(())
}
