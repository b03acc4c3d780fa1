//! Evaluation: purposes, inputs, outcomes.

mod common;

use chamberlain_cel::{EvalError, Expression, ImportDecision, Input, Purpose, Subject};
use chamberlain_model::app::AppUserStatusValue;
use common::*;

#[test]
fn expressions_are_cheap_shared_values() {
    fn assert_send_sync_clone<T: Send + Sync + Clone>() {}
    assert_send_sync_clone::<Expression>();
    let x = compile(Purpose::DynamicGroup, "subject.department == \"Eng\"");
    assert_eq!(x.source(), "subject.department == \"Eng\"");
    assert_eq!(x.purpose(), Purpose::DynamicGroup);
    assert_eq!(x.variables(), vec!["subject"]);
    let users: Vec<_> = (0..8)
        .map(|i| user(&format!("u{i}"), "x@acme.com"))
        .collect();
    std::thread::scope(|s| {
        for u in &users {
            let x = x.clone();
            s.spawn(move || {
                let out = x
                    .evaluate(&Input {
                        subject: Some(Subject::User(u)),
                        ..Default::default()
                    })
                    .unwrap();
                assert!(!out.as_bool().unwrap());
            });
        }
    });
}

#[test]
fn purpose_names_round_trip() {
    for p in Purpose::ALL {
        assert_eq!(Purpose::from_name(p.name()), Some(*p));
    }
    assert_eq!(Purpose::ALL.len(), 13);
    assert_eq!(
        Purpose::DirectoryAccountFilter.name(),
        "directory_account_filter"
    );
    assert_eq!(Purpose::from_name("policy"), None);
}

#[test]
fn directory_account_filter_decisions() {
    let a = account("a1", "okta", "", AppUserStatusValue::Enabled);
    let decide = |src: &str| {
        compile(Purpose::DirectoryAccountFilter, src)
            .evaluate(&Input {
                subject: Some(Subject::Account(&a)),
                ..Default::default()
            })
            .unwrap()
            .as_import_decision()
    };
    assert_eq!(decide("true").unwrap(), ImportDecision::Create);
    assert_eq!(decide("false").unwrap(), ImportDecision::Ignore);
    assert_eq!(decide("\"CREATE\"").unwrap(), ImportDecision::Create);
    assert_eq!(decide("\"MATCH_ONLY\"").unwrap(), ImportDecision::MatchOnly);
    assert_eq!(decide("\"IGNORE\"").unwrap(), ImportDecision::Ignore);
    assert_eq!(
        decide(
            "subject.status.status == \"APP_USER_STATUS_ENABLED\" ? \"MATCH_ONLY\" : \"IGNORE\""
        )
        .unwrap(),
        ImportDecision::MatchOnly
    );
    // a dynamic string the checker could not see
    let e = decide("subject.id + \"x\"").unwrap_err();
    assert_eq!(
        e.to_string(),
        "a directory account filter returned the string \"a1x\"; allowed: true, false, \"CREATE\", \"MATCH_ONLY\", \"IGNORE\""
    );
}

#[test]
fn outcome_conversions() {
    let u = user("u1", "u1@acme.com");
    let run = |p: Purpose, src: &str| {
        compile(p, src)
            .evaluate(&Input {
                subject: Some(Subject::User(&u)),
                ..Default::default()
            })
            .unwrap()
    };
    let o = run(Purpose::UserKey, "[subject.email, \"\", subject.username]");
    assert_eq!(o.as_keys().unwrap(), vec!["u1@acme.com", "u1"]);
    assert!(o.as_bool().is_err());
    assert_eq!(o.to_json(), serde_json::json!(["u1@acme.com", "", "u1"]));
    let o = run(
        Purpose::PolicyCondition,
        "subject.status == UserStatus.ENABLED",
    );
    assert!(o.as_bool().unwrap());
    assert!(matches!(o.as_keys(), Err(EvalError::Result(_))));
    assert!(o.as_user_ids().is_err());
    let o = run(
        Purpose::PolicyCondition,
        "dyn({\"a\": [1, 2.5, null], \"t\": timestamp(\"2024-01-02T03:04:05Z\")}).a.size() == 3",
    );
    assert_eq!(o.to_json(), serde_json::json!(true));
    let x = Expression::compile(
        Purpose::UserKey,
        "dyn({\"a\": [1, 2.5, null], \"t\": timestamp(\"2024-01-02T03:04:05Z\")})",
    )
    .unwrap();
    let o = x
        .evaluate(&Input {
            subject: Some(Subject::User(&u)),
            ..Default::default()
        })
        .unwrap();
    assert_eq!(
        o.to_json(),
        serde_json::json!({"a": [1, 2.5, null], "t": "2024-01-02T03:04:05Z"})
    );
}

#[test]
fn inputs_are_checked_when_read() {
    let u = user("u1", "u1@acme.com");
    // `account` is not read: not needed
    let x = compile(Purpose::PolicyCondition, "subject.id == \"u1\"");
    assert!(x
        .evaluate(&Input {
            subject: Some(Subject::User(&u)),
            ..Default::default()
        })
        .unwrap()
        .as_bool()
        .unwrap());
    let x = compile(Purpose::PolicyCondition, "account.id == \"a\"");
    let e = x
        .evaluate(&Input {
            subject: Some(Subject::User(&u)),
            ..Default::default()
        })
        .unwrap_err();
    assert_eq!(
        e,
        EvalError::Runtime(
            "the expression reads `account`, which this evaluation does not provide".into()
        )
    );
    // the subject must be of the purpose's kind
    let a = account("a1", "okta", "", AppUserStatusValue::Enabled);
    let e = compile(Purpose::DynamicGroup, "subject.id == \"x\"")
        .evaluate(&Input {
            subject: Some(Subject::Account(&a)),
            ..Default::default()
        })
        .unwrap_err();
    assert_eq!(
        e,
        EvalError::Runtime("dynamic_group expressions take a User as `subject`".into())
    );
    // runtime errors are reported, not panics
    let e = compile(Purpose::PolicyCondition, "subject.profile.missing == \"x\"")
        .evaluate(&Input {
            subject: Some(Subject::User(&u)),
            ..Default::default()
        })
        .unwrap_err();
    assert!(
        matches!(&e, EvalError::Runtime(m) if m.contains("missing")),
        "{e:?}"
    );
    let e = compile(
        Purpose::PolicyCondition,
        "1 / (size(subject.emails) - 1) == 0",
    )
    .evaluate(&Input {
        subject: Some(Subject::User(&u)),
        ..Default::default()
    })
    .unwrap_err();
    assert!(
        matches!(&e, EvalError::Runtime(m) if m.to_lowercase().contains("division")),
        "{e:?}"
    );
}

#[test]
fn policy_conditions_see_every_variable() {
    let d = directory();
    let bob = d.users[1].clone();
    let acct = d.app_users[0].clone();
    let ent = entitlement();
    let task = serde_json::json!({"origin": "TASK_ORIGIN_WEBAPP", "numericId": 7});
    let x = compile(
        Purpose::PolicyCondition,
        "subject.id == account.identityUserId && account.appId == entitlement.appId && entitlement.risk_level_value_id == \"high\" && task.origin == TaskOrigin.WEBAPP && ip.isLoopback() && c1.user.v1.HasEntitlement(subject, entitlement.appId, entitlement.id)",
    );
    let out = x
        .evaluate(&Input {
            subject: Some(Subject::User(&bob)),
            account: Some(&acct),
            entitlement: Some(&ent),
            task: Some(&task),
            ip: Some("::1".parse().unwrap()),
            directory: Some(&d),
            ..Default::default()
        })
        .unwrap();
    assert!(out.as_bool().unwrap());
    assert_eq!(
        x.variables(),
        vec!["account", "entitlement", "ip", "subject", "task"]
    );
}

#[test]
fn manager_is_looked_up_only_when_read() {
    let d = Counting {
        inner: directory(),
        ..Default::default()
    };
    let bob = d.inner.users[1].clone();
    let input = Input {
        subject: Some(Subject::User(&bob)),
        directory: Some(&d),
        ..Default::default()
    };
    assert!(compile(
        Purpose::DynamicGroup,
        "subject.department == \"Eng\" && subject.managerId == \"ann\""
    )
    .evaluate(&input)
    .unwrap()
    .as_bool()
    .unwrap());
    assert_eq!(d.calls(), 0);
    assert!(
        compile(Purpose::DynamicGroup, "subject.manager == \"ann@acme.com\"")
            .evaluate(&input)
            .unwrap()
            .as_bool()
            .unwrap()
    );
    assert_eq!(d.calls(), 1);
    // without a directory, `manager` is empty
    let plain = Input {
        subject: Some(Subject::User(&bob)),
        ..Default::default()
    };
    assert!(compile(Purpose::DynamicGroup, "subject.manager == \"\"")
        .evaluate(&plain)
        .unwrap()
        .as_bool()
        .unwrap());
}

#[test]
fn comprehensions_keep_working_with_the_step_guard() {
    let u = user("u1", "u1@acme.com");
    let input = Input {
        subject: Some(Subject::User(&u)),
        ..Default::default()
    };
    for (src, want) in [
        ("[1, 2, 3].map(x, x * 2) == [2, 4, 6]", true),
        ("[1, 2, 3].filter(x, x > 1) == [2, 3]", true),
        ("[1, 2, 3].map(x, x > 1, x * 10) == [20, 30]", true),
        ("[1, 2, 3].all(x, x > 0)", true),
        ("[1, 2, 3].exists(x, x > 2)", true),
        ("[1, 2, 3].exists_one(x, x > 2)", true),
        ("{\"a\": 1, \"b\": 2}.all(k, k in [\"a\", \"b\"])", true),
        ("[1, 2, 3].exists(x, x > 5)", false),
        ("subject.emails.exists(e, e.endsWith(\"@acme.com\"))", true),
    ] {
        let out = compile(Purpose::PolicyCondition, src)
            .evaluate(&input)
            .unwrap();
        assert_eq!(out.as_bool().unwrap(), want, "{src}");
    }
}

#[test]
fn only_the_fields_read_are_converted() {
    let x = compile(
        Purpose::DirectoryAccountFilter,
        r#"subject.status.status == "APP_USER_STATUS_ENABLED" && subject.email.endsWith("@acme.com") && subject.profile.department != "Contractors""#,
    );
    assert_eq!(
        x.reads(),
        vec![
            "subject.email",
            "subject.profile.department",
            "subject.status.status"
        ]
    );
    // aliases read the canonical field; has() reads the field it tests
    let x = compile(
        Purpose::DynamicGroup,
        "subject.display_name != \"\" && has(subject.profile.cc) && subject.emails.exists(e, e != \"\")",
    );
    assert_eq!(
        x.reads(),
        vec![
            "subject.displayName",
            "subject.emails",
            "subject.profile.cc"
        ]
    );
    // a user passed to the user functions: its ids only
    let x = compile(
        Purpose::DynamicGroup,
        r#"c1.user.v1.HasApp(subject, "gh") && size(c1.directory.users.v1.GetManagers(subject)) > 0"#,
    );
    assert_eq!(x.reads(), vec!["subject.id", "subject.managerIds"]);
    // anything else that takes the whole object converts it whole
    let x = compile(Purpose::ApproverExpression, "[subject] + appOwners");
    assert_eq!(x.reads(), vec!["appOwners", "subject"]);
    let x = compile(
        Purpose::AutomationTrigger,
        "ctx.trigger.user.email != \"\" && ctx.trigger.kind == \"x\"",
    );
    assert_eq!(
        x.reads(),
        vec!["ctx.trigger.kind", "ctx.trigger.user.email"]
    );

    // and evaluation works with what was converted
    let d = directory();
    let bob = d.users[1].clone();
    let x = compile(
        Purpose::DynamicGroup,
        r#"c1.user.v1.HasApp(subject, "gh") && c1.directory.users.v1.GetManagers(subject)[0].id == "ann" && c1.directory.users.v1.DirectReports(subject) == []"#,
    );
    assert!(x
        .evaluate(&Input {
            subject: Some(Subject::User(&bob)),
            directory: Some(&d),
            ..Default::default()
        })
        .unwrap()
        .as_bool()
        .unwrap());
}
