//! The names AI clients see: `<prefix>_<tool>`, always matching `^[A-Za-z0-9_-]{1,64}$`,
//! unique across every server. Collisions and over-long names are resolved deterministically
//! (a short hash of the server and tool name), and the reason is recorded for the admin.

use sha2::{Digest, Sha256};
use std::collections::{BTreeMap, HashMap};

/// Longest tool name MCP clients accept.
pub const MAX_LEN: usize = 64;

/// Replaces every character outside `[A-Za-z0-9_-]` with `_`.
pub fn sanitize(s: &str) -> String {
    s.chars()
        .map(|c| {
            if c.is_ascii_alphanumeric() || c == '_' || c == '-' {
                c
            } else {
                '_'
            }
        })
        .collect()
}

/// A default tool prefix from a server's display name: lower case, `_` for anything else,
/// at most 24 characters ("Okta MCP" → "okta_mcp").
pub fn default_prefix(display_name: &str) -> String {
    let s = sanitize(&display_name.trim().to_ascii_lowercase());
    let s: String = s.trim_matches('_').chars().take(24).collect();
    if s.is_empty() {
        "mcp".into()
    } else {
        s
    }
}

/// Whether a prefix is acceptable as given by an admin.
pub fn check_prefix(prefix: &str) -> Result<(), String> {
    if prefix.len() > 32 {
        return Err(format!(
            "toolPrefix `{prefix}` is longer than 32 characters"
        ));
    }
    if sanitize(prefix) != prefix {
        return Err(format!(
            "toolPrefix `{prefix}` may only contain letters, digits, `_` and `-`"
        ));
    }
    Ok(())
}

fn short_hash(server_id: &str, tool_name: &str) -> String {
    let d = Sha256::digest(format!("{server_id}/{tool_name}").as_bytes());
    d.iter().take(4).map(|b| format!("{b:02x}")).collect()
}

fn with_suffix(base: &str, suffix: &str) -> String {
    let keep = MAX_LEN - suffix.len() - 1;
    let mut head: String = base.chars().take(keep).collect();
    head.push('_');
    head.push_str(suffix);
    head
}

/// One tool to name.
#[derive(Clone, Debug)]
pub struct Candidate {
    /// Tool record id (the key of the result).
    pub tool_id: String,
    /// Server id (for the tie-break hash).
    pub server_id: String,
    /// Server display name (for the collision note).
    pub server_name: String,
    /// Server registration time: the older server keeps the plain name.
    pub server_created: i64,
    /// The server's prefix in effect ("" for none).
    pub prefix: String,
    /// The tool's native name.
    pub tool_name: String,
}

/// Assigns every candidate its exposed name and a note ("" when the plain name was used).
pub fn assign(candidates: &[Candidate]) -> HashMap<String, (String, String)> {
    let mut by_base: BTreeMap<String, Vec<&Candidate>> = BTreeMap::new();
    let mut notes: HashMap<String, String> = HashMap::new();
    for c in candidates {
        let plain = if c.prefix.is_empty() {
            sanitize(&c.tool_name)
        } else {
            format!("{}_{}", sanitize(&c.prefix), sanitize(&c.tool_name))
        };
        let plain = if plain.is_empty() {
            "_".to_string()
        } else {
            plain
        };
        let base = if plain.len() > MAX_LEN {
            notes.insert(
                c.tool_id.clone(),
                format!("`{plain}` is longer than {MAX_LEN} characters; shortened with a hash"),
            );
            with_suffix(&plain, &short_hash(&c.server_id, &c.tool_name))
        } else {
            plain
        };
        by_base.entry(base).or_default().push(c);
    }
    let mut out = HashMap::new();
    for (base, mut group) in by_base {
        group.sort_by(|a, b| {
            (a.server_created, &a.server_id, &a.tool_name).cmp(&(
                b.server_created,
                &b.server_id,
                &b.tool_name,
            ))
        });
        let first = group[0];
        for (i, c) in group.iter().enumerate() {
            let (name, note) = if i == 0 {
                (base.clone(), notes.remove(&c.tool_id).unwrap_or_default())
            } else {
                (
                    with_suffix(&base, &short_hash(&c.server_id, &c.tool_name)),
                    format!(
                        "`{base}` is also the name of tool `{}` of server \"{}\" (registered earlier); this one got a hash suffix. Set a distinct toolPrefix to avoid it",
                        first.tool_name, first.server_name
                    ),
                )
            };
            out.insert(c.tool_id.clone(), (name, note));
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    fn valid(n: &str) -> bool {
        !n.is_empty() && n.len() <= MAX_LEN && sanitize(n) == n
    }

    fn cand(id: &str, server: &str, created: i64, prefix: &str, tool: &str) -> Candidate {
        Candidate {
            tool_id: id.into(),
            server_id: server.into(),
            server_name: server.to_uppercase(),
            server_created: created,
            prefix: prefix.into(),
            tool_name: tool.into(),
        }
    }

    #[test]
    fn names_are_prefixed_sanitized_and_unique() {
        let long = "x".repeat(80);
        let got = assign(&[
            cand("1", "s1", 1, "okta", "list users"),
            cand("2", "s2", 2, "okta", "list users"),
            cand("3", "s1", 1, "okta", &long),
            cand("4", "s3", 3, "", "ping"),
            cand("5", "s3", 3, "", "héllo/wörld"),
        ]);
        assert_eq!(got["1"], ("okta_list_users".to_string(), String::new()));
        assert!(got["2"].0.starts_with("okta_list_users_"), "{:?}", got["2"]);
        assert!(got["2"].1.contains("also the name"), "{:?}", got["2"]);
        assert!(got["3"].0.len() <= MAX_LEN && got["3"].1.contains("longer"));
        assert_eq!(got["4"].0, "ping");
        for (n, _) in got.values() {
            assert!(valid(n), "{n}");
        }
        let names: std::collections::HashSet<_> = got.values().map(|v| v.0.clone()).collect();
        assert_eq!(names.len(), 5);
        // Deterministic: the same input in another order gives the same names.
        let again = assign(&[
            cand("2", "s2", 2, "okta", "list users"),
            cand("1", "s1", 1, "okta", "list users"),
        ]);
        assert_eq!(again["1"].0, got["1"].0);
        assert_eq!(again["2"].0, got["2"].0);
    }

    #[test]
    fn prefixes() {
        assert_eq!(default_prefix("Okta MCP"), "okta_mcp");
        assert_eq!(default_prefix("!!!"), "mcp");
        assert!(check_prefix("okta").is_ok());
        assert!(check_prefix("ok ta").is_err());
        assert!(check_prefix(&"a".repeat(33)).is_err());
    }
}
