//! `aisle train`: a training snapshot of the store, one model fitted on it, saved back to the
//! store as a new version (with the id maps it needs to answer). The work is the engine's
//! training routine, so a model trained here and one retrained by `aisle serve` are the same
//! artifact.

use std::sync::Mutex;

use aisle_data::{CleaningOptions, Weighting};
use aisle_engine::{TrainError, TrainSpec};
use aisle_eval::tune::ParamsFile;
use aisle_models::{Progress, algorithm};
use anyhow::Result;

use crate::UsageError;
use crate::cli::TrainArgs;
use crate::commands::inspect::cleaning_text;
use crate::input::{apply_weights, matrix_options, parse_params};
use crate::output::outln;
use crate::progress;

pub fn run(args: TrainArgs) -> Result<()> {
    let tuned = match &args.params {
        Some(path) => ParamsFile::load(path)
            .map_err(|e| UsageError(e.to_string()))?
            .get(&args.model)
            .cloned(),
        None => None,
    };
    // The file's settings, then --set over them.
    let mut params = tuned.as_ref().map(|t| t.params.clone()).unwrap_or_default();
    params.extend(parse_params(&args.set)?);
    algorithm(&args.model, &params).map_err(|e| UsageError(e.to_string()))?;
    let (mut weighting, duplicates) = matrix_options(&args.weighting, args.duplicates.as_deref())?;
    if weighting == Weighting::Auto
        && let Some(own) = tuned.as_ref().and_then(|t| t.weighting)
    {
        weighting = own;
    }
    let mut cleaning = CleaningOptions {
        min_user_events: args.min_user_events,
        min_item_events: args.min_item_events,
        ..CleaningOptions::default()
    };
    apply_weights(&args.weights, &mut cleaning.event_types)?;
    let spec = TrainSpec {
        model: args.model.clone(),
        params,
        weighting,
        duplicates,
        cleaning,
        seed: args.seed,
        holdout: !args.no_holdout,
        use_tuning: !args.ignore_tuning,
        baskets: args.baskets,
    };
    train(&args.db, &spec)
}

/// Trains `spec` on the store at `db`, saves the version and prints what was done.
pub fn train(db: &str, spec: &TrainSpec) -> Result<()> {
    let store = aisle_store::open(db)?;
    let bar = Mutex::new(progress::steps(1, format!("training {}", spec.model)));
    let on_progress = |p: Progress| {
        let bar = bar.lock().expect("progress bar lock");
        bar.set_length(p.total);
        bar.set_position(p.done);
    };
    let on_notice = |text: &str| bar.lock().expect("progress bar lock").println(text);
    let trained = match aisle_engine::train(
        store.as_ref(),
        spec,
        Some(&on_progress),
        None,
        Some(&on_notice),
    ) {
        Err(TrainError::NoEvents) => {
            anyhow::bail!("{db} holds no usable events; import some with `aisle import`")
        }
        other => other?,
    };
    bar.into_inner()
        .expect("progress bar lock")
        .finish_and_clear();
    outln!("Training snapshot of {db}:");
    outln!("{}", cleaning_text(&trained.report));
    let matrix = &trained.matrix;
    let fit_seconds = trained.info.meta.metrics["fit_seconds"]
        .as_f64()
        .unwrap_or(0.0);
    let holdout = &trained.info.meta.metrics["holdout"];
    if let Some(ndcg) = holdout["ndcg@10"].as_f64() {
        if spec.baskets {
            outln!(
                "Holdout (basket:0.1, {} baskets completed): NDCG@10 {ndcg:.4}.",
                holdout["evaluated"]
            );
        } else {
            outln!("Holdout (80% of each user's items to train, 20% to rank): NDCG@10 {ndcg:.4}.");
        }
    }
    let reason = trained.info.meta.metrics["weighting_reason"]
        .as_str()
        .unwrap_or_default();
    outln!("Weighting {}: {reason}.", trained.model.weighting);
    outln!(
        "Trained {} on {} {} × {} items ({} interactions) in {fit_seconds:.2} s; saved as {} version {} ({} bytes).",
        spec.model,
        matrix.n_users(),
        if spec.baskets { "baskets" } else { "users" },
        matrix.n_items(),
        matrix.nnz(),
        trained.info.meta.name,
        trained.info.version.0,
        trained.info.size
    );
    Ok(())
}
