//! Downstream MCP clients: how the gateway talks to the servers it fronts.
//!
//! * Remote servers speak Streamable HTTP. The gateway opens a legacy-era session
//!   (`initialize`, `Mcp-Session-Id`) per server, credential identity and set of declared
//!   client capabilities, re-initializes when the server forgets the session (404), and reads
//!   answers sent as JSON or as an SSE stream. Every request goes through the outbound guard's
//!   pinned client.
//! * What a server sends during a call on the call's stream (progress, log messages, and
//!   requests of the client such as sampling or elicitation) goes to that call's [`Relay`];
//!   answers to relayed requests come back through [`PendingRequests`].
//! * A client session that asks for something session-scoped (log level, resource
//!   subscriptions) gets its own [`BoundSession`] per server, whose standalone stream the
//!   gateway listens to on that client's behalf.
//! * Hosted servers are commands Chamberlain starts and supervises over stdio: one process per
//!   credential identity and set of declared client capabilities, restarted (with backoff)
//!   when it exits. Stdio cannot tie a process's request of the client to a call, so such a
//!   request is relayed only while the process works on a single call (else refused at once).
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
    /// Per credential identity (and, over HTTP, per set of client capabilities declared to
    /// the server): the HTTP session or the stdio process.
    sessions: Mutex<HashMap<(String, u8), Arc<Session>>>,
    /// Each owner's current credential key.
    owners: Mutex<HashMap<String, String>>,
    /// Sessions bound to one AI client session (by its nonce): see [`BoundSession`].
    bound: Mutex<HashMap<String, Arc<BoundSession>>>,
    /// Where messages for a client session's GET stream go.
    notices: Option<tokio::sync::broadcast::Sender<crate::Notice>>,
    next_id: AtomicI64,
    /// Whether the server speaks 2026-07-28 (asked once, with `server/discover`).
    modern: std::sync::Mutex<Option<bool>>,
}

/// The stateless protocol version, used toward servers that offer it for 2026-07-28 clients.
pub const MODERN_PROTOCOL: &str = "2026-07-28";

enum Session {
    Http(HttpSession),
    Stdio(Arc<StdioProcess>),
}

struct HttpSession {
    /// (session id, negotiated protocol version); `None` until initialized.
    state: Mutex<Option<(Option<String>, String)>>,
    /// The client capabilities declared to the server: those of the AI clients it serves.
    caps: ClientCaps,
}

/// A downstream session that belongs to one AI client session (legacy era), opened when that
/// client asks for something session-scoped (`logging/setLevel`, `resources/subscribe`).
/// Whatever the server sends on its standalone GET stream (log messages, resource updates)
/// then belongs to that client alone, so the gateway holds that stream open and passes it
/// on. The client's later calls to the server use this session too, so their logs arrive
/// here. Closed when the client ends its session, after [`BOUND_IDLE`] without use, or when
/// the server is reconfigured.
pub struct BoundSession {
    /// The client session's nonce.
    nonce: String,
    /// Its user.
    user: String,
    /// The credential identity the session was opened with.
    creds_key: String,
    http: HttpSession,
    last_used: std::sync::Mutex<Instant>,
    /// Relays of the client's calls running on this session (log messages go to the newest).
    calls: std::sync::Mutex<Vec<(u64, Relay)>>,
    next_call: std::sync::atomic::AtomicU64,
    /// URIs the client subscribed to here; updates of other URIs are dropped.
    subscribed: std::sync::Mutex<std::collections::HashSet<String>>,
    listener: std::sync::Mutex<Option<tokio::task::AbortHandle>>,
    /// The headers the session was opened with (to end it at the server).
    headers: std::sync::Mutex<Option<Vec<(String, String)>>>,
}

/// Bound sessions close after this long without a request of their client.
pub const BOUND_IDLE: Duration = Duration::from_secs(30 * 60);
/// Most bound sessions one server holds at a time (each keeps a GET stream open).
pub const MAX_BOUND_SESSIONS: usize = 256;
/// Most bound sessions one user holds with one server.
pub const MAX_BOUND_SESSIONS_PER_USER: usize = 8;
/// JSON-RPC error code of a refused bound session (a limit was reached).
pub const BOUND_LIMIT_CODE: i64 = -32000;

/// The error of a bound session refused at `limit` (`scope`: "user" or "server").
fn bound_limit(message: String, limit: usize, scope: &str) -> UpstreamError {
    UpstreamError::Rpc {
        code: BOUND_LIMIT_CODE,
        message,
        data: json!({"limit": limit, "scope": scope}),
    }
}
/// Largest single event accepted on a GET stream.
const MAX_STREAM_EVENT_BYTES: usize = 1024 * 1024;

impl Upstream {
    /// A client for `endpoint`; outbound HTTP goes through `guard`.
    pub fn new(endpoint: Endpoint, guard: Guard) -> Self {
        Upstream {
            endpoint,
            guard,
            http: Mutex::new(None),
            sessions: Mutex::new(HashMap::new()),
            owners: Mutex::new(HashMap::new()),
            bound: Mutex::new(HashMap::new()),
            notices: None,
            next_id: AtomicI64::new(1),
            modern: std::sync::Mutex::new(None),
        }
    }

    /// Whether the server speaks 2026-07-28: asked once with `server/discover` (a server
    /// that cannot be reached is asked again next time). Hosted servers are driven in the
    /// session era only.
    pub async fn speaks_modern(&self, creds: &Credentials) -> bool {
        if !matches!(self.endpoint, Endpoint::Http(_)) {
            return false;
        }
        if let Some(known) = *self.modern.lock().unwrap_or_else(|p| p.into_inner()) {
            return known;
        }
        let answer = self
            .stateless(
                "server/discover",
                json!({}),
                creds,
                ClientCaps::default(),
                None,
                &[],
            )
            .await;
        let modern = match &answer {
            Ok(r) => r
                .get("supportedVersions")
                .and_then(Value::as_array)
                .is_some_and(|v| v.iter().any(|v| v == MODERN_PROTOCOL)),
            Err(UpstreamError::Rpc { .. }) => false,
            Err(_) => return false,
        };
        *self.modern.lock().unwrap_or_else(|p| p.into_inner()) = Some(modern);
        modern
    }

    /// What [`Upstream::speaks_modern`] found, if it asked already.
    pub fn known_modern(&self) -> Option<bool> {
        if !matches!(self.endpoint, Endpoint::Http(_)) {
            return Some(false);
        }
        *self.modern.lock().unwrap_or_else(|p| p.into_inner())
    }

    /// Sends one stateless (2026-07-28) request on behalf of a client that declared `caps`;
    /// progress and log notifications on its stream go to `relay` (a 2026-07-28 server sends
    /// no requests there; any would be skipped). `headers` are added to the HTTP request.
    pub async fn stateless(
        &self,
        method: &str,
        mut params: Value,
        creds: &Credentials,
        caps: ClientCaps,
        relay: Option<&Relay>,
        headers: &[(String, String)],
    ) -> Result<Value, UpstreamError> {
        let (url, client) = self.client().await?;
        if !params.get("_meta").is_some_and(Value::is_object) {
            params["_meta"] = json!({});
        }
        params["_meta"]["io.modelcontextprotocol/protocolVersion"] = json!(MODERN_PROTOCOL);
        params["_meta"]["io.modelcontextprotocol/clientCapabilities"] = caps.declared();
        params["_meta"]["io.modelcontextprotocol/clientInfo"] =
            json!({"name": "chamberlain-gateway", "version": env!("CARGO_PKG_VERSION")});
        let name = params
            .get("name")
            .or_else(|| params.get("uri"))
            .and_then(Value::as_str)
            .map(header_value);
        let id = self.next_id.fetch_add(1, Ordering::Relaxed);
        let body = json!({"jsonrpc": "2.0", "id": id, "method": method, "params": params});
        let mut req = post(&client, &url, creds, &body)
            .header("MCP-Protocol-Version", MODERN_PROTOCOL)
            .header("Mcp-Method", method);
        if let Some(n) = name {
            req = req.header("Mcp-Name", n);
        }
        for (k, v) in headers {
            req = req.header(k.as_str(), v.as_str());
        }
        read_response(send(req).await?, id, relay, None).await
    }

    /// Sends what bound sessions receive for a client's GET stream to `notices`.
    pub fn with_notices(mut self, notices: tokio::sync::broadcast::Sender<crate::Notice>) -> Self {
        self.notices = Some(notices);
        self
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
    /// progress token unique to the call), and so do its requests of the client (sampling,
    /// elicitation, roots), whose answers come back through [`PendingRequests::answer`].
    pub async fn request_relayed(
        &self,
        method: &str,
        params: Value,
        creds: &Credentials,
        relay: Option<&Relay>,
    ) -> Result<Value, UpstreamError> {
        self.request_bound(method, params, creds, relay, None).await
    }

    /// Like [`Upstream::request_relayed`], on the session bound to the client session of
    /// `bind` when there is one, or (with `bind.open`) after opening it. Only HTTP servers
    /// have bound sessions: a hosted process is shared by every user.
    pub async fn request_bound(
        &self,
        method: &str,
        params: Value,
        creds: &Credentials,
        relay: Option<&Relay>,
        bind: Option<Binding<'_>>,
    ) -> Result<Value, UpstreamError> {
        if let Some(b) = bind {
            if matches!(self.endpoint, Endpoint::Stdio(_)) {
                if b.open {
                    return Err(UpstreamError::Rpc {
                        code: -32601,
                        message: format!("`{method}` is not available for hosted servers: one process serves every user, so per-client state cannot be kept there"),
                        data: Value::Null,
                    });
                }
            } else if let Some(bs) = self.bound_session(creds, b).await? {
                *bs.last_used.lock().unwrap_or_else(|p| p.into_inner()) = Instant::now();
                let _call = relay.map(|r| CallGuard::register(&bs, r));
                return self
                    .http_request(&bs.http, method, params, creds, relay, Some(&bs))
                    .await;
            }
        }
        let caps = relay
            .map(|r| r.caps)
            .or(bind.map(|b| b.caps))
            .unwrap_or_default();
        let session = self.session(creds, caps).await?;
        match &*session {
            Session::Http(h) => {
                self.http_request(h, method, params, creds, relay, None)
                    .await
            }
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
        let bound: Vec<Arc<BoundSession>> =
            self.bound.lock().await.drain().map(|(_, s)| s).collect();
        for s in bound {
            self.close_bound(&s).await;
        }
    }

    /// The session bound to `b`'s client session: the existing one (with the same
    /// credentials), or with `b.open` a new one; None when there is none to use.
    async fn bound_session(
        &self,
        creds: &Credentials,
        b: Binding<'_>,
    ) -> Result<Option<Arc<BoundSession>>, UpstreamError> {
        let mut map = self.bound.lock().await;
        if let Some(s) = map.get(b.nonce) {
            if s.creds_key == creds.key {
                return Ok(Some(s.clone()));
            }
            // The credentials changed (a refreshed token): the old session goes.
            if let Some(old) = map.remove(b.nonce) {
                self.close_bound(&old).await;
            }
        }
        if !b.open {
            return Ok(None);
        }
        self.close_idle_bound(&mut map).await;
        // A per-user share keeps one user's clients from taking every slot of the server.
        let theirs = map.values().filter(|s| s.user == b.user).count();
        if theirs >= MAX_BOUND_SESSIONS_PER_USER {
            return Err(bound_limit(
                format!("you already hold {MAX_BOUND_SESSIONS_PER_USER} client sessions with per-session state (log level, resource subscriptions) on this server, the most one user may; end one of them (DELETE its MCP session) or wait until one has been unused for {} min", BOUND_IDLE.as_secs() / 60),
                MAX_BOUND_SESSIONS_PER_USER,
                "user",
            ));
        }
        if map.len() >= MAX_BOUND_SESSIONS {
            return Err(bound_limit(
                format!("the gateway already holds {MAX_BOUND_SESSIONS} client sessions with per-session state on this server, the most it keeps; retry later"),
                MAX_BOUND_SESSIONS,
                "server",
            ));
        }
        let s = Arc::new(BoundSession {
            nonce: b.nonce.to_string(),
            user: b.user.to_string(),
            creds_key: creds.key.clone(),
            http: HttpSession {
                state: Mutex::new(None),
                caps: b.caps,
            },
            last_used: std::sync::Mutex::new(Instant::now()),
            calls: std::sync::Mutex::new(Vec::new()),
            next_call: std::sync::atomic::AtomicU64::new(0),
            subscribed: std::sync::Mutex::new(Default::default()),
            listener: std::sync::Mutex::new(None),
            headers: std::sync::Mutex::new(None),
        });
        map.insert(b.nonce.to_string(), s.clone());
        Ok(Some(s))
    }

    /// Stops a bound session's stream and ends it at the server (best effort, in the
    /// background).
    async fn close_bound(&self, s: &BoundSession) {
        if let Some(h) = s.listener.lock().unwrap_or_else(|p| p.into_inner()).take() {
            h.abort();
        }
        // A request still running on the session holds its state: the server then ends the
        // session itself when it expires.
        let Ok(state) = s.http.state.try_lock() else {
            return;
        };
        let Some((Some(sid), version)) = state.clone() else {
            return;
        };
        drop(state);
        let Some(headers) = s.headers.lock().unwrap_or_else(|p| p.into_inner()).take() else {
            return;
        };
        let Ok((url, client)) = self.client().await else {
            return;
        };
        tokio::spawn(async move {
            let mut req = client
                .delete(url)
                .timeout(Duration::from_secs(5))
                .header("Mcp-Session-Id", sid)
                .header("MCP-Protocol-Version", version);
            for (k, v) in &headers {
                req = req.header(k.as_str(), v.as_str());
            }
            let _ = req.send().await;
        });
    }

    /// Ends the session bound to client session `nonce` (the client ended its session).
    pub async fn end_bound(&self, nonce: &str) {
        let removed = self.bound.lock().await.remove(nonce);
        if let Some(s) = removed {
            self.close_bound(&s).await;
        }
    }

    /// The users holding bound sessions here.
    pub async fn bound_users(&self) -> std::collections::HashSet<String> {
        self.bound
            .lock()
            .await
            .values()
            .map(|s| s.user.clone())
            .collect()
    }

    /// Ends every bound session of `user` (they may no longer use this server).
    pub async fn end_bound_of(&self, user: &str) {
        let mut map = self.bound.lock().await;
        let theirs: Vec<String> = map
            .iter()
            .filter(|(_, s)| s.user == user)
            .map(|(k, _)| k.clone())
            .collect();
        for k in theirs {
            if let Some(old) = map.remove(&k) {
                self.close_bound(&old).await;
            }
        }
    }

    /// Ends bound sessions unused for [`BOUND_IDLE`].
    pub async fn sweep_bound(&self) {
        let mut map = self.bound.lock().await;
        self.close_idle_bound(&mut map).await;
    }

    /// Removes and closes the bound sessions in `map` unused for [`BOUND_IDLE`].
    async fn close_idle_bound(&self, map: &mut HashMap<String, Arc<BoundSession>>) {
        let idle: Vec<String> = map
            .iter()
            .filter(|(_, s)| s.idle() > BOUND_IDLE)
            .map(|(k, _)| k.clone())
            .collect();
        for k in idle {
            if let Some(old) = map.remove(&k) {
                self.close_bound(&old).await;
            }
        }
    }

    /// Records that client session `nonce` subscribed to (or unsubscribed from) `uri` on its
    /// bound session, so the server's updates of it are passed on (or no longer).
    pub async fn set_subscribed(&self, nonce: &str, uri: &str, on: bool) {
        if let Some(s) = self.bound.lock().await.get(nonce) {
            let mut set = s.subscribed.lock().unwrap_or_else(|p| p.into_inner());
            if on {
                set.insert(uri.to_string());
            } else {
                set.remove(uri);
            }
        }
    }

    async fn session(
        &self,
        creds: &Credentials,
        caps: ClientCaps,
    ) -> Result<Arc<Session>, UpstreamError> {
        // A server sees the capabilities of the clients a session (or hosted process) serves,
        // so it can refuse what they lack itself.
        let key = (creds.key.clone(), caps.bits());
        let mut map = self.sessions.lock().await;
        if let Some(s) = map.get(&key) {
            return Ok(s.clone());
        }
        // The owner's credentials changed: retire their previous sessions or process (calls
        // already running on them keep their handle and finish).
        let previous = self
            .owners
            .lock()
            .await
            .insert(creds.owner.clone(), creds.key.clone());
        if let Some(old_key) = previous.filter(|k| *k != creds.key) {
            let old: Vec<(String, u8)> = map.keys().filter(|k| k.0 == old_key).cloned().collect();
            for k in old {
                if let Some(old) = map.remove(&k) {
                    if let Session::Stdio(p) = &*old {
                        let p = p.clone();
                        tokio::spawn(async move { p.stop().await });
                    }
                }
            }
        }
        let s = Arc::new(match &self.endpoint {
            Endpoint::Http(_) => Session::Http(HttpSession {
                state: Mutex::new(None),
                caps,
            }),
            Endpoint::Stdio(argv) => {
                Session::Stdio(StdioProcess::start(argv.clone(), creds.env.clone(), caps))
            }
        });
        map.insert(key, s.clone());
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
        bound: Option<&Arc<BoundSession>>,
    ) -> Result<Value, UpstreamError> {
        let (url, client) = self.client().await?;
        for attempt in 0..2 {
            let (sid, version) = {
                let mut state = session.state.lock().await;
                if state.is_none() {
                    let (sid, version) =
                        self.initialize(&url, &client, creds, session.caps).await?;
                    if let (Some(bs), Some(sid)) = (bound, &sid) {
                        let reply = HttpReply {
                            client: client.clone(),
                            url: url.clone(),
                            headers: creds.headers.clone(),
                            sid: Some(sid.clone()),
                            version: version.clone(),
                        };
                        *bs.headers.lock().unwrap_or_else(|p| p.into_inner()) =
                            Some(creds.headers.clone());
                        let (ready, opened) = oneshot::channel();
                        let task = tokio::spawn(listen(
                            reply,
                            Arc::downgrade(bs),
                            self.notices.clone(),
                            ready,
                        ));
                        let old = bs
                            .listener
                            .lock()
                            .unwrap_or_else(|p| p.into_inner())
                            .replace(task.abort_handle());
                        if let Some(old) = old {
                            old.abort();
                        }
                        // What the server sends right after this request must find the
                        // stream open (servers drop standalone messages nobody listens to).
                        let _ = tokio::time::timeout(Duration::from_secs(2), opened).await;
                    }
                    *state = Some((sid, version));
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
            let to = ReplyTo {
                client: &client,
                url: &url,
                creds,
                sid: sid.as_deref(),
                version: &version,
            };
            return read_response(resp, id, relay, Some(to)).await;
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
        caps: ClientCaps,
    ) -> Result<(Option<String>, String), UpstreamError> {
        let id = self.next_id.fetch_add(1, Ordering::Relaxed);
        let body = json!({"jsonrpc": "2.0", "id": id, "method": "initialize", "params": initialize_params(caps)});
        let resp = send(post(client, url, creds, &body)).await?;
        let sid = resp
            .headers()
            .get("mcp-session-id")
            .and_then(|v| v.to_str().ok())
            .map(str::to_string);
        let result = read_response(resp, id, None, None).await?;
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

/// `initialize` declaring `caps`, what the AI clients the session serves declared (each
/// server request is still checked against the calling client: [`ClientCaps::allows`]).
fn initialize_params(mut caps: ClientCaps) -> Value {
    // Tasks go through 2026-07-28 requests only (see crate::tasks).
    caps.tasks = false;
    json!({
        "protocolVersion": UPSTREAM_PROTOCOL,
        "capabilities": caps.declared(),
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

/// A header value for `text`: as is when printable ASCII, else `=?base64?…?=` (2026-07-28).
pub(crate) fn header_value(text: &str) -> String {
    use base64::Engine;
    if text.bytes().all(|b| (0x20..0x7f).contains(&b)) {
        text.to_string()
    } else {
        format!(
            "=?base64?{}?=",
            base64::engine::general_purpose::STANDARD.encode(text)
        )
    }
}

/// Which client session a request is bound to, and whether to open its bound session.
#[derive(Clone, Copy, Debug)]
pub struct Binding<'a> {
    /// The client session's nonce.
    pub nonce: &'a str,
    /// Its user (bound sessions end when the user may no longer use the server).
    pub user: &'a str,
    /// Open the bound session if there is none (session-scoped requests); otherwise only an
    /// existing one is used.
    pub open: bool,
    /// What the client session declared (declared to the server in turn).
    pub caps: ClientCaps,
}

/// What the AI client declared it can answer (legacy `initialize` capabilities).
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct ClientCaps {
    /// `sampling`.
    pub sampling: bool,
    /// Form-mode elicitation (`elicitation: {}` or `elicitation.form`).
    pub elicitation_form: bool,
    /// URL-mode elicitation (`elicitation.url`).
    pub elicitation_url: bool,
    /// `roots`.
    pub roots: bool,
    /// The Tasks extension (`extensions["io.modelcontextprotocol/tasks"]`, 2026-07-28
    /// requests only): declared downstream so a server may answer with a task.
    pub tasks: bool,
}

impl ClientCaps {
    /// Reads `initialize` capabilities.
    pub fn from_capabilities(c: Option<&Value>) -> Self {
        let has = |k: &str| c.and_then(|c| c.get(k)).is_some_and(Value::is_object);
        let elicitation = c
            .and_then(|c| c.get("elicitation"))
            .filter(|e| e.is_object());
        ClientCaps {
            sampling: has("sampling"),
            // A bare `elicitation: {}` means form mode (2025-06-18 clients).
            elicitation_form: elicitation.is_some_and(|e| {
                e.as_object().is_some_and(|o| o.is_empty())
                    || e.get("form").is_some_and(Value::is_object)
            }),
            elicitation_url: elicitation
                .is_some_and(|e| e.get("url").is_some_and(Value::is_object)),
            roots: has("roots"),
            tasks: c
                .and_then(|c| c.pointer("/extensions/io.modelcontextprotocol~1tasks"))
                .is_some_and(Value::is_object),
        }
    }

    /// A small key for the set.
    pub fn bits(&self) -> u8 {
        self.sampling as u8
            | (self.elicitation_form as u8) << 1
            | (self.elicitation_url as u8) << 2
            | (self.roots as u8) << 3
    }

    /// The `capabilities` of an `initialize` declaring this set.
    pub fn declared(&self) -> Value {
        let mut c = json!({});
        if self.sampling {
            c["sampling"] = json!({});
        }
        if self.roots {
            c["roots"] = json!({});
        }
        if self.elicitation_form || self.elicitation_url {
            let mut e = json!({});
            if self.elicitation_form {
                e["form"] = json!({});
            }
            if self.elicitation_url {
                e["url"] = json!({});
            }
            c["elicitation"] = e;
        }
        if self.tasks {
            c["extensions"] = json!({ crate::tasks::EXTENSION: {} });
        }
        c
    }

    /// Whether a server request `method` may go to this client, or why not.
    pub fn allows(&self, method: &str, params: Option<&Value>) -> Result<(), String> {
        let (ok, what) = match method {
            "sampling/createMessage" => (self.sampling, "sampling"),
            "roots/list" => (self.roots, "roots"),
            "elicitation/create" => {
                if params.and_then(|p| p.get("mode")).and_then(Value::as_str) == Some("url") {
                    (self.elicitation_url, "URL-mode elicitation")
                } else {
                    (self.elicitation_form, "form-mode elicitation")
                }
            }
            other => {
                return Err(format!(
                    "the gateway does not relay `{other}` requests to AI clients"
                ))
            }
        };
        if ok {
            Ok(())
        } else {
            Err(format!("the AI client did not declare {what} support, so the gateway cannot pass on `{method}`"))
        }
    }
}

/// The AI client a relayed call belongs to: only it may answer the call's server requests.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ClientRef {
    /// The user.
    pub user: String,
    /// The OAuth client.
    pub client: String,
    /// The client session's nonce.
    pub session: String,
}

/// Where a running call's notifications and server requests go: the call's own response
/// stream to its AI client.
#[derive(Clone)]
pub struct Relay {
    /// Messages for the client's stream.
    pub tx: tokio::sync::mpsc::UnboundedSender<Value>,
    /// Who the client is.
    pub client: ClientRef,
    /// What the client declared it can answer.
    pub caps: ClientCaps,
    /// Where server requests wait for the client's answer.
    pub pending: Arc<PendingRequests>,
}

impl std::fmt::Debug for Relay {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Relay")
            .field("client", &self.client)
            .field("caps", &self.caps)
            .finish_non_exhaustive()
    }
}

/// Notifications about a running request that are passed on to the calling client.
pub fn is_relayed(msg: &Value) -> bool {
    msg.get("id").is_none()
        && matches!(
            msg.get("method").and_then(Value::as_str),
            Some("notifications/progress" | "notifications/message")
        )
}

/// How to send a message back into a downstream session (an answer to its request).
#[derive(Clone)]
enum Reply {
    Http(HttpReply),
    Stdio(StdioReply),
}

impl Reply {
    async fn send(&self, msg: &Value) -> Result<(), UpstreamError> {
        match self {
            Reply::Http(h) => h.send(msg).await,
            Reply::Stdio(p) => p.send(msg).await,
        }
    }

    /// Sends in the background (answers the gateway gives on its own).
    fn spawn_send(self, msg: Value) {
        tokio::spawn(async move {
            if let Err(e) = self.send(&msg).await {
                tracing::debug!(error = %e, "answering a server request failed");
            }
        });
    }
}

/// The way back into one run of a hosted process: an answer must not reach a restarted
/// process, which never asked.
#[derive(Clone)]
struct StdioReply {
    process: std::sync::Weak<StdioProcess>,
    exited: Arc<std::sync::atomic::AtomicBool>,
}

impl StdioReply {
    async fn send(&self, msg: &Value) -> Result<(), UpstreamError> {
        let gone = || UpstreamError::Transport("the hosted server that asked has exited".into());
        let process = self.process.upgrade().ok_or_else(gone)?;
        let mut live = process.live.lock().await;
        match live.as_mut() {
            Some(l)
                if Arc::ptr_eq(&l.exited, &self.exited) && !l.exited.load(Ordering::Acquire) =>
            {
                StdioProcess::write(l, msg).await
            }
            _ => Err(gone()),
        }
    }
}

#[derive(Clone)]
struct HttpReply {
    client: reqwest::Client,
    url: reqwest::Url,
    headers: Vec<(String, String)>,
    sid: Option<String>,
    version: String,
}

impl HttpReply {
    async fn send(&self, msg: &Value) -> Result<(), UpstreamError> {
        let mut req = self
            .client
            .post(self.url.clone())
            .header("Accept", "application/json, text/event-stream")
            .header("Content-Type", "application/json")
            .header("MCP-Protocol-Version", &self.version)
            .body(msg.to_string());
        if let Some(sid) = &self.sid {
            req = req.header("Mcp-Session-Id", sid);
        }
        for (k, v) in &self.headers {
            req = req.header(k.as_str(), v.as_str());
        }
        let resp = send(req).await?;
        if resp.status().is_success() {
            Ok(())
        } else {
            Err(UpstreamError::Transport(format!(
                "the server answered HTTP {} to the answer",
                resp.status().as_u16()
            )))
        }
    }

    /// Sends in the background (answers the gateway gives on its own).
    fn spawn_send(self, msg: Value) {
        tokio::spawn(async move {
            if let Err(e) = self.send(&msg).await {
                tracing::debug!(error = %e, "answering a server request failed");
            }
        });
    }
}

/// A [`Reply`] by reference (made owned only when a server request needs one).
struct ReplyTo<'a> {
    client: &'a reqwest::Client,
    url: &'a reqwest::Url,
    creds: &'a Credentials,
    sid: Option<&'a str>,
    version: &'a str,
}

impl ReplyTo<'_> {
    fn owned(&self) -> Reply {
        Reply::Http(HttpReply {
            client: self.client.clone(),
            url: self.url.clone(),
            headers: self.creds.headers.clone(),
            sid: self.sid.map(str::to_string),
            version: self.version.to_string(),
        })
    }
}

/// Server requests waiting for their AI client's answer, by the gateway's request id.
#[derive(Default)]
pub struct PendingRequests {
    map: std::sync::Mutex<HashMap<String, PendingRequest>>,
}

struct PendingRequest {
    client: ClientRef,
    reply: Reply,
    downstream_id: Value,
}

/// Why a client's answer to a server request was not taken.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum AnswerError {
    /// No request of this client waits under that id (never issued, another client's,
    /// already answered, or its call ended).
    Unknown(String),
    /// Not a well-formed JSON-RPC response.
    Malformed(String),
    /// The server could not be given the answer.
    Undeliverable(String),
}

impl PendingRequests {
    fn insert(&self, p: PendingRequest) -> String {
        let id = format!("chamberlain-{}", chamberlain_model::new_id());
        self.map
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .insert(id.clone(), p);
        id
    }

    fn remove(&self, ids: &[String]) {
        let mut map = self.map.lock().unwrap_or_else(|p| p.into_inner());
        for id in ids {
            map.remove(id);
        }
    }

    /// How many requests wait (tests, metrics).
    pub fn len(&self) -> usize {
        self.map.lock().unwrap_or_else(|p| p.into_inner()).len()
    }

    /// Whether none waits.
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    /// Passes `client`'s answer `msg` (a JSON-RPC response whose id is the gateway's) to the
    /// server that asked, under the server's own request id.
    pub async fn answer(&self, client: &ClientRef, msg: &Value) -> Result<(), AnswerError> {
        let Some(id) = msg.get("id").and_then(Value::as_str) else {
            return Err(AnswerError::Unknown(format!(
                "no request of this session waits for an answer with id {}",
                msg.get("id").unwrap_or(&Value::Null)
            )));
        };
        let mut out = match (msg.get("result"), msg.get("error")) {
            (Some(r), None) if r.is_object() => json!({"jsonrpc": "2.0", "result": r}),
            (None, Some(e))
                if e.get("code").is_some_and(Value::is_i64)
                    && e.get("message").is_some_and(Value::is_string) =>
            {
                json!({"jsonrpc": "2.0", "error": e})
            }
            _ => {
                return Err(AnswerError::Malformed(
                    "a response carries either `result` (an object) or `error` ({\"code\": integer, \"message\": string}), not both".into(),
                ))
            }
        };
        // Another client's id is answered like an unknown one and stays pending for its owner.
        let pending = {
            let mut map = self.map.lock().unwrap_or_else(|p| p.into_inner());
            match map.get(id) {
                Some(p) if p.client == *client => map.remove(id),
                _ => None,
            }
        };
        let Some(p) = pending else {
            return Err(AnswerError::Unknown(format!(
                "no request of this session waits for an answer with id \"{id}\" (unknown, already answered, or its call has ended)"
            )));
        };
        out["id"] = p.downstream_id;
        p.reply
            .send(&out)
            .await
            .map_err(|e| AnswerError::Undeliverable(e.to_string()))
    }
}

/// The gateway ids a call issued; they stop being answerable when the call ends.
struct Issued {
    pending: Option<Arc<PendingRequests>>,
    ids: Vec<String>,
}

impl Drop for Issued {
    fn drop(&mut self) {
        if let Some(p) = &self.pending {
            p.remove(&self.ids);
        }
    }
}

/// A call running on a bound session (its relay gets the session's log messages).
struct CallGuard {
    session: Arc<BoundSession>,
    id: u64,
}

impl CallGuard {
    fn register(session: &Arc<BoundSession>, relay: &Relay) -> CallGuard {
        let id = session.next_call.fetch_add(1, Ordering::Relaxed);
        session
            .calls
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .push((id, relay.clone()));
        CallGuard {
            session: session.clone(),
            id,
        }
    }
}

impl Drop for CallGuard {
    fn drop(&mut self) {
        self.session
            .calls
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .retain(|(i, _)| *i != self.id);
    }
}

impl BoundSession {
    fn idle(&self) -> Duration {
        self.last_used
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .elapsed()
    }

    /// Passes on a message from the standalone stream: to the newest running call of the
    /// client, else to the client's own GET stream.
    fn deliver(&self, msg: Value, notices: Option<&tokio::sync::broadcast::Sender<crate::Notice>>) {
        let relay = self
            .calls
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .last()
            .map(|(_, r)| r.tx.clone());
        let msg = match relay {
            Some(tx) => match tx.send(msg) {
                Ok(()) => return,
                Err(e) => e.0,
            },
            None => msg,
        };
        if let Some(n) = notices {
            let _ = n.send(crate::Notice::Session(self.nonce.clone(), msg));
        }
    }
}

/// Holds a bound session's standalone GET stream open while the session lives and passes
/// on what arrives there: log messages, updates of subscribed resources. Requests on it are
/// refused (they are relayed only on the stream of the call they belong to). Reconnects
/// after the stream ends; gives up when the server offers none (405) or forgot the session.
async fn listen(
    reply: HttpReply,
    bound: std::sync::Weak<BoundSession>,
    notices: Option<tokio::sync::broadcast::Sender<crate::Notice>>,
    ready: oneshot::Sender<()>,
) {
    let mut ready = Some(ready);
    let mut failures = 0u32;
    loop {
        if bound.strong_count() == 0 {
            return;
        }
        let mut req = reply
            .client
            .get(reply.url.clone())
            .timeout(Duration::from_secs(600))
            .header("Accept", "text/event-stream")
            .header("MCP-Protocol-Version", &reply.version);
        if let Some(sid) = &reply.sid {
            req = req.header("Mcp-Session-Id", sid);
        }
        for (k, v) in &reply.headers {
            req = req.header(k.as_str(), v.as_str());
        }
        match req.send().await {
            Ok(resp) if matches!(resp.status().as_u16(), 404 | 405) => return,
            Ok(mut resp) if resp.status().is_success() => {
                failures = 0;
                if let Some(r) = ready.take() {
                    let _ = r.send(());
                }
                let mut buf: Vec<u8> = Vec::new();
                while let Ok(Some(chunk)) = resp.chunk().await {
                    buf.extend_from_slice(&chunk);
                    while let Some(end) = find_event_end(&buf) {
                        let event: Vec<u8> = buf.drain(..end.1).collect();
                        let Some(v) = event_message(&event[..end.0]) else {
                            continue;
                        };
                        let Some(bs) = bound.upgrade() else {
                            return;
                        };
                        on_stream_message(&bs, &reply, v, notices.as_ref());
                    }
                    if buf.len() > MAX_STREAM_EVENT_BYTES {
                        tracing::warn!("a server's stream event is too large; reconnecting");
                        break;
                    }
                }
            }
            _ => failures += 1,
        }
        if failures > 5 {
            tracing::warn!("a server's standalone stream keeps failing; no longer listening");
            return;
        }
        tokio::time::sleep(Duration::from_millis(500 << failures)).await;
    }
}

fn on_stream_message(
    bs: &BoundSession,
    reply: &HttpReply,
    v: Value,
    notices: Option<&tokio::sync::broadcast::Sender<crate::Notice>>,
) {
    let method = v.get("method").and_then(Value::as_str).unwrap_or("");
    if let Some(id) = v.get("id").filter(|_| !method.is_empty()) {
        let answer = if method == "ping" {
            json!({"jsonrpc": "2.0", "id": id, "result": {}})
        } else {
            json!({"jsonrpc": "2.0", "id": id, "error": {"code": -32601,
                "message": format!("the gateway relays `{method}` only on the stream of the call it belongs to")}})
        };
        reply.clone().spawn_send(answer);
        return;
    }
    match method {
        "notifications/message" => bs.deliver(v, notices),
        "notifications/resources/updated" => {
            let uri = v.pointer("/params/uri").and_then(Value::as_str);
            let subscribed = uri.is_some_and(|u| {
                bs.subscribed
                    .lock()
                    .unwrap_or_else(|p| p.into_inner())
                    .contains(u)
            });
            // Resource URIs are the same at the gateway and the server (never rewritten).
            if let (true, Some(n)) = (subscribed, notices) {
                let _ = n.send(crate::Notice::Session(bs.nonce.clone(), v));
            }
        }
        _ => {}
    }
}

/// The JSON message of one SSE event's text (its `data:` lines).
fn event_message(event: &[u8]) -> Option<Value> {
    let text = String::from_utf8_lossy(event);
    let data: Vec<&str> = text
        .lines()
        .filter_map(|l| l.strip_prefix("data:"))
        .map(|d| d.strip_prefix(' ').unwrap_or(d))
        .collect();
    if data.is_empty() {
        return None;
    }
    serde_json::from_str(&data.join("\n")).ok()
}

/// A request the server makes of the client during a call: passed on to the call's client
/// under a gateway id when it declared the capability, else refused to the server at once.
fn server_request(v: Value, relay: Option<&Relay>, to: impl Fn() -> Reply, issued: &mut Issued) {
    let method = v
        .get("method")
        .and_then(Value::as_str)
        .unwrap_or("")
        .to_string();
    let downstream_id = v.get("id").cloned().unwrap_or(Value::Null);
    if method == "ping" {
        to().spawn_send(json!({"jsonrpc": "2.0", "id": downstream_id, "result": {}}));
        return;
    }
    let refusal = match relay {
        None => "the AI client's request cannot carry server requests (it does not accept an event stream)".to_string(),
        Some(r) => match r.caps.allows(&method, v.get("params")) {
            Ok(()) => {
                let gid = r.pending.insert(PendingRequest {
                    client: r.client.clone(),
                    reply: to(),
                    downstream_id: downstream_id.clone(),
                });
                issued.pending.get_or_insert_with(|| r.pending.clone());
                issued.ids.push(gid.clone());
                let mut out = v;
                out["id"] = json!(gid);
                match r.tx.send(out) {
                    Ok(()) => return,
                    Err(_) => "the AI client is gone".to_string(),
                }
            }
            Err(why) => why,
        },
    };
    to().spawn_send(json!({"jsonrpc": "2.0", "id": downstream_id,
        "error": {"code": -32601, "message": refusal}}));
}

/// Reads the answer to request `id`: a JSON body, or an SSE stream in which the answer is one
/// of the events. Progress and log notifications before it go to `relay`; requests the server
/// makes of the client go to `relay` too when the client may answer them, else are refused
/// to the server through `to` (without `to` they are skipped).
async fn read_response(
    mut resp: reqwest::Response,
    id: i64,
    relay: Option<&Relay>,
    to: Option<ReplyTo<'_>>,
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
    let mut issued = Issued {
        pending: None,
        ids: Vec::new(),
    };
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
            let Some(v) = event_message(&event[..end.0]) else {
                continue;
            };
            if v.get("id").and_then(Value::as_i64) == Some(id)
                && (v.get("result").is_some() || v.get("error").is_some())
            {
                return rpc_result(v);
            }
            if v.get("id").is_some() && v.get("method").is_some() {
                if let Some(to) = &to {
                    server_request(v, relay, || to.owned(), &mut issued);
                }
                continue;
            }
            if let Some(r) = relay.filter(|_| is_relayed(&v)) {
                let _ = r.tx.send(v);
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

/// Running `tools/call`s of a hosted process by the gateway's request id: where their server
/// requests go, and the gateway ids issued for them (unanswerable once the call ends).
type Calls = Arc<std::sync::Mutex<HashMap<i64, StdioCallEntry>>>;

struct StdioCallEntry {
    relay: Option<Relay>,
    issued: Vec<String>,
}

/// Unregisters a call from [`Calls`] when it ends (answered, failed or abandoned).
struct StdioCall {
    calls: Calls,
    id: i64,
}

impl Drop for StdioCall {
    fn drop(&mut self) {
        let entry = self
            .calls
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .remove(&self.id);
        if let Some(StdioCallEntry {
            relay: Some(r),
            issued,
        }) = entry
        {
            r.pending.remove(&issued);
        }
    }
}

/// A supervised child process speaking MCP over stdio.
struct StdioProcess {
    /// Itself, for the way back of answers to its requests.
    me: std::sync::Weak<StdioProcess>,
    argv: Vec<String>,
    env: Vec<(String, String)>,
    /// The client capabilities declared to it (those of the clients it serves).
    caps: ClientCaps,
    calls: Calls,
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
    fn start(argv: Vec<String>, env: Vec<(String, String)>, caps: ClientCaps) -> Arc<Self> {
        Arc::new_cyclic(|me| StdioProcess {
            me: me.clone(),
            argv,
            env,
            caps,
            calls: Calls::default(),
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
            let calls = self.calls.clone();
            let me = self.me.clone();
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
                            let _ = relay.tx.send(v);
                        }
                        continue;
                    }
                    let is_answer = v.get("result").is_some() || v.get("error").is_some();
                    if !is_answer && v.get("id").is_some() && v.get("method").is_some() {
                        let reply = StdioReply {
                            process: me.clone(),
                            exited: exited.clone(),
                        };
                        stdio_server_request(v, &pending, &calls, reply);
                        continue;
                    }
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
        let init = json!({"jsonrpc": "2.0", "id": id, "method": "initialize", "params": initialize_params(self.caps)});
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
        // Its requests of the client can be relayed while it is the process's only work.
        let _call = (method == "tools/call").then(|| {
            self.calls.lock().unwrap_or_else(|p| p.into_inner()).insert(
                id,
                StdioCallEntry {
                    relay: relay.cloned(),
                    issued: Vec::new(),
                },
            );
            StdioCall {
                calls: self.calls.clone(),
                id,
            }
        });
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

/// A request a hosted process makes of the client. Over stdio nothing ties it to one of the
/// calls the process serves, so it is relayed (like [`server_request`]) only while exactly one
/// request to the process is unanswered, counting calls the gateway gave up on (the process
/// may still be working on those), and that request is a `tools/call`; otherwise the process
/// is refused at once, so it does not wait for an answer that cannot come.
fn stdio_server_request(v: Value, pending: &Pending, calls: &Calls, reply: StdioReply) {
    let to = || Reply::Stdio(reply.clone());
    let method = v.get("method").and_then(Value::as_str).unwrap_or("");
    let id = v.get("id").cloned().unwrap_or(Value::Null);
    if method == "ping" {
        to().spawn_send(json!({"jsonrpc": "2.0", "id": id, "result": {}}));
        return;
    }
    let sole = {
        let pending = pending.lock().unwrap_or_else(|p| p.into_inner());
        (pending.len() == 1)
            .then(|| pending.keys().next().copied())
            .flatten()
    };
    let found = sole.and_then(|call| {
        calls
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .get(&call)
            .map(|c| (call, c.relay.clone()))
    });
    let Some((call, relay)) = found else {
        to().spawn_send(json!({"jsonrpc": "2.0", "id": id, "error": {"code": -32601,
            "message": format!("the gateway cannot tell which caller `{method}` is for: the hosted server is not working on exactly one tool call")}}));
        return;
    };
    let mut issued = Issued {
        pending: None,
        ids: Vec::new(),
    };
    server_request(v, relay.as_ref(), to, &mut issued);
    if !issued.ids.is_empty() {
        if let Some(c) = calls
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .get_mut(&call)
        {
            c.issued.append(&mut issued.ids);
        }
    }
    // Ids left in `issued` (the call ended meanwhile) stop being answerable here.
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
    fn client_capabilities_decide_what_is_relayed() {
        let caps = ClientCaps::from_capabilities(Some(&json!({"sampling": {}, "elicitation": {}})));
        assert!(caps.sampling && caps.elicitation_form && !caps.elicitation_url && !caps.roots);
        assert!(caps.allows("sampling/createMessage", None).is_ok());
        assert!(caps
            .allows("elicitation/create", Some(&json!({"mode": "form"})))
            .is_ok());
        assert!(caps.allows("elicitation/create", None).is_ok());
        assert!(caps
            .allows("elicitation/create", Some(&json!({"mode": "url"})))
            .is_err());
        assert!(caps.allows("roots/list", None).is_err());
        assert!(caps.allows("tasks/get", None).is_err());
        let url_only = ClientCaps::from_capabilities(Some(&json!({"elicitation": {"url": {}}})));
        assert!(url_only.elicitation_url && !url_only.elicitation_form);
        assert_eq!(ClientCaps::from_capabilities(None), ClientCaps::default());
        assert_eq!(ClientCaps::default().declared(), json!({}));
        assert_eq!(
            caps.declared(),
            json!({"sampling": {}, "elicitation": {"form": {}}})
        );
        assert_ne!(caps.bits(), url_only.bits());
    }

    #[tokio::test]
    async fn answers_go_only_to_the_client_that_was_asked() {
        let pending = PendingRequests::default();
        let owner = ClientRef {
            user: "u".into(),
            client: "c".into(),
            session: "n".into(),
        };
        let other = ClientRef {
            session: "other".into(),
            ..owner.clone()
        };
        let id = pending.insert(PendingRequest {
            client: owner.clone(),
            reply: Reply::Http(HttpReply {
                client: reqwest::Client::new(),
                // Nothing listens there: delivery fails, but only after the checks.
                url: "http://127.0.0.1:9/mcp".parse().unwrap(),
                headers: vec![],
                sid: None,
                version: UPSTREAM_PROTOCOL.into(),
            }),
            downstream_id: json!(1),
        });
        let answer = json!({"jsonrpc": "2.0", "id": id, "result": {}});
        assert!(matches!(
            pending.answer(&other, &answer).await,
            Err(AnswerError::Unknown(_))
        ));
        assert!(matches!(
            pending
                .answer(&owner, &json!({"jsonrpc": "2.0", "id": id, "result": []}))
                .await,
            Err(AnswerError::Malformed(_))
        ));
        assert_eq!(
            pending.len(),
            1,
            "refused answers leave the request pending"
        );
        assert!(matches!(
            pending.answer(&owner, &answer).await,
            Err(AnswerError::Undeliverable(_))
        ));
        assert!(pending.is_empty());
        assert!(matches!(
            pending.answer(&owner, &answer).await,
            Err(AnswerError::Unknown(_))
        ));
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
