//! `chamberlain mcp install`: adds the server's MCP gateway (`<server>/mcp`) to an AI client's
//! configuration file, keeping every other entry. No secret is written: the AI client signs
//! the user in through OAuth on first use.
//!
//! | client | file (user scope / project scope) | entry |
//! |---|---|---|
//! | claude-code | `~/.claude.json` / `./.mcp.json` | `mcpServers.<name> = {type: "http", url}` |
//! | claude-desktop | its `claude_desktop_config.json` | `mcpServers.<name> = {command: "npx", args: ["-y", "mcp-remote", url]}` (a stdio bridge) |
//! | cursor | `~/.cursor/mcp.json` / `./.cursor/mcp.json` | `mcpServers.<name> = {url}` |
//! | vscode | the user profile's `mcp.json` / `./.vscode/mcp.json` | `servers.<name> = {type: "http", url}` |

use crate::client::{self, ServerArgs};
use crate::profiles;
use anyhow::{bail, Context, Result};
use clap::{Args, Subcommand, ValueEnum};
use serde_json::{json, Map, Value};
use std::path::{Path, PathBuf};

#[derive(Subcommand)]
pub enum McpCommand {
    /// Add this server's MCP gateway to an AI client's configuration.
    Install(InstallArgs),
}

/// AI clients whose configuration files `install` knows.
#[derive(Clone, Copy, Debug, ValueEnum, PartialEq, Eq)]
pub enum McpClient {
    /// Claude Code (remote HTTP server entry).
    ClaudeCode,
    /// Claude Desktop (through the `mcp-remote` stdio bridge, run with npx).
    ClaudeDesktop,
    /// Cursor (remote server by URL).
    Cursor,
    /// Visual Studio Code (remote HTTP server entry).
    Vscode,
}

/// Where the configuration goes.
#[derive(Clone, Copy, Debug, ValueEnum, PartialEq, Eq, Default)]
pub enum Scope {
    /// The user's configuration (every project).
    #[default]
    User,
    /// The current directory's project configuration.
    Project,
}

#[derive(Args)]
pub struct InstallArgs {
    /// The AI client.
    #[arg(long)]
    client: McpClient,
    /// User or project configuration (Claude Desktop has only the user's).
    #[arg(long, value_enum, default_value_t)]
    scope: Scope,
    /// The configuration file to change [default: the client's usual file for the scope]
    #[arg(long)]
    config_path: Option<PathBuf>,
    /// Name of the server entry.
    #[arg(long, default_value = "chamberlain")]
    name: String,
    /// Print the resulting file instead of writing it.
    #[arg(long)]
    dry_run: bool,
    #[command(flatten)]
    server: ServerArgs,
}

fn home() -> Result<PathBuf> {
    std::env::var_os("HOME")
        .filter(|h| !h.is_empty())
        .map(PathBuf::from)
        .context("HOME is not set; pass --config-path")
}

/// The client's usual configuration file.
pub fn default_path(client: McpClient, scope: Scope) -> Result<PathBuf> {
    let cwd = std::env::current_dir()?;
    Ok(match (client, scope) {
        (McpClient::ClaudeCode, Scope::User) => home()?.join(".claude.json"),
        (McpClient::ClaudeCode, Scope::Project) => cwd.join(".mcp.json"),
        (McpClient::ClaudeDesktop, Scope::Project) => {
            bail!("Claude Desktop has no project configuration; use --scope user")
        }
        (McpClient::ClaudeDesktop, Scope::User) => {
            if cfg!(target_os = "macos") {
                home()?.join("Library/Application Support/Claude/claude_desktop_config.json")
            } else if cfg!(windows) {
                PathBuf::from(std::env::var_os("APPDATA").context("APPDATA is not set")?)
                    .join("Claude")
                    .join("claude_desktop_config.json")
            } else {
                config_home()?
                    .join("Claude")
                    .join("claude_desktop_config.json")
            }
        }
        (McpClient::Cursor, Scope::User) => home()?.join(".cursor").join("mcp.json"),
        (McpClient::Cursor, Scope::Project) => cwd.join(".cursor").join("mcp.json"),
        (McpClient::Vscode, Scope::Project) => cwd.join(".vscode").join("mcp.json"),
        (McpClient::Vscode, Scope::User) => {
            if cfg!(target_os = "macos") {
                home()?.join("Library/Application Support/Code/User/mcp.json")
            } else if cfg!(windows) {
                PathBuf::from(std::env::var_os("APPDATA").context("APPDATA is not set")?)
                    .join("Code")
                    .join("User")
                    .join("mcp.json")
            } else {
                config_home()?.join("Code").join("User").join("mcp.json")
            }
        }
    })
}

fn config_home() -> Result<PathBuf> {
    match std::env::var_os("XDG_CONFIG_HOME").filter(|v| !v.is_empty()) {
        Some(x) => Ok(PathBuf::from(x)),
        None => Ok(home()?.join(".config")),
    }
}

/// The entry for `client` and the key of the table it goes in.
pub fn entry(client: McpClient, url: &str) -> (&'static str, Value) {
    match client {
        McpClient::ClaudeCode => ("mcpServers", json!({"type": "http", "url": url})),
        McpClient::ClaudeDesktop => (
            "mcpServers",
            json!({"command": "npx", "args": ["-y", "mcp-remote", url]}),
        ),
        McpClient::Cursor => ("mcpServers", json!({"url": url})),
        McpClient::Vscode => ("servers", json!({"type": "http", "url": url})),
    }
}

/// `existing` (a configuration file's text, or none) with the entry added or replaced.
/// Returns the new document and whether the entry was already there as is.
pub fn merge(
    existing: Option<&str>,
    client: McpClient,
    name: &str,
    url: &str,
    path: &Path,
) -> Result<(Value, bool)> {
    let mut doc = match existing.map(str::trim) {
        None | Some("") => Value::Object(Map::new()),
        Some(text) => serde_json::from_str::<Value>(text).with_context(|| {
            format!(
                "{} is not plain JSON (comments or trailing commas?), so it is left alone; add the entry by hand or pass --dry-run to see it",
                path.display()
            )
        })?,
    };
    let Some(root) = doc.as_object_mut() else {
        bail!("{} does not hold a JSON object", path.display());
    };
    let (key, value) = entry(client, url);
    let table = root.entry(key).or_insert_with(|| Value::Object(Map::new()));
    let Some(table) = table.as_object_mut() else {
        bail!("`{key}` in {} is not a JSON object", path.display());
    };
    let same = table.get(name) == Some(&value);
    table.insert(name.to_string(), value);
    Ok((doc, same))
}

fn write_atomic(path: &Path, text: &str) -> Result<()> {
    let dir = path
        .parent()
        .filter(|d| !d.as_os_str().is_empty())
        .unwrap_or(Path::new("."));
    std::fs::create_dir_all(dir).with_context(|| format!("cannot create {}", dir.display()))?;
    let name = path
        .file_name()
        .map(|n| n.to_string_lossy().to_string())
        .unwrap_or_else(|| "mcp.json".into());
    let tmp = dir.join(format!(".{name}.{}.tmp", std::process::id()));
    let result = (|| -> std::io::Result<()> {
        std::fs::write(&tmp, text)?;
        // Keep the file's permissions (a private ~/.claude.json stays private).
        if let Ok(meta) = std::fs::metadata(path) {
            std::fs::set_permissions(&tmp, meta.permissions())?;
        }
        std::fs::rename(&tmp, path)
    })();
    if let Err(e) = result {
        let _ = std::fs::remove_file(&tmp);
        return Err(e).with_context(|| format!("cannot write {}", path.display()));
    }
    Ok(())
}

/// The server's MCP endpoint: `--server`, else the profile's server, else the default.
fn mcp_url(server: &ServerArgs) -> Result<String> {
    let base = match server.explicit_server() {
        Some(s) => s,
        None => {
            let file = profiles::load(&profiles::path()?)?;
            file.profiles
                .get(&server.profile)
                .map(|p| p.server.trim_end_matches('/').to_string())
                .unwrap_or_else(|| client::DEFAULT_SERVER.to_string())
        }
    };
    Ok(format!("{base}/mcp"))
}

pub async fn run(cmd: McpCommand) -> Result<()> {
    let McpCommand::Install(a) = cmd;
    if a.name.trim().is_empty() {
        bail!("--name must not be empty");
    }
    let url = mcp_url(&a.server)?;
    let path = match &a.config_path {
        Some(p) => p.clone(),
        None => default_path(a.client, a.scope)?,
    };
    let existing = match std::fs::read_to_string(&path) {
        Ok(t) => Some(t),
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => None,
        Err(e) => return Err(e).with_context(|| format!("cannot read {}", path.display())),
    };
    let (doc, same) = merge(existing.as_deref(), a.client, &a.name, &url, &path)?;
    let text = format!("{}\n", serde_json::to_string_pretty(&doc)?);
    if a.dry_run {
        print!("{text}");
        eprintln!("(dry run: {} was not changed)", path.display());
        return Ok(());
    }
    if same {
        println!(
            "{} already has the MCP server `{}` ({url}); nothing to change",
            path.display(),
            a.name
        );
        return Ok(());
    }
    write_atomic(&path, &text)?;
    println!(
        "Added the MCP server `{}` ({url}) to {}; the AI client asks you to sign in on first use",
        a.name,
        path.display()
    );
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn entries_merge_and_keep_the_rest() {
        let p = Path::new("x.json");
        let (doc, same) = merge(
            Some(r#"{"theme": "dark", "mcpServers": {"other": {"url": "https://o"}}}"#),
            McpClient::Cursor,
            "chamberlain",
            "https://c/mcp",
            p,
        )
        .unwrap();
        assert!(!same);
        assert_eq!(doc["theme"], "dark");
        assert_eq!(doc["mcpServers"]["other"]["url"], "https://o");
        assert_eq!(doc["mcpServers"]["chamberlain"]["url"], "https://c/mcp");
        let (doc, _) = merge(None, McpClient::Vscode, "c", "https://c/mcp", p).unwrap();
        assert_eq!(doc["servers"]["c"]["type"], "http");
        let (doc, _) = merge(Some(""), McpClient::ClaudeDesktop, "c", "https://c/mcp", p).unwrap();
        assert_eq!(doc["mcpServers"]["c"]["args"][2], "https://c/mcp");
        let text = serde_json::to_string(&doc).unwrap();
        let (_, same) = merge(
            Some(&text),
            McpClient::ClaudeDesktop,
            "c",
            "https://c/mcp",
            p,
        )
        .unwrap();
        assert!(same);
        assert!(merge(Some("{// c\n}"), McpClient::Cursor, "c", "u", p).is_err());
        assert!(merge(Some("[]"), McpClient::Cursor, "c", "u", p).is_err());
        assert!(merge(Some(r#"{"mcpServers": 1}"#), McpClient::Cursor, "c", "u", p).is_err());
    }
}
