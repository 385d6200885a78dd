//! A cleaned events file in memory: id maps, typed events and the cleaning report, and the
//! ways to turn it into an interaction matrix.

use std::path::Path;
use std::sync::atomic::AtomicBool;

use serde::{Deserialize, Serialize};

use crate::clean::{Cleaner, CleaningOptions, CleaningReport};
use crate::error::{DataError, Result};
use crate::event::{EventTypes, Kind, RATING};
use crate::ids::IdMap;
use crate::interactions::{Cell, DuplicatePolicy, Interactions};
use crate::reader::{ByteCounter, FileLayout, ReadOptions, read_events};

/// One kept event. `value` is NaN when the row had none; `timestamp` 0 when it had none.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Event {
    pub user: u32,
    pub item: u32,
    pub timestamp: i64,
    pub value: f32,
    pub kind: Kind,
    /// Line in the source file (saturated at `u32::MAX`).
    pub line: u32,
}

/// How events become matrix weights.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Weighting {
    /// `ratings` if every event is a rating, `implicit` otherwise.
    #[default]
    Auto,
    /// Only rating events, weighted by their value; repeated ratings: the latest wins.
    Ratings,
    /// Every event weighted by its type's weight; repeated pairs add up.
    Implicit,
    /// Every (user, item) pair with any event weighs 1.
    Binary,
}

impl std::str::FromStr for Weighting {
    type Err = String;
    fn from_str(s: &str) -> std::result::Result<Self, Self::Err> {
        match s {
            "auto" => Ok(Weighting::Auto),
            "ratings" | "rating" => Ok(Weighting::Ratings),
            "implicit" => Ok(Weighting::Implicit),
            "binary" => Ok(Weighting::Binary),
            other => Err(format!(
                "unknown weighting '{other}' (expected auto, ratings, implicit or binary)"
            )),
        }
    }
}

impl Weighting {
    /// The matrix weight of one event of `kind` with `value` under this (resolved) weighting,
    /// or `None` when the event does not count (a non-rating event under `Ratings`).
    pub fn weight(self, kind: Kind, value: f32, types: &EventTypes) -> Option<f32> {
        match self {
            Weighting::Ratings => (kind == RATING).then_some(value),
            Weighting::Binary => Some(1.0),
            Weighting::Implicit | Weighting::Auto => Some(types.weight(kind)),
        }
    }

    /// How repeated events of one (user, item) pair merge under this (resolved) weighting.
    pub fn duplicate_policy(self) -> DuplicatePolicy {
        match self {
            Weighting::Ratings => DuplicatePolicy::Last,
            Weighting::Binary => DuplicatePolicy::Max,
            Weighting::Implicit | Weighting::Auto => DuplicatePolicy::Sum,
        }
    }
}

/// A cleaned events file.
#[derive(Debug, Clone)]
pub struct Dataset {
    pub users: IdMap,
    pub items: IdMap,
    pub event_types: EventTypes,
    /// Kept events, sorted by (user, item, timestamp).
    pub events: Vec<Event>,
    pub report: CleaningReport,
    /// How the source file was read (set by [`Dataset::load`]).
    pub layout: Option<FileLayout>,
}

impl Dataset {
    pub(crate) fn from_parts(
        users: IdMap,
        items: IdMap,
        event_types: EventTypes,
        events: Vec<Event>,
        report: CleaningReport,
    ) -> Self {
        Dataset {
            users,
            items,
            event_types,
            events,
            report,
            layout: None,
        }
    }

    /// Reads and cleans an events file.
    pub fn load(
        path: &Path,
        read: &ReadOptions,
        clean: &CleaningOptions,
        counter: &ByteCounter,
        cancel: Option<&AtomicBool>,
    ) -> Result<Dataset> {
        let cleaner = Cleaner::new(clean.clone()).map_err(DataError::InvalidOption)?;
        Self::load_with(cleaner, path, read, counter, cancel)
    }

    /// Reads and cleans `path` with a prepared cleaner (e.g. one that shares id maps with a
    /// training file, or is restricted to a catalogue).
    pub fn load_with(
        mut cleaner: Cleaner,
        path: &Path,
        read: &ReadOptions,
        counter: &ByteCounter,
        cancel: Option<&AtomicBool>,
    ) -> Result<Dataset> {
        let layout = read_events(path, read, counter, cancel, |record| cleaner.visit(record))?;
        let mut dataset = cleaner.finish();
        dataset.layout = Some(layout);
        Ok(dataset)
    }

    /// Reads a training and a test file so that both share one id space (test-only users and
    /// items get indices after the training ones). Returns the two datasets with their id
    /// maps identical (the test's).
    pub fn load_pair(
        train: &Path,
        test: &Path,
        read: &ReadOptions,
        clean: &CleaningOptions,
        counter: &ByteCounter,
        cancel: Option<&AtomicBool>,
    ) -> Result<(Dataset, Dataset)> {
        let mut train_set = Self::load(train, read, clean, counter, cancel)?;
        let cleaner = Cleaner::continuing(
            clean.clone(),
            train_set.users.clone(),
            train_set.items.clone(),
        )
        .map_err(DataError::InvalidOption)?;
        let test_set = Self::load_with(cleaner, test, read, counter, cancel)?;
        train_set.users = test_set.users.clone();
        train_set.items = test_set.items.clone();
        Ok((train_set, test_set))
    }

    pub fn n_users(&self) -> usize {
        self.users.len()
    }

    pub fn n_items(&self) -> usize {
        self.items.len()
    }

    /// Whether every event is a rating.
    pub fn is_ratings_only(&self) -> bool {
        !self.events.is_empty() && self.events.iter().all(|e| e.kind == RATING)
    }

    /// Whether any event has a timestamp.
    pub fn has_timestamps(&self) -> bool {
        self.events.iter().any(|e| e.timestamp != 0)
    }

    /// Resolves `Auto` for this dataset.
    pub fn resolve(&self, weighting: Weighting) -> Weighting {
        match weighting {
            Weighting::Auto if self.is_ratings_only() => Weighting::Ratings,
            Weighting::Auto => Weighting::Implicit,
            other => other,
        }
    }

    /// The user × item matrix under `weighting`, shaped by the id maps, repeated pairs merged
    /// by the weighting's usual policy.
    pub fn interactions(&self, weighting: Weighting) -> Interactions {
        self.interactions_with(weighting, None)
    }

    /// The matrix with an explicit duplicate policy (`None`: the weighting's usual one).
    pub fn interactions_with(
        &self,
        weighting: Weighting,
        policy: Option<DuplicatePolicy>,
    ) -> Interactions {
        let weighting = self.resolve(weighting);
        let types = &self.event_types;
        // Events are sorted by (user, item, timestamp) (`Cleaner::finish`), so the matrix is
        // built in one pass with no copy of the cells.
        let cells = self.events.iter().filter_map(|e| {
            Some(Cell {
                user: e.user,
                item: e.item,
                weight: weighting.weight(e.kind, e.value, types)?,
                timestamp: e.timestamp,
            })
        });
        let policy = policy.unwrap_or_else(|| weighting.duplicate_policy());
        Interactions::from_sorted_cells(self.n_users(), self.n_items(), cells, policy)
    }
}
