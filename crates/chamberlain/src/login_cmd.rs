//! `chamberlain login`, `logout` and `whoami`.
//!
//! `login` runs the OAuth device authorization grant (RFC 8628) against the server as the
//! public client `chamberlain-cli`: it shows a URL and a code, the user approves the code in a
//! browser where they are signed in, and the short-lived token it gets creates a personal API
//! client (`POST /api/v1/iam/personal_clients`) whose credentials go into the profile. Later
//! commands use that client; `logout` deletes it on the server and removes the profile.

use crate::access_cmd::parse_duration;
use crate::admin::Output;
use crate::client::{self, error_text, ApiClient, ServerArgs};
use crate::exit::{self, Exit};
use crate::out;
use crate::profiles::{self, Profile};
use anyhow::{bail, Context, Result};
use clap::Args;
use serde_json::{json, Value};
use std::io::Write;
use std::time::{Duration, Instant};

/// The public OAuth client id of the command-line client (served by every Chamberlain).
pub const CLI_CLIENT_ID: &str = "chamberlain-cli";
const DEVICE_GRANT: &str = "urn:ietf:params:oauth:grant-type:device_code";

/// `chamberlain login`.
#[derive(Args)]
pub struct LoginArgs {
    /// Base URL of the server [default: the profile's server, else http://127.0.0.1:8080]
    #[arg(long, env = "CHAMBERLAIN_SERVER")]
    server: Option<String>,
    /// Profile to store the sign-in in.
    #[arg(long, env = "CHAMBERLAIN_PROFILE", default_value = "default")]
    profile: String,
    /// Let the personal client expire after this long (e.g. 90d, 12h) [default: never]
    #[arg(long)]
    expires: Option<String>,
    #[arg(long, value_enum, default_value_t)]
    output: Output,
}

/// `chamberlain logout`.
#[derive(Args)]
pub struct LogoutArgs {
    /// Profile to sign out of.
    #[arg(long, env = "CHAMBERLAIN_PROFILE", default_value = "default")]
    profile: String,
}

/// `chamberlain whoami`.
#[derive(Args)]
pub struct WhoamiArgs {
    #[command(flatten)]
    server: ServerArgs,
    #[arg(long, value_enum, default_value_t)]
    output: Output,
}

fn host_name() -> String {
    std::fs::read_to_string("/etc/hostname")
        .ok()
        .map(|h| h.trim().to_string())
        .filter(|h| !h.is_empty())
        .or_else(|| std::env::var("HOSTNAME").ok().filter(|h| !h.is_empty()))
        .or_else(|| std::env::var("COMPUTERNAME").ok().filter(|h| !h.is_empty()))
        .unwrap_or_else(|| "this computer".into())
}

async fn form_post(
    http: &reqwest::Client,
    url: &str,
    form: &[(&str, &str)],
) -> Result<(reqwest::StatusCode, Value)> {
    let resp = http
        .post(url)
        .form(form)
        .send()
        .await
        .with_context(|| format!("cannot reach the server at {url}"))?;
    let status = resp.status();
    let text = resp.text().await?;
    Ok((
        status,
        serde_json::from_str(&text).unwrap_or(Value::String(text)),
    ))
}

/// Runs the device flow; returns the user's access token. The instructions go to standard
/// output, or to standard error when standard output carries JSON.
async fn device_flow(base: &str, json_output: bool) -> Result<String> {
    let http = client::http()?;
    let (status, v) = form_post(
        &http,
        &format!("{base}/auth/v1/device_authorization"),
        &[("client_id", CLI_CLIENT_ID), ("scope", "api")],
    )
    .await?;
    if status == reqwest::StatusCode::NOT_FOUND {
        bail!("{base} does not offer device sign-in (/auth/v1/device_authorization); is it a Chamberlain server?");
    }
    if !status.is_success() {
        bail!(
            "the server refused to start the sign-in: {}",
            error_text(status, &v.to_string())
        );
    }
    let device_code = v["device_code"]
        .as_str()
        .context("the server sent no device_code")?
        .to_string();
    let user_code = v["user_code"].as_str().unwrap_or_default();
    let uri = v["verification_uri"].as_str().unwrap_or_default();
    let complete = v["verification_uri_complete"].as_str().unwrap_or(uri);
    let mut interval = v["interval"].as_u64().unwrap_or(5).max(1);
    let expires_in = v["expires_in"].as_u64().unwrap_or(600);
    {
        let text = format!(
            "To sign in, open {uri}\nand enter the code: {user_code}\n(or open {complete})\nWaiting for approval (the code expires in {} minutes)…\n",
            expires_in.div_ceil(60)
        );
        if json_output {
            let mut e = std::io::stderr().lock();
            e.write_all(text.as_bytes())?;
            e.flush()?;
        } else {
            let mut o = std::io::stdout().lock();
            o.write_all(text.as_bytes())?;
            o.flush()?;
        }
    }
    let deadline = Instant::now() + Duration::from_secs(expires_in + 5);
    loop {
        tokio::time::sleep(Duration::from_secs(interval)).await;
        if Instant::now() > deadline {
            return Err(Exit::with(
                exit::TIMEOUT,
                "the code expired before it was approved; run `chamberlain login` again",
            ));
        }
        let (status, v) = form_post(
            &http,
            &format!("{base}/auth/v1/token"),
            &[
                ("grant_type", DEVICE_GRANT),
                ("device_code", device_code.as_str()),
                ("client_id", CLI_CLIENT_ID),
            ],
        )
        .await?;
        if status.is_success() {
            return v["access_token"]
                .as_str()
                .map(str::to_string)
                .context("the token response has no access_token");
        }
        let error = v["error"].as_str().unwrap_or_default();
        let description = v["error_description"].as_str().unwrap_or_default();
        match error {
            "authorization_pending" => {}
            "slow_down" => interval += 5,
            "access_denied" => {
                return Err(Exit::with(
                    exit::DENIED,
                    "the sign-in was denied in the browser",
                ))
            }
            "expired_token" => {
                return Err(Exit::with(
                    exit::TIMEOUT,
                    "the code expired before it was approved; run `chamberlain login` again",
                ))
            }
            _ if status.is_server_error() => {} // try again at the next interval
            _ => bail!(
                "sign-in failed: {}",
                if description.is_empty() {
                    error_text(status, &v.to_string())
                } else {
                    format!("{error}: {description}")
                }
            ),
        }
    }
}

/// `chamberlain login`.
pub async fn login(a: LoginArgs) -> Result<()> {
    let path = profiles::path()?;
    let mut file = profiles::load(&path)?;
    let old = file.profiles.get(&a.profile).cloned();
    let base = a
        .server
        .as_deref()
        .map(|s| s.trim().trim_end_matches('/').to_string())
        .filter(|s| !s.is_empty())
        .or_else(|| old.as_ref().map(|p| p.server.clone()))
        .unwrap_or_else(|| client::DEFAULT_SERVER.to_string());
    let expires = a.expires.as_deref().map(parse_duration).transpose()?;
    let token = device_flow(&base, a.output == Output::Json).await?;
    let api = ApiClient::with_token(&base, token)?;
    let me = api.get("/api/v1/auth/introspect").await?;
    let user_id = me["userId"].as_str().unwrap_or_default().to_string();
    let user = api
        .get(&format!("/api/v1/users/{user_id}"))
        .await
        .map(|v| v["userView"]["user"].clone())
        .unwrap_or(Value::Null);
    let email = user["email"].as_str().unwrap_or_default().to_string();
    let mut body = json!({"displayName": format!("chamberlain CLI on {}", host_name())});
    if let Some(e) = &expires {
        body["expires"] = json!(e);
    }
    let created = api
        .post("/api/v1/iam/personal_clients", &body)
        .await
        .context("creating the personal API client failed")?;
    let client_id = created["client"]["clientId"]
        .as_str()
        .context("the server returned no client id")?
        .to_string();
    let secret = created["clientSecret"]
        .as_str()
        .context("the server returned no client secret")?
        .to_string();
    // A new sign-in replaces the profile's previous client on the same server (best effort:
    // as the same user with the new token, else with the old client's own credentials).
    if let Some(o) = &old {
        if o.server == base && !o.personal_client_id.is_empty() {
            let path = format!("/api/v1/iam/personal_clients/{}", o.personal_client_id);
            if o.user_id == user_id {
                let _ = api.delete(&path, &json!({})).await;
            } else {
                let args = ServerArgs {
                    server: Some(o.server.clone()),
                    client_id: Some(o.client_id.clone()),
                    client_secret: Some(o.client_secret.clone()),
                    profile: a.profile.clone(),
                };
                if let Ok(prev) = ApiClient::connect(&args).await {
                    let _ = prev.delete(&path, &json!({})).await;
                }
            }
        }
    }
    file.profiles.insert(
        a.profile.clone(),
        Profile {
            server: base.clone(),
            client_id: client_id.clone(),
            client_secret: secret,
            personal_client_id: created["client"]["id"].as_str().unwrap_or_default().into(),
            user_id: user_id.clone(),
            user_email: email.clone(),
        },
    );
    profiles::save(&path, &file)?;
    match a.output {
        Output::Json => println!(
            "{}",
            json!({"server": base, "profile": a.profile, "userId": user_id, "email": email, "clientId": client_id, "configFile": path})
        ),
        Output::Text => println!(
            "Signed in to {base} as {} (profile `{}`); credentials saved in {}",
            if email.is_empty() { &user_id } else { &email },
            a.profile,
            path.display()
        ),
    }
    Ok(())
}

/// `chamberlain logout`: deletes the profile's personal client on the server (best effort)
/// and removes the profile.
pub async fn logout(a: LogoutArgs) -> Result<()> {
    let path = profiles::path()?;
    let mut file = profiles::load(&path)?;
    let Some(p) = file.profiles.get(&a.profile).cloned() else {
        return Err(Exit::with(
            exit::NOT_FOUND,
            format!("there is no profile `{}` in {}", a.profile, path.display()),
        ));
    };
    let args = ServerArgs {
        server: None,
        client_id: None,
        client_secret: None,
        profile: a.profile.clone(),
    };
    let revoked = async {
        let api = ApiClient::connect(&args).await?;
        let id = if p.personal_client_id.is_empty() {
            // Profiles written by hand: find the client by its client id.
            let list = api.get("/api/v1/iam/personal_clients").await?;
            list["list"]
                .as_array()
                .and_then(|l| l.iter().find(|c| c["clientId"] == json!(p.client_id)))
                .and_then(|c| c["id"].as_str())
                .map(str::to_string)
                .context("the profile's client is not among your personal clients")?
        } else {
            p.personal_client_id.clone()
        };
        api.delete(&format!("/api/v1/iam/personal_clients/{id}"), &json!({}))
            .await
            .map(|_| ())
    }
    .await;
    file.profiles.remove(&a.profile);
    profiles::save(&path, &file)?;
    match revoked {
        Ok(()) => println!(
            "Signed out of {} (profile `{}`): its API client was deleted on the server",
            p.server, a.profile
        ),
        Err(e) => {
            println!("Removed profile `{}` from {}", a.profile, path.display());
            eprintln!(
                "warning: could not delete its API client {} on {}: {e:#}; delete it yourself (DELETE /api/v1/iam/personal_clients/…) if it still exists",
                p.client_id, p.server
            );
        }
    }
    Ok(())
}

/// `chamberlain whoami`.
pub async fn whoami(a: WhoamiArgs) -> Result<()> {
    let api = ApiClient::connect(&a.server).await?;
    let me = api.get("/api/v1/auth/introspect").await?;
    let user_id = me["userId"].as_str().unwrap_or_default().to_string();
    let user = api
        .get(&format!("/api/v1/users/{user_id}"))
        .await
        .map(|v| v["userView"]["user"].clone())
        .unwrap_or(Value::Null);
    let roles: Vec<String> = me["roles"]
        .as_array()
        .map(|r| {
            r.iter()
                .filter_map(Value::as_str)
                .map(str::to_string)
                .collect()
        })
        .unwrap_or_default();
    let creds = api.creds();
    let v = json!({
        "userId": user_id,
        "email": user["email"],
        "displayName": user["displayName"],
        "roles": roles,
        "server": api.base(),
        "profile": creds.profile,
        "clientId": creds.client_id,
    });
    match a.output {
        Output::Json => println!("{v}"),
        Output::Text => print!(
            "{}",
            out::fields(&[
                (
                    "User",
                    user["displayName"].as_str().unwrap_or("").to_string()
                ),
                ("Email", user["email"].as_str().unwrap_or("").to_string()),
                ("User id", user_id.clone()),
                ("Roles", roles.join(", ")),
                ("Server", api.base().to_string()),
                (
                    "Profile",
                    creds
                        .profile
                        .clone()
                        .unwrap_or_else(|| "(client credentials from flags or environment)".into())
                ),
                ("Client id", creds.client_id.clone()),
            ])
        ),
    }
    Ok(())
}
