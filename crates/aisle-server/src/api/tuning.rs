//! Tuning on the shop's own data: `POST /v1/admin/tune` (search models' settings now, on the
//! store's snapshot, within a time budget), `GET /v1/admin/tune` (the job's status) and
//! `GET /v1/tunings` (the outcomes stored, newest first: what the next trainings use).

use axum::Json;
use axum::body::Bytes;
use axum::extract::State;
use axum::http::StatusCode;
use serde::{Deserialize, Serialize};
use serde_json::Value;
use utoipa::{IntoParams, ToSchema};

use crate::api::extract::ApiQuery;
use crate::api::{AppState, run_blocking};
use crate::config::parse_duration;
use crate::error::{ApiError, Code, ErrorBody};
use aisle_engine::{TuneSpec, TuneStatus};

/// What to tune; everything defaults to the server's settings (`tune_models`,
/// `tune_budget`).
#[derive(Debug, Default, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct TuneBody {
    /// The models to tune, e.g. `["als", "ease"]`.
    #[serde(default)]
    #[schema(min_items = 1)]
    pub models: Option<Vec<String>>,
    /// The time the whole search may take, e.g. `90s`, `5m` (more than zero).
    #[serde(default)]
    #[schema(pattern = r"^\s*0*[1-9][0-9]{0,6}\s*(s|m|h|d)?\s*$")]
    pub budget: Option<String>,
}

/// A tuning job and whether this call started it (false: one was already running).
#[derive(Debug, Serialize, ToSchema)]
pub struct TuneAnswer {
    pub job: TuneStatus,
    pub started: bool,
}

/// Searches models' hyper-parameters and weighting on a validation split of the store's
/// snapshot, in the background; the outcomes are stored, and when the served model is among
/// them it is retrained with its new settings. One job runs at a time.
#[utoipa::path(post, path = "/v1/admin/tune", tag = "admin",
    request_body(content = TuneBody, description = "Optional: the models and the time budget"),
    responses((status = 202, description = "Started (or already running)", body = TuneAnswer),
        (status = 400, body = ErrorBody),
        (status = 404, description = "`unknown_model`", body = ErrorBody),
        (status = 422, description = "`invalid_body`", body = ErrorBody)))]
pub async fn tune(
    State(state): State<AppState>,
    body: Bytes,
) -> Result<(StatusCode, Json<TuneAnswer>), ApiError> {
    let body: TuneBody = if body.iter().all(u8::is_ascii_whitespace) {
        TuneBody::default()
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
    let config = state.service.config();
    let mut spec = match &config.tuning {
        Some(schedule) => schedule.spec.clone(),
        None => TuneSpec {
            models: vec![config.training.model.clone()],
            cleaning: config.training.cleaning.clone(),
            seed: config.training.seed,
            ..TuneSpec::default()
        },
    };
    if let Some(models) = body.models {
        if models.is_empty() {
            return Err(ApiError::new(
                Code::InvalidArgument,
                "models: name at least one",
            ));
        }
        for model in &models {
            aisle_models::model(model)?;
        }
        spec.models = models;
    }
    if let Some(text) = body.budget {
        spec.budget = parse_duration(&text)
            .map_err(|message| ApiError::new(Code::InvalidArgument, format!("budget: {message}")))?
            .ok_or_else(|| ApiError::new(Code::InvalidArgument, "budget: must be longer than 0"))?;
    }
    let (job, started) = state.service.tune(spec);
    Ok((StatusCode::ACCEPTED, Json(TuneAnswer { job, started })))
}

/// The running tuning job, or the last one.
#[utoipa::path(get, path = "/v1/admin/tune", tag = "admin",
    responses((status = 200, body = TuneStatus), (status = 404, body = ErrorBody)))]
pub async fn tune_status(State(state): State<AppState>) -> Result<Json<TuneStatus>, ApiError> {
    state
        .service
        .tuner()
        .latest()
        .map(Json)
        .ok_or_else(|| ApiError::new(Code::NoJob, "no tuning has run since the start"))
}

#[derive(Debug, Deserialize, IntoParams)]
#[into_params(parameter_in = Query)]
#[serde(deny_unknown_fields)]
pub struct TuningsQuery {
    /// How many of the newest outcomes (1 to 1000, default 20).
    #[param(minimum = 1, maximum = 1000)]
    pub limit: Option<usize>,
}

/// A stored search outcome.
#[derive(Debug, Serialize, ToSchema)]
pub struct TuningBody {
    pub id: i64,
    pub model: String,
    pub weighting: String,
    /// Every parameter of the chosen settings.
    #[schema(value_type = Object)]
    pub params: Value,
    /// The metric searched on, the chosen settings' and the defaults' validation scores.
    pub metric: String,
    pub score: f64,
    pub default_score: f64,
    pub trials: u32,
    pub seconds: f64,
    /// Unix seconds.
    pub chosen_at: i64,
}

#[derive(Debug, Serialize, ToSchema)]
pub struct TuningsAnswer {
    /// Newest first; the first of each model is what its trainings use.
    pub tunings: Vec<TuningBody>,
}

/// The search outcomes stored (by `aisle tune --db` or the server's tuning), newest first.
#[utoipa::path(get, path = "/v1/tunings", tag = "admin", params(TuningsQuery),
    responses((status = 200, body = TuningsAnswer), (status = 400, body = ErrorBody)))]
pub async fn tunings(
    State(state): State<AppState>,
    ApiQuery(query): ApiQuery<TuningsQuery>,
) -> Result<Json<TuningsAnswer>, ApiError> {
    let limit = query.limit.unwrap_or(20);
    if !(1..=1000).contains(&limit) {
        return Err(ApiError::new(
            Code::InvalidQuery,
            format!("limit must be 1 to 1000, not {limit}"),
        ));
    }
    let service = state.service.clone();
    let records = run_blocking(move || Ok(service.store().tunings(limit)?)).await?;
    Ok(Json(TuningsAnswer {
        tunings: records
            .into_iter()
            .map(|r| TuningBody {
                id: r.id,
                model: r.tuning.model,
                weighting: r.tuning.weighting,
                params: r.tuning.params,
                metric: r.tuning.metric,
                score: r.tuning.score,
                default_score: r.tuning.default_score,
                trials: r.tuning.trials,
                seconds: r.tuning.seconds,
                chosen_at: r.created_at,
            })
            .collect(),
    }))
}
