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
