//! A cleaned events file in memory: id maps, typed events and the cleaning report, and the
//! ways to turn it into an interaction matrix.

use std::path::Path;
use std::sync::atomic::AtomicBool;

use crate::clean::{Cleaner, CleaningOptions, CleaningReport};
use crate::error::{DataError, Result};
use crate::event::{EventTypes, Kind, PURCHASE, RATING, RETURN, VIEW};
use crate::ids::IdMap;
use crate::interactions::{Cell, DuplicatePolicy, Interactions};
use crate::reader::{ByteCounter, FileLayout, ReadOptions, read_events};
pub use crate::weighting::Weighting;
use crate::weighting::{Choice, Shape, Weighed, decide, matrix_from_sorted};

/// The user of a guest line (an order without a customer): kept in its basket, in no one's
/// history.
pub const GUEST: u32 = u32::MAX;
/// The basket of an event without one.
pub const NO_BASKET: u32 = u32::MAX;

/// One kept event. `value` is NaN when the row had none; `timestamp` 0 when it had none.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Event {
    /// [`GUEST`] for a line without a user.
    pub user: u32,
    pub item: u32,
    pub timestamp: i64,
    pub value: f32,
    pub kind: Kind,
    /// Line in the source file (saturated at `u32::MAX`).
    pub line: u32,
    /// Units (1 when the row had none); a return's units are positive.
    pub quantity: f32,
    /// Unit price; NaN when the row had none.
    pub price: f32,
    /// The basket's index in [`Dataset::baskets`], or [`NO_BASKET`].
    pub basket: u32,
}

/// A cleaned events file.
#[derive(Debug, Clone)]
pub struct Dataset {
    pub users: IdMap,
    pub items: IdMap,
    /// Basket (order, invoice, session) ids.
    pub baskets: IdMap,
    pub event_types: EventTypes,
    /// Kept events of known users, sorted by (user, item, timestamp).
    pub events: Vec<Event>,
    /// Kept lines without a user (guest orders), sorted by (item, timestamp): they belong to
    /// baskets, not to anyone's history.
    pub guest_events: Vec<Event>,
    pub report: CleaningReport,
    /// How the source file was read (set by [`Dataset::load`]).
    pub layout: Option<FileLayout>,
}

impl Dataset {
    pub(crate) fn from_parts(
        users: IdMap,
        items: IdMap,
        baskets: IdMap,
        event_types: EventTypes,
        events: Vec<Event>,
        guest_events: Vec<Event>,
        report: CleaningReport,
    ) -> Self {
        Dataset {
            users,
            items,
            baskets,
            event_types,
            events,
            guest_events,
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

    /// Resolves `Auto` for this dataset (see [`crate::weighting::decide`]).
    pub fn resolve(&self, weighting: Weighting) -> Weighting {
        self.choose(weighting).weighting
    }

    /// The weighting for `weighting` and why: `Auto` decided from the data, any other as
    /// asked.
    pub fn choose(&self, weighting: Weighting) -> Choice {
        match weighting {
            Weighting::Auto => decide(&self.shape()),
            other => Choice {
                weighting: other,
                reason: "as asked".into(),
                contenders: Vec::new(),
            },
        }
    }

    /// What the events look like, for the choice of a weighting.
    pub fn shape(&self) -> Shape {
        let mut shape = Shape {
            transactions: self.report.kind == crate::clean::FileKind::Transactions,
            all_whole: true,
            views_only: !self.events.is_empty(),
            purchases_only: self.events.iter().any(|e| e.kind == PURCHASE),
            declared_scale: self.report.declared_scale,
            ..Shape::default()
        };
        let mut values: Vec<f32> = Vec::new();
        for e in &self.events {
            if e.kind == RATING {
                shape.ratings += 1;
                if e.value.is_finite() {
                    shape.all_whole &= e.value.fract() == 0.0;
                    values.push(e.value);
                }
            } else {
                shape.others += 1;
            }
            if e.quantity != 1.0 {
                shape.varied_quantities += 1;
            }
            shape.views_only &= e.kind == VIEW;
            shape.purchases_only &= e.kind == PURCHASE || e.kind == RETURN;
        }
        if !values.is_empty() {
            values.sort_unstable_by(f32::total_cmp);
            shape.min = values[0];
            shape.max = values[values.len() - 1];
            shape.median = values[values.len() / 2];
            let mut distinct = values.clone();
            distinct.dedup();
            shape.distinct = distinct.len();
        }
        shape
    }

    /// The user × item matrix under `weighting`, shaped by the id maps; a pair's events merge
    /// as [`crate::weighting`] says (returns take back their purchases).
    pub fn interactions(&self, weighting: Weighting) -> Interactions {
        self.interactions_with(weighting, None)
    }

    /// The matrix under `weighting` holding only the pairs that have a cell in `pairs` (a
    /// training split made under another weighting): what lets models with different
    /// weightings train on the same split. `pairs` must have this dataset's shape.
    pub fn interactions_on(
        &self,
        weighting: Weighting,
        duplicates: Option<DuplicatePolicy>,
        pairs: &Interactions,
    ) -> Interactions {
        self.interactions_where(weighting, duplicates, |e| {
            (e.user as usize) < pairs.n_users() && pairs.row(e.user).contains(e.item)
        })
    }

    /// The matrix under `weighting` of the events `keep` accepts (a time slice, a set of
    /// pairs), with this dataset's shape.
    pub fn interactions_where(
        &self,
        weighting: Weighting,
        duplicates: Option<DuplicatePolicy>,
        keep: impl Fn(&Event) -> bool,
    ) -> Interactions {
        self.matrix_of(
            self.events.iter().filter(|e| keep(e)),
            weighting,
            duplicates,
        )
    }

    /// The matrix with an explicit duplicate policy (`None`: the weighting's own merging).
    pub fn interactions_with(
        &self,
        weighting: Weighting,
        policy: Option<DuplicatePolicy>,
    ) -> Interactions {
        self.matrix_of(self.events.iter(), weighting, policy)
    }

    /// The matrix of some of this dataset's events (in their order).
    fn matrix_of<'e>(
        &self,
        events: impl Iterator<Item = &'e Event>,
        weighting: Weighting,
        policy: Option<DuplicatePolicy>,
    ) -> Interactions {
        let weighting = self.resolve(weighting);
        let types = &self.event_types;
        // Events are sorted by (user, item, timestamp) (`Cleaner::finish`), so the matrix is
        // built in one pass with no copy of the cells.
        if let Some(policy) = policy {
            let cells = events.filter_map(|e| {
                Some(Cell {
                    user: e.user,
                    item: e.item,
                    weight: weighting.weight(e.kind, e.value, e.quantity, types)?,
                    timestamp: e.timestamp,
                })
            });
            return Interactions::from_sorted_cells(self.n_users(), self.n_items(), cells, policy);
        }
        let events = events.map(|e| Weighed {
            user: e.user,
            item: e.item,
            kind: e.kind,
            value: e.value,
            quantity: e.quantity,
            timestamp: e.timestamp,
        });
        matrix_from_sorted(self.n_users(), self.n_items(), events, weighting, types)
    }
}
