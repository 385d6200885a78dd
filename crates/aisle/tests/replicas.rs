//! Several `aisle serve` replicas over one PostgreSQL database, through the real binary:
//! events taken by any replica, one trainer, versions and catalogue changes reaching every
//! replica, a killed trainer replaced, and the database going away and coming back.
//!
//! Each test creates its own database on the machine's PostgreSQL and drops it afterwards;
//! without a server the tests skip with the reason (or fail under `AISLE_REQUIRE_POSTGRES=1`,
//! as in `.ci/run`).

mod common;

use std::path::Path;
use std::time::{Duration, Instant};

use aisle_store::postgres::testing::TestDatabase;
use common::{Running, http, json, start_server, succeed};

/// A small generated shop imported into the database.
fn import_shop(dir: &Path, url: &str) {
    let shop = dir.join("shop");
    let shop = shop.to_str().unwrap();
    succeed(&[
        "generate", "--out", shop, "--users", "300", "--items", "120", "--events", "9000",
    ]);
    succeed(&[
        "import",
        "--database-url",
        url,
        "--events",
        &format!("{shop}/events.csv"),
        "--items",
        &format!("{shop}/items.csv"),
    ]);
}

fn replica(url: &str, role: &str, extra: &[&str]) -> Running {
    let mut args = vec![
        "serve",
        "--database-url",
        url,
        "--addr",
        "127.0.0.1:0",
        "--role",
        role,
        "--train-on-start",
        "false",
        "--precompute",
        "20",
    ];
    args.extend_from_slice(extra);
    start_server(&args)
}

/// Waits until `check` holds, or fails after `limit` saying what was awaited.
fn eventually(limit: Duration, what: &str, mut check: impl FnMut() -> bool) {
    let started = Instant::now();
    while !check() {
        assert!(started.elapsed() < limit, "not within {limit:?}: {what}");
        std::thread::sleep(Duration::from_millis(100));
    }
}

fn serving_version(addr: &str, model: &str) -> Option<i64> {
    let (status, body) = http(addr, "GET", "/v1/models", None);
    assert_eq!(status, 200, "{body}");
    json(&body)["serving"]
        .as_array()?
        .iter()
        .find(|m| m["name"] == model)
        .and_then(|m| m["version"].as_i64())
}

fn list_items(addr: &str, user: &str) -> Vec<String> {
    let (status, body) = http(
        addr,
        "GET",
        &format!("/v1/users/{user}/recommendations?n=10"),
        None,
    );
    assert_eq!(status, 200, "{body}");
    json(&body)["items"]
        .as_array()
        .unwrap()
        .iter()
        .map(|i| i["item_id"].as_str().unwrap().to_string())
        .collect()
}

#[test]
fn three_replicas_share_events_one_trainer_and_every_version() {
    let Some(database) = TestDatabase::create() else {
        return;
    };
    let dir = tempfile::tempdir().unwrap();
    import_shop(dir.path(), &database.url);
    let replicas = [
        replica(&database.url, "all", &[]),
        replica(&database.url, "serve", &[]),
        replica(&database.url, "serve", &[]),
    ];
    let [a, b, c] = [&replicas[0].addr, &replicas[1].addr, &replicas[2].addr];

    // Events round-robin to all three, each acknowledged.
    let mut acknowledged = 0;
    for round in 0..30 {
        let addr = [a, b, c][round % 3];
        let user = format!("r{}", round % 5);
        let event = format!(
            r#"{{"user_id": "{user}", "item_id": "i{}", "type": "purchase"}}"#,
            round * 3 % 120
        );
        let (status, body) = http(addr, "POST", "/v1/events", Some(&event));
        assert!(status == 200 || status == 202, "{status} {body}");
        acknowledged += 1;
    }
    assert_eq!(acknowledged, 30);

    // A serve-only replica refuses to train; the trainer trains.
    let (status, body) = http(b, "POST", "/v1/admin/train?wait=true", Some("{}"));
    assert_eq!(status, 409, "{body}");
    assert!(body.contains("training_elsewhere"), "{body}");
    let (status, body) = http(a, "POST", "/v1/admin/train?wait=true", Some("{}"));
    assert_eq!(status, 200, "{body}");
    let version = json(&body)["job"]["version"].as_i64().expect("a version");

    // Every replica serves the new version within 5 seconds.
    for addr in [b, c] {
        eventually(
            Duration::from_secs(5),
            "the version reaches a replica",
            || serving_version(addr, "als") == Some(version),
        );
    }
    // Every acknowledged event is in the trained model: users who only ever posted to the
    // serve-only replicas are known to it (their lists are the model's, not a fallback).
    for user in ["r1", "r2"] {
        let (status, body) = http(c, "GET", &format!("/v1/users/{user}/recommendations"), None);
        assert_eq!(status, 200, "{body}");
        let list = json(&body);
        assert_eq!(list["model_version"], version, "{body}");
        assert_eq!(list["fallback"], false, "{body}");
    }

    // A purchase posted to A changes the list C serves for that (new) user at once.
    let (status, _) = http(
        a,
        "POST",
        "/v1/events",
        Some(r#"{"user_id": "newcomer", "item_id": "i7", "type": "purchase"}"#),
    );
    assert!(status == 200 || status == 202);
    let on_c = list_items(c, "newcomer");
    assert!(!on_c.is_empty());
    assert!(
        !on_c.contains(&"i7".to_string()),
        "seen items never come back: {on_c:?}"
    );
    let (_, history) = http(c, "GET", "/v1/users/newcomer/history?n=5", None);
    assert!(history.contains("\"i7\""), "{history}");

    // A catalogue change made on B reaches A and C.
    let (status, body) = http(
        b,
        "PUT",
        "/v1/items/fresh-1",
        Some(r#"{"item_id": "fresh-1", "title": "New", "categories": ["c0"]}"#),
    );
    assert!(status == 200 || status == 201, "{status} {body}");
    for addr in [a, c] {
        eventually(Duration::from_secs(5), "the item reaches a replica", || {
            http(addr, "GET", "/v1/items/fresh-1", None).0 == 200
        });
    }
}

#[test]
fn a_killed_trainer_is_replaced_and_nothing_acknowledged_is_lost() {
    let Some(database) = TestDatabase::create() else {
        return;
    };
    let dir = tempfile::tempdir().unwrap();
    import_shop(dir.path(), &database.url);
    // The first trainer trains a slow model; it is killed half-way.
    let mut first = replica(
        &database.url,
        "all",
        &[
            "--model",
            "bpr",
            "--set",
            "factors=1024",
            "--set",
            "epochs=1000",
        ],
    );
    let second = replica(&database.url, "all", &["--retrain-every", "2s"]);
    let (status, body) = http(&first.addr, "POST", "/v1/admin/train", Some("{}"));
    assert_eq!(status, 202, "{body}");
    eventually(Duration::from_secs(10), "the first replica trains", || {
        let (_, job) = http(&first.addr, "GET", "/v1/admin/train", None);
        json(&job)["progress"][0]
            .as_u64()
            .is_some_and(|done| done > 0)
    });
    // While it trains, the other replica cannot take the lock.
    let (status, body) = http(
        &second.addr,
        "POST",
        "/v1/admin/train?wait=true",
        Some("{}"),
    );
    assert_eq!(status, 409, "{body}");
    let (_, job) = http(&first.addr, "GET", "/v1/admin/train", None);
    assert_eq!(json(&job)["state"], "running", "killed half-way: {job}");
    first.child.kill().unwrap();
    first.child.wait().unwrap();
    // Events acknowledged meanwhile are kept and trained on by the survivor's schedule.
    for n in 0..20 {
        let event = format!(r#"{{"user_id": "late", "item_id": "i{n}", "type": "view"}}"#);
        let (status, body) = http(&second.addr, "POST", "/v1/events", Some(&event));
        assert!(status == 200 || status == 202, "{status} {body}");
    }
    eventually(Duration::from_secs(60), "the survivor trains", || {
        serving_version(&second.addr, "als").is_some()
    });
    let (_, history) = http(&second.addr, "GET", "/v1/users/late/history?n=50", None);
    assert_eq!(
        json(&history)["events"].as_array().unwrap().len(),
        20,
        "{history}"
    );
}

#[test]
fn the_database_going_away_is_a_503_and_recovers_by_itself() {
    let Some(database) = TestDatabase::create() else {
        return;
    };
    let dir = tempfile::tempdir().unwrap();
    import_shop(dir.path(), &database.url);
    let server = replica(&database.url, "all", &[]);
    let (status, body) = http(
        &server.addr,
        "POST",
        "/v1/admin/train?wait=true",
        Some("{}"),
    );
    assert_eq!(status, 200, "{body}");
    let name = database.name();

    // Cut: no new connections to this database, and this server's own ones terminated.
    database.on_server(&format!("ALTER DATABASE {name} ALLOW_CONNECTIONS false"));
    database.on_server(&format!(
        "SELECT pg_terminate_backend(pid) FROM pg_stat_activity \
         WHERE datname = '{name}' AND application_name = 'aisle'"
    ));
    let event = r#"{"user_id": "u1", "item_id": "i1", "type": "view"}"#;
    let mut refused = false;
    for _ in 0..20 {
        let (status, body) = http(&server.addr, "POST", "/v1/events", Some(event));
        assert!(status < 500 || status == 503, "{status} {body}");
        if status == 503 {
            assert!(body.contains("store_unavailable"), "{body}");
            refused = true;
            break;
        }
    }
    assert!(refused, "writes answer 503 while the database is away");
    // Reads keep answering from memory where they can (a known user's precomputed list).
    let (status, body) = http(&server.addr, "GET", "/v1/popular?n=5", None);
    assert_eq!(status, 200, "{body}");
    eventually(Duration::from_secs(5), "/health says degraded", || {
        http(&server.addr, "GET", "/health", None)
            .1
            .contains("degraded")
    });

    // Back: the same server recovers by itself, no restart.
    database.on_server(&format!("ALTER DATABASE {name} ALLOW_CONNECTIONS true"));
    eventually(Duration::from_secs(15), "writes are accepted again", || {
        let status = http(&server.addr, "POST", "/v1/events", Some(event)).0;
        status == 200 || status == 202
    });
    eventually(Duration::from_secs(5), "/health is ok again", || {
        http(&server.addr, "GET", "/health", None)
            .1
            .contains("\"ok\"")
    });
}
