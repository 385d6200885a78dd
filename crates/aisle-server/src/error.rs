//! Every error the API answers with, in one table: each stable code declared once with its
//! HTTP status ([`error_codes!`]), the error body `{"error": {"code": "...", "message":
//! "..."}}`, and the conversions from the engine's, the store's and the models' errors. A
//! handler never picks a status itself: it names a [`Code`].

use aisle_engine::experiments::ExperimentError;
use aisle_engine::{EngineError, TrainError};
use aisle_models::ModelError;
use aisle_store::{ErrorClass, StoreError};
use axum::Json;
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use serde::Serialize;
use utoipa::ToSchema;

/// Declares the codes with their statuses and a sentence for the documentation.
macro_rules! error_codes {
    ($( $variant:ident = $status:ident, $code:literal, $doc:literal; )*) => {
        /// A stable, machine-readable error code.
        #[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
        pub enum Code {
            $( #[doc = $doc] $variant, )*
        }

        impl Code {
            /// Every code, in the table's order.
            pub const ALL: &'static [Code] = &[$(Code::$variant),*];

            /// The HTTP status this code is always answered with.
            pub fn status(self) -> StatusCode {
                match self {
                    $( Code::$variant => StatusCode::$status, )*
                }
            }

            pub fn as_str(self) -> &'static str {
                match self {
                    $( Code::$variant => $code, )*
                }
            }

            /// What the code means, for the documentation's table.
            pub fn describe(self) -> &'static str {
                match self {
                    $( Code::$variant => $doc, )*
                }
            }
        }
    };
}

error_codes! {
    MalformedJson = BAD_REQUEST, "malformed_json", "The body is not valid JSON.";
    InvalidQuery = BAD_REQUEST, "invalid_query", "A query-string parameter is unknown, of the wrong type or out of range.";
    InvalidPath = BAD_REQUEST, "invalid_path", "A path parameter cannot be read.";
    InvalidArgument = BAD_REQUEST, "invalid_argument", "A value is out of its allowed range (an empty id, a negative price, ...).";
    InvalidEvent = BAD_REQUEST, "invalid_event", "An event of the batch is invalid.";
    InvalidExperiment = BAD_REQUEST, "invalid_experiment", "An experiment definition is inconsistent (fewer than two variants, a bad share, ...).";
    InvalidModelParameters = BAD_REQUEST, "invalid_model_parameters", "A hyper-parameter is unknown, of the wrong type or out of its range.";
    MissingApiKey = UNAUTHORIZED, "missing_api_key", "The call needs an API key and none was sent.";
    InvalidApiKey = FORBIDDEN, "invalid_api_key", "The API key sent is not valid for this call.";
    UnknownRoute = NOT_FOUND, "unknown_route", "No such route.";
    UnknownItem = NOT_FOUND, "unknown_item", "No item has this id.";
    UnknownUser = NOT_FOUND, "unknown_user", "No user has this id.";
    UnknownModel = NOT_FOUND, "unknown_model", "No such model (unknown algorithm, or none trained under this name).";
    UnknownExperiment = NOT_FOUND, "unknown_experiment", "No experiment has this name.";
    UnknownPlacement = NOT_FOUND, "unknown_placement", "No placement has this name.";
    UnknownVariant = NOT_FOUND, "unknown_variant", "An experiment's control is not one of its variants.";
    NoJob = NOT_FOUND, "no_job", "No training (or tuning) job has run since the server started.";
    MethodNotAllowed = METHOD_NOT_ALLOWED, "method_not_allowed", "The route exists but not with this method.";
    AlreadyExists = CONFLICT, "already_exists", "Something with this name exists already.";
    IdMismatch = CONFLICT, "id_mismatch", "The body's id differs from the path's.";
    DuplicateVariant = CONFLICT, "duplicate_variant", "Two variants of an experiment have one name.";
    TrainingElsewhere = CONFLICT, "training_elsewhere", "This replica does not train now: it serves only (`--role serve`), or another replica holds the trainer lock.";
    PlacementConfigured = CONFLICT, "placement_configured", "The placement is defined in the settings file; change it there.";
    ExperimentRunning = CONFLICT, "experiment_running", "Another experiment is running; one runs at a time.";
    NoSimilarity = CONFLICT, "no_similarity", "The model has no notion of item similarity.";
    NoEvents = CONFLICT, "no_events", "The store holds no usable events to train on.";
    UnsuitableData = CONFLICT, "unsuitable_data", "The model cannot be trained on these data.";
    Cancelled = CONFLICT, "cancelled", "The work was cancelled.";
    PayloadTooLarge = PAYLOAD_TOO_LARGE, "payload_too_large", "The body is larger than the server's body_limit.";
    UnsupportedMediaType = UNSUPPORTED_MEDIA_TYPE, "unsupported_media_type", "The body must be JSON with Content-Type: application/json.";
    RateLimited = TOO_MANY_REQUESTS, "rate_limited", "Too many calls with this public key from this address (or in all); retry after the `Retry-After` seconds.";
    BatchTooLarge = UNPROCESSABLE_ENTITY, "batch_too_large", "A batch holds more records than the server's max_batch.";
    InvalidPlacement = UNPROCESSABLE_ENTITY, "invalid_placement", "A placement definition cannot be used; the message names the field (`rules[1].boost.factor: ...`).";
    InvalidBody = UNPROCESSABLE_ENTITY, "invalid_body", "The body is JSON but not of the expected shape (a missing or unknown field, a wrong type).";
    Internal = INTERNAL_SERVER_ERROR, "internal", "The server failed; the error is in its log.";
    NoModel = SERVICE_UNAVAILABLE, "no_model", "No model is trained yet.";
    StoreUnavailable = SERVICE_UNAVAILABLE, "store_unavailable", "The database does not answer (down, restarting, the connection cut); nothing was written. Retry after the `Retry-After` seconds.";
    Overloaded = SERVICE_UNAVAILABLE, "overloaded", "More arrives than the store can write (the queue of events to write, or of served lists to log, is full); nothing of the request was kept. Reads that log nothing keep answering. Retry after the `Retry-After` seconds.";
    Timeout = SERVICE_UNAVAILABLE, "timeout", "The request took longer than the server's request_timeout; a write may still complete. Retry after the `Retry-After` seconds.";
}

impl Code {
    /// The table of `docs/server.md`: every code, its status and meaning.
    pub fn reference() -> String {
        let mut out = String::from("| status | code | meaning |\n|---|---|---|\n");
        let mut codes = Code::ALL.to_vec();
        codes.sort_by_key(|c| c.status().as_u16());
        for code in codes {
            out.push_str(&format!(
                "| {} | `{}` | {} |\n",
                code.status().as_u16(),
                code.as_str(),
                code.describe()
            ));
        }
        out
    }
}

/// An error answer: a stable code (which fixes the status) and a message for people.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{}: {message}", code.as_str())]
pub struct ApiError {
    pub code: Code,
    pub message: String,
}

impl ApiError {
    pub fn new(code: Code, message: impl Into<String>) -> Self {
        ApiError {
            code,
            message: message.into(),
        }
    }

    pub fn status(&self) -> StatusCode {
        self.code.status()
    }

    /// The server failed; the message is logged, the caller gets a generic one.
    pub fn internal(message: impl std::fmt::Display) -> Self {
        tracing::error!("internal error: {message}");
        ApiError::new(
            Code::Internal,
            "the server failed to answer; the error is in its log",
        )
    }

    /// No model has been trained yet: the caller may retry later.
    pub fn no_model() -> Self {
        ApiError::new(
            Code::NoModel,
            "no model is trained yet; send events and POST /v1/admin/train (or wait for the \
             scheduled training)",
        )
    }
}

/// The JSON body of every error answer.
#[derive(Debug, Serialize, ToSchema)]
pub struct ErrorBody {
    pub error: ErrorDetail,
}

#[derive(Debug, Serialize, ToSchema)]
pub struct ErrorDetail {
    /// Stable, machine-readable: `malformed_json`, `invalid_body`, `unknown_item`, ...
    pub code: String,
    /// What went wrong, for a person.
    pub message: String,
}

impl IntoResponse for ApiError {
    fn into_response(self) -> Response {
        let body = ErrorBody {
            error: ErrorDetail {
                code: self.code.as_str().into(),
                message: self.message,
            },
        };
        let mut response = (self.code.status(), Json(body)).into_response();
        // The pool retries a connection within seconds of the database coming back; a full
        // queue drains in about a second.
        let retry_after = match self.code {
            Code::StoreUnavailable | Code::Timeout => Some("2"),
            Code::Overloaded => Some("1"),
            _ => None,
        };
        if let Some(seconds) = retry_after {
            response.headers_mut().insert(
                axum::http::header::RETRY_AFTER,
                axum::http::HeaderValue::from_static(seconds),
            );
        }
        response
    }
}

impl From<StoreError> for ApiError {
    fn from(error: StoreError) -> Self {
        let code = match &error {
            StoreError::UnknownItem(_) => Code::UnknownItem,
            StoreError::UnknownUser(_) => Code::UnknownUser,
            StoreError::UnknownExperiment(_) => Code::UnknownExperiment,
            StoreError::AlreadyExists { .. } => Code::AlreadyExists,
            StoreError::InvalidArgument { .. } => Code::InvalidArgument,
            StoreError::InvalidEvent { .. } => Code::InvalidEvent,
            StoreError::Unavailable(_) => Code::StoreUnavailable,
            _ => {
                debug_assert_ne!(error.class(), ErrorClass::UserMistake, "{error}");
                return ApiError::internal(&error);
            }
        };
        ApiError::new(code, error.to_string())
    }
}

impl From<ModelError> for ApiError {
    fn from(error: ModelError) -> Self {
        let code = match &error {
            ModelError::UnknownModel { .. } => Code::UnknownModel,
            ModelError::InvalidParameter { .. } => Code::InvalidModelParameters,
            ModelError::UnsuitableData { .. } => Code::UnsuitableData,
            ModelError::Cancelled => Code::Cancelled,
            ModelError::Artifact(_) => return ApiError::internal(&error),
        };
        ApiError::new(code, error.to_string())
    }
}

impl From<TrainError> for ApiError {
    fn from(error: TrainError) -> Self {
        match error {
            TrainError::Store(e) => e.into(),
            TrainError::Model(e) => e.into(),
            TrainError::NoEvents => ApiError::new(Code::NoEvents, TrainError::NoEvents.to_string()),
            other @ (TrainError::AnotherTrainer | TrainError::ServeOnly) => {
                ApiError::new(Code::TrainingElsewhere, other.to_string())
            }
            other @ TrainError::Process(_) => ApiError::internal(&other),
        }
    }
}

impl From<aisle_engine::Overloaded> for ApiError {
    fn from(overloaded: aisle_engine::Overloaded) -> Self {
        ApiError::new(Code::Overloaded, overloaded.to_string())
    }
}

impl From<EngineError> for ApiError {
    fn from(error: EngineError) -> Self {
        match error {
            EngineError::Store(e) => e.into(),
            EngineError::NoModel => ApiError::no_model(),
            EngineError::UnknownModel { .. } => {
                ApiError::new(Code::UnknownModel, error.to_string())
            }
            EngineError::UnknownItem(_) => ApiError::new(Code::UnknownItem, error.to_string()),
            EngineError::DeletedUser(_) => ApiError::new(Code::UnknownUser, error.to_string()),
            EngineError::Overloaded(_) => ApiError::new(Code::Overloaded, error.to_string()),
            EngineError::NoSimilarity(_) => ApiError::new(
                Code::NoSimilarity,
                format!("{error}; train item-knn, als, bpr or ease"),
            ),
        }
    }
}

impl From<ExperimentError> for ApiError {
    fn from(error: ExperimentError) -> Self {
        match error {
            ExperimentError::Store(e) => e.into(),
            ExperimentError::Invalid(message) => ApiError::new(Code::InvalidExperiment, message),
            ExperimentError::DuplicateVariant(_) => {
                ApiError::new(Code::DuplicateVariant, error.to_string())
            }
            ExperimentError::UnknownModel { .. } => {
                ApiError::new(Code::UnknownModel, error.to_string())
            }
            ExperimentError::UnknownControl(_) => {
                ApiError::new(Code::UnknownVariant, error.to_string())
            }
            ExperimentError::AnotherRunning(_) => {
                ApiError::new(Code::ExperimentRunning, error.to_string())
            }
        }
    }
}

impl From<tokio::task::JoinError> for ApiError {
    fn from(error: tokio::task::JoinError) -> Self {
        ApiError::internal(format!("a blocking task failed: {error}"))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_docs_list_every_code_with_its_status() {
        const BEGIN: &str = "<!-- error-codes:begin (generated from the error table) -->\n";
        const END: &str = "<!-- error-codes:end -->";
        let path = concat!(env!("CARGO_MANIFEST_DIR"), "/../../docs/server.md");
        let text = std::fs::read_to_string(path).unwrap();
        let start = text
            .find(BEGIN)
            .expect("docs/server.md has the begin marker")
            + BEGIN.len();
        let end = text.find(END).expect("docs/server.md has the end marker");
        let generated = format!("\n{}\n", Code::reference());
        if std::env::var_os("AISLE_UPDATE_DOCS").is_some() {
            let updated = format!("{}{generated}{}", &text[..start], &text[end..]);
            std::fs::write(path, updated).unwrap();
            return;
        }
        assert!(
            text[start..end] == generated,
            "docs/server.md's error table is out of date; run \
             AISLE_UPDATE_DOCS=1 cargo test -p aisle-server --lib error"
        );
    }

    #[test]
    fn codes_are_unique() {
        let mut names: Vec<&str> = Code::ALL.iter().map(|c| c.as_str()).collect();
        names.sort_unstable();
        let before = names.len();
        names.dedup();
        assert_eq!(before, names.len());
    }
}
