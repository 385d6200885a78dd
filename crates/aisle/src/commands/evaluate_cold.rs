//! `aisle evaluate --protocol cold-items:F`: how well each model ranks items no one has
//! interacted with, from the catalogue's descriptions (`aisle_eval::cold`).

use std::path::Path;

use aisle_data::{Catalogue, DuplicatePolicy, Weighting};
use aisle_eval::{ColdItemsProtocol, evaluate_cold_items};
use anyhow::{Context, Result};
use serde_json::json;

use super::evaluate::{Configured, described, json_only, score_each};
use crate::UsageError;
use crate::cli::EvaluateArgs;
use crate::input::EventsConfig;
use crate::output::outln;

pub fn run(
    args: &EvaluateArgs,
    config: &EventsConfig,
    path: &Path,
    protocol: ColdItemsProtocol,
    algorithms: Vec<Configured>,
    weighting: Weighting,
    duplicates: Option<DuplicatePolicy>,
) -> Result<()> {
    json_only(args, &protocol)?;
    let catalogue_path = config.catalogue.as_deref().ok_or_else(|| {
        UsageError(format!(
            "--protocol {protocol} ranks items by what the catalogue says of them: give --items FILE"
        ))
    })?;
    let catalogue = Catalogue::load(catalogue_path)?;
    let data = config.load(path)?;
    let choice = data.choose(weighting);
    let matrix = data.interactions_with(choice.weighting, duplicates);
    let split = protocol.split(&matrix, &data.items, args.seed);
    let descriptions = described(&catalogue, &data.items);
    outln!(
        "{} — {protocol} (seed {}), weighting {}",
        path.file_name().unwrap_or_default().to_string_lossy(),
        args.seed,
        choice.weighting
    );
    outln!(
        "{} of {} items are cold (all their events in test; {} described by the catalogue); \
         {} users with a test event",
        split.cold_items.len(),
        matrix.n_items(),
        split
            .cold_items
            .iter()
            .filter(|&&i| descriptions[i as usize].is_some())
            .count(),
        split.users.len()
    );
    let results = score_each(
        &algorithms,
        args.seed,
        Some(&descriptions),
        |algorithm, context| Ok(evaluate_cold_items(algorithm, &split, args.k, context)?),
    )?;
    let k = args.k;
    outln!(
        "{:<12} {:>9} {:>9} {:>9}",
        "model",
        format!("NDCG@{k}"),
        format!("HR@{k}"),
        "fit s"
    );
    for r in &results {
        outln!(
            "{:<12} {:>9.4} {:>9.4} {:>9.2}",
            r.model,
            r.ndcg,
            r.hit_rate,
            r.fit_seconds
        );
    }
    if let Some(out) = &args.json {
        let report = json!({
            "dataset": path.file_name().unwrap_or_default().to_string_lossy(),
            "protocol": protocol.to_string(),
            "seed": args.seed,
            "k": k,
            "weighting": choice.weighting,
            "items": matrix.n_items(),
            "cold_items": split.cold_items.len(),
            "users": split.users.len(),
            "models": results,
        });
        std::fs::write(out, serde_json::to_string_pretty(&report)?)
            .with_context(|| format!("writing {}", out.display()))?;
    }
    Ok(())
}
