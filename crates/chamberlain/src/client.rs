//! A small client for CLI commands that act on a running server. They go through the public
//! API like any other client: `--server` (or `CHAMBERLAIN_SERVER`) and the client credentials
//! in `CHAMBERLAIN_CLIENT_ID` / `CHAMBERLAIN_CLIENT_SECRET`.

use anyhow::{bail, Context, Result};
use clap::Args;
use serde_json::Value;

/// Where the server is and how to sign in.
#[derive(Args, Debug, Clone)]
pub struct ServerArgs {
    /// Base URL of the Chamberlain server.
    #[arg(
        long,
        env = "CHAMBERLAIN_SERVER",
        default_value = "http://127.0.0.1:8080"
    )]
    pub server: String,
    /// API client id.
    #[arg(long, env = "CHAMBERLAIN_CLIENT_ID", hide_env_values = true)]
    pub client_id: Option<String>,
    /// API client secret (prefer the environment variable: flags show up in process lists).
    #[arg(long, env = "CHAMBERLAIN_CLIENT_SECRET", hide_env_values = true)]
    pub client_secret: Option<String>,
}

/// An authenticated API session.
pub struct ApiClient {
    base: String,
    token: String,
    http: reqwest::Client,
}

fn error_text(status: reqwest::StatusCode, body: &str) -> String {
    let parsed: Option<Value> = serde_json::from_str(body).ok();
    let msg = parsed
        .as_ref()
        .and_then(|v| v.get("message").or_else(|| v.get("error_description")))
        .and_then(Value::as_str)
        .map(str::to_string)
        .unwrap_or_else(|| body.chars().take(500).collect());
    format!("server answered {status}: {msg}")
}

impl ApiClient {
    /// Exchanges the client credentials for an access token.
    pub async fn connect(args: &ServerArgs) -> Result<ApiClient> {
        let (Some(id), Some(secret)) = (&args.client_id, &args.client_secret) else {
            bail!("set CHAMBERLAIN_CLIENT_ID and CHAMBERLAIN_CLIENT_SECRET (create them with `chamberlain admin create-client` or POST /api/v1/iam/personal_clients)");
        };
        let base = args.server.trim_end_matches('/').to_string();
        let http = reqwest::Client::builder().build()?;
        let resp = http
            .post(format!("{base}/auth/v1/token"))
            .form(&[
                ("grant_type", "client_credentials"),
                ("client_id", id.as_str()),
                ("client_secret", secret.as_str()),
            ])
            .send()
            .await
            .with_context(|| format!("cannot reach the server at {base}"))?;
        let status = resp.status();
        let body = resp.text().await?;
        if !status.is_success() {
            bail!("sign-in failed: {}", error_text(status, &body));
        }
        let v: Value = serde_json::from_str(&body)?;
        let token = v["access_token"]
            .as_str()
            .context("token response has no access_token")?
            .to_string();
        Ok(ApiClient { base, token, http })
    }

    async fn finish(resp: reqwest::Response) -> Result<Value> {
        let status = resp.status();
        let body = resp.text().await?;
        if !status.is_success() {
            bail!("{}", error_text(status, &body));
        }
        Ok(serde_json::from_str(&body).unwrap_or(Value::Null))
    }

    /// GET a path.
    pub async fn get(&self, path: &str) -> Result<Value> {
        Self::finish(
            self.http
                .get(format!("{}{path}", self.base))
                .bearer_auth(&self.token)
                .send()
                .await?,
        )
        .await
    }

    /// POST JSON to a path.
    pub async fn post(&self, path: &str, body: &Value) -> Result<Value> {
        Self::finish(
            self.http
                .post(format!("{}{path}", self.base))
                .bearer_auth(&self.token)
                .json(body)
                .send()
                .await?,
        )
        .await
    }

    /// DELETE with a JSON body (C1 uses bodies on some deletes).
    pub async fn delete(&self, path: &str, body: &Value) -> Result<Value> {
        Self::finish(
            self.http
                .delete(format!("{}{path}", self.base))
                .bearer_auth(&self.token)
                .json(body)
                .send()
                .await?,
        )
        .await
    }

    /// POST a file's bytes to a path, streamed from disk.
    pub async fn upload(&self, path: &str, file: &std::path::Path) -> Result<Value> {
        let f = tokio::fs::File::open(file)
            .await
            .with_context(|| format!("cannot open {}", file.display()))?;
        let body = reqwest::Body::wrap_stream(tokio_util_stream(f));
        Self::finish(
            self.http
                .post(format!("{}{path}", self.base))
                .bearer_auth(&self.token)
                .header("content-type", "application/octet-stream")
                .body(body)
                .send()
                .await?,
        )
        .await
    }
}

/// Reads a file as a stream of chunks.
fn tokio_util_stream(
    mut f: tokio::fs::File,
) -> impl futures::Stream<Item = std::io::Result<Vec<u8>>> {
    use tokio::io::AsyncReadExt;
    async_stream(move |tx| async move {
        loop {
            let mut buf = vec![0u8; 1 << 20];
            match f.read(&mut buf).await {
                Ok(0) => break,
                Ok(n) => {
                    buf.truncate(n);
                    if tx.send(Ok(buf)).await.is_err() {
                        break;
                    }
                }
                Err(e) => {
                    let _ = tx.send(Err(e)).await;
                    break;
                }
            }
        }
    })
}

fn async_stream<F, Fut>(f: F) -> impl futures::Stream<Item = std::io::Result<Vec<u8>>>
where
    F: FnOnce(tokio::sync::mpsc::Sender<std::io::Result<Vec<u8>>>) -> Fut,
    Fut: std::future::Future<Output = ()> + Send + 'static,
{
    let (tx, mut rx) = tokio::sync::mpsc::channel(4);
    tokio::spawn(f(tx));
    futures::stream::poll_fn(move |cx| rx.poll_recv(cx))
}
