//! Every endpoint of the API, driven in process (`tower::ServiceExt::oneshot`) over a real
//! SQLite store holding a small generated shop, and every JSON body fuzzed (`fuzz.rs`). One
//! test binary, so it links once.

mod fuzz;

use std::path::Path;
use std::sync::Arc;

use aisle_data::generate::{ShopConfig, generate};
use aisle_data::{ByteCounter, Catalogue, CleaningOptions, Dataset, ReadOptions};
use aisle_server::{Server, ServerConfig, Settings};
use aisle_store::{Store, append_dataset};
use axum::Router;
use axum::body::Body;
use axum::http::{Request, StatusCode};
use http_body_util::BodyExt;
use serde_json::{Value, json};
use tempfile::TempDir;
use tower::ServiceExt;

/// A server over a fresh store with a generated shop and, unless `untrained`, a small ALS
/// model.
struct TestApp {
    router: Router,
    server: Server,
    _dir: TempDir,
}

fn shop(dir: &Path) -> Arc<dyn Store> {
    let config = ShopConfig {
        users: 300,
        items: 120,
        events: 12_000,
        seed: 7,
        ..ShopConfig::default()
    };
    generate(&config, dir, |_| {}).unwrap();
    let dataset = Dataset::load(
        &dir.join("events.csv"),
        &ReadOptions::default(),
        &CleaningOptions::default(),
        &ByteCounter::default(),
        None,
    )
    .unwrap();
    let store = aisle_store::open(dir.join("aisle.db").to_str().unwrap()).unwrap();
    let catalogue = Catalogue::load(&dir.join("items.csv")).unwrap();
    store.upsert_items(&catalogue.items).unwrap();
    append_dataset(store.as_ref(), &dataset, 5_000, &mut |_| {}).unwrap();
    store
}

fn settings() -> Settings {
    let mut settings = Settings {
        train_on_start: Some(false),
        precompute: Some(50),
        ..Settings::default()
    };
    settings.training.params =
        serde_json::from_value(json!({"factors": 8, "iterations": 4})).expect("params");
    settings
}

async fn app_with(settings: Settings, trained: bool) -> TestApp {
    let dir = TempDir::new().unwrap();
    let store = shop(dir.path());
    let config: ServerConfig = settings.resolve().unwrap();
    if trained {
        aisle_engine::train(store.as_ref(), &config.service.training, None, None, None).unwrap();
    }
    let server = Server::new(store, config).unwrap();
    // Precompute synchronously so tests see the steady state.
    server.service().engine().precompute_loaded().unwrap();
    TestApp {
        router: server.router(),
        server,
        _dir: dir,
    }
}

async fn app() -> TestApp {
    app_with(settings(), true).await
}

impl TestApp {
    async fn call(&self, method: &str, uri: &str, body: Option<Value>) -> (StatusCode, Value) {
        let json = [("content-type", "application/json")];
        let headers: &[(&str, &str)] = if body.is_some() { &json } else { &[] };
        self.send(method, uri, body.map(|b| b.to_string()), headers)
            .await
    }

    async fn send(
        &self,
        method: &str,
        uri: &str,
        body: Option<String>,
        headers: &[(&str, &str)],
    ) -> (StatusCode, Value) {
        let mut request = Request::builder().method(method).uri(uri);
        for (name, value) in headers {
            request = request.header(*name, *value);
        }
        let request = request
            .body(body.map_or_else(Body::empty, Body::from))
            .unwrap();
        let response = self.router.clone().oneshot(request).await.unwrap();
        let status = response.status();
        let bytes = response.into_body().collect().await.unwrap().to_bytes();
        let value = if bytes.is_empty() {
            Value::Null
        } else {
            serde_json::from_slice(&bytes)
                .unwrap_or_else(|_| Value::String(String::from_utf8_lossy(&bytes).into()))
        };
        (status, value)
    }

    /// Sends raw bytes as a JSON body (for bodies that are not even text).
    async fn send_bytes(&self, method: &str, uri: &str, bytes: Vec<u8>) -> (StatusCode, Value) {
        let request = Request::builder()
            .method(method)
            .uri(uri)
            .header("content-type", "application/json")
            .body(Body::from(bytes))
            .unwrap();
        let response = self.router.clone().oneshot(request).await.unwrap();
        let status = response.status();
        let bytes = response.into_body().collect().await.unwrap().to_bytes();
        let value = serde_json::from_slice(&bytes)
            .unwrap_or_else(|_| Value::String(String::from_utf8_lossy(&bytes).into()));
        (status, value)
    }

    /// Asserts that the call fails with `status` and error `code`; returns the message.
    async fn expect_error(
        &self,
        method: &str,
        uri: &str,
        body: Option<Value>,
        status: StatusCode,
        code: &str,
    ) -> String {
        let (got, answer) = self.call(method, uri, body).await;
        assert_eq!(
            (got, error_code(&answer)),
            (status, code),
            "{method} {uri}: {answer}"
        );
        answer["error"]["message"].as_str().unwrap().to_string()
    }

    async fn get(&self, uri: &str) -> Value {
        let (status, body) = self.call("GET", uri, None).await;
        assert_eq!(status, StatusCode::OK, "GET {uri}: {body}");
        body
    }

    /// The status of a GET that arrives from `peer` over the network.
    async fn status_from(&self, peer: &str, uri: &str, headers: &[(&str, &str)]) -> StatusCode {
        let peer: std::net::SocketAddr = peer.parse().unwrap();
        let mut request = Request::get(uri).extension(axum::extract::ConnectInfo(peer));
        for (name, value) in headers {
            request = request.header(*name, *value);
        }
        let request = request.body(Body::empty()).unwrap();
        self.router.clone().oneshot(request).await.unwrap().status()
    }

    fn store(&self) -> &Arc<dyn Store> {
        self.server.service().store()
    }
}

fn ids(list: &Value) -> Vec<String> {
    list["items"]
        .as_array()
        .unwrap()
        .iter()
        .map(|i| i["item_id"].as_str().unwrap().to_string())
        .collect()
}

fn error_code(body: &Value) -> &str {
    body["error"]["code"]
        .as_str()
        .unwrap_or_else(|| panic!("not an error body: {body}"))
}

/// A user the model was trained on, with their stored items.
fn some_user(app: &TestApp) -> (String, Vec<String>) {
    let set = app.server.service().engine().models();
    let serving = set.by_name.values().next().unwrap();
    let user = serving.trained.users.id(3).to_string();
    let history = app.store().user_events(&user, 1000).unwrap();
    (user, history.into_iter().map(|e| e.item_id).collect())
}

#[tokio::test]
async fn items_and_users_are_written_read_listed_and_deleted() {
    let app = app().await;
    let item = json!({"title": "Red kettle", "categories": ["Kitchen"], "price": 25.5,
                      "created_at": "2024-03-01T10:00:00Z", "attributes": {"colour": "red"}});
    let (status, stored) = app.call("PUT", "/v1/items/k1", Some(item)).await;
    assert_eq!(status, StatusCode::OK, "{stored}");
    assert_eq!(stored["item_id"], "k1");
    assert_eq!(stored["available"], true);
    assert_eq!(stored["created_at"], 1_709_287_200);
    let read = app.get("/v1/items/k1").await;
    assert_eq!(read["attributes"]["colour"], "red");

    let (status, body) = app
        .call("PUT", "/v1/items/k2", Some(json!({"item_id": "other"})))
        .await;
    assert_eq!(status, StatusCode::CONFLICT);
    assert_eq!(error_code(&body), "id_mismatch");
    let (status, body) = app
        .call("PUT", "/v1/items/k2", Some(json!({"price": "cheap"})))
        .await;
    assert_eq!(status, StatusCode::UNPROCESSABLE_ENTITY);
    assert_eq!(error_code(&body), "invalid_body");
    assert!(body["error"]["message"].as_str().unwrap().contains("price"));
    let (status, body) = app
        .call("PUT", "/v1/items/k2", Some(json!({"price": -1.0})))
        .await;
    assert_eq!(status, StatusCode::BAD_REQUEST, "{body}");

    let (status, body) = app
        .call(
            "POST",
            "/v1/items",
            Some(json!([{"item_id": "k3"}, {"item_id": "k4", "available": false}])),
        )
        .await;
    assert_eq!(
        (status, body["written"].as_u64()),
        (StatusCode::OK, Some(2))
    );
    let (status, body) = app
        .call(
            "POST",
            "/v1/items",
            Some(json!([{"item_id": "k5"}, {"title": "no id"}])),
        )
        .await;
    assert_eq!(status, StatusCode::UNPROCESSABLE_ENTITY);
    assert!(
        body["error"]["message"]
            .as_str()
            .unwrap()
            .contains("item 1")
    );
    assert_eq!(
        app.call("GET", "/v1/items/k5", None).await.0,
        StatusCode::NOT_FOUND
    );

    let first = app.get("/v1/items?limit=100").await;
    let next = first["next"].as_i64().unwrap();
    let second = app.get(&format!("/v1/items?after={next}&limit=100")).await;
    let listed =
        first["items"].as_array().unwrap().len() + second["items"].as_array().unwrap().len();
    assert_eq!(listed, 120 + 3);
    assert_eq!(
        app.call("GET", "/v1/items?limit=0", None).await.0,
        StatusCode::BAD_REQUEST
    );

    assert_eq!(
        app.call("DELETE", "/v1/items/k1", None).await.0,
        StatusCode::NO_CONTENT
    );
    app.expect_error(
        "GET",
        "/v1/items/k1",
        None,
        StatusCode::NOT_FOUND,
        "unknown_item",
    )
    .await;
    assert_eq!(
        app.call("DELETE", "/v1/items/k1", None).await.0,
        StatusCode::NOT_FOUND
    );

    let (status, _) = app
        .call(
            "PUT",
            "/v1/users/alice",
            Some(json!({"attributes": {"tier": "gold"}})),
        )
        .await;
    assert_eq!(status, StatusCode::OK);
    assert_eq!(
        app.get("/v1/users/alice").await["attributes"]["tier"],
        "gold"
    );
    let (status, body) = app
        .call(
            "POST",
            "/v1/users",
            Some(json!([{"user_id": "bob"}, {"user_id": "carol"}])),
        )
        .await;
    assert_eq!(
        (status, body["written"].as_u64()),
        (StatusCode::OK, Some(2))
    );
    assert!(
        app.get("/v1/users?limit=10").await["users"]
            .as_array()
            .unwrap()
            .len()
            >= 3
    );
    assert_eq!(
        app.call("DELETE", "/v1/users/alice", None).await.0,
        StatusCode::NO_CONTENT
    );
    assert_eq!(
        app.call("GET", "/v1/users/alice", None).await.0,
        StatusCode::NOT_FOUND
    );

    // Forgetting a user erases their events too.
    let (user, history) = some_user(&app);
    assert!(!history.is_empty());
    let status = app
        .call("DELETE", &format!("/v1/users/{user}?events=true"), None)
        .await
        .0;
    assert_eq!(status, StatusCode::NO_CONTENT);
    assert!(app.store().user_events(&user, 10).unwrap().is_empty());
}

#[tokio::test]
async fn events_keep_the_good_rows_and_name_the_bad_ones() {
    let app = app().await;
    let before = app.store().counts().unwrap().events;
    let (status, body) = app
        .call(
            "POST",
            "/v1/events",
            Some(json!({"user_id": "new-1", "item_id": "i1", "type": "view"})),
        )
        .await;
    assert_eq!(status, StatusCode::OK, "{body}");
    assert_eq!(body, json!({"accepted": 1, "errors": []}));

    let batch = json!([
        {"user_id": "new-1", "item_id": "i2", "type": "purchase", "value": 19.9,
         "timestamp": "2024-05-01T12:00:00Z", "recommendation_id": "abc", "position": 2},
        {"user_id": "new-1", "item_id": "no-such-item", "type": "view"},
        {"user_id": "new-1", "item_id": "i3", "type": "purchse"},
        {"user_id": "", "item_id": "i3", "type": "view"},
        {"user_id": "new-1", "item_id": "i3", "type": "view", "timestamp": "yesterday"},
        {"user_id": "new-1", "item_id": "i3"},
        "not an object",
        {"user_id": "new-1", "item_id": "i4", "type": "add_to_cart", "timestamp": 1714564800},
    ]);
    let (status, body) = app.call("POST", "/v1/events", Some(batch)).await;
    assert_eq!(status, StatusCode::OK, "{body}");
    assert_eq!(body["accepted"], 2);
    let errors = body["errors"].as_array().unwrap();
    let indices: Vec<u64> = errors
        .iter()
        .map(|e| e["index"].as_u64().unwrap())
        .collect();
    assert_eq!(indices, [1, 2, 3, 4, 5, 6]);
    let message = |i: usize| errors[i]["message"].as_str().unwrap().to_string();
    assert!(message(0).contains("no-such-item"), "{}", message(0));
    assert!(message(1).contains("purchse"), "{}", message(1));
    assert!(message(2).contains("user_id"), "{}", message(2));
    assert!(message(3).contains("yesterday"), "{}", message(3));
    assert!(message(4).contains("type"), "{}", message(4));
    assert_eq!(app.store().counts().unwrap().events, before + 3);
    let stored = app.store().user_events("new-1", 10).unwrap();
    let purchase = stored.iter().find(|e| e.kind == "purchase").unwrap();
    assert_eq!(purchase.recommendation_id.as_deref(), Some("abc"));
    assert_eq!((purchase.position, purchase.value), (Some(2), Some(19.9)));
    assert_eq!(purchase.timestamp, Some(1_714_564_800));

    let (status, body) = app
        .call(
            "POST",
            "/v1/events",
            Some(json!([{"user_id": "x", "item_id": "nope", "type": "view"}])),
        )
        .await;
    // Every event names an item the catalogue does not list: not found.
    assert_eq!(
        (status, body["accepted"].as_u64()),
        (StatusCode::NOT_FOUND, Some(0))
    );
    let (status, body) = app
        .call(
            "POST",
            "/v1/events",
            Some(json!([{"user_id": "x", "item_id": "nope", "type": "view"},
                        {"user_id": "x", "item_id": "i1", "type": "teleport"}])),
        )
        .await;
    assert_eq!(
        (status, body["accepted"].as_u64()),
        (StatusCode::BAD_REQUEST, Some(0))
    );

    let (status, body) = app
        .send(
            "POST",
            "/v1/events",
            Some("{\"user_id\": ".into()),
            &[("content-type", "application/json")],
        )
        .await;
    assert_eq!(
        (status, error_code(&body)),
        (StatusCode::BAD_REQUEST, "malformed_json")
    );
    app.expect_error(
        "POST",
        "/v1/events",
        Some(json!(42)),
        StatusCode::UNPROCESSABLE_ENTITY,
        "invalid_body",
    )
    .await;
    let (status, body) = app.send("POST", "/v1/events", Some("[]".into()), &[]).await;
    assert_eq!(
        (status, error_code(&body)),
        (StatusCode::UNSUPPORTED_MEDIA_TYPE, "unsupported_media_type")
    );
}

#[tokio::test]
async fn limits_on_bodies_and_batches_are_clear_errors() {
    let mut settings = settings();
    settings.body_limit = Some(2_000);
    settings.max_batch = Some(3);
    let app = app_with(settings, true).await;
    let big = json!([{"user_id": "u", "item_id": "i1", "type": "view", "value": 1.0,
                      "recommendation_id": "x".repeat(3_000)}]);
    app.expect_error(
        "POST",
        "/v1/events",
        Some(big),
        StatusCode::PAYLOAD_TOO_LARGE,
        "payload_too_large",
    )
    .await;
    let four = Value::Array(vec![
        json!({"user_id": "u", "item_id": "i1", "type": "view"});
        4
    ]);
    app.expect_error(
        "POST",
        "/v1/events",
        Some(four),
        StatusCode::UNPROCESSABLE_ENTITY,
        "batch_too_large",
    )
    .await;
    // Nothing of a refused request was stored.
    assert!(app.store().user_events("u", 10).unwrap().is_empty());
}

#[tokio::test]
async fn lists_exclude_history_page_filter_and_fall_back() {
    let app = app().await;
    let (user, history) = some_user(&app);
    let ten = app
        .get(&format!("/v1/users/{user}/recommendations?n=10"))
        .await;
    assert_eq!(ten["fallback"], false);
    assert_eq!(ten["model"], "als");
    assert_eq!(ten["recommendation_id"].as_str().unwrap().len(), 32);
    let listed = ids(&ten);
    assert_eq!(listed.len(), 10);
    assert!(
        listed.iter().all(|i| !history.contains(i)),
        "a seen item was recommended"
    );
    for item in ten["items"].as_array().unwrap() {
        let reason = &item["reason"];
        assert_eq!(reason["kind"], "similar_to", "{reason}");
        assert!(history.contains(&reason["item_id"].as_str().unwrap().to_string()));
    }
    let scores: Vec<f64> = ten["items"]
        .as_array()
        .unwrap()
        .iter()
        .map(|i| i["score"].as_f64().unwrap())
        .collect();
    assert!(scores.windows(2).all(|w| w[0] >= w[1]), "{scores:?}");

    // Paging: offset 5 continues where n=5 stopped.
    let page2 = app
        .get(&format!("/v1/users/{user}/recommendations?n=5&offset=5"))
        .await;
    assert_eq!(ids(&page2), listed[5..].to_vec());
    // Seen items come back when asked for.
    let with_seen = app
        .get(&format!(
            "/v1/users/{user}/recommendations?n=30&exclude_seen=false"
        ))
        .await;
    assert!(ids(&with_seen).iter().any(|i| history.contains(i)));
    // Explicit exclusions.
    let exclude = format!("{},{}", listed[0], listed[1]);
    let without = app
        .get(&format!(
            "/v1/users/{user}/recommendations?n=10&exclude={exclude}"
        ))
        .await;
    assert!(!ids(&without).contains(&listed[0]) && !ids(&without).contains(&listed[1]));

    // Category and availability filters use the live catalogue.
    let category = app.get(&format!("/v1/items/{}", listed[0])).await["categories"][0]
        .as_str()
        .unwrap()
        .to_string();
    let in_category = app
        .get(&format!(
            "/v1/users/{user}/recommendations?n=5&category={category}"
        ))
        .await;
    assert!(!ids(&in_category).is_empty());
    for id in ids(&in_category) {
        let item = app.get(&format!("/v1/items/{id}")).await;
        assert!(
            item["categories"]
                .as_array()
                .unwrap()
                .iter()
                .any(|c| c == category.as_str())
        );
    }
    let mut unavailable = app.get(&format!("/v1/items/{}", listed[0])).await;
    unavailable["available"] = json!(false);
    app.call(
        "PUT",
        &format!("/v1/items/{}", listed[0]),
        Some(unavailable),
    )
    .await;
    let available = app
        .get(&format!(
            "/v1/users/{user}/recommendations?n=10&available_only=true"
        ))
        .await;
    assert!(!ids(&available).contains(&listed[0]));
    // A deleted item is never recommended again.
    app.call("DELETE", &format!("/v1/items/{}", listed[1]), None)
        .await;
    let after_delete = app
        .get(&format!("/v1/users/{user}/recommendations?n=10"))
        .await;
    assert!(!ids(&after_delete).contains(&listed[1]));

    // Unknown user: popular items, flagged, never an error.
    let stranger = app.get("/v1/users/nobody-at-all/recommendations?n=4").await;
    assert_eq!(stranger["fallback"], true);
    assert_eq!(ids(&stranger).len(), 4);
    assert_eq!(stranger["items"][0]["reason"]["kind"], "popular");
    let popular = app.get("/v1/popular?n=4").await;
    assert_eq!(ids(&popular), ids(&stranger));
    let in_category = app
        .get(&format!("/v1/popular?n=3&category={category}"))
        .await;
    assert_eq!(
        in_category["items"][0]["reason"],
        json!({"kind": "popular_in_category", "category": category})
    );
    let trending = app.get("/v1/trending?n=3").await;
    assert_eq!(trending["model"], "trending");
    assert_eq!(trending["items"][0]["reason"]["kind"], "trending");

    // Bad parameters and unknown models.
    app.expect_error(
        "GET",
        &format!("/v1/users/{user}/recommendations?n=0"),
        None,
        StatusCode::BAD_REQUEST,
        "invalid_query",
    )
    .await;
    app.expect_error(
        "GET",
        &format!("/v1/users/{user}/recommendations?n=ten"),
        None,
        StatusCode::BAD_REQUEST,
        "invalid_query",
    )
    .await;
    app.expect_error(
        "GET",
        &format!("/v1/users/{user}/recommendations?model=svd"),
        None,
        StatusCode::NOT_FOUND,
        "unknown_model",
    )
    .await;
}

#[tokio::test]
async fn similar_items_and_anonymous_histories() {
    let app = app().await;
    let similar = app.get("/v1/items/i5/similar?n=5").await;
    assert_eq!(ids(&similar).len(), 5);
    assert!(!ids(&similar).contains(&"i5".to_string()));
    assert_eq!(
        similar["items"][0]["reason"],
        json!({"kind": "similar_item", "item_id": "i5"})
    );
    app.expect_error(
        "GET",
        "/v1/items/nothing/similar",
        None,
        StatusCode::NOT_FOUND,
        "unknown_item",
    )
    .await;
    // A catalogue item the model never saw: popular items of its category, flagged.
    app.call(
        "PUT",
        "/v1/items/brand-new",
        Some(json!({"categories": ["Audio"]})),
    )
    .await;
    let cold = app.get("/v1/items/brand-new/similar?n=3").await;
    assert_eq!(cold["fallback"], true);
    assert_eq!(cold["items"][0]["reason"]["kind"], "popular_in_category");

    let body =
        json!({"history": [{"item_id": "i5"}, {"item_id": "i7", "type": "purchase"}], "n": 6});
    let (status, list) = app.call("POST", "/v1/recommend", Some(body)).await;
    assert_eq!(status, StatusCode::OK, "{list}");
    assert_eq!(list["fallback"], false);
    let got = ids(&list);
    assert_eq!(got.len(), 6);
    assert!(!got.contains(&"i5".to_string()) && !got.contains(&"i7".to_string()));
    let reasons: Vec<&Value> = list["items"]
        .as_array()
        .unwrap()
        .iter()
        .map(|i| &i["reason"])
        .collect();
    assert!(
        reasons
            .iter()
            .any(|r| r["event"] == "purchase" || r["event"] == "history")
    );

    let (user, _) = some_user(&app);
    let by_post = app
        .call(
            "POST",
            "/v1/recommend",
            Some(json!({"user_id": user, "n": 5})),
        )
        .await
        .1;
    let by_get = app
        .get(&format!("/v1/users/{user}/recommendations?n=5"))
        .await;
    assert_eq!(ids(&by_post), ids(&by_get));
    app.expect_error(
        "POST",
        "/v1/recommend",
        Some(json!({"n": 5})),
        StatusCode::UNPROCESSABLE_ENTITY,
        "invalid_body",
    )
    .await;
    app.expect_error(
        "POST",
        "/v1/recommend",
        Some(json!({"user": "x"})),
        StatusCode::UNPROCESSABLE_ENTITY,
        "invalid_body",
    )
    .await;
}

#[tokio::test]
async fn new_events_change_lists_before_any_retraining() {
    let app = app().await;
    // A user the model never saw, with events only since: folded in, not a fallback.
    let stranger = app.get("/v1/users/walk-in/recommendations?n=5").await;
    assert_eq!(stranger["fallback"], true);
    let events = json!([
        {"user_id": "walk-in", "item_id": "i5", "type": "purchase"},
        {"user_id": "walk-in", "item_id": "i7", "type": "add_to_cart"},
    ]);
    assert_eq!(
        app.call("POST", "/v1/events", Some(events)).await.0,
        StatusCode::OK
    );
    let folded = app.get("/v1/users/walk-in/recommendations?n=5").await;
    assert_eq!(folded["fallback"], false, "{folded}");
    assert!(!ids(&folded).contains(&"i5".to_string()));

    // A known user's purchase disappears from their list at once, and their list moves.
    let (user, _) = some_user(&app);
    let before = ids(&app
        .get(&format!("/v1/users/{user}/recommendations?n=10"))
        .await);
    let bought = before[0].clone();
    let events = json!([{"user_id": user, "item_id": bought, "type": "purchase"}]);
    assert_eq!(
        app.call("POST", "/v1/events", Some(events)).await.0,
        StatusCode::OK
    );
    let after = ids(&app
        .get(&format!("/v1/users/{user}/recommendations?n=10"))
        .await);
    assert!(!after.contains(&bought));
    // Without fold-in the list would only close the gap the bought item left.
    assert_ne!(
        after[..9],
        before[1..],
        "the list only lost the bought item: the new event was not folded in"
    );
}

#[tokio::test]
async fn retraining_swaps_the_model_without_failing_requests() {
    let app = app().await;
    let (user, _) = some_user(&app);
    let models = app.get("/v1/models").await;
    assert_eq!(models["serving"][0]["version"], 1);
    assert_eq!(models["serving"][0]["default"], true);
    assert!(models["serving"][0]["precomputed_users"].as_u64().unwrap() > 0);
    assert_eq!(
        app.call("GET", "/v1/admin/train", None).await.0,
        StatusCode::NOT_FOUND
    );

    // Requests keep being answered while a training job runs and swaps.
    let (status, started) = app.call("POST", "/v1/admin/train", None).await;
    assert_eq!(status, StatusCode::ACCEPTED, "{started}");
    assert_eq!(started["started"], true);
    let id = started["job"]["id"].as_u64().unwrap();
    let mut answered = 0;
    loop {
        let (status, body) = app
            .call(
                "GET",
                &format!("/v1/users/{user}/recommendations?n=5"),
                None,
            )
            .await;
        assert_eq!(status, StatusCode::OK, "{body}");
        answered += 1;
        let job = app.get("/v1/admin/train").await;
        assert_eq!(job["id"].as_u64(), Some(id));
        if job["state"] != "running" {
            assert_eq!(job["state"], "succeeded", "{job}");
            assert_eq!(job["version"], 2);
            break;
        }
        assert!(answered < 100_000, "training never finished");
    }
    let list = app
        .get(&format!("/v1/users/{user}/recommendations?n=5"))
        .await;
    assert_eq!(list["model_version"], 2);

    // Another model, waiting for the result; the default model stays the configured one.
    let (status, done) = app
        .call(
            "POST",
            "/v1/admin/train?wait=true",
            Some(json!({"model": "item-knn", "params": {"k": 20}})),
        )
        .await;
    assert_eq!(status, StatusCode::OK, "{done}");
    assert_eq!(done["job"]["state"], "succeeded");
    let knn = app
        .get(&format!(
            "/v1/users/{user}/recommendations?n=5&model=item-knn"
        ))
        .await;
    assert_eq!(
        (knn["model"].as_str(), knn["model_version"].as_i64()),
        (Some("item-knn"), Some(3))
    );
    assert_eq!(
        app.get(&format!("/v1/users/{user}/recommendations?n=5"))
            .await["model"],
        "als"
    );
    let models = app.get("/v1/models").await;
    assert_eq!(models["versions"].as_array().unwrap().len(), 3);

    app.expect_error(
        "POST",
        "/v1/admin/train",
        Some(json!({"model": "nonsense"})),
        StatusCode::NOT_FOUND,
        "unknown_model",
    )
    .await;
    app.expect_error(
        "POST",
        "/v1/admin/train",
        Some(json!({"params": {"factors": 0}})),
        StatusCode::BAD_REQUEST,
        "invalid_model_parameters",
    )
    .await;
}

#[tokio::test]
async fn without_a_model_lists_say_so_and_a_first_training_fixes_it() {
    let app = app_with(settings(), false).await;
    app.expect_error(
        "GET",
        "/v1/users/u1/recommendations",
        None,
        StatusCode::SERVICE_UNAVAILABLE,
        "no_model",
    )
    .await;
    assert_eq!(app.get("/health").await["status"], "no_model");
    let (status, _) = app.call("POST", "/v1/admin/train?wait=true", None).await;
    assert_eq!(status, StatusCode::OK);
    assert_eq!(app.get("/health").await["status"], "ok");
    assert_eq!(
        app.get("/v1/users/u1/recommendations").await["fallback"],
        false
    );
}

/// Posts one event with `header` (name, value) beside the JSON content type: the status and
/// the error code, if any.
async fn post_event(app: &TestApp, header: Option<(&str, &str)>) -> (StatusCode, String) {
    let event = json!({"user_id": "k", "item_id": "i1", "type": "view"}).to_string();
    let mut headers = vec![("content-type", "application/json")];
    headers.extend(header);
    let (status, body) = app.send("POST", "/v1/events", Some(event), &headers).await;
    let code = body["error"]["code"].as_str().unwrap_or("").to_string();
    (status, code)
}

#[tokio::test]
async fn api_keys_guard_writes_and_optionally_reads() {
    let mut keyed = settings();
    keyed.api_key = Some("write-secret-1".into());
    let app = app_with(keyed, true).await;
    let refused = |status, code: &str| (status, code.to_string());
    assert_eq!(
        post_event(&app, None).await,
        refused(StatusCode::UNAUTHORIZED, "missing_api_key")
    );
    assert_eq!(
        post_event(&app, Some(("x-api-key", "write-secret-2"))).await,
        refused(StatusCode::FORBIDDEN, "invalid_api_key")
    );
    let bearer = Some(("authorization", "Bearer write-secret-1"));
    assert_eq!(post_event(&app, bearer).await.0, StatusCode::OK);
    assert_eq!(
        app.call("GET", "/v1/popular", None).await.0,
        StatusCode::OK,
        "reads are public by default"
    );
    // The owner's views are free on loopback, keyed from elsewhere; shoppers' reads stay public.
    let remote = "10.0.0.5:50000";
    for view in ["/v1/stats/overview", "/v1/experiments", "/v1/models"] {
        assert_eq!(
            app.status_from("127.0.0.1:50000", view, &[]).await,
            StatusCode::OK
        );
        assert_eq!(
            app.status_from(remote, view, &[]).await,
            StatusCode::UNAUTHORIZED
        );
        let key = [("x-api-key", "write-secret-1")];
        assert_eq!(app.status_from(remote, view, &key).await, StatusCode::OK);
    }
    assert_eq!(
        app.status_from(remote, "/v1/popular", &[]).await,
        StatusCode::OK
    );
    assert_eq!(app.status_from(remote, "/", &[]).await, StatusCode::OK);

    let mut both = settings();
    both.api_key = Some("write-secret-1".into());
    both.read_api_key = Some("read-secret-1".into());
    let app = app_with(both, true).await;
    assert_eq!(
        app.call("GET", "/v1/popular", None).await.0,
        StatusCode::UNAUTHORIZED
    );
    assert_eq!(
        app.call("POST", "/v1/recommend", Some(json!({"user_id": "u1"})))
            .await
            .0,
        StatusCode::UNAUTHORIZED
    );
    for key in ["read-secret-1", "write-secret-1"] {
        let (status, _) = app
            .send("GET", "/v1/popular", None, &[("x-api-key", key)])
            .await;
        assert_eq!(status, StatusCode::OK);
    }
    assert_eq!(
        post_event(&app, Some(("x-api-key", "read-secret-1")))
            .await
            .0,
        StatusCode::FORBIDDEN,
        "a read key cannot write"
    );
    for public in ["/health", "/metrics", "/openapi.json"] {
        assert_eq!(
            app.call("GET", public, None).await.0,
            StatusCode::OK,
            "{public}"
        );
    }
}

#[tokio::test]
async fn health_metrics_openapi_and_unknown_routes() {
    let app = app().await;
    let health = app.get("/health").await;
    assert_eq!(health["status"], "ok");
    assert_eq!(health["models"][0][0], "als");
    app.get("/v1/popular?n=3").await;
    app.call(
        "POST",
        "/v1/events",
        Some(json!({"user_id": "m", "item_id": "i1", "type": "view"})),
    )
    .await;
    let (status, text) = app.call("GET", "/metrics", None).await;
    assert_eq!(status, StatusCode::OK);
    let text = text.as_str().unwrap();
    assert!(
        text.contains(
            "aisle_http_requests_total{method=\"GET\",route=\"/v1/popular\",status=\"200\"} 1"
        ),
        "{text}"
    );
    assert!(text.contains(
        "aisle_http_request_duration_seconds_count{method=\"GET\",route=\"/v1/popular\"} 1"
    ));
    assert!(text.contains("aisle_events_ingested_total 1"));
    assert!(text.contains("aisle_model_version{model=\"als\"} 1"));

    let doc = app.get("/openapi.json").await;
    assert!(doc["openapi"].as_str().unwrap().starts_with("3."));
    let paths = doc["paths"].as_object().unwrap();
    for path in [
        "/v1/users/{id}/recommendations",
        "/v1/events",
        "/v1/recommend",
        "/health",
    ] {
        assert!(paths.contains_key(path), "{path} is not in /openapi.json");
    }
    app.expect_error(
        "GET",
        "/v2/nothing",
        None,
        StatusCode::NOT_FOUND,
        "unknown_route",
    )
    .await;
    app.expect_error(
        "PATCH",
        "/v1/items/i1",
        None,
        StatusCode::METHOD_NOT_ALLOWED,
        "method_not_allowed",
    )
    .await;
}

#[tokio::test]
async fn experiments_assign_users_attribute_events_and_compare_variants() {
    let app = app().await;
    let (status, body) = app
        .call(
            "POST",
            "/v1/admin/train?wait=true",
            Some(json!({"model": "popular"})),
        )
        .await;
    assert_eq!(status, StatusCode::OK, "{body}");
    let definition = json!({"name": "ab1", "variants": [
        {"name": "control", "model": "popular", "share": 0.5},
        {"name": "cf", "model": "als", "share": 0.5}]});
    let bad = json!({"name": "ab0", "variants": [{"name": "a", "model": "ease", "share": 1.0},
                                                  {"name": "b", "model": "als", "share": 1.0}]});
    let message = app
        .expect_error(
            "POST",
            "/v1/experiments",
            Some(bad),
            StatusCode::NOT_FOUND,
            "unknown_model",
        )
        .await;
    assert!(message.contains("'ease'"), "{message}");
    let (status, body) = app
        .call("POST", "/v1/experiments", Some(definition.clone()))
        .await;
    assert_eq!(status, StatusCode::CREATED, "{body}");
    assert_eq!(body["status"], "running");
    let other = json!({"name": "ab2", "variants": definition["variants"]});
    app.expect_error(
        "POST",
        "/v1/experiments",
        Some(other),
        StatusCode::CONFLICT,
        "experiment_running",
    )
    .await;

    // Every user with an id lands in a variant, always the same one, whose model answers.
    let mut shown = Vec::new();
    for u in 0..60 {
        let user = format!("u{u}");
        let list = app
            .get(&format!("/v1/users/{user}/recommendations?n=5"))
            .await;
        let again = app
            .get(&format!("/v1/users/{user}/recommendations?n=5"))
            .await;
        let variant = list["experiment"]["variant"].as_str().unwrap().to_string();
        assert_eq!(list["experiment"]["name"], "ab1");
        assert_eq!(
            again["experiment"]["variant"],
            variant.as_str(),
            "assignment is sticky"
        );
        let expected_model = if variant == "cf" { "als" } else { "popular" };
        if list["fallback"] == false {
            assert_eq!(list["model"], expected_model);
        }
        shown.push((user, variant, list));
    }
    let in_cf = shown.iter().filter(|(_, v, _)| v == "cf").count();
    assert!((15..=45).contains(&in_cf), "{in_cf} of 60 in cf");
    // Naming a model bypasses the experiment.
    let direct = app.get("/v1/users/u1/recommendations?n=5&model=als").await;
    assert_eq!(direct["experiment"], Value::Null);

    // cf users click their first item and buy it (10.0); control users click nothing. One
    // cf user buys their second item without the id, an hour after clicking it from the list.
    let mut events = Vec::new();
    let mut expected_revenue = 0.0;
    let mut window_buyer = None;
    for (user, variant, list) in &shown {
        if variant != "cf" {
            continue;
        }
        let id = list["recommendation_id"].as_str().unwrap();
        let first = list["items"][0]["item_id"].as_str().unwrap();
        events.push(json!({"user_id": user, "item_id": first, "type": "click", "recommendation_id": id, "position": 0, "timestamp": 1_800_000_000}));
        events.push(json!({"user_id": user, "item_id": first, "type": "purchase", "value": 10.0, "recommendation_id": id, "position": 0, "timestamp": 1_800_000_100}));
        expected_revenue += 10.0;
        if window_buyer.is_none() {
            let second = list["items"][1]["item_id"].as_str().unwrap();
            events.push(json!({"user_id": user, "item_id": second, "type": "click", "recommendation_id": id, "position": 1, "timestamp": 1_800_000_000}));
            events.push(json!({"user_id": user, "item_id": second, "type": "purchase", "value": 5.0, "timestamp": 1_800_003_600}));
            // Too late: two days after the click.
            events.push(json!({"user_id": user, "item_id": second, "type": "add_to_cart", "timestamp": 1_800_200_000}));
            expected_revenue += 5.0;
            window_buyer = Some(user.clone());
        }
    }
    let (status, body) = app
        .call("POST", "/v1/events", Some(Value::Array(events)))
        .await;
    assert_eq!(
        (status, body["errors"].as_array().unwrap().len()),
        (StatusCode::OK, 0),
        "{body}"
    );

    let results = app.get("/v1/experiments/ab1/results").await;
    let variant = |name: &str| {
        results["variants"]
            .as_array()
            .unwrap()
            .iter()
            .find(|v| v["name"] == name)
            .unwrap()
            .clone()
    };
    let (cf, control) = (variant("cf"), variant("control"));
    // Two lists per user (asked twice), five items each.
    assert_eq!(cf["lists"].as_u64().unwrap(), 2 * in_cf as u64);
    assert_eq!(cf["impressions"].as_u64().unwrap(), 10 * in_cf as u64);
    assert_eq!(
        control["impressions"].as_u64().unwrap(),
        10 * (60 - in_cf) as u64
    );
    assert_eq!(cf["clicks"].as_u64().unwrap(), in_cf as u64 + 1);
    assert_eq!(cf["purchases"].as_u64().unwrap(), in_cf as u64 + 1);
    assert_eq!(cf["add_to_carts"], 0, "the late cart is outside the window");
    assert!((cf["revenue"].as_f64().unwrap() - expected_revenue).abs() < 1e-9);
    assert_eq!(control["clicks"], 0);
    let ctr = cf["ctr"].as_f64().unwrap();
    let [lo, hi] = [
        cf["ctr_ci"][0].as_f64().unwrap(),
        cf["ctr_ci"][1].as_f64().unwrap(),
    ];
    assert!(lo < ctr && ctr < hi, "{lo} {ctr} {hi}");
    assert!(control["vs_control"].is_null());
    let versus = &cf["vs_control"];
    assert!(versus["ctr_p_value"].as_f64().unwrap() < 0.05);
    assert_eq!(versus["verdict"], "better", "{versus}");
    assert!(
        results["verdict"]
            .as_str()
            .unwrap()
            .contains("significantly better")
    );
    assert_eq!(results["days"].as_array().unwrap().len(), 1);

    let stopped = app.call("POST", "/v1/experiments/ab1/stop", None).await.1;
    assert_eq!(stopped["status"], "stopped");
    let after = app.get("/v1/users/u1/recommendations?n=5").await;
    assert_eq!(after["experiment"], Value::Null);
    let listed = app.get("/v1/experiments").await;
    assert_eq!(listed["experiments"][0]["status"], "stopped");
    assert_eq!(
        app.get("/v1/experiments/ab1/results").await["variants"][1]["clicks"],
        cf["clicks"],
        "results stay after the stop"
    );
    // The running counts answer what a recount from the store finds.
    assert_eq!(
        app.get("/v1/experiments/ab1/results?recount=true").await,
        app.get("/v1/experiments/ab1/results").await,
    );
    app.expect_error(
        "GET",
        "/v1/experiments/ab1/results?recount=maybe",
        None,
        StatusCode::BAD_REQUEST,
        "invalid_query",
    )
    .await;
    app.expect_error(
        "GET",
        "/v1/experiments/nope/results",
        None,
        StatusCode::NOT_FOUND,
        "unknown_experiment",
    )
    .await;
}

#[tokio::test]
async fn overview_and_history_feed_the_dashboard() {
    let app = app().await;
    let overview = app.get("/v1/stats/overview").await;
    assert_eq!(overview["items"], 120);
    assert_eq!(overview["events"], 12_000);
    assert_eq!(overview["retention"]["served_lists_days"], 90);
    assert!(overview["retention"]["events_days"].is_null());
    let served_before = overview["served_lists"].as_u64().unwrap();
    app.get("/v1/users/u1/recommendations?n=3").await;
    app.server
        .service()
        .experiments()
        .flush(app.store().as_ref())
        .unwrap();
    let overview = app.get("/v1/stats/overview").await;
    assert_eq!(
        overview["served_lists"].as_u64().unwrap(),
        served_before + 1
    );
    let per_day: u64 = overview["events_per_day"]
        .as_array()
        .unwrap()
        .iter()
        .map(|d| d["count"].as_u64().unwrap())
        .sum();
    assert_eq!(per_day, 12_000);
    // Revenue: the generated purchases carry their amount as the value.
    let mut revenue = 0.0;
    app.store()
        .scan_events(None, &mut |e| {
            if e.kind == "purchase" {
                revenue += e.value.unwrap();
            }
        })
        .unwrap();
    assert!(revenue > 0.0);
    let reported = overview["revenue"].as_f64().unwrap();
    assert!(
        (reported - revenue).abs() < 1e-6 * revenue,
        "{reported} {revenue}"
    );
    let (user, stored) = some_user(&app);
    let history = app.get(&format!("/v1/users/{user}/history?n=5")).await;
    let events = history["events"].as_array().unwrap();
    assert_eq!(events.len(), 5.min(stored.len()));
    assert_eq!(
        events[0]["item_id"],
        stored.last().unwrap().as_str(),
        "newest first"
    );
    assert!(events[0]["title"].is_string());
}

#[tokio::test]
async fn every_documented_route_is_routed() {
    let app = app().await;
    let doc = app.get("/openapi.json").await;
    let paths = doc["paths"].as_object().unwrap();
    // The document is made from the routes: every operation in it is answered by a handler
    // (never the unknown-route or wrong-method fallbacks), and the core routes are there.
    for (path, item) in paths {
        for method in item.as_object().unwrap().keys() {
            let uri = path.replace("{id}", "i1").replace("{name}", "nope");
            let (status, body) = app.call(&method.to_uppercase(), &uri, None).await;
            let code = body["error"]["code"].as_str().unwrap_or_default();
            assert!(
                !matches!(code, "unknown_route" | "method_not_allowed"),
                "{method} {path} is in /openapi.json but not routed: {status} {body}"
            );
        }
    }
}

#[tokio::test]
async fn buy_again_lists_a_shoppers_own_purchases() {
    let app = app().await;
    let now = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap()
        .as_secs() as i64;
    let day = 86_400;
    let events = json!([
        {"user_id": "regular", "item_id": "i3", "type": "purchase", "quantity": 6,
         "price": 2.5, "basket_id": "b1", "timestamp": now - 30 * day},
        {"user_id": "regular", "item_id": "i4", "type": "purchase", "quantity": 2,
         "price": 9.0, "basket_id": "b1", "timestamp": now - 30 * day},
        {"user_id": "regular", "item_id": "i5", "type": "purchase", "quantity": 1,
         "basket_id": "b2", "timestamp": now - day},
        {"user_id": "regular", "item_id": "i4", "type": "return", "quantity": 2,
         "basket_id": "Cb1", "timestamp": now - 20 * day},
        {"user_id": "regular", "item_id": "i6", "type": "view"},
    ]);
    let (status, answer) = app.call("POST", "/v1/events", Some(events)).await;
    assert_eq!(status, StatusCode::OK, "{answer}");
    let list = app.get("/v1/users/regular/buy-again?n=10").await;
    // i3 (6 units a month ago) before i5 (1 unit yesterday); i4 went back, i6 was a view.
    assert_eq!(ids(&list), ["i3", "i5"], "{list}");
    assert_eq!(list["model"], "buy-again");
    assert_eq!(list["items"][0]["reason"]["kind"], "bought_before");
    assert_eq!(list["items"][0]["reason"]["units"], 6.0);
    // Someone who never bought anything gets an empty list, not someone else's.
    let nobody = app.get("/v1/users/window-shopper/buy-again").await;
    assert_eq!(ids(&nobody), Vec::<String>::new());
    // The usual filters apply.
    let filtered = app.get("/v1/users/regular/buy-again?exclude=i3").await;
    assert_eq!(ids(&filtered), ["i5"]);
}

#[tokio::test]
async fn tuned_settings_reach_the_next_trained_model() {
    let app = app().await;
    // An outcome stored as `aisle tune --db` stores it: the next training takes its
    // parameters and weighting.
    let id = app
        .store()
        .save_tuning(&aisle_store::NewTuning {
            model: "als".into(),
            weighting: "binary".into(),
            params: json!({"factors": 6, "iterations": 3, "regularization": 12.5}),
            metric: "ndcg@10".into(),
            score: 0.3,
            default_score: 0.25,
            trials: 20,
            seconds: 4.0,
            report: json!({}),
        })
        .unwrap();
    let (status, answer) = app.call("POST", "/v1/admin/train?wait=true", None).await;
    assert_eq!(status, StatusCode::OK, "{answer}");
    let models = app.get("/v1/models").await;
    let als = &models["serving"][0];
    assert_eq!(als["name"], "als");
    // The settings' own parameters (factors 8, iterations 4) win; the rest is the tuning's.
    assert_eq!(als["params"]["factors"], 8);
    assert_eq!(als["params"]["regularization"], 12.5);
    assert_eq!(als["metrics"]["weighting"], "binary");
    assert_eq!(als["metrics"]["tuning"]["id"], id);
    let history = app.get("/v1/tunings").await;
    assert_eq!(history["tunings"][0]["id"], id);
    assert_eq!(history["tunings"][0]["params"]["factors"], 6);

    // A tuning job on demand: a short budget, then an outcome of the job's own.
    let (status, answer) = app
        .call(
            "POST",
            "/v1/admin/tune",
            Some(json!({"models": ["als"], "budget": "2s"})),
        )
        .await;
    assert_eq!(status, StatusCode::ACCEPTED, "{answer}");
    assert_eq!(answer["started"], true);
    let started = std::time::Instant::now();
    let job = loop {
        let job = app.get("/v1/admin/tune").await;
        if job["state"] != "running" {
            break job;
        }
        assert!(
            started.elapsed().as_secs() < 60,
            "tuning did not end: {job}"
        );
        tokio::time::sleep(std::time::Duration::from_millis(100)).await;
    };
    assert_eq!(job["state"], "succeeded", "{job}");
    let newest = job["tunings"][0].as_i64().unwrap();
    assert!(newest > id);
    let history = app.get("/v1/tunings?limit=1").await;
    assert_eq!(history["tunings"][0]["id"], newest);
    assert!(history["tunings"][0]["trials"].as_u64().unwrap() >= 1);
    app.expect_error(
        "POST",
        "/v1/admin/tune",
        Some(json!({"models": ["no-such-model"]})),
        StatusCode::NOT_FOUND,
        "unknown_model",
    )
    .await;
}

#[tokio::test]
async fn bought_together_and_basket_completion_from_a_basket_model() {
    let app = app().await;
    // Orders pairing i1 with i2 and i7 with i8, from customers and guests alike.
    let mut events = Vec::new();
    for order in 0..12 {
        let (a, b) = if order % 2 == 0 {
            ("i1", "i2")
        } else {
            ("i7", "i8")
        };
        for item in [a, b] {
            events.push(
                json!({"user_id": format!("buyer{}", order % 5), "item_id": item,
                "type": "purchase", "basket_id": format!("order{order}"),
                "timestamp": 1_700_000_000 + order * 60}),
            );
        }
    }
    let (status, answer) = app.call("POST", "/v1/events", Some(json!(events))).await;
    assert_eq!(status, StatusCode::OK, "{answer}");
    // Before any basket model: popular items of the item's category, flagged.
    let before = app.get("/v1/items/i1/bought-together?n=3").await;
    assert_eq!(before["fallback"], true, "{before}");

    let train = json!({"model": "cooccur", "baskets": true,
        "params": {"measure": "count", "shrinkage": 0}});
    let (status, answer) = app
        .call("POST", "/v1/admin/train?wait=true", Some(train))
        .await;
    assert_eq!(status, StatusCode::OK, "{answer}");
    assert_eq!(answer["job"]["model"], "cooccur@baskets");

    let list = app.get("/v1/items/i1/bought-together?n=3").await;
    assert_eq!(list["model"], "cooccur@baskets", "{list}");
    assert_eq!(list["fallback"], false);
    assert_eq!(ids(&list)[0], "i2");
    assert_eq!(list["items"][0]["reason"]["kind"], "bought_with");
    assert_eq!(list["items"][0]["reason"]["item_id"], "i1");
    assert_eq!(list["recommendation_id"].as_str().unwrap().len(), 32);
    // User lists still come from the trained user model.
    let (user, _) = some_user(&app);
    let mine = app.get(&format!("/v1/users/{user}/recommendations")).await;
    assert_eq!(mine["model"], "als");

    let (status, list) = app
        .call(
            "POST",
            "/v1/basket",
            Some(json!({"items": ["i1", "i7"], "user_id": "shopper", "n": 2})),
        )
        .await;
    assert_eq!(status, StatusCode::OK, "{list}");
    let mut got = ids(&list);
    got.sort();
    assert_eq!(got, ["i2", "i8"], "{list}");
    let reasons: Vec<(&str, &str)> = list["items"]
        .as_array()
        .unwrap()
        .iter()
        .map(|i| {
            (
                i["item_id"].as_str().unwrap(),
                i["reason"]["item_id"].as_str().unwrap(),
            )
        })
        .collect();
    assert!(reasons.contains(&("i2", "i1")) && reasons.contains(&("i8", "i7")));

    // Basket models as an experiment's variants: basket lists are assigned, user lists not.
    let train = json!({"model": "ease", "baskets": true});
    let (status, answer) = app
        .call("POST", "/v1/admin/train?wait=true", Some(train))
        .await;
    assert_eq!(status, StatusCode::OK, "{answer}");
    let definition = json!({"name": "baskets", "variants": [
        {"name": "counts", "model": "cooccur@baskets", "share": 0.5},
        {"name": "ease", "model": "ease@baskets", "share": 0.5}]});
    let (status, answer) = app.call("POST", "/v1/experiments", Some(definition)).await;
    assert_eq!(status, StatusCode::CREATED, "{answer}");
    let (_, list) = app
        .call(
            "POST",
            "/v1/basket",
            Some(json!({"items": ["i1"], "user_id": "shopper"})),
        )
        .await;
    assert_eq!(list["experiment"]["name"], "baskets", "{list}");
    let variant = list["experiment"]["variant"].as_str().unwrap();
    let expected = if variant == "ease" {
        "ease@baskets"
    } else {
        "cooccur@baskets"
    };
    assert_eq!(list["model"], expected);
    let mine = app.get(&format!("/v1/users/{user}/recommendations")).await;
    assert_eq!(mine["experiment"], Value::Null, "{mine}");
    assert_eq!(mine["model"], "als");

    app.expect_error(
        "POST",
        "/v1/basket",
        Some(json!({"items": []})),
        StatusCode::UNPROCESSABLE_ENTITY,
        "invalid_body",
    )
    .await;
    app.expect_error(
        "GET",
        "/v1/items/no-such-item/bought-together",
        None,
        StatusCode::NOT_FOUND,
        "unknown_item",
    )
    .await;
}

#[tokio::test]
async fn a_new_item_is_listed_and_has_similar_items_by_content_without_retraining() {
    let mut settings = settings();
    settings.training.model = Some("hybrid".into());
    let app = app_with(settings, true).await;
    let (user, history) = some_user(&app);
    let favourite = app.get(&format!("/v1/items/{}", history[0])).await;
    let mut new = favourite.clone();
    new["item_id"] = json!("fresh-1");
    new["title"] = json!(format!("{} Deluxe", favourite["title"].as_str().unwrap()));
    let (status, answer) = app.call("PUT", "/v1/items/fresh-1", Some(new)).await;
    assert!(status.is_success(), "{status} {answer}");

    let list = app
        .get(&format!("/v1/users/{user}/recommendations?n=200"))
        .await;
    let entry = list["items"]
        .as_array()
        .unwrap()
        .iter()
        .find(|i| i["item_id"] == "fresh-1")
        .unwrap_or_else(|| panic!("the new item is listed: {list}"));
    assert_eq!(entry["reason"]["kind"], "new_item");
    let similar = app.get("/v1/items/fresh-1/similar?n=3").await;
    assert_eq!(similar["fallback"], false, "{similar}");
    assert_eq!(similar["items"][0]["item_id"], favourite["item_id"]);
    assert_eq!(similar["items"][0]["reason"]["kind"], "similar_content");
}

#[tokio::test]
async fn placements_are_set_served_explained_and_run_experiments() {
    let mut settings = settings();
    settings.placements = vec![json!({"name": "footer", "source": "popular", "n": 3})];
    let app = app_with(settings, true).await;
    let (user, history) = some_user(&app);

    // A bad rule is a 422 naming the field; nothing is stored.
    let message = app
        .expect_error(
            "PUT",
            "/v1/placements/home",
            Some(json!({"source": "user", "rules": [{"boost": {"field": "categories", "in": ["Audio"], "factor": -2}}]})),
            StatusCode::UNPROCESSABLE_ENTITY,
            "invalid_placement",
        )
        .await;
    assert!(message.starts_with("rules[0].boost.factor"), "{message}");
    app.expect_error(
        "GET",
        "/v1/placements/home",
        None,
        StatusCode::NOT_FOUND,
        "unknown_placement",
    )
    .await;

    // The example, with a pin on an item the user has not seen.
    let plain = app
        .get(&format!("/v1/users/{user}/recommendations?n=20"))
        .await;
    let pinned = ids(&plain)[15].clone();
    let definition = json!({"source": "user", "model": "als", "n": 10,
        "rules": [
            {"filter": {"field": "available", "equals": true}},
            {"boost": {"field": "categories", "in": ["Audio"], "factor": 1.5}},
            {"pin": {"item_id": pinned, "position": 0}},
            {"promote": {"share": 0.2, "filter": {"field": "created_at", "newer_than_days": 30}}},
            {"diversity": {"field": "category", "max": 2}},
            {"rotation": {"hours": 24, "penalty": 0.5}},
            {"repurchase": {"days": 90, "except_categories": ["Coffee"]}}
        ],
        "fallback": ["similar", "popular_in_category", "popular"]});
    let (status, body) = app
        .call("PUT", "/v1/placements/home", Some(definition.clone()))
        .await;
    assert_eq!(status, StatusCode::CREATED, "{body}");
    assert_eq!(body["origin"], "api");
    assert_eq!(body["definition"]["rules"], definition["rules"]);
    let (status, _) = app
        .call("PUT", "/v1/placements/home", Some(definition))
        .await;
    assert_eq!(status, StatusCode::OK, "a second PUT replaces");

    let list = app
        .get(&format!("/v1/placements/home/items?user_id={user}"))
        .await;
    let listed = ids(&list);
    assert_eq!(listed.len(), 10);
    assert_eq!(listed[0], pinned);
    assert_eq!(list["items"][0]["reason"]["kind"], "pinned");
    assert!(listed.iter().all(|i| !history.contains(i)));
    assert_eq!(list["recommendation_id"].as_str().unwrap().len(), 32);
    let short = app
        .get(&format!("/v1/placements/home/items?user_id={user}&n=4"))
        .await;
    assert_eq!(ids(&short).len(), 4);

    // Explained: the pinned item, an unknown one.
    let answer = app
        .get(&format!(
            "/v1/placements/home/explain?user_id={user}&candidate={pinned}"
        ))
        .await;
    assert_eq!(answer["in_list"], true);
    assert_eq!(answer["position"], 0);
    assert_eq!(answer["rank_before_rules"], 15);
    assert!(
        answer["rules"]
            .as_array()
            .unwrap()
            .iter()
            .any(|r| r["rule"] == "rules[2] pin"),
        "{answer}"
    );
    let answer = app
        .get(&format!(
            "/v1/placements/home/explain?user_id={user}&candidate=zzz"
        ))
        .await;
    assert_eq!(answer["reason"], "not in the catalogue");
    app.expect_error(
        "GET",
        "/v1/placements/home/explain",
        None,
        StatusCode::BAD_REQUEST,
        "invalid_query",
    )
    .await;

    // The settings file's placement: listed, served, not writable here.
    let all = app.get("/v1/placements").await;
    let names: Vec<&str> = all["placements"]
        .as_array()
        .unwrap()
        .iter()
        .map(|p| p["name"].as_str().unwrap())
        .collect();
    assert_eq!(names, ["footer", "home"]);
    assert_eq!(ids(&app.get("/v1/placements/footer/items").await).len(), 3);
    app.expect_error(
        "DELETE",
        "/v1/placements/footer",
        None,
        StatusCode::CONFLICT,
        "placement_configured",
    )
    .await;
    // A similar-items placement without the page's item: the fallback chain answers.
    let (status, _) = app
        .call(
            "PUT",
            "/v1/placements/product-page",
            Some(json!({"source": "similar", "n": 4})),
        )
        .await;
    assert_eq!(status, StatusCode::CREATED);
    let without = app.get("/v1/placements/product-page/items").await;
    assert_eq!(
        (without["fallback"].as_bool(), ids(&without).len()),
        (Some(true), 4)
    );
    let similar = app
        .get("/v1/placements/product-page/items?item_id=i1")
        .await;
    assert_eq!(ids(&similar).len(), 4);
    assert!(!ids(&similar).contains(&"i1".to_string()));

    // A placement without a model runs the experiment: its lists carry the variant, and a
    // click on them counts in the results.
    let (status, body) = app
        .call(
            "POST",
            "/v1/admin/train?wait=true",
            Some(json!({"model": "popular"})),
        )
        .await;
    assert_eq!(status, StatusCode::OK, "{body}");
    let (status, body) = app
        .call(
            "POST",
            "/v1/experiments",
            Some(json!({"name": "widget", "variants": [
            {"name": "control", "model": "popular", "share": 0.5},
            {"name": "cf", "model": "als", "share": 0.5}]})),
        )
        .await;
    assert_eq!(status, StatusCode::CREATED, "{body}");
    let (status, _) = app
        .call(
            "PUT",
            "/v1/placements/open",
            Some(json!({"source": "user", "n": 5})),
        )
        .await;
    assert_eq!(status, StatusCode::CREATED);
    let list = app
        .get(&format!("/v1/placements/open/items?user_id={user}"))
        .await;
    let variant = list["experiment"]["variant"].as_str().unwrap().to_string();
    assert_eq!(list["experiment"]["name"], "widget");
    let click = json!([{"user_id": user, "item_id": list["items"][0]["item_id"], "type": "click",
        "recommendation_id": list["recommendation_id"], "position": 0}]);
    let (status, body) = app.call("POST", "/v1/events", Some(click)).await;
    assert_eq!(status, StatusCode::OK, "{body}");
    let results = app.get("/v1/experiments/widget/results").await;
    let row = results["variants"]
        .as_array()
        .unwrap()
        .iter()
        .find(|v| v["name"] == variant.as_str())
        .unwrap();
    assert_eq!(
        (&row["lists"], &row["impressions"]),
        (&json!(1), &json!(5)),
        "{results}"
    );
    assert_eq!(row["clicks"], 1, "{results}");

    let (status, _) = app.call("DELETE", "/v1/placements/home", None).await;
    assert_eq!(status, StatusCode::NO_CONTENT);
    app.expect_error(
        "DELETE",
        "/v1/placements/home",
        None,
        StatusCode::NOT_FOUND,
        "unknown_placement",
    )
    .await;
}

/// A raw request and its whole answer (headers included).
async fn raw(app: &TestApp, request: Request<Body>) -> axum::response::Response {
    app.router.clone().oneshot(request).await.unwrap()
}

#[tokio::test]
async fn keys_with_scopes_rate_limits_and_cors_for_a_storefront() {
    let mut keyed = settings();
    keyed.api_key = Some("legacy-admin-1".into());
    keyed.keys = serde_json::from_value(json!([
        {"key": "pk-shop-1234", "scope": "public", "origins": ["https://shop.example"], "rate_per_minute": 5},
        {"key": "wk-feed-1234", "scope": "write"},
        {"key": "ak-owner-1234", "scope": "admin"},
    ]))
    .unwrap();
    let app = app_with(keyed, true).await;
    let (user, _) = some_user(&app);
    let call = |method: &str, uri: &str, key: &str, body: Option<Value>| {
        let mut request = Request::builder()
            .method(method)
            .uri(uri.to_string())
            .header("x-api-key", key.to_string());
        if body.is_some() {
            request = request.header("content-type", "application/json");
        }
        request
            .body(body.map_or_else(Body::empty, |b| Body::from(b.to_string())))
            .unwrap()
    };
    let status = |response: &axum::response::Response| response.status();
    let placement = json!({"source": "popular", "n": 3});
    // Placements are admin calls: the write key may not, the admin and legacy keys may.
    let answer = raw(
        &app,
        call(
            "PUT",
            "/v1/placements/footer",
            "wk-feed-1234",
            Some(placement.clone()),
        ),
    )
    .await;
    assert_eq!(status(&answer), StatusCode::FORBIDDEN);
    let answer = raw(
        &app,
        call(
            "PUT",
            "/v1/placements/footer",
            "ak-owner-1234",
            Some(placement.clone()),
        ),
    )
    .await;
    assert_eq!(status(&answer), StatusCode::CREATED);
    let answer = raw(
        &app,
        call(
            "PUT",
            "/v1/placements/footer",
            "legacy-admin-1",
            Some(placement),
        ),
    )
    .await;
    assert_eq!(status(&answer), StatusCode::OK);
    // The write key writes the catalogue; the public key may not.
    let item = json!({"item_id": "new-1", "title": "Lamp"});
    assert_eq!(
        status(
            &raw(
                &app,
                call("PUT", "/v1/items/new-1", "wk-feed-1234", Some(item.clone()))
            )
            .await
        ),
        StatusCode::OK
    );
    assert_eq!(
        status(
            &raw(
                &app,
                call("PUT", "/v1/items/new-1", "pk-shop-1234", Some(item))
            )
            .await
        ),
        StatusCode::FORBIDDEN
    );

    // The public key: lists (also as ?key=), clicks and views only, rate-limited per address.
    let list = raw(
        &app,
        Request::get(format!(
            "/v1/placements/footer/items?user_id={user}&key=pk-shop-1234"
        ))
        .body(Body::empty())
        .unwrap(),
    )
    .await;
    assert_eq!(status(&list), StatusCode::OK);
    let events = json!([
        {"user_id": user, "item_id": "i1", "type": "click"},
        {"user_id": user, "item_id": "i2", "type": "purchase"},
    ]);
    // A beacon: text/plain, the key in the query.
    let beacon = Request::post("/v1/events?key=pk-shop-1234")
        .header("content-type", "text/plain;charset=UTF-8")
        .body(Body::from(events.to_string()))
        .unwrap();
    let answer = raw(&app, beacon).await;
    assert_eq!(status(&answer), StatusCode::OK);
    let body: Value =
        serde_json::from_slice(&answer.into_body().collect().await.unwrap().to_bytes()).unwrap();
    assert_eq!(body["accepted"], 1, "{body}");
    assert_eq!(body["errors"][0]["index"], 1);
    assert!(
        body["errors"][0]["message"]
            .as_str()
            .unwrap()
            .contains("click and view"),
        "{body}"
    );
    // A secret key is never taken from a URL.
    let answer = raw(
        &app,
        Request::get("/v1/popular?key=wk-feed-1234")
            .body(Body::empty())
            .unwrap(),
    )
    .await;
    assert_eq!(
        status(&answer),
        StatusCode::FORBIDDEN,
        "even where no key is needed"
    );
    let answer = raw(
        &app,
        Request::post("/v1/events?key=wk-feed-1234")
            .header("content-type", "application/json")
            .body(Body::from(events.to_string()))
            .unwrap(),
    )
    .await;
    assert_eq!(status(&answer), StatusCode::FORBIDDEN);

    // Five calls a minute from one address: the sixth waits, another address does not.
    let from = |peer: &str| {
        let peer: std::net::SocketAddr = peer.parse().unwrap();
        Request::get("/v1/popular?n=2&key=pk-shop-1234")
            .extension(axum::extract::ConnectInfo(peer))
            .body(Body::empty())
            .unwrap()
    };
    for _ in 0..5 {
        assert_eq!(
            status(&raw(&app, from("10.1.1.1:4000")).await),
            StatusCode::OK
        );
    }
    let limited = raw(&app, from("10.1.1.1:4000")).await;
    assert_eq!(status(&limited), StatusCode::TOO_MANY_REQUESTS);
    let retry: u64 = limited.headers()["retry-after"]
        .to_str()
        .unwrap()
        .parse()
        .unwrap();
    assert!((1..=12).contains(&retry), "{retry}");
    assert_eq!(
        status(&raw(&app, from("10.1.1.2:4000")).await),
        StatusCode::OK
    );

    // CORS: the shop's origin gets a preflight answer and marked answers; another does not.
    let preflight = Request::builder()
        .method("OPTIONS")
        .uri("/v1/placements/footer/items")
        .header("origin", "https://shop.example")
        .header("access-control-request-method", "GET")
        .body(Body::empty())
        .unwrap();
    let answer = raw(&app, preflight).await;
    assert_eq!(status(&answer), StatusCode::NO_CONTENT);
    assert_eq!(
        answer.headers()["access-control-allow-origin"],
        "https://shop.example"
    );
    let marked = Request::get("/v1/popular?n=1")
        .header("origin", "https://shop.example")
        .body(Body::empty())
        .unwrap();
    let answer = raw(&app, marked).await;
    assert_eq!(
        answer.headers()["access-control-allow-origin"],
        "https://shop.example"
    );
    let foreign = Request::get("/v1/popular?n=1")
        .header("origin", "https://evil.example")
        .body(Body::empty())
        .unwrap();
    assert!(
        raw(&app, foreign)
            .await
            .headers()
            .get("access-control-allow-origin")
            .is_none()
    );
}
