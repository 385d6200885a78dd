//! `aisle tune`: chooses models' hyper-parameters and weighting on a validation split carved
//! from the data given, prints every trial and the outcome against the defaults, and writes
//! the settings for `--params` (and, with `--db`, into the store for the server).

use std::sync::Arc;
use std::sync::Mutex;
use std::sync::atomic::{AtomicBool, Ordering};

use aisle_data::{Protocol, Weighting};
use aisle_eval::tune::{
    Budget, Metric, ModelTuning, ParamsFile, Phase, Strategy, Trial, TuneControl, TuneOptions,
    TuneProgress, TuneReport,
};
use anyhow::{Context, Result};
use serde_json::Value;

use crate::UsageError;
use crate::cli::TuneArgs;
use crate::input::{EventsConfig, matrix_options};
use crate::output::{out, outln};
use crate::progress;

pub fn run(args: TuneArgs) -> Result<()> {
    for model in &args.model {
        aisle_models::model(model).map_err(|e| UsageError(e.to_string()))?;
    }
    let metric: Metric = args
        .metric
        .parse()
        .map_err(|e: aisle_eval::tune::TuneError| UsageError(e.to_string()))?;
    let validation: Protocol = args.protocol.parse().map_err(UsageError)?;
    if matches!(validation, Protocol::KFold { .. }) {
        return Err(UsageError(
            "--protocol kfold: a search validates on one split; use user-holdout:F, temporal:F, \
             random:F or leave-last"
                .into(),
        )
        .into());
    }
    let time = match &args.budget {
        Some(text) => Some(
            aisle_server::config::parse_duration(text)
                .map_err(|e| UsageError(format!("--budget {e}")))?
                .ok_or_else(|| UsageError("--budget must be longer than 0".into()))?,
        ),
        None => None,
    };
    if args.trials == Some(0) {
        return Err(UsageError("--trials must be at least 1".into()).into());
    }
    let weightings = match args.weighting.as_str() {
        "auto" => None,
        list => Some(
            list.split(',')
                .map(|w| w.trim().parse::<Weighting>())
                .collect::<Result<Vec<_>, _>>()
                .map_err(UsageError)?,
        ),
    };
    let (_, duplicates) = matrix_options("auto", args.duplicates.as_deref())?;

    let (dataset, name) = match (&args.data, &args.db) {
        (Some(path), _) => {
            let config = EventsConfig::from_args(&args.events)?;
            (config.load(path)?, path.display().to_string())
        }
        (None, Some(db)) => {
            let store = aisle_store::open(db)?;
            let snapshot = store.snapshot(&Default::default(), false)?;
            (snapshot.dataset, db.clone())
        }
        (None, None) => unreachable!("clap requires --data or --db"),
    };
    let strategy = match args.grid {
        Some(0) => return Err(UsageError("--grid must be at least 1".into()).into()),
        Some(points) => Strategy::Grid { points },
        None => Strategy::Search,
    };
    let options = TuneOptions {
        metric,
        strategy,
        validation,
        seed: args.seed,
        budget: Budget {
            time,
            trials: args.trials,
        },
        weightings,
        duplicates,
        dataset: name.clone(),
    };

    let cancel = Arc::new(AtomicBool::new(false));
    stop_on_ctrl_c(Arc::clone(&cancel));
    let bar = Mutex::new(progress::steps(args.trials.unwrap_or(0) as u64, "tuning"));
    let on_progress = |p: &TuneProgress<'_>| {
        let bar = bar.lock().expect("progress bar lock");
        match (p.trial_budget, p.time_budget) {
            (Some(trials), _) => {
                bar.set_length(trials as u64);
                bar.set_position(p.trials as u64);
            }
            (None, Some(time)) => {
                bar.set_length(time.as_secs().max(1));
                bar.set_position(p.elapsed.as_secs());
            }
            (None, None) => {}
        }
        let best = p.best.map_or("-".into(), |b| format!("{b:.4}"));
        bar.set_message(format!(
            "{} ({}/{}): trial {}, best {} {best}",
            p.model,
            p.model_index + 1,
            p.models,
            p.trials,
            options.metric
        ));
    };
    let control = TuneControl {
        progress: Some(&on_progress),
        cancel: Some(&cancel),
    };
    let report = aisle_eval::tune::tune(&dataset, None, &args.model, &options, &control)?;
    bar.into_inner()
        .expect("progress bar lock")
        .finish_and_clear();

    print_report(&report);
    if let Some(path) = &args.json {
        std::fs::write(path, serde_json::to_string_pretty(&report)?)
            .with_context(|| format!("writing {}", path.display()))?;
    }
    let file = ParamsFile::from_report(&report);
    if let Some(path) = &args.out {
        let header = format!(
            "Chosen by `aisle tune` on {name}: {} on {}.\nRead by `aisle evaluate --params`, \
             `aisle train --params` and the server's `params_file`.",
            report.metric, report.validation
        );
        std::fs::write(path, file.to_toml(&header)?)
            .with_context(|| format!("writing {}", path.display()))?;
        outln!("\nWrote the chosen settings to {}.", path.display());
    }
    if let Some(db) = &args.db {
        let store = aisle_store::open(db)?;
        for model in &report.models {
            store.save_tuning(&aisle_store::NewTuning {
                model: model.model.clone(),
                weighting: model.weighting.to_string(),
                params: Value::Object(model.params.clone()),
                metric: report.metric.to_string(),
                score: model.score,
                default_score: model.default_score,
                trials: model.trials.len() as u32,
                seconds: model.seconds,
                report: serde_json::to_value(model)?,
            })?;
        }
        outln!("Saved in {db}: the server's next trainings of these models use them.");
    }
    if args.out.is_none() && args.db.is_none() {
        outln!("\n(--out FILE saves the chosen settings for `--params`.)");
    }
    Ok(())
}

/// Each model's trials, then its outcome against the defaults.
fn print_report(report: &TuneReport) {
    outln!(
        "Tuned on {}: {} on {} ({} pairs fitted, {} validated).",
        report.dataset,
        report.metric,
        report.validation,
        report.fit_pairs,
        report.validation_pairs
    );
    for model in &report.models {
        outln!(
            "\n{}: {} trials in {:.1} s",
            model.model,
            model.trials.len(),
            model.seconds
        );
        out!("{}", trial_table(model, &report.metric));
        let change = if model.default_score != 0.0 {
            format!(
                " ({:+.1}%)",
                100.0 * (model.score - model.default_score) / model.default_score.abs()
            )
        } else {
            String::new()
        };
        outln!(
            "{} chosen: weighting {}, {}",
            model.model,
            model.weighting,
            brief(&model.params)
        );
        outln!(
            "  validation {} {:.4} against {:.4} for the defaults (weighting {}){change}{}",
            report.metric,
            model.score,
            model.default_score,
            model.default_weighting,
            if model.stopped.is_some() {
                "; stopped early, the best so far"
            } else {
                ""
            }
        );
    }
}

fn trial_table(model: &ModelTuning, metric: &Metric) -> String {
    let headers = [
        "#",
        "phase",
        "weighting",
        "budget",
        "carve",
        metric.key.as_str(),
        "seconds",
        "params",
    ];
    let rows: Vec<Vec<String>> = model
        .trials
        .iter()
        .enumerate()
        .map(|(index, trial)| row(index + 1, trial))
        .collect();
    let widths: Vec<usize> = (0..headers.len())
        .map(|c| {
            rows.iter()
                .map(|r| r[c].chars().count())
                .chain([headers[c].len()])
                .max()
                .unwrap_or(0)
        })
        .collect();
    let mut text = String::new();
    let mut line = |cells: Vec<String>| {
        let last = cells.len() - 1;
        for (c, cell) in cells.into_iter().enumerate() {
            if c == last {
                text.push_str(&cell);
            } else {
                text.push_str(&format!("{cell:<width$}  ", width = widths[c]));
            }
        }
        text.push('\n');
    };
    line(headers.iter().map(|h| h.to_string()).collect());
    for row in rows {
        line(row);
    }
    text
}

fn row(index: usize, trial: &Trial) -> Vec<String> {
    let phase = match trial.phase {
        Phase::Defaults => "defaults",
        Phase::Explore => "explore",
        Phase::Refine => "refine",
        Phase::Confirm => "confirm",
    };
    vec![
        index.to_string(),
        phase.to_string(),
        trial.weighting.to_string(),
        match (trial.fidelity, trial.full) {
            (Some(f), true) => format!("{f}"),
            (Some(f), false) => format!("{f} (part)"),
            (None, _) => "-".into(),
        },
        trial.carve.to_string(),
        match (trial.score, &trial.error) {
            (Some(score), _) => format!("{score:.4}"),
            (None, Some(error)) => format!("failed: {error}"),
            (None, None) => "-".into(),
        },
        format!("{:.2}", trial.seconds),
        if trial.params.is_empty() {
            "(defaults)".into()
        } else {
            brief(&trial.params)
        },
    ]
}

/// `name=value` pairs, as `--set` takes them.
fn brief(params: &serde_json::Map<String, Value>) -> String {
    params
        .iter()
        .filter(|(_, v)| !v.is_null())
        .map(|(k, v)| match v {
            Value::String(s) => format!("{k}={s}"),
            other => format!("{k}={other}"),
        })
        .collect::<Vec<_>>()
        .join(" ")
}

/// The first Ctrl-C asks the search to stop after its current trial (the best so far is
/// kept); a second one quits at once.
fn stop_on_ctrl_c(cancel: Arc<AtomicBool>) {
    std::thread::spawn(move || {
        let Ok(runtime) = tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .build()
        else {
            return;
        };
        runtime.block_on(async {
            if tokio::signal::ctrl_c().await.is_err() {
                return;
            }
            cancel.store(true, Ordering::Relaxed);
            eprintln!(
                "\nstopping after the current trial; the best so far is kept (Ctrl-C again quits)"
            );
            if tokio::signal::ctrl_c().await.is_ok() {
                std::process::exit(130);
            }
        });
    });
}
