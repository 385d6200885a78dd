//! Runs the evaluator on the shared MovieLens 100K splits with two reference baselines
//! defined here (the training mean for ratings, item popularity for rankings), to check the
//! metric definitions against published figures and to time the runner.
//!
//! `cargo run --release -p aisle-eval --example reference_baselines`
//!
//! The data is read from `../shared/data` relative to the workspace root, with a small local
//! `u.data`-style parser (tab-separated `user item rating timestamp`); it prints a line and
//! exits when the folder is absent.

use std::path::{Path, PathBuf};
use std::time::Instant;

use aisle_data::{Cell, DuplicatePolicy, IdMap, Interactions};
use aisle_eval::{EvalOptions, Fold, ModelSpec, RunControl, evaluate, text_table};
use aisle_models::{Algorithm, Capabilities, FitContext, Query, Recommender};
use serde_json::{Value, json};

/// Predicts the training mean for every pair.
#[derive(Debug)]
struct GlobalMean;

#[derive(Debug)]
struct GlobalMeanModel {
    mean: f32,
    n_items: usize,
}

impl Algorithm for GlobalMean {
    fn name(&self) -> &str {
        "global-mean"
    }
    fn params(&self) -> Value {
        json!({})
    }
    fn fit(
        &self,
        train: &Interactions,
        _ctx: &FitContext<'_>,
    ) -> aisle_models::Result<Box<dyn Recommender>> {
        Ok(Box::new(GlobalMeanModel {
            mean: train.mean_weight() as f32,
            n_items: train.n_items(),
        }))
    }
}

impl Recommender for GlobalMeanModel {
    fn name(&self) -> &str {
        "global-mean"
    }
    fn capabilities(&self) -> Capabilities {
        Capabilities {
            rating: true,
            ..Default::default()
        }
    }
    fn n_items(&self) -> usize {
        self.n_items
    }
    fn predict(&self, _user: u32, _item: u32) -> Option<f32> {
        Some(self.mean)
    }
    fn score(&self, _query: &Query<'_>, scores: &mut [f32]) {
        scores.fill(0.0);
    }
}

/// Ranks items by their number of training users (implicit's popularity baseline).
#[derive(Debug)]
struct Popularity;

#[derive(Debug)]
struct PopularityModel {
    users_per_item: Vec<u32>,
}

impl Algorithm for Popularity {
    fn name(&self) -> &str {
        "popularity"
    }
    fn params(&self) -> Value {
        json!({})
    }
    fn fit(
        &self,
        train: &Interactions,
        _ctx: &FitContext<'_>,
    ) -> aisle_models::Result<Box<dyn Recommender>> {
        Ok(Box::new(PopularityModel {
            users_per_item: train.column_counts(),
        }))
    }
}

impl Recommender for PopularityModel {
    fn name(&self) -> &str {
        "popularity"
    }
    fn capabilities(&self) -> Capabilities {
        Capabilities {
            ranking: true,
            ..Default::default()
        }
    }
    fn n_items(&self) -> usize {
        self.users_per_item.len()
    }
    fn score(&self, _query: &Query<'_>, scores: &mut [f32]) {
        for (score, &count) in scores.iter_mut().zip(&self.users_per_item) {
            *score = count as f32;
        }
    }
}

/// Reads `user item rating timestamp` lines, interning raw ids into the shared maps.
fn read_tsv(path: &Path, users: &mut IdMap, items: &mut IdMap) -> Result<Vec<Cell>, String> {
    let text = std::fs::read_to_string(path).map_err(|e| format!("{}: {e}", path.display()))?;
    let mut cells = Vec::new();
    for (number, line) in text.lines().enumerate() {
        let fields: Vec<&str> = line.split('\t').collect();
        let [user, item, rating, timestamp] = fields[..] else {
            return Err(format!(
                "{}:{}: expected 4 fields",
                path.display(),
                number + 1
            ));
        };
        let bad = |what: &str| format!("{}:{}: bad {what}", path.display(), number + 1);
        cells.push(Cell {
            user: users.intern(user),
            item: items.intern(item),
            weight: rating.parse().map_err(|_| bad("rating"))?,
            timestamp: timestamp.parse().map_err(|_| bad("timestamp"))?,
        });
    }
    Ok(cells)
}

/// Folds from `(train, test)` file pairs, all sharing one pair of id maps and one shape.
fn read_folds(pairs: &[(PathBuf, PathBuf)]) -> Result<Vec<Fold>, String> {
    let (mut users, mut items) = (IdMap::new(), IdMap::new());
    let mut raw = Vec::new();
    for (train, test) in pairs {
        let train = read_tsv(train, &mut users, &mut items)?;
        let test = read_tsv(test, &mut users, &mut items)?;
        raw.push((train, test));
    }
    let (n_users, n_items) = (users.len(), items.len());
    Ok(raw
        .into_iter()
        .map(|(train, test)| Fold {
            train: Interactions::from_cells(n_users, n_items, train, DuplicatePolicy::Last),
            test: Interactions::from_cells(n_users, n_items, test, DuplicatePolicy::Last),
        })
        .collect())
}

fn run(name: &str, protocol: &str, folds: &[Fold], model: Box<dyn Algorithm>) {
    let options = EvalOptions {
        dataset: name.into(),
        protocol: protocol.into(),
        rating_scale: Some((1.0, 5.0)),
        ..Default::default()
    };
    let started = Instant::now();
    match evaluate(
        folds,
        &[ModelSpec::from(model)],
        &options,
        &RunControl::default(),
    ) {
        Ok(report) => {
            println!(
                "{name} ({protocol}), whole run {:.3} s:",
                started.elapsed().as_secs_f64()
            );
            print!("{}", text_table(&report));
            println!();
        }
        Err(e) => eprintln!("{name}: {e}"),
    }
}

fn main() {
    let root = Path::new(env!("CARGO_MANIFEST_DIR")).join("../../../shared/data");
    if !root.is_dir() {
        println!(
            "skipping: no data folder at {} (it is ../shared/data from the workspace root)",
            root.display()
        );
        return;
    }
    let ml = root.join("ml-100k");
    let given: Vec<(PathBuf, PathBuf)> = (1..=5)
        .map(|k| (ml.join(format!("u{k}.base")), ml.join(format!("u{k}.test"))))
        .collect();
    match read_folds(&given) {
        Ok(folds) => run("ml-100k", "given:5 folds", &folds, Box::new(GlobalMean)),
        Err(e) => eprintln!("{e}"),
    }
    let splits = root.join("splits/ml-100k");
    for split in ["holdout", "loo"] {
        let pair = (
            splits.join(format!("{split}.train.tsv")),
            splits.join(format!("{split}.test.tsv")),
        );
        match read_folds(&[pair]) {
            Ok(folds) => run("ml-100k", split, &folds, Box::new(Popularity)),
            Err(e) => eprintln!("{e}"),
        }
    }
}
