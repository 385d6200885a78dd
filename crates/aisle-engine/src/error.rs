//! Why the engine could not answer a list request.

use aisle_store::StoreError;

/// Why a list could not be made.
#[derive(Debug, thiserror::Error)]
pub enum EngineError {
    #[error(transparent)]
    Store(#[from] StoreError),
    #[error("no model is trained yet")]
    NoModel,
    #[error("no trained model is called '{name}' (serving: {available})")]
    UnknownModel { name: String, available: String },
    #[error("unknown item '{0}'")]
    UnknownItem(String),
    /// The user was deleted (and has not come back since).
    #[error("user '{0}' was deleted")]
    DeletedUser(String),
    #[error("the '{0}' model has no notion of item similarity")]
    NoSimilarity(String),
    /// The log of served lists is full (the store is not taking them fast enough).
    #[error("the server is serving lists faster than the store can log them; retry shortly")]
    Overloaded(#[from] crate::writer::Overloaded),
}
