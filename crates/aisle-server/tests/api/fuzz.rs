//! Every JSON body the API takes, fuzzed: arbitrary JSON, valid bodies with fields swapped
//! for arbitrary values, and raw bytes (invalid UTF-8, truncated JSON). Whatever arrives, the
//! answer is a 2xx or a 4xx with a JSON error — never a 5xx, a panic or a hang.
//!
//! `AISLE_FUZZ_CASES` sets the cases per target (default 200 here; `bench/fuzz` runs 10,000).
//! The runner's seed is fixed, so a failure reproduces.

use axum::http::StatusCode;
use proptest::prelude::*;
use proptest::test_runner::{Config, RngAlgorithm, TestCaseError, TestRng, TestRunner};
use serde_json::{Map, Value, json};

use super::{TestApp, app};

/// Field names of the API's bodies: generated objects mostly use these, so a generated body
/// often gets past "unknown field" into each field's own checks.
const FIELDS: &[&str] = &[
    "user_id",
    "item_id",
    "type",
    "value",
    "timestamp",
    "recommendation_id",
    "position",
    "quantity",
    "price",
    "basket_id",
    "title",
    "categories",
    "available",
    "created_at",
    "attributes",
    "history",
    "n",
    "offset",
    "category",
    "available_only",
    "exclude_seen",
    "exclude",
    "model",
    "name",
    "variants",
    "share",
    "control",
    "window_hours",
    "params",
    "baskets",
    "items",
    "rules",
    "boost",
    "factor",
    "source",
    "filter",
    "pin",
    "field",
    "equals",
    "in",
    "diversity",
    "max",
    "rotation",
    "hours",
    "penalty",
    "fallback",
];

fn text() -> impl Strategy<Value = String> {
    prop_oneof![
        4 => "[a-z0-9_]{0,10}",
        2 => "\\PC{0,16}",
        1 => Just(String::new()),
        1 => Just("x".repeat(3_000)),
        1 => prop::sample::select(vec!["u1", "i1", "i5", "view", "purchase", "als", "popular", "1700000000", "2024-01-01T00:00:00Z"]).prop_map(String::from),
    ]
}

fn number() -> impl Strategy<Value = Value> {
    prop_oneof![
        any::<i64>().prop_map(Value::from),
        (-5i64..200).prop_map(Value::from),
        any::<f64>().prop_filter_map("JSON has no NaN or infinity", |f| {
            serde_json::Number::from_f64(f).map(Value::Number)
        }),
        prop::sample::select(vec![
            0.0,
            -0.5,
            0.5,
            1.0,
            1e308,
            -1e308,
            5e-324,
            4294967296.0
        ])
        .prop_map(Value::from),
        any::<u64>().prop_map(Value::from),
    ]
}

fn key() -> impl Strategy<Value = String> {
    prop_oneof![
        4 => prop::sample::select(FIELDS).prop_map(String::from),
        1 => "[a-z_]{1,12}",
    ]
}

fn json_value() -> impl Strategy<Value = Value> {
    let leaf = prop_oneof![
        Just(Value::Null),
        any::<bool>().prop_map(Value::Bool),
        number(),
        text().prop_map(Value::String),
    ];
    leaf.prop_recursive(3, 32, 6, |inner| {
        prop_oneof![
            prop::collection::vec(inner.clone(), 0..6).prop_map(Value::Array),
            prop::collection::vec((key(), inner), 0..8)
                .prop_map(|fields| Value::Object(fields.into_iter().collect::<Map<_, _>>())),
        ]
    })
}

/// `valid` with some fields replaced by arbitrary values, some removed and some added.
fn mutated(valid: Value) -> impl Strategy<Value = Value> {
    let fields: Vec<String> = valid
        .as_object()
        .map(|o| o.keys().cloned().collect())
        .unwrap_or_default();
    let n = fields.len().max(1);
    (
        prop::collection::vec((0..n, json_value()), 1..4),
        prop::collection::vec(0..n, 0..2),
        prop::collection::vec((key(), json_value()), 0..2),
    )
        .prop_map(move |(replaced, removed, added)| {
            let mut body = valid.clone();
            if let Some(object) = body.as_object_mut() {
                for (i, value) in replaced {
                    if let Some(name) = fields.get(i) {
                        object.insert(name.clone(), value);
                    }
                }
                for i in removed {
                    if let Some(name) = fields.get(i) {
                        object.remove(name);
                    }
                }
                object.extend(added);
            }
            body
        })
}

/// What is sent: JSON text, or raw bytes.
#[derive(Debug, Clone)]
enum Body {
    Json(Value),
    Bytes(Vec<u8>),
}

fn body(valid: Value) -> impl Strategy<Value = Body> {
    let batch = Value::Array(vec![valid.clone(), valid.clone()]);
    prop_oneof![
        4 => mutated(valid.clone()).prop_map(Body::Json),
        2 => json_value().prop_map(Body::Json),
        1 => prop::collection::vec(mutated(valid.clone()), 0..5).prop_map(|b| Body::Json(Value::Array(b))),
        1 => mutated(batch).prop_map(Body::Json),
        1 => prop::collection::vec(any::<u8>(), 0..300).prop_map(Body::Bytes),
        1 => (mutated(valid), 1usize..40).prop_map(|(v, cut)| {
            let text = v.to_string().into_bytes();
            let keep = text.len().saturating_sub(cut);
            Body::Bytes(text[..keep].to_vec())
        }),
    ]
}

fn cases() -> u32 {
    std::env::var("AISLE_FUZZ_CASES")
        .ok()
        .and_then(|n| n.parse().ok())
        .unwrap_or(200)
}

/// Sends generated bodies to `method path` and checks each answer.
fn fuzz(app: &TestApp, runtime: &tokio::runtime::Runtime, method: &str, path: &str, valid: Value) {
    let config = Config {
        cases: cases(),
        failure_persistence: None,
        ..Config::default()
    };
    let mut runner =
        TestRunner::new_with_rng(config, TestRng::deterministic_rng(RngAlgorithm::ChaCha));
    let result = runner.run(&body(valid), |body| {
        let (text, bytes) = match &body {
            Body::Json(value) => (value.to_string(), None),
            Body::Bytes(bytes) => (String::new(), Some(bytes.clone())),
        };
        let (status, answer) = runtime.block_on(async {
            match bytes {
                None => {
                    app.send(
                        method,
                        path,
                        Some(text),
                        &[("content-type", "application/json")],
                    )
                    .await
                }
                Some(bytes) => app.send_bytes(method, path, bytes).await,
            }
        });
        if status.is_server_error() {
            return Err(TestCaseError::fail(format!(
                "{method} {path} answered {status}: {answer}"
            )));
        }
        let explained = answer["error"]["code"].is_string()
            // The events endpoint names refused events one by one.
            || answer["errors"].is_array();
        if status.is_client_error() && !explained {
            return Err(TestCaseError::fail(format!(
                "{method} {path} answered {status} without a JSON error: {answer}"
            )));
        }
        prop_assert!(
            status.is_success() || status.is_client_error(),
            "{} {}: {}",
            method,
            path,
            status
        );
        Ok(())
    });
    if let Err(e) = result {
        panic!("{e}");
    }
}

#[test]
fn every_json_body_answers_2xx_or_a_4xx_json_error() {
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .unwrap();
    let app = runtime.block_on(app());
    let targets: [(&str, &str, Value); 10] = [
        (
            "POST",
            "/v1/events",
            json!({"user_id": "u1", "item_id": "i1", "type": "purchase",
            "value": 3.5, "timestamp": 1_700_000_000, "recommendation_id": "r1", "position": 0,
            "quantity": 2, "price": 9.99, "basket_id": "b1"}),
        ),
        (
            "PUT",
            "/v1/items/fz-item",
            json!({"title": "A lamp", "categories": ["home"],
            "price": 19.5, "available": true, "created_at": "2024-01-01T00:00:00Z"}),
        ),
        (
            "POST",
            "/v1/items",
            json!([{"item_id": "fz-2", "title": "A mug", "categories": ["kitchen"]}]),
        ),
        (
            "PUT",
            "/v1/users/fz-user",
            json!({"attributes": {"segment": "new"}}),
        ),
        (
            "POST",
            "/v1/users",
            json!([{"user_id": "fz-u2", "attributes": {"age": 31}}]),
        ),
        (
            "POST",
            "/v1/recommend",
            json!({"user_id": "u1", "history": [{"item_id": "i1",
            "type": "view"}, {"item_id": "i2", "value": 2}], "n": 5, "offset": 0,
            "category": "c1", "available_only": false, "exclude_seen": true,
            "exclude": ["i3"], "model": "als"}),
        ),
        (
            "POST",
            "/v1/basket",
            json!({"items": ["i1", "i2"], "user_id": "u1", "n": 5}),
        ),
        (
            "POST",
            "/v1/experiments",
            json!({"name": "fz-exp", "variants": [
            {"name": "a", "model": "als", "share": 0.5},
            {"name": "b", "model": "popular", "share": 0.5}], "control": "a",
            "window_hours": 24}),
        ),
        (
            "POST",
            "/v1/admin/train",
            json!({"model": "popular", "params": {}, "baskets": false}),
        ),
        (
            "PUT",
            "/v1/placements/fz-place",
            json!({"source": "user", "model": "als", "n": 5,
            "rules": [{"filter": {"field": "available", "equals": true}},
                {"boost": {"field": "categories", "in": ["c1"], "factor": 1.5}},
                {"pin": {"item_id": "i4", "position": 0}},
                {"diversity": {"field": "category", "max": 2}},
                {"rotation": {"hours": 24, "penalty": 0.5}}],
            "fallback": ["popular"], "title": "For you"}),
        ),
    ];
    for (method, path, valid) in targets {
        fuzz(&app, &runtime, method, path, valid);
    }
    // Whatever was accepted, the server still answers.
    let (status, _) = runtime.block_on(app.call("GET", "/health", None));
    assert_eq!(status, StatusCode::OK);
}
