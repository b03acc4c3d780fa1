//! The task engine: grant and revoke tasks moving through their policy's steps.
//!
//! Every change to a task happens in one transaction that also writes its history entries
//! (`task_audits`) and the system-log event; the update is guarded by the task's version, so two
//! approvers acting at once produce exactly one outcome (the loser is retried, re-reads the task
//! and is told the step is no longer waiting for them).
//!
//! Steps run in order from the snapshot taken at creation (`policy.next`). Approval steps wait
//! for people; accept and reject decide at once; waits pause until the worker resumes them;
//! provisioning either completes inside the transaction (apps without automatic provisioning:
//! the grant is recorded in Chamberlain), waits for a named provisioner (manual), or is handed to
//! the [`Provisioner`] after commit (connectors), whose result is recorded in a second
//! transaction. A failing automatic provisioning falls back to manual, with the error on the task.

use crate::directory::evaluate_blocking;
use crate::policy::{select_steps, RuleInput};
use chamberlain_cel::{Expression, Input, Purpose, Subject};
use chamberlain_model::app::{App, AppEntitlement, AppUser};
use chamberlain_model::policy::{
    Accept, Approval, OwnerApproval, Policy, PolicyStep, PolicySteps, PolicyType, Provision,
};
use chamberlain_model::task::*;
use chamberlain_model::user::User;
use chamberlain_model::{new_id, Duration, Timestamp};
use chamberlain_store::record::Sql;
use chamberlain_store::repo::{grants, policies, tasks};
use chamberlain_store::{write_tx, Activity, AuditCtx, Store, StoreError, Tx};
use futures::future::BoxFuture;
use serde_json::{json, Value};
use sqlx::Row;
use std::collections::HashMap;
use std::sync::Arc;

/// A change for a provisioner to carry out.
#[derive(Clone, Debug)]
pub struct Change {
    /// Grant (true) or revoke (false).
    pub grant: bool,
    pub app_id: String,
    pub entitlement_id: String,
    pub app_user_id: String,
}

/// Carries out changes in the systems apps stand for (the API crate implements it with the
/// apps' Baton connectors).
pub trait Provisioner: Send + Sync {
    /// Whether changes in this app are carried out automatically (a provisioning connector).
    fn automatic<'a>(&'a self, app_id: &'a str) -> BoxFuture<'a, Result<bool, String>>;
    /// Carries out the change; an error is shown on the task and provisioning falls back to
    /// manual.
    fn apply<'a>(&'a self, change: &'a Change) -> BoxFuture<'a, Result<(), String>>;
}

/// Why the engine refused or failed.
#[derive(Debug, thiserror::Error)]
pub enum EngineError {
    /// The request is malformed or breaks a rule; the message says what to fix.
    #[error("{0}")]
    Invalid(String),
    /// Something named does not exist.
    #[error("{0}")]
    NotFound(String),
    /// The caller may not do this.
    #[error("{0}")]
    Forbidden(String),
    /// The task's state does not allow this now.
    #[error("{0}")]
    Precondition(String),
    /// Storage failed.
    #[error(transparent)]
    Store(#[from] StoreError),
}

type Result<T, E = EngineError> = std::result::Result<T, E>;

/// Who is acting.
#[derive(Clone, Debug)]
pub struct Actor {
    /// The acting user (empty for the server itself).
    pub user_id: String,
    /// Whether the actor is a super admin.
    pub super_admin: bool,
    /// The audit context of the request.
    pub audit: AuditCtx,
}

impl Actor {
    /// The server acting on its own (expiry, automation).
    pub fn system(what: &str) -> Actor {
        Actor {
            user_id: String::new(),
            super_admin: true,
            audit: AuditCtx::system(what),
        }
    }
}

/// A request for access.
#[derive(Clone, Debug, Default)]
pub struct GrantRequest {
    pub app_id: String,
    pub entitlement_id: String,
    /// The account to grant to; or empty, with `identity_user_id` naming the user.
    pub app_user_id: String,
    pub identity_user_id: String,
    pub justification: String,
    pub duration: Option<Duration>,
    pub emergency: bool,
    pub origin: TaskOrigin,
    /// Steps to run instead of the entitlement's policy (profile enrollment that bypasses the
    /// entitlement's policy; revocations by expiry). Recorded on the task as a built-in policy.
    pub steps_override: Option<(String, Vec<PolicyStep>)>,
    /// The task that caused this one (profile enrollment), if any.
    pub parent_task_id: String,
}

/// See [`Engine::preview_grant`].
#[derive(Clone, Debug)]
pub struct GrantPreview {
    /// The policy that applies (a built-in one when none is set).
    pub policy: Policy,
    /// The steps its rules select for this request.
    pub steps: Vec<PolicyStep>,
    /// How they were chosen.
    pub notes: Vec<String>,
    /// The length the grant would get (`None`: permanent).
    pub duration: Option<Duration>,
    /// The longest the entitlement allows (`None`: no limit).
    pub max_duration: Option<Duration>,
    /// Whether the entitlement offers emergency access.
    pub emergency_available: bool,
    /// The entitlement requested (with its app's request defaults applied).
    pub entitlement: AppEntitlement,
    /// Its app's display name.
    pub app_name: String,
}

/// A request to remove access.
#[derive(Clone, Debug, Default)]
pub struct RevokeRequest {
    pub app_id: String,
    pub entitlement_id: String,
    pub app_user_id: String,
    pub identity_user_id: String,
    pub justification: String,
    pub origin: TaskOrigin,
    pub steps_override: Option<(String, Vec<PolicyStep>)>,
    /// The task that caused this one (profile unenrollment), if any.
    pub parent_task_id: String,
}

/// An action on an open task.
#[derive(Clone, Debug)]
pub enum Action {
    Approve {
        comment: String,
        step_id: String,
    },
    Deny {
        comment: String,
        step_id: String,
    },
    Comment {
        comment: String,
    },
    Reassign {
        comment: String,
        step_id: String,
        user_ids: Vec<String>,
    },
    Close {
        comment: String,
    },
    Escalate {
        comment: String,
    },
    UpdateGrantDuration {
        duration: Option<Duration>,
    },
    SkipStep {
        comment: String,
        step_id: String,
    },
    RetryProvisioning {
        comment: String,
    },
}

/// The task engine.
#[derive(Clone)]
pub struct Engine {
    pub store: Store,
    pub provisioner: Arc<dyn Provisioner>,
}

/// What a task is about, loaded once per transaction.
struct Subjects {
    app: App,
    entitlement: AppEntitlement,
    account: AppUser,
    user: User,
    automatic: bool,
}

/// The step sequence used when no policy exists: approval by the app's owners (super admins
/// when it has none), then provisioning. Never auto-approves.
pub fn default_grant_steps() -> Vec<PolicyStep> {
    vec![
        PolicyStep {
            approval: Some(Approval {
                app_owners: Some(OwnerApproval::default()),
                ..Default::default()
            }),
            ..Default::default()
        },
        provision_step(),
    ]
}

/// A provisioning step with the app's default method.
pub fn provision_step() -> PolicyStep {
    PolicyStep {
        provision: Some(Provision::default()),
        ..Default::default()
    }
}

/// Steps that grant without a person (auto-approve, then provision).
pub fn auto_steps(message: &str) -> Vec<PolicyStep> {
    vec![
        PolicyStep {
            accept: Some(Accept {
                accept_message: message.into(),
            }),
            ..Default::default()
        },
        provision_step(),
    ]
}

fn builtin_policy(name: &str, ptype: PolicyType, steps: Vec<PolicyStep>) -> Policy {
    let mut p = Policy {
        display_name: name.into(),
        policy_type: ptype,
        system_builtin: true,
        ..Default::default()
    };
    p.policy_steps
        .insert(ptype.baseline_key().into(), PolicySteps { steps });
    p
}

const TASK_AUDIT_LIMIT: usize = 4_000;

impl Engine {
    /// A new engine.
    pub fn new(store: Store, provisioner: Arc<dyn Provisioner>) -> Engine {
        Engine { store, provisioner }
    }

    /// Opens a grant task (or returns the open one for the same entitlement and account) and
    /// runs it as far as it goes without people; connector provisioning follows after commit.
    pub async fn create_grant(&self, actor: &Actor, req: GrantRequest) -> Result<Task> {
        let opening = self.prepare_grant(req, &mut Lookups::default()).await?;
        let id = self.open(actor, &opening).await?;
        self.drive(&id).await?;
        self.get(&id).await
    }

    /// What a grant request would go through if it were opened now, without opening it: the
    /// policy and the steps its rules select for this requester, the grant's length and
    /// whether emergency access is offered (the request form shows it before submitting).
    pub async fn preview_grant(&self, req: GrantRequest) -> Result<GrantPreview> {
        let o = self.prepare_grant(req, &mut Lookups::default()).await?;
        let (policy, steps, notes) = o.selection;
        let ent = &o.subjects.entitlement;
        Ok(GrantPreview {
            duration: o.task_type.grant.as_ref().and_then(|g| g.grant_duration),
            max_duration: max_duration(ent),
            emergency_available: ent.emergency_grant_enabled,
            app_name: o.subjects.app.display_name.clone(),
            entitlement: ent.clone(),
            policy,
            steps,
            notes,
        })
    }

    /// Everything a grant task is opened with, resolved outside the transaction.
    async fn prepare_grant(&self, req: GrantRequest, cache: &mut Lookups) -> Result<Opening> {
        let (account, user) = self
            .account_for(&req.app_id, &req.app_user_id, &req.identity_user_id, false)
            .await?;
        let ent = cache
            .entitlement(self, &req.app_id, &req.entitlement_id)
            .await?;
        let app = cache.app(self, &req.app_id).await?;
        if req.justification.len() > 4096 {
            return Err(EngineError::Invalid(
                "description (the justification) is longer than 4096 characters".into(),
            ));
        }
        let max = max_duration(&ent);
        let duration = match (req.duration, max) {
            (Some(d), _) if d.seconds <= 0 => {
                return Err(EngineError::Invalid(format!(
                    "grantDuration must be positive (got {d})"
                )))
            }
            (Some(d), Some(m)) if d.seconds > m.seconds => {
                return Err(EngineError::Invalid(format!(
                    "grantDuration {d} is longer than the maximum {m} allowed for entitlement \"{}\"; ask for {m} or less",
                    ent.display_name
                )))
            }
            (Some(d), _) => Some(d),
            (None, m) => m,
        };
        if req.emergency && !ent.emergency_grant_enabled {
            return Err(EngineError::Invalid(format!(
                "entitlement \"{}\" does not offer emergency access; request it without emergencyAccess",
                ent.display_name
            )));
        }
        let (policy, steps, notes) = match &req.steps_override {
            Some((name, steps)) => (
                builtin_policy(name, PolicyType::Grant, steps.clone()),
                steps.clone(),
                vec![format!(
                    "{name}: the entitlement's request policy is bypassed"
                )],
            ),
            None => {
                let policy_id = if req.emergency {
                    ent.emergency_grant_policy_id.clone()
                } else if !ent.grant_policy_id.is_empty() {
                    ent.grant_policy_id.clone()
                } else {
                    app.grant_policy_id.clone()
                };
                self.steps_for(&policy_id, PolicyType::Grant, &user, &account, &ent)
                    .await?
            }
        };
        let automatic = cache.automatic(self, &app.id).await?;
        let subjects = Subjects {
            app,
            entitlement: ent,
            account,
            user,
            automatic,
        };
        let task_type = TaskType {
            grant: Some(TaskTypeGrant {
                app_id: subjects.app.id.clone(),
                app_entitlement_id: subjects.entitlement.id.clone(),
                app_user_id: subjects.account.id.clone(),
                identity_user_id: subjects.user.id.clone(),
                grant_duration: duration,
                ..Default::default()
            }),
            revoke: None,
        };
        Ok(Opening {
            subjects,
            task_type,
            selection: (policy, steps, notes),
            justification: req.justification,
            origin: req.origin,
            emergency: req.emergency,
            parent_task_id: req.parent_task_id,
        })
    }

    /// Opens a revoke task (or returns the open one) and runs it like [`Engine::create_grant`].
    pub async fn create_revoke(&self, actor: &Actor, req: RevokeRequest) -> Result<Task> {
        let opening = self.prepare_revoke(req, &mut Lookups::default()).await?;
        let id = self.open(actor, &opening).await?;
        self.drive(&id).await?;
        self.get(&id).await
    }

    /// Opens many revoke tasks, in transactions of up to 200 (the server's own bulk changes:
    /// expiry). Requests that cannot be opened, or whose change was already made, are skipped;
    /// their errors are returned with the opened task ids.
    pub async fn create_revokes(
        &self,
        actor: &Actor,
        reqs: Vec<RevokeRequest>,
    ) -> Result<(Vec<(String, i64)>, Vec<EngineError>)> {
        let mut cache = Lookups::default();
        let mut prepared = Vec::with_capacity(reqs.len());
        for req in reqs {
            prepared.push(self.prepare_revoke(req, &mut cache).await);
        }
        self.open_prepared(actor, prepared).await
    }

    /// Opens many grant tasks like [`Engine::create_revokes`] (membership automation).
    pub async fn create_grants(
        &self,
        actor: &Actor,
        reqs: Vec<GrantRequest>,
    ) -> Result<(Vec<(String, i64)>, Vec<EngineError>)> {
        let mut cache = Lookups::default();
        let mut prepared = Vec::with_capacity(reqs.len());
        for req in reqs {
            prepared.push(self.prepare_grant(req, &mut cache).await);
        }
        self.open_prepared(actor, prepared).await
    }

    /// Opens the prepared tasks in batches and drives each; preparation errors are returned
    /// beside the opened tasks' `(id, numericId)`.
    async fn open_prepared(
        &self,
        actor: &Actor,
        prepared: Vec<Result<Opening>>,
    ) -> Result<(Vec<(String, i64)>, Vec<EngineError>)> {
        let mut openings = Vec::new();
        let mut errors = Vec::new();
        for p in prepared {
            match p {
                Ok(o) => openings.push(o),
                Err(e) => errors.push(e),
            }
        }
        let opened = self.open_many(actor, &openings).await?;
        for (id, _) in &opened {
            self.drive(id).await?;
        }
        Ok((opened, errors))
    }

    /// Everything a revoke task is opened with, resolved outside the transaction.
    async fn prepare_revoke(&self, req: RevokeRequest, cache: &mut Lookups) -> Result<Opening> {
        // Expiry revokes whatever account holds the grant, linked to a user or not.
        let (account, user) = self
            .account_for(
                &req.app_id,
                &req.app_user_id,
                &req.identity_user_id,
                req.origin == TaskOrigin::TimeRevoke,
            )
            .await?;
        let ent = cache
            .entitlement(self, &req.app_id, &req.entitlement_id)
            .await?;
        let app = cache.app(self, &req.app_id).await?;
        let held = grants::search(
            &self.store,
            &grants::GrantQuery {
                entitlement_ids: vec![ent.id.clone()],
                app_user_ids: vec![account.id.clone()],
                ..Default::default()
            },
            grants::GrantState::Current,
            &chamberlain_store::record::PageReq::first(1),
        )
        .await?;
        if held.items.is_empty() && req.origin != TaskOrigin::TimeRevoke {
            return Err(EngineError::Precondition(format!(
                "app user `{}` does not hold entitlement \"{}\"; there is nothing to revoke",
                account.id, ent.display_name
            )));
        }
        let (policy, steps, notes) = match &req.steps_override {
            Some((name, steps)) => (
                builtin_policy(name, PolicyType::Revoke, steps.clone()),
                steps.clone(),
                vec![format!("{name}: revoked without a review")],
            ),
            None => {
                let policy_id = if !ent.revoke_policy_id.is_empty() {
                    ent.revoke_policy_id.clone()
                } else {
                    app.revoke_policy_id.clone()
                };
                self.steps_for(&policy_id, PolicyType::Revoke, &user, &account, &ent)
                    .await?
            }
        };
        let automatic = cache.automatic(self, &app.id).await?;
        let subjects = Subjects {
            app,
            entitlement: ent,
            account,
            user,
            automatic,
        };
        let task_type = TaskType {
            grant: None,
            revoke: Some(TaskTypeRevoke {
                app_id: subjects.app.id.clone(),
                app_entitlement_id: subjects.entitlement.id.clone(),
                app_user_id: subjects.account.id.clone(),
                identity_user_id: subjects.user.id.clone(),
                ..Default::default()
            }),
        };
        Ok(Opening {
            subjects,
            task_type,
            selection: (policy, steps, notes),
            justification: req.justification,
            origin: req.origin,
            emergency: false,
            parent_task_id: req.parent_task_id,
        })
    }

    /// A task by id or numeric id.
    pub async fn get(&self, id: &str) -> Result<Task> {
        tasks::get(self.store.pool(), id)
            .await?
            .map(|s| s.task)
            .ok_or_else(|| EngineError::NotFound(format!("task `{id}` was not found")))
    }

    async fn open(&self, actor: &Actor, o: &Opening) -> Result<String> {
        let store = self.store.clone();
        let id = write_tx!(self.store, &actor.audit, |tx| {
            open_in(tx, &store, actor, o)
                .await?
                .ok_or_else(|| StoreError::Precondition(NOTHING_TO_DO.into()))
        })?;
        Ok(id.0)
    }

    async fn open_many(&self, actor: &Actor, openings: &[Opening]) -> Result<Vec<(String, i64)>> {
        let mut ids = Vec::new();
        for chunk in openings.chunks(200) {
            let store = self.store.clone();
            let opened = write_tx!(self.store, &actor.audit, |tx| {
                let mut opened = Vec::new();
                for o in chunk {
                    if let Some(opened_task) = open_in(tx, &store, actor, o).await? {
                        opened.push(opened_task);
                    }
                }
                Ok(opened)
            })?;
            ids.extend(opened);
        }
        Ok(ids)
    }

    /// Applies an action by `actor` to an open task.
    pub async fn act(&self, actor: &Actor, task_id: &str, action: Action) -> Result<Task> {
        let current = self.get(task_id).await?;
        let subjects = self.subjects(&current).await?;
        if let Action::Reassign { user_ids, .. } = &action {
            self.users_exist(user_ids).await?;
        }
        let escalation_steps = match &action {
            Action::Escalate { .. } => Some(self.emergency_steps(&current, &subjects).await?),
            _ => None,
        };
        let store = self.store.clone();
        let id = current.id.clone();
        write_tx!(self.store, &actor.audit, |tx| {
            let Some(stored) = tasks::get_tx(tx, &id).await? else {
                return Err(StoreError::not_found("task", id.clone()));
            };
            let mut task = stored.task.clone();
            let mut log = Vec::new();
            apply_action(
                tx,
                &store,
                &subjects,
                &mut task,
                actor,
                &action,
                escalation_steps.clone(),
                &mut log,
            )
            .await?;
            task.updated_at = Some(tx.now());
            tasks::update(tx, &task, stored.version).await?;
            write_log(tx, &task, actor, log).await?;
            tx.audit(
                Activity::Update,
                "task",
                &task.id,
                None,
                Some(json!({"numericId": task.numeric_id, "action": action_name(&action), "state": task.state.as_str()})),
            )
            .await?;
            Ok(())
        })
        .map_err(refusal)?;
        self.drive(&id).await?;
        self.get(&id).await
    }

    /// Runs pending automatic provisioning of a task: claims the step, calls the provisioner
    /// outside any transaction, records the result, and repeats while the task reaches further
    /// automatic steps.
    pub async fn drive(&self, task_id: &str) -> Result<()> {
        for _ in 0..8 {
            let Some((change, step_id, subjects)) = self.claim_provisioning(task_id).await? else {
                return Box::pin(self.follow_up(task_id)).await;
            };
            let outcome = self.provisioner.apply(&change).await;
            let store = self.store.clone();
            let actor = Actor::system("provisioning");
            let id = task_id.to_string();
            write_tx!(self.store, &actor.audit, |tx| {
                let Some(stored) = tasks::get_tx(tx, &id).await? else {
                    return Ok(());
                };
                let mut task = stored.task.clone();
                let mut log = Vec::new();
                let still = task
                    .policy
                    .as_ref()
                    .and_then(|p| p.current.as_ref())
                    .is_some_and(|c| c.id == step_id);
                if !still || task.state == TaskState::Closed {
                    return Ok(());
                }
                match &outcome {
                    Ok(()) => {
                        complete_provision(tx, &subjects, &mut task, "connector", "", &mut log)
                            .await?;
                        advance(tx, &store, &subjects, &mut task, &mut log).await?;
                    }
                    Err(e) => {
                        fall_back_to_manual(tx, &subjects, &mut task, e, &mut log).await?;
                    }
                }
                task.updated_at = Some(tx.now());
                tasks::update(tx, &task, stored.version).await?;
                write_log(tx, &task, &actor, log).await?;
                Ok(())
            })?;
        }
        Ok(())
    }

    async fn claim_provisioning(
        &self,
        task_id: &str,
    ) -> Result<Option<(Change, String, Subjects)>> {
        let task = self.get(task_id).await?;
        let waiting = task
            .policy
            .as_ref()
            .and_then(|p| p.current.as_ref())
            .and_then(|c| c.provision.as_ref().map(|p| (c.id.clone(), p.clone())));
        let Some((step_id, prov)) = waiting else {
            return Ok(None);
        };
        if task.state == TaskState::Closed
            || prov.method != "connector"
            || prov.state != ProvisionState::Init
        {
            return Ok(None);
        }
        let subjects = self.subjects(&task).await?;
        let actor = Actor::system("provisioning");
        let id = task.id.clone();
        let claimed = write_tx!(self.store, &actor.audit, |tx| {
            let Some(stored) = tasks::get_tx(tx, &id).await? else {
                return Ok(false);
            };
            let mut t = stored.task.clone();
            let Some(cur) = t.policy.as_mut().and_then(|p| p.current.as_mut()) else {
                return Ok(false);
            };
            let Some(p) = cur.provision.as_mut() else {
                return Ok(false);
            };
            if cur.id != step_id || p.state != ProvisionState::Init {
                return Ok(false);
            }
            p.state = ProvisionState::Waiting;
            t.updated_at = Some(tx.now());
            tasks::update(tx, &t, stored.version).await?;
            Ok(true)
        })?;
        if !claimed {
            return Ok(None);
        }
        let change = Change {
            grant: task.task_type.grant.is_some(),
            app_id: subjects.app.id.clone(),
            entitlement_id: subjects.entitlement.id.clone(),
            app_user_id: subjects.account.id.clone(),
        };
        Ok(Some((change, step_id, subjects)))
    }

    /// Revokes up to `limit` grants whose end has passed: each gets a revoke task (origin
    /// `TIME_REVOKE`) that provisions without review. Safe on several replicas: a grant with an
    /// open revoke task is skipped, and task creation is unique per grant. Returns how many
    /// tasks were opened.
    pub async fn expire_due(&self, limit: i64) -> Result<usize> {
        let mut sql = Sql::new(
            "SELECT g.app_id, g.entitlement_id, g.app_user_id FROM grants g \
             WHERE g.deleted_at IS NULL AND g.direct = 1 AND g.deprovision_at IS NOT NULL AND g.deprovision_at <= ",
        );
        sql.arg(Timestamp::now().as_micros())
            .push(" AND NOT EXISTS (SELECT 1 FROM tasks t WHERE t.open_key = ")
            // The open key `tasks::open_key` gives a revoke task, built in SQL.
            .push("'revoke:' || g.entitlement_id || ':' || g.app_user_id")
            .push(") ORDER BY g.deprovision_at, g.id LIMIT ")
            .arg(limit);
        let rows = sql
            .query()
            .fetch_all(self.store.pool())
            .await
            .map_err(StoreError::from)?;
        let actor = Actor::system("grant expiry");
        let mut reqs = Vec::with_capacity(rows.len());
        for r in rows {
            reqs.push(RevokeRequest {
                app_id: r.try_get(0).map_err(StoreError::from)?,
                entitlement_id: r.try_get(1).map_err(StoreError::from)?,
                app_user_id: r.try_get(2).map_err(StoreError::from)?,
                justification: "the grant's duration ended".into(),
                origin: TaskOrigin::TimeRevoke,
                steps_override: Some(("Expiry (built in)".into(), vec![provision_step()])),
                ..Default::default()
            });
        }
        let (ids, errors) = self.create_revokes(&actor, reqs).await?;
        for e in errors {
            tracing::warn!(error = %e, "could not revoke an expired grant");
        }
        let opened = ids.len();
        Ok(opened)
    }

    /// Announces grants that end within three business days, once per grant end: a
    /// `grant.expiring` change event (the notification pipeline delivers it). Returns how many.
    pub async fn announce_expiring(&self, limit: i64) -> Result<usize> {
        let now = Timestamp::now();
        let horizon = three_business_days_after(now);
        let mut sql = Sql::new(
            "SELECT g.id, g.app_id, g.entitlement_id, g.app_user_id, g.deprovision_at, au.identity_user_id \
             FROM grants g JOIN app_users au ON au.id = g.app_user_id \
             WHERE g.deleted_at IS NULL AND g.deprovision_at IS NOT NULL AND g.deprovision_at > ",
        );
        sql.arg(now.as_micros())
            .push(" AND g.deprovision_at <= ")
            .arg(horizon.as_micros())
            .push(" AND NOT EXISTS (SELECT 1 FROM grant_expiry_notices n WHERE n.grant_id = g.id AND n.deprovision_at = g.deprovision_at)")
            .push(" ORDER BY g.deprovision_at LIMIT ")
            .arg(limit);
        let rows = sql
            .query()
            .fetch_all(self.store.pool())
            .await
            .map_err(StoreError::from)?;
        if rows.is_empty() {
            return Ok(0);
        }
        let mut items = Vec::new();
        for r in &rows {
            let get = |i: usize| r.try_get::<String, _>(i).map_err(StoreError::from);
            items.push((
                get(0)?,
                get(1)?,
                get(2)?,
                get(3)?,
                r.try_get::<i64, _>(4).map_err(StoreError::from)?,
                get(5)?,
            ));
        }
        let actor = Actor::system("grant expiry notices");
        let n = write_tx!(self.store, &actor.audit, |tx| {
            let mut n = 0;
            for (gid, app, ent, au, at, user) in &items {
                let mut ins = Sql::new("INSERT INTO grant_expiry_notices (grant_id, deprovision_at, noticed_at) VALUES (");
                ins.arg(gid.as_str())
                    .push(", ")
                    .arg(*at)
                    .push(", ")
                    .arg(tx.now().as_micros())
                    .push(") ON CONFLICT DO NOTHING");
                if tx.exec(&ins).await? == 0 {
                    continue;
                }
                chamberlain_store::repo::jobs::append_event(
                    tx,
                    "grant.expiring",
                    app,
                    &json!({"appId": app, "appEntitlementId": ent, "appUserId": au, "userId": user,
                        "deprovisionAt": Timestamp::from_micros(*at).to_string()}),
                )
                .await?;
                n += 1;
            }
            Ok(n)
        })?;
        Ok(n)
    }

    /// Records the outcome of provisioning webhooks whose delivery ended: a `complete` reply
    /// completes the step; an `errored` reply, a malformed reply, a refused or failed delivery
    /// turns it into a manual step with the reason on the task.
    pub async fn settle_webhooks(&self) -> Result<usize> {
        let mut done = 0;
        let ids = tasks::open_ids_at_step(self.store.pool(), "provision", 500).await?;
        for id in ids {
            let task = self.get(&id).await?;
            let Some((step_id, delivery_id)) = current(&task).and_then(|c| {
                c.provision
                    .as_ref()
                    .filter(|p| p.method == "webhook" && p.state == ProvisionState::WebhookWaiting)
                    .map(|p| (c.id.clone(), p.webhook_instance_id.clone()))
            }) else {
                continue;
            };
            let delivery =
                chamberlain_store::repo::webhooks::delivery(&self.store, &delivery_id).await?;
            if !delivery.is_finished() {
                continue;
            }
            let outcome = webhook_outcome(&delivery);
            let subjects = self.subjects(&task).await?;
            let store = self.store.clone();
            let actor = Actor::system("provisioning webhook");
            write_tx!(self.store, &actor.audit, |tx| {
                let Some(stored) = tasks::get_tx(tx, &id).await? else {
                    return Ok(());
                };
                let mut task = stored.task.clone();
                if current(&task).is_none_or(|c| c.id != step_id) {
                    return Ok(());
                }
                let mut log = Vec::new();
                match &outcome {
                    Ok(comment) => {
                        log.push(
                            json!({"webhookSuccess": {}, "chamberlain": {"comment": comment}}),
                        );
                        complete_provision(tx, &subjects, &mut task, "webhook", "", &mut log)
                            .await?;
                        advance(tx, &store, &subjects, &mut task, &mut log).await?;
                    }
                    Err(why) => {
                        fall_back_to_manual(tx, &subjects, &mut task, why, &mut log).await?
                    }
                }
                task.updated_at = Some(tx.now());
                tasks::update(tx, &task, stored.version).await?;
                write_log(tx, &task, &actor, log).await?;
                Ok(())
            })?;
            self.drive(&id).await?;
            done += 1;
        }
        Ok(done)
    }

    /// Resumes waits whose time has come and applies escalations whose deadline passed.
    pub async fn tick(&self) -> Result<usize> {
        let mut done = self.settle_webhooks().await?;
        for step in ["wait", "approval"] {
            let ids = tasks::open_ids_at_step(self.store.pool(), step, 500).await?;
            for id in ids {
                let task = self.get(&id).await?;
                let now = Timestamp::now();
                if step == "wait" && !wait_due(&task, now) {
                    continue;
                }
                if step == "approval" && escalation_due(&task, now).is_none() {
                    continue;
                }
                let subjects = self.subjects(&task).await?;
                let store = self.store.clone();
                let actor = Actor::system(if step == "wait" {
                    "wait step"
                } else {
                    "escalation"
                });
                let replacement = match escalation_due(&task, now) {
                    Some(esc) => match &esc.replace_policy {
                        Some(r) => Some(
                            self.steps_for(
                                &r.policy_id,
                                PolicyType::Grant,
                                &subjects.user,
                                &subjects.account,
                                &subjects.entitlement,
                            )
                            .await?
                            .1,
                        ),
                        None => None,
                    },
                    None => None,
                };
                write_tx!(self.store, &actor.audit, |tx| {
                    let Some(stored) = tasks::get_tx(tx, &id).await? else {
                        return Ok(());
                    };
                    let mut task = stored.task.clone();
                    let mut log = Vec::new();
                    let now = tx.now();
                    if step == "wait" {
                        if !wait_due(&task, now) {
                            return Ok(());
                        }
                        resume_wait(tx, &store, &subjects, &mut task, &mut log).await?;
                    } else {
                        let Some(esc) = escalation_due(&task, now) else {
                            return Ok(());
                        };
                        escalate_step(
                            tx,
                            &store,
                            &subjects,
                            &mut task,
                            &esc,
                            replacement.clone(),
                            &mut log,
                        )
                        .await?;
                    }
                    task.updated_at = Some(now);
                    tasks::update(tx, &task, stored.version).await?;
                    write_log(tx, &task, &actor, log).await?;
                    Ok(())
                })?;
                self.drive(&id).await?;
                done += 1;
            }
        }
        Ok(done)
    }

    async fn steps_for(
        &self,
        policy_id: &str,
        ptype: PolicyType,
        user: &User,
        account: &AppUser,
        ent: &AppEntitlement,
    ) -> Result<(Policy, Vec<PolicyStep>, Vec<String>)> {
        let all: HashMap<String, Policy> = policies::all_live(self.store.pool())
            .await?
            .into_iter()
            .map(|p| (p.id.clone(), p))
            .collect();
        let policy = if policy_id.is_empty() {
            None
        } else {
            all.get(policy_id).cloned()
        };
        let Some(policy) = policy else {
            let (name, steps) = match ptype {
                PolicyType::Revoke => ("Default revoke policy (built in)", vec![provision_step()]),
                _ => ("Default request policy (built in)", default_grant_steps()),
            };
            let note = if policy_id.is_empty() {
                format!(
                    "no {} policy is set for entitlement \"{}\" or its app; {name} applies",
                    ptype.baseline_key(),
                    ent.display_name
                )
            } else {
                format!("policy `{policy_id}` no longer exists; {name} applies")
            };
            return Ok((
                builtin_policy(name, ptype, steps.clone()),
                steps,
                vec![note],
            ));
        };
        let user = user.clone();
        let account = account.clone();
        let ent = ent.clone();
        let task_json = json!({"type": ptype.baseline_key()});
        let p2 = policy.clone();
        let (steps, notes) = evaluate_blocking(&self.store, move |dir| {
            select_steps(
                &p2,
                &all,
                &RuleInput {
                    subject: &user,
                    account: Some(&account),
                    entitlement: &ent,
                    task: &task_json,
                    directory: Some(dir),
                },
            )
        })
        .await
        .map_err(EngineError::Precondition)?;
        Ok((policy, steps, notes))
    }

    async fn emergency_steps(
        &self,
        task: &Task,
        s: &Subjects,
    ) -> Result<(Policy, Vec<PolicyStep>, Vec<String>)> {
        if task.task_type.grant.is_none() {
            return Err(EngineError::Precondition(
                "only grant tasks can be escalated to emergency access".into(),
            ));
        }
        if !s.entitlement.emergency_grant_enabled {
            return Err(EngineError::Precondition(format!(
                "entitlement \"{}\" does not offer emergency access",
                s.entitlement.display_name
            )));
        }
        self.steps_for(
            &s.entitlement.emergency_grant_policy_id,
            PolicyType::Grant,
            &s.user,
            &s.account,
            &s.entitlement,
        )
        .await
    }

    async fn automatic(&self, app_id: &str) -> Result<bool> {
        self.provisioner
            .automatic(app_id)
            .await
            .map_err(EngineError::Precondition)
    }

    async fn subjects(&self, task: &Task) -> Result<Subjects> {
        let (app_id, ent_id, au_id) = if let Some(g) = &task.task_type.grant {
            (&g.app_id, &g.app_entitlement_id, &g.app_user_id)
        } else if let Some(r) = &task.task_type.revoke {
            (&r.app_id, &r.app_entitlement_id, &r.app_user_id)
        } else {
            return Err(EngineError::Precondition(
                "this kind of task has no actions here".into(),
            ));
        };
        let app = self.app(app_id).await?;
        let entitlement =
            chamberlain_store::record::get::<AppEntitlement, _>(self.store.pool(), ent_id, false)
                .await?
                .ok_or_else(|| {
                    EngineError::NotFound(format!("entitlement `{ent_id}` no longer exists"))
                })?;
        let entitlement = self.with_app_defaults(entitlement).await?;
        let account = chamberlain_store::record::get::<AppUser, _>(self.store.pool(), au_id, false)
            .await?
            .ok_or_else(|| EngineError::NotFound(format!("app user `{au_id}` no longer exists")))?;
        let user =
            chamberlain_store::record::get::<User, _>(self.store.pool(), &task.user_id, false)
                .await?
                .unwrap_or_default();
        let automatic = self.automatic(&app.id).await?;
        Ok(Subjects {
            app,
            entitlement,
            account,
            user,
            automatic,
        })
    }

    async fn app(&self, id: &str) -> Result<App> {
        chamberlain_store::record::get::<App, _>(self.store.pool(), id, false)
            .await?
            .filter(|a| a.deleted_at.is_none())
            .ok_or_else(|| EngineError::NotFound(format!("app `{id}` was not found")))
    }

    async fn entitlement(&self, app_id: &str, id: &str) -> Result<AppEntitlement> {
        let ent = chamberlain_store::record::get::<AppEntitlement, _>(self.store.pool(), id, false)
            .await?
            .filter(|e| e.deleted_at.is_none() && e.app_id == app_id)
            .ok_or_else(|| {
                EngineError::NotFound(format!(
                    "entitlement `{id}` was not found in app `{app_id}`"
                ))
            })?;
        self.with_app_defaults(ent).await
    }

    /// The entitlement with its app's access-request defaults filled in where it sets nothing
    /// itself (the most specific setting wins: entitlement, then app).
    async fn with_app_defaults(&self, mut ent: AppEntitlement) -> Result<AppEntitlement> {
        // The first enabled configuration rule whose condition holds for the entitlement.
        let rules = policies::routing_rules(self.store.pool(), &ent.app_id).await?;
        let matched = rules.into_iter().filter(|r| r.enabled).find(|r| {
            r.condition.trim().is_empty()
                || Expression::compile(Purpose::EntitlementRule, &r.condition)
                    .ok()
                    .and_then(|x| {
                        x.evaluate(&Input {
                            entitlement: Some(&ent),
                            ..Default::default()
                        })
                        .and_then(|o| o.as_bool())
                        .ok()
                    })
                    .unwrap_or(false)
        });
        if let Some(st) = matched.and_then(|r| r.settings) {
            if ent.duration_grant.is_none() {
                ent.duration_grant = st.max_grant_duration;
            }
            if ent.grant_policy_id.is_empty() {
                ent.grant_policy_id = st.request_policy_id;
            }
            if ent.emergency_grant_policy_id.is_empty() {
                ent.emergency_grant_policy_id = st.emergency_grant_policy_id;
                ent.emergency_grant_enabled |= st.emergency_grant_enabled;
            }
        }
        let defaults: Option<chamberlain_model::app::AppAccessRequestDefaults> =
            chamberlain_store::repo::settings::get(
                &self.store,
                &ent.app_id,
                chamberlain_store::repo::settings::APP_REQUEST_DEFAULTS,
            )
            .await?;
        if let Some(d) = defaults {
            if ent.duration_grant.is_none() {
                ent.duration_grant = d.duration_grant;
            }
            if ent.grant_policy_id.is_empty() {
                ent.grant_policy_id = d.request_policy_id;
            }
            if ent.emergency_grant_policy_id.is_empty() {
                ent.emergency_grant_policy_id = d.emergency_grant_policy_id;
                ent.emergency_grant_enabled |= d.emergency_grant_enabled;
            }
        }
        Ok(ent)
    }

    async fn users_exist(&self, ids: &[String]) -> Result<()> {
        for id in ids {
            let u = chamberlain_store::record::get::<User, _>(self.store.pool(), id, false).await?;
            if u.is_none_or(|u| u.deleted_at.is_some()) {
                return Err(EngineError::NotFound(format!("user `{id}` was not found")));
            }
        }
        Ok(())
    }

    /// The account a request is for: the one named, or the user's one account in the app.
    async fn account_for(
        &self,
        app_id: &str,
        app_user_id: &str,
        user_id: &str,
        allow_unlinked: bool,
    ) -> Result<(AppUser, User)> {
        let account = if !app_user_id.is_empty() {
            chamberlain_store::record::get::<AppUser, _>(self.store.pool(), app_user_id, false)
                .await?
                .filter(|a| a.deleted_at.is_none() && a.app_id == app_id)
                .ok_or_else(|| {
                    EngineError::NotFound(format!(
                        "app user `{app_user_id}` was not found in app `{app_id}`"
                    ))
                })?
        } else if !user_id.is_empty() {
            let mut sql = Sql::new(&format!(
                "SELECT {} FROM app_users WHERE deleted_at IS NULL AND identity_user_id = ",
                <AppUser as chamberlain_store::Record>::READ
            ));
            sql.arg(user_id)
                .push(" AND app_id = ")
                .arg(app_id)
                .push(" ORDER BY id");
            let accounts: Vec<AppUser> =
                chamberlain_store::record::fetch_docs(self.store.pool(), &sql).await?;
            match accounts.len() {
                0 if chamberlain_store::repo::mcp::is_gateway_app(self.store.pool(), app_id)
                    .await? =>
                {
                    // Apps of MCP servers keep their accounts themselves: one per user, made
                    // on first use, so toolsets can be requested and granted like any access.
                    let (app, user) = (app_id.to_string(), user_id.to_string());
                    let id = chamberlain_store::repo::mcp::gateway_account_id(&app, &user);
                    let audit = chamberlain_store::AuditCtx::system("gateway account");
                    write_tx!(self.store, &audit, |tx| {
                        chamberlain_store::repo::catalogs::ensure_local_account(
                            tx, &app, &id, &user,
                        )
                        .await
                    })?;
                    chamberlain_store::record::get::<AppUser, _>(self.store.pool(), &id, false)
                        .await?
                        .unwrap_or_default()
                }
                0 => {
                    return Err(EngineError::Precondition(format!(
                        "user `{user_id}` has no account in app `{app_id}`; create or link an account first, or name one with appUserId"
                    )))
                }
                1 => accounts.into_iter().next().unwrap_or_default(),
                n => {
                    return Err(EngineError::Invalid(format!(
                        "user `{user_id}` has {n} accounts in app `{app_id}`; name one with appUserId"
                    )))
                }
            }
        } else {
            return Err(EngineError::Invalid(
                "name the account (appUserId) or the user (identityUserId) the access is for"
                    .into(),
            ));
        };
        if account.identity_user_id.is_empty() && allow_unlinked {
            return Ok((account, User::default()));
        }
        if account.identity_user_id.is_empty() {
            return Err(EngineError::Precondition(format!(
                "app user `{}` is not linked to a user; link it (or let identity matching link it) before requesting access for it",
                account.id
            )));
        }
        if !user_id.is_empty() && account.identity_user_id != user_id {
            return Err(EngineError::Invalid(format!(
                "app user `{}` belongs to user `{}`, not `{user_id}`",
                account.id, account.identity_user_id
            )));
        }
        let user = chamberlain_store::record::get::<User, _>(
            self.store.pool(),
            &account.identity_user_id,
            false,
        )
        .await?
        .filter(|u| u.deleted_at.is_none())
        .ok_or_else(|| {
            EngineError::NotFound(format!("user `{}` was not found", account.identity_user_id))
        })?;
        Ok((account, user))
    }
}

/// Why an automatic task was not opened: another replica (or an earlier run) already made
/// the change.
pub const NOTHING_TO_DO: &str = "the change was already made";

/// For changes the server makes on its own (expiry, membership automation), whether the
/// change is still needed. The account's row is locked first, so replicas making the same
/// change queue here and the later one sees the earlier one's result.
async fn still_needed(tx: &mut Tx<'_>, task: &Task) -> Result<bool, StoreError> {
    let automatic = matches!(
        task.origin,
        TaskOrigin::TimeRevoke | TaskOrigin::ProfileMembershipAutomation | TaskOrigin::Automation
    );
    if !automatic {
        return Ok(true);
    }
    let (ent, account) = match (&task.task_type.grant, &task.task_type.revoke) {
        (Some(g), _) => (&g.app_entitlement_id, &g.app_user_id),
        (_, Some(r)) => (&r.app_entitlement_id, &r.app_user_id),
        _ => return Ok(true),
    };
    let mut lock = Sql::new("UPDATE app_users SET id = id WHERE id = ");
    lock.arg(account.as_str());
    tx.exec(&lock).await?;
    let mut sql = Sql::new(
        "SELECT COUNT(*) FROM grants WHERE deleted_at IS NULL AND direct = 1 AND entitlement_id = ",
    );
    sql.arg(ent.as_str())
        .push(" AND app_user_id = ")
        .arg(account.as_str());
    if task.origin == TaskOrigin::TimeRevoke {
        sql.push(" AND deprovision_at IS NOT NULL AND deprovision_at <= ")
            .arg(tx.now().as_micros());
    }
    let held: i64 = sql.query().fetch_one(tx.conn()).await?.try_get(0)?;
    Ok(if task.task_type.grant.is_some() {
        held == 0
    } else {
        held > 0
    })
}

/// `now` plus three business days (Saturdays and Sundays do not count), in UTC.
pub fn three_business_days_after(now: Timestamp) -> Timestamp {
    let mut t = now;
    let mut left = 3;
    while left > 0 {
        t = t.plus_seconds(86_400);
        // 1970-01-01 was a Thursday: day 0 → Thursday.
        let weekday = (t.unix_seconds().div_euclid(86_400) + 4).rem_euclid(7); // 0 = Sunday
        if weekday != 0 && weekday != 6 {
            left -= 1;
        }
    }
    t
}

/// Inserts a task and runs it as far as it goes, inside the caller's transaction. `None` when
/// the change it would make was already made (server-initiated changes only); the open task
/// with the same key when there is one.
async fn open_in(
    tx: &mut Tx<'_>,
    store: &Store,
    actor: &Actor,
    o: &Opening,
) -> Result<Option<(String, i64)>, StoreError> {
    let (policy, steps, notes) = &o.selection;
    let mut steps = steps.clone();
    // Every grant or revoke ends by provisioning; a policy without the step gets one.
    if !steps.iter().any(|s| s.provision.is_some()) && !steps.iter().any(|s| s.reject.is_some()) {
        steps.push(provision_step());
    }
    let s = &o.subjects;
    let grant = o.task_type.grant.is_some();
    let display = format!(
        "{} \"{}\" {} {}",
        if grant { "Grant" } else { "Revoke" },
        s.entitlement.display_name,
        if grant { "to" } else { "from" },
        if s.user.display_name.is_empty() {
            if s.user.email.is_empty() {
                &s.account.display_name
            } else {
                &s.user.email
            }
        } else {
            &s.user.display_name
        }
    );
    let now = tx.now();
    let mut task = Task {
        id: new_id(),
        display_name: display,
        description: o.justification.clone(),
        state: TaskState::Open,
        processing: TaskProcessing::Processing,
        origin: o.origin,
        task_type: o.task_type.clone(),
        policy: Some(PolicyInstance {
            policy: Some(policy.clone()),
            current: None,
            next: steps,
            history: vec![],
        }),
        user_id: s.user.id.clone(),
        created_by_user_id: actor.user_id.clone(),
        emergency_access: o.emergency,
        parent_task_id: o.parent_task_id.clone(),
        created_at: Some(now),
        updated_at: Some(now),
        ..Default::default()
    };
    if !still_needed(tx, &task).await? {
        return Ok(None);
    }
    if let Some(key) = tasks::open_key(&task) {
        if let Some(existing) = tasks::find_open(tx, &key).await? {
            return Ok(Some((existing.task.id, existing.task.numeric_id)));
        }
    }
    task.numeric_id = tasks::next_numeric_id(tx).await?;
    let mut log = Vec::new();
    log.push(json!({"taskCreated": {}, "chamberlain": {"origin": o.origin.as_str(), "policy": policy.display_name}}));
    for n in notes {
        log.push(json!({"policyEvaluationStep": {"stepComment": n}}));
    }
    advance(tx, store, s, &mut task, &mut log).await?;
    tasks::insert(tx, &task).await?;
    write_log(tx, &task, actor, log).await?;
    tx.audit(
        Activity::Create,
        "task",
        &task.id,
        None,
        Some(json!({"numericId": task.numeric_id, "displayName": task.display_name, "origin": o.origin.as_str()})),
    )
    .await?;
    Ok(Some((task.id, task.numeric_id)))
}

/// A task about to be opened.
struct Opening {
    subjects: Subjects,
    task_type: TaskType,
    selection: (Policy, Vec<PolicyStep>, Vec<String>),
    justification: String,
    origin: TaskOrigin,
    emergency: bool,
    parent_task_id: String,
}

/// Apps, entitlements and provisioning modes looked up once per batch.
#[derive(Default)]
struct Lookups {
    apps: HashMap<String, App>,
    entitlements: HashMap<String, AppEntitlement>,
    automatic: HashMap<String, bool>,
}

impl Lookups {
    async fn app(&mut self, e: &Engine, id: &str) -> Result<App> {
        if let Some(a) = self.apps.get(id) {
            return Ok(a.clone());
        }
        let a = e.app(id).await?;
        self.apps.insert(id.to_string(), a.clone());
        Ok(a)
    }

    async fn entitlement(&mut self, e: &Engine, app_id: &str, id: &str) -> Result<AppEntitlement> {
        if let Some(x) = self.entitlements.get(id).filter(|x| x.app_id == app_id) {
            return Ok(x.clone());
        }
        let x = e.entitlement(app_id, id).await?;
        self.entitlements.insert(id.to_string(), x.clone());
        Ok(x)
    }

    async fn automatic(&mut self, e: &Engine, app_id: &str) -> Result<bool> {
        if let Some(a) = self.automatic.get(app_id) {
            return Ok(*a);
        }
        let a = e.automatic(app_id).await?;
        self.automatic.insert(app_id.to_string(), a);
        Ok(a)
    }
}

/// The longest grant the entitlement allows (`durationGrant`; none = permanent allowed).
pub fn max_duration(ent: &AppEntitlement) -> Option<Duration> {
    ent.duration_grant.filter(|d| d.seconds > 0)
}

/// What a finished provisioning delivery means: `Ok(comment)` for a `complete` reply, or why
/// provisioning must be finished by hand.
fn webhook_outcome(d: &chamberlain_store::repo::webhooks::Delivery) -> Result<String, String> {
    use chamberlain_store::repo::webhooks::{DONE, GONE};
    match d.state.as_str() {
        DONE => {
            let reply = d.reply.clone().unwrap_or_default();
            if let Some(c) = reply.get("complete") {
                Ok(c.get("comment")
                    .and_then(|v| v.as_str())
                    .unwrap_or("")
                    .to_string())
            } else if let Some(e) = reply.get("errored") {
                Err(format!(
                    "the provisioning webhook reported an error: {}",
                    e.get("comment")
                        .and_then(|v| v.as_str())
                        .unwrap_or("(no comment)")
                ))
            } else {
                Err("the provisioning webhook's reply has neither `complete` nor `errored`".into())
            }
        }
        GONE => {
            Err("the provisioning webhook answered 410 Gone; it will not be called again".into())
        }
        _ => Err(format!("the provisioning webhook failed: {}", d.last_error)),
    }
}

/// Whether a creation was skipped because the change was already made.
pub fn is_nothing_to_do(e: &EngineError) -> bool {
    matches!(e, EngineError::Store(StoreError::Precondition(m)) if m == NOTHING_TO_DO)
}

fn refusal(e: StoreError) -> EngineError {
    match e {
        StoreError::Invalid(m) => EngineError::Invalid(m),
        StoreError::Precondition(m) => EngineError::Precondition(m),
        StoreError::Conflict(m) if m.starts_with("forbidden: ") => {
            EngineError::Forbidden(m.trim_start_matches("forbidden: ").to_string())
        }
        StoreError::NotFound { kind, id } => {
            EngineError::NotFound(format!("{kind} `{id}` was not found"))
        }
        other => EngineError::Store(other),
    }
}

fn forbidden(m: String) -> StoreError {
    StoreError::Conflict(format!("forbidden: {m}"))
}

fn action_name(a: &Action) -> &'static str {
    match a {
        Action::Approve { .. } => "approve",
        Action::Deny { .. } => "deny",
        Action::Comment { .. } => "comment",
        Action::Reassign { .. } => "reassign",
        Action::Close { .. } => "close",
        Action::Escalate { .. } => "escalate",
        Action::UpdateGrantDuration { .. } => "update-grant-duration",
        Action::SkipStep { .. } => "skip-step",
        Action::RetryProvisioning { .. } => "retry-provisioning",
    }
}

async fn write_log(
    tx: &mut Tx<'_>,
    task: &Task,
    actor: &Actor,
    log: Vec<Value>,
) -> Result<(), StoreError> {
    for entry in log.into_iter().take(TASK_AUDIT_LIMIT) {
        tasks::audit(tx, task, &actor.user_id, entry).await?;
    }
    Ok(())
}

fn current_mut(task: &mut Task) -> Option<&mut PolicyStepInstance> {
    task.policy.as_mut().and_then(|p| p.current.as_mut())
}

fn current(task: &Task) -> Option<&PolicyStepInstance> {
    task.policy.as_ref().and_then(|p| p.current.as_ref())
}

/// Moves the current step to the history.
fn retire_current(task: &mut Task) {
    if let Some(p) = task.policy.as_mut() {
        if let Some(mut cur) = p.current.take() {
            cur.state = StepState::Done;
            p.history.push(cur);
        }
    }
    task.step_approver_ids.clear();
}

fn finish(task: &mut Task, now: Timestamp, success: bool, denied: bool, log: &mut Vec<Value>) {
    retire_current(task);
    if let Some(p) = task.policy.as_mut() {
        p.next.clear();
    }
    let previous = task.state;
    task.state = TaskState::Closed;
    task.processing = TaskProcessing::Done;
    if let Some(g) = task.task_type.grant.as_mut() {
        g.outcome = match (success, denied) {
            (true, _) => GrantOutcome::Granted,
            (false, true) => GrantOutcome::Denied,
            _ => GrantOutcome::Cancelled,
        };
        g.outcome_time = Some(now);
        log.push(json!({"grantOutcome": {"outcome": g.outcome.as_str()}}));
    }
    if let Some(r) = task.task_type.revoke.as_mut() {
        r.outcome = match (success, denied) {
            (true, _) => RevokeOutcome::Revoked,
            (false, true) => RevokeOutcome::Denied,
            _ => RevokeOutcome::Cancelled,
        };
        r.outcome_time = Some(now);
        log.push(json!({"revokeOutcome": {"outcome": r.outcome.as_str()}}));
    }
    log.push(json!({"stateChange": {"previousState": previous.as_str()}}));
}

fn set_outcome_timeout(task: &mut Task, now: Timestamp, log: &mut Vec<Value>) {
    finish(task, now, false, false, log);
    if let Some(g) = task.task_type.grant.as_mut() {
        g.outcome = GrantOutcome::WaitTimedOut;
    }
    if let Some(r) = task.task_type.revoke.as_mut() {
        r.outcome = RevokeOutcome::WaitTimedOut;
    }
}

/// Runs the task forward from its current state until it needs a person, the clock, or a
/// connector.
async fn advance(
    tx: &mut Tx<'_>,
    store: &Store,
    s: &Subjects,
    task: &mut Task,
    log: &mut Vec<Value>,
) -> Result<(), StoreError> {
    loop {
        if task.state == TaskState::Closed {
            return Ok(());
        }
        if let Some(cur) = current(task) {
            if cur.state == StepState::Active {
                return Ok(());
            }
            retire_current(task);
        }
        let next = task.policy.as_mut().and_then(|p| {
            if p.next.is_empty() {
                None
            } else {
                Some(p.next.remove(0))
            }
        });
        let now = tx.now();
        let Some(step) = next else {
            finish(task, now, true, false, log);
            return Ok(());
        };
        let mut inst = PolicyStepInstance {
            id: new_id(),
            state: StepState::Active,
            ..Default::default()
        };
        task.processing = TaskProcessing::Processing;
        if let Some(a) = step.approval {
            let (approvers, reason) = resolve_approvers(tx, store, s, task, &a).await?;
            let mut a = a;
            a.assigned = true;
            inst.approval = Some(ApprovalInstance {
                approval: Some(a),
                state: ApprovalState::Waiting,
                assigned_at: Some(now),
                assignment_reason: reason.clone(),
                ..Default::default()
            });
            task.step_approver_ids = approvers.clone();
            task.processing = TaskProcessing::Waiting;
            log.push(json!({"approvalInstanceChange": {"instance": inst.approval}, "chamberlain": {"assignedTo": approvers, "reason": reason}}));
            set_current(task, inst);
            return Ok(());
        } else if let Some(acc) = step.accept {
            log.push(json!({"approvalAutoAcceptedByPolicy": {}, "chamberlain": {"message": acc.accept_message}}));
            inst.accept = Some(acc);
            inst.state = StepState::Done;
            set_current(task, inst);
        } else if let Some(rej) = step.reject {
            log.push(json!({"approvalAutoRejectedByPolicy": {}, "chamberlain": {"message": rej.reject_message}}));
            inst.reject = Some(rej);
            inst.state = StepState::Done;
            set_current(task, inst);
            finish(task, now, false, true, log);
            return Ok(());
        } else if let Some(w) = step.wait {
            let mut wi = WaitInstance {
                wait: Some(w.clone()),
                state: WaitState::Waiting,
                started_waiting_at: Some(now),
                ..Default::default()
            };
            if let Some(d) = w.duration.as_ref().and_then(|d| d.duration) {
                wi.timeout = Some(now.plus_seconds(d.seconds));
                log.push(json!({"waitStepWaiting": {}, "chamberlain": {"until": wi.timeout}}));
            } else if let Some(c) = &w.condition {
                if condition_holds(store, s, task, &c.condition).await {
                    wi.state = WaitState::Completed;
                    log.push(json!({"waitStepSuccess": {}}));
                    inst.wait = Some(wi);
                    inst.state = StepState::Done;
                    set_current(task, inst);
                    continue;
                }
                wi.timeout = w.timeout_duration.map(|d| now.plus_seconds(d.seconds));
                log.push(json!({"waitStepWaiting": {}, "chamberlain": {"comment": w.comment_on_first_wait, "timeout": wi.timeout}}));
            }
            inst.wait = Some(wi);
            task.processing = TaskProcessing::Waiting;
            set_current(task, inst);
            return Ok(());
        } else if let Some(p) = step.provision {
            let how = provision_policy(&p, &s.entitlement, task.task_type.grant.is_some());
            let manual = how.manual.clone();
            let forced_connector = how.connector.is_some();
            let webhook = how.webhook.clone();
            let delegated = how.delegated.clone();
            if let Some(d) = delegated {
                inst.provision = Some(ProvisionInstance {
                    provision: Some(p),
                    state: ProvisionState::Waiting,
                    method: "delegated".into(),
                    ..Default::default()
                });
                set_current(task, inst);
                match provision_delegated(tx, s, task, &d).await? {
                    Ok(()) => {
                        if let Some(cur) = current_mut(task) {
                            cur.state = StepState::Done;
                            if let Some(p) = cur.provision.as_mut() {
                                p.state = ProvisionState::Done;
                                p.completed = Some(CompletedAction {
                                    completed_at: Some(now),
                                    user_id: String::new(),
                                });
                            }
                        }
                        log.push(json!({"connectorActionsEnd": {}, "chamberlain": {"provisioned": "delegated", "through": d.entitlement_id}}));
                        continue;
                    }
                    Err(why) => {
                        fall_back_to_manual(tx, s, task, &why, log).await?;
                        return Ok(());
                    }
                }
            }
            if let Some(w) = webhook {
                let payload = json!({
                    "@type": "type.googleapis.com/c1.webhooks.v1.PayloadProvisionStep",
                    "task": task,
                    "appEntitlement": s.entitlement,
                    "appUser": s.account,
                    "user": s.user,
                    "app": s.app,
                });
                inst.provision = Some(ProvisionInstance {
                    provision: Some(p),
                    state: ProvisionState::WebhookWaiting,
                    method: "webhook".into(),
                    webhook_id: w.webhook_id.clone(),
                    ..Default::default()
                });
                set_current(task, inst);
                match chamberlain_store::repo::webhooks::enqueue_delivery(
                    tx,
                    &w.webhook_id,
                    "c1.webhooks.v1.PayloadProvisionStep",
                    &task.id,
                    &payload,
                )
                .await
                {
                    Ok(delivery) => {
                        if let Some(p) = current_mut(task).and_then(|c| c.provision.as_mut()) {
                            p.webhook_instance_id = delivery.clone();
                        }
                        task.processing = TaskProcessing::Waiting;
                        log.push(json!({"webhookTriggered": {}, "chamberlain": {"webhookId": w.webhook_id, "deliveryId": delivery}}));
                    }
                    Err(StoreError::NotFound { .. }) => {
                        let why = format!("webhook `{}` no longer exists", w.webhook_id);
                        fall_back_to_manual(tx, s, task, &why, log).await?;
                    }
                    Err(e) => return Err(e),
                }
                return Ok(());
            }
            if let Some(m) = manual {
                task.step_approver_ids = m.user_ids.clone();
                inst.provision = Some(ProvisionInstance {
                    provision: Some(p),
                    state: ProvisionState::Waiting,
                    method: "manual".into(),
                    ..Default::default()
                });
                task.processing = TaskProcessing::Waiting;
                log.push(json!({"chamberlain": {"provisioning": "manual", "assignedTo": m.user_ids, "instructions": m.instructions}}));
                set_current(task, inst);
                return Ok(());
            }
            if s.automatic {
                inst.provision = Some(ProvisionInstance {
                    provision: Some(p),
                    state: ProvisionState::Init,
                    method: "connector".into(),
                    ..Default::default()
                });
                log.push(json!({"connectorActionsStart": {}}));
                set_current(task, inst);
                return Ok(());
            }
            if forced_connector {
                inst.provision = Some(ProvisionInstance {
                    provision: Some(p),
                    state: ProvisionState::Waiting,
                    method: "manual".into(),
                    ..Default::default()
                });
                set_current(task, inst);
                fall_back_to_manual(
                    tx,
                    s,
                    task,
                    &format!(
                        "app \"{}\" has no connector that provisions",
                        s.app.display_name
                    ),
                    log,
                )
                .await?;
                return Ok(());
            }
            inst.provision = Some(ProvisionInstance {
                provision: Some(p),
                state: ProvisionState::Waiting,
                method: "builtin".into(),
                ..Default::default()
            });
            set_current(task, inst);
            complete_provision(tx, s, task, "builtin", "", log).await?;
        } else {
            // Validation refuses other kinds; a stored snapshot with one is skipped, visibly.
            log.push(
                json!({"stepSkipped": {}, "chamberlain": {"reason": "step kind not supported"}}),
            );
        }
    }
}

fn set_current(task: &mut Task, inst: PolicyStepInstance) {
    if let Some(p) = task.policy.as_mut() {
        p.current = Some(inst);
    }
}

/// Delegated provisioning: the access is carried by another entitlement. Granting grants that
/// one to the user's account in its app (creating the binding from it to the requested
/// entitlement if missing, so the requested one is implied); revoking removes it. `Err` says
/// why it cannot be done automatically.
async fn provision_delegated(
    tx: &mut Tx<'_>,
    s: &Subjects,
    task: &Task,
    d: &chamberlain_model::policy::DelegatedProvision,
) -> Result<Result<(), String>, StoreError> {
    let Some(carrier) = tx.get::<AppEntitlement>(&d.entitlement_id).await? else {
        return Ok(Err(format!(
            "the delegated entitlement `{}` no longer exists",
            d.entitlement_id
        )));
    };
    if carrier.app_id != d.app_id {
        return Ok(Err(format!(
            "entitlement `{}` is not in app `{}`",
            d.entitlement_id, d.app_id
        )));
    }
    let mut sql = Sql::new("SELECT id FROM app_users WHERE deleted_at IS NULL AND app_id = ");
    sql.arg(carrier.app_id.as_str())
        .push(" AND identity_user_id = ")
        .arg(s.user.id.as_str())
        .push(" ORDER BY id LIMIT 1");
    let Some(account) = ids(tx, sql).await?.into_iter().next() else {
        return Ok(Err(format!(
            "the user has no account in app `{}`, which carries this access",
            carrier.app_id
        )));
    };
    if grants::get_binding(tx, &carrier.id, &s.entitlement.id)
        .await?
        .is_none()
    {
        grants::create_binding(tx, &carrier, &s.entitlement).await?;
    }
    if let Some(g) = &task.task_type.grant {
        let until = g.grant_duration.map(|d| tx.now().plus_seconds(d.seconds));
        grants::grant_direct(tx, &carrier, &account, until).await?;
    } else {
        grants::revoke_direct(tx, &carrier, &account).await?;
    }
    Ok(Ok(()))
}

/// The delegation used by the last successful grant of this entitlement to this account.
async fn delegation_of_last_grant(
    tx: &mut Tx<'_>,
    s: &Subjects,
) -> Result<Option<chamberlain_model::policy::DelegatedProvision>, StoreError> {
    let mut sql = Sql::new(
        "SELECT doc FROM tasks WHERE kind = 'grant' AND outcome = 'GRANT_OUTCOME_GRANTED' AND entitlement_id = ",
    );
    sql.arg(s.entitlement.id.as_str())
        .push(" AND app_user_id = ")
        .arg(s.account.id.as_str())
        .push(" ORDER BY id DESC LIMIT 1");
    let Some(row) = sql.query().fetch_optional(tx.conn()).await? else {
        return Ok(None);
    };
    let last: Task = serde_json::from_str(&row.try_get::<String, _>(0)?)
        .map_err(|e| StoreError::Corrupt("task", e.to_string()))?;
    let used = last
        .policy
        .iter()
        .flat_map(|p| p.history.iter())
        .find_map(|h| {
            let p = h.provision.as_ref().filter(|p| p.method == "delegated")?;
            provision_policy(p.provision.as_ref()?, &s.entitlement, true).delegated
        });
    Ok(used)
}

/// How a provisioning step is carried out: the step's own method, else the entitlement's
/// `provisionerPolicy` (for revocations its `deprovisionerPolicy` first). No method set means
/// the app's default (its connector, or recording the change in Chamberlain).
fn provision_policy(
    step: &Provision,
    ent: &AppEntitlement,
    grant: bool,
) -> chamberlain_model::policy::ProvisionPolicy {
    if let Some(own) = step.provision_policy.as_ref().filter(|pp| pp.sets_method()) {
        return own.clone();
    }
    let configured = if grant {
        ent.provisioner_policy.as_ref()
    } else {
        ent.deprovisioner_policy
            .as_ref()
            .or(ent.provisioner_policy.as_ref())
    };
    configured
        .and_then(|v| serde_json::from_value(v.clone()).ok())
        .unwrap_or_default()
}

/// Records the change in Chamberlain and marks the provisioning step done.
async fn complete_provision(
    tx: &mut Tx<'_>,
    s: &Subjects,
    task: &mut Task,
    method: &str,
    by_user: &str,
    log: &mut Vec<Value>,
) -> Result<(), StoreError> {
    let now = tx.now();
    if let Some(g) = &task.task_type.grant {
        let until = g.grant_duration.map(|d| now.plus_seconds(d.seconds));
        let created = grants::grant_direct(tx, &s.entitlement, &s.account.id, until).await?;
        if !created {
            // Held already: this request decides when it ends (an extension, or permanent).
            grants::set_deprovision_at(tx, &s.entitlement.id, &s.account.id, until).await?;
        }
    } else if !grants::revoke_direct(tx, &s.entitlement, &s.account.id).await? {
        // Not held directly: if a delegated provisioning granted it, undo that (the inverse of
        // provisioning), which withdraws the implied grant.
        if let Some(d) = delegation_of_last_grant(tx, s).await? {
            if let Err(why) = provision_delegated(tx, s, task, &d).await? {
                log.push(json!({"provisionError": {"error": why}}));
            }
        }
    }
    if let Some(cur) = current_mut(task) {
        cur.state = StepState::Done;
        if let Some(p) = cur.provision.as_mut() {
            p.state = ProvisionState::Done;
            p.method = method.into();
            p.completed = Some(CompletedAction {
                completed_at: Some(now),
                user_id: by_user.into(),
            });
        }
    }
    log.push(
        json!({"connectorActionsEnd": {}, "chamberlain": {"provisioned": method, "by": by_user}}),
    );
    Ok(())
}

/// Automatic provisioning failed (or is impossible): the step becomes a manual one for the
/// app's owners (super admins when none), with the error on the task.
async fn fall_back_to_manual(
    tx: &mut Tx<'_>,
    s: &Subjects,
    task: &mut Task,
    error: &str,
    log: &mut Vec<Value>,
) -> Result<(), StoreError> {
    let now = tx.now();
    let mut who = owners(tx, "app", &s.app.id).await?;
    let mut reason = "assigned to the app's owners".to_string();
    if who.is_empty() {
        who = super_admins(tx).await?;
        reason = "the app has no owners; assigned to super admins".into();
    }
    if let Some(cur) = current_mut(task) {
        if let Some(p) = cur.provision.as_mut() {
            p.state = ProvisionState::Waiting;
            p.method = "manual".into();
            p.errored = Some(ErroredAction {
                description: error.into(),
                error_code: "PROVISIONING_FAILED".into(),
                errored_at: Some(now),
            });
        }
    }
    task.step_approver_ids = who.clone();
    task.processing = TaskProcessing::Waiting;
    log.push(json!({"provisionError": {"error": error}, "eventType": "TASK_AUDIT_EVENT_TYPE_ERROR", "chamberlain": {"fallback": "manual", "assignedTo": who, "reason": reason}}));
    Ok(())
}

async fn owners(tx: &mut Tx<'_>, kind: &str, object_id: &str) -> Result<Vec<String>, StoreError> {
    let kind = match kind {
        "app" => "app",
        "entitlement" => "app entitlement",
        _ => "app resource",
    };
    let mut sql = Sql::new("SELECT o.user_id FROM owners o JOIN users u ON u.id = o.user_id WHERE u.deleted_at IS NULL AND o.object_kind = ");
    sql.arg(kind)
        .push(" AND o.object_id = ")
        .arg(object_id)
        .push(" ORDER BY o.created_at, o.user_id");
    ids(tx, sql).await
}

async fn super_admins(tx: &mut Tx<'_>) -> Result<Vec<String>, StoreError> {
    let sql = Sql::new(
        "SELECT id FROM users WHERE deleted_at IS NULL AND roles LIKE '%,super-admin,%' ORDER BY id LIMIT 50",
    );
    ids(tx, sql).await
}

async fn ids(tx: &mut Tx<'_>, sql: Sql) -> Result<Vec<String>, StoreError> {
    let rows = sql.query().fetch_all(tx.conn()).await?;
    rows.iter()
        .map(|r| r.try_get::<String, _>(0).map_err(StoreError::from))
        .collect()
}

/// Who must act on an approval step, and why. Nobody is never the answer: an empty set goes
/// to the step's fallback approvers, else to super admins, and the reason says so.
async fn resolve_approvers(
    tx: &mut Tx<'_>,
    store: &Store,
    s: &Subjects,
    task: &Task,
    a: &Approval,
) -> Result<(Vec<String>, String), StoreError> {
    let (mut who, what): (Vec<String>, String) = if let Some(u) = &a.users {
        (u.user_ids.clone(), "the step's named users".into())
    } else if a.manager.is_some() {
        (s.user.manager_ids.clone(), "the requester's manager".into())
    } else if a.app_owners.is_some() {
        (
            owners(tx, "app", &s.app.id).await?,
            format!("the owners of app \"{}\"", s.app.display_name),
        )
    } else if a.entitlement_owners.is_some() {
        (
            owners(tx, "entitlement", &s.entitlement.id).await?,
            format!(
                "the owners of entitlement \"{}\"",
                s.entitlement.display_name
            ),
        )
    } else if a.resource_owners.is_some() {
        (
            owners(tx, "resource", &s.entitlement.app_resource_id).await?,
            "the owners of the entitlement's resource".into(),
        )
    } else if a.self_approval.is_some() {
        (
            vec![s.user.id.clone()],
            "the subject (self-approval)".into(),
        )
    } else if let Some(g) = &a.group {
        let mut sql = Sql::new("SELECT DISTINCT au.identity_user_id FROM grants g JOIN app_users au ON au.id = g.app_user_id WHERE g.deleted_at IS NULL AND au.deleted_at IS NULL AND au.identity_user_id <> '' AND g.entitlement_id = ");
        sql.arg(g.app_group_id.as_str())
            .push(" ORDER BY 1 LIMIT 129");
        let members = ids(tx, sql).await?;
        if members.len() > 128 {
            (vec![], "the group has more than 128 members".into())
        } else {
            (members, "the members of the approval group".into())
        }
    } else if let Some(e) = &a.expression {
        let user = s.user.clone();
        let ent = s.entitlement.clone();
        let exprs = e.expressions.clone();
        let task_json = serde_json::to_value(task).unwrap_or_default();
        let (found, errors) = evaluate_blocking(store, move |dir| {
            let mut found = Vec::new();
            let mut errors = Vec::new();
            for src in &exprs {
                let r = Expression::compile(Purpose::ApproverExpression, src)
                    .map_err(|m| m.first().map(|m| m.message.clone()).unwrap_or_default())
                    .and_then(|x| {
                        x.evaluate(&Input {
                            subject: Some(Subject::User(&user)),
                            entitlement: Some(&ent),
                            task: Some(&task_json),
                            directory: Some(dir),
                            ..Default::default()
                        })
                        .and_then(|o| o.as_user_ids())
                        .map_err(|e| e.to_string())
                    });
                match r {
                    Ok(ids) => found.extend(ids),
                    Err(e) => errors.push(format!("{src}: {e}")),
                }
            }
            (found, errors)
        })
        .await;
        let what = if errors.is_empty() {
            "the approver expression".to_string()
        } else {
            format!("the approver expression (errors: {})", errors.join("; "))
        };
        (found, what)
    } else {
        (vec![], "an approver kind Chamberlain cannot resolve".into())
    };
    who.sort();
    who.dedup();
    // Only live users count.
    if !who.is_empty() {
        let mut sql = Sql::new("SELECT id FROM users WHERE deleted_at IS NULL AND id IN (");
        for (i, id) in who.iter().enumerate() {
            if i > 0 {
                sql.push(", ");
            }
            sql.arg(id.as_str());
        }
        sql.push(") ORDER BY id");
        who = ids(tx, sql).await?;
    }
    let mut notes = vec![];
    if !a.allows_self_approval() && who.contains(&task.user_id) {
        who.retain(|u| *u != task.user_id);
        notes.push("the requester may not approve their own request".to_string());
    }
    if a.requires_distinct_approvers() {
        let before = who.len();
        who.retain(|u| !task.approver_ids.contains(u));
        if who.len() < before {
            notes.push("approvers of earlier steps are excluded".into());
        }
    }
    let mut reason = format!("assigned to {what}");
    if who.is_empty() {
        let fallback: Vec<String> = a
            .fallback_user_ids()
            .iter()
            .filter(|u| a.allows_self_approval() || **u != task.user_id)
            .cloned()
            .collect();
        if !fallback.is_empty() {
            who = fallback;
            reason =
                format!("{what} resolved to nobody; assigned to the step's fallback approvers");
        } else {
            let admins: Vec<String> = super_admins(tx)
                .await?
                .into_iter()
                .filter(|u| *u != task.user_id)
                .collect();
            reason = format!("{what} resolved to nobody and the step has no fallback approvers; assigned to super admins");
            who = admins;
        }
    }
    if !notes.is_empty() {
        reason = format!("{reason} ({})", notes.join("; "));
    }
    Ok((who, reason))
}

async fn condition_holds(store: &Store, s: &Subjects, task: &Task, src: &str) -> bool {
    let user = s.user.clone();
    let account = s.account.clone();
    let ent = s.entitlement.clone();
    let task_json = serde_json::to_value(task).unwrap_or_default();
    let src = src.to_string();
    evaluate_blocking(store, move |dir| {
        Expression::compile(Purpose::PolicyCondition, &src)
            .ok()
            .and_then(|x| {
                x.evaluate(&Input {
                    subject: Some(Subject::User(&user)),
                    account: Some(&account),
                    entitlement: Some(&ent),
                    task: Some(&task_json),
                    directory: Some(dir),
                    ..Default::default()
                })
                .and_then(|o| o.as_bool())
                .ok()
            })
            .unwrap_or(false)
    })
    .await
}

fn wait_due(task: &Task, now: Timestamp) -> bool {
    current(task)
        .and_then(|c| c.wait.as_ref())
        .is_some_and(|w| {
            w.state == WaitState::Waiting
                && (w.timeout.is_some_and(|t| t <= now)
                    || w.wait.as_ref().is_some_and(|w| w.condition.is_some()))
        })
}

async fn resume_wait(
    tx: &mut Tx<'_>,
    store: &Store,
    s: &Subjects,
    task: &mut Task,
    log: &mut Vec<Value>,
) -> Result<(), StoreError> {
    let now = tx.now();
    let Some(w) = current(task).and_then(|c| c.wait.clone()) else {
        return Ok(());
    };
    let condition = w.wait.as_ref().and_then(|w| w.condition.clone());
    let timed_out = w.timeout.is_some_and(|t| t <= now);
    if let Some(c) = condition {
        if condition_holds(store, s, task, &c.condition).await {
            if let Some(cur) = current_mut(task) {
                cur.state = StepState::Done;
                if let Some(wi) = cur.wait.as_mut() {
                    wi.state = WaitState::Completed;
                }
            }
            log.push(json!({"waitStepSuccess": {}}));
            return advance(tx, store, s, task, log).await;
        }
        if timed_out {
            if let Some(cur) = current_mut(task) {
                if let Some(wi) = cur.wait.as_mut() {
                    wi.state = WaitState::TimedOut;
                }
            }
            let comment = w
                .wait
                .as_ref()
                .map(|w| w.comment_on_timeout.clone())
                .unwrap_or_default();
            log.push(json!({"waitStepTimedOut": {}, "chamberlain": {"comment": comment}}));
            set_outcome_timeout(task, now, log);
        }
        return Ok(());
    }
    if timed_out {
        if let Some(cur) = current_mut(task) {
            cur.state = StepState::Done;
            if let Some(wi) = cur.wait.as_mut() {
                wi.state = WaitState::Completed;
            }
        }
        log.push(json!({"waitStepSuccess": {}}));
        return advance(tx, store, s, task, log).await;
    }
    Ok(())
}

fn escalation_due(task: &Task, now: Timestamp) -> Option<chamberlain_model::policy::Escalation> {
    let cur = current(task)?;
    let ai = cur.approval.as_ref()?;
    let a = ai.approval.as_ref()?;
    if !a.escalation_enabled || ai.state != ApprovalState::Waiting {
        return None;
    }
    let esc = a.escalation.as_ref()?;
    let after = esc.expiration?;
    let since = ai.assigned_at?;
    (since.plus_seconds(after.seconds) <= now).then(|| esc.clone())
}

async fn escalate_step(
    tx: &mut Tx<'_>,
    store: &Store,
    s: &Subjects,
    task: &mut Task,
    esc: &chamberlain_model::policy::Escalation,
    replacement: Option<Vec<PolicyStep>>,
    log: &mut Vec<Value>,
) -> Result<(), StoreError> {
    let now = tx.now();
    log.push(json!({"slaEscalation": {}, "chamberlain": {"comment": esc.escalation_comment}}));
    if let Some(r) = &esc.reassign_to_approvers {
        if let Some(cur) = current_mut(task) {
            if let Some(ai) = cur.approval.as_mut() {
                if let Some(a) = ai.approval.as_mut() {
                    a.escalation_enabled = false;
                }
                ai.assigned_at = Some(now);
                ai.assignment_reason =
                    "the step's deadline passed; reassigned by escalation".into();
            }
        }
        task.step_approver_ids = r.approver_ids.clone();
        return Ok(());
    }
    if esc.cancel_ticket.is_some() {
        finish(task, now, false, false, log);
        return Ok(());
    }
    if esc.skip_step.is_some() {
        if let Some(cur) = current_mut(task) {
            cur.state = StepState::Done;
            if let Some(ai) = cur.approval.as_mut() {
                ai.state = ApprovalState::Done;
                ai.skipped = Some(SkippedAction {
                    user_id: String::new(),
                    skipped_at: Some(now),
                    new_policy_step_id: String::new(),
                });
            }
        }
        log.push(json!({"stepSkipped": {}}));
        return advance(tx, store, s, task, log).await;
    }
    if let Some(steps) = replacement {
        if let Some(cur) = current_mut(task) {
            cur.state = StepState::Done;
            if let Some(ai) = cur.approval.as_mut() {
                ai.state = ApprovalState::Done;
            }
        }
        if let Some(p) = task.policy.as_mut() {
            p.next = steps;
            if !p.next.iter().any(|s| s.provision.is_some()) {
                p.next.push(provision_step());
            }
        }
        log.push(json!({"policyChanged": {}}));
        return advance(tx, store, s, task, log).await;
    }
    Ok(())
}

#[allow(clippy::too_many_arguments)]
async fn apply_action(
    tx: &mut Tx<'_>,
    store: &Store,
    s: &Subjects,
    task: &mut Task,
    actor: &Actor,
    action: &Action,
    escalation: Option<(Policy, Vec<PolicyStep>, Vec<String>)>,
    log: &mut Vec<Value>,
) -> Result<(), StoreError> {
    let now = tx.now();
    let n = task.numeric_id;
    if let Action::Comment { comment } = action {
        if comment.trim().is_empty() {
            return Err(StoreError::Invalid("comment must not be empty".into()));
        }
        if comment.len() > 8192 {
            return Err(StoreError::Invalid(
                "comment is longer than 8192 characters".into(),
            ));
        }
        if !actor.super_admin && !involved(task, &actor.user_id) {
            return Err(forbidden(format!("only the requester, the subject, the task's approvers and admins may comment on task {n}")));
        }
        task.comment_count += 1;
        log.push(json!({"comment": {"comment": comment, "updatedBy": actor.user_id}}));
        tasks::commented_event(tx, task, &actor.user_id, comment).await?;
        return Ok(());
    }
    if task.state == TaskState::Closed {
        return Err(StoreError::Precondition(format!(
            "task {n} is closed ({}); open a new request instead",
            outcome_name(task)
        )));
    }
    let step_id_matches = |task: &Task, step_id: &str| -> Result<(), StoreError> {
        if step_id.is_empty() {
            return Ok(());
        }
        match current(task) {
            Some(c) if c.id == step_id => Ok(()),
            _ => Err(StoreError::Precondition(format!(
                "step `{step_id}` is no longer the current step of task {n}; reload the task"
            ))),
        }
    };
    let assigned = task.step_approver_ids.contains(&actor.user_id);
    match action {
        Action::Approve { comment, step_id } => {
            step_id_matches(task, step_id)?;
            let cur = current(task).cloned().unwrap_or_default();
            if let Some(ai) = &cur.approval {
                let a = ai.approval.clone().unwrap_or_default();
                if !assigned {
                    return Err(forbidden(format!(
                        "you are not an approver of the current step of task {n}; it is assigned to {}",
                        list_or_nobody(&task.step_approver_ids)
                    )));
                }
                if actor.user_id == task.user_id && !a.allows_self_approval() {
                    return Err(forbidden(format!(
                        "you may not approve your own request (task {n}); the step does not allow self-approval"
                    )));
                }
                if a.requires_distinct_approvers() && task.approver_ids.contains(&actor.user_id) {
                    return Err(forbidden(format!(
                        "this step of task {n} needs an approver who has not approved an earlier step"
                    )));
                }
                if a.require_approval_reason && comment.trim().is_empty() {
                    return Err(StoreError::Invalid(format!(
                        "this step of task {n} requires a reason to approve; send it as comment"
                    )));
                }
                if let Some(c) = current_mut(task) {
                    c.state = StepState::Done;
                    if let Some(ai) = c.approval.as_mut() {
                        ai.state = ApprovalState::Done;
                        ai.approved = Some(ApprovedAction {
                            user_id: actor.user_id.clone(),
                            approved_at: Some(now),
                        });
                    }
                }
                task.approver_ids.push(actor.user_id.clone());
                log.push(json!({"approvalInstanceChange": {"instance": current(task).and_then(|c| c.approval.clone())}, "chamberlain": {"approvedBy": actor.user_id}}));
                if !comment.trim().is_empty() {
                    task.comment_count += 1;
                    log.push(json!({"comment": {"comment": comment, "updatedBy": actor.user_id}}));
                }
                advance(tx, store, s, task, log).await
            } else if cur
                .provision
                .as_ref()
                .is_some_and(|p| p.method == "manual" && p.state == ProvisionState::Waiting)
            {
                if !assigned && !actor.super_admin {
                    return Err(forbidden(format!(
                        "you are not a provisioner of task {n}; it is assigned to {}",
                        list_or_nobody(&task.step_approver_ids)
                    )));
                }
                complete_provision(tx, s, task, "manual", &actor.user_id, log).await?;
                if !comment.trim().is_empty() {
                    task.comment_count += 1;
                    log.push(json!({"comment": {"comment": comment, "updatedBy": actor.user_id}}));
                }
                advance(tx, store, s, task, log).await
            } else {
                Err(StoreError::Precondition(format!(
                    "task {n} is not waiting for an approval (its current step is {})",
                    step_name(task)
                )))
            }
        }
        Action::Deny { comment, step_id } => {
            step_id_matches(task, step_id)?;
            let cur = current(task).cloned().unwrap_or_default();
            let Some(ai) = &cur.approval else {
                return Err(StoreError::Precondition(format!(
                    "task {n} is not waiting for an approval (its current step is {})",
                    step_name(task)
                )));
            };
            if !assigned {
                return Err(forbidden(format!(
                    "you are not an approver of the current step of task {n}; it is assigned to {}",
                    list_or_nobody(&task.step_approver_ids)
                )));
            }
            if ai
                .approval
                .as_ref()
                .is_some_and(|a| a.require_denial_reason)
                && comment.trim().is_empty()
            {
                return Err(StoreError::Invalid(format!(
                    "this step of task {n} requires a reason to deny; send it as comment"
                )));
            }
            if let Some(c) = current_mut(task) {
                if let Some(ai) = c.approval.as_mut() {
                    ai.state = ApprovalState::Done;
                    ai.denied = Some(DeniedAction {
                        user_id: actor.user_id.clone(),
                        denied_at: Some(now),
                    });
                }
            }
            if !comment.trim().is_empty() {
                task.comment_count += 1;
                log.push(json!({"comment": {"comment": comment, "updatedBy": actor.user_id}}));
            }
            log.push(json!({"approvalInstanceChange": {"instance": current(task).and_then(|c| c.approval.clone())}, "chamberlain": {"deniedBy": actor.user_id}}));
            finish(task, now, false, true, log);
            Ok(())
        }
        Action::Reassign {
            comment,
            step_id,
            user_ids,
        } => {
            step_id_matches(task, step_id)?;
            let cur = current(task).cloned().unwrap_or_default();
            let Some(ai) = &cur.approval else {
                return Err(StoreError::Precondition(format!(
                    "task {n} is not waiting for an approval; only approval steps can be reassigned"
                )));
            };
            let a = ai.approval.clone().unwrap_or_default();
            if !actor.super_admin {
                if !assigned {
                    return Err(forbidden(format!(
                        "you are not an approver of the current step of task {n}"
                    )));
                }
                if !a.allow_reassignment {
                    return Err(forbidden(format!(
                        "the current step of task {n} does not allow reassignment"
                    )));
                }
            }
            if user_ids.is_empty() || user_ids.len() > 32 {
                return Err(StoreError::Invalid(
                    "newStepUserIds must name between 1 and 32 users".into(),
                ));
            }
            if !a.allowed_reassignees.is_empty() {
                if let Some(bad) = user_ids.iter().find(|u| !a.allowed_reassignees.contains(u)) {
                    return Err(StoreError::Invalid(format!(
                        "user `{bad}` is not one of the step's allowed reassignees ({})",
                        a.allowed_reassignees.join(", ")
                    )));
                }
            }
            if a.require_reassignment_reason && comment.trim().is_empty() {
                return Err(StoreError::Invalid(format!(
                    "this step of task {n} requires a reason to reassign; send it as comment"
                )));
            }
            let new_step = new_id();
            if let Some(p) = task.policy.as_mut() {
                if let Some(mut old) = p.current.take() {
                    old.state = StepState::Done;
                    if let Some(ai) = old.approval.as_mut() {
                        ai.state = ApprovalState::Done;
                        ai.reassigned = Some(ReassignedAction {
                            user_id: actor.user_id.clone(),
                            reassigned_at: Some(now),
                            new_policy_step_id: new_step.clone(),
                        });
                    }
                    p.history.push(old);
                }
                p.current = Some(PolicyStepInstance {
                    id: new_step,
                    state: StepState::Active,
                    approval: Some(ApprovalInstance {
                        approval: Some(a.clone()),
                        state: ApprovalState::Waiting,
                        assigned_at: Some(now),
                        assignment_reason: format!(
                            "reassigned by {}",
                            if actor.user_id.is_empty() {
                                "the system"
                            } else {
                                &actor.user_id
                            }
                        ),
                        ..Default::default()
                    }),
                    ..Default::default()
                });
            }
            task.step_approver_ids = user_ids.clone();
            if !comment.trim().is_empty() {
                task.comment_count += 1;
                log.push(json!({"comment": {"comment": comment, "updatedBy": actor.user_id}}));
            }
            log.push(json!({"approvalReassigned": {}, "chamberlain": {"to": user_ids}}));
            Ok(())
        }
        Action::Close { comment } => {
            let may = actor.super_admin
                || actor.user_id == task.user_id
                || actor.user_id == task.created_by_user_id;
            if !may {
                return Err(forbidden(format!(
                    "only the requester, the subject or a super admin may close task {n}"
                )));
            }
            if !comment.trim().is_empty() {
                task.comment_count += 1;
                log.push(json!({"comment": {"comment": comment, "updatedBy": actor.user_id}}));
            }
            if let Some(c) = current_mut(task) {
                if let Some(p) = c.provision.as_mut() {
                    p.cancelled = Some(CancelledAction {
                        cancelled_at: Some(now),
                        cancelled_by_user_id: actor.user_id.clone(),
                    });
                }
            }
            finish(task, now, false, false, log);
            Ok(())
        }
        Action::Escalate { comment } => {
            if task.emergency_access {
                return Err(StoreError::Precondition(format!(
                    "task {n} is already an emergency request"
                )));
            }
            let may = actor.super_admin
                || actor.user_id == task.user_id
                || actor.user_id == task.created_by_user_id;
            if !may {
                return Err(forbidden(format!(
                    "only the requester or the subject may escalate task {n} to emergency access"
                )));
            }
            if current(task).is_some_and(|c| c.approval.is_none()) {
                return Err(StoreError::Precondition(format!(
                    "task {n} is past its approval steps; escalation no longer changes anything"
                )));
            }
            let Some((policy, steps, notes)) = escalation else {
                return Err(StoreError::Precondition("no emergency policy".into()));
            };
            if let Some(p) = task.policy.as_mut() {
                if let Some(mut old) = p.current.take() {
                    old.state = StepState::Done;
                    if let Some(ai) = old.approval.as_mut() {
                        ai.state = ApprovalState::Done;
                        ai.skipped = Some(SkippedAction {
                            user_id: actor.user_id.clone(),
                            skipped_at: Some(now),
                            new_policy_step_id: String::new(),
                        });
                    }
                    p.history.push(old);
                }
                p.policy = Some(policy);
                p.next = steps;
                if !p.next.iter().any(|s| s.provision.is_some()) {
                    p.next.push(provision_step());
                }
            }
            task.step_approver_ids.clear();
            task.emergency_access = true;
            if !comment.trim().is_empty() {
                task.comment_count += 1;
                log.push(json!({"comment": {"comment": comment, "updatedBy": actor.user_id}}));
            }
            log.push(json!({"taskEscalated": {}}));
            for n in notes {
                log.push(json!({"policyEvaluationStep": {"stepComment": n}}));
            }
            advance(tx, store, s, task, log).await
        }
        Action::UpdateGrantDuration { duration } => {
            let may = actor.super_admin || assigned;
            if !may {
                return Err(forbidden(format!(
                    "only the current step's approvers or a super admin may change the duration of task {n}"
                )));
            }
            let Some(g) = task.task_type.grant.as_mut() else {
                return Err(StoreError::Precondition(format!(
                    "task {n} is not a grant task"
                )));
            };
            if let Some(d) = duration {
                if d.seconds <= 0 {
                    return Err(StoreError::Invalid("duration must be positive".into()));
                }
                if let Some(m) = max_duration(&s.entitlement) {
                    if d.seconds > m.seconds {
                        return Err(StoreError::Invalid(format!(
                            "duration {d} is longer than the maximum {m} for entitlement \"{}\"",
                            s.entitlement.display_name
                        )));
                    }
                }
            } else if max_duration(&s.entitlement).is_some() {
                return Err(StoreError::Invalid(format!(
                    "entitlement \"{}\" requires a duration; it cannot be made permanent",
                    s.entitlement.display_name
                )));
            }
            let before = g.grant_duration;
            g.grant_duration = *duration;
            log.push(json!({"grantDurationUpdated": {}, "chamberlain": {"from": before, "to": duration}}));
            Ok(())
        }
        Action::SkipStep { comment, step_id } => {
            step_id_matches(task, step_id)?;
            if !actor.super_admin {
                return Err(forbidden(format!(
                    "only super admins may skip a step of task {n}"
                )));
            }
            if current(task).is_some_and(|c| {
                c.provision
                    .as_ref()
                    .is_some_and(|p| p.method == "connector" && p.state == ProvisionState::Waiting)
            }) {
                return Err(StoreError::Precondition(format!(
                    "task {n} is being provisioned by a connector right now; wait for the result"
                )));
            }
            if let Some(c) = current_mut(task) {
                c.state = StepState::Done;
                let skipped = Some(SkippedAction {
                    user_id: actor.user_id.clone(),
                    skipped_at: Some(now),
                    new_policy_step_id: String::new(),
                });
                if let Some(ai) = c.approval.as_mut() {
                    ai.state = ApprovalState::Done;
                    ai.skipped = skipped.clone();
                }
                if let Some(p) = c.provision.as_mut() {
                    p.skipped = skipped;
                }
            }
            if !comment.trim().is_empty() {
                task.comment_count += 1;
                log.push(json!({"comment": {"comment": comment, "updatedBy": actor.user_id}}));
            }
            log.push(json!({"stepSkipped": {}}));
            advance(tx, store, s, task, log).await
        }
        Action::RetryProvisioning { comment } => {
            let errored = current(task)
                .and_then(|c| c.provision.as_ref())
                .is_some_and(|p| p.errored.is_some() && p.state == ProvisionState::Waiting);
            if !errored {
                return Err(StoreError::Precondition(format!(
                    "task {n} has no failed provisioning to retry (its current step is {})",
                    step_name(task)
                )));
            }
            if !actor.super_admin && !assigned {
                return Err(forbidden(format!("only the task's provisioners or a super admin may retry provisioning of task {n}")));
            }
            if !s.automatic {
                return Err(StoreError::Precondition(format!(
                    "app \"{}\" has no connector that provisions; complete the step by hand (approve) instead",
                    s.app.display_name
                )));
            }
            if let Some(c) = current_mut(task) {
                if let Some(p) = c.provision.as_mut() {
                    p.state = ProvisionState::Init;
                    p.method = "connector".into();
                    p.errored = None;
                }
            }
            task.step_approver_ids.clear();
            task.processing = TaskProcessing::Processing;
            if !comment.trim().is_empty() {
                task.comment_count += 1;
                log.push(json!({"comment": {"comment": comment, "updatedBy": actor.user_id}}));
            }
            log.push(json!({"connectorActionsStart": {}, "chamberlain": {"retry": true}}));
            Ok(())
        }
        Action::Comment { .. } => Ok(()),
    }
}

fn list_or_nobody(ids: &[String]) -> String {
    if ids.is_empty() {
        "nobody".into()
    } else {
        ids.join(", ")
    }
}

fn step_name(task: &Task) -> &'static str {
    match current(task) {
        Some(c) if c.approval.is_some() => "an approval",
        Some(c) if c.provision.is_some() => "provisioning",
        Some(c) if c.wait.is_some() => "a wait",
        Some(_) => "another step",
        None => "none",
    }
}

fn outcome_name(task: &Task) -> &'static str {
    if let Some(g) = &task.task_type.grant {
        return g.outcome.as_str();
    }
    if let Some(r) = &task.task_type.revoke {
        return r.outcome.as_str();
    }
    "closed"
}

/// Whether `user_id` takes part in the task: subject, requester, current assignee, or someone
/// who acted on one of its steps.
pub fn involved(task: &Task, user_id: &str) -> bool {
    if user_id.is_empty() {
        return false;
    }
    if task.user_id == user_id
        || task.created_by_user_id == user_id
        || task.step_approver_ids.iter().any(|u| u == user_id)
        || task.approver_ids.iter().any(|u| u == user_id)
    {
        return true;
    }
    let acted = |s: &PolicyStepInstance| {
        s.approval.as_ref().is_some_and(|a| {
            a.approved.as_ref().is_some_and(|x| x.user_id == user_id)
                || a.denied.as_ref().is_some_and(|x| x.user_id == user_id)
                || a.reassigned.as_ref().is_some_and(|x| x.user_id == user_id)
        }) || s
            .provision
            .as_ref()
            .and_then(|p| p.completed.as_ref())
            .is_some_and(|c| c.user_id == user_id)
    };
    task.policy
        .as_ref()
        .is_some_and(|p| p.history.iter().any(acted) || p.current.as_ref().is_some_and(acted))
}

/// The actions `user_id` may take on `task` now (C1's `Task.actions`).
pub fn allowed_actions(task: &Task, user_id: &str, super_admin: bool) -> Vec<String> {
    let mut out = vec!["TASK_ACTION_TYPE_COMMENT".to_string()];
    if task.state == TaskState::Closed {
        return out;
    }
    let assigned = task.step_approver_ids.iter().any(|u| u == user_id);
    match current(task) {
        Some(c) if c.approval.is_some() => {
            if assigned {
                out.push("TASK_ACTION_TYPE_APPROVE".into());
                out.push("TASK_ACTION_TYPE_DENY".into());
            }
            let allow = c
                .approval
                .as_ref()
                .and_then(|a| a.approval.as_ref())
                .is_some_and(|a| a.allow_reassignment);
            if super_admin || (assigned && allow) {
                out.push("TASK_ACTION_TYPE_REASSIGN".into());
            }
        }
        Some(c) if c.provision.is_some() && (assigned || super_admin) => {
            out.push("TASK_ACTION_TYPE_PROVISION_COMPLETE".into());
        }
        _ => {}
    }
    if super_admin || user_id == task.user_id || user_id == task.created_by_user_id {
        out.push("TASK_ACTION_TYPE_CLOSE".into());
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn business_days_skip_weekends() {
        // Thursday 2026-11-19 12:00 → Tuesday 2026-11-24 12:00.
        let thu = Timestamp::parse("2026-11-19T12:00:00Z").unwrap();
        assert_eq!(
            three_business_days_after(thu).to_string(),
            "2026-11-24T12:00:00Z"
        );
        // Monday → Thursday.
        let mon = Timestamp::parse("2026-11-23T08:00:00Z").unwrap();
        assert_eq!(
            three_business_days_after(mon).to_string(),
            "2026-11-26T08:00:00Z"
        );
    }
}
