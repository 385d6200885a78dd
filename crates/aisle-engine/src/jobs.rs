//! Background training: one job at a time, started on demand or on a schedule, run on its
//! own thread, and swapped into the engine when done. Requests keep being answered by the old
//! model until the new one is installed.

use std::sync::atomic::{AtomicI64, AtomicU64, Ordering};
use std::sync::{Arc, Condvar, Mutex};
use std::time::Instant;

use aisle_models::Progress;
use aisle_store::TrainerLock;
use serde::Serialize;

use crate::engine::Engine;
use crate::serving::Serving;
use crate::stats::Stats;
use crate::training::child::ChildTraining;
use crate::training::{TrainError, TrainSpec, save_bytes, train};
use crate::unix_now;

/// Where a training job is.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[serde(rename_all = "snake_case")]
pub enum JobState {
    Running,
    Succeeded,
    Failed,
}

/// A training job as reported by the API.
#[derive(Debug, Clone, PartialEq, Serialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct JobStatus {
    pub id: u64,
    pub model: String,
    pub state: JobState,
    /// Unix seconds.
    pub started_at: i64,
    pub finished_at: Option<i64>,
    /// Iterations (or epochs) done and in all, while running.
    pub progress: Option<[u64; 2]>,
    /// The stored version it produced.
    pub version: Option<i64>,
    pub seconds: Option<f64>,
    pub error: Option<String>,
}

/// Runs training jobs, one at a time.
#[derive(Debug)]
pub struct Trainer {
    engine: Arc<Engine>,
    stats: Arc<Stats>,
    /// The job running now or, when none runs, the last one.
    latest: Mutex<Option<JobStatus>>,
    /// Signalled whenever a job finishes.
    finished: Condvar,
    next_id: AtomicU64,
    /// The newest stored event when the last job started (0: none; −1: no job yet), to skip
    /// scheduled runs with nothing new to learn. The id, not a count: reading it is one
    /// index lookup, and deletions cannot make new events look old.
    last_event_at_start: AtomicI64,
    /// False on a `--role serve` replica: every job fails at once, saying where training runs.
    trains: bool,
    /// Trained on the baskets after each training of a user model, in the same job.
    basket_training: Option<TrainSpec>,
    /// Where fits run: in a child process ([`crate::training::child`]) or, when `None`, on
    /// a thread of this one.
    child: Option<ChildTraining>,
}

impl Trainer {
    pub fn new(engine: Arc<Engine>, stats: Arc<Stats>) -> Trainer {
        Trainer {
            engine,
            stats,
            latest: Mutex::new(None),
            finished: Condvar::new(),
            next_id: AtomicU64::new(1),
            last_event_at_start: AtomicI64::new(-1),
            trains: true,
            basket_training: None,
            child: None,
        }
    }

    /// Fits in child processes started as `child` says, rather than in this process.
    pub fn in_child_process(mut self, child: Option<ChildTraining>) -> Trainer {
        self.child = child;
        self
    }

    /// Also trains `spec` on the baskets after each training of a user model (in the same
    /// job, under the same trainer lock). A failure there is logged; the user model stands.
    pub fn then_baskets(mut self, spec: Option<TrainSpec>) -> Trainer {
        self.basket_training = spec.map(|spec| TrainSpec {
            baskets: true,
            ..spec
        });
        self
    }

    /// A trainer that never trains (a `--role serve` replica).
    pub fn serve_only(mut self) -> Trainer {
        self.trains = false;
        self
    }

    /// The running job, or the last one.
    pub fn latest(&self) -> Option<JobStatus> {
        self.latest.lock().expect("job lock").clone()
    }

    /// Starts a job unless one is running; returns the job that is running either way and
    /// whether it is the one just started.
    ///
    /// # Errors
    /// [`TrainError::ServeOnly`] on a `--role serve` replica; [`TrainError::AnotherTrainer`]
    /// when another process sharing the store holds the trainer lock (taken here and held by
    /// the job until its version is saved, or until this process dies).
    pub fn start(self: &Arc<Self>, spec: TrainSpec) -> Result<(JobStatus, bool), TrainError> {
        let mut latest = self.latest.lock().expect("job lock");
        if let Some(job) = latest.as_ref()
            && job.state == JobState::Running
        {
            return Ok((job.clone(), false));
        }
        if !self.trains {
            return Err(TrainError::ServeOnly);
        }
        let lock = self
            .engine
            .store()
            .try_trainer_lock()?
            .ok_or(TrainError::AnotherTrainer)?;
        if let Ok(last) = self.newest_event() {
            self.last_event_at_start.store(last, Ordering::Relaxed);
        }
        let job = JobStatus {
            id: self.next_id.fetch_add(1, Ordering::Relaxed),
            model: if spec.baskets {
                crate::baskets::basket_model_name(&spec.model)
            } else {
                spec.model.clone()
            },
            state: JobState::Running,
            started_at: unix_now(),
            finished_at: None,
            progress: None,
            version: None,
            seconds: None,
            error: None,
        };
        *latest = Some(job.clone());
        drop(latest);
        let trainer = Arc::clone(self);
        let id = job.id;
        std::thread::Builder::new()
            .name(format!("aisle-train-{id}"))
            .spawn(move || match training_pool() {
                Some(pool) => pool.install(|| trainer.run(id, spec, lock)),
                None => trainer.run(id, spec, lock),
            })
            .expect("spawning the training thread");
        Ok((job, true))
    }

    /// Starts a job if the store holds events the last job did not see (or none ran yet).
    pub fn start_if_new_events(self: &Arc<Self>, spec: TrainSpec) -> Option<JobStatus> {
        let newest = self.newest_event().ok()?;
        if newest == 0 || newest == self.last_event_at_start.load(Ordering::Relaxed) {
            return None;
        }
        match self.start(spec) {
            Ok((job, started)) => started.then_some(job),
            Err(e) => {
                tracing::info!("scheduled training skipped: {e}");
                None
            }
        }
    }

    fn newest_event(&self) -> Result<i64, aisle_store::StoreError> {
        Ok(self.engine.store().last_event_id()?.map_or(0, |e| e.0))
    }

    /// Waits (blocking) until job `id` is no longer running, or `limit` has passed, and
    /// returns its status then (`None` when another job has replaced it).
    pub fn wait(&self, id: u64, limit: std::time::Duration) -> Option<JobStatus> {
        let latest = self.latest.lock().expect("job lock");
        let (latest, _) = self
            .finished
            .wait_timeout_while(latest, limit, |latest| {
                latest
                    .as_ref()
                    .is_some_and(|job| job.id == id && job.state == JobState::Running)
            })
            .expect("job lock");
        latest.as_ref().filter(|job| job.id == id).cloned()
    }

    /// Trains and installs a basket model within job `id`.
    fn train_baskets(&self, id: u64, spec: &TrainSpec) {
        let log_notice = |text: &str| tracing::info!(job = id, "{text}");
        match self.fit_and_save(spec, None, Some(&log_notice)) {
            Ok(serving) => {
                tracing::info!(job = id, model = %serving.name(), version = serving.info.version.0, "basket model trained");
                self.engine.install(serving);
            }
            Err(e) => {
                tracing::warn!(job = id, model = %spec.model, "training the basket model failed: {e}")
            }
        }
    }

    /// Fits `spec` (in a child process when one is configured), saves the version and
    /// prepares it for serving, with its lists precomputed (a basket model's rows are
    /// baskets, not users: nothing is precomputed for one).
    fn fit_and_save(
        &self,
        spec: &TrainSpec,
        progress: Option<&(dyn Fn(Progress) + Sync)>,
        notice: Option<&(dyn Fn(&str) + Sync)>,
    ) -> Result<Serving, TrainError> {
        let store = self.engine.store().as_ref();
        let precompute = if spec.baskets {
            0
        } else {
            self.engine.config().precompute
        };
        match &self.child {
            Some(child) => {
                let clock = Instant::now();
                let artifact = child.fit(spec, precompute, progress, notice)?;
                let fit = clock.elapsed();
                let model = artifact.model()?;
                let decode = clock.elapsed() - fit;
                let info = save_bytes(store, artifact.meta, &artifact.bytes)?;
                let save = clock.elapsed() - fit - decode;
                tracing::info!(
                    model = %info.meta.name,
                    version = info.version.0,
                    fit_s = fit.as_secs_f64(),
                    decode_ms = decode.as_secs_f64() * 1e3,
                    save_ms = save.as_secs_f64() * 1e3,
                    "version saved"
                );
                let last_event = info.meta.last_event_id;
                Ok(Serving::with_lists(
                    info,
                    Arc::new(model),
                    last_event,
                    artifact.precomputed,
                ))
            }
            None => {
                let trained = train(store, spec, progress, None, notice)?;
                let last_event = trained.info.meta.last_event_id;
                Ok(Serving::new(
                    trained.info,
                    Arc::new(trained.model),
                    last_event,
                    Some(&trained.matrix),
                    precompute,
                ))
            }
        }
    }

    fn run(&self, id: u64, spec: TrainSpec, lock: Box<dyn TrainerLock>) {
        let started = Instant::now();
        // Until the version this job saves is installed (with its precomputed lists).
        let _following_paused = self.engine.pause_following();
        let on_progress = |p: Progress| {
            if let Some(job) = self.latest.lock().expect("job lock").as_mut()
                && job.id == id
            {
                job.progress = Some([p.done, p.total]);
            }
        };
        let log_notice = |text: &str| tracing::info!(job = id, "{text}");
        let outcome = self.fit_and_save(&spec, Some(&on_progress), Some(&log_notice));
        if outcome.is_ok()
            && !spec.baskets
            && let Some(baskets) = &self.basket_training
        {
            self.train_baskets(id, baskets);
        }
        // Replicas sharing a database train one at a time: the lock is held until the
        // versions are saved.
        drop(lock);
        let outcome = outcome.map(|serving| {
            let version = serving.info.version.0;
            self.engine.install(serving);
            version
        });
        let mut latest = self.latest.lock().expect("job lock");
        if let Some(job) = latest.as_mut()
            && job.id == id
        {
            job.finished_at = Some(unix_now());
            job.seconds = Some(started.elapsed().as_secs_f64());
            match outcome {
                Ok(version) => {
                    job.state = JobState::Succeeded;
                    job.version = Some(version);
                    Stats::add(&self.stats.trainings_succeeded, 1);
                }
                Err(e) => {
                    tracing::error!(model = %spec.model, "training failed: {e}");
                    job.state = JobState::Failed;
                    job.error = Some(e.to_string());
                    Stats::add(&self.stats.trainings_failed, 1);
                }
            }
        }
        drop(latest);
        self.finished.notify_all();
    }
}

/// The threads a training (and the precomputing after it) runs on: all cores but one, so
/// the requests served meanwhile keep a core. With every core, each retraining stalled
/// serving for seconds (the soak's reads fell behind at every one). `None` on a single core
/// (or when the pool cannot be made): the global pool, as before.
fn training_pool() -> Option<rayon::ThreadPool> {
    let cores = std::thread::available_parallelism().map_or(1, |n| n.get());
    if cores < 2 {
        return None;
    }
    rayon::ThreadPoolBuilder::new()
        .num_threads(cores - 1)
        .thread_name(|i| format!("aisle-train-worker-{i}"))
        .build()
        .ok()
}
