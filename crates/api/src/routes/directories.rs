//! `c1.api.directory.v1.DirectoryService`: designating apps as directories, plus Chamberlain
//! extensions (documented in the README) for what C1's public spec leaves to its web app:
//!
//! - `POST /api/v1/directories/preview`: what resolution would do with a proposed directory
//!   configuration (counts and samples of users to create, match, ignore and remove); changes
//!   nothing.
//! - `GET /api/v1/directories/runs`: resolution runs, newest first, with their conflicts and
//!   per-account errors.
//! - `GET /api/v1/apps/{app_id}/identity_runs`: account-linking runs of a non-directory app.

use super::common;
use crate::authz;
use crate::error::{ApiError, ApiResult, Code};
use crate::expand::{types, ExpandMask, ExpandMaskBody, Expander};
use crate::extract::{Body, Paging};
use crate::state::{AppState, Caller, Shared};
use axum::extract::{Path, State};
use axum::Json;
use chamberlain_identity::rules::CompiledDirectory;
use chamberlain_model::app::App;
use chamberlain_model::directory::{CelFilter, Directory, MergeConfig};
use chamberlain_model::Timestamp;
use chamberlain_store::record;
use chamberlain_store::repo::identity::{self as identity_repo, DIRECTORIES};
use chamberlain_store::StoreError;
use serde::Deserialize;
use serde_json::{json, Map, Value};

/// `DirectoryServiceCreateRequest` (+ the `priority` extension).
#[derive(Deserialize, Default)]
#[serde(rename_all = "camelCase", default, deny_unknown_fields)]
pub struct CreateRequest {
    app_id: String,
    all: Option<Map<String, Value>>,
    cel_expression: Option<CelFilter>,
    expand_mask: Option<ExpandMaskBody>,
    merge_config: Option<MergeConfig>,
    priority: Option<u32>,
}

/// `DirectoryServiceUpdateRequest` (+ `priority`). Fields left out keep their value.
#[derive(Deserialize, Default)]
#[serde(rename_all = "camelCase", default, deny_unknown_fields)]
pub struct UpdateRequest {
    all: Option<Map<String, Value>>,
    cel_expression: Option<CelFilter>,
    expand_mask: Option<ExpandMaskBody>,
    merge_config: Option<MergeConfig>,
    priority: Option<u32>,
}

/// Refuses a configuration that cannot run, saying where and what to fix.
fn check(d: &Directory) -> ApiResult<()> {
    CompiledDirectory::compile(d)
        .map(|_| ())
        .map_err(|e| ApiError::invalid(format!("directory for app `{}`: {e}", d.app_id)))
}

impl CreateRequest {
    /// The directory this request proposes for `app_id`, checked: no filter means `all`, an
    /// empty list of match cases the default rules.
    fn directory(&self, app_id: &str, priority: u32) -> ApiResult<Directory> {
        let d = Directory {
            app_id: app_id.to_string(),
            all: match (&self.all, &self.cel_expression) {
                (None, None) => Some(Map::new()),
                (all, _) => all.clone(),
            },
            cel_expression: self.cel_expression.clone(),
            merge_config: normalize_merge(self.merge_config.clone()),
            priority,
            ..Default::default()
        };
        check(&d)?;
        Ok(d)
    }
}

/// An empty list of match cases means the default rules.
fn normalize_merge(m: Option<MergeConfig>) -> Option<MergeConfig> {
    m.filter(|m| !m.match_cases.is_empty())
}

fn view(d: Directory, app: Option<&App>, mask: &ExpandMask) -> Value {
    let mut ex = Expander::default();
    let app_path = match app {
        Some(a) if mask.wants("app") => ex.add(types::APP, &a.id, a),
        _ => String::new(),
    };
    json!({"directoryView": {"directory": d, "appPath": app_path}, "expanded": ex.finish()})
}

async fn live_directory(s: &AppState, app_id: &str) -> ApiResult<Directory> {
    common::check_id("app_id", app_id)?;
    record::get::<Directory, _>(s.store.pool(), app_id, false)
        .await?
        .ok_or_else(|| {
            ApiError::not_found(format!(
                "app `{app_id}` is not a directory (designate it with POST /api/v1/directories)"
            ))
        })
}

/// `GET /api/v1/directories`.
pub async fn list(
    State(s): State<Shared>,
    caller: Caller,
    paging: Paging,
) -> ApiResult<Json<Value>> {
    authz::require_read(&caller)?;
    let page = record::list::<Directory, _>(s.store.pool(), &[], false, &common::page_req(&paging))
        .await?;
    let list: Vec<Value> = page
        .items
        .into_iter()
        .map(|d| json!({"directory": d, "appPath": ""}))
        .collect();
    Ok(Json(
        json!({"list": list, "nextPageToken": page.next_page_token, "expanded": []}),
    ))
}

/// `GET /api/v1/directories/{app_id}`.
pub async fn get(
    State(s): State<Shared>,
    caller: Caller,
    Path(app_id): Path<String>,
) -> ApiResult<Json<Value>> {
    authz::require_read(&caller)?;
    let d = live_directory(&s, &app_id).await?;
    let app = common::app(&s, &app_id).await.ok();
    Ok(Json(view(d, app.as_ref(), &ExpandMask::default())))
}

/// `POST /api/v1/directories`: designates an app as a directory. Only apps that completed a
/// sync qualify; an app is one directory at most.
pub async fn create(
    State(s): State<Shared>,
    caller: Caller,
    Body(r): Body<CreateRequest>,
) -> ApiResult<Json<Value>> {
    authz::require_super_admin(&caller)?;
    if r.app_id.trim().is_empty() {
        return Err(ApiError::invalid(
            "`appId` is required: the app whose accounts become users",
        ));
    }
    let app = common::app(&s, &r.app_id).await?;
    if !identity_repo::has_completed_sync(&s.store, &app.id).await? {
        return Err(ApiError::precondition(format!(
            "app `{}` has never completed a sync, so it has no accounts to import yet; sync it first (upload a c1z or file, or run its connector), then designate it",
            app.id
        )));
    }
    let now = Timestamp::now();
    let d = Directory {
        created_at: Some(now),
        updated_at: Some(now),
        ..r.directory(&app.id, r.priority.unwrap_or(0))?
    };
    let mask = ExpandMask::new(&r.expand_mask.map(|m| m.paths).unwrap_or_default());
    let d = chamberlain_store::write_tx!(s.store, &caller.audit(), |tx| {
        let mut d = d.clone();
        let existing: Option<Directory> = record::get(&mut *tx.conn(), &d.app_id, true).await?;
        if d.priority == 0 {
            // Appended after the existing directories.
            d.priority = next_priority(tx).await?;
        }
        match existing {
            Some(e) if e.deleted_at.is_none() => {
                return Err(StoreError::Conflict(format!(
                    "app `{}` is already a directory; change it with PUT /api/v1/directories/{}",
                    d.app_id, d.app_id
                )))
            }
            Some(e) => tx.replace(&e, &d).await?,
            None => tx.create(&d).await?,
        }
        set_app_directory_flag(tx, &d.app_id, true).await?;
        identity_repo::mark_dirty(tx, DIRECTORIES).await?;
        Ok(d)
    })?;
    let app = common::app(&s, &d.app_id).await.ok();
    Ok(Json(view(d, app.as_ref(), &mask)))
}

async fn next_priority(tx: &mut chamberlain_store::Tx<'_>) -> Result<u32, StoreError> {
    let dirs = identity_repo::live_directories(&mut *tx.conn()).await?;
    Ok(dirs.iter().map(|d| d.priority).max().unwrap_or(0) + 1)
}

async fn set_app_directory_flag(
    tx: &mut chamberlain_store::Tx<'_>,
    app_id: &str,
    on: bool,
) -> Result<(), StoreError> {
    let before: App = tx.must_get(app_id).await?;
    if before.is_directory != on {
        let mut after = before.clone();
        after.is_directory = on;
        after.updated_at = Some(tx.now());
        tx.replace(&before, &after).await?;
    }
    Ok(())
}

/// `PUT /api/v1/directories/{app_id}`.
pub async fn update(
    State(s): State<Shared>,
    caller: Caller,
    Path(app_id): Path<String>,
    Body(r): Body<UpdateRequest>,
) -> ApiResult<Json<Value>> {
    authz::require_super_admin(&caller)?;
    let before = live_directory(&s, &app_id).await?;
    let mut after = before.clone();
    if r.all.is_some() && r.cel_expression.is_some() {
        return Err(ApiError::invalid(
            "set either `all` or `celExpression` (the account filter is one of them), not both",
        ));
    }
    if r.all.is_some() {
        after.all = r.all;
        after.cel_expression = None;
    }
    if r.cel_expression.is_some() {
        after.cel_expression = r.cel_expression;
        after.all = None;
    }
    if let Some(m) = r.merge_config {
        after.merge_config = normalize_merge(Some(m));
    }
    if let Some(p) = r.priority {
        after.priority = p;
    }
    after.updated_at = Some(Timestamp::now());
    check(&after)?;
    let mask = ExpandMask::new(&r.expand_mask.map(|m| m.paths).unwrap_or_default());
    let after = chamberlain_store::write_tx!(s.store, &caller.audit(), |tx| {
        let current: Directory = tx.must_get(&app_id).await?;
        if current != after {
            tx.replace(&current, &after).await?;
            identity_repo::mark_dirty(tx, DIRECTORIES).await?;
        }
        Ok(after.clone())
    })?;
    let app = common::app(&s, &app_id).await.ok();
    Ok(Json(view(after, app.as_ref(), &mask)))
}

/// `DELETE /api/v1/directories/{app_id}`: the app stops being a directory. Users it alone
/// imported are removed by the next run; its accounts are then linked like any app's.
pub async fn delete(
    State(s): State<Shared>,
    caller: Caller,
    Path(app_id): Path<String>,
) -> ApiResult<Json<Value>> {
    authz::require_super_admin(&caller)?;
    live_directory(&s, &app_id).await?;
    chamberlain_store::write_tx!(s.store, &caller.audit(), |tx| {
        tx.soft_delete::<Directory>(&app_id).await?;
        set_app_directory_flag(tx, &app_id, false).await?;
        identity_repo::mark_dirty(tx, DIRECTORIES).await?;
        identity_repo::mark_dirty(tx, &identity_repo::app_scope(&app_id)).await?;
        Ok(())
    })?;
    Ok(Json(json!({})))
}

/// `POST /api/v1/directories/preview` (extension): the body of a create request.
pub async fn preview(
    State(s): State<Shared>,
    caller: Caller,
    Body(r): Body<CreateRequest>,
) -> ApiResult<Json<Value>> {
    authz::require_super_admin(&caller)?;
    let app = common::app(&s, &r.app_id).await?;
    let existing = record::get::<Directory, _>(s.store.pool(), &app.id, false).await?;
    let priority = r
        .priority
        .or(existing.as_ref().map(|e| e.priority))
        .unwrap_or(u32::MAX);
    let d = Directory {
        created_at: existing.as_ref().and_then(|e| e.created_at),
        ..r.directory(&app.id, priority)?
    };
    let run = chamberlain_identity::preview(&s.store, &d)
        .await
        .map_err(|e| ApiError::new(Code::Internal, e.to_string()))?;
    Ok(Json(json!({ "run": run })))
}

fn run_page(runs: Vec<chamberlain_model::directory::IdentityRun>, limit: usize) -> Value {
    let next = if runs.len() > limit {
        runs[limit - 1].id.clone()
    } else {
        String::new()
    };
    let list: Vec<_> = runs.into_iter().take(limit).collect();
    json!({"list": list, "nextPageToken": next})
}

/// `GET /api/v1/directories/runs` (extension).
pub async fn runs(
    State(s): State<Shared>,
    caller: Caller,
    paging: Paging,
) -> ApiResult<Json<Value>> {
    authz::require_read(&caller)?;
    let limit = common::page_req(&paging).size;
    let token = (!paging.page_token.is_empty()).then_some(paging.page_token.as_str());
    let runs = identity_repo::list_runs(&s.store, DIRECTORIES, token, limit + 1).await?;
    Ok(Json(run_page(runs, limit as usize)))
}

/// `GET /api/v1/apps/{app_id}/identity_runs` (extension).
pub async fn app_runs(
    State(s): State<Shared>,
    caller: Caller,
    Path(app_id): Path<String>,
    paging: Paging,
) -> ApiResult<Json<Value>> {
    authz::require_read(&caller)?;
    common::app(&s, &app_id).await?;
    let limit = common::page_req(&paging).size;
    let token = (!paging.page_token.is_empty()).then_some(paging.page_token.as_str());
    let runs = identity_repo::list_runs(
        &s.store,
        &identity_repo::app_scope(&app_id),
        token,
        limit + 1,
    )
    .await?;
    Ok(Json(run_page(runs, limit as usize)))
}
