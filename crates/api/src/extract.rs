//! Request extractors: JSON bodies with errors that name the offending field, paging query
//! parameters, and the authenticated caller.

use crate::error::{ApiError, Code};
use crate::state::Caller;
use axum::body::Bytes;
use axum::extract::{FromRequest, FromRequestParts, Request};
use axum::http::request::Parts;
use axum::http::StatusCode;
use serde::de::DeserializeOwned;

/// A JSON request body. An empty body reads as `{}` (C1 clients send none on some POST and
/// DELETE calls). Errors name the field path and the problem.
pub struct Body<T>(pub T);

impl<S: Send + Sync, T: DeserializeOwned> FromRequest<S> for Body<T> {
    type Rejection = ApiError;

    async fn from_request(req: Request, state: &S) -> Result<Self, Self::Rejection> {
        let bytes = Bytes::from_request(req, state).await.map_err(|e| {
            if e.status() == StatusCode::PAYLOAD_TOO_LARGE {
                ApiError {
                    code: Code::ResourceExhausted,
                    message: format!(
                        "request body is larger than the {} MiB limit",
                        crate::MAX_BODY_BYTES / (1024 * 1024)
                    ),
                    http: Some(StatusCode::PAYLOAD_TOO_LARGE),
                }
            } else {
                ApiError::invalid(format!("could not read the request body: {e}"))
            }
        })?;
        parse_json(&bytes).map(Body)
    }
}

/// Parses a JSON document, reporting the failing field path.
pub fn parse_json<T: DeserializeOwned>(bytes: &[u8]) -> Result<T, ApiError> {
    let text: &[u8] = if bytes.iter().all(u8::is_ascii_whitespace) {
        b"{}"
    } else {
        bytes
    };
    let de = &mut serde_json::Deserializer::from_slice(text);
    serde_path_to_error::deserialize(de).map_err(|e| {
        let path = e.path().to_string();
        let inner = e.into_inner();
        let what = inner.to_string();
        // serde_json's messages say "at line L column C"; keep them, they help with big bodies.
        if inner.is_syntax() || inner.is_eof() {
            ApiError::invalid(format!("request body is not valid JSON: {what}"))
        } else if path == "." || path.is_empty() {
            ApiError::invalid(format!(
                "request body does not match the expected object: {what}"
            ))
        } else {
            ApiError::invalid(format!("field `{path}`: {what}"))
        }
    })
}

/// `page_size` and `page_token` query parameters of C1 GET lists.
#[derive(Debug, Default, Clone)]
pub struct Paging {
    /// The requested size, unclamped (None when absent).
    pub page_size: Option<i64>,
    /// The token, empty for the first page.
    pub page_token: String,
}

impl<S: Send + Sync> FromRequestParts<S> for Paging {
    type Rejection = ApiError;

    async fn from_request_parts(parts: &mut Parts, _: &S) -> Result<Self, Self::Rejection> {
        let mut out = Paging::default();
        for (k, v) in url_pairs(parts.uri.query().unwrap_or("")) {
            match k.as_str() {
                "page_size" | "pageSize" => out.page_size = Some(parse_page_size(&v)?),
                "page_token" | "pageToken" => out.page_token = v,
                _ => {}
            }
        }
        Ok(out)
    }
}

/// Validates a page size from a query string or body: an integer ≥ 0 (then clamped to 10..100).
pub fn parse_page_size(v: &str) -> Result<i64, ApiError> {
    match v.trim().parse::<i64>() {
        Ok(n) if n >= 0 => Ok(n),
        _ => Err(ApiError::invalid(format!(
            "page_size `{v}` must be a whole number from 0 to 100 (0 means the default, 25)"
        ))),
    }
}

/// Checks a page size given in a JSON body.
pub fn body_page_size(n: Option<i64>) -> Result<Option<i64>, ApiError> {
    match n {
        Some(n) if n < 0 => Err(ApiError::invalid(format!(
            "pageSize {n} must be a whole number from 0 to 100 (0 means the default, 25)"
        ))),
        other => Ok(other),
    }
}

/// Decodes `application/x-www-form-urlencoded` pairs (a query string or a form body).
pub fn url_pairs(q: &str) -> Vec<(String, String)> {
    q.split('&')
        .filter(|p| !p.is_empty())
        .map(|p| {
            let (k, v) = p.split_once('=').unwrap_or((p, ""));
            (percent_decode(k), percent_decode(v))
        })
        .collect()
}

/// Decodes `%XX` escapes and `+` in a query component.
pub fn percent_decode(s: &str) -> String {
    let bytes = s.as_bytes();
    let mut out = Vec::with_capacity(bytes.len());
    let mut i = 0;
    while i < bytes.len() {
        match bytes[i] {
            b'+' => out.push(b' '),
            b'%' if i + 2 < bytes.len() => {
                match u8::from_str_radix(
                    std::str::from_utf8(&bytes[i + 1..i + 3]).unwrap_or("zz"),
                    16,
                ) {
                    Ok(b) => {
                        out.push(b);
                        i += 2;
                    }
                    Err(_) => out.push(b'%'),
                }
            }
            b => out.push(b),
        }
        i += 1;
    }
    String::from_utf8_lossy(&out).into_owned()
}

impl<S: Send + Sync> FromRequestParts<S> for Caller {
    type Rejection = ApiError;

    async fn from_request_parts(parts: &mut Parts, _: &S) -> Result<Self, Self::Rejection> {
        parts.extensions.get::<Caller>().cloned().ok_or_else(|| {
            ApiError::unauthenticated(
                "this endpoint requires a bearer access token from /auth/v1/token",
            )
        })
    }
}
