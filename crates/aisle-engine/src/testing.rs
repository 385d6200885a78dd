//! A test fixture: an engine over a fresh store holding a small generated shop, with a model
//! trained on it — lists are tested here without any server.

use std::sync::Arc;

use aisle_data::generate::{ShopConfig, generate};
use aisle_data::{ByteCounter, Catalogue, CleaningOptions, Dataset, ReadOptions, Weighting};
use aisle_store::{NewEvent, Store, append_dataset};
use serde_json::{Value, json};
use tempfile::TempDir;

use crate::engine::{Engine, EngineConfig};
use crate::training::{TrainSpec, train};

/// An engine serving a generated shop (300 users, 120 items, 12,000 events).
#[derive(Debug)]
pub struct TestEngine {
    pub engine: Engine,
    _dir: TempDir,
}

impl Default for TestEngine {
    /// The shop with a small ALS model, lists precomputed.
    fn default() -> TestEngine {
        Self::trained(&[("als", json!({"factors": 8, "iterations": 4}))])
    }
}

impl TestEngine {
    /// The shop with a small ALS model, lists precomputed.
    pub fn new() -> TestEngine {
        Self::default()
    }

    /// The shop with each `(model, params)` trained (the first answers by default).
    pub fn trained(models: &[(&str, Value)]) -> TestEngine {
        Self::trained_with(models, Weighting::Auto, false)
    }

    /// The shop with each model trained under `weighting`; with `ratings`, every stored pair
    /// also gets a rating event (4 stars), so a ratings-weighted model has data.
    pub fn trained_with(
        models: &[(&str, Value)],
        weighting: Weighting,
        ratings: bool,
    ) -> TestEngine {
        let dir = TempDir::new().unwrap();
        let config = ShopConfig {
            users: 300,
            items: 120,
            events: 12_000,
            seed: 7,
            ..ShopConfig::default()
        };
        generate(&config, dir.path(), |_| {}).unwrap();
        let dataset = Dataset::load(
            &dir.path().join("events.csv"),
            &ReadOptions::default(),
            &CleaningOptions::default(),
            &ByteCounter::default(),
            None,
        )
        .unwrap();
        let store = aisle_store::open(dir.path().join("aisle.db").to_str().unwrap()).unwrap();
        let catalogue = Catalogue::load(&dir.path().join("items.csv")).unwrap();
        store.upsert_items(&catalogue.items).unwrap();
        append_dataset(store.as_ref(), &dataset, 5_000, &mut |_| {}).unwrap();
        if ratings {
            let mut pairs = Vec::new();
            store
                .scan_events(None, &mut |e| {
                    pairs.push((e.user_id.clone(), e.item_id.clone()))
                })
                .unwrap();
            pairs.sort();
            pairs.dedup();
            let events: Vec<NewEvent<'_>> = pairs
                .iter()
                .map(|(u, i)| NewEvent {
                    value: Some(4.0),
                    ..NewEvent::new(u, i, "rating")
                })
                .collect();
            store.append_events(&events).unwrap();
        }
        for (model, params) in models {
            let spec = TrainSpec {
                model: model.to_string(),
                params: params.as_object().cloned().unwrap_or_default(),
                holdout: false,
                weighting,
                ..TrainSpec::default()
            };
            train(store.as_ref(), &spec, None, None, None).unwrap();
        }
        let engine = Engine::new(
            store,
            EngineConfig {
                precompute: 50,
                default_model: models.first().map(|(m, _)| m.to_string()),
                ..EngineConfig::default()
            },
        )
        .unwrap();
        engine.load_models().unwrap();
        engine.precompute_loaded().unwrap();
        TestEngine { engine, _dir: dir }
    }

    pub fn store(&self) -> &Arc<dyn Store> {
        self.engine.store()
    }

    /// A user the model was trained on, with the ids of the items in their history.
    pub fn known_user(&self) -> (String, Vec<String>) {
        let user = "u3".to_string();
        let items = self
            .store()
            .user_events(&user, 1_000)
            .unwrap()
            .into_iter()
            .map(|e| e.item_id)
            .collect();
        (user, items)
    }
}

/// A service over the test shop answering with its ALS model, never training on its own;
/// the rest of `config` as given.
pub fn service(shop: &TestEngine, config: crate::ServiceConfig) -> crate::Service {
    crate::Service::start(
        Arc::clone(shop.store()),
        crate::ServiceConfig {
            engine: EngineConfig {
                default_model: Some("als".into()),
                ..EngineConfig::default()
            },
            train_on_start: false,
            ..config
        },
    )
    .unwrap()
}

/// A view of `item` by `user`, as the API hands it to the service.
pub fn view(user: &str, item: &str, timestamp: i64) -> crate::IncomingEvent {
    crate::IncomingEvent {
        user_id: user.into(),
        item_id: item.into(),
        kind: "view".into(),
        value: None,
        timestamp,
        recommendation_id: None,
        position: None,
        quantity: None,
        price: None,
        basket: None,
    }
}
