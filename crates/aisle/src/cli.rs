//! Command-line arguments (clap derive). Loose strings are parsed into validated options in
//! [`crate::input`] before any work starts.

use std::path::PathBuf;

use clap::{Args, Parser, Subcommand};

#[derive(Debug, Parser)]
#[command(name = "aisle", version, about = "A recommendation engine for online shops", long_about = None)]
pub struct Cli {
    #[command(subcommand)]
    pub command: Command,
}

#[derive(Debug, Subcommand)]
pub enum Command {
    /// Statistics and the cleaning report of an events file.
    Inspect(InspectArgs),
    /// Write the cleaned events of a file in Aisle's own CSV layout.
    Clean(CleanArgs),
}

/// How to read and clean an events file.
#[derive(Debug, Clone, Args)]
pub struct EventsArgs {
    /// File layout: auto, csv, tsv, jsonl or movielens (gzip is detected by content).
    #[arg(long, default_value = "auto")]
    pub format: String,
    /// Column mapping, e.g. `user=customer_id,item=sku,type=event,value=qty,timestamp=ts`, or
    /// 1-based positions for files without a header: `user=1,item=2,value=3`.
    #[arg(long)]
    pub map: Option<String>,
    /// The first line is a header (default: guessed from the column names).
    #[arg(long, conflicts_with = "no_header")]
    pub header: bool,
    /// The file has no header line.
    #[arg(long)]
    pub no_header: bool,
    /// Ratings outside MIN:MAX are dropped, e.g. `1:5` or `0.5:5`.
    #[arg(long, value_name = "MIN:MAX")]
    pub rating_scale: Option<String>,
    /// Weight of an event type, e.g. `purchase=5`; declares a custom type (repeatable).
    #[arg(long = "weight", value_name = "TYPE=W")]
    pub weights: Vec<String>,
    /// Type of rows in a file without a type column (default: rating if the row has a value,
    /// view otherwise).
    #[arg(long)]
    pub default_type: Option<String>,
    /// Keep exact duplicate rows instead of dropping them.
    #[arg(long)]
    pub keep_duplicates: bool,
    /// Drop users with fewer events (iteratively, with --min-item-events).
    #[arg(long, default_value_t = 0)]
    pub min_user_events: u32,
    /// Drop items with fewer events (iteratively, with --min-user-events).
    #[arg(long, default_value_t = 0)]
    pub min_item_events: u32,
    /// A catalogue (items file): events for items not in it are dropped.
    #[arg(long, value_name = "FILE")]
    pub items: Option<PathBuf>,
}

#[derive(Debug, Args)]
pub struct InspectArgs {
    /// The events file (CSV, TSV, JSON Lines or MovieLens; optionally gzipped).
    pub file: PathBuf,
    #[command(flatten)]
    pub events: EventsArgs,
    /// Print one JSON object instead of the text report.
    #[arg(long)]
    pub json: bool,
}

#[derive(Debug, Args)]
pub struct CleanArgs {
    /// The events file to clean.
    pub file: PathBuf,
    /// Where to write the cleaned events (`.gz` compresses).
    #[arg(long, short)]
    pub out: PathBuf,
    #[command(flatten)]
    pub events: EventsArgs,
    /// Print the cleaning report as JSON.
    #[arg(long)]
    pub json: bool,
}
