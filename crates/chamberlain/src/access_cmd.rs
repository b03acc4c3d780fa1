//! Self-service access, like C1's `cone`: `search` (what I can request), `get` (request it,
//! optionally waiting for the decision), `drop` (give it back), `has` (do I hold it?) and
//! `requests` (my requests). Entitlements are named by alias (`chamberlain search` shows them),
//! or as `APP_ID/ENTITLEMENT_ID`, or by id with `--app`.

use crate::admin::Output;
use crate::client::{ApiClient, ServerArgs};
use crate::exit::{self, Exit};
use crate::out;
use crate::tasks_cmd;
use anyhow::{bail, Context, Result};
use clap::Args;
use serde_json::{json, Value};
use std::time::{Duration, Instant};

/// Turns `90s`, `30m`, `2h`, `1d`, `1w`, combinations like `1h30m`, or plain seconds into a
/// protobuf duration (`"5400s"`).
pub fn parse_duration(s: &str) -> Result<String> {
    let t = s.trim().to_ascii_lowercase();
    if t.is_empty() {
        bail!("empty duration; use forms like 30m, 2h, 1d or 3600s");
    }
    if let Ok(n) = t.parse::<u64>() {
        if n == 0 {
            bail!("duration `{s}` must be positive");
        }
        return Ok(format!("{n}s"));
    }
    let mut total: u64 = 0;
    let mut num = String::new();
    for c in t.chars() {
        if c.is_ascii_digit() {
            num.push(c);
            continue;
        }
        let unit = match c {
            's' => 1,
            'm' => 60,
            'h' => 3600,
            'd' => 86_400,
            'w' => 604_800,
            _ => bail!(
                "duration `{s}` is not understood; use forms like 30m, 2h, 1d, 1h30m or 3600s"
            ),
        };
        let n: u64 = num
            .parse()
            .with_context(|| format!("duration `{s}`: a number must come before `{c}`"))?;
        total = n
            .checked_mul(unit)
            .and_then(|x| total.checked_add(x))
            .with_context(|| format!("duration `{s}` is too long"))?;
        num.clear();
    }
    if !num.is_empty() {
        bail!("duration `{s}`: `{num}` needs a unit (s, m, h, d or w)");
    }
    if total == 0 {
        bail!("duration `{s}` must be positive");
    }
    Ok(format!("{total}s"))
}

/// The caller's user id.
pub async fn me(api: &ApiClient) -> Result<String> {
    let v = api.get("/api/v1/auth/introspect").await?;
    v["userId"]
        .as_str()
        .map(str::to_string)
        .filter(|s| !s.is_empty())
        .context("the server did not say who you are")
}

/// Which entitlement.
#[derive(Args, Clone)]
pub struct Which {
    /// The entitlement: its alias, APP_ID/ENTITLEMENT_ID, or its id with --app.
    entitlement: String,
    /// The app of an entitlement given by id.
    #[arg(long)]
    app: Option<String>,
}

/// A resolved entitlement.
pub struct Target {
    pub app_id: String,
    pub entitlement_id: String,
    pub name: String,
}

/// Finds the entitlement `w` names.
pub async fn resolve(api: &ApiClient, w: &Which) -> Result<Target> {
    if let Some(app) = &w.app {
        return Ok(Target {
            app_id: app.clone(),
            entitlement_id: w.entitlement.clone(),
            name: w.entitlement.clone(),
        });
    }
    if let Some((app, ent)) = w.entitlement.split_once('/') {
        if app.is_empty() || ent.is_empty() {
            bail!("`{}` is not APP_ID/ENTITLEMENT_ID", w.entitlement);
        }
        return Ok(Target {
            app_id: app.into(),
            entitlement_id: ent.into(),
            name: w.entitlement.clone(),
        });
    }
    let v = api
        .post(
            "/api/v1/search/request_catalog/entitlements",
            &json!({"entitlementAlias": w.entitlement, "pageSize": 10}),
        )
        .await?;
    let list = v["list"].as_array().cloned().unwrap_or_default();
    match list.len() {
        0 => Err(Exit::with(
            exit::NOT_FOUND,
            format!(
                "no entitlement you can request has the alias `{}`; `chamberlain search` lists them, or name it as APP_ID/ENTITLEMENT_ID",
                w.entitlement
            ),
        )),
        1 => {
            let e = &list[0]["entitlement"]["appEntitlement"];
            Ok(Target {
                app_id: e["appId"].as_str().unwrap_or_default().into(),
                entitlement_id: e["id"].as_str().unwrap_or_default().into(),
                name: e["displayName"].as_str().unwrap_or(&w.entitlement).into(),
            })
        }
        _ => bail!(
            "the alias `{}` names several entitlements; name one as APP_ID/ENTITLEMENT_ID: {}",
            w.entitlement,
            list.iter()
                .map(|x| {
                    let e = &x["entitlement"]["appEntitlement"];
                    format!(
                        "{}/{}",
                        e["appId"].as_str().unwrap_or(""),
                        e["id"].as_str().unwrap_or("")
                    )
                })
                .collect::<Vec<_>>()
                .join(", ")
        ),
    }
}

/// `chamberlain search`.
#[derive(Args)]
pub struct SearchArgs {
    /// Text to look for in names, slugs and aliases [default: everything]
    query: Option<String>,
    /// Only entitlements of the app with this exact name.
    #[arg(long)]
    app_name: Option<String>,
    /// Only what you hold (`granted`) or do not hold (`not-granted`).
    #[arg(long, value_parser = ["all", "granted", "not-granted"], default_value = "all")]
    status: String,
    /// At most this many results.
    #[arg(long, default_value_t = 100)]
    limit: usize,
    #[command(flatten)]
    server: ServerArgs,
    #[arg(long, value_enum, default_value_t)]
    output: Output,
}

/// `chamberlain search`: entitlements and access profiles you can request.
pub async fn search(a: SearchArgs) -> Result<()> {
    let api = ApiClient::connect(&a.server).await?;
    let mut rows: Vec<Value> = Vec::new();
    let mut apps: std::collections::HashMap<String, String> = Default::default();
    let mut token = String::new();
    loop {
        let mut body = json!({
            "query": a.query.clone().unwrap_or_default(),
            "appDisplayName": a.app_name.clone().unwrap_or_default(),
            "grantedStatus": match a.status.as_str() { "granted" => "GRANTED", "not-granted" => "NOT_GRANTED", _ => "ALL" },
            "pageSize": 100,
            "expandMask": {"paths": ["app_id"]},
        });
        if !token.is_empty() {
            body["pageToken"] = json!(token);
        }
        let v = api
            .post("/api/v1/search/request_catalog/entitlements", &body)
            .await?;
        let expanded = v["expanded"].as_array().cloned().unwrap_or_default();
        for item in v["list"].as_array().cloned().unwrap_or_default() {
            let view = &item["entitlement"];
            if let Some(i) = view["appPath"]
                .as_str()
                .and_then(|p| p.strip_prefix("$.expanded["))
                .and_then(|p| p.strip_suffix(']'))
                .and_then(|p| p.parse::<usize>().ok())
            {
                if let Some(app) = expanded.get(i) {
                    apps.insert(
                        app["id"].as_str().unwrap_or_default().into(),
                        app["displayName"].as_str().unwrap_or_default().into(),
                    );
                }
            }
            rows.push(item);
            if rows.len() >= a.limit {
                break;
            }
        }
        token = v["nextPageToken"].as_str().unwrap_or_default().to_string();
        if token.is_empty() || rows.len() >= a.limit {
            break;
        }
    }
    let held = |item: &Value| {
        item["appEntitlementUserBindings"]
            .as_array()
            .is_some_and(|b| !b.is_empty())
    };
    match a.output {
        Output::Json => {
            let list: Vec<Value> = rows
                .iter()
                .map(|item| {
                    let e = &item["entitlement"]["appEntitlement"];
                    let app_id = e["appId"].as_str().unwrap_or_default();
                    json!({
                        "appId": app_id,
                        "appName": apps.get(app_id).cloned().unwrap_or_default(),
                        "entitlementId": e["id"],
                        "displayName": e["displayName"],
                        "alias": e["alias"],
                        "description": e["description"],
                        "accessProfile": app_id == BUILTIN_APP_ID,
                        "held": held(item),
                    })
                })
                .collect();
            println!("{}", Value::Array(list));
        }
        Output::Text => {
            if rows.is_empty() {
                println!("nothing you can request matches");
                return Ok(());
            }
            let table: Vec<Vec<String>> = rows
                .iter()
                .map(|item| {
                    let e = &item["entitlement"]["appEntitlement"];
                    let app_id = e["appId"].as_str().unwrap_or_default();
                    vec![
                        if app_id == BUILTIN_APP_ID {
                            "(access profile)".into()
                        } else {
                            apps.get(app_id).cloned().unwrap_or_default()
                        },
                        e["displayName"].as_str().unwrap_or("").into(),
                        e["alias"].as_str().unwrap_or("").into(),
                        format!("{app_id}/{}", e["id"].as_str().unwrap_or("")),
                        if held(item) { "yes" } else { "" }.into(),
                    ]
                })
                .collect();
            print!(
                "{}",
                out::table(&["APP", "ENTITLEMENT", "ALIAS", "ID", "HELD"], &table)
            );
        }
    }
    Ok(())
}

/// The app that holds access profiles' enrollment entitlements.
const BUILTIN_APP_ID: &str = "0000000000000000Chamberlain";

/// `chamberlain get`.
#[derive(Args)]
pub struct GetArgs {
    #[command(flatten)]
    which: Which,
    /// For how long, e.g. 30m, 2h, 1d [default: the entitlement's default]
    #[arg(long)]
    duration: Option<String>,
    /// Why you need the access.
    #[arg(long, default_value = "")]
    justification: String,
    /// Ask for emergency access (the entitlement's emergency policy).
    #[arg(long)]
    emergency_access: bool,
    /// Wait until the request is decided; the exit code tells the outcome.
    #[arg(long)]
    wait: bool,
    /// Give up waiting after this long (e.g. 10m) [default: 1h]
    #[arg(long, default_value = "1h")]
    wait_timeout: String,
    /// Seconds between checks while waiting.
    #[arg(long, default_value_t = 2, hide = true)]
    poll_seconds: u64,
    #[command(flatten)]
    server: ServerArgs,
    #[arg(long, value_enum, default_value_t)]
    output: Output,
}

/// The exit error for a closed grant task that did not grant.
pub fn grant_outcome_error(task: &Value) -> Option<anyhow::Error> {
    if task["state"] != "TASK_STATE_CLOSED" {
        return None;
    }
    let outcome = task["type"]["grant"]["outcome"]
        .as_str()
        .or(task["type"]["revoke"]["outcome"].as_str())
        .unwrap_or("");
    match outcome {
        "GRANT_OUTCOME_GRANTED" | "REVOKE_OUTCOME_REVOKED" => None,
        "GRANT_OUTCOME_DENIED" | "REVOKE_OUTCOME_DENIED" => Some(Exit::with(exit::DENIED, "")),
        _ => Some(Exit::with(exit::ERROR, "")),
    }
}

fn seconds(proto: &str) -> u64 {
    proto.trim_end_matches('s').parse().unwrap_or(0)
}

/// `chamberlain get`: requests the entitlement for yourself.
pub async fn get(a: GetArgs) -> Result<()> {
    let duration = a.duration.as_deref().map(parse_duration).transpose()?;
    let wait_for = Duration::from_secs(seconds(&parse_duration(&a.wait_timeout)?));
    let api = ApiClient::connect(&a.server).await?;
    let t = resolve(&api, &a.which).await?;
    let mut body = json!({
        "appId": t.app_id, "appEntitlementId": t.entitlement_id,
        "description": a.justification, "emergencyAccess": a.emergency_access,
    });
    if let Some(d) = duration {
        body["grantDuration"] = json!(d);
    }
    let v = api
        .post("/api/v1/task/grant", &body)
        .await
        .context("the request failed")?;
    let mut task = v["taskView"]["task"].clone();
    if a.wait && task["state"] == "TASK_STATE_OPEN" {
        if a.output == Output::Text {
            println!("{}", tasks_cmd::summary(&task));
            eprintln!("waiting for the decision…");
        }
        let started = Instant::now();
        let id = task["id"].as_str().unwrap_or_default().to_string();
        while task["state"] == "TASK_STATE_OPEN" {
            if started.elapsed() >= wait_for {
                tasks_cmd::print_task(a.output, &task);
                return Err(Exit::with(
                    exit::TIMEOUT,
                    format!(
                        "no decision within {}; the request stays open (see `chamberlain tasks show {}`)",
                        a.wait_timeout,
                        task["numericId"].as_str().unwrap_or(&id)
                    ),
                ));
            }
            tokio::time::sleep(Duration::from_secs(a.poll_seconds.max(1))).await;
            task = api.get(&format!("/api/v1/tasks/{id}")).await?["taskView"]["task"].clone();
        }
    }
    tasks_cmd::print_task(a.output, &task);
    match grant_outcome_error(&task) {
        Some(e) => Err(e),
        None => Ok(()),
    }
}

/// `chamberlain drop`.
#[derive(Args)]
pub struct DropArgs {
    #[command(flatten)]
    which: Which,
    /// Why (recorded on the task).
    #[arg(long, default_value = "")]
    justification: String,
    #[command(flatten)]
    server: ServerArgs,
    #[arg(long, value_enum, default_value_t)]
    output: Output,
}

/// `chamberlain drop`: gives back an entitlement you hold (a revoke task for your grant).
pub async fn drop_access(a: DropArgs) -> Result<()> {
    let api = ApiClient::connect(&a.server).await?;
    let t = resolve(&api, &a.which).await?;
    let v = api
        .post(
            "/api/v1/task/revoke",
            &json!({"appId": t.app_id, "appEntitlementId": t.entitlement_id, "description": a.justification}),
        )
        .await
        .context("giving the access back failed")?;
    let task = v["taskView"]["task"].clone();
    tasks_cmd::print_task(a.output, &task);
    match grant_outcome_error(&task) {
        Some(e) => Err(e),
        None => Ok(()),
    }
}

/// `chamberlain has`.
#[derive(Args)]
pub struct HasArgs {
    #[command(flatten)]
    which: Which,
    #[command(flatten)]
    server: ServerArgs,
    #[arg(long, value_enum, default_value_t)]
    output: Output,
}

/// `chamberlain has`: exit 0 when you hold the entitlement now, 6 when not.
pub async fn has(a: HasArgs) -> Result<()> {
    let api = ApiClient::connect(&a.server).await?;
    let t = resolve(&api, &a.which).await?;
    let user = me(&api).await?;
    let v = api
        .post(
            "/api/v1/search/grants",
            &json!({"userId": user, "entitlementRefs": [{"appId": t.app_id, "id": t.entitlement_id}], "appIds": [t.app_id]}),
        )
        .await?;
    let grants: Vec<Value> = v["list"]
        .as_array()
        .map(|l| {
            l.iter()
                .map(|g| g["appEntitlementUserBinding"].clone())
                .collect()
        })
        .unwrap_or_default();
    let held = !grants.is_empty();
    match a.output {
        Output::Json => println!(
            "{}",
            json!({"held": held, "appId": t.app_id, "entitlementId": t.entitlement_id, "grants": grants})
        ),
        Output::Text => {
            if held {
                let until: Vec<String> = grants
                    .iter()
                    .filter_map(|g| g["deprovisionAt"].as_str().map(str::to_string))
                    .collect();
                if until.is_empty() {
                    println!("yes: you hold {}", t.name);
                } else {
                    println!("yes: you hold {} (until {})", t.name, until.join(", "));
                }
            } else {
                println!("no: you do not hold {}", t.name);
            }
        }
    }
    if held {
        Ok(())
    } else {
        Err(Exit::with(exit::NOT_HELD, ""))
    }
}

/// `chamberlain requests`.
#[derive(Args)]
pub struct RequestsArgs {
    /// Which requests.
    #[arg(long, value_parser = ["open", "closed", "all"], default_value = "all")]
    state: String,
    #[command(flatten)]
    server: ServerArgs,
    #[arg(long, value_enum, default_value_t)]
    output: Output,
}

/// `chamberlain requests`: the tasks you opened, newest first.
pub async fn requests(a: RequestsArgs) -> Result<()> {
    let api = ApiClient::connect(&a.server).await?;
    let user = me(&api).await?;
    let states: Vec<&str> = match a.state.as_str() {
        "open" => vec!["TASK_STATE_OPEN"],
        "closed" => vec!["TASK_STATE_CLOSED"],
        _ => vec![],
    };
    let list = tasks_cmd::search_all(
        &api,
        json!({"openerIds": [user], "taskStates": states, "pageSize": 100}),
    )
    .await?;
    tasks_cmd::print_list(a.output, &list, "you have no requests");
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn durations_in_human_forms() {
        assert_eq!(parse_duration("2h").unwrap(), "7200s");
        assert_eq!(parse_duration("30m").unwrap(), "1800s");
        assert_eq!(parse_duration("1d").unwrap(), "86400s");
        assert_eq!(parse_duration("1h30m").unwrap(), "5400s");
        assert_eq!(parse_duration("3600s").unwrap(), "3600s");
        assert_eq!(parse_duration("3600").unwrap(), "3600s");
        assert_eq!(parse_duration(" 1W ").unwrap(), "604800s");
        for bad in ["", "0", "0s", "2x", "h", "5h3", "-1h"] {
            assert!(parse_duration(bad).is_err(), "{bad}");
        }
    }
}
