//! `aisle evaluate --protocol basket:F`: trains models on the earlier baskets and scores how
//! well each completes the later ones (the protocol is defined in docs/evaluation.md and
//! `aisle_data::baskets`).

use std::path::Path;

use aisle_data::{BasketProtocol, BasketSource, Baskets};
use aisle_eval::evaluate_baskets;
use anyhow::{Context, Result};
use serde_json::json;

use super::evaluate::{Configured, json_only, score_each};
use crate::UsageError;
use crate::cli::EvaluateArgs;
use crate::input::EventsConfig;
use crate::output::outln;

pub fn run(
    args: &EvaluateArgs,
    config: &EventsConfig,
    path: &Path,
    protocol: BasketProtocol,
    algorithms: Vec<Configured>,
) -> Result<()> {
    json_only(args, &protocol)?;
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
    let results = score_each(&algorithms, args.seed, None, |algorithm, context| {
        Ok(evaluate_baskets(algorithm, &split, args.k, context)?)
    })?;
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
