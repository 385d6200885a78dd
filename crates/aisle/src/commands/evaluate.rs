//! `aisle evaluate`: trains models on folds and prints, and writes, their offline metrics.

use std::collections::BTreeMap;
use std::path::Path;
use std::sync::Mutex;

use aisle_data::{
    Catalogue, Choice, Dataset, DuplicatePolicy, IdMap, Item, Protocol, Weighting, split,
};
use aisle_eval::tune::{ParamsFile, settle};
use aisle_eval::{
    EvalError, EvalOptions, Fold, MetricSelection, ModelSpec, Repeats, RunControl, RunProgress,
    Stage,
};
use aisle_models::{Algorithm, parse_value};
use anyhow::{Context, Result};
use serde_json::{Map, Value};

use crate::UsageError;
use crate::cli::EvaluateArgs;
use crate::input::{EventsConfig, matrix_options};
use crate::output::{out, outln};
use crate::progress;

pub fn run(args: EvaluateArgs) -> Result<()> {
    let config = EventsConfig::from_args(&args.events)?;
    let (weighting, duplicates) = matrix_options(&args.weighting, args.duplicates.as_deref())?;
    let (rating_metrics, ranking_metrics) = match args.metrics.as_str() {
        "auto" => (MetricSelection::Auto, MetricSelection::Auto),
        "rating" => (MetricSelection::Always, MetricSelection::Never),
        "ranking" => (MetricSelection::Never, MetricSelection::Always),
        "all" => (MetricSelection::Always, MetricSelection::Always),
        other => {
            return Err(UsageError(format!(
                "--metrics '{other}' (expected auto, rating, ranking or all)"
            ))
            .into());
        }
    };
    let params_file = args
        .params
        .as_deref()
        .map(ParamsFile::load)
        .transpose()
        .map_err(|e| UsageError(e.to_string()))?;
    if let Some(path) = &args.data
        && args.protocol.starts_with("basket:")
    {
        let protocol = args.protocol.parse().map_err(UsageError)?;
        let algorithms = model_algorithms(&args.models, &args.set, params_file.as_ref())?;
        return super::evaluate_basket::run(&args, &config, path, protocol, algorithms);
    }
    if let Some(path) = &args.data
        && args.protocol.starts_with("cold-items:")
    {
        let protocol = args.protocol.parse().map_err(UsageError)?;
        let algorithms = model_algorithms(&args.models, &args.set, params_file.as_ref())?;
        let (weighting, duplicates) = (weighting, duplicates);
        return super::evaluate_cold::run(
            &args, &config, path, protocol, algorithms, weighting, duplicates,
        );
    }
    let specs = model_specs(&args.models, &args.set, params_file.as_ref())?;
    if args.train.len() != args.test.len() {
        return Err(
            UsageError("every --train needs a --test (and the other way round)".into()).into(),
        );
    }

    let repeats: Repeats = args.repeats.parse().map_err(UsageError)?;
    // The training data of each fold, for models trained under a weighting of their own.
    let (folds, sources, dataset, protocol, choice) = match &args.data {
        Some(path) => {
            let protocol: Protocol = args.protocol.parse().map_err(UsageError)?;
            let data = config.load(path)?;
            let mut choice = data.choose(weighting);
            let matrix = data.interactions_with(choice.weighting, duplicates);
            let mut folds = split(&matrix, protocol, args.seed);
            if !choice.contenders.is_empty() && !folds.is_empty() {
                // Settled on the first fold's training part: the test cells stay unseen.
                choice = settle(&data, Some(&folds[0].train), choice, args.seed);
                let matrix = data.interactions_with(choice.weighting, duplicates);
                folds = split(&matrix, protocol, args.seed);
            }
            (
                folds,
                Sources::One(Box::new(data)),
                file_name(path),
                format!("{protocol} (seed {})", args.seed),
                choice,
            )
        }
        None => {
            let mut folds = Vec::new();
            let mut trains = Vec::new();
            let mut choice = None;
            for (train, test) in args.train.iter().zip(&args.test) {
                let (fold, chosen, train_set) =
                    given_fold(&config, train, test, weighting, duplicates, args.seed)?;
                folds.push(fold);
                trains.push(train_set);
                choice.get_or_insert(chosen);
            }
            let name = file_name(&args.train[0]);
            let protocol = format!("given: {} train/test pair(s)", folds.len());
            (
                folds,
                Sources::PerFold(trains),
                name,
                protocol,
                choice.expect("at least one pair"),
            )
        }
    };
    // Models whose settings name another weighting train on the same pairs weighted so.
    let mut models = Vec::with_capacity(specs.len());
    for (spec, own) in specs {
        match own {
            Some(own) if own != choice.weighting && args.weighting == "auto" => {
                let trains = folds
                    .iter()
                    .enumerate()
                    .map(|(index, fold)| {
                        sources
                            .dataset(index)
                            .interactions_on(own, duplicates, &fold.train)
                    })
                    .collect();
                models.push(spec.trained_on(own, trains));
            }
            _ => models.push(spec),
        }
    }

    let options = EvalOptions {
        dataset,
        protocol,
        k: args.k,
        seed: args.seed,
        rating_scale: config.clean.rating_scale,
        relevance_threshold: args.relevance_threshold,
        rating_metrics,
        ranking_metrics,
        capped_recall: false,
        repeats,
    };
    let bar = progress::steps((models.len() * folds.len()) as u64, "evaluating");
    let bar_lock = Mutex::new(bar);
    let on_progress = |p: &RunProgress<'_>| {
        let bar = bar_lock.lock().expect("progress bar lock");
        match p.stage {
            Stage::Done => bar.inc(1),
            Stage::Fit(fit) => bar.set_message(format!(
                "{} fold {}/{}: fitting {}/{}",
                p.model,
                p.fold + 1,
                p.folds,
                fit.done,
                fit.total
            )),
            Stage::Predict => bar.set_message(format!(
                "{} fold {}/{}: predicting",
                p.model,
                p.fold + 1,
                p.folds
            )),
        }
    };
    let on_notice = |text: &str| bar_lock.lock().expect("progress bar lock").println(text);
    // Content models read the items' descriptions, by the folds' item indices (one id space:
    // one data file, or one train/test pair).
    let catalogue = match (&config.catalogue, folds.len()) {
        (Some(path), n) if args.data.is_some() || n == 1 => Some(described(
            &Catalogue::load(path)?,
            &sources.dataset(0).items,
        )),
        _ => None,
    };
    let control = RunControl {
        progress: Some(&on_progress),
        cancel: None,
        notice: Some(&on_notice),
        catalogue: catalogue.as_deref(),
    };
    let report = aisle_eval::evaluate(&folds, &models, &options, &control).map_err(classify)?;
    bar_lock
        .into_inner()
        .expect("progress bar lock")
        .finish_and_clear();

    outln!("{} — {}", report.dataset.name, report.protocol);
    outln!("weighting {}: {}", choice.weighting, choice.reason);
    let summary = &report.dataset;
    match summary.repeats {
        Repeats::Exclude if summary.repeats_set_aside > 0 => outln!(
            "{} test cells repeat a training item of their user: set aside (scores are for items \
             new to each user; --repeats include counts them)",
            summary.repeats_set_aside
        ),
        Repeats::Include => outln!(
            "repeats included: training items may be recommended and count when bought again"
        ),
        Repeats::Exclude => {}
    }
    if summary.unknown_test_items > 0 {
        outln!(
            "{} test cells are of items unknown to training (no model can rank or predict them)",
            summary.unknown_test_items
        );
    }
    out!("{}", aisle_eval::text_table(&report));
    if let Some(out) = &args.json {
        std::fs::write(out, report.to_json()?)
            .with_context(|| format!("writing {}", out.display()))?;
    }
    if let Some(out) = &args.csv {
        let file =
            std::fs::File::create(out).with_context(|| format!("writing {}", out.display()))?;
        aisle_eval::write_csv(&report, file)?;
    }
    if let Some(out) = &args.report {
        std::fs::write(out, aisle_eval::html_report(&report))
            .with_context(|| format!("writing {}", out.display()))?;
    }
    Ok(())
}

/// Where each fold's training events are: one dataset split by a protocol, or a training
/// file per fold.
enum Sources {
    One(Box<Dataset>),
    PerFold(Vec<Dataset>),
}

impl Sources {
    fn dataset(&self, fold: usize) -> &Dataset {
        match self {
            Sources::One(data) => data,
            Sources::PerFold(trains) => &trains[fold],
        }
    }
}

/// Reads a train/test pair into one id space and the same weighting (settled on the
/// training file alone when its shape leaves it open).
fn given_fold(
    config: &EventsConfig,
    train: &Path,
    test: &Path,
    weighting: Weighting,
    duplicates: Option<DuplicatePolicy>,
    seed: u64,
) -> Result<(Fold, Choice, Dataset)> {
    let counter = aisle_data::ByteCounter::default();
    let (train_set, test_set) =
        aisle_data::Dataset::load_pair(train, test, &config.read, &config.clean, &counter, None)?;
    // The test file follows the training file's weighting, so ratings stay ratings.
    let choice = settle(&train_set, None, train_set.choose(weighting), seed);
    let fold = Fold {
        train: train_set.interactions_with(choice.weighting, duplicates),
        test: test_set.interactions_with(choice.weighting, duplicates),
    };
    Ok((fold, choice, train_set))
}

/// `--models a,b` with `--set a.param=value` (and a params file's settings, which `--set`
/// overrides) into specs, each with the weighting its settings name; unknown models in
/// `--set` are usage errors.
fn model_specs(
    names: &[String],
    sets: &[String],
    file: Option<&ParamsFile>,
) -> Result<Vec<(ModelSpec, Option<Weighting>)>, UsageError> {
    Ok(model_algorithms(names, sets, file)?
        .into_iter()
        .map(|(algorithm, weighting)| (ModelSpec::algorithm(algorithm), weighting))
        .collect())
}

/// A configured algorithm and the weighting it was tuned with, if any.
pub(super) type Configured = (Box<dyn Algorithm>, Option<Weighting>);

/// The `--model` algorithms with their `--set` and `--params` settings, and the weighting
/// each was tuned with.
pub(super) fn model_algorithms(
    names: &[String],
    sets: &[String],
    file: Option<&ParamsFile>,
) -> Result<Vec<Configured>, UsageError> {
    let mut params: BTreeMap<&str, Map<String, Value>> = BTreeMap::new();
    for entry in sets {
        let (key, value) = entry.split_once('=').ok_or_else(|| {
            UsageError(format!(
                "--set '{entry}' is not of the form MODEL.PARAM=VALUE"
            ))
        })?;
        let (model, param) = key.split_once('.').ok_or_else(|| {
            UsageError(format!(
                "--set '{entry}': name the model, e.g. svd.{key}={value}"
            ))
        })?;
        if !names.iter().any(|n| n == model) {
            return Err(UsageError(format!(
                "--set '{entry}': model '{model}' is not in --models ({})",
                names.join(",")
            )));
        }
        params
            .entry(model)
            .or_default()
            .insert(param.to_string(), parse_value(value));
    }
    names
        .iter()
        .map(|name| {
            let tuned = file.and_then(|f| f.get(name));
            let mut merged = tuned.map(|t| t.params.clone()).unwrap_or_default();
            merged.extend(params.get(name.as_str()).cloned().unwrap_or_default());
            // Built now, so a bad name or value is reported before any data is read.
            let algorithm =
                aisle_models::algorithm(name, &merged).map_err(|e| UsageError(e.to_string()))?;
            Ok((algorithm, tuned.and_then(|t| t.weighting)))
        })
        .collect()
}

/// Fits and scores each of `algorithms` in turn behind a progress bar: `score` gets the
/// algorithm and its fit context (`seed`, the bar's notices, the catalogue if any).
pub(super) fn score_each<T>(
    algorithms: &[Configured],
    seed: u64,
    catalogue: Option<&[Option<Item>]>,
    mut score: impl FnMut(&dyn Algorithm, &aisle_models::FitContext<'_>) -> Result<T>,
) -> Result<Vec<T>> {
    let bar = progress::steps(algorithms.len() as u64, "evaluating");
    let mut results = Vec::with_capacity(algorithms.len());
    for (algorithm, _) in algorithms {
        bar.set_message(algorithm.name().to_string());
        let on_notice = |text: &str| bar.println(text);
        let context = aisle_models::FitContext {
            seed,
            notice: Some(&on_notice),
            catalogue,
            ..aisle_models::FitContext::default()
        };
        results.push(score(algorithm.as_ref(), &context)?);
        bar.inc(1);
    }
    bar.finish_and_clear();
    Ok(results)
}

/// Refuses `--csv` and `--report` for a protocol whose report is `--json` only.
pub(super) fn json_only(args: &EvaluateArgs, protocol: &dyn std::fmt::Display) -> Result<()> {
    if args.csv.is_some() || args.report.is_some() {
        return Err(UsageError(format!(
            "--protocol {protocol} writes --json only (--csv and --report are for the user protocols)"
        ))
        .into());
    }
    Ok(())
}

/// Each item's catalogue entry, by its index in `items` (`None`: not in the catalogue).
pub(super) fn described(catalogue: &Catalogue, items: &IdMap) -> Vec<Option<Item>> {
    items.ids().map(|id| catalogue.get(id).cloned()).collect()
}

/// Option mistakes are usage errors (exit code 2); model names and hyper-parameters were
/// checked when the specs were built.
fn classify(error: EvalError) -> anyhow::Error {
    match &error {
        EvalError::InvalidOption { .. } => UsageError(error.to_string()).into(),
        _ => error.into(),
    }
}

fn file_name(path: &Path) -> String {
    path.file_name().map_or_else(
        || path.display().to_string(),
        |n| n.to_string_lossy().into_owned(),
    )
}
