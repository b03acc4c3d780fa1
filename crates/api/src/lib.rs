//! Chamberlain's HTTP API: C1-compatible `/api/v1` routes, the `/auth/v1` token endpoint,
//! operations endpoints, and the OpenAPI document generated from the route table.

pub mod authz;
pub mod error;
pub mod expand;
pub mod extract;
pub mod mcp_endpoint;
pub mod metrics;
pub mod notify;
pub mod oauth;
pub mod openapi;
pub mod routes;
pub mod slack;
pub mod sso;
pub mod state;
pub mod webhooks;
pub mod worker;

use axum::extract::{MatchedPath, Request};
use axum::http::{HeaderValue, Method};
use axum::middleware::{self, Next};
use axum::response::Response;
use axum::Router;
use std::time::Instant;

pub use state::{AppState, Shared};

/// Builds the MCP gateway for a server: outbound requests to MCP servers and token endpoints
/// go through the guard with the configured allow-list.
pub async fn gateway(
    store: &chamberlain_store::Store,
    secrets: &chamberlain_auth::crypto::SecretBox,
    jobs: &worker::JobSettings,
    public_url: &str,
) -> Result<std::sync::Arc<chamberlain_gateway::Gateway>, chamberlain_store::StoreError> {
    let guard = chamberlain_outbound::Guard::new("MCP servers", jobs.outbound_allow_hosts.clone());
    chamberlain_gateway::Gateway::new(store.clone(), secrets.clone(), guard, public_url).await
}

/// Largest request body accepted (bulk uploads get their own limits in later features).
pub const MAX_BODY_BYTES: usize = 4 * 1024 * 1024;

/// The `/api/v1` routes behind [`state::authenticate`], without the outer layers.
fn api_routes(state: &Shared) -> Router<Shared> {
    routes::table()
        .into_iter()
        .fold(Router::new(), |r, route| {
            r.route(&route.axum_path(), route.handler)
        })
        .route_layer(middleware::from_fn_with_state(
            state.clone(),
            state::authenticate,
        ))
}

/// The `/api/v1` routes alone, for calling the API in process (the web pages do, as the
/// signed-in user, through [`state::InProcessPrincipal`]): same handlers, same authorization.
pub fn api_router(state: Shared) -> Router {
    api_routes(&state).with_state(state)
}

/// Builds the whole HTTP application.
pub fn app(state: Shared) -> Router {
    app_with_pages(state, Router::new())
}

/// Builds the whole HTTP application with `pages` (the web app) merged in.
pub fn app_with_pages(state: Shared, pages: Router<Shared>) -> Router {
    Router::new()
        .merge(api_routes(&state))
        .merge(pages)
        .merge(routes::public(state.clone()))
        .fallback(routes::ops::not_found)
        .layer(axum::extract::DefaultBodyLimit::max(MAX_BODY_BYTES))
        .layer(middleware::from_fn_with_state(state.clone(), observe))
        .with_state(state)
}

/// Outermost layer: assigns the request id (honouring a sane `x-request-id` / `c1-trace-id`),
/// makes it available to error messages, echoes it in a header, logs and counts the request.
async fn observe(
    axum::extract::State(state): axum::extract::State<Shared>,
    req: Request,
    next: Next,
) -> Response {
    let incoming = ["x-request-id", "c1-trace-id"]
        .iter()
        .find_map(|h| req.headers().get(*h).and_then(|v| v.to_str().ok()))
        .filter(|v| {
            !v.is_empty()
                && v.len() <= 64
                && v.bytes()
                    .all(|b| b.is_ascii_alphanumeric() || b == b'-' || b == b'_')
        })
        .map(str::to_string);
    let request_id = incoming.unwrap_or_else(chamberlain_model::new_id);
    // Refuse a declared oversized body before reading any of it.
    let declared = req
        .headers()
        .get(axum::http::header::CONTENT_LENGTH)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.parse::<usize>().ok());
    // Uploads (c1z files) stream to disk with their own cap.
    let path = req.uri().path();
    let limit = if path.ends_with("/c1z") || path.ends_with("/file") {
        routes::connectors::MAX_UPLOAD_BYTES as usize
    } else {
        MAX_BODY_BYTES
    };
    if declared.is_some_and(|n| n > limit) {
        let err = error::ApiError {
            code: error::Code::ResourceExhausted,
            message: format!(
                "request body is larger than the {} MiB limit",
                MAX_BODY_BYTES / (1024 * 1024)
            ),
            http: Some(axum::http::StatusCode::PAYLOAD_TOO_LARGE),
        };
        let mut resp = error::REQUEST_ID
            .scope(request_id.clone(), async {
                axum::response::IntoResponse::into_response(err)
            })
            .await;
        if let Ok(v) = HeaderValue::from_str(&request_id) {
            resp.headers_mut().insert("x-request-id", v);
        }
        resp.headers_mut().insert(
            axum::http::header::CONNECTION,
            HeaderValue::from_static("close"),
        );
        return resp;
    }
    let method = req.method().clone();
    let route = req
        .extensions()
        .get::<MatchedPath>()
        .map(|p| p.as_str().to_string())
        .unwrap_or_else(|| "unmatched".into());
    let started = Instant::now();
    let mut resp = error::REQUEST_ID
        .scope(request_id.clone(), next.run(req))
        .await;
    let elapsed = started.elapsed();
    let status = resp.status().as_u16();
    state
        .metrics
        .observe(method.as_str(), &route, status, elapsed);
    if let Ok(v) = HeaderValue::from_str(&request_id) {
        resp.headers_mut().insert("x-request-id", v);
    }
    if status >= 500 {
        tracing::error!(request_id, %method, route, status, elapsed_ms = elapsed.as_millis() as u64, "request failed");
    } else if method != Method::GET || status >= 400 {
        tracing::info!(request_id, %method, route, status, elapsed_ms = elapsed.as_millis() as u64, "request");
    } else {
        tracing::debug!(request_id, %method, route, status, elapsed_ms = elapsed.as_millis() as u64, "request");
    }
    resp
}
