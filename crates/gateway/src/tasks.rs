//! The Tasks extension (`io.modelcontextprotocol/tasks`, SEP-2663) through the gateway, for
//! 2026-07-28 clients.
//!
//! A downstream server decides by itself whether a `tools/call` becomes a task; it may only do
//! so when the request declared the extension, so the gateway declares it downstream exactly
//! when the AI client declared it. The downstream's `CreateTaskResult` is passed on with its
//! `taskId` replaced by a gateway task id: the sealed (AES-GCM, the keys of MRTR
//! `requestState` and session ids) record of the user, the server, the tool and the
//! downstream's own id. So no task table exists, any replica can route a later `tasks/*`
//! request, and an id cannot be forged, altered, or used by another user (all refused with
//! `-32602`, as an unknown id is, and audited).
//!
//! `tasks/get` and `tasks/update` go downstream only while the caller may still call the tool
//! (the check of `tools/call`): a task does not outlive the access that started it.
//! `tasks/cancel` is the owner's right even after a revocation (stopping work is never a
//! risk). The downstream gets its own id in `params.taskId` and in `Mcp-Name`, with the
//! server's own credentials; what it answers is passed on with the gateway id put back.

use crate::protocol::{audit_target, code, error, modern_result, ok, Caller};
use crate::upstream::{header_value, UpstreamError};
use crate::{denial_text, Gateway};
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use base64::Engine;
use chamberlain_auth::crypto::SecretBox;
use chamberlain_model::mcp::McpTool;
use serde::{Deserialize, Serialize};
use serde_json::{json, Value};
use std::time::Instant;

/// The extension's identifier (in `capabilities.extensions`).
pub const EXTENSION: &str = "io.modelcontextprotocol/tasks";
/// The methods of the extension the gateway routes (`tasks/result` and `tasks/list` do not
/// exist in it: they are unknown methods).
pub const METHODS: &[&str] = &["tasks/get", "tasks/update", "tasks/cancel"];

const CONTEXT: &str = "mcp-task";

/// What a gateway task id carries.
#[derive(Serialize, Deserialize, Debug, PartialEq)]
struct Sealed {
    /// The user who started the task.
    u: String,
    /// The server (connector id).
    s: String,
    /// The tool's id.
    t: String,
    /// The tool's exposed name when the task started.
    n: String,
    /// The downstream's task id.
    d: String,
}

/// Whether a `tools/call` result is a `CreateTaskResult`.
pub fn is_created(result: &Value) -> bool {
    result.get("resultType").and_then(Value::as_str) == Some("task")
}

/// The `-32021` refusal of a request that needs the extension.
pub fn missing_extension(id: &Value) -> Value {
    error(
        id,
        code::MISSING_CAPABILITY,
        &format!(
            "this request needs the {EXTENSION} extension: declare it in the client capabilities"
        ),
        Some(json!({"requiredCapabilities": {"extensions": {EXTENSION: {}}}})),
    )
}

fn seal(secrets: &SecretBox, sealed: &Sealed) -> String {
    let plain = serde_json::to_vec(sealed).unwrap_or_default();
    // Sealed text is base64 already; re-encoded to stay URL-safe visible ASCII (it travels
    // in the Mcp-Name header).
    URL_SAFE_NO_PAD.encode(secrets.seal(&plain, CONTEXT))
}

fn open(secrets: &SecretBox, id: &str) -> Option<Sealed> {
    let sealed = String::from_utf8(URL_SAFE_NO_PAD.decode(id.as_bytes()).ok()?).ok()?;
    let plain = secrets.open(&sealed, CONTEXT).ok()?;
    serde_json::from_slice(&plain).ok()
}

/// Passes on the `CreateTaskResult` a server answered to `tools/call` of `tool` (exposed as
/// `name`), under a gateway task id.
pub(crate) fn created(
    gw: &Gateway,
    caller: &Caller,
    id: &Value,
    (tool, name): (&McpTool, &str),
    mut result: Value,
    started: Instant,
) -> Value {
    let target = (tool.connector_id.as_str(), tool.id.as_str());
    let downstream = result
        .get("taskId")
        .and_then(Value::as_str)
        .filter(|d| !d.is_empty())
        .map(str::to_string);
    let why = match &downstream {
        _ if !caller.caps.tasks => {
            Some("the server created a task for a client that did not declare the tasks extension")
        }
        None => Some("the server answered a task without a taskId"),
        Some(_) => None,
    };
    if let Some(why) = why {
        audit_target(
            gw,
            caller,
            "tools/call",
            target,
            name,
            ("ERROR", why.into()),
            started,
        );
        let text = format!("The server behind tool `{name}` answered badly: {why}.");
        return ok(
            id,
            modern_result(
                caller,
                json!({"content": [{"type": "text", "text": text}], "isError": true}),
                false,
            ),
        );
    }
    let downstream = downstream.unwrap_or_default();
    let task_id = seal(
        gw.secrets(),
        &Sealed {
            u: caller.user_id.clone(),
            s: tool.connector_id.clone(),
            t: tool.id.clone(),
            n: name.to_string(),
            d: downstream.clone(),
        },
    );
    result["taskId"] = Value::String(task_id);
    audit_target(
        gw,
        caller,
        "tools/call",
        target,
        name,
        (
            "SUCCESS",
            format!("the server started task {downstream} (resultType task)"),
        ),
        started,
    );
    ok(id, modern_result(caller, result, false))
}

/// Answers `tasks/get`, `tasks/update` or `tasks/cancel`.
pub(crate) async fn handle(
    gw: &Gateway,
    caller: &Caller,
    id: &Value,
    method: &str,
    params: &Value,
    started: Instant,
) -> Value {
    let refuse = |target: (&str, &str), name: &str, why: String, answer: Value| {
        audit_target(gw, caller, method, target, name, ("DENIED", why), started);
        answer
    };
    if !caller.modern() {
        return refuse(
            ("", ""),
            "",
            "the tasks extension is offered to 2026-07-28 clients only".into(),
            error(
                id,
                code::METHOD_NOT_FOUND,
                &format!("`{method}` (the tasks extension) needs protocol 2026-07-28"),
                None,
            ),
        );
    }
    if !caller.caps.tasks {
        return refuse(
            ("", ""),
            "",
            "the client did not declare the tasks extension".into(),
            missing_extension(id),
        );
    }
    let Some(task_id) = params.get("taskId").and_then(Value::as_str) else {
        return refuse(
            ("", ""),
            "",
            "no params.taskId".into(),
            error(
                id,
                code::INVALID_PARAMS,
                &format!("{method} needs params.taskId (the taskId of the CreateTaskResult)"),
                None,
            ),
        );
    };
    let unknown = || error(id, code::INVALID_PARAMS, "unknown task", None);
    let Some(task) = open(gw.secrets(), task_id) else {
        return refuse(
            ("", ""),
            "",
            "unknown task id: altered, sealed with another key, or not issued by this gateway"
                .into(),
            unknown(),
        );
    };
    let target = (task.s.as_str(), task.t.as_str());
    if task.u != caller.user_id {
        // Answered like an unknown id: another user's task does not exist for this caller.
        return refuse(
            target,
            &task.n,
            format!("the task belongs to another user ({})", task.u),
            unknown(),
        );
    }
    let mut down = json!({ "taskId": task.d });
    if method == "tasks/update" {
        match params.get("inputResponses") {
            Some(r @ Value::Object(_)) => down["inputResponses"] = r.clone(),
            _ => {
                return refuse(
                    target,
                    &task.n,
                    "params.inputResponses is not an object".into(),
                    error(
                        id,
                        code::INVALID_PARAMS,
                        "tasks/update needs params.inputResponses: an object mapping inputRequests keys to their results",
                        None,
                    ),
                )
            }
        }
    }
    if method != "tasks/cancel" {
        // The caller must still be allowed the tool, exactly as for tools/call.
        let (index, held) =
            match crate::protocol::access(gw, caller, id, method, &task.n, started).await {
                Ok(a) => a,
                Err(answer) => return answer,
            };
        let entry = index
            .by_name
            .get(&task.n)
            .filter(|e| e.tool.id == task.t)
            // Renamed since (prefix change): the same tool under its new name.
            .or_else(|| index.tools.iter().find(|e| e.tool.id == task.t));
        let verdict = match entry {
            None => Err(crate::index::Denial::UnknownTool),
            Some(e) => index.check(e, &held),
        };
        if let Err(denial) = verdict {
            return refuse(
                target,
                &task.n,
                denial.reason(),
                error(id, code::INVALID_PARAMS, &denial_text(&task.n), None),
            );
        }
    }
    let headers = [("Mcp-Name".to_string(), header_value(&task.d))];
    let answer = gw
        .request_modern(
            &task.s,
            (method, &headers),
            down,
            &caller.user_id,
            caller.caps,
            None,
        )
        .await;
    let failed = |why: String, answer: Value| {
        audit_target(gw, caller, method, target, &task.n, ("ERROR", why), started);
        answer
    };
    match answer {
        Ok(Some(mut result)) => {
            let mut reason = String::new();
            if method == "tasks/get" {
                result["taskId"] = Value::String(task_id.to_string());
                let status = result.get("status").and_then(Value::as_str).unwrap_or("");
                reason = format!("task {}: {status}", task.d);
            }
            audit_target(
                gw,
                caller,
                method,
                target,
                &task.n,
                ("SUCCESS", reason),
                started,
            );
            ok(id, modern_result(caller, result, false))
        }
        Ok(None) => failed(
            "the server no longer speaks 2026-07-28".into(),
            error(
                id,
                code::INTERNAL,
                "the server behind this task no longer speaks 2026-07-28",
                None,
            ),
        ),
        Err(UpstreamError::Rpc {
            code,
            message,
            data,
        }) => failed(
            format!("server error {code}: {message}"),
            json!({"jsonrpc": "2.0", "id": id, "error": {"code": code, "message": message, "data": data}}),
        ),
        Err(e) => failed(
            e.to_string(),
            error(
                id,
                code::INTERNAL,
                &format!("the server behind tool `{}` could not answer: {e}", task.n),
                None,
            ),
        ),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn task_ids_open_only_unaltered_with_the_same_key() {
        let b = SecretBox::new(&[7; 32]);
        let sealed = Sealed {
            u: "u".into(),
            s: "srv".into(),
            t: "tool".into(),
            n: "x_tool".into(),
            d: "down-1".into(),
        };
        let id = seal(&b, &sealed);
        assert!(id
            .bytes()
            .all(|c| c.is_ascii_alphanumeric() || c == b'-' || c == b'_'));
        assert_eq!(open(&b, &id), Some(sealed));
        let mut altered = id.clone().into_bytes();
        let last = altered.len() - 3;
        altered[last] = if altered[last] == b'A' { b'B' } else { b'A' };
        assert_eq!(open(&b, &String::from_utf8(altered).unwrap()), None);
        assert_eq!(open(&SecretBox::new(&[8; 32]), &id), None);
        assert_eq!(open(&b, "tasks-conformance-nonexistent-12345"), None);
        assert_eq!(header_value("abc"), "abc");
        assert!(header_value("é").starts_with("=?base64?"));
    }

    #[test]
    fn created_results_are_recognized() {
        assert!(is_created(&json!({"resultType": "task", "taskId": "t"})));
        assert!(!is_created(&json!({"resultType": "complete"})));
        assert!(!is_created(&json!({"content": []})));
        let e = missing_extension(&json!(1));
        assert_eq!(e["error"]["code"], code::MISSING_CAPABILITY);
        assert!(e["error"]["data"]["requiredCapabilities"]["extensions"][EXTENSION].is_object());
    }
}
