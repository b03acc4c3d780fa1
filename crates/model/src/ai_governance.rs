//! AI governance: the tenant-wide settings (`c1.api.ai_governance.v1.AIGovernanceSettings`) and
//! AI clients of the MCP gateway as C1 reports them (`c1.api.iam.v1.ExternalClientInfo`).

use crate::protojson::{Duration, Timestamp};
use crate::wire_enum;
use serde::{Deserialize, Serialize};

wire_enum!(
    /// `MCP_CLIENT_TYPE_*`.
    McpClientType {
        Unspecified = "MCP_CLIENT_TYPE_UNSPECIFIED",
        Personal = "MCP_CLIENT_TYPE_PERSONAL",
        Shared = "MCP_CLIENT_TYPE_SHARED",
        Service = "MCP_CLIENT_TYPE_SERVICE",
        Ephemeral = "MCP_CLIENT_TYPE_EPHEMERAL",
    }
);

/// Shared with the tools themselves.
pub use crate::mcp::ToolClassification;

wire_enum!(
    /// `AUDIT_VERBOSITY_*`.
    AuditVerbosity {
        Unspecified = "AUDIT_VERBOSITY_UNSPECIFIED",
        Minimal = "AUDIT_VERBOSITY_MINIMAL",
        Standard = "AUDIT_VERBOSITY_STANDARD",
        Full = "AUDIT_VERBOSITY_FULL",
    }
);

/// `MCPClientLifecycleConfig`: durations measured from a client's last activity; zero (or
/// absent) disables that transition.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct McpClientLifecycleConfig {
    /// ACTIVE → HIDDEN after this much inactivity.
    #[serde(default)]
    pub inactivity_hide_after: Option<Duration>,
    /// → CLOSED (tokens stop working) after this much inactivity.
    #[serde(default)]
    pub inactivity_close_after: Option<Duration>,
    /// → DELETED after this much inactivity.
    #[serde(default)]
    pub retention_delete_after: Option<Duration>,
}

impl Default for McpClientLifecycleConfig {
    fn default() -> Self {
        McpClientLifecycleConfig {
            inactivity_hide_after: Some(Duration::from_secs(86_400)),
            inactivity_close_after: Some(Duration::from_secs(604_800)),
            retention_delete_after: Some(Duration::from_secs(7_776_000)),
        }
    }
}

impl McpClientLifecycleConfig {
    /// (hide, close, delete) in seconds; 0 means "never".
    pub fn seconds(&self) -> (i64, i64, i64) {
        let s = |d: &Option<Duration>| d.map(|d| d.seconds.max(0)).unwrap_or(0);
        (
            s(&self.inactivity_hide_after),
            s(&self.inactivity_close_after),
            s(&self.retention_delete_after),
        )
    }
}

/// `AIGovernanceSettings`: one per tenant.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct AiGovernanceSettings {
    /// Client types allowed to connect; empty allows all.
    #[serde(default)]
    pub allowed_client_types: Vec<McpClientType>,
    /// Audit detail of tool calls.
    #[serde(default)]
    pub audit_verbosity: AuditVerbosity,
    /// Periodic tool re-discovery.
    #[serde(default)]
    pub auto_discovery_enabled: bool,
    /// Deprecated in C1; stored and returned.
    #[serde(default)]
    pub c1aw_autospill_disabled: bool,
    /// Deprecated in C1; stored and returned.
    #[serde(default)]
    pub c1aw_autospill_threshold_bytes: u32,
    /// C1's code-mode warm instances; stored and returned.
    #[serde(default)]
    pub code_mode_concurrency: i32,
    /// When the settings were first saved.
    #[serde(default)]
    pub created_at: Option<Timestamp>,
    /// Client lifecycle.
    #[serde(default)]
    pub default_client_lifecycle: Option<McpClientLifecycleConfig>,
    /// Classification of newly discovered tools.
    #[serde(default)]
    pub default_tool_classification: ToolClassification,
    /// Tool re-discovery interval.
    #[serde(default)]
    pub discovery_interval: Option<Duration>,
    /// The tenant-wide switch: when false, MCP traffic is disabled (no new authorizations, no
    /// token refresh, no gateway calls).
    #[serde(default)]
    pub enabled: bool,
    /// Hide direct tools behind code mode; stored and returned.
    #[serde(default)]
    pub prefer_code_mode_over_direct_tools: bool,
    /// Newly discovered tools need approval.
    #[serde(default)]
    pub require_tool_approval: bool,
    /// List tools the caller could request.
    #[serde(default)]
    pub surface_requestable_tools: bool,
    /// Stored and returned.
    #[serde(default)]
    pub untrusted_judge_disable: bool,
    /// Last change.
    #[serde(default)]
    pub updated_at: Option<Timestamp>,
    /// Chamberlain extension: lifetime of the access tokens AI clients get (refresh tokens
    /// renew them); 60 s to 24 h, default 1 h. Shorter lifetimes bound how long a stolen token
    /// works.
    #[serde(default)]
    pub chamberlain_access_token_lifetime: Option<Duration>,
}

impl Default for AiGovernanceSettings {
    fn default() -> Self {
        AiGovernanceSettings {
            allowed_client_types: Vec::new(),
            audit_verbosity: AuditVerbosity::Standard,
            auto_discovery_enabled: true,
            c1aw_autospill_disabled: false,
            c1aw_autospill_threshold_bytes: 0,
            code_mode_concurrency: 0,
            created_at: None,
            default_client_lifecycle: Some(McpClientLifecycleConfig::default()),
            default_tool_classification: ToolClassification::Unspecified,
            discovery_interval: Some(Duration::from_secs(86_400)),
            enabled: true,
            prefer_code_mode_over_direct_tools: false,
            require_tool_approval: true,
            surface_requestable_tools: false,
            untrusted_judge_disable: false,
            updated_at: None,
            chamberlain_access_token_lifetime: None,
        }
    }
}

impl AiGovernanceSettings {
    /// Fields an update may change.
    pub const WRITABLE: &'static [&'static str] = &[
        "allowedClientTypes",
        "auditVerbosity",
        "autoDiscoveryEnabled",
        "c1awAutospillDisabled",
        "c1awAutospillThresholdBytes",
        "codeModeConcurrency",
        "defaultClientLifecycle",
        "defaultToolClassification",
        "discoveryInterval",
        "enabled",
        "preferCodeModeOverDirectTools",
        "requireToolApproval",
        "surfaceRequestableTools",
        "untrustedJudgeDisable",
        "chamberlainAccessTokenLifetime",
    ];

    /// Default lifetime of AI clients' access tokens.
    pub const DEFAULT_ACCESS_TOKEN_SECS: i64 = 3600;

    /// Lifetime of AI clients' access tokens in seconds.
    pub fn access_token_secs(&self) -> i64 {
        self.chamberlain_access_token_lifetime
            .map(|d| d.seconds)
            .unwrap_or(Self::DEFAULT_ACCESS_TOKEN_SECS)
    }

    /// The lifecycle in force (the default one when none is set).
    pub fn lifecycle(&self) -> McpClientLifecycleConfig {
        self.default_client_lifecycle.clone().unwrap_or_default()
    }

    /// Checks invariants a stored document must hold; the message says what to fix.
    pub fn validate(&self) -> Result<(), String> {
        if let Some(d) = self.chamberlain_access_token_lifetime {
            if d.nanos != 0 || !(60..=86_400).contains(&d.seconds) {
                return Err(format!(
                    "chamberlainAccessTokenLifetime `{d}` must be whole seconds from 60s to 86400s"
                ));
            }
        }
        let lc = self.lifecycle();
        for (name, d) in [
            (
                "defaultClientLifecycle.inactivityHideAfter",
                lc.inactivity_hide_after,
            ),
            (
                "defaultClientLifecycle.inactivityCloseAfter",
                lc.inactivity_close_after,
            ),
            (
                "defaultClientLifecycle.retentionDeleteAfter",
                lc.retention_delete_after,
            ),
            ("discoveryInterval", self.discovery_interval),
        ] {
            if let Some(d) = d {
                if d.seconds < 0 || d.nanos < 0 {
                    return Err(format!("{name} `{d}` must not be negative"));
                }
                if d.nanos != 0 {
                    return Err(format!("{name} `{d}` must be whole seconds"));
                }
            }
        }
        let (hide, close, delete) = lc.seconds();
        if hide > 0 && close > 0 && hide > close {
            return Err(format!(
                "defaultClientLifecycle.inactivityHideAfter ({hide}s) must not be longer than inactivityCloseAfter ({close}s)"
            ));
        }
        if close > 0 && delete > 0 && close > delete {
            return Err(format!(
                "defaultClientLifecycle.inactivityCloseAfter ({close}s) must not be longer than retentionDeleteAfter ({delete}s)"
            ));
        }
        if let Some(d) = self.discovery_interval {
            if d.seconds != 0 && d.seconds < 60 {
                return Err(format!(
                    "discoveryInterval `{d}` must be at least 60s (or 0s to use the default)"
                ));
            }
        }
        if self.code_mode_concurrency < 0 {
            return Err("codeModeConcurrency must not be negative".into());
        }
        Ok(())
    }
}

wire_enum!(
    /// `CLIENT_ID_TYPE_*`: how an external client's id was established.
    ClientIdType {
        Unspecified = "CLIENT_ID_TYPE_UNSPECIFIED",
        Dcr = "CLIENT_ID_TYPE_DCR",
        MetadataUrl = "CLIENT_ID_TYPE_METADATA_URL",
        App = "CLIENT_ID_TYPE_APP",
    }
);

wire_enum!(
    /// `WELL_KNOWN_CLIENT_*`.
    WellKnownClient {
        Unspecified = "WELL_KNOWN_CLIENT_UNSPECIFIED",
        Unknown = "WELL_KNOWN_CLIENT_UNKNOWN",
        ClaudeAi = "WELL_KNOWN_CLIENT_CLAUDE_AI",
        ClaudeDesktop = "WELL_KNOWN_CLIENT_CLAUDE_DESKTOP",
        ClaudeCode = "WELL_KNOWN_CLIENT_CLAUDE_CODE",
        McpInspector = "WELL_KNOWN_CLIENT_MCP_INSPECTOR",
        Chatgpt = "WELL_KNOWN_CLIENT_CHATGPT",
        Vscode = "WELL_KNOWN_CLIENT_VSCODE",
        Cursor = "WELL_KNOWN_CLIENT_CURSOR",
        Windsurf = "WELL_KNOWN_CLIENT_WINDSURF",
        Zed = "WELL_KNOWN_CLIENT_ZED",
        Jetbrains = "WELL_KNOWN_CLIENT_JETBRAINS",
        DockerMcpToolkit = "WELL_KNOWN_CLIENT_DOCKER_MCP_TOOLKIT",
    }
);

impl WellKnownClient {
    /// A best guess from the client's name and, for CIMD clients, its metadata URL. A guess is
    /// only a label for people: it never grants anything.
    pub fn guess(client_name: &str, client_id_url: &str) -> WellKnownClient {
        let name = client_name.to_ascii_lowercase();
        let host = client_id_url
            .strip_prefix("https://")
            .and_then(|r| r.split(['/', '?', '#', ':']).next())
            .unwrap_or("")
            .to_ascii_lowercase();
        let on = |domain: &str| host == domain || host.ends_with(&format!(".{domain}"));
        if name.contains("claude code") {
            return WellKnownClient::ClaudeCode;
        }
        if name.contains("claude desktop") {
            return WellKnownClient::ClaudeDesktop;
        }
        if on("claude.ai") || on("anthropic.com") || name.contains("claude") {
            return WellKnownClient::ClaudeAi;
        }
        if on("chatgpt.com") || on("openai.com") || name.contains("chatgpt") {
            return WellKnownClient::Chatgpt;
        }
        if on("cursor.com") || on("cursor.sh") || name.contains("cursor") {
            return WellKnownClient::Cursor;
        }
        if on("vscode.dev") || name.contains("visual studio code") || name.contains("vscode") {
            return WellKnownClient::Vscode;
        }
        if on("windsurf.com") || on("codeium.com") || name.contains("windsurf") {
            return WellKnownClient::Windsurf;
        }
        if on("zed.dev") || name == "zed" || name.starts_with("zed ") {
            return WellKnownClient::Zed;
        }
        if on("jetbrains.com") || name.contains("jetbrains") {
            return WellKnownClient::Jetbrains;
        }
        if name.contains("mcp inspector") || name.contains("mcp-inspector") {
            return WellKnownClient::McpInspector;
        }
        if name.contains("docker") {
            return WellKnownClient::DockerMcpToolkit;
        }
        WellKnownClient::Unknown
    }
}

/// `ExternalClientInfo`: one user's authorization of one AI client, with Chamberlain's
/// lifecycle state as the extension field `chamberlainState`.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct ExternalClientInfo {
    /// The OAuth client id (a DCR id or the CIMD URL).
    pub client_id: String,
    /// DCR or METADATA_URL.
    pub client_id_type: ClientIdType,
    /// The CIMD URL (empty for DCR clients).
    pub client_id_url: String,
    /// The client's own name.
    pub client_name: String,
    /// Name shown to people (the client name).
    pub display_name: String,
    /// Host of the CIMD URL (empty for DCR clients).
    pub verified_domain: String,
    /// Which known client this looks like.
    pub well_known_client: WellKnownClient,
    /// Chamberlain's record id of the client.
    pub mcp_client_id: String,
    /// Roles granted to the client (none: AI clients act with the user's tool grants).
    pub role_ids: Vec<String>,
    /// The user who authorized it.
    pub user_id: String,
    /// First authorization.
    pub created_at: Option<Timestamp>,
    /// Last successful use.
    pub last_used_at: Option<Timestamp>,
    /// Extension: `ACTIVE`, `HIDDEN`, `CLOSED` or `DELETED`.
    pub chamberlain_state: String,
    /// Extension: whether an admin switched the client off for everyone.
    pub chamberlain_killed: bool,
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn defaults_match_c1() {
        let s = AiGovernanceSettings::default();
        let v = serde_json::to_value(&s).unwrap();
        assert_eq!(v["requireToolApproval"], true);
        assert_eq!(v["enabled"], true);
        assert_eq!(
            v["defaultClientLifecycle"]["inactivityCloseAfter"],
            "604800s"
        );
        assert_eq!(v["auditVerbosity"], "AUDIT_VERBOSITY_STANDARD");
        assert!(s.validate().is_ok());
    }

    #[test]
    fn unknown_fields_and_bad_orders_are_refused() {
        assert!(serde_json::from_str::<AiGovernanceSettings>(r#"{"nope":1}"#).is_err());
        let s = AiGovernanceSettings {
            default_client_lifecycle: Some(McpClientLifecycleConfig {
                inactivity_hide_after: Some(Duration::from_secs(100)),
                inactivity_close_after: Some(Duration::from_secs(10)),
                retention_delete_after: None,
            }),
            ..Default::default()
        };
        assert!(s.validate().unwrap_err().contains("inactivityHideAfter"));
    }

    #[test]
    fn well_known_guesses() {
        use WellKnownClient as W;
        assert_eq!(
            W::guess("", "https://claude.ai/oauth/mcp-oauth-client-metadata"),
            W::ClaudeAi
        );
        assert_eq!(W::guess("Claude Code (c1)", ""), W::ClaudeCode);
        assert_eq!(W::guess("Cursor", ""), W::Cursor);
        assert_eq!(W::guess("Visual Studio Code", ""), W::Vscode);
        assert_eq!(
            W::guess("my tool", "https://evilclaude.ai.example/x"),
            W::Unknown
        );
    }
}
