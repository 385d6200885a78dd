//! `aisle train-worker` (hidden): the process a server's retraining fits in (see
//! `aisle_engine::training::child`). It runs below the server's priority and dies with it,
//! fits what the request on stdin asks on the server's store, and answers on stdout.

use anyhow::Result;

use crate::cli::TrainWorkerArgs;

pub fn run(args: TrainWorkerArgs) -> Result<()> {
    tie_to_parent(args.parent);
    let store = aisle_store::open(&args.db)?;
    aisle_engine::training::child::run_child(
        store.as_ref(),
        std::io::stdin().lock(),
        std::io::stdout(),
    )?;
    Ok(())
}

/// Lowers this process's priority to the lowest (a fit gets the cores the server leaves
/// idle, so requests are not queued behind it) and has the kernel kill it when its parent
/// dies (a stopped or crashed server leaves no fit running). Linux only; elsewhere the
/// worker runs at the server's priority.
#[cfg(target_os = "linux")]
fn tie_to_parent(parent: Option<u32>) {
    use rustix::process::{Signal, getppid, nice, set_parent_process_death_signal};
    if let Err(e) = nice(19) {
        tracing::warn!("the training process keeps its priority: {e}");
    }
    if let Err(e) = set_parent_process_death_signal(Some(Signal::KILL)) {
        tracing::warn!("the training process may outlive its server: {e}");
    }
    // The parent may have died before the signal was asked for.
    if let Some(parent) = parent
        && getppid().map(|pid| pid.as_raw_nonzero().get() as u32) != Some(parent)
    {
        tracing::warn!("the server that started this training process is gone");
        std::process::exit(1);
    }
}

#[cfg(not(target_os = "linux"))]
fn tie_to_parent(_parent: Option<u32>) {}
