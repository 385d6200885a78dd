//! The OpenAPI document. Paths come from the routes themselves (`api_routes`, through
//! utoipa-axum), schemas from the request and answer types. [`finish`] then makes the
//! document as strict as the server's checks:
//! - every operation gets the error answers the middleware and extractors give, with their
//!   body, from the one error table — so every status a route can answer is documented;
//! - fields marked with one of Aisle's formats (`aisle-id`, `aisle-label`, `aisle-text`,
//!   `aisle-time`) get the constraints the store applies to them;
//! - what depends on the server's settings is filled in: the event types it accepts, and
//!   each model's parameters for `POST /v1/admin/train`.

use aisle_models::MODELS;
use aisle_store::{MAX_ID_CHARS, TIMESTAMPS};
use serde_json::{Map, Value, json};
use utoipa::OpenApi;

use crate::config::ServerConfig;
use crate::error::{Code, ErrorBody, ErrorDetail};

#[derive(Debug, OpenApi)]
#[openapi(
    info(
        title = "Aisle",
        description = "Recommendations for online shops: catalogue, users, events, personalised \
                       lists, similar and popular items, retraining. Errors are \
                       `{\"error\": {\"code\", \"message\"}}` with one status per code (see \
                       docs/server.md); writes need an API key when one is configured \
                       (`Authorization: Bearer KEY` or `X-Api-Key`)."
    ),
    components(schemas(ErrorBody, ErrorDetail))
)]
pub struct ApiDoc;

/// Characters a blank string is made of (what Rust's `str::trim` removes), as a regex class
/// body: an id or label must hold at least one other character.
const BLANK: &str = r"\t\n\x0B\f\r \x85\xA0\u1680\u2000-\u200A\u2028\u2029\u202F\u205F\u3000";

/// The constraints of one of Aisle's string formats.
fn format_schema(format: &str) -> Option<Value> {
    let not_blank = format!("^[^\\x00]*[^\\x00{BLANK}][^\\x00]*$");
    // An id additionally holds no `%` (see `aisle_data::ids::check_id`).
    let id = format!("^[^\\x00%]*[^\\x00%{BLANK}][^\\x00%]*$");
    Some(match format {
        // An id: not blank, no NUL or `%`, at most MAX_ID_CHARS characters.
        "aisle-id" => json!({
            "type": "string", "minLength": 1, "maxLength": MAX_ID_CHARS, "pattern": id
        }),
        // A name shown to people (a category): not blank, no NUL.
        "aisle-label" => json!({"type": "string", "minLength": 1, "pattern": not_blank}),
        // Free text: no NUL.
        "aisle-text" => json!({"type": "string", "pattern": "^[^\\x00]*$"}),
        // A time: Unix seconds or an RFC 3339 date-time.
        "aisle-time" => json!({
            "oneOf": [
                {"type": "integer", "minimum": TIMESTAMPS.start(), "maximum": TIMESTAMPS.end()},
                {"type": "string", "format": "date-time"}
            ]
        }),
        _ => return None,
    })
}

/// The finished document: error answers added, formats expanded, settings filled in.
pub fn finish(document: utoipa::openapi::OpenApi, config: &ServerConfig) -> Value {
    let mut document = serde_json::to_value(document).expect("the OpenAPI document serialises");
    add_error_answers(&mut document);
    let event_types: Vec<String> = config
        .service
        .training
        .cleaning
        .event_types
        .names()
        .map(String::from)
        .collect();
    expand(&mut document, &event_types);
    if let Some(train) = document.pointer_mut("/components/schemas/TrainBody") {
        constrain_training(train, &config.service.training.model);
    }
    // A basket's items are ids.
    if let Some(items) =
        document.pointer_mut("/components/schemas/BasketBody/properties/items/items")
    {
        *items = format_schema("aisle-id").expect("a known format");
    }
    // A list needs someone to be for: a user, a history, or both.
    if let Some(body) = document.pointer_mut("/components/schemas/RecommendBody") {
        body["anyOf"] = json!([
            {"required": ["user_id"], "properties": {"user_id": {"type": "string"}}},
            {"required": ["history"], "properties": {"history": {"minItems": 1}}}
        ]);
    }
    // Health lists [name, version] pairs.
    if let Some(models) = document.pointer_mut("/components/schemas/Health/properties/models") {
        *models = json!({
            "type": "array",
            "description": "Name and version of each model serving, as `[name, version]`.",
            // A pair of a string and an integer (`prefixItems` would say it exactly, but
            // not every OpenAPI tool reads it).
            "items": {
                "type": "array",
                "items": {"anyOf": [{"type": "string"}, {"type": "integer"}]},
                "minItems": 2,
                "maxItems": 2
            }
        });
    }
    // Training and tuning take an optional body: an empty one uses the server's settings.
    for route in ["train", "tune"] {
        let pointer = format!("/paths/~1v1~1admin~1{route}/post/requestBody");
        if let Some(body) = document.pointer_mut(&pointer) {
            body["required"] = json!(false);
        }
    }
    // Batches hold at most max_batch records.
    for path in ["/v1/items", "/v1/users"] {
        let pointer = format!(
            "/paths/{}/post/requestBody/content/application~1json/schema",
            path.replace('/', "~1")
        );
        if let Some(schema) = document.pointer_mut(&pointer) {
            schema["maxItems"] = json!(config.max_batch);
        }
    }
    if let Some(batch) = document.pointer_mut("/components/schemas/EventsBody/oneOf/1") {
        batch["maxItems"] = json!(config.max_batch);
    }
    // A placement's definition, as exact as its checks.
    if let Some(schemas) = document
        .pointer_mut("/components/schemas")
        .and_then(Value::as_object_mut)
    {
        schemas.insert(
            "PlacementDefinition".into(),
            crate::api::placements::definition_schema(),
        );
    }
    if let Some(schema) = document.pointer_mut(
        "/paths/~1v1~1placements~1{name}/put/requestBody/content/application~1json/schema",
    ) {
        *schema = json!({"$ref": "#/components/schemas/PlacementDefinition"});
    }
    document
}

/// Adds to every operation the error answers every operation of its kind can give.
fn add_error_answers(document: &mut Value) {
    let Some(paths) = document.get_mut("paths").and_then(Value::as_object_mut) else {
        return;
    };
    for (path, item) in paths.iter_mut() {
        let Some(item) = item.as_object_mut() else {
            continue;
        };
        for operation in item.values_mut() {
            let mut codes = vec![Code::Internal];
            if path.starts_with("/v1/") {
                codes.extend([Code::MissingApiKey, Code::InvalidApiKey]);
            }
            let located = |place: &str| {
                operation["parameters"]
                    .as_array()
                    .is_some_and(|ps| ps.iter().any(|p| p["in"] == place))
            };
            if located("query") {
                codes.push(Code::InvalidQuery);
            }
            if located("path") {
                codes.push(Code::InvalidPath);
            }
            if operation.get("requestBody").is_some() {
                codes.extend([
                    Code::MalformedJson,
                    Code::PayloadTooLarge,
                    Code::UnsupportedMediaType,
                    Code::InvalidBody,
                ]);
            }
            for code in codes {
                add_error(operation, code);
            }
            // Path parameters are ids.
            if let Some(parameters) = operation
                .get_mut("parameters")
                .and_then(Value::as_array_mut)
            {
                for parameter in parameters.iter_mut().filter(|p| p["in"] == "path") {
                    parameter["schema"] = format_schema("aisle-id").expect("a known format");
                }
            }
        }
    }
}

/// Documents `code`'s status on `operation` with the error body, unless the handler's own
/// annotation documents that status already (then the code is added to its description).
fn add_error(operation: &mut Value, code: Code) {
    let status = code.status().as_u16().to_string();
    let responses = &mut operation["responses"];
    let mention = format!("`{}`", code.as_str());
    match responses.get_mut(&status) {
        Some(response) => {
            let description = response["description"].as_str().unwrap_or_default();
            if !description.contains(&mention) {
                response["description"] = json!(if description.is_empty() {
                    mention
                } else {
                    format!("{description}; {mention}")
                });
            }
        }
        None => {
            responses[status] = json!({
                "description": format!("{mention}: {}", code.describe()),
                "content": {"application/json": {"schema": {"$ref": "#/components/schemas/ErrorBody"}}}
            });
        }
    }
}

/// Replaces Aisle's formats by their constraints, everywhere in the document.
fn expand(value: &mut Value, event_types: &[String]) {
    match value {
        Value::Object(map) => {
            let format = map.get("format").and_then(Value::as_str).map(String::from);
            match format.as_deref() {
                Some("aisle-event-type") => {
                    map.remove("format");
                    map.insert("type".into(), json!("string"));
                    map.insert("enum".into(), json!(event_types));
                }
                Some(name) => {
                    if let Some(Value::Object(constraints)) = format_schema(name) {
                        let nullable = is_nullable(map);
                        map.remove("format");
                        map.remove("type");
                        if nullable {
                            let inner = Value::Object(constraints);
                            map.insert("anyOf".into(), json!([inner, {"type": "null"}]));
                        } else {
                            map.extend(constraints);
                        }
                    }
                }
                None => {}
            }
            for child in map.values_mut() {
                expand(child, event_types);
            }
        }
        Value::Array(items) => items.iter_mut().for_each(|v| expand(v, event_types)),
        _ => {}
    }
}

fn is_nullable(schema: &Map<String, Value>) -> bool {
    schema
        .get("type")
        .and_then(Value::as_array)
        .is_some_and(|types| types.iter().any(|t| t == "null"))
}

/// `POST /v1/admin/train`'s body: `model` one of the registry's, `params` that model's
/// parameters (the configured model's when `model` is left out).
fn constrain_training(train: &mut Value, configured: &str) {
    let names: Vec<&str> = MODELS.iter().map(|m| m.name).collect();
    train["properties"]["params"] = json!({
        "anyOf": [{"type": "object"}, {"type": "null"}],
        "description": "Hyper-parameters of the model (see each model's in `allOf`)."
    });
    train["properties"]["model"] = json!({
        "anyOf": [{"type": "string", "enum": names}, {"type": "null"}],
        "description": "The algorithm (default: the server's training model)."
    });
    let mut rules: Vec<Value> = MODELS
        .iter()
        .map(|entry| {
            json!({
                "if": {"properties": {"model": {"const": entry.name}}, "required": ["model"]},
                "then": {"properties": {"params": {"anyOf": [entry.params_schema(), {"type": "null"}]}}}
            })
        })
        .collect();
    if let Some(entry) = MODELS.iter().find(|m| m.name == configured) {
        rules.push(json!({
            "if": {"not": {"properties": {"model": {"type": "string"}}, "required": ["model"]}},
            "then": {"properties": {"params": {"anyOf": [entry.params_schema(), {"type": "null"}]}}}
        }));
    }
    train["allOf"] = Value::Array(rules);
}
