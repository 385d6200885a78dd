//! The result of an evaluation run ([`EvaluationReport`]) and its renderings: a fixed-width
//! text table for a terminal, CSV and JSON for plotting, and a self-contained HTML page with
//! bar charts.
//!
//! The JSON form is the contract `aisle evaluate --json` promises:
//! `{"protocol": "...", "dataset": {...}, "results": [{"model": "svd", "params": {...},
//! "metrics": {"rmse": ..., ...}, "fit_seconds": ..., "predict_seconds": ..., "folds":
//! [{"metrics": {...}, "fit_seconds": ..., "predict_seconds": ...}]}]}`, where a result's
//! metrics and seconds are the means over its folds.

use std::fmt::Write as _;
use std::io::Write;

use serde::{Deserialize, Serialize};

use crate::error::Result;
use crate::metrics::{Metrics, lower_is_better, metric_order};

/// Everything an evaluation run measured.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct EvaluationReport {
    /// How train and test were made, e.g. `given:5 folds` or `random:0.2`.
    pub protocol: String,
    pub dataset: DatasetSummary,
    /// One entry per model, in the order the models were given.
    pub results: Vec<ModelResult>,
}

/// What the models were evaluated on.
#[derive(Debug, Clone, PartialEq, Default, Serialize, Deserialize)]
pub struct DatasetSummary {
    pub name: String,
    /// Rows of the user × item matrices (the largest over folds).
    pub users: usize,
    /// Columns of the matrices (the largest over folds).
    pub items: usize,
    /// Training cells per fold (the mean over folds, rounded).
    pub train: usize,
    /// Test cells per fold (the mean over folds, rounded).
    pub test: usize,
    /// Number of folds.
    pub folds: usize,
    /// Whether test items the user had in training counted.
    #[serde(default)]
    pub repeats: crate::runner::Repeats,
    /// Test cells the user had in training, set aside (with `repeats: exclude`), over all
    /// folds.
    #[serde(default)]
    pub repeats_set_aside: usize,
    /// Test cells of items with no training interaction, over all folds.
    #[serde(default)]
    pub unknown_test_items: usize,
}

/// One model's results: the mean over folds, and each fold.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct ModelResult {
    /// The algorithm's CLI name.
    pub model: String,
    /// Its full hyper-parameters, defaults filled in.
    pub params: serde_json::Value,
    /// The weighting of the matrices it trained on, when it had its own (see
    /// [`crate::ModelSpec::trained_on`]); absent when it trained on the run's.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub weighting: Option<String>,
    /// Each metric's mean over the folds that have it (for RMSE the mean of the folds' RMSEs,
    /// as Surprise reports it, not the RMSE of all folds' pairs pooled).
    pub metrics: Metrics,
    /// Mean training time per fold.
    pub fit_seconds: f64,
    /// Mean prediction time per fold (rating predictions and top-K lists, not the metric
    /// computation).
    pub predict_seconds: f64,
    pub folds: Vec<FoldResult>,
}

/// One model on one fold.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct FoldResult {
    pub metrics: Metrics,
    pub fit_seconds: f64,
    pub predict_seconds: f64,
}

impl EvaluationReport {
    /// Every metric key any result has, in table order (accuracy first; see
    /// [`metric_order`]).
    pub fn metric_keys(&self) -> Vec<String> {
        let mut keys: Vec<String> = Vec::new();
        let every_set = self
            .results
            .iter()
            .flat_map(|r| std::iter::once(&r.metrics).chain(r.folds.iter().map(|f| &f.metrics)));
        for metrics in every_set {
            for key in metrics.keys() {
                if !keys.iter().any(|k| k == key) {
                    keys.push(key.to_string());
                }
            }
        }
        keys.sort_by_key(|k| metric_order(k));
        keys
    }

    /// The report as pretty-printed JSON.
    pub fn to_json(&self) -> Result<String> {
        Ok(serde_json::to_string_pretty(self)?)
    }

    /// Reads a report written by [`EvaluationReport::to_json`].
    pub fn from_json(text: &str) -> Result<Self> {
        Ok(serde_json::from_str(text)?)
    }
}

/// A fixed-width table, one row per model: the mean of each metric over folds, then the mean
/// fit and predict seconds. Metrics a model does not have show as `-`. Every line has the
/// same width.
pub fn text_table(report: &EvaluationReport) -> String {
    let keys = report.metric_keys();
    let own_weightings = report.results.iter().any(|r| r.weighting.is_some());
    let mut headers: Vec<String> = vec!["model".to_string()];
    if own_weightings {
        headers.push("weighting".to_string());
    }
    headers.extend(keys.iter().cloned());
    headers.push("fit_seconds".to_string());
    headers.push("predict_seconds".to_string());

    let rows: Vec<Vec<String>> = report
        .results
        .iter()
        .map(|result| {
            let mut row = vec![result.model.clone()];
            if own_weightings {
                row.push(result.weighting.clone().unwrap_or_else(|| "-".into()));
            }
            row.extend(keys.iter().map(|key| {
                result
                    .metrics
                    .get(key)
                    .map_or("-".to_string(), format_metric)
            }));
            row.push(format_seconds(result.fit_seconds));
            row.push(format_seconds(result.predict_seconds));
            row
        })
        .collect();

    let widths: Vec<usize> = (0..headers.len())
        .map(|column| {
            rows.iter()
                .map(|row| row[column].chars().count())
                .chain(std::iter::once(headers[column].chars().count()))
                .max()
                .unwrap_or(0)
        })
        .collect();

    let mut out = String::new();
    for line in std::iter::once(&headers).chain(rows.iter()) {
        for (column, cell) in line.iter().enumerate() {
            let pad = widths[column] - cell.chars().count();
            if column == 0 {
                out.push_str(cell);
                out.push_str(&" ".repeat(pad));
            } else {
                out.push_str("  ");
                out.push_str(&" ".repeat(pad));
                out.push_str(cell);
            }
        }
        out.push('\n');
    }
    out
}

fn format_metric(value: f64) -> String {
    format!("{value:.4}")
}

fn format_seconds(value: f64) -> String {
    format!("{value:.3}")
}

/// CSV with a header `model,fold,<metric keys>,fit_seconds,predict_seconds` and, per model,
/// one row per fold (`fold` = 1, 2, ...) then one row with `fold` = `mean`. Missing metrics
/// are empty fields; numbers are written in full precision.
pub fn write_csv(report: &EvaluationReport, out: impl Write) -> Result<()> {
    let keys = report.metric_keys();
    let mut writer = csv::Writer::from_writer(out);
    let mut header = vec!["model".to_string(), "fold".to_string()];
    header.extend(keys.iter().cloned());
    header.push("fit_seconds".to_string());
    header.push("predict_seconds".to_string());
    writer.write_record(&header)?;

    let record = |model: &str, fold: String, metrics: &Metrics, fit: f64, predict: f64| {
        let mut fields = vec![model.to_string(), fold];
        fields.extend(
            keys.iter()
                .map(|key| metrics.get(key).map_or(String::new(), |v| v.to_string())),
        );
        fields.push(fit.to_string());
        fields.push(predict.to_string());
        fields
    };
    for result in &report.results {
        for (index, fold) in result.folds.iter().enumerate() {
            writer.write_record(record(
                &result.model,
                (index + 1).to_string(),
                &fold.metrics,
                fold.fit_seconds,
                fold.predict_seconds,
            ))?;
        }
        writer.write_record(record(
            &result.model,
            "mean".to_string(),
            &result.metrics,
            result.fit_seconds,
            result.predict_seconds,
        ))?;
    }
    writer.flush()?;
    Ok(())
}

/// The report as CSV text (see [`write_csv`]).
pub fn csv_string(report: &EvaluationReport) -> Result<String> {
    let mut buffer = Vec::new();
    write_csv(report, &mut buffer)?;
    Ok(String::from_utf8(buffer).expect("the CSV writer only writes UTF-8 given UTF-8"))
}

/// Colours of the models' bars, picked to stay distinct for colour-blind readers (Okabe–Ito).
const PALETTE: &[&str] = &[
    "#0072B2", "#E69F00", "#009E73", "#CC79A7", "#56B4E9", "#D55E00", "#F0E442", "#000000",
];

/// A self-contained HTML page (inline CSS and SVG, no scripts, no external assets): the
/// protocol and data set, the table of means, one horizontal bar chart per metric and for
/// fit and predict seconds, and each model's parameters.
pub fn html_report(report: &EvaluationReport) -> String {
    let keys = report.metric_keys();
    let mut page = String::new();
    let title = format!("Aisle evaluation: {}", report.dataset.name);
    let _ = write!(
        page,
        "<!DOCTYPE html>\n<html lang=\"en\">\n<head>\n<meta charset=\"utf-8\">\n\
         <meta name=\"viewport\" content=\"width=device-width, initial-scale=1\">\n\
         <title>{}</title>\n<style>\n\
         body {{ font-family: system-ui, sans-serif; margin: 2em; color: #222; }}\n\
         table {{ border-collapse: collapse; margin: 1em 0; }}\n\
         th, td {{ padding: 0.25em 0.5em; border-bottom: 1px solid #ddd; white-space: nowrap; }}\n\
         .wide {{ overflow-x: auto; max-width: 100%; }}\n\
         td.number {{ text-align: right; font-variant-numeric: tabular-nums; }}\n\
         .charts {{ display: flex; flex-wrap: wrap; gap: 1.5em; }}\n\
         figure {{ margin: 0; max-width: 100%; }}\n\
         svg {{ max-width: 100%; height: auto; }}\n\
         @media (max-width: 600px) {{ body {{ margin: 1em; }} }}\n\
         figcaption {{ font-weight: 600; margin-bottom: 0.25em; }}\n\
         svg text {{ font-size: 12px; font-family: system-ui, sans-serif; }}\n\
         code {{ font-size: 0.9em; }}\n\
         </style>\n</head>\n<body>\n<h1>{}</h1>\n",
        escape(&title),
        escape(&title)
    );
    let dataset = &report.dataset;
    let _ = writeln!(
        page,
        "<p>Protocol <b>{}</b>; {} users × {} items; {} fold(s) of {} training and {} test \
         cells.</p>",
        escape(&report.protocol),
        dataset.users,
        dataset.items,
        dataset.folds,
        dataset.train,
        dataset.test
    );

    page.push_str("<h2>Means over folds</h2>\n<div class=\"wide\">\n<table>\n<tr><th>model</th>");
    for key in &keys {
        let _ = write!(page, "<th>{}</th>", escape(key));
    }
    page.push_str("<th>fit seconds</th><th>predict seconds</th></tr>\n");
    for result in &report.results {
        let _ = write!(page, "<tr><td>{}</td>", escape(&result.model));
        for key in &keys {
            let cell = result
                .metrics
                .get(key)
                .map_or("-".to_string(), format_metric);
            let _ = write!(page, "<td class=\"number\">{cell}</td>");
        }
        let _ = writeln!(
            page,
            "<td class=\"number\">{}</td><td class=\"number\">{}</td></tr>",
            format_seconds(result.fit_seconds),
            format_seconds(result.predict_seconds)
        );
    }
    page.push_str("</table>\n</div>\n<h2>Comparison</h2>\n<div class=\"charts\">\n");
    for key in &keys {
        let bars: Vec<(&str, Option<f64>)> = report
            .results
            .iter()
            .map(|r| (r.model.as_str(), r.metrics.get(key)))
            .collect();
        let direction = if lower_is_better(key) {
            "lower is better"
        } else {
            "higher is better"
        };
        page.push_str(&bar_chart(&format!("{key} ({direction})"), &bars, 4));
    }
    for (label, pick) in [
        ("fit seconds (lower is better)", true),
        ("predict seconds (lower is better)", false),
    ] {
        let bars: Vec<(&str, Option<f64>)> = report
            .results
            .iter()
            .map(|r| {
                let seconds = if pick {
                    r.fit_seconds
                } else {
                    r.predict_seconds
                };
                (r.model.as_str(), Some(seconds))
            })
            .collect();
        page.push_str(&bar_chart(label, &bars, 3));
    }
    page.push_str("</div>\n<h2>Parameters</h2>\n<div class=\"wide\">\n<table>\n");
    for result in &report.results {
        let params = serde_json::to_string(&result.params).unwrap_or_default();
        let _ = writeln!(
            page,
            "<tr><td>{}</td><td><code>{}</code></td></tr>",
            escape(&result.model),
            escape(&params)
        );
    }
    page.push_str("</table>\n</div>\n</body>\n</html>\n");
    page
}

/// One horizontal bar per model, lengths proportional to the value (the longest bar is the
/// largest value); a model without the metric gets a `-` and no bar.
fn bar_chart(caption: &str, bars: &[(&str, Option<f64>)], decimals: usize) -> String {
    const LABEL_WIDTH: f64 = 130.0;
    const BAR_SPACE: f64 = 260.0;
    const VALUE_WIDTH: f64 = 70.0;
    const ROW: f64 = 22.0;
    let largest = bars
        .iter()
        .filter_map(|&(_, v)| v)
        .filter(|v| v.is_finite())
        .fold(0.0f64, f64::max);
    let scale = if largest > 0.0 {
        BAR_SPACE / largest
    } else {
        0.0
    };
    let width = LABEL_WIDTH + BAR_SPACE + VALUE_WIDTH;
    let height = ROW * bars.len() as f64 + 4.0;
    let mut svg = String::new();
    let _ = writeln!(
        svg,
        "<figure>\n<figcaption>{}</figcaption>\n\
         <svg width=\"{width}\" height=\"{height}\" viewBox=\"0 0 {width} {height}\" \
         role=\"img\" aria-label=\"{}\">",
        escape(caption),
        escape(caption)
    );
    for (index, &(model, value)) in bars.iter().enumerate() {
        let y = ROW * index as f64 + 2.0;
        let text_y = y + ROW * 0.68;
        let colour = PALETTE[index % PALETTE.len()];
        let _ = writeln!(
            svg,
            "<text x=\"{}\" y=\"{text_y}\" text-anchor=\"end\">{}</text>",
            LABEL_WIDTH - 6.0,
            escape(model)
        );
        match value {
            Some(v) if v.is_finite() => {
                let length = (v.max(0.0) * scale).max(if v > 0.0 { 1.0 } else { 0.0 });
                let _ = writeln!(
                    svg,
                    "<rect x=\"{LABEL_WIDTH}\" y=\"{}\" width=\"{length:.1}\" height=\"{}\" \
                     fill=\"{colour}\"><title>{}: {v}</title></rect>\n\
                     <text x=\"{:.1}\" y=\"{text_y}\">{v:.decimals$}</text>",
                    y + 3.0,
                    ROW - 6.0,
                    escape(model),
                    LABEL_WIDTH + length + 4.0
                );
            }
            _ => {
                let _ = writeln!(
                    svg,
                    "<text x=\"{}\" y=\"{text_y}\">-</text>",
                    LABEL_WIDTH + 4.0
                );
            }
        }
    }
    svg.push_str("</svg>\n</figure>\n");
    svg
}

/// Escapes text for HTML element content and attribute values.
fn escape(text: &str) -> String {
    let mut out = String::with_capacity(text.len());
    for c in text.chars() {
        match c {
            '&' => out.push_str("&amp;"),
            '<' => out.push_str("&lt;"),
            '>' => out.push_str("&gt;"),
            '"' => out.push_str("&quot;"),
            '\'' => out.push_str("&#39;"),
            _ => out.push(c),
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    fn metrics(entries: &[(&str, f64)]) -> Metrics {
        let mut m = Metrics::new();
        for &(k, v) in entries {
            m.insert(k, v);
        }
        m
    }

    fn sample() -> EvaluationReport {
        let svd_folds = vec![
            FoldResult {
                metrics: metrics(&[("rmse", 0.9), ("mae", 0.7)]),
                fit_seconds: 1.0,
                predict_seconds: 0.1,
            },
            FoldResult {
                metrics: metrics(&[("rmse", 1.0), ("mae", 0.8)]),
                fit_seconds: 2.0,
                predict_seconds: 0.3,
            },
        ];
        let pop_folds = vec![
            FoldResult {
                metrics: metrics(&[("precision@10", 0.2), ("ndcg@10", 0.25)]),
                fit_seconds: 0.01,
                predict_seconds: 0.02,
            },
            FoldResult {
                metrics: metrics(&[("precision@10", 0.3), ("ndcg@10", 0.35)]),
                fit_seconds: 0.03,
                predict_seconds: 0.04,
            },
        ];
        EvaluationReport {
            protocol: "given:2 folds".into(),
            dataset: DatasetSummary {
                name: "tiny <set>".into(),
                users: 3,
                items: 4,
                train: 10,
                test: 2,
                folds: 2,
                ..DatasetSummary::default()
            },
            results: vec![
                ModelResult {
                    model: "svd".into(),
                    params: serde_json::json!({"factors": 8}),
                    weighting: None,
                    metrics: Metrics::mean(svd_folds.iter().map(|f| &f.metrics)),
                    fit_seconds: 1.5,
                    predict_seconds: 0.2,
                    folds: svd_folds,
                },
                ModelResult {
                    model: "popular".into(),
                    params: serde_json::json!({}),
                    weighting: None,
                    metrics: Metrics::mean(pop_folds.iter().map(|f| &f.metrics)),
                    fit_seconds: 0.02,
                    predict_seconds: 0.03,
                    folds: pop_folds,
                },
            ],
        }
    }

    #[test]
    fn table_has_one_aligned_row_per_model() {
        let table = text_table(&sample());
        let lines: Vec<&str> = table.lines().collect();
        assert_eq!(lines.len(), 3);
        let width = lines[0].chars().count();
        assert!(lines.iter().all(|l| l.chars().count() == width), "{table}");
        let header: Vec<&str> = lines[0].split_whitespace().collect();
        assert_eq!(
            header,
            vec![
                "model",
                "rmse",
                "mae",
                "precision@10",
                "ndcg@10",
                "fit_seconds",
                "predict_seconds"
            ]
        );
        let svd: Vec<&str> = lines[1].split_whitespace().collect();
        assert_eq!(
            svd,
            vec!["svd", "0.9500", "0.7500", "-", "-", "1.500", "0.200"]
        );
    }

    #[test]
    fn csv_has_a_row_per_fold_and_a_mean() {
        let text = csv_string(&sample()).unwrap();
        let mut reader = csv::Reader::from_reader(text.as_bytes());
        let header: Vec<String> = reader.headers().unwrap().iter().map(String::from).collect();
        assert_eq!(header[..2], ["model", "fold"]);
        assert_eq!(
            header[header.len() - 2..],
            ["fit_seconds", "predict_seconds"]
        );
        let rows: Vec<csv::StringRecord> = reader.records().map(|r| r.unwrap()).collect();
        assert_eq!(rows.len(), 6);
        let folds: Vec<&str> = rows.iter().map(|r| &r[1]).collect();
        assert_eq!(folds, vec!["1", "2", "mean", "1", "2", "mean"]);
        let rmse = header.iter().position(|h| h == "rmse").unwrap();
        assert_eq!(rows[1][rmse].parse::<f64>().unwrap(), 1.0);
        assert_eq!(&rows[3][rmse], "", "popular has no rmse");
    }

    #[test]
    fn json_round_trips() {
        let report = sample();
        let back = EvaluationReport::from_json(&report.to_json().unwrap()).unwrap();
        assert_eq!(back, report);
    }

    #[test]
    fn html_is_self_contained_and_escaped() {
        let page = html_report(&sample());
        assert!(page.starts_with("<!DOCTYPE html>"));
        assert!(page.contains("tiny &lt;set&gt;"));
        assert!(!page.contains("tiny <set>"));
        // One chart per metric plus fit and predict seconds.
        assert_eq!(page.matches("<svg").count(), 4 + 2);
        for external in ["http://", "https://", "<script", "<link", "src="] {
            assert!(!page.contains(external), "page refers to {external}");
        }
    }
}
