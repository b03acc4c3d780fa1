//! The pages' way to the API: each page calls the same `/api/v1` handlers a C1 SDK would, in
//! process, as the signed-in user. Authorization, validation, auditing and error messages are
//! therefore the API's own; a page never reads or writes the database behind its back.

use crate::viewer::Viewer;
use axum::body::Body;
use axum::http::{header, Method, Request};
use axum::Router;
use chamberlain_api::state::InProcessPrincipal;
use serde_json::Value;
use tower::ServiceExt;

/// Largest API answer a page reads (pages ask for bounded pages of results).
const MAX_ANSWER_BYTES: usize = 16 * 1024 * 1024;

/// The `/api/v1` router, called in process.
#[derive(Clone)]
pub struct Api(Router);

/// An API refusal, as the page shows it.
#[derive(Debug, Clone)]
pub struct Refusal {
    /// HTTP status.
    pub status: u16,
    /// The API's message (says what to fix).
    pub message: String,
}

impl std::fmt::Display for Refusal {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(&self.message)
    }
}

/// The result of an API call.
pub type Answer = Result<Value, Refusal>;

impl Api {
    /// Wraps the API router (from [`chamberlain_api::api_router`]).
    pub fn new(router: Router) -> Self {
        Self(router)
    }

    /// Calls `method path` with a JSON `body` as `viewer`.
    pub async fn call(
        &self,
        viewer: &Viewer,
        method: Method,
        path: &str,
        body: Option<Value>,
    ) -> Answer {
        let bytes = match &body {
            Some(b) => serde_json::to_vec(b).unwrap_or_default(),
            None => Vec::new(),
        };
        let mut req = Request::builder().method(method).uri(path);
        if body.is_some() {
            req = req.header(header::CONTENT_TYPE, "application/json");
        }
        let req = match req
            .extension(InProcessPrincipal(viewer.principal()))
            .body(Body::from(bytes))
        {
            Ok(r) => r,
            Err(e) => {
                return Err(Refusal {
                    status: 400,
                    message: format!("bad request path `{path}`: {e}"),
                })
            }
        };
        self.send(req).await
    }

    /// `POST path` with a raw (streamed) `body` of type `content_type` as `viewer`: file
    /// uploads, which the API reads as a stream with its own size limit.
    pub async fn upload(
        &self,
        viewer: &Viewer,
        path: &str,
        content_type: &str,
        body: Body,
    ) -> Answer {
        let req = match Request::builder()
            .method(Method::POST)
            .uri(path)
            .header(header::CONTENT_TYPE, content_type)
            .extension(InProcessPrincipal(viewer.principal()))
            .body(body)
        {
            Ok(r) => r,
            Err(e) => {
                return Err(Refusal {
                    status: 400,
                    message: format!("bad request path `{path}`: {e}"),
                })
            }
        };
        self.send(req).await
    }

    async fn send(&self, req: Request<Body>) -> Answer {
        let resp = match self.0.clone().oneshot(req).await {
            Ok(r) => r,
            Err(never) => match never {},
        };
        let status = resp.status().as_u16();
        let bytes = axum::body::to_bytes(resp.into_body(), MAX_ANSWER_BYTES)
            .await
            .unwrap_or_default();
        let value: Value = serde_json::from_slice(&bytes).unwrap_or(Value::Null);
        if (200..300).contains(&status) {
            Ok(value)
        } else {
            let message = value
                .get("message")
                .and_then(Value::as_str)
                .map(str::to_string)
                .unwrap_or_else(|| format!("the server answered {status}"));
            Err(Refusal { status, message })
        }
    }

    /// Calls `method path` with a JSON `body` as `viewer` and returns the answer's content type
    /// and bytes unparsed (for non-JSON answers such as NDJSON exports).
    pub async fn raw(
        &self,
        viewer: &Viewer,
        method: Method,
        path: &str,
        body: Value,
    ) -> Result<(String, axum::body::Bytes), Refusal> {
        let req = Request::builder()
            .method(method)
            .uri(path)
            .header(header::CONTENT_TYPE, "application/json")
            .extension(InProcessPrincipal(viewer.principal()))
            .body(Body::from(serde_json::to_vec(&body).unwrap_or_default()))
            .map_err(|e| Refusal {
                status: 400,
                message: format!("bad request path `{path}`: {e}"),
            })?;
        let resp = match self.0.clone().oneshot(req).await {
            Ok(r) => r,
            Err(never) => match never {},
        };
        let status = resp.status().as_u16();
        let kind = resp
            .headers()
            .get(header::CONTENT_TYPE)
            .and_then(|h| h.to_str().ok())
            .unwrap_or("")
            .to_string();
        let bytes = axum::body::to_bytes(resp.into_body(), MAX_ANSWER_BYTES)
            .await
            .unwrap_or_default();
        if (200..300).contains(&status) {
            return Ok((kind, bytes));
        }
        let value: Value = serde_json::from_slice(&bytes).unwrap_or(Value::Null);
        let message = value
            .get("message")
            .and_then(Value::as_str)
            .map(str::to_string)
            .unwrap_or_else(|| format!("the server answered {status}"));
        Err(Refusal { status, message })
    }

    /// `GET path`.
    pub async fn get(&self, viewer: &Viewer, path: &str) -> Answer {
        self.call(viewer, Method::GET, path, None).await
    }

    /// `POST path` with `body`.
    pub async fn post(&self, viewer: &Viewer, path: &str, body: Value) -> Answer {
        self.call(viewer, Method::POST, path, Some(body)).await
    }
}

/// Reads a string at a dotted path (`"appEntitlement.displayName"`), empty when absent.
pub fn text<'a>(v: &'a Value, path: &str) -> &'a str {
    at(v, path).and_then(Value::as_str).unwrap_or("")
}

/// The value at a dotted path (`null` counts as absent: protojson writes unset messages so).
pub fn at<'a>(v: &'a Value, path: &str) -> Option<&'a Value> {
    path.split('.')
        .try_fold(v, |v, k| v.get(k))
        .filter(|v| !v.is_null())
}

/// The array at a dotted path (empty when absent).
pub fn list<'a>(v: &'a Value, path: &str) -> &'a [Value] {
    at(v, path)
        .and_then(Value::as_array)
        .map(Vec::as_slice)
        .unwrap_or(&[])
}

/// Percent-encodes one path segment or query value.
pub fn enc(s: &str) -> String {
    let mut out = String::with_capacity(s.len());
    for b in s.bytes() {
        if b.is_ascii_alphanumeric() || matches!(b, b'-' | b'_' | b'.' | b'~') {
            out.push(b as char);
        } else {
            out.push_str(&format!("%{b:02X}"));
        }
    }
    out
}
