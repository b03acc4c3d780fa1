//! Per-user downstream OAuth through the gateway, against a real OAuth-protected MCP server
//! that runs offline: the official TypeScript SDK's example server with `--oauth
//! --oauth-strict` (its own authorization server with dynamic registration and PKCE; strict
//! mode checks the `resource` audience). Installed by `scripts/mcp-node-servers`.

use crate::harness::TestServer;
use crate::mcp::{auto_app, entitled_session, eventually, grant, register_server, Session};
use crate::oauth::{hidden_fields, location, sign_in, PASSWORD};
use serde_json::{json, Value};
use std::collections::HashMap;
use std::path::Path;
use std::time::Duration;

/// `KEY=value` lines of `scripts/mcp-node-servers` (installs on first use).
pub fn node_servers() -> HashMap<String, String> {
    let root = Path::new(env!("CARGO_MANIFEST_DIR")).join("../..");
    let out = std::process::Command::new("bash")
        .arg(root.join("scripts/mcp-node-servers"))
        .output()
        .expect("bash runs");
    assert!(
        out.status.success(),
        "installing the Node MCP servers failed: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8_lossy(&out.stdout)
        .lines()
        .filter_map(|l| l.split_once('='))
        .map(|(k, v)| (k.to_string(), v.to_string()))
        .collect()
}

fn free_port() -> u16 {
    std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port()
}

/// The TypeScript SDK's example server with its in-memory authorization server.
pub struct TsOAuthServer {
    _child: tokio::process::Child,
    /// The MCP endpoint (`http://localhost:<port>/mcp`, as its metadata names it).
    pub url: String,
}

impl TsOAuthServer {
    pub async fn start() -> TsOAuthServer {
        let paths = node_servers();
        let (port, auth_port) = (free_port(), free_port());
        let child = tokio::process::Command::new(&paths["NODE"])
            .arg(format!("{}/simpleStreamableHttp.js", paths["SDK_EXAMPLES"]))
            .args(["--oauth", "--oauth-strict"])
            .env("MCP_PORT", port.to_string())
            .env("MCP_AUTH_PORT", auth_port.to_string())
            .stdout(std::process::Stdio::null())
            .stderr(std::process::Stdio::null())
            .kill_on_drop(true)
            .spawn()
            .expect("node starts");
        for p in [port, auth_port] {
            let mut up = false;
            for _ in 0..200 {
                if tokio::net::TcpStream::connect(("127.0.0.1", p))
                    .await
                    .is_ok()
                {
                    up = true;
                    break;
                }
                tokio::time::sleep(Duration::from_millis(50)).await;
            }
            assert!(up, "the TypeScript example server did not listen on {p}");
        }
        TsOAuthServer {
            _child: child,
            url: format!("http://localhost:{port}/mcp"),
        }
    }
}

/// Connects `email`'s own account to a server the way a person does: the connect page (signing
/// in first), the Connect button, the provider's authorization page (this provider approves at
/// once), and back to Chamberlain's callback. Returns the final page.
async fn connect_account(
    s: &TestServer,
    b: &reqwest::Client,
    server: &str,
    email: &str,
) -> (u16, String) {
    let page_url = format!("{}/auth/v1/mcp/connect/{server}", s.base);
    let mut resp = b.get(&page_url).send().await.unwrap();
    if resp.status() == 303 {
        let signin = location(&resp);
        assert!(signin.starts_with("/auth/v1/signin?"), "{signin}");
        let signed = sign_in(s, b, &signin, email, PASSWORD).await;
        assert_eq!(signed.status(), 303);
        assert_eq!(
            location(&signed),
            format!("/auth/v1/mcp/connect/{server}"),
            "sign-in returns to the connect page"
        );
        resp = b.get(&page_url).send().await.unwrap();
    }
    assert_eq!(resp.status(), 200);
    let html = resp.text().await.unwrap();
    assert!(
        html.contains("Connect your own") || html.contains("Service mode"),
        "{html}"
    );
    let mut form = hidden_fields(&html);
    form.push(("action".into(), "connect".into()));
    let go = b.post(&page_url).form(&form).send().await.unwrap();
    assert_eq!(go.status(), 303, "{}", go.text().await.unwrap());
    let authorize = location(&go);
    let q: HashMap<String, String> = reqwest::Url::parse(&authorize)
        .unwrap()
        .query_pairs()
        .into_owned()
        .collect();
    assert_eq!(q["code_challenge_method"], "S256");
    assert!(q["resource"].ends_with("/mcp"), "{authorize}");
    assert_eq!(
        q["redirect_uri"],
        format!("{}/auth/v1/mcp/callback", s.base)
    );
    let at_provider = b.get(&authorize).send().await.unwrap();
    assert_eq!(at_provider.status(), 302, "the provider approves at once");
    let back = location(&at_provider);
    assert!(
        back.starts_with(&format!("{}/auth/v1/mcp/callback?", s.base)),
        "{back}"
    );
    let done = b.get(&back).send().await.unwrap();
    (done.status().as_u16(), done.text().await.unwrap())
}

fn text_of(result: &Value) -> String {
    result["content"][0]["text"]
        .as_str()
        .unwrap_or_default()
        .to_string()
}

/// A user with an API token and a password (for the connect pages), plus a gateway token.
async fn person(s: &TestServer, email: &str) -> (String, String, String) {
    let (id, api) = s.user_with_token(email, &[]).await;
    let phc = chamberlain_auth::password::hash(PASSWORD).unwrap();
    chamberlain_store::write_tx!(
        s.store,
        &chamberlain_store::AuditCtx::system("test"),
        |tx| { chamberlain_store::repo::web_auth::set_password(tx, &id, &phc).await }
    )
    .unwrap();
    let (_, mcp, _) =
        crate::oauth::connect(s, &crate::oauth::browser(), "Test AI client", email).await;
    (id, api, mcp)
}

async fn as_user(s: &TestServer, token: &str, method: &str, path: &str) -> (u16, Value) {
    let resp = s
        .http
        .request(method.parse().unwrap(), format!("{}{path}", s.base))
        .bearer_auth(token)
        .send()
        .await
        .unwrap();
    let st = resp.status().as_u16();
    (st, resp.json().await.unwrap_or(Value::Null))
}

pub async fn per_user_oauth_against_a_real_oauth_mcp_server(s: &TestServer) {
    let ts = TsOAuthServer::start().await;
    let app = auto_app(s, "Per-user OAuth").await;

    // Registered with per-user OAuth and nothing else: the provider is discovered from the
    // server's protected resource metadata, and Chamberlain registers itself there.
    let (reg, server) = register_server(s, &app, json!({
                "displayName": "TS demo", "serverType": "MCP_SERVER_TYPE_EXTERNAL", "toolPrefix": "ts",
                "externalConfig": {"url": ts.url, "requireToolApproval": "OPTIONAL_BOOL_FALSE",
                    "oauth2": {"mode": "MCP_SERVER_AUTH_OAUTH2_MODE_PASSTHROUGH"}}})).await;
    assert_eq!(
        reg["mcpServer"]["tokenSharing"],
        "MCP_SERVER_TOKEN_SHARING_PER_USER"
    );
    // No identity yet, so no tools: discovery says what it waits for (not a failure to hide).
    let waiting = reg["mcpServer"]["chamberlainLastDiscovery"]["error"]
        .as_str()
        .unwrap();
    assert!(
        waiting.contains("waits for an OAuth connection")
            && waiting.contains(&format!("/auth/v1/mcp/connect/{server}")),
        "{waiting}"
    );

    // Erin connects her own account: dynamic registration, PKCE, resource, callback.
    let (erin, mut erin_sess) = entitled_session(s, &app, &server, "erin@example.com").await;
    let erin_browser = crate::oauth::browser();
    let (st, page) = connect_account(s, &erin_browser, &server, "erin@example.com").await;
    assert_eq!(st, 200, "{page}");
    assert!(page.contains("id=\"connected\""), "{page}");
    let sv = s
        .ok(
            "GET",
            &format!("/api/v1/apps/{app}/mcp_servers/{server}"),
            None,
        )
        .await;
    let sv = &sv["mcpServer"];
    assert_eq!(sv["chamberlainOauth2DynamicClient"], true, "{sv}");
    assert!(!sv["oauth2ClientId"].as_str().unwrap().is_empty());
    assert_eq!(sv["chamberlainOauth2Resource"], ts.url.as_str());
    assert!(sv["oauth2TokenUrl"].as_str().unwrap().ends_with("/token"));
    assert_eq!(sv["chamberlainLastDiscovery"]["ok"], true, "{sv}");

    // Her first connection discovered the tools; her calls carry her own token.
    assert!(erin_sess
        .tool_names()
        .await
        .contains(&"ts_greet".to_string()));
    let r = erin_sess.call("ts_greet", json!({"name": "Erin"})).await;
    assert_eq!(text_of(&r), "Hello, Erin!", "{r}");

    // Admins see who is connected, never a token.
    let conns = s
        .ok(
            "GET",
            &format!("/api/v1/apps/{app}/mcp_servers/{server}/connections"),
            None,
        )
        .await;
    let list = conns["list"].as_array().unwrap();
    assert_eq!(list.len(), 1);
    assert_eq!(list[0]["userId"], erin.as_str());
    assert_eq!(list[0]["status"], "MCP_CONNECTION_STATUS_CONNECTED");
    let raw = conns.to_string();
    assert!(
        !raw.contains("\"accessToken\"") && !raw.contains("\"refreshToken\""),
        "{raw}"
    );

    // Frank holds the toolset but has not connected.
    let (frank, frank_api, frank_mcp) = person(s, "frank@example.com").await;
    let ent = crate::mcp::all_approved_entitlement(s, &app, &server).await;
    grant(s, &app, &ent, &frank, None).await;
    let mcp_url = format!("{}/mcp", s.base);
    // A client that declared URL elicitation gets -32042 with the connect page.
    let mut frank_url = Session::open_with(
        &mcp_url,
        &frank_mcp,
        json!({"elicitation": {"form": {}, "url": {}}}),
    )
    .await;
    let v = frank_url
        .request(
            "tools/call",
            json!({"name": "ts_greet", "arguments": {"name": "Frank"}}),
        )
        .await;
    assert_eq!(v["error"]["code"], -32042, "{v}");
    let e = &v["error"]["data"]["elicitations"][0];
    assert_eq!(e["mode"], "url");
    assert!(!e["elicitationId"].as_str().unwrap().is_empty());
    let connect_url = format!("{}/auth/v1/mcp/connect/{server}", s.base);
    assert!(e["url"].as_str().unwrap().starts_with(&connect_url), "{e}");
    // A client without it gets a tool error carrying the same URL.
    let mut frank_plain = Session::open(&mcp_url, &frank_mcp).await;
    let r = frank_plain.call("ts_greet", json!({"name": "Frank"})).await;
    assert_eq!(r["isError"], true);
    assert!(text_of(&r).contains(&connect_url), "{r}");
    // A 2026-07-28 client gets an input_required result with the URL elicitation.
    let meta = json!({"io.modelcontextprotocol/protocolVersion": "2026-07-28",
        "io.modelcontextprotocol/clientCapabilities": {"elicitation": {"url": {}}}});
    let v: Value = reqwest::Client::new()
        .post(&mcp_url)
        .bearer_auth(&frank_mcp)
        .header("Accept", "application/json, text/event-stream")
        .header("MCP-Protocol-Version", "2026-07-28")
        .header("Mcp-Method", "tools/call")
        .header("Mcp-Name", "ts_greet")
        .json(&json!({"jsonrpc": "2.0", "id": 7, "method": "tools/call",
            "params": {"name": "ts_greet", "arguments": {"name": "Frank"}, "_meta": meta}}))
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert_eq!(v["result"]["resultType"], "input_required", "{v}");
    let req = &v["result"]["inputRequests"]["connect"];
    assert_eq!(req["method"], "elicitation/create");
    assert_eq!(req["params"]["mode"], "url");
    assert!(req["params"]["url"]
        .as_str()
        .unwrap()
        .starts_with(&connect_url));
    // The audit names the reason.
    eventually("the audit names the missing connection", || async {
        let v = s
            .ok(
                "POST",
                "/api/v1/ai-governance/audit/search",
                Some(json!({"userIds": [frank], "results": ["DENIED"]})),
            )
            .await;
        v["list"].as_array().unwrap().iter().any(|r| {
            r["reason"]
                .as_str()
                .unwrap()
                .contains("per-user connection missing")
        })
    })
    .await;
    let (st, mine) = as_user(s, &frank_api, "GET", "/api/v1/mcp_server_connections").await;
    assert_eq!(st, 200);
    let entry = mine["list"]
        .as_array()
        .unwrap()
        .iter()
        .find(|c| c["connectorId"] == server.as_str())
        .unwrap()
        .clone();
    assert_eq!(entry["connected"], false);
    assert_eq!(entry["chamberlainConnectUrl"], connect_url.as_str());

    // Frank follows the link and connects; the same call now works as him.
    let (st, page) =
        connect_account(s, &crate::oauth::browser(), &server, "frank@example.com").await;
    assert_eq!(st, 200, "{page}");
    let r = frank_url.call("ts_greet", json!({"name": "Frank"})).await;
    assert_eq!(text_of(&r), "Hello, Frank!", "{r}");
    let (_, mine) = as_user(s, &frank_api, "GET", "/api/v1/mcp_server_connections").await;
    assert!(mine["list"]
        .as_array()
        .unwrap()
        .iter()
        .any(|c| c["connectorId"] == server.as_str() && c["connected"] == true));

    // He disconnects through the API: the next call asks him to connect again.
    let (st, _) = as_user(
        s,
        &frank_api,
        "DELETE",
        &format!("/api/v1/mcp_server_connections/{server}"),
    )
    .await;
    assert_eq!(st, 200);
    let v = frank_url
        .request(
            "tools/call",
            json!({"name": "ts_greet", "arguments": {"name": "F"}}),
        )
        .await;
    assert_eq!(v["error"]["code"], -32042, "{v}");
    let (st, v) = as_user(
        s,
        &frank_api,
        "DELETE",
        &format!("/api/v1/mcp_server_connections/{server}"),
    )
    .await;
    assert_eq!(st, 404, "{v}");

    // An admin revokes Erin's connection: her next call gets the connect URL.
    let v = s
        .ok(
            "DELETE",
            &format!("/api/v1/apps/{app}/mcp_servers/{server}/connections/{erin}"),
            None,
        )
        .await;
    assert_eq!(v["connection"]["userId"], erin.as_str());
    let r = erin_sess.call("ts_greet", json!({"name": "Erin"})).await;
    assert!(text_of(&r).contains(&connect_url), "{r}");

    // The connect page refuses a forged callback and a state used by someone else.
    let forged = erin_browser
        .get(format!(
            "{}/auth/v1/mcp/callback?code=x&state=not-a-state",
            s.base
        ))
        .send()
        .await
        .unwrap();
    assert_eq!(forged.status(), 400);
    assert!(forged.text().await.unwrap().contains("start again"));
    let denied = erin_browser
        .get(format!(
            "{}/auth/v1/mcp/callback?error=access_denied&error_description=nope",
            s.base
        ))
        .send()
        .await
        .unwrap();
    assert_eq!(denied.status(), 400);
    assert!(denied.text().await.unwrap().contains("access_denied"));
    // Erin starts a flow; Frank's browser cannot finish it.
    let page_url = format!("{}/auth/v1/mcp/connect/{server}", s.base);
    let html = erin_browser
        .get(&page_url)
        .send()
        .await
        .unwrap()
        .text()
        .await
        .unwrap();
    let mut form = hidden_fields(&html);
    form.push(("action".into(), "connect".into()));
    let go = erin_browser
        .post(&page_url)
        .form(&form)
        .send()
        .await
        .unwrap();
    let at_provider = erin_browser.get(location(&go)).send().await.unwrap();
    let back = location(&at_provider);
    let frank_browser = crate::oauth::browser();
    let signin = frank_browser.get(&page_url).send().await.unwrap();
    sign_in(
        s,
        &frank_browser,
        &location(&signin),
        "frank@example.com",
        PASSWORD,
    )
    .await;
    let stolen = frank_browser.get(&back).send().await.unwrap();
    assert_eq!(stolen.status(), 400);
    assert!(stolen.text().await.unwrap().contains("another user"));
    // A page post without the form's CSRF token is refused.
    let no_csrf = erin_browser
        .post(&page_url)
        .form(&[("action", "connect")])
        .send()
        .await
        .unwrap();
    assert_eq!(no_csrf.status(), 403);
    // An unknown action is refused; so are revocations of a malformed or unknown user.
    let mut form = hidden_fields(&html);
    form.push(("action".into(), "explode".into()));
    let refused = erin_browser
        .post(&page_url)
        .form(&form)
        .send()
        .await
        .unwrap();
    assert_eq!(refused.status(), 400);
    assert!(refused
        .text()
        .await
        .unwrap()
        .contains("must be connect or disconnect"));
    let base = format!("/api/v1/apps/{app}/mcp_servers/{server}/connections");
    let (st, v) = s
        .call(&s.admin, "DELETE", &format!("{base}/not%20an%20id"), None)
        .await;
    assert_eq!(st, 400, "{v}");
    assert!(v["message"].as_str().unwrap().contains("user_id"), "{v}");
    let (st, v) = s
        .call(
            &s.admin,
            "DELETE",
            &format!("{base}/{}", chamberlain_model::new_id()),
            None,
        )
        .await;
    assert_eq!(st, 404, "{v}");
    // An unknown server has no connect page.
    let unknown = erin_browser
        .get(format!("{}/auth/v1/mcp/connect/nope", s.base))
        .send()
        .await
        .unwrap();
    assert_eq!(unknown.status(), 404);

    // Connecting again after the revocation works and is what the call uses.
    let (st, _) = connect_account(s, &erin_browser, &server, "erin@example.com").await;
    assert_eq!(st, 200);
    let r = erin_sess.call("ts_greet", json!({"name": "Erin"})).await;
    assert_eq!(text_of(&r), "Hello, Erin!", "{r}");
}

pub async fn service_mode_oauth_identity_serves_everyone(s: &TestServer) {
    let ts = TsOAuthServer::start().await;
    let app = auto_app(s, "Service OAuth").await;
    let (reg, server) = register_server(s, &app, json!({
                "displayName": "TS service", "serverType": "MCP_SERVER_TYPE_EXTERNAL", "toolPrefix": "svc",
                "externalConfig": {"url": ts.url, "requireToolApproval": "OPTIONAL_BOOL_FALSE",
                    "oauth2": {"mode": "MCP_SERVER_AUTH_OAUTH2_MODE_SERVICE"}}})).await;
    assert_eq!(
        reg["mcpServer"]["tokenSharing"],
        "MCP_SERVER_TOKEN_SHARING_SHARED"
    );
    assert!(reg["mcpServer"]["chamberlainLastDiscovery"]["error"]
        .as_str()
        .unwrap()
        .contains("an admin must authorize the service identity"));

    // A user who is not an admin cannot authorize it.
    let (_erin, mut erin_sess) = entitled_session(s, &app, &server, "svc-erin@example.com").await;
    let b = crate::oauth::browser();
    let page_url = format!("{}/auth/v1/mcp/connect/{server}", s.base);
    let signin = b.get(&page_url).send().await.unwrap();
    sign_in(s, &b, &location(&signin), "svc-erin@example.com", PASSWORD).await;
    let refused = b.get(&page_url).send().await.unwrap();
    assert_eq!(refused.status(), 403);
    assert!(refused
        .text()
        .await
        .unwrap()
        .contains("Administrators only"));

    // The admin authorizes once; discovery runs with that identity.
    let phc = chamberlain_auth::password::hash(PASSWORD).unwrap();
    let admin_id = s.admin_user_id.clone();
    chamberlain_store::write_tx!(
        s.store,
        &chamberlain_store::AuditCtx::system("test"),
        |tx| { chamberlain_store::repo::web_auth::set_password(tx, &admin_id, &phc).await }
    )
    .unwrap();
    let (st, page) =
        connect_account(s, &crate::oauth::browser(), &server, "admin@example.com").await;
    assert_eq!(st, 200, "{page}");
    assert!(page.contains("every user"), "{page}");
    let sv = s
        .ok(
            "GET",
            &format!("/api/v1/apps/{app}/mcp_servers/{server}"),
            None,
        )
        .await;
    assert_eq!(sv["mcpServer"]["oauth2ServiceAuthorized"], true, "{sv}");
    assert_eq!(
        sv["mcpServer"]["oauth2ServiceAuthorizedBy"],
        s.admin_user_id.as_str()
    );
    assert_eq!(sv["mcpServer"]["chamberlainLastDiscovery"]["ok"], true);

    // Every entitled user's calls now use it, without connecting anything themselves.
    assert!(erin_sess
        .tool_names()
        .await
        .contains(&"svc_greet".to_string()));
    let r = erin_sess.call("svc_greet", json!({"name": "Erin"})).await;
    assert_eq!(text_of(&r), "Hello, Erin!", "{r}");
    let conns = s
        .ok(
            "GET",
            &format!("/api/v1/apps/{app}/mcp_servers/{server}/connections"),
            None,
        )
        .await;
    assert_eq!(conns["list"][0]["userId"], "");
    assert_eq!(
        conns["list"][0]["authorizedByUserId"],
        s.admin_user_id.as_str()
    );

    // Revoking the service identity stops every call with the plain denial (users cannot fix
    // it), and the audit says why.
    s.ok(
        "DELETE",
        &format!("/api/v1/apps/{app}/mcp_servers/{server}/connections/service"),
        None,
    )
    .await;
    let sv = s
        .ok(
            "GET",
            &format!("/api/v1/apps/{app}/mcp_servers/{server}"),
            None,
        )
        .await;
    assert_eq!(sv["mcpServer"]["oauth2ServiceAuthorized"], false);
    let r = erin_sess.call("svc_greet", json!({"name": "Erin"})).await;
    assert_eq!(text_of(&r), crate::mcp::denial("svc_greet"));
    eventually(
        "the audit names the missing service authorization",
        || async {
            let v = s
                .ok(
                    "POST",
                    "/api/v1/ai-governance/audit/search",
                    Some(json!({"results": ["DENIED"], "toolNames": ["svc_greet"]})),
                )
                .await;
            v["list"].as_array().unwrap().iter().any(|r| {
                r["reason"]
                    .as_str()
                    .unwrap()
                    .contains("service-mode OAuth not authorized")
            })
        },
    )
    .await;
}

/// Hosted servers: the official `@modelcontextprotocol/server-everything` run over stdio with
/// its configuration as environment, and a hosted process that dies is started again.
pub async fn hosted_servers_run_supervised(s: &TestServer) {
    let paths = node_servers();
    let app = auto_app(s, "Everything").await;
    let (reg, server) = register_server(
        s,
        &app,
        json!({
                "displayName": "Everything", "serverType": "MCP_SERVER_TYPE_HOSTED", "toolPrefix": "ev",
                "hostedConfig": {"mcpServerCatalogId": "generic-hosted", "requireToolApproval": "OPTIONAL_BOOL_FALSE",
                    "configFields": {"command": paths["NODE"],
                        "args": serde_json::to_string(&[paths["EVERYTHING"].as_str(), "stdio"]).unwrap(),
                        "env": r#"{"GREETING": "hello from chamberlain"}"#,
                        "secretEnv": r#"{"EVERYTHING_API_KEY": "sk-hosted-secret"}"#}}}),
    )
    .await;
    assert_eq!(
        reg["mcpServer"]["chamberlainLastDiscovery"]["ok"], true,
        "{reg}"
    );
    assert!(!reg.to_string().contains("sk-hosted-secret"), "{reg}");
    let (_, mut sess) = entitled_session(s, &app, &server, "everything@example.com").await;
    let names = sess.tool_names().await;
    for t in ["ev_echo", "ev_get-sum", "ev_get-env"] {
        assert!(names.contains(&t.to_string()), "{t} in {names:?}");
    }
    let r = sess
        .call("ev_echo", json!({"message": "through the gateway"}))
        .await;
    assert_eq!(text_of(&r), "Echo: through the gateway", "{r}");
    let r = sess.call("ev_get-sum", json!({"a": 2, "b": 40})).await;
    assert!(text_of(&r).contains("42"), "{r}");
    // Configured environment (plain and sealed) reaches the process.
    let r = sess.call("ev_get-env", json!({})).await;
    assert!(text_of(&r).contains("hello from chamberlain"), "{r}");
    assert!(text_of(&r).contains("sk-hosted-secret"));

    // A hosted process that dies is started again on the next call.
    let marker =
        std::env::temp_dir().join(format!("mcp-tools-{}.json", chamberlain_model::new_id()));
    std::fs::write(&marker, r#"[{"name": "ping_me", "description": "x"}]"#).unwrap();
    let app2 = auto_app(s, "Restarting fixture").await;
    let (_, server2) = register_server(s, &app2, json!({
                "displayName": "Restarting", "serverType": "MCP_SERVER_TYPE_HOSTED", "toolPrefix": "rs",
                "hostedConfig": {"mcpServerCatalogId": "generic-hosted", "requireToolApproval": "OPTIONAL_BOOL_FALSE",
                    "configFields": {"command": crate::mcp::fixture_bin().to_str().unwrap(),
                        "args": serde_json::to_string(&["--stdio", "--tools-file", marker.to_str().unwrap()]).unwrap()}}})).await;
    let (_, mut sess2) = entitled_session(s, &app2, &server2, "restart@example.com").await;
    let r = sess2.call("rs_echo", json!({"message": "first"})).await;
    assert_eq!(text_of(&r), "first", "{r}");
    let pids = || {
        let out = std::process::Command::new("pgrep")
            .args(["-f", marker.to_str().unwrap()])
            .output()
            .unwrap();
        String::from_utf8_lossy(&out.stdout).trim().to_string()
    };
    let before = pids();
    assert!(!before.is_empty(), "the hosted process runs");
    let killed = std::process::Command::new("pkill")
        .args(["-9", "-f", marker.to_str().unwrap()])
        .status()
        .unwrap();
    assert!(killed.success());
    let mut answered = false;
    for _ in 0..50 {
        let r = sess2.call("rs_echo", json!({"message": "again"})).await;
        if text_of(&r) == "again" {
            answered = true;
            break;
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    assert!(answered, "the hosted server was not restarted");
    let after = pids();
    assert!(!after.is_empty() && after != before, "{before} → {after}");
    let _ = std::fs::remove_file(&marker);
}

/// Token refresh against a provider that rotates refresh tokens and detects reuse: another
/// Chamberlain, whose gateway is an OAuth-protected MCP server, with a 61 s access-token
/// lifetime so every call a second later needs a refresh (the gateway refreshes with less
/// than 60 s left). Two refreshes in a row prove the rotated token was stored and used: a
/// reused one would revoke the whole family.
pub async fn per_user_tokens_are_refreshed_and_rotated(s: &TestServer) {
    // The provider: Chamberlain B with a fixture server granted to bob.
    let b = TestServer::start(crate::harness::Db::Sqlite).await;
    b.ok(
        "POST",
        "/api/v1/settings/ai-governance",
        Some(json!({"aiGovernanceSettings": {"chamberlainAccessTokenLifetime": "61s"}, "updateMask": "chamberlainAccessTokenLifetime"})),
    )
    .await;
    let fx = crate::mcp::fixture(&[]);
    let b_app = auto_app(&b, "Fixture at B").await;
    let (_, b_server) = register_server(
        &b,
        &b_app,
        json!({"displayName": "Fixture", "serverType": "MCP_SERVER_TYPE_EXTERNAL", "toolPrefix": "fx",
            "externalConfig": {"url": fx.url, "requireToolApproval": "OPTIONAL_BOOL_FALSE"}}),
    )
    .await;
    let b_ent = crate::mcp::all_approved_entitlement(&b, &b_app, &b_server).await;
    let bob = crate::oauth::user_with_password(&b, "bob@example.com").await;
    grant(&b, &b_app, &b_ent, &bob, None).await;

    // The gateway (A) fronts B's gateway with per-user OAuth.
    let app = auto_app(s, "Chained").await;
    let (_, server) = register_server(s, &app, json!({"displayName": "Chamberlain B", "serverType": "MCP_SERVER_TYPE_EXTERNAL", "toolPrefix": "b",
                "externalConfig": {"url": format!("{}/mcp", b.base), "requireToolApproval": "OPTIONAL_BOOL_FALSE",
                    "oauth2": {"mode": "MCP_SERVER_AUTH_OAUTH2_MODE_PASSTHROUGH"}}})).await;
    let (_, mut sess) = entitled_session(s, &app, &server, "chain@example.com").await;

    // Connect: A's page (A's browser), B's sign-in and consent (B's browser: both servers run
    // on 127.0.0.1, where a browser would share cookies across ports), back to A's callback.
    let browser_a = crate::oauth::browser();
    let browser_b = crate::oauth::browser();
    let page_url = format!("{}/auth/v1/mcp/connect/{server}", s.base);
    let signin = browser_a.get(&page_url).send().await.unwrap();
    sign_in(
        s,
        &browser_a,
        &location(&signin),
        "chain@example.com",
        PASSWORD,
    )
    .await;
    let html = browser_a
        .get(&page_url)
        .send()
        .await
        .unwrap()
        .text()
        .await
        .unwrap();
    let mut form = hidden_fields(&html);
    form.push(("action".into(), "connect".into()));
    let go = browser_a.post(&page_url).form(&form).send().await.unwrap();
    let at_b = location(&go);
    assert!(
        at_b.starts_with(&format!("{}/auth/v1/authorize?", b.base)),
        "{at_b}"
    );
    let to_signin = browser_b.get(&at_b).send().await.unwrap();
    let signed = sign_in(
        &b,
        &browser_b,
        &location(&to_signin),
        "bob@example.com",
        PASSWORD,
    )
    .await;
    let consent = browser_b
        .get(format!("{}{}", b.base, location(&signed)))
        .send()
        .await
        .unwrap()
        .text()
        .await
        .unwrap();
    assert!(consent.contains("Chamberlain MCP gateway"), "{consent}");
    let mut form = hidden_fields(&consent);
    form.push(("decision".into(), "allow".into()));
    let allowed = browser_b
        .post(format!("{}/auth/v1/authorize", b.base))
        .form(&form)
        .send()
        .await
        .unwrap();
    let back = location(&allowed);
    assert!(back.contains("iss="), "RFC 9207 iss is sent: {back}");
    let done = browser_a.get(&back).send().await.unwrap();
    assert_eq!(done.status(), 200, "{}", done.text().await.unwrap());

    // Calls reach B's fixture as bob.
    assert!(sess.tool_names().await.contains(&"b_fx_echo".to_string()));
    let r = sess.call("b_fx_echo", json!({"message": "one"})).await;
    assert_eq!(text_of(&r), "one", "{r}");
    let connected = s
        .ok(
            "GET",
            &format!("/api/v1/apps/{app}/mcp_servers/{server}/connections"),
            None,
        )
        .await;
    let first = connected["list"][0].clone();
    assert_eq!(first["hasRefreshToken"], true, "{first}");
    // Two refreshes in a row.
    for msg in ["two", "three"] {
        tokio::time::sleep(Duration::from_millis(1200)).await;
        let r = sess.call("b_fx_echo", json!({"message": msg})).await;
        assert_eq!(text_of(&r), msg, "{r}");
    }
    let after = s
        .ok(
            "GET",
            &format!("/api/v1/apps/{app}/mcp_servers/{server}/connections"),
            None,
        )
        .await;
    let after = &after["list"][0];
    assert_eq!(after["status"], "MCP_CONNECTION_STATUS_CONNECTED");
    assert_ne!(
        after["refreshedAt"], first["refreshedAt"],
        "refreshed: {after}"
    );
    assert_eq!(after["connectedAt"], first["connectedAt"]);
    b.finish().await;
}

/// OAuth2 client credentials against a real token endpoint (Chamberlain's own, with an API
/// client): the server sees a token the endpoint issued, fetched once and reused; a wrong
/// secret is refused with the endpoint's reason and the call is not made.
pub async fn client_credentials_against_a_real_token_endpoint(s: &TestServer) {
    let fx = crate::mcp::fixture(&[]);
    let (owner, client_id, secret) = s.user_with_client("cc-svc@example.com", &[]).await;
    let app = auto_app(s, "Client credentials").await;
    let register = |prefix: &str, secret: &str| {
        json!({"displayName": format!("CC {prefix}"), "serverType": "MCP_SERVER_TYPE_EXTERNAL", "toolPrefix": prefix,
            "externalConfig": {"url": fx.url, "requireToolApproval": "OPTIONAL_BOOL_FALSE",
                "oauth2": {"mode": "MCP_SERVER_AUTH_OAUTH2_MODE_CLIENT_CREDENTIALS", "clientId": client_id,
                    "clientSecret": secret, "tokenUrl": format!("{}/auth/v1/token", s.base)}}})
    };
    let (reg, server) = register_server(s, &app, register("cc", &secret)).await;
    assert!(!reg.to_string().contains(&secret), "{reg}");
    assert_eq!(
        reg["mcpServer"]["chamberlainLastDiscovery"]["ok"], true,
        "{reg}"
    );
    let (_, mut sess) = entitled_session(s, &app, &server, "cc-user@example.com").await;
    let seen = |r: &Value| -> String {
        let who: Value = serde_json::from_str(&text_of(r)).unwrap();
        who["authorization"].as_str().unwrap().to_string()
    };
    let first = seen(&sess.call("cc_whoami", json!({})).await);
    let token = first.strip_prefix("Bearer ").expect("a bearer token");
    let claims = s
        .state
        .issuer
        .verify(token, chamberlain_model::Timestamp::now().unix_seconds())
        .expect("the token endpoint issued it");
    assert_eq!(claims.sub, owner);
    assert_eq!(
        seen(&sess.call("cc_whoami", json!({})).await),
        first,
        "cached"
    );

    // A wrong secret: the endpoint refuses, discovery says why, nothing is stored as tools.
    let (bad, _) = register_server(s, &app, register("bad", "not-the-secret")).await;
    let error = bad["mcpServer"]["chamberlainLastDiscovery"]["error"]
        .as_str()
        .unwrap();
    assert!(error.contains("token endpoint refused"), "{error}");
}
