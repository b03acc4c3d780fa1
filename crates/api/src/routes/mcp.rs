//! MCP servers (`c1.api.ai_governance.v1.MCPServerService`): registration under an app, the
//! server catalog, credentials (sealed, never served), test connection, tool re-discovery and
//! per-server kill switches.

use crate::authz;
use crate::error::{ApiError, ApiResult, Code};
use crate::extract::{Body, Paging};
use crate::routes::common;
use crate::state::{Caller, Shared};
use axum::extract::{Path, Query, State};
use axum::Json;
use chamberlain_gateway::credentials::Secrets;
use chamberlain_gateway::names;
use chamberlain_gateway::registry;
use chamberlain_model::mcp::*;
use chamberlain_model::{new_id, Timestamp};
use chamberlain_store::repo::{mcp as repo, mcp_connections, settings};
use chamberlain_store::StoreError;
use serde::Deserialize;
use serde_json::{json, Value};
use std::collections::BTreeMap;

/// Settings kind under which admins' own catalog entries are kept.
const CATALOG_SETTINGS: &str = "mcp server catalog";

/// Server fields an update may set.
const WRITABLE: &[&str] = &[
    "displayName",
    "description",
    "dataSensitivity",
    "requireToolApproval",
    "toolPrefix",
    "chamberlainKilled",
];

/// `c1.api.ai_governance.v1.MCPServerAuthNone`.
#[derive(Deserialize, Default, Clone)]
#[serde(deny_unknown_fields)]
pub struct AuthNone {}

/// `MCPServerAuthBearerToken`.
#[derive(Deserialize, Default, Clone)]
#[serde(rename_all = "camelCase", default, deny_unknown_fields)]
pub struct AuthBearer {
    token: String,
}

/// `MCPServerAuthCustomHeader`.
#[derive(Deserialize, Default, Clone)]
#[serde(rename_all = "camelCase", default, deny_unknown_fields)]
pub struct AuthHeader {
    header_name: String,
    header_value: String,
}

/// `MCPServerAuthBasicAuth`.
#[derive(Deserialize, Default, Clone)]
#[serde(rename_all = "camelCase", default, deny_unknown_fields)]
pub struct AuthBasic {
    username: String,
    password: String,
}

/// `MCPServerAuthOAuth2` (the fields Chamberlain uses; the rest are accepted and ignored only
/// when empty).
#[derive(Deserialize, Default, Clone)]
#[serde(rename_all = "camelCase", default, deny_unknown_fields)]
pub struct AuthOAuth2 {
    mode: McpOAuth2Mode,
    client_id: String,
    client_secret: String,
    authorize_url: String,
    token_url: String,
    issuer_url: String,
    scopes: Vec<String>,
    client_id_mode: String,
    code_challenge_methods_supported: Vec<String>,
    extra_authorize_params: BTreeMap<String, String>,
    extra_token_params: BTreeMap<String, String>,
    jwt_audience: String,
    jwt_issuer: String,
    jwt_private_key: String,
    jwt_subject: String,
    pkce: String,
    scopes_supported: Vec<String>,
    token_endpoint_auth_method: String,
}

/// The authentication oneof shared by external and hosted configs.
#[derive(Deserialize, Default, Clone)]
#[serde(rename_all = "camelCase", default)]
pub struct AuthChoice {
    none: Option<AuthNone>,
    bearer_token: Option<AuthBearer>,
    custom_header: Option<AuthHeader>,
    basic_auth: Option<AuthBasic>,
    oauth2: Option<AuthOAuth2>,
    aws_sigv4: Option<Value>,
    google_service_account: Option<Value>,
}

/// `c1.api.ai_governance.v1.MCPServerExternalConfig`.
#[derive(Deserialize, Default, Clone)]
#[serde(rename_all = "camelCase", default, deny_unknown_fields)]
pub struct ExternalConfig {
    url: String,
    transport_type: McpTransportType,
    token_sharing: McpTokenSharing,
    require_tool_approval: OptionalBool,
    none: Option<AuthNone>,
    bearer_token: Option<AuthBearer>,
    custom_header: Option<AuthHeader>,
    basic_auth: Option<AuthBasic>,
    oauth2: Option<AuthOAuth2>,
}

/// `c1.api.ai_governance.v1.MCPServerHostedConfig`.
#[derive(Deserialize, Default, Clone)]
#[serde(rename_all = "camelCase", default, deny_unknown_fields)]
pub struct HostedConfig {
    mcp_server_catalog_id: String,
    config_fields: BTreeMap<String, String>,
    source_app_id: String,
    token_sharing: McpTokenSharing,
    require_tool_approval: OptionalBool,
    none: Option<AuthNone>,
    bearer_token: Option<AuthBearer>,
    custom_header: Option<AuthHeader>,
    basic_auth: Option<AuthBasic>,
    oauth2: Option<AuthOAuth2>,
    aws_sigv4: Option<Value>,
    google_service_account: Option<Value>,
}

impl ExternalConfig {
    fn auth(&self) -> AuthChoice {
        AuthChoice {
            none: self.none.clone(),
            bearer_token: self.bearer_token.clone(),
            custom_header: self.custom_header.clone(),
            basic_auth: self.basic_auth.clone(),
            oauth2: self.oauth2.clone(),
            ..Default::default()
        }
    }
}

impl HostedConfig {
    fn auth(&self) -> AuthChoice {
        AuthChoice {
            none: self.none.clone(),
            bearer_token: self.bearer_token.clone(),
            custom_header: self.custom_header.clone(),
            basic_auth: self.basic_auth.clone(),
            oauth2: self.oauth2.clone(),
            aws_sigv4: self.aws_sigv4.clone(),
            google_service_account: self.google_service_account.clone(),
        }
    }
}

/// `c1.api.ai_governance.v1.MCPServerServiceRegisterRequestInput`.
#[derive(Deserialize, Default)]
#[serde(rename_all = "camelCase", default, deny_unknown_fields)]
pub struct RegisterRequest {
    display_name: String,
    description: String,
    server_type: McpServerType,
    external_config: Option<ExternalConfig>,
    hosted_config: Option<HostedConfig>,
    tool_prefix: String,
    data_sensitivity: McpDataSensitivity,
    user_ids: Vec<String>,
    tunneled: bool,
    tunnel_appliance_id: String,
    tunnel_path: String,
    tunnel_service_name: String,
    acknowledged_finding_ids: Vec<String>,
    oauth_diagnostic_id: String,
    app_managed_state_binding_ref: Option<Value>,
}

/// An OAuth endpoint URL must be absolute http(s) (the outbound guard decides at use time
/// whether its address may be reached).
fn check_endpoint_url(what: &str, url: &str) -> ApiResult<()> {
    match reqwest::Url::parse(url) {
        Ok(u) if matches!(u.scheme(), "https" | "http") && u.host_str().is_some() => Ok(()),
        _ => Err(ApiError::invalid(format!(
            "oauth2.{what} `{url}` is not an absolute https URL"
        ))),
    }
}

/// Applies an auth choice to a server view and its secrets, refusing what cannot work.
fn apply_auth(server: &mut McpServer, secrets: &mut Secrets, auth: &AuthChoice) -> ApiResult<()> {
    let chosen = [
        auth.none.is_some(),
        auth.bearer_token.is_some(),
        auth.custom_header.is_some(),
        auth.basic_auth.is_some(),
        auth.oauth2.is_some(),
        auth.aws_sigv4.is_some(),
        auth.google_service_account.is_some(),
    ]
    .iter()
    .filter(|b| **b)
    .count();
    if chosen > 1 {
        return Err(ApiError::invalid(
            "set exactly one authentication method (none, bearerToken, customHeader, basicAuth or oauth2)",
        ));
    }
    // Reset everything derived from a previous method.
    server.bearer_token_configured = false;
    server.custom_header_name.clear();
    server.custom_header_value_configured = false;
    server.basic_auth_username.clear();
    server.basic_auth_password_configured = false;
    server.oauth2_mode = McpOAuth2Mode::Unspecified;
    server.oauth2_client_id.clear();
    server.oauth2_credentials_configured = false;
    server.oauth2_token_url.clear();
    server.oauth2_authorize_url.clear();
    server.oauth2_issuer_url.clear();
    server.oauth2_scopes.clear();
    server.chamberlain_oauth2_resource.clear();
    server.chamberlain_oauth2_revocation_url.clear();
    server.chamberlain_oauth2_dynamic_client = false;
    let config = std::mem::take(&mut secrets.config);
    *secrets = Secrets {
        config,
        ..Default::default()
    };
    if auth.aws_sigv4.is_some() || auth.google_service_account.is_some() {
        return Err(ApiError::new(
            Code::Unimplemented,
            "AWS SigV4 and Google service-account authentication are not supported; use bearerToken, customHeader, basicAuth or oauth2",
        ));
    }
    if let Some(b) = &auth.bearer_token {
        if b.token.trim().is_empty() {
            return Err(ApiError::invalid("bearerToken.token is required"));
        }
        server.auth_method = McpAuthMethod::BearerToken;
        server.bearer_token_configured = true;
        secrets.bearer_token = b.token.trim().to_string();
    } else if let Some(h) = &auth.custom_header {
        let name = h.header_name.trim();
        let valid_name = !name.is_empty()
            && name
                .bytes()
                .all(|c| c.is_ascii_alphanumeric() || b"!#$%&'*+-.^_`|~".contains(&c));
        if !valid_name {
            return Err(ApiError::invalid(format!(
                "customHeader.headerName `{name}` is not a valid HTTP header name"
            )));
        }
        if [
            "host",
            "content-length",
            "content-type",
            "mcp-session-id",
            "mcp-protocol-version",
        ]
        .contains(&name.to_ascii_lowercase().as_str())
        {
            return Err(ApiError::invalid(format!(
                "customHeader.headerName `{name}` is managed by the gateway and cannot carry credentials"
            )));
        }
        if h.header_value.is_empty() || h.header_value.contains(['\r', '\n']) {
            return Err(ApiError::invalid(
                "customHeader.headerValue is required and must be one line",
            ));
        }
        server.auth_method = McpAuthMethod::CustomHeader;
        server.custom_header_name = name.to_string();
        server.custom_header_value_configured = true;
        secrets.header_value = h.header_value.clone();
    } else if let Some(b) = &auth.basic_auth {
        if b.username.is_empty() || b.username.contains(':') {
            return Err(ApiError::invalid(
                "basicAuth.username is required and may not contain `:`",
            ));
        }
        server.auth_method = McpAuthMethod::BasicAuth;
        server.basic_auth_username = b.username.clone();
        server.basic_auth_password_configured = !b.password.is_empty();
        secrets.basic_password = b.password.clone();
    } else if let Some(o) = &auth.oauth2 {
        server.auth_method = McpAuthMethod::OAuth2;
        server.oauth2_mode = o.mode;
        server.oauth2_client_id = o.client_id.trim().to_string();
        server.oauth2_token_url = o.token_url.trim().to_string();
        server.oauth2_authorize_url = o.authorize_url.trim().to_string();
        server.oauth2_issuer_url = o.issuer_url.trim().to_string();
        server.oauth2_scopes = o.scopes.clone();
        server.oauth2_credentials_configured =
            !o.client_id.is_empty() && !o.client_secret.is_empty();
        secrets.oauth2_client_secret = o.client_secret.clone();
        match o.mode {
            McpOAuth2Mode::ClientCredentials => {
                if server.oauth2_client_id.is_empty()
                    || o.client_secret.is_empty()
                    || server.oauth2_token_url.is_empty()
                {
                    return Err(ApiError::invalid(
                        "oauth2 CLIENT_CREDENTIALS needs clientId, clientSecret and tokenUrl",
                    ));
                }
                server.token_sharing = McpTokenSharing::Shared;
            }
            McpOAuth2Mode::Service
            | McpOAuth2Mode::Passthrough
            | McpOAuth2Mode::AuthorizationCode => {
                // Either the admin names the provider (authorizeUrl and tokenUrl together), or
                // the gateway discovers it from the server's protected resource metadata at
                // the first connection; without a clientId it registers itself (RFC 7591).
                if server.oauth2_authorize_url.is_empty() != server.oauth2_token_url.is_empty() {
                    return Err(ApiError::invalid(format!(
                        "oauth2 {}: set authorizeUrl and tokenUrl together, or neither (then they are discovered from the server's OAuth metadata)",
                        o.mode.as_str()
                    )));
                }
                for (what, url) in [
                    ("authorizeUrl", &server.oauth2_authorize_url),
                    ("tokenUrl", &server.oauth2_token_url),
                ] {
                    if !url.is_empty() {
                        check_endpoint_url(what, url)?;
                    }
                }
                if !server.oauth2_authorize_url.is_empty() && server.oauth2_client_id.is_empty() {
                    return Err(ApiError::invalid(format!(
                        "oauth2 {}: with authorizeUrl and tokenUrl configured, clientId is required (register Chamberlain with the provider; redirect URI: this server's {})",
                        o.mode.as_str(),
                        chamberlain_gateway::connections::CALLBACK_PATH
                    )));
                }
                if !o.client_secret.is_empty() && server.oauth2_client_id.is_empty() {
                    return Err(ApiError::invalid(
                        "oauth2.clientSecret was given without clientId",
                    ));
                }
                if o.mode != McpOAuth2Mode::Service {
                    server.token_sharing = McpTokenSharing::PerUser;
                }
                server.oauth2_service_authorized = false;
                server.oauth2_service_authorized_at = None;
                server.oauth2_service_authorized_by.clear();
            }
            McpOAuth2Mode::Unspecified => {
                return Err(ApiError::invalid(
                    "oauth2.mode is required (CLIENT_CREDENTIALS, SERVICE or PASSTHROUGH)",
                ))
            }
            other => {
                return Err(ApiError::new(
                    Code::Unimplemented,
                    format!("oauth2 mode {} is not supported", other.as_str()),
                ))
            }
        }
    } else {
        server.auth_method = McpAuthMethod::None;
    }
    Ok(())
}

/// The catalog: the built-in entries and the admins' own.
pub async fn catalog(s: &Shared) -> ApiResult<Vec<CatalogEntry>> {
    let mut out = builtin_catalog();
    let own: Vec<CatalogEntry> = settings::get(&s.store, "", CATALOG_SETTINGS)
        .await?
        .unwrap_or_default();
    out.extend(own);
    Ok(out)
}

fn field(
    name: &str,
    display: &str,
    description: &str,
    required: bool,
    secret: bool,
) -> CatalogConfigField {
    CatalogConfigField {
        name: name.into(),
        display_name: display.into(),
        description: description.into(),
        required,
        secret,
        ..Default::default()
    }
}

/// Entries every Chamberlain has: Okta (the seed's walkthrough), a generic remote server and a
/// generic hosted command.
pub fn builtin_catalog() -> Vec<CatalogEntry> {
    let okta_oauth = |passthrough: bool, description: &str| CatalogAuthMode {
        auth_method: McpAuthMethod::OAuth2,
        description: description.into(),
        authorize_url: "${instanceUrl}/oauth2/v1/authorize".into(),
        token_url: "${instanceUrl}/oauth2/v1/token".into(),
        issuer_url: "${instanceUrl}".into(),
        scopes: vec![
            "okta.users.read".into(),
            "okta.groups.read".into(),
            "okta.apps.read".into(),
        ],
        optional_scopes: vec!["okta.users.manage".into(), "okta.groups.manage".into()],
        passthrough,
        oauth2_grant: "authorization_code".into(),
        pkce: "s256".into(),
        credential_url:
            "https://help.okta.com/en-us/content/topics/apps/apps_app_integration_wizard_oidc.htm"
                .into(),
        ..Default::default()
    };
    vec![
        CatalogEntry {
            id: "okta".into(),
            display_name: "Okta".into(),
            description: "Okta users, groups, applications and other directory data from the Okta Management APIs, as tools. Create an Okta OIDC web app (redirect URI: this server's /auth/v1/mcp/callback), grant it the scopes below, then register with per-user OAuth (recommended) or service mode.".into(),
            service_name: "okta".into(),
            default_tool_prefix: "okta".into(),
            default_auth_method: McpAuthMethod::OAuth2,
            auth_modes: vec![
                okta_oauth(true, "Per-user OAuth: each user connects their own Okta account"),
                okta_oauth(false, "Service mode: an admin authorizes once; all calls use that identity"),
            ],
            supported_oauth2_modes: vec![McpOAuth2Mode::Passthrough, McpOAuth2Mode::Service],
            config_schema: Some(CatalogConfigSchema {
                fields: vec![CatalogConfigField {
                    placeholder: "https://acme.okta.com".into(),
                    ..field("instanceUrl", "Okta instance URL", "Your Okta org URL", true, false)
                }],
            }),
            channel: "MCP_SERVER_CATALOG_CHANNEL_STABLE".into(),
            maturity: "MCP_SERVER_CATALOG_MATURITY_CURATED".into(),
            scope: "MCP_SERVER_CATALOG_SCOPE_BUSINESS".into(),
            stable: true,
            chamberlain_command: vec!["okta-mcp-server".into()],
            chamberlain_server_type: McpServerType::Hosted,
            ..Default::default()
        },
        CatalogEntry {
            id: "generic-remote".into(),
            display_name: "Remote MCP server".into(),
            description: "Any MCP server reachable over Streamable HTTP. Register it with externalConfig.url.".into(),
            service_name: "remote".into(),
            default_auth_method: McpAuthMethod::None,
            auth_modes: [McpAuthMethod::None, McpAuthMethod::BearerToken, McpAuthMethod::CustomHeader, McpAuthMethod::BasicAuth, McpAuthMethod::OAuth2]
                .into_iter()
                .map(|m| CatalogAuthMode { auth_method: m, ..Default::default() })
                .collect(),
            supported_oauth2_modes: vec![McpOAuth2Mode::ClientCredentials, McpOAuth2Mode::Service, McpOAuth2Mode::Passthrough],
            channel: "MCP_SERVER_CATALOG_CHANNEL_STABLE".into(),
            maturity: "MCP_SERVER_CATALOG_MATURITY_VERIFIED".into(),
            stable: true,
            chamberlain_server_type: McpServerType::External,
            ..Default::default()
        },
        CatalogEntry {
            id: "generic-hosted".into(),
            display_name: "Hosted command (stdio)".into(),
            description: "A command Chamberlain starts and supervises, speaking MCP over stdio (for example `npx -y @modelcontextprotocol/server-everything`). configFields.command is the program, configFields.args its arguments as a JSON array of strings, configFields.env and configFields.secretEnv JSON objects of environment variables (secretEnv is sealed at rest and never served).".into(),
            service_name: "hosted".into(),
            default_auth_method: McpAuthMethod::None,
            auth_modes: vec![CatalogAuthMode { auth_method: McpAuthMethod::None, ..Default::default() }],
            config_schema: Some(CatalogConfigSchema {
                fields: vec![
                    field("command", "Command", "The program to run", true, false),
                    field("args", "Arguments", "A JSON array of strings", false, false),
                    field("env", "Environment", "A JSON object of environment variables, e.g. {\"REGION\": \"eu\"}", false, false),
                    field("secretEnv", "Secret environment", "A JSON object of secret environment variables (API keys); sealed, never shown again", false, true),
                ],
            }),
            channel: "MCP_SERVER_CATALOG_CHANNEL_STABLE".into(),
            maturity: "MCP_SERVER_CATALOG_MATURITY_VERIFIED".into(),
            stable: true,
            chamberlain_command: vec!["${command}".into(), "${args...}".into()],
            chamberlain_server_type: McpServerType::Hosted,
            ..Default::default()
        },
    ]
}

/// A JSON object of environment variables (`configFields.env` / `secretEnv`), checked: names
/// are shell-style identifiers, values strings.
fn env_object(field: &str, raw: &str) -> ApiResult<BTreeMap<String, String>> {
    if raw.trim().is_empty() {
        return Ok(BTreeMap::new());
    }
    let vars: BTreeMap<String, String> = serde_json::from_str(raw).map_err(|_| {
        ApiError::invalid(format!(
            "configFields.{field} must be a JSON object of string values, e.g. {{\"API_KEY\": \"…\"}}"
        ))
    })?;
    for k in vars.keys() {
        let ok = k
            .chars()
            .next()
            .is_some_and(|c| c.is_ascii_alphabetic() || c == '_')
            && k.chars().all(|c| c.is_ascii_alphanumeric() || c == '_');
        if !ok {
            return Err(ApiError::invalid(format!(
                "configFields.{field}: `{k}` is not an environment variable name (letters, digits and _, not starting with a digit)"
            )));
        }
    }
    Ok(vars)
}

/// Builds a hosted server's argv from its catalog template: `${field}` is replaced by a
/// non-secret field value, `${args...}` expands a JSON array of strings. Secrets never go on
/// the command line (they are given as environment).
fn command_of(entry: &CatalogEntry, fields: &BTreeMap<String, String>) -> ApiResult<Vec<String>> {
    let mut argv = Vec::new();
    for part in &entry.chamberlain_command {
        if part == "${args...}" {
            if let Some(raw) = fields.get("args").filter(|a| !a.trim().is_empty()) {
                let list: Vec<String> = serde_json::from_str(raw).map_err(|_| {
                    ApiError::invalid(
                        "configFields.args must be a JSON array of strings, e.g. [\"-y\", \"pkg\"]",
                    )
                })?;
                argv.extend(list);
            }
            continue;
        }
        let mut out = part.clone();
        for (k, v) in fields {
            out = out.replace(&format!("${{{k}}}"), v);
        }
        if out.contains("${") {
            return Err(ApiError::invalid(format!(
                "the catalog entry's command needs a config field that was not given (`{part}`)"
            )));
        }
        argv.push(out);
    }
    if argv.first().is_none_or(|p| p.trim().is_empty()) {
        return Err(ApiError::invalid("configFields.command is required"));
    }
    Ok(argv)
}

fn view(mut s: McpServer, public_url: &str) -> McpServer {
    s.credentials_setup_url = format!(
        "{}/admin/apps/{}/mcp-servers/{}",
        public_url.trim_end_matches('/'),
        s.app_id,
        s.connector_id
    );
    s
}

/// `POST /api/v1/apps/{app_id}/mcp_servers`.
pub async fn register(
    State(s): State<Shared>,
    caller: Caller,
    Path(app_id): Path<String>,
    Body(r): Body<RegisterRequest>,
) -> ApiResult<Json<Value>> {
    common::check_id("app_id", &app_id)?;
    authz::require_app_write(&s, &caller, &app_id).await?;
    common::app(&s, &app_id).await?;
    common::require_name("displayName", &r.display_name)?;
    if r.tunneled
        || !r.tunnel_appliance_id.is_empty()
        || !r.tunnel_service_name.is_empty()
        || !r.tunnel_path.is_empty()
    {
        return Err(ApiError::new(
            Code::Unimplemented,
            "tunneled servers (bridges) are not supported; register a URL the server can reach",
        ));
    }
    let _ = (
        &r.acknowledged_finding_ids,
        &r.oauth_diagnostic_id,
        &r.app_managed_state_binding_ref,
    );
    common::users_exist(&s, &r.user_ids).await?;
    if !r.tool_prefix.is_empty() {
        names::check_prefix(&r.tool_prefix).map_err(ApiError::invalid)?;
    }
    let now = Timestamp::now();
    let mut server = McpServer {
        connector_id: new_id(),
        app_id: app_id.clone(),
        display_name: r.display_name.trim().to_string(),
        description: r.description,
        server_type: r.server_type,
        tool_prefix: r.tool_prefix,
        data_sensitivity: r.data_sensitivity,
        created_at: Some(now),
        updated_at: Some(now),
        ..Default::default()
    };
    let mut secrets = Secrets::default();
    match (r.server_type, r.external_config, r.hosted_config) {
        (McpServerType::External, Some(c), None) => {
            if c.transport_type == McpTransportType::Sse {
                return Err(ApiError::new(
                    Code::Unimplemented,
                    "the deprecated HTTP+SSE transport is not supported; use MCP_SERVER_TRANSPORT_TYPE_STREAMABLE_HTTP",
                ));
            }
            let url = s.gateway.guard().check_url(&c.url).map_err(|e| ApiError::invalid(format!("externalConfig.url: {e}")))?;
            server.endpoint_url = url.to_string();
            server.transport_type = McpTransportType::StreamableHttp;
            server.token_sharing = if c.token_sharing == McpTokenSharing::Unspecified { McpTokenSharing::Shared } else { c.token_sharing };
            server.require_tool_approval = c.require_tool_approval;
            server.mcp_server_catalog_id = "generic-remote".into();
            apply_auth(&mut server, &mut secrets, &c.auth())?;
        }
        (McpServerType::Hosted, None, Some(c)) => {
            authz::require_super_admin(&caller).map_err(|_| {
                ApiError::denied("registering a hosted server runs a command on the Chamberlain host; this requires the Super Admin role")
            })?;
            let entries = catalog(&s).await?;
            let entry = entries
                .iter()
                .find(|e| e.id == c.mcp_server_catalog_id)
                .ok_or_else(|| ApiError::invalid(format!("hostedConfig.mcpServerCatalogId `{}` is not in the catalog (GET /api/v1/mcp_server_catalog)", c.mcp_server_catalog_id)))?;
            if entry.chamberlain_server_type != McpServerType::Hosted {
                return Err(ApiError::invalid(format!(
                    "catalog entry `{}` is a remote server; register it with serverType MCP_SERVER_TYPE_EXTERNAL and externalConfig.url",
                    entry.id
                )));
            }
            let schema = entry.config_schema.clone().unwrap_or_default();
            for k in c.config_fields.keys() {
                if !schema.fields.iter().any(|f| &f.name == k) {
                    return Err(ApiError::invalid(format!(
                        "hostedConfig.configFields has `{k}`, which catalog entry `{}` does not define (fields: {})",
                        entry.id,
                        schema.fields.iter().map(|f| f.name.as_str()).collect::<Vec<_>>().join(", ")
                    )));
                }
            }
            let mut plain = BTreeMap::new();
            for f in &schema.fields {
                let v = c.config_fields.get(&f.name).cloned().unwrap_or_else(|| f.default.clone());
                if f.required && v.trim().is_empty() {
                    return Err(ApiError::invalid(format!("hostedConfig.configFields.{} ({}) is required", f.name, f.display_name)));
                }
                if f.secret {
                    secrets.config.insert(f.name.clone(), v);
                } else if !v.is_empty() {
                    plain.insert(f.name.clone(), v);
                }
            }
            server.chamberlain_command = command_of(entry, &plain)?;
            plain.remove("command");
            plain.remove("args");
            // `env` / `secretEnv` (generic hosted commands) expand into one variable each.
            if let Some(raw) = plain.remove("env") {
                plain.extend(env_object("env", &raw)?);
            }
            if let Some(raw) = secrets.config.remove("secretEnv") {
                let vars = env_object("secretEnv", &raw)?;
                secrets.config.extend(vars);
            }
            server.config_field_values = plain;
            server.mcp_server_catalog_id = entry.id.clone();
            server.default_tool_prefix = entry.default_tool_prefix.clone();
            server.source_app_id = c.source_app_id.clone();
            server.token_sharing = if c.token_sharing == McpTokenSharing::Unspecified { McpTokenSharing::Shared } else { c.token_sharing };
            server.require_tool_approval = c.require_tool_approval;
            apply_auth(&mut server, &mut secrets, &c.auth())?;
        }
        (McpServerType::Unspecified, _, _) => {
            return Err(ApiError::invalid("serverType is required: MCP_SERVER_TYPE_EXTERNAL (with externalConfig) or MCP_SERVER_TYPE_HOSTED (with hostedConfig)"))
        }
        (t, _, _) => {
            return Err(ApiError::invalid(format!(
                "serverType {} needs exactly its own config: externalConfig for EXTERNAL, hostedConfig for HOSTED",
                t.as_str()
            )))
        }
    }
    let siblings = repo::snapshot(&s.store).await?;
    if server.effective_prefix().is_empty() && siblings.servers.iter().any(|o| o.app_id == app_id) {
        return Err(ApiError::invalid(
            "this app already has an MCP server; set toolPrefix so the two servers' tools can be told apart",
        ));
    }
    let sealed = secrets.seal(&s.secrets, &server.connector_id);
    let stored = server.clone();
    chamberlain_store::write_tx!(s.store, &caller.audit(), |tx| {
        registry::create_server(tx, &stored, &sealed)
            .await
            .map(|_| ())
    })?;
    s.gateway.reload().await?;
    s.gateway
        .discover(&server.connector_id, &caller.audit())
        .await?;
    let server: McpServer = common::load(&s, "connector_id", &server.connector_id).await?;
    Ok(Json(json!({ "mcpServer": view(server, &s.public_url) })))
}

async fn load_server(s: &Shared, app_id: &str, id: &str) -> ApiResult<McpServer> {
    common::check_id("app_id", app_id)?;
    common::check_id("connector_id", id)?;
    repo::server(s.store.pool(), app_id, id)
        .await?
        .ok_or_else(|| {
            ApiError::not_found(format!("MCP server `{id}` was not found in app `{app_id}`"))
        })
}

/// `GET /api/v1/apps/{app_id}/mcp_servers/{connector_id}`.
pub async fn get(
    State(s): State<Shared>,
    caller: Caller,
    Path((app_id, id)): Path<(String, String)>,
) -> ApiResult<Json<Value>> {
    authz::require_read(&caller)?;
    let server = load_server(&s, &app_id, &id).await?;
    Ok(Json(json!({ "mcpServer": view(server, &s.public_url) })))
}

/// `GET /api/v1/apps/{app_id}/mcp_servers`.
pub async fn list(
    State(s): State<Shared>,
    caller: Caller,
    Path(app_id): Path<String>,
    paging: Paging,
) -> ApiResult<Json<Value>> {
    authz::require_read(&caller)?;
    common::check_id("app_id", &app_id)?;
    let page = chamberlain_store::record::list::<McpServer, _>(
        s.store.pool(),
        &[chamberlain_store::Filter::Eq(
            "app_id",
            app_id.as_str().into(),
        )],
        false,
        &common::page_req(&paging),
    )
    .await?;
    let list: Vec<McpServer> = page
        .items
        .into_iter()
        .map(|v| view(v, &s.public_url))
        .collect();
    Ok(Json(
        json!({ "list": list, "nextPageToken": page.next_page_token }),
    ))
}

/// `c1.api.ai_governance.v1.MCPServerServiceUpdateRequestInput`.
#[derive(Deserialize, Default)]
#[serde(rename_all = "camelCase", default, deny_unknown_fields)]
pub struct UpdateRequest {
    mcp_server: Option<Value>,
    update_mask: Option<String>,
}

/// `POST /api/v1/apps/{app_id}/mcp_servers/{connector_id}`: display fields, data sensitivity,
/// tool approval override, tool prefix, and the server kill switch (`chamberlainKilled`).
pub async fn update(
    State(s): State<Shared>,
    caller: Caller,
    Path((app_id, id)): Path<(String, String)>,
    Body(r): Body<UpdateRequest>,
) -> ApiResult<Json<Value>> {
    authz::require_app_write(&s, &caller, &app_id).await?;
    let before = load_server(&s, &app_id, &id).await?;
    let patch = r.mcp_server.ok_or_else(|| {
        ApiError::invalid(
            "`mcpServer` is required: send {\"mcpServer\": {...}, \"updateMask\": \"displayName\"}",
        )
    })?;
    let (mut after, paths) =
        chamberlain_model::mask::apply_typed(&before, &patch, r.update_mask.as_deref(), WRITABLE)
            .map_err(ApiError::invalid)?;
    common::require_name("displayName", &after.display_name)?;
    if !after.tool_prefix.is_empty() {
        names::check_prefix(&after.tool_prefix).map_err(ApiError::invalid)?;
    }
    after.display_name = after.display_name.trim().to_string();
    after.updated_at = Some(Timestamp::now());
    let renamed = paths.iter().any(|p| p == "toolPrefix");
    let after = chamberlain_store::write_tx!(s.store, &caller.audit(), |tx| {
        let current: McpServer = tx.must_get(&id).await?;
        if current.updated_at != before.updated_at {
            return Err(StoreError::Stale(format!(
                "MCP server {id} changed meanwhile"
            )));
        }
        tx.replace(&current, &after).await?;
        if renamed {
            registry::rename_all(tx).await?;
        }
        registry::changed(tx, &after.app_id).await?;
        Ok(after.clone())
    })?;
    s.gateway.reload().await?;
    Ok(Json(json!({ "mcpServer": view(after, &s.public_url) })))
}

/// `c1.api.ai_governance.v1.MCPServerServiceUpdateCredentialsRequestInput`.
#[derive(Deserialize, Default)]
#[serde(rename_all = "camelCase", default, deny_unknown_fields)]
pub struct CredentialsRequest {
    external_config: Option<ExternalConfig>,
    hosted_config: Option<HostedConfig>,
    update_mask: Option<String>,
}

/// `POST /api/v1/apps/{app_id}/mcp_servers/{connector_id}/credentials`: replaces the
/// authentication method and secrets (sealed; the answer shows only what is configured).
pub async fn update_credentials(
    State(s): State<Shared>,
    caller: Caller,
    Path((app_id, id)): Path<(String, String)>,
    Body(r): Body<CredentialsRequest>,
) -> ApiResult<Json<Value>> {
    authz::require_app_write(&s, &caller, &app_id).await?;
    let before = load_server(&s, &app_id, &id).await?;
    let _ = &r.update_mask;
    let auth = match (&r.external_config, &r.hosted_config, before.server_type) {
        (Some(c), None, McpServerType::External) => c.auth(),
        (None, Some(c), McpServerType::Hosted) => c.auth(),
        _ => {
            return Err(ApiError::invalid(
                "send externalConfig for an external server or hostedConfig for a hosted one, with the authentication method",
            ))
        }
    };
    let sealed = repo::sealed_auth(s.store.pool(), &id).await?;
    let mut secrets =
        Secrets::open(&s.secrets, &id, &sealed).map_err(|e| ApiError::new(Code::Internal, e))?;
    let mut after = before.clone();
    apply_auth(&mut after, &mut secrets, &auth)?;
    after.updated_at = Some(Timestamp::now());
    // Tokens were issued to the old client by the old provider: a different OAuth setup
    // invalidates every connection (users connect again); a rotated secret does not.
    let identity_changed = before.auth_method != after.auth_method
        || before.oauth2_mode != after.oauth2_mode
        || (!after.oauth2_client_id.is_empty()
            && before.oauth2_client_id != after.oauth2_client_id)
        || (!after.oauth2_authorize_url.is_empty()
            && before.oauth2_authorize_url != after.oauth2_authorize_url);
    if !identity_changed && after.oauth2_client_id.is_empty() {
        // Same discovered provider: keep what discovery and registration found.
        after.oauth2_client_id = before.oauth2_client_id.clone();
        after.oauth2_authorize_url = before.oauth2_authorize_url.clone();
        after.oauth2_token_url = before.oauth2_token_url.clone();
        after.oauth2_issuer_url = before.oauth2_issuer_url.clone();
        after.chamberlain_oauth2_resource = before.chamberlain_oauth2_resource.clone();
        after.chamberlain_oauth2_revocation_url = before.chamberlain_oauth2_revocation_url.clone();
        after.chamberlain_oauth2_dynamic_client = before.chamberlain_oauth2_dynamic_client;
        after.oauth2_service_authorized = before.oauth2_service_authorized;
        after.oauth2_service_authorized_at = before.oauth2_service_authorized_at;
        after.oauth2_service_authorized_by = before.oauth2_service_authorized_by.clone();
        let old = Secrets::open(
            &s.secrets,
            &id,
            &repo::sealed_auth(s.store.pool(), &id).await?,
        )
        .unwrap_or_default();
        secrets.oauth2_client_secret = old.oauth2_client_secret;
        after.oauth2_credentials_configured = !secrets.oauth2_client_secret.is_empty();
    } else if !identity_changed {
        after.oauth2_service_authorized = before.oauth2_service_authorized;
        after.oauth2_service_authorized_at = before.oauth2_service_authorized_at;
        after.oauth2_service_authorized_by = before.oauth2_service_authorized_by.clone();
    }
    let sealed = secrets.seal(&s.secrets, &id);
    let after = chamberlain_store::write_tx!(s.store, &caller.audit(), |tx| {
        let current: McpServer = tx.must_get(&id).await?;
        tx.replace(&current, &after).await?;
        if identity_changed {
            mcp_connections::delete_all(tx, &id).await?;
        }
        repo::set_sealed_auth(tx, &id, &sealed).await?;
        registry::changed(tx, &after.app_id).await?;
        Ok(after.clone())
    })?;
    s.gateway.reload().await?;
    Ok(Json(json!({ "mcpServer": view(after, &s.public_url) })))
}

/// An empty request body.
#[derive(Deserialize, Default)]
#[serde(default, deny_unknown_fields)]
pub struct Empty {}

/// `DELETE /api/v1/apps/{app_id}/mcp_servers/{connector_id}`: the server, its tools and
/// toolsets and their entitlements (so every grant of them) go.
pub async fn delete(
    State(s): State<Shared>,
    caller: Caller,
    Path((app_id, id)): Path<(String, String)>,
    Body(_): Body<Empty>,
) -> ApiResult<Json<Value>> {
    authz::require_app_write(&s, &caller, &app_id).await?;
    let server = load_server(&s, &app_id, &id).await?;
    chamberlain_store::write_tx!(s.store, &caller.audit(), |tx| {
        mcp_connections::delete_all(tx, &server.connector_id).await?;
        registry::delete_server(tx, &server).await
    })?;
    s.gateway.reload().await?;
    Ok(Json(json!({})))
}

/// `POST /api/v1/apps/{app_id}/mcp_servers/{connector_id}/resync_tools`.
pub async fn resync_tools(
    State(s): State<Shared>,
    caller: Caller,
    Path((app_id, id)): Path<(String, String)>,
    Body(_): Body<Empty>,
) -> ApiResult<Json<Value>> {
    authz::require_app_write(&s, &caller, &app_id).await?;
    load_server(&s, &app_id, &id).await?;
    let report = s.gateway.discover(&id, &caller.audit()).await?;
    Ok(Json(json!({ "chamberlainDiscovery": report })))
}

/// `c1.api.ai_governance.v1.MCPServerServiceSearchWithToolCountRequestInput`.
#[derive(Deserialize, Default)]
#[serde(rename_all = "camelCase", default, deny_unknown_fields)]
pub struct SearchRequest {
    query: String,
    tool_state: McpToolState,
    include_last_called_at: bool,
    page_size: Option<i64>,
    page_token: String,
}

/// `POST /api/v1/apps/{app_id}/mcp_servers/search`: servers of the app with their tool counts
/// (tools in `toolState` when given, else every tool not removed).
pub async fn search(
    State(s): State<Shared>,
    caller: Caller,
    Path(app_id): Path<String>,
    Body(r): Body<SearchRequest>,
) -> ApiResult<Json<Value>> {
    authz::require_read(&caller)?;
    common::check_id("app_id", &app_id)?;
    let _ = r.include_last_called_at;
    let mut filters = vec![chamberlain_store::Filter::Eq(
        "app_id",
        app_id.as_str().into(),
    )];
    if !r.query.trim().is_empty() {
        filters.push(chamberlain_store::Filter::Contains(
            vec!["name_lc"],
            r.query.trim().to_lowercase(),
        ));
    }
    let page = chamberlain_store::record::list::<McpServer, _>(
        s.store.pool(),
        &filters,
        false,
        &common::body_page(r.page_size, &r.page_token)?,
    )
    .await?;
    let mut list = Vec::new();
    for server in page.items {
        let tools = repo::tools_of(s.store.pool(), &server.connector_id).await?;
        let count = tools
            .iter()
            .filter(|t| {
                if r.tool_state == McpToolState::Unspecified {
                    t.state != McpToolState::Removed
                } else {
                    t.state == r.tool_state
                }
            })
            .count() as i64;
        list.push(McpServerWithToolCount {
            mcp_server: Some(view(server, &s.public_url)),
            tool_count: count,
        });
    }
    Ok(Json(
        json!({ "list": list, "nextPageToken": page.next_page_token }),
    ))
}

/// `c1.api.ai_governance.v1.MCPServerServiceTestConnectionRequest`.
#[derive(Deserialize, Default)]
#[serde(rename_all = "camelCase", default, deny_unknown_fields)]
pub struct TestConnectionRequest {
    app_id: String,
    connector_id: String,
    external_config: Option<ExternalConfig>,
    update_mask: Option<String>,
}

/// `POST /api/v1/mcp_servers/test_connection`: initialize + tools/list against a configuration
/// (new, or an existing server's with the given fields replaced). `reachable` says the server
/// answered; as C1 warns, listing tools does not prove the credentials authorize calls.
pub async fn test_connection(
    State(s): State<Shared>,
    caller: Caller,
    Body(r): Body<TestConnectionRequest>,
) -> ApiResult<Json<Value>> {
    let _ = &r.update_mask;
    let (server, secrets) = if !r.app_id.is_empty() || !r.connector_id.is_empty() {
        authz::require_app_write(&s, &caller, &r.app_id).await?;
        let mut server = load_server(&s, &r.app_id, &r.connector_id).await?;
        let sealed = repo::sealed_auth(s.store.pool(), &server.connector_id).await?;
        let mut secrets = Secrets::open(&s.secrets, &server.connector_id, &sealed)
            .map_err(|e| ApiError::new(Code::Internal, e))?;
        if let Some(c) = &r.external_config {
            if !c.url.is_empty() {
                server.endpoint_url = c.url.clone();
            }
            let auth = c.auth();
            if auth.none.is_some()
                || auth.bearer_token.is_some()
                || auth.custom_header.is_some()
                || auth.basic_auth.is_some()
                || auth.oauth2.is_some()
            {
                apply_auth(&mut server, &mut secrets, &auth)?;
            }
        }
        (server, secrets)
    } else {
        authz::require_read(&caller)?;
        let c = r.external_config.ok_or_else(|| {
            ApiError::invalid("send externalConfig (url and authentication), or appId and connectorId of a registered server")
        })?;
        let mut server = McpServer {
            connector_id: "test".into(),
            server_type: McpServerType::External,
            endpoint_url: c.url.clone(),
            ..Default::default()
        };
        let mut secrets = Secrets::default();
        apply_auth(&mut server, &mut secrets, &c.auth())?;
        (server, secrets)
    };
    if server.server_type == McpServerType::External {
        s.gateway
            .guard()
            .check_url(&server.endpoint_url)
            .map_err(|e| ApiError::invalid(format!("externalConfig.url: {e}")))?;
    }
    Ok(Json(
        match s.gateway.test_connection(&server, &secrets).await {
            Ok(n) => json!({"reachable": true, "toolCount": n.to_string(), "failureReason": ""}),
            Err(e) => json!({"reachable": false, "toolCount": "0", "failureReason": e.to_string()}),
        },
    ))
}

/// Query of `GET /api/v1/mcp_server_catalog`.
#[derive(Deserialize, Default)]
#[serde(default)]
pub struct CatalogQuery {
    query: String,
}

/// `GET /api/v1/mcp_server_catalog`.
pub async fn list_catalog(
    State(s): State<Shared>,
    caller: Caller,
    Query(q): Query<CatalogQuery>,
) -> ApiResult<Json<Value>> {
    authz::require_read(&caller)?;
    let needle = q.query.trim().to_lowercase();
    let list: Vec<CatalogEntry> = catalog(&s)
        .await?
        .into_iter()
        .filter(|e| {
            needle.is_empty()
                || e.display_name.to_lowercase().contains(&needle)
                || e.service_name.contains(&needle)
        })
        .collect();
    Ok(Json(json!({ "list": list, "nextPageToken": "" })))
}

/// `GET /api/v1/mcp_server_catalog/{catalog_id}`.
pub async fn get_catalog(
    State(s): State<Shared>,
    caller: Caller,
    Path(id): Path<String>,
) -> ApiResult<Json<Value>> {
    authz::require_read(&caller)?;
    let entry = catalog(&s)
        .await?
        .into_iter()
        .find(|e| e.id == id)
        .ok_or_else(|| ApiError::not_found(format!("catalog entry `{id}` was not found")))?;
    Ok(Json(json!({ "catalogEntry": entry })))
}

/// Body of the catalog extension: admins add or replace their own entries.
#[derive(Deserialize, Default)]
#[serde(rename_all = "camelCase", default, deny_unknown_fields)]
pub struct PutCatalogEntry {
    catalog_entry: Option<CatalogEntry>,
}

/// `POST /api/v1/mcp_server_catalog` (Chamberlain extension): adds or replaces an admin's own
/// catalog entry (built-in ids cannot be replaced).
pub async fn put_catalog(
    State(s): State<Shared>,
    caller: Caller,
    Body(r): Body<PutCatalogEntry>,
) -> ApiResult<Json<Value>> {
    authz::require_super_admin(&caller)?;
    let entry = r
        .catalog_entry
        .ok_or_else(|| ApiError::invalid("`catalogEntry` is required"))?;
    if entry.id.trim().is_empty() || entry.id.len() > 64 || names::sanitize(&entry.id) != entry.id {
        return Err(ApiError::invalid(
            "catalogEntry.id is required: letters, digits, `_` and `-`, at most 64",
        ));
    }
    common::require_name("catalogEntry.displayName", &entry.display_name)?;
    if builtin_catalog().iter().any(|b| b.id == entry.id) {
        return Err(ApiError::invalid(format!(
            "`{}` is a built-in catalog entry and cannot be replaced",
            entry.id
        )));
    }
    match entry.chamberlain_server_type {
        McpServerType::Hosted if entry.chamberlain_command.is_empty() => {
            return Err(ApiError::invalid("a hosted entry needs chamberlainCommand (argv template)"))
        }
        McpServerType::Unspecified => {
            return Err(ApiError::invalid("catalogEntry.chamberlainServerType is required (MCP_SERVER_TYPE_HOSTED or MCP_SERVER_TYPE_EXTERNAL)"))
        }
        _ => {}
    }
    if !entry.default_tool_prefix.is_empty() {
        names::check_prefix(&entry.default_tool_prefix).map_err(ApiError::invalid)?;
    }
    let mut own: Vec<CatalogEntry> = settings::get(&s.store, "", CATALOG_SETTINGS)
        .await?
        .unwrap_or_default();
    own.retain(|e| e.id != entry.id);
    own.push(entry.clone());
    chamberlain_store::write_tx!(s.store, &caller.audit(), |tx| {
        settings::put(tx, "", CATALOG_SETTINGS, &own).await
    })?;
    Ok(Json(json!({ "catalogEntry": entry })))
}

/// `GET /api/v1/mcp_server_connections`: the servers the caller could use, with whether the
/// caller is connected (shared credentials: connected when configured; service mode: when an
/// admin authorized it; per-user OAuth: when the caller connected their own account, with the
/// identity they connected as). Chamberlain adds the connect page URL and the status.
pub async fn list_connections(
    State(s): State<Shared>,
    caller: Caller,
    paging: Paging,
) -> ApiResult<Json<Value>> {
    let _ = paging;
    let index = s.gateway.index();
    let mut servers: Vec<&McpServer> = index.servers.values().collect();
    servers.sort_by(|a, b| {
        a.display_name
            .cmp(&b.display_name)
            .then(a.connector_id.cmp(&b.connector_id))
    });
    let mine: BTreeMap<String, McpConnection> =
        mcp_connections::of_user(s.store.pool(), caller.user_id())
            .await?
            .into_iter()
            .map(|c| (c.view.connector_id.clone(), c.view))
            .collect();
    let list: Vec<Value> = servers
        .into_iter()
        .map(|sv| {
            let kind = chamberlain_gateway::connections::identity_kind(sv);
            let own = (kind == Some(false))
                .then(|| mine.get(&sv.connector_id))
                .flatten();
            let (connected, at, status) = match kind {
                Some(false) => (
                    own.is_some_and(|c| c.status == McpConnectionStatus::Connected),
                    own.and_then(|c| c.connected_at)
                        .map(|t| json!(t))
                        .unwrap_or(Value::Null),
                    own.map(|c| c.status)
                        .unwrap_or(McpConnectionStatus::Unspecified),
                ),
                Some(true) => (
                    sv.oauth2_service_authorized,
                    sv.oauth2_service_authorized_at
                        .map(|t| json!(t))
                        .unwrap_or(Value::Null),
                    if sv.oauth2_service_authorized {
                        McpConnectionStatus::Connected
                    } else {
                        McpConnectionStatus::Unspecified
                    },
                ),
                None => (true, json!(sv.created_at), McpConnectionStatus::Connected),
            };
            let mut v = json!({
                "appId": sv.app_id,
                "connectorId": sv.connector_id,
                "displayName": sv.display_name,
                "description": sv.description,
                "serverType": sv.server_type,
                "authMethod": sv.auth_method,
                "connected": connected,
                "connectedAt": at,
                "authorizedAsEmail": own.map(|c| c.authorized_as_email.as_str()).unwrap_or(""),
                "authorizedAsName": own.map(|c| c.authorized_as_name.as_str()).unwrap_or(""),
                "chamberlainStatus": status,
                "chamberlainLastError": own.map(|c| c.last_error.as_str()).unwrap_or(""),
            });
            if kind == Some(false) {
                v["chamberlainConnectUrl"] = json!(chamberlain_gateway::connections::connect_url(
                    &s.public_url,
                    &sv.connector_id
                ));
            }
            v
        })
        .collect();
    Ok(Json(json!({ "list": list, "nextPageToken": "" })))
}

/// `DELETE /api/v1/mcp_server_connections/{connector_id}` (Chamberlain extension): the caller
/// disconnects their own account from a per-user server; its tokens are revoked at the
/// provider when it offers revocation.
pub async fn disconnect_own(
    State(s): State<Shared>,
    caller: Caller,
    Path(id): Path<String>,
) -> ApiResult<Json<Value>> {
    common::check_id("connector_id", &id)?;
    let server = s
        .gateway
        .index()
        .servers
        .get(&id)
        .cloned()
        .ok_or_else(|| ApiError::not_found(format!("MCP server `{id}` was not found")))?;
    let removed = s
        .gateway
        .disconnect(&server, caller.user_id(), &caller.audit())
        .await?;
    if removed.is_none() {
        return Err(ApiError::not_found(format!(
            "you have no connection to MCP server `{id}`"
        )));
    }
    Ok(Json(json!({})))
}

/// `GET /api/v1/apps/{app_id}/mcp_servers/{connector_id}/connections` (Chamberlain
/// extension): every downstream OAuth identity of a server (users' connections; the service
/// identity has an empty `userId`). Tokens are never part of it.
pub async fn server_connections(
    State(s): State<Shared>,
    caller: Caller,
    Path((app_id, id)): Path<(String, String)>,
) -> ApiResult<Json<Value>> {
    authz::require_read(&caller)?;
    let server = load_server(&s, &app_id, &id).await?;
    let list: Vec<McpConnection> = mcp_connections::of_server(s.store.pool(), &server.connector_id)
        .await?
        .into_iter()
        .map(|c| c.view)
        .collect();
    Ok(Json(json!({ "list": list, "nextPageToken": "" })))
}

/// `DELETE /api/v1/apps/{app_id}/mcp_servers/{connector_id}/connections/{user_id}`
/// (Chamberlain extension): an admin revokes a user's connection (`service` for the service
/// identity); the user's next call is answered with the connect URL.
pub async fn revoke_connection(
    State(s): State<Shared>,
    caller: Caller,
    Path((app_id, id, user_id)): Path<(String, String, String)>,
) -> ApiResult<Json<Value>> {
    authz::require_app_write(&s, &caller, &app_id).await?;
    let server = load_server(&s, &app_id, &id).await?;
    let identity = if user_id == "service" {
        String::new()
    } else {
        common::check_id("user_id", &user_id)?;
        user_id.clone()
    };
    let removed = s
        .gateway
        .disconnect(&server, &identity, &caller.audit())
        .await?;
    match removed {
        Some(c) => Ok(Json(json!({ "connection": c }))),
        None => Err(ApiError::not_found(format!(
            "MCP server `{id}` has no connection for `{user_id}`"
        ))),
    }
}
