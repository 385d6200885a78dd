//! What every stage of a list may look at: the request, the serving model, the catalogue,
//! and the shopper — their stored events, the history a model folds in, and every item they
//! have interacted with.

use aisle_data::weighting::{Weighed, matrix};
use aisle_data::{Cell, Interactions, Row};
use aisle_models::TrainedModel;
use aisle_store::StoredEvent;

use crate::catalogue::{Catalogue, ItemFacts};
use crate::engine::EngineConfig;
use crate::error::EngineError;
use crate::list::{HistoryEntry, ListRequest, Source};
use crate::serving::Serving;
use crate::unix_now;

/// One request's view of the world, built once and read by every stage.
#[derive(Debug)]
pub struct ListContext<'a> {
    pub request: &'a ListRequest,
    pub serving: &'a Serving,
    pub trained: &'a TrainedModel,
    pub catalogue: &'a Catalogue,
    pub(crate) config: &'a EngineConfig,
    /// The user's most recent stored events, oldest first (empty without a user).
    pub events: Vec<StoredEvent>,
    /// The history as the model weighs it (one row, in the model's item indices): what a
    /// model folds in.
    history: Interactions,
    /// Every item of the history the model knows, whatever its event type and whether or
    /// not the model's weighting counts it (sorted): what `exclude_seen` leaves out.
    seen: Vec<u32>,
    /// The user's index in the model, when it was trained on them.
    pub known_user: Option<u32>,
    /// Whether the history holds events the model's snapshot did not (or an anonymous
    /// history): the trained state is out of date, so the user is folded in.
    pub fresh: bool,
    /// The context item's index in the model, when the model knows it.
    pub item: Option<u32>,
    /// The context item's catalogue facts, when it is in the catalogue.
    pub item_facts: Option<&'a ItemFacts>,
}

impl<'a> ListContext<'a> {
    pub(crate) fn new(
        request: &'a ListRequest,
        serving: &'a Serving,
        catalogue: &'a Catalogue,
        config: &'a EngineConfig,
        events: Vec<StoredEvent>,
    ) -> Result<ListContext<'a>, EngineError> {
        let trained = serving.trained.as_ref();
        let mut item = None;
        let mut item_facts = None;
        if let Some(item_id) = &request.item_id {
            item = trained.items.get(item_id);
            item_facts = catalogue.get(item_id);
            // An item is known while the catalogue lists it, or, for a shop that sends events
            // only (no catalogue), while the model knows it. A deleted item has no lists.
            let listed = if catalogue.is_empty() {
                item.is_some()
            } else {
                item_facts.is_some()
            };
            if !listed && matches!(request.source, Source::Similar | Source::BoughtTogether) {
                return Err(EngineError::UnknownItem(item_id.clone()));
            }
        }
        let fresh = !request.history.is_empty()
            || events
                .iter()
                .any(|e| serving.last_event.is_none_or(|last| e.id > last));
        let n_items = trained.model.n_items();
        let stored: Vec<Weighed> = events
            .iter()
            .filter_map(|e| weighed(trained, 0, e))
            .collect();
        let mut history = matrix(1, n_items, stored, trained.weighting, &trained.event_types);
        if !request.history.is_empty() {
            // An anonymous history adds to the stored one as the weighting merges repeats.
            let now = unix_now();
            let mut cells: Vec<Cell> = history.cells().collect();
            cells.extend(
                request
                    .history
                    .iter()
                    .filter_map(|h| history_cell(trained, h, now)),
            );
            history =
                Interactions::from_cells(1, n_items, cells, trained.weighting.duplicate_policy());
        }
        let mut seen: Vec<u32> = events
            .iter()
            .map(|e| e.item_id.as_str())
            .chain(request.history.iter().map(|h| h.item_id.as_str()))
            .filter_map(|id| trained.items.get(id))
            .collect();
        seen.sort_unstable();
        seen.dedup();
        let known_user = request
            .user_id
            .as_deref()
            .and_then(|u| trained.users.get(u));
        Ok(ListContext {
            request,
            serving,
            trained,
            catalogue,
            config,
            events,
            history,
            seen,
            known_user,
            fresh,
            item,
            item_facts,
        })
    }

    /// The history as the model weighs it.
    pub fn history(&self) -> Row<'_> {
        self.history.row(0)
    }

    /// Whether the shopper has interacted with `item` (any event type).
    pub fn has_seen(&self, item: u32) -> bool {
        self.seen.binary_search(&item).is_ok()
    }

    /// The category popular-in-category lists are drawn from: the requested one, else the
    /// context item's first.
    pub fn category(&self) -> Option<&str> {
        self.request.filters.category.as_deref().or_else(|| {
            self.item_facts
                .and_then(|f| f.categories.first())
                .map(String::as_str)
        })
    }

    /// The catalogue facts of a model item.
    pub fn facts(&self, item: u32) -> Option<&'a ItemFacts> {
        self.catalogue.get(self.trained.items.id(item))
    }
}

/// A stored event as model user `user`'s, in the model's item and type indices; `None` when
/// the model does not know the item or the event type.
pub(crate) fn weighed(trained: &TrainedModel, user: u32, event: &StoredEvent) -> Option<Weighed> {
    Some(Weighed {
        user,
        item: trained.items.get(&event.item_id)?,
        kind: trained.event_types.lookup(&event.kind)?,
        value: event.value.map_or(f32::NAN, |v| v as f32),
        quantity: event.quantity.map_or(1.0, |q| q as f32),
        timestamp: event.timestamp.unwrap_or(0),
    })
}

/// The cell of an anonymous history entry: an event type weighs as at training time; without
/// one the entry's value (default 1) is the weight.
fn history_cell(trained: &TrainedModel, entry: &HistoryEntry, now: i64) -> Option<Cell> {
    let item = trained.items.get(&entry.item_id)?;
    let value = entry.value.map(|v| v as f32);
    let weight = match &entry.kind {
        Some(kind) => {
            let kind = trained.event_types.lookup(kind)?;
            trained
                .weighting
                .weight(kind, value.unwrap_or(f32::NAN), 1.0, &trained.event_types)?
        }
        None => value.unwrap_or(1.0),
    };
    weight.is_finite().then_some(Cell {
        user: 0,
        item,
        weight,
        timestamp: now,
    })
}
