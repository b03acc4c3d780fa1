//! The checker: what is refused on save, where, and why.

mod common;

use chamberlain_cel::{Expression, Marker, Purpose};
use common::*;

fn markers(p: Purpose, src: &str) -> Vec<Marker> {
    match Expression::compile(p, src) {
        Ok(_) => vec![],
        Err(m) => m,
    }
}

/// The single marker for `src`, as (start line, start col, end line, end col, message).
fn one(p: Purpose, src: &str) -> (u32, u32, u32, u32, String) {
    let m = markers(p, src);
    assert_eq!(m.len(), 1, "{src}: {m:?}");
    let m = &m[0];
    (
        m.start_line_number,
        m.start_column,
        m.end_line_number,
        m.end_column,
        m.message.clone(),
    )
}

fn refused(p: Purpose, src: &str, needle: &str) {
    let m = markers(p, src);
    assert!(
        m.iter().any(|m| m.message.contains(needle)),
        "{src}: expected a marker containing {needle:?}, got {m:?}"
    );
}

const PC: Purpose = Purpose::PolicyCondition;

#[test]
fn markers_point_at_the_problem_in_multi_line_expressions() {
    let src = "subject.department == \"SRE\" &&\n  subject.departmnt != \"\" &&\n  c1.user.v1.HasApp(subject, \"gh\")";
    let (sl, sc, el, ec, msg) = one(PC, src);
    assert_eq!((sl, sc, el, ec), (2, 11, 2, 20), "{msg}");
    assert_eq!(
        msg,
        "unknown field `departmnt` on User; did you mean `department`?"
    );

    // an unknown variable: the identifier
    let src = "subject.department == \"SRE\" ||\n\n    usr.id == \"x\"";
    let (sl, sc, el, ec, msg) = one(PC, src);
    assert_eq!((sl, sc, el, ec), (3, 5, 3, 8), "{msg}");
    assert!(msg.starts_with("unknown variable `usr`"), "{msg}");
    assert!(
        msg.contains("subject, account, entitlement, task, ip"),
        "{msg}"
    );

    // a wrong argument count: the whole call
    let src = "true &&\n  c1.user.v1.HasEntitlement(subject, \"gh\")";
    let (sl, sc, el, ec, msg) = one(PC, src);
    assert_eq!((sl, sc, el, ec), (2, 3, 2, 42), "{msg}");
    assert_eq!(msg, "`c1.user.v1.HasEntitlement` takes 3 arguments, got 2");

    // a syntax error
    let src = "subject.id == \"a\" &&\n  subject.email.endsWith(\"@x.com\"";
    let m = markers(PC, src);
    assert_eq!(m[0].start_line_number, 2, "{m:?}");
    assert!(m[0].message.starts_with("syntax error"), "{m:?}");

    // several problems: all of them, in source order
    let src = "subject.nme == \"a\" &&\n  acount.id == \"b\"";
    let m = markers(PC, src);
    assert_eq!(m.len(), 2, "{m:?}");
    assert_eq!((m[0].start_line_number, m[0].start_column), (1, 9));
    assert_eq!((m[1].start_line_number, m[1].start_column), (2, 3));
    assert!(m[1].message.contains("did you mean `account`"), "{m:?}");
}

#[test]
fn columns_count_characters() {
    let src = "\"héllo wörld\" == subject.emial";
    let (sl, sc, _, ec, _) = one(PC, src);
    assert_eq!((sl, sc, ec), (1, 26, 31));
}

#[test]
fn marker_display() {
    let m = &markers(PC, "subject.x")[0];
    assert_eq!(m.to_string(), "line 1, column 9: unknown field `x` on User");
    assert_eq!(
        serde_json::to_value(m).unwrap(),
        serde_json::json!({"startLineNumber": 1, "startColumn": 9, "endLineNumber": 1, "endColumn": 10, "message": "unknown field `x` on User"})
    );
}

#[test]
fn variables_depend_on_the_purpose() {
    refused(
        Purpose::DynamicGroup,
        "account.id == \"x\"",
        "unknown variable `account`",
    );
    refused(
        Purpose::EntitlementRule,
        "subject.id == \"x\"",
        "unknown variable `subject`",
    );
    refused(
        Purpose::AutomationTrigger,
        "subject.id == \"x\"",
        "unknown variable `subject`",
    );
    refused(
        Purpose::HookFilter,
        "ip.isPrivate()",
        "unknown variable `ip`",
    );
    refused(
        Purpose::AccessReviewAccountFilter,
        "subject.department == \"x\"",
        "unknown field `department` on AppUser",
    );
    refused(
        Purpose::AccessReviewUserFilter,
        "subject.appId == \"x\"",
        "unknown field `appId` on User",
    );
    compile(Purpose::ApproverExpression, "appOwners");
    refused(
        Purpose::PolicyCondition,
        "size(appOwners) > 0",
        "unknown variable `appOwners`",
    );
    compile(
        Purpose::EntitlementRule,
        "entitlement.riskLevelValueId == \"high\"",
    );
    compile(
        Purpose::AccountProvisioning,
        "subject.email + \"/\" + entitlement.slug + string(task.numericId)",
    );
    compile(Purpose::HookFilter, "ctx.tool_name == \"x\"");
}

#[test]
fn fields_and_snake_case_aliases() {
    for f in [
        "id",
        "email",
        "displayName",
        "display_name",
        "username",
        "department",
        "jobTitle",
        "job_title",
        "employmentType",
        "employment_type",
        "employmentStatus",
        "employment_status",
        "status",
        "directoryStatus",
        "directory_status",
        "type",
        "manager",
        "managerId",
        "manager_id",
    ] {
        compile(Purpose::DynamicGroup, &format!("subject.{f} == \"x\""));
    }
    for f in [
        "emails",
        "usernames",
        "managerIds",
        "manager_ids",
        "employeeIds",
        "employee_ids",
    ] {
        compile(Purpose::DynamicGroup, &format!("\"x\" in subject.{f}"));
    }
    for f in [
        "id",
        "appId",
        "app_id",
        "displayName",
        "username",
        "email",
        "appUserType",
        "app_user_type",
        "identityUserId",
        "identity_user_id",
        "status.status",
        "status.details",
    ] {
        compile(
            Purpose::AccessReviewAccountFilter,
            &format!("subject.{f} == \"x\""),
        );
    }
    for f in [
        "id",
        "appId",
        "displayName",
        "slug",
        "alias",
        "risk_level_value_id",
        "riskLevelValueId",
        "appResourceId",
        "app_resource_type_id",
    ] {
        compile(
            Purpose::EntitlementRule,
            &format!("entitlement.{f} == \"x\""),
        );
    }
    // aliases read the same data as the camelCase names
    let mut u = user("u1", "u1@acme.com");
    u.job_title = "Engineer".into();
    u.manager_ids = vec!["m1".into()];
    let x = compile(Purpose::DynamicGroup, "subject.job_title == subject.jobTitle && subject.job_title == \"Engineer\" && subject.manager_id == \"m1\" && subject.display_name == \"User u1\" && subject.directory_status == UserStatus.ENABLED && subject.type == UserType.HUMAN");
    assert!(x
        .evaluate(&chamberlain_cel::Input {
            subject: Some(chamberlain_cel::Subject::User(&u)),
            ..Default::default()
        })
        .unwrap()
        .as_bool()
        .unwrap());
    refused(
        Purpose::AccessReviewAccountFilter,
        "subject.status.state == \"x\"",
        "unknown field `state` on AppUserStatus",
    );
    refused(
        PC,
        "subject.email.domain == \"x\"",
        "cannot read field `domain` of a string",
    );
}

#[test]
fn constants() {
    compile(PC, "subject.status == UserStatus.ENABLED || subject.status == UserStatus.DISABLED || subject.status == UserStatus.DELETED");
    compile(
        PC,
        "subject.type in [UserType.HUMAN, UserType.AGENT, UserType.SERVICE, UserType.SYSTEM]",
    );
    compile(PC, "account.appUserType in [AppUserType.USER, AppUserType.SERVICE_ACCOUNT, AppUserType.SYSTEM_ACCOUNT]");
    compile(PC, "task.origin in [TaskOrigin.WEBAPP, TaskOrigin.SLACK, TaskOrigin.API, TaskOrigin.JIRA, TaskOrigin.COPILOT, TaskOrigin.PROFILE_MEMBERSHIP_AUTOMATION, TaskOrigin.TIME_REVOKE]");
    compile(PC, "account.status.status == \"APP_USER_STATUS_ENABLED\" || account.status.status == AppUserStatus.DISABLED");
    refused(
        PC,
        "subject.status == UserStatus.ACTIVE",
        "unknown constant `UserStatus.ACTIVE`",
    );
    refused(PC, "subject.status == UserStatus", "is a set of constants");
}

#[test]
fn functions_are_checked() {
    refused(
        PC,
        "c1.user.v1.HasAp(subject, \"gh\")",
        "unknown function `c1.user.v1.HasAp`; did you mean `c1.user.v1.HasApp`?",
    );
    refused(PC, "isAdmin(subject)", "unknown function `isAdmin`");
    refused(
        PC,
        "subject.email.endWith(\"x\")",
        "unknown function `endWith` on string; did you mean `endsWith`?",
    );
    refused(PC, "c1.user.v1.HasApp(subject)", "takes 2 arguments, got 1");
    refused(
        PC,
        "subject.email.startsWith()",
        "`startsWith` takes 1 argument, got 0",
    );
    refused(
        PC,
        "time.parse(\"x\")",
        "`time.parse` takes 2 to 3 arguments, got 1",
    );
    refused(
        PC,
        "c1.user.v1.HasApp(\"bob\", \"gh\")",
        "expects the first argument to be a User, got string",
    );
    refused(
        PC,
        "c1.user.v1.HasApp(subject, 42)",
        "expects the app id to be a string, got int",
    );
    refused(
        PC,
        "c1.directory.users.v1.DirectReports(\"bob\") == []",
        "expects a User or a list<User>, got string",
    );
    refused(
        PC,
        "subject.managerIds.startsWith(\"x\")",
        "`startsWith` cannot be called on a list<string>",
    );
    refused(
        PC,
        "subject.email.isPrivate()",
        "`isPrivate` cannot be called on a string",
    );
    refused(
        PC,
        "ip.within(\"10.0.0.0/8\")",
        "expects the argument to be a CIDR, got string",
    );
    refused(
        PC,
        "time.start_of(now(), \"fortnight\") < now()",
        "unknown unit \"fortnight\"",
    );
    refused(
        PC,
        "subject.department == 42",
        "comparing a string with a int is never true",
    );
    refused(
        PC,
        "subject.department + 1 == \"x\"",
        "cannot add a string and a int",
    );
    refused(
        PC,
        "subject.department && true",
        "`&&` needs bool operands; this is a string",
    );
    refused(PC, "subject[\"email\"] == \"x\"", "index a User by field");
    compile(PC, "dyn(subject.department) == 42 || true");
    compile(PC, "c1.directory.users.v1.DirectReports(c1.directory.users.v1.GetManagers(subject)).exists(u, u.id == subject.id)");
}

#[test]
fn directory_functions_are_refused_where_the_purpose_forbids_them() {
    for p in [Purpose::AutomationTrigger, Purpose::HookFilter] {
        refused(
            p,
            "c1.user.v1.HasApp(c1.directory.users.v1.GetByID(ctx.id), \"gh\")",
            "is not available in",
        );
        refused(
            p,
            "c1.directory.users.v1.FindByEmail(ctx.email).department == \"IT\"",
            &format!("not available in {} expressions", p.name()),
        );
    }
    refused(
        Purpose::EntitlementRule,
        "size(c1.directory.apps.v1.GetEntitlementMembers(entitlement.appId, entitlement.id)) > 3",
        "not available in entitlement_rule",
    );
    // the same expressions are fine elsewhere
    compile(
        Purpose::DynamicGroup,
        "size(c1.directory.apps.v1.GetEntitlementMembers(\"gh\", \"admin\")) > 3",
    );
    compile(
        Purpose::AutomationTrigger,
        "ctx.trigger.user.department == \"IT\" && now() > timestamp(\"2024-01-01T00:00:00Z\")",
    );
}

#[test]
fn every_purpose_checks_its_result_type() {
    use Purpose::*;
    let bools = [PolicyCondition, AccessReviewUserFilter, DynamicGroup];
    for p in bools {
        compile(p, "subject.department == \"x\"");
        refused(
            p,
            "subject.department",
            &format!(
                "{} expressions must return bool; this returns string",
                p.name()
            ),
        );
        refused(p, "1", "must return bool; this returns int");
    }
    compile(AccessReviewAccountFilter, "subject.email != \"\"");
    refused(
        AccessReviewAccountFilter,
        "subject.emails",
        "must return bool; this returns list<string>",
    );
    compile(AutomationTrigger, "ctx.trigger.kind == \"x\"");
    refused(AutomationTrigger, "\"x\"", "must return bool");
    compile(EntitlementRule, "entitlement.slug.startsWith(\"adm\")");
    refused(EntitlementRule, "entitlement.slug", "must return bool");
    compile(HookFilter, "ctx.tool_name in [\"a\", \"b\"]");
    refused(
        HookFilter,
        "[ctx.tool_name]",
        "must return bool; this returns list<dyn>",
    );

    compile(
        ApproverExpression,
        "c1.directory.users.v1.GetManagers(subject)",
    );
    compile(ApproverExpression, "c1.directory.users.v1.GetByID(\"u1\")");
    compile(
        ApproverExpression,
        "appOwners.filter(o, o.department == subject.department)",
    );
    refused(
        ApproverExpression,
        "subject.managerIds",
        "must return User or list<User>; this returns list<string>",
    );
    refused(
        ApproverExpression,
        "subject.manager",
        "must return User or list<User>; this returns string",
    );

    compile(
        DirectoryAccountFilter,
        "subject.email.endsWith(\"@acme.com\")",
    );
    compile(DirectoryAccountFilter, "\"CREATE\"");
    compile(
        DirectoryAccountFilter,
        "subject.appUserType == AppUserType.USER ? \"MATCH_ONLY\" : \"IGNORE\"",
    );
    refused(
        DirectoryAccountFilter,
        "1",
        "must return bool, or one of the strings",
    );
    refused(
        DirectoryAccountFilter,
        "\"create\"",
        "\"create\" is not an import decision",
    );
    refused(
        DirectoryAccountFilter,
        "subject.email == \"\" ? \"IGNORE\" : \"IMPORT\"",
        "\"IMPORT\" is not an import decision",
    );

    for p in [AccountKey, UserAttributeMapping] {
        compile(p, "subject.email.lowerAscii()");
        compile(p, "subject.emails.map(e, e.lowerAscii())");
        compile(p, "[subject.email, subject.username]");
        refused(p, "subject.status", "this returns AppUserStatus");
        refused(
            p,
            "size(subject.emails)",
            "must return string or list<string>; this returns int",
        );
        refused(
            p,
            "subject.email == \"\"",
            "must return string or list<string>; this returns bool",
        );
    }
    compile(UserKey, "subject.employeeIds");
    refused(
        UserKey,
        "[1, 2]",
        "must return string or list<string>; this returns list<int>",
    );
    compile(AccountProvisioning, "subject.email.split(\"@\")[0]");
    refused(
        AccountProvisioning,
        "subject.emails",
        "account_provisioning expressions must return string; this returns list<string>",
    );
}

#[test]
fn syntax_and_unsupported_forms() {
    refused(PC, "", "the expression is empty");
    refused(PC, "subject.id ==", "syntax error");
    refused(PC, "User{id: \"x\"}.id == \"x\"", "creating objects");
    refused(PC, "subject.id == 'a' && (", "syntax error");
}

#[test]
fn brackets_inside_string_literals_do_not_count_as_nesting() {
    let parens = "(".repeat(100);
    compile(
        PC,
        &format!("subject.displayName != \"{parens}\" && subject.id != '{parens}'"),
    );
    compile(
        PC,
        &format!("subject.displayName != \"\"\"{parens}\"\"\" && subject.id != r\"\\{parens}\""),
    );
    compile(PC, &format!("subject.displayName != \"\\\"{parens}\""));
    compile(PC, "!!!!true && -(-1) == 1 && 1 != -1");
}
