//! A [`chamberlain_cel::Directory`] over the store, for expressions evaluated at request time
//! (policy rule conditions, approver expressions, wait conditions).
//!
//! CEL evaluation is synchronous, so lookups block on the store from a blocking thread: call
//! [`evaluate_blocking`], never evaluate with a `StoreDirectory` on an async worker thread.

use chamberlain_cel::{Directory, LookupError};
use chamberlain_model::app::AppUser;
use chamberlain_model::user::User;
use chamberlain_store::record::{fetch_docs, Sql};
use chamberlain_store::Store;
use sqlx::Row;

/// Directory lookups answered from the database.
pub struct StoreDirectory {
    store: Store,
    handle: tokio::runtime::Handle,
}

impl StoreDirectory {
    /// A directory over `store` that blocks on the current runtime.
    pub fn new(store: Store) -> Self {
        StoreDirectory {
            store,
            handle: tokio::runtime::Handle::current(),
        }
    }

    fn users(&self, sql: Sql) -> Result<Vec<User>, LookupError> {
        self.handle
            .block_on(fetch_docs::<User, _>(self.store.pool(), &sql))
            .map_err(|e| LookupError(e.to_string()))
    }
}

/// Runs `f` (which may evaluate expressions against a [`StoreDirectory`]) on a blocking thread.
pub async fn evaluate_blocking<T: Send + 'static>(
    store: &Store,
    f: impl FnOnce(&StoreDirectory) -> T + Send + 'static,
) -> T {
    let dir = StoreDirectory::new(store.clone());
    tokio::task::spawn_blocking(move || f(&dir))
        .await
        .expect("expression evaluation panicked")
}

impl Directory for StoreDirectory {
    fn user(&self, id: &str) -> Result<Option<User>, LookupError> {
        let mut sql = Sql::new("SELECT doc FROM users WHERE deleted_at IS NULL AND id = ");
        sql.arg(id);
        Ok(self.users(sql)?.into_iter().next())
    }

    fn user_by_email(&self, email: &str) -> Result<Option<User>, LookupError> {
        let mut sql = Sql::new("SELECT doc FROM users WHERE deleted_at IS NULL AND email_lc = ");
        sql.arg(email.to_lowercase()).push(" ORDER BY id LIMIT 1");
        if let Some(u) = self.users(sql)?.into_iter().next() {
            return Ok(Some(u));
        }
        // Secondary addresses live only in the document.
        let mut sql =
            Sql::new("SELECT doc FROM users WHERE deleted_at IS NULL AND LOWER(doc) LIKE ");
        sql.arg(format!(
            "%\"{}\"%",
            email.to_lowercase().replace(['%', '_', '"'], "")
        ));
        Ok(self.users(sql)?.into_iter().find(|u| {
            u.emails.iter().any(|e| e.eq_ignore_ascii_case(email))
                || u.email.eq_ignore_ascii_case(email)
        }))
    }

    fn direct_reports(&self, user_id: &str) -> Result<Vec<User>, LookupError> {
        let mut sql = Sql::new("SELECT doc FROM users WHERE deleted_at IS NULL AND id <> ");
        sql.arg(user_id)
            .push(" AND doc LIKE ")
            .arg(format!("%\"{}\"%", user_id.replace(['%', '_', '"'], "")));
        Ok(self
            .users(sql)?
            .into_iter()
            .filter(|u| u.manager_ids.iter().any(|m| m == user_id))
            .collect())
    }

    fn app_users(&self, user_id: &str, app_id: &str) -> Result<Vec<AppUser>, LookupError> {
        let mut sql = Sql::new(&format!(
            "SELECT {} FROM app_users WHERE deleted_at IS NULL AND identity_user_id = ",
            <AppUser as chamberlain_store::Record>::READ
        ));
        sql.arg(user_id).push(" AND app_id = ").arg(app_id);
        self.handle
            .block_on(fetch_docs::<AppUser, _>(self.store.pool(), &sql))
            .map_err(|e| LookupError(e.to_string()))
    }

    fn has_entitlement(
        &self,
        user_id: &str,
        app_id: &str,
        entitlement_id: &str,
    ) -> Result<bool, LookupError> {
        let mut sql = Sql::new(
            "SELECT COUNT(*) FROM grants g JOIN app_users au ON au.id = g.app_user_id \
             WHERE g.deleted_at IS NULL AND au.deleted_at IS NULL AND au.identity_user_id = ",
        );
        sql.arg(user_id)
            .push(" AND g.app_id = ")
            .arg(app_id)
            .push(" AND g.entitlement_id = ")
            .arg(entitlement_id)
            .push(" AND (g.deprovision_at IS NULL OR g.deprovision_at > ")
            .arg(chamberlain_model::Timestamp::now().as_micros())
            .push(")");
        let n: i64 = self
            .handle
            .block_on(sql.query().fetch_one(self.store.pool()))
            .and_then(|r| r.try_get(0))
            .map_err(|e| LookupError(e.to_string()))?;
        Ok(n > 0)
    }

    fn entitlement_members(
        &self,
        app_id: &str,
        entitlement_id: &str,
    ) -> Result<Vec<User>, LookupError> {
        let mut sql = Sql::new(
            "SELECT u.doc FROM users u WHERE u.deleted_at IS NULL AND u.id IN (\
             SELECT au.identity_user_id FROM grants g JOIN app_users au ON au.id = g.app_user_id \
             WHERE g.deleted_at IS NULL AND au.deleted_at IS NULL AND g.app_id = ",
        );
        sql.arg(app_id)
            .push(" AND g.entitlement_id = ")
            .arg(entitlement_id)
            .push(" AND (g.deprovision_at IS NULL OR g.deprovision_at > ")
            .arg(chamberlain_model::Timestamp::now().as_micros())
            .push(")) ORDER BY u.id");
        self.users(sql)
    }
}
