//! `chamberlain tasks …`: access requests and task actions through a running server, the same
//! public API (and the same policies) as every other client.

use crate::admin::Output;
use crate::client::{ApiClient, ServerArgs};
use anyhow::{Context, Result};
use clap::Subcommand;
use serde_json::{json, Value};

#[derive(Subcommand)]
pub enum TasksCommand {
    /// Request an entitlement (for yourself, or with --user for someone else as an admin).
    Request {
        #[command(flatten)]
        target: Target,
        /// Why the access is needed.
        #[arg(long, default_value = "")]
        justification: String,
        /// How long, as a protobuf duration ("3600s").
        #[arg(long)]
        duration: Option<String>,
        /// Ask for emergency access (the entitlement's emergency policy).
        #[arg(long)]
        emergency: bool,
        #[command(flatten)]
        server: ServerArgs,
        #[arg(long, value_enum, default_value_t)]
        output: Output,
    },
    /// Ask for an entitlement to be removed.
    Revoke {
        #[command(flatten)]
        target: Target,
        #[arg(long, default_value = "")]
        justification: String,
        #[command(flatten)]
        server: ServerArgs,
        #[arg(long, value_enum, default_value_t)]
        output: Output,
    },
    /// Show a task (id or number).
    Get {
        task: String,
        #[command(flatten)]
        server: ServerArgs,
        #[arg(long, value_enum, default_value_t)]
        output: Output,
    },
    /// Act on a task: approve, deny, comment, close, escalate or retry-provisioning.
    Act {
        /// The action.
        #[arg(value_parser = ["approve", "deny", "comment", "close", "escalate", "retry-provisioning"])]
        action: String,
        task: String,
        #[arg(long, default_value = "")]
        comment: String,
        #[command(flatten)]
        server: ServerArgs,
        #[arg(long, value_enum, default_value_t)]
        output: Output,
    },
    /// List tasks waiting for you (open tasks assigned to the caller).
    Inbox {
        #[command(flatten)]
        server: ServerArgs,
        #[arg(long, value_enum, default_value_t)]
        output: Output,
    },
}

/// What the request is for.
#[derive(clap::Args)]
pub struct Target {
    #[arg(long = "app")]
    app_id: String,
    #[arg(long = "entitlement")]
    entitlement_id: String,
    /// The user the access is for (default: the caller).
    #[arg(long = "user", default_value = "")]
    user_id: String,
    /// The account the access is for (default: the user's one account in the app).
    #[arg(long = "app-user", default_value = "")]
    app_user_id: String,
}

fn summary(t: &Value) -> String {
    let outcome = t["type"]["grant"]["outcome"]
        .as_str()
        .or(t["type"]["revoke"]["outcome"].as_str())
        .unwrap_or("");
    let waiting = t["stepApproverIds"]
        .as_array()
        .map(|a| {
            a.iter()
                .filter_map(Value::as_str)
                .collect::<Vec<_>>()
                .join(", ")
        })
        .unwrap_or_default();
    let state = t["state"].as_str().unwrap_or("");
    if state == "TASK_STATE_OPEN" {
        format!(
            "task {} {}: open, waiting for {}",
            t["numericId"].as_str().unwrap_or(""),
            t["displayName"].as_str().unwrap_or(""),
            if waiting.is_empty() {
                "the system".into()
            } else {
                waiting
            }
        )
    } else {
        format!(
            "task {} {}: closed, {}",
            t["numericId"].as_str().unwrap_or(""),
            t["displayName"].as_str().unwrap_or(""),
            outcome
        )
    }
}

fn print(output: Output, v: &Value) {
    let task = &v["taskView"]["task"];
    match output {
        Output::Json => println!("{}", task),
        Output::Text => println!("{}", summary(task)),
    }
}

pub async fn run(cmd: TasksCommand) -> Result<()> {
    match cmd {
        TasksCommand::Request {
            target,
            justification,
            duration,
            emergency,
            server,
            output,
        } => {
            let api = ApiClient::connect(&server).await?;
            let mut body = json!({
                "appId": target.app_id, "appEntitlementId": target.entitlement_id,
                "identityUserId": target.user_id, "appUserId": target.app_user_id,
                "description": justification, "emergencyAccess": emergency,
            });
            if let Some(d) = duration {
                body["grantDuration"] = json!(d);
            }
            let v = api
                .post("/api/v1/task/grant", &body)
                .await
                .context("request failed")?;
            print(output, &v);
        }
        TasksCommand::Revoke {
            target,
            justification,
            server,
            output,
        } => {
            let api = ApiClient::connect(&server).await?;
            let body = json!({
                "appId": target.app_id, "appEntitlementId": target.entitlement_id,
                "identityUserId": target.user_id, "appUserId": target.app_user_id,
                "description": justification,
            });
            let v = api
                .post("/api/v1/task/revoke", &body)
                .await
                .context("revoke request failed")?;
            print(output, &v);
        }
        TasksCommand::Get {
            task,
            server,
            output,
        } => {
            let api = ApiClient::connect(&server).await?;
            let v = api.get(&format!("/api/v1/tasks/{task}")).await?;
            print(output, &v);
        }
        TasksCommand::Act {
            action,
            task,
            comment,
            server,
            output,
        } => {
            let api = ApiClient::connect(&server).await?;
            let v = api
                .post(
                    &format!("/api/v1/tasks/{task}/action/{action}"),
                    &json!({"comment": comment}),
                )
                .await
                .with_context(|| format!("{action} failed"))?;
            print(output, &v);
        }
        TasksCommand::Inbox { server, output } => {
            let api = ApiClient::connect(&server).await?;
            let me = api.get("/api/v1/auth/introspect").await?["userId"]
                .as_str()
                .unwrap_or_default()
                .to_string();
            let v = api
                .post(
                    "/api/v1/search/tasks",
                    &json!({"myWorkUserIds": [me], "taskStates": ["TASK_STATE_OPEN"], "pageSize": 100}),
                )
                .await?;
            let list = v["list"].as_array().cloned().unwrap_or_default();
            match output {
                Output::Json => println!(
                    "{}",
                    Value::Array(list.iter().map(|t| t["task"].clone()).collect())
                ),
                Output::Text => {
                    if list.is_empty() {
                        println!("nothing is waiting for you");
                    }
                    for t in &list {
                        println!("{}", summary(&t["task"]));
                    }
                }
            }
        }
    }
    Ok(())
}
