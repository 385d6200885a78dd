//! The validation split a search scores candidates on, carved from the data it is given —
//! the training data, never a test set.
//!
//! The data's pairs (every user–item pair with a cell under `binary` weighting) are split by
//! the protocol (a per-user holdout, a random share, each user's last) into pairs to fit and
//! pairs to validate on; each weighting a search tries then builds its matrices from the same
//! two sets of pairs, so candidates are compared on exactly the same validation cells.
//!
//! A temporal protocol cuts time instead, as a shop's future does: the events before the
//! latest `fraction` of them are fitted on, and the validation cells are the pairs first seen
//! after the cut, for users seen before it — items new to each user, as `aisle evaluate`
//! scores by default. (A pair bought before and again after the cut is a repeat, not a
//! discovery: it is neither fitted on after the cut nor validated on.)
//!
//! Scoring is the evaluation runner's ([`crate::FoldEvaluator`]), items already fitted on
//! left out of the lists.

use std::collections::BTreeMap;

use aisle_data::{Dataset, DuplicatePolicy, Event, Interactions, Protocol, Weighting, split};

use crate::runner::{EvalOptions, Fold, FoldEvaluator};
use crate::tune::TuneError;

/// One carve of a dataset: its pairs split in two, and a fold per weighting built from them.
#[derive(Debug)]
pub struct Carve {
    /// The pairs fitted on (binary weights).
    pub fit_pairs: Interactions,
    /// The pairs validated on (binary weights).
    pub validation_pairs: Interactions,
    folds: BTreeMap<WeightingKey, Fold>,
}

/// `Weighting` ordered, for a map key.
type WeightingKey = u8;

fn key(weighting: Weighting) -> WeightingKey {
    match weighting {
        Weighting::Auto => 0,
        Weighting::Ratings => 1,
        Weighting::Implicit => 2,
        Weighting::Binary => 3,
        Weighting::Counts => 4,
    }
}

impl Carve {
    /// Splits `dataset`'s pairs — only those of `within` when given (the training part of
    /// an outer split) — by `protocol` (the first fold of a k-fold protocol) with `seed`, and
    /// builds the fold of each of `weightings`.
    pub fn new(
        dataset: &Dataset,
        within: Option<&Interactions>,
        protocol: Protocol,
        seed: u64,
        weightings: &[Weighting],
        duplicates: Option<DuplicatePolicy>,
    ) -> Result<Self, TuneError> {
        if let Protocol::Temporal { fraction } = protocol {
            return Self::by_time(dataset, within, fraction, weightings, duplicates);
        }
        let pairs = match within {
            Some(within) => dataset.interactions_on(Weighting::Binary, None, within),
            None => dataset.interactions(Weighting::Binary),
        };
        let first = split(&pairs, protocol, seed).into_iter().next();
        let Some(aisle_data::Split { train, test }) = first else {
            return Err(TuneError::NoValidation {
                reason: format!("the protocol {protocol} made no split"),
            });
        };
        if test.nnz() == 0 || train.nnz() == 0 {
            return Err(TuneError::NoValidation {
                reason: format!(
                    "{protocol} leaves {} pairs to fit and {} to validate on; the data is too \
                     small to tune on",
                    train.nnz(),
                    test.nnz()
                ),
            });
        }
        let mut folds = BTreeMap::new();
        for &weighting in weightings {
            folds.entry(key(weighting)).or_insert_with(|| Fold {
                train: dataset.interactions_on(weighting, duplicates, &train),
                test: dataset.interactions_on(weighting, duplicates, &test),
            });
        }
        Ok(Carve {
            fit_pairs: train,
            validation_pairs: test,
            folds,
        })
    }

    /// The carve of a temporal protocol: the latest `fraction` of the events (of the pairs in
    /// `within`, when given) is the future; see the module docs.
    fn by_time(
        dataset: &Dataset,
        within: Option<&Interactions>,
        fraction: f64,
        weightings: &[Weighting],
        duplicates: Option<DuplicatePolicy>,
    ) -> Result<Self, TuneError> {
        let inside = |e: &Event| {
            within.is_none_or(|w| (e.user as usize) < w.n_users() && w.row(e.user).contains(e.item))
        };
        let mut times: Vec<i64> = dataset
            .events
            .iter()
            .filter(|e| inside(e))
            .map(|e| e.timestamp)
            .collect();
        if times.iter().all(|&t| t == times[0]) {
            return Err(TuneError::NoValidation {
                reason: "a temporal split needs events at different times".into(),
            });
        }
        times.sort_unstable();
        let index = ((times.len() as f64) * (1.0 - fraction)) as usize;
        let cut = times[index.min(times.len() - 1)];
        let before = |e: &Event| inside(e) && e.timestamp < cut;
        let fit_pairs = dataset.interactions_where(Weighting::Binary, None, before);
        let discovered = |e: &Event| {
            inside(e)
                && e.timestamp >= cut
                && fit_pairs.row_len(e.user) > 0
                && !fit_pairs.row(e.user).contains(e.item)
        };
        let validation_pairs = dataset.interactions_where(Weighting::Binary, None, discovered);
        if validation_pairs.nnz() == 0 || fit_pairs.nnz() == 0 {
            return Err(TuneError::NoValidation {
                reason: format!(
                    "the latest {fraction} of the events hold no item new to a user seen before"
                ),
            });
        }
        let mut folds = BTreeMap::new();
        for &weighting in weightings {
            folds.entry(key(weighting)).or_insert_with(|| Fold {
                train: dataset.interactions_where(weighting, duplicates, before),
                test: dataset.interactions_where(weighting, duplicates, discovered),
            });
        }
        Ok(Carve {
            fit_pairs,
            validation_pairs,
            folds,
        })
    }

    /// The fold of `weighting` (one of those the carve was made for).
    pub fn fold(&self, weighting: Weighting) -> &Fold {
        &self.folds[&key(weighting)]
    }

    /// An evaluator per weighting, scoring on this carve.
    pub fn evaluators<'a>(&'a self, options: &'a EvalOptions) -> Evaluators<'a> {
        Evaluators {
            by_weighting: self
                .folds
                .iter()
                .map(|(&k, fold)| (k, FoldEvaluator::new(fold, 0, options)))
                .collect(),
        }
    }
}

/// The evaluators of a carve, one per weighting.
#[derive(Debug)]
pub struct Evaluators<'a> {
    by_weighting: BTreeMap<WeightingKey, FoldEvaluator<'a>>,
}

impl<'a> Evaluators<'a> {
    pub fn get(&self, weighting: Weighting) -> &FoldEvaluator<'a> {
        &self.by_weighting[&key(weighting)]
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use aisle_data::{ByteCounter, CleaningOptions, ReadOptions};

    /// A generated shop's events, loaded.
    fn shop() -> (tempfile::TempDir, Dataset) {
        let dir = tempfile::tempdir().unwrap();
        let config = aisle_data::generate::ShopConfig {
            users: 200,
            items: 100,
            events: 8_000,
            ..Default::default()
        };
        aisle_data::generate::generate(&config, dir.path(), |_| {}).unwrap();
        let dataset = Dataset::load(
            &dir.path().join("events.csv"),
            &ReadOptions::default(),
            &CleaningOptions::default(),
            &ByteCounter::default(),
            None,
        )
        .unwrap();
        (dir, dataset)
    }

    #[test]
    fn validation_cells_come_from_the_given_data_and_never_from_its_test_split() {
        let (_dir, dataset) = shop();
        // What `aisle evaluate` would do: split off a test set, then tune on the rest only.
        let all = dataset.interactions(Weighting::Binary);
        let outer = split(&all, Protocol::UserHoldout { fraction: 0.2 }, 42)
            .pop()
            .unwrap();
        let training_only = dataset_restricted_to(&dataset, &outer.train);
        let weightings = [Weighting::Binary, Weighting::Implicit];
        // Both ways of saying "the training part only" carve the same validation pairs.
        let within = Carve::new(
            &dataset,
            Some(&outer.train),
            Protocol::UserHoldout { fraction: 0.2 },
            7,
            &weightings,
            None,
        )
        .unwrap();
        let carve = Carve::new(
            &training_only,
            None,
            Protocol::UserHoldout { fraction: 0.2 },
            7,
            &weightings,
            None,
        )
        .unwrap();
        for weighting in weightings {
            let fold = carve.fold(weighting);
            for cell in fold.test.cells().chain(fold.train.cells()) {
                assert!(
                    !outer.test.row(cell.user).contains(cell.item),
                    "{weighting}: test cell ({}, {}) reached the tuning",
                    cell.user,
                    cell.item
                );
            }
            // Fit and validation pairs are disjoint, and the same whatever the weighting.
            for cell in fold.test.cells() {
                assert!(!fold.train.row(cell.user).contains(cell.item));
                assert!(carve.validation_pairs.row(cell.user).contains(cell.item));
            }
            assert_eq!(fold.test.nnz(), carve.validation_pairs.nnz());
        }
        assert!(carve.validation_pairs.nnz() > 0 && carve.fit_pairs.nnz() > 0);
        assert_eq!(
            within.validation_pairs.cells().collect::<Vec<_>>(),
            carve.validation_pairs.cells().collect::<Vec<_>>()
        );
    }

    #[test]
    fn a_temporal_carve_fits_the_past_and_validates_on_discoveries() {
        let (_dir, dataset) = shop();
        let carve = Carve::new(
            &dataset,
            None,
            Protocol::Temporal { fraction: 0.2 },
            1,
            &[Weighting::Implicit],
            None,
        )
        .unwrap();
        let fold = carve.fold(Weighting::Implicit);
        let latest_fitted = fold.train.timestamps().iter().max().copied().unwrap();
        for cell in fold.test.cells() {
            // After every fitted event, new to a user the fit knows.
            assert!(cell.timestamp >= latest_fitted, "{cell:?}");
            assert!(fold.train.row_len(cell.user) > 0);
            assert!(!fold.train.row(cell.user).contains(cell.item));
        }
        // The fit holds no event from the validation period, even of pairs bought again then.
        let cut_events = dataset
            .events
            .iter()
            .filter(|e| e.timestamp > latest_fitted)
            .count();
        assert!(cut_events > 0 && fold.test.nnz() > 0);
    }

    /// `dataset` with only the events of `pairs`' pairs (as a training file would hold).
    fn dataset_restricted_to(dataset: &Dataset, pairs: &Interactions) -> Dataset {
        let mut kept = dataset.clone();
        kept.events.retain(|e| pairs.row(e.user).contains(e.item));
        kept
    }
}
