//! The synthetic identity graph. Every row is built from a real model object and written with
//! the store's own bulk paths (`record::bulk_insert`, which maps objects through
//! `Record::columns` and `doc_of`, and `grants::bulk_insert`), so the rows are exactly what the
//! API would have written.

use anyhow::{bail, Result};
use chamberlain_model::app::{
    App, AppEntitlement, AppUser, AppUserStatus, AppUserStatusValue, AppUserType,
};
use chamberlain_model::user::{User, UserOrigin, UserStatus, UserType};
use chamberlain_model::{new_id, Timestamp};
use chamberlain_store::record::{self, Record};
use chamberlain_store::repo::grants::{self, NewGrant};
use chamberlain_store::{Backend, Store};
use rand::rngs::StdRng;
use rand::seq::index;
use rand::{Rng, SeedableRng};
use sqlx::Row;
use std::collections::HashSet;
use std::sync::Mutex;
use std::time::{Duration, Instant};

/// Rows written per transaction.
const ROWS_PER_TRANSACTION: usize = 100_000;

/// How many objects of each kind to load.
#[derive(Clone, Debug)]
pub struct Sizes {
    /// Apps.
    pub apps: usize,
    /// Entitlements, spread round-robin over the apps.
    pub entitlements: usize,
    /// Accounts, spread round-robin over the apps.
    pub app_users: usize,
    /// Grants, spread evenly over the entitlements.
    pub grants: usize,
    /// Users.
    pub users: usize,
}

impl Sizes {
    /// Refuses shapes the load cannot produce: every app needs an entitlement and an account,
    /// and no entitlement can be granted to more accounts than its app has.
    pub fn validate(&self) -> Result<()> {
        if self.apps == 0 || self.users == 0 {
            bail!("--apps and --users must be at least 1");
        }
        if self.entitlements < self.apps || self.app_users < self.apps {
            bail!("--entitlements and --app-users must be at least --apps (one of each per app)");
        }
        if self.apps > u32::MAX as usize
            || self.entitlements > u32::MAX as usize
            || self.app_users > u32::MAX as usize
        {
            bail!("sizes must fit in 32 bits");
        }
        let per_entitlement = self.grants.div_ceil(self.entitlements);
        let smallest_app = self.app_users / self.apps;
        if per_entitlement > smallest_app {
            bail!(
                "{} grants do not fit: {} per entitlement, but an app has only {} accounts",
                self.grants,
                per_entitlement,
                smallest_app
            );
        }
        Ok(())
    }
}

/// How many of `total` objects spread round-robin over `apps` land in app `app`.
fn count_in_app(total: usize, apps: usize, app: usize) -> usize {
    total / apps + usize::from(app < total % apps)
}

/// The ids of what was loaded, for choosing request targets.
pub struct Dataset {
    /// App ids.
    pub apps: Vec<String>,
    /// User ids (the bench's own admin user is not among them).
    pub users: Vec<String>,
    /// Entitlement ids per app, in creation (and id) order.
    pub entitlements: Vec<Vec<String>>,
    /// Account ids per app, in creation (and id) order.
    pub accounts: Vec<Vec<String>>,
    /// Granted pairs as (app, entitlement, account) positions in the lists above.
    granted: Mutex<HashSet<(u32, u32, u32)>>,
}

/// A grant that does not exist yet.
pub struct FreshPair<'a> {
    /// App of both.
    pub app_id: &'a str,
    /// Entitlement to grant.
    pub entitlement_id: &'a str,
    /// Account to grant it to.
    pub account_id: &'a str,
}

impl Dataset {
    /// Picks a random (entitlement, account) pair of one app that is not granted yet and records
    /// it as granted, so no two callers get the same pair.
    pub fn take_fresh_pair(&self, rng: &mut impl Rng) -> FreshPair<'_> {
        loop {
            let app = rng.gen_range(0..self.apps.len());
            let e = rng.gen_range(0..self.entitlements[app].len());
            let a = rng.gen_range(0..self.accounts[app].len());
            let key = (app as u32, e as u32, a as u32);
            if self
                .granted
                .lock()
                .unwrap_or_else(|p| p.into_inner())
                .insert(key)
            {
                return FreshPair {
                    app_id: &self.apps[app],
                    entitlement_id: &self.entitlements[app][e],
                    account_id: &self.accounts[app][a],
                };
            }
        }
    }
}

/// Duration of each load step.
pub struct LoadTimes {
    /// (table, rows, time) per step, in load order.
    pub steps: Vec<(&'static str, usize, Duration)>,
    /// The whole load, including building the objects and refreshing planner statistics.
    pub total: Duration,
}

/// Builds and inserts the data set, one table at a time, timing each.
pub async fn load(store: &Store, sizes: &Sizes, seed: u64) -> Result<(Dataset, LoadTimes)> {
    let started = Instant::now();
    let mut rng = StdRng::seed_from_u64(seed);
    let now = Timestamp::now();
    let mut steps = Vec::new();
    let empty: i64 = sqlx::query("SELECT COUNT(*) FROM apps")
        .fetch_one(store.pool())
        .await?
        .try_get(0)?;
    if empty != 0 {
        bail!("the database already holds apps; give an empty one");
    }
    println!(
        "loading {} users, {} apps, {} entitlements, {} app users, {} grants",
        sizes.users, sizes.apps, sizes.entitlements, sizes.app_users, sizes.grants
    );

    let t = Instant::now();
    let users: Vec<User> = (0..sizes.users).map(|i| user(i, now)).collect();
    insert_all(store, &users).await?;
    steps.push(step("users", users.len(), t));

    let t = Instant::now();
    let apps: Vec<App> = (0..sizes.apps).map(|i| app(i, now)).collect();
    insert_all(store, &apps).await?;
    steps.push(step("apps", apps.len(), t));

    let t = Instant::now();
    let entitlements: Vec<AppEntitlement> = (0..sizes.entitlements)
        .map(|i| entitlement(i, &apps[i % apps.len()], now))
        .collect();
    insert_all(store, &entitlements).await?;
    steps.push(step("app_entitlements", entitlements.len(), t));

    // Each app's accounts belong to distinct users where the app has no more accounts than
    // there are users.
    let t = Instant::now();
    let owners: Vec<Vec<usize>> = (0..apps.len())
        .map(|a| {
            let n = count_in_app(sizes.app_users, apps.len(), a);
            if n <= users.len() {
                index::sample(&mut rng, users.len(), n).into_vec()
            } else {
                (0..n).map(|_| rng.gen_range(0..users.len())).collect()
            }
        })
        .collect();
    let accounts: Vec<AppUser> = (0..sizes.app_users)
        .map(|i| {
            let a = i % apps.len();
            account(&apps[a], &users[owners[a][i / apps.len()]], now)
        })
        .collect();
    insert_all(store, &accounts).await?;
    steps.push(step("app_users", accounts.len(), t));

    let t = Instant::now();
    let mut data = Dataset {
        apps: apps.iter().map(|a| a.id.clone()).collect(),
        users: users.iter().map(|u| u.id.clone()).collect(),
        entitlements: group(&entitlements, apps.len()),
        accounts: group(&accounts, apps.len()),
        granted: Mutex::new(HashSet::with_capacity(sizes.grants * 3 / 2)),
    };
    insert_grants(store, &mut data, sizes, &mut rng, now).await?;
    steps.push(step("grants", sizes.grants, t));

    // PostgreSQL's autovacuum analyzes a freshly loaded table within a minute; analyzing now
    // keeps the measurement from depending on when that happens. SQLite is left as the server
    // leaves it: Chamberlain never runs ANALYZE there.
    if store.backend() == Backend::Postgres {
        let t = Instant::now();
        sqlx::query("ANALYZE").execute(store.pool()).await?;
        steps.push(step("ANALYZE", 0, t));
    }
    let total = started.elapsed();
    println!("  total load time {:.1} s", total.as_secs_f64());
    Ok((data, LoadTimes { steps, total }))
}

/// Reports and returns a finished step.
fn step(table: &'static str, rows: usize, started: Instant) -> (&'static str, usize, Duration) {
    let took = started.elapsed();
    println!(
        "  {table:<16} {rows:>9} rows in {:>6.1} s",
        took.as_secs_f64()
    );
    (table, rows, took)
}

/// Inserts records with multi-row INSERTs, [`ROWS_PER_TRANSACTION`] rows per transaction.
async fn insert_all<R: Record>(store: &Store, rows: &[R]) -> Result<()> {
    for chunk in rows.chunks(ROWS_PER_TRANSACTION) {
        let mut tx = store.begin_write().await?;
        record::bulk_insert(&mut tx, chunk).await?;
        tx.commit().await?;
    }
    Ok(())
}

/// Inserts `sizes.grants` direct grants: every entitlement gets the same number (give or take
/// one) of distinct random accounts of its app. Rows are written in (entitlement id, account
/// id) order, the order of the live-pair index, so index pages fill sequentially.
async fn insert_grants(
    store: &Store,
    data: &mut Dataset,
    sizes: &Sizes,
    rng: &mut StdRng,
    now: Timestamp,
) -> Result<()> {
    let apps = data.apps.len();
    let granted = data.granted.get_mut().unwrap_or_else(|p| p.into_inner());
    let mut batch = Vec::with_capacity(ROWS_PER_TRANSACTION);
    for i in 0..sizes.entitlements {
        let (app, e) = (i % apps, i / apps);
        let n = count_in_app(sizes.grants, sizes.entitlements, i);
        let mut picked = index::sample(rng, data.accounts[app].len(), n).into_vec();
        picked.sort_unstable();
        for a in picked {
            granted.insert((app as u32, e as u32, a as u32));
            batch.push(NewGrant {
                app_id: data.apps[app].clone(),
                entitlement_id: data.entitlements[app][e].clone(),
                principal_id: data.accounts[app][a].clone(),
                principal_kind: "app_user",
                sources: Vec::new(),
                synced: false,
            });
        }
        if batch.len() >= ROWS_PER_TRANSACTION || i + 1 == sizes.entitlements {
            let mut tx = store.begin_write().await?;
            grants::bulk_insert(&mut tx, &batch, now.as_micros()).await?;
            tx.commit().await?;
            batch.clear();
        }
    }
    Ok(())
}

/// Ids of objects spread round-robin over `apps`, grouped by app.
fn group<R: Record>(rows: &[R], apps: usize) -> Vec<Vec<String>> {
    let mut by_app = vec![Vec::new(); apps];
    for (i, r) in rows.iter().enumerate() {
        by_app[i % apps].push(r.id().to_string());
    }
    by_app
}

fn user(i: usize, now: Timestamp) -> User {
    let email = format!("user{i}@example.com");
    User {
        id: new_id(),
        display_name: format!("User {i}"),
        email: email.clone(),
        emails: vec![email],
        status: UserStatus::Enabled,
        origin: UserOrigin::Local,
        user_type: UserType::Human,
        created_at: Some(now),
        updated_at: Some(now),
        ..Default::default()
    }
}

fn app(i: usize, now: Timestamp) -> App {
    App {
        id: new_id(),
        display_name: format!("App {i}"),
        is_manually_managed: true,
        created_at: Some(now),
        updated_at: Some(now),
        ..Default::default()
    }
}

fn entitlement(i: usize, app: &App, now: Timestamp) -> AppEntitlement {
    AppEntitlement {
        id: new_id(),
        app_id: app.id.clone(),
        display_name: format!("Entitlement {i}"),
        slug: format!("entitlement-{i}"),
        is_manually_managed: true,
        created_at: Some(now),
        updated_at: Some(now),
        ..Default::default()
    }
}

/// An account linked to `owner`, as add-manual-user creates one.
fn account(app: &App, owner: &User, now: Timestamp) -> AppUser {
    AppUser {
        id: new_id(),
        app_id: app.id.clone(),
        app_user_type: AppUserType::User,
        display_name: owner.display_name.clone(),
        email: owner.email.clone(),
        emails: owner.emails.clone(),
        identity_user_id: owner.id.clone(),
        status: Some(AppUserStatus {
            status: AppUserStatusValue::Enabled,
            details: String::new(),
        }),
        created_at: Some(now),
        updated_at: Some(now),
        ..Default::default()
    }
}
