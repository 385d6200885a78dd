//! Stores opened by location: a path or `sqlite://` URL selects the embedded SQLite backend,
//! a `postgres://` URL the PostgreSQL one. Commands and the server name a location, never a
//! backend.

use std::path::PathBuf;
use std::sync::Arc;

use crate::error::{Result, StoreError};
use crate::postgres::PostgresStore;
use crate::sqlite::SqliteStore;
use crate::store::Store;

/// Where a store is.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Location {
    /// A SQLite file (created when missing).
    Sqlite(PathBuf),
    /// A PostgreSQL database, by connection URL.
    Postgres(String),
}

impl Location {
    /// Reads `postgres://...` / `postgresql://...`, `sqlite://PATH` / `sqlite:PATH`, or a
    /// plain path.
    pub fn parse(text: &str) -> Result<Location> {
        let text = text.trim();
        if text.is_empty() {
            return Err(StoreError::BadLocation {
                location: text.to_string(),
                reason: "no store location given (a path, or a postgres:// URL)".into(),
            });
        }
        if text.starts_with("postgres://") || text.starts_with("postgresql://") {
            return Ok(Location::Postgres(text.to_string()));
        }
        if let Some(path) = text
            .strip_prefix("sqlite://")
            .or_else(|| text.strip_prefix("sqlite:"))
        {
            return Ok(Location::Sqlite(PathBuf::from(path)));
        }
        if let Some((scheme, _)) = text.split_once("://") {
            return Err(StoreError::BadLocation {
                location: text.to_string(),
                reason: format!(
                    "unknown store scheme '{scheme}://' (use a path, sqlite://PATH or postgres://...)"
                ),
            });
        }
        Ok(Location::Sqlite(PathBuf::from(text)))
    }

    /// Opens (creating or migrating as needed) the store here.
    pub fn open(&self) -> Result<Arc<dyn Store>> {
        match self {
            Location::Sqlite(path) => Ok(Arc::new(SqliteStore::open(path)?)),
            Location::Postgres(url) => Ok(Arc::new(PostgresStore::open(url)?)),
        }
    }

    /// Deletes the store here, so the next open starts empty: a SQLite file with its
    /// write-ahead log. Refused for a database server's store.
    pub fn remove(&self) -> Result<()> {
        match self {
            Location::Sqlite(path) => {
                for suffix in ["", "-wal", "-shm"] {
                    let file = PathBuf::from(format!("{}{suffix}", path.display()));
                    match std::fs::remove_file(&file) {
                        Ok(()) => {}
                        Err(e) if e.kind() == std::io::ErrorKind::NotFound => {}
                        Err(e) => {
                            return Err(StoreError::Open {
                                location: file.display().to_string(),
                                source: Box::new(e),
                            });
                        }
                    }
                }
                Ok(())
            }
            Location::Postgres(url) => Err(StoreError::BadLocation {
                location: url.clone(),
                reason: "a PostgreSQL store is not deleted by Aisle; drop its tables yourself"
                    .into(),
            }),
        }
    }
}

impl std::fmt::Display for Location {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Location::Sqlite(path) => write!(f, "{}", path.display()),
            Location::Postgres(url) => f.write_str(url),
        }
    }
}

/// Opens the store at `location` (a path or URL; see [`Location::parse`]).
pub fn open(location: impl AsRef<str>) -> Result<Arc<dyn Store>> {
    Location::parse(location.as_ref())?.open()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn locations_select_backends() {
        assert_eq!(
            Location::parse("aisle.db").unwrap(),
            Location::Sqlite("aisle.db".into())
        );
        assert_eq!(
            Location::parse("sqlite:///tmp/a.db").unwrap(),
            Location::Sqlite("/tmp/a.db".into())
        );
        assert_eq!(
            Location::parse("postgres://u@h/db").unwrap(),
            Location::Postgres("postgres://u@h/db".into())
        );
        let err = Location::parse("mysql://h/db").unwrap_err().to_string();
        assert!(err.contains("unknown store scheme 'mysql://'"), "{err}");
    }
}
