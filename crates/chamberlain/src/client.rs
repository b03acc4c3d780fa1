//! A small client for CLI commands that act on a running server. They go through the public
//! API like any other client, with an API client's credentials: `--client-id` /
//! `--client-secret` (or `CHAMBERLAIN_CLIENT_ID` / `CHAMBERLAIN_CLIENT_SECRET`) when given,
//! else the profile `--profile` (`CHAMBERLAIN_PROFILE`, default `default`) that
//! `chamberlain login` stored. Failures carry the exit codes of `crate::exit`.

use crate::exit::{self, Exit};
use crate::profiles;
use anyhow::{bail, Context, Result};
use clap::Args;
use reqwest::{Method, StatusCode};
use serde_json::Value;
use std::sync::Mutex;

/// The server used when neither a flag, the environment nor a profile names one.
pub const DEFAULT_SERVER: &str = "http://127.0.0.1:8080";

/// Where the server is and how to sign in.
#[derive(Args, Debug, Clone)]
pub struct ServerArgs {
    /// Base URL of the Chamberlain server [default: the profile's server, else http://127.0.0.1:8080]
    #[arg(long, env = "CHAMBERLAIN_SERVER")]
    pub server: Option<String>,
    /// API client id (instead of a profile).
    #[arg(long, env = "CHAMBERLAIN_CLIENT_ID", hide_env_values = true)]
    pub client_id: Option<String>,
    /// API client secret (prefer the environment variable: flags show up in process lists).
    #[arg(long, env = "CHAMBERLAIN_CLIENT_SECRET", hide_env_values = true)]
    pub client_secret: Option<String>,
    /// Profile (saved by `chamberlain login`) to use.
    #[arg(long, env = "CHAMBERLAIN_PROFILE", default_value = "default")]
    pub profile: String,
}

impl ServerArgs {
    /// The server from the flag or environment, trimmed.
    pub fn explicit_server(&self) -> Option<String> {
        self.server
            .as_deref()
            .map(|s| s.trim().trim_end_matches('/').to_string())
            .filter(|s| !s.is_empty())
    }

    /// Credentials in order of precedence: explicit client id and secret, then the profile.
    pub fn resolve(&self) -> Result<Resolved> {
        match (&self.client_id, &self.client_secret) {
            (Some(id), Some(secret)) if !id.is_empty() && !secret.is_empty() => {
                return Ok(Resolved {
                    server: self
                        .explicit_server()
                        .unwrap_or_else(|| DEFAULT_SERVER.to_string()),
                    client_id: id.clone(),
                    client_secret: secret.clone(),
                    profile: None,
                })
            }
            (Some(_), None) | (None, Some(_)) => bail!(
                "pass both the client id and the client secret (CHAMBERLAIN_CLIENT_ID and CHAMBERLAIN_CLIENT_SECRET), or neither to use a profile"
            ),
            _ => {}
        }
        let path = profiles::path()?;
        let file = profiles::load(&path)?;
        let Some(p) = file.profiles.get(&self.profile) else {
            return Err(Exit::auth(format!(
                "not signed in: there is no profile `{}` in {}",
                self.profile,
                path.display()
            )));
        };
        let server = p.server.trim_end_matches('/').to_string();
        if let Some(explicit) = self.explicit_server() {
            if explicit != server {
                return Err(Exit::auth(format!(
                    "profile `{}` is signed in to {server}, not {explicit}; pick another --profile, or sign in to {explicit} with `chamberlain login --server {explicit} --profile NAME`",
                    self.profile
                )));
            }
        }
        Ok(Resolved {
            server,
            client_id: p.client_id.clone(),
            client_secret: p.client_secret.clone(),
            profile: Some(self.profile.clone()),
        })
    }
}

/// Credentials to use.
#[derive(Clone, Debug)]
pub struct Resolved {
    /// Base URL, no trailing slash.
    pub server: String,
    /// Client id.
    pub client_id: String,
    /// Client secret.
    pub client_secret: String,
    /// The profile they came from, if any.
    pub profile: Option<String>,
}

/// An authenticated API session. Access tokens are short-lived: one that expires during a long
/// command (`get --wait`) is replaced once, transparently; a refused client ends the command
/// with exit code 3.
pub struct ApiClient {
    base: String,
    token: Mutex<String>,
    http: reqwest::Client,
    creds: Resolved,
}

/// The message of an error body (C1's `message`, OAuth's `error_description`), else the body.
pub fn error_text(status: StatusCode, body: &str) -> String {
    let parsed: Option<Value> = serde_json::from_str(body).ok();
    let msg = parsed
        .as_ref()
        .and_then(|v| v.get("message").or_else(|| v.get("error_description")))
        .and_then(Value::as_str)
        .map(str::to_string)
        .unwrap_or_else(|| body.chars().take(500).collect());
    format!("server answered {status}: {msg}")
}

/// An HTTP client for the CLI.
pub fn http() -> Result<reqwest::Client> {
    Ok(reqwest::Client::builder()
        .user_agent(concat!("chamberlain-cli/", env!("CARGO_PKG_VERSION")))
        .build()?)
}

async fn client_credentials(http: &reqwest::Client, creds: &Resolved) -> Result<String> {
    let base = &creds.server;
    let resp = http
        .post(format!("{base}/auth/v1/token"))
        .form(&[
            ("grant_type", "client_credentials"),
            ("client_id", creds.client_id.as_str()),
            ("client_secret", creds.client_secret.as_str()),
        ])
        .send()
        .await
        .with_context(|| format!("cannot reach the server at {base}"))?;
    let status = resp.status();
    let body = resp.text().await?;
    if status == StatusCode::UNAUTHORIZED || status == StatusCode::BAD_REQUEST {
        let whose = match &creds.profile {
            Some(p) => format!("the credentials of profile `{p}`"),
            None => "the client credentials".to_string(),
        };
        return Err(Exit::auth(format!(
            "{whose} were refused (expired, revoked or wrong): {}",
            error_text(status, &body)
        )));
    }
    if !status.is_success() {
        bail!("sign-in failed: {}", error_text(status, &body));
    }
    let v: Value = serde_json::from_str(&body)?;
    Ok(v["access_token"]
        .as_str()
        .context("token response has no access_token")?
        .to_string())
}

impl ApiClient {
    /// Resolves the credentials and exchanges them for an access token.
    pub async fn connect(args: &ServerArgs) -> Result<ApiClient> {
        let creds = args.resolve()?;
        let http = http()?;
        let token = client_credentials(&http, &creds).await?;
        Ok(ApiClient {
            base: creds.server.clone(),
            token: Mutex::new(token),
            http,
            creds,
        })
    }

    /// A session on an access token obtained otherwise (the device flow of `login`).
    pub fn with_token(server: &str, token: String) -> Result<ApiClient> {
        Ok(ApiClient {
            base: server.trim_end_matches('/').to_string(),
            token: Mutex::new(token),
            http: http()?,
            creds: Resolved {
                server: server.to_string(),
                client_id: String::new(),
                client_secret: String::new(),
                profile: None,
            },
        })
    }

    /// The server's base URL.
    pub fn base(&self) -> &str {
        &self.base
    }

    /// The credentials in use.
    pub fn creds(&self) -> &Resolved {
        &self.creds
    }

    fn token(&self) -> String {
        self.token.lock().map(|t| t.clone()).unwrap_or_default()
    }

    async fn send_once(
        &self,
        method: &Method,
        path: &str,
        body: Option<&Value>,
    ) -> Result<reqwest::Response> {
        let mut req = self
            .http
            .request(method.clone(), format!("{}{path}", self.base))
            .bearer_auth(self.token());
        if let Some(b) = body {
            req = req.json(b);
        }
        req.send()
            .await
            .with_context(|| format!("cannot reach the server at {}", self.base))
    }

    /// Sends a request and returns the status and the JSON body (`null` when empty or not
    /// JSON). An access token refused as expired is renewed once and the request sent again
    /// (a refused request changed nothing).
    pub async fn request(
        &self,
        method: Method,
        path: &str,
        body: Option<&Value>,
    ) -> Result<(StatusCode, Value)> {
        let mut resp = self.send_once(&method, path, body).await?;
        if resp.status() == StatusCode::UNAUTHORIZED && !self.creds.client_id.is_empty() {
            let fresh = client_credentials(&self.http, &self.creds).await?;
            if let Ok(mut t) = self.token.lock() {
                *t = fresh;
            }
            resp = self.send_once(&method, path, body).await?;
        }
        let status = resp.status();
        let text = resp.text().await?;
        let v = if text.trim().is_empty() {
            Value::Null
        } else {
            serde_json::from_str(&text).unwrap_or(Value::String(text))
        };
        Ok((status, v))
    }

    /// Sends a request and maps failures to exit codes: 401 → 3, 404 → 4, others → 1.
    pub async fn call(&self, method: Method, path: &str, body: Option<&Value>) -> Result<Value> {
        let (status, v) = self.request(method, path, body).await?;
        if status.is_success() {
            return Ok(v);
        }
        let text = error_text(status, &v.to_string());
        Err(match status {
            StatusCode::UNAUTHORIZED => {
                Exit::auth(format!("the server refused the credentials ({text})"))
            }
            StatusCode::NOT_FOUND => Exit::with(exit::NOT_FOUND, text),
            _ => anyhow::anyhow!(text),
        })
    }

    /// GET a path.
    pub async fn get(&self, path: &str) -> Result<Value> {
        self.call(Method::GET, path, None).await
    }

    /// POST JSON to a path.
    pub async fn post(&self, path: &str, body: &Value) -> Result<Value> {
        self.call(Method::POST, path, Some(body)).await
    }

    /// DELETE with a JSON body (C1 uses bodies on some deletes).
    pub async fn delete(&self, path: &str, body: &Value) -> Result<Value> {
        self.call(Method::DELETE, path, Some(body)).await
    }

    /// POST a file's bytes to a path, streamed from disk.
    pub async fn upload(&self, path: &str, file: &std::path::Path) -> Result<Value> {
        let f = tokio::fs::File::open(file)
            .await
            .with_context(|| format!("cannot open {}", file.display()))?;
        let body = reqwest::Body::wrap_stream(tokio_util_stream(f));
        let resp = self
            .http
            .post(format!("{}{path}", self.base))
            .bearer_auth(self.token())
            .header("content-type", "application/octet-stream")
            .body(body)
            .send()
            .await?;
        let status = resp.status();
        let text = resp.text().await?;
        if !status.is_success() {
            return Err(match status {
                StatusCode::UNAUTHORIZED => Exit::auth(format!(
                    "the server refused the credentials ({})",
                    error_text(status, &text)
                )),
                StatusCode::NOT_FOUND => Exit::with(exit::NOT_FOUND, error_text(status, &text)),
                _ => anyhow::anyhow!(error_text(status, &text)),
            });
        }
        Ok(serde_json::from_str(&text).unwrap_or(Value::Null))
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
