//! Live events from the shop: each one checked on its own (a known event type, an item the
//! catalogue lists, ids and values the store accepts), the good ones appended together.

use aisle_data::EventTypes;
use aisle_store::{NewEvent, StoreError, record};

use crate::engine::Engine;

/// An event as the shop sends it, its timestamp resolved.
#[derive(Debug, Clone, PartialEq)]
pub struct IncomingEvent {
    pub user_id: String,
    pub item_id: String,
    /// The event type (`view`, `purchase`, ... or a declared custom type).
    pub kind: String,
    pub value: Option<f64>,
    /// Unix seconds.
    pub timestamp: i64,
    pub recommendation_id: Option<String>,
    pub position: Option<u32>,
    /// Units (a purchase's quantity); `None` is one.
    pub quantity: Option<f64>,
    /// Unit price.
    pub price: Option<f64>,
    /// The basket (order) the event belongs to.
    pub basket: Option<String>,
}

impl IncomingEvent {
    /// The event as the store takes it.
    pub fn as_new(&self) -> NewEvent<'_> {
        NewEvent {
            user_id: &self.user_id,
            item_id: &self.item_id,
            kind: &self.kind,
            value: self.value,
            timestamp: Some(self.timestamp),
            recommendation_id: self.recommendation_id.as_deref(),
            position: self.position,
            quantity: self.quantity,
            price: self.price,
            basket: self.basket.as_deref(),
        }
    }
}

/// Why one event is refused.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum Refusal {
    /// The event names an item the catalogue does not list.
    #[error("unknown item '{0}': it is not in the catalogue (PUT /v1/items/{{id}} first)")]
    UnknownItem(String),
    /// A field is wrong: the type, an id, the value or the time, named in the message.
    #[error("{0}")]
    Invalid(String),
}

/// Why one event is refused, for the shop: the type, the item or a field, named.
pub(crate) fn check(
    engine: &Engine,
    types: &EventTypes,
    index: usize,
    event: &IncomingEvent,
) -> Result<(), Refusal> {
    if types.lookup(&event.kind).is_none() {
        let known: Vec<&str> = types.names().collect();
        return Err(Refusal::Invalid(format!(
            "unknown event type '{}' (known: {}; declare others in the training weights)",
            event.kind,
            known.join(", ")
        )));
    }
    record::check_event(index, &event.as_new()).map_err(|e| {
        Refusal::Invalid(match e {
            StoreError::InvalidEvent { message, .. } => message,
            other => other.to_string(),
        })
    })?;
    if !engine.accepts_item(&event.item_id) {
        return Err(Refusal::UnknownItem(event.item_id.clone()));
    }
    Ok(())
}
