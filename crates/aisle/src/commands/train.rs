//! `aisle train`: a training snapshot of the store, one model fitted on it, saved back to the
//! store as a new version (with the id maps it needs to answer).

use std::sync::Mutex;
use std::time::{Instant, SystemTime, UNIX_EPOCH};

use aisle_data::CleaningOptions;
use aisle_models::persist::FORMAT_VERSION;
use aisle_models::{FitContext, Progress, TrainedModel, algorithm, parse_value};
use aisle_store::{ModelMeta, SqliteStore, Store};
use anyhow::Result;
use serde_json::{Map, json};

use crate::UsageError;
use crate::cli::TrainArgs;
use crate::commands::inspect::cleaning_text;
use crate::input::{apply_weights, matrix_options};
use crate::output::outln;
use crate::progress;

pub fn run(args: TrainArgs) -> Result<()> {
    let mut params = Map::new();
    for entry in &args.set {
        let (key, value) = entry
            .split_once('=')
            .ok_or_else(|| UsageError(format!("--set '{entry}' is not of the form PARAM=VALUE")))?;
        params.insert(key.trim().to_string(), parse_value(value.trim()));
    }
    let trainer = algorithm(&args.model, &params).map_err(|e| UsageError(e.to_string()))?;
    let (weighting, duplicates) = matrix_options(&args.weighting, args.duplicates.as_deref())?;
    let mut clean = CleaningOptions {
        min_user_events: args.min_user_events,
        min_item_events: args.min_item_events,
        ..CleaningOptions::default()
    };
    apply_weights(&args.weights, &mut clean.event_types)?;

    let store = SqliteStore::open(&args.db)?;
    let dataset = store.dataset(&clean)?;
    outln!("Training snapshot of {}:", args.db.display());
    outln!("{}", cleaning_text(&dataset.report));
    if dataset.events.is_empty() {
        anyhow::bail!(
            "{} holds no usable events; import some with `aisle import`",
            args.db.display()
        );
    }
    let weighting = dataset.resolve(weighting);
    let matrix = dataset.interactions_with(weighting, duplicates);

    let bar = Mutex::new(progress::steps(1, format!("training {}", args.model)));
    let on_progress = |p: Progress| {
        let bar = bar.lock().expect("progress bar lock");
        bar.set_length(p.total);
        bar.set_position(p.done);
    };
    let ctx = FitContext {
        seed: args.seed,
        progress: Some(&on_progress),
        ..FitContext::default()
    };
    let started = Instant::now();
    let model = trainer.fit(&matrix, &ctx)?;
    let fit_seconds = started.elapsed().as_secs_f64();
    bar.into_inner()
        .expect("progress bar lock")
        .finish_and_clear();

    let trained = TrainedModel {
        model,
        users: dataset.users,
        items: dataset.items,
        item_popularity: matrix.column_counts(),
        weighting,
        event_types: dataset.event_types,
    };
    let bytes = trained.to_bytes()?;
    let meta = ModelMeta {
        name: args.model.clone(),
        params: trainer.params(),
        trained_at: SystemTime::now()
            .duration_since(UNIX_EPOCH)
            .map_or(0, |d| d.as_secs() as i64),
        metrics: json!({
            "fit_seconds": fit_seconds,
            "users": matrix.n_users(),
            "items": matrix.n_items(),
            "interactions": matrix.nnz(),
            "weighting": weighting,
        }),
        format_version: FORMAT_VERSION,
    };
    let version = store.save_model(&meta, &bytes)?;
    outln!(
        "Trained {} on {} users × {} items ({} interactions, {weighting:?} weights) in {fit_seconds:.2} s; saved as version {} ({} bytes).",
        args.model,
        matrix.n_users(),
        matrix.n_items(),
        matrix.nnz(),
        version.0,
        bytes.len()
    );
    Ok(())
}
