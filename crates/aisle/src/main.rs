//! The `aisle` command: wires the data, model and evaluation crates to a command line.
//!
//! Exit codes: 0 success, 1 runtime error (bad data, I/O), 2 usage error (bad arguments).

mod cli;
mod commands;
mod input;
mod logging;
mod output;
mod progress;

use std::process::ExitCode;

use clap::Parser;

use crate::cli::{Cli, Command};

// jemalloc. glibc's allocator spent a fifth of a list request's CPU time (consolidating its
// fast bins on every larger allocation, with a list's many short-lived strings and vectors
// between them). mimalloc (v3) took that to a few per cent but did not give back the pages
// of a swapped-out model version: across a retraining under load its resident memory rose
// by ~20 MiB while live memory (counted) rose by 3 MiB, whichever thread decoded the
// version. jemalloc serves lists as fast (bench/serve: 12,245–12,878 against 12,648–12,674
// GETs/s at 4 connections) and its resident memory fell back after the same retrainings
// (docs/server.md, "Soak").
#[global_allocator]
static ALLOCATOR: tikv_jemallocator::Jemalloc = tikv_jemallocator::Jemalloc;

/// An error in how the command was called (exit code 2), as opposed to a failure while
/// running it (exit code 1).
#[derive(Debug, thiserror::Error)]
#[error("{0}")]
pub struct UsageError(pub String);

fn main() -> ExitCode {
    let cli = Cli::parse();
    // The server's and the demo's progress is logged; other commands print their results
    // and log only warnings.
    let level = match cli.command {
        Command::Serve(_) | Command::Demo(_) | Command::Simulate(_) => "info",
        _ => "warn",
    };
    logging::init(cli.log_format, level);
    let result = match cli.command {
        Command::Demo(args) => commands::demo::run(args),
        Command::Serve(args) => commands::serve::run(*args),
        Command::Simulate(args) => commands::simulate::run(args),
        Command::Generate(args) => commands::generate::run(args),
        Command::Train(args) => commands::train::run(args),
        Command::Recommend(args) => commands::recommend::recommend(args),
        Command::Similar(args) => commands::recommend::similar(args),
        Command::Inspect(args) => commands::inspect::run(args),
        Command::Clean(args) => commands::clean::run(args),
        Command::Evaluate(args) => commands::evaluate::run(*args),
        Command::Tune(args) => commands::tune::run(*args),
        Command::Import(args) => commands::import::run(args),
        Command::Models(args) => commands::models::run(args),
        Command::Store(command) => commands::store::run(command),
        Command::TrainWorker(args) => commands::train_worker::run(args),
    };
    match result {
        Ok(()) => ExitCode::SUCCESS,
        Err(error) => {
            eprintln!("error: {error:#}");
            if error.downcast_ref::<UsageError>().is_some() {
                ExitCode::from(2)
            } else {
                ExitCode::from(1)
            }
        }
    }
}
