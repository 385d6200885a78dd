//! Lists: what a request asks for ([`ListRequest`]), what it gets back
//! ([`RecommendationList`]), and the pipeline in between.
//!
//! A list is made in stages, each in its own module:
//! 1. **context** ([`context`]): the serving model, the user's history from the store (and
//!    any anonymous history), the items they have seen, the context item;
//! 2. **candidates** ([`candidates`]): the source's ranked items — precomputed, folded in or
//!    scored for a user; similar items; popular or trending items — with the
//!    [filters](filter) applied as they are drawn;
//! 3. **adjusting stages** ([`Stage`]): score changes and slot placements on the candidate
//!    pool (none by default; merchandising rules add theirs);
//! 4. **top-up** along the request's fallback chain when the list is short;
//! 5. **reasons** ([`reasons`]): why each item is there.

pub mod candidates;
pub mod context;
pub mod filter;
pub(crate) mod pipeline;
pub mod reasons;
#[cfg(test)]
mod tests;

use std::sync::Arc;

use serde::Serialize;

pub use context::ListContext;
pub use filter::{ItemFilter, ListFilters};
pub use pipeline::{Candidate, Origin};

/// Where a list's items come from.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Source {
    /// A user's recommendations: their stored history, an anonymous history, or both.
    User,
    /// Items similar to the context item.
    Similar,
    /// The most popular items.
    Popular,
    /// The most popular items of the context item's category (or of the requested one).
    PopularInCategory,
    /// Items popular recently (time-decayed popularity).
    Trending,
    /// What the shopper bought before, most likely to be bought again first.
    BuyAgain,
    /// Items bought together with the context item (a basket model's answer for a basket of
    /// one).
    BoughtTogether,
    /// Items that complete the request's basket.
    Basket,
}

impl Source {
    /// The sources that top up a short list of this one, unless a request says otherwise.
    pub fn default_fallback(self) -> &'static [Source] {
        match self {
            Source::User => &[Source::Popular],
            Source::Similar | Source::BoughtTogether => &[Source::PopularInCategory],
            Source::Basket => &[Source::Popular],
            Source::Popular | Source::PopularInCategory | Source::Trending | Source::BuyAgain => {
                &[]
            }
        }
    }

    /// Whether a basket model (`MODEL@baskets`) answers this source.
    pub fn wants_basket_model(self) -> bool {
        matches!(self, Source::BoughtTogether | Source::Basket)
    }

    /// The model name a list answered only by this source carries.
    pub(crate) fn fallback_name(self) -> &'static str {
        match self {
            Source::Trending => "trending",
            Source::BuyAgain => "buy-again",
            _ => "popular",
        }
    }
}

/// One entry of an anonymous history (`POST /v1/recommend`).
#[derive(Debug, Clone, PartialEq)]
pub struct HistoryEntry {
    pub item_id: String,
    /// The event type; without one the entry is an interaction of weight `value` (default 1).
    pub kind: Option<String>,
    pub value: Option<f64>,
}

/// A stage that adjusts the candidate pool after scoring and filtering: changes scores,
/// removes candidates or places them at positions. The pool is sorted best first when a
/// stage gets it, and must be when it gives it back.
pub trait Stage: std::fmt::Debug + Send + Sync {
    fn apply(&self, context: &ListContext<'_>, pool: &mut Vec<Candidate>);

    /// How many candidates the stage wants to work on for a list of `want` items: enough
    /// spare ones that removals and slot placements still leave a full list.
    fn pool_size(&self, want: usize) -> usize {
        want * 3 + 20
    }

    /// Whether a fallback item may join the finished part of the list (`list`): a stage
    /// whose constraint is on the whole list (at most two per category) keeps it there too.
    fn admits(
        &self,
        _context: &ListContext<'_>,
        _list: &[Candidate],
        _candidate: &Candidate,
    ) -> bool {
        true
    }
}

/// What a list is asked for: built from a query string or a body by one conversion each.
#[derive(Debug, Clone)]
pub struct ListRequest {
    pub source: Source,
    /// The shopper: their stored history is read for [`Source::User`], and their seen items
    /// are left out.
    pub user_id: Option<String>,
    /// An anonymous history, added to the user's stored one.
    pub history: Vec<HistoryEntry>,
    /// The item a list is about (similar items, bought together; the category of
    /// popular-in-category).
    pub item_id: Option<String>,
    /// The items in the shopper's basket ([`Source::Basket`]): what the list completes, never
    /// in it.
    pub basket: Vec<String>,
    pub n: usize,
    /// Items to skip, for paging.
    pub offset: usize,
    pub filters: ListFilters,
    /// The model to ask (default: the engine's default model).
    pub model: Option<String>,
    /// Sources that top up a short list, in order (`None`: the source's default chain).
    pub fallback: Option<Vec<Source>>,
    /// Adjusting stages run on the candidate pool, in order.
    pub stages: Vec<Arc<dyn Stage>>,
    /// The model was chosen by an experiment, not by the caller: where it cannot answer the
    /// source (similar items from popularity), the fallback chain does.
    pub assigned_model: bool,
}

impl ListRequest {
    /// A request of `source` with no context yet (no user, item or basket).
    pub(crate) fn new(source: Source) -> Self {
        ListRequest {
            source,
            user_id: None,
            history: Vec::new(),
            item_id: None,
            basket: Vec::new(),
            n: 10,
            offset: 0,
            filters: ListFilters::default(),
            model: None,
            fallback: None,
            stages: Vec::new(),
            assigned_model: false,
        }
    }

    /// A user's recommendations.
    pub fn for_user(user_id: impl Into<String>) -> Self {
        ListRequest {
            user_id: Some(user_id.into()),
            ..Self::new(Source::User)
        }
    }

    /// Recommendations for an anonymous history.
    pub fn for_history(history: Vec<HistoryEntry>) -> Self {
        ListRequest {
            history,
            ..Self::new(Source::User)
        }
    }

    /// Items similar to `item_id`.
    pub fn similar_to(item_id: impl Into<String>) -> Self {
        ListRequest {
            item_id: Some(item_id.into()),
            ..Self::new(Source::Similar)
        }
    }

    /// Items bought together with `item_id`. The shopper's own items are not left out unless
    /// asked (buying again what one bought before is fine here).
    pub fn bought_together(item_id: impl Into<String>) -> Self {
        let mut request = ListRequest {
            item_id: Some(item_id.into()),
            ..Self::new(Source::BoughtTogether)
        };
        request.filters.exclude_seen = false;
        request
    }

    /// Items completing a basket of `items` (the items themselves never come back).
    pub fn complete_basket(items: Vec<String>) -> Self {
        let mut request = ListRequest {
            basket: items,
            ..Self::new(Source::Basket)
        };
        request.filters.exclude_seen = false;
        request
    }

    /// The most popular items.
    pub fn popular() -> Self {
        Self::new(Source::Popular)
    }

    /// Items popular recently.
    pub fn trending() -> Self {
        Self::new(Source::Trending)
    }

    /// What `user_id` bought before, to buy again (their history stays in, of course).
    pub fn buy_again(user_id: impl Into<String>) -> Self {
        let mut request = ListRequest {
            user_id: Some(user_id.into()),
            ..Self::new(Source::BuyAgain)
        };
        request.filters.exclude_seen = false;
        request
    }

    pub fn with_n(mut self, n: usize) -> Self {
        self.n = n;
        self
    }

    pub fn with_model(mut self, model: Option<String>) -> Self {
        self.model = model;
        self
    }

    /// The fallback chain this request uses.
    pub fn fallback_chain(&self) -> &[Source] {
        match &self.fallback {
            Some(chain) => chain,
            None => self.source.default_fallback(),
        }
    }
}

/// Why an item is in a list.
#[derive(Debug, Clone, PartialEq, Serialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[serde(tag = "kind", rename_all = "snake_case")]
pub enum Reason {
    /// Close, in the model's terms, to an item of the user's history.
    SimilarTo {
        item_id: String,
        /// The user's strongest event on that item (`purchase`, `view`, ...; `history` for
        /// an anonymous history).
        event: String,
    },
    /// The model scores it highly for this user, with no single history item to point to.
    Collaborative,
    /// Among the most popular items.
    Popular,
    /// Among the most popular items of the requested category.
    PopularInCategory { category: String },
    /// Popular recently (time-decayed popularity).
    Trending,
    /// Similar to the item asked about.
    SimilarItem { item_id: String },
    /// Bought before: how many units in all, and when last (Unix seconds).
    BoughtBefore { units: f64, last: i64 },
    /// Bought together with this item (the item asked about, or the basket's item the model
    /// finds closest).
    BoughtWith { item_id: String },
    /// New in the catalogue since the model was trained: placed by its content.
    NewItem,
    /// Similar by its description to the item asked about (one of the two is new since
    /// training, so there are no interactions to compare).
    SimilarContent { item_id: String },
    /// Placed here by a placement's pin rule.
    Pinned,
}

/// One recommended item.
#[derive(Debug, Clone, PartialEq, Serialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct Recommended {
    pub item_id: String,
    pub score: f32,
    pub reason: Reason,
}

/// A list as answered to the shop.
#[derive(Debug, Clone, PartialEq, Serialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct RecommendationList {
    /// Send it back with events on these items to attribute them to this list.
    pub recommendation_id: String,
    /// The model that made the list (`popular` or `trending` for fallbacks).
    pub model: String,
    /// The stored version of that model.
    pub model_version: i64,
    /// True when the source could not answer (an unknown user, an item the model has not
    /// seen) and the list is not personalised.
    pub fallback: bool,
    /// The experiment and variant the user is in, when an experiment chose the model.
    pub experiment: Option<ExperimentTag>,
    pub items: Vec<Recommended>,
}

/// Which experiment variant produced a list.
#[derive(Debug, Clone, PartialEq, Serialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct ExperimentTag {
    pub name: String,
    pub variant: String,
}
