//! One sync of a connector, end to end, whatever the source (an uploaded c1z, a spreadsheet, or
//! a Baton binary run here): take the app's sync lock, mark the connector running, read the
//! source, apply it, record the run, and leave the connector's status saying how it went.
//!
//! The lock is a row (`sync_locks`) renewed while the sync works, so syncs of one app never
//! overlap across replicas; the apply transaction re-checks it before committing.

use crate::apply::{self, SyncRun};
use crate::baton::{self, BatonConfig};
use crate::{c1z, file_app};
use chamberlain_model::app::{Connector, ConnectorStatus, SyncStatus};
use chamberlain_model::{new_id, Timestamp};
use chamberlain_store::repo::jobs;
use chamberlain_store::{AuditCtx, Store, StoreError};
use std::path::PathBuf;
use std::time::Duration;

/// Where a sync's data comes from.
#[derive(Clone, Debug)]
pub enum Source {
    /// A c1z file on disk (an upload).
    C1zFile(PathBuf),
    /// A CSV, TSV or XLSX file in C1's file-app template (an upload).
    Spreadsheet(PathBuf),
    /// Run this Baton binary; its last sync file is kept under `work_dir` for provisioning.
    Baton {
        /// The connector's configuration.
        config: BatonConfig,
        /// Per-connector working directory root (the server's data dir + `connectors`).
        work_dir: PathBuf,
    },
}

/// Why a sync did not complete.
#[derive(Debug, thiserror::Error)]
pub enum SyncError {
    /// Another sync of the app holds its lock; nothing was done.
    #[error("a sync of app `{0}` is already running; wait for it to finish")]
    Busy(String),
    /// The source was unreadable or invalid (bad file): the caller's input is at fault.
    #[error("{0}")]
    Input(String),
    /// The connector binary failed (exit code, time limit, no file).
    #[error("{0}")]
    Connector(String),
    /// Storage failed, or the sync lost its lock.
    #[error(transparent)]
    Store(#[from] StoreError),
}

/// Sync-lock lease length; renewed every third of it while the sync works.
pub const DEFAULT_LOCK_TTL: Duration = Duration::from_secs(60);

/// Renews the app's sync lock in the background until dropped.
struct LockKeeper(tokio::task::JoinHandle<()>);

impl Drop for LockKeeper {
    fn drop(&mut self) {
        self.0.abort();
    }
}

/// Sets the connector's status (written with an audit event like any change).
pub async fn set_status(
    store: &Store,
    audit: &AuditCtx,
    connector_id: &str,
    status: ConnectorStatus,
) -> Result<(), StoreError> {
    chamberlain_store::write_tx!(store, audit, |tx| {
        let before: Connector = tx.must_get(connector_id).await?;
        let mut after = before.clone();
        let mut status = status.clone();
        // A paused connector stays visibly paused whatever its last run did.
        if before.sync_disabled_at.is_some() {
            status.status = SyncStatus::Disabled;
        }
        after.status = Some(status);
        after.updated_at = Some(tx.now());
        tx.replace(&before, &after).await
    })
}

async fn read_source(
    source: &Source,
    connector_id: &str,
) -> Result<(c1z::Snapshot, Option<(PathBuf, PathBuf)>), SyncError> {
    match source {
        Source::C1zFile(path) => c1z::read(path, c1z::DEFAULT_MAX_DECOMPRESSED)
            .await
            .map(|s| (s, None))
            .map_err(|e| SyncError::Input(e.to_string())),
        Source::Spreadsheet(path) => {
            let bytes = tokio::fs::read(path)
                .await
                .map_err(|e| SyncError::Input(format!("cannot read the upload: {e}")))?;
            file_app::parse(&bytes)
                .map(|s| (s, None))
                .map_err(|e| SyncError::Input(e.to_string()))
        }
        Source::Baton { config, work_dir } => {
            let last = baton::last_sync_file(work_dir, connector_id);
            let dir = last.parent().expect("file under a directory").to_path_buf();
            tokio::fs::create_dir_all(&dir).await.map_err(|e| {
                SyncError::Connector(format!("cannot create {}: {e}", dir.display()))
            })?;
            let fresh = dir.join(format!("sync-{}.c1z", new_id()));
            let result = async {
                config
                    .sync(&fresh)
                    .await
                    .map_err(|e| SyncError::Connector(e.0))?;
                c1z::read(&fresh, c1z::DEFAULT_MAX_DECOMPRESSED)
                    .await
                    .map_err(|e| {
                        SyncError::Connector(format!("sync: the connector's file is unusable: {e}"))
                    })
            }
            .await;
            match result {
                Ok(snap) => Ok((snap, Some((fresh, last)))),
                Err(e) => {
                    let _ = tokio::fs::remove_file(&fresh).await;
                    Err(e)
                }
            }
        }
    }
}

/// Runs one sync of `connector_id` (of app `app_id`) from `source`.
pub async fn sync_connector(
    store: &Store,
    audit: &AuditCtx,
    app_id: &str,
    connector_id: &str,
    source: &Source,
    lock_ttl: Duration,
) -> Result<SyncRun, SyncError> {
    let owner = format!("sync:{}", new_id());
    if !jobs::acquire_sync_lock(store, app_id, &owner, lock_ttl).await? {
        return Err(SyncError::Busy(app_id.to_string()));
    }
    let keeper = {
        let (store, app_id, owner) = (store.clone(), app_id.to_string(), owner.clone());
        LockKeeper(tokio::spawn(async move {
            loop {
                tokio::time::sleep(lock_ttl / 3).await;
                match jobs::renew_sync_lock(&store, &app_id, &owner, lock_ttl).await {
                    Ok(true) => {}
                    Ok(false) => break,
                    Err(e) => tracing::warn!(error = %e, "renewing a sync lock failed"),
                }
            }
        }))
    };
    let started_at = Timestamp::now();
    let result = async {
        set_status(
            store,
            audit,
            connector_id,
            ConnectorStatus {
                status: SyncStatus::Running,
                started_at: Some(started_at),
                updated_at: Some(started_at),
                ..Default::default()
            },
        )
        .await?;
        let (snap, keep) = read_source(source, connector_id).await?;
        let run = apply::apply_locked(store, audit, app_id, connector_id, snap, Some(&owner)).await;
        if let Some((fresh, last)) = keep {
            // The newest sync file is what provisioning looks objects up in.
            if run.is_ok() {
                let _ = tokio::fs::rename(&fresh, &last).await;
            } else {
                let _ = tokio::fs::remove_file(&fresh).await;
            }
        }
        Ok::<_, SyncError>(run?)
    }
    .await;
    drop(keeper);
    let now = Timestamp::now();
    let status = match &result {
        Ok(_) => ConnectorStatus {
            status: SyncStatus::Done,
            started_at: Some(started_at),
            completed_at: Some(now),
            updated_at: Some(now),
            last_error: String::new(),
        },
        Err(e) => {
            apply::record_failure(store, app_id, connector_id, started_at, &e.to_string()).await?;
            ConnectorStatus {
                status: SyncStatus::Error,
                started_at: Some(started_at),
                completed_at: Some(now),
                updated_at: Some(now),
                last_error: e.to_string(),
            }
        }
    };
    set_status(store, audit, connector_id, status).await?;
    jobs::release_sync_lock(store, app_id, &owner).await?;
    result
}
