//! Tests of the SQLite backend: opening and versioning, round trips of every kind of record,
//! event order and durability, concurrency.

use std::io::{BufRead, BufReader, Write};
use std::sync::Arc;

use super::*;
use crate::conformance::{conformance_tests, event, item};

conformance_tests!(Some(temp_store_dyn()));

fn temp_store_dyn() -> (tempfile::TempDir, Arc<dyn Store>) {
    let (dir, store) = temp_store();
    (dir, Arc::new(store))
}

fn temp_store() -> (tempfile::TempDir, SqliteStore) {
    let dir = tempfile::tempdir().unwrap();
    let store = SqliteStore::open(dir.path().join("aisle.db")).unwrap();
    (dir, store)
}

#[test]
fn a_new_store_is_created_migrated_and_reopened() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("aisle.db");
    // An existing empty file is a new store too.
    std::fs::File::create(&path).unwrap();
    let store = SqliteStore::open(&path).unwrap();
    assert_eq!(store.migrated_from(), 0);
    assert_eq!(store.counts().unwrap(), Counts::default());
    store.upsert_items(&[item("i1", "Lamp")]).unwrap();
    drop(store);

    let store = SqliteStore::open(&path).unwrap();
    assert_eq!(store.migrated_from(), latest_version());
    assert_eq!(store.item("i1").unwrap().unwrap().title, "Lamp");
    let conn = Connection::open(&path).unwrap();
    let (mode, version, app): (String, i64, i64) = (
        conn.query_row("PRAGMA journal_mode", [], |r| r.get(0))
            .unwrap(),
        conn.query_row("PRAGMA user_version", [], |r| r.get(0))
            .unwrap(),
        conn.query_row("PRAGMA application_id", [], |r| r.get(0))
            .unwrap(),
    );
    assert_eq!(
        (mode.as_str(), version, app),
        ("wal", latest_version(), APPLICATION_ID)
    );
}

#[test]
fn a_store_from_a_newer_aisle_is_a_typed_error() {
    let (dir, store) = temp_store();
    let path = store.path().to_path_buf();
    drop(store);
    let conn = Connection::open(&path).unwrap();
    conn.pragma_update(None, "user_version", latest_version() + 7)
        .unwrap();
    drop(conn);
    match SqliteStore::open(&path) {
        Err(error @ StoreError::NewerSchema { .. }) => {
            assert_eq!(error.class(), crate::ErrorClass::Incompatible);
            assert!(error.to_string().contains("upgrade Aisle"), "{error}");
        }
        other => panic!("{other:?}"),
    }
    drop(dir);
}

#[test]
fn foreign_files_are_typed_errors_and_left_untouched() {
    let dir = tempfile::tempdir().unwrap();
    let text = dir.path().join("events.csv");
    let content = b"user_id,item_id\nu1,i1\n".repeat(100);
    std::fs::write(&text, &content).unwrap();
    match SqliteStore::open(&text) {
        Err(StoreError::NotAStore { reason, .. }) => {
            assert!(reason.contains("not a SQLite database"), "{reason}")
        }
        other => panic!("{other:?}"),
    }
    assert_eq!(std::fs::read(&text).unwrap(), content);

    let other = dir.path().join("other.db");
    Connection::open(&other)
        .unwrap()
        .execute_batch("CREATE TABLE orders (id INTEGER PRIMARY KEY)")
        .unwrap();
    assert!(matches!(
        SqliteStore::open(&other),
        Err(StoreError::NotAStore { .. })
    ));

    let missing_folder = dir.path().join("no/such/folder/aisle.db");
    let error = SqliteStore::open(&missing_folder).unwrap_err();
    assert!(matches!(error, StoreError::Open { .. }), "{error}");
    assert_eq!(error.class(), crate::ErrorClass::Internal);
}

const CHILD_ENV: &str = "AISLE_STORE_SIGKILL_CHILD";

/// In the child process: appends batches of 1,000 events forever, printing the total after
/// each acknowledged append, until the parent kills it.
fn append_until_killed(path: &str) -> ! {
    let store = SqliteStore::open(path).unwrap();
    let batch: Vec<NewEvent<'_>> = (0..1000).map(event).collect();
    let mut total = 0u64;
    let mut stdout = std::io::stdout();
    loop {
        total += store.append_events(&batch).unwrap();
        writeln!(stdout, "acked {total}").unwrap();
        stdout.flush().unwrap();
    }
}

#[test]
fn acknowledged_appends_survive_sigkill() {
    if let Ok(path) = std::env::var(CHILD_ENV) {
        append_until_killed(&path);
    }
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("aisle.db");
    let mut child = std::process::Command::new(std::env::current_exe().unwrap())
        .args([
            "--exact",
            "sqlite::tests::acknowledged_appends_survive_sigkill",
            "--nocapture",
            "--test-threads=1",
        ])
        .env(CHILD_ENV, &path)
        .stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::null())
        .spawn()
        .unwrap();
    let mut acked = 0u64;
    for line in BufReader::new(child.stdout.take().unwrap()).lines() {
        if let Some(n) = line.unwrap().strip_prefix("acked ") {
            acked = n.parse().unwrap();
            if acked >= 20_000 {
                break;
            }
        }
    }
    // `kill` is SIGKILL: no destructor, no checkpoint, no close runs in the child, which is
    // most likely in the middle of its next transaction.
    child.kill().unwrap();
    child.wait().unwrap();
    assert!(acked >= 20_000, "the child stopped early");
    let store = SqliteStore::open(&path).unwrap();
    let stored = store.counts().unwrap().events;
    assert!(
        stored >= acked,
        "{stored} events stored, {acked} acknowledged"
    );
    assert_eq!(stored % 1000, 0, "a batch is stored whole or not at all");
}

#[test]
fn schema_3_moves_the_last_event_out_of_the_metrics() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("aisle.db");
    let mut conn = Connection::open(&path).unwrap();
    schema::prepare(&mut conn, &path, &MIGRATIONS[..2]).unwrap();
    conn.execute(
        "INSERT INTO models (name, params, trained_at, metrics, format_version, size, saved_at, bytes)
         VALUES ('als', '{}', 1, '{\"fit_seconds\": 2.5, \"last_event_id\": 41}', 2, 1, 1, x'00')",
        [],
    )
    .unwrap();
    conn.execute(
        "INSERT INTO items (id, title, categories, available, attributes, updated_at)
         VALUES ('i1', 'Lamp', '[]', 1, '{}', 1)",
        [],
    )
    .unwrap();
    drop(conn);
    let store = SqliteStore::open(&path).unwrap();
    assert_eq!(store.migrated_from(), 2);
    let info = &store.list_models().unwrap()[0];
    assert_eq!(info.meta.last_event_id, Some(EventId(41)));
    assert_eq!(info.meta.metrics, serde_json::json!({"fit_seconds": 2.5}));
    // Items stored before the change feed existed are part of version 0.
    let version = store.catalogue_version().unwrap();
    assert_eq!(version, 0);
    store.delete_item("i1").unwrap();
    assert_eq!(store.catalogue_changes(version).unwrap().changed, ["i1"]);
}

#[test]
fn a_backup_under_write_load_holds_everything_committed_before_it_began() {
    use std::sync::atomic::{AtomicBool, Ordering};

    let dir = tempfile::tempdir().unwrap();
    let store = Arc::new(SqliteStore::open(dir.path().join("aisle.db")).unwrap());
    store
        .append_events(&[NewEvent::new("u0", "i0", "view")])
        .unwrap();
    let stop = Arc::new(AtomicBool::new(false));
    let writer = {
        let (store, stop) = (Arc::clone(&store), Arc::clone(&stop));
        std::thread::spawn(move || {
            let mut batches = 0;
            while !stop.load(Ordering::Relaxed) {
                let events: Vec<NewEvent<'_>> =
                    (0..50).map(|_| NewEvent::new("u1", "i1", "view")).collect();
                store.append_events(&events).unwrap();
                batches += 1;
            }
            batches
        })
    };
    // Let writes run, then back up while they go on.
    while store.counts().unwrap().events < 2_000 {
        std::thread::yield_now();
    }
    let acknowledged = store.counts().unwrap().events;
    let out = dir.path().join("backup.db");
    let bytes = store.backup_to(&out).unwrap();
    stop.store(true, Ordering::Relaxed);
    let batches = writer.join().unwrap();
    assert!(bytes > 0 && batches > 0);
    let backup = SqliteStore::open(&out).unwrap();
    let backed_up = backup.counts().unwrap().events;
    assert!(
        backed_up >= acknowledged,
        "{backed_up} events in the backup, {acknowledged} acknowledged before it began"
    );
    // Never over an existing file.
    assert!(store.backup_to(&out).is_err());
}

#[test]
fn the_write_ahead_log_is_cut_back_after_a_long_read() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("aisle.db");
    let options = SqliteOptions {
        wal_size_limit_mib: 1,
        // Checkpointed here, when the test says.
        background_checkpoint: false,
        ..SqliteOptions::default()
    };
    let store = SqliteStore::open_with(&path, options).unwrap();
    let wal_bytes = || std::fs::metadata(dir.path().join("aisle.db-wal")).map_or(0, |m| m.len());
    let users: Vec<String> = (0..500).map(|u| format!("u{u}")).collect();
    let batch: Vec<NewEvent<'_>> = users
        .iter()
        .map(|u| NewEvent::new(u, "i1", "view"))
        .collect();
    // A long read (a training snapshot) keeps the log from starting over while it runs.
    let reader = Connection::open(&path).unwrap();
    reader.execute_batch("BEGIN").unwrap();
    let _: i64 = reader
        .query_row("SELECT count(*) FROM events", [], |r| r.get(0))
        .unwrap();
    while wal_bytes() < 3 << 20 {
        store.append_events(&batch).unwrap();
    }
    reader.execute_batch("COMMIT").unwrap();
    // Once a checkpoint has copied it whole, the next write starts the log over and cuts
    // its file back to the limit (without it, the file stays at its largest for good).
    let checkpointer = Connection::open(&path).unwrap();
    checkpointer
        .query_row("PRAGMA wal_checkpoint(PASSIVE)", [], |_| Ok(()))
        .unwrap();
    store.append_events(&batch[..1]).unwrap();
    assert!(
        wal_bytes() <= 1 << 20,
        "the log's file is {} bytes after it started over",
        wal_bytes()
    );
}

#[test]
fn a_users_history_is_read_from_its_index_alone_and_equals_their_events() {
    let (_dir, store) = temp_store();
    // Three users; events with and without timestamps, values and list ids.
    let events: Vec<NewEvent<'_>> = (0..40).map(event).collect();
    store.append_events(&events).unwrap();
    let plan: Vec<String> = store
        .read(|conn| {
            let mut stmt = conn.prepare(&format!("EXPLAIN QUERY PLAN {USER_HISTORY}"))?;
            let rows = stmt.query_map(params!["u1", 10], |r| r.get::<_, String>(3))?;
            Ok(rows.collect::<rusqlite::Result<Vec<_>>>()?)
        })
        .unwrap();
    assert!(
        plan.iter()
            .any(|step| step.contains("COVERING INDEX events_history")),
        "{plan:?}"
    );
    assert!(
        !plan.iter().any(|step| step.contains("TEMP B-TREE")),
        "{plan:?}"
    );

    // What a list reads is what the full read finds, in the same order.
    let listed = |e: &StoredEvent| {
        let e = e.clone();
        (e.id, e.item_id, e.kind, e.value, e.quantity, e.timestamp)
    };
    for user in ["u0", "u1", "u2"] {
        for limit in [3, 100] {
            let (history, deleted) = store.user_history(user, limit).unwrap();
            let full = store.user_events(user, limit).unwrap();
            assert!(!deleted);
            assert!(!history.is_empty());
            assert_eq!(
                history.iter().map(listed).collect::<Vec<_>>(),
                full.iter().map(listed).collect::<Vec<_>>(),
                "{user}, {limit}"
            );
        }
    }
}

#[test]
fn a_read_with_a_limit_parameter_is_planned_once_not_at_every_binding() {
    // Without the planner's stability guarantee, SQLite re-prepares a statement with
    // `LIMIT ?` whenever that parameter is bound: every list request parsed its SQL again.
    let (_dir, store) = temp_store();
    let sql = "SELECT id FROM events WHERE user_id = ?1 ORDER BY timestamp DESC LIMIT ?2";
    store
        .read(|conn| {
            let mut stmt = conn.prepare_cached(sql)?;
            for limit in [10_i64, 20, 30] {
                stmt.query(params!["u1", limit])?.next()?;
            }
            assert_eq!(stmt.get_status(rusqlite::StatementStatus::RePrepare), 0);
            Ok(())
        })
        .unwrap();
}

#[test]
fn connections_map_the_file_and_reuse_readers_under_concurrency() {
    let (_dir, store) = temp_store();
    store.upsert_items(&[item("i1", "Lamp")]).unwrap();
    for (name, mapped) in [
        (
            "reader",
            store.read(|conn| Ok(conn.query_row("PRAGMA mmap_size", [], |r| r.get::<_, i64>(0))?)),
        ),
        (
            "writer",
            store.write(|conn| Ok(conn.query_row("PRAGMA mmap_size", [], |r| r.get::<_, i64>(0))?)),
        ),
    ] {
        assert!(mapped.unwrap() > 0, "the {name} reads with pread only");
    }
    // Sixteen reads at once leave sixteen idle connections, not four.
    let barrier = std::sync::Barrier::new(16);
    std::thread::scope(|scope| {
        for _ in 0..16 {
            scope.spawn(|| {
                store
                    .read(|_| {
                        barrier.wait();
                        Ok(())
                    })
                    .unwrap()
            });
        }
    });
    assert_eq!(store.idle_readers().len(), 16);
}
