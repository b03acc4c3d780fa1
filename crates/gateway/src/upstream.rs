//! Downstream MCP clients: how the gateway talks to the servers it fronts.
//!
//! * Remote servers speak Streamable HTTP. The gateway opens a legacy-era session
//!   (`initialize`, `Mcp-Session-Id`) per server and credential identity, re-initializes when
//!   the server forgets the session (404), and reads answers sent as JSON or as an SSE stream.
//!   Every request goes through the outbound guard's pinned client.
//! * Hosted servers are commands Chamberlain starts and supervises over stdio: one process per
//!   credential identity, restarted (with backoff) when it exits.
//!
//! The AI client's own token never reaches a server: requests carry only the headers (or the
//! environment) derived from the server's configured credentials.

use chamberlain_outbound::{error_chain, Guard, OutboundError};
use serde_json::{json, Value};
use std::collections::HashMap;
use std::process::Stdio;
use std::sync::atomic::{AtomicI64, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};
use tokio::io::{AsyncBufReadExt, AsyncWriteExt, BufReader};
use tokio::sync::{oneshot, Mutex};

/// Protocol version the gateway asks servers for.
pub const UPSTREAM_PROTOCOL: &str = "2025-11-25";
/// Longest answer accepted from a server.
pub const MAX_RESPONSE_BYTES: usize = 16 * 1024 * 1024;
/// Time limit of one request to a server.
pub const REQUEST_TIMEOUT: Duration = Duration::from_secs(60);

/// Why a request to a server failed.
#[derive(Debug, Clone, thiserror::Error)]
pub enum UpstreamError {
    /// The server could not be reached or answered badly.
    #[error("{0}")]
    Transport(String),
    /// The server refused our credentials (401/403).
    #[error("{0}")]
    Unauthorized(String),
    /// The call needs a downstream OAuth identity that is missing or must be made again
    /// (per-user connection, service-mode authorization).
    #[error("{}", .0.reason())]
    ConnectionRequired(crate::index::Denial),
    /// The server answered with a JSON-RPC error.
    #[error("server error {code}: {message}")]
    Rpc {
        /// JSON-RPC error code.
        code: i64,
        /// Its message.
        message: String,
        /// Its data.
        data: Value,
    },
}

impl From<OutboundError> for UpstreamError {
    fn from(e: OutboundError) -> Self {
        UpstreamError::Transport(e.to_string())
    }
}

/// What the server's credentials turn into on the wire: HTTP headers for remote servers,
/// environment variables for hosted ones. `key` tells credential identities apart (one session
/// or process each) without holding the secret itself.
#[derive(Clone, Debug, Default)]
pub struct Credentials {
    /// Headers to send (e.g. `Authorization`).
    pub headers: Vec<(String, String)>,
    /// Environment for a hosted process.
    pub env: Vec<(String, String)>,
    /// A stable, non-secret identity of these credentials (a hash).
    pub key: String,
    /// Whose credentials these are ("" for the server's shared ones, else the user's or the
    /// service identity's id): when the same owner's credentials change (a refreshed token),
    /// the old session or process is retired instead of piling up.
    pub owner: String,
}

/// How to reach one server.
#[derive(Clone, Debug)]
pub enum Endpoint {
    /// Streamable HTTP at this URL.
    Http(String),
    /// A command (argv) run over stdio.
    Stdio(Vec<String>),
}

/// A client for one server, shared by all calls to it.
pub struct Upstream {
    endpoint: Endpoint,
    guard: Guard,
    http: Mutex<Option<(reqwest::Url, reqwest::Client)>>,
    /// Per credential identity: the HTTP session or the stdio process.
    sessions: Mutex<HashMap<String, Arc<Session>>>,
    /// Each owner's current credential key.
    owners: Mutex<HashMap<String, String>>,
    next_id: AtomicI64,
}

enum Session {
    Http(HttpSession),
    Stdio(Arc<StdioProcess>),
}

struct HttpSession {
    /// (session id, negotiated protocol version); `None` until initialized.
    state: Mutex<Option<(Option<String>, String)>>,
}

impl Upstream {
    /// A client for `endpoint`; outbound HTTP goes through `guard`.
    pub fn new(endpoint: Endpoint, guard: Guard) -> Self {
        Upstream {
            endpoint,
            guard,
            http: Mutex::new(None),
            sessions: Mutex::new(HashMap::new()),
            owners: Mutex::new(HashMap::new()),
            next_id: AtomicI64::new(1),
        }
    }

    /// Sends one request and returns its `result`.
    pub async fn request(
        &self,
        method: &str,
        params: Value,
        creds: &Credentials,
    ) -> Result<Value, UpstreamError> {
        self.request_relayed(method, params, creds, None).await
    }

    /// Sends one request; the server's progress and log notifications about it go to `relay`
    /// while it runs (HTTP: those on the request's own stream; stdio: progress, matched by a
    /// progress token unique to the call).
    pub async fn request_relayed(
        &self,
        method: &str,
        params: Value,
        creds: &Credentials,
        relay: Option<&Relay>,
    ) -> Result<Value, UpstreamError> {
        let session = self.session(creds).await?;
        match &*session {
            Session::Http(h) => self.http_request(h, method, params, creds, relay).await,
            Session::Stdio(p) => p.request(method, params, relay).await,
        }
    }

    /// Lists every tool (following `nextCursor`).
    pub async fn list_tools(&self, creds: &Credentials) -> Result<Vec<Value>, UpstreamError> {
        self.list_all("tools/list", "tools", creds, usize::MAX)
            .await
    }

    /// Runs a paginated list method (`tools/list`, `resources/list`, …) to its end, following
    /// `nextCursor`, and returns the items under `key`: at most `max_items` (the rest is
    /// dropped with a warning) and at most 100 pages.
    pub async fn list_all(
        &self,
        method: &str,
        key: &str,
        creds: &Credentials,
        max_items: usize,
    ) -> Result<Vec<Value>, UpstreamError> {
        let mut items = Vec::new();
        let mut cursor: Option<String> = None;
        for _ in 0..100 {
            let params = match &cursor {
                Some(c) => json!({"cursor": c}),
                None => json!({}),
            };
            let result = self.request(method, params, creds).await?;
            let Some(list) = result.get(key).and_then(Value::as_array) else {
                return Err(UpstreamError::Transport(format!(
                    "the server's {method} result has no `{key}` array"
                )));
            };
            items.extend(list.iter().cloned());
            if items.len() >= max_items {
                tracing::warn!(
                    method,
                    max_items,
                    "a server's list was cut at the gateway's limit"
                );
                items.truncate(max_items);
                return Ok(items);
            }
            cursor = result
                .get("nextCursor")
                .and_then(Value::as_str)
                .filter(|c| !c.is_empty())
                .map(str::to_string);
            if cursor.is_none() {
                return Ok(items);
            }
        }
        Err(UpstreamError::Transport(format!(
            "the server's {method} kept paginating past 100 pages"
        )))
    }

    /// Stops hosted processes and forgets sessions (server deleted or reconfigured).
    pub async fn shutdown(&self) {
        let sessions: Vec<Arc<Session>> =
            self.sessions.lock().await.drain().map(|(_, s)| s).collect();
        for s in sessions {
            if let Session::Stdio(p) = &*s {
                p.stop().await;
            }
        }
    }

    async fn session(&self, creds: &Credentials) -> Result<Arc<Session>, UpstreamError> {
        let mut map = self.sessions.lock().await;
        if let Some(s) = map.get(&creds.key) {
            return Ok(s.clone());
        }
        // The owner's credentials changed: retire their previous session or process (calls
        // already running on it keep their handle and finish).
        let previous = self
            .owners
            .lock()
            .await
            .insert(creds.owner.clone(), creds.key.clone());
        if let Some(old) = previous.and_then(|k| map.remove(&k)) {
            if let Session::Stdio(p) = &*old {
                let p = p.clone();
                tokio::spawn(async move { p.stop().await });
            }
        }
        let s = Arc::new(match &self.endpoint {
            Endpoint::Http(_) => Session::Http(HttpSession {
                state: Mutex::new(None),
            }),
            Endpoint::Stdio(argv) => {
                Session::Stdio(StdioProcess::start(argv.clone(), creds.env.clone()))
            }
        });
        map.insert(creds.key.clone(), s.clone());
        Ok(s)
    }

    async fn client(&self) -> Result<(reqwest::Url, reqwest::Client), UpstreamError> {
        let mut http = self.http.lock().await;
        if let Some(c) = &*http {
            return Ok(c.clone());
        }
        let Endpoint::Http(url) = &self.endpoint else {
            return Err(UpstreamError::Transport("not an HTTP server".into()));
        };
        let c = self.guard.client(url, REQUEST_TIMEOUT).await?;
        *http = Some(c.clone());
        Ok(c)
    }

    async fn http_request(
        &self,
        session: &HttpSession,
        method: &str,
        params: Value,
        creds: &Credentials,
        relay: Option<&Relay>,
    ) -> Result<Value, UpstreamError> {
        let (url, client) = self.client().await?;
        for attempt in 0..2 {
            let (sid, version) = {
                let mut state = session.state.lock().await;
                if state.is_none() {
                    *state = Some(self.initialize(&url, &client, creds).await?);
                }
                state.clone().unwrap_or_default()
            };
            let id = self.next_id.fetch_add(1, Ordering::Relaxed);
            let body = json!({"jsonrpc": "2.0", "id": id, "method": method, "params": params});
            let mut req =
                post(&client, &url, creds, &body).header("MCP-Protocol-Version", &version);
            if let Some(sid) = &sid {
                req = req.header("Mcp-Session-Id", sid);
            }
            let resp = send(req).await?;
            if resp.status().as_u16() == 404 && sid.is_some() && attempt == 0 {
                // The server forgot the session (restart, expiry): initialize again once.
                *session.state.lock().await = None;
                continue;
            }
            return read_response(resp, id, relay).await;
        }
        Err(UpstreamError::Transport(
            "the server rejected a fresh session".into(),
        ))
    }

    async fn initialize(
        &self,
        url: &reqwest::Url,
        client: &reqwest::Client,
        creds: &Credentials,
    ) -> Result<(Option<String>, String), UpstreamError> {
        let id = self.next_id.fetch_add(1, Ordering::Relaxed);
        let body = json!({"jsonrpc": "2.0", "id": id, "method": "initialize", "params": initialize_params()});
        let resp = send(post(client, url, creds, &body)).await?;
        let sid = resp
            .headers()
            .get("mcp-session-id")
            .and_then(|v| v.to_str().ok())
            .map(str::to_string);
        let result = read_response(resp, id, None).await?;
        let version = result
            .get("protocolVersion")
            .and_then(Value::as_str)
            .unwrap_or(UPSTREAM_PROTOCOL)
            .to_string();
        let note = json!({"jsonrpc": "2.0", "method": "notifications/initialized"});
        let mut req = post(client, url, creds, &note).header("MCP-Protocol-Version", &version);
        if let Some(s) = &sid {
            req = req.header("Mcp-Session-Id", s);
        }
        let resp = send(req).await?;
        if !resp.status().is_success() {
            return Err(UpstreamError::Transport(format!(
                "the server answered HTTP {} to notifications/initialized",
                resp.status().as_u16()
            )));
        }
        Ok((sid, version))
    }
}

fn initialize_params() -> Value {
    json!({
        "protocolVersion": UPSTREAM_PROTOCOL,
        "capabilities": {},
        "clientInfo": {"name": "chamberlain-gateway", "version": env!("CARGO_PKG_VERSION")}
    })
}

fn post(
    client: &reqwest::Client,
    url: &reqwest::Url,
    creds: &Credentials,
    body: &Value,
) -> reqwest::RequestBuilder {
    let mut req = client
        .post(url.clone())
        .header("Accept", "application/json, text/event-stream")
        .header("Content-Type", "application/json")
        .body(body.to_string());
    for (k, v) in &creds.headers {
        req = req.header(k.as_str(), v.as_str());
    }
    req
}

async fn send(req: reqwest::RequestBuilder) -> Result<reqwest::Response, UpstreamError> {
    let resp = req.send().await.map_err(|e| {
        if e.is_timeout() {
            UpstreamError::Transport(format!(
                "the server did not answer within {} s",
                REQUEST_TIMEOUT.as_secs()
            ))
        } else {
            UpstreamError::Transport(format!("cannot reach the server: {}", error_chain(&e)))
        }
    })?;
    let status = resp.status().as_u16();
    if status == 401 || status == 403 {
        return Err(UpstreamError::Unauthorized(format!(
            "the server refused the configured credentials (HTTP {status})"
        )));
    }
    if resp.status().is_redirection() {
        return Err(UpstreamError::Transport(format!(
            "the server answered with a redirect (HTTP {status}); redirects are not followed"
        )));
    }
    Ok(resp)
}

/// Where a call's progress and log notifications go while it runs.
pub type Relay = tokio::sync::mpsc::UnboundedSender<Value>;

/// Notifications about a running request that are passed on to the calling client.
pub fn is_relayed(msg: &Value) -> bool {
    msg.get("id").is_none()
        && matches!(
            msg.get("method").and_then(Value::as_str),
            Some("notifications/progress" | "notifications/message")
        )
}

/// Reads the answer to request `id`: a JSON body, or an SSE stream in which the answer is one
/// of the events (progress and log notifications before it go to `relay`; anything else,
/// including requests the server makes of the client, is skipped).
async fn read_response(
    mut resp: reqwest::Response,
    id: i64,
    relay: Option<&Relay>,
) -> Result<Value, UpstreamError> {
    let status = resp.status();
    if status.as_u16() == 404 {
        return Err(UpstreamError::Transport(
            "the server answered HTTP 404 (wrong URL, or the session ended)".into(),
        ));
    }
    let is_sse = resp
        .headers()
        .get("content-type")
        .and_then(|v| v.to_str().ok())
        .is_some_and(|c| c.starts_with("text/event-stream"));
    if !is_sse {
        let bytes =
            chamberlain_outbound::read_capped(resp, MAX_RESPONSE_BYTES, "MCP server answer")
                .await?;
        if !status.is_success() && bytes.is_empty() {
            return Err(UpstreamError::Transport(format!(
                "the server answered HTTP {}",
                status.as_u16()
            )));
        }
        let v: Value = serde_json::from_slice(&bytes).map_err(|e| {
            UpstreamError::Transport(format!(
                "the server answered HTTP {} with a body that is not JSON-RPC ({e})",
                status.as_u16()
            ))
        })?;
        return rpc_result(v);
    }
    let mut buf: Vec<u8> = Vec::new();
    let mut total = 0usize;
    loop {
        let chunk = resp.chunk().await.map_err(|e| {
            UpstreamError::Transport(format!(
                "reading the server's stream failed: {}",
                error_chain(&e)
            ))
        })?;
        let Some(chunk) = chunk else {
            return Err(UpstreamError::Transport(
                "the server's stream ended without an answer".into(),
            ));
        };
        total += chunk.len();
        if total > MAX_RESPONSE_BYTES {
            return Err(UpstreamError::Transport(format!(
                "the server's answer is larger than {} MiB",
                MAX_RESPONSE_BYTES >> 20
            )));
        }
        buf.extend_from_slice(&chunk);
        while let Some(end) = find_event_end(&buf) {
            let event: Vec<u8> = buf.drain(..end.1).collect();
            let text = String::from_utf8_lossy(&event[..end.0]);
            let data: Vec<&str> = text
                .lines()
                .filter_map(|l| l.strip_prefix("data:"))
                .map(|d| d.strip_prefix(' ').unwrap_or(d))
                .collect();
            if data.is_empty() {
                continue;
            }
            let Ok(v) = serde_json::from_str::<Value>(&data.join("\n")) else {
                continue;
            };
            if v.get("id").and_then(Value::as_i64) == Some(id)
                && (v.get("result").is_some() || v.get("error").is_some())
            {
                return rpc_result(v);
            }
            if let Some(r) = relay.filter(|_| is_relayed(&v)) {
                let _ = r.send(v);
            }
        }
    }
}

/// Where the first SSE event in `buf` ends: (end of its text, end including the blank line).
fn find_event_end(buf: &[u8]) -> Option<(usize, usize)> {
    let mut i = 0;
    while i + 1 < buf.len() {
        if buf[i] == b'\n' && buf[i + 1] == b'\n' {
            return Some((i, i + 2));
        }
        if i + 3 < buf.len() && &buf[i..i + 4] == b"\r\n\r\n" {
            return Some((i, i + 4));
        }
        i += 1;
    }
    None
}

fn rpc_result(v: Value) -> Result<Value, UpstreamError> {
    if let Some(e) = v.get("error") {
        return Err(UpstreamError::Rpc {
            code: e.get("code").and_then(Value::as_i64).unwrap_or(-32603),
            message: e
                .get("message")
                .and_then(Value::as_str)
                .unwrap_or("")
                .to_string(),
            data: e.get("data").cloned().unwrap_or(Value::Null),
        });
    }
    v.get("result").cloned().ok_or_else(|| {
        UpstreamError::Transport("the server's answer has neither result nor error".into())
    })
}

// ---- Hosted servers over stdio ----

type Pending = Arc<std::sync::Mutex<HashMap<i64, oneshot::Sender<Value>>>>;
/// Running calls of a hosted process that asked for progress: the call's unique token → (the
/// client's own token, where to send).
type Progress = Arc<std::sync::Mutex<HashMap<String, (Value, Relay)>>>;

/// A supervised child process speaking MCP over stdio.
struct StdioProcess {
    argv: Vec<String>,
    env: Vec<(String, String)>,
    live: Mutex<Option<Live>>,
    next_id: AtomicI64,
    last_start: std::sync::Mutex<Option<Instant>>,
    progress: Progress,
}

struct Live {
    stdin: tokio::process::ChildStdin,
    pending: Pending,
    child: Arc<Mutex<tokio::process::Child>>,
    exited: Arc<std::sync::atomic::AtomicBool>,
}

impl StdioProcess {
    fn start(argv: Vec<String>, env: Vec<(String, String)>) -> Arc<Self> {
        Arc::new(StdioProcess {
            argv,
            env,
            live: Mutex::new(None),
            next_id: AtomicI64::new(1),
            last_start: std::sync::Mutex::new(None),
            progress: Progress::default(),
        })
    }

    async fn stop(&self) {
        if let Some(live) = self.live.lock().await.take() {
            let _ = live.child.lock().await.kill().await;
        }
    }

    /// Starts the process (again) if it is not running; waits at least a second between
    /// starts so a crashing command does not spin.
    async fn ensure_running(&self, live: &mut Option<Live>) -> Result<(), UpstreamError> {
        if let Some(l) = live {
            if !l.exited.load(Ordering::Acquire) {
                return Ok(());
            }
            tracing::warn!(command = %self.argv.join(" "), "hosted MCP server exited; restarting");
        }
        let wait = {
            let last = self.last_start.lock().unwrap_or_else(|p| p.into_inner());
            last.map(|t| Duration::from_secs(1).saturating_sub(t.elapsed()))
        };
        if let Some(w) = wait.filter(|w| !w.is_zero()) {
            tokio::time::sleep(w).await;
        }
        *self.last_start.lock().unwrap_or_else(|p| p.into_inner()) = Some(Instant::now());
        let Some((program, args)) = self.argv.split_first() else {
            return Err(UpstreamError::Transport(
                "the hosted server has no command".into(),
            ));
        };
        let mut cmd = tokio::process::Command::new(program);
        cmd.args(args)
            .envs(self.env.iter().map(|(k, v)| (k.as_str(), v.as_str())))
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .kill_on_drop(true);
        let mut child = cmd
            .spawn()
            .map_err(|e| UpstreamError::Transport(format!("cannot start `{program}`: {e}")))?;
        let stdin = child
            .stdin
            .take()
            .ok_or_else(|| UpstreamError::Transport("no stdin".into()))?;
        let stdout = child
            .stdout
            .take()
            .ok_or_else(|| UpstreamError::Transport("no stdout".into()))?;
        if let Some(stderr) = child.stderr.take() {
            let name = program.clone();
            tokio::spawn(async move {
                let mut lines = BufReader::new(stderr).lines();
                while let Ok(Some(line)) = lines.next_line().await {
                    tracing::debug!(server = %name, "{line}");
                }
            });
        }
        let pending: Pending = Arc::default();
        let exited = Arc::new(std::sync::atomic::AtomicBool::new(false));
        {
            let pending = pending.clone();
            let exited = exited.clone();
            let progress = self.progress.clone();
            tokio::spawn(async move {
                let mut lines = BufReader::new(stdout).lines();
                while let Ok(Some(line)) = lines.next_line().await {
                    let Ok(mut v) = serde_json::from_str::<Value>(&line) else {
                        continue;
                    };
                    // Progress of a call that asked for it goes back under the client's token.
                    if v.get("method").and_then(Value::as_str) == Some("notifications/progress") {
                        let token = v
                            .pointer("/params/progressToken")
                            .and_then(Value::as_str)
                            .map(str::to_string);
                        let target = token.and_then(|t| {
                            progress
                                .lock()
                                .unwrap_or_else(|p| p.into_inner())
                                .get(&t)
                                .cloned()
                        });
                        if let Some((own, relay)) = target {
                            v["params"]["progressToken"] = own;
                            let _ = relay.send(v);
                        }
                        continue;
                    }
                    let is_answer = v.get("result").is_some() || v.get("error").is_some();
                    if let (true, Some(id)) = (is_answer, v.get("id").and_then(Value::as_i64)) {
                        let tx = pending
                            .lock()
                            .unwrap_or_else(|p| p.into_inner())
                            .remove(&id);
                        if let Some(tx) = tx {
                            let _ = tx.send(v);
                        }
                    }
                }
                exited.store(true, Ordering::Release);
                // Fail whatever still waits: the process is gone.
                pending.lock().unwrap_or_else(|p| p.into_inner()).clear();
            });
        }
        *live = Some(Live {
            stdin,
            pending,
            child: Arc::new(Mutex::new(child)),
            exited,
        });
        let id = self.next_id.fetch_add(1, Ordering::Relaxed);
        let init = json!({"jsonrpc": "2.0", "id": id, "method": "initialize", "params": initialize_params()});
        let answer = Self::exchange(live.as_mut().expect("just set"), id, &init).await?;
        rpc_result(answer)?;
        let note = json!({"jsonrpc": "2.0", "method": "notifications/initialized"});
        Self::write(live.as_mut().expect("just set"), &note).await?;
        Ok(())
    }

    async fn write(live: &mut Live, msg: &Value) -> Result<(), UpstreamError> {
        let mut line = msg.to_string();
        line.push('\n');
        live.stdin.write_all(line.as_bytes()).await.map_err(|e| {
            UpstreamError::Transport(format!("the hosted server's stdin is closed: {e}"))
        })?;
        live.stdin
            .flush()
            .await
            .map_err(|e| UpstreamError::Transport(e.to_string()))
    }

    async fn exchange(live: &mut Live, id: i64, msg: &Value) -> Result<Value, UpstreamError> {
        let (tx, rx) = oneshot::channel();
        live.pending
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .insert(id, tx);
        Self::write(live, msg).await?;
        wait(rx).await
    }

    async fn request(
        &self,
        method: &str,
        mut params: Value,
        relay: Option<&Relay>,
    ) -> Result<Value, UpstreamError> {
        let id = self.next_id.fetch_add(1, Ordering::Relaxed);
        // One process serves many callers: a progress token unique to this call routes the
        // process's progress notifications back to this caller only.
        let own_token = params.pointer("/_meta/progressToken").cloned();
        let unique = match (own_token, relay) {
            (Some(own), Some(r)) => {
                let unique = format!("chamberlain-{id}");
                params["_meta"]["progressToken"] = json!(unique);
                self.progress
                    .lock()
                    .unwrap_or_else(|p| p.into_inner())
                    .insert(unique.clone(), (own, r.clone()));
                Some(unique)
            }
            _ => None,
        };
        let result = self.request_inner(id, method, params).await;
        if let Some(u) = unique {
            self.progress
                .lock()
                .unwrap_or_else(|p| p.into_inner())
                .remove(&u);
        }
        result
    }

    async fn request_inner(
        &self,
        id: i64,
        method: &str,
        params: Value,
    ) -> Result<Value, UpstreamError> {
        let msg = json!({"jsonrpc": "2.0", "id": id, "method": method, "params": params});
        // Hold the lock only to write, so calls run concurrently over one process.
        let rx = {
            let mut live = self.live.lock().await;
            self.ensure_running(&mut live).await?;
            let l = live.as_mut().expect("running");
            let (tx, rx) = oneshot::channel();
            l.pending
                .lock()
                .unwrap_or_else(|p| p.into_inner())
                .insert(id, tx);
            Self::write(l, &msg).await?;
            rx
        };
        rpc_result(wait(rx).await?)
    }
}

async fn wait(rx: oneshot::Receiver<Value>) -> Result<Value, UpstreamError> {
    match tokio::time::timeout(REQUEST_TIMEOUT, rx).await {
        Ok(Ok(v)) => Ok(v),
        Ok(Err(_)) => Err(UpstreamError::Transport(
            "the hosted server exited before answering".into(),
        )),
        Err(_) => Err(UpstreamError::Transport(format!(
            "the hosted server did not answer within {} s",
            REQUEST_TIMEOUT.as_secs()
        ))),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn sse_events_are_split() {
        let buf = b"event: message\ndata: {\"a\":1}\n\nrest";
        let (end, next) = find_event_end(buf).unwrap();
        assert_eq!(&buf[..end], b"event: message\ndata: {\"a\":1}");
        assert_eq!(&buf[next..], b"rest");
        assert!(find_event_end(b"data: x\n").is_none());
    }

    #[test]
    fn rpc_errors_are_kept() {
        let e = rpc_result(
            json!({"jsonrpc":"2.0","id":1,"error":{"code":-32602,"message":"Unknown tool"}}),
        )
        .unwrap_err();
        assert!(matches!(e, UpstreamError::Rpc { code: -32602, .. }));
        assert_eq!(
            rpc_result(json!({"id":1,"result":{"x":1}})).unwrap()["x"],
            1
        );
    }
}
