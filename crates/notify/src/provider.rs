//! The tenant's email provider (`c1.api.settings.v1.TenantEmailProvider`). Chamberlain sends
//! through SMTP, configured in the extension field `chamberlainSmtp`; the provider kinds C1
//! runs itself (its built-in sender, SES, SendGrid, Microsoft Graph, Gmail API) are refused.
//! The SMTP password is sealed at rest (bound to the tenant settings row) and never returned.
//! Settings saved through the API win over the config file's `smtp_url`.

use crate::email::{Security, SmtpSettings};
use chamberlain_auth::crypto::SecretBox;
use chamberlain_model::Timestamp;
use chamberlain_store::repo::ai_governance::TENANT;
use chamberlain_store::repo::settings;
use chamberlain_store::{Store, StoreError, Tx};
use serde::{Deserialize, Serialize};
use std::time::Duration;

/// The settings kind of the email provider (`app_settings`, tenant row).
pub const KIND: &str = "email provider";
/// The AES-GCM context the SMTP password is sealed with.
const SEAL_CONTEXT: &str = "email-provider:smtp-password";

/// `chamberlainSmtp`: the SMTP server (Chamberlain extension of `TenantEmailProvider`).
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase", default, deny_unknown_fields)]
pub struct SmtpProviderConfig {
    pub host: String,
    /// 0 = the security mode's usual port (587, 465, 25).
    pub port: u32,
    /// `STARTTLS` (default), `TLS` or `NONE`.
    pub security: Security,
    pub username: String,
    /// Write-only; empty on update keeps the stored password.
    #[serde(skip_serializing_if = "String::is_empty")]
    pub password: String,
    /// Read-only: whether a password is stored.
    pub password_set: bool,
    /// Per SMTP command; 0 = 30 seconds.
    pub timeout_seconds: u32,
    /// A PEM certificate to trust for the server's TLS (a relay with a private CA); empty for
    /// the public roots only.
    pub ca_certificate_pem: String,
}

/// The provider as stored: the wire fields plus the sealed password.
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase", default)]
pub struct StoredProvider {
    pub from_address: String,
    pub from_name: String,
    pub reply_to_address: String,
    pub chamberlain_smtp: Option<SmtpProviderConfig>,
    pub sealed_password: String,
    pub created_at: Option<Timestamp>,
    pub updated_at: Option<Timestamp>,
}

impl StoredProvider {
    /// The `TenantEmailProvider` the API returns (no secret; the other provider kinds null).
    pub fn to_wire(&self) -> serde_json::Value {
        let smtp = self.chamberlain_smtp.as_ref().map(|c| SmtpProviderConfig {
            password: String::new(),
            password_set: !self.sealed_password.is_empty(),
            ..c.clone()
        });
        serde_json::json!({
            "fromAddress": self.from_address,
            "fromName": self.from_name,
            "replyToAddress": self.reply_to_address,
            "c1Builtin": null,
            "awsSes": null,
            "sendgrid": null,
            "microsoftGraph": null,
            "googleWorkspace": null,
            "chamberlainSmtp": smtp,
            "createdAt": self.created_at,
            "updatedAt": self.updated_at,
        })
    }

    /// The sending settings (the password opened), checked.
    pub fn smtp(&self, secrets: &SecretBox) -> Result<Option<SmtpSettings>, String> {
        let Some(c) = &self.chamberlain_smtp else {
            return Ok(None);
        };
        let password = if self.sealed_password.is_empty() {
            String::new()
        } else {
            let plain = secrets
                .open(&self.sealed_password, SEAL_CONTEXT)
                .map_err(|e| format!("the stored SMTP password cannot be opened: {e}"))?;
            String::from_utf8(plain)
                .map_err(|_| "the stored SMTP password is not text".to_string())?
        };
        let port = if c.port == 0 {
            match c.security {
                Security::StartTls => 587,
                Security::Tls => 465,
                Security::None => 25,
            }
        } else {
            u16::try_from(c.port).map_err(|_| "the SMTP port must be between 1 and 65535")?
        };
        let s = SmtpSettings {
            host: c.host.clone(),
            port,
            security: c.security,
            username: c.username.clone(),
            password,
            from_address: self.from_address.clone(),
            from_name: self.from_name.clone(),
            reply_to: self.reply_to_address.clone(),
            timeout: Duration::from_secs(if c.timeout_seconds == 0 {
                30
            } else {
                u64::from(c.timeout_seconds)
            }),
            ca_pem: (!c.ca_certificate_pem.trim().is_empty())
                .then(|| c.ca_certificate_pem.clone().into_bytes()),
        };
        s.validate()?;
        Ok(Some(s))
    }

    /// Seals a new password (an empty one keeps the stored password).
    pub fn set_password(&mut self, secrets: &SecretBox, password: &str) {
        if !password.is_empty() {
            self.sealed_password = secrets.seal(password.as_bytes(), SEAL_CONTEXT);
        }
    }
}

/// The saved provider, if any.
pub async fn load(store: &Store) -> Result<Option<StoredProvider>, StoreError> {
    settings::get(store, TENANT, KIND).await
}

/// Saves the provider (recorded in the system log with the password sealed).
pub async fn save(tx: &mut Tx<'_>, p: &StoredProvider) -> Result<(), StoreError> {
    settings::put(tx, TENANT, KIND, p).await
}

/// The SMTP settings to send with: the saved provider's, else the config file's `fallback`.
/// The config file's CA certificate also applies to saved settings that name none.
pub async fn effective(
    store: &Store,
    secrets: &SecretBox,
    fallback: Option<&SmtpSettings>,
) -> Result<Option<SmtpSettings>, String> {
    let saved = load(store).await.map_err(|e| e.to_string())?;
    let ca = fallback.and_then(|f| f.ca_pem.clone());
    let from_saved = match saved {
        Some(p) => p.smtp(secrets)?,
        None => None,
    };
    Ok(match from_saved {
        Some(mut s) => {
            if s.ca_pem.is_none() {
                s.ca_pem = ca;
            }
            Some(s)
        }
        None => fallback.cloned(),
    })
}
