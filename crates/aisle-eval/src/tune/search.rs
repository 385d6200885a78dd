//! One model's search: defaults, exploration by successive halving, refinement, and
//! confirmation on a second carve (the plan is in the [module docs](super)).

use std::collections::HashSet;
use std::sync::atomic::Ordering;
use std::time::{Duration, Instant};

use aisle_data::Weighting;
use aisle_models::{FitContext, ModelEntry, ModelError};
use serde::{Deserialize, Serialize};
use serde_json::{Map, Value};

use super::space::{Candidate, Halton, Space};
use super::validation::{Carve, Evaluators};
use super::{Budget, Metric, ModelTuning, Strategy, TuneControl, TuneError, TuneProgress, rng_for};

/// Which step of the search a trial belongs to.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Phase {
    Defaults,
    Explore,
    Refine,
    Confirm,
}

/// One candidate trained and scored once.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Trial {
    pub phase: Phase,
    pub weighting: Weighting,
    /// The searched parameters' values (empty for the defaults).
    pub params: Map<String, Value>,
    /// The training budget used (iterations, epochs), when the model has one.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub fidelity: Option<i64>,
    /// Whether that budget was the full one.
    pub full: bool,
    /// Which carve it was scored on (1 or 2).
    pub carve: u8,
    /// The validation metric; `None` when the candidate failed.
    pub score: Option<f64>,
    pub fit_seconds: f64,
    /// Training and scoring.
    pub seconds: f64,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub error: Option<String>,
}

/// Successive halving keeps the best `1 / ETA` of each rung.
const ETA: usize = 3;
/// Shares of the budget: exploration, then refinement; the rest confirms.
const EXPLORE_SHARE: f64 = 0.55;
const REFINE_SHARE: f64 = 0.35;
/// Finalists re-scored on the second carve, besides the defaults.
const FINALISTS: usize = 3;

pub(super) struct ModelSearch<'a> {
    pub entry: &'static ModelEntry,
    pub weightings: Vec<Weighting>,
    pub default_weighting: Weighting,
    pub carves: [&'a Carve; 2],
    pub evaluators: [&'a Evaluators<'a>; 2],
    pub metric: &'a Metric,
    pub seed: u64,
    pub budget: Budget,
    pub strategy: Strategy,
    pub control: &'a TuneControl<'a>,
    pub model_index: usize,
    pub models: usize,
}

/// The search's running state.
struct State {
    started: Instant,
    trials: Vec<Trial>,
    /// Full-training results on carve 1: (utility, candidate), for refinement and the final.
    full: Vec<(f64, Candidate)>,
    seen: HashSet<String>,
    cancelled: bool,
}

/// The mean time of a full-fidelity trial so far (zero before the first).
fn full_trial_seconds(state: &State) -> Duration {
    let full: Vec<f64> = state
        .trials
        .iter()
        .filter(|t| t.full)
        .map(|t| t.seconds)
        .collect();
    if full.is_empty() {
        return Duration::ZERO;
    }
    Duration::from_secs_f64(full.iter().sum::<f64>() / full.len() as f64)
}

impl State {
    fn best(&self) -> Option<&(f64, Candidate)> {
        self.full.iter().max_by(|a, b| a.0.total_cmp(&b.0))
    }
}

impl ModelSearch<'_> {
    pub fn run(&self) -> Result<ModelTuning, TuneError> {
        let defaults = (self.entry.defaults)();
        let space = Space::new(self.entry.spec, &defaults, self.weightings.clone());
        let mut state = State {
            started: Instant::now(),
            trials: Vec::new(),
            full: Vec::new(),
            seen: HashSet::new(),
            cancelled: false,
        };

        // 1. The defaults, in full: the reference, and the clock of everything else.
        let default_candidate = Candidate {
            weighting: self.default_weighting,
            params: Map::new(),
        };
        let first = self.trial(&mut state, &default_candidate, None, Phase::Defaults, 0)?;
        let Some(default_utility) = first.score.map(|s| self.metric.utility(s)) else {
            if state.cancelled {
                return Err(TuneError::Cancelled);
            }
            return Err(TuneError::Unsuitable {
                model: self.entry.name.to_string(),
                reason: first.error.unwrap_or_else(|| "its defaults failed".into()),
            });
        };
        let (fit_time, score_time) = (
            first.fit_seconds,
            (first.seconds - first.fit_seconds).max(0.0),
        );
        // The shipped defaults were chosen on public data: under each other weighting they
        // are the first candidates worth knowing.
        for &weighting in self
            .weightings
            .iter()
            .filter(|&&w| w != self.default_weighting)
        {
            if self.out_of(&state, self.deadline(EXPLORE_SHARE), None) {
                break;
            }
            let candidate = Candidate {
                weighting,
                params: Map::new(),
            };
            self.trial(&mut state, &candidate, None, Phase::Defaults, 0)?;
        }

        if let Strategy::Grid { points } = self.strategy {
            return self.grid(&space, points, state, default_utility);
        }

        // 2. Exploration.
        let rungs = self.rungs(&space);
        let cost_of_config: f64 = rungs
            .iter()
            .enumerate()
            .map(|(r, &(_, fraction))| {
                (fraction * fit_time + score_time) / ETA.pow(r as u32) as f64
            })
            .sum();
        let fits_per_config: f64 = (0..rungs.len())
            .map(|r| 1.0 / ETA.pow(r as u32) as f64)
            .sum();
        // Trials after the defaults' and before the confirmation's.
        let spent = state.trials.len();
        let usable = self
            .budget
            .trials
            .map(|t| t.saturating_sub(spent + FINALISTS + 1));
        let explore_configs = self.plan(cost_of_config, fits_per_config, usable);
        let explore_deadline = self.deadline(EXPLORE_SHARE);
        let explore_trial_cap = usable
            .map(|u| spent + (u as f64 * EXPLORE_SHARE / (EXPLORE_SHARE + REFINE_SHARE)) as usize);
        let mut keys = HashSet::new();
        let mut configs: Vec<(Vec<f64>, Candidate)> = Halton::new(space.len(), self.seed)
            .take(explore_configs * 2)
            .map(|point| {
                let candidate = space.decode(&point, self.default_weighting);
                (point, candidate)
            })
            // Integer rounding can make two points one candidate.
            .filter(|(_, candidate)| keys.insert(key(candidate)))
            .take(explore_configs)
            .collect();
        'rungs: for (r, &(fidelity, _)) in rungs.iter().enumerate() {
            let last = r + 1 == rungs.len();
            let mut scored: Vec<(f64, Vec<f64>, Candidate)> = Vec::new();
            for (point, candidate) in &configs {
                if self.out_of(&state, explore_deadline, explore_trial_cap) {
                    if scored.is_empty() {
                        break 'rungs;
                    }
                    break;
                }
                let trial = self.trial(&mut state, candidate, fidelity, Phase::Explore, 0)?;
                if let Some(score) = trial.score {
                    scored.push((self.metric.utility(score), point.clone(), candidate.clone()));
                }
            }
            if last || scored.is_empty() {
                break;
            }
            scored.sort_by(|a, b| b.0.total_cmp(&a.0));
            let keep = scored.len().div_ceil(ETA);
            configs = scored
                .into_iter()
                .take(keep)
                .map(|(_, point, candidate)| (point, candidate))
                .collect();
        }

        // 3. Refinement around the best full results.
        let refine_deadline = self.deadline(EXPLORE_SHARE + REFINE_SHARE);
        let refine_trial_cap = usable.map(|u| spent + u);
        let categorical = space.categorical();
        let mut rng = rng_for(self.seed, 12 + self.model_index as u32);
        let mut step = 0.12;
        let mut since_better = 0;
        let mut misses = 0;
        while !space.is_empty() {
            // The confirmation that follows retrains the finalists and the defaults in full:
            // their time is kept back, so the whole search ends within its budget.
            let confirmation = full_trial_seconds(&state).mul_f64((FINALISTS + 1) as f64);
            let deadline = match (refine_deadline, self.budget.time) {
                (Some(share), Some(total)) => Some(share.min(total.saturating_sub(confirmation))),
                (share, _) => share,
            };
            if self.out_of(&state, deadline, refine_trial_cap) {
                break;
            }
            let mut ranked: Vec<&(f64, Candidate)> = state.full.iter().collect();
            ranked.sort_by(|a, b| b.0.total_cmp(&a.0));
            // Mostly the best, sometimes the second or third.
            let pick = match rng.f64() {
                x if x < 0.6 => 0,
                x if x < 0.85 => 1,
                _ => 2,
            }
            .min(ranked.len() - 1);
            let anchor = ranked[pick].1.clone();
            let best_before = ranked[0].0;
            let centre = space.encode(&anchor, &defaults);
            let point: Vec<f64> = centre
                .iter()
                .zip(&categorical)
                .map(|(&u, &jump)| {
                    if jump {
                        if rng.chance(0.15) { rng.f64() } else { u }
                    } else {
                        (u + step * rng.normal()).clamp(0.0, 1.0 - 1e-9)
                    }
                })
                .collect();
            let candidate = space.decode(&point, self.default_weighting);
            if state.seen.contains(&format!("{}|full|1", key(&candidate))) {
                // Rounding landed on a known candidate: look wider.
                misses += 1;
                step = (step * 1.3).min(0.3);
                if misses > 50 {
                    break;
                }
                continue;
            }
            misses = 0;
            let trial = self.trial(&mut state, &candidate, full(&rungs), Phase::Refine, 0)?;
            let improved = trial
                .score
                .is_some_and(|s| self.metric.utility(s) > best_before);
            if improved {
                since_better = 0;
            } else {
                since_better += 1;
                if since_better >= 3 {
                    step = (step * 0.7).max(0.02);
                    since_better = 0;
                }
            }
        }

        // 4. Confirmation on the second carve: the finalists and the defaults.
        let mut finalists: Vec<(f64, Candidate)> = state.full.clone();
        finalists.sort_by(|a, b| b.0.total_cmp(&a.0));
        finalists.dedup_by(|a, b| key(&a.1) == key(&b.1));
        let mut finalists: Vec<(f64, Candidate)> = finalists
            .into_iter()
            .filter(|(_, c)| key(c) != key(&default_candidate))
            .take(FINALISTS)
            .collect();
        finalists.push((default_utility, default_candidate.clone()));
        let mut confirmed: Vec<(f64, Candidate)> = Vec::new();
        for (utility, candidate) in &finalists {
            if state.cancelled {
                break;
            }
            let phase = if key(candidate) == key(&default_candidate) {
                Phase::Defaults
            } else {
                Phase::Confirm
            };
            let trial = self.trial(&mut state, candidate, full(&rungs), phase, 1)?;
            if let Some(second) = trial.score {
                confirmed.push((
                    (utility + self.metric.utility(second)) / 2.0,
                    candidate.clone(),
                ));
            }
        }
        let default_confirmed = confirmed
            .iter()
            .find(|(_, c)| key(c) == key(&default_candidate))
            .map(|(u, _)| *u);
        let (chosen_utility, chosen, default_utility) = match default_confirmed {
            // Both carves for everyone still in the race.
            Some(default_mean) => {
                let (u, c) = confirmed
                    .iter()
                    .max_by(|a, b| a.0.total_cmp(&b.0))
                    .cloned()
                    .expect("the defaults are confirmed");
                (u, c, default_mean)
            }
            // Stopped early: the first carve alone.
            None => {
                let (u, c) = state.best().cloned().expect("the defaults were scored");
                (u, c, default_utility)
            }
        };
        let unutility = |u: f64| if self.metric.lower_is_better() { -u } else { u };
        let params = self.full_params(&chosen, &rungs)?;
        Ok(ModelTuning {
            model: self.entry.name.to_string(),
            weighting: chosen.weighting,
            params,
            score: unutility(chosen_utility),
            default_score: unutility(default_utility),
            default_weighting: self.default_weighting,
            seconds: state.started.elapsed().as_secs_f64(),
            stopped: state.cancelled.then(|| "cancelled".to_string()),
            trials: state.trials,
        })
    }

    /// Every point of a grid of `points` values per dimension, in full on the first carve;
    /// the best one wins (no second carve: this is the baseline a search is measured by).
    fn grid(
        &self,
        space: &Space,
        points: usize,
        mut state: State,
        default_utility: f64,
    ) -> Result<ModelTuning, TuneError> {
        let categorical = space.categorical();
        let sizes: Vec<usize> = categorical
            .iter()
            .enumerate()
            .map(|(d, &c)| if c { space.choices(d) } else { points.max(1) })
            .collect();
        let total: usize = sizes.iter().product();
        for index in 0..total {
            if self.out_of(&state, self.budget.time, self.budget.trials) {
                break;
            }
            let mut rest = index;
            let point: Vec<f64> = sizes
                .iter()
                .map(|&n| {
                    let j = rest % n;
                    rest /= n;
                    (j as f64 + 0.5) / n as f64
                })
                .collect();
            let candidate = space.decode(&point, self.default_weighting);
            self.trial(
                &mut state,
                &candidate,
                self.fidelity_param().map(|(_, d)| d),
                Phase::Explore,
                0,
            )?;
        }
        let (utility, chosen) = state.best().cloned().expect("the defaults were scored");
        let unutility = |u: f64| if self.metric.lower_is_better() { -u } else { u };
        Ok(ModelTuning {
            model: self.entry.name.to_string(),
            weighting: chosen.weighting,
            params: self.full_params(&chosen, &[])?,
            score: unutility(utility),
            default_score: unutility(default_utility),
            default_weighting: self.default_weighting,
            seconds: state.started.elapsed().as_secs_f64(),
            stopped: state.cancelled.then(|| "cancelled".to_string()),
            trials: state.trials,
        })
    }

    /// The rungs of successive halving as (fidelity value, share of the full budget): a
    /// ninth, a third and all of the model's iterations or epochs; one full rung for a model
    /// without them.
    fn rungs(&self, space: &Space) -> Vec<(Option<i64>, f64)> {
        let Some((_, full)) = space.fidelity else {
            return vec![(None, 1.0)];
        };
        let mut rungs: Vec<(Option<i64>, f64)> = Vec::new();
        for divisor in [9, 3, 1] {
            let value = (full / divisor).max(2).min(full);
            if rungs.last().is_none_or(|&(v, _)| v != Some(value)) {
                rungs.push((Some(value), value as f64 / full as f64));
            }
        }
        rungs
    }

    /// How many configurations exploration can afford, each costing `seconds` and `fits`
    /// trials over its rungs, out of `usable` trials and its share of the time.
    fn plan(&self, seconds: f64, fits: f64, usable: Option<usize>) -> usize {
        let share = EXPLORE_SHARE / (EXPLORE_SHARE + REFINE_SHARE);
        let by_trials = usable.map(|u| ((u as f64 * share) / fits).floor() as usize);
        let by_time = self
            .budget
            .time
            .map(|t| (t.as_secs_f64() * EXPLORE_SHARE / seconds.max(1e-3)).floor() as usize);
        let n = match (by_trials, by_time) {
            (Some(a), Some(b)) => a.min(b),
            (Some(a), None) | (None, Some(a)) => a,
            (None, None) => 0,
        };
        // Fewer than a handful is not a search; more than a few hundred adds nothing over
        // refinement.
        n.clamp(ETA * 2, 300)
    }

    /// The moment `share` of the time budget is spent.
    fn deadline(&self, share: f64) -> Option<Duration> {
        self.budget.time.map(|t| t.mul_f64(share))
    }

    /// Whether a phase with this deadline and trial cap is over (or the search cancelled).
    fn out_of(&self, state: &State, deadline: Option<Duration>, trials: Option<usize>) -> bool {
        state.cancelled
            || self.cancelled()
            || deadline.is_some_and(|d| state.started.elapsed() >= d)
            || trials.is_some_and(|t| state.trials.len() >= t)
    }

    fn cancelled(&self) -> bool {
        self.control
            .cancel
            .is_some_and(|c| c.load(Ordering::Relaxed))
    }

    /// Trains `candidate` (at `fidelity`, when given) on carve `carve` and scores it.
    fn trial(
        &self,
        state: &mut State,
        candidate: &Candidate,
        fidelity: Option<i64>,
        phase: Phase,
        carve: usize,
    ) -> Result<Trial, TuneError> {
        let started = Instant::now();
        let mut params = candidate.params.clone();
        if let (Some(value), Some((name, _))) = (fidelity, self.fidelity_param()) {
            // A searched budget (BPR's epochs) scales with the rung like a fixed one.
            let full = params
                .get(name)
                .and_then(Value::as_i64)
                .or_else(|| (self.entry.defaults)().get(name).and_then(Value::as_i64))
                .unwrap_or(value);
            let default_full = self.fidelity_param().map_or(value, |(_, d)| d);
            let scaled = ((full as f64) * value as f64 / default_full as f64).round() as i64;
            params.insert(name.to_string(), Value::from(scaled.max(1)));
        }
        let is_full = fidelity.is_none() || fidelity == self.fidelity_param().map(|(_, d)| d);
        let mut trial = Trial {
            phase,
            weighting: candidate.weighting,
            params: candidate.params.clone(),
            fidelity: fidelity.and_then(|_| {
                self.fidelity_param()
                    .and_then(|(name, _)| params.get(name).and_then(Value::as_i64))
            }),
            full: is_full,
            carve: carve as u8 + 1,
            score: None,
            fit_seconds: 0.0,
            seconds: 0.0,
            error: None,
        };
        state.seen.insert(format!(
            "{}|{}|{}",
            key(candidate),
            if is_full { "full" } else { "part" },
            carve + 1
        ));
        match self.score(&params, candidate.weighting, carve) {
            Ok((score, fit_seconds)) => {
                trial.score = Some(score);
                trial.fit_seconds = fit_seconds;
            }
            Err(ModelError::Cancelled) => {
                state.cancelled = true;
                trial.error = Some("cancelled".into());
            }
            Err(error) => trial.error = Some(error.to_string()),
        }
        trial.seconds = started.elapsed().as_secs_f64();
        if self.cancelled() {
            state.cancelled = true;
        }
        if let Some(score) = trial.score
            && is_full
            && carve == 0
        {
            state
                .full
                .push((self.metric.utility(score), candidate.clone()));
        }
        state.trials.push(trial.clone());
        if let Some(progress) = self.control.progress {
            let best = state.best().map(|(u, _)| {
                if self.metric.lower_is_better() {
                    -u
                } else {
                    *u
                }
            });
            progress(&TuneProgress {
                model: self.entry.name,
                model_index: self.model_index,
                models: self.models,
                trial: &trial,
                best,
                elapsed: state.started.elapsed(),
                time_budget: self.budget.time,
                trials: state.trials.len(),
                trial_budget: self.budget.trials,
            });
        }
        Ok(trial)
    }

    /// Trains with `params` under `weighting` on carve `carve`; the metric and the fit time.
    fn score(
        &self,
        params: &Map<String, Value>,
        weighting: Weighting,
        carve: usize,
    ) -> Result<(f64, f64), ModelError> {
        let algorithm = (self.entry.build)(params)?;
        let fold = self.carves[carve].fold(weighting);
        let evaluator = self.evaluators[carve].get(weighting);
        let context = FitContext {
            // Another seed on the second carve: a temporal carve is the same split twice,
            // and the confirmation then averages two initialisations.
            seed: self.seed.wrapping_add(carve as u64),
            rating_scale: evaluator.rating_scale(),
            progress: None,
            cancel: self.control.cancel,
            notice: None,
            // Searches run on interactions alone: `content` and `hybrid` are not tuned.
            catalogue: None,
        };
        let started = Instant::now();
        let model = algorithm.fit(&fold.train, &context)?;
        let fit_seconds = started.elapsed().as_secs_f64();
        let scores = evaluator
            .evaluate(model.as_ref(), self.entry.name, self.control.cancel)
            .map_err(|e| match e {
                crate::EvalError::Cancelled => ModelError::Cancelled,
                other => ModelError::unsuitable(self.entry.name, other.to_string()),
            })?;
        let score = scores.metrics(false).get(&self.metric.key).ok_or_else(|| {
            ModelError::unsuitable(
                self.entry.name,
                format!("it gives no {} on this data", self.metric),
            )
        })?;
        Ok((score, fit_seconds))
    }

    fn fidelity_param(&self) -> Option<(&'static str, i64)> {
        let defaults = (self.entry.defaults)();
        self.entry
            .spec
            .iter()
            .find(|p| p.fidelity)
            .and_then(|p| Some((p.name, defaults.get(p.name)?.as_i64()?)))
    }

    /// Every parameter of the chosen candidate, defaults filled in, at full training.
    fn full_params(
        &self,
        chosen: &Candidate,
        _rungs: &[(Option<i64>, f64)],
    ) -> Result<Map<String, Value>, TuneError> {
        let algorithm = (self.entry.build)(&chosen.params)?;
        Ok(match algorithm.params() {
            Value::Object(map) => map,
            _ => chosen.params.clone(),
        })
    }
}

/// The full-training rung's fidelity (`None` for a model without one).
fn full(rungs: &[(Option<i64>, f64)]) -> Option<i64> {
    rungs.last().and_then(|r| r.0)
}

/// A candidate's identity: its weighting and parameter values.
fn key(candidate: &Candidate) -> String {
    format!(
        "{}|{}",
        candidate.weighting,
        Value::Object(candidate.params.clone())
    )
}
