//! `chamberlain tasks …`: access requests and task actions through a running server, the same
//! public API (and the same policies) as every other client. `list`, `show`, `approve`, `deny`,
//! `comment` and `reassign` are the approver's side; `request`, `revoke`, `get`, `act` and
//! `inbox` are kept for scripts written against them.

use crate::admin::Output;
use crate::client::{ApiClient, ServerArgs};
use crate::out;
use anyhow::{bail, Context, Result};
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
    /// List tasks: those waiting for you (default), or with --all every task you may see.
    List {
        /// Every task you may see instead of those assigned to you.
        #[arg(long)]
        all: bool,
        /// Which tasks.
        #[arg(long, value_parser = ["open", "closed", "all"], default_value = "open")]
        state: String,
        #[command(flatten)]
        server: ServerArgs,
        #[arg(long, value_enum, default_value_t)]
        output: Output,
    },
    /// Show a task (id or number) in detail.
    Show {
        task: String,
        #[command(flatten)]
        server: ServerArgs,
        #[arg(long, value_enum, default_value_t)]
        output: Output,
    },
    /// Approve a task (id or number).
    Approve {
        task: String,
        #[arg(long, short = 'm', default_value = "")]
        comment: String,
        #[command(flatten)]
        server: ServerArgs,
        #[arg(long, value_enum, default_value_t)]
        output: Output,
    },
    /// Deny a task (id or number).
    Deny {
        task: String,
        #[arg(long, short = 'm', default_value = "")]
        comment: String,
        #[command(flatten)]
        server: ServerArgs,
        #[arg(long, value_enum, default_value_t)]
        output: Output,
    },
    /// Comment on a task (id or number).
    Comment {
        task: String,
        /// The comment.
        #[arg(long, short = 'm')]
        comment: String,
        #[command(flatten)]
        server: ServerArgs,
        #[arg(long, value_enum, default_value_t)]
        output: Output,
    },
    /// Hand the current approval step of a task to other users.
    Reassign {
        task: String,
        /// The new approver: a user id, or an email address (looking users up by email needs an
        /// admin role); repeat for several.
        #[arg(long = "to", required = true)]
        to: Vec<String>,
        #[arg(long, short = 'm', default_value = "")]
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

/// One line about a task.
pub fn summary(t: &Value) -> String {
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
    print_task(output, &v["taskView"]["task"]);
}

/// A task as JSON or as its summary line.
pub fn print_task(output: Output, task: &Value) {
    match output {
        Output::Json => println!("{}", task),
        Output::Text => println!("{}", summary(task)),
    }
}

fn outcome(t: &Value) -> &str {
    t["type"]["grant"]["outcome"]
        .as_str()
        .or(t["type"]["revoke"]["outcome"].as_str())
        .unwrap_or("")
        .trim_start_matches("GRANT_OUTCOME_")
        .trim_start_matches("REVOKE_OUTCOME_")
}

fn kind(t: &Value) -> &'static str {
    if t["type"]["grant"].is_object() {
        "grant"
    } else if t["type"]["revoke"].is_object() {
        "revoke"
    } else {
        "other"
    }
}

fn strs(v: &Value) -> String {
    v.as_array()
        .map(|a| {
            a.iter()
                .filter_map(Value::as_str)
                .collect::<Vec<_>>()
                .join(", ")
        })
        .unwrap_or_default()
}

/// Every page of a task search (at most 1,000 tasks).
pub async fn search_all(api: &ApiClient, mut body: Value) -> Result<Vec<Value>> {
    let mut out = Vec::new();
    loop {
        let v = api.post("/api/v1/search/tasks", &body).await?;
        for t in v["list"].as_array().cloned().unwrap_or_default() {
            out.push(t["task"].clone());
        }
        let next = v["nextPageToken"].as_str().unwrap_or_default();
        if next.is_empty() || out.len() >= 1000 {
            return Ok(out);
        }
        body["pageToken"] = json!(next);
    }
}

/// Tasks as a table (or a JSON array).
pub fn print_list(output: Output, tasks: &[Value], empty: &str) {
    match output {
        Output::Json => println!("{}", Value::Array(tasks.to_vec())),
        Output::Text => {
            if tasks.is_empty() {
                println!("{empty}");
                return;
            }
            let rows: Vec<Vec<String>> = tasks
                .iter()
                .map(|t| {
                    vec![
                        t["numericId"].as_str().unwrap_or("").into(),
                        kind(t).into(),
                        t["state"]
                            .as_str()
                            .unwrap_or("")
                            .trim_start_matches("TASK_STATE_")
                            .to_lowercase(),
                        outcome(t).to_lowercase(),
                        t["displayName"].as_str().unwrap_or("").into(),
                        t["createdAt"].as_str().unwrap_or("").into(),
                    ]
                })
                .collect();
            print!(
                "{}",
                out::table(
                    &["TASK", "TYPE", "STATE", "OUTCOME", "TITLE", "CREATED"],
                    &rows
                )
            );
        }
    }
}

fn show(output: Output, t: &Value) {
    match output {
        Output::Json => println!("{t}"),
        Output::Text => {
            let target = t["type"]["grant"]
                .as_object()
                .or(t["type"]["revoke"].as_object())
                .map(|o| {
                    format!(
                        "{}/{}",
                        o.get("appId").and_then(Value::as_str).unwrap_or(""),
                        o.get("appEntitlementId")
                            .and_then(Value::as_str)
                            .unwrap_or("")
                    )
                })
                .unwrap_or_default();
            print!(
                "{}",
                out::fields(&[
                    ("Task", t["numericId"].as_str().unwrap_or("").into()),
                    ("Id", t["id"].as_str().unwrap_or("").into()),
                    ("Title", t["displayName"].as_str().unwrap_or("").into()),
                    ("Type", kind(t).into()),
                    ("Entitlement", target),
                    (
                        "State",
                        t["state"]
                            .as_str()
                            .unwrap_or("")
                            .trim_start_matches("TASK_STATE_")
                            .to_lowercase()
                    ),
                    ("Outcome", outcome(t).to_lowercase()),
                    ("For user", t["userId"].as_str().unwrap_or("").into()),
                    (
                        "Requested by",
                        t["createdByUserId"].as_str().unwrap_or("").into()
                    ),
                    ("Waiting for", strs(&t["stepApproverIds"])),
                    (
                        "Justification",
                        t["description"].as_str().unwrap_or("").into()
                    ),
                    (
                        "Emergency",
                        t["emergencyAccess"].as_bool().unwrap_or(false).to_string()
                    ),
                    ("Comments", t["commentCount"].to_string()),
                    ("Created", t["createdAt"].as_str().unwrap_or("").into()),
                ])
            );
        }
    }
}

/// A user id as given, or the id of the user with this email address.
async fn user_id_of(api: &ApiClient, who: &str) -> Result<String> {
    if !who.contains('@') {
        return Ok(who.to_string());
    }
    let v = api
        .post(
            "/api/v1/search/users",
            &json!({"email": who, "pageSize": 10}),
        )
        .await
        .with_context(|| {
            format!("looking up {who} failed (it needs an admin role); pass the user's id instead")
        })?;
    let list = v["list"].as_array().cloned().unwrap_or_default();
    match list.as_slice() {
        [one] => one["user"]["id"]
            .as_str()
            .map(str::to_string)
            .context("the user search returned no id"),
        [] => Err(crate::exit::Exit::with(
            crate::exit::NOT_FOUND,
            format!("no user has the email address {who}"),
        )),
        _ => bail!("several users have the email address {who}; pass the user's id"),
    }
}

async fn act(api: &ApiClient, task: &str, action: &str, body: Value, output: Output) -> Result<()> {
    let v = api
        .post(&format!("/api/v1/tasks/{task}/action/{action}"), &body)
        .await
        .with_context(|| format!("{action} failed"))?;
    print(output, &v);
    Ok(())
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
        TasksCommand::List {
            all,
            state,
            server,
            output,
        } => {
            let api = ApiClient::connect(&server).await?;
            let states: Vec<&str> = match state.as_str() {
                "open" => vec!["TASK_STATE_OPEN"],
                "closed" => vec!["TASK_STATE_CLOSED"],
                _ => vec![],
            };
            let mut body = json!({"taskStates": states, "pageSize": 100});
            if !all {
                body["myWorkUserIds"] = json!([crate::access_cmd::me(&api).await?]);
            }
            let list = search_all(&api, body).await?;
            print_list(
                output,
                &list,
                if all {
                    "no tasks"
                } else {
                    "nothing is waiting for you"
                },
            );
        }
        TasksCommand::Show {
            task,
            server,
            output,
        } => {
            let api = ApiClient::connect(&server).await?;
            let v = api.get(&format!("/api/v1/tasks/{task}")).await?;
            show(output, &v["taskView"]["task"]);
        }
        TasksCommand::Approve {
            task,
            comment,
            server,
            output,
        } => {
            let api = ApiClient::connect(&server).await?;
            act(&api, &task, "approve", json!({"comment": comment}), output).await?;
        }
        TasksCommand::Deny {
            task,
            comment,
            server,
            output,
        } => {
            let api = ApiClient::connect(&server).await?;
            act(&api, &task, "deny", json!({"comment": comment}), output).await?;
        }
        TasksCommand::Comment {
            task,
            comment,
            server,
            output,
        } => {
            if comment.trim().is_empty() {
                bail!("the comment is empty");
            }
            let api = ApiClient::connect(&server).await?;
            act(&api, &task, "comment", json!({"comment": comment}), output).await?;
        }
        TasksCommand::Reassign {
            task,
            to,
            comment,
            server,
            output,
        } => {
            let api = ApiClient::connect(&server).await?;
            let mut ids = Vec::with_capacity(to.len());
            for who in &to {
                ids.push(user_id_of(&api, who).await?);
            }
            act(
                &api,
                &task,
                "reassign",
                json!({"comment": comment, "newStepUserIds": ids}),
                output,
            )
            .await?;
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
