//! Policies (`c1.api.policy.v1.Policy`).

use crate::record::{self, Col, Record, Sql};
use crate::StoreError;
use chamberlain_model::policy::Policy;
use chamberlain_model::Timestamp;

impl Record for Policy {
    const TABLE: &'static str = "policies";
    const KIND: &'static str = "policy";
    fn id(&self) -> &str {
        &self.id
    }
    fn columns(&self) -> Vec<(&'static str, Col)> {
        vec![
            ("policy_type", Col::Text(self.policy_type.as_str().into())),
            ("name_lc", Col::Text(self.display_name.to_lowercase())),
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

/// Every live policy (policies are few; reference checks walk them in memory).
pub async fn all_live<'c, E: sqlx::Executor<'c, Database = sqlx::Any>>(
    e: E,
) -> Result<Vec<Policy>, StoreError> {
    record::fetch_docs(
        e,
        &Sql::new("SELECT doc FROM policies WHERE deleted_at IS NULL ORDER BY id"),
    )
    .await
}

impl Record for chamberlain_model::app::AppEntitlementRoutingRule {
    const TABLE: &'static str = "entitlement_routing_rules";
    const KIND: &'static str = "entitlement configuration rule";
    fn id(&self) -> &str {
        &self.id
    }
    fn columns(&self) -> Vec<(&'static str, Col)> {
        vec![
            ("app_id", Col::Text(self.app_id.clone())),
            ("priority", Col::Int(i64::from(self.priority))),
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

/// An app's live entitlement configuration rules in priority order (ties: oldest first).
pub async fn routing_rules<'c, E: sqlx::Executor<'c, Database = sqlx::Any>>(
    e: E,
    app_id: &str,
) -> Result<Vec<chamberlain_model::app::AppEntitlementRoutingRule>, StoreError> {
    let mut sql = Sql::new(
        "SELECT doc FROM entitlement_routing_rules WHERE deleted_at IS NULL AND app_id = ",
    );
    sql.arg(app_id).push(" ORDER BY priority, created_at, id");
    record::fetch_docs(e, &sql).await
}
