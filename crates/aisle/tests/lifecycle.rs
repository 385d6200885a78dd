//! How the server stops: SIGTERM while requests run loses nothing it acknowledged (events
//! written, lists logged) and exits 0 within the shutdown deadline.

mod common;

use std::collections::HashSet;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::{Duration, Instant};

use common::{http, json, start_server, succeed};

#[cfg(unix)]
#[test]
fn sigterm_under_load_finishes_in_flight_work_and_loses_nothing_acknowledged() {
    let dir = tempfile::tempdir().unwrap();
    let (shop, db) = (dir.path().join("shop"), dir.path().join("aisle.db"));
    let (shop, db) = (shop.to_str().unwrap(), db.to_str().unwrap());
    succeed(&[
        "generate", "--out", shop, "--users", "200", "--items", "60", "--events", "5000",
    ]);
    succeed(&[
        "import",
        "--db",
        db,
        "--events",
        &format!("{shop}/events.csv"),
        "--items",
        &format!("{shop}/items.csv"),
    ]);
    succeed(&["train", "--db", db, "--model", "als", "--no-holdout"]);
    let events_before = aisle_store::open(db).unwrap().counts().unwrap().events;

    let mut server = start_server(&[
        "serve",
        "--db",
        db,
        "--addr",
        "127.0.0.1:0",
        "--train-on-start",
        "false",
    ]);
    let addr = server.addr.clone();
    let stop = Arc::new(AtomicBool::new(false));
    // Until the server goes away: batches of events, and lists, each counted only when
    // answered 200. A refused connection or a cut answer ends the loop.
    let writer = {
        let (addr, stop) = (addr.clone(), Arc::clone(&stop));
        std::thread::spawn(move || {
            let mut acknowledged = 0;
            for batch in 0.. {
                if stop.load(Ordering::Relaxed) {
                    break;
                }
                let body = format!(
                    "[{}]",
                    (0..20)
                        .map(|i| format!(
                            r#"{{"user_id": "load-{batch}", "item_id": "i{i}", "type": "view"}}"#
                        ))
                        .collect::<Vec<_>>()
                        .join(",")
                );
                match std::panic::catch_unwind(|| http(&addr, "POST", "/v1/events", Some(&body))) {
                    Ok((200, answer)) => {
                        acknowledged += json(&answer)["accepted"].as_u64().unwrap()
                    }
                    Ok(_) | Err(_) => break,
                }
            }
            acknowledged
        })
    };
    let reader = {
        let (addr, stop) = (addr.clone(), Arc::clone(&stop));
        std::thread::spawn(move || {
            let mut served = Vec::new();
            for user in 0.. {
                if stop.load(Ordering::Relaxed) {
                    break;
                }
                let path = format!("/v1/users/u{}/recommendations?n=5", user % 200);
                match std::panic::catch_unwind(|| http(&addr, "GET", &path, None)) {
                    Ok((200, answer)) => served.push(
                        json(&answer)["recommendation_id"]
                            .as_str()
                            .unwrap()
                            .to_string(),
                    ),
                    Ok(_) | Err(_) => break,
                }
            }
            served
        })
    };
    std::thread::sleep(Duration::from_millis(1_500));

    let terminated = Instant::now();
    let pid = server.child.id().to_string();
    assert!(
        std::process::Command::new("kill")
            .args(["-TERM", &pid])
            .status()
            .unwrap()
            .success()
    );
    let status = loop {
        if let Some(status) = server.child.try_wait().unwrap() {
            break status;
        }
        assert!(
            terminated.elapsed() < Duration::from_secs(12),
            "the server did not stop within the 10 s shutdown_timeout of SIGTERM"
        );
        std::thread::sleep(Duration::from_millis(50));
    };
    stop.store(true, Ordering::Relaxed);
    assert!(status.success(), "exit status {status}");
    let acknowledged = writer.join().unwrap();
    let served = reader.join().unwrap();
    assert!(acknowledged > 0 && !served.is_empty(), "the load ran");

    // The stop checkpointed the store: no write-ahead log is left to replay.
    let wal = std::fs::metadata(format!("{db}-wal")).map_or(0, |m| m.len());
    assert_eq!(wal, 0, "the write-ahead log was not checkpointed");

    let store = aisle_store::open(db).unwrap();
    assert_eq!(
        store.counts().unwrap().events,
        events_before + acknowledged,
        "an acknowledged event was lost (or one not acknowledged was stored)"
    );
    let mut logged = HashSet::new();
    store
        .recent_impressions(0, usize::MAX, &mut |list| {
            logged.insert(list.recommendation_id.clone());
        })
        .unwrap();
    let lost: Vec<&String> = served.iter().filter(|id| !logged.contains(*id)).collect();
    assert!(
        lost.is_empty(),
        "{} served lists were not logged",
        lost.len()
    );
}
