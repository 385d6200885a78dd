//! The `aisle` binary end to end: real processes, real files, exit codes and JSON output.

use std::path::{Path, PathBuf};
use std::process::{Command, Output};

mod common;
use common::{Running, aisle, http, json, start_server, succeed};

fn fixture(name: &str) -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("../aisle-data/tests/fixtures")
        .join(name)
}

fn shared_data(relative: &str) -> Option<PathBuf> {
    let path = Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("../../../shared/data")
        .join(relative);
    if path.exists() {
        Some(path)
    } else {
        eprintln!("skipping: {} is not available", path.display());
        None
    }
}

/// Runs `aisle` and asserts that it succeeded.
/// A small generated shop (300 users, 80 items, 8,000 events) in `dir`.
fn generate_shop(dir: &str) {
    succeed(&[
        "generate", "--out", dir, "--users", "300", "--items", "80", "--events", "8000",
    ]);
}

/// Imports the generated shop in `shop` (events and items) into the store `db`.
fn import_shop(shop: &str, db: &str) {
    let events = format!("{shop}/events.csv");
    let items = format!("{shop}/items.csv");
    succeed(&["import", "--db", db, "--events", &events, "--items", &items]);
}

fn stdout_json(output: &Output) -> serde_json::Value {
    assert!(
        output.status.success(),
        "stderr: {}",
        String::from_utf8_lossy(&output.stderr)
    );
    serde_json::from_slice(&output.stdout).expect("stdout is one JSON object")
}

#[test]
fn inspect_json_reports_the_dirty_fixture() {
    let path = fixture("dirty_shop.csv");
    let out = aisle(&[
        "inspect",
        path.to_str().unwrap(),
        "--json",
        "--rating-scale",
        "1:5",
    ]);
    let report = stdout_json(&out);
    assert_eq!(report["rows"], 15);
    assert_eq!(report["kept"], 6);
    assert_eq!(report["users"], 4);
    assert_eq!(report["dropped"]["duplicate"], 1);
    assert_eq!(report["dropped"]["rating_out_of_scale"], 1);
    assert_eq!(report["dropped_lines"]["malformed_row"][0], 13);
}

#[test]
fn inspect_movielens_u_data() {
    let Some(path) = shared_data("ml-100k/u.data") else {
        return;
    };
    let out = aisle(&[
        "inspect",
        path.to_str().unwrap(),
        "--format",
        "movielens",
        "--json",
    ]);
    let report = stdout_json(&out);
    assert_eq!(
        (
            report["rows"].as_u64(),
            report["users"].as_u64(),
            report["items"].as_u64()
        ),
        (Some(100_000), Some(943), Some(1682))
    );
}

#[test]
fn clean_writes_only_kept_rows_in_source_order() {
    let dir = tempfile::tempdir().unwrap();
    let out_path = dir.path().join("clean.csv.gz");
    let out = aisle(&[
        "clean",
        fixture("dirty_shop.csv").to_str().unwrap(),
        "--out",
        out_path.to_str().unwrap(),
        "--rating-scale",
        "1:5",
    ]);
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    // Reading the cleaned (gzipped) file back keeps every row and drops nothing.
    let again = stdout_json(&aisle(&["inspect", out_path.to_str().unwrap(), "--json"]));
    assert_eq!(again["rows"], 6);
    assert_eq!(again["kept"], 6);
    assert_eq!(again["dropped"], serde_json::json!({}));
}

#[test]
fn exit_codes_separate_usage_from_runtime_errors() {
    let usage = aisle(&["inspect", "x.csv", "--map", "colour=1"]);
    assert_eq!(usage.status.code(), Some(2));
    assert!(String::from_utf8_lossy(&usage.stderr).contains("unknown role 'colour'"));
    let missing = aisle(&["inspect", "/definitely/not/here.csv"]);
    assert_eq!(missing.status.code(), Some(1));
    let stderr = String::from_utf8_lossy(&missing.stderr);
    assert!(
        stderr.contains("/definitely/not/here.csv") && !stderr.contains("panicked"),
        "{stderr}"
    );
    assert_eq!(aisle(&["no-such-command"]).status.code(), Some(2));
    let unknown_model = aisle(&["evaluate", "--data", "x", "--models", "no-such-model"]);
    assert_eq!(unknown_model.status.code(), Some(2));
}

#[test]
fn import_stores_what_cleaning_kept() {
    let dir = tempfile::tempdir().unwrap();
    let shop = dir.path().join("shop");
    let generated = aisle(&[
        "generate",
        "--out",
        shop.to_str().unwrap(),
        "--users",
        "200",
        "--items",
        "80",
        "--events",
        "5000",
    ]);
    assert!(generated.status.success());
    let db = dir.path().join("aisle.db");
    let path = |name: &str| shop.join(name).to_str().unwrap().to_string();
    let import = |extra: &[&str]| {
        let mut args = vec!["import", "--db", db.to_str().unwrap(), "--json"];
        args.extend_from_slice(extra);
        stdout_json(&aisle(&args))
    };
    let report = import(&[
        "--events",
        &path("events.csv"),
        "--items",
        &path("items.csv"),
        "--users",
        &path("users.csv"),
        "--batch",
        "2000",
    ]);
    let kept = report["events"]["report"]["kept"].as_u64().unwrap();
    assert_eq!(report["events"]["report"]["rows"], 5000);
    assert_eq!(report["events"]["stored"].as_u64(), Some(kept));
    assert_eq!(
        report["events"]["batches"].as_u64(),
        Some(kept.div_ceil(2000))
    );
    assert_eq!(report["items"]["stored"], 80);
    assert_eq!(report["users"]["stored"], 200);
    assert_eq!(report["store"]["events"].as_u64(), Some(kept));
    assert_eq!(report["store"]["items"], 80);

    // The dirty fixture, cleaned as `inspect` cleans it, adds exactly its kept rows.
    let dirty = fixture("dirty_shop.csv");
    let dirty = dirty.to_str().unwrap();
    let report = import(&["--events", dirty, "--rating-scale", "1:5"]);
    assert_eq!(report["events"]["stored"], 6);
    assert_eq!(report["events"]["report"]["dropped"]["duplicate"], 1);
    assert_eq!(report["store"]["events"].as_u64(), Some(kept + 6));

    // The text report says what was cleaned and that batches are committed one by one.
    let text = aisle(&["import", "--db", db.to_str().unwrap(), "--events", dirty]);
    let stdout = String::from_utf8_lossy(&text.stdout);
    assert!(
        text.status.success(),
        "{}",
        String::from_utf8_lossy(&text.stderr)
    );
    assert!(
        stdout.contains("malformed_row") && stdout.contains("committed"),
        "{stdout}"
    );

    // The store's training snapshot holds the imported events.
    let store = aisle_store::open(db.to_str().unwrap()).unwrap();
    let snapshot = store.dataset(&Default::default()).unwrap();
    assert_eq!(snapshot.report.rows, kept + 6 + 7);
}

#[test]
fn import_of_a_real_order_export_counts_every_rule() {
    let Some(path) = shared_data("online-retail/online_retail.csv.gz") else {
        return;
    };
    let dir = tempfile::tempdir().unwrap();
    let db = dir.path().join("aisle.db");
    let report = stdout_json(&aisle(&[
        "import",
        "--db",
        db.to_str().unwrap(),
        "--events",
        path.to_str().unwrap(),
        "--map",
        "user=CustomerID,item=StockCode,value=Quantity,timestamp=InvoiceDate",
        "--items-from-events",
        "title=Description,price=UnitPrice",
        "--json",
    ]));
    let events = &report["events"]["report"];
    assert_eq!(events["kind"], "transactions");
    assert_eq!(events["rows"], 541_909);
    assert_eq!(events["kept"], 531_295);
    assert_eq!(
        events["dropped"],
        serde_json::json!({
            "duplicate": 5_258,
            "non_positive_price": 2_501,
            "non_product": 2_796,
            "outlier_quantity": 59,
        })
    );
    assert_eq!(
        events["notes"],
        serde_json::json!({"case_folded": 1_901, "guest": 131_564, "return": 8_664})
    );
    assert_eq!(
        events["folded_ids"][0],
        serde_json::json!(["85123a", "85123A"])
    );
    // Guest lines are not user histories: the store holds the rest.
    assert_eq!(report["store"]["events"], 531_295 - 131_564);
    // The catalogue came from the lines: every stock code with a description.
    assert!(report["items"]["stored"].as_u64().unwrap() > 3_600);
    let store = aisle_store::open(db.to_str().unwrap()).unwrap();
    let item = store
        .item("85123A")
        .unwrap()
        .expect("the catalogue has the heart holder");
    assert!(item.title.contains("HEART"), "{:?}", item.title);
    assert!(item.price.is_some_and(|p| p > 0.0));
}

#[test]
fn import_refuses_a_file_that_is_not_a_store() {
    let dirty = fixture("dirty_shop.csv");
    let out = aisle(&[
        "import",
        "--db",
        dirty.to_str().unwrap(),
        "--events",
        dirty.to_str().unwrap(),
    ]);
    assert_eq!(out.status.code(), Some(1));
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(stderr.contains("not an Aisle store"), "{stderr}");
    assert_eq!(
        aisle(&["import", "--events", "x.csv", "--batch", "0"])
            .status
            .code(),
        Some(2)
    );
}

#[test]
fn train_then_recommend_and_similar_from_the_store() {
    let dir = tempfile::tempdir().unwrap();
    let path = |name: &str| dir.path().join(name).to_str().unwrap().to_string();
    let run = succeed;
    generate_shop(&path("shop"));
    let db = path("shop.db");
    import_shop(&path("shop"), &db);
    // No model yet: a clear runtime error.
    let none = aisle(&["recommend", "--db", &db, "--user", "u1"]);
    assert_eq!(none.status.code(), Some(1));
    assert!(String::from_utf8_lossy(&none.stderr).contains("aisle train"));
    run(&["train", "--db", &db, "--model", "item-knn", "--set", "k=20"]);

    // A known user: a full list, none of it already in their history.
    let list = stdout_json(&run(&[
        "recommend",
        "--db",
        &db,
        "--user",
        "u1",
        "-n",
        "5",
        "--json",
    ]));
    assert_eq!(list["fallback"], false);
    assert_eq!(list["model"], "item-knn");
    let items: Vec<&str> = list["items"]
        .as_array()
        .unwrap()
        .iter()
        .map(|i| i["item_id"].as_str().unwrap())
        .collect();
    assert_eq!(items.len(), 5);
    let events = std::fs::read_to_string(path("shop/events.csv")).unwrap();
    for line in events.lines().filter(|l| l.starts_with("u1,")) {
        let item = line.split(',').nth(1).unwrap();
        assert!(!items.contains(&item), "{item} is in u1's history");
    }
    assert!(
        list["items"][0]["title"].is_string(),
        "titles come from the stored catalogue"
    );

    // Someone nobody has seen: the popular fallback, flagged.
    let fallback = stdout_json(&run(&[
        "recommend",
        "--db",
        &db,
        "--user",
        "stranger",
        "--json",
    ]));
    assert_eq!(fallback["fallback"], true);
    assert_eq!(fallback["items"].as_array().unwrap().len(), 10);

    // A user the model never saw but who has events in the store is folded in, not a fallback,
    // and what they just bought is not recommended back.
    std::fs::write(
        path("late.csv"),
        "user_id,item_id,type\nnewbie,i3,purchase\nnewbie,i4,view\n",
    )
    .unwrap();
    run(&["import", "--db", &db, "--events", &path("late.csv")]);
    let folded = stdout_json(&run(&[
        "recommend",
        "--db",
        &db,
        "--user",
        "newbie",
        "--json",
    ]));
    assert_eq!(folded["fallback"], false);
    let folded_ids: Vec<&str> = folded["items"]
        .as_array()
        .unwrap()
        .iter()
        .map(|i| i["item_id"].as_str().unwrap())
        .collect();
    assert!(!folded_ids.is_empty() && !folded_ids.contains(&"i3") && !folded_ids.contains(&"i4"));

    let similar = stdout_json(&run(&[
        "similar", "--db", &db, "--item", "i3", "-n", "4", "--json",
    ]));
    let similar_ids: Vec<&str> = similar["items"]
        .as_array()
        .unwrap()
        .iter()
        .map(|i| i["item_id"].as_str().unwrap())
        .collect();
    assert!(!similar_ids.is_empty() && !similar_ids.contains(&"i3"));
    let unknown = aisle(&["similar", "--db", &db, "--item", "no-such-item"]);
    assert_eq!(unknown.status.code(), Some(1));
}

/// `aisle demo` on a small shop in `dir`, serving on a free port.
fn start_demo(dir: &Path) -> Running {
    start_demo_with(dir, &[])
}

/// [`start_demo`] with more flags.
fn start_demo_with(dir: &Path, extra: &[&str]) -> Running {
    let shop = dir.join("shop");
    let mut args = vec![
        "demo",
        "--dir",
        shop.to_str().unwrap(),
        "--users",
        "400",
        "--items",
        "150",
        "--events",
        "20000",
        "--addr",
        "127.0.0.1:0",
    ];
    args.extend_from_slice(extra);
    start_server(&args)
}

#[test]
fn demo_generates_imports_trains_and_serves() {
    let dir = tempfile::tempdir().unwrap();
    let server = start_demo(dir.path());
    let addr = &server.addr;
    let (status, body) = http(addr, "GET", "/v1/users/u1/recommendations?n=5", None);
    assert_eq!(status, 200, "{body}");
    let list = json(&body);
    assert_eq!(list["model"], "als");
    assert_eq!(list["items"].as_array().unwrap().len(), 5);
    let (status, body) = http(
        addr,
        "POST",
        "/v1/recommend",
        Some(r#"{"history": [{"item_id": "i1"}, {"item_id": "i2"}], "n": 3}"#),
    );
    assert_eq!(status, 200, "{body}");
    assert_eq!(json(&body)["fallback"], false);
    let (status, body) = http(addr, "GET", "/v1/items/i1/similar?n=3", None);
    assert_eq!(
        (status, json(&body)["items"].as_array().unwrap().len()),
        (200, 3)
    );
    let (status, body) = http(addr, "GET", "/no/such/route", None);
    assert_eq!(
        (status, json(&body)["error"]["code"].as_str()),
        (404, Some("unknown_route"))
    );
}

#[test]
fn acknowledged_events_survive_sigkill() {
    let dir = tempfile::tempdir().unwrap();
    let db = dir.path().join("aisle.db");
    let args = [
        "serve",
        "--db",
        db.to_str().unwrap(),
        "--addr",
        "127.0.0.1:0",
        "--train-on-start",
        "false",
    ];
    let mut server = start_server(&args);
    let mut acknowledged = 0;
    for batch in 0..20 {
        let events: Vec<String> = (0..50)
            .map(|i| {
                format!(
                    r#"{{"user_id": "u{}", "item_id": "i{}", "type": "view"}}"#,
                    batch, i
                )
            })
            .collect();
        let body = format!("[{}]", events.join(","));
        let (status, answer) = http(&server.addr, "POST", "/v1/events", Some(&body));
        assert_eq!(status, 200, "{answer}");
        acknowledged += json(&answer)["accepted"].as_u64().unwrap();
    }
    // SIGKILL: no shutdown code runs.
    server.child.kill().unwrap();
    server.child.wait().unwrap();
    drop(server);

    let server = start_server(&args);
    let (status, body) = http(
        &server.addr,
        "POST",
        "/v1/admin/train?wait=true",
        Some("{}"),
    );
    assert_eq!(status, 200, "{body}");
    assert_eq!(json(&body)["job"]["state"], "succeeded", "{body}");
    let (_, models) = http(&server.addr, "GET", "/v1/models", None);
    let interactions = json(&models)["serving"][0]["metrics"]["interactions"]
        .as_u64()
        .unwrap();
    assert_eq!(acknowledged, 1_000);
    assert_eq!(interactions, acknowledged, "an acknowledged event was lost");
}

/// Headless Chromium, if installed: `None` (and a note) when it is not, unless
/// `AISLE_REQUIRE_BROWSER` is set (as `.ci/run` does), which makes its absence a failure.
fn chromium() -> Option<PathBuf> {
    let found = ["/usr/bin/chromium", "/usr/bin/chromium-browser"]
        .iter()
        .map(PathBuf::from)
        .find(|p| p.exists());
    if found.is_none() {
        assert!(
            std::env::var_os("AISLE_REQUIRE_BROWSER").is_none(),
            "AISLE_REQUIRE_BROWSER is set but Chromium is not installed"
        );
        eprintln!("skipping: Chromium is not installed (apt-get install chromium)");
    }
    found
}

/// Loads `url` in headless Chromium: the DOM after the page's scripts ran, and every console
/// message it logged. With `screenshot`, also saves a PNG of a `width`-pixel-wide window.
fn browse(
    chromium: &Path,
    url: &str,
    width: u32,
    screenshot: Option<&Path>,
) -> (String, Vec<String>) {
    let profile = tempfile::tempdir().unwrap();
    let mut command = Command::new(chromium);
    command.args([
        "--headless",
        "--no-sandbox",
        "--disable-gpu",
        "--disable-quic",
        "--no-first-run",
        "--disable-background-networking",
        "--disable-component-update",
        "--disable-sync",
        "--enable-logging=stderr",
        "--v=0",
        "--virtual-time-budget=8000",
        &format!(
            "--window-size={width},{}",
            if width < 600 { 844 } else { 900 }
        ),
        &format!("--user-data-dir={}", profile.path().display()),
    ]);
    match screenshot {
        Some(path) => command.arg(format!("--screenshot={}", path.display())),
        None => command.arg("--dump-dom"),
    };
    let out = command.arg(url).output().expect("chromium runs");
    let console = String::from_utf8_lossy(&out.stderr)
        .lines()
        .filter(|l| l.contains("CONSOLE"))
        .map(String::from)
        .collect();
    (String::from_utf8_lossy(&out.stdout).into_owned(), console)
}

#[test]
fn dashboard_pages_render_in_a_real_browser() {
    let Some(chromium) = chromium() else {
        return;
    };
    let dir = tempfile::tempdir().unwrap();
    let server = start_demo(dir.path());
    let addr = server.addr.clone();
    // Let the simulated shoppers give the experiment some data.
    let started = std::time::Instant::now();
    loop {
        let (status, body) = http(&addr, "GET", "/v1/experiments/als-vs-popular/results", None);
        assert_eq!(status, 200, "{body}");
        let clicks: u64 = json(&body)["variants"]
            .as_array()
            .unwrap()
            .iter()
            .map(|v| v["clicks"].as_u64().unwrap())
            .sum();
        if clicks > 0 {
            break;
        }
        assert!(
            started.elapsed().as_secs() < 60,
            "no clicks from the simulator: {body}"
        );
        std::thread::sleep(std::time::Duration::from_millis(500));
    }
    let shots = Path::new(env!("CARGO_TARGET_TMPDIR")).join("dashboard");
    std::fs::create_dir_all(&shots).unwrap();
    for page in [
        "overview",
        "models",
        "experiments",
        "explore?user=u1&item=i1",
        "explore?user=u2&placement=home&why=i7",
    ] {
        let url = format!("http://{addr}/#{page}");
        let (dom, console) = browse(&chromium, &url, 1280, None);
        assert!(console.is_empty(), "{page}: console messages: {console:#?}");
        assert!(
            dom.contains("data-ready=\"1\""),
            "{page} never finished rendering:\n{dom}"
        );
        assert!(
            !dom.contains("class=\"error\""),
            "{page} shows an error:\n{dom}"
        );
        if page.contains("placement=") {
            // The placement's list, with each item's reason, and the explainer's answer.
            let preview = dom.split("placement-preview").nth(1).unwrap_or_default();
            assert!(
                preview.matches("rec-item").count() >= 10,
                "{page}: the placement's list is not shown:\n{dom}"
            );
            assert!(
                dom.contains("class=\"why-answer\""),
                "{page}: no answer:\n{dom}"
            );
        } else if page.starts_with("explore") {
            let recommended = dom.matches("rec-item").count();
            assert!(
                recommended >= 10,
                "{page}: {recommended} recommended items shown"
            );
        } else {
            let chart = dom.split("<svg class=\"chart").nth(1).unwrap_or_default();
            let marks = chart.matches("<path").count()
                + chart.matches("<rect").count()
                + chart.matches("<circle").count();
            assert!(marks > 0, "{page}: the chart is empty:\n{dom}");
        }
        let name = match page.split('?').next().unwrap() {
            "explore" if page.contains("placement=") => "placement",
            other => other,
        };
        for width in [1280, 390] {
            let path = shots.join(format!("{name}-{width}.png"));
            browse(&chromium, &url, width, Some(&path));
            assert!(
                std::fs::metadata(&path)
                    .map(|m| m.len() > 10_000)
                    .unwrap_or(false)
            );
        }
    }
    eprintln!("screenshots in {}", shots.display());
}

#[test]
fn the_storefront_widget_renders_placements_and_reports_clicks() {
    let Some(chromium) = chromium() else {
        return;
    };
    let dir = tempfile::tempdir().unwrap();
    // No simulated shoppers: the one click in the results is the browser's.
    let server = start_demo_with(dir.path(), &["--no-simulate"]);
    let addr = server.addr.clone();
    let (status, body) = http(
        &addr,
        "POST",
        "/v1/experiments",
        Some(
            r#"{"name": "widget-ab", "variants": [{"name": "control", "model": "popular", "share": 0.5}, {"name": "cf", "model": "als", "share": 0.5}]}"#,
        ),
    );
    assert_eq!(status, 201, "{body}");
    let shots = Path::new(env!("CARGO_TARGET_TMPDIR")).join("storefront");
    std::fs::create_dir_all(&shots).unwrap();
    for (name, page, placements) in [
        ("home", "?user=u1", 2),
        ("product", "?user=u1&item=i3", 1),
        ("cart", "?user=u1&cart", 1),
    ] {
        let url = format!("http://{addr}/shop/{page}");
        let (dom, console) = browse(&chromium, &url, 1280, None);
        assert!(console.is_empty(), "{name}: console messages: {console:#?}");
        assert!(
            !dom.contains("data-aisle-error"),
            "{name}: a widget failed:\n{dom}"
        );
        assert_eq!(
            dom.matches("data-aisle-ready=\"1\"").count(),
            placements,
            "{name}: not every placement rendered:\n{dom}"
        );
        let cards = dom.matches("class=\"aisle-card\"").count();
        assert!(cards >= 8 * placements, "{name}: {cards} items shown");
        for width in [1280, 390] {
            let path = shots.join(format!("{name}-{width}.png"));
            browse(&chromium, &url, width, Some(&path));
            assert!(
                std::fs::metadata(&path)
                    .map(|m| m.len() > 10_000)
                    .unwrap_or(false)
            );
        }
    }

    // A visitor clicks the first item the widget shows: the click arrives as an event with
    // the list's id and position, and the experiment's results count it.
    let visitor = "shop-visitor-1";
    let (dom, console) = browse(
        &chromium,
        &format!("http://{addr}/shop/?user={visitor}&click=first"),
        1280,
        None,
    );
    assert!(console.is_empty(), "console messages: {console:#?}");
    let clicked = dom
        .split("data-clicked=\"")
        .nth(1)
        .and_then(|rest| rest.split('"').next())
        .unwrap_or_else(|| panic!("nothing was clicked:\n{dom}"))
        .to_string();
    let started = std::time::Instant::now();
    loop {
        let (status, body) = http(&addr, "GET", "/v1/experiments/widget-ab/results", None);
        assert_eq!(status, 200, "{body}");
        let results = json(&body);
        let clicks: u64 = results["variants"]
            .as_array()
            .unwrap()
            .iter()
            .map(|v| v["clicks"].as_u64().unwrap())
            .sum();
        if clicks == 1 {
            break;
        }
        assert!(
            started.elapsed().as_secs() < 20,
            "the click was not counted: {body}"
        );
        std::thread::sleep(std::time::Duration::from_millis(300));
    }
    let (_, body) = http(
        &addr,
        "GET",
        &format!("/v1/users/{visitor}/history?n=10"),
        None,
    );
    let history = json(&body);
    let click = history["events"]
        .as_array()
        .unwrap()
        .iter()
        .find(|e| e["type"] == "click")
        .unwrap_or_else(|| panic!("no click in {body}"));
    assert_eq!(click["item_id"], clicked.as_str());
    assert_eq!(click["position"], 0);
    assert!(click["recommendation_id"].is_string(), "{body}");
    let (status, widget) = http(&addr, "GET", "/widget.js", None);
    assert_eq!(status, 200);
    assert!(widget.contains("sendBeacon"));
    eprintln!("screenshots in {}", shots.display());
}

#[test]
fn evaluate_baskets_and_cold_items_and_train_a_basket_model() {
    let dir = tempfile::tempdir().unwrap();
    let path = |name: &str| dir.path().join(name).to_str().unwrap().to_string();
    let run = |args: &[&str]| String::from_utf8_lossy(&succeed(args).stdout).into_owned();
    generate_shop(&path("shop"));
    let events = path("shop/events.csv");
    // No basket column: a user's purchases of one day are a basket.
    // `aisle evaluate --data EVENTS ARGS --json OUT`: its text and its JSON report.
    let evaluate = |args: &[&str], out: &str| {
        let mut all = vec!["evaluate", "--data", &events, "--json", out];
        all.extend_from_slice(args);
        let text = run(&all);
        let report: serde_json::Value =
            serde_json::from_str(&std::fs::read_to_string(out).unwrap()).unwrap();
        (text, report)
    };
    let (text, report) = evaluate(
        &[
            "--protocol",
            "basket:0.2",
            "--models",
            "cooccur,ease,popular",
        ],
        &path("baskets.json"),
    );
    assert!(text.contains("each user's purchases per day"), "{text}");
    assert_eq!(report["protocol"], "basket:0.2");
    assert!(report["evaluated"].as_u64().unwrap() > 0, "{report}");
    assert_eq!(report["models"].as_array().unwrap().len(), 3);

    let items = path("shop/items.csv");
    let (text, report) = evaluate(
        &[
            "--items",
            &items,
            "--protocol",
            "cold-items:0.2",
            "--models",
            "content,hybrid",
        ],
        &path("cold.json"),
    );
    assert!(text.contains("items are cold"), "{text}");
    assert!(report["cold_items"].as_u64().unwrap() > 0);
    // Without a catalogue the protocol says what it needs.
    let refused = aisle(&[
        "evaluate",
        "--data",
        &events,
        "--protocol",
        "cold-items:0.2",
        "--models",
        "content",
    ]);
    assert_eq!(refused.status.code(), Some(2));
    assert!(String::from_utf8_lossy(&refused.stderr).contains("--items"));

    let db = path("shop.db");
    import_shop(&path("shop"), &db);
    let text = run(&["train", "--db", &db, "--model", "cooccur", "--baskets"]);
    assert!(
        text.contains("baskets ×") && text.contains("cooccur@baskets"),
        "{text}"
    );
}

#[test]
fn a_store_is_backed_up_and_restored() {
    let dir = tempfile::tempdir().unwrap();
    let path = |name: &str| dir.path().join(name).to_str().unwrap().to_string();
    generate_shop(&path("shop"));
    import_shop(&path("shop"), &path("aisle.db"));
    let (db, backup) = (path("aisle.db"), path("backup.db"));
    let back_up = ["store", "backup", "--db", &db, "--out", &backup];
    let text = String::from_utf8_lossy(&succeed(&back_up).stdout).into_owned();
    assert!(text.contains("Backed up"), "{text}");
    // Never over an existing file.
    let again = aisle(&back_up);
    assert_eq!(again.status.code(), Some(1));
    let text = String::from_utf8_lossy(
        &succeed(&[
            "store",
            "restore",
            "--from",
            &path("backup.db"),
            "--db",
            &path("restored.db"),
        ])
        .stdout,
    )
    .into_owned();
    assert!(
        text.contains("80 items") && text.contains("events"),
        "{text}"
    );
    // What is restored is the store: the same counts through `aisle stats`-like listing.
    let original = aisle_store::open(path("aisle.db"))
        .unwrap()
        .counts()
        .unwrap();
    let restored = aisle_store::open(path("restored.db"))
        .unwrap()
        .counts()
        .unwrap();
    assert_eq!(original, restored);
    // A file that is not a store is refused before anything is replaced.
    std::fs::write(path("junk.db"), b"not a database").unwrap();
    let refused = aisle(&[
        "store",
        "restore",
        "--from",
        &path("junk.db"),
        "--db",
        &path("restored.db"),
    ]);
    assert_ne!(refused.status.code(), Some(0));
    assert_eq!(
        aisle_store::open(path("restored.db"))
            .unwrap()
            .counts()
            .unwrap(),
        original
    );
}
