//! Multi-round-trip results (SEP-2322) for 2026-07-28 clients.
//!
//! A downstream that speaks 2026-07-28 answers a call that needs the client's input with
//! `resultType: "input_required"`, `inputRequests` and an optional `requestState`; the client
//! retries with `inputResponses` and the echoed state. The gateway passes the input requests
//! on (only those the client declared it can answer) but never hands the downstream's state to
//! the client as is: it seals it (AES-GCM, like session ids) together with the user, the OAuth
//! client, the method and exposed name, and an expiry. A retry is accepted only with a state
//! that opens and matches; the downstream then gets its own state back. So no pending-round
//! table exists, any replica can serve the retry, and a state cannot be altered, replayed by
//! another user or client, moved to another tool, or used after it expires.

use crate::upstream::ClientCaps;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use base64::Engine;
use chamberlain_auth::crypto::SecretBox;
use serde::{Deserialize, Serialize};
use serde_json::{Map, Value};

const CONTEXT: &str = "mcp-request-state";
/// How long a client has to answer an `input_required` result.
pub const STATE_TTL_SECS: i64 = 600;

/// What a gateway `requestState` carries.
#[derive(Serialize, Deserialize, Debug, PartialEq)]
struct Sealed {
    /// The user.
    u: String,
    /// The OAuth client.
    c: String,
    /// The method (`tools/call`, `prompts/get`, …).
    m: String,
    /// The exposed name (tool or prompt) or URI.
    n: String,
    /// Expires at (Unix seconds).
    x: i64,
    /// The downstream's own `requestState`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    s: Option<String>,
    /// The input was asked for by the gateway itself (connecting an account), not by the
    /// downstream: the answers are not forwarded.
    #[serde(default)]
    g: bool,
    /// Random, so two states never compare equal.
    r: String,
}

/// Who a state is for: the request it may be echoed on.
#[derive(Clone, Copy, Debug)]
pub struct Scope<'a> {
    /// The user.
    pub user: &'a str,
    /// The OAuth client.
    pub client: &'a str,
    /// The method.
    pub method: &'a str,
    /// The exposed name or URI.
    pub name: &'a str,
}

/// What a retry brings: to forward to the downstream, unless the gateway asked.
#[derive(Debug, Default)]
pub struct Retry {
    /// The client's answers (a JSON object of objects).
    pub input_responses: Option<Value>,
    /// The downstream's state, recovered from the gateway's.
    pub downstream_state: Option<String>,
    /// The input was the gateway's own request (the answers stay here).
    pub gateway_own: bool,
}

impl Retry {
    /// Adds what the downstream should see of this retry to its params.
    pub fn apply(&self, params: &mut Value) {
        if self.gateway_own {
            return;
        }
        if let Some(r) = &self.input_responses {
            params["inputResponses"] = r.clone();
        }
        if let Some(s) = &self.downstream_state {
            params["requestState"] = Value::String(s.clone());
        }
    }
}

/// Seals a `requestState` for `scope` carrying the downstream's state.
pub fn seal(
    secrets: &SecretBox,
    scope: Scope<'_>,
    downstream: Option<String>,
    gateway_own: bool,
    now: i64,
) -> String {
    let sealed = Sealed {
        u: scope.user.into(),
        c: scope.client.into(),
        m: scope.method.into(),
        n: scope.name.into(),
        x: now + STATE_TTL_SECS,
        s: downstream,
        g: gateway_own,
        r: chamberlain_model::new_id(),
    };
    let plain = serde_json::to_vec(&sealed).unwrap_or_default();
    URL_SAFE_NO_PAD.encode(secrets.seal(&plain, CONTEXT))
}

/// Reads the `inputResponses` and `requestState` of a request's params for `scope`: None when
/// it carries neither; an error message (for a `-32602` answer) when they are malformed, the
/// state does not open (altered, or not the gateway's), belongs to another user, client or
/// request, or has expired.
pub fn retry(
    secrets: &SecretBox,
    params: &Value,
    scope: Scope<'_>,
    now: i64,
) -> Result<Option<Retry>, String> {
    let responses = match params.get("inputResponses") {
        None | Some(Value::Null) => None,
        Some(Value::Object(m)) => {
            if let Some((k, _)) = m.iter().find(|(_, v)| !v.is_object()) {
                return Err(format!("params.inputResponses.{k} must be an object: the result of the input request under that key"));
            }
            Some(Value::Object(m.clone()))
        }
        Some(_) => return Err(
            "params.inputResponses must be an object mapping each inputRequests key to its result"
                .into(),
        ),
    };
    let state = match params.get("requestState") {
        None | Some(Value::Null) => None,
        Some(Value::String(s)) => Some(s.as_str()),
        Some(_) => return Err(
            "params.requestState must be the string of the input_required result, echoed unchanged"
                .into(),
        ),
    };
    let Some(state) = state else {
        return Ok(responses.map(|r| Retry {
            input_responses: Some(r),
            ..Retry::default()
        }));
    };
    let sealed = open(secrets, state).ok_or_else(|| {
        "requestState failed its integrity check: it was altered or not issued by this gateway"
            .to_string()
    })?;
    if sealed.u != scope.user || sealed.c != scope.client {
        return Err("requestState was issued to another user or client".into());
    }
    if sealed.m != scope.method || sealed.n != scope.name {
        return Err(format!(
            "requestState belongs to another request ({} `{}`)",
            sealed.m, sealed.n
        ));
    }
    if now >= sealed.x {
        return Err(format!(
            "requestState has expired (it is valid for {STATE_TTL_SECS} s): send the request again without it"
        ));
    }
    Ok(Some(Retry {
        input_responses: responses,
        downstream_state: sealed.s,
        gateway_own: sealed.g,
    }))
}

fn open(secrets: &SecretBox, state: &str) -> Option<Sealed> {
    let sealed = URL_SAFE_NO_PAD.decode(state.as_bytes()).ok()?;
    let sealed = String::from_utf8(sealed).ok()?;
    let plain = secrets.open(&sealed, CONTEXT).ok()?;
    serde_json::from_slice(&plain).ok()
}

/// Turns a downstream's `input_required` result into the client's: checks that every input
/// request is one the client declared it can answer (else why not) and replaces the
/// downstream's `requestState` with a sealed one.
pub fn pass_on(
    secrets: &SecretBox,
    scope: Scope<'_>,
    caps: ClientCaps,
    mut result: Value,
    now: i64,
) -> Result<Value, String> {
    let requests: &Map<String, Value> = result
        .get("inputRequests")
        .and_then(Value::as_object)
        .filter(|r| !r.is_empty())
        .ok_or("the server answered input_required without inputRequests")?;
    for (key, r) in requests {
        let method = r.get("method").and_then(Value::as_str).unwrap_or("");
        caps.allows(method, r.get("params"))
            .map_err(|why| format!("the server's input request `{key}`: {why}"))?;
    }
    let downstream = match result.get("requestState") {
        None | Some(Value::Null) => None,
        Some(Value::String(s)) => Some(s.clone()),
        Some(_) => return Err("the server's requestState is not a string".into()),
    };
    result["requestState"] = Value::String(seal(secrets, scope, downstream, false, now));
    Ok(result)
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    const SCOPE: Scope<'static> = Scope {
        user: "u",
        client: "c",
        method: "tools/call",
        name: "t",
    };

    #[test]
    fn states_are_bound_and_expire() {
        let b = SecretBox::new(&[5; 32]);
        let st = seal(&b, SCOPE, Some("inner".into()), false, 1000);
        let p = json!({"inputResponses": {"k": {"action": "accept"}}, "requestState": st});
        let r = retry(&b, &p, SCOPE, 1001).unwrap().unwrap();
        assert_eq!(r.downstream_state.as_deref(), Some("inner"));
        let mut down = json!({});
        r.apply(&mut down);
        assert_eq!(down["requestState"], "inner");
        assert_eq!(down["inputResponses"]["k"]["action"], "accept");
        let other = |f: fn(&mut Scope<'static>)| {
            let mut s = SCOPE;
            f(&mut s);
            retry(&b, &p, s, 1001).unwrap_err()
        };
        assert!(other(|s| s.user = "v").contains("another user"));
        assert!(other(|s| s.client = "d").contains("another user or client"));
        assert!(other(|s| s.name = "t2").contains("another request"));
        assert!(retry(&b, &p, SCOPE, 1000 + STATE_TTL_SECS)
            .unwrap_err()
            .contains("expired"));
        let tampered = json!({"requestState": format!("{st}-TAMPERED")});
        assert!(retry(&b, &tampered, SCOPE, 1001)
            .unwrap_err()
            .contains("integrity"));
        let foreign =
            json!({"requestState": seal(&SecretBox::new(&[6; 32]), SCOPE, None, false, 1000)});
        assert!(retry(&b, &foreign, SCOPE, 1001)
            .unwrap_err()
            .contains("integrity"));
        for bad in [
            json!({"inputResponses": [1]}),
            json!({"inputResponses": {"k": 1}}),
            json!({"requestState": 5}),
        ] {
            assert!(retry(&b, &bad, SCOPE, 1001).is_err(), "{bad}");
        }
        assert!(retry(&b, &json!({}), SCOPE, 1001).unwrap().is_none());
        // The gateway's own input requests are not forwarded.
        let own = json!({"inputResponses": {"connect": {"action": "accept"}},
            "requestState": seal(&b, SCOPE, None, true, 1000)});
        let mut down = json!({});
        retry(&b, &own, SCOPE, 1001)
            .unwrap()
            .unwrap()
            .apply(&mut down);
        assert_eq!(down, json!({}));
    }

    #[test]
    fn input_requests_need_the_capability() {
        let b = SecretBox::new(&[5; 32]);
        let sampling = ClientCaps {
            sampling: true,
            ..Default::default()
        };
        let r = json!({"resultType": "input_required", "requestState": "down",
            "inputRequests": {"q": {"method": "sampling/createMessage", "params": {}}}});
        let out = pass_on(&b, SCOPE, sampling, r.clone(), 1).unwrap();
        assert_ne!(out["requestState"], "down");
        let p = json!({"requestState": out["requestState"]});
        let back = retry(&b, &p, SCOPE, 2).unwrap().unwrap();
        assert_eq!(back.downstream_state.as_deref(), Some("down"));
        assert!(pass_on(&b, SCOPE, ClientCaps::default(), r, 1)
            .unwrap_err()
            .contains("sampling"));
        assert!(pass_on(
            &b,
            SCOPE,
            sampling,
            json!({"resultType": "input_required"}),
            1
        )
        .is_err());
    }
}
