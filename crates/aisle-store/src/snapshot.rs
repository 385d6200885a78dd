//! Training snapshots: the store's events turned into an [`aisle_data::Dataset`] by the data
//! crate's own [`Cleaner`], so a model trained from the store sees exactly what it would see
//! from the same events in a file, and the same [`CleaningReport`](aisle_data::CleaningReport)
//! says what was dropped (exact duplicates from a file imported twice, types the options do
//! not declare, items no longer in the catalogue, ...).

use std::fmt::Write as _;

use aisle_data::reader::{RawRow, Record};
use aisle_data::time::format_timestamp;
use aisle_data::{Cleaner, CleaningOptions, Dataset, IdMap};

use crate::error::{Result, StoreError};
use crate::record::{EventId, MAX_PAGE};
use crate::store::Store;

/// Integers of this magnitude or more are read by the cleaner as milliseconds (or finer), so
/// such second counts are handed over as RFC 3339 text instead.
const LARGEST_PLAIN_SECONDS: u64 = 100_000_000_000;

/// A training snapshot: the cleaned dataset and the last event it saw, so a server can tell
/// which of a user's events arrived after the model was trained.
#[derive(Debug)]
pub struct Snapshot {
    pub dataset: Dataset,
    /// The id of the newest event scanned; `None` when the store held no events.
    pub last_event: Option<EventId>,
}

/// Builds a snapshot from every stored event; see [`Store::snapshot`].
pub fn snapshot<S: Store + ?Sized>(
    store: &S,
    options: &CleaningOptions,
    restrict_to_catalogue: bool,
) -> Result<Snapshot> {
    // Stored events are events whatever file they came from: their type says what they are.
    let options = CleaningOptions {
        kind: aisle_data::FileKind::Events,
        ..options.clone()
    };
    let mut cleaner = Cleaner::new(options)
        .map_err(|message| StoreError::invalid("cleaning options", message))?;
    if restrict_to_catalogue {
        cleaner = cleaner.with_catalogue(&catalogue_ids(store)?);
    }
    let mut value = String::new();
    let mut timestamp = String::new();
    let (mut quantity, mut price) = (String::new(), String::new());
    let summary = store.scan_events(None, &mut |event| {
        quantity.clear();
        if let Some(q) = event.quantity {
            let _ = write!(quantity, "{q}");
        }
        price.clear();
        if let Some(p) = event.price {
            let _ = write!(price, "{p}");
        }
        value.clear();
        if let Some(v) = event.value {
            let _ = write!(value, "{v}");
        }
        timestamp.clear();
        if let Some(t) = event.timestamp {
            if t.unsigned_abs() < LARGEST_PLAIN_SECONDS {
                let _ = write!(timestamp, "{t}");
            } else {
                timestamp.push_str(&format_timestamp(t));
            }
        }
        cleaner.visit(Record::Row(RawRow {
            line: u64::try_from(event.id.0).unwrap_or(0),
            user: event.user_id.as_bytes(),
            item: event.item_id.as_bytes(),
            kind: Some(event.kind.as_bytes()),
            value: event.value.map(|_| value.as_bytes()),
            timestamp: event.timestamp.map(|_| timestamp.as_bytes()),
            basket: event.basket.as_deref().map(str::as_bytes),
            quantity: event.quantity.map(|_| quantity.as_bytes()),
            price: event.price.map(|_| price.as_bytes()),
        }));
    })?;
    Ok(Snapshot {
        dataset: cleaner.finish(),
        last_event: summary.last,
    })
}

/// Every catalogue item id, in listing order.
fn catalogue_ids<S: Store + ?Sized>(store: &S) -> Result<IdMap> {
    let mut ids = IdMap::new();
    let mut after = None;
    loop {
        let page = store.list_items(after, MAX_PAGE)?;
        for item in &page.entries {
            ids.intern(&item.id);
        }
        match page.next {
            Some(next) => after = Some(next),
            None => return Ok(ids),
        }
    }
}

#[cfg(test)]
mod tests {
    use std::path::Path;

    use aisle_data::generate::{ShopConfig, generate};
    use aisle_data::{ByteCounter, Catalogue, DropReason, Event, ReadOptions};

    use super::*;
    use crate::ingest::append_dataset;
    use crate::record::NewEvent;
    use crate::sqlite::SqliteStore;

    fn load(path: &Path, options: &CleaningOptions, catalogue: Option<&Catalogue>) -> Dataset {
        let mut cleaner = Cleaner::new(options.clone()).unwrap();
        if let Some(catalogue) = catalogue {
            cleaner = cleaner.with_catalogue(&catalogue.ids);
        }
        Dataset::load_with(
            cleaner,
            path,
            &ReadOptions::default(),
            &ByteCounter::default(),
            None,
        )
        .unwrap()
    }

    /// The events without their source line (a line number in one, an event id in the other).
    fn events(dataset: &Dataset) -> Vec<(u32, u32, i64, u8, u32)> {
        let key = |e: &Event| (e.user, e.item, e.timestamp, e.kind, e.value.to_bits());
        dataset.events.iter().map(key).collect()
    }

    fn assert_same(from_file: &Dataset, from_store: &Dataset) {
        let ids = |map: &IdMap| map.ids().map(String::from).collect::<Vec<_>>();
        assert_eq!(ids(&from_store.users), ids(&from_file.users));
        assert_eq!(ids(&from_store.items), ids(&from_file.items));
        assert_eq!(events(from_store), events(from_file));
        assert_eq!(from_store.report.kept, from_file.report.kept);
    }

    fn shop(dir: &Path) {
        let config = ShopConfig {
            users: 300,
            items: 120,
            events: 20_000,
            seed: 7,
            ..ShopConfig::default()
        };
        generate(&config, dir, |_| {}).unwrap();
    }

    #[test]
    fn a_dataset_from_the_store_equals_the_one_from_the_file() {
        let dir = tempfile::tempdir().unwrap();
        shop(dir.path());
        let options = CleaningOptions {
            rating_scale: Some((1.0, 5.0)),
            ..CleaningOptions::default()
        };
        let from_file = load(&dir.path().join("events.csv"), &options, None);
        let store = SqliteStore::open(dir.path().join("aisle.db")).unwrap();
        let mut commits = Vec::new();
        let stored = append_dataset(&store, &from_file, 7_000, &mut |n| commits.push(n)).unwrap();
        assert_eq!(stored, from_file.report.kept);
        assert_eq!(commits.len(), from_file.events.len().div_ceil(7_000));
        let from_store = store.dataset(&options).unwrap();
        assert_same(&from_file, &from_store);
        assert_eq!(from_store.report.rows, from_file.report.kept);
        assert_eq!(from_store.report.dropped_total(), 0);

        // The same file imported again: the snapshot drops the copies as duplicates.
        append_dataset(&store, &from_file, 100_000, &mut |_| {}).unwrap();
        let twice = store.dataset(&options).unwrap();
        assert_same(&from_file, &twice);
        assert_eq!(
            twice.report.dropped.get(&DropReason::Duplicate),
            Some(&from_file.report.kept)
        );
    }

    #[test]
    fn the_dirty_fixture_round_trips_through_the_store() {
        let fixture = Path::new(env!("CARGO_MANIFEST_DIR"))
            .join("../aisle-data/tests/fixtures/dirty_shop.csv");
        let options = CleaningOptions {
            rating_scale: Some((1.0, 5.0)),
            ..CleaningOptions::default()
        };
        let from_file = load(&fixture, &options, None);
        assert!(from_file.report.dropped_total() > 0);
        let dir = tempfile::tempdir().unwrap();
        let store = SqliteStore::open(dir.path().join("aisle.db")).unwrap();
        append_dataset(&store, &from_file, 2, &mut |_| {}).unwrap();
        assert_same(&from_file, &store.dataset(&options).unwrap());
    }

    #[test]
    fn a_catalogue_snapshot_indexes_every_stored_item() {
        let dir = tempfile::tempdir().unwrap();
        shop(dir.path());
        let catalogue = Catalogue::load(&dir.path().join("items.csv")).unwrap();
        let options = CleaningOptions::default();
        let from_file = load(&dir.path().join("events.csv"), &options, Some(&catalogue));
        let store = SqliteStore::open(dir.path().join("aisle.db")).unwrap();
        store.upsert_items(&catalogue.items).unwrap();
        append_dataset(&store, &from_file, 100_000, &mut |_| {}).unwrap();
        let from_store = store.catalogue_dataset(&options).unwrap();
        assert_same(&from_file, &from_store);
        assert_eq!(from_store.n_items(), catalogue.items.len());

        // An item removed from the catalogue: its events are dropped, and counted.
        let gone = from_file.items.id(from_file.events[0].item).to_string();
        let its_events = from_file
            .events
            .iter()
            .filter(|e| from_file.items.id(e.item) == gone)
            .count() as u64;
        store.delete_item(&gone).unwrap();
        let after = store.catalogue_dataset(&options).unwrap();
        assert_eq!(
            after.report.dropped.get(&DropReason::UnknownItem),
            Some(&its_events)
        );
        assert_eq!(after.items.get(&gone), None);
    }

    #[test]
    fn extreme_values_and_unknown_types_are_cleaned_not_lost() {
        let dir = tempfile::tempdir().unwrap();
        let store = SqliteStore::open(dir.path().join("aisle.db")).unwrap();
        let far_future = 200_000_000_000; // year 8307: plain digits would read as milliseconds
        store
            .append_events(&[
                NewEvent {
                    timestamp: Some(far_future),
                    ..NewEvent::new("u", "i", "view")
                },
                NewEvent {
                    value: Some(0.1),
                    timestamp: Some(-5),
                    ..NewEvent::new("u", "j", "rating")
                },
                NewEvent::new("u", "k", "wishlist"),
            ])
            .unwrap();
        let d = store.dataset(&CleaningOptions::default()).unwrap();
        assert_eq!(d.report.rows, 3);
        assert_eq!(d.report.dropped.get(&DropReason::UnknownType), Some(&1));
        assert_eq!(d.report.examples[&DropReason::UnknownType], vec![3]);
        let by_item = |id: &str| {
            let index = d.items.get(id).unwrap();
            *d.events.iter().find(|e| e.item == index).unwrap()
        };
        assert_eq!(by_item("i").timestamp, far_future);
        assert_eq!((by_item("j").timestamp, by_item("j").value), (-5, 0.1));

        let mut options = CleaningOptions::default();
        options.event_types.set_weight("wishlist", 2.0).unwrap();
        assert_eq!(store.dataset(&options).unwrap().report.kept, 3);
        let bad = CleaningOptions {
            default_type: Some("nonsense".into()),
            ..CleaningOptions::default()
        };
        assert!(store.dataset(&bad).unwrap_err().is_user_error());
    }
}
