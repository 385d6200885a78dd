//! Errors of the data layer. Row-level problems are not errors: they are counted drops in the
//! [`CleaningReport`](crate::CleaningReport). Errors are what stops a whole file.

use std::path::PathBuf;

/// A problem that stops reading a file (as opposed to a bad row, which is dropped and counted).
#[derive(Debug, thiserror::Error)]
pub enum DataError {
    /// The file could not be opened or read.
    #[error("{path}: {source}")]
    Io {
        path: PathBuf,
        source: std::io::Error,
    },
    /// The file ends in the middle of its content (e.g. a truncated gzip stream).
    #[error("{path}: input ends unexpectedly after line {line} ({source}); is the file truncated?")]
    Truncated {
        path: PathBuf,
        line: u64,
        source: std::io::Error,
    },
    /// The file holds no data at all.
    #[error("{path}: the file is empty")]
    Empty { path: PathBuf },
    /// The file does not look like the expected text format.
    #[error("{path}: {message}")]
    NotText { path: PathBuf, message: String },
    /// The header lacks a required column, or a mapping names a column that is not there.
    #[error("{path} line {line}: {message}")]
    Header {
        path: PathBuf,
        line: u64,
        message: String,
    },
    /// A command-line style option (column map, rating scale, weights) is malformed.
    #[error("{0}")]
    InvalidOption(String),
    /// Reading was cancelled by the caller.
    #[error("reading was cancelled")]
    Cancelled,
}

pub type Result<T, E = DataError> = std::result::Result<T, E>;
