//! The background worker every `chamberlain serve` replica runs: it claims due jobs from the job
//! table (leased, so a replica that dies mid-job has its job retried elsewhere) and keeps one
//! queued sync per scheduled connector.
//!
//! Jobs today: `connector_sync` (run the connector's Baton binary and apply the result),
//! `identity_resolve` (directory resolution or one app's account linking, queued whenever a
//! scope in `identity_scopes` is behind) and `webhook_delivery` (an outbound webhook's due
//! attempt or callback timeout, see `crate::webhooks`). Later features add their kinds to [`Worker::handle`].

use crate::routes::connectors::{self as conn, SYNC_JOB};
use crate::state::Shared;
use chamberlain_model::app::Connector;
use chamberlain_model::{new_id, Timestamp};
use chamberlain_store::repo::jobs::{self, Job, NewJob, Outcome};
use chamberlain_store::repo::webhooks::DELIVERY_JOB as WEBHOOK_JOB;
use chamberlain_store::AuditCtx;
use chamberlain_sync::runner::{self, Source, SyncError};
use chamberlain_sync::schedule::Schedule;
use std::path::PathBuf;
use std::sync::Arc;
use std::time::Duration;
use tokio::sync::Semaphore;

/// How the worker behaves; the defaults suit production, tests shorten the times.
#[derive(Clone, Debug)]
pub struct JobSettings {
    /// Where connectors keep their last sync file (`<data dir>/connectors`).
    pub connectors_dir: PathBuf,
    /// Job lease length; renewed every third of it while the job runs.
    pub lease: Duration,
    /// App sync-lock lease length.
    pub sync_lock_ttl: Duration,
    /// How often the worker looks for due jobs.
    pub poll: Duration,
    /// Wait before retrying a failed sync (multiplied by the attempt number).
    pub retry_delay: Duration,
    /// Jobs run at once by this replica.
    pub concurrency: usize,
    /// Webhook destinations (`host` or `host:port`) exempt from the HTTPS, port-443 and
    /// public-address rules (tests and development receivers).
    pub webhook_allow_hosts: Vec<String>,
    /// Hosts (`host` or `host:port`) exempt from the public-address rules for every other
    /// outbound request: MCP servers, OAuth and client-metadata documents (tests and
    /// development servers on loopback).
    pub outbound_allow_hosts: Vec<String>,
    /// Attempts of a webhook delivery before it fails (C1: 50).
    pub webhook_max_attempts: i64,
    /// Shortest wait before retrying a webhook delivery (C1: 3 s).
    pub webhook_retry_min: Duration,
    /// Longest wait before retrying a webhook delivery (C1: 15 s).
    pub webhook_retry_max: Duration,
    /// The config file's SMTP server for email notifications (settings saved through the API
    /// win).
    pub smtp: Option<chamberlain_notify::email::SmtpSettings>,
    /// When digests go out.
    pub digest: chamberlain_notify::digest::DigestClock,
    /// Attempts and backoff of notification deliveries.
    pub notify_retry: chamberlain_notify::delivery::RetryPolicy,
    /// Most device sign-ins (`/auth/v1/device_authorization`, unauthenticated) waiting for
    /// approval at once; more are refused until some expire (10 minutes) or are used.
    pub device_pending_max: i64,
    /// The config file's single sign-on (settings saved through the API win).
    pub sso: Option<crate::sso::SsoConfig>,
}

impl JobSettings {
    /// Production defaults with connector files under `data_dir`.
    pub fn under(data_dir: &std::path::Path) -> JobSettings {
        JobSettings {
            connectors_dir: data_dir.join("connectors"),
            lease: Duration::from_secs(60),
            sync_lock_ttl: runner::DEFAULT_LOCK_TTL,
            poll: Duration::from_secs(1),
            retry_delay: Duration::from_secs(60),
            concurrency: 2,
            webhook_allow_hosts: Vec::new(),
            outbound_allow_hosts: Vec::new(),
            webhook_max_attempts: crate::webhooks::DEFAULT_MAX_ATTEMPTS,
            webhook_retry_min: Duration::from_secs(3),
            webhook_retry_max: Duration::from_secs(15),
            smtp: None,
            digest: Default::default(),
            notify_retry: Default::default(),
            device_pending_max: 1000,
            sso: None,
        }
    }
}

/// Attempts of a sync job before it is marked failed.
const SYNC_ATTEMPTS: i64 = 3;

/// A replica's worker.
pub struct Worker {
    state: Shared,
    owner: String,
    slots: Arc<Semaphore>,
    /// The newest change event this replica saw when it last queued automation runs.
    seen_event: tokio::sync::Mutex<String>,
}

/// Starts the worker; it runs until the task is aborted.
pub fn spawn(state: Shared) -> tokio::task::JoinHandle<()> {
    let slots = Arc::new(Semaphore::new(state.jobs.concurrency.max(1)));
    let worker = Arc::new(Worker {
        owner: format!("replica:{}", new_id()),
        state,
        slots,
        seen_event: Default::default(),
    });
    let gateway = worker.state.gateway.clone();
    tokio::spawn(async move {
        // The gateway follows registry and grant changes from every replica.
        let watch = tokio::spawn(gateway.watch());
        worker.run().await;
        watch.abort();
    })
}

impl Worker {
    async fn run(self: Arc<Self>) {
        tracing::info!(owner = %self.owner, "background worker started");
        loop {
            if let Err(e) = schedule_connectors(&self.state).await {
                tracing::warn!(error = %e, "scheduling connector syncs failed");
            }
            if let Err(e) = schedule_identity(&self.state).await {
                tracing::warn!(error = %e, "scheduling identity resolution failed");
            }
            if let Err(e) = self.schedule_access().await {
                tracing::warn!(error = %e, "scheduling access housekeeping failed");
            }
            let free = self.slots.available_permits() as i64;
            if free > 0 {
                match jobs::claim(
                    &self.state.store,
                    &self.owner,
                    &[
                        SYNC_JOB,
                        IDENTITY_JOB,
                        WEBHOOK_JOB,
                        ACCESS_JOB,
                        AUTOMATION_JOB,
                        crate::notify::FANOUT_JOB,
                        crate::notify::DELIVERY_JOB,
                    ],
                    self.state.jobs.lease,
                    free,
                )
                .await
                {
                    Ok(claimed) => {
                        for job in claimed {
                            let permit = self.slots.clone().acquire_owned().await;
                            let me = self.clone();
                            tokio::spawn(async move {
                                let _permit = permit;
                                me.run_job(job).await;
                            });
                        }
                    }
                    Err(e) => tracing::warn!(error = %e, "claiming jobs failed"),
                }
            }
            tokio::time::sleep(self.state.jobs.poll).await;
        }
    }

    async fn run_job(&self, job: Job) {
        let lease = self.state.jobs.lease;
        let keeper = {
            let (store, id, owner) = (self.state.store.clone(), job.id.clone(), self.owner.clone());
            tokio::spawn(async move {
                loop {
                    tokio::time::sleep(lease / 3).await;
                    if !matches!(jobs::renew(&store, &id, &owner, lease).await, Ok(true)) {
                        break;
                    }
                }
            })
        };
        tracing::info!(job = %job.id, kind = %job.kind, attempt = job.attempts, "job started");
        let outcome = self.handle(&job).await;
        keeper.abort();
        tracing::info!(job = %job.id, ?outcome, "job ended");
        match jobs::finish(&self.state.store, &job.id, &self.owner, &outcome).await {
            Ok(true) => {}
            Ok(false) => tracing::warn!(job = %job.id, "job lease was lost before it finished"),
            Err(e) => tracing::warn!(job = %job.id, error = %e, "recording a job's end failed"),
        }
    }

    async fn handle(&self, job: &Job) -> Outcome {
        match job.kind.as_str() {
            SYNC_JOB => self.sync(job).await,
            IDENTITY_JOB => self.resolve(job).await,
            WEBHOOK_JOB => self.webhook(job).await,
            ACCESS_JOB => self.access_housekeeping().await,
            AUTOMATION_JOB => self.automations().await,
            crate::notify::FANOUT_JOB => crate::notify::fan_out_job(&self.state).await,
            crate::notify::DELIVERY_JOB => crate::notify::delivery_job(&self.state, job).await,
            other => Outcome::Failed {
                error: format!("unknown job kind `{other}`"),
            },
        }
    }

    async fn webhook(&self, job: &Job) -> Outcome {
        use crate::webhooks::{run_job, Step};
        match run_job(&self.state, &job.subject_id).await {
            Ok(Step::Finished) => Outcome::Done,
            Ok(Step::RetryIn(delay, error)) => Outcome::Retry { error, delay },
            Ok(Step::WaitCallback(delay)) => Outcome::Postpone { delay },
            Err(e) => Outcome::Retry {
                error: e.to_string(),
                delay: crate::webhooks::retry_delay(&self.state),
            },
        }
    }

    /// Keeps one access-housekeeping job queued (every 5 polls) and one automation job (every
    /// 20 polls, or at once when a change event appeared since this replica last looked). The
    /// active key makes each a single job across replicas; its lease moves it to another
    /// replica if this one dies.
    async fn schedule_access(&self) -> Result<(), chamberlain_store::StoreError> {
        let s = &self.state;
        let poll = s.jobs.poll;
        let mut wanted = Vec::new();
        if !jobs::has_live(&s.store, ACCESS_JOB).await? {
            wanted.push((
                ACCESS_JOB,
                Timestamp::now().plus_millis((poll * 5).as_millis() as i64),
            ));
        }
        if !jobs::has_live(&s.store, AUTOMATION_JOB).await? {
            let latest = jobs::latest_event_id(&s.store).await?;
            let mut seen = self.seen_event.lock().await;
            let changed = *seen != latest;
            *seen = latest;
            let delay = if changed {
                0
            } else {
                (poll * 20).as_millis() as i64
            };
            wanted.push((AUTOMATION_JOB, Timestamp::now().plus_millis(delay)));
        }
        // Notifications follow the change events: when there are events past the pipeline's
        // cursor, a fan-out is queued, due a settle period later (younger events wait).
        if crate::notify::events_pending(&s.store).await?
            && !jobs::has_live(&s.store, crate::notify::FANOUT_JOB).await?
        {
            let settle = chamberlain_notify::pipeline::SETTLE.as_millis() as i64;
            wanted.push((
                crate::notify::FANOUT_JOB,
                Timestamp::now().plus_millis(settle.max(poll.as_millis() as i64)),
            ));
        }
        for (kind, run_at) in wanted {
            let job = NewJob {
                kind: kind.into(),
                subject_id: String::new(),
                active_key: Some(kind.into()),
                payload: serde_json::json!({}),
                run_at,
                max_attempts: 1,
            };
            chamberlain_store::write_tx!(s.store, &AuditCtx::system("scheduler"), |tx| {
                jobs::enqueue(tx, &job).await.map(|_| ())
            })?;
        }
        Ok(())
    }

    /// Revokes expired grants, announces grants about to end, settles provisioning webhooks,
    /// resumes waits and applies escalations.
    async fn access_housekeeping(&self) -> Outcome {
        let engine = crate::routes::tasks::engine(&self.state);
        let mut errors = Vec::new();
        loop {
            match engine.expire_due(500).await {
                Ok(n) if n > 0 => tracing::info!(revoked = n, "expired grants revoked"),
                Ok(_) => break,
                Err(e) => {
                    errors.push(format!("expiry: {e}"));
                    break;
                }
            }
        }
        if let Err(e) = engine.announce_expiring(1000).await {
            errors.push(format!("expiry notices: {e}"));
        }
        if let Err(e) = engine.tick().await {
            errors.push(format!("waits and escalations: {e}"));
        }
        if let Err(e) = crate::oauth::lifecycle::sweep(&self.state).await {
            errors.push(format!("AI client lifecycle: {e}"));
        }
        if let Err(e) = crate::notify::queue_digests(&self.state).await {
            errors.push(format!("notification digests: {e}"));
        }
        if let Err(e) = self.scheduled_discovery().await {
            errors.push(format!("MCP tool discovery: {e}"));
        }
        let hour = std::time::Duration::from_secs(3600);
        for kind in [ACCESS_JOB, AUTOMATION_JOB, crate::notify::FANOUT_JOB] {
            if let Err(e) = jobs::prune_finished(&self.state.store, kind, hour).await {
                errors.push(format!("pruning: {e}"));
            }
        }
        if errors.is_empty() {
            Outcome::Done
        } else {
            tracing::warn!(errors = ?errors, "access housekeeping had errors");
            Outcome::Failed {
                error: errors.join("; "),
            }
        }
    }

    /// Re-discovers the tools of MCP servers whose last discovery is older than the tenant's
    /// discovery interval (when auto discovery is on). Failures are recorded on the server.
    async fn scheduled_discovery(&self) -> Result<(), chamberlain_store::StoreError> {
        let settings = chamberlain_store::repo::ai_governance::load(&self.state.store).await?;
        if !settings.auto_discovery_enabled {
            return Ok(());
        }
        let interval = settings
            .discovery_interval
            .map(|d| d.seconds)
            .filter(|s| *s > 0)
            .unwrap_or(86_400);
        let now = Timestamp::now();
        let due: Vec<String> = self
            .state
            .gateway
            .index()
            .servers
            .values()
            .filter(|s| {
                s.chamberlain_last_discovery
                    .as_ref()
                    .and_then(|d| d.at)
                    .is_none_or(|at| now.as_micros() - at.as_micros() >= interval * 1_000_000)
            })
            .map(|s| s.connector_id.clone())
            .collect();
        for id in due {
            let report = self
                .state
                .gateway
                .discover(&id, &AuditCtx::system("scheduled tool discovery"))
                .await?;
            tracing::info!(server = %id, ok = report.ok, added = report.added, changed = report.changed, removed = report.removed, "scheduled MCP tool discovery");
        }
        Ok(())
    }

    /// Runs every enabled membership automation and per-entitlement automation.
    async fn automations(&self) -> Outcome {
        let engine = crate::routes::tasks::engine(&self.state);
        let mut errors = Vec::new();
        if let Err(e) = engine.run_bundle_automations().await {
            errors.push(format!("membership automation: {e}"));
        }
        if let Err(e) = engine.run_entitlement_automations().await {
            errors.push(format!("entitlement automation: {e}"));
        }
        if errors.is_empty() {
            Outcome::Done
        } else {
            tracing::warn!(errors = ?errors, "automation runs had errors");
            Outcome::Failed {
                error: errors.join("; "),
            }
        }
    }

    async fn resolve(&self, job: &Job) -> Outcome {
        let s = &self.state;
        match chamberlain_identity::run_scope(
            &s.store,
            &job.subject_id,
            &AuditCtx::system("identity"),
        )
        .await
        {
            Ok(_) => Outcome::Done,
            Err(e) => retry(s, job, e.to_string()),
        }
    }

    async fn sync(&self, job: &Job) -> Outcome {
        let s = &self.state;
        let connector_id = job.subject_id.as_str();
        let connector: Connector =
            match chamberlain_store::record::get(s.store.pool(), connector_id, false).await {
                Ok(Some(c)) => c,
                Ok(None) => return Outcome::Done,
                Err(e) => return retry(s, job, e.to_string()),
            };
        if connector.sync_disabled_at.is_some() {
            return Outcome::Done;
        }
        let config = match conn::baton_config(s, connector_id).await {
            Ok(Some(c)) => c,
            Ok(None) => {
                return Outcome::Failed {
                    error: "the connector has no Baton binary configured".into(),
                }
            }
            Err(e) => {
                return Outcome::Failed {
                    error: e.message.clone(),
                }
            }
        };
        let audit = AuditCtx::system("connector-sync");
        let source = Source::Baton {
            config,
            work_dir: s.jobs.connectors_dir.clone(),
        };
        match runner::sync_connector(
            &s.store,
            &audit,
            &connector.app_id,
            connector_id,
            &source,
            s.jobs.sync_lock_ttl,
        )
        .await
        {
            Ok(_) => Outcome::Done,
            Err(SyncError::Busy(_)) => Outcome::Postpone {
                delay: Duration::from_secs(5).min(s.jobs.retry_delay),
            },
            Err(e) => retry(s, job, e.to_string()),
        }
    }
}

fn retry(s: &Shared, job: &Job, error: String) -> Outcome {
    Outcome::Retry {
        error,
        delay: s.jobs.retry_delay * u32::try_from(job.attempts.max(1)).unwrap_or(1),
    }
}

/// Makes sure every scheduled, unpaused connector with a binary has its next sync queued. The
/// job key allows one live sync job per connector, so replicas doing this at once enqueue one.
pub async fn schedule_connectors(s: &Shared) -> Result<(), chamberlain_store::StoreError> {
    let now = Timestamp::now();
    for (connector, has_config) in conn::all_connectors(s).await? {
        let Some(cron) = connector.connector_sync_cron_schedule.as_ref() else {
            continue;
        };
        if !has_config || connector.sync_disabled_at.is_some() {
            continue;
        }
        let key = conn::sync_job_key(&connector.id);
        if jobs::has_live(&s.store, &key).await? {
            continue;
        }
        let spec = cron.get("cronSpec").and_then(|v| v.as_str()).unwrap_or("");
        let tz = cron.get("timezone").and_then(|v| v.as_str()).unwrap_or("");
        let Ok(schedule) = Schedule::parse(spec, tz) else {
            continue;
        };
        let Ok(after) = jiff::Timestamp::from_microsecond(now.as_micros()) else {
            continue;
        };
        let Some(next) = schedule.next_after(after) else {
            continue;
        };
        let job = NewJob {
            kind: SYNC_JOB.into(),
            subject_id: connector.id.clone(),
            active_key: Some(key),
            payload: serde_json::json!({"appId": connector.app_id, "scheduled": true}),
            run_at: Timestamp::from_micros(next.as_microsecond()),
            max_attempts: SYNC_ATTEMPTS,
        };
        chamberlain_store::write_tx!(s.store, &AuditCtx::system("scheduler"), |tx| {
            jobs::enqueue(tx, &job).await.map(|_| ())
        })?;
    }
    Ok(())
}

/// How long a scope whose run failed for good waits before it is tried again.
pub const IDENTITY_FAILURE_PAUSE: Duration = Duration::from_secs(600);

/// Job kind of an identity-resolution run; the subject is the scope.
pub const IDENTITY_JOB: &str = "identity_resolve";
/// Job kind: grant expiry, expiry notices, provisioning webhooks, waits and escalations.
pub const ACCESS_JOB: &str = "access_housekeeping";
/// Job kind: membership and entitlement automation runs.
pub const AUTOMATION_JOB: &str = "membership_automation";

/// Queues a run for every identity scope that is behind (one live job per scope; a change
/// made while a run is going leaves the scope behind, so it runs again afterwards).
pub async fn schedule_identity(s: &Shared) -> Result<(), chamberlain_store::StoreError> {
    for (scope, _) in chamberlain_store::repo::identity::dirty_scopes(&s.store).await? {
        let key = format!("{IDENTITY_JOB}:{scope}");
        if jobs::has_live(&s.store, &key).await? {
            continue;
        }
        // A scope whose run keeps failing (its last job used up its attempts) waits before
        // the next try instead of failing in a loop; its runs show the error meanwhile.
        if jobs::failed_recently(&s.store, IDENTITY_JOB, &scope, IDENTITY_FAILURE_PAUSE).await? {
            continue;
        }
        let job = NewJob {
            kind: IDENTITY_JOB.into(),
            subject_id: scope.clone(),
            active_key: Some(key),
            payload: serde_json::json!({ "scope": scope }),
            run_at: Timestamp::now(),
            max_attempts: SYNC_ATTEMPTS,
        };
        chamberlain_store::write_tx!(s.store, &AuditCtx::system("scheduler"), |tx| {
            jobs::enqueue(tx, &job).await.map(|_| ())
        })?;
    }
    Ok(())
}

/// A sync job for `connector` due now.
pub fn sync_now(connector: &Connector) -> NewJob {
    NewJob {
        kind: SYNC_JOB.into(),
        subject_id: connector.id.clone(),
        active_key: Some(conn::sync_job_key(&connector.id)),
        payload: serde_json::json!({"appId": connector.app_id, "scheduled": false}),
        run_at: Timestamp::now(),
        max_attempts: SYNC_ATTEMPTS,
    }
}
