//! `aisle import`: reads and cleans an events file (and optionally a catalogue and a users
//! file) with the data crate and writes what was kept into a store, printing the cleaning
//! report and what the store now holds.
//!
//! The store is opened first, so a foreign or newer store file is refused before any reading.
//! Events are committed in batches: a failure half-way keeps the batches already committed,
//! and the error says how many.

use std::fmt::Write as _;
use std::path::{Path, PathBuf};
use std::time::Instant;

use aisle_data::catalogue::{RecordsReport, load_users};
use aisle_data::{Catalogue, Dataset, ItemColumns, items_from_events};
use aisle_store::append_dataset;
use anyhow::{Context, Result};
use serde_json::json;

use crate::UsageError;
use crate::cli::ImportArgs;
use crate::commands::inspect::cleaning_text;
use crate::input::EventsConfig;
use crate::output::{out, outln};
use crate::progress;

/// What to import, validated.
#[derive(Debug)]
pub struct ImportJob {
    /// The store's location.
    pub db: String,
    pub events: PathBuf,
    pub users: Option<PathBuf>,
    /// Item fields read from the events file's own columns.
    pub items_from_events: Option<ItemColumns>,
    /// How to read and clean the events; its catalogue is stored too.
    pub config: EventsConfig,
    /// Events per transaction.
    pub batch: usize,
    /// Print JSON instead of the text report.
    pub json: bool,
}

pub fn run(args: ImportArgs) -> Result<()> {
    let config = EventsConfig::from_args(&args.read)?;
    if args.batch == 0 {
        return Err(UsageError("--batch must be at least 1".into()).into());
    }
    let items_from_events = args
        .items_from_events
        .as_deref()
        .map(str::parse)
        .transpose()
        .map_err(UsageError)?;
    import(&ImportJob {
        db: args.db,
        events: args.events,
        users: args.users,
        items_from_events,
        config,
        batch: args.batch,
        json: args.json,
    })?;
    Ok(())
}

/// Reads, cleans and stores, then prints the report; gives back what was read.
pub fn import(args: &ImportJob) -> Result<Dataset> {
    let config = &args.config;
    let started = Instant::now();
    let store = aisle_store::open(&args.db)?;

    let catalogue = match &config.catalogue {
        Some(path) => Some(
            Catalogue::load(path).with_context(|| format!("reading items {}", path.display()))?,
        ),
        None => None,
    };
    let users = match &args.users {
        Some(path) => {
            Some(load_users(path).with_context(|| format!("reading users {}", path.display()))?)
        }
        None => None,
    };
    let dataset = config.load_with_catalogue(&args.events, catalogue.as_ref())?;
    let catalogue = match &args.items_from_events {
        Some(columns) => Some(Catalogue {
            items: items_from_events(&args.events, &dataset, columns)
                .with_context(|| format!("reading items from {}", args.events.display()))?,
            ..Catalogue::default()
        }),
        None => catalogue,
    };
    let read_seconds = started.elapsed().as_secs_f64();

    let write_started = Instant::now();
    if let Some(catalogue) = &catalogue {
        store
            .upsert_items(&catalogue.items)
            .context("storing the items")?;
    }
    if let Some((users, _)) = &users {
        store.upsert_users(users).context("storing the users")?;
    }
    let total = dataset.events.len() as u64;
    let bar = progress::steps(total, "storing events");
    let mut committed = 0;
    let mut batches = 0u64;
    append_dataset(store.as_ref(), &dataset, args.batch, &mut |done| {
        committed = done;
        batches += 1;
        bar.set_position(done);
    })
    .with_context(|| {
        format!(
            "storing events in {}: {committed} of {total} events were committed before the \
             failure and stay in the store",
            args.db
        )
    })?;
    bar.finish_and_clear();
    let write_seconds = write_started.elapsed().as_secs_f64();
    let counts = store.counts()?;

    if args.json {
        let records =
            |report: &RecordsReport, stored: usize| json!({ "report": report, "stored": stored });
        let value = json!({
            "db": args.db.clone(),
            "events": {
                "file": args.events.display().to_string(),
                "report": dataset.report,
                "stored": committed,
                "batches": batches,
                "batch_size": args.batch,
            },
            "items": catalogue.as_ref().map(|c| records(&c.report, c.items.len())),
            "users": users.as_ref().map(|(u, report)| records(report, u.len())),
            "store": counts,
            "read_seconds": read_seconds,
            "write_seconds": write_seconds,
        });
        outln!("{}", serde_json::to_string_pretty(&value)?);
        return Ok(dataset);
    }
    let mut text = String::new();
    let _ = writeln!(text, "{}\n", args.events.display());
    text.push_str(&cleaning_text(&dataset.report));
    if let (Some(path), Some(catalogue)) = (&config.catalogue, &catalogue) {
        text.push_str(&records_text(path, &catalogue.report));
    }
    if let (Some(path), Some((_, report))) = (&args.users, &users) {
        text.push_str(&records_text(path, report));
    }
    let _ = writeln!(
        text,
        "\nstored {committed} events in {batches} batch(es) of up to {} ({:.1} s, {:.0} events/s; \
         reading and cleaning took {read_seconds:.1} s)",
        args.batch,
        write_seconds,
        committed as f64 / write_seconds.max(1e-9),
    );
    let _ = writeln!(
        text,
        "each batch is committed on its own: had the import stopped half-way, the batches \
         already committed would have stayed in the store"
    );
    if !dataset.guest_events.is_empty() {
        let _ = writeln!(
            text,
            "{} guest lines (no user) were not stored: a store keeps users' events",
            dataset.guest_events.len()
        );
    }
    let _ = writeln!(
        text,
        "{} now holds {} items, {} users, {} events, {} model versions",
        args.db, counts.items, counts.users, counts.events, counts.models
    );
    out!("{text}");
    Ok(dataset)
}

/// One paragraph on how an items or users file was read.
fn records_text(path: &Path, report: &RecordsReport) -> String {
    let mut text = format!(
        "\n{}: {} rows read, {} kept\n",
        path.display(),
        report.rows,
        report.kept
    );
    let lines = |key: &str| {
        report
            .examples
            .get(key)
            .map(|l| {
                let list: Vec<String> = l.iter().map(u64::to_string).collect();
                format!(" (lines {})", list.join(", "))
            })
            .unwrap_or_default()
    };
    for (reason, count) in &report.dropped {
        let _ = writeln!(text, "  {reason:<22} {count:>10}{}", lines(reason));
    }
    for (field, count) in &report.bad_fields {
        let _ = writeln!(
            text,
            "  unreadable {field:<11} {count:>10}  left empty, row kept{}",
            lines(field)
        );
    }
    text
}
