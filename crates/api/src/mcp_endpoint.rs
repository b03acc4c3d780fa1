//! The gateway's HTTP endpoint, `/mcp` (Streamable HTTP), for both protocol eras on one URL:
//!
//! * legacy (2025-03-26 … 2025-11-25): `initialize` opens a session whose id is sealed and
//!   self-contained (any replica serves it); later POSTs carry `Mcp-Session-Id`; GET opens the
//!   stream on which `notifications/tools/list_changed` arrives; DELETE ends the session.
//! * modern (2026-07-28): stateless POSTs whose `_meta` names the version, checked against the
//!   `MCP-Protocol-Version`, `Mcp-Method` and `Mcp-Name` headers (`Mcp-Name` mirrors the tool
//!   name, resource URI or task id); `subscriptions/listen` is the notification stream.
//!
//! Every request needs a bearer token from Chamberlain's authorization server bound to this
//! resource; without one the answer is 401 with `WWW-Authenticate` pointing at the protected
//! resource metadata. The token never goes further than this module.

use crate::state::{AppState, Shared};
use axum::body::{Body, Bytes};
use axum::extract::State;
use axum::http::{HeaderMap, HeaderValue, StatusCode};
use axum::response::{IntoResponse, Response};
use chamberlain_gateway::protocol::{self, code, Caller, LEGACY_VERSIONS, MODERN_VERSION};
use chamberlain_gateway::session::{self, SessionInfo};
use chamberlain_gateway::upstream::{AnswerError, ClientCaps, ClientRef, Relay};
use chamberlain_gateway::Notice;
use serde_json::{json, Value};
use std::time::Duration;

use crate::oauth::{authenticate_mcp as authenticate, authenticate_mcp_call, McpIdentity};

/// Refuses cross-site browser requests (DNS rebinding, drive-by pages): an `Origin`, when
/// present, must be this server's own or a loopback one.
fn origin_allowed(state: &AppState, headers: &HeaderMap) -> bool {
    let Some(origin) = headers.get("origin").and_then(|v| v.to_str().ok()) else {
        return true;
    };
    let own = state.public_url.trim_end_matches('/');
    let own_origin: String = own.splitn(4, '/').take(3).collect::<Vec<_>>().join("/");
    origin == own_origin
        || [
            "http://localhost",
            "http://127.0.0.1",
            "https://localhost",
            "http://[::1]",
        ]
        .iter()
        .any(|p| origin == *p || origin.starts_with(&format!("{p}:")))
}

fn rpc_error(
    status: StatusCode,
    id: &Value,
    code: i64,
    message: &str,
    data: Option<Value>,
) -> Response {
    (status, axum::Json(protocol::error(id, code, message, data))).into_response()
}

fn header<'a>(headers: &'a HeaderMap, name: &str) -> Option<&'a str> {
    headers.get(name).and_then(|v| v.to_str().ok())
}

/// Decodes `=?base64?…?=` header values (non-ASCII names, SEP-2243).
fn header_text(v: &str) -> String {
    use base64::Engine;
    if let Some(inner) = v
        .strip_prefix("=?base64?")
        .and_then(|r| r.strip_suffix("?="))
    {
        if let Ok(bytes) = base64::engine::general_purpose::STANDARD.decode(inner) {
            return String::from_utf8_lossy(&bytes).into_owned();
        }
    }
    v.to_string()
}

/// The request's `Mcp-Param-*` headers (SEP-2243): lowercased name after the prefix, and the
/// value when it is visible ASCII text (None otherwise, refused if the tool names it).
fn param_headers(headers: &HeaderMap) -> chamberlain_gateway::param_headers::Received {
    headers
        .iter()
        .filter_map(|(name, value)| {
            let rest = name.as_str().strip_prefix("mcp-param-")?;
            Some((rest.to_string(), value.to_str().ok().map(str::to_string)))
        })
        .collect()
}

/// Opens a session id presented by `identity`: sealed by this server, theirs, not ended and
/// within its lifetime.
fn live_session(s: &AppState, identity: &McpIdentity, sid: &str) -> Option<SessionInfo> {
    let info = session::open(&s.secrets, sid)?;
    let now = chamberlain_model::Timestamp::now().unix_seconds();
    let fresh = now - info.t < chamberlain_gateway::SESSION_LIFETIME.as_secs() as i64;
    (info.u == identity.user_id
        && info.c == identity.client_id
        && fresh
        && !s.gateway.session_ended(&info.n))
    .then_some(info)
}

/// Whether a message is a request the gateway authorizes against the caller's grants (not a
/// notification, a client's answer, `initialize` or `ping`), so its token check should read
/// them in the same statement.
fn checks_access(msg: &Value) -> bool {
    msg.get("id").is_some()
        && msg
            .get("method")
            .and_then(Value::as_str)
            .is_some_and(|m| !matches!(m, "initialize" | "ping"))
}

/// `POST /mcp`.
pub async fn post(State(s): State<Shared>, headers: HeaderMap, body: Bytes) -> Response {
    if !origin_allowed(&s, &headers) {
        return (StatusCode::FORBIDDEN, "origin not allowed").into_response();
    }
    // Parsed before authentication only to know whether the request's authorization must
    // also read the caller's grants; a body that does not parse is still refused after it.
    let parsed = serde_json::from_slice::<Value>(&body);
    let authenticated = if parsed.as_ref().is_ok_and(checks_access) {
        authenticate_mcp_call(&s, &headers).await
    } else {
        authenticate(&s, &headers).await
    };
    let identity = match authenticated {
        Ok(i) => i,
        Err(resp) => return resp,
    };
    let msg: Value = match parsed {
        Ok(v) => v,
        Err(e) => {
            return rpc_error(
                StatusCode::BAD_REQUEST,
                &Value::Null,
                code::PARSE_ERROR,
                &format!("the body is not JSON: {e}"),
                None,
            )
        }
    };
    if msg.is_array() {
        return rpc_error(
            StatusCode::BAD_REQUEST,
            &Value::Null,
            code::INVALID_REQUEST,
            "JSON-RPC batches are not supported; send one message per request",
            None,
        );
    }
    if !msg.is_object() || msg.get("jsonrpc").and_then(Value::as_str) != Some("2.0") {
        return rpc_error(
            StatusCode::BAD_REQUEST,
            msg.get("id").unwrap_or(&Value::Null),
            code::INVALID_REQUEST,
            "not a JSON-RPC 2.0 message",
            None,
        );
    }
    let id = msg.get("id").cloned().unwrap_or(Value::Null);
    let method = msg
        .get("method")
        .and_then(Value::as_str)
        .unwrap_or("")
        .to_string();
    // A notification gets nothing back; a response answers a server request the gateway
    // relayed to this client.
    let answerable = msg.get("id").is_some() && !method.is_empty();
    let is_response = msg.get("id").is_some()
        && method.is_empty()
        && (msg.get("result").is_some() || msg.get("error").is_some());
    let meta_version = msg
        .pointer("/params/_meta/io.modelcontextprotocol~1protocolVersion")
        .and_then(Value::as_str)
        .map(str::to_string);
    let header_version = header(&headers, "mcp-protocol-version").map(str::to_string);
    let session_header = header(&headers, "mcp-session-id").map(str::to_string);

    let mut caller = Caller {
        user_id: identity.user_id.clone(),
        client_id: identity.client_id.clone(),
        client_name: identity.client_name.clone(),
        session_id: String::new(),
        session_nonce: String::new(),
        protocol: String::new(),
        url_elicitation: false,
        caps: ClientCaps::default(),
        relay: None,
        param_headers: Vec::new(),
        prefetched: identity.prefetched.clone(),
    };
    let mut new_session = None;
    if method == "initialize" && meta_version.is_none() {
        let requested = msg
            .pointer("/params/protocolVersion")
            .and_then(Value::as_str)
            .unwrap_or("");
        let declared = ClientCaps::from_capabilities(msg.pointer("/params/capabilities"));
        let info = SessionInfo {
            u: identity.user_id.clone(),
            c: identity.client_id.clone(),
            v: protocol::negotiate(requested).to_string(),
            t: chamberlain_model::Timestamp::now().unix_seconds(),
            n: chamberlain_model::new_id(),
            e: declared.elicitation_url,
            s: declared.sampling,
            f: declared.elicitation_form,
            r: declared.roots,
        };
        caller.url_elicitation = info.e;
        caller.caps = info.caps();
        caller.session_nonce = info.n.clone();
        let sid = session::mint(&s.secrets, &info);
        caller.protocol = info.v.clone();
        caller.session_id = sid.clone();
        new_session = Some(sid);
    } else if let Some(sid) = &session_header {
        match live_session(&s, &identity, sid) {
            Some(info) => {
                if let Some(v) = &header_version {
                    if !LEGACY_VERSIONS.contains(&v.as_str()) {
                        return rpc_error(StatusCode::BAD_REQUEST, &id, code::INVALID_REQUEST, &format!("MCP-Protocol-Version `{v}` is not a version of this session; supported: {}", LEGACY_VERSIONS.join(", ")), None);
                    }
                }
                caller.caps = info.caps();
                caller.protocol = info.v;
                caller.url_elicitation = info.e;
                caller.session_id = sid.clone();
                caller.session_nonce = info.n;
            }
            _ => {
                return rpc_error(
                    StatusCode::NOT_FOUND,
                    &id,
                    code::INVALID_REQUEST,
                    "session not found: initialize a new session",
                    None,
                );
            }
        }
    } else if let Some(v) = meta_version.clone().or_else(|| {
        header_version
            .clone()
            .filter(|h| h.as_str() >= MODERN_VERSION)
    }) {
        // Stateless (2026-07-28) request: the body's _meta says who the client is, and the
        // headers must agree with it.
        if let (Some(h), Some(m)) = (&header_version, &meta_version) {
            if h != m {
                return rpc_error(StatusCode::BAD_REQUEST, &id, code::HEADER_MISMATCH, &format!("MCP-Protocol-Version header `{h}` differs from params._meta protocolVersion `{m}`"), None);
            }
        }
        if answerable && meta_version.is_none() {
            return rpc_error(StatusCode::BAD_REQUEST, &id, code::INVALID_PARAMS, "params._meta must carry io.modelcontextprotocol/protocolVersion (and clientCapabilities) on 2026-07-28 requests", None);
        }
        if v != MODERN_VERSION {
            return rpc_error(
                StatusCode::BAD_REQUEST,
                &id,
                code::UNSUPPORTED_VERSION,
                "Unsupported protocol version",
                Some(json!({"supported": protocol::supported_versions(), "requested": v})),
            );
        }
        if header_version.is_none() {
            return rpc_error(StatusCode::BAD_REQUEST, &id, code::HEADER_MISMATCH, "the MCP-Protocol-Version header is required and must equal params._meta protocolVersion", None);
        }
        if answerable
            && !msg
                .pointer("/params/_meta/io.modelcontextprotocol~1clientCapabilities")
                .is_some_and(Value::is_object)
        {
            return rpc_error(StatusCode::BAD_REQUEST, &id, code::INVALID_PARAMS, "params._meta must carry io.modelcontextprotocol/clientCapabilities (an object) on 2026-07-28 requests", None);
        }
        if answerable {
            if header(&headers, "mcp-method").map(header_text).as_deref() != Some(method.as_str()) {
                return rpc_error(
                    StatusCode::BAD_REQUEST,
                    &id,
                    code::HEADER_MISMATCH,
                    "the Mcp-Method header must equal the body's method",
                    None,
                );
            }
            let name = msg
                .pointer("/params/name")
                .or_else(|| msg.pointer("/params/uri"))
                .and_then(Value::as_str);
            if ["tools/call", "resources/read", "prompts/get"].contains(&method.as_str())
                && header(&headers, "mcp-name").map(header_text).as_deref() != name
            {
                return rpc_error(
                    StatusCode::BAD_REQUEST,
                    &id,
                    code::HEADER_MISMATCH,
                    "the Mcp-Name header must equal params.name (or params.uri)",
                    None,
                );
            }
            // Tasks extension (SEP-2663): the task id is the routing name.
            if chamberlain_gateway::tasks::METHODS.contains(&method.as_str())
                && header(&headers, "mcp-name").map(header_text).as_deref()
                    != msg.pointer("/params/taskId").and_then(Value::as_str)
            {
                return rpc_error(
                    StatusCode::BAD_REQUEST,
                    &id,
                    code::HEADER_MISMATCH,
                    "the Mcp-Name header must equal params.taskId",
                    None,
                );
            }
            if [
                "initialize",
                "ping",
                "logging/setLevel",
                "resources/subscribe",
                "resources/unsubscribe",
            ]
            .contains(&method.as_str())
            {
                return rpc_error(
                    StatusCode::NOT_FOUND,
                    &id,
                    code::METHOD_NOT_FOUND,
                    &format!("`{method}` does not exist in protocol {MODERN_VERSION}"),
                    None,
                );
            }
        }
        caller.protocol = v;
        let declared = msg.pointer("/params/_meta/io.modelcontextprotocol~1clientCapabilities");
        caller.url_elicitation = protocol::supports_url_elicitation(declared);
        // Input requests of an input_required result are checked against these.
        caller.caps = ClientCaps::from_capabilities(declared);
        // Checked against the tool's x-mcp-header arguments on tools/call.
        caller.param_headers = param_headers(&headers);
        if method == "subscriptions/listen" {
            return listen(&s, identity, id, &msg);
        }
    } else if answerable || is_response {
        return rpc_error(StatusCode::BAD_REQUEST, &id, code::INVALID_REQUEST, "missing Mcp-Session-Id: send initialize first (or a 2026-07-28 request with params._meta protocolVersion)", None);
    }

    if is_response {
        return client_answer(&s, &caller, &msg).await;
    }

    if !answerable {
        return StatusCode::ACCEPTED.into_response();
    }
    let streams = header(&headers, "accept").is_some_and(|a| a.contains("text/event-stream"));
    let answer = if method == "tools/call" && streams {
        match relayed_call(&s, caller.clone(), msg).await {
            Relayed::Done(a) => a,
            Relayed::Streaming(resp) => return resp,
        }
    } else {
        match protocol::handle(&s.gateway, &caller, &msg).await {
            Some(a) => a,
            None => return StatusCode::ACCEPTED.into_response(),
        }
    };
    // 2026-07-28 maps some JSON-RPC errors to HTTP statuses.
    let status = match answer.error_code() {
        Some(code::METHOD_NOT_FOUND) if caller.modern() => StatusCode::NOT_FOUND,
        Some(code::MISSING_CAPABILITY | code::HEADER_MISMATCH) if caller.modern() => {
            StatusCode::BAD_REQUEST
        }
        _ => StatusCode::OK,
    };
    let mut resp = match answer {
        protocol::Answer::Value(v) => (status, axum::Json(v)).into_response(),
        protocol::Answer::Raw(body) => (
            status,
            [(axum::http::header::CONTENT_TYPE, "application/json")],
            body,
        )
            .into_response(),
    };
    if let Some(sid) = new_session {
        if let Ok(v) = HeaderValue::from_str(&sid) {
            resp.headers_mut().insert("mcp-session-id", v);
        }
    }
    resp
}

/// A POSTed JSON-RPC response: the client's answer to a server request the gateway relayed
/// on one of its calls' streams. 202 when the server that asked got it; otherwise an HTTP
/// error with a JSON-RPC error saying why (the spec's "no id" error; `data.id` names it).
async fn client_answer(s: &Shared, caller: &Caller, msg: &Value) -> Response {
    let answered = msg.get("id").cloned().unwrap_or(Value::Null);
    if caller.modern() {
        return rpc_error(
            StatusCode::BAD_REQUEST,
            &Value::Null,
            code::INVALID_REQUEST,
            "2026-07-28 clients do not send responses: server requests come as input_required results",
            Some(json!({"id": answered})),
        );
    }
    let client = ClientRef {
        user: caller.user_id.clone(),
        client: caller.client_id.clone(),
        session: caller.session_nonce.clone(),
    };
    let (status, code, message) = match s.gateway.answer(&client, msg).await {
        Ok(()) => return StatusCode::ACCEPTED.into_response(),
        Err(AnswerError::Unknown(m)) => (StatusCode::NOT_FOUND, code::INVALID_PARAMS, m),
        Err(AnswerError::Malformed(m)) => (StatusCode::BAD_REQUEST, code::INVALID_REQUEST, m),
        Err(AnswerError::Undeliverable(m)) => (
            StatusCode::BAD_GATEWAY,
            code::INTERNAL,
            format!("the server that asked could not be given the answer: {m}"),
        ),
    };
    rpc_error(
        status,
        &Value::Null,
        code,
        &message,
        Some(json!({"id": answered})),
    )
}

/// How a relayed call ended up being answered.
enum Relayed {
    /// No notification came: answer as usual (plain JSON).
    Done(protocol::Answer),
    /// The server sent progress or log messages: an SSE response carrying them, then the answer.
    Streaming(Response),
}

type CallFuture =
    std::pin::Pin<Box<dyn std::future::Future<Output = Option<protocol::Answer>> + Send>>;

/// Runs a `tools/call` whose client accepts SSE, passing the downstream server's progress and
/// log notifications on as they come. Calls that send none are answered with plain JSON (no
/// streaming cost on the fast path).
async fn relayed_call(s: &Shared, mut caller: Caller, msg: Value) -> Relayed {
    let (tx, mut rx) = tokio::sync::mpsc::unbounded_channel();
    caller.relay = Some(Relay {
        tx,
        client: ClientRef {
            user: caller.user_id.clone(),
            client: caller.client_id.clone(),
            session: caller.session_nonce.clone(),
        },
        // Stateless (2026-07-28) clients cannot be sent server requests (their input goes
        // through input_required results instead), whatever they declared.
        caps: if caller.modern() {
            ClientCaps::default()
        } else {
            caller.caps
        },
        pending: s.gateway.pending().clone(),
    });
    let state = s.clone();
    let mut call: CallFuture =
        Box::pin(async move { protocol::handle(&state.gateway, &caller, &msg).await });
    let first = tokio::select! {
        biased;
        answer = &mut call => {
            // Notifications sent before the answer are already queued.
            let mut queued = Vec::new();
            while let Ok(n) = rx.try_recv() {
                queued.push(n);
            }
            let Some(answer) = answer else {
                return Relayed::Done(protocol::Answer::Value(Value::Null));
            };
            if queued.is_empty() {
                return Relayed::Done(answer);
            }
            queued.push(answer.into_value());
            return Relayed::Streaming(sse_response(futures::stream::iter(
                queued.into_iter().map(|v| Ok::<Bytes, std::io::Error>(sse_event(&v))),
            )));
        }
        Some(n) = rx.recv() => n,
    };
    // Stream: what came, what comes, then the answer.
    let stream = futures::stream::unfold(
        (Some(first), Some(call), rx),
        |(pending, call, mut rx)| async move {
            if let Some(v) = pending {
                return Some((Ok::<Bytes, std::io::Error>(sse_event(&v)), (None, call, rx)));
            }
            let mut call = call?;
            tokio::select! {
                biased;
                Some(n) = rx.recv() => Some((Ok(sse_event(&n)), (None, Some(call), rx))),
                answer = &mut call => {
                    let mut last = Vec::new();
                    while let Ok(n) = rx.try_recv() {
                        last.push(sse_event(&n));
                    }
                    if let Some(a) = answer {
                        last.push(sse_event(&a.into_value()));
                    }
                    Some((Ok(Bytes::from(last.concat())), (None, None, rx)))
                }
            }
        },
    );
    Relayed::Streaming(sse_response(stream))
}

fn sse_response<S>(stream: S) -> Response
where
    S: futures::Stream<Item = Result<Bytes, std::io::Error>> + Send + 'static,
{
    let mut resp = Response::new(Body::from_stream(stream));
    let h = resp.headers_mut();
    h.insert(
        axum::http::header::CONTENT_TYPE,
        HeaderValue::from_static("text/event-stream"),
    );
    h.insert(
        axum::http::header::CACHE_CONTROL,
        HeaderValue::from_static("no-cache"),
    );
    h.insert("x-accel-buffering", HeaderValue::from_static("no"));
    resp
}

fn sse_event(v: &Value) -> Bytes {
    Bytes::from(format!("event: message\ndata: {v}\n\n"))
}

/// A stream of `notifications/tools/list_changed` for one user, with keep-alive comments.
fn notification_stream(
    s: &Shared,
    user_id: String,
    first: Option<Value>,
    tag: Option<Value>,
    session: Option<String>,
) -> Response {
    let rx = s.gateway.subscribe();
    let changed = {
        let mut n = json!({"jsonrpc": "2.0", "method": "notifications/tools/list_changed"});
        if let Some(t) = &tag {
            n["params"] = json!({"_meta": {"io.modelcontextprotocol/subscriptionId": t}});
        }
        n
    };
    // Messages of the session's bound downstream sessions (log messages, resource updates)
    // come only to the GET stream of that session.
    let state = (rx, first, (user_id, session), changed);
    let stream = futures::stream::unfold(state, |(mut rx, first, who, changed)| async move {
        if let Some(f) = first {
            return Some((
                Ok::<Bytes, std::io::Error>(sse_event(&f)),
                (rx, None, who, changed),
            ));
        }
        loop {
            match tokio::time::timeout(Duration::from_secs(15), rx.recv()).await {
                Err(_) => {
                    return Some((
                        Ok(Bytes::from_static(b": keep-alive\n\n")),
                        (rx, None, who, changed),
                    ))
                }
                Ok(Ok(Notice::Everyone)) => {
                    return Some((Ok(sse_event(&changed)), (rx, None, who, changed)))
                }
                Ok(Ok(Notice::User(u))) if u == who.0 => {
                    return Some((Ok(sse_event(&changed)), (rx, None, who, changed)))
                }
                Ok(Ok(Notice::Session(n, m))) if who.1.as_ref() == Some(&n) => {
                    return Some((Ok(sse_event(&m)), (rx, None, who, changed)))
                }
                Ok(Ok(_)) => continue,
                Ok(Err(tokio::sync::broadcast::error::RecvError::Lagged(_))) => {
                    return Some((Ok(sse_event(&changed)), (rx, None, who, changed)))
                }
                Ok(Err(_)) => return None,
            }
        }
    });
    sse_response(stream)
}

/// `subscriptions/listen` (2026-07-28): acknowledged first, then list changes tagged with the
/// listen request's id.
fn listen(s: &Shared, identity: McpIdentity, id: Value, msg: &Value) -> Response {
    let wants_tools = msg
        .pointer("/params/notifications/toolsListChanged")
        .and_then(Value::as_bool)
        .unwrap_or(true);
    let ack = json!({"jsonrpc": "2.0", "method": "notifications/subscriptions/acknowledged", "params": {"_meta": {"io.modelcontextprotocol/subscriptionId": id}}});
    if !wants_tools {
        return notification_stream(s, String::new(), Some(ack), Some(id), None);
    }
    notification_stream(s, identity.user_id, Some(ack), Some(id), None)
}

/// `GET /mcp`: the legacy session's server-to-client stream.
pub async fn get(State(s): State<Shared>, headers: HeaderMap) -> Response {
    if !origin_allowed(&s, &headers) {
        return (StatusCode::FORBIDDEN, "origin not allowed").into_response();
    }
    let identity = match authenticate(&s, &headers).await {
        Ok(i) => i,
        Err(resp) => return resp,
    };
    let Some(sid) = header(&headers, "mcp-session-id") else {
        return (StatusCode::METHOD_NOT_ALLOWED, "GET needs an Mcp-Session-Id (legacy sessions); 2026-07-28 clients use subscriptions/listen").into_response();
    };
    match live_session(&s, &identity, sid) {
        Some(info) => notification_stream(&s, identity.user_id, None, None, Some(info.n)),
        _ => rpc_error(
            StatusCode::NOT_FOUND,
            &Value::Null,
            code::INVALID_REQUEST,
            "session not found: initialize a new session",
            None,
        ),
    }
}

/// `DELETE /mcp`: ends a legacy session on every replica; its id then answers 404.
pub async fn delete(State(s): State<Shared>, headers: HeaderMap) -> Response {
    let identity = match authenticate(&s, &headers).await {
        Ok(i) => i,
        Err(resp) => return resp,
    };
    let Some(info) =
        header(&headers, "mcp-session-id").and_then(|sid| live_session(&s, &identity, sid))
    else {
        return rpc_error(
            StatusCode::NOT_FOUND,
            &Value::Null,
            code::INVALID_REQUEST,
            "session not found",
            None,
        );
    };
    match s.gateway.end_session(&info.n).await {
        Ok(()) => StatusCode::OK.into_response(),
        Err(e) => {
            tracing::error!(error = %e, "ending an MCP session failed");
            rpc_error(
                StatusCode::SERVICE_UNAVAILABLE,
                &Value::Null,
                code::INTERNAL,
                "the session could not be ended; retry",
                None,
            )
        }
    }
}
