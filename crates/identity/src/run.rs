//! Running resolution against the store: load, plan, apply in one transaction, record the run.

use crate::link::plan_app_links;
use crate::resolve::{plan_directories, DirectoryInput, LinkChange, Plan};
use crate::rules::{app_cases, CompiledDirectory, RuleError};
use crate::Account;
use chamberlain_model::app::{App, AppUser, IdentityMatching};
use chamberlain_model::directory::{Directory, IdentityRun};
use chamberlain_model::user::User;
use chamberlain_model::{new_id, Timestamp};
use chamberlain_store::record::{self, Sql};
use chamberlain_store::repo::identity::{self as repo, LinkSource, DIRECTORIES};
use chamberlain_store::repo::jobs;
use chamberlain_store::{Activity, AuditCtx, Record, Store, StoreError, Tx};
use serde_json::json;
use sqlx::Row;
use std::sync::Arc;

/// Why a run failed.
#[derive(Debug, thiserror::Error)]
pub enum ResolveError {
    /// A stored configuration no longer compiles (it was checked when saved).
    #[error("{0}")]
    Rules(String),
    /// Storage failed; the run changed nothing.
    #[error(transparent)]
    Store(#[from] StoreError),
}

impl From<RuleError> for ResolveError {
    fn from(e: RuleError) -> Self {
        ResolveError::Rules(e.to_string())
    }
}

async fn blocking<T: Send + 'static>(
    f: impl FnOnce() -> T + Send + 'static,
) -> Result<T, ResolveError> {
    tokio::task::spawn_blocking(f)
        .await
        .map_err(|e| ResolveError::Rules(format!("resolution stopped unexpectedly: {e}")))
}

/// Samples per outcome in a preview.
pub const PREVIEW_SAMPLES: usize = 10;

/// Live users, oldest first. Rows are parsed as they stream in: holding every row's copy of
/// its document until all had arrived doubled the memory a load touched (freshly faulted
/// pages the kernel zeroes were a fifth of a re-run's CPU).
async fn load_users(store: &Store) -> Result<Vec<User>, StoreError> {
    use futures::TryStreamExt;
    let sql = Sql::new("SELECT doc FROM users WHERE deleted_at IS NULL ORDER BY id");
    let mut rows = sql.query().fetch(store.pool());
    let mut out = Vec::new();
    while let Some(r) = rows.try_next().await? {
        out.push(User::from_row(&r)?);
    }
    Ok(out)
}

/// An app's live accounts with their link sources and source ids (streamed like
/// [`load_users`]).
async fn load_accounts(store: &Store, app_id: &str) -> Result<Vec<Account>, StoreError> {
    use futures::TryStreamExt;
    let mut sql = Sql::new(
        "SELECT a.doc, a.identity_user_id, a.linked_at, a.link_source, e.external_id FROM app_users a \
         LEFT JOIN external_ids e ON e.object_id = a.id AND e.app_id = a.app_id AND e.kind = 'app_user' \
         WHERE a.deleted_at IS NULL AND a.app_id = ",
    );
    sql.arg(app_id).push(" ORDER BY a.id");
    let mut rows = sql.query().fetch(store.pool());
    let mut out = Vec::new();
    while let Some(r) = rows.try_next().await? {
        let link: String = r.try_get("link_source")?;
        let ext: Option<String> = r.try_get("external_id")?;
        let source_id = ext
            .map(|e| e.split_once(':').map(|(_, id)| id.to_string()).unwrap_or(e))
            .unwrap_or_default();
        out.push(Account {
            app_user: AppUser::from_row(&r)?,
            link: LinkSource::parse(&link),
            source_id,
        });
    }
    Ok(out)
}

async fn live_apps(store: &Store) -> Result<Vec<App>, StoreError> {
    record::fetch_docs(
        store.pool(),
        &Sql::new("SELECT doc FROM apps WHERE deleted_at IS NULL ORDER BY id"),
    )
    .await
}

async fn directory_inputs(
    store: &Store,
    dirs: &[Directory],
) -> Result<Vec<DirectoryInput>, ResolveError> {
    let mut out = Vec::with_capacity(dirs.len());
    for d in dirs {
        out.push(DirectoryInput {
            dir: CompiledDirectory::compile(d)?,
            accounts: load_accounts(store, &d.app_id).await?,
        });
    }
    Ok(out)
}

fn started(scope: &str, dry_run: bool) -> IdentityRun {
    IdentityRun {
        id: new_id(),
        scope: scope.to_string(),
        state: "RUNNING".into(),
        dry_run,
        started_at: Some(Timestamp::now()),
        ..Default::default()
    }
}

/// Runs `scope` ([`DIRECTORIES`] or an app scope) and records the run. Returns the run.
pub async fn run_scope(
    store: &Store,
    scope: &str,
    audit: &AuditCtx,
) -> Result<IdentityRun, ResolveError> {
    let generation = repo::wanted(store, scope).await?;
    let mut run = started(scope, false);
    repo::save_run(store.pool(), &run).await?;
    let result = if scope == DIRECTORIES {
        run_directories(store, audit, generation).await
    } else if let Some(app_id) = scope.strip_prefix("app:") {
        run_app(store, audit, app_id, generation, None).await
    } else {
        Err(ResolveError::Rules(format!(
            "unknown resolution scope `{scope}`"
        )))
    };
    let id = run.id.clone();
    let started_at = run.started_at;
    match result {
        Ok(done) => {
            run = done;
            run.id = id;
            run.scope = scope.to_string();
            run.started_at = started_at;
            run.state = "DONE".into();
        }
        Err(e) => {
            run.state = "ERROR".into();
            run.error = e.to_string();
        }
    }
    run.completed_at = Some(Timestamp::now());
    repo::save_run(store.pool(), &run).await?;
    repo::prune_runs(store, scope).await?;
    if run.state == "ERROR" {
        return Err(ResolveError::Rules(run.error.clone()));
    }
    Ok(run)
}

async fn run_directories(
    store: &Store,
    audit: &AuditCtx,
    generation: i64,
) -> Result<IdentityRun, ResolveError> {
    let clock = std::time::Instant::now();
    let dirs = repo::live_directories(store.pool()).await?;
    // Users and accounts load (and parse) at the same time, on two threads.
    let users = tokio::spawn({
        let store = store.clone();
        async move { load_users(&store).await }
    });
    let inputs = directory_inputs(store, &dirs).await?;
    let users = users
        .await
        .map_err(|e| ResolveError::Rules(format!("loading users stopped unexpectedly: {e}")))??;
    tracing::debug!(
        ms = clock.elapsed().as_millis() as u64,
        "directories run: loaded"
    );
    let now = Timestamp::now();
    // Planning is CPU work (expressions over every account): keep it off the async threads.
    let mut plan = blocking(move || plan_directories(&inputs, users, now, &mut new_id, 0)).await?;
    tracing::debug!(
        ms = clock.elapsed().as_millis() as u64,
        "directories run: planned"
    );
    plan.run.samples = None;
    let users_after = Arc::new(std::mem::take(&mut plan.users));
    let run = plan.run.clone();
    let keys_changed = !plan.created.is_empty()
        || plan
            .updated
            .iter()
            .any(|(b, a)| matching_fields_differ(b, a));
    let any_changed = !plan.created.is_empty() || !plan.updated.is_empty();
    write_directories_plan(store, audit, plan, generation).await?;
    tracing::debug!(
        ms = clock.elapsed().as_millis() as u64,
        "directories run: written"
    );
    // Other apps' accounts may match differently now: relink the apps whose rules can see
    // what changed (built-in rules read only emails, usernames and names; custom rules may
    // read anything). Apps with their own pending changes run anyway.
    let dir_ids: Vec<&str> = dirs.iter().map(|d| d.app_id.as_str()).collect();
    let targets: Vec<App> = live_apps(store)
        .await?
        .into_iter()
        .filter(|app| !dir_ids.contains(&app.id.as_str()))
        .filter(|app| {
            let custom = app.identity_matching == IdentityMatching::Custom;
            keys_changed || (custom && any_changed)
        })
        .collect();
    // Pipelined: the next app's accounts load and plan while this app's links are written
    // (writing is the slow part, and SQLite takes one writer at a time anyway).
    let start = |app: &App| tokio::spawn(plan_app(store.clone(), app.clone(), users_after.clone()));
    let mut next = targets.first().map(start);
    for (k, app) in targets.iter().enumerate() {
        let Some(planning) = next.take() else { break };
        let planned = planning
            .await
            .map_err(|e| ResolveError::Rules(format!("linking stopped unexpectedly: {e}")))??;
        next = targets.get(k + 1).map(start);
        let mut app_run = commit_app(store, audit, &app.id, planned).await?;
        app_run.id = new_id();
        app_run.scope = repo::app_scope(&app.id);
        app_run.state = "DONE".into();
        app_run.started_at = Some(now);
        app_run.completed_at = Some(Timestamp::now());
        repo::save_run(store.pool(), &app_run).await?;
    }
    Ok(run)
}

/// Whether a user change can change what the built-in matching rules see.
fn matching_fields_differ(a: &User, b: &User) -> bool {
    a.email != b.email
        || a.emails != b.emails
        || a.username != b.username
        || a.usernames != b.usernames
        || a.display_name != b.display_name
        || a.employee_ids != b.employee_ids
        || a.deleted_at != b.deleted_at
}

async fn write_directories_plan(
    store: &Store,
    audit: &AuditCtx,
    plan: Plan,
    generation: i64,
) -> Result<(), StoreError> {
    chamberlain_store::write_tx!(store, audit, |tx| {
        tx.create_many(&plan.created).await?;
        tx.replace_many(&plan.updated).await?;
        write_links(tx, &plan.links).await?;
        let created: Vec<&str> = plan.created.iter().map(|u| u.id.as_str()).collect();
        let (removed, updated): (Vec<&str>, Vec<&str>) = plan
            .updated
            .iter()
            .map(|(_, u)| u.id.as_str())
            .partition(|id| plan.removed.contains(*id));
        for (kind, ids) in [
            ("user.created", created),
            ("user.updated", updated),
            ("user.removed", removed),
        ] {
            let events: Vec<(String, serde_json::Value)> = ids
                .chunks(LINKS_PER_EVENT)
                .map(|part| (String::new(), json!({ "userIds": part })))
                .collect();
            jobs::append_events(tx, kind, &events).await?;
        }
        repo::mark_resolved(tx, DIRECTORIES, generation).await?;
        Ok(())
    })
}

/// Links per system-log and change event: a run that links half a million accounts writes a
/// thousand events that list them, not half a million.
const LINKS_PER_EVENT: usize = 500;

/// Writes account links: the documents and their link sources, then per app and batch one
/// system-log event (each account's owner before and after) and one `account.linked` /
/// `account.unlinked` change event (`{"links": [{appUserId, userId, previousUserId}]}`).
async fn write_links(tx: &mut Tx<'_>, links: &[LinkChange]) -> Result<(), StoreError> {
    if links.is_empty() {
        return Ok(());
    }
    let owners: Vec<repo::OwnerChange> = links
        .iter()
        .map(|l| repo::OwnerChange {
            app_user_id: &l.app_user_id,
            user_id: &l.user_id,
            source: l.source,
        })
        .collect();
    repo::set_owners(tx, &owners).await?;
    let mut by_app: std::collections::BTreeMap<&str, Vec<&LinkChange>> = Default::default();
    for l in links {
        by_app.entry(l.app_id.as_str()).or_default().push(l);
    }
    // Event bodies are written as JSON text directly: half a million links made as many
    // `serde_json::Value` trees (three per link) before this.
    let q = |s: &str| serde_json::Value::from(s).to_string();
    let entry = |l: &LinkChange| {
        format!(
            r#"{{"appUserId":{},"linkedBy":{},"previousUserId":{},"userId":{}}}"#,
            q(&l.app_user_id),
            q(l.source.as_str()),
            q(&l.previous_user_id),
            q(&l.user_id)
        )
    };
    let list = |items: &mut dyn Iterator<Item = String>| {
        let mut out = String::from(r#"{"links":["#);
        for (i, item) in items.enumerate() {
            if i > 0 {
                out.push(',');
            }
            out.push_str(&item);
        }
        out.push_str("]}");
        out
    };
    for (app_id, app_links) in by_app {
        let entries: Vec<String> = app_links.iter().map(|l| entry(l)).collect();
        for (part, entries) in app_links
            .chunks(LINKS_PER_EVENT)
            .zip(entries.chunks(LINKS_PER_EVENT))
        {
            let before = list(&mut part.iter().map(|l| {
                format!(
                    r#"{{"appUserId":{},"identityUserId":{}}}"#,
                    q(&l.app_user_id),
                    q(&l.previous_user_id)
                )
            }));
            let after = list(&mut entries.iter().cloned());
            tx.audit_json(
                Activity::Update,
                "app user links",
                app_id,
                Some(&before),
                Some(&after),
            )
            .await?;
        }
        type Entries<'a> = Vec<(&'a LinkChange, &'a String)>;
        let (linked, unlinked): (Entries, Entries) = app_links
            .iter()
            .copied()
            .zip(entries.iter())
            .partition(|(l, _)| !l.user_id.is_empty());
        for (kind, changes) in [("account.linked", linked), ("account.unlinked", unlinked)] {
            let events: Vec<(&str, String)> = changes
                .chunks(LINKS_PER_EVENT)
                .map(|part| (app_id, list(&mut part.iter().map(|(_, e)| (*e).clone()))))
                .collect();
            jobs::append_events_json(tx, kind, &events).await?;
        }
    }
    Ok(())
}

/// Links one non-directory app's accounts. `users` saves reloading them after a directories
/// run.
async fn run_app(
    store: &Store,
    audit: &AuditCtx,
    app_id: &str,
    generation: i64,
    users: Option<Arc<Vec<User>>>,
) -> Result<IdentityRun, ResolveError> {
    let scope = repo::app_scope(app_id);
    let Some(app) = record::get::<App, _>(store.pool(), app_id, false).await? else {
        // The app is gone: nothing to link.
        chamberlain_store::write_tx!(store, audit, |tx| {
            repo::mark_resolved(tx, &scope, generation).await
        })?;
        return Ok(IdentityRun::default());
    };
    if repo::is_directory(store.pool(), &app.id).await? {
        // A directory's accounts are linked by the directories run.
        chamberlain_store::write_tx!(store, audit, |tx| {
            repo::mark_resolved(tx, &scope, generation).await
        })?;
        return Ok(IdentityRun::default());
    }
    let users = match users {
        Some(u) => u,
        None => Arc::new(load_users(store).await?),
    };
    let mut planned = plan_app(store.clone(), app, users).await?;
    // This job's scope generation was read when it started.
    planned.generation = generation;
    commit_app(store, audit, app_id, planned).await
}

/// One app's links, planned and not yet written.
struct PlannedApp {
    /// The app scope's generation when planning started.
    generation: i64,
    links: Vec<LinkChange>,
    run: IdentityRun,
}

/// Loads an app's accounts and plans their links (nothing written).
async fn plan_app(
    store: Store,
    app: App,
    users: Arc<Vec<User>>,
) -> Result<PlannedApp, ResolveError> {
    let generation = repo::wanted(&store, &repo::app_scope(&app.id)).await?;
    let cases = app_cases(&app)?;
    let custom = app.identity_matching == IdentityMatching::Custom;
    let clock = std::time::Instant::now();
    let accounts = load_accounts(&store, &app.id).await?;
    let (links, run) = blocking(move || plan_app_links(&cases, custom, &accounts, &users)).await?;
    tracing::debug!(
        app_id = app.id,
        ms = clock.elapsed().as_millis() as u64,
        "linking: loaded and planned"
    );
    Ok(PlannedApp {
        generation,
        links,
        run,
    })
}

/// Writes an app's planned links and marks its scope resolved, in one transaction.
async fn commit_app(
    store: &Store,
    audit: &AuditCtx,
    app_id: &str,
    planned: PlannedApp,
) -> Result<IdentityRun, ResolveError> {
    let clock = std::time::Instant::now();
    let scope = repo::app_scope(app_id);
    chamberlain_store::write_tx!(store, audit, |tx| {
        write_links(tx, &planned.links).await?;
        repo::mark_resolved(tx, &scope, planned.generation).await?;
        Ok(())
    })?;
    tracing::debug!(
        app_id,
        ms = clock.elapsed().as_millis() as u64,
        "linking: written"
    );
    Ok(planned.run)
}

/// Computes what the directories run would do if `proposed` were saved (added, or replacing
/// the directory of the same app), without changing anything.
pub async fn preview(store: &Store, proposed: &Directory) -> Result<IdentityRun, ResolveError> {
    let mut dirs: Vec<Directory> = repo::live_directories(store.pool())
        .await?
        .into_iter()
        .filter(|d| d.app_id != proposed.app_id)
        .collect();
    dirs.push(proposed.clone());
    dirs.sort_by(|a, b| {
        (
            a.priority,
            a.created_at.map(|t| t.as_micros()).unwrap_or(i64::MAX),
        )
            .cmp(&(
                b.priority,
                b.created_at.map(|t| t.as_micros()).unwrap_or(i64::MAX),
            ))
    });
    let inputs = directory_inputs(store, &dirs).await?;
    let users = load_users(store).await?;
    let plan = blocking(move || {
        let mut n = 0u64;
        let mut fake_id = || {
            n += 1;
            format!("(new user {n})")
        };
        plan_directories(
            &inputs,
            users,
            Timestamp::now(),
            &mut fake_id,
            PREVIEW_SAMPLES,
        )
    })
    .await?;
    let mut run = plan.run;
    run.id = String::new();
    run.scope = DIRECTORIES.into();
    run.state = "DONE".into();
    run.dry_run = true;
    Ok(run)
}
