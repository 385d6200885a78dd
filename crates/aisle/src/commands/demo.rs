//! `aisle demo`: the main job end to end on a sample shop — generate, clean and report,
//! train every model, compare them on a per-user holdout.

use crate::output::{out, outln};
use aisle_data::{
    ByteCounter, CleaningOptions, Dataset, Protocol, ReadOptions, Statistics, Weighting, split,
};
use aisle_eval::{EvalOptions, MetricSelection, ModelSpec, RunControl};
use anyhow::{Context, Result};

use crate::cli::{DemoArgs, GenerateArgs};
use crate::commands::generate::write_shop;
use crate::commands::inspect::cleaning_text;

pub fn run(args: DemoArgs) -> Result<()> {
    let shop = GenerateArgs {
        out: args.dir.clone(),
        users: args.users,
        items: args.items,
        events: args.events,
        seed: args.seed,
        categories: None,
        days: None,
    };
    let summary = write_shop(&shop)?;
    let events = args.dir.join("events.csv");
    outln!(
        "1. Generated a sample shop in {}: {} users, {} items, {} events ({} sessions).",
        args.dir.display(),
        summary.users,
        summary.items,
        summary.events,
        summary.sessions
    );

    let dataset = Dataset::load(
        &events,
        &ReadOptions::default(),
        &CleaningOptions::default(),
        &ByteCounter::default(),
        None,
    )?;
    let stats = Statistics::of(&dataset);
    outln!("\n2. Cleaned {}:\n", events.display());
    out!("{}", cleaning_text(&dataset.report));
    outln!(
        "   {} users, {} items, {} distinct user-item pairs, popularity Gini {:.2}",
        stats.users,
        stats.items,
        stats.pairs,
        stats.popularity_gini
    );

    let protocol = Protocol::UserHoldout { fraction: 0.2 };
    let matrix = dataset.interactions(Weighting::Implicit);
    let folds = split(&matrix, protocol, args.seed);
    let options = EvalOptions {
        dataset: "aisle demo shop".into(),
        protocol: format!("{protocol} (seed {})", args.seed),
        seed: args.seed,
        // Implicit confidences are not ratings: RMSE on them would mean nothing.
        rating_metrics: MetricSelection::Never,
        ..EvalOptions::default()
    };
    let models: Vec<ModelSpec> = args
        .models
        .iter()
        .map(|m| ModelSpec::named(m.clone(), Default::default()))
        .collect();
    outln!(
        "\n3. Trained {} on 80% of each user's items and ranked the held-out 20%:\n",
        args.models.join(", ")
    );
    let report = aisle_eval::evaluate(&folds, &models, &options, &RunControl::default())?;
    out!("{}", aisle_eval::text_table(&report));
    let html = args.dir.join("report.html");
    std::fs::write(&html, aisle_eval::html_report(&report))
        .with_context(|| format!("writing {}", html.display()))?;
    outln!("\nThe comparison is also in {}.", html.display());
    Ok(())
}
