//! Directory resolution as a pure function: directories' accounts and the current users in, the
//! users to create and change and the account links to set out. Nothing here touches storage,
//! so previews (dry runs) and real runs compute exactly the same thing.
//!
//! Per directory, in priority order, per account (by id):
//! 1. The import condition decides CREATE, MATCH_ONLY or IGNORE. An expression error is
//!    reported for that account, which keeps whatever link it had.
//! 2. An account already linked by an earlier run (or by an admin) keeps its user, so a renamed
//!    email does not make a new person. Otherwise the merge cases run in order: the first case
//!    that finds users decides; one user is a match, several are a conflict (linked to none,
//!    reported with the candidates). No match: CREATE makes a user, MATCH_ONLY skips.
//! 3. Each user's attributes come from its imported directory accounts, the highest-priority
//!    directory first, with every contributing value listed in the `*Sources` fields.
//! 4. Directory-created users that no directory imports any more are removed (status DELETED;
//!    the row and its history stay). Users created by hand only lose their directory sources.

use crate::rules::{normalize, CompiledCase, CompiledDirectory};
use crate::Account;
use chamberlain_cel::ImportDecision;
use chamberlain_model::app::{AppUser, AppUserStatusValue, AppUserType};
use chamberlain_model::directory::{
    AccountError, Conflict, IdentityRun, RunCounts, RunSamples, Sample,
};
use chamberlain_model::user::{AttributeSource, User, UserOrigin, UserStatus, UserType};
use chamberlain_model::Timestamp;
use chamberlain_store::repo::identity::LinkSource;
use serde_json::Value;
use std::collections::{BTreeMap, HashMap, HashSet};

/// Results listed in a run are capped; the totals count everything.
pub const LIST_CAP: usize = 1_000;

/// One directory's input.
pub struct DirectoryInput {
    /// The compiled configuration.
    pub dir: CompiledDirectory,
    /// The directory app's live accounts.
    pub accounts: Vec<Account>,
}

/// A change to an account's owner.
#[derive(Clone, Debug)]
pub struct LinkChange {
    /// The account's app.
    pub app_id: String,
    /// The account.
    pub app_user_id: String,
    /// The owner before the change (empty: none).
    pub previous_user_id: String,
    /// The owner after it (empty: none).
    pub user_id: String,
    /// Who set it.
    pub source: LinkSource,
}

impl LinkChange {
    /// `a`'s owner becomes `user_id` (empty: unlinked), set by `source`.
    pub fn of(a: &AppUser, user_id: String, source: LinkSource) -> Self {
        LinkChange {
            app_id: a.app_id.clone(),
            app_user_id: a.id.clone(),
            previous_user_id: a.identity_user_id.clone(),
            user_id,
            source,
        }
    }
}

/// What a run does.
#[derive(Default)]
pub struct Plan {
    /// New users.
    pub created: Vec<User>,
    /// Changed users (before, after); removals are changes to status DELETED.
    pub updated: Vec<(User, User)>,
    /// Ids of the users in `updated` that were removed.
    pub removed: HashSet<String>,
    /// Account links to write.
    pub links: Vec<LinkChange>,
    /// Counts, conflicts, errors and samples.
    pub run: IdentityRun,
    /// Every user after the run (for linking other apps).
    pub users: Vec<User>,
}

/// Profile keys each attribute is read from, in order.
const DEPARTMENT: &[&str] = &["department", "dept"];
const JOB_TITLE: &[&str] = &["title", "job_title", "jobTitle"];
const EMPLOYMENT_TYPE: &[&str] = &[
    "employment_type",
    "employmentType",
    "employee_type",
    "employeeType",
];
const EMPLOYMENT_STATUS: &[&str] = &["employment_status", "employmentStatus"];
const MANAGER: &[&str] = &[
    "manager_email",
    "managerEmail",
    "manager_id",
    "managerId",
    "manager",
];

/// Users indexed by the keys one user-side extractor produces.
pub struct UserIndex {
    by_key: HashMap<String, Vec<usize>>,
}

impl UserIndex {
    fn add(&mut self, keys: Vec<String>, idx: usize) {
        for k in keys {
            let v = self.by_key.entry(k).or_default();
            if !v.contains(&idx) {
                v.push(idx);
            }
        }
    }
}

/// Indexes for every distinct user-side extractor among `cases`; users whose extractor fails
/// are left out of that index (and counted in `errors`).
pub fn build_indexes<'a>(
    cases: impl Iterator<Item = &'a CompiledCase>,
    users: &[User],
    skip: impl Fn(&User) -> bool,
) -> HashMap<String, UserIndex> {
    let mut out: HashMap<String, UserIndex> = HashMap::new();
    let mut seen = HashSet::new();
    for c in cases {
        if !seen.insert(c.user_source.clone()) {
            continue;
        }
        let mut index = UserIndex {
            by_key: HashMap::with_capacity(users.len()),
        };
        for (i, u) in users.iter().enumerate() {
            if skip(u) {
                continue;
            }
            if let Ok(keys) = c.user.user_keys(u) {
                index.add(keys, i);
            }
        }
        out.insert(c.user_source.clone(), index);
    }
    out
}

/// The outcome of matching one account.
pub enum Match {
    /// Exactly one user.
    One(usize),
    /// Several users for one case.
    Conflict {
        case: usize,
        key: String,
        users: Vec<usize>,
    },
    /// Nobody.
    None,
}

/// Runs `cases` in order for `a`: the first case that finds anyone decides.
pub fn match_account(
    a: &AppUser,
    cases: &[CompiledCase],
    indexes: &HashMap<String, UserIndex>,
    errors: &mut Vec<String>,
) -> Match {
    for c in cases {
        let keys = match c.account.account_keys(a) {
            Ok(k) => k,
            Err(e) => {
                errors.push(format!("match case {}: {e}", c.index));
                continue;
            }
        };
        let Some(index) = indexes.get(&c.user_source) else {
            continue;
        };
        let mut found: Vec<usize> = Vec::new();
        let mut first_key = String::new();
        for k in &keys {
            if let Some(users) = index.by_key.get(k) {
                if first_key.is_empty() {
                    first_key = k.clone();
                }
                for &u in users {
                    if !found.contains(&u) {
                        found.push(u);
                    }
                }
            }
        }
        match found.len() {
            0 => continue,
            1 => return Match::One(found[0]),
            _ => {
                found.sort_unstable();
                return Match::Conflict {
                    case: c.index,
                    key: first_key,
                    users: found,
                };
            }
        }
    }
    Match::None
}

/// Whether automatic matching may set this account's owner: links made by an admin (or
/// present before link sources were recorded) are left alone.
pub fn is_automatic(a: &Account) -> bool {
    match a.link {
        LinkSource::Manual => false,
        LinkSource::None => a.app_user.identity_user_id.is_empty(),
        LinkSource::Directory | LinkSource::Matching => true,
    }
}

fn sample_of(a: &AppUser, user_id: &str) -> Sample {
    Sample {
        app_user_id: a.id.clone(),
        user_id: user_id.to_string(),
        display_name: a.display_name.clone(),
        email: a.email.clone(),
    }
}

fn push_capped<T>(v: &mut Vec<T>, item: T, cap: usize) {
    if v.len() < cap {
        v.push(item);
    }
}

/// Plans the directories run.
pub fn plan_directories(
    dirs: &[DirectoryInput],
    stored: Vec<User>,
    now: Timestamp,
    new_id: &mut dyn FnMut() -> String,
    samples: usize,
) -> Plan {
    let mut users = stored;
    let mut by_id: HashMap<String, usize> = users
        .iter()
        .enumerate()
        .map(|(i, u)| (u.id.clone(), i))
        .collect();
    let gone = |u: &User| u.deleted_at.is_some();
    let mut indexes = build_indexes(dirs.iter().flat_map(|d| d.dir.cases.iter()), &users, gone);
    let mut counts = RunCounts::default();
    let mut conflicts = Vec::new();
    let mut errors = Vec::new();
    let mut sample = RunSamples::default();
    // user index → (directory rank, account) it is imported from
    let mut sources: BTreeMap<usize, Vec<(usize, &AppUser, &Account)>> = BTreeMap::new();
    let mut links = Vec::new();
    let mut created_idx: Vec<usize> = Vec::new();

    // Import conditions are pure per account: evaluated up front on two threads.
    let decisions: Vec<Vec<Result<ImportDecision, String>>> = dirs
        .iter()
        .map(|d| decide_all(&d.dir, &d.accounts))
        .collect();
    for (rank, d) in dirs.iter().enumerate() {
        for (acc, decision) in d.accounts.iter().zip(&decisions[rank]) {
            let a = &acc.app_user;
            if a.deleted_at.is_some() {
                continue;
            }
            let decision = decision.clone();
            let current = (!a.identity_user_id.is_empty())
                .then(|| by_id.get(&a.identity_user_id).copied())
                .flatten()
                .filter(|&i| users[i].deleted_at.is_none());
            let sticky = match acc.link {
                LinkSource::Manual => true,
                LinkSource::Directory => current.is_some(),
                LinkSource::None => !a.identity_user_id.is_empty(),
                LinkSource::Matching => false,
            };
            let decision = match decision {
                Ok(d) => d,
                Err(message) => {
                    counts.account_errors += 1;
                    push_capped(
                        &mut errors,
                        AccountError {
                            app_id: a.app_id.clone(),
                            app_user_id: a.id.clone(),
                            message: format!("import condition: {message}"),
                        },
                        LIST_CAP,
                    );
                    // Keep what it had: an error must not remove anyone.
                    if let (Some(u), true) = (current, sticky) {
                        sources.entry(u).or_default().push((rank, a, acc));
                    }
                    continue;
                }
            };
            if decision == ImportDecision::Ignore {
                counts.accounts_ignored += 1;
                push_capped(&mut sample.ignore, sample_of(a, ""), samples);
                if acc.link == LinkSource::Directory && !a.identity_user_id.is_empty() {
                    links.push(unlink(a));
                }
                continue;
            }
            let owner = if sticky {
                current
            } else {
                let mut errs = Vec::new();
                let m = match_account(a, &d.dir.cases, &indexes, &mut errs);
                for e in errs {
                    counts.account_errors += 1;
                    push_capped(
                        &mut errors,
                        AccountError {
                            app_id: a.app_id.clone(),
                            app_user_id: a.id.clone(),
                            message: e,
                        },
                        LIST_CAP,
                    );
                }
                match m {
                    Match::One(u) => {
                        counts.accounts_matched += 1;
                        push_capped(&mut sample.matched, sample_of(a, &users[u].id), samples);
                        Some(u)
                    }
                    Match::Conflict {
                        case,
                        key,
                        users: c,
                    } => {
                        counts.conflicts += 1;
                        push_capped(
                            &mut conflicts,
                            Conflict {
                                app_id: a.app_id.clone(),
                                app_user_id: a.id.clone(),
                                app_user_display_name: a.display_name.clone(),
                                match_case: case as u32,
                                key,
                                candidate_user_ids: c
                                    .iter()
                                    .map(|&i| users[i].id.clone())
                                    .collect(),
                            },
                            LIST_CAP,
                        );
                        None
                    }
                    Match::None if decision == ImportDecision::Create => {
                        let mut u = User {
                            id: new_id(),
                            origin: UserOrigin::Directory,
                            created_at: Some(now),
                            ..Default::default()
                        };
                        apply_attributes(&mut u, &[(rank, a, acc)], &HashMap::new());
                        let idx = users.len();
                        for c in dirs.iter().flat_map(|d| d.dir.cases.iter()) {
                            if let (Some(index), Ok(keys)) =
                                (indexes.get_mut(&c.user_source), c.user.user_keys(&u))
                            {
                                index.add(keys, idx);
                            }
                        }
                        by_id.insert(u.id.clone(), idx);
                        push_capped(&mut sample.create, sample_of(a, &u.id), samples);
                        users.push(u);
                        created_idx.push(idx);
                        counts.users_created += 1;
                        Some(idx)
                    }
                    Match::None => {
                        // MATCH_ONLY without a match: not represented.
                        counts.accounts_ignored += 1;
                        push_capped(&mut sample.ignore, sample_of(a, ""), samples);
                        None
                    }
                }
            };
            match owner {
                Some(u) => {
                    sources.entry(u).or_default().push((rank, a, acc));
                    if acc.link != LinkSource::Manual
                        && (a.identity_user_id != users[u].id || acc.link != LinkSource::Directory)
                    {
                        links.push(LinkChange::of(
                            a,
                            users[u].id.clone(),
                            LinkSource::Directory,
                        ));
                    }
                }
                None => {
                    if acc.link == LinkSource::Directory && !a.identity_user_id.is_empty() {
                        links.push(unlink(a));
                    }
                }
            }
        }
    }

    // Attributes, managers resolved against the users as they will be after the run.
    let manager_lookup = ManagerLookup::new(&users, &sources);
    let mut plan = Plan::default();
    let created: HashSet<usize> = created_idx.iter().copied().collect();
    // What each user becomes: `None` when nothing changes. Computed on two threads (the
    // machines this runs on have two cores); applied in order below.
    let next_of = |i: usize, current: &User| -> Option<(User, bool)> {
        if current.deleted_at.is_some() {
            return None;
        }
        let mut next = current.clone();
        let mut removed = false;
        match sources.get(&i) {
            Some(srcs) => {
                let mut srcs = srcs.clone();
                srcs.sort_by(|x, y| (x.0, &x.1.id).cmp(&(y.0, &y.1.id)));
                let managers = manager_lookup.resolve(i, &srcs);
                apply_attributes(&mut next, &srcs, &managers);
            }
            None => {
                if next.directory_ids.is_empty() && next.origin != UserOrigin::Directory {
                    return None;
                }
                if next.origin == UserOrigin::Directory && next.status != UserStatus::Deleted {
                    next.status = UserStatus::Deleted;
                    next.directory_status = UserStatus::Deleted;
                    removed = true;
                }
                clear_sources(&mut next);
            }
        }
        if created.contains(&i) || !same_ignoring_time(current, &mut next) {
            next.updated_at = Some(now);
            Some((next, removed))
        } else {
            None
        }
    };
    let half = users.len().div_ceil(2).max(1);
    let changes: Vec<(usize, User, bool)> = std::thread::scope(|scope| {
        let workers: Vec<_> = users
            .chunks(half)
            .enumerate()
            .map(|(n, part)| {
                let next_of = &next_of;
                scope.spawn(move || {
                    part.iter()
                        .enumerate()
                        .filter_map(|(j, u)| {
                            let i = n * half + j;
                            next_of(i, u).map(|(next, removed)| (i, next, removed))
                        })
                        .collect::<Vec<_>>()
                })
            })
            .collect();
        workers
            .into_iter()
            .flat_map(|w| w.join().expect("planning thread panicked"))
            .collect()
    });
    for (i, next, removed) in changes {
        if removed {
            plan.removed.insert(next.id.clone());
            counts.users_removed += 1;
            push_capped(
                &mut sample.remove,
                Sample {
                    app_user_id: String::new(),
                    user_id: next.id.clone(),
                    display_name: next.display_name.clone(),
                    email: next.email.clone(),
                },
                samples,
            );
        }
        if created.contains(&i) {
            users[i] = next.clone();
            plan.created.push(next);
        } else {
            if !removed {
                counts.users_updated += 1;
            }
            let before = std::mem::replace(&mut users[i], next.clone());
            plan.updated.push((before, next));
        }
    }
    counts.accounts_linked = links.iter().filter(|l| !l.user_id.is_empty()).count() as u64;
    counts.accounts_unlinked = links.len() as u64 - counts.accounts_linked;
    counts.conflicts = counts.conflicts.max(conflicts.len() as u64);
    plan.run = IdentityRun {
        counts,
        conflict_total: 0,
        account_error_total: 0,
        conflicts,
        account_errors: errors,
        samples: Some(sample),
        ..Default::default()
    };
    plan.run.conflict_total = plan.run.counts.conflicts;
    plan.run.account_error_total = plan.run.counts.account_errors;
    plan.links = links;
    plan.users = users;
    plan
}

/// Each account's import decision, computed on two threads.
fn decide_all(
    dir: &CompiledDirectory,
    accounts: &[Account],
) -> Vec<Result<ImportDecision, String>> {
    let decide = |acc: &Account| {
        if acc.app_user.deleted_at.is_some() {
            Ok(ImportDecision::Ignore)
        } else {
            dir.decide(&acc.app_user)
        }
    };
    if accounts.len() < 2_000 {
        return accounts.iter().map(decide).collect();
    }
    let half = accounts.len().div_ceil(2);
    std::thread::scope(|scope| {
        let (first, second) = accounts.split_at(half);
        let other = scope.spawn(|| second.iter().map(decide).collect::<Vec<_>>());
        let mut out: Vec<_> = first.iter().map(decide).collect();
        out.extend(other.join().expect("planning thread panicked"));
        out
    })
}

fn unlink(a: &AppUser) -> LinkChange {
    LinkChange::of(a, String::new(), LinkSource::None)
}

/// Whether `b` equals `a` apart from `updatedAt` (`b` takes `a`'s; the caller sets its own).
fn same_ignoring_time(a: &User, b: &mut User) -> bool {
    b.updated_at = a.updated_at;
    *a == *b
}

fn clear_sources(u: &mut User) {
    u.directory_ids.clear();
    u.department_sources.clear();
    u.directory_status_sources.clear();
    u.email_sources.clear();
    u.employee_id_sources.clear();
    u.employment_status_sources.clear();
    u.employment_type_sources.clear();
    u.job_title_sources.clear();
    u.manager_sources.clear();
    u.username_sources.clear();
}

/// A profile value as text (strings and numbers; other JSON is ignored).
fn profile_text(a: &AppUser, keys: &[&str]) -> Option<(String, String)> {
    let p = a.profile.as_ref()?;
    for k in keys {
        let v = match p.get(*k) {
            Some(Value::String(s)) if !s.trim().is_empty() => s.trim().to_string(),
            Some(Value::Number(n)) => n.to_string(),
            _ => continue,
        };
        return Some((k.to_string(), v));
    }
    None
}

fn source(a: &AppUser, key: &str, priority: usize, value: &str) -> AttributeSource {
    AttributeSource {
        app_id: a.app_id.clone(),
        app_user_id: a.id.clone(),
        app_user_profile_attribute_key: key.to_string(),
        priority: priority as u32,
        user_attribute_mapping_id: String::new(),
        value: value.to_string(),
    }
}

fn status_of(a: &AppUser) -> UserStatus {
    match a.status.as_ref().map(|s| s.status) {
        Some(AppUserStatusValue::Disabled) => UserStatus::Disabled,
        Some(AppUserStatusValue::Deleted) => UserStatus::Deleted,
        _ => UserStatus::Enabled,
    }
}

/// Sets `u`'s directory attributes from its sources (highest priority first).
fn apply_attributes(
    u: &mut User,
    srcs: &[(usize, &AppUser, &Account)],
    managers: &HashMap<String, String>,
) {
    let accounts: Vec<&AppUser> = srcs.iter().map(|s| s.1).collect();
    // Single-valued attributes: the first source with a value wins; all are listed.
    fn single(
        accounts: &[&AppUser],
        key: &str,
        get: impl Fn(&AppUser) -> Option<(String, String)>,
    ) -> (String, Vec<AttributeSource>) {
        let mut winner = String::new();
        let mut list = Vec::new();
        for a in accounts {
            if let Some((k, v)) = get(a) {
                if winner.is_empty() {
                    winner = v.clone();
                }
                let k = if k.is_empty() { key.to_string() } else { k };
                list.push(source(a, &k, list.len(), &v));
            }
        }
        (winner, list)
    }
    let nonempty = |s: &str| (!s.trim().is_empty()).then(|| s.trim().to_string());
    u.display_name = accounts
        .iter()
        .find_map(|a| nonempty(&a.display_name))
        .unwrap_or_default();
    let (email, email_sources) = single(&accounts, "email", |a| {
        nonempty(&a.email).map(|e| (String::new(), e))
    });
    u.email = email;
    u.email_sources = email_sources;
    let mut emails: Vec<String> = Vec::new();
    let mut usernames: Vec<String> = Vec::new();
    let mut employee_ids: Vec<String> = Vec::new();
    let mut username_sources = Vec::new();
    let mut employee_id_sources = Vec::new();
    let add = |list: &mut Vec<String>, v: &str| {
        let v = v.trim();
        if !v.is_empty() && !list.iter().any(|x| x.eq_ignore_ascii_case(v)) {
            list.push(v.to_string());
        }
    };
    for a in &accounts {
        add(&mut emails, &a.email);
        for e in &a.emails {
            add(&mut emails, e);
        }
        for n in std::iter::once(&a.username).chain(a.usernames.iter()) {
            if !n.trim().is_empty() && !usernames.iter().any(|x: &String| x == n.trim()) {
                username_sources.push(source(a, "username", username_sources.len(), n.trim()));
            }
            add(&mut usernames, n);
        }
        for id in &a.employee_ids {
            if !id.trim().is_empty() && !employee_ids.iter().any(|x: &String| x == id.trim()) {
                employee_id_sources.push(source(
                    a,
                    "employee_id",
                    employee_id_sources.len(),
                    id.trim(),
                ));
            }
            add(&mut employee_ids, id);
        }
    }
    if u.email.is_empty() {
        u.email = emails.first().cloned().unwrap_or_default();
    }
    u.emails = emails;
    u.username = usernames.first().cloned().unwrap_or_default();
    u.usernames = usernames;
    u.username_sources = username_sources;
    u.employee_ids = employee_ids;
    u.employee_id_sources = employee_id_sources;
    (u.department, u.department_sources) =
        single(&accounts, "department", |a| profile_text(a, DEPARTMENT));
    (u.job_title, u.job_title_sources) = single(&accounts, "title", |a| profile_text(a, JOB_TITLE));
    (u.employment_type, u.employment_type_sources) = single(&accounts, "employment_type", |a| {
        profile_text(a, EMPLOYMENT_TYPE)
    });
    (u.employment_status, u.employment_status_sources) =
        single(&accounts, "employment_status", |a| {
            profile_text(a, EMPLOYMENT_STATUS)
        });
    let (_, manager_sources) = single(&accounts, "manager", |a| profile_text(a, MANAGER));
    u.manager_sources = manager_sources;
    u.manager_ids = accounts
        .iter()
        .find_map(|a| managers.get(&a.id).cloned())
        .into_iter()
        .collect();
    let status = accounts.first().map(|a| status_of(a)).unwrap_or_default();
    u.directory_status = status;
    u.status = status;
    u.directory_status_sources = accounts
        .iter()
        .enumerate()
        .map(|(i, a)| source(a, "status", i, status_of(a).as_str()))
        .collect();
    u.profile = accounts.iter().find_map(|a| a.profile.clone());
    let mut dir_ids: Vec<String> = Vec::new();
    for a in &accounts {
        if !dir_ids.contains(&a.app_id) {
            dir_ids.push(a.app_id.clone());
        }
    }
    u.directory_ids = dir_ids;
    u.user_type = match accounts.first().map(|a| a.app_user_type) {
        Some(AppUserType::ServiceAccount) => UserType::Service,
        Some(AppUserType::SystemAccount) => UserType::System,
        _ => UserType::Human,
    };
}

/// Finds the user a manager value names: an email, the manager's account id in the same
/// directory (as the source reports it), or an employee ID.
struct ManagerLookup {
    by_email: HashMap<String, usize>,
    by_employee_id: HashMap<String, usize>,
    by_source_id: HashMap<(String, String), usize>,
    ids: Vec<String>,
}

impl ManagerLookup {
    fn new(users: &[User], sources: &BTreeMap<usize, Vec<(usize, &AppUser, &Account)>>) -> Self {
        let mut by_email = HashMap::new();
        let mut by_employee_id = HashMap::new();
        let mut by_source_id = HashMap::new();
        for (&u, srcs) in sources {
            for (_, a, acc) in srcs {
                for e in std::iter::once(&a.email).chain(a.emails.iter()) {
                    if let Some(k) = normalize(e) {
                        by_email.entry(k).or_insert(u);
                    }
                }
                for id in &a.employee_ids {
                    if let Some(k) = normalize(id) {
                        by_employee_id.entry(k).or_insert(u);
                    }
                }
                if !acc.source_id.is_empty() {
                    by_source_id.insert((a.app_id.clone(), acc.source_id.clone()), u);
                }
            }
        }
        ManagerLookup {
            by_email,
            by_employee_id,
            by_source_id,
            ids: users.iter().map(|u| u.id.clone()).collect(),
        }
    }

    /// Account id → manager's user id, for the accounts of user `me` that name a manager.
    fn resolve(&self, me: usize, srcs: &[(usize, &AppUser, &Account)]) -> HashMap<String, String> {
        let mut out = HashMap::new();
        for (_, a, _) in srcs {
            let Some((_, v)) = profile_text(a, MANAGER) else {
                continue;
            };
            let k = normalize(&v).unwrap_or_default();
            let found = self
                .by_source_id
                .get(&(a.app_id.clone(), v.clone()))
                .or_else(|| self.by_email.get(&k))
                .or_else(|| self.by_employee_id.get(&k));
            if let Some(&m) = found {
                if m != me {
                    out.insert(a.id.clone(), self.ids[m].clone());
                }
            }
        }
        out
    }
}
