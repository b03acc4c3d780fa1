//! `baton-standin`: a **stand-in written for Chamberlain's tests that behaves like a Baton
//! connector**. It is not a real connector and talks to no remote system: the "remote system"
//! is a JSON file, and the command line mimics the one-shot mode of Baton connectors (sync to
//! a c1z file, provisioning with `-p`) closely enough for Chamberlain's connector host to be
//! tested without Go toolchains or network access. See README.md in this crate for the full
//! contract.
//!
//! - State: env `BATON_STANDIN_STATE` names a JSON file
//!   `{"users":[{"id","login","email","displayName","status"}], "groups":[{"id","displayName"}],
//!   "memberships":[{"group","user"}]}`; a default (3 users, 2 groups, 2 memberships) is
//!   written if it does not exist.
//! - Sync: `baton-standin --storage-engine sqlite -f FILE` writes a c1z format v1 (the only
//!   format it writes; `pebble`, the default of current connectors, exits 2).
//! - Provisioning: `-p -f FILE` with `--grant-entitlement group:<gid>:member --grant-principal
//!   <uid> --grant-principal-type user`, `--revoke-grant group:<gid>:member:user:<uid>`, or
//!   `--create-account-login L [--create-account-email E] [--create-account-profile JSON]`.
//! - Every invocation appends `{"argv":[…],"env":{…}}` to `<state file>.calls.jsonl`.
//! - Test knobs: `BATON_STANDIN_SLEEP_SECS`, `BATON_STANDIN_FAIL`, `BATON_STANDIN_REQUIRE_ENV`.

use chamberlain_sync::c1z::proto::{self, Entitlement, Grant, Resource, ResourceType};
use chamberlain_sync::c1z::write::{self, resource_stub, rid, C1zWriter};
use clap::Parser;
use serde::{Deserialize, Serialize};
use serde_json::{Map, Value};
use std::io::Write;
use std::path::{Path, PathBuf};
use std::process::ExitCode;

/// Env var naming the state file.
const STATE_ENV: &str = "BATON_STANDIN_STATE";

/// The command line: the subset of a Baton connector's flags the stand-in understands.
#[derive(Parser, Debug)]
#[command(
    name = "baton-standin",
    version,
    about = "A stand-in written for Chamberlain's tests that behaves like a Baton connector \
             (not a real connector). The remote system is the JSON file named by \
             BATON_STANDIN_STATE."
)]
struct Cli {
    /// The c1z to write (sync), or the last sync file (provisioning; must exist).
    #[arg(
        short = 'f',
        long = "file",
        env = "BATON_FILE",
        default_value = "sync.c1z"
    )]
    file: PathBuf,
    /// Storage engine of the c1z: only `sqlite` is written [default: pebble, like current
    /// connectors, which the stand-in refuses]
    #[arg(long, env = "BATON_STORAGE_ENGINE")]
    storage_engine: Option<String>,
    /// Accepted and ignored.
    #[arg(long)]
    log_level: Option<String>,
    /// Accepted and ignored.
    #[arg(long)]
    log_format: Option<String>,
    /// Enables the provisioning flags.
    #[arg(short = 'p', long)]
    provisioning: bool,
    /// Entitlement to grant: `group:<gid>:member`.
    #[arg(long)]
    grant_entitlement: Option<String>,
    /// Principal to grant to (a user id).
    #[arg(long)]
    grant_principal: Option<String>,
    /// Resource type of the principal (`user`).
    #[arg(long)]
    grant_principal_type: Option<String>,
    /// Grant to revoke: `group:<gid>:member:user:<uid>`.
    #[arg(long)]
    revoke_grant: Option<String>,
    /// Login of an account to create (also its id).
    #[arg(long)]
    create_account_login: Option<String>,
    /// Email of the account to create.
    #[arg(long)]
    create_account_email: Option<String>,
    /// Profile of the account to create, a JSON object.
    #[arg(long)]
    create_account_profile: Option<String>,
}

/// The remote system the stand-in pretends to reach.
#[derive(Serialize, Deserialize, Debug, Default)]
struct State {
    #[serde(default)]
    users: Vec<User>,
    #[serde(default)]
    groups: Vec<Group>,
    #[serde(default)]
    memberships: Vec<Membership>,
    /// Fields the stand-in does not know, kept when it rewrites the file.
    #[serde(flatten)]
    extra: Map<String, Value>,
}

#[derive(Serialize, Deserialize, Debug, Clone)]
#[serde(rename_all = "camelCase")]
struct User {
    id: String,
    #[serde(default)]
    login: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    email: Option<String>,
    #[serde(default)]
    display_name: String,
    /// `enabled`, `disabled` or `deleted`.
    #[serde(default = "enabled")]
    status: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    profile: Option<Map<String, Value>>,
    #[serde(flatten)]
    extra: Map<String, Value>,
}

fn enabled() -> String {
    "enabled".into()
}

#[derive(Serialize, Deserialize, Debug, Clone)]
#[serde(rename_all = "camelCase")]
struct Group {
    id: String,
    #[serde(default)]
    display_name: String,
    #[serde(flatten)]
    extra: Map<String, Value>,
}

#[derive(Serialize, Deserialize, Debug, Clone, PartialEq)]
struct Membership {
    group: String,
    user: String,
    #[serde(flatten)]
    extra: Map<String, Value>,
}

/// How the process ends when it does not succeed.
struct Exit {
    code: u8,
    message: String,
}

fn fail(code: u8, message: impl Into<String>) -> Exit {
    Exit {
        code,
        message: message.into(),
    }
}

fn main() -> ExitCode {
    match run() {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            if !e.message.is_empty() {
                eprintln!("baton-standin: {}", e.message);
            }
            ExitCode::from(e.code)
        }
    }
}

fn run() -> Result<(), Exit> {
    // Knob: a plain sleep first, so a host's timeout can kill the process.
    if let Ok(secs) = std::env::var("BATON_STANDIN_SLEEP_SECS") {
        let secs: f64 = secs.trim().parse().map_err(|_| {
            fail(
                1,
                format!("BATON_STANDIN_SLEEP_SECS must be a number of seconds, not `{secs}`"),
            )
        })?;
        if secs > 0.0 {
            std::thread::sleep(std::time::Duration::from_secs_f64(secs));
        }
    }
    let state_path = std::env::var_os(STATE_ENV)
        .filter(|v| !v.is_empty())
        .map(PathBuf::from);
    let mut state = match &state_path {
        Some(p) => {
            record_call(p)?;
            Some(load_or_create(p)?)
        }
        None => None,
    };

    // Knobs: a configuration the host must pass, and a forced failure.
    if let Ok(req) = std::env::var("BATON_STANDIN_REQUIRE_ENV") {
        let Some((name, want)) = req.split_once('=') else {
            return Err(fail(
                4,
                format!("BATON_STANDIN_REQUIRE_ENV must be NAME=VALUE, not `{req}`"),
            ));
        };
        match std::env::var(name) {
            Ok(v) if v == want => {}
            Ok(_) => {
                return Err(fail(
                    4,
                    format!("required env {name} does not have the expected value"),
                ))
            }
            Err(_) => return Err(fail(4, format!("required env {name} is not set"))),
        }
    }
    if let Ok(msg) = std::env::var("BATON_STANDIN_FAIL") {
        // The message exactly as given, on a line of its own.
        eprintln!("{msg}");
        return Err(fail(3, ""));
    }

    let (args, ignored) = split_unknown_flags(std::env::args_os().collect());
    for flag in ignored {
        eprintln!("baton-standin: ignoring unknown flag {flag}");
    }
    let cli = match Cli::try_parse_from(args) {
        Ok(cli) => cli,
        Err(e) if !e.use_stderr() => {
            // --help, --version
            let _ = e.print();
            return Ok(());
        }
        Err(e) => {
            let _ = e.print();
            return Err(fail(1, ""));
        }
    };
    let (Some(state_path), Some(state)) = (state_path, state.as_mut()) else {
        return Err(fail(
            1,
            format!("{STATE_ENV} is not set; it names the JSON file describing the remote system"),
        ));
    };

    let action = action(&cli)?;
    match action {
        None => sync(&cli, state),
        Some(action) => {
            if !cli.file.exists() {
                return Err(fail(
                    1,
                    format!(
                        "the sync file {} does not exist; provisioning looks objects up in the \
                         last sync file, so sync first",
                        cli.file.display()
                    ),
                ));
            }
            let message = provision(action, state)?;
            save(&state_path, state)?;
            println!("{message}");
            Ok(())
        }
    }
}

/// Long flags the stand-in knows, and whether each takes a value.
const KNOWN_FLAGS: &[(&str, bool)] = &[
    ("file", true),
    ("storage-engine", true),
    ("log-level", true),
    ("log-format", true),
    ("provisioning", false),
    ("grant-entitlement", true),
    ("grant-principal", true),
    ("grant-principal-type", true),
    ("revoke-grant", true),
    ("create-account-login", true),
    ("create-account-email", true),
    ("create-account-profile", true),
    ("help", false),
    ("version", false),
];

/// Separates long flags the stand-in does not know (a real connector's own configuration, such
/// as `--api-token X`) so they are accepted and ignored: `--name=value`, or `--name` followed
/// by its value when the next argument does not start with `-`, or a lone `--name`. Short
/// flags and positional arguments are left to the parser.
fn split_unknown_flags(argv: Vec<std::ffi::OsString>) -> (Vec<std::ffi::OsString>, Vec<String>) {
    let mut keep = Vec::with_capacity(argv.len());
    let mut ignored = Vec::new();
    let mut it = argv.into_iter().peekable();
    if let Some(program) = it.next() {
        keep.push(program);
    }
    while let Some(arg) = it.next() {
        let text = arg.to_string_lossy().into_owned();
        let Some(long) = text.strip_prefix("--").filter(|l| !l.is_empty()) else {
            keep.push(arg);
            continue;
        };
        let (name, inline_value) = match long.split_once('=') {
            Some((n, _)) => (n, true),
            None => (long, false),
        };
        match KNOWN_FLAGS.iter().find(|(k, _)| *k == name) {
            Some((_, takes_value)) => {
                keep.push(arg);
                if *takes_value && !inline_value {
                    if let Some(v) = it.next() {
                        keep.push(v);
                    }
                }
            }
            None => {
                let mut shown = text.clone();
                if !inline_value
                    && it
                        .peek()
                        .is_some_and(|v| !v.to_string_lossy().starts_with('-'))
                {
                    it.next();
                    shown.push_str(" <value>");
                }
                ignored.push(shown);
            }
        }
    }
    (keep, ignored)
}

/// A provisioning request.
enum Action {
    Grant {
        entitlement: String,
        principal: String,
        principal_type: String,
    },
    Revoke(String),
    CreateAccount {
        login: String,
        email: Option<String>,
        profile: Option<String>,
    },
}

/// The provisioning action the flags ask for, if any.
fn action(cli: &Cli) -> Result<Option<Action>, Exit> {
    let grant = cli.grant_entitlement.is_some()
        || cli.grant_principal.is_some()
        || cli.grant_principal_type.is_some();
    let revoke = cli.revoke_grant.is_some();
    let create = cli.create_account_login.is_some()
        || cli.create_account_email.is_some()
        || cli.create_account_profile.is_some();
    let asked = [grant, revoke, create].iter().filter(|b| **b).count();
    if asked == 0 {
        return Ok(None);
    }
    if !cli.provisioning {
        return Err(fail(
            1,
            "provisioning flags (--grant-*, --revoke-grant, --create-account-*) require \
             -p/--provisioning",
        ));
    }
    if asked > 1 {
        return Err(fail(
            1,
            "give one provisioning action at a time (grant, revoke or create account)",
        ));
    }
    let need = |v: &Option<String>, flag: &str| {
        v.clone()
            .filter(|s| !s.is_empty())
            .ok_or_else(|| fail(1, format!("{flag} is required")))
    };
    Ok(Some(if grant {
        Action::Grant {
            entitlement: need(&cli.grant_entitlement, "--grant-entitlement")?,
            principal: need(&cli.grant_principal, "--grant-principal")?,
            principal_type: need(&cli.grant_principal_type, "--grant-principal-type")?,
        }
    } else if revoke {
        Action::Revoke(need(&cli.revoke_grant, "--revoke-grant")?)
    } else {
        Action::CreateAccount {
            login: need(&cli.create_account_login, "--create-account-login")?,
            email: cli.create_account_email.clone().filter(|e| !e.is_empty()),
            profile: cli.create_account_profile.clone(),
        }
    }))
}

/// Applies a provisioning action to the state; returns what to print.
fn provision(action: Action, state: &mut State) -> Result<String, Exit> {
    match action {
        Action::Grant {
            entitlement,
            principal,
            principal_type,
        } => {
            let gid = group_of_entitlement(&entitlement)
                .filter(|g| state.groups.iter().any(|x| x.id == *g))
                .ok_or_else(|| {
                    fail(
                        1,
                        format!(
                            "unknown entitlement `{entitlement}` (entitlements are \
                             group:<group id>:member)"
                        ),
                    )
                })?;
            if principal_type != "user" {
                return Err(fail(
                    1,
                    format!(
                        "unknown principal type `{principal_type}`: the stand-in grants \
                         entitlements to `user` principals only"
                    ),
                ));
            }
            if !state.users.iter().any(|u| u.id == principal) {
                return Err(fail(1, format!("unknown user `{principal}`")));
            }
            let grant_id = format!("{entitlement}:user:{principal}");
            if state
                .memberships
                .iter()
                .any(|m| m.group == gid && m.user == principal)
            {
                return Ok(format!("grant {grant_id} already exists"));
            }
            state.memberships.push(Membership {
                group: gid,
                user: principal,
                extra: Map::new(),
            });
            Ok(format!("granted {grant_id}"))
        }
        Action::Revoke(grant_id) => {
            let unknown = || {
                fail(
                    1,
                    format!(
                        "unknown grant `{grant_id}` (grants are \
                         group:<group id>:member:user:<user id>)"
                    ),
                )
            };
            let (gid, uid) = parse_grant_id(&grant_id).ok_or_else(unknown)?;
            let before = state.memberships.len();
            state
                .memberships
                .retain(|m| !(m.group == gid && m.user == uid));
            if state.memberships.len() == before {
                return Err(unknown());
            }
            Ok(format!("revoked {grant_id}"))
        }
        Action::CreateAccount {
            login,
            email,
            profile,
        } => {
            if state.users.iter().any(|u| u.id == login) {
                return Err(fail(
                    1,
                    format!("a user with login `{login}` already exists"),
                ));
            }
            let profile = match profile {
                None => None,
                Some(p) => match serde_json::from_str::<Value>(&p) {
                    Ok(Value::Object(m)) => Some(m),
                    _ => {
                        return Err(fail(
                            1,
                            format!("--create-account-profile must be a JSON object, not `{p}`"),
                        ))
                    }
                },
            };
            let display_name = profile
                .as_ref()
                .and_then(|p| p.get("displayName").or_else(|| p.get("display_name")))
                .and_then(Value::as_str)
                .unwrap_or(&login)
                .to_string();
            state.users.push(User {
                id: login.clone(),
                login: login.clone(),
                email,
                display_name,
                status: enabled(),
                profile,
                extra: Map::new(),
            });
            Ok(format!("created account user:{login}"))
        }
    }
}

/// `group:<gid>:member` → gid.
fn group_of_entitlement(id: &str) -> Option<String> {
    id.strip_prefix("group:")?
        .strip_suffix(":member")
        .filter(|g| !g.is_empty())
        .map(str::to_string)
}

/// `group:<gid>:member:user:<uid>` → (gid, uid).
fn parse_grant_id(id: &str) -> Option<(String, String)> {
    let rest = id.strip_prefix("group:")?;
    let (gid, uid) = rest.split_once(":member:user:")?;
    (!gid.is_empty() && !uid.is_empty()).then(|| (gid.to_string(), uid.to_string()))
}

/// Writes the state as a c1z (format v1).
fn sync(cli: &Cli, state: &State) -> Result<(), Exit> {
    let engine = cli
        .storage_engine
        .clone()
        .filter(|e| !e.is_empty())
        .unwrap_or_else(|| "pebble".into())
        .to_ascii_lowercase();
    match engine.as_str() {
        "sqlite" => {}
        "pebble" => {
            return Err(fail(
                2,
                "this stand-in only writes the sqlite storage engine (c1z format v1); \
                 run it with --storage-engine sqlite or BATON_STORAGE_ENGINE=sqlite",
            ))
        }
        other => {
            return Err(fail(
                1,
                format!("unknown storage engine `{other}` (sqlite or pebble)"),
            ))
        }
    }
    let rt = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .map_err(|e| fail(1, format!("cannot start: {e}")))?;
    let summary = rt
        .block_on(write_c1z(&cli.file, state))
        .map_err(|e| fail(1, format!("sync failed: {e}")))?;
    eprintln!(
        "baton-standin: sync {} finished: {} resources, {} entitlements, {} grants written to {}",
        summary.sync_id,
        summary.resources,
        summary.entitlements,
        summary.grants,
        cli.file.display()
    );
    Ok(())
}

fn status_code(status: &str) -> i32 {
    match status.to_ascii_lowercase().as_str() {
        "enabled" => 1,
        "disabled" => 2,
        "deleted" => 3,
        _ => 0,
    }
}

async fn write_c1z(
    path: &Path,
    state: &State,
) -> Result<write::WriteSummary, chamberlain_sync::c1z::C1zWriteError> {
    let mut w = C1zWriter::create(path).await?;
    let user_type = ResourceType {
        id: "user".into(),
        display_name: "User".into(),
        traits: vec![1],
        ..Default::default()
    };
    w.add_resource_type(user_type.clone()).await?;
    w.add_resource_type(ResourceType {
        id: "group".into(),
        display_name: "Group".into(),
        traits: vec![2],
        ..Default::default()
    })
    .await?;
    for u in &state.users {
        let t = proto::UserTrait {
            emails: u
                .email
                .iter()
                .filter(|e| !e.is_empty())
                .map(|e| proto::Email {
                    address: e.clone(),
                    is_primary: true,
                })
                .collect(),
            status: Some(proto::Status {
                status: status_code(&u.status),
                details: u.status.clone(),
            }),
            profile: u.profile.as_ref().map(proto::json_to_struct),
            account_type: 1,
            login: u.login.clone(),
            ..Default::default()
        };
        w.add_resource(Resource {
            id: Some(rid("user", &u.id)),
            display_name: if u.display_name.is_empty() {
                u.login.clone()
            } else {
                u.display_name.clone()
            },
            annotations: vec![write::user_trait_annotation(&t)],
            ..Default::default()
        })
        .await?;
    }
    for g in &state.groups {
        let group = Resource {
            id: Some(rid("group", &g.id)),
            display_name: g.display_name.clone(),
            ..Default::default()
        };
        w.add_resource(group.clone()).await?;
        w.add_entitlement(Entitlement {
            id: format!("group:{}:member", g.id),
            resource: Some(group),
            display_name: format!("{} Member", g.display_name),
            description: format!("Member of the {} group", g.display_name),
            grantable_to: vec![user_type.clone()],
            purpose: 1,
            slug: "member".into(),
            ..Default::default()
        })
        .await?;
    }
    for m in &state.memberships {
        let known = state.groups.iter().any(|g| g.id == m.group)
            && state.users.iter().any(|u| u.id == m.user);
        if !known {
            eprintln!(
                "baton-standin: skipping membership of user `{}` in group `{}`: one of them \
                 is not in the state",
                m.user, m.group
            );
            continue;
        }
        let ent = format!("group:{}:member", m.group);
        w.add_grant(Grant {
            id: format!("{ent}:user:{}", m.user),
            entitlement: Some(Entitlement {
                id: ent,
                resource: Some(resource_stub(rid("group", &m.group))),
                ..Default::default()
            }),
            principal: Some(resource_stub(rid("user", &m.user))),
            ..Default::default()
        })
        .await?;
    }
    w.finish().await
}

fn default_state() -> State {
    let user = |id: &str, login: &str, name: &str, status: &str| User {
        id: id.into(),
        login: login.into(),
        email: Some(format!("{login}@example.com")),
        display_name: name.into(),
        status: status.into(),
        profile: None,
        extra: Map::new(),
    };
    let group = |id: &str, name: &str| Group {
        id: id.into(),
        display_name: name.into(),
        extra: Map::new(),
    };
    let member = |g: &str, u: &str| Membership {
        group: g.into(),
        user: u.into(),
        extra: Map::new(),
    };
    State {
        users: vec![
            user("u1", "alice", "Alice", "enabled"),
            user("u2", "bob", "Bob", "enabled"),
            user("u3", "carol", "Carol", "disabled"),
        ],
        groups: vec![group("g1", "Admins"), group("g2", "Engineering")],
        memberships: vec![member("g1", "u1"), member("g2", "u2")],
        extra: Map::new(),
    }
}

fn load_or_create(path: &Path) -> Result<State, Exit> {
    if !path.exists() {
        let state = default_state();
        save(path, &state)?;
        return Ok(state);
    }
    let text = std::fs::read_to_string(path)
        .map_err(|e| fail(1, format!("cannot read the state {}: {e}", path.display())))?;
    serde_json::from_str(&text)
        .map_err(|e| fail(1, format!("the state {} is not valid: {e}", path.display())))
}

/// Writes the state through a temp file, so a reader never sees half of it.
fn save(path: &Path, state: &State) -> Result<(), Exit> {
    let err =
        |e: std::io::Error| fail(1, format!("cannot write the state {}: {e}", path.display()));
    let mut text = serde_json::to_string_pretty(state).map_err(|e| fail(1, e.to_string()))?;
    text.push('\n');
    let tmp = PathBuf::from(format!("{}.tmp-{}", path.display(), std::process::id()));
    std::fs::write(&tmp, text).map_err(err)?;
    std::fs::rename(&tmp, path).map_err(err)
}

/// Appends `{"argv": [...], "env": {...}}` to `<state>.calls.jsonl`: the arguments after the
/// program name and the env vars named `BATON_*` or `STANDIN_*`.
fn record_call(state: &Path) -> Result<(), Exit> {
    let argv: Vec<String> = std::env::args_os()
        .skip(1)
        .map(|a| a.to_string_lossy().into_owned())
        .collect();
    let env: Map<String, Value> = std::env::vars_os()
        .filter_map(|(k, v)| {
            let k = k.to_string_lossy().into_owned();
            (k.starts_with("BATON_") || k.starts_with("STANDIN_"))
                .then(|| (k, Value::String(v.to_string_lossy().into_owned())))
        })
        .collect();
    let mut line = serde_json::json!({ "argv": argv, "env": env }).to_string();
    line.push('\n');
    let path = PathBuf::from(format!("{}.calls.jsonl", state.display()));
    std::fs::OpenOptions::new()
        .create(true)
        .append(true)
        .open(&path)
        .and_then(|mut f| f.write_all(line.as_bytes()))
        .map_err(|e| fail(1, format!("cannot append to {}: {e}", path.display())))
}
