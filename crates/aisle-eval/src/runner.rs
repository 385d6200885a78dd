//! The experiment runner: trains every model on every fold, scores it, and gathers an
//! [`EvaluationReport`].
//!
//! For each fold, then each model: fit on the fold's training matrix (timed), then predict
//! (timed): a clipped rating for every test cell for rating metrics, and the top-K items not
//! seen in training for every user with a relevant test item for ranking metrics, users in
//! parallel with rayon. The metrics are defined in [`crate::metrics`]. Folds are the outer loop
//! so that what a fold needs for scoring (relevant items, item statistics) is built once for
//! all models.

use std::sync::atomic::{AtomicBool, Ordering};
use std::time::Instant;

use aisle_data::Interactions;
use aisle_models::{Algorithm, FitContext, ModelError, Progress, Recommender};
use rayon::prelude::*;
use serde::{Deserialize, Serialize};
use serde_json::{Map, Value};

use crate::error::{EvalError, Result};
use crate::metrics::{
    ItemStatistics, Metrics, RankedList, RankingMetrics, RatingErrors, RatingMetrics, clip_rating,
    ranking_metrics,
};
use crate::report::{DatasetSummary, EvaluationReport, FoldResult, ModelResult};

/// One train/test split ([`aisle_data::Split`]). Both matrices share one user × item index
/// space (the same id maps, hence the same shape); the test matrix may hold users and items
/// with no training cell.
pub use aisle_data::Split as Fold;

/// A model to evaluate: a registry name with `--set`-style parameters, or an algorithm built
/// by the caller (a custom or test algorithm, or one configured in code); by default trained
/// on each fold's training matrix, or on matrices of its own (the same split under another
/// weighting, see [`ModelSpec::trained_on`]).
#[derive(Debug)]
pub struct ModelSpec {
    source: Source,
    /// One training matrix per fold, replacing the fold's.
    trains: Option<Vec<Interactions>>,
    /// What the own matrices are (a weighting's name), for the report.
    weighting: Option<String>,
}

#[derive(Debug)]
enum Source {
    Named {
        name: String,
        params: Map<String, Value>,
    },
    Algorithm(Box<dyn Algorithm>),
}

impl ModelSpec {
    /// The registry model `name` with `params` (missing keys take the model's defaults).
    pub fn named(name: impl Into<String>, params: Map<String, Value>) -> Self {
        ModelSpec {
            source: Source::Named {
                name: name.into(),
                params,
            },
            trains: None,
            weighting: None,
        }
    }

    /// An algorithm built by the caller.
    pub fn algorithm(algorithm: Box<dyn Algorithm>) -> Self {
        ModelSpec {
            source: Source::Algorithm(algorithm),
            trains: None,
            weighting: None,
        }
    }

    /// The same model trained on `trains` (one matrix per fold, each the fold's training
    /// pairs under `weighting`, with the fold's shape) instead of the folds' own matrices.
    pub fn trained_on(
        mut self,
        weighting: impl std::fmt::Display,
        trains: Vec<Interactions>,
    ) -> Self {
        self.weighting = Some(weighting.to_string());
        self.trains = Some(trains);
        self
    }

    /// Builds the algorithm this spec names; `None` for a spec that already holds one.
    fn build(&self) -> Result<Option<Box<dyn Algorithm>>> {
        match &self.source {
            Source::Named { name, params } => Ok(Some(aisle_models::algorithm(name, params)?)),
            Source::Algorithm(_) => Ok(None),
        }
    }

    /// The matrix to train on for fold `index`.
    fn train<'f>(&'f self, fold: &'f Fold, index: usize) -> &'f Interactions {
        self.trains
            .as_ref()
            .map_or(&fold.train, |trains| &trains[index])
    }
}

impl From<Box<dyn Algorithm>> for ModelSpec {
    fn from(algorithm: Box<dyn Algorithm>) -> Self {
        ModelSpec::algorithm(algorithm)
    }
}

/// Whether to compute a family of metrics for a model.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum MetricSelection {
    /// When the trained model has the capability (rating metrics for rating models, ranking
    /// metrics for ranking models).
    #[default]
    Auto,
    /// For every model; a model without the capability is an error.
    Always,
    Never,
}

/// How to evaluate.
#[derive(Debug, Clone, PartialEq)]
pub struct EvalOptions {
    /// The data set's name, copied to the report.
    pub dataset: String,
    /// How the folds were made (e.g. `given:5 folds`, `random:0.2`), copied to the report.
    pub protocol: String,
    /// Cut-off of the ranking metrics.
    pub k: usize,
    /// Seed of every model's training, the same on every fold.
    pub seed: u64,
    /// Rating scale `(min, max)` predictions are clipped to, also given to the models. `None`
    /// takes each fold's smallest and largest training weight.
    pub rating_scale: Option<(f32, f32)>,
    /// A test cell is relevant for ranking when its weight is at least this; `None` makes every
    /// test cell relevant.
    pub relevance_threshold: Option<f32>,
    pub rating_metrics: MetricSelection,
    pub ranking_metrics: MetricSelection,
    /// Also report `capped_recall@K` (hits / min(|T_u|, K)).
    pub capped_recall: bool,
    /// Whether a test item the user already has in training counts (see [`Repeats`]).
    pub repeats: Repeats,
}

/// What a test item the user already interacted with in training is.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Repeats {
    /// Not relevant, and set aside (counted): lists leave training items out, so such an item
    /// could never be found. Scores measure finding items new to each user.
    #[default]
    Exclude,
    /// Relevant, and lists may hold training items: "buy again".
    Include,
}

impl std::str::FromStr for Repeats {
    type Err = String;
    fn from_str(s: &str) -> std::result::Result<Self, Self::Err> {
        match s {
            "exclude" => Ok(Repeats::Exclude),
            "include" => Ok(Repeats::Include),
            other => Err(format!(
                "unknown repeats '{other}' (expected exclude or include)"
            )),
        }
    }
}

impl Default for EvalOptions {
    fn default() -> Self {
        EvalOptions {
            dataset: String::new(),
            protocol: String::new(),
            k: 10,
            seed: 42,
            rating_scale: None,
            relevance_threshold: None,
            rating_metrics: MetricSelection::Auto,
            ranking_metrics: MetricSelection::Auto,
            capped_recall: false,
            repeats: Repeats::Exclude,
        }
    }
}

impl EvalOptions {
    /// Explains the first option out of its range.
    pub fn check(&self) -> Result<()> {
        let invalid = |message: String| Err(EvalError::InvalidOption { message });
        if self.k == 0 {
            return invalid("k must be at least 1".into());
        }
        if let Some((lo, hi)) = self.rating_scale
            && !(lo.is_finite() && hi.is_finite() && lo <= hi)
        {
            return invalid(format!(
                "rating scale ({lo}, {hi}) must be two finite numbers, the smaller first"
            ));
        }
        if let Some(threshold) = self.relevance_threshold
            && !threshold.is_finite()
        {
            return invalid(format!(
                "relevance threshold must be a finite number, not {threshold}"
            ));
        }
        if self.rating_metrics == MetricSelection::Never
            && self.ranking_metrics == MetricSelection::Never
        {
            return invalid("both rating and ranking metrics are turned off".into());
        }
        Ok(())
    }
}

/// What the runner is doing, for a progress display.
#[derive(Debug, Clone, Copy, PartialEq)]
pub enum Stage {
    /// Training, with the model's own progress (epochs, iterations).
    Fit(Progress),
    /// Predicting ratings and top-K lists.
    Predict,
    /// This model is done with this fold.
    Done,
}

/// A progress report: which model on which fold, and what it is doing.
#[derive(Debug, Clone, Copy)]
pub struct RunProgress<'a> {
    pub model: &'a str,
    /// 0-based position of the model in the run's list.
    pub model_index: usize,
    pub models: usize,
    /// 0-based fold index.
    pub fold: usize,
    pub folds: usize,
    pub stage: Stage,
}

/// The caller's hooks into a run: a progress callback (called from worker threads too,
/// hence `Sync`) and a flag that stops the run between units of work.
#[derive(Clone, Copy, Default)]
pub struct RunControl<'a> {
    pub progress: Option<&'a (dyn Fn(&RunProgress<'_>) + Sync)>,
    pub cancel: Option<&'a AtomicBool>,
    /// Passed to every fit as [`FitContext::notice`].
    pub notice: Option<&'a (dyn Fn(&str) + Sync)>,
    /// Passed to every fit as [`FitContext::catalogue`]: the items' descriptions by index,
    /// for models that learn from content.
    pub catalogue: Option<&'a [Option<aisle_data::Item>]>,
}

impl std::fmt::Debug for RunControl<'_> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("RunControl")
            .field("progress", &self.progress.is_some())
            .field("cancel", &self.cancel)
            .finish()
    }
}

fn cancelled(cancel: Option<&AtomicBool>) -> bool {
    cancel.is_some_and(|c| c.load(Ordering::Relaxed))
}

/// Evaluates every model on every fold.
///
/// Options, folds and model names are all checked before any training starts. Each model is
/// trained with `options.seed` on each fold; the report holds per-fold results and their
/// means, models in the order given.
pub fn evaluate(
    folds: &[Fold],
    models: &[ModelSpec],
    options: &EvalOptions,
    control: &RunControl<'_>,
) -> Result<EvaluationReport> {
    options.check()?;
    if folds.is_empty() {
        return Err(EvalError::NoFolds);
    }
    if models.is_empty() {
        return Err(EvalError::NoModels);
    }
    for (index, fold) in folds.iter().enumerate() {
        let train = (fold.train.n_users(), fold.train.n_items());
        let test = (fold.test.n_users(), fold.test.n_items());
        if train != test {
            return Err(EvalError::FoldShape {
                fold: index,
                train,
                test,
            });
        }
    }
    for (index, spec) in models.iter().enumerate() {
        if let Some(trains) = &spec.trains {
            let shapes_agree = trains.len() == folds.len()
                && trains.iter().zip(folds).all(|(t, f)| {
                    (t.n_users(), t.n_items()) == (f.train.n_users(), f.train.n_items())
                });
            if !shapes_agree {
                return Err(EvalError::InvalidOption {
                    message: format!(
                        "model {index}'s own training matrices do not match the {} folds",
                        folds.len()
                    ),
                });
            }
        }
    }
    let built: Vec<Option<Box<dyn Algorithm>>> =
        models.iter().map(ModelSpec::build).collect::<Result<_>>()?;
    let algorithms: Vec<&dyn Algorithm> = models
        .iter()
        .zip(&built)
        .map(|(spec, built)| match (&spec.source, built) {
            (_, Some(algorithm)) => algorithm.as_ref(),
            (Source::Algorithm(algorithm), None) => algorithm.as_ref(),
            (Source::Named { .. }, None) => unreachable!("named specs are always built"),
        })
        .collect();

    let mut per_model: Vec<Vec<FoldResult>> = vec![Vec::with_capacity(folds.len()); models.len()];
    let (mut set_aside, mut unknown) = (0, 0);
    for (fold_index, fold) in folds.iter().enumerate() {
        let evaluator = FoldEvaluator::new(fold, fold_index, options);
        set_aside += evaluator.repeats_set_aside;
        unknown += evaluator.unknown_test_cells;
        for (model_index, &algorithm) in algorithms.iter().enumerate() {
            if cancelled(control.cancel) {
                return Err(EvalError::Cancelled);
            }
            let report = |stage: Stage| {
                if let Some(progress) = control.progress {
                    progress(&RunProgress {
                        model: algorithm.name(),
                        model_index,
                        models: algorithms.len(),
                        fold: fold_index,
                        folds: folds.len(),
                        stage,
                    });
                }
            };
            let fit_progress = |p: Progress| report(Stage::Fit(p));
            let context = FitContext {
                seed: options.seed,
                rating_scale: evaluator.rating_scale(),
                progress: Some(&fit_progress),
                cancel: control.cancel,
                notice: control.notice,
                catalogue: control.catalogue,
            };
            let started = Instant::now();
            let model = algorithm
                .fit(models[model_index].train(fold, fold_index), &context)
                .map_err(|source| match source {
                    ModelError::Cancelled => EvalError::Cancelled,
                    source => EvalError::Fit {
                        model: algorithm.name().to_string(),
                        fold: fold_index,
                        source,
                    },
                })?;
            let fit_seconds = started.elapsed().as_secs_f64();
            report(Stage::Predict);
            let scores = evaluator.evaluate(model.as_ref(), algorithm.name(), control.cancel)?;
            report(Stage::Done);
            per_model[model_index].push(FoldResult {
                metrics: scores.metrics(options.capped_recall),
                fit_seconds,
                predict_seconds: scores.predict_seconds,
            });
        }
    }

    let results = algorithms
        .iter()
        .zip(models)
        .zip(per_model)
        .map(|((algorithm, spec), folds)| {
            let n = folds.len() as f64;
            ModelResult {
                model: algorithm.name().to_string(),
                params: algorithm.params(),
                weighting: spec.weighting.clone(),
                metrics: Metrics::mean(folds.iter().map(|f| &f.metrics)),
                fit_seconds: folds.iter().map(|f| f.fit_seconds).sum::<f64>() / n,
                predict_seconds: folds.iter().map(|f| f.predict_seconds).sum::<f64>() / n,
                folds,
            }
        })
        .collect();
    Ok(EvaluationReport {
        protocol: options.protocol.clone(),
        dataset: DatasetSummary {
            repeats: options.repeats,
            repeats_set_aside: set_aside,
            unknown_test_items: unknown,
            ..summarise(folds, &options.dataset)
        },
        results,
    })
}

fn summarise(folds: &[Fold], name: &str) -> DatasetSummary {
    let n = folds.len().max(1) as f64;
    let mean_cells = |cells: fn(&Fold) -> usize| {
        (folds.iter().map(|f| cells(f) as f64).sum::<f64>() / n).round() as usize
    };
    DatasetSummary {
        name: name.to_string(),
        users: folds.iter().map(|f| f.train.n_users()).max().unwrap_or(0),
        items: folds.iter().map(|f| f.train.n_items()).max().unwrap_or(0),
        train: mean_cells(|f| f.train.nnz()),
        test: mean_cells(|f| f.test.nnz()),
        folds: folds.len(),
        ..DatasetSummary::default()
    }
}

/// What one trained model scored on one fold.
#[derive(Debug, Clone, PartialEq)]
pub struct FoldScores {
    /// `None` when rating metrics were not computed for this model.
    pub rating: Option<RatingMetrics>,
    /// `None` when ranking metrics were not computed for this model.
    pub ranking: Option<RankingMetrics>,
    /// Time spent predicting ratings and building top-K lists.
    pub predict_seconds: f64,
}

impl FoldScores {
    /// The scores under their report keys.
    pub fn metrics(&self, capped_recall: bool) -> Metrics {
        let mut metrics = Metrics::new();
        if let Some(rating) = &self.rating {
            rating.write_to(&mut metrics);
        }
        if let Some(ranking) = &self.ranking {
            ranking.write_to(&mut metrics, capped_recall);
        }
        metrics
    }
}

/// Scores trained models on one fold. Built once per fold and shared by all models, which is
/// also what a hyper-parameter search needs to score many candidates.
#[derive(Debug)]
pub struct FoldEvaluator<'a> {
    fold: &'a Fold,
    fold_index: usize,
    options: &'a EvalOptions,
    rating_scale: Option<(f32, f32)>,
    /// Test cells the user already had in training, set aside by [`Repeats::Exclude`].
    pub repeats_set_aside: usize,
    /// Test cells of items with no training interaction at all.
    pub unknown_test_cells: usize,
    /// Users with at least one relevant test item, ascending.
    ranked_users: Vec<u32>,
    /// `relevant[relevant_start[j]..relevant_start[j + 1]]` are `ranked_users[j]`'s relevant
    /// items, sorted.
    relevant_start: Vec<usize>,
    relevant: Vec<u32>,
    items: ItemStatistics<'a>,
}

impl<'a> FoldEvaluator<'a> {
    /// Prepares `fold` (whose train and test shapes must agree, as [`evaluate`] checks) for
    /// scoring under `options`; `fold_index` only labels errors.
    pub fn new(fold: &'a Fold, fold_index: usize, options: &'a EvalOptions) -> Self {
        let rating_scale = options.rating_scale.or_else(|| weight_range(&fold.train));
        let mut ranked_users = Vec::new();
        let mut relevant_start = vec![0];
        let mut relevant = Vec::new();
        let trained_items = fold.train.column_counts();
        let (mut repeats_set_aside, mut unknown_test_cells) = (0, 0);
        for user in 0..fold.test.n_users() as u32 {
            let row = fold.test.row(user);
            let history = fold.train.row(user);
            let before = relevant.len();
            for (item, weight) in row.iter() {
                if trained_items[item as usize] == 0 {
                    unknown_test_cells += 1;
                }
                if options.relevance_threshold.is_some_and(|t| weight < t) {
                    continue;
                }
                if options.repeats == Repeats::Exclude && history.contains(item) {
                    repeats_set_aside += 1;
                    continue;
                }
                relevant.push(item);
            }
            if relevant.len() > before {
                ranked_users.push(user);
                relevant_start.push(relevant.len());
            }
        }
        FoldEvaluator {
            fold,
            fold_index,
            options,
            repeats_set_aside,
            unknown_test_cells,
            rating_scale,
            ranked_users,
            relevant_start,
            relevant,
            items: ItemStatistics::new(&fold.train),
        }
    }

    /// The scale predictions are clipped to: the options' or the training weights' range.
    pub fn rating_scale(&self) -> Option<(f32, f32)> {
        self.rating_scale
    }

    /// Users who count for ranking metrics (at least one relevant test item).
    pub fn ranked_users(&self) -> &[u32] {
        &self.ranked_users
    }

    /// Scores a model trained on this fold's training matrix; `name` labels errors.
    pub fn evaluate(
        &self,
        model: &dyn Recommender,
        name: &str,
        cancel: Option<&AtomicBool>,
    ) -> Result<FoldScores> {
        let capabilities = model.capabilities();
        let wants =
            |selection: MetricSelection, capable: bool, metrics: &'static str| match selection {
                MetricSelection::Auto => Ok(capable),
                MetricSelection::Never => Ok(false),
                MetricSelection::Always if capable => Ok(true),
                MetricSelection::Always => Err(EvalError::Unsupported {
                    model: name.to_string(),
                    metrics,
                }),
            };
        let rating = wants(self.options.rating_metrics, capabilities.rating, "rating")?;
        let ranking = wants(
            self.options.ranking_metrics,
            capabilities.ranking,
            "ranking",
        )?;

        let started = Instant::now();
        let errors = if rating {
            Some(self.predict_ratings(model, name, cancel)?)
        } else {
            None
        };
        let lists = if ranking {
            Some(self.recommend_all(model, cancel)?)
        } else {
            None
        };
        let predict_seconds = started.elapsed().as_secs_f64();

        let rating = match errors {
            Some(errors) => Some(
                errors
                    .finish()
                    .ok_or_else(|| EvalError::NothingToEvaluate {
                        fold: self.fold_index,
                        metrics: "rating",
                        reason: "the test matrix has no cells".into(),
                    })?,
            ),
            None => None,
        };
        let ranking = match lists {
            Some(lists) => Some(self.ranking_metrics(&lists)?),
            None => None,
        };
        Ok(FoldScores {
            rating,
            ranking,
            predict_seconds,
        })
    }

    fn predict_ratings(
        &self,
        model: &dyn Recommender,
        name: &str,
        cancel: Option<&AtomicBool>,
    ) -> Result<RatingErrors> {
        let test = &self.fold.test;
        let scale = self.rating_scale;
        // Per-user sums collected in user order, then added up in that order, so the result
        // does not depend on how rayon splits the work.
        let per_user: Vec<RatingErrors> = (0..test.n_users() as u32)
            .into_par_iter()
            .filter(|&user| test.row_len(user) > 0)
            .map(|user| {
                if cancelled(cancel) {
                    return Err(EvalError::Cancelled);
                }
                let mut errors = RatingErrors::new();
                for (item, actual) in test.row(user).iter() {
                    let bad = |message: &str| EvalError::BadPrediction {
                        model: name.to_string(),
                        user,
                        item,
                        message: message.to_string(),
                    };
                    let raw = model.predict(user, item).ok_or_else(|| {
                        bad("no rating, although the model declares rating capability")
                    })?;
                    let predicted = match scale {
                        Some(scale) => clip_rating(raw, scale),
                        None => raw,
                    };
                    if !predicted.is_finite() {
                        return Err(bad(&format!("the prediction is {raw}")));
                    }
                    errors.add(predicted, actual);
                }
                Ok(errors)
            })
            .collect::<Result<_>>()?;
        let mut total = RatingErrors::new();
        for errors in &per_user {
            total.merge(errors);
        }
        Ok(total)
    }

    /// Each ranked user's top-K items, training items excluded, in `ranked_users` order.
    fn recommend_all(
        &self,
        model: &dyn Recommender,
        cancel: Option<&AtomicBool>,
    ) -> Result<Vec<Vec<u32>>> {
        if cancelled(cancel) {
            return Err(EvalError::Cancelled);
        }
        let lists = match self.options.repeats {
            Repeats::Exclude => {
                model.recommend_known_users(&self.ranked_users, &self.fold.train, self.options.k)
            }
            // Training items may come back: the models' batched paths all leave them out.
            Repeats::Include => self
                .ranked_users
                .par_iter()
                .map(|&user| {
                    aisle_models::recommend(
                        model,
                        &aisle_models::Query::known(user, &self.fold.train),
                        self.options.k,
                        false,
                        |_| false,
                    )
                })
                .collect(),
        };
        if cancelled(cancel) {
            return Err(EvalError::Cancelled);
        }
        Ok(lists
            .into_iter()
            .map(|list| list.into_iter().map(|scored| scored.item).collect())
            .collect())
    }

    fn ranking_metrics(&self, lists: &[Vec<u32>]) -> Result<RankingMetrics> {
        let ranked: Vec<RankedList<'_>> = lists
            .iter()
            .enumerate()
            .map(|(j, list)| RankedList {
                recommended: list,
                relevant: &self.relevant[self.relevant_start[j]..self.relevant_start[j + 1]],
            })
            .collect();
        ranking_metrics(&ranked, &self.items, self.options.k).ok_or_else(|| {
            EvalError::NothingToEvaluate {
                fold: self.fold_index,
                metrics: "ranking",
                reason: match self.options.relevance_threshold {
                    Some(t) => format!("no test cell has a weight of at least {t}"),
                    None => "the test matrix has no cells".into(),
                },
            }
        })
    }
}

/// The smallest and largest stored weight, `None` for an empty matrix.
fn weight_range(matrix: &Interactions) -> Option<(f32, f32)> {
    let weights = matrix.weights().iter().copied().filter(|w| w.is_finite());
    weights.fold(None, |range, w| match range {
        None => Some((w, w)),
        Some((lo, hi)) => Some((lo.min(w), hi.max(w))),
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use aisle_data::{Cell, DuplicatePolicy};
    use aisle_models::{Capabilities, Query};

    fn matrix(n_users: usize, n_items: usize, cells: &[(u32, u32, f32)]) -> Interactions {
        let cells = cells
            .iter()
            .map(|&(user, item, weight)| Cell {
                user,
                item,
                weight,
                timestamp: 0,
            })
            .collect();
        Interactions::from_cells(n_users, n_items, cells, DuplicatePolicy::Last)
    }

    /// Ranks items by decreasing index and predicts the item index as a rating.
    #[derive(Debug)]
    struct ByIndex {
        n_items: usize,
    }

    impl Recommender for ByIndex {
        fn name(&self) -> &str {
            "by-index"
        }
        fn capabilities(&self) -> Capabilities {
            Capabilities {
                rating: true,
                ranking: true,
                ..Default::default()
            }
        }
        fn n_items(&self) -> usize {
            self.n_items
        }
        fn predict(&self, _user: u32, item: u32) -> Option<f32> {
            Some(item as f32)
        }
        fn score(&self, _query: &Query<'_>, scores: &mut [f32]) {
            for (item, score) in scores.iter_mut().enumerate() {
                *score = item as f32;
            }
        }
    }

    #[test]
    fn options_are_checked() {
        let bad = [
            EvalOptions {
                k: 0,
                ..Default::default()
            },
            EvalOptions {
                rating_scale: Some((5.0, 1.0)),
                ..Default::default()
            },
            EvalOptions {
                relevance_threshold: Some(f32::NAN),
                ..Default::default()
            },
            EvalOptions {
                rating_metrics: MetricSelection::Never,
                ranking_metrics: MetricSelection::Never,
                ..Default::default()
            },
        ];
        for options in bad {
            assert!(matches!(
                options.check(),
                Err(EvalError::InvalidOption { .. })
            ));
        }
        assert!(EvalOptions::default().check().is_ok());
    }

    #[test]
    fn repeats_are_set_aside_or_counted_as_asked() {
        // User 0 bought item 5 in training and again in test; user 1's test item 2 is in no
        // training row.
        let train = matrix(2, 6, &[(0, 5, 1.0), (1, 4, 1.0)]);
        let test = matrix(2, 6, &[(0, 5, 1.0), (1, 2, 1.0)]);
        let fold = Fold { train, test };
        let model = ByIndex { n_items: 6 };
        let options = EvalOptions {
            k: 1,
            ranking_metrics: MetricSelection::Always,
            rating_metrics: MetricSelection::Never,
            ..Default::default()
        };
        let exclude = FoldEvaluator::new(&fold, 0, &options);
        assert_eq!(
            (exclude.repeats_set_aside, exclude.unknown_test_cells),
            (1, 1)
        );
        assert_eq!(
            exclude.ranked_users(),
            &[1],
            "user 0 has nothing new to find"
        );
        let include = EvalOptions {
            repeats: Repeats::Include,
            ..options.clone()
        };
        let include = FoldEvaluator::new(&fold, 0, &include);
        assert_eq!(include.repeats_set_aside, 0);
        assert_eq!(include.ranked_users(), &[0, 1]);
        // Item 5 may come back: user 0's list [5] hits; user 1's [5] misses.
        let again = include
            .evaluate(&model, "by-index", None)
            .unwrap()
            .ranking
            .unwrap();
        assert_eq!(again.precision, 0.5);
    }

    #[test]
    fn fold_evaluator_excludes_training_items_and_applies_the_threshold() {
        // 3 users, 6 items. User 0 trained on item 5, so the list is [4, 3]; test 4 (rating 5)
        // and 2 (rating 1, not relevant at threshold 4). User 1 has only an irrelevant test
        // cell, user 2 nothing in test.
        let train = matrix(3, 6, &[(0, 5, 3.0), (1, 0, 2.0), (2, 1, 4.0)]);
        let test = matrix(3, 6, &[(0, 4, 5.0), (0, 2, 1.0), (1, 3, 2.0)]);
        let fold = Fold { train, test };
        let options = EvalOptions {
            k: 2,
            relevance_threshold: Some(4.0),
            rating_scale: Some((1.0, 5.0)),
            ..Default::default()
        };
        let evaluator = FoldEvaluator::new(&fold, 0, &options);
        assert_eq!(evaluator.ranked_users(), &[0]);
        let model = ByIndex { n_items: 6 };
        let scores = evaluator.evaluate(&model, "by-index", None).unwrap();
        let ranking = scores.ranking.unwrap();
        assert_eq!(ranking.users, 1);
        assert_eq!(ranking.precision, 0.5);
        assert_eq!(ranking.recall, 1.0);
        assert_eq!(ranking.mrr, 1.0);
        assert_eq!(ranking.coverage, 2.0 / 6.0);
        // Predictions 4 → 4 (err 1), 2 → 2 (err 1), 3 → 3 (err 1): every test cell counts.
        let rating = scores.rating.unwrap();
        assert_eq!(rating.pairs, 3);
        assert!((rating.rmse - 1.0).abs() < 1e-12);
    }

    #[test]
    fn rating_scale_defaults_to_the_training_range() {
        let fold = Fold {
            train: matrix(2, 3, &[(0, 0, 2.0), (1, 1, 4.0)]),
            test: matrix(2, 3, &[(0, 2, 4.0)]),
        };
        let options = EvalOptions::default();
        let evaluator = FoldEvaluator::new(&fold, 0, &options);
        assert_eq!(evaluator.rating_scale(), Some((2.0, 4.0)));
        // Item 2 predicted as 2.0 is inside [2, 4]: error 2.
        let scores = evaluator
            .evaluate(&ByIndex { n_items: 3 }, "by-index", None)
            .unwrap();
        assert!((scores.rating.unwrap().mae - 2.0).abs() < 1e-12);
    }

    #[test]
    fn a_threshold_above_every_rating_is_reported() {
        let fold = Fold {
            train: matrix(1, 2, &[(0, 0, 3.0)]),
            test: matrix(1, 2, &[(0, 1, 3.0)]),
        };
        let options = EvalOptions {
            relevance_threshold: Some(4.5),
            ..Default::default()
        };
        let evaluator = FoldEvaluator::new(&fold, 3, &options);
        let err = evaluator
            .evaluate(&ByIndex { n_items: 2 }, "by-index", None)
            .unwrap_err();
        assert!(matches!(
            err,
            EvalError::NothingToEvaluate {
                fold: 3,
                metrics: "ranking",
                ..
            }
        ));
        assert!(err.is_user_error());
    }
}
