//! The store's one error enum, split into the caller's mistakes (an unknown id, a bad
//! argument), problems with the database file itself (not an Aisle store, written by a newer
//! Aisle), and internal faults (the database engine failed, stored data is corrupt). The
//! server maps [`StoreError::class`] to an HTTP status and [`StoreError::code`] to its stable
//! error code, in one place.

use std::path::PathBuf;

/// What kind of failure an error is, for deciding who must act on it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ErrorClass {
    /// The caller asked for something that does not exist or passed a bad value; retrying the
    /// same call fails the same way (HTTP 4xx).
    UserMistake,
    /// The database file cannot be used by this program (foreign file, newer schema): an
    /// operator must act (exit at start-up).
    Incompatible,
    /// The storage engine or the stored data failed (HTTP 500).
    Internal,
}

/// Everything that can go wrong in a store.
#[derive(Debug, thiserror::Error)]
pub enum StoreError {
    /// No item has this id.
    #[error("unknown item '{0}'")]
    UnknownItem(String),
    /// No user has this id.
    #[error("unknown user '{0}'")]
    UnknownUser(String),
    /// No experiment has this name.
    #[error("unknown experiment '{0}'")]
    UnknownExperiment(String),
    /// Something with this name exists already.
    #[error("{what} '{name}' exists already")]
    AlreadyExists { what: &'static str, name: String },
    /// An argument is out of its allowed range or malformed.
    #[error("invalid {argument}: {message}")]
    InvalidArgument {
        argument: &'static str,
        message: String,
    },
    /// One event of a batch is invalid; nothing of the batch was stored.
    #[error("event {index} of the batch: {message} (nothing of the batch was stored)")]
    InvalidEvent { index: usize, message: String },
    /// The file exists but is not an Aisle store (another program's database, or not a
    /// database at all).
    #[error("{path}: not an Aisle store ({reason})")]
    NotAStore { path: PathBuf, reason: String },
    /// The store was written by a newer Aisle whose schema this build does not know.
    #[error(
        "{path}: the store has schema version {found}, but this build of Aisle knows versions up \
         to {supported}; upgrade Aisle to open it"
    )]
    NewerSchema {
        path: PathBuf,
        found: i64,
        supported: i64,
    },
    /// The database file could not be opened or created.
    #[error("{path}: cannot open the store: {source}")]
    Open {
        path: PathBuf,
        source: rusqlite::Error,
    },
    /// The storage engine failed (disk full, I/O error, lock timeout, ...).
    #[error("store: {0}")]
    Sqlite(#[from] rusqlite::Error),
    /// Stored data does not have the shape the schema promises.
    #[error("store: corrupt data: {0}")]
    Corrupt(String),
}

impl StoreError {
    /// Who must act on this error.
    pub fn class(&self) -> ErrorClass {
        match self {
            StoreError::UnknownItem(_)
            | StoreError::UnknownUser(_)
            | StoreError::UnknownExperiment(_)
            | StoreError::AlreadyExists { .. }
            | StoreError::InvalidArgument { .. }
            | StoreError::InvalidEvent { .. } => ErrorClass::UserMistake,
            StoreError::NotAStore { .. } | StoreError::NewerSchema { .. } => {
                ErrorClass::Incompatible
            }
            StoreError::Open { .. } | StoreError::Sqlite(_) | StoreError::Corrupt(_) => {
                ErrorClass::Internal
            }
        }
    }

    /// Whether the caller made the mistake (as opposed to the store failing).
    pub fn is_user_error(&self) -> bool {
        self.class() == ErrorClass::UserMistake
    }

    /// A stable machine-readable code, e.g. for the HTTP API's `error.code`.
    pub fn code(&self) -> &'static str {
        match self {
            StoreError::UnknownItem(_) => "unknown_item",
            StoreError::UnknownUser(_) => "unknown_user",
            StoreError::UnknownExperiment(_) => "unknown_experiment",
            StoreError::AlreadyExists { .. } => "already_exists",
            StoreError::InvalidArgument { .. } => "invalid_argument",
            StoreError::InvalidEvent { .. } => "invalid_event",
            StoreError::NotAStore { .. } => "not_a_store",
            StoreError::NewerSchema { .. } => "newer_schema",
            StoreError::Open { .. } => "store_open_failed",
            StoreError::Sqlite(_) => "store_failure",
            StoreError::Corrupt(_) => "store_corrupt",
        }
    }

    pub(crate) fn invalid(argument: &'static str, message: impl Into<String>) -> Self {
        StoreError::InvalidArgument {
            argument,
            message: message.into(),
        }
    }
}

pub type Result<T, E = StoreError> = std::result::Result<T, E>;
