//! Repositories: how each C1 object maps to its table, and the operations that change more than
//! one row (grants and their propagation, owners, cascading deletes).

pub mod ai_governance;
pub mod catalogs;
pub mod clients;
pub mod connectors;
pub mod device;
pub mod grants;
pub mod identity;
pub mod jobs;
pub mod keys;
pub mod mcp;
pub mod mcp_connections;
pub mod notifications;
pub mod oauth;
pub mod owners;
pub mod policies;
pub mod settings;
pub mod slack;
pub mod syslog;
pub mod tasks;
pub mod web_auth;
pub mod webhooks;

use crate::record::{Col, Record};
use chamberlain_model::app::{App, AppEntitlement, AppResource, AppResourceType, AppUser};
use chamberlain_model::user::User;
use chamberlain_model::Timestamp;

fn ts(t: &Option<Timestamp>) -> Col {
    Col::OptInt(t.map(|t| t.as_micros()))
}
fn created(t: &Option<Timestamp>) -> Col {
    Col::Int(t.map(|t| t.as_micros()).unwrap_or(0))
}

impl Record for App {
    const TABLE: &'static str = "apps";
    const KIND: &'static str = "app";
    fn id(&self) -> &str {
        &self.id
    }
    fn columns(&self) -> Vec<(&'static str, Col)> {
        vec![
            ("display_name_lc", self.display_name.to_lowercase().into()),
            ("is_directory", self.is_directory.into()),
            ("created_at", created(&self.created_at)),
            ("deleted_at", ts(&self.deleted_at)),
        ]
    }
    fn set_deleted(&mut self, at: Timestamp) {
        self.deleted_at = Some(at);
        self.updated_at = Some(at);
    }
}

impl Record for AppResourceType {
    const TABLE: &'static str = "app_resource_types";
    const KIND: &'static str = "app resource type";
    fn id(&self) -> &str {
        &self.id
    }
    fn columns(&self) -> Vec<(&'static str, Col)> {
        vec![
            ("app_id", self.app_id.clone().into()),
            ("manual", true.into()),
            ("created_at", created(&self.created_at)),
            ("deleted_at", ts(&self.deleted_at)),
        ]
    }
    fn set_deleted(&mut self, at: Timestamp) {
        self.deleted_at = Some(at);
        self.updated_at = Some(at);
    }
}

impl Record for AppResource {
    const TABLE: &'static str = "app_resources";
    const KIND: &'static str = "app resource";
    fn id(&self) -> &str {
        &self.id
    }
    fn columns(&self) -> Vec<(&'static str, Col)> {
        vec![
            ("app_id", self.app_id.clone().into()),
            ("resource_type_id", self.app_resource_type_id.clone().into()),
            ("manual", true.into()),
            ("created_at", created(&self.created_at)),
            ("deleted_at", ts(&self.deleted_at)),
        ]
    }
    fn set_deleted(&mut self, at: Timestamp) {
        self.deleted_at = Some(at);
        self.updated_at = Some(at);
    }
}

impl Record for AppEntitlement {
    const TABLE: &'static str = "app_entitlements";
    const KIND: &'static str = "app entitlement";
    fn id(&self) -> &str {
        &self.id
    }
    fn columns(&self) -> Vec<(&'static str, Col)> {
        vec![
            ("app_id", self.app_id.clone().into()),
            ("resource_type_id", self.app_resource_type_id.clone().into()),
            ("resource_id", self.app_resource_id.clone().into()),
            ("display_name_lc", self.display_name.to_lowercase().into()),
            ("slug", self.slug.clone().into()),
            ("alias", self.alias.clone().into()),
            ("purpose", self.purpose.as_str().into()),
            ("created_at", created(&self.created_at)),
            ("deleted_at", ts(&self.deleted_at)),
        ]
    }
    fn set_deleted(&mut self, at: Timestamp) {
        self.deleted_at = Some(at);
        self.updated_at = Some(at);
    }
}

impl Record for AppUser {
    const TABLE: &'static str = "app_users";
    const KIND: &'static str = "app user";
    fn id(&self) -> &str {
        &self.id
    }
    fn columns(&self) -> Vec<(&'static str, Col)> {
        vec![
            ("app_id", self.app_id.clone().into()),
            ("identity_user_id", self.identity_user_id.clone().into()),
            ("email_lc", self.email.to_lowercase().into()),
            ("display_name_lc", self.display_name.to_lowercase().into()),
            (
                "status",
                self.status
                    .as_ref()
                    .map(|s| s.status.as_str())
                    .unwrap_or("STATUS_UNSPECIFIED")
                    .into(),
            ),
            ("user_type", self.app_user_type.as_str().into()),
            ("created_at", created(&self.created_at)),
            ("deleted_at", ts(&self.deleted_at)),
        ]
    }
    fn set_deleted(&mut self, at: Timestamp) {
        self.deleted_at = Some(at);
        self.updated_at = Some(at);
    }
    /// The owner is kept in columns (migration 0023): identity resolution changes
    /// `identity_user_id`, `link_source` and `linked_at` without rewriting the document, so the
    /// document's `identityUserId` may be stale and the columns win. `updatedAt` is the later
    /// of the document's and the last link change.
    const READ: &'static str = "doc, identity_user_id, linked_at";
    fn from_row(row: &sqlx::any::AnyRow) -> Result<Self, crate::StoreError> {
        use sqlx::Row;
        let mut a: AppUser = crate::record::parse_doc(&row.try_get::<String, _>("doc")?)?;
        a.identity_user_id = row.try_get("identity_user_id")?;
        let linked: Option<i64> = row.try_get("linked_at")?;
        if let Some(at) = linked {
            if a.updated_at.map(|t| t.as_micros() < at).unwrap_or(true) {
                a.updated_at = Some(Timestamp::from_micros(at));
            }
        }
        Ok(a)
    }
}

impl Record for User {
    const TABLE: &'static str = "users";
    const KIND: &'static str = "user";
    fn id(&self) -> &str {
        &self.id
    }
    fn columns(&self) -> Vec<(&'static str, Col)> {
        vec![
            ("email_lc", self.email.to_lowercase().into()),
            ("display_name_lc", self.display_name.to_lowercase().into()),
            ("status", self.status.as_str().into()),
            ("origin", self.origin.as_str().into()),
            ("user_type", self.user_type.as_str().into()),
            ("roles", format!(",{},", self.role_ids.join(",")).into()),
            ("created_at", created(&self.created_at)),
            ("deleted_at", ts(&self.deleted_at)),
        ]
    }
    fn set_deleted(&mut self, at: Timestamp) {
        self.deleted_at = Some(at);
        self.updated_at = Some(at);
    }
}

impl Record for chamberlain_model::app::Connector {
    const TABLE: &'static str = "connectors";
    const KIND: &'static str = "connector";
    fn id(&self) -> &str {
        &self.id
    }
    fn columns(&self) -> Vec<(&'static str, Col)> {
        vec![
            ("app_id", self.app_id.clone().into()),
            ("created_at", created(&self.created_at)),
            ("deleted_at", ts(&self.deleted_at)),
        ]
    }
    fn set_deleted(&mut self, at: Timestamp) {
        self.deleted_at = Some(at);
        self.updated_at = Some(at);
    }
}
