//! `aisle evaluate --protocol basket:F`: trains models on the earlier baskets and scores how
//! well each completes the later ones (the protocol is defined in docs/evaluation.md and
//! `aisle_data::baskets`).

use std::path::Path;

use aisle_data::{BasketProtocol, BasketSource, Baskets};
use aisle_eval::{BasketScores, evaluate_baskets};
use aisle_models::FitContext;
use anyhow::{Context, Result};
use serde_json::json;

use super::evaluate::Configured;
use crate::UsageError;
use crate::cli::EvaluateArgs;
use crate::input::EventsConfig;
use crate::output::outln;
use crate::progress;

pub fn run(
    args: &EvaluateArgs,
    config: &EventsConfig,
    path: &Path,
    protocol: BasketProtocol,
    algorithms: Vec<Configured>,
) -> Result<()> {
    if args.csv.is_some() || args.report.is_some() {
        return Err(UsageError(format!(
            "--protocol {protocol} writes --json only (--csv and --report are for the user protocols)"
        ))
        .into());
    }
    let data = config.load(path)?;
    let baskets = Baskets::of(&data);
    if baskets.baskets.is_empty() {
        return Err(UsageError(format!(
            "{}: no baskets (no basket column and no purchases to group by user and day)",
            path.display()
        ))
        .into());
    }
    let split = protocol.split(&baskets.baskets, data.n_items(), |i| data.items.id(i));
    let source = match baskets.source {
        BasketSource::Column => "the basket column",
        BasketSource::SameDayPurchases => "each user's purchases per day (no basket column)",
    };
    outln!(
        "{} — {protocol} (baskets from {source})",
        path.file_name().unwrap_or_default().to_string_lossy()
    );
    outln!(
        "{} baskets: {} train, {} test; {} evaluated, {} skipped (fewer than 2 known items); \
         {} known items",
        baskets.baskets.len(),
        split.train.n_users(),
        split.test_baskets,
        split.cases.len(),
        split.skipped,
        split.known.iter().filter(|&&k| k).count()
    );
    let bar = progress::steps(algorithms.len() as u64, "evaluating");
    let mut results: Vec<BasketScores> = Vec::new();
    for (algorithm, _) in &algorithms {
        bar.set_message(algorithm.name().to_string());
        let on_notice = |text: &str| bar.println(text);
        let context = FitContext {
            seed: args.seed,
            notice: Some(&on_notice),
            ..FitContext::default()
        };
        results.push(evaluate_baskets(
            algorithm.as_ref(),
            &split,
            args.k,
            &context,
        )?);
        bar.inc(1);
    }
    bar.finish_and_clear();
    let k = args.k;
    outln!(
        "{:<12} {:>9} {:>9} {:>9} {:>9}",
        "model",
        format!("HR@{k}"),
        format!("NDCG@{k}"),
        format!("MRR@{k}"),
        "fit s"
    );
    for r in &results {
        outln!(
            "{:<12} {:>9.4} {:>9.4} {:>9.4} {:>9.2}",
            r.model,
            r.hit_rate,
            r.ndcg,
            r.mrr,
            r.fit_seconds
        );
    }
    if let Some(out) = &args.json {
        let report = json!({
            "dataset": path.file_name().unwrap_or_default().to_string_lossy(),
            "protocol": protocol.to_string(),
            "k": k,
            "baskets": baskets.baskets.len(),
            "train_baskets": split.train.n_users(),
            "test_baskets": split.test_baskets,
            "evaluated": split.cases.len(),
            "skipped": split.skipped,
            "models": results,
        });
        std::fs::write(out, serde_json::to_string_pretty(&report)?)
            .with_context(|| format!("writing {}", out.display()))?;
    }
    Ok(())
}
