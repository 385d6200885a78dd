//! The list endpoints: a user's recommendations, `POST /v1/recommend` (a user or an anonymous
//! history), similar items, popular and trending items. Each answers a
//! [`RecommendationList`]; the engine does the work on the blocking pool.

use axum::Json;
use axum::extract::State;
use serde::Deserialize;
use utoipa::{IntoParams, ToSchema};

use crate::api::extract::{ApiJson, ApiPath, ApiQuery};
use crate::api::{AppState, run_blocking};
use crate::engine::{ExperimentTag, HistoryEntry, ListOptions, RecommendationList};
use crate::error::{ApiError, ErrorBody};
use crate::metrics::Metrics;

/// Longest list one request may ask for.
pub const MAX_N: usize = 1_000;

/// Filters and paging of a list.
#[derive(Debug, Default, Deserialize, IntoParams)]
#[into_params(parameter_in = Query)]
#[serde(deny_unknown_fields)]
pub struct ListQuery {
    /// How many items (1 to 1000, default 10).
    pub n: Option<usize>,
    /// Items to skip, for paging (default 0).
    pub offset: Option<usize>,
    /// Only items of this category.
    pub category: Option<String>,
    /// Only items the catalogue marks available.
    pub available_only: Option<bool>,
    /// Leave out items the user already interacted with (default true).
    pub exclude_seen: Option<bool>,
    /// Comma-separated item ids never to return.
    pub exclude: Option<String>,
    /// The model to ask (default: the server's default model).
    pub model: Option<String>,
}

impl ListQuery {
    fn options(self) -> Result<ListOptions, ApiError> {
        options(
            self.n,
            self.offset,
            self.category,
            self.available_only,
            self.exclude_seen,
            self.exclude
                .map(|e| {
                    e.split(',')
                        .map(str::trim)
                        .filter(|s| !s.is_empty())
                        .map(String::from)
                        .collect()
                })
                .unwrap_or_default(),
            self.model,
        )
    }
}

fn options(
    n: Option<usize>,
    offset: Option<usize>,
    category: Option<String>,
    available_only: Option<bool>,
    exclude_seen: Option<bool>,
    exclude: Vec<String>,
    model: Option<String>,
) -> Result<ListOptions, ApiError> {
    let n = n.unwrap_or(10);
    if !(1..=MAX_N).contains(&n) {
        return Err(ApiError::invalid(
            "invalid_query",
            format!("n must be between 1 and {MAX_N}, got {n}"),
        ));
    }
    let offset = offset.unwrap_or(0);
    if offset > 10 * MAX_N {
        return Err(ApiError::invalid(
            "invalid_query",
            format!("offset must be at most {}, got {offset}", 10 * MAX_N),
        ));
    }
    Ok(ListOptions {
        n,
        offset,
        category: category.filter(|c| !c.trim().is_empty()),
        available_only: available_only.unwrap_or(false),
        exclude_seen: exclude_seen.unwrap_or(true),
        exclude,
        model,
    })
}

/// The running experiment's variant for `user`, unless the request names a model itself;
/// the variant's model then answers.
fn assign(
    state: &AppState,
    user: Option<&str>,
    options: &mut ListOptions,
) -> Option<ExperimentTag> {
    if options.model.is_some() {
        return None;
    }
    let (tag, model) = state.experiments.assign(user?)?;
    options.model = Some(model);
    Some(tag)
}

/// Counts a served list and queues it for the log of impressions.
fn count(state: &AppState, user: Option<&str>, list: &RecommendationList) {
    state.experiments.log(user, list);
    Metrics::add(&state.metrics.lists_served, 1);
    if list.fallback {
        Metrics::add(&state.metrics.fallbacks_served, 1);
    }
}

/// Personalised recommendations for a user. An unknown user gets popular items, flagged
/// `fallback: true`; a user the model has not seen but who has events is folded in.
#[utoipa::path(get, path = "/v1/users/{id}/recommendations", tag = "recommendations",
    params(("id" = String, Path, description = "The shop's user id"), ListQuery),
    responses((status = 200, body = RecommendationList), (status = 400, body = ErrorBody),
        (status = 503, description = "No model is trained yet", body = ErrorBody)))]
pub async fn user_recommendations(
    State(state): State<AppState>,
    ApiPath(user): ApiPath<String>,
    ApiQuery(query): ApiQuery<ListQuery>,
) -> Result<Json<RecommendationList>, ApiError> {
    let mut options = query.options()?;
    let experiment = assign(&state, Some(&user), &mut options);
    let engine = state.engine.clone();
    let asked = user.clone();
    let mut list = run_blocking(move || Ok(engine.recommend(Some(&asked), &[], &options)?)).await?;
    list.experiment = experiment;
    count(&state, Some(&user), &list);
    Ok(Json(list))
}

/// One entry of an anonymous history.
#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct HistoryBody {
    pub item_id: String,
    /// The interaction's weight (default 1), or the rating/amount when `type` is given.
    #[serde(default)]
    pub value: Option<f64>,
    /// An event type, weighted as in training.
    #[serde(default, rename = "type")]
    pub kind: Option<String>,
}

/// A request for a list: a user, an anonymous history, or both (the history is added to the
/// user's stored one).
#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct RecommendBody {
    #[serde(default)]
    pub user_id: Option<String>,
    #[serde(default)]
    pub history: Vec<HistoryBody>,
    #[serde(default)]
    pub n: Option<usize>,
    #[serde(default)]
    pub offset: Option<usize>,
    #[serde(default)]
    pub category: Option<String>,
    #[serde(default)]
    pub available_only: Option<bool>,
    #[serde(default)]
    pub exclude_seen: Option<bool>,
    #[serde(default)]
    pub exclude: Vec<String>,
    #[serde(default)]
    pub model: Option<String>,
}

/// Recommendations for a user or for an anonymous history (folded into the current model,
/// no retraining): the prototype's endpoint.
#[utoipa::path(post, path = "/v1/recommend", tag = "recommendations",
    request_body = RecommendBody,
    responses((status = 200, body = RecommendationList), (status = 400, body = ErrorBody),
        (status = 503, description = "No model is trained yet", body = ErrorBody)))]
pub async fn recommend(
    State(state): State<AppState>,
    ApiJson(body): ApiJson<RecommendBody>,
) -> Result<Json<RecommendationList>, ApiError> {
    if body.user_id.is_none() && body.history.is_empty() {
        return Err(ApiError::invalid(
            "invalid_body",
            "give a user_id, a non-empty history, or both",
        ));
    }
    let mut options = options(
        body.n,
        body.offset,
        body.category,
        body.available_only,
        body.exclude_seen,
        body.exclude,
        body.model,
    )?;
    let history: Vec<HistoryEntry> = body
        .history
        .into_iter()
        .map(|h| HistoryEntry {
            item_id: h.item_id,
            kind: h.kind,
            value: h.value,
        })
        .collect();
    let user = body.user_id;
    let experiment = assign(&state, user.as_deref(), &mut options);
    let engine = state.engine.clone();
    let asked = user.clone();
    let mut list =
        run_blocking(move || Ok(engine.recommend(asked.as_deref(), &history, &options)?)).await?;
    list.experiment = experiment;
    count(&state, user.as_deref(), &list);
    Ok(Json(list))
}

/// Items similar to an item. An item the model has not seen yet (new in the catalogue) gets
/// popular items of its category, flagged `fallback: true`.
#[utoipa::path(get, path = "/v1/items/{id}/similar", tag = "recommendations",
    params(("id" = String, Path, description = "The shop's item id"), ListQuery),
    responses((status = 200, body = RecommendationList), (status = 404, body = ErrorBody)))]
pub async fn similar(
    State(state): State<AppState>,
    ApiPath(item): ApiPath<String>,
    ApiQuery(query): ApiQuery<ListQuery>,
) -> Result<Json<RecommendationList>, ApiError> {
    let options = query.options()?;
    let engine = state.engine.clone();
    let list = run_blocking(move || Ok(engine.similar(&item, &options)?)).await?;
    count(&state, None, &list);
    Ok(Json(list))
}

/// The most popular items (by training interactions), optionally of one category.
#[utoipa::path(get, path = "/v1/popular", tag = "recommendations", params(ListQuery),
    responses((status = 200, body = RecommendationList), (status = 400, body = ErrorBody)))]
pub async fn popular(
    State(state): State<AppState>,
    ApiQuery(query): ApiQuery<ListQuery>,
) -> Result<Json<RecommendationList>, ApiError> {
    popular_or_trending(state, query, false).await
}

/// Items popular recently: popularity with a 7-day half-life.
#[utoipa::path(get, path = "/v1/trending", tag = "recommendations", params(ListQuery),
    responses((status = 200, body = RecommendationList), (status = 400, body = ErrorBody)))]
pub async fn trending(
    State(state): State<AppState>,
    ApiQuery(query): ApiQuery<ListQuery>,
) -> Result<Json<RecommendationList>, ApiError> {
    popular_or_trending(state, query, true).await
}

async fn popular_or_trending(
    state: AppState,
    query: ListQuery,
    trending: bool,
) -> Result<Json<RecommendationList>, ApiError> {
    let options = query.options()?;
    let engine = state.engine.clone();
    let list = run_blocking(move || Ok(engine.popular(&options, trending)?)).await?;
    count(&state, None, &list);
    Ok(Json(list))
}
