//! Hyper-parameter search on a shop's own data: each model's searched parameters and the
//! weighting of its matrix, chosen on a validation split carved from the data given (the
//! training data: a test set is never seen), within a budget of trials or time.
//!
//! # The search, per model
//! 1. **Defaults**: the shipped parameters under the weighting `auto` picks, scored in full;
//!    its time calibrates the rest.
//! 2. **Exploration**: candidates from a scrambled Halton sequence over the space
//!    ([`space`]), raced by successive halving when the model has a training budget
//!    (iterations, epochs): all of them at a ninth of it, the best third at a third, the best
//!    third of those in full.
//! 3. **Refinement**: candidates near the best ones found (each coordinate nudged by a normal
//!    step that shrinks while nothing improves; choices mostly kept), in full.
//! 4. **Confirmation**: the three best and the defaults scored again on a second carve
//!    (another seed); the one with the best mean of the two scores wins, so a candidate that
//!    was lucky on one split does not. The defaults are always among the finalists: a search
//!    never returns settings that did worse than the defaults on its own validation.
//!
//! Roughly 55% of the budget goes to exploration, 35% to refinement and the rest to the
//! defaults and the confirmation. A cancelled search (Ctrl-C) keeps the best so far.
//!
//! [`settle`] uses the same machinery for the weighting `auto` cannot decide from the data's
//! shape alone (play counts: `counts` or `binary`): it scores ALS at its defaults under each
//! on a validation split.

mod params_file;
mod search;
pub mod space;
pub mod validation;

use std::sync::atomic::AtomicBool;
use std::time::{Duration, Instant};

use aisle_data::rng::pair_hash;
use aisle_data::{Choice, Dataset, DuplicatePolicy, Interactions, Protocol, Rng, Weighting};
use aisle_models::{Family, ModelError};
use serde::{Deserialize, Serialize};
use serde_json::{Map, Value};

pub use params_file::{ParamsFile, TunedModel};
pub use search::{Phase, Trial};

use crate::runner::{EvalOptions, MetricSelection};
use validation::Carve;

/// Why a search could not run.
#[derive(Debug, thiserror::Error)]
pub enum TuneError {
    #[error(
        "unknown metric '{0}' (expected ndcg@K, precision@K, recall@K, map@K, hitrate@K, mrr@K, rmse or mae)"
    )]
    UnknownMetric(String),
    #[error("cannot carve a validation split: {reason}")]
    NoValidation { reason: String },
    #[error(transparent)]
    Model(#[from] ModelError),
    #[error("model '{model}': {reason}")]
    Unsuitable { model: String, reason: String },
    #[error("the search was cancelled before any candidate was scored")]
    Cancelled,
    #[error("{path}: {message}")]
    ParamsFile { path: String, message: String },
}

/// What a search optimises: a metric of the evaluation report.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(try_from = "String", into = "String")]
pub struct Metric {
    /// The report key (`ndcg@10`, `rmse`).
    pub key: String,
    /// The cut-off of a ranking metric.
    pub k: Option<usize>,
}

impl Metric {
    /// Whether smaller values are better (errors).
    pub fn lower_is_better(&self) -> bool {
        self.k.is_none()
    }

    /// `score` turned so that larger is always better.
    pub(crate) fn utility(&self, score: f64) -> f64 {
        if self.lower_is_better() {
            -score
        } else {
            score
        }
    }

    /// The evaluation options that compute this metric (and as little else as possible).
    pub(crate) fn eval_options(&self, seed: u64) -> EvalOptions {
        let rating = self.lower_is_better();
        EvalOptions {
            k: self.k.unwrap_or(10),
            seed,
            rating_metrics: if rating {
                MetricSelection::Always
            } else {
                MetricSelection::Never
            },
            ranking_metrics: if rating {
                MetricSelection::Never
            } else {
                MetricSelection::Always
            },
            ..EvalOptions::default()
        }
    }
}

impl std::str::FromStr for Metric {
    type Err = TuneError;

    fn from_str(text: &str) -> Result<Self, Self::Err> {
        let lower = text.trim().to_ascii_lowercase();
        if lower == "rmse" || lower == "mae" {
            return Ok(Metric {
                key: lower,
                k: None,
            });
        }
        let unknown = || TuneError::UnknownMetric(text.to_string());
        let (name, k) = lower.split_once('@').ok_or_else(unknown)?;
        let k: usize = k.parse().ok().filter(|&k| k > 0).ok_or_else(unknown)?;
        if !["ndcg", "precision", "recall", "map", "hitrate", "mrr"].contains(&name) {
            return Err(unknown());
        }
        Ok(Metric {
            key: format!("{name}@{k}"),
            k: Some(k),
        })
    }
}

impl TryFrom<String> for Metric {
    type Error = TuneError;
    fn try_from(text: String) -> Result<Self, Self::Error> {
        text.parse()
    }
}

impl From<Metric> for String {
    fn from(metric: Metric) -> String {
        metric.key
    }
}

impl std::fmt::Display for Metric {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(&self.key)
    }
}

/// How much a search may spend, per model; whichever limit comes first ends it. With
/// neither, [`Budget::DEFAULT_TRIALS`] trials.
#[derive(Debug, Clone, Copy, PartialEq, Default)]
pub struct Budget {
    pub time: Option<Duration>,
    pub trials: Option<usize>,
}

impl Budget {
    pub const DEFAULT_TRIALS: usize = 40;
}

/// How candidates are chosen.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum Strategy {
    /// The search of the module docs.
    #[default]
    Search,
    /// Every combination of `points` evenly spaced values per searched parameter (every
    /// value of a choice, every weighting), each trained in full: the exhaustive baseline a
    /// search is measured against. Without a budget it runs to the end.
    Grid { points: usize },
}

/// How to search.
#[derive(Debug, Clone)]
pub struct TuneOptions {
    pub metric: Metric,
    pub strategy: Strategy,
    /// How the validation split is carved from the data.
    pub validation: Protocol,
    pub seed: u64,
    /// Per model (a time budget is shared equally by the models, what one leaves unused
    /// going to the next).
    pub budget: Budget,
    /// The weightings to try; `None`: those that suit the data and each model.
    pub weightings: Option<Vec<Weighting>>,
    pub duplicates: Option<DuplicatePolicy>,
    /// The data's name, for the report.
    pub dataset: String,
}

impl Default for TuneOptions {
    fn default() -> Self {
        TuneOptions {
            metric: Metric {
                key: "ndcg@10".into(),
                k: Some(10),
            },
            strategy: Strategy::Search,
            validation: Protocol::UserHoldout { fraction: 0.2 },
            seed: 42,
            budget: Budget::default(),
            weightings: None,
            duplicates: None,
            dataset: String::new(),
        }
    }
}

/// A search's progress, after each trial.
#[derive(Debug, Clone, Copy)]
pub struct TuneProgress<'a> {
    pub model: &'a str,
    pub model_index: usize,
    pub models: usize,
    /// The trial just finished.
    pub trial: &'a Trial,
    /// The best score so far (full training, first carve).
    pub best: Option<f64>,
    /// Time spent on this model, and its time budget if it has one.
    pub elapsed: Duration,
    pub time_budget: Option<Duration>,
    /// Trials so far, and the model's trial budget if it has one.
    pub trials: usize,
    pub trial_budget: Option<usize>,
}

/// The caller's hooks: progress after each trial, and a flag that stops the search (the
/// best so far is kept).
#[derive(Clone, Copy, Default)]
pub struct TuneControl<'a> {
    pub progress: Option<&'a (dyn Fn(&TuneProgress<'_>) + Sync)>,
    pub cancel: Option<&'a AtomicBool>,
}

impl std::fmt::Debug for TuneControl<'_> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("TuneControl")
            .field("progress", &self.progress.is_some())
            .field("cancel", &self.cancel)
            .finish()
    }
}

/// The outcome of one model's search.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct ModelTuning {
    pub model: String,
    /// The chosen weighting and parameters (all of them, defaults filled in).
    pub weighting: Weighting,
    pub params: Map<String, Value>,
    /// The chosen candidate's validation score: the mean over the two carves (one when the
    /// search stopped before confirming).
    pub score: f64,
    /// The defaults' score, measured the same way.
    pub default_score: f64,
    pub default_weighting: Weighting,
    /// Every trial, in order.
    pub trials: Vec<Trial>,
    pub seconds: f64,
    /// Why the search ended early, if it did (`cancelled`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub stopped: Option<String>,
}

/// What [`tune`] did: each model's outcome and how it was measured.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct TuneReport {
    pub dataset: String,
    pub metric: Metric,
    /// The validation protocol and its seeds.
    pub validation: String,
    /// The carve: pairs fitted on and validated on (first carve).
    pub fit_pairs: usize,
    pub validation_pairs: usize,
    /// Unix seconds when the search began.
    pub started_at: i64,
    pub seconds: f64,
    pub models: Vec<ModelTuning>,
}

/// Searches each of `models` on `dataset` (or on its pairs in `within`, the training part of
/// an outer split), as [`TuneOptions`] says. A model that cannot train on the data at all
/// (its defaults fail) is an error; a candidate that fails is a trial with an error.
pub fn tune(
    dataset: &Dataset,
    within: Option<&Interactions>,
    models: &[String],
    options: &TuneOptions,
    control: &TuneControl<'_>,
) -> Result<TuneReport, TuneError> {
    let entries = models
        .iter()
        .map(|name| aisle_models::model(name))
        .collect::<Result<Vec<_>, _>>()?;
    tune_entries(dataset, within, &entries, options, control)
}

/// [`tune`] for models given by their registry entries (a test can give its own).
fn tune_entries(
    dataset: &Dataset,
    within: Option<&Interactions>,
    entries: &[&'static aisle_models::ModelEntry],
    options: &TuneOptions,
    control: &TuneControl<'_>,
) -> Result<TuneReport, TuneError> {
    let started = Instant::now();
    let started_at = unix_now();
    let per_model: Vec<(Vec<Weighting>, Weighting)> = entries
        .iter()
        .map(|entry| weightings_for(dataset, entry, options.weightings.as_deref()))
        .collect::<Result<_, _>>()?;
    let mut all: Vec<Weighting> = per_model.iter().flat_map(|(w, _)| w.clone()).collect();
    all.sort_by_key(|w| *w as u8);
    all.dedup();
    let carve = |seed| {
        Carve::new(
            dataset,
            within,
            options.validation,
            seed,
            &all,
            options.duplicates,
        )
    };
    let carves = [carve(options.seed)?, carve(options.seed.wrapping_add(1))?];
    let eval_options = options.metric.eval_options(options.seed);
    let evaluators = [
        carves[0].evaluators(&eval_options),
        carves[1].evaluators(&eval_options),
    ];

    let mut results = Vec::with_capacity(entries.len());
    let mut time_left = options.budget.time;
    for (index, (entry, (weightings, default_weighting))) in
        entries.iter().zip(per_model).enumerate()
    {
        // A time budget is shared: each model gets an equal part of what is left.
        let time = time_left.map(|left| left / (entries.len() - index) as u32);
        let grid = matches!(options.strategy, Strategy::Grid { .. });
        let budget = Budget {
            time,
            trials: options
                .budget
                .trials
                .or((options.budget.time.is_none() && !grid).then_some(Budget::DEFAULT_TRIALS)),
        };
        let model_started = Instant::now();
        let search = search::ModelSearch {
            entry,
            weightings,
            default_weighting,
            carves: [&carves[0], &carves[1]],
            evaluators: [&evaluators[0], &evaluators[1]],
            metric: &options.metric,
            seed: options.seed,
            budget,
            strategy: options.strategy,
            control,
            model_index: index,
            models: entries.len(),
        };
        let outcome = search.run()?;
        let cancelled = outcome.stopped.as_deref() == Some("cancelled");
        results.push(outcome);
        if let Some(left) = &mut time_left {
            *left = left.saturating_sub(model_started.elapsed());
        }
        if cancelled {
            break;
        }
    }
    Ok(TuneReport {
        dataset: options.dataset.clone(),
        metric: options.metric.clone(),
        validation: format!(
            "{} of the data (seeds {} and {})",
            options.validation,
            options.seed,
            options.seed.wrapping_add(1)
        ),
        fit_pairs: carves[0].fit_pairs.nnz(),
        validation_pairs: carves[0].validation_pairs.nnz(),
        started_at,
        seconds: started.elapsed().as_secs_f64(),
        models: results,
    })
}

/// The weightings to try for `entry` on `dataset` (`asked`, or those that suit both) and the
/// one its defaults use (what `auto` picks, when it is among them).
fn weightings_for(
    dataset: &Dataset,
    entry: &aisle_models::ModelEntry,
    asked: Option<&[Weighting]>,
) -> Result<(Vec<Weighting>, Weighting), TuneError> {
    let auto = dataset.choose(Weighting::Auto);
    let shape = dataset.shape();
    let ratings_only = shape.ratings > 0 && shape.others == 0;
    let rating_model = entry.family == Family::Rating || entry.name == "user-knn";
    let mut suited: Vec<Weighting> = match asked {
        Some(asked) => asked.to_vec(),
        None if rating_model => vec![Weighting::Ratings],
        None => {
            let mut suited = vec![Weighting::Binary];
            if ratings_only {
                // Ratings on a scale read as confidence (`ratings`); play counts as counts.
                suited.push(auto.weighting);
            } else {
                suited.push(auto.weighting);
                if shape.varied_quantities > 0 {
                    suited.push(Weighting::Counts);
                }
                if !(shape.views_only || shape.purchases_only) {
                    suited.push(Weighting::Implicit);
                }
                if shape.purchases_only {
                    // Repeat orders as confidence.
                    suited.push(Weighting::Implicit);
                }
            }
            suited
        }
    };
    if rating_model && !ratings_only && shape.ratings == 0 {
        return Err(TuneError::Unsuitable {
            model: entry.name.to_string(),
            reason: "it predicts ratings and the data holds none".into(),
        });
    }
    suited.retain(|w| *w != Weighting::Auto);
    let mut seen = Vec::new();
    suited.retain(|w| {
        let new = !seen.contains(w);
        seen.push(*w);
        new
    });
    let default = if suited.contains(&auto.weighting) {
        auto.weighting
    } else {
        suited[0]
    };
    // The default first: it is the fallback of a dimension's decoding.
    suited.retain(|w| *w != default);
    suited.insert(0, default);
    Ok((suited, default))
}

/// Settles a weighting `choice` that names contenders (see [`Choice::contenders`]): ALS at
/// its defaults is scored under each on a validation split of `dataset` (its pairs in
/// `within`, when given), and the best is chosen, the reason saying by how much. A choice
/// without contenders, or a split too small to tell, is returned as it is.
pub fn settle(
    dataset: &Dataset,
    within: Option<&Interactions>,
    choice: Choice,
    seed: u64,
) -> Choice {
    if choice.contenders.len() < 2 {
        return choice;
    }
    let protocol = Protocol::UserHoldout { fraction: 0.2 };
    let Ok(carve) = Carve::new(dataset, within, protocol, seed, &choice.contenders, None) else {
        return choice;
    };
    let metric: Metric = "ndcg@10".parse().expect("a valid metric");
    let options = metric.eval_options(seed);
    let evaluators = carve.evaluators(&options);
    let mut params = Map::new();
    // Fewer iterations than a full fit: enough to rank the weightings, at a fraction of
    // the time.
    params.insert("iterations".into(), Value::from(8));
    let Ok(als) = aisle_models::algorithm("als", &params) else {
        return choice;
    };
    let mut scored: Vec<(Weighting, f64)> = Vec::new();
    for &weighting in &choice.contenders {
        let fold = carve.fold(weighting);
        let context = aisle_models::FitContext {
            seed,
            ..Default::default()
        };
        let Ok(model) = als.fit(&fold.train, &context) else {
            return choice;
        };
        let Ok(scores) = evaluators
            .get(weighting)
            .evaluate(model.as_ref(), "als", None)
        else {
            return choice;
        };
        let Some(score) = scores.metrics(false).get(&metric.key) else {
            return choice;
        };
        scored.push((weighting, score));
    }
    let (best, best_score) =
        scored
            .iter()
            .copied()
            .fold((choice.weighting, f64::NEG_INFINITY), |best, s| {
                if s.1 > best.1 { s } else { best }
            });
    let others: Vec<String> = scored
        .iter()
        .filter(|(w, _)| *w != best)
        .map(|(w, s)| format!("{s:.4} with {w}"))
        .collect();
    Choice {
        weighting: best,
        reason: format!(
            "{}; checked on a validation split ({protocol} of the pairs, ALS at its defaults): \
             NDCG@10 {best_score:.4} with {best} against {}",
            choice.reason,
            others.join(", ")
        ),
        contenders: Vec::new(),
    }
}

/// A random stream for purpose `stream` of a search seeded with `seed`.
pub(crate) fn rng_for(seed: u64, stream: u32) -> Rng {
    Rng::new(pair_hash(seed, stream, 0x7ab1e))
}

fn unix_now() -> i64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |d| d.as_secs() as i64)
}

#[cfg(test)]
mod tests;
