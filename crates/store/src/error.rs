//! Storage errors.

/// What went wrong in the storage layer.
#[derive(Debug, thiserror::Error)]
pub enum StoreError {
    /// The object does not exist (or is deleted).
    #[error("{kind} `{id}` was not found")]
    NotFound {
        /// Object kind, as named in the API (e.g. "app").
        kind: &'static str,
        /// The id that was looked up.
        id: String,
    },
    /// A uniqueness rule was violated.
    #[error("{0}")]
    Conflict(String),
    /// The request is valid JSON but breaks a rule of the domain.
    #[error("{0}")]
    Invalid(String),
    /// The request conflicts with the current state (e.g. editing a synced object).
    #[error("{0}")]
    Precondition(String),
    /// Bad configuration (database URL and the like).
    #[error("{0}")]
    Config(String),
    /// A stored document no longer parses; this is a bug or a hand-edited database.
    #[error("stored {0} is corrupt: {1}")]
    Corrupt(&'static str, String),
    /// A guarded update found the row changed since it was read; retrying re-reads it.
    #[error("{0}")]
    Stale(String),
    /// Another writer in this writer's SQLite commit group failed, so the group's transaction
    /// was rolled back; this writer's block runs again (see `group_commit`).
    #[error("the transaction was rolled back with its commit group; run it again")]
    GroupAborted,
    /// The commit of a transaction failed.
    #[error("database error at commit: {0}")]
    CommitFailed(String),
    /// The database failed.
    #[error("database error: {0}")]
    Db(#[from] sqlx::Error),
}

impl StoreError {
    /// Shorthand for [`StoreError::NotFound`].
    pub fn not_found(kind: &'static str, id: impl Into<String>) -> Self {
        StoreError::NotFound {
            kind,
            id: id.into(),
        }
    }

    /// Serialization failures and busy databases: the transaction may succeed if run again.
    pub fn is_retryable(&self) -> bool {
        if matches!(self, StoreError::Stale(_) | StoreError::GroupAborted) {
            return true;
        }
        let StoreError::Db(e) = self else {
            return false;
        };
        match e {
            sqlx::Error::Database(db) => {
                let code = db.code().map(|c| c.to_string()).unwrap_or_default();
                let msg = db.message().to_ascii_lowercase();
                matches!(code.as_str(), "40001" | "40P01" | "5" | "6" | "517")
                    || msg.contains("database is locked")
                    || msg.contains("database table is locked")
            }
            sqlx::Error::PoolTimedOut => true,
            _ => false,
        }
    }

    /// Whether the database rejected a row for violating a unique index.
    pub fn is_unique_violation(&self) -> bool {
        match self {
            StoreError::Db(sqlx::Error::Database(db)) => {
                let code = db.code().map(|c| c.to_string()).unwrap_or_default();
                code == "23505"
                    || code == "2067"
                    || code == "1555"
                    || db.message().contains("UNIQUE constraint failed")
            }
            _ => false,
        }
    }
}
