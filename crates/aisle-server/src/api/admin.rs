//! Model administration: `POST /v1/admin/train` (retrain now, optionally another model or
//! parameters, optionally waiting for the result), `GET /v1/admin/train` (the job's status)
//! and `GET /v1/models` (what is serving and every stored version).

use axum::Json;
use axum::body::Bytes;
use axum::extract::State;
use axum::http::StatusCode;
use serde::{Deserialize, Serialize};
use serde_json::{Map, Value};
use utoipa::{IntoParams, ToSchema};

use crate::api::extract::ApiQuery;
use crate::api::{AppState, run_blocking};
use crate::error::{ApiError, Code, ErrorBody};
use aisle_engine::{JobState, JobStatus};

/// What to train; everything defaults to the server's training settings.
#[derive(Debug, Default, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct TrainBody {
    /// The algorithm (e.g. `als`, `item-knn`, `ease`, `popular`).
    #[serde(default)]
    pub model: Option<String>,
    /// Hyper-parameters, e.g. `{"factors": 64}`.
    #[serde(default)]
    #[schema(value_type = Object)]
    pub params: Option<Map<String, Value>>,
    /// Train on the baskets (orders) instead of users' histories: stored as `MODEL@baskets`,
    /// it answers bought-together and basket lists (default false).
    #[serde(default)]
    pub baskets: Option<bool>,
}

#[derive(Debug, Deserialize, IntoParams)]
#[into_params(parameter_in = Query)]
#[serde(deny_unknown_fields)]
pub struct TrainQuery {
    /// Answer when training has finished (200), or after the server's `train_wait` limit
    /// (default 9 s) with the job still running (202). Default false: answer 202 at once.
    pub wait: Option<bool>,
}

/// A training job and whether this call started it (false: one was already running).
#[derive(Debug, Serialize, ToSchema)]
pub struct TrainAnswer {
    pub job: JobStatus,
    pub started: bool,
}

/// Trains a new model version in the background and swaps it in when done; requests are
/// answered by the current model meanwhile. One job runs at a time.
#[utoipa::path(post, path = "/v1/admin/train", tag = "admin", params(TrainQuery),
    request_body(content = TrainBody, description = "Optional: the model and parameters"),
    responses((status = 202, description = "Started (or already running)", body = TrainAnswer),
        (status = 200, description = "With wait=true: finished within the server's train_wait", body = TrainAnswer),
        (status = 400, body = ErrorBody),
        (status = 404, description = "`unknown_model`", body = ErrorBody)))]
pub async fn train(
    State(state): State<AppState>,
    ApiQuery(query): ApiQuery<TrainQuery>,
    body: Bytes,
) -> Result<(StatusCode, Json<TrainAnswer>), ApiError> {
    // The body is optional: an empty one trains with the server's settings.
    let body: TrainBody = if body.iter().all(u8::is_ascii_whitespace) {
        TrainBody::default()
    } else {
        let value: Value = serde_json::from_slice(&body)
            .map_err(|e| ApiError::new(Code::MalformedJson, e.to_string()))?;
        if !value.is_object() {
            return Err(ApiError::new(
                Code::InvalidBody,
                "send a JSON object (or no body at all)",
            ));
        }
        serde_json::from_value(value)
            .map_err(|e| ApiError::new(Code::InvalidBody, e.to_string()))?
    };
    let mut spec = state.service.config().training.clone();
    if let Some(model) = body.model {
        if model != spec.model {
            spec.params = Map::new();
        }
        spec.model = model;
    }
    if let Some(params) = body.params {
        spec.params = params;
    }
    spec.baskets = body.baskets.unwrap_or(false);
    // A bad name or parameter is the caller's mistake, answered now, not a failed job later.
    aisle_models::algorithm(&spec.model, &spec.params)?;
    // Starting takes the trainer lock (a database round trip on PostgreSQL): training
    // elsewhere — a serve-only replica, another replica training — is answered now.
    let service = state.service.clone();
    let (job, started) = run_blocking(move || Ok(service.train(spec)?)).await?;
    if !query.wait.unwrap_or(false) {
        return Ok((StatusCode::ACCEPTED, Json(TrainAnswer { job, started })));
    }
    let trainer = state.service.trainer().clone();
    let (id, limit) = (job.id, state.config.train_wait);
    let now = run_blocking(move || Ok(trainer.wait(id, limit)))
        .await?
        .unwrap_or(job);
    // Still running after the wait limit: answered as without `wait`; poll GET.
    let status = if now.state == JobState::Running {
        StatusCode::ACCEPTED
    } else {
        StatusCode::OK
    };
    Ok((status, Json(TrainAnswer { job: now, started })))
}

/// The running training job, or the last one.
#[utoipa::path(get, path = "/v1/admin/train", tag = "admin",
    responses((status = 200, body = JobStatus), (status = 404, body = ErrorBody)))]
pub async fn train_status(State(state): State<AppState>) -> Result<Json<JobStatus>, ApiError> {
    state
        .service
        .trainer()
        .latest()
        .map(Json)
        .ok_or_else(|| ApiError::new(Code::NoJob, "no training has run since the start"))
}

/// A model answering requests now.
#[derive(Debug, Serialize, ToSchema)]
pub struct ServingModel {
    pub name: String,
    pub version: i64,
    /// Unix seconds.
    pub trained_at: i64,
    /// Answers requests that name no model.
    pub default: bool,
    /// Users with a list ranked at swap time.
    pub precomputed_users: usize,
    #[schema(value_type = Object)]
    pub params: Value,
    #[schema(value_type = Object)]
    pub metrics: Value,
}

/// A stored model version.
#[derive(Debug, Serialize, ToSchema)]
pub struct StoredVersion {
    pub version: i64,
    pub name: String,
    pub trained_at: i64,
    pub size: u64,
    #[schema(value_type = Object)]
    pub params: Value,
    #[schema(value_type = Object)]
    pub metrics: Value,
}

#[derive(Debug, Serialize, ToSchema)]
pub struct ModelsAnswer {
    pub serving: Vec<ServingModel>,
    /// Every stored version, oldest first.
    pub versions: Vec<StoredVersion>,
}

/// The models serving now and every stored version.
#[utoipa::path(get, path = "/v1/models", tag = "admin",
    responses((status = 200, body = ModelsAnswer)))]
pub async fn models(State(state): State<AppState>) -> Result<Json<ModelsAnswer>, ApiError> {
    let set = state.service.engine().models();
    let serving = set
        .by_name
        .values()
        .map(|s| ServingModel {
            name: s.name().to_string(),
            version: s.info.version.0,
            trained_at: s.info.meta.trained_at,
            default: set.default.as_deref() == Some(s.name()),
            precomputed_users: s.precomputed_users(),
            params: s.info.meta.params.clone(),
            metrics: s.info.meta.metrics.clone(),
        })
        .collect();
    let service = state.service.clone();
    let versions = run_blocking(move || {
        Ok(service
            .store()
            .list_models()?
            .into_iter()
            .map(|info| StoredVersion {
                version: info.version.0,
                name: info.meta.name,
                trained_at: info.meta.trained_at,
                size: info.size,
                params: info.meta.params,
                metrics: info.meta.metrics,
            })
            .collect())
    })
    .await?;
    Ok(Json(ModelsAnswer { serving, versions }))
}
