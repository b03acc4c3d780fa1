//! The "connect your account" pages of the MCP gateway: a user connects their own account to
//! a per-user OAuth server (or an admin authorizes a service-mode server once), and the
//! callback the downstream authorization server sends the browser back to. URL-mode
//! elicitations of the gateway point here. Same sign-in, CSRF and page rules as the consent
//! pages.

use super::{pages, session};
use crate::state::{AppState, Shared};
use axum::body::Bytes;
use axum::extract::{Path, RawQuery, State};
use axum::http::{HeaderMap, StatusCode};
use axum::response::Response;
use chamberlain_gateway::connections::{identity_kind, ConnectError, CONNECT_PATH};
use chamberlain_model::mcp::{McpConnection, McpConnectionStatus, McpServer};
use chamberlain_model::principal::Role;
use chamberlain_model::user::User;
use chamberlain_store::repo::{mcp_connections, owners};
use chamberlain_store::AuditCtx;
use std::collections::HashMap;

fn ctx(user: &User, what: &str) -> AuditCtx {
    AuditCtx {
        actor_user_id: user.id.clone(),
        actor_client_id: format!("web:{what}"),
        request_id: crate::error::current_request_id(),
    }
}

/// Whether the user may authorize or revoke a server's service identity: Super Admins, and
/// App Admins who own the server's app.
async fn may_administer(s: &AppState, user: &User, server: &McpServer) -> bool {
    let roles: Vec<Role> = user
        .role_ids
        .iter()
        .filter_map(|r| Role::parse(r))
        .collect();
    if roles.contains(&Role::SuperAdmin) {
        return true;
    }
    roles.contains(&Role::AppAdmin)
        && owners::is_owner(&s.store, owners::OwnedKind::App, &server.app_id, &user.id)
            .await
            .unwrap_or(false)
}

fn signin_redirect(server_id: &str) -> Response {
    session::signin_redirect(&format!("{CONNECT_PATH}{server_id}"))
}

async fn load(s: &AppState, server_id: &str) -> Result<McpServer, Response> {
    s.gateway.index().servers.get(server_id).cloned().ok_or_else(|| {
        pages::error(
            StatusCode::NOT_FOUND,
            "MCP server not found",
            "There is no MCP server with this id (it may have been deleted). Ask your administrator for the right link.",
        )
    })
}

fn describe(c: Option<&McpConnection>) -> String {
    let Some(c) = c else {
        return "<p id=\"status\">Not connected.</p>".into();
    };
    let who = match (
        c.authorized_as_email.is_empty(),
        c.authorized_as_name.is_empty(),
    ) {
        (false, _) => format!(" as {}", pages::escape(&c.authorized_as_email)),
        (true, false) => format!(" as {}", pages::escape(&c.authorized_as_name)),
        _ => String::new(),
    };
    let since = c
        .connected_at
        .and_then(|t| serde_json::to_value(t).ok())
        .and_then(|v| v.as_str().map(|t| format!(" since {}", pages::escape(t))))
        .unwrap_or_default();
    if c.status == McpConnectionStatus::Connected {
        format!("<p id=\"status\">Connected{who}{since}.</p>")
    } else {
        format!(
            "<p id=\"status\" class=\"error\">Needs reconnecting: {}</p>",
            pages::escape(&c.last_error)
        )
    }
}

/// `GET /auth/v1/mcp/connect/{connector_id}`: the server, the caller's connection (or the
/// service identity, for admins of service-mode servers), and the buttons.
pub async fn page(
    State(s): State<Shared>,
    Path(server_id): Path<String>,
    headers: HeaderMap,
) -> Response {
    let Some((_, user)) = session::current(&s, &headers).await else {
        return signin_redirect(&server_id);
    };
    let server = match load(&s, &server_id).await {
        Ok(v) => v,
        Err(page) => return page,
    };
    let Some(service) = identity_kind(&server) else {
        return pages::error(
            StatusCode::BAD_REQUEST,
            "Nothing to connect",
            "This MCP server's credentials are configured by an administrator; there is no account to connect.",
        );
    };
    if service && !may_administer(&s, &user, &server).await {
        return pages::error(
            StatusCode::FORBIDDEN,
            "Administrators only",
            "This MCP server runs in service mode: an administrator authorizes it once for everyone. Ask a Super Admin or an owner of its app.",
        );
    }
    let identity = if service { "" } else { user.id.as_str() };
    let current = mcp_connections::get(s.store.pool(), &server.connector_id, identity)
        .await
        .ok()
        .flatten()
        .map(|c| c.view);
    let (csrf, set) = session::csrf_token(&s, &headers);
    let name = pages::escape(&server.display_name);
    let provider = reqwest::Url::parse(if server.oauth2_authorize_url.is_empty() {
        &server.endpoint_url
    } else {
        &server.oauth2_authorize_url
    })
    .ok()
    .and_then(|u| u.host_str().map(str::to_string))
    .unwrap_or_default();
    let (title, intro, go, remove) = if service {
        (
            format!("Authorize {}", server.display_name),
            format!("<p>Service mode: the account you authorize is used for <strong>every</strong> user's calls to {name}; the audit still names each user.</p>"),
            if current.is_some() { "Authorize again" } else { "Authorize" },
            "Revoke",
        )
    } else {
        (
            format!("Connect {}", server.display_name),
            format!("<p>Connect your own {name} account. Chamberlain keeps the tokens encrypted and uses them only for the {name} tools your access grants you; your AI client never sees them.</p>"),
            if current.is_some() { "Reconnect" } else { "Connect" },
            "Disconnect",
        )
    };
    let scopes = if server.oauth2_scopes.is_empty() {
        String::new()
    } else {
        format!(
            "<dt>Scopes</dt><dd id=\"scopes\">{}</dd>",
            pages::escape(&server.oauth2_scopes.join(" "))
        )
    };
    let remove_button = if current.is_some() {
        format!("<button type=\"submit\" name=\"action\" value=\"disconnect\">{remove}</button>")
    } else {
        String::new()
    };
    let body = format!(
        "<h1>{}</h1>{intro}<p>Signed in as {}.</p>{}<dl><dt>Sign-in at</dt><dd id=\"provider\"><code>{}</code></dd>{scopes}</dl>\
<form method=\"post\" action=\"{CONNECT_PATH}{}\">{}<button type=\"submit\" name=\"action\" value=\"connect\">{go}</button>{remove_button}</form>",
        pages::escape(&title),
        pages::escape(&user.email),
        describe(current.as_ref()),
        pages::escape(&provider),
        pages::escape(&server.connector_id),
        pages::hidden("csrf", &csrf),
    );
    session::with_cookie(pages::html(StatusCode::OK, pages::page(&title, &body)), set)
}

/// `POST /auth/v1/mcp/connect/{connector_id}` (form: csrf, action = connect | disconnect).
pub async fn submit(
    State(s): State<Shared>,
    Path(server_id): Path<String>,
    headers: HeaderMap,
    body: Bytes,
) -> Response {
    let f = session::form(&body);
    if let Err(resp) = session::check_csrf(
        &s,
        &headers,
        f.get("csrf").map(String::as_str).unwrap_or(""),
    ) {
        return resp;
    }
    let Some((_, user)) = session::current(&s, &headers).await else {
        return signin_redirect(&server_id);
    };
    let server = match load(&s, &server_id).await {
        Ok(v) => v,
        Err(page) => return page,
    };
    let service = identity_kind(&server) == Some(true);
    if service && !may_administer(&s, &user, &server).await {
        return pages::error(
            StatusCode::FORBIDDEN,
            "Administrators only",
            "Only a Super Admin or an owner of this server's app may authorize or revoke its service identity.",
        );
    }
    match f.get("action").map(String::as_str) {
        Some("connect") => {
            match s
                .gateway
                .begin_connect(&server, &user.id, service, &ctx(&user, "mcp-connect"))
                .await
            {
                Ok(url) => session::see_other(&url),
                Err(e) => failure(&server, &e),
            }
        }
        Some("disconnect") => {
            let identity = if service { "" } else { user.id.as_str() };
            match s
                .gateway
                .disconnect(&server, identity, &ctx(&user, "mcp-disconnect"))
                .await
            {
                Ok(_) => session::see_other(&format!("{CONNECT_PATH}{}", server.connector_id)),
                Err(e) => failure(&server, &ConnectError::Store(e)),
            }
        }
        _ => pages::error(
            StatusCode::BAD_REQUEST,
            "Request refused",
            "The form's action must be connect or disconnect.",
        ),
    }
}

fn failure(server: &McpServer, e: &ConnectError) -> Response {
    let (status, title) = match e {
        ConnectError::Invalid(_) => (StatusCode::BAD_REQUEST, "Cannot connect"),
        ConnectError::Provider(_) => (StatusCode::BAD_GATEWAY, "The provider refused"),
        ConnectError::Store(_) => (StatusCode::SERVICE_UNAVAILABLE, "Try again"),
    };
    if let ConnectError::Store(err) = e {
        tracing::error!(server = %server.connector_id, error = %err, "MCP connect failed");
        return pages::error(
            status,
            title,
            "Chamberlain could not save the connection; try again.",
        );
    }
    pages::error(
        status,
        title,
        &format!("Connecting {} failed: {e}", server.display_name),
    )
}

/// `GET /auth/v1/mcp/callback?code&state[&iss]` (or `error`): finishes the flow for the
/// signed-in user who started it.
pub async fn callback(
    State(s): State<Shared>,
    headers: HeaderMap,
    RawQuery(q): RawQuery,
) -> Response {
    let q: HashMap<String, String> = crate::extract::url_pairs(&q.unwrap_or_default())
        .into_iter()
        .collect();
    let Some((_, user)) = session::current(&s, &headers).await else {
        return pages::error(
            StatusCode::UNAUTHORIZED,
            "Not signed in",
            "Your Chamberlain sign-in ended before the connection finished. Sign in and start again from the connect page.",
        );
    };
    if let Some(err) = q.get("error") {
        let detail = q
            .get("error_description")
            .map(|d| format!(": {d}"))
            .unwrap_or_default();
        return pages::error(
            StatusCode::BAD_REQUEST,
            "Not connected",
            &format!("The provider did not authorize the connection ({err}{detail}). Nothing was stored; you can start again from the connect page."),
        );
    }
    let (Some(code), Some(state)) = (q.get("code"), q.get("state")) else {
        return pages::error(
            StatusCode::BAD_REQUEST,
            "Not connected",
            "The provider's answer has no code or state; start again from the connect page.",
        );
    };
    let done = s
        .gateway
        .finish_connect(
            state,
            code,
            q.get("iss").map(String::as_str),
            &user.id,
            &ctx(&user, "mcp-callback"),
        )
        .await;
    let (server, conn) = match done {
        Ok(v) => v,
        Err(e) => {
            let status = match e {
                ConnectError::Invalid(_) => StatusCode::BAD_REQUEST,
                ConnectError::Provider(_) => StatusCode::BAD_GATEWAY,
                ConnectError::Store(_) => StatusCode::SERVICE_UNAVAILABLE,
            };
            return pages::error(status, "Not connected", &e.to_string());
        }
    };
    // The first connection of a server that could not list its tools yet discovers them now.
    if !server
        .chamberlain_last_discovery
        .as_ref()
        .is_some_and(|d| d.ok)
    {
        if let Err(e) = s
            .gateway
            .discover(&server.connector_id, &ctx(&user, "mcp-callback"))
            .await
        {
            tracing::warn!(server = %server.connector_id, error = %e, "discovery after the first connection failed");
        }
    }
    let who = if conn.authorized_as_email.is_empty() {
        String::new()
    } else {
        format!(" as {}", pages::escape(&conn.authorized_as_email))
    };
    let what = if conn.user_id.is_empty() {
        "The service identity is authorized; every user's calls now use it."
    } else {
        "You can return to your AI client and retry the tool."
    };
    pages::html(
        StatusCode::OK,
        pages::page(
            "Connected",
            &format!(
                "<h1>Connected</h1><p id=\"connected\">{} is connected{who}.</p><p>{what}</p><p><a href=\"{CONNECT_PATH}{}\">Manage this connection</a></p>",
                pages::escape(&server.display_name),
                pages::escape(&server.connector_id)
            ),
        ),
    )
}
