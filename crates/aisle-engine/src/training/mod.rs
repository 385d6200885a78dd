//! Training from a store: a snapshot of its events, one model fitted on it and saved back as
//! a new version, with everything needed to answer in the shop's own ids. Shared by
//! `aisle train` and the server's background retraining, so both produce the same artifact.
//! The server fits in a [child process](child) when it can: the snapshot and the solver's
//! memory and CPU stay out of the serving process.

pub mod child;

use std::sync::atomic::AtomicBool;
use std::time::Instant;

use aisle_data::{
    CleaningOptions, CleaningReport, DuplicatePolicy, Interactions, Protocol, Weighting, split,
};
use aisle_eval::{EvalOptions, MetricSelection, ModelSpec, RunControl};
use aisle_models::persist::FORMAT_VERSION;
use aisle_models::popular::popularity;
use aisle_models::{FitContext, ModelError, Progress, TrainedModel, algorithm};
use aisle_store::{ModelInfo, ModelMeta, Store, StoreError, TuningRecord};
use serde_json::{Map, Value, json};

use crate::unix_now;

/// Half-life of the time decay of the "trending" list, in days.
pub const TRENDING_HALF_LIFE_DAYS: f64 = 7.0;

/// What to train and on which view of the store's events. Serialisable: a
/// [training process](child) is handed it as JSON.
#[derive(Debug, Clone, serde::Serialize, serde::Deserialize)]
pub struct TrainSpec {
    /// The algorithm's CLI name.
    pub model: String,
    /// Hyper-parameters (missing ones take the model's defaults).
    pub params: Map<String, Value>,
    pub weighting: Weighting,
    pub duplicates: Option<DuplicatePolicy>,
    pub cleaning: CleaningOptions,
    pub seed: u64,
    /// Also fit the model on 80% of each user's items and rank the held-out 20%, recording
    /// the ranking metrics (`holdout` in the version's metrics). Doubles the training time.
    pub holdout: bool,
    /// Take the newest search outcome stored for the model (`aisle tune --db`, the server's
    /// tuning job) for what `params` and `weighting` leave open: its parameters under
    /// `params`, its weighting when `weighting` is `auto`.
    pub use_tuning: bool,
    /// Train on the baskets (orders) rather than on users' histories: the version is stored
    /// as `MODEL@baskets` and answers bought-together and basket lists (see
    /// [`crate::baskets`]).
    pub baskets: bool,
}

impl Default for TrainSpec {
    fn default() -> Self {
        TrainSpec {
            model: "als".into(),
            params: Map::new(),
            weighting: Weighting::Auto,
            duplicates: None,
            cleaning: CleaningOptions::default(),
            seed: 42,
            holdout: true,
            use_tuning: true,
            baskets: false,
        }
    }
}

/// A model trained and saved.
#[derive(Debug)]
pub struct Trained {
    /// The stored version's description.
    pub info: ModelInfo,
    pub model: TrainedModel,
    /// The training matrix (rows and columns in the model's user and item indices).
    pub matrix: Interactions,
    /// What cleaning the snapshot dropped.
    pub report: CleaningReport,
}

/// A model fitted on a snapshot, not yet saved: the version's description and bytes, and
/// what serving it needs.
#[derive(Debug)]
pub struct Fitted {
    pub meta: ModelMeta,
    /// The serialised [`TrainedModel`] (what the store keeps).
    pub bytes: Vec<u8>,
    pub model: TrainedModel,
    /// The training matrix (rows and columns in the model's user and item indices).
    pub matrix: Interactions,
    /// What cleaning the snapshot dropped.
    pub report: CleaningReport,
}

/// Why training failed.
#[derive(Debug, thiserror::Error)]
pub enum TrainError {
    #[error(transparent)]
    Store(#[from] StoreError),
    #[error(transparent)]
    Model(#[from] ModelError),
    #[error(
        "another replica holds the trainer lock and is training; this one tries again on its \
         next schedule"
    )]
    AnotherTrainer,
    #[error("this replica serves only (--role serve); a replica with --role all or train trains")]
    ServeOnly,
    #[error("the store holds no usable events to train on; send or import some first")]
    NoEvents,
    /// The training process could not be started, died, or answered something unreadable.
    #[error("the training process failed: {0}")]
    Process(String),
}

/// Snapshots the store, trains `spec.model` on it and saves the result as a new version.
pub fn train(
    store: &dyn Store,
    spec: &TrainSpec,
    progress: Option<&(dyn Fn(Progress) + Sync)>,
    cancel: Option<&AtomicBool>,
    notice: Option<&(dyn Fn(&str) + Sync)>,
) -> Result<Trained, TrainError> {
    let fitted = fit(store, spec, progress, cancel, notice)?;
    save(store, fitted)
}

/// Snapshots the store and trains `spec.model` on it (on its baskets with `spec.baskets`);
/// saves nothing.
pub fn fit(
    store: &dyn Store,
    spec: &TrainSpec,
    progress: Option<&(dyn Fn(Progress) + Sync)>,
    cancel: Option<&AtomicBool>,
    notice: Option<&(dyn Fn(&str) + Sync)>,
) -> Result<Fitted, TrainError> {
    if spec.baskets {
        return crate::baskets::fit_baskets(store, spec, progress, cancel, notice);
    }
    let tuning = if spec.use_tuning {
        store.latest_tuning(&spec.model)?
    } else {
        None
    };
    let spec = &with_tuning(spec, tuning.as_ref());
    // Checked before the (possibly long) snapshot, so a typo fails at once.
    let trainer = algorithm(&spec.model, &spec.params)?;
    let snapshot = store.snapshot(&spec.cleaning, false)?;
    let mut dataset = snapshot.dataset;
    if dataset.events.is_empty() {
        return Err(TrainError::NoEvents);
    }
    // A model that reads descriptions knows every catalogue item, with events or not.
    let descriptions = if aisle_models::reads_catalogue(&spec.model) {
        let items = all_items(store)?;
        for item in &items {
            dataset.items.intern(&item.id);
        }
        let by_id: std::collections::HashMap<&str, &aisle_data::Item> =
            items.iter().map(|i| (i.id.as_str(), i)).collect();
        Some(
            dataset
                .items
                .ids()
                .map(|id| by_id.get(id).map(|&i| i.clone()))
                .collect::<Vec<_>>(),
        )
    } else {
        None
    };
    // A weighting the data's shape leaves open is settled on a validation split.
    let choice =
        aisle_eval::tune::settle(&dataset, None, dataset.choose(spec.weighting), spec.seed);
    let weighting = choice.weighting;
    let matrix = dataset.interactions_with(weighting, spec.duplicates);
    let ctx = FitContext {
        seed: spec.seed,
        progress,
        cancel,
        notice,
        catalogue: descriptions.as_deref(),
        ..FitContext::default()
    };
    let started = Instant::now();
    let model = trainer.fit(&matrix, &ctx)?;
    let fit_seconds = started.elapsed().as_secs_f64();
    let holdout = if spec.holdout {
        holdout_metrics(&matrix, spec, cancel, descriptions.as_deref())
    } else {
        Value::Null
    };

    let trained = TrainedModel {
        model,
        users: dataset.users,
        items: dataset.items,
        item_popularity: matrix.column_counts(),
        item_trending: popularity(&matrix, TRENDING_HALF_LIFE_DAYS),
        weighting,
        event_types: dataset.event_types,
    };
    let bytes = trained.to_bytes()?;
    let meta = ModelMeta {
        name: spec.model.clone(),
        params: trainer.params(),
        trained_at: unix_now(),
        metrics: json!({
            "fit_seconds": fit_seconds,
            "users": matrix.n_users(),
            "items": matrix.n_items(),
            "interactions": matrix.nnz(),
            "weighting": weighting,
            "weighting_reason": choice.reason,
            "holdout": holdout,
            "tuning": tuning.as_ref().map(|t| json!({
                "id": t.id,
                "chosen_at": t.created_at,
                "metric": t.tuning.metric,
                "score": t.tuning.score,
                "default_score": t.tuning.default_score,
                "weighting": t.tuning.weighting,
            })),
        }),
        format_version: FORMAT_VERSION,
        last_event_id: snapshot.last_event,
    };
    Ok(Fitted {
        meta,
        bytes,
        model: trained,
        matrix,
        report: dataset.report,
    })
}

/// Saves a fitted model as a new version.
pub fn save(store: &dyn Store, fitted: Fitted) -> Result<Trained, TrainError> {
    let Fitted {
        meta,
        bytes,
        model,
        matrix,
        report,
    } = fitted;
    let info = save_bytes(store, meta, &bytes)?;
    Ok(Trained {
        info,
        model,
        matrix,
        report,
    })
}

/// Saves a serialised model under `meta` as a new version.
pub(crate) fn save_bytes(
    store: &dyn Store,
    meta: ModelMeta,
    bytes: &[u8],
) -> Result<ModelInfo, StoreError> {
    let version = store.save_model(&meta, bytes)?;
    Ok(ModelInfo {
        version,
        meta,
        size: bytes.len() as u64,
        saved_at: unix_now(),
    })
}

/// Every item of the store's catalogue.
fn all_items(store: &dyn Store) -> Result<Vec<aisle_data::Item>, StoreError> {
    let mut items = Vec::new();
    let mut after = None;
    loop {
        let page = store.list_items(after, aisle_store::MAX_PAGE)?;
        items.extend(page.entries);
        match page.next {
            Some(next) => after = Some(next),
            None => return Ok(items),
        }
    }
}

/// `spec` with a stored search outcome filling in what it leaves open: the outcome's
/// parameters under the spec's own, its weighting when the spec's is `auto`.
fn with_tuning(spec: &TrainSpec, tuning: Option<&TuningRecord>) -> TrainSpec {
    let mut spec = spec.clone();
    let Some(tuning) = tuning else {
        return spec;
    };
    if let Value::Object(tuned) = &tuning.tuning.params {
        let mut params = tuned.clone();
        // An outcome an older Aisle stored may name a parameter since renamed: only known
        // ones count.
        if let Ok(entry) = aisle_models::model(&spec.model) {
            params.retain(|k, _| entry.spec.iter().any(|p| p.name == k));
        }
        params.extend(spec.params.clone());
        spec.params = params;
    }
    if spec.weighting == Weighting::Auto
        && let Ok(weighting) = tuning.tuning.weighting.parse()
    {
        spec.weighting = weighting;
    }
    spec
}

/// Ranking metrics at 10 of the model fitted on 80% of each user's items, scored on the
/// rest (`Value::Null` when the model cannot rank or the data is too small to split).
fn holdout_metrics(
    matrix: &Interactions,
    spec: &TrainSpec,
    cancel: Option<&AtomicBool>,
    catalogue: Option<&[Option<aisle_data::Item>]>,
) -> Value {
    let protocol = Protocol::UserHoldout { fraction: 0.2 };
    let folds = split(matrix, protocol, spec.seed);
    let options = EvalOptions {
        protocol: protocol.to_string(),
        seed: spec.seed,
        rating_metrics: MetricSelection::Never,
        ..EvalOptions::default()
    };
    let model = ModelSpec::named(spec.model.clone(), spec.params.clone());
    let control = RunControl {
        cancel,
        catalogue,
        ..RunControl::default()
    };
    match aisle_eval::evaluate(&folds, &[model], &options, &control) {
        Ok(report) => report
            .results
            .first()
            .and_then(|r| serde_json::to_value(&r.metrics).ok())
            .unwrap_or(Value::Null),
        Err(e) => {
            tracing::warn!(model = %spec.model, "the holdout evaluation failed: {e}");
            Value::Null
        }
    }
}
