//! What follows a profile membership change: enrolling grants the profile's entitlements,
//! leaving revokes them as the profile's unenrollment behaviour says. Each consequence is its
//! own task whose history names the membership task that caused it.

use crate::engine::{
    auto_steps, provision_step, Actor, Engine, EngineError, GrantRequest, RevokeRequest,
};
use chamberlain_model::catalog::{
    EnrollmentBehavior, RequestCatalog, UnenrollmentBehavior, UnenrollmentEntitlementBehavior,
};
use chamberlain_model::task::{GrantOutcome, RevokeOutcome, Task, TaskOrigin, TaskState};
use chamberlain_store::repo::{catalogs, grants, tasks};
use chamberlain_store::{write_tx, StoreError};
use serde_json::json;
use std::collections::HashSet;

impl Engine {
    /// Starts the consequences of a closed task once (claimed with a version-guarded update,
    /// so concurrent callers and replicas do it once).
    pub async fn follow_up(&self, task_id: &str) -> Result<(), EngineError> {
        let task = self.get(task_id).await?;
        if task.state != TaskState::Closed || task.follow_ups_done {
            return Ok(());
        }
        let (ent_id, granted) = match (&task.task_type.grant, &task.task_type.revoke) {
            (Some(g), _) if g.outcome == GrantOutcome::Granted => {
                (g.app_entitlement_id.clone(), true)
            }
            (_, Some(r)) if r.outcome == RevokeOutcome::Revoked => {
                (r.app_entitlement_id.clone(), false)
            }
            _ => return Ok(()),
        };
        let mut conn = self
            .store
            .pool()
            .acquire()
            .await
            .map_err(StoreError::from)?;
        let Some(catalog) = catalogs::catalog_for_enrollment(&mut conn, &ent_id).await? else {
            return Ok(());
        };
        let entries = catalogs::catalog_entitlements(&mut conn, &catalog.id).await?;
        drop(conn);
        let actor = Actor::system("access profile membership");
        let id = task.id.clone();
        let claimed = write_tx!(self.store, &actor.audit, |tx| {
            let Some(stored) = tasks::get_tx(tx, &id).await? else {
                return Ok(false);
            };
            if stored.task.follow_ups_done {
                return Ok(false);
            }
            let mut t = stored.task.clone();
            t.follow_ups_done = true;
            tasks::update(tx, &t, stored.version).await?;
            Ok(true)
        })?;
        if !claimed {
            return Ok(());
        }
        let mut notes = Vec::new();
        if granted {
            self.enroll(&task, &catalog, &entries, &mut notes).await;
        } else {
            self.unenroll(&task, &catalog, &entries, &mut notes).await?;
        }
        if notes.is_empty() {
            return Ok(());
        }
        write_tx!(self.store, &actor.audit, |tx| {
            for n in &notes {
                tasks::audit(
                    tx,
                    &task,
                    "",
                    json!({"policyEvaluationStep": {"stepComment": n}}),
                )
                .await?;
            }
            Ok(())
        })?;
        Ok(())
    }

    async fn enroll(
        &self,
        parent: &Task,
        catalog: &RequestCatalog,
        entries: &[(String, String)],
        notes: &mut Vec<String>,
    ) {
        let origin = child_origin(parent);
        let bypass = catalog.enrollment_behavior != EnrollmentBehavior::Enforce;
        let actor = Actor::system("access profile enrollment");
        for (app_id, ent_id) in entries {
            let req = GrantRequest {
                app_id: app_id.clone(),
                entitlement_id: ent_id.clone(),
                identity_user_id: parent.user_id.clone(),
                justification: format!(
                    "member of access profile \"{}\" (task {})",
                    catalog.display_name, parent.numeric_id
                ),
                origin,
                steps_override: bypass.then(|| {
                    (
                        format!("Access profile \"{}\" enrollment", catalog.display_name),
                        auto_steps("granted by access profile enrollment (the entitlement's request policy is bypassed)"),
                    )
                }),
                parent_task_id: parent.id.clone(),
                ..Default::default()
            };
            match self.create_grant(&actor, req).await {
                Ok(t) => notes.push(format!(
                    "enrollment: opened task {} for entitlement `{ent_id}`",
                    t.numeric_id
                )),
                Err(e) => notes.push(format!(
                    "enrollment: entitlement `{ent_id}` of app `{app_id}` was not requested: {e}"
                )),
            }
        }
    }

    async fn unenroll(
        &self,
        parent: &Task,
        catalog: &RequestCatalog,
        entries: &[(String, String)],
        notes: &mut Vec<String>,
    ) -> Result<(), EngineError> {
        let behaviour = catalog.unenrollment_behavior;
        if behaviour == UnenrollmentBehavior::LeaveAccessAsIs {
            notes.push(format!(
                "unenrollment: access profile \"{}\" leaves access as is",
                catalog.display_name
            ));
            return Ok(());
        }
        // What other profiles the user still belongs to justify.
        let mut justified: HashSet<String> = HashSet::new();
        if behaviour != UnenrollmentBehavior::RevokeAll {
            let mut conn = self
                .store
                .pool()
                .acquire()
                .await
                .map_err(StoreError::from)?;
            for other in member_catalogs(&mut conn, &parent.user_id).await? {
                if other.id == catalog.id {
                    continue;
                }
                for (_, e) in catalogs::catalog_entitlements(&mut conn, &other.id).await? {
                    justified.insert(e);
                }
            }
        }
        let enforce =
            catalog.unenrollment_entitlement_behavior == UnenrollmentEntitlementBehavior::Enforce;
        let actor = Actor::system("access profile unenrollment");
        for (app_id, ent_id) in entries {
            if justified.contains(ent_id) {
                notes.push(format!("unenrollment: entitlement `{ent_id}` is kept: another access profile of the user includes it"));
                continue;
            }
            let held = grants::search(
                &self.store,
                &grants::GrantQuery {
                    entitlement_ids: vec![ent_id.clone()],
                    identity_user_id: Some(parent.user_id.clone()),
                    ..Default::default()
                },
                grants::GrantState::Current,
                &chamberlain_store::record::PageReq::first(10),
            )
            .await?;
            for g in held.items.into_iter().filter(|g| g.direct) {
                let req = RevokeRequest {
                    app_id: app_id.clone(),
                    entitlement_id: ent_id.clone(),
                    app_user_id: g.grant.app_user_id.clone(),
                    justification: format!(
                        "left access profile \"{}\" (task {})",
                        catalog.display_name, parent.numeric_id
                    ),
                    origin: child_origin(parent),
                    steps_override: (!enforce).then(|| {
                        (
                            format!("Access profile \"{}\" unenrollment", catalog.display_name),
                            vec![provision_step()],
                        )
                    }),
                    parent_task_id: parent.id.clone(),
                    ..Default::default()
                };
                match self.create_revoke(&actor, req).await {
                    Ok(t) => notes.push(format!(
                        "unenrollment: opened task {} to revoke entitlement `{ent_id}`",
                        t.numeric_id
                    )),
                    Err(e) => notes.push(format!(
                        "unenrollment: entitlement `{ent_id}` was not revoked: {e}"
                    )),
                }
            }
        }
        Ok(())
    }
}

fn child_origin(parent: &Task) -> TaskOrigin {
    match parent.origin {
        TaskOrigin::ProfileMembershipAutomation => TaskOrigin::ProfileMembershipAutomation,
        _ => TaskOrigin::ProfileMembership,
    }
}

/// The live catalogs `user_id` is a member of (holds the enrollment entitlement).
async fn member_catalogs(
    conn: &mut sqlx::AnyConnection,
    user_id: &str,
) -> Result<Vec<RequestCatalog>, StoreError> {
    let mut sql = chamberlain_store::record::Sql::new(
        "SELECT c.doc FROM request_catalogs c WHERE c.deleted_at IS NULL AND EXISTS (\
         SELECT 1 FROM grants g JOIN app_users au ON au.id = g.app_user_id \
         WHERE g.deleted_at IS NULL AND au.deleted_at IS NULL AND g.entitlement_id = c.enrollment_entitlement_id \
         AND (g.deprovision_at IS NULL OR g.deprovision_at > ",
    );
    sql.arg(chamberlain_model::Timestamp::now().as_micros())
        .push(") AND au.identity_user_id = ")
        .arg(user_id)
        .push(") ORDER BY c.id");
    chamberlain_store::record::fetch_docs(conn, &sql).await
}

/// What applying a membership plan did.
#[derive(Clone, Debug, Default, serde::Serialize)]
#[serde(rename_all = "camelCase")]
pub struct Applied {
    /// Enrollment tasks opened (numeric ids).
    pub enrollment_tasks: Vec<i64>,
    /// Unenrollment tasks opened (numeric ids).
    pub unenrollment_tasks: Vec<i64>,
    /// Users the plan named that could not be changed, with why.
    pub errors: Vec<String>,
}

impl Engine {
    /// Carries out a bundle automation plan: each user to enroll gets a membership request
    /// (origin `PROFILE_MEMBERSHIP_AUTOMATION`) that runs the profile's joiner policy (the
    /// enrollment entitlement's request policy) when `create_tasks`, or is granted directly
    /// otherwise; each member to unenroll gets a revocation. The profile's entitlements then
    /// follow (see [`Engine::follow_up`]).
    pub async fn apply_bundle_plan(
        &self,
        catalog: &RequestCatalog,
        plan: &crate::automation::Plan,
        create_tasks: bool,
    ) -> Result<Applied, EngineError> {
        let mut out = Applied::default();
        if plan.paused.is_some() {
            return Ok(out);
        }
        let ent = catalog.enrollment_entitlement_id.clone();
        let actor = Actor::system("membership automation");
        for chunk in plan.enroll.chunks(500) {
            write_tx!(self.store, &actor.audit, |tx| {
                for u in chunk {
                    catalogs::ensure_builtin_account(tx, u).await?;
                }
                Ok(())
            })?;
        }
        let grants: Vec<GrantRequest> = plan
            .enroll
            .iter()
            .map(|user| GrantRequest {
                app_id: catalogs::BUILTIN_APP_ID.into(),
                entitlement_id: ent.clone(),
                identity_user_id: user.clone(),
                justification: format!(
                    "membership automation of access profile \"{}\": the user meets its rule",
                    catalog.display_name
                ),
                origin: TaskOrigin::ProfileMembershipAutomation,
                steps_override: (!create_tasks).then(|| {
                    (
                        format!(
                            "Access profile \"{}\" membership automation",
                            catalog.display_name
                        ),
                        auto_steps("enrolled directly by membership automation"),
                    )
                }),
                ..Default::default()
            })
            .collect();
        let (ids, errors) = self.create_grants(&actor, grants).await?;
        out.enrollment_tasks = ids.into_iter().map(|(_, n)| n).collect();
        out.errors
            .extend(errors.iter().map(|e| format!("enroll: {e}")));
        let revokes: Vec<RevokeRequest> = plan
            .unenroll
            .iter()
            .map(|user| RevokeRequest {
                app_id: catalogs::BUILTIN_APP_ID.into(),
                entitlement_id: ent.clone(),
                identity_user_id: user.clone(),
                justification: format!(
                    "membership automation of access profile \"{}\": the user no longer meets its rule",
                    catalog.display_name
                ),
                origin: TaskOrigin::ProfileMembershipAutomation,
                steps_override: Some((
                    format!("Access profile \"{}\" membership automation", catalog.display_name),
                    vec![provision_step()],
                )),
                ..Default::default()
            })
            .collect();
        let (ids, errors) = self.create_revokes(&actor, revokes).await?;
        out.unenrollment_tasks = ids.into_iter().map(|(_, n)| n).collect();
        out.errors
            .extend(errors.iter().map(|e| format!("unenroll: {e}")));
        Ok(out)
    }

    /// Plans and applies every enabled bundle automation (the worker calls this after syncs
    /// and on a schedule; runs of one automation may overlap on replicas, and task creation
    /// is unique per open request, so a user is never enrolled twice).
    pub async fn run_bundle_automations(&self) -> Result<usize, EngineError> {
        let sql = chamberlain_store::record::Sql::new(
            "SELECT doc FROM request_catalogs WHERE deleted_at IS NULL ORDER BY id",
        );
        let catalogs_live: Vec<RequestCatalog> =
            chamberlain_store::record::fetch_docs(self.store.pool(), &sql).await?;
        let mut ran = 0;
        for c in catalogs_live {
            let Some(a) = chamberlain_store::record::get::<
                chamberlain_model::catalog::BundleAutomation,
                _,
            >(self.store.pool(), &c.id, false)
            .await?
            else {
                continue;
            };
            if !a.enabled {
                continue;
            }
            let audit = chamberlain_store::AuditCtx::system("membership automation");
            let (plan, _) =
                match crate::automation::run_bundle_automation(&self.store, &audit, &c.id).await {
                    Ok(p) => p,
                    Err(e) => {
                        tracing::warn!(catalog = %c.id, error = %e, "membership automation failed");
                        continue;
                    }
                };
            self.apply_bundle_plan(&c, &plan, a.create_tasks).await?;
            ran += 1;
        }
        Ok(ran)
    }
}

impl Engine {
    /// Plans and applies every per-entitlement automation (not those of profiles' enrollment
    /// entitlements, which their bundle automation runs): users the rule selects are granted
    /// the entitlement directly (origin `TASK_ORIGIN_AUTOMATION`), users it no longer selects
    /// lose it. Returns how many automations ran.
    pub async fn run_entitlement_automations(&self) -> Result<usize, EngineError> {
        let sql = chamberlain_store::record::Sql::new(
            "SELECT doc FROM entitlement_automations WHERE deleted_at IS NULL ORDER BY id",
        );
        let all: Vec<chamberlain_model::catalog::AppEntitlementAutomation> =
            chamberlain_store::record::fetch_docs(self.store.pool(), &sql).await?;
        let mut ran = 0;
        for a in all {
            if a.none.is_some()
                || !a.managed_by_request_catalog_id.is_empty()
                || a.app_id == catalogs::BUILTIN_APP_ID
            {
                continue;
            }
            let audit = chamberlain_store::AuditCtx::system("entitlement automation");
            let plan = match crate::automation::run_entitlement_automation(
                &self.store,
                &audit,
                &a.app_entitlement_id,
            )
            .await
            {
                Ok((p, _)) => p,
                Err(e) => {
                    tracing::warn!(entitlement = %a.app_entitlement_id, error = %e, "entitlement automation failed");
                    continue;
                }
            };
            if plan.paused.is_some() {
                continue;
            }
            let actor = Actor::system("entitlement automation");
            for user in &plan.enroll {
                let req = GrantRequest {
                    app_id: a.app_id.clone(),
                    entitlement_id: a.app_entitlement_id.clone(),
                    identity_user_id: user.clone(),
                    justification: "entitlement automation: the user meets its rule".into(),
                    origin: TaskOrigin::Automation,
                    steps_override: Some((
                        "Entitlement automation".into(),
                        auto_steps("granted by the entitlement's automation"),
                    )),
                    ..Default::default()
                };
                if let Err(e) = self.create_grant(&actor, req).await {
                    if !crate::engine::is_nothing_to_do(&e) {
                        tracing::info!(user = %user, error = %e, "entitlement automation could not grant");
                    }
                }
            }
            for user in &plan.unenroll {
                let req = RevokeRequest {
                    app_id: a.app_id.clone(),
                    entitlement_id: a.app_entitlement_id.clone(),
                    identity_user_id: user.clone(),
                    justification: "entitlement automation: the user no longer meets its rule"
                        .into(),
                    origin: TaskOrigin::Automation,
                    steps_override: Some(("Entitlement automation".into(), vec![provision_step()])),
                    ..Default::default()
                };
                if let Err(e) = self.create_revoke(&actor, req).await {
                    if !crate::engine::is_nothing_to_do(&e) {
                        tracing::info!(user = %user, error = %e, "entitlement automation could not revoke");
                    }
                }
            }
            ran += 1;
        }
        Ok(ran)
    }
}
