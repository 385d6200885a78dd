//! Aisle's running system, without HTTP: what turns a store and trained models into lists
//! for shoppers, and keeps them fresh.
//!
//! - [`engine`]: the serving core — models behind an atomic swap, the catalogue cache, and
//!   the entry point of the list pipeline.
//! - [`list`]: a [`ListRequest`] run through candidates → filters → adjusting stages →
//!   fallback chain → reasons.
//! - [`training`] and [`jobs`]: a store snapshot trained into a new model version, one job at
//!   a time, swapped in when done.
//! - [`experiments`]: A/B experiments, the log of served lists, attribution and results.
//! - [`placements`]: named recommendation slots with merchandising rules, and the explainer.
//! - [`writer`]: live events queued and written in groups (group commit), the queue bounded.
//! - [`service`]: all of the above for one shop, with the work that runs beside requests.
//!
//! An HTTP layer (the `aisle-server` crate) parses requests into calls on a [`Service`];
//! the command line calls the [`Engine`] and [`training`] directly.
//!
//! ```no_run
//! use std::sync::Arc;
//! use aisle_engine::{ListRequest, Service, ServiceConfig};
//!
//! let store = aisle_store::open("aisle.db")?;
//! let service = Service::start(store, ServiceConfig::default())?;
//! let list = service.engine().list(&ListRequest::for_user("u42").with_n(5))?;
//! for item in &list.items {
//!     println!("{} {:?}", item.item_id, item.reason);
//! }
//! # Ok::<(), Box<dyn std::error::Error>>(())
//! ```

pub mod baskets;
pub mod catalogue;
pub mod engine;
pub mod error;
pub mod events;
pub mod experiments;
pub mod jobs;
pub mod lenient;
pub mod list;
pub mod placements;
pub mod retention;
pub mod service;
pub mod serving;
pub mod stats;
#[cfg(test)]
pub mod testing;
pub mod training;
pub mod tuning;
pub mod writer;

pub use engine::{Engine, EngineConfig};
pub use error::EngineError;
pub use events::{IncomingEvent, Refusal};
pub use jobs::{JobState, JobStatus, Trainer};
pub use list::{
    ExperimentTag, HistoryEntry, ListFilters, ListRequest, Reason, RecommendationList, Recommended,
    Source,
};
pub use retention::{Retention, RetentionRun};
pub use service::{Service, ServiceConfig, TuningSchedule};
pub use serving::{ModelSet, Serving};
pub use stats::Stats;
pub use training::{TrainError, TrainSpec, Trained, train};
pub use tuning::{TuneSpec, TuneStatus, Tuner};
pub use writer::Overloaded;

/// Seconds since the Unix epoch.
pub fn unix_now() -> i64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |d| d.as_secs() as i64)
}
