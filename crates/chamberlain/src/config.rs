//! Configuration: command-line flags, then `CHAMBERLAIN_*` environment variables, then an
//! optional TOML file (`--config` / `CHAMBERLAIN_CONFIG`), then built-in defaults.

use anyhow::{bail, Context, Result};
use clap::Args;
use serde::Deserialize;
use std::path::{Path, PathBuf};

/// Storage and secrets settings shared by every subcommand that opens the database.
#[derive(Args, Debug, Clone, Default)]
pub struct DbArgs {
    /// Directory for the embedded SQLite database and generated keys [default: ./chamberlain-data]
    #[arg(long, env = "CHAMBERLAIN_DATA_DIR", global = true)]
    pub data_dir: Option<PathBuf>,
    /// Database URL: sqlite://PATH or postgres://USER@HOST/DB [default: SQLite file in the data dir]
    #[arg(long, env = "CHAMBERLAIN_DATABASE_URL", global = true)]
    pub database_url: Option<String>,
    /// Base64 of 32 random bytes used to encrypt secrets at rest [default: generated into the data dir]
    #[arg(
        long,
        env = "CHAMBERLAIN_ENCRYPTION_KEY",
        global = true,
        hide_env_values = true
    )]
    pub encryption_key: Option<String>,
    /// TOML configuration file.
    #[arg(long, env = "CHAMBERLAIN_CONFIG", global = true)]
    pub config: Option<PathBuf>,
}

/// Server settings.
#[derive(Args, Debug, Clone, Default)]
pub struct ServeArgs {
    /// Address to listen on [default: 127.0.0.1:8080]
    #[arg(long, env = "CHAMBERLAIN_LISTEN")]
    pub listen: Option<String>,
    /// Public base URL clients reach the server at [default: http://<listen>]
    #[arg(long, env = "CHAMBERLAIN_PUBLIC_URL")]
    pub public_url: Option<String>,
    /// Log format: text or json [default: text]
    #[arg(long, env = "CHAMBERLAIN_LOG_FORMAT")]
    pub log_format: Option<String>,
    /// Lease of a background job (a replica that dies mid-job loses it after this long and
    /// another retries the job) and of an app's sync lock, in seconds [default: 60]
    #[arg(long, env = "CHAMBERLAIN_JOB_LEASE_SECONDS")]
    pub job_lease_seconds: Option<u64>,
    /// How often the background worker looks for due jobs, in milliseconds [default: 1000]
    #[arg(long, env = "CHAMBERLAIN_WORKER_POLL_MS")]
    pub worker_poll_ms: Option<u64>,
    /// Wait before retrying a failed sync, in seconds, times the attempt number [default: 60]
    #[arg(long, env = "CHAMBERLAIN_SYNC_RETRY_SECONDS")]
    pub sync_retry_seconds: Option<u64>,
    /// Webhook destinations exempt from the https/port-443/public-address rules, as `host` or
    /// `host:port`, comma-separated (development and test receivers only) [default: none]
    #[arg(long, env = "CHAMBERLAIN_WEBHOOK_ALLOW_HOSTS", value_delimiter = ',')]
    pub webhook_allow_hosts: Option<Vec<String>>,
    /// Destinations of MCP servers, OAuth and client-metadata documents exempt from the
    /// https/public-address rules, as `host` or `host:port`, comma-separated (development and
    /// test servers only) [default: none]
    #[arg(long, env = "CHAMBERLAIN_OUTBOUND_ALLOW_HOSTS", value_delimiter = ',')]
    pub outbound_allow_hosts: Option<Vec<String>>,
    /// Attempts of a webhook delivery before it fails [default: 50]
    #[arg(long, env = "CHAMBERLAIN_WEBHOOK_MAX_ATTEMPTS")]
    pub webhook_max_attempts: Option<u64>,
    /// SMTP server for email notifications, as
    /// `smtp://[USER[:PASSWORD]@]HOST[:PORT][?security=starttls|tls|none&timeout=SECONDS]`
    /// (`smtps://` for implicit TLS); settings saved in the admin API win [default: none]
    #[arg(long, env = "CHAMBERLAIN_SMTP_URL", hide_env_values = true)]
    pub smtp_url: Option<String>,
    /// Sender of email notifications, `Name <address>` or `address`
    #[arg(long, env = "CHAMBERLAIN_SMTP_FROM")]
    pub smtp_from: Option<String>,
    /// A PEM certificate to trust for the SMTP server's TLS (a relay with a private CA)
    #[arg(long, env = "CHAMBERLAIN_SMTP_CA_FILE")]
    pub smtp_ca_file: Option<PathBuf>,
    /// IANA time zone in which digests go out (daily on weekdays at 9:00, weekly at 10:00)
    /// [default: UTC]
    #[arg(long, env = "CHAMBERLAIN_NOTIFY_TIME_ZONE")]
    pub notify_time_zone: Option<String>,
    /// Attempts of a notification delivery before it is marked failed [default: 8]
    #[arg(long, env = "CHAMBERLAIN_NOTIFY_MAX_ATTEMPTS")]
    pub notify_max_attempts: Option<u64>,
    /// Load the demo organization "Acme" (200 people, apps, access profiles, an MCP server)
    /// and print its sign-ins. Not for production: the demo sign-ins use a published password.
    /// Refused on a database that already holds apps (other than an earlier demo).
    #[arg(long)]
    pub demo: bool,
    /// Single sign-on: the OpenID provider's issuer URL (setting it enables single sign-on;
    /// settings saved in the admin API win) [default: none]
    #[arg(long, env = "CHAMBERLAIN_SSO_ISSUER_URL")]
    pub sso_issuer_url: Option<String>,
    /// Single sign-on: Chamberlain's client id at the provider
    #[arg(long, env = "CHAMBERLAIN_SSO_CLIENT_ID")]
    pub sso_client_id: Option<String>,
    /// Single sign-on: the client secret
    #[arg(long, env = "CHAMBERLAIN_SSO_CLIENT_SECRET", hide_env_values = true)]
    pub sso_client_secret: Option<String>,
    /// Single sign-on: scopes, comma-separated [default: openid,email,profile]
    #[arg(long, env = "CHAMBERLAIN_SSO_SCOPES", value_delimiter = ',')]
    pub sso_scopes: Option<Vec<String>>,
    /// Single sign-on: the name on the sign-in button ("Sign in with NAME")
    #[arg(long, env = "CHAMBERLAIN_SSO_DISPLAY_NAME")]
    pub sso_display_name: Option<String>,
    /// Single sign-on: only emails in these domains may sign in, comma-separated [default: any]
    #[arg(
        long,
        env = "CHAMBERLAIN_SSO_ALLOWED_EMAIL_DOMAINS",
        value_delimiter = ','
    )]
    pub sso_allowed_email_domains: Option<Vec<String>>,
}

/// The TOML file's keys (all optional).
#[derive(Deserialize, Default, Debug)]
#[serde(deny_unknown_fields)]
struct FileConfig {
    listen: Option<String>,
    public_url: Option<String>,
    data_dir: Option<PathBuf>,
    database_url: Option<String>,
    encryption_key: Option<String>,
    log_format: Option<String>,
    job_lease_seconds: Option<u64>,
    worker_poll_ms: Option<u64>,
    sync_retry_seconds: Option<u64>,
    webhook_allow_hosts: Option<Vec<String>>,
    outbound_allow_hosts: Option<Vec<String>>,
    webhook_max_attempts: Option<u64>,
    smtp_url: Option<String>,
    smtp_from: Option<String>,
    smtp_ca_file: Option<PathBuf>,
    notify_time_zone: Option<String>,
    notify_max_attempts: Option<u64>,
    sso_issuer_url: Option<String>,
    sso_client_id: Option<String>,
    sso_client_secret: Option<String>,
    sso_scopes: Option<Vec<String>>,
    sso_display_name: Option<String>,
    sso_allowed_email_domains: Option<Vec<String>>,
    sso_token_endpoint_auth_method: Option<String>,
}

/// Fully resolved settings.
#[derive(Debug, Clone)]
pub struct Settings {
    pub listen: String,
    pub public_url: String,
    pub data_dir: PathBuf,
    pub database_url: String,
    pub encryption_key: Option<String>,
    pub log_format: LogFormat,
    pub job_lease: std::time::Duration,
    pub worker_poll: std::time::Duration,
    pub sync_retry: std::time::Duration,
    pub webhook_allow_hosts: Vec<String>,
    pub outbound_allow_hosts: Vec<String>,
    pub webhook_max_attempts: i64,
    /// The config file's SMTP server (the admin API's settings win).
    pub smtp: Option<chamberlain_notify::email::SmtpSettings>,
    pub notify_time_zone: jiff::tz::TimeZone,
    pub notify_max_attempts: i64,
    /// The config file's single sign-on (settings saved through the API win).
    pub sso: Option<chamberlain_api::sso::SsoConfig>,
}

/// How logs are written.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum LogFormat {
    /// Human-readable lines.
    Text,
    /// One JSON object per line.
    Json,
}

fn read_file(path: &Path) -> Result<FileConfig> {
    let text = std::fs::read_to_string(path)
        .with_context(|| format!("cannot read config file {}", path.display()))?;
    toml::from_str(&text).with_context(|| format!("config file {} is invalid", path.display()))
}

/// Resolves settings from flags, environment, file and defaults.
pub fn resolve(db: &DbArgs, serve: &ServeArgs) -> Result<Settings> {
    let file = match &db.config {
        Some(p) => read_file(p)?,
        None => FileConfig::default(),
    };
    let listen = serve
        .listen
        .clone()
        .or(file.listen)
        .unwrap_or_else(|| "127.0.0.1:8080".into());
    if listen.parse::<std::net::SocketAddr>().is_err() {
        bail!("listen address `{listen}` is not HOST:PORT with an IP address (e.g. 127.0.0.1:8080 or 0.0.0.0:8080)");
    }
    let data_dir = db
        .data_dir
        .clone()
        .or(file.data_dir)
        .unwrap_or_else(|| PathBuf::from("chamberlain-data"));
    let database_url = match db.database_url.clone().or(file.database_url) {
        Some(u) => u,
        None => format!(
            "sqlite://{}?mode=rwc",
            data_dir.join("chamberlain.db").display()
        ),
    };
    let public_url = serve
        .public_url
        .clone()
        .or(file.public_url)
        .unwrap_or_else(|| format!("http://{listen}"));
    let log_format = match serve.log_format.clone().or(file.log_format).as_deref() {
        None | Some("text") => LogFormat::Text,
        Some("json") => LogFormat::Json,
        Some(other) => bail!("log format `{other}` is not `text` or `json`"),
    };
    let positive = |name: &str, v: Option<u64>, default: u64| -> Result<u64> {
        match v.unwrap_or(default) {
            0 => bail!("{name} must be greater than 0"),
            n => Ok(n),
        }
    };
    let job_lease = positive(
        "job lease seconds",
        serve.job_lease_seconds.or(file.job_lease_seconds),
        60,
    )?;
    let worker_poll = positive(
        "worker poll milliseconds",
        serve.worker_poll_ms.or(file.worker_poll_ms),
        1000,
    )?;
    let sync_retry = positive(
        "sync retry seconds",
        serve.sync_retry_seconds.or(file.sync_retry_seconds),
        60,
    )?;
    let webhook_allow_hosts = allow_list(
        "webhook",
        serve
            .webhook_allow_hosts
            .clone()
            .or(file.webhook_allow_hosts),
    )?;
    let outbound_allow_hosts = allow_list(
        "outbound",
        serve
            .outbound_allow_hosts
            .clone()
            .or(file.outbound_allow_hosts),
    )?;
    let webhook_max_attempts = positive(
        "webhook max attempts",
        serve.webhook_max_attempts.or(file.webhook_max_attempts),
        50,
    )?;
    let smtp = match serve.smtp_url.clone().or(file.smtp_url) {
        None => None,
        Some(url) => {
            let from = serve
                .smtp_from
                .clone()
                .or(file.smtp_from)
                .unwrap_or_default();
            let mut s = chamberlain_notify::email::SmtpSettings::from_url(&url, &from)
                .map_err(|e| anyhow::anyhow!("smtp_url / smtp_from: {e}"))?;
            if let Some(path) = serve.smtp_ca_file.clone().or(file.smtp_ca_file) {
                s.ca_pem =
                    Some(std::fs::read(&path).with_context(|| {
                        format!("cannot read the SMTP CA file {}", path.display())
                    })?);
            }
            s.validate().map_err(|e| anyhow::anyhow!("smtp_url: {e}"))?;
            Some(s)
        }
    };
    let notify_time_zone = match serve.notify_time_zone.clone().or(file.notify_time_zone) {
        None => jiff::tz::TimeZone::UTC,
        Some(name) => jiff::tz::TimeZone::get(&name).map_err(|e| {
            anyhow::anyhow!(
                "notify time zone `{name}` is not an IANA time zone name (e.g. Europe/Berlin): {e}"
            )
        })?,
    };
    let notify_max_attempts = positive(
        "notify max attempts",
        serve.notify_max_attempts.or(file.notify_max_attempts),
        8,
    )?;
    let sso = match serve.sso_issuer_url.clone().or(file.sso_issuer_url) {
        None => None,
        Some(issuer_url) => {
            let c = chamberlain_api::sso::SsoConfig {
                issuer_url,
                client_id: serve
                    .sso_client_id
                    .clone()
                    .or(file.sso_client_id)
                    .unwrap_or_default(),
                client_secret: serve
                    .sso_client_secret
                    .clone()
                    .or(file.sso_client_secret)
                    .unwrap_or_default(),
                scopes: serve
                    .sso_scopes
                    .clone()
                    .or(file.sso_scopes)
                    .unwrap_or_default(),
                display_name: serve
                    .sso_display_name
                    .clone()
                    .or(file.sso_display_name)
                    .unwrap_or_default(),
                allowed_email_domains: serve
                    .sso_allowed_email_domains
                    .clone()
                    .or(file.sso_allowed_email_domains)
                    .unwrap_or_default(),
                token_endpoint_auth_method: file.sso_token_endpoint_auth_method.unwrap_or_default(),
            };
            c.validate()
                .map_err(|e| anyhow::anyhow!("single sign-on (sso_* settings): {e}"))?;
            Some(c)
        }
    };
    Ok(Settings {
        sso,
        smtp,
        notify_time_zone,
        notify_max_attempts: i64::try_from(notify_max_attempts).unwrap_or(i64::MAX),
        webhook_allow_hosts,
        outbound_allow_hosts,
        webhook_max_attempts: i64::try_from(webhook_max_attempts).unwrap_or(i64::MAX),
        job_lease: std::time::Duration::from_secs(job_lease),
        worker_poll: std::time::Duration::from_millis(worker_poll),
        sync_retry: std::time::Duration::from_secs(sync_retry),
        listen,
        public_url,
        data_dir,
        database_url,
        encryption_key: db.encryption_key.clone().or(file.encryption_key),
        log_format,
    })
}

/// Normalizes an allow-list of `host` / `host:port` entries, refusing anything else.
fn allow_list(what: &str, entries: Option<Vec<String>>) -> anyhow::Result<Vec<String>> {
    let hosts: Vec<String> = entries
        .unwrap_or_default()
        .into_iter()
        .map(|h| h.trim().to_ascii_lowercase())
        .filter(|h| !h.is_empty())
        .collect();
    for h in &hosts {
        if h.contains('/') || h.contains('@') {
            bail!("{what} allow-list entry `{h}` is not a host or host:port");
        }
    }
    Ok(hosts)
}

#[cfg(test)]
mod tests {
    use super::*;
    use clap::Parser;

    #[derive(Parser)]
    struct Cli {
        #[command(flatten)]
        serve: ServeArgs,
    }

    #[test]
    fn webhook_settings_resolve() {
        let cli = Cli::try_parse_from([
            "t",
            "--webhook-allow-hosts",
            "127.0.0.1:9000, Hooks.Local",
            "--webhook-max-attempts",
            "7",
        ])
        .unwrap();
        let s = resolve(&DbArgs::default(), &cli.serve).unwrap();
        assert_eq!(s.webhook_allow_hosts, ["127.0.0.1:9000", "hooks.local"]);
        assert_eq!(s.webhook_max_attempts, 7);
        let s = resolve(&DbArgs::default(), &ServeArgs::default()).unwrap();
        assert!(s.webhook_allow_hosts.is_empty());
        assert_eq!(s.webhook_max_attempts, 50);
        let cli = Cli::try_parse_from(["t", "--webhook-allow-hosts", "https://x/y"]).unwrap();
        assert!(resolve(&DbArgs::default(), &cli.serve).is_err());
    }

    #[test]
    fn notification_settings_resolve_and_refuse_clearly() {
        let dir = std::env::temp_dir().join(format!("cfg-{}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        let file = dir.join("c.toml");
        std::fs::write(
            &file,
            "smtp_url = \"smtp://mailer:pw@mail.example.com:2525?security=starttls\"\nsmtp_from = \"IT <it@example.com>\"\nnotify_time_zone = \"Europe/Berlin\"\nnotify_max_attempts = 5\n",
        )
        .unwrap();
        let db = DbArgs {
            config: Some(file.clone()),
            ..Default::default()
        };
        let s = resolve(&db, &ServeArgs::default()).unwrap();
        let smtp = s.smtp.unwrap();
        assert_eq!((smtp.host.as_str(), smtp.port), ("mail.example.com", 2525));
        assert_eq!(smtp.from_address, "it@example.com");
        assert_eq!(s.notify_max_attempts, 5);
        assert_eq!(s.notify_time_zone.iana_name(), Some("Europe/Berlin"));
        // Flags win over the file; bad values name the setting and the fix.
        for (args, wanted) in [
            (
                vec!["t", "--smtp-url", "smtp://x", "--smtp-from", "nope"],
                "smtp_url / smtp_from",
            ),
            (vec!["t", "--smtp-url", "imap://x"], "smtp://"),
            (
                vec!["t", "--notify-time-zone", "Mars/Olympus"],
                "IANA time zone",
            ),
            (
                vec!["t", "--smtp-ca-file", "/nonexistent.pem"],
                "SMTP CA file",
            ),
        ] {
            let cli = Cli::try_parse_from(args.clone()).unwrap();
            let e = resolve(&db, &cli.serve).unwrap_err().to_string();
            assert!(e.contains(wanted), "{args:?}: {e}");
        }
        let _ = std::fs::remove_dir_all(&dir);
    }

    #[test]
    fn sso_settings_resolve_and_refuse_clearly() {
        let dir = std::env::temp_dir().join(format!("cfg-sso-{}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        let file = dir.join("c.toml");
        std::fs::write(
            &file,
            "sso_issuer_url = \"https://id.example.com\"\nsso_client_id = \"chamberlain\"\nsso_client_secret = \"s3cret\"\nsso_display_name = \"Example ID\"\nsso_allowed_email_domains = [\"example.com\"]\n",
        )
        .unwrap();
        let db = DbArgs {
            config: Some(file.clone()),
            ..Default::default()
        };
        let sso = resolve(&db, &ServeArgs::default()).unwrap().sso.unwrap();
        assert_eq!(sso.issuer_url, "https://id.example.com");
        assert_eq!(sso.display_name, "Example ID");
        assert_eq!(sso.allowed_email_domains, ["example.com"]);
        // A flag wins over the file.
        let cli = Cli::try_parse_from(["t", "--sso-client-id", "other"]).unwrap();
        assert_eq!(
            resolve(&db, &cli.serve).unwrap().sso.unwrap().client_id,
            "other"
        );
        assert!(resolve(&DbArgs::default(), &ServeArgs::default())
            .unwrap()
            .sso
            .is_none());
        // An issuer without a client id names what is missing.
        let cli = Cli::try_parse_from(["t", "--sso-issuer-url", "https://id.example.com"]).unwrap();
        let e = resolve(&DbArgs::default(), &cli.serve)
            .unwrap_err()
            .to_string();
        assert!(e.contains("clientId") && e.contains("clientSecret"), "{e}");
        let _ = std::fs::remove_dir_all(&dir);
    }
}
