//! Running a Baton connector binary: its configuration (stored encrypted on the connector) and
//! the process runner for syncs and one-shot provisioning.
//!
//! A sync runs `<command> <args…> --storage-engine sqlite -f <file>` and imports the c1z it
//! writes. Provisioning runs the same binary with Baton's one-shot flags (`-p
//! --grant-entitlement …`, `--revoke-grant …`, `--create-account-…`) against the last sync file,
//! because Baton's provisioner looks the entitlement, principal or grant up in that file.
//!
//! The child gets a clean environment: only the configured variables plus a few harmless ones
//! (PATH, HOME, TMPDIR, locale, TLS and proxy settings), so server secrets such as the database
//! URL or encryption key never reach a connector.

use serde::{Deserialize, Serialize};
use serde_json::{json, Value};
use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::process::Stdio;
use std::time::Duration;
use tokio::io::{AsyncRead, AsyncReadExt};

/// `@type` of a Baton connector configuration in `Connector.config`.
pub const CONFIG_TYPE: &str = "type.chamberlain.dev/chamberlain.connector.v1.BatonConnectorConfig";

/// Default time limit of one run.
pub const DEFAULT_TIMEOUT_SECONDS: u64 = 3600;

/// Host environment variables passed through to connectors.
const PASSTHROUGH_ENV: &[&str] = &[
    "PATH",
    "HOME",
    "TMPDIR",
    "LANG",
    "LC_ALL",
    "TZ",
    "SSL_CERT_FILE",
    "SSL_CERT_DIR",
    "HTTP_PROXY",
    "HTTPS_PROXY",
    "NO_PROXY",
    "http_proxy",
    "https_proxy",
    "no_proxy",
];

/// Flags the host sets itself; configuring them would break the contract with the binary.
const RESERVED_FLAGS: &[&str] = &[
    "-f",
    "--file",
    "--storage-engine",
    "-p",
    "--provisioning",
    "--grant-entitlement",
    "--grant-principal",
    "--grant-principal-type",
    "--revoke-grant",
];

/// `Connector.config` for a connector that runs a Baton binary.
#[derive(Clone, Debug, Serialize, Deserialize, PartialEq)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct BatonConfig {
    /// Optional type tag; when present it must be [`CONFIG_TYPE`].
    #[serde(rename = "@type", default, skip_serializing_if = "String::is_empty")]
    pub type_url: String,
    /// Absolute path of the connector binary.
    pub command: String,
    /// Arguments before the host's own flags (e.g. `--domain`, `example.okta.com`). Not secret:
    /// they are shown back to admins. Put secrets in `env`.
    #[serde(default)]
    pub args: Vec<String>,
    /// Environment variables (Baton connectors read every flag as `BATON_<FLAG>` too). Secret:
    /// stored encrypted, only the names are ever shown.
    #[serde(default)]
    pub env: BTreeMap<String, String>,
    /// Time limit of one run, in seconds; a run past it is killed.
    #[serde(default = "default_timeout")]
    pub timeout_seconds: u64,
    /// Whether grants and revocations made in Chamberlain are provisioned through the binary.
    #[serde(default)]
    pub provisioning: bool,
}

fn default_timeout() -> u64 {
    DEFAULT_TIMEOUT_SECONDS
}

impl BatonConfig {
    /// Parses and checks `Connector.config`; the error says what to fix.
    pub fn from_json(v: &Value) -> Result<BatonConfig, String> {
        let cfg: BatonConfig = serde_json::from_value(v.clone()).map_err(|e| {
            format!("config: {e}; expected {{\"command\": \"/path/to/baton-connector\", \"args\": [...], \"env\": {{\"BATON_…\": \"…\"}}, \"timeoutSeconds\": 3600, \"provisioning\": false}}")
        })?;
        cfg.validate()?;
        Ok(cfg)
    }

    fn validate(&self) -> Result<(), String> {
        if !self.type_url.is_empty() && self.type_url != CONFIG_TYPE {
            return Err(format!(
                "config.@type `{}` is not supported; use `{CONFIG_TYPE}` or leave it out",
                self.type_url
            ));
        }
        if !Path::new(&self.command).is_absolute() {
            return Err(format!(
                "config.command `{}` must be the absolute path of the connector binary, e.g. /usr/local/bin/baton-okta",
                self.command
            ));
        }
        if !Path::new(&self.command).is_file() {
            return Err(format!(
                "config.command `{}` does not exist on this server; install the connector binary there first",
                self.command
            ));
        }
        if self.timeout_seconds == 0 || self.timeout_seconds > 86_400 {
            return Err(format!(
                "config.timeoutSeconds {} must be between 1 and 86400",
                self.timeout_seconds
            ));
        }
        for a in &self.args {
            let flag = a.split('=').next().unwrap_or(a);
            if RESERVED_FLAGS.contains(&flag) {
                return Err(format!(
                    "config.args must not contain `{flag}`: Chamberlain sets it for each run"
                ));
            }
        }
        for k in self.env.keys() {
            let ok = !k.is_empty()
                && k.chars()
                    .all(|c| c.is_ascii_uppercase() || c.is_ascii_digit() || c == '_')
                && !k.starts_with(|c: char| c.is_ascii_digit());
            if !ok {
                return Err(format!(
                    "config.env name `{k}` is not a valid variable name (use A-Z, 0-9 and _)"
                ));
            }
            if k == "BATON_FILE" || k == "BATON_STORAGE_ENGINE" || k == "BATON_PROVISIONING" {
                return Err(format!(
                    "config.env must not set `{k}`: Chamberlain sets it for each run"
                ));
            }
        }
        Ok(())
    }

    /// What the API shows of the configuration: everything but the environment's values.
    pub fn redacted(&self) -> Value {
        json!({
            "@type": CONFIG_TYPE,
            "command": self.command,
            "args": self.args,
            "envNames": self.env.keys().collect::<Vec<_>>(),
            "timeoutSeconds": self.timeout_seconds,
            "provisioning": self.provisioning,
        })
    }
}

/// How a run failed, written to the connector's `lastError`.
#[derive(Debug, Clone, thiserror::Error)]
#[error("{0}")]
pub struct RunError(pub String);

/// Keeps the last `cap` bytes of a stream.
async fn tail<R: AsyncRead + Unpin>(mut r: R, cap: usize) -> Vec<u8> {
    let mut kept: Vec<u8> = Vec::new();
    let mut buf = [0u8; 8192];
    loop {
        match r.read(&mut buf).await {
            Ok(0) | Err(_) => break,
            Ok(n) => {
                kept.extend_from_slice(&buf[..n]);
                if kept.len() > cap * 2 {
                    kept.drain(..kept.len() - cap);
                }
            }
        }
    }
    if kept.len() > cap {
        kept.drain(..kept.len() - cap);
    }
    kept
}

fn last_lines(bytes: &[u8], max_chars: usize) -> String {
    let text = String::from_utf8_lossy(bytes);
    let text = text.trim();
    if text.chars().count() <= max_chars {
        return text.to_string();
    }
    let skip = text.chars().count() - max_chars;
    format!("…{}", text.chars().skip(skip).collect::<String>())
}

impl BatonConfig {
    /// Runs the binary with `extra` appended to the configured args; returns its stdout.
    async fn run(&self, extra: &[String], what: &str) -> Result<Vec<u8>, RunError> {
        let mut cmd = tokio::process::Command::new(&self.command);
        cmd.args(&self.args)
            .args(extra)
            .env_clear()
            .stdin(Stdio::null())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .kill_on_drop(true);
        for k in PASSTHROUGH_ENV {
            if let Ok(v) = std::env::var(k) {
                cmd.env(k, v);
            }
        }
        cmd.envs(&self.env).env("BATON_STORAGE_ENGINE", "sqlite");
        #[cfg(target_os = "linux")]
        // SAFETY: the closure runs in the forked child before exec and only calls prctl, which
        // is async-signal-safe.
        unsafe {
            // If the server dies, even by SIGKILL, its connector dies too instead of running on
            // unsupervised (a retried sync elsewhere would otherwise race it).
            cmd.pre_exec(|| {
                if libc::prctl(libc::PR_SET_PDEATHSIG, libc::SIGKILL) != 0 {
                    return Err(std::io::Error::last_os_error());
                }
                Ok(())
            });
        }
        let mut child = cmd
            .spawn()
            .map_err(|e| RunError(format!("{what}: cannot start `{}`: {e}", self.command)))?;
        let out = tokio::spawn(tail(child.stdout.take().expect("piped"), 64 << 10));
        let err = tokio::spawn(tail(child.stderr.take().expect("piped"), 8 << 10));
        let limit = Duration::from_secs(self.timeout_seconds);
        let status = match tokio::time::timeout(limit, child.wait()).await {
            Ok(s) => s.map_err(|e| RunError(format!("{what}: waiting for the connector: {e}")))?,
            Err(_) => {
                let _ = child.kill().await;
                return Err(RunError(format!(
                    "{what}: the connector ran longer than its time limit of {}s and was killed",
                    self.timeout_seconds
                )));
            }
        };
        let stdout = out.await.unwrap_or_default();
        let stderr = err.await.unwrap_or_default();
        if !status.success() {
            let code = match status.code() {
                Some(c) => format!("exit code {c}"),
                None => "killed by a signal".to_string(),
            };
            let detail = match last_lines(&stderr, 2000) {
                s if s.is_empty() => last_lines(&stdout, 2000),
                s => s,
            };
            return Err(RunError(format!(
                "{what}: the connector failed ({code}): {}",
                if detail.is_empty() {
                    "it printed nothing".to_string()
                } else {
                    detail
                }
            )));
        }
        Ok(stdout)
    }

    /// Runs a full sync into `file` (a v1 c1z).
    pub async fn sync(&self, file: &Path) -> Result<(), RunError> {
        let _ = std::fs::remove_file(file);
        self.run(
            &[
                "--storage-engine".into(),
                "sqlite".into(),
                "-f".into(),
                file.display().to_string(),
            ],
            "sync",
        )
        .await?;
        if !file.is_file() {
            return Err(RunError(format!(
                "sync: the connector exited successfully but wrote no file at {}",
                file.display()
            )));
        }
        Ok(())
    }

    /// Runs one provisioning action against the sync file `file`.
    pub async fn provision(&self, file: &Path, action: &Provision) -> Result<(), RunError> {
        let mut extra = vec![
            "-p".to_string(),
            "--storage-engine".into(),
            "sqlite".into(),
            "-f".into(),
            file.display().to_string(),
        ];
        extra.extend(action.flags());
        self.run(&extra, &action.describe()).await.map(|_| ())
    }
}

/// A one-shot provisioning action, in Baton's terms.
#[derive(Clone, Debug, PartialEq)]
pub enum Provision {
    /// Grant `entitlement` (Baton entitlement id) to `principal` of resource type
    /// `principal_type`.
    Grant {
        /// Baton entitlement id, e.g. `group:g1:member`.
        entitlement: String,
        /// Baton resource id of the principal.
        principal: String,
        /// Baton resource type of the principal, e.g. `user`.
        principal_type: String,
    },
    /// Revoke the Baton grant `grant` (`<entitlement id>:<principal type>:<principal id>`).
    Revoke {
        /// Baton grant id.
        grant: String,
    },
    /// Create an account.
    CreateAccount {
        /// Login.
        login: String,
        /// Email (may be empty).
        email: String,
        /// Profile (a JSON object), e.g. `{"displayName": …}`.
        profile: Value,
    },
}

impl Provision {
    fn flags(&self) -> Vec<String> {
        match self {
            Provision::Grant {
                entitlement,
                principal,
                principal_type,
            } => vec![
                "--grant-entitlement".into(),
                entitlement.clone(),
                "--grant-principal".into(),
                principal.clone(),
                "--grant-principal-type".into(),
                principal_type.clone(),
            ],
            Provision::Revoke { grant } => vec!["--revoke-grant".into(), grant.clone()],
            Provision::CreateAccount {
                login,
                email,
                profile,
            } => {
                let mut flags = vec!["--create-account-login".to_string(), login.clone()];
                if !email.is_empty() {
                    flags.extend(["--create-account-email".to_string(), email.clone()]);
                }
                flags.extend(["--create-account-profile".to_string(), profile.to_string()]);
                flags
            }
        }
    }

    fn describe(&self) -> String {
        match self {
            Provision::Grant {
                entitlement,
                principal,
                ..
            } => format!("provisioning grant of `{entitlement}` to `{principal}`"),
            Provision::Revoke { grant } => format!("provisioning revocation of `{grant}`"),
            Provision::CreateAccount { login, .. } => {
                format!("provisioning a new account `{login}`")
            }
        }
    }
}

/// Where a connector's last sync file is kept on this server.
pub fn last_sync_file(work_dir: &Path, connector_id: &str) -> PathBuf {
    work_dir.join(connector_id).join("last-sync.c1z")
}
