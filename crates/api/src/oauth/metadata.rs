//! Discovery documents: protected resource metadata (RFC 9728) for the MCP resource, and the
//! authorization server metadata (RFC 8414, also served as OpenID discovery for clients that
//! only try that path).

use crate::state::Shared;
use axum::extract::State;
use axum::Json;
use serde_json::{json, Value};

/// `GET /.well-known/oauth-protected-resource[/mcp]`.
pub async fn protected_resource(State(s): State<Shared>) -> Json<Value> {
    Json(json!({
        "resource": super::mcp_resource(&s),
        "authorization_servers": [super::issuer(&s)],
        "bearer_methods_supported": ["header"],
        "scopes_supported": [super::SCOPE],
        "resource_name": "Chamberlain MCP gateway",
    }))
}

/// `GET /.well-known/oauth-authorization-server` and `/.well-known/openid-configuration`.
pub async fn authorization_server(State(s): State<Shared>) -> Json<Value> {
    let base = super::issuer(&s);
    Json(json!({
        "issuer": base,
        "authorization_endpoint": format!("{base}/auth/v1/authorize"),
        "token_endpoint": format!("{base}/auth/v1/token"),
        "registration_endpoint": format!("{base}/auth/v1/register"),
        "device_authorization_endpoint": format!("{base}/auth/v1/device_authorization"),
        "jwks_uri": format!("{base}/auth/v1/jwks"),
        "scopes_supported": [super::SCOPE],
        "response_types_supported": ["code"],
        "response_modes_supported": ["query"],
        "grant_types_supported": ["authorization_code", "refresh_token", "client_credentials", super::device::GRANT_TYPE],
        "code_challenge_methods_supported": ["S256"],
        "token_endpoint_auth_methods_supported": ["none", "client_secret_post", "client_secret_basic", "private_key_jwt"],
        "token_endpoint_auth_signing_alg_values_supported": ["EdDSA"],
        "authorization_response_iss_parameter_supported": true,
        "client_id_metadata_document_supported": true,
        "subject_types_supported": ["public"],
        "id_token_signing_alg_values_supported": ["EdDSA"],
    }))
}
