//! The pipeline that runs a request's stages in order: candidates (filtered as drawn) →
//! adjusting stages → paging → top-up along the fallback chain → reasons.

use std::collections::HashSet;

use crate::error::EngineError;
use crate::list::candidates::Depth;
use crate::list::filter::Filters;
use crate::list::{ListContext, Recommended, Source, candidates, reasons};

/// Where a candidate came from, which decides its reason.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Origin {
    /// The model's scores for the shopper.
    Model,
    /// Similar to the context item.
    Similar,
    Popular,
    PopularInCategory,
    Trending,
    /// The shopper's own purchases.
    BoughtBefore,
    /// A basket model's answer for the context item or the basket.
    BoughtWith,
    /// Put at its place by a placement's pin rule.
    Pinned,
}

/// An item on its way into a list.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Candidate {
    /// The model's index of the item.
    pub item: u32,
    pub score: f32,
    pub origin: Origin,
}

/// A finished list, before it gets an id.
#[derive(Debug)]
pub(crate) struct Made {
    pub items: Vec<Recommended>,
    /// The source could not answer and the list is the fallback chain's.
    pub fallback: bool,
    /// The model name the list carries.
    pub model: String,
}

pub(crate) fn run(context: &ListContext<'_>) -> Result<Made, EngineError> {
    let request = context.request;
    let filters = Filters::new(context);
    let want = request.offset + request.n;
    // Adjusting stages get the spare candidates they ask for.
    let pool_size = request
        .stages
        .iter()
        .map(|stage| stage.pool_size(want))
        .fold(want, usize::max);
    let depth = Depth {
        need: want,
        pool: pool_size,
    };
    let mut pool = candidates::draw(context, &filters, request.source, depth)?;
    for stage in &request.stages {
        stage.apply(context, &mut pool);
    }
    pool.truncate(want);
    let mut items: Vec<Candidate> = pool.into_iter().skip(request.offset).collect();

    let personal = matches!(
        request.source,
        Source::User | Source::Similar | Source::BoughtTogether | Source::Basket
    );
    // `personal` sources answer "fallback" when empty; a popularity order or the shopper's
    // own purchases are what they are.
    let fallback = personal && items.is_empty();
    let mut fallback_source = None;
    if items.len() < request.n {
        // Topping up from the chain, after what the source already holds; when the source
        // gave nothing, paging applies to the chain's items instead.
        let mut taken: HashSet<u32> = items.iter().map(|c| c.item).collect();
        let mut skip = if items.is_empty() { request.offset } else { 0 };
        for &source in request.fallback_chain() {
            if items.len() >= request.n {
                break;
            }
            let before = items.len();
            for candidate in candidates::ranked_or_drawn(context, &filters, source, want)? {
                if items.len() >= request.n {
                    break;
                }
                if taken.contains(&candidate.item)
                    || !request
                        .stages
                        .iter()
                        .all(|stage| stage.admits(context, &items, &candidate))
                {
                    continue;
                }
                taken.insert(candidate.item);
                if skip > 0 {
                    skip -= 1;
                    continue;
                }
                items.push(candidate);
            }
            if items.len() > before && fallback_source.is_none() {
                fallback_source = Some(source);
            }
        }
    }
    let model = if !personal {
        request.source.fallback_name().to_string()
    } else if fallback {
        fallback_source
            .or(request.fallback_chain().first().copied())
            .map_or("popular", Source::fallback_name)
            .to_string()
    } else {
        context.serving.name().to_string()
    };
    let reasons = reasons::explain_all(context, &items);
    let trained = context.trained;
    let items = items
        .into_iter()
        .zip(reasons)
        .map(|(c, reason)| Recommended {
            item_id: trained.items.id(c.item).to_string(),
            score: c.score,
            reason,
        })
        .collect();
    Ok(Made {
        items,
        fallback,
        model,
    })
}
