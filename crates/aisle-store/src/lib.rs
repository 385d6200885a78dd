//! Aisle's storage: the catalogue, users, events and trained model versions, kept between
//! runs behind one [`Store`] trait.
//!
//! [`SqliteStore`] is the embedded default (one file, write-ahead log, migrations applied on
//! open); [`PostgresStore`] implements the same trait for several replicas sharing one
//! database (see `docs/store.md` and `docs/deploy.md`). Everything here is synchronous: the HTTP server calls a store from
//! `tokio::task::spawn_blocking`. A training snapshot ([`Store::dataset`]) feeds the stored
//! events through the data crate's cleaner, so the same rules and report apply as to a file.
//!
//! ```
//! use aisle_data::CleaningOptions;
//! use aisle_store::NewEvent;
//!
//! let dir = tempfile::tempdir()?;
//! let store = aisle_store::open(dir.path().join("aisle.db").to_str().unwrap())?;
//! let rating = NewEvent { value: Some(4.0), ..NewEvent::new("u1", "i1", "rating") };
//! store.append_events(&[NewEvent::new("u1", "i2", "view"), rating])?;
//! let dataset = store.dataset(&CleaningOptions::default())?;
//! assert_eq!((dataset.n_users(), dataset.n_items()), (1, 2));
//! # Ok::<(), Box<dyn std::error::Error>>(())
//! ```

#[cfg(test)]
mod conformance;
pub mod copy;
pub mod error;
pub mod ingest;
pub mod location;
pub mod postgres;
pub mod record;
pub mod snapshot;
mod sql;
pub mod sqlite;
pub mod store;

pub use copy::{CopyReport, copy};
pub use error::{ErrorClass, Result, StoreError};
pub use ingest::append_dataset;
pub use location::{Location, open};
pub use postgres::PostgresStore;
pub use record::{
    CatalogueChanges, Counts, Cursor, DayCount, DeletedUser, EventId, ExperimentRecord, Impression,
    MAX_ID_CHARS, MAX_PAGE, ModelInfo, ModelMeta, ModelVersion, NewEvent, NewTuning, Page,
    PlacementRecord, ScanSummary, StoredEvent, StoredModel, TIMESTAMPS, TuningRecord,
};
pub use snapshot::Snapshot;
pub use sqlite::{Durability, SqliteOptions, SqliteStore};
pub use store::{Change, ChangeListener, Store, TrainerLock};
