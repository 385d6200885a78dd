//! `aisle clean`: writes the kept events of a file in Aisle's own CSV layout.

use crate::output::outln;
use anyhow::{Context, Result};

use crate::cli::CleanArgs;
use crate::commands::inspect::cleaning_text;
use crate::input::EventsConfig;

pub fn run(args: CleanArgs) -> Result<()> {
    let config = EventsConfig::from_args(&args.events)?;
    let dataset = config.load(&args.file)?;
    let written = aisle_data::export::write_events(&dataset, &args.out)
        .with_context(|| format!("writing {}", args.out.display()))?;
    if args.json {
        outln!("{}", serde_json::to_string_pretty(&dataset.report)?);
    } else {
        eprint!("{}", cleaning_text(&dataset.report));
        eprintln!("wrote {written} events to {}", args.out.display());
    }
    Ok(())
}
