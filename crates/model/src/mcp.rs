//! AI access management objects: MCP servers (`c1.api.ai_governance.v1.MCPServerView`), their
//! tools (`MCPTool`), toolsets (`MCPAccessProfile`) and tool bindings, and the server catalog
//! (`MCPServerCatalogEntry`).
//!
//! An MCP server belongs to an app and is addressed by a connector id, as in C1. Each tool and
//! each toolset is backed by an entitlement of that app, so granting, requesting, expiring and
//! reviewing tool access is the same as for any other access.

use crate::protojson::{int64_string, Timestamp};
use crate::wire_enum;
use serde::{Deserialize, Serialize};
use serde_json::Value;
use std::collections::BTreeMap;

wire_enum!(
    /// Hosted (started by Chamberlain over stdio) or external (a remote URL).
    McpServerType {
        Unspecified = "MCP_SERVER_TYPE_UNSPECIFIED",
        Hosted = "MCP_SERVER_TYPE_HOSTED",
        External = "MCP_SERVER_TYPE_EXTERNAL",
    }
);

wire_enum!(
    /// Transport of an external server.
    McpTransportType {
        Unspecified = "MCP_SERVER_TRANSPORT_TYPE_UNSPECIFIED",
        StreamableHttp = "MCP_SERVER_TRANSPORT_TYPE_STREAMABLE_HTTP",
        Sse = "MCP_SERVER_TRANSPORT_TYPE_SSE",
    }
);

wire_enum!(
    /// How the gateway authenticates to the server.
    McpAuthMethod {
        Unspecified = "MCP_SERVER_AUTH_METHOD_UNSPECIFIED",
        None = "MCP_SERVER_AUTH_METHOD_NONE",
        BearerToken = "MCP_SERVER_AUTH_METHOD_BEARER_TOKEN",
        OAuth2 = "MCP_SERVER_AUTH_METHOD_OAUTH2",
        CustomHeader = "MCP_SERVER_AUTH_METHOD_CUSTOM_HEADER",
        AwsSigV4 = "MCP_SERVER_AUTH_METHOD_AWS_SIGV4",
        BasicAuth = "MCP_SERVER_AUTH_METHOD_BASIC_AUTH",
    }
);

wire_enum!(
    /// OAuth2 flavour of the server's credentials.
    McpOAuth2Mode {
        Unspecified = "MCP_SERVER_AUTH_OAUTH2_MODE_UNSPECIFIED",
        Service = "MCP_SERVER_AUTH_OAUTH2_MODE_SERVICE",
        Passthrough = "MCP_SERVER_AUTH_OAUTH2_MODE_PASSTHROUGH",
        ClientCredentials = "MCP_SERVER_AUTH_OAUTH2_MODE_CLIENT_CREDENTIALS",
        JwtBearer = "MCP_SERVER_AUTH_OAUTH2_MODE_JWT_BEARER",
        GoogleServiceAccount = "MCP_SERVER_AUTH_OAUTH2_MODE_GOOGLE_SERVICE_ACCOUNT",
        AuthorizationCode = "MCP_SERVER_AUTH_OAUTH2_MODE_AUTHORIZATION_CODE",
    }
);

wire_enum!(
    /// Whether one credential serves everyone or each user brings their own.
    McpTokenSharing {
        Unspecified = "MCP_SERVER_TOKEN_SHARING_UNSPECIFIED",
        Shared = "MCP_SERVER_TOKEN_SHARING_SHARED",
        PerUser = "MCP_SERVER_TOKEN_SHARING_PER_USER",
    }
);

wire_enum!(
    /// Data sensitivity label (metadata only).
    McpDataSensitivity {
        Unspecified = "MCP_SERVER_DATA_SENSITIVITY_UNSPECIFIED",
        Public = "MCP_SERVER_DATA_SENSITIVITY_PUBLIC",
        Internal = "MCP_SERVER_DATA_SENSITIVITY_INTERNAL",
        Confidential = "MCP_SERVER_DATA_SENSITIVITY_CONFIDENTIAL",
        Restricted = "MCP_SERVER_DATA_SENSITIVITY_RESTRICTED",
    }
);

wire_enum!(
    /// A tri-state boolean: unset means "inherit".
    OptionalBool {
        Unspecified = "OPTIONAL_BOOL_UNSPECIFIED",
        True = "OPTIONAL_BOOL_TRUE",
        False = "OPTIONAL_BOOL_FALSE",
    }
);

impl OptionalBool {
    /// The value, or `default` when unset.
    pub fn or(self, default: bool) -> bool {
        match self {
            OptionalBool::True => true,
            OptionalBool::False => false,
            OptionalBool::Unspecified => default,
        }
    }
}

wire_enum!(
    /// Review state of a tool.
    McpToolState {
        Unspecified = "MCP_TOOL_STATE_UNSPECIFIED",
        PendingReview = "MCP_TOOL_STATE_PENDING_REVIEW",
        Approved = "MCP_TOOL_STATE_APPROVED",
        Disabled = "MCP_TOOL_STATE_DISABLED",
        Removed = "MCP_TOOL_STATE_REMOVED",
    }
);

wire_enum!(
    /// What a tool does, for review and the built-in "Read-only" toolset.
    ToolClassification {
        Unspecified = "TOOL_CLASSIFICATION_UNSPECIFIED",
        Read = "TOOL_CLASSIFICATION_READ",
        Write = "TOOL_CLASSIFICATION_WRITE",
        Destructive = "TOOL_CLASSIFICATION_DESTRUCTIVE",
        Sensitive = "TOOL_CLASSIFICATION_SENSITIVE",
        Dangerous = "TOOL_CLASSIFICATION_DANGEROUS",
    }
);

wire_enum!(
    /// How a tool is surfaced to users.
    ToolVisibility {
        Unspecified = "TOOL_VISIBILITY_UNSPECIFIED",
        Featured = "TOOL_VISIBILITY_FEATURED",
        Available = "TOOL_VISIBILITY_AVAILABLE",
        Bypassed = "TOOL_VISIBILITY_BYPASSED",
    }
);

/// `c1.api.ai_governance.v1.MCPServerView`, plus Chamberlain extensions (prefixed
/// `chamberlain`). Secrets are never part of it: only whether each is configured.
#[derive(Clone, Debug, Default, Serialize, Deserialize, PartialEq)]
#[serde(rename_all = "camelCase", default)]
pub struct McpServer {
    pub connector_id: String,
    pub app_id: String,
    pub display_name: String,
    pub description: String,
    pub server_type: McpServerType,
    pub transport_type: McpTransportType,
    pub endpoint_url: String,
    pub auth_method: McpAuthMethod,
    pub token_sharing: McpTokenSharing,
    pub oauth2_mode: McpOAuth2Mode,
    pub oauth2_client_id: String,
    pub oauth2_credentials_configured: bool,
    pub oauth2_authorize_url: String,
    pub oauth2_token_url: String,
    pub oauth2_issuer_url: String,
    pub oauth2_scopes: Vec<String>,
    pub oauth2_service_authorized: bool,
    pub oauth2_service_authorized_at: Option<Timestamp>,
    pub oauth2_service_authorized_by: String,
    pub bearer_token_configured: bool,
    pub custom_header_name: String,
    pub custom_header_value_configured: bool,
    pub basic_auth_username: String,
    pub basic_auth_password_configured: bool,
    pub data_sensitivity: McpDataSensitivity,
    pub require_tool_approval: OptionalBool,
    pub tool_prefix: String,
    pub default_tool_prefix: String,
    pub mcp_server_catalog_id: String,
    pub config_field_values: BTreeMap<String, String>,
    pub source_app_id: String,
    pub credentials_setup_url: String,
    pub created_at: Option<Timestamp>,
    pub updated_at: Option<Timestamp>,
    pub last_called_at: Option<Timestamp>,
    pub deleted_at: Option<Timestamp>,
    /// Chamberlain extension: the command a hosted server runs (argv; never a shell line).
    pub chamberlain_command: Vec<String>,
    /// Chamberlain extension: per-server kill switch; while true no call reaches the server.
    pub chamberlain_killed: bool,
    /// Chamberlain extension: the last tool discovery (time, outcome, counts).
    pub chamberlain_last_discovery: Option<DiscoveryReport>,
    /// Chamberlain extension (OAuth2 service and per-user modes): the resource indicator
    /// (RFC 8707) sent with authorization and token requests; the server's protected
    /// resource metadata names it, else it is the endpoint URL.
    pub chamberlain_oauth2_resource: String,
    /// Chamberlain extension: the authorization server's revocation endpoint (RFC 7009), used
    /// when a connection is removed.
    pub chamberlain_oauth2_revocation_url: String,
    /// Chamberlain extension: the client id was obtained by dynamic client registration
    /// (RFC 7591) instead of being configured by an admin.
    pub chamberlain_oauth2_dynamic_client: bool,
}

impl McpServer {
    /// The prefix in effect for the server's tool names.
    pub fn effective_prefix(&self) -> &str {
        if self.tool_prefix.is_empty() {
            &self.default_tool_prefix
        } else {
            &self.tool_prefix
        }
    }
}

/// The outcome of one tool discovery (a Chamberlain extension on the server view).
#[derive(Clone, Debug, Default, Serialize, Deserialize, PartialEq)]
#[serde(rename_all = "camelCase", default)]
pub struct DiscoveryReport {
    pub at: Option<Timestamp>,
    pub ok: bool,
    pub error: String,
    pub added: u32,
    pub changed: u32,
    pub removed: u32,
    pub unchanged: u32,
    /// Always said, because discovery can succeed with wrong credentials (C1's warning):
    /// a listed tool is not proof that calls will authenticate.
    pub note: String,
}

/// `c1.api.ai_governance.v1.MCPTool`, plus Chamberlain extensions.
#[derive(Clone, Debug, Default, Serialize, Deserialize, PartialEq)]
#[serde(rename_all = "camelCase", default)]
pub struct McpTool {
    pub id: String,
    pub app_id: String,
    pub connector_id: String,
    pub tool_name: String,
    pub display_name: String,
    pub default_display_name: String,
    pub description: String,
    pub input_schema_json: String,
    pub state: McpToolState,
    pub classification: ToolClassification,
    pub default_classification: ToolClassification,
    pub visibility: ToolVisibility,
    pub default_visibility: ToolVisibility,
    pub allowed_client_types: Vec<String>,
    pub app_entitlement_id: String,
    pub discovery_hash: String,
    pub requestable: bool,
    pub requestable_via_toolset: bool,
    pub created_at: Option<Timestamp>,
    pub updated_at: Option<Timestamp>,
    pub last_called_at: Option<Timestamp>,
    pub deleted_at: Option<Timestamp>,
    /// Chamberlain extension: the name AI clients see (`<prefix>_<tool>`, made unique).
    pub chamberlain_exposed_name: String,
    /// Chamberlain extension: set when the exposed name had to be changed to stay unique or
    /// within 64 characters; says why.
    pub chamberlain_name_note: String,
    /// Chamberlain extension: the definition changed since it was last reviewed.
    pub chamberlain_needs_review: bool,
    /// Chamberlain extension: per-tool kill switch.
    pub chamberlain_killed: bool,
    /// Chamberlain extension: the tool definition as the server last listed it (name,
    /// title, description, inputSchema, outputSchema, annotations).
    pub chamberlain_definition: Value,
    /// Chamberlain extension: the definition the admin last reviewed, kept while
    /// `chamberlainNeedsReview` so the change is visible.
    pub chamberlain_reviewed_definition: Value,
}

impl McpTool {
    /// The display name in effect.
    pub fn shown_name(&self) -> &str {
        if self.display_name.is_empty() {
            &self.default_display_name
        } else {
            &self.display_name
        }
    }
}

/// Which toolsets maintain themselves.
pub mod builtin_toolset {
    /// "All approved": every approved tool of the server.
    pub const ALL_APPROVED: &str = "ALL_APPROVED";
    /// "Read-only": every approved tool classified READ.
    pub const READ_ONLY: &str = "READ_ONLY";
}

/// `c1.api.ai_governance.v1.MCPAccessProfile` (a toolset), plus Chamberlain extensions.
#[derive(Clone, Debug, Default, Serialize, Deserialize, PartialEq)]
#[serde(rename_all = "camelCase", default)]
pub struct McpToolset {
    pub id: String,
    pub app_id: String,
    pub connector_id: String,
    pub connector_display_name: String,
    pub display_name: String,
    pub description: String,
    pub app_entitlement_id: String,
    pub tool_count: i32,
    pub requestable: bool,
    pub created_at: Option<Timestamp>,
    pub updated_at: Option<Timestamp>,
    pub deleted_at: Option<Timestamp>,
    /// Chamberlain extension: `ALL_APPROVED` or `READ_ONLY` for the two toolsets that maintain
    /// themselves (they cannot be edited); empty for custom toolsets.
    pub chamberlain_built_in: String,
}

/// `c1.api.ai_governance.v1.MCPAccessProfileToolBinding`.
#[derive(Clone, Debug, Default, Serialize, Deserialize, PartialEq)]
#[serde(rename_all = "camelCase", default)]
pub struct McpToolBinding {
    pub access_profile_id: String,
    pub app_id: String,
    pub connector_id: String,
    pub mcp_tool_id: String,
    pub created_at: Option<Timestamp>,
    pub updated_at: Option<Timestamp>,
    pub deleted_at: Option<Timestamp>,
}

/// `c1.api.ai_governance.v1.MCPServerSearchWithToolCountResult`.
#[derive(Clone, Debug, Default, Serialize, Deserialize, PartialEq)]
#[serde(rename_all = "camelCase", default)]
pub struct McpServerWithToolCount {
    pub mcp_server: Option<McpServer>,
    #[serde(with = "int64_string")]
    pub tool_count: i64,
}

/// `c1.api.ai_governance.v1.MCPServerCatalogConfigField`.
#[derive(Clone, Debug, Default, Serialize, Deserialize, PartialEq)]
#[serde(rename_all = "camelCase", default)]
pub struct CatalogConfigField {
    pub name: String,
    pub display_name: String,
    pub description: String,
    pub placeholder: String,
    pub default: String,
    pub required: bool,
    pub secret: bool,
}

/// `c1.api.ai_governance.v1.MCPServerCatalogConfigSchema`.
#[derive(Clone, Debug, Default, Serialize, Deserialize, PartialEq)]
#[serde(rename_all = "camelCase", default)]
pub struct CatalogConfigSchema {
    pub fields: Vec<CatalogConfigField>,
}

/// `c1.api.ai_governance.v1.MCPServerCatalogAuthMode`.
#[derive(Clone, Debug, Default, Serialize, Deserialize, PartialEq)]
#[serde(rename_all = "camelCase", default)]
pub struct CatalogAuthMode {
    pub auth_method: McpAuthMethod,
    pub description: String,
    pub authorize_url: String,
    pub token_url: String,
    pub issuer_url: String,
    pub scopes: Vec<String>,
    pub optional_scopes: Vec<String>,
    pub passthrough: bool,
    pub oauth2_grant: String,
    pub pkce: String,
    pub header: String,
    pub credential_url: String,
}

/// `c1.api.ai_governance.v1.MCPServerCatalogEntry`, plus the Chamberlain extension
/// `chamberlainCommand` (argv template of a hosted entry; `${field}` is replaced by the
/// registration's config field values).
#[derive(Clone, Debug, Default, Serialize, Deserialize, PartialEq)]
#[serde(rename_all = "camelCase", default)]
pub struct CatalogEntry {
    pub id: String,
    pub display_name: String,
    pub description: String,
    pub service_name: String,
    pub icon_url: String,
    pub base_url: String,
    pub default_tool_prefix: String,
    pub default_auth_method: McpAuthMethod,
    pub auth_modes: Vec<CatalogAuthMode>,
    pub supported_oauth2_modes: Vec<McpOAuth2Mode>,
    pub config_schema: Option<CatalogConfigSchema>,
    pub channel: String,
    pub maturity: String,
    pub scope: String,
    pub stable: bool,
    pub chamberlain_command: Vec<String>,
    /// Chamberlain extension: `MCP_SERVER_TYPE_HOSTED` entries run `chamberlainCommand`;
    /// `MCP_SERVER_TYPE_EXTERNAL` entries connect to `baseUrl`.
    pub chamberlain_server_type: McpServerType,
}

wire_enum!(
    /// State of a downstream OAuth connection (Chamberlain extension). NEEDS_RECONNECT: the
    /// tokens stopped working (refresh refused, server answered 401), so the user (or, in
    /// service mode, an admin) must connect again.
    McpConnectionStatus {
        Unspecified = "MCP_CONNECTION_STATUS_UNSPECIFIED",
        Connected = "MCP_CONNECTION_STATUS_CONNECTED",
        NeedsReconnect = "MCP_CONNECTION_STATUS_NEEDS_RECONNECT",
    }
);

/// A downstream OAuth identity of an MCP server (Chamberlain extension): a user's own
/// connection (per-user mode) or the server's service identity (service mode, `userId` empty).
/// The tokens are sealed beside it and never part of this view.
#[derive(Clone, Debug, Default, Serialize, Deserialize, PartialEq)]
#[serde(rename_all = "camelCase", default)]
pub struct McpConnection {
    pub app_id: String,
    pub connector_id: String,
    /// The Chamberlain user; empty for a service-mode identity.
    pub user_id: String,
    /// Who authorized it (the user themselves, or the admin for service mode).
    pub authorized_by_user_id: String,
    pub status: McpConnectionStatus,
    /// Identity at the downstream provider, from the ID token when one was issued.
    pub authorized_as_email: String,
    pub authorized_as_name: String,
    pub issuer: String,
    pub scopes: Vec<String>,
    pub connected_at: Option<Timestamp>,
    pub refreshed_at: Option<Timestamp>,
    /// When the current access token expires (unknown when the provider did not say).
    pub access_token_expires_at: Option<Timestamp>,
    pub has_refresh_token: bool,
    /// Why the connection needs reconnecting, when it does.
    pub last_error: String,
}
