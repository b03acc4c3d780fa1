//! `Mcp-Param-*` request headers (SEP-2243, protocol 2026-07-28): a tool input-schema
//! property marked `"x-mcp-header": "<Name>"` is mirrored by clients into an
//! `Mcp-Param-<Name>` header on `tools/call`, so intermediaries can route on it without
//! reading the body. The gateway checks a 2026-07-28 client's headers against the arguments
//! before anything is forwarded (missing, extra, repeated, malformed or differing headers are
//! refused with `-32020`), and sends the same headers to a 2026-07-28 downstream server.
//!
//! Value rules: strings go as they are, numbers and booleans as their JSON text; a value that
//! cannot travel as a plain header value (characters outside visible ASCII, leading or
//! trailing space or tab, or text that itself looks like the wrapper) goes as
//! `=?base64?<standard padded Base64 of the UTF-8 text>?=`. A value lacking either half of the
//! wrapper is literal text. Header names are case-insensitive, values case-sensitive.

use base64::Engine;
use serde_json::Value;

const PREFIX: &str = "Mcp-Param-";
const B64_OPEN: &str = "=?base64?";
const B64_CLOSE: &str = "?=";

/// One `x-mcp-header` annotation of a tool's input schema.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ParamHeader {
    /// Property names from the schema root to the annotated property (`properties` only).
    pub path: Vec<String>,
    /// The header name after `Mcp-Param-`, as the schema spells it.
    pub name: String,
}

impl ParamHeader {
    /// The full header name (`Mcp-Param-<Name>`).
    pub fn header(&self) -> String {
        format!("{PREFIX}{}", self.name)
    }

    /// `arguments.a.b` for messages.
    fn argument(&self) -> String {
        format!("arguments.{}", self.path.join("."))
    }
}

/// The `x-mcp-header` annotations of an input schema, on properties reached from the root
/// through `properties` alone (nested objects included). Annotations that are not a valid
/// header name (a non-empty RFC 9110 token) are left out, as is a second annotation of the
/// same name (names are case-insensitive).
pub fn annotations(input_schema: &Value) -> Vec<ParamHeader> {
    let mut out = Vec::new();
    collect(input_schema.get("properties"), &mut Vec::new(), &mut out);
    let mut seen = std::collections::HashSet::new();
    out.retain(|a| seen.insert(a.name.to_ascii_lowercase()));
    out
}

fn collect(properties: Option<&Value>, path: &mut Vec<String>, out: &mut Vec<ParamHeader>) {
    let Some(Value::Object(properties)) = properties else {
        return;
    };
    for (name, schema) in properties {
        path.push(name.clone());
        if let Some(Value::String(header)) = schema.get("x-mcp-header") {
            if !header.is_empty() && header.bytes().all(is_token_char) {
                out.push(ParamHeader {
                    path: path.clone(),
                    name: header.clone(),
                });
            }
        }
        collect(schema.get("properties"), path, out);
        path.pop();
    }
}

/// RFC 9110 `tchar`.
fn is_token_char(b: u8) -> bool {
    b.is_ascii_alphanumeric() || b"!#$%&'*+-.^_`|~".contains(&b)
}

/// The argument at `path`, as header text: strings as they are, numbers and booleans as
/// their JSON text. `Ok(None)` when absent or null; `Err(())` for arrays and objects.
fn argument_text(arguments: &Value, path: &[String]) -> Result<Option<String>, ()> {
    let mut v = arguments;
    for key in path {
        match v.get(key) {
            Some(next) => v = next,
            None => return Ok(None),
        }
    }
    match v {
        Value::Null => Ok(None),
        Value::String(s) => Ok(Some(s.clone())),
        Value::Bool(b) => Ok(Some(b.to_string())),
        Value::Number(n) => Ok(Some(n.to_string())),
        Value::Array(_) | Value::Object(_) => Err(()),
    }
}

/// Encodes a value for a header: plain when it can travel as is, else Base64-wrapped.
pub fn encode(text: &str) -> String {
    let wrap = text.bytes().any(|b| !(0x20..0x7f).contains(&b))
        || text.starts_with([' ', '\t'])
        || text.ends_with([' ', '\t'])
        || (text.starts_with(B64_OPEN) && text.ends_with(B64_CLOSE));
    if !wrap {
        text.to_string()
    } else {
        format!(
            "{B64_OPEN}{}{B64_CLOSE}",
            base64::engine::general_purpose::STANDARD.encode(text)
        )
    }
}

/// Decodes a header value (surrounding spaces and tabs are not part of it): the wrapped
/// Base64 text, or the value itself. `None` when the wrapper holds anything but standard,
/// padded Base64 of UTF-8 text.
pub fn decode(raw: &str) -> Option<String> {
    let value = raw.trim_matches([' ', '\t']);
    match value
        .strip_prefix(B64_OPEN)
        .and_then(|v| v.strip_suffix(B64_CLOSE))
    {
        Some(inner) => base64::engine::general_purpose::STANDARD
            .decode(inner)
            .ok()
            .and_then(|bytes| String::from_utf8(bytes).ok()),
        None => Some(value.to_string()),
    }
}

/// The `Mcp-Param-*` headers of a request, as received: the lowercased name after the prefix
/// and the value (None when it is not visible ASCII, which headers cannot carry as text).
pub type Received = Vec<(String, Option<String>)>;

/// Why a request's `Mcp-Param-*` headers were refused: what the client sent wrong and how to
/// fix it (`message`), with the header and argument concerned (`data`).
#[derive(Clone, Debug, PartialEq)]
pub struct Refusal {
    /// What is wrong and what to send instead.
    pub message: String,
    /// `{"header", "argument"}`.
    pub data: Value,
}

/// Checks `received` headers against the tool's `annotations` and the call's `arguments`:
/// each annotated argument that is present (and not null) needs its header, once, carrying
/// the same value; an absent argument needs the header absent. Headers the schema does not
/// name are ignored.
pub fn check(
    tool: &str,
    annotations: &[ParamHeader],
    arguments: &Value,
    received: &[(String, Option<String>)],
) -> Result<(), Refusal> {
    const HOW: &str = "send the argument's value as the header's value: strings as they are, numbers and booleans as JSON text, and a value that is not plain visible ASCII (or has leading or trailing spaces) as =?base64?<standard padded Base64 of its UTF-8 bytes>?=";
    for a in annotations {
        let header = a.header();
        let argument = a.argument();
        let refuse = |message: String| {
            Err(Refusal {
                message,
                data: serde_json::json!({"header": header, "argument": argument}),
            })
        };
        let wanted = a.name.to_ascii_lowercase();
        let mut values = received
            .iter()
            .filter(|(n, _)| *n == wanted)
            .map(|(_, v)| v);
        let sent = values.next();
        if values.next().is_some() {
            return refuse(format!(
                "the {header} header is sent more than once; send it once, carrying {argument}"
            ));
        }
        let expected = match argument_text(arguments, &a.path) {
            Ok(v) => v,
            Err(()) => {
                return refuse(format!(
                    "{argument} of tool `{tool}` must be a string, number or boolean: its input schema mirrors it into the {header} header"
                ))
            }
        };
        match (sent, expected) {
            (None, None) => {}
            (None, Some(_)) => {
                return refuse(format!(
                    "the {header} header is missing: tool `{tool}` marks {argument} with x-mcp-header \"{}\", so a call that carries {argument} must also send it in the {header} header; {HOW}",
                    a.name
                ))
            }
            (Some(_), None) => {
                return refuse(format!(
                    "the {header} header is sent but {argument} is absent (or null); leave the header out or add the argument to the call"
                ))
            }
            (Some(None), Some(_)) => {
                return refuse(format!(
                    "the {header} header has characters a header cannot carry as text; {HOW}"
                ))
            }
            (Some(Some(raw)), Some(expected)) => match decode(raw) {
                None => {
                    return refuse(format!(
                        "the {header} header is not valid: its =?base64?…?= wrapper must hold standard padded Base64 (A–Z, a–z, 0–9, +, /, with = padding) of UTF-8 text; {HOW}"
                    ))
                }
                Some(got) if got != expected => {
                    return refuse(format!(
                        "the {header} header ({}) does not match {argument} ({}); {HOW}",
                        quoted(&got),
                        quoted(&expected)
                    ))
                }
                Some(_) => {}
            },
        }
    }
    Ok(())
}

/// A value for a message, shortened.
fn quoted(text: &str) -> String {
    const MAX: usize = 80;
    match text.char_indices().nth(MAX) {
        Some((i, _)) => format!("{:?}…", &text[..i]),
        None => format!("{text:?}"),
    }
}

/// The `Mcp-Param-*` headers a conformant client sends for `arguments` (name, encoded value),
/// for forwarding a call to a 2026-07-28 server. Absent, null and non-primitive arguments
/// send none.
pub fn outgoing(annotations: &[ParamHeader], arguments: &Value) -> Vec<(String, String)> {
    annotations
        .iter()
        .filter_map(|a| match argument_text(arguments, &a.path) {
            Ok(Some(text)) => Some((a.header(), encode(&text))),
            _ => None,
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn schema() -> Value {
        json!({"type": "object", "properties": {
            "value": {"type": "string", "x-mcp-header": "Value"},
            "count": {"type": "integer", "x-mcp-header": "Count"},
            "plain": {"type": "string"},
            "bad": {"type": "string", "x-mcp-header": "has space"},
            "loc": {"type": "object", "properties": {"region": {"type": "string", "x-mcp-header": "Region"}}}
        }})
    }

    fn got(pairs: &[(&str, &str)]) -> Received {
        pairs
            .iter()
            .map(|(n, v)| (n.to_ascii_lowercase(), Some(v.to_string())))
            .collect()
    }

    #[test]
    fn finds_annotations_on_properties_paths() {
        let a = annotations(&schema());
        let mut names: Vec<_> = a
            .iter()
            .map(|a| (a.path.join("."), a.name.clone()))
            .collect();
        names.sort();
        assert_eq!(
            names,
            vec![
                ("count".into(), "Count".into()),
                ("loc.region".into(), "Region".into()),
                ("value".into(), "Value".into())
            ]
        );
    }

    #[test]
    fn checks_values() {
        let a = annotations(&schema());
        let args = json!({"value": "Hello", "count": 42, "loc": {"region": "eu"}});
        let ok = got(&[("value", "Hello"), ("count", "42"), ("region", "eu")]);
        assert_eq!(check("t", &a, &args, &ok), Ok(()));
        let b64 = got(&[
            ("value", "=?base64?SGVsbG8=?="),
            ("count", "42"),
            ("region", "eu"),
        ]);
        assert_eq!(check("t", &a, &args, &b64), Ok(()));
        for bad in [
            "=?base64?SGVsbG8?=",
            "=?base64?SGVs!!!bG8=?=",
            "hello",
            "Hello2",
        ] {
            let h = got(&[("value", bad), ("count", "42"), ("region", "eu")]);
            let e = check("t", &a, &args, &h).unwrap_err();
            assert_eq!(e.data["header"], "Mcp-Param-Value", "{bad}");
        }
        // Without the wrapper's closing half the value is literal text.
        let lit = json!({"value": "=?base64?SGVsbG8="});
        let h = got(&[("value", "=?base64?SGVsbG8=")]);
        assert_eq!(check("t", &a, &lit, &h), Ok(()));
        // Missing, duplicated, unexpected.
        let e = check("t", &a, &args, &got(&[("count", "42"), ("region", "eu")])).unwrap_err();
        assert!(
            e.message.contains("Mcp-Param-Value header is missing"),
            "{}",
            e.message
        );
        let dup = got(&[
            ("value", "Hello"),
            ("VALUE", "Hello"),
            ("count", "42"),
            ("region", "eu"),
        ]);
        assert!(check("t", &a, &args, &dup)
            .unwrap_err()
            .message
            .contains("more than once"));
        let e = check("t", &a, &json!({}), &got(&[("region", "eu")])).unwrap_err();
        assert!(e.message.contains("absent"), "{}", e.message);
        // Not text.
        let raw = vec![("value".to_string(), None)];
        assert!(check("t", &a, &json!({"value": "é"}), &raw).is_err());
    }

    #[test]
    fn encodes_what_cannot_travel_plain() {
        assert_eq!(encode("us-west1"), "us-west1");
        assert_eq!(encode("Hello"), "Hello");
        assert_eq!(encode(" x"), "=?base64?IHg=?=");
        assert_eq!(decode(&encode("日本")).as_deref(), Some("日本"));
        assert_eq!(
            decode(&encode("=?base64?SGk=?=")).as_deref(),
            Some("=?base64?SGk=?=")
        );
        let out = outgoing(
            &annotations(&schema()),
            &json!({"value": "é", "count": 7, "plain": "x"}),
        );
        let mut out: Vec<_> = out.into_iter().collect();
        out.sort();
        assert_eq!(
            out,
            vec![
                ("Mcp-Param-Count".to_string(), "7".to_string()),
                ("Mcp-Param-Value".to_string(), "=?base64?w6k=?=".to_string())
            ]
        );
    }
}
