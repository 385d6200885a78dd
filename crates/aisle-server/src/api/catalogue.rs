//! `/v1/items` and `/v1/users`: the catalogue and the shop's users, one at a time or in
//! batches. Every write goes to the store first, then to the serving catalogue.

use std::str::FromStr;

use aisle_data::{Item, User};
use aisle_store::{Cursor, MAX_PAGE, Page, TIMESTAMPS};
use axum::Json;
use axum::extract::State;
use axum::http::StatusCode;
use serde::{Deserialize, Serialize};
use serde_json::{Map, Value};
use utoipa::{IntoParams, ToSchema};

use crate::api::extract::{ApiJson, ApiPath, ApiQuery};
use crate::api::{AppState, run_blocking};
use crate::error::{ApiError, Code, ErrorBody};

/// A time as Unix seconds (a whole number) or RFC 3339 text.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, ToSchema)]
#[serde(untagged)]
pub enum TimeValue {
    Seconds(i64),
    /// Seconds written as a float (`1709287200.0`): whole numbers are accepted.
    Float(f64),
    Text(String),
}

impl TimeValue {
    /// Unix seconds, or an error naming `field`.
    pub fn seconds(&self, field: &str) -> Result<i64, String> {
        let seconds = match self {
            TimeValue::Seconds(s) => *s,
            TimeValue::Float(f) if f.fract() == 0.0 && f.abs() < 1e15 => *f as i64,
            TimeValue::Float(f) => {
                return Err(format!("{field}: {f} is not a whole number of seconds"));
            }
            TimeValue::Text(text) => jiff::Timestamp::from_str(text)
                .map(|t| t.as_second())
                .map_err(|_| {
                    format!("{field}: '{text}' is neither Unix seconds nor an RFC 3339 time")
                })?,
        };
        if !TIMESTAMPS.contains(&seconds) {
            return Err(format!(
                "{field}: {seconds} is outside the supported years (-9999 to 9999)"
            ));
        }
        Ok(seconds)
    }
}

/// A category name: not blank.
#[derive(Debug, ToSchema)]
#[schema(value_type = String, format = "aisle-label")]
pub struct Category(pub String);

/// A catalogue item.
#[derive(Debug, Clone, PartialEq, Default, Serialize, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct ItemBody {
    /// In `PUT /v1/items/{id}` it may be left out (and must match the path).
    #[serde(default)]
    #[schema(format = "aisle-id")]
    pub item_id: Option<String>,
    #[serde(default)]
    #[schema(format = "aisle-text")]
    pub title: String,
    #[serde(default)]
    #[schema(value_type = Vec<Category>)]
    pub categories: Vec<String>,
    /// Unit price, >= 0.
    #[serde(default)]
    #[schema(minimum = 0.0)]
    pub price: Option<f64>,
    /// Defaults to true.
    #[serde(default)]
    pub available: Option<bool>,
    #[serde(default)]
    #[schema(value_type = Option<String>, format = "aisle-time")]
    pub created_at: Option<TimeValue>,
    #[serde(default)]
    #[schema(value_type = Object)]
    pub attributes: Map<String, Value>,
}

/// A catalogue item in a batch: as [`ItemBody`], with its id required.
#[derive(Debug, Clone, PartialEq, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct ItemEntry {
    #[schema(format = "aisle-id")]
    pub item_id: String,
    #[serde(default)]
    #[schema(format = "aisle-text")]
    pub title: String,
    #[serde(default)]
    #[schema(value_type = Vec<Category>)]
    pub categories: Vec<String>,
    #[serde(default)]
    #[schema(minimum = 0.0)]
    pub price: Option<f64>,
    #[serde(default)]
    pub available: Option<bool>,
    #[serde(default)]
    #[schema(value_type = Option<String>, format = "aisle-time")]
    pub created_at: Option<TimeValue>,
    #[serde(default)]
    #[schema(value_type = Object)]
    pub attributes: Map<String, Value>,
}

impl From<ItemEntry> for ItemBody {
    fn from(entry: ItemEntry) -> ItemBody {
        ItemBody {
            item_id: Some(entry.item_id),
            title: entry.title,
            categories: entry.categories,
            price: entry.price,
            available: entry.available,
            created_at: entry.created_at,
            attributes: entry.attributes,
        }
    }
}

impl ItemBody {
    fn into_item(self, id: String) -> Result<Item, String> {
        Ok(Item {
            id,
            title: self.title,
            categories: self.categories,
            price: self.price,
            available: self.available.unwrap_or(true),
            created_at: self
                .created_at
                .map(|t| t.seconds("created_at"))
                .transpose()?,
            attributes: self.attributes,
        })
    }

    fn from_item(item: Item) -> ItemBody {
        ItemBody {
            item_id: Some(item.id),
            title: item.title,
            categories: item.categories,
            price: item.price,
            available: Some(item.available),
            created_at: item.created_at.map(TimeValue::Seconds),
            attributes: item.attributes,
        }
    }
}

/// A shop user.
#[derive(Debug, Clone, PartialEq, Default, Serialize, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct UserBody {
    /// In `PUT /v1/users/{id}` it may be left out (and must match the path).
    #[serde(default)]
    #[schema(format = "aisle-id")]
    pub user_id: Option<String>,
    #[serde(default)]
    #[schema(value_type = Object)]
    pub attributes: Map<String, Value>,
}

/// A user in a batch: as [`UserBody`], with the id required.
#[derive(Debug, Clone, PartialEq, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct UserEntry {
    #[schema(format = "aisle-id")]
    pub user_id: String,
    #[serde(default)]
    #[schema(value_type = Object)]
    pub attributes: Map<String, Value>,
}

/// How many records a batch wrote.
#[derive(Debug, Serialize, ToSchema)]
pub struct Written {
    pub written: u64,
}

/// One page of a listing.
#[derive(Debug, Serialize, ToSchema)]
pub struct ItemPage {
    pub items: Vec<ItemBody>,
    /// Pass as `after` for the next page; absent on the last page.
    pub next: Option<i64>,
}

#[derive(Debug, Serialize, ToSchema)]
pub struct UserPage {
    pub users: Vec<UserBody>,
    pub next: Option<i64>,
}

/// Paging of a listing.
#[derive(Debug, Deserialize, IntoParams)]
#[into_params(parameter_in = Query)]
#[serde(deny_unknown_fields)]
pub struct PageQuery {
    /// The `next` of the previous page.
    pub after: Option<i64>,
    /// Entries per page (1 to 10000, default 100).
    #[param(minimum = 1, maximum = 10000)]
    pub limit: Option<usize>,
}

impl PageQuery {
    fn limit(&self) -> Result<usize, ApiError> {
        let limit = self.limit.unwrap_or(100);
        if (1..=MAX_PAGE).contains(&limit) {
            Ok(limit)
        } else {
            Err(ApiError::new(
                Code::InvalidQuery,
                format!("limit must be between 1 and {MAX_PAGE}, got {limit}"),
            ))
        }
    }
}

/// The id of a single-record write: the path's, which a body id must match.
fn path_id(path: String, body: Option<String>, what: &str) -> Result<String, ApiError> {
    match body {
        Some(id) if id != path => Err(ApiError::new(
            Code::IdMismatch,
            format!("the body's {what} '{id}' differs from the path's '{path}'"),
        )),
        _ => Ok(path),
    }
}

fn check_batch(state: &AppState, len: usize) -> Result<(), ApiError> {
    if len > state.config.max_batch {
        return Err(ApiError::new(
            Code::BatchTooLarge,
            format!(
                "a batch may hold at most {} records (max_batch), this one has {len}",
                state.config.max_batch
            ),
        ));
    }
    Ok(())
}

/// Stores (or replaces) one item.
#[utoipa::path(put, path = "/v1/items/{id}", tag = "catalogue",
    params(("id" = String, Path, description = "The shop's item id")),
    request_body = ItemBody,
    responses((status = 200, body = ItemBody), (status = 400, body = ErrorBody),
        (status = 409, description = "`id_mismatch`: the body's id is not the path's", body = ErrorBody)))]
pub async fn put_item(
    State(state): State<AppState>,
    ApiPath(id): ApiPath<String>,
    ApiJson(body): ApiJson<ItemBody>,
) -> Result<Json<ItemBody>, ApiError> {
    let id = path_id(id, body.item_id.clone(), "item_id")?;
    let item = body
        .into_item(id)
        .map_err(|m| ApiError::new(Code::InvalidBody, m))?;
    let engine = state.service.engine().clone();
    run_blocking(move || {
        engine.upsert_items(std::slice::from_ref(&item))?;
        Ok(Json(ItemBody::from_item(item)))
    })
    .await
}

/// Stores (or replaces) many items at once; all or none.
#[utoipa::path(post, path = "/v1/items", tag = "catalogue",
    request_body = Vec<ItemEntry>,
    responses((status = 200, body = Written), (status = 400, body = ErrorBody)))]
pub async fn post_items(
    State(state): State<AppState>,
    ApiJson(body): ApiJson<Vec<ItemBody>>,
) -> Result<Json<Written>, ApiError> {
    check_batch(&state, body.len())?;
    let items = body
        .into_iter()
        .enumerate()
        .map(|(index, b)| {
            let id = b.item_id.clone().ok_or_else(|| {
                ApiError::new(
                    Code::InvalidBody,
                    format!("item {index}: item_id is missing"),
                )
            })?;
            b.into_item(id)
                .map_err(|m| ApiError::new(Code::InvalidBody, format!("item {index}: {m}")))
        })
        .collect::<Result<Vec<Item>, ApiError>>()?;
    let engine = state.service.engine().clone();
    run_blocking(move || {
        let written = engine.upsert_items(&items)?;
        Ok(Json(Written { written }))
    })
    .await
}

/// One item.
#[utoipa::path(get, path = "/v1/items/{id}", tag = "catalogue",
    params(("id" = String, Path, description = "The shop's item id")),
    responses((status = 200, body = ItemBody), (status = 404, body = ErrorBody)))]
pub async fn get_item(
    State(state): State<AppState>,
    ApiPath(id): ApiPath<String>,
) -> Result<Json<ItemBody>, ApiError> {
    let engine = state.service.engine().clone();
    run_blocking(move || match engine.store().item(&id)? {
        Some(item) => Ok(Json(ItemBody::from_item(item))),
        None => Err(ApiError::new(
            Code::UnknownItem,
            format!("unknown item '{id}'"),
        )),
    })
    .await
}

/// Removes an item from the catalogue; it is never recommended again. Its events stay.
#[utoipa::path(delete, path = "/v1/items/{id}", tag = "catalogue",
    params(("id" = String, Path, description = "The shop's item id")),
    responses((status = 204), (status = 404, body = ErrorBody)))]
pub async fn delete_item(
    State(state): State<AppState>,
    ApiPath(id): ApiPath<String>,
) -> Result<StatusCode, ApiError> {
    let engine = state.service.engine().clone();
    run_blocking(move || {
        engine.delete_item(&id)?;
        Ok(StatusCode::NO_CONTENT)
    })
    .await
}

/// Items in the order they were first stored.
#[utoipa::path(get, path = "/v1/items", tag = "catalogue", params(PageQuery),
    responses((status = 200, body = ItemPage), (status = 400, body = ErrorBody)))]
pub async fn list_items(
    State(state): State<AppState>,
    ApiQuery(query): ApiQuery<PageQuery>,
) -> Result<Json<ItemPage>, ApiError> {
    let limit = query.limit()?;
    let engine = state.service.engine().clone();
    run_blocking(move || {
        let page: Page<Item> = engine.store().list_items(query.after.map(Cursor), limit)?;
        Ok(Json(ItemPage {
            items: page.entries.into_iter().map(ItemBody::from_item).collect(),
            next: page.next.map(|c| c.0),
        }))
    })
    .await
}

/// Stores (or replaces) one user.
#[utoipa::path(put, path = "/v1/users/{id}", tag = "users",
    params(("id" = String, Path, description = "The shop's user id")),
    request_body = UserBody,
    responses((status = 200, body = UserBody), (status = 400, body = ErrorBody),
        (status = 409, description = "`id_mismatch`: the body's id is not the path's", body = ErrorBody)))]
pub async fn put_user(
    State(state): State<AppState>,
    ApiPath(id): ApiPath<String>,
    ApiJson(body): ApiJson<UserBody>,
) -> Result<Json<UserBody>, ApiError> {
    let id = path_id(id, body.user_id.clone(), "user_id")?;
    let user = User {
        id,
        attributes: body.attributes,
    };
    let engine = state.service.engine().clone();
    run_blocking(move || {
        engine.store().upsert_users(std::slice::from_ref(&user))?;
        Ok(Json(UserBody {
            user_id: Some(user.id),
            attributes: user.attributes,
        }))
    })
    .await
}

/// Stores (or replaces) many users at once; all or none.
#[utoipa::path(post, path = "/v1/users", tag = "users",
    request_body = Vec<UserEntry>,
    responses((status = 200, body = Written), (status = 400, body = ErrorBody)))]
pub async fn post_users(
    State(state): State<AppState>,
    ApiJson(body): ApiJson<Vec<UserBody>>,
) -> Result<Json<Written>, ApiError> {
    check_batch(&state, body.len())?;
    let users = body
        .into_iter()
        .enumerate()
        .map(|(index, b)| {
            Ok(User {
                id: b.user_id.ok_or_else(|| {
                    ApiError::new(
                        Code::InvalidBody,
                        format!("user {index}: user_id is missing"),
                    )
                })?,
                attributes: b.attributes,
            })
        })
        .collect::<Result<Vec<User>, ApiError>>()?;
    let engine = state.service.engine().clone();
    run_blocking(move || {
        let written = engine.store().upsert_users(&users)?;
        Ok(Json(Written { written }))
    })
    .await
}

/// One user.
#[utoipa::path(get, path = "/v1/users/{id}", tag = "users",
    params(("id" = String, Path, description = "The shop's user id")),
    responses((status = 200, body = UserBody), (status = 404, body = ErrorBody)))]
pub async fn get_user(
    State(state): State<AppState>,
    ApiPath(id): ApiPath<String>,
) -> Result<Json<UserBody>, ApiError> {
    let engine = state.service.engine().clone();
    run_blocking(move || match engine.store().user(&id)? {
        Some(user) => Ok(Json(UserBody {
            user_id: Some(user.id),
            attributes: user.attributes,
        })),
        None => Err(ApiError::new(
            Code::UnknownUser,
            format!("unknown user '{id}'"),
        )),
    })
    .await
}

/// Deletes a user: their record, and with `?events=true` their events too (a request to be
/// forgotten). Their lists and history then answer 404 `unknown_user` until they are stored
/// again or send a new event.
#[utoipa::path(delete, path = "/v1/users/{id}", tag = "users",
    params(("id" = String, Path, description = "The shop's user id"), DeleteUserQuery),
    responses((status = 204), (status = 404, body = ErrorBody)))]
pub async fn delete_user(
    State(state): State<AppState>,
    ApiPath(id): ApiPath<String>,
    ApiQuery(query): ApiQuery<DeleteUserQuery>,
) -> Result<StatusCode, ApiError> {
    let engine = state.service.engine().clone();
    run_blocking(move || {
        engine
            .store()
            .delete_user(&id, query.events.unwrap_or(false))?;
        Ok(StatusCode::NO_CONTENT)
    })
    .await
}

#[derive(Debug, Deserialize, IntoParams)]
#[into_params(parameter_in = Query)]
#[serde(deny_unknown_fields)]
pub struct DeleteUserQuery {
    /// Also erase every event of the user.
    pub events: Option<bool>,
}

/// Users in the order they were first stored.
#[utoipa::path(get, path = "/v1/users", tag = "users", params(PageQuery),
    responses((status = 200, body = UserPage), (status = 400, body = ErrorBody)))]
pub async fn list_users(
    State(state): State<AppState>,
    ApiQuery(query): ApiQuery<PageQuery>,
) -> Result<Json<UserPage>, ApiError> {
    let limit = query.limit()?;
    let engine = state.service.engine().clone();
    run_blocking(move || {
        let page = engine.store().list_users(query.after.map(Cursor), limit)?;
        Ok(Json(UserPage {
            users: page
                .entries
                .into_iter()
                .map(|u| UserBody {
                    user_id: Some(u.id),
                    attributes: u.attributes,
                })
                .collect(),
            next: page.next.map(|c| c.0),
        }))
    })
    .await
}
