//! `chamberlain-mcp-fixture`: a test fixture written for Chamberlain, not a product.
//!
//! It is an MCP server built on the official Rust SDK (`rmcp`) that stands in for the
//! downstream servers Chamberlain's MCP gateway fronts:
//!
//! - it implements the tools, resources and prompts the official conformance suite
//!   (`@modelcontextprotocol/conformance`) calls by name (`test_simple_text`,
//!   `test://static-text`, `test_simple_prompt`, the 2026-07-28 MRTR tools, the Tasks extension's
//!   `slow_compute`, …), so the suite can run against it directly or through the gateway
//!   (`scripts/conformance`);
//! - it speaks Streamable HTTP at `/mcp` in both protocol eras (legacy sessions with
//!   `initialize`, and stateless 2026-07-28 requests) or stdio;
//! - it has knobs for gateway tests and benchmarks: a cheap read-only `echo`, a destructive
//!   `delete_item`, `whoami` (which credentials reached the server), N generated tools, a tool
//!   file re-read on every `tools/list`, and inbound bearer / basic / header authentication.

mod catalog;
mod server;
mod tasks;

use std::io::Write;
use std::net::SocketAddr;
use std::path::PathBuf;
use std::sync::Arc;

use anyhow::{bail, Context};
use axum::extract::Request;
use axum::http::{header, HeaderName, HeaderValue, StatusCode};
use axum::middleware::Next;
use axum::response::{IntoResponse, Response};
use base64::Engine as _;
use clap::Parser;
use rmcp::transport::streamable_http_server::session::local::LocalSessionManager;
use rmcp::transport::{StreamableHttpServerConfig, StreamableHttpService};
use rmcp::ServiceExt;

use server::{Fixture, Options};

#[derive(Parser, Debug)]
#[command(
    name = "chamberlain-mcp-fixture",
    version,
    about = "MCP fixture server for Chamberlain's tests (conformance fixtures, gateway test tools)"
)]
struct Cli {
    /// Serve Streamable HTTP at http://ADDR/mcp (port 0 picks a free port; the real address is
    /// printed as `listening on http://ADDR/mcp`).
    #[arg(long, value_name = "ADDR", conflicts_with = "stdio")]
    listen: Option<SocketAddr>,
    /// Serve over stdin/stdout.
    #[arg(long)]
    stdio: bool,
    /// Add N generated tools `gen_0000 … gen_{N-1}` that echo their `text` argument.
    #[arg(long, value_name = "N", default_value_t = 0)]
    tools: usize,
    /// Expose only the generated tools and `echo`.
    #[arg(long)]
    only_generated: bool,
    /// JSON array of extra tool definitions ({name, description, annotations, inputSchema}),
    /// re-read on every tools/list; changes are announced with tools/list_changed.
    #[arg(long, value_name = "PATH")]
    tools_file: Option<PathBuf>,
    /// Refuse HTTP requests without `Authorization: Bearer TOKEN` (401).
    #[arg(long, value_name = "TOKEN")]
    require_bearer: Option<String>,
    /// Refuse HTTP requests without this header and value, e.g. 'X-Api-Key: secret' (401).
    #[arg(long, value_name = "'NAME: VALUE'")]
    require_header: Option<String>,
    /// Refuse HTTP requests without HTTP Basic credentials USER:PASS (401).
    #[arg(long, value_name = "USER:PASS")]
    require_basic: Option<String>,
    /// Extra Host values to accept besides loopback (DNS-rebinding protection stays on).
    #[arg(long, value_name = "HOST")]
    allowed_host: Vec<String>,
}

/// Inbound credentials every HTTP request must carry (all of the configured ones).
#[derive(Default)]
struct Required {
    authorization: Vec<(HeaderValue, &'static str)>,
    header: Option<(HeaderName, HeaderValue)>,
}

impl Required {
    fn from_cli(cli: &Cli) -> anyhow::Result<Self> {
        let mut required = Required::default();
        if let Some(token) = &cli.require_bearer {
            required
                .authorization
                .push((HeaderValue::from_str(&format!("Bearer {token}"))?, "Bearer"));
        }
        if let Some(credentials) = &cli.require_basic {
            if !credentials.contains(':') {
                bail!("--require-basic takes USER:PASS");
            }
            let encoded = base64::engine::general_purpose::STANDARD.encode(credentials);
            required.authorization.push((
                HeaderValue::from_str(&format!("Basic {encoded}"))?,
                "Basic realm=\"fixture\"",
            ));
        }
        if let Some(spec) = &cli.require_header {
            let (name, value) = spec
                .split_once(':')
                .context("--require-header takes 'Name: value'")?;
            required.header = Some((
                HeaderName::from_bytes(name.trim().as_bytes())?,
                HeaderValue::from_str(value.trim())?,
            ));
        }
        if required.authorization.len() > 1 {
            bail!("--require-bearer and --require-basic both use Authorization; pick one");
        }
        Ok(required)
    }

    fn is_empty(&self) -> bool {
        self.authorization.is_empty() && self.header.is_none()
    }

    /// The challenge to answer with, or `None` if the request carries what is required.
    fn refuse(&self, request: &Request) -> Option<&'static str> {
        let headers = request.headers();
        for (expected, challenge) in &self.authorization {
            if headers.get(header::AUTHORIZATION) != Some(expected) {
                return Some(challenge);
            }
        }
        if let Some((name, expected)) = &self.header {
            if headers.get(name) != Some(expected) {
                return Some("ApiKey");
            }
        }
        None
    }
}

async fn check_credentials(required: Arc<Required>, request: Request, next: Next) -> Response {
    match required.refuse(&request) {
        None => next.run(request).await,
        Some(challenge) => (
            StatusCode::UNAUTHORIZED,
            [(header::WWW_AUTHENTICATE, challenge)],
            "missing or wrong credentials\n",
        )
            .into_response(),
    }
}

async fn serve_http(cli: &Cli, addr: SocketAddr, fixture: Fixture) -> anyhow::Result<()> {
    let required = Arc::new(Required::from_cli(cli)?);
    let mut hosts: Vec<String> = vec!["localhost".into(), "127.0.0.1".into(), "::1".into()];
    hosts.extend(cli.allowed_host.iter().cloned());
    let config = StreamableHttpServerConfig::default().with_allowed_hosts(hosts);
    let service = StreamableHttpService::new(
        move || Ok(fixture.clone()),
        LocalSessionManager::default().into(),
        config,
    );
    let mut router = axum::Router::new().nest_service("/mcp", service);
    if !required.is_empty() {
        router = router.layer(axum::middleware::from_fn(move |request, next| {
            check_credentials(required.clone(), request, next)
        }));
    }
    let listener = tokio::net::TcpListener::bind(addr)
        .await
        .with_context(|| format!("binding {addr}"))?;
    let bound = listener.local_addr()?;
    // Tests and scripts wait for this exact line.
    let mut stdout = std::io::stdout();
    writeln!(stdout, "listening on http://{bound}/mcp")?;
    stdout.flush()?;
    // Answers are small and latency matters (the gateway benchmark measures through this
    // server): send each write at once instead of waiting for Nagle's algorithm.
    use axum::serve::ListenerExt;
    let listener = listener.tap_io(|tcp| {
        let _ = tcp.set_nodelay(true);
    });
    axum::serve(listener, router).await?;
    Ok(())
}

#[tokio::main]
async fn main() -> anyhow::Result<()> {
    let cli = Cli::parse();
    let fixture = Fixture::new(Options {
        generated: cli.tools,
        only_generated: cli.only_generated,
        tools_file: cli.tools_file.clone(),
    });
    fixture.spawn_tools_file_watch();
    match (cli.listen, cli.stdio) {
        (Some(addr), false) => serve_http(&cli, addr, fixture).await,
        (None, true) => {
            let running = fixture.serve(rmcp::transport::stdio()).await?;
            running.waiting().await?;
            Ok(())
        }
        _ => bail!("choose --listen ADDR or --stdio"),
    }
}
