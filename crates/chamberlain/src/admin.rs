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
        #[arg(long, value_enum, default_value_t)]
        output: Output,
    },
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
            output,
        } => {
            if !email.contains('@') {
                bail!("`{email}` is not an email address");
            }
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
            chamberlain_store::write_tx!(store, &audit, |tx| { tx.create(&user).await })?;
            match output {
                Output::Json => println!("{}", serde_json::to_string(&user)?),
                Output::Text => println!("Created user {} ({})", user.id, user.email),
            }
        }
    }
    store.close().await;
    Ok(())
}
