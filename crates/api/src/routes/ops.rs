//! Operations endpoints: health, readiness, metrics, the OpenAPI document, and the 404 fallback.

use crate::error::ApiError;
use crate::state::Shared;
use axum::extract::State;
use axum::http::{header, StatusCode};
use axum::response::IntoResponse;
use axum::Json;
use serde_json::{json, Value};

/// `GET /healthz`: the process is up.
pub async fn healthz() -> Json<Value> {
    Json(json!({"status": "ok"}))
}

/// `GET /readyz`: the database answers and every migration is applied.
pub async fn readyz(State(s): State<Shared>) -> impl IntoResponse {
    match s.store.migrations_current().await {
        Ok(true) => (StatusCode::OK, Json(json!({"status": "ready"}))),
        Ok(false) => (
            StatusCode::SERVICE_UNAVAILABLE,
            Json(json!({"status": "migrations pending; run `chamberlain migrate`"})),
        ),
        Err(e) => (
            StatusCode::SERVICE_UNAVAILABLE,
            Json(json!({"status": format!("database unreachable: {e}")})),
        ),
    }
}

/// `GET /metrics`: Prometheus text format.
pub async fn metrics(State(s): State<Shared>) -> impl IntoResponse {
    (
        [(header::CONTENT_TYPE, "text/plain; version=0.0.4")],
        s.metrics.render(),
    )
}

/// `GET /api/v1/openapi.json`.
pub async fn openapi(State(s): State<Shared>) -> Json<Value> {
    Json(crate::openapi::document(&s.public_url))
}

/// Fallback for unknown paths, in the API's error shape.
pub async fn not_found(uri: axum::http::Uri) -> ApiError {
    ApiError::not_found(format!(
        "no such endpoint: {}; see /api/v1/openapi.json for what this server serves",
        uri.path()
    ))
}
