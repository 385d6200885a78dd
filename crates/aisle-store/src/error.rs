//! The store's one error enum, split into the caller's mistakes (an unknown id, a bad
//! argument), problems with the database itself (not an Aisle store, written by a newer
//! Aisle), and internal faults (the database engine failed, stored data is corrupt). No
//! variant names a backend: a backend's own error travels as the source of
//! [`StoreError::Backend`] or [`StoreError::Open`]. The server maps [`StoreError::class`] to
//! an HTTP status and [`StoreError::code`] to its stable error code, in one place.

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
    /// The database server did not answer; retrying later may succeed (HTTP 503).
    Unavailable,
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
    /// The database exists but is not an Aisle store (another program's database, or not a
    /// database at all).
    #[error("{location}: not an Aisle store ({reason})")]
    NotAStore { location: String, reason: String },
    /// The store was written by a newer Aisle whose schema this build does not know.
    #[error(
        "{location}: the store has schema version {found}, but this build of Aisle knows \
         versions up to {supported}; upgrade Aisle to open it"
    )]
    NewerSchema {
        location: String,
        found: i64,
        supported: i64,
    },
    /// The store's location is not one this build can open (an unknown URL scheme).
    #[error("{location}: {reason}")]
    BadLocation { location: String, reason: String },
    /// The database could not be opened or created.
    #[error("{location}: cannot open the store: {source}")]
    Open {
        location: String,
        source: Box<dyn std::error::Error + Send + Sync>,
    },
    /// The storage engine failed (disk full, I/O error, lock timeout, ...); the backend's own
    /// error is the source.
    #[error("store: {0}")]
    Backend(Box<dyn std::error::Error + Send + Sync>),
    /// The database server cannot be reached (down, restarting, the connection cut); nothing
    /// of the call was done, or it was rolled back.
    #[error("store unavailable: {0}")]
    Unavailable(Box<dyn std::error::Error + Send + Sync>),
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
            StoreError::NotAStore { .. }
            | StoreError::NewerSchema { .. }
            | StoreError::BadLocation { .. } => ErrorClass::Incompatible,
            StoreError::Open { .. } | StoreError::Backend(_) | StoreError::Corrupt(_) => {
                ErrorClass::Internal
            }
            StoreError::Unavailable(_) => ErrorClass::Unavailable,
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
            StoreError::BadLocation { .. } => "bad_store_location",
            StoreError::Open { .. } => "store_open_failed",
            StoreError::Backend(_) => "store_failure",
            StoreError::Unavailable(_) => "store_unavailable",
            StoreError::Corrupt(_) => "store_corrupt",
        }
    }

    /// A backend's own failure.
    pub fn backend(error: impl std::error::Error + Send + Sync + 'static) -> Self {
        StoreError::Backend(Box::new(error))
    }

    pub(crate) fn invalid(argument: &'static str, message: impl Into<String>) -> Self {
        StoreError::InvalidArgument {
            argument,
            message: message.into(),
        }
    }
}

pub type Result<T, E = StoreError> = std::result::Result<T, E>;
