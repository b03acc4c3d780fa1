//! Fixtures shared by the CEL tests.
#![allow(dead_code)]

use chamberlain_cel::{
    Directory, EvalError, Expression, Input, LookupError, MemoryDirectory, Outcome, Purpose,
    Subject,
};
use chamberlain_model::app::{AppEntitlement, AppUser, AppUserStatus, AppUserStatusValue};
use chamberlain_model::user::{User, UserStatus, UserType};
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Mutex;

pub fn user(id: &str, email: &str) -> User {
    User {
        id: id.into(),
        email: email.into(),
        emails: vec![email.into()],
        display_name: format!("User {id}"),
        username: id.into(),
        status: UserStatus::Enabled,
        directory_status: UserStatus::Enabled,
        user_type: UserType::Human,
        ..Default::default()
    }
}

pub fn account(id: &str, app: &str, user_id: &str, status: AppUserStatusValue) -> AppUser {
    AppUser {
        id: id.into(),
        app_id: app.into(),
        identity_user_id: user_id.into(),
        email: format!("{id}@acme.com"),
        status: Some(AppUserStatus {
            status,
            details: "synced".into(),
        }),
        ..Default::default()
    }
}

/// ann (manager) ← bob, cat; bob has accounts in "gh" (enabled) and "aws" (disabled); bob holds
/// gh/admin.
pub fn directory() -> MemoryDirectory {
    let ann = User {
        department: "Eng".into(),
        ..user("ann", "ann@acme.com")
    };
    let bob = User {
        manager_ids: vec!["ann".into()],
        department: "Eng".into(),
        job_title: "Engineer".into(),
        ..user("bob", "bob@acme.com")
    };
    let cat = User {
        manager_ids: vec!["ann".into()],
        ..user("cat", "Cat@Acme.com")
    };
    MemoryDirectory {
        users: vec![ann, bob, cat],
        app_users: vec![
            account("gh-bob", "gh", "bob", AppUserStatusValue::Enabled),
            account("aws-bob", "aws", "bob", AppUserStatusValue::Disabled),
            account("gh-cat", "gh", "cat", AppUserStatusValue::Enabled),
        ],
        grants: vec![
            ("gh-bob".into(), "gh".into(), "admin".into()),
            ("gh-cat".into(), "gh".into(), "read".into()),
        ],
    }
}

pub fn entitlement() -> AppEntitlement {
    AppEntitlement {
        id: "admin".into(),
        app_id: "gh".into(),
        display_name: "Admin".into(),
        slug: "admin".into(),
        risk_level_value_id: "high".into(),
        ..Default::default()
    }
}

pub fn compile(p: Purpose, src: &str) -> Expression {
    Expression::compile(p, src).unwrap_or_else(|m| panic!("{src}: {m:?}"))
}

/// Evaluates with `subject` = the directory's user `id` and the directory.
pub fn eval_user(p: Purpose, src: &str, id: &str) -> Result<Outcome, EvalError> {
    let d = directory();
    let u = d.users.iter().find(|u| u.id == id).unwrap().clone();
    compile(p, src).evaluate(&Input {
        subject: Some(Subject::User(&u)),
        directory: Some(&d),
        ..Default::default()
    })
}

pub fn truth(src: &str, id: &str) -> bool {
    eval_user(Purpose::PolicyCondition, src, id)
        .unwrap_or_else(|e| panic!("{src}: {e}"))
        .as_bool()
        .unwrap()
}

/// A directory that counts its calls.
#[derive(Default)]
pub struct Counting {
    pub inner: MemoryDirectory,
    pub calls: AtomicUsize,
    pub log: Mutex<Vec<String>>,
}

impl Counting {
    fn hit(&self, what: String) {
        self.calls.fetch_add(1, Ordering::SeqCst);
        self.log.lock().unwrap().push(what);
    }
    pub fn calls(&self) -> usize {
        self.calls.load(Ordering::SeqCst)
    }
}

impl Directory for Counting {
    fn user(&self, id: &str) -> Result<Option<User>, LookupError> {
        self.hit(format!("user {id}"));
        self.inner.user(id)
    }
    fn user_by_email(&self, email: &str) -> Result<Option<User>, LookupError> {
        self.hit(format!("user_by_email {email}"));
        self.inner.user_by_email(email)
    }
    fn direct_reports(&self, user_id: &str) -> Result<Vec<User>, LookupError> {
        self.hit(format!("direct_reports {user_id}"));
        self.inner.direct_reports(user_id)
    }
    fn app_users(&self, user_id: &str, app_id: &str) -> Result<Vec<AppUser>, LookupError> {
        self.hit(format!("app_users {user_id} {app_id}"));
        self.inner.app_users(user_id, app_id)
    }
    fn has_entitlement(&self, u: &str, a: &str, e: &str) -> Result<bool, LookupError> {
        self.hit(format!("has_entitlement {u} {a} {e}"));
        self.inner.has_entitlement(u, a, e)
    }
    fn entitlement_members(&self, a: &str, e: &str) -> Result<Vec<User>, LookupError> {
        self.hit(format!("entitlement_members {a} {e}"));
        self.inner.entitlement_members(a, e)
    }
}

/// A directory whose every lookup fails.
pub struct Broken;

impl Directory for Broken {
    fn user(&self, _: &str) -> Result<Option<User>, LookupError> {
        Err(LookupError("database is down".into()))
    }
    fn user_by_email(&self, _: &str) -> Result<Option<User>, LookupError> {
        Err(LookupError("database is down".into()))
    }
    fn direct_reports(&self, _: &str) -> Result<Vec<User>, LookupError> {
        Err(LookupError("database is down".into()))
    }
    fn app_users(&self, _: &str, _: &str) -> Result<Vec<AppUser>, LookupError> {
        Err(LookupError("database is down".into()))
    }
    fn has_entitlement(&self, _: &str, _: &str, _: &str) -> Result<bool, LookupError> {
        Err(LookupError("database is down".into()))
    }
    fn entitlement_members(&self, _: &str, _: &str) -> Result<Vec<User>, LookupError> {
        Err(LookupError("database is down".into()))
    }
}
