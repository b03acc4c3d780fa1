//! `chamberlain sync …`: feeding apps from connectors through a running server.

use crate::admin::Output;
use crate::client::{ApiClient, ServerArgs};
use anyhow::{Context, Result};
use clap::Subcommand;
use serde_json::{json, Value};
use std::path::PathBuf;

#[derive(Subcommand)]
pub enum SyncCommand {
    /// Import a Baton .c1z file, or a CSV/TSV in C1's file-app template, into an app as a sync,
    /// and print what changed.
    Import {
        /// The app to import into.
        #[arg(long = "app")]
        app_id: String,
        /// The connector the file comes from [default: the app's first connector, created if none]
        #[arg(long = "connector")]
        connector_id: Option<String>,
        /// The .c1z, .csv or .tsv file.
        file: PathBuf,
        #[command(flatten)]
        server: ServerArgs,
        #[arg(long, value_enum, default_value_t)]
        output: Output,
    },
    /// Run a connector's Baton binary now (force sync), wait for the sync to finish and print
    /// what changed. Exits non-zero if the sync failed.
    Run {
        /// The app.
        #[arg(long = "app")]
        app_id: String,
        /// The connector (one configured with a Baton binary).
        #[arg(long = "connector")]
        connector_id: String,
        /// Give up waiting after this many seconds (the sync goes on in the server).
        #[arg(long, default_value_t = 3600)]
        timeout: u64,
        #[command(flatten)]
        server: ServerArgs,
        #[arg(long, value_enum, default_value_t)]
        output: Output,
    },
}

pub async fn run(cmd: SyncCommand) -> Result<()> {
    match cmd {
        SyncCommand::Import {
            app_id,
            connector_id,
            file,
            server,
            output,
        } => {
            if !file.is_file() {
                anyhow::bail!("{} is not a file", file.display());
            }
            let api = ApiClient::connect(&server).await?;
            let connector = match connector_id {
                Some(c) => c,
                None => default_connector(&api, &app_id).await?,
            };
            // Spreadsheets go to the file-app endpoint, everything else is read as a c1z.
            let ext = file
                .extension()
                .and_then(|e| e.to_str())
                .unwrap_or("")
                .to_ascii_lowercase();
            let endpoint = if matches!(ext.as_str(), "csv" | "tsv" | "txt" | "xlsx") {
                "file"
            } else {
                "c1z"
            };
            let v = api
                .upload(
                    &format!("/api/v1/apps/{app_id}/connectors/{connector}/{endpoint}"),
                    &file,
                )
                .await
                .context("import failed")?;
            let run = &v["syncRun"];
            match output {
                Output::Json => println!("{run}"),
                Output::Text => print_run(run),
            }
        }
        SyncCommand::Run {
            app_id,
            connector_id,
            timeout,
            server,
            output,
        } => {
            let api = ApiClient::connect(&server).await?;
            let runs_path = format!("/api/v1/apps/{app_id}/connectors/{connector_id}/sync_runs");
            let newest = |v: &Value| v["list"][0]["id"].as_str().unwrap_or("").to_string();
            let before = newest(&api.get(&runs_path).await?);
            api.post(
                &format!("/api/v1/apps/{app_id}/connectors/{connector_id}/force_sync"),
                &json!({}),
            )
            .await
            .context("force sync failed")?;
            let deadline = std::time::Instant::now() + std::time::Duration::from_secs(timeout);
            let run = loop {
                let v = api.get(&runs_path).await?;
                if newest(&v) != before {
                    break v["list"][0].clone();
                }
                if std::time::Instant::now() > deadline {
                    anyhow::bail!("the sync did not finish within {timeout}s; it goes on in the server (see {runs_path})");
                }
                tokio::time::sleep(std::time::Duration::from_millis(250)).await;
            };
            match output {
                Output::Json => println!("{run}"),
                Output::Text => print_run(&run),
            }
            if run["status"] != "SYNC_STATUS_DONE" {
                anyhow::bail!(
                    "the sync failed: {}",
                    run["lastError"].as_str().unwrap_or("")
                );
            }
        }
    }
    Ok(())
}

async fn default_connector(api: &ApiClient, app_id: &str) -> Result<String> {
    let list = api
        .get(&format!("/api/v1/apps/{app_id}/connectors"))
        .await?;
    if let Some(id) = list["list"]
        .as_array()
        .and_then(|l| l.first())
        .and_then(|c| c["connector"]["id"].as_str())
    {
        return Ok(id.to_string());
    }
    let created = api
        .post(
            &format!("/api/v1/apps/{app_id}/connectors"),
            &json!({"displayName": "c1z uploads"}),
        )
        .await?;
    created["connectorView"]["connector"]["id"]
        .as_str()
        .map(str::to_string)
        .context("the server did not return the new connector's id")
}

fn print_run(run: &Value) {
    println!(
        "Sync run {} ({}) of source sync {} in {} ms",
        run["id"].as_str().unwrap_or(""),
        run["status"].as_str().unwrap_or(""),
        run["sourceSyncId"].as_str().unwrap_or(""),
        run["durationMs"]
    );
    println!(
        "{:<16} {:>10} {:>10} {:>10} {:>10}",
        "kind", "total", "added", "changed", "removed"
    );
    for (label, key) in [
        ("resource types", "resourceTypes"),
        ("resources", "resources"),
        ("accounts", "appUsers"),
        ("entitlements", "entitlements"),
        ("grants", "grants"),
    ] {
        let c = &run["counts"][key];
        println!(
            "{label:<16} {:>10} {:>10} {:>10} {:>10}",
            c["total"], c["added"], c["changed"], c["removed"]
        );
    }
}
