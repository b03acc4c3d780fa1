//! Page sizes and opaque keyset page tokens.
//!
//! A token names the list it belongs to and the last id returned, so pages stay stable while
//! rows are inserted concurrently (new ids sort after existing ones) and a token from one list
//! cannot be replayed against another.

use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use base64::Engine;

/// Default page size when the client sends none (C1: 25).
pub const DEFAULT_PAGE_SIZE: i64 = 25;

/// Clamps a requested page size to C1's 10..=100, with 0/absent meaning the default.
pub fn clamp_page_size(requested: Option<i64>) -> i64 {
    match requested {
        None | Some(0) => DEFAULT_PAGE_SIZE,
        Some(n) => n.clamp(10, 100),
    }
}

/// Encodes the position after `last_id` in list `scope`.
pub fn encode(scope: &str, last_id: &str) -> String {
    URL_SAFE_NO_PAD.encode(format!("v1|{scope}|{last_id}"))
}

/// Decodes a token produced by [`encode`] for the same `scope`.
pub fn decode(scope: &str, token: &str) -> Result<String, String> {
    let bad = || {
        "page_token is not a token this list returned; start again without page_token".to_string()
    };
    let bytes = URL_SAFE_NO_PAD.decode(token.trim()).map_err(|_| bad())?;
    let text = String::from_utf8(bytes).map_err(|_| bad())?;
    let mut parts = text.splitn(3, '|');
    match (parts.next(), parts.next(), parts.next()) {
        (Some("v1"), Some(s), Some(id))
            if s == scope && chamberlain_model::ids::is_plausible_id(id) =>
        {
            Ok(id.to_string())
        }
        _ => Err(bad()),
    }
}

/// One page of results plus the token for the next page (empty when this is the last).
#[derive(Debug, Clone)]
pub struct Page<T> {
    /// The items.
    pub items: Vec<T>,
    /// Token for the next page, or empty.
    pub next_page_token: String,
}

impl<T> Page<T> {
    /// Maps the items, keeping the token.
    pub fn map<U>(self, f: impl FnMut(T) -> U) -> Page<U> {
        Page {
            items: self.items.into_iter().map(f).collect(),
            next_page_token: self.next_page_token,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn tokens_round_trip_and_are_scoped() {
        let t = encode("apps", "abc");
        assert_eq!(decode("apps", &t).unwrap(), "abc");
        assert!(decode("users", &t).is_err());
        assert!(decode("apps", "!!!").is_err());
        assert_eq!(clamp_page_size(Some(10_000)), 100);
        assert_eq!(clamp_page_size(Some(1)), 10);
        assert_eq!(clamp_page_size(None), 25);
    }
}
