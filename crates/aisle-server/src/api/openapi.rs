//! The OpenAPI document. Paths come from the routes themselves (`api_routes`, through
//! utoipa-axum), schemas from the request and answer types; [`finish`] then adds to every
//! operation the error answers the middleware and extractors give — so each status a route
//! can answer is in the document, with its body — from the one error table.

use utoipa::OpenApi;
use utoipa::openapi::path::{Operation, ParameterIn, PathItem};
use utoipa::openapi::{RefOr, Response};

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

/// Adds the error answers every operation of a kind can give.
pub fn finish(mut document: utoipa::openapi::OpenApi) -> utoipa::openapi::OpenApi {
    for (path, item) in document.paths.paths.iter_mut() {
        for operation in operations(item) {
            let mut codes = vec![Code::Internal];
            if path.starts_with("/v1/") {
                codes.extend([Code::MissingApiKey, Code::InvalidApiKey]);
            }
            let parameters = operation.parameters.as_deref().unwrap_or_default();
            if parameters
                .iter()
                .any(|p| matches!(p.parameter_in, ParameterIn::Query))
            {
                codes.push(Code::InvalidQuery);
            }
            if parameters
                .iter()
                .any(|p| matches!(p.parameter_in, ParameterIn::Path))
            {
                codes.push(Code::InvalidPath);
            }
            if operation.request_body.is_some() {
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
        }
    }
    document
}

fn operations(item: &mut PathItem) -> impl Iterator<Item = &mut Operation> {
    [
        item.get.as_mut(),
        item.put.as_mut(),
        item.post.as_mut(),
        item.delete.as_mut(),
        item.patch.as_mut(),
        item.head.as_mut(),
    ]
    .into_iter()
    .flatten()
}

/// Documents `code`'s status on `operation` with the error body, unless the handler's own
/// annotation documents that status already (then the code is added to its description).
fn add_error(operation: &mut Operation, code: Code) {
    let status = code.status().as_u16().to_string();
    let responses = &mut operation.responses.responses;
    match responses.get_mut(&status) {
        Some(RefOr::T(response)) => {
            let mention = format!("`{}`", code.as_str());
            if !response.description.contains(&mention) {
                response.description = if response.description.is_empty() {
                    mention
                } else {
                    format!("{}; {mention}", response.description)
                };
            }
        }
        Some(RefOr::Ref(_)) => {}
        None => {
            let response: Response = serde_json::from_value(serde_json::json!({
                "description": format!("`{}`: {}", code.as_str(), code.describe()),
                "content": {"application/json": {"schema": {"$ref": "#/components/schemas/ErrorBody"}}}
            }))
            .expect("a valid response object");
            responses.insert(status, RefOr::T(response));
        }
    }
}
