//! The candidate stage: each [`Source`]'s items, best first, drawn through the request's
//! filters.
//!
//! A user's items come, in order of cost, from the list precomputed for them at swap time
//! (a user the model was trained on, with nothing new since), from their trained state, or
//! from a fold-in of their whole history (new events count at once). Similar items grow
//! their search until enough survive the filters. Popular and trending items are orders
//! computed at swap time.

use aisle_models::{Query, Scored};

use crate::error::EngineError;
use crate::list::filter::Filters;
use crate::list::pipeline::{Candidate, Origin};
use crate::list::{ListContext, Source};

/// How many candidates a list draws: the `need` it cannot do without (its `n` past the
/// offset) and the deeper `pool` that stages reordering it (a placement's rules) would
/// like to choose from.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct Depth {
    pub need: usize,
    pub pool: usize,
}

impl Depth {
    pub(crate) fn exactly(n: usize) -> Depth {
        Depth { need: n, pool: n }
    }
}

/// Up to `depth.pool` items of `source`, best first; empty when the source cannot answer
/// this context (an unknown user without history, an item the model has not seen).
pub(crate) fn draw(
    context: &ListContext<'_>,
    filters: &Filters<'_, '_>,
    source: Source,
    depth: Depth,
) -> Result<Vec<Candidate>, EngineError> {
    let want = depth.pool;
    let scored = match source {
        Source::User => personal(context, filters, depth),
        Source::Similar => similar(context, filters, want)?,
        Source::BuyAgain => {
            return Ok(bought_before(context, filters)
                .into_iter()
                .take(want)
                .map(|s| Candidate {
                    item: s.item,
                    score: s.score,
                    origin: Origin::BoughtBefore,
                })
                .collect());
        }
        Source::Popular | Source::PopularInCategory | Source::Trending => {
            return Ok(ranked(context, filters, source).take(want).collect());
        }
        Source::BoughtTogether | Source::Basket => basket(context, filters, want),
    };
    let origin = match source {
        Source::Similar => Origin::Similar,
        Source::BoughtTogether | Source::Basket => Origin::BoughtWith,
        _ => Origin::Model,
    };
    Ok(scored
        .into_iter()
        .map(|s| Candidate {
            item: s.item,
            score: s.score,
            origin,
        })
        .collect())
}

/// A fallback source's items: a popularity order lazily, any other source drawn up to
/// `want`.
pub(crate) fn ranked_or_drawn<'i>(
    context: &'i ListContext<'_>,
    filters: &'i Filters<'_, '_>,
    source: Source,
    want: usize,
) -> Result<Box<dyn Iterator<Item = Candidate> + 'i>, EngineError> {
    Ok(match source {
        Source::Popular | Source::PopularInCategory | Source::Trending => {
            ranked(context, filters, source)
        }
        Source::User
        | Source::Similar
        | Source::BuyAgain
        | Source::BoughtTogether
        | Source::Basket => {
            Box::new(draw(context, filters, source, Depth::exactly(want))?.into_iter())
        }
    })
}

/// Every allowed item of a popularity order, best first.
pub(crate) fn ranked<'i>(
    context: &'i ListContext<'_>,
    filters: &'i Filters<'_, '_>,
    source: Source,
) -> Box<dyn Iterator<Item = Candidate> + 'i> {
    let serving = context.serving;
    let (order, origin) = match source {
        Source::Trending => (&serving.trending, Origin::Trending),
        Source::PopularInCategory => (&serving.popular, Origin::PopularInCategory),
        _ => (&serving.popular, Origin::Popular),
    };
    let category = match source {
        Source::PopularInCategory => context.category(),
        _ => None,
    };
    Box::new(
        order
            .iter()
            .filter(move |s| filters.allows(s.item))
            .filter(move |s| {
                category.is_none_or(|c| {
                    context
                        .facts(s.item)
                        .is_some_and(|f| f.categories.iter().any(|x| x == c))
                })
            })
            .map(move |s| Candidate {
                item: s.item,
                score: s.score,
                origin,
            }),
    )
}

/// Half-life of a purchase's weight in the buy-again order: the `buy-again` model's default.
const BUY_AGAIN_HALF_LIFE_DAYS: f64 = 120.0;

/// The shopper's purchases that still hold (returns taken off), best first. A trained
/// `buy-again` model answering the request orders them by its score (own purchases blended
/// with those of the shoppers who buy alike); any other model by units bought decayed with
/// their age (half-life [`BUY_AGAIN_HALF_LIFE_DAYS`]) — the model's personal part, from the
/// store's events, so a purchase made a second ago counts.
pub(crate) fn bought_before(context: &ListContext<'_>, filters: &Filters<'_, '_>) -> Vec<Scored> {
    let mut found = decayed_purchases(context, filters);
    let trained = context.trained;
    if trained.model.name() == "buy-again" && !found.is_empty() {
        let query = Query {
            user: if context.fresh {
                None
            } else {
                context.known_user
            },
            history: context.history(),
        };
        let mut scores = vec![0f32; trained.model.n_items()];
        trained.model.score(&query, &mut scores);
        for s in &mut found {
            s.score = scores.get(s.item as usize).copied().unwrap_or(0.0);
        }
        found.sort_unstable_by(|a, b| b.score.total_cmp(&a.score).then(a.item.cmp(&b.item)));
    }
    found
}

/// The shopper's purchases by units, each purchase decayed with its age (counted back from
/// the shopper's latest event, so scores keep their scale however old the history); returned
/// units are taken off the item's latest purchases first.
fn decayed_purchases(context: &ListContext<'_>, filters: &Filters<'_, '_>) -> Vec<Scored> {
    let trained = context.trained;
    let rate = std::f64::consts::LN_2 / (BUY_AGAIN_HALF_LIFE_DAYS * 86_400.0);
    let latest = context
        .events
        .iter()
        .filter_map(|e| e.timestamp)
        .max()
        .unwrap_or(0);
    // Per item: its purchases as (units, timestamp), and the units returned.
    let mut bought: std::collections::HashMap<u32, (Vec<(f64, i64)>, f64)> = Default::default();
    for event in &context.events {
        let Some(item) = trained.items.get(&event.item_id) else {
            continue;
        };
        let units = event.quantity.unwrap_or(1.0).max(0.0);
        let at = event.timestamp.unwrap_or(latest);
        match event.kind.as_str() {
            "purchase" => bought.entry(item).or_default().0.push((units, at)),
            "return" => bought.entry(item).or_default().1 += units,
            _ => {}
        }
    }
    let mut found: Vec<Scored> = bought
        .into_iter()
        .filter(|&(item, _)| filters.allows(item))
        .filter_map(|(item, (mut purchases, mut returned))| {
            purchases.sort_by_key(|&(_, at)| std::cmp::Reverse(at));
            let mut score = 0.0;
            for (units, at) in purchases {
                let kept = (units - returned).max(0.0);
                returned = (returned - units).max(0.0);
                let age = latest.saturating_sub(at).max(0) as f64;
                score += kept * (-age * rate).exp();
            }
            (score > 0.0).then_some(Scored {
                item,
                score: score as f32,
            })
        })
        .collect();
    found.sort_unstable_by(|a, b| b.score.total_cmp(&a.score).then(a.item.cmp(&b.item)));
    found
}

/// A user's (or an anonymous history's) best items.
fn personal(context: &ListContext<'_>, filters: &Filters<'_, '_>, depth: Depth) -> Vec<Scored> {
    let want = depth.pool;
    let trained = context.trained;
    let known = context.known_user;
    // Precomputed lists leave the training history out, so they serve only requests that
    // leave it out too.
    if let Some(u) = known
        && !context.fresh
        && context.request.filters.exclude_seen
        && let Some(list) = context.serving.precomputed.get(u as usize)
    {
        let kept: Vec<Scored> = list
            .iter()
            .copied()
            .filter(|s| filters.allows(s.item))
            .take(want)
            .collect();
        // A list that ran out may be hiding items past its end: score in full then. A
        // deeper pool is a wish, not a need: scoring every item for it would cost a
        // placement's rules more than the rest of the list (a filter or two always takes a
        // few of the precomputed items).
        if kept.len() >= depth.need || list.len() < context.config.precompute {
            return kept;
        }
    }
    let history = context.history();
    let personalised = known.is_some() || !history.is_empty();
    if !personalised || !trained.model.capabilities().ranking {
        return Vec::new();
    }
    let fold_in = trained.model.capabilities().fold_in;
    let query = Query {
        user: if context.fresh && fold_in {
            None
        } else {
            known
        },
        history,
    };
    // A factor model finds the best items without scoring the whole catalogue (a folded-in
    // user's list costs a fraction of a full scan); others score every item.
    if let Some(found) = trained
        .model
        .best_items(&query, want, &mut |item| filters.allows(item))
    {
        return found;
    }
    let mut scores = vec![0f32; trained.model.n_items()];
    trained.model.score(&query, &mut scores);
    filters.select(&scores, want)
}

/// What completes the basket — the context item (bought together) or the request's basket
/// — scored by the model from those items alone, as an anonymous history of weight 1 each;
/// empty when the model knows none of them or is not a basket model (which never answers
/// baskets: a model of users' histories would be read as one).
fn basket(context: &ListContext<'_>, filters: &Filters<'_, '_>, want: usize) -> Vec<Scored> {
    let trained = context.trained;
    if !crate::baskets::is_basket_model(context.serving.name()) {
        return Vec::new();
    }
    let basket = aisle_data::BasketRow::new(match context.request.source {
        Source::BoughtTogether => context.item.into_iter().collect(),
        _ => context
            .request
            .basket
            .iter()
            .filter_map(|id| trained.items.get(id))
            .collect(),
    });
    if basket.row().is_empty() {
        return Vec::new();
    }
    let mut scores = vec![0f32; trained.model.n_items()];
    trained
        .model
        .score(&Query::anonymous(basket.row()), &mut scores);
    // Items the basket model never scored above zero (NaN included) were never bought with
    // these.
    for score in &mut scores {
        if score.is_nan() || *score <= 0.0 {
            *score = f32::NEG_INFINITY;
        }
    }
    filters.select(&scores, want)
}

/// The items most similar to the context item; empty when the model has not seen it.
fn similar(
    context: &ListContext<'_>,
    filters: &Filters<'_, '_>,
    want: usize,
) -> Result<Vec<Scored>, EngineError> {
    let trained = context.trained;
    let Some(item) = context.item else {
        return Ok(Vec::new());
    };
    if !trained.model.capabilities().similar_items {
        if context.request.assigned_model {
            // An experiment's variant (popularity, say) that has no notion of similarity:
            // the fallback chain answers, rather than an error for the shopper.
            return Ok(Vec::new());
        }
        return Err(EngineError::NoSimilarity(
            context.serving.name().to_string(),
        ));
    }
    // Similar-item lists come already ranked; ask for spare ones to survive the filters.
    let mut ask = want + 16;
    loop {
        let found = trained.model.similar_items(item, ask);
        let short = found.len() < ask;
        let kept: Vec<Scored> = found
            .into_iter()
            .filter(|s| filters.allows(s.item))
            .collect();
        if kept.len() >= want || short || ask >= trained.model.n_items() {
            return Ok(kept.into_iter().take(want).collect());
        }
        ask *= 4;
    }
}
