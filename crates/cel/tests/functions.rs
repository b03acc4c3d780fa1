//! Every function of the environment, evaluated.

mod common;

use chamberlain_cel::{EvalError, Expression, Input, MemoryDirectory, Purpose, Subject};
use common::*;
use std::net::IpAddr;

#[test]
fn user_library() {
    assert!(truth(r#"c1.user.v1.HasApp(subject, "gh")"#, "bob"));
    assert!(truth(r#"c1.user.v1.HasApp(subject, "aws")"#, "bob"));
    assert!(!truth(r#"c1.user.v1.HasApp(subject, "gh")"#, "ann"));
    assert!(truth(
        r#"c1.user.v1.HasEntitlement(subject, "gh", "admin")"#,
        "bob"
    ));
    assert!(!truth(
        r#"c1.user.v1.HasEntitlement(subject, "gh", "read")"#,
        "bob"
    ));
    assert!(truth(
        r#"c1.user.v1.GetAppUserStatus(subject, "gh") == "USER_STATUS_ENABLED""#,
        "bob"
    ));
    assert!(truth(
        r#"c1.user.v1.GetAppUserStatus(subject, "aws") == "USER_STATUS_DISABLED""#,
        "bob"
    ));
    assert!(truth(
        r#"c1.user.v1.GetAppUserStatus(subject, "okta") == "USER_STATUS_UNSPECIFIED""#,
        "bob"
    ));
    assert!(truth(
        r#"c1.user.v1.ListAppUsersForUser(subject, "gh").map(a, a.id) == ["gh-bob"]"#,
        "bob"
    ));
    assert!(truth(
        r#"c1.user.v1.GetAppUsersForUser(subject, "aws")[0].status.status == "APP_USER_STATUS_DISABLED""#,
        "bob"
    ));
    assert!(truth(
        r#"size(c1.user.v1.ListAppUsersForUser(subject, "gh")) == 0"#,
        "ann"
    ));
}

#[test]
fn directory_library() {
    assert!(truth(
        r#"c1.directory.users.v1.FindByEmail("BOB@acme.com").id == "bob""#,
        "ann"
    ));
    assert!(truth(
        r#"c1.directory.users.v1.GetByID("cat").email == "Cat@Acme.com""#,
        "ann"
    ));
    assert!(truth(
        r#"c1.directory.users.v1.GetManagers(subject).map(m, m.id) == ["ann"]"#,
        "bob"
    ));
    assert!(truth(
        r#"c1.directory.users.v1.GetManagers(subject) == []"#,
        "ann"
    ));
    assert!(truth(
        r#"c1.directory.users.v1.DirectReports(subject).map(r, r.id) == ["bob", "cat"]"#,
        "ann"
    ));
    // a list of users: the union of their reports
    assert!(truth(
        r#"size(c1.directory.users.v1.DirectReports(c1.directory.users.v1.GetManagers(subject))) == 2"#,
        "bob"
    ));
    assert!(truth(
        r#"c1.directory.apps.v1.GetEntitlementMembers("gh", "admin").map(u, u.email) == ["bob@acme.com"]"#,
        "ann"
    ));
    // users from the directory carry every field, `manager` included
    assert!(truth(
        r#"c1.directory.users.v1.GetByID("bob").manager == "ann@acme.com""#,
        "ann"
    ));
    assert!(truth(
        r#"subject.manager == "ann@acme.com" && subject.managerId == "ann""#,
        "bob"
    ));
    // no such user: a clear error
    let e = eval_user(
        Purpose::PolicyCondition,
        r#"c1.directory.users.v1.FindByEmail("nobody@acme.com").id == "x""#,
        "ann",
    )
    .unwrap_err();
    assert!(e.to_string().contains("nobody@acme.com"), "{e}");
}

#[test]
fn approver_expressions_return_users() {
    let d = directory();
    let bob = d.users[1].clone();
    let owners = vec![d.users[2].clone()];
    let run = |src: &str| {
        compile(Purpose::ApproverExpression, src)
            .evaluate(&Input {
                subject: Some(Subject::User(&bob)),
                app_owners: Some(&owners),
                directory: Some(&d),
                ..Default::default()
            })
            .unwrap()
            .as_user_ids()
            .unwrap()
    };
    assert_eq!(
        run("c1.directory.users.v1.GetManagers(subject)"),
        vec!["ann"]
    );
    assert_eq!(run("appOwners"), vec!["cat"]);
    assert_eq!(
        run(r#"c1.directory.users.v1.FindByEmail("ann@acme.com")"#),
        vec!["ann"]
    );
    assert_eq!(
        run("c1.directory.users.v1.GetManagers(subject) + appOwners + appOwners"),
        vec!["ann", "cat"]
    );
    assert_eq!(
        run("c1.directory.users.v1.GetManagers(appOwners[0]).filter(u, u.id == 'zed').ifEmpty(appOwners)"),
        vec!["cat"]
    );
}

#[test]
fn directory_functions_need_a_directory() {
    let u = user("u1", "u1@acme.com");
    let e = compile(
        Purpose::PolicyCondition,
        r#"c1.user.v1.HasApp(subject, "gh")"#,
    )
    .evaluate(&Input {
        subject: Some(Subject::User(&u)),
        ..Default::default()
    })
    .unwrap_err();
    assert!(matches!(e, EvalError::Lookup(_)), "{e:?}");
    let e = compile(
        Purpose::PolicyCondition,
        r#"c1.user.v1.HasApp(subject, "gh")"#,
    )
    .evaluate(&Input {
        subject: Some(Subject::User(&u)),
        directory: Some(&Broken),
        ..Default::default()
    })
    .unwrap_err();
    assert_eq!(
        e,
        EvalError::Lookup("c1.user.v1.HasApp: database is down".into())
    );
}

#[test]
fn lookups_are_memoized_within_one_evaluation() {
    let d = Counting {
        inner: directory(),
        ..Default::default()
    };
    let bob = d.inner.users[1].clone();
    let x = compile(
        Purpose::PolicyCondition,
        r#"c1.user.v1.HasApp(subject, "gh") && c1.user.v1.HasApp(subject, "gh")
           && c1.user.v1.GetAppUserStatus(subject, "gh") == "USER_STATUS_ENABLED"
           && [1, 2, 3].all(i, c1.directory.users.v1.GetByID("ann").id == "ann")
           && c1.directory.users.v1.GetManagers(subject)[0].id == "ann""#,
    );
    let input = Input {
        subject: Some(Subject::User(&bob)),
        directory: Some(&d),
        ..Default::default()
    };
    assert!(x.evaluate(&input).unwrap().as_bool().unwrap());
    // app_users(bob, gh) once, user(ann) once (GetByID and GetManagers share it)
    assert_eq!(d.calls(), 2, "{:?}", d.log.lock().unwrap());
    // a new evaluation starts a new memo
    assert!(x.evaluate(&input).unwrap().as_bool().unwrap());
    assert_eq!(d.calls(), 4);
}

#[test]
fn now_is_constant_within_an_evaluation_and_settable() {
    let u = user("u1", "u1@acme.com");
    let at = time::macros::datetime!(2024-05-15 13:00 UTC);
    let run = |src: &str| {
        compile(Purpose::PolicyCondition, src)
            .evaluate(&Input {
                subject: Some(Subject::User(&u)),
                now: Some(at),
                ..Default::default()
            })
            .unwrap()
            .as_bool()
            .unwrap()
    };
    assert!(run("now() == now()"));
    assert!(run(r#"now() == timestamp("2024-05-15T13:00:00Z")"#));
    assert!(run(r#"now().getDayOfWeek() == 3"#));
    // without `now`, the current time
    let x = compile(
        Purpose::PolicyCondition,
        r#"now() > timestamp("2024-01-01T00:00:00Z")"#,
    );
    assert!(x
        .evaluate(&Input {
            subject: Some(Subject::User(&u)),
            ..Default::default()
        })
        .unwrap()
        .as_bool()
        .unwrap());
}

#[test]
fn time_functions() {
    let t = |src: &str| truth(src, "ann");
    assert!(t(
        r#"time.parse("2024-03-05", "2006-01-02") == timestamp("2024-03-05T00:00:00Z")"#
    ));
    assert!(t(
        r#"time.parse("2024-03-05", TimeFormat.DATE) == timestamp("2024-03-05T00:00:00Z")"#
    ));
    assert!(t(
        r#"time.parse("2024-03-05 10:00:00", TimeFormat.DATETIME, "Europe/Paris") == timestamp("2024-03-05T09:00:00Z")"#
    ));
    assert!(t(
        r#"time.parse("2024-03-05T10:00:00+02:00", TimeFormat.RFC3339) == timestamp("2024-03-05T08:00:00Z")"#
    ));
    assert!(t(
        r#"time.format(timestamp("2024-03-05T08:09:10Z"), TimeFormat.TIME) == "08:09:10""#
    ));
    assert!(t(
        r#"time.format(timestamp("2024-03-05T08:09:10Z"), "Jan 2, 2006 3:04PM", "America/New_York") == "Mar 5, 2024 3:09AM""#
    ));
    assert!(t(
        r#"time.start_of(timestamp("2024-05-15T13:00:00Z"), "week") == timestamp("2024-05-13T00:00:00Z")"#
    ));
    assert!(t(
        r#"time.start_of(timestamp("2024-05-15T13:00:00Z"), "quarter") == timestamp("2024-04-01T00:00:00Z")"#
    ));
    assert!(t(
        r#"time.end_of(timestamp("2024-05-15T13:00:00Z"), "year") == timestamp("2024-12-31T23:59:59.999999999Z")"#
    ));
    assert!(t(
        r#"time.start_of(timestamp("2024-05-15T02:00:00Z"), "day", "America/Los_Angeles") == timestamp("2024-05-14T07:00:00Z")"#
    ));
    assert!(t(
        r#"time.end_of(timestamp("2024-05-15T13:00:00Z"), "month") - time.start_of(timestamp("2024-05-15T13:00:00Z"), "month") > duration("744h") - duration("1s")"#
    ));
    let e = eval_user(
        Purpose::PolicyCondition,
        r#"time.parse("05/03/2024", "2006-01-02") == now()"#,
        "ann",
    )
    .unwrap_err();
    assert!(e.to_string().contains("does not match the layout"), "{e}");
}

#[test]
fn ip_and_cidr() {
    let u = user("u1", "u1@acme.com");
    let run = |src: &str, ip: &str| {
        compile(Purpose::PolicyCondition, src)
            .evaluate(&Input {
                subject: Some(Subject::User(&u)),
                ip: Some(ip.parse::<IpAddr>().unwrap()),
                ..Default::default()
            })
            .unwrap_or_else(|e| panic!("{src}: {e}"))
            .as_bool()
            .unwrap()
    };
    assert!(run("ip.is4() && !ip.is6() && ip.isPrivate()", "10.1.2.3"));
    assert!(run("ip.is6() && !ip.isPrivate()", "2001:db8::1"));
    assert!(run("ip.isPrivate()", "fd00::1"));
    assert!(run("ip.isLoopback() && !ip.isGlobalUnicast()", "127.0.0.1"));
    assert!(run("ip.isGlobalUnicast() && !ip.isPrivate()", "8.8.8.8"));
    assert!(run("ip.isMulticast()", "224.0.0.1"));
    assert!(run("ip.isUnspecified()", "0.0.0.0"));
    assert!(run("ip.isLinkLocalUnicast()", "169.254.1.1"));
    assert!(run("ip.isLinkLocalUnicast()", "fe80::1"));
    assert!(run(
        r#"cidr("10.0.0.0/8").contains(ip) && ip.within(cidr("10.1.0.0/16"))"#,
        "10.1.2.3"
    ));
    assert!(run(
        r#"!cidr("10.0.0.0/8").contains(ip) && !ip.within(cidr("192.168.0.0/16"))"#,
        "11.0.0.1"
    ));
    assert!(run(r#"cidr("2001:db8::/32").contains(ip)"#, "2001:db8::1"));
    assert!(run(
        r#"ip == ip("10.1.2.3") && ip == "10.1.2.3" && string(ip) == "10.1.2.3""#,
        "10.1.2.3"
    ));
    assert!(run(
        r#"ip("192.168.1.1").isPrivate() && ip("1.1.1.1").within(cidr("1.1.1.0/24"))"#,
        "10.1.2.3"
    ));
    assert!(run(
        r#"["10.0.0.0/8", "192.168.0.0/16"].exists(c, cidr(c).contains(ip))"#,
        "192.168.3.4"
    ));
    let e = compile(Purpose::PolicyCondition, r#"ip("999.1.1.1").is4()"#)
        .evaluate(&Input {
            ip: Some("10.0.0.1".parse().unwrap()),
            ..Default::default()
        })
        .unwrap_err();
    assert!(e.to_string().contains("999.1.1.1"), "{e}");
    let e = compile(
        Purpose::PolicyCondition,
        r#"cidr("10.0.0.0/40").contains(ip)"#,
    )
    .evaluate(&Input {
        ip: Some("10.0.0.1".parse().unwrap()),
        ..Default::default()
    })
    .unwrap_err();
    assert!(e.to_string().contains("prefix"), "{e}");
}

#[test]
fn strings_if_empty_and_remove_plus_suffix() {
    let mut u = user("u1", "Jane+github@Acme.com");
    u.emails = vec![
        "jane+x@acme.com".into(),
        "jane@acme.com".into(),
        "plain".into(),
    ];
    u.department = String::new();
    u.username = String::new();
    let keys = |src: &str| {
        compile(Purpose::UserKey, src)
            .evaluate(&Input {
                subject: Some(Subject::User(&u)),
                ..Default::default()
            })
            .unwrap_or_else(|e| panic!("{src}: {e}"))
            .as_keys()
            .unwrap()
    };
    assert_eq!(
        keys("removePlusSuffix(subject.email).lowerAscii()"),
        vec!["jane@acme.com"]
    );
    assert_eq!(
        keys("subject.email.removePlusSuffix()"),
        vec!["Jane@Acme.com"]
    );
    // `emails` includes the primary email (first, as it is not in the list).
    assert_eq!(
        keys("removePlusSuffix(subject.emails)"),
        vec!["Jane@Acme.com", "jane@acme.com", "jane@acme.com", "plain"]
    );
    assert_eq!(keys(r#"subject.department.ifEmpty("none")"#), vec!["none"]);
    assert_eq!(
        keys(r#"subject.email.ifEmpty("none").upperAscii()"#),
        vec!["JANE+GITHUB@ACME.COM"]
    );
    assert_eq!(
        keys(r#"subject.usernames.ifEmpty(["x", "y"])"#),
        vec!["x", "y"]
    );
    assert_eq!(keys(r#"subject.emails.ifEmpty(["x"])[3]"#), vec!["plain"]);
    // strings extension
    assert_eq!(
        keys(r#"subject.email.split("@")[1].lowerAscii()"#),
        vec!["acme.com"]
    );
    assert_eq!(keys(r#"["a", "b"].join("-")"#), vec!["a-b"]);
    assert_eq!(
        keys(r#"" x ".trim() + subject.email.substring(0, 4).replace("J", "j")"#),
        vec!["xjane"]
    );
    // empty strings are dropped from keys
    assert_eq!(keys(r#"[subject.department, "k"]"#), vec!["k"]);
    assert_eq!(keys(r#"subject.department"#), Vec::<String>::new());
}

#[test]
fn json_maps_profile_task_and_ctx() {
    let mut u = user("u1", "u1@acme.com");
    u.profile = Some(
        serde_json::json!({"costCenter": "42", "level": 7, "tags": ["a", "b"], "nested": {"x": true}})
            .as_object()
            .unwrap()
            .clone(),
    );
    let task = serde_json::json!({"origin": "TASK_ORIGIN_SLACK", "isGrantPermanent": false, "analysis": {"hasConflictViolations": true}});
    let run = |src: &str| {
        compile(Purpose::PolicyCondition, src)
            .evaluate(&Input {
                subject: Some(Subject::User(&u)),
                task: Some(&task),
                ..Default::default()
            })
            .unwrap_or_else(|e| panic!("{src}: {e}"))
            .as_bool()
            .unwrap()
    };
    assert!(run(
        r#"subject.profile.costCenter == "42" && subject.profile.level > 5"#
    ));
    assert!(run(
        r#""b" in subject.profile.tags && subject.attributes.nested.x"#
    ));
    assert!(run(
        r#"has(subject.profile.level) && !has(subject.profile.missing)"#
    ));
    assert!(run(r#"subject.profile["costCenter"] == "42""#));
    assert!(run(
        r#"task.origin == TaskOrigin.SLACK && !task.isGrantPermanent && task.analysis.hasConflictViolations"#
    ));
    let ctx = serde_json::json!({"trigger": {"user": {"email": "x@acme.com"}}, "tool_name": "github.create_issue"});
    let x = compile(
        Purpose::HookFilter,
        r#"ctx.tool_name.startsWith("github.")"#,
    );
    assert!(x
        .evaluate(&Input {
            ctx: Some(&ctx),
            ..Default::default()
        })
        .unwrap()
        .as_bool()
        .unwrap());
    let x = compile(
        Purpose::AutomationTrigger,
        r#"ctx.trigger.user.email.endsWith("@acme.com")"#,
    );
    assert!(x
        .evaluate(&Input {
            ctx: Some(&ctx),
            ..Default::default()
        })
        .unwrap()
        .as_bool()
        .unwrap());
}

#[test]
fn functions_run_only_inside_evaluate() {
    // The directory is scoped to one evaluation: a second expression evaluated without one
    // does not see the first's.
    let d: MemoryDirectory = directory();
    let bob = d.users[1].clone();
    let x = Expression::compile(
        Purpose::PolicyCondition,
        r#"c1.user.v1.HasApp(subject, "gh")"#,
    )
    .unwrap();
    let with = Input {
        subject: Some(Subject::User(&bob)),
        directory: Some(&d),
        ..Default::default()
    };
    let without = Input {
        subject: Some(Subject::User(&bob)),
        ..Default::default()
    };
    assert!(x.evaluate(&with).unwrap().as_bool().unwrap());
    assert!(matches!(x.evaluate(&without), Err(EvalError::Lookup(_))));
}
