//! `POST /v1/events`: one event or a batch. Each event is checked on its own; the good ones
//! are stored in one transaction (durable when the answer comes) and the bad ones are listed
//! by index, so a bad row never costs the good ones.

use aisle_engine::{IncomingEvent, Refusal, unix_now};
use axum::Extension;
use axum::Json;
use axum::extract::State;
use axum::http::StatusCode;
use serde::{Deserialize, Serialize};
use serde_json::Value;
use utoipa::ToSchema;

use crate::api::AppState;
use crate::api::catalogue::TimeValue;
use crate::api::extract::BeaconJson;
use crate::api::keys::Scope;
use crate::error::{ApiError, Code, ErrorBody};

/// An event from the shop.
#[derive(Debug, Clone, PartialEq, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct EventBody {
    #[schema(format = "aisle-id")]
    pub user_id: String,
    #[schema(format = "aisle-id")]
    pub item_id: String,
    /// `view`, `click`, `add_to_cart`, `purchase`, `rating` or a type the server's training
    /// settings give a weight.
    #[serde(rename = "type")]
    #[schema(format = "aisle-event-type")]
    pub kind: String,
    /// The rating of a `rating`; the amount of a `purchase`.
    #[serde(default)]
    pub value: Option<f64>,
    /// When it happened (Unix seconds or RFC 3339); default: when the server received it.
    #[serde(default)]
    #[schema(value_type = Option<String>, format = "aisle-time")]
    pub timestamp: Option<TimeValue>,
    /// The `recommendation_id` of the list the item was shown in.
    #[serde(default)]
    #[schema(format = "aisle-id")]
    pub recommendation_id: Option<String>,
    /// The item's 0-based position in that list.
    #[serde(default, deserialize_with = "aisle_engine::lenient::optional_integer")]
    #[schema(minimum = 0, maximum = 4294967295_u32)]
    pub position: Option<u32>,
    /// Units bought (a purchase) or returned (a `return`); default 1.
    #[serde(default)]
    #[schema(exclusive_minimum = 0.0)]
    pub quantity: Option<f64>,
    /// Unit price; a purchase's revenue is quantity × price when it has no value.
    #[serde(default)]
    #[schema(minimum = 0.0)]
    pub price: Option<f64>,
    /// The order (basket) the event belongs to.
    #[serde(default)]
    #[schema(format = "aisle-id")]
    pub basket_id: Option<String>,
}

/// One event, or a batch of them (for the document: the handler reads each event on its own,
/// so a bad one never costs the good ones).
#[derive(Debug, Deserialize, ToSchema)]
#[serde(untagged)]
#[allow(dead_code)]
pub enum EventsBody {
    One(EventBody),
    Batch(Vec<EventBody>),
}

/// What was stored and what was refused.
#[derive(Debug, Serialize, ToSchema)]
pub struct EventsAnswer {
    pub accepted: u64,
    pub errors: Vec<EventError>,
}

/// Why one event of the batch was refused.
#[derive(Debug, Serialize, ToSchema)]
pub struct EventError {
    /// 0-based index in the batch (0 for a single event).
    pub index: usize,
    pub message: String,
}

/// Stores events: one JSON object or an array of them (as `application/json`, or as
/// `text/plain` for a storefront's `navigator.sendBeacon`; a public key sends clicks and
/// views only). Answers 200 when at least one event
/// was stored (or the batch was empty); when every event was refused, 404 if each names an
/// item the catalogue does not list, 400 otherwise. The body lists refused events by index
/// either way.
#[utoipa::path(post, path = "/v1/events", tag = "events",
    request_body(content = EventsBody, description = "An event object or an array of them"),
    responses(
        (status = 200, body = EventsAnswer),
        (status = 400, description = "Every event was refused (`EventsAnswer`), or the JSON is malformed (`ErrorBody`)", body = EventsRefused),
        (status = 404, description = "Every event names an item the catalogue does not list", body = EventsAnswer),
        (status = 413, body = ErrorBody),
        (status = 503, description = "`overloaded`: more events arrive than the store can write; nothing of the request was kept (retry after `Retry-After`)", body = ErrorBody)))]
pub async fn post_events(
    State(state): State<AppState>,
    scope: Option<Extension<Scope>>,
    BeaconJson(body): BeaconJson<Value>,
) -> Result<(StatusCode, Json<EventsAnswer>), ApiError> {
    // A public key is in a storefront's pages for anyone to read: it may report what
    // shoppers saw and clicked, never purchases or ratings.
    let public = scope.is_some_and(|Extension(scope)| scope == Scope::Public);
    let rows = match body {
        Value::Array(rows) => rows,
        Value::Object(_) => vec![body],
        _ => {
            return Err(ApiError::new(
                Code::InvalidBody,
                "send an event object or an array of event objects",
            ));
        }
    };
    if rows.len() > state.config.max_batch {
        return Err(ApiError::new(
            Code::BatchTooLarge,
            format!(
                "a batch may hold at most {} events (max_batch), this one has {}",
                state.config.max_batch,
                rows.len()
            ),
        ));
    }
    let now = unix_now();
    let service = &state.service;
    let mut errors = Vec::new();
    let mut good = Vec::with_capacity(rows.len());
    let mut unknown_items = 0;
    for (index, row) in rows.into_iter().enumerate() {
        let checked = serde_json::from_value::<EventBody>(row)
            .map_err(|e| Refusal::Invalid(e.to_string()))
            .and_then(|body| {
                if public && !matches!(body.kind.as_str(), "click" | "view") {
                    Err(Refusal::Invalid(format!(
                        "a public key sends click and view events only, not '{}'",
                        body.kind
                    )))
                } else {
                    Ok(body)
                }
            })
            .and_then(|body| body.into_event(now).map_err(Refusal::Invalid))
            .and_then(|event| service.check_event(index, &event).map(|()| event));
        match checked {
            Ok(event) => good.push(event),
            Err(refusal) => {
                unknown_items += usize::from(matches!(refusal, Refusal::UnknownItem(_)));
                errors.push(EventError {
                    index,
                    message: refusal.to_string(),
                });
            }
        }
    }
    // The writer stores these with other requests' events in one transaction and answers
    // when they are durable; a full queue refuses the request at once.
    let (written, answer) = tokio::sync::oneshot::channel();
    state
        .service
        .submit_events(good, errors.len(), move |result| {
            let _ = written.send(result);
        })?;
    let accepted = answer
        .await
        .map_err(|_| ApiError::new(Code::Internal, "the event writer stopped"))??;
    let status = match (accepted, errors.len()) {
        (0, refused) if refused > 0 && unknown_items == refused => StatusCode::NOT_FOUND,
        (0, refused) if refused > 0 => StatusCode::BAD_REQUEST,
        _ => StatusCode::OK,
    };
    Ok((status, Json(EventsAnswer { accepted, errors })))
}

impl EventBody {
    /// The event with its timestamp resolved (default: `now`).
    fn into_event(self, now: i64) -> Result<IncomingEvent, String> {
        let timestamp = match &self.timestamp {
            Some(t) => t.seconds("timestamp")?,
            None => now,
        };
        Ok(IncomingEvent {
            user_id: self.user_id,
            item_id: self.item_id,
            kind: self.kind,
            value: self.value,
            timestamp,
            recommendation_id: self.recommendation_id,
            position: self.position,
            quantity: self.quantity,
            price: self.price,
            basket: self.basket_id,
        })
    }
}

/// The body of a 400 from `POST /v1/events`: every event refused, or no events at all.
#[derive(Debug, Serialize, ToSchema)]
#[serde(untagged)]
pub enum EventsRefused {
    Refused(EventsAnswer),
    Error(ErrorBody),
}
