//! `c1.api.app.v1.ConnectorService` (connectors under an app) and the c1z upload that feeds a
//! sync, which C1's public spec does not have (Chamberlain extension, documented in the README):
//!
//! - `POST /api/v1/apps/{app_id}/connectors/{connector_id}/c1z`: body = the `.c1z` file
//!   (`application/octet-stream`); imports it as a sync and returns the sync run.
//! - `POST /api/v1/apps/{app_id}/connectors/{connector_id}/file`: body = a CSV/TSV in C1's
//!   file-app template; imports it as a sync.
//! - `GET /api/v1/apps/{app_id}/connectors/{connector_id}/sync_runs`: the connector's syncs.

use super::common::{self, page_req, require_name};
use crate::authz;
use crate::error::{ApiError, ApiResult, Code};
use crate::extract::{Body, Paging};
use crate::state::{AppState, Caller, Shared};
use axum::extract::{Path, State};
use axum::Json;
use chamberlain_model::app::AppUser;
use chamberlain_model::app::{Connector, ConnectorCredential, ConnectorStatus, SyncStatus};
use chamberlain_model::principal::ConnectorScope;
use chamberlain_model::user::{User, UserOrigin, UserStatus, UserType};
use chamberlain_model::{new_id, Timestamp};
use chamberlain_store::record;
use chamberlain_store::repo::clients;
use chamberlain_store::repo::connectors as connector_rows;
use chamberlain_store::repo::jobs;
use chamberlain_store::{Col, Filter, StoreError};
use chamberlain_sync::apply;
use chamberlain_sync::baton::{self, BatonConfig, Provision};
use chamberlain_sync::runner::{self, Source, SyncError};
use chamberlain_sync::schedule::Schedule;
use futures::StreamExt;
use serde::Deserialize;
use serde_json::{json, Value};
use std::io::Write;

/// Largest c1z upload accepted (compressed).
pub const MAX_UPLOAD_BYTES: u64 = 2 << 30;

/// `ConnectorServiceCreateRequest` and `ConnectorServiceCreateDelegatedRequest` (one shape that
/// accepts both sets of fields).
#[derive(Deserialize, Default)]
#[serde(rename_all = "camelCase", default, deny_unknown_fields)]
pub struct CreateRequest {
    catalog_id: String,
    config: Option<Value>,
    description: String,
    display_name: String,
    expand_mask: Option<crate::expand::ExpandMaskBody>,
    user_ids: Vec<String>,
    app_entitlement_owner_refs: Vec<Value>,
    app_managed_state_binding_ref: Option<Value>,
}

/// `ConnectorServiceUpdateRequest`.
#[derive(Deserialize, Default)]
#[serde(rename_all = "camelCase", default, deny_unknown_fields)]
pub struct UpdateRequest {
    connector: Option<Value>,
    expand_mask: Option<crate::expand::ExpandMaskBody>,
    update_mask: Option<String>,
}

/// Job kind of a connector sync.
pub const SYNC_JOB: &str = "connector_sync";

/// The job key that allows one live sync job per connector.
pub fn sync_job_key(connector_id: &str) -> String {
    format!("{SYNC_JOB}:{connector_id}")
}

fn sealing_context(id: &str) -> String {
    format!("connectors:{id}")
}

/// The connector's Baton configuration, decrypted (None when it has none).
pub async fn baton_config(s: &AppState, id: &str) -> ApiResult<Option<BatonConfig>> {
    let sealed = connector_rows::sealed_config(&s.store, id).await?;
    if sealed.is_empty() {
        return Ok(None);
    }
    let plain = s.secrets.open(&sealed, &sealing_context(id)).map_err(|e| {
        ApiError::new(
            Code::Internal,
            format!("connector `{id}`: its configuration cannot be decrypted with this server's key: {e}"),
        )
    })?;
    // Stored before validation rules tightened, or hand-edited: report, don't crash.
    let cfg: BatonConfig = serde_json::from_slice(&plain).map_err(|e| {
        ApiError::precondition(format!(
            "connector `{id}`: its stored configuration is not usable ({e}); update it"
        ))
    })?;
    Ok(Some(cfg))
}

/// Every live connector and whether it has a configuration (for the scheduler).
pub async fn all_connectors(s: &AppState) -> Result<Vec<(Connector, bool)>, StoreError> {
    connector_rows::all_live(&s.store).await
}

/// A connector configuration names a program the server will run, so only Super Admins may
/// set it (an App Admin owning one app must not gain code execution on the server).
fn require_config_admin(caller: &Caller) -> ApiResult<()> {
    if caller.principal.is_super_admin() {
        Ok(())
    } else {
        Err(ApiError::denied(
            "only a Super Admin may set a connector's `config`: it names a program the server runs",
        ))
    }
}

/// Parses `config` from a request: a Baton configuration, or null/absent for none.
fn parse_config(v: &Option<Value>) -> ApiResult<Option<BatonConfig>> {
    match v {
        None | Some(Value::Null) => Ok(None),
        Some(v) => BatonConfig::from_json(v)
            .map(Some)
            .map_err(ApiError::invalid),
    }
}

async fn view(s: &AppState, mut c: Connector) -> ApiResult<Value> {
    c.config = baton_config(s, &c.id)
        .await
        .ok()
        .flatten()
        .map(|cfg| cfg.redacted());
    Ok(
        json!({"connectorView": {"connector": c, "appPath": "", "capabilitiesPath": "", "usersPath": ""}, "expanded": []}),
    )
}

async fn connector(s: &AppState, app_id: &str, id: &str) -> ApiResult<Connector> {
    let c: Connector = common::load(s, "connector_id", id).await?;
    if c.app_id != app_id {
        return Err(ApiError::not_found(format!(
            "connector `{id}` was not found in app `{app_id}`"
        )));
    }
    Ok(c)
}

async fn create_any(
    s: &AppState,
    caller: &Caller,
    app_id: String,
    r: CreateRequest,
) -> ApiResult<Json<Value>> {
    common::check_id("app_id", &app_id)?;
    authz::require_app_write(s, caller, &app_id).await?;
    common::app(s, &app_id).await?;
    if !r.app_entitlement_owner_refs.is_empty() || r.app_managed_state_binding_ref.is_some() {
        return Err(ApiError::new(
            Code::Unimplemented,
            "appEntitlementOwnerRefs and appManagedStateBindingRef are not supported yet",
        ));
    }
    let _ = r.expand_mask;
    common::users_exist(s, &r.user_ids).await?;
    let display_name = if r.display_name.trim().is_empty() {
        "Connector".to_string()
    } else {
        r.display_name.trim().to_string()
    };
    require_name("displayName", &display_name)?;
    let config = parse_config(&r.config)?;
    if config.is_some() {
        require_config_admin(caller)?;
    }
    let now = Timestamp::now();
    let id = new_id();
    let sealed = seal(s, &id, config.as_ref());
    let c = Connector {
        id: id.clone(),
        app_id,
        display_name,
        description: r.description,
        catalog_id: r.catalog_id,
        user_ids: r.user_ids,
        config_updated_at: config.as_ref().map(|_| now),
        status: Some(ConnectorStatus {
            updated_at: Some(now),
            ..Default::default()
        }),
        created_at: Some(now),
        updated_at: Some(now),
        ..Default::default()
    };
    chamberlain_store::write_tx!(s.store, &caller.audit(), |tx| {
        tx.create(&c).await?;
        connector_rows::set_sealed_config(tx, &c.id, &sealed).await
    })?;
    Ok(Json(view(s, c).await?))
}

fn seal(s: &AppState, id: &str, config: Option<&BatonConfig>) -> String {
    match config {
        Some(cfg) => s.secrets.seal(
            &serde_json::to_vec(cfg).unwrap_or_default(),
            &sealing_context(id),
        ),
        None => String::new(),
    }
}

/// `POST /api/v1/apps/{app_id}/connectors/create`.
pub async fn create(
    State(s): State<Shared>,
    caller: Caller,
    Path(app_id): Path<String>,
    Body(r): Body<CreateRequest>,
) -> ApiResult<Json<Value>> {
    create_any(&s, &caller, app_id, r).await
}

/// `POST /api/v1/apps/{app_id}/connectors` (C1's "delegated" connector: data arrives from
/// outside, here by c1z upload).
pub async fn create_delegated(
    State(s): State<Shared>,
    caller: Caller,
    Path(app_id): Path<String>,
    Body(r): Body<CreateRequest>,
) -> ApiResult<Json<Value>> {
    create_any(&s, &caller, app_id, r).await
}

/// `GET /api/v1/apps/{app_id}/connectors`.
pub async fn list(
    State(s): State<Shared>,
    caller: Caller,
    Path(app_id): Path<String>,
    paging: Paging,
) -> ApiResult<Json<Value>> {
    authz::require_read(&caller)?;
    common::app(&s, &app_id).await?;
    let page = record::list::<Connector, _>(
        s.store.pool(),
        &[Filter::Eq("app_id", Col::Text(app_id))],
        false,
        &page_req(&paging),
    )
    .await?;
    let mut list: Vec<Value> = Vec::with_capacity(page.items.len());
    for c in page.items {
        list.push(view(&s, c).await?["connectorView"].clone());
    }
    Ok(Json(
        json!({"list": list, "nextPageToken": page.next_page_token, "expanded": []}),
    ))
}

/// `GET /api/v1/apps/{app_id}/connectors/{id}`.
pub async fn get(
    State(s): State<Shared>,
    caller: Caller,
    Path((app_id, id)): Path<(String, String)>,
) -> ApiResult<Json<Value>> {
    authz::require_read(&caller)?;
    let c = connector(&s, &app_id, &id).await?;
    Ok(Json(view(&s, c).await?))
}

/// `POST /api/v1/apps/{app_id}/connectors/{id}`.
pub async fn update(
    State(s): State<Shared>,
    caller: Caller,
    Path((app_id, id)): Path<(String, String)>,
    Body(r): Body<UpdateRequest>,
) -> ApiResult<Json<Value>> {
    common::check_id("app_id", &app_id)?;
    authz::require_app_write(&s, &caller, &app_id).await?;
    connector(&s, &app_id, &id).await?;
    let _ = r.expand_mask;
    let patch = r
        .connector
        .ok_or_else(|| ApiError::invalid("`connector` is required"))?;
    let typed: Connector = serde_json::from_value(patch.clone())
        .map_err(|e| ApiError::invalid(format!("field `connector`: {e}")))?;
    common::users_exist(&s, &typed.user_ids).await?;
    // `config` is replaced whole (it is never returned, so it cannot be merged) when the mask
    // names it, or when there is no mask and the patch carries it.
    let config_named = match r.update_mask.as_deref() {
        Some(m) => m.split(',').any(|p| p.trim() == "config"),
        None => patch.get("config").is_some(),
    };
    let new_config = if config_named {
        require_config_admin(&caller)?;
        Some(parse_config(&patch.get("config").cloned())?)
    } else {
        None
    };
    let mask: Option<String> = r.update_mask.as_ref().map(|m| {
        m.split(',')
            .map(str::trim)
            .filter(|p| *p != "config")
            .collect::<Vec<_>>()
            .join(",")
    });
    let mut patch = patch;
    if let Some(obj) = patch.as_object_mut() {
        obj.remove("config");
    }
    let sealed = new_config.as_ref().map(|c| seal(&s, &id, c.as_ref()));
    let after = chamberlain_store::write_tx!(s.store, &caller.audit(), |tx| {
        let before: Connector = tx.must_get(&id).await?;
        let (mut after, _) = chamberlain_model::mask::apply_typed(
            &before,
            &patch,
            mask.as_deref()
                .filter(|m| !m.is_empty())
                .or(if r.update_mask.is_some() {
                    Some("")
                } else {
                    None
                }),
            Connector::WRITABLE,
        )
        .map_err(StoreError::Invalid)?;
        if after.display_name.trim().is_empty() {
            return Err(StoreError::Invalid("displayName must not be blank".into()));
        }
        after.updated_at = Some(tx.now());
        if let Some(sealed) = &sealed {
            after.config_updated_at = Some(tx.now());
            connector_rows::set_sealed_config(tx, &id, sealed).await?;
        }
        tx.replace(&before, &after).await?;
        Ok(after)
    })?;
    Ok(Json(view(&s, after).await?))
}

/// `DELETE /api/v1/apps/{app_id}/connectors/{id}`. The app's synced data stays.
pub async fn delete(
    State(s): State<Shared>,
    caller: Caller,
    Path((app_id, id)): Path<(String, String)>,
    Body(_): Body<Value>,
) -> ApiResult<Json<Value>> {
    common::check_id("app_id", &app_id)?;
    authz::require_app_write(&s, &caller, &app_id).await?;
    connector(&s, &app_id, &id).await?;
    chamberlain_store::write_tx!(s.store, &caller.audit(), |tx| {
        jobs::cancel_queued(tx, &sync_job_key(&id)).await?;
        tx.soft_delete::<Connector>(&id).await.map(|_| ())
    })?;
    Ok(Json(json!({})))
}

/// `POST …/connectors/{connector_id}/force_sync`: queues a sync now (or moves the queued one
/// forward). Connectors without a binary are refused with what to do instead.
pub async fn force_sync(
    State(s): State<Shared>,
    caller: Caller,
    Path((app_id, id)): Path<(String, String)>,
    Body(_): Body<Value>,
) -> ApiResult<Json<Value>> {
    common::check_id("app_id", &app_id)?;
    authz::require_app_write(&s, &caller, &app_id).await?;
    let c = connector(&s, &app_id, &id).await?;
    if baton_config(&s, &id).await?.is_none() {
        return Err(ApiError::precondition(format!(
            "connector `{id}` has no Baton connector binary configured, so there is nothing to run; set `config.command` on the connector, or upload the connector's .c1z with POST /api/v1/apps/{app_id}/connectors/{id}/c1z"
        )));
    }
    if c.sync_disabled_at.is_some() {
        return Err(ApiError::precondition(format!(
            "connector `{id}` is paused; resume it (POST /api/v1/apps/{app_id}/connectors/{id}/resume) before syncing"
        )));
    }
    let job = crate::worker::sync_now(&c);
    chamberlain_store::write_tx!(s.store, &caller.audit(), |tx| {
        let (_, created) = jobs::enqueue(tx, &job).await?;
        if !created {
            jobs::run_now(tx, &sync_job_key(&id)).await?;
        }
        tx.audit(
            chamberlain_store::Activity::Update,
            "connector sync",
            &id,
            None,
            Some(json!({"requested": "force_sync"})),
        )
        .await
    })?;
    Ok(Json(json!({})))
}

/// `POST …/connectors/{connector_id}/pause`: stops scheduled and forced syncs until resumed.
pub async fn pause(
    State(s): State<Shared>,
    caller: Caller,
    Path((app_id, id)): Path<(String, String)>,
    Body(_): Body<Value>,
) -> ApiResult<Json<Value>> {
    set_paused(&s, &caller, &app_id, &id, true).await
}

/// `POST …/connectors/{connector_id}/resume`.
pub async fn resume(
    State(s): State<Shared>,
    caller: Caller,
    Path((app_id, id)): Path<(String, String)>,
    Body(_): Body<Value>,
) -> ApiResult<Json<Value>> {
    set_paused(&s, &caller, &app_id, &id, false).await
}

/// Pauses or resumes a connector's syncs; doing what is already done is a no-op.
async fn set_paused(
    s: &AppState,
    caller: &Caller,
    app_id: &str,
    id: &str,
    paused: bool,
) -> ApiResult<Json<Value>> {
    common::check_id("app_id", app_id)?;
    authz::require_app_write(s, caller, app_id).await?;
    connector(s, app_id, id).await?;
    chamberlain_store::write_tx!(s.store, &caller.audit(), |tx| {
        let before: Connector = tx.must_get(id).await?;
        if before.sync_disabled_at.is_some() == paused {
            return Ok(());
        }
        let mut after = before.clone();
        let now = tx.now();
        let mut status = after.status.clone().unwrap_or_default();
        if paused {
            after.sync_disabled_at = Some(now);
            after.sync_disabled_reason = "paused by an administrator".into();
            after.sync_disabled_category = "SYNC_DISABLED_CATEGORY_USER".into();
            status.status = SyncStatus::Disabled;
            jobs::cancel_queued(tx, &sync_job_key(id)).await?;
        } else {
            after.sync_disabled_at = None;
            after.sync_disabled_reason = String::new();
            after.sync_disabled_category = String::new();
            status.status = if !status.last_error.is_empty() {
                SyncStatus::Error
            } else if status.completed_at.is_some() {
                SyncStatus::Done
            } else {
                SyncStatus::Unspecified
            };
        }
        after.can_resume_sync = paused;
        status.updated_at = Some(now);
        after.status = Some(status);
        after.updated_at = Some(now);
        tx.replace(&before, &after).await
    })?;
    Ok(Json(json!({})))
}

/// `UpdateConnectorScheduleRequestInput`.
#[derive(Deserialize, Default)]
#[serde(rename_all = "camelCase", default, deny_unknown_fields)]
pub struct ScheduleRequest {
    cron: Option<CronRequest>,
}

/// `ConnectorScheduleCron`.
#[derive(Deserialize, Default)]
#[serde(rename_all = "camelCase", default, deny_unknown_fields)]
pub struct CronRequest {
    cron_spec: String,
    timezone: String,
}

/// `POST …/connectors/{connector_id}/schedule`: sets (or, with no `cron`, clears) the sync
/// schedule. The queued scheduled sync is dropped so the next one follows the new schedule.
pub async fn schedule(
    State(s): State<Shared>,
    caller: Caller,
    Path((app_id, id)): Path<(String, String)>,
    Body(r): Body<ScheduleRequest>,
) -> ApiResult<Json<Value>> {
    common::check_id("app_id", &app_id)?;
    authz::require_app_write(&s, &caller, &app_id).await?;
    connector(&s, &app_id, &id).await?;
    let cron = match r.cron {
        Some(c) if !c.cron_spec.trim().is_empty() => {
            Schedule::parse(&c.cron_spec, &c.timezone)
                .map_err(|e| ApiError::invalid(format!("cron: {e}")))?;
            Some(
                json!({"cronSpec": c.cron_spec.trim(), "timezone": c.timezone.trim(), "start": Timestamp::now()}),
            )
        }
        _ => None,
    };
    chamberlain_store::write_tx!(s.store, &caller.audit(), |tx| {
        let before: Connector = tx.must_get(&id).await?;
        let mut after = before.clone();
        after.connector_sync_cron_schedule = cron.clone();
        after.updated_at = Some(tx.now());
        jobs::cancel_queued(tx, &sync_job_key(&id)).await?;
        tx.replace(&before, &after).await
    })?;
    Ok(Json(json!({})))
}

/// The app's connector that provisions through a Baton binary, if it has one.
pub async fn provisioning_connector(
    s: &AppState,
    app_id: &str,
) -> ApiResult<Option<(Connector, BatonConfig)>> {
    let connectors = record::list::<Connector, _>(
        s.store.pool(),
        &[Filter::Eq("app_id", Col::Text(app_id.to_string()))],
        false,
        &record::PageReq::first(100),
    )
    .await?;
    for c in connectors.items {
        if let Some(cfg) = baton_config(s, &c.id).await? {
            if cfg.provisioning {
                return Ok(Some((c, cfg)));
            }
        }
    }
    Ok(None)
}

/// Runs `action` through connector `c`'s binary. Called before the change is written, so a
/// failed provisioning changes nothing.
pub async fn provision(
    s: &AppState,
    c: &Connector,
    cfg: &BatonConfig,
    action: &Provision,
) -> ApiResult<()> {
    let file = baton::last_sync_file(&s.jobs.connectors_dir, &c.id);
    if !file.is_file() {
        // Another replica ran the last sync, and Baton looks objects up in a sync file.
        if let Some(dir) = file.parent() {
            std::fs::create_dir_all(dir).map_err(|e| {
                ApiError::new(
                    Code::Internal,
                    format!("cannot create {}: {e}", dir.display()),
                )
            })?;
        }
        cfg.sync(&file)
            .await
            .map_err(|e| provisioning_failed(&c.id, &e.0))?;
    }
    cfg.provision(&file, action)
        .await
        .map_err(|e| provisioning_failed(&c.id, &e.0))
}

/// Creates an account for `user` through connector `c`, then syncs so the account arrives with
/// its source id, and returns it. Fails (changing nothing in Chamberlain but the sync) if the
/// connector refuses or the sync does not report an account with the user's email.
pub async fn create_account(
    s: &AppState,
    caller: &Caller,
    app_id: &str,
    c: &Connector,
    cfg: &BatonConfig,
    user: &User,
) -> ApiResult<AppUser> {
    let email = user.email.trim().to_string();
    let login = if !user.username.is_empty() {
        user.username.clone()
    } else {
        email.split('@').next().unwrap_or_default().to_string()
    };
    if login.is_empty() {
        return Err(ApiError::precondition(format!(
            "user `{}` has neither a username nor an email, so no account can be created for them",
            user.id
        )));
    }
    let action = Provision::CreateAccount {
        login,
        email: email.clone(),
        profile: json!({"displayName": user.display_name, "email": email}),
    };
    provision(s, c, cfg, &action).await?;
    let source = Source::Baton {
        config: cfg.clone(),
        work_dir: s.jobs.connectors_dir.clone(),
    };
    runner::sync_connector(
        &s.store,
        &caller.audit(),
        app_id,
        &c.id,
        &source,
        s.jobs.sync_lock_ttl,
    )
    .await
    .map_err(|e| {
        ApiError::precondition(format!(
            "the connector created the account, but the sync that should bring it in failed: {e}"
        ))
    })?;
    let accounts = record::list::<AppUser, _>(
        s.store.pool(),
        &[
            Filter::Eq("app_id", Col::Text(app_id.to_string())),
            Filter::Eq("email_lc", Col::Text(email.to_lowercase())),
        ],
        false,
        &record::PageReq::first(10),
    )
    .await?;
    accounts.items.into_iter().next().ok_or_else(|| {
        ApiError::precondition(format!(
            "the connector created an account for `{email}`, but its sync reports no account with that email; sync again and grant the account directly"
        ))
    })
}

/// The Baton ids (entitlement, principal) behind a grant of our `entitlement_id` to account
/// `app_user_id`, when a sync created both; None for objects made in Chamberlain.
pub async fn baton_ids(
    s: &AppState,
    app_id: &str,
    entitlement_id: &str,
    app_user_id: &str,
) -> ApiResult<Option<(String, String)>> {
    let ent = connector_rows::external_id(&s.store, app_id, "entitlement", entitlement_id).await?;
    let user = connector_rows::external_id(&s.store, app_id, "app_user", app_user_id).await?;
    Ok(ent.zip(user))
}

/// Splits a Baton resource key `type:id` (as the sync engine records it).
pub fn principal_parts(key: &str) -> (String, String) {
    match key.split_once(':') {
        Some((t, id)) => (t.to_string(), id.to_string()),
        None => ("user".to_string(), key.to_string()),
    }
}

fn provisioning_failed(connector_id: &str, message: &str) -> ApiError {
    ApiError::new(
        Code::FailedPrecondition,
        format!("connector `{connector_id}` could not provision the change, so nothing was changed: {message}"),
    )
}

/// `POST /api/v1/apps/{app_id}/connectors/{connector_id}/c1z` (extension): imports an uploaded
/// c1z as a sync of the app.
pub async fn upload_c1z(
    State(s): State<Shared>,
    caller: Caller,
    Path((app_id, id)): Path<(String, String)>,
    body: axum::body::Body,
) -> ApiResult<Json<Value>> {
    import(&s, &caller, &app_id, &id, body, Upload::C1z).await
}

/// `POST /api/v1/apps/{app_id}/connectors/{connector_id}/file` (extension): imports a CSV or
/// TSV in C1's file-app template as a sync of the app.
pub async fn upload_file(
    State(s): State<Shared>,
    caller: Caller,
    Path((app_id, id)): Path<(String, String)>,
    body: axum::body::Body,
) -> ApiResult<Json<Value>> {
    import(&s, &caller, &app_id, &id, body, Upload::Spreadsheet).await
}

/// What an upload holds.
#[derive(Clone, Copy, PartialEq, Eq)]
enum Upload {
    C1z,
    Spreadsheet,
}

/// Streams the body to a temp file (never held whole in memory) and runs it as a sync of the
/// connector: the connector's status and sync history say how it went.
async fn import(
    s: &AppState,
    caller: &Caller,
    app_id: &str,
    id: &str,
    body: axum::body::Body,
    kind: Upload,
) -> ApiResult<Json<Value>> {
    common::check_id("app_id", app_id)?;
    authz::require_app_write(s, caller, app_id).await?;
    common::app(s, app_id).await?;
    connector(s, app_id, id).await?;
    let file = receive(body).await?;
    let source = match kind {
        Upload::C1z => Source::C1zFile(file.0.clone()),
        Upload::Spreadsheet => Source::Spreadsheet(file.0.clone()),
    };
    let run = runner::sync_connector(
        &s.store,
        &caller.audit(),
        app_id,
        id,
        &source,
        s.jobs.sync_lock_ttl,
    )
    .await
    .map_err(|e| match e {
        SyncError::Busy(_) => ApiError::new(Code::AlreadyExists, e.to_string()),
        SyncError::Input(m) | SyncError::Connector(m) => ApiError::invalid(m),
        SyncError::Store(e) => ApiError::from(e),
    })?;
    Ok(Json(json!({ "syncRun": run })))
}

async fn receive(body: axum::body::Body) -> ApiResult<TempFile> {
    let file = TempFile(std::env::temp_dir().join(format!("chamberlain-upload-{}", new_id())));
    let mut out = std::fs::File::create(&file.0)
        .map_err(|e| ApiError::new(Code::Internal, format!("cannot store the upload: {e}")))?;
    let mut stream = body.into_data_stream();
    let mut total: u64 = 0;
    while let Some(chunk) = stream.next().await {
        let chunk =
            chunk.map_err(|e| ApiError::invalid(format!("the upload was interrupted: {e}")))?;
        total += chunk.len() as u64;
        if total > MAX_UPLOAD_BYTES {
            return Err(ApiError {
                code: Code::ResourceExhausted,
                message: format!("the upload is larger than {MAX_UPLOAD_BYTES} bytes"),
                http: Some(axum::http::StatusCode::PAYLOAD_TOO_LARGE),
            });
        }
        out.write_all(&chunk)
            .map_err(|e| ApiError::new(Code::Internal, format!("cannot store the upload: {e}")))?;
    }
    if total == 0 {
        return Err(ApiError::invalid("the request body is empty; send the file itself as the body (Content-Type: application/octet-stream or text/csv)"));
    }
    Ok(file)
}

/// `GET /api/v1/apps/{app_id}/connectors/{connector_id}/sync_runs` (extension), newest first.
pub async fn sync_runs(
    State(s): State<Shared>,
    caller: Caller,
    Path((app_id, id)): Path<(String, String)>,
) -> ApiResult<Json<Value>> {
    // A connector credential reads its own connector's runs (authentication limits its paths).
    if caller.principal.connector.is_none() {
        authz::require_read(&caller)?;
    }
    connector(&s, &app_id, &id).await?;
    let runs: Vec<_> = apply::list_runs(&s.store, &app_id, 100)
        .await?
        .into_iter()
        .filter(|r| r.connector_id == id)
        .collect();
    Ok(Json(json!({ "list": runs, "nextPageToken": "" })))
}

struct TempFile(std::path::PathBuf);
impl Drop for TempFile {
    fn drop(&mut self) {
        let _ = std::fs::remove_file(&self.0);
    }
}

/// `ConnectorServiceRotateCredentialRequest`.
#[derive(Deserialize, Default)]
#[serde(rename_all = "camelCase", default, deny_unknown_fields)]
pub struct RotateCredentialRequest {
    app_id: String,
    connector_id: String,
}

fn credential_view(client: &clients::ApiClient, secret: &str) -> ConnectorCredential {
    let scope = client.connector.clone().unwrap_or_default();
    ConnectorCredential {
        id: client.client.id.clone(),
        app_id: scope.app_id,
        connector_id: scope.connector_id,
        client_id: client.client.client_id.clone(),
        client_secret: secret.to_string(),
        display_name: client.client.display_name.clone(),
        expires_time: client.client.expires_time,
        last_used_at: client.client.last_used_at,
        created_at: client.client.created_at,
        updated_at: client.client.updated_at,
        deleted_at: client.client.deleted_at,
    }
}

/// `POST /api/v1/apps/connectors/credentials`: a new client credential for a connector that
/// runs elsewhere and sends its syncs (`…/c1z` or `…/file`). It can do nothing else. Earlier
/// credentials keep working until revoked, so a connector can switch without a gap.
pub async fn rotate_credential(
    State(s): State<Shared>,
    caller: Caller,
    Body(r): Body<RotateCredentialRequest>,
) -> ApiResult<Json<Value>> {
    if r.app_id.is_empty() || r.connector_id.is_empty() {
        return Err(ApiError::invalid("appId and connectorId are required"));
    }
    common::check_id("app_id", &r.app_id)?;
    authz::require_app_write(&s, &caller, &r.app_id).await?;
    if caller.principal.connector.is_some() {
        return Err(ApiError::denied(
            "a connector credential cannot mint credentials",
        ));
    }
    let c = connector(&s, &r.app_id, &r.connector_id).await?;
    // The credential acts as a service user of its own, so revoking it (or disabling that
    // user) cuts it off without touching anyone else.
    let now = Timestamp::now();
    let user = User {
        id: new_id(),
        display_name: format!("Connector credential: {}", c.display_name),
        user_type: UserType::Service,
        origin: UserOrigin::System,
        status: UserStatus::Enabled,
        created_at: Some(now),
        updated_at: Some(now),
        ..Default::default()
    };
    chamberlain_store::write_tx!(s.store, &caller.audit(), |tx| { tx.create(&user).await })?;
    let (client, secret) = super::iam::mint_client(
        &s.store,
        &caller.audit(),
        &s.public_host(),
        super::iam::NewClient {
            user_id: &user.id,
            display_name: &format!("{} credential", c.display_name),
            personal: false,
            expires_at: None,
            scoped_roles: vec![],
            connector: Some(ConnectorScope {
                app_id: r.app_id.clone(),
                connector_id: r.connector_id.clone(),
            }),
        },
    )
    .await?;
    Ok(Json(
        json!({"credential": credential_view(&client, &secret)}),
    ))
}

async fn credential(
    s: &AppState,
    app_id: &str,
    connector_id: &str,
    id: &str,
) -> ApiResult<clients::ApiClient> {
    let client: clients::ApiClient = common::load(s, "id", id).await?;
    match &client.connector {
        Some(scope) if scope.app_id == app_id && scope.connector_id == connector_id => Ok(client),
        _ => Err(ApiError::not_found(format!(
            "credential `{id}` was not found on connector `{connector_id}`"
        ))),
    }
}

/// `GET …/connectors/{connector_id}/credentials/{id}` (never the secret).
pub async fn get_credential(
    State(s): State<Shared>,
    caller: Caller,
    Path((app_id, connector_id, id)): Path<(String, String, String)>,
) -> ApiResult<Json<Value>> {
    authz::require_read(&caller)?;
    connector(&s, &app_id, &connector_id).await?;
    let client = credential(&s, &app_id, &connector_id, &id).await?;
    Ok(Json(json!({"credential": credential_view(&client, "")})))
}

/// `POST …/connectors/{connector_id}/credentials/{id}`: revokes it; the next request made
/// with it is refused.
pub async fn revoke_credential(
    State(s): State<Shared>,
    caller: Caller,
    Path((app_id, connector_id, id)): Path<(String, String, String)>,
    Body(_): Body<Value>,
) -> ApiResult<Json<Value>> {
    common::check_id("app_id", &app_id)?;
    authz::require_app_write(&s, &caller, &app_id).await?;
    connector(&s, &app_id, &connector_id).await?;
    let client = credential(&s, &app_id, &connector_id, &id).await?;
    chamberlain_store::write_tx!(s.store, &caller.audit(), |tx| {
        tx.soft_delete::<clients::ApiClient>(&client.client.id)
            .await?;
        tx.soft_delete::<User>(&client.client.user_id)
            .await
            .map(|_| ())
    })?;
    Ok(Json(json!({})))
}
