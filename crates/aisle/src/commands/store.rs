//! `aisle store copy`: one store's contents into another, empty one.

use anyhow::Result;

use crate::cli::StoreCommand;
use crate::output::outln;

pub fn run(command: StoreCommand) -> Result<()> {
    match command {
        StoreCommand::Copy { from, to } => {
            let source = aisle_store::open(&from)?;
            let target = aisle_store::open(&to)?;
            let started = std::time::Instant::now();
            let report = aisle_store::copy(source.as_ref(), target.as_ref())?;
            outln!(
                "Copied {} to {} in {:.1} s: {} items, {} users, {} events, {} model versions, \
                 {} experiments ({} served lists), {} tunings, {} placements.",
                source.location(),
                target.location(),
                started.elapsed().as_secs_f64(),
                report.items,
                report.users,
                report.events,
                report.models,
                report.experiments,
                report.served_lists,
                report.tunings,
                report.placements
            );
            Ok(())
        }
    }
}
