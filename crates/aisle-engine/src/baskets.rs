//! Basket models in a store: trained on the basket × item matrix of the store's events
//! rather than on users' histories, stored under the name `MODEL@baskets`, and answering
//! "bought together" and "complete the basket" lists.
//!
//! A basket model is an ordinary model version (any algorithm that folds in a history:
//! `ease`, `cooccur`, `item-knn`, `als`), so it is saved, followed by replicas, swapped in
//! and usable as an experiment's variant like any other. It knows no users: its "users" are
//! baskets, which are not kept.

use std::sync::atomic::AtomicBool;
use std::time::Instant;

use aisle_data::{BasketProtocol, Baskets, IdMap, Weighting, basket_matrix};
use aisle_eval::evaluate_baskets;
use aisle_models::persist::FORMAT_VERSION;
use aisle_models::popular::popularity;
use aisle_models::{FitContext, Progress, TrainedModel, algorithm};
use aisle_store::{ModelMeta, Store};
use serde_json::{Value, json};

use crate::training::{Fitted, TRENDING_HALF_LIFE_DAYS, TrainError, TrainSpec};
use crate::unix_now;

/// What a basket model's stored name ends with.
pub const BASKETS_SUFFIX: &str = "@baskets";

/// The stored name of `model` trained on baskets (`ease` → `ease@baskets`).
pub fn basket_model_name(model: &str) -> String {
    format!("{model}{BASKETS_SUFFIX}")
}

/// Whether a stored model name is a basket model's.
pub fn is_basket_model(name: &str) -> bool {
    name.ends_with(BASKETS_SUFFIX)
}

/// Snapshots the store and trains `spec.model` on its baskets, to be saved as
/// `MODEL@baskets`. With `spec.holdout`, the version's metrics hold `basket:0.1` scores of
/// the same model fitted on the earlier 90% of baskets.
pub(crate) fn fit_baskets(
    store: &dyn Store,
    spec: &TrainSpec,
    progress: Option<&(dyn Fn(Progress) + Sync)>,
    cancel: Option<&AtomicBool>,
    notice: Option<&(dyn Fn(&str) + Sync)>,
) -> Result<Fitted, TrainError> {
    let trainer = algorithm(&spec.model, &spec.params)?;
    let snapshot = store.snapshot(&spec.cleaning, false)?;
    let dataset = snapshot.dataset;
    let baskets = Baskets::of(&dataset);
    if baskets.baskets.is_empty() {
        return Err(TrainError::NoEvents);
    }
    let matrix = basket_matrix(&baskets.baskets, dataset.n_items());
    let ctx = FitContext {
        seed: spec.seed,
        progress,
        cancel,
        notice,
        ..FitContext::default()
    };
    let started = Instant::now();
    let model = trainer.fit(&matrix, &ctx)?;
    let fit_seconds = started.elapsed().as_secs_f64();
    let holdout = if spec.holdout {
        let split =
            BasketProtocol { fraction: 0.1 }
                .split(&baskets.baskets, dataset.n_items(), |i| dataset.items.id(i));
        match evaluate_baskets(
            trainer.as_ref(),
            &split,
            10,
            &FitContext::with_seed(spec.seed),
        ) {
            Ok(scores) => json!({
                "protocol": "basket:0.1",
                "evaluated": scores.evaluated,
                "hitrate@10": scores.hit_rate,
                "ndcg@10": scores.ndcg,
                "mrr@10": scores.mrr,
            }),
            Err(e) => {
                tracing::warn!(model = %spec.model, "the basket holdout evaluation failed: {e}");
                Value::Null
            }
        }
    } else {
        Value::Null
    };
    let trained = TrainedModel {
        model,
        users: IdMap::new(),
        items: dataset.items,
        item_popularity: matrix.column_counts(),
        item_trending: popularity(&matrix, TRENDING_HALF_LIFE_DAYS),
        weighting: Weighting::Binary,
        event_types: dataset.event_types,
    };
    let bytes = trained.to_bytes()?;
    let meta = ModelMeta {
        name: basket_model_name(&spec.model),
        params: trainer.params(),
        trained_at: unix_now(),
        metrics: json!({
            "fit_seconds": fit_seconds,
            "baskets": matrix.n_users(),
            "basket_source": format!("{:?}", baskets.source),
            "items": matrix.n_items(),
            "interactions": matrix.nnz(),
            "weighting": Weighting::Binary,
            "holdout": holdout,
        }),
        format_version: FORMAT_VERSION,
        last_event_id: snapshot.last_event,
    };
    Ok(Fitted {
        meta,
        bytes,
        model: trained,
        matrix,
        report: dataset.report,
    })
}

#[cfg(test)]
mod tests {
    use std::sync::Arc;

    use aisle_data::Item;
    use aisle_store::{NewEvent, Store};
    use serde_json::json;
    use tempfile::TempDir;

    use super::*;
    use crate::engine::{Engine, EngineConfig};
    use crate::list::{ListRequest, Reason};
    use crate::training::train;

    /// A shop whose orders pair a with b and c with d (often), and hold e alone; f is in the
    /// catalogue but never ordered.
    fn shop() -> (TempDir, Arc<dyn Store>) {
        let dir = TempDir::new().unwrap();
        let store = aisle_store::open(dir.path().join("aisle.db").to_str().unwrap()).unwrap();
        let items: Vec<Item> = ["a", "b", "c", "d", "e", "f"]
            .iter()
            .map(|id| Item {
                id: id.to_string(),
                categories: vec![if *id < "c" { "kitchen" } else { "garden" }.into()],
                available: true,
                ..Item::default()
            })
            .collect();
        store.upsert_items(&items).unwrap();
        let orders: Vec<(String, String, [&str; 2])> = (0..30)
            .map(|i| {
                let pair = match i % 3 {
                    0 => ["a", "b"],
                    1 => ["c", "d"],
                    _ => ["e", "e"],
                };
                (format!("u{}", i % 7), format!("o{i}"), pair)
            })
            .collect();
        let mut events = Vec::new();
        for (i, (user, order, pair)) in orders.iter().enumerate() {
            for item in pair {
                events.push(NewEvent {
                    timestamp: Some(1_700_000_000 + i as i64 * 60),
                    basket: Some(order),
                    ..NewEvent::new(user, item, "purchase")
                });
            }
        }
        store.append_events(&events).unwrap();
        (dir, store)
    }

    fn spec(model: &str, baskets: bool) -> TrainSpec {
        TrainSpec {
            model: model.into(),
            params: json!({"measure": "count", "shrinkage": 0.0})
                .as_object()
                .filter(|_| model == "cooccur")
                .cloned()
                .unwrap_or_default(),
            holdout: false,
            baskets,
            ..TrainSpec::default()
        }
    }

    fn engine(store: &Arc<dyn Store>) -> Engine {
        let engine = Engine::new(
            Arc::clone(store),
            EngineConfig {
                default_model: Some("popular".into()),
                ..EngineConfig::default()
            },
        )
        .unwrap();
        engine.load_models().unwrap();
        engine
    }

    fn ids(list: &crate::RecommendationList) -> Vec<&str> {
        list.items.iter().map(|i| i.item_id.as_str()).collect()
    }

    #[test]
    fn bought_together_and_basket_lists_come_from_the_basket_model() {
        let (_dir, store) = shop();
        train(store.as_ref(), &spec("popular", false), None, None, None).unwrap();
        let trained = train(store.as_ref(), &spec("cooccur", true), None, None, None).unwrap();
        assert_eq!(trained.info.meta.name, "cooccur@baskets");
        assert_eq!(trained.matrix.n_users(), 30, "one row per order");
        let engine = engine(&store);
        // The basket model answers baskets only: user lists keep the default model.
        assert_eq!(
            engine.list(&ListRequest::popular()).unwrap().model,
            "popular"
        );

        let list = engine
            .list(&ListRequest::bought_together("a").with_n(3))
            .unwrap();
        assert_eq!(list.model, "cooccur@baskets");
        assert!(!list.fallback);
        assert_eq!(ids(&list)[0], "b");
        assert_eq!(
            list.items[0].reason,
            Reason::BoughtWith {
                item_id: "a".into()
            }
        );
        // Only b was ever bought with a; the rest is popular in a's category (kitchen).
        assert_eq!(ids(&list).len(), 1, "kitchen holds only a and b");

        let list = engine
            .list(&ListRequest::complete_basket(vec!["a".into(), "c".into()]).with_n(2))
            .unwrap();
        let mut got = ids(&list);
        got.sort_unstable();
        assert_eq!(got, ["b", "d"], "the basket's items never come back");
        for item in &list.items {
            let with = if item.item_id == "b" { "a" } else { "c" };
            assert_eq!(
                item.reason,
                Reason::BoughtWith {
                    item_id: with.into()
                }
            );
        }
        // A basket of items no order holds: popular items, flagged.
        let list = engine
            .list(&ListRequest::complete_basket(vec!["f".into()]).with_n(2))
            .unwrap();
        assert!(list.fallback);
        assert!(!ids(&list).contains(&"f"));
    }

    #[test]
    fn without_a_basket_model_the_lists_fall_back_to_popular_items() {
        let (_dir, store) = shop();
        train(store.as_ref(), &spec("popular", false), None, None, None).unwrap();
        let engine = engine(&store);
        let list = engine
            .list(&ListRequest::bought_together("c").with_n(2))
            .unwrap();
        assert!(list.fallback);
        assert_eq!(list.model, "popular");
        assert!(!ids(&list).contains(&"c"));
        assert!(matches!(
            engine.list(&ListRequest::bought_together("nothing")),
            Err(crate::EngineError::UnknownItem(_))
        ));
    }

    #[test]
    fn a_basket_model_is_named_with_or_without_its_suffix() {
        let (_dir, store) = shop();
        train(store.as_ref(), &spec("popular", false), None, None, None).unwrap();
        train(store.as_ref(), &spec("cooccur", true), None, None, None).unwrap();
        train(store.as_ref(), &spec("ease", true), None, None, None).unwrap();
        let engine = engine(&store);
        let models = engine.models();
        assert_eq!(
            models.basket_model(None, None).as_deref(),
            Some("ease@baskets"),
            "the newest"
        );
        assert_eq!(
            models.basket_model(None, Some("cooccur")).as_deref(),
            Some("cooccur@baskets")
        );
        assert_eq!(
            models
                .basket_model(Some("cooccur@baskets"), Some("ease"))
                .as_deref(),
            Some("cooccur@baskets")
        );
        assert_eq!(models.basket_model(Some("popular"), None), None);
        let list = engine
            .list(&ListRequest::bought_together("a").with_model(Some("cooccur".into())))
            .unwrap();
        assert_eq!(list.model, "cooccur@baskets");
    }
}
