//! Operations: `GET /health`, `GET /metrics` (Prometheus), `GET /openapi.json`, and the
//! answers to unknown routes and methods.

use axum::Json;
use axum::extract::State;
use axum::http::{Uri, header};
use axum::response::IntoResponse;
use serde::Serialize;
use utoipa::ToSchema;

use crate::api::AppState;
use crate::error::{ApiError, Code};

#[derive(Debug, Serialize, ToSchema)]
pub struct Health {
    /// `ok` when a model is serving, `no_model` before the first training, `degraded` while
    /// the store does not answer (lists are served from memory; writes answer 503).
    pub status: String,
    /// Name and version of each model serving.
    pub models: Vec<(String, i64)>,
    pub catalogue_items: usize,
    pub version: String,
}

/// Liveness and readiness: always 200 while the process answers; `status` tells whether a
/// model is serving.
#[utoipa::path(get, path = "/health", tag = "ops", responses((status = 200, body = Health)))]
pub async fn health(State(state): State<AppState>) -> Json<Health> {
    let engine = state.service.engine();
    let set = engine.models();
    let models: Vec<(String, i64)> = set
        .by_name
        .values()
        .map(|s| (s.name().to_string(), s.info.version.0))
        .collect();
    Json(Health {
        status: if !engine.store_answers() {
            "degraded"
        } else if models.is_empty() {
            "no_model"
        } else {
            "ok"
        }
        .into(),
        models,
        catalogue_items: engine.catalogue_len(),
        version: env!("CARGO_PKG_VERSION").into(),
    })
}

/// Prometheus metrics: requests and latency per route, events ingested, model versions.
#[utoipa::path(get, path = "/metrics", tag = "ops",
    responses((status = 200, description = "Prometheus text format", content_type = "text/plain")))]
pub async fn metrics(State(state): State<AppState>) -> impl IntoResponse {
    let engine = state.service.engine();
    let models: Vec<(String, i64, i64)> = engine
        .models()
        .by_name
        .values()
        .map(|s| {
            (
                s.name().to_string(),
                s.info.version.0,
                s.info.meta.trained_at,
            )
        })
        .collect();
    (
        [(header::CONTENT_TYPE, "text/plain; version=0.0.4")],
        state
            .metrics
            .render(state.service.stats(), &models, engine.catalogue_len()),
    )
}

/// This API's OpenAPI 3.1 description, generated from the code.
#[utoipa::path(get, path = "/openapi.json", tag = "ops",
    responses((status = 200, description = "The OpenAPI document", content_type = "application/json")))]
pub async fn openapi(State(state): State<AppState>) -> impl IntoResponse {
    (
        [(header::CONTENT_TYPE, "application/json")],
        state.openapi.as_str().to_owned(),
    )
}

pub async fn not_found(uri: Uri) -> ApiError {
    ApiError::new(
        Code::UnknownRoute,
        format!("no route {}; GET /openapi.json lists them", uri.path()),
    )
}

pub async fn method_not_allowed(method: axum::http::Method, uri: Uri) -> ApiError {
    ApiError::new(
        Code::MethodNotAllowed,
        format!("{method} is not allowed on {}", uri.path()),
    )
}
