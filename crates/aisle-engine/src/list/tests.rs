//! Lists made by the engine, without a server: each stage of the pipeline on a small
//! generated shop.

use std::collections::HashSet;
use std::sync::Arc;

use aisle_data::{Item, Weighting};
use aisle_store::NewEvent;

use crate::error::EngineError;
use crate::list::{Candidate, ListContext, ListRequest, Reason, Source, Stage};
use crate::testing::TestEngine;

fn ids(list: &crate::RecommendationList) -> Vec<String> {
    list.items.iter().map(|i| i.item_id.clone()).collect()
}

#[test]
fn a_known_users_list_leaves_the_history_out_and_says_why() {
    let shop = TestEngine::new();
    let (user, history) = shop.known_user();
    let list = shop
        .engine
        .list(&ListRequest::for_user(&user).with_n(10))
        .unwrap();
    assert_eq!(list.items.len(), 10);
    assert!(!list.fallback);
    assert_eq!(list.model, "als");
    let history: HashSet<String> = history.into_iter().collect();
    assert!(ids(&list).iter().all(|i| !history.contains(i)));
    assert!(list.items.windows(2).all(|w| w[0].score >= w[1].score));
    assert!(list.items.iter().any(|i| matches!(
        &i.reason,
        Reason::SimilarTo { item_id, .. } if history.contains(item_id)
    )));
    assert_eq!(list.recommendation_id.len(), 32);
}

#[test]
fn an_unknown_user_gets_popular_items_flagged_as_a_fallback() {
    let shop = TestEngine::new();
    let list = shop
        .engine
        .list(&ListRequest::for_user("nobody").with_n(5))
        .unwrap();
    assert!(list.fallback);
    assert_eq!(list.model, "popular");
    assert_eq!(list.items.len(), 5);
    assert!(list.items.iter().all(|i| i.reason == Reason::Popular));
    let popular = shop.engine.list(&ListRequest::popular().with_n(5)).unwrap();
    assert_eq!(ids(&list), ids(&popular));
    assert!(!popular.fallback);
}

#[test]
fn new_events_are_folded_in_at_once() {
    let shop = TestEngine::new();
    let before = shop
        .engine
        .list(&ListRequest::for_user("newcomer").with_n(8))
        .unwrap();
    assert!(before.fallback);
    let liked = ids(&before)[..3].to_vec();
    let events: Vec<NewEvent<'_>> = liked
        .iter()
        .map(|i| NewEvent::new("newcomer", i, "purchase"))
        .collect();
    shop.store().append_events(&events).unwrap();
    let after = shop
        .engine
        .list(&ListRequest::for_user("newcomer").with_n(8))
        .unwrap();
    assert!(!after.fallback, "a user with events is personalised");
    assert!(ids(&after).iter().all(|i| !liked.contains(i)));
}

#[test]
fn paging_continues_the_same_ranking() {
    let shop = TestEngine::new();
    let (user, _) = shop.known_user();
    let all = shop
        .engine
        .list(&ListRequest::for_user(&user).with_n(12))
        .unwrap();
    let mut second = ListRequest::for_user(&user).with_n(4);
    second.offset = 8;
    let page = shop.engine.list(&second).unwrap();
    assert_eq!(ids(&page), ids(&all)[8..12]);
}

#[test]
fn filters_keep_category_availability_and_exclusions() {
    let shop = TestEngine::new();
    let (user, _) = shop.known_user();
    let first = shop
        .engine
        .list(&ListRequest::for_user(&user).with_n(3))
        .unwrap();
    let top = ids(&first)[0].clone();

    let mut request = ListRequest::for_user(&user).with_n(10);
    request.filters.exclude = vec![top.clone()];
    assert!(!ids(&shop.engine.list(&request).unwrap()).contains(&top));

    // Made unavailable through the engine: the cache follows at once.
    let mut item = shop.store().item(&top).unwrap().unwrap();
    item.available = false;
    shop.engine.upsert_items(&[item]).unwrap();
    let mut request = ListRequest::for_user(&user).with_n(10);
    request.filters.available_only = true;
    assert!(!ids(&shop.engine.list(&request).unwrap()).contains(&top));

    let category = shop.store().item(&top).unwrap().unwrap().categories[0].clone();
    let mut request = ListRequest::for_user(&user).with_n(5);
    request.filters.category = Some(category.clone());
    let list = shop.engine.list(&request).unwrap();
    assert!(!list.items.is_empty());
    for id in ids(&list) {
        let item = shop.store().item(&id).unwrap().unwrap();
        assert!(item.categories.contains(&category), "{id}");
    }
}

#[test]
fn catalogue_changes_by_another_process_arrive_with_the_next_follow() {
    let shop = TestEngine::new();
    let popular = shop.engine.list(&ListRequest::popular().with_n(1)).unwrap();
    let top = ids(&popular)[0].clone();
    // Deleted straight in the store, as another replica would.
    shop.store().delete_item(&top).unwrap();
    let stale = shop.engine.list(&ListRequest::popular().with_n(1)).unwrap();
    assert_eq!(ids(&stale)[0], top, "not followed yet");
    assert_eq!(shop.engine.follow_catalogue().unwrap(), 1);
    let fresh = shop.engine.list(&ListRequest::popular().with_n(1)).unwrap();
    assert_ne!(ids(&fresh)[0], top);
    assert!(matches!(
        shop.engine.list(&ListRequest::similar_to(&top)),
        Err(EngineError::UnknownItem(_))
    ));
}

#[test]
fn similar_items_and_new_catalogue_items() {
    let shop = TestEngine::new();
    let list = shop
        .engine
        .list(&ListRequest::similar_to("i5").with_n(5))
        .unwrap();
    assert_eq!(list.items.len(), 5);
    assert!(!ids(&list).contains(&"i5".to_string()));
    assert!(list.items.iter().all(|i| i.reason
        == Reason::SimilarItem {
            item_id: "i5".into()
        }));

    let new = Item {
        id: "brand-new".into(),
        categories: vec!["Shoes".into()],
        ..Item::default()
    };
    shop.engine.upsert_items(&[new]).unwrap();
    let list = shop
        .engine
        .list(&ListRequest::similar_to("brand-new").with_n(3))
        .unwrap();
    assert!(list.fallback);
    assert_eq!(list.model, "popular");
    assert!(list.items.iter().all(|i| i.reason
        == Reason::PopularInCategory {
            category: "Shoes".into()
        }));
    assert!(matches!(
        shop.engine.list(&ListRequest::similar_to("nothing")),
        Err(EngineError::UnknownItem(_))
    ));
}

/// Drops every candidate whose item index is even: an adjusting stage that removes.
#[derive(Debug)]
struct OddOnly;

impl Stage for OddOnly {
    fn apply(&self, context: &ListContext<'_>, pool: &mut Vec<Candidate>) {
        pool.retain(|c| {
            let id = context.trained.items.id(c.item);
            id[1..].parse::<u32>().unwrap() % 2 == 1
        });
    }
}

#[test]
fn adjusting_stages_work_on_a_pool_larger_than_the_list() {
    let shop = TestEngine::new();
    let (user, _) = shop.known_user();
    let plain = shop
        .engine
        .list(&ListRequest::for_user(&user).with_n(10))
        .unwrap();
    let mut request = ListRequest::for_user(&user).with_n(10);
    request.stages.push(Arc::new(OddOnly));
    let odd = shop.engine.list(&request).unwrap();
    assert_eq!(odd.items.len(), 10, "the pool had spare candidates");
    assert!(
        ids(&odd)
            .iter()
            .all(|i| i[1..].parse::<u32>().unwrap() % 2 == 1)
    );
    let kept: Vec<String> = ids(&plain)
        .into_iter()
        .filter(|i| i[1..].parse::<u32>().unwrap() % 2 == 1)
        .collect();
    assert_eq!(ids(&odd)[..kept.len()], kept, "order is the model's");
}

#[test]
fn the_fallback_chain_is_the_requests_to_choose() {
    let shop = TestEngine::new();
    let mut request = ListRequest::for_user("nobody").with_n(4);
    request.fallback = Some(vec![Source::Trending]);
    let list = shop.engine.list(&request).unwrap();
    assert!(list.fallback);
    assert_eq!(list.model, "trending");
    assert!(list.items.iter().all(|i| i.reason == Reason::Trending));
    let trending = shop
        .engine
        .list(&ListRequest::trending().with_n(4))
        .unwrap();
    assert_eq!(ids(&list), ids(&trending));

    request.fallback = Some(Vec::new());
    let empty = shop.engine.list(&request).unwrap();
    assert!(empty.items.is_empty() && empty.fallback);
}

#[test]
fn no_model_and_unknown_models_are_errors() {
    let shop = TestEngine::new();
    let request = ListRequest::for_user("u1").with_model(Some("svd".into()));
    assert!(matches!(
        shop.engine.list(&request),
        Err(EngineError::UnknownModel { .. })
    ));
}

/// Whatever the weighting and whichever path makes the list, items in the shopper's history
/// never come back (unless asked).
#[test]
fn history_items_never_come_back_on_any_path() {
    for (weighting, ratings) in [
        (Weighting::Ratings, true),
        (Weighting::Implicit, false),
        (Weighting::Binary, false),
    ] {
        let shop = TestEngine::trained_with(
            &[("als", serde_json::json!({"factors": 8, "iterations": 4}))],
            weighting,
            ratings,
        );
        let popular = ids(&shop.engine.list(&ListRequest::popular().with_n(3)).unwrap());
        // A new shopper buys the most popular item and views the second: the fallback (a
        // ratings model ignores both events) or the fold-in must leave both out, and the
        // popular top-up too.
        shop.store()
            .append_events(&[
                NewEvent::new("fresh", &popular[0], "purchase"),
                NewEvent::new("fresh", &popular[1], "view"),
            ])
            .unwrap();
        let list = shop
            .engine
            .list(&ListRequest::for_user("fresh").with_n(30))
            .unwrap();
        assert_eq!(list.items.len(), 30, "{weighting}");
        for seen in &popular[..2] {
            assert!(!ids(&list).contains(seen), "{weighting}: {seen} came back");
        }
        // A known shopper buys their best item: gone from the next list (fold-in, or the
        // precomputed list filtered).
        let (user, _) = shop.known_user();
        let before = ids(&shop
            .engine
            .list(&ListRequest::for_user(&user).with_n(5))
            .unwrap());
        shop.store()
            .append_events(&[NewEvent::new(&user, &before[0], "purchase")])
            .unwrap();
        let after = ids(&shop
            .engine
            .list(&ListRequest::for_user(&user).with_n(100))
            .unwrap());
        assert!(!after.contains(&before[0]), "{weighting}");
        // Asked for, they may.
        let mut request = ListRequest::for_user("fresh").with_n(120);
        request.filters.exclude_seen = false;
        let all = ids(&shop.engine.list(&request).unwrap());
        assert!(all.contains(&popular[0]), "{weighting}");
    }
}

#[test]
fn buy_again_lists_what_was_bought_most_and_latest() {
    let shop = TestEngine::new();
    let now = crate::unix_now();
    let bought = |item: &'static str, quantity: f64, days_ago: i64| NewEvent {
        quantity: Some(quantity),
        timestamp: Some(now - days_ago * 86_400),
        ..NewEvent::new("regular", item, "purchase")
    };
    shop.store()
        .append_events(&[
            bought("i1", 2.0, 400),
            bought("i2", 1.0, 3),
            bought("i3", 6.0, 10),
            NewEvent {
                quantity: Some(6.0),
                timestamp: Some(now),
                ..NewEvent::new("regular", "i3", "return")
            },
            bought("i4", 3.0, 20),
            NewEvent::new("regular", "i5", "view"),
        ])
        .unwrap();
    let list = shop
        .engine
        .list(&ListRequest::buy_again("regular").with_n(10))
        .unwrap();
    // i4 (3 units, 20 days) before i2 (1 unit, 3 days) before i1 (2 units, 400 days: about
    // a tenth left); i3 went back, i5 was only viewed.
    assert_eq!(ids(&list), ["i4", "i2", "i1"]);
    assert_eq!((list.model.as_str(), list.fallback), ("buy-again", false));
    assert!(matches!(
        list.items[0].reason,
        Reason::BoughtBefore { units, .. } if units == 3.0
    ));
}

#[test]
fn a_trained_buy_again_model_orders_the_shoppers_own_purchases() {
    let shop = TestEngine::trained(&[
        ("als", serde_json::json!({"factors": 8, "iterations": 4})),
        ("buy-again", serde_json::json!({"neighbours": 20})),
    ]);
    // The shopper with the most distinct items bought.
    let mut bought: std::collections::BTreeMap<String, HashSet<String>> = Default::default();
    shop.store()
        .scan_events(None, &mut |e| {
            if e.kind == "purchase" {
                bought
                    .entry(e.user_id.clone())
                    .or_default()
                    .insert(e.item_id.clone());
            }
        })
        .unwrap();
    let (user, items) = bought
        .into_iter()
        .max_by_key(|(user, items)| (items.len(), std::cmp::Reverse(user.clone())))
        .unwrap();
    assert!(items.len() >= 3, "{items:?}");
    let list = shop
        .engine
        .list(&ListRequest::buy_again(&user).with_n(100))
        .unwrap();
    let served = shop.engine.models().by_name["buy-again"].info.version.0;
    assert_eq!(list.model_version, served, "the buy-again model answers");
    let listed: HashSet<String> = ids(&list).into_iter().collect();
    assert_eq!(
        listed, items,
        "exactly the items bought (none returned here)"
    );
    assert!(list.items.windows(2).all(|w| w[0].score >= w[1].score));
    // The default model still answers everything else.
    let personal = shop
        .engine
        .list(&ListRequest::for_user(&user).with_n(5))
        .unwrap();
    assert_eq!(personal.model, "als");
}

#[test]
fn an_item_put_a_second_ago_is_recommended_and_has_similar_items_by_content() {
    let shop =
        TestEngine::trained(&[("hybrid", serde_json::json!({"factors": 8, "iterations": 4}))]);
    let (user, history) = shop.known_user();
    // The user's favourite item, and a new one described just like it.
    let favourite = shop.store().item(&history[0]).unwrap().unwrap();
    let new = Item {
        id: "brand-new".into(),
        title: format!("{} Deluxe", favourite.title),
        ..favourite.clone()
    };
    let engine = &shop.engine;
    let everything = || {
        engine
            .list(&ListRequest::for_user(&user).with_n(200))
            .unwrap()
    };
    assert!(!ids(&everything()).contains(&"brand-new".to_string()));
    engine.upsert_items(std::slice::from_ref(&new)).unwrap();

    let list = everything();
    let entry = list
        .items
        .iter()
        .find(|i| i.item_id == "brand-new")
        .expect("the new item is listed without retraining");
    assert_eq!(entry.reason, Reason::NewItem);
    // Placed by its content among the items like it: ahead of the middle of the list.
    let position = list
        .items
        .iter()
        .position(|i| i.item_id == "brand-new")
        .unwrap();
    assert!(
        position < list.items.len() / 2,
        "{position} of {}",
        list.items.len()
    );

    let similar = engine
        .list(&ListRequest::similar_to("brand-new").with_n(5))
        .unwrap();
    assert!(!similar.fallback);
    assert_eq!(
        ids(&similar)[0],
        favourite.id,
        "the item it copies is the closest"
    );
    assert!(similar.items.iter().all(|i| i.reason
        == Reason::SimilarContent {
            item_id: "brand-new".into()
        }));
}

#[test]
fn a_model_without_content_does_not_list_an_item_it_never_saw() {
    let shop = TestEngine::new();
    let (user, _) = shop.known_user();
    let new = Item {
        id: "brand-new".into(),
        title: "Something".into(),
        ..Item::default()
    };
    shop.engine.upsert_items(&[new]).unwrap();
    let list = shop
        .engine
        .list(&ListRequest::for_user(&user).with_n(200))
        .unwrap();
    assert!(!ids(&list).contains(&"brand-new".to_string()));
}

/// A version saved by this process's own training is not followed while that training
/// runs (it installs it itself, with its precomputed lists); once the job is done,
/// following picks up what is new.
#[test]
fn following_leaves_the_version_a_local_training_is_installing() {
    let shop = TestEngine::new();
    let before = shop.engine.models().by_name["als"].info.version;
    let paused = shop.engine.pause_following();
    let spec = crate::training::TrainSpec {
        model: "als".into(),
        params: serde_json::json!({"factors": 8, "iterations": 2})
            .as_object()
            .cloned()
            .unwrap(),
        holdout: false,
        ..crate::training::TrainSpec::default()
    };
    crate::training::train(shop.store().as_ref(), &spec, None, None, None).unwrap();
    assert_eq!(shop.engine.follow_models().unwrap(), 0);
    assert_eq!(shop.engine.models().by_name["als"].info.version, before);
    drop(paused);
    assert_eq!(shop.engine.follow_models().unwrap(), 1);
    assert!(shop.engine.models().by_name["als"].info.version > before);
}
