//! `chamberlain grants …`: granting and revoking entitlements through a running server. For an
//! app whose connector provisions, the server runs the connector first and changes nothing if
//! it fails.

use crate::admin::Output;
use crate::client::{ApiClient, ServerArgs};
use anyhow::{Context, Result};
use clap::Subcommand;
use serde_json::json;

#[derive(Subcommand)]
pub enum GrantsCommand {
    /// Grant an entitlement to an account (or to a user, who gets an account).
    Add {
        #[command(flatten)]
        target: Target,
        #[command(flatten)]
        server: ServerArgs,
        #[arg(long, value_enum, default_value_t)]
        output: Output,
    },
    /// Revoke an account's direct grant of an entitlement.
    Revoke {
        #[command(flatten)]
        target: Target,
        #[command(flatten)]
        server: ServerArgs,
        #[arg(long, value_enum, default_value_t)]
        output: Output,
    },
}

/// Which grant.
#[derive(clap::Args)]
pub struct Target {
    /// The app.
    #[arg(long = "app")]
    app_id: String,
    /// The app entitlement.
    #[arg(long = "entitlement")]
    entitlement_id: String,
    /// The account (app user id); for `add`, a user id works too.
    #[arg(long = "app-user")]
    app_user_id: String,
}

pub async fn run(cmd: GrantsCommand) -> Result<()> {
    let (target, server, output, add) = match cmd {
        GrantsCommand::Add {
            target,
            server,
            output,
        } => (target, server, output, true),
        GrantsCommand::Revoke {
            target,
            server,
            output,
        } => (target, server, output, false),
    };
    let api = ApiClient::connect(&server).await?;
    let base = format!(
        "/api/v1/apps/{}/entitlements/{}",
        target.app_id, target.entitlement_id
    );
    let v = if add {
        api.post(
            &format!("{base}/add-manual-user"),
            &json!({"userIds": [target.app_user_id]}),
        )
        .await
        .context("grant failed")?
    } else {
        api.delete(
            &format!("{base}/remove-membership"),
            &json!({"appUserId": target.app_user_id}),
        )
        .await
        .context("revoke failed")?
    };
    let verb = if add { "granted" } else { "revoked" };
    match output {
        Output::Json => println!(
            "{}",
            json!({"result": verb, "appId": target.app_id, "entitlementId": target.entitlement_id, "appUserId": target.app_user_id, "response": v})
        ),
        Output::Text => println!(
            "{verb}: entitlement {} for {} in app {}",
            target.entitlement_id, target.app_user_id, target.app_id
        ),
    }
    Ok(())
}
