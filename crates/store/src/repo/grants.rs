//! Grants (account ↔ entitlement) and entitlement proxy bindings.
//!
//! A grant row is live while `deleted_at` is null. It is *direct* when added by hand (or by a
//! connector) and *implied* for every source grant that reaches it through a proxy binding; its
//! `sources` column lists those source entitlements, which the API shows as `grantSources`.
//! Removing the last reason a grant exists soft-deletes it, and the removal propagates along
//! bindings (with cycle protection), so an implied grant disappears with its source.

use crate::page::Page;
use crate::record::{list_page, PageReq, Sql};
use crate::tx::{Activity, Tx};
use crate::{Store, StoreError};
use chamberlain_model::app::{
    AppEntitlement, AppEntitlementProxy, AppEntitlementRef, AppUser, Grant,
};
use chamberlain_model::{new_id, Timestamp};
use sqlx::any::AnyRow;
use sqlx::Row;
use std::collections::HashSet;

const GRANT_COLS: &str = "g.id, g.app_id, g.entitlement_id, g.app_user_id, g.direct, g.sources, g.created_at, g.deprovision_at, g.deleted_at";

/// A grant row with its bookkeeping.
#[derive(Clone, Debug)]
pub struct GrantRow {
    /// Row id (the page key).
    pub id: String,
    /// The C1 object.
    pub grant: Grant,
    /// Whether it was granted directly (not only implied).
    pub direct: bool,
}

/// Reads a grant row selected with [`GRANT_COLS`].
pub fn grant_from_row(r: &AnyRow) -> Result<GrantRow, StoreError> {
    let sources: Vec<AppEntitlementRef> = serde_json::from_str(&r.try_get::<String, _>("sources")?)
        .map_err(|e| StoreError::Corrupt("grant", e.to_string()))?;
    Ok(GrantRow {
        id: r.try_get("id")?,
        direct: r.try_get::<i64, _>("direct")? != 0,
        grant: Grant {
            app_id: r.try_get("app_id")?,
            app_entitlement_id: r.try_get("entitlement_id")?,
            app_user_id: r.try_get("app_user_id")?,
            grant_sources: sources,
            created_at: Some(Timestamp::from_micros(r.try_get("created_at")?)),
            deprovision_at: r
                .try_get::<Option<i64>, _>("deprovision_at")?
                .map(Timestamp::from_micros),
            deleted_at: r
                .try_get::<Option<i64>, _>("deleted_at")?
                .map(Timestamp::from_micros),
        },
    })
}

async fn live_grant(
    tx: &mut Tx<'_>,
    entitlement_id: &str,
    app_user_id: &str,
) -> Result<Option<GrantRow>, StoreError> {
    let mut sql = Sql::new(&format!(
        "SELECT {GRANT_COLS} FROM grants g WHERE g.deleted_at IS NULL AND g.entitlement_id = "
    ));
    sql.arg(entitlement_id)
        .push(" AND g.app_user_id = ")
        .arg(app_user_id);
    let row = sql.query().fetch_optional(tx.conn()).await?;
    row.as_ref().map(grant_from_row).transpose()
}

async fn write_sources(
    tx: &mut Tx<'_>,
    row: &GrantRow,
    direct: bool,
    sources: &[AppEntitlementRef],
) -> Result<(), StoreError> {
    let json =
        serde_json::to_string(sources).map_err(|e| StoreError::Corrupt("grant", e.to_string()))?;
    let mut sql = Sql::new("UPDATE grants SET direct = ");
    sql.arg(i64::from(direct)).push(", sources = ").arg(json);
    if !direct && sources.is_empty() {
        sql.push(", deleted_at = ").arg(tx.now().as_micros());
    }
    sql.push(" WHERE id = ").arg(row.id.as_str());
    tx.exec(&sql).await?;
    Ok(())
}

/// What granting an entitlement to an account needs to know before it writes.
pub struct GrantTarget {
    /// The live entitlement, whatever its app.
    pub entitlement: Option<AppEntitlement>,
    /// The live account with the id asked for, whatever its app.
    pub account: Option<AppUser>,
    /// Whether the app has any live connector (only then can the grant need provisioning).
    pub app_has_connectors: bool,
}

/// Reads an entitlement, an account and whether `app_id` has connectors in one statement:
/// the checks add-manual-user makes before every grant, which on SQLite would otherwise be
/// three round trips to a connection's thread. `account_id` may be empty (no account read).
pub async fn grant_target(
    store: &Store,
    app_id: &str,
    entitlement_id: &str,
    account_id: &str,
) -> Result<GrantTarget, StoreError> {
    // The account's columns keep the names `AppUser::from_row` reads (its `READ` list).
    let mut sql = Sql::new(
        "SELECT e.doc AS entitlement_doc, u.doc, u.identity_user_id, u.linked_at, \
         (SELECT COUNT(*) FROM connectors c WHERE c.deleted_at IS NULL AND c.app_id = ",
    );
    sql.arg(app_id)
        .push(
            ") AS connectors FROM (SELECT 1 AS one) one \
               LEFT JOIN app_entitlements e ON e.deleted_at IS NULL AND e.id = ",
        )
        .arg(entitlement_id)
        .push(" LEFT JOIN app_users u ON u.deleted_at IS NULL AND u.id = ")
        .arg(account_id);
    let text = sql.text_for(store.backend());
    let row = sql.query_text(&text).fetch_one(store.pool()).await?;
    let entitlement = row
        .try_get::<Option<String>, _>("entitlement_doc")?
        .map(|d| crate::record::parse_doc::<AppEntitlement>(&d))
        .transpose()?;
    let account = match row.try_get::<Option<String>, _>("doc")? {
        Some(_) => Some(<AppUser as crate::Record>::from_row(&row)?),
        None => None,
    };
    Ok(GrantTarget {
        entitlement,
        account,
        app_has_connectors: row.try_get::<i64, _>("connectors")? > 0,
    })
}

/// What [`insert_grant`] found.
enum Inserted {
    /// The pair already had a live grant; nothing was written.
    Existing,
    /// A new live grant; `implies` tells whether any live proxy binding has this entitlement
    /// as its source (answered by the same statement, so the common case, no bindings, costs
    /// no second statement inside the write lock).
    New { implies: bool },
}

/// Inserts a live grant row unless the pair already has one.
async fn insert_grant(
    tx: &mut Tx<'_>,
    ent: &AppEntitlement,
    app_user_id: &str,
    direct: bool,
    sources: &[AppEntitlementRef],
    deprovision_at: Option<Timestamp>,
) -> Result<Inserted, StoreError> {
    let json =
        serde_json::to_string(sources).map_err(|e| StoreError::Corrupt("grant", e.to_string()))?;
    let mut sql = Sql::new("INSERT INTO grants (id, app_id, entitlement_id, app_user_id, direct, sources, created_at, deprovision_at, deleted_at) VALUES (");
    sql.arg(new_id())
        .push(", ")
        .arg(ent.app_id.as_str())
        .push(", ")
        .arg(ent.id.as_str())
        .push(", ")
        .arg(app_user_id)
        .push(", ")
        .arg(i64::from(direct))
        .push(", ")
        .arg(json)
        .push(", ")
        .arg(tx.now().as_micros())
        .push(", ")
        .arg(crate::record::Col::OptInt(
            deprovision_at.map(|t| t.as_micros()),
        ))
        .push(
            ", NULL) ON CONFLICT (entitlement_id, app_user_id) WHERE deleted_at IS NULL DO NOTHING \
             RETURNING (SELECT COUNT(*) FROM entitlement_proxies p \
             WHERE p.deleted_at IS NULL AND p.src_entitlement_id = ",
        )
        .arg(ent.id.as_str())
        .push(")");
    let text = sql.text_for(tx.backend());
    let row = sql.query_text(&text).fetch_optional(tx.conn()).await?;
    Ok(match row {
        None => Inserted::Existing,
        Some(r) => Inserted::New {
            implies: r.try_get::<i64, _>(0)? > 0,
        },
    })
}

/// Grants `ent` directly to an account (idempotent), then applies proxy bindings.
/// Returns whether a new live grant came into being.
pub async fn grant_direct(
    tx: &mut Tx<'_>,
    ent: &AppEntitlement,
    app_user_id: &str,
    deprovision_at: Option<Timestamp>,
) -> Result<bool, StoreError> {
    // Insert first, look second: a new grant (the common case) costs one statement inside the
    // write lock instead of two.
    let inserted = insert_grant(tx, ent, app_user_id, true, &[], deprovision_at).await?;
    let created = matches!(inserted, Inserted::New { .. });
    if !created {
        if let Some(row) = live_grant(tx, &ent.id, app_user_id).await? {
            // Held only through bindings until now: it becomes direct as well.
            if !row.direct {
                write_sources(tx, &row, true, &row.grant.grant_sources).await?;
            }
        }
    }
    let after = serde_json::json!({"appId": ent.app_id, "appEntitlementId": ent.id, "appUserId": app_user_id,
        "deprovisionAt": deprovision_at.map(|t| t.to_string())});
    tx.audit(
        Activity::Create,
        "grant",
        &format!("{}:{}", ent.id, app_user_id),
        None,
        Some(after),
    )
    .await?;
    if let Inserted::New { implies } = inserted {
        if implies {
            let mut seen = HashSet::from([ent.id.clone()]);
            propagate(tx, ent, app_user_id, &mut seen).await?;
        }
        changed(tx, ent, app_user_id, true).await?;
    }
    Ok(created)
}

/// A `grant.changed` change event (same transaction), so features that depend on who holds
/// what (membership automation) react to grants made or removed one at a time.
async fn changed(
    tx: &mut Tx<'_>,
    ent: &AppEntitlement,
    app_user_id: &str,
    granted: bool,
) -> Result<(), StoreError> {
    crate::repo::jobs::append_event(
        tx,
        "grant.changed",
        &ent.app_id,
        &serde_json::json!({"appEntitlementId": ent.id, "appUserId": app_user_id, "granted": granted}),
    )
    .await
    .map(|_| ())
}

/// Removes the direct reason for a grant. The grant stays while a binding still implies it.
/// Returns false when there was no direct grant.
pub async fn revoke_direct(
    tx: &mut Tx<'_>,
    ent: &AppEntitlement,
    app_user_id: &str,
) -> Result<bool, StoreError> {
    let Some(row) = live_grant(tx, &ent.id, app_user_id).await? else {
        return Ok(false);
    };
    if !row.direct {
        return Ok(false);
    }
    write_sources(tx, &row, false, &row.grant.grant_sources).await?;
    let before = serde_json::to_value(&row.grant).ok();
    tx.audit(
        Activity::Delete,
        "grant",
        &format!("{}:{}", ent.id, app_user_id),
        before,
        None,
    )
    .await?;
    if row.grant.grant_sources.is_empty() {
        let mut seen = HashSet::from([ent.id.clone()]);
        retract(tx, ent, app_user_id, &mut seen).await?;
        changed(tx, ent, app_user_id, false).await?;
    }
    Ok(true)
}

/// Live proxy bindings whose source is `src_entitlement_id`.
async fn bindings_from(
    tx: &mut Tx<'_>,
    src_entitlement_id: &str,
) -> Result<Vec<AppEntitlementProxy>, StoreError> {
    let mut sql = Sql::new(
        "SELECT doc FROM entitlement_proxies WHERE deleted_at IS NULL AND src_entitlement_id = ",
    );
    sql.arg(src_entitlement_id);
    let rows = sql.query().fetch_all(tx.conn()).await?;
    rows.iter()
        .map(|r| {
            serde_json::from_str(&r.try_get::<String, _>("doc")?)
                .map_err(|e| StoreError::Corrupt("binding", e.to_string()))
        })
        .collect()
}

/// Accounts in `dst_app_id` that stand for the same person as `app_user_id`: the account itself
/// when the binding stays inside one app, else the accounts linked to the same user.
async fn counterpart_accounts(
    tx: &mut Tx<'_>,
    app_user_id: &str,
    src_app_id: &str,
    dst_app_id: &str,
) -> Result<Vec<String>, StoreError> {
    if src_app_id == dst_app_id {
        return Ok(vec![app_user_id.to_string()]);
    }
    let mut sql = Sql::new(
        "SELECT d.id FROM app_users s JOIN app_users d ON d.identity_user_id = s.identity_user_id \
         WHERE s.id = ",
    );
    sql.arg(app_user_id)
        .push(" AND s.identity_user_id <> '' AND d.deleted_at IS NULL AND d.app_id = ")
        .arg(dst_app_id);
    let rows = sql.query().fetch_all(tx.conn()).await?;
    rows.iter()
        .map(|r| r.try_get::<String, _>(0).map_err(StoreError::from))
        .collect()
}

async fn entitlement(tx: &mut Tx<'_>, id: &str) -> Result<Option<AppEntitlement>, StoreError> {
    tx.get::<AppEntitlement>(id).await
}

/// Applies every binding from `src` for a grant that just became live.
fn propagate<'a>(
    tx: &'a mut Tx<'_>,
    src: &'a AppEntitlement,
    app_user_id: &'a str,
    seen: &'a mut HashSet<String>,
) -> futures::future::BoxFuture<'a, Result<(), StoreError>> {
    Box::pin(async move {
        for b in bindings_from(tx, &src.id).await? {
            if !seen.insert(b.dst_app_entitlement_id.clone()) {
                continue;
            }
            let Some(dst) = entitlement(tx, &b.dst_app_entitlement_id).await? else {
                continue;
            };
            let source = AppEntitlementRef {
                app_id: src.app_id.clone(),
                id: src.id.clone(),
            };
            for account in counterpart_accounts(tx, app_user_id, &src.app_id, &dst.app_id).await? {
                imply(tx, &dst, &account, &source, seen).await?;
            }
            seen.remove(&b.dst_app_entitlement_id);
        }
        Ok(())
    })
}

async fn imply(
    tx: &mut Tx<'_>,
    dst: &AppEntitlement,
    account: &str,
    source: &AppEntitlementRef,
    seen: &mut HashSet<String>,
) -> Result<(), StoreError> {
    match live_grant(tx, &dst.id, account).await? {
        Some(row) => {
            if !row.grant.grant_sources.contains(source) {
                let mut sources = row.grant.grant_sources.clone();
                sources.push(source.clone());
                write_sources(tx, &row, row.direct, &sources).await?;
            }
        }
        None => {
            let inserted =
                insert_grant(tx, dst, account, false, std::slice::from_ref(source), None).await?;
            if matches!(inserted, Inserted::New { implies: true }) {
                propagate(tx, dst, account, seen).await?;
            }
        }
    }
    Ok(())
}

/// Withdraws every binding from `src` for a grant that just stopped being live.
fn retract<'a>(
    tx: &'a mut Tx<'_>,
    src: &'a AppEntitlement,
    app_user_id: &'a str,
    seen: &'a mut HashSet<String>,
) -> futures::future::BoxFuture<'a, Result<(), StoreError>> {
    Box::pin(async move {
        for b in bindings_from(tx, &src.id).await? {
            if !seen.insert(b.dst_app_entitlement_id.clone()) {
                continue;
            }
            if let Some(dst) = entitlement(tx, &b.dst_app_entitlement_id).await? {
                let source = AppEntitlementRef {
                    app_id: src.app_id.clone(),
                    id: src.id.clone(),
                };
                for account in
                    counterpart_accounts(tx, app_user_id, &src.app_id, &dst.app_id).await?
                {
                    unimply(tx, &dst, &account, &source, seen).await?;
                }
            }
            seen.remove(&b.dst_app_entitlement_id);
        }
        Ok(())
    })
}

async fn unimply(
    tx: &mut Tx<'_>,
    dst: &AppEntitlement,
    account: &str,
    source: &AppEntitlementRef,
    seen: &mut HashSet<String>,
) -> Result<(), StoreError> {
    let Some(row) = live_grant(tx, &dst.id, account).await? else {
        return Ok(());
    };
    if !row.grant.grant_sources.contains(source) {
        return Ok(());
    }
    let sources: Vec<_> = row
        .grant
        .grant_sources
        .iter()
        .filter(|s| *s != source)
        .cloned()
        .collect();
    write_sources(tx, &row, row.direct, &sources).await?;
    if !row.direct && sources.is_empty() {
        retract(tx, dst, account, seen).await?;
    }
    Ok(())
}

/// Every live account holding `entitlement_id`.
async fn holders(tx: &mut Tx<'_>, entitlement_id: &str) -> Result<Vec<String>, StoreError> {
    let mut sql =
        Sql::new("SELECT app_user_id FROM grants WHERE deleted_at IS NULL AND principal_kind = 'app_user' AND entitlement_id = ");
    sql.arg(entitlement_id);
    let rows = sql.query().fetch_all(tx.conn()).await?;
    rows.iter()
        .map(|r| r.try_get::<String, _>(0).map_err(StoreError::from))
        .collect()
}

/// Reads a live binding, on any executor (a transaction or the pool).
async fn binding_on<'c, E: sqlx::Executor<'c, Database = sqlx::Any>>(
    e: E,
    src_entitlement_id: &str,
    dst_entitlement_id: &str,
) -> Result<Option<AppEntitlementProxy>, StoreError> {
    let mut sql = Sql::new(
        "SELECT doc FROM entitlement_proxies WHERE deleted_at IS NULL AND src_entitlement_id = ",
    );
    sql.arg(src_entitlement_id)
        .push(" AND dst_entitlement_id = ")
        .arg(dst_entitlement_id);
    let row = sql.query().fetch_optional(e).await?;
    row.map(|r| {
        serde_json::from_str(&r.try_get::<String, _>("doc")?)
            .map_err(|e| StoreError::Corrupt("binding", e.to_string()))
    })
    .transpose()
}

/// Reads a live binding inside a transaction.
pub async fn get_binding(
    tx: &mut Tx<'_>,
    src_entitlement_id: &str,
    dst_entitlement_id: &str,
) -> Result<Option<AppEntitlementProxy>, StoreError> {
    binding_on(tx.conn(), src_entitlement_id, dst_entitlement_id).await
}

/// Creates a binding and implies the destination for every current holder of the source.
pub async fn create_binding(
    tx: &mut Tx<'_>,
    src: &AppEntitlement,
    dst: &AppEntitlement,
) -> Result<AppEntitlementProxy, StoreError> {
    if src.id == dst.id {
        return Err(StoreError::Invalid(
            "an entitlement cannot be bound to itself".into(),
        ));
    }
    if get_binding(tx, &src.id, &dst.id).await?.is_some() {
        return Err(StoreError::Conflict(format!(
            "a binding from `{}` to `{}` already exists",
            src.id, dst.id
        )));
    }
    let now = tx.now();
    let proxy = AppEntitlementProxy {
        src_app_id: src.app_id.clone(),
        src_app_entitlement_id: src.id.clone(),
        dst_app_id: dst.app_id.clone(),
        dst_app_entitlement_id: dst.id.clone(),
        implicit: None,
        system_builtin: false,
        disabled_at: None,
        created_at: Some(now),
        updated_at: Some(now),
        deleted_at: None,
    };
    let doc =
        serde_json::to_string(&proxy).map_err(|e| StoreError::Corrupt("binding", e.to_string()))?;
    let mut sql = Sql::new("INSERT INTO entitlement_proxies (id, src_app_id, src_entitlement_id, dst_app_id, dst_entitlement_id, created_at, deleted_at, doc) VALUES (");
    sql.arg(new_id())
        .push(", ")
        .arg(src.app_id.as_str())
        .push(", ")
        .arg(src.id.as_str())
        .push(", ")
        .arg(dst.app_id.as_str())
        .push(", ")
        .arg(dst.id.as_str())
        .push(", ")
        .arg(now.as_micros())
        .push(", NULL, ")
        .arg(doc)
        .push(")");
    tx.exec(&sql).await?;
    tx.audit(
        Activity::Create,
        "entitlement proxy binding",
        &format!("{}:{}", src.id, dst.id),
        None,
        serde_json::to_value(&proxy).ok(),
    )
    .await?;
    let source = AppEntitlementRef {
        app_id: src.app_id.clone(),
        id: src.id.clone(),
    };
    for holder in holders(tx, &src.id).await? {
        let mut seen = HashSet::from([src.id.clone(), dst.id.clone()]);
        for account in counterpart_accounts(tx, &holder, &src.app_id, &dst.app_id).await? {
            imply(tx, dst, &account, &source, &mut seen).await?;
        }
    }
    Ok(proxy)
}

/// Deletes a binding; grants it implied disappear unless something else still justifies them.
pub async fn delete_binding(
    tx: &mut Tx<'_>,
    src: &AppEntitlement,
    dst: &AppEntitlement,
) -> Result<(), StoreError> {
    let Some(mut proxy) = get_binding(tx, &src.id, &dst.id).await? else {
        return Err(StoreError::not_found(
            "entitlement proxy binding",
            format!("{} -> {}", src.id, dst.id),
        ));
    };
    let before = serde_json::to_value(&proxy).ok();
    let now = tx.now();
    proxy.deleted_at = Some(now);
    let doc =
        serde_json::to_string(&proxy).map_err(|e| StoreError::Corrupt("binding", e.to_string()))?;
    let mut sql = Sql::new("UPDATE entitlement_proxies SET deleted_at = ");
    sql.arg(now.as_micros())
        .push(", doc = ")
        .arg(doc)
        .push(" WHERE deleted_at IS NULL AND src_entitlement_id = ")
        .arg(src.id.as_str())
        .push(" AND dst_entitlement_id = ")
        .arg(dst.id.as_str());
    tx.exec(&sql).await?;
    tx.audit(
        Activity::Delete,
        "entitlement proxy binding",
        &format!("{}:{}", src.id, dst.id),
        before,
        None,
    )
    .await?;
    let source = AppEntitlementRef {
        app_id: src.app_id.clone(),
        id: src.id.clone(),
    };
    for holder in holders(tx, &src.id).await? {
        let mut seen = HashSet::from([src.id.clone(), dst.id.clone()]);
        for account in counterpart_accounts(tx, &holder, &src.app_id, &dst.app_id).await? {
            unimply(tx, dst, &account, &source, &mut seen).await?;
        }
    }
    Ok(())
}

/// Sets or clears the end of a live grant.
pub async fn set_deprovision_at(
    tx: &mut Tx<'_>,
    entitlement_id: &str,
    app_user_id: &str,
    at: Option<Timestamp>,
) -> Result<Grant, StoreError> {
    let Some(row) = live_grant(tx, entitlement_id, app_user_id).await? else {
        return Err(StoreError::not_found(
            "grant",
            format!("{entitlement_id} for app user {app_user_id}"),
        ));
    };
    let mut sql = Sql::new("UPDATE grants SET deprovision_at = ");
    sql.arg(crate::record::Col::OptInt(at.map(|t| t.as_micros())))
        .push(" WHERE id = ")
        .arg(row.id.as_str());
    tx.exec(&sql).await?;
    let mut after = row.grant.clone();
    after.deprovision_at = at;
    tx.audit(
        Activity::Update,
        "grant",
        &format!("{entitlement_id}:{app_user_id}"),
        serde_json::to_value(&row.grant).ok(),
        serde_json::to_value(&after).ok(),
    )
    .await?;
    Ok(after)
}

/// Which grants a listing includes.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum GrantState {
    /// Live and not past `deprovisionAt`: current access.
    Current,
    /// Every grant ever made, including expired and removed ones.
    All,
}

/// Filters for [`search`].
#[derive(Clone, Debug, Default)]
pub struct GrantQuery {
    /// Only these entitlements.
    pub entitlement_ids: Vec<String>,
    /// Only these apps.
    pub app_ids: Vec<String>,
    /// Only these accounts.
    pub app_user_ids: Vec<String>,
    /// Only accounts linked to this user.
    pub identity_user_id: Option<String>,
    /// Only entitlements on these resources.
    pub resource_ids: Vec<String>,
    /// Only entitlements on resources of these types.
    pub resource_type_ids: Vec<String>,
    /// Only entitlements with these slugs.
    pub slugs: Vec<String>,
    /// Only entitlements with these purposes.
    pub purposes: Vec<String>,
}

/// Lists grants matching `q`, paginated by grant id.
pub async fn search(
    store: &Store,
    q: &GrantQuery,
    state: GrantState,
    page: &PageReq,
) -> Result<Page<GrantRow>, StoreError> {
    let needs_entitlement = !q.resource_ids.is_empty()
        || !q.resource_type_ids.is_empty()
        || !q.slugs.is_empty()
        || !q.purposes.is_empty();
    let mut sql = Sql::new(&format!("SELECT {GRANT_COLS} FROM grants g"));
    if needs_entitlement {
        sql.push(" JOIN app_entitlements e ON e.id = g.entitlement_id");
    }
    if let Some(uid) = &q.identity_user_id {
        sql.push(" JOIN app_users u ON u.id = g.app_user_id AND u.identity_user_id = ")
            .arg(uid.as_str());
    }
    // Grants to non-account principals (groups) are kept for sync fidelity but are not
    // "who has access" rows; listings show accounts.
    sql.push(" WHERE g.principal_kind = 'app_user'");
    if state == GrantState::Current {
        sql.push(" AND g.deleted_at IS NULL AND (g.deprovision_at IS NULL OR g.deprovision_at > ")
            .arg(Timestamp::now().as_micros())
            .push(")");
    }
    let lists: [(&str, &Vec<String>); 7] = [
        ("g.entitlement_id", &q.entitlement_ids),
        ("g.app_id", &q.app_ids),
        ("g.app_user_id", &q.app_user_ids),
        ("e.resource_id", &q.resource_ids),
        ("e.resource_type_id", &q.resource_type_ids),
        ("e.slug", &q.slugs),
        ("e.purpose", &q.purposes),
    ];
    for (col, vals) in lists {
        if !vals.is_empty() {
            sql.push(" AND ")
                .push(col)
                .push(" IN (")
                .list(vals)
                .push(")");
        }
    }
    list_page(store.pool(), sql, "grants", page, "g.id", grant_from_row).await
}

/// Counts current grants per entitlement for a page of entitlements (for `grantCount`).
pub async fn count_by_entitlement(
    store: &Store,
    entitlement_ids: &[String],
) -> Result<std::collections::HashMap<String, i64>, StoreError> {
    if entitlement_ids.is_empty() {
        return Ok(Default::default());
    }
    let mut sql = Sql::new("SELECT entitlement_id, COUNT(*) AS n FROM grants WHERE deleted_at IS NULL AND principal_kind = 'app_user' AND entitlement_id IN (");
    sql.list(entitlement_ids).push(") GROUP BY entitlement_id");
    let rows = sql.query().fetch_all(store.pool()).await?;
    rows.iter()
        .map(|r| Ok((r.try_get::<String, _>(0)?, r.try_get::<i64, _>(1)?)))
        .collect()
}

/// Counts distinct accounts with a current grant in each app (for `userCount`).
pub async fn count_users_by_app(
    store: &Store,
    app_ids: &[String],
) -> Result<std::collections::HashMap<String, i64>, StoreError> {
    if app_ids.is_empty() {
        return Ok(Default::default());
    }
    let mut sql = Sql::new("SELECT app_id, COUNT(DISTINCT app_user_id) AS n FROM grants WHERE deleted_at IS NULL AND principal_kind = 'app_user' AND app_id IN (");
    sql.list(app_ids).push(") GROUP BY app_id");
    let rows = sql.query().fetch_all(store.pool()).await?;
    rows.iter()
        .map(|r| Ok((r.try_get::<String, _>(0)?, r.try_get::<i64, _>(1)?)))
        .collect()
}

/// Soft-deletes every live grant matching a column (cascade from a deleted app, entitlement or
/// account). Bindings are not followed: the caller deletes whole subgraphs.
pub async fn delete_where(tx: &mut Tx<'_>, column: &str, value: &str) -> Result<u64, StoreError> {
    let mut sql = Sql::new("UPDATE grants SET deleted_at = ");
    sql.arg(tx.now().as_micros())
        .push(" WHERE deleted_at IS NULL AND ")
        .push(column)
        .push(" = ")
        .arg(value);
    tx.exec(&sql).await
}

/// Removes every grant of an entitlement that is being deleted, withdrawing what they implied.
pub async fn remove_all_holders(tx: &mut Tx<'_>, ent: &AppEntitlement) -> Result<(), StoreError> {
    let accounts = holders(tx, &ent.id).await?;
    delete_where(tx, "entitlement_id", &ent.id).await?;
    for account in accounts {
        let mut seen = HashSet::from([ent.id.clone()]);
        retract(tx, ent, &account, &mut seen).await?;
    }
    Ok(())
}

/// Reads a live binding outside a transaction.
pub async fn find_binding(
    store: &Store,
    src_entitlement_id: &str,
    dst_entitlement_id: &str,
) -> Result<Option<AppEntitlementProxy>, StoreError> {
    binding_on(store.pool(), src_entitlement_id, dst_entitlement_id).await
}

/// A grant to insert in bulk.
#[derive(Clone, Debug)]
pub struct NewGrant {
    /// App of the entitlement.
    pub app_id: String,
    /// Entitlement granted.
    pub entitlement_id: String,
    /// Principal: an account id (or a resource id when `principal_kind` is `app_resource`).
    pub principal_id: String,
    /// `app_user` or `app_resource`.
    pub principal_kind: &'static str,
    /// Source entitlements (expansion or bindings).
    pub sources: Vec<AppEntitlementRef>,
    /// Reported by a connector (vs. added by hand).
    pub synced: bool,
}

/// Inserts direct grants with multi-row INSERTs inside the caller's transaction. The caller
/// guarantees the pairs are new (the live-pair unique index refuses duplicates) and audits a
/// summary. Bindings are not propagated: bulk paths load whole snapshots.
pub async fn bulk_insert(
    conn: &mut sqlx::AnyConnection,
    grants: &[NewGrant],
    created_at: i64,
) -> Result<u64, StoreError> {
    let mut written = 0;
    // 6 bound values per row; see tx::BULK_PARAMS.
    for part in grants.chunks(crate::BULK_PARAMS / 6) {
        let mut sql = Sql::new("INSERT INTO grants (id, app_id, entitlement_id, app_user_id, direct, sources, created_at, deprovision_at, deleted_at, principal_kind, synced) VALUES ");
        for (i, g) in part.iter().enumerate() {
            let sources = serde_json::to_string(&g.sources)
                .map_err(|e| StoreError::Corrupt("grant", e.to_string()))?;
            sql.push(if i == 0 { "(" } else { ", (" });
            sql.arg(new_id())
                .push(", ")
                .arg(g.app_id.as_str())
                .push(", ")
                .arg(g.entitlement_id.as_str())
                .push(", ")
                .arg(g.principal_id.as_str())
                .push(", 1, ")
                .arg(sources)
                .push(", ")
                .arg(created_at)
                .push(", NULL, NULL, ")
                .arg(g.principal_kind)
                .push(", ")
                .arg(i64::from(g.synced))
                .push(")");
        }
        written += sql.query().execute(&mut *conn).await?.rows_affected();
    }
    Ok(written)
}
