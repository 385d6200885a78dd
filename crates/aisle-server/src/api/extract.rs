//! Extractors that answer a bad request in the API's own error shape: `Json`, `Query` and
//! `Path` from axum, with their rejections turned into [`ApiError`]s whose code says what was
//! wrong (malformed JSON, a wrong type, a body over the limit, ...).

use axum::extract::rejection::{JsonRejection, PathRejection, QueryRejection};
use axum::extract::{FromRequest, FromRequestParts, RawPathParams, Request};
use axum::http::StatusCode;
use axum::http::request::Parts;
use serde::de::DeserializeOwned;

use crate::error::{ApiError, Code};

/// A JSON body.
#[derive(Debug, Clone, Copy, Default)]
pub struct ApiJson<T>(pub T);

impl<S, T> FromRequest<S> for ApiJson<T>
where
    T: DeserializeOwned,
    S: Send + Sync,
{
    type Rejection = ApiError;

    async fn from_request(request: Request, state: &S) -> Result<Self, Self::Rejection> {
        match axum::Json::<T>::from_request(request, state).await {
            Ok(axum::Json(value)) => Ok(ApiJson(value)),
            Err(rejection) => Err(json_error(rejection)),
        }
    }
}

/// A JSON body sent as `application/json` or as `text/plain`: a storefront's
/// `navigator.sendBeacon` may only send a CORS-safe type without a preflight, and
/// `text/plain` is one.
#[derive(Debug, Clone, Copy, Default)]
pub struct BeaconJson<T>(pub T);

impl<S, T> FromRequest<S> for BeaconJson<T>
where
    T: DeserializeOwned,
    S: Send + Sync,
{
    type Rejection = ApiError;

    async fn from_request(request: Request, state: &S) -> Result<Self, Self::Rejection> {
        let plain_text = request
            .headers()
            .get(axum::http::header::CONTENT_TYPE)
            .and_then(|v| v.to_str().ok())
            .is_some_and(|v| v.starts_with("text/plain"));
        if !plain_text {
            return ApiJson::from_request(request, state)
                .await
                .map(|ApiJson(value)| BeaconJson(value));
        }
        let bytes = axum::body::Bytes::from_request(request, state)
            .await
            .map_err(|rejection| {
                if rejection.status() == StatusCode::PAYLOAD_TOO_LARGE {
                    ApiError::new(
                        Code::PayloadTooLarge,
                        "the request body is larger than the server's body_limit",
                    )
                } else {
                    ApiError::new(Code::MalformedJson, rejection.body_text())
                }
            })?;
        serde_json::from_slice(&bytes).map(BeaconJson).map_err(|e| {
            let code = if e.is_data() {
                Code::InvalidBody
            } else {
                Code::MalformedJson
            };
            ApiError::new(code, e.to_string())
        })
    }
}

fn json_error(rejection: JsonRejection) -> ApiError {
    let code = match &rejection {
        JsonRejection::JsonDataError(_) => Code::InvalidBody,
        JsonRejection::MissingJsonContentType(_) => Code::UnsupportedMediaType,
        _ if rejection.status() == StatusCode::PAYLOAD_TOO_LARGE => Code::PayloadTooLarge,
        // A syntax error, or a body that could not be read at all.
        _ => Code::MalformedJson,
    };
    let message = match code {
        Code::PayloadTooLarge => "the request body is larger than the server's body_limit".into(),
        Code::UnsupportedMediaType => {
            "send the body as JSON with Content-Type: application/json".into()
        }
        _ => rejection.body_text(),
    };
    ApiError::new(code, message)
}

/// Query-string parameters.
#[derive(Debug, Clone, Copy, Default)]
pub struct ApiQuery<T>(pub T);

impl<S, T> FromRequestParts<S> for ApiQuery<T>
where
    T: DeserializeOwned,
    S: Send + Sync,
{
    type Rejection = ApiError;

    async fn from_request_parts(parts: &mut Parts, state: &S) -> Result<Self, Self::Rejection> {
        axum::extract::Query::<T>::from_request_parts(parts, state)
            .await
            .map(|q| ApiQuery(q.0))
            .map_err(|rejection: QueryRejection| {
                ApiError::new(Code::InvalidQuery, rejection.body_text())
            })
    }
}

/// Path parameters.
#[derive(Debug, Clone, Copy, Default)]
pub struct ApiPath<T>(pub T);

impl<S, T> FromRequestParts<S> for ApiPath<T>
where
    T: DeserializeOwned + Send,
    S: Send + Sync,
{
    type Rejection = ApiError;

    async fn from_request_parts(parts: &mut Parts, state: &S) -> Result<Self, Self::Rejection> {
        // Every path parameter is an id: checked as the store checks ids, before anything
        // is looked up.
        if let Ok(raw) = RawPathParams::from_request_parts(parts, state).await {
            for (name, value) in &raw {
                aisle_store::record::check_id("path", value)
                    .map_err(|e| ApiError::new(Code::InvalidPath, format!("{{{name}}}: {e}")))?;
            }
        }
        axum::extract::Path::<T>::from_request_parts(parts, state)
            .await
            .map(|p| ApiPath(p.0))
            .map_err(|rejection: PathRejection| {
                ApiError::new(Code::InvalidPath, rejection.body_text())
            })
    }
}
