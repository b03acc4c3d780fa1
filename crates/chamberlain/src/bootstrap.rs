//! First-run bootstrap: when no enabled user both holds the Super Admin role and has a local
//! password, `chamberlain serve` creates one (`admin@chamberlain.local`, "Administrator") with a
//! random password, audited like any change, and prints the sign-in once. Once such a user
//! exists nothing happens, so the password is never shown again.

use anyhow::Result;
use chamberlain_model::principal::Role;
use chamberlain_model::user::{User, UserOrigin, UserStatus, UserType};
use chamberlain_model::{new_id, Timestamp};
use chamberlain_store::record::Sql;
use chamberlain_store::{AuditCtx, Backend, Store, StoreError, Tx};
use sqlx::Row;

/// The bootstrap administrator's email address (a suffix is added if a user already has it).
pub const EMAIL: &str = "admin@chamberlain.local";

/// What the bootstrap created: the sign-in to print once.
pub struct Created {
    /// The new user's email address.
    pub email: String,
    /// The generated password (only in memory; the database keeps its Argon2id hash).
    pub password: String,
}

/// Number of enabled, live users holding Super Admin who can sign in with a local password.
pub async fn signin_super_admins<'c, E>(conn: E) -> Result<i64, StoreError>
where
    E: sqlx::Executor<'c, Database = sqlx::Any>,
{
    let mut sql = Sql::new(
        "SELECT COUNT(*) FROM users u JOIN user_passwords p ON p.user_id = u.id \
         WHERE u.deleted_at IS NULL AND u.status = ",
    );
    sql.arg(UserStatus::Enabled.as_str())
        .push(" AND u.roles LIKE ")
        .arg(format!("%,{},%", Role::SuperAdmin.id()));
    let row = sql.query().fetch_one(conn).await?;
    Ok(row.try_get::<i64, _>(0)?)
}

/// Creates the first super admin if none can sign in; returns the sign-in to print.
pub async fn ensure_super_admin(store: &Store) -> Result<Option<Created>> {
    if signin_super_admins(store.pool()).await? > 0 {
        return Ok(None);
    }
    let password = chamberlain_auth::password::random_token(18);
    chamberlain_auth::password::check_new(&password).map_err(anyhow::Error::msg)?;
    let hashed = password.clone();
    let phc = tokio::task::spawn_blocking(move || chamberlain_auth::password::hash(&hashed))
        .await?
        .map_err(anyhow::Error::msg)?;
    let audit = AuditCtx::system("bootstrap");
    let email =
        chamberlain_store::write_tx!(store, &audit, |tx| { create_if_none(tx, &phc).await })?;
    Ok(email.map(|email| Created { email, password }))
}

/// In the transaction: re-checks (two replicas may start at once; PostgreSQL serializes them
/// on an advisory lock, SQLite's write lock does already), then creates the user.
async fn create_if_none(tx: &mut Tx<'_>, phc: &str) -> Result<Option<String>, StoreError> {
    if tx.backend() == Backend::Postgres {
        // Any constant: it only has to be the same in every replica.
        tx.exec(&Sql::new("SELECT pg_advisory_xact_lock(7310516221)"))
            .await?;
    }
    if signin_super_admins(&mut *tx.conn()).await? > 0 {
        return Ok(None);
    }
    let mut email = EMAIL.to_string();
    for n in 2.. {
        let mut sql =
            Sql::new("SELECT COUNT(*) FROM users WHERE deleted_at IS NULL AND email_lc = ");
        sql.arg(email.as_str());
        let taken: i64 = sql.query().fetch_one(&mut *tx.conn()).await?.try_get(0)?;
        if taken == 0 {
            break;
        }
        email = format!("admin-{n}@chamberlain.local");
    }
    let now = Timestamp::now();
    let user = User {
        id: new_id(),
        display_name: "Administrator".into(),
        email: email.clone(),
        emails: vec![email.clone()],
        status: UserStatus::Enabled,
        directory_status: UserStatus::Enabled,
        origin: UserOrigin::Local,
        user_type: UserType::Human,
        role_ids: vec![Role::SuperAdmin.id().to_string()],
        created_at: Some(now),
        updated_at: Some(now),
        ..Default::default()
    };
    tx.create(&user).await?;
    chamberlain_store::repo::web_auth::set_password(tx, &user.id, phc).await?;
    Ok(Some(email))
}

/// The text printed once after the bootstrap created the administrator.
pub fn announcement(public_url: &str, created: &Created) -> String {
    format!(
        "\nFirst start: created the administrator account (shown only this once).\n\
         \x20 Sign in at: {public_url}/auth/v1/signin\n\
         \x20 Email:      {}\n\
         \x20 Password:   {}\n\
         Change this password now: printf '%s\\n' \"$NEW_PASSWORD\" | chamberlain admin set-password --email {} --password-stdin\n",
        created.email, created.password, created.email
    )
}
