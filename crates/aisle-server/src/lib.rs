//! Aisle's HTTP server: the shop's catalogue, users and events go in; personalised lists,
//! similar, popular and trending items come out, in JSON, fast enough for a product page.
//!
//! - [`engine`]: the serving core (no HTTP): models behind an atomic swap, history from the
//!   store, fold-in of new events, filters, fallbacks and reasons.
//! - [`training`]: a store snapshot trained into a new model version (shared with the CLI).
//! - [`jobs`]: background retraining, on demand and on a schedule, swapped in when done.
//! - [`api`]: routes, extractors, API keys, metrics middleware, the OpenAPI document.
//! - [`config`]: settings from a TOML file, the environment and flags.
//!
//! ```no_run
//! # async fn run() -> Result<(), Box<dyn std::error::Error>> {
//! use std::sync::Arc;
//! use aisle_server::{Server, ServerConfig};
//! use aisle_store::SqliteStore;
//!
//! let store = Arc::new(SqliteStore::open("aisle.db")?);
//! let server = Server::new(store, ServerConfig::default())?;
//! let listener = tokio::net::TcpListener::bind("127.0.0.1:8080").await?;
//! server.serve(listener, std::future::pending()).await?;
//! # Ok(()) }
//! ```

pub mod api;
pub mod catalogue;
pub mod config;
pub mod engine;
pub mod error;
pub mod experiments;
pub mod jobs;
pub mod metrics;
pub mod training;

use std::future::Future;
use std::sync::Arc;

use aisle_store::{Store, StoreError};

pub use api::AppState;
pub use config::{ConfigError, ServerConfig, Settings};
pub use engine::{Engine, EngineConfig, RecommendationList};
pub use error::ApiError;
pub use training::{TrainError, TrainSpec, Trained, train};

use crate::experiments::Experiments;
use crate::jobs::Trainer;
use crate::metrics::Metrics;

/// Why the server could not start.
#[derive(Debug, thiserror::Error)]
pub enum ServerError {
    #[error(transparent)]
    Store(#[from] StoreError),
    #[error("cannot serve: {0}")]
    Io(#[from] std::io::Error),
}

/// A server ready to answer: catalogue and models loaded.
#[derive(Debug)]
pub struct Server {
    state: AppState,
}

impl Server {
    /// Loads the serving catalogue and the newest version of every stored model. Lists are
    /// precomputed later, in the background ([`Server::start_background_work`]), so start-up
    /// is quick.
    pub fn new(store: Arc<dyn Store>, config: ServerConfig) -> Result<Server, ServerError> {
        let engine = Arc::new(Engine::new(store, config.engine.clone())?);
        engine.load_models()?;
        let metrics = Arc::new(Metrics::default());
        let trainer = Arc::new(Trainer::new(Arc::clone(&engine), Arc::clone(&metrics)));
        let experiments = Arc::new(Experiments::load(engine.store().as_ref())?);
        for definition in &config.experiments {
            if experiments.get(&definition.name).is_some() {
                continue;
            }
            // A configured experiment starts once its models serve; until then it waits
            // for the next start (the reason is logged).
            if let Err(e) = experiments.create(&engine, definition.clone()) {
                eprintln!(
                    "aisle: experiment '{}' from the settings is not started: {e}",
                    definition.name
                );
            }
        }
        Ok(Server {
            state: AppState {
                engine,
                trainer,
                metrics,
                experiments,
                config: Arc::new(config),
            },
        })
    }

    pub fn state(&self) -> &AppState {
        &self.state
    }

    /// The application, for serving or for driving in tests.
    pub fn router(&self) -> axum::Router {
        api::router(self.state.clone())
    }

    /// Starts what runs beside the requests (needs a tokio runtime): precomputing the lists
    /// of loaded models, a first training when the store has events but no model, and the
    /// retraining schedule.
    pub fn start_background_work(&self) {
        let state = self.state.clone();
        let engine = Arc::clone(&state.engine);
        tokio::task::spawn_blocking(move || {
            if let Err(e) = engine.precompute_loaded() {
                eprintln!("aisle: precomputing lists failed: {e}");
            }
        });
        if state.config.train_on_start && state.engine.models().by_name.is_empty() {
            state
                .trainer
                .start_if_new_events(state.config.training.clone());
        }
        // Served lists are written in batches, a few times a second.
        let log = state.clone();
        tokio::spawn(async move {
            loop {
                tokio::time::sleep(std::time::Duration::from_millis(250)).await;
                let log = log.clone();
                let flushed = tokio::task::spawn_blocking(move || {
                    log.experiments.flush(log.engine.store().as_ref())
                })
                .await;
                if let Ok(Err(e)) = flushed {
                    eprintln!("aisle: writing served lists failed (kept for retry): {e}");
                }
            }
        });
        if let Some(every) = state.config.retrain_every {
            tokio::spawn(async move {
                loop {
                    tokio::time::sleep(every).await;
                    if let Some(job) = state
                        .trainer
                        .start_if_new_events(state.config.training.clone())
                    {
                        eprintln!("aisle: scheduled training {} started", job.id);
                    }
                }
            });
        }
    }

    /// Answers on `listener` until `shutdown` completes, then finishes the requests in
    /// flight.
    pub async fn serve(
        self,
        listener: tokio::net::TcpListener,
        shutdown: impl Future<Output = ()> + Send + 'static,
    ) -> Result<(), ServerError> {
        self.start_background_work();
        // Peer addresses let the owner's views be free on loopback only (`api::auth`).
        let app = self
            .router()
            .into_make_service_with_connect_info::<std::net::SocketAddr>();
        axum::serve(listener, app)
            .with_graceful_shutdown(shutdown)
            .await?;
        let state = &self.state;
        state.experiments.flush(state.engine.store().as_ref())?;
        Ok(())
    }
}
