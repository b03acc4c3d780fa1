//! Access profiles (C1 request catalogs), their requestable entries and visibility bindings,
//! membership automation, and the built-in app that represents them (migration 0009).
//!
//! Each catalog is a resource of the built-in app ([`BUILTIN_APP_ID`], named "Chamberlain";
//! C1 calls it the "C1" app) with an *enrollment entitlement*: membership of the catalog is a
//! live grant of that entitlement to the user's account in the built-in app
//! ([`ensure_builtin_account`]).
//!
//! The requestability questions the request path asks are answered here:
//! [`visible_catalog_ids`], [`requestable_via`], [`catalog_for_enrollment`] and
//! [`catalog_entitlements`]. They take a connection (`&mut *tx.conn()` in a transaction, or
//! `&mut store.pool().acquire().await?` outside one).

use crate::page::Page;
use crate::record::{self, doc_of, list_page, parse_doc, Col, PageReq, Record, Sql};
use crate::repo::grants;
use crate::repo::identity::{set_link_source, LinkSource};
use crate::tx::{Activity, Tx};
use crate::{Store, StoreError};
use chamberlain_model::app::{
    App, AppEntitlement, AppEntitlementRef, AppResource, AppResourceType, AppUser, AppUserStatus,
    AppUserStatusValue, AppUserType, EntitlementPurpose,
};
use chamberlain_model::catalog::{AppEntitlementAutomation, BundleAutomation, RequestCatalog};
use chamberlain_model::user::User;
use chamberlain_model::{new_id, Timestamp};
use serde_json::json;
use sqlx::{AnyConnection, Row};
use std::collections::BTreeSet;

/// The built-in app's fixed id: concurrent first uses collide on the primary key instead of
/// creating two apps.
pub const BUILTIN_APP_ID: &str = "0000000000000000Chamberlain";
/// The built-in app's display name.
pub const BUILTIN_APP_NAME: &str = "Chamberlain";
/// The fixed id of the built-in app's "Access profile" resource type.
pub const PROFILE_RESOURCE_TYPE_ID: &str = "000000000000000ProfileType1";
/// Slug of every enrollment entitlement.
pub const ENROLLMENT_SLUG: &str = "member";

impl Record for RequestCatalog {
    const TABLE: &'static str = "request_catalogs";
    const KIND: &'static str = "request catalog";
    fn id(&self) -> &str {
        &self.id
    }
    fn columns(&self) -> Vec<(&'static str, Col)> {
        vec![
            ("display_name_lc", self.display_name.to_lowercase().into()),
            ("published", self.published.into()),
            ("visible_to_everyone", self.visible_to_everyone.into()),
            ("request_bundle", self.request_bundle.into()),
            (
                "enrollment_entitlement_id",
                self.enrollment_entitlement_id.clone().into(),
            ),
            (
                "created_at",
                Col::Int(self.created_at.map(|t| t.as_micros()).unwrap_or(0)),
            ),
            (
                "deleted_at",
                Col::OptInt(self.deleted_at.map(|t| t.as_micros())),
            ),
        ]
    }
    fn set_deleted(&mut self, at: Timestamp) {
        self.deleted_at = Some(at);
        self.updated_at = Some(at);
    }
}

impl Record for BundleAutomation {
    const TABLE: &'static str = "bundle_automations";
    const KIND: &'static str = "bundle automation";
    fn id(&self) -> &str {
        &self.request_catalog_id
    }
    fn columns(&self) -> Vec<(&'static str, Col)> {
        vec![
            (
                "created_at",
                Col::Int(self.created_at.map(|t| t.as_micros()).unwrap_or(0)),
            ),
            (
                "deleted_at",
                Col::OptInt(self.deleted_at.map(|t| t.as_micros())),
            ),
        ]
    }
    fn set_deleted(&mut self, at: Timestamp) {
        self.deleted_at = Some(at);
        self.updated_at = Some(at);
    }
}

impl Record for AppEntitlementAutomation {
    const TABLE: &'static str = "entitlement_automations";
    const KIND: &'static str = "app entitlement automation";
    fn id(&self) -> &str {
        &self.app_entitlement_id
    }
    fn columns(&self) -> Vec<(&'static str, Col)> {
        vec![
            ("app_id", self.app_id.clone().into()),
            (
                "created_at",
                Col::Int(self.created_at.map(|t| t.as_micros()).unwrap_or(0)),
            ),
            (
                "deleted_at",
                Col::OptInt(self.deleted_at.map(|t| t.as_micros())),
            ),
        ]
    }
    fn set_deleted(&mut self, at: Timestamp) {
        self.deleted_at = Some(at);
        self.updated_at = Some(at);
    }
}

/// Inserts `r` unless a row with its id exists (`ON CONFLICT DO NOTHING`, which waits for a
/// concurrent inserter's commit on PostgreSQL), auditing only a real insert. Returns whether
/// this call inserted it.
async fn insert_if_absent<R: Record>(tx: &mut Tx<'_>, r: &R) -> Result<bool, StoreError> {
    let cols = r.columns();
    let mut sql = Sql::new(&format!("INSERT INTO {} (id, doc", R::TABLE));
    for (c, _) in &cols {
        sql.push(", ").push(c);
    }
    sql.push(") VALUES (")
        .arg(r.id())
        .push(", ")
        .arg(doc_of(r)?);
    for (_, v) in cols {
        sql.push(", ").arg(v);
    }
    sql.push(") ON CONFLICT (id) DO NOTHING");
    let inserted = tx.exec(&sql).await? == 1;
    if inserted {
        tx.audit(
            Activity::Create,
            R::KIND,
            r.id(),
            None,
            serde_json::to_value(r).ok(),
        )
        .await?;
    }
    Ok(inserted)
}

/// The built-in app with its "Access profile" resource type, created on first use.
pub async fn ensure_builtin_app(tx: &mut Tx<'_>) -> Result<App, StoreError> {
    let now = tx.now();
    let app = App {
        id: BUILTIN_APP_ID.into(),
        display_name: BUILTIN_APP_NAME.into(),
        description: "Built-in app: each access profile is a resource here, and membership of a profile is a grant of its enrollment entitlement.".into(),
        is_manually_managed: true,
        created_at: Some(now),
        updated_at: Some(now),
        ..Default::default()
    };
    insert_if_absent(tx, &app).await?;
    let rt = AppResourceType {
        id: PROFILE_RESOURCE_TYPE_ID.into(),
        app_id: BUILTIN_APP_ID.into(),
        display_name: "Access profile".into(),
        trait_ids: vec![],
        created_at: Some(now),
        updated_at: Some(now),
        deleted_at: None,
    };
    insert_if_absent(tx, &rt).await?;
    record::get::<App, _>(&mut *tx.conn(), BUILTIN_APP_ID, true)
        .await?
        .ok_or_else(|| StoreError::not_found("app", BUILTIN_APP_ID))
}

fn enrollment_name(catalog_name: &str) -> String {
    format!("{catalog_name} member")
}

/// Creates a catalog with its resource and enrollment entitlement in the built-in app (sets
/// `enrollment_entitlement_id`). Returns the stored catalog.
pub async fn create_catalog(
    tx: &mut Tx<'_>,
    mut catalog: RequestCatalog,
) -> Result<RequestCatalog, StoreError> {
    ensure_builtin_app(tx).await?;
    let now = tx.now();
    let resource = AppResource {
        id: new_id(),
        app_id: BUILTIN_APP_ID.into(),
        app_resource_type_id: PROFILE_RESOURCE_TYPE_ID.into(),
        display_name: catalog.display_name.clone(),
        description: catalog.description.clone(),
        external_id: catalog.id.clone(),
        created_at: Some(now),
        updated_at: Some(now),
        ..Default::default()
    };
    tx.create(&resource).await?;
    let ent = AppEntitlement {
        id: new_id(),
        app_id: BUILTIN_APP_ID.into(),
        app_resource_id: resource.id.clone(),
        app_resource_type_id: PROFILE_RESOURCE_TYPE_ID.into(),
        display_name: enrollment_name(&catalog.display_name),
        description: format!("Membership of the access profile `{}`", catalog.id),
        slug: ENROLLMENT_SLUG.into(),
        purpose: EntitlementPurpose::Assignment,
        system_builtin: true,
        is_manually_managed: true,
        created_at: Some(now),
        updated_at: Some(now),
        ..Default::default()
    };
    tx.create(&ent).await?;
    catalog.enrollment_entitlement_id = ent.id.clone();
    catalog.access_entitlements.clear();
    tx.create(&catalog).await?;
    Ok(catalog)
}

/// Replaces a catalog; a new name renames its resource and enrollment entitlement.
pub async fn update_catalog(
    tx: &mut Tx<'_>,
    before: &RequestCatalog,
    after: &RequestCatalog,
) -> Result<(), StoreError> {
    tx.replace(before, after).await?;
    if before.display_name != after.display_name {
        if let Some(ent) = tx
            .get::<AppEntitlement>(&after.enrollment_entitlement_id)
            .await?
        {
            let mut e2 = ent.clone();
            e2.display_name = enrollment_name(&after.display_name);
            e2.updated_at = Some(tx.now());
            tx.replace(&ent, &e2).await?;
            if let Some(res) = tx.get::<AppResource>(&ent.app_resource_id).await? {
                let mut r2 = res.clone();
                r2.display_name = after.display_name.clone();
                r2.updated_at = Some(tx.now());
                tx.replace(&res, &r2).await?;
            }
        }
    }
    Ok(())
}

/// Soft-deletes a catalog, its resource and enrollment entitlement (memberships end), its
/// automation, and removes its entries and visibility bindings.
pub async fn delete_catalog(tx: &mut Tx<'_>, id: &str) -> Result<RequestCatalog, StoreError> {
    let catalog = tx.soft_delete::<RequestCatalog>(id).await?;
    if let Some(ent) = tx
        .get::<AppEntitlement>(&catalog.enrollment_entitlement_id)
        .await?
    {
        grants::remove_all_holders(tx, &ent).await?;
        clear_exclusions(tx, &ent.id).await?;
        tx.soft_delete::<AppEntitlement>(&ent.id).await?;
        if tx.get::<AppResource>(&ent.app_resource_id).await?.is_some() {
            tx.soft_delete::<AppResource>(&ent.app_resource_id).await?;
        }
    }
    if tx.get::<BundleAutomation>(id).await?.is_some() {
        tx.soft_delete::<BundleAutomation>(id).await?;
    }
    for link in [Link::Entries, Link::Visibility] {
        let mut sql = Sql::new(&format!("DELETE FROM {} WHERE catalog_id = ", link.table()));
        sql.arg(id);
        tx.exec(&sql).await?;
    }
    Ok(catalog)
}

/// The user's account in the built-in app, created (linked to the user, link source manual)
/// when they have none. Returns its id.
pub async fn ensure_builtin_account(tx: &mut Tx<'_>, user_id: &str) -> Result<String, StoreError> {
    ensure_builtin_app(tx).await?;
    // One id per user, so two replicas enrolling the same user at once collide on the primary
    // key: the loser's transaction is retried and finds the winner's account.
    ensure_local_account(tx, BUILTIN_APP_ID, &format!("cb-{user_id}"), user_id).await
}

/// Whether `user_id` has a live account in `app_id` (read only; see [`ensure_local_account`]).
pub async fn has_local_account(
    pool: &crate::Reader,
    app_id: &str,
    user_id: &str,
) -> Result<bool, StoreError> {
    let mut sql = Sql::new("SELECT id FROM app_users WHERE deleted_at IS NULL AND app_id = ");
    sql.arg(app_id)
        .push(" AND identity_user_id = ")
        .arg(user_id)
        .push(" LIMIT 1");
    Ok(sql.query().fetch_optional(pool).await?.is_some())
}

/// The user's account in an app whose accounts Chamberlain itself keeps (the built-in app, apps
/// of MCP servers), created with `account_id` (linked to the user) when they have none; a
/// soft-deleted one comes back. Returns the account's id.
pub async fn ensure_local_account(
    tx: &mut Tx<'_>,
    app_id: &str,
    account_id: &str,
    user_id: &str,
) -> Result<String, StoreError> {
    let mut sql = Sql::new("SELECT id FROM app_users WHERE deleted_at IS NULL AND app_id = ");
    sql.arg(app_id)
        .push(" AND identity_user_id = ")
        .arg(user_id)
        .push(" ORDER BY id LIMIT 1");
    if let Some(row) = sql.query().fetch_optional(tx.conn()).await? {
        return Ok(row.try_get(0)?);
    }
    let user: User = tx.must_get(user_id).await?;
    let now = tx.now();
    let id = account_id.to_string();
    if let Some(mut old) = record::get::<AppUser, _>(&mut *tx.conn(), &id, true).await? {
        // A soft-deleted account comes back.
        let before = old.clone();
        old.deleted_at = None;
        old.updated_at = Some(now);
        old.identity_user_id = user.id.clone();
        tx.replace(&before, &old).await?;
        return Ok(id);
    }
    let au = AppUser {
        id,
        app_id: app_id.to_string(),
        app_user_type: AppUserType::User,
        display_name: user.display_name.clone(),
        email: user.email.clone(),
        emails: user.emails.clone(),
        identity_user_id: user.id.clone(),
        username: user.username.clone(),
        status: Some(AppUserStatus {
            status: AppUserStatusValue::Enabled,
            details: String::new(),
        }),
        created_at: Some(now),
        updated_at: Some(now),
        ..Default::default()
    };
    match tx.create(&au).await {
        Err(StoreError::Conflict(m)) => return Err(StoreError::Stale(m)),
        other => other?,
    }
    set_link_source(tx, std::slice::from_ref(&au.id), LinkSource::Manual).await?;
    Ok(au.id)
}

/// Which list of entitlements of a catalog.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Link {
    /// Requestable entries.
    Entries,
    /// Visibility bindings (access entitlements).
    Visibility,
}

impl Link {
    fn table(self) -> &'static str {
        match self {
            Link::Entries => "catalog_entries",
            Link::Visibility => "catalog_visibility",
        }
    }
    fn kind(self) -> &'static str {
        match self {
            Link::Entries => "requestable entry",
            Link::Visibility => "catalog visibility binding",
        }
    }
}

/// Whether the catalog lists the entitlement (live or not).
pub async fn has_link(
    conn: &mut AnyConnection,
    link: Link,
    catalog_id: &str,
    entitlement_id: &str,
) -> Result<bool, StoreError> {
    let mut sql = Sql::new(&format!(
        "SELECT 1 FROM {} WHERE catalog_id = ",
        link.table()
    ));
    sql.arg(catalog_id)
        .push(" AND entitlement_id = ")
        .arg(entitlement_id);
    Ok(sql.query().fetch_optional(conn).await?.is_some())
}

/// Adds entitlements to a catalog's list; refs already listed are refused (Conflict).
pub async fn add_links(
    tx: &mut Tx<'_>,
    link: Link,
    catalog_id: &str,
    refs: &[AppEntitlementRef],
) -> Result<(), StoreError> {
    for r in refs {
        if has_link(tx.conn(), link, catalog_id, &r.id).await? {
            return Err(StoreError::Conflict(format!(
                "entitlement `{}` is already a {} of catalog `{catalog_id}`",
                r.id,
                link.kind()
            )));
        }
        let mut sql = Sql::new(&format!(
            "INSERT INTO {} (catalog_id, app_id, entitlement_id, created_at) VALUES (",
            link.table()
        ));
        sql.arg(catalog_id)
            .push(", ")
            .arg(r.app_id.as_str())
            .push(", ")
            .arg(r.id.as_str())
            .push(", ")
            .arg(tx.now().as_micros())
            .push(")");
        tx.exec(&sql).await?;
        tx.audit(
            Activity::Create,
            link.kind(),
            &format!("{catalog_id}:{}", r.id),
            None,
            Some(json!({"catalogId": catalog_id, "appId": r.app_id, "entitlementId": r.id})),
        )
        .await?;
    }
    Ok(())
}

/// Removes entitlements from a catalog's list; a ref not listed is refused (NotFound).
pub async fn remove_links(
    tx: &mut Tx<'_>,
    link: Link,
    catalog_id: &str,
    refs: &[AppEntitlementRef],
) -> Result<(), StoreError> {
    for r in refs {
        let mut sql = Sql::new(&format!("DELETE FROM {} WHERE catalog_id = ", link.table()));
        sql.arg(catalog_id)
            .push(" AND entitlement_id = ")
            .arg(r.id.as_str());
        if tx.exec(&sql).await? == 0 {
            return Err(StoreError::not_found(
                link.kind(),
                format!("{} in catalog {catalog_id}", r.id),
            ));
        }
        tx.audit(
            Activity::Delete,
            link.kind(),
            &format!("{catalog_id}:{}", r.id),
            Some(json!({"catalogId": catalog_id, "appId": r.app_id, "entitlementId": r.id})),
            None,
        )
        .await?;
    }
    Ok(())
}

/// Every `(app_id, entitlement_id)` a catalog lists whose entitlement is live, ordered by
/// entitlement id.
pub async fn links(
    conn: &mut AnyConnection,
    link: Link,
    catalog_id: &str,
) -> Result<Vec<(String, String)>, StoreError> {
    let mut sql = Sql::new(&format!(
        "SELECT l.app_id, l.entitlement_id FROM {} l JOIN app_entitlements e ON e.id = l.entitlement_id \
         WHERE e.deleted_at IS NULL AND l.catalog_id = ",
        link.table()
    ));
    sql.arg(catalog_id).push(" ORDER BY l.entitlement_id");
    let rows = sql.query().fetch_all(conn).await?;
    rows.iter()
        .map(|r| Ok((r.try_get(0)?, r.try_get(1)?)))
        .collect()
}

/// Every entitlement a catalog lists, live or not (for replacing the list).
pub async fn all_links(
    conn: &mut AnyConnection,
    link: Link,
    catalog_id: &str,
) -> Result<Vec<AppEntitlementRef>, StoreError> {
    let mut sql = Sql::new(&format!(
        "SELECT app_id, entitlement_id FROM {} WHERE catalog_id = ",
        link.table()
    ));
    sql.arg(catalog_id).push(" ORDER BY entitlement_id");
    let rows = sql.query().fetch_all(conn).await?;
    rows.iter()
        .map(|r| {
            Ok(AppEntitlementRef {
                app_id: r.try_get(0)?,
                id: r.try_get(1)?,
            })
        })
        .collect()
}

/// The live entitlements requestable through a catalog: `(app_id, entitlement_id)`.
pub async fn catalog_entitlements(
    conn: &mut AnyConnection,
    catalog_id: &str,
) -> Result<Vec<(String, String)>, StoreError> {
    links(conn, Link::Entries, catalog_id).await
}

/// A page of the live entitlements a catalog lists.
pub async fn list_link_entitlements(
    store: &Store,
    link: Link,
    catalog_id: &str,
    page: &PageReq,
) -> Result<Page<AppEntitlement>, StoreError> {
    let mut sql = Sql::new(&format!(
        "SELECT l.entitlement_id, e.doc FROM {} l JOIN app_entitlements e ON e.id = l.entitlement_id \
         WHERE e.deleted_at IS NULL AND l.catalog_id = ",
        link.table()
    ));
    sql.arg(catalog_id);
    let scope = format!("{}:{catalog_id}", link.table());
    list_page(store.pool(), sql, &scope, page, "l.entitlement_id", |r| {
        parse_doc::<AppEntitlement>(&r.try_get::<String, _>("doc")?)
    })
    .await
}

/// The live catalog whose enrollment entitlement is `entitlement_id`, if any.
pub async fn catalog_for_enrollment(
    conn: &mut AnyConnection,
    entitlement_id: &str,
) -> Result<Option<RequestCatalog>, StoreError> {
    if entitlement_id.is_empty() {
        return Ok(None);
    }
    let mut sql = Sql::new(
        "SELECT doc FROM request_catalogs WHERE deleted_at IS NULL AND enrollment_entitlement_id = ",
    );
    sql.arg(entitlement_id);
    Ok(record::fetch_docs::<RequestCatalog, _>(conn, &sql)
        .await?
        .pop())
}

/// `AND` condition: the user holds (a current grant on a live account linked to them) the
/// entitlement in column `ent_col`.
fn push_holds(sql: &mut Sql, ent_col: &str, user_id: &str, now: i64) {
    sql.push(
        " EXISTS (SELECT 1 FROM grants g JOIN app_users u ON u.id = g.app_user_id \
         WHERE g.deleted_at IS NULL AND g.principal_kind = 'app_user' \
         AND (g.deprovision_at IS NULL OR g.deprovision_at > ",
    )
    .arg(now)
    .push(") AND u.deleted_at IS NULL AND u.identity_user_id = ")
    .arg(user_id)
    .push(" AND g.entitlement_id = ")
    .push(ent_col)
    .push(")");
}

/// Published catalogs the user may see: visible to everyone, or the user holds one of their
/// (live) visibility entitlements. Sorted by id.
pub async fn visible_catalog_ids(
    conn: &mut AnyConnection,
    user_id: &str,
) -> Result<Vec<String>, StoreError> {
    let now = Timestamp::now().as_micros();
    let mut sql = Sql::new(
        "SELECT c.id FROM request_catalogs c WHERE c.deleted_at IS NULL AND c.published = 1 \
         AND (c.visible_to_everyone = 1 OR EXISTS (SELECT 1 FROM catalog_visibility v \
         JOIN app_entitlements e ON e.id = v.entitlement_id AND e.deleted_at IS NULL \
         WHERE v.catalog_id = c.id AND",
    );
    push_holds(&mut sql, "v.entitlement_id", user_id, now);
    sql.push(")) ORDER BY c.id");
    let rows = sql.query().fetch_all(conn).await?;
    rows.iter()
        .map(|r| r.try_get::<String, _>(0).map_err(StoreError::from))
        .collect()
}

/// How a user may request an entitlement.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Requestability {
    /// Through this catalog: it lists the entitlement (or, for an enrollment entitlement, is the
    /// catalog itself with `requestBundle`), is published and the user may see it.
    Catalog(String),
    /// The entitlement is in no catalog and is not an enrollment entitlement: C1's default
    /// audience, everyone may request it.
    Open,
    /// Only in catalogs the user cannot see, or an enrollment entitlement of a catalog that is
    /// unpublished, not visible to the user or not requestable as a bundle.
    Hidden,
}

/// Whether and through which catalog `user_id` may request `entitlement_id` of `app_id`.
/// When several visible catalogs list it, the one with the smallest id is named.
pub async fn requestable_via(
    conn: &mut AnyConnection,
    user_id: &str,
    app_id: &str,
    entitlement_id: &str,
) -> Result<Requestability, StoreError> {
    if let Some(c) = catalog_for_enrollment(conn, entitlement_id).await? {
        if app_id == BUILTIN_APP_ID && c.published && c.request_bundle {
            let visible = visible_catalog_ids(conn, user_id).await?;
            if visible.contains(&c.id) {
                return Ok(Requestability::Catalog(c.id));
            }
        }
        return Ok(Requestability::Hidden);
    }
    let mut sql = Sql::new(
        "SELECT ce.catalog_id FROM catalog_entries ce JOIN request_catalogs c ON c.id = ce.catalog_id \
         WHERE c.deleted_at IS NULL AND ce.entitlement_id = ",
    );
    sql.arg(entitlement_id).push(" ORDER BY ce.catalog_id");
    let rows = sql.query().fetch_all(&mut *conn).await?;
    let listed: Vec<String> = rows
        .iter()
        .map(|r| r.try_get::<String, _>(0))
        .collect::<Result<_, _>>()?;
    if listed.is_empty() {
        return Ok(Requestability::Open);
    }
    let visible: BTreeSet<String> = visible_catalog_ids(conn, user_id)
        .await?
        .into_iter()
        .collect();
    Ok(listed
        .into_iter()
        .find(|c| visible.contains(c))
        .map(Requestability::Catalog)
        .unwrap_or(Requestability::Hidden))
}

/// Users holding any of the entitlements now (current grants on live accounts linked to
/// them), sorted and distinct.
pub async fn holders(
    conn: &mut AnyConnection,
    entitlement_ids: &[String],
) -> Result<Vec<String>, StoreError> {
    let mut out = BTreeSet::new();
    let now = Timestamp::now().as_micros();
    for part in entitlement_ids.chunks(crate::BULK_PARAMS) {
        let mut sql = Sql::new(
            "SELECT DISTINCT u.identity_user_id FROM grants g JOIN app_users u ON u.id = g.app_user_id \
             WHERE g.deleted_at IS NULL AND g.principal_kind = 'app_user' \
             AND (g.deprovision_at IS NULL OR g.deprovision_at > ",
        );
        sql.arg(now)
            .push(
                ") AND u.deleted_at IS NULL AND u.identity_user_id <> '' AND g.entitlement_id IN (",
            )
            .list(part)
            .push(")");
        for r in sql.query().fetch_all(&mut *conn).await? {
            out.insert(r.try_get::<String, _>(0)?);
        }
    }
    Ok(out.into_iter().collect())
}

/// Users excluded from an entitlement's automation, sorted.
pub async fn exclusions(
    conn: &mut AnyConnection,
    entitlement_id: &str,
) -> Result<Vec<String>, StoreError> {
    let mut sql = Sql::new("SELECT user_id FROM automation_exclusions WHERE entitlement_id = ");
    sql.arg(entitlement_id).push(" ORDER BY user_id");
    let rows = sql.query().fetch_all(conn).await?;
    rows.iter()
        .map(|r| r.try_get::<String, _>(0).map_err(StoreError::from))
        .collect()
}

/// A page of excluded user ids (keyset on the user id).
pub async fn exclusions_page(
    store: &Store,
    entitlement_id: &str,
    page: &PageReq,
) -> Result<Page<String>, StoreError> {
    let mut sql = Sql::new("SELECT user_id FROM automation_exclusions WHERE entitlement_id = ");
    sql.arg(entitlement_id);
    let scope = format!("exclusions:{entitlement_id}");
    list_page(store.pool(), sql, &scope, page, "user_id", |r| {
        r.try_get::<String, _>(0).map_err(StoreError::from)
    })
    .await
}

/// Adds users to an automation's exclusions (already excluded ones are left as they are).
pub async fn add_exclusions(
    tx: &mut Tx<'_>,
    entitlement_id: &str,
    user_ids: &[String],
) -> Result<(), StoreError> {
    for u in user_ids {
        let mut sql = Sql::new(
            "INSERT INTO automation_exclusions (entitlement_id, user_id, created_at) VALUES (",
        );
        sql.arg(entitlement_id)
            .push(", ")
            .arg(u.as_str())
            .push(", ")
            .arg(tx.now().as_micros())
            .push(") ON CONFLICT (entitlement_id, user_id) DO NOTHING");
        if tx.exec(&sql).await? == 1 {
            tx.audit(
                Activity::Create,
                "automation exclusion",
                &format!("{entitlement_id}:{u}"),
                None,
                Some(json!({"appEntitlementId": entitlement_id, "userId": u})),
            )
            .await?;
        }
    }
    Ok(())
}

/// Removes users from an automation's exclusions; a user not excluded is refused (NotFound).
pub async fn remove_exclusions(
    tx: &mut Tx<'_>,
    entitlement_id: &str,
    user_ids: &[String],
) -> Result<(), StoreError> {
    for u in user_ids {
        let mut sql = Sql::new("DELETE FROM automation_exclusions WHERE entitlement_id = ");
        sql.arg(entitlement_id)
            .push(" AND user_id = ")
            .arg(u.as_str());
        if tx.exec(&sql).await? == 0 {
            return Err(StoreError::not_found(
                "automation exclusion",
                format!("user {u} on entitlement {entitlement_id}"),
            ));
        }
        tx.audit(
            Activity::Delete,
            "automation exclusion",
            &format!("{entitlement_id}:{u}"),
            Some(json!({"appEntitlementId": entitlement_id, "userId": u})),
            None,
        )
        .await?;
    }
    Ok(())
}

/// Removes every exclusion of an entitlement (its automation was deleted).
pub async fn clear_exclusions(tx: &mut Tx<'_>, entitlement_id: &str) -> Result<(), StoreError> {
    let mut sql = Sql::new("DELETE FROM automation_exclusions WHERE entitlement_id = ");
    sql.arg(entitlement_id);
    tx.exec(&sql).await?;
    Ok(())
}

/// A list condition on `app_entitlements` rows: the entitlements `user_id` may request now,
/// by the rules of [`requestable_via`] (in no profile and not an enrollment entitlement; listed
/// in a profile the user can see; or the enrollment entitlement of a visible profile that is
/// requestable as a bundle).
pub async fn requestable_filter(
    conn: &mut AnyConnection,
    user_id: &str,
) -> Result<record::Filter, StoreError> {
    let visible = visible_catalog_ids(conn, user_id).await?;
    let marks = if visible.is_empty() {
        "NULL".to_string()
    } else {
        vec!["?"; visible.len()].join(", ")
    };
    let enrollment = "EXISTS (SELECT 1 FROM request_catalogs rc WHERE rc.deleted_at IS NULL \
                      AND rc.enrollment_entitlement_id = app_entitlements.id";
    let text = format!(
        "(NOT {enrollment}) AND (NOT EXISTS (SELECT 1 FROM catalog_entries ce JOIN request_catalogs rc \
         ON rc.id = ce.catalog_id WHERE rc.deleted_at IS NULL AND ce.entitlement_id = app_entitlements.id) \
         OR EXISTS (SELECT 1 FROM catalog_entries ce WHERE ce.entitlement_id = app_entitlements.id \
         AND ce.catalog_id IN ({marks})))) \
         OR (app_entitlements.app_id = ? AND {enrollment} AND rc.request_bundle = 1 AND rc.id IN ({marks})))"
    );
    let mut args: Vec<Col> = visible.iter().map(|c| Col::Text(c.clone())).collect();
    args.push(Col::Text(BUILTIN_APP_ID.to_string()));
    args.extend(visible.iter().map(|c| Col::Text(c.clone())));
    Ok(record::Filter::Sql(text, args))
}

/// A list condition on `app_entitlements` rows: `user_id` holds the entitlement now
/// (`held`), or does not (`!held`). The same test as [`push_holds`].
pub fn held_filter(user_id: &str, held: bool) -> record::Filter {
    let text = format!(
        "{} EXISTS (SELECT 1 FROM grants g JOIN app_users u ON u.id = g.app_user_id \
         WHERE g.deleted_at IS NULL AND g.principal_kind = 'app_user' \
         AND (g.deprovision_at IS NULL OR g.deprovision_at > ?) AND u.deleted_at IS NULL \
         AND u.identity_user_id = ? AND g.entitlement_id = app_entitlements.id)",
        if held { "" } else { "NOT" }
    );
    record::Filter::Sql(
        text,
        vec![
            Col::Int(Timestamp::now().as_micros()),
            Col::Text(user_id.to_string()),
        ],
    )
}
