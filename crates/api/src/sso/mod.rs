//! Single sign-on with any OpenID Connect provider: its settings (config file and admin API),
//! the sign-in flow (`flow.rs`) and the relying-party protocol (`oidc.rs`).
//!
//! Settings come from two places. The config file (or `CHAMBERLAIN_SSO_*` / `--sso-*`) gives
//! the defaults; once a super admin saves them through `POST /api/v1/settings/sso` the saved
//! settings win, entirely (the first save starts from the config file's values, so a client
//! secret given only in the file is kept). `GET` says which source is in force.
//!
//! Who signs in: the provider's `email` (from the ID token, or its userinfo endpoint when the
//! ID token has none) only when the provider marks it verified (`email_verified` true), and
//! only when it equals, ignoring case, the primary email of an enabled Chamberlain user (and,
//! when `allowedEmailDomains` is set, is in one of them). Single sign-on creates no users.

pub mod flow;
pub mod oidc;

use crate::authz;
use crate::error::{ApiError, ApiResult};
use crate::extract::Body;
use crate::state::{Caller, Shared};
use axum::extract::State;
use axum::Json;
use chamberlain_auth::crypto::SecretBox;
use chamberlain_model::Timestamp;
use chamberlain_outbound::Guard;
use chamberlain_store::repo::ai_governance::TENANT;
use chamberlain_store::repo::settings;
use chamberlain_store::{Store, StoreError, Tx};
use serde::{Deserialize, Serialize};
use serde_json::{json, Value};

/// The settings kind of single sign-on (`app_settings`, tenant row).
pub const KIND: &str = "sso";
/// The scopes asked for when none are configured.
pub const DEFAULT_SCOPES: &[&str] = &["openid", "email", "profile"];
/// The button's name when none is configured.
pub const DEFAULT_DISPLAY_NAME: &str = "single sign-on";
/// Where the provider sends the browser back (relative to the public URL).
pub const CALLBACK_PATH: &str = "/auth/v1/sso/callback";
const SECRET_CONTEXT: &str = "sso:client-secret";

/// Single sign-on as the config file gives it (`sso_*` keys, `CHAMBERLAIN_SSO_*`, `--sso-*`).
/// Its `Debug` leaves the client secret out.
#[derive(Clone, Default, PartialEq)]
pub struct SsoConfig {
    pub issuer_url: String,
    pub client_id: String,
    pub client_secret: String,
    pub scopes: Vec<String>,
    pub display_name: String,
    pub allowed_email_domains: Vec<String>,
    pub token_endpoint_auth_method: String,
}

impl std::fmt::Debug for SsoConfig {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("SsoConfig")
            .field("issuer_url", &self.issuer_url)
            .field("client_id", &self.client_id)
            .field("client_secret_set", &!self.client_secret.is_empty())
            .field("scopes", &self.scopes)
            .field("display_name", &self.display_name)
            .field("allowed_email_domains", &self.allowed_email_domains)
            .finish()
    }
}

impl SsoConfig {
    /// Checks the file's settings the way the API checks an update.
    pub fn validate(&self) -> Result<(), String> {
        StoredSso::default()
            .apply(&self.to_wire(), &SecretBox::new(&[0u8; 32]))
            .map(|_| ())
    }

    fn to_wire(&self) -> SsoSettingsWire {
        SsoSettingsWire {
            enabled: true,
            issuer_url: self.issuer_url.clone(),
            client_id: self.client_id.clone(),
            client_secret: self.client_secret.clone(),
            scopes: self.scopes.clone(),
            display_name: self.display_name.clone(),
            allowed_email_domains: self.allowed_email_domains.clone(),
            token_endpoint_auth_method: self.token_endpoint_auth_method.clone(),
            ..Default::default()
        }
    }
}

/// `chamberlain.settings.v1.SsoSettings`: single sign-on as the API shows it.
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase", default, deny_unknown_fields)]
pub struct SsoSettingsWire {
    /// Whether the sign-in page offers single sign-on.
    pub enabled: bool,
    /// The provider's issuer URL (its discovery document is `<issuer>/.well-known/openid-configuration`).
    pub issuer_url: String,
    /// The client id Chamberlain is registered under at the provider.
    pub client_id: String,
    /// Write-only: the client secret; empty on update keeps the stored one.
    #[serde(skip_serializing_if = "String::is_empty")]
    pub client_secret: String,
    /// Read-only.
    pub client_secret_set: bool,
    /// Scopes asked for (default `openid email profile`; `openid` is always included).
    pub scopes: Vec<String>,
    /// The name on the sign-in button: "Sign in with <displayName>".
    pub display_name: String,
    /// When not empty, only emails in these domains may sign in.
    pub allowed_email_domains: Vec<String>,
    /// `client_secret_basic`, `client_secret_post`, or empty: as the provider advertises
    /// (basic first).
    pub token_endpoint_auth_method: String,
    /// Read-only: the redirect URI to register at the provider.
    pub redirect_uri: String,
    /// Read-only: `api` (saved through this API), `config` (the config file's) or `none`.
    pub source: String,
    /// Read-only.
    pub updated_at: Option<Timestamp>,
}

/// Single sign-on as stored: the plain settings and the sealed client secret.
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase", default)]
pub struct StoredSso {
    pub enabled: bool,
    pub issuer_url: String,
    pub client_id: String,
    pub sealed_client_secret: String,
    pub scopes: Vec<String>,
    pub display_name: String,
    pub allowed_email_domains: Vec<String>,
    pub token_endpoint_auth_method: String,
    pub updated_at: Option<Timestamp>,
}

/// Single sign-on in force, secret opened (no `Debug`: it holds the secret).
#[derive(Clone)]
pub struct Sso {
    pub issuer_url: String,
    pub client_id: String,
    pub client_secret: String,
    pub scopes: Vec<String>,
    pub display_name: String,
    pub allowed_email_domains: Vec<String>,
    pub token_endpoint_auth_method: String,
}

impl Sso {
    /// The scopes as the authorization request carries them.
    pub fn scope(&self) -> String {
        self.scopes.join(" ")
    }

    /// Whether the email's domain is allowed.
    pub fn domain_allowed(&self, email: &str) -> bool {
        let domain = email.rsplit_once('@').map(|(_, d)| d).unwrap_or("");
        self.allowed_email_domains.is_empty()
            || self
                .allowed_email_domains
                .iter()
                .any(|d| d.eq_ignore_ascii_case(domain))
    }
}

fn scopes_or_default(v: &[String]) -> Vec<String> {
    if v.is_empty() {
        DEFAULT_SCOPES.iter().map(|s| s.to_string()).collect()
    } else {
        v.to_vec()
    }
}

impl StoredSso {
    /// What the API returns (the secret never).
    pub fn to_wire(&self, public_url: &str, source: &str) -> SsoSettingsWire {
        SsoSettingsWire {
            enabled: self.enabled,
            issuer_url: self.issuer_url.clone(),
            client_id: self.client_id.clone(),
            client_secret: String::new(),
            client_secret_set: !self.sealed_client_secret.is_empty(),
            scopes: scopes_or_default(&self.scopes),
            display_name: if self.display_name.is_empty() {
                DEFAULT_DISPLAY_NAME.into()
            } else {
                self.display_name.clone()
            },
            allowed_email_domains: self.allowed_email_domains.clone(),
            token_endpoint_auth_method: self.token_endpoint_auth_method.clone(),
            redirect_uri: format!("{}{CALLBACK_PATH}", public_url.trim_end_matches('/')),
            source: source.into(),
            updated_at: self.updated_at,
        }
    }

    /// From the config file's settings (secret sealed).
    pub fn from_config(c: &SsoConfig, secrets: &SecretBox) -> Result<StoredSso, String> {
        let mut s = StoredSso::default();
        s.apply(&c.to_wire(), secrets)?;
        Ok(s)
    }

    /// Applies an update: checked, the secret sealed (empty keeps the stored one).
    pub fn apply(&mut self, w: &SsoSettingsWire, secrets: &SecretBox) -> Result<(), String> {
        let issuer = w.issuer_url.trim();
        if !issuer.is_empty() {
            let url = reqwest::Url::parse(issuer).map_err(|e| {
                format!("`issuerUrl` `{issuer}` is not a URL ({e}); use e.g. https://accounts.example.com")
            })?;
            if !matches!(url.scheme(), "https" | "http")
                || url.query().is_some()
                || url.fragment().is_some()
                || !url.username().is_empty()
                || url.password().is_some()
            {
                return Err(format!(
                    "`issuerUrl` `{issuer}` must be an http(s) URL without credentials, query or fragment (https except for allow-listed development hosts)"
                ));
            }
        }
        let client_id = w.client_id.trim();
        if client_id.len() > 512 || client_id.chars().any(char::is_control) {
            return Err(
                "`clientId` must be at most 512 characters without control characters".into(),
            );
        }
        if w.client_secret.len() > 4096 || w.client_secret.chars().any(char::is_control) {
            return Err(
                "`clientSecret` must be at most 4096 characters without control characters".into(),
            );
        }
        let mut scopes: Vec<String> = Vec::new();
        for s in w.scopes.iter().flat_map(|s| s.split_whitespace()) {
            if !s
                .chars()
                .all(|c| c.is_ascii_graphic() && c != '"' && c != '\\')
            {
                return Err(format!("`scopes`: `{s}` is not a valid OAuth scope"));
            }
            if !scopes.iter().any(|x| x == s) {
                scopes.push(s.to_string());
            }
        }
        if !scopes.is_empty() && !scopes.iter().any(|s| s == "openid") {
            scopes.insert(0, "openid".into());
        }
        let display = w.display_name.trim();
        if display.chars().count() > 64 || display.chars().any(char::is_control) {
            return Err("`displayName` must be at most 64 characters".into());
        }
        let mut domains = Vec::new();
        for d in &w.allowed_email_domains {
            let d = d.trim().trim_start_matches('@').to_ascii_lowercase();
            let ok = !d.is_empty()
                && d.len() <= 253
                && d.contains('.')
                && d.split('.').all(|l| {
                    !l.is_empty() && l.chars().all(|c| c.is_ascii_alphanumeric() || c == '-')
                });
            if !ok {
                return Err(format!(
                    "`allowedEmailDomains`: `{d}` is not a domain name such as example.com"
                ));
            }
            domains.push(d);
        }
        let method = w.token_endpoint_auth_method.trim();
        if !matches!(method, "" | "client_secret_basic" | "client_secret_post") {
            return Err(format!(
                "`tokenEndpointAuthMethod` `{method}` must be client_secret_basic, client_secret_post, or empty (as the provider advertises)"
            ));
        }
        self.enabled = w.enabled;
        self.issuer_url = issuer.to_string();
        self.client_id = client_id.to_string();
        self.scopes = scopes;
        self.display_name = display.to_string();
        self.allowed_email_domains = domains;
        self.token_endpoint_auth_method = method.to_string();
        if !w.client_secret.is_empty() {
            self.sealed_client_secret = secrets.seal(w.client_secret.as_bytes(), SECRET_CONTEXT);
        }
        if self.enabled {
            let mut missing = Vec::new();
            if self.issuer_url.is_empty() {
                missing.push("`issuerUrl`");
            }
            if self.client_id.is_empty() {
                missing.push("`clientId`");
            }
            if self.sealed_client_secret.is_empty() {
                missing.push("`clientSecret`");
            }
            if !missing.is_empty() {
                return Err(format!(
                    "single sign-on cannot be enabled without {}",
                    missing.join(", ")
                ));
            }
        }
        Ok(())
    }

    /// The settings with the secret opened, when enabled.
    pub fn open(&self, secrets: &SecretBox) -> Result<Option<Sso>, String> {
        if !self.enabled {
            return Ok(None);
        }
        let secret = secrets
            .open(&self.sealed_client_secret, SECRET_CONTEXT)
            .map_err(|e| format!("the stored SSO client secret cannot be opened: {e}"))?;
        let w = self.to_wire("", "");
        Ok(Some(Sso {
            issuer_url: self.issuer_url.clone(),
            client_id: self.client_id.clone(),
            client_secret: String::from_utf8(secret)
                .map_err(|_| "the stored SSO client secret is not text".to_string())?,
            scopes: w.scopes,
            display_name: w.display_name,
            allowed_email_domains: self.allowed_email_domains.clone(),
            token_endpoint_auth_method: self.token_endpoint_auth_method.clone(),
        }))
    }
}

/// The settings saved through the API, if any.
pub async fn load(store: &Store) -> Result<Option<StoredSso>, StoreError> {
    settings::get(store, TENANT, KIND).await
}

/// Saves the settings (recorded in the system log, the secret sealed).
pub async fn save(tx: &mut Tx<'_>, s: &StoredSso) -> Result<(), StoreError> {
    settings::put(tx, TENANT, KIND, s).await
}

/// The settings in force and where they come from: saved through the API, else the config
/// file's, else none.
pub async fn current(s: &Shared) -> Result<(StoredSso, &'static str), String> {
    if let Some(saved) = load(&s.store).await.map_err(|e| e.to_string())? {
        return Ok((saved, "api"));
    }
    match &s.jobs.sso {
        Some(c) => Ok((StoredSso::from_config(c, &s.secrets)?, "config")),
        None => Ok((StoredSso::default(), "none")),
    }
}

/// Single sign-on in force, secret opened: `None` when not set up or disabled.
pub async fn effective(s: &Shared) -> Result<Option<Sso>, String> {
    current(s).await?.0.open(&s.secrets)
}

/// The sign-in button's name when single sign-on is enabled.
pub async fn button(s: &Shared) -> Option<String> {
    match current(s).await {
        Ok((c, _)) if c.enabled => Some(c.to_wire("", "").display_name),
        Ok(_) => None,
        Err(e) => {
            tracing::error!(error = %e, "the SSO settings are unusable");
            None
        }
    }
}

/// The outbound guard for calls to the identity provider.
pub fn guard(s: &Shared) -> Guard {
    Guard::new(
        "single sign-on providers",
        s.jobs.outbound_allow_hosts.clone(),
    )
}

// ---------------------------------------------------------------------------------------------
// Settings API (Chamberlain extension)

/// `GET /api/v1/settings/sso`.
pub async fn get_settings(State(s): State<Shared>, caller: Caller) -> ApiResult<Json<Value>> {
    authz::require_read(&caller)?;
    let (stored, source) = current(&s).await.map_err(ApiError::precondition)?;
    Ok(Json(json!({"sso": stored.to_wire(&s.public_url, source)})))
}

/// `UpdateSsoSettingsRequest`.
#[derive(Deserialize, Default)]
#[serde(rename_all = "camelCase", default, deny_unknown_fields)]
pub struct UpdateSettings {
    sso: Option<Value>,
}

/// `POST /api/v1/settings/sso`: replaces the settings (an empty `clientSecret` keeps the
/// stored one). The first save starts from the config file's settings.
pub async fn update_settings(
    State(s): State<Shared>,
    caller: Caller,
    Body(r): Body<UpdateSettings>,
) -> ApiResult<Json<Value>> {
    authz::require_super_admin(&caller)?;
    let raw = r
        .sso
        .ok_or_else(|| ApiError::invalid("`sso` is required"))?;
    let wire: SsoSettingsWire = crate::extract::parse_json(raw.to_string().as_bytes())
        .map_err(|e| ApiError::invalid(format!("sso: {}", e.message)))?;
    let read_only: Vec<&str> = [
        ("clientSecretSet", wire.client_secret_set),
        ("redirectUri", !wire.redirect_uri.is_empty()),
        ("source", !wire.source.is_empty()),
        ("updatedAt", wire.updated_at.is_some()),
    ]
    .iter()
    .filter(|(_, set)| *set)
    .map(|(n, _)| *n)
    .collect();
    if !read_only.is_empty() {
        return Err(ApiError::invalid(format!(
            "sso: {} read-only; leave {} out",
            read_only
                .iter()
                .map(|n| format!("`{n}`"))
                .collect::<Vec<_>>()
                .join(", ")
                + if read_only.len() == 1 { " is" } else { " are" },
            if read_only.len() == 1 { "it" } else { "them" }
        )));
    }
    let (mut next, _) = current(&s).await.map_err(ApiError::precondition)?;
    next.apply(&wire, &s.secrets)
        .map_err(|e| ApiError::invalid(format!("sso: {e}")))?;
    next.updated_at = Some(Timestamp::now());
    let saved = next.clone();
    chamberlain_store::write_tx!(s.store, &caller.audit(), |tx| { save(tx, &saved).await })?;
    Ok(Json(json!({"sso": next.to_wire(&s.public_url, "api")})))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn updates_are_checked_and_the_secret_is_kept_sealed() {
        let sb = SecretBox::new(&[7u8; 32]);
        let w = SsoSettingsWire {
            enabled: true,
            issuer_url: "https://id.example.com".into(),
            client_id: "c".into(),
            client_secret: "topsecret".into(),
            scopes: vec!["email".into()],
            ..Default::default()
        };
        let mut s = StoredSso::default();
        s.apply(&w, &sb).unwrap();
        assert_eq!(s.scopes, ["openid", "email"]);
        assert!(!serde_json::to_string(&s).unwrap().contains("topsecret"));
        let wire = s.to_wire("https://c.example/", "api");
        assert!(wire.client_secret.is_empty() && wire.client_secret_set);
        assert_eq!(wire.redirect_uri, "https://c.example/auth/v1/sso/callback");
        // An update without the secret keeps it.
        let keep = SsoSettingsWire {
            client_secret: String::new(),
            ..w.clone()
        };
        s.apply(&keep, &sb).unwrap();
        assert_eq!(s.open(&sb).unwrap().unwrap().client_secret, "topsecret");
        // Enabling needs an issuer, a client id and a secret.
        let e = StoredSso::default()
            .apply(
                &SsoSettingsWire {
                    enabled: true,
                    ..Default::default()
                },
                &sb,
            )
            .unwrap_err();
        assert!(e.contains("`issuerUrl`, `clientId`, `clientSecret`"), "{e}");
        let c = SsoConfig {
            client_secret: "topsecret".into(),
            ..Default::default()
        };
        assert!(!format!("{c:?}").contains("topsecret"));
    }
}
