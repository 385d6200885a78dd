//! `POST /v1/events`: one event or a batch. Each event is checked on its own; the good ones
//! are stored in one transaction (durable when the answer comes) and the bad ones are listed
//! by index, so a bad row never costs the good ones.

use aisle_store::NewEvent;
use aisle_store::record::check_event;
use axum::Json;
use axum::extract::State;
use axum::http::StatusCode;
use serde::{Deserialize, Serialize};
use serde_json::Value;
use utoipa::ToSchema;

use crate::api::catalogue::TimeValue;
use crate::api::extract::ApiJson;
use crate::api::{AppState, run_blocking};
use crate::error::{ApiError, ErrorBody};
use crate::metrics::Metrics;
use crate::training::unix_now;

/// An event from the shop.
#[derive(Debug, Clone, PartialEq, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct EventBody {
    pub user_id: String,
    pub item_id: String,
    /// `view`, `click`, `add_to_cart`, `purchase`, `rating` or a type the server's training
    /// settings give a weight.
    #[serde(rename = "type")]
    pub kind: String,
    /// The rating of a `rating`; the amount of a `purchase`.
    #[serde(default)]
    pub value: Option<f64>,
    /// When it happened (Unix seconds or RFC 3339); default: when the server received it.
    #[serde(default)]
    pub timestamp: Option<TimeValue>,
    /// The `recommendation_id` of the list the item was shown in.
    #[serde(default)]
    pub recommendation_id: Option<String>,
    /// The item's 0-based position in that list.
    #[serde(default)]
    pub position: Option<u32>,
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

/// An event that passed the checks, owned until it is written.
struct Checked {
    body: EventBody,
    timestamp: i64,
}

/// Stores events: one JSON object or an array of them. Answers 200 when at least one event
/// was stored (or the batch was empty), 400 when every event was refused; the body lists
/// refused events by index either way.
#[utoipa::path(post, path = "/v1/events", tag = "events",
    request_body(content = Vec<EventBody>, description = "An event object or an array of them"),
    responses(
        (status = 200, body = EventsAnswer),
        (status = 400, description = "Every event was refused (same body) or the JSON is malformed", body = EventsAnswer),
        (status = 413, body = ErrorBody)))]
pub async fn post_events(
    State(state): State<AppState>,
    ApiJson(body): ApiJson<Value>,
) -> Result<(StatusCode, Json<EventsAnswer>), ApiError> {
    let rows = match body {
        Value::Array(rows) => rows,
        Value::Object(_) => vec![body],
        _ => {
            return Err(ApiError::invalid(
                "invalid_body",
                "send an event object or an array of event objects",
            ));
        }
    };
    if rows.len() > state.config.max_batch {
        return Err(ApiError::new(
            StatusCode::PAYLOAD_TOO_LARGE,
            "batch_too_large",
            format!(
                "a batch may hold at most {} events (max_batch), this one has {}",
                state.config.max_batch,
                rows.len()
            ),
        ));
    }
    let now = unix_now();
    let types = &state.config.training.cleaning.event_types;
    let mut errors = Vec::new();
    let mut good = Vec::with_capacity(rows.len());
    for (index, row) in rows.into_iter().enumerate() {
        let checked = serde_json::from_value::<EventBody>(row)
            .map_err(|e| e.to_string())
            .and_then(|body| {
                if types.lookup(&body.kind).is_none() {
                    let known: Vec<&str> = types.names().collect();
                    return Err(format!(
                        "unknown event type '{}' (known: {}; declare others in the training weights)",
                        body.kind,
                        known.join(", ")
                    ));
                }
                if !state.engine.accepts_item(&body.item_id) {
                    return Err(format!(
                        "unknown item '{}': it is not in the catalogue (PUT /v1/items/{{id}} first)",
                        body.item_id
                    ));
                }
                let timestamp = match &body.timestamp {
                    Some(t) => t.seconds("timestamp")?,
                    None => now,
                };
                check_event(index, &new_event(&body, timestamp)).map_err(|e| match e {
                    aisle_store::StoreError::InvalidEvent { message, .. } => message,
                    other => other.to_string(),
                })?;
                Ok(Checked { body, timestamp })
            });
        match checked {
            Ok(checked) => good.push(checked),
            Err(message) => errors.push(EventError { index, message }),
        }
    }
    let engine = state.engine.clone();
    let accepted = run_blocking(move || {
        let events: Vec<NewEvent<'_>> = good
            .iter()
            .map(|c| new_event(&c.body, c.timestamp))
            .collect();
        Ok(engine.store().append_events(&events)?)
    })
    .await?;
    Metrics::add(&state.metrics.events_accepted, accepted);
    Metrics::add(&state.metrics.events_rejected, errors.len() as u64);
    let status = if accepted == 0 && !errors.is_empty() {
        StatusCode::BAD_REQUEST
    } else {
        StatusCode::OK
    };
    Ok((status, Json(EventsAnswer { accepted, errors })))
}

fn new_event(body: &EventBody, timestamp: i64) -> NewEvent<'_> {
    NewEvent {
        user_id: &body.user_id,
        item_id: &body.item_id,
        kind: &body.kind,
        value: body.value,
        timestamp: Some(timestamp),
        recommendation_id: body.recommendation_id.as_deref(),
        position: body.position,
    }
}
