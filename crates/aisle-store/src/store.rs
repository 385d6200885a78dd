//! The [`Store`] trait: everything Aisle keeps between runs (catalogue, users, events, model
//! versions), independent of where it is kept.
//!
//! The trait is synchronous and object-safe, used as `Arc<dyn Store>`; the HTTP server calls
//! it from `tokio::task::spawn_blocking`. Every method is one short unit of work that either
//! happens completely or not at all, so a caller never sees half a batch. A backend applies
//! the checks of [`crate::record`] before writing, so every backend refuses the same input
//! with the same error.

use aisle_data::{CleaningOptions, Dataset, Item, User};

use crate::error::Result;
use crate::record::{
    CatalogueChanges, Counts, Cursor, DayCount, DeletedUser, EventId, ExperimentRecord, Impression,
    ModelInfo, ModelMeta, ModelVersion, NewEvent, NewTuning, Page, PlacementRecord, ScanSummary,
    StoredEvent, StoredModel, TuningRecord,
};
use crate::snapshot;

/// The trainer lock of [`Store::try_trainer_lock`], released when dropped.
pub trait TrainerLock: Send {}

/// What another process sharing the store changed, as told by [`Store::watch_changes`].
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Change {
    /// A model version was saved.
    Models,
    /// Items were written, deleted or made (un)available.
    Catalogue,
    /// An experiment was created or stopped.
    Experiments,
    /// A placement was written or deleted.
    Placements,
    /// Notices may have been missed (the listening connection broke and is back): look at
    /// everything.
    Everything,
}

/// Called with each [`Change`]; must return quickly (it runs on the store's I/O thread).
pub type ChangeListener = Box<dyn Fn(Change) + Send + Sync>;

/// The lock of a store no other process trains on.
struct Unshared;

impl TrainerLock for Unshared {}

/// A place where Aisle keeps its data. See `docs/store.md` for the contract each backend
/// keeps (ordering, durability, versioning).
pub trait Store: Send + Sync + std::fmt::Debug {
    /// Where the data is, for logs and messages (e.g. `sqlite:/var/lib/aisle/aisle.db`).
    fn location(&self) -> String;

    // ---- catalogue ----

    /// Inserts or replaces items by id, all in one transaction; returns how many were written.
    /// A replaced item keeps its place in listings.
    fn upsert_items(&self, items: &[Item]) -> Result<u64>;
    /// The item with this id, if any.
    fn item(&self, id: &str) -> Result<Option<Item>>;
    /// The items with these ids that exist, in the order asked (unknown ids are skipped).
    fn get_items(&self, ids: &[&str]) -> Result<Vec<Item>>;
    /// Removes an item ([`StoreError::UnknownItem`](crate::StoreError::UnknownItem) if there is
    /// none). Its events stay: they are history.
    fn delete_item(&self, id: &str) -> Result<()>;
    /// Up to `limit` items (1 to [`MAX_PAGE`](crate::MAX_PAGE)) after `after`, in the order
    /// they were first stored.
    fn list_items(&self, after: Option<Cursor>, limit: usize) -> Result<Page<Item>>;
    /// The catalogue's version: it grows with every write or deletion of items.
    fn catalogue_version(&self) -> Result<i64>;
    /// The ids of items written or deleted after catalogue version `since`, and the version
    /// now: the change feed a serving copy of the catalogue follows.
    fn catalogue_changes(&self, since: i64) -> Result<CatalogueChanges>;

    // ---- users ----

    /// Inserts or replaces users by id, all in one transaction; returns how many were written.
    fn upsert_users(&self, users: &[User]) -> Result<u64>;
    /// The user with this id, if any.
    fn user(&self, id: &str) -> Result<Option<User>>;
    /// Deletes a user: their record and, with `erase_events` (a request to be forgotten),
    /// every event of theirs, in one transaction
    /// ([`StoreError::UnknownUser`](crate::StoreError::UnknownUser) if there was neither).
    /// The user then counts as deleted ([`user_deleted`](Store::user_deleted)) until they are
    /// stored again or a new event of theirs arrives.
    fn delete_user(&self, id: &str, erase_events: bool) -> Result<DeletedUser>;
    /// Whether the user was deleted and has not come back since (no record stored again, no
    /// newer event).
    fn user_deleted(&self, id: &str) -> Result<bool>;
    /// Up to `limit` users after `after`, in the order they were first stored.
    fn list_users(&self, after: Option<Cursor>, limit: usize) -> Result<Page<User>>;

    // ---- events ----

    /// Appends events in one transaction and returns how many were stored. When this returns
    /// `Ok`, the events survive the process being killed. An invalid event rejects the whole
    /// batch ([`StoreError::InvalidEvent`](crate::StoreError::InvalidEvent) names it).
    fn append_events(&self, events: &[NewEvent<'_>]) -> Result<u64>;
    /// Calls `visit` for every event with an id above `after` (all when `None`), in id order,
    /// from one consistent snapshot: events appended meanwhile are not visited (continue from
    /// the returned [`ScanSummary::last`] to get them).
    fn scan_events(
        &self,
        after: Option<EventId>,
        visit: &mut dyn FnMut(&StoredEvent),
    ) -> Result<ScanSummary>;
    /// A user's `limit` most recent events (by timestamp, then id; events without a timestamp
    /// count as the oldest), oldest first: the history a model folds in.
    fn user_events(&self, user_id: &str, limit: usize) -> Result<Vec<StoredEvent>>;
    /// [`user_events`](Store::user_events) and [`user_deleted`](Store::user_deleted)
    /// together: what a user's list reads. A database server answers both in one round trip.
    /// Only what a list reads is certain to be filled in: an event's `recommendation_id`,
    /// `position`, `price` and `basket` may be `None` (SQLite reads the history from an index
    /// that holds the rest).
    fn user_history(&self, user_id: &str, limit: usize) -> Result<(Vec<StoredEvent>, bool)> {
        Ok((
            self.user_events(user_id, limit)?,
            self.user_deleted(user_id)?,
        ))
    }

    /// The id of the newest stored event, if any.
    fn last_event_id(&self) -> Result<Option<EventId>>;
    /// Events per day (UTC) and type, oldest day first; events without a timestamp are not
    /// counted.
    fn events_per_day(&self) -> Result<Vec<DayCount>>;

    // ---- served lists and experiments ----

    /// Records served lists; a `recommendation_id` already recorded is kept as it was.
    fn log_impressions(&self, impressions: &[Impression]) -> Result<u64>;
    /// Calls `visit` for every list served in `experiment` at or after `since` (Unix
    /// seconds; `i64::MIN` for all), oldest first; returns how many.
    fn experiment_impressions(
        &self,
        experiment: &str,
        since: i64,
        visit: &mut dyn FnMut(&Impression),
    ) -> Result<u64>;
    /// Calls `visit` for each stored list whose `recommendation_id` is among `ids`, in no
    /// particular order (ids not stored are skipped); returns how many: how an experiment's
    /// running count finds the list an event cites without keeping every list in memory.
    fn impressions_by_id(&self, ids: &[&str], visit: &mut dyn FnMut(&Impression)) -> Result<u64>;
    /// Stores a new experiment ([`StoreError::AlreadyExists`](crate::StoreError::AlreadyExists)
    /// if the name is taken: results stay attached to one definition).
    fn create_experiment(&self, experiment: &ExperimentRecord) -> Result<()>;
    /// Every experiment, oldest first.
    fn experiments(&self) -> Result<Vec<ExperimentRecord>>;
    /// Marks an experiment stopped at `at` (Unix seconds); its lists and results stay.
    fn stop_experiment(&self, name: &str, at: i64) -> Result<()>;

    /// Lists served to `user_id` at or after `since` (Unix seconds), newest first, at most
    /// `limit` (1 to [`MAX_PAGE`](crate::MAX_PAGE)): what a rotation rule looks at.
    fn user_impressions(&self, user_id: &str, since: i64, limit: usize) -> Result<Vec<Impression>>;
    /// Calls `visit` for the lists served at or after `since`, newest first, at most `limit`
    /// of them; returns how many: what keeps rotation's memory of recent lists whole.
    fn recent_impressions(
        &self,
        since: i64,
        limit: usize,
        visit: &mut dyn FnMut(&Impression),
    ) -> Result<u64>;
    /// Deletes up to `limit` lists served before `before` (Unix seconds); returns how many
    /// (retention: called in batches until it answers fewer than `limit`).
    fn delete_impressions_before(&self, before: i64, limit: usize) -> Result<u64>;
    /// Deletes up to `limit` events dated before `before`, oldest first; events without a
    /// timestamp stay. Returns how many.
    fn delete_events_before(&self, before: i64, limit: usize) -> Result<u64>;

    // ---- placements ----

    /// Stores a placement under its name, replacing the one stored before.
    fn put_placement(&self, placement: &PlacementRecord) -> Result<()>;
    /// Deletes a placement; `false` when none had that name.
    fn delete_placement(&self, name: &str) -> Result<bool>;
    /// Every stored placement, by name.
    fn placements(&self) -> Result<Vec<PlacementRecord>>;

    /// How many items, users, events and model versions the store holds.
    fn counts(&self) -> Result<Counts>;

    // ---- models ----

    /// Stores a serialised model under a new version, larger than every earlier one.
    fn save_model(&self, meta: &ModelMeta, bytes: &[u8]) -> Result<ModelVersion>;
    /// The newest version of the model called `name`, if any.
    fn latest_model(&self, name: &str) -> Result<Option<StoredModel>>;
    /// One version, if it exists.
    fn model(&self, version: ModelVersion) -> Result<Option<StoredModel>>;
    /// Every stored version's description (without bytes), oldest first.
    fn list_models(&self) -> Result<Vec<ModelInfo>>;

    // ---- tunings ----

    /// Stores a search's outcome; returns its id, larger than every earlier one.
    fn save_tuning(&self, tuning: &NewTuning) -> Result<i64>;
    /// The newest outcome stored for `model`, if any.
    fn latest_tuning(&self, model: &str) -> Result<Option<TuningRecord>>;
    /// Up to `limit` outcomes (1 to [`MAX_PAGE`](crate::MAX_PAGE)), newest first.
    fn tunings(&self, limit: usize) -> Result<Vec<TuningRecord>>;

    // ---- replicas ----

    /// Tries to become the one process that trains among those sharing this store:
    /// `Ok(None)` when another holds the lock. Held until the guard drops (or the process
    /// dies). A SQLite store is one machine's, whose server runs one training job at a time
    /// anyway: it always grants the lock.
    fn try_trainer_lock(&self) -> Result<Option<Box<dyn TrainerLock>>> {
        Ok(Some(Box::new(Unshared)))
    }

    /// Runs `load` — a large load of events through [`Store::append_events`], an import —
    /// the way the backend writes fastest, and returns what it returns. The default just
    /// runs it; PostgreSQL builds the history index once after loading into an empty store
    /// instead of updating it row by row (4× faster on 5M events).
    fn bulk_load(&self, load: &mut dyn FnMut() -> Result<u64>) -> Result<u64> {
        load()
    }

    /// Asks to be told of changes committed by any process sharing the store (this one
    /// included), so followers need not wait for their next poll. Returns `false` when the
    /// backend has no such notices (SQLite: one machine's store, polled cheaply), in which
    /// case `listen` is dropped unused. Notices are a hint, never the only way: a caller
    /// keeps polling, less often.
    fn watch_changes(&self, listen: ChangeListener) -> Result<bool> {
        drop(listen);
        Ok(false)
    }

    /// Makes everything committed so far part of the store proper, for a clean stop (SQLite:
    /// moves the write-ahead log into the file and empties it). A no-op where the database
    /// does that itself.
    fn checkpoint(&self) -> Result<()> {
        Ok(())
    }

    /// Whether reads are answered inside this process, from its memory and files, with no
    /// round trip to a database server: short enough to run on a request's own thread.
    fn reads_locally(&self) -> bool {
        false
    }

    /// Whether several servers may serve from this store at once (replicas behind a load
    /// balancer), so that lists they serve reach this one only through the store.
    fn serves_replicas(&self) -> bool {
        false
    }

    // ---- training snapshots ----

    /// Every stored event, cleaned by the data crate's [`Cleaner`](aisle_data::Cleaner) with
    /// `options`, as a [`Dataset`]: the same rules and report as for a file. The report's
    /// "lines" are event ids.
    fn dataset(&self, options: &CleaningOptions) -> Result<Dataset> {
        Ok(self.snapshot(options, false)?.dataset)
    }

    /// Like [`dataset`](Store::dataset), restricted to the stored catalogue: events for items
    /// not in it are dropped as `unknown_item`, and every catalogue item has an index (in
    /// listing order) even without events, so new items can be recommended by content.
    fn catalogue_dataset(&self, options: &CleaningOptions) -> Result<Dataset> {
        Ok(self.snapshot(options, true)?.dataset)
    }

    /// [`dataset`](Store::dataset) (or, with `restrict_to_catalogue`,
    /// [`catalogue_dataset`](Store::catalogue_dataset)) with the id of the last event it
    /// includes.
    fn snapshot(
        &self,
        options: &CleaningOptions,
        restrict_to_catalogue: bool,
    ) -> Result<snapshot::Snapshot> {
        snapshot::snapshot(self, options, restrict_to_catalogue)
    }
}
