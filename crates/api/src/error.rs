//! The one error type of the API and its wire form: `google.rpc.Status` protojson
//! (`{code, message, details}`) with the HTTP status that matches the gRPC code, and the request
//! id in the message so users can quote it.

use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use chamberlain_store::StoreError;
use serde_json::json;

/// gRPC status codes used by the API.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Code {
    /// 3 → 400.
    InvalidArgument = 3,
    /// 5 → 404.
    NotFound = 5,
    /// 6 → 409.
    AlreadyExists = 6,
    /// 7 → 403.
    PermissionDenied = 7,
    /// 8 → 429 (413 for oversized bodies).
    ResourceExhausted = 8,
    /// 9 → 400.
    FailedPrecondition = 9,
    /// 12 → 501.
    Unimplemented = 12,
    /// 13 → 500.
    Internal = 13,
    /// 14 → 503.
    Unavailable = 14,
    /// 16 → 401.
    Unauthenticated = 16,
}

impl Code {
    fn http(self) -> StatusCode {
        match self {
            Code::InvalidArgument | Code::FailedPrecondition => StatusCode::BAD_REQUEST,
            Code::NotFound => StatusCode::NOT_FOUND,
            Code::AlreadyExists => StatusCode::CONFLICT,
            Code::PermissionDenied => StatusCode::FORBIDDEN,
            Code::ResourceExhausted => StatusCode::TOO_MANY_REQUESTS,
            Code::Unimplemented => StatusCode::NOT_IMPLEMENTED,
            Code::Internal => StatusCode::INTERNAL_SERVER_ERROR,
            Code::Unavailable => StatusCode::SERVICE_UNAVAILABLE,
            Code::Unauthenticated => StatusCode::UNAUTHORIZED,
        }
    }
}

/// An error returned to an API client.
#[derive(Debug)]
pub struct ApiError {
    /// gRPC code.
    pub code: Code,
    /// What went wrong and what to do about it.
    pub message: String,
    /// HTTP status override (e.g. 413), when the gRPC mapping is not precise enough.
    pub http: Option<StatusCode>,
}

/// Result alias for handlers.
pub type ApiResult<T> = Result<T, ApiError>;

impl ApiError {
    /// An error with `code` and `message`.
    pub fn new(code: Code, message: impl Into<String>) -> Self {
        ApiError {
            code,
            message: message.into(),
            http: None,
        }
    }
    /// 400 INVALID_ARGUMENT.
    pub fn invalid(message: impl Into<String>) -> Self {
        Self::new(Code::InvalidArgument, message)
    }
    /// 404 NOT_FOUND.
    pub fn not_found(message: impl Into<String>) -> Self {
        Self::new(Code::NotFound, message)
    }
    /// 403 PERMISSION_DENIED.
    pub fn denied(message: impl Into<String>) -> Self {
        Self::new(Code::PermissionDenied, message)
    }
    /// 401 UNAUTHENTICATED.
    pub fn unauthenticated(message: impl Into<String>) -> Self {
        Self::new(Code::Unauthenticated, message)
    }
    /// 400 FAILED_PRECONDITION.
    pub fn precondition(message: impl Into<String>) -> Self {
        Self::new(Code::FailedPrecondition, message)
    }
}

impl From<StoreError> for ApiError {
    fn from(e: StoreError) -> Self {
        match e {
            StoreError::NotFound { .. } => ApiError::not_found(e.to_string()),
            StoreError::Conflict(m) => ApiError::new(Code::AlreadyExists, m),
            StoreError::Invalid(m) => ApiError::invalid(m),
            StoreError::Precondition(m) => ApiError::precondition(m),
            other => {
                tracing::error!(error = %other, "storage error");
                if other.is_retryable() {
                    ApiError::new(Code::Unavailable, "the database is busy; retry the request")
                } else {
                    ApiError::new(
                        Code::Internal,
                        "internal error; the server log has details under this request id",
                    )
                }
            }
        }
    }
}

impl From<chamberlain_model::mask::MaskError> for ApiError {
    fn from(e: chamberlain_model::mask::MaskError) -> Self {
        ApiError::invalid(e.to_string())
    }
}

tokio::task_local! {
    /// The id of the request being served, for error messages and logs.
    pub static REQUEST_ID: String;
}

/// The current request id, or empty outside a request.
pub fn current_request_id() -> String {
    REQUEST_ID.try_with(|r| r.clone()).unwrap_or_default()
}

impl IntoResponse for ApiError {
    fn into_response(self) -> Response {
        let rid = current_request_id();
        let message = if rid.is_empty() {
            self.message
        } else {
            format!("{} (request-id: {rid})", self.message)
        };
        let status = self.http.unwrap_or_else(|| self.code.http());
        let body = json!({"code": self.code as i32, "message": message, "details": []});
        (status, axum::Json(body)).into_response()
    }
}
