//! The command-line client's profiles: one TOML file (`--config` / `CHAMBERLAIN_CONFIG`, by
//! default `$XDG_CONFIG_HOME/chamberlain/config.toml` or `~/.config/chamberlain/config.toml`)
//! with a `[profiles.<name>]` table per server sign-in. It holds client secrets, so it is
//! written with mode 0600 (its directory 0700), atomically (a temporary file renamed over it).
//!
//! The same `--config` names the server's configuration file for `serve`, `migrate` and
//! `admin`; a file that has anything besides `[profiles.*]` is refused here rather than
//! overwritten.

use anyhow::{bail, Context, Result};
use serde::{Deserialize, Serialize};
use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::sync::OnceLock;

/// The `--config` path given on the command line or in the environment, set once by `main`.
pub static CONFIG_FLAG: OnceLock<Option<PathBuf>> = OnceLock::new();

/// One signed-in server.
#[derive(Clone, Debug, Default, Serialize, Deserialize, PartialEq)]
pub struct Profile {
    /// The server's base URL.
    pub server: String,
    /// The personal API client's id.
    pub client_id: String,
    /// Its secret.
    pub client_secret: String,
    /// The personal client's record id (for `logout`, which deletes it).
    #[serde(default)]
    pub personal_client_id: String,
    /// Who signed in.
    #[serde(default)]
    pub user_id: String,
    /// Their email address.
    #[serde(default)]
    pub user_email: String,
}

/// The whole file.
#[derive(Clone, Debug, Default, Serialize, Deserialize)]
pub struct ProfileFile {
    /// Profiles by name.
    #[serde(default)]
    pub profiles: BTreeMap<String, Profile>,
}

/// The profile file's path: `--config` / `CHAMBERLAIN_CONFIG`, else the XDG location.
pub fn path() -> Result<PathBuf> {
    if let Some(Some(p)) = CONFIG_FLAG.get() {
        return Ok(p.clone());
    }
    let base = match std::env::var_os("XDG_CONFIG_HOME").filter(|v| !v.is_empty()) {
        Some(x) => PathBuf::from(x),
        None => match std::env::var_os("HOME").filter(|v| !v.is_empty()) {
            Some(h) => PathBuf::from(h).join(".config"),
            None => bail!("cannot find a place for the profile file: set HOME or XDG_CONFIG_HOME, or pass --config PATH"),
        },
    };
    Ok(base.join("chamberlain").join("config.toml"))
}

/// Reads the file at `path` (an absent file is empty).
pub fn load(path: &Path) -> Result<ProfileFile> {
    let text = match std::fs::read_to_string(path) {
        Ok(t) => t,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(ProfileFile::default()),
        Err(e) => return Err(e).with_context(|| format!("cannot read {}", path.display())),
    };
    let table: toml::Table =
        toml::from_str(&text).with_context(|| format!("{} is not valid TOML", path.display()))?;
    let others: Vec<&str> = table
        .keys()
        .map(String::as_str)
        .filter(|k| *k != "profiles")
        .collect();
    if !others.is_empty() {
        bail!(
            "{} is not a profile file of the command-line client (it has {}: a server configuration file?); pass --config with another path, or unset CHAMBERLAIN_CONFIG for client commands",
            path.display(),
            others.join(", ")
        );
    }
    toml::from_str(&text).with_context(|| format!("cannot read the profiles in {}", path.display()))
}

/// Writes the file: directory created with mode 0700, file with mode 0600, through a
/// temporary file in the same directory renamed over the old one.
pub fn save(path: &Path, file: &ProfileFile) -> Result<()> {
    let dir = path
        .parent()
        .filter(|d| !d.as_os_str().is_empty())
        .unwrap_or(Path::new("."));
    if !dir.exists() {
        let mut b = std::fs::DirBuilder::new();
        b.recursive(true);
        #[cfg(unix)]
        {
            use std::os::unix::fs::DirBuilderExt;
            b.mode(0o700);
        }
        b.create(dir)
            .with_context(|| format!("cannot create {}", dir.display()))?;
    }
    let body = format!(
        "# Profiles of the Chamberlain command-line client, written by `chamberlain login`.\n# They hold API client secrets: keep this file private (mode 0600).\n\n{}",
        toml::to_string(file)?
    );
    let name = path
        .file_name()
        .map(|n| n.to_string_lossy().to_string())
        .unwrap_or_else(|| "config.toml".into());
    let tmp = dir.join(format!(".{name}.{}.tmp", std::process::id()));
    let written = (|| -> std::io::Result<()> {
        use std::io::Write;
        let mut o = std::fs::OpenOptions::new();
        o.write(true).create_new(true);
        #[cfg(unix)]
        {
            use std::os::unix::fs::OpenOptionsExt;
            o.mode(0o600);
        }
        let mut f = o.open(&tmp)?;
        f.write_all(body.as_bytes())?;
        f.sync_all()?;
        std::fs::rename(&tmp, path)
    })();
    if let Err(e) = written {
        let _ = std::fs::remove_file(&tmp);
        return Err(e).with_context(|| format!("cannot write {}", path.display()));
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn profiles_round_trip_privately_and_server_files_are_refused() {
        let dir = std::env::temp_dir().join(format!("chamberlain-prof-{}", std::process::id()));
        let path = dir.join("sub").join("config.toml");
        let mut f = load(&path).unwrap();
        assert!(f.profiles.is_empty());
        f.profiles.insert(
            "default".into(),
            Profile {
                server: "http://x".into(),
                client_id: "id".into(),
                client_secret: "s".into(),
                ..Default::default()
            },
        );
        save(&path, &f).unwrap();
        save(&path, &f).unwrap();
        assert_eq!(load(&path).unwrap().profiles["default"].client_id, "id");
        #[cfg(unix)]
        {
            use std::os::unix::fs::PermissionsExt;
            let mode = std::fs::metadata(&path).unwrap().permissions().mode();
            assert_eq!(mode & 0o777, 0o600);
        }
        let server = dir.join("server.toml");
        std::fs::write(&server, "listen = \"0.0.0.0:80\"\n").unwrap();
        let e = load(&server).unwrap_err().to_string();
        assert!(e.contains("not a profile file"), "{e}");
        let _ = std::fs::remove_dir_all(&dir);
    }
}
