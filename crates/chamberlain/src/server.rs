//! Starting the server: settings, database, keys, HTTP.

use crate::config::{self, DbArgs, LogFormat, ServeArgs, Settings};
use anyhow::{Context, Result};
use chamberlain_api::metrics::Metrics;
use chamberlain_api::worker::JobSettings;
use chamberlain_api::AppState;
use chamberlain_auth::crypto::SecretBox;
use chamberlain_auth::jws::b64;
use chamberlain_auth::tokens::TokenIssuer;
use chamberlain_model::Timestamp;
use chamberlain_store::repo::keys::{self, StoredKey};
use chamberlain_store::{redact_url, Store};
use ed25519_dalek::SigningKey;
use std::sync::Arc;

/// Opens (and migrates) the database and loads the encryption key.
pub async fn open(settings: &Settings) -> Result<(Store, SecretBox)> {
    if settings.database_url.starts_with("sqlite:") || settings.encryption_key.is_none() {
        std::fs::create_dir_all(&settings.data_dir).with_context(|| {
            format!(
                "cannot create data directory {}",
                settings.data_dir.display()
            )
        })?;
    }
    let store = Store::connect(&settings.database_url).await?;
    store.migrate().await?;
    let secrets = match &settings.encryption_key {
        Some(k) => SecretBox::from_base64(k)?,
        None => SecretBox::from_base64(&load_or_create_key_file(settings)?)?,
    };
    Ok((store, secrets))
}

fn load_or_create_key_file(settings: &Settings) -> Result<String> {
    let path = settings.data_dir.join("encryption.key");
    if let Ok(k) = std::fs::read_to_string(&path) {
        return Ok(k.trim().to_string());
    }
    let key = SecretBox::generate_key_base64();
    write_private(&path, &key)?;
    eprintln!("generated an encryption key at {} (back it up; set CHAMBERLAIN_ENCRYPTION_KEY in production)", path.display());
    Ok(key)
}

fn write_private(path: &std::path::Path, contents: &str) -> Result<()> {
    use std::io::Write;
    let mut opts = std::fs::OpenOptions::new();
    opts.write(true).create_new(true);
    #[cfg(unix)]
    {
        use std::os::unix::fs::OpenOptionsExt;
        opts.mode(0o600);
    }
    let mut f = opts
        .open(path)
        .with_context(|| format!("cannot create {}", path.display()))?;
    f.write_all(contents.as_bytes())?;
    Ok(())
}

/// Loads the token signing keys, creating the first one on a fresh database.
async fn signing_keys(store: &Store, secrets: &SecretBox) -> Result<Vec<(String, SigningKey)>> {
    let mut stored = keys::active(store, "token-signing").await?;
    if stored.is_empty() {
        let key = SigningKey::generate(&mut rand::rngs::OsRng);
        let id = chamberlain_model::new_id();
        let sealed = secrets.seal(key.as_bytes(), &format!("server_keys:{id}"));
        keys::insert(
            store,
            "token-signing",
            &StoredKey {
                id,
                public_key: b64(key.verifying_key().as_bytes()),
                secret: sealed,
                created_at: Timestamp::now().as_micros(),
            },
        )
        .await?;
        stored = keys::active(store, "token-signing").await?;
    }
    stored
        .into_iter()
        .map(|k| {
            let raw = secrets
                .open(&k.secret, &format!("server_keys:{}", k.id))
                .context("cannot decrypt the token signing key")?;
            let bytes: [u8; 32] = raw
                .try_into()
                .map_err(|_| anyhow::anyhow!("stored signing key has the wrong length"))?;
            Ok((k.id, SigningKey::from_bytes(&bytes)))
        })
        .collect()
}

fn init_logging(format: LogFormat) {
    let filter = tracing_subscriber::EnvFilter::try_from_env("CHAMBERLAIN_LOG")
        .unwrap_or_else(|_| "info".into());
    let builder = tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_writer(std::io::stderr);
    let _ = match format {
        LogFormat::Json => builder.json().try_init(),
        LogFormat::Text => builder.try_init(),
    };
}

/// `chamberlain serve`.
pub async fn serve(db: &DbArgs, args: &ServeArgs) -> Result<()> {
    let settings = config::resolve(db, args)?;
    init_logging(settings.log_format);
    let (store, secrets) = open(&settings).await?;
    let issuer = TokenIssuer::new(
        settings.public_url.trim_end_matches('/').to_string(),
        signing_keys(&store, &secrets).await?,
    )?;
    let host = settings
        .public_url
        .split("://")
        .nth(1)
        .unwrap_or(&settings.public_url)
        .split('/')
        .next()
        .unwrap_or_default()
        .to_string();
    let jobs = JobSettings {
        lease: settings.job_lease,
        sync_lock_ttl: settings.job_lease,
        poll: settings.worker_poll,
        retry_delay: settings.sync_retry,
        webhook_allow_hosts: settings.webhook_allow_hosts.clone(),
        outbound_allow_hosts: settings.outbound_allow_hosts.clone(),
        webhook_max_attempts: settings.webhook_max_attempts,
        smtp: settings.smtp.clone(),
        sso: settings.sso.clone(),
        digest: chamberlain_notify::digest::DigestClock {
            time_zone: settings.notify_time_zone.clone(),
            ..Default::default()
        },
        notify_retry: chamberlain_notify::delivery::RetryPolicy {
            max_attempts: settings.notify_max_attempts,
            ..Default::default()
        },
        ..JobSettings::under(&settings.data_dir)
    };
    let public_url = settings.public_url.trim_end_matches('/').to_string();
    let gateway = chamberlain_api::gateway(&store, &secrets, &jobs, &public_url).await?;
    let state = Arc::new(AppState {
        store: store.clone(),
        issuer,
        secrets,
        gateway,
        public_url: settings.public_url.trim_end_matches('/').to_string(),
        audiences: vec![host.clone(), settings.listen.clone(), "localhost".into()],
        metrics: Metrics::default(),
        jobs,
    });
    let worker = chamberlain_api::worker::spawn(state.clone());
    let listener = tokio::net::TcpListener::bind(&settings.listen)
        .await
        .with_context(|| format!("cannot listen on {}", settings.listen))?;
    // The demo first: it creates its own super admin, so the bootstrap has nothing to do.
    let demo = match args.demo {
        true => Some(crate::demo::prepare(&state, &settings.data_dir, &host).await?),
        false => None,
    };
    let demo_without_flag = !args.demo && crate::demo::is_demo(&store).await?;
    let bootstrapped = crate::bootstrap::ensure_super_admin(&store).await?;
    let data_hint = if settings.database_url.starts_with("sqlite:") {
        format!("--data-dir {}", settings.data_dir.display())
    } else {
        format!("--database-url '{}'", redact_url(&settings.database_url))
    };
    println!(
        "Chamberlain is listening on {} (database: {})",
        settings.public_url,
        redact_url(&settings.database_url)
    );
    println!("Get an admin credential with: chamberlain admin create-client --role super-admin {data_hint}");
    if let Some(created) = &bootstrapped {
        println!("{}", crate::bootstrap::announcement(&public_url, created));
    }
    if let Some(outcome) = &demo {
        println!("{}", crate::demo::announcement(&public_url, outcome));
    }
    if demo_without_flag {
        println!("{}", crate::demo::PLAIN_START_WARNING);
    }
    tracing::info!(listen = %settings.listen, "serving");
    // Small answers go out at once (no Nagle delay on the MCP gateway or the API).
    use axum::serve::ListenerExt;
    let listener = listener.tap_io(|tcp| {
        let _ = tcp.set_nodelay(true);
    });
    axum::serve(listener, chamberlain_web::app(state))
        .with_graceful_shutdown(shutdown_signal())
        .await?;
    // A job cut off here keeps its lease until it expires; then any replica retries it.
    worker.abort();
    store.close().await;
    tracing::info!("stopped");
    Ok(())
}

async fn shutdown_signal() {
    let ctrl_c = async {
        let _ = tokio::signal::ctrl_c().await;
    };
    #[cfg(unix)]
    let term = async {
        if let Ok(mut s) = tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate())
        {
            s.recv().await;
        }
    };
    #[cfg(not(unix))]
    let term = std::future::pending::<()>();
    tokio::select! { _ = ctrl_c => {}, _ = term => {} }
    tracing::info!("shutting down: finishing in-flight requests");
}

/// `chamberlain migrate`.
pub async fn migrate_only(db: &DbArgs) -> Result<()> {
    let settings = config::resolve(db, &ServeArgs::default())?;
    let store = Store::connect(&settings.database_url).await?;
    let applied = store.migrate().await?;
    println!(
        "{} migration(s) applied; schema is current ({})",
        applied.len(),
        redact_url(&settings.database_url)
    );
    Ok(())
}
