//! Client ID metadata documents (draft-ietf-oauth-client-id-metadata-document): a `client_id`
//! that is an https URL names a JSON document describing the client. It is fetched through the
//! outbound guard (public addresses only unless allow-listed, no redirects, 5 s, 5 KB) and kept
//! for [`CACHE_TTL`].

use crate::state::AppState;
use chamberlain_outbound::{read_capped, Guard, OutboundError};
use chamberlain_store::repo::oauth::ClientMetadata;
use serde_json::Value;
use std::collections::HashMap;
use std::sync::Mutex;
use std::time::{Duration, Instant};

/// Largest document accepted.
pub const MAX_BYTES: usize = 5 * 1024;
/// Time limit of a fetch.
pub const TIMEOUT: Duration = Duration::from_secs(5);
/// How long a fetched document is reused.
pub const CACHE_TTL: Duration = Duration::from_secs(60);

type Cache = HashMap<(String, String), (Instant, ClientMetadata)>;
static CACHE: Mutex<Option<Cache>> = Mutex::new(None);

/// Whether `client_id` is a metadata-document URL (https, or http on an allow-listed host).
pub fn is_url(state: &AppState, client_id: &str) -> bool {
    if client_id.starts_with("https://") {
        return true;
    }
    client_id.starts_with("http://")
        && reqwest::Url::parse(client_id)
            .map(|u| guard(state).is_allowed(&u))
            .unwrap_or(false)
}

fn guard(state: &AppState) -> Guard {
    Guard::new(
        "client metadata documents",
        state.jobs.outbound_allow_hosts.clone(),
    )
}

/// The client metadata at `url`, fetched (or from the cache) and checked: JSON whose
/// `client_id` is the URL itself, with redirect URIs, and no shared-secret authentication.
/// The error says what is wrong, for the user's error page.
pub async fn fetch(state: &AppState, url: &str) -> Result<ClientMetadata, String> {
    let key = (state.public_url.clone(), url.to_string());
    if let Ok(guard) = CACHE.lock() {
        if let Some((at, m)) = guard.as_ref().and_then(|c| c.get(&key)) {
            if at.elapsed() < CACHE_TTL {
                return Ok(m.clone());
            }
        }
    }
    let parsed = reqwest::Url::parse(url)
        .map_err(|e| format!("client_id `{url}` is not a valid URL ({e})"))?;
    if parsed.fragment().is_some() || parsed.path().is_empty() || parsed.path() == "/" {
        return Err(format!(
            "client_id `{url}` must be a URL with a path and without a fragment"
        ));
    }
    let (u, client) = guard(state)
        .client(url, TIMEOUT)
        .await
        .map_err(|e| describe(url, e))?;
    let resp = client
        .get(u)
        .header("accept", "application/json")
        .send()
        .await
        .map_err(|e| {
            format!(
                "fetching the client metadata document `{url}` failed: {}",
                chamberlain_outbound::error_chain(&e)
            )
        })?;
    if !resp.status().is_success() {
        return Err(format!(
            "the client metadata document `{url}` answered HTTP {} (redirects are not followed); it must answer 200 with JSON",
            resp.status().as_u16()
        ));
    }
    let bytes = read_capped(resp, MAX_BYTES, "client metadata document")
        .await
        .map_err(|e| describe(url, e))?;
    let meta = parse(url, &bytes)?;
    if let Ok(mut guard) = CACHE.lock() {
        let c = guard.get_or_insert_with(HashMap::new);
        c.retain(|_, (at, _)| at.elapsed() < CACHE_TTL);
        c.insert(key, (Instant::now(), meta.clone()));
    }
    Ok(meta)
}

fn describe(url: &str, e: OutboundError) -> String {
    match e {
        OutboundError::Refused(m) => {
            format!("the client metadata document `{url}` cannot be fetched: {m}")
        }
        OutboundError::TooLarge(m) => {
            format!("the client metadata document `{url}` is too large: {m}")
        }
        OutboundError::Unavailable(m) => {
            format!("fetching the client metadata document `{url}` failed: {m}")
        }
    }
}

/// Parses and checks a metadata document (pure; see [`fetch`]).
pub fn parse(url: &str, bytes: &[u8]) -> Result<ClientMetadata, String> {
    let doc: Value = serde_json::from_slice(bytes)
        .map_err(|e| format!("the client metadata document `{url}` is not valid JSON ({e})"))?;
    let obj = doc
        .as_object()
        .ok_or_else(|| format!("the client metadata document `{url}` is not a JSON object"))?;
    match obj.get("client_id").and_then(Value::as_str) {
        Some(id) if id == url => {}
        Some(id) => {
            return Err(format!(
                "the client metadata document `{url}` names client_id `{id}`; it must be the document's own URL"
            ))
        }
        None => {
            return Err(format!(
                "the client metadata document `{url}` has no `client_id`; it must contain its own URL as client_id"
            ))
        }
    }
    let strings = |name: &str| -> Result<Vec<String>, String> {
        match obj.get(name) {
            None | Some(Value::Null) => Ok(Vec::new()),
            Some(Value::Array(a)) => a
                .iter()
                .map(|v| {
                    v.as_str().map(str::to_string).ok_or_else(|| {
                        format!("`{name}` in the client metadata document `{url}` must be a list of strings")
                    })
                })
                .collect(),
            Some(_) => Err(format!(
                "`{name}` in the client metadata document `{url}` must be a list of strings"
            )),
        }
    };
    let redirect_uris = strings("redirect_uris")?;
    if redirect_uris.is_empty() {
        return Err(format!(
            "the client metadata document `{url}` lists no redirect_uris"
        ));
    }
    for r in &redirect_uris {
        super::register::check_redirect_uri(r)?;
    }
    let method = obj
        .get("token_endpoint_auth_method")
        .and_then(Value::as_str)
        .unwrap_or("none");
    if method != "none" {
        return Err(format!(
            "the client metadata document `{url}` asks for token_endpoint_auth_method `{method}`; clients identified by a metadata document must use `none` (a public document cannot hold a shared secret)"
        ));
    }
    let name = obj
        .get("client_name")
        .and_then(Value::as_str)
        .unwrap_or("")
        .chars()
        .take(200)
        .collect::<String>();
    Ok(ClientMetadata {
        client_name: name,
        redirect_uris,
        token_endpoint_auth_method: "none".into(),
        grant_types: {
            let g = strings("grant_types")?;
            if g.is_empty() {
                vec!["authorization_code".into(), "refresh_token".into()]
            } else {
                g
            }
        },
        response_types: vec!["code".into()],
        application_type: obj
            .get("application_type")
            .and_then(Value::as_str)
            .unwrap_or("web")
            .to_string(),
        client_uri: obj
            .get("client_uri")
            .and_then(Value::as_str)
            .unwrap_or("")
            .chars()
            .take(500)
            .collect(),
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn documents_must_name_themselves() {
        let url = "https://claude.ai/oauth/mcp-oauth-client-metadata";
        let good = format!(
            r#"{{"client_id":"{url}","client_name":"Claude","redirect_uris":["https://claude.ai/api/mcp/auth_callback"]}}"#
        );
        let m = parse(url, good.as_bytes()).unwrap();
        assert_eq!(m.client_name, "Claude");
        assert!(parse(
            url,
            br#"{"client_id":"https://evil.example/x","redirect_uris":["https://a/b"]}"#
        )
        .unwrap_err()
        .contains("own URL"));
        assert!(parse(url, b"[]").unwrap_err().contains("not a JSON object"));
        let no_redirects = format!(r#"{{"client_id":"{url}"}}"#);
        assert!(parse(url, no_redirects.as_bytes())
            .unwrap_err()
            .contains("redirect_uris"));
        let secret = format!(
            r#"{{"client_id":"{url}","redirect_uris":["https://a.example/cb"],"token_endpoint_auth_method":"client_secret_basic"}}"#
        );
        assert!(parse(url, secret.as_bytes()).unwrap_err().contains("none"));
    }
}
