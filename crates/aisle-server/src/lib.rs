//! Aisle's HTTP API over the engine: the shop's catalogue, users and events go in;
//! personalised lists, similar, popular and trending items come out, in JSON, fast enough
//! for a product page. The engine (`aisle-engine`) does the work; this crate parses, checks
//! keys, maps errors and formats.
//!
//! - [`api`]: routes (declared once, with their OpenAPI annotations), extractors, API keys,
//!   request ids and logs, the OpenAPI document, the dashboard's assets.
//! - [`error`]: every error code with its HTTP status, in one table.
//! - [`config`]: settings from a TOML file, the environment and flags.
//! - [`metrics`]: the Prometheus text at `GET /metrics`.
//!
//! ```no_run
//! # async fn run() -> Result<(), Box<dyn std::error::Error>> {
//! use aisle_server::{Server, ServerConfig};
//!
//! let store = aisle_store::open("aisle.db")?;
//! let server = Server::new(store, ServerConfig::default())?;
//! let listener = tokio::net::TcpListener::bind("127.0.0.1:8080").await?;
//! server.serve(listener, std::future::pending()).await?;
//! # Ok(()) }
//! ```

pub mod api;
pub mod config;
pub mod error;
pub mod metrics;

use std::future::Future;
use std::sync::Arc;

use aisle_engine::Service;
use aisle_store::{Store, StoreError};

pub use api::AppState;
pub use config::{ConfigError, ServerConfig, Settings};
pub use error::{ApiError, Code};

/// Why the server could not start or stop cleanly.
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
    /// Loads the serving catalogue, the newest version of every stored model and the
    /// experiments. Lists are precomputed later, in the background
    /// ([`Server::start_background_work`]), so start-up is quick.
    pub fn new(store: Arc<dyn Store>, config: ServerConfig) -> Result<Server, ServerError> {
        let service = Arc::new(Service::start(store, config.service.clone())?);
        Ok(Server {
            state: AppState::new(service, Arc::new(config)),
        })
    }

    pub fn state(&self) -> &AppState {
        &self.state
    }

    pub fn service(&self) -> &Arc<Service> {
        &self.state.service
    }

    /// The application, for serving or for driving in tests.
    pub fn router(&self) -> axum::Router {
        api::router(self.state.clone())
    }

    /// Starts what runs beside the requests (see [`Service::start_background`]).
    pub fn start_background_work(&self) {
        self.state.service.start_background();
    }

    /// Answers on `listener` until `shutdown` completes, then stops taking connections,
    /// finishes the requests in flight (for at most the settings' `shutdown_timeout`: a
    /// keep-alive client never holds a stop), stops the background work, writes the served
    /// lists still queued and checkpoints the store.
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
        let (stopping, stopped) = tokio::sync::oneshot::channel::<()>();
        let graceful = axum::serve(listener, app).with_graceful_shutdown(async move {
            shutdown.await;
            let _ = stopping.send(());
        });
        // Counts from the stop signal; if the server ends first, `graceful` wins the race.
        let deadline = self.state.config.shutdown_timeout;
        let past_deadline = async move {
            let _ = stopped.await;
            tokio::time::sleep(deadline).await;
        };
        tokio::select! {
            served = graceful => served?,
            () = past_deadline => tracing::warn!(
                "requests still in flight after the shutdown_timeout ({} s): stopping anyway",
                deadline.as_secs_f64()
            ),
        }
        let service = Arc::clone(&self.state.service);
        tokio::task::spawn_blocking(move || service.shutdown())
            .await
            .map_err(std::io::Error::other)??;
        Ok(())
    }
}
