//! The running system for one shop: the serving [`Engine`], the [`Trainer`], the
//! [`Experiments`], the [`Placements`] and the counters, with the work that runs beside the
//! requests (precomputing lists, the first training, the retraining schedule, the log of
//! served lists, following the store's catalogue changes). An HTTP layer parses a request,
//! calls one method here and formats the answer.

use std::sync::{Arc, Condvar, Mutex};
use std::thread::JoinHandle;
use std::time::Duration;

use aisle_store::{Change, Store, StoreError};

use crate::engine::{Engine, EngineConfig};
use crate::error::EngineError;
use crate::events::{self, IncomingEvent, Refusal};
use crate::experiments::{ExperimentDefinition, Experiments};
use crate::jobs::{JobStatus, Trainer};
use crate::list::{ExperimentTag, ListRequest, RecommendationList};
use crate::placements::{Placement, Placements};
use crate::retention::{Retention, RetentionRun};
use crate::stats::Stats;
use crate::training::child::ChildTraining;
use crate::training::{TrainError, TrainSpec};
use crate::tuning::{TuneSpec, TuneStatus, Tuner};
use crate::writer::{self, EventWriter, Overloaded};

/// How often served lists are written to the store, in batches.
const LOG_FLUSH_EVERY: Duration = Duration::from_millis(250);
/// How often the running experiment's counts are brought up to date in the background, so
/// its results answer from tallies.
const COUNT_EVERY: Duration = Duration::from_secs(10);
/// How often the catalogue cache looks for changes made by other processes (and at once when
/// the store sends a change notice).
const CATALOGUE_FOLLOW_EVERY: Duration = Duration::from_secs(1);
/// How often old served lists (and events, if set) are deleted.
const RETENTION_EVERY: Duration = Duration::from_secs(3_600);
/// How often rotation's memory of served lists reads the lists other replicas logged.
const RECENT_LISTS_FOLLOW_EVERY: Duration = Duration::from_secs(5);
/// How often the store is asked for model versions saved by other processes (replicas
/// sharing a database): a new version serves everywhere within about this long, or at once
/// when the store sends change notices (PostgreSQL's `LISTEN`/`NOTIFY`).
const MODEL_FOLLOW_EVERY: Duration = Duration::from_secs(2);

/// What the running system does besides answering.
#[derive(Debug, Clone)]
pub struct ServiceConfig {
    pub engine: EngineConfig,
    /// What the scheduled and on-demand trainings train.
    pub training: TrainSpec,
    /// Retrain this often when new events arrived (`None`: never on a schedule).
    pub retrain_every: Option<Duration>,
    /// Train at start-up when the store has events but no model.
    pub train_on_start: bool,
    /// Experiments to start at start-up if new.
    pub experiments: Vec<ExperimentDefinition>,
    /// Re-tune on a schedule (`None`: only on demand).
    pub tuning: Option<TuningSchedule>,
    /// Whether this process trains (`--role all` or `train`); a `--role serve` replica
    /// never does, and takes the versions others train from the store.
    pub trains: bool,
    /// A basket model trained after each training of the main model (its `baskets` set).
    pub basket_training: Option<TrainSpec>,
    /// How to start a training process (`None`: trainings fit on a thread of this process).
    pub training_process: Option<ChildTraining>,
    /// The settings file's placements (read-only through the API).
    pub placements: Vec<Placement>,
    /// How long served lists and events are kept (enforced by the process that trains).
    pub retention: Retention,
    /// The most events waiting to be written; more are refused with [`Overloaded`].
    pub write_queue: usize,
    /// The most served lists waiting to be logged; past it lists are refused with
    /// [`Overloaded`] (a list the log cannot take would be invisible to the experiments).
    pub served_list_queue: usize,
}

/// When and how the models are re-tuned on the store's snapshot.
#[derive(Debug, Clone)]
pub struct TuningSchedule {
    pub every: Duration,
    pub spec: TuneSpec,
}

impl Default for ServiceConfig {
    fn default() -> Self {
        ServiceConfig {
            engine: EngineConfig::default(),
            training: TrainSpec::default(),
            retrain_every: None,
            train_on_start: true,
            experiments: Vec::new(),
            tuning: None,
            trains: true,
            basket_training: None,
            training_process: None,
            placements: Vec::new(),
            retention: Retention::default(),
            write_queue: writer::DEFAULT_WRITE_QUEUE,
            served_list_queue: crate::experiments::DEFAULT_SERVED_LIST_QUEUE,
        }
    }
}

/// The engine, its training jobs and experiments, ready to answer.
#[derive(Debug)]
pub struct Service {
    engine: Arc<Engine>,
    trainer: Arc<Trainer>,
    tuner: Arc<Tuner>,
    experiments: Arc<Experiments>,
    placements: Arc<Placements>,
    stats: Arc<Stats>,
    /// Writes events in groups (see [`crate::writer`]).
    writer: EventWriter,
    config: ServiceConfig,
    stopping: Arc<Stopping>,
    background: Mutex<Vec<JoinHandle<()>>>,
    /// The last retention pass, if one ran.
    retention_run: Arc<Mutex<Option<RetentionRun>>>,
}

impl Service {
    /// Loads the catalogue, the newest version of every stored model and the experiments,
    /// and starts the configured experiments that are new. Lists are precomputed later, in
    /// the background ([`Service::start_background`]), so start-up is quick.
    pub fn start(store: Arc<dyn Store>, config: ServiceConfig) -> Result<Service, StoreError> {
        let engine = Arc::new(Engine::new(store, config.engine.clone())?);
        engine.load_models()?;
        let stats = Arc::new(Stats::default());
        let trainer = Trainer::new(Arc::clone(&engine), Arc::clone(&stats))
            .then_baskets(config.basket_training.clone())
            .in_child_process(config.training_process.clone());
        let trainer = Arc::new(if config.trains {
            trainer
        } else {
            trainer.serve_only()
        });
        let experiments =
            Arc::new(Experiments::load(engine.store().as_ref())?.bounded(config.served_list_queue));
        for definition in &config.experiments {
            if experiments.get(&definition.name).is_some() {
                continue;
            }
            // A configured experiment starts once its models serve; until then it waits
            // for the next start (the reason is logged).
            if let Err(e) = experiments.create(&engine, definition.clone()) {
                tracing::warn!(
                    experiment = %definition.name,
                    "an experiment from the settings is not started: {e}"
                );
            }
        }
        let tuner = Arc::new(Tuner::new(Arc::clone(engine.store())));
        let placements = Arc::new(Placements::load(
            engine.store().as_ref(),
            config.placements.clone(),
        )?);
        let writer = {
            let store = Arc::clone(engine.store());
            EventWriter::start(
                config.write_queue,
                Box::new(move |events| store.append_events(events)),
            )
        };
        Ok(Service {
            engine,
            trainer,
            writer,
            tuner,
            experiments,
            placements,
            stats,
            config,
            stopping: Arc::new(Stopping::default()),
            background: Mutex::new(Vec::new()),
            retention_run: Arc::new(Mutex::new(None)),
        })
    }

    pub fn engine(&self) -> &Arc<Engine> {
        &self.engine
    }

    pub fn store(&self) -> &Arc<dyn Store> {
        self.engine.store()
    }

    pub fn trainer(&self) -> &Arc<Trainer> {
        &self.trainer
    }

    pub fn tuner(&self) -> &Arc<Tuner> {
        &self.tuner
    }

    pub fn experiments(&self) -> &Arc<Experiments> {
        &self.experiments
    }

    pub fn placements(&self) -> &Arc<Placements> {
        &self.placements
    }

    pub fn stats(&self) -> &Stats {
        &self.stats
    }

    pub fn config(&self) -> &ServiceConfig {
        &self.config
    }

    /// What the last retention pass deleted, if one ran here.
    pub fn last_retention(&self) -> Option<RetentionRun> {
        *self.retention_run.lock().expect("retention lock")
    }

    // ---- lists ----

    /// Answers a list request as a shopper sees it: the running experiment picks the model
    /// (unless the request names one, or asks what to buy again: the experiment compares
    /// recommenders, and a buy-again list is the shopper's own purchases), and the list is
    /// logged for attribution.
    pub fn serve_list(&self, mut request: ListRequest) -> Result<RecommendationList, EngineError> {
        let experiment = self.assign_experiment(&mut request);
        let mut list = self.engine.list(&request)?;
        list.experiment = experiment;
        let served_at = self
            .experiments
            .log(request.user_id.as_deref(), &list)
            .inspect_err(|_| Stats::add(&self.stats.overloaded, 1))?;
        if let Some(user) = request.user_id.as_deref()
            && self.placements.rotates()
        {
            let items = list.items.iter().map(|i| i.item_id.as_str());
            self.placements
                .recent()
                .record(user, &list.recommendation_id, served_at, items);
        }
        Stats::add(&self.stats.lists_served, 1);
        if list.fallback {
            Stats::add(&self.stats.fallbacks_served, 1);
        }
        Ok(list)
    }

    /// Has the running experiment pick the request's model (unless it names one, or asks
    /// what to buy again); answers the variant. An experiment between basket models runs on
    /// basket lists only, one between user models on the other lists only.
    pub(crate) fn assign_experiment(&self, request: &mut ListRequest) -> Option<ExperimentTag> {
        if request.model.is_none()
            && request.source != crate::list::Source::BuyAgain
            && let Some(user) = request.user_id.as_deref()
            && let Some((tag, model)) = self.experiments.assign(user)
            && crate::baskets::is_basket_model(&model) == request.source.wants_basket_model()
        {
            request.model = Some(model);
            request.assigned_model = true;
            return Some(tag);
        }
        None
    }

    // ---- events ----

    /// Why the `index`-th event of a batch is refused, if it is.
    pub fn check_event(&self, index: usize, event: &IncomingEvent) -> Result<(), Refusal> {
        let types = &self.config.training.cleaning.event_types;
        events::check(&self.engine, types, index, event)
    }

    /// Queues checked events for the writer, which stores them with other requests' in one
    /// transaction and then calls `done` with how many it stored (they are durable by then).
    /// `rejected` counts the request's refused events for the metrics. Refused at once, and
    /// `done` never called, when the write queue is full.
    pub fn submit_events(
        &self,
        events: Vec<IncomingEvent>,
        rejected: usize,
        done: impl FnOnce(Result<u64, StoreError>) + Send + 'static,
    ) -> Result<(), Overloaded> {
        Stats::add(&self.stats.events_rejected, rejected as u64);
        let stats = Arc::clone(&self.stats);
        let submitted = self.writer.submit(
            events,
            Box::new(move |result| {
                if let Ok(accepted) = result {
                    Stats::add(&stats.events_accepted, accepted);
                }
                done(result);
            }),
        );
        if submitted.is_err() {
            Stats::add(&self.stats.overloaded, 1);
        }
        submitted
    }

    // ---- training ----

    /// Starts a training job with the configured spec unless one runs (see
    /// [`Trainer::start`] for when this process may not train).
    pub fn train(&self, spec: TrainSpec) -> Result<(JobStatus, bool), TrainError> {
        self.trainer.start(spec)
    }

    /// Starts a tuning job unless one runs; when it has stored an outcome for the model the
    /// server trains, that model is retrained with it.
    pub fn tune(&self, spec: TuneSpec) -> (TuneStatus, bool) {
        let then = retrain_when_tuned(&self.trainer, &self.config.training, &spec);
        self.tuner.start(spec, then)
    }

    // ---- background work ----

    /// Starts what runs beside the requests: precomputing the lists of loaded models, a
    /// first training when the store has events but no model, the retraining schedule, the
    /// log of served lists and following the catalogue. Stopped by [`Service::shutdown`].
    pub fn start_background(&self) {
        let mut background = self.background.lock().expect("background lock");
        let engine = Arc::clone(&self.engine);
        // Not joined at shutdown: a long precompute must not delay it.
        spawn("aisle-precompute", move || {
            if let Err(e) = engine.precompute_loaded() {
                tracing::error!("precomputing lists failed: {e}");
            }
        });
        if self.config.trains
            && self.config.train_on_start
            && self.engine.models().by_name.is_empty()
        {
            self.trainer
                .start_if_new_events(self.config.training.clone());
        }
        let (experiments, engine) = (Arc::clone(&self.experiments), Arc::clone(&self.engine));
        background.push(self.every("aisle-impressions", LOG_FLUSH_EVERY, move || {
            if let Err(e) = experiments.flush(engine.store().as_ref()) {
                tracing::error!("writing served lists failed (kept for retry): {e}");
            }
        }));
        let (experiments, engine) = (Arc::clone(&self.experiments), Arc::clone(&self.engine));
        background.push(self.every("aisle-experiment-counts", COUNT_EVERY, move || {
            if let Err(e) = experiments.keep_counting(&engine) {
                tracing::warn!("counting the running experiment failed (tried again later): {e}");
            }
        }));
        self.watch_store();
        let engine = Arc::clone(&self.engine);
        background.push(self.every_or_when(
            "aisle-catalogue",
            CATALOGUE_FOLLOW_EVERY,
            CATALOGUE,
            move || {
                let answered = engine.follow_catalogue();
                if answered.is_ok() != engine.store_answers() {
                    match &answered {
                        Ok(_) => tracing::info!("the store answers again"),
                        Err(e) => tracing::warn!("the store does not answer: {e}"),
                    }
                }
                engine.note_store_answer(answered.is_ok());
            },
        ));
        let (engine, experiments) = (Arc::clone(&self.engine), Arc::clone(&self.experiments));
        let placements = Arc::clone(&self.placements);
        background.push(self.every_or_when(
            "aisle-models",
            MODEL_FOLLOW_EVERY,
            MODELS,
            move || {
                match engine.follow_models() {
                    Ok(0) => {}
                    Ok(n) => tracing::info!("{n} model version(s) saved elsewhere now serve here"),
                    Err(e) => tracing::warn!("looking for new model versions failed: {e}"),
                }
                if let Err(e) = experiments.follow(engine.store().as_ref()) {
                    tracing::warn!("reading the experiments failed: {e}");
                }
                if let Err(e) = placements.follow(engine.store().as_ref()) {
                    tracing::warn!("reading the placements failed: {e}");
                }
            },
        ));
        // At once (a restarted server's memory is empty) and whenever the window changes;
        // on the period too when replicas share the store (their lists reach us only
        // through it). A lone server knows every list it serves.
        let (engine, placements) = (Arc::clone(&self.engine), Arc::clone(&self.placements));
        let tails = self.store().serves_replicas();
        background.push(self.now_and_every(
            "aisle-recent-lists",
            RECENT_LISTS_FOLLOW_EVERY,
            move || {
                let recent = placements.recent();
                if let Some(window) = placements.rotation_window_secs()
                    && (tails || recent.followed_window() != Some(window))
                    && let Err(e) =
                        recent.follow(engine.store().as_ref(), window, crate::unix_now())
                {
                    tracing::warn!("reading recently served lists failed: {e}");
                }
            },
        ));
        if self.config.trains {
            // At start-up, then hourly; a stop interrupts it between batches.
            let (engine, retention) = (Arc::clone(&self.engine), self.config.retention);
            let (stopping, last) = (Arc::clone(&self.stopping), Arc::clone(&self.retention_run));
            background.push(
                self.now_and_every("aisle-retention", RETENTION_EVERY, move || {
                    let stopped = || stopping.is_stopped();
                    match retention.enforce(engine.store().as_ref(), crate::unix_now(), &stopped) {
                        Ok(run) => {
                            if run.served_lists_deleted + run.events_deleted > 0 {
                                tracing::info!(
                                    served_lists = run.served_lists_deleted,
                                    events = run.events_deleted,
                                    "deleted what is older than kept"
                                );
                            }
                            *last.lock().expect("retention lock") = Some(run);
                        }
                        Err(e) => tracing::warn!("deleting old served lists or events failed: {e}"),
                    }
                }),
            );
        }
        if let Some(schedule) = self.config.tuning.as_ref().filter(|_| self.config.trains) {
            // Tuned at once when the trained model never was, then on the schedule.
            let untuned = self
                .store()
                .latest_tuning(&self.config.training.model)
                .map(|t| t.is_none())
                .unwrap_or(false);
            let has_events = self.store().last_event_id().ok().flatten().is_some();
            if untuned && has_events {
                self.tune(schedule.spec.clone());
            }
            let (tuner, trainer) = (Arc::clone(&self.tuner), Arc::clone(&self.trainer));
            let (spec, training) = (schedule.spec.clone(), self.config.training.clone());
            background.push(self.every("aisle-tune-schedule", schedule.every, move || {
                let then = retrain_when_tuned(&trainer, &training, &spec);
                let (job, started) = tuner.start(spec.clone(), then);
                if started {
                    tracing::info!(job = job.id, "scheduled tuning started");
                }
            }));
        }
        if let Some(period) = self.config.retrain_every.filter(|_| self.config.trains) {
            let (trainer, spec) = (Arc::clone(&self.trainer), self.config.training.clone());
            background.push(self.every("aisle-schedule", period, move || {
                if let Some(job) = trainer.start_if_new_events(spec.clone()) {
                    tracing::info!(job = job.id, model = %job.model, "scheduled training started");
                }
            }));
        }
    }

    /// Stops the background work, writes the events and served lists still queued and
    /// checkpoints the store (SQLite: the write-ahead log moved into the file).
    pub fn shutdown(&self) -> Result<(), StoreError> {
        self.writer.close();
        self.stopping.stop();
        self.tuner.cancel();
        for handle in self.background.lock().expect("background lock").drain(..) {
            let _ = handle.join();
        }
        self.experiments.flush(self.engine.store().as_ref())?;
        self.engine.store().checkpoint()?;
        Ok(())
    }

    fn every(
        &self,
        name: &str,
        period: Duration,
        work: impl FnMut() + Send + 'static,
    ) -> JoinHandle<()> {
        self.every_or_when(name, period, 0, work)
    }

    /// Like [`Service::every`], but runs `work` once at once, then after each period.
    fn now_and_every(
        &self,
        name: &str,
        period: Duration,
        mut work: impl FnMut() + Send + 'static,
    ) -> JoinHandle<()> {
        let stopping = Arc::clone(&self.stopping);
        spawn(name, move || {
            work();
            while !stopping.wait(period, 0) {
                work();
            }
        })
    }

    /// Like [`Service::every`], and also as soon as one of `topics` is nudged.
    fn every_or_when(
        &self,
        name: &str,
        period: Duration,
        topics: u8,
        mut work: impl FnMut() + Send + 'static,
    ) -> JoinHandle<()> {
        let stopping = Arc::clone(&self.stopping);
        spawn(name, move || {
            while !stopping.wait(period, topics) {
                work();
            }
        })
    }

    /// Has the store's change notices (where it sends them) wake the followers at once.
    fn watch_store(&self) {
        let stopping = Arc::clone(&self.stopping);
        let nudge = move |change: Change| {
            stopping.nudge(match change {
                Change::Catalogue => CATALOGUE,
                Change::Models | Change::Experiments | Change::Placements => MODELS,
                Change::Everything => CATALOGUE | MODELS,
            })
        };
        match self.store().watch_changes(Box::new(nudge)) {
            Ok(true) => tracing::info!("following the store's change notices"),
            Ok(false) => {}
            Err(e) => tracing::warn!("the store's change notices are not followed (polling): {e}"),
        }
    }
}

/// What runs after a tuning job stored its outcomes: a training of the served model, when
/// it was among those tuned, so the new settings serve.
fn retrain_when_tuned(
    trainer: &Arc<Trainer>,
    training: &TrainSpec,
    spec: &TuneSpec,
) -> impl FnOnce() + Send + 'static {
    let retrain = spec.models.contains(&training.model);
    let (trainer, training) = (Arc::clone(trainer), training.clone());
    move || {
        if retrain {
            match trainer.start(training) {
                Ok((job, _)) => {
                    tracing::info!(job = job.id, model = %job.model, "training with the new tuning")
                }
                Err(e) => tracing::info!("training with the new tuning skipped: {e}"),
            }
        }
    }
}

fn spawn(name: &str, work: impl FnOnce() + Send + 'static) -> JoinHandle<()> {
    std::thread::Builder::new()
        .name(name.to_string())
        .spawn(work)
        .expect("spawning a background thread")
}

/// A stop signal that wakes sleeping background threads at once, and nudges that wake the
/// ones following a kind of change (a store's change notice) before their period is up.
#[derive(Debug, Default)]
struct Stopping {
    state: Mutex<Signals>,
    wake: Condvar,
}

#[derive(Debug, Default)]
struct Signals {
    stopped: bool,
    /// Topics nudged and not yet taken by their waiter.
    nudged: u8,
}

/// The thread following the catalogue.
const CATALOGUE: u8 = 1;
/// The thread following model versions and experiments.
const MODELS: u8 = 2;

impl Stopping {
    /// Sleeps for `period`, until stopped or until one of `topics` is nudged; returns
    /// whether stopped.
    fn wait(&self, period: Duration, topics: u8) -> bool {
        let state = self.state.lock().expect("stop lock");
        let (mut state, _) = self
            .wake
            .wait_timeout_while(state, period, |s| !s.stopped && s.nudged & topics == 0)
            .expect("stop lock");
        state.nudged &= !topics;
        state.stopped
    }

    fn nudge(&self, topics: u8) {
        self.state.lock().expect("stop lock").nudged |= topics;
        self.wake.notify_all();
    }

    fn stop(&self) {
        self.state.lock().expect("stop lock").stopped = true;
        self.wake.notify_all();
    }

    fn is_stopped(&self) -> bool {
        self.state.lock().expect("stop lock").stopped
    }
}

#[cfg(test)]
mod tests {
    use std::sync::mpsc;

    use super::*;
    use crate::testing::{TestEngine, service};

    #[test]
    fn a_full_served_list_queue_refuses_lists_until_it_is_written() {
        let shop = TestEngine::new();
        let service = service(
            &shop,
            ServiceConfig {
                served_list_queue: 3,
                ..ServiceConfig::default()
            },
        );
        let (user, _) = shop.known_user();
        for _ in 0..3 {
            service.serve_list(ListRequest::for_user(&user)).unwrap();
        }
        let refused = service.serve_list(ListRequest::for_user(&user));
        assert!(
            matches!(refused, Err(EngineError::Overloaded(_))),
            "{refused:?}"
        );
        assert_eq!(Stats::get(&service.stats().overloaded), 1);
        assert_eq!(Stats::get(&service.stats().lists_served), 3);
        let logged = service.experiments().flush(shop.store().as_ref()).unwrap();
        assert_eq!(logged, 3, "the refused list was never queued");
        service.serve_list(ListRequest::for_user(&user)).unwrap();
    }

    #[test]
    fn submitted_events_are_stored_when_acknowledged() {
        let shop = TestEngine::new();
        let service = service(&shop, ServiceConfig::default());
        let before = shop.store().counts().unwrap().events;
        let (user, _) = shop.known_user();
        let event = |item: &str| crate::testing::view(&user, item, crate::unix_now());
        let (tx, rx) = mpsc::channel();
        for batch in 0..5 {
            let tx = tx.clone();
            let events = (0..4)
                .map(|i| event(&format!("i{}", batch * 4 + i)))
                .collect();
            service
                .submit_events(events, 1, move |result| tx.send(result.unwrap()).unwrap())
                .unwrap();
        }
        drop(tx);
        let acknowledged: u64 = rx.iter().sum();
        assert_eq!(acknowledged, 20);
        assert_eq!(shop.store().counts().unwrap().events, before + 20);
        assert_eq!(Stats::get(&service.stats().events_accepted), 20);
        assert_eq!(Stats::get(&service.stats().events_rejected), 5);
    }
}
