//! The values a store takes and gives back (events, pages, counts, model versions), and the
//! checks every backend applies to them before writing, so that all backends accept and
//! refuse exactly the same input.
//!
//! Items and users are the data crate's [`Item`] and [`User`]: the store keeps every field
//! they have.

use aisle_data::{Item, User};
use serde::{Deserialize, Serialize};
use serde_json::Value;

use crate::error::{Result, StoreError};

pub use aisle_data::ids::MAX_ID_CHARS;
/// Accepted event times, Unix seconds: the years -9999 to 9999, as far as every time library
/// of the pipeline (jiff) represents them.
pub const TIMESTAMPS: std::ops::RangeInclusive<i64> = -377_705_023_201..=253_402_207_200;
/// Longest accepted event type name, in bytes.
pub const MAX_TYPE_BYTES: usize = 64;
/// Most entries one page of a listing may hold.
pub const MAX_PAGE: usize = 10_000;

/// The id of a stored event. Ids grow in the order appends commit, so "every event after
/// id X" is a complete answer at any moment (see `docs/store.md` for PostgreSQL).
#[derive(
    Debug, Clone, Copy, Default, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize,
)]
#[serde(transparent)]
pub struct EventId(pub i64);

/// The version of a stored model. Versions grow with every save, across all model names, and
/// are never reused.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
#[serde(transparent)]
pub struct ModelVersion(pub i64);

/// Where the next page of a listing starts. Opaque to callers: pass back what a [`Page`]
/// returned.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
#[serde(transparent)]
pub struct Cursor(pub i64);

/// One page of a listing, in the order entries were first stored.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Page<T> {
    pub entries: Vec<T>,
    /// The cursor of the next page; `None` when this page is the last.
    pub next: Option<Cursor>,
}

/// An event to append. Borrowed, so a large import writes without copying its ids.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct NewEvent<'a> {
    pub user_id: &'a str,
    pub item_id: &'a str,
    /// The event type (`view`, `click`, `add_to_cart`, `purchase`, `rating` or a custom one).
    /// Any non-empty name is stored; unknown types are dropped, and counted, when a training
    /// snapshot is cleaned.
    pub kind: &'a str,
    /// The rating of a `rating`, the revenue of a `purchase`; `None` when the event has none.
    pub value: Option<f64>,
    /// Unix seconds; `None` when unknown.
    pub timestamp: Option<i64>,
    /// The recommendation list the event came from, for attributing it to a model.
    pub recommendation_id: Option<&'a str>,
    /// The 0-based rank of the item in that list.
    pub position: Option<u32>,
    /// Units (a purchase's quantity; a return's, positive); `None` is one.
    pub quantity: Option<f64>,
    /// Unit price.
    pub price: Option<f64>,
    /// The basket (order, invoice, session) the event belongs to.
    pub basket: Option<&'a str>,
}

impl<'a> NewEvent<'a> {
    /// An event with no value, timestamp, attribution, quantity, price or basket.
    pub fn new(user_id: &'a str, item_id: &'a str, kind: &'a str) -> Self {
        NewEvent {
            user_id,
            item_id,
            kind,
            value: None,
            timestamp: None,
            recommendation_id: None,
            position: None,
            quantity: None,
            price: None,
            basket: None,
        }
    }
}

/// An event as stored.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct StoredEvent {
    pub id: EventId,
    pub user_id: String,
    pub item_id: String,
    #[serde(rename = "type")]
    pub kind: String,
    pub value: Option<f64>,
    pub timestamp: Option<i64>,
    pub recommendation_id: Option<String>,
    pub position: Option<u32>,
    #[serde(default)]
    pub quantity: Option<f64>,
    #[serde(default)]
    pub price: Option<f64>,
    #[serde(default)]
    pub basket: Option<String>,
}

/// What a scan visited.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Serialize, Deserialize)]
pub struct ScanSummary {
    /// Events visited.
    pub events: u64,
    /// The id of the last event visited: pass it as `after` to continue from there later.
    pub last: Option<EventId>,
}

/// How much a store holds.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Serialize, Deserialize)]
pub struct Counts {
    pub items: u64,
    pub users: u64,
    pub events: u64,
    pub models: u64,
    /// Lists in the served-list log.
    pub served_lists: u64,
}

/// What is known about a trained model besides its bytes.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct ModelMeta {
    /// The algorithm's CLI name (`als`, `item-knn`, ...), or any name the caller groups
    /// versions by.
    pub name: String,
    /// The hyper-parameters it was trained with.
    pub params: Value,
    /// Unix seconds.
    pub trained_at: i64,
    /// Training and validation metrics.
    pub metrics: Value,
    /// The version of the byte layout, set by whoever serialised the model; the store only
    /// keeps it, so a loader can refuse a layout it does not know.
    pub format_version: u32,
    /// The newest event of the snapshot it was trained on: events after it are "new" to the
    /// model (their users are folded in).
    #[serde(default)]
    pub last_event_id: Option<EventId>,
}

/// A stored model's description, without its bytes.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct ModelInfo {
    pub version: ModelVersion,
    #[serde(flatten)]
    pub meta: ModelMeta,
    /// Size of the serialised model in bytes.
    pub size: u64,
    /// When the store received it, Unix seconds.
    pub saved_at: i64,
}

/// A stored model: its description and its serialised bytes, opaque to the store.
#[derive(Debug, Clone, PartialEq)]
pub struct StoredModel {
    pub info: ModelInfo,
    pub bytes: Vec<u8>,
}

/// What deleting a user removed.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Serialize, Deserialize)]
pub struct DeletedUser {
    /// Whether a user record existed.
    pub record: bool,
    /// How many of their events were erased.
    pub events: u64,
}

/// What changed in the catalogue after a version a follower has seen.
#[derive(Debug, Clone, PartialEq, Eq, Default, Serialize, Deserialize)]
pub struct CatalogueChanges {
    /// Ids of items written or deleted since (look each up to know which).
    pub changed: Vec<String>,
    /// The catalogue's version now: pass it next time.
    pub version: i64,
}

/// A list served to a shopper: who saw which items, from which model and experiment
/// variant. Events that carry its `recommendation_id` are attributed to it.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Impression {
    pub recommendation_id: String,
    pub user_id: Option<String>,
    pub model: String,
    pub model_version: i64,
    pub experiment: Option<String>,
    pub variant: Option<String>,
    /// Item ids in list order: an item's position is its index.
    pub items: Vec<String>,
    /// Unix seconds.
    pub served_at: i64,
}

/// A stored placement: a named recommendation slot with its source and merchandising rules.
/// The definition is the server's to interpret; the store keeps it as given.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct PlacementRecord {
    pub name: String,
    pub definition: Value,
    /// Unix seconds of the last write.
    pub updated_at: i64,
}

/// A stored experiment. The definition (variants, shares, control) is the server's to
/// interpret; the store keeps it as given.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct ExperimentRecord {
    pub name: String,
    pub definition: Value,
    /// Unix seconds.
    pub created_at: i64,
    pub stopped_at: Option<i64>,
    /// The last event stored when the experiment began: only later events can count.
    pub first_event: EventId,
}

/// A hyper-parameter search's outcome for one model (`aisle tune`, the server's tuning
/// job), to store: the next trainings of the model use its weighting and parameters.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct NewTuning {
    pub model: String,
    pub weighting: String,
    /// Every parameter of the chosen settings (a JSON object).
    pub params: Value,
    /// The metric searched on (`ndcg@10`), and the chosen settings' and the defaults'
    /// validation scores.
    pub metric: String,
    pub score: f64,
    pub default_score: f64,
    pub trials: u32,
    pub seconds: f64,
    /// The whole outcome, every trial included (the search's own JSON).
    pub report: Value,
}

/// A stored search outcome.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct TuningRecord {
    /// Grows with every outcome stored.
    pub id: i64,
    /// Unix seconds.
    pub created_at: i64,
    #[serde(flatten)]
    pub tuning: NewTuning,
}

/// Events of one type on one day (UTC).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct DayCount {
    /// `YYYY-MM-DD`.
    pub day: String,
    #[serde(rename = "type")]
    pub kind: String,
    pub count: u64,
    /// The money of the day's `purchase` or `return` events: each event's `value`, or
    /// `quantity × price` when it has none (a quantity defaults to 1; an event with neither
    /// counts 0). Zero for other types.
    #[serde(default)]
    pub amount: f64,
}

/// Checks an id: see [`aisle_data::ids::check_id`] (not blank, at most [`MAX_ID_CHARS`]
/// characters, no NUL and no `%`).
pub fn check_id(argument: &'static str, id: &str) -> Result<()> {
    aisle_data::ids::check_id(id).map_err(|why| StoreError::invalid(argument, why))
}

/// Checks any text the store keeps: no NUL character (a database text column cannot hold
/// one on every backend).
pub fn check_text(argument: &'static str, text: &str) -> Result<()> {
    if text.contains('\0') {
        return Err(StoreError::invalid(
            argument,
            "must not contain the NUL character",
        ));
    }
    Ok(())
}

/// Checks an item before it is written.
pub fn check_item(item: &Item) -> Result<()> {
    check_id("item id", &item.id)?;
    if let Some(price) = item.price
        && !(price.is_finite() && price >= 0.0)
    {
        return Err(StoreError::invalid(
            "price",
            format!("item '{}': {price} is not a finite number >= 0", item.id),
        ));
    }
    if item.categories.iter().any(|c| c.trim().is_empty()) {
        return Err(StoreError::invalid(
            "categories",
            format!("item '{}': a category name is empty", item.id),
        ));
    }
    check_text("title", &item.title)?;
    for category in &item.categories {
        check_text("categories", category)?;
    }
    Ok(())
}

/// Checks a user before it is written.
pub fn check_user(user: &User) -> Result<()> {
    check_id("user id", &user.id)
}

/// Checks the `index`-th event of a batch before any of it is written.
pub fn check_event(index: usize, event: &NewEvent<'_>) -> Result<()> {
    let fail = |message: String| Err(StoreError::InvalidEvent { index, message });
    for (what, id) in [("user_id", event.user_id), ("item_id", event.item_id)]
        .into_iter()
        .chain(event.recommendation_id.map(|r| ("recommendation_id", r)))
        .chain(event.basket.map(|b| ("basket", b)))
    {
        if let Err(StoreError::InvalidArgument { message, .. }) = check_id(what, id) {
            return fail(format!("{what} {message}"));
        }
    }
    let kind = event.kind.trim();
    if kind.is_empty() || event.kind.len() > MAX_TYPE_BYTES || event.kind.contains('\0') {
        return fail(format!(
            "type must be a name of 1 to {MAX_TYPE_BYTES} bytes, not '{}'",
            event.kind
        ));
    }
    if let Some(value) = event.value
        && !value.is_finite()
    {
        return fail(format!("value {value} is not a finite number"));
    }
    if let Some(q) = event.quantity
        && !(q.is_finite() && q > 0.0)
    {
        return fail(format!("quantity {q} is not a number > 0"));
    }
    if let Some(p) = event.price
        && !(p.is_finite() && p >= 0.0)
    {
        return fail(format!("price {p} is not a number >= 0"));
    }
    if let Some(t) = event.timestamp
        && !TIMESTAMPS.contains(&t)
    {
        return fail(format!(
            "timestamp {t} is outside the years -9999 to 9999 (Unix seconds {} to {})",
            TIMESTAMPS.start(),
            TIMESTAMPS.end()
        ));
    }
    Ok(())
}

/// Checks a page size.
pub fn check_limit(limit: usize) -> Result<()> {
    if limit == 0 || limit > MAX_PAGE {
        return Err(StoreError::invalid(
            "limit",
            format!("{limit} is not between 1 and {MAX_PAGE}"),
        ));
    }
    Ok(())
}

/// Checks a search outcome before it is saved: a model name as ids go, finite scores,
/// parameters as a JSON object.
pub fn check_tuning(tuning: &NewTuning) -> Result<()> {
    check_id("model name", &tuning.model)?;
    check_text("weighting", &tuning.weighting)?;
    check_text("metric", &tuning.metric)?;
    if !tuning.params.is_object() {
        return Err(StoreError::invalid("params", "must be a JSON object"));
    }
    for (what, x) in [
        ("score", tuning.score),
        ("default_score", tuning.default_score),
        ("seconds", tuning.seconds),
    ] {
        if !x.is_finite() {
            return Err(StoreError::invalid(
                what,
                format!("{x} is not a finite number"),
            ));
        }
    }
    Ok(())
}

/// Checks a model's description before it is saved.
pub fn check_model_meta(meta: &ModelMeta) -> Result<()> {
    check_id("model name", &meta.name)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn events_are_checked_field_by_field() {
        let good = NewEvent::new("u", "i", "view");
        assert!(check_event(0, &good).is_ok());
        let cases = [
            NewEvent::new(" ", "i", "view"),
            NewEvent::new("u", "", "view"),
            NewEvent::new("u", "i", ""),
            NewEvent {
                value: Some(f64::NAN),
                ..good
            },
            NewEvent {
                recommendation_id: Some(""),
                ..good
            },
        ];
        for (k, event) in cases.iter().enumerate() {
            match check_event(k, event) {
                Err(StoreError::InvalidEvent { index, .. }) => assert_eq!(index, k),
                other => panic!("case {k}: {other:?}"),
            }
        }
        let long = "x".repeat(MAX_ID_CHARS + 1);
        assert!(check_event(0, &NewEvent::new(&long, "i", "view")).is_err());
    }

    #[test]
    fn items_and_limits_are_checked() {
        let mut item = Item {
            id: "i1".into(),
            price: Some(-1.0),
            ..Item::default()
        };
        assert_eq!(check_item(&item).unwrap_err().code(), "invalid_argument");
        item.price = Some(2.5);
        assert!(check_item(&item).is_ok());
        assert!(check_limit(0).is_err());
        assert!(check_limit(MAX_PAGE + 1).is_err());
        assert!(check_limit(1).is_ok());
    }
}
