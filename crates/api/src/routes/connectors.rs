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
use chamberlain_model::app::{Connector, ConnectorStatus, SyncStatus};
use chamberlain_model::{new_id, Timestamp};
use chamberlain_store::record::{self, Sql};
use chamberlain_store::{Col, Filter, StoreError};
use chamberlain_sync::apply::{self, AppSyncGuard};
use chamberlain_sync::c1z;
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

fn view(c: Connector) -> Value {
    json!({"connectorView": {"connector": c, "appPath": "", "capabilitiesPath": "", "usersPath": ""}, "expanded": []})
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
    let now = Timestamp::now();
    let id = new_id();
    let sealed = match &r.config {
        Some(cfg) => s
            .secrets
            .seal(cfg.to_string().as_bytes(), &format!("connectors:{id}")),
        None => String::new(),
    };
    let c = Connector {
        id: id.clone(),
        app_id,
        display_name,
        description: r.description,
        catalog_id: r.catalog_id,
        user_ids: r.user_ids,
        config_updated_at: r.config.as_ref().map(|_| now),
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
        let mut sql = Sql::new("UPDATE connectors SET config_sealed = ");
        sql.arg(sealed.as_str())
            .push(" WHERE id = ")
            .arg(c.id.as_str());
        tx.exec(&sql).await?;
        Ok(())
    })?;
    Ok(Json(view(c)))
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
    let list: Vec<Value> = page
        .items
        .into_iter()
        .map(|c| view(c)["connectorView"].clone())
        .collect();
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
    Ok(Json(view(connector(&s, &app_id, &id).await?)))
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
    let after = chamberlain_store::write_tx!(s.store, &caller.audit(), |tx| {
        let before: Connector = tx.must_get(&id).await?;
        let (mut after, _) = chamberlain_model::mask::apply_typed(
            &before,
            &patch,
            r.update_mask.as_deref(),
            Connector::WRITABLE,
        )
        .map_err(StoreError::Invalid)?;
        if after.display_name.trim().is_empty() {
            return Err(StoreError::Invalid("displayName must not be blank".into()));
        }
        after.updated_at = Some(tx.now());
        tx.replace(&before, &after).await?;
        Ok(after)
    })?;
    Ok(Json(view(after)))
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
        tx.soft_delete::<Connector>(&id).await.map(|_| ())
    })?;
    Ok(Json(json!({})))
}

/// `POST …/connectors/{connector_id}/force_sync`: connectors without a runnable source are
/// refused with what to do instead.
pub async fn force_sync(
    State(s): State<Shared>,
    caller: Caller,
    Path((app_id, id)): Path<(String, String)>,
    Body(_): Body<Value>,
) -> ApiResult<Json<Value>> {
    common::check_id("app_id", &app_id)?;
    authz::require_app_write(&s, &caller, &app_id).await?;
    connector(&s, &app_id, &id).await?;
    Err(ApiError::precondition(format!(
        "connector `{id}` has no Baton connector binary configured, so there is nothing to run; upload the connector's .c1z with POST /api/v1/apps/{app_id}/connectors/{id}/c1z"
    )))
}

async fn set_status(
    s: &AppState,
    caller: &Caller,
    id: &str,
    status: ConnectorStatus,
) -> ApiResult<()> {
    chamberlain_store::write_tx!(s.store, &caller.audit(), |tx| {
        let before: Connector = tx.must_get(id).await?;
        let mut after = before.clone();
        after.status = Some(status.clone());
        after.updated_at = Some(tx.now());
        tx.replace(&before, &after).await
    })?;
    Ok(())
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

/// Streams the body to a temp file (never held whole in memory), reads it into a snapshot, and
/// applies it, keeping the connector's status and sync history current.
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
    let _guard = AppSyncGuard::try_claim(app_id).ok_or_else(|| {
        ApiError::new(
            Code::AlreadyExists,
            format!("a sync of app `{app_id}` is already running; wait for it to finish"),
        )
    })?;
    let started_at = Timestamp::now();
    let file = receive(body).await?;
    set_status(
        s,
        caller,
        id,
        ConnectorStatus {
            status: SyncStatus::Running,
            started_at: Some(started_at),
            updated_at: Some(started_at),
            ..Default::default()
        },
    )
    .await?;
    let snapshot = match kind {
        Upload::C1z => c1z::read(&file.0, c1z::DEFAULT_MAX_DECOMPRESSED)
            .await
            .map_err(|e| ApiError::invalid(e.to_string())),
        Upload::Spreadsheet => {
            let bytes = std::fs::read(&file.0).map_err(|e| {
                ApiError::new(Code::Internal, format!("cannot read the upload: {e}"))
            })?;
            if bytes.starts_with(b"PK\x03\x04") {
                Err(ApiError::new(Code::Unimplemented, "XLSX files are not supported yet; save the sheet as CSV (comma or tab separated) and upload that"))
            } else {
                chamberlain_sync::file_app::parse_csv(&bytes)
                    .map_err(|e| ApiError::invalid(e.to_string()))
            }
        }
    };
    let outcome = match snapshot {
        Ok(snap) => apply::apply(&s.store, &caller.audit(), app_id, id, &snap)
            .await
            .map_err(ApiError::from),
        Err(e) => Err(e),
    };
    let now = Timestamp::now();
    match outcome {
        Ok(run) => {
            set_status(
                s,
                caller,
                id,
                ConnectorStatus {
                    status: SyncStatus::Done,
                    started_at: Some(started_at),
                    completed_at: Some(now),
                    updated_at: Some(now),
                    last_error: String::new(),
                },
            )
            .await?;
            Ok(Json(json!({ "syncRun": run })))
        }
        Err(e) => {
            apply::record_failure(&s.store, app_id, id, started_at, &e.message).await?;
            set_status(
                s,
                caller,
                id,
                ConnectorStatus {
                    status: SyncStatus::Error,
                    started_at: Some(started_at),
                    completed_at: Some(now),
                    updated_at: Some(now),
                    last_error: e.message.clone(),
                },
            )
            .await?;
            Err(e)
        }
    }
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
    authz::require_read(&caller)?;
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
