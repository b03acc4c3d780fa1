//! `chamberlain admin …`: acts on the database directly, for bootstrapping (the first admin
//! credential) and local users. Every change is audited like an API change.

use crate::config::{self, DbArgs, ServeArgs};
use anyhow::{bail, Result};
use chamberlain_model::principal::Role;
use chamberlain_model::user::{User, UserOrigin, UserStatus, UserType};
use chamberlain_model::{new_id, Timestamp};
use chamberlain_store::AuditCtx;
use clap::{Subcommand, ValueEnum};
use serde_json::json;

/// Output format of commands that print data.
#[derive(Clone, Copy, Debug, ValueEnum, Default, PartialEq, Eq)]
pub enum Output {
    /// Human-readable.
    #[default]
    Text,
    /// JSON, for scripts.
    Json,
}

#[derive(Subcommand)]
pub enum AdminCommand {
    /// Create an API client (and a service user holding ROLE) and print its credentials once.
    CreateClient {
        /// Role: super-admin, app-admin, read-only-admin or basic-user.
        #[arg(long)]
        role: String,
        /// Name shown for the client and its service user.
        #[arg(long, default_value = "Admin API client")]
        display_name: String,
        /// Public URL of the server (its host goes into the client id) [default: http://<listen>]
        #[arg(long, env = "CHAMBERLAIN_PUBLIC_URL")]
        public_url: Option<String>,
        #[arg(long, value_enum, default_value_t)]
        output: Output,
    },
    /// Create a local user.
    CreateUser {
        #[arg(long)]
        email: String,
        #[arg(long)]
        display_name: String,
        /// Role(s), comma-separated [default: basic-user]
        #[arg(long, default_value = "basic-user")]
        role: String,
        /// A password for signing in (AI clients' OAuth sign-in). Visible to other local users
        /// in the process list; prefer --password-stdin.
        #[arg(long, conflicts_with = "password_stdin")]
        password: Option<String>,
        /// Read the password from the first line of standard input.
        #[arg(long)]
        password_stdin: bool,
        #[arg(long, value_enum, default_value_t)]
        output: Output,
    },
    /// Set (or replace) a local user's sign-in password, read from standard input.
    SetPassword {
        /// The user's email address.
        #[arg(long)]
        email: String,
        /// Read the password from the first line of standard input (the only way; the flag
        /// makes scripts explicit: `printf '%s\n' "$PW" | chamberlain admin set-password --email E --password-stdin`).
        #[arg(long)]
        password_stdin: bool,
    },
}

/// Reads a password from the first line of standard input (without its line ending).
fn password_from_stdin() -> Result<String> {
    let mut line = String::new();
    std::io::stdin().read_line(&mut line)?;
    let pw = line.trim_end_matches(['\r', '\n']).to_string();
    if pw.is_empty() {
        bail!("no password on standard input: pipe it in, e.g. `printf '%s\\n' \"$PASSWORD\" | chamberlain admin …`");
    }
    Ok(pw)
}

/// Checks and hashes a password (Argon2id).
fn hash_password(pw: &str) -> Result<String> {
    chamberlain_auth::password::check_new(pw).map_err(anyhow::Error::msg)?;
    chamberlain_auth::password::hash(pw).map_err(anyhow::Error::msg)
}

fn parse_roles(s: &str) -> Result<Vec<String>> {
    s.split(',')
        .map(|r| match Role::parse(r) {
            Some(role) => Ok(role.id().to_string()),
            None => bail!(
                "`{r}` is not a role; use super-admin, app-admin, read-only-admin or basic-user"
            ),
        })
        .collect()
}

pub async fn run(db: &DbArgs, cmd: AdminCommand) -> Result<()> {
    let settings = config::resolve(db, &ServeArgs::default())?;
    let (store, _) = crate::server::open(&settings).await?;
    let audit = AuditCtx::system("admin-cli");
    match cmd {
        AdminCommand::CreateClient {
            role,
            display_name,
            public_url,
            output,
        } => {
            let roles = parse_roles(&role)?;
            let now = Timestamp::now();
            let user = User {
                id: new_id(),
                display_name: display_name.clone(),
                status: UserStatus::Enabled,
                directory_status: UserStatus::Enabled,
                origin: UserOrigin::System,
                user_type: UserType::Service,
                role_ids: roles,
                created_at: Some(now),
                updated_at: Some(now),
                ..Default::default()
            };
            chamberlain_store::write_tx!(store, &audit, |tx| { tx.create(&user).await })?;
            let url = public_url.unwrap_or(settings.public_url.clone());
            let host = url
                .split("://")
                .nth(1)
                .unwrap_or(&url)
                .split('/')
                .next()
                .unwrap_or_default()
                .to_string();
            let (client, secret) = chamberlain_api::routes::iam::mint_client(
                &store,
                &audit,
                &host,
                chamberlain_api::routes::iam::NewClient {
                    user_id: &user.id,
                    display_name: &display_name,
                    personal: false,
                    expires_at: None,
                    scoped_roles: vec![],
                    connector: None,
                },
            )
            .await?;
            match output {
                Output::Json => println!(
                    "{}",
                    json!({"clientId": client.client.client_id, "clientSecret": secret, "userId": user.id})
                ),
                Output::Text => {
                    println!("Client ID:     {}", client.client.client_id);
                    println!("Client secret: {secret}");
                    println!("(the secret is shown only now; store it safely)");
                }
            }
        }
        AdminCommand::CreateUser {
            email,
            display_name,
            role,
            password,
            password_stdin,
            output,
        } => {
            if !email.contains('@') {
                bail!("`{email}` is not an email address");
            }
            let password = match (password, password_stdin) {
                (Some(p), _) => Some(p),
                (None, true) => Some(password_from_stdin()?),
                (None, false) => None,
            };
            let phc = password.as_deref().map(hash_password).transpose()?;
            let now = Timestamp::now();
            let user = User {
                id: new_id(),
                display_name,
                email: email.clone(),
                emails: vec![email],
                status: UserStatus::Enabled,
                directory_status: UserStatus::Enabled,
                origin: UserOrigin::Local,
                user_type: UserType::Human,
                role_ids: parse_roles(&role)?,
                created_at: Some(now),
                updated_at: Some(now),
                ..Default::default()
            };
            chamberlain_store::write_tx!(store, &audit, |tx| {
                tx.create(&user).await?;
                if let Some(phc) = &phc {
                    chamberlain_store::repo::web_auth::set_password(tx, &user.id, phc).await?;
                }
                Ok(())
            })?;
            match output {
                Output::Json => println!("{}", serde_json::to_string(&user)?),
                Output::Text => println!("Created user {} ({})", user.id, user.email),
            }
        }
        AdminCommand::SetPassword {
            email,
            password_stdin,
        } => {
            if !password_stdin {
                bail!("pass --password-stdin and pipe the password in (it is never taken from the command line)");
            }
            let pw = password_from_stdin()?;
            let phc = hash_password(&pw)?;
            let user = chamberlain_store::repo::web_auth::user_by_email(&store, &email)
                .await?
                .ok_or_else(|| anyhow::anyhow!("no user has the email address `{email}`"))?;
            chamberlain_store::write_tx!(store, &audit, |tx| {
                chamberlain_store::repo::web_auth::set_password(tx, &user.id, &phc).await
            })?;
            println!("Password set for {} ({})", user.email, user.id);
        }
    }
    store.close().await;
    Ok(())
}
