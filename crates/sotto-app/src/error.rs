//! `AppError`: every way a use case can fail, in terms the HTTP layer maps once.

use sotto_core::FieldError;
use sotto_core::scope::Scope;
use sotto_store::StoreError;

/// A use case failure.
#[derive(Debug, thiserror::Error)]
pub enum AppError {
    /// No credentials, or credentials that do not match a live key.
    #[error("{message}")]
    Unauthenticated {
        /// `missing_api_key` or `invalid_api_key`.
        code: &'static str,
        /// What to do about it.
        message: &'static str,
    },
    /// The caller lacks a scope.
    #[error("this call needs the scope {0}")]
    Forbidden(Scope),
    /// The input broke one or more rules; nothing was written.
    #[error("the request was refused")]
    Invalid(Vec<FieldError>),
    /// A HIPAA authorization lacks core elements or required statements.
    #[error("the authorization is missing required elements")]
    IncompleteAuthorization(Vec<String>),
    /// The object does not exist.
    #[error("{0} not found")]
    NotFound(&'static str),
    /// The object exists already, or the request conflicts with current state.
    #[error("{message}")]
    Conflict {
        /// A stable code.
        code: &'static str,
        /// What conflicts.
        message: String,
    },
    /// Storage failed.
    #[error(transparent)]
    Store(#[from] StoreError),
    /// An invariant of the process broke (a poisoned lock, a value that would not serialize).
    #[error("internal error: {0}")]
    Internal(&'static str),
    /// The audit checkpoint directory could not be read or written.
    #[error("audit checkpoints: {0}")]
    Checkpoint(String),
    /// Stored ciphertext did not decrypt with this master key.
    #[error("stored identifiers could not be decrypted with the configured master key")]
    Crypto,
    /// The caller is over its rate; it may try again after this many seconds.
    #[error("too many requests: this API key may send again in {0} seconds")]
    RateLimited(u64),
}

impl AppError {
    /// A refusal with a single field error.
    pub fn invalid(error: FieldError) -> Self {
        AppError::Invalid(vec![error])
    }
}
