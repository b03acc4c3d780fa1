//! The tenant's AI governance settings (`AIGovernanceSettings`), kept as one settings document
//! (`app_settings` row `(tenant, ai governance settings)`); every change is in the system log,
//! which is also where the settings' history is read from.

use crate::page::Page;
use crate::record::PageReq;
use crate::repo::settings;
use crate::repo::syslog::{self, EventQuery};
use crate::{Store, StoreError, Tx};
use chamberlain_model::ai_governance::AiGovernanceSettings;

/// The settings row's owner id (tenant-wide settings are not about one app).
pub const TENANT: &str = "tenant";
/// The settings kind, also the system-log object kind of changes.
pub const KIND: &str = "ai governance settings";

/// The tenant's settings: the saved document, or the defaults when none was saved. The MCP
/// gateway calls this (cache the result briefly; it is one primary-key read).
pub async fn load(store: &Store) -> Result<AiGovernanceSettings, StoreError> {
    Ok(settings::get::<AiGovernanceSettings>(store, TENANT, KIND)
        .await?
        .unwrap_or_default())
}

/// Saves the settings (validated by the caller), recording the change.
pub async fn save(tx: &mut Tx<'_>, value: &AiGovernanceSettings) -> Result<(), StoreError> {
    value.validate().map_err(StoreError::Invalid)?;
    settings::put(tx, TENANT, KIND, value).await
}

/// The settings' change history from the system log, newest first: `(event, snapshot)`.
pub async fn history(store: &Store, page: &PageReq) -> Result<Page<serde_json::Value>, StoreError> {
    let q = EventQuery {
        object_kind: Some(KIND.into()),
        object_id: Some(TENANT.into()),
        ..Default::default()
    };
    let mut page = page.clone();
    page.descending = true;
    syslog::list(store, &q, &page).await
}
