//! The MCP gateway end to end over HTTP: registering servers (remote and hosted), discovery and
//! review, toolsets granted through the task engine, `tools/list` and `tools/call` through
//! `/mcp` in both protocol eras, revocation and JIT expiry, kill switches, the audit, and the
//! refusals. The downstream server is `chamberlain-mcp-fixture` (crates/mcp-fixture), an MCP
//! server written for these tests on the official Rust SDK.

use crate::harness::TestServer;
use serde_json::{json, Value};
use std::path::PathBuf;
use std::time::Duration;

/// Path of the fixture MCP server binary, built on first use if the test run did not build it.
pub fn fixture_bin() -> PathBuf {
    static BUILT: std::sync::OnceLock<PathBuf> = std::sync::OnceLock::new();
    BUILT
        .get_or_init(|| {
            let exe = std::env::current_exe().unwrap();
            let path = exe
                .parent()
                .unwrap()
                .parent()
                .unwrap()
                .join("chamberlain-mcp-fixture");
            if !path.is_file() {
                let status = std::process::Command::new(env!("CARGO"))
                    .args(["build", "-p", "chamberlain-mcp-fixture"])
                    .status()
                    .unwrap();
                assert!(status.success(), "building chamberlain-mcp-fixture failed");
            }
            path
        })
        .clone()
}

/// A running fixture server (killed on drop).
pub struct Fixture {
    pub url: String,
    child: std::process::Child,
}

impl Drop for Fixture {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// Starts the fixture over HTTP with extra arguments and waits for its URL.
pub fn fixture(args: &[&str]) -> Fixture {
    use std::io::BufRead;
    let mut child = std::process::Command::new(fixture_bin())
        .args(["--listen", "127.0.0.1:0"])
        .args(args)
        .stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::null())
        .spawn()
        .unwrap();
    let stdout = child.stdout.take().unwrap();
    let mut line = String::new();
    std::io::BufReader::new(stdout)
        .read_line(&mut line)
        .unwrap();
    let url = line
        .trim()
        .strip_prefix("listening on ")
        .unwrap_or_else(|| panic!("unexpected fixture output: {line}"))
        .to_string();
    Fixture { url, child }
}

/// A user with a password whose AI client was authorized through the real OAuth flow
/// (registration, sign-in, consent, PKCE code exchange): (user id, gateway access token).
pub async fn ai_user(s: &TestServer, email: &str) -> (String, String) {
    let id = crate::oauth::user_with_password(s, email).await;
    let (_, token, _) =
        crate::oauth::connect(s, &crate::oauth::browser(), "Test AI client", email).await;
    (id, token)
}

/// A token signed by the server for `resource` without an authorization behind it (for
/// refusal tests only).
pub fn mcp_token(s: &TestServer, user: &str, resource: &str) -> String {
    let now = chamberlain_model::Timestamp::now().unix_seconds();
    s.state
        .issuer
        .issue_for_resource(user, "test-ai-client", resource, "mcp", 600, now)
}

/// A minimal legacy-era MCP client over raw HTTP (the official clients are exercised by the
/// Python end-to-end test).
pub struct Session {
    pub http: reqwest::Client,
    pub url: String,
    pub token: String,
    pub id: String,
    next: i64,
}

impl Session {
    pub async fn open(url: &str, token: &str) -> Session {
        Session::open_with(url, token, json!({})).await
    }

    /// Opens a session declaring `capabilities` (e.g. URL-mode elicitation).
    pub async fn open_with(url: &str, token: &str, capabilities: Value) -> Session {
        let http = reqwest::Client::new();
        let resp = http
            .post(url)
            .bearer_auth(token)
            .header("Accept", "application/json, text/event-stream")
            .json(&json!({"jsonrpc": "2.0", "id": 0, "method": "initialize", "params": {
                "protocolVersion": "2025-11-25", "capabilities": capabilities, "clientInfo": {"name": "test", "version": "1"}}}))
            .send()
            .await
            .unwrap();
        assert_eq!(resp.status(), 200);
        let id = resp.headers()["mcp-session-id"]
            .to_str()
            .unwrap()
            .to_string();
        let v: Value = resp.json().await.unwrap();
        assert_eq!(v["result"]["protocolVersion"], "2025-11-25");
        assert_eq!(v["result"]["capabilities"]["tools"]["listChanged"], true);
        let s = Session {
            http,
            url: url.into(),
            token: token.into(),
            id,
            next: 1,
        };
        let (st, _) = s
            .send(json!({"jsonrpc": "2.0", "method": "notifications/initialized"}))
            .await;
        assert_eq!(st, 202);
        s
    }

    pub async fn send(&self, msg: Value) -> (u16, Value) {
        let resp = self
            .http
            .post(&self.url)
            .bearer_auth(&self.token)
            .header("Accept", "application/json, text/event-stream")
            .header("Mcp-Session-Id", &self.id)
            .header("MCP-Protocol-Version", "2025-11-25")
            .json(&msg)
            .send()
            .await
            .unwrap();
        let st = resp.status().as_u16();
        let text = resp.text().await.unwrap();
        (st, serde_json::from_str(&text).unwrap_or(Value::Null))
    }

    /// POSTs `msg` and returns the response unread (an SSE stream, or JSON).
    pub async fn stream(&self, msg: Value) -> Events {
        let resp = self
            .http
            .post(&self.url)
            .bearer_auth(&self.token)
            .header("Accept", "application/json, text/event-stream")
            .header("Mcp-Session-Id", &self.id)
            .header("MCP-Protocol-Version", "2025-11-25")
            .json(&msg)
            .send()
            .await
            .unwrap();
        assert_eq!(resp.status(), 200);
        Events::new(resp)
    }

    /// Opens the session's GET stream.
    pub async fn listen(&self) -> Events {
        let resp = self
            .http
            .get(&self.url)
            .bearer_auth(&self.token)
            .header("Accept", "text/event-stream")
            .header("Mcp-Session-Id", &self.id)
            .header("MCP-Protocol-Version", "2025-11-25")
            .send()
            .await
            .unwrap();
        assert_eq!(resp.status(), 200);
        Events::new(resp)
    }

    pub async fn request(&mut self, method: &str, params: Value) -> Value {
        self.next += 1;
        let (st, v) = self
            .send(json!({"jsonrpc": "2.0", "id": self.next, "method": method, "params": params}))
            .await;
        assert_eq!(st, 200, "{method}: {v}");
        v
    }

    pub async fn tool_names(&mut self) -> Vec<String> {
        let v = self.request("tools/list", json!({})).await;
        v["result"]["tools"]
            .as_array()
            .unwrap_or_else(|| panic!("{v}"))
            .iter()
            .map(|t| t["name"].as_str().unwrap().to_string())
            .collect()
    }

    pub async fn call(&mut self, tool: &str, args: Value) -> Value {
        let v = self
            .request("tools/call", json!({"name": tool, "arguments": args}))
            .await;
        v["result"].clone()
    }
}

/// The JSON messages of a response as they arrive (SSE events, or one JSON body).
pub struct Events {
    resp: reqwest::Response,
    buf: String,
    sse: bool,
    done: bool,
}

impl Events {
    fn new(resp: reqwest::Response) -> Events {
        let sse = resp.headers()["content-type"]
            .to_str()
            .unwrap()
            .starts_with("text/event-stream");
        Events {
            resp,
            buf: String::new(),
            sse,
            done: false,
        }
    }

    /// The next message, or None when none comes within `wait`.
    pub async fn next_within(&mut self, wait: Duration) -> Option<Value> {
        let until = tokio::time::Instant::now() + wait;
        loop {
            if !self.sse && self.done {
                return None;
            }
            if let Some(i) = self.buf.find("\n\n").filter(|_| self.sse) {
                let event: String = self.buf.drain(..i + 2).collect();
                let data: Vec<&str> = event
                    .lines()
                    .filter_map(|l| l.strip_prefix("data:"))
                    .map(str::trim_start)
                    .collect();
                if data.is_empty() {
                    continue;
                }
                return Some(serde_json::from_str(&data.join("\n")).unwrap());
            }
            let chunk = tokio::time::timeout_at(until, self.resp.chunk())
                .await
                .ok()?
                .unwrap()?;
            self.buf.push_str(&String::from_utf8_lossy(&chunk));
            if !self.sse {
                if let Ok(v) = serde_json::from_str(&self.buf) {
                    self.done = true;
                    return Some(v);
                }
            }
        }
    }

    /// Every message within `wait`, but tool list changes (the gateway sends those whenever
    /// its registry reloads).
    pub async fn collect(&mut self, wait: Duration) -> Vec<Value> {
        let until = tokio::time::Instant::now() + wait;
        let mut got = Vec::new();
        while let Some(m) = self
            .next_within(until.saturating_duration_since(tokio::time::Instant::now()))
            .await
        {
            if m["method"] != "notifications/tools/list_changed" {
                got.push(m);
            }
        }
        got
    }

    /// The next message (within 10 s).
    pub async fn next(&mut self) -> Value {
        self.next_within(Duration::from_secs(10))
            .await
            .expect("a message within 10 s")
    }
}

pub(crate) fn denial(tool: &str) -> String {
    format!("Access denied: tool `{tool}` is not in your current tool list.")
}

fn text_of(result: &Value) -> String {
    result["content"][0]["text"]
        .as_str()
        .unwrap_or("")
        .to_string()
}

async fn tools_by_name(
    s: &TestServer,
    app: &str,
    server: &str,
) -> std::collections::HashMap<String, Value> {
    let v = s
        .ok(
            "GET",
            &format!("/api/v1/apps/{app}/connectors/{server}/mcp_tools?page_size=100"),
            None,
        )
        .await;
    v["tools"]
        .as_array()
        .unwrap()
        .iter()
        .map(|t| (t["toolName"].as_str().unwrap().to_string(), t.clone()))
        .collect()
}

async fn set_tool(
    s: &TestServer,
    app: &str,
    server: &str,
    tool: &Value,
    patch: Value,
    mask: &str,
) -> Value {
    let id = tool["id"].as_str().unwrap();
    s.ok(
        "POST",
        &format!("/api/v1/apps/{app}/connectors/{server}/mcp_tools/{id}"),
        Some(json!({"tool": patch, "updateMask": mask})),
    )
    .await["tool"]
        .clone()
}

/// Grants `ent` of `app` to `user` through the task engine (as the super admin), optionally
/// for `duration`; returns the task.
pub(crate) async fn grant(
    s: &TestServer,
    app: &str,
    ent: &str,
    user: &str,
    duration: Option<&str>,
) -> Value {
    let mut body = json!({"appId": app, "appEntitlementId": ent, "identityUserId": user, "description": "test"});
    if let Some(d) = duration {
        body["grantDuration"] = json!(d);
    }
    let v = s.ok("POST", "/api/v1/task/grant", Some(body)).await;
    assert_eq!(
        v["taskView"]["task"]["type"]["grant"]["outcome"], "GRANT_OUTCOME_GRANTED",
        "{v}"
    );
    v
}

async fn revoke(s: &TestServer, app: &str, ent: &str, user: &str) {
    let v = s
        .ok(
            "POST",
            "/api/v1/task/revoke",
            Some(json!({"appId": app, "appEntitlementId": ent, "identityUserId": user, "description": "test"})),
        )
        .await;
    assert_eq!(
        v["taskView"]["task"]["type"]["revoke"]["outcome"], "REVOKE_OUTCOME_REVOKED",
        "{v}"
    );
}

/// An app whose grants and revokes are decided without approval.
pub(crate) async fn auto_app(s: &TestServer, name: &str) -> String {
    let app = s.create_app(name).await;
    let grant = s
        .ok(
            "POST",
            "/api/v1/policies",
            Some(
                json!({"displayName": format!("{name} auto"), "policyType": "POLICY_TYPE_GRANT",
            "policySteps": {"grant": {"steps": [{"accept": {}}]}}}),
            ),
        )
        .await;
    let revoke = s
        .ok("POST", "/api/v1/policies", Some(json!({"displayName": format!("{name} auto revoke"), "policyType": "POLICY_TYPE_REVOKE",
            "policySteps": {"revoke": {"steps": [{"accept": {}}]}}})))
        .await;
    s.ok(
        "POST",
        &format!("/api/v1/apps/{app}"),
        Some(json!({"app": {"grantPolicyId": grant["policy"]["id"], "revokePolicyId": revoke["policy"]["id"]},
            "updateMask": "grantPolicyId,revokePolicyId"})),
    )
    .await;
    app
}

/// The MCP audit records of `user` with `result` (SUCCESS, DENIED, ERROR), newest first.
async fn audit_of(s: &TestServer, user: &str, result: &str) -> Vec<Value> {
    let v = s
        .ok(
            "POST",
            "/api/v1/ai-governance/audit/search",
            Some(json!({"userIds": [user], "results": [result], "pageSize": 100})),
        )
        .await;
    v["list"].as_array().unwrap().clone()
}

/// Whether `records` hold one for `method` on `name` whose reason contains `reason`.
fn has(records: &[Value], method: &str, name: &str, reason: &str) -> bool {
    records.iter().any(|r| {
        r["method"] == method
            && r["toolName"] == name
            && r["reason"].as_str().unwrap().contains(reason)
    })
}

/// Registers the remote MCP server at `url` under `app` with tool approval off (tools are
/// approved as discovered) and tool prefix `prefix` ("" for none); returns its connector id.
pub(crate) async fn register_auto_approved(
    s: &TestServer,
    app: &str,
    name: &str,
    prefix: &str,
    url: &str,
) -> String {
    let mut body = json!({"displayName": name, "serverType": "MCP_SERVER_TYPE_EXTERNAL",
        "externalConfig": {"url": url, "requireToolApproval": "OPTIONAL_BOOL_FALSE"}});
    if !prefix.is_empty() {
        body["toolPrefix"] = json!(prefix);
    }
    register_server(s, app, body).await.1
}

/// Registers an MCP server under `app`: (the answer, its connector id).
pub(crate) async fn register_server(s: &TestServer, app: &str, body: Value) -> (Value, String) {
    let reg = s
        .ok(
            "POST",
            &format!("/api/v1/apps/{app}/mcp_servers"),
            Some(body),
        )
        .await;
    let id = reg["mcpServer"]["connectorId"]
        .as_str()
        .unwrap()
        .to_string();
    (reg, id)
}

/// The id of the server's built-in "All approved" toolset's entitlement.
pub(crate) async fn all_approved_entitlement(s: &TestServer, app: &str, server: &str) -> String {
    let sets = s
        .ok(
            "GET",
            &format!("/api/v1/apps/{app}/connectors/{server}/mcp_toolsets"),
            None,
        )
        .await;
    sets["profiles"]
        .as_array()
        .unwrap()
        .iter()
        .find(|t| t["chamberlainBuiltIn"] == "ALL_APPROVED")
        .unwrap()["appEntitlementId"]
        .as_str()
        .unwrap()
        .to_string()
}

/// A new AI user granted the server's "All approved" toolset, with an open gateway session:
/// (user id, session).
pub(crate) async fn entitled_session(
    s: &TestServer,
    app: &str,
    server: &str,
    email: &str,
) -> (String, Session) {
    let ent = all_approved_entitlement(s, app, server).await;
    let (user, tok) = ai_user(s, email).await;
    grant(s, app, &ent, &user, None).await;
    let sess = Session::open(&format!("{}/mcp", s.base), &tok).await;
    (user, sess)
}

/// Waits until `f` is true (up to 10 s).
pub(crate) async fn eventually<F, Fut>(what: &str, mut f: F)
where
    F: FnMut() -> Fut,
    Fut: std::future::Future<Output = bool>,
{
    for _ in 0..100 {
        if f().await {
            return;
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    panic!("timed out waiting for {what}");
}

pub async fn gateway_governs_tools_end_to_end(s: &TestServer) {
    let tools_file =
        std::env::temp_dir().join(format!("mcp-tools-{}.json", chamberlain_model::new_id()));
    std::fs::write(&tools_file, r#"[{"name": "create_ticket", "description": "Opens a ticket", "annotations": {"destructiveHint": false}}]"#).unwrap();
    let fx = fixture(&[
        "--require-bearer",
        "down-secret",
        "--tools-file",
        tools_file.to_str().unwrap(),
    ]);
    let app = auto_app(s, "Fixture tools").await;

    // Register: the downstream token is sealed, never served; discovery runs at once.
    let reg = s
        .ok(
            "POST",
            &format!("/api/v1/apps/{app}/mcp_servers"),
            Some(json!({"displayName": "Fixture", "serverType": "MCP_SERVER_TYPE_EXTERNAL", "toolPrefix": "fx",
                "externalConfig": {"url": fx.url, "transportType": "MCP_SERVER_TRANSPORT_TYPE_STREAMABLE_HTTP",
                    "bearerToken": {"token": "down-secret"}}})),
        )
        .await;
    assert!(
        !reg.to_string().contains("down-secret"),
        "secret echoed: {reg}"
    );
    let server = reg["mcpServer"]["connectorId"]
        .as_str()
        .unwrap()
        .to_string();
    assert_eq!(
        reg["mcpServer"]["authMethod"],
        "MCP_SERVER_AUTH_METHOD_BEARER_TOKEN"
    );
    assert_eq!(reg["mcpServer"]["bearerTokenConfigured"], true);
    let report = &reg["mcpServer"]["chamberlainLastDiscovery"];
    assert_eq!(report["ok"], true, "{report}");
    assert!(report["added"].as_u64().unwrap() >= 4, "{report}");
    assert!(report["note"].as_str().unwrap().contains("does not prove"));
    let got = s
        .ok(
            "GET",
            &format!("/api/v1/apps/{app}/mcp_servers/{server}"),
            None,
        )
        .await;
    assert!(!got.to_string().contains("down-secret"));

    // Review: everything starts pending (tenant default), classified from annotations.
    let tools = tools_by_name(s, &app, &server).await;
    for t in tools.values() {
        assert_eq!(t["state"], "MCP_TOOL_STATE_PENDING_REVIEW", "{t}");
        assert!(!t["appEntitlementId"].as_str().unwrap().is_empty());
    }
    assert_eq!(tools["echo"]["classification"], "TOOL_CLASSIFICATION_READ");
    assert_eq!(
        tools["delete_item"]["classification"],
        "TOOL_CLASSIFICATION_DESTRUCTIVE"
    );
    assert_eq!(
        tools["create_ticket"]["classification"],
        "TOOL_CLASSIFICATION_WRITE"
    );
    assert_eq!(tools["echo"]["chamberlainExposedName"], "fx_echo");

    // Alice's AI client connects: no grants, no tools.
    let (alice, tok) = ai_user(s, "alice@example.com").await;
    let mcp_url = format!("{}/mcp", s.base);
    let mut sess = Session::open(&mcp_url, &tok).await;
    assert!(sess.tool_names().await.is_empty());

    for name in ["echo", "whoami", "create_ticket"] {
        set_tool(
            s,
            &app,
            &server,
            &tools[name],
            json!({"state": "MCP_TOOL_STATE_APPROVED"}),
            "state",
        )
        .await;
    }
    // Classification is editable: whoami reveals request details, so it is not "read-only".
    let who = set_tool(
        s,
        &app,
        &server,
        &tools["whoami"],
        json!({"classification": "TOOL_CLASSIFICATION_SENSITIVE"}),
        "classification",
    )
    .await;
    assert_eq!(who["classification"], "TOOL_CLASSIFICATION_SENSITIVE");
    let sets = s
        .ok(
            "GET",
            &format!("/api/v1/apps/{app}/connectors/{server}/mcp_toolsets"),
            None,
        )
        .await;
    let sets = sets["profiles"].as_array().unwrap().clone();
    assert_eq!(sets.len(), 2, "{sets:?}");
    let all = sets
        .iter()
        .find(|t| t["chamberlainBuiltIn"] == "ALL_APPROVED")
        .unwrap()
        .clone();
    let ro = sets
        .iter()
        .find(|t| t["chamberlainBuiltIn"] == "READ_ONLY")
        .unwrap()
        .clone();
    assert_eq!(all["toolCount"], 3);
    assert_eq!(ro["toolCount"], 1, "only echo is approved and READ: {ro}");

    // Granting "Read-only" shows exactly the approved READ tools.
    let ro_ent = ro["appEntitlementId"].as_str().unwrap();
    grant(s, &app, ro_ent, &alice, None).await;
    assert_eq!(sess.tool_names().await, ["fx_echo"]);
    let r = sess.call("fx_echo", json!({"message": "hi"})).await;
    assert_eq!(text_of(&r), "hi", "{r}");
    let r = sess.call("fx_whoami", json!({})).await;
    assert_eq!(r["isError"], true);
    assert_eq!(text_of(&r), denial("fx_whoami"));

    // A custom toolset with whoami: the downstream sees the server's credential, never the
    // AI client's token.
    let custom = s
        .ok(
            "POST",
            &format!("/api/v1/apps/{app}/connectors/{server}/mcp_toolsets"),
            Some(json!({"displayName": "Diagnostics", "description": "who am I"})),
        )
        .await["profile"]
        .clone();
    let custom_id = custom["id"].as_str().unwrap();
    s.ok(
        "POST",
        &format!("/api/v1/apps/{app}/connectors/{server}/mcp_toolsets/{custom_id}/tool_bindings"),
        Some(json!({"mcpToolIds": [tools["whoami"]["id"]]})),
    )
    .await;
    grant(
        s,
        &app,
        custom["appEntitlementId"].as_str().unwrap(),
        &alice,
        None,
    )
    .await;
    assert_eq!(sess.tool_names().await, ["fx_echo", "fx_whoami"]);
    let r = sess.call("fx_whoami", json!({})).await;
    let who: Value = serde_json::from_str(&text_of(&r)).unwrap_or_else(|_| panic!("{r}"));
    assert_eq!(who["authorization"], "Bearer down-secret");
    assert!(!text_of(&r).contains(&tok));
    let hist = s
        .ok("GET", &format!("/api/v1/apps/{app}/connectors/{server}/mcp_toolsets/{custom_id}/tool_bindings/history"), None)
        .await;
    assert_eq!(
        hist["list"][0]["items"][0]["changeKind"],
        "LIST_CHANGE_KIND_ADDED"
    );

    // Pending and destructive tools stay hidden and denied.
    let r = sess.call("fx_delete_item", json!({"id": "1"})).await;
    assert_eq!(text_of(&r), denial("fx_delete_item"));

    // A changed definition keeps its state, flagged for re-review; a vanished tool is removed.
    std::fs::write(&tools_file, r#"[{"name": "create_ticket", "description": "Opens a ticket in any project", "annotations": {"destructiveHint": false}}]"#).unwrap();
    s.ok(
        "POST",
        &format!("/api/v1/apps/{app}/mcp_servers/{server}/resync_tools"),
        Some(json!({})),
    )
    .await;
    let t = &tools_by_name(s, &app, &server).await["create_ticket"];
    assert_eq!(t["state"], "MCP_TOOL_STATE_APPROVED");
    assert_eq!(t["chamberlainNeedsReview"], true);
    assert_eq!(
        t["chamberlainReviewedDefinition"]["description"],
        "Opens a ticket"
    );
    assert_eq!(t["description"], "Opens a ticket in any project");
    std::fs::write(&tools_file, "[]").unwrap();
    s.ok(
        "POST",
        &format!("/api/v1/apps/{app}/mcp_servers/{server}/resync_tools"),
        Some(json!({})),
    )
    .await;
    let t = &tools_by_name(s, &app, &server).await["create_ticket"];
    assert_eq!(t["state"], "MCP_TOOL_STATE_REMOVED");
    let id = t["id"].as_str().unwrap();
    let h = s
        .ok(
            "GET",
            &format!("/api/v1/apps/{app}/connectors/{server}/mcp_tools/{id}/history"),
            None,
        )
        .await;
    let kinds: Vec<&str> = h["list"]
        .as_array()
        .unwrap()
        .iter()
        .map(|e| e["metadata"]["annotations"][0]["value"].as_str().unwrap())
        .collect();
    assert_eq!(
        kinds,
        [
            "tool.removed",
            "tool.changed",
            "tool.updated",
            "tool.discovered"
        ]
    );

    // Revocation: the open session hears list_changed and the very next call is denied.
    let mut stream = sess
        .http
        .get(&mcp_url)
        .bearer_auth(&tok)
        .header("Accept", "text/event-stream")
        .header("Mcp-Session-Id", &sess.id)
        .send()
        .await
        .unwrap();
    assert_eq!(stream.status(), 200);
    revoke(s, &app, ro_ent, &alice).await;
    let r = sess.call("fx_echo", json!({"message": "again"})).await;
    assert_eq!(text_of(&r), denial("fx_echo"));
    let mut seen = String::new();
    let deadline = tokio::time::Instant::now() + Duration::from_secs(10);
    while !seen.contains("notifications/tools/list_changed") {
        let chunk = tokio::time::timeout_at(deadline, stream.chunk())
            .await
            .expect("no list_changed")
            .unwrap()
            .unwrap();
        seen.push_str(&String::from_utf8_lossy(&chunk));
    }

    // JIT: a grant that ends denies at its end, before the expiry job runs.
    grant(s, &app, ro_ent, &alice, Some("2s")).await;
    assert_eq!(
        text_of(&sess.call("fx_echo", json!({"message": "jit"})).await),
        "jit"
    );
    tokio::time::sleep(Duration::from_millis(2200)).await;
    assert_eq!(
        text_of(&sess.call("fx_echo", json!({"message": "late"})).await),
        denial("fx_echo")
    );

    // Kill switches: per tool, per server, then off again.
    grant(s, &app, ro_ent, &alice, None).await;
    let echo = &tools["echo"];
    set_tool(
        s,
        &app,
        &server,
        echo,
        json!({"chamberlainKilled": true}),
        "chamberlainKilled",
    )
    .await;
    assert_eq!(
        text_of(&sess.call("fx_echo", json!({"message": "k"})).await),
        denial("fx_echo")
    );
    set_tool(
        s,
        &app,
        &server,
        echo,
        json!({"chamberlainKilled": false}),
        "chamberlainKilled",
    )
    .await;
    s.ok(
        "POST",
        &format!("/api/v1/apps/{app}/mcp_servers/{server}"),
        Some(json!({"mcpServer": {"chamberlainKilled": true}, "updateMask": "chamberlainKilled"})),
    )
    .await;
    assert!(sess.tool_names().await.is_empty());
    assert_eq!(
        text_of(&sess.call("fx_echo", json!({"message": "k"})).await),
        denial("fx_echo")
    );
    s.ok(
        "POST",
        &format!("/api/v1/apps/{app}/mcp_servers/{server}"),
        Some(json!({"mcpServer": {"chamberlainKilled": false}, "updateMask": "chamberlainKilled"})),
    )
    .await;
    assert_eq!(
        text_of(&sess.call("fx_echo", json!({"message": "back"})).await),
        "back"
    );

    // The stateless era on the same endpoint: headers must match the body.
    let modern = |method: &str, name: Option<&str>, body: Value| {
        let mut req = reqwest::Client::new()
            .post(&mcp_url)
            .bearer_auth(&tok)
            .header("Accept", "application/json, text/event-stream")
            .header("MCP-Protocol-Version", "2026-07-28")
            .header("Mcp-Method", method);
        if let Some(n) = name {
            req = req.header("Mcp-Name", n);
        }
        req.json(&body).send()
    };
    let meta = json!({"io.modelcontextprotocol/protocolVersion": "2026-07-28", "io.modelcontextprotocol/clientCapabilities": {}});
    let resp = modern(
        "tools/list",
        None,
        json!({"jsonrpc": "2.0", "id": 1, "method": "tools/list", "params": {"_meta": meta}}),
    )
    .await
    .unwrap();
    assert_eq!(resp.status(), 200);
    let v: Value = resp.json().await.unwrap();
    assert_eq!(v["result"]["cacheScope"], "private");
    assert_eq!(v["result"]["resultType"], "complete");
    assert_eq!(v["result"]["tools"].as_array().unwrap().len(), 2);
    let resp = modern(
        "tools/call",
        Some("fx_echo"),
        json!({"jsonrpc": "2.0", "id": 2, "method": "tools/call",
        "params": {"name": "fx_echo", "arguments": {"message": "stateless"}, "_meta": meta}}),
    )
    .await
    .unwrap();
    let v: Value = resp.json().await.unwrap();
    assert_eq!(text_of(&v["result"]), "stateless");
    let resp = modern(
        "tools/call",
        Some("fx_whoami"),
        json!({"jsonrpc": "2.0", "id": 3, "method": "tools/call",
        "params": {"name": "fx_echo", "arguments": {}, "_meta": meta}}),
    )
    .await
    .unwrap();
    assert_eq!(resp.status(), 400);
    let v: Value = resp.json().await.unwrap();
    assert_eq!(v["error"]["code"], -32020);

    // The audit has one record per request, with the precise denial reasons.
    eventually("audit records", || async {
        let reasons: Vec<String> = audit_of(s, &alice, "DENIED")
            .await
            .iter()
            .map(|r| r["reason"].as_str().unwrap().to_string())
            .collect();
        reasons.iter().any(|r| r.starts_with("not granted"))
            && reasons.iter().any(|r| r.contains("not approved"))
            && reasons.iter().any(|r| r.contains("tool kill switch"))
            && reasons.iter().any(|r| r.contains("server kill switch"))
    })
    .await;
    // Export: NDJSON, the four successful fx_echo calls (hi, jit, back, stateless) among them.
    let mut lines: Vec<Value> = Vec::new();
    for _ in 0..50 {
        let resp = s
            .http
            .post(format!("{}/api/v1/ai-governance/audit/export", s.base))
            .bearer_auth(&s.admin)
            .json(&json!({"toolNames": ["fx_echo"], "results": ["SUCCESS"]}))
            .send()
            .await
            .unwrap();
        assert_eq!(resp.headers()["content-type"], "application/x-ndjson");
        let body = resp.text().await.unwrap();
        lines = body
            .lines()
            .map(|l| serde_json::from_str(l).unwrap())
            .collect();
        if lines.len() >= 4 {
            break;
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    assert_eq!(lines.len(), 4, "{lines:?}");
    assert!(lines
        .iter()
        .all(|l| l["result"] == "SUCCESS" && l["toolName"] == "fx_echo"));
    let _ = std::fs::remove_file(&tools_file);
}

pub async fn gateway_refuses_bad_tokens_and_sessions(s: &TestServer) {
    let mcp_url = format!("{}/mcp", s.base);
    let http = reqwest::Client::new();
    let init = json!({"jsonrpc": "2.0", "id": 1, "method": "initialize", "params": {"protocolVersion": "2025-11-25", "capabilities": {}, "clientInfo": {"name": "t", "version": "1"}}});
    // No token: 401 with the challenge that leads to the authorization server.
    let resp = http.post(&mcp_url).json(&init).send().await.unwrap();
    assert_eq!(resp.status(), 401);
    let challenge = resp.headers()["www-authenticate"]
        .to_str()
        .unwrap()
        .to_string();
    assert!(
        challenge.contains(&format!(
            "resource_metadata=\"{}/.well-known/oauth-protected-resource/mcp\"",
            s.base
        )),
        "{challenge}"
    );
    // An API token (not bound to the gateway), a token for another resource, a forged one.
    let (bob, api_token) = s.user_with_token("bob@example.com", &["basic-user"]).await;
    let other = mcp_token(s, &bob, "https://elsewhere.example/mcp");
    for (tok, why) in [
        (api_token.as_str(), "API token"),
        (other.as_str(), "is for the resource"),
        ("eyJhbGciOiJFZERTQSJ9.e30.AAAA", ""),
    ] {
        let resp = http
            .post(&mcp_url)
            .bearer_auth(tok)
            .json(&init)
            .send()
            .await
            .unwrap();
        assert_eq!(resp.status(), 401);
        let c = resp.headers()["www-authenticate"]
            .to_str()
            .unwrap()
            .to_string();
        assert!(c.contains("invalid_token") && c.contains(why), "{c}");
    }
    // The gateway's token does not open the API either.
    let (_, tok) = ai_user(s, "bob-ai@example.com").await;
    let (st, v) = s.call(&tok, "GET", "/api/v1/users", None).await;
    assert_eq!(st, 401, "{v}");
    assert!(
        v["message"]
            .as_str()
            .unwrap()
            .contains("bound to the resource"),
        "{v}"
    );
    // Sessions: forged, another user's, missing.
    let sess = Session::open(&mcp_url, &tok).await;
    let (_, carol_tok) = ai_user(s, "carol@example.com").await;
    let list = json!({"jsonrpc": "2.0", "id": 2, "method": "tools/list"});
    for (t, sid) in [
        (&carol_tok, sess.id.clone()),
        (&tok, format!("{}x", sess.id)),
        (&tok, "nope".to_string()),
    ] {
        let resp = http
            .post(&mcp_url)
            .bearer_auth(t)
            .header("Mcp-Session-Id", sid)
            .json(&list)
            .send()
            .await
            .unwrap();
        assert_eq!(resp.status(), 404);
    }
    let resp = http
        .post(&mcp_url)
        .bearer_auth(&tok)
        .json(&list)
        .send()
        .await
        .unwrap();
    assert_eq!(resp.status(), 400);
    let v: Value = resp.json().await.unwrap();
    assert!(
        v["error"]["message"]
            .as_str()
            .unwrap()
            .contains("Mcp-Session-Id"),
        "{v}"
    );
    // Bad JSON, batches, unsupported modern versions, a cross-site Origin.
    let resp = http
        .post(&mcp_url)
        .bearer_auth(&tok)
        .header("Content-Type", "application/json")
        .body("{nope")
        .send()
        .await
        .unwrap();
    assert_eq!(resp.status(), 400);
    assert_eq!(resp.json::<Value>().await.unwrap()["error"]["code"], -32700);
    let resp = http
        .post(&mcp_url)
        .bearer_auth(&tok)
        .json(&json!([list]))
        .send()
        .await
        .unwrap();
    assert_eq!(resp.status(), 400);
    let resp = http.post(&mcp_url).bearer_auth(&tok).header("MCP-Protocol-Version", "2099-01-01")
        .json(&json!({"jsonrpc": "2.0", "id": 3, "method": "tools/list", "params": {"_meta": {"io.modelcontextprotocol/protocolVersion": "2099-01-01"}}}))
        .send().await.unwrap();
    assert_eq!(resp.status(), 400);
    let v: Value = resp.json().await.unwrap();
    assert_eq!(v["error"]["code"], -32022);
    assert!(v["error"]["data"]["supported"]
        .as_array()
        .unwrap()
        .contains(&json!("2026-07-28")));
    let resp = http
        .post(&mcp_url)
        .bearer_auth(&tok)
        .header("Origin", "https://evil.example")
        .json(&init)
        .send()
        .await
        .unwrap();
    assert_eq!(resp.status(), 403);
    // Unknown methods and a tools/call without a name.
    let mut sess = sess;
    let v = sess.request("nope/nope", json!({})).await;
    assert_eq!(v["error"]["code"], -32601);
    let v = sess.request("tools/call", json!({})).await;
    assert_eq!(v["error"]["code"], -32602);
    let r = sess.call("no_such_tool", json!({})).await;
    assert_eq!(text_of(&r), denial("no_such_tool"));
    // DELETE ends the session: its id answers 404 from then on.
    let resp = http
        .delete(&mcp_url)
        .bearer_auth(&tok)
        .header("Mcp-Session-Id", &sess.id)
        .send()
        .await
        .unwrap();
    assert_eq!(resp.status(), 200);
    let (st, _) = sess
        .send(json!({"jsonrpc": "2.0", "id": 99, "method": "tools/list"}))
        .await;
    assert_eq!(st, 404);
}

pub async fn mcp_registry_bad_input_is_refused(s: &TestServer) {
    let app = s.create_app("Registry refusals").await;
    let path = format!("/api/v1/apps/{app}/mcp_servers");
    let cases = [
        (json!({"displayName": "x"}), "serverType is required"),
        (
            json!({"displayName": "x", "serverType": "MCP_SERVER_TYPE_EXTERNAL"}),
            "needs exactly its own config",
        ),
        (
            json!({"displayName": "x", "serverType": "MCP_SERVER_TYPE_EXTERNAL", "externalConfig": {"url": "https://10.1.2.3/mcp"}}),
            "private, loopback",
        ),
        (
            json!({"displayName": "x", "serverType": "MCP_SERVER_TYPE_EXTERNAL", "externalConfig": {"url": "ftp://x.example/mcp"}}),
            "https://",
        ),
        (
            json!({"displayName": "x", "serverType": "MCP_SERVER_TYPE_EXTERNAL", "externalConfig": {"url": "https://x.example/mcp", "transportType": "MCP_SERVER_TRANSPORT_TYPE_SSE"}}),
            "HTTP+SSE",
        ),
        (
            json!({"displayName": "x", "serverType": "MCP_SERVER_TYPE_EXTERNAL", "externalConfig": {"url": "https://x.example/mcp", "bearerToken": {"token": "a"}, "basicAuth": {"username": "u", "password": "p"}}}),
            "exactly one",
        ),
        (
            json!({"displayName": "x", "serverType": "MCP_SERVER_TYPE_EXTERNAL", "externalConfig": {"url": "https://x.example/mcp", "bearerToken": {"token": ""}}}),
            "bearerToken.token is required",
        ),
        (
            json!({"displayName": "x", "serverType": "MCP_SERVER_TYPE_EXTERNAL", "externalConfig": {"url": "https://x.example/mcp", "customHeader": {"headerName": "Bad Header", "headerValue": "v"}}}),
            "not a valid HTTP header name",
        ),
        (
            json!({"displayName": "x", "serverType": "MCP_SERVER_TYPE_EXTERNAL", "externalConfig": {"url": "https://x.example/mcp", "oauth2": {"mode": "MCP_SERVER_AUTH_OAUTH2_MODE_CLIENT_CREDENTIALS"}}}),
            "needs clientId",
        ),
        (
            json!({"displayName": "x", "serverType": "MCP_SERVER_TYPE_EXTERNAL", "toolPrefix": "bad prefix", "externalConfig": {"url": "https://x.example/mcp"}}),
            "toolPrefix",
        ),
        (
            json!({"displayName": "x", "serverType": "MCP_SERVER_TYPE_EXTERNAL", "externalConfig": {"url": "https://x.example/mcp", "nope": 1}}),
            "nope",
        ),
        (
            json!({"displayName": "x", "serverType": "MCP_SERVER_TYPE_HOSTED", "hostedConfig": {"mcpServerCatalogId": "missing"}}),
            "not in the catalog",
        ),
        (
            json!({"displayName": "x", "serverType": "MCP_SERVER_TYPE_HOSTED", "hostedConfig": {"mcpServerCatalogId": "generic-hosted", "configFields": {"command": "x", "shell": "sh"}}}),
            "does not define",
        ),
        (
            json!({"displayName": "x", "serverType": "MCP_SERVER_TYPE_HOSTED", "hostedConfig": {"mcpServerCatalogId": "generic-hosted"}}),
            "configFields.command",
        ),
        (
            json!({"displayName": "x", "serverType": "MCP_SERVER_TYPE_HOSTED", "hostedConfig": {"mcpServerCatalogId": "generic-hosted", "configFields": {"command": "x", "args": "not json"}}}),
            "JSON array",
        ),
        (
            json!({"displayName": "x", "serverType": "MCP_SERVER_TYPE_HOSTED", "hostedConfig": {"mcpServerCatalogId": "generic-hosted", "configFields": {"command": "x", "env": "[1]"}}}),
            "configFields.env must be a JSON object",
        ),
        (
            json!({"displayName": "x", "serverType": "MCP_SERVER_TYPE_HOSTED", "hostedConfig": {"mcpServerCatalogId": "generic-hosted", "configFields": {"command": "x", "secretEnv": "{\"1BAD\": \"v\"}"}}}),
            "`1BAD` is not an environment variable name",
        ),
        (
            json!({"displayName": "x", "serverType": "MCP_SERVER_TYPE_EXTERNAL", "externalConfig": {"url": "https://x.example/mcp", "oauth2": {"mode": "MCP_SERVER_AUTH_OAUTH2_MODE_PASSTHROUGH", "authorizeUrl": "https://idp.example/authorize"}}}),
            "set authorizeUrl and tokenUrl together",
        ),
        (
            json!({"displayName": "x", "serverType": "MCP_SERVER_TYPE_EXTERNAL", "externalConfig": {"url": "https://x.example/mcp", "oauth2": {"mode": "MCP_SERVER_AUTH_OAUTH2_MODE_SERVICE", "authorizeUrl": "not a url", "tokenUrl": "https://idp.example/token", "clientId": "c"}}}),
            "oauth2.authorizeUrl `not a url` is not an absolute https URL",
        ),
        (
            json!({"displayName": "x", "serverType": "MCP_SERVER_TYPE_EXTERNAL", "externalConfig": {"url": "https://x.example/mcp", "oauth2": {"mode": "MCP_SERVER_AUTH_OAUTH2_MODE_PASSTHROUGH", "authorizeUrl": "https://idp.example/authorize", "tokenUrl": "https://idp.example/token"}}}),
            "clientId is required",
        ),
        (
            json!({"displayName": "x", "serverType": "MCP_SERVER_TYPE_EXTERNAL", "externalConfig": {"url": "https://x.example/mcp", "oauth2": {"mode": "MCP_SERVER_AUTH_OAUTH2_MODE_PASSTHROUGH", "clientSecret": "s"}}}),
            "clientSecret was given without clientId",
        ),
        (
            json!({"displayName": "x", "serverType": "MCP_SERVER_TYPE_HOSTED", "hostedConfig": {"mcpServerCatalogId": "generic-remote"}}),
            "remote server",
        ),
        (
            json!({"displayName": "x", "tunneled": true, "serverType": "MCP_SERVER_TYPE_EXTERNAL", "externalConfig": {"url": "https://x.example/mcp"}}),
            "bridges",
        ),
    ];
    for (body, needle) in cases {
        let (st, v) = s.call(&s.admin, "POST", &path, Some(body.clone())).await;
        assert!((400..=501).contains(&st), "{body} -> {st} {v}");
        assert!(
            v["message"].as_str().unwrap_or("").contains(needle),
            "{body}: expected `{needle}` in {v}"
        );
    }
    // Nothing was stored.
    let v = s.ok("GET", &path, None).await;
    assert!(v["list"].as_array().unwrap().is_empty(), "{v}");
    // Hosted servers run commands on the host: Super Admins only.
    let (_, basic) = s
        .user_with_token("basic-mcp@example.com", &["basic-user"])
        .await;
    let (st, _) = s
        .call(&basic, "POST", &path, Some(json!({"displayName": "x", "serverType": "MCP_SERVER_TYPE_HOSTED",
            "hostedConfig": {"mcpServerCatalogId": "generic-hosted", "configFields": {"command": "/bin/true"}}})))
        .await;
    assert_eq!(st, 403);
    // A server whose credentials are refused is registered, with the failed discovery shown.
    let fx = fixture(&["--require-bearer", "right"]);
    let reg = s
        .ok("POST", &path, Some(json!({"displayName": "Wrong token", "serverType": "MCP_SERVER_TYPE_EXTERNAL", "toolPrefix": "wt",
            "externalConfig": {"url": fx.url, "bearerToken": {"token": "wrong"}}})))
        .await;
    let report = &reg["mcpServer"]["chamberlainLastDiscovery"];
    assert_eq!(report["ok"], false);
    assert!(
        report["error"]
            .as_str()
            .unwrap()
            .contains("refused the configured credentials"),
        "{report}"
    );
    let server = reg["mcpServer"]["connectorId"].as_str().unwrap();
    // A second server in the same app needs a prefix.
    let (st, v) = s
        .call(
            &s.admin,
            "POST",
            &path,
            Some(
                json!({"displayName": "Second", "serverType": "MCP_SERVER_TYPE_EXTERNAL",
            "externalConfig": {"url": fx.url}}),
            ),
        )
        .await;
    assert_eq!(st, 400);
    assert!(
        v["message"].as_str().unwrap().contains("set toolPrefix"),
        "{v}"
    );
    // Test connection says what failed without registering anything.
    let v = s
        .ok(
            "POST",
            "/api/v1/mcp_servers/test_connection",
            Some(json!({"externalConfig": {"url": fx.url, "bearerToken": {"token": "wrong"}}})),
        )
        .await;
    assert_eq!(v["reachable"], false);
    assert!(v["failureReason"].as_str().unwrap().contains("401"), "{v}");
    let v = s
        .ok(
            "POST",
            "/api/v1/mcp_servers/test_connection",
            Some(json!({"externalConfig": {"url": fx.url, "bearerToken": {"token": "right"}}})),
        )
        .await;
    assert_eq!(v["reachable"], true, "{v}");
    assert_ne!(v["toolCount"], "0");
    // Fixing the credentials, then rediscovering, works; the new token is not served.
    let v = s
        .ok(
            "POST",
            &format!("{path}/{server}/credentials"),
            Some(json!({"externalConfig": {"bearerToken": {"token": "right"}}})),
        )
        .await;
    assert!(!v.to_string().contains("right\""), "{v}");
    let v = s
        .ok(
            "POST",
            &format!("{path}/{server}/resync_tools"),
            Some(json!({})),
        )
        .await;
    assert_eq!(v["chamberlainDiscovery"]["ok"], true, "{v}");
    // Tool and toolset refusals.
    let tools = tools_by_name(s, &app, server).await;
    let echo = &tools["echo"];
    let tpath = format!(
        "/api/v1/apps/{app}/connectors/{server}/mcp_tools/{}",
        echo["id"].as_str().unwrap()
    );
    for (body, needle) in [
        (
            json!({"tool": {"state": "MCP_TOOL_STATE_REMOVED"}, "updateMask": "state"}),
            "only when its server stops listing",
        ),
        (
            json!({"tool": {"state": "MCP_TOOL_STATE_UNSPECIFIED"}, "updateMask": "state"}),
            "tool.state must be",
        ),
        (
            json!({"tool": {"toolName": "renamed"}, "updateMask": "toolName"}),
            "toolName",
        ),
        (
            json!({"tool": {"state": "NOT_A_STATE"}, "updateMask": "state"}),
            "NOT_A_STATE",
        ),
    ] {
        let (st, v) = s.call(&s.admin, "POST", &tpath, Some(body.clone())).await;
        assert_eq!(st, 400, "{body} -> {v}");
        assert!(
            v["message"].as_str().unwrap().contains(needle),
            "{body}: {v}"
        );
    }
    let sets = s
        .ok(
            "GET",
            &format!("/api/v1/apps/{app}/connectors/{server}/mcp_toolsets"),
            None,
        )
        .await;
    let builtin = sets["profiles"][0]["id"].as_str().unwrap();
    let (st, v) = s
        .call(
            &s.admin,
            "POST",
            &format!("/api/v1/apps/{app}/connectors/{server}/mcp_toolsets/{builtin}/tool_bindings"),
            Some(json!({"mcpToolIds": [echo["id"]]})),
        )
        .await;
    assert_eq!(st, 400);
    assert!(
        v["message"].as_str().unwrap().contains("maintains itself"),
        "{v}"
    );
    let custom = s
        .ok(
            "POST",
            &format!("/api/v1/apps/{app}/connectors/{server}/mcp_toolsets"),
            Some(json!({"displayName": "C"})),
        )
        .await;
    let cid = custom["profile"]["id"].as_str().unwrap();
    let (st, v) = s
        .call(
            &s.admin,
            "POST",
            &format!("/api/v1/apps/{app}/connectors/{server}/mcp_toolsets/{cid}/tool_bindings"),
            Some(json!({"mcpToolIds": ["nope"]})),
        )
        .await;
    assert_eq!(st, 400);
    assert!(
        v["message"]
            .as_str()
            .unwrap()
            .contains("not a tool of server"),
        "{v}"
    );
    let (st, _) = s
        .call(
            &s.admin,
            "POST",
            &format!("/api/v1/apps/{app}/connectors/{server}/mcp_toolsets"),
            Some(json!({"displayName": " "})),
        )
        .await;
    assert_eq!(st, 400);
    // Audit search and catalog entries refuse what they cannot use.
    for (path, body, needle) in [
        (
            "/api/v1/ai-governance/audit/search",
            json!({"results": ["MAYBE"]}),
            "MAYBE",
        ),
        (
            "/api/v1/ai-governance/audit/search",
            json!({"users": ["x"]}),
            "users",
        ),
        (
            "/api/v1/ai-governance/audit/export",
            json!({"since": "yesterday"}),
            "since",
        ),
        ("/api/v1/mcp_server_catalog", json!({}), "catalogEntry"),
        (
            "/api/v1/mcp_server_catalog",
            json!({"catalogEntry": {"id": "bad id", "displayName": "X", "chamberlainServerType": "MCP_SERVER_TYPE_EXTERNAL"}}),
            "catalogEntry.id",
        ),
        (
            "/api/v1/mcp_server_catalog",
            json!({"catalogEntry": {"id": "okta", "displayName": "X", "chamberlainServerType": "MCP_SERVER_TYPE_EXTERNAL"}}),
            "built-in",
        ),
        (
            "/api/v1/mcp_server_catalog",
            json!({"catalogEntry": {"id": "mine", "displayName": "X", "chamberlainServerType": "MCP_SERVER_TYPE_HOSTED"}}),
            "chamberlainCommand",
        ),
        (
            "/api/v1/mcp_server_catalog",
            json!({"catalogEntry": {"id": "mine", "displayName": "X"}}),
            "chamberlainServerType",
        ),
    ] {
        let (st, v) = s.call(&s.admin, "POST", path, Some(body.clone())).await;
        assert_eq!(st, 400, "{path} {body} -> {v}");
        assert!(
            v["message"].as_str().unwrap_or("").contains(needle),
            "{body}: expected `{needle}` in {v}"
        );
    }
    let v = s.ok("GET", "/api/v1/mcp_server_catalog", None).await;
    assert!(
        !v["list"]
            .as_array()
            .unwrap()
            .iter()
            .any(|e| e["id"] == "mine"),
        "a refused entry was stored"
    );
    // Deleting the server removes its toolsets' entitlements.
    let ent = custom["profile"]["appEntitlementId"].as_str().unwrap();
    s.ok("DELETE", &format!("{path}/{server}"), Some(json!({})))
        .await;
    let (st, _) = s
        .call(
            &s.admin,
            "GET",
            &format!("/api/v1/apps/{app}/entitlements/{ent}"),
            None,
        )
        .await;
    assert_eq!(st, 404);
    let (st, _) = s
        .call(&s.admin, "GET", &format!("{path}/{server}"), None)
        .await;
    assert_eq!(st, 404);
}

pub async fn hosted_stdio_server_through_the_gateway(s: &TestServer) {
    let app = auto_app(s, "Hosted fixture").await;
    let bin = fixture_bin();
    let reg = s
        .ok("POST", &format!("/api/v1/apps/{app}/mcp_servers"), Some(json!({
            "displayName": "Hosted", "serverType": "MCP_SERVER_TYPE_HOSTED", "toolPrefix": "hx",
            "hostedConfig": {"mcpServerCatalogId": "generic-hosted", "requireToolApproval": "OPTIONAL_BOOL_FALSE",
                "configFields": {"command": bin.to_str().unwrap(), "args": "[\"--stdio\"]"}}})))
        .await;
    assert_eq!(
        reg["mcpServer"]["chamberlainLastDiscovery"]["ok"], true,
        "{reg}"
    );
    let server = reg["mcpServer"]["connectorId"].as_str().unwrap();
    let tools = tools_by_name(s, &app, server).await;
    // The server opted out of review: tools start approved.
    assert_eq!(tools["echo"]["state"], "MCP_TOOL_STATE_APPROVED");
    let (_, mut sess) = entitled_session(s, &app, server, "dave@example.com").await;
    assert!(sess.tool_names().await.contains(&"hx_echo".to_string()));
    assert_eq!(
        text_of(&sess.call("hx_echo", json!({"message": "over stdio"})).await),
        "over stdio"
    );
    // Calls run concurrently over the one process.
    let calls: Vec<_> = (0..8)
        .map(|i| {
            let http = sess.http.clone();
            let (url, tok, sid) = (sess.url.clone(), sess.token.clone(), sess.id.clone());
            tokio::spawn(async move {
                let v: Value = http.post(&url).bearer_auth(tok).header("Mcp-Session-Id", sid)
                    .json(&json!({"jsonrpc": "2.0", "id": 100 + i, "method": "tools/call", "params": {"name": "hx_echo", "arguments": {"message": format!("m{i}")}}}))
                    .send().await.unwrap().json().await.unwrap();
                text_of(&v["result"]) == format!("m{i}")
            })
        })
        .collect();
    for c in calls {
        assert!(c.await.unwrap());
    }
    // Progress of a call reaches its caller (under the caller's own token) as SSE events
    // before the answer, although the process is shared.
    let resp = sess
        .http
        .post(&sess.url)
        .bearer_auth(&sess.token)
        .header("Accept", "application/json, text/event-stream")
        .header("Mcp-Session-Id", &sess.id)
        .json(&json!({"jsonrpc": "2.0", "id": 500, "method": "tools/call", "params": {
            "name": "hx_test_tool_with_progress", "arguments": {}, "_meta": {"progressToken": "mine-1"}}}))
        .send()
        .await
        .unwrap();
    assert_eq!(
        resp.headers()["content-type"].to_str().unwrap(),
        "text/event-stream"
    );
    let body = resp.text().await.unwrap();
    let events: Vec<Value> = body
        .lines()
        .filter_map(|l| l.strip_prefix("data: "))
        .map(|d| serde_json::from_str(d).unwrap())
        .collect();
    let progress: Vec<&Value> = events
        .iter()
        .filter(|e| e["method"] == "notifications/progress")
        .collect();
    assert!(progress.len() >= 2, "{body}");
    assert!(progress
        .iter()
        .all(|p| p["params"]["progressToken"] == "mine-1"));
    assert_eq!(events.last().unwrap()["id"], 500, "{body}");
}

/// A 2026-07-28 request to the gateway: (HTTP status, body).
async fn stateless(url: &str, token: &str, method: &str, params: Value) -> (u16, Value) {
    stateless_with(url, token, method, params, json!({})).await
}

/// [`stateless`] declaring client capabilities `caps`.
async fn stateless_with(
    url: &str,
    token: &str,
    method: &str,
    params: Value,
    caps: Value,
) -> (u16, Value) {
    let mut params = params;
    params["_meta"] = json!({"io.modelcontextprotocol/protocolVersion": "2026-07-28",
        "io.modelcontextprotocol/clientCapabilities": caps});
    let mut req = reqwest::Client::new()
        .post(url)
        .bearer_auth(token)
        .header("Accept", "application/json, text/event-stream")
        .header("MCP-Protocol-Version", "2026-07-28")
        .header("Mcp-Method", method);
    if let Some(n) = params
        .get("name")
        .or_else(|| params.get("uri"))
        .or_else(|| params.get("taskId"))
    {
        req = req.header("Mcp-Name", n.as_str().unwrap());
    }
    let resp = req
        .json(&json!({"jsonrpc": "2.0", "id": 1, "method": method, "params": params}))
        .send()
        .await
        .unwrap();
    let st = resp.status().as_u16();
    (st, resp.json().await.unwrap_or(Value::Null))
}

fn listed(v: &Value, key: &str, field: &str) -> Vec<String> {
    v["result"][key]
        .as_array()
        .unwrap_or_else(|| panic!("{v}"))
        .iter()
        .map(|i| i[field].as_str().unwrap().to_string())
        .collect()
}

/// Resources, templates, prompts and completions of a downstream server through the gateway:
/// visible exactly to users who see one of its tools, named and routed, refused like unknown
/// names otherwise (with the reason in the audit), in both eras.
pub async fn gateway_proxies_resources_and_prompts(s: &TestServer) {
    let fx = fixture(&[]);
    let app = auto_app(s, "Resources fixture").await;
    let server = register_auto_approved(s, &app, "Resources fixture", "rx", &fx.url).await;
    let mcp_url = format!("{}/mcp", s.base);
    let lists = [
        ("resources/list", "resources"),
        ("resources/templates/list", "resourceTemplates"),
        ("prompts/list", "prompts"),
    ];
    let args_ref = json!({"type": "ref/prompt", "name": "rx_test_prompt_with_arguments"});

    // Bob holds nothing of the server: empty lists, and what exists looks like it does not.
    let (bob, bob_token) = ai_user(s, "bob-resources@example.com").await;
    let mut bob_s = Session::open(&mcp_url, &bob_token).await;
    for (method, key) in lists {
        let v = bob_s.request(method, json!({})).await;
        assert_eq!(v["result"][key], json!([]), "{method}: {v}");
    }
    let v = bob_s
        .request("resources/read", json!({"uri": "test://static-text"}))
        .await;
    assert_eq!(v["error"]["code"], -32002, "{v}");
    assert_eq!(v["error"]["data"]["uri"], "test://static-text");
    let v = bob_s
        .request("prompts/get", json!({"name": "rx_test_simple_prompt"}))
        .await;
    assert_eq!(v["error"]["code"], -32602, "{v}");
    assert_eq!(
        v["error"]["message"],
        "Unknown prompt: rx_test_simple_prompt"
    );
    let v = bob_s
        .request(
            "completion/complete",
            json!({"ref": args_ref, "argument": {"name": "arg1", "value": "x"}}),
        )
        .await;
    assert_eq!(v["error"]["code"], -32602, "{v}");

    // Carol holds "All approved": she sees the fixture's resources as they are, its prompts
    // under the server's prefix, and can read, get and complete them.
    let (carol, mut sess) = entitled_session(s, &app, &server, "carol-resources@example.com").await;
    let v = sess.request("resources/list", json!({})).await;
    assert_eq!(
        listed(&v, "resources", "uri"),
        [
            "test://static-text",
            "test://static-binary",
            "test://watched-resource"
        ]
    );
    let v = sess.request("resources/templates/list", json!({})).await;
    assert_eq!(
        listed(&v, "resourceTemplates", "uriTemplate"),
        ["test://template/{id}/data"]
    );
    let v = sess.request("prompts/list", json!({})).await;
    let prompts = listed(&v, "prompts", "name");
    assert!(
        prompts.contains(&"rx_test_simple_prompt".to_string()),
        "{prompts:?}"
    );
    assert!(prompts.iter().all(|p| p.starts_with("rx_")), "{prompts:?}");
    assert_eq!(
        v["result"]["prompts"][1]["arguments"][0]["name"], "arg1",
        "definitions pass through: {v}"
    );
    let v = sess
        .request("resources/read", json!({"uri": "test://static-text"}))
        .await;
    assert_eq!(
        v["result"]["contents"][0]["text"], "This is the content of the static text resource.",
        "{v}"
    );
    let v = sess
        .request("resources/read", json!({"uri": "test://static-binary"}))
        .await;
    assert_eq!(v["result"]["contents"][0]["mimeType"], "image/png", "{v}");
    assert!(!v["result"]["contents"][0]["blob"]
        .as_str()
        .unwrap()
        .is_empty());
    // Not listed, but matching a listed template: routed by the template.
    let v = sess
        .request("resources/read", json!({"uri": "test://template/42/data"}))
        .await;
    let text = v["result"]["contents"][0]["text"].as_str().unwrap_or("");
    assert!(text.contains("Data for ID: 42"), "{v}");
    let v = sess
        .request("resources/read", json!({"uri": "test://nowhere"}))
        .await;
    assert_eq!(v["error"]["code"], -32002, "{v}");
    let v = sess
        .request(
            "prompts/get",
            json!({"name": "rx_test_prompt_with_arguments", "arguments": {"arg1": "a", "arg2": "b"}}),
        )
        .await;
    assert_eq!(
        v["result"]["messages"][0]["content"]["text"], "Prompt with arguments: arg1='a', arg2='b'",
        "{v}"
    );
    // Native names are not exposed.
    let v = sess
        .request("prompts/get", json!({"name": "test_simple_prompt"}))
        .await;
    assert_eq!(v["error"]["code"], -32602, "{v}");
    for reference in [
        args_ref.clone(),
        json!({"type": "ref/resource", "uri": "test://template/{id}/data"}),
    ] {
        let v = sess
            .request(
                "completion/complete",
                json!({"ref": reference, "argument": {"name": "arg1", "value": "te"}}),
            )
            .await;
        assert!(
            v["result"]["completion"]["values"].is_array(),
            "{reference}: {v}"
        );
    }

    // Bad input says what to fix.
    let v = sess.request("resources/read", json!({})).await;
    assert_eq!(v["error"]["code"], -32602);
    assert!(
        v["error"]["message"]
            .as_str()
            .unwrap()
            .contains("needs params.uri"),
        "{v}"
    );
    let v = sess.request("prompts/get", json!({"name": 5})).await;
    assert_eq!(v["error"]["code"], -32602);
    assert!(v["error"]["message"]
        .as_str()
        .unwrap()
        .contains("params.name"));
    let v = sess
        .request(
            "prompts/get",
            json!({"name": "rx_test_simple_prompt", "arguments": ["a"]}),
        )
        .await;
    assert_eq!(v["error"]["code"], -32602);
    let v = sess
        .request(
            "completion/complete",
            json!({"ref": {"type": "ref/tool", "name": "x"}, "argument": {"name": "a", "value": ""}}),
        )
        .await;
    assert_eq!(v["error"]["code"], -32602);
    assert!(v["error"]["message"]
        .as_str()
        .unwrap()
        .contains("ref/prompt"));
    // Subscriptions are forwarded to the server that owns the URI.
    let v = sess
        .request(
            "resources/subscribe",
            json!({"uri": "test://watched-resource"}),
        )
        .await;
    assert_eq!(v["result"], json!({}), "{v}");

    // The stateless era: lists and reads are private and uncached; not found is -32602.
    let token = sess.token.clone();
    let (st, v) = stateless(&mcp_url, &token, "resources/list", json!({})).await;
    assert_eq!(st, 200, "{v}");
    assert_eq!(v["result"]["cacheScope"], "private");
    assert_eq!(v["result"]["ttlMs"], 0);
    assert_eq!(v["result"]["resources"].as_array().unwrap().len(), 3);
    let (_, v) = stateless(
        &mcp_url,
        &token,
        "resources/read",
        json!({"uri": "test://static-text"}),
    )
    .await;
    assert_eq!(v["result"]["cacheScope"], "private", "{v}");
    assert_eq!(v["result"]["ttlMs"], 0);
    assert_eq!(v["result"]["resultType"], "complete");
    assert!(v["result"]["contents"][0]["text"].is_string());
    let (st, v) = stateless(
        &mcp_url,
        &token,
        "resources/read",
        json!({"uri": "test://nowhere"}),
    )
    .await;
    assert_eq!(st, 200);
    assert_eq!(v["error"]["code"], -32602, "{v}");
    assert_eq!(v["error"]["data"]["uri"], "test://nowhere");
    let (_, v) = stateless(
        &mcp_url,
        &token,
        "prompts/get",
        json!({"name": "rx_test_simple_prompt"}),
    )
    .await;
    assert_eq!(v["result"]["resultType"], "complete", "{v}");
    assert!(v["result"]["messages"].is_array());

    // The server's kill switch hides its resources and prompts too.
    let path = format!("/api/v1/apps/{app}/mcp_servers/{server}");
    s.ok(
        "POST",
        &path,
        Some(json!({"mcpServer": {"chamberlainKilled": true}, "updateMask": "chamberlainKilled"})),
    )
    .await;
    let v = sess.request("resources/list", json!({})).await;
    assert_eq!(v["result"]["resources"], json!([]));
    let v = sess
        .request("resources/read", json!({"uri": "test://static-text"}))
        .await;
    assert_eq!(v["error"]["code"], -32002, "{v}");
    s.ok(
        "POST",
        &path,
        Some(json!({"mcpServer": {"chamberlainKilled": false}, "updateMask": "chamberlainKilled"})),
    )
    .await;

    // The audit: one record per request, with the server, the name or URI, and why.
    eventually("audit of resources and prompts", || async {
        let bob_denied = audit_of(s, &bob, "DENIED").await;
        let carol_denied = audit_of(s, &carol, "DENIED").await;
        let carol_ok = audit_of(s, &carol, "SUCCESS").await;
        has(
            &bob_denied,
            "resources/read",
            "test://static-text",
            "holds no toolset or tool entitlement",
        ) && has(
            &bob_denied,
            "prompts/get",
            "rx_test_simple_prompt",
            "server \"Resources fixture\": not granted",
        ) && has(
            &bob_denied,
            "completion/complete",
            "rx_test_prompt_with_arguments",
            "not granted",
        ) && has(
            &carol_denied,
            "resources/read",
            "test://nowhere",
            "unknown resource",
        ) && has(
            &carol_denied,
            "prompts/get",
            "test_simple_prompt",
            "unknown prompt",
        ) && has(
            &carol_denied,
            "resources/read",
            "test://static-text",
            "server kill switch on",
        ) && carol_ok.iter().any(|r| {
            r["method"] == "resources/read"
                && r["toolName"] == "test://template/42/data"
                && r["connectorId"] == server
        }) && has(
            &carol_ok,
            "prompts/get",
            "rx_test_prompt_with_arguments",
            "",
        ) && has(
            &carol_ok,
            "completion/complete",
            "test://template/{id}/data",
            "",
        ) && has(
            &carol_ok,
            "prompts/list",
            "",
            "prompts listed from 1 of 1 servers",
        )
    })
    .await;
}

/// The official conformance suite against the gateway fronting the fixture (tools passed
/// through without a prefix, everything approved and granted). Failures must match
/// tests/conformance/gateway-expected-failures-<revision>.txt, which may only shrink.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn gateway_conformance() {
    use crate::harness::Db;
    let s = TestServer::start(Db::Sqlite).await;
    let fx = fixture(&[]);
    let app = auto_app(&s, "Conformance fixture").await;
    let server = register_auto_approved(&s, &app, "Conformance fixture", "", &fx.url).await;
    let ent = all_approved_entitlement(&s, &app, &server).await;
    let (user, token) = ai_user(&s, "conformance@example.com").await;
    grant(&s, &app, &ent, &user, None).await;
    let url = format!("{}/mcp", s.base);
    let root = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("../..");
    let out = tokio::process::Command::new("bash")
        .arg(root.join("scripts/conformance"))
        .args(["--header", &format!("Authorization: Bearer {token}"), &url])
        .env("CONFORMANCE_EXPECTED", "gateway-expected-failures")
        .output()
        .await
        .unwrap();
    let text = format!(
        "{}\n{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    println!("{text}");
    assert!(
        out.status.success(),
        "conformance against the gateway failed:\n{text}"
    );
    s.finish().await;
}

/// Server-to-client requests, log messages and resource subscriptions through the gateway
/// (legacy sessions): a downstream request during a call reaches only the calling client,
/// under a gateway id, and only if it declared the capability; its answer goes back to the
/// downstream session; wrong, foreign, repeated and malformed answers are refused; log
/// messages from the downstream's standalone stream reach the client that enabled logging;
/// resource updates reach only the session that subscribed, for resources it may see.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn gateway_relays_server_requests_logs_and_subscriptions() {
    use crate::harness::Db;
    let s = TestServer::start(Db::Sqlite).await;
    let fx = fixture(&[]);
    let app = auto_app(&s, "Relay fixture").await;
    let server = register_auto_approved(&s, &app, "Relay fixture", "rl", &fx.url).await;
    let ent = all_approved_entitlement(&s, &app, &server).await;
    let url = format!("{}/mcp", s.base);
    let (alice, alice_tok) = ai_user(&s, "alice-relay@example.com").await;
    grant(&s, &app, &ent, &alice, None).await;
    let (bob, bob_tok) = ai_user(&s, "bob-relay@example.com").await;
    grant(&s, &app, &ent, &bob, None).await;
    let (_carol, carol_tok) = ai_user(&s, "carol-relay@example.com").await;
    let mut a =
        Session::open_with(&url, &alice_tok, json!({"sampling": {}, "elicitation": {}})).await;
    let mut b = Session::open(&url, &bob_tok).await;
    let mut c = Session::open(&url, &carol_tok).await;

    // Sampling: the request arrives on Alice's call stream under a gateway id.
    let call = |id: i64, tool: &str, args: Value| json!({"jsonrpc": "2.0", "id": id, "method": "tools/call", "params": {"name": tool, "arguments": args}});
    let mut ev = a
        .stream(call(10, "rl_test_sampling", json!({"prompt": "Say hi"})))
        .await;
    let req = ev.next().await;
    assert_eq!(req["method"], "sampling/createMessage", "{req}");
    assert_eq!(req["params"]["messages"][0]["content"]["text"], "Say hi");
    let gid = req["id"].as_str().unwrap().to_string();
    assert!(gid.starts_with("chamberlain-"), "{gid}");
    let answer = json!({"jsonrpc": "2.0", "id": gid, "result": {"role": "assistant",
        "content": {"type": "text", "text": "Hello from the client"}, "model": "m", "stopReason": "endTurn"}});
    // Bob cannot answer Alice's request: it looks unknown to him.
    let (st, v) = b.send(answer.clone()).await;
    assert_eq!(st, 404, "{v}");
    assert_eq!(v["error"]["code"], -32602, "{v}");
    assert_eq!(v["error"]["data"]["id"], gid.as_str());
    // Malformed answers are refused and the request stays answerable.
    for bad in [
        json!({"jsonrpc": "2.0", "id": gid, "result": "hi"}),
        json!({"jsonrpc": "2.0", "id": gid, "error": {"message": "no code"}}),
        json!({"jsonrpc": "2.0", "id": gid, "result": {}, "error": {"code": 1, "message": "both"}}),
    ] {
        let (st, v) = a.send(bad.clone()).await;
        assert_eq!(st, 400, "{bad}: {v}");
        assert_eq!(v["error"]["code"], -32600, "{v}");
    }
    let (st, v) = a.send(answer.clone()).await;
    assert_eq!(st, 202, "{v}");
    let done = ev.next().await;
    assert_eq!(done["id"], 10, "{done}");
    assert_eq!(
        text_of(&done["result"]),
        "LLM response: Hello from the client"
    );
    // Answered once only; unknown ids are refused clearly.
    let (st, v) = a.send(answer).await;
    assert_eq!(st, 404, "{v}");
    assert!(
        v["error"]["message"]
            .as_str()
            .unwrap()
            .contains("already answered"),
        "{v}"
    );
    let (st, v) = a
        .send(json!({"jsonrpc": "2.0", "id": "chamberlain-nope", "result": {}}))
        .await;
    assert_eq!(
        (st, v["error"]["code"].clone()),
        (404, json!(-32602)),
        "{v}"
    );
    let (st, v) = a
        .send(json!({"jsonrpc": "2.0", "id": 7, "result": {}}))
        .await;
    assert_eq!(
        (st, v["error"]["code"].clone()),
        (404, json!(-32602)),
        "{v}"
    );

    // Bob declared no sampling: the downstream is refused at once (no hang), Bob sees no
    // request.
    let v = b.call("rl_test_sampling", json!({"prompt": "x"})).await;
    assert!(
        text_of(&v).starts_with("Sampling not supported or error"),
        "{v}"
    );

    // Elicitation (form mode), answered with the user's input.
    let mut ev = a
        .stream(call(
            11,
            "rl_test_elicitation",
            json!({"message": "Your name?"}),
        ))
        .await;
    let req = ev.next().await;
    assert_eq!(req["method"], "elicitation/create", "{req}");
    assert_eq!(req["params"]["message"], "Your name?");
    let (st, _) = a
        .send(json!({"jsonrpc": "2.0", "id": req["id"], "result": {"action": "accept", "content": {"response": "Ada"}}}))
        .await;
    assert_eq!(st, 202);
    let done = ev.next().await;
    assert_eq!(done["id"], 11);
    assert!(text_of(&done["result"]).contains("action=accept"), "{done}");
    assert!(text_of(&done["result"]).contains("Ada"), "{done}");

    // Logging: a bad level is refused; a level set opens Alice's bound downstream session,
    // whose standalone-stream log messages reach Alice (on the call's stream or her GET
    // stream), not Bob.
    let v = a
        .request("logging/setLevel", json!({"level": "loud"}))
        .await;
    assert_eq!(v["error"]["code"], -32602, "{v}");
    let v = a.request("logging/setLevel", json!({})).await;
    assert_eq!(v["error"]["code"], -32602, "{v}");
    let v = a
        .request("logging/setLevel", json!({"level": "debug"}))
        .await;
    assert_eq!(v["result"], json!({}), "{v}");
    let v = b
        .request("logging/setLevel", json!({"level": "debug"}))
        .await;
    assert_eq!(v["result"], json!({}), "{v}");
    let mut a_get = a.listen().await;
    let mut b_get = b.listen().await;
    let mut ev = a
        .stream(call(12, "rl_test_tool_with_logging", json!({})))
        .await;
    let mut logs = 0;
    loop {
        let m = ev.next().await;
        if m["id"] == 12 {
            assert!(text_of(&m["result"]).contains("successfully"), "{m}");
            break;
        }
        assert_eq!(m["method"], "notifications/message", "{m}");
        logs += 1;
    }
    for m in a_get.collect(Duration::from_millis(1000)).await {
        assert_eq!(m["method"], "notifications/message", "{m}");
        logs += 1;
    }
    assert_eq!(logs, 3);
    assert_eq!(
        b_get.collect(Duration::from_millis(300)).await,
        Vec::<Value>::new()
    );

    // Subscriptions: refused for what the caller cannot see and for malformed params.
    let v = c
        .request(
            "resources/subscribe",
            json!({"uri": "test://watched-resource"}),
        )
        .await;
    assert_eq!(v["error"]["code"], -32002, "{v}");
    let v = a.request("resources/subscribe", json!({})).await;
    assert_eq!(v["error"]["code"], -32602, "{v}");
    let v = a.request("resources/subscribe", json!({"uri": 5})).await;
    assert_eq!(v["error"]["code"], -32602, "{v}");
    let v = a
        .request("resources/subscribe", json!({"uri": "test://nowhere"}))
        .await;
    assert_eq!(v["error"]["code"], -32002, "{v}");
    let v = a
        .request(
            "resources/subscribe",
            json!({"uri": "test://watched-resource"}),
        )
        .await;
    assert_eq!(v["result"], json!({}), "{v}");
    // Bob subscribes to another resource. The fixture tells every subscribed session of
    // every change; each client hears only of what it subscribed to.
    let v = b
        .request("resources/subscribe", json!({"uri": "test://static-text"}))
        .await;
    assert_eq!(v["result"], json!({}), "{v}");
    let touch = |uri: &str| json!({"uri": uri});
    let v = b
        .call("rl_touch_resource", touch("test://watched-resource"))
        .await;
    assert!(text_of(&v).contains("told 2 sessions"), "{v}");
    let got = a_get.collect(Duration::from_millis(1000)).await;
    assert_eq!(got.len(), 1, "{got:?}");
    assert_eq!(got[0]["method"], "notifications/resources/updated");
    assert_eq!(got[0]["params"]["uri"], "test://watched-resource");
    assert_eq!(
        b_get.collect(Duration::from_millis(300)).await,
        Vec::<Value>::new()
    );
    b.call("rl_touch_resource", touch("test://static-text"))
        .await;
    let got = b_get.collect(Duration::from_millis(1000)).await;
    assert_eq!(got.len(), 1, "{got:?}");
    assert_eq!(got[0]["params"]["uri"], "test://static-text");
    assert_eq!(
        a_get.collect(Duration::from_millis(300)).await,
        Vec::<Value>::new()
    );
    let v = a
        .request(
            "resources/unsubscribe",
            json!({"uri": "test://watched-resource"}),
        )
        .await;
    assert_eq!(v["result"], json!({}), "{v}");
    let v = a.request("resources/unsubscribe", json!({})).await;
    assert_eq!(v["error"]["code"], -32602, "{v}");
    b.call("rl_touch_resource", touch("test://watched-resource"))
        .await;
    assert_eq!(
        a_get.collect(Duration::from_millis(500)).await,
        Vec::<Value>::new()
    );
    // Losing access ends the user's bound sessions (no more updates or logs from that
    // server); ending the client session ends its bound sessions too. The fixture's count of
    // live subscribed sessions shows it.
    let b_ref = &b;
    let told = |n: usize| async move {
        let (_, v) = b_ref
            .send(call(
                99,
                "rl_touch_resource",
                json!({"uri": "test://nothing"}),
            ))
            .await;
        text_of(&v["result"]).contains(&format!("told {n} sessions"))
    };
    assert!(told(2).await);
    let resp = a
        .http
        .delete(&a.url)
        .bearer_auth(&a.token)
        .header("Mcp-Session-Id", &a.id)
        .send()
        .await
        .unwrap();
    assert_eq!(resp.status(), 200);
    eventually("Alice's bound session to be ended", || told(1)).await;
    revoke(&s, &app, &ent, &bob).await;
    let mut d = Session::open(&url, &alice_tok).await;
    d.request(
        "resources/subscribe",
        json!({"uri": "test://watched-resource"}),
    )
    .await;
    let d_ref = &d;
    eventually("Bob's bound session to be ended", || async move {
        let (_, v) = d_ref
            .send(call(
                98,
                "rl_touch_resource",
                json!({"uri": "test://nothing"}),
            ))
            .await;
        text_of(&v["result"]).contains("told 1 sessions")
    })
    .await;

    // 2026-07-28 clients have no sessions: they cannot post responses.
    let resp = reqwest::Client::new()
        .post(&url)
        .bearer_auth(&alice_tok)
        .header("Accept", "application/json, text/event-stream")
        .header("MCP-Protocol-Version", "2026-07-28")
        .json(&json!({"jsonrpc": "2.0", "id": "chamberlain-x", "result": {}}))
        .send()
        .await
        .unwrap();
    assert_eq!(resp.status(), 400);
    let v: Value = resp.json().await.unwrap();
    assert_eq!(v["error"]["code"], -32600, "{v}");
    s.finish().await;
}

pub async fn scheduled_discovery_picks_up_changes(s: &TestServer) {
    let tools_file =
        std::env::temp_dir().join(format!("mcp-tools-{}.json", chamberlain_model::new_id()));
    std::fs::write(&tools_file, "[]").unwrap();
    let fx = fixture(&[
        "--only-generated",
        "--tools-file",
        tools_file.to_str().unwrap(),
    ]);
    let app = s.create_app("Scheduled discovery").await;
    let reg = s
        .ok("POST", &format!("/api/v1/apps/{app}/mcp_servers"), Some(json!({
            "displayName": "Scheduled", "serverType": "MCP_SERVER_TYPE_EXTERNAL", "toolPrefix": "sd",
            "externalConfig": {"url": fx.url}})))
        .await;
    let server = reg["mcpServer"]["connectorId"]
        .as_str()
        .unwrap()
        .to_string();
    assert!(!tools_by_name(s, &app, &server)
        .await
        .contains_key("new_tool"));
    std::fs::write(
        &tools_file,
        r#"[{"name": "new_tool", "description": "appeared later"}]"#,
    )
    .unwrap();
    // Not due yet (the default interval is a day): nothing changes on its own.
    tokio::time::sleep(Duration::from_millis(1500)).await;
    assert!(!tools_by_name(s, &app, &server)
        .await
        .contains_key("new_tool"));
    // Age the last discovery past the interval: the worker's housekeeping rediscovers.
    let mut stored: chamberlain_model::mcp::McpServer =
        chamberlain_store::record::get(s.store.pool(), &server, false)
            .await
            .unwrap()
            .unwrap();
    let old = chamberlain_model::Timestamp::from_micros(
        chamberlain_model::Timestamp::now().as_micros() - 2 * 86_400 * 1_000_000,
    );
    stored.chamberlain_last_discovery.as_mut().unwrap().at = Some(old);
    chamberlain_store::write_tx!(
        s.store,
        &chamberlain_store::AuditCtx::system("test"),
        |tx| {
            tx.update(&stored).await?;
            chamberlain_gateway::registry::changed(tx, &app).await
        }
    )
    .unwrap();
    let mut found = false;
    for _ in 0..100 {
        if let Some(t) = tools_by_name(s, &app, &server).await.get("new_tool") {
            assert_eq!(t["state"], "MCP_TOOL_STATE_PENDING_REVIEW");
            found = true;
            break;
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    assert!(found, "scheduled discovery did not run");
    let _ = std::fs::remove_file(&tools_file);
}

/// Hosted (stdio) servers: a request the process makes of the client during a call is relayed
/// to the calling client under a gateway id when the process is working on that call alone,
/// answered only by that client; a client without the capability, and a request made while
/// the process serves several calls, are refused to the process at once (nothing hangs).
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn gateway_hosted_relays_server_requests() {
    use crate::harness::Db;
    let s = TestServer::start(Db::Sqlite).await;
    let app = auto_app(&s, "Hosted relay").await;
    let bin = fixture_bin();
    let reg = s
        .ok("POST", &format!("/api/v1/apps/{app}/mcp_servers"), Some(json!({
            "displayName": "Hosted relay", "serverType": "MCP_SERVER_TYPE_HOSTED", "toolPrefix": "hr",
            "hostedConfig": {"mcpServerCatalogId": "generic-hosted", "requireToolApproval": "OPTIONAL_BOOL_FALSE",
                "configFields": {"command": bin.to_str().unwrap(), "args": "[\"--stdio\"]"}}})))
        .await;
    let server = reg["mcpServer"]["connectorId"]
        .as_str()
        .unwrap()
        .to_string();
    let ent = all_approved_entitlement(&s, &app, &server).await;
    let url = format!("{}/mcp", s.base);
    let (alice, alice_tok) = ai_user(&s, "alice-hosted@example.com").await;
    grant(&s, &app, &ent, &alice, None).await;
    let (bob, bob_tok) = ai_user(&s, "bob-hosted@example.com").await;
    grant(&s, &app, &ent, &bob, None).await;
    let a = Session::open_with(&url, &alice_tok, json!({"sampling": {}, "elicitation": {}})).await;
    let mut b = Session::open(&url, &bob_tok).await;
    let call = |id: i64, tool: &str, args: Value| json!({"jsonrpc": "2.0", "id": id, "method": "tools/call", "params": {"name": tool, "arguments": args}});

    let mut ev = a
        .stream(call(10, "hr_test_sampling", json!({"prompt": "Say hi"})))
        .await;
    let req = ev.next().await;
    assert_eq!(req["method"], "sampling/createMessage", "{req}");
    assert_eq!(req["params"]["messages"][0]["content"]["text"], "Say hi");
    let gid = req["id"].as_str().unwrap().to_string();
    assert!(gid.starts_with("chamberlain-"), "{gid}");
    let answer = json!({"jsonrpc": "2.0", "id": gid, "result": {"role": "assistant",
        "content": {"type": "text", "text": "Hello over stdio"}, "model": "m", "stopReason": "endTurn"}});
    let (st, v) = b.send(answer.clone()).await;
    assert_eq!(
        (st, v["error"]["code"].clone()),
        (404, json!(-32602)),
        "{v}"
    );
    let (st, v) = a
        .send(json!({"jsonrpc": "2.0", "id": gid, "result": 5}))
        .await;
    assert_eq!(
        (st, v["error"]["code"].clone()),
        (400, json!(-32600)),
        "{v}"
    );
    let (st, v) = a.send(answer.clone()).await;
    assert_eq!(st, 202, "{v}");
    let done = ev.next().await;
    assert_eq!(done["id"], 10, "{done}");
    assert_eq!(text_of(&done["result"]), "LLM response: Hello over stdio");
    let (st, _) = a.send(answer).await;
    assert_eq!(st, 404, "answered once only");

    // Elicitation the same way.
    let mut ev = a
        .stream(call(
            11,
            "hr_test_elicitation",
            json!({"message": "Your name?"}),
        ))
        .await;
    let req = ev.next().await;
    assert_eq!(req["method"], "elicitation/create", "{req}");
    let (st, _) = a
        .send(json!({"jsonrpc": "2.0", "id": req["id"], "result": {"action": "accept", "content": {"response": "Ada"}}}))
        .await;
    assert_eq!(st, 202);
    let done = ev.next().await;
    assert!(text_of(&done["result"]).contains("Ada"), "{done}");

    // Bob declared no sampling: refused at once, well before the 60 s call timeout.
    let started = std::time::Instant::now();
    let v = b.call("hr_test_sampling", json!({"prompt": "x"})).await;
    assert!(
        text_of(&v).starts_with("Sampling not supported or error"),
        "{v}"
    );
    assert!(started.elapsed() < Duration::from_secs(10));

    // While Alice's sampling call waits for her answer, a second call's elicitation cannot
    // be attributed to one caller: the process is refused at once.
    let mut first = a
        .stream(call(20, "hr_test_sampling", json!({"prompt": "first"})))
        .await;
    let req = first.next().await;
    assert_eq!(req["method"], "sampling/createMessage", "{req}");
    let mut second = a
        .stream(call(
            21,
            "hr_test_elicitation",
            json!({"message": "second?"}),
        ))
        .await;
    let done = tokio::time::timeout(Duration::from_secs(10), second.next())
        .await
        .expect("the ambiguous request was not refused at once");
    assert_eq!(done["id"], 21, "{done}");
    assert!(
        text_of(&done["result"]).starts_with("Elicitation not supported or error"),
        "{done}"
    );
    let (st, _) = a
        .send(
            json!({"jsonrpc": "2.0", "id": req["id"], "result": {"role": "assistant",
            "content": {"type": "text", "text": "one"}, "model": "m", "stopReason": "endTurn"}}),
        )
        .await;
    assert_eq!(st, 202);
    assert_eq!(text_of(&first.next().await["result"]), "LLM response: one");
    let _ = (alice, bob);
    s.finish().await;
}

/// Bound downstream sessions are capped per user and server (besides the server-wide cap):
/// the ninth client session of one user that subscribes gets a JSON-RPC error naming the
/// limit; other users are unaffected, and ending a session frees its slot.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn gateway_caps_bound_sessions_per_user() {
    use crate::harness::Db;
    let s = TestServer::start(Db::Sqlite).await;
    let fx = fixture(&[]);
    let app = auto_app(&s, "Bound cap").await;
    let server = register_auto_approved(&s, &app, "Bound cap", "bc", &fx.url).await;
    let ent = all_approved_entitlement(&s, &app, &server).await;
    let url = format!("{}/mcp", s.base);
    let (alice, alice_tok) = ai_user(&s, "alice-cap@example.com").await;
    grant(&s, &app, &ent, &alice, None).await;
    let (bob, bob_tok) = ai_user(&s, "bob-cap@example.com").await;
    grant(&s, &app, &ent, &bob, None).await;
    let sub = json!({"uri": "test://watched-resource"});
    let limit = chamberlain_gateway::upstream::MAX_BOUND_SESSIONS_PER_USER;
    let mut sessions = Vec::new();
    for _ in 0..limit {
        let mut a = Session::open(&url, &alice_tok).await;
        let v = a.request("resources/subscribe", sub.clone()).await;
        assert_eq!(v["result"], json!({}), "{v}");
        sessions.push(a);
    }
    let mut extra = Session::open(&url, &alice_tok).await;
    let v = extra.request("resources/subscribe", sub.clone()).await;
    assert_eq!(v["error"]["code"], -32000, "{v}");
    assert_eq!(v["error"]["data"]["limit"], limit as u64, "{v}");
    assert_eq!(v["error"]["data"]["scope"], "user", "{v}");
    assert!(
        v["error"]["message"]
            .as_str()
            .unwrap()
            .contains(&format!("{limit} client sessions")),
        "{v}"
    );
    // Calls of that session still work (on the shared downstream session).
    let r = extra
        .call("bc_echo", json!({"message": "still here"}))
        .await;
    assert_eq!(text_of(&r), "still here");
    let mut b = Session::open(&url, &bob_tok).await;
    let v = b.request("resources/subscribe", sub.clone()).await;
    assert_eq!(v["result"], json!({}), "{v}");
    // Ending one of Alice's sessions frees a slot.
    let first = sessions.remove(0);
    let resp = first
        .http
        .delete(&first.url)
        .bearer_auth(&first.token)
        .header("Mcp-Session-Id", &first.id)
        .send()
        .await
        .unwrap();
    assert_eq!(resp.status(), 200);
    let extra_ref = &mut extra;
    let mut ok = false;
    for _ in 0..50 {
        let v = extra_ref.request("resources/subscribe", sub.clone()).await;
        if v["result"] == json!({}) {
            ok = true;
            break;
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    assert!(ok, "the ended session's slot was not freed");
    s.finish().await;
}

/// 2026-07-28 multi-round-trip results through the gateway: a downstream that speaks
/// 2026-07-28 answers `input_required`; the client gets the input requests with a
/// `requestState` sealed by the gateway, and its retry reaches the downstream with the
/// downstream's own state. Altered states, states of another user or tool, malformed
/// `inputResponses`, and input requests the client did not declare are refused clearly.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn gateway_passes_input_required_results() {
    use crate::harness::Db;
    let s = TestServer::start(Db::Sqlite).await;
    let fx = fixture(&[]);
    let app = auto_app(&s, "MRTR fixture").await;
    let server = register_auto_approved(&s, &app, "MRTR fixture", "ir", &fx.url).await;
    let ent = all_approved_entitlement(&s, &app, &server).await;
    let url = format!("{}/mcp", s.base);
    let (alice, alice_tok) = ai_user(&s, "alice-mrtr@example.com").await;
    grant(&s, &app, &ent, &alice, None).await;
    let (bob, bob_tok) = ai_user(&s, "bob-mrtr@example.com").await;
    grant(&s, &app, &ent, &bob, None).await;
    let caps = json!({"elicitation": {}, "sampling": {}});
    let tool = "ir_test_input_required_result_request_state";
    let call = |tok: &str, name: &str, extra: Value| {
        let mut p = json!({"name": name, "arguments": {}});
        for (k, v) in extra.as_object().unwrap() {
            p[k] = v.clone();
        }
        let (url, tok, caps) = (url.clone(), tok.to_string(), caps.clone());
        async move { stateless_with(&url, &tok, "tools/call", p, caps).await }
    };
    let (_, v) = call(&alice_tok, tool, json!({})).await;
    let r = &v["result"];
    assert_eq!(r["resultType"], "input_required", "{v}");
    assert_eq!(
        r["inputRequests"]["confirm"]["method"],
        "elicitation/create"
    );
    let state = r["requestState"].as_str().unwrap().to_string();
    let yes = json!({"confirm": {"action": "accept", "content": {"ok": true}}});
    let (_, v) = call(
        &alice_tok,
        tool,
        json!({"inputResponses": yes, "requestState": state}),
    )
    .await;
    assert_eq!(v["result"]["resultType"], "complete", "{v}");
    assert_eq!(text_of(&v["result"]), "state-ok: requestState validated");

    let refused = |v: &Value, what: &str| {
        assert_eq!(v["error"]["code"], -32602, "{v}");
        assert!(
            v["error"]["message"].as_str().unwrap().contains(what),
            "{what}: {v}"
        );
    };
    let (_, v) = call(
        &alice_tok,
        tool,
        json!({"inputResponses": yes, "requestState": format!("{state}x")}),
    )
    .await;
    refused(&v, "integrity");
    let (_, v) = call(
        &bob_tok,
        tool,
        json!({"inputResponses": yes, "requestState": state}),
    )
    .await;
    refused(&v, "another user");
    let (_, v) = call(
        &alice_tok,
        "ir_test_input_required_result_tampered_state",
        json!({"inputResponses": yes, "requestState": state}),
    )
    .await;
    refused(&v, "another request");
    let (_, v) = call(&alice_tok, tool, json!({"inputResponses": [1]})).await;
    refused(&v, "inputResponses");
    let (_, v) = call(&alice_tok, tool, json!({"inputResponses": {"confirm": 5}})).await;
    refused(&v, "inputResponses.confirm");
    let (_, v) = call(&alice_tok, tool, json!({"requestState": 5})).await;
    refused(&v, "requestState");

    // Multi-round: each round gets a fresh state.
    let multi = "ir_test_input_required_result_multi_round";
    let (_, v) = call(&alice_tok, multi, json!({})).await;
    let s1 = v["result"]["requestState"].clone();
    let (_, v) = call(
        &alice_tok,
        multi,
        json!({"requestState": s1,
        "inputResponses": {"step1": {"action": "accept", "content": {"name": "Ada"}}}}),
    )
    .await;
    assert_eq!(v["result"]["resultType"], "input_required", "{v}");
    let s2 = v["result"]["requestState"].clone();
    assert_ne!(s1, s2);
    let (_, v) = call(
        &alice_tok,
        multi,
        json!({"requestState": s2,
        "inputResponses": {"step2": {"action": "accept", "content": {"color": "blue"}}}}),
    )
    .await;
    assert_eq!(
        text_of(&v["result"]),
        "Multi-round complete for Ada who likes blue",
        "{v}"
    );

    // A client that declared no elicitation is not handed an elicitation request.
    let (_, v) = stateless(
        &url,
        &alice_tok,
        "tools/call",
        json!({"name": "ir_test_input_required_result_elicitation", "arguments": {}}),
    )
    .await;
    assert_eq!(v["result"]["isError"], true, "{v}");
    assert!(text_of(&v["result"]).contains("elicitation"), "{v}");
    let _ = (alice, bob);
    s.finish().await;
}

/// `Mcp-Param-*` headers (SEP-2243) of 2026-07-28 calls: the gateway checks them against the
/// arguments its copy of the tool marks with `x-mcp-header` before forwarding (the fixture's
/// `test_custom_header`, exposed under a prefix), refuses a missing, differing or malformed
/// header with HTTP 400 / `-32020` saying what to send, audits the refusal, and mirrors the
/// header downstream (the fixture, on the official SDK, checks it again).
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn gateway_checks_mcp_param_headers() {
    use crate::harness::Db;
    let s = TestServer::start(Db::Sqlite).await;
    let fx = fixture(&[]);
    let app = auto_app(&s, "Param header fixture").await;
    let server = register_auto_approved(&s, &app, "Param header fixture", "ph", &fx.url).await;
    let ent = all_approved_entitlement(&s, &app, &server).await;
    let url = format!("{}/mcp", s.base);
    let (alice, tok) = ai_user(&s, "alice-params@example.com").await;
    grant(&s, &app, &ent, &alice, None).await;
    let tool = "ph_test_custom_header";

    // The listing keeps the annotation, so clients know to send the header.
    let (_, v) = stateless(&url, &tok, "tools/list", json!({})).await;
    let listed = v["result"]["tools"]
        .as_array()
        .unwrap()
        .iter()
        .find(|t| t["name"] == tool)
        .unwrap_or_else(|| panic!("{v}"))
        .clone();
    assert_eq!(
        listed["inputSchema"]["properties"]["value"]["x-mcp-header"],
        "Value"
    );

    let call = |value: Option<&str>, headers: &[(&str, &str)]| {
        let mut args = json!({});
        if let Some(v) = value {
            args["value"] = json!(v);
        }
        let mut req = reqwest::Client::new()
            .post(&url)
            .bearer_auth(&tok)
            .header("Accept", "application/json, text/event-stream")
            .header("MCP-Protocol-Version", "2026-07-28")
            .header("Mcp-Method", "tools/call")
            .header("Mcp-Name", tool);
        for (k, v) in headers {
            req = req.header(*k, *v);
        }
        let body = json!({"jsonrpc": "2.0", "id": 7, "method": "tools/call", "params": {
            "name": tool, "arguments": args,
            "_meta": {"io.modelcontextprotocol/protocolVersion": "2026-07-28",
                "io.modelcontextprotocol/clientCapabilities": {}}}});
        async move {
            let resp = req.json(&body).send().await.unwrap();
            let st = resp.status().as_u16();
            (st, resp.json::<Value>().await.unwrap_or(Value::Null))
        }
    };

    // Matching header: forwarded (with the header, which the fixture checks too).
    let (st, v) = call(Some("eu-west-1"), &[("Mcp-Param-Value", "eu-west-1")]).await;
    assert_eq!(st, 200, "{v}");
    assert_eq!(text_of(&v["result"]), "eu-west-1", "{v}");
    // Names are case-insensitive; Base64-wrapped values are decoded; non-ASCII values are
    // forwarded Base64-wrapped.
    let (st, v) = call(Some("Hello"), &[("mcp-param-value", "=?base64?SGVsbG8=?=")]).await;
    assert_eq!((st, text_of(&v["result"])), (200, "Hello".into()), "{v}");
    let (st, v) = call(
        Some("Zürich"),
        &[("MCP-PARAM-VALUE", "=?base64?WsO8cmljaA==?=")],
    )
    .await;
    assert_eq!((st, text_of(&v["result"])), (200, "Zürich".into()), "{v}");

    let refused = |st: u16, v: &Value, what: &str| {
        assert_eq!(st, 400, "{what}: {v}");
        assert_eq!(v["error"]["code"], -32020, "{what}: {v}");
        assert_eq!(v["error"]["data"]["header"], "Mcp-Param-Value", "{v}");
        assert_eq!(v["error"]["data"]["argument"], "arguments.value", "{v}");
        let message = v["error"]["message"].as_str().unwrap();
        assert!(message.contains(what), "{what}: {v}");
        message.to_string()
    };
    // Mismatching header: refused, naming both values and how to send the header.
    let (st, v) = call(Some("eu-west-1"), &[("Mcp-Param-Value", "us-east-1")]).await;
    let m = refused(st, &v, "does not match arguments.value");
    assert!(
        m.contains("\"us-east-1\"") && m.contains("\"eu-west-1\"") && m.contains("=?base64?"),
        "{m}"
    );
    // Missing header while the argument is present: refused, saying which header to add.
    let (st, v) = call(Some("eu-west-1"), &[]).await;
    let m = refused(st, &v, "the Mcp-Param-Value header is missing");
    assert!(m.contains("x-mcp-header \"Value\""), "{m}");
    // Malformed Base64, a header without its argument, a repeated header.
    let (st, v) = call(Some("Hello"), &[("Mcp-Param-Value", "=?base64?SGVsbG8?=")]).await;
    refused(st, &v, "standard padded Base64");
    let (st, v) = call(None, &[("Mcp-Param-Value", "x")]).await;
    refused(st, &v, "arguments.value is absent");
    let (st, v) = call(
        Some("a"),
        &[("Mcp-Param-Value", "a"), ("Mcp-Param-Value", "a")],
    )
    .await;
    refused(st, &v, "more than once");

    // A legacy session has no such headers: its calls go through unchanged.
    let mut sess = Session::open(&url, &tok).await;
    assert_eq!(
        text_of(&sess.call(tool, json!({"value": "legacy"})).await),
        "legacy"
    );

    // Each refusal is audited with what was wrong.
    eventually("audit of Mcp-Param refusals", || async {
        let reasons: Vec<String> = audit_of(&s, &alice, "DENIED")
            .await
            .iter()
            .filter(|r| r["toolName"] == tool && r["method"] == "tools/call")
            .map(|r| r["reason"].as_str().unwrap().to_string())
            .collect();
        reasons.len() == 5
            && reasons.iter().all(|r| r.starts_with("Mcp-Param headers:"))
            && reasons.iter().any(|r| r.contains("missing"))
    })
    .await;
    s.finish().await;
}

/// The Tasks extension (SEP-2663) through the gateway, on the gateway's own rules: tasks of
/// the fixture's `slow_compute` and `confirm_delete` come back under sealed gateway task ids
/// that route `tasks/get`, `tasks/update` and `tasks/cancel` to the fixture; another user's,
/// an altered or an unknown id is refused like an unknown task, a request without the
/// extension gets `-32021`, a mismatched `Mcp-Name` `-32020`; a caller whose grant was
/// revoked can no longer read the task but can still cancel it; every request is audited.
pub async fn gateway_proxies_tasks(s: &TestServer) {
    let fx = fixture(&[]);
    let app = auto_app(s, "Tasks fixture").await;
    let server = register_auto_approved(s, &app, "Tasks fixture", "tk", &fx.url).await;
    let ent = all_approved_entitlement(s, &app, &server).await;
    let url = format!("{}/mcp", s.base);
    let (alice, alice_tok) = ai_user(s, "alice-tasks@example.com").await;
    grant(s, &app, &ent, &alice, None).await;
    let (bob, bob_tok) = ai_user(s, "bob-tasks@example.com").await;
    grant(s, &app, &ent, &bob, None).await;
    let ext = "io.modelcontextprotocol/tasks";
    let caps = json!({"elicitation": {}, "extensions": {ext: {}}});
    let req = |tok: &str, method: &'static str, params: Value| {
        let (url, tok, caps) = (url.clone(), tok.to_string(), caps.clone());
        async move { stateless_with(&url, &tok, method, params, caps).await }
    };

    let (_, v) = req(&alice_tok, "server/discover", json!({})).await;
    assert!(
        v["result"]["capabilities"]["extensions"][ext].is_object(),
        "{v}"
    );

    // A task under a gateway id, readable at once.
    let (_, v) = req(
        &alice_tok,
        "tools/call",
        json!({"name": "tk_slow_compute", "arguments": {"seconds": 30, "label": "t"}}),
    )
    .await;
    let created = &v["result"];
    assert_eq!(created["resultType"], "task", "{v}");
    assert!(created.get("requestState").is_none(), "{v}");
    let gid = created["taskId"].as_str().unwrap().to_string();
    assert!(gid.len() > 60, "a sealed id, not the fixture's: {gid}");
    let (_, v) = req(&alice_tok, "tasks/get", json!({"taskId": gid})).await;
    assert_eq!(v["result"]["taskId"], gid.as_str(), "{v}");
    assert_eq!(v["result"]["status"], "working", "{v}");
    assert_eq!(v["result"]["resultType"], "complete", "{v}");

    // Refusals: another user's id, an altered one, one the gateway never issued.
    let unknown = |v: &Value| {
        assert_eq!(v["error"]["code"], -32602, "{v}");
        assert_eq!(v["error"]["message"], "unknown task", "{v}");
    };
    let (_, v) = req(&bob_tok, "tasks/get", json!({"taskId": gid})).await;
    unknown(&v);
    let (_, v) = req(&bob_tok, "tasks/cancel", json!({"taskId": gid})).await;
    unknown(&v);
    let mut altered = gid.clone().into_bytes();
    let i = altered.len() / 2;
    altered[i] = if altered[i] == b'A' { b'B' } else { b'A' };
    let altered = String::from_utf8(altered).unwrap();
    let (_, v) = req(&alice_tok, "tasks/get", json!({"taskId": altered})).await;
    unknown(&v);
    let (_, v) = req(&alice_tok, "tasks/get", json!({"taskId": "no-such-task"})).await;
    unknown(&v);
    // Malformed requests say what to send.
    let (_, v) = req(&alice_tok, "tasks/get", json!({})).await;
    assert_eq!(v["error"]["code"], -32602, "{v}");
    assert!(
        v["error"]["message"]
            .as_str()
            .unwrap()
            .contains("params.taskId"),
        "{v}"
    );
    let (_, v) = req(
        &alice_tok,
        "tasks/update",
        json!({"taskId": gid, "inputResponses": [1]}),
    )
    .await;
    assert_eq!(v["error"]["code"], -32602, "{v}");
    assert!(
        v["error"]["message"]
            .as_str()
            .unwrap()
            .contains("params.inputResponses"),
        "{v}"
    );
    // Without the extension in the request's capabilities.
    let (st, v) = stateless(&url, &alice_tok, "tasks/get", json!({"taskId": gid})).await;
    assert_eq!(st, 400, "{v}");
    assert_eq!(v["error"]["code"], -32021, "{v}");
    assert!(v["error"]["data"]["requiredCapabilities"]["extensions"][ext].is_object());
    // ... and tools/call then runs synchronously.
    let (_, v) = stateless(
        &url,
        &alice_tok,
        "tools/call",
        json!({"name": "tk_slow_compute", "arguments": {"seconds": 0, "label": "sync"}}),
    )
    .await;
    assert_eq!(v["result"]["resultType"], "complete", "{v}");
    assert!(v["result"].get("taskId").is_none(), "{v}");
    // Mcp-Name must mirror the task id.
    let resp = reqwest::Client::new()
        .post(&url)
        .bearer_auth(&alice_tok)
        .header("Accept", "application/json, text/event-stream")
        .header("MCP-Protocol-Version", "2026-07-28")
        .header("Mcp-Method", "tasks/get")
        .header("Mcp-Name", "another-task")
        .json(
            &json!({"jsonrpc": "2.0", "id": 1, "method": "tasks/get", "params": {"taskId": gid,
            "_meta": {"io.modelcontextprotocol/protocolVersion": "2026-07-28",
                "io.modelcontextprotocol/clientCapabilities": caps}}}),
        )
        .send()
        .await
        .unwrap();
    assert_eq!(resp.status().as_u16(), 400);
    let v: Value = resp.json().await.unwrap();
    assert_eq!(v["error"]["code"], -32020, "{v}");
    // Removed v1 methods.
    let (st, v) = req(&alice_tok, "tasks/list", json!({})).await;
    assert_eq!(
        (st, v["error"]["code"].clone()),
        (404, json!(-32601)),
        "{v}"
    );

    // Input through the task: tasks/get shows the request, tasks/update answers it.
    let (_, v) = req(
        &alice_tok,
        "tools/call",
        json!({"name": "tk_confirm_delete", "arguments": {"filename": "a.txt"}}),
    )
    .await;
    let confirm = v["result"]["taskId"].as_str().unwrap().to_string();
    let poll = |want: &'static str| {
        let confirm = confirm.clone();
        let req = &req;
        let alice_tok = alice_tok.clone();
        async move {
            for _ in 0..100 {
                let (_, v) = req(&alice_tok, "tasks/get", json!({"taskId": confirm})).await;
                if v["result"]["status"] == want {
                    return v["result"].clone();
                }
                tokio::time::sleep(Duration::from_millis(100)).await;
            }
            panic!("task never reached {want}");
        }
    };
    let t = poll("input_required").await;
    assert_eq!(
        t["inputRequests"]["confirm"]["method"], "elicitation/create",
        "{t}"
    );
    let (_, v) = req(
        &alice_tok,
        "tasks/update",
        json!({"taskId": confirm, "inputResponses": {"confirm": {"action": "accept", "content": {"confirm": true}}}}),
    )
    .await;
    assert_eq!(v["result"]["resultType"], "complete", "{v}");
    assert!(v["result"].get("taskId").is_none(), "{v}");
    let t = poll("completed").await;
    assert_eq!(text_of(&t["result"]), "Deleted a.txt", "{t}");

    // Revoked: the task cannot be read or answered any more, but its owner may cancel it.
    revoke(s, &app, &ent, &alice).await;
    let (_, v) = req(&alice_tok, "tasks/get", json!({"taskId": gid})).await;
    assert_eq!(v["error"]["code"], -32602, "{v}");
    assert!(
        v["error"]["message"]
            .as_str()
            .unwrap()
            .contains("Access denied"),
        "{v}"
    );
    let (_, v) = req(&alice_tok, "tasks/cancel", json!({"taskId": gid})).await;
    assert_eq!(v["result"]["resultType"], "complete", "{v}");

    // The audit: one record per request, with the tool and why.
    eventually("audit of tasks requests", || async {
        let alice_ok = audit_of(s, &alice, "SUCCESS").await;
        let alice_denied = audit_of(s, &alice, "DENIED").await;
        let bob_denied = audit_of(s, &bob, "DENIED").await;
        has(&alice_ok, "tools/call", "tk_slow_compute", "started task")
            && has(&alice_ok, "tasks/get", "tk_slow_compute", "working")
            && has(&alice_ok, "tasks/update", "tk_confirm_delete", "")
            && has(&alice_ok, "tasks/get", "tk_confirm_delete", "completed")
            && has(&alice_ok, "tasks/cancel", "tk_slow_compute", "")
            && has(&alice_denied, "tasks/get", "tk_slow_compute", "not granted")
            && has(&alice_denied, "tasks/get", "", "unknown task id")
            && has(
                &alice_denied,
                "tasks/get",
                "",
                "did not declare the tasks extension",
            )
            && has(&bob_denied, "tasks/get", "tk_slow_compute", "another user")
            && has(
                &bob_denied,
                "tasks/cancel",
                "tk_slow_compute",
                "another user",
            )
    })
    .await;
}
