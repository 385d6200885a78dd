//! The list endpoints: a user's recommendations, `POST /v1/recommend` (a user or an anonymous
//! history), similar items, bought together and `POST /v1/basket`, popular and trending
//! items. Each turns its query or body into a
//! [`ListRequest`] by one conversion, and answers the engine's [`RecommendationList`].

use aisle_engine::{HistoryEntry, ListFilters, ListRequest, RecommendationList};
use axum::Json;
use axum::extract::State;
use serde::Deserialize;
use utoipa::{IntoParams, ToSchema};

use crate::api::AppState;
use crate::api::extract::{ApiJson, ApiPath, ApiQuery};
use crate::error::{ApiError, Code, ErrorBody};

/// Longest list one request may ask for.
pub const MAX_N: usize = 1_000;
/// Deepest page one request may ask for.
pub const MAX_OFFSET: usize = 10 * MAX_N;

/// Filters and paging of a list.
#[derive(Debug, Default, Deserialize, IntoParams)]
#[into_params(parameter_in = Query)]
#[serde(deny_unknown_fields)]
pub struct ListQuery {
    /// How many items (1 to 1000, default 10).
    #[param(minimum = 1, maximum = 1000)]
    pub n: Option<usize>,
    /// Items to skip, for paging (default 0, at most 10000).
    #[param(minimum = 0, maximum = 10000)]
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
    /// The request for `source`'s list, its limits checked.
    fn into_request(self, request: ListRequest) -> Result<ListRequest, ApiError> {
        let exclude = self
            .exclude
            .map(|e| {
                e.split(',')
                    .map(str::trim)
                    .filter(|s| !s.is_empty())
                    .map(String::from)
                    .collect()
            })
            .unwrap_or_default();
        let paging = Paging::check(self.n, self.offset, Code::InvalidQuery)?;
        Ok(ListRequest {
            n: paging.n,
            offset: paging.offset,
            filters: ListFilters {
                category: self.category.filter(|c| !c.trim().is_empty()),
                available_only: self.available_only.unwrap_or(false),
                exclude_seen: self.exclude_seen.unwrap_or(true),
                exclude,
                ..ListFilters::default()
            },
            model: self.model,
            ..request
        })
    }
}

/// How many items and from where, checked.
struct Paging {
    n: usize,
    offset: usize,
}

impl Paging {
    fn check(n: Option<usize>, offset: Option<usize>, code: Code) -> Result<Paging, ApiError> {
        let n = n.unwrap_or(10);
        if !(1..=MAX_N).contains(&n) {
            return Err(ApiError::new(
                code,
                format!("n must be between 1 and {MAX_N}, got {n}"),
            ));
        }
        let offset = offset.unwrap_or(0);
        if offset > MAX_OFFSET {
            return Err(ApiError::new(
                code,
                format!("offset must be at most {MAX_OFFSET}, got {offset}"),
            ));
        }
        Ok(Paging { n, offset })
    }
}

/// The filters a list request body asks for (a blank category is none).
fn body_filters(
    category: Option<String>,
    available_only: Option<bool>,
    exclude_seen: bool,
    exclude: Vec<String>,
) -> ListFilters {
    ListFilters {
        category: category.filter(|c| !c.trim().is_empty()),
        available_only: available_only.unwrap_or(false),
        exclude_seen,
        exclude,
        ..ListFilters::default()
    }
}

/// Answers a list request on the blocking pool.
async fn serve(
    state: &AppState,
    request: ListRequest,
) -> Result<Json<RecommendationList>, ApiError> {
    let service = state.service.clone();
    let list = state
        .run_list(move || Ok(service.serve_list(request)?))
        .await?;
    Ok(Json(list))
}

/// Personalised recommendations for a user. An unknown user gets popular items, flagged
/// `fallback: true`; a user the model has not seen but who has events is folded in.
#[utoipa::path(get, path = "/v1/users/{id}/recommendations", tag = "recommendations",
    params(("id" = String, Path, description = "The shop's user id"), ListQuery),
    responses((status = 200, body = RecommendationList),
        (status = 404, description = "`unknown_model`; `unknown_user` (the user was deleted)", body = ErrorBody),
        (status = 503, description = "`no_model`: no model is trained yet; `overloaded`: the log of served lists is full (retry after `Retry-After`)", body = ErrorBody)))]
pub async fn user_recommendations(
    State(state): State<AppState>,
    ApiPath(user): ApiPath<String>,
    ApiQuery(query): ApiQuery<ListQuery>,
) -> Result<Json<RecommendationList>, ApiError> {
    let request = query.into_request(ListRequest::for_user(user))?;
    serve(&state, request).await
}

/// What a user bought before (returns taken off), most likely to be bought again first:
/// ordered by a trained `buy-again` model when there is one (own purchases blended with those
/// of shoppers who buy alike), else by units bought decayed with their age (120-day
/// half-life); purchases posted a second ago count. Filters apply; the user's history is, of
/// course, not left out. A user with no purchases gets an empty list.
#[utoipa::path(get, path = "/v1/users/{id}/buy-again", tag = "recommendations",
    params(("id" = String, Path, description = "The shop's user id"), ListQuery),
    responses((status = 200, body = RecommendationList),
        (status = 404, description = "`unknown_model`; `unknown_user` (the user was deleted)", body = ErrorBody),
        (status = 503, description = "`no_model`: no model is trained yet; `overloaded`: the log of served lists is full (retry after `Retry-After`)", body = ErrorBody)))]
pub async fn buy_again(
    State(state): State<AppState>,
    ApiPath(user): ApiPath<String>,
    ApiQuery(query): ApiQuery<ListQuery>,
) -> Result<Json<RecommendationList>, ApiError> {
    let mut request = query.into_request(ListRequest::buy_again(user))?;
    request.filters.exclude_seen = false;
    serve(&state, request).await
}

/// One entry of an anonymous history.
#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct HistoryBody {
    #[schema(format = "aisle-id")]
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
    #[schema(format = "aisle-id")]
    pub user_id: Option<String>,
    #[serde(default)]
    pub history: Vec<HistoryBody>,
    #[serde(default, deserialize_with = "aisle_engine::lenient::optional_integer")]
    #[schema(minimum = 1, maximum = 1000)]
    pub n: Option<usize>,
    #[serde(default, deserialize_with = "aisle_engine::lenient::optional_integer")]
    #[schema(minimum = 0, maximum = 10000)]
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

impl RecommendBody {
    fn into_request(self) -> Result<ListRequest, ApiError> {
        let ids = self
            .user_id
            .iter()
            .chain(self.history.iter().map(|h| &h.item_id));
        for id in ids {
            aisle_store::record::check_id("id", id)
                .map_err(|e| ApiError::new(Code::InvalidBody, e.to_string()))?;
        }
        if self.user_id.is_none() && self.history.is_empty() {
            return Err(ApiError::new(
                Code::InvalidBody,
                "give a user_id, a non-empty history, or both",
            ));
        }
        let paging = Paging::check(self.n, self.offset, Code::InvalidBody)?;
        let history = self
            .history
            .into_iter()
            .map(|h| HistoryEntry {
                item_id: h.item_id,
                kind: h.kind,
                value: h.value,
            })
            .collect();
        Ok(ListRequest {
            user_id: self.user_id,
            n: paging.n,
            offset: paging.offset,
            filters: body_filters(
                self.category,
                self.available_only,
                self.exclude_seen.unwrap_or(true),
                self.exclude,
            ),
            model: self.model,
            ..ListRequest::for_history(history)
        })
    }
}

/// Recommendations for a user or for an anonymous history (folded into the current model,
/// no retraining): the prototype's endpoint.
#[utoipa::path(post, path = "/v1/recommend", tag = "recommendations",
    request_body = RecommendBody,
    responses((status = 200, body = RecommendationList),
        (status = 404, description = "`unknown_model`; `unknown_user` (the user was deleted)", body = ErrorBody),
        (status = 503, description = "`no_model`: no model is trained yet; `overloaded`: the log of served lists is full (retry after `Retry-After`)", body = ErrorBody)))]
pub async fn recommend(
    State(state): State<AppState>,
    ApiJson(body): ApiJson<RecommendBody>,
) -> Result<Json<RecommendationList>, ApiError> {
    serve(&state, body.into_request()?).await
}

/// Items similar to an item. An item the model has not seen yet (new in the catalogue) gets
/// popular items of its category, flagged `fallback: true`.
#[utoipa::path(get, path = "/v1/items/{id}/similar", tag = "recommendations",
    params(("id" = String, Path, description = "The shop's item id"), ListQuery),
    responses((status = 200, body = RecommendationList),
        (status = 404, description = "`unknown_item`, `unknown_model`", body = ErrorBody),
        (status = 409, description = "`no_similarity`: the model has none", body = ErrorBody),
        (status = 503, description = "`no_model`: no model is trained yet; `overloaded`: the log of served lists is full (retry after `Retry-After`)", body = ErrorBody)))]
pub async fn similar(
    State(state): State<AppState>,
    ApiPath(item): ApiPath<String>,
    ApiQuery(query): ApiQuery<ListQuery>,
) -> Result<Json<RecommendationList>, ApiError> {
    let request = query.into_request(ListRequest::similar_to(item))?;
    serve(&state, request).await
}

/// Items frequently bought together with an item, from the basket model (a model trained
/// on orders: `aisle train --baskets`, or the server's `basket_model` setting). Each carries
/// the reason `bought_with`. The shopper's own items are not left out unless
/// `exclude_seen=true`. Without a basket model, or for an item no basket holds, the list is
/// popular items of the item's category, flagged `fallback: true`.
#[utoipa::path(get, path = "/v1/items/{id}/bought-together", tag = "recommendations",
    params(("id" = String, Path, description = "The shop's item id"), ListQuery),
    responses((status = 200, body = RecommendationList),
        (status = 404, description = "`unknown_item`, `unknown_model`", body = ErrorBody),
        (status = 503, description = "`no_model`: no model is trained yet; `overloaded`: the log of served lists is full (retry after `Retry-After`)", body = ErrorBody)))]
pub async fn bought_together(
    State(state): State<AppState>,
    ApiPath(item): ApiPath<String>,
    ApiQuery(query): ApiQuery<ListQuery>,
) -> Result<Json<RecommendationList>, ApiError> {
    let exclude_seen = query.exclude_seen;
    let mut request = query.into_request(ListRequest::bought_together(item))?;
    request.filters.exclude_seen = exclude_seen.unwrap_or(false);
    serve(&state, request).await
}

/// A basket to complete ("complete your basket", the cart page).
#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct BasketBody {
    /// The items in the basket (at least one); they never come back.
    #[schema(min_items = 1, max_items = 1000)]
    pub items: Vec<String>,
    /// The shopper, when known: their experiment variant applies and the list is logged
    /// under them.
    #[serde(default)]
    #[schema(format = "aisle-id")]
    pub user_id: Option<String>,
    #[serde(default, deserialize_with = "aisle_engine::lenient::optional_integer")]
    #[schema(minimum = 1, maximum = 1000)]
    pub n: Option<usize>,
    #[serde(default, deserialize_with = "aisle_engine::lenient::optional_integer")]
    #[schema(minimum = 0, maximum = 10000)]
    pub offset: Option<usize>,
    #[serde(default)]
    pub category: Option<String>,
    #[serde(default)]
    pub available_only: Option<bool>,
    /// Leave out items the user interacted with before (default false).
    #[serde(default)]
    pub exclude_seen: Option<bool>,
    #[serde(default)]
    pub exclude: Vec<String>,
    /// The basket model (`ease@baskets`, or `ease`); default: the server's.
    #[serde(default)]
    pub model: Option<String>,
}

/// Most items one basket may hold.
const MAX_BASKET: usize = 1_000;

impl BasketBody {
    fn into_request(self) -> Result<ListRequest, ApiError> {
        if self.items.is_empty() {
            return Err(ApiError::new(
                Code::InvalidBody,
                "items: give at least one item of the basket",
            ));
        }
        if self.items.len() > MAX_BASKET {
            return Err(ApiError::new(
                Code::InvalidBody,
                format!(
                    "items: at most {MAX_BASKET} items, got {}",
                    self.items.len()
                ),
            ));
        }
        for id in self.user_id.iter().chain(&self.items) {
            aisle_store::record::check_id("id", id)
                .map_err(|e| ApiError::new(Code::InvalidBody, e.to_string()))?;
        }
        let paging = Paging::check(self.n, self.offset, Code::InvalidBody)?;
        let request = ListRequest::complete_basket(self.items);
        Ok(ListRequest {
            user_id: self.user_id,
            n: paging.n,
            offset: paging.offset,
            filters: body_filters(
                self.category,
                self.available_only,
                self.exclude_seen.unwrap_or(false),
                self.exclude,
            ),
            model: self.model,
            ..request
        })
    }
}

/// Items that complete a basket, from the basket model, each with the reason `bought_with`
/// naming the basket's item it goes with best. Items unknown to the model (new products)
/// are skipped; when none is known, or no basket model is trained, the list is popular
/// items, flagged `fallback: true`.
#[utoipa::path(post, path = "/v1/basket", tag = "recommendations",
    request_body = BasketBody,
    responses((status = 200, body = RecommendationList),
        (status = 404, description = "`unknown_model`; `unknown_user` (the user was deleted)", body = ErrorBody),
        (status = 503, description = "`no_model`: no model is trained yet; `overloaded`: the log of served lists is full (retry after `Retry-After`)", body = ErrorBody)))]
pub async fn basket(
    State(state): State<AppState>,
    ApiJson(body): ApiJson<BasketBody>,
) -> Result<Json<RecommendationList>, ApiError> {
    serve(&state, body.into_request()?).await
}

/// The most popular items (by training interactions), optionally of one category.
#[utoipa::path(get, path = "/v1/popular", tag = "recommendations", params(ListQuery),
    responses((status = 200, body = RecommendationList),
        (status = 404, description = "`unknown_model`; `unknown_user` (the user was deleted)", body = ErrorBody),
        (status = 503, description = "`no_model`: no model is trained yet; `overloaded`: the log of served lists is full (retry after `Retry-After`)", body = ErrorBody)))]
pub async fn popular(
    State(state): State<AppState>,
    ApiQuery(query): ApiQuery<ListQuery>,
) -> Result<Json<RecommendationList>, ApiError> {
    serve(&state, query.into_request(ListRequest::popular())?).await
}

/// Items popular recently: popularity with a 7-day half-life.
#[utoipa::path(get, path = "/v1/trending", tag = "recommendations", params(ListQuery),
    responses((status = 200, body = RecommendationList),
        (status = 404, description = "`unknown_model`; `unknown_user` (the user was deleted)", body = ErrorBody),
        (status = 503, description = "`no_model`: no model is trained yet; `overloaded`: the log of served lists is full (retry after `Retry-After`)", body = ErrorBody)))]
pub async fn trending(
    State(state): State<AppState>,
    ApiQuery(query): ApiQuery<ListQuery>,
) -> Result<Json<RecommendationList>, ApiError> {
    serve(&state, query.into_request(ListRequest::trending())?).await
}
