//! Policies and tasks: requests, approvals, refusals, provisioning and expiry.

use crate::harness::TestServer;
use serde_json::{json, Value};
use std::time::Duration;

/// An app, an entitlement in it, and an account in it for `user_id` (made by granting a base
/// entitlement to the user).
async fn app_with_account(s: &TestServer, name: &str, user_ids: &[&str]) -> (String, String) {
    let app = s.create_app(name).await;
    let base = s.create_entitlement(&app, "base").await;
    s.ok(
        "POST",
        &format!("/api/v1/apps/{app}/entitlements/{base}/add-manual-user"),
        Some(json!({"userIds": user_ids})),
    )
    .await;
    let ent = s.create_entitlement(&app, "admin").await;
    (app, ent)
}

async fn set_entitlement(s: &TestServer, app: &str, ent: &str, patch: Value, mask: &str) {
    s.ok(
        "POST",
        &format!("/api/v1/apps/{app}/entitlements/{ent}"),
        Some(json!({"entitlement": patch, "updateMask": mask})),
    )
    .await;
}

fn task_of(v: &Value) -> &Value {
    &v["taskView"]["task"]
}

async fn holds(s: &TestServer, app: &str, ent: &str, user: &str) -> bool {
    let v = s
        .ok(
            "POST",
            "/api/v1/search/grants",
            Some(json!({"entitlementRefs": [{"appId": app, "id": ent}], "userId": user})),
        )
        .await;
    !v["list"].as_array().unwrap().is_empty()
}

pub async fn request_approval_and_refusals(s: &TestServer) {
    let (req_id, req_tok) = s.user_with_token("req@example.com", &["basic-user"]).await;
    let (appr_id, appr_tok) = s.user_with_token("appr@example.com", &["basic-user"]).await;
    let (_out_id, out_tok) = s
        .user_with_token("outsider@example.com", &["basic-user"])
        .await;
    let (app, ent) = app_with_account(s, "Payroll", &[&req_id]).await;
    let policy = s
        .ok(
            "POST",
            "/api/v1/policies",
            Some(json!({
                "displayName": "Approver with reason",
                "policyType": "POLICY_TYPE_GRANT",
                "policySteps": {"grant": {"steps": [
                    {"approval": {"users": {"userIds": [appr_id]}, "requireApprovalReason": true, "requireDenialReason": true}},
                    {"provision": {}}
                ]}}
            })),
        )
        .await;
    let pid = policy["policy"]["id"].as_str().unwrap().to_string();
    set_entitlement(
        s,
        &app,
        &ent,
        json!({"grantPolicyId": pid, "durationGrant": "86400s"}),
        "grantPolicyId,durationGrant",
    )
    .await;

    // Longer than the maximum: refused, nothing opened.
    let (st, v) = s
        .call(
            &req_tok,
            "POST",
            "/api/v1/task/grant",
            Some(json!({"appId": app, "appEntitlementId": ent, "grantDuration": "90000s"})),
        )
        .await;
    assert_eq!(st, 400, "{v}");
    assert!(v["message"].as_str().unwrap().contains("maximum"), "{v}");
    // A basic user may not request for someone else.
    let (st, _) = s
        .call(
            &req_tok,
            "POST",
            "/api/v1/task/grant",
            Some(json!({"appId": app, "appEntitlementId": ent, "identityUserId": appr_id})),
        )
        .await;
    assert_eq!(st, 403);

    let (st, v) = s
        .call(&req_tok, "POST", "/api/v1/task/grant", Some(json!({"appId": app, "appEntitlementId": ent, "description": "payroll run", "grantDuration": "3600s"})))
        .await;
    assert_eq!(st, 200, "{v}");
    let task = task_of(&v).clone();
    let tid = task["id"].as_str().unwrap().to_string();
    assert_eq!(task["state"], "TASK_STATE_OPEN");
    assert_eq!(task["stepApproverIds"], json!([appr_id]));
    assert_eq!(task["origin"], "TASK_ORIGIN_API");
    assert!(task["numericId"].as_str().unwrap().parse::<i64>().unwrap() >= 1);
    // The same request while open: the open task, not a second one.
    let (_, again) = s
        .call(
            &req_tok,
            "POST",
            "/api/v1/task/grant",
            Some(json!({"appId": app, "appEntitlementId": ent})),
        )
        .await;
    assert_eq!(task_of(&again)["id"], tid.as_str());

    // Someone not assigned, the requester, and an approval without the required reason.
    let approve = format!("/api/v1/tasks/{tid}/action/approve");
    let (st, v) = s
        .call(&out_tok, "POST", &approve, Some(json!({"comment": "ok"})))
        .await;
    assert_eq!(st, 404, "outsiders cannot even see the task: {v}");
    let (st, v) = s
        .call(&req_tok, "POST", &approve, Some(json!({"comment": "me"})))
        .await;
    assert_eq!(st, 403, "{v}");
    let (st, v) = s.call(&appr_tok, "POST", &approve, Some(json!({}))).await;
    assert_eq!(st, 400, "{v}");
    assert!(v["message"].as_str().unwrap().contains("reason"), "{v}");
    assert!(!holds(s, &app, &ent, &req_id).await);

    // The approver sees it in their work queue.
    let (_, mine) = s
        .call(
            &appr_tok,
            "POST",
            "/api/v1/search/tasks",
            Some(json!({"myWorkUserIds": [appr_id], "taskStates": ["TASK_STATE_OPEN"]})),
        )
        .await;
    assert_eq!(mine["list"].as_array().unwrap().len(), 1, "{mine}");

    // Two approvals at once: one outcome.
    let (a, b) = tokio::join!(
        s.call(
            &appr_tok,
            "POST",
            &approve,
            Some(json!({"comment": "needed for payroll"}))
        ),
        s.call(
            &appr_tok,
            "POST",
            &approve,
            Some(json!({"comment": "needed for payroll"}))
        ),
    );
    let statuses = [a.0, b.0];
    assert!(statuses.contains(&200), "{a:?} {b:?}");
    assert!(
        statuses.iter().all(|s| *s == 200 || *s == 400),
        "{a:?} {b:?}"
    );
    assert!(
        a.1["code"] == 9 || b.1["code"] == 9 || a.0 == b.0,
        "the loser is told the task moved on: {a:?} {b:?}"
    );
    let done = s.ok("GET", &format!("/api/v1/tasks/{tid}"), None).await;
    let t = task_of(&done);
    assert_eq!(t["state"], "TASK_STATE_CLOSED");
    assert_eq!(t["type"]["grant"]["outcome"], "GRANT_OUTCOME_GRANTED");
    assert_eq!(t["approverIds"], json!([appr_id]));
    assert!(holds(s, &app, &ent, &req_id).await);
    // Actions on a closed task are refused.
    let (st, v) = s
        .call(
            &appr_tok,
            "POST",
            &approve,
            Some(json!({"comment": "again"})),
        )
        .await;
    assert_eq!((st, v["code"].clone()), (400, json!(9)), "{v}");
    assert!(v["message"].as_str().unwrap().contains("closed"), "{v}");
    let (st, v) = s
        .call(
            &appr_tok,
            "POST",
            &format!("/api/v1/tasks/{tid}/action/deny"),
            Some(json!({"comment": "no"})),
        )
        .await;
    assert_eq!((st, v["code"].clone()), (400, json!(9)), "{v}");
    // The history names every step.
    let log = s
        .ok("POST", "/api/v1/task/audits", Some(json!({"taskId": tid})))
        .await;
    let text = log.to_string();
    for needle in [
        "taskCreated",
        "approvalInstanceChange",
        "grantOutcome",
        "needed for payroll",
    ] {
        assert!(text.contains(needle), "{needle} missing from {text}");
    }
    let comments = s
        .ok(
            "POST",
            "/api/v1/task/audits",
            Some(json!({"taskId": tid, "commentsOnly": true})),
        )
        .await;
    assert_eq!(comments["list"].as_array().unwrap().len(), 1, "{comments}");

    // Deny closes the request; a second request can then be opened and cancelled.
    let (st, v) = s
        .call(
            &req_tok,
            "POST",
            "/api/v1/task/revoke",
            Some(json!({"appId": app, "appEntitlementId": ent})),
        )
        .await;
    assert_eq!(st, 200, "{v}");
    let rt = task_of(&v);
    // No revoke policy: revoked without review.
    assert_eq!(
        rt["type"]["revoke"]["outcome"], "REVOKE_OUTCOME_REVOKED",
        "{rt}"
    );
    assert!(!holds(s, &app, &ent, &req_id).await);
    let (_, v) = s
        .call(
            &req_tok,
            "POST",
            "/api/v1/task/grant",
            Some(json!({"appId": app, "appEntitlementId": ent})),
        )
        .await;
    let t2 = task_of(&v)["id"].as_str().unwrap().to_string();
    let (st, v) = s
        .call(
            &appr_tok,
            "POST",
            &format!("/api/v1/tasks/{t2}/action/deny"),
            Some(json!({"comment": "not now"})),
        )
        .await;
    assert_eq!(st, 200, "{v}");
    assert_eq!(
        task_of(&v)["type"]["grant"]["outcome"],
        "GRANT_OUTCOME_DENIED"
    );
    let (_, v) = s
        .call(
            &req_tok,
            "POST",
            "/api/v1/task/grant",
            Some(json!({"appId": app, "appEntitlementId": ent})),
        )
        .await;
    let t3 = task_of(&v)["id"].as_str().unwrap().to_string();
    assert_ne!(t3, t2);
    let (st, v) = s
        .call(
            &req_tok,
            "POST",
            &format!("/api/v1/tasks/{t3}/action/close"),
            Some(json!({"comment": "never mind"})),
        )
        .await;
    assert_eq!(st, 200, "{v}");
    assert_eq!(
        task_of(&v)["type"]["grant"]["outcome"],
        "GRANT_OUTCOME_CANCELLED"
    );
}

pub async fn default_policy_and_fallbacks(s: &TestServer) {
    let (req_id, req_tok) = s.user_with_token("dreq@example.com", &["basic-user"]).await;
    let (app, ent) = app_with_account(s, "Wiki", &[&req_id]).await;
    // No policy anywhere and an app without owners: never auto-approved; super admins decide,
    // and the task says why.
    let (st, v) = s
        .call(
            &req_tok,
            "POST",
            "/api/v1/task/grant",
            Some(json!({"appId": app, "appEntitlementId": ent})),
        )
        .await;
    assert_eq!(st, 200, "{v}");
    let t = task_of(&v);
    assert_eq!(t["state"], "TASK_STATE_OPEN");
    assert_eq!(t["stepApproverIds"], json!([s.admin_user_id]));
    let reason = t["policy"]["current"]["approval"]["assignmentReason"]
        .as_str()
        .unwrap();
    assert!(reason.contains("super admins"), "{reason}");
    // Manager step with no manager but fallback users.
    let (fb_id, _) = s
        .user_with_token("fallback@example.com", &["basic-user"])
        .await;
    let p = s
        .ok(
            "POST",
            "/api/v1/policies",
            Some(json!({
                "displayName": "Manager",
                "policyType": "POLICY_TYPE_GRANT",
                "policySteps": {"grant": {"steps": [{"approval": {"manager": {"fallback": true, "fallbackUserIds": [fb_id]}}}]}}
            })),
        )
        .await;
    let ent2 = s.create_entitlement(&app, "editor").await;
    set_entitlement(
        s,
        &app,
        &ent2,
        json!({"grantPolicyId": p["policy"]["id"]}),
        "grantPolicyId",
    )
    .await;
    let (_, v) = s
        .call(
            &req_tok,
            "POST",
            "/api/v1/task/grant",
            Some(json!({"appId": app, "appEntitlementId": ent2})),
        )
        .await;
    let t = task_of(&v);
    assert_eq!(t["stepApproverIds"], json!([fb_id]), "{t}");
    assert!(t["policy"]["current"]["approval"]["assignmentReason"]
        .as_str()
        .unwrap()
        .contains("fallback"));
    // App defaults apply where the entitlement sets nothing: policy and maximum duration.
    let auto = s
        .ok(
            "POST",
            "/api/v1/policies",
            Some(
                json!({"displayName": "Auto (app default)", "policyType": "POLICY_TYPE_GRANT",
            "policySteps": {"grant": {"steps": [{"accept": {}}]}}}),
            ),
        )
        .await;
    s.ok(
        "POST",
        &format!("/api/v1/apps/{app}/access_request_defaults"),
        Some(json!({"durationGrant": "600s", "requestPolicyId": auto["policy"]["id"]})),
    )
    .await;
    let ent3 = s.create_entitlement(&app, "viewer").await;
    let (st, v) = s
        .call(
            &req_tok,
            "POST",
            "/api/v1/task/grant",
            Some(json!({"appId": app, "appEntitlementId": ent3, "grantDuration": "900s"})),
        )
        .await;
    assert_eq!(st, 400, "{v}");
    assert!(v["message"].as_str().unwrap().contains("600s"), "{v}");
    let (_, v) = s
        .call(
            &req_tok,
            "POST",
            "/api/v1/task/grant",
            Some(json!({"appId": app, "appEntitlementId": ent3})),
        )
        .await;
    assert_eq!(
        task_of(&v)["type"]["grant"]["outcome"],
        "GRANT_OUTCOME_GRANTED",
        "{v}"
    );
    assert_eq!(task_of(&v)["type"]["grant"]["grantDuration"], "600s");
    // A configuration rule is more specific than the app's defaults.
    let rules = format!("/api/v1/apps/{app}/entitlement_configuration_rules");
    let (st, v) = s
        .call(
            &s.admin,
            "POST",
            &rules,
            Some(json!({"displayName": "bad", "condition": "entitlement.nope == 1"})),
        )
        .await;
    assert_eq!(st, 400, "{v}");
    assert!(v["message"].as_str().unwrap().contains("line 1"), "{v}");
    let r = s
        .ok("POST", &rules, Some(json!({"displayName": "Databases", "condition": "entitlement.displayName.startsWith(\"db-\")",
            "settings": {"maxGrantDuration": "300s", "requestPolicyId": auto["policy"]["id"]}})))
        .await;
    let rid = r["routingRule"]["id"].as_str().unwrap().to_string();
    let (st, v) = s
        .call(
            &s.admin,
            "POST",
            &format!("{rules}/reorder"),
            Some(json!({"ruleIds": []})),
        )
        .await;
    assert_eq!(st, 400, "{v}");
    s.ok(
        "POST",
        &format!("{rules}/reorder"),
        Some(json!({"ruleIds": [rid]})),
    )
    .await;
    let db = s.create_entitlement(&app, "db-read").await;
    let (st, v) = s
        .call(
            &req_tok,
            "POST",
            "/api/v1/task/grant",
            Some(json!({"appId": app, "appEntitlementId": db, "grantDuration": "400s"})),
        )
        .await;
    assert_eq!(st, 400, "{v}");
    assert!(v["message"].as_str().unwrap().contains("300s"), "{v}");
    let (_, v) = s
        .call(
            &req_tok,
            "POST",
            "/api/v1/task/grant",
            Some(json!({"appId": app, "appEntitlementId": db})),
        )
        .await;
    assert_eq!(task_of(&v)["type"]["grant"]["grantDuration"], "300s", "{v}");
    let listed = s.ok("GET", &rules, None).await;
    assert_eq!(listed["list"].as_array().unwrap().len(), 1);
}

pub async fn auto_approval_and_expiry(s: &TestServer) {
    let (req_id, req_tok) = s.user_with_token("jit@example.com", &["basic-user"]).await;
    let (app, ent) = app_with_account(s, "Prod", &[&req_id]).await;
    let p = s
        .ok(
            "POST",
            "/api/v1/policies",
            Some(json!({
                "displayName": "Auto",
                "policyType": "POLICY_TYPE_GRANT",
                "policySteps": {"grant": {"steps": [{"accept": {"acceptMessage": "on call"}}]}}
            })),
        )
        .await;
    set_entitlement(
        s,
        &app,
        &ent,
        json!({"grantPolicyId": p["policy"]["id"]}),
        "grantPolicyId",
    )
    .await;
    let (st, v) = s
        .call(
            &req_tok,
            "POST",
            "/api/v1/task/grant",
            Some(json!({"appId": app, "appEntitlementId": ent, "grantDuration": "2s"})),
        )
        .await;
    assert_eq!(st, 200, "{v}");
    assert_eq!(
        task_of(&v)["type"]["grant"]["outcome"],
        "GRANT_OUTCOME_GRANTED",
        "{v}"
    );
    assert!(holds(s, &app, &ent, &req_id).await);
    // The owner is told before it ends (an outbox event for the notification pipeline), once.
    let mut warned = 0;
    for _ in 0..50 {
        let events =
            chamberlain_store::repo::jobs::events_after(&s.store, "", Duration::ZERO, 10_000)
                .await
                .unwrap();
        warned = events
            .iter()
            .filter(|e| e.kind == "grant.expiring" && e.doc["userId"] == req_id.as_str())
            .count();
        if warned > 0 {
            break;
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    assert_eq!(warned, 1, "one expiry warning");
    // The worker revokes it when it ends, with a TIME_REVOKE task.
    let mut revoked = false;
    for _ in 0..100 {
        tokio::time::sleep(Duration::from_millis(200)).await;
        let v = s
            .ok(
                "POST",
                "/api/v1/search/tasks",
                Some(json!({"taskTypes": [{"revoke": {}}], "appEntitlementIds": [ent]})),
            )
            .await;
        if let Some(t) = v["list"].as_array().unwrap().first() {
            if t["task"]["type"]["revoke"]["outcome"] == "REVOKE_OUTCOME_REVOKED" {
                assert_eq!(t["task"]["origin"], "TASK_ORIGIN_TIME_REVOKE");
                revoked = true;
                break;
            }
        }
    }
    assert!(revoked, "the expired grant was not revoked");
    let v = s
        .ok(
            "GET",
            &format!("/api/v1/apps/{app}/entitlements/{ent}/users"),
            None,
        )
        .await;
    assert_eq!(v["list"].as_array().map(|l| l.len()).unwrap_or(0), 0, "{v}");

    // Asking again while holding access extends it; giving it back early revokes it.
    let end = || async {
        let g = s
            .ok(
                "POST",
                "/api/v1/search/grants",
                Some(json!({"entitlementRefs": [{"appId": app, "id": ent}], "userId": req_id})),
            )
            .await;
        g["list"][0]["appEntitlementUserBinding"]["deprovisionAt"]
            .as_str()
            .unwrap()
            .to_string()
    };
    s.call(
        &req_tok,
        "POST",
        "/api/v1/task/grant",
        Some(json!({"appId": app, "appEntitlementId": ent, "grantDuration": "3600s"})),
    )
    .await;
    let first = end().await;
    s.call(
        &req_tok,
        "POST",
        "/api/v1/task/grant",
        Some(json!({"appId": app, "appEntitlementId": ent, "grantDuration": "7200s"})),
    )
    .await;
    let second = end().await;
    assert!(second > first, "{first} -> {second}");
    let (st, v) = s
        .call(
            &req_tok,
            "POST",
            "/api/v1/task/revoke",
            Some(json!({"appId": app, "appEntitlementId": ent, "description": "done early"})),
        )
        .await;
    assert_eq!(st, 200, "{v}");
    assert!(!holds(s, &app, &ent, &req_id).await);
}

pub async fn policy_bad_input_is_refused(s: &TestServer) {
    let ok = |name: &str| {
        json!({
            "displayName": name,
            "policyType": "POLICY_TYPE_GRANT",
            "policySteps": {"grant": {"steps": [{"accept": {}}]}}
        })
    };
    let a = s.ok("POST", "/api/v1/policies", Some(ok("A"))).await["policy"]["id"]
        .as_str()
        .unwrap()
        .to_string();
    let mut b = ok("B");
    b["rules"] = json!([{"condition": "true", "policyId": a}]);
    let b = s.ok("POST", "/api/v1/policies", Some(b)).await["policy"]["id"]
        .as_str()
        .unwrap()
        .to_string();
    let count = || async {
        s.ok("POST", "/api/v1/search/policies", Some(json!({})))
            .await["list"]
            .as_array()
            .unwrap()
            .len()
    };
    let before = count().await;
    let cases: Vec<(Value, &str)> = vec![
        (
            json!({"displayName": "x", "policyType": "POLICY_TYPE_GRANT", "policySteps": {}}),
            "baseline",
        ),
        (
            json!({"displayName": "x", "policyType": "POLICY_TYPE_GRANT", "policySteps": {"grant": {"steps": [{}]}}}),
            "exactly one",
        ),
        (
            json!({"displayName": "x", "policyType": "POLICY_TYPE_GRANT", "policySteps": {"grant": {"steps": [{"accept": {}}]}}, "rules": [{"condition": "subject.nope", "stepKey": "grant"}]}),
            "line 1",
        ),
        (
            json!({"displayName": "x", "policyType": "POLICY_TYPE_GRANT", "policySteps": {"grant": {"steps": [{"accept": {}}]}}, "rules": [{"condition": "true", "stepKey": "missing"}]}),
            "missing",
        ),
        (
            json!({"displayName": "x", "policyType": "POLICY_TYPE_GRANT", "policySteps": {"grant": {"steps": [{"approval": {"users": {"userIds": ["nobody"]}}}]}}}),
            "nobody",
        ),
        (
            json!({"displayName": "x", "policyType": "POLICY_TYPE_REVOKE", "policySteps": {"revoke": {"steps": [{"accept": {}}]}}, "rules": [{"condition": "true", "policyId": a}]}),
            "own type",
        ),
        (
            json!({"displayName": "x", "policyType": "POLICY_TYPE_GRANT", "policySteps": {"grant": {"steps": [{"form": {}}]}}}),
            "not supported",
        ),
        (
            json!({"displayName": "x", "policyType": "POLICY_TYPE_GRANT", "bogus": 1}),
            "bogus",
        ),
    ];
    for (body, needle) in cases {
        let (st, v) = s
            .call(&s.admin, "POST", "/api/v1/policies", Some(body.clone()))
            .await;
        assert!(st == 400 || st == 404, "{body} -> {st} {v}");
        assert!(
            v["message"].as_str().unwrap_or("").contains(needle),
            "{body} -> {v}"
        );
    }
    assert_eq!(count().await, before);
    // A cycle through an update is refused and the policy is unchanged.
    let (st, v) = s
        .call(&s.admin, "POST", &format!("/api/v1/policies/{a}"), Some(json!({"policy": {"rules": [{"condition": "true", "policyId": b}]}, "updateMask": "rules"})))
        .await;
    assert_eq!(st, 400, "{v}");
    assert!(v["message"].as_str().unwrap().contains("cycle"), "{v}");
    let got = s.ok("GET", &format!("/api/v1/policies/{a}"), None).await;
    assert_eq!(got["policy"]["rules"], json!([]));
    // A referenced policy cannot be deleted.
    let (st, v) = s
        .call(&s.admin, "DELETE", &format!("/api/v1/policies/{a}"), None)
        .await;
    assert_eq!((st, v["code"].clone()), (400, json!(9)), "{v}");
    assert!(
        v["message"].as_str().unwrap().contains("referenced by"),
        "{v}"
    );
    s.ok("DELETE", &format!("/api/v1/policies/{b}"), None).await;
    s.ok("DELETE", &format!("/api/v1/policies/{a}"), None).await;
}

/// The on-call seed end to end: one profile requestable only by people on the schedule, one
/// auto-enrolled from the schedule with auto-approval; the rotation moves and membership and
/// access follow, with the task history saying why.
pub async fn on_call_access_profiles(s: &TestServer) {
    let (alice, alice_tok) = s
        .user_with_token("alice@example.com", &["basic-user"])
        .await;
    let (bob, bob_tok) = s.user_with_token("bob@example.com", &["basic-user"]).await;
    // The on-call platform, synced from a file: its schedule is an entitlement, Alice on call.
    // Its accounts are linked to Alice and Bob by email (identity matching).
    let pd = s.create_app("PagerDuty").await;
    let conn = s
        .create_connector(
            &pd,
            "connectors",
            json!({"displayName": "PagerDuty export"}),
        )
        .await;
    let header = "User ID,Email Address,First Name,Last Name,User Status,User Type,Resource Type,Resource Name,Entitlement,Entitlement Display Name\n";
    let rotation = |on_call: &str, off: &str| {
        format!(
            "{header}{on_call},{on_call}@example.com,{on_call},X,Active,,Schedule,Primary,on-call,Primary on-call\n\
             {off},{off}@example.com,{off},Y,Active,,,,,\n"
        )
    };
    let (st, v) = crate::sync::upload_file(s, &pd, &conn, &rotation("alice", "bob")).await;
    assert_eq!(st, 200, "{v}");
    s.wait_identity().await;
    let ents = s
        .ok("GET", &format!("/api/v1/apps/{pd}/entitlements"), None)
        .await;
    let schedule = ents["list"]
        .as_array()
        .unwrap()
        .iter()
        .find(|e| e["appEntitlement"]["displayName"] == "Primary on-call")
        .unwrap()["appEntitlement"]["id"]
        .as_str()
        .unwrap()
        .to_string();
    assert!(
        holds(s, &pd, &schedule, &alice).await,
        "alice's account is linked and on call"
    );
    // Production access both could hold.
    let (prod, admin) = app_with_account(s, "Production", &[&alice, &bob]).await;
    let readonly = s.create_entitlement(&prod, "read-only").await;

    // "On-call": requestable only by holders of the schedule.
    let c = s
        .ok(
            "POST",
            "/api/v1/catalogs",
            Some(json!({"displayName": "On-call", "published": true, "requestBundle": true})),
        )
        .await;
    let oncall = c["requestCatalogView"]["requestCatalog"]["id"]
        .as_str()
        .unwrap()
        .to_string();
    s.ok(
        "POST",
        &format!("/api/v1/catalogs/{oncall}/requestable_entries"),
        Some(json!({"appEntitlements": [{"appId": prod, "id": admin}]})),
    )
    .await;
    s.ok(
        "POST",
        &format!("/api/v1/catalogs/{oncall}/visibility_bindings"),
        Some(json!({"accessEntitlements": [{"appId": pd, "id": schedule}]})),
    )
    .await;
    let (st, v) = s
        .call(
            &alice_tok,
            "POST",
            "/api/v1/task/grant",
            Some(json!({"appId": prod, "appEntitlementId": admin, "description": "incident"})),
        )
        .await;
    assert_eq!(st, 200, "{v}");
    assert_eq!(task_of(&v)["state"], "TASK_STATE_OPEN");
    let (st, v) = s
        .call(
            &bob_tok,
            "POST",
            "/api/v1/task/grant",
            Some(json!({"appId": prod, "appEntitlementId": admin})),
        )
        .await;
    assert_eq!(st, 403, "{v}");
    assert!(
        v["message"].as_str().unwrap().contains("not requestable"),
        "{v}"
    );

    // "On-call auto": joiner auto-approval, membership automation from the schedule.
    let c = s
        .ok(
            "POST",
            "/api/v1/catalogs",
            Some(json!({"displayName": "On-call auto", "published": true})),
        )
        .await;
    let auto = c["requestCatalogView"]["requestCatalog"]["id"]
        .as_str()
        .unwrap()
        .to_string();
    let enroll_ent = c["requestCatalogView"]["requestCatalog"]["enrollmentEntitlementId"]
        .as_str()
        .unwrap()
        .to_string();
    s.ok(
        "POST",
        &format!("/api/v1/catalogs/{auto}/requestable_entries"),
        Some(json!({"appEntitlements": [{"appId": prod, "id": readonly}]})),
    )
    .await;
    let p = s
        .ok(
            "POST",
            "/api/v1/policies",
            Some(json!({
                "displayName": "Auto approval",
                "policyType": "POLICY_TYPE_GRANT",
                "policySteps": {"grant": {"steps": [{"accept": {"acceptMessage": "on call"}}]}}
            })),
        )
        .await;
    let builtin = "0000000000000000Chamberlain";
    set_entitlement(
        s,
        builtin,
        &enroll_ent,
        json!({"grantPolicyId": p["policy"]["id"]}),
        "grantPolicyId",
    )
    .await;
    s.ok(
        "POST",
        &format!("/api/v1/catalogs/{auto}/bundle_automation"),
        Some(json!({
            "entitlements": {"entitlementRefs": [{"appId": pd, "id": schedule}]},
            "enabled": true,
            "createTasks": true
        })),
    )
    .await;
    s.ok(
        "POST",
        &format!("/api/v1/catalogs/{auto}/bundle_automation/run"),
        Some(json!({})),
    )
    .await;
    assert!(
        holds(s, builtin, &enroll_ent, &alice).await,
        "alice is enrolled"
    );
    assert!(
        holds(s, &prod, &readonly, &alice).await,
        "alice is provisioned"
    );
    assert!(!holds(s, &prod, &readonly, &bob).await);

    // The next sync moves the rotation to Bob; membership and access follow.
    let (st, v) = crate::sync::upload_file(s, &pd, &conn, &rotation("bob", "alice")).await;
    assert_eq!(st, 200, "{v}");
    let mut moved = false;
    for _ in 0..100 {
        tokio::time::sleep(Duration::from_millis(200)).await;
        if holds(s, &prod, &readonly, &bob).await && !holds(s, &prod, &readonly, &alice).await {
            moved = true;
            break;
        }
    }
    assert!(moved, "access did not follow the rotation");
    assert!(holds(s, builtin, &enroll_ent, &bob).await);
    assert!(!holds(s, builtin, &enroll_ent, &alice).await);
    // Bob now sees and can request "On-call" entitlements; Alice no longer can.
    let (st, _) = s
        .call(
            &bob_tok,
            "POST",
            "/api/v1/task/grant",
            Some(json!({"appId": prod, "appEntitlementId": admin})),
        )
        .await;
    assert_eq!(st, 200);
    // History: why Alice lost read-only.
    let v = s
        .ok(
            "POST",
            "/api/v1/search/tasks",
            Some(json!({"taskTypes": [{"revoke": {}}], "subjectIds": [alice]})),
        )
        .await;
    let list = v["list"].as_array().unwrap();
    let text = v.to_string();
    assert!(
        list.len() >= 2,
        "unenrollment and the read-only revocation: {v}"
    );
    assert!(text.contains("no longer meets its rule"), "{text}");
    assert!(text.contains("left access profile"), "{text}");
    assert!(
        list.iter()
            .all(|t| t["task"]["origin"] == "TASK_ORIGIN_PROFILE_MEMBERSHIP_AUTOMATION"),
        "{v}"
    );
}

/// Every step type and task action: reassignment (reason, allowed reassignees), distinct
/// approvers, expression and group approvers, self-approval refused at assignment, duration
/// changes, waits (condition and duration) and skipping them, a rule routing to a reject
/// step, emergency escalation, comments.
pub async fn policy_steps_and_task_actions(s: &TestServer) {
    let (req, req_tok) = s
        .user_with_token("steps-req@example.com", &["basic-user"])
        .await;
    let (a1, a1_tok) = s
        .user_with_token("steps-a1@example.com", &["basic-user"])
        .await;
    let (a2, a2_tok) = s
        .user_with_token("steps-a2@example.com", &["basic-user"])
        .await;
    let (a3, a3_tok) = s
        .user_with_token("steps-a3@example.com", &["basic-user"])
        .await;
    let (blocked, blocked_tok) = s
        .user_with_token("blocked@example.com", &["basic-user"])
        .await;
    let (_o, out_tok) = s
        .user_with_token("steps-out@example.com", &["basic-user"])
        .await;
    let (app, ent) = app_with_account(s, "Ledger", &[&req, &blocked, &a1]).await;
    let p = s
        .ok(
            "POST",
            "/api/v1/policies",
            Some(json!({
                "displayName": "Every step",
                "policyType": "POLICY_TYPE_GRANT",
                "policySteps": {
                    "grant": {"steps": [
                        {"approval": {"users": {"userIds": [a1]}, "allowReassignment": true, "requireReassignmentReason": true, "allowedReassignees": [a2, a3]}},
                        {"approval": {"users": {"userIds": [a2, a3], "requireDistinctApprovers": true}}},
                        {"approval": {"expression": {"expressions": ["c1.directory.users.v1.FindByEmail(\"steps-a3@example.com\")"]}}},
                        {"wait": {"condition": {"condition": "false"}, "timeoutDuration": "3600s", "commentOnFirstWait": "waiting for the change window"}},
                        {"wait": {"duration": {"duration": "60s"}}},
                        {"provision": {}}
                    ]},
                    "deny": {"steps": [{"reject": {"rejectMessage": "blocked users may not have this"}}]}
                },
                "rules": [{"condition": "subject.email.startsWith(\"blocked\")", "stepKey": "deny"}]
            })),
        )
        .await;
    set_entitlement(
        s,
        &app,
        &ent,
        json!({"grantPolicyId": p["policy"]["id"], "durationGrant": "7200s"}),
        "grantPolicyId,durationGrant",
    )
    .await;

    // The rule routes a blocked user to the reject step.
    let (_, v) = s
        .call(
            &blocked_tok,
            "POST",
            "/api/v1/task/grant",
            Some(json!({"appId": app, "appEntitlementId": ent})),
        )
        .await;
    assert_eq!(
        task_of(&v)["type"]["grant"]["outcome"],
        "GRANT_OUTCOME_DENIED",
        "{v}"
    );
    let bt = task_of(&v)["id"].as_str().unwrap().to_string();
    let log = s
        .ok("POST", "/api/v1/task/audits", Some(json!({"taskId": bt})))
        .await
        .to_string();
    assert!(
        log.contains("approvalAutoRejectedByPolicy") && log.contains("rule 1 matched"),
        "{log}"
    );

    let (_, v) = s
        .call(
            &req_tok,
            "POST",
            "/api/v1/task/grant",
            Some(json!({"appId": app, "appEntitlementId": ent, "grantDuration": "3600s"})),
        )
        .await;
    let tid = task_of(&v)["id"].as_str().unwrap().to_string();
    assert_eq!(task_of(&v)["stepApproverIds"], json!([a1]));
    let act = |name: &str| format!("/api/v1/tasks/{tid}/action/{name}");
    // Reassignment: reason required, only to allowed reassignees.
    let (st, v) = s
        .call(
            &a1_tok,
            "POST",
            &act("reassign"),
            Some(json!({"newStepUserIds": [a2]})),
        )
        .await;
    assert_eq!(st, 400, "{v}");
    let (st, v) = s
        .call(
            &a1_tok,
            "POST",
            &act("reassign"),
            Some(json!({"newStepUserIds": [req], "comment": "x"})),
        )
        .await;
    assert_eq!(st, 400, "{v}");
    assert!(
        v["message"]
            .as_str()
            .unwrap()
            .contains("allowed reassignees"),
        "{v}"
    );
    let (st, v) = s
        .call(
            &a1_tok,
            "POST",
            &act("reassign"),
            Some(json!({"newStepUserIds": [a2], "comment": "on leave"})),
        )
        .await;
    assert_eq!(st, 200, "{v}");
    assert_eq!(task_of(&v)["stepApproverIds"], json!([a2]));
    let (st, _) = s
        .call(&a1_tok, "POST", &act("approve"), Some(json!({})))
        .await;
    assert_eq!(st, 403, "a1 is no longer assigned");
    let (st, v) = s
        .call(&a2_tok, "POST", &act("approve"), Some(json!({})))
        .await;
    assert_eq!(st, 200, "{v}");
    // Distinct approvers: a2 approved the first step, so the second is a3's alone.
    assert_eq!(task_of(&v)["stepApproverIds"], json!([a3]), "{v}");
    // Duration: only the current approvers; never above the maximum.
    let (st, _) = s
        .call(
            &a2_tok,
            "POST",
            &act("update-grant-duration"),
            Some(json!({"duration": "1800s"})),
        )
        .await;
    assert_eq!(st, 403);
    let (st, v) = s
        .call(
            &a3_tok,
            "POST",
            &act("update-grant-duration"),
            Some(json!({"duration": "9000s"})),
        )
        .await;
    assert_eq!(st, 400, "{v}");
    let (st, v) = s
        .call(
            &a3_tok,
            "POST",
            &act("update-grant-duration"),
            Some(json!({"duration": "1800s"})),
        )
        .await;
    assert_eq!(st, 200, "{v}");
    assert_eq!(task_of(&v)["type"]["grant"]["grantDuration"], "1800s");
    let v = s
        .call(&a3_tok, "POST", &act("approve"), Some(json!({})))
        .await
        .1;
    // The expression approver resolved to a3.
    assert_eq!(task_of(&v)["stepApproverIds"], json!([a3]), "{v}");
    assert!(
        task_of(&v)["policy"]["current"]["approval"]["assignmentReason"]
            .as_str()
            .unwrap()
            .contains("expression")
    );
    let v = s
        .call(&a3_tok, "POST", &act("approve"), Some(json!({})))
        .await
        .1;
    // The condition wait holds the task.
    let t = task_of(&v);
    assert_eq!(t["processing"], "TASK_PROCESSING_TYPE_WAITING", "{t}");
    assert_eq!(
        t["policy"]["current"]["wait"]["state"],
        "WAIT_INSTANCE_STATE_WAITING"
    );
    // Comments: empty refused; outsiders cannot see the task.
    let (st, _) = s
        .call(
            &req_tok,
            "POST",
            &act("comment"),
            Some(json!({"comment": " "})),
        )
        .await;
    assert_eq!(st, 400);
    let (st, _) = s
        .call(
            &out_tok,
            "POST",
            &act("comment"),
            Some(json!({"comment": "hi"})),
        )
        .await;
    assert_eq!(st, 404);
    let v = s
        .call(
            &req_tok,
            "POST",
            &act("comment"),
            Some(json!({"comment": "any news?"})),
        )
        .await
        .1;
    assert_eq!(
        task_of(&v)["commentCount"],
        2,
        "the reassignment reason and this comment"
    );
    // Only admins skip steps.
    let (st, _) = s
        .call(&a3_tok, "POST", &act("skip-step"), Some(json!({})))
        .await;
    assert_eq!(st, 403);
    let v = s
        .ok(
            "POST",
            &act("skip-step"),
            Some(json!({"comment": "window opened early"})),
        )
        .await;
    let t = task_of(&v);
    let w = &t["policy"]["current"]["wait"];
    assert_eq!(w["state"], "WAIT_INSTANCE_STATE_WAITING", "{t}");
    assert!(
        w["timeout"].is_string(),
        "a duration wait ends at a set time: {w}"
    );
    let v = s.ok("POST", &act("skip-step"), Some(json!({}))).await;
    assert_eq!(
        task_of(&v)["type"]["grant"]["outcome"],
        "GRANT_OUTCOME_GRANTED",
        "{v}"
    );
    assert_eq!(task_of(&v)["approverIds"], json!([a2, a3, a3]));
    let g = s
        .ok(
            "POST",
            "/api/v1/search/grants",
            Some(json!({"entitlementRefs": [{"appId": app, "id": ent}], "userId": req})),
        )
        .await;
    assert!(
        g["list"][0]["appEntitlementUserBinding"]["deprovisionAt"].is_string(),
        "the grant ends"
    );

    // Group approvers: holders of the group entitlement, never the requester.
    let base = s
        .ok("GET", &format!("/api/v1/apps/{app}/entitlements"), None)
        .await["list"]
        .as_array()
        .unwrap()
        .iter()
        .find(|e| e["appEntitlement"]["displayName"] == "base")
        .unwrap()["appEntitlement"]["id"]
        .as_str()
        .unwrap()
        .to_string();
    let gp = s
        .ok("POST", "/api/v1/policies", Some(json!({"displayName": "Group", "policyType": "POLICY_TYPE_GRANT",
            "policySteps": {"grant": {"steps": [{"approval": {"group": {"appId": app, "appGroupId": base}}}]}}})))
        .await;
    let ent2 = s.create_entitlement(&app, "auditor").await;
    set_entitlement(
        s,
        &app,
        &ent2,
        json!({"grantPolicyId": gp["policy"]["id"]}),
        "grantPolicyId",
    )
    .await;
    let (_, v) = s
        .call(
            &req_tok,
            "POST",
            "/api/v1/task/grant",
            Some(json!({"appId": app, "appEntitlementId": ent2})),
        )
        .await;
    let approvers = task_of(&v)["stepApproverIds"].as_array().unwrap().clone();
    assert!(
        approvers.contains(&json!(a1)) && approvers.contains(&json!(blocked)),
        "{v}"
    );
    assert!(!approvers.contains(&json!(req)), "{v}");
    assert!(
        task_of(&v)["policy"]["current"]["approval"]["assignmentReason"]
            .as_str()
            .unwrap()
            .contains("their own")
    );

    // Emergency access: escalation switches to the emergency policy.
    let auto = s
        .ok(
            "POST",
            "/api/v1/policies",
            Some(
                json!({"displayName": "Break glass", "policyType": "POLICY_TYPE_GRANT",
            "policySteps": {"grant": {"steps": [{"accept": {"acceptMessage": "emergency"}}]}}}),
            ),
        )
        .await;
    let ent3 = s.create_entitlement(&app, "break-glass").await;
    set_entitlement(s, &app, &ent3, json!({"grantPolicyId": p["policy"]["id"], "emergencyGrantEnabled": true, "emergencyGrantPolicyId": auto["policy"]["id"]}), "grantPolicyId,emergencyGrantEnabled,emergencyGrantPolicyId").await;
    let (_, v) = s
        .call(
            &req_tok,
            "POST",
            "/api/v1/task/grant",
            Some(json!({"appId": app, "appEntitlementId": ent3})),
        )
        .await;
    let t3 = task_of(&v)["id"].as_str().unwrap().to_string();
    assert_eq!(task_of(&v)["state"], "TASK_STATE_OPEN");
    let (st, _) = s
        .call(
            &a1_tok,
            "POST",
            &format!("/api/v1/tasks/{t3}/action/escalate"),
            Some(json!({})),
        )
        .await;
    assert_eq!(st, 403, "only the requester escalates");
    let (st, v) = s
        .call(
            &req_tok,
            "POST",
            &format!("/api/v1/tasks/{t3}/action/escalate"),
            Some(json!({"comment": "outage"})),
        )
        .await;
    assert_eq!(st, 200, "{v}");
    assert_eq!(task_of(&v)["emergencyAccess"], true);
    assert_eq!(
        task_of(&v)["type"]["grant"]["outcome"],
        "GRANT_OUTCOME_GRANTED",
        "{v}"
    );
    // Not offered: refused.
    let (_, v) = s
        .call(
            &req_tok,
            "POST",
            "/api/v1/task/grant",
            Some(json!({"appId": app, "appEntitlementId": ent2, "emergencyAccess": true})),
        )
        .await;
    assert!(
        v["message"].as_str().unwrap_or("").contains("emergency"),
        "{v}"
    );
}

/// Per-entitlement automation: holders of the rule's entitlement get the target entitlement,
/// and lose it when they stop holding the rule's.
pub async fn entitlement_automation_grants_and_revokes(s: &TestServer) {
    let (a, _) = s.user_with_token("ea-a@example.com", &["basic-user"]).await;
    let (b, _) = s.user_with_token("ea-b@example.com", &["basic-user"]).await;
    let (app, org) = app_with_account(s, "Org", &[&a, &b]).await;
    // `org` (the "admin" entitlement of the helper) goes to both.
    s.ok(
        "POST",
        &format!("/api/v1/apps/{app}/entitlements/{org}/add-manual-user"),
        Some(json!({"userIds": [a, b]})),
    )
    .await;
    let wiki = s.create_entitlement(&app, "wiki").await;
    s.ok(
        "POST",
        &format!("/api/v1/apps/{app}/entitlements/{wiki}/automation/create"),
        Some(json!({"automation": {"entitlements": {"entitlementRefs": [{"appId": app, "id": org}]}}})),
    )
    .await;
    let mut ok = false;
    for _ in 0..100 {
        tokio::time::sleep(Duration::from_millis(200)).await;
        if holds(s, &app, &wiki, &a).await && holds(s, &app, &wiki, &b).await {
            ok = true;
            break;
        }
    }
    assert!(ok, "the automation did not grant wiki");
    let acct_b = s
        .ok(
            "POST",
            "/api/v1/search/grants",
            Some(json!({"entitlementRefs": [{"appId": app, "id": org}], "userId": b})),
        )
        .await["list"][0]["appEntitlementUserBinding"]["appUserId"]
        .as_str()
        .unwrap()
        .to_string();
    s.ok(
        "DELETE",
        &format!("/api/v1/apps/{app}/entitlements/{org}/remove-membership"),
        Some(json!({"appUserId": acct_b})),
    )
    .await;
    let mut gone = false;
    for _ in 0..100 {
        tokio::time::sleep(Duration::from_millis(200)).await;
        if !holds(s, &app, &wiki, &b).await {
            gone = true;
            break;
        }
    }
    assert!(gone, "the automation did not revoke wiki");
    assert!(holds(s, &app, &wiki, &a).await);
    let v = s
        .ok(
            "POST",
            "/api/v1/search/tasks",
            Some(json!({"appEntitlementIds": [wiki], "subjectIds": [b]})),
        )
        .await;
    let text = v.to_string();
    assert!(
        text.contains("TASK_ORIGIN_AUTOMATION") && text.contains("no longer meets its rule"),
        "{text}"
    );
}

/// Delegated provisioning: the requested entitlement is carried by another app's entitlement
/// (through a binding the engine creates), granted and revoked there.
pub async fn delegated_provisioning_through_a_binding(s: &TestServer) {
    let (u, tok) = s.user_with_token("dlg@example.com", &["basic-user"]).await;
    let (okta, _) = app_with_account(s, "Okta", &[&u]).await;
    let group = s.create_entitlement(&okta, "Engineering group").await;
    let (github, repo) = app_with_account(s, "GitHub", &[&u]).await;
    let p = s
        .ok("POST", "/api/v1/policies", Some(json!({"displayName": "Delegated", "policyType": "POLICY_TYPE_GRANT",
            "policySteps": {"grant": {"steps": [{"accept": {}}, {"provision": {"provisionPolicy": {"delegated": {"appId": okta, "entitlementId": group}}}}]}}})))
        .await;
    set_entitlement(
        s,
        &github,
        &repo,
        json!({"grantPolicyId": p["policy"]["id"], "revokePolicyId": ""}),
        "grantPolicyId",
    )
    .await;
    let (st, v) = s
        .call(
            &tok,
            "POST",
            "/api/v1/task/grant",
            Some(json!({"appId": github, "appEntitlementId": repo})),
        )
        .await;
    assert_eq!(st, 200, "{v}");
    let t = task_of(&v);
    assert_eq!(
        t["type"]["grant"]["outcome"], "GRANT_OUTCOME_GRANTED",
        "{t}"
    );
    assert_eq!(
        t["policy"]["history"][1]["provision"]["method"], "delegated",
        "{t}"
    );
    assert!(holds(s, &okta, &group, &u).await, "the carrier is granted");
    let g = s
        .ok(
            "POST",
            "/api/v1/search/grants",
            Some(json!({"entitlementRefs": [{"appId": github, "id": repo}], "userId": u})),
        )
        .await;
    assert_eq!(
        g["list"][0]["appEntitlementUserBinding"]["grantSources"][0]["id"],
        group.as_str(),
        "{g}"
    );
    // Giving it back removes the carrier, and with it the implied grant.
    let (st, v) = s
        .call(
            &tok,
            "POST",
            "/api/v1/task/revoke",
            Some(json!({"appId": github, "appEntitlementId": repo})),
        )
        .await;
    assert_eq!(st, 200, "{v}");
    assert!(!holds(s, &okta, &group, &u).await);
    assert!(!holds(s, &github, &repo, &u).await);
    // A delegated step without its entitlement is refused on save.
    let (st, v) = s
        .call(&s.admin, "POST", "/api/v1/policies", Some(json!({"displayName": "bad", "policyType": "POLICY_TYPE_GRANT",
            "policySteps": {"grant": {"steps": [{"provision": {"provisionPolicy": {"delegated": {"appId": okta}}}}]}}})))
        .await;
    assert_eq!(st, 400, "{v}");
}

/// Moves a task's clock: its current approval was assigned, or its wait started, `secs` ago.
async fn age_current_step(s: &TestServer, task_id: &str, secs: i64) {
    use chamberlain_store::repo::tasks;
    let id = task_id.to_string();
    chamberlain_store::write_tx!(
        s.store,
        &chamberlain_store::AuditCtx::system("test clock"),
        |tx| {
            let stored = tasks::get_tx(tx, &id).await?.unwrap();
            let mut t = stored.task.clone();
            let past = chamberlain_model::Timestamp::now().plus_seconds(-secs);
            if let Some(cur) = t.policy.as_mut().and_then(|p| p.current.as_mut()) {
                if let Some(a) = cur.approval.as_mut() {
                    a.assigned_at = Some(past);
                }
                if let Some(w) = cur.wait.as_mut() {
                    w.timeout = Some(past);
                }
            }
            tasks::update(tx, &t, stored.version).await
        }
    )
    .unwrap();
}

/// The worker applies escalations whose deadline passed (reassign, skip, cancel) and ends waits
/// whose time came (a condition wait that timed out closes the task).
pub async fn escalations_and_wait_timeouts(s: &TestServer) {
    let (req, req_tok) = s
        .user_with_token("esc-req@example.com", &["basic-user"])
        .await;
    let (a1, _) = s
        .user_with_token("esc-a1@example.com", &["basic-user"])
        .await;
    let (a2, _) = s
        .user_with_token("esc-a2@example.com", &["basic-user"])
        .await;
    let (app, _) = app_with_account(s, "Escalations", &[&req]).await;
    let escalating = |esc: Value| {
        json!({"displayName": "Escalating", "policyType": "POLICY_TYPE_GRANT",
        "policySteps": {"grant": {"steps": [
            {"approval": {"users": {"userIds": [a1]}, "escalationEnabled": true, "escalation": esc}},
            {"wait": {"duration": {"duration": "3600s"}}}
        ]}}})
    };
    let mut tasks_by_case = Vec::new();
    for (name, esc) in [
        (
            "reassign",
            json!({"expiration": "60s", "reassignToApprovers": {"approverIds": [a2]}, "escalationComment": "no answer"}),
        ),
        ("skip", json!({"expiration": "60s", "skipStep": {}})),
        ("cancel", json!({"expiration": "60s", "cancelTicket": {}})),
    ] {
        let p = s
            .ok("POST", "/api/v1/policies", Some(escalating(esc)))
            .await;
        let ent = s.create_entitlement(&app, name).await;
        set_entitlement(
            s,
            &app,
            &ent,
            json!({"grantPolicyId": p["policy"]["id"]}),
            "grantPolicyId",
        )
        .await;
        let (_, v) = s
            .call(
                &req_tok,
                "POST",
                "/api/v1/task/grant",
                Some(json!({"appId": app, "appEntitlementId": ent})),
            )
            .await;
        let tid = task_of(&v)["id"].as_str().unwrap().to_string();
        age_current_step(s, &tid, 120).await;
        tasks_by_case.push((name, tid));
    }
    let get = |tid: String| async move {
        s.ok("GET", &format!("/api/v1/tasks/{tid}"), None).await["taskView"]["task"].clone()
    };
    let mut settled = false;
    for _ in 0..100 {
        tokio::time::sleep(Duration::from_millis(200)).await;
        let r = get(tasks_by_case[0].1.clone()).await;
        let k = get(tasks_by_case[1].1.clone()).await;
        let c = get(tasks_by_case[2].1.clone()).await;
        if r["stepApproverIds"] == json!([a2])
            && k["policy"]["current"]["wait"].is_object()
            && c["state"] == "TASK_STATE_CLOSED"
        {
            assert_eq!(c["type"]["grant"]["outcome"], "GRANT_OUTCOME_CANCELLED");
            settled = true;
            break;
        }
    }
    assert!(settled, "escalations were not applied");
    let log = s
        .ok(
            "POST",
            "/api/v1/task/audits",
            Some(json!({"taskId": tasks_by_case[0].1})),
        )
        .await
        .to_string();
    assert!(
        log.contains("slaEscalation") && log.contains("no answer"),
        "{log}"
    );
    // The skipped task now waits an hour; when its time comes it is provisioned.
    let skipped = tasks_by_case[1].1.clone();
    age_current_step(s, &skipped, 1).await;
    let mut granted = false;
    for _ in 0..100 {
        tokio::time::sleep(Duration::from_millis(200)).await;
        if get(skipped.clone()).await["type"]["grant"]["outcome"] == "GRANT_OUTCOME_GRANTED" {
            granted = true;
            break;
        }
    }
    assert!(granted, "the wait did not end");
    // A condition wait that times out closes the task as timed out.
    let p = s
        .ok("POST", "/api/v1/policies", Some(json!({"displayName": "Wait for a condition", "policyType": "POLICY_TYPE_GRANT",
            "policySteps": {"grant": {"steps": [{"wait": {"condition": {"condition": "false"}, "timeoutDuration": "600s", "commentOnTimeout": "gave up"}}]}}})))
        .await;
    let ent = s.create_entitlement(&app, "conditional").await;
    set_entitlement(
        s,
        &app,
        &ent,
        json!({"grantPolicyId": p["policy"]["id"]}),
        "grantPolicyId",
    )
    .await;
    let (_, v) = s
        .call(
            &req_tok,
            "POST",
            "/api/v1/task/grant",
            Some(json!({"appId": app, "appEntitlementId": ent})),
        )
        .await;
    let tid = task_of(&v)["id"].as_str().unwrap().to_string();
    age_current_step(s, &tid, 1).await;
    let mut timed_out = false;
    for _ in 0..100 {
        tokio::time::sleep(Duration::from_millis(200)).await;
        if get(tid.clone()).await["type"]["grant"]["outcome"] == "GRANT_OUTCOME_WAIT_TIMED_OUT" {
            timed_out = true;
            break;
        }
    }
    assert!(timed_out, "the condition wait did not time out");
}

/// Bad requests to the task endpoints are refused, naming what to fix, and open nothing.
pub async fn task_bad_input_is_refused(s: &TestServer) {
    let (req, tok) = s
        .user_with_token("bad-task@example.com", &["basic-user"])
        .await;
    let (app, ent) = app_with_account(s, "Refusals", &[&req]).await;
    let cases: Vec<(&str, &str, Value, u16, &str)> = vec![
        (
            "POST",
            "/api/v1/task/grant",
            json!({"appEntitlementId": ent}),
            400,
            "appId",
        ),
        (
            "POST",
            "/api/v1/task/grant",
            json!({"appId": app}),
            400,
            "appEntitlementId",
        ),
        (
            "POST",
            "/api/v1/task/grant",
            json!({"appId": app, "appEntitlementId": ent, "grantDuration": "1h"}),
            400,
            "grantDuration",
        ),
        (
            "POST",
            "/api/v1/task/grant",
            json!({"appId": app, "appEntitlementId": ent, "grantDuration": "-5s"}),
            400,
            "positive",
        ),
        (
            "POST",
            "/api/v1/task/grant",
            json!({"appId": app, "appEntitlementId": ent, "bogus": 1}),
            400,
            "bogus",
        ),
        (
            "POST",
            "/api/v1/task/grant",
            json!({"appId": app, "appEntitlementId": "0000000000000000000000nope1"}),
            404,
            "not found",
        ),
        (
            "POST",
            "/api/v1/task/revoke",
            json!({"appId": app, "appEntitlementId": ent}),
            400,
            "nothing to revoke",
        ),
        (
            "POST",
            "/api/v1/search/tasks",
            json!({"taskStates": ["OPEN"]}),
            400,
            "TASK_STATE_OPEN",
        ),
        (
            "POST",
            "/api/v1/search/tasks",
            json!({"currentStep": "WAITING"}),
            400,
            "currentStep",
        ),
        (
            "POST",
            "/api/v1/search/tasks",
            json!({"emergencyStatus": "SOMETIMES"}),
            400,
            "emergencyStatus",
        ),
        (
            "POST",
            "/api/v1/search/tasks",
            json!({"sortBy": "TASK_SEARCH_SORT_BY_ACCOUNT"}),
            400,
            "sortBy",
        ),
        (
            "POST",
            "/api/v1/search/tasks",
            json!({"accessReviewIds": ["x"]}),
            400,
            "accessReviewIds",
        ),
        (
            "POST",
            "/api/v1/search/tasks",
            json!({"taskTypes": ["grant"]}),
            400,
            "taskTypes",
        ),
        ("POST", "/api/v1/task/audits", json!({}), 400, "taskId"),
        (
            "GET",
            "/api/v1/tasks/0000000000000000000000nope1",
            Value::Null,
            404,
            "not found",
        ),
        (
            "POST",
            "/api/v1/tasks/0000000000000000000000nope1/action/approve",
            json!({}),
            404,
            "not found",
        ),
    ];
    for (method, path, body, status, needle) in cases {
        let b = if body.is_null() {
            None
        } else {
            Some(body.clone())
        };
        let (st, v) = s.call(&tok, method, path, b).await;
        assert_eq!(st, status, "{method} {path} {body} -> {v}");
        assert!(
            v["message"].as_str().unwrap_or("").contains(needle),
            "{method} {path} {body}: {needle} not in {v}"
        );
    }
    let v = s
        .ok(
            "POST",
            "/api/v1/search/tasks",
            Some(json!({"subjectIds": [req]})),
        )
        .await;
    assert_eq!(v["list"].as_array().unwrap().len(), 0, "nothing was opened");
}

/// `POST /api/v1/task/grant/preview`: the policy a request would go through, in words, with
/// the same refusals as submitting, and nothing opened or recorded.
pub async fn grant_previews_show_the_policy_and_change_nothing(s: &TestServer) {
    let (req_id, req_tok) = s.user_with_token("prev@example.com", &["basic-user"]).await;
    let (appr_id, _) = s.user_with_token("boss@example.com", &["basic-user"]).await;
    let (app, ent) = app_with_account(s, "Ledger", &[&req_id]).await;
    let policy = s
        .ok(
            "POST",
            "/api/v1/policies",
            Some(json!({
                "displayName": "Boss approves",
                "policyType": "POLICY_TYPE_GRANT",
                "policySteps": {"grant": {"steps": [{"approval": {"users": {"userIds": [appr_id]}}}]}}
            })),
        )
        .await;
    let pid = policy["policy"]["id"].as_str().unwrap().to_string();
    set_entitlement(
        s,
        &app,
        &ent,
        json!({"grantPolicyId": pid, "durationGrant": "7200s", "description": "Books"}),
        "grantPolicyId,durationGrant,description",
    )
    .await;
    let (events, tasks_before) = (s.event_count().await, task_count(s).await);
    let body = json!({"appId": app, "appEntitlementId": ent});
    let (st, v) = s
        .call(
            &req_tok,
            "POST",
            "/api/v1/task/grant/preview",
            Some(body.clone()),
        )
        .await;
    assert_eq!(st, 200, "{v}");
    assert_eq!(v["outcome"], "REQUIRES_APPROVAL", "{v}");
    assert_eq!(v["steps"][0]["description"], "Approval by boss", "{v}");
    assert_eq!(v["policy"]["displayName"], "Boss approves");
    assert_eq!(v["maxGrantDuration"], "7200s");
    assert_eq!(v["grantDuration"], "7200s", "no length asked: the maximum");
    assert_eq!(v["appEntitlement"]["description"], "Books");
    assert_eq!(v["app"]["displayName"], "Ledger");
    assert_eq!(v["emergencyAccessAvailable"], false);
    assert_eq!(s.event_count().await, events, "a preview records nothing");
    assert_eq!(task_count(s).await, tasks_before, "a preview opens nothing");

    // An accept step first: approved without anyone.
    let auto = s
        .ok(
            "POST",
            "/api/v1/policies",
            Some(
                json!({"displayName": "Auto", "policyType": "POLICY_TYPE_GRANT",
                "policySteps": {"grant": {"steps": [{"accept": {}}]}}}),
            ),
        )
        .await;
    set_entitlement(
        s,
        &app,
        &ent,
        json!({"grantPolicyId": auto["policy"]["id"]}),
        "grantPolicyId",
    )
    .await;
    let (_, v) = s
        .call(
            &req_tok,
            "POST",
            "/api/v1/task/grant/preview",
            Some(body.clone()),
        )
        .await;
    assert_eq!(v["outcome"], "AUTO_APPROVE", "{v}");

    // The same refusals as submitting, each naming what to fix.
    for (b, status, says) in [
        (json!({"appId": app}), 400, "appEntitlementId"),
        (
            json!({"appId": app, "appEntitlementId": ent, "grantDuration": "90000s"}),
            400,
            "longer than the maximum",
        ),
        (
            json!({"appId": app, "appEntitlementId": ent, "emergencyAccess": true}),
            400,
            "does not offer emergency access",
        ),
        (
            json!({"appId": app, "appEntitlementId": "nope"}),
            404,
            "nope",
        ),
        (
            json!({"appId": app, "appEntitlementId": ent, "surprise": 1}),
            400,
            "surprise",
        ),
    ] {
        let (st, v) = s
            .call(
                &req_tok,
                "POST",
                "/api/v1/task/grant/preview",
                Some(b.clone()),
            )
            .await;
        assert_eq!(st, status, "{b} → {v}");
        assert!(
            v["message"].as_str().unwrap_or("").contains(says),
            "{b} → {v}"
        );
    }
    // Hidden in a catalog the requester cannot see: not requestable, as for a submission.
    let c = s
        .ok(
            "POST",
            "/api/v1/catalogs",
            Some(json!({"displayName": "Finance only", "published": true})),
        )
        .await;
    let cat = c["requestCatalogView"]["requestCatalog"]["id"]
        .as_str()
        .unwrap()
        .to_string();
    s.ok(
        "POST",
        &format!("/api/v1/catalogs/{cat}/requestable_entries"),
        Some(json!({"appEntitlements": [{"appId": app, "id": ent}]})),
    )
    .await;
    let (st, v) = s
        .call(&req_tok, "POST", "/api/v1/task/grant/preview", Some(body))
        .await;
    assert_eq!(st, 403, "{v}");
    assert!(
        v["message"].as_str().unwrap().contains("not requestable"),
        "{v}"
    );
}

async fn task_count(s: &TestServer) -> usize {
    s.ok(
        "POST",
        "/api/v1/search/tasks",
        Some(json!({"pageSize": 100})),
    )
    .await["list"]
        .as_array()
        .map(Vec::len)
        .unwrap_or(0)
}
