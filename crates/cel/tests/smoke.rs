use chamberlain_cel::*;
use chamberlain_model::app::{AppUser, AppUserStatus, AppUserStatusValue};
use chamberlain_model::user::User;

#[test]
fn smoke() {
    let x = Expression::compile(
        Purpose::DirectoryAccountFilter,
        r#"subject.status.status == "APP_USER_STATUS_ENABLED" && subject.email.endsWith("@acme.com") && subject.profile.department != "Contractors""#,
    )
    .unwrap();
    let mut profile = serde_json::Map::new();
    profile.insert("department".into(), "Eng".into());
    let a = AppUser {
        email: "a@acme.com".into(),
        status: Some(AppUserStatus {
            status: AppUserStatusValue::Enabled,
            details: String::new(),
        }),
        profile: Some(profile),
        ..Default::default()
    };
    let out = x
        .evaluate(&Input {
            subject: Some(Subject::Account(&a)),
            ..Default::default()
        })
        .unwrap();
    assert_eq!(out.as_import_decision().unwrap(), ImportDecision::Create);
    let u = User {
        id: "u1".into(),
        display_name: "Ann".into(),
        ..Default::default()
    };
    let x = Expression::compile(Purpose::UserKey, "subject.display_name.lowerAscii()").unwrap();
    let out = x
        .evaluate(&Input {
            subject: Some(Subject::User(&u)),
            ..Default::default()
        })
        .unwrap();
    assert_eq!(out.as_keys().unwrap(), vec!["ann"]);
    let m = Expression::compile(Purpose::DynamicGroup, "subject.departmnt == 'x'").unwrap_err();
    println!("{m:?}");
    let m = Expression::compile(
        Purpose::DynamicGroup,
        "subject.department == 'x' &&\n  subjct.id == 'y'",
    )
    .unwrap_err();
    println!("{m:?}");
    let m = Expression::compile(Purpose::DynamicGroup, "subject.department == 'x' &&\n  (")
        .unwrap_err();
    println!("{m:?}");
    let x = Expression::compile(
        Purpose::DynamicGroup,
        "[1,2,3].map(x, x * 2).exists(y, y == 4) && subject.status == UserStatus.ENABLED",
    )
    .unwrap();
    let out = x.evaluate(&Input {
        subject: Some(Subject::User(&u)),
        ..Default::default()
    });
    println!("{out:?}");
}
