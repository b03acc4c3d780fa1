//! `POST /api/v1/policies/validate/cel`: the CEL checker over HTTP.

use super::harness::TestServer;
use serde_json::{json, Value};

const PATH: &str = "/api/v1/policies/validate/cel";

pub async fn cel_validation_reports_markers(s: &TestServer) {
    // A valid policy condition: no markers.
    let v = s
        .ok(
            "POST",
            PATH,
            Some(json!({"text": "subject.department == \"SRE\" && c1.user.v1.HasApp(subject, \"app1\")"})),
        )
        .await;
    assert_eq!(v, json!({"markers": []}));

    // A typo on the third line: one marker on exactly the misspelled field.
    let text = "subject.department == \"SRE\" &&\n  subject.job_title.startsWith(\"Eng\") &&\n  subject.departmnt != \"\"";
    let v = s.ok("POST", PATH, Some(json!({ "text": text }))).await;
    let markers = v["markers"].as_array().unwrap();
    assert_eq!(markers.len(), 1, "{v}");
    let m = &markers[0];
    assert_eq!(m["startLineNumber"], 3);
    assert_eq!(m["startColumn"], 11);
    assert_eq!(m["endLineNumber"], 3);
    assert_eq!(m["endColumn"], 20);
    assert_eq!(m["severity"], "ERROR");
    let msg = m["message"].as_str().unwrap();
    assert!(
        msg.contains("departmnt") && msg.contains("did you mean `department`"),
        "{msg}"
    );

    // Syntax errors carry their position.
    let v = s
        .ok("POST", PATH, Some(json!({"text": "subject.id ==\n  (1 +"})))
        .await;
    let m = &v["markers"][0];
    assert_eq!(m["startLineNumber"], 2, "{v}");
    assert!(
        m["message"].as_str().unwrap().contains("syntax error"),
        "{v}"
    );

    // A string is not a policy condition.
    let v = s
        .ok("POST", PATH, Some(json!({"text": "subject.email"})))
        .await;
    assert!(
        v["markers"][0]["message"]
            .as_str()
            .unwrap()
            .contains("must return bool"),
        "{v}"
    );

    // The purpose extension: a directory account filter may return an import decision...
    let v = s
        .ok(
            "POST",
            PATH,
            Some(json!({"text": "subject.email.endsWith(\"@acme.com\") ? \"CREATE\" : \"MATCH_ONLY\"", "purpose": "directory_account_filter"})),
        )
        .await;
    assert_eq!(v["markers"], json!([]), "{v}");
    // ... but not any string, and automation triggers cannot call directory functions.
    let v = s
        .ok(
            "POST",
            PATH,
            Some(json!({"text": "\"MAYBE\"", "purpose": "directory_account_filter"})),
        )
        .await;
    assert!(
        v["markers"][0]["message"]
            .as_str()
            .unwrap()
            .contains("MAYBE"),
        "{v}"
    );
    let v = s
        .ok(
            "POST",
            PATH,
            Some(json!({"text": "c1.directory.users.v1.FindByEmail(ctx.trigger.email).department == \"IT\"", "purpose": "automation_trigger"})),
        )
        .await;
    assert!(
        v["markers"][0]["message"]
            .as_str()
            .unwrap()
            .contains("not available in automation_trigger"),
        "{v}"
    );

    // Unknown purposes and unknown fields are refused with 400 and the valid choices.
    let (st, e) = s
        .call(
            &s.admin,
            "POST",
            PATH,
            Some(json!({"text": "true", "purpose": "policy"})),
        )
        .await;
    assert_eq!(st, 400, "{e}");
    assert_eq!(e["code"], 3);
    let msg = e["message"].as_str().unwrap();
    assert!(
        msg.contains("policy_condition") && msg.contains("hook_filter"),
        "{msg}"
    );
    let (st, _) = s
        .call(
            &s.admin,
            "POST",
            PATH,
            Some(json!({"text": "true", "txt": 1})),
        )
        .await;
    assert_eq!(st, 400);

    // Any authenticated caller may validate; anonymous callers may not.
    let (_, basic) = s
        .user_with_token("cel-basic@example.com", &["basic-user"])
        .await;
    let (st, v) = s
        .call(&basic, "POST", PATH, Some(json!({"text": "true"})))
        .await;
    assert_eq!((st, v), (200, json!({"markers": []})));
    let (st, _): (u16, Value) = s
        .call("", "POST", PATH, Some(json!({"text": "true"})))
        .await;
    assert_eq!(st, 401);
}
