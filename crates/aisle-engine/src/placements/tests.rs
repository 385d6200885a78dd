//! Each rule on the generated test shop, the list it must give asserted; the explainer on a
//! filtered, a boosted and an unknown item.

use std::collections::{HashMap, HashSet};

use aisle_store::NewEvent;
use serde_json::{Value, json};

use crate::catalogue::ItemFacts;
use crate::list::Reason;
use crate::placements::{Origin, PageContext, Placement, PlacementError};
use crate::service::{Service, ServiceConfig};
use crate::testing::TestEngine;
use crate::{RecommendationList, unix_now};

/// A service over the test shop, with `placements` from its settings.
fn service(shop: &TestEngine, placements: &[(&str, Value)]) -> Service {
    let placements = placements
        .iter()
        .map(|(name, definition)| Placement::parse(name, definition, Origin::Settings).unwrap())
        .collect();
    crate::testing::service(
        shop,
        ServiceConfig {
            placements,
            ..ServiceConfig::default()
        },
    )
}

fn for_user(user: &str) -> PageContext {
    PageContext {
        user_id: Some(user.into()),
        ..PageContext::default()
    }
}

fn ids(list: &RecommendationList) -> Vec<String> {
    list.items.iter().map(|i| i.item_id.clone()).collect()
}

/// The catalogue facts of every item, as the service holds them.
fn facts(shop: &TestEngine) -> HashMap<String, ItemFacts> {
    let mut all = HashMap::new();
    let mut after = None;
    loop {
        let page = shop.store().list_items(after, 1_000).unwrap();
        for item in &page.entries {
            let mut catalogue = crate::catalogue::Catalogue::default();
            catalogue.upsert(item);
            all.insert(item.id.clone(), catalogue.get(&item.id).unwrap().clone());
        }
        match page.next {
            Some(next) => after = Some(next),
            None => return all,
        }
    }
}

/// An item of the test shop in neither `listed` nor `history`.
fn outsider(listed: &[String], history: &[String]) -> String {
    (0..120)
        .map(|i| format!("i{i}"))
        .find(|i| !listed.contains(i) && !history.contains(i))
        .unwrap()
}

fn category<'a>(facts: &'a HashMap<String, ItemFacts>, id: &str) -> &'a str {
    facts[id].categories[0].as_str()
}

/// The user's list with no rules, twice as long as the placements' lists.
fn plain(service: &Service, user: &str) -> Vec<String> {
    plain_n(service, user, 20)
}

fn plain_n(service: &Service, user: &str, n: usize) -> Vec<String> {
    let plain = Placement::parse("plain", &json!({"source": "user", "n": n}), Origin::Api).unwrap();
    let request = plain.request(&for_user(user));
    ids(&service.engine().list(&request).unwrap())
}

#[test]
fn a_filter_keeps_its_items_only_fallback_included() {
    let shop = TestEngine::new();
    let facts = facts(&shop);
    let (user, _) = shop.known_user();
    let wanted = category(&facts, &plain(&service(&shop, &[]), &user)[3]).to_string();
    let service = service(
        &shop,
        &[(
            "only",
            json!({"source": "user", "n": 10, "fallback": ["popular"],
                   "rules": [{"filter": {"field": "category", "equals": wanted}}]}),
        )],
    );
    let list = service.serve_placement("only", &for_user(&user)).unwrap();
    assert!(!list.items.is_empty());
    assert!(
        ids(&list).iter().all(|i| category(&facts, i) == wanted),
        "{:?}",
        ids(&list)
    );
    // Negated: none of them.
    let service2 = self::service(
        &shop,
        &[(
            "none",
            json!({"source": "popular", "rules": [{"filter": {"field": "category", "equals": wanted, "not": true}}]}),
        )],
    );
    let list = service2.serve_placement("none", &for_user(&user)).unwrap();
    assert_eq!(list.items.len(), 10);
    assert!(ids(&list).iter().all(|i| category(&facts, i) != wanted));
}

#[test]
fn a_boost_raises_and_a_bury_lowers() {
    let shop = TestEngine::new();
    let (user, _) = shop.known_user();
    let base = plain(&service(&shop, &[]), &user);
    let service = service(
        &shop,
        &[
            (
                "boosted",
                json!({"source": "user", "rules": [{"boost": {"field": "id", "equals": base[7], "factor": 1000}}]}),
            ),
            (
                "buried",
                json!({"source": "user", "rules": [{"bury": {"field": "id", "equals": base[0], "factor": 0.001}}]}),
            ),
        ],
    );
    let boosted = ids(&service
        .serve_placement("boosted", &for_user(&user))
        .unwrap());
    assert_eq!(boosted[0], base[7]);
    assert_eq!(boosted[1..4], base[..3]);
    let buried = ids(&service.serve_placement("buried", &for_user(&user)).unwrap());
    assert_eq!(buried[..9], base[1..10]);
    assert!(!buried.contains(&base[0]));
}

#[test]
fn a_pin_places_an_item_and_shifts_the_rest() {
    let shop = TestEngine::new();
    let (user, history) = shop.known_user();
    let base = plain(&service(&shop, &[]), &user);
    // An item far down (not in the list), never in the user's history.
    let outsider = outsider(&base, &history);
    let service = service(
        &shop,
        &[
            (
                "pinned",
                json!({"source": "user", "n": 5, "rules": [{"pin": {"item_id": outsider, "position": 2}}]}),
            ),
            // A history item is never pinned: the list's filters leave it out.
            (
                "seen",
                json!({"source": "user", "n": 5, "rules": [{"pin": {"item_id": history[0], "position": 0}}]}),
            ),
        ],
    );
    let list = service.serve_placement("pinned", &for_user(&user)).unwrap();
    assert_eq!(
        ids(&list),
        [&base[0], &base[1], &outsider, &base[2], &base[3]].map(String::clone)
    );
    assert_eq!(list.items[2].reason, Reason::Pinned);
    let list = service.serve_placement("seen", &for_user(&user)).unwrap();
    assert_eq!(ids(&list), base[..5]);
}

#[test]
fn a_promoted_share_is_filled_by_score() {
    let shop = TestEngine::new();
    let facts = facts(&shop);
    let (user, _) = shop.known_user();
    let everything = plain_n(&service(&shop, &[]), &user, 1_000);
    let base = everything[..20].to_vec();
    // The category absent from the first ten with the most items the user may get.
    let top: HashSet<&str> = base[..10].iter().map(|i| category(&facts, i)).collect();
    let mut counts: HashMap<&str, usize> = HashMap::new();
    for item in &everything {
        *counts.entry(category(&facts, item)).or_default() += 1;
    }
    let (rare, available) = counts
        .into_iter()
        .filter(|(c, _)| !top.contains(c))
        .max_by_key(|&(c, n)| (n, std::cmp::Reverse(c)))
        .unwrap();
    assert!(available >= 3);
    let rare = rare.to_string();
    let service = service(
        &shop,
        &[(
            "promo",
            json!({"source": "user", "n": 10,
            "rules": [{"promote": {"share": 0.3, "filter": {"field": "category", "equals": rare}}}]}),
        )],
    );
    let list = service.serve_placement("promo", &for_user(&user)).unwrap();
    let listed = ids(&list);
    assert_eq!(listed.len(), 10);
    assert_eq!(
        listed
            .iter()
            .filter(|i| category(&facts, i) == rare)
            .count(),
        3
    );
    // The rest is the plain list's best seven, in order.
    let others: Vec<&String> = listed
        .iter()
        .filter(|i| category(&facts, i) != rare)
        .collect();
    assert_eq!(others, base[..7].iter().collect::<Vec<_>>());
    assert!(list.items.windows(2).all(|w| w[0].score >= w[1].score));
}

#[test]
fn diversity_caps_each_category() {
    let shop = TestEngine::new();
    let facts = facts(&shop);
    let (user, _) = shop.known_user();
    let service = service(
        &shop,
        &[
            (
                "varied",
                json!({"source": "user", "n": 8, "rules": [{"diversity": {"field": "category", "max": 1}}]}),
            ),
            (
                "mmr",
                json!({"source": "user", "n": 8, "rules": [{"diversity": {"field": "category", "lambda": 0.0}}]}),
            ),
        ],
    );
    let distinct = |list: &[String]| -> usize {
        list.iter()
            .map(|i| category(&facts, i))
            .collect::<HashSet<_>>()
            .len()
    };
    let varied = ids(&service.serve_placement("varied", &for_user(&user)).unwrap());
    assert_eq!((varied.len(), distinct(&varied)), (8, 8), "{varied:?}");
    // MMR at λ = 0 puts a new category first whenever the candidates hold one.
    let mmr = ids(&service.serve_placement("mmr", &for_user(&user)).unwrap());
    let base = plain(&service, &user);
    assert_eq!(mmr.len(), 8);
    assert!(
        distinct(&mmr) >= distinct(&base[..8]),
        "{mmr:?} vs {base:?}"
    );
    let firsts: Vec<&str> = mmr.iter().map(|i| category(&facts, i)).collect();
    let new_ones = firsts
        .iter()
        .enumerate()
        .take_while(|(k, c)| !firsts[..*k].contains(c))
        .count();
    assert_eq!(
        new_ones,
        distinct(&mmr),
        "new categories come first: {firsts:?}"
    );
}

#[test]
fn rotation_changes_the_list_between_visits() {
    let shop = TestEngine::new();
    let (user, _) = shop.known_user();
    let service = service(
        &shop,
        &[(
            "rotating",
            json!({"source": "user", "n": 6, "rules": [{"rotation": {"hours": 24, "penalty": 1.0}}]}),
        )],
    );
    let first = ids(&service
        .serve_placement("rotating", &for_user(&user))
        .unwrap());
    service.experiments().flush(shop.store().as_ref()).unwrap();
    let second = ids(&service
        .serve_placement("rotating", &for_user(&user))
        .unwrap());
    assert_eq!(second.len(), 6);
    assert!(
        second.iter().all(|i| !first.contains(i)),
        "{first:?} then {second:?}"
    );
}

#[test]
fn the_repurchase_window_spares_consumables_and_old_purchases() {
    let shop = TestEngine::new();
    let facts = facts(&shop);
    // Items the model knows (buy-again lists rank those), by category, in a fixed order.
    let models = shop.engine.models();
    let trained = &models.pick(None).unwrap().trained;
    let mut known: Vec<&String> = facts
        .keys()
        .filter(|id| trained.items.get(id).is_some())
        .collect();
    known.sort();
    let mut by_category: HashMap<&str, Vec<&String>> = HashMap::new();
    for id in known {
        by_category
            .entry(facts[id].categories[0].as_str())
            .or_default()
            .push(id);
    }
    let mut categories: Vec<&str> = by_category
        .iter()
        .filter(|(_, items)| items.len() >= 2)
        .map(|(c, _)| *c)
        .collect();
    categories.sort();
    let (durable, consumable) = (categories[0], categories[1]);
    let (recent, old, coffee) = (
        by_category[durable][0].as_str(),
        by_category[durable][1].as_str(),
        by_category[consumable][0].as_str(),
    );
    let now = unix_now();
    let bought = |item, days_ago: i64| NewEvent {
        timestamp: Some(now - days_ago * 86_400),
        ..NewEvent::new("shopper", item, "purchase")
    };
    shop.store()
        .append_events(&[bought(recent, 3), bought(old, 200), bought(coffee, 2)])
        .unwrap();
    let service = service(
        &shop,
        &[(
            "again",
            json!({"source": "buy_again",
            "rules": [{"repurchase": {"days": 90, "except_categories": [consumable]}}]}),
        )],
    );
    let list = ids(&service
        .serve_placement("again", &for_user("shopper"))
        .unwrap());
    assert!(
        list.contains(&old.to_string()) && list.contains(&coffee.to_string()),
        "{list:?}"
    );
    assert!(!list.contains(&recent.to_string()), "{list:?}");
}

#[test]
fn the_explainer_names_the_rule_or_the_reason() {
    let shop = TestEngine::new();
    let facts = facts(&shop);
    let (user, history) = shop.known_user();
    let base = plain(&service(&shop, &[]), &user);
    let filtered = &base[1];
    let boosted = &base[6];
    let service = service(
        &shop,
        &[(
            "home",
            json!({"source": "user", "n": 5, "rules": [
                {"filter": {"field": "id", "equals": filtered, "not": true}},
                {"boost": {"field": "id", "equals": boosted, "factor": 1000}},
            ]}),
        )],
    );
    let page = for_user(&user);
    let answer = service.explain_placement("home", &page, filtered).unwrap();
    assert!(!answer.in_list);
    assert_eq!(answer.rank_before_rules, Some(1));
    assert_eq!(answer.rules[0].rule, "rules[0] filter");
    assert!(
        answer.reason.contains("rules[0] filter"),
        "{}",
        answer.reason
    );

    let answer = service.explain_placement("home", &page, boosted).unwrap();
    assert!(answer.in_list);
    assert_eq!(answer.position, Some(0));
    assert_eq!(answer.rank_before_rules, Some(6));
    assert_eq!(answer.rules.len(), 1);
    assert_eq!(answer.rules[0].rule, "rules[1] boost");
    assert!(
        answer.rules[0].effect.starts_with("score ×1000"),
        "{:?}",
        answer.rules
    );

    let answer = service
        .explain_placement("home", &page, "no-such-item")
        .unwrap();
    assert_eq!(answer.reason, "not in the catalogue");
    assert_eq!((answer.in_list, answer.rank_before_rules), (false, None));

    let answer = service
        .explain_placement("home", &page, &history[0])
        .unwrap();
    assert!(
        answer.reason.contains("already interacted"),
        "{}",
        answer.reason
    );
    // An item ranked below the list, untouched by the rules.
    let answer = service.explain_placement("home", &page, &base[12]).unwrap();
    assert!(answer.reason.contains("before rules"), "{}", answer.reason);
    assert!(facts.contains_key(&base[12]));
}

#[test]
fn a_preview_is_the_served_list_with_each_items_rule_effects() {
    let shop = TestEngine::new();
    let (user, history) = shop.known_user();
    let base = plain(&service(&shop, &[]), &user);
    let outsider = outsider(&base, &history);
    let service = service(
        &shop,
        &[(
            "home",
            json!({"source": "user", "n": 6, "rules": [
                {"boost": {"field": "id", "equals": base[4], "factor": 1000}},
                {"pin": {"item_id": outsider, "position": 1}},
            ]}),
        )],
    );
    let preview = service.preview_placement("home", &for_user(&user)).unwrap();
    let served = service.serve_placement("home", &for_user(&user)).unwrap();
    let previewed: Vec<&str> = preview.items.iter().map(|i| i.item_id.as_str()).collect();
    assert_eq!(
        previewed,
        ids(&served).iter().map(String::as_str).collect::<Vec<_>>()
    );
    assert_eq!(previewed[..2], [base[4].as_str(), outsider.as_str()]);
    let rules = |k: usize| -> Vec<&str> {
        preview.items[k]
            .rules
            .iter()
            .map(|r| r.rule.as_str())
            .collect()
    };
    assert_eq!(rules(0), ["rules[0] boost"]);
    assert_eq!(rules(1), ["rules[1] pin"]);
    assert_eq!(rules(2), ["rules[1] pin"], "moved one place down");
    assert_eq!(
        preview.items[2].rules[0].effect,
        "moved one place down by a pinned item"
    );
}

#[test]
fn placements_are_stored_replaced_and_guarded() {
    let shop = TestEngine::new();
    let service = service(&shop, &[("configured", json!({"source": "popular"}))]);
    let placements = service.placements();
    let store = shop.store().as_ref();
    let (_, created) = placements
        .put(store, "cart", &json!({"source": "basket"}))
        .unwrap();
    assert!(created);
    let (placement, created) = placements
        .put(store, "cart", &json!({"source": "popular", "n": 4}))
        .unwrap();
    assert!(!created);
    assert_eq!(placement.n, 4);
    assert!(matches!(
        placements.put(store, "configured", &json!({"source": "user"})),
        Err(PlacementError::Configured(_))
    ));
    match placements.put(
        store,
        "bad",
        &json!({"source": "user", "rules": [{"pin": {"position": 1}}]}),
    ) {
        Err(PlacementError::Invalid(e)) => assert_eq!(e.field, "rules[0].pin"),
        other => panic!("{other:?}"),
    }
    let names: Vec<String> = placements.all().iter().map(|p| p.name.clone()).collect();
    assert_eq!(names, ["cart", "configured"]);
    // Another process's view of the store sees the same.
    let again = crate::placements::Placements::load(store, Vec::new()).unwrap();
    assert_eq!(again.get("cart").unwrap().n, 4);
    placements.delete(store, "cart").unwrap();
    assert!(matches!(
        placements.delete(store, "cart"),
        Err(PlacementError::Unknown(_))
    ));
    // A page without what the source needs gets the fallback chain's list.
    placements
        .put(store, "similar", &json!({"source": "similar"}))
        .unwrap();
    let list = service
        .serve_placement("similar", &PageContext::default())
        .unwrap();
    assert!(list.fallback);
    assert_eq!(list.items.len(), 10);
}
