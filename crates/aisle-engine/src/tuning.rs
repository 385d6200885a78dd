//! Re-tuning on the store's snapshot: a background job that searches models' settings on
//! the shop's own events within a time budget ([`aisle_eval::tune`]) and stores each
//! outcome; trainings then take the newest one for their model
//! ([`TrainSpec::use_tuning`](crate::TrainSpec::use_tuning)). One job runs at a time, on
//! its own thread; requests are not held up by it.

use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use aisle_data::{CleaningOptions, Protocol};
use aisle_eval::tune::{Budget, Metric, TuneControl, TuneOptions, TuneProgress};
use aisle_store::{NewTuning, Store};
use serde::Serialize;

use crate::jobs::JobState;
use crate::unix_now;

/// What a tuning job searches, and how long it may take.
#[derive(Debug, Clone)]
pub struct TuneSpec {
    pub models: Vec<String>,
    /// The whole search's time, shared by the models.
    pub budget: Duration,
    pub metric: Metric,
    pub validation: Protocol,
    pub seed: u64,
    pub cleaning: CleaningOptions,
}

impl Default for TuneSpec {
    fn default() -> Self {
        TuneSpec {
            models: vec!["als".into()],
            budget: Duration::from_secs(300),
            metric: "ndcg@10".parse().expect("a valid metric"),
            validation: Protocol::UserHoldout { fraction: 0.2 },
            seed: 42,
            cleaning: CleaningOptions::default(),
        }
    }
}

/// A tuning job as reported by the API.
#[derive(Debug, Clone, PartialEq, Serialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct TuneStatus {
    pub id: u64,
    pub models: Vec<String>,
    pub state: JobState,
    /// Unix seconds.
    pub started_at: i64,
    pub finished_at: Option<i64>,
    /// Trials so far, and the model being searched.
    pub trials: u64,
    pub model: Option<String>,
    /// The stored outcomes it produced (`GET /v1/tunings`).
    pub tunings: Vec<i64>,
    pub error: Option<String>,
}

/// Runs tuning jobs, one at a time.
#[derive(Debug)]
pub struct Tuner {
    store: Arc<dyn Store>,
    latest: Mutex<Option<TuneStatus>>,
    next_id: AtomicU64,
    /// Set to stop the running search after its current trial (the best so far is kept).
    cancel: Arc<AtomicBool>,
}

impl Tuner {
    pub fn new(store: Arc<dyn Store>) -> Tuner {
        Tuner {
            store,
            latest: Mutex::new(None),
            next_id: AtomicU64::new(1),
            cancel: Arc::new(AtomicBool::new(false)),
        }
    }

    /// The running job, or the last one.
    pub fn latest(&self) -> Option<TuneStatus> {
        self.latest.lock().expect("tune lock").clone()
    }

    /// Starts a job unless one runs; returns the job running either way and whether it is
    /// the one just started. `then` runs after a job that stored outcomes (to retrain with
    /// them).
    pub fn start(
        self: &Arc<Self>,
        spec: TuneSpec,
        then: impl FnOnce() + Send + 'static,
    ) -> (TuneStatus, bool) {
        let mut latest = self.latest.lock().expect("tune lock");
        if let Some(running) = latest.as_ref().filter(|j| j.state == JobState::Running) {
            return (running.clone(), false);
        }
        self.cancel.store(false, Ordering::Relaxed);
        let status = TuneStatus {
            id: self.next_id.fetch_add(1, Ordering::Relaxed),
            models: spec.models.clone(),
            state: JobState::Running,
            started_at: unix_now(),
            finished_at: None,
            trials: 0,
            model: None,
            tunings: Vec::new(),
            error: None,
        };
        *latest = Some(status.clone());
        drop(latest);
        let tuner = Arc::clone(self);
        std::thread::Builder::new()
            .name("aisle-tune".into())
            .spawn(move || {
                let outcome = tuner.run(&spec);
                let stored = matches!(&outcome, Ok(ids) if !ids.is_empty());
                {
                    let mut latest = tuner.latest.lock().expect("tune lock");
                    if let Some(job) = latest.as_mut() {
                        job.finished_at = Some(unix_now());
                        match outcome {
                            Ok(ids) => {
                                job.state = JobState::Succeeded;
                                job.tunings = ids;
                            }
                            Err(error) => {
                                tracing::error!("tuning failed: {error}");
                                job.state = JobState::Failed;
                                job.error = Some(error);
                            }
                        }
                    }
                }
                if stored {
                    then();
                }
            })
            .expect("spawning the tuning thread");
        (status, true)
    }

    /// Asks the running search to stop after its current trial.
    pub fn cancel(&self) {
        self.cancel.store(true, Ordering::Relaxed);
    }

    /// Searches on the store's snapshot and stores each model's outcome; their ids.
    fn run(&self, spec: &TuneSpec) -> Result<Vec<i64>, String> {
        let snapshot = self
            .store
            .snapshot(&spec.cleaning, false)
            .map_err(|e| e.to_string())?;
        if snapshot.dataset.events.is_empty() {
            return Err("the store holds no events to tune on".into());
        }
        let options = TuneOptions {
            metric: spec.metric.clone(),
            validation: spec.validation,
            seed: spec.seed,
            budget: Budget {
                time: Some(spec.budget),
                trials: None,
            },
            dataset: self.store.location(),
            ..TuneOptions::default()
        };
        let on_progress = |p: &TuneProgress<'_>| {
            if let Some(job) = self.latest.lock().expect("tune lock").as_mut() {
                job.trials += 1;
                job.model = Some(p.model.to_string());
            }
        };
        let control = TuneControl {
            progress: Some(&on_progress),
            cancel: Some(&self.cancel),
        };
        tracing::info!(models = ?spec.models, budget_s = spec.budget.as_secs(), "tuning started");
        let report =
            aisle_eval::tune::tune(&snapshot.dataset, None, &spec.models, &options, &control)
                .map_err(|e| e.to_string())?;
        let mut ids = Vec::new();
        for model in &report.models {
            let tuning = NewTuning {
                model: model.model.clone(),
                weighting: model.weighting.to_string(),
                params: serde_json::Value::Object(model.params.clone()),
                metric: report.metric.to_string(),
                score: model.score,
                default_score: model.default_score,
                trials: model.trials.len() as u32,
                seconds: model.seconds,
                report: serde_json::to_value(model).map_err(|e| e.to_string())?,
            };
            ids.push(self.store.save_tuning(&tuning).map_err(|e| e.to_string())?);
            tracing::info!(
                model = %model.model,
                score = model.score,
                default_score = model.default_score,
                trials = model.trials.len(),
                "tuning stored"
            );
        }
        Ok(ids)
    }
}
