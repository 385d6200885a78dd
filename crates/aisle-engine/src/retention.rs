//! Retention: the served-list log, and optionally the events, stop growing without end.
//!
//! A background job of the training process (one per shared store) deletes served lists
//! older than [`Retention::served_lists_days`] (default 90) and, when set, events older
//! than [`Retention::events_days`] — which leaves them out of every later training. It
//! deletes in batches of [`BATCH`] rows, one short write transaction each with a pause
//! between, so events and served lists keep being written while it runs.

use std::time::Duration;

use aisle_store::{Store, StoreError};

/// Served lists are kept this many days unless set otherwise.
pub const DEFAULT_SERVED_LISTS_DAYS: u32 = 90;
/// Rows deleted per write transaction.
pub const BATCH: usize = 5_000;
/// The pause between batches, for the writes of serving.
const PAUSE: Duration = Duration::from_millis(20);
const DAY: i64 = 86_400;

/// How long what is kept.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Retention {
    /// Served lists older than this many days are deleted (`None`: kept for ever).
    pub served_lists_days: Option<u32>,
    /// Events older than this many days are deleted (`None`: kept for ever).
    pub events_days: Option<u32>,
}

impl Default for Retention {
    fn default() -> Self {
        Retention {
            served_lists_days: Some(DEFAULT_SERVED_LISTS_DAYS),
            events_days: None,
        }
    }
}

/// What one pass deleted.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, serde::Serialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct RetentionRun {
    /// When the pass ended (Unix seconds).
    pub at: i64,
    pub served_lists_deleted: u64,
    pub events_deleted: u64,
}

impl Retention {
    /// Deletes what is older than kept, as of `now`; stops early (between batches) when
    /// `stopping` says so.
    pub fn enforce(
        &self,
        store: &dyn Store,
        now: i64,
        stopping: &dyn Fn() -> bool,
    ) -> Result<RetentionRun, StoreError> {
        let mut run = RetentionRun::default();
        let before = |days: u32| now - i64::from(days) * DAY;
        if let Some(days) = self.served_lists_days {
            run.served_lists_deleted = in_batches(stopping, |limit| {
                store.delete_impressions_before(before(days), limit)
            })?;
        }
        if let Some(days) = self.events_days {
            run.events_deleted = in_batches(stopping, |limit| {
                store.delete_events_before(before(days), limit)
            })?;
        }
        run.at = now;
        Ok(run)
    }
}

fn in_batches(
    stopping: &dyn Fn() -> bool,
    mut delete: impl FnMut(usize) -> Result<u64, StoreError>,
) -> Result<u64, StoreError> {
    let mut deleted = 0;
    loop {
        let n = delete(BATCH)?;
        deleted += n;
        if (n as usize) < BATCH || stopping() {
            return Ok(deleted);
        }
        std::thread::sleep(PAUSE);
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use aisle_store::{Impression, NewEvent, SqliteStore};

    #[test]
    fn old_lists_and_events_go_in_batches_and_the_rest_stays() {
        let dir = tempfile::TempDir::new().unwrap();
        let store = SqliteStore::open(dir.path().join("aisle.db")).unwrap();
        let now = 1_800_000_000;
        let lists: Vec<Impression> = (0..(BATCH as i64 + 10))
            .map(|i| Impression {
                recommendation_id: format!("r{i}"),
                user_id: Some("u1".into()),
                model: "als".into(),
                model_version: 1,
                experiment: None,
                variant: None,
                items: vec!["i1".into()],
                // Every other list is 100 days old, the rest a day old.
                served_at: now - if i % 2 == 0 { 100 } else { 1 } * DAY,
            })
            .collect();
        store.log_impressions(&lists).unwrap();
        let event = |days: i64| NewEvent {
            timestamp: Some(now - days * DAY),
            ..NewEvent::new("u1", "i1", "view")
        };
        store
            .append_events(&[event(400), event(10), event(400), event(1)])
            .unwrap();

        let kept_events = Retention::default()
            .enforce(&store, now, &|| false)
            .unwrap();
        let old_lists = lists.len().div_ceil(2) as u64;
        assert_eq!(kept_events.served_lists_deleted, old_lists);
        assert_eq!(kept_events.events_deleted, 0, "events are kept by default");
        let counts = store.counts().unwrap();
        assert_eq!(counts.served_lists, lists.len() as u64 - old_lists);
        assert_eq!(counts.events, 4);

        let yearly = Retention {
            served_lists_days: None,
            events_days: Some(365),
        };
        let run = yearly.enforce(&store, now, &|| false).unwrap();
        assert_eq!((run.served_lists_deleted, run.events_deleted), (0, 2));
        assert_eq!(store.counts().unwrap().events, 2);
    }
}
