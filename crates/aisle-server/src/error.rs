//! Every error the API can answer with, mapped to an HTTP status and a stable code in one
//! place, and the error body `{"error": {"code": "...", "message": "..."}}`.

use aisle_models::ModelError;
use aisle_store::{ErrorClass, StoreError};
use axum::Json;
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use serde::Serialize;
use utoipa::ToSchema;

use crate::training::TrainError;

/// An error answer: the status, a stable machine-readable code and a message for people.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{code}: {message}")]
pub struct ApiError {
    pub status: StatusCode,
    pub code: &'static str,
    pub message: String,
}

impl ApiError {
    pub fn new(status: StatusCode, code: &'static str, message: impl Into<String>) -> Self {
        ApiError {
            status,
            code,
            message: message.into(),
        }
    }

    /// A value the caller sent is wrong (400).
    pub fn invalid(code: &'static str, message: impl Into<String>) -> Self {
        ApiError::new(StatusCode::BAD_REQUEST, code, message)
    }

    /// Something the caller named does not exist (404).
    pub fn not_found(code: &'static str, message: impl Into<String>) -> Self {
        ApiError::new(StatusCode::NOT_FOUND, code, message)
    }

    /// The server failed; the message is logged, the caller gets a generic one.
    pub fn internal(message: impl std::fmt::Display) -> Self {
        eprintln!("aisle: internal error: {message}");
        ApiError::new(
            StatusCode::INTERNAL_SERVER_ERROR,
            "internal",
            "the server failed to answer; the error is in its log",
        )
    }

    /// No model has been trained yet (503): the caller may retry later.
    pub fn no_model() -> Self {
        ApiError::new(
            StatusCode::SERVICE_UNAVAILABLE,
            "no_model",
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
                code: self.code.into(),
                message: self.message,
            },
        };
        (self.status, Json(body)).into_response()
    }
}

impl From<StoreError> for ApiError {
    fn from(error: StoreError) -> Self {
        let status = match (&error, error.class()) {
            (StoreError::UnknownItem(_) | StoreError::UnknownUser(_), _) => StatusCode::NOT_FOUND,
            (_, ErrorClass::UserMistake) => StatusCode::BAD_REQUEST,
            _ => return ApiError::internal(&error),
        };
        ApiError::new(status, error.code(), error.to_string())
    }
}

impl From<ModelError> for ApiError {
    fn from(error: ModelError) -> Self {
        let (status, code) = match &error {
            ModelError::UnknownModel { .. } => (StatusCode::NOT_FOUND, "unknown_model"),
            ModelError::InvalidParameter { .. } => {
                (StatusCode::BAD_REQUEST, "invalid_model_parameters")
            }
            ModelError::UnsuitableData { .. } => (StatusCode::CONFLICT, "unsuitable_data"),
            ModelError::Cancelled => (StatusCode::CONFLICT, "cancelled"),
            ModelError::Artifact(_) => return ApiError::internal(&error),
        };
        ApiError::new(status, code, error.to_string())
    }
}

impl From<TrainError> for ApiError {
    fn from(error: TrainError) -> Self {
        match error {
            TrainError::Store(e) => e.into(),
            TrainError::Model(e) => e.into(),
            TrainError::NoEvents => ApiError::new(
                StatusCode::CONFLICT,
                "no_events",
                TrainError::NoEvents.to_string(),
            ),
        }
    }
}

impl From<tokio::task::JoinError> for ApiError {
    fn from(error: tokio::task::JoinError) -> Self {
        ApiError::internal(format!("a blocking task failed: {error}"))
    }
}

impl From<crate::engine::EngineError> for ApiError {
    fn from(error: crate::engine::EngineError) -> Self {
        use crate::engine::EngineError;
        match error {
            EngineError::Store(e) => e.into(),
            EngineError::NoModel => ApiError::no_model(),
            EngineError::UnknownModel { .. } => {
                ApiError::not_found("unknown_model", error.to_string())
            }
            EngineError::UnknownItem(_) => ApiError::not_found("unknown_item", error.to_string()),
            EngineError::NoSimilarity(_) => ApiError::new(
                StatusCode::CONFLICT,
                "no_similarity",
                format!("{error}; train item-knn, als, bpr or ease"),
            ),
        }
    }
}
