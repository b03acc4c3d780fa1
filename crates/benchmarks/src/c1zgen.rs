//! A generator of realistic Baton c1z files (format v1) for the sync-import benchmark.
//!
//! The shape, for `users` U, `groups` G and `grants` T:
//! - users with names, logins, a primary email (about 10% a second one), employee ids and a
//!   profile (department, title, location); about 2% are service accounts (account type
//!   SERVICE, no email) and 0.3% system accounts; about 3% are disabled;
//! - groups, each with a `member` entitlement, and about 10% also with an `admin` one;
//! - grants: a few nested groups (G/500 pairs, at least one when G ≥ 4): the parent's `member`
//!   entitlement is granted to the child group (with a `GrantExpandable` annotation) and to
//!   each of the child's members as an expansion-derived grant (with sources); admin
//!   entitlements get 1–5 holders; every other grant is a direct `member` grant, spread over
//!   the groups with a Zipf-like skew (a few huge groups, many small ones; none over 90% of
//!   the users). There are exactly T grants.
//!
//! Everything is drawn from an `StdRng` seeded with `seed`, so a seed always gives the same
//! data. `change_pct` P applies a second, independent random stream on top of the same data:
//! P% of the direct member grants are changed (a third removed, a third added, the rest moved
//! to another user; removed and added balance, so the count stays T) and P% of the users
//! change their display name or status. Importing the base file and then the changed one is a
//! realistic re-sync.

use anyhow::{bail, Result};
use chamberlain_sync::c1z::proto::{self, Entitlement, Grant, Resource, ResourceType};
use chamberlain_sync::c1z::write::{
    derived_sources, grant_expandable_annotation, resource_stub, rid, user_trait_annotation,
    C1zWriter, WriteSummary,
};
use rand::rngs::StdRng;
use rand::seq::index::sample;
use rand::{Rng, SeedableRng};
use serde_json::{json, Map};
use std::collections::{HashMap, HashSet};
use std::path::Path;

/// What to generate.
#[derive(Clone, Debug)]
pub struct Spec {
    /// Users.
    pub users: usize,
    /// Groups.
    pub groups: usize,
    /// Grants, exactly.
    pub grants: usize,
    /// Seed of the data.
    pub seed: u64,
    /// Percent of grants and users changed relative to the data of `seed` (0 = the base).
    pub change_pct: f64,
}

/// What was generated.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Generated {
    /// Users written.
    pub users: u64,
    /// Groups written.
    pub groups: u64,
    /// Entitlements written (`member` + `admin`).
    pub entitlements: u64,
    /// Grants written, all kinds.
    pub grants: u64,
    /// Direct `member` grants to users.
    pub member_grants: u64,
    /// Direct `admin` grants to users.
    pub admin_grants: u64,
    /// Grants of a parent group's `member` entitlement to a child group.
    pub group_grants: u64,
    /// Expansion-derived grants.
    pub derived_grants: u64,
    /// Users changed by `change_pct`.
    pub changed_users: u64,
    /// Grants removed by `change_pct`.
    pub removed_grants: u64,
    /// Grants moved to another user by `change_pct`.
    pub replaced_grants: u64,
    /// Grants added by `change_pct`.
    pub added_grants: u64,
    /// Sync id of the file.
    pub sync_id: String,
    /// Size of the file.
    pub file_bytes: u64,
}

const FIRST: &[&str] = &[
    "James",
    "Mary",
    "Robert",
    "Patricia",
    "John",
    "Jennifer",
    "Michael",
    "Linda",
    "David",
    "Elizabeth",
    "William",
    "Barbara",
    "Richard",
    "Susan",
    "Joseph",
    "Jessica",
    "Thomas",
    "Karen",
    "Carlos",
    "Sarah",
    "Wei",
    "Priya",
    "Ahmed",
    "Fatima",
    "Yuki",
    "Olga",
    "Lars",
    "Ana",
    "Kwame",
    "Mei",
    "Diego",
    "Ingrid",
    "Ravi",
    "Chloe",
    "Mateo",
    "Aisha",
    "Noah",
    "Sofia",
    "Liam",
    "Emma",
];
const LAST: &[&str] = &[
    "Smith",
    "Johnson",
    "Williams",
    "Brown",
    "Jones",
    "Garcia",
    "Miller",
    "Davis",
    "Rodriguez",
    "Martinez",
    "Hernandez",
    "Lopez",
    "Gonzalez",
    "Wilson",
    "Anderson",
    "Thomas",
    "Taylor",
    "Moore",
    "Jackson",
    "Martin",
    "Lee",
    "Chen",
    "Patel",
    "Kim",
    "Nguyen",
    "Singh",
    "Tanaka",
    "Muller",
    "Rossi",
    "Dubois",
    "Silva",
    "Novak",
    "Larsen",
    "Okafor",
    "Haddad",
    "Kowalski",
    "Ivanova",
    "Costa",
    "Sato",
    "Schmidt",
];
const DEPARTMENTS: &[&str] = &[
    "Engineering",
    "Sales",
    "Marketing",
    "Finance",
    "Support",
    "Legal",
    "People",
    "Operations",
    "Security",
    "Product",
    "Design",
    "Data",
];
const TEAMS: &[&str] = &[
    "Platform",
    "Payments",
    "Growth",
    "Infra",
    "Mobile",
    "Web",
    "Analytics",
    "Identity",
    "Billing",
    "Search",
    "Core",
    "Partners",
    "EMEA",
    "APAC",
    "Americas",
];
const TITLES: &[&str] = &[
    "Engineer",
    "Senior Engineer",
    "Manager",
    "Director",
    "Analyst",
    "Specialist",
    "Designer",
    "Account Executive",
    "Administrator",
    "Intern",
];
const LOCATIONS: &[&str] = &[
    "New York",
    "San Francisco",
    "London",
    "Berlin",
    "Bangalore",
    "Tokyo",
    "Sao Paulo",
    "Remote",
];

fn pick<'a>(rng: &mut StdRng, list: &[&'a str]) -> &'a str {
    list[rng.gen_range(0..list.len())]
}

/// Baton id of user `i`.
pub fn user_id(i: usize) -> String {
    format!("u{i:07}")
}

/// Baton id of group `g`.
pub fn group_id(g: usize) -> String {
    format!("g{g:06}")
}

fn member_ent(g: usize) -> String {
    format!("group:{}:member", group_id(g))
}

/// Splits `total` over slots weighted 1/(rank+1) (Zipf, s = 1), each at most its cap; the sum
/// is exactly `total`. Fails when the caps cannot hold `total`.
pub fn zipf_sizes(total: usize, caps: &[usize]) -> Result<Vec<usize>> {
    let capacity: usize = caps.iter().sum();
    if total > capacity {
        bail!("{total} grants do not fit: the groups can hold at most {capacity} distinct members");
    }
    let weights: Vec<f64> = (0..caps.len()).map(|k| 1.0 / (k as f64 + 1.0)).collect();
    let sum: f64 = weights.iter().sum();
    let mut sizes: Vec<usize> = weights
        .iter()
        .zip(caps)
        .map(|(w, cap)| ((total as f64 * w / sum) as usize).min(*cap))
        .collect();
    let mut left = total - sizes.iter().sum::<usize>();
    // What flooring and the caps left over goes to the smallest slots first (one each, round
    // after round), which keeps the big ones as the weights made them.
    while left > 0 {
        let mut progressed = false;
        for k in (0..sizes.len()).rev() {
            if left == 0 {
                break;
            }
            if sizes[k] < caps[k] {
                sizes[k] += 1;
                left -= 1;
                progressed = true;
            }
        }
        if !progressed {
            bail!("cannot place {left} grants");
        }
    }
    Ok(sizes)
}

/// What `change_pct` does to one direct member grant.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Change {
    Remove,
    Replace,
    Add,
}

/// The grant plan drawn from the base stream.
struct Plan {
    /// Group → index of its child in `children` (for parents).
    parent_of: HashMap<usize, usize>,
    /// Children groups with their (sorted) members.
    children: Vec<(usize, Vec<usize>)>,
    /// Group → child index (for child groups).
    child_index: HashMap<usize, usize>,
    /// Direct member-grant count per group (children: their member count).
    member_sizes: Vec<usize>,
    /// Admin-grant count per group (0 when the group has no admin entitlement or no budget).
    admin_sizes: Vec<usize>,
}

/// Writes a generated data set to `out`.
pub async fn generate(spec: &Spec, out: &Path) -> Result<Generated> {
    let (u_n, g_n, t_n) = (spec.users, spec.groups, spec.grants);
    if u_n == 0 || g_n == 0 {
        bail!("--users and --groups must be at least 1");
    }
    if !(0.0..=100.0).contains(&spec.change_pct) {
        bail!("--change-pct must be between 0 and 100");
    }
    let mut rng = StdRng::seed_from_u64(spec.seed);
    let mut chg = StdRng::seed_from_u64(spec.seed ^ 0x9E37_79B9_7F4A_7C15);
    let mut gen = Generated::default();
    let mut w = C1zWriter::create(out).await?;
    gen.sync_id = w.sync_id().to_string();

    let user_type = ResourceType {
        id: "user".into(),
        display_name: "User".into(),
        traits: vec![1],
        description: "People and service accounts".into(),
        ..Default::default()
    };
    let group_type = ResourceType {
        id: "group".into(),
        display_name: "Group".into(),
        traits: vec![2],
        ..Default::default()
    };
    w.add_resource_type(user_type.clone()).await?;
    w.add_resource_type(group_type.clone()).await?;

    // Group attributes come first in the base stream, then the grant plan, then users, so the
    // plan does not depend on how users are drawn.
    let groups: Vec<(String, bool)> = (0..g_n)
        .map(|g| {
            let name = format!(
                "{} {} {}",
                pick(&mut rng, DEPARTMENTS),
                pick(&mut rng, TEAMS),
                g
            );
            (name, rng.gen_bool(0.10))
        })
        .collect();
    let plan = plan(&mut rng, u_n, g_n, t_n, &groups)?;

    // Changes: drawn from their own stream, over the direct member grants of non-child groups
    // (numbered in the order they are written).
    let changeable: usize = (0..g_n)
        .filter(|g| !plan.child_index.contains_key(g))
        .map(|g| plan.member_sizes[g])
        .sum();
    let n_changes = ((t_n as f64 * spec.change_pct / 100.0).round() as usize).min(changeable);
    let removes = n_changes / 3;
    let adds = removes;
    let replaces = n_changes - removes - adds;
    let mut changes: HashMap<usize, Change> = HashMap::with_capacity(n_changes);
    for (k, ordinal) in sample(&mut chg, changeable, n_changes)
        .into_iter()
        .enumerate()
    {
        let c = if k < removes {
            Change::Remove
        } else if k < removes + replaces {
            Change::Replace
        } else {
            Change::Add
        };
        changes.insert(ordinal, c);
    }
    let n_user_changes = ((u_n as f64 * spec.change_pct / 100.0).round() as usize).min(u_n);
    let changed_users: HashSet<usize> = sample(&mut chg, u_n, n_user_changes).into_iter().collect();

    // Users.
    for i in 0..u_n {
        let first = pick(&mut rng, FIRST);
        let last = pick(&mut rng, LAST);
        let dept = pick(&mut rng, DEPARTMENTS);
        let title = pick(&mut rng, TITLES);
        let location = pick(&mut rng, LOCATIONS);
        let kind: f64 = rng.gen();
        let disabled = rng.gen_bool(0.03);
        let second_email = rng.gen_bool(0.10);
        let account_type = if kind < 0.02 {
            2
        } else if kind < 0.023 {
            3
        } else {
            1
        };
        let (login, mut display_name, emails, employee_ids, mut profile) = if account_type == 1 {
            let login = format!("{}.{}{}", first.to_lowercase(), last.to_lowercase(), i);
            let mut emails = vec![proto::Email {
                address: format!("{login}@example.com"),
                is_primary: true,
            }];
            if second_email {
                emails.push(proto::Email {
                    address: format!(
                        "{}{}{}@corp.example.org",
                        first.to_lowercase(),
                        &last[..1].to_lowercase(),
                        i
                    ),
                    is_primary: false,
                });
            }
            let mut p = Map::new();
            p.insert("firstName".into(), json!(first));
            p.insert("lastName".into(), json!(last));
            p.insert("department".into(), json!(dept));
            p.insert("title".into(), json!(title));
            p.insert("location".into(), json!(location));
            (
                login,
                format!("{first} {last}"),
                emails,
                vec![format!("E{i:07}")],
                p,
            )
        } else {
            let login = format!("svc-{}-{i}", dept.to_lowercase());
            let mut p = Map::new();
            p.insert("department".into(), json!(dept));
            p.insert("owner".into(), json!(format!("{first} {last}")));
            (
                login.clone(),
                format!("{dept} automation {i}"),
                vec![],
                vec![],
                p,
            )
        };
        let mut status = if disabled { 2 } else { 1 };
        if changed_users.contains(&i) {
            if chg.gen_bool(0.5) {
                display_name.push_str(" (renamed)");
                profile.insert("lastName".into(), json!(format!("{last}-Renamed")));
            } else {
                status = if status == 1 { 2 } else { 1 };
            }
            gen.changed_users += 1;
        }
        let t = proto::UserTrait {
            emails,
            status: Some(proto::Status {
                status,
                details: if status == 1 { "active" } else { "suspended" }.into(),
            }),
            profile: Some(proto::json_to_struct(&profile)),
            account_type,
            login,
            employee_ids,
            ..Default::default()
        };
        w.add_resource(Resource {
            id: Some(rid("user", user_id(i))),
            display_name,
            annotations: vec![user_trait_annotation(&t)],
            ..Default::default()
        })
        .await?;
        gen.users += 1;
    }

    // Groups and their entitlements.
    for (g, (name, has_admin)) in groups.iter().enumerate() {
        let mut profile = Map::new();
        profile.insert("source".into(), json!("directory"));
        let group = Resource {
            id: Some(rid("group", group_id(g))),
            display_name: name.clone(),
            description: format!("The {name} team"),
            profile: Some(proto::json_to_struct(&profile)),
            ..Default::default()
        };
        w.add_resource(group.clone()).await?;
        gen.groups += 1;
        w.add_entitlement(Entitlement {
            id: member_ent(g),
            resource: Some(group.clone()),
            display_name: format!("{name} Member"),
            description: format!("Member of {name}"),
            grantable_to: vec![user_type.clone(), group_type.clone()],
            purpose: 1,
            slug: "member".into(),
            ..Default::default()
        })
        .await?;
        gen.entitlements += 1;
        if *has_admin {
            w.add_entitlement(Entitlement {
                id: format!("group:{}:admin", group_id(g)),
                resource: Some(group),
                display_name: format!("{name} Admin"),
                description: format!("Can manage {name}"),
                grantable_to: vec![user_type.clone()],
                purpose: 2,
                slug: "admin".into(),
                ..Default::default()
            })
            .await?;
            gen.entitlements += 1;
        }
    }

    // Grants, group by group.
    let mut ordinal = 0usize;
    for g in 0..g_n {
        let ent = member_ent(g);
        let ent_res = Some(resource_stub(rid("group", group_id(g))));
        let stub = |ent_id: &str| Entitlement {
            id: ent_id.to_string(),
            resource: ent_res.clone(),
            ..Default::default()
        };
        let user_grant = |ent_id: &str, u: usize| Grant {
            id: format!("{ent_id}:user:{}", user_id(u)),
            entitlement: Some(stub(ent_id)),
            principal: Some(resource_stub(rid("user", user_id(u)))),
            ..Default::default()
        };
        if let Some(&c) = plan.child_index.get(&g) {
            for &u in &plan.children[c].1 {
                w.add_grant(user_grant(&ent, u)).await?;
                gen.member_grants += 1;
            }
        } else {
            let excluded: &[usize] = plan
                .parent_of
                .get(&g)
                .map(|&c| plan.children[c].1.as_slice())
                .unwrap_or(&[]);
            let size = plan.member_sizes[g];
            let mut members: Vec<usize> = sample(&mut rng, u_n, size + excluded.len())
                .into_iter()
                .filter(|u| excluded.binary_search(u).is_err())
                .take(size)
                .collect();
            members.sort_unstable();
            let mut extra: Vec<usize> = Vec::new();
            for &u in &members {
                let change = changes.get(&ordinal).copied();
                ordinal += 1;
                match change {
                    None => {
                        w.add_grant(user_grant(&ent, u)).await?;
                        gen.member_grants += 1;
                    }
                    Some(Change::Remove) => gen.removed_grants += 1,
                    Some(c) => {
                        if c == Change::Add {
                            w.add_grant(user_grant(&ent, u)).await?;
                            gen.member_grants += 1;
                        }
                        // Another user who is not (and was not made) a member: the first
                        // free one from a random start.
                        let start = chg.gen_range(0..u_n);
                        let other = (0..u_n).map(|k| (start + k) % u_n).find(|v| {
                            members.binary_search(v).is_err()
                                && excluded.binary_search(v).is_err()
                                && !extra.contains(v)
                        });
                        match (other, c) {
                            (Some(v), _) => {
                                extra.push(v);
                                w.add_grant(user_grant(&ent, v)).await?;
                                gen.member_grants += 1;
                                if c == Change::Add {
                                    gen.added_grants += 1;
                                } else {
                                    gen.replaced_grants += 1;
                                }
                            }
                            // The group holds nearly everyone: keep the grant as it was.
                            (None, Change::Replace) => {
                                w.add_grant(user_grant(&ent, u)).await?;
                                gen.member_grants += 1;
                            }
                            (None, _) => {}
                        }
                    }
                }
            }
        }
        if let Some(&c) = plan.parent_of.get(&g) {
            let (child, child_members) = &plan.children[c];
            let child_ent = member_ent(*child);
            w.add_grant(Grant {
                id: format!("{ent}:group:{}", group_id(*child)),
                entitlement: Some(stub(&ent)),
                principal: Some(resource_stub(rid("group", group_id(*child)))),
                annotations: vec![grant_expandable_annotation(vec![child_ent.clone()])],
                ..Default::default()
            })
            .await?;
            gen.group_grants += 1;
            for &u in child_members {
                let mut grant = user_grant(&ent, u);
                grant.sources = Some(derived_sources([child_ent.clone()]));
                w.add_grant(grant).await?;
                gen.derived_grants += 1;
            }
        }
        if plan.admin_sizes[g] > 0 {
            let admin = format!("group:{}:admin", group_id(g));
            let mut admins = sample(&mut rng, u_n, plan.admin_sizes[g]).into_vec();
            admins.sort_unstable();
            for u in admins {
                w.add_grant(user_grant(&admin, u)).await?;
                gen.admin_grants += 1;
            }
        }
    }
    let summary: WriteSummary = w.finish().await?;
    gen.grants = summary.grants;
    gen.file_bytes = summary.file_bytes;
    Ok(gen)
}

/// Draws nesting, admin holders' counts and member-grant sizes so the total is exactly `t_n`.
fn plan(
    rng: &mut StdRng,
    u_n: usize,
    g_n: usize,
    t_n: usize,
    groups: &[(String, bool)],
) -> Result<Plan> {
    let mut n_nested = if g_n >= 4 { (g_n / 500).max(1) } else { 0 };
    let picked = sample(rng, g_n, 2 * n_nested).into_vec();
    let mut child_sizes: Vec<usize> = (0..n_nested)
        .map(|_| rng.gen_range(3..=25).min(u_n / 2))
        .collect();
    let mut admin_sizes: Vec<usize> = groups
        .iter()
        .map(|(_, has_admin)| {
            if *has_admin {
                rng.gen_range(1..=5).min(u_n)
            } else {
                0
            }
        })
        .collect();
    // Each nested pair costs the child's member grants, the group grant and the derived ones.
    let fixed = |child_sizes: &[usize], admin_sizes: &[usize]| {
        child_sizes.iter().map(|s| 2 * s + 1).sum::<usize>() + admin_sizes.iter().sum::<usize>()
    };
    if fixed(&child_sizes, &admin_sizes) > t_n {
        // Too few grants for the extras: direct member grants only.
        n_nested = 0;
        child_sizes.clear();
        admin_sizes.iter_mut().for_each(|s| *s = 0);
    }
    let mut children = Vec::with_capacity(n_nested);
    let mut child_index = HashMap::new();
    let mut parent_of = HashMap::new();
    for (c, size) in child_sizes.iter().enumerate() {
        let (child, parent) = (picked[c], picked[n_nested + c]);
        let mut members = sample(rng, u_n, *size).into_vec();
        members.sort_unstable();
        children.push((child, members));
        child_index.insert(child, c);
        parent_of.insert(parent, c);
    }
    let rest = t_n - fixed(&child_sizes, &admin_sizes);
    // Member sizes of the other groups, Zipf over a random order of the groups.
    let mut order: Vec<usize> = (0..g_n).filter(|g| !child_index.contains_key(g)).collect();
    rand::seq::SliceRandom::shuffle(order.as_mut_slice(), rng);
    // No group holds more than 90% of the users, so a change can always find someone new.
    let most = (u_n * 9 / 10).max(1);
    let caps: Vec<usize> = order
        .iter()
        .map(|g| match parent_of.get(g) {
            Some(&c) => most.min(u_n - children[c].1.len()),
            None => most,
        })
        .collect();
    let sizes = zipf_sizes(rest, &caps)?;
    let mut member_sizes = vec![0; g_n];
    for (g, s) in order.iter().zip(sizes) {
        member_sizes[*g] = s;
    }
    for (child, members) in &children {
        member_sizes[*child] = members.len();
    }
    Ok(Plan {
        parent_of,
        children,
        child_index,
        member_sizes,
        admin_sizes,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn zipf_sizes_are_exact_skewed_and_capped() {
        let caps = vec![1_000; 200];
        let s = zipf_sizes(20_000, &caps).unwrap();
        assert_eq!(s.iter().sum::<usize>(), 20_000);
        assert!(s[0] > 10 * s[199], "{} vs {}", s[0], s[199]);
        assert!(s.iter().all(|x| *x <= 1_000));
        // Caps bind: the overflow goes elsewhere, still exact.
        let s = zipf_sizes(1_500, &[1_000, 300, 300]).unwrap();
        assert_eq!(s.iter().sum::<usize>(), 1_500);
        assert!(s[0] <= 1_000 && s[1] <= 300 && s[2] <= 300);
        assert!(zipf_sizes(10, &[3, 3]).is_err());
        assert_eq!(zipf_sizes(0, &[3]).unwrap(), vec![0]);
    }
}
