//! `chamberlain api METHOD PATH [--data JSON|@FILE]`: a raw authenticated call to the public
//! API, printing the JSON body. Non-2xx answers print the body too and set the exit code
//! (401 → 3, 404 → 4, others → 1).

use crate::client::{ApiClient, ServerArgs};
use crate::exit::{self, Exit};
use anyhow::{bail, Context, Result};
use clap::Args;
use reqwest::{Method, StatusCode};
use serde_json::Value;

/// `chamberlain api`.
#[derive(Args)]
pub struct ApiArgs {
    /// HTTP method: GET, POST, PUT, PATCH or DELETE.
    method: String,
    /// Path on the server, e.g. /api/v1/auth/introspect.
    path: String,
    /// JSON request body, or @FILE to read it from a file (@- reads standard input).
    #[arg(long, short = 'd')]
    data: Option<String>,
    /// Print the JSON on one line instead of indented.
    #[arg(long)]
    compact: bool,
    #[command(flatten)]
    server: ServerArgs,
}

fn body(data: &str) -> Result<Value> {
    let text = match data.strip_prefix('@') {
        Some("-") => {
            let mut s = String::new();
            std::io::Read::read_to_string(&mut std::io::stdin(), &mut s)?;
            s
        }
        Some(path) => {
            std::fs::read_to_string(path).with_context(|| format!("cannot read {path}"))?
        }
        None => data.to_string(),
    };
    serde_json::from_str(&text).context("--data is not valid JSON")
}

/// Runs the call.
pub async fn run(a: ApiArgs) -> Result<()> {
    let method = match a.method.to_ascii_uppercase().as_str() {
        "GET" => Method::GET,
        "POST" => Method::POST,
        "PUT" => Method::PUT,
        "PATCH" => Method::PATCH,
        "DELETE" => Method::DELETE,
        other => bail!("method `{other}` is not GET, POST, PUT, PATCH or DELETE"),
    };
    if !a.path.starts_with('/') {
        bail!("the path must start with `/`, e.g. /api/v1/auth/introspect");
    }
    let data = a.data.as_deref().map(body).transpose()?;
    let data = match (&method, data) {
        (m, None) if *m != Method::GET => Some(Value::Object(Default::default())),
        (_, d) => d,
    };
    let api = ApiClient::connect(&a.server).await?;
    let (status, v) = api.request(method, &a.path, data.as_ref()).await?;
    let text = if a.compact {
        v.to_string()
    } else {
        serde_json::to_string_pretty(&v)?
    };
    println!("{text}");
    match status {
        s if s.is_success() => Ok(()),
        StatusCode::UNAUTHORIZED => Err(Exit::auth(format!("the server answered {status}"))),
        StatusCode::NOT_FOUND => Err(Exit::with(
            exit::NOT_FOUND,
            format!("the server answered {status}"),
        )),
        _ => Err(Exit::with(
            exit::ERROR,
            format!("the server answered {status}"),
        )),
    }
}
