//! `chamberlain serve --demo`: loads a sample company, "Acme", so a newcomer can walk every
//! flow of the product in minutes. **Not for production**: its sign-ins use one well-known
//! password ([`PASSWORD`]).
//!
//! What it creates, and through what:
//! - **Acme HR**, a directory of 200 people (departments, job titles, employment types,
//!   managers), written as a Baton `.c1z` with [`C1zWriter`] and imported through the normal
//!   sync path, then designated as a directory, so users are created by identity resolution with
//!   attribute sources, like a real HR import.
//! - **PagerDuty** (rotations as resources, each with a "member" and an "on call" entitlement),
//!   **GitHub** (org roles, teams, repositories), **AWS** (accounts × permission sets) and
//!   **Salesforce** (profiles), each synced from its own `.c1z`; accounts are linked to the
//!   directory's users by email.
//! - Policies (auto-approve, manager approval, app-owner approval, JIT production access with a
//!   4-hour maximum), app owners, and access profiles: "Engineering baseline", the two on-call
//!   profiles of the on-call guide (self-service for rotation members; auto-granted to whoever
//!   is on call through joiner auto-approval and membership automation), and an AI profile.
//! - A hosted (stdio) MCP server running `chamberlain-mcp-fixture` from the directory of the
//!   running executable (skipped with a note if absent), its tools in every review state, and
//!   a custom toolset bound to the AI profile. The fixture's extra tools are listed in
//!   `<data dir>/demo/ops-assistant-tools.json`, which must stay there.
//! - Local passwords for an administrator (Super Admin), an employee with a manager, and that
//!   manager; requests in several states (granted, denied, JIT, and one waiting for the
//!   manager's approval).
//!
//! Everything goes through the HTTP API's own handlers (the router is called in-process with
//! tokens of the acting users), so it is validated, audited in the system log and consistent
//! with what an administrator could have done by hand. An `app_settings` row marks the demo
//! (`seeding`, then `done`): a second `--demo` start finds it and adds nothing; a database that
//! already holds apps without the marker is refused.

use anyhow::{anyhow, bail, Context, Result};
use axum::body::Body;
use axum::http::Request;
use axum::Router;
use chamberlain_api::state::Shared;
use chamberlain_model::principal::Role;
use chamberlain_model::user::{User, UserOrigin, UserStatus, UserType};
use chamberlain_model::{new_id, Timestamp};
use chamberlain_store::record::Sql;
use chamberlain_store::repo::clients::ApiClient;
use chamberlain_store::repo::{ai_governance::TENANT, settings, web_auth};
use chamberlain_store::AuditCtx;
use chamberlain_sync::c1z::proto::{self, Entitlement, Grant, Resource, ResourceType};
use chamberlain_sync::c1z::write::{resource_stub, rid, user_trait_annotation, C1zWriter};
use serde_json::{json, Map, Value};
use sqlx::Row;
use std::collections::{BTreeMap, HashSet};
use std::path::{Path, PathBuf};
use tower::ServiceExt;

/// The password of every demo sign-in (fixed and published: demo mode is not for production).
pub const PASSWORD: &str = "chamberlain-demo";
/// The demo's Super Admin (a local account).
pub const ADMIN_EMAIL: &str = "admin@acme.example";
/// An engineer on the Platform team, member of the Platform primary rotation.
pub const EMPLOYEE_EMAIL: &str = "sam.rivera@acme.example";
/// Sam's manager: has one approval waiting.
pub const MANAGER_EMAIL: &str = "jordan.lee@acme.example";
/// `app_settings` kind of the tenant's demo marker.
pub const MARKER_KIND: &str = "demo organization";
const BUILTIN_APP: &str = chamberlain_store::repo::catalogs::BUILTIN_APP_ID;

/// What `--demo` did at this start.
pub struct Outcome {
    /// True when the company was loaded now (false: it was already there).
    pub seeded: bool,
    /// Things left out, to print (e.g. the MCP fixture binary was not found).
    pub notes: Vec<String>,
}

/// Loads the demo organization unless it is already there. Needs the background worker
/// running (identity resolution links the synced accounts).
pub async fn prepare(state: &Shared, data_dir: &Path, host: &str) -> Result<Outcome> {
    let store = &state.store;
    let audit = AuditCtx::system("demo");
    // Checked and claimed in one transaction (replicas on PostgreSQL serialize on a lock), so
    // two `--demo` starts on one database cannot both load the company.
    let claim = chamberlain_store::write_tx!(store, &audit, |tx| { claim(tx).await })?;
    match claim {
        Claim::Done => {
            return Ok(Outcome {
                seeded: false,
                notes: vec![],
            })
        }
        Claim::Unfinished => bail!(
            "another `serve --demo` is loading the demo organization into this database, or an earlier one \
             stopped before it was complete; start the demo on a fresh database (e.g. a new --data-dir)"
        ),
        Claim::HasApps(apps) => bail!(
            "--demo loads a sample company and needs a database without apps, but this one already has {apps} app(s); \
             start the demo on a fresh database (e.g. `chamberlain serve --demo --data-dir ./chamberlain-demo`)"
        ),
        Claim::Claimed => {}
    }
    let work = data_dir.join("demo");
    std::fs::create_dir_all(&work).with_context(|| format!("cannot create {}", work.display()))?;
    // Absolute: the MCP server's configuration names its tools file in here.
    let work = std::fs::canonicalize(&work)?;
    let mut seeder = Seeder {
        state: state.clone(),
        router: chamberlain_api::app(state.clone()),
        host: host.to_string(),
        clients: vec![],
        tokens: BTreeMap::new(),
        work,
        notes: vec![],
        audit,
    };
    let result = seeder.run().await;
    seeder.cleanup().await;
    result?;
    chamberlain_store::write_tx!(store, &seeder.audit, |tx| {
        settings::put(
            tx,
            TENANT,
            MARKER_KIND,
            &json!({"state": "done", "completedAt": Timestamp::now()}),
        )
        .await
    })?;
    Ok(Outcome {
        seeded: true,
        notes: seeder.notes,
    })
}

/// Whether this database holds the demo organization (fully or half loaded).
pub async fn is_demo(store: &chamberlain_store::Store) -> Result<bool> {
    Ok(settings::get::<Value>(store, TENANT, MARKER_KIND)
        .await?
        .is_some())
}

/// Printed when a demo database is served without `--demo`.
pub const PLAIN_START_WARNING: &str = "Note: this database holds the demo organization \
(sample data whose sign-ins use a published password); do not use it in production.";

/// What the database says about the demo.
enum Claim {
    /// Loaded by an earlier start.
    Done,
    /// Being loaded, or an earlier load stopped half-way.
    Unfinished,
    /// Not a demo database: it has this many apps.
    HasApps(i64),
    /// Marked as being loaded by this start.
    Claimed,
}

async fn claim(tx: &mut chamberlain_store::Tx<'_>) -> Result<Claim, chamberlain_store::StoreError> {
    if tx.backend() == chamberlain_store::Backend::Postgres {
        tx.exec(&Sql::new("SELECT pg_advisory_xact_lock(7310516222)"))
            .await?;
    }
    let mut sel = Sql::new("SELECT doc FROM app_settings WHERE app_id = ");
    sel.arg(TENANT).push(" AND kind = ").arg(MARKER_KIND);
    if let Some(row) = sel.query().fetch_optional(&mut *tx.conn()).await? {
        let doc: Value = serde_json::from_str(&row.try_get::<String, _>(0)?).unwrap_or_default();
        return Ok(if doc["state"] == "done" {
            Claim::Done
        } else {
            Claim::Unfinished
        });
    }
    let mut sql = Sql::new("SELECT COUNT(*) FROM apps WHERE deleted_at IS NULL AND id <> ");
    sql.arg(BUILTIN_APP);
    let apps: i64 = sql.query().fetch_one(&mut *tx.conn()).await?.try_get(0)?;
    if apps > 0 {
        return Ok(Claim::HasApps(apps));
    }
    settings::put(
        tx,
        TENANT,
        MARKER_KIND,
        &json!({"state": "seeding", "startedAt": Timestamp::now()}),
    )
    .await?;
    Ok(Claim::Claimed)
}

/// The text printed at each `--demo` start.
pub fn announcement(public_url: &str, outcome: &Outcome) -> String {
    let mut s = String::new();
    s.push_str(if outcome.seeded {
        "\nDEMO MODE: loaded the sample company \"Acme\" (200 people, 6 apps, access profiles, an MCP server).\n"
    } else {
        "\nDEMO MODE: the sample company \"Acme\" is already loaded.\n"
    });
    s.push_str("Not for production: these sign-ins use a fixed, published password.\n");
    s.push_str(&format!("  Sign in at: {public_url}/auth/v1/signin\n"));
    for (who, email) in [
        ("Admin (Super Admin)", ADMIN_EMAIL),
        (
            "Employee (Sam Rivera, on the Platform rotation)",
            EMPLOYEE_EMAIL,
        ),
        ("Manager (Jordan Lee, one approval waiting)", MANAGER_EMAIL),
    ] {
        s.push_str(&format!("  {who}: {email} / {PASSWORD}\n"));
    }
    for n in &outcome.notes {
        s.push_str(&format!("  Note: {n}\n"));
    }
    s
}

// ---------------------------------------------------------------------------------------------
// The people.

/// One person of the HR directory.
#[derive(Clone, Debug)]
pub struct Person {
    pub login: String,
    pub name: String,
    pub email: String,
    pub employee_id: String,
    pub department: &'static str,
    pub team: &'static str,
    pub title: &'static str,
    pub employment_type: &'static str,
    pub manager: Option<usize>,
}

struct Team {
    name: &'static str,
    /// Empty: the members report to the department head.
    manager_title: &'static str,
    titles: &'static [&'static str],
    size: usize,
}

struct Department {
    name: &'static str,
    head_title: &'static str,
    teams: &'static [Team],
}

const ENG_TITLES: &[&str] = &[
    "Software Engineer",
    "Senior Software Engineer",
    "Software Engineer",
    "Staff Software Engineer",
];

const DEPARTMENTS: &[Department] = &[
    Department {
        name: "Engineering",
        head_title: "VP of Engineering",
        teams: &[
            Team {
                name: "Platform",
                manager_title: "Engineering Manager",
                titles: &["Software Engineer", "Site Reliability Engineer"],
                size: 15,
            },
            Team {
                name: "Payments",
                manager_title: "Engineering Manager",
                titles: ENG_TITLES,
                size: 15,
            },
            Team {
                name: "Data",
                manager_title: "Engineering Manager",
                titles: &["Data Engineer", "Senior Data Engineer", "Data Scientist"],
                size: 13,
            },
            Team {
                name: "Frontend",
                manager_title: "Engineering Manager",
                titles: ENG_TITLES,
                size: 13,
            },
            Team {
                name: "Security",
                manager_title: "Security Manager",
                titles: &["Security Engineer"],
                size: 7,
            },
        ],
    },
    Department {
        name: "Product",
        head_title: "VP of Product",
        teams: &[
            Team {
                name: "Product Management",
                manager_title: "Director of Product",
                titles: &["Product Manager", "Senior Product Manager"],
                size: 7,
            },
            Team {
                name: "Design",
                manager_title: "Design Manager",
                titles: &["Product Designer"],
                size: 5,
            },
        ],
    },
    Department {
        name: "Sales",
        head_title: "VP of Sales",
        teams: &[
            Team {
                name: "Enterprise Sales",
                manager_title: "Sales Director",
                titles: &["Account Executive"],
                size: 12,
            },
            Team {
                name: "Mid-market Sales",
                manager_title: "Sales Manager",
                titles: &["Account Executive", "Sales Development Representative"],
                size: 14,
            },
            Team {
                name: "Sales Operations",
                manager_title: "Sales Operations Manager",
                titles: &["Sales Operations Analyst"],
                size: 3,
            },
        ],
    },
    Department {
        name: "Customer Success",
        head_title: "VP of Customer Success",
        teams: &[
            Team {
                name: "Support",
                manager_title: "Support Manager",
                titles: &["Support Engineer"],
                size: 15,
            },
            Team {
                name: "Account Management",
                manager_title: "Customer Success Director",
                titles: &["Customer Success Manager"],
                size: 8,
            },
        ],
    },
    Department {
        name: "Marketing",
        head_title: "VP of Marketing",
        teams: &[
            Team {
                name: "Growth",
                manager_title: "Growth Marketing Manager",
                titles: &["Growth Marketer", "Marketing Analyst"],
                size: 9,
            },
            Team {
                name: "Brand",
                manager_title: "Brand Director",
                titles: &["Content Marketer", "Designer"],
                size: 5,
            },
        ],
    },
    Department {
        name: "Finance",
        head_title: "Chief Financial Officer",
        teams: &[Team {
            name: "Finance",
            manager_title: "Controller",
            titles: &["Accountant", "Financial Analyst"],
            size: 10,
        }],
    },
    Department {
        name: "People",
        head_title: "VP of People",
        teams: &[Team {
            name: "People Operations",
            manager_title: "People Operations Manager",
            titles: &["HR Business Partner", "Recruiter"],
            size: 7,
        }],
    },
    Department {
        name: "IT",
        head_title: "Director of IT",
        teams: &[Team {
            name: "IT",
            manager_title: "",
            titles: &["IT Support Specialist", "Systems Administrator"],
            size: 10,
        }],
    },
    Department {
        name: "Legal",
        head_title: "General Counsel",
        teams: &[Team {
            name: "Legal",
            manager_title: "",
            titles: &["Corporate Counsel", "Paralegal"],
            size: 5,
        }],
    },
];

const FIRST: &[&str] = &[
    "Olivia", "Liam", "Emma", "Noah", "Ava", "Ethan", "Mia", "Lucas", "Isabella", "Mason",
    "Sophia", "Logan", "Amelia", "James", "Harper", "Benjamin", "Evelyn", "Elijah", "Abigail",
    "Oliver", "Emily", "Daniel", "Ella", "Henry", "Aria", "Samuel", "Chloe", "Owen", "Layla",
    "Leo", "Nora", "Gabriel", "Zoe", "Mateo", "Lily", "Isaac", "Hannah", "Julian", "Grace",
    "Aaron", "Maya", "Adrian", "Naomi", "Caleb", "Ruby", "Nathan", "Alice", "Hugo", "Clara",
    "Felix", "Iris", "Omar", "Leila", "Kenji", "Yuki", "Ravi", "Anika", "Tomas", "Ines", "Malik",
];
const LAST: &[&str] = &[
    "Garcia", "Smith", "Johnson", "Williams", "Brown", "Jones", "Miller", "Davis", "Martinez",
    "Lopez", "Wilson", "Anderson", "Thomas", "Taylor", "Moore", "Jackson", "Martin", "Thompson",
    "White", "Harris", "Clark", "Lewis", "Robinson", "Walker", "Young", "Allen", "King", "Wright",
    "Scott", "Torres", "Nguyen", "Hill", "Flores", "Green", "Adams", "Nelson", "Baker", "Hall",
    "Campbell", "Mitchell", "Carter", "Roberts", "Kim", "Singh", "Okafor", "Tanaka", "Kowalski",
    "Dubois", "Rossi", "Haddad", "Novak", "Jensen", "Silva", "Costa", "Murphy", "Sato", "Ali",
    "Ivanova", "Moreau", "Schmidt",
];

/// Names given to the people the tour talks about: (department, team, position in the team
/// where 0 is the team's manager and `None` the department head, name).
const NAMED: &[(&str, &str, Option<usize>, &str)] = &[
    ("Engineering", "", None, "Elena Novak"),
    ("Engineering", "Platform", Some(0), "Jordan Lee"),
    ("Engineering", "Platform", Some(1), "Sam Rivera"),
    ("Engineering", "Platform", Some(2), "Morgan Chen"),
    ("Sales", "Sales Operations", Some(0), "Priya Shah"),
    ("IT", "", None, "Riley Park"),
];

/// The 200 people of Acme, in a fixed order (index 0 is the CEO).
pub fn people() -> Vec<Person> {
    let mut out: Vec<Person> = Vec::new();
    let mut used: HashSet<String> = HashSet::new();
    for (_, _, _, n) in NAMED {
        used.insert(n.to_string());
    }
    used.insert("Dana Whitfield".into());
    used.insert("Casey Brooks".into());
    let mut k = 0usize;
    let mut next_name = |fixed: Option<&str>| -> String {
        if let Some(n) = fixed {
            return n.to_string();
        }
        loop {
            let name = format!(
                "{} {}",
                FIRST[(k * 7) % FIRST.len()],
                LAST[(k * 11 + k / FIRST.len()) % LAST.len()]
            );
            k += 1;
            if used.insert(name.clone()) {
                return name;
            }
        }
    };
    let push = |out: &mut Vec<Person>,
                name: String,
                department: &'static str,
                team: &'static str,
                title: &'static str,
                employment_type: &'static str,
                manager: Option<usize>| {
        let login = name.to_lowercase().replace(' ', ".");
        let i = out.len();
        out.push(Person {
            email: format!("{login}@acme.example"),
            login,
            name,
            employee_id: format!("E{}", 1001 + i),
            department,
            team,
            title,
            employment_type,
            manager,
        });
        i
    };
    let named = |dept: &str, team: &str, pos: Option<usize>| {
        NAMED
            .iter()
            .find(|(d, t, p, _)| *d == dept && (pos.is_none() || *t == team) && *p == pos)
            .map(|(_, _, _, n)| *n)
    };
    let ceo = push(
        &mut out,
        next_name(Some("Dana Whitfield")),
        "Executive",
        "Executive",
        "Chief Executive Officer",
        "Full-time",
        None,
    );
    push(
        &mut out,
        next_name(Some("Casey Brooks")),
        "Executive",
        "Executive",
        "Executive Assistant",
        "Full-time",
        Some(ceo),
    );
    for d in DEPARTMENTS {
        let head = push(
            &mut out,
            next_name(named(d.name, "", None)),
            d.name,
            d.name,
            d.head_title,
            "Full-time",
            Some(ceo),
        );
        for t in d.teams {
            let lead = if t.manager_title.is_empty() {
                head
            } else {
                push(
                    &mut out,
                    next_name(named(d.name, t.name, Some(0))),
                    d.name,
                    t.name,
                    t.manager_title,
                    "Full-time",
                    Some(head),
                )
            };
            for m in 0..t.size {
                let employment = match (out.len() % 23, out.len() % 37) {
                    (0, _) => "Contractor",
                    (_, 0) => "Part-time",
                    _ if d.name == "Engineering" && m == t.size - 1 => "Intern",
                    _ => "Full-time",
                };
                let title = if employment == "Intern" {
                    "Software Engineering Intern"
                } else {
                    t.titles[m % t.titles.len()]
                };
                push(
                    &mut out,
                    next_name(named(d.name, t.name, Some(m + 1))),
                    d.name,
                    t.name,
                    title,
                    employment,
                    Some(lead),
                );
            }
        }
    }
    out
}

// ---------------------------------------------------------------------------------------------
// Apps as Baton syncs.

/// What one app's sync says: accounts (indexes into the people), resource types, resources,
/// entitlements and grants.
#[derive(Default)]
struct Snapshot {
    accounts: Vec<usize>,
    /// (id, display name, Baton trait: 2 group, 3 role, 0 none)
    types: Vec<(&'static str, &'static str, i32)>,
    /// (type, id, display name, description)
    resources: Vec<(&'static str, String, String, String)>,
    /// (type, resource id, slug, display name, description, purpose: 1 assignment, 2 permission)
    entitlements: Vec<(&'static str, String, &'static str, String, String, i32)>,
    /// (entitlement id, person index)
    grants: Vec<(String, usize)>,
    /// Whether the accounts carry the HR attributes (the directory).
    hr: bool,
}

fn ent_id(kind: &str, res: &str, slug: &str) -> String {
    format!("{kind}:{res}:{slug}")
}

impl Snapshot {
    fn resource(&mut self, kind: &'static str, id: &str, name: &str, description: &str) {
        self.resources
            .push((kind, id.into(), name.into(), description.into()));
    }
    fn entitlement(
        &mut self,
        kind: &'static str,
        res: &str,
        slug: &'static str,
        name: &str,
        description: &str,
        purpose: i32,
    ) -> String {
        self.entitlements.push((
            kind,
            res.into(),
            slug,
            name.into(),
            description.into(),
            purpose,
        ));
        ent_id(kind, res, slug)
    }
    fn grant(&mut self, ent: &str, who: usize) {
        if !self.grants.iter().any(|(e, p)| e == ent && *p == who) {
            self.grants.push((ent.to_string(), who));
        }
    }

    async fn write(&self, people: &[Person], path: &Path) -> Result<()> {
        let mut w = C1zWriter::create(path).await?;
        let user_type = ResourceType {
            id: "user".into(),
            display_name: "User".into(),
            traits: vec![1],
            ..Default::default()
        };
        w.add_resource_type(user_type.clone()).await?;
        for (id, name, t) in &self.types {
            w.add_resource_type(ResourceType {
                id: id.to_string(),
                display_name: name.to_string(),
                traits: if *t == 0 { vec![] } else { vec![*t] },
                ..Default::default()
            })
            .await?;
        }
        for &i in &self.accounts {
            let p = &people[i];
            let mut profile = Map::new();
            profile.insert("login".into(), json!(p.login));
            if self.hr {
                profile.insert("department".into(), json!(p.department));
                profile.insert("title".into(), json!(p.title));
                profile.insert("employment_type".into(), json!(p.employment_type));
                profile.insert("employment_status".into(), json!("Active"));
                profile.insert("employee_id".into(), json!(p.employee_id));
                profile.insert("team".into(), json!(p.team));
                if let Some(m) = p.manager {
                    profile.insert("manager_email".into(), json!(people[m].email));
                }
            }
            let t = proto::UserTrait {
                emails: vec![proto::Email {
                    address: p.email.clone(),
                    is_primary: true,
                }],
                status: Some(proto::Status {
                    status: 1,
                    details: "active".into(),
                }),
                profile: Some(proto::json_to_struct(&profile)),
                account_type: 1,
                login: p.login.clone(),
                employee_ids: if self.hr {
                    vec![p.employee_id.clone()]
                } else {
                    vec![]
                },
                ..Default::default()
            };
            w.add_resource(Resource {
                id: Some(rid("user", &p.login)),
                display_name: p.name.clone(),
                annotations: vec![user_trait_annotation(&t)],
                ..Default::default()
            })
            .await?;
        }
        for (kind, id, name, description) in &self.resources {
            w.add_resource(Resource {
                id: Some(rid(*kind, id)),
                display_name: name.clone(),
                description: description.clone(),
                ..Default::default()
            })
            .await?;
        }
        for (kind, res, slug, name, description, purpose) in &self.entitlements {
            w.add_entitlement(Entitlement {
                id: ent_id(kind, res, slug),
                resource: Some(resource_stub(rid(*kind, res))),
                display_name: name.clone(),
                description: description.clone(),
                grantable_to: vec![user_type.clone()],
                purpose: *purpose,
                slug: slug.to_string(),
                ..Default::default()
            })
            .await?;
        }
        for (ent, who) in &self.grants {
            let (kind, rest) = ent.split_once(':').unwrap_or_default();
            let res = rest.rsplit_once(':').map(|(r, _)| r).unwrap_or_default();
            let login = &people[*who].login;
            w.add_grant(Grant {
                id: format!("{ent}:user:{login}"),
                entitlement: Some(Entitlement {
                    id: ent.clone(),
                    resource: Some(resource_stub(rid(kind.to_string(), res))),
                    ..Default::default()
                }),
                principal: Some(resource_stub(rid("user", login))),
                ..Default::default()
            })
            .await?;
        }
        w.finish().await?;
        Ok(())
    }
}

/// Indexes of the people of a team, manager excluded (in team order).
fn team(people: &[Person], name: &str) -> Vec<usize> {
    people
        .iter()
        .enumerate()
        .filter(|(_, p)| p.team == name && !is_lead(p))
        .map(|(i, _)| i)
        .collect()
}

fn is_lead(p: &Person) -> bool {
    DEPARTMENTS.iter().any(|d| {
        (p.title == d.head_title && p.department == d.name)
            || d.teams.iter().any(|t| {
                t.name == p.team && !t.manager_title.is_empty() && p.title == t.manager_title
            })
    })
}

fn dept(people: &[Person], names: &[&str]) -> Vec<usize> {
    people
        .iter()
        .enumerate()
        .filter(|(_, p)| names.contains(&p.department))
        .map(|(i, _)| i)
        .collect()
}

fn index_of(people: &[Person], email: &str) -> usize {
    people
        .iter()
        .position(|p| p.email == email)
        .expect("a named demo person")
}

/// The rotations of the on-call app: (id, name, team, members, on call now).
const ROTATIONS: &[(&str, &str, &str, usize, usize)] = &[
    ("platform-primary", "Platform primary", "Platform", 8, 1),
    (
        "platform-secondary",
        "Platform secondary",
        "Platform",
        6,
        10,
    ),
    ("payments-primary", "Payments primary", "Payments", 8, 3),
    ("data-on-call", "Data on-call", "Data", 6, 1),
];

fn hr_snapshot(people: &[Person]) -> Snapshot {
    Snapshot {
        accounts: (0..people.len()).collect(),
        hr: true,
        ..Default::default()
    }
}

fn pagerduty_snapshot(people: &[Person]) -> Snapshot {
    let mut s = Snapshot {
        accounts: dept(people, &["Engineering"]),
        types: vec![("rotation", "Rotation", 2)],
        ..Default::default()
    };
    for (id, name, team_name, size, on_call) in ROTATIONS {
        s.resource(
            "rotation",
            id,
            name,
            &format!("{team_name} team on-call rotation"),
        );
        let member = s.entitlement(
            "rotation",
            id,
            "member",
            &format!("{name} member"),
            &format!("In the {name} rotation"),
            1,
        );
        let now = s.entitlement(
            "rotation",
            id,
            "on-call",
            &format!("{name} on call"),
            &format!("Currently on call for {name}"),
            1,
        );
        let t = team(people, team_name);
        // The secondary rotation takes the second half of the team.
        let members: Vec<usize> = if *id == "platform-secondary" {
            t.iter().rev().take(*size).copied().collect()
        } else {
            t.iter().take(*size).copied().collect()
        };
        for &m in &members {
            s.grant(&member, m);
        }
        s.grant(&now, t[*on_call % t.len()]);
    }
    s
}

fn github_snapshot(people: &[Person]) -> Snapshot {
    let mut s = Snapshot {
        accounts: dept(people, &["Engineering", "Product", "IT"]),
        types: vec![
            ("org", "Organization", 0),
            ("team", "Team", 2),
            ("repository", "Repository", 0),
        ],
        ..Default::default()
    };
    s.resource("org", "acme", "acme", "Acme's GitHub organization");
    let member = s.entitlement(
        "org",
        "acme",
        "member",
        "acme Member",
        "Member of the acme organization",
        1,
    );
    let owner = s.entitlement(
        "org",
        "acme",
        "owner",
        "acme Owner",
        "Owner of the acme organization: full control",
        2,
    );
    for &i in &s.accounts.clone() {
        s.grant(&member, i);
    }
    s.grant(&owner, index_of(people, "elena.novak@acme.example"));
    s.grant(&owner, index_of(people, "riley.park@acme.example"));
    for (id, name, team_name) in [
        ("platform", "Platform", "Platform"),
        ("payments", "Payments", "Payments"),
        ("data", "Data", "Data"),
        ("frontend", "Frontend", "Frontend"),
        ("security", "Security", "Security"),
        ("incident-responders", "Incident responders", ""),
    ] {
        s.resource("team", id, name, &format!("The {name} team"));
        let ent = s.entitlement(
            "team",
            id,
            "member",
            &format!("{name} team member"),
            &format!("Member of the {name} team"),
            1,
        );
        if !team_name.is_empty() {
            for i in team(people, team_name) {
                s.grant(&ent, i);
            }
        }
    }
    for (id, name, team_name) in [
        ("api", "acme/api", "Payments"),
        ("infra", "acme/infra", "Platform"),
        ("web", "acme/web", "Frontend"),
        ("docs", "acme/docs", ""),
    ] {
        s.resource("repository", id, name, &format!("The {name} repository"));
        let write = s.entitlement(
            "repository",
            id,
            "write",
            &format!("{name} write"),
            &format!("Push to {name}"),
            2,
        );
        s.entitlement(
            "repository",
            id,
            "admin",
            &format!("{name} admin"),
            &format!("Administer {name}"),
            2,
        );
        if !team_name.is_empty() {
            for i in team(people, team_name) {
                s.grant(&write, i);
            }
        }
    }
    s
}

fn aws_snapshot(people: &[Person]) -> Snapshot {
    let mut s = Snapshot {
        accounts: dept(people, &["Engineering", "IT"]),
        types: vec![("account", "AWS account", 0)],
        ..Default::default()
    };
    let mut ents: BTreeMap<(&str, &str), String> = BTreeMap::new();
    for (id, name) in [
        ("production", "acme-production"),
        ("staging", "acme-staging"),
        ("sandbox", "acme-sandbox"),
    ] {
        s.resource("account", id, name, &format!("The {name} AWS account"));
        for (slug, set) in [
            ("administrator", "AdministratorAccess"),
            ("power-user", "PowerUserAccess"),
            ("read-only", "ReadOnlyAccess"),
        ] {
            let e = s.entitlement(
                "account",
                id,
                slug,
                &format!("{name} {set}"),
                &format!("{set} permission set in {name}"),
                2,
            );
            ents.insert((id, slug), e);
        }
    }
    let engineers = dept(people, &["Engineering"]);
    for &i in &engineers {
        s.grant(&ents[&("staging", "power-user")], i);
        s.grant(&ents[&("sandbox", "power-user")], i);
    }
    for i in team(people, "Platform") {
        s.grant(&ents[&("production", "read-only")], i);
    }
    s.grant(
        &ents[&("production", "administrator")],
        index_of(people, "riley.park@acme.example"),
    );
    s
}

fn salesforce_snapshot(people: &[Person]) -> Snapshot {
    let mut s = Snapshot {
        accounts: dept(people, &["Sales", "Customer Success", "Marketing"]),
        types: vec![("profile", "Profile", 3)],
        ..Default::default()
    };
    let mut ents = BTreeMap::new();
    for (id, name) in [
        ("sales-user", "Sales User"),
        ("sales-manager", "Sales Manager"),
        ("customer-success", "Customer Success"),
        ("marketing-user", "Marketing User"),
        ("system-administrator", "System Administrator"),
        ("read-only", "Read Only"),
    ] {
        s.resource("profile", id, name, &format!("The {name} profile"));
        ents.insert(
            id,
            s.entitlement(
                "profile",
                id,
                "assigned",
                name,
                &format!("Salesforce profile {name}"),
                3,
            ),
        );
    }
    for i in s.accounts.clone() {
        let p = &people[i];
        let profile = match p.department {
            "Sales" if is_lead(p) => "sales-manager",
            "Sales" => "sales-user",
            "Customer Success" => "customer-success",
            _ => "marketing-user",
        };
        s.grant(&ents[profile], i);
    }
    s.grant(
        &ents["system-administrator"],
        index_of(people, "priya.shah@acme.example"),
    );
    s
}

// ---------------------------------------------------------------------------------------------
// Seeding through the API.

struct Seeder {
    state: Shared,
    router: Router,
    host: String,
    /// Clients minted for the acting users, deleted when the seeding ends.
    clients: Vec<String>,
    tokens: BTreeMap<String, String>,
    work: PathBuf,
    notes: Vec<String>,
    audit: AuditCtx,
}

struct AppIds {
    id: String,
    /// Entitlement ids by display name.
    ents: BTreeMap<String, String>,
}

impl AppIds {
    fn ent(&self, name: &str) -> Result<&str> {
        self.ents
            .get(name)
            .map(String::as_str)
            .ok_or_else(|| anyhow!("demo: no entitlement `{name}`"))
    }
}

fn id_at<'a>(v: &'a Value, path: &[&str]) -> Result<&'a str> {
    let mut cur = v;
    for p in path {
        cur = &cur[*p];
    }
    cur.as_str()
        .ok_or_else(|| anyhow!("demo: no `{}` in {v}", path.join(".")))
}

impl Seeder {
    /// A token of `user_id` (through an API client minted for the seeding).
    async fn token(&mut self, user_id: &str) -> Result<String> {
        if let Some(t) = self.tokens.get(user_id) {
            return Ok(t.clone());
        }
        let (client, _secret) = chamberlain_api::routes::iam::mint_client(
            &self.state.store,
            &self.audit,
            &self.host,
            chamberlain_api::routes::iam::NewClient {
                user_id,
                display_name: "Demo organization setup",
                personal: false,
                expires_at: Some(Timestamp::now().plus_seconds(3600)),
                scoped_roles: vec![],
                connector: None,
            },
        )
        .await?;
        let (token, _) = self.state.issuer.issue(
            user_id,
            &client.client.client_id,
            Timestamp::now().unix_seconds(),
        );
        self.clients.push(client.client.id.clone());
        self.tokens.insert(user_id.to_string(), token.clone());
        Ok(token)
    }

    /// Calls the API in-process as `user_id`; any answer but 200 is an error.
    async fn call_raw(
        &mut self,
        user_id: &str,
        method: &str,
        path: &str,
        content_type: &str,
        body: Vec<u8>,
    ) -> Result<Value> {
        let token = self.token(user_id).await?;
        let req = Request::builder()
            .method(method)
            .uri(path)
            .header("authorization", format!("Bearer {token}"))
            .header("content-type", content_type)
            .body(Body::from(body))?;
        let resp = self.router.clone().oneshot(req).await?;
        let status = resp.status();
        let bytes = axum::body::to_bytes(resp.into_body(), 64 * 1024 * 1024).await?;
        let v: Value = serde_json::from_slice(&bytes).unwrap_or(Value::Null);
        if !status.is_success() {
            bail!(
                "demo setup: {method} {path} answered {status}: {}",
                v["message"]
                    .as_str()
                    .unwrap_or(&String::from_utf8_lossy(&bytes))
            );
        }
        Ok(v)
    }

    async fn call(
        &mut self,
        user_id: &str,
        method: &str,
        path: &str,
        body: Value,
    ) -> Result<Value> {
        self.call_raw(
            user_id,
            method,
            path,
            "application/json",
            serde_json::to_vec(&body)?,
        )
        .await
    }

    async fn cleanup(&mut self) {
        let ids = std::mem::take(&mut self.clients);
        let _ = chamberlain_store::write_tx!(self.state.store, &self.audit, |tx| {
            for id in &ids {
                tx.soft_delete::<ApiClient>(id).await?;
            }
            Ok(())
        });
        let _ = std::fs::remove_dir_all(self.work.join("c1z"));
    }

    /// Waits until identity resolution has caught up with every change (the worker runs it).
    async fn settle(&self) -> Result<()> {
        for _ in 0..1200 {
            let dirty = chamberlain_store::repo::identity::dirty_scopes(&self.state.store).await?;
            if dirty.is_empty() {
                return Ok(());
            }
            tokio::time::sleep(std::time::Duration::from_millis(100)).await;
        }
        bail!("demo setup: identity resolution did not finish within two minutes")
    }

    async fn user_id(&self, email: &str) -> Result<String> {
        Ok(web_auth::user_by_email(&self.state.store, email)
            .await?
            .ok_or_else(|| anyhow!("demo setup: no user `{email}` after the directory import"))?
            .id)
    }

    /// Creates an app, a connector, and imports `snap` as the connector's sync.
    async fn synced_app(
        &mut self,
        admin: &str,
        people: &[Person],
        name: &str,
        description: &str,
        snap: &Snapshot,
    ) -> Result<AppIds> {
        let app = self
            .call(
                admin,
                "POST",
                "/api/v1/apps",
                json!({"displayName": name, "description": description}),
            )
            .await?;
        let app_id = id_at(&app, &["app", "id"])?.to_string();
        let conn = self
            .call(
                admin,
                "POST",
                &format!("/api/v1/apps/{app_id}/connectors"),
                json!({"displayName": format!("{name} connector")}),
            )
            .await?;
        let conn_id = id_at(&conn, &["connectorView", "connector", "id"])?.to_string();
        let dir = self.work.join("c1z");
        std::fs::create_dir_all(&dir)?;
        let path = dir.join(format!("{}.c1z", name.to_lowercase().replace(' ', "-")));
        snap.write(people, &path).await?;
        let bytes = std::fs::read(&path)?;
        self.call_raw(
            admin,
            "POST",
            &format!("/api/v1/apps/{app_id}/connectors/{conn_id}/c1z"),
            "application/octet-stream",
            bytes,
        )
        .await?;
        let mut ents = BTreeMap::new();
        let mut token = String::new();
        loop {
            let page = self
                .call(
                    admin,
                    "GET",
                    &format!("/api/v1/apps/{app_id}/entitlements?page_size=100&page_token={token}"),
                    Value::Null,
                )
                .await?;
            for e in page["list"].as_array().into_iter().flatten() {
                let e = &e["appEntitlement"];
                if let (Some(n), Some(id)) = (e["displayName"].as_str(), e["id"].as_str()) {
                    ents.insert(n.to_string(), id.to_string());
                }
            }
            match page["nextPageToken"].as_str() {
                Some(t) if !t.is_empty() => token = t.to_string(),
                _ => break,
            }
        }
        Ok(AppIds { id: app_id, ents })
    }

    async fn policy(
        &mut self,
        admin: &str,
        name: &str,
        description: &str,
        grant: bool,
        steps: Value,
    ) -> Result<String> {
        let body = if grant {
            json!({"displayName": name, "description": description, "policyType": "POLICY_TYPE_GRANT",
                "policySteps": {"grant": {"steps": steps}}})
        } else {
            json!({"displayName": name, "description": description, "policyType": "POLICY_TYPE_REVOKE",
                "policySteps": {"revoke": {"steps": steps}}})
        };
        let v = self.call(admin, "POST", "/api/v1/policies", body).await?;
        Ok(id_at(&v, &["policy", "id"])?.to_string())
    }

    async fn set_app(&mut self, admin: &str, app: &str, patch: Value, mask: &str) -> Result<()> {
        self.call(
            admin,
            "POST",
            &format!("/api/v1/apps/{app}"),
            json!({"app": patch, "updateMask": mask}),
        )
        .await
        .map(|_| ())
    }

    async fn set_ent(
        &mut self,
        admin: &str,
        app: &str,
        ent: &str,
        patch: Value,
        mask: &str,
    ) -> Result<()> {
        self.call(
            admin,
            "POST",
            &format!("/api/v1/apps/{app}/entitlements/{ent}"),
            json!({"entitlement": patch, "updateMask": mask}),
        )
        .await
        .map(|_| ())
    }

    /// Creates an access profile; returns (id, enrollment entitlement id).
    async fn profile(
        &mut self,
        admin: &str,
        body: Value,
        entries: &[(&str, &str)],
    ) -> Result<(String, String)> {
        let c = self.call(admin, "POST", "/api/v1/catalogs", body).await?;
        let id = id_at(&c, &["requestCatalogView", "requestCatalog", "id"])?.to_string();
        let enroll = id_at(
            &c,
            &[
                "requestCatalogView",
                "requestCatalog",
                "enrollmentEntitlementId",
            ],
        )
        .unwrap_or_default()
        .to_string();
        let refs: Vec<Value> = entries
            .iter()
            .map(|(app, ent)| json!({"appId": app, "id": ent}))
            .collect();
        self.call(
            admin,
            "POST",
            &format!("/api/v1/catalogs/{id}/requestable_entries"),
            json!({"appEntitlements": refs}),
        )
        .await?;
        Ok((id, enroll))
    }

    /// Requests `ent` of `app` as `user` and returns the task.
    async fn request(
        &mut self,
        user: &str,
        app: &str,
        ent: &str,
        why: &str,
        duration: Option<&str>,
    ) -> Result<Value> {
        let mut body = json!({"appId": app, "appEntitlementId": ent, "description": why});
        if let Some(d) = duration {
            body["grantDuration"] = json!(d);
        }
        let v = self.call(user, "POST", "/api/v1/task/grant", body).await?;
        Ok(v["taskView"]["task"].clone())
    }

    async fn act(&mut self, user: &str, task: &Value, action: &str, comment: &str) -> Result<()> {
        let id = task["id"]
            .as_str()
            .ok_or_else(|| anyhow!("demo: a task without an id: {task}"))?;
        self.call(
            user,
            "POST",
            &format!("/api/v1/tasks/{id}/action/{action}"),
            json!({"comment": comment}),
        )
        .await
        .map(|_| ())
    }

    async fn run(&mut self) -> Result<()> {
        let people = people();
        let store = self.state.store.clone();

        // The administrator: a local account, like `chamberlain admin create-user` makes.
        let phc = hash(PASSWORD).await?;
        let now = Timestamp::now();
        let admin_user = User {
            id: new_id(),
            display_name: "Acme Admin".into(),
            email: ADMIN_EMAIL.into(),
            emails: vec![ADMIN_EMAIL.into()],
            status: UserStatus::Enabled,
            directory_status: UserStatus::Enabled,
            origin: UserOrigin::Local,
            user_type: UserType::Human,
            role_ids: vec![Role::SuperAdmin.id().to_string()],
            created_at: Some(now),
            updated_at: Some(now),
            ..Default::default()
        };
        chamberlain_store::write_tx!(store, &self.audit, |tx| {
            tx.create(&admin_user).await?;
            web_auth::set_password(tx, &admin_user.id, &phc).await
        })?;
        let admin = admin_user.id.clone();

        // The directory: Acme HR, synced, then designated.
        let hr = self
            .synced_app(
                &admin,
                &people,
                "Acme HR",
                "Acme's HR system: the source of truth for people",
                &hr_snapshot(&people),
            )
            .await?;
        self.call(
            &admin,
            "POST",
            "/api/v1/directories",
            json!({"appId": hr.id}),
        )
        .await?;
        self.settle().await?;

        let pd = self
            .synced_app(
                &admin,
                &people,
                "PagerDuty",
                "On-call schedules: rotations and who is on call",
                &pagerduty_snapshot(&people),
            )
            .await?;
        let gh = self
            .synced_app(
                &admin,
                &people,
                "GitHub",
                "Source code: the acme organization, its teams and repositories",
                &github_snapshot(&people),
            )
            .await?;
        let aws = self
            .synced_app(
                &admin,
                &people,
                "AWS",
                "Cloud accounts (IAM Identity Center permission sets)",
                &aws_snapshot(&people),
            )
            .await?;
        let sf = self
            .synced_app(
                &admin,
                &people,
                "Salesforce",
                "CRM for Sales, Customer Success and Marketing",
                &salesforce_snapshot(&people),
            )
            .await?;
        self.settle().await?;

        let sam = self.user_id(EMPLOYEE_EMAIL).await?;
        let jordan = self.user_id(MANAGER_EMAIL).await?;
        let morgan = self.user_id("morgan.chen@acme.example").await?;
        let elena = self.user_id("elena.novak@acme.example").await?;
        let priya = self.user_id("priya.shah@acme.example").await?;
        let riley = self.user_id("riley.park@acme.example").await?;

        // Sign-ins for the employee and the manager.
        let (s, j) = (sam.clone(), jordan.clone());
        chamberlain_store::write_tx!(store, &self.audit, |tx| {
            web_auth::set_password(tx, &s, &phc).await?;
            web_auth::set_password(tx, &j, &phc).await
        })?;

        // Owners.
        for (app, owners) in [
            (&gh.id, vec![elena.clone()]),
            (&aws.id, vec![riley.clone(), morgan.clone()]),
            (&sf.id, vec![priya.clone()]),
            (&pd.id, vec![jordan.clone()]),
            (&hr.id, vec![riley.clone()]),
        ] {
            self.call(
                &admin,
                "PUT",
                &format!("/api/v1/apps/{app}/owners"),
                json!({"userIds": owners}),
            )
            .await?;
        }

        // Policies.
        let auto = self
            .policy(
                &admin,
                "Auto-approve",
                "Granted at once, no approval (low-risk access)",
                true,
                json!([{"accept": {"acceptMessage": "Low-risk access: approved automatically"}}]),
            )
            .await?;
        let manager = self
            .policy(&admin, "Manager approval", "The requester's manager approves; IT if they have none", true,
                json!([{"approval": {"manager": {"fallback": true, "fallbackUserIds": [riley]}}}, {"provision": {}}]))
            .await?;
        let owners = self
            .policy(&admin, "App owner approval", "The app's owners approve", true,
                json!([{"approval": {"appOwners": {"fallback": true, "fallbackUserIds": [riley]}, "requireDenialReason": true}}, {"provision": {}}]))
            .await?;
        let jit = self
            .policy(&admin, "JIT production access", "Manager approval, then time-bound access (at most 4 hours, set on the entitlement)", true,
                json!([{"approval": {"manager": {"fallback": true, "fallbackUserIds": [riley]}, "requireApprovalReason": false}}, {"provision": {}}]))
            .await?;
        let revoke = self
            .policy(
                &admin,
                "Auto-revoke",
                "Giving access back needs no approval",
                false,
                json!([{"accept": {}}]),
            )
            .await?;
        for (app, grant) in [
            (&gh.id, &manager),
            (&aws.id, &manager),
            (&sf.id, &owners),
            (&pd.id, &owners),
        ] {
            self.set_app(
                &admin,
                app,
                json!({"grantPolicyId": grant, "revokePolicyId": revoke}),
                "grantPolicyId,revokePolicyId",
            )
            .await?;
        }
        self.set_ent(
            &admin,
            &gh.id,
            gh.ent("acme Owner")?,
            json!({"grantPolicyId": owners}),
            "grantPolicyId",
        )
        .await?;
        self.set_ent(
            &admin,
            &gh.id,
            gh.ent("acme/docs write")?,
            json!({"grantPolicyId": auto}),
            "grantPolicyId",
        )
        .await?;
        for set in ["acme-sandbox ReadOnlyAccess", "acme-staging ReadOnlyAccess"] {
            self.set_ent(
                &admin,
                &aws.id,
                aws.ent(set)?,
                json!({"grantPolicyId": auto}),
                "grantPolicyId",
            )
            .await?;
        }
        let prod_admin = aws.ent("acme-production AdministratorAccess")?.to_string();
        self.set_ent(
            &admin,
            &aws.id,
            &prod_admin,
            json!({"grantPolicyId": jit, "durationGrant": "14400s"}),
            "grantPolicyId,durationGrant",
        )
        .await?;
        self.set_ent(
            &admin,
            &aws.id,
            aws.ent("acme-production PowerUserAccess")?,
            json!({"grantPolicyId": jit, "durationGrant": "14400s"}),
            "grantPolicyId,durationGrant",
        )
        .await?;

        // Access profiles. Requesting one asks its enrollment entitlement's policy (the
        // contents are then granted without their own policies), so each gets the policy a
        // person would expect from its description.
        let (_, baseline) = self
            .profile(
            &admin,
            json!({"displayName": "Engineering baseline", "description": "What every engineer starts with: GitHub, staging and sandbox AWS",
                "published": true, "visibleToEveryone": true, "requestBundle": true}),
            &[
                (&gh.id, gh.ent("acme Member")?),
                (&gh.id, gh.ent("acme/docs write")?),
                (&aws.id, aws.ent("acme-staging ReadOnlyAccess")?),
                (&aws.id, aws.ent("acme-sandbox ReadOnlyAccess")?),
            ],
        )
        .await?;
        self.set_ent(
            &admin,
            BUILTIN_APP,
            &baseline,
            json!({"grantPolicyId": manager}),
            "grantPolicyId",
        )
        .await?;
        let (oncall, oncall_enroll) = self
            .profile(
                &admin,
                json!({"displayName": "On-call production access", "description": "Requestable by members of an on-call rotation: production access for incidents (JIT, 4 hours at most)",
                    "published": true, "requestBundle": true}),
                &[
                    (&aws.id, &prod_admin),
                    (&aws.id, aws.ent("acme-production PowerUserAccess")?),
                ],
            )
            .await?;
        self.set_ent(
            &admin,
            BUILTIN_APP,
            &oncall_enroll,
            json!({"grantPolicyId": jit, "durationGrant": "14400s"}),
            "grantPolicyId,durationGrant",
        )
        .await?;
        let members: Vec<Value> = ROTATIONS
            .iter()
            .map(|(_, name, ..)| {
                Ok(json!({"appId": pd.id, "id": pd.ent(&format!("{name} member"))?}))
            })
            .collect::<Result<_>>()?;
        self.call(
            &admin,
            "POST",
            &format!("/api/v1/catalogs/{oncall}/visibility_bindings"),
            json!({"accessEntitlements": members}),
        )
        .await?;
        let (auto_profile, enroll) = self
            .profile(
                &admin,
                json!({"displayName": "On-call (automatic)", "description": "Granted automatically to whoever is on call, removed when their shift ends",
                    "published": true}),
                &[
                    (&aws.id, aws.ent("acme-production ReadOnlyAccess")?),
                    (&gh.id, gh.ent("Incident responders team member")?),
                ],
            )
            .await?;
        self.set_ent(
            &admin,
            BUILTIN_APP,
            &enroll,
            json!({"grantPolicyId": auto}),
            "grantPolicyId",
        )
        .await?;
        let on_call: Vec<Value> = ROTATIONS
            .iter()
            .map(|(_, name, ..)| {
                Ok(json!({"appId": pd.id, "id": pd.ent(&format!("{name} on call"))?}))
            })
            .collect::<Result<_>>()?;
        self.call(
            &admin,
            "POST",
            &format!("/api/v1/catalogs/{auto_profile}/bundle_automation"),
            json!({"entitlements": {"entitlementRefs": on_call}, "enabled": true, "createTasks": true}),
        )
        .await?;
        self.call(
            &admin,
            "POST",
            &format!("/api/v1/catalogs/{auto_profile}/bundle_automation/run"),
            json!({}),
        )
        .await?;

        // The MCP server.
        self.mcp(&admin, &sam, &jordan).await?;

        // Requests in several states.
        // Auto-approved: Sam takes write access to the docs.
        let docs = gh.ent("acme/docs write")?.to_string();
        self.request(&sam, &gh.id, &docs, "Fixing the on-call runbook", None)
            .await?;
        // Approved by the manager: JIT production access for Morgan.
        let t = self
            .request(
                &morgan,
                &aws.id,
                &prod_admin,
                "INC-2041: payments latency, need to resize the cache cluster",
                Some("7200s"),
            )
            .await?;
        self.act(
            &jordan,
            &t,
            "approve",
            "Go ahead; post the change in #incidents",
        )
        .await?;
        // Denied by the app owner.
        let rep = self
            .user_id(&people[team(&people, "Enterprise Sales")[0]].email)
            .await?;
        let t = self
            .request(
                &rep,
                &sf.id,
                sf.ent("System Administrator")?,
                "I want to fix my own reports",
                None,
            )
            .await?;
        self.act(
            &priya,
            &t,
            "deny",
            "Admin is for Sales Ops only; ask us and we will change the report",
        )
        .await?;
        // Waiting for the manager: Sam asks to join the Security team.
        self.request(
            &sam,
            &gh.id,
            gh.ent("Security team member")?,
            "Pairing with Security on the secrets rotation project this quarter",
            None,
        )
        .await?;
        Ok(())
    }

    async fn mcp(&mut self, admin: &str, sam: &str, jordan: &str) -> Result<()> {
        let exe = std::env::current_exe()?;
        let fixture = exe
            .parent()
            .map(|d| d.join("chamberlain-mcp-fixture"))
            .filter(|p| p.is_file());
        let Some(fixture) = fixture else {
            self.notes.push(format!(
                "no MCP server was added: chamberlain-mcp-fixture is not next to {} (build it with `cargo build -p chamberlain-mcp-fixture`)",
                exe.display()
            ));
            return Ok(());
        };
        let tools_file = self.work.join("ops-assistant-tools.json");
        std::fs::write(
            &tools_file,
            serde_json::to_vec_pretty(&json!([
                {"name": "search_runbooks", "description": "Searches Acme's incident runbooks", "annotations": {"readOnlyHint": true},
                 "inputSchema": {"type": "object", "properties": {"query": {"type": "string"}}}},
                {"name": "get_incident", "description": "Reads an incident: timeline, responders, customer impact", "annotations": {"readOnlyHint": true},
                 "inputSchema": {"type": "object", "properties": {"id": {"type": "string"}}}},
                {"name": "create_ticket", "description": "Opens a ticket in the service desk", "annotations": {"readOnlyHint": false, "destructiveHint": false},
                 "inputSchema": {"type": "object", "properties": {"title": {"type": "string"}}}},
                {"name": "page_oncall", "description": "Pages the on-call engineer of a rotation", "annotations": {"readOnlyHint": false, "destructiveHint": false},
                 "inputSchema": {"type": "object", "properties": {"rotation": {"type": "string"}}}},
                {"name": "restart_service", "description": "Restarts a production service", "annotations": {"destructiveHint": true},
                 "inputSchema": {"type": "object", "properties": {"service": {"type": "string"}}}},
                {"name": "delete_incident", "description": "Deletes an incident record", "annotations": {"destructiveHint": true},
                 "inputSchema": {"type": "object", "properties": {"id": {"type": "string"}}}}
            ]))?,
        )?;
        let app = self
            .call(admin, "POST", "/api/v1/apps", json!({"displayName": "Ops Assistant (MCP)", "description": "AI tools for incident response, through Chamberlain's MCP gateway"}))
            .await?;
        let app_id = id_at(&app, &["app", "id"])?.to_string();
        let revoke = self
            .policy(
                admin,
                "Ops Assistant auto-revoke",
                "Giving AI tools back needs no approval",
                false,
                json!([{"accept": {}}]),
            )
            .await?;
        let manager = self
            .policy(admin, "Ops Assistant manager approval", "AI tools: the requester's manager approves", true,
                json!([{"approval": {"manager": {"fallback": true, "fallbackUserIds": [jordan]}}}, {"provision": {}}]))
            .await?;
        self.set_app(
            admin,
            &app_id,
            json!({"grantPolicyId": manager, "revokePolicyId": revoke}),
            "grantPolicyId,revokePolicyId",
        )
        .await?;
        let args = serde_json::to_string(&[
            "--stdio",
            "--only-generated",
            "--tools-file",
            &tools_file.to_string_lossy(),
        ])?;
        let reg = self
            .call(admin, "POST", &format!("/api/v1/apps/{app_id}/mcp_servers"), json!({
                "displayName": "Ops Assistant", "serverType": "MCP_SERVER_TYPE_HOSTED", "toolPrefix": "ops",
                "description": "Runbooks, incidents and tickets (the demo runs chamberlain-mcp-fixture)",
                "hostedConfig": {"mcpServerCatalogId": "generic-hosted",
                    "configFields": {"command": fixture.to_string_lossy(), "args": args}}}))
            .await?;
        let server = id_at(&reg, &["mcpServer", "connectorId"])?.to_string();
        let base = format!("/api/v1/apps/{app_id}/connectors/{server}");
        let tools = self
            .call(
                admin,
                "GET",
                &format!("{base}/mcp_tools?page_size=100"),
                Value::Null,
            )
            .await?;
        let by_name: BTreeMap<String, Value> = tools["tools"]
            .as_array()
            .into_iter()
            .flatten()
            .filter_map(|t| Some((t["toolName"].as_str()?.to_string(), t.clone())))
            .collect();
        // Reviewed: approved (one reclassified as sensitive), disabled; the rest stay pending.
        let changes = [
            ("echo", json!({"state": "MCP_TOOL_STATE_APPROVED"}), "state"),
            (
                "search_runbooks",
                json!({"state": "MCP_TOOL_STATE_APPROVED"}),
                "state",
            ),
            (
                "get_incident",
                json!({"state": "MCP_TOOL_STATE_APPROVED", "classification": "TOOL_CLASSIFICATION_SENSITIVE"}),
                "state,classification",
            ),
            (
                "create_ticket",
                json!({"state": "MCP_TOOL_STATE_APPROVED"}),
                "state",
            ),
            (
                "restart_service",
                json!({"state": "MCP_TOOL_STATE_DISABLED"}),
                "state",
            ),
        ];
        for (name, patch, mask) in changes {
            let Some(tool) = by_name.get(name) else {
                bail!("demo setup: the MCP fixture did not list the tool `{name}`");
            };
            let id = id_at(tool, &["id"])?.to_string();
            self.call(
                admin,
                "POST",
                &format!("{base}/mcp_tools/{id}"),
                json!({"tool": patch, "updateMask": mask}),
            )
            .await?;
        }
        let set = self
            .call(admin, "POST", &format!("{base}/mcp_toolsets"), json!({"displayName": "Incident responder", "description": "Runbooks, incidents and tickets"}))
            .await?;
        let set_id = id_at(&set, &["profile", "id"])?.to_string();
        let set_ent = id_at(&set, &["profile", "appEntitlementId"])?.to_string();
        let ids: Vec<&str> = ["search_runbooks", "get_incident", "create_ticket"]
            .iter()
            .filter_map(|n| by_name.get(*n).and_then(|t| t["id"].as_str()))
            .collect();
        self.call(
            admin,
            "POST",
            &format!("{base}/mcp_toolsets/{set_id}/tool_bindings"),
            json!({"mcpToolIds": ids}),
        )
        .await?;
        let (_, ai_enroll) = self.profile(
            admin,
            json!({"displayName": "AI tools for incident response", "description": "The Ops Assistant's incident-responder tools for your AI client (Claude, ChatGPT, Cursor…)",
                "published": true, "visibleToEveryone": true, "requestBundle": true}),
            &[(&app_id, &set_ent)],
        )
        .await?;
        self.set_ent(
            admin,
            BUILTIN_APP,
            &ai_enroll,
            json!({"grantPolicyId": manager}),
            "grantPolicyId",
        )
        .await?;
        // Sam starts with the read-only toolset, so his AI client has tools at once.
        let sets = self
            .call(admin, "GET", &format!("{base}/mcp_toolsets"), Value::Null)
            .await?;
        if let Some(ro) = sets["profiles"]
            .as_array()
            .into_iter()
            .flatten()
            .find(|t| t["chamberlainBuiltIn"] == "READ_ONLY")
            .and_then(|t| t["appEntitlementId"].as_str())
        {
            self.call(
                admin,
                "POST",
                &format!("/api/v1/apps/{app_id}/entitlements/{ro}/add-manual-user"),
                json!({"userIds": [sam]}),
            )
            .await?;
        }
        Ok(())
    }
}

async fn hash(pw: &str) -> Result<String> {
    let pw = pw.to_string();
    tokio::task::spawn_blocking(move || chamberlain_auth::password::hash(&pw))
        .await?
        .map_err(anyhow::Error::msg)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_company_has_200_people_with_managers() {
        let p = people();
        assert_eq!(p.len(), 200);
        let emails: HashSet<&str> = p.iter().map(|x| x.email.as_str()).collect();
        assert_eq!(emails.len(), 200, "emails are unique");
        assert_eq!(p.iter().filter(|x| x.manager.is_none()).count(), 1);
        let sam = &p[index_of(&p, EMPLOYEE_EMAIL)];
        assert_eq!(p[sam.manager.unwrap()].email, MANAGER_EMAIL);
        assert!(!is_lead(sam));
        assert!(is_lead(&p[index_of(&p, MANAGER_EMAIL)]));
        assert!(p.iter().any(|x| x.employment_type == "Contractor"));
        assert!(p.iter().any(|x| x.employment_type == "Intern"));
    }
}
