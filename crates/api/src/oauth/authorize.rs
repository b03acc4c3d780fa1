//! The authorization endpoint (`GET /auth/v1/authorize`) and the consent decision
//! (`POST /auth/v1/authorize`).
//!
//! Order of checks: first the client and the redirect URI — until both are trusted, problems
//! are shown on an error page and nothing redirects. Then everything else (response type,
//! PKCE S256, the `resource`, the tenant and client switches): those problems go back to the
//! client's redirect URI with `error`, `error_description`, `state` and `iss` (RFC 9207). A
//! visitor who is not signed in is sent to the sign-in page and back; a signed-in user sees the
//! consent page, whose form carries the request back here to be checked again.

use super::{cimd, pages, session};
use crate::state::{AppState, Shared};
use axum::body::Bytes;
use axum::extract::{RawQuery, State};
use axum::http::{header, HeaderMap, HeaderValue, StatusCode};
use axum::response::{IntoResponse, Response};
use chamberlain_auth::password;
use chamberlain_model::{new_id, Timestamp};
use chamberlain_store::repo::oauth::{self as repo, ClientMetadata, Grant, OAuthClient};
use chamberlain_store::AuditCtx;
use std::collections::HashMap;

/// The parameters of an authorization request.
#[derive(Clone, Debug, Default)]
pub struct Params {
    response_type: String,
    client_id: String,
    redirect_uri: String,
    code_challenge: String,
    code_challenge_method: String,
    state: String,
    scope: String,
    resource: String,
}

impl Params {
    fn from_map(m: &HashMap<String, String>) -> Params {
        let g = |k: &str| m.get(k).cloned().unwrap_or_default();
        Params {
            response_type: g("response_type"),
            client_id: g("client_id"),
            redirect_uri: g("redirect_uri"),
            code_challenge: g("code_challenge"),
            code_challenge_method: g("code_challenge_method"),
            state: g("state"),
            scope: g("scope"),
            resource: g("resource"),
        }
    }

    fn pairs(&self) -> Vec<(&'static str, &str)> {
        vec![
            ("response_type", self.response_type.as_str()),
            ("client_id", &self.client_id),
            ("redirect_uri", &self.redirect_uri),
            ("code_challenge", &self.code_challenge),
            ("code_challenge_method", &self.code_challenge_method),
            ("state", &self.state),
            ("scope", &self.scope),
            ("resource", &self.resource),
        ]
    }
}

/// The client as the request names it: stored (DCR, or a CIMD client seen before) and/or its
/// metadata document.
struct Client {
    stored: Option<OAuthClient>,
    meta: ClientMetadata,
    is_cimd: bool,
}

impl Client {
    fn verified_domain(&self, client_id: &str) -> String {
        if !self.is_cimd {
            return String::new();
        }
        reqwest::Url::parse(client_id)
            .ok()
            .and_then(|u| u.host_str().map(str::to_ascii_lowercase))
            .unwrap_or_default()
    }
}

fn bad_request(message: &str) -> Response {
    pages::error(
        StatusCode::BAD_REQUEST,
        "Authorization request refused",
        message,
    )
}

/// Step 1: the client and the redirect URI. Problems render an error page.
async fn check_client(state: &AppState, p: &Params) -> Result<Client, Response> {
    if p.client_id.is_empty() {
        return Err(bad_request(
            "client_id is missing: the AI client must send its client_id (registered through /auth/v1/register, or the URL of its client metadata document).",
        ));
    }
    let client = if cimd::is_url(state, &p.client_id) {
        let meta = cimd::fetch(state, &p.client_id)
            .await
            .map_err(|m| bad_request(&m))?;
        let stored = repo::client_by_client_id(&state.store, &p.client_id)
            .await
            .map_err(|_| bad_request("could not look up the client; try again"))?;
        Client {
            stored,
            meta,
            is_cimd: true,
        }
    } else {
        let stored = repo::client_by_client_id(&state.store, &p.client_id)
            .await
            .map_err(|_| bad_request("could not look up the client; try again"))?
            .ok_or_else(|| {
                bad_request(&format!(
                    "client_id `{}` is not registered here; the AI client should register again (dynamic client registration) or use a client metadata document URL.",
                    p.client_id
                ))
            })?;
        Client {
            meta: stored.meta.clone(),
            stored: Some(stored),
            is_cimd: false,
        }
    };
    if p.redirect_uri.is_empty() {
        return Err(bad_request(
            "redirect_uri is missing: the AI client must send one of its registered redirect URIs.",
        ));
    }
    if !client
        .meta
        .redirect_uris
        .iter()
        .any(|r| super::redirect_matches(r, &p.redirect_uri))
    {
        return Err(bad_request(&format!(
            "redirect_uri `{}` is not registered for this client, so Chamberlain will not send you there.",
            p.redirect_uri
        )));
    }
    Ok(client)
}

/// Step 2: everything that is reported to the client's redirect URI.
async fn check_request(
    state: &AppState,
    p: &Params,
    client: &Client,
) -> Result<(), (&'static str, String)> {
    if p.response_type != "code" {
        return Err((
            "unsupported_response_type",
            format!(
                "response_type `{}` is not supported; use `code`",
                p.response_type
            ),
        ));
    }
    if p.code_challenge.is_empty() {
        return Err((
            "invalid_request",
            "code_challenge is required (PKCE with code_challenge_method=S256)".into(),
        ));
    }
    if p.code_challenge_method != "S256" {
        let m = if p.code_challenge_method.is_empty() {
            "plain (the default when none is sent)"
        } else {
            p.code_challenge_method.as_str()
        };
        return Err((
            "invalid_request",
            format!("code_challenge_method {m} is not supported; use S256"),
        ));
    }
    if p.code_challenge.len() != 43
        || !p
            .code_challenge
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || b == b'-' || b == b'_')
    {
        return Err((
            "invalid_request",
            "code_challenge must be the base64url SHA-256 of the code verifier (43 characters)"
                .into(),
        ));
    }
    if p.resource.is_empty() {
        return Err((
            "invalid_target",
            format!(
                "resource is required (RFC 8707): send resource={}",
                super::mcp_resource(state)
            ),
        ));
    }
    if !super::is_mcp_resource(state, &p.resource) {
        return Err((
            "invalid_target",
            format!(
                "resource `{}` is not served here; the MCP resource is {}",
                p.resource,
                super::mcp_resource(state)
            ),
        ));
    }
    if !client
        .meta
        .grant_types
        .iter()
        .any(|g| g == "authorization_code")
    {
        return Err((
            "unauthorized_client",
            "this client is not registered for the authorization_code grant".into(),
        ));
    }
    let settings = super::cached_settings(state).await.map_err(|_| {
        (
            "temporarily_unavailable",
            "could not read the settings; retry".to_string(),
        )
    })?;
    if !settings.enabled {
        return Err((
            "access_denied",
            "AI access (MCP traffic) is disabled for this organization by an administrator".into(),
        ));
    }
    if client.stored.as_ref().is_some_and(|c| c.killed) {
        return Err((
            "access_denied",
            "this AI client has been switched off by an administrator".into(),
        ));
    }
    Ok(())
}

fn redirect(state: &AppState, p: &Params, extra: &[(&str, &str)]) -> Response {
    let Ok(mut url) = reqwest::Url::parse(&p.redirect_uri) else {
        return bad_request("redirect_uri is not a valid URL");
    };
    {
        let mut q = url.query_pairs_mut();
        for (k, v) in extra {
            q.append_pair(k, v);
        }
        if !p.state.is_empty() {
            q.append_pair("state", &p.state);
        }
        q.append_pair("iss", &super::issuer(state));
    }
    let mut resp = StatusCode::SEE_OTHER.into_response();
    if let Ok(v) = HeaderValue::from_str(url.as_str()) {
        resp.headers_mut().insert(header::LOCATION, v);
    }
    resp.headers_mut()
        .insert(header::CACHE_CONTROL, HeaderValue::from_static("no-store"));
    resp
}

fn redirect_error(state: &AppState, p: &Params, error: &str, description: &str) -> Response {
    redirect(
        state,
        p,
        &[("error", error), ("error_description", description)],
    )
}

fn signin_redirect(p: &Params) -> Response {
    let mut authorize = reqwest::Url::parse("http://x/auth/v1/authorize").expect("static URL");
    {
        let mut q = authorize.query_pairs_mut();
        for (k, v) in p.pairs() {
            if !v.is_empty() {
                q.append_pair(k, v);
            }
        }
    }
    session::signin_redirect(&format!(
        "/auth/v1/authorize?{}",
        authorize.query().unwrap_or("")
    ))
}

/// `GET /auth/v1/authorize`.
pub async fn authorize(
    State(s): State<Shared>,
    headers: HeaderMap,
    RawQuery(q): RawQuery,
) -> Response {
    let q = q.unwrap_or_default();
    if q.len() > 8192 {
        return bad_request("the authorization request is longer than 8 KB");
    }
    let map: HashMap<String, String> = crate::extract::url_pairs(&q).into_iter().collect();
    let p = Params::from_map(&map);
    let client = match check_client(&s, &p).await {
        Ok(c) => c,
        Err(page) => return page,
    };
    if let Err((e, d)) = check_request(&s, &p, &client).await {
        return redirect_error(&s, &p, e, &d);
    }
    let Some((_, user)) = session::current(&s, &headers).await else {
        return signin_redirect(&p);
    };
    let (csrf, set) = session::csrf_token(&s, &headers);
    let redirect_host = reqwest::Url::parse(&p.redirect_uri)
        .ok()
        .and_then(|u| u.host_str().map(str::to_string))
        .unwrap_or_default();
    let name = if client.meta.client_name.is_empty() {
        "An unnamed AI client".to_string()
    } else {
        client.meta.client_name.clone()
    };
    let domain = client.verified_domain(&p.client_id);
    let body = pages::consent(
        &csrf,
        &pages::Consent {
            client_name: &name,
            redirect_host: &redirect_host,
            verified_domain: &domain,
            registration: if client.is_cimd {
                "client metadata document"
            } else {
                "dynamic client registration"
            },
            resource: &super::mcp_resource(&s),
            user_email: &user.email,
        },
        &p.pairs(),
    );
    let mut resp = pages::html(StatusCode::OK, body);
    if let Some(c) = set {
        resp.headers_mut().append(header::SET_COOKIE, c);
    }
    resp
}

/// `POST /auth/v1/authorize`: the consent form (csrf, decision = allow | deny, and the
/// request's parameters).
pub async fn decide(State(s): State<Shared>, headers: HeaderMap, body: Bytes) -> Response {
    let f = session::form(&body);
    if let Err(resp) = session::check_csrf(
        &s,
        &headers,
        f.get("csrf").map(String::as_str).unwrap_or(""),
    ) {
        return resp;
    }
    let p = Params::from_map(&f);
    let client = match check_client(&s, &p).await {
        Ok(c) => c,
        Err(page) => return page,
    };
    if let Err((e, d)) = check_request(&s, &p, &client).await {
        return redirect_error(&s, &p, e, &d);
    }
    let Some((_, user)) = session::current(&s, &headers).await else {
        return signin_redirect(&p);
    };
    match f.get("decision").map(String::as_str) {
        Some("allow") => {}
        Some("deny") => {
            return redirect_error(&s, &p, "access_denied", "the user denied the request");
        }
        _ => {
            return bad_request("the consent form must be answered with Allow or Deny");
        }
    }
    let code = password::random_token(32);
    let code_hash = password::digest(&code);
    let ctx = AuditCtx {
        actor_user_id: user.id.clone(),
        actor_client_id: p.client_id.clone(),
        request_id: crate::error::current_request_id(),
    };
    let resource = super::mcp_resource(&s);
    let expires = Timestamp::now().plus_seconds(super::CODE_TTL_SECS);
    let result = chamberlain_store::write_tx!(s.store, &ctx, |tx| {
        let stored = match (&client.stored, client.is_cimd) {
            (_, true) => repo::upsert_cimd_client(tx, &p.client_id, &client.meta).await?,
            (Some(c), false) => c.clone(),
            (None, false) => {
                return Err(chamberlain_store::StoreError::not_found(
                    "AI client",
                    &p.client_id,
                ))
            }
        };
        if stored.killed {
            return Err(chamberlain_store::StoreError::Precondition(
                "this AI client has been switched off by an administrator".into(),
            ));
        }
        repo::activate(tx, &user.id, &stored).await?;
        let grant = Grant {
            family_id: new_id(),
            client_id: p.client_id.clone(),
            user_id: user.id.clone(),
            resource: resource.clone(),
            scope: super::SCOPE.into(),
        };
        repo::insert_code(
            tx,
            &code_hash,
            &grant,
            &p.redirect_uri,
            &p.code_challenge,
            expires,
        )
        .await?;
        Ok(stored.client_id_type)
    });
    match result {
        Ok(_) => redirect(&s, &p, &[("code", &code)]),
        Err(chamberlain_store::StoreError::Precondition(m)) => {
            redirect_error(&s, &p, "access_denied", &m)
        }
        Err(e) => {
            tracing::error!(error = %e, "authorization failed");
            redirect_error(
                &s,
                &p,
                "temporarily_unavailable",
                "the authorization could not be recorded; try again",
            )
        }
    }
}
