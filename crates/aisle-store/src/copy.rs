//! `aisle store copy`: everything in one store written into another, empty one — SQLite to
//! PostgreSQL when a shop outgrows one box, or back.
//!
//! Copied: the catalogue and users (in listing order, so the index spaces match), every
//! event in id order, every model version (oldest first, so versions keep their order), the
//! experiments with the lists served in them, the tuning outcomes and the placements. Ids the target draws
//! afresh (event ids, model versions) may differ from the source's where the source has gaps
//! (deleted events); references to event ids (a model's last event, an experiment's first)
//! are translated through the copied events, so they mean the same events. Not copied: lists
//! served outside experiments (they only matter for a running experiment's attribution) and
//! the tombstones of deleted items and users.

use crate::MAX_PAGE;
use crate::error::{Result, StoreError};
use crate::record::{Cursor, EventId, ExperimentRecord, Impression, NewEvent, Page, StoredEvent};
use crate::store::Store;

/// Events written per transaction.
const EVENT_BATCH: usize = 10_000;

/// What a copy wrote.
#[derive(Debug, Clone, Default, PartialEq, Eq, serde::Serialize)]
pub struct CopyReport {
    pub items: u64,
    pub users: u64,
    pub events: u64,
    pub models: u64,
    pub experiments: u64,
    pub served_lists: u64,
    pub tunings: u64,
    pub placements: u64,
}

/// Copies everything in `from` into `to`, which must be empty (no items, users, events or
/// models), so nothing is merged by accident.
pub fn copy(from: &dyn Store, to: &dyn Store) -> Result<CopyReport> {
    let target = to.counts()?;
    if target.items + target.users + target.events + target.models > 0
        || !to.experiments()?.is_empty()
    {
        return Err(StoreError::invalid(
            "target store",
            format!(
                "{} is not empty ({} items, {} users, {} events, {} models); copy into an \
                 empty store",
                to.location(),
                target.items,
                target.users,
                target.events,
                target.models
            ),
        ));
    }
    let mut report = CopyReport {
        items: copy_pages(
            |after| from.list_items(after, MAX_PAGE),
            |items| to.upsert_items(items),
        )?,
        users: copy_pages(
            |after| from.list_users(after, MAX_PAGE),
            |users| to.upsert_users(users),
        )?,
        ..CopyReport::default()
    };

    // Source id → target id, both increasing: a reference to event X maps to the target id
    // of the newest copied event at or before X.
    let mut ids: Vec<(i64, i64)> = Vec::new();
    let mut batch: Vec<StoredEvent> = Vec::with_capacity(EVENT_BATCH);
    let mut failure = None;
    let flush = |batch: &mut Vec<StoredEvent>, ids: &mut Vec<(i64, i64)>| -> Result<()> {
        if batch.is_empty() {
            return Ok(());
        }
        let events: Vec<NewEvent<'_>> = batch.iter().map(as_new).collect();
        to.append_events(&events)?;
        let last = to
            .last_event_id()?
            .ok_or_else(|| StoreError::Corrupt("events vanished while copying".into()))?;
        let first = last.0 - batch.len() as i64 + 1;
        ids.extend(
            batch
                .iter()
                .enumerate()
                .map(|(k, e)| (e.id.0, first + k as i64)),
        );
        batch.clear();
        Ok(())
    };
    // The target is empty: a bulk load (on PostgreSQL, the history index built once after).
    to.bulk_load(&mut || {
        from.scan_events(None, &mut |event| {
            if failure.is_some() {
                return;
            }
            batch.push(event.clone());
            if batch.len() == EVENT_BATCH
                && let Err(e) = flush(&mut batch, &mut ids)
            {
                failure = Some(e);
            }
        })?;
        if let Some(e) = failure.take() {
            return Err(e);
        }
        flush(&mut batch, &mut ids)?;
        Ok(ids.len() as u64)
    })?;
    report.events = ids.len() as u64;
    let translate = |id: EventId| -> EventId {
        match ids.partition_point(|&(source, _)| source <= id.0) {
            0 => EventId(0),
            k => EventId(ids[k - 1].1),
        }
    };

    for info in from.list_models()? {
        let Some(stored) = from.model(info.version)? else {
            continue;
        };
        let mut meta = stored.info.meta.clone();
        meta.last_event_id = meta.last_event_id.map(translate);
        to.save_model(&meta, &stored.bytes)?;
        report.models += 1;
    }

    for experiment in from.experiments()? {
        to.create_experiment(&ExperimentRecord {
            first_event: translate(experiment.first_event),
            ..experiment.clone()
        })?;
        report.experiments += 1;
        let mut served: Vec<Impression> = Vec::new();
        from.experiment_impressions(&experiment.name, i64::MIN, &mut |i| served.push(i.clone()))?;
        for chunk in served.chunks(EVENT_BATCH) {
            report.served_lists += to.log_impressions(chunk)?;
        }
    }

    for placement in from.placements()? {
        to.put_placement(&placement)?;
        report.placements += 1;
    }

    let mut tunings = from.tunings(MAX_PAGE)?;
    tunings.reverse();
    for tuning in &tunings {
        to.save_tuning(&tuning.tuning)?;
        report.tunings += 1;
    }
    Ok(report)
}

/// Pages through a listing, writing each page; returns how many records were written.
fn copy_pages<T>(
    list: impl Fn(Option<Cursor>) -> Result<Page<T>>,
    write: impl Fn(&[T]) -> Result<u64>,
) -> Result<u64> {
    let (mut after, mut written) = (None, 0);
    loop {
        let page = list(after)?;
        written += write(&page.entries)?;
        match page.next {
            Some(next) => after = Some(next),
            None => return Ok(written),
        }
    }
}

fn as_new(event: &StoredEvent) -> NewEvent<'_> {
    NewEvent {
        user_id: &event.user_id,
        item_id: &event.item_id,
        kind: &event.kind,
        value: event.value,
        timestamp: event.timestamp,
        recommendation_id: event.recommendation_id.as_deref(),
        position: event.position,
        quantity: event.quantity,
        price: event.price,
        basket: event.basket.as_deref(),
    }
}

#[cfg(test)]
mod tests {
    use std::sync::Arc;

    use super::*;
    use crate::conformance::{event, item};
    use crate::postgres::testing::TestDatabase;
    use crate::record::ModelMeta;
    use crate::{PostgresStore, SqliteStore};

    /// A store with a bit of everything, and a gap in its event ids.
    fn fill(store: &dyn Store) {
        store
            .upsert_items(&[item("i1", "Lamp"), item("i0", "Chair")])
            .unwrap();
        store
            .upsert_users(&[aisle_data::User {
                id: "u0".into(),
                attributes: Default::default(),
            }])
            .unwrap();
        let events: Vec<_> = (0..25).map(event).collect();
        store.append_events(&events).unwrap();
        store.delete_user("u1", true).unwrap();
        store.append_events(&[event(30)]).unwrap();
        let last = store.last_event_id().unwrap();
        store
            .save_model(
                &ModelMeta {
                    name: "als".into(),
                    params: serde_json::json!({"factors": 8}),
                    trained_at: 5,
                    metrics: serde_json::json!({}),
                    format_version: 1,
                    last_event_id: last,
                },
                b"model bytes",
            )
            .unwrap();
        store
            .create_experiment(&ExperimentRecord {
                name: "ab".into(),
                definition: serde_json::json!({"variants": []}),
                created_at: 7,
                stopped_at: None,
                first_event: EventId(3),
            })
            .unwrap();
        store
            .log_impressions(&[Impression {
                recommendation_id: "r1".into(),
                user_id: Some("u0".into()),
                model: "als".into(),
                model_version: 1,
                experiment: Some("ab".into()),
                variant: Some("a".into()),
                items: vec!["i1".into()],
                served_at: 9,
            }])
            .unwrap();
        store
            .put_placement(&crate::PlacementRecord {
                name: "home".into(),
                definition: serde_json::json!({"source": "user", "rules": [{"pin": {"item_id": "i0", "position": 0}}]}),
                updated_at: 11,
            })
            .unwrap();
    }

    /// Everything a copy must keep, in a comparable form.
    fn contents(store: &dyn Store) -> String {
        let mut events = Vec::new();
        store
            .scan_events(None, &mut |e| {
                events.push((
                    e.user_id.clone(),
                    e.item_id.clone(),
                    e.kind.clone(),
                    e.value,
                ))
            })
            .unwrap();
        let models: Vec<_> = store
            .list_models()
            .unwrap()
            .into_iter()
            .map(|m| {
                // The last event, as the event it names rather than its id.
                let last = m.meta.last_event_id.map(|id| {
                    let mut named = None;
                    store
                        .scan_events(Some(EventId(id.0 - 1)), &mut |e| {
                            if named.is_none() {
                                named = Some((e.user_id.clone(), e.item_id.clone()));
                            }
                        })
                        .unwrap();
                    named
                });
                (
                    m.meta.name,
                    m.meta.params,
                    last,
                    store.model(m.version).unwrap().unwrap().bytes,
                )
            })
            .collect();
        let mut served = Vec::new();
        store
            .experiment_impressions("ab", i64::MIN, &mut |i| served.push(i.clone()))
            .unwrap();
        let experiments: Vec<_> = store
            .experiments()
            .unwrap()
            .into_iter()
            .map(|e| (e.name, e.definition, e.created_at))
            .collect();
        format!(
            "{:?}\n{:?}\n{events:?}\n{models:?}\n{experiments:?}\n{served:?}\n{:?}",
            store.list_items(None, 100).unwrap().entries,
            store.list_users(None, 100).unwrap().entries,
            store.placements().unwrap(),
        )
    }

    #[test]
    fn sqlite_to_postgres_and_back_keeps_everything() {
        let Some(database) = TestDatabase::create() else {
            return;
        };
        let dir = tempfile::tempdir().unwrap();
        let source = SqliteStore::open(dir.path().join("a.db")).unwrap();
        fill(&source);
        let postgres: Arc<dyn Store> = Arc::new(PostgresStore::open(&database.url).unwrap());
        let report = copy(&source, postgres.as_ref()).unwrap();
        assert_eq!((report.items, report.users, report.models), (2, 1, 1));
        assert_eq!((report.experiments, report.served_lists), (1, 1));
        assert_eq!(report.placements, 1);
        let back = SqliteStore::open(dir.path().join("b.db")).unwrap();
        copy(postgres.as_ref(), &back).unwrap();
        let expected = contents(&source);
        assert_eq!(contents(postgres.as_ref()), expected);
        assert_eq!(contents(&back), expected);
        // Into a store that is not empty: refused, nothing written.
        let err = copy(&source, &back).unwrap_err();
        assert!(err.to_string().contains("not empty"), "{err}");
    }

    #[test]
    fn sqlite_to_sqlite_translates_event_references() {
        let dir = tempfile::tempdir().unwrap();
        let source = SqliteStore::open(dir.path().join("a.db")).unwrap();
        fill(&source);
        let target = SqliteStore::open(dir.path().join("b.db")).unwrap();
        let report = copy(&source, &target).unwrap();
        assert_eq!(report.events, 18, "25 appended, 8 of u1 erased, 1 more");
        assert_eq!(contents(&target), contents(&source));
    }
}
