//! Offline evaluation of Aisle models: metrics with exact definitions ([`metrics`]), the
//! experiment runner that trains and scores models over folds ([`runner`]), and the reports
//! it produces ([`report`]: a text table, CSV, JSON and an HTML page), and the
//! hyper-parameter search that chooses settings on a shop's own data ([`tune`]).
//!
//! Like `aisle-data` and `aisle-models`, it is synchronous (rayon for parallelism) and knows
//! nothing of HTTP, SQL or async.
//!
//! ```
//! use aisle_eval::metrics::user_ranking;
//!
//! // Top-3 list [7, 2, 9] against relevant items {2, 5}: one hit, at place 2.
//! let user = user_ranking(&[7, 2, 9], &[2, 5], 3).unwrap();
//! assert_eq!(user.hits, 1);
//! assert_eq!(user.precision, 1.0 / 3.0);
//! assert_eq!(user.recall, 0.5);
//! assert_eq!(user.reciprocal_rank, 0.5);
//! ```

pub mod basket;
pub mod cold;
pub mod error;
pub mod metrics;
pub mod online;
pub mod report;
pub mod runner;
pub mod tune;

pub use basket::{BasketScores, evaluate_baskets};
pub use cold::{ColdItemsProtocol, ColdScores, ColdSplit, evaluate_cold_items};
pub use error::{EvalError, Result};
pub use metrics::{Metrics, RankingMetrics, RatingMetrics};
pub use report::{
    DatasetSummary, EvaluationReport, FoldResult, ModelResult, csv_string, html_report, text_table,
    write_csv,
};
pub use runner::{
    EvalOptions, Fold, FoldEvaluator, FoldScores, MetricSelection, ModelSpec, Repeats, RunControl,
    RunProgress, Stage, evaluate,
};
