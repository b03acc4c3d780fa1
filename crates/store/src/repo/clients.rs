//! API clients: a client id bound to a user and the Ed25519 public key its secret holds.
//! The secret itself is never stored.

use crate::record::{Col, Record, Sql};
use crate::{Store, StoreError};
use chamberlain_model::principal::ConnectorScope;
use chamberlain_model::user::PersonalClient;
use chamberlain_model::Timestamp;
use sqlx::Row;

/// An API client row: the wire object plus what authentication needs.
#[derive(Clone, Debug, serde::Serialize, serde::Deserialize)]
pub struct ApiClient {
    /// The C1 object (also used for admin-created service clients).
    pub client: PersonalClient,
    /// Base64url Ed25519 public key matching the client's secret.
    pub public_key: String,
    /// Created by a user for themselves (`/iam/personal_clients`) rather than by the admin CLI.
    pub personal: bool,
    /// Set for a connector credential: the client may only feed this connector.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub connector: Option<ConnectorScope>,
}

impl Record for ApiClient {
    const TABLE: &'static str = "api_clients";
    const KIND: &'static str = "api client";
    fn id(&self) -> &str {
        &self.client.id
    }
    fn columns(&self) -> Vec<(&'static str, Col)> {
        vec![
            ("client_id", self.client.client_id.clone().into()),
            ("user_id", self.client.user_id.clone().into()),
            ("personal", self.personal.into()),
            ("public_key", self.public_key.clone().into()),
            (
                "expires_at",
                Col::OptInt(self.client.expires_time.map(|t| t.as_micros())),
            ),
            (
                "created_at",
                Col::Int(self.client.created_at.map(|t| t.as_micros()).unwrap_or(0)),
            ),
            (
                "deleted_at",
                Col::OptInt(self.client.deleted_at.map(|t| t.as_micros())),
            ),
        ]
    }
    fn set_deleted(&mut self, at: Timestamp) {
        self.client.deleted_at = Some(at);
        self.client.updated_at = Some(at);
    }
}

/// Finds a live, unexpired client by its client id.
pub async fn by_client_id(store: &Store, client_id: &str) -> Result<Option<ApiClient>, StoreError> {
    let mut sql = Sql::new(
        "SELECT doc, expires_at FROM api_clients WHERE deleted_at IS NULL AND client_id = ",
    );
    sql.arg(client_id);
    let Some(row) = sql.query().fetch_optional(store.pool()).await? else {
        return Ok(None);
    };
    if let Some(exp) = row.try_get::<Option<i64>, _>("expires_at")? {
        if exp <= Timestamp::now().as_micros() {
            return Ok(None);
        }
    }
    crate::record::parse_doc(&row.try_get::<String, _>("doc")?).map(Some)
}

/// What authentication needs about a client and its user, read in one query.
#[derive(Clone, Debug)]
pub struct Credentials {
    /// The user the client acts as.
    pub user_id: String,
    /// The user's status (`ENABLED`, `DISABLED`, …).
    pub user_status: String,
    /// The user's role ids.
    pub roles: Vec<String>,
    /// Roles the client is narrowed to (empty: all of the user's).
    pub scoped_roles: Vec<String>,
    /// The connector a connector credential is bound to.
    pub connector: Option<ConnectorScope>,
}

/// Looks up a live, unexpired client and its live user in one query (the per-request
/// authentication path).
pub async fn credentials(
    store: &Store,
    client_id: &str,
) -> Result<Option<Credentials>, StoreError> {
    let mut sql = Sql::new(
        "SELECT c.user_id, c.expires_at, c.doc, u.status, u.roles FROM api_clients c JOIN users u ON u.id = c.user_id \
         WHERE c.deleted_at IS NULL AND u.deleted_at IS NULL AND c.client_id = ",
    );
    sql.arg(client_id);
    let Some(row) = sql.query().fetch_optional(store.pool()).await? else {
        return Ok(None);
    };
    if let Some(exp) = row.try_get::<Option<i64>, _>("expires_at")? {
        if exp <= Timestamp::now().as_micros() {
            return Ok(None);
        }
    }
    let client: ApiClient = crate::record::parse_doc(&row.try_get::<String, _>("doc")?)?;
    let roles: String = row.try_get("roles")?;
    Ok(Some(Credentials {
        user_id: row.try_get("user_id")?,
        user_status: row.try_get("status")?,
        roles: roles
            .split(',')
            .filter(|r| !r.is_empty())
            .map(str::to_string)
            .collect(),
        scoped_roles: client.client.scoped_roles,
        connector: client.connector,
    }))
}
