//! `chamberlain-cel-bench`: measures CEL evaluation throughput on one core.
//!
//! ```text
//! chamberlain-cel-bench [--accounts 100000] [--rounds 5] [--seed 1]
//! ```
//!
//! Generates accounts (AppUsers with emails, statuses and a profile of a dozen attributes) and
//! users, compiles each benchmark expression once, then evaluates it over every object on this
//! thread, building the per-object `Input` inside the timed loop. Reports the best and median
//! round as objects per second. The headline is the directory account filter from the CEL
//! issue; its target is ≥ 200,000 accounts/s on one core.

use anyhow::Result;
use chamberlain_cel::{Expression, ImportDecision, Input, MemoryDirectory, Purpose, Subject};
use chamberlain_model::app::{AppUser, AppUserStatus, AppUserStatusValue, AppUserType};
use chamberlain_model::user::{User, UserStatus, UserType};
use clap::Parser;
use rand::rngs::StdRng;
use rand::{Rng, SeedableRng};
use serde_json::{json, Map, Value};
use std::time::{Duration, Instant};

#[derive(Parser, Debug)]
#[command(
    name = "chamberlain-cel-bench",
    about = "CEL evaluation throughput on one core"
)]
struct Args {
    /// Accounts (and users) to evaluate per round.
    #[arg(long, default_value_t = 100_000)]
    accounts: usize,
    /// Rounds per expression (best and median are reported).
    #[arg(long, default_value_t = 5)]
    rounds: usize,
    #[arg(long, default_value_t = 1)]
    seed: u64,
}

const DEPARTMENTS: &[&str] = &[
    "Engineering",
    "Sales",
    "Contractors",
    "Finance",
    "Support",
    "IT",
];
const DOMAINS: &[&str] = &[
    "acme.com",
    "acme.com",
    "acme.com",
    "partner.io",
    "gmail.com",
];

fn profile(rng: &mut StdRng, i: usize) -> Map<String, Value> {
    let mut p = Map::new();
    p.insert(
        "department".into(),
        json!(DEPARTMENTS[rng.gen_range(0..DEPARTMENTS.len())]),
    );
    p.insert("title".into(), json!(format!("Title {}", i % 97)));
    p.insert(
        "costCenter".into(),
        json!(format!("CC-{}", rng.gen_range(100..999))),
    );
    p.insert("location".into(), json!(["Paris", "NYC", "Remote"][i % 3]));
    p.insert("employeeNumber".into(), json!(i));
    p.insert("manager".into(), json!(format!("mgr{}@acme.com", i % 500)));
    p.insert("groups".into(), json!(["all", format!("team-{}", i % 40)]));
    p.insert("mfa".into(), json!(rng.gen_bool(0.85)));
    p.insert("lastLogin".into(), json!("2026-11-01T10:00:00Z"));
    p.insert("github".into(), json!(format!("gh-user-{i}")));
    p.insert("phone".into(), json!(format!("+1-555-{:04}", i % 10_000)));
    p.insert("country".into(), json!(["FR", "US", "DE"][i % 3]));
    p
}

fn accounts(n: usize, rng: &mut StdRng) -> Vec<AppUser> {
    (0..n)
        .map(|i| {
            let domain = DOMAINS[rng.gen_range(0..DOMAINS.len())];
            let email = format!("user{i}@{domain}");
            let status = if rng.gen_bool(0.9) {
                AppUserStatusValue::Enabled
            } else {
                AppUserStatusValue::Disabled
            };
            AppUser {
                id: format!("acct-{i:08}"),
                app_id: "okta".into(),
                app_user_type: AppUserType::User,
                display_name: format!("User {i}"),
                email: email.clone(),
                emails: vec![email, format!("user{i}+alt@acme.com")],
                employee_ids: vec![format!("E{i}")],
                identity_user_id: format!("user-{i:08}"),
                profile: Some(profile(rng, i)),
                status: Some(AppUserStatus {
                    status,
                    details: "synced".into(),
                }),
                username: format!("user{i}"),
                usernames: vec![format!("user{i}")],
                ..Default::default()
            }
        })
        .collect()
}

fn users(n: usize, rng: &mut StdRng) -> Vec<User> {
    (0..n)
        .map(|i| User {
            id: format!("user-{i:08}"),
            email: format!("user{i}@acme.com"),
            emails: vec![format!("user{i}@acme.com")],
            display_name: format!("User {i}"),
            username: format!("user{i}"),
            department: DEPARTMENTS[rng.gen_range(0..DEPARTMENTS.len())].into(),
            job_title: format!("Title {}", i % 97),
            employment_type: "full_time".into(),
            status: UserStatus::Enabled,
            directory_status: UserStatus::Enabled,
            user_type: UserType::Human,
            manager_ids: vec![format!("user-{:08}", i / 10)],
            profile: Some(profile(rng, i)),
            ..Default::default()
        })
        .collect()
}

struct Stats {
    best: Duration,
    median: Duration,
    hits: usize,
}

fn run(rounds: usize, mut round: impl FnMut() -> usize) -> Stats {
    let mut times = Vec::new();
    let mut hits = 0;
    for _ in 0..rounds {
        let t = Instant::now();
        hits = round();
        times.push(t.elapsed());
    }
    times.sort();
    Stats {
        best: times[0],
        median: times[times.len() / 2],
        hits,
    }
}

fn report(name: &str, n: usize, s: &Stats) {
    let per_s = |d: Duration| n as f64 / d.as_secs_f64();
    println!(
        "{name:<34} {n:>8} objects  best {:>9.0}/s ({:>6.2} µs each)  median {:>9.0}/s  matched {}",
        per_s(s.best),
        s.best.as_secs_f64() * 1e6 / n as f64,
        per_s(s.median),
        s.hits
    );
}

fn main() -> Result<()> {
    let args = Args::parse();
    let mut rng = StdRng::seed_from_u64(args.seed);
    let accounts = accounts(args.accounts, &mut rng);
    let users = users(args.accounts, &mut rng);
    let directory = MemoryDirectory {
        users: users.clone(),
        app_users: accounts.clone(),
        grants: accounts
            .iter()
            .step_by(3)
            .map(|a| (a.id.clone(), "okta".to_owned(), "admins".to_owned()))
            .collect(),
    }
    .indexed();
    println!(
        "chamberlain-cel-bench: {} accounts and {} users, {} rounds, one thread",
        accounts.len(),
        users.len(),
        args.rounds
    );

    // The headline: the directory account filter from the issue.
    let filter = Expression::compile(
        Purpose::DirectoryAccountFilter,
        r#"subject.status.status == "APP_USER_STATUS_ENABLED" && subject.email.endsWith("@acme.com") && subject.profile.department != "Contractors""#,
    )
    .map_err(|m| anyhow::anyhow!("{m:?}"))?;
    let s = run(args.rounds, || {
        let mut created = 0;
        for a in &accounts {
            let input = Input {
                subject: Some(Subject::Account(a)),
                ..Default::default()
            };
            if filter
                .evaluate(&input)
                .unwrap()
                .as_import_decision()
                .unwrap()
                == ImportDecision::Create
            {
                created += 1;
            }
        }
        created
    });
    report("directory_account_filter", accounts.len(), &s);
    let headline = accounts.len() as f64 / s.best.as_secs_f64();

    let others: &[(&str, Purpose, &str)] = &[
        (
            "account_key (merge-match)",
            Purpose::AccountKey,
            "removePlusSuffix(subject.emails).map(e, e.lowerAscii())",
        ),
        (
            "user filter, 3 clauses",
            Purpose::DynamicGroup,
            r#"subject.department in ["Engineering", "IT"] && subject.status == UserStatus.ENABLED && subject.profile.location != "Remote""#,
        ),
        (
            "user filter, HasEntitlement",
            Purpose::DynamicGroup,
            r#"subject.department != "Sales" && c1.user.v1.HasEntitlement(subject, "okta", "admins")"#,
        ),
    ];
    for (name, purpose, src) in others {
        let x = Expression::compile(*purpose, src).map_err(|m| anyhow::anyhow!("{m:?}"))?;
        let s = if *purpose == Purpose::AccountKey {
            run(args.rounds, || {
                let mut keys = 0;
                for a in &accounts {
                    let input = Input {
                        subject: Some(Subject::Account(a)),
                        ..Default::default()
                    };
                    keys += x.evaluate(&input).unwrap().as_keys().unwrap().len();
                }
                keys
            })
        } else {
            run(args.rounds, || {
                let mut hits = 0;
                for u in &users {
                    let input = Input {
                        subject: Some(Subject::User(u)),
                        directory: Some(&directory),
                        ..Default::default()
                    };
                    if x.evaluate(&input).unwrap().as_bool().unwrap() {
                        hits += 1;
                    }
                }
                hits
            })
        };
        report(name, users.len(), &s);
    }

    let t = Instant::now();
    let n = 1_000;
    for _ in 0..n {
        Expression::compile(
            Purpose::DirectoryAccountFilter,
            r#"subject.status.status == "APP_USER_STATUS_ENABLED" && subject.email.endsWith("@acme.com") && subject.profile.department != "Contractors""#,
        )
        .map_err(|m| anyhow::anyhow!("{m:?}"))?;
    }
    println!(
        "compile (parse + check), filter      {:>8.1} µs each",
        t.elapsed().as_secs_f64() * 1e6 / n as f64
    );
    println!(
        "target ≥ 200,000 accounts/s for the directory account filter: {} ({headline:.0}/s)",
        if headline >= 200_000.0 {
            "met"
        } else {
            "NOT met"
        }
    );
    Ok(())
}
