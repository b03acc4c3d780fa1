//! Legacy-era MCP sessions without server-side state: the session id is the sealed (AES-GCM)
//! record of who opened it, with which client and protocol version. Any replica can serve any
//! session, idle sessions cost no memory, and a session id cannot be forged or moved to
//! another user.

use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use base64::Engine;
use chamberlain_auth::crypto::SecretBox;
use serde::{Deserialize, Serialize};

const CONTEXT: &str = "mcp-session";

/// What a session id carries.
#[derive(Clone, Debug, Serialize, Deserialize, PartialEq)]
pub struct SessionInfo {
    /// The user.
    pub u: String,
    /// The AI client.
    pub c: String,
    /// Negotiated protocol version.
    pub v: String,
    /// Opened at (Unix seconds).
    pub t: i64,
    /// Random part, so two sessions of the same user and client differ.
    pub n: String,
    /// The client declared URL-mode elicitation at `initialize`.
    #[serde(default)]
    pub e: bool,
    /// The client declared sampling.
    #[serde(default)]
    pub s: bool,
    /// The client declared form-mode elicitation.
    #[serde(default)]
    pub f: bool,
    /// The client declared roots.
    #[serde(default)]
    pub r: bool,
}

impl SessionInfo {
    /// What the client declared it can answer.
    pub fn caps(&self) -> crate::upstream::ClientCaps {
        crate::upstream::ClientCaps {
            sampling: self.s,
            elicitation_form: self.f,
            elicitation_url: self.e,
            roots: self.r,
            // Legacy sessions do not get the Tasks extension.
            tasks: false,
        }
    }
}

/// Mints a session id.
pub fn mint(secrets: &SecretBox, info: &SessionInfo) -> String {
    let plain = serde_json::to_vec(info).unwrap_or_default();
    // Sealed text is base64 already; re-encode to keep the id to URL-safe visible ASCII.
    URL_SAFE_NO_PAD.encode(secrets.seal(&plain, CONTEXT))
}

/// Opens a session id (None when forged, damaged or sealed with another key).
pub fn open(secrets: &SecretBox, id: &str) -> Option<SessionInfo> {
    let sealed = URL_SAFE_NO_PAD.decode(id.as_bytes()).ok()?;
    let sealed = String::from_utf8(sealed).ok()?;
    let plain = secrets.open(&sealed, CONTEXT).ok()?;
    serde_json::from_slice(&plain).ok()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn sessions_round_trip_and_resist_tampering() {
        let b = SecretBox::new(&[3; 32]);
        let info = SessionInfo {
            u: "user".into(),
            c: "client".into(),
            v: "2025-11-25".into(),
            t: 1,
            n: "x".into(),
            e: true,
            s: true,
            f: false,
            r: false,
        };
        let id = mint(&b, &info);
        assert!(id.bytes().all(|c| c.is_ascii_graphic()));
        assert_eq!(open(&b, &id), Some(info));
        let mut bad = id.clone().into_bytes();
        bad[10] ^= 1;
        assert_eq!(open(&b, &String::from_utf8_lossy(&bad)), None);
        assert_eq!(open(&SecretBox::new(&[4; 32]), &id), None);
    }
}
