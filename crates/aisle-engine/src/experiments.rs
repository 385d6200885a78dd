//! A/B experiments: their definitions, the sticky assignment of users to variants, the log
//! of served lists, and results — events attributed to the lists that showed the items, per
//! variant and per day, with intervals and a test against the control.
//!
//! Attribution rules (documented in `docs/experiments.md`):
//! - an impression is one item in one served list; a list's items and their positions are
//!   logged with its `recommendation_id`;
//! - a `click` (or `view`) carrying a list's `recommendation_id` on one of its items is a
//!   click of that impression; `add_to_cart` and `purchase` carrying it count likewise;
//! - an `add_to_cart` or `purchase` without an id counts for the impression the same user
//!   clicked that item from within the window (default 24 h) before;
//! - each kind counts once per impression; revenue sums every attributed purchase: the
//!   event's value, else the catalogue price.

mod attribution;

pub use attribution::Attribution;

use std::collections::HashMap;
use std::sync::{Arc, Mutex};

use aisle_data::rng::splitmix64;
use aisle_eval::online::{Verdict, Z_95, judge, mean_interval, p_text, wilson};
use aisle_store::{EventId, ExperimentRecord, Impression, Store, StoreError};
use arc_swap::ArcSwap;
use serde::{Deserialize, Serialize};

use crate::engine::Engine;
use crate::list::{ExperimentTag, RecommendationList};
use crate::serving::ModelSet;
use crate::unix_now;

/// Default attribution window of a purchase after a click, in hours.
pub const DEFAULT_WINDOW_HOURS: u32 = 24;

/// An experiment as defined by `POST /v1/experiments` or the config file.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[serde(deny_unknown_fields)]
pub struct ExperimentDefinition {
    #[cfg_attr(feature = "openapi", schema(format = "aisle-id"))]
    pub name: String,
    #[cfg_attr(feature = "openapi", schema(min_items = 2))]
    pub variants: Vec<VariantDefinition>,
    /// The variant the others are compared with (default: the first).
    #[serde(default)]
    pub control: Option<String>,
    /// How long after a click a purchase without a `recommendation_id` still counts, hours.
    #[serde(default, deserialize_with = "crate::lenient::optional_integer")]
    #[cfg_attr(feature = "openapi", schema(minimum = 1, maximum = 4294967295_u32))]
    pub window_hours: Option<u32>,
}

/// One arm of an experiment: the model that answers its users and their share.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[serde(deny_unknown_fields)]
pub struct VariantDefinition {
    #[cfg_attr(feature = "openapi", schema(format = "aisle-label"))]
    pub name: String,
    /// A model serving now (see `GET /v1/models`).
    pub model: String,
    /// Share of users, > 0; shares are normalised to sum to 1.
    #[cfg_attr(feature = "openapi", schema(exclusive_minimum = 0.0))]
    pub share: f64,
}

impl ExperimentDefinition {
    /// Checks the definition against the models serving now.
    pub fn check(&self, models: &ModelSet) -> Result<(), ExperimentError> {
        let invalid = |message: String| Err(ExperimentError::Invalid(message));
        if let Err(e) = aisle_store::record::check_id("experiment name", &self.name) {
            return invalid(e.to_string());
        }
        if self.variants.len() < 2 {
            return invalid("an experiment needs at least two variants".into());
        }
        for (i, v) in self.variants.iter().enumerate() {
            if v.name.trim().is_empty() {
                return invalid(format!("variant {i} has no name"));
            }
            if !(v.share.is_finite() && v.share > 0.0) {
                return invalid(format!(
                    "variant '{}': share must be a number > 0, got {}",
                    v.name, v.share
                ));
            }
        }
        if self.window_hours == Some(0) {
            return invalid("window_hours must be at least 1".into());
        }
        for (i, v) in self.variants.iter().enumerate() {
            if self.variants[..i].iter().any(|w| w.name == v.name) {
                return Err(ExperimentError::DuplicateVariant(v.name.clone()));
            }
            if !models.by_name.contains_key(&v.model) {
                return Err(ExperimentError::UnknownModel {
                    variant: v.name.clone(),
                    model: v.model.clone(),
                    serving: models.names(),
                });
            }
        }
        if let Some(control) = &self.control
            && !self.variants.iter().any(|v| &v.name == control)
        {
            return Err(ExperimentError::UnknownControl(control.clone()));
        }
        Ok(())
    }

    pub fn control(&self) -> &str {
        self.control
            .as_deref()
            .unwrap_or_else(|| self.variants[0].name.as_str())
    }

    /// The variant of `user_id`: a stable hash of (experiment, user) placed on the
    /// cumulative shares, so a user stays in one variant for the experiment's life and
    /// experiments are independent of each other.
    pub fn assign(&self, user_id: &str) -> &VariantDefinition {
        let total: f64 = self.variants.iter().map(|v| v.share).sum();
        let point = unit_hash(&self.name, user_id) * total;
        let mut cumulative = 0.0;
        for variant in &self.variants {
            cumulative += variant.share;
            if point < cumulative {
                return variant;
            }
        }
        self.variants
            .last()
            .expect("checked: at least two variants")
    }
}

/// A uniform number in [0, 1) from (experiment, user): FNV-1a of each, mixed by splitmix64.
fn unit_hash(experiment: &str, user: &str) -> f64 {
    let fnv = |text: &str| {
        text.bytes().fold(0xcbf2_9ce4_8422_2325u64, |h, b| {
            (h ^ u64::from(b)).wrapping_mul(0x0100_0000_01b3)
        })
    };
    let h = splitmix64(fnv(experiment) ^ splitmix64(fnv(user)));
    (h >> 11) as f64 / (1u64 << 53) as f64
}

/// An experiment with its life span.
#[derive(Debug, Clone, PartialEq)]
pub struct Experiment {
    pub definition: ExperimentDefinition,
    pub created_at: i64,
    pub stopped_at: Option<i64>,
    pub first_event: EventId,
}

impl Experiment {
    fn from_record(record: ExperimentRecord) -> Result<Experiment, StoreError> {
        let definition = serde_json::from_value(record.definition).map_err(|e| {
            StoreError::Corrupt(format!("experiment '{}' definition: {e}", record.name))
        })?;
        Ok(Experiment {
            definition,
            created_at: record.created_at,
            stopped_at: record.stopped_at,
            first_event: record.first_event,
        })
    }

    pub fn is_running(&self) -> bool {
        self.stopped_at.is_none()
    }

    pub fn info(&self) -> ExperimentInfo {
        ExperimentInfo {
            name: self.definition.name.clone(),
            control: self.definition.control().to_string(),
            status: if self.is_running() {
                "running"
            } else {
                "stopped"
            }
            .into(),
            created_at: self.created_at,
            stopped_at: self.stopped_at,
            window_hours: self.window_hours(),
            variants: self.definition.variants.clone(),
        }
    }

    fn window_hours(&self) -> u32 {
        self.definition.window_hours.unwrap_or(DEFAULT_WINDOW_HOURS)
    }
}

/// An experiment as listed by the API.
#[derive(Debug, Clone, Serialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct ExperimentInfo {
    pub name: String,
    pub control: String,
    /// `running` or `stopped`.
    pub status: String,
    pub created_at: i64,
    pub stopped_at: Option<i64>,
    pub window_hours: u32,
    pub variants: Vec<VariantDefinition>,
}

/// Why an experiment cannot be created or stopped.
#[derive(Debug, thiserror::Error)]
pub enum ExperimentError {
    #[error(transparent)]
    Store(#[from] StoreError),
    /// A value is out of its range (a blank name, fewer than two variants, a share <= 0).
    #[error("{0}")]
    Invalid(String),
    #[error("two variants are called '{0}'")]
    DuplicateVariant(String),
    #[error(
        "variant '{variant}': no '{model}' model is serving (serving: {serving}); train it \
         first with POST /v1/admin/train {{\"model\": \"{model}\"}}"
    )]
    UnknownModel {
        variant: String,
        model: String,
        serving: String,
    },
    #[error("the control '{0}' is not one of the variants")]
    UnknownControl(String),
    #[error("experiment '{0}' is running; stop it first (one experiment runs at a time)")]
    AnotherRunning(String),
}

/// The experiments known to the server and the log of served lists.
#[derive(Debug)]
pub struct Experiments {
    all: ArcSwap<Vec<Arc<Experiment>>>,
    /// Lists served and not yet written: written in batches by [`Experiments::flush`], so
    /// serving never waits for the database.
    pending: Mutex<Vec<Impression>>,
    /// The most lists `pending` holds; past it a list is refused, not logged.
    capacity: usize,
    /// Each experiment's running counts, by name: created when its results are first asked
    /// for (or, for the running one, by the background count), then brought up to date.
    counts: Mutex<HashMap<String, Arc<Mutex<Attribution>>>>,
}

/// The default bound of the served-list log's queue: at 5,000 lists a second, ten seconds of
/// a store that does not take them (a few tens of MB).
pub const DEFAULT_SERVED_LIST_QUEUE: usize = 50_000;

impl Experiments {
    pub fn load(store: &dyn Store) -> Result<Experiments, StoreError> {
        let all = store
            .experiments()?
            .into_iter()
            .map(|r| Experiment::from_record(r).map(Arc::new))
            .collect::<Result<Vec<_>, _>>()?;
        Ok(Experiments {
            all: ArcSwap::from_pointee(all),
            pending: Mutex::new(Vec::new()),
            capacity: DEFAULT_SERVED_LIST_QUEUE,
            counts: Mutex::new(HashMap::new()),
        })
    }

    /// The same, holding at most `capacity` lists not yet written.
    pub fn bounded(self, capacity: usize) -> Experiments {
        Experiments {
            capacity: capacity.max(1),
            ..self
        }
    }

    pub fn all(&self) -> Arc<Vec<Arc<Experiment>>> {
        self.all.load_full()
    }

    pub fn get(&self, name: &str) -> Option<Arc<Experiment>> {
        self.all()
            .iter()
            .find(|e| e.definition.name == name)
            .cloned()
    }

    /// The running experiment, if any.
    pub fn running(&self) -> Option<Arc<Experiment>> {
        self.all().iter().find(|e| e.is_running()).cloned()
    }

    /// Starts an experiment: checked against the serving models, stored, then applied to
    /// every following request.
    pub fn create(
        &self,
        engine: &Engine,
        definition: ExperimentDefinition,
    ) -> Result<Arc<Experiment>, ExperimentError> {
        definition.check(&engine.models())?;
        if let Some(running) = self.running() {
            return Err(ExperimentError::AnotherRunning(
                running.definition.name.clone(),
            ));
        }
        let store = engine.store();
        let record = ExperimentRecord {
            name: definition.name.clone(),
            definition: serde_json::to_value(&definition)
                .map_err(|e| ExperimentError::Invalid(e.to_string()))?,
            created_at: unix_now(),
            stopped_at: None,
            first_event: store.last_event_id()?.unwrap_or(EventId(0)),
        };
        store.create_experiment(&record)?;
        let experiment = Arc::new(Experiment::from_record(record)?);
        self.all.rcu(|all| {
            let mut all = Vec::clone(all);
            all.push(Arc::clone(&experiment));
            all
        });
        Ok(experiment)
    }

    /// Stops an experiment; its lists and results stay.
    pub fn stop(&self, store: &dyn Store, name: &str) -> Result<Arc<Experiment>, StoreError> {
        store.stop_experiment(name, unix_now())?;
        let reloaded = Self::load(store)?;
        self.all.store(reloaded.all());
        self.get(name)
            .ok_or_else(|| StoreError::UnknownExperiment(name.to_string()))
    }

    /// Re-reads the experiments from the store, so ones created or stopped through another
    /// replica apply here too.
    pub fn follow(&self, store: &dyn Store) -> Result<(), StoreError> {
        let reloaded = Self::load(store)?;
        let known = |all: &[Arc<Experiment>]| -> Vec<(String, Option<i64>)> {
            all.iter()
                .map(|e| (e.definition.name.clone(), e.stopped_at))
                .collect()
        };
        if known(&reloaded.all()) != known(&self.all()) {
            self.all.store(reloaded.all());
        }
        Ok(())
    }

    /// The model for `user_id` under the running experiment, if any.
    pub fn assign(&self, user_id: &str) -> Option<(ExperimentTag, String)> {
        let experiment = self.running()?;
        let variant = experiment.definition.assign(user_id);
        Some((
            ExperimentTag {
                name: experiment.definition.name.clone(),
                variant: variant.name.clone(),
            },
            variant.model.clone(),
        ))
    }

    /// Queues a served list for the log; answers the time it was served at. Refused when the
    /// queue is full: a list served but never logged would be invisible to the experiment's
    /// results and to rotation.
    pub fn log(
        &self,
        user_id: Option<&str>,
        list: &RecommendationList,
    ) -> Result<i64, crate::writer::Overloaded> {
        let mut pending = self.pending.lock().expect("impression log lock");
        if pending.len() >= self.capacity {
            return Err(crate::writer::Overloaded);
        }
        let served_at = unix_now();
        let impression = Impression {
            recommendation_id: list.recommendation_id.clone(),
            user_id: user_id.map(String::from),
            model: list.model.clone(),
            model_version: list.model_version,
            experiment: list.experiment.as_ref().map(|e| e.name.clone()),
            variant: list.experiment.as_ref().map(|e| e.variant.clone()),
            items: list.items.iter().map(|i| i.item_id.clone()).collect(),
            served_at,
        };
        pending.push(impression);
        Ok(served_at)
    }

    /// An experiment's results from its running counts, brought up to date with what the
    /// store holds (the first call after a start counts everything once). `recount` counts
    /// again from the experiment's first event, and the new count becomes the running one.
    pub fn results(
        &self,
        engine: &Engine,
        experiment: &Experiment,
        recount: bool,
    ) -> Result<ExperimentResults, StoreError> {
        let count = Arc::clone(
            self.counts
                .lock()
                .expect("experiment counts lock")
                .entry(experiment.definition.name.clone())
                .or_insert_with(|| Arc::new(Mutex::new(Attribution::new(experiment)))),
        );
        // One update at a time per experiment; a second caller waits, then finds little new.
        let mut count = count.lock().expect("experiment count lock");
        if recount || !count.is_for(experiment) {
            *count = Attribution::new(experiment);
        }
        count.update(engine.store().as_ref(), &|item| engine.price(item))?;
        Ok(count.results(experiment))
    }

    /// Brings the running experiment's counts up to date, so its results answer from
    /// tallies when asked (run in the background).
    pub fn keep_counting(&self, engine: &Engine) -> Result<(), StoreError> {
        if let Some(running) = self.running() {
            self.results(engine, &running, false)?;
        }
        Ok(())
    }

    /// Writes the queued lists; returns how many.
    pub fn flush(&self, store: &dyn Store) -> Result<u64, StoreError> {
        let batch = std::mem::take(&mut *self.pending.lock().expect("impression log lock"));
        if batch.is_empty() {
            return Ok(0);
        }
        match store.log_impressions(&batch) {
            Ok(n) => Ok(n),
            Err(e) => {
                // Put them back: the next flush tries again.
                self.pending
                    .lock()
                    .expect("impression log lock")
                    .extend(batch);
                Err(e)
            }
        }
    }
}

// ---- results ----

/// Rates and counts of one variant (overall or on one day).
#[derive(Debug, Clone, Default, Serialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct VariantResult {
    pub name: String,
    pub model: String,
    /// Lists served.
    pub lists: u64,
    /// Items shown (one per item per list).
    pub impressions: u64,
    pub clicks: u64,
    pub ctr: f64,
    pub ctr_ci: [f64; 2],
    pub add_to_carts: u64,
    pub add_to_cart_rate: f64,
    pub add_to_cart_rate_ci: [f64; 2],
    pub purchases: u64,
    /// Purchases per impression.
    pub conversion_rate: f64,
    pub conversion_rate_ci: [f64; 2],
    pub revenue: f64,
    pub revenue_per_1000: f64,
    pub revenue_per_1000_ci: [f64; 2],
    /// Against the control; absent for the control itself.
    pub vs_control: Option<Comparison>,
}

/// A variant against the control.
#[derive(Debug, Clone, Serialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct Comparison {
    /// Relative change of the click-through rate (0.25 = +25%); absent when the control's
    /// rate is 0.
    pub ctr_lift: Option<f64>,
    pub ctr_p_value: f64,
    pub conversion_lift: Option<f64>,
    pub conversion_p_value: f64,
    /// `better`, `worse`, `no_difference` or `not_enough_data` (on click-through rate).
    #[cfg_attr(feature = "openapi", schema(value_type = String))]
    pub verdict: Verdict,
    /// The comparison in plain words.
    pub summary: String,
}

/// One day of an experiment (UTC, by when the lists were served).
#[derive(Debug, Clone, Serialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct DayResult {
    pub day: String,
    pub variants: Vec<VariantResult>,
}

/// What `GET /v1/experiments/{name}/results` answers.
#[derive(Debug, Clone, Serialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct ExperimentResults {
    pub name: String,
    pub control: String,
    pub status: String,
    pub window_hours: u32,
    pub variants: Vec<VariantResult>,
    pub days: Vec<DayResult>,
    /// The outcome in plain words.
    pub verdict: String,
}

/// Counts of one variant on one day, before rates.
#[derive(Debug, Clone, Default)]
struct Tally {
    lists: u64,
    impressions: u64,
    clicks: u64,
    add_to_carts: u64,
    purchases: u64,
    revenue: f64,
    /// Sum of squared revenue per impression, for the interval of revenue per impression.
    revenue_squares: f64,
}

impl Tally {
    fn add(&mut self, other: &Tally) {
        self.lists += other.lists;
        self.impressions += other.impressions;
        self.clicks += other.clicks;
        self.add_to_carts += other.add_to_carts;
        self.purchases += other.purchases;
        self.revenue += other.revenue;
        self.revenue_squares += other.revenue_squares;
    }

    fn result(&self, name: &str, model: &str) -> VariantResult {
        let rate = |s: u64| {
            if self.impressions == 0 {
                0.0
            } else {
                s as f64 / self.impressions as f64
            }
        };
        let interval = |s: u64| {
            let (lo, hi) = wilson(s, self.impressions, Z_95);
            [lo, hi]
        };
        let (lo, hi) = mean_interval(self.revenue, self.revenue_squares, self.impressions, Z_95);
        VariantResult {
            name: name.to_string(),
            model: model.to_string(),
            lists: self.lists,
            impressions: self.impressions,
            clicks: self.clicks,
            ctr: rate(self.clicks),
            ctr_ci: interval(self.clicks),
            add_to_carts: self.add_to_carts,
            add_to_cart_rate: rate(self.add_to_carts),
            add_to_cart_rate_ci: interval(self.add_to_carts),
            purchases: self.purchases,
            conversion_rate: rate(self.purchases),
            conversion_rate_ci: interval(self.purchases),
            revenue: self.revenue,
            revenue_per_1000: if self.impressions == 0 {
                0.0
            } else {
                1000.0 * self.revenue / self.impressions as f64
            },
            revenue_per_1000_ci: [1000.0 * lo.max(0.0), 1000.0 * hi],
            vs_control: None,
        }
    }
}

/// The results of an experiment's tallies, per day (sorted by day) and variant.
fn results_of_tallies(
    experiment: &Experiment,
    days: Vec<(String, Vec<Tally>)>,
) -> ExperimentResults {
    let definition = &experiment.definition;
    let n_variants = definition.variants.len();
    let mut totals = vec![Tally::default(); n_variants];
    for (_, tallies) in &days {
        for (total, tally) in totals.iter_mut().zip(tallies) {
            total.add(tally);
        }
    }
    let control = definition.control();
    let control_index = definition
        .variants
        .iter()
        .position(|v| v.name == control)
        .expect("the control is a variant (checked at creation)");
    let control_tally = totals[control_index].clone();
    let mut variants: Vec<VariantResult> = definition
        .variants
        .iter()
        .zip(&totals)
        .map(|(v, t)| t.result(&v.name, &v.model))
        .collect();
    for (i, variant) in variants.iter_mut().enumerate() {
        if i != control_index {
            variant.vs_control = Some(compare(variant, &totals[i], &control_tally, control));
        }
    }
    let days = days
        .into_iter()
        .map(|(day, tallies)| DayResult {
            day,
            variants: definition
                .variants
                .iter()
                .zip(&tallies)
                .map(|(v, t)| t.result(&v.name, &v.model))
                .collect(),
        })
        .collect();
    let verdict = overall_verdict(&variants, control);
    ExperimentResults {
        name: definition.name.clone(),
        control: control.to_string(),
        status: experiment.info().status,
        window_hours: experiment.window_hours(),
        variants,
        days,
        verdict,
    }
}

fn lift(rate: f64, control: f64) -> Option<f64> {
    (control > 0.0).then(|| rate / control - 1.0)
}

fn compare(
    variant: &VariantResult,
    tally: &Tally,
    control: &Tally,
    control_name: &str,
) -> Comparison {
    let (verdict, ctr_p) = judge(
        tally.clicks,
        tally.impressions,
        control.clicks,
        control.impressions,
        0.05,
    );
    let (_, conversion_p) = judge(
        tally.purchases,
        tally.impressions,
        control.purchases,
        control.impressions,
        0.05,
    );
    let control_ctr = if control.impressions == 0 {
        0.0
    } else {
        control.clicks as f64 / control.impressions as f64
    };
    let control_conversion = if control.impressions == 0 {
        0.0
    } else {
        control.purchases as f64 / control.impressions as f64
    };
    let ctr_lift = lift(variant.ctr, control_ctr);
    let who = format!("{} ({})", variant.name, variant.model);
    let change = ctr_lift.map_or_else(String::new, |l| format!("{:+.0}%, ", 100.0 * l));
    let rates = format!(
        "{:.2}% vs {:.2}% ({change}{})",
        100.0 * variant.ctr,
        100.0 * control_ctr,
        p_text(ctr_p)
    );
    let summary = match verdict {
        Verdict::Better => format!(
            "{who} has a significantly higher click-through rate than {control_name}: {rates}."
        ),
        Verdict::Worse => format!(
            "{who} has a significantly lower click-through rate than {control_name}: {rates}."
        ),
        Verdict::NoDifference => format!(
            "No significant difference in click-through rate between {who} and {control_name} yet: {rates}."
        ),
        Verdict::NotEnoughData => format!(
            "Not enough data yet to compare {who} with {control_name}: {} and {} items shown, {} clicks in all.",
            tally.impressions,
            control.impressions,
            tally.clicks + control.clicks
        ),
    };
    Comparison {
        ctr_lift,
        ctr_p_value: ctr_p,
        conversion_lift: lift(variant.conversion_rate, control_conversion),
        conversion_p_value: conversion_p,
        verdict,
        summary,
    }
}

fn overall_verdict(variants: &[VariantResult], control: &str) -> String {
    let comparisons: Vec<&Comparison> = variants
        .iter()
        .filter_map(|v| v.vs_control.as_ref())
        .collect();
    let better: Vec<&VariantResult> = variants
        .iter()
        .filter(|v| {
            matches!(
                v.vs_control.as_ref().map(|c| c.verdict),
                Some(Verdict::Better)
            )
        })
        .collect();
    if let Some(best) = better.iter().max_by(|a, b| a.ctr.total_cmp(&b.ctr)) {
        let c = best.vs_control.as_ref().expect("filtered on a comparison");
        let change = c
            .ctr_lift
            .map_or_else(String::new, |l| format!("{:+.0}%, ", 100.0 * l));
        return format!(
            "{} ({}) is significantly better than {control} on click-through rate ({change}{}).",
            best.name,
            best.model,
            p_text(c.ctr_p_value)
        );
    }
    if comparisons
        .iter()
        .any(|c| c.verdict == Verdict::NotEnoughData)
    {
        return "Not enough data yet: keep the experiment running.".into();
    }
    if comparisons.iter().all(|c| c.verdict == Verdict::Worse) && !comparisons.is_empty() {
        return format!("Every variant is significantly worse than {control}.");
    }
    "No variant is significantly better than the control yet.".into()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn definition(shares: &[f64]) -> ExperimentDefinition {
        ExperimentDefinition {
            name: "ab1".into(),
            variants: shares
                .iter()
                .enumerate()
                .map(|(i, &share)| VariantDefinition {
                    name: format!("v{i}"),
                    model: "popular".into(),
                    share,
                })
                .collect(),
            control: None,
            window_hours: None,
        }
    }

    #[test]
    fn assignment_is_sticky_and_follows_the_shares() {
        let experiment = definition(&[0.25, 0.75]);
        let mut counts = [0usize; 2];
        for u in 0..20_000 {
            let user = format!("u{u}");
            let variant = experiment.assign(&user);
            assert_eq!(variant, experiment.assign(&user), "not sticky");
            counts[usize::from(variant.name == "v1")] += 1;
        }
        let share = counts[0] as f64 / 20_000.0;
        assert!((share - 0.25).abs() < 0.015, "{share}");
        // Another experiment splits the same users independently.
        let other = ExperimentDefinition {
            name: "ab2".into(),
            ..definition(&[0.5, 0.5])
        };
        let same = (0..2_000)
            .filter(|u| {
                let user = format!("u{u}");
                (experiment.assign(&user).name == "v0") == (other.assign(&user).name == "v0")
            })
            .count();
        assert!((800..1_200).contains(&same), "{same}");
    }

    #[test]
    fn definitions_are_checked() {
        let models = ModelSet::default();
        let error = definition(&[0.5, 0.5])
            .check(&models)
            .unwrap_err()
            .to_string();
        assert!(error.contains("no 'popular' model is serving"), "{error}");
        assert!(
            definition(&[1.0])
                .check(&models)
                .unwrap_err()
                .to_string()
                .contains("two variants")
        );
        let bad_share = definition(&[-1.0, 0.5])
            .check(&models)
            .unwrap_err()
            .to_string();
        assert!(bad_share.contains("share"), "{bad_share}");
    }
}
