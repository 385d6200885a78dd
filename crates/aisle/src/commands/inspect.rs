//! `aisle inspect`: the cleaning report and statistics of an events file.

use crate::output::{out, outln};
use std::fmt::Write as _;

use aisle_data::{CleaningReport, Dataset, FileLayout, Statistics};
use anyhow::Result;
use serde_json::json;

use crate::cli::InspectArgs;
use crate::input::EventsConfig;

pub fn run(args: InspectArgs) -> Result<()> {
    let config = EventsConfig::from_args(&args.events)?;
    let dataset = config.load(&args.file)?;
    let stats = Statistics::of(&dataset);
    if args.json {
        let report = &dataset.report;
        let value = json!({
            "file": args.file.display().to_string(),
            "layout": dataset.layout.as_ref().map(layout_json),
            "rows": report.rows,
            "kept": report.kept,
            "users": stats.users,
            "items": stats.items,
            "kind": report.kind,
            "kind_reason": report.kind_reason,
            "dropped": report.dropped,
            "dropped_lines": report.examples,
            "notes": report.notes,
            "note_lines": report.note_examples,
            "folded_ids": report.folded_ids,
            "latin1_fields": report.latin1_fields,
            "statistics": stats,
        });
        outln!("{}", serde_json::to_string_pretty(&value)?);
    } else {
        out!(
            "{}",
            text_report(&args.file.display().to_string(), &dataset, &stats)
        );
    }
    Ok(())
}

fn layout_json(layout: &FileLayout) -> serde_json::Value {
    json!({
        "syntax": layout.syntax.to_string(),
        "header": layout.header,
        "columns": layout.columns.iter().map(|(role, name)| (role.key().to_string(), json!(name))).collect::<serde_json::Map<_, _>>(),
    })
}

/// The cleaning part of the report, shared with `aisle clean` (and later `aisle import`).
pub fn cleaning_text(report: &CleaningReport) -> String {
    let mut out = String::new();
    let percent = |n: u64| {
        if report.rows == 0 {
            0.0
        } else {
            100.0 * n as f64 / report.rows as f64
        }
    };
    if !report.kind_reason.is_empty() {
        let kind = match report.kind {
            aisle_data::FileKind::Transactions => "order lines",
            _ => "events",
        };
        let _ = writeln!(out, "read as     {kind} ({})", report.kind_reason);
    }
    let _ = writeln!(out, "rows read   {:>12}", report.rows);
    let _ = writeln!(
        out,
        "kept        {:>12}  ({:.2}%)",
        report.kept,
        percent(report.kept)
    );
    let _ = writeln!(out, "dropped     {:>12}", report.dropped_total());
    for (reason, count) in &report.dropped {
        let lines = report.examples.get(reason).map(|l| {
            let list: Vec<String> = l.iter().map(u64::to_string).collect();
            format!(
                " (lines {}{})",
                list.join(", "),
                if *count > l.len() as u64 { ", ..." } else { "" }
            )
        });
        let _ = writeln!(
            out,
            "  {:<22} {:>10}  {}{}",
            reason.as_str(),
            count,
            reason.describe(),
            lines.unwrap_or_default()
        );
    }
    for (note, count) in &report.notes {
        let lines: Vec<String> = report
            .note_examples
            .get(note)
            .map(|l| l.iter().map(u64::to_string).collect())
            .unwrap_or_default();
        let _ = writeln!(
            out,
            "  {:<22} {:>10}  {} (lines {}{})",
            note.as_str(),
            count,
            note.describe(),
            lines.join(", "),
            if *count > lines.len() as u64 {
                ", ..."
            } else {
                ""
            }
        );
    }
    if !report.folded_ids.is_empty() {
        let pairs: Vec<String> = report
            .folded_ids
            .iter()
            .map(|(from, to)| format!("{from} → {to}"))
            .collect();
        let _ = writeln!(out, "  case-folded ids: {}", pairs.join(", "));
    }
    if report.latin1_fields > 0 {
        let lines: Vec<String> = report.latin1_examples.iter().map(u64::to_string).collect();
        let _ = writeln!(
            out,
            "note: {} id field(s) were not UTF-8 and were read as Latin-1 (lines {})",
            report.latin1_fields,
            lines.join(", ")
        );
    }
    out
}

fn quantiles_text(q: &aisle_data::stats::Quantiles) -> String {
    format!(
        "min {} / p25 {} / median {} / p75 {} / p90 {} / p99 {} / max {}",
        q.min, q.p25, q.median, q.p75, q.p90, q.p99, q.max
    )
}

fn text_report(file: &str, dataset: &Dataset, stats: &Statistics) -> String {
    let mut out = String::new();
    let _ = write!(out, "{file}");
    if let Some(layout) = &dataset.layout {
        let columns: Vec<String> = layout
            .columns
            .iter()
            .map(|(r, n)| format!("{}={n}", r.key()))
            .collect();
        let _ = write!(
            out,
            ": {}, {}; {}",
            layout.syntax,
            if layout.header { "header" } else { "no header" },
            columns.join(", ")
        );
    }
    out.push_str("\n\n");
    out.push_str(&cleaning_text(&dataset.report));
    out.push('\n');
    let _ = writeln!(out, "users       {:>12}", stats.users);
    let _ = writeln!(out, "items       {:>12}", stats.items);
    let _ = writeln!(
        out,
        "pairs       {:>12}  (density {:.4}%)",
        stats.pairs,
        stats.density * 100.0
    );
    let types: Vec<String> = stats
        .events_by_type
        .iter()
        .map(|(t, n)| format!("{t} {n}"))
        .collect();
    let _ = writeln!(
        out,
        "events      {:>12}  ({})",
        stats.events,
        types.join(", ")
    );
    let _ = writeln!(
        out,
        "popularity  Gini {:.3}; the top 1% of items have {:.1}% of events",
        stats.popularity_gini,
        stats.top_1pct_item_share * 100.0
    );
    let d = &stats.events_per_user;
    let _ = writeln!(
        out,
        "per user    min {} / p25 {} / median {} / p75 {} / p90 {} / p99 {} / max {} (mean {:.1})",
        d.min, d.p25, d.median, d.p75, d.p90, d.p99, d.max, d.mean
    );
    let d = &stats.events_per_item;
    let _ = writeln!(
        out,
        "per item    min {} / p25 {} / median {} / p75 {} / p90 {} / p99 {} / max {} (mean {:.1})",
        d.min, d.p25, d.median, d.p75, d.p90, d.p99, d.max, d.mean
    );
    match &stats.time_range {
        Some((first, last)) => {
            let _ = writeln!(out, "time        {first} .. {last}");
        }
        None => {
            let _ = writeln!(out, "time        no timestamps");
        }
    }
    if let Some(r) = &stats.ratings {
        let shape = match &r.quantiles {
            Some(q) => format!("not a rating scale: {}", quantiles_text(q)),
            None => r
                .histogram
                .iter()
                .map(|(v, n)| format!("{v}: {n}"))
                .collect::<Vec<_>>()
                .join(", "),
        };
        let _ = writeln!(
            out,
            "values      {} (mean {:.3}, {}..{}; {shape})",
            r.count, r.mean, r.min, r.max,
        );
    }
    if let Some(q) = &stats.quantities {
        let _ = writeln!(out, "quantities  {}", quantiles_text(q));
    }
    if stats.baskets > 0 {
        let sizes = stats
            .items_per_basket
            .as_ref()
            .map(|d| {
                format!(
                    "; items per basket: median {}, p90 {}, max {}",
                    d.median, d.p90, d.max
                )
            })
            .unwrap_or_default();
        let _ = writeln!(out, "baskets     {:>12}{sizes}", stats.baskets);
    }
    if stats.guest_lines > 0 {
        let _ = writeln!(
            out,
            "guests      {:>12}  lines without a user, kept in their baskets",
            stats.guest_lines
        );
    }
    if let Some(revenue) = stats.revenue {
        let _ = writeln!(
            out,
            "revenue     {revenue:>12.2}  (quantity × unit price of purchases)"
        );
    }
    let _ = writeln!(
        out,
        "weighting   auto chooses {}: {}",
        stats.weighting.weighting, stats.weighting.reason
    );
    out
}
