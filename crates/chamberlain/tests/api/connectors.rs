//! Connectors that run a Baton binary: configuration (secrets never returned), syncs queued by
//! force_sync and by schedule and run by the background worker, provisioning of grants and
//! revocations through the binary, failures and time limits in `lastError`, pause/resume.
//!
//! The binary is `baton-standin`, a stand-in written for these tests that behaves like a Baton
//! connector (crates/baton-standin); it is not a real connector.

use crate::harness::TestServer;
use serde_json::{json, Value};
use std::path::PathBuf;
use std::time::Duration;

/// Path of the stand-in connector binary, built on first use if the test run did not build it.
pub fn standin() -> PathBuf {
    static BUILT: std::sync::OnceLock<PathBuf> = std::sync::OnceLock::new();
    BUILT
        .get_or_init(|| {
            // Tests run from target/<profile>/deps; binaries sit one level up.
            let exe = std::env::current_exe().unwrap();
            let path = exe
                .parent()
                .unwrap()
                .parent()
                .unwrap()
                .join("baton-standin");
            if !path.is_file() {
                let status = std::process::Command::new(env!("CARGO"))
                    .args(["build", "-p", "baton-standin"])
                    .status()
                    .unwrap();
                assert!(status.success(), "building baton-standin failed");
            }
            assert!(path.is_file(), "{} is missing", path.display());
            path
        })
        .clone()
}

fn temp_state() -> PathBuf {
    let dir = std::env::temp_dir().join(format!(
        "chamberlain-standin-{}",
        chamberlain_model::new_id()
    ));
    std::fs::create_dir_all(&dir).unwrap();
    dir.join("remote.json")
}

fn calls(state: &std::path::Path) -> Vec<Value> {
    let path = format!("{}.calls.jsonl", state.display());
    std::fs::read_to_string(path)
        .unwrap_or_default()
        .lines()
        .map(|l| serde_json::from_str(l).unwrap())
        .collect()
}

fn memberships(state: &std::path::Path) -> Vec<(String, String)> {
    let v: Value = serde_json::from_str(&std::fs::read_to_string(state).unwrap()).unwrap();
    let mut out: Vec<(String, String)> = v["memberships"]
        .as_array()
        .unwrap()
        .iter()
        .map(|m| {
            (
                m["group"].as_str().unwrap().to_string(),
                m["user"].as_str().unwrap().to_string(),
            )
        })
        .collect();
    out.sort();
    out
}

fn config(state: &std::path::Path, extra_env: Value) -> Value {
    let mut env = json!({
        "BATON_STANDIN_STATE": state.display().to_string(),
        "BATON_API_TOKEN": "s3cret-token-value",
    });
    for (k, v) in extra_env.as_object().unwrap() {
        env[k] = v.clone();
    }
    json!({
        "command": standin().display().to_string(),
        "args": ["--log-level", "info"],
        "env": env,
        "timeoutSeconds": 30,
        "provisioning": true,
    })
}

async fn connector(s: &TestServer, app: &str, id: &str) -> Value {
    s.ok("GET", &format!("/api/v1/apps/{app}/connectors/{id}"), None)
        .await["connectorView"]["connector"]
        .clone()
}

async fn runs(s: &TestServer, app: &str, id: &str) -> Vec<Value> {
    s.ok(
        "GET",
        &format!("/api/v1/apps/{app}/connectors/{id}/sync_runs"),
        None,
    )
    .await["list"]
        .as_array()
        .unwrap()
        .clone()
}

/// Waits until the connector has `n` sync runs; returns the newest.
async fn wait_runs(s: &TestServer, app: &str, id: &str, n: usize) -> Value {
    for _ in 0..300 {
        let r = runs(s, app, id).await;
        if r.len() >= n {
            // The status is written right after the run is recorded.
            tokio::time::sleep(Duration::from_millis(100)).await;
            return r[0].clone();
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    panic!("connector {id} did not reach {n} sync runs");
}

async fn force_sync(s: &TestServer, app: &str, id: &str) {
    s.ok(
        "POST",
        &format!("/api/v1/apps/{app}/connectors/{id}/force_sync"),
        Some(json!({})),
    )
    .await;
}

async fn update_config(s: &TestServer, app: &str, id: &str, cfg: Value) {
    s.ok(
        "POST",
        &format!("/api/v1/apps/{app}/connectors/{id}"),
        Some(json!({"connector": {"config": cfg}, "updateMask": "config"})),
    )
    .await;
}

async fn entitlement_named(s: &TestServer, app: &str, name: &str) -> String {
    let v = s
        .ok(
            "GET",
            &format!("/api/v1/apps/{app}/entitlements?page_size=100"),
            None,
        )
        .await;
    v["list"]
        .as_array()
        .unwrap()
        .iter()
        .find(|e| e["appEntitlement"]["displayName"] == name)
        .unwrap_or_else(|| panic!("no entitlement {name}: {v}"))["appEntitlement"]["id"]
        .as_str()
        .unwrap()
        .to_string()
}

async fn account_with_email(s: &TestServer, app: &str, email: &str) -> String {
    let v = s
        .ok(
            "POST",
            "/api/v1/search/app_users",
            Some(json!({"appId": app, "query": email})),
        )
        .await;
    v["list"][0]["appUser"]["id"].as_str().unwrap().to_string()
}

async fn holders(s: &TestServer, app: &str, ent: &str) -> usize {
    s.ok(
        "GET",
        &format!("/api/v1/apps/{app}/entitlements/{ent}/users"),
        None,
    )
    .await["list"]
        .as_array()
        .unwrap()
        .len()
}

pub async fn baton_connector_syncs_and_provisions(s: &TestServer) {
    let state = temp_state();
    let app = s.create_app("Stand-in directory").await;
    let created = s
        .ok(
            "POST",
            &format!("/api/v1/apps/{app}/connectors/create"),
            Some(json!({"displayName": "Stand-in", "config": config(&state, json!({}))})),
        )
        .await;
    let text = created.to_string();
    assert!(
        !text.contains("s3cret"),
        "secrets are never returned: {text}"
    );
    let c = &created["connectorView"]["connector"];
    let id = c["id"].as_str().unwrap().to_string();
    assert_eq!(
        c["config"]["envNames"],
        json!(["BATON_API_TOKEN", "BATON_STANDIN_STATE"])
    );
    assert_eq!(c["config"]["provisioning"], true);
    let sealed = chamberlain_store::repo::connectors::sealed_config(&s.store, &id)
        .await
        .unwrap();
    assert!(
        !sealed.is_empty() && !sealed.contains("s3cret"),
        "encrypted at rest"
    );

    // A forced sync is queued, run by the worker, and imported.
    force_sync(s, &app, &id).await;
    let run = wait_runs(s, &app, &id, 1).await;
    assert_eq!(run["status"], "SYNC_STATUS_DONE", "{run}");
    assert_eq!(run["counts"]["appUsers"]["added"], 3);
    assert_eq!(run["counts"]["entitlements"]["added"], 2);
    assert_eq!(run["counts"]["grants"]["added"], 2);
    let c = connector(s, &app, &id).await;
    assert_eq!(c["status"]["status"], "SYNC_STATUS_DONE");
    assert!(c["status"]["completedAt"].is_string());
    let call = calls(&state).last().unwrap().clone();
    let argv: Vec<&str> = call["argv"]
        .as_array()
        .unwrap()
        .iter()
        .map(|a| a.as_str().unwrap())
        .collect();
    assert_eq!(&argv[0..2], &["--log-level", "info"], "{argv:?}");
    assert!(
        argv.windows(2).any(|w| w == ["--storage-engine", "sqlite"]),
        "{argv:?}"
    );
    assert!(argv.contains(&"-f"), "{argv:?}");
    assert_eq!(call["env"]["BATON_API_TOKEN"], "s3cret-token-value");

    // Granting in Chamberlain provisions through the binary first.
    let admins = entitlement_named(s, &app, "Admins Member").await;
    let carol = account_with_email(s, &app, "carol@example.com").await;
    s.ok(
        "POST",
        &format!("/api/v1/apps/{app}/entitlements/{admins}/add-manual-user"),
        Some(json!({"userIds": [carol]})),
    )
    .await;
    let call = calls(&state).last().unwrap().clone();
    let argv = call["argv"].to_string();
    assert!(
        argv.contains(r#""-p""#)
            && argv.contains(r#""--grant-entitlement","group:g1:member""#)
            && argv.contains(r#""--grant-principal","u3""#)
            && argv.contains(r#""--grant-principal-type","user""#),
        "{argv}"
    );
    assert!(memberships(&state).contains(&("g1".into(), "u3".into())));
    assert_eq!(holders(s, &app, &admins).await, 2);

    // Revoking too.
    let alice = account_with_email(s, &app, "alice@example.com").await;
    s.ok(
        "DELETE",
        &format!("/api/v1/apps/{app}/entitlements/{admins}/remove-membership"),
        Some(json!({"appUserId": alice})),
    )
    .await;
    let argv = calls(&state).last().unwrap()["argv"].to_string();
    assert!(
        argv.contains(r#""--revoke-grant","group:g1:member:user:u1""#),
        "{argv}"
    );
    assert!(!memberships(&state).contains(&("g1".into(), "u1".into())));
    assert_eq!(holders(s, &app, &admins).await, 1);

    // The next sync agrees with what was provisioned: it confirms Carol's grant as
    // connector-reported (counted as added to the synced set) and removes nothing.
    force_sync(s, &app, &id).await;
    let run = wait_runs(s, &app, &id, 2).await;
    assert_eq!(run["status"], "SYNC_STATUS_DONE", "{run}");
    assert_eq!(run["counts"]["grants"]["total"], 2, "{run}");
    assert_eq!(run["counts"]["grants"]["added"], 1, "{run}");
    assert_eq!(run["counts"]["grants"]["removed"], 0, "{run}");
    assert_eq!(holders(s, &app, &admins).await, 1);

    // A user with no account: the connector creates one, a sync brings it in with its source
    // id, it is linked to the user, and the grant is provisioned for it.
    let (erin, _) = s.user_with_token("erin@example.com", &[]).await;
    s.ok(
        "POST",
        &format!("/api/v1/apps/{app}/entitlements/{admins}/add-manual-user"),
        Some(json!({"userIds": [erin]})),
    )
    .await;
    let all = calls(&state);
    let create = all
        .iter()
        .find(|c| c["argv"].to_string().contains("--create-account-login"))
        .expect("the connector was asked to create the account");
    let argv = create["argv"].to_string();
    assert!(
        argv.contains(r#""--create-account-login","erin""#)
            && argv.contains(r#""--create-account-email","erin@example.com""#),
        "{argv}"
    );
    assert!(memberships(&state).contains(&("g1".into(), "erin".into())));
    let found = s
        .ok(
            "POST",
            "/api/v1/search/app_users",
            Some(json!({"appId": app, "query": "erin@example.com"})),
        )
        .await;
    assert_eq!(found["list"][0]["appUser"]["identityUserId"], erin.as_str());
    assert_eq!(holders(s, &app, &admins).await, 2);
    assert_eq!(
        runs(s, &app, &id).await.len(),
        3,
        "the account arrived by a sync"
    );

    // A provisioning failure changes nothing and says why.
    update_config(
        s,
        &app,
        &id,
        config(&state, json!({"BATON_STANDIN_FAIL": "upstream said no"})),
    )
    .await;
    let bob = account_with_email(s, &app, "bob@example.com").await;
    let events = s.event_count().await;
    let (st, e) = s
        .call(
            &s.admin,
            "POST",
            &format!("/api/v1/apps/{app}/entitlements/{admins}/add-manual-user"),
            Some(json!({"userIds": [bob]})),
        )
        .await;
    assert_eq!(st, 400, "{e}");
    let msg = e["message"].as_str().unwrap();
    assert!(
        msg.contains("upstream said no") && msg.contains("exit code 3"),
        "{msg}"
    );
    assert_eq!(holders(s, &app, &admins).await, 2);
    assert_eq!(s.event_count().await, events, "nothing was written");

    // A failed sync leaves the data, records the error, and is retried by the worker.
    force_sync(s, &app, &id).await;
    let run = wait_runs(s, &app, &id, 4).await;
    assert_eq!(run["status"], "SYNC_STATUS_ERROR", "{run}");
    assert!(
        run["lastError"]
            .as_str()
            .unwrap()
            .contains("upstream said no"),
        "{run}"
    );
    // The worker retries at once in these tests, so the status may already say RUNNING again:
    // wait for a moment where it reports the failure.
    let mut c = connector(s, &app, &id).await;
    for _ in 0..100 {
        if c["status"]["status"] == "SYNC_STATUS_ERROR" {
            break;
        }
        tokio::time::sleep(Duration::from_millis(20)).await;
        c = connector(s, &app, &id).await;
    }
    assert_eq!(c["status"]["status"], "SYNC_STATUS_ERROR");
    assert!(c["status"]["lastError"]
        .as_str()
        .unwrap()
        .contains("exit code 3"));
    assert_eq!(holders(s, &app, &admins).await, 2, "previous data intact");
    let retried = wait_runs(s, &app, &id, 5).await;
    assert_eq!(retried["status"], "SYNC_STATUS_ERROR");

    // A hung connector is killed at its time limit.
    let mut slow = config(&state, json!({"BATON_STANDIN_SLEEP_SECS": "30"}));
    slow["timeoutSeconds"] = json!(1);
    update_config(s, &app, &id, slow).await;
    // The failing job may still have a retry in flight; the newest run soon reports the kill.
    let started = std::time::Instant::now();
    force_sync(s, &app, &id).await;
    let mut killed = false;
    while started.elapsed() < Duration::from_secs(15) && !killed {
        tokio::time::sleep(Duration::from_millis(100)).await;
        killed = runs(s, &app, &id).await[0]["lastError"]
            .as_str()
            .unwrap_or_default()
            .contains("longer than its time limit of 1s and was killed");
    }
    assert!(killed, "{:?}", runs(s, &app, &id).await.first());
    assert!(started.elapsed() < Duration::from_secs(20));

    // Pause: force_sync is refused and the status says DISABLED; resume restores it.
    update_config(s, &app, &id, config(&state, json!({}))).await;
    s.ok(
        "POST",
        &format!("/api/v1/apps/{app}/connectors/{id}/pause"),
        Some(json!({})),
    )
    .await;
    let c = connector(s, &app, &id).await;
    assert_eq!(c["status"]["status"], "SYNC_STATUS_DISABLED");
    assert!(c["syncDisabledAt"].is_string());
    assert_eq!(c["canResumeSync"], true);
    let (st, e) = s
        .call(
            &s.admin,
            "POST",
            &format!("/api/v1/apps/{app}/connectors/{id}/force_sync"),
            Some(json!({})),
        )
        .await;
    assert_eq!(st, 400, "{e}");
    assert!(e["message"].as_str().unwrap().contains("paused"));
    s.ok(
        "POST",
        &format!("/api/v1/apps/{app}/connectors/{id}/resume"),
        Some(json!({})),
    )
    .await;
    let c = connector(s, &app, &id).await;
    assert_ne!(c["status"]["status"], "SYNC_STATUS_DISABLED");
    assert_eq!(c["syncDisabledAt"], Value::Null);

    // A schedule runs syncs with no one asking (six-field cron: every second).
    let before = runs(s, &app, &id).await.len();
    s.ok(
        "POST",
        &format!("/api/v1/apps/{app}/connectors/{id}/schedule"),
        Some(json!({"cron": {"cronSpec": "* * * * * *", "timezone": "UTC"}})),
    )
    .await;
    assert_eq!(
        connector(s, &app, &id).await["connectorSyncCronSchedule"]["cronSpec"],
        "* * * * * *"
    );
    let run = wait_runs(s, &app, &id, before + 2).await;
    assert_eq!(run["status"], "SYNC_STATUS_DONE", "{run}");
    s.ok(
        "POST",
        &format!("/api/v1/apps/{app}/connectors/{id}/schedule"),
        Some(json!({})),
    )
    .await;
    assert_eq!(
        connector(s, &app, &id).await["connectorSyncCronSchedule"],
        Value::Null
    );
}

pub async fn connector_configuration_is_checked(s: &TestServer) {
    let state = temp_state();
    let app = s.create_app("Checked").await;
    let good = config(&state, json!({}));
    let events = s.event_count().await;
    let cases: Vec<(Value, &str)> = vec![
        (
            {
                let mut c = good.clone();
                c["command"] = json!("baton-okta");
                c
            },
            "absolute path",
        ),
        (
            {
                let mut c = good.clone();
                c["command"] = json!("/nonexistent/baton-okta");
                c
            },
            "does not exist",
        ),
        (
            {
                let mut c = good.clone();
                c["args"] = json!(["-f", "/tmp/x.c1z"]);
                c
            },
            "must not contain `-f`",
        ),
        (
            {
                let mut c = good.clone();
                c["env"] = json!({"bad name": "x"});
                c
            },
            "not a valid variable name",
        ),
        (
            {
                let mut c = good.clone();
                c["timeoutSeconds"] = json!(0);
                c
            },
            "timeoutSeconds",
        ),
        (
            {
                let mut c = good.clone();
                c["comand"] = json!("typo");
                c
            },
            "unknown field `comand`",
        ),
    ];
    for (cfg, want) in cases {
        let (st, e) = s
            .call(
                &s.admin,
                "POST",
                &format!("/api/v1/apps/{app}/connectors/create"),
                Some(json!({"config": cfg})),
            )
            .await;
        assert_eq!(st, 400, "{cfg} -> {e}");
        assert!(e["message"].as_str().unwrap().contains(want), "{want}: {e}");
    }
    assert_eq!(s.event_count().await, events, "nothing was created");
    // Schedules are checked too.
    let id = s
        .create_connector(&app, "connectors/create", json!({"config": good}))
        .await;
    for (cron, want) in [
        (json!({"cronSpec": "61 * * * *"}), "minute field"),
        (
            json!({"cronSpec": "0 * * * *", "timezone": "Nowhere/Land"}),
            "IANA",
        ),
    ] {
        let (st, e) = s
            .call(
                &s.admin,
                "POST",
                &format!("/api/v1/apps/{app}/connectors/{id}/schedule"),
                Some(json!({ "cron": cron })),
            )
            .await;
        assert_eq!(st, 400, "{e}");
        assert!(e["message"].as_str().unwrap().contains(want), "{e}");
    }
    // A connector without a binary cannot be force-synced, and says what to do instead.
    let plain = s
        .create_connector(&app, "connectors", json!({"displayName": "Uploads only"}))
        .await;
    let (st, e) = s
        .call(
            &s.admin,
            "POST",
            &format!("/api/v1/apps/{app}/connectors/{plain}/force_sync"),
            Some(json!({})),
        )
        .await;
    assert_eq!(st, 400, "{e}");
    assert!(e["message"].as_str().unwrap().contains("/c1z"), "{e}");

    // A configuration names a program the server runs: an App Admin who owns the app may add
    // connectors and upload to them, but not set one.
    let (aa_id, aa) = s.user_with_token("owner@example.com", &["app-admin"]).await;
    s.ok(
        "PUT",
        &format!("/api/v1/apps/{app}/owners"),
        Some(json!({"userIds": [aa_id]})),
    )
    .await;
    let (st, v) = s
        .call(
            &aa,
            "POST",
            &format!("/api/v1/apps/{app}/connectors"),
            Some(json!({"displayName": "Owner's uploads"})),
        )
        .await;
    assert_eq!(st, 200, "{v}");
    let events = s.event_count().await;
    let (st, e) = s
        .call(
            &aa,
            "POST",
            &format!("/api/v1/apps/{app}/connectors/create"),
            Some(json!({"config": config(&state, json!({}))})),
        )
        .await;
    assert_eq!(st, 403, "{e}");
    assert!(
        e["message"].as_str().unwrap().contains("Super Admin"),
        "{e}"
    );
    let (st, e) = s
        .call(
            &aa,
            "POST",
            &format!("/api/v1/apps/{app}/connectors/{plain}"),
            Some(
                json!({"connector": {"config": config(&state, json!({}))}, "updateMask": "config"}),
            ),
        )
        .await;
    assert_eq!(st, 403, "{e}");
    assert_eq!(s.event_count().await, events, "nothing changed");
}

pub async fn connector_credentials_feed_only_their_connector(s: &TestServer) {
    let app = s.create_app("Remote connector").await;
    let mk = |name: &str| {
        let name = name.to_string();
        let app = app.clone();
        async move {
            s.create_connector(&app, "connectors", json!({ "displayName": name }))
                .await
        }
    };
    let conn = mk("Remote").await;
    let other = mk("Other").await;
    let v = s
        .ok(
            "POST",
            "/api/v1/apps/connectors/credentials",
            Some(json!({"appId": app, "connectorId": conn})),
        )
        .await;
    let cred = &v["credential"];
    let (client_id, secret) = (
        cred["clientId"].as_str().unwrap().to_string(),
        cred["clientSecret"].as_str().unwrap().to_string(),
    );
    assert!(
        secret.starts_with("secret-token:conductorone.com:v1:"),
        "{v}"
    );
    assert_eq!(cred["connectorId"], conn.as_str());
    let cred_id = cred["id"].as_str().unwrap().to_string();
    let got = s
        .ok(
            "GET",
            &format!("/api/v1/apps/{app}/connectors/{conn}/credentials/{cred_id}"),
            None,
        )
        .await;
    assert_eq!(got["credential"]["clientSecret"], "", "never shown again");
    assert_eq!(got["credential"]["clientId"], client_id.as_str());

    let tok: Value = s
        .http
        .post(format!("{}/auth/v1/token", s.base))
        .form(&[
            ("grant_type", "client_credentials"),
            ("client_id", client_id.as_str()),
            ("client_secret", secret.as_str()),
        ])
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    let token = tok["access_token"].as_str().unwrap().to_string();
    let csv = "User ID,Email Address\nu1,ann@example.com\n";
    let upload = |connector: String| {
        let token = token.clone();
        let app = app.clone();
        async move {
            let resp = s
                .http
                .post(format!(
                    "{}/api/v1/apps/{app}/connectors/{connector}/file",
                    s.base
                ))
                .bearer_auth(token)
                .body(csv)
                .send()
                .await
                .unwrap();
            let st = resp.status().as_u16();
            (st, resp.json::<Value>().await.unwrap())
        }
    };
    let (st, v) = upload(conn.clone()).await;
    assert_eq!(st, 200, "{v}");
    assert_eq!(v["syncRun"]["counts"]["appUsers"]["added"], 1);
    let (st, v) = upload(other.clone()).await;
    assert_eq!(st, 403, "{v}");
    assert!(
        v["message"].as_str().unwrap().contains("may only upload"),
        "{v}"
    );
    for (method, path) in [
        ("GET", "/api/v1/apps".to_string()),
        ("POST", "/api/v1/apps/connectors/credentials".to_string()),
        ("GET", format!("/api/v1/apps/{app}/connectors/{conn}")),
    ] {
        let (st, v) = s.call(&token, method, &path, Some(json!({}))).await;
        assert_eq!(st, 403, "{method} {path}: {v}");
    }
    let (st, _) = s
        .call(
            &token,
            "GET",
            &format!("/api/v1/apps/{app}/connectors/{conn}/sync_runs"),
            None,
        )
        .await;
    assert_eq!(st, 200);
    // Bad requests are refused by name and mint nothing.
    let events = s.event_count().await;
    for (body, status, want) in [
        (json!({"appId": app}), 400, "connectorId are required"),
        (json!({"appId": app, "connectorId": "nope"}), 404, "nope"),
        (
            json!({"appId": app, "connectorId": conn, "extra": 1}),
            400,
            "extra",
        ),
    ] {
        let (st, e) = s
            .call(
                &s.admin,
                "POST",
                "/api/v1/apps/connectors/credentials",
                Some(body),
            )
            .await;
        assert_eq!(st, status, "{e}");
        assert!(e["message"].as_str().unwrap().contains(want), "{want}: {e}");
    }
    assert_eq!(s.event_count().await, events);
    // Only app writers mint credentials.
    let (_, basic) = s.user_with_token("basic@example.com", &[]).await;
    let (st, _) = s
        .call(
            &basic,
            "POST",
            "/api/v1/apps/connectors/credentials",
            Some(json!({"appId": app, "connectorId": conn})),
        )
        .await;
    assert_eq!(st, 403);
    // Revoked: the next request is refused.
    s.ok(
        "POST",
        &format!("/api/v1/apps/{app}/connectors/{conn}/credentials/{cred_id}"),
        Some(json!({})),
    )
    .await;
    let (st, _) = upload(conn.clone()).await;
    assert_eq!(st, 401);
    let (st, e) = s
        .call(
            &s.admin,
            "GET",
            &format!("/api/v1/apps/{app}/connectors/{other}/credentials/{cred_id}"),
            None,
        )
        .await;
    assert_eq!(st, 404, "{e}");
}

/// Tasks provision through the app's connector; a failing connector falls back to a manual
/// step with the error on the task, and retrying provisioning after the fix completes it.
pub async fn tasks_provision_through_connectors(s: &TestServer) {
    let state = temp_state();
    let app = s.create_app("Stand-in production").await;
    let id = s
        .ok(
            "POST",
            &format!("/api/v1/apps/{app}/connectors/create"),
            Some(json!({"displayName": "Stand-in", "config": config(&state, json!({}))})),
        )
        .await["connectorView"]["connector"]["id"]
        .as_str()
        .unwrap()
        .to_string();
    force_sync(s, &app, &id).await;
    wait_runs(s, &app, &id, 1).await;
    let admins = entitlement_named(s, &app, "Admins Member").await;
    let account = account_with_email(s, &app, "carol@example.com").await;
    let (carol, carol_tok) = s
        .user_with_token("carol@example.com", &["basic-user"])
        .await;
    s.ok(
        "POST",
        &format!("/api/v1/apps/{app}/app_users/{account}"),
        Some(json!({"appUser": {"identityUserId": carol}, "updateMask": "identityUserId"})),
    )
    .await;
    let p = s
        .ok(
            "POST",
            "/api/v1/policies",
            Some(
                json!({"displayName": "Auto", "policyType": "POLICY_TYPE_GRANT",
                "policySteps": {"grant": {"steps": [{"accept": {}}, {"provision": {}}]}}}),
            ),
        )
        .await;
    s.ok(
        "POST",
        &format!("/api/v1/apps/{app}/entitlements/{admins}"),
        Some(json!({"entitlement": {"grantPolicyId": p["policy"]["id"]}, "updateMask": "grantPolicyId"})),
    )
    .await;
    let (st, v) = s
        .call(
            &carol_tok,
            "POST",
            "/api/v1/task/grant",
            Some(json!({"appId": app, "appEntitlementId": admins})),
        )
        .await;
    assert_eq!(st, 200, "{v}");
    let t = &v["taskView"]["task"];
    assert_eq!(
        t["type"]["grant"]["outcome"], "GRANT_OUTCOME_GRANTED",
        "{t}"
    );
    let provision = t["policy"]["history"]
        .as_array()
        .unwrap()
        .iter()
        .find(|h| !h["provision"].is_null())
        .unwrap()
        .clone();
    assert_eq!(provision["provision"]["method"], "connector");
    assert!(memberships(&state).contains(&("g1".into(), "u3".into())));
    let argv = calls(&state).last().unwrap()["argv"].to_string();
    assert!(
        argv.contains(r#""--grant-entitlement","group:g1:member""#),
        "{argv}"
    );

    // The connector fails: the revocation waits for a person, with the error on the task.
    update_config(
        s,
        &app,
        &id,
        config(&state, json!({"BATON_STANDIN_FAIL": "upstream said no"})),
    )
    .await;
    let (st, v) = s
        .call(
            &carol_tok,
            "POST",
            "/api/v1/task/revoke",
            Some(json!({"appId": app, "appEntitlementId": admins})),
        )
        .await;
    assert_eq!(st, 200, "{v}");
    let t = v["taskView"]["task"].clone();
    let tid = t["id"].as_str().unwrap().to_string();
    assert_eq!(t["state"], "TASK_STATE_OPEN", "{t}");
    let cur = &t["policy"]["current"]["provision"];
    assert_eq!(cur["method"], "manual");
    assert!(
        cur["errored"]["description"]
            .as_str()
            .unwrap()
            .contains("upstream said no"),
        "{cur}"
    );
    assert_eq!(
        t["stepApproverIds"],
        json!([s.admin_user_id]),
        "no app owners: super admins"
    );
    assert!(memberships(&state).contains(&("g1".into(), "u3".into())));
    // Carol cannot retry; the admin can, and it fails again until the connector is fixed.
    let retry = format!("/api/v1/tasks/{tid}/action/retry-provisioning");
    let (st, _) = s.call(&carol_tok, "POST", &retry, Some(json!({}))).await;
    assert_eq!(st, 403);
    let v = s
        .ok("POST", &retry, Some(json!({"comment": "try again"})))
        .await;
    assert_eq!(v["taskView"]["task"]["state"], "TASK_STATE_OPEN");
    update_config(s, &app, &id, config(&state, json!({}))).await;
    let v = s.ok("POST", &retry, Some(json!({}))).await;
    let t = &v["taskView"]["task"];
    assert_eq!(
        t["type"]["revoke"]["outcome"], "REVOKE_OUTCOME_REVOKED",
        "{t}"
    );
    assert!(!memberships(&state).contains(&("g1".into(), "u3".into())));
    let log = s
        .ok("POST", "/api/v1/task/audits", Some(json!({"taskId": tid})))
        .await
        .to_string();
    assert!(
        log.contains("provisionError") && log.contains("try again"),
        "{log}"
    );
}
