//! The stand-in's contract, driven through its binary as a connector host would.

use chamberlain_sync::c1z::{self, proto, Snapshot};
use prost::Message;
use serde_json::Value;
use std::path::{Path, PathBuf};
use std::process::{Command, Output, Stdio};
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::{Duration, Instant};

/// A scratch directory with a state file path in it.
struct Env {
    dir: PathBuf,
}

impl Env {
    fn new() -> Env {
        static N: AtomicUsize = AtomicUsize::new(0);
        let dir = std::env::temp_dir().join(format!(
            "baton-standin-test-{}-{}",
            std::process::id(),
            N.fetch_add(1, Ordering::SeqCst)
        ));
        let _ = std::fs::remove_dir_all(&dir);
        std::fs::create_dir_all(&dir).unwrap();
        Env { dir }
    }

    fn state(&self) -> PathBuf {
        self.dir.join("state.json")
    }

    fn c1z(&self) -> PathBuf {
        self.dir.join("sync.c1z")
    }

    /// The binary with a clean environment: only the state file is set.
    fn cmd(&self, args: &[&str]) -> Command {
        let mut c = Command::new(env!("CARGO_BIN_EXE_baton-standin"));
        for (k, _) in std::env::vars_os() {
            let k = k.to_string_lossy();
            if k.starts_with("BATON_") || k.starts_with("STANDIN_") {
                c.env_remove(&*k);
            }
        }
        c.env("BATON_STANDIN_STATE", self.state())
            .current_dir(&self.dir)
            .args(args);
        c
    }

    fn run(&self, args: &[&str]) -> Output {
        self.cmd(args).output().unwrap()
    }

    fn sync(&self) -> Snapshot {
        let out = self.run(&["--storage-engine", "sqlite", "-f", self.c1z_str()]);
        assert_eq!(out.status.code(), Some(0), "{}", stderr(&out));
        read(&self.c1z())
    }

    fn c1z_str(&self) -> &'static str {
        Box::leak(self.c1z().display().to_string().into_boxed_str())
    }

    fn state_json(&self) -> Value {
        serde_json::from_str(&std::fs::read_to_string(self.state()).unwrap()).unwrap()
    }

    fn calls(&self) -> Vec<Value> {
        std::fs::read_to_string(self.dir.join("state.json.calls.jsonl"))
            .unwrap_or_default()
            .lines()
            .map(|l| serde_json::from_str(l).unwrap())
            .collect()
    }
}

impl Drop for Env {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.dir);
    }
}

fn read(path: &Path) -> Snapshot {
    let rt = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .unwrap();
    rt.block_on(c1z::read(path, c1z::DEFAULT_MAX_DECOMPRESSED))
        .unwrap()
}

fn stderr(o: &Output) -> String {
    String::from_utf8_lossy(&o.stderr).into_owned()
}

fn grant_ids(s: &Snapshot) -> Vec<String> {
    let mut ids: Vec<String> = s.grants.iter().map(|g| g.id.clone()).collect();
    ids.sort();
    ids
}

fn user_trait(r: &proto::Resource) -> proto::UserTrait {
    r.annotations
        .iter()
        .find(|a| a.type_url == "type.googleapis.com/c1.connector.v2.UserTrait")
        .map(|a| proto::UserTrait::decode(a.value.as_slice()).unwrap())
        .expect("a user trait")
}

#[test]
fn sync_writes_the_default_state_as_a_v1_c1z() {
    let env = Env::new();
    let snap = env.sync();
    // The default state was written first.
    let state = env.state_json();
    assert_eq!(state["users"].as_array().unwrap().len(), 3);
    assert_eq!(state["groups"].as_array().unwrap().len(), 2);
    assert_eq!(state["memberships"].as_array().unwrap().len(), 2);

    assert!(std::fs::read(env.c1z()).unwrap().starts_with(b"C1ZF\0"));
    assert_eq!(snap.sync_type, "full");
    let types: Vec<_> = snap
        .resource_types
        .iter()
        .map(|t| (t.id.as_str(), t.traits.clone()))
        .collect();
    assert_eq!(types, vec![("user", vec![1]), ("group", vec![2])]);
    assert_eq!(snap.resources.len(), 5);
    let alice = &snap.resources[0];
    assert_eq!(alice.id.as_ref().unwrap().resource, "u1");
    assert_eq!(alice.display_name, "Alice");
    let t = user_trait(alice);
    assert_eq!(t.login, "alice");
    assert_eq!(t.emails[0].address, "alice@example.com");
    assert!(t.emails[0].is_primary);
    assert_eq!(t.status.unwrap().status, 1);
    assert_eq!(user_trait(&snap.resources[2]).status.unwrap().status, 2);

    let ents: Vec<_> = snap
        .entitlements
        .iter()
        .map(|e| {
            (
                e.id.as_str(),
                e.slug.as_str(),
                e.display_name.as_str(),
                e.purpose,
            )
        })
        .collect();
    assert_eq!(
        ents,
        vec![
            ("group:g1:member", "member", "Admins Member", 1),
            ("group:g2:member", "member", "Engineering Member", 1)
        ]
    );
    assert_eq!(
        grant_ids(&snap),
        vec!["group:g1:member:user:u1", "group:g2:member:user:u2"]
    );
    let g = &snap.grants[0];
    assert_eq!(g.entitlement_id, "group:g1:member");
    assert_eq!(
        (
            g.principal.resource_type.as_str(),
            g.principal.resource.as_str()
        ),
        ("user", "u1")
    );
}

#[test]
fn env_fallbacks_and_ignored_log_flags() {
    let env = Env::new();
    let out = env
        .cmd(&["--log-level", "debug", "--log-format", "json"])
        .env("BATON_FILE", env.c1z())
        .env("BATON_STORAGE_ENGINE", "sqlite")
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(0), "{}", stderr(&out));
    assert_eq!(read(&env.c1z()).grants.len(), 2);
    // --file is the long form of -f.
    let other = env.dir.join("other.c1z");
    let out = env.run(&[
        "--storage-engine",
        "sqlite",
        "--file",
        other.to_str().unwrap(),
    ]);
    assert_eq!(out.status.code(), Some(0), "{}", stderr(&out));
    assert_eq!(read(&other).resources.len(), 5);
}

#[test]
fn pebble_is_refused_explicitly_and_by_default() {
    let env = Env::new();
    for out in [
        env.run(&["-f", env.c1z_str()]),
        env.run(&["--storage-engine", "pebble", "-f", env.c1z_str()]),
        env.cmd(&["-f", env.c1z_str()])
            .env("BATON_STORAGE_ENGINE", "pebble")
            .output()
            .unwrap(),
    ] {
        assert_eq!(out.status.code(), Some(2));
        assert!(
            stderr(&out).contains("only writes the sqlite"),
            "{}",
            stderr(&out)
        );
    }
    assert!(!env.c1z().exists());
}

#[test]
fn grant_is_idempotent_and_shows_in_the_next_sync() {
    let env = Env::new();
    env.sync();
    let args = [
        "-p",
        "-f",
        env.c1z_str(),
        "--grant-entitlement",
        "group:g2:member",
        "--grant-principal",
        "u3",
        "--grant-principal-type",
        "user",
    ];
    for _ in 0..2 {
        let out = env.run(&args);
        assert_eq!(out.status.code(), Some(0), "{}", stderr(&out));
    }
    let members = env.state_json()["memberships"].clone();
    assert_eq!(
        members,
        serde_json::json!([
            {"group": "g1", "user": "u1"},
            {"group": "g2", "user": "u2"},
            {"group": "g2", "user": "u3"}
        ])
    );
    assert!(grant_ids(&env.sync()).contains(&"group:g2:member:user:u3".to_string()));
}

#[test]
fn grant_of_unknown_objects_fails_with_exit_1() {
    let env = Env::new();
    env.sync();
    let f = env.c1z_str();
    for (args, says) in [
        (
            vec![
                "-p",
                "-f",
                f,
                "--grant-entitlement",
                "group:g9:member",
                "--grant-principal",
                "u1",
                "--grant-principal-type",
                "user",
            ],
            "unknown entitlement",
        ),
        (
            vec![
                "-p",
                "-f",
                f,
                "--grant-entitlement",
                "group:g1:member",
                "--grant-principal",
                "u9",
                "--grant-principal-type",
                "user",
            ],
            "unknown user",
        ),
        (
            vec![
                "-p",
                "-f",
                f,
                "--grant-entitlement",
                "group:g1:member",
                "--grant-principal",
                "g2",
                "--grant-principal-type",
                "group",
            ],
            "principal type",
        ),
        // Without -p.
        (
            vec![
                "-f",
                f,
                "--grant-entitlement",
                "group:g1:member",
                "--grant-principal",
                "u2",
                "--grant-principal-type",
                "user",
            ],
            "require -p",
        ),
        // Without an existing sync file.
        (
            vec![
                "-p",
                "-f",
                "missing.c1z",
                "--grant-entitlement",
                "group:g1:member",
                "--grant-principal",
                "u2",
                "--grant-principal-type",
                "user",
            ],
            "does not exist",
        ),
    ] {
        let out = env.run(&args);
        assert_eq!(out.status.code(), Some(1), "{args:?}");
        assert!(stderr(&out).contains(says), "{args:?}: {}", stderr(&out));
    }
    assert_eq!(env.state_json()["memberships"].as_array().unwrap().len(), 2);
}

#[test]
fn revoke_removes_the_membership_once() {
    let env = Env::new();
    env.sync();
    let args = [
        "--provisioning",
        "-f",
        env.c1z_str(),
        "--revoke-grant",
        "group:g1:member:user:u1",
    ];
    let out = env.run(&args);
    assert_eq!(out.status.code(), Some(0), "{}", stderr(&out));
    assert_eq!(
        env.state_json()["memberships"],
        serde_json::json!([{"group": "g2", "user": "u2"}])
    );
    let out = env.run(&args);
    assert_eq!(out.status.code(), Some(1));
    assert!(stderr(&out).contains("unknown grant"), "{}", stderr(&out));
    assert_eq!(grant_ids(&env.sync()), vec!["group:g2:member:user:u2"]);
}

#[test]
fn create_account_adds_a_user_with_email_and_profile() {
    let env = Env::new();
    env.sync();
    let out = env.run(&[
        "-p",
        "-f",
        env.c1z_str(),
        "--create-account-login",
        "dave",
        "--create-account-email",
        "dave@example.com",
        "--create-account-profile",
        r#"{"displayName":"Dave D","department":"Ops"}"#,
    ]);
    assert_eq!(out.status.code(), Some(0), "{}", stderr(&out));
    let snap = env.sync();
    let dave = snap
        .resources
        .iter()
        .find(|r| r.id.as_ref().unwrap().resource == "dave")
        .expect("dave is synced");
    assert_eq!(dave.display_name, "Dave D");
    let t = user_trait(dave);
    assert_eq!(t.login, "dave");
    assert_eq!(t.emails[0].address, "dave@example.com");
    assert_eq!(
        proto::struct_to_json(t.profile.as_ref().unwrap())["department"],
        "Ops"
    );
    // Again: the user exists. A profile that is not an object is refused.
    for args in [
        vec!["-p", "-f", env.c1z_str(), "--create-account-login", "dave"],
        vec![
            "-p",
            "-f",
            env.c1z_str(),
            "--create-account-login",
            "erin",
            "--create-account-profile",
            "[1]",
        ],
    ] {
        let out = env.run(&args);
        assert_eq!(out.status.code(), Some(1), "{args:?}");
    }
    assert_eq!(env.state_json()["users"].as_array().unwrap().len(), 4);
}

#[test]
fn failure_knobs() {
    let env = Env::new();
    let args = ["--storage-engine", "sqlite", "-f", env.c1z_str()];
    let out = env
        .cmd(&args)
        .env("BATON_STANDIN_FAIL", "the API said no")
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(3));
    assert_eq!(stderr(&out).trim(), "the API said no");

    let out = env
        .cmd(&args)
        .env("BATON_STANDIN_REQUIRE_ENV", "BATON_API_TOKEN=s3cret")
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(4));
    assert!(stderr(&out).contains("BATON_API_TOKEN"), "{}", stderr(&out));
    let out = env
        .cmd(&args)
        .env("BATON_STANDIN_REQUIRE_ENV", "BATON_API_TOKEN=s3cret")
        .env("BATON_API_TOKEN", "wrong")
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(4));
    assert!(!env.c1z().exists());
    let out = env
        .cmd(&args)
        .env("BATON_STANDIN_REQUIRE_ENV", "BATON_API_TOKEN=s3cret")
        .env("BATON_API_TOKEN", "s3cret")
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(0), "{}", stderr(&out));
    assert!(env.c1z().exists());
}

#[test]
fn sleep_knob_is_a_killable_sleep() {
    let env = Env::new();
    let mut child = env
        .cmd(&["--storage-engine", "sqlite", "-f", env.c1z_str()])
        .env("BATON_STANDIN_SLEEP_SECS", "30")
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .unwrap();
    std::thread::sleep(Duration::from_millis(300));
    assert!(child.try_wait().unwrap().is_none(), "still sleeping");
    let t = Instant::now();
    child.kill().unwrap();
    let status = child.wait().unwrap();
    assert!(!status.success());
    assert!(t.elapsed() < Duration::from_secs(5));
    // It slept before doing anything.
    assert!(!env.c1z().exists());
    assert!(env.calls().is_empty());

    let t = Instant::now();
    let out = env
        .cmd(&["--storage-engine", "sqlite", "-f", env.c1z_str()])
        .env("BATON_STANDIN_SLEEP_SECS", "1")
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(0));
    assert!(t.elapsed() >= Duration::from_secs(1));
}

#[test]
fn every_invocation_is_logged_with_its_baton_env() {
    let env = Env::new();
    let out = env
        .cmd(&["--storage-engine", "sqlite", "-f", env.c1z_str()])
        .env("BATON_API_TOKEN", "t0ken")
        .env("STANDIN_NOTE", "hello")
        .env("OTHER_SECRET", "not logged")
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(0));
    env.run(&["-f", env.c1z_str()]); // pebble refusal
    env.cmd(&["-f", env.c1z_str()])
        .env("BATON_STANDIN_FAIL", "x")
        .output()
        .unwrap();
    env.run(&[
        "-p",
        "-f",
        env.c1z_str(),
        "--revoke-grant",
        "group:g1:member:user:u1",
    ]);
    let calls = env.calls();
    assert_eq!(calls.len(), 4);
    assert_eq!(
        calls[0]["argv"],
        serde_json::json!(["--storage-engine", "sqlite", "-f", env.c1z_str()])
    );
    assert_eq!(
        calls[0]["env"],
        serde_json::json!({
            "BATON_API_TOKEN": "t0ken",
            "BATON_STANDIN_STATE": env.state().display().to_string(),
            "STANDIN_NOTE": "hello"
        })
    );
    assert_eq!(calls[2]["env"]["BATON_STANDIN_FAIL"], "x");
    assert_eq!(calls[3]["argv"][3], "--revoke-grant");
}

#[test]
fn state_is_required_and_unknown_fields_are_kept() {
    let env = Env::new();
    let out = env
        .cmd(&["--storage-engine", "sqlite", "-f", env.c1z_str()])
        .env_remove("BATON_STANDIN_STATE")
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(1));
    assert!(stderr(&out).contains("BATON_STANDIN_STATE"));

    std::fs::write(
        env.state(),
        r#"{"users":[{"id":"x1","login":"xavier","displayName":"X","status":"enabled","title":"CTO"}],
            "groups":[{"id":"team","displayName":"Team"}],"memberships":[],"version":7}"#,
    )
    .unwrap();
    let snap = env.sync();
    assert_eq!(snap.resources.len(), 2);
    assert!(user_trait(&snap.resources[0]).emails.is_empty());
    let out = env.run(&[
        "-p",
        "-f",
        env.c1z_str(),
        "--grant-entitlement",
        "group:team:member",
        "--grant-principal",
        "x1",
        "--grant-principal-type",
        "user",
    ]);
    assert_eq!(out.status.code(), Some(0), "{}", stderr(&out));
    let state = env.state_json();
    assert_eq!(state["version"], 7);
    assert_eq!(state["users"][0]["title"], "CTO");
    assert_eq!(grant_ids(&env.sync()), vec!["group:team:member:user:x1"]);
}

#[test]
fn unknown_long_flags_are_ignored_like_a_connectors_own_settings() {
    let env = Env::new();
    let args = [
        "--api-token",
        "s3cret",
        "--region=eu",
        "--storage-engine",
        "sqlite",
        "--verbose",
        "-f",
        env.c1z_str(),
    ];
    let out = env.run(&args);
    assert_eq!(out.status.code(), Some(0), "{}", stderr(&out));
    assert!(stderr(&out).contains("ignoring unknown flag --api-token"));
    assert_eq!(read(&env.c1z()).grants.len(), 2);
    assert_eq!(env.calls()[0]["argv"], serde_json::json!(args));
    // Positional arguments and unknown short flags are usage errors.
    for args in [vec!["capabilities"], vec!["-x"]] {
        assert_eq!(env.run(&args).status.code(), Some(1), "{args:?}");
    }
}
