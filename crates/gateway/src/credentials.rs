//! Downstream credentials: what an admin configures for a server (sealed at rest, never
//! served) and how it becomes headers or environment on each request.

use crate::upstream::Credentials;
use base64::Engine;
use chamberlain_auth::crypto::SecretBox;
use chamberlain_model::mcp::{McpAuthMethod, McpOAuth2Mode, McpServer, McpServerType};
use serde::{Deserialize, Serialize};
use sha2::{Digest, Sha256};
use std::collections::BTreeMap;

/// The secret half of a server's configuration. Sealed with the server id as context, so a
/// sealed blob cannot be moved to another server.
#[derive(Clone, Debug, Default, Serialize, Deserialize, PartialEq)]
#[serde(default)]
pub struct Secrets {
    /// Bearer token (BEARER_TOKEN).
    pub bearer_token: String,
    /// Custom header value (CUSTOM_HEADER).
    pub header_value: String,
    /// Basic-auth password (BASIC_AUTH).
    pub basic_password: String,
    /// OAuth2 client secret.
    pub oauth2_client_secret: String,
    /// Secret config field values of a hosted server (given to it as environment).
    pub config: BTreeMap<String, String>,
}

fn context(server_id: &str) -> String {
    format!("mcp-server:{server_id}")
}

impl Secrets {
    /// Seals for storage.
    pub fn seal(&self, secrets: &SecretBox, server_id: &str) -> String {
        let plain = serde_json::to_vec(self).unwrap_or_default();
        secrets.seal(&plain, &context(server_id))
    }

    /// Opens what [`Secrets::seal`] produced ("" opens to no secrets).
    pub fn open(secrets: &SecretBox, server_id: &str, sealed: &str) -> Result<Self, String> {
        if sealed.is_empty() {
            return Ok(Secrets::default());
        }
        let plain = secrets
            .open(sealed, &context(server_id))
            .map_err(|e| format!("cannot open the server's credentials: {e}"))?;
        serde_json::from_slice(&plain)
            .map_err(|e| format!("stored credentials are unreadable: {e}"))
    }
}

/// Turns a server's configuration into request credentials. `oauth_token` is the access token
/// obtained for OAuth2 modes (client credentials, the service identity, or the user's own
/// connection).
pub fn resolve(
    server: &McpServer,
    secrets: &Secrets,
    oauth_token: Option<&str>,
    owner: &str,
) -> Credentials {
    let mut headers = Vec::new();
    match server.auth_method {
        McpAuthMethod::BearerToken if !secrets.bearer_token.is_empty() => {
            headers.push((
                "Authorization".into(),
                format!("Bearer {}", secrets.bearer_token),
            ));
        }
        McpAuthMethod::CustomHeader if !server.custom_header_name.is_empty() => {
            headers.push((
                server.custom_header_name.clone(),
                secrets.header_value.clone(),
            ));
        }
        McpAuthMethod::BasicAuth => {
            let pair = format!("{}:{}", server.basic_auth_username, secrets.basic_password);
            headers.push((
                "Authorization".into(),
                format!(
                    "Basic {}",
                    base64::engine::general_purpose::STANDARD.encode(pair)
                ),
            ));
        }
        McpAuthMethod::OAuth2 => {
            if let Some(t) = oauth_token {
                headers.push(("Authorization".into(), format!("Bearer {t}")));
            }
        }
        _ => {}
    }
    let mut env = Vec::new();
    if server.server_type == McpServerType::Hosted {
        for (k, v) in server
            .config_field_values
            .iter()
            .chain(secrets.config.iter())
        {
            env.push((env_name(k), v.clone()));
        }
        // Hosted servers get header-style credentials as environment too.
        for (k, v) in &headers {
            env.push((format!("MCP_HEADER_{}", env_name(k)), v.clone()));
        }
    }
    let mut h = Sha256::new();
    for (k, v) in headers.iter().chain(env.iter()) {
        h.update(k.as_bytes());
        h.update([0]);
        h.update(v.as_bytes());
        h.update([0]);
    }
    let key = h
        .finalize()
        .iter()
        .take(12)
        .map(|b| format!("{b:02x}"))
        .collect();
    Credentials {
        headers,
        env,
        key,
        owner: owner.to_string(),
    }
}

/// `api-key` → `API_KEY`.
pub fn env_name(field: &str) -> String {
    field
        .chars()
        .map(|c| {
            if c.is_ascii_alphanumeric() {
                c.to_ascii_uppercase()
            } else {
                '_'
            }
        })
        .collect()
}

/// Whether calls need an OAuth2 access token obtained with client credentials.
pub fn needs_client_credentials(server: &McpServer) -> bool {
    server.auth_method == McpAuthMethod::OAuth2
        && server.oauth2_mode == McpOAuth2Mode::ClientCredentials
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn methods_become_headers_and_keys_differ() {
        let mut s = McpServer {
            auth_method: McpAuthMethod::BearerToken,
            ..Default::default()
        };
        let sec = Secrets {
            bearer_token: "t1".into(),
            ..Default::default()
        };
        let a = resolve(&s, &sec, None, "");
        assert_eq!(
            a.headers,
            vec![("Authorization".to_string(), "Bearer t1".to_string())]
        );
        let b = resolve(
            &s,
            &Secrets {
                bearer_token: "t2".into(),
                ..Default::default()
            },
            None,
            "",
        );
        assert_ne!(a.key, b.key);
        assert!(!a.key.contains("t1"));
        s.auth_method = McpAuthMethod::BasicAuth;
        s.basic_auth_username = "u".into();
        let c = resolve(
            &s,
            &Secrets {
                basic_password: "p".into(),
                ..Default::default()
            },
            None,
            "",
        );
        assert_eq!(c.headers[0].1, "Basic dTpw");
        s.auth_method = McpAuthMethod::CustomHeader;
        s.custom_header_name = "X-Api-Key".into();
        let d = resolve(
            &s,
            &Secrets {
                header_value: "k".into(),
                ..Default::default()
            },
            None,
            "",
        );
        assert_eq!(d.headers[0], ("X-Api-Key".to_string(), "k".to_string()));
    }

    #[test]
    fn sealing_is_bound_to_the_server() {
        let b = SecretBox::new(&[7; 32]);
        let s = Secrets {
            bearer_token: "tok".into(),
            ..Default::default()
        };
        let sealed = s.seal(&b, "srv1");
        assert!(!sealed.contains("tok"));
        assert_eq!(Secrets::open(&b, "srv1", &sealed).unwrap(), s);
        assert!(Secrets::open(&b, "srv2", &sealed).is_err());
    }
}
