//! The gateway as an OAuth 2.1 client of downstream MCP servers (service and per-user modes):
//! finding the authorization server (protected resource metadata, RFC 9728, then authorization
//! server metadata, RFC 8414, or OpenID discovery), registering itself (RFC 7591) when no
//! client id is configured, building the authorization request (code + PKCE S256 +
//! `resource`, RFC 8707), and the token endpoint calls (code exchange, refresh, revocation
//! RFC 7009). Every request goes through the outbound guard with time and size limits.

use base64::Engine;
use chamberlain_outbound::{error_chain, read_capped, Guard};
use reqwest::header::WWW_AUTHENTICATE;
use serde::{Deserialize, Serialize};
use serde_json::{json, Value};
use std::time::Duration;

const TIMEOUT: Duration = Duration::from_secs(15);
const MAX_DOC: usize = 256 * 1024;

/// The endpoints of a downstream authorization server, as discovered or configured.
#[derive(Clone, Debug, Default, PartialEq)]
pub struct AuthServer {
    /// Issuer identifier ("" when configured by hand without one).
    pub issuer: String,
    pub authorization_endpoint: String,
    pub token_endpoint: String,
    pub registration_endpoint: String,
    pub revocation_endpoint: String,
    /// The resource indicator of the MCP server (from its protected resource metadata).
    pub resource: String,
    /// Scopes the resource or the authorization server advertise.
    pub scopes_supported: Vec<String>,
    /// `token_endpoint_auth_methods_supported` (empty: not advertised).
    pub token_endpoint_auth_methods: Vec<String>,
}

/// Tokens obtained for one identity. Sealed at rest; never served.
#[derive(Clone, Debug, Default, Serialize, Deserialize, PartialEq)]
#[serde(default)]
pub struct TokenSet {
    pub access_token: String,
    pub refresh_token: String,
    /// Unix seconds; 0 when the provider did not say.
    pub expires_at: i64,
    pub scope: String,
    /// Claims of the ID token, when one was issued (email, name).
    pub email: String,
    pub name: String,
}

/// `scheme://host[:port]`.
fn origin(u: &reqwest::Url) -> String {
    u.origin().ascii_serialization()
}

/// GETs a JSON document through the guard.
async fn get_json(guard: &Guard, url: &str, what: &str) -> Result<Option<Value>, String> {
    let (u, client) = guard
        .client(url, TIMEOUT)
        .await
        .map_err(|e| format!("{what} at {url}: {e}"))?;
    let resp = client
        .get(u)
        .header("Accept", "application/json")
        .send()
        .await
        .map_err(|e| format!("{what} at {url} is unreachable: {}", error_chain(&e)))?;
    if resp.status() == reqwest::StatusCode::NOT_FOUND {
        return Ok(None);
    }
    let status = resp.status();
    let body = read_capped(resp, MAX_DOC, what)
        .await
        .map_err(|e| e.to_string())?;
    if !status.is_success() {
        return Ok(None);
    }
    serde_json::from_slice(&body)
        .map(Some)
        .map_err(|e| format!("{what} at {url} is not JSON: {e}"))
}

/// The `resource_metadata` parameter of a `WWW-Authenticate: Bearer …` challenge.
pub fn resource_metadata_param(challenge: &str) -> Option<String> {
    let i = challenge.find("resource_metadata=")?;
    let rest = &challenge[i + "resource_metadata=".len()..];
    let v = if let Some(r) = rest.strip_prefix('"') {
        r.split('"').next()?
    } else {
        rest.split([',', ' ']).next()?
    };
    (!v.is_empty()).then(|| v.to_string())
}

/// Asks the MCP server, without credentials, where its metadata is: the 401's
/// `WWW-Authenticate` challenge names it (MCP authorization, RFC 9728 §5.1).
async fn challenge_metadata_url(guard: &Guard, server_url: &str) -> Option<String> {
    let (u, client) = guard.client(server_url, TIMEOUT).await.ok()?;
    let probe = json!({"jsonrpc": "2.0", "id": 1, "method": "initialize", "params": {
        "protocolVersion": "2025-11-25", "capabilities": {},
        "clientInfo": {"name": "chamberlain", "version": env!("CARGO_PKG_VERSION")}}});
    let resp = client
        .post(u)
        .header("Accept", "application/json, text/event-stream")
        .json(&probe)
        .send()
        .await
        .ok()?;
    if resp.status() != reqwest::StatusCode::UNAUTHORIZED {
        return None;
    }
    resp.headers()
        .get_all(WWW_AUTHENTICATE)
        .iter()
        .filter_map(|v| v.to_str().ok())
        .find_map(resource_metadata_param)
}

/// Finds the authorization server of an MCP server: its protected resource metadata (from the
/// 401 challenge, else the path-suffixed and root well-known URLs), then that server's
/// metadata. Refuses metadata whose resource or issuer does not match where it came from.
pub async fn discover(guard: &Guard, server_url: &str) -> Result<AuthServer, String> {
    let server = reqwest::Url::parse(server_url).map_err(|e| format!("server URL: {e}"))?;
    let mut candidates = Vec::new();
    if let Some(u) = challenge_metadata_url(guard, server_url).await {
        candidates.push(u);
    }
    let path = server.path().trim_end_matches('/');
    if !path.is_empty() {
        candidates.push(format!(
            "{}/.well-known/oauth-protected-resource{path}",
            origin(&server)
        ));
    }
    candidates.push(format!(
        "{}/.well-known/oauth-protected-resource",
        origin(&server)
    ));
    let mut prm = None;
    for c in &candidates {
        if let Some(doc) = get_json(guard, c, "protected resource metadata").await? {
            prm = Some(doc);
            break;
        }
    }
    let prm = prm.ok_or_else(|| {
        format!(
            "the MCP server publishes no protected resource metadata (tried {}); configure authorizeUrl, tokenUrl and clientId instead",
            candidates.join(", ")
        )
    })?;
    let resource = prm
        .get("resource")
        .and_then(Value::as_str)
        .unwrap_or(server_url)
        .to_string();
    let resource_url =
        reqwest::Url::parse(&resource).map_err(|e| format!("metadata `resource`: {e}"))?;
    if origin(&resource_url) != origin(&server) {
        return Err(format!(
            "the protected resource metadata names resource `{resource}`, which is not on the server's origin {}",
            origin(&server)
        ));
    }
    let issuer = prm
        .get("authorization_servers")
        .and_then(Value::as_array)
        .and_then(|a| a.first())
        .and_then(Value::as_str)
        .ok_or("the protected resource metadata lists no authorization_servers")?
        .to_string();
    let mut found = metadata(guard, &issuer).await?;
    found.resource = resource;
    let mut scopes: Vec<String> = prm
        .get("scopes_supported")
        .and_then(Value::as_array)
        .map(|a| {
            a.iter()
                .filter_map(Value::as_str)
                .map(str::to_string)
                .collect()
        })
        .unwrap_or_default();
    if scopes.is_empty() {
        scopes = found.scopes_supported.clone();
    }
    found.scopes_supported = scopes;
    Ok(found)
}

/// Authorization server metadata of an issuer (RFC 8414, then OpenID discovery), checked: the
/// issuer must match and S256 must be supported (MCP clients must refuse otherwise).
pub async fn metadata(guard: &Guard, issuer: &str) -> Result<AuthServer, String> {
    let iu = reqwest::Url::parse(issuer).map_err(|e| format!("issuer `{issuer}`: {e}"))?;
    let path = iu.path().trim_end_matches('/');
    let o = origin(&iu);
    let urls = if path.is_empty() {
        vec![
            format!("{o}/.well-known/oauth-authorization-server"),
            format!("{o}/.well-known/openid-configuration"),
        ]
    } else {
        vec![
            format!("{o}/.well-known/oauth-authorization-server{path}"),
            format!("{o}/.well-known/openid-configuration{path}"),
            format!("{o}{path}/.well-known/openid-configuration"),
        ]
    };
    for u in &urls {
        let Some(doc) = get_json(guard, u, "authorization server metadata").await? else {
            continue;
        };
        let s = |k: &str| {
            doc.get(k)
                .and_then(Value::as_str)
                .unwrap_or_default()
                .to_string()
        };
        let found_issuer = s("issuer");
        if found_issuer.trim_end_matches('/') != issuer.trim_end_matches('/') {
            return Err(format!(
                "the authorization server metadata at {u} names issuer `{found_issuer}`, not `{issuer}`"
            ));
        }
        let methods: Vec<&str> = doc
            .get("code_challenge_methods_supported")
            .and_then(Value::as_array)
            .map(|a| a.iter().filter_map(Value::as_str).collect())
            .unwrap_or_default();
        if !methods.contains(&"S256") {
            return Err(format!(
                "the authorization server {issuer} does not advertise PKCE S256 (code_challenge_methods_supported), which MCP requires"
            ));
        }
        let list = |k: &str| -> Vec<String> {
            doc.get(k)
                .and_then(Value::as_array)
                .map(|a| {
                    a.iter()
                        .filter_map(Value::as_str)
                        .map(str::to_string)
                        .collect()
                })
                .unwrap_or_default()
        };
        let found = AuthServer {
            token_endpoint_auth_methods: list("token_endpoint_auth_methods_supported"),
            issuer: found_issuer,
            authorization_endpoint: s("authorization_endpoint"),
            token_endpoint: s("token_endpoint"),
            registration_endpoint: s("registration_endpoint"),
            revocation_endpoint: s("revocation_endpoint"),
            resource: String::new(),
            scopes_supported: list("scopes_supported"),
        };
        if found.authorization_endpoint.is_empty() || found.token_endpoint.is_empty() {
            return Err(format!(
                "the authorization server metadata at {u} lacks authorization_endpoint or token_endpoint"
            ));
        }
        return Ok(found);
    }
    Err(format!(
        "no authorization server metadata for issuer {issuer} (tried {})",
        urls.join(", ")
    ))
}

/// A client registered dynamically.
#[derive(Clone, Debug, PartialEq)]
pub struct Registered {
    pub client_id: String,
    pub client_secret: String,
}

/// Registers the gateway as a client (RFC 7591) with its callback as the only redirect URI: a
/// confidential client (`client_secret_post`) when the server supports it, else a public one
/// (PKCE only).
pub async fn register(
    guard: &Guard,
    auth: &AuthServer,
    redirect_uri: &str,
    scopes: &[String],
) -> Result<Registered, String> {
    let methods = &auth.token_endpoint_auth_methods;
    let method = if methods.is_empty() || methods.iter().any(|m| m == "client_secret_post") {
        "client_secret_post"
    } else if methods.iter().any(|m| m == "none") {
        "none"
    } else {
        return Err(format!(
            "the authorization server accepts only {} at its token endpoint; Chamberlain registers itself with client_secret_post or none: register a client there by hand and set oauth2.clientId and clientSecret",
            methods.join(", ")
        ));
    };
    let registration_endpoint = auth.registration_endpoint.as_str();
    let (u, client) = guard
        .client(registration_endpoint, TIMEOUT)
        .await
        .map_err(|e| format!("client registration: {e}"))?;
    let mut body = json!({
        "client_name": "Chamberlain MCP gateway",
        "redirect_uris": [redirect_uri],
        "grant_types": ["authorization_code", "refresh_token"],
        "response_types": ["code"],
        "token_endpoint_auth_method": method,
        "application_type": "web",
    });
    if !scopes.is_empty() {
        body["scope"] = json!(scopes.join(" "));
    }
    let resp = client
        .post(u)
        .header("Accept", "application/json")
        .json(&body)
        .send()
        .await
        .map_err(|e| format!("client registration is unreachable: {}", error_chain(&e)))?;
    let status = resp.status();
    let bytes = read_capped(resp, MAX_DOC, "registration response")
        .await
        .map_err(|e| e.to_string())?;
    let v: Value = serde_json::from_slice(&bytes).unwrap_or(Value::Null);
    let client_id = v.get("client_id").and_then(Value::as_str).unwrap_or("");
    if !status.is_success() || client_id.is_empty() {
        return Err(format!(
            "the authorization server refused dynamic client registration (HTTP {}: {})",
            status.as_u16(),
            oauth_error(&v)
        ));
    }
    Ok(Registered {
        client_id: client_id.to_string(),
        client_secret: v
            .get("client_secret")
            .and_then(Value::as_str)
            .unwrap_or("")
            .to_string(),
    })
}

/// `error: error_description` of an OAuth error body.
fn oauth_error(v: &Value) -> String {
    let e = v
        .get("error")
        .and_then(Value::as_str)
        .unwrap_or("no error code");
    match v.get("error_description").and_then(Value::as_str) {
        Some(d) if !d.is_empty() => format!("{e}: {d}"),
        _ => e.to_string(),
    }
}

/// What an authorization request needs.
pub struct AuthorizeRequest<'a> {
    pub authorization_endpoint: &'a str,
    pub client_id: &'a str,
    pub redirect_uri: &'a str,
    pub state: &'a str,
    pub code_challenge: &'a str,
    pub resource: &'a str,
    pub scopes: &'a [String],
}

/// The URL the browser is sent to.
pub fn authorize_url(r: &AuthorizeRequest<'_>) -> Result<String, String> {
    let mut u = reqwest::Url::parse(r.authorization_endpoint)
        .map_err(|e| format!("authorization endpoint: {e}"))?;
    {
        let mut q = u.query_pairs_mut();
        q.append_pair("response_type", "code")
            .append_pair("client_id", r.client_id)
            .append_pair("redirect_uri", r.redirect_uri)
            .append_pair("state", r.state)
            .append_pair("code_challenge", r.code_challenge)
            .append_pair("code_challenge_method", "S256");
        if !r.resource.is_empty() {
            q.append_pair("resource", r.resource);
        }
        if !r.scopes.is_empty() {
            q.append_pair("scope", &r.scopes.join(" "));
        }
    }
    Ok(u.to_string())
}

/// The client's credentials at the token endpoint.
pub struct ClientAuth<'a> {
    pub client_id: &'a str,
    pub client_secret: &'a str,
}

/// Why a token request failed.
#[derive(Debug, Clone, PartialEq)]
pub enum TokenError {
    /// The grant was refused (`invalid_grant` and friends): the user must authorize again.
    Refused(String),
    /// The endpoint could not be reached or answered badly; retrying may help.
    Unavailable(String),
}

impl std::fmt::Display for TokenError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            TokenError::Refused(m) | TokenError::Unavailable(m) => f.write_str(m),
        }
    }
}

async fn token_request(
    guard: &Guard,
    token_endpoint: &str,
    client: &ClientAuth<'_>,
    mut form: Vec<(&str, String)>,
    previous: Option<&TokenSet>,
) -> Result<TokenSet, TokenError> {
    let (u, http) = guard
        .client(token_endpoint, TIMEOUT)
        .await
        .map_err(|e| TokenError::Unavailable(format!("token endpoint: {e}")))?;
    form.push(("client_id", client.client_id.to_string()));
    if !client.client_secret.is_empty() {
        form.push(("client_secret", client.client_secret.to_string()));
    }
    let resp = http
        .post(u)
        .header("Accept", "application/json")
        .form(&form)
        .send()
        .await
        .map_err(|e| {
            TokenError::Unavailable(format!(
                "the token endpoint is unreachable: {}",
                error_chain(&e)
            ))
        })?;
    let status = resp.status();
    let bytes = read_capped(resp, 64 * 1024, "token response")
        .await
        .map_err(|e| TokenError::Unavailable(e.to_string()))?;
    let v: Value = serde_json::from_slice(&bytes).unwrap_or(Value::Null);
    let access = v.get("access_token").and_then(Value::as_str).unwrap_or("");
    if !status.is_success() || access.is_empty() {
        let msg = format!(
            "the token endpoint refused the request (HTTP {}: {})",
            status.as_u16(),
            oauth_error(&v)
        );
        return Err(if status.is_client_error() {
            TokenError::Refused(msg)
        } else {
            TokenError::Unavailable(msg)
        });
    }
    let token_type = v
        .get("token_type")
        .and_then(Value::as_str)
        .unwrap_or("bearer");
    if !token_type.eq_ignore_ascii_case("bearer") {
        return Err(TokenError::Refused(format!(
            "the token endpoint issued a `{token_type}` token; only bearer tokens are supported"
        )));
    }
    let now = chamberlain_model::Timestamp::now().unix_seconds();
    let mut set = TokenSet {
        access_token: access.to_string(),
        // A refresh that returns no new refresh token keeps the old one (RFC 6749 §6).
        refresh_token: v
            .get("refresh_token")
            .and_then(Value::as_str)
            .map(str::to_string)
            .or_else(|| previous.map(|p| p.refresh_token.clone()))
            .unwrap_or_default(),
        expires_at: v
            .get("expires_in")
            .and_then(|e| e.as_i64().or_else(|| e.as_str()?.parse().ok()))
            .map(|e| now + e)
            .unwrap_or(0),
        scope: v
            .get("scope")
            .and_then(Value::as_str)
            .map(str::to_string)
            .or_else(|| previous.map(|p| p.scope.clone()))
            .unwrap_or_default(),
        email: previous.map(|p| p.email.clone()).unwrap_or_default(),
        name: previous.map(|p| p.name.clone()).unwrap_or_default(),
    };
    // The ID token came straight from the token endpoint over the guarded connection, so its
    // claims are read for display only (who the connection is), never for authorization.
    if let Some(claims) = v
        .get("id_token")
        .and_then(Value::as_str)
        .and_then(id_token_claims)
    {
        if let Some(e) = claims.get("email").and_then(Value::as_str) {
            set.email = e.to_string();
        }
        if let Some(n) = claims
            .get("name")
            .or_else(|| claims.get("preferred_username"))
            .and_then(Value::as_str)
        {
            set.name = n.to_string();
        }
    }
    Ok(set)
}

/// The payload of a JWT, without verifying it (display use only).
fn id_token_claims(jwt: &str) -> Option<Value> {
    let payload = jwt.split('.').nth(1)?;
    let bytes = base64::engine::general_purpose::URL_SAFE_NO_PAD
        .decode(payload.trim_end_matches('='))
        .ok()?;
    serde_json::from_slice(&bytes).ok()
}

/// Exchanges an authorization code (with its PKCE verifier) for tokens.
pub async fn exchange_code(
    guard: &Guard,
    token_endpoint: &str,
    client: &ClientAuth<'_>,
    code: &str,
    verifier: &str,
    redirect_uri: &str,
    resource: &str,
) -> Result<TokenSet, TokenError> {
    let mut form = vec![
        ("grant_type", "authorization_code".to_string()),
        ("code", code.to_string()),
        ("redirect_uri", redirect_uri.to_string()),
        ("code_verifier", verifier.to_string()),
    ];
    if !resource.is_empty() {
        form.push(("resource", resource.to_string()));
    }
    token_request(guard, token_endpoint, client, form, None).await
}

/// A token for the client itself (client credentials grant, RFC 6749 §4.4).
pub async fn client_credentials(
    guard: &Guard,
    token_endpoint: &str,
    client: &ClientAuth<'_>,
    scopes: &[String],
) -> Result<TokenSet, TokenError> {
    let mut form = vec![("grant_type", "client_credentials".to_string())];
    if !scopes.is_empty() {
        form.push(("scope", scopes.join(" ")));
    }
    token_request(guard, token_endpoint, client, form, None).await
}

/// Refreshes a token set (the new refresh token replaces the old when one is issued).
pub async fn refresh(
    guard: &Guard,
    token_endpoint: &str,
    client: &ClientAuth<'_>,
    current: &TokenSet,
    resource: &str,
) -> Result<TokenSet, TokenError> {
    let mut form = vec![
        ("grant_type", "refresh_token".to_string()),
        ("refresh_token", current.refresh_token.clone()),
    ];
    if !resource.is_empty() {
        form.push(("resource", resource.to_string()));
    }
    token_request(guard, token_endpoint, client, form, Some(current)).await
}

/// Asks the authorization server to revoke a token (RFC 7009). Best effort: the connection is
/// removed here whatever the answer.
pub async fn revoke(
    guard: &Guard,
    revocation_endpoint: &str,
    client: &ClientAuth<'_>,
    tokens: &TokenSet,
) -> Result<(), String> {
    let (token, hint) = if tokens.refresh_token.is_empty() {
        (&tokens.access_token, "access_token")
    } else {
        (&tokens.refresh_token, "refresh_token")
    };
    let (u, http) = guard
        .client(revocation_endpoint, TIMEOUT)
        .await
        .map_err(|e| e.to_string())?;
    let mut form = vec![
        ("token", token.clone()),
        ("token_type_hint", hint.to_string()),
        ("client_id", client.client_id.to_string()),
    ];
    if !client.client_secret.is_empty() {
        form.push(("client_secret", client.client_secret.to_string()));
    }
    let resp = http
        .post(u)
        .form(&form)
        .send()
        .await
        .map_err(|e| error_chain(&e))?;
    if resp.status().is_success() {
        Ok(())
    } else {
        Err(format!(
            "the revocation endpoint answered HTTP {}",
            resp.status().as_u16()
        ))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn challenge_parameters_are_read() {
        assert_eq!(
            resource_metadata_param(
                r#"Bearer error="invalid_token", resource_metadata="https://a.example/.well-known/oauth-protected-resource/mcp""#
            )
            .as_deref(),
            Some("https://a.example/.well-known/oauth-protected-resource/mcp")
        );
        assert_eq!(
            resource_metadata_param("Bearer resource_metadata=https://a.example/m, scope=x")
                .as_deref(),
            Some("https://a.example/m")
        );
        assert_eq!(resource_metadata_param("Bearer realm=x"), None);
    }

    #[test]
    fn authorization_requests_carry_pkce_resource_and_scopes() {
        let url = authorize_url(&AuthorizeRequest {
            authorization_endpoint: "https://idp.example/authorize?tenant=1",
            client_id: "cid",
            redirect_uri: "https://gw.example/auth/v1/mcp/callback",
            state: "st",
            code_challenge: "ch",
            resource: "https://mcp.example/mcp",
            scopes: &["a".into(), "b".into()],
        })
        .unwrap();
        let u = reqwest::Url::parse(&url).unwrap();
        let q: std::collections::HashMap<_, _> = u.query_pairs().into_owned().collect();
        assert_eq!(q["tenant"], "1");
        assert_eq!(q["response_type"], "code");
        assert_eq!(q["code_challenge_method"], "S256");
        assert_eq!(q["resource"], "https://mcp.example/mcp");
        assert_eq!(q["scope"], "a b");
        assert_eq!(q["redirect_uri"], "https://gw.example/auth/v1/mcp/callback");
    }

    #[test]
    fn id_token_claims_are_read_for_display() {
        let payload = base64::engine::general_purpose::URL_SAFE_NO_PAD
            .encode(br#"{"email":"ada@example.com","name":"Ada"}"#);
        let c = id_token_claims(&format!("h.{payload}.s")).unwrap();
        assert_eq!(c["email"], "ada@example.com");
        assert!(id_token_claims("garbage").is_none());
    }
}
