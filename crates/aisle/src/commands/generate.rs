//! `aisle generate`: a synthetic shop on disk.

use crate::output::outln;
use aisle_data::generate::{GenerateSummary, ShopConfig, generate, generate_plays};
use anyhow::{Context, Result};

use crate::UsageError;
use crate::cli::GenerateArgs;
use crate::progress;

pub fn run(args: GenerateArgs) -> Result<()> {
    if args.counts {
        let config = config(&args)?;
        let bar = progress::steps(config.events, "simulating listens");
        let summary = generate_plays(&config, &args.out, |done| bar.set_position(done))
            .with_context(|| format!("writing the play counts to {}", args.out.display()))?;
        bar.finish_and_clear();
        outln!(
            "wrote {} users, {} items and plays.csv: {} (user, item) play counts from {} listens ({} plays, {} users with any) to {}",
            summary.users,
            summary.items,
            summary.rows,
            summary.listens,
            summary.plays,
            summary.active_users,
            args.out.display()
        );
        return Ok(());
    }
    let summary = write_shop(&args)?;
    outln!(
        "wrote {} users, {} items and {} events ({} sessions: {} views, {} add_to_cart, {} purchases, {} ratings) to {}",
        summary.users,
        summary.items,
        summary.events,
        summary.sessions,
        summary.views,
        summary.add_to_carts,
        summary.purchases,
        summary.ratings,
        args.out.display()
    );
    Ok(())
}

/// Generates the shop `args` describe, with a progress bar; shared with `aisle demo`.
pub fn write_shop(args: &GenerateArgs) -> Result<GenerateSummary> {
    let config = config(args)?;
    let bar = progress::steps(config.events, "generating events");
    let summary = generate(&config, &args.out, |written| bar.set_position(written))
        .with_context(|| format!("writing the shop to {}", args.out.display()))?;
    bar.finish_and_clear();
    Ok(summary)
}

fn config(args: &GenerateArgs) -> Result<ShopConfig> {
    let defaults = ShopConfig::default();
    let config = ShopConfig {
        users: args.users,
        items: args.items,
        events: args.events,
        seed: args.seed,
        categories: args.categories.unwrap_or(defaults.categories),
        days: args.days.unwrap_or(defaults.days),
        start: args.start.unwrap_or(defaults.start),
        ..defaults
    };
    config.check().map_err(|e| UsageError(e.to_string()))?;
    Ok(config)
}
