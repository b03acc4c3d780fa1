//! The sync engine: maps a source snapshot onto an app and applies the difference.
//!
//! Objects are matched to what earlier syncs created through `external_ids` (source id → our
//! id), so a re-sync updates in place. New objects are created, changed ones rewritten, and
//! vanished ones soft-deleted; synced grants that vanished are soft-deleted too (their history
//! stays searchable), while grants added by hand are left alone. An unchanged re-sync writes
//! nothing. Everything happens in one transaction, so a failed sync leaves the previous data.

use crate::c1z::proto::{self, type_urls, Resource, ResourceId};
use crate::c1z::{GrantRecord, Snapshot};
use chamberlain_model::app::{
    AppEntitlement, AppEntitlementRef, AppResource, AppResourceType, AppUser, AppUserStatus,
    AppUserStatusValue, AppUserType, EntitlementPurpose,
};
use chamberlain_model::{new_id, Timestamp};
use chamberlain_store::record::{self, Col, Record, Sql};
use chamberlain_store::repo::grants::{self as grant_rows, NewGrant};
use chamberlain_store::repo::jobs;
use chamberlain_store::{Activity, AuditCtx, Store, StoreError, Tx};
use prost::Message;
use serde::{Deserialize, Serialize};
use sqlx::Row;
use std::collections::{BTreeMap, HashMap, HashSet};

/// Added / changed / removed counts for one kind of object.
#[derive(Clone, Debug, Default, Serialize, Deserialize, PartialEq, Eq)]
#[serde(rename_all = "camelCase")]
pub struct Counts {
    /// Total in the source.
    pub total: u64,
    /// Newly created.
    pub added: u64,
    /// Updated.
    pub changed: u64,
    /// Soft-deleted because the source no longer has them.
    pub removed: u64,
}

/// What one sync did, per kind of object.
#[derive(Clone, Debug, Default, Serialize, Deserialize, PartialEq, Eq)]
#[serde(rename_all = "camelCase")]
pub struct SyncCounts {
    /// App resource types.
    pub resource_types: Counts,
    /// App resources.
    pub resources: Counts,
    /// Accounts.
    pub app_users: Counts,
    /// Entitlements.
    pub entitlements: Counts,
    /// Grants.
    pub grants: Counts,
}

/// The source snapshot mapped to C1 objects keyed by source id, not yet matched to stored ones.
struct Desired {
    types: BTreeMap<String, AppResourceType>,
    resources: BTreeMap<String, AppResource>,
    users: BTreeMap<String, AppUser>,
    entitlements: BTreeMap<String, AppEntitlement>,
    /// As read: the bulk of a large sync, so not copied into another shape.
    grants: Vec<GrantRecord>,
}

fn rid_key(id: &ResourceId) -> String {
    format!("{}:{}", id.resource_type, id.resource)
}

fn user_trait(r: &Resource) -> Option<proto::UserTrait> {
    r.annotations
        .iter()
        .find(|a| a.type_url.ends_with(type_urls::USER_TRAIT))
        .and_then(|a| proto::UserTrait::decode(a.value.as_slice()).ok())
}

fn status_of(code: i32, details: &str) -> AppUserStatus {
    let status = match code {
        1 => AppUserStatusValue::Enabled,
        2 => AppUserStatusValue::Disabled,
        3 => AppUserStatusValue::Deleted,
        _ => AppUserStatusValue::Unspecified,
    };
    AppUserStatus {
        status,
        details: details.to_string(),
    }
}

/// Maps the snapshot, moving its grants (the bulk of a large sync) so they are not held
/// twice.
fn map_snapshot(app_id: &str, mut snap: Snapshot) -> Desired {
    let mut d = Desired {
        types: BTreeMap::new(),
        resources: BTreeMap::new(),
        users: BTreeMap::new(),
        entitlements: BTreeMap::new(),
        grants: vec![],
    };
    let mut user_types: HashSet<String> = HashSet::new();
    for rt in &snap.resource_types {
        if rt.traits.contains(&1) {
            user_types.insert(rt.id.clone());
        }
        let display_name = if rt.display_name.is_empty() {
            rt.id.clone()
        } else {
            rt.display_name.clone()
        };
        d.types.insert(
            rt.id.clone(),
            AppResourceType {
                app_id: app_id.to_string(),
                display_name,
                trait_ids: rt
                    .traits
                    .iter()
                    .map(|t| proto::trait_name(*t).to_string())
                    .collect(),
                ..Default::default()
            },
        );
    }
    for r in &snap.resources {
        let Some(id) = &r.id else { continue };
        let key = rid_key(id);
        d.resources.insert(
            key.clone(),
            AppResource {
                app_id: app_id.to_string(),
                display_name: if r.display_name.is_empty() {
                    id.resource.clone()
                } else {
                    r.display_name.clone()
                },
                description: r.description.clone(),
                external_id: key.clone(),
                profile: r.profile.as_ref().map(proto::struct_to_json),
                // Type and parent links are filled with our ids when applying.
                app_resource_type_id: id.resource_type.clone(),
                parent_app_resource_type_id: r
                    .parent_resource_id
                    .as_ref()
                    .map(|p| p.resource_type.clone())
                    .unwrap_or_default(),
                parent_app_resource_id: r
                    .parent_resource_id
                    .as_ref()
                    .map(rid_key)
                    .unwrap_or_default(),
                ..Default::default()
            },
        );
        let trait_ = user_trait(r);
        if trait_.is_none() && !user_types.contains(&id.resource_type) {
            continue;
        }
        let t = trait_.unwrap_or_default();
        let primary = t
            .emails
            .iter()
            .find(|e| e.is_primary)
            .or(t.emails.first())
            .map(|e| e.address.clone())
            .unwrap_or_default();
        let mut usernames: Vec<String> = Vec::new();
        if !t.login.is_empty() {
            usernames.push(t.login.clone());
        }
        usernames.extend(t.login_aliases.iter().filter(|a| !a.is_empty()).cloned());
        let status = r
            .status
            .as_ref()
            .or(t.status.as_ref())
            .map(|s| status_of(s.status, &s.details));
        let profile = r
            .profile
            .as_ref()
            .or(t.profile.as_ref())
            .map(proto::struct_to_json);
        d.users.insert(
            key,
            AppUser {
                app_id: app_id.to_string(),
                display_name: r.display_name.clone(),
                email: primary,
                emails: t.emails.iter().map(|e| e.address.clone()).collect(),
                employee_ids: t.employee_ids.clone(),
                username: usernames.first().cloned().unwrap_or_default(),
                usernames,
                status,
                app_user_type: match t.account_type {
                    2 => AppUserType::ServiceAccount,
                    3 => AppUserType::SystemAccount,
                    _ => AppUserType::User,
                },
                profile,
                ..Default::default()
            },
        );
    }
    for e in &snap.entitlements {
        let res = e
            .resource
            .as_ref()
            .and_then(|r| r.id.clone())
            .unwrap_or_default();
        d.entitlements.insert(
            e.id.clone(),
            AppEntitlement {
                app_id: app_id.to_string(),
                display_name: if e.display_name.is_empty() {
                    e.id.clone()
                } else {
                    e.display_name.clone()
                },
                description: e.description.clone(),
                slug: e.slug.clone(),
                purpose: match e.purpose {
                    1 => EntitlementPurpose::Assignment,
                    2 => EntitlementPurpose::Permission,
                    3 => EntitlementPurpose::Ownership,
                    _ => EntitlementPurpose::Unspecified,
                },
                external_id: e.id.clone(),
                app_resource_type_id: res.resource_type.clone(),
                app_resource_id: rid_key(&res),
                ..Default::default()
            },
        );
    }
    d.grants = std::mem::take(&mut snap.grants);
    d
}

/// Records `source id → (object id, source digest)` links for one kind of an app, in bulk.
async fn remember(
    tx: &mut Tx<'_>,
    app_id: &str,
    kind: &str,
    links: &[(String, String, String)],
) -> Result<(), StoreError> {
    for part in links.chunks(chamberlain_store::BULK_PARAMS / 5) {
        let mut sql = Sql::new(
            "INSERT INTO external_ids (app_id, kind, external_id, object_id, source_hash) VALUES ",
        );
        for (i, (external, object_id, digest)) in part.iter().enumerate() {
            sql.push(if i == 0 { "(" } else { ", (" })
                .arg(app_id)
                .push(", ")
                .arg(kind)
                .push(", ")
                .arg(external.as_str())
                .push(", ")
                .arg(object_id.as_str())
                .push(", ")
                .arg(digest.as_str())
                .push(")");
        }
        sql.push(
            " ON CONFLICT (app_id, kind, external_id) DO UPDATE SET object_id = excluded.object_id, source_hash = excluded.source_hash",
        );
        tx.exec(&sql).await?;
    }
    Ok(())
}

/// Something a sync writes that carries its own id and timestamps.
trait Synced: Record + Clone + PartialEq {
    const EXTERNAL_KIND: &'static str;
    fn set_identity(&mut self, id: String, created: Option<Timestamp>, updated: Option<Timestamp>);
    fn created_at(&self) -> Option<Timestamp>;
    fn updated_at(&self) -> Option<Timestamp>;
}

macro_rules! synced {
    ($t:ty, $kind:literal) => {
        impl Synced for $t {
            const EXTERNAL_KIND: &'static str = $kind;
            fn set_identity(
                &mut self,
                id: String,
                created: Option<Timestamp>,
                updated: Option<Timestamp>,
            ) {
                self.id = id;
                self.created_at = created;
                self.updated_at = updated;
            }
            fn created_at(&self) -> Option<Timestamp> {
                self.created_at
            }
            fn updated_at(&self) -> Option<Timestamp> {
                self.updated_at
            }
        }
    };
}
synced!(AppResourceType, "resource_type");
synced!(AppResource, "resource");
synced!(AppUser, "app_user");
synced!(AppEntitlement, "entitlement");

/// How much of a kind [`reconcile`] handles.
#[derive(Clone, Copy, PartialEq, Eq)]
enum Pass {
    /// Create what is missing; leave existing and vanished objects alone.
    CreateMissing,
    /// Create, update and soft-delete.
    Full,
}

/// Digest of what the source says about an object (before ids and kept fields are merged in).
fn source_digest<T: Serialize>(want: &T) -> Result<String, StoreError> {
    use sha2::{Digest, Sha256};
    let bytes = serde_json::to_vec(want).map_err(|e| StoreError::Corrupt("sync", e.to_string()))?;
    let d = Sha256::digest(&bytes);
    Ok(d[..16].iter().map(|b| format!("{b:02x}")).collect())
}

/// Creates, updates or soft-deletes one kind so the app matches `desired`; returns counts and
/// the source id → object id map of what is now live.
///
/// An object whose source digest matches the one recorded at the last sync is unchanged and
/// is not even loaded; only objects the source changed are read, merged and compared.
async fn reconcile<T: Synced>(
    tx: &mut Tx<'_>,
    app_id: &str,
    desired: BTreeMap<String, T>,
    pass: Pass,
    keep_fields: impl Fn(&T, &mut T),
) -> Result<(Counts, HashMap<String, String>), StoreError> {
    let mut state = KindState::load::<T>(tx, app_id).await?;
    reconcile_with(tx, app_id, &mut state, desired, pass, keep_fields).await
}

/// What earlier syncs left of one kind of an app, as [`reconcile_with`] compares against it.
#[derive(Default)]
struct KindState {
    /// Source id → (object id, source digest), for every object a sync ever created.
    known: HashMap<String, (String, String)>,
    /// Ids of the kind's objects that are not deleted.
    live_ids: HashSet<String>,
}

impl KindState {
    async fn load<T: Synced>(tx: &mut Tx<'_>, app_id: &str) -> Result<KindState, StoreError> {
        let mut links = Sql::new(
            "SELECT external_id, object_id, source_hash FROM external_ids WHERE app_id = ",
        );
        links.arg(app_id).push(" AND kind = ").arg(T::EXTERNAL_KIND);
        let mut state = KindState::default();
        for r in links.query().fetch_all(tx.conn()).await? {
            state
                .known
                .insert(r.try_get(0)?, (r.try_get(1)?, r.try_get(2)?));
        }
        if !state.known.is_empty() {
            let mut sql = Sql::new(&format!(
                "SELECT id FROM {} WHERE deleted_at IS NULL AND app_id = ",
                T::TABLE
            ));
            sql.arg(app_id);
            for r in sql.query().fetch_all(tx.conn()).await? {
                state.live_ids.insert(r.try_get(0)?);
            }
        }
        Ok(state)
    }
}

/// [`reconcile`] against a state already loaded; the state is updated with what it creates
/// and re-links, so a second pass over the same kind needs no second read.
async fn reconcile_with<T: Synced>(
    tx: &mut Tx<'_>,
    app_id: &str,
    state: &mut KindState,
    desired: BTreeMap<String, T>,
    pass: Pass,
    keep_fields: impl Fn(&T, &mut T),
) -> Result<(Counts, HashMap<String, String>), StoreError> {
    let KindState { known, live_ids } = state;
    let mut counts = Counts {
        total: desired.len() as u64,
        ..Default::default()
    };
    let mut live = HashMap::with_capacity(desired.len());
    let mut created: Vec<T> = Vec::new();
    let mut changed_links: Vec<(String, String, String)> = Vec::new();
    let mut to_compare: Vec<(String, String, String, T)> = Vec::new();
    let now = tx.now();
    for (ext, mut want) in desired {
        match known.get(&ext) {
            Some((id, stored)) if live_ids.contains(id) => {
                if pass == Pass::Full {
                    let digest = source_digest(&want)?;
                    if *stored != digest {
                        to_compare.push((ext.clone(), id.clone(), digest, want));
                    }
                }
                live.insert(ext, id.clone());
            }
            _ => {
                let digest = source_digest(&want)?;
                let id = new_id();
                want.set_identity(id.clone(), Some(now), Some(now));
                created.push(want);
                changed_links.push((ext.clone(), id.clone(), digest));
                counts.added += 1;
                live.insert(ext, id);
            }
        }
    }
    tx.create_many(&created).await?;
    drop(created);
    // Objects the source changed: load them (in chunks), merge what Chamberlain owns, compare.
    for part in to_compare.chunks(500) {
        let mut sql = Sql::new(&format!(
            "SELECT {} FROM {} WHERE id IN (",
            T::READ,
            T::TABLE
        ));
        for (i, (_, id, _, _)) in part.iter().enumerate() {
            if i > 0 {
                sql.push(", ");
            }
            sql.arg(id.as_str());
        }
        sql.push(")");
        let mut current: HashMap<String, T> = record::fetch_docs::<T, _>(tx.conn(), &sql)
            .await?
            .into_iter()
            .map(|o| (o.id().to_string(), o))
            .collect();
        for (ext, id, digest, want) in part {
            let Some(have) = current.remove(id) else {
                continue;
            };
            let mut want = want.clone();
            want.set_identity(have.id().to_string(), have.created_at(), have.updated_at());
            keep_fields(&have, &mut want);
            if want != have {
                want.set_identity(have.id().to_string(), have.created_at(), Some(now));
                tx.replace(&have, &want).await?;
                counts.changed += 1;
            }
            changed_links.push((ext.clone(), id.clone(), digest.clone()));
        }
    }
    if pass == Pass::Full {
        for (ext, (id, _)) in known.iter() {
            if !live.contains_key(ext) && live_ids.contains(id) {
                tx.soft_delete::<T>(id).await?;
                counts.removed += 1;
            }
        }
    }
    remember(tx, app_id, T::EXTERNAL_KIND, &changed_links).await?;
    for (ext, id, digest) in changed_links {
        live_ids.insert(id.clone());
        known.insert(ext, (id, digest));
    }
    Ok((counts, live))
}

/// A sync run as recorded and listed.
#[derive(Clone, Debug, Serialize, Deserialize, PartialEq)]
#[serde(rename_all = "camelCase")]
pub struct SyncRun {
    /// Run id.
    pub id: String,
    /// App synced.
    pub app_id: String,
    /// Connector that produced the data (empty for uploads without one).
    pub connector_id: String,
    /// Source sync id (Baton's).
    pub source_sync_id: String,
    /// When the run started.
    pub started_at: Timestamp,
    /// When it finished.
    pub completed_at: Option<Timestamp>,
    /// `SYNC_STATUS_DONE` or `SYNC_STATUS_ERROR`.
    pub status: String,
    /// Error text when it failed.
    pub last_error: String,
    /// Duration in milliseconds.
    pub duration_ms: i64,
    /// What changed.
    pub counts: SyncCounts,
}

/// Applies `snap` to `app_id` in one transaction and records the run.
pub async fn apply(
    store: &Store,
    audit: &AuditCtx,
    app_id: &str,
    connector_id: &str,
    snap: Snapshot,
) -> Result<SyncRun, StoreError> {
    apply_locked(store, audit, app_id, connector_id, snap, None).await
}

/// [`apply`] for a sync that holds the app's sync lock as `lock_owner`: the transaction commits
/// only if the lock is still held, so a sync that outlived its lease changes nothing. When
/// anything changed, an `app.synced` change event lands in the same transaction.
pub async fn apply_locked(
    store: &Store,
    audit: &AuditCtx,
    app_id: &str,
    connector_id: &str,
    snap: Snapshot,
    lock_owner: Option<&str>,
) -> Result<SyncRun, StoreError> {
    let started = std::time::Instant::now();
    let started_at = Timestamp::now();
    let run_id = new_id();
    let source_sync_id = snap.sync_id.clone();
    let desired = map_snapshot(app_id, snap);
    tracing::debug!(
        elapsed_ms = started.elapsed().as_millis() as u64,
        "sync: snapshot mapped"
    );
    let counts = chamberlain_store::write_tx!(store, audit, |tx| {
        let counts = apply_in(tx, app_id, &desired).await?;
        if let Some(owner) = lock_owner {
            jobs::check_sync_lock(tx, app_id, owner).await?;
        }
        if counts.changed_anything() {
            let doc = serde_json::json!({
                "syncRunId": run_id,
                "connectorId": connector_id,
                "counts": counts,
            });
            jobs::append_event(tx, EVENT_APP_SYNCED, app_id, &doc).await?;
            // Its accounts changed: who they belong to may have too.
            chamberlain_store::repo::identity::mark_app_changed(tx, app_id).await?;
        }
        Ok(counts)
    })?;
    tracing::debug!(
        elapsed_ms = started.elapsed().as_millis() as u64,
        "sync: committed"
    );
    let run = SyncRun {
        id: run_id,
        app_id: app_id.to_string(),
        connector_id: connector_id.to_string(),
        source_sync_id,
        started_at,
        completed_at: Some(Timestamp::now()),
        status: "SYNC_STATUS_DONE".into(),
        last_error: String::new(),
        duration_ms: started.elapsed().as_millis() as i64,
        counts,
    };
    insert_run(store, &run).await?;
    Ok(run)
}

/// Change event written when a sync changed an app: `{syncRunId, connectorId, counts}`.
pub const EVENT_APP_SYNCED: &str = "app.synced";

impl SyncCounts {
    /// Whether the sync added, changed or removed anything.
    pub fn changed_anything(&self) -> bool {
        [
            &self.resource_types,
            &self.resources,
            &self.app_users,
            &self.entitlements,
            &self.grants,
        ]
        .iter()
        .any(|c| c.added + c.changed + c.removed > 0)
    }
}

async fn apply_in(tx: &mut Tx<'_>, app_id: &str, d: &Desired) -> Result<SyncCounts, StoreError> {
    let mut out = SyncCounts::default();
    let phase = std::time::Instant::now();
    let (c, type_ids) = reconcile(tx, app_id, d.types.clone(), Pass::Full, |_, _| {}).await?;
    out.resource_types = c;
    // Resources: link type and parent by our ids. Parents are resolved from the snapshot's own
    // keys first (two passes: create all, then the parent links resolve).
    let mut resources = d.resources.clone();
    for r in resources.values_mut() {
        r.app_resource_type_id = type_ids
            .get(&r.app_resource_type_id)
            .cloned()
            .unwrap_or_default();
        r.parent_app_resource_type_id = type_ids
            .get(&r.parent_app_resource_type_id)
            .cloned()
            .unwrap_or_default();
    }
    let parents: Vec<(String, String)> = resources
        .iter()
        .map(|(k, r)| (k.clone(), r.parent_app_resource_id.clone()))
        .collect();
    for r in resources.values_mut() {
        r.parent_app_resource_id = String::new();
    }
    let mut state = KindState::load::<AppResource>(tx, app_id).await?;
    let (c, _) = reconcile_with(
        tx,
        app_id,
        &mut state,
        resources.clone(),
        Pass::CreateMissing,
        |_, _| {},
    )
    .await?;
    for (k, parent) in &parents {
        if let Some((pid, _)) = state.known.get(parent) {
            if let Some(r) = resources.get_mut(k) {
                r.parent_app_resource_id = pid.clone();
            }
        }
    }
    let (c2, resource_ids) =
        reconcile_with(tx, app_id, &mut state, resources, Pass::Full, |_, _| {}).await?;
    out.resources = Counts {
        total: c.total,
        added: c.added,
        changed: c2.changed,
        removed: c2.removed,
    };
    // Accounts keep the user they were linked to (directory resolution owns that link).
    let (c, user_ids) = reconcile(tx, app_id, d.users.clone(), Pass::Full, |have, want| {
        want.identity_user_id = have.identity_user_id.clone()
    })
    .await?;
    out.app_users = c;
    tracing::debug!(
        elapsed_ms = phase.elapsed().as_millis() as u64,
        "sync: types, resources and accounts applied"
    );
    let mut ents = d.entitlements.clone();
    for e in ents.values_mut() {
        e.app_resource_type_id = type_ids
            .get(&e.app_resource_type_id)
            .cloned()
            .unwrap_or_default();
        e.app_resource_id = resource_ids
            .get(&e.app_resource_id)
            .cloned()
            .unwrap_or_default();
    }
    // Settings an admin sets on an entitlement (policies, durations, owners) survive a sync.
    let (c, ent_ids) = reconcile(tx, app_id, ents, Pass::Full, |have, want| {
        let mut merged = have.clone();
        merged.display_name = want.display_name.clone();
        merged.description = want.description.clone();
        merged.slug = want.slug.clone();
        merged.purpose = want.purpose;
        merged.external_id = want.external_id.clone();
        merged.app_resource_id = want.app_resource_id.clone();
        merged.app_resource_type_id = want.app_resource_type_id.clone();
        merged.grant_count = have.grant_count;
        *want = merged;
    })
    .await?;
    out.entitlements = c;
    tracing::debug!(
        elapsed_ms = phase.elapsed().as_millis() as u64,
        "sync: entitlements applied"
    );
    out.grants = reconcile_grants(tx, app_id, d, &ent_ids, &user_ids, &resource_ids).await?;
    tracing::debug!(
        elapsed_ms = phase.elapsed().as_millis() as u64,
        "sync: grants applied"
    );
    Ok(out)
}

/// New grants are written in batches of this many, so they are never all held at once.
const GRANT_FLUSH: usize = 10_000;

async fn reconcile_grants(
    tx: &mut Tx<'_>,
    app_id: &str,
    d: &Desired,
    ent_ids: &HashMap<String, String>,
    user_ids: &HashMap<String, String>,
    resource_ids: &HashMap<String, String>,
) -> Result<Counts, StoreError> {
    let started = std::time::Instant::now();
    let current = CurrentGrants::load(tx, app_id).await?;
    let CurrentGrants {
        mut pairs,
        exceptions,
    } = current;
    tracing::debug!(
        elapsed_ms = started.elapsed().as_millis() as u64,
        pairs = pairs.values().map(HashMap::len).sum::<usize>(),
        exceptions = exceptions.values().map(HashMap::len).sum::<usize>(),
        "sync: current grants loaded"
    );
    let mut counts = Counts {
        total: d.grants.len() as u64,
        ..Default::default()
    };
    let mut new_grants: Vec<NewGrant> = Vec::with_capacity(GRANT_FLUSH);
    let now = tx.now().as_micros();
    // The principal's source key (see `rid_key`), built in one buffer rather than allocated
    // per grant.
    let mut key = String::new();
    for g in &d.grants {
        let Some(ent_id) = ent_ids.get(&g.entitlement_id) else {
            continue;
        };
        key.clear();
        key.push_str(&g.principal.resource_type);
        key.push(':');
        key.push_str(&g.principal.resource);
        // A principal with the user trait is granted as its account, anything else as a
        // resource.
        let (principal_id, is_account) = match user_ids.get(key.as_str()) {
            Some(id) => (id, true),
            None => match resource_ids.get(key.as_str()) {
                Some(id) => (id, false),
                None => continue,
            },
        };
        let refs: Vec<AppEntitlementRef> = g
            .sources
            .iter()
            .filter_map(|s| ent_ids.get(s))
            .map(|id| AppEntitlementRef {
                app_id: app_id.to_string(),
                id: id.clone(),
            })
            .collect();
        // Each pair is looked up once: held pairs are marked as reported, new ones are added
        // already marked, so a pair the source lists twice is seen as a repeat.
        let held = match pairs
            .get_mut(ent_id.as_str())
            .and_then(|p| p.get_mut(principal_id.as_str()))
        {
            Some(true) => continue,
            Some(reported) => {
                *reported = true;
                true
            }
            None => {
                pairs
                    .entry(ent_id.clone())
                    .or_default()
                    .insert(principal_id.clone(), true);
                false
            }
        };
        if !held {
            new_grants.push(NewGrant {
                app_id: app_id.to_string(),
                entitlement_id: ent_id.clone(),
                principal_id: principal_id.clone(),
                principal_kind: if is_account {
                    "app_user"
                } else {
                    "app_resource"
                },
                sources: refs,
                synced: true,
            });
            if new_grants.len() >= GRANT_FLUSH {
                grant_rows::bulk_insert(tx.conn(), &new_grants, now).await?;
                new_grants.clear();
            }
            counts.added += 1;
            continue;
        }
        // Held: unchanged unless the row is an exception (added by hand, or with sources) or
        // the source now derives it from other entitlements.
        let exception = exceptions
            .get(ent_id.as_str())
            .and_then(|m| m.get(principal_id.as_str()));
        if exception.is_none() && refs.is_empty() {
            continue;
        }
        let sources_json = serde_json::to_string(&refs)
            .map_err(|e| StoreError::Corrupt("grant", e.to_string()))?;
        let mut up = Sql::new("UPDATE grants SET ");
        match exception {
            // The source confirms a grant added by hand: it becomes a synced grant.
            Some(row) if !row.synced => {
                up.push("synced = 1, sources = ").arg(sources_json);
                counts.added += 1;
            }
            Some(row) if row.sources == sources_json => continue,
            _ => {
                up.push("sources = ").arg(sources_json);
                counts.changed += 1;
            }
        }
        up.push(" WHERE deleted_at IS NULL AND entitlement_id = ")
            .arg(ent_id.as_str())
            .push(" AND app_user_id = ")
            .arg(principal_id.as_str());
        tx.exec(&up).await?;
    }
    grant_rows::bulk_insert(tx.conn(), &new_grants, now).await?;
    tracing::debug!(
        elapsed_ms = started.elapsed().as_millis() as u64,
        "sync: grants compared and added"
    );
    // Pairs the source did not report vanished from it; grants added by hand stay.
    for (ent_id, principals) in &pairs {
        let gone: Vec<&String> = principals
            .iter()
            .filter(|(_, reported)| !**reported)
            .map(|(p, _)| p)
            .filter(|p| {
                exceptions
                    .get(ent_id)
                    .and_then(|m| m.get(p.as_str()))
                    .is_none_or(|row| row.synced)
            })
            .collect();
        counts.removed += gone.len() as u64;
        for part in gone.chunks(500) {
            let mut del = Sql::new("UPDATE grants SET deleted_at = ");
            del.arg(now)
                .push(" WHERE deleted_at IS NULL AND entitlement_id = ")
                .arg(ent_id.as_str())
                .push(" AND app_user_id IN (");
            for (i, p) in part.iter().enumerate() {
                if i > 0 {
                    del.push(", ");
                }
                del.arg(p.as_str());
            }
            del.push(")");
            tx.exec(&del).await?;
        }
    }
    if counts.added + counts.changed + counts.removed > 0 {
        let summary = serde_json::json!({"added": counts.added, "changed": counts.changed, "removed": counts.removed, "total": counts.total});
        tx.audit(
            Activity::Update,
            "app grants (sync)",
            app_id,
            None,
            Some(summary),
        )
        .await?;
    }
    Ok(counts)
}

/// A live grant a sync must read in full (see migration 0022): added by hand, or with sources.
struct ExceptionRow {
    synced: bool,
    sources: String,
}

/// An app's live grants as a sync compares them.
struct CurrentGrants {
    /// Entitlement id → principal id → whether the source reported the pair in this sync,
    /// for every live grant (synced and by hand alike); false on load, so what is still false
    /// at the end vanished.
    pairs: HashMap<String, HashMap<String, bool>>,
    /// Entitlement id → principal id → the row, for grants added by hand or with sources.
    /// Every other live grant is synced and derived from nothing.
    exceptions: HashMap<String, HashMap<String, ExceptionRow>>,
}

impl CurrentGrants {
    /// On SQLite, reads entitlement by entitlement, every entitlement the app ever had (so
    /// grants of vanished ones are found too): the pairs come from `grants_live` alone and the
    /// exceptions from `grants_sync_exceptions`, so a million-grant re-sync reads two indexes
    /// instead of a million table rows in account order (one random page per grant: 6 s).
    ///
    /// On PostgreSQL, one query over the app's grants: there the per-entitlement queries took
    /// seconds each inside the sync's transaction right after a large import (not understood
    /// yet; the same statements take milliseconds outside it), while the app-wide read is a
    /// single pass.
    async fn load(tx: &mut Tx<'_>, app_id: &str) -> Result<CurrentGrants, StoreError> {
        let mut pairs: HashMap<String, HashMap<String, bool>> = HashMap::new();
        let mut exceptions: HashMap<String, HashMap<String, ExceptionRow>> = HashMap::new();
        if tx.backend() == chamberlain_store::Backend::Postgres {
            let mut sql = Sql::new("SELECT entitlement_id, string_agg(app_user_id, ',') FROM grants WHERE deleted_at IS NULL AND app_id = ");
            sql.arg(app_id).push(" GROUP BY entitlement_id");
            add_pairs(&mut pairs, sql.query().fetch_all(tx.conn()).await?)?;
            let mut sql = Sql::new("SELECT entitlement_id, app_user_id, synced, sources FROM grants WHERE deleted_at IS NULL AND (synced = 0 OR sources <> '[]') AND app_id = ");
            sql.arg(app_id);
            add_exceptions(&mut exceptions, sql.query().fetch_all(tx.conn()).await?)?;
            return Ok(CurrentGrants { pairs, exceptions });
        }
        let mut ents_sql = Sql::new("SELECT id FROM app_entitlements WHERE app_id = ");
        ents_sql.arg(app_id);
        let all_ents: Vec<String> = ents_sql
            .query()
            .fetch_all(tx.conn())
            .await?
            .iter()
            .map(|r| r.try_get(0))
            .collect::<Result<_, _>>()?;
        for part in all_ents.chunks(200) {
            let mut sql = Sql::new(
                "SELECT entitlement_id, group_concat(app_user_id, ',') FROM grants WHERE deleted_at IS NULL AND entitlement_id IN (",
            );
            sql.list(part).push(") GROUP BY entitlement_id");
            add_pairs(&mut pairs, sql.query().fetch_all(tx.conn()).await?)?;
            // The condition repeats the index's own, literally, so the planner can use it.
            let mut sql = Sql::new(
                "SELECT entitlement_id, app_user_id, synced, sources FROM grants WHERE deleted_at IS NULL AND (synced = 0 OR sources <> '[]') AND entitlement_id IN (",
            );
            sql.list(part).push(")");
            add_exceptions(&mut exceptions, sql.query().fetch_all(tx.conn()).await?)?;
        }
        Ok(CurrentGrants { pairs, exceptions })
    }
}

/// Adds `(entitlement id, comma-joined principal ids)` rows to `pairs`. One row per
/// entitlement instead of one per grant: a million rows through the driver cost seconds, the
/// database joins the ids in a fraction of that (ids are generated and never hold a comma).
fn add_pairs(
    pairs: &mut HashMap<String, HashMap<String, bool>>,
    rows: Vec<sqlx::any::AnyRow>,
) -> Result<(), StoreError> {
    for r in rows {
        let ids: String = r.try_get(1)?;
        pairs
            .entry(r.try_get(0)?)
            .or_default()
            .extend(ids.split(',').map(|id| (id.to_string(), false)));
    }
    Ok(())
}

/// Adds `(entitlement id, principal id, synced, sources)` rows to `exceptions`.
fn add_exceptions(
    exceptions: &mut HashMap<String, HashMap<String, ExceptionRow>>,
    rows: Vec<sqlx::any::AnyRow>,
) -> Result<(), StoreError> {
    for r in rows {
        exceptions.entry(r.try_get(0)?).or_default().insert(
            r.try_get(1)?,
            ExceptionRow {
                synced: r.try_get::<i64, _>(2)? == 1,
                sources: r.try_get(3)?,
            },
        );
    }
    Ok(())
}

/// Lists an app's sync runs, newest first.
pub async fn list_runs(
    store: &Store,
    app_id: &str,
    limit: i64,
) -> Result<Vec<SyncRun>, StoreError> {
    let mut sql = Sql::new("SELECT doc FROM sync_runs WHERE app_id = ");
    sql.arg(app_id).push(" ORDER BY id DESC LIMIT ").arg(limit);
    let rows = sql.query().fetch_all(store.pool()).await?;
    rows.iter()
        .map(|r| {
            serde_json::from_str(&r.try_get::<String, _>(0)?)
                .map_err(|e| StoreError::Corrupt("sync run", e.to_string()))
        })
        .collect()
}

/// Records a sync that failed before or while applying, so it shows in the connector's history.
pub async fn record_failure(
    store: &Store,
    app_id: &str,
    connector_id: &str,
    started_at: Timestamp,
    error: &str,
) -> Result<SyncRun, StoreError> {
    let now = Timestamp::now();
    let run = SyncRun {
        id: new_id(),
        app_id: app_id.to_string(),
        connector_id: connector_id.to_string(),
        source_sync_id: String::new(),
        started_at,
        completed_at: Some(now),
        status: "SYNC_STATUS_ERROR".into(),
        last_error: error.to_string(),
        duration_ms: (now.as_micros() - started_at.as_micros()) / 1000,
        counts: SyncCounts::default(),
    };
    insert_run(store, &run).await?;
    Ok(run)
}

async fn insert_run(store: &Store, run: &SyncRun) -> Result<(), StoreError> {
    let doc =
        serde_json::to_string(run).map_err(|e| StoreError::Corrupt("sync run", e.to_string()))?;
    let mut sql = Sql::new("INSERT INTO sync_runs (id, app_id, connector_id, started_at, completed_at, status, doc) VALUES (");
    sql.arg(run.id.as_str())
        .push(", ")
        .arg(run.app_id.as_str())
        .push(", ")
        .arg(run.connector_id.as_str())
        .push(", ")
        .arg(run.started_at.as_micros())
        .push(", ")
        .arg(Col::OptInt(run.completed_at.map(|t| t.as_micros())))
        .push(", ")
        .arg(run.status.as_str())
        .push(", ")
        .arg(doc)
        .push(")");
    sql.query().execute(store.pool()).await?;
    Ok(())
}
