//! The binary's scriptable contract: `serve` and `admin create-client --output json` pointed at
//! the same database, through flags, `CHAMBERLAIN_*` variables or a TOML file, on SQLite and
//! PostgreSQL; clear refusals for bad configuration.

use std::process::{Child, Command, Stdio};
use std::time::Duration;

const BIN: &str = env!("CARGO_BIN_EXE_chamberlain");

fn temp_dir() -> std::path::PathBuf {
    let d = std::env::temp_dir().join(format!("chamberlain-cli-{}", chamberlain_model::new_id()));
    std::fs::create_dir_all(&d).unwrap();
    d
}

fn free_port() -> u16 {
    std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port()
}

struct Server(Child);
impl Drop for Server {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

fn wait_ready(port: u16) {
    for _ in 0..100 {
        if let Ok(r) = raw_http::get_status(&format!("http://127.0.0.1:{port}/readyz")) {
            if r == 200 {
                return;
            }
        }
        std::thread::sleep(Duration::from_millis(100));
    }
    panic!("server on port {port} did not become ready");
}

mod raw_http {
    /// Minimal blocking GET over a TCP socket, returning the status code (keeps the test free of
    /// an async runtime).
    pub fn get_status(url: &str) -> Result<u16, std::io::Error> {
        use std::io::{Read, Write};
        let rest = url.strip_prefix("http://").unwrap();
        let (host, path) = rest.split_once('/').unwrap();
        let mut s = std::net::TcpStream::connect(host)?;
        write!(
            s,
            "GET /{path} HTTP/1.1\r\nHost: {host}\r\nConnection: close\r\n\r\n"
        )?;
        let mut buf = String::new();
        s.read_to_string(&mut buf)?;
        Ok(buf
            .split_whitespace()
            .nth(1)
            .and_then(|c| c.parse().ok())
            .unwrap_or(0))
    }
}

fn token(port: u16, creds: &serde_json::Value) -> u16 {
    let out = Command::new("curl")
        .args([
            "-s",
            "-o",
            "/dev/null",
            "-w",
            "%{http_code}",
            "-X",
            "POST",
            &format!("http://127.0.0.1:{port}/auth/v1/token"),
        ])
        .args(["--data-urlencode", "grant_type=client_credentials"])
        .args([
            "--data-urlencode",
            &format!("client_id={}", creds["clientId"].as_str().unwrap()),
        ])
        .args([
            "--data-urlencode",
            &format!("client_secret={}", creds["clientSecret"].as_str().unwrap()),
        ])
        .output()
        .expect("curl is needed by this test");
    String::from_utf8_lossy(&out.stdout).parse().unwrap_or(0)
}

fn create_client(envs: &[(&str, String)], args: &[&str]) -> serde_json::Value {
    let out = Command::new(BIN)
        .args([
            "admin",
            "create-client",
            "--role",
            "super-admin",
            "--output",
            "json",
        ])
        .args(args)
        .envs(envs.iter().map(|(k, v)| (*k, v.clone())))
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "create-client failed: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    serde_json::from_slice(&out.stdout).expect("create-client --output json prints one JSON object")
}

#[test]
fn serve_and_create_client_with_flags_on_sqlite() {
    let dir = temp_dir();
    let port = free_port();
    let d = dir.to_str().unwrap();
    let creds = create_client(&[], &["--data-dir", d]);
    assert!(creds["clientSecret"]
        .as_str()
        .unwrap()
        .starts_with("secret-token:conductorone.com:v1:"));
    let _srv = Server(
        Command::new(BIN)
            .args([
                "serve",
                "--data-dir",
                d,
                "--listen",
                &format!("127.0.0.1:{port}"),
            ])
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .unwrap(),
    );
    wait_ready(port);
    assert_eq!(token(port, &creds), 200);
    assert!(dir.join("chamberlain.db").exists());
    let _ = std::fs::remove_dir_all(dir);
}

#[test]
fn serve_and_create_client_with_env_on_postgres() {
    let name = format!(
        "chamberlain_cli_{}",
        chamberlain_model::new_id().to_lowercase()
    );
    let admin_url = std::env::var("CHAMBERLAIN_TEST_POSTGRES")
        .unwrap_or_else(|_| "postgres://postgres@127.0.0.1:5432/postgres".into());
    let status = Command::new("psql")
        .args([&admin_url, "-qc", &format!("CREATE DATABASE {name}")])
        .status()
        .expect("psql is needed by this test");
    assert!(status.success());
    let url = format!("{}/{name}", admin_url.rsplit_once('/').unwrap().0);
    let dir = temp_dir();
    let port = free_port();
    let key = "MDEyMzQ1Njc4OWFiY2RlZjAxMjM0NTY3ODlhYmNkZWY="; // 32 bytes, base64
    let envs = vec![
        ("CHAMBERLAIN_DATABASE_URL", url.clone()),
        ("CHAMBERLAIN_DATA_DIR", dir.to_str().unwrap().to_string()),
        ("CHAMBERLAIN_ENCRYPTION_KEY", key.to_string()),
        ("CHAMBERLAIN_LISTEN", format!("127.0.0.1:{port}")),
    ];
    let creds = create_client(&envs, &[]);
    let _srv = Server(
        Command::new(BIN)
            .arg("serve")
            .envs(envs.iter().map(|(k, v)| (*k, v.clone())))
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .unwrap(),
    );
    wait_ready(port);
    assert_eq!(token(port, &creds), 200);
    assert!(
        !dir.join("encryption.key").exists(),
        "a configured key is used, none generated"
    );
    let migrate = Command::new(BIN)
        .arg("migrate")
        .envs(envs.iter().map(|(k, v)| (*k, v.clone())))
        .output()
        .unwrap();
    assert!(migrate.status.success());
    assert!(String::from_utf8_lossy(&migrate.stdout).contains("0 migration(s) applied"));
    drop(_srv);
    let _ = Command::new("psql")
        .args([
            &admin_url,
            "-qc",
            &format!("DROP DATABASE IF EXISTS {name} WITH (FORCE)"),
        ])
        .status();
    let _ = std::fs::remove_dir_all(dir);
}

#[test]
fn toml_file_configures_the_server() {
    let dir = temp_dir();
    let port = free_port();
    let cfg = dir.join("chamberlain.toml");
    std::fs::write(
        &cfg,
        format!(
            "listen = \"127.0.0.1:{port}\"\ndata_dir = \"{}\"\nlog_format = \"json\"\n",
            dir.display()
        ),
    )
    .unwrap();
    let creds = create_client(&[], &["--config", cfg.to_str().unwrap()]);
    let _srv = Server(
        Command::new(BIN)
            .args(["serve", "--config", cfg.to_str().unwrap()])
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .unwrap(),
    );
    wait_ready(port);
    assert_eq!(token(port, &creds), 200);
    let _ = std::fs::remove_dir_all(dir);
}

#[test]
fn bad_configuration_is_refused_clearly() {
    let dir = temp_dir();
    let d = dir.to_str().unwrap();
    let cases: Vec<(Vec<&str>, &str)> = vec![
        (
            vec!["serve", "--data-dir", d, "--listen", "localhost"],
            "HOST:PORT",
        ),
        (
            vec!["serve", "--data-dir", d, "--database-url", "mysql://x/y"],
            "not supported",
        ),
        (
            vec!["serve", "--data-dir", d, "--log-format", "xml"],
            "log format",
        ),
        (
            vec!["serve", "--data-dir", d, "--encryption-key", "short"],
            "32",
        ),
        (
            vec![
                "admin",
                "create-client",
                "--data-dir",
                d,
                "--role",
                "emperor",
            ],
            "not a role",
        ),
        (
            vec!["serve", "--config", "/nonexistent/chamberlain.toml"],
            "cannot read config file",
        ),
    ];
    for (args, needle) in cases {
        let out = Command::new(BIN).args(&args).output().unwrap();
        assert!(!out.status.success(), "{args:?} should fail");
        let err = String::from_utf8_lossy(&out.stderr);
        assert!(
            err.contains(needle),
            "{args:?}: stderr `{err}` should mention `{needle}`"
        );
    }
    let bad_toml = dir.join("bad.toml");
    std::fs::write(&bad_toml, "listn = \"x\"\n").unwrap();
    let out = Command::new(BIN)
        .args(["serve", "--config", bad_toml.to_str().unwrap()])
        .output()
        .unwrap();
    assert!(
        String::from_utf8_lossy(&out.stderr).contains("listn"),
        "unknown TOML keys are named"
    );
    let _ = std::fs::remove_dir_all(dir);
}

#[tokio::test]
async fn sync_import_command_goes_through_the_api() {
    let dir = temp_dir();
    let port = free_port();
    let d = dir.to_str().unwrap().to_string();
    let creds = create_client(
        &[],
        &[
            "--data-dir",
            &d,
            "--public-url",
            &format!("http://127.0.0.1:{port}"),
        ],
    );
    let _srv = Server(
        Command::new(BIN)
            .args([
                "serve",
                "--data-dir",
                &d,
                "--listen",
                &format!("127.0.0.1:{port}"),
            ])
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .unwrap(),
    );
    tokio::task::spawn_blocking(move || wait_ready(port))
        .await
        .unwrap();
    let base = format!("http://127.0.0.1:{port}");
    let http = ::reqwest::Client::new();
    let tok: serde_json::Value = http
        .post(format!("{base}/auth/v1/token"))
        .form(&[
            ("grant_type", "client_credentials"),
            ("client_id", creds["clientId"].as_str().unwrap()),
            ("client_secret", creds["clientSecret"].as_str().unwrap()),
        ])
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    let app: serde_json::Value = http
        .post(format!("{base}/api/v1/apps"))
        .bearer_auth(tok["access_token"].as_str().unwrap())
        .json(&serde_json::json!({"displayName": "From the CLI"}))
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    let app_id = app["app"]["id"].as_str().unwrap().to_string();
    let fixture = format!(
        "{}/../sync/tests/fixtures/sync.36zfOAoWMxQdISbixanQCRBiX7E.expanded.c1z",
        env!("CARGO_MANIFEST_DIR")
    );
    let run = |args: Vec<String>| {
        let creds = creds.clone();
        let base = base.clone();
        async move {
            tokio::task::spawn_blocking(move || {
                Command::new(BIN)
                    .args(args)
                    .env("CHAMBERLAIN_SERVER", base)
                    .env("CHAMBERLAIN_CLIENT_ID", creds["clientId"].as_str().unwrap())
                    .env(
                        "CHAMBERLAIN_CLIENT_SECRET",
                        creds["clientSecret"].as_str().unwrap(),
                    )
                    .output()
                    .unwrap()
            })
            .await
            .unwrap()
        }
    };
    let out = run(vec![
        "sync".into(),
        "import".into(),
        "--app".into(),
        app_id.clone(),
        fixture.clone(),
        "--output".into(),
        "json".into(),
    ])
    .await;
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let v: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    assert_eq!(v["counts"]["grants"]["added"], 14981);
    let out = run(vec![
        "sync".into(),
        "import".into(),
        "--app".into(),
        app_id.clone(),
        fixture,
    ])
    .await;
    assert!(out.status.success());
    let text = String::from_utf8_lossy(&out.stdout);
    assert!(text.contains("grants") && text.contains("14981"), "{text}");
    // A refused file: non-zero exit and the server's reason.
    let bad = dir.join("in-progress.c1z");
    std::fs::copy(
        format!(
            "{}/../sync/tests/fixtures/sync-in-progress.c1z",
            env!("CARGO_MANIFEST_DIR")
        ),
        &bad,
    )
    .unwrap();
    let out = run(vec![
        "sync".into(),
        "import".into(),
        "--app".into(),
        app_id,
        bad.to_str().unwrap().into(),
    ])
    .await;
    assert!(!out.status.success());
    assert!(String::from_utf8_lossy(&out.stderr).contains("no finished sync"));
    let _ = std::fs::remove_dir_all(dir);
}

/// Runs `chamberlain admin <args>` with `stdin` piped in.
fn admin_with_stdin(args: &[&str], stdin: &str) -> std::process::Output {
    use std::io::Write;
    let mut child = Command::new(BIN)
        .arg("admin")
        .args(args)
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    child
        .stdin
        .take()
        .unwrap()
        .write_all(stdin.as_bytes())
        .unwrap();
    child.wait_with_output().unwrap()
}

#[tokio::test]
async fn local_passwords_are_set_from_stdin_and_never_echoed() {
    let dir = temp_dir();
    let d = dir.to_str().unwrap();
    let pw = "a long enough passphrase";
    let out = admin_with_stdin(
        &[
            "create-user",
            "--data-dir",
            d,
            "--email",
            "ada@example.com",
            "--display-name",
            "Ada",
            "--password-stdin",
            "--output",
            "json",
        ],
        &format!("{pw}\n"),
    );
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let user: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    assert!(!String::from_utf8_lossy(&out.stdout).contains(pw));
    // Too short, no --password-stdin, unknown user: refused with what to fix.
    let short = admin_with_stdin(
        &[
            "set-password",
            "--data-dir",
            d,
            "--email",
            "ada@example.com",
            "--password-stdin",
        ],
        "short\n",
    );
    assert!(!short.status.success());
    assert!(String::from_utf8_lossy(&short.stderr).contains("at least 12 characters"));
    let no_flag = admin_with_stdin(
        &[
            "set-password",
            "--data-dir",
            d,
            "--email",
            "ada@example.com",
        ],
        "x\n",
    );
    assert!(String::from_utf8_lossy(&no_flag.stderr).contains("--password-stdin"));
    let unknown = admin_with_stdin(
        &[
            "set-password",
            "--data-dir",
            d,
            "--email",
            "nobody@example.com",
            "--password-stdin",
        ],
        "another long passphrase\n",
    );
    assert!(String::from_utf8_lossy(&unknown.stderr).contains("no user has the email address"));
    let new_pw = "another long passphrase";
    let ok = admin_with_stdin(
        &[
            "set-password",
            "--data-dir",
            d,
            "--email",
            "ADA@example.com",
            "--password-stdin",
        ],
        &format!("{new_pw}\n"),
    );
    assert!(
        ok.status.success(),
        "{}",
        String::from_utf8_lossy(&ok.stderr)
    );
    assert!(!String::from_utf8_lossy(&ok.stdout).contains(new_pw));
    // The database holds an Argon2id hash of the new password only.
    let store = chamberlain_store::Store::connect(&format!(
        "sqlite://{}?mode=rwc",
        dir.join("chamberlain.db").display()
    ))
    .await
    .unwrap();
    let phc =
        chamberlain_store::repo::web_auth::password_hash(&store, user["id"].as_str().unwrap())
            .await
            .unwrap()
            .unwrap();
    assert!(phc.starts_with("$argon2id$"));
    assert!(chamberlain_auth::password::verify(new_pw, &phc));
    assert!(!chamberlain_auth::password::verify(pw, &phc));
    store.close().await;
    let _ = std::fs::remove_dir_all(dir);
}

fn client_cmd(home: &std::path::Path, args: &[&str]) -> std::process::Output {
    Command::new(BIN)
        .args(args)
        .current_dir(home)
        .env("HOME", home)
        .env("XDG_CONFIG_HOME", home.join(".config"))
        .env_remove("CHAMBERLAIN_CONFIG")
        .env_remove("CHAMBERLAIN_SERVER")
        .env_remove("CHAMBERLAIN_CLIENT_ID")
        .env_remove("CHAMBERLAIN_CLIENT_SECRET")
        .env_remove("CHAMBERLAIN_PROFILE")
        .output()
        .unwrap()
}

/// `mcp install`: dry runs change nothing, real runs merge into existing files (other entries
/// kept), each client gets its own entry shape, no secret is written, the profile's server is
/// the default, and files that are not plain JSON are left alone.
#[test]
fn mcp_install_writes_and_merges_client_configs() {
    let home = temp_dir();
    let url = "https://gov.example.com";
    // Cursor, user scope, into an existing file with another server and other settings.
    let cursor = home.join(".cursor").join("mcp.json");
    std::fs::create_dir_all(cursor.parent().unwrap()).unwrap();
    let before = r#"{"mcpServers": {"github": {"url": "https://gh.example/mcp"}}, "other": 1}"#;
    std::fs::write(&cursor, before).unwrap();
    let dry = client_cmd(
        &home,
        &[
            "mcp",
            "install",
            "--client",
            "cursor",
            "--server",
            url,
            "--dry-run",
        ],
    );
    assert!(
        dry.status.success(),
        "{}",
        String::from_utf8_lossy(&dry.stderr)
    );
    let printed: serde_json::Value = serde_json::from_slice(&dry.stdout).unwrap();
    assert_eq!(
        printed["mcpServers"]["chamberlain"]["url"],
        format!("{url}/mcp")
    );
    assert_eq!(
        printed["mcpServers"]["github"]["url"],
        "https://gh.example/mcp"
    );
    assert_eq!(
        std::fs::read_to_string(&cursor).unwrap(),
        before,
        "dry run writes nothing"
    );
    let real = client_cmd(
        &home,
        &["mcp", "install", "--client", "cursor", "--server", url],
    );
    assert!(
        real.status.success(),
        "{}",
        String::from_utf8_lossy(&real.stderr)
    );
    let written: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(&cursor).unwrap()).unwrap();
    assert_eq!(written["other"], 1);
    assert_eq!(
        written["mcpServers"]["github"]["url"],
        "https://gh.example/mcp"
    );
    assert_eq!(
        written["mcpServers"]["chamberlain"],
        serde_json::json!({"url": format!("{url}/mcp")})
    );
    let again = client_cmd(
        &home,
        &["mcp", "install", "--client", "cursor", "--server", url],
    );
    assert!(String::from_utf8_lossy(&again.stdout).contains("nothing to change"));

    // VS Code (project scope: ./.vscode/mcp.json), Claude Code (.mcp.json), Claude Desktop
    // (stdio bridge) at an explicit path.
    let out = client_cmd(
        &home,
        &[
            "mcp", "install", "--client", "vscode", "--scope", "project", "--server", url,
        ],
    );
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let v: serde_json::Value = serde_json::from_str(
        &std::fs::read_to_string(home.join(".vscode").join("mcp.json")).unwrap(),
    )
    .unwrap();
    assert_eq!(v["servers"]["chamberlain"]["type"], "http");
    assert_eq!(v["servers"]["chamberlain"]["url"], format!("{url}/mcp"));
    let out = client_cmd(
        &home,
        &[
            "mcp",
            "install",
            "--client",
            "claude-code",
            "--scope",
            "project",
            "--server",
            url,
            "--name",
            "gov",
        ],
    );
    assert!(out.status.success());
    let v: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(home.join(".mcp.json")).unwrap()).unwrap();
    assert_eq!(
        v["mcpServers"]["gov"],
        serde_json::json!({"type": "http", "url": format!("{url}/mcp")})
    );
    let desktop = home.join("desktop.json");
    let out = client_cmd(
        &home,
        &[
            "mcp",
            "install",
            "--client",
            "claude-desktop",
            "--config-path",
            desktop.to_str().unwrap(),
            "--server",
            url,
        ],
    );
    assert!(out.status.success());
    let text = std::fs::read_to_string(&desktop).unwrap();
    let v: serde_json::Value = serde_json::from_str(&text).unwrap();
    assert_eq!(
        v["mcpServers"]["chamberlain"],
        serde_json::json!({"command": "npx", "args": ["-y", "mcp-remote", format!("{url}/mcp")]})
    );
    assert!(!text.to_lowercase().contains("secret") && !text.contains("token"));

    // The profile's server is the default.
    let profiles = home.join(".config").join("chamberlain").join("config.toml");
    std::fs::create_dir_all(profiles.parent().unwrap()).unwrap();
    std::fs::write(
        &profiles,
        "[profiles.default]\nserver = \"https://from-profile.example\"\nclient_id = \"c\"\nclient_secret = \"s\"\n",
    )
    .unwrap();
    let out = client_cmd(
        &home,
        &[
            "mcp",
            "install",
            "--client",
            "cursor",
            "--scope",
            "project",
            "--dry-run",
        ],
    );
    assert!(String::from_utf8_lossy(&out.stdout).contains("https://from-profile.example/mcp"));
    assert!(
        !String::from_utf8_lossy(&out.stdout).contains("\"s\""),
        "no secret"
    );

    // JSON with comments is not rewritten.
    let jsonc = home.join("jsonc.json");
    std::fs::write(&jsonc, "{\n  // mine\n  \"servers\": {}\n}\n").unwrap();
    let out = client_cmd(
        &home,
        &[
            "mcp",
            "install",
            "--client",
            "vscode",
            "--config-path",
            jsonc.to_str().unwrap(),
            "--server",
            url,
        ],
    );
    assert_eq!(out.status.code(), Some(1));
    assert!(String::from_utf8_lossy(&out.stderr).contains("not plain JSON"));
    assert!(std::fs::read_to_string(&jsonc).unwrap().contains("// mine"));
    let _ = std::fs::remove_dir_all(home);
}

/// Exit codes without a server: usage errors are 2, an unreachable server is 1, no profile is 3.
#[test]
fn client_exit_codes_without_a_server() {
    let home = temp_dir();
    let usage = client_cmd(&home, &["get"]);
    assert_eq!(usage.status.code(), Some(2));
    let not_signed_in = client_cmd(&home, &["whoami"]);
    assert_eq!(not_signed_in.status.code(), Some(3));
    assert!(String::from_utf8_lossy(&not_signed_in.stderr).contains("run `chamberlain login`"));
    let port = free_port();
    let unreachable = Command::new(BIN)
        .args(["whoami", "--server", &format!("http://127.0.0.1:{port}")])
        .env("CHAMBERLAIN_CLIENT_ID", "x")
        .env("CHAMBERLAIN_CLIENT_SECRET", "y")
        .env("HOME", &home)
        .output()
        .unwrap();
    assert_eq!(unreachable.status.code(), Some(1));
    assert!(String::from_utf8_lossy(&unreachable.stderr).contains("cannot reach the server"));
    let _ = std::fs::remove_dir_all(home);
}
