//! The MCP handler: one value shared by every session (legacy) and every stateless request
//! (2026-07-28), so list-changed notifications and subscriptions reach all of them.

// Sampling, logging and server-to-client requests are deprecated by SEP-2577, but the
// conformance suite still tests them for 2025-11-25 servers, so the fixture keeps them.
#![allow(deprecated)]

use std::collections::{BTreeSet, HashMap};
use std::path::PathBuf;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use rmcp::model::*;
use rmcp::service::{NotificationContext, RequestContext, SubscriptionContext, SubscriptionSink};
use rmcp::task_manager::TaskManager;
use rmcp::{ErrorData, Peer, RoleServer, ServerHandler};
use serde_json::{json, Map, Value};

use crate::catalog::{self, complete, wire};

/// Caching hint on list results (SEP-2549): the fixture's lists only change via `--tools-file`.
const LIST_TTL_MS: u64 = 300_000;

/// Key that seals MRTR `requestState`. Fixed because the fixture has nothing secret to guard;
/// it only has to let the server detect a state the client altered.
const REQUEST_STATE_KEY: &[u8] = b"chamberlain-mcp-fixture-request-state-key";

/// What the command line selects.
#[derive(Clone, Debug, Default)]
pub struct Options {
    /// Number of generated `gen_NNNN` tools.
    pub generated: usize,
    /// Expose only the generated tools and `echo`.
    pub only_generated: bool,
    /// Extra tool definitions, re-read on every `tools/list`.
    pub tools_file: Option<PathBuf>,
}

#[derive(Clone)]
pub struct Fixture {
    inner: Arc<Inner>,
}

struct Inner {
    options: Options,
    /// Static part of `tools/list`, built once (it can be large with `--tools N`).
    static_tools: Vec<Tool>,
    codec: RequestStateCodec,
    /// Tasks (SEP-2663) in memory, each kept for its TTL.
    tasks: TaskManager,
    /// Legacy sessions (and stdio), to send `notifications/tools/list_changed` to.
    peers: Mutex<Vec<Peer<RoleServer>>>,
    /// Open 2026-07-28 `subscriptions/listen` streams.
    listeners: Mutex<HashMap<u64, SubscriptionSink>>,
    next_listener: AtomicU64,
    /// Legacy `resources/subscribe` URIs (recorded only; the resources never change).
    subscribed: Mutex<BTreeSet<String>>,
    /// Sessions that subscribed to anything: `touch_resource` tells all of them.
    subscribers: Mutex<Vec<Peer<RoleServer>>>,
}

impl Fixture {
    pub fn new(options: Options) -> Self {
        let mut static_tools = Vec::new();
        if !options.only_generated {
            static_tools.extend(catalog::conformance_tools());
            static_tools.extend(catalog::gateway_test_tools());
        }
        static_tools.push(catalog::echo_tool());
        static_tools.extend((0..options.generated).map(catalog::generated_tool));
        Self {
            inner: Arc::new(Inner {
                options,
                static_tools,
                codec: RequestStateCodec::try_new(REQUEST_STATE_KEY).expect("key is long enough"),
                tasks: TaskManager::new(),
                peers: Mutex::new(Vec::new()),
                listeners: Mutex::new(HashMap::new()),
                next_listener: AtomicU64::new(0),
                subscribed: Mutex::new(BTreeSet::new()),
                subscribers: Mutex::new(Vec::new()),
            }),
        }
    }

    fn options(&self) -> &Options {
        &self.inner.options
    }

    fn file_tools(&self) -> Result<Vec<Tool>, ErrorData> {
        match &self.options().tools_file {
            None => Ok(Vec::new()),
            Some(path) => match catalog::file_tools(path) {
                Ok(tools) => Ok(tools),
                // A missing file means "no extra tools", so tests can delete it to remove them.
                Err(_) if !path.exists() => Ok(Vec::new()),
                Err(e) => Err(ErrorData::internal_error(e, None)),
            },
        }
    }

    /// Tells every connected client that the tool list changed (after `--tools-file` changed,
    /// or on `test_trigger_tool_change`).
    pub async fn notify_tools_changed(&self) {
        let peers: Vec<Peer<RoleServer>> = {
            let mut peers = self.inner.peers.lock().unwrap();
            peers.retain(|p| !p.is_transport_closed());
            peers.clone()
        };
        for peer in peers {
            let _ = peer.notify_tool_list_changed().await;
        }
        for sink in self.listener_sinks() {
            let _ = sink.notify_tool_list_changed().await;
        }
    }

    fn listener_sinks(&self) -> Vec<SubscriptionSink> {
        self.inner
            .listeners
            .lock()
            .unwrap()
            .values()
            .cloned()
            .collect()
    }

    /// Watches `--tools-file` and announces changes; polling keeps this dependency-free.
    pub fn spawn_tools_file_watch(&self) {
        let Some(path) = self.options().tools_file.clone() else {
            return;
        };
        let fixture = self.clone();
        tokio::spawn(async move {
            let mut last = std::fs::read(&path).ok();
            loop {
                tokio::time::sleep(Duration::from_millis(200)).await;
                let now = std::fs::read(&path).ok();
                if now != last {
                    last = now;
                    fixture.notify_tools_changed().await;
                }
            }
        });
    }

    fn is_known_tool(&self, name: &str) -> bool {
        self.inner.static_tools.iter().any(|t| t.name == name)
    }

    async fn call(
        &self,
        request: CallToolRequestParams,
        cx: RequestContext<RoleServer>,
    ) -> Result<CallToolResponse, ErrorData> {
        let name = request.name.as_ref();
        let args = request.arguments.clone().unwrap_or_default();
        let text_arg = |key: &str| args.get(key).and_then(Value::as_str).unwrap_or_default();

        if name == "echo" {
            return Ok(text(text_arg("message")).into());
        }
        if catalog::generated_index(name, self.options().generated).is_some() {
            return Ok(text(text_arg("text")).into());
        }
        if let Some(tool) = self.file_tools()?.into_iter().find(|t| t.name == name) {
            let body = json!({ "tool": tool.name, "arguments": args });
            return Ok(text(body.to_string()).into());
        }
        if !self.is_known_tool(name) {
            return Err(unknown_tool(name));
        }
        if crate::tasks::is_task_tool(name) {
            return crate::tasks::call(&self.inner.tasks, &request, &cx).await;
        }
        if name.starts_with("test_input_required_result_") {
            return self.call_mrtr(&request, &cx);
        }

        let result = match name {
            "delete_item" => text(format!("deleted {}", text_arg("id"))),
            "touch_resource" => {
                let peers: Vec<Peer<RoleServer>> = {
                    let mut peers = self.inner.subscribers.lock().unwrap();
                    peers.retain(|p| !p.is_transport_closed());
                    peers.clone()
                };
                let uri = text_arg("uri");
                for peer in &peers {
                    let _ = peer
                        .notify_resource_updated(wire(json!({ "uri": uri })))
                        .await;
                }
                text(format!("{uri} changed; told {} sessions", peers.len()))
            }
            "whoami" => text(whoami(&cx).to_string()),
            "test_simple_text" => text("This is a simple text response for testing."),
            "test_image_content" => complete(json!({ "content": [
                { "type": "image", "data": catalog::PNG_BASE64, "mimeType": "image/png" }
            ]})),
            "test_audio_content" => complete(json!({ "content": [
                { "type": "audio", "data": catalog::WAV_BASE64, "mimeType": "audio/wav" }
            ]})),
            "test_embedded_resource" => complete(json!({ "content": [
                { "type": "resource", "resource": { "uri": "test://embedded-resource",
                  "mimeType": "text/plain", "text": "This is an embedded resource content." } }
            ]})),
            "test_multiple_content_types" => complete(json!({ "content": [
                { "type": "text", "text": "Multiple content types test:" },
                { "type": "image", "data": catalog::PNG_BASE64, "mimeType": "image/png" },
                { "type": "resource", "resource": { "uri": "test://mixed-content-resource",
                  "mimeType": "application/json", "text": json!({ "test": "data", "value": 123 }).to_string() } }
            ]})),
            "test_tool_with_logging" => {
                for (i, message) in [
                    "Tool execution started",
                    "Tool processing data",
                    "Tool execution completed",
                ]
                .into_iter()
                .enumerate()
                {
                    if i > 0 {
                        tokio::time::sleep(Duration::from_millis(50)).await;
                    }
                    let _ = cx
                        .peer
                        .notify_logging_message(wire(json!({
                            "level": "info", "logger": "chamberlain-mcp-fixture", "data": message
                        })))
                        .await;
                }
                text("Tool with logging executed successfully")
            }
            "test_tool_with_progress" => {
                let token = cx.meta.get_progress_token();
                if let Some(token) = &token {
                    for (i, step) in [0.0, 50.0, 100.0].into_iter().enumerate() {
                        if i > 0 {
                            tokio::time::sleep(Duration::from_millis(50)).await;
                        }
                        let _ = cx
                            .peer
                            .notify_progress(wire(json!({
                                "progressToken": token, "progress": step, "total": 100,
                                "message": format!("Completed step {step} of 100")
                            })))
                            .await;
                    }
                }
                let token = token.map(|t| serde_json::to_value(t).unwrap_or_default());
                text(match token {
                    Some(Value::String(s)) => s,
                    Some(other) => other.to_string(),
                    None => "0".into(),
                })
            }
            "test_error_handling" => CallToolResult::error(vec![ContentBlock::text(
                "This tool intentionally returns an error for testing",
            )]),
            "test_reconnection" => {
                tokio::time::sleep(Duration::from_millis(100)).await;
                text("Reconnection test completed successfully. If you received this, the client properly reconnected after stream closure.")
            }
            "test_sampling" => {
                let params: CreateMessageRequestParams = wire(json!({
                    "messages": [{ "role": "user", "content": { "type": "text", "text": text_arg("prompt") } }],
                    "maxTokens": 100
                }));
                match cx.peer.create_message(params).await {
                    Ok(result) => {
                        let result = serde_json::to_value(result).unwrap_or_default();
                        let reply = result
                            .pointer("/content/text")
                            .and_then(Value::as_str)
                            .unwrap_or("No response");
                        text(format!("LLM response: {reply}"))
                    }
                    Err(e) => text(format!("Sampling not supported or error: {e}")),
                }
            }
            "test_elicitation" => {
                let schema = json!({
                    "type": "object",
                    "properties": { "response": { "type": "string", "description": "User's response" } },
                    "required": ["response"]
                });
                elicit(&cx, text_arg("message"), schema, "User response").await?
            }
            "test_elicitation_sep1034_defaults" => {
                let schema = json!({
                    "type": "object",
                    "properties": {
                        "name": { "type": "string", "description": "User name", "default": "John Doe" },
                        "age": { "type": "integer", "description": "User age", "default": 30 },
                        "score": { "type": "number", "description": "User score", "default": 95.5 },
                        "status": { "type": "string", "description": "User status",
                                    "enum": ["active", "inactive", "pending"], "default": "active" },
                        "verified": { "type": "boolean", "description": "Verification status", "default": true }
                    },
                    "required": []
                });
                elicit(
                    &cx,
                    "Please review and update the form fields with defaults",
                    schema,
                    "Elicitation completed",
                )
                .await?
            }
            "test_elicitation_sep1330_enums" => {
                let schema = json!({
                    "type": "object",
                    "properties": {
                        "untitledSingle": { "type": "string", "description": "Select one option",
                                            "enum": ["option1", "option2", "option3"] },
                        "titledSingle": { "type": "string", "description": "Select one option with titles",
                            "oneOf": [
                                { "const": "value1", "title": "First Option" },
                                { "const": "value2", "title": "Second Option" },
                                { "const": "value3", "title": "Third Option" }
                            ] },
                        "legacyEnum": { "type": "string", "description": "Select one option (legacy)",
                            "enum": ["opt1", "opt2", "opt3"],
                            "enumNames": ["Option One", "Option Two", "Option Three"] },
                        "untitledMulti": { "type": "array", "description": "Select multiple options",
                            "minItems": 1, "maxItems": 3,
                            "items": { "type": "string", "enum": ["option1", "option2", "option3"] } },
                        "titledMulti": { "type": "array", "description": "Select multiple options with titles",
                            "minItems": 1, "maxItems": 3,
                            "items": { "anyOf": [
                                { "const": "value1", "title": "First Choice" },
                                { "const": "value2", "title": "Second Choice" },
                                { "const": "value3", "title": "Third Choice" }
                            ] } }
                    },
                    "required": []
                });
                elicit(
                    &cx,
                    "Please select options from the enum fields",
                    schema,
                    "Elicitation completed",
                )
                .await?
            }
            "json_schema_2020_12_tool" => text(format!(
                "JSON Schema 2020-12 tool called with: {}",
                Value::Object(args.clone())
            )),
            "test_custom_header" => text(text_arg("value")),
            "test_missing_capability" => {
                let declared = cx.client_capabilities().unwrap_or_default();
                if declared.sampling.is_none() {
                    return Err(ErrorData::missing_required_client_capability(wire(
                        json!({ "sampling": {} }),
                    )));
                }
                text("Success")
            }
            "test_streaming_elicitation" => {
                let mut requests = InputRequests::new();
                requests.insert(
                    "value".into(),
                    elicitation("Provide a value", json!({ "value": { "type": "string" } })),
                );
                return Ok(InputRequiredResult::from_input_requests(requests).into());
            }
            "test_logging_tool" => {
                // 2026-07-28: a server logs only when the request asked for a level.
                if let Some(level) = cx.meta.log_level() {
                    let _ = cx
                        .peer
                        .notify_logging_message(wire(json!({
                            "level": level, "logger": "chamberlain-mcp-fixture",
                            "data": "Diagnostic trace logging activated"
                        })))
                        .await;
                }
                text("Logging evaluated")
            }
            "test_trigger_tool_change" => {
                for sink in self.listener_sinks() {
                    let _ = sink.notify_tool_list_changed().await;
                }
                text("Mutation triggered")
            }
            "test_trigger_prompt_change" => {
                for sink in self.listener_sinks() {
                    let _ = sink.notify_prompt_list_changed().await;
                }
                text("Mutation triggered")
            }
            other => return Err(unknown_tool(other)),
        };
        Ok(result.into())
    }

    /// Multi-round-trip tools (SEP-2322): each answers `input_required` until the retry carries
    /// the answers (and, where used, the sealed `requestState`) it asked for.
    fn call_mrtr(
        &self,
        request: &CallToolRequestParams,
        cx: &RequestContext<RoleServer>,
    ) -> Result<CallToolResponse, ErrorData> {
        let responses = request.input_responses.as_ref();
        let answer = |key: &str| response(responses, key);
        let state = match request.request_state.as_deref() {
            None => None,
            Some(sealed) => Some(self.inner.codec.open_json::<Value>(sealed).map_err(|_| {
                ErrorData::invalid_params("requestState integrity check failed", None)
            })?),
        };
        let kind = |expected: &str| {
            state
                .as_ref()
                .and_then(|s| s.get("kind"))
                .and_then(Value::as_str)
                == Some(expected)
        };
        let mut requests = InputRequests::new();
        let mut new_state = None;
        let name_request = || {
            elicitation(
                "What is your name?",
                json!({ "name": { "type": "string" } }),
            )
        };
        let confirm_request =
            || elicitation("Please confirm", json!({ "ok": { "type": "boolean" } }));

        match request.name.as_ref() {
            "test_input_required_result_elicitation" => {
                if let Some(r) = answer("user_name") {
                    return Ok(text(format!("Hello, {}!", field(r, "name"))).into());
                }
                requests.insert("user_name".into(), name_request());
            }
            "test_input_required_result_sampling" => {
                if let Some(r) = answer("sample_request") {
                    let reply = r
                        .get("content")
                        .and_then(|c| c.get("text"))
                        .and_then(Value::as_str);
                    return Ok(text(format!(
                        "Sampling result: {}",
                        reply.unwrap_or("no response")
                    ))
                    .into());
                }
                requests.insert(
                    "sample_request".into(),
                    sampling("What is the capital of France?"),
                );
            }
            "test_input_required_result_list_roots" => {
                if let Some(r) = answer("roots_request") {
                    let n = r.get("roots").and_then(Value::as_array).map_or(0, Vec::len);
                    return Ok(text(format!("Found {n} root(s)")).into());
                }
                requests.insert("roots_request".into(), roots());
            }
            "test_input_required_result_request_state" => {
                let ok = answer("confirm")
                    .and_then(|r| r.get("content"))
                    .and_then(|c| c.get("ok"));
                if kind("request-state") && ok == Some(&Value::Bool(true)) {
                    return Ok(text("state-ok: requestState validated").into());
                }
                requests.insert("confirm".into(), confirm_request());
                new_state = Some(json!({ "kind": "request-state" }));
            }
            "test_input_required_result_tampered_state" => {
                if kind("tamper-test") && answer("confirm").is_some() {
                    return Ok(text("integrity-ok: state verified").into());
                }
                requests.insert("confirm".into(), confirm_request());
                new_state = Some(json!({ "kind": "tamper-test" }));
            }
            "test_input_required_result_multiple_inputs" => {
                if let (true, Some(name), Some(greeting), Some(client_roots)) = (
                    kind("multiple-inputs"),
                    answer("user_name"),
                    answer("greeting"),
                    answer("client_roots"),
                ) {
                    let greeting = greeting
                        .get("content")
                        .and_then(|c| c.get("text"))
                        .and_then(Value::as_str)
                        .unwrap_or("Hello there!");
                    let n = client_roots
                        .get("roots")
                        .and_then(Value::as_array)
                        .map_or(0, Vec::len);
                    return Ok(text(format!(
                        "Name: {}; Greeting: {greeting}; Roots: {n}",
                        field(name, "name")
                    ))
                    .into());
                }
                requests.insert("user_name".into(), name_request());
                requests.insert(
                    "greeting".into(),
                    sampling("Generate a short friendly greeting"),
                );
                requests.insert("client_roots".into(), roots());
                new_state = Some(json!({ "kind": "multiple-inputs" }));
            }
            "test_input_required_result_multi_round" => {
                let round = state
                    .as_ref()
                    .and_then(|s| s.get("round"))
                    .and_then(Value::as_u64);
                match (round, answer("step1"), answer("step2")) {
                    (Some(1), Some(step1), _) => {
                        requests.insert(
                            "step2".into(),
                            elicitation(
                                "Step 2: What is your favorite color?",
                                json!({ "color": { "type": "string" } }),
                            ),
                        );
                        new_state = Some(json!({ "round": 2, "name": field(step1, "name") }));
                    }
                    (Some(2), _, Some(step2)) => {
                        let name = state
                            .as_ref()
                            .and_then(|s| s.get("name"))
                            .and_then(Value::as_str)
                            .unwrap_or("friend");
                        return Ok(text(format!(
                            "Multi-round complete for {name} who likes {}",
                            field(step2, "color")
                        ))
                        .into());
                    }
                    _ => {
                        requests.insert(
                            "step1".into(),
                            elicitation(
                                "Step 1: What is your name?",
                                json!({ "name": { "type": "string" } }),
                            ),
                        );
                        new_state = Some(json!({ "round": 1 }));
                    }
                }
            }
            "test_input_required_result_capabilities" => {
                if let Some(responses) = responses.filter(|r| !r.is_empty()) {
                    let keys: Vec<&str> = responses.keys().map(String::as_str).collect();
                    return Ok(
                        text(format!("capabilities-ok: received {}", keys.join(","))).into(),
                    );
                }
                let declared = cx.client_capabilities().unwrap_or_default();
                if declared.elicitation.is_some() {
                    requests.insert(
                        "elicit_input".into(),
                        elicitation(
                            "Elicitation input",
                            json!({ "value": { "type": "string" } }),
                        ),
                    );
                }
                if declared.sampling.is_some() {
                    requests.insert("sample_input".into(), sampling("Sample request"));
                }
                if requests.is_empty() {
                    return Ok(text("No supported capabilities declared").into());
                }
            }
            other => return Err(unknown_tool(other)),
        }
        let sealed = match new_state {
            None => None,
            Some(state) => Some(
                self.inner
                    .codec
                    .seal_json(&state)
                    .map_err(|e| ErrorData::internal_error(e.to_string(), None))?,
            ),
        };
        Ok(InputRequiredResult::new(Some(requests), sealed).into())
    }
}

pub(crate) fn text(s: impl Into<String>) -> CallToolResult {
    CallToolResult::success(vec![ContentBlock::text(s)])
}

fn unknown_tool(name: &str) -> ErrorData {
    ErrorData::invalid_params(format!("Unknown tool: {name}"), None)
}

/// An input response usable by the MRTR tools: only a JSON object counts, anything else (a
/// number, null) is treated as missing so the tool asks again.
fn response<'a>(
    responses: Option<&'a InputResponses>,
    key: &str,
) -> Option<&'a Map<String, Value>> {
    responses?.get(key)?.as_object()
}

/// A string field of an elicitation answer's `content`.
fn field<'a>(answer: &'a Map<String, Value>, name: &str) -> &'a str {
    answer
        .get("content")
        .and_then(|c| c.get(name))
        .and_then(Value::as_str)
        .unwrap_or("unknown")
}

pub(crate) fn elicitation(message: &str, properties: Value) -> InputRequest {
    let required: Vec<&String> = properties
        .as_object()
        .map(|p| p.keys().collect())
        .unwrap_or_default();
    InputRequest::Elicitation(wire(json!({
        "method": "elicitation/create",
        "params": {
            "message": message,
            "requestedSchema": { "type": "object", "properties": properties, "required": required }
        }
    })))
}

fn sampling(prompt: &str) -> InputRequest {
    InputRequest::CreateMessage(wire(json!({
        "method": "sampling/createMessage",
        "params": {
            "messages": [{ "role": "user", "content": { "type": "text", "text": prompt } }],
            "maxTokens": 100
        }
    })))
}

fn roots() -> InputRequest {
    InputRequest::ListRoots(wire(json!({ "method": "roots/list" })))
}

/// Sends `elicitation/create` on the call's stream (legacy era) and reports the answer.
async fn elicit(
    cx: &RequestContext<RoleServer>,
    message: &str,
    schema: Value,
    label: &str,
) -> Result<CallToolResult, ErrorData> {
    let params: ElicitRequestParams = serde_json::from_value(json!({
        "mode": "form", "message": message, "requestedSchema": schema
    }))
    .map_err(|e| ErrorData::internal_error(format!("elicitation schema: {e}"), None))?;
    Ok(match cx.peer.create_elicitation(params).await {
        Ok(result) => {
            let result = serde_json::to_value(result).unwrap_or_default();
            let action = result
                .get("action")
                .and_then(Value::as_str)
                .unwrap_or("unknown");
            let content = result.get("content").cloned().unwrap_or_else(|| json!({}));
            text(format!("{label}: action={action}, content={content}"))
        }
        Err(e) => text(format!("Elicitation not supported or error: {e}")),
    })
}

/// `whoami`: what the fixture received, so gateway tests can check which credentials and
/// headers were forwarded. Over stdio there is no HTTP request: both are empty.
fn whoami(cx: &RequestContext<RoleServer>) -> Value {
    let parts = cx.extensions.get::<axum::http::request::Parts>();
    let authorization = parts
        .and_then(|p| p.headers.get(axum::http::header::AUTHORIZATION))
        .map(|v| String::from_utf8_lossy(v.as_bytes()).into_owned());
    let headers: BTreeSet<&str> = parts
        .map(|p| p.headers.keys().map(|k| k.as_str()).collect())
        .unwrap_or_default();
    json!({ "authorization": authorization, "headers": headers })
}

impl ServerHandler for Fixture {
    fn get_info(&self) -> ServerConfig {
        let capabilities: ServerCapabilities = wire(json!({
            "tools": { "listChanged": true },
            "resources": { "subscribe": true, "listChanged": true },
            "prompts": { "listChanged": true },
            "logging": {},
            "completions": {},
            "extensions": { TASKS_EXTENSION_ID: {} }
        }));
        ServerConfig::new(capabilities)
            .with_server_info(Implementation::new(
                "chamberlain-mcp-fixture",
                env!("CARGO_PKG_VERSION"),
            ))
            .with_instructions(
                "Test fixture for Chamberlain: MCP conformance fixtures and gateway test tools",
            )
    }

    /// Lets rmcp check `Mcp-Param-*` headers against the tool's `x-mcp-header` parameters.
    fn get_tool(&self, name: &str) -> Option<Tool> {
        (name == "test_custom_header" && !self.options().only_generated)
            .then(catalog::custom_header_tool)
    }

    async fn on_initialized(&self, context: NotificationContext<RoleServer>) {
        // Only a tool file changes the tool list; without one, keeping every session's peer
        // would only grow memory during benchmarks.
        if self.options().tools_file.is_some() {
            let mut peers = self.inner.peers.lock().unwrap();
            peers.retain(|p| !p.is_transport_closed());
            peers.push(context.peer);
        }
    }

    async fn list_tools(
        &self,
        _request: Option<PaginatedRequestParams>,
        _cx: RequestContext<RoleServer>,
    ) -> Result<ListToolsResult, ErrorData> {
        let mut tools = self.inner.static_tools.clone();
        tools.extend(self.file_tools()?);
        let mut result = ListToolsResult::with_all_items(tools);
        if self.options().tools_file.is_some() {
            // The list can change at any time: tell caches not to keep it.
            result = result.with_ttl_ms(0).with_cache_scope(CacheScope::Public);
        } else {
            result = result
                .with_ttl_ms(LIST_TTL_MS)
                .with_cache_scope(CacheScope::Public);
        }
        Ok(result)
    }

    async fn call_tool(
        &self,
        request: CallToolRequestParams,
        cx: RequestContext<RoleServer>,
    ) -> Result<CallToolResponse, ErrorData> {
        self.call(request, cx).await
    }

    async fn list_resources(
        &self,
        _request: Option<PaginatedRequestParams>,
        _cx: RequestContext<RoleServer>,
    ) -> Result<ListResourcesResult, ErrorData> {
        Ok(ListResourcesResult::with_all_items(catalog::resources())
            .with_ttl_ms(LIST_TTL_MS)
            .with_cache_scope(CacheScope::Public))
    }

    async fn list_resource_templates(
        &self,
        _request: Option<PaginatedRequestParams>,
        _cx: RequestContext<RoleServer>,
    ) -> Result<ListResourceTemplatesResult, ErrorData> {
        Ok(
            ListResourceTemplatesResult::with_all_items(catalog::resource_templates())
                .with_ttl_ms(LIST_TTL_MS)
                .with_cache_scope(CacheScope::Public),
        )
    }

    async fn read_resource(
        &self,
        request: ReadResourceRequestParams,
        _cx: RequestContext<RoleServer>,
    ) -> Result<ReadResourceResponse, ErrorData> {
        let uri = request.uri.as_str();
        match catalog::read_resource(uri) {
            Some(contents) => {
                let result: ReadResourceResult = complete(contents);
                Ok(result
                    .with_ttl_ms(LIST_TTL_MS)
                    .with_cache_scope(CacheScope::Private)
                    .into())
            }
            // SEP-2164: unknown resources are -32602 with the URI in `data`.
            None => Err(ErrorData::invalid_params(
                format!("Resource not found: {uri}"),
                Some(json!({ "uri": uri })),
            )),
        }
    }

    #[allow(deprecated)]
    async fn subscribe(
        &self,
        request: SubscribeRequestParams,
        cx: RequestContext<RoleServer>,
    ) -> Result<(), ErrorData> {
        {
            let mut peers = self.inner.subscribers.lock().unwrap();
            peers.retain(|p| !p.is_transport_closed());
            peers.push(cx.peer);
        }
        self.inner
            .subscribed
            .lock()
            .unwrap()
            .insert(request.uri.to_string());
        Ok(())
    }

    #[allow(deprecated)]
    async fn unsubscribe(
        &self,
        request: UnsubscribeRequestParams,
        _cx: RequestContext<RoleServer>,
    ) -> Result<(), ErrorData> {
        self.inner
            .subscribed
            .lock()
            .unwrap()
            .remove(request.uri.as_str());
        Ok(())
    }

    fn accepted_subscription_filter(
        &self,
        requested: &SubscriptionFilter,
    ) -> Option<SubscriptionFilter> {
        Some(requested.supported_by(&self.get_info().capabilities))
    }

    async fn listen(&self, context: SubscriptionContext) -> Result<(), ErrorData> {
        let key = self.inner.next_listener.fetch_add(1, Ordering::Relaxed);
        self.inner
            .listeners
            .lock()
            .unwrap()
            .insert(key, context.sink().clone());
        context.cancelled().await;
        self.inner.listeners.lock().unwrap().remove(&key);
        Ok(())
    }

    async fn list_prompts(
        &self,
        _request: Option<PaginatedRequestParams>,
        _cx: RequestContext<RoleServer>,
    ) -> Result<ListPromptsResult, ErrorData> {
        Ok(ListPromptsResult::with_all_items(catalog::prompts())
            .with_ttl_ms(LIST_TTL_MS)
            .with_cache_scope(CacheScope::Public))
    }

    async fn get_prompt(
        &self,
        request: GetPromptRequestParams,
        _cx: RequestContext<RoleServer>,
    ) -> Result<GetPromptResponse, ErrorData> {
        if request.name == "test_input_required_result_prompt" {
            if let Some(r) = response(request.input_responses.as_ref(), "user_context") {
                let result: GetPromptResult = complete(json!({ "messages": [{ "role": "user",
                    "content": { "type": "text", "text": format!("Prompt with context: {}", field(r, "context")) } }] }));
                return Ok(result.into());
            }
            let mut requests = InputRequests::new();
            requests.insert(
                "user_context".into(),
                elicitation(
                    "What context should the prompt use?",
                    json!({ "context": { "type": "string" } }),
                ),
            );
            return Ok(InputRequiredResult::from_input_requests(requests).into());
        }
        let args = request.arguments.unwrap_or_default();
        match catalog::get_prompt(&request.name, &args) {
            Some(result) => Ok(complete::<GetPromptResult>(result).into()),
            None => Err(ErrorData::invalid_params(
                format!("Unknown prompt: {}", request.name),
                None,
            )),
        }
    }

    async fn complete(
        &self,
        _request: CompleteRequestParams,
        _cx: RequestContext<RoleServer>,
    ) -> Result<CompleteResult, ErrorData> {
        Ok(complete(
            json!({ "completion": { "values": [], "total": 0, "hasMore": false } }),
        ))
    }

    async fn get_task(
        &self,
        request: GetTaskParams,
        _cx: RequestContext<RoleServer>,
    ) -> Result<GetTaskResult, ErrorData> {
        Ok(GetTaskResult::new(
            self.inner.tasks.get_task(&request.task_id)?,
        ))
    }

    /// Answers pending input requests; unknown or already answered keys are ignored, and a
    /// subset may be answered (the task stays `input_required` until all are).
    async fn update_task(
        &self,
        request: UpdateTaskParams,
        _cx: RequestContext<RoleServer>,
    ) -> Result<(), ErrorData> {
        self.inner
            .tasks
            .update_task(&request.task_id, request.input_responses)
    }

    /// Cooperative: the task settles as `cancelled` when it notices; terminal tasks stay as
    /// they are (the ack is the same).
    async fn cancel_task(
        &self,
        request: CancelTaskParams,
        _cx: RequestContext<RoleServer>,
    ) -> Result<(), ErrorData> {
        self.inner.tasks.cancel_task(&request.task_id)
    }

    async fn set_level(
        &self,
        _request: SetLevelRequestParams,
        _cx: RequestContext<RoleServer>,
    ) -> Result<(), ErrorData> {
        Ok(())
    }
}
