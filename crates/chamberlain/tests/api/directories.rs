//! Directories and identity resolution through the API (the directory seed, end to end).

use super::harness::TestServer;
use serde_json::{json, Value};

const HR_HEADER: &str = "User ID,Email Address,Full Name,User Status,User Type,Employee ID,Department,Job Title,Manager Email";

/// An app with one spreadsheet connector, synced from `csv`; returns (app id, connector id).
async fn synced_app(s: &TestServer, name: &str, csv: &str) -> (String, String) {
    let app = s.create_app(name).await;
    let conn = s
        .create_connector(&app, "connectors", json!({"displayName": "sheet"}))
        .await;
    resync(s, &app, &conn, csv).await;
    (app, conn)
}

async fn resync(s: &TestServer, app: &str, conn: &str, csv: &str) {
    let (st, v) = s
        .raw(
            "POST",
            &format!("/api/v1/apps/{app}/connectors/{conn}/file"),
            csv.as_bytes().to_vec(),
        )
        .await;
    assert_eq!(st, 200, "{v}");
}

async fn user(s: &TestServer, id: &str) -> Value {
    s.ok("GET", &format!("/api/v1/users/{id}"), None).await["userView"]["user"].clone()
}

/// Every account of `app`, keyed by email.
async fn accounts(s: &TestServer, app: &str) -> std::collections::HashMap<String, Value> {
    let v = s
        .ok(
            "GET",
            &format!("/api/v1/apps/{app}/app_users?pageSize=100"),
            None,
        )
        .await;
    v["list"]
        .as_array()
        .unwrap()
        .iter()
        .map(|a| {
            let a = &a["appUser"];
            (a["email"].as_str().unwrap().to_lowercase(), a.clone())
        })
        .collect()
}

async fn owner(s: &TestServer, app: &str, email: &str) -> String {
    accounts(s, app).await[email]["identityUserId"]
        .as_str()
        .unwrap()
        .to_string()
}

async fn latest_run(s: &TestServer) -> Value {
    let v = s.ok("GET", "/api/v1/directories/runs", None).await;
    let run = v["list"][0].clone();
    assert_eq!(run["state"], "DONE", "{run}");
    run
}

pub async fn directories_create_match_ignore_and_remove(s: &TestServer) {
    let bob = s.local_user("Bob@Acme.com", "Bob Local", &[]).await;
    let hr_csv = format!(
        "{HR_HEADER}\n\
         u1,ann@acme.com,Ann Lee,Active,,E1,Eng,Engineer,carl@acme.com\n\
         u2,bob@acme.com,Bob Ray,Active,,E2,Sales,Rep,\n\
         u3,carl@acme.com,Carl Diaz,Active,,E3,Eng,Director,\n\
         c1,connie@vendor.com,Connie Doe,Active,,E4,Contractors,Consultant,\n\
         svc,ci-bot@acme.com,CI bot,Active,Service,,,,\n"
    );
    let hr = s.create_app("HR").await;
    let conn = s
        .create_connector(&hr, "connectors", json!({"displayName": "sheet"}))
        .await;

    // Only an app that completed a sync can be a directory; nothing changes on refusal.
    let before = s.event_count().await;
    let (st, e) = s
        .call(
            &s.admin,
            "POST",
            "/api/v1/directories",
            Some(json!({"appId": hr})),
        )
        .await;
    assert_eq!(st, 400, "{e}");
    assert!(
        e["message"]
            .as_str()
            .unwrap()
            .contains("never completed a sync"),
        "{e}"
    );
    assert_eq!(s.event_count().await, before);

    resync(s, &hr, &conn, &hr_csv).await;
    // A missing profile key is an error in CEL (the CI bot has no department): `has()` guards.
    let filter = r#"has(subject.profile.department) && subject.profile.department == "Contractors" ? "MATCH_ONLY" : "CREATE""#;
    let v = s
        .ok(
            "POST",
            "/api/v1/directories",
            Some(json!({"appId": hr, "celExpression": {"expression": filter}, "expandMask": {"paths": ["app"]}})),
        )
        .await;
    let d = &v["directoryView"]["directory"];
    assert_eq!(d["appId"], hr.as_str());
    assert_eq!(d["celExpression"]["expression"], filter);
    assert_eq!(v["directoryView"]["appPath"], "$.expanded[0]");
    assert_eq!(v["expanded"][0]["isDirectory"], true);

    // Two directories on one app are refused.
    let (st, e) = s
        .call(
            &s.admin,
            "POST",
            "/api/v1/directories",
            Some(json!({"appId": hr})),
        )
        .await;
    assert_eq!(st, 409, "{e}");
    assert!(
        e["message"]
            .as_str()
            .unwrap()
            .contains("already a directory"),
        "{e}"
    );

    s.wait_identity().await;
    let run = latest_run(s).await;
    let c = &run["counts"];
    assert_eq!(c["usersCreated"], 3, "ann, carl and the CI bot: {run}");
    assert_eq!(
        c["accountsMatched"], 1,
        "bob matched case-insensitively: {run}"
    );
    assert_eq!(
        c["accountsIgnored"], 1,
        "MATCH_ONLY contractor without a match: {run}"
    );

    let acc = accounts(s, &hr).await;
    assert_eq!(acc["bob@acme.com"]["identityUserId"], bob.as_str());
    assert_eq!(
        acc["connie@vendor.com"]["identityUserId"], "",
        "not represented"
    );
    let ann_id = acc["ann@acme.com"]["identityUserId"]
        .as_str()
        .unwrap()
        .to_string();
    let carl_id = acc["carl@acme.com"]["identityUserId"]
        .as_str()
        .unwrap()
        .to_string();
    let ann = user(s, &ann_id).await;
    assert_eq!(ann["origin"], "USER_ORIGIN_DIRECTORY");
    assert_eq!(ann["email"], "ann@acme.com");
    assert_eq!(ann["displayName"], "Ann Lee");
    assert_eq!(ann["department"], "Eng");
    assert_eq!(ann["jobTitle"], "Engineer");
    assert_eq!(ann["employeeIds"], json!(["E1"]));
    assert_eq!(
        ann["managerIds"],
        json!([carl_id]),
        "manager resolved by email"
    );
    assert_eq!(ann["directoryIds"], json!([hr]));
    assert_eq!(ann["status"], "ENABLED");
    assert_eq!(ann["departmentSources"][0]["appId"], hr.as_str());
    assert_eq!(ann["departmentSources"][0]["value"], "Eng");
    assert_eq!(
        ann["emailSources"][0]["appUserId"],
        acc["ann@acme.com"]["id"]
    );
    let svc = user(
        s,
        acc["ci-bot@acme.com"]["identityUserId"].as_str().unwrap(),
    )
    .await;
    assert_eq!(svc["type"], "USER_TYPE_SERVICE");
    let b = user(s, &bob).await;
    assert_eq!(
        b["origin"], "USER_ORIGIN_LOCAL",
        "a matched user keeps its origin"
    );
    assert_eq!(b["department"], "Sales");
    assert_eq!(b["displayName"], "Bob Ray", "the directory's name wins");

    // Resolution emitted events for the automation and access features.
    let events =
        chamberlain_store::repo::jobs::events_after(&s.store, "", std::time::Duration::ZERO, 1000)
            .await
            .unwrap();
    let listed = |kind: &str, field: &str| -> usize {
        events
            .iter()
            .filter(|e| e.kind == kind)
            .map(|e| e.doc[field].as_array().map_or(0, |a| a.len()))
            .sum()
    };
    assert_eq!(listed("user.created", "userIds"), 3);
    assert!(
        listed("account.linked", "links") >= 4,
        "ann, bob, carl and the CI bot"
    );

    // A re-run with nothing changed changes nothing.
    let v = s
        .ok(
            "PUT",
            &format!("/api/v1/directories/{hr}"),
            Some(json!({"celExpression": {"expression": filter}})),
        )
        .await;
    assert_eq!(
        v["directoryView"]["directory"]["celExpression"]["expression"],
        filter
    );

    // Let that re-run finish first, so the next run is the one that sees the new condition.
    s.wait_identity().await;

    // The condition changes: Eng is no longer imported. Its directory users are removed
    // (status DELETED, still readable), and their accounts unlinked.
    let v = s
        .ok(
            "PUT",
            &format!("/api/v1/directories/{hr}"),
            Some(json!({"celExpression": {"expression": "has(subject.profile.department) && subject.profile.department == \"Eng\" ? \"IGNORE\" : \"CREATE\""}})),
        )
        .await;
    assert!(v["directoryView"]["directory"]["all"].is_null());
    s.wait_identity().await;
    let run = latest_run(s).await;
    assert_eq!(run["counts"]["usersRemoved"], 2, "{run}");
    let ann = user(s, &ann_id).await;
    assert_eq!(ann["status"], "DELETED");
    assert_eq!(ann["directoryStatus"], "DELETED");
    assert_eq!(ann["email"], "ann@acme.com", "history kept");
    assert_eq!(owner(s, &hr, "ann@acme.com").await, "");
    assert_eq!(user(s, &bob).await["status"], "ENABLED");

    // Import everything again: the removed users come back (matched by email), not duplicated.
    s.ok(
        "PUT",
        &format!("/api/v1/directories/{hr}"),
        Some(json!({"all": {}})),
    )
    .await;
    s.wait_identity().await;
    let run = latest_run(s).await;
    assert_eq!(run["counts"]["usersCreated"], 0, "{run}");
    assert_eq!(
        run["counts"]["accountsMatched"], 2,
        "the removed users are matched again: {run}"
    );
    assert_eq!(owner(s, &hr, "ann@acme.com").await, ann_id);
    assert_eq!(user(s, &ann_id).await["status"], "ENABLED");

    // An account disabled in the directory disables its user; a sync triggers the run.
    let disabled = hr_csv.replace(
        "u3,carl@acme.com,Carl Diaz,Active",
        "u3,carl@acme.com,Carl Diaz,Disabled",
    );
    resync(s, &hr, &conn, &disabled).await;
    s.wait_identity().await;
    assert_eq!(user(s, &carl_id).await["status"], "DISABLED");

    // Deleting the directory removes the users only it imported; the local user stays.
    s.ok("DELETE", &format!("/api/v1/directories/{hr}"), None)
        .await;
    let (st, _) = s
        .call(&s.admin, "GET", &format!("/api/v1/directories/{hr}"), None)
        .await;
    assert_eq!(st, 404);
    s.wait_identity().await;
    assert_eq!(user(s, &ann_id).await["status"], "DELETED");
    let b = user(s, &bob).await;
    assert_eq!(b["status"], "ENABLED");
    assert_eq!(b["directoryIds"], json!([]));
}

pub async fn directory_merge_rules_conflicts_and_preview(s: &TestServer) {
    // Existing people: two with the same display name, one with a plain email, two sharing
    // nothing but what the rules below look at.
    let dana1 = s.local_user("dana.smith@acme.com", "Dana Smith", &[]).await;
    let dana2 = s.local_user("dsmith@acme.com", "Dana Smith", &[]).await;
    let erin = s.local_user("erin@acme.com", "Erin Wu", &[]).await;
    let by_id = s.local_user("frank@old.example", "Frank Id", &["E9"]).await;
    let by_mail = s.local_user("frank@acme.com", "Frank Mail", &[]).await;
    let csv = format!(
        "{HR_HEADER}\n\
         d,dana@acme.com,Dana Smith,Active,,,,,\n\
         e,Erin+hr@ACME.com,Erin W,Active,,,,,\n\
         f,frank@acme.com,Frank,Active,,E9,,,\n\
         g,gus@acme.com,Gus,Active,,,,,\n"
    );
    let (hr, _) = synced_app(s, "HRIS", &csv).await;
    let rules = json!({"matchCases": [
        {"appUserKeyCel": "subject.employeeIds", "userKeyCel": "subject.employeeIds"},
        {"appUserKeyCel": "removePlusSuffix(subject.emails)", "userKeyCel": "removePlusSuffix(subject.emails)"},
        {"appUserKeyCel": "subject.displayName", "userKeyCel": "subject.displayName"},
    ]});
    let body = json!({"appId": hr, "celExpression": {"expression": "subject.email.endsWith(\"@gus.example\") ? \"CREATE\" : \"MATCH_ONLY\""}, "mergeConfig": rules});

    // The preview says what would happen and changes nothing.
    s.wait_identity().await;
    let events = s.event_count().await;
    let p = s
        .ok("POST", "/api/v1/directories/preview", Some(body.clone()))
        .await;
    let run = &p["run"];
    assert_eq!(run["dryRun"], true);
    assert_eq!(run["counts"]["accountsMatched"], 2, "erin and frank: {run}");
    assert_eq!(run["counts"]["conflicts"], 1, "dana: {run}");
    assert_eq!(
        run["counts"]["accountsIgnored"], 1,
        "gus: MATCH_ONLY without a match: {run}"
    );
    assert_eq!(run["counts"]["usersCreated"], 0);
    assert_eq!(run["samples"]["ignore"][0]["email"], "gus@acme.com");
    assert_eq!(s.event_count().await, events, "a preview writes nothing");
    let v = s.ok("GET", "/api/v1/directories", None).await;
    assert_eq!(v["list"], json!([]));

    let v = s.ok("POST", "/api/v1/directories", Some(body)).await;
    assert_eq!(v["directoryView"]["directory"]["mergeConfig"], rules);
    s.wait_identity().await;
    let run = latest_run(s).await;
    // Rule order: frank's employee ID (rule 1) wins over his email (rule 2).
    assert_eq!(owner(s, &hr, "frank@acme.com").await, by_id);
    let _ = by_mail;
    // "Remove + suffix" and case-insensitive emails.
    assert_eq!(owner(s, &hr, "erin+hr@acme.com").await, erin);
    // Two users share the display name: linked to neither, reported with both.
    assert_eq!(owner(s, &hr, "dana@acme.com").await, "");
    let conflict = &run["conflicts"][0];
    assert_eq!(conflict["matchCase"], 2);
    let mut candidates: Vec<String> = conflict["candidateUserIds"]
        .as_array()
        .unwrap()
        .iter()
        .map(|v| v.as_str().unwrap().to_string())
        .collect();
    candidates.sort();
    let mut want = vec![dana1, dana2];
    want.sort();
    assert_eq!(candidates, want);
    assert_eq!(run["conflictTotal"], 1);

    // A condition that returns something other than the allowed values is an error for that
    // account, reported per account; the run still completes.
    s.ok(
        "PUT",
        &format!("/api/v1/directories/{hr}"),
        Some(json!({"celExpression": {"expression": "subject.displayName == \"Gus\" ? \"CREATE\" : subject.email"}})),
    )
    .await;
    s.wait_identity().await;
    let run = latest_run(s).await;
    assert_eq!(run["counts"]["accountErrors"], 3, "{run}");
    let msg = run["accountErrors"][0]["message"].as_str().unwrap();
    assert!(
        msg.contains("MATCH_ONLY"),
        "names the allowed values: {msg}"
    );
    assert_eq!(
        owner(s, &hr, "erin+hr@acme.com").await,
        erin,
        "an error keeps the link"
    );

    // Several directories: the higher-priority one wins each attribute; all are listed.
    let okta_csv = format!(
        "{HR_HEADER}\n\
         o1,erin+hr@acme.com,Erin Wu-Okta,Active,,,Platform,,\n"
    );
    let (okta, _) = synced_app(s, "Okta", &okta_csv).await;
    s.ok(
        "PUT",
        &format!("/api/v1/directories/{hr}"),
        Some(json!({"all": {}, "priority": 2})),
    )
    .await;
    s.ok(
        "POST",
        "/api/v1/directories",
        Some(json!({"appId": okta, "priority": 1})),
    )
    .await;
    s.wait_identity().await;
    let e = user(s, &erin).await;
    assert_eq!(e["displayName"], "Erin Wu-Okta");
    assert_eq!(e["department"], "Platform");
    assert_eq!(e["directoryIds"], json!([okta, hr]));
    assert_eq!(e["emailSources"][0]["appId"], okta.as_str());
    assert_eq!(e["emailSources"][1]["appId"], hr.as_str());
    assert_eq!(e["emailSources"][1]["priority"], 1);
    let list = s.ok("GET", "/api/v1/directories", None).await;
    assert_eq!(list["list"].as_array().unwrap().len(), 2);
}

pub async fn accounts_in_other_apps_are_linked(s: &TestServer) {
    let ann = s.local_user("ann@acme.com", "Ann Lee", &[]).await;
    let bo1 = s.local_user("bo1@acme.com", "Bo Kim", &[]).await;
    let bo2 = s.local_user("bo2@acme.com", "Bo Kim", &[]).await;
    let csv = "User ID,Email Address,Username,Full Name,User Type\n\
               a,ANN@acme.com,ann,Ann L.,\n\
               b,bo@other.example,bokim,Bo Kim,\n\
               c,ci@acme.com,ann,CI,Service\n\
               d,ann.alias@acme.com,ann@acme.com,Someone,\n";
    let (gh, conn) = synced_app(s, "GitHub", csv).await;
    s.wait_identity().await;
    // Narrow (default): email, then username; service accounts are never linked to people.
    assert_eq!(owner(s, &gh, "ann@acme.com").await, ann);
    assert_eq!(owner(s, &gh, "bo@other.example").await, "");
    assert_eq!(owner(s, &gh, "ci@acme.com").await, "");
    assert_eq!(
        owner(s, &gh, "ann.alias@acme.com").await,
        "",
        "no user has that email or username"
    );
    let runs = s
        .ok("GET", &format!("/api/v1/apps/{gh}/identity_runs"), None)
        .await;
    assert_eq!(runs["list"][0]["state"], "DONE");

    // Broad adds display names: Bo Kim is ambiguous and stays unlinked, reported.
    s.ok(
        "POST",
        &format!("/api/v1/apps/{gh}"),
        Some(json!({"app": {"identityMatching": "APP_USER_IDENTITY_MATCHING_DISPLAY_NAME"}, "updateMask": "identityMatching"})),
    )
    .await;
    s.wait_identity().await;
    assert_eq!(owner(s, &gh, "bo@other.example").await, "");
    let runs = s
        .ok("GET", &format!("/api/v1/apps/{gh}/identity_runs"), None)
        .await;
    let c = &runs["list"][0]["conflicts"][0];
    assert_eq!(c["appUserDisplayName"], "Bo Kim");
    let mut candidates: Vec<&str> = c["candidateUserIds"]
        .as_array()
        .unwrap()
        .iter()
        .map(|v| v.as_str().unwrap())
        .collect();
    candidates.sort();
    let mut want = vec![bo1.as_str(), bo2.as_str()];
    want.sort();
    assert_eq!(candidates, want);

    // Custom rules may link a service account.
    s.ok(
        "POST",
        &format!("/api/v1/apps/{gh}"),
        Some(json!({"app": {"identityMatching": "APP_USER_IDENTITY_MATCHING_CUSTOM", "appUserMapper": {"mappingCases": [
            {"appUserKeyCel": "subject.usernames", "userKeyCel": "subject.email.split(\"@\")[0]"}
        ]}}, "updateMask": "identityMatching,appUserMapper"})),
    )
    .await;
    s.wait_identity().await;
    assert_eq!(owner(s, &gh, "ci@acme.com").await, ann);

    // Bad rules are refused with the position, and nothing changes.
    let before = s.event_count().await;
    let (st, e) = s
        .call(
            &s.admin,
            "POST",
            &format!("/api/v1/apps/{gh}"),
            Some(json!({"app": {"appUserMapper": {"mappingCases": [{"appUserKeyCel": "subject.usernmes", "userKeyCel": "subject.email"}]}}, "updateMask": "appUserMapper"})),
        )
        .await;
    assert_eq!(st, 400, "{e}");
    let msg = e["message"].as_str().unwrap();
    assert!(
        msg.contains("appUserKeyCel") && msg.contains("line 1, column"),
        "{msg}"
    );
    assert_eq!(s.event_count().await, before);

    // An admin's link is kept by automatic matching.
    let accs = accounts(s, &gh).await;
    let b = accs["bo@other.example"]["id"].as_str().unwrap();
    s.ok(
        "POST",
        &format!("/api/v1/apps/{gh}/app_users/{b}"),
        Some(json!({"appUser": {"identityUserId": bo1}, "updateMask": "identityUserId"})),
    )
    .await;
    resync(s, &gh, &conn, &format!("{csv}e,eve@acme.com,eve,Eve,\n")).await;
    s.wait_identity().await;
    assert_eq!(owner(s, &gh, "bo@other.example").await, bo1);
}

pub async fn directory_bad_input_is_refused(s: &TestServer) {
    let (hr, _) = synced_app(
        s,
        "HR",
        &format!("{HR_HEADER}\nu1,ann@acme.com,Ann,Active,,,,,\n"),
    )
    .await;
    let before = s.event_count().await;
    let cases: Vec<(Value, &str)> = vec![
        (
            json!({"appId": hr, "celExpression": {"expression": "subject.email =="}}),
            "line 1",
        ),
        (
            json!({"appId": hr, "celExpression": {"expression": "subject.departmnt == \"x\""}}),
            "departmnt",
        ),
        (
            json!({"appId": hr, "celExpression": {"expression": "1 + 2"}}),
            "celExpression",
        ),
        (
            json!({"appId": hr, "celExpression": {"expression": "\"MAYBE\""}}),
            "celExpression",
        ),
        (
            json!({"appId": hr, "celExpression": {"expression": "  "}}),
            "empty",
        ),
        (
            json!({"appId": hr, "celExpression": {"expression": "c1.directory.users.v1.FindByEmail(subject.email).email == subject.email"}}),
            "not available",
        ),
        (
            json!({"appId": hr, "all": {}, "celExpression": {"expression": "true"}}),
            "not both",
        ),
        (
            json!({"appId": hr, "mergeConfig": {"matchCases": [{"appUserKeyCel": "", "userKeyCel": "subject.email"}]}}),
            "needs both keys",
        ),
        (
            json!({"appId": hr, "mergeConfig": {"matchCases": [{"appUserKeyCel": "subject.email", "userKeyCel": "nobody.email"}]}}),
            "userKeyCel",
        ),
        (json!({"appId": hr, "extra": 1}), "extra"),
        (json!({}), "appId"),
        (json!({"appId": "nope"}), "nope"),
    ];
    for (body, needle) in cases {
        let (st, e) = s
            .call(&s.admin, "POST", "/api/v1/directories", Some(body.clone()))
            .await;
        assert!(st == 400 || st == 404, "{body} → {st} {e}");
        let msg = e["message"].as_str().unwrap_or_default();
        assert!(msg.contains(needle), "{body}: `{needle}` not in `{msg}`");
    }
    // Previews check the same way.
    let (st, e) = s
        .call(
            &s.admin,
            "POST",
            "/api/v1/directories/preview",
            Some(json!({"appId": hr, "celExpression": {"expression": "subject.email +"}})),
        )
        .await;
    assert_eq!(st, 400, "{e}");
    assert_eq!(s.event_count().await, before, "refusals change nothing");
    let v = s.ok("GET", "/api/v1/directories", None).await;
    assert_eq!(v["list"], json!([]));

    // An update is checked the same way and leaves the directory as it was.
    s.ok("POST", "/api/v1/directories", Some(json!({"appId": hr})))
        .await;
    s.wait_identity().await;
    let saved = s
        .ok("GET", &format!("/api/v1/directories/{hr}"), None)
        .await;
    let before = s.event_count().await;
    let updates: Vec<(Value, &str)> = vec![
        (
            json!({"celExpression": {"expression": "subject.emails.size() >"}}),
            "line 1",
        ),
        (
            json!({"all": {}, "celExpression": {"expression": "true"}}),
            "not both",
        ),
        (
            json!({"mergeConfig": {"matchCases": [{"appUserKeyCel": "subject.email", "userKeyCel": "  "}]}}),
            "needs both keys",
        ),
        (json!({"priority": -1}), "priority"),
        (json!({"priority": "first"}), "priority"),
        (json!({"appId": hr}), "appId"),
    ];
    for (body, needle) in updates {
        let (st, e) = s
            .call(
                &s.admin,
                "PUT",
                &format!("/api/v1/directories/{hr}"),
                Some(body.clone()),
            )
            .await;
        assert_eq!(st, 400, "{body} → {e}");
        let msg = e["message"].as_str().unwrap_or_default();
        assert!(msg.contains(needle), "{body}: `{needle}` not in `{msg}`");
    }
    assert_eq!(
        s.event_count().await,
        before,
        "refused updates change nothing"
    );
    let after = s
        .ok("GET", &format!("/api/v1/directories/{hr}"), None)
        .await;
    assert_eq!(after, saved);

    // Only Super Admins designate directories.
    let (_, tok) = s
        .user_with_token("viewer@acme.com", &["read-only-admin"])
        .await;
    let (st, _) = s
        .call(
            &tok,
            "POST",
            "/api/v1/directories",
            Some(json!({"appId": hr})),
        )
        .await;
    assert_eq!(st, 403);
    let (st, _) = s.call(&tok, "GET", "/api/v1/directories", None).await;
    assert_eq!(st, 200);
}

/// The owner as the database columns hold it: (identity_user_id, link_source, linked_at).
async fn owner_columns(s: &TestServer, app_user_id: &str) -> (String, String, Option<i64>) {
    use sqlx::Row;
    let row =
        sqlx::query("SELECT identity_user_id, link_source, linked_at FROM app_users WHERE id = $1")
            .bind(app_user_id)
            .fetch_one(s.store.pool())
            .await
            .unwrap();
    (
        row.try_get(0).unwrap(),
        row.try_get(1).unwrap(),
        row.try_get(2).unwrap(),
    )
}

/// Resolution sets an account's owner in columns without rewriting its document: every way the
/// API reads accounts shows the owner and the link's time, a sync that rewrites the document
/// keeps the owner, and unlinking works the same way.
pub async fn account_owner_lives_in_columns(s: &TestServer) {
    let ann = s.local_user("ann@acme.com", "Ann Lee", &[]).await;
    let csv = "User ID,Email Address,Username,Full Name,User Type\n\
               a,ann@acme.com,ann,Ann L.,\n\
               z,zed@other.example,zed,Zed,\n";
    let (wiki, conn) = synced_app(s, "Wiki", csv).await;
    s.wait_identity().await;
    let accs = accounts(s, &wiki).await;
    let a = accs["ann@acme.com"].clone();
    let a_id = a["id"].as_str().unwrap().to_string();
    assert_eq!(a["identityUserId"], ann.as_str());
    assert_eq!(accs["zed@other.example"]["identityUserId"], "");
    let (col, source, linked_at) = owner_columns(s, &a_id).await;
    assert_eq!((col.as_str(), source.as_str()), (ann.as_str(), "matching"));
    let linked_at = linked_at.expect("the link's time is recorded");
    assert_eq!(
        a["updatedAt"].as_str().unwrap(),
        chamberlain_model::Timestamp::from_micros(linked_at).to_string(),
        "updatedAt is the link's time: {a}"
    );

    // Every read path agrees: one account, a user's accounts, search by user, entitlement
    // members' expansion through the user.
    let one = s
        .ok(
            "GET",
            &format!("/api/v1/apps/{wiki}/users/{ann}/app_users"),
            None,
        )
        .await;
    assert_eq!(one["list"].as_array().unwrap().len(), 1, "{one}");
    assert_eq!(one["list"][0]["appUser"]["identityUserId"], ann.as_str());
    let found = s
        .ok(
            "POST",
            "/api/v1/search/app_users",
            Some(json!({"appIds": [wiki], "userIds": [ann]})),
        )
        .await;
    assert_eq!(found["list"].as_array().unwrap().len(), 1, "{found}");
    assert_eq!(found["list"][0]["appUser"]["id"], a_id.as_str());
    assert_eq!(found["list"][0]["appUser"]["identityUserId"], ann.as_str());

    // A sync that changes the account rewrites its document and keeps its owner.
    let renamed = "User ID,Email Address,Username,Full Name,User Type\n\
                   a,ann@acme.com,ann,Ann Lee II,\n\
                   z,zed@other.example,zed,Zed,\n";
    resync(s, &wiki, &conn, renamed).await;
    s.wait_identity().await;
    let a = accounts(s, &wiki).await["ann@acme.com"].clone();
    assert_eq!(a["displayName"], "Ann Lee II");
    assert_eq!(a["identityUserId"], ann.as_str());
    assert_eq!(owner_columns(s, &a_id).await.0, ann);

    // The account's email changes to one nobody has: unlinked, in the column and in every read.
    let events = s.event_count().await;
    let moved = "User ID,Email Address,Username,Full Name,User Type\n\
                 a,someone@else.example,someone,Ann Lee II,\n\
                 z,zed@other.example,zed,Zed,\n";
    resync(s, &wiki, &conn, moved).await;
    s.wait_identity().await;
    let a = accounts(s, &wiki).await["someone@else.example"].clone();
    assert_eq!(a["identityUserId"], "", "{a}");
    let (col, source, linked_at) = owner_columns(s, &a_id).await;
    assert_eq!((col.as_str(), source.as_str()), ("", ""));
    assert_eq!(
        a["updatedAt"].as_str().unwrap(),
        chamberlain_model::Timestamp::from_micros(linked_at.unwrap()).to_string()
    );
    let mine = s
        .ok(
            "GET",
            &format!("/api/v1/apps/{wiki}/users/{ann}/app_users"),
            None,
        )
        .await;
    assert_eq!(
        mine["list"].as_array().map(Vec::len).unwrap_or(0),
        0,
        "{mine}"
    );
    assert!(
        s.event_count().await > events,
        "the sync and the unlink are audited"
    );
    let log = s
        .ok(
            "POST",
            "/api/v1/systemlog/events",
            Some(
                json!({"objectId": wiki, "sortDirection": "SORT_DIRECTION_DESC", "pageSize": 100}),
            ),
        )
        .await;
    let unlink = log["list"]
        .as_array()
        .unwrap()
        .iter()
        .find(|e| e["entity"]["type"] == "app user links")
        .unwrap_or_else(|| panic!("the unlink is in the system log: {log}"));
    assert_eq!(
        unlink["entity"]["data"]["links"][0],
        json!({"appUserId": a_id, "identityUserId": ann}),
        "{unlink}"
    );
    assert_eq!(unlink["entity_result"]["data"]["links"][0]["userId"], "");

    // An admin's link is written the same way and shows everywhere.
    s.ok(
        "POST",
        &format!("/api/v1/apps/{wiki}/app_users/{a_id}"),
        Some(json!({"appUser": {"identityUserId": ann}, "updateMask": "identityUserId"})),
    )
    .await;
    s.wait_identity().await;
    let a = accounts(s, &wiki).await["someone@else.example"].clone();
    assert_eq!(a["identityUserId"], ann.as_str());
    let (col, source, _) = owner_columns(s, &a_id).await;
    assert_eq!((col.as_str(), source.as_str()), (ann.as_str(), "manual"));
}
