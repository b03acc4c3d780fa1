//! Downstream OAuth identities: users' own connections (per-user mode) and a server's service
//! identity (service mode, authorized once by an admin). The connect flow (authorization code
//! with PKCE S256 and `resource`), the token vault (sealed at rest, bound to server and user),
//! refresh before expiry, and disconnect with revocation at the provider.
//!
//! The flow's `state` is sealed: it carries the server, the user who started it, the PKCE
//! verifier and an expiry, so no pending-flow table is needed and any replica can finish it.
//! The callback only accepts it from the same signed-in user (no login CSRF).

use crate::credentials::Secrets;
use crate::index::Denial;
use crate::oauth_client::{self, AuthServer, ClientAuth, TokenError, TokenSet};
use crate::upstream::UpstreamError;
use crate::{registry, Gateway};
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use base64::Engine;
use chamberlain_auth::password;
use chamberlain_model::mcp::{
    McpAuthMethod, McpConnection, McpConnectionStatus, McpOAuth2Mode, McpServer,
};
use chamberlain_model::Timestamp;
use chamberlain_store::repo::{mcp, mcp_connections};
use chamberlain_store::{write_tx, AuditCtx, StoreError};
use serde::{Deserialize, Serialize};

/// Where the downstream authorization server sends the browser back.
pub const CALLBACK_PATH: &str = "/auth/v1/mcp/callback";
/// Where a user connects (or an admin authorizes) a server: `CONNECT_PATH` + connector id.
pub const CONNECT_PATH: &str = "/auth/v1/mcp/connect/";
/// How long a started connect flow may take.
const FLOW_TTL_SECS: i64 = 600;
/// Tokens are refreshed when they have less than this left.
const REFRESH_MARGIN_SECS: i64 = 60;
const STATE_CONTEXT: &str = "mcp-connect";

/// Why a connect flow could not start or finish (shown on the page, so it says what to do).
#[derive(Debug, thiserror::Error)]
pub enum ConnectError {
    /// The request is not acceptable (bad state, wrong user, expired, not an OAuth server).
    #[error("{0}")]
    Invalid(String),
    /// The downstream provider refused or could not be reached.
    #[error("{0}")]
    Provider(String),
    /// Storage failed.
    #[error(transparent)]
    Store(#[from] StoreError),
}

/// What the sealed `state` parameter carries.
#[derive(Serialize, Deserialize)]
struct FlowState {
    /// Server (connector id).
    s: String,
    /// The signed-in user who started the flow.
    u: String,
    /// Service-mode authorization (an admin) instead of the user's own connection.
    svc: bool,
    /// PKCE verifier.
    v: String,
    /// Expiry, Unix seconds.
    x: i64,
}

/// Whether a server's calls need a downstream OAuth identity, and which: `Some(true)` the
/// service identity, `Some(false)` the calling user's own connection.
pub fn identity_kind(server: &McpServer) -> Option<bool> {
    if server.auth_method != McpAuthMethod::OAuth2 {
        return None;
    }
    match server.oauth2_mode {
        McpOAuth2Mode::Service => Some(true),
        McpOAuth2Mode::Passthrough | McpOAuth2Mode::AuthorizationCode => Some(false),
        _ => None,
    }
}

/// The scopes to ask for: the admin's, else what the server's metadata advertises (MCP
/// authorization: `scopes_supported` of the protected resource).
fn effective_scopes(server: &McpServer, auth: &AuthServer) -> Vec<String> {
    if server.oauth2_scopes.is_empty() {
        auth.scopes_supported.clone()
    } else {
        server.oauth2_scopes.clone()
    }
}

/// Whose connection a request of `user_id` uses: "" (the service identity) in service mode,
/// else the user's own.
pub fn identity<'a>(server: &McpServer, user_id: &'a str) -> &'a str {
    if identity_kind(server) == Some(true) {
        ""
    } else {
        user_id
    }
}

fn token_context(server_id: &str, user_id: &str) -> String {
    format!("mcp-connection:{server_id}:{user_id}")
}

/// The connect page of a server, as users (and URL elicitations) see it.
pub fn connect_url(public_url: &str, server_id: &str) -> String {
    format!(
        "{}{CONNECT_PATH}{server_id}",
        public_url.trim_end_matches('/')
    )
}

impl Gateway {
    fn redirect_uri(&self) -> String {
        format!("{}{CALLBACK_PATH}", self.public_url)
    }

    /// The connect page URL of a server.
    pub fn connect_url(&self, server_id: &str) -> String {
        connect_url(&self.public_url, server_id)
    }

    fn seal_tokens(&self, server_id: &str, user_id: &str, t: &TokenSet) -> String {
        let plain = serde_json::to_vec(t).unwrap_or_default();
        self.secrets
            .seal(&plain, &token_context(server_id, user_id))
    }

    fn open_tokens(&self, server_id: &str, user_id: &str, sealed: &str) -> Option<TokenSet> {
        let plain = self
            .secrets
            .open(sealed, &token_context(server_id, user_id))
            .ok()?;
        serde_json::from_slice(&plain).ok()
    }

    /// The server's authorization server and client, discovering the endpoints and
    /// registering a client (RFC 7591) the first time when the admin configured neither.
    async fn oauth_setup(
        &self,
        server: &McpServer,
        ctx: &AuditCtx,
    ) -> Result<(McpServer, Secrets, AuthServer), ConnectError> {
        // Two first connections at once must not register two clients (the second would
        // replace the first's client id under its running flow): one setup per server, on
        // the stored server as it is now.
        let lock = self
            .keyed_lock(&format!("oauth-setup:{}", server.connector_id))
            .await;
        let _one = lock.lock().await;
        let server: McpServer =
            chamberlain_store::record::get(self.store.pool(), &server.connector_id, false)
                .await?
                .ok_or_else(|| ConnectError::Invalid("the MCP server no longer exists".into()))?;
        let server = &server;
        let sealed = mcp::sealed_auth(self.store.pool(), &server.connector_id).await?;
        let secrets = Secrets::open(&self.secrets, &server.connector_id, &sealed)
            .map_err(ConnectError::Invalid)?;
        let configured = !server.oauth2_authorize_url.is_empty()
            && !server.oauth2_token_url.is_empty()
            && !server.oauth2_client_id.is_empty();
        if configured {
            let auth = AuthServer {
                issuer: server.oauth2_issuer_url.clone(),
                authorization_endpoint: server.oauth2_authorize_url.clone(),
                token_endpoint: server.oauth2_token_url.clone(),
                revocation_endpoint: server.chamberlain_oauth2_revocation_url.clone(),
                resource: if server.chamberlain_oauth2_resource.is_empty() {
                    server.endpoint_url.clone()
                } else {
                    server.chamberlain_oauth2_resource.clone()
                },
                ..Default::default()
            };
            return Ok((server.clone(), secrets, auth));
        }
        if server.endpoint_url.is_empty() {
            return Err(ConnectError::Invalid(
                "this server has no URL to discover its authorization server from: an admin must configure oauth2 authorizeUrl, tokenUrl and clientId".into(),
            ));
        }
        let auth = oauth_client::discover(&self.guard, &server.endpoint_url)
            .await
            .map_err(ConnectError::Provider)?;
        let mut secrets = secrets;
        let mut client_id = server.oauth2_client_id.clone();
        if client_id.is_empty() {
            if auth.registration_endpoint.is_empty() {
                return Err(ConnectError::Provider(format!(
                    "the authorization server {} does not offer dynamic client registration: an admin must register Chamberlain there (redirect URI {}) and set oauth2.clientId and clientSecret",
                    auth.issuer,
                    self.redirect_uri()
                )));
            }
            let reg = oauth_client::register(
                &self.guard,
                &auth,
                &self.redirect_uri(),
                &effective_scopes(server, &auth),
            )
            .await
            .map_err(ConnectError::Provider)?;
            client_id = reg.client_id;
            secrets.oauth2_client_secret = reg.client_secret;
        }
        let id = server.connector_id.clone();
        let auth2 = auth.clone();
        let secrets2 = secrets.clone();
        let sealed = secrets.seal(&self.secrets, &id);
        let dynamic = server.oauth2_client_id.is_empty();
        let updated = write_tx!(self.store, ctx, |tx| {
            let current: McpServer = tx.must_get(&id).await?;
            let mut next = current.clone();
            next.oauth2_client_id = client_id.clone();
            next.oauth2_authorize_url = auth2.authorization_endpoint.clone();
            next.oauth2_token_url = auth2.token_endpoint.clone();
            next.oauth2_issuer_url = auth2.issuer.clone();
            next.chamberlain_oauth2_resource = auth2.resource.clone();
            next.chamberlain_oauth2_revocation_url = auth2.revocation_endpoint.clone();
            next.chamberlain_oauth2_dynamic_client =
                current.chamberlain_oauth2_dynamic_client || dynamic;
            next.oauth2_credentials_configured = !secrets2.oauth2_client_secret.is_empty();
            next.updated_at = Some(tx.now());
            tx.replace(&current, &next).await?;
            mcp::set_sealed_auth(tx, &id, &sealed).await?;
            registry::changed(tx, &next.app_id).await?;
            Ok(next)
        })?;
        self.reload().await?;
        Ok((updated, secrets, auth))
    }

    /// Starts a connect flow for `user_id` (or, with `service`, the server's service identity
    /// authorized by that admin). Returns the provider's authorization URL to send the browser
    /// to.
    pub async fn begin_connect(
        &self,
        server: &McpServer,
        user_id: &str,
        service: bool,
        ctx: &AuditCtx,
    ) -> Result<String, ConnectError> {
        match identity_kind(server) {
            Some(true) if !service => {
                return Err(ConnectError::Invalid(
                    "this server runs in service mode: an admin authorizes it once for everyone; users do not connect their own accounts".into(),
                ))
            }
            Some(false) if service => {
                return Err(ConnectError::Invalid(
                    "this server uses per-user OAuth: each user connects their own account; there is no service identity to authorize".into(),
                ))
            }
            None => {
                return Err(ConnectError::Invalid(
                    "this server does not use OAuth authorization-code connections (its credentials are configured by an admin)".into(),
                ))
            }
            _ => {}
        }
        let (server, secrets, auth) = self.oauth_setup(server, ctx).await?;
        let _ = secrets;
        let verifier = password::random_token(48);
        let flow = FlowState {
            s: server.connector_id.clone(),
            u: user_id.to_string(),
            svc: service,
            v: verifier.clone(),
            x: Timestamp::now().unix_seconds() + FLOW_TTL_SECS,
        };
        let sealed = self.secrets.seal(
            &serde_json::to_vec(&flow).unwrap_or_default(),
            STATE_CONTEXT,
        );
        let state = URL_SAFE_NO_PAD.encode(sealed);
        oauth_client::authorize_url(&oauth_client::AuthorizeRequest {
            authorization_endpoint: &auth.authorization_endpoint,
            client_id: &server.oauth2_client_id,
            redirect_uri: &self.redirect_uri(),
            state: &state,
            code_challenge: &password::pkce_s256_challenge(&verifier),
            resource: &auth.resource,
            scopes: &effective_scopes(&server, &auth),
        })
        .map_err(ConnectError::Invalid)
    }

    /// Finishes a connect flow at the callback: checks the state against the signed-in user,
    /// exchanges the code, stores the tokens sealed. Returns the server and the connection.
    pub async fn finish_connect(
        &self,
        state: &str,
        code: &str,
        iss: Option<&str>,
        signed_in_user: &str,
        ctx: &AuditCtx,
    ) -> Result<(McpServer, McpConnection), ConnectError> {
        let bad = || {
            ConnectError::Invalid(
                "this connection attempt is not valid (damaged or from another server); start again from the connect page".into(),
            )
        };
        let sealed = URL_SAFE_NO_PAD
            .decode(state.as_bytes())
            .map_err(|_| bad())?;
        let sealed = String::from_utf8(sealed).map_err(|_| bad())?;
        let plain = self
            .secrets
            .open(&sealed, STATE_CONTEXT)
            .map_err(|_| bad())?;
        let flow: FlowState = serde_json::from_slice(&plain).map_err(|_| bad())?;
        if flow.x < Timestamp::now().unix_seconds() {
            return Err(ConnectError::Invalid(
                "this connection attempt expired (10 minutes); start again from the connect page"
                    .into(),
            ));
        }
        if flow.u != signed_in_user {
            return Err(ConnectError::Invalid(
                "this connection attempt was started by another user; sign in as that user, or start again".into(),
            ));
        }
        let server: McpServer = chamberlain_store::record::get(self.store.pool(), &flow.s, false)
            .await?
            .ok_or_else(|| ConnectError::Invalid("the MCP server no longer exists".into()))?;
        let (server, secrets, auth) = self.oauth_setup(&server, ctx).await?;
        if let Some(iss) = iss {
            // RFC 9207: a response from another issuer than the one we sent the user to is a
            // mix-up attack (or a misconfiguration); either way the code is not used.
            if !auth.issuer.is_empty()
                && iss.trim_end_matches('/') != auth.issuer.trim_end_matches('/')
            {
                return Err(ConnectError::Provider(format!(
                    "the authorization response came from issuer `{iss}`, not `{}`; the code was not used",
                    auth.issuer
                )));
            }
        }
        let client = ClientAuth {
            client_id: &server.oauth2_client_id,
            client_secret: &secrets.oauth2_client_secret,
        };
        let tokens = oauth_client::exchange_code(
            &self.guard,
            &auth.token_endpoint,
            &client,
            code,
            &flow.v,
            &self.redirect_uri(),
            &auth.resource,
        )
        .await
        .map_err(|e| ConnectError::Provider(e.to_string()))?;
        let identity = if flow.svc { "" } else { flow.u.as_str() };
        let now = Timestamp::now();
        let view = McpConnection {
            app_id: server.app_id.clone(),
            connector_id: server.connector_id.clone(),
            user_id: identity.to_string(),
            authorized_by_user_id: flow.u.clone(),
            status: McpConnectionStatus::Connected,
            authorized_as_email: tokens.email.clone(),
            authorized_as_name: tokens.name.clone(),
            issuer: auth.issuer.clone(),
            scopes: tokens
                .scope
                .split_whitespace()
                .map(str::to_string)
                .collect(),
            connected_at: Some(now),
            refreshed_at: Some(now),
            access_token_expires_at: (tokens.expires_at > 0)
                .then(|| Timestamp::from_micros(tokens.expires_at * 1_000_000)),
            has_refresh_token: !tokens.refresh_token.is_empty(),
            last_error: String::new(),
        };
        let sealed = self.seal_tokens(&server.connector_id, identity, &tokens);
        let service = flow.svc;
        let by = flow.u.clone();
        let v2 = view.clone();
        let id = server.connector_id.clone();
        write_tx!(self.store, ctx, |tx| {
            mcp_connections::put(tx, &v2, &sealed).await?;
            if service {
                let current: McpServer = tx.must_get(&id).await?;
                let mut next = current.clone();
                next.oauth2_service_authorized = true;
                next.oauth2_service_authorized_at = Some(tx.now());
                next.oauth2_service_authorized_by = by.clone();
                next.updated_at = Some(tx.now());
                tx.replace(&current, &next).await?;
                registry::changed(tx, &next.app_id).await?;
            }
            Ok(())
        })?;
        if service {
            self.reload().await?;
        }
        Ok((server, view))
    }

    /// Removes a connection (the user disconnects, an admin revokes; `user_id` "" is the
    /// service identity) and asks the provider to revoke its tokens (best effort).
    pub async fn disconnect(
        &self,
        server: &McpServer,
        user_id: &str,
        ctx: &AuditCtx,
    ) -> Result<Option<McpConnection>, StoreError> {
        let id = server.connector_id.clone();
        let uid = user_id.to_string();
        let removed = write_tx!(self.store, ctx, |tx| {
            let removed = mcp_connections::delete(tx, &id, &uid).await?;
            if uid.is_empty() && removed.is_some() {
                let current: McpServer = tx.must_get(&id).await?;
                let mut next = current.clone();
                next.oauth2_service_authorized = false;
                next.oauth2_service_authorized_at = None;
                next.oauth2_service_authorized_by = String::new();
                next.updated_at = Some(tx.now());
                tx.replace(&current, &next).await?;
                registry::changed(tx, &next.app_id).await?;
            }
            Ok(removed)
        })?;
        let Some(removed) = removed else {
            return Ok(None);
        };
        if user_id.is_empty() {
            self.reload().await?;
        }
        if !server.chamberlain_oauth2_revocation_url.is_empty() {
            if let Some(tokens) = self.open_tokens(&id, user_id, &removed.sealed_tokens) {
                let sealed = mcp::sealed_auth(self.store.pool(), &id)
                    .await
                    .unwrap_or_default();
                let secrets = Secrets::open(&self.secrets, &id, &sealed).unwrap_or_default();
                let client = ClientAuth {
                    client_id: &server.oauth2_client_id,
                    client_secret: &secrets.oauth2_client_secret,
                };
                if let Err(e) = oauth_client::revoke(
                    &self.guard,
                    &server.chamberlain_oauth2_revocation_url,
                    &client,
                    &tokens,
                )
                .await
                {
                    tracing::warn!(server = %id, error = %e, "revoking a removed connection's tokens at the provider failed");
                }
            }
        }
        Ok(Some(removed.view))
    }

    /// The access token of a connection (`identity`: a user id, or "" for the service
    /// identity; see [`identity`]), refreshed when it is about to expire. A missing or broken
    /// connection is `ConnectionRequired` (the caller answers with the connect URL).
    pub(crate) async fn connection_token(
        &self,
        server: &McpServer,
        secrets: &Secrets,
        identity: &str,
    ) -> Result<String, UpstreamError> {
        let service = identity.is_empty();
        let missing = || {
            UpstreamError::ConnectionRequired(if service {
                Denial::ServiceNotAuthorized
            } else {
                Denial::ConnectionMissing
            })
        };
        let Some(stored) = mcp_connections::get(self.store.pool(), &server.connector_id, identity)
            .await
            .map_err(|e| UpstreamError::Transport(format!("reading the connection: {e}")))?
        else {
            return Err(missing());
        };
        if stored.view.status != McpConnectionStatus::Connected {
            return Err(UpstreamError::ConnectionRequired(
                Denial::ConnectionNeedsReconnect(stored.view.last_error.clone()),
            ));
        }
        let Some(tokens) = self.open_tokens(&server.connector_id, identity, &stored.sealed_tokens)
        else {
            self.mark_needs_reconnect(
                server,
                identity,
                "the stored tokens cannot be opened (the encryption key changed?)",
            )
            .await;
            return Err(missing());
        };
        let now = Timestamp::now().unix_seconds();
        if tokens.expires_at == 0 || tokens.expires_at - now > REFRESH_MARGIN_SECS {
            return Ok(tokens.access_token);
        }
        self.refresh_connection(server, secrets, identity).await
    }

    /// Refreshes a connection's tokens, one refresh at a time per connection in this process
    /// (a rotated refresh token must not be used twice); re-reads first, since another call
    /// may have refreshed meanwhile.
    async fn refresh_connection(
        &self,
        server: &McpServer,
        secrets: &Secrets,
        identity: &str,
    ) -> Result<String, UpstreamError> {
        let lock = self
            .keyed_lock(&format!("refresh:{}:{identity}", server.connector_id))
            .await;
        let _one = lock.lock().await;
        let stored = mcp_connections::get(self.store.pool(), &server.connector_id, identity)
            .await
            .map_err(|e| UpstreamError::Transport(format!("reading the connection: {e}")))?
            .ok_or(UpstreamError::ConnectionRequired(Denial::ConnectionMissing))?;
        let tokens = self
            .open_tokens(&server.connector_id, identity, &stored.sealed_tokens)
            .ok_or(UpstreamError::ConnectionRequired(Denial::ConnectionMissing))?;
        let now = Timestamp::now().unix_seconds();
        if tokens.expires_at == 0 || tokens.expires_at - now > REFRESH_MARGIN_SECS {
            return Ok(tokens.access_token);
        }
        if tokens.refresh_token.is_empty() {
            let why = "the access token expired and the provider issued no refresh token";
            self.mark_needs_reconnect(server, identity, why).await;
            return Err(UpstreamError::ConnectionRequired(
                Denial::ConnectionNeedsReconnect(why.into()),
            ));
        }
        let client = ClientAuth {
            client_id: &server.oauth2_client_id,
            client_secret: &secrets.oauth2_client_secret,
        };
        let resource = if server.chamberlain_oauth2_resource.is_empty() {
            server.endpoint_url.as_str()
        } else {
            server.chamberlain_oauth2_resource.as_str()
        };
        match oauth_client::refresh(
            &self.guard,
            &server.oauth2_token_url,
            &client,
            &tokens,
            resource,
        )
        .await
        {
            Ok(next) => {
                let mut view = stored.view.clone();
                view.refreshed_at = Some(Timestamp::now());
                view.access_token_expires_at = (next.expires_at > 0)
                    .then(|| Timestamp::from_micros(next.expires_at * 1_000_000));
                view.has_refresh_token = !next.refresh_token.is_empty();
                let sealed = self.seal_tokens(&server.connector_id, identity, &next);
                let ctx = AuditCtx::system("mcp gateway");
                write_tx!(self.store, &ctx, |tx| {
                    mcp_connections::put(tx, &view, &sealed).await
                })
                .map_err(|e| UpstreamError::Transport(format!("storing refreshed tokens: {e}")))?;
                Ok(next.access_token)
            }
            Err(TokenError::Refused(why)) => {
                self.mark_needs_reconnect(server, identity, &why).await;
                Err(UpstreamError::ConnectionRequired(
                    Denial::ConnectionNeedsReconnect(why),
                ))
            }
            Err(TokenError::Unavailable(why)) => Err(UpstreamError::Transport(why)),
        }
    }

    /// Marks a connection as needing a new authorization (its tokens stopped working).
    pub(crate) async fn mark_needs_reconnect(&self, server: &McpServer, identity: &str, why: &str) {
        let id = server.connector_id.clone();
        let uid = identity.to_string();
        let why = why.to_string();
        let ctx = AuditCtx::system("mcp gateway");
        let r = write_tx!(self.store, &ctx, |tx| {
            if let Some(mut c) = mcp_connections::get(&mut *tx.conn(), &id, &uid).await? {
                c.view.status = McpConnectionStatus::NeedsReconnect;
                c.view.last_error = why.clone();
                mcp_connections::put(tx, &c.view, &c.sealed_tokens).await?;
            }
            Ok(())
        });
        if let Err(e) = r {
            tracing::warn!(server = %id, error = %e, "marking a connection for reconnecting failed");
        }
    }

    /// A working connection's token for tool discovery of a server whose calls need a
    /// downstream identity (the service identity, else the most recently used user's).
    pub(crate) async fn discovery_token(
        &self,
        server: &McpServer,
        secrets: &Secrets,
    ) -> Result<String, UpstreamError> {
        let stored = mcp_connections::for_discovery(self.store.pool(), &server.connector_id)
            .await
            .map_err(|e| UpstreamError::Transport(format!("reading connections: {e}")))?;
        match stored {
            Some(c) => {
                self.connection_token(server, secrets, &c.view.user_id)
                    .await
            }
            None => Err(UpstreamError::ConnectionRequired(
                if identity_kind(server) == Some(true) {
                    Denial::ServiceNotAuthorized
                } else {
                    Denial::ConnectionMissing
                },
            )),
        }
    }
}
