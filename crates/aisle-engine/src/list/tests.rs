//! Lists made by the engine, without a server: each stage of the pipeline on a small
//! generated shop.

use std::collections::HashSet;
use std::sync::Arc;

use aisle_data::Item;
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
