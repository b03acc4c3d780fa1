//! `chamberlain-gateway-bench`: the MCP gateway figures of docs/BENCHMARKS.md, in one run.
//!
//! Upstreams are `chamberlain-mcp-fixture` processes (Rust, rmcp), `--servers` of them with
//! `--tools-per-server` generated tools each, registered under one app and granted to one user
//! through their "All approved" toolsets. The gateway runs in-process (the real HTTP app).
//!
//! 1. `echo` called directly on the fixture vs through the gateway, at 1, 8 and 64 concurrent
//!    clients: p50/p99 latency and calls/s; and, as the ceiling any HTTP hop sets on this
//!    machine, through a bare relay (axum in, reqwest out, bytes copied, nothing checked);
//! 2. `tools/list` for the user entitled to every tool (p50/p99);
//! 3. memory with `--sessions` initialized sessions (and 1,000 open notification streams);
//! 4. revocation: calls keep running at 8 clients while the toolset grant is revoked; counts
//!    the calls that started after the revoke committed and were still allowed (must be 0) and
//!    the time from the commit to the first denied call.

use anyhow::{bail, ensure, Context, Result};
use chamberlain_benchmarks::db::prepare_database;
use chamberlain_model::Timestamp;
use chamberlain_store::repo::oauth;
use chamberlain_store::{AuditCtx, Store};
use clap::Parser;
use serde_json::{json, Value};
use std::io::BufRead;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

#[derive(Parser, Debug)]
#[command(about = "MCP gateway benchmark: overhead, throughput, tools/list, sessions, revocation")]
struct Args {
    /// sqlite://PATH?mode=rwc, or a PostgreSQL server URL ending in `/` [default: temp SQLite]
    #[arg(long)]
    database_url: Option<String>,
    /// Calls per concurrency level and path (direct, gateway).
    #[arg(long, default_value_t = 20_000)]
    calls: usize,
    /// Upstream servers.
    #[arg(long, default_value_t = 20)]
    servers: usize,
    /// Generated tools per server.
    #[arg(long, default_value_t = 50)]
    tools_per_server: usize,
    /// Sessions opened for the memory figure.
    #[arg(long, default_value_t = 10_000)]
    sessions: usize,
    /// The fixture binary [default: next to this binary, else target/release or target/debug]
    #[arg(long)]
    fixture: Option<String>,
}

#[tokio::main(flavor = "multi_thread")]
async fn main() -> Result<()> {
    let args = Args::parse();
    let (url, cleanup) = prepare_database(args.database_url.as_deref()).await?;
    let store = Store::connect(&url).await?;
    store.migrate().await?;
    println!(
        "backend: {:?}; cores: {}",
        store.backend(),
        std::thread::available_parallelism()
            .map(|n| n.get())
            .unwrap_or(0)
    );
    let result = run(&store, &args).await;
    store.close().await;
    cleanup.await?;
    result
}

struct Fixture {
    url: String,
    child: std::process::Child,
}

impl Drop for Fixture {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

fn fixture_bin(args: &Args) -> Result<String> {
    if let Some(f) = &args.fixture {
        return Ok(f.clone());
    }
    let here = std::env::current_exe()?;
    let next = here.with_file_name("chamberlain-mcp-fixture");
    if next.is_file() {
        return Ok(next.display().to_string());
    }
    for p in [
        "target/release/chamberlain-mcp-fixture",
        "target/debug/chamberlain-mcp-fixture",
    ] {
        if std::path::Path::new(p).is_file() {
            return Ok(p.into());
        }
    }
    bail!("chamberlain-mcp-fixture not found: cargo build --release -p chamberlain-mcp-fixture, or pass --fixture")
}

fn start_fixture(bin: &str, tools: usize) -> Result<Fixture> {
    let mut child = std::process::Command::new(bin)
        .args([
            "--listen",
            "127.0.0.1:0",
            "--only-generated",
            "--tools",
            &tools.to_string(),
        ])
        .stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::null())
        .spawn()
        .with_context(|| format!("starting {bin}"))?;
    let mut line = String::new();
    std::io::BufReader::new(child.stdout.take().context("no stdout")?).read_line(&mut line)?;
    let url = line
        .trim()
        .strip_prefix("listening on ")
        .with_context(|| format!("unexpected fixture output: {line}"))?
        .to_string();
    Ok(Fixture { url, child })
}

/// The JSON-RPC message in a response body (plain JSON or the last SSE `data:` line).
fn rpc_body(text: &str) -> Result<Value> {
    let t = text.trim_start();
    if t.starts_with('{') {
        return Ok(serde_json::from_str(t)?);
    }
    let data = t
        .lines()
        .filter_map(|l| l.strip_prefix("data:"))
        .map(str::trim)
        .rfind(|d| d.starts_with('{'))
        .with_context(|| format!("no JSON-RPC message in {t}"))?;
    Ok(serde_json::from_str(data)?)
}

/// A legacy-era MCP session (the gateway's or the fixture's).
#[derive(Clone)]
struct Mcp {
    http: reqwest::Client,
    url: String,
    token: Option<String>,
    session: String,
}

impl Mcp {
    async fn open(http: &reqwest::Client, url: &str, token: Option<&str>) -> Result<Mcp> {
        let mut req = http
            .post(url)
            .header("Accept", "application/json, text/event-stream")
            .json(&json!({"jsonrpc": "2.0", "id": 0, "method": "initialize", "params": {
                "protocolVersion": "2025-11-25", "capabilities": {}, "clientInfo": {"name": "bench", "version": "1"}}}));
        if let Some(t) = token {
            req = req.bearer_auth(t);
        }
        let resp = req.send().await?;
        ensure!(
            resp.status().is_success(),
            "initialize: HTTP {}",
            resp.status()
        );
        let session = resp
            .headers()
            .get("mcp-session-id")
            .context("no session id")?
            .to_str()?
            .to_string();
        resp.text().await?;
        let m = Mcp {
            http: http.clone(),
            url: url.into(),
            token: token.map(str::to_string),
            session,
        };
        m.send(json!({"jsonrpc": "2.0", "method": "notifications/initialized"}))
            .await?;
        Ok(m)
    }

    async fn send(&self, body: Value) -> Result<Value> {
        let text = self.send_text(body).await?;
        if text.is_empty() {
            return Ok(Value::Null);
        }
        rpc_body(&text)
    }

    /// Sends a message and returns the answer's body as received (empty for 202).
    async fn send_text(&self, body: Value) -> Result<String> {
        let mut req = self
            .http
            .post(&self.url)
            .header("Accept", "application/json, text/event-stream")
            .header("Mcp-Session-Id", &self.session)
            .header("MCP-Protocol-Version", "2025-11-25")
            .json(&body);
        if let Some(t) = &self.token {
            req = req.bearer_auth(t);
        }
        let resp = req.send().await?;
        let status = resp.status();
        let text = resp.text().await?;
        if status.as_u16() == 202 {
            return Ok(String::new());
        }
        ensure!(status.is_success(), "HTTP {status}: {text}");
        Ok(text)
    }

    /// Calls a tool; Ok(true) when it succeeded, Ok(false) when it was refused.
    async fn call(&self, tool: &str, id: u64) -> Result<bool> {
        let v = self
            .send(json!({"jsonrpc": "2.0", "id": id, "method": "tools/call", "params": {"name": tool, "arguments": {"message": "x"}}}))
            .await?;
        ensure!(v.get("error").is_none(), "{v}");
        Ok(v["result"]["isError"] != json!(true))
    }
}

/// A bare HTTP relay in front of one fixture: axum in, reqwest out, the body and the MCP
/// headers copied, nothing parsed or checked. What it costs is the floor for any gateway
/// hop on this machine, so the gateway's throughput ratio is read against it.
async fn start_bare_relay(upstream: String) -> Result<String> {
    use axum::http::{HeaderMap, StatusCode};
    let client = reqwest::Client::builder()
        .pool_max_idle_per_host(128)
        .build()?;
    let target = reqwest::Url::parse(&upstream)?;
    let relay = move |headers: HeaderMap, body: axum::body::Bytes| {
        let client = client.clone();
        let target = target.clone();
        async move {
            let mut req = client.post(target).body(body);
            for name in [
                "accept",
                "content-type",
                "mcp-session-id",
                "mcp-protocol-version",
            ] {
                if let Some(v) = headers.get(name) {
                    req = req.header(name, v.as_bytes());
                }
            }
            let Ok(resp) = req.send().await else {
                return (
                    StatusCode::BAD_GATEWAY,
                    HeaderMap::new(),
                    axum::body::Bytes::new(),
                );
            };
            let status = StatusCode::from_u16(resp.status().as_u16()).unwrap_or(StatusCode::OK);
            let mut out = HeaderMap::new();
            for name in ["content-type", "mcp-session-id"] {
                if let Some(v) = resp.headers().get(name) {
                    if let Ok(v) = axum::http::HeaderValue::from_bytes(v.as_bytes()) {
                        out.insert(name, v);
                    }
                }
            }
            let body = resp.bytes().await.unwrap_or_default();
            (status, out, body)
        }
    };
    let app = axum::Router::new().route("/mcp", axum::routing::post(relay));
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await?;
    let url = format!("http://{}/mcp", listener.local_addr()?);
    tokio::spawn(async move {
        use axum::serve::ListenerExt;
        let listener = listener.tap_io(|tcp| {
            let _ = tcp.set_nodelay(true);
        });
        let _ = axum::serve(listener, app).await;
    });
    Ok(url)
}

fn pct(sorted: &[Duration], p: f64) -> f64 {
    if sorted.is_empty() {
        return 0.0;
    }
    let i = ((sorted.len() as f64 - 1.0) * p).round() as usize;
    sorted[i].as_secs_f64() * 1000.0
}

/// Runs `calls` tool calls over `concurrency` sessions; returns (sorted latencies, calls/s).
async fn load(
    sessions: &[Mcp],
    tool: &str,
    calls: usize,
    concurrency: usize,
) -> Result<(Vec<Duration>, f64)> {
    let next = Arc::new(AtomicU64::new(0));
    let started = Instant::now();
    let mut tasks = Vec::new();
    for c in 0..concurrency {
        let m = sessions[c % sessions.len()].clone();
        let next = next.clone();
        let tool = tool.to_string();
        tasks.push(tokio::spawn(async move {
            let mut lat = Vec::new();
            loop {
                let n = next.fetch_add(1, Ordering::Relaxed);
                if n as usize >= calls {
                    return Ok::<_, anyhow::Error>(lat);
                }
                let t = Instant::now();
                ensure!(m.call(&tool, n + 1).await?, "call refused");
                lat.push(t.elapsed());
            }
        }));
    }
    let mut all = Vec::with_capacity(calls);
    for t in tasks {
        all.extend(t.await??);
    }
    let rate = calls as f64 / started.elapsed().as_secs_f64();
    all.sort();
    Ok((all, rate))
}

fn rss_kib() -> u64 {
    std::fs::read_to_string("/proc/self/status")
        .ok()
        .and_then(|s| {
            s.lines()
                .find_map(|l| l.strip_prefix("VmRSS:"))
                .and_then(|v| v.trim().trim_end_matches("kB").trim().parse().ok())
        })
        .unwrap_or(0)
}

async fn api(
    http: &reqwest::Client,
    base: &str,
    token: &str,
    method: &str,
    path: &str,
    body: Option<Value>,
) -> Result<Value> {
    let m = reqwest::Method::from_bytes(method.as_bytes())?;
    let mut req = http.request(m, format!("{base}{path}")).bearer_auth(token);
    if let Some(b) = body {
        req = req.json(&b);
    }
    let resp = req.send().await?;
    let status = resp.status();
    let v: Value = resp.json().await?;
    ensure!(status.is_success(), "{method} {path}: {status} {v}");
    Ok(v)
}

async fn run(store: &Store, args: &Args) -> Result<()> {
    let bin = fixture_bin(args)?;
    let fixtures: Vec<Fixture> = (0..args.servers)
        .map(|_| start_fixture(&bin, args.tools_per_server))
        .collect::<Result<_>>()?;
    let (base, admin, state) = chamberlain_benchmarks::serve_with_state(store).await?;
    let http = reqwest::Client::builder()
        .pool_max_idle_per_host(128)
        .build()?;

    // Registry: one app, auto-approved grants and revokes, every server's tools approved.
    let app = api(
        &http,
        &base,
        &admin,
        "POST",
        "/api/v1/apps",
        Some(json!({"displayName": "Gateway bench"})),
    )
    .await?["app"]["id"]
        .as_str()
        .context("app id")?
        .to_string();
    let mut policies = Vec::new();
    for (kind, key) in [
        ("POLICY_TYPE_GRANT", "grant"),
        ("POLICY_TYPE_REVOKE", "revoke"),
    ] {
        let p = api(
            &http,
            &base,
            &admin,
            "POST",
            "/api/v1/policies",
            Some(
                json!({"displayName": format!("bench {key}"), "policyType": kind,
            "policySteps": {key: {"steps": [{"accept": {}}]}}}),
            ),
        )
        .await?;
        policies.push(p["policy"]["id"].as_str().context("policy id")?.to_string());
    }
    api(
        &http,
        &base,
        &admin,
        "POST",
        &format!("/api/v1/apps/{app}"),
        Some(
            json!({"app": {"grantPolicyId": policies[0], "revokePolicyId": policies[1]},
        "updateMask": "grantPolicyId,revokePolicyId"}),
        ),
    )
    .await?;
    let t = Instant::now();
    let mut toolsets = Vec::new();
    for (i, fx) in fixtures.iter().enumerate() {
        let reg = api(&http, &base, &admin, "POST", &format!("/api/v1/apps/{app}/mcp_servers"), Some(json!({
            "displayName": format!("Server {i}"), "serverType": "MCP_SERVER_TYPE_EXTERNAL", "toolPrefix": format!("s{i:02}"),
            "externalConfig": {"url": fx.url, "requireToolApproval": "OPTIONAL_BOOL_FALSE"}}))).await?;
        let server = reg["mcpServer"]["connectorId"]
            .as_str()
            .context("server id")?
            .to_string();
        ensure!(
            reg["mcpServer"]["chamberlainLastDiscovery"]["ok"] == json!(true),
            "discovery failed: {reg}"
        );
        let sets = api(
            &http,
            &base,
            &admin,
            "GET",
            &format!("/api/v1/apps/{app}/connectors/{server}/mcp_toolsets"),
            None,
        )
        .await?;
        let all = sets["profiles"]
            .as_array()
            .context("profiles")?
            .iter()
            .find(|t| t["chamberlainBuiltIn"] == "ALL_APPROVED")
            .context("all approved")?;
        toolsets.push(
            all["appEntitlementId"]
                .as_str()
                .context("entitlement")?
                .to_string(),
        );
    }
    println!(
        "registered {} servers ({} tools each + echo) in {:.1} s",
        args.servers,
        args.tools_per_server,
        t.elapsed().as_secs_f64()
    );

    // The user and their AI client (stored as the authorization server stores them).
    let now = Timestamp::now();
    let user = chamberlain_model::user::User {
        id: chamberlain_model::new_id(),
        display_name: "Bench user".into(),
        email: "bench-user@example.com".into(),
        status: chamberlain_model::user::UserStatus::Enabled,
        created_at: Some(now),
        updated_at: Some(now),
        ..Default::default()
    };
    let client = oauth::OAuthClient {
        id: chamberlain_model::new_id(),
        client_id: chamberlain_model::new_id(),
        client_id_type: chamberlain_model::ai_governance::ClientIdType::Dcr,
        meta: oauth::ClientMetadata {
            client_name: "bench client".into(),
            redirect_uris: vec!["http://127.0.0.1/cb".into()],
            token_endpoint_auth_method: "none".into(),
            ..Default::default()
        },
        well_known: Default::default(),
        secret_hash: None,
        killed: false,
        created_at: now,
        updated_at: now,
    };
    let audit = AuditCtx::system("bench");
    chamberlain_store::write_tx!(store, &audit, |tx| {
        tx.create(&user).await?;
        oauth::insert_client(tx, &client).await?;
        oauth::activate(tx, &user.id, &client).await.map(|_| ())
    })?;
    tokio::time::sleep(Duration::from_millis(1100)).await;
    let mcp_url = format!("{base}/mcp");
    let token = state.issuer.issue_for_resource(
        &user.id,
        &client.client_id,
        &mcp_url,
        "mcp",
        3600,
        Timestamp::now().unix_seconds(),
    );
    for ent in &toolsets {
        api(
            &http,
            &base,
            &admin,
            "POST",
            "/api/v1/task/grant",
            Some(json!({"appId": app, "appEntitlementId": ent, "identityUserId": user.id})),
        )
        .await?;
    }

    // 1. Overhead and throughput: echo direct vs through the gateway.
    let bare_url = start_bare_relay(fixtures[0].url.clone()).await?;
    println!("\n| clients | direct p50 / p99 ms | direct calls/s | gateway p50 / p99 ms | gateway calls/s | added p50 / p99 ms | throughput ratio | bare relay p50 / p99 ms | bare relay calls/s (ratio) |");
    println!("|---|---|---|---|---|---|---|---|---|");
    for conc in [1usize, 8, 64] {
        let mut direct = Vec::new();
        let mut gw = Vec::new();
        let mut bare = Vec::new();
        for _ in 0..conc.min(64) {
            direct.push(Mcp::open(&http, &fixtures[0].url, None).await?);
            gw.push(Mcp::open(&http, &mcp_url, Some(&token)).await?);
            bare.push(Mcp::open(&http, &bare_url, None).await?);
        }
        // Warm up every path.
        load(&direct, "echo", 500, conc).await?;
        load(&gw, "s00_echo", 500, conc).await?;
        load(&bare, "echo", 500, conc).await?;
        let (d, drate) = load(&direct, "echo", args.calls, conc).await?;
        let (g, grate) = load(&gw, "s00_echo", args.calls, conc).await?;
        let (b, brate) = load(&bare, "echo", args.calls, conc).await?;
        println!(
            "| {conc} | {:.3} / {:.3} | {:.0} | {:.3} / {:.3} | {:.0} | {:.3} / {:.3} | {:.0}% | {:.3} / {:.3} | {:.0} ({:.0}%) |",
            pct(&d, 0.5),
            pct(&d, 0.99),
            drate,
            pct(&g, 0.5),
            pct(&g, 0.99),
            grate,
            pct(&g, 0.5) - pct(&d, 0.5),
            pct(&g, 0.99) - pct(&d, 0.99),
            grate / drate * 100.0,
            pct(&b, 0.5),
            pct(&b, 0.99),
            brate,
            brate / drate * 100.0
        );
    }

    // The one database read of each authorized MCP request (token check and the caller's
    // grants in the gateway's apps), alone: how much of the added latency it is.
    let apps = vec![app.clone()];
    let mut reads = Vec::with_capacity(5000);
    for _ in 0..5000 {
        let t = Instant::now();
        let check = oauth::mcp_check(store, &user.id, &client.client_id, &apps).await?;
        reads.push(t.elapsed());
        ensure!(check.is_some_and(|c| c.grants.is_some_and(|g| !g.is_empty())));
    }
    reads.sort();
    println!(
        "\nauthorization read per request (repo::oauth::mcp_check, one caller, 5,000 in a row): p50 {:.3} ms, p99 {:.3} ms",
        pct(&reads, 0.5),
        pct(&reads, 0.99)
    );

    // 2. tools/list for a user entitled to every tool.
    let m = Mcp::open(&http, &mcp_url, Some(&token)).await?;
    let first = m
        .send(json!({"jsonrpc": "2.0", "id": 1, "method": "tools/list"}))
        .await?;
    let n = first["result"]["tools"]
        .as_array()
        .map(|a| a.len())
        .unwrap_or(0);
    // Two clocks per call: until the whole answer has arrived (what the gateway costs), and
    // until this client has also parsed it into a JSON tree (~250 KB; client-side work).
    let mut lat = Vec::new();
    let mut lat_parsed = Vec::new();
    for i in 0..1000u64 {
        let t = Instant::now();
        let text = m
            .send_text(json!({"jsonrpc": "2.0", "id": i + 2, "method": "tools/list"}))
            .await?;
        lat.push(t.elapsed());
        let v = rpc_body(&text)?;
        lat_parsed.push(t.elapsed());
        ensure!(v["result"]["tools"].as_array().map(|a| a.len()) == Some(n));
    }
    lat.sort();
    println!("\ntools/list with {n} tools across {} servers, answer received: p50 {:.2} ms, p99 {:.2} ms (1,000 calls, one client)", args.servers, pct(&lat, 0.5), pct(&lat, 0.99));
    lat_parsed.sort();
    println!(
        "tools/list answer received and parsed by the client: p50 {:.2} ms, p99 {:.2} ms",
        pct(&lat_parsed, 0.5),
        pct(&lat_parsed, 0.99)
    );

    // 3. Memory: sessions keep no server state (sealed ids); streams do.
    let before = rss_kib();
    let mut ids = Vec::with_capacity(args.sessions);
    for _ in 0..args.sessions {
        ids.push(Mcp::open(&http, &mcp_url, Some(&token)).await?.session);
    }
    let after_sessions = rss_kib();
    let mut streams = Vec::new();
    for sid in ids.iter().take(1000) {
        let resp = http
            .get(&mcp_url)
            .bearer_auth(&token)
            .header("Accept", "text/event-stream")
            .header("Mcp-Session-Id", sid)
            .send()
            .await?;
        ensure!(resp.status().is_success(), "GET stream: {}", resp.status());
        streams.push(resp);
    }
    tokio::time::sleep(Duration::from_millis(500)).await;
    let after_streams = rss_kib();
    println!(
        "\nmemory (whole process: server and load generator): {} MiB before; +{:.1} MiB after {} sessions initialized; +{:.1} MiB more with 1,000 open notification streams",
        before / 1024,
        (after_sessions as f64 - before as f64) / 1024.0,
        args.sessions,
        (after_streams as f64 - after_sessions as f64) / 1024.0
    );
    drop(streams);

    // 4. Revocation under load: nothing that starts after the revoke commits is allowed.
    let ent = toolsets[0].clone();
    let sessions: Vec<Mcp> = {
        let mut v = Vec::new();
        for _ in 0..8 {
            v.push(Mcp::open(&http, &mcp_url, Some(&token)).await?);
        }
        v
    };
    let stop = Arc::new(AtomicBool::new(false));
    let committed_at: Arc<std::sync::Mutex<Option<Instant>>> = Arc::default();
    let mut tasks = Vec::new();
    for (i, m) in sessions.into_iter().enumerate() {
        let stop = stop.clone();
        let committed_at = committed_at.clone();
        tasks.push(tokio::spawn(async move {
            let (mut late_allowed, mut first_denied, mut calls) = (0u64, None::<Instant>, 0u64);
            let mut id = (i as u64) << 32;
            while !stop.load(Ordering::Relaxed) {
                id += 1;
                let started = Instant::now();
                let allowed = m.call("s00_echo", id).await?;
                calls += 1;
                let commit = *committed_at.lock().unwrap_or_else(|p| p.into_inner());
                if let Some(c) = commit {
                    if started > c && allowed {
                        late_allowed += 1;
                    }
                    if !allowed && first_denied.is_none() {
                        first_denied = Some(Instant::now());
                    }
                }
            }
            Ok::<_, anyhow::Error>((late_allowed, first_denied, calls))
        }));
    }
    tokio::time::sleep(Duration::from_millis(500)).await;
    api(
        &http,
        &base,
        &admin,
        "POST",
        "/api/v1/task/revoke",
        Some(json!({"appId": app, "appEntitlementId": ent, "identityUserId": user.id})),
    )
    .await?;
    let commit = Instant::now();
    *committed_at.lock().unwrap_or_else(|p| p.into_inner()) = Some(commit);
    tokio::time::sleep(Duration::from_millis(500)).await;
    stop.store(true, Ordering::Relaxed);
    let (mut late, mut first, mut calls) = (0, None::<Instant>, 0);
    for t in tasks {
        let (l, f, c) = t.await??;
        late += l;
        calls += c;
        first = match (first, f) {
            (Some(a), Some(b)) => Some(a.min(b)),
            (a, b) => a.or(b),
        };
    }
    let to_deny = first.map(|f| f.saturating_duration_since(commit).as_secs_f64() * 1000.0);
    println!(
        "\nrevocation under load (8 clients, {calls} calls): calls started after the revoke committed and still allowed: {late}; first denied call {} after the commit returned",
        to_deny.map(|ms| format!("{ms:.2} ms")).unwrap_or_else(|| "never".into())
    );
    ensure!(
        late == 0,
        "calls were allowed after the revocation committed"
    );
    Ok(())
}
