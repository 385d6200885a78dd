//! Counters of what the engine did since it started, read by the HTTP layer's metrics.

use std::sync::atomic::{AtomicU64, Ordering};

/// Monotonic counters, updated without locks.
#[derive(Debug, Default)]
pub struct Stats {
    pub events_accepted: AtomicU64,
    pub events_rejected: AtomicU64,
    pub lists_served: AtomicU64,
    pub fallbacks_served: AtomicU64,
    pub trainings_succeeded: AtomicU64,
    pub trainings_failed: AtomicU64,
    /// Requests refused because a queue (events to write, lists to log) was full.
    pub overloaded: AtomicU64,
}

impl Stats {
    pub fn add(counter: &AtomicU64, n: u64) {
        counter.fetch_add(n, Ordering::Relaxed);
    }

    pub fn get(counter: &AtomicU64) -> u64 {
        counter.load(Ordering::Relaxed)
    }
}
