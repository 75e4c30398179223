//! `StoreError`: what can go wrong in storage, split so that callers can tell "the database
//! is unreachable" (retry, 503) from every other failure. A read never turns an error into "none".

/// A storage failure.
#[derive(Debug, thiserror::Error)]
pub enum StoreError {
    /// The database cannot be reached or is overloaded; the request may be retried.
    #[error("the database is unavailable")]
    Unavailable(#[source] sqlx::Error),
    /// Stored data could not be interpreted (a row that no migration could have written).
    #[error("stored data is corrupt: {0}")]
    Corrupt(String),
    /// A caller-supplied step inside a transaction failed; nothing was written.
    #[error("a write was aborted: {0}")]
    Aborted(String),
    /// Any other database error.
    #[error("database error")]
    Database(#[source] sqlx::Error),
    /// One failure shared by every request of a group commit.
    #[error(transparent)]
    Shared(std::sync::Arc<StoreError>),
}

impl StoreError {
    /// Whether the failure means "cannot reach storage right now".
    pub fn is_unavailable(&self) -> bool {
        match self {
            StoreError::Unavailable(_) => true,
            StoreError::Shared(inner) => inner.is_unavailable(),
            _ => false,
        }
    }
}

impl From<sqlx::Error> for StoreError {
    fn from(err: sqlx::Error) -> Self {
        let transient = match &err {
            sqlx::Error::PoolTimedOut
            | sqlx::Error::PoolClosed
            | sqlx::Error::Io(_)
            | sqlx::Error::Tls(_)
            | sqlx::Error::WorkerCrashed => true,
            sqlx::Error::Database(db) => {
                let code = db.code().unwrap_or_default();
                // PostgreSQL connection exceptions (class 08), shutdown (57P0x), too many
                // connections (53300); SQLite busy (5) and locked (6).
                code.starts_with("08") || code.starts_with("57P0") || code == "53300" || code == "5" || code == "6"
            }
            _ => false,
        };
        if transient { StoreError::Unavailable(err) } else { StoreError::Database(err) }
    }
}
