//! The search on problems whose answer is known, and on a real model.

use std::sync::atomic::AtomicBool;

use aisle_data::{
    ByteCounter, CleaningOptions, Dataset, Interactions, ReadOptions, Rng, Weighting,
};
use aisle_models::{
    Algorithm, Capabilities, Domain, Family, FitContext, ModelEntry, ParamSpec, Params, Query,
    Recommender, Search, parse_params,
};
use serde::{Deserialize, Serialize};
use serde_json::{Map, Value};

use super::*;

/// The regularisation a planted problem is best at.
const PLANTED: f64 = 3.0;

/// A model whose lists are right exactly when its `regularization` is [`PLANTED`]: every
/// user's items of their own group first, the rest after — and the further the parameter is
/// from the planted value (in decades), the more random noise swamps that order.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
struct PlantedParams {
    regularization: f64,
    iterations: i64,
}

impl Default for PlantedParams {
    fn default() -> Self {
        PlantedParams {
            regularization: 0.05,
            iterations: 9,
        }
    }
}

impl Params for PlantedParams {
    const SPEC: &'static [ParamSpec] = &[
        ParamSpec::new("regularization", Domain::POSITIVE, "planted at 3")
            .searched(Search::log(0.01, 100.0)),
        ParamSpec::new("iterations", Domain::Int { min: 1, max: 100 }, "budget").fidelity(),
    ];
}

#[derive(Debug)]
struct Planted(PlantedParams);

#[derive(Debug)]
struct PlantedModel {
    noise: f32,
    /// Each item's group: that of the users who have it (user indices follow the ids).
    item_groups: Vec<u32>,
}

const GROUPS: u32 = 5;

impl Algorithm for Planted {
    fn name(&self) -> &str {
        "planted"
    }

    fn params(&self) -> Value {
        serde_json::to_value(&self.0).unwrap()
    }

    fn fit(
        &self,
        train: &Interactions,
        _ctx: &FitContext<'_>,
    ) -> aisle_models::Result<Box<dyn Recommender>> {
        let distance = (self.0.regularization / PLANTED).log10().abs() as f32;
        // Fewer iterations leave a little noise too, as an unfinished fit would.
        let unfinished = 0.3 / self.0.iterations as f32;
        let by_item = train.transpose();
        let item_groups = (0..train.n_items() as u32)
            .map(|i| by_item.row(i).items.first().map_or(GROUPS, |u| u % GROUPS))
            .collect();
        Ok(Box::new(PlantedModel {
            noise: 5.0 * distance + unfinished,
            item_groups,
        }))
    }
}

impl Recommender for PlantedModel {
    fn name(&self) -> &str {
        "planted"
    }

    fn capabilities(&self) -> Capabilities {
        Capabilities {
            ranking: true,
            ..Capabilities::default()
        }
    }

    fn n_items(&self) -> usize {
        self.item_groups.len()
    }

    fn score(&self, query: &Query<'_>, scores: &mut [f32]) {
        let user = query.user.unwrap_or(0);
        let mut rng = Rng::new(u64::from(user) * 7919 + 1);
        for (item, score) in scores.iter_mut().enumerate() {
            let own = (self.item_groups[item] == user % GROUPS) as u8 as f32;
            *score = own + self.noise * rng.normal() as f32;
        }
    }
}

static PLANTED_ENTRY: ModelEntry = ModelEntry {
    name: "planted",
    family: Family::Implicit,
    summary: "a test model with a planted best regularisation",
    spec: PlantedParams::SPEC,
    rules: &[],
    defaults: || serde_json::to_value(PlantedParams::default()).unwrap(),
    build: |params: &Map<String, Value>| {
        let parsed: PlantedParams = parse_params("planted", params)?;
        Ok(Box::new(Planted(parsed)) as Box<dyn Algorithm>)
    },
};

/// Users in [`GROUPS`] groups, each with a random half of their group's items.
fn grouped(users: u32, items: u32) -> Dataset {
    let mut rng = Rng::new(5);
    let mut text = String::from("user_id,item_id\n");
    for u in 0..users {
        for i in 0..items {
            if i % GROUPS == u % GROUPS && rng.chance(0.5) {
                text.push_str(&format!("u{u},i{i}\n"));
            }
        }
    }
    load(&text)
}

fn load(text: &str) -> Dataset {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("events.csv");
    std::fs::write(&path, text).unwrap();
    Dataset::load(
        &path,
        &ReadOptions::default(),
        &CleaningOptions::default(),
        &ByteCounter::default(),
        None,
    )
    .unwrap()
}

fn options(trials: usize) -> TuneOptions {
    TuneOptions {
        budget: Budget {
            time: None,
            trials: Some(trials),
        },
        seed: 3,
        ..TuneOptions::default()
    }
}

#[test]
fn the_search_finds_the_planted_regularisation() {
    let data = grouped(150, 100);
    let report = tune_entries(
        &data,
        None,
        &[&PLANTED_ENTRY],
        &options(30),
        &TuneControl::default(),
    )
    .unwrap();
    let outcome = &report.models[0];
    let found = outcome.params["regularization"].as_f64().unwrap();
    assert!(
        (found / PLANTED).log10().abs() < 0.15,
        "found {found}, planted {PLANTED}: {:#?}",
        outcome
            .trials
            .iter()
            .map(|t| (
                t.phase,
                t.params.get("regularization").cloned(),
                t.fidelity,
                t.carve,
                t.score
            ))
            .collect::<Vec<_>>()
    );
    // The defaults (0.05, far from it) scored worse, and were measured.
    assert!(outcome.score > outcome.default_score + 0.05, "{outcome:?}");
    assert_eq!(outcome.params["iterations"], 9, "the full budget is kept");
    // The budget held, and every phase ran: a third of exploration's trials at a ninth of
    // the iterations, the finalists on the second carve.
    assert!(outcome.trials.len() <= 30, "{}", outcome.trials.len());
    let phases = |phase: Phase| outcome.trials.iter().filter(|t| t.phase == phase).count();
    assert!(
        phases(Phase::Explore) >= 8 && phases(Phase::Refine) >= 5,
        "{outcome:?}"
    );
    assert_eq!(phases(Phase::Confirm), 3);
    assert!(
        outcome
            .trials
            .iter()
            .any(|t| t.fidelity == Some(2) && !t.full)
    );
    assert!(outcome.trials.iter().filter(|t| t.carve == 2).count() == 4);
}

#[test]
fn a_search_never_returns_worse_than_the_defaults_on_its_own_validation() {
    // Defaults already at the planted optimum: nothing can beat them by more than noise.
    static AT_OPTIMUM: ModelEntry = ModelEntry {
        defaults: || serde_json::json!({"regularization": PLANTED, "iterations": 9}),
        ..PLANTED_ENTRY
    };
    let data = grouped(100, 60);
    let report = tune_entries(
        &data,
        None,
        &[&AT_OPTIMUM],
        &options(12),
        &TuneControl::default(),
    )
    .unwrap();
    let outcome = &report.models[0];
    assert!(outcome.score >= outcome.default_score, "{outcome:?}");
}

#[test]
fn cancelling_keeps_the_best_so_far() {
    let data = grouped(100, 60);
    let cancel = AtomicBool::new(false);
    let stop_after_five = |p: &TuneProgress<'_>| {
        if p.trials >= 5 {
            cancel.store(true, std::sync::atomic::Ordering::Relaxed);
        }
    };
    let control = TuneControl {
        progress: Some(&stop_after_five),
        cancel: Some(&cancel),
    };
    let report = tune_entries(&data, None, &[&PLANTED_ENTRY], &options(40), &control).unwrap();
    let outcome = &report.models[0];
    assert_eq!(outcome.stopped.as_deref(), Some("cancelled"));
    assert!(outcome.trials.len() <= 6, "{}", outcome.trials.len());
    assert!(outcome.score >= outcome.default_score);
}

#[test]
fn als_is_tuned_with_its_weighting_on_a_generated_shop() {
    let dir = tempfile::tempdir().unwrap();
    let config = aisle_data::generate::ShopConfig {
        users: 300,
        items: 120,
        events: 12_000,
        seed: 4,
        ..Default::default()
    };
    aisle_data::generate::generate(&config, dir.path(), |_| {}).unwrap();
    let data = Dataset::load(
        &dir.path().join("events.csv"),
        &ReadOptions::default(),
        &CleaningOptions::default(),
        &ByteCounter::default(),
        None,
    )
    .unwrap();
    let mut seen = Vec::new();
    let report = tune(
        &data,
        None,
        &["als".to_string()],
        &options(14),
        &TuneControl::default(),
    )
    .unwrap();
    let outcome = &report.models[0];
    assert_eq!(outcome.default_weighting, Weighting::Implicit);
    for trial in &outcome.trials {
        if !seen.contains(&trial.weighting) {
            seen.push(trial.weighting);
        }
        assert!(trial.error.is_none(), "{trial:?}");
    }
    assert!(
        seen.len() >= 2,
        "binary and implicit are both tried: {seen:?}"
    );
    assert!(outcome.score >= outcome.default_score);
    // The chosen settings are a complete, valid parameter set.
    aisle_models::algorithm("als", &outcome.params).unwrap();
    assert!(report.validation_pairs > 0 && report.fit_pairs > report.validation_pairs);
}

#[test]
fn settle_picks_the_weighting_that_validates_better() {
    // Play counts that carry the taste (long plays within the group, one-off plays outside
    // it): counts must win over presence.
    let mut rng = Rng::new(8);
    let mut text = String::from("user_id,item_id,plays\n");
    for u in 0..200u32 {
        for i in 0..80u32 {
            let own = i % GROUPS == u % GROUPS;
            if rng.chance(if own { 0.35 } else { 0.25 }) {
                let plays = if own { 20 + rng.index(40) } else { 1 };
                text.push_str(&format!("u{u},i{i},{plays}\n"));
            }
        }
    }
    let data = load(&text);
    let choice = data.choose(Weighting::Auto);
    assert_eq!(choice.contenders, [Weighting::Counts, Weighting::Binary]);
    let settled = settle(&data, None, choice, 1);
    assert_eq!(settled.weighting, Weighting::Counts, "{}", settled.reason);
    assert!(
        settled.reason.contains("validation split"),
        "{}",
        settled.reason
    );
    assert!(settled.contenders.is_empty());
}

#[test]
fn a_grid_tries_every_point_and_keeps_the_best() {
    let data = grouped(100, 60);
    let options = TuneOptions {
        strategy: Strategy::Grid { points: 5 },
        budget: Budget::default(),
        ..options(0)
    };
    let report = tune_entries(
        &data,
        None,
        &[&PLANTED_ENTRY],
        &options,
        &TuneControl::default(),
    )
    .unwrap();
    let outcome = &report.models[0];
    // The defaults under the two weightings that suit views (implicit and binary), and the
    // five points of the log range 0.01–100 under each, all in full.
    assert_eq!(outcome.trials.len(), 2 + 5 * 2);
    assert!(outcome.trials.iter().all(|t| t.full && t.carve == 1));
    let found = outcome.params["regularization"].as_f64().unwrap();
    // Of 0.0251, 0.158, 1, 6.31 and 39.8, the two nearest the planted 3.
    assert!(found == 1.0 || (found - 6.31).abs() < 0.01, "{found}");
}
