//! The filter stage: which items a list may hold. The request's own filters (seen items,
//! exclusions, a category, availability, items no longer in the catalogue) and any extra
//! [`ItemFilter`]s are checked per candidate while candidates are drawn, cheap checks first.

use std::collections::HashSet;
use std::sync::Arc;

use aisle_models::{Scored, top_k};

use crate::list::ListContext;

/// The filters a request asks for.
#[derive(Debug, Clone)]
pub struct ListFilters {
    /// Only items in this category.
    pub category: Option<String>,
    /// Only items marked available in the catalogue.
    pub available_only: bool,
    /// Leave out items the shopper has interacted with (default true).
    pub exclude_seen: bool,
    /// Item ids never to return.
    pub exclude: Vec<String>,
    /// More conditions an item must meet (merchandising rules add theirs here).
    pub extra: Vec<Arc<dyn ItemFilter>>,
}

impl Default for ListFilters {
    fn default() -> Self {
        ListFilters {
            category: None,
            available_only: false,
            exclude_seen: true,
            exclude: Vec::new(),
            extra: Vec::new(),
        }
    }
}

/// A condition on an item beyond the built-in filters.
pub trait ItemFilter: std::fmt::Debug + Send + Sync {
    /// Whether `item` (a model index) may be in the list.
    fn allows(&self, context: &ListContext<'_>, item: u32) -> bool;
}

/// The filters of one request, compiled against its context.
#[derive(Debug)]
pub struct Filters<'c, 'a> {
    context: &'c ListContext<'a>,
    excluded: HashSet<u32>,
}

impl<'c, 'a> Filters<'c, 'a> {
    pub fn new(context: &'c ListContext<'a>) -> Self {
        let trained = context.trained;
        let mut excluded: HashSet<u32> = context
            .request
            .filters
            .exclude
            .iter()
            .filter_map(|id| trained.items.get(id))
            .collect();
        // The item a list is about is never in it, nor are the basket's items.
        excluded.extend(context.item);
        excluded.extend(
            context
                .request
                .basket
                .iter()
                .filter_map(|id| trained.items.get(id)),
        );
        Filters { context, excluded }
    }

    /// The checks that need no catalogue lookup.
    pub fn cheap(&self, item: u32) -> bool {
        let seen = self.context.request.filters.exclude_seen && self.context.has_seen(item);
        !seen && !self.excluded.contains(&item)
    }

    /// The catalogue checks (still listed, in the category, available) and the extra filters.
    pub fn listed(&self, item: u32) -> bool {
        let filters = &self.context.request.filters;
        let catalogue_ok = if self.context.catalogue.is_empty() {
            filters.category.is_none() && !filters.available_only
        } else {
            match self.context.facts(item) {
                None => false,
                Some(facts) => {
                    (!filters.available_only || facts.available)
                        && filters
                            .category
                            .as_deref()
                            .is_none_or(|c| facts.categories.iter().any(|f| f == c))
                }
            }
        };
        catalogue_ok && filters.extra.iter().all(|f| f.allows(self.context, item))
    }

    pub fn allows(&self, item: u32) -> bool {
        self.cheap(item) && self.listed(item)
    }

    /// The best `want` allowed items of `scores`. Catalogue lookups cost a hash each, so they
    /// are first applied to a short list of the best candidates only, and to every item only
    /// when that short list runs dry (a rare category, most items unavailable).
    pub fn select(&self, scores: &[f32], want: usize) -> Vec<Scored> {
        let spare = want * 2 + 16;
        let candidates = top_k(scores, spare, |i| self.cheap(i));
        let exhausted = candidates.len() < spare;
        let kept: Vec<Scored> = candidates
            .into_iter()
            .filter(|s| self.listed(s.item))
            .take(want)
            .collect();
        if kept.len() == want || exhausted {
            kept
        } else {
            top_k(scores, want, |i| self.allows(i))
        }
    }
}
