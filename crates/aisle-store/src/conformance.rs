//! The behaviour every [`Store`] backend must have, written once: each function here takes a
//! fresh, empty store and checks one part of the trait's contract (ordering, atomicity,
//! round trips, concurrency). [`conformance_tests!`] instantiates all of them as `#[test]`s
//! for a backend, so SQLite and PostgreSQL run the same bodies.

use std::sync::Arc;

use aisle_data::{Item, User};
use serde_json::{Map, json};

use crate::error::StoreError;
use crate::record::{
    DayCount, DeletedUser, EventId, ExperimentRecord, Impression, ModelMeta, ModelVersion,
    NewEvent, NewTuning, ScanSummary, StoredEvent,
};
use crate::store::Store;

/// Instantiates every conformance test for a backend: `$make` is an expression giving
/// `(guard, Arc<dyn Store>)` for a fresh empty store; the guard (a temporary directory, a
/// database dropped afterwards) lives until the test ends. `$skip` returns a reason to skip
/// (no server to test against) or `None`.
macro_rules! conformance_tests {
    ($make:expr) => {
        conformance_tests!(@each $make; items_round_trip_update_in_place_and_delete, listings_page_through_everything_in_insertion_order, users_round_trip_and_delete, appended_events_scan_back_in_order_with_every_field, an_invalid_event_rejects_the_whole_batch, user_events_are_the_most_recent_oldest_first, event_ids_are_not_reused_after_deletion, model_versions_grow_and_latest_picks_the_newest, the_store_is_shared_across_threads, a_scan_visitor_may_use_the_store, experiments_and_served_lists_round_trip, placements_are_replaced_listed_by_name_and_deleted, events_are_counted_per_day_and_type, catalogue_changes_follow_writes_and_deletes, tunings_are_kept_newest_first);
    };
    (@each $make:expr; $($name:ident),*) => {
        $(
            #[test]
            fn $name() {
                let Some((guard, store)) = $make else { return };
                $crate::conformance::$name(store);
                drop(guard);
            }
        )*
    };
}
pub(crate) use conformance_tests;

pub(crate) fn item(id: &str, title: &str) -> Item {
    let mut attributes = Map::new();
    attributes.insert("brand".into(), json!("Acme"));
    attributes.insert("sizes".into(), json!([1, 2]));
    Item {
        id: id.into(),
        title: title.into(),
        categories: vec!["home".into(), "lighting".into()],
        price: Some(19.99),
        available: false,
        created_at: Some(1_704_067_200),
        attributes,
    }
}

pub(crate) fn event(n: usize) -> NewEvent<'static> {
    const USERS: [&str; 3] = ["u0", "u1", "u2"];
    const ITEMS: [&str; 4] = ["i0", "i1", "i2", "i3"];
    NewEvent {
        user_id: USERS[n % 3],
        item_id: ITEMS[n % 4],
        kind: if n.is_multiple_of(5) {
            "purchase"
        } else {
            "view"
        },
        value: (n.is_multiple_of(5)).then_some(n as f64 + 0.25),
        timestamp: (!n.is_multiple_of(7)).then_some(1_700_000_000 + n as i64),
        recommendation_id: (n.is_multiple_of(2)).then_some("rec-1"),
        position: (n.is_multiple_of(2)).then_some(n as u32),
        quantity: (n.is_multiple_of(3)).then_some(n as f64 + 1.5),
        price: (n.is_multiple_of(4)).then_some(9.99),
        basket: (n.is_multiple_of(5)).then_some("order-1"),
    }
}

pub(crate) fn same_event(stored: &StoredEvent, new: &NewEvent<'_>) -> bool {
    stored.user_id == new.user_id
        && stored.item_id == new.item_id
        && stored.kind == new.kind
        && stored.value == new.value
        && stored.timestamp == new.timestamp
        && stored.recommendation_id.as_deref() == new.recommendation_id
        && stored.position == new.position
        && stored.quantity == new.quantity
        && stored.price == new.price
        && stored.basket.as_deref() == new.basket
}

pub(crate) fn items_round_trip_update_in_place_and_delete(store: Arc<dyn Store>) {
    let lamp = item("i1", "Lamp");
    let mug = Item {
        id: "i2".into(),
        ..Item::default()
    };
    assert_eq!(store.upsert_items(&[lamp.clone(), mug.clone()]).unwrap(), 2);
    assert_eq!(store.item("i1").unwrap(), Some(lamp.clone()));
    assert_eq!(store.item("i2").unwrap(), Some(mug.clone()));
    assert_eq!(store.item("nope").unwrap(), None);

    let lamp_v2 = Item {
        title: "Lamp v2".into(),
        price: None,
        available: true,
        ..lamp.clone()
    };
    store.upsert_items(std::slice::from_ref(&lamp_v2)).unwrap();
    assert_eq!(
        store.get_items(&["i2", "nope", "i1"]).unwrap(),
        vec![mug.clone(), lamp_v2.clone()]
    );
    // The replaced item keeps its place in the listing.
    let ids: Vec<String> = store
        .list_items(None, 10)
        .unwrap()
        .entries
        .into_iter()
        .map(|i| i.id)
        .collect();
    assert_eq!(ids, ["i1", "i2"]);

    store.delete_item("i1").unwrap();
    assert_eq!(store.item("i1").unwrap(), None);
    match store.delete_item("i1") {
        Err(e @ StoreError::UnknownItem(_)) => assert!(e.is_user_error()),
        other => panic!("{other:?}"),
    }
    let bad = Item {
        id: "i3".into(),
        price: Some(f64::INFINITY),
        ..Item::default()
    };
    assert!(store.upsert_items(&[item("i4", "ok"), bad]).is_err());
    assert_eq!(
        store.item("i4").unwrap(),
        None,
        "a refused batch writes nothing"
    );
}

pub(crate) fn listings_page_through_everything_in_insertion_order(store: Arc<dyn Store>) {
    let items: Vec<Item> = (0..25)
        .map(|k| item(&format!("item-{}", 100 - k), "x"))
        .collect();
    store.upsert_items(&items).unwrap();
    let mut seen = Vec::new();
    let mut after = None;
    let mut pages = 0;
    loop {
        let page = store.list_items(after, 10).unwrap();
        pages += 1;
        seen.extend(page.entries.into_iter().map(|i| i.id));
        match page.next {
            Some(next) => after = Some(next),
            None => break,
        }
    }
    assert_eq!(pages, 3);
    let expected: Vec<String> = items.iter().map(|i| i.id.clone()).collect();
    assert_eq!(seen, expected);
    // A page that ends exactly at the last entry has no next cursor.
    let exact = store.list_items(None, 25).unwrap();
    assert_eq!((exact.entries.len(), exact.next), (25, None));
    assert!(store.list_items(None, 0).is_err());
    assert!(store.list_items(None, crate::MAX_PAGE + 1).is_err());
}

pub(crate) fn users_round_trip_and_delete(store: Arc<dyn Store>) {
    let mut attributes = Map::new();
    attributes.insert("country".into(), json!("DE"));
    let alice = User {
        id: "alice".into(),
        attributes,
    };
    let bob = User {
        id: "bob".into(),
        attributes: Map::new(),
    };
    store.upsert_users(&[alice.clone(), bob.clone()]).unwrap();
    assert_eq!(store.user("alice").unwrap(), Some(alice.clone()));
    let alice_v2 = User {
        attributes: Map::new(),
        ..alice
    };
    store.upsert_users(std::slice::from_ref(&alice_v2)).unwrap();
    assert_eq!(store.user("alice").unwrap(), Some(alice_v2.clone()));
    let page = store.list_users(None, 10).unwrap();
    assert_eq!(page.entries, vec![alice_v2, bob.clone()]);
    assert!(!store.user_deleted("bob").unwrap());
    assert_eq!(
        store.delete_user("bob", false).unwrap(),
        DeletedUser {
            record: true,
            events: 0
        }
    );
    assert_eq!(store.user("bob").unwrap(), None);
    assert!(store.user_deleted("bob").unwrap());
    assert!(matches!(
        store.delete_user("bob", false),
        Err(StoreError::UnknownUser(_))
    ));
    // Stored again: not deleted any more.
    store.upsert_users(std::slice::from_ref(&bob)).unwrap();
    assert!(!store.user_deleted("bob").unwrap());
    assert!(
        store
            .upsert_users(&[User {
                id: "".into(),
                attributes: Map::new()
            }])
            .is_err()
    );
    assert_eq!(
        store.counts().unwrap().users,
        2,
        "alice and bob, stored again"
    );
}

pub(crate) fn appended_events_scan_back_in_order_with_every_field(store: Arc<dyn Store>) {
    let first: Vec<NewEvent<'_>> = (0..1000).map(event).collect();
    let second: Vec<NewEvent<'_>> = (1000..1500).map(event).collect();
    assert_eq!(store.append_events(&first).unwrap(), 1000);
    assert_eq!(store.append_events(&second).unwrap(), 500);
    assert_eq!(store.append_events(&[]).unwrap(), 0);

    let mut seen: Vec<StoredEvent> = Vec::new();
    let summary = store
        .scan_events(None, &mut |e| seen.push(e.clone()))
        .unwrap();
    assert_eq!(summary.events, 1500);
    assert_eq!(summary.last, Some(seen[1499].id));
    assert!(seen.windows(2).all(|w| w[0].id < w[1].id));
    for (stored, new) in seen.iter().zip(first.iter().chain(&second)) {
        assert!(same_event(stored, new), "{stored:?} vs {new:?}");
    }

    // Continuing from a cursor visits exactly the later events.
    let cursor = seen[999].id;
    let mut later = 0;
    let rest = store
        .scan_events(Some(cursor), &mut |e| {
            assert!(e.id > cursor);
            later += 1;
        })
        .unwrap();
    assert_eq!((later, rest.events, rest.last), (500, 500, summary.last));
    let nothing = store.scan_events(summary.last, &mut |_| {}).unwrap();
    assert_eq!(nothing, ScanSummary::default());
}

pub(crate) fn an_invalid_event_rejects_the_whole_batch(store: Arc<dyn Store>) {
    let mut batch: Vec<NewEvent<'_>> = (0..10).map(event).collect();
    batch[6].item_id = "";
    match store.append_events(&batch) {
        Err(e @ StoreError::InvalidEvent { index: 6, .. }) => assert!(e.is_user_error()),
        other => panic!("{other:?}"),
    }
    assert_eq!(store.counts().unwrap().events, 0);
}

pub(crate) fn user_events_are_the_most_recent_oldest_first(store: Arc<dyn Store>) {
    let at = |item: &'static str, t: Option<i64>| NewEvent {
        timestamp: t,
        ..NewEvent::new("u", item, "view")
    };
    store
        .append_events(&[
            at("late", Some(300)),
            at("untimed", None),
            at("early", Some(100)),
            NewEvent::new("other-user", "x", "view"),
            at("middle", Some(200)),
            at("late-too", Some(300)),
        ])
        .unwrap();
    let items = |events: Vec<StoredEvent>| -> Vec<String> {
        events.into_iter().map(|e| e.item_id).collect()
    };
    assert_eq!(
        items(store.user_events("u", 3).unwrap()),
        ["middle", "late", "late-too"]
    );
    assert_eq!(
        items(store.user_events("u", 100).unwrap()),
        ["untimed", "early", "middle", "late", "late-too"]
    );
    assert!(store.user_events("nobody", 5).unwrap().is_empty());
    assert!(store.user_events("u", 0).is_err());
    // The history a list reads is the same events and the deletion flag, in one read.
    let history_agrees = |user: &str, limit: usize| {
        let (events, deleted) = store.user_history(user, limit).unwrap();
        assert_eq!(events, store.user_events(user, limit).unwrap(), "{user}");
        assert_eq!(deleted, store.user_deleted(user).unwrap(), "{user}");
    };
    history_agrees("u", 3);
    history_agrees("u", 100);
    history_agrees("nobody", 5);
    assert_eq!(
        store.delete_user("u", true).unwrap(),
        DeletedUser {
            record: false,
            events: 5
        }
    );
    assert_eq!(store.counts().unwrap().events, 1);
    assert!(store.user_deleted("u").unwrap());
    assert_eq!(store.user_history("u", 5).unwrap(), (Vec::new(), true));
    history_agrees("other-user", 5);
    // A new event of theirs brings them back.
    store
        .append_events(&[NewEvent::new("u", "i9", "view")])
        .unwrap();
    assert!(!store.user_deleted("u").unwrap());
    history_agrees("u", 5);
}

pub(crate) fn event_ids_are_not_reused_after_deletion(store: Arc<dyn Store>) {
    store
        .append_events(&[
            NewEvent::new("a", "i", "view"),
            NewEvent::new("b", "i", "view"),
        ])
        .unwrap();
    let before = store.scan_events(None, &mut |_| {}).unwrap().last.unwrap();
    store.delete_user("b", true).unwrap();
    store
        .append_events(&[NewEvent::new("c", "i", "view")])
        .unwrap();
    let after = store.scan_events(Some(before), &mut |_| {}).unwrap();
    assert_eq!(
        after.events, 1,
        "the new event is found after the old cursor"
    );
}

pub(crate) fn model_versions_grow_and_latest_picks_the_newest(store: Arc<dyn Store>) {
    let meta = |name: &str, factors: u32| ModelMeta {
        name: name.into(),
        params: json!({ "factors": factors }),
        trained_at: 1_700_000_000 + i64::from(factors),
        metrics: json!({ "ndcg@10": 0.3 }),
        format_version: 2,
        last_event_id: (factors > 16).then_some(EventId(i64::from(factors))),
    };
    assert!(store.latest_model("als").unwrap().is_none());
    let v1 = store.save_model(&meta("als", 16), b"first").unwrap();
    let v2 = store.save_model(&meta("ease", 0), &[0u8, 255, 7]).unwrap();
    let v3 = store.save_model(&meta("als", 32), b"third").unwrap();
    assert!(v1 < v2 && v2 < v3);

    let latest = store.latest_model("als").unwrap().unwrap();
    assert_eq!(latest.info.version, v3);
    assert_eq!(latest.bytes, b"third");
    assert_eq!(latest.info.meta, meta("als", 32));
    assert_eq!(latest.info.size, 5);
    let ease = store.model(v2).unwrap().unwrap();
    assert_eq!(
        (ease.info.meta.name.as_str(), ease.bytes),
        ("ease", vec![0, 255, 7])
    );
    assert!(store.model(ModelVersion(v3.0 + 1)).unwrap().is_none());

    let listed: Vec<ModelVersion> = store
        .list_models()
        .unwrap()
        .iter()
        .map(|m| m.version)
        .collect();
    assert_eq!(listed, [v1, v2, v3]);
    assert_eq!(store.counts().unwrap().models, 3);
    assert!(store.save_model(&meta("", 1), b"x").is_err());
}

pub(crate) fn the_store_is_shared_across_threads(store: Arc<dyn Store>) {
    std::thread::scope(|scope| {
        for worker in 0..4 {
            let store = store.clone();
            scope.spawn(move || {
                for round in 0..25 {
                    let batch: Vec<NewEvent<'_>> = (0..20)
                        .map(|k| event(worker * 1000 + round * 20 + k))
                        .collect();
                    store.append_events(&batch).unwrap();
                    store.counts().unwrap();
                }
            });
        }
        let reader = store.clone();
        scope.spawn(move || {
            for _ in 0..50 {
                let mut last = EventId(0);
                reader
                    .scan_events(None, &mut |e| {
                        assert!(e.id > last);
                        last = e.id;
                    })
                    .unwrap();
            }
        });
    });
    assert_eq!(store.counts().unwrap().events, 4 * 25 * 20);
}

pub(crate) fn a_scan_visitor_may_use_the_store(store: Arc<dyn Store>) {
    store
        .append_events(&(0..50).map(event).collect::<Vec<_>>())
        .unwrap();
    let mut appended = 0;
    store
        .scan_events(None, &mut |e| {
            // Reads take another pooled connection and writes the write connection: neither
            // waits for the scan.
            assert!(store.user_events(&e.user_id, 5).unwrap().len() <= 5);
            if e.id.0 % 10 == 0 {
                store
                    .append_events(&[NewEvent::new("late", "i", "view")])
                    .unwrap();
                appended += 1;
            }
        })
        .unwrap();
    assert_eq!(store.counts().unwrap().events, 50 + appended);
}

pub(crate) fn experiments_and_served_lists_round_trip(store: Arc<dyn Store>) {
    assert_eq!(store.last_event_id().unwrap(), None);
    store.append_events(&[event(0), event(1)]).unwrap();
    let first_event = store.last_event_id().unwrap().unwrap();
    let experiment = ExperimentRecord {
        name: "ab1".into(),
        definition: json!({"variants": [{"name": "control", "model": "popular", "share": 0.5}]}),
        created_at: 1_700_000_000,
        stopped_at: None,
        first_event,
    };
    store.create_experiment(&experiment).unwrap();
    assert!(matches!(
        store.create_experiment(&experiment),
        Err(StoreError::AlreadyExists { .. })
    ));
    assert_eq!(store.experiments().unwrap(), vec![experiment.clone()]);
    store.stop_experiment("ab1", 1_700_000_500).unwrap();
    store.stop_experiment("ab1", 1_700_000_900).unwrap();
    assert_eq!(
        store.experiments().unwrap()[0].stopped_at,
        Some(1_700_000_500),
        "stopping again keeps the first stop"
    );
    assert!(matches!(
        store.stop_experiment("nope", 1),
        Err(StoreError::UnknownExperiment(_))
    ));

    let list = |id: &str, experiment: Option<&str>, at: i64| Impression {
        recommendation_id: id.into(),
        user_id: Some("u1".into()),
        model: "als".into(),
        model_version: 3,
        experiment: experiment.map(String::from),
        variant: experiment.map(|_| "cf".to_string()),
        items: vec!["i2".into(), "i0".into()],
        served_at: at,
    };
    let lists = [
        list("r2", Some("ab1"), 20),
        list("r1", Some("ab1"), 10),
        list("r3", None, 30),
    ];
    assert_eq!(store.log_impressions(&lists).unwrap(), 3);
    assert_eq!(
        store.log_impressions(&lists[..1]).unwrap(),
        0,
        "ids are recorded once"
    );
    let mut seen = Vec::new();
    let n = store
        .experiment_impressions("ab1", i64::MIN, &mut |i| seen.push(i.clone()))
        .unwrap();
    assert_eq!(n, 2);
    assert_eq!(seen, vec![lists[1].clone(), lists[0].clone()]);
    // Only those served at or after a time: what an incremental count re-reads.
    let mut since = Vec::new();
    store
        .experiment_impressions("ab1", 20, &mut |i| since.push(i.clone()))
        .unwrap();
    assert_eq!(since, vec![lists[0].clone()]);

    // Lists by id, whichever experiment; unknown ids skipped.
    let mut found = Vec::new();
    let n = store
        .impressions_by_id(&["r3", "nope", "r1", "r1"], &mut |i| found.push(i.clone()))
        .unwrap();
    found.sort_by(|a, b| a.recommendation_id.cmp(&b.recommendation_id));
    assert_eq!(n, 2);
    assert_eq!(found, vec![lists[1].clone(), lists[2].clone()]);
    assert_eq!(store.impressions_by_id(&[], &mut |_| ()).unwrap(), 0);

    // A user's lists since a time, newest first, limited.
    let mut other = list("r4", None, 25);
    other.user_id = Some("u2".into());
    store.log_impressions(&[other]).unwrap();
    let recent = store.user_impressions("u1", 15, 10).unwrap();
    assert_eq!(recent, vec![lists[2].clone(), lists[0].clone()]);
    assert_eq!(
        store.user_impressions("u1", 0, 1).unwrap(),
        vec![lists[2].clone()]
    );
    assert!(store.user_impressions("u9", 0, 10).unwrap().is_empty());

    // Everyone's lists since a time, newest first, limited.
    let mut recent_ids = Vec::new();
    let n = store
        .recent_impressions(15, 10, &mut |i| {
            recent_ids.push(i.recommendation_id.clone())
        })
        .unwrap();
    assert_eq!(
        (n, recent_ids),
        (3, vec!["r3".into(), "r4".into(), "r2".into()])
    );
    let mut newest = Vec::new();
    store
        .recent_impressions(0, 1, &mut |i| newest.push(i.clone()))
        .unwrap();
    assert_eq!(newest, vec![lists[2].clone()]);

    // Retention: lists served before a time go, in batches.
    assert_eq!(store.counts().unwrap().served_lists, 4);
    assert_eq!(store.delete_impressions_before(25, 1).unwrap(), 1);
    assert_eq!(store.delete_impressions_before(25, 10).unwrap(), 1);
    assert_eq!(store.delete_impressions_before(25, 10).unwrap(), 0);
    let mut kept = Vec::new();
    store
        .recent_impressions(0, 10, &mut |i| kept.push(i.recommendation_id.clone()))
        .unwrap();
    assert_eq!(kept, vec!["r3".to_string(), "r4".into()]);

    // ...and dated events, oldest first; undated ones stay.
    store
        .append_events(&(0..20).map(event).collect::<Vec<_>>())
        .unwrap();
    // With the two events appended at the start.
    let events: Vec<_> = [0, 1].into_iter().chain(0..20).map(event).collect();
    let dated_before = |t: i64| {
        events
            .iter()
            .filter(|e| e.timestamp.is_some_and(|ts| ts < t))
            .count() as u64
    };
    let cutoff = 1_700_000_010;
    assert_eq!(store.delete_events_before(cutoff, 3).unwrap(), 3);
    assert_eq!(
        store.delete_events_before(cutoff, 100).unwrap(),
        dated_before(cutoff) - 3
    );
    assert_eq!(
        store.counts().unwrap().events,
        22 - dated_before(cutoff),
        "undated and newer events stay"
    );
}

pub(crate) fn placements_are_replaced_listed_by_name_and_deleted(store: Arc<dyn Store>) {
    use crate::record::PlacementRecord;
    let placement = |name: &str, n: u64, at: i64| PlacementRecord {
        name: name.into(),
        definition: json!({"source": "user", "n": n, "rules": [{"diversity": {"field": "category", "max": 2}}]}),
        updated_at: at,
    };
    assert!(store.placements().unwrap().is_empty());
    store
        .put_placement(&placement("product-page", 4, 1))
        .unwrap();
    store.put_placement(&placement("home", 10, 2)).unwrap();
    store.put_placement(&placement("home", 12, 3)).unwrap();
    assert_eq!(
        store.placements().unwrap(),
        vec![placement("home", 12, 3), placement("product-page", 4, 1)]
    );
    assert!(store.delete_placement("home").unwrap());
    assert!(!store.delete_placement("home").unwrap());
    assert_eq!(
        store.placements().unwrap(),
        vec![placement("product-page", 4, 1)]
    );
    assert!(
        store.put_placement(&placement("", 1, 1)).is_err(),
        "an empty name is refused"
    );
}

pub(crate) fn events_are_counted_per_day_and_type(store: Arc<dyn Store>) {
    let at = |kind: &'static str, timestamp: Option<i64>| NewEvent {
        timestamp,
        ..NewEvent::new("u", "i", kind)
    };
    let jan_2 = Some(1_704_153_600);
    store
        .append_events(&[
            at("view", Some(1_704_067_200)), // 2024-01-01 00:00
            at("view", Some(1_704_153_599)), // 2024-01-01 23:59:59
            NewEvent {
                value: Some(12.5),
                ..at("purchase", jan_2)
            },
            // No value: quantity × price, or the price once.
            NewEvent {
                quantity: Some(3.0),
                price: Some(2.0),
                ..at("purchase", jan_2)
            },
            NewEvent {
                price: Some(4.0),
                ..at("purchase", jan_2)
            },
            NewEvent {
                quantity: Some(1.0),
                price: Some(2.0),
                ..at("return", jan_2)
            },
            at("purchase", jan_2),
            at("view", None),
        ])
        .unwrap();
    let days = store.events_per_day().unwrap();
    let day = |d: &str, k: &str, c: u64, amount: f64| DayCount {
        day: d.into(),
        kind: k.into(),
        count: c,
        amount,
    };
    assert_eq!(
        days,
        vec![
            day("2024-01-01", "view", 2, 0.0),
            day("2024-01-02", "purchase", 4, 12.5 + 6.0 + 4.0),
            day("2024-01-02", "return", 1, 2.0),
        ]
    );
}

pub(crate) fn catalogue_changes_follow_writes_and_deletes(store: Arc<dyn Store>) {
    let start = store.catalogue_version().unwrap();
    assert_eq!(
        store.catalogue_changes(start).unwrap().changed,
        Vec::<String>::new()
    );
    store
        .upsert_items(&[item("i1", "Lamp"), item("i2", "Chair")])
        .unwrap();
    let after_write = store.catalogue_changes(start).unwrap();
    let mut changed = after_write.changed.clone();
    changed.sort();
    assert_eq!(changed, ["i1", "i2"]);
    assert!(after_write.version > start);

    store.delete_item("i1").unwrap();
    store.upsert_items(&[item("i3", "Desk")]).unwrap();
    let later = store.catalogue_changes(after_write.version).unwrap();
    let mut changed = later.changed.clone();
    changed.sort();
    assert_eq!(changed, ["i1", "i3"], "a deletion is a change too");
    assert_eq!(later.version, store.catalogue_version().unwrap());
    assert!(
        store
            .catalogue_changes(later.version)
            .unwrap()
            .changed
            .is_empty()
    );
    // An item written again after its deletion is there, and reported once.
    store.upsert_items(&[item("i1", "Lamp II")]).unwrap();
    let revived = store.catalogue_changes(later.version).unwrap();
    assert_eq!(revived.changed, ["i1"]);
    assert_eq!(store.item("i1").unwrap().unwrap().title, "Lamp II");
    assert!(matches!(
        store.delete_item("nope"),
        Err(StoreError::UnknownItem(_))
    ));
}

pub(crate) fn tunings_are_kept_newest_first(store: Arc<dyn Store>) {
    assert_eq!(store.latest_tuning("als").unwrap(), None);
    let tuning = |model: &str, factors: u32| NewTuning {
        model: model.into(),
        weighting: "binary".into(),
        params: json!({"factors": factors, "regularization": 31.5}),
        metric: "ndcg@10".into(),
        score: 0.41,
        default_score: 0.4,
        trials: 40,
        seconds: 12.5,
        report: json!({"trials": [{"phase": "defaults", "score": 0.4}]}),
    };
    let first = store.save_tuning(&tuning("als", 64)).unwrap();
    let second = store.save_tuning(&tuning("ease", 0)).unwrap();
    let third = store.save_tuning(&tuning("als", 96)).unwrap();
    assert!(first < second && second < third);
    let latest = store.latest_tuning("als").unwrap().unwrap();
    assert_eq!((latest.id, &latest.tuning), (third, &tuning("als", 96)));
    assert!(latest.created_at > 1_700_000_000);
    let all: Vec<i64> = store.tunings(10).unwrap().iter().map(|t| t.id).collect();
    assert_eq!(all, [third, second, first]);
    assert_eq!(store.tunings(1).unwrap().len(), 1);
    let bad = NewTuning {
        score: f64::NAN,
        ..tuning("als", 1)
    };
    assert!(matches!(
        store.save_tuning(&bad),
        Err(StoreError::InvalidArgument { .. })
    ));
}
