//! `/v1/experiments`: start, list and stop A/B experiments and read their results; and the
//! read-only views the dashboard needs (`/v1/stats/overview`, a user's history).

use axum::Json;
use axum::extract::State;
use axum::http::StatusCode;
use serde::{Deserialize, Serialize};
use utoipa::{IntoParams, ToSchema};

use crate::api::extract::{ApiJson, ApiPath, ApiQuery};
use crate::api::{AppState, run_blocking};
use crate::error::{ApiError, Code, ErrorBody};
use aisle_engine::RetentionRun;
use aisle_engine::experiments::{ExperimentDefinition, ExperimentInfo, ExperimentResults};

#[derive(Debug, Serialize, ToSchema)]
pub struct ExperimentList {
    pub experiments: Vec<ExperimentInfo>,
}

/// Starts an experiment: from now on each user with an id is assigned to a variant by a
/// stable hash of (experiment, user), and gets lists from that variant's model. One
/// experiment runs at a time.
#[utoipa::path(post, path = "/v1/experiments", tag = "experiments",
    request_body = ExperimentDefinition,
    responses((status = 201, body = ExperimentInfo), (status = 400, body = ErrorBody),
        (status = 404, description = "`unknown_model` (a variant's model is not serving), `unknown_variant` (the control)", body = ErrorBody),
        (status = 409, description = "`already_exists`, `experiment_running`, `duplicate_variant`", body = ErrorBody)))]
pub async fn create(
    State(state): State<AppState>,
    ApiJson(definition): ApiJson<ExperimentDefinition>,
) -> Result<(StatusCode, Json<ExperimentInfo>), ApiError> {
    let service = state.service.clone();
    let experiment =
        run_blocking(move || Ok(service.experiments().create(service.engine(), definition)?))
            .await?;
    Ok((StatusCode::CREATED, Json(experiment.info())))
}

/// Every experiment, running or stopped, oldest first.
#[utoipa::path(get, path = "/v1/experiments", tag = "experiments",
    responses((status = 200, body = ExperimentList)))]
pub async fn list(State(state): State<AppState>) -> Json<ExperimentList> {
    Json(ExperimentList {
        experiments: state
            .service
            .experiments()
            .all()
            .iter()
            .map(|e| e.info())
            .collect(),
    })
}

/// Stops an experiment: users get the default model again; results stay readable.
#[utoipa::path(post, path = "/v1/experiments/{name}/stop", tag = "experiments",
    params(("name" = String, Path, description = "The experiment")),
    responses((status = 200, body = ExperimentInfo), (status = 404, body = ErrorBody)))]
pub async fn stop(
    State(state): State<AppState>,
    ApiPath(name): ApiPath<String>,
) -> Result<Json<ExperimentInfo>, ApiError> {
    let service = state.service.clone();
    let experiment = run_blocking(move || {
        Ok(service
            .experiments()
            .stop(service.store().as_ref(), &name)?)
    })
    .await?;
    Ok(Json(experiment.info()))
}

#[derive(Debug, Deserialize, IntoParams)]
#[into_params(parameter_in = Query)]
#[serde(deny_unknown_fields)]
pub struct ResultsQuery {
    /// Count again from the store (every list served and every event since the experiment
    /// began) instead of answering from the running counts; the recount becomes the running
    /// count. Default false.
    pub recount: Option<bool>,
}

/// Per variant and per day: impressions, clicks, CTR, add-to-cart and conversion rates,
/// revenue (with 95% intervals), and each variant against the control. Answered from counts
/// kept as lists and events arrive (see docs/experiments.md).
#[utoipa::path(get, path = "/v1/experiments/{name}/results", tag = "experiments",
    params(("name" = String, Path, description = "The experiment"), ResultsQuery),
    responses((status = 200, body = ExperimentResults), (status = 404, body = ErrorBody)))]
pub async fn results_of(
    State(state): State<AppState>,
    ApiPath(name): ApiPath<String>,
    ApiQuery(query): ApiQuery<ResultsQuery>,
) -> Result<Json<ExperimentResults>, ApiError> {
    let Some(experiment) = state.service.experiments().get(&name) else {
        return Err(ApiError::new(
            Code::UnknownExperiment,
            format!("unknown experiment '{name}'"),
        ));
    };
    let service = state.service.clone();
    let answer = run_blocking(move || {
        // Lists served a moment ago count too.
        let experiments = service.experiments();
        experiments.flush(service.store().as_ref())?;
        Ok(experiments.results(
            service.engine(),
            &experiment,
            query.recount.unwrap_or(false),
        )?)
    })
    .await?;
    Ok(Json(answer))
}

/// Events of one type on one day.
#[derive(Debug, Serialize, ToSchema)]
pub struct DayCountBody {
    pub day: String,
    #[serde(rename = "type")]
    pub kind: String,
    pub count: u64,
    /// For `purchase` and `return`: the money of the day's events (each event's `value`,
    /// else quantity × price); 0 for other types.
    pub amount: f64,
}

/// What the store holds, for the dashboard's overview.
#[derive(Debug, Serialize, ToSchema)]
pub struct Overview {
    pub items: u64,
    pub users: u64,
    pub events: u64,
    pub models: u64,
    /// Lists in the served-list log.
    pub served_lists: u64,
    /// Purchases' money less returns' over the dated events.
    pub revenue: f64,
    pub events_per_day: Vec<DayCountBody>,
    /// How long served lists and events are kept, and what the last pass deleted.
    pub retention: RetentionBody,
}

/// The retention settings and the last pass of this server (`null` before the first, and
/// on a `--role serve` replica, which leaves retention to the one that trains).
#[derive(Debug, Serialize, ToSchema)]
pub struct RetentionBody {
    /// `null`: kept for ever.
    pub served_lists_days: Option<u32>,
    /// `null`: kept for ever.
    pub events_days: Option<u32>,
    pub last_run: Option<RetentionRun>,
}

/// Catalogue, users, events and model versions, and events per day by type.
#[utoipa::path(get, path = "/v1/stats/overview", tag = "stats",
    responses((status = 200, body = Overview)))]
pub async fn overview(State(state): State<AppState>) -> Result<Json<Overview>, ApiError> {
    let service = state.service.clone();
    run_blocking(move || {
        let store = service.store();
        let counts = store.counts()?;
        let days = store.events_per_day()?;
        let revenue = days
            .iter()
            .map(|d| match d.kind.as_str() {
                "purchase" => d.amount,
                "return" => -d.amount,
                _ => 0.0,
            })
            .sum();
        Ok(Json(Overview {
            items: counts.items,
            users: counts.users,
            events: counts.events,
            models: counts.models,
            served_lists: counts.served_lists,
            revenue,
            events_per_day: days
                .into_iter()
                .map(|d| DayCountBody {
                    day: d.day,
                    kind: d.kind,
                    count: d.count,
                    amount: d.amount,
                })
                .collect(),
            retention: RetentionBody {
                served_lists_days: service.config().retention.served_lists_days,
                events_days: service.config().retention.events_days,
                last_run: service.last_retention(),
            },
        }))
    })
    .await
}

#[derive(Debug, Deserialize, IntoParams)]
#[into_params(parameter_in = Query)]
#[serde(deny_unknown_fields)]
pub struct HistoryQuery {
    /// How many of the most recent events (1 to 1000, default 50).
    #[param(minimum = 1, maximum = 1000)]
    pub n: Option<usize>,
}

/// One event of a user's history, with the item's title.
#[derive(Debug, Serialize, ToSchema)]
pub struct HistoryEvent {
    pub item_id: String,
    pub title: Option<String>,
    #[serde(rename = "type")]
    pub kind: String,
    pub value: Option<f64>,
    pub timestamp: Option<i64>,
    /// The list the event is attributed to, and the item's place in it.
    pub recommendation_id: Option<String>,
    pub position: Option<u32>,
}

#[derive(Debug, Serialize, ToSchema)]
pub struct History {
    pub user_id: String,
    /// Newest first.
    pub events: Vec<HistoryEvent>,
}

/// A user's most recent events, newest first.
#[utoipa::path(get, path = "/v1/users/{id}/history", tag = "users",
    params(("id" = String, Path, description = "The shop's user id"), HistoryQuery),
    responses((status = 200, body = History), (status = 400, body = ErrorBody),
        (status = 404, description = "`unknown_user`: the user was deleted", body = ErrorBody)))]
pub async fn history(
    State(state): State<AppState>,
    ApiPath(user): ApiPath<String>,
    ApiQuery(query): ApiQuery<HistoryQuery>,
) -> Result<Json<History>, ApiError> {
    let n = query.n.unwrap_or(50);
    if !(1..=1_000).contains(&n) {
        return Err(ApiError::new(
            Code::InvalidQuery,
            format!("n must be between 1 and 1000, got {n}"),
        ));
    }
    let service = state.service.clone();
    run_blocking(move || {
        let store = service.store();
        if store.user_deleted(&user)? {
            return Err(ApiError::new(
                Code::UnknownUser,
                format!("user '{user}' was deleted"),
            ));
        }
        let mut events = store.user_events(&user, n)?;
        events.reverse();
        let ids: Vec<&str> = events.iter().map(|e| e.item_id.as_str()).collect();
        let items = store.get_items(&ids)?;
        let title = |id: &str| items.iter().find(|i| i.id == id).map(|i| i.title.clone());
        Ok(Json(History {
            events: events
                .iter()
                .map(|e| HistoryEvent {
                    item_id: e.item_id.clone(),
                    title: title(&e.item_id),
                    kind: e.kind.clone(),
                    value: e.value,
                    timestamp: e.timestamp,
                    recommendation_id: e.recommendation_id.clone(),
                    position: e.position,
                })
                .collect(),
            user_id: user,
        }))
    })
    .await
}
