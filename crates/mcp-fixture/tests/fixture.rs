//! The fixture binary's contract as the gateway tests use it: raw JSON-RPC over Streamable HTTP
//! in both protocol eras, over stdio, inbound authentication, and the tool file.

use std::process::Stdio;
use std::time::Duration;

use serde_json::{json, Value};
use tokio::io::{AsyncBufReadExt, AsyncWriteExt, BufReader, Lines};
use tokio::process::{Child, ChildStdin, ChildStdout, Command};

const BIN: &str = env!("CARGO_BIN_EXE_chamberlain-mcp-fixture");
const LEGACY: &str = "2025-11-25";
const MODERN: &str = "2026-07-28";

/// A running fixture over HTTP; killed when dropped.
struct Http {
    _child: Child,
    url: String,
    client: reqwest::Client,
}

async fn start_http(args: &[&str]) -> Http {
    let mut child = Command::new(BIN)
        .args(["--listen", "127.0.0.1:0"])
        .args(args)
        .stdout(Stdio::piped())
        .kill_on_drop(true)
        .spawn()
        .expect("start fixture");
    let mut lines = BufReader::new(child.stdout.take().unwrap()).lines();
    let line = tokio::time::timeout(Duration::from_secs(5), lines.next_line())
        .await
        .expect("fixture prints its address in time")
        .unwrap()
        .expect("a line");
    let url = line
        .strip_prefix("listening on ")
        .unwrap_or_else(|| panic!("unexpected first line {line:?}"))
        .to_string();
    assert!(!url.contains(":0/"), "real port printed: {url}");
    Http {
        _child: child,
        url,
        client: reqwest::Client::new(),
    }
}

/// The JSON-RPC message answering `id` in a JSON or SSE response body.
fn answer(body: &str, id: u64) -> Value {
    let messages: Vec<Value> = if body.trim_start().starts_with('{') {
        vec![serde_json::from_str(body).unwrap()]
    } else {
        body.lines()
            .filter_map(|l| l.strip_prefix("data:"))
            .filter_map(|d| serde_json::from_str(d.trim()).ok())
            .collect()
    };
    messages
        .into_iter()
        .find(|m| m["id"] == json!(id))
        .unwrap_or_else(|| panic!("no answer to {id} in {body:?}"))
}

impl Http {
    fn post(&self, body: &Value) -> reqwest::RequestBuilder {
        self.client
            .post(&self.url)
            .header("content-type", "application/json")
            .header("accept", "application/json, text/event-stream")
            .json(body)
    }

    /// Legacy era: initialize, then the `initialized` notification. Returns the session id.
    async fn initialize(&self, auth: Option<&str>) -> String {
        let mut request = self.post(&json!({
            "jsonrpc": "2.0", "id": 1, "method": "initialize",
            "params": { "protocolVersion": LEGACY, "capabilities": {},
                        "clientInfo": { "name": "fixture-test", "version": "1" } }
        }));
        if let Some(auth) = auth {
            request = request.header("authorization", auth);
        }
        let response = request.send().await.unwrap();
        assert_eq!(response.status(), 200);
        let session = response.headers()["mcp-session-id"]
            .to_str()
            .unwrap()
            .to_string();
        let init = answer(&response.text().await.unwrap(), 1);
        assert_eq!(init["result"]["protocolVersion"], LEGACY);
        assert_eq!(
            init["result"]["serverInfo"]["name"],
            "chamberlain-mcp-fixture"
        );

        let mut notify = self
            .post(&json!({ "jsonrpc": "2.0", "method": "notifications/initialized" }))
            .header("mcp-session-id", &session)
            .header("mcp-protocol-version", LEGACY);
        if let Some(auth) = auth {
            notify = notify.header("authorization", auth);
        }
        assert_eq!(notify.send().await.unwrap().status(), 202);
        session
    }

    async fn legacy(
        &self,
        session: &str,
        auth: Option<&str>,
        id: u64,
        method: &str,
        params: Value,
    ) -> Value {
        let mut request = self
            .post(&json!({ "jsonrpc": "2.0", "id": id, "method": method, "params": params }))
            .header("mcp-session-id", session)
            .header("mcp-protocol-version", LEGACY);
        if let Some(auth) = auth {
            request = request.header("authorization", auth);
        }
        let response = request.send().await.unwrap();
        assert_eq!(response.status(), 200, "{method}");
        answer(&response.text().await.unwrap(), id)
    }

    /// 2026-07-28: no session; version and capabilities travel in every request.
    async fn stateless(
        &self,
        id: u64,
        method: &str,
        name: Option<&str>,
        mut params: Value,
    ) -> Value {
        params["_meta"] = json!({
            "io.modelcontextprotocol/protocolVersion": MODERN,
            "io.modelcontextprotocol/clientCapabilities": {},
            "io.modelcontextprotocol/clientInfo": { "name": "fixture-test", "version": "1" }
        });
        let mut request = self
            .post(&json!({ "jsonrpc": "2.0", "id": id, "method": method, "params": params }))
            .header("mcp-protocol-version", MODERN)
            .header("mcp-method", method);
        if let Some(name) = name {
            request = request.header("mcp-name", name);
        }
        let response = request.send().await.unwrap();
        assert_eq!(response.status(), 200, "{method}");
        assert!(response.headers().get("mcp-session-id").is_none());
        answer(&response.text().await.unwrap(), id)
    }
}

fn tool<'a>(list: &'a Value, name: &str) -> &'a Value {
    list["result"]["tools"]
        .as_array()
        .unwrap()
        .iter()
        .find(|t| t["name"] == name)
        .unwrap_or_else(|| panic!("{name} not listed"))
}

fn tool_names(list: &Value) -> Vec<String> {
    list["result"]["tools"]
        .as_array()
        .unwrap()
        .iter()
        .map(|t| t["name"].as_str().unwrap().to_string())
        .collect()
}

fn text(result: &Value) -> &str {
    result["result"]["content"][0]["text"].as_str().unwrap()
}

#[tokio::test]
async fn http_legacy_session_and_stateless_requests() {
    let server = start_http(&["--tools", "3"]).await;

    let session = server.initialize(None).await;
    let list = server
        .legacy(&session, None, 2, "tools/list", json!({}))
        .await;
    assert_eq!(tool(&list, "echo")["annotations"]["readOnlyHint"], true);
    assert_eq!(
        tool(&list, "delete_item")["annotations"]["destructiveHint"],
        true
    );
    tool(&list, "test_simple_text");
    tool(&list, "gen_0002");
    assert!(!tool_names(&list).contains(&"gen_0003".to_string()));

    let echo = server
        .legacy(
            &session,
            None,
            3,
            "tools/call",
            json!({ "name": "echo", "arguments": { "message": "hi" } }),
        )
        .await;
    assert_eq!(text(&echo), "hi");
    let generated = server
        .legacy(
            &session,
            None,
            4,
            "tools/call",
            json!({ "name": "gen_0001", "arguments": { "text": "g" } }),
        )
        .await;
    assert_eq!(text(&generated), "g");

    let list = server.stateless(5, "tools/list", None, json!({})).await;
    assert_eq!(list["result"]["resultType"], "complete");
    tool(&list, "echo");
    let echo = server
        .stateless(
            6,
            "tools/call",
            Some("echo"),
            json!({ "name": "echo", "arguments": { "message": "modern" } }),
        )
        .await;
    assert_eq!(text(&echo), "modern");
    let whoami = server
        .stateless(
            7,
            "tools/call",
            Some("whoami"),
            json!({ "name": "whoami", "arguments": {} }),
        )
        .await;
    let whoami: Value = serde_json::from_str(text(&whoami)).unwrap();
    assert_eq!(whoami["authorization"], Value::Null);
    assert!(whoami["headers"]
        .as_array()
        .unwrap()
        .contains(&json!("mcp-method")));
}

#[tokio::test]
async fn only_generated_hides_fixture_tools() {
    let server = start_http(&["--tools", "2", "--only-generated"]).await;
    let list = server.stateless(1, "tools/list", None, json!({})).await;
    assert_eq!(tool_names(&list), ["echo", "gen_0000", "gen_0001"]);
}

#[tokio::test]
async fn require_bearer_refuses_a_missing_or_wrong_token() {
    let server = start_http(&["--require-bearer", "t0ken"]).await;
    let init = json!({ "jsonrpc": "2.0", "id": 1, "method": "initialize",
        "params": { "protocolVersion": LEGACY, "capabilities": {},
                    "clientInfo": { "name": "fixture-test", "version": "1" } } });
    let missing = server.post(&init).send().await.unwrap();
    assert_eq!(missing.status(), 401);
    assert_eq!(missing.headers()["www-authenticate"], "Bearer");
    let wrong = server
        .post(&init)
        .bearer_auth("other")
        .send()
        .await
        .unwrap();
    assert_eq!(wrong.status(), 401);

    let auth = Some("Bearer t0ken");
    let session = server.initialize(auth).await;
    let whoami = server
        .legacy(
            &session,
            auth,
            2,
            "tools/call",
            json!({ "name": "whoami", "arguments": {} }),
        )
        .await;
    let whoami: Value = serde_json::from_str(text(&whoami)).unwrap();
    assert_eq!(whoami["authorization"], "Bearer t0ken");
}

#[tokio::test]
async fn require_basic_and_header() {
    let basic = start_http(&["--require-basic", "user:pass"]).await;
    let body = json!({ "jsonrpc": "2.0", "id": 1, "method": "tools/list" });
    assert_eq!(basic.post(&body).send().await.unwrap().status(), 401);
    let ok = basic
        .post(&body)
        .basic_auth("user", Some("pass"))
        .send()
        .await
        .unwrap();
    assert_ne!(ok.status(), 401);

    let header = start_http(&["--require-header", "X-Api-Key: k1"]).await;
    assert_eq!(header.post(&body).send().await.unwrap().status(), 401);
    let ok = header
        .post(&body)
        .header("x-api-key", "k1")
        .send()
        .await
        .unwrap();
    assert_ne!(ok.status(), 401);
}

/// A running fixture over stdio; killed when dropped.
struct StdioServer {
    _child: Child,
    stdin: ChildStdin,
    stdout: Lines<BufReader<ChildStdout>>,
}

impl StdioServer {
    async fn start(args: &[&str]) -> Self {
        let mut child = Command::new(BIN)
            .arg("--stdio")
            .args(args)
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .kill_on_drop(true)
            .spawn()
            .expect("start fixture");
        Self {
            stdin: child.stdin.take().unwrap(),
            stdout: BufReader::new(child.stdout.take().unwrap()).lines(),
            _child: child,
        }
    }

    async fn send(&mut self, message: Value) {
        let mut line = message.to_string();
        line.push('\n');
        self.stdin.write_all(line.as_bytes()).await.unwrap();
    }

    async fn next(&mut self) -> Value {
        let line = tokio::time::timeout(Duration::from_secs(5), self.stdout.next_line())
            .await
            .expect("message in time")
            .unwrap()
            .expect("stdout open");
        serde_json::from_str(&line).unwrap()
    }

    async fn request(&mut self, id: u64, method: &str, params: Value) -> Value {
        self.send(json!({ "jsonrpc": "2.0", "id": id, "method": method, "params": params }))
            .await;
        loop {
            let message = self.next().await;
            if message["id"] == json!(id) {
                return message;
            }
        }
    }
}

#[tokio::test]
async fn stdio_and_tools_file_changes() {
    let dir = std::env::temp_dir().join(format!("mcp-fixture-test-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    let file = dir.join("tools.json");
    std::fs::write(
        &file,
        json!([{ "name": "file_tool", "description": "from the file",
                 "annotations": { "destructiveHint": true } }])
        .to_string(),
    )
    .unwrap();

    let mut server = StdioServer::start(&["--tools-file", file.to_str().unwrap()]).await;
    let init = server
        .request(
            1,
            "initialize",
            json!({ "protocolVersion": LEGACY, "capabilities": {},
            "clientInfo": { "name": "fixture-test", "version": "1" } }),
        )
        .await;
    assert_eq!(init["result"]["capabilities"]["tools"]["listChanged"], true);
    server
        .send(json!({ "jsonrpc": "2.0", "method": "notifications/initialized" }))
        .await;

    let echo = server
        .request(
            2,
            "tools/call",
            json!({ "name": "echo", "arguments": { "message": "stdio" } }),
        )
        .await;
    assert_eq!(text(&echo), "stdio");
    let list = server.request(3, "tools/list", json!({})).await;
    assert_eq!(
        tool(&list, "file_tool")["annotations"]["destructiveHint"],
        true
    );

    std::fs::write(&file, json!([{ "name": "renamed_tool" }]).to_string()).unwrap();
    let changed = server.next().await;
    assert_eq!(changed["method"], "notifications/tools/list_changed");
    let list = server.request(4, "tools/list", json!({})).await;
    let names = tool_names(&list);
    assert!(names.contains(&"renamed_tool".to_string()));
    assert!(!names.contains(&"file_tool".to_string()));
    let gone = server
        .request(
            5,
            "tools/call",
            json!({ "name": "file_tool", "arguments": {} }),
        )
        .await;
    assert_eq!(gone["error"]["code"], -32602);

    std::fs::remove_dir_all(&dir).unwrap();
}
