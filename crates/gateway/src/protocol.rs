//! The MCP methods the gateway answers, independent of HTTP: `initialize`, `ping`,
//! `tools/list`, `tools/call`, `server/discover`, the resources, prompts and completions of
//! [`crate::features`], and notifications. Both protocol eras share this; the HTTP layer
//! handles sessions, headers and streams.

use crate::features::{self, Kind};
use crate::{denial_text, Gateway};
use chamberlain_model::{new_id, Timestamp};
use chamberlain_store::repo::mcp::AuditRecord;
use serde_json::{json, Value};
use std::time::Instant;

/// Legacy (session) protocol versions the gateway speaks, newest first.
pub const LEGACY_VERSIONS: &[&str] = &["2025-11-25", "2025-06-18", "2025-03-26"];
/// The stateless protocol version.
pub const MODERN_VERSION: &str = "2026-07-28";

/// JSON-RPC error codes used here.
pub mod code {
    /// Malformed JSON.
    pub const PARSE_ERROR: i64 = -32700;
    /// Not a valid request object.
    pub const INVALID_REQUEST: i64 = -32600;
    /// Unknown method.
    pub const METHOD_NOT_FOUND: i64 = -32601;
    /// Bad params.
    pub const INVALID_PARAMS: i64 = -32602;
    /// Server-side failure.
    pub const INTERNAL: i64 = -32603;
    /// The request needs a URL-mode elicitation first (2025-11-25 `URLElicitationRequiredError`).
    pub const URL_ELICITATION_REQUIRED: i64 = -32042;
    /// Header and body disagree (2026-07-28).
    pub const HEADER_MISMATCH: i64 = -32020;
    /// The request needs a client capability the client did not declare (2026-07-28).
    pub const MISSING_CAPABILITY: i64 = -32021;
    /// Unsupported protocol version (2026-07-28).
    pub const UNSUPPORTED_VERSION: i64 = -32022;
}

/// Who is calling, as the HTTP layer established it.
#[derive(Clone, Debug)]
pub struct Caller {
    /// The user.
    pub user_id: String,
    /// The AI client (OAuth client id).
    pub client_id: String,
    /// The AI client's name, for the audit.
    pub client_name: String,
    /// Legacy session id ("" for stateless requests).
    pub session_id: String,
    /// The legacy session's nonce ("" for stateless requests): what downstream sessions
    /// bound to this client session are keyed by.
    pub session_nonce: String,
    /// Protocol version of this request.
    pub protocol: String,
    /// Whether the client declared URL-mode elicitation (`capabilities.elicitation.url`), so a
    /// missing downstream connection can be answered with the connect URL as an elicitation.
    pub url_elicitation: bool,
    /// What the client declared it can answer (legacy `initialize`, or 2026-07-28 `_meta`).
    pub caps: crate::upstream::ClientCaps,
    /// Where progress and log notifications and server requests of a running `tools/call`
    /// go (the HTTP layer streams them before the answer); None drops the notifications and
    /// refuses the requests.
    pub relay: Option<crate::upstream::Relay>,
    /// The request's `Mcp-Param-*` headers (2026-07-28 only; checked on `tools/call`
    /// against the tool's `x-mcp-header` arguments).
    pub param_headers: crate::param_headers::Received,
    /// The caller's grants, read with the token check of this request (None: read them here).
    pub prefetched: Option<Prefetched>,
}

/// A caller's grants in the gateway's apps, read by the same statement as the token's
/// authorization check (`repo::oauth::mcp_check`), so a call costs one database read. They
/// are as current as a separate read would be; they stand only for the index whose app list
/// they were read for (a rebuilt index reads again).
#[derive(Clone, Debug)]
pub struct Prefetched {
    /// The index the grants were read for.
    pub index: std::sync::Arc<crate::index::Index>,
    /// `(entitlement id, deprovision at)` of each live grant.
    pub grants: std::sync::Arc<Vec<(String, Option<Timestamp>)>>,
}

/// Whether client capabilities (`initialize` params or 2026-07-28 `_meta`) include URL-mode
/// elicitation. A bare `elicitation: {}` means form mode only.
pub fn supports_url_elicitation(capabilities: Option<&Value>) -> bool {
    capabilities
        .and_then(|c| c.get("elicitation"))
        .and_then(|e| e.get("url"))
        .is_some_and(Value::is_object)
}

impl Caller {
    /// Whether the request is in the stateless (2026-07-28) era.
    pub fn modern(&self) -> bool {
        self.protocol.as_str() >= MODERN_VERSION
    }

    /// The legacy client session, if this request belongs to one.
    pub fn session(&self) -> Option<&str> {
        (!self.modern() && !self.session_nonce.is_empty()).then_some(self.session_nonce.as_str())
    }

    /// Requests of this client session to a server go on the downstream session bound to it
    /// (opened when `open`, else only if there is one).
    pub fn binding(&self, open: bool) -> Option<crate::upstream::Binding<'_>> {
        self.session().map(|nonce| crate::upstream::Binding {
            nonce,
            user: &self.user_id,
            open,
            caps: self.caps,
        })
    }
}

/// A JSON-RPC error object.
pub fn error(id: &Value, code: i64, message: &str, data: Option<Value>) -> Value {
    let mut e = json!({"code": code, "message": message});
    if let Some(d) = data {
        e["data"] = d;
    }
    json!({"jsonrpc": "2.0", "id": id, "error": e})
}

/// A JSON-RPC result.
pub(crate) fn ok(id: &Value, result: Value) -> Value {
    json!({"jsonrpc": "2.0", "id": id, "result": result})
}

/// Capabilities the gateway offers. Resources and prompts announce no `listChanged`: the
/// gateway does not relay downstream list changes. Legacy sessions get resource
/// subscriptions and logging (relayed through downstream sessions bound to the client
/// session); 2026-07-28 has neither method, and gets the Tasks extension ([`crate::tasks`]).
pub fn capabilities(modern: bool) -> Value {
    if modern {
        json!({"tools": {"listChanged": true}, "resources": {}, "prompts": {}, "completions": {},
            "extensions": {crate::tasks::EXTENSION: {}}})
    } else {
        json!({"tools": {"listChanged": true}, "resources": {"subscribe": true}, "prompts": {},
            "completions": {}, "logging": {}})
    }
}

/// Log levels of `logging/setLevel` (RFC 5424 severities).
pub const LOG_LEVELS: &[&str] = &[
    "debug",
    "info",
    "notice",
    "warning",
    "error",
    "critical",
    "alert",
    "emergency",
];

/// The gateway's identity in results.
pub fn server_info() -> Value {
    json!({"name": "chamberlain", "title": "Chamberlain MCP gateway", "version": env!("CARGO_PKG_VERSION")})
}

/// Instructions shown to AI clients.
pub const INSTRUCTIONS: &str = "Tools here are governed by Chamberlain: you see the tools your access grants you right now, and the resources and prompts of the servers those tools belong to. If a call is denied, request access in Chamberlain's catalog.";

/// Picks the version for an `initialize` request: the client's when supported, else the
/// newest legacy one.
pub fn negotiate(requested: &str) -> &'static str {
    LEGACY_VERSIONS
        .iter()
        .find(|v| **v == requested)
        .copied()
        .unwrap_or(LEGACY_VERSIONS[0])
}

/// Adds what modern-era results carry (`resultType`, and for lists `ttlMs` and a private
/// cache scope: lists vary per user).
pub(crate) fn modern_result(caller: &Caller, mut result: Value, list: bool) -> Value {
    if caller.modern() {
        if result.get("resultType").is_none() {
            result["resultType"] = json!("complete");
        }
        if result.get("_meta").is_none_or(|m| !m.is_object()) {
            result["_meta"] = json!({});
        }
        result["_meta"]["io.modelcontextprotocol/serverInfo"] = server_info();
        if list {
            result["ttlMs"] = json!(0);
            result["cacheScope"] = json!("private");
        }
    }
    result
}

/// Answers one request (`Some(response)`) or notification (`None`).
pub async fn handle(gw: &Gateway, caller: &Caller, msg: &Value) -> Option<Answer> {
    let method = msg.get("method").and_then(Value::as_str).unwrap_or("");
    let Some(id) = msg.get("id").cloned() else {
        // Notifications (initialized, cancelled, roots changed): nothing to answer.
        return None;
    };
    let params = msg.get("params").cloned().unwrap_or(Value::Null);
    let started = Instant::now();
    let answer = match method {
        "initialize" => {
            let requested = params
                .get("protocolVersion")
                .and_then(Value::as_str)
                .unwrap_or("");
            ok(
                &id,
                json!({
                    "protocolVersion": negotiate(requested),
                    "capabilities": capabilities(false),
                    "serverInfo": server_info(),
                    "instructions": INSTRUCTIONS,
                }),
            )
        }
        "ping" => ok(&id, modern_result(caller, json!({}), false)),
        "logging/setLevel" => set_log_level(gw, caller, &id, &params, started).await,
        "resources/subscribe" => features::subscribe(gw, caller, &id, &params, true, started).await,
        "resources/unsubscribe" => {
            features::subscribe(gw, caller, &id, &params, false, started).await
        }
        "server/discover" => ok(
            &id,
            modern_result(
                caller,
                json!({
                    "supportedVersions": supported_versions(),
                    "capabilities": capabilities(true),
                    "serverInfo": server_info(),
                    "instructions": INSTRUCTIONS,
                }),
                true,
            ),
        ),
        "resources/list" => features::list(gw, caller, &id, Kind::Resources, started).await,
        "resources/templates/list" => {
            features::list(gw, caller, &id, Kind::Templates, started).await
        }
        "prompts/list" => features::list(gw, caller, &id, Kind::Prompts, started).await,
        "resources/read" => features::read_resource(gw, caller, &id, &params, started).await,
        "prompts/get" => features::get_prompt(gw, caller, &id, &params, started).await,
        "completion/complete" => features::complete(gw, caller, &id, &params, started).await,
        "tools/list" => return Some(list_tools(gw, caller, &id, started).await),
        "tools/call" => call_tool(gw, caller, &id, &params, started).await,
        "tasks/get" | "tasks/update" | "tasks/cancel" => {
            crate::tasks::handle(gw, caller, &id, method, &params, started).await
        }
        "" => error(
            &id,
            code::INVALID_REQUEST,
            "the request has no method",
            None,
        ),
        other => error(
            &id,
            code::METHOD_NOT_FOUND,
            &format!("method `{other}` is not supported by this gateway"),
            None,
        ),
    };
    Some(Answer::Value(answer))
}

/// Every version the gateway speaks.
pub fn supported_versions() -> Vec<&'static str> {
    let mut v = vec![MODERN_VERSION];
    v.extend_from_slice(LEGACY_VERSIONS);
    v
}

fn audit(
    gw: &Gateway,
    caller: &Caller,
    method: &str,
    tool: Option<&chamberlain_model::mcp::McpTool>,
    name: &str,
    outcome: (&str, String),
    started: Instant,
) {
    let target = tool
        .map(|t| (t.connector_id.as_str(), t.id.as_str()))
        .unwrap_or_default();
    audit_target(gw, caller, method, target, name, outcome, started);
}

/// Records one audit record about `(server id, tool id)` (either may be empty) and `name` (a
/// tool or prompt name, or a resource URI).
pub(crate) fn audit_target(
    gw: &Gateway,
    caller: &Caller,
    method: &str,
    (server_id, tool_id): (&str, &str),
    name: &str,
    (result, reason): (&str, String),
    started: Instant,
) {
    gw.audit().record(AuditRecord {
        id: new_id(),
        at: Timestamp::now(),
        user_id: caller.user_id.clone(),
        client_id: caller.client_id.clone(),
        session_id: caller.session_id.clone(),
        method: method.to_string(),
        server_id: server_id.to_string(),
        tool_id: tool_id.to_string(),
        tool_name: name.to_string(),
        result: result.to_string(),
        reason,
        latency_us: started.elapsed().as_micros() as i64,
        doc: json!({"protocolVersion": caller.protocol, "clientName": caller.client_name}),
    });
}

/// The user's grants and the index, or the answer to give when they cannot be read.
pub(crate) async fn access(
    gw: &Gateway,
    caller: &Caller,
    id: &Value,
    method: &str,
    name: &str,
    started: Instant,
) -> Result<
    (
        std::sync::Arc<crate::index::Index>,
        std::collections::HashSet<String>,
    ),
    Value,
> {
    let index = gw.index();
    let held = match &caller.prefetched {
        Some(p) if std::sync::Arc::ptr_eq(&p.index, &index) => {
            Ok(index.held(&p.grants, Timestamp::now()))
        }
        _ => gw.held(&index, &caller.user_id).await,
    };
    match held {
        Ok(held) => Ok((index, held)),
        Err(e) => {
            tracing::error!(error = %e, method, "reading grants failed");
            audit_target(
                gw,
                caller,
                method,
                ("", ""),
                name,
                ("ERROR", format!("reading grants failed: {e}")),
                started,
            );
            Err(error(
                id,
                code::INTERNAL,
                "the gateway could not read your access; retry",
                None,
            ))
        }
    }
}

/// `params.name` and `params.arguments` (absent, or an object) of a call-like request, or the
/// refusal naming what to fix.
pub(crate) fn name_and_arguments<'a>(
    id: &Value,
    params: &'a Value,
    missing_name: &str,
    bad_arguments: &str,
) -> Result<(&'a str, Value), Value> {
    let Some(name) = params.get("name").and_then(Value::as_str) else {
        return Err(error(id, code::INVALID_PARAMS, missing_name, None));
    };
    let arguments = params.get("arguments").cloned().unwrap_or(Value::Null);
    if !arguments.is_null() && !arguments.is_object() {
        return Err(error(id, code::INVALID_PARAMS, bad_arguments, None));
    }
    Ok((name, arguments))
}

/// An answer: a JSON-RPC message, or one already rendered (large lists are assembled from
/// pre-serialized parts instead of being built and serialized per request).
#[derive(Debug)]
pub enum Answer {
    /// A message to serialize.
    Value(Value),
    /// A serialized message.
    Raw(String),
}

impl Answer {
    /// The JSON-RPC error code, when the answer is an error.
    pub fn error_code(&self) -> Option<i64> {
        match self {
            Answer::Value(v) => v.pointer("/error/code").and_then(Value::as_i64),
            Answer::Raw(_) => None,
        }
    }

    /// The answer as a JSON value (tests, SSE framing).
    pub fn into_value(self) -> Value {
        match self {
            Answer::Value(v) => v,
            Answer::Raw(s) => serde_json::from_str(&s).unwrap_or(Value::Null),
        }
    }
}

async fn list_tools(gw: &Gateway, caller: &Caller, id: &Value, started: Instant) -> Answer {
    let (index, held) = match access(gw, caller, id, "tools/list", "", started).await {
        Ok(a) => a,
        Err(answer) => return Answer::Value(answer),
    };
    // Each tool's listing is serialized once when the index is built; a list is those parts
    // joined into the envelope (the rest of the result comes from `modern_result`).
    let mut n = 0usize;
    let mut tools = String::with_capacity(64 * 1024);
    for e in index.visible(&held) {
        if n > 0 {
            tools.push(',');
        }
        tools.push_str(&e.listing_json);
        n += 1;
    }
    audit(
        gw,
        caller,
        "tools/list",
        None,
        "",
        ("SUCCESS", format!("{n} tools listed")),
        started,
    );
    let rest = modern_result(caller, json!({}), true);
    let mut out = format!(r#"{{"jsonrpc":"2.0","id":{id},"result":{{"tools":[{tools}]"#);
    if let Some(map) = rest.as_object() {
        for (k, v) in map {
            out.push_str(&format!(",{}:{v}", Value::String(k.clone())));
        }
    }
    out.push_str("}}");
    Answer::Raw(out)
}

/// `logging/setLevel`: forwarded to every remote server the user may use, on downstream
/// sessions bound to this client session, so the servers' log messages reach this client
/// only. A server that fails or has no logging does not fail the request.
async fn set_log_level(
    gw: &Gateway,
    caller: &Caller,
    id: &Value,
    params: &Value,
    started: Instant,
) -> Value {
    let Some(level) = params
        .get("level")
        .and_then(Value::as_str)
        .filter(|l| LOG_LEVELS.contains(l))
    else {
        return error(
            id,
            code::INVALID_PARAMS,
            &format!(
                "logging/setLevel needs params.level, one of: {}",
                LOG_LEVELS.join(", ")
            ),
            None,
        );
    };
    let Some(bind) = caller.binding(true) else {
        return ok(id, modern_result(caller, json!({}), false));
    };
    let (index, held) = match access(gw, caller, id, "logging/setLevel", level, started).await {
        Ok(a) => a,
        Err(answer) => return answer,
    };
    let servers: Vec<String> = index
        .servers_for(&held)
        .into_iter()
        .filter(|s| matches!(crate::endpoint_of(s), crate::upstream::Endpoint::Http(_)))
        .map(|s| s.connector_id.clone())
        .collect();
    drop(index);
    let calls = servers.iter().map(|server| async move {
        let sent = tokio::time::timeout(
            std::time::Duration::from_secs(10),
            gw.request_bound(
                server,
                "logging/setLevel",
                json!({ "level": level }),
                &caller.user_id,
                None,
                Some(bind),
            ),
        )
        .await;
        let why = match sent {
            Ok(Ok(_)) => return,
            Ok(Err(e)) => e.to_string(),
            Err(_) => "no answer within 10 s".to_string(),
        };
        tracing::debug!(server = %server, error = %why, "a server did not take logging/setLevel");
    });
    futures::future::join_all(calls).await;
    audit_target(
        gw,
        caller,
        "logging/setLevel",
        ("", ""),
        level,
        ("SUCCESS", format!("forwarded to {} servers", servers.len())),
        started,
    );
    ok(id, modern_result(caller, json!({}), false))
}

fn denied(id: &Value, caller: &Caller, name: &str) -> Value {
    ok(
        id,
        modern_result(
            caller,
            json!({"content": [{"type": "text", "text": denial_text(name)}], "isError": true}),
            false,
        ),
    )
}

/// A call the gateway could not complete: audited as an ERROR with `why`, answered as a tool
/// result with `isError` and `text`, so the model sees what happened.
fn call_failed(
    gw: &Gateway,
    caller: &Caller,
    id: &Value,
    (tool, name): (&chamberlain_model::mcp::McpTool, &str),
    why: String,
    text: &str,
    started: Instant,
) -> Value {
    audit(
        gw,
        caller,
        "tools/call",
        Some(tool),
        name,
        ("ERROR", why),
        started,
    );
    ok(
        id,
        modern_result(
            caller,
            json!({"content": [{"type": "text", "text": text}], "isError": true}),
            false,
        ),
    )
}

async fn call_tool(
    gw: &Gateway,
    caller: &Caller,
    id: &Value,
    params: &Value,
    started: Instant,
) -> Value {
    let (name, arguments) = match name_and_arguments(
        id,
        params,
        "tools/call needs params.name (the tool to call)",
        "params.arguments must be an object",
    ) {
        Ok(v) => v,
        Err(answer) => return answer,
    };
    let (index, held) = match access(gw, caller, id, "tools/call", name, started).await {
        Ok(a) => a,
        Err(answer) => return answer,
    };
    let entry = match index.decide(name, &held) {
        Ok(e) => e,
        Err((denial, entry)) => {
            audit(
                gw,
                caller,
                "tools/call",
                entry.as_ref().map(|e| &e.tool),
                name,
                ("DENIED", denial.reason()),
                started,
            );
            return denied(id, caller, name);
        }
    };
    drop(index);
    // 2026-07-28 (SEP-2243): the Mcp-Param-* headers must mirror the arguments the tool's
    // input schema marks with x-mcp-header, as the client saw the tool in tools/list.
    if caller.modern() {
        if let Err(refusal) = crate::param_headers::check(
            name,
            &entry.param_headers,
            &arguments,
            &caller.param_headers,
        ) {
            audit(
                gw,
                caller,
                "tools/call",
                Some(&entry.tool),
                name,
                ("DENIED", format!("Mcp-Param headers: {}", refusal.message)),
                started,
            );
            return error(
                id,
                code::HEADER_MISMATCH,
                &refusal.message,
                Some(refusal.data),
            );
        }
    }
    let scope = crate::mrtr::Scope {
        user: &caller.user_id,
        client: &caller.client_id,
        method: "tools/call",
        name,
    };
    let now = chamberlain_model::Timestamp::now().unix_seconds();
    // A retry of an input_required result: its state must be the gateway's, for this caller
    // and tool, and current.
    let retry = if caller.modern() {
        match crate::mrtr::retry(gw.secrets(), params, scope, now) {
            Ok(r) => r,
            Err(why) => {
                audit(
                    gw,
                    caller,
                    "tools/call",
                    Some(&entry.tool),
                    name,
                    ("DENIED", why.clone()),
                    started,
                );
                return error(id, code::INVALID_PARAMS, &why, None);
            }
        }
    } else {
        None
    };
    let progress_token = params.pointer("/_meta/progressToken").cloned();
    let modern = if caller.modern() {
        let mut down = json!({"name": entry.tool.tool_name});
        if !arguments.is_null() {
            down["arguments"] = arguments.clone();
        }
        if let Some(t) = &progress_token {
            down["_meta"] = json!({ "progressToken": t });
        }
        // The server logs to this call's stream only at the level the client asked for.
        if let Some(level) = params.pointer("/_meta/io.modelcontextprotocol~1logLevel") {
            down["_meta"]["io.modelcontextprotocol/logLevel"] = level.clone();
        }
        if let Some(r) = &retry {
            r.apply(&mut down);
        }
        // Sent as a conformant client would (the downstream checks them too).
        let headers = crate::param_headers::outgoing(&entry.param_headers, &arguments);
        gw.request_modern(
            &entry.tool.connector_id,
            ("tools/call", &headers),
            down,
            &caller.user_id,
            caller.caps,
            caller.relay.as_ref(),
        )
        .await
        .transpose()
    } else {
        None
    };
    let outcome = match modern {
        Some(outcome) => outcome,
        None => {
            gw.call_tool(
                &entry.tool,
                arguments,
                &caller.user_id,
                progress_token,
                caller.relay.as_ref(),
                // A client session with a bound downstream session calls on it, so the
                // server's log messages on its standalone stream reach this client.
                caller.binding(false),
            )
            .await
        }
    };
    match outcome {
        Ok(result) if caller.modern() && is_input_required(&result) => {
            match crate::mrtr::pass_on(gw.secrets(), scope, caller.caps, result, now) {
                Ok(result) => {
                    audit(
                        gw,
                        caller,
                        "tools/call",
                        Some(&entry.tool),
                        name,
                        (
                            "SUCCESS",
                            "the server asked the client for input (input_required)".into(),
                        ),
                        started,
                    );
                    ok(id, modern_result(caller, result, false))
                }
                Err(why) => {
                    let text = format!("The server behind tool `{name}` needs input the gateway cannot ask this client for: {why}");
                    call_failed(gw, caller, id, (&entry.tool, name), why, &text, started)
                }
            }
        }
        Ok(result) if caller.modern() && crate::tasks::is_created(&result) => {
            crate::tasks::created(gw, caller, id, (&entry.tool, name), result, started)
        }
        Ok(result) => {
            let is_error = result
                .get("isError")
                .and_then(Value::as_bool)
                .unwrap_or(false);
            audit(
                gw,
                caller,
                "tools/call",
                Some(&entry.tool),
                name,
                (
                    if is_error { "ERROR" } else { "SUCCESS" },
                    if is_error {
                        "the tool reported an error".into()
                    } else {
                        String::new()
                    },
                ),
                started,
            );
            ok(id, modern_result(caller, result, false))
        }
        Err(crate::upstream::UpstreamError::ConnectionRequired(denial)) => {
            audit(
                gw,
                caller,
                "tools/call",
                Some(&entry.tool),
                name,
                ("DENIED", denial.reason()),
                started,
            );
            connection_required(gw, caller, id, params, name, &entry.tool, &denial)
        }
        Err(crate::upstream::UpstreamError::Rpc {
            code,
            message,
            data,
        }) => {
            audit(
                gw,
                caller,
                "tools/call",
                Some(&entry.tool),
                name,
                ("ERROR", format!("server error {code}: {message}")),
                started,
            );
            json!({"jsonrpc": "2.0", "id": id, "error": {"code": code, "message": message, "data": data}})
        }
        Err(e) => {
            let text = format!("The server behind tool `{name}` could not complete the call: {e}");
            call_failed(
                gw,
                caller,
                id,
                (&entry.tool, name),
                e.to_string(),
                &text,
                started,
            )
        }
    }
}

fn is_input_required(result: &Value) -> bool {
    result.get("resultType").and_then(Value::as_str) == Some("input_required")
}

/// The answer to a call whose server needs the user's own connection: a URL-mode elicitation
/// pointing at the connect page (`-32042` in the session era, an `input_required` result in
/// 2026-07-28) for clients that declared it, else a tool error carrying the same URL. A server
/// whose service identity is not authorized gets the plain denial (users cannot fix that).
fn connection_required(
    gw: &Gateway,
    caller: &Caller,
    id: &Value,
    params: &Value,
    name: &str,
    tool: &chamberlain_model::mcp::McpTool,
    denial: &crate::index::Denial,
) -> Value {
    if *denial == crate::index::Denial::ServiceNotAuthorized {
        return denied(id, caller, name);
    }
    match connection_elicitation(
        gw,
        caller,
        id,
        params,
        ("tools/call", name),
        &tool.connector_id,
        denial,
    ) {
        Ok(answer) => answer,
        Err(hint) => ok(
            id,
            modern_result(
                caller,
                json!({
                    "content": [{"type": "text", "text": format!(
                        "Tool `{name}` needs your {} account, which is not connected. {} it at {} and try again.",
                        hint.server, hint.verb, hint.url
                    )}],
                    "isError": true,
                }),
                false,
            ),
        ),
    }
}

/// Where a user connects their account to a server, for answers that cannot elicit.
pub(crate) struct ConnectHint {
    /// The server's display name.
    pub server: String,
    /// "Connect" or "Reconnect".
    pub verb: &'static str,
    /// The connect page.
    pub url: String,
}

/// The URL-mode elicitation that sends the user to the connect page of `server_id` (`-32042`
/// in the session era, an `input_required` result in 2026-07-28) when the client declared it
/// and this is not already a retry; else what the fallback answer needs.
pub(crate) fn connection_elicitation(
    gw: &Gateway,
    caller: &Caller,
    id: &Value,
    params: &Value,
    (method, name): (&str, &str),
    server_id: &str,
    denial: &crate::index::Denial,
) -> Result<Value, ConnectHint> {
    let server = gw
        .index()
        .servers
        .get(server_id)
        .map(|s| s.display_name.clone())
        .unwrap_or_else(|| "the server".into());
    let elicitation_id = new_id();
    let url = format!("{}?elicitation={elicitation_id}", gw.connect_url(server_id));
    let verb = if matches!(denial, crate::index::Denial::ConnectionNeedsReconnect(_)) {
        "Reconnect"
    } else {
        "Connect"
    };
    // A retry that answered the elicitation but still finds no connection gets the fallback,
    // so a client cannot loop on input requests.
    let retried = params.get("inputResponses").is_some();
    if !caller.url_elicitation || retried {
        return Err(ConnectHint { server, verb, url });
    }
    let message = format!(
        "{verb} your {server} account to use `{name}`: open the link, sign in to Chamberlain and authorize, then try again."
    );
    let elicitation = json!({
        "mode": "url",
        "elicitationId": elicitation_id,
        "url": url,
        "message": message,
    });
    if caller.modern() {
        return Ok(ok(
            id,
            modern_result(
                caller,
                json!({
                    "resultType": "input_required",
                    "inputRequests": {
                        "connect": {"method": "elicitation/create", "params": elicitation}
                    },
                    "requestState": crate::mrtr::seal(
                        gw.secrets(),
                        crate::mrtr::Scope {
                            user: &caller.user_id,
                            client: &caller.client_id,
                            method,
                            name,
                        },
                        None,
                        true,
                        chamberlain_model::Timestamp::now().unix_seconds(),
                    ),
                }),
                false,
            ),
        ));
    }
    Ok(error(
        id,
        code::URL_ELICITATION_REQUIRED,
        &format!("{verb} your {server} account first"),
        Some(json!({"elicitations": [elicitation]})),
    ))
}
