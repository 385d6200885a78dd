//! The reason stage: why each item of a list is there — the history item the model finds
//! closest to it, the item asked about, or the popularity order it came from.

use std::collections::HashMap;

use aisle_models::TrainedModel;

use crate::list::pipeline::{Candidate, Origin};
use crate::list::{ListContext, Reason};

/// How many of a user's history items are looked at to explain a recommendation.
const REASON_HISTORY: usize = 50;

/// Explains each candidate of a finished list.
pub(crate) fn explain_all(context: &ListContext<'_>, items: &[Candidate]) -> Vec<Reason> {
    let needs_history = items.iter().any(|c| c.origin == Origin::Model);
    let history = if needs_history {
        recent_history(context)
    } else {
        Vec::new()
    };
    items
        .iter()
        .map(|c| match c.origin {
            Origin::Model if context.serving.is_new_item(c.item) => Reason::NewItem,
            Origin::Model => explain(context.trained, c.item, &history),
            Origin::Similar
                if context.serving.is_new_item(c.item)
                    || context.item.is_some_and(|i| context.serving.is_new_item(i)) =>
            {
                Reason::SimilarContent {
                    item_id: context.request.item_id.clone().unwrap_or_default(),
                }
            }
            Origin::Similar => Reason::SimilarItem {
                item_id: context.request.item_id.clone().unwrap_or_default(),
            },
            Origin::Popular => match &context.request.filters.category {
                Some(category) => Reason::PopularInCategory {
                    category: category.clone(),
                },
                None => Reason::Popular,
            },
            Origin::PopularInCategory => match context.category() {
                Some(category) => Reason::PopularInCategory {
                    category: category.to_string(),
                },
                None => Reason::Popular,
            },
            Origin::Trending => Reason::Trending,
            Origin::BoughtBefore => bought(context, c.item),
            Origin::BoughtWith => bought_with(context, c.item),
            Origin::Pinned => Reason::Pinned,
        })
        .collect()
}

/// The item asked about, or the basket's item the model finds closest to `item`.
fn bought_with(context: &ListContext<'_>, item: u32) -> Reason {
    if let Some(item_id) = &context.request.item_id {
        return Reason::BoughtWith {
            item_id: item_id.clone(),
        };
    }
    let trained = context.trained;
    let closest = context
        .request
        .basket
        .iter()
        .filter_map(|id| {
            let similarity = trained
                .model
                .item_similarity(trained.items.get(id)?, item)?;
            similarity.is_finite().then_some((similarity, id))
        })
        .max_by(|a, b| a.0.total_cmp(&b.0))
        .map(|(_, id)| id)
        .or_else(|| context.request.basket.first());
    Reason::BoughtWith {
        item_id: closest.cloned().unwrap_or_default(),
    }
}

/// How many units of `item` the shopper bought (returns taken off), and when last.
fn bought(context: &ListContext<'_>, item: u32) -> Reason {
    let id = context.trained.items.id(item);
    let (mut units, mut last) = (0.0, 0);
    for event in context.events.iter().filter(|e| e.item_id == id) {
        match event.kind.as_str() {
            "purchase" => {
                units += event.quantity.unwrap_or(1.0);
                last = last.max(event.timestamp.unwrap_or(0));
            }
            "return" => units -= event.quantity.unwrap_or(1.0),
            _ => {}
        }
    }
    Reason::BoughtBefore { units, last }
}

/// The most recent distinct history items (model indices) with the strongest event on each,
/// newest first.
fn recent_history(context: &ListContext<'_>) -> Vec<(u32, String)> {
    let trained = context.trained;
    let mut strongest: HashMap<u32, (f32, &str)> = HashMap::new();
    let mut order: Vec<u32> = Vec::new();
    let weight = |kind: &str| {
        trained
            .event_types
            .lookup(kind)
            .map_or(0.0, |k| trained.event_types.weight(k))
    };
    let entries = context
        .request
        .history
        .iter()
        .rev()
        .map(|h| (h.item_id.as_str(), h.kind.as_deref().unwrap_or("history")))
        .chain(
            context
                .events
                .iter()
                .rev()
                .map(|e| (e.item_id.as_str(), e.kind.as_str())),
        );
    for (item_id, kind) in entries {
        let Some(item) = trained.items.get(item_id) else {
            continue;
        };
        let w = weight(kind);
        match strongest.get_mut(&item) {
            Some(best) if best.0 < w => *best = (w, kind),
            Some(_) => {}
            None if order.len() < REASON_HISTORY => {
                strongest.insert(item, (w, kind));
                order.push(item);
            }
            None => {}
        }
    }
    order
        .into_iter()
        .map(|item| (item, strongest[&item].1.to_string()))
        .collect()
}

/// Why `item` was recommended: the history item most similar to it, in the model's terms.
fn explain(trained: &TrainedModel, item: u32, history: &[(u32, String)]) -> Reason {
    if !trained.model.personalised() {
        return Reason::Popular;
    }
    let best = history
        .iter()
        .filter_map(|(h, kind)| {
            let similarity = trained.model.item_similarity(*h, item)?;
            (similarity.is_finite() && similarity > 0.0).then_some((similarity, *h, kind))
        })
        .max_by(|a, b| a.0.total_cmp(&b.0));
    match best {
        Some((_, h, kind)) => Reason::SimilarTo {
            item_id: trained.items.id(h).to_string(),
            event: kind.clone(),
        },
        None => Reason::Collaborative,
    }
}
