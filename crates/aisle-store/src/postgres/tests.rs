use std::sync::Arc;

use super::*;
use crate::conformance::conformance_tests;
use crate::postgres::testing::{TestDatabase, execute};

fn fresh() -> Option<(TestDatabase, Arc<dyn Store>)> {
    let database = TestDatabase::create()?;
    let store = PostgresStore::open(&database.url).expect("open the test database");
    Some((database, Arc::new(store) as Arc<dyn Store>))
}

conformance_tests!(fresh());

#[test]
fn the_history_flag_follows_every_event_column() {
    assert_eq!(EVENT_COLUMNS.split(',').count(), EVENT_COLUMN_COUNT);
}

#[test]
fn a_broken_direct_connection_is_replaced() {
    let Some(database) = TestDatabase::create() else {
        return;
    };
    let store = PostgresStore::open(&database.url).unwrap();
    store
        .append_events(&[NewEvent::new("u", "i1", "view")])
        .unwrap();
    assert_eq!(store.user_history("u", 10).unwrap().0.len(), 1);
    // Every connection of this database's but ours cut: the direct one breaks.
    execute(
        &database.url,
        "SELECT pg_terminate_backend(pid) FROM pg_stat_activity
         WHERE datname = current_database() AND pid <> pg_backend_pid()",
    )
    .unwrap();
    let mut answers = Vec::new();
    for _ in 0..3 {
        answers.push(store.user_history("u", 10).map(|(events, _)| events.len()));
    }
    // At most the first read fails (as unavailable); the next opens a new connection.
    assert!(
        answers.iter().skip(1).all(|a| matches!(a, Ok(1))),
        "{answers:?}"
    );
    if let Err(e) = &answers[0] {
        assert!(matches!(e, StoreError::Unavailable(_)), "{e}");
    }
}

#[test]
fn foreign_and_newer_databases_are_refused() {
    let Some(database) = TestDatabase::create() else {
        return;
    };
    execute(&database.url, "CREATE TABLE orders (id integer)").unwrap();
    let err = PostgresStore::open(&database.url).unwrap_err();
    assert!(matches!(err, StoreError::NotAStore { .. }), "{err}");
    execute(&database.url, "DROP TABLE orders").unwrap();

    let store = PostgresStore::open(&database.url).unwrap();
    assert_eq!(store.migrated_from(), 0);
    drop(store);
    execute(
        &database.url,
        "UPDATE aisle_meta SET value = '99' WHERE key = 'schema_version'",
    )
    .unwrap();
    match PostgresStore::open(&database.url).unwrap_err() {
        StoreError::NewerSchema { found, .. } => assert_eq!(found, 99),
        other => panic!("{other}"),
    }
}

#[test]
fn one_replica_at_a_time_holds_the_trainer_lock() {
    let Some((_database, store)) = fresh() else {
        return;
    };
    let first = store.try_trainer_lock().unwrap();
    assert!(first.is_some());
    assert!(
        store.try_trainer_lock().unwrap().is_none(),
        "held by the first"
    );
    drop(first);
    // The session that held it closed: the lock is free again.
    let mut again = None;
    for _ in 0..50 {
        again = store.try_trainer_lock().unwrap();
        if again.is_some() {
            break;
        }
        std::thread::sleep(std::time::Duration::from_millis(20));
    }
    assert!(again.is_some());
}

#[test]
fn the_location_hides_the_password() {
    assert_eq!(
        redact("postgres://shop:secret@db.example:5432/aisle"),
        "postgres://shop@db.example:5432/aisle"
    );
    assert_eq!(redact("postgres://db/aisle"), "postgres://db/aisle");
}

#[test]
fn another_replica_hears_of_models_catalogue_and_experiments_at_once() {
    use std::sync::mpsc;
    use std::time::Duration;

    let Some((database, writer)) = fresh() else {
        return;
    };
    let watcher = PostgresStore::open(&database.url).unwrap();
    let (heard, changes) = mpsc::channel();
    let heard = std::sync::Mutex::new(heard);
    let listen: ChangeListener = Box::new(move |change| {
        let _ = heard.lock().unwrap().send(change);
    });
    assert!(watcher.watch_changes(listen).unwrap());
    let next = || {
        changes
            .recv_timeout(Duration::from_secs(5))
            .expect("a notice")
    };

    // The listener needs a moment to be listening; a model saved before then is missed
    // (polling catches it), so keep saving until one is heard.
    let meta = ModelMeta {
        name: "als".into(),
        params: serde_json::json!({}),
        trained_at: 1_700_000_000,
        metrics: serde_json::json!({}),
        format_version: 2,
        last_event_id: None,
    };
    let mut first = None;
    for _ in 0..50 {
        writer.save_model(&meta, b"bytes").unwrap();
        if let Ok(change) = changes.recv_timeout(Duration::from_millis(100)) {
            first = Some(change);
            break;
        }
    }
    assert_eq!(first, Some(Change::Models));
    while changes.recv_timeout(Duration::from_millis(300)).is_ok() {}

    writer
        .upsert_items(&[Item {
            id: "i1".into(),
            ..Item::default()
        }])
        .unwrap();
    assert_eq!(next(), Change::Catalogue);
    writer
        .create_experiment(&ExperimentRecord {
            name: "home".into(),
            definition: serde_json::json!({}),
            created_at: 1_700_000_000,
            stopped_at: None,
            first_event: EventId(0),
        })
        .unwrap();
    assert_eq!(next(), Change::Experiments);

    // A write that fails sends nothing.
    assert!(writer.stop_experiment("nobody", 1).is_err());
    assert!(changes.recv_timeout(Duration::from_millis(500)).is_err());
}

#[test]
fn a_bulk_load_into_an_empty_store_builds_the_history_index_after() {
    let Some(database) = TestDatabase::create() else {
        return;
    };
    let store = PostgresStore::open(&database.url).unwrap();
    let has_index = |store: &PostgresStore| -> bool {
        store
            .run(store.row(
                "SELECT EXISTS (SELECT 1 FROM pg_indexes WHERE indexname = 'events_by_user')",
                &[],
            ))
            .unwrap()
            .get(0)
    };
    let events: Vec<NewEvent<'_>> = (0..1_500)
        .map(|k| NewEvent {
            timestamp: Some(k),
            ..NewEvent::new(if k % 2 == 0 { "a" } else { "b" }, "i", "view")
        })
        .collect();
    let mut dropped_meanwhile = false;
    let loaded = store
        .bulk_load(&mut || {
            dropped_meanwhile = !has_index(&store);
            store.append_events(&events)
        })
        .unwrap();
    assert_eq!(loaded, 1_500);
    assert!(dropped_meanwhile, "an empty store loads without the index");
    assert!(has_index(&store), "and builds it after");
    let newest = store.user_events("a", 3).unwrap();
    assert_eq!(
        newest.iter().map(|e| e.timestamp).collect::<Vec<_>>(),
        [Some(1_494), Some(1_496), Some(1_498)]
    );

    // A store holding events keeps its index through a load; a load that fails still
    // leaves it in place.
    let failed = store.bulk_load(&mut || {
        assert!(has_index(&store));
        Err(StoreError::Corrupt("the file ended early".into()))
    });
    assert!(failed.is_err());
    assert!(has_index(&store));
    // An import that died with the index dropped: the next open builds it.
    store
        .run(store.execute("DROP INDEX events_by_user", &[]))
        .unwrap();
    drop(store);
    let store = PostgresStore::open(&database.url).unwrap();
    assert!(has_index(&store));
}
