//! The experiment runner end to end, with small hand-written algorithms (the real models
//! live in `aisle-models` and are tested there): hand-computed metrics through the full run,
//! reproducibility under a seed, the JSON contract, progress and cancellation.

use std::collections::BTreeSet;
use std::sync::Mutex;
use std::sync::atomic::{AtomicBool, Ordering};

use aisle_data::rng::pair_hash;
use aisle_data::{Cell, DuplicatePolicy, Interactions};
use aisle_eval::{
    EvalError, EvalOptions, EvaluationReport, Fold, MetricSelection, ModelSpec, RunControl, Stage,
    evaluate,
};
use aisle_models::{Algorithm, Capabilities, FitContext, Query, Recommender};
use serde_json::{Value, json};

fn matrix(n_users: usize, n_items: usize, cells: &[(u32, u32, f32)]) -> Interactions {
    let cells = cells
        .iter()
        .map(|&(user, item, weight)| Cell {
            user,
            item,
            weight,
            timestamp: 0,
        })
        .collect();
    Interactions::from_cells(n_users, n_items, cells, DuplicatePolicy::Last)
}

fn close(a: f64, b: f64) -> bool {
    (a - b).abs() < 1e-9
}

/// Predicts the training mean for every pair; no ranking.
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

/// Ranks items by their number of training users; no ratings.
#[derive(Debug)]
struct MostPopular;

#[derive(Debug)]
struct MostPopularModel {
    counts: Vec<u32>,
}

impl Algorithm for MostPopular {
    fn name(&self) -> &str {
        "most-popular"
    }
    fn params(&self) -> Value {
        json!({})
    }
    fn fit(
        &self,
        train: &Interactions,
        _ctx: &FitContext<'_>,
    ) -> aisle_models::Result<Box<dyn Recommender>> {
        Ok(Box::new(MostPopularModel {
            counts: train.column_counts(),
        }))
    }
}

impl Recommender for MostPopularModel {
    fn name(&self) -> &str {
        "most-popular"
    }
    fn capabilities(&self) -> Capabilities {
        Capabilities {
            ranking: true,
            ..Default::default()
        }
    }
    fn n_items(&self) -> usize {
        self.counts.len()
    }
    fn score(&self, _query: &Query<'_>, scores: &mut [f32]) {
        for (score, &count) in scores.iter_mut().zip(&self.counts) {
            *score = count as f32;
        }
    }
}

/// Seeded noise for both ratings and rankings, trained over `epochs` progress steps: the
/// seed decides every number, so two runs with one seed must agree exactly.
#[derive(Debug)]
struct SeededNoise {
    epochs: u64,
}

#[derive(Debug)]
struct SeededNoiseModel {
    seed: u64,
    n_items: usize,
}

impl Algorithm for SeededNoise {
    fn name(&self) -> &str {
        "seeded-noise"
    }
    fn params(&self) -> Value {
        json!({ "epochs": self.epochs })
    }
    fn fit(
        &self,
        train: &Interactions,
        ctx: &FitContext<'_>,
    ) -> aisle_models::Result<Box<dyn Recommender>> {
        for epoch in 1..=self.epochs {
            ctx.step(epoch, self.epochs)?;
        }
        Ok(Box::new(SeededNoiseModel {
            seed: ctx.seed,
            n_items: train.n_items(),
        }))
    }
}

impl SeededNoiseModel {
    fn noise(&self, user: u32, item: u32) -> f32 {
        (pair_hash(self.seed, user, item) >> 40) as f32 / (1u64 << 24) as f32
    }
}

impl Recommender for SeededNoiseModel {
    fn name(&self) -> &str {
        "seeded-noise"
    }
    fn capabilities(&self) -> Capabilities {
        Capabilities {
            rating: true,
            ranking: true,
            ..Default::default()
        }
    }
    fn n_items(&self) -> usize {
        self.n_items
    }
    fn predict(&self, user: u32, item: u32) -> Option<f32> {
        // Spills beyond the 1–5 scale on purpose, so clipping is exercised.
        Some(6.0 * self.noise(user, item))
    }
    fn score(&self, query: &Query<'_>, scores: &mut [f32]) {
        let user = query.user.unwrap_or(u32::MAX);
        for (item, score) in scores.iter_mut().enumerate() {
            *score = self.noise(user, item as u32);
        }
    }
}

fn rating_folds() -> Vec<Fold> {
    // Fold 1: training mean (1+2+3+2)/4 = 2; test 4, 1, 2 → errors 2, 1, 0. User 3 has no
    // training row. Fold 2: mean (5+5+4+2)/4 = 4; test 1, 5 → errors 3, 1.
    vec![
        Fold {
            train: matrix(4, 3, &[(0, 0, 1.0), (0, 1, 2.0), (1, 0, 3.0), (2, 2, 2.0)]),
            test: matrix(4, 3, &[(0, 2, 4.0), (1, 1, 1.0), (3, 0, 2.0)]),
        },
        Fold {
            train: matrix(4, 3, &[(0, 0, 5.0), (1, 1, 5.0), (1, 2, 4.0), (2, 0, 2.0)]),
            test: matrix(4, 3, &[(0, 1, 1.0), (3, 2, 5.0)]),
        },
    ]
}

fn options() -> EvalOptions {
    EvalOptions {
        dataset: "hand-made".into(),
        protocol: "given:2 folds".into(),
        rating_scale: Some((1.0, 5.0)),
        ..Default::default()
    }
}

#[test]
fn global_mean_gives_the_hand_computed_rmse() {
    let models = [ModelSpec::from(Box::new(GlobalMean) as Box<dyn Algorithm>)];
    let report = evaluate(&rating_folds(), &models, &options(), &RunControl::default()).unwrap();
    let result = &report.results[0];
    assert_eq!(result.model, "global-mean");
    let fold_rmse = [(5.0f64 / 3.0).sqrt(), (10.0f64 / 2.0).sqrt()];
    let fold_mae = [3.0 / 3.0, 4.0 / 2.0];
    for (fold, (rmse, mae)) in result.folds.iter().zip(fold_rmse.iter().zip(fold_mae)) {
        assert!(close(fold.metrics.get("rmse").unwrap(), *rmse));
        assert!(close(fold.metrics.get("mae").unwrap(), mae));
        // A rating-only model gets no ranking metrics by default.
        assert_eq!(fold.metrics.keys().collect::<Vec<_>>(), vec!["rmse", "mae"]);
    }
    assert!(close(
        result.metrics.get("rmse").unwrap(),
        (fold_rmse[0] + fold_rmse[1]) / 2.0
    ));
    assert!(close(result.metrics.get("mae").unwrap(), 1.5));
    assert_eq!(
        (
            report.dataset.users,
            report.dataset.items,
            report.dataset.train,
            report.dataset.test,
            report.dataset.folds
        ),
        (4, 3, 4, 3, 2),
        "test cells per fold: 3 and 2, mean 2.5 rounds to 3"
    );
}

#[test]
fn popularity_ranking_metrics_by_hand() {
    // Training: u0 {0, 1}, u1 {0, 2}, u2 {0}, u3 nothing. Popularity 3, 1, 1, 0, 0.
    // Test: u0 {2, 4}, u1 {3}, u2 nothing (skipped), u3 {0} (a user unseen in training).
    // With K = 2 and training items excluded: u0 gets [2, 3], u1 [1, 3], u3 [0, 1].
    let fold = Fold {
        train: matrix(
            4,
            5,
            &[
                (0, 0, 1.0),
                (0, 1, 1.0),
                (1, 0, 1.0),
                (1, 2, 1.0),
                (2, 0, 1.0),
            ],
        ),
        test: matrix(4, 5, &[(0, 2, 1.0), (0, 4, 1.0), (1, 3, 1.0), (3, 0, 1.0)]),
    };
    let options = EvalOptions {
        k: 2,
        capped_recall: true,
        ..Default::default()
    };
    let models = [ModelSpec::from(Box::new(MostPopular) as Box<dyn Algorithm>)];
    let report = evaluate(&[fold], &models, &options, &RunControl::default()).unwrap();
    let m = &report.results[0].metrics;
    let l3 = 3f64.log2();
    let expected = [
        ("precision@2", 0.5),
        ("recall@2", (0.5 + 1.0 + 1.0) / 3.0),
        ("capped_recall@2", (0.5 + 1.0 + 1.0) / 3.0),
        ("ndcg@2", (1.0 / (1.0 + 1.0 / l3) + 1.0 / l3 + 1.0) / 3.0),
        ("map@2", (0.5 + 0.5 + 1.0) / 3.0),
        ("hitrate@2", 1.0),
        ("mrr@2", (1.0 + 0.5 + 1.0) / 3.0),
        ("coverage@2", 4.0 / 5.0),
        // Self-information with 3 active users: items 0..3 → 0, 1, 1, 2.
        ("novelty@2", (1.5 + 1.5 + 0.5) / 3.0),
        // cos(2, 3) = cos(1, 3) = 0; cos(0, 1) = 1/√3.
        ("diversity@2", (1.0 + 1.0 + (1.0 - 1.0 / 3f64.sqrt())) / 3.0),
    ];
    assert_eq!(
        m.keys().collect::<Vec<_>>(),
        expected.iter().map(|&(k, _)| k).collect::<Vec<_>>()
    );
    for (key, value) in expected {
        assert!(close(m.get(key).unwrap(), value), "{key}: {:?}", m.get(key));
    }
}

#[test]
fn a_fixed_seed_gives_identical_reports() {
    let folds = noisy_folds();
    let run = |seed: u64| {
        let options = EvalOptions { seed, ..options() };
        let models = [ModelSpec::from(
            Box::new(SeededNoise { epochs: 3 }) as Box<dyn Algorithm>
        )];
        let mut report = evaluate(&folds, &models, &options, &RunControl::default()).unwrap();
        // Timings are the only thing allowed to differ between runs.
        for result in &mut report.results {
            result.fit_seconds = 0.0;
            result.predict_seconds = 0.0;
            for fold in &mut result.folds {
                fold.fit_seconds = 0.0;
                fold.predict_seconds = 0.0;
            }
        }
        report
    };
    let first = run(7);
    assert_eq!(first, run(7));
    assert_eq!(
        first.to_json().unwrap(),
        run(7).to_json().unwrap(),
        "byte for byte"
    );
    assert_ne!(
        first.results[0].metrics.get("rmse"),
        run(8).results[0].metrics.get("rmse"),
        "the seed reaches the model"
    );
}

/// 40 users × 30 items with a seeded sprinkling of ratings, split in two folds by a hash.
fn noisy_folds() -> Vec<Fold> {
    let mut cells = Vec::new();
    for user in 0..40u32 {
        for item in 0..30u32 {
            let h = pair_hash(1, user, item);
            if h.is_multiple_of(4) {
                cells.push((user, item, 1.0 + (h >> 32) as f32 % 5.0, (h >> 8) % 2));
            }
        }
    }
    (0..2u64)
        .map(|fold| {
            let pick = |in_test: bool| {
                let chosen: Vec<(u32, u32, f32)> = cells
                    .iter()
                    .filter(|c| (c.3 == fold) == in_test)
                    .map(|&(u, i, w, _)| (u, i, w))
                    .collect();
                matrix(40, 30, &chosen)
            };
            Fold {
                train: pick(false),
                test: pick(true),
            }
        })
        .collect()
}

#[test]
fn json_has_exactly_the_promised_shape() {
    let models = [
        ModelSpec::from(Box::new(SeededNoise { epochs: 2 }) as Box<dyn Algorithm>),
        ModelSpec::from(Box::new(GlobalMean) as Box<dyn Algorithm>),
    ];
    let report = evaluate(&noisy_folds(), &models, &options(), &RunControl::default()).unwrap();
    let text = report.to_json().unwrap();
    let value: Value = serde_json::from_str(&text).unwrap();

    let keys = |v: &Value| -> BTreeSet<String> {
        v.as_object().expect("an object").keys().cloned().collect()
    };
    let set =
        |names: &[&str]| -> BTreeSet<String> { names.iter().map(|s| s.to_string()).collect() };
    assert_eq!(keys(&value), set(&["protocol", "dataset", "results"]));
    assert_eq!(value["protocol"], "given:2 folds");
    assert_eq!(
        keys(&value["dataset"]),
        set(&[
            "name",
            "users",
            "items",
            "train",
            "test",
            "folds",
            "repeats",
            "repeats_set_aside",
            "unknown_test_items"
        ])
    );
    assert_eq!(value["dataset"]["name"], "hand-made");
    let results = value["results"].as_array().unwrap();
    assert_eq!(results.len(), 2);
    let result_keys = set(&[
        "model",
        "params",
        "metrics",
        "fit_seconds",
        "predict_seconds",
        "folds",
    ]);
    let fold_keys = set(&["metrics", "fit_seconds", "predict_seconds"]);
    for result in results {
        assert_eq!(keys(result), result_keys);
        assert!(result["fit_seconds"].is_f64() && result["predict_seconds"].is_f64());
        let folds = result["folds"].as_array().unwrap();
        assert_eq!(folds.len(), 2);
        for fold in folds {
            assert_eq!(keys(fold), fold_keys);
        }
    }
    assert_eq!(results[0]["model"], "seeded-noise");
    assert_eq!(results[0]["params"], json!({"epochs": 2}));
    assert_eq!(
        keys(&results[0]["metrics"]),
        set(&[
            "rmse",
            "mae",
            "precision@10",
            "recall@10",
            "ndcg@10",
            "map@10",
            "hitrate@10",
            "mrr@10",
            "coverage@10",
            "novelty@10",
            "diversity@10"
        ])
    );
    assert_eq!(keys(&results[1]["metrics"]), set(&["rmse", "mae"]));
    // The object keeps the documented order, not an alphabetical one.
    let rmse = text.find("\"rmse\"").unwrap();
    let mae = text.find("\"mae\"").unwrap();
    let precision = text.find("\"precision@10\"").unwrap();
    assert!(rmse < mae && mae < precision);
    // And it reads back into the same report (serde_json's default float parser may be off
    // in the last bit, hence the tolerance).
    let back = EvaluationReport::from_json(&text).unwrap();
    assert_eq!(back.results.len(), report.results.len());
    for (read, written) in back.results.iter().zip(&report.results) {
        assert_eq!(read.model, written.model);
        assert_eq!(read.folds.len(), written.folds.len());
        let pairs = std::iter::once((&read.metrics, &written.metrics)).chain(
            read.folds
                .iter()
                .map(|f| &f.metrics)
                .zip(written.folds.iter().map(|f| &f.metrics)),
        );
        for (read, written) in pairs {
            assert_eq!(
                read.keys().collect::<Vec<_>>(),
                written.keys().collect::<Vec<_>>()
            );
            for ((_, a), (_, b)) in read.iter().zip(written.iter()) {
                assert!((a - b).abs() <= 1e-12 * b.abs().max(1.0));
            }
        }
    }
}

#[test]
fn progress_is_reported_and_cancellation_stops_the_run() {
    let folds = noisy_folds();
    let models = [
        ModelSpec::from(Box::new(SeededNoise { epochs: 4 }) as Box<dyn Algorithm>),
        ModelSpec::from(Box::new(GlobalMean) as Box<dyn Algorithm>),
    ];
    let stages = Mutex::new(Vec::new());
    let record = |p: &aisle_eval::RunProgress<'_>| {
        stages
            .lock()
            .unwrap()
            .push((p.model.to_string(), p.fold, p.stage));
    };
    let control = RunControl {
        progress: Some(&record),
        ..RunControl::default()
    };
    evaluate(&folds, &models, &options(), &control).unwrap();
    let stages = stages.into_inner().unwrap();
    let done = stages.iter().filter(|s| s.2 == Stage::Done).count();
    assert_eq!(done, 4, "two models × two folds");
    let epochs = stages
        .iter()
        .filter(|s| s.0 == "seeded-noise" && matches!(s.2, Stage::Fit(_)))
        .count();
    assert_eq!(epochs, 4 * 2);

    // Cancelled from inside training, by the progress callback.
    let cancel = AtomicBool::new(false);
    let stop = |p: &aisle_eval::RunProgress<'_>| {
        if matches!(p.stage, Stage::Fit(_)) {
            cancel.store(true, Ordering::Relaxed);
        }
    };
    let control = RunControl {
        progress: Some(&stop),
        cancel: Some(&cancel),
        ..RunControl::default()
    };
    let err = evaluate(&folds, &models, &options(), &control).unwrap_err();
    assert!(matches!(err, EvalError::Cancelled), "{err}");
}

#[test]
fn mistakes_are_typed_errors() {
    let folds = rating_folds();
    let none = RunControl::default();

    let unknown = [ModelSpec::named("no-such-model", Default::default())];
    let err = evaluate(&folds, &unknown, &options(), &none).unwrap_err();
    assert!(matches!(
        err,
        EvalError::Model(aisle_models::ModelError::UnknownModel { .. })
    ));
    assert!(err.is_user_error());

    let popular = [ModelSpec::from(Box::new(MostPopular) as Box<dyn Algorithm>)];
    let always_rating = EvalOptions {
        rating_metrics: MetricSelection::Always,
        ..options()
    };
    let err = evaluate(&folds, &popular, &always_rating, &none).unwrap_err();
    assert!(
        matches!(
            err,
            EvalError::Unsupported {
                metrics: "rating",
                ..
            }
        ),
        "{err}"
    );

    let mismatched = [Fold {
        train: matrix(4, 3, &[(0, 0, 1.0)]),
        test: matrix(5, 3, &[(4, 0, 1.0)]),
    }];
    let err = evaluate(&mismatched, &popular, &options(), &none).unwrap_err();
    assert!(matches!(err, EvalError::FoldShape { fold: 0, .. }));

    assert!(matches!(
        evaluate(&[], &popular, &options(), &none),
        Err(EvalError::NoFolds)
    ));
    assert!(matches!(
        evaluate(&folds, &[], &options(), &none),
        Err(EvalError::NoModels)
    ));
}
