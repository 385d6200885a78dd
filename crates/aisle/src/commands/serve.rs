//! `aisle serve`: the HTTP API over a store, with settings layered flag over `AISLE_*`
//! variable over TOML file, until Ctrl-C or SIGTERM.

use std::ffi::OsString;

use aisle_engine::training::child::ChildTraining;
use aisle_server::{Server, ServerConfig, Settings};
use anyhow::{Context, Result};

use crate::UsageError;
use crate::cli::ServeArgs;
use crate::input::parse_params;
use crate::output::outln;

pub fn run(args: ServeArgs) -> Result<()> {
    let file = match &args.config {
        Some(path) => Settings::from_file(path).map_err(|e| UsageError(e.to_string()))?,
        None => Settings::default(),
    };
    let mut flags = Settings {
        db: args.db.or_else(|| std::env::var("AISLE_DATABASE_URL").ok()),
        role: args.role,
        addr: args.addr,
        api_key: args.api_key,
        read_api_key: args.read_api_key,
        body_limit: args.body_limit,
        max_batch: args.max_batch,
        retrain_every: args.retrain_every,
        train_on_start: args.train_on_start,
        history_events: args.history_events,
        precompute: args.precompute,
        request_timeout: args.request_timeout,
        shutdown_timeout: args.shutdown_timeout,
        served_lists_days: args.served_lists_days,
        events_days: args.events_days,
        write_queue: args.write_queue,
        served_list_queue: args.served_list_queue,
        ..Settings::default()
    };
    flags.training.model = args.model;
    flags.training.params = parse_params(&args.set)?;
    let settings = flags.over(file);
    let db = settings
        .db
        .clone()
        .unwrap_or_else(|| "aisle.db".to_string());
    let config = settings.resolve().map_err(|e| UsageError(e.to_string()))?;
    serve(db, config, Vec::new(), None)
}

/// Called with the bound address once the server listens (the demo starts its simulated
/// shoppers there).
pub type OnReady = Box<dyn FnOnce(std::net::SocketAddr) + Send>;

/// Opens the store, starts the server and answers until Ctrl-C or SIGTERM; `hints` are
/// printed once the address is known (the demo's curl lines).
pub fn serve(
    db: String,
    mut config: ServerConfig,
    hints: Vec<String>,
    on_ready: Option<OnReady>,
) -> Result<()> {
    if !config.train_in_process {
        config.service.training_process = training_process(&db);
    }
    let store = aisle_store::open(&db)?;
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
        .context("starting the async runtime")?;
    runtime.block_on(async move {
        let addr = config.addr;
        let listener = tokio::net::TcpListener::bind(addr)
            .await
            .with_context(|| format!("cannot listen on {addr}"))?;
        let local = listener.local_addr()?;
        let server = Server::new(store, config)?;
        let models = server.service().engine().models();
        outln!(
            "Serving {db} on http://{local} (models: {})",
            if models.by_name.is_empty() {
                "none yet".to_string()
            } else {
                models
                    .by_name
                    .values()
                    .map(|s| format!("{} v{}", s.name(), s.info.version.0))
                    .collect::<Vec<_>>()
                    .join(", ")
            }
        );
        for hint in hints {
            outln!("{}", hint.replace("{addr}", &local.to_string()));
        }
        if let Some(on_ready) = on_ready {
            on_ready(local);
        }
        server.serve(listener, shutdown_signal()).await?;
        outln!("Stopped.");
        Ok(())
    })
}

/// How the server starts a training process: this binary's hidden `train-worker` command
/// on the same store (named in its environment: a postgres:// URL's password must not show
/// in `ps`), logging as the server does. `None` (fits on a thread of the server) when this
/// binary cannot be found.
fn training_process(db: &str) -> Option<ChildTraining> {
    match std::env::current_exe() {
        Ok(program) => Some(
            ChildTraining::new(
                program,
                [
                    "--log-format",
                    crate::logging::format().as_str(),
                    "train-worker",
                    "--parent",
                    &std::process::id().to_string(),
                ]
                .map(OsString::from),
            )
            .env("AISLE_TRAIN_DB", db),
        ),
        Err(e) => {
            tracing::warn!("trainings run in the server's process (its binary is not found: {e})");
            None
        }
    }
}

async fn shutdown_signal() {
    let ctrl_c = async {
        let _ = tokio::signal::ctrl_c().await;
    };
    #[cfg(unix)]
    let terminate = async {
        match tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate()) {
            Ok(mut signal) => {
                signal.recv().await;
            }
            Err(_) => std::future::pending::<()>().await,
        }
    };
    #[cfg(not(unix))]
    let terminate = std::future::pending::<()>();
    tokio::select! {
        () = ctrl_c => {},
        () = terminate => {},
    }
}
