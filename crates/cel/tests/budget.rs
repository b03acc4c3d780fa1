//! Budgets: hostile expressions are refused when compiled or stopped when evaluated.

mod common;

use chamberlain_cel::{Budget, EvalError, Expression, Input, Purpose, Subject};
use common::*;
use std::time::{Duration, Instant};

fn list(n: usize) -> String {
    format!(
        "[{}]",
        (0..n).map(|i| i.to_string()).collect::<Vec<_>>().join(", ")
    )
}

fn refused(src: &str, budget: Budget, needle: &str) {
    let m = Expression::compile_with_budget(Purpose::PolicyCondition, src, budget)
        .expect_err("should be refused");
    assert!(
        m.iter().any(|m| m.message.contains(needle)),
        "expected {needle:?} in {m:?}"
    );
}

#[test]
fn source_size_nodes_and_depth_are_limited() {
    let long = format!("subject.id == \"{}\"", "a".repeat(20_000));
    refused(&long, Budget::default(), "bytes long; the limit is 16384");
    let wide = format!("{}.size() > 0", list(2_500));
    refused(&wide, Budget::default(), "nodes; the limit is 2000");
    let deep = format!("{}1{} == 1", "(".repeat(200), ")".repeat(200));
    let m = Expression::compile(Purpose::PolicyCondition, &deep).unwrap_err();
    assert!(!m.is_empty());
    let deep = format!("{}true", "!".repeat(100));
    refused(&deep, Budget::default(), "");
    let nested = "[1].all(a, [1].all(b, [1].all(c, [1].all(d, true))))";
    refused(nested, Budget::default(), "nest more than 3 deep");
}

#[test]
fn worst_case_cost_is_estimated_from_list_sizes() {
    // 600 × 600 map: 360,000 inner steps, each a few nodes
    let l = list(600);
    let src = format!("size({l}.map(x, {l}.map(y, x + y))) > 0");
    refused(&src, Budget::default(), "could take up to");
    // three nested comprehensions over 150 items: 3.4 million steps
    let l = list(150);
    let src = format!("{l}.all(x, {l}.all(y, {l}.all(z, x + y + z >= 0)))");
    refused(&src, Budget::default(), "could take up to");
    // iterating every directory result inside a directory result
    refused(
        "c1.directory.users.v1.DirectReports(subject).exists(r, c1.directory.users.v1.DirectReports(r).exists(q, c1.directory.users.v1.DirectReports(q).size() > 0))",
        Budget::default(),
        "could take up to",
    );
    // a single pass over a large list is fine
    let l = list(1_000);
    Expression::compile(
        Purpose::PolicyCondition,
        &format!("{l}.exists(x, x == 999)"),
    )
    .unwrap();
}

#[test]
fn strings_cannot_grow_past_the_limit() {
    refused(
        "subject.displayName.replace(\"a\", subject.displayName.replace(\"a\", subject.displayName)) == \"\"",
        Budget::default(),
        "string of up to",
    );
    refused(
        "subject.profile.x + subject.profile.y + subject.profile.z + subject.profile.a + subject.profile.b + subject.profile.c + subject.profile.d + subject.profile.e + subject.profile.f + subject.profile.g + subject.profile.h + subject.profile.i + subject.profile.j + subject.profile.k + subject.profile.l + subject.profile.m + subject.profile.n == \"\"",
        Budget::default(),
        "string of up to",
    );
    let small = Budget {
        max_string_len: 10_000,
        ..Budget::default()
    };
    refused(
        "subject.email + subject.email + subject.email == \"\"",
        small,
        "string of up to 12288 bytes; the limit is 10000",
    );
}

#[test]
fn evaluation_stops_at_the_step_budget() {
    // Admitted by a permissive compile budget, stopped at run time.
    let l = list(300);
    let src = format!("{l}.all(x, {l}.all(y, {l}.all(z, x + y + z >= 0)))");
    let b = Budget {
        max_cost: u64::MAX,
        max_steps: 50_000,
        max_eval_time: Duration::from_secs(60),
        ..Budget::default()
    };
    let x = Expression::compile_with_budget(Purpose::PolicyCondition, &src, b).unwrap();
    let started = Instant::now();
    let e = x.evaluate(&Input::default()).unwrap_err();
    assert!(
        matches!(&e, EvalError::Budget(m) if m.contains("more than 50000 steps")),
        "{e:?}"
    );
    // "never stalls": 27 million steps were asked for; it stopped after 50,000
    println!("stopped after {:?}", started.elapsed());
}

#[test]
fn evaluation_stops_at_the_deadline() {
    let l = list(300);
    let src = format!("{l}.all(x, {l}.all(y, {l}.all(z, x + y + z >= 0)))");
    let b = Budget {
        max_cost: u64::MAX,
        max_steps: u64::MAX,
        max_eval_time: Duration::from_millis(20),
        ..Budget::default()
    };
    let x = Expression::compile_with_budget(Purpose::PolicyCondition, &src, b).unwrap();
    let e = x.evaluate(&Input::default()).unwrap_err();
    assert!(
        matches!(&e, EvalError::Budget(m) if m.contains("longer than 20 ms")),
        "{e:?}"
    );
}

/// A directory that takes its time.
struct Slow;

impl chamberlain_cel::Directory for Slow {
    fn user(
        &self,
        id: &str,
    ) -> Result<Option<chamberlain_model::user::User>, chamberlain_cel::LookupError> {
        std::thread::sleep(Duration::from_millis(15));
        Ok(Some(user(id, &format!("{id}@acme.com"))))
    }
    fn user_by_email(
        &self,
        _: &str,
    ) -> Result<Option<chamberlain_model::user::User>, chamberlain_cel::LookupError> {
        Ok(None)
    }
    fn direct_reports(
        &self,
        _: &str,
    ) -> Result<Vec<chamberlain_model::user::User>, chamberlain_cel::LookupError> {
        Ok(vec![])
    }
    fn app_users(
        &self,
        _: &str,
        _: &str,
    ) -> Result<Vec<chamberlain_model::app::AppUser>, chamberlain_cel::LookupError> {
        Ok(vec![])
    }
    fn has_entitlement(
        &self,
        _: &str,
        _: &str,
        _: &str,
    ) -> Result<bool, chamberlain_cel::LookupError> {
        Ok(false)
    }
    fn entitlement_members(
        &self,
        _: &str,
        _: &str,
    ) -> Result<Vec<chamberlain_model::user::User>, chamberlain_cel::LookupError> {
        Ok((0..20_000)
            .map(|i| user(&format!("u{i}"), "x@acme.com"))
            .collect())
    }
}

#[test]
fn slow_lookups_hit_the_deadline() {
    let u = user("u1", "u1@acme.com");
    let x = Expression::compile(
        Purpose::PolicyCondition,
        "[\"a\", \"b\", \"c\", \"d\", \"e\", \"f\", \"g\", \"h\", \"i\", \"j\"].all(id, c1.directory.users.v1.GetByID(id).id == id)",
    )
    .unwrap();
    let e = x
        .evaluate(&Input {
            subject: Some(Subject::User(&u)),
            directory: Some(&Slow),
            ..Default::default()
        })
        .unwrap_err();
    assert!(
        matches!(&e, EvalError::Budget(m) if m.contains("longer than 100 ms")),
        "{e:?}"
    );
}

#[test]
fn directory_results_are_capped() {
    let u = user("u1", "u1@acme.com");
    let x = Expression::compile(
        Purpose::PolicyCondition,
        "size(c1.directory.apps.v1.GetEntitlementMembers(\"gh\", \"admin\")) > 0",
    )
    .unwrap();
    let e = x
        .evaluate(&Input {
            subject: Some(Subject::User(&u)),
            directory: Some(&Slow),
            ..Default::default()
        })
        .unwrap_err();
    assert_eq!(
        e,
        EvalError::Budget(
            "c1.directory.apps.v1.GetEntitlementMembers returned 20000 items, more than the limit of 10000".into()
        )
    );
}

#[test]
fn pathological_nesting_is_refused_without_crashing() {
    let cases = [
        format!("{}1{} == 1", "(".repeat(3000), ")".repeat(3000)),
        format!("{}true", "!".repeat(3000)),
        format!("{}1 == 1", "-".repeat(3000)),
        format!("{}1{} == [1]", "[".repeat(3000), "]".repeat(3000)),
        format!(
            "size({}) > 0",
            "{'a': ".repeat(2000) + "1" + &"}".repeat(2000)
        ),
        format!("1{} == 1", " + 1".repeat(3000)),
        format!("subject{}.id == \"x\"", ".manager".repeat(1500)),
        format!("size(\"x\"{}) > 0", ".trim()".repeat(1500)),
        format!("{} true", "true &&".repeat(1500)),
        format!(
            "{}true{}",
            "true ? (".repeat(1000),
            " : false)".repeat(1000)
        ),
    ];
    for src in cases {
        let t = Instant::now();
        let m = Expression::compile(Purpose::PolicyCondition, &src).unwrap_err();
        println!("{:?} {} {:?}", t.elapsed(), &src[..30], m[0].message);
        assert!(!m.is_empty(), "{}", &src[..40]);
    }
}

#[test]
fn expressions_at_the_nesting_limit_evaluate_on_a_small_stack() {
    // Just under the limit: compiles, and evaluates on a thread with a 2 MiB stack (a tokio worker's).
    // `1 + (1 + (1 + ...))`: an AST 31 nodes deep
    let src = format!("{}1{} == 30", "1 + (".repeat(29), ")".repeat(29));
    let x = Expression::compile(Purpose::PolicyCondition, &src).unwrap();
    let src2 = "[[1, 2], [3]].all(a, a.all(b, [b].exists(c, c > 0)))";
    let y = Expression::compile(Purpose::PolicyCondition, src2).unwrap();
    std::thread::Builder::new()
        .stack_size(2 * 1024 * 1024)
        .spawn(move || {
            assert!(x.evaluate(&Input::default()).unwrap().as_bool().unwrap());
            assert!(y.evaluate(&Input::default()).unwrap().as_bool().unwrap());
        })
        .unwrap()
        .join()
        .unwrap();
    let over = format!("{}1{} == 1", "(".repeat(33), ")".repeat(33));
    let m = Expression::compile(Purpose::PolicyCondition, &over).unwrap_err();
    assert_eq!(
        (m[0].start_line_number, m[0].start_column),
        (1, 33),
        "{m:?}"
    );
    assert_eq!(
        m[0].message,
        "the expression nests more than 32 levels deep here"
    );
}
