//! The governed MCP gateway.
//!
//! AI clients connect to one endpoint; the gateway shows each user exactly the approved,
//! not-killed tools in toolsets (or tool entitlements) they hold right now, checks the same on
//! every call, forwards allowed calls to the downstream server with the server's own
//! credentials (never the client's token), and audits every request.
//!
//! * [`registry`]: servers, toolsets and discovery results as stored objects.
//! * [`index`]: the in-memory authorization index, rebuilt when the registry changes.
//! * [`protocol`]: the MCP methods the gateway answers (both protocol eras).
//! * [`features`]: downstream resources, resource templates, prompts and completions, under
//!   the same governance as tools (a user sees them for the servers whose tools they see).
//! * [`upstream`]: downstream clients (Streamable HTTP, supervised stdio processes).
//! * [`credentials`]: sealed downstream credentials and how they go on the wire.
//! * [`connections`]: downstream OAuth identities (per-user connections, service mode): the
//!   connect flow, the token vault and refresh; [`oauth_client`] speaks to the providers.
//! * [`session`]: stateless, sealed legacy session ids.
//! * [`audit`]: the batched AI tool usage audit.
//! * [`param_headers`]: `Mcp-Param-*` headers of 2026-07-28 tool calls (SEP-2243): checked
//!   against the arguments, mirrored downstream.
//! * [`tasks`]: the Tasks extension (SEP-2663): downstream tasks under sealed gateway task ids.
//! * [`names`]: exposed tool names (`<prefix>_<tool>`, unique, ≤ 64 characters).

pub mod audit;
pub mod connections;
pub mod credentials;
pub mod features;
pub mod index;
pub mod mrtr;
pub mod names;
pub mod oauth_client;
pub mod param_headers;
pub mod protocol;
pub mod registry;
pub mod session;
pub mod tasks;
pub mod upstream;

use chamberlain_auth::crypto::SecretBox;
use chamberlain_model::mcp::{DiscoveryReport, McpServer, McpServerType};
use chamberlain_model::Timestamp;
use chamberlain_outbound::Guard;
use chamberlain_store::repo::{jobs, mcp};
use chamberlain_store::{write_tx, AuditCtx, Store, StoreError};
use credentials::Secrets;
use index::Index;
use registry::ToolDefaults;
use serde_json::Value;
use std::collections::{HashMap, HashSet};
use std::sync::{Arc, RwLock};
use std::time::{Duration, Instant};
use tokio::sync::{broadcast, Mutex};
use upstream::{Credentials, Endpoint, Upstream, UpstreamError};

/// Why a request cannot go to a server that has no runtime (deleted meanwhile).
const NOT_REGISTERED: &str = "the server is not registered";

/// The one text an AI client sees for any refused call (C1's wording).
pub fn denial_text(tool: &str) -> String {
    format!("Access denied: tool `{tool}` is not in your current tool list.")
}

/// Something connected clients should hear about.
#[derive(Clone, Debug, PartialEq)]
pub enum Notice {
    /// The tool list of this user may have changed.
    User(String),
    /// Everyone's tool list may have changed (registry change).
    Everyone,
    /// A message for the GET stream of one legacy client session (by nonce): a downstream
    /// server's log message or resource update from that session's bound downstream session.
    Session(String, Value),
}

/// A server's runtime: its view, opened credentials and client.
struct Runtime {
    server: McpServer,
    secrets: Secrets,
    upstream: Arc<Upstream>,
    fingerprint: String,
}

/// The gateway (one per process), shared by the HTTP layer and the admin API.
pub struct Gateway {
    store: Store,
    secrets: SecretBox,
    guard: Guard,
    index: RwLock<Arc<Index>>,
    runtimes: Mutex<HashMap<String, Arc<Runtime>>>,
    notices: broadcast::Sender<Notice>,
    audit: audit::AuditSink,
    defaults: RwLock<ToolDefaults>,
    tokens: Mutex<HashMap<String, (String, Instant)>>,
    cursor: Mutex<String>,
    /// Serializes reloads, so an older snapshot never replaces a newer index.
    reload_lock: Mutex<()>,
    /// Legacy sessions ended with DELETE (by nonce), on any replica, within their lifetime.
    ended: std::sync::Mutex<HashMap<String, Instant>>,
    /// This server's public URL (connect pages and the OAuth callback live under it).
    public_url: String,
    /// One at a time per key: token refresh per downstream connection, discovery per server.
    keyed_locks: Mutex<HashMap<String, Arc<Mutex<()>>>>,
    /// Downstream requests relayed to AI clients, waiting for their answers.
    pending: Arc<upstream::PendingRequests>,
}

/// Change event kind announcing an ended legacy session to every replica.
pub const SESSION_ENDED_EVENT: &str = "mcp.session_ended";
/// Lifetime of a legacy session; after it the client initializes again.
pub const SESSION_LIFETIME: Duration = Duration::from_secs(24 * 3600);

impl Gateway {
    /// Builds the gateway and loads the index. Must run inside a tokio runtime.
    pub async fn new(
        store: Store,
        secrets: SecretBox,
        guard: Guard,
        public_url: &str,
    ) -> Result<Arc<Gateway>, StoreError> {
        let cursor = jobs::latest_event_id(&store).await?;
        let gw = Arc::new(Gateway {
            audit: audit::AuditSink::spawn(store.clone()),
            store,
            secrets,
            guard,
            index: RwLock::new(Arc::new(Index::default())),
            runtimes: Mutex::new(HashMap::new()),
            notices: broadcast::channel(1024).0,
            defaults: RwLock::new(ToolDefaults::default()),
            tokens: Mutex::new(HashMap::new()),
            cursor: Mutex::new(cursor),
            reload_lock: Mutex::new(()),
            ended: std::sync::Mutex::new(HashMap::new()),
            public_url: public_url.trim_end_matches('/').to_string(),
            keyed_locks: Mutex::new(HashMap::new()),
            pending: Arc::default(),
        });
        gw.refresh_settings().await?;
        gw.reload().await?;
        Ok(gw)
    }

    /// The secret box (sealing credentials, sessions).
    pub fn secrets(&self) -> &SecretBox {
        &self.secrets
    }

    /// The outbound guard for MCP servers.
    pub fn guard(&self) -> &Guard {
        &self.guard
    }

    /// The audit sink.
    pub fn audit(&self) -> &audit::AuditSink {
        &self.audit
    }

    /// The index now.
    pub fn index(&self) -> Arc<Index> {
        self.index.read().unwrap_or_else(|p| p.into_inner()).clone()
    }

    /// How new tools start (from the AI-governance settings).
    pub fn tool_defaults(&self) -> ToolDefaults {
        self.defaults
            .read()
            .unwrap_or_else(|p| p.into_inner())
            .clone()
    }

    /// Updates how new tools start (the settings owner calls this on every change). The
    /// tenant's "disable MCP traffic" switch is enforced where every request is authenticated
    /// (`oauth::authenticate_mcp`), not here.
    pub fn set_tool_defaults(&self, defaults: ToolDefaults) {
        *self.defaults.write().unwrap_or_else(|p| p.into_inner()) = defaults;
    }

    /// Downstream requests waiting for AI clients' answers.
    pub fn pending(&self) -> &Arc<upstream::PendingRequests> {
        &self.pending
    }

    /// Passes an AI client's answer to a relayed server request on to the server that asked.
    pub async fn answer(
        &self,
        client: &upstream::ClientRef,
        msg: &Value,
    ) -> Result<(), upstream::AnswerError> {
        self.pending.answer(client, msg).await
    }

    /// Subscribes to notices for connected sessions.
    pub fn subscribe(&self) -> broadcast::Receiver<Notice> {
        self.notices.subscribe()
    }

    /// Rebuilds the index from the store and refreshes server runtimes whose configuration
    /// changed; tells every connected session its tool list may have changed.
    pub async fn reload(&self) -> Result<(), StoreError> {
        let _one_at_a_time = self.reload_lock.lock().await;
        let snap = mcp::snapshot(&self.store).await?;
        let mut sealed = HashMap::new();
        for s in &snap.servers {
            sealed.insert(
                s.connector_id.clone(),
                mcp::sealed_auth(self.store.pool(), &s.connector_id).await?,
            );
        }
        let index = Index::build(snap);
        {
            let mut runtimes = self.runtimes.lock().await;
            let mut next = HashMap::new();
            for (id, server) in &index.servers {
                let sealed = sealed.get(id).cloned().unwrap_or_default();
                let fingerprint = format!(
                    "{}|{}|{}",
                    server.endpoint_url,
                    server.chamberlain_command.join("\u{1f}"),
                    sealed
                );
                if let Some(rt) = runtimes.get(id).filter(|rt| rt.fingerprint == fingerprint) {
                    let mut same = (**rt).clone_with(server.clone());
                    same.fingerprint = fingerprint;
                    next.insert(id.clone(), Arc::new(same));
                    continue;
                }
                let secrets = Secrets::open(&self.secrets, id, &sealed).unwrap_or_else(|e| {
                    tracing::error!(server = %id, error = %e, "MCP server credentials cannot be opened");
                    Secrets::default()
                });
                next.insert(
                    id.clone(),
                    Arc::new(Runtime {
                        upstream: Arc::new(
                            Upstream::new(endpoint_of(server), self.guard.clone())
                                .with_notices(self.notices.clone()),
                        ),
                        server: server.clone(),
                        secrets,
                        fingerprint,
                    }),
                );
            }
            for (id, old) in runtimes.drain() {
                let replaced = next
                    .get(&id)
                    .is_none_or(|n| !Arc::ptr_eq(&n.upstream, &old.upstream));
                if replaced {
                    let up = old.upstream.clone();
                    tokio::spawn(async move { up.shutdown().await });
                    // A client-credentials token of the old configuration is not reused.
                    self.tokens.lock().await.remove(&id);
                }
            }
            *runtimes = next;
        }
        *self.index.write().unwrap_or_else(|p| p.into_inner()) = Arc::new(index);
        let _ = self.notices.send(Notice::Everyone);
        Ok(())
    }

    /// The entitlements `user_id` holds in gateway apps right now (expired ones excluded):
    /// one indexed lookup of the user's current grants, so a revocation committed on any
    /// replica denies the very next call.
    pub async fn held(&self, index: &Index, user_id: &str) -> Result<HashSet<String>, StoreError> {
        let grants = mcp::user_grants(&self.store, user_id, &index.app_ids).await?;
        Ok(index.held(&grants, Timestamp::now()))
    }

    async fn runtime(&self, server_id: &str) -> Option<Arc<Runtime>> {
        self.runtimes.lock().await.get(server_id).cloned()
    }

    /// The credentials of a request to a server: shared ones, or for OAuth identities the
    /// calling user's connection (`user` set) or the identity discovery uses (`user` None).
    async fn credentials(
        &self,
        rt: &Runtime,
        user: Option<&str>,
    ) -> Result<Credentials, UpstreamError> {
        // Whose credentials: per-user connections are the user's (discovery uses its own
        // slot); everything else is the server's one identity.
        let mut owner = "";
        let token = if credentials::needs_client_credentials(&rt.server) {
            Some(self.client_credentials_token(rt).await?)
        } else if let Some(service) = connections::identity_kind(&rt.server) {
            Some(match user {
                Some(u) => {
                    owner = connections::identity(&rt.server, u);
                    self.connection_token(&rt.server, &rt.secrets, owner)
                        .await?
                }
                None => {
                    owner = if service { "" } else { "discovery" };
                    self.discovery_token(&rt.server, &rt.secrets).await?
                }
            })
        } else {
            None
        };
        Ok(credentials::resolve(
            &rt.server,
            &rt.secrets,
            token.as_deref(),
            owner,
        ))
    }

    /// An OAuth2 access token from the server's token endpoint (client credentials), cached
    /// until a minute before it expires.
    async fn client_credentials_token(&self, rt: &Runtime) -> Result<String, UpstreamError> {
        let id = &rt.server.connector_id;
        if let Some((t, until)) = self.tokens.lock().await.get(id) {
            if Instant::now() < *until {
                return Ok(t.clone());
            }
        }
        let client = oauth_client::ClientAuth {
            client_id: &rt.server.oauth2_client_id,
            client_secret: &rt.secrets.oauth2_client_secret,
        };
        let set = oauth_client::client_credentials(
            &self.guard,
            &rt.server.oauth2_token_url,
            &client,
            &rt.server.oauth2_scopes,
        )
        .await
        .map_err(|e| match e {
            oauth_client::TokenError::Refused(m) => UpstreamError::Unauthorized(m),
            oauth_client::TokenError::Unavailable(m) => UpstreamError::Transport(m),
        })?;
        // No `expires_in`: assume five minutes.
        let now = Timestamp::now().unix_seconds();
        let ttl = if set.expires_at > 0 {
            set.expires_at - now
        } else {
            300
        };
        let until = Instant::now() + Duration::from_secs(ttl.saturating_sub(60).max(1) as u64);
        self.tokens
            .lock()
            .await
            .insert(id.clone(), (set.access_token.clone(), until));
        Ok(set.access_token)
    }

    /// Forwards a `tools/call` of `user_id` to the tool's server under its native name. With a
    /// `progress_token` (the client's), the server's progress and log notifications about the
    /// call go to `relay`.
    pub async fn call_tool(
        &self,
        tool: &chamberlain_model::mcp::McpTool,
        arguments: Value,
        user_id: &str,
        progress_token: Option<Value>,
        relay: Option<&upstream::Relay>,
        bind: Option<upstream::Binding<'_>>,
    ) -> Result<Value, UpstreamError> {
        let mut params = serde_json::json!({"name": tool.tool_name});
        if !arguments.is_null() {
            params["arguments"] = arguments;
        }
        if let Some(t) = progress_token {
            params["_meta"] = serde_json::json!({ "progressToken": t });
        }
        self.request_bound(
            &tool.connector_id,
            "tools/call",
            params,
            user_id,
            relay,
            bind,
        )
        .await
    }

    /// Sends a 2026-07-28 client's request statelessly to a server that speaks 2026-07-28
    /// (declaring the client's capabilities), so the server can answer `input_required` and
    /// take `inputResponses` / `requestState` on the retry; None when the server speaks only
    /// the session era (the caller then uses a downstream session). `headers` are extra HTTP
    /// headers of the request (the `Mcp-Param-*` headers of a `tools/call`).
    pub async fn request_modern(
        &self,
        server_id: &str,
        (method, headers): (&str, &[(String, String)]),
        params: Value,
        user_id: &str,
        caps: upstream::ClientCaps,
        relay: Option<&upstream::Relay>,
    ) -> Result<Option<Value>, UpstreamError> {
        let rt = self
            .runtime(server_id)
            .await
            .ok_or_else(|| UpstreamError::Transport(NOT_REGISTERED.into()))?;
        // Known session-era servers are left before credentials are read (the session path
        // reads them itself).
        if rt.upstream.known_modern() == Some(false) {
            return Ok(None);
        }
        let creds = self.credentials(&rt, Some(user_id)).await?;
        if !rt.upstream.speaks_modern(&creds).await {
            return Ok(None);
        }
        let result = rt
            .upstream
            .stateless(method, params, &creds, caps, relay, headers)
            .await;
        self.connection_refused(&rt, user_id, result)
            .await
            .map(Some)
    }

    /// Sends one request of `user_id` to a server with the credentials that user's requests
    /// use (shared ones, or their own OAuth connection); progress and log notifications about
    /// it go to `relay`.
    pub async fn request_as(
        &self,
        server_id: &str,
        method: &str,
        params: Value,
        user_id: &str,
        relay: Option<&upstream::Relay>,
    ) -> Result<Value, UpstreamError> {
        self.request_bound(server_id, method, params, user_id, relay, None)
            .await
    }

    /// [`Gateway::request_as`] on the downstream session bound to a client session
    /// ([`upstream::BoundSession`]) when `bind` says so.
    pub async fn request_bound(
        &self,
        server_id: &str,
        method: &str,
        params: Value,
        user_id: &str,
        relay: Option<&upstream::Relay>,
        bind: Option<upstream::Binding<'_>>,
    ) -> Result<Value, UpstreamError> {
        let rt = self
            .runtime(server_id)
            .await
            .ok_or_else(|| UpstreamError::Transport(NOT_REGISTERED.into()))?;
        let creds = self.credentials(&rt, Some(user_id)).await?;
        let result = rt
            .upstream
            .request_bound(method, params, &creds, relay, bind)
            .await;
        self.connection_refused(&rt, user_id, result).await
    }

    /// Records a client session's subscription to `uri` of a server (after the server took
    /// it), so the server's updates of it reach that session.
    pub async fn note_subscription(&self, server_id: &str, nonce: &str, uri: &str, on: bool) {
        if let Some(rt) = self.runtime(server_id).await {
            rt.upstream.set_subscribed(nonce, uri, on).await;
        }
    }

    /// Ends the bound downstream sessions (subscriptions, log relays) of users who may no
    /// longer use their server (grants changed, the registry changed): one grants read per
    /// user holding bound sessions (`only`: just these users). A user whose grants cannot be
    /// read keeps theirs until the next change.
    async fn revalidate_bound(&self, only: Option<&HashSet<String>>) {
        let upstreams: Vec<(String, Arc<Upstream>)> = self
            .runtimes
            .lock()
            .await
            .iter()
            .map(|(id, rt)| (id.clone(), rt.upstream.clone()))
            .collect();
        let mut users = HashSet::new();
        for (_, up) in &upstreams {
            users.extend(up.bound_users().await);
        }
        if let Some(only) = only {
            users.retain(|u| only.contains(u));
        }
        let index = self.index();
        for u in users {
            let held = match self.held(&index, &u).await {
                Ok(h) => h,
                Err(e) => {
                    tracing::warn!(error = %e, "gateway: re-checking bound sessions failed");
                    continue;
                }
            };
            let visible: HashSet<&str> = index
                .servers_for(&held)
                .into_iter()
                .map(|s| s.connector_id.as_str())
                .collect();
            for (id, up) in &upstreams {
                if !visible.contains(id.as_str()) {
                    up.end_bound_of(&u).await;
                }
            }
        }
    }

    /// The running upstreams, copied out so no lock is held while they are awaited.
    async fn upstreams(&self) -> Vec<Arc<Upstream>> {
        self.runtimes
            .lock()
            .await
            .values()
            .map(|rt| rt.upstream.clone())
            .collect()
    }

    /// Closes the downstream sessions bound to a client session (it ended).
    async fn end_bound(&self, nonce: &str) {
        for up in self.upstreams().await {
            up.end_bound(nonce).await;
        }
    }

    /// Lists everything a paginated list method of a server gives `user_id` (all pages, at most
    /// `max_items`), with that user's credentials.
    pub async fn list_as(
        &self,
        server_id: &str,
        method: &str,
        key: &str,
        user_id: &str,
        max_items: usize,
    ) -> Result<Vec<Value>, UpstreamError> {
        let rt = self
            .runtime(server_id)
            .await
            .ok_or_else(|| UpstreamError::Transport(NOT_REGISTERED.into()))?;
        let creds = self.credentials(&rt, Some(user_id)).await?;
        let result = rt.upstream.list_all(method, key, &creds, max_items).await;
        self.connection_refused(&rt, user_id, result).await
    }

    /// The provider no longer accepts an OAuth connection's token (revoked there, expired
    /// early): the user (or an admin, in service mode) must connect again.
    async fn connection_refused<T>(
        &self,
        rt: &Runtime,
        user_id: &str,
        result: Result<T, UpstreamError>,
    ) -> Result<T, UpstreamError> {
        match result {
            Err(UpstreamError::Unauthorized(why))
                if connections::identity_kind(&rt.server).is_some() =>
            {
                let identity = connections::identity(&rt.server, user_id);
                let why = format!("the server refused the connection's token: {why}");
                self.mark_needs_reconnect(&rt.server, identity, &why).await;
                Err(UpstreamError::ConnectionRequired(
                    index::Denial::ConnectionNeedsReconnect(why),
                ))
            }
            other => other,
        }
    }

    /// Lists a registered server's tools with its configured credentials.
    pub async fn list_upstream_tools(&self, server_id: &str) -> Result<Vec<Value>, UpstreamError> {
        let rt = self
            .runtime(server_id)
            .await
            .ok_or_else(|| UpstreamError::Transport(NOT_REGISTERED.into()))?;
        let creds = self.credentials(&rt, None).await?;
        rt.upstream.list_tools(&creds).await
    }

    /// Discovers a server's tools now and applies the result (the same on registration, on
    /// demand and on schedule). A failed listing is recorded on the server and returned.
    pub async fn discover(
        &self,
        server_id: &str,
        ctx: &AuditCtx,
    ) -> Result<DiscoveryReport, StoreError> {
        // Registration, on-demand and scheduled discovery of one server may overlap.
        let lock = self.keyed_lock(&format!("discover:{server_id}")).await;
        let _one = lock.lock().await;
        let listed =
            tokio::time::timeout(Duration::from_secs(30), self.list_upstream_tools(server_id))
                .await;
        let defaults = self.tool_defaults();
        let id = server_id.to_string();
        let mut attempt = 0;
        let report = loop {
            attempt += 1;
            let applied = write_tx!(self.store, ctx, |tx| {
                let server: McpServer = tx.must_get(&id).await?;
                match &listed {
                    Ok(Ok(tools)) => registry::apply_discovery(tx, &server, tools, &defaults).await,
                    Ok(Err(UpstreamError::ConnectionRequired(_))) => {
                        let how = if connections::identity_kind(&server) == Some(true) {
                            "an admin must authorize the service identity"
                        } else {
                            "connect an account"
                        };
                        registry::discovery_failed(
                            tx,
                            &server,
                            &format!(
                                "tool discovery waits for an OAuth connection: {how} at {}",
                                connections::connect_url(&self.public_url, &server.connector_id)
                            ),
                        )
                        .await
                    }
                    Ok(Err(e)) => {
                        registry::discovery_failed(
                            tx,
                            &server,
                            &format!("tool discovery failed: {e}"),
                        )
                        .await
                    }
                    Err(_) => {
                        registry::discovery_failed(
                            tx,
                            &server,
                            "tool discovery failed: the server did not answer within 30 s",
                        )
                        .await
                    }
                }
            });
            match applied {
                // Another replica's discovery inserted the same new tools first: apply again
                // over what it stored.
                Err(StoreError::Conflict(_)) if attempt < 3 => continue,
                other => break other?,
            }
        };
        self.reload().await?;
        Ok(report)
    }

    /// Probes a server configuration without registering it: initialize + tools/list.
    pub async fn test_connection(
        &self,
        server: &McpServer,
        secrets: &Secrets,
    ) -> Result<usize, UpstreamError> {
        let up = Upstream::new(endpoint_of(server), self.guard.clone());
        let rt = Runtime {
            server: server.clone(),
            secrets: secrets.clone(),
            upstream: Arc::new(up),
            fingerprint: String::new(),
        };
        let creds = self.credentials(&rt, None).await;
        let result = match creds {
            Ok(c) => tokio::time::timeout(Duration::from_secs(20), rt.upstream.list_tools(&c))
                .await
                .unwrap_or_else(|_| {
                    Err(UpstreamError::Transport(
                        "the server did not answer within 20 s".into(),
                    ))
                }),
            Err(e) => Err(e),
        };
        rt.upstream.shutdown().await;
        result.map(|t| t.len())
    }

    /// Follows change events (this and other replicas): registry changes reload the index;
    /// grant changes in gateway apps tell the affected user's sessions. Also reloads every
    /// 30 s as a safety net. Runs until the process ends.
    pub async fn watch(self: Arc<Self>) {
        let mut last_full = Instant::now();
        let mut last_settings = Instant::now() - Duration::from_secs(60);
        loop {
            tokio::time::sleep(Duration::from_millis(250)).await;
            if last_settings.elapsed() > Duration::from_secs(2) {
                last_settings = Instant::now();
                if let Err(e) = self.refresh_settings().await {
                    tracing::warn!(error = %e, "gateway: reading AI governance settings failed");
                }
            }
            if let Err(e) = self.poll_events().await {
                tracing::warn!(error = %e, "gateway: reading change events failed");
            }
            if last_full.elapsed() > Duration::from_secs(30) {
                last_full = Instant::now();
                for up in self.upstreams().await {
                    up.sweep_bound().await;
                }
                if let Err(e) = self.reload().await {
                    tracing::warn!(error = %e, "gateway: periodic reload failed");
                }
            }
        }
    }

    /// Applies the AI-governance settings: how new tools start.
    pub async fn refresh_settings(&self) -> Result<(), StoreError> {
        let s = chamberlain_store::repo::ai_governance::load(&self.store).await?;
        self.set_tool_defaults(ToolDefaults {
            require_tool_approval: s.require_tool_approval,
            default_classification: s.default_tool_classification,
        });
        Ok(())
    }

    async fn poll_events(&self) -> Result<(), StoreError> {
        let cursor = self.cursor.lock().await.clone();
        let events =
            jobs::events_after(&self.store, &cursor, Duration::from_millis(200), 1000).await?;
        let Some(last) = events.last() else {
            return Ok(());
        };
        let last = last.id.clone();
        let index = self.index();
        let mut reload = false;
        let mut users = HashSet::new();
        for e in &events {
            if e.kind == mcp::CHANGED_EVENT {
                reload = true;
            } else if e.kind == SESSION_ENDED_EVENT {
                if let Some(n) = e.doc.get("n").and_then(Value::as_str) {
                    self.mark_ended(n);
                    self.end_bound(n).await;
                }
            } else if e.kind == "grant.changed" && index.app_ids.contains(&e.app_id) {
                if let Some(au) = e.doc.get("appUserId").and_then(Value::as_str) {
                    if let Some(u) = mcp::account_owner(&self.store, au).await? {
                        users.insert(u);
                    }
                }
            }
        }
        if reload {
            self.reload().await?;
            self.revalidate_bound(None).await;
        } else if !users.is_empty() {
            self.revalidate_bound(Some(&users)).await;
        }
        for u in users {
            let _ = self.notices.send(Notice::User(u));
        }
        *self.cursor.lock().await = last;
        Ok(())
    }

    /// Whether a legacy session (by its nonce) was ended.
    pub fn session_ended(&self, nonce: &str) -> bool {
        self.ended
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .contains_key(nonce)
    }

    /// Ends a legacy session everywhere: recorded here at once and on other replicas from the
    /// change event.
    pub async fn end_session(&self, nonce: &str) -> Result<(), StoreError> {
        self.mark_ended(nonce);
        self.end_bound(nonce).await;
        let doc = serde_json::json!({ "n": nonce });
        write_tx!(self.store, &AuditCtx::system("mcp gateway"), |tx| {
            jobs::append_event(tx, SESSION_ENDED_EVENT, "", &doc)
                .await
                .map(|_| ())
        })
    }

    fn mark_ended(&self, nonce: &str) {
        let mut ended = self.ended.lock().unwrap_or_else(|p| p.into_inner());
        ended.retain(|_, at| at.elapsed() < SESSION_LIFETIME);
        ended.insert(nonce.to_string(), Instant::now());
    }
}

impl Runtime {
    fn clone_with(&self, server: McpServer) -> Runtime {
        Runtime {
            server,
            secrets: self.secrets.clone(),
            upstream: self.upstream.clone(),
            fingerprint: self.fingerprint.clone(),
        }
    }
}

/// Where a server is reached.
pub fn endpoint_of(server: &McpServer) -> Endpoint {
    if server.server_type == McpServerType::Hosted {
        Endpoint::Stdio(server.chamberlain_command.clone())
    } else {
        Endpoint::Http(server.endpoint_url.clone())
    }
}

impl Gateway {
    /// The lock of `key` (created on first use).
    async fn keyed_lock(&self, key: &str) -> Arc<Mutex<()>> {
        self.keyed_locks
            .lock()
            .await
            .entry(key.to_string())
            .or_default()
            .clone()
    }
}
