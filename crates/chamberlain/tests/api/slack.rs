//! Slack, against the project's stand-in of Slack's Web API (`slack_standin.rs`; Slack itself
//! is not reachable from CI) with requests signed as Slack signs them: requests from the slash
//! command, approvals from DM buttons, status DMs, linking by confirmed email, the settings
//! API, forged and replayed requests, and delivery failures. Email goes to a real local SMTP
//! server (aiosmtpd) alongside.

use crate::harness::TestServer;
use crate::mcp::eventually;
use crate::notifications::{approval_entitlement, use_sink, SmtpSink};
use crate::slack_standin::{
    button_click, command_body, payload_body, send_signed, submission, SlackStandIn, BOT_TOKEN,
    SIGNING_SECRET, TEAM,
};
use chamberlain_notify::slack::{ACTION_APPROVE, ACTION_DENY, ACTION_REASSIGN};
use serde_json::{json, Value};

/// Turns the Slack integration on against the stand-in.
pub(crate) async fn use_standin(s: &TestServer, slack: &SlackStandIn) {
    s.ok(
        "POST",
        "/api/v1/settings/slack",
        Some(json!({"slack": {
            "enabled": true,
            "apiBaseUrl": slack.url,
            "botToken": BOT_TOKEN,
            "signingSecret": SIGNING_SECRET,
            "teamId": TEAM,
        }})),
    )
    .await;
}

/// Runs `/chamberlain request <query>` as `user` and returns the modal Chamberlain opened.
pub(crate) async fn open_request_form(
    s: &TestServer,
    slack: &SlackStandIn,
    user: &str,
    query: &str,
) -> Value {
    let before = slack.calls("views.open").len();
    let (st, text) = send_signed(
        &s.base,
        "/slack/commands",
        &command_body(user, "/chamberlain", &format!("request {query}")),
        SIGNING_SECRET,
        0,
    )
    .await;
    assert_eq!(st, 200, "{text}");
    assert!(
        text.is_empty(),
        "the command answered instead of opening a form: {text}"
    );
    let views = slack.calls("views.open");
    assert_eq!(views.len(), before + 1);
    views.last().unwrap()["view"].clone()
}

/// The option of the modal's access list whose label contains `label`.
fn option_value(view: &Value, label: &str) -> String {
    let options = view["blocks"]
        .as_array()
        .unwrap()
        .iter()
        .find(|b| b["block_id"] == "entitlement")
        .unwrap()["element"]["options"]
        .as_array()
        .unwrap()
        .clone();
    options
        .iter()
        .find(|o| o["text"]["text"].as_str().unwrap().contains(label))
        .unwrap_or_else(|| panic!("no option {label:?} in {options:#?}"))["value"]
        .as_str()
        .unwrap()
        .to_string()
}

/// Submits the request modal; returns Slack's answer (JSON).
pub(crate) async fn submit_request(
    s: &TestServer,
    user: &str,
    view: &Value,
    option: &str,
    justification: &str,
    duration_secs: Option<&str>,
) -> Value {
    let mut values = json!({
        "entitlement": {"pick": {"type": "static_select", "selected_option": {"value": option}}},
        "justification": {"text": {"type": "plain_text_input", "value": justification}},
        "emergency": {"pick": {"type": "checkboxes", "selected_options": []}}
    });
    if let Some(d) = duration_secs {
        values["duration"] =
            json!({"pick": {"type": "static_select", "selected_option": {"value": d}}});
    }
    let (st, text) = send_signed(
        &s.base,
        "/slack/interactivity",
        &payload_body(&submission(user, view, values)),
        SIGNING_SECRET,
        0,
    )
    .await;
    assert_eq!(st, 200, "{text}");
    serde_json::from_str(&text).unwrap_or_else(|_| panic!("not JSON: {text}"))
}

/// The request number in the confirmation modal.
pub(crate) fn submitted_number(answer: &Value) -> String {
    let text = answer["view"]["blocks"][0]["text"]["text"]
        .as_str()
        .unwrap_or_else(|| panic!("no confirmation: {answer}"));
    text.split("*#")
        .nth(1)
        .and_then(|r| r.split('*').next())
        .unwrap()
        .to_string()
}

/// Clicks a DM button as `user` on the message `dm` (a recorded chat.postMessage).
pub(crate) async fn click(s: &TestServer, user: &str, action: &str, task_id: &str, dm: &Value) {
    let (st, text) = send_signed(
        &s.base,
        "/slack/interactivity",
        &payload_body(&button_click(
            user,
            action,
            task_id,
            dm["channel"].as_str().unwrap(),
            dm["_ts"].as_str().unwrap(),
        )),
        SIGNING_SECRET,
        0,
    )
    .await;
    assert_eq!(st, 200, "{text}");
}

async fn task(s: &TestServer, id: &str) -> Value {
    s.ok("GET", &format!("/api/v1/tasks/{id}"), None).await["taskView"]["task"].clone()
}

pub async fn slack_requests_and_approvals(s: &TestServer) {
    let sink = SmtpSink::start(&[]).await;
    use_sink(s, &sink).await;
    let slack = SlackStandIn::start().await;
    use_standin(s, &slack).await;
    let (req_id, _) = s.user_with_token("req@example.com", &["basic-user"]).await;
    let (appr_id, _) = s.user_with_token("appr@example.com", &["basic-user"]).await;
    let (second_id, _) = s
        .user_with_token("second@example.com", &["basic-user"])
        .await;
    slack.add_user("UREQ", "Req@Example.com", true);
    slack.add_user("UAPPR", "appr@example.com", true);
    slack.add_user("USECOND", "second@example.com", true);
    let (app, ent) = approval_entitlement(s, "Ledger", &appr_id, &[&req_id]).await;

    // Search, pick, justify, submit.
    let view = open_request_form(s, &slack, "UREQ", "adm").await;
    assert_eq!(view["callback_id"], "chamberlain.request");
    let option = option_value(&view, "Ledger — admin");
    assert_eq!(option, format!("{app}/{ent}"));
    let answer = submit_request(s, "UREQ", &view, &option, "month-end close", Some("86400")).await;
    assert_eq!(answer["response_action"], "update", "{answer}");
    let num = submitted_number(&answer);
    let t = task(s, &num).await;
    assert_eq!(t["origin"], "TASK_ORIGIN_SLACK");
    assert_eq!(t["userId"], req_id.as_str());
    assert_eq!(t["description"], "month-end close");
    let tid = t["id"].as_str().unwrap().to_string();

    // The approver hears by Slack (with buttons) and by email; the requester by Slack.
    let dm = slack
        .wait_dm("UAPPR", &format!("Approval needed for request #{num}"))
        .await;
    let buttons = dm["blocks"][1]["elements"].as_array().unwrap();
    let ids: Vec<&str> = buttons
        .iter()
        .map(|b| b["action_id"].as_str().unwrap())
        .collect();
    assert!(
        ids.starts_with(&[ACTION_APPROVE, ACTION_DENY, ACTION_REASSIGN]),
        "{dm}"
    );
    assert_eq!(buttons[0]["value"], tid.as_str());
    sink.wait_for(
        "appr@example.com",
        &format!("Approval needed for request #{num}"),
    )
    .await;
    slack
        .wait_dm("UREQ", &format!("Request #{num} submitted"))
        .await;

    // The requester cannot approve their own request from the button.
    click(s, "UREQ", ACTION_APPROVE, &tid, &dm).await;
    let eph = slack.calls("chat.postEphemeral");
    assert!(
        eph.last().unwrap()["text"]
            .as_str()
            .unwrap()
            .starts_with("Not approved:"),
        "{eph:?}"
    );
    assert_eq!(task(s, &tid).await["state"], "TASK_STATE_OPEN");

    // Reassign to a second approver through the modal (Slack's user picker).
    let before = slack.calls("views.open").len();
    click(s, "UAPPR", ACTION_REASSIGN, &tid, &dm).await;
    let views = slack.calls("views.open");
    assert_eq!(views.len(), before + 1);
    let reassign_view = views.last().unwrap()["view"].clone();
    let (st, text) = send_signed(
        &s.base,
        "/slack/interactivity",
        &payload_body(&submission(
            "UAPPR",
            &reassign_view,
            json!({"assignee": {"pick": {"type": "users_select", "selected_user": "USECOND"}},
                   "comment": {"text": {"type": "plain_text_input", "value": "on leave"}}}),
        )),
        SIGNING_SECRET,
        0,
    )
    .await;
    assert_eq!(st, 200, "{text}");
    assert!(text.contains("\"clear\""), "{text}");
    let t = task(s, &tid).await;
    assert!(
        t["stepApproverIds"]
            .as_array()
            .unwrap()
            .iter()
            .any(|u| u == second_id.as_str()),
        "{t}"
    );
    let updates = slack.calls("chat.update");
    assert!(updates.last().unwrap()["text"]
        .as_str()
        .unwrap()
        .contains("Reassigned by you"));

    // The new approver approves from their DM; the requester is told by Slack and email.
    let dm2 = slack
        .wait_dm("USECOND", &format!("Approval needed for request #{num}"))
        .await;
    click(s, "USECOND", ACTION_APPROVE, &tid, &dm2).await;
    let updates = slack.calls("chat.update");
    assert!(
        updates.last().unwrap()["text"]
            .as_str()
            .unwrap()
            .contains("Approved by you"),
        "{updates:?}"
    );
    slack
        .wait_dm("UREQ", &format!("Request #{num} approved"))
        .await;
    sink.wait_for("req@example.com", &format!("Request #{num} approved"))
        .await;

    // Links were recorded from confirmed emails, case-insensitively.
    let link = chamberlain_store::repo::slack::link_of_user(&s.store, &req_id)
        .await
        .unwrap()
        .unwrap();
    assert_eq!(link.slack_user_id, "UREQ");
    assert_eq!(link.email, "req@example.com");
}

pub async fn slack_denials_and_refusals(s: &TestServer) {
    let slack = SlackStandIn::start().await;
    let (req_id, _) = s.user_with_token("req@example.com", &["basic-user"]).await;
    let (appr_id, appr_tok) = s.user_with_token("appr@example.com", &["basic-user"]).await;
    slack.add_user("UREQ", "req@example.com", true);
    slack.add_user("UAPPR", "appr@example.com", true);
    slack.add_user("USTRANGER", "stranger@example.com", true);
    slack.add_user("UUNCONFIRMED", "appr@example.com", false);
    let (_app, _ent) = approval_entitlement(s, "Ledger", &appr_id, &[&req_id]).await;
    let cmd = command_body("UREQ", "/chamberlain", "request admin");

    // Not set up yet: Slack's requests are refused.
    let (st, text) = send_signed(&s.base, "/slack/commands", &cmd, SIGNING_SECRET, 0).await;
    assert_eq!(st, 404, "{text}");
    assert!(text.contains("not enabled"));

    // Settings: bad input refused, secrets never echoed nor logged in the clear.
    for (body, needle) in [
        (json!({"slack": {"enabled": true}}), "botToken"),
        (json!({"slack": {"botToken": "xoxp-123"}}), "xoxb-"),
        (
            json!({"slack": {"commandName": "chamberlain"}}),
            "commandName",
        ),
        (json!({"slack": {"apiBaseUrl": "slack.com"}}), "apiBaseUrl"),
        (json!({"slack": {"teamId": "acme"}}), "teamId"),
        (json!({"slack": {"botTokenSet": true}}), "read-only"),
        (json!({"slack": {"colour": "red"}}), "colour"),
        (json!({}), "`slack` is required"),
    ] {
        let (st, v) = s
            .call(
                &s.admin,
                "POST",
                "/api/v1/settings/slack",
                Some(body.clone()),
            )
            .await;
        assert_eq!(st, 400, "{body} → {v}");
        assert!(
            v["message"].as_str().unwrap().contains(needle),
            "{body} → {v}"
        );
    }
    let (st, _) = s
        .call(
            &appr_tok,
            "POST",
            "/api/v1/settings/slack",
            Some(json!({"slack": {}})),
        )
        .await;
    assert_eq!(st, 403);
    use_standin(s, &slack).await;
    let v = s.ok("GET", "/api/v1/settings/slack", None).await;
    assert_eq!(v["slack"]["botTokenSet"], true);
    assert_eq!(v["slack"]["signingSecretSet"], true);
    assert_eq!(
        v["slack"]["slashCommandUrl"],
        format!("{}/slack/commands", s.base)
    );
    assert!(!v.to_string().contains(BOT_TOKEN) && !v.to_string().contains(SIGNING_SECRET));
    let log = crate::notifications::system_log(s).await;
    assert!(log.contains("slack"), "the settings change is audited");
    assert!(!log.contains(BOT_TOKEN) && !log.contains(SIGNING_SECRET));
    let v = s.ok("POST", "/api/v1/settings/slack/test", None).await;
    assert_eq!(v["teamId"], TEAM);

    // Forged, stale, unsigned and replayed requests change nothing.
    let (st, text) =
        send_signed(&s.base, "/slack/commands", &cmd, "not-the-secret-at-all", 0).await;
    assert_eq!(st, 401);
    assert!(text.contains("signature does not match"), "{text}");
    let (st, text) = send_signed(&s.base, "/slack/commands", &cmd, SIGNING_SECRET, -400).await;
    assert_eq!(st, 401);
    assert!(text.contains("5 minutes"), "{text}");
    let resp = reqwest::Client::new()
        .post(format!("{}/slack/commands", s.base))
        .body(cmd.clone())
        .send()
        .await
        .unwrap();
    assert_eq!(resp.status().as_u16(), 401);
    let ts = chamberlain_model::Timestamp::now()
        .unix_seconds()
        .to_string();
    let sig = chamberlain_notify::slack::sign(SIGNING_SECRET, &ts, cmd.as_bytes());
    let replay = || async {
        reqwest::Client::new()
            .post(format!("{}/slack/commands", s.base))
            .header("x-slack-request-timestamp", &ts)
            .header("x-slack-signature", &sig)
            .body(cmd.clone())
            .send()
            .await
            .unwrap()
    };
    assert_eq!(replay().await.status().as_u16(), 200);
    let again = replay().await;
    assert_eq!(again.status().as_u16(), 401);
    assert!(again.text().await.unwrap().contains("already received"));
    // Another workspace.
    let other = command_body("UREQ", "/chamberlain", "request admin").replace(TEAM, "T0OTHER");
    let (st, _) = send_signed(&s.base, "/slack/commands", &other, SIGNING_SECRET, 0).await;
    assert_eq!(st, 403);

    // People Chamberlain cannot match, unknown commands and subcommands get clear answers.
    for (user, command, text, needle) in [
        (
            "USTRANGER",
            "/chamberlain",
            "request admin",
            "no active user with your Slack email (stranger@example.com)",
        ),
        (
            "UUNCONFIRMED",
            "/chamberlain",
            "request admin",
            "no confirmed email",
        ),
        ("UREQ", "/access", "request admin", "answers /chamberlain"),
        (
            "UREQ",
            "/chamberlain",
            "grant me",
            "Unknown subcommand `grant`",
        ),
        ("UREQ", "/chamberlain", "", "request <words>"),
        (
            "UREQ",
            "/chamberlain",
            "request nosuchthing",
            "Nothing you can request matches",
        ),
    ] {
        let (st, body) = send_signed(
            &s.base,
            "/slack/commands",
            &command_body(user, command, text),
            SIGNING_SECRET,
            0,
        )
        .await;
        assert_eq!(st, 200, "{body}");
        let v: Value = serde_json::from_str(&body).unwrap();
        assert_eq!(v["response_type"], "ephemeral");
        assert!(
            v["text"].as_str().unwrap().contains(needle),
            "{user} {text}: {v}"
        );
    }
    let (_, v) = s
        .call(&s.admin, "POST", "/api/v1/search/tasks", Some(json!({})))
        .await;
    assert!(
        v["list"].as_array().unwrap().is_empty(),
        "no request was created: {v}"
    );

    // A form submitted without a justification or with a duration over the policy's maximum
    // is answered on the form, and no request is created.
    let view = open_request_form(s, &slack, "UREQ", "admin").await;
    let option = option_value(&view, "admin");
    let answer = submit_request(s, "UREQ", &view, &option, "", None).await;
    assert_eq!(answer["response_action"], "errors");
    assert!(answer["errors"]["justification"].is_string(), "{answer}");
    let app_ent: Vec<&str> = option.split('/').collect();
    s.ok(
        "POST",
        &format!("/api/v1/apps/{}/entitlements/{}", app_ent[0], app_ent[1]),
        Some(json!({"entitlement": {"durationGrant": "3600s"}, "updateMask": "durationGrant"})),
    )
    .await;
    let answer = submit_request(s, "UREQ", &view, &option, "needed", Some("86400")).await;
    assert_eq!(answer["response_action"], "errors", "{answer}");
    assert!(answer["errors"]["duration"].is_string(), "{answer}");
    let (st, v) = s
        .call(&s.admin, "POST", "/api/v1/search/tasks", Some(json!({})))
        .await;
    assert_eq!(st, 200, "{v}");
    assert!(v["list"].as_array().unwrap().is_empty(), "{v}");

    // A request denied from Slack with a reason; the reason is required.
    let answer = submit_request(s, "UREQ", &view, &option, "needed", Some("3600")).await;
    let num = submitted_number(&answer);
    let tid = task(s, &num).await["id"].as_str().unwrap().to_string();
    let dm = slack
        .wait_dm("UAPPR", &format!("Approval needed for request #{num}"))
        .await;
    let before = slack.calls("views.open").len();
    click(s, "UAPPR", ACTION_DENY, &tid, &dm).await;
    let deny_view = slack.calls("views.open")[before]["view"].clone();
    let deny = |reason: &'static str| {
        payload_body(&submission(
            "UAPPR",
            &deny_view,
            json!({"reason": {"text": {"type": "plain_text_input", "value": reason}}}),
        ))
    };
    let (_, text) = send_signed(
        &s.base,
        "/slack/interactivity",
        &deny(""),
        SIGNING_SECRET,
        0,
    )
    .await;
    assert!(text.contains("\"errors\""), "{text}");
    let (_, text) = send_signed(
        &s.base,
        "/slack/interactivity",
        &deny("not for this team"),
        SIGNING_SECRET,
        0,
    )
    .await;
    assert!(text.contains("\"clear\""), "{text}");
    let t = task(s, &tid).await;
    assert_eq!(t["state"], "TASK_STATE_CLOSED");
    slack
        .wait_dm("UREQ", &format!("Request #{num} denied"))
        .await;
    // A second click on the stale message is refused with the reason.
    click(s, "UAPPR", ACTION_APPROVE, &tid, &dm).await;
    assert!(slack.calls("chat.postEphemeral").last().unwrap()["text"]
        .as_str()
        .unwrap()
        .starts_with("Not approved:"));

    // A payload that is not JSON.
    let (st, _) = send_signed(
        &s.base,
        "/slack/interactivity",
        "payload=%7Bnot",
        SIGNING_SECRET,
        0,
    )
    .await;
    assert_eq!(st, 400);
}

pub async fn slack_delivery_failures_are_retried_or_failed(s: &TestServer) {
    let slack = SlackStandIn::start().await;
    use_standin(s, &slack).await;
    let (req_id, req_tok) = s.user_with_token("req@example.com", &["basic-user"]).await;
    let (appr_id, _) = s.user_with_token("appr@example.com", &["basic-user"]).await;
    // The approver has a Slack account; the requester does not.
    slack.add_user("UAPPR", "appr@example.com", true);
    let (app, ent) = approval_entitlement(s, "Ledger", &appr_id, &[&req_id]).await;
    // Slack rate-limits the first post: the DM is retried and arrives.
    slack.fail_next("chat.postMessage", "429", 1);
    let (st, v) = s
        .call(
            &req_tok,
            "POST",
            "/api/v1/task/grant",
            Some(json!({"appId": app, "appEntitlementId": ent, "description": "close"})),
        )
        .await;
    assert_eq!(st, 200, "{v}");
    let num = v["taskView"]["task"]["numericId"]
        .as_str()
        .unwrap()
        .to_string();
    slack
        .wait_dm("UAPPR", &format!("Approval needed for request #{num}"))
        .await;
    let calls = slack.all_calls();
    assert!(
        calls.contains(&"chat.postMessage (failed)".to_string()),
        "the first post was rate-limited: {calls:?}"
    );
    // The requester's Slack notice fails for good, visibly, naming why.
    eventually("the requester's Slack notice to fail", || async {
        let v = s
            .ok(
                "GET",
                "/api/v1/notifications?state=failed&channel=slack",
                None,
            )
            .await;
        !v["list"].as_array().unwrap().is_empty()
    })
    .await;
    let failed = s
        .ok(
            "GET",
            "/api/v1/notifications?state=failed&channel=slack",
            None,
        )
        .await["list"]
        .as_array()
        .unwrap()
        .clone();
    assert_eq!(failed[0]["userId"], req_id.as_str());
    assert!(
        failed[0]["lastError"]
            .as_str()
            .unwrap()
            .contains("no active Slack user has the email req@example.com"),
        "{failed:?}"
    );
    // A revoked bot token: the notices fail with Slack's reason, the request itself stands.
    let (other_id, other_tok) = s
        .user_with_token("other@example.com", &["basic-user"])
        .await;
    slack.add_user("UOTHER", "other@example.com", true);
    s.ok(
        "POST",
        &format!(
            "/api/v1/apps/{app}/entitlements/{}/add-manual-user",
            s.create_entitlement(&app, "viewer").await
        ),
        Some(json!({"userIds": [other_id]})),
    )
    .await;
    slack.fail_next("conversations.open", "token_revoked", 10);
    let (st, v) = s
        .call(
            &other_tok,
            "POST",
            "/api/v1/task/grant",
            Some(json!({"appId": app, "appEntitlementId": ent, "description": "audit"})),
        )
        .await;
    assert_eq!(st, 200, "{v}");
    eventually("the notices to fail with token_revoked", || async {
        let v = s
            .ok(
                "GET",
                "/api/v1/notifications?state=failed&channel=slack",
                None,
            )
            .await;
        v["list"].as_array().unwrap().iter().any(|n| {
            n["userId"] == other_id.as_str()
                && n["lastError"].as_str().unwrap().contains("token_revoked")
        })
    })
    .await;
}

/// The "done when": a request made from Slack and one made from the CLI each reach the
/// approver by Slack and by email, are approved from Slack and from the CLI, and the requesters
/// are told (Slack DM and email).
pub async fn requests_from_slack_and_cli_reach_approvers_everywhere(s: &TestServer) {
    let sink = SmtpSink::start(&[]).await;
    use_sink(s, &sink).await;
    let slack = SlackStandIn::start().await;
    use_standin(s, &slack).await;
    let (slack_req, _) = s.user_with_token("pat@example.com", &["basic-user"]).await;
    let (cli_req, cli_client, cli_secret) =
        s.user_with_client("cli@example.com", &["basic-user"]).await;
    let (appr, appr_client, appr_secret) = s
        .user_with_client("appr@example.com", &["basic-user"])
        .await;
    slack.add_user("UPAT", "pat@example.com", true);
    slack.add_user("UCLI", "cli@example.com", true);
    slack.add_user("UAPPR", "appr@example.com", true);
    let (app, ent) = approval_entitlement(s, "Ledger", &appr, &[&slack_req, &cli_req]).await;

    // From Slack, approved from Slack.
    let view = open_request_form(s, &slack, "UPAT", "admin").await;
    let option = option_value(&view, "Ledger — admin");
    let answer = submit_request(s, "UPAT", &view, &option, "quarter close", None).await;
    let num = submitted_number(&answer);
    let tid = task(s, &num).await["id"].as_str().unwrap().to_string();
    let dm = slack
        .wait_dm("UAPPR", &format!("Approval needed for request #{num}"))
        .await;
    sink.wait_for(
        "appr@example.com",
        &format!("Approval needed for request #{num}"),
    )
    .await;
    click(s, "UAPPR", ACTION_APPROVE, &tid, &dm).await;
    slack
        .wait_dm("UPAT", &format!("Request #{num} approved"))
        .await;
    sink.wait_for("pat@example.com", &format!("Request #{num} approved"))
        .await;

    // From the CLI (waiting for the decision), approved from the CLI.
    let target = format!("{app}/{ent}");
    let requester = (cli_client, cli_secret);
    let get = {
        let s_base = s.base.clone();
        let requester = requester.clone();
        let target = target.clone();
        tokio::spawn(async move {
            let mut c = tokio::process::Command::new(env!("CARGO_BIN_EXE_chamberlain"));
            c.args([
                "get",
                &target,
                "--justification",
                "audit prep",
                "--wait",
                "--output",
                "json",
                "--config",
                "/nonexistent/chamberlain.toml",
            ])
            .env("CHAMBERLAIN_SERVER", &s_base)
            .env("CHAMBERLAIN_CLIENT_ID", &requester.0)
            .env("CHAMBERLAIN_CLIENT_SECRET", &requester.1)
            .env_remove("CHAMBERLAIN_PROFILE")
            .stdin(std::process::Stdio::null())
            .kill_on_drop(true);
            tokio::time::timeout(std::time::Duration::from_secs(90), c.output())
                .await
                .expect("chamberlain get --wait did not finish")
                .unwrap()
        })
    };
    let other_request = || {
        slack
            .dms("UAPPR", "Approval needed for request #")
            .into_iter()
            .map(|m| m["text"].as_str().unwrap().to_string())
            .find(|t| !t.contains(&format!("#{num}:")))
    };
    eventually("the CLI request to reach the approver on Slack", || async {
        other_request().is_some()
    })
    .await;
    let text = other_request().unwrap();
    let cli_num = text
        .split('#')
        .nth(1)
        .and_then(|r| r.split(':').next())
        .unwrap()
        .to_string();
    sink.wait_for(
        "appr@example.com",
        &format!("Approval needed for request #{cli_num}"),
    )
    .await;
    let approver = (appr_client, appr_secret);
    let out = crate::cli::run_as(
        s,
        &approver,
        &["tasks", "approve", &cli_num, "--comment", "ok"],
    )
    .await;
    assert_eq!(out.code, 0, "{out:?}");
    let done = get.await.unwrap();
    assert_eq!(
        done.status.code(),
        Some(0),
        "{}",
        String::from_utf8_lossy(&done.stderr)
    );
    let t: Value = serde_json::from_slice(&done.stdout).unwrap();
    assert_eq!(t["numericId"], cli_num.as_str());
    slack
        .wait_dm("UCLI", &format!("Request #{cli_num} approved"))
        .await;
    sink.wait_for("cli@example.com", &format!("Request #{cli_num} approved"))
        .await;
    let has = crate::cli::run_as(s, &requester, &["has", &target]).await;
    assert_eq!(has.code, 0, "{has:?}");

    // The approver's DM about the CLI request lost its buttons when the request closed; the DM
    // approved from Slack keeps saying who approved it.
    let cli_dm = slack
        .dms("UAPPR", &format!("Approval needed for request #{cli_num}"))
        .remove(0);
    let updates_of = |ts: &str| -> Vec<Value> {
        slack
            .calls("chat.update")
            .into_iter()
            .filter(|u| u["ts"] == ts)
            .collect()
    };
    let cli_ts = cli_dm["_ts"].as_str().unwrap().to_string();
    eventually("the CLI request's DM to be updated", || async {
        !updates_of(&cli_ts).is_empty()
    })
    .await;
    let update = &updates_of(&cli_ts)[0];
    assert!(
        update["text"]
            .as_str()
            .unwrap()
            .contains(&format!("Request #{cli_num} approved")),
        "{update}"
    );
    assert!(
        !update.to_string().contains("chamberlain.task.approve"),
        "{update}"
    );
    let slack_updates = updates_of(dm["_ts"].as_str().unwrap());
    assert_eq!(slack_updates.len(), 1, "{slack_updates:?}");
    assert!(slack_updates[0]["text"]
        .as_str()
        .unwrap()
        .contains("Approved by you"));
}
