//! Membership automation: which users a rule selects, and what a run would change.
//!
//! A bundle automation (an access profile's membership automation) enrolls the users who
//! satisfy its rule (hold any of the chosen entitlements, or match a CEL expression over
//! `subject: User`) and unenrolls members who no longer do. A per-entitlement automation does
//! the same for holders of one entitlement. Excluded users are never members of the target.
//!
//! [`plan`] is pure. C1's anomaly detection is the circuit breaker: a run that would remove
//! more than `removedMembersThresholdPercent` (default 20) of the current members, on a
//! profile with at least [`MIN_MEMBERS_FOR_BREAKER`] members (or any size with
//! `enforceOnSmallProfiles`), is paused and changes nothing; the automation stays paused
//! until an admin resumes it, after which the next run applies once whatever it removes.
//!
//! [`load_inputs`] / [`load_entitlement_inputs`] gather a plan's inputs from the store, and
//! [`run_bundle_automation`] plans and records the outcome on the automation (`state`,
//! `circuitBreaker`). Executing the plan (grants or tasks) is left to the caller.

use chamberlain_cel::{Expression, Input, MemoryDirectory, Purpose, Subject};
use chamberlain_model::app::{AppEntitlement, AppUser};
use chamberlain_model::catalog::{
    AppEntitlementAutomation, BundleAutomation, BundleRunStatus, CelEvaluationState,
    CircuitBreaker, CircuitBreakerState, EntitlementLastRunStatus, EntitlementRunStatus,
    LastRunState, RequestCatalog, DEFAULT_REMOVED_MEMBERS_THRESHOLD_PERCENT,
};
use chamberlain_model::user::{User, UserStatus};
use chamberlain_model::Timestamp;
use chamberlain_store::record::{self, Sql};
use chamberlain_store::repo::catalogs;
use chamberlain_store::{AuditCtx, Store, StoreError};
use serde::Serialize;
use sqlx::Row;
use std::collections::BTreeSet;

/// Profiles smaller than this are not protected by the circuit breaker unless
/// `enforceOnSmallProfiles` is set.
pub const MIN_MEMBERS_FOR_BREAKER: usize = 100;

/// Circuit-breaker settings and state of one automation.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Breaker {
    /// `disableCircuitBreaker`: never pause.
    pub disabled: bool,
    /// Percent of current members a run may remove (1–100).
    pub threshold_percent: u32,
    /// Apply the breaker below [`MIN_MEMBERS_FOR_BREAKER`] members too.
    pub enforce_on_small_profiles: bool,
    /// Paused by an earlier run and not resumed: every run stays paused.
    pub tripped: bool,
    /// Resumed by an admin: the next run applies even if it would trip the breaker.
    pub resumed: bool,
}

impl Default for Breaker {
    fn default() -> Self {
        Breaker {
            disabled: false,
            threshold_percent: DEFAULT_REMOVED_MEMBERS_THRESHOLD_PERCENT as u32,
            enforce_on_small_profiles: false,
            tripped: false,
            resumed: false,
        }
    }
}

impl Breaker {
    /// The breaker of a bundle automation.
    pub fn of(a: &BundleAutomation) -> Breaker {
        let pct = a.removed_members_threshold_percent;
        Breaker {
            disabled: a.disable_circuit_breaker,
            threshold_percent: if (1..=100).contains(&pct) {
                pct as u32
            } else {
                DEFAULT_REMOVED_MEMBERS_THRESHOLD_PERCENT as u32
            },
            enforce_on_small_profiles: a.enforce_on_small_profiles,
            tripped: a.is_paused(),
            resumed: a.is_resumed(),
        }
    }
}

/// What a plan is computed from.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Inputs {
    /// Current members (user ids).
    pub members: BTreeSet<String>,
    /// Users who satisfy the rule; `None` when the rule is `none` (the automation manages
    /// nothing).
    pub satisfying: Option<BTreeSet<String>>,
    /// Users whose rule could not be evaluated (e.g. a CEL error): left as they are.
    pub undecided: BTreeSet<String>,
    /// Users the automation leaves out: never enrolled, unenrolled if members.
    pub excluded: BTreeSet<String>,
    /// Circuit breaker.
    pub breaker: Breaker,
    /// The first evaluation error, for the run's status.
    pub first_error: Option<String>,
}

/// What a run would change.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct Plan {
    /// Users to enroll (sorted).
    pub enroll: Vec<String>,
    /// Members to unenroll (sorted).
    pub unenroll: Vec<String>,
    /// Why the run is paused (and changes nothing), if it is.
    pub paused: Option<String>,
}

/// Plans a run. Pure.
pub fn plan(inputs: &Inputs) -> Plan {
    let b = &inputs.breaker;
    if b.tripped && !b.resumed {
        return Plan {
            paused: Some(
                "the circuit breaker paused this automation; resume it to apply the next run"
                    .into(),
            ),
            ..Default::default()
        };
    }
    let Some(satisfying) = &inputs.satisfying else {
        return Plan::default();
    };
    let keep = |u: &String| !inputs.undecided.contains(u);
    let enroll: Vec<String> = satisfying
        .iter()
        .filter(|u| !inputs.members.contains(*u) && !inputs.excluded.contains(*u) && keep(u))
        .cloned()
        .collect();
    let unenroll: Vec<String> = inputs
        .members
        .iter()
        .filter(|u| (!satisfying.contains(*u) || inputs.excluded.contains(*u)) && keep(u))
        .cloned()
        .collect();
    let members = inputs.members.len();
    let guarded = !b.disabled
        && !b.resumed
        && (members >= MIN_MEMBERS_FOR_BREAKER || b.enforce_on_small_profiles);
    // More than threshold% of the members: removed / members > threshold / 100.
    if guarded && members > 0 && unenroll.len() * 100 > b.threshold_percent as usize * members {
        return Plan {
            paused: Some(format!(
                "the run would remove {} of {} members ({:.1}%), more than the {}% threshold; nothing was changed. Check the rule, then resume the automation (POST …/bundle_automation/resume) to apply the next run",
                unenroll.len(),
                members,
                unenroll.len() as f64 * 100.0 / members as f64,
                b.threshold_percent
            )),
            ..Default::default()
        };
    }
    Plan {
        enroll,
        unenroll,
        paused: None,
    }
}

/// Why inputs could not be loaded.
#[derive(Debug, thiserror::Error)]
pub enum LoadError {
    /// The database failed.
    #[error(transparent)]
    Store(#[from] StoreError),
    /// The automation or catalog does not exist.
    #[error("{0}")]
    NotFound(String),
    /// The stored expression no longer compiles.
    #[error("{0}")]
    Cel(String),
}

/// The rule of an automation, as loaders read it.
enum Rule<'a> {
    None,
    Entitlements(Vec<String>),
    Cel(&'a str),
}

async fn live_users(store: &Store) -> Result<Vec<User>, StoreError> {
    record::fetch_docs::<User, _>(
        store.pool(),
        &Sql::new("SELECT doc FROM users WHERE deleted_at IS NULL ORDER BY id"),
    )
    .await
}

/// Everything the `c1.*` directory functions may read: users, accounts and current grants.
async fn directory(store: &Store, users: Vec<User>) -> Result<MemoryDirectory, StoreError> {
    let app_users = record::fetch_docs::<AppUser, _>(
        store.pool(),
        &Sql::new(&format!(
            "SELECT {} FROM app_users WHERE deleted_at IS NULL",
            <AppUser as chamberlain_store::Record>::READ
        )),
    )
    .await?;
    let mut sql = Sql::new(
        "SELECT app_user_id, app_id, entitlement_id FROM grants WHERE deleted_at IS NULL \
         AND principal_kind = 'app_user' AND (deprovision_at IS NULL OR deprovision_at > ",
    );
    sql.arg(Timestamp::now().as_micros()).push(")");
    let rows = sql.query().fetch_all(store.pool()).await?;
    let grants = rows
        .iter()
        .map(|r| Ok((r.try_get(0)?, r.try_get(1)?, r.try_get(2)?)))
        .collect::<Result<Vec<_>, sqlx::Error>>()
        .map_err(StoreError::from)?;
    Ok(MemoryDirectory {
        users,
        app_users,
        grants,
    })
}

/// Users an expression selects, users it failed on, and the first error.
type CelResult = (BTreeSet<String>, BTreeSet<String>, Option<String>);

async fn cel_users(store: &Store, source: &str) -> Result<CelResult, LoadError> {
    let expr = Expression::compile(Purpose::DynamicGroup, source).map_err(|m| {
        LoadError::Cel(format!(
            "the automation's expression does not compile: {}",
            m.iter()
                .map(|m| m.to_string())
                .collect::<Vec<_>>()
                .join("; ")
        ))
    })?;
    let users: Vec<User> = live_users(store)
        .await?
        .into_iter()
        .filter(|u| u.status != UserStatus::Deleted)
        .collect();
    let dir = if source.contains("c1.") {
        Some(directory(store, users.clone()).await?.indexed())
    } else {
        None
    };
    let result = tokio::task::spawn_blocking(move || {
        let mut yes = BTreeSet::new();
        let mut failed = BTreeSet::new();
        let mut first = None;
        for u in &users {
            let input = Input {
                subject: Some(Subject::User(u)),
                directory: dir.as_ref().map(|d| d as &dyn chamberlain_cel::Directory),
                ..Default::default()
            };
            match expr.evaluate(&input).and_then(|o| o.as_bool()) {
                Ok(true) => {
                    yes.insert(u.id.clone());
                }
                Ok(false) => {}
                Err(e) => {
                    if first.is_none() {
                        first = Some(format!("user `{}`: {e}", u.id));
                    }
                    failed.insert(u.id.clone());
                }
            }
        }
        (yes, failed, first)
    })
    .await
    .map_err(|e| LoadError::Cel(format!("evaluation stopped: {e}")))?;
    Ok(result)
}

async fn load(
    store: &Store,
    member_entitlement: &str,
    rule: Rule<'_>,
    excluded: BTreeSet<String>,
    breaker: Breaker,
) -> Result<Inputs, LoadError> {
    let mut conn = store.pool().acquire().await.map_err(StoreError::from)?;
    let members: BTreeSet<String> = catalogs::holders(&mut conn, &[member_entitlement.to_string()])
        .await?
        .into_iter()
        .collect();
    let mut inputs = Inputs {
        members,
        excluded,
        breaker,
        ..Default::default()
    };
    match rule {
        Rule::None => {}
        Rule::Entitlements(ids) => {
            inputs.satisfying = Some(
                catalogs::holders(&mut conn, &ids)
                    .await?
                    .into_iter()
                    .collect(),
            );
        }
        Rule::Cel(src) => {
            drop(conn);
            let (yes, failed, first) = cel_users(store, src).await?;
            inputs.satisfying = Some(yes);
            inputs.undecided = failed;
            inputs.first_error = first;
        }
    }
    Ok(inputs)
}

/// The inputs of a catalog's bundle automation: members are the holders of its enrollment
/// entitlement; exclusions are those of the enrollment entitlement.
pub async fn load_inputs(store: &Store, catalog_id: &str) -> Result<Inputs, LoadError> {
    let catalog = record::get::<RequestCatalog, _>(store.pool(), catalog_id, false)
        .await?
        .ok_or_else(|| {
            LoadError::NotFound(format!("request catalog `{catalog_id}` was not found"))
        })?;
    let automation = record::get::<BundleAutomation, _>(store.pool(), catalog_id, false)
        .await?
        .ok_or_else(|| {
            LoadError::NotFound(format!(
                "request catalog `{catalog_id}` has no bundle automation"
            ))
        })?;
    load_bundle(store, &catalog, &automation).await
}

async fn load_bundle(
    store: &Store,
    catalog: &RequestCatalog,
    automation: &BundleAutomation,
) -> Result<Inputs, LoadError> {
    let rule = match (&automation.entitlements, &automation.cel) {
        (Some(e), _) => {
            Rule::Entitlements(e.entitlement_refs.iter().map(|r| r.id.clone()).collect())
        }
        (None, Some(c)) => Rule::Cel(&c.expression),
        (None, None) => Rule::None,
    };
    let mut conn = store.pool().acquire().await.map_err(StoreError::from)?;
    let excluded = catalogs::exclusions(&mut conn, &catalog.enrollment_entitlement_id)
        .await?
        .into_iter()
        .collect();
    drop(conn);
    load(
        store,
        &catalog.enrollment_entitlement_id,
        rule,
        excluded,
        Breaker::of(automation),
    )
    .await
}

/// The inputs of an entitlement's automation: members are the entitlement's current holders;
/// the breaker has the default settings (callers may change `inputs.breaker`).
pub async fn load_entitlement_inputs(
    store: &Store,
    entitlement_id: &str,
) -> Result<Inputs, LoadError> {
    let a = record::get::<AppEntitlementAutomation, _>(store.pool(), entitlement_id, false)
        .await?
        .ok_or_else(|| {
            LoadError::NotFound(format!(
                "app entitlement `{entitlement_id}` has no automation"
            ))
        })?;
    record::get::<AppEntitlement, _>(store.pool(), entitlement_id, false)
        .await?
        .ok_or_else(|| {
            LoadError::NotFound(format!("app entitlement `{entitlement_id}` was not found"))
        })?;
    let rule = if let Some(e) = &a.entitlements {
        Rule::Entitlements(e.entitlement_refs.iter().map(|r| r.id.clone()).collect())
    } else if let Some(src) = a.expression() {
        Rule::Cel(src)
    } else {
        Rule::None
    };
    let mut conn = store.pool().acquire().await.map_err(StoreError::from)?;
    let excluded = catalogs::exclusions(&mut conn, entitlement_id)
        .await?
        .into_iter()
        .collect();
    drop(conn);
    load(store, entitlement_id, rule, excluded, Breaker::default()).await
}

/// Plans a run of a catalog's bundle automation and records the outcome on it: `state`
/// (status, time, CEL evaluation) and, when the breaker trips, `circuitBreaker.state =
/// TRIGGERED` (a resumed automation returns to `UNSPECIFIED` after this run). Changes no
/// membership. Returns the plan and the updated automation.
pub async fn run_bundle_automation(
    store: &Store,
    audit: &AuditCtx,
    catalog_id: &str,
) -> Result<(Plan, BundleAutomation), LoadError> {
    let catalog = record::get::<RequestCatalog, _>(store.pool(), catalog_id, false)
        .await?
        .ok_or_else(|| {
            LoadError::NotFound(format!("request catalog `{catalog_id}` was not found"))
        })?;
    let automation = record::get::<BundleAutomation, _>(store.pool(), catalog_id, false)
        .await?
        .ok_or_else(|| {
            LoadError::NotFound(format!(
                "request catalog `{catalog_id}` has no bundle automation"
            ))
        })?;
    let loaded = load_bundle(store, &catalog, &automation).await;
    let (plan, inputs, error) = match loaded {
        Ok(inputs) => (plan(&inputs), Some(inputs), None),
        Err(LoadError::Store(e)) => return Err(LoadError::Store(e)),
        Err(e) => (Plan::default(), None, Some(e.to_string())),
    };
    let now = Timestamp::now();
    let is_cel = automation.cel.is_some();
    let outcome = (plan.clone(), inputs.clone(), error.clone());
    let updated = chamberlain_store::write_tx!(store, audit, |tx| {
        let (plan, inputs, error) = outcome.clone();
        let before: BundleAutomation = tx.must_get(catalog_id).await?;
        let mut after = before.clone();
        let status = if error.is_some() {
            BundleRunStatus::Failure
        } else if plan.paused.is_some() {
            BundleRunStatus::WaitingForApproval
        } else {
            BundleRunStatus::Success
        };
        let message = error
            .clone()
            .or_else(|| plan.paused.clone())
            .or_else(|| inputs.as_ref().and_then(|i| i.first_error.clone()))
            .unwrap_or_default();
        let cel_evaluation = is_cel.then(|| CelEvaluationState {
            error_message: error
                .clone()
                .or_else(|| inputs.as_ref().and_then(|i| i.first_error.clone()))
                .unwrap_or_default(),
            last_evaluated_at: Some(now),
            matched_users: inputs
                .as_ref()
                .and_then(|i| i.satisfying.as_ref())
                .map(|s| s.len() as i64)
                .unwrap_or(0),
            status: if error.is_some() {
                BundleRunStatus::Failure
            } else {
                BundleRunStatus::Success
            },
        });
        after.state = Some(LastRunState {
            cel_evaluation,
            error_message: message,
            last_run_at: Some(now),
            status,
        });
        let threshold = Breaker::of(&before).threshold_percent as i64;
        if plan.paused.is_some() && !before.is_paused() {
            after.circuit_breaker = Some(CircuitBreaker {
                removed_members_threshold_percentage: threshold,
                state: CircuitBreakerState::Triggered,
                updated_at: Some(now),
                user_ref: None,
            });
        } else if before.is_resumed() && error.is_none() {
            after.circuit_breaker = Some(CircuitBreaker {
                removed_members_threshold_percentage: threshold,
                state: CircuitBreakerState::Unspecified,
                updated_at: Some(now),
                user_ref: None,
            });
        }
        after.updated_at = Some(now);
        tx.replace(&before, &after).await?;
        Ok(after)
    })?;
    Ok((plan, updated))
}

/// Plans a run of an entitlement's automation and records `lastRunStatus` on it (`FAILED`
/// with the reason when the rule could not be evaluated or the breaker paused the run).
/// Changes no grant. Returns the plan and the updated automation.
pub async fn run_entitlement_automation(
    store: &Store,
    audit: &AuditCtx,
    entitlement_id: &str,
) -> Result<(Plan, AppEntitlementAutomation), LoadError> {
    // A paused run or an expression that no longer compiles is a failure; errors on some
    // users only are reported with a successful run (those users keep their state).
    let (plan, error, failed) = match load_entitlement_inputs(store, entitlement_id).await {
        Ok(inputs) => {
            let p = plan(&inputs);
            let paused = p.paused.is_some();
            let e = p.paused.clone().or(inputs.first_error.clone());
            (p, e, paused)
        }
        Err(LoadError::Cel(m)) => (Plan::default(), Some(m), true),
        Err(e) => return Err(e),
    };
    let outcome = (error, failed);
    let updated = chamberlain_store::write_tx!(store, audit, |tx| {
        let (error, failed) = outcome.clone();
        let before: AppEntitlementAutomation = tx.must_get(entitlement_id).await?;
        let mut after = before.clone();
        after.last_run_status = Some(EntitlementLastRunStatus {
            error_message: error.unwrap_or_default(),
            last_completed_at: Some(tx.now()),
            status: if failed {
                EntitlementRunStatus::Failed
            } else {
                EntitlementRunStatus::Success
            },
        });
        after.updated_at = Some(tx.now());
        tx.replace(&before, &after).await?;
        Ok(after)
    })?;
    Ok((plan, updated))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn ids(range: std::ops::Range<usize>) -> BTreeSet<String> {
        range.map(|i| format!("u{i:04}")).collect()
    }

    fn inputs(members: BTreeSet<String>, satisfying: BTreeSet<String>) -> Inputs {
        Inputs {
            members,
            satisfying: Some(satisfying),
            ..Default::default()
        }
    }

    #[test]
    fn enrolls_satisfying_and_unenrolls_others() {
        let p = plan(&inputs(ids(0..3), ids(2..5)));
        assert_eq!(p.enroll, vec!["u0003", "u0004"]);
        assert_eq!(p.unenroll, vec!["u0000", "u0001"]);
        assert_eq!(p.paused, None);
    }

    #[test]
    fn removing_exactly_the_threshold_applies() {
        // 100 members, 20 would go: exactly 20% is not more than 20%.
        let p = plan(&inputs(ids(0..100), ids(20..100)));
        assert_eq!(p.unenroll.len(), 20);
        assert!(p.paused.is_none());
        // 21 would go: paused, nothing changes.
        let p = plan(&inputs(ids(0..100), ids(21..105)));
        assert!(p.paused.as_deref().unwrap().contains("21 of 100"), "{p:?}");
        assert!(p.enroll.is_empty() && p.unenroll.is_empty());
    }

    #[test]
    fn small_profiles_are_not_guarded_unless_enforced() {
        let mut i = inputs(ids(0..99), ids(0..10));
        assert_eq!(plan(&i).unenroll.len(), 89);
        i.breaker.enforce_on_small_profiles = true;
        let p = plan(&i);
        assert!(p.paused.is_some());
        assert!(p.unenroll.is_empty());
    }

    #[test]
    fn a_disabled_breaker_never_pauses() {
        let mut i = inputs(ids(0..200), BTreeSet::new());
        assert!(plan(&i).paused.is_some());
        i.breaker.disabled = true;
        assert_eq!(plan(&i).unenroll.len(), 200);
    }

    #[test]
    fn custom_threshold() {
        let mut i = inputs(ids(0..100), ids(40..100));
        assert!(plan(&i).paused.is_some());
        i.breaker.threshold_percent = 40;
        assert_eq!(plan(&i).unenroll.len(), 40);
    }

    #[test]
    fn tripped_stays_paused_until_resumed_then_applies_once() {
        let mut i = inputs(ids(0..100), ids(50..100));
        i.breaker.tripped = true;
        // Even a harmless change waits while tripped.
        let harmless = Inputs {
            breaker: i.breaker.clone(),
            ..inputs(ids(0..100), ids(0..101))
        };
        assert!(plan(&harmless).paused.is_some());
        assert!(plan(&harmless).enroll.is_empty());
        i.breaker.resumed = true;
        let p = plan(&i);
        assert!(p.paused.is_none());
        assert_eq!(p.unenroll.len(), 50);
    }

    #[test]
    fn exclusions_are_left_out_and_reenrolled_when_removed() {
        let mut i = inputs(ids(0..2), ids(0..3));
        i.excluded = ["u0001".to_string(), "u0002".to_string()].into();
        let p = plan(&i);
        assert!(p.enroll.is_empty());
        assert_eq!(p.unenroll, vec!["u0001"]);
        // After the run applied and the exclusion was removed, the user comes back.
        let mut after = inputs(ids(0..1), ids(0..3));
        after.excluded = ["u0002".to_string()].into();
        assert_eq!(plan(&after).enroll, vec!["u0001"]);
        after.excluded.clear();
        assert_eq!(plan(&after).enroll, vec!["u0001", "u0002"]);
    }

    #[test]
    fn undecided_users_keep_their_state_and_none_rule_changes_nothing() {
        let mut i = inputs(ids(0..2), BTreeSet::new());
        i.undecided = ["u0000".to_string()].into();
        assert_eq!(plan(&i).unenroll, vec!["u0001"]);
        let none = Inputs {
            members: ids(0..5),
            satisfying: None,
            ..Default::default()
        };
        assert_eq!(plan(&none), Plan::default());
    }

    #[test]
    fn empty_profile_never_divides_by_zero() {
        let mut i = inputs(BTreeSet::new(), ids(0..3));
        i.breaker.enforce_on_small_profiles = true;
        assert_eq!(plan(&i).enroll.len(), 3);
    }
}
