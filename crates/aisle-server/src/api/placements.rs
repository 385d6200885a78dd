//! `/v1/placements`: named recommendation slots with merchandising rules — set, read and
//! delete them, get a placement's list for a page, and ask why an item is (not) in it.

use aisle_engine::RecommendationList;
use aisle_engine::placements::explain::{Explanation, Preview};
use aisle_engine::placements::{PageContext, Placement, PlacementError};
use axum::Json;
use axum::extract::State;
use axum::http::StatusCode;
use serde::{Deserialize, Serialize};
use serde_json::{Value, json};
use utoipa::{IntoParams, ToSchema};

use crate::api::extract::{ApiJson, ApiPath, ApiQuery};
use crate::api::lists::MAX_N;
use crate::api::{AppState, run_blocking};
use crate::error::{ApiError, Code, ErrorBody};

/// A placement as stored.
#[derive(Debug, Serialize, ToSchema)]
pub struct PlacementInfo {
    pub name: String,
    /// `settings` (the settings file's: read-only here) or `api`.
    pub origin: String,
    /// Unix seconds of the last change (0 for the settings file's).
    pub updated_at: i64,
    /// The definition: source, model, n, rules, fallback.
    #[schema(value_type = Object)]
    pub definition: Value,
}

impl From<&Placement> for PlacementInfo {
    fn from(placement: &Placement) -> Self {
        PlacementInfo {
            name: placement.name.clone(),
            origin: match placement.origin {
                aisle_engine::placements::Origin::Settings => "settings".into(),
                aisle_engine::placements::Origin::Api => "api".into(),
            },
            updated_at: placement.updated_at,
            definition: placement.definition.clone(),
        }
    }
}

#[derive(Debug, Serialize, ToSchema)]
pub struct PlacementList {
    pub placements: Vec<PlacementInfo>,
}

impl From<PlacementError> for ApiError {
    fn from(error: PlacementError) -> Self {
        match error {
            PlacementError::Unknown(_) => ApiError::new(Code::UnknownPlacement, error.to_string()),
            PlacementError::Invalid(_) => ApiError::new(Code::InvalidPlacement, error.to_string()),
            PlacementError::Configured(_) => {
                ApiError::new(Code::PlacementConfigured, error.to_string())
            }
            PlacementError::Store(e) => e.into(),
            PlacementError::Engine(e) => e.into(),
        }
    }
}

/// Every placement, the settings file's and the API's, by name.
#[utoipa::path(get, path = "/v1/placements", tag = "placements",
    responses((status = 200, body = PlacementList)))]
pub async fn list(State(state): State<AppState>) -> Json<PlacementList> {
    Json(PlacementList {
        placements: state
            .service
            .placements()
            .all()
            .iter()
            .map(|p| PlacementInfo::from(p.as_ref()))
            .collect(),
    })
}

/// Sets a placement: `{"source", "model"?, "n"?, "rules"?, "fallback"?}`. Checked before it
/// is stored: a bad rule is a 422 naming the field (`rules[1].boost.factor: ...`). Every
/// replica serves it within seconds.
#[utoipa::path(put, path = "/v1/placements/{name}", tag = "placements",
    params(("name" = String, Path, description = "The placement")),
    request_body(content = Object, description = "The definition (see docs/placements.md)"),
    responses((status = 200, description = "Replaced", body = PlacementInfo),
        (status = 201, description = "Created", body = PlacementInfo),
        (status = 409, description = "`placement_configured`: defined in the settings file", body = ErrorBody),
        (status = 422, description = "`invalid_placement`", body = ErrorBody)))]
pub async fn put(
    State(state): State<AppState>,
    ApiPath(name): ApiPath<String>,
    ApiJson(definition): ApiJson<Value>,
) -> Result<(StatusCode, Json<PlacementInfo>), ApiError> {
    let service = state.service.clone();
    let (placement, created) = run_blocking(move || {
        Ok(service
            .placements()
            .put(service.store().as_ref(), &name, &definition)?)
    })
    .await?;
    let status = if created {
        StatusCode::CREATED
    } else {
        StatusCode::OK
    };
    Ok((status, Json(PlacementInfo::from(placement.as_ref()))))
}

/// One placement's definition.
#[utoipa::path(get, path = "/v1/placements/{name}", tag = "placements",
    params(("name" = String, Path, description = "The placement")),
    responses((status = 200, body = PlacementInfo), (status = 404, body = ErrorBody)))]
pub async fn get(
    State(state): State<AppState>,
    ApiPath(name): ApiPath<String>,
) -> Result<Json<PlacementInfo>, ApiError> {
    match state.service.placements().get(&name) {
        Some(placement) => Ok(Json(PlacementInfo::from(placement.as_ref()))),
        None => Err(PlacementError::Unknown(name).into()),
    }
}

/// Deletes a placement set through the API.
#[utoipa::path(delete, path = "/v1/placements/{name}", tag = "placements",
    params(("name" = String, Path, description = "The placement")),
    responses((status = 204, description = "Deleted"), (status = 404, body = ErrorBody),
        (status = 409, description = "`placement_configured`", body = ErrorBody)))]
pub async fn delete(
    State(state): State<AppState>,
    ApiPath(name): ApiPath<String>,
) -> Result<StatusCode, ApiError> {
    let service = state.service.clone();
    run_blocking(move || {
        Ok(service
            .placements()
            .delete(service.store().as_ref(), &name)?)
    })
    .await?;
    Ok(StatusCode::NO_CONTENT)
}

/// The page a placement's list is for.
#[derive(Debug, Default, Deserialize, IntoParams)]
#[into_params(parameter_in = Query)]
#[serde(deny_unknown_fields)]
pub struct PageQuery {
    /// The shopper (their history, seen items, experiment variant, rotation).
    pub user_id: Option<String>,
    /// The item the page is about (similar, bought together; relative rules).
    pub item_id: Option<String>,
    /// Comma-separated basket items (a `basket` placement).
    pub items: Option<String>,
    /// A length other than the placement's own (1 to 1000).
    #[param(minimum = 1, maximum = 1000)]
    pub n: Option<usize>,
    /// With each item, what a storefront shows of it (`item`: title, price, categories,
    /// availability, attributes such as `image_url` and `url`), from the catalogue.
    pub details: Option<bool>,
}

/// The page and the item to explain.
#[derive(Debug, Default, Deserialize, IntoParams)]
#[into_params(parameter_in = Query)]
#[serde(deny_unknown_fields)]
pub struct ExplainQuery {
    /// The item to explain.
    #[param(min_length = 1, max_length = 512)]
    pub candidate: String,
    pub user_id: Option<String>,
    pub item_id: Option<String>,
    /// Comma-separated basket items.
    pub items: Option<String>,
    #[param(minimum = 1, maximum = 1000)]
    pub n: Option<usize>,
}

impl PageQuery {
    fn page(&self) -> Result<PageContext, ApiError> {
        if let Some(n) = self.n
            && !(1..=MAX_N).contains(&n)
        {
            return Err(ApiError::new(
                Code::InvalidQuery,
                format!("n must be between 1 and {MAX_N}, got {n}"),
            ));
        }
        let blank = |v: &Option<String>| v.clone().filter(|s| !s.trim().is_empty());
        Ok(PageContext {
            user_id: blank(&self.user_id),
            item_id: blank(&self.item_id),
            items: self
                .items
                .as_deref()
                .map(|items| {
                    items
                        .split(',')
                        .map(str::trim)
                        .filter(|s| !s.is_empty())
                        .map(String::from)
                        .collect()
                })
                .unwrap_or_default(),
            n: self.n,
        })
    }
}

/// A placement's list for a page, in the format of every list (a `recommendation_id` to send
/// back with click and purchase events, reasons; logged for attribution), with the
/// placement's `title` when it has one, and with `details=true` each item's `item` (title,
/// price, categories, availability, attributes). When the placement names no model, the
/// running experiment's variant answers.
#[utoipa::path(get, path = "/v1/placements/{name}/items", tag = "placements",
    params(("name" = String, Path, description = "The placement"), PageQuery),
    responses((status = 200, body = RecommendationList),
        (status = 400, description = "`invalid_query`", body = ErrorBody),
        (status = 404, description = "`unknown_placement`, `unknown_item`, `unknown_model`", body = ErrorBody),
        (status = 503, description = "`no_model`: no model is trained yet; `overloaded`: the log of served lists is full (retry after `Retry-After`)", body = ErrorBody)))]
pub async fn items(
    State(state): State<AppState>,
    ApiPath(name): ApiPath<String>,
    ApiQuery(query): ApiQuery<PageQuery>,
) -> Result<Json<Value>, ApiError> {
    let page = query.page()?;
    let service = state.service.clone();
    let placement_name = name.clone();
    let list = state
        .run_list(move || Ok(service.serve_placement(&placement_name, &page)?))
        .await?;
    let mut answer = serde_json::to_value(&list).map_err(ApiError::internal)?;
    if let Some(title) = state
        .service
        .placements()
        .get(&name)
        .and_then(|p| p.definition.get("title").cloned())
    {
        answer["title"] = title;
    }
    if query.details == Some(true) {
        let ids: Vec<&str> = list.items.iter().map(|i| i.item_id.as_str()).collect();
        let facts = state.service.engine().item_facts(&ids);
        if let Some(items) = answer["items"].as_array_mut() {
            for (entry, facts) in items.iter_mut().zip(facts) {
                entry["item"] = match facts {
                    Some(f) => json!({"title": f.title, "price": f.price,
                        "categories": f.categories, "available": f.available,
                        "attributes": f.attributes}),
                    None => Value::Null,
                };
            }
        }
    }
    Ok(Json(answer))
}

/// The placement's list for this page as it would be served (the experiment's variant
/// included), with what the rules did to each item: for merchandisers. Nothing is logged.
#[utoipa::path(get, path = "/v1/placements/{name}/preview", tag = "placements",
    params(("name" = String, Path, description = "The placement"), PageQuery),
    responses((status = 200, body = Preview),
        (status = 400, description = "`invalid_query`", body = ErrorBody),
        (status = 404, description = "`unknown_placement`", body = ErrorBody)))]
pub async fn preview(
    State(state): State<AppState>,
    ApiPath(name): ApiPath<String>,
    ApiQuery(query): ApiQuery<PageQuery>,
) -> Result<Json<Preview>, ApiError> {
    let page = query.page()?;
    let service = state.service.clone();
    let preview = run_blocking(move || Ok(service.preview_placement(&name, &page)?)).await?;
    Ok(Json(preview))
}

/// Why `candidate` is, or is not, in the placement's list for this page: its position and
/// score, its rank before the rules, what each rule did to it, or why it was never scored.
#[utoipa::path(get, path = "/v1/placements/{name}/explain", tag = "placements",
    params(("name" = String, Path, description = "The placement"), ExplainQuery),
    responses((status = 200, body = Explanation),
        (status = 400, description = "`invalid_query`: no candidate", body = ErrorBody),
        (status = 404, description = "`unknown_placement`", body = ErrorBody)))]
pub async fn explain(
    State(state): State<AppState>,
    ApiPath(name): ApiPath<String>,
    ApiQuery(query): ApiQuery<ExplainQuery>,
) -> Result<Json<Explanation>, ApiError> {
    let ExplainQuery {
        candidate,
        user_id,
        item_id,
        items,
        n,
    } = query;
    let page = PageQuery {
        user_id,
        item_id,
        items,
        n,
        details: None,
    }
    .page()?;
    let length = candidate.chars().count();
    if !(1..=aisle_store::MAX_ID_CHARS).contains(&length) {
        return Err(ApiError::new(
            Code::InvalidQuery,
            format!(
                "candidate must be an item id of 1 to {} characters",
                aisle_store::MAX_ID_CHARS
            ),
        ));
    }
    let service = state.service.clone();
    let explanation =
        run_blocking(move || Ok(service.explain_placement(&name, &page, &candidate)?)).await?;
    Ok(Json(explanation))
}

/// The JSON Schema of a placement definition, as exact as the checks of
/// `aisle_engine::placements::rules` (so a schema-valid definition is accepted): the
/// document's `PlacementDefinition`.
pub(crate) fn definition_schema() -> Value {
    let sources = json!([
        "user",
        "similar",
        "bought_together",
        "basket",
        "popular",
        "popular_in_category",
        "trending",
        "buy_again"
    ]);
    let field = json!({"type": "string",
        "pattern": "^(id|item_id|title|category|categories|available|price|created_at|attributes\\..+)$"});
    let scalar = json!({"anyOf": [{"type": "string"}, {"type": "number"}, {"type": "boolean"},
        {"type": "array"}]});
    let days = json!({"type": "number", "minimum": 0});
    // Each test of a condition, with the keys the enclosing rule adds.
    let conditions = |extra: &Value, required_extra: &[&str]| -> Value {
        let tests = [
            ("equals", scalar.clone(), true),
            ("in", json!({"type": "array", "minItems": 1}), true),
            (
                "range",
                json!({"type": "object", "minProperties": 1, "additionalProperties": false,
                "properties": {"min": {"type": "number"}, "max": {"type": "number"}}}),
                true,
            ),
            ("exists", json!({"type": "boolean"}), true),
            ("newer_than_days", days.clone(), true),
            ("older_than_days", days.clone(), true),
            ("same_category_as_context", json!({"const": true}), false),
            ("different_category", json!({"const": true}), false),
            ("price_within_percent", days.clone(), false),
        ];
        let branches: Vec<Value> = tests
            .iter()
            .map(|(test, schema, with_field)| {
                let mut properties = json!({"not": {"type": "boolean"}});
                properties[*test] = schema.clone();
                let mut required = vec![json!(test)];
                if *with_field {
                    properties["field"] = field.clone();
                    required.push(json!("field"));
                }
                for (key, schema) in extra.as_object().into_iter().flatten() {
                    properties[key] = schema.clone();
                }
                required.extend(required_extra.iter().map(|k| json!(k)));
                json!({"type": "object", "properties": properties, "required": required,
                    "additionalProperties": false})
            })
            .collect();
        json!({"oneOf": branches})
    };
    let condition = conditions(&json!({}), &[]);
    let rule = |kind: &str, body: Value| -> Value {
        json!({"type": "object", "properties": {kind: body}, "required": [kind],
            "additionalProperties": false})
    };
    let rules = json!({"oneOf": [
        rule("filter", condition.clone()),
        rule("boost", conditions(&json!({"factor": {"type": "number", "exclusiveMinimum": 0}}), &["factor"])),
        rule("bury", conditions(&json!({"factor": {"type": "number", "exclusiveMinimum": 0, "exclusiveMaximum": 1}}), &["factor"])),
        rule("pin", json!({"oneOf": [
            {"type": "object", "additionalProperties": false, "required": ["item_id", "position"],
             "properties": {"item_id": {"type": "string", "pattern": "\\S"},
                            "position": {"type": "integer", "minimum": 0, "maximum": 1000}}},
            {"type": "object", "additionalProperties": false, "required": ["filter", "position"],
             "properties": {"filter": condition.clone(),
                            "position": {"type": "integer", "minimum": 0, "maximum": 1000}}}]})),
        rule("promote", json!({"type": "object", "additionalProperties": false,
            "required": ["share", "filter"],
            "properties": {"share": {"type": "number", "exclusiveMinimum": 0, "maximum": 1},
                           "filter": condition.clone()}})),
        rule("diversity", json!({"oneOf": [
            {"type": "object", "additionalProperties": false, "required": ["max"],
             "properties": {"field": field.clone(), "max": {"type": "integer", "minimum": 1, "maximum": 1000}}},
            {"type": "object", "additionalProperties": false, "required": ["lambda"],
             "properties": {"field": field.clone(), "lambda": {"type": "number", "minimum": 0, "maximum": 1}}}]})),
        rule("rotation", json!({"type": "object", "additionalProperties": false,
            "required": ["hours", "penalty"],
            "properties": {"hours": {"type": "number", "exclusiveMinimum": 0},
                           "penalty": {"type": "number", "minimum": 0, "maximum": 1}}})),
        rule("repurchase", json!({"type": "object", "additionalProperties": false,
            "required": ["days"],
            "properties": {"days": {"type": "number", "exclusiveMinimum": 0},
                           "except_categories": {"type": "array", "items": {"type": "string"}}}})),
    ]});
    json!({
        "type": "object",
        "description": "A placement: its source, model, length, merchandising rules and fallback chain (docs/placements.md).",
        "additionalProperties": false,
        "required": ["source"],
        "properties": {
            "source": {"type": "string", "enum": sources},
            "model": {"type": ["string", "null"]},
            "n": {"type": "integer", "minimum": 1, "maximum": 1000},
            "rules": {"type": "array", "items": rules},
            "fallback": {"type": "array", "items": {"type": "string", "enum": sources}},
            "title": {"type": "string"}
        }
    })
}
