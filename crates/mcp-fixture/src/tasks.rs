//! The Tasks extension (`io.modelcontextprotocol/tasks`, SEP-2663) fixtures.
//!
//! Tasks are server-directed: a task-supporting tool becomes a task when the request declared
//! the extension (in the 2026-07-28 `_meta` client capabilities, or at `initialize`), and runs
//! synchronously otherwise; a tool that supports only tasks is refused with -32021 then. State
//! lives in rmcp's [`TaskManager`] (memory, with a TTL): a task exists before its
//! `CreateTaskResult` is sent, so an immediate `tasks/get` finds it.

use std::time::Duration;

use rmcp::model::*;
use rmcp::service::RequestContext;
use rmcp::task_manager::{TaskContext, TaskExit, TaskFuture, TaskManager, TaskOptions};
use rmcp::{ErrorData, RoleServer};
use serde_json::{Map, Value};

use crate::catalog::{task_support, TaskSupport};
use crate::server::{elicitation, text};

/// How long a task stays readable (integer milliseconds on the wire).
const TASK_TTL_MS: u64 = 600_000;
/// Suggested polling interval.
const POLL_INTERVAL_MS: u64 = 250;
/// Longest sleep `slow_compute` accepts (it is a test fixture, not a workload).
const MAX_SECONDS: f64 = 600.0;

/// Whether the request declared the tasks extension.
pub fn declared(cx: &RequestContext<RoleServer>) -> bool {
    cx.client_capabilities()
        .is_some_and(|caps| caps.supports_tasks())
}

/// The -32021 answer for a tool that runs only as a task.
fn task_required() -> ErrorData {
    ErrorData::missing_required_client_capability(
        ClientCapabilities::builder().enable_tasks().build(),
    )
}

/// Whether `name` is a task fixture tool.
pub fn is_task_tool(name: &str) -> bool {
    task_support(name).is_some()
}

/// Calls a task fixture tool.
pub async fn call(
    tasks: &TaskManager,
    request: &CallToolRequestParams,
    cx: &RequestContext<RoleServer>,
) -> Result<CallToolResponse, ErrorData> {
    let name = request.name.as_ref();
    let args = request.arguments.clone().unwrap_or_default();
    let as_task = declared(cx);
    if task_support(name) == Some(TaskSupport::Required) && !as_task {
        return Err(task_required());
    }
    let spawn = |make: Box<dyn FnOnce(TaskContext) -> TaskFuture>| -> CallToolResponse {
        let options = TaskOptions::new()
            .with_ttl_ms(TASK_TTL_MS)
            .with_poll_interval_ms(POLL_INTERVAL_MS);
        CreateTaskResult::new(tasks.spawn(options, make)).into()
    };
    let responses = request.input_responses.as_ref();
    match name {
        "greet" => {
            let who = args.get("name").and_then(Value::as_str).unwrap_or("World");
            Ok(text(format!("Hello, {who}!")).into())
        }
        "slow_compute" => {
            let seconds = args
                .get("seconds")
                .and_then(Value::as_f64)
                .unwrap_or(1.0)
                .clamp(0.0, MAX_SECONDS);
            let label = args
                .get("label")
                .and_then(Value::as_str)
                .unwrap_or("")
                .to_string();
            let done = move || text(format!("Computed `{label}` in {seconds} s"));
            let pause = Duration::from_secs_f64(seconds);
            if !as_task {
                tokio::time::sleep(pause).await;
                return Ok(done().into());
            }
            Ok(spawn(Box::new(move |ctx| {
                Box::pin(async move {
                    tokio::select! {
                        _ = tokio::time::sleep(pause) => Ok(done()),
                        _ = ctx.cancelled() => Err(TaskExit::Cancelled),
                    }
                })
            })))
        }
        "failing_job" => Ok(spawn(Box::new(|_ctx| {
            Box::pin(async {
                tokio::time::sleep(Duration::from_secs(1)).await;
                Ok(CallToolResult::error(vec![ContentBlock::text(
                    "failing_job failed on purpose (a tool error, not a protocol error)",
                )]))
            })
        }))),
        "protocol_error_job" => {
            let failure =
                || ErrorData::internal_error("protocol_error_job failed on purpose", None);
            if !as_task {
                return Err(failure());
            }
            Ok(spawn(Box::new(move |_ctx| {
                Box::pin(async move {
                    tokio::time::sleep(Duration::from_millis(200)).await;
                    Err(TaskExit::Error(failure()))
                })
            })))
        }
        "confirm_delete" => {
            let filename = args
                .get("filename")
                .and_then(Value::as_str)
                .unwrap_or("the file")
                .to_string();
            let question = format!("Delete {filename}?");
            let report = move |answer: &Value| {
                if confirmed(answer) {
                    text(format!("Deleted {filename}"))
                } else {
                    text(format!("Kept {filename}: not confirmed"))
                }
            };
            if !as_task {
                if let Some(answer) = responses.and_then(|r| r.get("confirm")) {
                    return Ok(report(answer).into());
                }
                let mut requests = InputRequests::new();
                requests.insert("confirm".into(), confirm_request(&question));
                return Ok(InputRequiredResult::from_input_requests(requests).into());
            }
            Ok(spawn(Box::new(move |ctx| {
                Box::pin(async move {
                    let answer = ctx
                        .request_input("confirm", confirm_request(&question))
                        .await?;
                    Ok(report(&answer))
                })
            })))
        }
        "multi_input" => {
            let report = |name: &Value, confirm: &Value| {
                text(format!(
                    "name: {}; confirmed: {}",
                    content_str(name, "name"),
                    confirmed(confirm)
                ))
            };
            if !as_task {
                if let (Some(n), Some(c)) = (
                    responses.and_then(|r| r.get("name")),
                    responses.and_then(|r| r.get("confirm")),
                ) {
                    return Ok(report(n, c).into());
                }
                let mut requests = InputRequests::new();
                requests.insert("name".into(), name_request());
                requests.insert("confirm".into(), confirm_request("Proceed?"));
                return Ok(InputRequiredResult::from_input_requests(requests).into());
            }
            Ok(spawn(Box::new(move |ctx| {
                Box::pin(async move {
                    // Both requests are pending at once, so a client may answer them one by one.
                    let (n, c) = tokio::try_join!(
                        ctx.request_input("name", name_request()),
                        ctx.request_input("confirm", confirm_request("Proceed?")),
                    )?;
                    Ok(report(&n, &c))
                })
            })))
        }
        "test_tool_with_task" => {
            // Round 1 gathers the name the MRTR way; round 2 becomes a task using it.
            let Some(answer) = responses
                .and_then(|r| r.get("user_name"))
                .filter(|a| a.is_object())
            else {
                let mut requests = InputRequests::new();
                requests.insert("user_name".into(), name_request());
                return Ok(InputRequiredResult::from_input_requests(requests).into());
            };
            let who = content_str(answer, "name");
            Ok(spawn(Box::new(move |_ctx| {
                Box::pin(async move {
                    tokio::time::sleep(Duration::from_millis(300)).await;
                    Ok(text(format!("Hello, {who}! (finished as a task)")))
                })
            })))
        }
        other => Err(ErrorData::invalid_params(
            format!("Unknown tool: {other}"),
            None,
        )),
    }
}

fn name_request() -> InputRequest {
    elicitation(
        "What is your name?",
        serde_json::json!({ "name": { "type": "string" } }),
    )
}

fn confirm_request(question: &str) -> InputRequest {
    elicitation(
        question,
        serde_json::json!({ "confirm": { "type": "boolean" } }),
    )
}

fn content(answer: &Value) -> Option<&Map<String, Value>> {
    if answer.get("action").and_then(Value::as_str) != Some("accept") {
        return None;
    }
    answer.get("content")?.as_object()
}

fn confirmed(answer: &Value) -> bool {
    content(answer).and_then(|c| c.get("confirm")) == Some(&Value::Bool(true))
}

fn content_str(answer: &Value, field: &str) -> String {
    content(answer)
        .and_then(|c| c.get(field))
        .and_then(Value::as_str)
        .unwrap_or("unknown")
        .to_string()
}
